/* The passenger API's arrivals from the predictor: how a board's reading of a visit
 * (buyt_board_visit_classify) maps onto an API arrival (buyt_predict_arrivals_apply), on a
 * real predictor over a hand-made line. The provider around it (the timetable listing, the
 * window) is exercised end to end by tests/integration/test_arrivals_predictor.c. */
#include "api.h"
#include "board.h"
#include "geo.h"
#include "network.h"
#include "predict.h"
#include "predict_arrivals.h"
#include "vehicles.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* An east-west line of 8 stops 400 m apart, every segment 60 s, no dwell (as test_board.c). */
#define LAT0 21.03
#define LON0 105.85
#define DAY_MS 1714496400000LL /* 2024-05-01 00:00 +07, a Wednesday */
#define HMS(h, m, s) (DAY_MS + ((h)*3600LL + (m)*60LL + (s)) * 1000)
#define NSTOP 8
#define GAP_M 400.0

struct line {
    struct buyt_network *net;
    uint32_t route, shape_e, shape_w, stop[NSTOP];
    struct buyt_predict *p;
    struct buyt_board_config cfg;
};

static void line_make(struct line *l)
{
    struct buyt_geo_frame f;
    buyt_geo_frame_init(&f, LAT0, LON0);
    cr_assert_eq(buyt_network_new(NULL, &l->net), 0);
    cr_assert_eq(buyt_network_add_route(l->net, "R01", "01", 3, &l->route), 0);
    cr_assert_eq(buyt_network_add_shape(l->net, "E", &l->shape_e), 0);
    cr_assert_eq(buyt_network_add_shape(l->net, "W", &l->shape_w), 0);
    double len = (NSTOP - 1) * GAP_M;
    for (double x = 0; x <= len + 1e-9; x += 50) {
        double lat, lon;
        buyt_geo_from_xy(&f, x, 0, &lat, &lon);
        cr_assert_eq(buyt_network_add_shape_point(l->net, l->shape_e, lat, lon), 0);
        buyt_geo_from_xy(&f, len - x, 0, &lat, &lon);
        cr_assert_eq(buyt_network_add_shape_point(l->net, l->shape_w, lat, lon), 0);
    }
    for (int k = 0; k < NSTOP; k++) {
        char id[8];
        double lat, lon;
        snprintf(id, sizeof id, "s%d", k);
        buyt_geo_from_xy(&f, k * GAP_M, 3, &lat, &lon);
        cr_assert_eq(buyt_network_add_stop(l->net, id, id, lat, lon, &l->stop[k]), 0);
    }
    buyt_board_config_default(&l->cfg);
}

static uint32_t trip(struct line *l, const char *id, bool east, int32_t start_s, const char *block)
{
    struct buyt_network_trip_def d = {.trip_id = id,
                                      .route = l->route,
                                      .shape = east ? l->shape_e : l->shape_w,
                                      .block_id = block,
                                      .direction_id = east ? 0 : 1,
                                      .day_start_ms = DAY_MS};
    uint32_t t;
    cr_assert_eq(buyt_network_add_trip(l->net, &d, &t), 0);
    for (int k = 0; k < NSTOP; k++) {
        int32_t at = start_s + k * 60;
        cr_assert_eq(buyt_network_add_stop_time(l->net, t, (uint32_t)k + 1,
                                                l->stop[east ? k : NSTOP - 1 - k], at, at),
                     0);
    }
    return t;
}

static void line_finish(struct line *l)
{
    cr_assert_eq(buyt_network_finish(l->net), 0);
    cr_assert_eq(buyt_predict_new(NULL, &l->p), 0);
    cr_assert_eq(buyt_predict_set_network(l->p, l->net), 0);
}

static void line_free(struct line *l)
{
    buyt_predict_free(l->p);
    buyt_network_free(l->net);
}

/* Predictor key KEY is the engine's vehicle at index KEY (as the engine keys it). */
#define KEY 4
static struct buyt_vehicle veh; /* the engine's view of it: big (matcher state), so static */

/* Vehicle KEY on trip t at `dist` m at `now`: the predictor and the engine's entry. */
static void drive(struct line *l, uint32_t t, double dist, int64_t now, bool off_route)
{
    struct buyt_matcher_result r = {0};
    uint32_t n = l->net->trips[t].n_stops;
    r.trip = t;
    r.dist_m = dist;
    r.next_stop = buyt_network_trip_next_stop(l->net, t, dist, 30);
    r.completed = dist >= buyt_network_trip_stop_dist(l->net, t, n - 1) - 30;
    r.off_route = off_route;
    cr_assert_eq(buyt_predict_vehicle(l->p, KEY, "29B-100", now, &r), 0);
    memset(&veh, 0, sizeof veh);
    veh.index = KEY;
    veh.trip = t;
    veh.dist_m = (float)dist;
    veh.next_stop = r.next_stop;
    veh.off_route = off_route;
}

/* Visit k of trip t as the API's timetable listing gives it. */
static struct buyt_arrival row(const struct line *l, uint32_t t, uint32_t k)
{
    const struct buyt_network_trip *tr = &l->net->trips[t];
    const struct buyt_network_time *tm = &l->net->times[tr->first_time + k];
    return (struct buyt_arrival){
        .trip = t,
        .stop_index = k,
        .scheduled_arrival_ms = tr->day_start_ms + (int64_t)tm->arrival_s * 1000,
        .scheduled_departure_ms = tr->day_start_ms + (int64_t)tm->departure_s * 1000,
        .vehicle = -1,
        .distance_m = NAN,
        .stops_away = -1,
        .status = BUYT_ARRIVAL_SCHEDULED,
        .basis = BUYT_ARRIVAL_BASIS_SCHEDULE,
        .fallback = BUYT_ARRIVAL_FALLBACK_NO_PREDICTION};
}

/* Reads visit k of trip t at `now` as the provider does; false if not listed. */
static bool read_visit(struct line *l, uint32_t t, uint32_t k, int64_t now, struct buyt_arrival *x)
{
    *x = row(l, t, k);
    int64_t sched = k == 0 ? x->scheduled_departure_ms : x->scheduled_arrival_ms;
    struct buyt_board_visit bv;
    buyt_board_visit_classify(&l->cfg, l->p, t, k, sched, now, &bv);
    bool named = bv.kind == BUYT_BOARD_VISIT_LIVE || bv.kind == BUYT_BOARD_VISIT_BLOCK ||
                 bv.kind == BUYT_BOARD_VISIT_SILENT || bv.kind == BUYT_BOARD_VISIT_OFF_ROUTE;
    if (named)
        cr_assert_eq(bv.pred.vehicle, KEY);
    return buyt_predict_arrivals_apply(&bv, l->net, named ? &veh : NULL, x);
}

Test(predict_arrivals, a_live_bus_is_realtime_with_its_position_at_the_timetable_pace)
{
    struct line l;
    line_make(&l);
    uint32_t t = trip(&l, "A0", true, 10 * 3600, NULL); /* s5 at 10:05 */
    line_finish(&l);
    /* Half-way s1 -> s2 at 10:03: 30 s to s2, then 60 s a segment (nothing learned). */
    drive(&l, t, 1.5 * GAP_M, HMS(10, 3, 0), false);
    struct buyt_arrival x;
    cr_assert(read_visit(&l, t, 5, HMS(10, 3, 0), &x));
    cr_assert(x.realtime);
    cr_assert_eq(x.predicted_arrival_ms, HMS(10, 6, 30));
    cr_assert_eq(x.predicted_departure_ms, HMS(10, 6, 30), "no scheduled dwell");
    cr_assert_eq(x.scheduled_arrival_ms, HMS(10, 5, 0), "the timetable is kept");
    cr_assert_eq(x.deviation_s, 90);
    cr_assert_eq(x.status, BUYT_ARRIVAL_ON_TIME, "90 s late is not delayed (> 300 s)");
    cr_assert_eq(x.basis, BUYT_ARRIVAL_BASIS_SCHEDULE_PACE);
    cr_assert_eq(x.fallback, BUYT_ARRIVAL_FALLBACK_NONE);
    cr_assert_eq(x.vehicle, KEY);
    cr_assert_float_eq(x.distance_m, 5 * GAP_M - 1.5 * GAP_M, 0.5);
    cr_assert_eq(x.stops_away, 3, "s2, s3, s4 before s5");
    cr_assert_eq(x.last_update_ms, HMS(10, 3, 0));
    /* Its next stop, under a minute away: approaching (the boards' rule, 60 s). */
    cr_assert(read_visit(&l, t, 2, HMS(10, 3, 0), &x));
    cr_assert_eq(x.status, BUYT_ARRIVAL_APPROACHING);
    cr_assert_eq(x.stops_away, 0);
    cr_assert_float_eq(x.distance_m, 0.5 * GAP_M, 0.5);
    /* A stop it has passed is not listed. */
    cr_assert_not(read_visit(&l, t, 1, HMS(10, 3, 0), &x));
    line_free(&l);
}

Test(predict_arrivals, learned_times_give_basis_history)
{
    struct line l;
    line_make(&l);
    uint32_t t = trip(&l, "A0", true, 10 * 3600, NULL);
    line_finish(&l);
    /* Every segment learned at 40 s (band 09-11, weekday), no spread: no early shift. */
    for (int k = 0; k + 1 < NSTOP; k++) {
        char from[8], to[8];
        snprintf(from, sizeof from, "s%d", k);
        snprintf(to, sizeof to, "s%d", k + 1);
        struct buyt_predict_stat st = {.kind = BUYT_PREDICT_TRAVEL,
                                       .from_stop = from,
                                       .to_stop = to,
                                       .band = buyt_predict_band(10 * 3600),
                                       .daytype = buyt_predict_daytype(DAY_MS),
                                       .n = 10,
                                       .mean_s = 40};
        cr_assert_eq(buyt_predict_stat_put(l.p, &st), 0);
    }
    drive(&l, t, 1.5 * GAP_M, HMS(10, 3, 0), false);
    struct buyt_arrival x;
    cr_assert(read_visit(&l, t, 5, HMS(10, 3, 0), &x));
    cr_assert_eq(x.predicted_arrival_ms, HMS(10, 5, 20), "20 s to s2, then 3 x 40 s");
    cr_assert_eq(x.basis, BUYT_ARRIVAL_BASIS_HISTORY);
    cr_assert_eq(x.deviation_s, 20);
    cr_assert(x.realtime);
    line_free(&l);
}

Test(predict_arrivals, early_and_layover_refine_the_boards_realtime_status)
{
    struct line l;
    line_make(&l);
    uint32_t t = trip(&l, "A0", true, 10 * 3600 + 10 * 60, NULL); /* s0 10:10, s5 10:15 */
    line_finish(&l);
    /* Waiting at s0 at 10:05: the departure is the schedule's (a trip never leaves early). */
    drive(&l, t, 0, HMS(10, 5, 0), false);
    struct buyt_arrival x;
    cr_assert(read_visit(&l, t, 0, HMS(10, 5, 0), &x));
    cr_assert_eq(x.predicted_arrival_ms, HMS(10, 10, 0));
    cr_assert_eq(x.predicted_departure_ms, HMS(10, 10, 0), "a first stop: its departure");
    cr_assert_eq(x.status, BUYT_ARRIVAL_ON_TIME);
    veh.layover = true; /* the matcher's flag */
    cr_assert(read_visit(&l, t, 0, HMS(10, 5, 0), &x));
    cr_assert_eq(x.status, BUYT_ARRIVAL_LAYOVER);
    cr_assert(x.realtime);
    /* Gone early: half-way s1 -> s2 at 10:05, s5 at 10:08:30 against 10:15. */
    drive(&l, t, 1.5 * GAP_M, HMS(10, 5, 0), false);
    cr_assert(read_visit(&l, t, 5, HMS(10, 5, 0), &x));
    cr_assert_eq(x.deviation_s, -390);
    cr_assert_eq(x.status, BUYT_ARRIVAL_EARLY);
    line_free(&l);
}

Test(predict_arrivals, a_trip_not_started_follows_its_block_and_is_not_realtime)
{
    struct line l;
    line_make(&l);
    uint32_t t1 = trip(&l, "T1", true, 8 * 3600, "B1");            /* s6 08:06, s7 08:07 */
    uint32_t t2 = trip(&l, "T2", false, 8 * 3600 + 12 * 60, "B1"); /* s7 08:12, s6 08:13 */
    line_finish(&l);
    /* T1 reaches s5 at 08:11:30 (6.5 min late): s7 at 08:13:30, T2 leaves after 2 min of
     * layover, 3.5 min late: corrected but "scheduled", as the boards show it. */
    drive(&l, t1, 5 * GAP_M, HMS(8, 11, 30), false);
    struct buyt_arrival x;
    cr_assert(read_visit(&l, t2, 0, HMS(8, 11, 30), &x));
    cr_assert_eq(x.predicted_departure_ms, HMS(8, 15, 30));
    cr_assert_eq(x.deviation_s, 210);
    cr_assert_eq(x.status, BUYT_ARRIVAL_SCHEDULED);
    cr_assert_eq(x.basis, BUYT_ARRIVAL_BASIS_BLOCK);
    /* Still standing there at 08:14: s7 at 08:16, T2 leaves at 08:18, 6 min late. */
    drive(&l, t1, 5 * GAP_M, HMS(8, 14, 0), false);
    cr_assert(read_visit(&l, t2, 0, HMS(8, 14, 0), &x));
    cr_assert_not(x.realtime);
    cr_assert_eq(x.basis, BUYT_ARRIVAL_BASIS_BLOCK);
    cr_assert_eq(x.predicted_arrival_ms, HMS(8, 18, 0));
    cr_assert_eq(x.predicted_departure_ms, HMS(8, 18, 0));
    cr_assert_eq(x.deviation_s, 360, "against the scheduled departure 08:12");
    cr_assert_eq(x.status, BUYT_ARRIVAL_DELAYED, "over 5 min late");
    cr_assert_eq(x.vehicle, KEY, "the block's vehicle");
    cr_assert(isnan(x.distance_m), "it is not on this trip yet");
    cr_assert_eq(x.stops_away, -1);
    cr_assert_eq(x.fallback, BUYT_ARRIVAL_FALLBACK_NONE);
    cr_assert(read_visit(&l, t2, 1, HMS(8, 14, 0), &x));
    cr_assert_eq(x.predicted_arrival_ms, HMS(8, 19, 0));
    cr_assert_eq(x.scheduled_arrival_ms, HMS(8, 13, 0));
    /* The trip it runs: real-time; at s6 a minute away (approaching before delayed, as on
     * the boards), at its terminal s7 delayed (08:16 against 08:07). */
    cr_assert(read_visit(&l, t1, 6, HMS(8, 14, 0), &x));
    cr_assert(x.realtime);
    cr_assert_eq(x.predicted_arrival_ms, HMS(8, 15, 0));
    cr_assert_eq(x.status, BUYT_ARRIVAL_APPROACHING);
    cr_assert(read_visit(&l, t1, 7, HMS(8, 14, 0), &x));
    cr_assert(x.realtime);
    cr_assert_eq(x.predicted_arrival_ms, HMS(8, 16, 0));
    cr_assert_eq(x.deviation_s, 540);
    cr_assert_eq(x.status, BUYT_ARRIVAL_DELAYED);
    cr_assert_eq(x.basis, BUYT_ARRIVAL_BASIS_SCHEDULE_PACE);
    line_free(&l);
}

Test(predict_arrivals, ghost_buses_fall_back_to_the_schedule_marked)
{
    struct line l;
    line_make(&l);
    uint32_t t = trip(&l, "A0", true, 10 * 3600, NULL);
    line_finish(&l);
    drive(&l, t, 1.5 * GAP_M, HMS(10, 3, 0), false);
    struct buyt_arrival x;
    cr_assert(read_visit(&l, t, 5, HMS(10, 5, 0), &x));
    cr_assert(x.realtime, "120 s of silence is not yet a ghost");
    cr_assert(read_visit(&l, t, 5, HMS(10, 5, 1), &x));
    cr_assert_not(x.realtime, "silent for more than 120 s");
    cr_assert_eq(x.status, BUYT_ARRIVAL_SCHEDULED);
    cr_assert_eq(x.fallback, BUYT_ARRIVAL_FALLBACK_VEHICLE_SILENT);
    cr_assert_eq(x.basis, BUYT_ARRIVAL_BASIS_SCHEDULE);
    cr_assert_eq(x.predicted_arrival_ms, 0, "not the old prediction");
    cr_assert_eq(x.predicted_departure_ms, 0);
    cr_assert_eq(x.vehicle, KEY, "marked: which bus went silent ...");
    cr_assert_eq(x.last_update_ms, HMS(10, 3, 0), "... and since when");
    cr_assert(isnan(x.distance_m));
    cr_assert_eq(x.stops_away, -1);
    /* Off its route: the schedule, status off_route. */
    drive(&l, t, 1.5 * GAP_M, HMS(10, 3, 10), true);
    cr_assert(read_visit(&l, t, 5, HMS(10, 3, 10), &x));
    cr_assert_not(x.realtime);
    cr_assert_eq(x.status, BUYT_ARRIVAL_OFF_ROUTE);
    cr_assert_eq(x.fallback, BUYT_ARRIVAL_FALLBACK_OFF_ROUTE);
    cr_assert_eq(x.predicted_arrival_ms, 0);
    cr_assert_eq(x.last_update_ms, HMS(10, 3, 10));
    line_free(&l);
}

Test(predict_arrivals, cancelled_and_unpredicted_trips_keep_their_timetable_row)
{
    struct line l;
    line_make(&l);
    uint32_t t = trip(&l, "A0", true, 10 * 3600, NULL);
    uint32_t u = trip(&l, "A1", true, 10 * 3600 + 10 * 60, NULL);
    line_finish(&l);
    struct buyt_arrival x;
    cr_assert(read_visit(&l, u, 3, HMS(10, 0, 0), &x));
    /* No vehicle: the row as the baseline lists it. */
    cr_assert_eq(x.scheduled_arrival_ms, HMS(10, 13, 0));
    cr_assert_eq(x.predicted_arrival_ms, 0);
    cr_assert_eq(x.predicted_departure_ms, 0);
    cr_assert_not(x.realtime);
    cr_assert_eq(x.vehicle, -1);
    cr_assert(isnan(x.distance_m));
    cr_assert_eq(x.stops_away, -1);
    cr_assert_eq(x.status, BUYT_ARRIVAL_SCHEDULED);
    cr_assert_eq(x.basis, BUYT_ARRIVAL_BASIS_SCHEDULE);
    cr_assert_eq(x.fallback, BUYT_ARRIVAL_FALLBACK_NO_PREDICTION);
    cr_assert_eq(buyt_predict_trip_cancel(l.p, t, true), 0);
    cr_assert(read_visit(&l, t, 3, HMS(10, 0, 0), &x));
    cr_assert_eq(x.status, BUYT_ARRIVAL_CANCELLED);
    cr_assert_not(x.realtime);
    cr_assert_eq(x.predicted_arrival_ms, 0);
    cr_assert_eq(x.fallback, BUYT_ARRIVAL_FALLBACK_NONE);
    cr_assert_str_eq(buyt_arrival_status_name(x.status), "cancelled");
    line_free(&l);
}

Test(predict_arrivals, names_in_responses_are_stable)
{
    cr_assert_str_eq(buyt_arrival_basis_name(BUYT_ARRIVAL_BASIS_SCHEDULE), "schedule");
    cr_assert_str_eq(buyt_arrival_basis_name(BUYT_ARRIVAL_BASIS_DEVIATION), "deviation");
    cr_assert_str_eq(buyt_arrival_basis_name(BUYT_ARRIVAL_BASIS_HISTORY), "history");
    cr_assert_str_eq(buyt_arrival_basis_name(BUYT_ARRIVAL_BASIS_SCHEDULE_PACE), "schedule_pace");
    cr_assert_str_eq(buyt_arrival_basis_name(BUYT_ARRIVAL_BASIS_BLOCK), "block");
    cr_assert_null(buyt_arrival_fallback_name(BUYT_ARRIVAL_FALLBACK_NONE));
    cr_assert_str_eq(buyt_arrival_fallback_name(BUYT_ARRIVAL_FALLBACK_NO_PREDICTION),
                     "no_prediction");
    cr_assert_str_eq(buyt_arrival_fallback_name(BUYT_ARRIVAL_FALLBACK_VEHICLE_SILENT),
                     "vehicle_silent");
    cr_assert_str_eq(buyt_arrival_fallback_name(BUYT_ARRIVAL_FALLBACK_OFF_ROUTE), "off_route");
    cr_assert_str_eq(buyt_arrival_status_name(BUYT_ARRIVAL_LAYOVER), "layover",
                     "existing values keep their names");
}
