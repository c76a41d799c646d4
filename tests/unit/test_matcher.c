/* The network builder and the trip matcher, on small hand-made networks around Hanoi. */
#include "error.h"
#include "matcher.h"
#include "network.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LAT0 21.03
#define LON0 105.85
#define DAY_MS 1714496400000LL /* a service day's noon - 12 h (2024-05-01 00:00 +07) */
#define H(h, m) ((h)*3600 + (m)*60)

/* ---- building networks in metres --------------------------------------------------------- */

static struct buyt_geo_frame tf;

static void ll(double x, double y, double *lat, double *lon)
{
    buyt_geo_frame_init(&tf, LAT0, LON0);
    buyt_geo_from_xy(&tf, x, y, lat, lon);
}

static struct buyt_network *net_new(void)
{
    struct buyt_network *net;
    cr_assert_eq(buyt_network_new(NULL, &net), 0);
    return net;
}

static uint32_t route(struct buyt_network *net, const char *id)
{
    uint32_t r;
    cr_assert_eq(buyt_network_add_route(net, id, id, 3, &r), 0);
    return r;
}

/* A shape through n (x, y) points. */
static uint32_t shape(struct buyt_network *net, const char *id, const double *xy, int n)
{
    uint32_t s;
    cr_assert_eq(buyt_network_add_shape(net, id, &s), 0);
    for (int i = 0; i < n; i++) {
        double lat, lon;
        ll(xy[2 * i], xy[2 * i + 1], &lat, &lon);
        cr_assert_eq(buyt_network_add_shape_point(net, s, lat, lon), 0);
    }
    return s;
}

static uint32_t stop(struct buyt_network *net, const char *id, double x, double y)
{
    double lat, lon;
    uint32_t s;
    ll(x, y, &lat, &lon);
    cr_assert_eq(buyt_network_add_stop(net, id, id, lat, lon, &s), 0);
    return s;
}

/* A trip calling at stops[] at times[] (seconds after the day start; arrival = departure). */
static uint32_t trip(struct buyt_network *net, const char *id, uint32_t r, uint32_t sh,
                     const char *block, const uint32_t *stops, const int32_t *times, int n)
{
    struct buyt_network_trip_def d = {.trip_id = id,
                                      .route = r,
                                      .shape = sh,
                                      .block_id = block,
                                      .headsign = "H",
                                      .direction_id = 0,
                                      .day_start_ms = DAY_MS};
    uint32_t t;
    cr_assert_eq(buyt_network_add_trip(net, &d, &t), 0);
    for (int i = 0; i < n; i++)
        cr_assert_eq(buyt_network_add_stop_time(net, t, (uint32_t)(i + 1) * 10, stops[i], times[i],
                                                times[i]),
                     0);
    return t;
}

static void finish(struct buyt_network *net)
{
    cr_assert_eq(buyt_network_finish(net), 0);
}

/* ---- driving a vehicle --------------------------------------------------------------------- */

#define LOG_MAX 20000

struct sim {
    struct buyt_network *net;
    struct buyt_matcher *m;
    struct buyt_matcher_vehicle v;
    struct buyt_matcher_result r;
    int64_t t_ms;
    uint64_t rng;
    double truth_m; /* where the simulated bus is along the shape it drives */
    int n;          /* results logged */
    struct {
        int64_t t_ms;
        uint32_t trip;
        int how;
        double dist_m, truth_m;
        int32_t dev_s;
        bool off, layover, completed, stationary, assigned_now;
        uint32_t n_points;
        int64_t p0_t_ms; /* the first progress point of the result */
        double p0_dist_m;
    } log[LOG_MAX];
};

static double noise(struct sim *s, double amp) /* uniform in [-amp, amp] */
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return ((double)(s->rng >> 11) / 9007199254740992.0 * 2 - 1) * amp;
}

static struct sim *sim_new(struct buyt_network *net, uint32_t vehicle, int64_t t_ms)
{
    struct sim *s = calloc(1, sizeof *s);
    cr_assert(s);
    s->net = net;
    s->rng = 0x9E3779B97F4A7C15ull ^ vehicle;
    cr_assert_eq(buyt_matcher_new(net, NULL, &s->m), 0);
    buyt_matcher_vehicle_init(&s->v, vehicle);
    s->t_ms = t_ms;
    return s;
}

/* A second vehicle on the same matcher. */
static struct sim *sim_share(struct sim *o, uint32_t vehicle, int64_t t_ms)
{
    struct sim *s = calloc(1, sizeof *s);
    cr_assert(s);
    s->net = o->net;
    s->m = o->m;
    s->rng = 0x9E3779B97F4A7C15ull ^ vehicle;
    buyt_matcher_vehicle_init(&s->v, vehicle);
    s->t_ms = t_ms;
    return s;
}

static void sim_free(struct sim *s, bool owns_matcher)
{
    if (owns_matcher)
        buyt_matcher_free(s->m);
    free(s);
}

/* One fix at (lat, lon), at the current time, logged. */
static int fix_ll(struct sim *s, double lat, double lon, double speed, double course)
{
    int rc = buyt_matcher_update(s->m, &s->v, s->t_ms, lat, lon, speed, course, &s->r);
    if (rc == 0 && s->n < LOG_MAX) {
        s->log[s->n].t_ms = s->t_ms;
        s->log[s->n].trip = s->r.trip;
        s->log[s->n].how = s->r.how;
        s->log[s->n].dist_m = s->r.dist_m;
        s->log[s->n].truth_m = s->truth_m;
        s->log[s->n].dev_s = s->r.deviation_s;
        s->log[s->n].off = s->r.off_route;
        s->log[s->n].layover = s->r.layover;
        s->log[s->n].completed = s->r.completed;
        s->log[s->n].stationary = s->r.stationary;
        s->log[s->n].assigned_now = s->r.assigned_now;
        s->log[s->n].n_points = s->r.n_points;
        s->log[s->n].p0_t_ms = s->r.n_points ? s->r.points[0].time_ms : 0;
        s->log[s->n].p0_dist_m = s->r.n_points ? s->r.points[0].dist_m : NAN;
        s->n++;
    }
    return rc;
}

/* One fix at (x, y) in the test's metres (the frame the network was drawn in). */
static int fix(struct sim *s, double x, double y, double speed, double course)
{
    double lat, lon;
    ll(x, y, &lat, &lon);
    return fix_ll(s, lat, lon, speed, course);
}

/* Drives along shape `sh` from d0 to d1 (backwards if d1 < d0) at speed_mps, a fix every dt_s,
 * with uniform position noise of noise_m and a constant lateral offset lat_m (+ left). */
static void drive(struct sim *s, uint32_t sh, double d0, double d1, double speed_mps, double dt_s,
                  double noise_m, double lat_m)
{
    const struct buyt_shape *shp = &s->net->shapes[sh];
    double dir = d1 >= d0 ? 1 : -1, d = d0;
    for (;;) {
        double x, y, h;
        buyt_shape_point_at(shp, d, &x, &y, &h);
        double hr = h * M_PI / 180;
        x += -cos(hr) * lat_m + noise(s, noise_m); /* left of heading h is (-cos h, sin h) */
        y += sin(hr) * lat_m + noise(s, noise_m);
        double course = dir > 0 ? h : fmod(h + 180, 360);
        s->truth_m = d;
        double lat, lon;
        buyt_geo_from_xy(&s->net->frame, x, y, &lat, &lon); /* shapes are in the net's frame */
        int rc_ = fix_ll(s, lat, lon, speed_mps, course);
        cr_assert_eq(rc_, 0, "drive: rc %d at d %.1f t %lld", rc_, d, (long long)s->t_ms);
        if (dir * (d1 - d) <= 1e-9)
            break;
        d += dir * speed_mps * dt_s;
        if (dir * (d - d1) > 0)
            d = d1;
        s->t_ms += (int64_t)llround(dt_s * 1000);
    }
    s->t_ms += (int64_t)llround(dt_s * 1000);
}

/* Stands at (x, y) for duration_s, a fix every dt_s, with jitter and a speed reading up to
 * max_speed (receivers report some speed while parked). */
static void stand(struct sim *s, double x, double y, double duration_s, double dt_s,
                  double jitter_m, double max_speed)
{
    for (double t = 0; t < duration_s; t += dt_s) {
        double sp = fabs(noise(s, max_speed));
        int rc_ = fix(s, x + noise(s, jitter_m), y + noise(s, jitter_m), sp, NAN);
        cr_assert_eq(rc_, 0, "stand: rc %d at t %lld", rc_, (long long)s->t_ms);
        s->t_ms += (int64_t)llround(dt_s * 1000);
    }
}

/* The point d along shape sh, in the test's metres. */
static void point_on(struct sim *s, uint32_t sh, double d, double *x, double *y)
{
    double lat, lon;
    buyt_shape_point_at(&s->net->shapes[sh], d, x, y, NULL);
    buyt_geo_from_xy(&s->net->frame, *x, *y, &lat, &lon);
    buyt_geo_to_xy(&tf, lat, lon, x, y);
}

/* ---- the networks ------------------------------------------------------------------------- */

/* "line": a 3 km east-west street. Eastbound shape E and westbound W on the same line; stops
 * every 500 m on each side; trips every 10 min from 08:00, 75 s between stops. */
struct line {
    struct buyt_network *net;
    uint32_t r, e, w, east[6], west[6];
};

static void line_make(struct line *l, bool with_west)
{
    l->net = net_new();
    l->r = route(l->net, "R1");
    double ep[62], wp[62];
    for (int i = 0; i <= 30; i++) { /* a vertex every 100 m */
        ep[2 * i] = i * 100, ep[2 * i + 1] = 0;
        wp[2 * i] = 3000 - i * 100, wp[2 * i + 1] = 0;
    }
    l->e = shape(l->net, "E", ep, 31);
    l->w = with_west ? shape(l->net, "W", wp, 31) : 0;
    uint32_t se[7], sw[7];
    int32_t tm[7];
    char id[32];
    for (int k = 0; k <= 6; k++) {
        snprintf(id, sizeof id, "E%d", k);
        se[k] = stop(l->net, id, k * 500, -6);
        snprintf(id, sizeof id, "W%d", k);
        sw[k] = stop(l->net, id, 3000 - k * 500, 6);
    }
    for (int i = 0; i < 6; i++) {
        for (int k = 0; k <= 6; k++)
            tm[k] = H(8, 0) + 600 * i + 75 * k;
        snprintf(id, sizeof id, "E-%d", i);
        l->east[i] = trip(l->net, id, l->r, l->e, NULL, se, tm, 7);
        if (with_west) {
            snprintf(id, sizeof id, "W-%d", i);
            l->west[i] = trip(l->net, id, l->r, l->w, NULL, sw, tm, 7);
        }
    }
    finish(l->net);
}

/* ---- network ------------------------------------------------------------------------------ */

Test(network, projects_loop_stops_monotonically)
{
    /* A lollipop: out along y = 0, round a block, back along the same line to the start. */
    struct buyt_network *net = net_new();
    uint32_t r = route(net, "L");
    double xy[] = {0, 0, 1000, 0, 1000, 300, 700, 300, 700, 0, 0, 0};
    uint32_t sh = shape(net, "loop", xy, 6);
    uint32_t st[] = {stop(net, "T", 0, 0),      stop(net, "O1", 300, -5),
                     stop(net, "O2", 600, -5),  stop(net, "L1", 1005, 150),
                     stop(net, "L2", 850, 305), stop(net, "R1", 400, 5),
                     stop(net, "R2", 150, 5),   0};
    st[7] = st[0];
    int32_t tm[] = {0, 60, 120, 200, 260, 330, 380, 420};
    uint32_t t = trip(net, "loop-1", r, sh, NULL, st, tm, 8);
    finish(net);
    double expect[] = {0, 300, 600, 1150, 1450, 2200, 2450, 2600};
    for (int k = 0; k < 8; k++)
        cr_assert_float_eq(buyt_network_trip_stop_dist(net, t, (uint32_t)k), expect[k], 0.5,
                           "stop %d at %.1f", k, buyt_network_trip_stop_dist(net, t, (uint32_t)k));
    cr_assert_eq(net->stats.stops_out_of_order, 0);
    buyt_network_free(net);
}

Test(network, interpolates_blank_times_by_distance)
{
    struct buyt_network *net = net_new();
    uint32_t r = route(net, "R");
    double xy[] = {0, 0, 2000, 0};
    uint32_t sh = shape(net, "s", xy, 2);
    uint32_t a = stop(net, "a", 0, 0), b = stop(net, "b", 500, 0), c = stop(net, "c", 1500, 0),
             d = stop(net, "d", 2000, 0);
    struct buyt_network_trip_def def = {
        .trip_id = "t", .route = r, .shape = sh, .direction_id = 1, .day_start_ms = DAY_MS};
    uint32_t t;
    cr_assert_eq(buyt_network_add_trip(net, &def, &t), 0);
    /* Rows out of order; b and c blank; d has only a departure. */
    cr_assert_eq(buyt_network_add_stop_time(net, t, 4, d, BUYT_NETWORK_NO_TIME, 400), 0);
    cr_assert_eq(buyt_network_add_stop_time(net, t, 1, a, 0, 0), 0);
    cr_assert_eq(
        buyt_network_add_stop_time(net, t, 3, c, BUYT_NETWORK_NO_TIME, BUYT_NETWORK_NO_TIME), 0);
    cr_assert_eq(
        buyt_network_add_stop_time(net, t, 2, b, BUYT_NETWORK_NO_TIME, BUYT_NETWORK_NO_TIME), 0);
    finish(net);
    const struct buyt_network_time *tm = &net->times[net->trips[t].first_time];
    cr_assert_eq(tm[1].arrival_s, 100);
    cr_assert_eq(tm[2].arrival_s, 300);
    cr_assert_eq(tm[3].arrival_s, 400);
    cr_assert_eq(tm[2].stop_sequence, 3);
    cr_assert_eq(net->stats.times_interpolated, 2);
    cr_assert_eq(net->trips[t].start_s, 0);
    cr_assert_eq(net->trips[t].end_s, 400);
    cr_assert_eq(net->trips[t].direction, 1);
    buyt_network_free(net);
}

Test(network, schedule_time_at_a_distance_and_dwell_window)
{
    struct buyt_network *net = net_new();
    uint32_t r = route(net, "R");
    double xy[] = {0, 0, 2000, 0};
    uint32_t sh = shape(net, "s", xy, 2);
    uint32_t a = stop(net, "a", 0, 0), b = stop(net, "b", 1000, 0), c = stop(net, "c", 2000, 0);
    struct buyt_network_trip_def def = {
        .trip_id = "t", .route = r, .shape = sh, .direction_id = -1, .day_start_ms = DAY_MS};
    uint32_t t;
    cr_assert_eq(buyt_network_add_trip(net, &def, &t), 0);
    cr_assert_eq(buyt_network_add_stop_time(net, t, 1, a, 100, 100), 0);
    cr_assert_eq(buyt_network_add_stop_time(net, t, 2, b, 200, 260), 0); /* 60 s dwell */
    cr_assert_eq(buyt_network_add_stop_time(net, t, 3, c, 360, 360), 0);
    finish(net);
    double w;
    cr_assert_float_eq(buyt_network_trip_time_at(net, t, 500, 30, &w), 150, 1e-9);
    cr_assert_float_eq(w, 0, 1e-9);
    cr_assert_float_eq(buyt_network_trip_time_at(net, t, 990, 30, &w), 200, 1e-9);
    cr_assert_float_eq(w, 60, 1e-9);
    cr_assert_float_eq(buyt_network_trip_time_at(net, t, 1500, 30, &w), 310, 1e-9);
    cr_assert_float_eq(buyt_network_trip_time_at(net, t, -50, 30, NULL), 100, 1e-9);
    cr_assert_eq(buyt_network_trip_next_stop(net, t, 990, 30), 1);
    cr_assert_eq(buyt_network_trip_next_stop(net, t, 1029, 30), 1);
    cr_assert_eq(buyt_network_trip_next_stop(net, t, 1031, 30), 2);
    cr_assert_eq(buyt_network_trip_next_stop(net, t, 2100, 30), 3);
    buyt_network_free(net);
}

Test(network, derives_a_shape_from_stops_when_the_feed_has_none)
{
    struct buyt_network *net = net_new();
    uint32_t r = route(net, "R");
    uint32_t st[] = {stop(net, "a", 0, 0), stop(net, "b", 300, 400), stop(net, "c", 300, 1000)};
    int32_t tm[] = {0, 100, 200};
    uint32_t t1 = trip(net, "t1", r, BUYT_NETWORK_NONE, NULL, st, tm, 3);
    uint32_t t2 = trip(net, "t2", r, BUYT_NETWORK_NONE, NULL, st, tm, 3);
    finish(net);
    cr_assert_eq(net->stats.shapes_derived, 1);
    cr_assert_eq(net->trips[t1].shape, net->trips[t2].shape);
    cr_assert_eq(net->trips[t1].pattern, net->trips[t2].pattern);
    cr_assert_eq(net->n_patterns, 1);
    cr_assert_float_eq(buyt_network_trip_stop_dist(net, t1, 1), 500, 0.5);
    cr_assert_float_eq(buyt_network_trip_stop_dist(net, t1, 2), 1100, 0.5);
    cr_assert_str_eq(net->shape_ids[net->trips[t1].shape], "");
    buyt_network_free(net);
}

Test(network, chains_block_trips_by_start_time_within_a_day)
{
    struct buyt_network *net = net_new();
    uint32_t r = route(net, "R");
    double xy[] = {0, 0, 1000, 0};
    uint32_t sh = shape(net, "s", xy, 2);
    uint32_t st[] = {stop(net, "a", 0, 0), stop(net, "b", 1000, 0)};
    int32_t late[] = {H(9, 0), H(9, 5)}, early[] = {H(8, 0), H(8, 5)}, mid[] = {H(8, 30), H(8, 35)};
    uint32_t t9 = trip(net, "t9", r, sh, "B1", st, late, 2);
    uint32_t t8 = trip(net, "t8", r, sh, "B1", st, early, 2);
    uint32_t other = trip(net, "x", r, sh, "B2", st, mid, 2);
    struct buyt_network_trip_def d = {.trip_id = "t8",
                                      .route = r,
                                      .shape = sh,
                                      .block_id = "B1",
                                      .direction_id = 0,
                                      .day_start_ms = DAY_MS + 86400000};
    uint32_t next_day;
    cr_assert_eq(buyt_network_add_trip(net, &d, &next_day), 0);
    cr_assert_eq(buyt_network_add_stop_time(net, next_day, 1, st[0], early[0], early[0]), 0);
    cr_assert_eq(buyt_network_add_stop_time(net, next_day, 2, st[1], early[1], early[1]), 0);
    finish(net);
    cr_assert_eq(net->trips[t8].next_in_block, t9);
    cr_assert_eq(net->trips[t9].next_in_block, BUYT_NETWORK_NONE); /* not the next day's */
    cr_assert_eq(net->trips[other].next_in_block, BUYT_NETWORK_NONE);
    cr_assert_eq(buyt_network_block_find(net, "B1"), net->trips[t8].block);
    /* The same trip_id on two days: the instance of the day asked for. */
    cr_assert_eq(buyt_network_trip_find(net, "t8", DAY_MS + H(8, 1) * 1000LL), t8);
    cr_assert_eq(buyt_network_trip_find(net, "t8", DAY_MS + 86400000 + H(8, 1) * 1000LL), next_day);
    cr_assert_eq(buyt_network_trip_find(net, "nope", DAY_MS), BUYT_NETWORK_NONE);
    /* Trips of the shape, by start. */
    uint32_t s = net->trips[t8].shape, f = net->shape_trip_first[s];
    cr_assert_eq(net->shape_trip_first[s + 1] - f, 4);
    cr_assert_eq(net->shape_trips[f], t8);
    cr_assert_eq(net->shape_trips[f + 1], other);
    cr_assert_eq(net->shape_trips[f + 2], t9);
    buyt_network_free(net);
}

/* frequencies.txt: one trip_id run every 10 min; each run is its own instance. */
Test(network, frequency_runs_are_instances_of_one_trip_id)
{
    struct buyt_network *net = net_new();
    uint32_t r = route(net, "R");
    double xy[] = {0, 0, 3000, 0};
    uint32_t sh = shape(net, "s", xy, 2);
    uint32_t st[] = {stop(net, "a", 0, 0), stop(net, "b", 3000, 0)};
    struct buyt_network_trip_def d = {.trip_id = "f", .route = r, .shape = sh,
                                      .direction_id = 0, .day_start_ms = DAY_MS,
                                      .frequency_run = true};
    uint32_t run[3];
    for (int i = 0; i < 3; i++) {
        d.run_start_s = H(8, 10 * i);
        d.headway_based = i == 2;
        cr_assert_eq(buyt_network_add_trip(net, &d, &run[i]), 0);
        cr_assert_eq(buyt_network_add_stop_time(net, run[i], 1, st[0], d.run_start_s,
                                                d.run_start_s), 0);
        cr_assert_eq(buyt_network_add_stop_time(net, run[i], 2, st[1], d.run_start_s + 1800,
                                                d.run_start_s + 1800), 0);
    }
    d.run_start_s = H(8, 10);
    cr_assert_eq(buyt_network_add_trip(net, &d, NULL), BUYT_EINVAL, "a run added twice");
    d.run_start_s = -5;
    cr_assert_eq(buyt_network_add_trip(net, &d, NULL), BUYT_EINVAL, "a negative start");
    d.frequency_run = false; /* the same trip_id as a scheduled instance is another instance */
    d.headway_based = true;  /* ignored: not a run */
    uint32_t sched;
    cr_assert_eq(buyt_network_add_trip(net, &d, &sched), 0);
    cr_assert_eq(buyt_network_add_stop_time(net, sched, 1, st[0], H(20, 0), H(20, 0)), 0);
    cr_assert_eq(buyt_network_add_stop_time(net, sched, 2, st[1], H(20, 30), H(20, 30)), 0);
    cr_assert_eq(buyt_network_add_trip(net, &d, NULL), BUYT_EINVAL, "scheduled twice");
    finish(net);
    for (int i = 0; i < 3; i++) {
        cr_assert(net->trips[run[i]].valid);
        cr_assert_eq(net->trips[run[i]].run_start_s, H(8, 10 * i));
        cr_assert_eq(net->trips[run[i]].start_s, H(8, 10 * i));
        cr_assert_eq(net->trips[run[i]].headway_based, i == 2);
    }
    cr_assert_eq(net->trips[sched].run_start_s, BUYT_NETWORK_NOT_A_RUN);
    cr_assert_not(net->trips[sched].headway_based);
    /* Runs overlap (30 min long, every 10): a sign-in goes to the run starting nearest. */
    cr_assert_eq(buyt_network_trip_find(net, "f", DAY_MS + H(7, 50) * 1000LL), run[0]);
    cr_assert_eq(buyt_network_trip_find(net, "f", DAY_MS + H(8, 14) * 1000LL), run[1]);
    cr_assert_eq(buyt_network_trip_find(net, "f", DAY_MS + H(8, 19) * 1000LL), run[2],
                 "the run about to leave, not the one that left 9 min ago");
    cr_assert_eq(buyt_network_trip_find(net, "f", DAY_MS + H(8, 45) * 1000LL), run[2]);
    cr_assert_eq(buyt_network_trip_find(net, "f", DAY_MS + H(19, 50) * 1000LL), sched);
    cr_assert_eq(buyt_network_trip_find(net, "f", DAY_MS + H(12, 0) * 1000LL), run[2],
                 "between them: the nearest span");
    char hms[16];
    buyt_network_time_text(H(8, 5) + 7, hms);
    cr_assert_str_eq(hms, "08:05:07");
    buyt_network_time_text(H(25, 15) + 35, hms);
    cr_assert_str_eq(hms, "25:15:35");
    buyt_network_free(net);
}

Test(network, refuses_bad_input_and_marks_unusable_trips)
{
    struct buyt_network *net = net_new();
    uint32_t r = route(net, "R");
    cr_assert_eq(buyt_network_add_route(net, "R", "", 3, NULL), BUYT_EINVAL);
    cr_assert_eq(buyt_network_add_stop(net, "s", "", 91, 0, NULL), BUYT_EINVAL);
    uint32_t a = stop(net, "a", 0, 0), b = stop(net, "b", 100, 0);
    cr_assert_eq(buyt_network_add_stop(net, "a", "", 21, 105, NULL), BUYT_EINVAL);
    cr_assert_eq(buyt_network_add_shape_point(net, 7, 21, 105), BUYT_EINVAL);
    struct buyt_network_trip_def d = {
        .trip_id = "t", .route = 5, .shape = BUYT_NETWORK_NONE, .day_start_ms = DAY_MS};
    cr_assert_eq(buyt_network_add_trip(net, &d, NULL), BUYT_EINVAL); /* unknown route */
    d.route = r;
    uint32_t t, one, dup;
    cr_assert_eq(buyt_network_add_trip(net, &d, &t), 0);
    cr_assert_eq(buyt_network_add_trip(net, &d, NULL), BUYT_EINVAL); /* same trip, same day */
    cr_assert_eq(buyt_network_add_stop_time(net, t, 1, a, BUYT_NETWORK_NO_TIME, 0), 0);
    cr_assert_eq(
        buyt_network_add_stop_time(net, t, 2, b, BUYT_NETWORK_NO_TIME, BUYT_NETWORK_NO_TIME),
        0); /* no last time */
    d.trip_id = "one";
    cr_assert_eq(buyt_network_add_trip(net, &d, &one), 0);
    cr_assert_eq(buyt_network_add_stop_time(net, one, 1, a, 0, 0), 0);
    d.trip_id = "dup";
    cr_assert_eq(buyt_network_add_trip(net, &d, &dup), 0);
    cr_assert_eq(buyt_network_add_stop_time(net, dup, 1, a, 0, 0), 0);
    cr_assert_eq(buyt_network_add_stop_time(net, dup, 1, b, 9, 9), 0);
    cr_assert_eq(buyt_network_add_stop_time(net, 99, 1, a, 0, 0), BUYT_EINVAL);
    finish(net);
    cr_assert_not(net->trips[t].valid);
    cr_assert_not(net->trips[one].valid);
    cr_assert_not(net->trips[dup].valid);
    cr_assert_eq(net->stats.trips_invalid, 3);
    cr_assert_eq(buyt_network_add_route(net, "R2", "", 3, NULL), BUYT_EINVAL); /* finished */
    cr_assert_eq(buyt_network_finish(net), BUYT_EINVAL);
    cr_assert_gt(buyt_network_bytes(net), 0);
    buyt_network_free(net);
    buyt_network_free(NULL);
}

/* ---- matcher ------------------------------------------------------------------------------- */

Test(matcher, vehicle_state_is_small)
{
    cr_assert_leq(sizeof(struct buyt_matcher_vehicle), 2048, "%zu bytes",
                  sizeof(struct buyt_matcher_vehicle));
}

Test(matcher, progress_is_monotone_under_jitter)
{
    struct line l;
    line_make(&l, false);
    struct sim *s = sim_new(l.net, 1, DAY_MS + H(8, 0) * 1000LL);
    cr_assert_eq(buyt_matcher_assign_trip(s->m, &s->v, l.east[0]), 0);
    drive(s, l.e, 0, 1500, 8, 1, 10, 0); /* +-10 m noise in x and y */
    double x, y;
    point_on(s, l.e, 1500, &x, &y);
    stand(s, x, y, 60, 1, 10, 0.3);               /* a minute standing with the same jitter */
    cr_assert_eq(fix(s, x - 25, y, 0.2, NAN), 0); /* one fix 25 m behind */
    s->t_ms += 1000;
    drive(s, l.e, 1500, 2900, 8, 1, 10, 0);
    double prev = -1, worst = 0;
    for (int i = 0; i < s->n; i++) {
        cr_assert_eq(s->log[i].trip, l.east[0]);
        cr_assert_geq(s->log[i].dist_m, prev, "fix %d went back from %.1f to %.1f", i, prev,
                      s->log[i].dist_m);
        prev = s->log[i].dist_m;
        worst = fmax(worst, fabs(s->log[i].dist_m - s->log[i].truth_m));
        cr_assert_not(s->log[i].off);
    }
    cr_assert_leq(worst, 15, "progress strayed %.1f m from the truth", worst);
    /* Standing still, jitter did not creep the progress forward. */
    int stood = 0;
    for (int i = 0; i < s->n; i++)
        if (s->log[i].stationary && s->log[i].truth_m == 1500) {
            cr_assert_leq(s->log[i].dist_m, 1511);
            stood++;
        }
    cr_assert_geq(stood, 55);
    sim_free(s, true);
    buyt_network_free(l.net);
}

Test(matcher, parked_bus_is_not_assigned_far_away)
{
    struct line l;
    line_make(&l, true);
    /* Parked 10 km north of the line for an hour while its trips run, jittering and reading a
     * spurious speed up to 2 m/s. */
    struct sim *s = sim_new(l.net, 1, DAY_MS + H(7, 50) * 1000LL);
    stand(s, 1500, 10000, 3600, 10, 15, 2);
    for (int i = 0; i < s->n; i++)
        cr_assert_eq(s->log[i].trip, BUYT_NETWORK_NONE);
    /* A glitch puts one fix on the route, then back at the depot: still nothing. */
    cr_assert_eq(fix(s, 1500, 0, 8, 90), BUYT_ERANGE); /* 10 km in 10 s: an outlier */
    s->t_ms += 10000;
    stand(s, 1500, 10000, 60, 10, 15, 2);
    cr_assert_eq(s->r.trip, BUYT_NETWORK_NONE);
    sim_free(s, true);
    buyt_network_free(l.net);
}

Test(matcher, parked_bus_on_the_route_waits_until_it_moves)
{
    struct line l;
    line_make(&l, true);
    /* Parked beside stop E3 (x = 1500) for 30 min as trips go by. */
    struct sim *s = sim_new(l.net, 1, DAY_MS + H(8, 10) * 1000LL);
    stand(s, 1500, -8, 1800, 5, 15, 2);
    for (int i = 0; i < s->n; i++)
        cr_assert_eq(s->log[i].trip, BUYT_NETWORK_NONE, "assigned while parked at fix %d", i);
    /* Now 08:40: trip E-4 (08:40 from x = 0) is due at x = 1500 at 08:43:45; leave then. */
    s->t_ms = DAY_MS + (H(8, 43) + 45) * 1000LL;
    int before = s->n;
    drive(s, l.e, 1500, 2500, 6.67, 1, 3, 0);
    int assigned_at = -1;
    for (int i = before; i < s->n; i++) {
        if (s->log[i].trip != BUYT_NETWORK_NONE && assigned_at < 0)
            assigned_at = i;
        if (assigned_at >= 0)
            cr_assert_eq(s->log[i].trip, l.east[4], "fix %d: trip %u, dev %d", i, s->log[i].trip,
                         s->log[i].dev_s);
    }
    cr_assert_geq(assigned_at, 0);
    double moved = s->log[assigned_at].truth_m - 1500;
    cr_assert_geq(moved, 100, "assigned after %.0f m", moved);
    cr_assert_leq(moved, 200, "assigned only after %.0f m", moved);
    cr_assert_eq(s->log[assigned_at].how, BUYT_MATCHER_HOW_AUTO);
    cr_assert_leq(abs(s->r.deviation_s), 20);
    sim_free(s, true);
    buyt_network_free(l.net);
}

/* Two routes leave terminus T (0, 0) together, share 400 m of road east, then A turns north
 * and B south. Both have a trip at 08:00. */
struct fork {
    struct buyt_network *net;
    uint32_t sa, sb, ta, tb;
};

static void fork_make(struct fork *f)
{
    f->net = net_new();
    uint32_t ra = route(f->net, "A"), rb = route(f->net, "B");
    double a[] = {0, 0, 400, 0, 400, 1500}, b[] = {0, 0, 400, 0, 400, -1500};
    f->sa = shape(f->net, "A", a, 3);
    f->sb = shape(f->net, "B", b, 3);
    uint32_t t = stop(f->net, "T", 0, -5), sh = stop(f->net, "S", 200, -5);
    uint32_t sta[] = {t, sh, stop(f->net, "A1", 405, 600), stop(f->net, "A2", 405, 1400)};
    uint32_t stb[] = {t, sh, stop(f->net, "B1", 395, -600), stop(f->net, "B2", 395, -1400)};
    int32_t tm[] = {H(8, 0), H(8, 0) + 30, H(8, 1) + 30, H(8, 3)};
    f->ta = trip(f->net, "A-1", ra, f->sa, NULL, sta, tm, 4);
    f->tb = trip(f->net, "B-1", rb, f->sb, NULL, stb, tm, 4);
    finish(f->net);
}

static void shared_terminus_case(bool drive_a)
{
    struct fork f;
    fork_make(&f);
    struct sim *s = sim_new(f.net, 1, DAY_MS + H(7, 55) * 1000LL);
    stand(s, 0, -3, 300, 5, 5, 0.5); /* waits at T until 08:00 */
    int before = s->n;
    drive(s, drive_a ? f.sa : f.sb, 0, 1800, 8, 1, 3, 0);
    uint32_t want = drive_a ? f.ta : f.tb, other = drive_a ? f.tb : f.ta;
    int first = -1;
    for (int i = 0; i < s->n; i++) {
        cr_assert_neq(s->log[i].trip, other, "assigned the other route at fix %d", i);
        if (s->log[i].trip == want && first < 0)
            first = i;
    }
    cr_assert_geq(first, before);
    /* Not decided on the shared road; decided soon after the fork. */
    cr_assert_gt(s->log[first].truth_m, 400, "decided at %.0f m", s->log[first].truth_m);
    cr_assert_lt(s->log[first].truth_m, 600, "decided only at %.0f m", s->log[first].truth_m);
    /* The replayed start left the progress right. */
    cr_assert_leq(fabs(s->log[first].dist_m - s->log[first].truth_m), 10);
    cr_assert_eq(s->r.trip, want);
    sim_free(s, true);
    buyt_network_free(f.net);
}

Test(matcher, shared_terminus_picks_the_route_the_bus_drives)
{
    shared_terminus_case(true);
    shared_terminus_case(false);
}

/* A lollipop loop from T: out along y = 0, round a block, back along exactly the same line. */
struct loop {
    struct buyt_network *net;
    uint32_t sh, t;
};

static void loop_make(struct loop *l)
{
    l->net = net_new();
    uint32_t r = route(l->net, "L");
    double xy[] = {0, 0, 1000, 0, 1000, 300, 700, 300, 700, 0, 0, 0};
    l->sh = shape(l->net, "loop", xy, 6);
    uint32_t st[] = {stop(l->net, "T", 0, 0),      stop(l->net, "O1", 300, -5),
                     stop(l->net, "O2", 600, -5),  stop(l->net, "L1", 1005, 150),
                     stop(l->net, "L2", 850, 305), stop(l->net, "R1", 400, 5),
                     stop(l->net, "R2", 150, 5),   0};
    st[7] = st[0];
    int32_t tm[8];
    double d[] = {0, 300, 600, 1150, 1450, 2200, 2450, 2600};
    for (int k = 0; k < 8; k++)
        tm[k] = H(8, 0) + (int32_t)lround(d[k] / 8);
    l->t = trip(l->net, "loop-1", r, l->sh, NULL, st, tm, 8);
    finish(l->net);
}

Test(matcher, loop_route_direction_is_kept)
{
    struct loop l;
    loop_make(&l);
    struct sim *s = sim_new(l.net, 1, DAY_MS + H(7, 58) * 1000LL);
    stand(s, 0, 2, 120, 5, 3, 0.3);
    drive(s, l.sh, 0, 2600, 8, 1, 4, 0);
    stand(s, 0, 2, 120, 5, 3, 0.3);
    int assigned = 0;
    double prev = 0;
    for (int i = 0; i < s->n; i++) {
        if (s->log[i].trip == BUYT_NETWORK_NONE) {
            cr_assert_eq(assigned, 0, "lost the trip at fix %d", i);
            continue;
        }
        cr_assert_eq(s->log[i].trip, l.t);
        assigned++;
        cr_assert_geq(s->log[i].dist_m, prev);
        prev = s->log[i].dist_m;
        if (!s->log[i].completed && s->log[i].truth_m > 0)
            cr_assert_leq(fabs(s->log[i].dist_m - s->log[i].truth_m), 15,
                          "fix %d: %.0f m along, truth %.0f", i, s->log[i].dist_m,
                          s->log[i].truth_m);
    }
    cr_assert_gt(assigned, 300);
    /* Back at T: the end of the loop, not its start; the bus is on layover. */
    cr_assert(s->r.completed);
    cr_assert_geq(s->r.dist_m, 2570);
    cr_assert(s->r.layover);
    sim_free(s, true);
    buyt_network_free(l.net);
}

Test(matcher, explicit_trip_on_a_loop_is_placed_at_its_start)
{
    struct loop l;
    loop_make(&l);
    struct sim *s = sim_new(l.net, 1, DAY_MS + H(7, 50) * 1000LL);
    cr_assert_eq(buyt_matcher_assign_trip(s->m, &s->v, l.t), 0);
    stand(s, 0, 2, 60, 5, 3, 0.3);
    cr_assert_eq(s->r.trip, l.t);
    cr_assert_eq(s->r.how, BUYT_MATCHER_HOW_EXPLICIT);
    cr_assert_leq(s->r.dist_m, 10);
    cr_assert(s->r.layover);
    cr_assert_eq(s->r.deviation_s, 0); /* waiting before departure is on time */
    cr_assert_eq(s->r.next_stop, 0);
    sim_free(s, true);
    buyt_network_free(l.net);
}

Test(matcher, direction_follows_heading_on_a_two_way_street)
{
    struct line l;
    line_make(&l, true);
    /* Westbound from x = 3000 at 08:20 like trip W-2: both directions share the road. */
    struct sim *s = sim_new(l.net, 1, DAY_MS + H(8, 20) * 1000LL);
    drive(s, l.w, 0, 2500, 6.67, 1, 3, 0);
    for (int i = 0; i < s->n; i++)
        cr_assert(s->log[i].trip == BUYT_NETWORK_NONE || s->log[i].trip == l.west[2],
                  "fix %d: trip %u", i, s->log[i].trip);
    cr_assert_eq(s->r.trip, l.west[2]);
    sim_free(s, true);
    buyt_network_free(l.net);
}

/* A shuttle: A (0, 0) to B (2000, 0) eastbound on y = 0, back on y = 10; T1 08:00-08:05 east,
 * T2 08:10-08:15 west, in one block when `block` is set. */
struct shuttle {
    struct buyt_network *net;
    uint32_t se, sw, t1, t2;
};

static void shuttle_make(struct shuttle *sh, const char *block)
{
    sh->net = net_new();
    uint32_t r = route(sh->net, "S");
    double e[] = {0, 0, 1000, 0, 2000, 0}, w[] = {2000, 10, 1000, 10, 0, 10};
    sh->se = shape(sh->net, "E", e, 3);
    sh->sw = shape(sh->net, "W", w, 3);
    uint32_t ste[] = {stop(sh->net, "A1", 0, -5), stop(sh->net, "M1", 1000, -5),
                      stop(sh->net, "B1", 2000, -5)};
    uint32_t stw[] = {stop(sh->net, "B2", 2000, 15), stop(sh->net, "M2", 1000, 15),
                      stop(sh->net, "A2", 0, 15)};
    int32_t t1[] = {H(8, 0), H(8, 2) + 30, H(8, 5)}, t2[] = {H(8, 10), H(8, 12) + 30, H(8, 15)};
    sh->t1 = trip(sh->net, "T1", r, sh->se, block, ste, t1, 3);
    sh->t2 = trip(sh->net, "T2", r, sh->sw, block, stw, t2, 3);
    finish(sh->net);
}

Test(matcher, reassigns_to_next_trip_of_block)
{
    struct shuttle sh;
    shuttle_make(&sh, "BLK");
    struct sim *s = sim_new(sh.net, 1, DAY_MS + H(8, 0) * 1000LL);
    drive(s, sh.se, 0, 2000, 8, 1, 3, 0); /* arrives 08:04:10 */
    int end = 0;
    while (end < s->n && !s->log[end].completed)
        end++;
    cr_assert_lt(end, s->n);
    cr_assert_eq(s->log[end].trip, sh.t1);
    cr_assert_geq(s->log[end].truth_m, 1960);
    /* From the next fix on, the block's next trip. */
    cr_assert_eq(s->log[end + 1].trip, sh.t2);
    cr_assert_eq(s->log[end + 1].how, BUYT_MATCHER_HOW_BLOCK);
    stand(s, 2000, 5, 300, 5, 3, 0.3); /* layover to 08:09:10 */
    int i = s->n - 1;
    cr_assert_eq(s->log[i].trip, sh.t2);
    cr_assert_eq(s->log[i].how, BUYT_MATCHER_HOW_BLOCK);
    cr_assert(s->log[i].layover);
    s->t_ms = DAY_MS + H(8, 10) * 1000LL;
    drive(s, sh.sw, 0, 2000, 8, 1, 3, 0);
    for (int k = i; k < s->n; k++)
        cr_assert_eq(s->log[k].trip, sh.t2);
    cr_assert(s->r.completed);
    cr_assert_geq(s->r.dist_m, 1970);
    cr_assert_leq(abs(s->r.deviation_s), 60);
    sim_free(s, true);
    buyt_network_free(sh.net);
}

Test(matcher, reassigns_to_the_next_trip_without_a_block)
{
    struct shuttle sh;
    shuttle_make(&sh, NULL);
    struct sim *s = sim_new(sh.net, 1, DAY_MS + H(8, 0) * 1000LL);
    drive(s, sh.se, 0, 2000, 8, 1, 3, 0);
    stand(s, 2000, 5, 300, 5, 3, 0.3);
    cr_assert_eq(s->r.trip, sh.t1); /* still reported, finished, while it waits at B */
    cr_assert(s->r.completed);
    cr_assert(s->r.layover);
    s->t_ms = DAY_MS + H(8, 10) * 1000LL;
    int before = s->n;
    drive(s, sh.sw, 0, 600, 8, 1, 3, 0);
    cr_assert_eq(s->r.trip, sh.t2);
    cr_assert_eq(s->r.how, BUYT_MATCHER_HOW_AUTO);
    for (int k = before; k < s->n; k++)
        if (s->log[k].trip == sh.t2)
            cr_assert_geq(s->log[k].truth_m, 100);
    sim_free(s, true);
    buyt_network_free(sh.net);
}

Test(matcher, explicit_trip_ends_then_its_route_is_followed)
{
    struct shuttle sh;
    shuttle_make(&sh, NULL);
    struct sim *s = sim_new(sh.net, 1, DAY_MS + H(8, 0) * 1000LL);
    cr_assert_eq(buyt_matcher_assign_trip(s->m, &s->v, sh.t1), 0);
    drive(s, sh.se, 0, 2000, 8, 1, 3, 0);
    cr_assert(s->r.completed);
    stand(s, 2000, 5, 300, 5, 3, 0.3);
    s->t_ms = DAY_MS + H(8, 10) * 1000LL;
    drive(s, sh.sw, 0, 600, 8, 1, 3, 0);
    cr_assert_eq(s->r.trip, sh.t2);
    cr_assert_eq(s->r.how, BUYT_MATCHER_HOW_SIGNIN); /* chosen among the driver's route */
    sim_free(s, true);
    buyt_network_free(sh.net);
}

Test(matcher, long_first_stop_dwell_keeps_assignment)
{
    struct shuttle sh;
    shuttle_make(&sh, "BLK");
    struct sim *s = sim_new(sh.net, 1, DAY_MS + H(8, 0) * 1000LL);
    drive(s, sh.se, 0, 2000, 8, 1, 3, 0);
    int arrived = s->n;
    /* 18 minutes at B, the first stop of T2 (due out at 08:10): 12 minutes late at the end. */
    stand(s, 2000, 5, 18 * 60, 5, 8, 0.8);
    for (int k = arrived + 1; k < s->n; k++) {
        cr_assert_eq(s->log[k].trip, sh.t2, "dropped at fix %d", k);
        cr_assert_eq(s->log[k].how, BUYT_MATCHER_HOW_BLOCK);
        cr_assert(s->log[k].layover);
        cr_assert_leq(s->log[k].dist_m, 20);
        int64_t late_s = (s->log[k].t_ms - (DAY_MS + H(8, 10) * 1000LL)) / 1000;
        cr_assert_leq(abs(s->log[k].dev_s - (int32_t)(late_s > 0 ? late_s : 0)), 1);
    }
    cr_assert_geq(s->r.deviation_s, 11 * 60);
    drive(s, sh.sw, 0, 1500, 8, 1, 3, 0);
    cr_assert_eq(s->r.trip, sh.t2);
    cr_assert_float_eq(s->r.dist_m, 1500, 10);
    cr_assert_geq(s->r.deviation_s, 11 * 60);
    sim_free(s, true);
    buyt_network_free(sh.net);
}

Test(matcher, long_first_stop_dwell_keeps_explicit_assignment)
{
    struct shuttle sh;
    shuttle_make(&sh, NULL);
    struct sim *s = sim_new(sh.net, 1, DAY_MS + H(7, 50) * 1000LL);
    cr_assert_eq(buyt_matcher_assign_trip(s->m, &s->v, sh.t1), 0);
    stand(s, 0, -3, 25 * 60, 10, 8, 0.8); /* signed in at 07:50, leaves at 08:15 */
    for (int k = 0; k < s->n; k++) {
        cr_assert_eq(s->log[k].trip, sh.t1);
        cr_assert(s->log[k].layover);
    }
    cr_assert_geq(s->r.deviation_s, 14 * 60);
    drive(s, sh.se, 0, 1000, 8, 1, 3, 0);
    cr_assert_eq(s->r.trip, sh.t1);
    cr_assert_eq(s->r.how, BUYT_MATCHER_HOW_EXPLICIT);
    cr_assert_float_eq(s->r.dist_m, 1000, 10);
    sim_free(s, true);
    buyt_network_free(sh.net);
}

Test(matcher, detects_off_route_after_consecutive_fixes)
{
    struct line l;
    line_make(&l, false);
    struct sim *s = sim_new(l.net, 1, DAY_MS + H(8, 0) * 1000LL);
    cr_assert_eq(buyt_matcher_assign_trip(s->m, &s->v, l.east[0]), 0);
    drive(s, l.e, 0, 1000, 8, 1, 2, 0);
    /* One wild fix 75 m north is not a detour. */
    s->t_ms += 1000;
    cr_assert_eq(fix(s, 1008, 75, 8, 90), 0);
    cr_assert_not(s->r.off_route);
    cr_assert_eq(s->r.n_points, 0);
    s->t_ms += 1000;
    drive(s, l.e, 1016, 1100, 8, 1, 2, 0);
    cr_assert_not(s->r.off_route);
    /* Detour: 200 m north, 700 m east, back south to the line at x = 1800. */
    double x = 1100, y = 0;
    int n_off = 0;
    for (y = 8; y <= 200; y += 8, s->t_ms += 1000) {
        cr_assert_eq(fix(s, x, y, 8, 0), 0);
        if (y > 60) {
            n_off++;
            cr_assert_eq(s->r.off_route, n_off >= 3, "at y = %.0f", y);
        }
        cr_assert_leq(s->r.dist_m, 1110);
        cr_assert_eq(s->r.n_points, y > 60 ? 0 : 1);
    }
    for (; x <= 1800; x += 8, s->t_ms += 1000) {
        cr_assert_eq(fix(s, x, 200, 8, 90), 0);
        cr_assert(s->r.off_route);
        cr_assert_leq(s->r.dist_m, 1110);
    }
    int on = 0;
    for (y = 192; y >= 0; y -= 8, s->t_ms += 1000) {
        cr_assert_eq(fix(s, 1800, y, 8, 180), 0);
        if (y <= 60)
            on++;
        cr_assert_eq(s->r.off_route, on < 2, "at y = %.0f", y);
    }
    cr_assert_float_eq(s->r.dist_m, 1800, 5);
    cr_assert_eq(s->r.trip, l.east[0]);
    sim_free(s, true);
    buyt_network_free(l.net);
}

Test(matcher, auto_assignment_is_dropped_after_long_off_route)
{
    struct line l;
    line_make(&l, false);
    struct sim *s = sim_new(l.net, 1, DAY_MS + H(8, 0) * 1000LL);
    drive(s, l.e, 0, 800, 6.67, 1, 3, 0);
    cr_assert_eq(s->r.trip, l.east[0]);
    for (double y = 10; y <= 1000; y += 10, s->t_ms += 1000)
        cr_assert_eq(fix(s, 800, y, 10, 0), 0);
    cr_assert_eq(s->r.trip, l.east[0]); /* a detour keeps it for a while */
    cr_assert(s->r.off_route);
    stand(s, 800, 1000, 16 * 60, 10, 5, 0.3);
    cr_assert_eq(s->r.trip, BUYT_NETWORK_NONE);
    sim_free(s, true);
    buyt_network_free(l.net);
}

Test(matcher, schedule_deviation_is_interpolated_between_stops)
{
    struct line l;
    line_make(&l, false);
    /* Trip E-0: stop 1 (x = 500) at 08:01:15, stop 2 (x = 1000) at 08:02:30. */
    struct sim *s = sim_new(l.net, 1, DAY_MS + H(8, 0) * 1000LL + 60000);
    cr_assert_eq(buyt_matcher_assign_trip(s->m, &s->v, l.east[0]), 0);
    cr_assert_eq(fix(s, 600, 0, 8, 90), 0);
    s->t_ms = DAY_MS + (H(8, 1) + 52) * 1000LL + 500 + 60000; /* at x = 750: 08:01:52.5 + 60 s */
    cr_assert_eq(fix(s, 750, 0, 8, 90), 0);
    cr_assert_eq(s->r.deviation_s, 60);
    cr_assert_eq(s->r.next_stop, 2);
    cr_assert_float_eq(s->r.offset_m, 0, 0.5);
    s->t_ms += 4000;
    cr_assert_eq(fix(s, 985, -3, 8, 90), 0); /* at stop 2 (within 30 m) */
    cr_assert_eq(s->r.next_stop, 2);
    s->t_ms += 4000;
    cr_assert_eq(fix(s, 1040, 0, 8, 90), 0);
    cr_assert_eq(s->r.next_stop, 3);
    /* Early: a second vehicle at x = 750 90 s before the schedule. */
    struct sim *e = sim_share(s, 2, DAY_MS + (H(8, 1) + 52) * 1000LL + 500 - 90000 - 20000);
    cr_assert_eq(buyt_matcher_assign_trip(e->m, &e->v, l.east[0]), 0);
    cr_assert_eq(fix(e, 600, 0, 8, 90), 0);
    e->t_ms += 20000;
    cr_assert_eq(fix(e, 750, 0, 8, 90), 0);
    cr_assert_eq(e->r.deviation_s, -90);
    sim_free(e, false);
    sim_free(s, true);
    buyt_network_free(l.net);
}

Test(matcher, sign_in_route_restricts_the_choice)
{
    /* Two routes share 2 km of street, then R2 turns north; same timetable. */
    struct buyt_network *net = net_new();
    uint32_t r1 = route(net, "R1"), r2 = route(net, "R2");
    double xy1[] = {0, 0, 3000, 0}, xy2[] = {0, 0, 2000, 0, 2000, 1000};
    uint32_t s1 = shape(net, "s1", xy1, 2), s2 = shape(net, "s2", xy2, 3);
    uint32_t a = stop(net, "a", 0, -5), b = stop(net, "b", 1500, -5);
    uint32_t st1[] = {a, b, stop(net, "c1", 3000, -5)}, st2[] = {a, b, stop(net, "c2", 2005, 1000)};
    int32_t tm[] = {H(8, 0), H(8, 3) + 45, H(8, 7) + 30};
    uint32_t t1 = trip(net, "t1", r1, s1, NULL, st1, tm, 3);
    uint32_t t2 = trip(net, "t2", r2, s2, NULL, st2, tm, 3);
    finish(net);
    /* Signed in to R2: decided as soon as the bus has moved. */
    struct sim *s = sim_new(net, 1, DAY_MS + H(8, 0) * 1000LL);
    cr_assert_eq(buyt_matcher_assign_route(s->m, &s->v, r2), 0);
    drive(s, s2, 0, 300, 6.67, 1, 3, 0);
    cr_assert_eq(s->r.trip, t2);
    cr_assert_eq(s->r.how, BUYT_MATCHER_HOW_SIGNIN);
    /* Without a sign-in the two stay ambiguous on the shared street until discriminate_m
     * (1000 m), then the schedule decides (a tie here: either is fine). */
    buyt_matcher_unassign(s->m, &s->v); /* frees t2 for the second vehicle */
    struct sim *o = sim_share(s, 2, DAY_MS + H(8, 0) * 1000LL);
    drive(o, s1, 0, 950, 6.67, 1, 3, 0);
    for (int i = 0; i < o->n; i++)
        cr_assert_eq(o->log[i].trip, BUYT_NETWORK_NONE);
    drive(o, s1, 956.67, 1300, 6.67, 1, 3, 0);
    cr_assert(o->r.trip == t1 || o->r.trip == t2);
    cr_assert_eq(o->r.how, BUYT_MATCHER_HOW_AUTO);
    /* The assignment replays the remembered fixes (the candidate began 150 fixes earlier,
     * more than are kept): the oldest kept one is placed where the bus was, not at 0. */
    int k = 0;
    while (!o->log[k].assigned_now)
        k++;
    cr_assert_eq(o->log[k].n_points, BUYT_MATCHER_HISTORY);
    double truth = (double)(o->log[k].p0_t_ms - (DAY_MS + H(8, 0) * 1000LL)) / 1000 * 6.67;
    cr_assert_float_eq(o->log[k].p0_dist_m, truth, 15, "%.0f m, truth %.0f m", o->log[k].p0_dist_m,
                       truth);
    sim_free(o, false);
    sim_free(s, true);
    buyt_network_free(net);
}

Test(network, merges_identical_shapes)
{
    struct buyt_network *net = net_new();
    uint32_t r = route(net, "R");
    double xy[] = {0, 0, 1000, 0, 1000, 500}, other[] = {0, 0, 1000, 0, 1000, 501};
    uint32_t s1 = shape(net, "s1", xy, 3), s2 = shape(net, "s2", xy, 3),
             s3 = shape(net, "s3", other, 3);
    uint32_t st[] = {stop(net, "a", 0, -5), stop(net, "b", 1005, 400)};
    int32_t tm[] = {0, 200};
    uint32_t t1 = trip(net, "t1", r, s1, NULL, st, tm, 2),
             t2 = trip(net, "t2", r, s2, NULL, st, tm, 2),
             t3 = trip(net, "t3", r, s3, NULL, st, tm, 2);
    finish(net);
    cr_assert_eq(net->stats.shapes_merged, 1);
    cr_assert_eq(net->trips[t1].shape, s1);
    cr_assert_eq(net->trips[t2].shape, s1);
    cr_assert_eq(net->trips[t3].shape, s3);
    cr_assert_eq(net->trips[t1].pattern, net->trips[t2].pattern);
    cr_assert_eq(net->shape_trip_first[s2 + 1] - net->shape_trip_first[s2], 0);
    cr_assert_str_eq(net->shape_ids[s2], "s2"); /* still known by its id */
    /* The copy is not in the grid: one hit per segment near the shared road. */
    struct buyt_grid_hit hits[16];
    size_t n;
    double x, y;
    buyt_shape_point_at(&net->shapes[s1], 500, &x, &y, NULL);
    cr_assert_eq(buyt_grid_query(&net->grid, x, y, 20, hits, 16, &n), 0);
    cr_assert_eq(n, 2, "%zu hits", n); /* s1 and s3 */
    buyt_network_free(net);
}

Test(matcher, a_trip_is_not_auto_assigned_to_two_vehicles)
{
    struct line l;
    line_make(&l, false);
    struct sim *a = sim_new(l.net, 1, DAY_MS + H(8, 20) * 1000LL);
    struct sim *b = sim_share(a, 2, DAY_MS + H(8, 20) * 1000LL + 30000);
    drive(a, l.e, 0, 600, 6.67, 1, 3, 0); /* trip E-2, on time */
    drive(b, l.e, 0, 600, 6.67, 1, 3, 0); /* 30 s behind it */
    cr_assert_eq(a->r.trip, l.east[2]);
    cr_assert_eq(b->r.trip, l.east[1]); /* the earlier trip, running 10.5 min late */
    cr_assert_geq(b->r.deviation_s, 600);
    sim_free(b, false);
    sim_free(a, true);
    buyt_network_free(l.net);
}

Test(matcher, retimes_to_a_better_trip_once_it_is_free)
{
    struct line l;
    line_make(&l, false);
    struct sim *a = sim_new(l.net, 1, DAY_MS + H(8, 20) * 1000LL);
    struct sim *b = sim_share(a, 2, DAY_MS + H(8, 20) * 1000LL + 30000);
    drive(a, l.e, 0, 600, 6.67, 1, 3, 0);
    drive(b, l.e, 0, 600, 6.67, 1, 3, 0);
    cr_assert_eq(b->r.trip, l.east[1]); /* E-2 is taken by a */
    buyt_matcher_unassign(a->m, &a->v); /* a signs out: E-2 is free */
    int before = b->n;
    drive(b, l.e, 606.67, 800, 6.67, 1, 3, 0);
    cr_assert_eq(b->r.trip, l.east[2]);
    cr_assert_eq(b->r.how, BUYT_MATCHER_HOW_AUTO);
    cr_assert_leq(abs(b->r.deviation_s), 60);
    int switched = before;
    while (b->log[switched].trip != l.east[2])
        switched++;
    cr_assert_leq(switched - before, 10); /* within one re-check period */
    sim_free(b, false);
    sim_free(a, true);
    buyt_network_free(l.net);
}

Test(matcher, refuses_stale_and_jumping_fixes)
{
    struct line l;
    line_make(&l, false);
    struct sim *s = sim_new(l.net, 1, DAY_MS + H(8, 0) * 1000LL);
    cr_assert_eq(buyt_matcher_assign_trip(s->m, &s->v, l.east[0]), 0);
    drive(s, l.e, 0, 200, 8, 1, 0, 0);
    double d = s->r.dist_m;
    int64_t t = s->t_ms;
    s->t_ms = t - 5000;
    cr_assert_eq(fix(s, 300, 0, 8, 90), BUYT_ERANGE); /* older than the last */
    s->t_ms = t;
    cr_assert_eq(fix(s, 2500, 0, 8, 90), BUYT_ERANGE); /* 2.3 km in a second */
    cr_assert_eq(s->r.trip, l.east[0]);
    cr_assert_float_eq(s->r.dist_m, d, 1e-6);
    cr_assert_eq(s->r.n_points, 0);
    double lat, lon;
    buyt_geo_from_xy(&l.net->frame, 0, 0, &lat, &lon);
    cr_assert_eq(buyt_matcher_update(s->m, &s->v, t + 9000, 95, lon, 1, 0, &s->r), BUYT_EINVAL);
    /* The same far place three times more: believed. */
    for (int i = 1; i <= 3; i++) {
        s->t_ms = t + i * 1000;
        cr_assert_eq(fix(s, 2500, 0, 8, 90), i < 3 ? BUYT_ERANGE : 0);
    }
    sim_free(s, true);
    buyt_network_free(l.net);
}

Test(matcher, rejects_bad_arguments)
{
    struct line l;
    line_make(&l, false);
    struct buyt_matcher *m;
    struct buyt_matcher_config c;
    buyt_matcher_config_default(&c);
    c.off_route_m = 0;
    cr_assert_eq(buyt_matcher_new(l.net, &c, &m), BUYT_EINVAL);
    struct buyt_network *unfinished = net_new();
    cr_assert_eq(buyt_matcher_new(unfinished, NULL, &m), BUYT_EINVAL);
    buyt_network_free(unfinished);
    cr_assert_eq(buyt_matcher_new(l.net, NULL, &m), 0);
    struct buyt_matcher_vehicle v;
    buyt_matcher_vehicle_init(&v, 1);
    cr_assert_eq(buyt_matcher_assign_trip(m, &v, 999), BUYT_EINVAL);
    cr_assert_eq(buyt_matcher_assign_route(m, &v, 9), BUYT_EINVAL);
    cr_assert_eq(buyt_matcher_assign_block(m, &v, 0), BUYT_EINVAL); /* no blocks */
    buyt_matcher_vehicle_reset(m, &v);
    buyt_matcher_free(m);
    buyt_matcher_free(NULL);
    buyt_network_free(l.net);
}
