/* The operators' dashboard: its page and assets, /api/v1/fleet and /api/v1/network. See
 * dashboard.h and docs/DASHBOARD.md. */
#include "dashboard.h"

#include "api.h"
#include "clock.h"
#include "engine.h"
#include "error.h"
#include "geo.h"
#include "http.h"
#include "jsonw.h"
#include "metrics.h"
#include "network.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STALE_MS ((int64_t)BUYT_METRICS_REPORTING_S * 1000)
#define SIMPLIFY_M 2.0 /* shape tolerance: under a pixel at street zoom, 4x fewer points */
#define RATE_WINDOW_MS 10000
#define RATE_MIN_MS 1000
#define RATE_MAX_MS 60000

/* The page may load only what the engine serves: no inline script, no other origin. */
#define CSP                                                                                        \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "                 \
    "frame-ancestors 'none'"
#define CACHE_IMMUTABLE "public, max-age=31536000, immutable"

/* ------------------------------------------------------------------ assets */

const struct buyt_dashboard_asset *buyt_dashboard_asset_find(const char *name)
{
    for (const struct buyt_dashboard_asset *a = buyt_dashboard_assets; a->name; a++)
        if (!strcmp(a->name, name))
            return a;
    return NULL;
}

const char *buyt_dashboard_content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"}, /* RFC 9239 */
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".json", "application/json"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(dot, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

/* Answers with an embedded asset. The ETag is the content's hash (computed at build time); a
 * request naming that hash in ?v= (the page's own references, see web/embed.cmake) may be
 * cached for good, any other must revalidate. */
static void serve_asset(struct buyt_http_req *r, const struct buyt_dashboard_asset *a)
{
    const char *v = NULL;
    bool versioned = buyt_http_query(r, "v", &v) == 1 && !strcmp(v, a->etag);
    const char *type = buyt_dashboard_content_type(a->name);
    buyt_http_set_type(r, type);
    buyt_http_set_cache(r, versioned ? CACHE_IMMUTABLE : "no-cache");
    buyt_http_set_etag(r, a->etag);
    buyt_http_add_header(r, "x-content-type-options", "nosniff");
    if (!strncmp(type, "text/html", 9)) {
        buyt_http_add_header(r, "content-security-policy", CSP);
        buyt_http_add_header(r, "referrer-policy", "no-referrer");
    }
    if (buyt_http_etag_fresh(r, a->etag))
        return; /* 304: no body to copy */
    buyt_jsonw_raw(buyt_http_body(r), a->data, a->len);
}

static void redirect(struct buyt_http_req *r, const char *location)
{
    buyt_http_set_status(r, 302);
    buyt_http_set_type(r, "text/plain; charset=utf-8");
    buyt_http_add_header(r, "location", location);
    buyt_jsonw_rawz(buyt_http_body(r), "see ");
    buyt_jsonw_rawz(buyt_http_body(r), location);
    buyt_jsonw_rawz(buyt_http_body(r), "\n");
}

static void h_root(void *ud, struct buyt_http_req *r)
{
    (void)ud;
    redirect(r, "/dashboard/");
}

static void h_page(void *ud, struct buyt_http_req *r)
{
    (void)ud;
    const struct buyt_dashboard_asset *a = buyt_dashboard_asset_find("index.html");
    if (!a) {
        buyt_http_error(r, 404, "not_found", NULL, "this build has no dashboard page");
        return;
    }
    serve_asset(r, a);
}

static void h_asset(void *ud, struct buyt_http_req *r)
{
    (void)ud;
    const char *name = buyt_http_param(r, 0);
    const struct buyt_dashboard_asset *a = buyt_dashboard_asset_find(name);
    if (!a) {
        buyt_http_error(r, 404, "not_found", "asset", "asset: no dashboard file '%.64s'", name);
        return;
    }
    serve_asset(r, a);
}

/* ------------------------------------------------------------------ vehicle status */

enum buyt_fleet_status buyt_dashboard_classify(const struct buyt_vehicle *v, int64_t now_ms)
{
    if (!v->last_fix_ms)
        return BUYT_FLEET_OFFLINE;
    if (now_ms - v->last_fix_ms > STALE_MS)
        return BUYT_FLEET_STALE;
    if (v->off_route)
        return BUYT_FLEET_OFF_ROUTE;
    if (v->trip == BUYT_NETWORK_NONE)
        return BUYT_FLEET_UNASSIGNED;
    if (v->deviation_s > BUYT_FLEET_LATE_S)
        return BUYT_FLEET_LATE;
    if (v->deviation_s < -BUYT_FLEET_EARLY_S)
        return BUYT_FLEET_EARLY;
    return BUYT_FLEET_ON_TIME;
}

const char *buyt_fleet_status_name(enum buyt_fleet_status s)
{
    static const char *const names[BUYT_FLEET__COUNT] = {
        "offline", "stale", "off_route", "unassigned", "late", "early", "on_time"};
    return (unsigned)s < BUYT_FLEET__COUNT ? names[s] : "offline";
}

/* ------------------------------------------------------------------ geometry */

uint32_t buyt_dashboard_simplify(const float *x, const float *y, size_t stride, uint32_t n,
                                 double tol_m, bool *keep, uint32_t *stack)
{
    if (n == 0)
        return 0;
    memset(keep, 0, n * sizeof *keep);
    keep[0] = keep[n - 1] = true;
    uint32_t kept = n > 1 ? 2 : 1, sp = 0;
    double tol2 = tol_m * tol_m;
    if (n > 2) {
        stack[sp++] = 0;
        stack[sp++] = n - 1;
    }
    /* Each pending range lies strictly inside the previous one's bounds and ranges on the
     * stack are disjoint with at least one vertex inside: at most n - 2 ranges, 2n entries. */
    while (sp) {
        uint32_t b = stack[--sp], a = stack[--sp];
        double ax = x[a * stride], ay = y[a * stride];
        double dx = x[b * stride] - ax, dy = y[b * stride] - ay, len2 = dx * dx + dy * dy;
        double far2 = -1;
        uint32_t far = a;
        for (uint32_t i = a + 1; i < b; i++) {
            double px = x[i * stride] - ax, py = y[i * stride] - ay;
            /* Distance to the segment, not the line: a loop's ends coincide (len2 == 0). */
            double t = len2 > 0 ? (px * dx + py * dy) / len2 : 0;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            double ex = px - t * dx, ey = py - t * dy, d2 = ex * ex + ey * ey;
            if (d2 > far2) {
                far2 = d2;
                far = i;
            }
        }
        if (far2 <= tol2)
            continue;
        keep[far] = true;
        kept++;
        if (far - a > 1) {
            stack[sp++] = a;
            stack[sp++] = far;
        }
        if (b - far > 1) {
            stack[sp++] = far;
            stack[sp++] = b;
        }
    }
    return kept;
}

/* ------------------------------------------------------------------ /api/v1/network */

/* Changes whenever the body can: another network swapped in, or another process (binary). */
static void network_version(const struct buyt_dashboard *d, char *out, size_t len)
{
    snprintf(out, len, "%llx-%llu", (unsigned long long)d->started_ms,
             (unsigned long long)d->e->stats.network_loads);
}

static void w_line(struct buyt_jsonw *w, const struct buyt_shape *sh, bool *keep, uint32_t *stack)
{
    /* Integer metres, deltas after the first vertex: ~4 bytes a vertex. Deltas of rounded
     * absolute values, so rounding does not accumulate along the line. */
    buyt_dashboard_simplify(&sh->pts[0].x_m, &sh->pts[0].y_m,
                            sizeof sh->pts[0] / sizeof sh->pts[0].x_m, sh->n_pts, SIMPLIFY_M, keep,
                            stack);
    buyt_jsonw_key(w, "line");
    buyt_jsonw_arr_begin(w);
    long px = 0, py = 0;
    for (uint32_t i = 0; i < sh->n_pts; i++) {
        if (!keep[i])
            continue;
        long x = lroundf(sh->pts[i].x_m), y = lroundf(sh->pts[i].y_m);
        buyt_jsonw_int(w, x - px);
        buyt_jsonw_int(w, y - py);
        px = x, py = y;
    }
    buyt_jsonw_arr_end(w);
}

static void w_network(struct buyt_jsonw *w, const struct buyt_network *net, uint32_t *pat_trip,
                      bool *keep, uint32_t *stack)
{
    buyt_jsonw_key(w, "frame");
    buyt_jsonw_obj_begin(w);
    buyt_jsonw_kfixed(w, "lat0", net->frame.lat0_deg, 7);
    buyt_jsonw_kfixed(w, "lon0", net->frame.lon0_deg, 7);
    buyt_jsonw_kfixed(w, "m_per_deg_lat", net->frame.m_per_deg_lat, 3);
    buyt_jsonw_kfixed(w, "m_per_deg_lon", net->frame.m_per_deg_lon, 3);
    buyt_jsonw_obj_end(w);
    buyt_jsonw_key(w, "routes");
    buyt_jsonw_arr_begin(w);
    for (uint32_t i = 0; i < net->n_routes; i++) {
        buyt_jsonw_obj_begin(w);
        buyt_jsonw_kstr(w, "id", net->routes[i].id);
        buyt_jsonw_kstr(w, "short_name", net->routes[i].short_name);
        buyt_jsonw_kint(w, "type", net->routes[i].type);
        buyt_jsonw_obj_end(w);
    }
    buyt_jsonw_arr_end(w);
    float x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    buyt_jsonw_key(w, "stops");
    buyt_jsonw_arr_begin(w);
    for (uint32_t s = 0; s < net->n_stops; s++) {
        const struct buyt_network_stop *st = &net->stops[s];
        buyt_jsonw_arr_begin(w);
        buyt_jsonw_str(w, st->id);
        buyt_jsonw_str(w, st->name);
        buyt_jsonw_int(w, lroundf(st->x_m));
        buyt_jsonw_int(w, lroundf(st->y_m));
        buyt_jsonw_arr_end(w);
        x0 = !s || st->x_m < x0 ? st->x_m : x0;
        y0 = !s || st->y_m < y0 ? st->y_m : y0;
        x1 = !s || st->x_m > x1 ? st->x_m : x1;
        y1 = !s || st->y_m > y1 ? st->y_m : y1;
    }
    buyt_jsonw_arr_end(w);
    /* Patterns that valid trips use, with the route, direction and headsign of one of them. */
    buyt_jsonw_key(w, "patterns");
    buyt_jsonw_arr_begin(w);
    for (uint32_t p = 0; p < net->n_patterns; p++) {
        if (pat_trip[p] == BUYT_NETWORK_NONE)
            continue;
        const struct buyt_network_trip *t = &net->trips[pat_trip[p]];
        const struct buyt_network_pattern *pat = &net->patterns[p];
        const struct buyt_shape *sh = &net->shapes[pat->shape];
        buyt_jsonw_obj_begin(w);
        buyt_jsonw_kuint(w, "pattern", p);
        buyt_jsonw_kuint(w, "route", t->route);
        if (t->direction >= 0)
            buyt_jsonw_kint(w, "direction_id", t->direction);
        else
            buyt_jsonw_knull(w, "direction_id");
        buyt_jsonw_kstr(w, "headsign", t->headsign);
        buyt_jsonw_key(w, "stops");
        buyt_jsonw_arr_begin(w);
        for (uint32_t k = 0; k < pat->n_stops; k++)
            buyt_jsonw_uint(w, net->pattern_stops[pat->first + k].stop);
        buyt_jsonw_arr_end(w);
        w_line(w, sh, keep, stack);
        buyt_jsonw_obj_end(w);
        for (uint32_t i = 0; i < sh->n_pts; i++) {
            const struct buyt_shape_pt *q = &sh->pts[i];
            x0 = q->x_m < x0 ? q->x_m : x0, y0 = q->y_m < y0 ? q->y_m : y0;
            x1 = q->x_m > x1 ? q->x_m : x1, y1 = q->y_m > y1 ? q->y_m : y1;
        }
    }
    buyt_jsonw_arr_end(w);
    buyt_jsonw_key(w, "bounds");
    buyt_jsonw_arr_begin(w);
    buyt_jsonw_int(w, lroundf(x0));
    buyt_jsonw_int(w, lroundf(y0));
    buyt_jsonw_int(w, lroundf(x1));
    buyt_jsonw_int(w, lroundf(y1));
    buyt_jsonw_arr_end(w);
}

static void h_network(void *ud, struct buyt_http_req *r)
{
    struct buyt_dashboard *d = ud;
    const struct buyt_network *net = d->e->net;
    char version[64];
    network_version(d, version, sizeof version);
    buyt_http_set_etag(r, version);
    buyt_http_set_cache(r, "no-cache");
    if (buyt_http_etag_fresh(r, version))
        return; /* 304 without building ~1 MB */
    uint32_t max_pts = 1, *pat_trip = NULL, *stack = NULL;
    bool *keep = NULL;
    if (net) {
        for (uint32_t s = 0; s < net->n_shapes; s++)
            max_pts = net->shapes[s].n_pts > max_pts ? net->shapes[s].n_pts : max_pts;
        pat_trip = malloc(((size_t)net->n_patterns + 1) * sizeof *pat_trip);
        keep = malloc(max_pts * sizeof *keep);
        stack = malloc(2 * (size_t)max_pts * sizeof *stack);
        if (!pat_trip || !keep || !stack) {
            free(pat_trip), free(keep), free(stack);
            buyt_http_error(r, 500, "internal", NULL, "out of memory");
            return;
        }
        for (uint32_t p = 0; p < net->n_patterns; p++)
            pat_trip[p] = BUYT_NETWORK_NONE;
        for (uint32_t t = 0; t < net->n_trips; t++) {
            const struct buyt_network_trip *tr = &net->trips[t];
            if (tr->valid && tr->pattern < net->n_patterns &&
                pat_trip[tr->pattern] == BUYT_NETWORK_NONE)
                pat_trip[tr->pattern] = t;
        }
    }
    struct buyt_jsonw *w = buyt_http_body(r);
    buyt_jsonw_obj_begin(w);
    buyt_jsonw_kstr(w, "version", version);
    buyt_jsonw_kint(w, "feed_version", d->e->net_info.feed_version);
    if (net) {
        w_network(w, net, pat_trip, keep, stack);
    } else {
        buyt_jsonw_knull(w, "frame");
        buyt_jsonw_key(w, "routes");
        buyt_jsonw_arr_begin(w);
        buyt_jsonw_arr_end(w);
        buyt_jsonw_key(w, "stops");
        buyt_jsonw_arr_begin(w);
        buyt_jsonw_arr_end(w);
        buyt_jsonw_key(w, "patterns");
        buyt_jsonw_arr_begin(w);
        buyt_jsonw_arr_end(w);
        buyt_jsonw_knull(w, "bounds");
    }
    buyt_jsonw_obj_end(w);
    free(pat_trip);
    free(keep);
    free(stack);
}

/* ------------------------------------------------------------------ /api/v1/fleet */

static void take_sample(const struct buyt_engine *e, uint64_t mono_ms,
                        struct buyt_dashboard_sample *s)
{
    const struct buyt_ingest_stats *st = &e->stats;
    s->mono_ms = mono_ms;
    s->messages = st->messages;
    s->records = st->records;
    s->duplicates = st->duplicates;
    s->rejected = 0;
    for (int i = 0; i < BUYT_REJECT__COUNT; i++)
        s->rejected += st->rejected_messages[i] + st->rejected_records[i];
}

/* The rates: against the sample nearest RATE_WINDOW_MS ago within [RATE_MIN_MS, RATE_MAX_MS]
 * (samples are taken when the page polls, at most one a second); then remembers `cur`. */
static const struct buyt_dashboard_sample *rate_base(struct buyt_dashboard *d,
                                                     const struct buyt_dashboard_sample *cur)
{
    const struct buyt_dashboard_sample *best = NULL;
    uint64_t best_off = UINT64_MAX;
    for (uint32_t i = 0; i < d->n_samples; i++) {
        const struct buyt_dashboard_sample *s = &d->ring[i];
        uint64_t age = cur->mono_ms - s->mono_ms;
        if (age < RATE_MIN_MS || age > RATE_MAX_MS)
            continue;
        uint64_t off = age > RATE_WINDOW_MS ? age - RATE_WINDOW_MS : RATE_WINDOW_MS - age;
        if (off < best_off)
            best_off = off, best = s;
    }
    return best;
}

static void remember_sample(struct buyt_dashboard *d, const struct buyt_dashboard_sample *cur)
{
    uint32_t newest =
        (d->next_sample + BUYT_DASHBOARD_RATE_SAMPLES - 1) % BUYT_DASHBOARD_RATE_SAMPLES;
    if (d->n_samples && cur->mono_ms - d->ring[newest].mono_ms < RATE_MIN_MS)
        return;
    d->ring[d->next_sample] = *cur;
    d->next_sample = (d->next_sample + 1) % BUYT_DASHBOARD_RATE_SAMPLES;
    if (d->n_samples < BUYT_DASHBOARD_RATE_SAMPLES)
        d->n_samples++;
}

static void w_rate(struct buyt_jsonw *w, const char *key, uint64_t now, uint64_t then, double s)
{
    buyt_jsonw_kfixed(w, key, now >= then ? (double)(now - then) / s : 0, 2);
}

static void w_engine(struct buyt_jsonw *w, struct buyt_dashboard *d)
{
    struct buyt_engine *e = d->e;
    struct buyt_pgwriter_stats ws;
    memset(&ws, 0, sizeof ws);
    if (e->writer)
        buyt_pgwriter_stats(e->writer, &ws);
    struct buyt_dashboard_sample cur;
    take_sample(e, uv_now(e->loop), &cur);
    const struct buyt_dashboard_sample *base = rate_base(d, &cur);

    buyt_jsonw_key(w, "engine");
    buyt_jsonw_obj_begin(w);
    buyt_jsonw_kbool(w, "broker_connected", e->mqtt && buyt_mqtt_connected(e->mqtt));
    buyt_jsonw_kbool(w, "writer_connected", ws.connected);
    buyt_jsonw_kbool(w, "network_loaded", e->net != NULL);
    buyt_jsonw_kint(w, "feed_version", e->net_info.feed_version);
    buyt_jsonw_kuint(w, "messages", cur.messages);
    buyt_jsonw_kuint(w, "records", cur.records);
    buyt_jsonw_kuint(w, "accepted", e->stats.accepted);
    buyt_jsonw_kuint(w, "duplicates", cur.duplicates);
    buyt_jsonw_kuint(w, "rejected", cur.rejected);
    buyt_jsonw_key(w, "rejected_by_reason");
    buyt_jsonw_obj_begin(w);
    for (int i = 1; i < BUYT_REJECT__COUNT; i++) {
        uint64_t n = e->stats.rejected_messages[i] + e->stats.rejected_records[i];
        if (n)
            buyt_jsonw_kuint(w, buyt_reject_name((enum buyt_reject)i), n);
    }
    buyt_jsonw_obj_end(w);
    buyt_jsonw_key(w, "rates");
    if (base) {
        double s = (double)(cur.mono_ms - base->mono_ms) / 1000.0;
        buyt_jsonw_obj_begin(w);
        buyt_jsonw_kfixed(w, "window_s", s, 3);
        w_rate(w, "messages_per_s", cur.messages, base->messages, s);
        w_rate(w, "records_per_s", cur.records, base->records, s);
        w_rate(w, "rejected_per_s", cur.rejected, base->rejected, s);
        w_rate(w, "duplicates_per_s", cur.duplicates, base->duplicates, s);
        buyt_jsonw_obj_end(w);
    } else {
        buyt_jsonw_null(w);
    }
    buyt_jsonw_kuint(w, "spool_pending_batches", ws.pending);
    buyt_jsonw_kuint(w, "batches_committed", ws.batches_committed);
    buyt_jsonw_kuint(w, "commit_errors", ws.commit_errors);
    buyt_jsonw_kuint(w, "batches_quarantined", e->stats.batches_quarantined);
    buyt_jsonw_kfixed(w, "batch_commit_last_ms", ws.last_commit_ms, 1);
    buyt_jsonw_kfixed(w, "batch_commit_max_ms", ws.max_commit_ms, 1);
    buyt_jsonw_obj_end(w);
    remember_sample(d, &cur);
}

static void w_row(struct buyt_jsonw *w, const struct buyt_network *net,
                  const struct buyt_vehicle *v, enum buyt_fleet_status st, int64_t now)
{
    buyt_jsonw_arr_begin(w);
    buyt_jsonw_str(w, v->id);
    buyt_jsonw_str(w, buyt_fleet_status_name(st));
    buyt_jsonw_fixed(w, buyt_e7_to_deg(v->lat_e7), 6);
    buyt_jsonw_fixed(w, buyt_e7_to_deg(v->lon_e7), 6);
    if (v->course_cdeg != BUYT_VEHICLE_UNKNOWN) /* null: the receiver did not say */
        buyt_jsonw_uint(w, (v->course_cdeg + 50) / 100 % 360);
    else
        buyt_jsonw_null(w);
    if (v->speed_cms != BUYT_VEHICLE_UNKNOWN)
        buyt_jsonw_fixed(w, v->speed_cms / 100.0, 1);
    else
        buyt_jsonw_null(w);
    int64_t age = (now - v->last_fix_ms) / 1000;
    bool trip = net && v->trip < net->n_trips;
    if (trip) {
        const struct buyt_network_trip *t = &net->trips[v->trip];
        buyt_jsonw_str(w, net->routes[t->route].id);
        buyt_jsonw_int(w, v->deviation_s);
        buyt_jsonw_int(w, age > 0 ? age : 0);
        buyt_jsonw_uint(w, t->pattern);
        buyt_jsonw_uint(w, v->next_stop);
    } else {
        buyt_jsonw_null(w);
        buyt_jsonw_null(w);
        buyt_jsonw_int(w, age > 0 ? age : 0);
        buyt_jsonw_null(w);
        buyt_jsonw_null(w);
    }
    buyt_jsonw_arr_end(w);
}

static void h_fleet(void *ud, struct buyt_http_req *r)
{
    struct buyt_dashboard *d = ud;
    struct buyt_engine *e = d->e;
    const struct buyt_network *net = e->net;
    const char *route = NULL;
    int q = buyt_http_query(r, "route", &route);
    if (q < 0) {
        buyt_http_error(r, 400, "bad_parameter", "route", "route: malformed percent-encoding");
        return;
    }
    uint32_t ri = BUYT_NETWORK_NONE;
    if (q == 1) {
        ri = net ? buyt_network_route_find(net, route) : BUYT_NETWORK_NONE;
        if (ri == BUYT_NETWORK_NONE) {
            buyt_http_error(r, 404, "not_found", "route", "route: no route '%.64s'", route);
            return;
        }
    }
    int64_t now = buyt_http_now_ms(r);
    uint32_t by[BUYT_FLEET__COUNT] = {0}, known = 0, reporting = 0, assigned = 0;
    struct buyt_jsonw *w = buyt_http_body(r);
    char version[64];
    network_version(d, version, sizeof version);
    buyt_jsonw_obj_begin(w);
    buyt_jsonw_kint(w, "time_ms", now);
    if (ri != BUYT_NETWORK_NONE)
        buyt_jsonw_kstr(w, "route", net->routes[ri].id);
    else
        buyt_jsonw_knull(w, "route");
    buyt_jsonw_kstr(w, "network_version", version);
    buyt_jsonw_key(w, "vehicle_fields");
    buyt_jsonw_arr_begin(w);
    static const char *const fields[] = {"id",         "status",    "lat",      "lon",
                                         "course_deg", "speed_mps", "route_id", "delay_s",
                                         "fix_age_s",  "pattern",   "next_stop"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        buyt_jsonw_str(w, fields[i]);
    buyt_jsonw_arr_end(w);
    buyt_jsonw_key(w, "vehicles");
    buyt_jsonw_arr_begin(w);
    for (uint32_t i = 0; i < e->vehicles.n; i++) {
        const struct buyt_vehicle *v = &e->vehicles.v[i];
        bool has_trip = net && v->trip < net->n_trips;
        if (ri != BUYT_NETWORK_NONE && (!has_trip || net->trips[v->trip].route != ri))
            continue;
        enum buyt_fleet_status st = buyt_dashboard_classify(v, now);
        known++;
        by[st]++;
        reporting += v->last_seen_ms && now - v->last_seen_ms <= STALE_MS;
        assigned += st != BUYT_FLEET_OFFLINE && st != BUYT_FLEET_STALE && has_trip;
        if (st != BUYT_FLEET_OFFLINE)
            w_row(w, net, v, st, now);
    }
    buyt_jsonw_arr_end(w);

    buyt_jsonw_key(w, "summary");
    buyt_jsonw_obj_begin(w);
    buyt_jsonw_kuint(w, "known", known);
    buyt_jsonw_kuint(w, "reporting", reporting);
    buyt_jsonw_kuint(w, "positioned", known - by[BUYT_FLEET_OFFLINE]);
    buyt_jsonw_kuint(w, "assigned", assigned);
    buyt_jsonw_key(w, "by_status");
    buyt_jsonw_obj_begin(w);
    for (int s = 0; s < BUYT_FLEET__COUNT; s++)
        buyt_jsonw_kuint(w, buyt_fleet_status_name((enum buyt_fleet_status)s), by[s]);
    buyt_jsonw_obj_end(w);
    /* On-time performance: the share of fresh, on-route vehicles on a trip within the window. */
    uint32_t timed = by[BUYT_FLEET_ON_TIME] + by[BUYT_FLEET_LATE] + by[BUYT_FLEET_EARLY];
    if (timed)
        buyt_jsonw_kfixed(w, "on_time_performance", (double)by[BUYT_FLEET_ON_TIME] / timed, 4);
    else
        buyt_jsonw_knull(w, "on_time_performance");
    buyt_jsonw_key(w, "on_time_window_s");
    buyt_jsonw_arr_begin(w);
    buyt_jsonw_int(w, -BUYT_FLEET_EARLY_S);
    buyt_jsonw_int(w, BUYT_FLEET_LATE_S);
    buyt_jsonw_arr_end(w);
    buyt_jsonw_kint(w, "stale_after_s", BUYT_METRICS_REPORTING_S);
    buyt_jsonw_obj_end(w);
    w_engine(w, d);
    buyt_jsonw_obj_end(w);
    buyt_http_set_cache(r, "no-store");
}

/* ------------------------------------------------------------------ wiring */

int buyt_dashboard_init(struct buyt_dashboard *d, struct buyt_engine *e, struct buyt_api *api,
                        char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    d->e = e;
    d->api = api;
    d->started_ms = buyt_wall_ms();
    static const struct {
        const char *pattern;
        buyt_http_handler h;
    } routes[] = {
        {"/", h_root},
        {"/dashboard", h_root},
        {"/dashboard/", h_page},
        {"/dashboard/{asset}", h_asset},
        {"/api/v1/fleet", h_fleet},
        {"/api/v1/network", h_network},
    };
    struct buyt_http *http = buyt_api_http(api);
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = buyt_http_route(http, routes[i].pattern, BUYT_HTTP_GET, 0, routes[i].h, d);
        if (rc) {
            snprintf(err, errlen, "route %s: %s", routes[i].pattern, buyt_strerror(rc));
            return rc;
        }
    }
    return 0;
}
