/* Network loader from PostgreSQL; see netload.h. */
#include "netload.h"

#include "clock.h"
#include "error.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(PGconn *c, PGresult *r, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, PQerrorMessage(c));
    for (char *p = err; *p; p++)
        if (*p == '\n')
            *p = ' ';
    PQclear(r);
    return BUYT_EDB;
}

/* Runs a query in single-row mode, calling row() for each row. */
static int each_row(PGconn *c, const char *sql, int nparams, const char *const *params,
                    int (*row)(PGresult *r, void *arg), void *arg, const char *what, char *err,
                    size_t errlen)
{
    if (!PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0) ||
        !PQsetSingleRowMode(c))
        return fail(c, NULL, what, err, errlen);
    int rc = 0;
    PGresult *r;
    while ((r = PQgetResult(c))) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE) {
            if (!rc && row(r, arg)) {
                rc = BUYT_ENOMEM;
                snprintf(err, errlen, "%s: could not add a row to the network", what);
            }
        } else if (st != PGRES_TUPLES_OK && !rc) {
            rc = fail(c, NULL, what, err, errlen);
        }
        PQclear(r);
    }
    return rc;
}

struct ctx {
    struct buyt_network *net;
    /* stop_times of every GTFS trip, loaded once, sorted by trip_id then stop_sequence */
    struct st { char *trip; uint32_t seq, stop; int32_t arr, dep; } *st;
    size_t n_st, cap_st;
    /* frequencies.txt windows, sorted by trip_id then start_time */
    struct fq { char *trip; int32_t start, end, headway; bool exact; } *fq;
    size_t n_fq, cap_fq;
    uint32_t instances, runs;
};

static int32_t time_or_blank(PGresult *r, int col)
{
    return PQgetisnull(r, 0, col) ? BUYT_NETWORK_NO_TIME : atoi(PQgetvalue(r, 0, col));
}

static int add_route(PGresult *r, void *arg)
{
    struct ctx *x = arg;
    return buyt_network_add_route(x->net, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
                                  atoi(PQgetvalue(r, 0, 2)), NULL);
}

static int add_stop(PGresult *r, void *arg)
{
    struct ctx *x = arg;
    return buyt_network_add_stop(x->net, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
                                 atof(PQgetvalue(r, 0, 2)), atof(PQgetvalue(r, 0, 3)), NULL);
}

static int add_shape_point(PGresult *r, void *arg)
{
    struct ctx *x = arg;
    uint32_t s = buyt_network_shape_find(x->net, PQgetvalue(r, 0, 0));
    if (s == BUYT_NETWORK_NONE && buyt_network_add_shape(x->net, PQgetvalue(r, 0, 0), &s))
        return BUYT_ENOMEM;
    return buyt_network_add_shape_point(x->net, s, atof(PQgetvalue(r, 0, 1)),
                                        atof(PQgetvalue(r, 0, 2)));
}

static int add_st(PGresult *r, void *arg)
{
    struct ctx *x = arg;
    if (x->n_st == x->cap_st) {
        size_t cap = x->cap_st ? x->cap_st * 2 : 65536;
        void *p = realloc(x->st, cap * sizeof *x->st);
        if (!p)
            return BUYT_ENOMEM;
        x->st = p;
        x->cap_st = cap;
    }
    uint32_t stop = buyt_network_stop_find(x->net, PQgetvalue(r, 0, 2));
    if (stop == BUYT_NETWORK_NONE)
        return 0; /* the importer checks references; a stop without coordinates is skipped */
    struct st *s = &x->st[x->n_st];
    s->trip = strdup(PQgetvalue(r, 0, 0));
    if (!s->trip)
        return BUYT_ENOMEM;
    s->seq = (uint32_t)atoi(PQgetvalue(r, 0, 1));
    s->stop = stop;
    s->arr = time_or_blank(r, 3);
    s->dep = time_or_blank(r, 4);
    x->n_st++;
    return 0;
}

static int add_fq(PGresult *r, void *arg)
{
    struct ctx *x = arg;
    if (x->n_fq == x->cap_fq) {
        size_t cap = x->cap_fq ? x->cap_fq * 2 : 256;
        void *p = realloc(x->fq, cap * sizeof *x->fq);
        if (!p)
            return BUYT_ENOMEM;
        x->fq = p;
        x->cap_fq = cap;
    }
    struct fq *f = &x->fq[x->n_fq];
    if (!(f->trip = strdup(PQgetvalue(r, 0, 0))))
        return BUYT_ENOMEM;
    f->start = atoi(PQgetvalue(r, 0, 1));
    f->end = atoi(PQgetvalue(r, 0, 2));
    f->headway = atoi(PQgetvalue(r, 0, 3));
    f->exact = atoi(PQgetvalue(r, 0, 4)) == 1;
    x->n_fq++;
    return 0;
}

/* First element for trip_id in an array sorted by trip_id (n if none): x->st or x->fq, whose
 * first member is the trip_id. */
static size_t first_for_trip(const void *base, size_t n, size_t size, const char *trip)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *t;
        memcpy(&t, (const char *)base + mid * size, sizeof t);
        if (strcmp(t, trip) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}
_Static_assert(offsetof(struct st, trip) == 0 && offsetof(struct fq, trip) == 0,
               "first_for_trip reads the trip_id first");

/* Adds one instance of def with the stop times from x->st[st0...], shifted by shift_s. */
static int add_instance(struct ctx *x, const struct buyt_network_trip_def *def, size_t st0,
                        int32_t shift_s)
{
    uint32_t t;
    if (buyt_network_add_trip(x->net, def, &t))
        return BUYT_ENOMEM;
    x->instances++;
    for (size_t i = st0; i < x->n_st && !strcmp(x->st[i].trip, def->trip_id); i++) {
        int32_t arr = x->st[i].arr, dep = x->st[i].dep;
        if (arr != BUYT_NETWORK_NO_TIME)
            arr += shift_s;
        if (dep != BUYT_NETWORK_NO_TIME)
            dep += shift_s;
        if (buyt_network_add_stop_time(x->net, t, x->st[i].seq, x->st[i].stop, arr, dep))
            return BUYT_ENOMEM;
    }
    return 0;
}

static int add_trip(PGresult *r, void *arg)
{
    struct ctx *x = arg;
    const char *trip_id = PQgetvalue(r, 0, 0);
    uint32_t route = buyt_network_route_find(x->net, PQgetvalue(r, 0, 1));
    if (route == BUYT_NETWORK_NONE)
        return 0;
    struct buyt_network_trip_def def = {
        .trip_id = trip_id,
        .route = route,
        .shape = PQgetisnull(r, 0, 2) ? BUYT_NETWORK_NONE
                                       : buyt_network_shape_find(x->net, PQgetvalue(r, 0, 2)),
        .block_id = PQgetisnull(r, 0, 3) ? NULL : PQgetvalue(r, 0, 3),
        .headsign = PQgetisnull(r, 0, 4) ? NULL : PQgetvalue(r, 0, 4),
        .direction_id = PQgetisnull(r, 0, 5) ? -1 : atoi(PQgetvalue(r, 0, 5)),
        .day_start_ms = strtoll(PQgetvalue(r, 0, 6), NULL, 10),
    };
    size_t st0 = first_for_trip(x->st, x->n_st, sizeof *x->st, trip_id);
    size_t fq0 = first_for_trip(x->fq, x->n_fq, sizeof *x->fq, trip_id);
    bool has_runs = fq0 < x->n_fq && !strcmp(x->fq[fq0].trip, trip_id);
    /* A frequency trip's stop times only give the travel times between its stops: each run
     * leaves the first stop at its start, the template's times shifted to it. */
    int32_t first = BUYT_NETWORK_NO_TIME;
    if (has_runs && st0 < x->n_st && !strcmp(x->st[st0].trip, trip_id))
        first = x->st[st0].dep != BUYT_NETWORK_NO_TIME ? x->st[st0].dep : x->st[st0].arr;
    if (first == BUYT_NETWORK_NO_TIME)
        has_runs = false; /* nothing to shift from: loaded as written (invalid when finished) */
    if (!has_runs)
        return add_instance(x, &def, st0, 0);
    int32_t last_start = -1;
    for (size_t w = fq0; w < x->n_fq && !strcmp(x->fq[w].trip, trip_id); w++) {
        const struct fq *f = &x->fq[w];
        if (f->headway <= 0)
            continue; /* the importer refuses these; never loop on one */
        /* Runs start at start_time, every headway_secs, before end_time (GTFS: a window of
         * 08:00-10:00 every 30 min has its last run at 09:30). Overlapping windows (not
         * allowed) cannot add a run twice. */
        for (int32_t start = f->start; start < f->end; start += f->headway) {
            if (start <= last_start)
                continue;
            last_start = start;
            def.frequency_run = true;
            def.run_start_s = start;
            /* Runs overlap (a 60 min trip every 10 min): they are not one vehicle's
             * sequence, so the template's block does not chain them. */
            def.block_id = NULL;
            def.headway_based = !f->exact;
            int rc = add_instance(x, &def, st0, start - first);
            if (rc)
                return rc;
            x->runs++;
        }
    }
    return 0;
}

static int feed_row(PGconn *c, struct buyt_netload_info *info, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, "SELECT version, timezone, agency FROM gtfs_feed"
                            " ORDER BY version DESC LIMIT 1");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return fail(c, r, "reading gtfs_feed", err, errlen);
    if (PQntuples(r) == 1) {
        info->feed_version = atoi(PQgetvalue(r, 0, 0));
        snprintf(info->timezone, sizeof info->timezone, "%s", PQgetvalue(r, 0, 1));
        snprintf(info->agency, sizeof info->agency, "%s", PQgetvalue(r, 0, 2));
    }
    PQclear(r);
    return 0;
}

/* The feed zone's UTC offset for every hour of the loaded days and two more, from
 * PostgreSQL's time-zone database (the same one the service days were resolved with). */
static int tz_table(PGconn *c, struct buyt_netload_info *info, char *err, size_t errlen)
{
    const char *p[3] = {info->first_day, info->last_day, info->timezone};
    PGresult *r = PQexecParams(
        c, "SELECT (extract(epoch FROM h) * 1000)::bigint,"
           " extract(epoch FROM (h AT TIME ZONE $3) - (h AT TIME ZONE 'UTC'))::int"
           " FROM generate_series($1::date::timestamp AT TIME ZONE $3,"
           "  ($2::date + 2)::timestamp AT TIME ZONE $3, interval '1 hour') h ORDER BY h",
        3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return fail(c, r, "reading the time zone's offsets", err, errlen);
    int n = PQntuples(r);
    if (n > BUYT_NETLOAD_TZ_HOURS)
        n = BUYT_NETLOAD_TZ_HOURS;
    info->n_tz = (uint32_t)n;
    if (n > 0)
        info->tz_from_ms = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    for (int i = 0; i < n; i++)
        info->tz_offset_s[i] = (int32_t)strtol(PQgetvalue(r, i, 1), NULL, 10);
    PQclear(r);
    return 0;
}

int32_t buyt_netload_utc_offset(const struct buyt_netload_info *info, int64_t ms,
                                int32_t fallback)
{
    if (!info->n_tz)
        return fallback;
    if (ms <= info->tz_from_ms)
        return info->tz_offset_s[0];
    int64_t h = (ms - info->tz_from_ms) / 3600000;
    return info->tz_offset_s[h < (int64_t)info->n_tz ? h : (int64_t)info->n_tz - 1];
}

int buyt_netload(PGconn *c, int64_t now_ms, int day_from, int day_to, struct buyt_network **out,
                 struct buyt_netload_info *info, char *err, size_t errlen)
{
    uint64_t t0 = buyt_mono_ns();
    memset(info, 0, sizeof *info);
    *out = NULL;
    struct ctx x = {0};
    int rc = buyt_network_new(NULL, &x.net);
    if (rc) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    /* One snapshot: a concurrent re-import is seen entirely or not at all. */
    PQclear(PQexec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
    rc = feed_row(c, info, err, errlen);
    if (!rc && info->feed_version) {
        char now[32], from[16], to[16];
        snprintf(now, sizeof now, "%.3f", (double)now_ms / 1000.0);
        snprintf(from, sizeof from, "%d", day_from);
        snprintf(to, sizeof to, "%d", day_to);
        const char *days_p[4] = {now, info->timezone, from, to};
        PGresult *r = PQexecParams(
            c, "SELECT (to_timestamp($1::float8) AT TIME ZONE $2)::date + $3::int,"
               " (to_timestamp($1::float8) AT TIME ZONE $2)::date + $4::int",
            4, NULL, days_p, NULL, NULL, 0);
        PGresult *rr = PQexecParams(
            c, "SELECT (extract(epoch FROM (((to_timestamp($1::float8) AT TIME ZONE $2)::date + 1)"
               " + time '03:00') AT TIME ZONE $2) * 1000)::bigint",
            2, NULL, days_p, NULL, NULL, 0);
        if (PQresultStatus(rr) == PGRES_TUPLES_OK)
            info->refresh_at_ms = strtoll(PQgetvalue(rr, 0, 0), NULL, 10);
        PQclear(rr);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            rc = fail(c, r, "resolving service days", err, errlen);
        else {
            snprintf(info->first_day, sizeof info->first_day, "%s", PQgetvalue(r, 0, 0));
            snprintf(info->last_day, sizeof info->last_day, "%s", PQgetvalue(r, 0, 1));
            PQclear(r);
            rc = tz_table(c, info, err, errlen);
        }
        if (!rc)
            rc = each_row(c, "SELECT route_id, coalesce(route_short_name, ''), route_type"
                             " FROM gtfs_routes ORDER BY route_id",
                          0, NULL, add_route, &x, "loading routes", err, errlen);
        if (!rc)
            rc = each_row(c, "SELECT stop_id, coalesce(stop_name, ''), stop_lat, stop_lon"
                             " FROM gtfs_stops WHERE stop_lat IS NOT NULL AND location_type = 0"
                             " ORDER BY stop_id",
                          0, NULL, add_stop, &x, "loading stops", err, errlen);
        if (!rc)
            rc = each_row(c, "SELECT shape_id, shape_pt_lat, shape_pt_lon FROM gtfs_shapes"
                             " ORDER BY shape_id, shape_pt_sequence",
                          0, NULL, add_shape_point, &x, "loading shapes", err, errlen);
        if (!rc)
            rc = each_row(c, "SELECT trip_id, stop_sequence, stop_id, arrival_time,"
                             " departure_time FROM gtfs_stop_times"
                             " ORDER BY trip_id, stop_sequence",
                          0, NULL, add_st, &x, "loading stop times", err, errlen);
        if (!rc)
            rc = each_row(c, "SELECT trip_id, start_time, end_time, headway_secs, exact_times"
                             " FROM gtfs_frequencies ORDER BY trip_id, start_time",
                          0, NULL, add_fq, &x, "loading frequencies", err, errlen);
        const char *p[3] = {info->first_day, info->last_day, info->timezone};
        /* Services active per day: calendar.txt by weekday and date range, plus
         * calendar_dates.txt additions, minus its removals (GTFS reference, calendar_dates). */
        if (!rc)
            rc = each_row(
                c,
                "WITH days AS (SELECT d::date AS day FROM generate_series($1::date, $2::date,"
                "  interval '1 day') d),"
                " active AS ("
                "  SELECT days.day, c.service_id FROM days JOIN gtfs_calendar c"
                "   ON days.day BETWEEN c.start_date AND c.end_date AND"
                "   (ARRAY[c.monday, c.tuesday, c.wednesday, c.thursday, c.friday, c.saturday,"
                "          c.sunday])[extract(isodow FROM days.day)::int]"
                "  UNION SELECT cd.date, cd.service_id FROM gtfs_calendar_dates cd"
                "   JOIN days ON days.day = cd.date WHERE cd.exception_type = 1"
                "  EXCEPT SELECT cd.date, cd.service_id FROM gtfs_calendar_dates cd"
                "   JOIN days ON days.day = cd.date WHERE cd.exception_type = 2)"
                " SELECT t.trip_id, t.route_id, t.shape_id, t.block_id, t.trip_headsign,"
                "  t.direction_id,"
                "  (extract(epoch FROM ((a.day + time '12:00') AT TIME ZONE $3)"
                "   - interval '12 hours') * 1000)::bigint"
                " FROM active a JOIN gtfs_trips t ON t.service_id = a.service_id"
                " ORDER BY a.day, t.trip_id",
                3, p, add_trip, &x, "loading trips", err, errlen);
    }
    PQclear(PQexec(c, "COMMIT"));
    for (size_t i = 0; i < x.n_st; i++)
        free(x.st[i].trip);
    info->stop_times = (uint32_t)x.n_st;
    free(x.st);
    for (size_t i = 0; i < x.n_fq; i++) {
        if (i == 0 || strcmp(x.fq[i].trip, x.fq[i - 1].trip))
            info->frequency_trips++;
        free(x.fq[i].trip);
    }
    free(x.fq);
    info->frequency_runs = x.runs;
    info->trip_instances = x.instances;
    if (!rc && (rc = buyt_network_finish(x.net)))
        snprintf(err, errlen, "finishing the network: %s", buyt_strerror(rc));
    if (rc) {
        buyt_network_free(x.net);
        return rc;
    }
    info->load_ms = (double)(buyt_mono_ns() - t0) / 1e6;
    *out = x.net;
    return 0;
}
