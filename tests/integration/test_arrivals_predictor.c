/* The difference the predictor makes to /api/v1/stops/{stop_id}/arrivals, end to end: an
 * in-process engine with a real broker and database, wired as buyt-ingest wires it (arrivals
 * from buyt_api_arrivals_predictor), telemetry published through the broker, requests over a
 * plain socket; each case compared with the OneBusAway baseline (?source=baseline).
 *
 *   - the next trip of a late bus's block is shown late (the baseline: at its schedule);
 *   - a bus silent for more than 2 min is scheduled-only, marked, exactly from 2 min + 1 ms;
 *   - an off-route bus is not shown real-time (the baseline keeps it real-time);
 *   - a cancelled trip says so.
 *
 * Three corridors 2.2 km apart, one per case, so no bus is matched to another's trips:
 * corridor N runs east along latitude 21.0 + 0.02 (N - 1) through stops NA..NE, 1 km apart,
 * 2 min between stops (nothing learned: the predictor goes at the timetable's pace). */
#include "api.h"
#include "clock.h"
#include "contract.h"
#include "engine.h"
#include "engine_rig.h"
#include "http_client.h"
#include "networks.h"
#include "predict_arrivals.h"
#include "testkit.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEG_MS 120000LL     /* scheduled time between two stops */
#define LAYOVER_MS 120000LL /* the predictor's min_layover_s */

/* ------------------------------------------------------------------ the network */

struct net_info {
    int64_t day0, built_ms;
};

/* Corridor 1: T1 east started 6 min ago (at 1D now) and T2 back west from its end, one block
 * (B1); T3 east in an hour (no block: at 1D beyond the default hour). Corridor 2: S1 east
 * started 3 min ago. Corridor 3: O1 east, likewise. */
static struct buyt_network *make_network(int64_t now, struct net_info *ni)
{
    struct buyt_network *net;
    cr_assert_eq(buyt_network_new(NULL, &net), 0);
    ni->day0 = (now - 3 * 3600000LL) / 86400000 * 86400000; /* times 3..27 h after it */
    ni->built_ms = now / 1000 * 1000;                       /* GTFS times are whole seconds */
    uint32_t east[3][5], west[5], r[3], sh_e[3], sh_w;
    for (int c = 0; c < 3; c++) {
        double lat = 21.0 + 0.02 * c;
        char id[16], name[32];
        for (int i = 0; i < 5; i++) {
            snprintf(id, sizeof id, "%d%c", c + 1, 'A' + i);
            snprintf(name, sizeof name, "Điểm %d%c", c + 1, 'A' + i);
            cr_assert_eq(buyt_network_add_stop(net, id, name, lat, 105.80 + 0.01 * i, &east[c][i]),
                         0);
        }
        snprintf(id, sizeof id, "0%d", c + 1);
        cr_assert_eq(buyt_network_add_route(net, id, id, 3, &r[c]), 0);
        snprintf(id, sizeof id, "east%d", c + 1);
        cr_assert_eq(buyt_network_add_shape(net, id, &sh_e[c]), 0);
        for (int i = 0; i <= 40; i++)
            cr_assert_eq(buyt_network_add_shape_point(net, sh_e[c], lat, 105.80 + i * 0.001), 0);
    }
    cr_assert_eq(buyt_network_add_shape(net, "west1", &sh_w), 0);
    for (int i = 0; i <= 40; i++)
        cr_assert_eq(buyt_network_add_shape_point(net, sh_w, 21.0, 105.84 - i * 0.001), 0);
    for (int i = 0; i < 5; i++)
        west[i] = east[0][4 - i];
    int64_t t1 = ni->built_ms - 6 * 60000;
    const int seg_s = (int)(SEG_MS / 1000);
    buyt_test_add_trip(net, "T1", r[0], sh_e[0], 0, "Đông", "B1", ni->day0, t1, east[0], 5, seg_s);
    buyt_test_add_trip(net, "T2", r[0], sh_w, 1, "Tây", "B1", ni->day0, t1 + 4 * SEG_MS, west, 5,
                       seg_s);
    buyt_test_add_trip(net, "T3", r[0], sh_e[0], 0, "Đông", NULL, ni->day0,
                       ni->built_ms + 60 * 60000, east[0], 5, seg_s);
    buyt_test_add_trip(net, "S1", r[1], sh_e[1], 0, "Đông", NULL, ni->day0,
                       ni->built_ms - 3 * 60000, east[1], 5, seg_s);
    buyt_test_add_trip(net, "O1", r[2], sh_e[2], 0, "Đông", NULL, ni->day0,
                       ni->built_ms - 3 * 60000, east[2], 5, seg_s);
    cr_assert_eq(buyt_network_finish(net), 0);
    cr_assert_eq(net->stats.trips_invalid, 0);
    return net;
}

/* ------------------------------------------------------------------ the rig */

/* The running test's network times (rig_start sets them). */
static struct net_info ni;

static struct buyt_network *network(void *arg)
{
    return make_network(buyt_wall_ms(), arg);
}

static void rig_start(struct buyt_test_rig *r, const char *client_id)
{
    /* As ingest_main.c wires it. */
    struct buyt_api_opts ao = {.listen = "127.0.0.1:0",
                               .probe_interval_ms = 100,
                               .request_timeout_ms = 3000,
                               .arrivals = buyt_api_arrivals_predictor,
                               .arrivals_source = BUYT_PREDICT_ARRIVALS_SOURCE};
    struct buyt_test_rig_opts o = {.client_id = client_id,
                                   .buses = 3,
                                   .network = network,
                                   .network_arg = &ni,
                                   .feed_version = 1,
                                   .service_day = "t",
                                   .api = &ao};
    buyt_test_rig_start(r, &o);
    buyt_test_rig_connect(r, &o);
}

/* ------------------------------------------------------------------ telemetry */

struct until_fix {
    struct buyt_test_rig *r;
    const char *vid;
    int64_t last_ms;
};

static bool last_fix_matched(void *arg)
{
    struct until_fix *u = arg;
    const struct buyt_vehicle *v = buyt_vehicles_find(&u->r->e.vehicles, u->vid);
    return v && v->trip != BUYT_NETWORK_NONE && v->matched_ms == u->last_ms;
}

/* The driver signs in to `trip_id` 1 s before the first position, then the positions on shape
 * `shape` (`side`: metres north of it, as the corridors run east; records numbered in seq[0]
 * across all buses). Runs the loop until the last position is matched. */
static const struct buyt_vehicle *drive(struct buyt_test_rig *r, const char *vid,
                                        const char *trip_id, const char *shape,
                                        const struct buyt_test_pos *ps, int n)
{
    buyt_test_rig_publish_drive(r, vid, &r->seq[0], trip_id,
                                buyt_network_shape_find(r->e.net, shape), ps, n);
    struct until_fix u = {r, vid, ps[n - 1].time_ms};
    cr_assert(buyt_test_run_until(&r->loop, last_fix_matched, &u, 20000), "%s not matched", vid);
    const struct buyt_vehicle *v = buyt_vehicles_find(&r->e.vehicles, vid);
    cr_assert_str_eq(r->e.net->trips[v->trip].id, trip_id);
    return v;
}

/* ------------------------------------------------------------------ HTTP */

/* GET path on its own connection (Connection: close), read until the server closes it: the
 * status must be want_status, the body JSON. */
static json_t *get_json(struct buyt_test_rig *r, const char *path, int want_status)
{
    struct hresp h =
        buyt_test_http_request(&r->loop, r->port, BUYT_TEST_HTTP_TO_EOF, "GET", path, NULL);
    cr_assert_eq(h.status, want_status, "%s: status %d: %s", path, h.status, h.body);
    return buyt_test_http_json(&h, path);
}

static bool jnull(json_t *o, const char *key)
{
    return json_is_null(json_object_get(o, key));
}

/* The arrival of `trip_id` in an arrivals answer (the only one: no loops here). */
static json_t *arrival_of(json_t *answer, const char *trip_id)
{
    json_t *arr = json_object_get(answer, "arrivals"), *found = NULL;
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (!strcmp(jstr(json_array_get(arr, i), "trip_id"), trip_id)) {
            cr_assert_null(found, "%s listed twice", trip_id);
            found = json_array_get(arr, i);
        }
    cr_assert_not_null(found, "%s not listed: %s", trip_id, json_dumps(answer, 0));
    return found;
}

static int64_t sched_ms(const struct buyt_test_rig *r, const char *trip_id, uint32_t k,
                        bool departure)
{
    const struct buyt_network *net = r->e.net;
    uint32_t t = buyt_network_trip_find(net, trip_id, ni.built_ms);
    const struct buyt_network_trip *tr = &net->trips[t];
    const struct buyt_network_time *tm = &net->times[tr->first_time + k];
    return tr->day_start_ms + (int64_t)(departure ? tm->departure_s : tm->arrival_s) * 1000;
}

static double stop_dist(const struct buyt_test_rig *r, const char *trip_id, uint32_t k)
{
    const struct buyt_network *net = r->e.net;
    return buyt_network_trip_stop_dist(net, buyt_network_trip_find(net, trip_id, ni.built_ms), k);
}

/* What the predictor gives with nothing learned for a bus `dist` m along trip_id at time_ms,
 * between stops k - 1 and k: the rest of that segment in proportion to the distance left,
 * then SEG_MS per segment (no dwell is scheduled). The time at stop `at` >= k. */
static int64_t pace_ms(const struct buyt_test_rig *r, const char *trip_id, uint32_t k, double dist,
                       int64_t time_ms, uint32_t at)
{
    double d0 = stop_dist(r, trip_id, k - 1), d1 = stop_dist(r, trip_id, k);
    return time_ms + llround((d1 - dist) / (d1 - d0) * (double)SEG_MS) + (at - k) * SEG_MS;
}

/* ------------------------------------------------------------------ the cases */

Test(arrivals_predictor, the_next_trip_of_a_late_buss_block_is_shown_late)
{
    struct buyt_test_rig r;
    rig_start(&r, "it-arr-block");
    /* bus1 on T1 (started 6 min ago, at 1D now) is only 1200 m along, between 1B and 1C.
     * One fix: the block's later trips are re-predicted only when the end moves by 30 s or
     * once a minute (predict.h), so every prediction here comes from this fix. */
    int64_t now = buyt_wall_ms();
    struct buyt_test_pos p = {now - 1000, 1200, 0};
    const struct buyt_vehicle *bus1 = drive(&r, "bus1", "T1", "east1", &p, 1);
    cr_assert_eq(bus1->next_stop, 2);
    double dist = bus1->dist_m;
    /* T1: 1C, 1D, then its end at 1E; T2 leaves 1E after the minimum layover. */
    int64_t t1_end = pace_ms(&r, "T1", 2, dist, p.time_ms, 4);
    int64_t t2_dep = t1_end + LAYOVER_MS;
    cr_assert_gt(t2_dep, sched_ms(&r, "T2", 0, true), "the layover decides it, not the timetable");
    int64_t t2_at_1d = t2_dep + SEG_MS, t2_sched_1d = sched_ms(&r, "T2", 1, false);
    cr_assert_gt(t2_at_1d - t2_sched_1d, 300000, "T2 is over 5 min late at 1D");

    json_t *j = get_json(&r, "/api/v1/stops/1D/arrivals", 200);
    cr_assert_str_eq(jstr(j, "predicted_source"), "predictor");
    cr_assert_eq(json_array_size(json_object_get(j, "arrivals")), 2, "T1 and T2 (T3 is later)");
    json_t *a1 = arrival_of(j, "T1"), *a2 = arrival_of(j, "T2");
    /* T1: real-time from bus1. */
    cr_assert(json_is_true(json_object_get(a1, "realtime")));
    cr_assert_str_eq(jstr(a1, "vehicle_id"), "bus1");
    cr_assert(llabs(jint(a1, "predicted_arrival_ms") - pace_ms(&r, "T1", 2, dist, p.time_ms, 3)) <=
                  1,
              "the engine's float progress against the predictor's double: 1 ms");
    cr_assert_eq(jint(a1, "stops_away"), 1);
    cr_assert_str_eq(jstr(a1, "prediction_basis"), "schedule_pace");
    /* T2 has not started: its time follows bus1, late, not real-time, named after bus1. */
    cr_assert(json_is_false(json_object_get(a2, "realtime")));
    cr_assert_str_eq(jstr(a2, "vehicle_id"), "bus1");
    cr_assert_eq(jint(a2, "scheduled_arrival_ms"), t2_sched_1d);
    long long pa = jint(a2, "predicted_arrival_ms");
    cr_assert(llabs(pa - t2_at_1d) <= 1, "T2 at 1D %lld, want %lld", pa, (long long)t2_at_1d);
    cr_assert_eq(jint(a2, "predicted_departure_ms"), pa);
    cr_assert_eq(jint(a2, "deviation_s"), (pa - t2_sched_1d + 500) / 1000);
    cr_assert_str_eq(jstr(a2, "status"), "delayed");
    cr_assert_str_eq(jstr(a2, "prediction_basis"), "block");
    cr_assert_str_eq(jstr(a2, "predicted_source"), "predictor");
    cr_assert(jnull(a2, "schedule_reason"));
    cr_assert(jnull(a2, "stops_away"), "bus1 is not on T2 yet");
    cr_assert(jnull(a2, "distance_from_stop_m"));
    /* The arrivals are sorted by expected time: T1 first. */
    cr_assert_str_eq(jstr(json_array_get(json_object_get(j, "arrivals"), 0), "trip_id"), "T1");
    json_decref(j);

    /* At 1E, T1's terminal and T2's first stop: T1 arrives (real-time), T2 departs after the
     * layover: both predicted times are that departure. */
    j = get_json(&r, "/api/v1/stops/1E/arrivals", 200);
    a1 = arrival_of(j, "T1");
    a2 = arrival_of(j, "T2");
    cr_assert(llabs(jint(a1, "predicted_arrival_ms") - t1_end) <= 1);
    cr_assert(llabs(jint(a2, "predicted_departure_ms") - t2_dep) <= 1);
    cr_assert_eq(jint(a2, "predicted_arrival_ms"), jint(a2, "predicted_departure_ms"));
    cr_assert_eq(jint(a2, "scheduled_departure_ms"), sched_ms(&r, "T2", 0, true));
    json_decref(j);

    /* The baseline: T1 at schedule + bus1's deviation, T2 at its schedule as if on time. */
    j = get_json(&r, "/api/v1/stops/1D/arrivals?source=baseline", 200);
    cr_assert_str_eq(jstr(j, "predicted_source"), BUYT_API_BASELINE_SOURCE);
    a1 = arrival_of(j, "T1");
    a2 = arrival_of(j, "T2");
    cr_assert_eq(jint(a1, "predicted_arrival_ms"),
                 sched_ms(&r, "T1", 3, false) + 1000LL * bus1->deviation_s);
    cr_assert(jnull(a2, "predicted_arrival_ms"));
    cr_assert(jnull(a2, "vehicle_id"));
    cr_assert_str_eq(jstr(a2, "status"), "scheduled");
    cr_assert_str_eq(jstr(a2, "prediction_basis"), "schedule");
    json_decref(j);

    /* A cancelled trip: the predictor says so, the baseline does not know. */
    uint32_t t3 = buyt_network_trip_find(r.e.net, "T3", ni.built_ms);
    cr_assert_eq(buyt_predict_trip_cancel(r.e.predict, t3, true), 0);
    j = get_json(&r, "/api/v1/stops/1D/arrivals?minutes_after=90", 200);
    json_t *a3 = arrival_of(j, "T3");
    cr_assert_str_eq(jstr(a3, "status"), "cancelled");
    cr_assert(json_is_false(json_object_get(a3, "realtime")));
    cr_assert(jnull(a3, "predicted_arrival_ms"));
    cr_assert(jnull(a3, "schedule_reason"));
    json_decref(j);
    j = get_json(&r, "/api/v1/stops/1D/arrivals?minutes_after=90&source=baseline", 200);
    cr_assert_str_eq(jstr(arrival_of(j, "T3"), "status"), "scheduled");
    json_decref(j);
    buyt_test_rig_stop(&r);
}

Test(arrivals_predictor, a_bus_silent_for_over_two_minutes_is_scheduled_only)
{
    struct buyt_test_rig r;
    rig_start(&r, "it-arr-silent");
    /* bus2 on S1 last reported 130 s ago, 1200 m along (between 2B and 2C). */
    int64_t last = buyt_wall_ms() - 130000;
    struct buyt_test_pos ps[3] = {{last - 4000, 1180, 0}, {last - 2000, 1190, 0}, {last, 1200, 0}};
    const struct buyt_vehicle *bus2 = drive(&r, "bus2", "S1", "east2", ps, 3);
    int64_t sched = sched_ms(&r, "S1", 3, false);

    json_t *j = get_json(&r, "/api/v1/stops/2D/arrivals", 200);
    json_t *a = arrival_of(j, "S1");
    cr_assert(json_is_false(json_object_get(a, "realtime")));
    cr_assert_str_eq(jstr(a, "status"), "scheduled");
    cr_assert(jnull(a, "predicted_arrival_ms"), "the schedule, not the stale prediction");
    cr_assert(jnull(a, "deviation_s"));
    cr_assert_eq(jint(a, "scheduled_arrival_ms"), sched);
    cr_assert_str_eq(jstr(a, "schedule_reason"), "vehicle_silent");
    cr_assert_str_eq(jstr(a, "prediction_basis"), "schedule");
    cr_assert_str_eq(jstr(a, "predicted_source"), "schedule");
    /* Marked, not silently: which bus, and how old its last fix is. */
    cr_assert_str_eq(jstr(a, "vehicle_id"), "bus2");
    cr_assert_eq(jint(a, "last_update_ms"), last);
    json_decref(j);

    /* The same board as of 2 min after the last fix: still live; 1 ms later: a ghost. */
    char path[128];
    snprintf(path, sizeof path, "/api/v1/stops/2D/arrivals?time=%lld", (long long)last + 120000);
    j = get_json(&r, path, 200);
    a = arrival_of(j, "S1");
    cr_assert(json_is_true(json_object_get(a, "realtime")));
    cr_assert(
        llabs(jint(a, "predicted_arrival_ms") - pace_ms(&r, "S1", 2, bus2->dist_m, last, 3)) <= 1);
    cr_assert(jnull(a, "schedule_reason"));
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/stops/2D/arrivals?time=%lld", (long long)last + 120001);
    j = get_json(&r, path, 200);
    a = arrival_of(j, "S1");
    cr_assert(json_is_false(json_object_get(a, "realtime")));
    cr_assert_str_eq(jstr(a, "schedule_reason"), "vehicle_silent");
    json_decref(j);

    /* As of over 2 min before that fix, the predictor's present is not known yet: the
     * timetable, as for a trip nobody predicts. */
    snprintf(path, sizeof path, "/api/v1/stops/2D/arrivals?time=%lld", (long long)last - 120001);
    j = get_json(&r, path, 200);
    a = arrival_of(j, "S1");
    cr_assert(json_is_false(json_object_get(a, "realtime")));
    cr_assert(jnull(a, "vehicle_id"));
    cr_assert_str_eq(jstr(a, "schedule_reason"), "no_prediction");
    json_decref(j);

    /* The baseline drops the silent bus too, but unmarked: no vehicle, no reason. */
    j = get_json(&r, "/api/v1/stops/2D/arrivals?source=baseline", 200);
    a = arrival_of(j, "S1");
    cr_assert(json_is_false(json_object_get(a, "realtime")));
    cr_assert(jnull(a, "vehicle_id"));
    cr_assert_str_eq(jstr(a, "schedule_reason"), "no_prediction");
    json_decref(j);
    buyt_test_rig_stop(&r);
}

static bool is_off_route(void *arg)
{
    const struct buyt_vehicle *v =
        buyt_vehicles_find(&((struct buyt_test_rig *)arg)->e.vehicles, "bus3");
    return v && v->off_route;
}

Test(arrivals_predictor, an_off_route_bus_is_not_shown_real_time)
{
    struct buyt_test_rig r;
    rig_start(&r, "it-arr-offroute");
    /* bus3 on O1, on its route up to 1200 m, then it turns off north (a detour): 100 .. 400 m
     * beside the shape, 3 such fixes in a row flag it off route (matcher.h). */
    int64_t t0 = buyt_wall_ms() - 40000;
    struct buyt_test_pos ps[7] = {{t0, 1100, 0},           {t0 + 5000, 1150, 0},
                                  {t0 + 10000, 1200, 0},   {t0 + 15000, 1220, 100},
                                  {t0 + 20000, 1240, 200}, {t0 + 25000, 1260, 300},
                                  {t0 + 30000, 1280, 400}};
    drive(&r, "bus3", "O1", "east3", ps, 7);
    cr_assert(buyt_test_run_until(&r.loop, is_off_route, &r, 5000), "bus3 not off route");

    json_t *j = get_json(&r, "/api/v1/stops/3D/arrivals", 200);
    json_t *a = arrival_of(j, "O1");
    cr_assert(json_is_false(json_object_get(a, "realtime")), "a ghost is never real-time");
    cr_assert_str_eq(jstr(a, "status"), "off_route");
    cr_assert(jnull(a, "predicted_arrival_ms"));
    cr_assert_eq(jint(a, "scheduled_arrival_ms"), sched_ms(&r, "O1", 3, false));
    cr_assert_str_eq(jstr(a, "schedule_reason"), "off_route");
    cr_assert_str_eq(jstr(a, "vehicle_id"), "bus3");
    cr_assert_eq(jint(a, "last_update_ms"), ps[6].time_ms);
    json_decref(j);

    /* The baseline still shows it real-time, at schedule + its last deviation. */
    j = get_json(&r, "/api/v1/stops/3D/arrivals?source=baseline", 200);
    a = arrival_of(j, "O1");
    cr_assert(json_is_true(json_object_get(a, "realtime")));
    cr_assert_str_eq(jstr(a, "status"), "off_route");
    cr_assert(!jnull(a, "predicted_arrival_ms"));
    json_decref(j);
    buyt_test_rig_stop(&r);
}

Test(arrivals_predictor, an_unknown_source_is_refused)
{
    struct buyt_test_rig r;
    rig_start(&r, "it-arr-source");
    json_t *j = get_json(&r, "/api/v1/stops/1D/arrivals?source=oracle", 400);
    json_t *e = json_object_get(j, "error");
    cr_assert_str_eq(jstr(e, "parameter"), "source");
    cr_assert_not_null(strstr(jstr(e, "message"), "baseline"));
    json_decref(j);
    /* Without telemetry both agree: the timetable. */
    json_t *p = get_json(&r, "/api/v1/stops/1D/arrivals", 200);
    json_t *b = get_json(&r, "/api/v1/stops/1D/arrivals?source=baseline", 200);
    json_t *pa = json_object_get(p, "arrivals"), *ba = json_object_get(b, "arrivals");
    cr_assert_eq(json_array_size(pa), json_array_size(ba));
    cr_assert_eq(json_array_size(pa), 2, "T1 at 1D now (scheduled), T2 in 4 min");
    for (size_t i = 0; i < json_array_size(pa); i++) {
        json_t *x = json_array_get(pa, i), *y = json_array_get(ba, i);
        cr_assert_str_eq(jstr(x, "trip_id"), jstr(y, "trip_id"));
        cr_assert_eq(jint(x, "scheduled_arrival_ms"), jint(y, "scheduled_arrival_ms"));
        cr_assert(jnull(x, "predicted_arrival_ms"));
        cr_assert_str_eq(jstr(x, "schedule_reason"), "no_prediction");
    }
    json_decref(p);
    json_decref(b);
    buyt_test_rig_stop(&r);
}
