/* Arrival/departure detection from progress samples; see stopev.h. */
#include "stopev.h"

#include <math.h>
#include <string.h>

void buyt_stopev_config_default(struct buyt_stopev_config *cfg)
{
    *cfg = (struct buyt_stopev_config){.arrival_radius_m = 30, .stopped_mps = 1.5, .gap_s = 60};
}

void buyt_stopev_vehicle_init(struct buyt_stopev_vehicle *v)
{
    memset(v, 0, sizeof *v);
    v->trip = BUYT_NETWORK_NONE;
}

int64_t buyt_stopev_cross_time(const struct buyt_matcher_point *a,
                               const struct buyt_matcher_point *b, double target_m, int32_t gap_s)
{
    double d0 = a->dist_m, d1 = b->dist_m;
    double T = (double)(b->time_ms - a->time_ms) / 1000.0;
    if (!(d1 > d0) || !(T > 0))
        return b->time_ms;
    double f = (target_m - d0) / (d1 - d0);
    f = f < 0 ? 0 : f > 1 ? 1 : f;
    double m0 = a->speed_mps, m1 = b->speed_mps;
    if (T > gap_s || isnan(m0) || isnan(m1))
        return a->time_ms + (int64_t)llround(f * T * 1000.0);
    /* Cubic Hermite d(u), u in [0, 1], with end slopes from the speeds, limited as in
     * Fritsch & Carlson (1980) so that d is monotone; then solve d(u) = target by bisection. */
    double delta = (d1 - d0) / T;
    m0 = m0 > 0 ? m0 : 0;
    m1 = m1 > 0 ? m1 : 0;
    double al = m0 / delta, be = m1 / delta, s = al * al + be * be;
    if (s > 9) {
        double tau = 3 / sqrt(s);
        m0 *= tau;
        m1 *= tau;
    }
    double lo = 0, hi = 1;
    for (int i = 0; i < 40; i++) {
        double u = (lo + hi) / 2, u2 = u * u, u3 = u2 * u;
        double d = (2 * u3 - 3 * u2 + 1) * d0 + (u3 - 2 * u2 + u) * T * m0 +
                   (-2 * u3 + 3 * u2) * d1 + (u3 - u2) * T * m1;
        if (d < target_m)
            lo = u;
        else
            hi = u;
    }
    return a->time_ms + (int64_t)llround((lo + hi) / 2 * T * 1000.0);
}

/* Zone of stop k: [s_k - before, s_k + after], radii shrunk to half the gap to a neighbour. */
static void zone(const struct buyt_network *net, const struct buyt_stopev_config *cfg,
                 uint32_t trip, uint32_t k, double *lo, double *hi)
{
    uint32_t n = net->trips[trip].n_stops;
    double s = buyt_network_trip_stop_dist(net, trip, k), r = cfg->arrival_radius_m;
    double before = r, after = r;
    if (k > 0)
        before = fmin(r, (s - buyt_network_trip_stop_dist(net, trip, k - 1)) / 2);
    if (k + 1 < n)
        after = fmin(r, (buyt_network_trip_stop_dist(net, trip, k + 1) - s) / 2);
    *lo = s - before;
    *hi = k + 1 < n ? s + after : INFINITY; /* the last stop has no departure */
}

static bool slow(const struct buyt_stopev_config *cfg, const struct buyt_matcher_point *p)
{
    return isnan(p->speed_mps) ? p->stationary : p->speed_mps < cfg->stopped_mps;
}

struct emitter {
    const struct buyt_network *net;
    buyt_stopev_cb cb;
    void *ctx;
    uint32_t count;
};

static void emit(struct emitter *e, const struct buyt_stopev_vehicle *v, uint32_t k, int64_t arr_ms,
                 int64_t dep_ms, bool passed, bool gap)
{
    const struct buyt_network_trip *t = &e->net->trips[v->trip];
    struct buyt_stopev_event ev = {.trip = v->trip,
                                   .stop_index = k,
                                   .stop_sequence = e->net->times[t->first_time + k].stop_sequence,
                                   .stop = buyt_network_trip_stop(e->net, v->trip, k),
                                   .arrival_ms = arr_ms,
                                   .departure_ms = dep_ms,
                                   .passed = passed,
                                   .gap = gap};
    if (arr_ms && dep_ms && !passed && !gap)
        ev.dwell_s = (int32_t)llround((double)(dep_ms - arr_ms) / 1000.0);
    e->count++;
    if (e->cb)
        e->cb(e->ctx, &ev);
}

/* The first sample of a trip (or after a reset): stops wholly behind it are not ours to
 * report; if it is inside a zone the arrival there is unknown. */
static void start_at(const struct buyt_network *net, const struct buyt_stopev_config *cfg,
                     struct buyt_stopev_vehicle *v, const struct buyt_matcher_point *p)
{
    uint32_t n = net->trips[v->trip].n_stops;
    double lo, hi;
    v->in_zone = v->arr_known = v->arr_gap = v->stopped = false;
    while (v->next < n) {
        zone(net, cfg, v->trip, v->next, &lo, &hi);
        if (p->dist_m < hi)
            break;
        v->next++;
    }
    if (v->next < n && p->dist_m >= lo) {
        v->in_zone = true;
        v->stopped = slow(cfg, p);
    }
}

/* Progress moved from a to b: emit the stops whose zones it entered and left. */
static void step(struct emitter *e, const struct buyt_stopev_config *cfg,
                 struct buyt_stopev_vehicle *v, const struct buyt_matcher_point *a,
                 const struct buyt_matcher_point *b)
{
    const struct buyt_network *net = e->net;
    uint32_t n = net->trips[v->trip].n_stops;
    bool long_gap = b->time_ms - a->time_ms > (int64_t)cfg->gap_s * 1000;
    while (v->next < n) {
        double lo, hi;
        zone(net, cfg, v->trip, v->next, &lo, &hi);
        if (!v->in_zone) {
            if (b->dist_m < lo)
                return;
            v->in_zone = v->arr_known = true;
            v->arr_ms = buyt_stopev_cross_time(a, b, lo, cfg->gap_s);
            v->arr_gap = long_gap;
            v->stopped = false;
            if (v->next + 1 == n) {
                emit(e, v, v->next, v->arr_ms, 0, false, v->arr_gap);
                v->next++;
                v->in_zone = false;
                return;
            }
        }
        if (b->dist_m < hi) {
            if (slow(cfg, b))
                v->stopped = true;
            return;
        }
        int64_t dep = buyt_stopev_cross_time(a, b, hi, cfg->gap_s);
        bool gap = v->arr_gap || long_gap;
        int64_t arr = v->arr_known ? v->arr_ms : 0;
        /* No slow sample in the zone, and a transit not longer than crawling through it. */
        bool passed = !v->stopped && !gap && arr &&
                      (double)(dep - arr) / 1000.0 < (hi - lo) / cfg->stopped_mps;
        emit(e, v, v->next, arr, dep, passed, gap);
        v->next++;
        v->in_zone = v->arr_known = false;
    }
}

/* The matcher says the trip reached its end: report the stops still open (the last stop's
 * arrival when its zone is narrower than the matcher's end radius). */
static void flush_end(struct emitter *e, struct buyt_stopev_vehicle *v)
{
    uint32_t n = e->net->trips[v->trip].n_stops;
    int64_t t = v->last.time_ms;
    for (; v->next < n; v->next++) {
        int64_t arr = v->in_zone && v->arr_known ? v->arr_ms : t;
        emit(e, v, v->next, arr, v->next + 1 < n ? t : 0, false, v->in_zone && v->arr_gap);
        v->in_zone = false;
    }
}

uint32_t buyt_stopev_feed(const struct buyt_network *net, const struct buyt_stopev_config *cfg,
                          struct buyt_stopev_vehicle *v, const struct buyt_matcher_result *r,
                          buyt_stopev_cb cb, void *ctx)
{
    struct emitter e = {.net = net, .cb = cb, .ctx = ctx};
    if (r->trip != v->trip) {
        if (v->trip != BUYT_NETWORK_NONE && v->in_zone && v->arr_known &&
            v->next < net->trips[v->trip].n_stops)
            emit(&e, v, v->next, v->arr_ms, 0, false, v->arr_gap);
        buyt_stopev_vehicle_init(v);
        v->trip = r->trip;
    }
    if (v->trip == BUYT_NETWORK_NONE)
        return e.count;
    if (r->progress_reset)
        v->have_last = false; /* restart from the new position; never re-emit a stop */
    for (uint32_t i = 0; i < r->n_points; i++) {
        const struct buyt_matcher_point *p = &r->points[i];
        if (v->have_last && p->time_ms <= v->last.time_ms)
            continue; /* already seen (a replay overlapping what we had) */
        if (!v->have_last || p->dist_m < v->last.dist_m)
            start_at(net, cfg, v, p);
        else
            step(&e, cfg, v, &v->last, p);
        v->last = *p;
        v->have_last = true;
    }
    if (r->completed && v->have_last)
        flush_end(&e, v);
    return e.count;
}
