/* /api/v1, /healthz and /metrics over the engine's state; see api.h and docs/openapi.yaml. */
#include "api.h"

#include "clock.h"
#include "engine.h"
#include "error.h"
#include "geo.h"
#include "http.h"
#include "jsonw.h"
#include "log.h"
#include "metrics.h"
#include "network.h"

#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STALE_MS ((int64_t)BUYT_METRICS_REPORTING_S * 1000)
#define GRID_CELL_M 250.0
#define GRID_MAX_CELLS (1u << 20)
#define TRACK_MAX_WINDOW_MS (24LL * 3600 * 1000)
#define CACHE_NETWORK "public, max-age=300"

/* ------------------------------------------------------------------ indexes over the network */

struct occ {
    uint32_t pattern, k; /* the stop is the pattern's k-th */
};

struct variant {
    uint32_t route;
    int32_t direction;
    uint32_t pattern;
    uint32_t trips;       /* trip instances using it */
    uint32_t sample_trip; /* one of them (headsign) */
};

struct api_index {
    const struct buyt_network *net; /* built for this network ... */
    uint64_t loads;                 /* ... swapped in at this e->stats.network_loads */
    bool built;
    /* stops grid, in net->frame */
    double x0, y0, cell;
    uint32_t nx, ny;
    uint32_t *cell_start, *cell_items;
    /* per stop: routes serving it; (pattern, k) occurrences */
    uint32_t *stop_route_start, *stop_routes;
    uint32_t *stop_occ_start;
    struct occ *stop_occ;
    /* per pattern: valid trips by scheduled start; longest start-to-end span */
    uint32_t *pat_trip_start, *pat_trips;
    int64_t *pat_trip_ms;
    int32_t *pat_span_s;
    /* per route: its (direction, pattern) variants */
    uint32_t *route_var_start;
    struct variant *vars;
};

struct on_pattern {
    uint32_t pattern, vehicle; /* vehicle: index in e->vehicles.v */
};

#define ON_PATTERN_MAX_AGE_MS 200

struct pg_pool {
    uv_mutex_t mu;
    PGconn **idle;
    uint32_t n_idle, cap;
};

struct buyt_api {
    struct buyt_engine *e;
    struct buyt_http *http;
    struct buyt_looplag *lag;
    uv_timer_t *probe_timer;
    char *conninfo;
    uint32_t track_pool, probe_interval_ms;
    buyt_arrivals_fn arrivals;
    void *arrivals_ud;
    const char *arrivals_source;
    bool stopping, mutex_ready;
    int64_t started_ms;
    struct api_index ix;
    struct pg_pool pool;
    PGconn *probe_conn; /* used by one probe at a time, on a worker */
    bool probe_running;
    int64_t probe_ms; /* wall time of the latest probe result */
    struct buyt_metrics_api st;
    /* Vehicles on a trip, by the trip's pattern (arrivals look up the patterns through a
     * stop): a snapshot rebuilt when older than ON_PATTERN_MAX_AGE_MS, so that a busy server
     * does not walk the whole vehicle table (kilobytes of matcher state each) per request. */
    struct on_pattern *onp;
    uint32_t n_onp, cap_onp;
    uint64_t onp_built_ms, onp_loads;
    bool onp_valid;
    /* scratch (loop thread) */
    struct buyt_arrival *arr;
    uint32_t arr_cap;
    uint32_t *near;
    double *near_d;
    uint32_t near_cap;
};

static void index_free(struct api_index *ix)
{
    free(ix->cell_start);
    free(ix->cell_items);
    free(ix->stop_route_start);
    free(ix->stop_routes);
    free(ix->stop_occ_start);
    free(ix->stop_occ);
    free(ix->pat_trip_start);
    free(ix->pat_trips);
    free(ix->pat_trip_ms);
    free(ix->pat_span_s);
    free(ix->route_var_start);
    free(ix->vars);
    memset(ix, 0, sizeof *ix);
}

static int64_t trip_start_ms(const struct buyt_network *net, uint32_t t)
{
    const struct buyt_network_trip *tr = &net->trips[t];
    return tr->day_start_ms + (int64_t)tr->start_s * 1000;
}

static bool trip_usable(const struct buyt_network *net, uint32_t t)
{
    const struct buyt_network_trip *tr = &net->trips[t];
    return tr->valid && tr->pattern != BUYT_NETWORK_NONE;
}

static const struct buyt_network *sort_net; /* qsort has no context argument in C17 */

static int cmp_trip_start(const void *a, const void *b)
{
    int64_t x = trip_start_ms(sort_net, *(const uint32_t *)a);
    int64_t y = trip_start_ms(sort_net, *(const uint32_t *)b);
    return x < y ? -1 : x > y;
}

static int cmp_variant(const void *a, const void *b)
{
    const struct variant *x = a, *y = b;
    if (x->route != y->route)
        return x->route < y->route ? -1 : 1;
    if (x->direction != y->direction)
        return x->direction < y->direction ? -1 : 1;
    if (x->pattern != y->pattern)
        return x->pattern < y->pattern ? -1 : 1;
    return 0;
}

/* Counting sort into CSR form: start[0..n] offsets. */
static uint32_t *csr_start(uint32_t n)
{
    return calloc((size_t)n + 1, sizeof(uint32_t));
}

static int build_pattern_trips(struct api_index *ix, const struct buyt_network *net)
{
    uint32_t np = net->n_patterns;
    ix->pat_trip_start = csr_start(np);
    ix->pat_span_s = calloc(np + 1, sizeof *ix->pat_span_s);
    if (!ix->pat_trip_start || !ix->pat_span_s)
        return BUYT_ENOMEM;
    uint32_t total = 0;
    for (uint32_t t = 0; t < net->n_trips; t++)
        if (trip_usable(net, t)) {
            ix->pat_trip_start[net->trips[t].pattern + 1]++;
            total++;
        }
    for (uint32_t p = 0; p < np; p++)
        ix->pat_trip_start[p + 1] += ix->pat_trip_start[p];
    ix->pat_trips = malloc(((size_t)total + 1) * sizeof *ix->pat_trips);
    ix->pat_trip_ms = malloc(((size_t)total + 1) * sizeof *ix->pat_trip_ms);
    uint32_t *fill = calloc(np + 1, sizeof *fill);
    if (!ix->pat_trips || !ix->pat_trip_ms || !fill) {
        free(fill);
        return BUYT_ENOMEM;
    }
    for (uint32_t t = 0; t < net->n_trips; t++) {
        if (!trip_usable(net, t))
            continue;
        const struct buyt_network_trip *tr = &net->trips[t];
        uint32_t p = tr->pattern;
        ix->pat_trips[ix->pat_trip_start[p] + fill[p]++] = t;
        int32_t span = tr->end_s - tr->start_s;
        if (span > ix->pat_span_s[p])
            ix->pat_span_s[p] = span;
    }
    free(fill);
    sort_net = net;
    for (uint32_t p = 0; p < np; p++) {
        uint32_t a = ix->pat_trip_start[p], b = ix->pat_trip_start[p + 1];
        qsort(ix->pat_trips + a, b - a, sizeof *ix->pat_trips, cmp_trip_start);
        for (uint32_t i = a; i < b; i++)
            ix->pat_trip_ms[i] = trip_start_ms(net, ix->pat_trips[i]);
    }
    return 0;
}

static int build_variants(struct api_index *ix, const struct buyt_network *net)
{
    uint32_t n = 0;
    struct variant *v = malloc(((size_t)net->n_trips + 1) * sizeof *v);
    ix->route_var_start = csr_start(net->n_routes);
    if (!v || !ix->route_var_start) {
        free(v);
        return BUYT_ENOMEM;
    }
    for (uint32_t t = 0; t < net->n_trips; t++) {
        if (!trip_usable(net, t))
            continue;
        const struct buyt_network_trip *tr = &net->trips[t];
        v[n++] = (struct variant){tr->route, tr->direction, tr->pattern, 1, t};
    }
    qsort(v, n, sizeof *v, cmp_variant);
    uint32_t w = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (w && !cmp_variant(&v[w - 1], &v[i]))
            v[w - 1].trips++;
        else
            v[w++] = v[i];
    }
    for (uint32_t i = 0; i < w; i++)
        ix->route_var_start[v[i].route + 1]++;
    for (uint32_t r = 0; r < net->n_routes; r++)
        ix->route_var_start[r + 1] += ix->route_var_start[r];
    ix->vars = v; /* sorted by route: already in CSR order */
    return 0;
}

static int build_stop_lists(struct api_index *ix, const struct buyt_network *net)
{
    uint32_t ns = net->n_stops, np = net->n_patterns;
    /* Routes of each pattern, from the variants (sorted by route, so each pattern's routes come
     * out in route order). */
    uint32_t *pr_start = csr_start(np);
    uint32_t nv = ix->route_var_start[net->n_routes];
    uint32_t *pr = malloc(((size_t)nv + 1) * sizeof *pr);
    uint32_t *fill = calloc((size_t)(np > ns ? np : ns) + 1, sizeof *fill);
    uint32_t *mark = malloc(((size_t)net->n_routes + 1) * sizeof *mark);
    int rc = BUYT_ENOMEM;
    if (!pr_start || !pr || !fill || !mark)
        goto out;
    for (uint32_t i = 0; i < nv; i++)
        pr_start[ix->vars[i].pattern + 1]++;
    for (uint32_t p = 0; p < np; p++)
        pr_start[p + 1] += pr_start[p];
    for (uint32_t i = 0; i < nv; i++) {
        uint32_t p = ix->vars[i].pattern;
        pr[pr_start[p] + fill[p]++] = ix->vars[i].route;
    }
    /* Occurrences of each stop in patterns that have trips. */
    ix->stop_occ_start = csr_start(ns);
    if (!ix->stop_occ_start)
        goto out;
    uint32_t total = 0;
    for (uint32_t p = 0; p < np; p++) {
        if (ix->pat_trip_start[p] == ix->pat_trip_start[p + 1])
            continue;
        const struct buyt_network_pattern *pat = &net->patterns[p];
        for (uint32_t k = 0; k < pat->n_stops; k++) {
            ix->stop_occ_start[net->pattern_stops[pat->first + k].stop + 1]++;
            total++;
        }
    }
    for (uint32_t s = 0; s < ns; s++)
        ix->stop_occ_start[s + 1] += ix->stop_occ_start[s];
    ix->stop_occ = malloc(((size_t)total + 1) * sizeof *ix->stop_occ);
    if (!ix->stop_occ)
        goto out;
    memset(fill, 0, ((size_t)(np > ns ? np : ns) + 1) * sizeof *fill);
    for (uint32_t p = 0; p < np; p++) {
        if (ix->pat_trip_start[p] == ix->pat_trip_start[p + 1])
            continue;
        const struct buyt_network_pattern *pat = &net->patterns[p];
        for (uint32_t k = 0; k < pat->n_stops; k++) {
            uint32_t s = net->pattern_stops[pat->first + k].stop;
            ix->stop_occ[ix->stop_occ_start[s] + fill[s]++] = (struct occ){p, k};
        }
    }
    /* Routes of each stop: the union over its occurrences' patterns. Two passes (count, fill),
     * with mark[route] = stop + 1 to de-duplicate. */
    ix->stop_route_start = csr_start(ns);
    if (!ix->stop_route_start)
        goto out;
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t r = 0; r < net->n_routes; r++)
            mark[r] = 0;
        uint32_t w = 0;
        for (uint32_t s = 0; s < ns; s++) {
            if (pass)
                w = ix->stop_route_start[s];
            for (uint32_t o = ix->stop_occ_start[s]; o < ix->stop_occ_start[s + 1]; o++) {
                uint32_t p = ix->stop_occ[o].pattern;
                for (uint32_t i = pr_start[p]; i < pr_start[p + 1]; i++) {
                    if (mark[pr[i]] == s + 1)
                        continue;
                    mark[pr[i]] = s + 1;
                    if (pass)
                        ix->stop_routes[w++] = pr[i];
                    else
                        ix->stop_route_start[s + 1]++;
                }
            }
        }
        if (!pass) {
            for (uint32_t s = 0; s < ns; s++)
                ix->stop_route_start[s + 1] += ix->stop_route_start[s];
            ix->stop_routes = malloc(((size_t)ix->stop_route_start[ns] + 1) * sizeof(uint32_t));
            if (!ix->stop_routes)
                goto out;
        }
    }
    rc = 0;
out:
    free(pr_start);
    free(pr);
    free(fill);
    free(mark);
    return rc;
}

static uint32_t cell_of(const struct api_index *ix, double x, double y, uint32_t *cx, uint32_t *cy)
{
    double fx = floor((x - ix->x0) / ix->cell), fy = floor((y - ix->y0) / ix->cell);
    *cx = fx < 0 ? 0 : fx >= ix->nx ? ix->nx - 1 : (uint32_t)fx;
    *cy = fy < 0 ? 0 : fy >= ix->ny ? ix->ny - 1 : (uint32_t)fy;
    return *cy * ix->nx + *cx;
}

static int build_grid(struct api_index *ix, const struct buyt_network *net)
{
    uint32_t ns = net->n_stops;
    double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    for (uint32_t s = 0; s < ns; s++) {
        double x = net->stops[s].x_m, y = net->stops[s].y_m;
        if (!s || x < x0)
            x0 = x;
        if (!s || y < y0)
            y0 = y;
        if (!s || x > x1)
            x1 = x;
        if (!s || y > y1)
            y1 = y;
    }
    ix->x0 = x0, ix->y0 = y0, ix->cell = GRID_CELL_M;
    for (;;) {
        double nx = floor((x1 - x0) / ix->cell) + 1, ny = floor((y1 - y0) / ix->cell) + 1;
        if (nx * ny <= GRID_MAX_CELLS) {
            ix->nx = (uint32_t)nx, ix->ny = (uint32_t)ny;
            break;
        }
        ix->cell *= 2; /* a sparse network over a huge area: larger cells, not gigabytes */
    }
    uint32_t nc = ix->nx * ix->ny;
    ix->cell_start = csr_start(nc);
    ix->cell_items = malloc(((size_t)ns + 1) * sizeof *ix->cell_items);
    uint32_t *fill = calloc((size_t)nc + 1, sizeof *fill);
    if (!ix->cell_start || !ix->cell_items || !fill) {
        free(fill);
        return BUYT_ENOMEM;
    }
    uint32_t cx, cy;
    for (uint32_t s = 0; s < ns; s++)
        ix->cell_start[cell_of(ix, net->stops[s].x_m, net->stops[s].y_m, &cx, &cy) + 1]++;
    for (uint32_t c = 0; c < nc; c++)
        ix->cell_start[c + 1] += ix->cell_start[c];
    for (uint32_t s = 0; s < ns; s++) {
        uint32_t c = cell_of(ix, net->stops[s].x_m, net->stops[s].y_m, &cx, &cy);
        ix->cell_items[ix->cell_start[c] + fill[c]++] = s;
    }
    free(fill);
    return 0;
}

/* Rebuilds the indexes when the engine has swapped its network (pointer and load count). */
static int ensure_index(struct buyt_api *a)
{
    struct buyt_engine *e = a->e;
    struct api_index *ix = &a->ix;
    if (ix->built && ix->net == e->net && ix->loads == e->stats.network_loads)
        return 0;
    index_free(ix);
    const struct buyt_network *net = e->net;
    if (net) {
        uint64_t t0 = buyt_mono_ns();
        int rc = build_pattern_trips(ix, net);
        if (!rc)
            rc = build_variants(ix, net);
        if (!rc)
            rc = build_stop_lists(ix, net);
        if (!rc)
            rc = build_grid(ix, net);
        if (rc) {
            index_free(ix);
            return rc;
        }
        BUYT_INFO("api", "msg=\"indexes built\" stops=%u patterns=%u ms=%.1f", net->n_stops,
                  net->n_patterns, (double)(buyt_mono_ns() - t0) / 1e6);
    }
    ix->net = net;
    ix->loads = e->stats.network_loads;
    ix->built = true;
    a->st.index_builds++;
    return 0;
}

/* ------------------------------------------------------------------ parameter parsing */

int buyt_api_parse_number(const char *s, double *out)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    size_t digits = 0;
    while (*p >= '0' && *p <= '9')
        p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++, digits++;
    }
    if (!digits)
        return BUYT_EINVAL;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return BUYT_EINVAL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p)
        return BUYT_EINVAL;
    double v = strtod(s, NULL);
    if (!isfinite(v))
        return BUYT_EINVAL;
    *out = v;
    return 0;
}

int buyt_api_parse_int(const char *s, int64_t *out)
{
    const char *p = s;
    bool neg = *p == '-';
    if (neg)
        p++;
    int64_t v = 0;
    size_t n = 0;
    for (; *p >= '0' && *p <= '9'; p++, n++) {
        if (n == 18)
            return BUYT_EINVAL;
        v = v * 10 + (*p - '0');
    }
    if (!n || *p)
        return BUYT_EINVAL;
    *out = neg ? -v : v;
    return 0;
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int buyt_api_parse_time(const char *s, int64_t *ms)
{
    size_t n = strlen(s);
    bool all_digits = n > 0;
    for (size_t i = 0; i < n; i++)
        all_digits = all_digits && s[i] >= '0' && s[i] <= '9';
    if (all_digits)
        return buyt_api_parse_int(s, ms);
    /* RFC 3339 section 5.6: date-time = full-date "T" full-time */
    int y, mo, d, h, mi, sec;
    if (n < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &sec))
        return BUYT_EINVAL;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || sec > 60)
        return BUYT_EINVAL;
    if (sec == 60)
        sec = 59; /* a leap second: the instant before the next minute */
    const char *p = s + 19;
    int64_t frac_ms = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        int64_t scale = 100;
        while (*p >= '0' && *p <= '9') {
            if (nd < 3)
                frac_ms += (*p - '0') * scale;
            scale /= 10;
            p++, nd++;
        }
        if (!nd)
            return BUYT_EINVAL;
    }
    int64_t off_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return BUYT_EINVAL;
        off_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return BUYT_EINVAL;
    }
    if (*p)
        return BUYT_EINVAL;
    int64_t days = buyt_days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - off_min * 60;
    *ms = secs * 1000 + frac_ms;
    return 0;
}

/* Query parameter helpers: false after answering 400 (the handler returns). */
static int query_raw(struct buyt_http_req *r, const char *name, bool required, const char **v)
{
    int rc = buyt_http_query(r, name, v);
    if (rc < 0) {
        buyt_http_error(r, 400, "bad_parameter", name, "%s: malformed percent-encoding", name);
        return -1;
    }
    if (rc == 0 && required) {
        buyt_http_error(r, 400, "missing_parameter", name, "%s is required", name);
        return -1;
    }
    return rc;
}

static bool q_number(struct buyt_http_req *r, const char *name, bool required, double def,
                     double lo, double hi, double *out)
{
    const char *v;
    int rc = query_raw(r, name, required, &v);
    if (rc < 0)
        return false;
    if (rc == 0) {
        *out = def;
        return true;
    }
    double d;
    if (buyt_api_parse_number(v, &d)) {
        buyt_http_error(r, 400, "bad_parameter", name, "%s: want a number, got '%.40s'", name, v);
        return false;
    }
    if (d < lo || d > hi) {
        buyt_http_error(r, 400, "bad_parameter", name, "%s: want a number from %g to %g, got %.40s",
                        name, lo, hi, v);
        return false;
    }
    *out = d;
    return true;
}

static bool q_int(struct buyt_http_req *r, const char *name, int64_t def, int64_t lo, int64_t hi,
                  int64_t *out)
{
    const char *v;
    int rc = query_raw(r, name, false, &v);
    if (rc < 0)
        return false;
    if (rc == 0) {
        *out = def;
        return true;
    }
    int64_t x;
    if (buyt_api_parse_int(v, &x)) {
        buyt_http_error(r, 400, "bad_parameter", name, "%s: want a whole number, got '%.40s'", name,
                        v);
        return false;
    }
    if (x < lo || x > hi) {
        buyt_http_error(r, 400, "bad_parameter", name,
                        "%s: want a whole number from %lld to %lld, got %lld", name, (long long)lo,
                        (long long)hi, (long long)x);
        return false;
    }
    *out = x;
    return true;
}

/* rc 0: absent (out untouched); 1: parsed; -1: answered 400. */
static int q_time(struct buyt_http_req *r, const char *name, int64_t *out)
{
    const char *v;
    int rc = query_raw(r, name, false, &v);
    if (rc <= 0)
        return rc;
    if (buyt_api_parse_time(v, out)) {
        buyt_http_error(r, 400, "bad_parameter", name,
                        "%s: want an RFC 3339 time (2024-05-01T08:00:00+07:00) or Unix "
                        "milliseconds, got '%.40s'",
                        name, v);
        return -1;
    }
    return 1;
}

/* ------------------------------------------------------------------ JSON pieces */

/* "start_time" of a frequency run ("08:15:00"; with trip_id and service_date it names the
 * trip instance, as in GTFS-Realtime), null for a scheduled trip. */
static void run_start_time(struct buyt_jsonw *w, const struct buyt_network_trip *t)
{
    char hms[16];
    if (t->run_start_s == BUYT_NETWORK_NOT_A_RUN) {
        buyt_jsonw_knull(w, "start_time");
        return;
    }
    buyt_network_time_text(t->run_start_s, hms);
    buyt_jsonw_kstr(w, "start_time", hms);
}

static void date_str(int64_t day_start_ms, char out[11])
{
    /* The service date is the local date of the day's noon (network.h: noon - 12 h), i.e. the
     * UTC date of that instant for any zone within 12 h of UTC. Civil date from days: Howard
     * Hinnant's civil_from_days (inverse of buyt_days_from_civil); no printf on the hot path. */
    int64_t z = (day_start_ms + 12 * 3600 * 1000) / 86400000 + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    unsigned yy = (unsigned)(y < 0 ? 0 : y > 9999 ? 9999 : y);
    out[0] = (char)('0' + yy / 1000), out[1] = (char)('0' + yy / 100 % 10);
    out[2] = (char)('0' + yy / 10 % 10), out[3] = (char)('0' + yy % 10), out[4] = '-';
    out[5] = (char)('0' + m / 10), out[6] = (char)('0' + m % 10), out[7] = '-';
    out[8] = (char)('0' + d / 10), out[9] = (char)('0' + d % 10), out[10] = '\0';
}

static void w_stop(struct buyt_jsonw *w, const struct buyt_network *net, uint32_t s)
{
    const struct buyt_network_stop *st = &net->stops[s];
    buyt_jsonw_kstr(w, "id", st->id);
    buyt_jsonw_kstr(w, "name", st->name);
    buyt_jsonw_kfixed(w, "lat", st->lat, 7);
    buyt_jsonw_kfixed(w, "lon", st->lon, 7);
}

static void w_route_ref(struct buyt_jsonw *w, const struct buyt_network *net, uint32_t r)
{
    buyt_jsonw_obj_begin(w);
    buyt_jsonw_kstr(w, "id", net->routes[r].id);
    buyt_jsonw_kstr(w, "short_name", net->routes[r].short_name);
    buyt_jsonw_obj_end(w);
}

static void w_stop_routes(struct buyt_jsonw *w, const struct buyt_api *a, uint32_t s)
{
    const struct api_index *ix = &a->ix;
    buyt_jsonw_key(w, "routes");
    buyt_jsonw_arr_begin(w);
    for (uint32_t i = ix->stop_route_start[s]; i < ix->stop_route_start[s + 1]; i++)
        w_route_ref(w, ix->net, ix->stop_routes[i]);
    buyt_jsonw_arr_end(w);
}

static const char *how_name(uint8_t how)
{
    switch (how) {
    case BUYT_MATCHER_HOW_EXPLICIT: return "driver_trip";
    case BUYT_MATCHER_HOW_SIGNIN: return "driver_route";
    case BUYT_MATCHER_HOW_AUTO: return "automatic";
    case BUYT_MATCHER_HOW_BLOCK: return "block";
    default: return "none";
    }
}

static const char *vehicle_status(const struct buyt_vehicle *v, int64_t now)
{
    if (!v->last_fix_ms || now - v->last_fix_ms > STALE_MS)
        return "stale";
    if (v->off_route)
        return "off_route";
    if (v->trip != BUYT_NETWORK_NONE && v->layover)
        return "layover";
    /* A receiver without speed (GGA only): how far the bus went since its previous fix; with
     * no previous fix, not asserted stopped (as the matcher does). */
    uint32_t cms = v->speed_cms != BUYT_VEHICLE_UNKNOWN ? v->speed_cms : v->moved_cms;
    return cms < 100 ? "stopped" : "moving";
}

static void w_vehicle(struct buyt_jsonw *w, const struct buyt_network *net,
                      const struct buyt_vehicle *v, int64_t now)
{
    bool fix = v->last_fix_ms != 0;
    buyt_jsonw_obj_begin(w);
    buyt_jsonw_kstr(w, "id", v->id);
    buyt_jsonw_kstr(w, "status", vehicle_status(v, now));
    if (fix) {
        buyt_jsonw_kfixed(w, "lat", buyt_e7_to_deg(v->lat_e7), 7);
        buyt_jsonw_kfixed(w, "lon", buyt_e7_to_deg(v->lon_e7), 7);
        if (v->speed_cms != BUYT_VEHICLE_UNKNOWN)
            buyt_jsonw_kfixed(w, "speed_mps", v->speed_cms / 100.0, 2);
        else
            buyt_jsonw_knull(w, "speed_mps");
        if (v->course_cdeg != BUYT_VEHICLE_UNKNOWN)
            buyt_jsonw_kfixed(w, "course_deg", v->course_cdeg / 100.0, 2);
        else
            buyt_jsonw_knull(w, "course_deg");
        buyt_jsonw_kint(w, "last_fix_ms", v->last_fix_ms);
        buyt_jsonw_kint(w, "fix_age_s", (now - v->last_fix_ms) / 1000);
    } else {
        buyt_jsonw_knull(w, "lat");
        buyt_jsonw_knull(w, "lon");
        buyt_jsonw_knull(w, "speed_mps");
        buyt_jsonw_knull(w, "course_deg");
        buyt_jsonw_knull(w, "last_fix_ms");
        buyt_jsonw_knull(w, "fix_age_s");
    }
    if (v->last_seen_ms)
        buyt_jsonw_kint(w, "last_seen_ms", v->last_seen_ms);
    else
        buyt_jsonw_knull(w, "last_seen_ms");
    buyt_jsonw_kbool(w, "off_route", v->off_route);
    double load = buyt_vehicle_occupancy(v, now);
    if (load >= 0) { /* from passenger card taps: docs/openapi.yaml */
        buyt_jsonw_key(w, "occupancy");
        buyt_jsonw_obj_begin(w);
        buyt_jsonw_kint(w, "estimated_riders", (int64_t)floor(load + 0.5));
        buyt_jsonw_kstr(w, "source", "passenger_taps");
        buyt_jsonw_kint(w, "last_tap_ms", v->load_ms);
        buyt_jsonw_obj_end(w);
    } else {
        buyt_jsonw_knull(w, "occupancy");
    }
    if (!net || v->trip == BUYT_NETWORK_NONE || v->trip >= net->n_trips) {
        buyt_jsonw_knull(w, "trip");
        buyt_jsonw_obj_end(w);
        return;
    }
    const struct buyt_network_trip *t = &net->trips[v->trip];
    char date[11];
    date_str(t->day_start_ms, date);
    buyt_jsonw_key(w, "trip");
    buyt_jsonw_obj_begin(w);
    buyt_jsonw_kstr(w, "trip_id", t->id);
    buyt_jsonw_kstr(w, "route_id", net->routes[t->route].id);
    buyt_jsonw_kstr(w, "route_short_name", net->routes[t->route].short_name);
    buyt_jsonw_kstr(w, "headsign", t->headsign);
    if (t->direction >= 0)
        buyt_jsonw_kint(w, "direction_id", t->direction);
    else
        buyt_jsonw_knull(w, "direction_id");
    buyt_jsonw_kstr(w, "service_date", date);
    run_start_time(w, t);
    buyt_jsonw_kint(w, "scheduled_start_ms", trip_start_ms(net, v->trip));
    buyt_jsonw_kstr(w, "assigned_by", how_name(v->how));
    buyt_jsonw_obj_end(w);
    buyt_jsonw_kint(w, "delay_s", v->deviation_s);
    buyt_jsonw_kfixed(w, "dist_along_m", v->dist_m, 1);
    buyt_jsonw_kbool(w, "layover", v->layover);
    buyt_jsonw_kbool(w, "completed", v->completed);
    if (t->valid && v->next_stop < t->n_stops) {
        uint32_t s = buyt_network_trip_stop(net, v->trip, v->next_stop);
        const struct buyt_network_time *tm = &net->times[t->first_time + v->next_stop];
        buyt_jsonw_key(w, "next_stop");
        buyt_jsonw_obj_begin(w);
        buyt_jsonw_kstr(w, "stop_id", net->stops[s].id);
        buyt_jsonw_kstr(w, "name", net->stops[s].name);
        buyt_jsonw_kuint(w, "stop_sequence", tm->stop_sequence);
        double d = buyt_network_trip_stop_dist(net, v->trip, v->next_stop) - v->dist_m;
        buyt_jsonw_kfixed(w, "distance_m", d > 0 ? d : 0, 1);
        buyt_jsonw_kint(w, "scheduled_arrival_ms", t->day_start_ms + (int64_t)tm->arrival_s * 1000);
        buyt_jsonw_obj_end(w);
    } else {
        buyt_jsonw_knull(w, "next_stop");
    }
    buyt_jsonw_obj_end(w);
}

/* ------------------------------------------------------------------ /healthz, /metrics */

static void h_healthz(void *ud, struct buyt_http_req *r)
{
    struct buyt_api *a = ud;
    struct buyt_engine *e = a->e;
    int64_t now = buyt_http_now_ms(r);
    bool broker = e->mqtt && buyt_mqtt_connected(e->mqtt);
    struct buyt_pgwriter_stats ws;
    memset(&ws, 0, sizeof ws);
    if (e->writer)
        buyt_pgwriter_stats(e->writer, &ws);
    bool has_db = a->conninfo != NULL;
    /* Reachable when the probe answers, and the writer is not failing with batches waiting
     * (its `connected` flag only moves when it has something to commit). */
    bool db = has_db && a->st.db_probe_ok && (ws.connected || ws.pending == 0);
    bool healthy = !e->stopping && !a->stopping && broker && (db || !has_db);
    uint32_t reporting = 0;
    for (uint32_t i = 0; i < e->vehicles.n; i++)
        reporting +=
            e->vehicles.v[i].last_seen_ms && now - e->vehicles.v[i].last_seen_ms <= STALE_MS;

    struct buyt_jsonw *w = buyt_http_body(r);
    buyt_jsonw_obj_begin(w);
    buyt_jsonw_kstr(w, "status",
                    healthy                        ? "ok"
                    : (e->stopping || a->stopping) ? "stopping"
                                                   : "unavailable");
    buyt_jsonw_kint(w, "time_ms", now);
    buyt_jsonw_key(w, "broker");
    buyt_jsonw_obj_begin(w);
    buyt_jsonw_kbool(w, "connected", broker);
    buyt_jsonw_obj_end(w);
    buyt_jsonw_key(w, "database");
    buyt_jsonw_obj_begin(w);
    buyt_jsonw_kbool(w, "reachable", db);
    buyt_jsonw_kbool(w, "probe_ok", a->st.db_probe_ok);
    if (a->probe_ms)
        buyt_jsonw_kint(w, "probe_age_ms", now - a->probe_ms);
    else
        buyt_jsonw_knull(w, "probe_age_ms");
    buyt_jsonw_kbool(w, "writer_connected", ws.connected);
    buyt_jsonw_obj_end(w);
    buyt_jsonw_key(w, "spool");
    buyt_jsonw_obj_begin(w);
    buyt_jsonw_kuint(w, "pending_batches", ws.pending);
    buyt_jsonw_obj_end(w);
    buyt_jsonw_key(w, "network");
    buyt_jsonw_obj_begin(w);
    buyt_jsonw_kbool(w, "loaded", e->net != NULL);
    buyt_jsonw_kint(w, "feed_version", e->net_info.feed_version);
    if (e->net) {
        buyt_jsonw_kstr(w, "timezone", e->net_info.timezone);
        buyt_jsonw_kstr(w, "first_day", e->net_info.first_day);
        buyt_jsonw_kstr(w, "last_day", e->net_info.last_day);
        buyt_jsonw_kuint(w, "routes", e->net->n_routes);
        buyt_jsonw_kuint(w, "stops", e->net->n_stops);
        buyt_jsonw_kuint(w, "trips", e->net->n_trips);
        buyt_jsonw_kuint(w, "frequency_trips", e->net_info.frequency_trips);
        buyt_jsonw_kuint(w, "frequency_runs", e->net_info.frequency_runs);
    }
    buyt_jsonw_obj_end(w);
    buyt_jsonw_key(w, "vehicles");
    buyt_jsonw_obj_begin(w);
    buyt_jsonw_kuint(w, "known", e->vehicles.n);
    buyt_jsonw_kuint(w, "reporting", reporting);
    buyt_jsonw_obj_end(w);
    buyt_jsonw_obj_end(w);
    buyt_jsonw_raw(w, "\n", 1);
    buyt_http_set_status(r, healthy ? 200 : 503);
    buyt_http_set_cache(r, "no-store");
}

static void h_metrics(void *ud, struct buyt_http_req *r)
{
    struct buyt_api *a = ud;
    struct buyt_http_stats hs;
    struct buyt_looplag_stats ls;
    buyt_http_stats(a->http, &hs);
    if (a->lag)
        buyt_looplag_get(a->lag, &ls);
    struct buyt_metrics_sources src = {.engine = a->e,
                                       .http = &hs,
                                       .lag = a->lag ? &ls : NULL,
                                       .api = &a->st,
                                       .now_ms = buyt_http_now_ms(r),
                                       .started_ms = a->started_ms};
    buyt_metrics_render(buyt_http_body(r), &src);
    buyt_http_set_type(r, "text/plain; version=0.0.4; charset=utf-8");
    buyt_http_set_cache(r, "no-store");
}

/* ------------------------------------------------------------------ stops */

static bool index_or_500(struct buyt_api *a, struct buyt_http_req *r)
{
    if (ensure_index(a) == 0)
        return true;
    buyt_http_error(r, 500, "internal", NULL, "out of memory indexing the network");
    return false;
}

static uint32_t find_stop_or_404(struct buyt_api *a, struct buyt_http_req *r)
{
    const char *id = buyt_http_param(r, 0);
    uint32_t s = a->e->net ? buyt_network_stop_find(a->e->net, id) : BUYT_NETWORK_NONE;
    if (s == BUYT_NETWORK_NONE)
        buyt_http_error(r, 404, "not_found", "stop_id", "stop_id: no stop '%.64s'", id);
    return s;
}

static int grow_near(struct buyt_api *a, uint32_t need)
{
    if (need <= a->near_cap)
        return 0;
    uint32_t cap = a->near_cap ? a->near_cap : 256;
    while (cap < need)
        cap *= 2;
    uint32_t *n = realloc(a->near, cap * sizeof *n);
    if (!n)
        return BUYT_ENOMEM;
    a->near = n;
    double *d = realloc(a->near_d, cap * sizeof *d);
    if (!d)
        return BUYT_ENOMEM;
    a->near_d = d;
    a->near_cap = cap;
    return 0;
}

static const double *sort_dist; /* qsort context (loop thread only) */

static int cmp_near(const void *x, const void *y)
{
    double a = sort_dist[*(const uint32_t *)x], b = sort_dist[*(const uint32_t *)y];
    return a < b ? -1 : a > b;
}

static void h_stops_near(void *ud, struct buyt_http_req *r)
{
    struct buyt_api *a = ud;
    double lat, lon, radius;
    int64_t limit;
    if (!q_number(r, "lat", true, 0, -90, 90, &lat) ||
        !q_number(r, "lon", true, 0, -180, 180, &lon) ||
        !q_number(r, "radius", false, 500, 1, 5000, &radius) ||
        !q_int(r, "limit", 20, 1, 200, &limit) || !index_or_500(a, r))
        return;
    const struct buyt_network *net = a->ix.net;
    const struct api_index *ix = &a->ix;
    uint32_t n = 0;
    if (net && net->n_stops) {
        double x, y;
        buyt_geo_to_xy(&net->frame, lat, lon, &x, &y);
        uint32_t cx0, cy0, cx1, cy1;
        /* The frame is metric near the network only: widen the cell range by 1 % of the
         * distance for the equirectangular error; distances below are great-circle. */
        double slack = radius * 1.01 + 1;
        cell_of(ix, x - slack, y - slack, &cx0, &cy0);
        cell_of(ix, x + slack, y + slack, &cx1, &cy1);
        bool outside = x + slack < ix->x0 || y + slack < ix->y0 ||
                       x - slack > ix->x0 + ix->cell * ix->nx ||
                       y - slack > ix->y0 + ix->cell * ix->ny;
        for (uint32_t cy = cy0; !outside && cy <= cy1; cy++)
            for (uint32_t cx = cx0; cx <= cx1; cx++) {
                uint32_t c = cy * ix->nx + cx;
                for (uint32_t i = ix->cell_start[c]; i < ix->cell_start[c + 1]; i++) {
                    uint32_t s = ix->cell_items[i];
                    double d = buyt_geo_haversine_m(lat, lon, net->stops[s].lat, net->stops[s].lon);
                    if (d > radius)
                        continue;
                    if (grow_near(a, n + 1)) {
                        buyt_http_error(r, 500, "internal", NULL, "out of memory");
                        return;
                    }
                    a->near[n] = s;
                    a->near_d[n] = d;
                    n++;
                }
            }
    }
    /* Order the hits by distance (near[i] and near_d[i] go together). */
    uint32_t *order = malloc(((size_t)n + 1) * sizeof *order);
    if (!order) {
        buyt_http_error(r, 500, "internal", NULL, "out of memory");
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    sort_dist = a->near_d;
    qsort(order, n, sizeof *order, cmp_near);
    struct buyt_jsonw *w = buyt_http_body(r);
    buyt_jsonw_obj_begin(w);
    buyt_jsonw_kuint(w, "count", n < limit ? n : (uint64_t)limit);
    buyt_jsonw_key(w, "stops");
    buyt_jsonw_arr_begin(w);
    for (uint32_t i = 0; i < n && i < limit; i++) {
        uint32_t s = a->near[order[i]];
        buyt_jsonw_obj_begin(w);
        w_stop(w, net, s);
        buyt_jsonw_kfixed(w, "distance_m", a->near_d[order[i]], 1);
        w_stop_routes(w, a, s);
        buyt_jsonw_obj_end(w);
    }
    buyt_jsonw_arr_end(w);
    buyt_jsonw_obj_end(w);
    free(order);
    buyt_http_set_cache(r, CACHE_NETWORK);
}

static void h_stop(void *ud, struct buyt_http_req *r)
{
    struct buyt_api *a = ud;
    if (!index_or_500(a, r))
        return;
    uint32_t s = find_stop_or_404(a, r);
    if (s == BUYT_NETWORK_NONE)
        return;
    struct buyt_jsonw *w = buyt_http_body(r);
    buyt_jsonw_obj_begin(w);
    w_stop(w, a->ix.net, s);
    w_stop_routes(w, a, s);
    buyt_jsonw_obj_end(w);
    buyt_http_set_cache(r, CACHE_NETWORK);
}

/* ------------------------------------------------------------------ arrivals */

const char *buyt_arrival_status_name(enum buyt_arrival_status s)
{
    static const char *const names[] = {"scheduled", "on_time",     "early",
                                        "delayed",   "approaching", "at_stop",
                                        "off_route", "layover",     "cancelled"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "scheduled";
}

const char *buyt_arrival_basis_name(enum buyt_arrival_basis b)
{
    static const char *const names[] = {"schedule", "deviation", "history", "schedule_pace",
                                        "block"};
    return (unsigned)b < sizeof names / sizeof names[0] ? names[b] : "schedule";
}

const char *buyt_arrival_fallback_name(enum buyt_arrival_fallback f)
{
    static const char *const names[] = {NULL, "no_prediction", "vehicle_silent", "off_route"};
    return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : NULL;
}

static bool claimed(const uint32_t *trips, uint32_t n, uint32_t t)
{
    for (uint32_t i = 0; i < n; i++)
        if (trips[i] == t)
            return true;
    return false;
}

static int cmp_on_pattern(const void *x, const void *y)
{
    const struct on_pattern *a = x, *b = y;
    if (a->pattern != b->pattern)
        return a->pattern < b->pattern ? -1 : 1;
    return a->vehicle < b->vehicle ? -1 : a->vehicle > b->vehicle;
}

static void refresh_on_pattern(struct buyt_api *a)
{
    struct buyt_engine *e = a->e;
    const struct buyt_network *net = e->net;
    uint64_t now = uv_now(e->loop);
    if (a->onp_valid && a->onp_loads == e->stats.network_loads &&
        now - a->onp_built_ms < ON_PATTERN_MAX_AGE_MS)
        return;
    a->n_onp = 0;
    a->onp_valid = false;
    for (uint32_t i = 0; net && i < e->vehicles.n; i++) {
        const struct buyt_vehicle *v = &e->vehicles.v[i];
        if (v->trip >= net->n_trips || !trip_usable(net, v->trip))
            continue;
        if (a->n_onp == a->cap_onp) {
            uint32_t cap = a->cap_onp ? a->cap_onp * 2 : 256;
            void *p = realloc(a->onp, cap * sizeof *a->onp);
            if (!p)
                return; /* no snapshot: arrivals are schedule-only until memory comes back */
            a->onp = p;
            a->cap_onp = cap;
        }
        a->onp[a->n_onp++] = (struct on_pattern){net->trips[v->trip].pattern, i};
    }
    if (a->n_onp) /* a->onp is NULL until a vehicle has a trip: qsort wants a pointer */
        qsort(a->onp, a->n_onp, sizeof *a->onp, cmp_on_pattern);
    a->onp_built_ms = now;
    a->onp_loads = e->stats.network_loads;
    a->onp_valid = true;
}

/* Appends the visits of `stop` scheduled to arrive in [from, to] at their schedule, but for the
 * trips in skip[0..n_skip). */
static int list_scheduled(struct buyt_api *a, struct buyt_engine *e, uint32_t stop, int64_t from,
                          int64_t to, const uint32_t *skip, uint32_t n_skip,
                          struct buyt_arrival *out, uint32_t cap, uint32_t *n)
{
    const struct api_index *ix = &a->ix;
    const struct buyt_network *net = e->net;
    if (!net || ix->net != net || stop >= net->n_stops)
        return 0;
    const struct occ *occ = ix->stop_occ + ix->stop_occ_start[stop];
    uint32_t n_occ = ix->stop_occ_start[stop + 1] - ix->stop_occ_start[stop];
    for (uint32_t o = 0; o < n_occ; o++) {
        uint32_t p = occ[o].pattern, k = occ[o].k;
        uint32_t lo = ix->pat_trip_start[p], hi = ix->pat_trip_start[p + 1];
        int64_t first = from - (int64_t)ix->pat_span_s[p] * 1000;
        while (lo < hi) { /* first trip starting at or after `first` */
            uint32_t mid = lo + (hi - lo) / 2;
            if (ix->pat_trip_ms[mid] < first)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (uint32_t i = lo; i < ix->pat_trip_start[p + 1] && ix->pat_trip_ms[i] <= to; i++) {
            uint32_t t = ix->pat_trips[i];
            const struct buyt_network_trip *tr = &net->trips[t];
            const struct buyt_network_time *tm = &net->times[tr->first_time + k];
            int64_t sa = tr->day_start_ms + (int64_t)tm->arrival_s * 1000;
            if (sa < from || sa > to || claimed(skip, n_skip, t))
                continue;
            if (*n == cap)
                return BUYT_EFULL;
            out[(*n)++] = (struct buyt_arrival){
                .trip = t,
                .stop_index = k,
                .scheduled_arrival_ms = sa,
                .scheduled_departure_ms = tr->day_start_ms + (int64_t)tm->departure_s * 1000,
                .vehicle = -1,
                .distance_m = NAN,
                .stops_away = -1,
                .status = BUYT_ARRIVAL_SCHEDULED,
                .basis = BUYT_ARRIVAL_BASIS_SCHEDULE,
                .fallback = BUYT_ARRIVAL_FALLBACK_NO_PREDICTION};
        }
    }
    return 0;
}

int buyt_api_arrivals_baseline(void *ud, struct buyt_engine *e, uint32_t stop, int64_t now,
                               int64_t from, int64_t to, struct buyt_arrival *out, uint32_t cap,
                               uint32_t *n)
{
    struct buyt_api *a = ud;
    const struct api_index *ix = &a->ix;
    const struct buyt_network *net = e->net;
    *n = 0;
    if (!net || ix->net != net || stop >= net->n_stops)
        return 0;
    const struct occ *occ = ix->stop_occ + ix->stop_occ_start[stop];
    uint32_t n_occ = ix->stop_occ_start[stop + 1] - ix->stop_occ_start[stop];
    uint32_t rt_trips[256], n_rt = 0;
    refresh_on_pattern(a);
    /* Trips with a fresh vehicle on them: schedule + the vehicle's deviation. */
    for (uint32_t o = 0; o < n_occ; o++) {
        uint32_t p = occ[o].pattern, k = occ[o].k;
        uint32_t lo = 0, hi = a->n_onp;
        while (lo < hi) { /* first snapshot entry of pattern p */
            uint32_t mid = lo + (hi - lo) / 2;
            if (a->onp[mid].pattern < p)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (uint32_t q = lo; q < a->n_onp && a->onp[q].pattern == p; q++) {
            uint32_t i = a->onp[q].vehicle;
            if (i >= e->vehicles.n)
                continue;
            const struct buyt_vehicle *v = &e->vehicles.v[i];
            /* The snapshot may be up to 200 ms old: re-check what it was built from. */
            if (v->trip >= net->n_trips || net->trips[v->trip].pattern != p || v->completed ||
                !v->last_fix_ms || now - v->last_fix_ms > STALE_MS ||
                v->last_fix_ms - now > STALE_MS || !trip_usable(net, v->trip))
                continue;
            const struct buyt_network_trip *t = &net->trips[v->trip];
            if (n_rt < sizeof rt_trips / sizeof rt_trips[0])
                rt_trips[n_rt++] = v->trip;
            if (k < v->next_stop)
                continue; /* passed */
            const struct buyt_network_time *tm = &net->times[t->first_time + k];
            int64_t sa = t->day_start_ms + (int64_t)tm->arrival_s * 1000;
            int64_t sd = t->day_start_ms + (int64_t)tm->departure_s * 1000;
            int64_t pa = sa + (int64_t)v->deviation_s * 1000;
            if (pa < now)
                pa = now; /* still ahead of the bus: not in the past */
            int64_t pd = sd + (int64_t)v->deviation_s * 1000;
            if (pd < pa)
                pd = pa;
            if (pa < from || pa > to)
                continue;
            if (*n == cap)
                return BUYT_EFULL;
            double dist = buyt_network_trip_stop_dist(net, v->trip, k) - v->dist_m;
            if (dist < 0)
                dist = 0;
            uint32_t away = k - v->next_stop;
            enum buyt_arrival_status st = BUYT_ARRIVAL_ON_TIME;
            if (away == 0 && dist <= 30)
                st = BUYT_ARRIVAL_AT_STOP;
            else if (away == 0 && dist <= 300)
                st = BUYT_ARRIVAL_APPROACHING;
            else if (v->off_route)
                st = BUYT_ARRIVAL_OFF_ROUTE;
            else if (v->layover)
                st = BUYT_ARRIVAL_LAYOVER;
            else if (v->deviation_s > 300)
                st = BUYT_ARRIVAL_DELAYED;
            else if (v->deviation_s < -60)
                st = BUYT_ARRIVAL_EARLY;
            out[(*n)++] = (struct buyt_arrival){.trip = v->trip,
                                                .stop_index = k,
                                                .scheduled_arrival_ms = sa,
                                                .scheduled_departure_ms = sd,
                                                .predicted_arrival_ms = pa,
                                                .predicted_departure_ms = pd,
                                                .realtime = true,
                                                .vehicle = (int32_t)i,
                                                .deviation_s = v->deviation_s,
                                                .distance_m = dist,
                                                .stops_away = (int32_t)away,
                                                .status = st,
                                                .last_update_ms = v->matched_ms,
                                                .basis = BUYT_ARRIVAL_BASIS_DEVIATION};
        }
    }
    /* Every other trip through the stop, at its schedule. */
    return list_scheduled(a, e, stop, from, to, rt_trips, n_rt, out, cap, n);
}

int buyt_api_arrivals_scheduled(struct buyt_api *a, struct buyt_engine *e, uint32_t stop,
                                int64_t from_ms, int64_t to_ms, struct buyt_arrival *out,
                                uint32_t cap, uint32_t *n)
{
    return list_scheduled(a, e, stop, from_ms, to_ms, NULL, 0, out, cap, n);
}

static int64_t expected_ms(const struct buyt_arrival *x)
{
    return x->predicted_arrival_ms ? x->predicted_arrival_ms : x->scheduled_arrival_ms;
}

static int cmp_arrival(const void *x, const void *y)
{
    int64_t a = expected_ms(x), b = expected_ms(y);
    if (a != b)
        return a < b ? -1 : 1;
    const struct buyt_arrival *p = x, *q = y;
    return p->trip < q->trip ? -1 : p->trip > q->trip;
}

static void w_time_or_null(struct buyt_jsonw *w, const char *key, int64_t ms)
{
    if (ms)
        buyt_jsonw_kint(w, key, ms);
    else
        buyt_jsonw_knull(w, key);
}

static void h_arrivals(void *ud, struct buyt_http_req *r)
{
    struct buyt_api *a = ud;
    struct buyt_engine *e = a->e;
    int64_t before, after, limit;
    if (!index_or_500(a, r))
        return;
    uint32_t stop = find_stop_or_404(a, r);
    if (stop == BUYT_NETWORK_NONE || !q_int(r, "minutes_before", 5, 0, 60, &before) ||
        !q_int(r, "minutes_after", 60, 1, 240, &after) || !q_int(r, "limit", 20, 1, 100, &limit))
        return;
    /* time: the board as of another instant (OneBusAway's `time`); vehicles are only used
     * within 2 min of their last fix, so a board far from now is schedule-only. */
    int64_t now = buyt_http_now_ms(r);
    if (q_time(r, "time", &now) < 0)
        return;
    /* source: the configured provider (default) or the baseline, for comparing them. */
    buyt_arrivals_fn fn = a->arrivals;
    void *fn_ud = a->arrivals_ud ? a->arrivals_ud : a;
    const char *source = a->arrivals_source, *want;
    int hs = query_raw(r, "source", false, &want);
    if (hs < 0)
        return;
    if (hs == 1 && !strcmp(want, "baseline")) {
        fn = buyt_api_arrivals_baseline;
        fn_ud = a;
        source = BUYT_API_BASELINE_SOURCE;
    } else if (hs == 1 && strcmp(want, a->arrivals_source)) {
        buyt_http_error(r, 400, "bad_parameter", "source",
                        "source: want baseline or %s, got '%.40s'", a->arrivals_source, want);
        return;
    }
    int64_t from = now - before * 60000, to = now + after * 60000;
    uint32_t n = 0;
    for (;;) {
        if (!a->arr_cap) {
            a->arr = malloc(256 * sizeof *a->arr);
            a->arr_cap = a->arr ? 256 : 0;
        }
        int rc = a->arr ? fn(fn_ud, e, stop, now, from, to, a->arr, a->arr_cap, &n) : BUYT_ENOMEM;
        if (rc == 0)
            break;
        void *p = rc == BUYT_EFULL && a->arr_cap < 65536
                      ? realloc(a->arr, (size_t)a->arr_cap * 2 * sizeof *a->arr)
                      : NULL;
        if (!p) {
            if (rc == BUYT_EFULL)
                break; /* a stop with over 65536 arrivals in the window: the first ones found */
            buyt_http_error(r, 500, "internal", NULL, "arrivals: %s", buyt_strerror(rc));
            return;
        }
        a->arr = p;
        a->arr_cap *= 2;
    }
    a->st.arrivals_built++;
    qsort(a->arr, n, sizeof *a->arr, cmp_arrival);
    const struct buyt_network *net = e->net;
    struct buyt_jsonw *w = buyt_http_body(r);
    buyt_jsonw_obj_begin(w);
    buyt_jsonw_key(w, "stop");
    buyt_jsonw_obj_begin(w);
    w_stop(w, net, stop);
    buyt_jsonw_obj_end(w);
    buyt_jsonw_kint(w, "time_ms", now);
    buyt_jsonw_kstr(w, "predicted_source", source);
    buyt_jsonw_key(w, "arrivals");
    buyt_jsonw_arr_begin(w);
    for (uint32_t i = 0; i < n && i < limit; i++) {
        const struct buyt_arrival *x = &a->arr[i];
        const struct buyt_network_trip *t = &net->trips[x->trip];
        const struct buyt_network_route *rt = &net->routes[t->route];
        char date[11];
        date_str(t->day_start_ms, date);
        buyt_jsonw_obj_begin(w);
        buyt_jsonw_kstr(w, "route_id", rt->id);
        buyt_jsonw_kstr(w, "route_short_name", rt->short_name);
        buyt_jsonw_kstr(w, "headsign", t->headsign);
        buyt_jsonw_kstr(w, "trip_id", t->id);
        buyt_jsonw_kstr(w, "service_date", date);
        run_start_time(w, t);
        buyt_jsonw_kuint(w, "stop_sequence",
                         net->times[t->first_time + x->stop_index].stop_sequence);
        if (x->vehicle >= 0 && (uint32_t)x->vehicle < e->vehicles.n)
            buyt_jsonw_kstr(w, "vehicle_id", e->vehicles.v[x->vehicle].id);
        else
            buyt_jsonw_knull(w, "vehicle_id");
        buyt_jsonw_kint(w, "scheduled_arrival_ms", x->scheduled_arrival_ms);
        buyt_jsonw_kint(w, "scheduled_departure_ms", x->scheduled_departure_ms);
        w_time_or_null(w, "predicted_arrival_ms", x->predicted_arrival_ms);
        w_time_or_null(w, "predicted_departure_ms", x->predicted_departure_ms);
        buyt_jsonw_kbool(w, "realtime", x->realtime);
        /* A prediction that is not real-time is a trip not started, corrected by its block. */
        bool predicted = x->predicted_arrival_ms != 0;
        if (predicted)
            buyt_jsonw_kint(w, "deviation_s", x->deviation_s);
        else
            buyt_jsonw_knull(w, "deviation_s");
        if (x->vehicle >= 0 && isfinite(x->distance_m))
            buyt_jsonw_kfixed(w, "distance_from_stop_m", x->distance_m, 1);
        else
            buyt_jsonw_knull(w, "distance_from_stop_m");
        if (x->vehicle >= 0 && x->stops_away >= 0)
            buyt_jsonw_kint(w, "stops_away", x->stops_away);
        else
            buyt_jsonw_knull(w, "stops_away");
        buyt_jsonw_kstr(w, "status", buyt_arrival_status_name(x->status));
        w_time_or_null(w, "last_update_ms", x->last_update_ms);
        buyt_jsonw_kstr(w, "predicted_source", predicted ? source : "schedule");
        buyt_jsonw_kstr(w, "prediction_basis", buyt_arrival_basis_name(x->basis));
        const char *why = buyt_arrival_fallback_name(x->fallback);
        if (why)
            buyt_jsonw_kstr(w, "schedule_reason", why);
        else
            buyt_jsonw_knull(w, "schedule_reason");
        buyt_jsonw_obj_end(w);
    }
    buyt_jsonw_arr_end(w);
    buyt_jsonw_obj_end(w);
}

/* ------------------------------------------------------------------ routes */

static void h_routes(void *ud, struct buyt_http_req *r)
{
    struct buyt_api *a = ud;
    if (!index_or_500(a, r))
        return;
    const struct buyt_network *net = a->ix.net;
    struct buyt_jsonw *w = buyt_http_body(r);
    buyt_jsonw_obj_begin(w);
    buyt_jsonw_kint(w, "feed_version", a->e->net_info.feed_version);
    buyt_jsonw_key(w, "routes");
    buyt_jsonw_arr_begin(w);
    for (uint32_t i = 0; net && i < net->n_routes; i++) {
        buyt_jsonw_obj_begin(w);
        buyt_jsonw_kstr(w, "id", net->routes[i].id);
        buyt_jsonw_kstr(w, "short_name", net->routes[i].short_name);
        buyt_jsonw_kint(w, "type", net->routes[i].type);
        buyt_jsonw_key(w, "directions");
        buyt_jsonw_arr_begin(w);
        int32_t last = INT32_MIN;
        for (uint32_t k = a->ix.route_var_start[i]; k < a->ix.route_var_start[i + 1]; k++)
            if (a->ix.vars[k].direction != last) {
                last = a->ix.vars[k].direction;
                buyt_jsonw_int(w, last);
            }
        buyt_jsonw_arr_end(w);
        buyt_jsonw_obj_end(w);
    }
    buyt_jsonw_arr_end(w);
    buyt_jsonw_obj_end(w);
    buyt_http_set_cache(r, CACHE_NETWORK);
}

static void w_pattern(struct buyt_jsonw *w, const struct buyt_network *net, const struct variant *v)
{
    const struct buyt_network_pattern *p = &net->patterns[v->pattern];
    const struct buyt_shape *sh = &net->shapes[p->shape];
    buyt_jsonw_obj_begin(w);
    buyt_jsonw_kuint(w, "pattern", v->pattern);
    buyt_jsonw_kstr(w, "shape_id", net->shape_ids[p->shape]);
    buyt_jsonw_kstr(w, "headsign", net->trips[v->sample_trip].headsign);
    buyt_jsonw_kuint(w, "trips", v->trips);
    buyt_jsonw_kfixed(w, "length_m", sh->length_m, 1);
    buyt_jsonw_key(w, "stops");
    buyt_jsonw_arr_begin(w);
    for (uint32_t k = 0; k < p->n_stops; k++) {
        const struct buyt_network_pattern_stop *ps = &net->pattern_stops[p->first + k];
        buyt_jsonw_obj_begin(w);
        w_stop(w, net, ps->stop);
        buyt_jsonw_kfixed(w, "dist_along_m", ps->dist_m, 1);
        buyt_jsonw_obj_end(w);
    }
    buyt_jsonw_arr_end(w);
    /* [[lat, lon], ...]: 6 decimals (0.1 m) is below the float precision of the shape. */
    buyt_jsonw_key(w, "shape");
    buyt_jsonw_arr_begin(w);
    for (uint32_t i = 0; i < sh->n_pts; i++) {
        double lat, lon;
        buyt_geo_from_xy(&net->frame, sh->pts[i].x_m, sh->pts[i].y_m, &lat, &lon);
        buyt_jsonw_arr_begin(w);
        buyt_jsonw_fixed(w, lat, 6);
        buyt_jsonw_fixed(w, lon, 6);
        buyt_jsonw_arr_end(w);
    }
    buyt_jsonw_arr_end(w);
    buyt_jsonw_obj_end(w);
}

static void h_route(void *ud, struct buyt_http_req *r)
{
    struct buyt_api *a = ud;
    if (!index_or_500(a, r))
        return;
    const struct buyt_network *net = a->ix.net;
    const char *id = buyt_http_param(r, 0);
    uint32_t ri = net ? buyt_network_route_find(net, id) : BUYT_NETWORK_NONE;
    if (ri == BUYT_NETWORK_NONE) {
        buyt_http_error(r, 404, "not_found", "route_id", "route_id: no route '%.64s'", id);
        return;
    }
    struct buyt_jsonw *w = buyt_http_body(r);
    buyt_jsonw_obj_begin(w);
    buyt_jsonw_kstr(w, "id", net->routes[ri].id);
    buyt_jsonw_kstr(w, "short_name", net->routes[ri].short_name);
    buyt_jsonw_kint(w, "type", net->routes[ri].type);
    buyt_jsonw_key(w, "directions");
    buyt_jsonw_arr_begin(w);
    uint32_t k = a->ix.route_var_start[ri], end = a->ix.route_var_start[ri + 1];
    while (k < end) {
        int32_t dir = a->ix.vars[k].direction;
        buyt_jsonw_obj_begin(w);
        if (dir >= 0)
            buyt_jsonw_kint(w, "direction_id", dir);
        else
            buyt_jsonw_knull(w, "direction_id");
        buyt_jsonw_key(w, "patterns");
        buyt_jsonw_arr_begin(w);
        for (; k < end && a->ix.vars[k].direction == dir; k++)
            w_pattern(w, net, &a->ix.vars[k]);
        buyt_jsonw_arr_end(w);
        buyt_jsonw_obj_end(w);
    }
    buyt_jsonw_arr_end(w);
    buyt_jsonw_obj_end(w);
    buyt_http_set_cache(r, CACHE_NETWORK);
}

/* ------------------------------------------------------------------ vehicles */

static void h_vehicles(void *ud, struct buyt_http_req *r)
{
    struct buyt_api *a = ud;
    struct buyt_engine *e = a->e;
    const struct buyt_network *net = e->net;
    const char *route = NULL;
    int rc = query_raw(r, "route", false, &route);
    if (rc < 0)
        return;
    uint32_t ri = BUYT_NETWORK_NONE;
    if (rc == 1) {
        ri = net ? buyt_network_route_find(net, route) : BUYT_NETWORK_NONE;
        if (ri == BUYT_NETWORK_NONE) {
            buyt_http_error(r, 404, "not_found", "route", "route: no route '%.64s'", route);
            return;
        }
    }
    int64_t now = buyt_http_now_ms(r);
    struct buyt_jsonw *w = buyt_http_body(r);
    buyt_jsonw_obj_begin(w);
    buyt_jsonw_kint(w, "time_ms", now);
    buyt_jsonw_key(w, "vehicles");
    buyt_jsonw_arr_begin(w);
    for (uint32_t i = 0; i < e->vehicles.n; i++) {
        const struct buyt_vehicle *v = &e->vehicles.v[i];
        if (ri != BUYT_NETWORK_NONE &&
            (v->trip == BUYT_NETWORK_NONE || net->trips[v->trip].route != ri))
            continue;
        w_vehicle(w, net, v, now);
    }
    buyt_jsonw_arr_end(w);
    buyt_jsonw_obj_end(w);
}

static const struct buyt_vehicle *find_vehicle_or_404(struct buyt_api *a, struct buyt_http_req *r)
{
    const char *id = buyt_http_param(r, 0);
    const struct buyt_vehicle *v = buyt_vehicles_find(&a->e->vehicles, id);
    if (!v)
        buyt_http_error(r, 404, "not_found", "vehicle_id", "vehicle_id: no vehicle '%.64s'", id);
    return v;
}

static void h_vehicle(void *ud, struct buyt_http_req *r)
{
    struct buyt_api *a = ud;
    const struct buyt_vehicle *v = find_vehicle_or_404(a, r);
    if (v)
        w_vehicle(buyt_http_body(r), a->e->net, v, buyt_http_now_ms(r));
}

/* ------------------------------------------------------------------ PostgreSQL off the loop */

static PGconn *pg_open(const char *conninfo, bool track, char *err, size_t errlen)
{
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {conninfo, "3", "buyt-api", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "%s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    if (track) {
        /* A track query that takes this long is a missing partition bound, not a user need. */
        PGresult *res = PQexec(c, "SET statement_timeout = 5000");
        PQclear(res);
    }
    return c;
}

static PGconn *pool_take(struct buyt_api *a, char *err, size_t errlen)
{
    PGconn *c = NULL;
    uv_mutex_lock(&a->pool.mu);
    if (a->pool.n_idle)
        c = a->pool.idle[--a->pool.n_idle];
    uv_mutex_unlock(&a->pool.mu);
    if (c && PQstatus(c) == CONNECTION_OK)
        return c;
    PQfinish(c);
    return pg_open(a->conninfo, true, err, errlen);
}

static void pool_give(struct buyt_api *a, PGconn *c)
{
    if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        return;
    }
    uv_mutex_lock(&a->pool.mu);
    if (a->pool.n_idle < a->pool.cap)
        a->pool.idle[a->pool.n_idle++] = c, c = NULL;
    uv_mutex_unlock(&a->pool.mu);
    PQfinish(c);
}

struct track_job {
    uv_work_t work;
    struct buyt_api *api;
    struct buyt_http_deferred *d;
    char vehicle_id[33];
    int32_t db_id;
    int64_t from_ms, to_ms, cur_ms; /* cur: the page's lower bound (from, or the cursor's) */
    uint32_t skip, limit;
    int rc;
    char err[256];
    uint32_t rows;
    struct buyt_jsonw out;
};

static const char TRACK_SQL[] =
    "SELECT (extract(epoch FROM time) * 1000)::int8, lat_e7, lon_e7, speed_cms, course_ddeg"
    " FROM fixes WHERE vehicle = $1 AND time >= to_timestamp($2::float8 / 1000)"
    " AND time < to_timestamp($3::float8 / 1000)"
    " ORDER BY time, lat_e7, lon_e7, speed_cms, course_ddeg LIMIT $4 OFFSET $5";

/* Worker thread: touches only the job and the pool. */
static void track_work(uv_work_t *wk)
{
    struct track_job *j = wk->data;
    PGconn *c = pool_take(j->api, j->err, sizeof j->err);
    if (!c) {
        j->rc = BUYT_EDB;
        return;
    }
    char p[5][24];
    snprintf(p[0], sizeof p[0], "%d", j->db_id);
    snprintf(p[1], sizeof p[1], "%lld", (long long)j->cur_ms);
    snprintf(p[2], sizeof p[2], "%lld", (long long)j->to_ms);
    snprintf(p[3], sizeof p[3], "%u", j->limit + 1);
    snprintf(p[4], sizeof p[4], "%u", j->skip);
    const char *vals[5] = {p[0], p[1], p[2], p[3], p[4]};
    PGresult *res = PQexecParams(c, TRACK_SQL, 5, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(j->err, sizeof j->err, "%s", PQerrorMessage(c));
        j->rc = BUYT_EDB;
        PQclear(res);
        pool_give(j->api, c);
        return;
    }
    uint32_t m = (uint32_t)PQntuples(res);
    uint32_t page = m > j->limit ? j->limit : m;
    struct buyt_jsonw *w = &j->out;
    buyt_jsonw_obj_begin(w);
    buyt_jsonw_kstr(w, "vehicle_id", j->vehicle_id);
    buyt_jsonw_kint(w, "from_ms", j->from_ms);
    buyt_jsonw_kint(w, "to_ms", j->to_ms);
    buyt_jsonw_kuint(w, "count", page);
    buyt_jsonw_key(w, "fixes");
    buyt_jsonw_arr_begin(w);
    int64_t last_t = 0;
    uint32_t same = 0;
    for (uint32_t i = 0; i < page; i++) {
        int64_t t = atoll(PQgetvalue(res, (int)i, 0));
        int32_t lat = atoi(PQgetvalue(res, (int)i, 1)), lon = atoi(PQgetvalue(res, (int)i, 2));
        int sp = atoi(PQgetvalue(res, (int)i, 3)), co = atoi(PQgetvalue(res, (int)i, 4));
        same = (i && t == last_t) ? same + 1 : 1;
        last_t = t;
        buyt_jsonw_obj_begin(w);
        buyt_jsonw_kint(w, "time_ms", t);
        buyt_jsonw_kfixed(w, "lat", buyt_e7_to_deg(lat), 7);
        buyt_jsonw_kfixed(w, "lon", buyt_e7_to_deg(lon), 7);
        if (sp >= 0)
            buyt_jsonw_kfixed(w, "speed_mps", sp / 100.0, 2);
        else
            buyt_jsonw_knull(w, "speed_mps");
        if (co >= 0)
            buyt_jsonw_kfixed(w, "course_deg", co / 10.0, 1);
        else
            buyt_jsonw_knull(w, "course_deg");
        buyt_jsonw_obj_end(w);
    }
    buyt_jsonw_arr_end(w);
    if (m > j->limit) {
        /* Keyset cursor: the last time on this page and how many rows at that time were
         * returned (rows sharing a timestamp are ordered by their values), and the window's
         * end, so the next page needs nothing else. */
        uint32_t skip = same + (last_t == j->cur_ms ? j->skip : 0);
        char cur[80];
        snprintf(cur, sizeof cur, "%lld.%u.%lld", (long long)last_t, skip, (long long)j->to_ms);
        buyt_jsonw_kstr(w, "next_cursor", cur);
    } else {
        buyt_jsonw_knull(w, "next_cursor");
    }
    buyt_jsonw_obj_end(w);
    j->rows = page;
    PQclear(res);
    pool_give(j->api, c);
}

/* Loop thread. */
static void track_done(uv_work_t *wk, int status)
{
    struct track_job *j = wk->data;
    struct buyt_api *a = j->api;
    a->st.track_in_flight--;
    if (j->rc || status) {
        a->st.track_queries_failed++;
        BUYT_WARN("api", "msg=\"track query failed\" vehicle=%s err=\"%.200s\"", j->vehicle_id,
                  j->err);
    } else {
        a->st.track_queries_ok++;
        a->st.track_rows += j->rows;
    }
    struct buyt_http_req *r = buyt_http_resume(j->d);
    if (r) {
        if (j->rc || status || j->out.oom)
            buyt_http_error(r, 503, "database_unavailable", NULL,
                            "the track store is not answering; retry later");
        else
            buyt_jsonw_raw(buyt_http_body(r), buyt_jsonw_data(&j->out), buyt_jsonw_len(&j->out));
        if (j->rc || status)
            buyt_http_add_header(r, "retry-after", "5");
        buyt_http_finish(r);
    }
    buyt_jsonw_close(&j->out);
    free(j);
}

static bool parse_cursor(const char *s, int64_t *t, uint32_t *skip, int64_t *to)
{
    char a[24], b[24], c[24];
    const char *d1 = strchr(s, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || d1 - s >= 20 || d2 - d1 - 1 >= 20 || strlen(d2 + 1) >= 20)
        return false;
    memcpy(a, s, (size_t)(d1 - s));
    a[d1 - s] = '\0';
    memcpy(b, d1 + 1, (size_t)(d2 - d1 - 1));
    b[d2 - d1 - 1] = '\0';
    strcpy(c, d2 + 1);
    int64_t sk;
    if (buyt_api_parse_int(a, t) || buyt_api_parse_int(b, &sk) || buyt_api_parse_int(c, to) ||
        sk < 0 || sk > 1000000 || *t < 0 || *to <= *t)
        return false;
    *skip = (uint32_t)sk;
    return true;
}

static void h_track(void *ud, struct buyt_http_req *r)
{
    struct buyt_api *a = ud;
    const struct buyt_vehicle *v = find_vehicle_or_404(a, r);
    if (!v)
        return;
    int64_t now = buyt_http_now_ms(r), from = 0, to = now, limit, cur_t = 0, cur_to = 0;
    uint32_t skip = 0;
    const char *cursor = NULL;
    int hc = query_raw(r, "cursor", false, &cursor);
    if (hc < 0 || !q_int(r, "limit", 500, 1, 5000, &limit))
        return;
    int hf = q_time(r, "from", &from), ht = q_time(r, "to", &to);
    if (hf < 0 || ht < 0)
        return;
    if (hc == 1 && !parse_cursor(cursor, &cur_t, &skip, &cur_to)) {
        buyt_http_error(r, 400, "bad_parameter", "cursor",
                        "cursor: not a cursor this server returned");
        return;
    }
    if (hc == 1) {
        to = cur_to;
        if (!hf)
            from = cur_t;
    } else if (!hf) {
        from = to - 3600 * 1000;
    }
    if (from >= to) {
        buyt_http_error(r, 400, "bad_parameter", "from", "from: must be before to");
        return;
    }
    if (to - from > TRACK_MAX_WINDOW_MS) {
        buyt_http_error(
            r, 400, "bad_parameter", "to",
            "to: the window from..to is longer than 24 hours; page through shorter ones");
        return;
    }
    if (hc == 1 && (cur_t < from || cur_t >= to)) {
        buyt_http_error(r, 400, "bad_parameter", "cursor", "cursor: outside the window from..to");
        return;
    }
    if (!a->conninfo) {
        buyt_http_error(r, 503, "database_unavailable", NULL, "no track store configured");
        return;
    }
    if (a->st.track_in_flight >= a->track_pool) {
        a->st.track_queries_busy++;
        buyt_http_add_header(r, "retry-after", "1");
        buyt_http_error(r, 503, "busy", NULL, "too many track queries running; retry shortly");
        return;
    }
    struct track_job *j = calloc(1, sizeof *j);
    if (!j) {
        buyt_http_error(r, 500, "internal", NULL, "out of memory");
        return;
    }
    j->api = a;
    j->work.data = j;
    snprintf(j->vehicle_id, sizeof j->vehicle_id, "%s", v->id);
    j->db_id = v->db_id;
    j->from_ms = from;
    j->to_ms = to;
    j->cur_ms = hc == 1 ? cur_t : from;
    j->skip = skip;
    j->limit = (uint32_t)limit;
    buyt_jsonw_init(&j->out);
    j->d = buyt_http_defer(r);
    if (!j->d) {
        free(j);
        buyt_http_error(r, 500, "internal", NULL, "out of memory");
        return;
    }
    if (uv_queue_work(a->e->loop, &j->work, track_work, track_done)) {
        r = buyt_http_resume(j->d); /* answer now after all */
        free(j);
        if (r) {
            buyt_http_error(r, 500, "internal", NULL, "could not queue the query");
            buyt_http_finish(r);
        }
        return;
    }
    a->st.track_in_flight++;
}

/* ------------------------------------------------------------------ reachability probe */

struct probe_job {
    uv_work_t work;
    struct buyt_api *api;
    bool ok;
};

static void probe_work(uv_work_t *wk)
{
    struct probe_job *j = wk->data;
    struct buyt_api *a = j->api;
    char err[256];
    if (a->probe_conn && PQstatus(a->probe_conn) != CONNECTION_OK) {
        PQfinish(a->probe_conn);
        a->probe_conn = NULL;
    }
    if (!a->probe_conn)
        a->probe_conn = pg_open(a->conninfo, false, err, sizeof err);
    if (!a->probe_conn)
        return;
    PGresult *res = PQexec(a->probe_conn, "SELECT 1");
    j->ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    if (!j->ok) {
        PQfinish(a->probe_conn);
        a->probe_conn = NULL;
    }
}

static void probe_done(uv_work_t *wk, int status)
{
    struct probe_job *j = wk->data;
    struct buyt_api *a = j->api;
    bool ok = !status && j->ok;
    if (a->st.db_probe_ok && !ok)
        BUYT_WARN("api", "msg=\"database unreachable\"");
    else if (!a->st.db_probe_ok && ok && a->st.db_probes)
        BUYT_INFO("api", "msg=\"database reachable again\"");
    a->st.db_probe_ok = ok;
    a->st.db_probes++;
    a->st.db_probe_failures += !ok;
    a->probe_ms = buyt_wall_ms();
    a->probe_running = false;
    free(j);
}

static void on_probe_timer(uv_timer_t *t)
{
    struct buyt_api *a = t->data;
    if (a->probe_running || a->stopping)
        return;
    struct probe_job *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->api = a;
    j->work.data = j;
    if (uv_queue_work(a->e->loop, &j->work, probe_work, probe_done)) {
        free(j);
        return;
    }
    a->probe_running = true;
}

/* ------------------------------------------------------------------ lifecycle */

int buyt_api_start(struct buyt_engine *e, const struct buyt_api_opts *o, struct buyt_api **out,
                   char *err, size_t errlen)
{
    *out = NULL;
    struct buyt_api *a = calloc(1, sizeof *a);
    if (!a)
        return BUYT_ENOMEM;
    *out = a;
    a->e = e;
    a->started_ms = buyt_wall_ms();
    a->track_pool = o->track_pool ? o->track_pool : 2;
    a->probe_interval_ms = o->probe_interval_ms ? o->probe_interval_ms : 5000;
    a->arrivals = o->arrivals ? o->arrivals : buyt_api_arrivals_baseline;
    a->arrivals_ud = o->arrivals ? o->arrivals_ud : NULL;
    a->arrivals_source =
        o->arrivals && o->arrivals_source ? o->arrivals_source : BUYT_API_BASELINE_SOURCE;
    const char *ci = o->conninfo ? o->conninfo : e->cfg.conninfo;
    if (ci && !(a->conninfo = strdup(ci)))
        return BUYT_ENOMEM;
    if (uv_mutex_init(&a->pool.mu))
        return BUYT_ENOMEM;
    a->mutex_ready = true;
    a->pool.cap = a->track_pool;
    a->pool.idle = calloc(a->pool.cap, sizeof *a->pool.idle);
    if (!a->pool.idle)
        return BUYT_ENOMEM;

    struct buyt_http_opts ho = {.listen = o->listen,
                                .cors_origin = o->cors_origin,
                                .request_timeout_ms = o->request_timeout_ms,
                                .max_connections = o->max_connections};
    int rc = buyt_http_new(e->loop, &ho, &a->http, err, errlen);
    if (rc)
        return rc;
    static const struct {
        const char *pattern;
        buyt_http_handler h;
        unsigned flags;
    } routes[] = {
        {"/healthz", h_healthz, 0},
        {"/metrics", h_metrics, 0},
        {"/api/v1/stops", h_stops_near, BUYT_HTTP_ETAG},
        {"/api/v1/stops/{stop_id}", h_stop, BUYT_HTTP_ETAG},
        {"/api/v1/stops/{stop_id}/arrivals", h_arrivals, 0},
        {"/api/v1/routes", h_routes, BUYT_HTTP_ETAG},
        {"/api/v1/routes/{route_id}", h_route, BUYT_HTTP_ETAG},
        {"/api/v1/vehicles", h_vehicles, 0},
        {"/api/v1/vehicles/{vehicle_id}", h_vehicle, 0},
        {"/api/v1/vehicles/{vehicle_id}/track", h_track, BUYT_HTTP_ETAG},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if ((rc = buyt_http_route(a->http, routes[i].pattern, BUYT_HTTP_GET, routes[i].flags,
                                  routes[i].h, a))) {
            snprintf(err, errlen, "route %s: %s", routes[i].pattern, buyt_strerror(rc));
            return rc;
        }
    if ((rc = buyt_looplag_start(e->loop, 250, &a->lag)))
        return rc;
    if (a->conninfo) {
        a->probe_timer = malloc(sizeof *a->probe_timer);
        if (!a->probe_timer)
            return BUYT_ENOMEM;
        uv_timer_init(e->loop, a->probe_timer);
        a->probe_timer->data = a;
        uv_unref((uv_handle_t *)a->probe_timer);
        uv_timer_start(a->probe_timer, on_probe_timer, 0, a->probe_interval_ms);
    }
    BUYT_INFO("api", "msg=listening addr=%s port=%d", o->listen, buyt_http_port(a->http));
    return 0;
}

int buyt_api_port(const struct buyt_api *a)
{
    return a->http ? buyt_http_port(a->http) : 0;
}

struct buyt_http *buyt_api_http(struct buyt_api *a)
{
    return a->http;
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

void buyt_api_stop(struct buyt_api *a)
{
    if (!a || a->stopping)
        return;
    a->stopping = true;
    buyt_http_stop(a->http);
    buyt_looplag_stop(a->lag);
    a->lag = NULL;
    if (a->probe_timer) {
        uv_close((uv_handle_t *)a->probe_timer, free_handle);
        a->probe_timer = NULL;
    }
}

void buyt_api_free(struct buyt_api *a)
{
    if (!a)
        return;
    if (!a->stopping) {
        /* Never started listening properly (start failed): nothing ran on the loop yet. */
        buyt_looplag_stop(a->lag);
        if (a->probe_timer)
            uv_close((uv_handle_t *)a->probe_timer, free_handle);
    }
    buyt_http_free(a->http); /* runs the loop once: closes what is closing */
    for (uint32_t i = 0; i < a->pool.n_idle; i++)
        PQfinish(a->pool.idle[i]);
    free(a->pool.idle);
    if (a->mutex_ready)
        uv_mutex_destroy(&a->pool.mu);
    PQfinish(a->probe_conn);
    index_free(&a->ix);
    free(a->arr);
    free(a->onp);
    free(a->near);
    free(a->near_d);
    free(a->conninfo);
    free(a);
}
