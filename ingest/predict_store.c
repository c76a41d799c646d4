/* The predictor's tables in PostgreSQL: statistics load/save, prediction samples. */
#include "predict_store.h"

#include "error.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(PGconn *c, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, PQerrorMessage(c));
    size_t l = strlen(err);
    while (l && (err[l - 1] == '\n' || err[l - 1] == ' '))
        err[--l] = '\0';
    return BUYT_EDB;
}

static int exec_ok(PGconn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    PQclear(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return fail(c, sql, err, errlen);
    return 0;
}

/* A growable buffer of COPY text rows. */
struct buf {
    char *p;
    size_t n, cap;
    bool oom;
};

static void buf_grow(struct buf *b, size_t more)
{
    if (b->oom || b->n + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + more)
        cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) {
        b->oom = true;
        return;
    }
    b->p = np;
    b->cap = cap;
}

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0) {
        b->oom = true;
        return;
    }
    buf_grow(b, (size_t)need + 1);
    if (b->oom)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)need + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)need;
}

/* A text field of COPY's text format: backslash, tab, newline and CR escaped. */
static void buf_text(struct buf *b, const char *s)
{
    buf_grow(b, strlen(s) * 2 + 1);
    if (b->oom)
        return;
    for (; *s; s++) {
        char e = *s == '\\' ? '\\' : *s == '\t' ? 't' : *s == '\n' ? 'n' : *s == '\r' ? 'r' : 0;
        if (e) {
            b->p[b->n++] = '\\';
            b->p[b->n++] = e;
        } else {
            b->p[b->n++] = *s;
        }
    }
}

/* Runs `copy_sql` (COPY ... FROM STDIN) with the buffer as its data. */
static int copy_in(PGconn *c, const char *copy_sql, const struct buf *b, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, copy_sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        PQclear(r);
        return fail(c, copy_sql, err, errlen);
    }
    PQclear(r);
    if ((b->n && PQputCopyData(c, b->p, (int)b->n) != 1) || PQputCopyEnd(c, NULL) != 1)
        return fail(c, "COPY data", err, errlen);
    int rc = 0;
    while ((r = PQgetResult(c))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && !rc)
            rc = fail(c, copy_sql, err, errlen);
        PQclear(r);
    }
    return rc;
}

int buyt_predict_store_load(PGconn *c, struct buyt_predict *p, size_t *loaded, char *err,
                            size_t errlen)
{
    if (loaded)
        *loaded = 0;
    PGresult *r = PQexec(c, "SELECT kind, from_stop, to_stop, band, day_type, n, mean_s, var_s2,"
                            " n_last, var_last_s2, cov_s2,"
                            " (extract(epoch FROM updated_at) * 1000)::bigint"
                            " FROM segment_stats");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return fail(c, "loading segment_stats", err, errlen);
    }
    int rows = PQntuples(r), rc = 0;
    for (int i = 0; i < rows && !rc; i++) {
        struct buyt_predict_stat st = {
            .kind = (enum buyt_predict_kind)atoi(PQgetvalue(r, i, 0)),
            .from_stop = PQgetvalue(r, i, 1),
            .to_stop = PQgetvalue(r, i, 2),
            .band = (uint32_t)atoi(PQgetvalue(r, i, 3)),
            .daytype = (uint32_t)atoi(PQgetvalue(r, i, 4)),
            .n = (uint32_t)strtoul(PQgetvalue(r, i, 5), NULL, 10),
            .mean_s = strtod(PQgetvalue(r, i, 6), NULL),
            .var_s2 = strtod(PQgetvalue(r, i, 7), NULL),
            .n_last = (uint32_t)strtoul(PQgetvalue(r, i, 8), NULL, 10),
            .var_last_s2 = strtod(PQgetvalue(r, i, 9), NULL),
            .cov_s2 = strtod(PQgetvalue(r, i, 10), NULL),
            .updated_ms = strtoll(PQgetvalue(r, i, 11), NULL, 10),
        };
        rc = buyt_predict_stat_put(p, &st);
        if (rc == BUYT_EINVAL) { /* the table's checks make this a corrupt row: skip it */
            rc = 0;
            continue;
        }
        if (!rc && loaded)
            (*loaded)++;
    }
    PQclear(r);
    if (rc)
        snprintf(err, errlen, "loading segment_stats: %s", buyt_strerror(rc));
    return rc;
}

/* One transaction: a temporary table (ON COMMIT DROP), COPY of `b` into it, then the insert
 * that moves the rows into place; rolled back on any failure. */
static int staged_insert(PGconn *c, const char *create_sql, const char *copy_sql,
                         const struct buf *b, const char *insert_sql, char *err, size_t errlen)
{
    int rc = exec_ok(c, "BEGIN", err, errlen);
    if (!rc)
        rc = exec_ok(c, create_sql, err, errlen);
    if (!rc)
        rc = copy_in(c, copy_sql, b, err, errlen);
    if (!rc)
        rc = exec_ok(c, insert_sql, err, errlen);
    if (!rc)
        rc = exec_ok(c, "COMMIT", err, errlen);
    else
        PQclear(PQexec(c, "ROLLBACK"));
    return rc;
}

int buyt_predict_store_save(PGconn *c, const struct buyt_predict_stats *s, char *err, size_t errlen)
{
    if (!s->n)
        return 0;
    struct buf b = {0};
    for (size_t i = 0; i < s->n; i++) {
        const struct buyt_predict_stat *st = &s->rows[i];
        buf_printf(&b, "%d\t", (int)st->kind);
        buf_text(&b, st->from_stop);
        buf_printf(&b, "\t");
        buf_text(&b, st->kind == BUYT_PREDICT_DWELL ? "" : st->to_stop);
        buf_printf(&b, "\t%u\t%u\t%u\t%.9g\t%.9g\t%u\t%.9g\t%.9g\t%" PRId64 "\n", st->band,
                   st->daytype, st->n, st->mean_s, st->var_s2, st->n_last, st->var_last_s2,
                   st->cov_s2, st->updated_ms);
    }
    if (b.oom) {
        free(b.p);
        snprintf(err, errlen, "saving segment_stats: out of memory");
        return BUYT_ENOMEM;
    }
    int rc =
        staged_insert(c,
                      "CREATE TEMP TABLE segment_stats_in (kind smallint, from_stop text,"
                      " to_stop text, band smallint, day_type smallint, n integer, mean_s real,"
                      " var_s2 real, n_last integer, var_last_s2 real, cov_s2 real,"
                      " updated_ms bigint) ON COMMIT DROP",
                      "COPY segment_stats_in FROM STDIN", &b,
                      "INSERT INTO segment_stats SELECT kind, from_stop, to_stop, band, day_type,"
                      " n, mean_s, var_s2, n_last, var_last_s2, cov_s2,"
                      " to_timestamp(updated_ms / 1000.0) FROM segment_stats_in"
                      " ON CONFLICT (kind, from_stop, to_stop, band, day_type) DO UPDATE SET"
                      " n = EXCLUDED.n, mean_s = EXCLUDED.mean_s, var_s2 = EXCLUDED.var_s2,"
                      " n_last = EXCLUDED.n_last, var_last_s2 = EXCLUDED.var_last_s2,"
                      " cov_s2 = EXCLUDED.cov_s2, updated_at = EXCLUDED.updated_at",
                      err, errlen);
    free(b.p);
    return rc;
}

int buyt_predict_store_samples(PGconn *c, const struct buyt_predict_sample *s, size_t n, char *err,
                               size_t errlen)
{
    if (!n)
        return 0;
    struct buf b = {0};
    for (size_t i = 0; i < n; i++) {
        const struct buyt_predict_sample *x = &s[i];
        /* Times as epoch seconds: the column type converts with to_timestamp below. */
        buf_printf(&b, "%.3f\t%d\t", x->made_ms / 1000.0, (int)x->service_day);
        buf_text(&b, x->trip_id);
        buf_printf(&b, "\t%u\t", x->stop_sequence);
        buf_text(&b, x->stop_id);
        buf_printf(&b, "\t");
        buf_text(&b, x->vehicle);
        buf_printf(&b, "\t%.3f\t%.3f\t%d\t%c\t%d\t%c\t%d\n", x->predicted_ms / 1000.0,
                   x->scheduled_ms / 1000.0, (int)((x->predicted_ms - x->made_ms) / 1000),
                   x->departure ? 't' : 'f', (int)x->source, x->on_trip ? 't' : 'f',
                   (int)x->run_start_s);
    }
    if (b.oom) {
        free(b.p);
        snprintf(err, errlen, "saving predictions: out of memory");
        return BUYT_ENOMEM;
    }
    int rc =
        staged_insert(c,
                      "CREATE TEMP TABLE predictions_in (made double precision, day integer,"
                      " trip_id text, stop_sequence integer, stop_id text, vehicle_id text,"
                      " predicted double precision, scheduled double precision,"
                      " horizon_s integer, departure boolean, source smallint, started boolean,"
                      " run_start_s integer) ON COMMIT DROP",
                      "COPY predictions_in FROM STDIN", &b,
                      "INSERT INTO predictions (made_at, service_date, trip_id, stop_sequence,"
                      " stop_id, vehicle_id, predicted, scheduled, horizon_s, departure, source,"
                      " started, run_start_s) SELECT to_timestamp(made), date '1970-01-01' + day,"
                      " trip_id, stop_sequence, stop_id, vehicle_id, to_timestamp(predicted),"
                      " to_timestamp(scheduled), horizon_s, departure, source, started,"
                      " run_start_s FROM predictions_in",
                      err, errlen);
    free(b.p);
    return rc;
}

int buyt_predict_store_fill_actuals(PGconn *c, int64_t since_ms, long long *filled, char *err,
                                    size_t errlen)
{
    char since[32];
    snprintf(since, sizeof since, "%.3f", since_ms / 1000.0);
    const char *params[1] = {since};
    PGresult *r = PQexecParams(c, "SELECT buyt_predictions_fill_actuals(to_timestamp($1))", 1, NULL,
                               params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return fail(c, "buyt_predictions_fill_actuals", err, errlen);
    }
    if (filled)
        *filled = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}
