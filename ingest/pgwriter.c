/* PostgreSQL writer thread; see pgwriter.h. */
#include "pgwriter.h"

#include "clock.h"
#include "error.h"
#include "log.h"
#include "spool.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct done_item {
    struct buyt_pgwriter_done d;
    struct buyt_batch_progress *progress; /* owned copy */
};

struct buyt_pgwriter {
    uv_loop_t *loop;
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cond;
    uv_async_t async;
    buyt_pgwriter_done_cb done_cb;
    void *ud;
    char *conninfo, *spool_dir;
    uint32_t retry_min_ms, retry_max_ms, ahead_days;
    bool stop;
    /* Pending batch ids, ascending (guarded by mu). */
    uint64_t *queue;
    size_t q_head, q_len, q_cap;
    /* Finished batches for the loop (guarded by mu). */
    struct done_item *done;
    size_t n_done, cap_done;
    struct buyt_pgwriter_stats stats; /* guarded by mu */
    /* Thread-only state. */
    PGconn *conn;
    int32_t known_days[64];
    unsigned n_known_days;
    struct buyt_batch batch;
    struct buyt_buf scratch;
    uint64_t failing_since_ns, last_fail_log_ns;
    /* The progress log is folded into vehicle_progress every fold_ns: the log holds a few
     * seconds of batches (what a restart reads through the view), each vehicle's row in
     * vehicle_progress is updated once per fold instead of once per batch. */
    uint64_t fold_ns, folded_ns; /* folded_ns 0: never, the first commit folds */
    uint32_t retention_s;
    uint64_t prune_every_ns, pruned_ns; /* pruned_ns 0: never, the first commit prunes */
};

/* ------------------------------------------------------------------ SQL helpers (thread) */

static bool exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        BUYT_WARN("pgwriter", "msg=\"statement failed\" sql=\"%.60s\" err=\"%s\"", sql,
                  PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

static bool connect_db(struct buyt_pgwriter *w)
{
    if (w->conn && PQstatus(w->conn) == CONNECTION_OK)
        return true;
    if (w->conn)
        PQfinish(w->conn);
    w->conn = PQconnectdb(w->conninfo);
    if (PQstatus(w->conn) != CONNECTION_OK) {
        /* Once when it starts failing, then once a minute: an outage is not a log flood. */
        uint64_t now = buyt_mono_ns();
        if (!w->failing_since_ns || now - w->last_fail_log_ns > 60000000000ull) {
            BUYT_WARN("pgwriter", "msg=\"cannot connect; batches wait in the spool\" err=\"%s\"",
                      PQerrorMessage(w->conn));
            w->last_fail_log_ns = now;
        }
        if (!w->failing_since_ns)
            w->failing_since_ns = now;
        PQfinish(w->conn);
        w->conn = NULL;
        return false;
    }
    bool ok = exec_ok(w->conn, "SET client_min_messages = warning") &&
              exec_ok(w->conn, "CREATE TEMP TABLE buyt_stop_events_in"
                               " (LIKE stop_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS");
    if (ok) {
        char sql[128];
        snprintf(sql, sizeof sql,
                 "SELECT buyt_fix_partitions_ahead((now() AT TIME ZONE 'UTC')::date, %u)",
                 w->ahead_days);
        ok = exec_ok(w->conn, sql);
    }
    if (!ok) {
        PQfinish(w->conn);
        w->conn = NULL;
        return false;
    }
    w->n_known_days = 0;
    BUYT_INFO("pgwriter", "msg=\"connected to PostgreSQL\" outage_s=%.1f",
              w->failing_since_ns ? (double)(buyt_mono_ns() - w->failing_since_ns) / 1e9 : 0.0);
    w->failing_since_ns = 0;
    return true;
}

static bool copy_in(PGconn *c, const char *table, const char *columns, const struct buyt_buf *data)
{
    char sql[512];
    snprintf(sql, sizeof sql, "COPY %s (%s) FROM STDIN (FORMAT binary)", table, columns);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        BUYT_WARN("pgwriter", "msg=\"COPY refused\" table=%s err=\"%s\"", table,
                  PQresultErrorMessage(r));
        PQclear(r);
        return false;
    }
    PQclear(r);
    bool ok = PQputCopyData(c, (const char *)buyt_copy_header, sizeof buyt_copy_header) == 1 &&
              (data->len == 0 || PQputCopyData(c, (const char *)data->p, (int)data->len) == 1) &&
              PQputCopyData(c, (const char *)buyt_copy_trailer, sizeof buyt_copy_trailer) == 1;
    if (PQputCopyEnd(c, ok ? NULL : "buyt: client error") != 1)
        ok = false;
    while ((r = PQgetResult(c))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            BUYT_WARN("pgwriter", "msg=\"COPY failed\" table=%s err=\"%s\"", table,
                      PQresultErrorMessage(r));
            ok = false;
        }
        PQclear(r);
    }
    return ok;
}

/* Creates the fixes partitions for the batch's days (outside the transaction: DDL would take
 * locks for the whole commit). */
static bool ensure_days(struct buyt_pgwriter *w, const struct buyt_batch *b)
{
    for (uint32_t i = 0; i < b->n_days; i++) {
        bool known = false;
        for (unsigned k = 0; k < w->n_known_days; k++)
            known |= w->known_days[k] == b->days[i];
        if (known)
            continue;
        time_t t = (time_t)b->days[i] * 86400;
        struct tm tm;
        gmtime_r(&t, &tm);
        char day[16];
        strftime(day, sizeof day, "%Y-%m-%d", &tm);
        const char *p[1] = {day};
        PGresult *r = PQexecParams(w->conn, "SELECT buyt_fix_partition_ensure($1::date)", 1, NULL,
                                   p, NULL, NULL, 0);
        bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        if (!ok)
            BUYT_WARN("pgwriter", "msg=\"partition create failed\" day=%s err=\"%s\"", day,
                      PQresultErrorMessage(r));
        PQclear(r);
        if (!ok)
            return false;
        if (w->n_known_days < sizeof w->known_days / sizeof w->known_days[0])
            w->known_days[w->n_known_days++] = b->days[i];
    }
    return true;
}

enum commit_result { COMMIT_OK, COMMIT_ALREADY, COMMIT_RETRY, COMMIT_POISON };

/* Outcome of a failed statement: a lost connection is retried, anything else is the batch. */
static enum commit_result failure(struct buyt_pgwriter *w)
{
    if (PQstatus(w->conn) != CONNECTION_OK)
        return COMMIT_RETRY;
    PQclear(PQexec(w->conn, "ROLLBACK"));
    return PQstatus(w->conn) == CONNECTION_OK ? COMMIT_POISON : COMMIT_RETRY;
}

static enum commit_result commit_batch(struct buyt_pgwriter *w, const struct buyt_batch *b)
{
    if (!ensure_days(w, b))
        return PQstatus(w->conn) == CONNECTION_OK ? COMMIT_POISON : COMMIT_RETRY;
    if (!exec_ok(w->conn, "BEGIN"))
        return failure(w);
    char id[24], rows[16];
    snprintf(id, sizeof id, "%" PRIu64, b->id);
    snprintf(rows, sizeof rows, "%u", buyt_batch_rows(b));
    const char *p[2] = {id, rows};
    PGresult *r = PQexecParams(w->conn,
                               "INSERT INTO ingest_batches (batch_id, rows) VALUES ($1, $2)"
                               " ON CONFLICT (batch_id) DO NOTHING",
                               2, NULL, p, NULL, NULL, 0);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    bool fresh = ok && !strcmp(PQcmdTuples(r), "1");
    PQclear(r);
    if (!ok)
        return failure(w);
    if (!fresh) {
        PQclear(PQexec(w->conn, "ROLLBACK"));
        return COMMIT_ALREADY;
    }
    for (int t = 0; t < BUYT_TBL__COUNT; t++) {
        if (!b->rows[t])
            continue;
        const char *table = t == BUYT_TBL_STOP_EVENTS ? "buyt_stop_events_in"
                                                      : buyt_batch_table_name(t);
        if (!copy_in(w->conn, table, buyt_batch_table_columns(t, b->layout), &b->copy[t]))
            return failure(w);
    }
    /* Stop events are re-detected when a fix arrives late: the newest observation wins. */
    if (b->rows[BUYT_TBL_STOP_EVENTS] &&
        !exec_ok(w->conn, "INSERT INTO stop_events"
                          " SELECT DISTINCT ON (service_date, trip_id, run_start_s,"
                          "  stop_sequence) * FROM buyt_stop_events_in"
                          " ORDER BY service_date, trip_id, run_start_s, stop_sequence, ctid DESC"
                          " ON CONFLICT (service_date, trip_id, run_start_s, stop_sequence)"
                          " DO UPDATE SET"
                          " arrival = EXCLUDED.arrival, departure = EXCLUDED.departure,"
                          " passed = EXCLUDED.passed, vehicle = EXCLUDED.vehicle"))
        return failure(w);
    /* Delivery state: appended with the rows it describes (sql/migrations/0005), folded into
     * vehicle_progress every fold_ns in the same transaction as a batch. */
    if (b->n_progress &&
        (buyt_batch_progress_copy(b, &w->scratch) ||
         !copy_in(w->conn, "vehicle_progress_log", "vehicle, stored_through_seq, stored_ranges",
                  &w->scratch)))
        return failure(w);
    uint64_t now = buyt_mono_ns();
    bool fold = now - w->folded_ns >= w->fold_ns;
    /* The fold sorts the log by vehicle: at 100,000 buses 10 s of it is 1 M rows, which
     * PostgreSQL's default work_mem sorts on disk (1.2 s measured; 0.89 s in memory, of which
     * 0.33 s is the upsert itself). */
    if (fold &&
        (!exec_ok(w->conn, "SET LOCAL work_mem = '64MB'") ||
         !exec_ok(w->conn,
                  "INSERT INTO vehicle_progress (vehicle, stored_through_seq, stored_ranges)"
                  " SELECT DISTINCT ON (vehicle) vehicle, stored_through_seq, stored_ranges"
                  " FROM vehicle_progress_log ORDER BY vehicle, id DESC"
                  " ON CONFLICT (vehicle) DO UPDATE SET"
                  " stored_through_seq = EXCLUDED.stored_through_seq,"
                  " stored_ranges = EXCLUDED.stored_ranges, updated_at = now()") ||
         !exec_ok(w->conn, "TRUNCATE vehicle_progress_log")))
        return failure(w);
    if (!exec_ok(w->conn, "COMMIT"))
        return failure(w);
    if (fold)
        w->folded_ns = now;
    return COMMIT_OK;
}

/* Deletes the ingest_batches rows committed more than retention_s ago. Batches commit in id
 * order, so they are the ids below the first recent one, found by walking the primary key
 * from its low end (no index on committed_at needed). A failure is logged and retried at the
 * next interval: nothing depends on it. */
static void prune_batches(struct buyt_pgwriter *w)
{
    uint64_t now = buyt_mono_ns();
    if (w->pruned_ns && now - w->pruned_ns < w->prune_every_ns)
        return;
    w->pruned_ns = now;
    char secs[16];
    snprintf(secs, sizeof secs, "%u", w->retention_s);
    const char *p[1] = {secs};
    PGresult *r = PQexecParams(w->conn,
                               "DELETE FROM ingest_batches WHERE batch_id <"
                               " (SELECT batch_id FROM ingest_batches"
                               "  WHERE committed_at >= now() - make_interval(secs => $1::int)"
                               "  ORDER BY batch_id LIMIT 1)",
                               1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        BUYT_WARN("pgwriter", "msg=\"pruning ingest_batches failed\" err=\"%s\"",
                  PQresultErrorMessage(r));
    } else {
        uint64_t n = strtoull(PQcmdTuples(r), NULL, 10);
        uv_mutex_lock(&w->mu);
        w->stats.batches_pruned += n;
        uv_mutex_unlock(&w->mu);
    }
    PQclear(r);
}

/* ------------------------------------------------------------------ thread */

static void report(struct buyt_pgwriter *w, const struct buyt_batch *b, bool committed,
                   bool already, double ms)
{
    struct done_item it = {0};
    it.d.batch_id = b->id;
    it.d.committed = committed;
    it.d.already = already;
    it.d.rows = buyt_batch_rows(b);
    it.d.records = b->records;
    it.d.commit_ms = ms;
    if (b->n_progress) {
        it.progress = malloc(b->n_progress * sizeof *it.progress);
        if (it.progress) {
            memcpy(it.progress, b->progress, b->n_progress * sizeof *it.progress);
            it.d.n_progress = b->n_progress;
        }
    }
    uv_mutex_lock(&w->mu);
    if (w->n_done == w->cap_done) {
        size_t cap = w->cap_done ? w->cap_done * 2 : 16;
        void *p = realloc(w->done, cap * sizeof *w->done);
        if (p) {
            w->done = p;
            w->cap_done = cap;
        }
    }
    if (w->n_done < w->cap_done)
        w->done[w->n_done++] = it;
    else
        free(it.progress); /* out of memory: the ack waits for the next batch of the vehicle */
    struct buyt_pgwriter_stats *s = &w->stats;
    if (committed && !already) {
        s->batches_committed++;
        s->rows_committed += it.d.rows;
        for (int t = 0; t < BUYT_TBL__COUNT; t++)
            s->rows_by_table[t] += b->rows[t];
        s->last_commit_ms = ms;
        if (ms > s->max_commit_ms)
            s->max_commit_ms = ms;
    } else if (already) {
        s->batches_already++;
    } else {
        s->batches_quarantined++;
    }
    uv_mutex_unlock(&w->mu);
    uv_async_send(&w->async);
}

/* Waits up to ms (or until stop); returns true if stopping. */
static bool nap(struct buyt_pgwriter *w, uint32_t ms)
{
    uv_mutex_lock(&w->mu);
    if (!w->stop)
        uv_cond_timedwait(&w->cond, &w->mu, (uint64_t)ms * 1000000u);
    bool stop = w->stop;
    uv_mutex_unlock(&w->mu);
    return stop;
}

/* Commits (or quarantines) spool file `id`. Returns false if stopped before finishing. */
static bool process_one(struct buyt_pgwriter *w, uint64_t id, uint32_t *backoff)
{
    int rc = buyt_spool_read(w->spool_dir, id, &w->batch);
    if (rc) {
        BUYT_ERROR("pgwriter", "msg=\"unreadable spool file quarantined\" batch=%" PRIu64
                   " err=\"%s\"", id, buyt_strerror(rc));
        buyt_spool_quarantine(w->spool_dir, id);
        buyt_batch_reset(&w->batch);
        w->batch.id = id;
        report(w, &w->batch, false, false, 0);
        return true;
    }
    for (int attempt = 0;; attempt++) {
        if (!connect_db(w)) {
            uv_mutex_lock(&w->mu);
            w->stats.connect_failures++;
            w->stats.connected = false;
            uv_mutex_unlock(&w->mu);
            if (nap(w, *backoff))
                return false;
            *backoff = *backoff * 2 > w->retry_max_ms ? w->retry_max_ms : *backoff * 2;
            continue;
        }
        uv_mutex_lock(&w->mu);
        w->stats.connected = true;
        uv_mutex_unlock(&w->mu);
        uint64_t t0 = buyt_mono_ns();
        enum commit_result res = commit_batch(w, &w->batch);
        double ms = (double)(buyt_mono_ns() - t0) / 1e6;
        if (res == COMMIT_OK || res == COMMIT_ALREADY) {
            *backoff = w->retry_min_ms;
            buyt_spool_remove(w->spool_dir, id);
            report(w, &w->batch, true, res == COMMIT_ALREADY, ms);
            prune_batches(w);
            return true;
        }
        uv_mutex_lock(&w->mu);
        w->stats.commit_errors++;
        uv_mutex_unlock(&w->mu);
        if (res == COMMIT_POISON && attempt >= 2) {
            BUYT_ERROR("pgwriter", "msg=\"batch rejected by the database, quarantined\""
                       " batch=%" PRIu64, id);
            buyt_spool_quarantine(w->spool_dir, id);
            report(w, &w->batch, false, false, ms);
            return true;
        }
        if (nap(w, *backoff))
            return false;
        *backoff = *backoff * 2 > w->retry_max_ms ? w->retry_max_ms : *backoff * 2;
    }
}

static void thread_main(void *arg)
{
    struct buyt_pgwriter *w = arg;
    uint32_t backoff = w->retry_min_ms;
    for (;;) {
        uv_mutex_lock(&w->mu);
        while (!w->stop && w->q_len == 0)
            uv_cond_wait(&w->cond, &w->mu);
        if (w->stop) {
            uv_mutex_unlock(&w->mu);
            break;
        }
        uint64_t id = w->queue[w->q_head];
        uv_mutex_unlock(&w->mu);

        if (!process_one(w, id, &backoff))
            break; /* stopping mid-retry: the file stays for the next run */
        uv_mutex_lock(&w->mu);
        w->q_head++;
        w->q_len--;
        w->stats.pending = w->q_len;
        uv_mutex_unlock(&w->mu);
    }
    if (w->conn)
        PQfinish(w->conn);
    w->conn = NULL;
}

/* ------------------------------------------------------------------ loop side */

static void on_async(uv_async_t *a)
{
    struct buyt_pgwriter *w = a->data;
    uv_mutex_lock(&w->mu);
    struct done_item *items = w->done;
    size_t n = w->n_done;
    w->done = NULL;
    w->n_done = w->cap_done = 0;
    uv_mutex_unlock(&w->mu);
    for (size_t i = 0; i < n; i++) {
        items[i].d.progress = items[i].progress;
        if (w->done_cb)
            w->done_cb(w->ud, &items[i].d);
        free(items[i].progress);
    }
    free(items);
}

static int enqueue_locked(struct buyt_pgwriter *w, uint64_t id)
{
    if (w->q_head + w->q_len == w->q_cap) {
        if (w->q_head > 0) {
            memmove(w->queue, w->queue + w->q_head, w->q_len * sizeof *w->queue);
            w->q_head = 0;
        }
        if (w->q_len == w->q_cap) {
            size_t cap = w->q_cap ? w->q_cap * 2 : 256;
            void *p = realloc(w->queue, cap * sizeof *w->queue);
            if (!p)
                return BUYT_ENOMEM;
            w->queue = p;
            w->q_cap = cap;
        }
    }
    w->queue[w->q_head + w->q_len++] = id;
    w->stats.pending = w->q_len;
    return 0;
}

int buyt_pgwriter_start(uv_loop_t *loop, const struct buyt_pgwriter_opts *o,
                        buyt_pgwriter_done_cb done, void *ud, struct buyt_pgwriter **out)
{
    struct buyt_pgwriter *w = calloc(1, sizeof *w);
    if (!w)
        return BUYT_ENOMEM;
    w->loop = loop;
    w->done_cb = done;
    w->ud = ud;
    w->conninfo = strdup(o->conninfo);
    w->spool_dir = strdup(o->spool_dir);
    w->retry_min_ms = o->retry_min_ms ? o->retry_min_ms : 200;
    w->retry_max_ms = o->retry_max_ms ? o->retry_max_ms : 10000;
    w->ahead_days = o->partitions_ahead_days ? o->partitions_ahead_days : 3;
    w->fold_ns = (uint64_t)(o->progress_fold_ms ? o->progress_fold_ms : 10000) * 1000000ull;
    w->retention_s = o->batch_retention_s ? o->batch_retention_s : 7 * 86400;
    uint32_t every_s = w->retention_s < 7200 ? w->retention_s / 2 : 3600;
    w->prune_every_ns = (uint64_t)every_s * 1000000000ull;
    buyt_batch_init(&w->batch);
    uint64_t *ids = NULL;
    int n = buyt_spool_list(w->spool_dir, &ids);
    int rc = n < 0 ? n : 0;
    for (int i = 0; !rc && i < n; i++)
        rc = enqueue_locked(w, ids[i]);
    free(ids);
    if (!rc && (!w->conninfo || !w->spool_dir))
        rc = BUYT_ENOMEM;
    if (rc) {
        free(w->queue);
        free(w->conninfo);
        free(w->spool_dir);
        free(w);
        return rc;
    }
    uv_mutex_init(&w->mu);
    uv_cond_init(&w->cond);
    uv_async_init(loop, &w->async, on_async);
    w->async.data = w;
    rc = uv_thread_create(&w->thread, thread_main, w);
    if (rc) {
        uv_close((uv_handle_t *)&w->async, NULL);
        return rc;
    }
    *out = w;
    return 0;
}

void buyt_pgwriter_submit(struct buyt_pgwriter *w, uint64_t batch_id)
{
    uv_mutex_lock(&w->mu);
    if (enqueue_locked(w, batch_id))
        BUYT_ERROR("pgwriter", "msg=\"queue allocation failed; batch stays in the spool until"
                   " restart\" batch=%" PRIu64, batch_id);
    uv_cond_signal(&w->cond);
    uv_mutex_unlock(&w->mu);
}

void buyt_pgwriter_stats(struct buyt_pgwriter *w, struct buyt_pgwriter_stats *out)
{
    uv_mutex_lock(&w->mu);
    *out = w->stats;
    uv_mutex_unlock(&w->mu);
}

static void on_async_closed(uv_handle_t *h)
{
    struct buyt_pgwriter *w = h->data;
    for (size_t i = 0; i < w->n_done; i++)
        free(w->done[i].progress);
    free(w->done);
    free(w->queue);
    free(w->conninfo);
    free(w->spool_dir);
    buyt_batch_close(&w->batch);
    buyt_buf_free(&w->scratch);
    uv_mutex_destroy(&w->mu);
    uv_cond_destroy(&w->cond);
    free(w);
}

void buyt_pgwriter_stop(struct buyt_pgwriter *w)
{
    uv_mutex_lock(&w->mu);
    w->stop = true;
    uv_cond_signal(&w->cond);
    uv_mutex_unlock(&w->mu);
    uv_thread_join(&w->thread);
    on_async(&w->async); /* deliver what finished before the stop */
    uv_close((uv_handle_t *)&w->async, on_async_closed);
}
