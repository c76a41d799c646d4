/* Loads the simulator's network from the gtfs_* tables (sql/migrations/0002_gtfs.sql).
 *
 * Bulk data comes through COPY (SELECT ...) TO STDOUT (FORMAT csv), parsed with libcsv, so a
 * city-sized feed (1.7 M stop times) streams in without a giant PGresult. Synchronous libpq:
 * the simulator loads before its loop starts. */
#include "simnet.h"
#include "network_build.h"

#include "error.h"
#include "roads.h"

#include <csv.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELDS 12

struct rows {
    void (*row)(void *ud, char **f, size_t *len, int n);
    void *ud;
    char *f[MAX_FIELDS];
    size_t len[MAX_FIELDS];
    int n;
    bool oom;
};

static void on_field(void *s, size_t len, void *data)
{
    struct rows *r = data;
    if (r->n >= MAX_FIELDS)
        return;
    char *copy = NULL;
    if (s) { /* NULL for an unquoted empty field: SQL NULL (CSV_EMPTY_IS_NULL) */
        copy = malloc(len + 1);
        if (!copy) {
            r->oom = true;
            return;
        }
        memcpy(copy, s, len);
        copy[len] = 0;
    }
    r->f[r->n] = copy;
    r->len[r->n] = len;
    r->n++;
}

static void on_row(int c, void *data)
{
    (void)c;
    struct rows *r = data;
    r->row(r->ud, r->f, r->len, r->n);
    for (int i = 0; i < r->n; i++)
        free(r->f[i]);
    r->n = 0;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    size_t l = strlen(err);
    while (l && (err[l - 1] == '\n' || err[l - 1] == ' '))
        err[--l] = 0;
    for (char *p = err; *p; p++) /* libpq messages span lines: keep the reason on one */
        if (*p == '\n' || *p == '\t')
            *p = ' ';
}

/* Runs COPY (sql) TO STDOUT (FORMAT csv) and calls row() for each row. */
static int copy_rows(PGconn *c, const char *sql, void (*row)(void *, char **, size_t *, int),
                     void *ud, char *err, size_t errlen)
{
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        set_err(err, errlen, "query failed: %s", PQerrorMessage(c));
        PQclear(res);
        return BUYT_EDB;
    }
    PQclear(res);
    struct csv_parser p;
    if (csv_init(&p, CSV_APPEND_NULL | CSV_EMPTY_IS_NULL) != 0)
        return BUYT_ENOMEM;
    struct rows r = {.row = row, .ud = ud};
    char *buf;
    int n;
    int rc = 0;
    while ((n = PQgetCopyData(c, &buf, 0)) > 0) {
        if (csv_parse(&p, buf, (size_t)n, on_field, on_row, &r) != (size_t)n) {
            set_err(err, errlen, "CSV from PostgreSQL: %s", csv_strerror(csv_error(&p)));
            rc = BUYT_EDB;
        }
        PQfreemem(buf);
    }
    csv_fini(&p, on_field, on_row, &r);
    csv_free(&p);
    for (int i = 0; i < r.n; i++)
        free(r.f[i]);
    if (n == -2) {
        set_err(err, errlen, "COPY failed: %s", PQerrorMessage(c));
        rc = BUYT_EDB;
    }
    while ((res = PQgetResult(c)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && !rc) {
            set_err(err, errlen, "COPY failed: %s", PQerrorMessage(c));
            rc = BUYT_EDB;
        }
        PQclear(res);
    }
    if (r.oom && !rc)
        rc = BUYT_ENOMEM;
    return rc;
}

/* ------------------------------------------------------------------ loading state */


struct load {
    struct buyt_simnet *net;
    int cap;
    bool *active; /* [trip * 3 + day] */
    struct buyt_net_st_row *st;
    long n_st, cap_st;
    int *st_first, *st_count; /* per trip */
    int cap_pts;
    bool oom;
};

static void copy_id(char *dst, const char *src)
{
    snprintf(dst, BUYT_NET_ID_MAX, "%s", src ? src : "");
}


static void stop_row(void *ud, char **f, size_t *len, int n)
{
    (void)len;
    struct load *l = ud;
    struct buyt_simnet *net = l->net;
    if (n < 4 || !f[0] || !f[2] || !f[3])
        return;
    if (net->n_stops == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        struct buyt_net_stop *s = realloc(net->stops, (size_t)l->cap * sizeof *s);
        if (!s) {
            l->oom = true;
            return;
        }
        net->stops = s;
    }
    struct buyt_net_stop *s = &net->stops[net->n_stops++];
    copy_id(s->id, f[0]);
    snprintf(s->name, sizeof s->name, "%s", f[1] ? f[1] : "");
    s->lat = atof(f[2]);
    s->lon = atof(f[3]);
}

static void trip_row(void *ud, char **f, size_t *len, int n)
{
    (void)len;
    struct load *l = ud;
    struct buyt_simnet *net = l->net;
    if (n < 8 || !f[0])
        return;
    if (net->n_trips == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        struct buyt_net_trip *t = realloc(net->trips, (size_t)l->cap * sizeof *t);
        bool *a = realloc(l->active, (size_t)l->cap * 3);
        if (t)
            net->trips = t;
        if (a)
            l->active = a;
        if (!t || !a) {
            l->oom = true;
            return;
        }
    }
    int i = net->n_trips++;
    struct buyt_net_trip *t = &net->trips[i];
    memset(t, 0, sizeof *t);
    copy_id(t->id, f[0]);
    copy_id(t->route_id, f[1]);
    copy_id(t->block_id, f[2]);
    copy_id(t->service_id, f[3]);
    t->pattern = -1; /* set once its stop times are read */
    t->t0 = -1;
    t->shape = f[4] ? buyt_net_find_id(net->shapes, (size_t)net->n_shapes, sizeof *net->shapes, f[4]) : -1;
    for (int d = 0; d < 3; d++)
        l->active[i * 3 + d] = f[5 + d] && f[5 + d][0] == '1';
}

static void st_row_cb(void *ud, char **f, size_t *len, int n)
{
    (void)len;
    struct load *l = ud;
    struct buyt_simnet *net = l->net;
    if (n < 6 || !f[0] || !f[1] || !f[5])
        return;
    int trip = buyt_net_find_id(net->trips, (size_t)net->n_trips, sizeof *net->trips, f[0]);
    int stop = buyt_net_find_id(net->stops, (size_t)net->n_stops, sizeof *net->stops, f[1]);
    if (trip < 0 || stop < 0)
        return;
    if (l->n_st == l->cap_st) {
        l->cap_st = l->cap_st ? l->cap_st * 2 : 65536;
        struct buyt_net_st_row *s = realloc(l->st, (size_t)l->cap_st * sizeof *s);
        if (!s) {
            l->oom = true;
            return;
        }
        l->st = s;
    }
    struct buyt_net_st_row *r = &l->st[l->n_st++];
    r->trip = trip;
    r->stop = stop;
    r->arr = f[2] ? atoi(f[2]) : -1;
    r->dep = f[3] ? atoi(f[3]) : -1;
    r->timepoint = !f[4] || f[4][0] != '0';
    r->seq = atoi(f[5]);
}

static void shape_row(void *ud, char **f, size_t *len, int n)
{
    (void)len;
    struct load *l = ud;
    struct buyt_simnet *net = l->net;
    if (n < 3 || !f[0] || !f[1] || !f[2])
        return;
    if (net->n_shapes == 0 || strcmp(net->shapes[net->n_shapes - 1].id, f[0]) != 0) {
        if (net->n_shapes == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 256;
            struct buyt_net_shape *s = realloc(net->shapes, (size_t)l->cap * sizeof *s);
            if (!s) {
                l->oom = true;
                return;
            }
            net->shapes = s;
        }
        struct buyt_net_shape *s = &net->shapes[net->n_shapes++];
        memset(s, 0, sizeof *s);
        copy_id(s->id, f[0]);
        l->cap_pts = 0;
    }
    struct buyt_net_shape *s = &net->shapes[net->n_shapes - 1];
    if (s->n == l->cap_pts) {
        l->cap_pts = l->cap_pts ? l->cap_pts * 2 : 256;
        double *x = realloc(s->x_m, (size_t)l->cap_pts * sizeof *x);
        if (x)
            s->x_m = x;
        double *y = realloc(s->y_m, (size_t)l->cap_pts * sizeof *y);
        if (y)
            s->y_m = y;
        double *d = realloc(s->dist_m, (size_t)l->cap_pts * sizeof *d);
        if (d)
            s->dist_m = d;
        if (!x || !y || !d) {
            l->oom = true;
            return;
        }
    }
    double lat = atof(f[1]), lon = atof(f[2]);
    buyt_geo_to_xy(&net->frame, lat, lon, &s->x_m[s->n], &s->y_m[s->n]);
    /* drop repeated points (zero-length segments) */
    if (s->n > 0 && s->x_m[s->n] == s->x_m[s->n - 1] && s->y_m[s->n] == s->y_m[s->n - 1])
        return;
    s->dist_m[s->n] = s->n ? s->dist_m[s->n - 1] + hypot(s->x_m[s->n] - s->x_m[s->n - 1],
                                                         s->y_m[s->n] - s->y_m[s->n - 1])
                           : 0;
    s->n++;
}

/* ------------------------------------------------------------------ public */

int buyt_simnet_load(const char *conninfo, int64_t start_ms, struct buyt_simnet **out,
                      char *err, size_t errlen)
{
    *out = NULL;
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        set_err(err, errlen, "connecting to the database: %s", PQerrorMessage(c));
        PQfinish(c);
        return BUYT_EDB;
    }
    struct buyt_simnet *net = calloc(1, sizeof *net);
    struct load l = {.net = net};
    int rc = BUYT_ENOMEM;
    if (!net)
        goto fail;
    rc = BUYT_EDB;
    PGresult *r = PQexec(c, "SELECT agency, timezone FROM gtfs_feed_current");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        set_err(err, errlen, "reading gtfs_feed_current: %s", PQerrorMessage(c));
        PQclear(r);
        goto fail;
    }
    if (PQntuples(r) != 1) {
        set_err(err, errlen, "no GTFS feed imported (run buyt-gtfs import first)");
        PQclear(r);
        rc = BUYT_EINVAL;
        goto fail;
    }
    copy_id(net->agency, PQgetvalue(r, 0, 0));
    snprintf(net->timezone, sizeof net->timezone, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    char start_txt[32];
    snprintf(start_txt, sizeof start_txt, "%.3f", (double)start_ms / 1000.0);
    const char *dp[2] = {start_txt, net->timezone};
    r = PQexecParams(c,
                     "SELECT d::text, (extract(epoch FROM ((d + time '12:00') AT TIME ZONE $2)"
                     " - interval '12 hours') * 1000)::bigint FROM (SELECT"
                     " (to_timestamp($1::float8) AT TIME ZONE $2)::date + k AS d"
                     " FROM generate_series(-1, 1) k) x ORDER BY d",
                     2, NULL, dp, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 3) {
        set_err(err, errlen, "computing service days: %s", PQerrorMessage(c));
        PQclear(r);
        goto fail;
    }
    net->n_days = 3;
    for (int d = 0; d < 3; d++) {
        snprintf(net->days[d].date, sizeof net->days[d].date, "%s", PQgetvalue(r, d, 0));
        net->days[d].base_ms = atoll(PQgetvalue(r, d, 1));
    }
    PQclear(r);
    /* dates come from PostgreSQL as YYYY-MM-DD: safe to put in the COPY text */
    char services[512];
    snprintf(services, sizeof services,
             "SELECT buyt_gtfs_services_on('%s') UNION SELECT buyt_gtfs_services_on('%s')"
             " UNION SELECT buyt_gtfs_services_on('%s')",
             net->days[0].date, net->days[1].date, net->days[2].date);
    char sql[4096];
    /* Stops. */
    if ((rc = copy_rows(c,
                        "COPY (SELECT stop_id, stop_name, stop_lat, stop_lon FROM gtfs_stops"
                        " WHERE stop_lat IS NOT NULL ORDER BY stop_id) TO STDOUT (FORMAT csv)",
                        stop_row, &l, err, errlen)))
        goto fail;
    if (l.oom)
        goto oom;
    if (net->n_stops == 0) {
        set_err(err, errlen, "the feed has no stops");
        rc = BUYT_EINVAL;
        goto fail;
    }
    {
        double lat = 0, lon = 0;
        for (int i = 0; i < net->n_stops; i++) {
            lat += net->stops[i].lat;
            lon += net->stops[i].lon;
        }
        buyt_geo_frame_init(&net->frame, lat / net->n_stops, lon / net->n_stops);
        for (int i = 0; i < net->n_stops; i++)
            buyt_geo_to_xy(&net->frame, net->stops[i].lat, net->stops[i].lon,
                           &net->stops[i].x_m, &net->stops[i].y_m);
    }
    /* Shapes of those trips (before the trips, which refer to them). */
    l.cap = 0;
    snprintf(sql, sizeof sql,
             "COPY (SELECT shape_id, shape_pt_lat, shape_pt_lon FROM gtfs_shapes WHERE shape_id"
             " IN (SELECT DISTINCT shape_id FROM gtfs_trips WHERE service_id IN (%s))"
             " ORDER BY shape_id, shape_pt_sequence) TO STDOUT (FORMAT csv)",
             services);
    if ((rc = copy_rows(c, sql, shape_row, &l, err, errlen)))
        goto fail;
    if (l.oom)
        goto oom;
    /* Trips of the three days. */
    l.cap = 0;
    snprintf(sql, sizeof sql,
             "COPY (SELECT t.trip_id, t.route_id, t.block_id, t.service_id, t.shape_id,"
             " (t.service_id IN (SELECT buyt_gtfs_services_on('%s')))::int,"
             " (t.service_id IN (SELECT buyt_gtfs_services_on('%s')))::int,"
             " (t.service_id IN (SELECT buyt_gtfs_services_on('%s')))::int"
             " FROM gtfs_trips t WHERE t.service_id IN (%s) ORDER BY t.trip_id)"
             " TO STDOUT (FORMAT csv)",
             net->days[0].date, net->days[1].date, net->days[2].date, services);
    if ((rc = copy_rows(c, sql, trip_row, &l, err, errlen)))
        goto fail;
    if (l.oom)
        goto oom;
    if (net->n_trips == 0) {
        set_err(err, errlen, "no trips run on %s..%s", net->days[0].date, net->days[2].date);
        rc = BUYT_EINVAL;
        goto fail;
    }
    /* Stop times. */
    snprintf(sql, sizeof sql,
             "COPY (SELECT st.trip_id, st.stop_id, st.arrival_time, st.departure_time,"
             " st.timepoint, st.stop_sequence FROM gtfs_stop_times st JOIN gtfs_trips t USING (trip_id)"
             " WHERE t.service_id IN (%s) ORDER BY st.trip_id, st.stop_sequence)"
             " TO STDOUT (FORMAT csv)",
             services);
    if ((rc = copy_rows(c, sql, st_row_cb, &l, err, errlen)))
        goto fail;
    if (l.oom)
        goto oom;
    if ((rc = buyt_network_build(net, l.st, l.n_st, l.active))) {
        if (rc == BUYT_ENOMEM)
            goto oom;
        goto fail;
    }
    free(l.st);
    free(l.active);
    PQfinish(c);
    *out = net;
    return 0;
oom:
    rc = BUYT_ENOMEM;
    set_err(err, errlen, "out of memory loading the network");
fail:
    free(l.st);
    free(l.active);
    buyt_simnet_free(net);
    PQfinish(c);
    return rc;
}
