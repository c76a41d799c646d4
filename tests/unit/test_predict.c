/* The predictor on a hand-made street: segment statistics, the schedule fallback, Kalman and
 * blended estimates, block chains, terminal departures, off-route and dropped vehicles. */
#include "error.h"
#include "geo.h"
#include "network.h"
#include "predict.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define LAT0 21.03
#define LON0 105.85
#define DAY_MS 1714496400000LL /* 2024-05-01 00:00 +07 (a Wednesday): noon - 12 h */
#define HMS(h, m, s) (DAY_MS + ((h)*3600LL + (m)*60LL + (s)) * 1000)
#define NSTOP 8
#define GAP_M 400.0
#define SEG_S 60 /* scheduled stop-to-stop time */

/* ---- the street: stops s0..s7 every 400 m; shape E runs east, W back west ---------------- */

struct street {
    struct buyt_network *net;
    uint32_t route, shape_e, shape_w, stop[NSTOP];
};

static void street_make(struct street *s)
{
    struct buyt_geo_frame f;
    buyt_geo_frame_init(&f, LAT0, LON0);
    cr_assert_eq(buyt_network_new(NULL, &s->net), 0);
    cr_assert_eq(buyt_network_add_route(s->net, "R1", "01", 3, &s->route), 0);
    cr_assert_eq(buyt_network_add_shape(s->net, "E", &s->shape_e), 0);
    cr_assert_eq(buyt_network_add_shape(s->net, "W", &s->shape_w), 0);
    double len = (NSTOP - 1) * GAP_M;
    for (double x = 0; x <= len + 1e-9; x += 50) {
        double lat, lon;
        buyt_geo_from_xy(&f, x, 0, &lat, &lon);
        cr_assert_eq(buyt_network_add_shape_point(s->net, s->shape_e, lat, lon), 0);
        buyt_geo_from_xy(&f, len - x, 0, &lat, &lon);
        cr_assert_eq(buyt_network_add_shape_point(s->net, s->shape_w, lat, lon), 0);
    }
    for (int k = 0; k < NSTOP; k++) {
        char id[8], name[16];
        double lat, lon;
        snprintf(id, sizeof id, "s%d", k);
        snprintf(name, sizeof name, "Stop %d", k);
        buyt_geo_from_xy(&f, k * GAP_M, 3, &lat, &lon);
        cr_assert_eq(buyt_network_add_stop(s->net, id, name, lat, lon, &s->stop[k]), 0);
    }
}

/* A trip every stop, SEG_S apart, no dwell; east or west; in `block` (NULL: none). */
static uint32_t trip_add(struct street *s, const char *id, bool east, int32_t start_s,
                         const char *block)
{
    struct buyt_network_trip_def d = {.trip_id = id,
                                      .route = s->route,
                                      .shape = east ? s->shape_e : s->shape_w,
                                      .block_id = block,
                                      .headsign = east ? "East" : "West",
                                      .direction_id = east ? 0 : 1,
                                      .day_start_ms = DAY_MS};
    uint32_t t;
    cr_assert_eq(buyt_network_add_trip(s->net, &d, &t), 0);
    for (int k = 0; k < NSTOP; k++) {
        int32_t at = start_s + k * SEG_S;
        cr_assert_eq(buyt_network_add_stop_time(s->net, t, (uint32_t)k + 1,
                                                s->stop[east ? k : NSTOP - 1 - k], at, at),
                     0);
    }
    return t;
}

static void street_finish(struct street *s)
{
    cr_assert_eq(buyt_network_finish(s->net), 0);
}

/* A matcher result: the bus at `dist` along `trip`. */
static struct buyt_matcher_result at(const struct buyt_network *net, uint32_t trip, double dist)
{
    struct buyt_matcher_result r = {0};
    uint32_t n = net->trips[trip].n_stops;
    r.trip = trip;
    r.dist_m = dist;
    r.next_stop = buyt_network_trip_next_stop(net, trip, dist, 30);
    r.completed = dist >= buyt_network_trip_stop_dist(net, trip, n - 1) - 30;
    r.offset_m = NAN;
    return r;
}

static double stop_d(const struct buyt_network *net, uint32_t trip, uint32_t k)
{
    return buyt_network_trip_stop_dist(net, trip, k);
}

static struct buyt_stopev_event ev(const struct buyt_network *net, uint32_t trip, uint32_t k,
                                   int64_t arr_ms, int64_t dep_ms)
{
    return (struct buyt_stopev_event){.trip = trip,
                                      .stop_index = k,
                                      .stop_sequence = k + 1,
                                      .stop = buyt_network_trip_stop(net, trip, k),
                                      .arrival_ms = arr_ms,
                                      .departure_ms = dep_ms,
                                      .dwell_s = (int32_t)((dep_ms - arr_ms) / 1000)};
}

/* A predictor reporting mean arrivals (early_z = 0), so that tests can check the model. */
static struct buyt_predict *predictor(enum buyt_predict_model model)
{
    struct buyt_predict_config c;
    buyt_predict_config_default(&c);
    c.model = model;
    c.early_z = 0;
    struct buyt_predict *p;
    cr_assert_eq(buyt_predict_new(&c, &p), 0);
    return p;
}

static int64_t eta(const struct buyt_predict *p, uint32_t trip, uint32_t k)
{
    struct buyt_predict_arrival a;
    cr_assert_eq(buyt_predict_get(p, trip, k, &a), BUYT_PREDICT_LIVE, "trip %u stop %u", trip, k);
    return a.eta_ms;
}

/* Vehicle `veh` drives trip t from stop 0 departing at dep_ms, seg_s per segment and dwell_s
 * at each intermediate stop; its stop events are observed. */
static void drive_events(struct buyt_predict *p, const struct buyt_network *net, uint32_t veh,
                         uint32_t t, int64_t dep_ms, double seg_s, double dwell_s)
{
    int64_t tm = dep_ms;
    struct buyt_stopev_event e = ev(net, t, 0, 0, tm);
    buyt_predict_observe(p, veh, &e);
    for (uint32_t k = 1; k < net->trips[t].n_stops; k++) {
        int64_t arr = tm + (int64_t)(seg_s * 1000);
        bool last = k + 1 == net->trips[t].n_stops;
        int64_t dep = last ? 0 : arr + (int64_t)(dwell_s * 1000);
        e = ev(net, t, k, arr, dep);
        e.passed = dwell_s == 0 && !last;
        buyt_predict_observe(p, veh, &e);
        tm = dep;
    }
}

/* ---- statistics -------------------------------------------------------------------------- */

Test(predict, band_and_daytype)
{
    cr_assert_eq(buyt_predict_band(0), 0);
    cr_assert_eq(buyt_predict_band(6 * 3600 - 1), 0);
    cr_assert_eq(buyt_predict_band(6 * 3600), 1);
    cr_assert_eq(buyt_predict_band(9 * 3600), 2);
    cr_assert_eq(buyt_predict_band(17 * 3600), 5);
    cr_assert_eq(buyt_predict_band(23 * 3600), 7);
    cr_assert_eq(buyt_predict_band(25 * 3600), 0, "past midnight of a service day");
    cr_assert_eq(buyt_predict_daytype(DAY_MS), 0, "2024-05-01 is a Wednesday");
    cr_assert_eq(buyt_predict_daytype(DAY_MS + 3 * 86400000LL), 1, "Saturday");
    cr_assert_eq(buyt_predict_daytype(DAY_MS + 4 * 86400000LL), 2, "Sunday");
    cr_assert_eq(buyt_predict_daytype(DAY_MS + 5 * 86400000LL), 0, "Monday");
}

Test(predict, segment_statistics_mean_variance_outliers_and_regime)
{
    struct street s;
    street_make(&s);
    uint32_t t = trip_add(&s, "T1", true, 7 * 3600, NULL);
    street_finish(&s);
    struct buyt_predict *p = predictor(BUYT_PREDICT_BLEND);
    cr_assert_eq(buyt_predict_set_network(p, s.net), 0);

    /* Three traversals of s0 -> s1 at 07:xx: 100, 110, 90 s: mean 100, population var 66.7. */
    const double xs[] = {100, 110, 90};
    for (int i = 0; i < 3; i++) {
        int64_t dep = HMS(7, 10 * i, 0);
        struct buyt_stopev_event a = ev(s.net, t, 0, 0, dep);
        struct buyt_stopev_event b = ev(s.net, t, 1, dep + (int64_t)(xs[i] * 1000), 0);
        buyt_predict_observe(p, 0, &a);
        buyt_predict_observe(p, 0, &b);
    }
    struct buyt_predict_stat st;
    cr_assert(buyt_predict_stat_get(p, BUYT_PREDICT_TRAVEL, "s0", "s1", 1, 0, &st));
    cr_assert_eq(st.n, 3);
    cr_assert_float_eq(st.mean_s, 100.0, 1e-3);
    cr_assert_float_eq(st.var_s2, 200.0 / 3, 1e-3);
    cr_assert_not(buyt_predict_stat_get(p, BUYT_PREDICT_TRAVEL, "s0", "s1", 2, 0, &st),
                  "another band is empty");
    cr_assert_not(buyt_predict_stat_get(p, BUYT_PREDICT_TRAVEL, "s0", "s1", 1, 1, &st),
                  "another day type is empty");

    /* An outlier (400 s > 2.5 x 100) is refused; five in a row are a new regime. */
    struct buyt_predict_counters c;
    for (int i = 0; i < 5; i++) {
        int64_t dep = HMS(8, 10 * i, 0);
        struct buyt_stopev_event a = ev(s.net, t, 0, 0, dep);
        struct buyt_stopev_event b = ev(s.net, t, 1, dep + 400000, 0);
        buyt_predict_observe(p, 0, &a);
        buyt_predict_observe(p, 0, &b);
        buyt_predict_counters(p, &c);
        cr_assert(buyt_predict_stat_get(p, BUYT_PREDICT_TRAVEL, "s0", "s1", 1, 0, &st));
        if (i < 4) {
            cr_assert_eq(c.outliers, (uint64_t)i + 1);
            cr_assert_eq(st.n, 3, "outlier %d refused", i);
        }
    }
    cr_assert_eq(st.n, 1, "the cell restarted from the new regime");
    cr_assert_float_eq(st.mean_s, 400.0, 1e-3);

    /* A travel time implying 50 m/s is not a traversal. */
    struct buyt_stopev_event a = ev(s.net, t, 0, 0, HMS(7, 50, 0));
    struct buyt_stopev_event b = ev(s.net, t, 1, HMS(7, 50, 8), 0);
    buyt_predict_observe(p, 0, &a);
    buyt_predict_observe(p, 0, &b);
    buyt_predict_counters(p, &c);
    cr_assert_eq(c.implausible, 1);
    buyt_predict_free(p);
    buyt_network_free(s.net);
}

Test(predict, dwell_learned_at_intermediate_stops_only_and_passes_count_zero)
{
    struct street s;
    street_make(&s);
    uint32_t t = trip_add(&s, "T1", true, 7 * 3600, NULL);
    street_finish(&s);
    struct buyt_predict *p = predictor(BUYT_PREDICT_BLEND);
    cr_assert_eq(buyt_predict_set_network(p, s.net), 0);
    drive_events(p, s.net, 0, t, HMS(7, 0, 0), 60, 20);
    struct buyt_predict_stat st;
    cr_assert(buyt_predict_stat_get(p, BUYT_PREDICT_DWELL, "s3", NULL, 1, 0, &st));
    cr_assert_float_eq(st.mean_s, 20.0, 1e-3);
    cr_assert_not(buyt_predict_stat_get(p, BUYT_PREDICT_DWELL, "s0", NULL, 1, 0, &st),
                  "a first stop's wait is layover, not dwell");
    cr_assert_not(buyt_predict_stat_get(p, BUYT_PREDICT_DWELL, "s7", NULL, 1, 0, &st),
                  "a last stop has no departure");
    drive_events(p, s.net, 1, t, HMS(7, 30, 0), 60, 0); /* passes every stop */
    cr_assert(buyt_predict_stat_get(p, BUYT_PREDICT_DWELL, "s3", NULL, 1, 0, &st));
    cr_assert_eq(st.n, 2);
    cr_assert_float_eq(st.mean_s, 10.0, 1e-3);
    cr_assert(buyt_predict_stat_get(p, BUYT_PREDICT_TRAVEL, "s6", "s7", 1, 0, &st));
    cr_assert_eq(st.n, 2);
    cr_assert_float_eq(st.mean_s, 60.0, 1e-3);
    buyt_predict_free(p);
    buyt_network_free(s.net);
}

/* ---- predictions ------------------------------------------------------------------------- */

Test(predict, schedule_fallback_without_history_is_flagged_schedule)
{
    struct street s;
    street_make(&s);
    uint32_t t = trip_add(&s, "T1", true, 8 * 3600, NULL);
    street_finish(&s);
    struct buyt_predict *p = predictor(BUYT_PREDICT_BLEND);
    cr_assert_eq(buyt_predict_set_network(p, s.net), 0);
    /* 3 min late, a quarter of the way from s2 to s3. */
    double d = stop_d(s.net, t, 2) + GAP_M / 4;
    struct buyt_matcher_result r = at(s.net, t, d);
    cr_assert_eq(r.next_stop, 3);
    int64_t now = HMS(8, 5, 15);
    cr_assert_eq(buyt_predict_vehicle(p, 0, "29B-001", now, &r), 0);
    cr_assert_eq(eta(p, t, 3), now + 45000, "three quarters of the scheduled 60 s left");
    for (uint32_t k = 4; k < NSTOP; k++)
        cr_assert_eq(eta(p, t, k), now + 45000 + (k - 3) * 60000LL);
    struct buyt_predict_arrival a;
    cr_assert_eq(buyt_predict_get(p, t, 5, &a), BUYT_PREDICT_LIVE);
    cr_assert_eq(a.source, BUYT_PREDICT_SCHEDULE);
    cr_assert_str_eq(a.label, "29B-001");
    cr_assert(a.on_trip);
    cr_assert_eq(buyt_predict_get(p, t, 2, &a), BUYT_PREDICT_DEPARTED);
    buyt_predict_free(p);
    buyt_network_free(s.net);
}

Test(predict, learned_history_replaces_the_schedule_and_is_flagged_learned)
{
    struct street s;
    street_make(&s);
    uint32_t t1 = trip_add(&s, "T1", true, 6 * 3600 + 600, NULL);
    uint32_t t2 = trip_add(&s, "T2", true, 8 * 3600, NULL);
    street_finish(&s);
    struct buyt_predict *p = predictor(BUYT_PREDICT_BLEND);
    cr_assert_eq(buyt_predict_set_network(p, s.net), 0);
    /* Three buses took 100 s per segment and stood 15 s at each stop, 06:10-06:50 (band 1,
     * more than 30 min before: no "last vehicle" is fresh). */
    for (int i = 0; i < 3; i++)
        drive_events(p, s.net, (uint32_t)i + 1, t1, HMS(6, 10 + 10 * i, 0), 100, 15);
    struct buyt_matcher_result r = at(s.net, t2, 0);
    int64_t now = HMS(7, 58, 0);
    cr_assert_eq(buyt_predict_vehicle(p, 0, "v", now, &r), 0);
    cr_assert_eq(eta(p, t2, 0), HMS(8, 0, 0), "waits for the scheduled departure");
    for (uint32_t k = 1; k < NSTOP; k++)
        cr_assert_eq(eta(p, t2, k), HMS(8, 0, 0) + k * 100000LL + (k - 1) * 15000LL);
    struct buyt_predict_arrival a;
    cr_assert_eq(buyt_predict_get(p, t2, 1, &a), BUYT_PREDICT_LIVE);
    cr_assert_eq(a.source, BUYT_PREDICT_SCHEDULE, "stop 1: 2 min waiting at the terminal");
    cr_assert_eq(buyt_predict_get(p, t2, 6, &a), BUYT_PREDICT_LIVE);
    cr_assert_eq(a.source, BUYT_PREDICT_LEARNED);
    buyt_predict_free(p);
    buyt_network_free(s.net);
}

/* H = 100 s (var 400) for s0->s1 in band 2; a bus took 160 s on it at 08:50 (band 1). */
static struct buyt_predict *kalman_case(enum buyt_predict_model model, struct street *s,
                                        uint32_t *trip)
{
    street_make(s);
    uint32_t t0 = trip_add(s, "T0", true, 8 * 3600 + 50 * 60, NULL);
    *trip = trip_add(s, "T1", true, 9 * 3600 + 5 * 60, NULL);
    street_finish(s);
    struct buyt_predict *p = predictor(model);
    cr_assert_eq(buyt_predict_set_network(p, s->net), 0);
    struct buyt_predict_stat st = {.kind = BUYT_PREDICT_TRAVEL,
                                   .from_stop = "s0",
                                   .to_stop = "s1",
                                   .band = 2,
                                   .daytype = 0,
                                   .n = 50,
                                   .mean_s = 100,
                                   .var_s2 = 400};
    cr_assert_eq(buyt_predict_stat_put(p, &st), 0);
    struct buyt_stopev_event a = ev(s->net, t0, 0, 0, HMS(8, 50, 0));
    struct buyt_stopev_event b = ev(s->net, t0, 1, HMS(8, 52, 40), 0);
    buyt_predict_observe(p, 9, &a);
    buyt_predict_observe(p, 9, &b);
    struct buyt_matcher_result r = at(s->net, *trip, 0);
    cr_assert_eq(buyt_predict_vehicle(p, 0, "v", HMS(9, 5, 0), &r), 0);
    return p;
}

Test(predict, kalman_filter_blends_last_vehicle_and_history_like_transitclock)
{
    struct street s;
    uint32_t t;
    struct buyt_predict *p = kalman_case(BUYT_PREDICT_KALMAN, &s, &t);
    /* e = 100, s2 = 400: gain = 500 / 900; (1 - gain) 160 + gain 100 = 126.67 s. */
    double gain = 500.0 / 900.0;
    int64_t want = HMS(9, 5, 0) + (int64_t)llround(((1 - gain) * 160 + gain * 100) * 1000);
    cr_assert_eq(eta(p, t, 1), want);
    buyt_predict_free(p);
    buyt_network_free(s.net);
}

Test(predict, blend_weights_last_vehicle_by_learned_error_variances)
{
    struct street s;
    uint32_t t;
    struct buyt_predict *p = kalman_case(BUYT_PREDICT_BLEND, &s, &t);
    /* Errors of the last vehicle not learned yet: its weight is 0.3. */
    cr_assert_eq(eta(p, t, 1), HMS(9, 5, 0) + 118000);
    /* Learned: vH = 400, vL = 400, uncorrelated: w = 0.5. */
    struct buyt_predict_stat st = {.kind = BUYT_PREDICT_TRAVEL,
                                   .from_stop = "s0",
                                   .to_stop = "s1",
                                   .band = 2,
                                   .n = 50,
                                   .n_last = 20,
                                   .mean_s = 100,
                                   .var_s2 = 400,
                                   .var_last_s2 = 400,
                                   .cov_s2 = 0};
    cr_assert_eq(buyt_predict_stat_put(p, &st), 0);
    struct buyt_matcher_result r = at(s.net, t, 0);
    cr_assert_eq(buyt_predict_vehicle(p, 0, "v", HMS(9, 5, 1), &r), 0);
    cr_assert_eq(eta(p, t, 1), HMS(9, 5, 1) + 130000);
    /* The last vehicle predicts 4x better (vL = 100): w = 400 / 500 = 0.8. */
    st.var_last_s2 = 100;
    cr_assert_eq(buyt_predict_stat_put(p, &st), 0);
    cr_assert_eq(buyt_predict_vehicle(p, 0, "v", HMS(9, 5, 2), &r), 0);
    cr_assert_eq(eta(p, t, 1), HMS(9, 5, 2) + 148000);
    buyt_predict_free(p);
    buyt_network_free(s.net);
}

Test(predict, eta_is_moved_earlier_by_the_learned_spread_only)
{
    struct street s;
    street_make(&s);
    uint32_t t = trip_add(&s, "T1", true, 9 * 3600 + 5 * 60, NULL);
    street_finish(&s);
    struct buyt_predict *p;
    cr_assert_eq(buyt_predict_new(NULL, &p), 0, "defaults: early_z = 1");
    cr_assert_eq(buyt_predict_set_network(p, s.net), 0);
    /* s0 -> s1 learned: 100 s, standard deviation 20 s; s1 -> s2: the schedule (60 s). */
    struct buyt_predict_stat st = {.kind = BUYT_PREDICT_TRAVEL,
                                   .from_stop = "s0",
                                   .to_stop = "s1",
                                   .band = 2,
                                   .n = 50,
                                   .mean_s = 100,
                                   .var_s2 = 400};
    cr_assert_eq(buyt_predict_stat_put(p, &st), 0);
    struct buyt_matcher_result r = at(s.net, t, 0);
    cr_assert_eq(buyt_predict_vehicle(p, 0, "v", HMS(9, 4, 0), &r), 0);
    cr_assert_eq(eta(p, t, 0), HMS(9, 5, 0), "a departure is never moved before the schedule");
    cr_assert_eq(eta(p, t, 1), HMS(9, 5, 0) + 100000 - 20000, "mean - 1 sigma");
    cr_assert_eq(eta(p, t, 2), HMS(9, 5, 0) + 160000 - 20000, "the schedule adds no spread");
    buyt_predict_free(p);
    buyt_network_free(s.net);
}

Test(predict, uncertainty_is_the_learned_spread_and_unknown_on_the_schedule_alone)
{
    struct street s;
    street_make(&s);
    uint32_t t = trip_add(&s, "T1", true, 9 * 3600 + 5 * 60, NULL);
    street_finish(&s);
    struct buyt_predict *p;
    cr_assert_eq(buyt_predict_new(NULL, &p), 0);
    cr_assert_eq(buyt_predict_set_network(p, s.net), 0);
    /* s0 -> s1 learned with standard deviation 20 s, s1 -> s2 with 15 s: 25 s at s2. */
    struct buyt_predict_stat st = {.kind = BUYT_PREDICT_TRAVEL,
                                   .from_stop = "s0",
                                   .to_stop = "s1",
                                   .band = 2,
                                   .n = 50,
                                   .mean_s = 100,
                                   .var_s2 = 400};
    cr_assert_eq(buyt_predict_stat_put(p, &st), 0);
    st.from_stop = "s1";
    st.to_stop = "s2";
    st.var_s2 = 225;
    cr_assert_eq(buyt_predict_stat_put(p, &st), 0);
    struct buyt_matcher_result r = at(s.net, t, 0);
    cr_assert_eq(buyt_predict_vehicle(p, 0, "v", HMS(9, 4, 0), &r), 0);
    struct buyt_predict_arrival a;
    uint32_t want[4] = {0, 20, 25, 25}; /* s0: the scheduled departure; s3: the schedule adds 0 */
    for (uint32_t k = 0; k < 4; k++) {
        cr_assert_eq(buyt_predict_get(p, t, k, &a), BUYT_PREDICT_LIVE);
        cr_assert_eq(a.uncertainty_s, want[k], "stop %u: %u", k, a.uncertainty_s);
    }
    buyt_predict_free(p);
    buyt_network_free(s.net);
}

Test(predict, blend_learns_error_variances_online)
{
    struct street s;
    street_make(&s);
    uint32_t t = trip_add(&s, "T1", true, 9 * 3600, NULL);
    street_finish(&s);
    struct buyt_predict *p = predictor(BUYT_PREDICT_BLEND);
    cr_assert_eq(buyt_predict_set_network(p, s.net), 0);
    /* Buses every 5 min; travel times drift slowly (traffic builds): the last vehicle's time
     * predicts the next better than the history does, and the blend learns it. */
    for (int i = 0; i < 24; i++) {
        int64_t dep = HMS(9, 0, 0) + i * 300000LL;
        double x = 80 + 2.0 * i + ((i * 7) % 3); /* 80 .. 129 s */
        struct buyt_stopev_event a = ev(s.net, t, 0, 0, dep);
        struct buyt_stopev_event b = ev(s.net, t, 1, dep + (int64_t)(x * 1000), 0);
        buyt_predict_observe(p, 1, &a);
        buyt_predict_observe(p, 1, &b);
    }
    struct buyt_predict_stat st;
    cr_assert(buyt_predict_stat_get(p, BUYT_PREDICT_TRAVEL, "s0", "s1", 2, 0, &st));
    cr_assert_geq(st.n_last, 3);
    cr_assert_lt(st.var_last_s2, st.var_s2, "vL %.1f vH %.1f", st.var_last_s2, st.var_s2);
    buyt_predict_free(p);
    buyt_network_free(s.net);
}

Test(predict, block_trip_not_started_is_corrected_by_the_late_vehicle_running_the_block)
{
    struct street s;
    street_make(&s);
    /* T1 east 08:00-08:07, T2 west 08:12-08:19, T3 east 08:24: one block. */
    uint32_t t1 = trip_add(&s, "T1", true, 8 * 3600, "B1");
    uint32_t t2 = trip_add(&s, "T2", false, 8 * 3600 + 12 * 60, "B1");
    uint32_t t3 = trip_add(&s, "T3", true, 8 * 3600 + 24 * 60, "B1");
    street_finish(&s);
    cr_assert_eq(s.net->trips[t1].next_in_block, t2);
    struct buyt_predict *p = predictor(BUYT_PREDICT_BLEND);
    cr_assert_eq(buyt_predict_set_network(p, s.net), 0);

    /* On time at 08:03:30, half way s3 -> s4: T1 ends 08:07, T2 leaves on schedule. */
    struct buyt_matcher_result r = at(s.net, t1, stop_d(s.net, t1, 3) + GAP_M / 2);
    cr_assert_eq(buyt_predict_vehicle(p, 0, "v", HMS(8, 3, 30), &r), 0);
    cr_assert_eq(eta(p, t1, NSTOP - 1), HMS(8, 7, 0));
    struct buyt_predict_arrival a;
    cr_assert_eq(buyt_predict_get(p, t2, 0, &a), BUYT_PREDICT_LIVE);
    cr_assert_not(a.on_trip, "not started");
    cr_assert_eq(a.eta_ms, HMS(8, 12, 0));

    /* 10 min late: T1 ends 08:17; T2 leaves after the minimum layover (2 min) at 08:19,
     * 7 min late, and T3 inherits what is left after its own layover. */
    cr_assert_eq(buyt_predict_vehicle(p, 0, "v", HMS(8, 13, 30), &r), 0);
    cr_assert_eq(eta(p, t1, NSTOP - 1), HMS(8, 17, 0));
    cr_assert_eq(eta(p, t2, 0), HMS(8, 19, 0));
    cr_assert_eq(eta(p, t2, 3), HMS(8, 22, 0));
    cr_assert_eq(eta(p, t2, NSTOP - 1), HMS(8, 26, 0));
    cr_assert_eq(eta(p, t3, 0), HMS(8, 28, 0));
    cr_assert_eq(buyt_predict_get(p, t3, 0, &a), BUYT_PREDICT_LIVE);
    cr_assert_not(a.on_trip);

    struct buyt_predict_trip_view views[4];
    cr_assert_eq(buyt_predict_vehicle_view(p, 0, views, 4), 3);
    cr_assert_eq(views[0].trip, t1);
    cr_assert(views[0].on_trip);
    cr_assert_eq(views[1].trip, t2);
    cr_assert_eq(views[2].trip, t3);
    buyt_predict_free(p);
    buyt_network_free(s.net);
}

Test(predict, terminal_departure_is_predicted_not_the_arrival_there)
{
    struct street s;
    street_make(&s);
    uint32_t t1 = trip_add(&s, "T1", true, 8 * 3600, "B1");
    uint32_t t2 = trip_add(&s, "T2", false, 8 * 3600 + 12 * 60, "B1");
    street_finish(&s);
    struct buyt_predict *p = predictor(BUYT_PREDICT_BLEND);
    cr_assert_eq(buyt_predict_set_network(p, s.net), 0);
    /* T1 reaches its last stop (s7) at 08:11:00, 4 min late; T2 leaves s7 at 08:12. */
    struct buyt_matcher_result r = at(s.net, t1, stop_d(s.net, t1, NSTOP - 1) - 10);
    cr_assert(r.completed);
    struct buyt_stopev_event last = ev(s.net, t1, NSTOP - 1, HMS(8, 11, 0), 0);
    buyt_predict_observe(p, 0, &last);
    cr_assert_eq(buyt_predict_vehicle(p, 0, "v", HMS(8, 11, 2), &r), 0);
    struct buyt_predict_arrival a;
    cr_assert_neq(buyt_predict_get(p, t1, NSTOP - 1, &a), BUYT_PREDICT_LIVE,
                  "T1's arrival at s7 is over: never shown as the departure");
    cr_assert_eq(eta(p, t2, 0), HMS(8, 13, 0), "arrival 08:11 + 2 min layover, not 08:11");

    /* The matcher chains T2 while the bus stands at s7: still 08:13, a departure. */
    r = at(s.net, t2, 0);
    r.layover = true;
    cr_assert_eq(buyt_predict_vehicle(p, 0, "v", HMS(8, 11, 30), &r), 0);
    cr_assert_eq(buyt_predict_get(p, t2, 0, &a), BUYT_PREDICT_LIVE);
    cr_assert(a.on_trip);
    cr_assert_eq(a.eta_ms, HMS(8, 13, 0));
    cr_assert_eq(eta(p, t2, 1), HMS(8, 14, 0));
    /* Still there at 08:14: leaves now, not in the past. */
    cr_assert_eq(buyt_predict_vehicle(p, 0, "v", HMS(8, 14, 0), &r), 0);
    cr_assert_eq(eta(p, t2, 0), HMS(8, 14, 0));
    /* Gone: the first stop's departure event marks it left. */
    struct buyt_stopev_event dep = ev(s.net, t2, 0, 0, HMS(8, 14, 10));
    buyt_predict_observe(p, 0, &dep);
    cr_assert_eq(buyt_predict_get(p, t2, 0, &a), BUYT_PREDICT_DEPARTED);
    buyt_predict_free(p);
    buyt_network_free(s.net);
}

Test(predict, at_stop_is_reported_with_the_arrival_time)
{
    struct street s;
    street_make(&s);
    uint32_t t = trip_add(&s, "T1", true, 8 * 3600, NULL);
    street_finish(&s);
    struct buyt_predict *p = predictor(BUYT_PREDICT_BLEND);
    cr_assert_eq(buyt_predict_set_network(p, s.net), 0);
    struct buyt_matcher_result r = at(s.net, t, stop_d(s.net, t, 3) - 20);
    cr_assert_eq(buyt_predict_vehicle(p, 0, "v", HMS(8, 3, 10), &r), 0);
    r = at(s.net, t, stop_d(s.net, t, 3));
    cr_assert_eq(buyt_predict_vehicle(p, 0, "v", HMS(8, 3, 20), &r), 0);
    struct buyt_predict_arrival a;
    cr_assert_eq(buyt_predict_get(p, t, 3, &a), BUYT_PREDICT_LIVE);
    cr_assert(a.at_stop);
    cr_assert_eq(a.eta_ms, HMS(8, 3, 10), "arrived when it entered the stop");
    cr_assert_eq(eta(p, t, 4), HMS(8, 4, 20), "leaves now (no scheduled dwell), then 60 s");
    cr_assert_eq(buyt_predict_get(p, t, 4, &a), BUYT_PREDICT_LIVE);
    cr_assert_not(a.at_stop);
    buyt_predict_free(p);
    buyt_network_free(s.net);
}

Test(predict, a_fix_updates_only_the_stops_ahead)
{
    struct street s;
    street_make(&s);
    uint32_t t = trip_add(&s, "T1", true, 8 * 3600, NULL);
    street_finish(&s);
    struct buyt_predict *p = predictor(BUYT_PREDICT_BLEND);
    cr_assert_eq(buyt_predict_set_network(p, s.net), 0);
    struct buyt_matcher_result r = at(s.net, t, stop_d(s.net, t, 1) + 100);
    cr_assert_eq(buyt_predict_vehicle(p, 0, "v", HMS(8, 1, 30), &r), 0);
    struct buyt_predict_arrival a;
    cr_assert_eq(buyt_predict_get(p, t, 1, &a), BUYT_PREDICT_DEPARTED);
    cr_assert_eq(buyt_predict_get(p, t, 2, &a), BUYT_PREDICT_LIVE);
    r = at(s.net, t, stop_d(s.net, t, 2) + 31);
    cr_assert_eq(buyt_predict_vehicle(p, 0, "v", HMS(8, 2, 30), &r), 0);
    cr_assert_eq(buyt_predict_get(p, t, 2, &a), BUYT_PREDICT_DEPARTED, "left stop 2");
    struct buyt_predict_trip_view v;
    cr_assert_eq(buyt_predict_vehicle_view(p, 0, &v, 1), 1);
    cr_assert_eq(v.from, 3);
    cr_assert_eq(v.n, NSTOP);
    buyt_predict_free(p);
    buyt_network_free(s.net);
}

Test(predict, a_stop_the_detector_saw_left_stays_behind)
{
    struct street s;
    street_make(&s);
    uint32_t t = trip_add(&s, "T1", true, 8 * 3600, NULL);
    street_finish(&s);
    struct buyt_predict *p = predictor(BUYT_PREDICT_BLEND);
    cr_assert_eq(buyt_predict_set_network(p, s.net), 0);
    /* Stop zones shrink between close stops: the detector may see the bus leave stop 3 while
     * it is still within the matcher's 30 m of it. */
    struct buyt_stopev_event e = ev(s.net, t, 3, HMS(8, 3, 0), HMS(8, 3, 20));
    buyt_predict_observe(p, 0, &e);
    struct buyt_matcher_result r = at(s.net, t, stop_d(s.net, t, 3) + 20);
    cr_assert_eq(r.next_stop, 3);
    cr_assert_eq(buyt_predict_vehicle(p, 0, "v", HMS(8, 3, 21), &r), 0);
    struct buyt_predict_arrival a;
    cr_assert_eq(buyt_predict_get(p, t, 3, &a), BUYT_PREDICT_DEPARTED);
    cr_assert_eq(eta(p, t, 4), HMS(8, 3, 21) + 57000, "380 of the 400 m to stop 4");
    buyt_predict_free(p);
    buyt_network_free(s.net);
}

Test(predict, off_route_keeps_the_last_prediction_flagged_and_no_trip_drops_it)
{
    struct street s;
    street_make(&s);
    uint32_t t = trip_add(&s, "T1", true, 8 * 3600, NULL);
    street_finish(&s);
    struct buyt_predict *p = predictor(BUYT_PREDICT_BLEND);
    cr_assert_eq(buyt_predict_set_network(p, s.net), 0);
    struct buyt_matcher_result r = at(s.net, t, stop_d(s.net, t, 2) + 100);
    cr_assert_eq(buyt_predict_vehicle(p, 0, "v", HMS(8, 2, 30), &r), 0);
    int64_t before = eta(p, t, 5);
    r.off_route = true;
    cr_assert_eq(buyt_predict_vehicle(p, 0, "v", HMS(8, 9, 0), &r), 0);
    struct buyt_predict_arrival a;
    cr_assert_eq(buyt_predict_get(p, t, 5, &a), BUYT_PREDICT_LIVE);
    cr_assert(a.off_route, "a detour is flagged: boards show the schedule");
    cr_assert_eq(a.eta_ms, before, "not re-predicted from a held position");
    cr_assert_eq(a.fix_ms, HMS(8, 9, 0));
    r = (struct buyt_matcher_result){.trip = BUYT_NETWORK_NONE};
    cr_assert_eq(buyt_predict_vehicle(p, 0, "v", HMS(8, 25, 0), &r), 0);
    cr_assert_eq(buyt_predict_get(p, t, 5, &a), BUYT_PREDICT_NONE, "assignment dropped");
    struct buyt_predict_counters c;
    buyt_predict_counters(p, &c);
    cr_assert_eq(c.live_trips, 0);
    buyt_predict_free(p);
    buyt_network_free(s.net);
}

Test(predict, cancelled_trip_and_dropped_vehicle)
{
    struct street s;
    street_make(&s);
    uint32_t t = trip_add(&s, "T1", true, 8 * 3600, NULL);
    street_finish(&s);
    struct buyt_predict *p = predictor(BUYT_PREDICT_BLEND);
    cr_assert_eq(buyt_predict_set_network(p, s.net), 0);
    struct buyt_matcher_result r = at(s.net, t, 100);
    cr_assert_eq(buyt_predict_vehicle(p, 3, "v", HMS(8, 0, 30), &r), 0);
    struct buyt_predict_arrival a;
    cr_assert_eq(buyt_predict_trip_cancel(p, t, true), 0);
    cr_assert_eq(buyt_predict_get(p, t, 4, &a), BUYT_PREDICT_CANCELLED);
    cr_assert_eq(buyt_predict_trip_cancel(p, t, false), 0);
    cr_assert_eq(buyt_predict_get(p, t, 4, &a), BUYT_PREDICT_LIVE);
    buyt_predict_vehicle_drop(p, 3);
    cr_assert_eq(buyt_predict_get(p, t, 4, &a), BUYT_PREDICT_NONE);
    cr_assert_eq(buyt_predict_trip_cancel(p, 999, true), BUYT_EINVAL);
    buyt_predict_free(p);
    buyt_network_free(s.net);
}

/* ---- persistence and reload -------------------------------------------------------------- */

Test(predict, snapshot_copies_changed_cells_and_put_restores_them)
{
    struct street s;
    street_make(&s);
    uint32_t t = trip_add(&s, "T1", true, 7 * 3600, NULL);
    street_finish(&s);
    struct buyt_predict *p = predictor(BUYT_PREDICT_BLEND);
    cr_assert_eq(buyt_predict_set_network(p, s.net), 0);
    drive_events(p, s.net, 0, t, HMS(7, 0, 0), 70, 12);
    struct buyt_predict_stats *snap;
    cr_assert_eq(buyt_predict_stats_snapshot(p, false, &snap), 0);
    cr_assert_eq(snap->n, (NSTOP - 1) + (NSTOP - 2), "7 segments and 6 dwells");
    struct buyt_predict_stats *again;
    cr_assert_eq(buyt_predict_stats_snapshot(p, false, &again), 0);
    cr_assert_eq(again->n, 0, "marks cleared");
    buyt_predict_stats_free(again);
    cr_assert_eq(buyt_predict_stats_snapshot(p, true, &again), 0);
    cr_assert_eq(again->n, snap->n, "all");
    buyt_predict_stats_free(again);

    /* A restart: a new predictor loads the rows and predicts the same. */
    struct buyt_predict *q = predictor(BUYT_PREDICT_BLEND);
    for (size_t i = 0; i < snap->n; i++)
        cr_assert_eq(buyt_predict_stat_put(q, &snap->rows[i]), 0);
    cr_assert_eq(buyt_predict_set_network(q, s.net), 0);
    struct buyt_predict_stat st;
    cr_assert(buyt_predict_stat_get(q, BUYT_PREDICT_TRAVEL, "s2", "s3", 1, 0, &st));
    cr_assert_float_eq(st.mean_s, 70.0, 1e-3);
    cr_assert_eq(st.updated_ms, HMS(7, 0, 0) + 3 * 70000 + 2 * 12000);
    buyt_predict_stats_free(snap);
    struct buyt_predict_stat bad = st;
    bad.band = BUYT_PREDICT_BANDS;
    cr_assert_eq(buyt_predict_stat_put(q, &bad), BUYT_EINVAL);
    buyt_predict_free(p);
    buyt_predict_free(q);
    buyt_network_free(s.net);
}

Test(predict, statistics_survive_a_network_reload)
{
    struct street s;
    street_make(&s);
    uint32_t t = trip_add(&s, "T1", true, 7 * 3600, NULL);
    street_finish(&s);
    struct buyt_predict *p = predictor(BUYT_PREDICT_BLEND);
    cr_assert_eq(buyt_predict_set_network(p, s.net), 0);
    for (int i = 0; i < 3; i++)
        drive_events(p, s.net, 0, t, HMS(7, 10 * i, 0), 90, 0);
    struct buyt_matcher_result r = at(s.net, t, 0);
    cr_assert_eq(buyt_predict_vehicle(p, 0, "v", HMS(7, 59, 0), &r), 0);

    /* A new network (the next day's) with the trip added in another order. */
    struct street s2;
    street_make(&s2);
    trip_add(&s2, "X", false, 6 * 3600, NULL);
    uint32_t t2 = trip_add(&s2, "T1", true, 8 * 3600, NULL);
    street_finish(&s2);
    cr_assert_eq(buyt_predict_set_network(p, s2.net), 0);
    buyt_network_free(s.net);
    struct buyt_predict_arrival a;
    cr_assert_eq(buyt_predict_get(p, t2, 3, &a), BUYT_PREDICT_NONE, "live state dropped");
    r = at(s2.net, t2, 0);
    cr_assert_eq(buyt_predict_vehicle(p, 0, "v", HMS(7, 59, 0), &r), 0);
    cr_assert_eq(eta(p, t2, 2), HMS(8, 0, 0) + 180000, "learned 90 s per segment kept");
    buyt_predict_free(p);
    buyt_network_free(s2.net);
}

Test(predict, samples_pick_one_stop_per_horizon_bucket)
{
    struct street s;
    street_make(&s);
    uint32_t t = trip_add(&s, "T1", true, 8 * 3600, NULL);
    street_finish(&s);
    struct buyt_predict_config c;
    buyt_predict_config_default(&c);
    struct buyt_predict *p;
    cr_assert_eq(buyt_predict_new(&c, &p), 0);
    cr_assert_eq(buyt_predict_set_network(p, s.net), 0);
    struct buyt_matcher_result r = at(s.net, t, 0); /* waits for 08:00; stops every minute */
    cr_assert_eq(buyt_predict_vehicle(p, 0, "29B-001", HMS(7, 59, 0), &r), 0);
    struct buyt_predict_sample out[16];
    uint32_t n = buyt_predict_samples(p, HMS(7, 59, 0), 120, out, 16);
    /* Horizons 1, 2, ..., 8 min: 0-3 -> stop 0 (1 min), 3-6 -> stop 2 (3 min), 6-10 -> stop
     * 5 (6 min); nothing 10 min away. */
    cr_assert_eq(n, 3);
    cr_assert_str_eq(out[0].trip_id, "T1");
    cr_assert_str_eq(out[0].stop_id, "s0");
    cr_assert_eq(out[0].stop_sequence, 1);
    cr_assert_eq(out[0].predicted_ms, HMS(8, 0, 0));
    cr_assert_eq(out[0].made_ms, HMS(7, 59, 0));
    cr_assert_str_eq(out[0].vehicle, "29B-001");
    cr_assert_eq(out[0].service_day, (int32_t)((DAY_MS + 12 * 3600000LL) / 86400000));
    cr_assert_str_eq(out[1].stop_id, "s2");
    cr_assert_str_eq(out[2].stop_id, "s5");
    cr_assert_eq(buyt_predict_samples(p, HMS(8, 5, 0), 120, out, 16), 0, "vehicle silent");
    cr_assert_eq(buyt_predict_samples(p, HMS(7, 59, 0), 120, out, 2), 0, "does not fit: next");
    buyt_predict_free(p);
    buyt_network_free(s.net);
}

Test(predict, rejects_bad_config_and_calls_without_network)
{
    struct buyt_predict_config c;
    buyt_predict_config_default(&c);
    c.outlier_lo = 1.5;
    struct buyt_predict *p;
    cr_assert_eq(buyt_predict_new(&c, &p), BUYT_EINVAL);
    cr_assert_eq(buyt_predict_new(NULL, &p), 0);
    struct buyt_matcher_result r = {.trip = 0};
    cr_assert_eq(buyt_predict_vehicle(p, 0, "v", 1, &r), BUYT_EINVAL);
    struct buyt_predict_arrival a;
    cr_assert_eq(buyt_predict_get(p, 0, 0, &a), BUYT_PREDICT_NONE);
    buyt_predict_free(p);
    buyt_predict_free(NULL);
}
