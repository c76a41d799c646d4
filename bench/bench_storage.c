/* bench-storage: the engine's storage path against PostgreSQL's own COPY ceiling, same rows,
 * same run, then bytes per stored fix.
 *   bench-storage --db CONNINFO [--rows N] [--vehicles V] [--batch ROWS]
 * 1. raw:    COPY fixes FROM STDIN (FORMAT binary) of N rows in one statement per batch, no
 *            transaction bookkeeping (PostgreSQL's ceiling for this table and index)
 * 2. engine: the same rows as engine batches: spool file written, read back by the writer
 *            thread, committed with ingest_batches + vehicle_progress_log (ingest/pgwriter.c)
 * 3. size:   pg_total_relation_size / rows of the day's partition after VACUUM. */
#include "batch.h"
#include "clock.h"
#include "pgwriter.h"
#include "spool.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DAY0_MS 1893456000000LL /* 2030-01-01: its own partitions, away from live data */

static void fill(struct buyt_batch *b, long first, long n, int vehicles, int64_t base_ms)
{
    for (long i = first; i < first + n; i++) {
        int v = (int)(i % vehicles);
        int64_t t = base_ms + (i / vehicles) * 1000;
        buyt_batch_add_fix(b, t, v + 1, 210000000 + v * 1000 + (int32_t)(i / vehicles) * 7,
                           1058000000 + v * 1000 + (int32_t)(i / vehicles) * 5, 800, 900);
    }
}

static bool exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "bench-storage: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    return ok;
}

static double raw_copy(PGconn *c, long rows, int vehicles, long per_batch)
{
    struct buyt_batch b;
    buyt_batch_init(&b);
    double secs = 0;
    for (long done = 0; done < rows; done += per_batch) {
        long n = rows - done < per_batch ? rows - done : per_batch;
        buyt_batch_reset(&b);
        fill(&b, done, n, vehicles, DAY0_MS);
        uint64_t t0 = buyt_mono_ns();
        PGresult *r = PQexec(c, "COPY fixes (time, vehicle, lat_e7, lon_e7, speed_cms,"
                                " course_ddeg) FROM STDIN (FORMAT binary)");
        PQclear(r);
        PQputCopyData(c, (const char *)buyt_copy_header, sizeof buyt_copy_header);
        PQputCopyData(c, (const char *)b.copy[BUYT_TBL_FIXES].p, (int)b.copy[BUYT_TBL_FIXES].len);
        PQputCopyData(c, (const char *)buyt_copy_trailer, sizeof buyt_copy_trailer);
        PQputCopyEnd(c, NULL);
        while ((r = PQgetResult(c))) {
            if (PQresultStatus(r) != PGRES_COMMAND_OK)
                fprintf(stderr, "bench-storage: raw COPY: %s", PQerrorMessage(c));
            PQclear(r);
        }
        secs += (double)(buyt_mono_ns() - t0) / 1e9;
    }
    buyt_batch_close(&b);
    return secs;
}

static long committed;
static void on_done(void *ud, const struct buyt_pgwriter_done *d)
{
    (void)ud;
    committed += d->rows;
}

static double engine_path(const char *conninfo, long rows, int vehicles, long per_batch)
{
    char spool[] = "/tmp/bench-storage-XXXXXX";
    if (!mkdtemp(spool) || buyt_spool_init_dir(spool))
        return -1;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct buyt_pgwriter *w;
    struct buyt_pgwriter_opts o = {.conninfo = conninfo, .spool_dir = spool};
    if (buyt_pgwriter_start(&loop, &o, on_done, NULL, &w))
        return -1;
    struct buyt_batch b;
    buyt_batch_init(&b);
    struct buyt_seqset s;
    uint64_t t0 = buyt_mono_ns();
    uint64_t id = 1;
    for (long done = 0; done < rows; done += per_batch) {
        long n = rows - done < per_batch ? rows - done : per_batch;
        buyt_batch_reset(&b);
        b.id = (uint64_t)buyt_wall_ms() * 1000 + id++;
        fill(&b, done, n, vehicles, DAY0_MS + 86400000LL);
        for (int v = 0; v < vehicles && v < n; v++) { /* as the engine does: every bus touched */
            buyt_seqset_init(&s, (uint64_t)((done + n) / vehicles));
            buyt_batch_add_progress(&b, v + 1, &s);
        }
        buyt_spool_write(spool, &b, NULL);
        buyt_pgwriter_submit(w, b.id);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    while (committed < rows)
        uv_run(&loop, UV_RUN_ONCE);
    double secs = (double)(buyt_mono_ns() - t0) / 1e9;
    buyt_pgwriter_stop(w);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    buyt_batch_close(&b);
    rmdir(spool);
    return secs;
}

int main(int argc, char **argv)
{
    const char *db = NULL;
    long rows = 2000000, per_batch = 10000;
    int vehicles = 2000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--db"))
            db = argv[i + 1];
        else if (!strcmp(argv[i], "--rows"))
            rows = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--vehicles"))
            vehicles = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch"))
            per_batch = atol(argv[i + 1]);
    }
    if (!db) {
        fprintf(stderr, "usage: bench-storage --db CONNINFO [--rows N] [--vehicles V] [--batch R]\n");
        return 2;
    }
    PGconn *c = PQconnectdb(db);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "bench-storage: %s", PQerrorMessage(c));
        return 1;
    }
    if (!exec_ok(c, "SELECT buyt_fix_partitions_ahead('2030-01-01', 3)"))
        return 1;
    double raw = raw_copy(c, rows, vehicles, per_batch);
    double eng = engine_path(db, rows, vehicles, per_batch);
    exec_ok(c, "VACUUM ANALYZE fixes_20300101");
    PGresult *r = PQexec(c, "SELECT count(*), pg_total_relation_size('fixes_20300101')"
                            " FROM fixes_20300101");
    long n = atol(PQgetvalue(r, 0, 0));
    double bytes = atof(PQgetvalue(r, 0, 1));
    PQclear(r);
    printf("storage: %ld rows, %d vehicles, %ld rows/batch\n", rows, vehicles, per_batch);
    printf("  raw COPY binary (ceiling): %.0f rows/s\n", rows / raw);
    printf("  engine path (spool + writer + progress, committed): %.0f rows/s (%.2f of ceiling)\n",
           rows / eng, raw / eng);
    printf("  stored: %.2f bytes per fix (heap + BRIN + FSM/VM, %ld rows)\n", bytes / n, n);
    PQfinish(c);
    return 0;
}
