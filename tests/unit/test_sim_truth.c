/* Truth CSV (sim/truth.c): header, quoting, empty fields, round trip. */
#include "truth.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct got {
    int n;
    struct buyt_truth_rec r[4];
};

static void collect(void *ud, const struct buyt_truth_rec *r)
{
    struct got *g = ud;
    if (g->n < 4)
        g->r[g->n] = *r;
    g->n++;
}

Test(sim_truth, round_trips_rows_with_quoting_and_empty_fields)
{
    char path[] = "/tmp/buyt-truth-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    buyt_truth_write_header(f);
    struct buyt_truth_row stop = {
        .kind = BUYT_TRUTH_STOP, .vehicle_id = "29B-10001", .service_date = "2026-11-24",
        .trip_id = "R1,\"express\"", .route_id = "R1", .block_id = "B1", .stop_sequence = 7,
        .stop_id = "S0007", .start_ms = 1795480200500LL, .end_ms = 1795480221000LL,
        .sched_start_ms = 1795480200000LL, .sched_end_ms = 1795480200000LL, .boardings = 3,
        .alightings = 0};
    struct buyt_truth_row zone = {.kind = BUYT_TRUTH_DEADZONE, .vehicle_id = "29B-10002",
                                  .stop_sequence = -1, .start_ms = 1795480300000LL,
                                  .end_ms = 1795480360000LL, .sched_start_ms = BUYT_TRUTH_NO_TIME,
                                  .sched_end_ms = BUYT_TRUTH_NO_TIME, .boardings = -1,
                                  .alightings = -1};
    buyt_truth_write(f, &stop);
    buyt_truth_write(f, &zone);
    fclose(f);
    struct got g = {0};
    char err[256];
    cr_assert_eq(buyt_truth_read(path, collect, &g, err, sizeof err), 0, "%s", err);
    unlink(path);
    cr_assert_eq(g.n, 2);
    cr_assert_eq(g.r[0].kind, BUYT_TRUTH_STOP);
    cr_assert_str_eq(g.r[0].trip_id, "R1,\"express\"");
    cr_assert_eq(g.r[0].stop_sequence, 7);
    cr_assert_eq(g.r[0].start_ms, 1795480200500LL);
    cr_assert_eq(g.r[0].end_ms, 1795480221000LL);
    cr_assert_eq(g.r[0].boardings, 3);
    cr_assert_eq(g.r[1].kind, BUYT_TRUTH_DEADZONE);
    cr_assert_str_eq(g.r[1].trip_id, "");
    cr_assert_eq(g.r[1].stop_sequence, -1);
    cr_assert_eq(g.r[1].sched_start_ms, BUYT_TRUTH_NO_TIME);
    cr_assert_eq(g.r[1].boardings, -1);
}

Test(sim_truth, refuses_a_foreign_header)
{
    char path[] = "/tmp/buyt-truth-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fputs("kind,vehicle,when\nstop,a,b\n", f);
    fclose(f);
    struct got g = {0};
    char err[256];
    cr_assert_neq(buyt_truth_read(path, collect, &g, err, sizeof err), 0);
    unlink(path);
    cr_assert(strstr(err, "header"), "%s", err);
}

Test(sim_truth, parses_iso_times)
{
    int64_t t;
    cr_assert_eq(buyt_truth_parse_time("1970-01-01T00:00:01.250Z", &t), 0);
    cr_assert_eq(t, 1250);
    cr_assert_neq(buyt_truth_parse_time("2026-11-24 08:00", &t), 0);
}
