/* Fleet behaviour (sim/fleet.c) on a generated city converted in memory (no database):
 * speeds, dwell bounds, arrival truth against the simulated positions, determinism. */
#include "citygen.h"
#include "fleet.h"
#include "geo.h"
#include "network_build.h"
#include "network_city.h"
#include "truth.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 2026-11-24T07:30:00+07:00 */
#define START_MS (1795480200000LL + 1800000LL)
#define RUN_MS (3 * 3600 * 1000LL)

struct pos {
    int64_t t;
    double lat, lon;
    bool standing;
};

struct cap {
    int nv;
    struct pos *pos; /* [vehicle][second] */
    long per_v;
    long epochs, over_limit, invalid;
    double max_speed;
    FILE *truth;
    char *truth_buf;
    size_t truth_len;
    long taps, driver_events, powers;
};

static void on_epoch(void *ud, int v, const struct buyt_fleet_epoch *e)
{
    struct cap *c = ud;
    c->epochs++;
    if (e->true_speed_ms > e->limit_ms + 1e-9)
        c->over_limit++;
    if (e->true_speed_ms > c->max_speed)
        c->max_speed = e->true_speed_ms;
    c->invalid += !e->valid;
    long k = (e->time_ms - START_MS) / 1000;
    if (k >= 0 && k < c->per_v)
        c->pos[v * c->per_v + k] = (struct pos){e->time_ms, e->true_lat, e->true_lon,
                                                e->true_speed_ms == 0};
}

static void on_card(void *ud, int v, const struct buyt_fleet_card *card)
{
    (void)v;
    struct cap *c = ud;
    if (card->role == BUYT_FLEET_PASSENGER)
        c->taps++;
    else
        c->driver_events++;
}

static void on_power(void *ud, int v, int64_t t, bool on)
{
    (void)v, (void)t, (void)on;
    ((struct cap *)ud)->powers++;
}

static void on_truth(void *ud, const struct buyt_truth_row *r)
{
    buyt_truth_write(((struct cap *)ud)->truth, r);
}

static struct buyt_city *city;
static struct buyt_simnet *net;

static void setup(void)
{
    struct buyt_citygen_params p = {11, 6, 200, 40};
    char err[256];
    cr_assert_eq(buyt_citygen_build(&p, &city, err, sizeof err), 0, "%s", err);
    cr_assert_eq(buyt_network_from_city(city, START_MS, &net), 0);
}

static void teardown(void)
{
    buyt_simnet_free(net);
    buyt_city_free(city);
}

static void run_skip(struct cap *c, int vehicles, uint64_t seed, bool faults, int skip,
                     int first_number);

static void run(struct cap *c, int vehicles, uint64_t seed, bool faults)
{
    run_skip(c, vehicles, seed, faults, 0, 10001);
}

static void run_skip(struct cap *c, int vehicles, uint64_t seed, bool faults, int skip,
                     int first_number)
{
    memset(c, 0, sizeof *c);
    c->nv = vehicles;
    c->per_v = RUN_MS / 1000 + 2;
    c->pos = calloc((size_t)(vehicles * c->per_v), sizeof *c->pos);
    c->truth = open_memstream(&c->truth_buf, &c->truth_len);
    buyt_truth_write_header(c->truth);
    struct buyt_fleet_config fc;
    buyt_fleet_config_init(&fc);
    fc.seed = seed;
    fc.vehicles = vehicles;
    fc.start_ms = START_MS;
    fc.horizon_ms = START_MS + RUN_MS;
    fc.faults = faults;
    fc.skip_blocks = skip;
    fc.first_number = first_number;
    struct buyt_fleet_sink sink = {c, on_epoch, on_card, on_power, on_truth};
    struct buyt_fleet *f;
    cr_assert_eq(buyt_fleet_new(net, &fc, &sink, &f), 0);
    for (int64_t t = START_MS; t < START_MS + RUN_MS; t += 60000)
        buyt_fleet_advance(f, t + 60000);
    buyt_fleet_finish(f);
    buyt_fleet_free(f);
    fclose(c->truth);
}

static void done(struct cap *c)
{
    free(c->pos);
    free(c->truth_buf);
}

struct check {
    struct cap *c;
    long stops, served, passed, near, arrivals, trips, first, last;
    double worst;
};

static int vehicle_index(const char *id) { return atoi(id + 4) - 10001; } /* "29B-10001" */

static void check_row(void *ud, const struct buyt_truth_rec *r)
{
    struct check *k = ud;
    if (r->kind == BUYT_TRUTH_TRIP) {
        k->trips++;
        if (r->start_ms != BUYT_TRUTH_NO_TIME)
            cr_assert_lt(r->start_ms, r->end_ms);
        return;
    }
    if (r->kind != BUYT_TRUTH_STOP)
        return;
    k->stops++;
    if (r->start_ms == BUYT_TRUTH_NO_TIME) {
        k->first++;
        return;
    }
    if (r->end_ms == BUYT_TRUTH_NO_TIME) {
        k->last++;
    } else if (r->end_ms == r->start_ms) {
        k->passed++;
    } else {
        k->served++;
        double dwell = (double)(r->end_ms - r->start_ms) / 1000;
        cr_assert_geq(dwell, BUYT_FLEET_DWELL_MIN_S - 1e-9, "dwell %.1f s", dwell);
        cr_assert_leq(dwell, BUYT_FLEET_DWELL_MAX_S + BUYT_FLEET_HOLD_MAX_S + 1e-9,
                      "dwell %.1f s at %s", dwell, r->stop_id);
    }
    /* At the true arrival the bus is in the stop zone: the first whole second after it. */
    int v = vehicle_index(r->vehicle_id);
    long sec = (r->start_ms - START_MS + 999) / 1000;
    if (sec < 0 || sec >= k->c->per_v)
        return;
    const struct pos *p = &k->c->pos[v * k->c->per_v + sec];
    if (!p->t)
        return;
    int si = buyt_net_find_id(net->stops, (size_t)net->n_stops, sizeof *net->stops, r->stop_id);
    cr_assert_geq(si, 0);
    double d = buyt_geo_haversine_m(p->lat, p->lon, net->stops[si].lat, net->stops[si].lon);
    k->arrivals++;
    if (r->end_ms != r->start_ms) { /* served: standing there */
        cr_assert_lt(d, 25.0, "%s at %s: %.1f m from the stop at its arrival", r->vehicle_id,
                     r->stop_id, d);
        cr_assert(p->standing);
    } else {
        cr_assert_lt(d, 35.0, "passing %s: %.1f m", r->stop_id, d); /* <= 1 s of driving */
    }
    if (d > k->worst)
        k->worst = d;
}

Test(sim_fleet, speed_never_above_the_limit, .init = setup, .fini = teardown)
{
    struct cap c;
    run(&c, 12, 1, true);
    cr_assert_gt(c.epochs, 12 * 3600);
    cr_assert_eq(c.over_limit, 0, "%ld epochs above the limit", c.over_limit);
    cr_assert_gt(c.max_speed, 5.0);
    cr_assert_leq(c.max_speed, 60 / 3.6 + 1e-9);
    cr_assert_gt(c.taps, 100);
    cr_assert_geq(c.driver_events, 12);
    done(&c);
}

Test(sim_fleet, dwell_bounded_and_arrival_truth_in_the_stop_zone, .init = setup, .fini = teardown)
{
    struct cap c;
    run(&c, 12, 2, false);
    char path[] = "/tmp/buyt-truth-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fwrite(c.truth_buf, 1, c.truth_len, f);
    fclose(f);
    struct check k = {.c = &c};
    char err[256];
    cr_assert_eq(buyt_truth_read(path, check_row, &k, err, sizeof err), 0, "%s", err);
    unlink(path);
    cr_assert_gt(k.served, 200, "served %ld", k.served);
    cr_assert_gt(k.arrivals, 200);
    cr_assert_gt(k.trips, 10);
    cr_assert_gt(k.last, 5);
    done(&c);
}

Test(sim_fleet, same_seed_same_truth, .init = setup, .fini = teardown)
{
    struct cap a, b, d;
    run(&a, 6, 9, true);
    run(&b, 6, 9, true);
    run(&d, 6, 10, true);
    cr_assert_eq(a.truth_len, b.truth_len);
    cr_assert_eq(memcmp(a.truth_buf, b.truth_buf, a.truth_len), 0);
    cr_assert(d.truth_len != a.truth_len || memcmp(a.truth_buf, d.truth_buf, a.truth_len) != 0);
    done(&a);
    done(&b);
    done(&d);
}

Test(sim_fleet, faults_show_in_the_truth, .init = setup, .fini = teardown)
{
    struct cap c;
    run(&c, 20, 3, true);
    c.truth_buf[c.truth_len - 1] = 0;
    cr_assert(strstr(c.truth_buf, "\ngnss_degraded,"), "no degraded GNSS period");
    cr_assert(strstr(c.truth_buf, "\ngnss_outage,"), "no GNSS outage");
    cr_assert_gt(c.invalid, 0);
    done(&c);
}

/* The block_id of the first truth row of `vehicle` ("" if none). Rows:
 * kind,"vehicle_id","service_date","trip_id","route_id","block_id",... */
static void first_block(const struct cap *c, const char *vehicle, char *out, size_t len)
{
    char key[64];
    snprintf(key, sizeof key, ",\"%s\",", vehicle);
    out[0] = '\0';
    const char *p = strstr(c->truth_buf, key);
    for (int i = 0; i < 4 && p; i++) /* to the comma before block_id */
        p = strchr(p + 1, ',');
    if (!p)
        return;
    p += 1 + (p[1] == '"');
    size_t n = strcspn(p, "\",");
    snprintf(out, len, "%.*s", (int)n, p);
}

Test(sim_fleet, skip_blocks_gives_a_second_process_the_next_blocks, .init = setup,
     .fini = teardown)
{
    struct cap all, second;
    run(&all, 3, 7, false);
    run_skip(&second, 1, 7, false, 2, 10003);
    char a[64], b[64], other[64];
    first_block(&all, "29B-10003", a, sizeof a);
    first_block(&second, "29B-10003", b, sizeof b);
    first_block(&all, "29B-10001", other, sizeof other);
    cr_assert_neq(a[0], '\0', "no truth for the third bus");
    cr_assert_str_eq(b, a, "the skipping process must run the third assignment");
    cr_assert_str_neq(b, other, "and not the first one");
    done(&all);
    done(&second);
}
