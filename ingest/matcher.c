/* Trip matching with monotone progress, off-route/layover flags and automatic assignment by
 * hypotheses; see matcher.h and docs/MATCHING.md. */
#include "matcher.h"

#include "error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NO_CLAIM UINT32_MAX
#define MAX_HITS 128
#define HEADING_FROM_TRACK_M 15.0 /* displacement needed to derive a heading from positions */
#define HEADING_LOOKBACK 8        /* fixes searched back for that displacement */
#define HYP_MAX_MISSES 2          /* consecutive off/backward/wrong-way fixes that kill one */
#define RETIME_EVERY 10           /* fixes between schedule re-checks of an automatic trip */
#define DISCOVER_EVERY_M 40.0     /* travel between searches for new candidate shapes */
#define RETIME_MIN_COST_M 6.0     /* re-check only beyond 2 min late / 1 min early ... */
#define RETIME_GAIN_M 4.5         /* ... and switch for a gain of 90 s late-equivalent */

struct buyt_matcher {
    const struct buyt_network *net;
    struct buyt_matcher_config cfg;
    uint32_t *claim; /* per trip: vehicle_id running it, or NO_CLAIM */
    int32_t *span_s; /* per shape: longest first departure .. last departure of its trips */
};

static double dist_xy(double dx, double dy)
{
    return sqrt(dx * dx + dy * dy);
}

/* One fix, with what the update derives from it. */
struct fix {
    int64_t t_ms;
    double x, y;
    double speed_mps;   /* reported, or from the displacement since the last fix; NAN unknown */
    double heading_deg; /* direction of travel, NAN unknown */
    bool stationary;
};

void buyt_matcher_config_default(struct buyt_matcher_config *c)
{
    *c = (struct buyt_matcher_config){
        .search_radius_m = 60,
        .off_route_m = 60,
        .off_route_fixes = 3,
        .on_route_fixes = 2,
        .jitter_back_m = 30,
        .window_margin_m = 50,
        .max_speed_mps = 30,
        .wrong_way_m = 50,
        .stationary_mps = 1.0,
        .heading_min_mps = 2.5,
        .early_s = 180,
        .late_s = 1800,
        .min_move_m = 100,
        .min_fixes = 3,
        .discriminate_m = 1000,
        .ambiguity_m = 20,
        .at_stop_m = 30,
        .layover_radius_m = 150,
        .block_max_gap_s = 3600,
        .lost_drop_s = 900,
        .max_jump_mps = 70,
    };
}

int buyt_matcher_new(const struct buyt_network *net, const struct buyt_matcher_config *cfg,
                     struct buyt_matcher **out)
{
    *out = NULL;
    if (!net || !net->finished)
        return BUYT_EINVAL;
    struct buyt_matcher_config c;
    if (cfg)
        c = *cfg;
    else
        buyt_matcher_config_default(&c);
    if (!(c.off_route_m > 0) || !(c.search_radius_m > 0) || !(c.max_speed_mps > 0) ||
        !(c.jitter_back_m >= 0) || !(c.window_margin_m >= 0) || c.off_route_fixes == 0 ||
        c.off_route_fixes > 200 || c.on_route_fixes == 0 || c.on_route_fixes > 200 ||
        c.early_s < 0 || c.late_s < 0 || !(c.max_jump_mps > 0))
        return BUYT_EINVAL;
    struct buyt_matcher *m = calloc(1, sizeof *m);
    if (!m)
        return BUYT_ENOMEM;
    m->claim = malloc((net->n_trips ? net->n_trips : 1) * sizeof *m->claim);
    m->span_s = calloc(net->n_shapes ? net->n_shapes : 1, sizeof *m->span_s);
    if (!m->claim || !m->span_s) {
        buyt_matcher_free(m);
        return BUYT_ENOMEM;
    }
    for (uint32_t t = 0; t < net->n_trips; t++) {
        m->claim[t] = NO_CLAIM;
        const struct buyt_network_trip *tr = &net->trips[t];
        if (!tr->valid)
            continue;
        int32_t span = net->times[tr->first_time + tr->n_stops - 1].departure_s - tr->start_s;
        if (span > m->span_s[tr->shape])
            m->span_s[tr->shape] = span;
    }
    m->net = net;
    m->cfg = c;
    *out = m;
    return 0;
}

void buyt_matcher_free(struct buyt_matcher *m)
{
    if (!m)
        return;
    free(m->claim);
    free(m->span_s);
    free(m);
}

/* ---- small helpers ------------------------------------------------------------------------ */

static const struct buyt_shape *trip_shape(const struct buyt_matcher *m, uint32_t trip)
{
    return &m->net->shapes[m->net->trips[trip].shape];
}

static double first_stop_dist(const struct buyt_matcher *m, uint32_t trip)
{
    return buyt_network_trip_stop_dist(m->net, trip, 0);
}

static double last_stop_dist(const struct buyt_matcher *m, uint32_t trip)
{
    return buyt_network_trip_stop_dist(m->net, trip, m->net->trips[trip].n_stops - 1);
}

static double dist_to_stop(const struct buyt_matcher *m, uint32_t trip, uint32_t k,
                           const struct fix *f)
{
    const struct buyt_network_stop *s = &m->net->stops[buyt_network_trip_stop(m->net, trip, k)];
    return dist_xy(f->x - s->x_m, f->y - s->y_m);
}

static double angle_diff_deg(double a, double b)
{
    double d = fmod(fabs(a - b), 360.0);
    return d > 180 ? 360 - d : d;
}

/* Schedule deviation in seconds (+ late) of being at dist_m on `trip` at t_ms. Inside a stop's
 * scheduled dwell the bus is on time; waiting at the first stop is never early. */
static double deviation_s(const struct buyt_matcher *m, uint32_t trip, double dist_m, int64_t t_ms)
{
    const struct buyt_network_trip *tr = &m->net->trips[trip];
    double window;
    double sched = buyt_network_trip_time_at(m->net, trip, dist_m, m->cfg.at_stop_m, &window);
    double dev = (double)(t_ms - tr->day_start_ms) / 1000.0 - sched;
    if (dev > 0)
        return dev > window ? dev - window : 0;
    if (dist_m <= first_stop_dist(m, trip) + m->cfg.at_stop_m)
        return 0;
    return dev;
}

/* Cost in metres of a schedule deviation when comparing candidates: 1 m per 20 s late, per
 * 10 s early (buses run late far more often than early). */
static double sched_cost_m(double dev_s)
{
    return dev_s >= 0 ? dev_s / 20.0 : -dev_s / 10.0;
}

static void claim(struct buyt_matcher *m, const struct buyt_matcher_vehicle *v, uint32_t trip)
{
    if (trip != BUYT_NETWORK_NONE)
        m->claim[trip] = v->vehicle_id;
}

static void unclaim(struct buyt_matcher *m, const struct buyt_matcher_vehicle *v, uint32_t trip)
{
    if (trip != BUYT_NETWORK_NONE && m->claim[trip] == v->vehicle_id)
        m->claim[trip] = NO_CLAIM;
}

/* Makes `trip` the vehicle's assignment, not yet placed on its shape (unless the caller
 * places it). */
static void set_trip(struct buyt_matcher *m, struct buyt_matcher_vehicle *v, uint32_t trip,
                     enum buyt_matcher_how how, int64_t now_ms)
{
    if (v->trip != trip)
        unclaim(m, v, v->trip);
    claim(m, v, trip);
    v->trip = trip;
    v->how = (uint8_t)how;
    v->anchored = v->completed = v->off_route = false;
    v->off_count = v->on_count = v->back_count = 0;
    v->dist_m = 0;
    v->last_on_route_ms = now_ms;
    v->off_since_ms = 0;
    v->n_hyp = 0;
}

static void release(struct buyt_matcher *m, struct buyt_matcher_vehicle *v)
{
    set_trip(m, v, BUYT_NETWORK_NONE, BUYT_MATCHER_HOW_NONE, 0);
}

/* ---- vehicle lifecycle and sign-in ------------------------------------------------------- */

void buyt_matcher_vehicle_init(struct buyt_matcher_vehicle *v, uint32_t vehicle_id)
{
    memset(v, 0, sizeof *v);
    v->vehicle_id = vehicle_id;
    v->trip = BUYT_NETWORK_NONE;
    v->constraint = BUYT_NETWORK_NONE;
    v->constraint_kind = BUYT_MATCHER_ANY;
}

void buyt_matcher_vehicle_reset(struct buyt_matcher *m, struct buyt_matcher_vehicle *v)
{
    unclaim(m, v, v->trip);
    buyt_matcher_vehicle_init(v, v->vehicle_id);
}

int buyt_matcher_assign_trip(struct buyt_matcher *m, struct buyt_matcher_vehicle *v, uint32_t trip)
{
    if (trip >= m->net->n_trips || !m->net->trips[trip].valid)
        return BUYT_EINVAL;
    v->constraint_kind = BUYT_MATCHER_TRIP;
    v->constraint = trip;
    if (v->trip != trip || v->completed)
        set_trip(m, v, trip, BUYT_MATCHER_HOW_EXPLICIT, v->last_on_route_ms);
    v->how = BUYT_MATCHER_HOW_EXPLICIT;
    return 0;
}

static int assign_group(struct buyt_matcher *m, struct buyt_matcher_vehicle *v,
                        enum buyt_matcher_constraint kind, uint32_t idx)
{
    v->constraint_kind = (uint8_t)kind;
    v->constraint = idx;
    v->n_hyp = 0;
    if (v->trip == BUYT_NETWORK_NONE)
        return 0;
    const struct buyt_network_trip *t = &m->net->trips[v->trip];
    if ((kind == BUYT_MATCHER_ROUTE && t->route != idx) ||
        (kind == BUYT_MATCHER_BLOCK && t->block != idx))
        release(m, v); /* the current trip is not one of the driver's */
    else
        v->how = BUYT_MATCHER_HOW_SIGNIN;
    return 0;
}

int buyt_matcher_assign_route(struct buyt_matcher *m, struct buyt_matcher_vehicle *v,
                              uint32_t route)
{
    if (route >= m->net->n_routes)
        return BUYT_EINVAL;
    return assign_group(m, v, BUYT_MATCHER_ROUTE, route);
}

int buyt_matcher_assign_block(struct buyt_matcher *m, struct buyt_matcher_vehicle *v,
                              uint32_t block)
{
    if (block >= m->net->n_blocks)
        return BUYT_EINVAL;
    return assign_group(m, v, BUYT_MATCHER_BLOCK, block);
}

void buyt_matcher_unassign(struct buyt_matcher *m, struct buyt_matcher_vehicle *v)
{
    release(m, v);
    v->constraint_kind = BUYT_MATCHER_ANY;
    v->constraint = BUYT_NETWORK_NONE;
}

/* ---- history --------------------------------------------------------------------------- */

static const struct buyt_matcher_fix *hist_at(const struct buyt_matcher_vehicle *v, uint32_t seq)
{
    return &v->hist[seq % BUYT_MATCHER_HISTORY];
}

/* Direction of travel: the GPS course when the speed makes it trustworthy, else the bearing
 * from a recent fix far enough away; NAN while standing or when unknown. */
static double heading_of(const struct buyt_matcher *m, const struct buyt_matcher_vehicle *v,
                         const struct fix *f, double course_deg)
{
    if (f->stationary)
        return NAN;
    if (!isnan(course_deg) && !isnan(f->speed_mps) && f->speed_mps >= m->cfg.heading_min_mps)
        return course_deg;
    uint32_t n = v->hist_seq < HEADING_LOOKBACK ? v->hist_seq : HEADING_LOOKBACK;
    for (uint32_t k = 1; k <= n; k++) {
        const struct buyt_matcher_fix *h = hist_at(v, v->hist_seq - k);
        double dx = f->x - h->x_m, dy = f->y - h->y_m;
        if (dx * dx + dy * dy >= HEADING_FROM_TRACK_M * HEADING_FROM_TRACK_M)
            return buyt_shape_bearing_deg(dx, dy);
    }
    return NAN;
}

/* ---- progress on a known trip ---------------------------------------------------------- */

static void add_point(struct buyt_matcher_result *res, int64_t t_ms, double dist_m,
                      double speed_mps, bool stationary)
{
    if (res->n_points == BUYT_MATCHER_HISTORY) { /* keep the newest */
        memmove(res->points, res->points + 1, (BUYT_MATCHER_HISTORY - 1) * sizeof *res->points);
        res->n_points--;
    }
    res->points[res->n_points++] = (struct buyt_matcher_point){.time_ms = t_ms,
                                                               .dist_m = (float)dist_m,
                                                               .speed_mps = (float)speed_mps,
                                                               .stationary = stationary};
}

/* Monotone progress: forward moves are taken unless the bus stands and the move is within
 * jitter (static drift while parked); backward moves are never taken. */
static double advance(const struct buyt_matcher *m, double cur_m, double along_m, bool stationary)
{
    if (along_m <= cur_m)
        return cur_m;
    if (stationary && along_m - cur_m < m->cfg.jitter_back_m)
        return cur_m;
    return along_m;
}

/* Projects onto the trip's shape in the window around `dist_m`: from jitter + margin behind to
 * what max_speed allows since `since_ms`, ahead. */
static void project_near(const struct buyt_matcher *m, uint32_t trip, double dist_m,
                         int64_t since_ms, const struct fix *f, struct buyt_shape_proj *p)
{
    const struct buyt_matcher_config *c = &m->cfg;
    double dt_s = (double)(f->t_ms - since_ms) / 1000.0;
    double lo = dist_m - c->jitter_back_m - c->window_margin_m;
    double hi = dist_m + c->max_speed_mps * (dt_s > 0 ? dt_s : 0) + c->window_margin_m;
    buyt_shape_project_directed(trip_shape(m, trip), f->x, f->y, lo < 0 ? 0 : lo, hi,
                                f->heading_deg, c->wrong_way_m, p);
}

static void count_off(const struct buyt_matcher *m, struct buyt_matcher_vehicle *v,
                      const struct fix *f)
{
    v->on_count = 0;
    if (v->off_count < 255)
        v->off_count++;
    if (!v->off_route && v->off_count >= m->cfg.off_route_fixes) {
        v->off_route = true;
        v->off_since_ms = f->t_ms;
    }
}

static void count_on(const struct buyt_matcher *m, struct buyt_matcher_vehicle *v,
                     const struct fix *f)
{
    v->off_count = 0;
    if (v->on_count < 255)
        v->on_count++;
    if (v->off_route && v->on_count >= m->cfg.on_route_fixes)
        v->off_route = false;
    v->last_on_route_ms = f->t_ms;
}

static void track(struct buyt_matcher *m, struct buyt_matcher_vehicle *v, const struct fix *f,
                  struct buyt_matcher_result *res)
{
    const struct buyt_matcher_config *c = &m->cfg;
    struct buyt_shape_proj p;
    project_near(m, v->trip, v->dist_m, v->last_on_route_ms, f, &p);
    res->offset_m = p.offset_m;
    if (fabs(p.offset_m) > c->off_route_m) {
        count_off(m, v, f);
        /* A terminal off the street: close enough to the end counts as arrived. */
        if (v->off_route && v->dist_m >= last_stop_dist(m, v->trip) - c->layover_radius_m)
            v->completed = true;
        return;
    }
    count_on(m, v, f);
    if (p.dist_m < v->dist_m - c->jitter_back_m) {
        if (v->back_count < 255)
            v->back_count++;
    } else {
        v->back_count = 0;
        v->dist_m = advance(m, v->dist_m, p.dist_m, f->stationary);
    }
    add_point(res, f->t_ms, v->dist_m, f->speed_mps, f->stationary);
    if (v->dist_m >= last_stop_dist(m, v->trip) - c->at_stop_m)
        v->completed = true;
}

/* Grid hits around the fix, kept on the caller's stack. */
struct hits {
    struct buyt_grid_hit h[MAX_HITS];
    size_t n;
    bool done;
};

static void query_hits(const struct buyt_matcher *m, const struct fix *f, struct hits *hs)
{
    if (!hs->done)
        buyt_grid_query(&m->net->grid, f->x, f->y, m->cfg.search_radius_m, hs->h, MAX_HITS,
                        &hs->n); /* BUYT_EFULL: the closest are as likely in as out; use them */
    hs->done = true;
}

static bool hit_wrong_way(const struct buyt_matcher *m, const struct buyt_grid_hit *h,
                          const struct fix *f)
{
    if (isnan(f->heading_deg))
        return false;
    const struct buyt_shape_pt *a = &m->net->shapes[h->shape].pts[h->seg];
    if (m->net->shapes[h->shape].n_pts < 2)
        return false;
    double b = buyt_shape_bearing_deg((double)a[1].x_m - a->x_m, (double)a[1].y_m - a->y_m);
    return angle_diff_deg(b, f->heading_deg) > 90;
}

/* Best place for the fix on `trip` among the hits on its shape (not at its very end): lowest
 * lateral + wrong-way + schedule cost. Returns the cost, INFINITY if none; *dist_m, *off_m. */
static double best_on_trip(const struct buyt_matcher *m, uint32_t trip, const struct hits *hs,
                           const struct fix *f, double *dist_m, double *off_m)
{
    const struct buyt_network_trip *tr = &m->net->trips[trip];
    double end = last_stop_dist(m, trip) - m->cfg.at_stop_m, best = INFINITY;
    for (size_t i = 0; i < hs->n; i++) {
        const struct buyt_grid_hit *h = &hs->h[i];
        if (h->shape != tr->shape || h->dist_m >= end)
            continue;
        double cost = h->lateral_m + sched_cost_m(deviation_s(m, trip, h->dist_m, f->t_ms)) +
                      (hit_wrong_way(m, h, f) ? m->cfg.wrong_way_m : 0);
        if (cost < best) {
            best = cost;
            *dist_m = h->dist_m;
            *off_m = h->lateral_m;
        }
    }
    return best;
}

/* An assigned trip not yet placed (sign-in, or chained from the block): place it at the best
 * position near the fix, or count the fix off route. */
static void anchor(struct buyt_matcher *m, struct buyt_matcher_vehicle *v, const struct fix *f,
                   struct hits *hs, struct buyt_matcher_result *res)
{
    double d = 0, off = NAN;
    query_hits(m, f, hs);
    if (!isfinite(best_on_trip(m, v->trip, hs, f, &d, &off)) || off > m->cfg.off_route_m) {
        count_off(m, v, f);
        return;
    }
    count_on(m, v, f);
    v->anchored = true;
    v->dist_m = d;
    res->offset_m = off;
    add_point(res, f->t_ms, d, f->speed_mps, f->stationary);
}

/* ---- assignment by hypotheses ------------------------------------------------------------ */

/* May the matcher pick `trip` for this vehicle now? */
static bool allowed(const struct buyt_matcher *m, const struct buyt_matcher_vehicle *v,
                    uint32_t trip)
{
    const struct buyt_network_trip *t = &m->net->trips[trip];
    if (!t->valid)
        return false;
    switch (v->constraint_kind) {
    case BUYT_MATCHER_TRIP: return trip == v->constraint;
    case BUYT_MATCHER_ROUTE: return t->route == v->constraint;
    case BUYT_MATCHER_BLOCK: return t->block == v->constraint;
    default: return m->claim[trip] == NO_CLAIM || m->claim[trip] == v->vehicle_id;
    }
}

/* The allowed trip on `shape` whose schedule best explains being dist_m along it at t_ms:
 * within early_s .. late_s of its schedule there, and not at its end. A hypothesis is about a
 * shape; which of its trips is re-chosen at every fix, as time passes. Returns the trip or
 * BUYT_NETWORK_NONE, and its schedule cost in *cost_m. */
static uint32_t best_trip_at(const struct buyt_matcher *m, const struct buyt_matcher_vehicle *v,
                             uint32_t shape, double dist_m, int64_t t_ms, double *cost_m)
{
    const struct buyt_network *net = m->net;
    const struct buyt_matcher_config *c = &m->cfg;
    uint32_t best = BUYT_NETWORK_NONE;
    *cost_m = INFINITY;
    /* Trips are sorted by start: skip those that ended (late_s included) before t_ms. */
    int64_t oldest = t_ms - ((int64_t)m->span_s[shape] + c->late_s) * 1000;
    uint32_t lo = net->shape_trip_first[shape], hi = net->shape_trip_first[shape + 1];
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const struct buyt_network_trip *tr = &net->trips[net->shape_trips[mid]];
        if (tr->day_start_ms + tr->start_s * 1000LL < oldest)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (uint32_t k = lo; k < net->shape_trip_first[shape + 1]; k++) {
        uint32_t t = net->shape_trips[k];
        const struct buyt_network_trip *tr = &net->trips[t];
        if (t_ms < tr->day_start_ms + (tr->start_s - c->early_s) * 1000LL)
            break;
        int32_t last_dep = net->times[tr->first_time + tr->n_stops - 1].departure_s;
        if (t_ms > tr->day_start_ms + ((int64_t)last_dep + c->late_s) * 1000LL ||
            dist_m >= last_stop_dist(m, t) - c->at_stop_m || !allowed(m, v, t))
            continue;
        double dev = deviation_s(m, t, dist_m, t_ms);
        if (dev < -c->early_s || dev > c->late_s)
            continue;
        double cost = sched_cost_m(dev);
        if (cost < *cost_m) {
            *cost_m = cost;
            best = t;
        }
    }
    return best;
}

static void drop_hyp(struct buyt_matcher_vehicle *v, uint32_t i)
{
    v->hyp[i] = v->hyp[--v->n_hyp];
}

static void update_hyps(const struct buyt_matcher *m, struct buyt_matcher_vehicle *v,
                        const struct fix *f, int64_t prev_ms)
{
    const struct buyt_matcher_config *c = &m->cfg;
    for (uint32_t i = 0; i < v->n_hyp;) {
        struct buyt_matcher_hyp *h = &v->hyp[i];
        struct buyt_shape_proj p;
        int64_t since = prev_ms - (int64_t)h->misses * (f->t_ms - prev_ms);
        project_near(m, h->trip, h->dist_m, since, f, &p);
        bool off = fabs(p.offset_m) > c->off_route_m;
        bool wrong =
            !off && !isnan(f->heading_deg) && angle_diff_deg(p.heading_deg, f->heading_deg) > 90;
        bool back = !off && !wrong && p.dist_m < h->dist_m - c->jitter_back_m;
        h->misses = off ? h->misses + 1 : 0;
        h->wrong_way = wrong ? h->wrong_way + 1 : 0;
        h->back = back ? h->back + 1 : 0;
        if (h->misses >= HYP_MAX_MISSES || h->wrong_way >= HYP_MAX_MISSES ||
            h->back >= HYP_MAX_MISSES) {
            drop_hyp(v, i);
            continue;
        }
        if (!off && !wrong && !back) {
            h->dist_m = (float)advance(m, h->dist_m, p.dist_m, f->stationary);
            h->sum_off_m += (float)fabs(p.offset_m);
            h->n_fixes++;
        }
        /* Re-choose the shape's trip when this one no longer fits, and now and then. */
        double dev = deviation_s(m, h->trip, h->dist_m, f->t_ms), cost;
        if (dev < -c->early_s || dev > c->late_s || v->hist_seq % RETIME_EVERY == 0 ||
            h->dist_m >= last_stop_dist(m, h->trip) - c->at_stop_m || !allowed(m, v, h->trip)) {
            uint32_t t =
                best_trip_at(m, v, m->net->trips[h->trip].shape, h->dist_m, f->t_ms, &cost);
            if (t == BUYT_NETWORK_NONE) {
                drop_hyp(v, i);
                continue;
            }
            h->trip = t;
        }
        i++;
    }
}

/* New hypotheses: each shape near the fix that none follows yet, at its best place, with the
 * allowed trip whose schedule best explains being there now. */
static void discover(const struct buyt_matcher *m, struct buyt_matcher_vehicle *v,
                     const struct fix *f, struct hits *hs)
{
    const struct buyt_network *net = m->net;
    query_hits(m, f, hs);
    for (size_t i = 0; i < hs->n && v->n_hyp < BUYT_MATCHER_HYPOTHESES; i++) {
        uint32_t shape = hs->h[i].shape;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = hs->h[j].shape == shape;
        for (uint32_t k = 0; k < v->n_hyp && !seen; k++)
            seen = net->trips[v->hyp[k].trip].shape == shape;
        if (seen)
            continue;
        uint32_t best_trip = BUYT_NETWORK_NONE;
        double best = INFINITY, best_d = 0, best_off = 0;
        for (size_t j = i; j < hs->n; j++) {
            const struct buyt_grid_hit *h = &hs->h[j];
            if (h->shape != shape || hit_wrong_way(m, h, f))
                continue;
            double sc;
            uint32_t t = best_trip_at(m, v, shape, h->dist_m, f->t_ms, &sc);
            if (t != BUYT_NETWORK_NONE && h->lateral_m + sc < best) {
                best = h->lateral_m + sc;
                best_trip = t;
                best_d = h->dist_m;
                best_off = h->lateral_m;
            }
        }
        if (best_trip == BUYT_NETWORK_NONE)
            continue;
        v->hyp[v->n_hyp++] = (struct buyt_matcher_hyp){.trip = best_trip,
                                                       .seq0 = v->hist_seq - 1,
                                                       .dist_m = (float)best_d,
                                                       .dist0_m = (float)best_d,
                                                       .sum_off_m = (float)best_off,
                                                       .n_fixes = 1};
    }
}

static double hyp_score(const struct buyt_matcher *m, const struct buyt_matcher_hyp *h,
                        int64_t t_ms)
{
    return h->sum_off_m / h->n_fixes + sched_cost_m(deviation_s(m, h->trip, h->dist_m, t_ms));
}

/* The hypothesis to assign now, or -1: it has moved min_move_m along its shape over
 * min_fixes fixes, and no rival on another shape explains the fixes about as well — unless it
 * has already gone discriminate_m, when the schedule decides. */
static int pick_hyp(const struct buyt_matcher *m, const struct buyt_matcher_vehicle *v,
                    int64_t t_ms)
{
    const struct buyt_matcher_config *c = &m->cfg;
    int best = -1;
    double best_score = INFINITY;
    bool ok[BUYT_MATCHER_HYPOTHESES];
    for (uint32_t i = 0; i < v->n_hyp; i++) {
        const struct buyt_matcher_hyp *h = &v->hyp[i];
        ok[i] = h->n_fixes >= c->min_fixes && h->dist_m - h->dist0_m >= c->min_move_m;
        double s = ok[i] ? hyp_score(m, h, t_ms) : INFINITY;
        if (s < best_score) {
            best_score = s;
            best = (int)i;
        }
    }
    if (best < 0)
        return -1;
    const struct buyt_matcher_hyp *b = &v->hyp[best];
    if (b->dist_m - b->dist0_m >= c->discriminate_m)
        return best;
    double b_off = b->sum_off_m / b->n_fixes;
    for (uint32_t i = 0; i < v->n_hyp; i++) {
        const struct buyt_matcher_hyp *h = &v->hyp[i];
        if ((int)i != best && ok[i] && h->sum_off_m / h->n_fixes <= b_off + c->ambiguity_m)
            return -1; /* a rival shape still fits as well: keep watching */
    }
    return best;
}

/* Re-projects the remembered fixes since the hypothesis began onto its trip: the progress
 * samples of the new assignment, so stop detection sees the start of the trip too. */
static void replay(struct buyt_matcher *m, struct buyt_matcher_vehicle *v,
                   const struct buyt_matcher_hyp *h, struct buyt_matcher_result *res)
{
    uint32_t first = h->seq0;
    bool forgotten = v->hist_seq - first > BUYT_MATCHER_HISTORY; /* its first fix is gone */
    if (forgotten)
        first = v->hist_seq - BUYT_MATCHER_HISTORY;
    double d = h->dist0_m;
    int64_t since = hist_at(v, first)->time_ms;
    res->n_points = 0;
    for (uint32_t s = first; s < v->hist_seq; s++) {
        const struct buyt_matcher_fix *hf = hist_at(v, s);
        struct fix f = {.t_ms = hf->time_ms,
                        .x = hf->x_m,
                        .y = hf->y_m,
                        .speed_mps = hf->speed_mps,
                        .heading_deg = NAN,
                        .stationary = hf->speed_mps < m->cfg.stationary_mps};
        struct buyt_shape_proj p;
        if (s == first && forgotten) {
            /* Somewhere between where the hypothesis began and where it is now. */
            buyt_shape_project_window(trip_shape(m, h->trip), f.x, f.y, h->dist0_m, h->dist_m, &p);
            d = p.dist_m;
        } else if (s > first) {
            project_near(m, h->trip, d, since, &f, &p);
            if (fabs(p.offset_m) <= m->cfg.off_route_m) {
                d = advance(m, d, p.dist_m, f.stationary);
                since = f.t_ms;
            }
        }
        add_point(res, f.t_ms, d, f.speed_mps, f.stationary);
    }
    v->dist_m = fmax(d, h->dist_m);
    res->points[res->n_points - 1].dist_m = (float)v->dist_m;
}

static void commit(struct buyt_matcher *m, struct buyt_matcher_vehicle *v, const struct fix *f,
                   int pick, struct buyt_matcher_result *res)
{
    struct buyt_matcher_hyp h = v->hyp[pick];
    if (h.trip == v->trip && !v->completed) {
        /* The same trip found again elsewhere: re-place it (no replay, its samples are
         * already out). */
        res->progress_reset = h.dist_m < v->dist_m;
        v->dist_m = h.dist_m;
        res->n_points = 0;
        add_point(res, f->t_ms, v->dist_m, f->speed_mps, f->stationary);
    } else {
        enum buyt_matcher_how how = v->constraint_kind == BUYT_MATCHER_ANY ? BUYT_MATCHER_HOW_AUTO
                                    : v->constraint_kind == BUYT_MATCHER_TRIP
                                        ? BUYT_MATCHER_HOW_EXPLICIT
                                        : BUYT_MATCHER_HOW_SIGNIN;
        set_trip(m, v, h.trip, how, f->t_ms);
        replay(m, v, &h, res);
    }
    struct buyt_shape_proj p;
    project_near(m, v->trip, v->dist_m, f->t_ms, f, &p);
    res->offset_m = p.offset_m;
    v->anchored = true;
    v->completed = v->off_route = false;
    v->off_count = v->back_count = 0;
    v->last_on_route_ms = f->t_ms;
    v->n_hyp = 0;
    res->assigned_now = true;
}

static void acquire(struct buyt_matcher *m, struct buyt_matcher_vehicle *v, const struct fix *f,
                    int64_t prev_ms, struct hits *hs, struct buyt_matcher_result *res)
{
    update_hyps(m, v, f, prev_ms);
    /* New shapes only appear as the bus moves: search again after DISCOVER_EVERY_M. */
    if (!f->stationary &&
        (v->n_hyp == 0 || dist_xy(f->x - v->disc_x_m, f->y - v->disc_y_m) >= DISCOVER_EVERY_M)) {
        discover(m, v, f, hs);
        v->disc_x_m = (float)f->x;
        v->disc_y_m = (float)f->y;
    }
    int pick = pick_hyp(m, v, f->t_ms);
    if (pick >= 0)
        commit(m, v, f, pick, res);
}

/* An automatic choice among trips of one shape can be wrong by a headway (the right trip was
 * claimed for a while by a bus matched to the wrong route, or the bus came out of a layover
 * late): nothing spatial will ever show it. Every RETIME_EVERY fixes, if the trip's schedule
 * fits badly and another allowed trip of the shape fits clearly better, take that one. */
static void retime(struct buyt_matcher *m, struct buyt_matcher_vehicle *v, const struct fix *f,
                   struct buyt_matcher_result *res)
{
    if ((v->how != BUYT_MATCHER_HOW_AUTO && v->how != BUYT_MATCHER_HOW_SIGNIN) || !v->anchored ||
        v->completed || v->off_route || v->hist_seq % RETIME_EVERY)
        return;
    double cur = sched_cost_m(deviation_s(m, v->trip, v->dist_m, f->t_ms)), cost;
    if (cur < RETIME_MIN_COST_M)
        return;
    uint32_t t = best_trip_at(m, v, m->net->trips[v->trip].shape, v->dist_m, f->t_ms, &cost);
    if (t == BUYT_NETWORK_NONE || t == v->trip || cost + RETIME_GAIN_M > cur)
        return;
    unclaim(m, v, v->trip);
    claim(m, v, t);
    v->trip = t;
    res->assigned_now = true;
}

/* ---- trip end ----------------------------------------------------------------------------- */

/* After the last stop: chain to the block's next trip, or keep reporting the finished trip
 * while the bus stays at the terminal. */
static void after_end(struct buyt_matcher *m, struct buyt_matcher_vehicle *v, const struct fix *f,
                      struct buyt_matcher_result *res)
{
    const struct buyt_network *net = m->net;
    const struct buyt_network_trip *t = &net->trips[v->trip];
    uint32_t next = t->next_in_block;
    bool chain = next != BUYT_NETWORK_NONE && net->trips[next].valid &&
                 (net->trips[next].day_start_ms + net->trips[next].start_s * 1000LL) -
                         (t->day_start_ms + t->end_s * 1000LL) <=
                     m->cfg.block_max_gap_s * 1000LL;
    if (v->constraint_kind == BUYT_MATCHER_ROUTE)
        chain = chain && net->trips[next].route == v->constraint;
    if (chain) {
        if (v->constraint_kind == BUYT_MATCHER_TRIP) { /* the driver's trip led to its run */
            v->constraint_kind = BUYT_MATCHER_BLOCK;
            v->constraint = t->block;
        }
        set_trip(m, v, next, BUYT_MATCHER_HOW_BLOCK, f->t_ms);
        res->assigned_now = true;
        return;
    }
    if (v->constraint_kind == BUYT_MATCHER_TRIP) { /* the driver's trip is over: its route */
        v->constraint_kind = BUYT_MATCHER_ROUTE;
        v->constraint = t->route;
    }
    if (dist_to_stop(m, v->trip, t->n_stops - 1, f) > m->cfg.layover_radius_m)
        release(m, v);
}

/* Could the bus have gone from fix h to f? (Used to accept the fix after a lone outlier.) */
static bool plausible_from(const struct buyt_matcher_config *c, const struct buyt_matcher_fix *h,
                           const struct fix *f, bool have)
{
    if (!have || f->t_ms <= h->time_ms)
        return false;
    return dist_xy(f->x - h->x_m, f->y - h->y_m) / ((double)(f->t_ms - h->time_ms) / 1000.0) <=
           c->max_jump_mps;
}

/* ---- the update -------------------------------------------------------------------------- */

static void fill_result(const struct buyt_matcher *m, const struct buyt_matcher_vehicle *v,
                        const struct fix *f, struct buyt_matcher_result *res)
{
    res->trip = v->trip;
    res->how = (enum buyt_matcher_how)v->how;
    res->off_route = v->off_route;
    res->stationary = f->stationary;
    res->completed = v->completed;
    if (v->trip == BUYT_NETWORK_NONE)
        return;
    const struct buyt_network_trip *t = &m->net->trips[v->trip];
    res->dist_m = v->dist_m;
    res->deviation_s = (int32_t)lround(deviation_s(m, v->trip, v->dist_m, f->t_ms));
    res->next_stop = buyt_network_trip_next_stop(m->net, v->trip, v->dist_m, m->cfg.at_stop_m);
    if (f->stationary) {
        const struct buyt_matcher_config *c = &m->cfg;
        bool at_start = v->dist_m <= first_stop_dist(m, v->trip) + c->layover_radius_m &&
                        dist_to_stop(m, v->trip, 0, f) <= c->layover_radius_m;
        bool at_end =
            (v->completed || v->dist_m >= last_stop_dist(m, v->trip) - c->layover_radius_m) &&
            dist_to_stop(m, v->trip, t->n_stops - 1, f) <= c->layover_radius_m;
        res->layover = at_start || at_end;
    }
}

static void result_init(const struct buyt_matcher_vehicle *v, struct buyt_matcher_result *res)
{
    res->trip = v->trip;
    res->how = (enum buyt_matcher_how)v->how;
    res->dist_m = v->dist_m;
    res->offset_m = NAN;
    res->deviation_s = 0;
    res->next_stop = 0;
    res->assigned_now = res->progress_reset = false;
    res->off_route = res->layover = res->stationary = res->completed = false;
    res->n_points = 0;
}

int buyt_matcher_update(struct buyt_matcher *m, struct buyt_matcher_vehicle *v, int64_t time_ms,
                        double lat, double lon, double speed_mps, double course_deg,
                        struct buyt_matcher_result *res)
{
    const struct buyt_matcher_config *c = &m->cfg;
    result_init(v, res);
    res->off_route = v->off_route;
    res->completed = v->completed;
    if (!(fabs(lat) <= 90) || !(fabs(lon) <= 180))
        return BUYT_EINVAL;
    struct fix f = {.t_ms = time_ms, .speed_mps = speed_mps};
    buyt_geo_to_xy(&m->net->frame, lat, lon, &f.x, &f.y);
    int64_t prev_ms = time_ms;
    if (v->hist_seq > 0) {
        const struct buyt_matcher_fix *last = hist_at(v, v->hist_seq - 1);
        if (time_ms <= last->time_ms)
            return BUYT_ERANGE;
        double dt_s = (double)(time_ms - last->time_ms) / 1000.0;
        double moved = dist_xy(f.x - last->x_m, f.y - last->y_m);
        if (moved / dt_s > c->max_jump_mps && v->jump_count < c->off_route_fixes &&
            !plausible_from(c, hist_at(v, v->hist_seq - 2), &f, v->hist_seq >= 2)) {
            v->jump_count++;
            return BUYT_ERANGE;
        }
        if (isnan(f.speed_mps))
            f.speed_mps = moved / dt_s;
        prev_ms = last->time_ms;
    }
    v->jump_count = 0;
    f.stationary = !isnan(f.speed_mps) && f.speed_mps < c->stationary_mps;
    f.heading_deg = heading_of(m, v, &f, course_deg);
    v->hist[v->hist_seq % BUYT_MATCHER_HISTORY] = (struct buyt_matcher_fix){
        .time_ms = time_ms, .x_m = (float)f.x, .y_m = (float)f.y, .speed_mps = (float)f.speed_mps};
    v->hist_seq++;

    struct hits hs;
    hs.done = false;
    if (v->trip != BUYT_NETWORK_NONE && v->completed)
        after_end(m, v, &f, res);
    if (v->trip != BUYT_NETWORK_NONE && !v->completed) {
        if (v->anchored) {
            track(m, v, &f, res);
            retime(m, v, &f, res);
        } else
            anchor(m, v, &f, &hs, res);
    }
    /* Look for (another) trip when there is none, or the assignment no longer explains the
     * fixes: off route, going backwards, or a chained trip the bus never reached. A driver's
     * trip is only re-placed (the constraint allows nothing else). */
    bool lost = v->trip == BUYT_NETWORK_NONE || v->completed ||
                (v->anchored ? v->off_route || v->back_count >= c->off_route_fixes
                             : v->how == BUYT_MATCHER_HOW_BLOCK && v->off_route);
    if (lost)
        acquire(m, v, &f, prev_ms, &hs, res);
    else
        v->n_hyp = 0;
    if (v->trip != BUYT_NETWORK_NONE && v->off_route &&
        (v->how == BUYT_MATCHER_HOW_AUTO || v->how == BUYT_MATCHER_HOW_SIGNIN) &&
        time_ms - v->off_since_ms > c->lost_drop_s * 1000LL)
        release(m, v);
    bool now = res->assigned_now;
    fill_result(m, v, &f, res);
    res->assigned_now = now && v->trip != BUYT_NETWORK_NONE;
    return 0;
}
