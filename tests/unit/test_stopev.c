/* Stop arrivals and departures against a kinematic synthetic truth: a bus that cruises,
 * brakes into stops, dwells and pulls away, sampled every 1 s and every 10 s. */
#include "matcher.h"
#include "network.h"
#include "stopev.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LAT0 21.03
#define LON0 105.85
#define DAY_MS 1714496400000LL
#define T0_MS (DAY_MS + 8 * 3600 * 1000LL) /* 08:00, when the bus starts */

/* ---- a straight street with stops -------------------------------------------------------- */

struct street {
    struct buyt_network *net;
    uint32_t trip, n_stops;
    double stop_x[16];
};

/* Stops at xs[] along y = 0 (the shape runs 0 .. xs[n-1]); the pole 4 m to the right. */
static void street_make(struct street *s, const double *xs, int n)
{
    struct buyt_geo_frame tf;
    buyt_geo_frame_init(&tf, LAT0, LON0);
    cr_assert_eq(buyt_network_new(NULL, &s->net), 0);
    uint32_t r, sh, st[16];
    cr_assert_eq(buyt_network_add_route(s->net, "R", "R", 3, &r), 0);
    cr_assert_eq(buyt_network_add_shape(s->net, "S", &sh), 0);
    for (double x = 0; x <= xs[n - 1] + 1e-9; x += 100) {
        double lat, lon;
        buyt_geo_from_xy(&tf, x, 0, &lat, &lon);
        cr_assert_eq(buyt_network_add_shape_point(s->net, sh, lat, lon), 0);
    }
    struct buyt_network_trip_def d = {
        .trip_id = "t", .route = r, .shape = sh, .direction_id = 0, .day_start_ms = DAY_MS};
    cr_assert_eq(buyt_network_add_trip(s->net, &d, &s->trip), 0);
    for (int k = 0; k < n; k++) {
        char id[16];
        double lat, lon;
        snprintf(id, sizeof id, "s%d", k);
        buyt_geo_from_xy(&tf, xs[k], -4, &lat, &lon);
        cr_assert_eq(buyt_network_add_stop(s->net, id, id, lat, lon, &st[k]), 0);
        int32_t t = 8 * 3600 + (int32_t)(xs[k] / 8);
        cr_assert_eq(buyt_network_add_stop_time(s->net, s->trip, (uint32_t)k + 1, st[k], t, t), 0);
        s->stop_x[k] = xs[k];
    }
    s->n_stops = (uint32_t)n;
    cr_assert_eq(buyt_network_finish(s->net), 0);
    for (int k = 0; k < n; k++) /* frames differ slightly: use the network's distances */
        s->stop_x[k] = buyt_network_trip_stop_dist(s->net, s->trip, (uint32_t)k);
}

/* ---- the synthetic bus ------------------------------------------------------------------- */

#define TRACE_DT 0.01
#define TRACE_MAX 200000

struct trace {
    int n;
    double x[TRACE_MAX], v[TRACE_MAX]; /* at t = i * TRACE_DT seconds after T0 */
};

/* Cruise at 10 m/s; brake at 1.2 m/s^2 to stand at each x in stop_at[] for dwell[] s
 * (starting at rest at stop_at[0] if it is 0), pull away at 1.0 m/s^2; end at x_end. */
static void trace_make(struct trace *tr, const double *stop_at, const double *dwell, int n,
                       double x_end)
{
    const double vc = 10, ad = 1.2, aa = 1.0;
    double x = 0, v = 0, hold = 0;
    int k = 0;
    if (n > 0 && stop_at[0] == 0)
        hold = dwell[k++];
    tr->n = 0;
    while (tr->n < TRACE_MAX) {
        tr->x[tr->n] = x;
        tr->v[tr->n] = v;
        tr->n++;
        if (x >= x_end)
            break;
        if (hold > 0) {
            hold -= TRACE_DT;
            continue;
        }
        double target = k < n ? stop_at[k] : INFINITY;
        if (target - x <= v * v / (2 * ad) + 1e-9 && v > 0) { /* braking */
            double a = v * v / (2 * fmax(target - x, 1e-6));
            v -= a * TRACE_DT;
            if (v <= 0.05 || x >= target) {
                v = 0;
                x = target;
                hold = dwell[k++];
                continue;
            }
        } else if (v < vc) {
            v = fmin(vc, v + aa * TRACE_DT);
        }
        x += v * TRACE_DT;
    }
    cr_assert_lt(tr->n, TRACE_MAX);
}

/* Truth: the first instant the bus reaches x (linear within a 10 ms step). */
static int64_t truth_at(const struct trace *tr, double x)
{
    for (int i = 1; i < tr->n; i++)
        if (tr->x[i] >= x) {
            double f = tr->x[i] > tr->x[i - 1] ? (x - tr->x[i - 1]) / (tr->x[i] - tr->x[i - 1]) : 1;
            return T0_MS + (int64_t)llround((i - 1 + f) * TRACE_DT * 1000);
        }
    return -1;
}

/* ---- feeding ----------------------------------------------------------------------------- */

struct events {
    int n;
    struct buyt_stopev_event ev[64];
};

static void collect(void *ctx, const struct buyt_stopev_event *ev)
{
    struct events *e = ctx;
    cr_assert_lt(e->n, 64);
    e->ev[e->n++] = *ev;
}

static void feed_point(const struct street *s, const struct buyt_stopev_config *cfg,
                       struct buyt_stopev_vehicle *v, struct events *e, int64_t t_ms, double dist,
                       double speed, bool completed)
{
    static struct buyt_matcher_result r;
    memset(&r, 0, sizeof r);
    r.trip = s->trip;
    r.n_points = 1;
    r.completed = completed;
    r.points[0] = (struct buyt_matcher_point){t_ms, (float)dist, (float)speed, speed < 1.0};
    buyt_stopev_feed(s->net, cfg, v, &r, collect, e);
}

/* Samples the trace every dt_s from phase_s (skipping [gap_from_s, gap_to_s)) straight into
 * the detector, as exact progress. */
static void feed_trace(const struct street *s, const struct trace *tr, double dt_s, double phase_s,
                       double gap_from_s, double gap_to_s, struct events *e)
{
    struct buyt_stopev_config cfg;
    buyt_stopev_config_default(&cfg);
    struct buyt_stopev_vehicle v;
    buyt_stopev_vehicle_init(&v);
    double end = (tr->n - 1) * TRACE_DT;
    for (double t = phase_s;; t += dt_s) {
        if (t > end)
            t = end;
        if (t < gap_from_s || t >= gap_to_s) {
            int i = (int)llround(t / TRACE_DT);
            feed_point(s, &cfg, &v, e, T0_MS + (int64_t)llround(t * 1000), tr->x[i], tr->v[i],
                       t >= end);
        }
        if (t >= end)
            break;
    }
}

static const struct buyt_stopev_event *find(const struct events *e, uint32_t k)
{
    for (int i = 0; i < e->n; i++)
        if (e->ev[i].stop_index == k)
            return &e->ev[i];
    return NULL;
}

/* Worst |error| in seconds of arrivals and departures against the truth (zones +-30 m). */
static double worst_error_s(const struct street *s, const struct trace *tr, const struct events *e,
                            bool *all_found)
{
    double worst = 0;
    *all_found = true;
    for (uint32_t k = 0; k < s->n_stops; k++) {
        const struct buyt_stopev_event *ev = find(e, k);
        if (!ev) {
            *all_found = false;
            continue;
        }
        if (ev->arrival_ms)
            worst = fmax(worst,
                         fabs((double)(ev->arrival_ms - truth_at(tr, s->stop_x[k] - 30))) / 1000);
        if (ev->departure_ms)
            worst = fmax(worst,
                         fabs((double)(ev->departure_ms - truth_at(tr, s->stop_x[k] + 30))) / 1000);
    }
    return worst;
}

/* The standard run: stops every 500 m; the bus stands 20 s at each (25 s at 1000), except
 * that it passes 1500 without stopping. */
static const double XS[] = {0, 500, 1000, 1500, 2000, 2500, 3000};
static const double STOP_AT[] = {0, 500, 1000, 2000, 2500, 3000};
static const double DWELL[] = {10, 20, 25, 20, 20, 30};

static struct trace TR;

/* ---- tests ------------------------------------------------------------------------------- */

Test(stopev, arrival_interpolated_between_fixes)
{
    struct street s;
    street_make(&s, XS, 7);
    trace_make(&TR, STOP_AT, DWELL, 6, 3000);
    const double periods[] = {1, 10};
    const double bound[] = {0.1, 1.0}; /* measured: 0.00 s and 0.23 s */
    for (int p = 0; p < 2; p++) {
        for (int ph = 0; ph < 7; ph++) {
            double phase = periods[p] * ph / 7;
            struct events e = {0};
            feed_trace(&s, &TR, periods[p], phase, 0, 0, &e);
            bool all;
            double worst = worst_error_s(&s, &TR, &e, &all);
            cr_assert(all, "every %.0f s from %.2f: a stop is missing", periods[p], phase);
            cr_assert_eq(e.n, 7);
            cr_assert_leq(worst, bound[p], "every %.0f s from %.2f: off by %.2f s", periods[p],
                          phase, worst);
            for (int i = 0; i < e.n; i++) {
                cr_assert_eq(e.ev[i].stop_index, (uint32_t)i); /* in order, once each */
                cr_assert_not(e.ev[i].gap);
                cr_assert_eq(e.ev[i].stop_sequence, (uint32_t)i + 1);
            }
        }
    }
    buyt_network_free(s.net);
}

Test(stopev, first_stop_departs_and_last_stop_arrives)
{
    struct street s;
    street_make(&s, XS, 7);
    trace_make(&TR, STOP_AT, DWELL, 6, 3000);
    struct events e = {0};
    feed_trace(&s, &TR, 1, 0, 0, 0, &e);
    const struct buyt_stopev_event *first = find(&e, 0), *last = find(&e, 6);
    cr_assert(first && last);
    cr_assert_eq(first->arrival_ms, 0); /* the trip began inside the zone */
    cr_assert_gt(first->departure_ms, 0);
    cr_assert_eq(first->dwell_s, 0);
    cr_assert_gt(last->arrival_ms, 0);
    cr_assert_eq(last->departure_ms, 0); /* a terminal's departure is the next trip's */
    cr_assert_not(last->passed);
    buyt_network_free(s.net);
}

Test(stopev, passed_without_stopping)
{
    struct street s;
    street_make(&s, XS, 7);
    trace_make(&TR, STOP_AT, DWELL, 6, 3000);
    for (double period = 1; period <= 10; period += 9) {
        struct events e = {0};
        feed_trace(&s, &TR, period, 0.4, 0, 0, &e);
        for (uint32_t k = 1; k < 6; k++) {
            const struct buyt_stopev_event *ev = find(&e, k);
            cr_assert(ev);
            cr_assert_eq(ev->passed, k == 3, "every %.0f s, stop %u: passed %d", period, k,
                         ev->passed);
        }
        const struct buyt_stopev_event *p = find(&e, 3);
        cr_assert_eq(p->dwell_s, 0);
        /* 60 m of zone at 10 m/s. */
        cr_assert_float_eq((double)(p->departure_ms - p->arrival_ms) / 1000, 6, 0.5);
    }
    buyt_network_free(s.net);
}

Test(stopev, dwell_is_departure_minus_arrival)
{
    struct street s;
    street_make(&s, XS, 7);
    trace_make(&TR, STOP_AT, DWELL, 6, 3000);
    struct events e = {0};
    feed_trace(&s, &TR, 1, 0.5, 0, 0, &e);
    const struct buyt_stopev_event *ev = find(&e, 2); /* 25 s standing at x = 1000 */
    cr_assert(ev);
    double truth =
        (double)(truth_at(&TR, s.stop_x[2] + 30) - truth_at(&TR, s.stop_x[2] - 30)) / 1000;
    cr_assert_gt(truth, 35); /* braking and pulling away inside the zone add to the 25 s */
    cr_assert_leq(fabs(ev->dwell_s - truth), 1.0, "dwell %d, truth %.1f", ev->dwell_s, truth);
    cr_assert_not(ev->passed);
    buyt_network_free(s.net);
}

Test(stopev, data_gap_events_are_interpolated_and_flagged)
{
    struct street s;
    street_make(&s, XS, 7);
    trace_make(&TR, STOP_AT, DWELL, 6, 3000);
    /* No data from 200 s to 395 s: the bus goes from before 1500 to beyond 2500 unseen. */
    int64_t from = T0_MS + 200000, to = T0_MS + 395000;
    cr_assert_lt(TR.x[20000], s.stop_x[3] - 30);
    cr_assert_gt(TR.x[39500], s.stop_x[5] + 30);
    struct events e = {0};
    feed_trace(&s, &TR, 1, 0, 200, 395, &e);
    cr_assert_eq(e.n, 7);
    int64_t prev = 0;
    for (uint32_t k = 0; k < 7; k++) {
        const struct buyt_stopev_event *ev = &e.ev[k];
        cr_assert_eq(ev->stop_index, k);
        bool in_gap = k >= 3 && k <= 5;
        cr_assert_eq(ev->gap, in_gap, "stop %u gap %d", k, ev->gap);
        if (in_gap) {
            cr_assert_not(ev->passed);
            cr_assert_eq(ev->dwell_s, 0);
            cr_assert_geq(ev->arrival_ms, from - 1000);
            cr_assert_leq(ev->departure_ms, to);
            cr_assert_lt(ev->arrival_ms, ev->departure_ms);
            cr_assert_geq(ev->arrival_ms, prev); /* times keep the stops' order */
        }
        if (ev->arrival_ms)
            prev = ev->departure_ms ? ev->departure_ms : ev->arrival_ms;
    }
    buyt_network_free(s.net);
}

Test(stopev, close_stops_keep_separate_zones)
{
    /* Two stops 20 m apart: each zone shrinks to +-10 m; the bus stops at the second only. */
    const double xs[] = {0, 800, 820, 1600};
    struct street s;
    street_make(&s, xs, 4);
    const double stop_at[] = {820, 1600}, dwell[] = {20, 10};
    trace_make(&TR, stop_at, dwell, 2, 1600);
    struct events e = {0};
    feed_trace(&s, &TR, 1, 0.3, 0, 0, &e);
    const struct buyt_stopev_event *a = find(&e, 1), *b = find(&e, 2);
    cr_assert(a && b);
    cr_assert(a->passed);
    cr_assert_not(b->passed);
    cr_assert_leq(a->departure_ms, b->arrival_ms);
    cr_assert_leq(fabs((double)(a->arrival_ms - truth_at(&TR, s.stop_x[1] - 30))) / 1000, 0.6);
    cr_assert_leq(fabs((double)(b->arrival_ms - truth_at(&TR, s.stop_x[2] - 10))) / 1000, 0.6);
    buyt_network_free(s.net);
}

Test(stopev, trip_change_closes_an_open_stop)
{
    struct street s;
    street_make(&s, XS, 7);
    struct buyt_stopev_config cfg;
    buyt_stopev_config_default(&cfg);
    struct buyt_stopev_vehicle v;
    buyt_stopev_vehicle_init(&v);
    struct events e = {0};
    feed_point(&s, &cfg, &v, &e, T0_MS, 400, 10, false);
    feed_point(&s, &cfg, &v, &e, T0_MS + 10000, 495, 0, false); /* standing at stop 1 */
    cr_assert_eq(e.n, 0);
    struct buyt_matcher_result r;
    memset(&r, 0, sizeof r);
    r.trip = BUYT_NETWORK_NONE; /* the assignment was dropped */
    cr_assert_eq(buyt_stopev_feed(s.net, &cfg, &v, &r, collect, &e), 1);
    cr_assert_eq(e.ev[0].stop_index, 1);
    cr_assert_gt(e.ev[0].arrival_ms, T0_MS);
    cr_assert_eq(e.ev[0].departure_ms, 0);
    buyt_network_free(s.net);
}

Test(stopev, end_of_trip_reports_the_last_arrival)
{
    /* The last two stops 40 m apart: the last zone starts 20 m before the stop; the matcher
     * may end the trip 30 m before it. */
    const double xs[] = {0, 500, 960, 1000};
    struct street s;
    street_make(&s, xs, 4);
    struct buyt_stopev_config cfg;
    buyt_stopev_config_default(&cfg);
    struct buyt_stopev_vehicle v;
    buyt_stopev_vehicle_init(&v);
    struct events e = {0};
    feed_point(&s, &cfg, &v, &e, T0_MS, 900, 8, false);
    feed_point(&s, &cfg, &v, &e, T0_MS + 2000, 972, 8, true);
    cr_assert_eq(e.n, 2);
    cr_assert_eq(e.ev[1].stop_index, 3);
    cr_assert_eq(e.ev[1].arrival_ms, T0_MS + 2000);
    feed_point(&s, &cfg, &v, &e, T0_MS + 3000, 972, 0, true); /* no repeat */
    cr_assert_eq(e.n, 2);
    buyt_network_free(s.net);
}

Test(stopev, cross_time_is_exact_for_steady_and_braking_motion)
{
    struct buyt_matcher_point a = {1000, 100, 10, false}, b = {11000, 200, 10, false};
    cr_assert_eq(buyt_stopev_cross_time(&a, &b, 130, 60), 4000);
    /* Braking from 10 m/s to 0 at 1 m/s^2 over 50 m in 10 s: d(t) = 10t - t^2/2. */
    struct buyt_matcher_point c = {0, 0, 10, false}, d = {10000, 50, 0, true};
    double t_true = 10 - sqrt(100 - 2 * 30); /* reaches 30 m at 3.68 s */
    int64_t t = buyt_stopev_cross_time(&c, &d, 30, 60);
    cr_assert_leq(fabs((double)t / 1000 - t_true), 0.3, "%.2f s vs %.2f s", (double)t / 1000,
                  t_true);
    /* Linear over a long gap, and without speeds. */
    struct buyt_matcher_point e = {0, 0, 10, false}, f = {100000, 1000, 10, false};
    cr_assert_eq(buyt_stopev_cross_time(&e, &f, 250, 60), 25000);
    struct buyt_matcher_point g = {0, 0, NAN, false}, h = {10000, 50, NAN, false};
    cr_assert_eq(buyt_stopev_cross_time(&g, &h, 30, 60), 6000);
}

/* ---- through the matcher, with GPS noise ------------------------------------------------- */

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static double noise(double amp)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((double)(rng >> 11) / 9007199254740992.0 * 2 - 1) * amp;
}

static void through_matcher(const struct street *s, double dt_s, double phase_s, struct events *e)
{
    struct buyt_matcher *m;
    cr_assert_eq(buyt_matcher_new(s->net, NULL, &m), 0);
    struct buyt_matcher_vehicle mv;
    buyt_matcher_vehicle_init(&mv, 1);
    cr_assert_eq(buyt_matcher_assign_trip(m, &mv, s->trip), 0);
    struct buyt_stopev_config cfg;
    buyt_stopev_config_default(&cfg);
    struct buyt_stopev_vehicle v;
    buyt_stopev_vehicle_init(&v);
    static struct buyt_matcher_result r;
    const struct buyt_shape *sh = &s->net->shapes[s->net->trips[s->trip].shape];
    double end = (TR.n - 1) * TRACE_DT;
    for (double t = phase_s;; t += dt_s) {
        if (t > end)
            t = end;
        int i = (int)llround(t / TRACE_DT);
        double x, y, lat, lon;
        buyt_shape_point_at(sh, TR.x[i], &x, &y, NULL);
        buyt_geo_from_xy(&s->net->frame, x + noise(3), y + noise(3), &lat, &lon);
        double speed = fmax(0, TR.v[i] + noise(0.2));
        cr_assert_eq(buyt_matcher_update(m, &mv, T0_MS + (int64_t)llround(t * 1000), lat, lon,
                                         speed, 90, &r),
                     0);
        buyt_stopev_feed(s->net, &cfg, &v, &r, collect, e);
        if (t >= end)
            break;
    }
    buyt_matcher_free(m);
}

Test(stopev, arrival_within_seconds_through_the_matcher_with_gps_noise)
{
    struct street s;
    street_make(&s, XS, 7);
    trace_make(&TR, STOP_AT, DWELL, 6, 3000);
    const double periods[] = {1, 10};
    const double bound[] = {1.0, 1.5}; /* measured: 0.34 s and 0.51 s */
    for (int p = 0; p < 2; p++) {
        struct events e = {0};
        through_matcher(&s, periods[p], 0.7, &e);
        bool all;
        double worst = worst_error_s(&s, &TR, &e, &all);
        cr_assert(all);
        cr_assert_eq(e.n, 7);
        cr_assert_leq(worst, bound[p], "every %.0f s: off by %.2f s", periods[p], worst);
        cr_assert(find(&e, 3)->passed);
        cr_assert_not(find(&e, 2)->passed);
    }
    buyt_network_free(s.net);
}

/* ---- with the matcher: trip boundaries ---------------------------------------------------- */

/* T1 east along y = 0 from A (0) to B (2000), T2 back along y = 10; one block. */
static struct buyt_network *shuttle(uint32_t *t1, uint32_t *t2)
{
    struct buyt_geo_frame tf;
    buyt_geo_frame_init(&tf, LAT0, LON0);
    struct buyt_network *net;
    cr_assert_eq(buyt_network_new(NULL, &net), 0);
    uint32_t r, se, sw, st[6];
    cr_assert_eq(buyt_network_add_route(net, "S", "S", 3, &r), 0);
    cr_assert_eq(buyt_network_add_shape(net, "E", &se), 0);
    cr_assert_eq(buyt_network_add_shape(net, "W", &sw), 0);
    for (int i = 0; i <= 20; i++) {
        double lat, lon;
        buyt_geo_from_xy(&tf, i * 100, 0, &lat, &lon);
        cr_assert_eq(buyt_network_add_shape_point(net, se, lat, lon), 0);
        buyt_geo_from_xy(&tf, 2000 - i * 100, 10, &lat, &lon);
        cr_assert_eq(buyt_network_add_shape_point(net, sw, lat, lon), 0);
    }
    const double sx[] = {0, 1000, 2000, 2000, 1000, 0}, sy[] = {-4, -4, -4, 14, 14, 14};
    for (int k = 0; k < 6; k++) {
        char id[8];
        double lat, lon;
        snprintf(id, sizeof id, "s%d", k);
        buyt_geo_from_xy(&tf, sx[k], sy[k], &lat, &lon);
        cr_assert_eq(buyt_network_add_stop(net, id, id, lat, lon, &st[k]), 0);
    }
    struct buyt_network_trip_def d = {.trip_id = "T1",
                                      .route = r,
                                      .shape = se,
                                      .block_id = "B",
                                      .direction_id = 0,
                                      .day_start_ms = DAY_MS};
    cr_assert_eq(buyt_network_add_trip(net, &d, t1), 0);
    d.trip_id = "T2";
    d.shape = sw;
    cr_assert_eq(buyt_network_add_trip(net, &d, t2), 0);
    for (int k = 0; k < 3; k++) {
        int32_t a = 8 * 3600 + k * 150, b = 8 * 3600 + 600 + k * 150;
        cr_assert_eq(buyt_network_add_stop_time(net, *t1, (uint32_t)k + 1, st[k], a, a), 0);
        cr_assert_eq(buyt_network_add_stop_time(net, *t2, (uint32_t)k + 1, st[k + 3], b, b), 0);
    }
    cr_assert_eq(buyt_network_finish(net), 0);
    return net;
}

/* Drives the trace of `tr` (x along a shape) from t0, a fix a second, through matcher and
 * detector. */
static void drive_trace(const struct buyt_network *net, struct buyt_matcher *m,
                        struct buyt_matcher_vehicle *mv, struct buyt_stopev_vehicle *v,
                        uint32_t shape, const struct trace *tr, int64_t t0_ms, struct events *e)
{
    struct buyt_stopev_config cfg;
    buyt_stopev_config_default(&cfg);
    static struct buyt_matcher_result r;
    for (int i = 0; i < tr->n; i += 100) {
        double x, y, h, lat, lon;
        buyt_shape_point_at(&net->shapes[shape], tr->x[i], &x, &y, &h);
        buyt_geo_from_xy(&net->frame, x + noise(2), y + noise(2), &lat, &lon);
        cr_assert_eq(buyt_matcher_update(m, mv, t0_ms + i * 10, lat, lon, tr->v[i], h, &r), 0);
        buyt_stopev_feed(net, &cfg, v, &r, collect, e);
    }
}

Test(stopev, block_chain_gives_terminal_arrival_then_departure)
{
    uint32_t t1, t2;
    struct buyt_network *net = shuttle(&t1, &t2);
    struct buyt_matcher *m;
    cr_assert_eq(buyt_matcher_new(net, NULL, &m), 0);
    struct buyt_matcher_vehicle mv;
    buyt_matcher_vehicle_init(&mv, 1);
    struct buyt_stopev_vehicle v;
    buyt_stopev_vehicle_init(&v);
    struct events e = {0};
    /* Out: waits 60 s at A, stops 20 s at 1000, ends at B and waits there 5 minutes. */
    const double out_at[] = {0, 1000, 2000}, out_dw[] = {60, 20, 300};
    trace_make(&TR, out_at, out_dw, 3, 2000);
    drive_trace(net, m, &mv, &v, net->trips[t1].shape, &TR, T0_MS, &e);
    int64_t arrive_b = truth_at(&TR, 2000 - 30), back_t0 = T0_MS + (TR.n - 1) * 10 + 1000;
    cr_assert_eq(e.n, 3, "%d events on the way out", e.n);
    const struct buyt_stopev_event *a = &e.ev[0], *mid = &e.ev[1], *b = &e.ev[2];
    cr_assert_eq(a->trip, t1);
    cr_assert_eq(a->stop_index, 0);
    cr_assert_eq(a->arrival_ms, 0); /* replayed from when the bus began to move at A */
    cr_assert_leq(llabs(a->departure_ms - truth_at(&TR, 30)), 1000);
    cr_assert_eq(mid->stop_index, 1);
    cr_assert_not(mid->passed);
    cr_assert_eq(b->stop_index, 2);
    cr_assert_leq(llabs(b->arrival_ms - arrive_b), 1000);
    cr_assert_eq(b->departure_ms, 0);
    /* Back: T2 (chained) leaves B after the layover; its first stop gets the departure. */
    const double back_at[] = {0, 1000, 2000}, back_dw[] = {1, 20, 30};
    trace_make(&TR, back_at, back_dw, 3, 2000);
    drive_trace(net, m, &mv, &v, net->trips[t2].shape, &TR, back_t0, &e);
    cr_assert_eq(e.n, 6, "%d events in all", e.n);
    cr_assert_eq(e.ev[3].trip, t2);
    cr_assert_eq(e.ev[3].stop_index, 0);
    cr_assert_eq(e.ev[3].arrival_ms, 0);
    cr_assert_leq(llabs(e.ev[3].departure_ms - (back_t0 - T0_MS + truth_at(&TR, 30))), 1000);
    cr_assert_eq(e.ev[5].stop_index, 2);
    cr_assert_gt(e.ev[5].arrival_ms, 0);
    buyt_matcher_free(m);
    buyt_network_free(net);
}
