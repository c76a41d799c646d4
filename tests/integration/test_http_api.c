/* The engine's HTTP server end to end: an in-process engine with a real broker and database, a
 * small hand-made network around Hanoi whose trips run now, telemetry published through the
 * broker, and requests written over plain sockets from a client thread while the test's loop
 * serves them. Asserts what an app or a Prometheus server would see. */
#include "api.h"
#include "clock.h"
#include "contract.h"
#include "engine.h"
#include "engine_rig.h"
#include "http_client.h"
#include "mqtt.h"
#include "networks.h"
#include "predict_arrivals.h"
#include "testkit.h"
#include "topics.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define CORS_ORIGIN "https://app.example.vn"

/* ------------------------------------------------------------------ the network */

/* The A..G network (networks.h): route 01 east through A..E, a trip every 10 min, bus1 drives
 * 01_6 (started 3 min ago), one trip back (direction 1); route 02 from B north through F and G
 * every 15 min. Stop G's name has a quote and a backslash (JSON escaping). */
struct net_info {
    int64_t day0;      /* service day start (UTC midnight: the zone is UTC here) */
    int64_t bus_start; /* start of the trip bus1 drives */
    char bus_trip[32];
};

/* The running test's network times and bus1's trip (rig_start sets them). */
static struct net_info ni;

static struct buyt_network *network(void *arg)
{
    struct net_info *n = arg;
    struct buyt_test_net_ag ag;
    struct buyt_network *net =
        buyt_test_network_ag(buyt_wall_ms(), "Nhà hát \"Lớn\" \\ 1", "Long Biên", &ag);
    n->day0 = ag.day0;
    n->bus_start = ag.trip_start[6];
    snprintf(n->bus_trip, sizeof n->bus_trip, "01_6");
    return net;
}

/* ------------------------------------------------------------------ the rig */

static void rig_start(struct buyt_test_rig *r, const char *client_id, uint32_t track_pool)
{
    /* Arrivals from the predictor, as buyt-ingest wires them (ingest_main.c). */
    struct buyt_api_opts ao = {.listen = "127.0.0.1:0",
                               .cors_origin = CORS_ORIGIN,
                               .probe_interval_ms = 100,
                               .track_pool = track_pool,
                               .request_timeout_ms = 3000,
                               .arrivals = buyt_api_arrivals_predictor,
                               .arrivals_source = BUYT_PREDICT_ARRIVALS_SOURCE};
    struct buyt_test_rig_opts o = {.client_id = client_id,
                                   .buses = 3,
                                   .network = network,
                                   .network_arg = &ni,
                                   .feed_version = 7,
                                   .service_day = "today",
                                   .api = &ao};
    buyt_test_rig_start(r, &o);
    buyt_test_rig_connect(r, &o);
}

/* ------------------------------------------------------------------ telemetry */

/* bus1 signs in to the trip started 3 min ago and reports 5 fixes up to now, 1200 m along
 * (between B and C); bus2 reports 5 fixes off the network, three of them at the same instant
 * (pagination must not lose rows sharing a timestamp). */
static void drive(struct buyt_test_rig *r)
{
    int64_t now = buyt_wall_ms();
    struct buyt_test_pos p[5];
    for (int i = 0; i < 5; i++)
        p[i] = (struct buyt_test_pos){now - (4 - i) * 2000, 1200 - (4 - i) * 10.0, 0};
    buyt_test_rig_publish_drive(r, "bus1", &r->seq[1], ni.bus_trip, 0, p, 5);
    Buyt__V1__Record rec[5], *rp[5];
    Buyt__V1__Fix fx[5];
    int64_t t2[5] = {now - 60000, now - 50000, now - 50000, now - 50000, now - 40000};
    for (int i = 0; i < 5; i++) {
        buyt__v1__record__init(&rec[i]);
        rp[i] = &rec[i];
        buyt__v1__fix__init(&fx[i]);
        fx[i].lat_e7 = 210500000 + i;
        fx[i].lon_e7 = 1059000000;
        fx[i].quality = BUYT__V1__FIX_QUALITY__FIX_QUALITY_GPS;
        rec[i].seq = ++r->seq[2];
        rec[i].time_ms = (uint64_t)t2[i];
        rec[i].body_case = BUYT__V1__RECORD__BODY_FIX;
        rec[i].fix = &fx[i];
    }
    buyt_test_rig_publish(r, "bus2", rp, 5);
    buyt_test_rig_wait_accepted(r, 11, (const char *const[]){"bus1", NULL});
}

/* ------------------------------------------------------------------ HTTP */

/* One request on its own (keep-alive) connection; extra: more header lines, each ending in
 * \r\n. */
static struct hresp get(struct buyt_test_rig *r, const char *method, const char *path,
                        const char *extra)
{
    return buyt_test_http_request(&r->loop, r->port, BUYT_TEST_HTTP_KEEP_ALIVE, method, path,
                                  extra);
}

static json_t *get_json(struct buyt_test_rig *r, const char *path, int want_status)
{
    return buyt_test_http_get_json(&r->loop, r->port, BUYT_TEST_HTTP_KEEP_ALIVE, path, want_status);
}

/* ------------------------------------------------------------------ frequency runs */

/* Route 01 east through A, B, C (about 1 km apart) run as one frequencies.txt trip "F": a run
 * that left A 3 min ago and one that leaves in 7 min, 2 min between stops. */
static int64_t run_start_ms[2];

static struct buyt_network *runs_network(void *arg)
{
    (void)arg;
    int64_t now = buyt_wall_ms() / 1000 * 1000;
    int64_t day0 = (now - 3 * 3600000LL) / 86400000 * 86400000;
    struct buyt_network *net;
    cr_assert_eq(buyt_network_new(NULL, &net), 0);
    uint32_t s[3], route, shape;
    const char *ids[3] = {"A", "B", "C"};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(buyt_network_add_stop(net, ids[i], ids[i], 21.0, 105.80 + i * 0.01, &s[i]),
                     0);
    cr_assert_eq(buyt_network_add_route(net, "01", "01", 3, &route), 0);
    cr_assert_eq(buyt_network_add_shape(net, "east", &shape), 0);
    for (int i = 0; i <= 20; i++)
        cr_assert_eq(buyt_network_add_shape_point(net, shape, 21.0, 105.80 + i * 0.001), 0);
    for (int k = 0; k < 2; k++) {
        run_start_ms[k] = now - 3 * 60000 + k * 600000;
        int32_t start_s = (int32_t)((run_start_ms[k] - day0) / 1000);
        struct buyt_network_trip_def d = {.trip_id = "F", .route = route, .shape = shape,
                                          .direction_id = 0, .headsign = "C",
                                          .day_start_ms = day0, .frequency_run = true,
                                          .run_start_s = start_s};
        uint32_t t;
        cr_assert_eq(buyt_network_add_trip(net, &d, &t), 0);
        for (int i = 0; i < 3; i++)
            cr_assert_eq(buyt_network_add_stop_time(net, t, (uint32_t)i + 1, s[i],
                                                    d.run_start_s + i * 120,
                                                    d.run_start_s + i * 120),
                         0);
    }
    cr_assert_eq(buyt_network_finish(net), 0);
    return net;
}

/* GTFS time of day of instant ms on the network's service day (UTC here). */
static void hms_of(int64_t ms, char out[16])
{
    int64_t day0 = (buyt_wall_ms() - 3 * 3600000LL) / 86400000 * 86400000;
    buyt_network_time_text((int32_t)((ms - day0) / 1000), out);
}

/* Two runs of one trip_id are two trip instances: the vehicle's trip and each arrival say
 * which by start_time (as GTFS-Realtime does), and the bus signed in to "F" gets the run
 * that has just left, not the next one. */
Test(http_api, frequency_runs_are_named_by_their_start_time)
{
    struct buyt_api_opts ao = {.listen = "127.0.0.1:0",
                               .request_timeout_ms = 3000,
                               .arrivals = buyt_api_arrivals_predictor,
                               .arrivals_source = BUYT_PREDICT_ARRIVALS_SOURCE};
    struct buyt_test_rig_opts o = {.client_id = "it-http-runs", .buses = 1,
                                   .network = runs_network, .feed_version = 1,
                                   .service_day = "today", .api = &ao};
    struct buyt_test_rig r;
    buyt_test_rig_start(&r, &o);
    buyt_test_rig_connect(&r, &o);
    int64_t now = buyt_wall_ms();
    struct buyt_test_pos p[5];
    for (int i = 0; i < 5; i++)
        p[i] = (struct buyt_test_pos){now - (4 - i) * 2000, 1200 - (4 - i) * 10.0, 0};
    buyt_test_rig_publish_drive(&r, "bus1", &r.seq[1], "F", 0, p, 5);
    buyt_test_rig_wait_accepted(&r, 6, (const char *const[]){"bus1", NULL});
    char run0[16], run1[16];
    hms_of(run_start_ms[0], run0);
    hms_of(run_start_ms[1], run1);

    json_t *j = get_json(&r, "/api/v1/vehicles/bus1", 200);
    json_t *trip = json_object_get(j, "trip");
    cr_assert_str_eq(jstr(trip, "trip_id"), "F");
    cr_assert_str_eq(jstr(trip, "start_time"), run0, "%s", json_dumps(j, 0));
    cr_assert_eq(jint(trip, "scheduled_start_ms"), run_start_ms[0]);
    json_decref(j);

    j = get_json(&r, "/api/v1/stops/C/arrivals", 200);
    json_t *arr = json_object_get(j, "arrivals");
    cr_assert_eq(json_array_size(arr), 2, "both runs: %s", json_dumps(j, 0));
    json_t *a0 = json_array_get(arr, 0), *a1 = json_array_get(arr, 1);
    cr_assert_str_eq(jstr(a0, "trip_id"), "F");
    cr_assert_str_eq(jstr(a0, "start_time"), run0);
    cr_assert_str_eq(jstr(a0, "vehicle_id"), "bus1");
    cr_assert_str_eq(jstr(a1, "trip_id"), "F");
    cr_assert_str_eq(jstr(a1, "start_time"), run1);
    cr_assert(json_is_null(json_object_get(a1, "vehicle_id")), "the next run has no bus yet");
    cr_assert_eq(jint(a1, "scheduled_arrival_ms"), run_start_ms[1] + 240000);
    json_decref(j);
    buyt_test_rig_stop(&r);
}

/* ------------------------------------------------------------------ endpoints, good parameters */

Test(http_api, routes_and_route_detail_give_directions_ordered_stops_and_shapes)
{
    struct buyt_test_rig r;
    rig_start(&r, "it-http-routes", 2);
    json_t *j = get_json(&r, "/api/v1/routes", 200);
    cr_assert_eq(jint(j, "feed_version"), 7);
    json_t *routes = json_object_get(j, "routes");
    cr_assert_eq(json_array_size(routes), 2);
    json_t *r1 = json_array_get(routes, 0);
    cr_assert_str_eq(jstr(r1, "id"), "01");
    cr_assert_eq(jint(r1, "type"), 3);
    cr_assert_eq(json_array_size(json_object_get(r1, "directions")), 2);
    json_decref(j);

    j = get_json(&r, "/api/v1/routes/01", 200);
    json_t *dirs = json_object_get(j, "directions");
    cr_assert_eq(json_array_size(dirs), 2);
    json_t *d0 = json_array_get(dirs, 0);
    cr_assert_eq(jint(d0, "direction_id"), 0);
    json_t *pat = json_array_get(json_object_get(d0, "patterns"), 0);
    cr_assert_eq(jint(pat, "trips"), 19);
    cr_assert_str_eq(jstr(pat, "headsign"), "Bến xe Giáp Bát");
    cr_assert_str_eq(jstr(pat, "shape_id"), "east");
    json_t *ps = json_object_get(pat, "stops");
    cr_assert_eq(json_array_size(ps), 5);
    const char *want[] = {"A", "B", "C", "D", "E"};
    double last = -1;
    for (size_t i = 0; i < 5; i++) {
        json_t *s = json_array_get(ps, i);
        cr_assert_str_eq(jstr(s, "id"), want[i]);
        double d = json_number_value(json_object_get(s, "dist_along_m"));
        cr_assert_gt(d, last);
        last = d;
    }
    cr_assert_str_eq(jstr(json_array_get(ps, 2), "name"), "Hồ Hoàn Kiếm");
    json_t *shape = json_object_get(pat, "shape");
    cr_assert_eq(json_array_size(shape), 41);
    cr_assert_float_eq(json_number_value(json_array_get(json_array_get(shape, 0), 0)), 21.0, 1e-6);
    cr_assert_float_eq(json_number_value(json_array_get(json_array_get(shape, 40), 1)), 105.84,
                       1e-6);
    json_t *d1 = json_array_get(dirs, 1);
    cr_assert_str_eq(
        jstr(json_array_get(
                 json_object_get(json_array_get(json_object_get(d1, "patterns"), 0), "stops"), 0),
             "id"),
        "E");
    json_decref(j);

    /* Ids are percent-decoded path segments; a stop name with a quote and a backslash comes
     * back intact through JSON. */
    j = get_json(&r, "/api/v1/stops/G", 200);
    cr_assert_str_eq(jstr(j, "name"), "Nhà hát \"Lớn\" \\ 1");
    json_decref(j);
    buyt_test_rig_stop(&r);
}

Test(http_api, stops_near_a_point_are_sorted_by_distance_with_their_routes)
{
    struct buyt_test_rig r;
    rig_start(&r, "it-http-stops", 2);
    json_t *j = get_json(&r, "/api/v1/stops?lat=21.0&lon=105.81&radius=1500", 200);
    json_t *s = json_object_get(j, "stops");
    cr_assert_eq(json_array_size(s), 4, "B, then A and C (1039 m), then F (1112 m)");
    cr_assert_str_eq(jstr(json_array_get(s, 0), "id"), "B");
    cr_assert_str_eq(jstr(json_array_get(s, 3), "id"), "F");
    double prev = -1;
    for (size_t i = 0; i < 4; i++) {
        double d = json_number_value(json_object_get(json_array_get(s, i), "distance_m"));
        cr_assert_geq(d, prev);
        cr_assert_leq(d, 1500);
        prev = d;
    }
    json_t *br = json_object_get(json_array_get(s, 0), "routes");
    cr_assert_eq(json_array_size(br), 2, "B is served by 01 and 02");
    cr_assert_str_eq(jstr(json_array_get(br, 1), "id"), "02");
    json_decref(j);
    j = get_json(&r, "/api/v1/stops?lat=21.0&lon=105.81&radius=1500&limit=1", 200);
    cr_assert_eq(json_array_size(json_object_get(j, "stops")), 1);
    json_decref(j);
    j = get_json(&r, "/api/v1/stops?lat=48.85&lon=2.35", 200); /* Paris: nothing near */
    cr_assert_eq(json_array_size(json_object_get(j, "stops")), 0);
    json_decref(j);
    buyt_test_rig_stop(&r);
}

/* Occupancy from passenger taps: bus3 gets 4 passenger boardings 10 min ago and 1 now, and a
 * driver's tap (not a rider); 4 x 2^-1 + 1 = 3 riders estimated. bus2 never had a tap. */
Test(http_api, vehicle_occupancy_is_estimated_from_passenger_taps)
{
    struct buyt_test_rig r;
    rig_start(&r, "it-http-occ", 2);
    int64_t now = buyt_wall_ms();
    Buyt__V1__Record rec[7], *rp[7];
    Buyt__V1__CardTap tap[7];
    Buyt__V1__Fix fx;
    buyt__v1__fix__init(&fx);
    fx.lat_e7 = 210100000;
    fx.lon_e7 = 1058100000;
    fx.quality = BUYT__V1__FIX_QUALITY__FIX_QUALITY_GPS;
    uint8_t card[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    for (int i = 0; i < 7; i++) {
        buyt__v1__record__init(&rec[i]);
        rp[i] = &rec[i];
        rec[i].seq = ++r.seq[3];
        if (i == 6) { /* a fix, so bus3 has a position */
            rec[i].time_ms = (uint64_t)now;
            rec[i].body_case = BUYT__V1__RECORD__BODY_FIX;
            rec[i].fix = &fx;
            continue;
        }
        buyt__v1__card_tap__init(&tap[i]);
        card[0] = (uint8_t)i;
        tap[i].card_id.data = card;
        tap[i].card_id.len = sizeof card;
        tap[i].role = i == 5 ? BUYT__V1__READER_ROLE__READER_ROLE_DRIVER
                             : BUYT__V1__READER_ROLE__READER_ROLE_PASSENGER;
        rec[i].time_ms = (uint64_t)(i < 4 ? now - 600000 : now);
        rec[i].body_case = BUYT__V1__RECORD__BODY_CARD_TAP;
        rec[i].card_tap = &tap[i];
    }
    buyt_test_rig_publish(&r, "bus3", rp, 7);
    for (int i = 0; i < 200 && r.e.stats.accepted < 7; i++) {
        uv_run(&r.loop, UV_RUN_NOWAIT);
        usleep(10000);
    }
    cr_assert_eq(r.e.stats.accepted, 7);
    json_t *j = get_json(&r, "/api/v1/vehicles", 200);
    json_t *vs = json_object_get(j, "vehicles");
    json_t *v3 = NULL, *v2 = NULL;
    for (size_t i = 0; i < json_array_size(vs); i++) {
        json_t *v = json_array_get(vs, i);
        if (!strcmp(jstr(v, "id"), "bus3"))
            v3 = v;
        if (!strcmp(jstr(v, "id"), "bus2"))
            v2 = v;
    }
    cr_assert_not_null(v3);
    json_t *occ = json_object_get(v3, "occupancy");
    cr_assert(json_is_object(occ), "bus3 has an occupancy");
    cr_assert_eq(jint(occ, "estimated_riders"), 3, "4 x 1/2 + 1 (the driver's tap is no rider): %lld",
                 (long long)jint(occ, "estimated_riders"));
    cr_assert_str_eq(jstr(occ, "source"), "passenger_taps");
    cr_assert_eq(jint(occ, "last_tap_ms"), now);
    cr_assert(json_is_null(json_object_get(v2, "occupancy")), "no tap: null");
    json_decref(j);
    buyt_test_rig_stop(&r);
}

Test(http_api, vehicles_arrivals_and_tracks_follow_the_telemetry)
{
    struct buyt_test_rig r;
    rig_start(&r, "it-http-live", 2);
    drive(&r);
    struct buyt_vehicle *bus1 = buyt_vehicles_find(&r.e.vehicles, "bus1");
    cr_assert_eq(bus1->next_stop, 2, "between B and C");

    /* Vehicles */
    json_t *j = get_json(&r, "/api/v1/vehicles", 200);
    json_t *vs = json_object_get(j, "vehicles");
    cr_assert_eq(json_array_size(vs), 3);
    json_t *v1 = json_array_get(vs, 0), *v3 = json_array_get(vs, 2);
    cr_assert_str_eq(jstr(v1, "id"), "bus1");
    cr_assert_str_eq(jstr(v1, "status"), "moving");
    cr_assert_str_eq(jstr(json_object_get(v1, "trip"), "trip_id"), ni.bus_trip);
    cr_assert_str_eq(jstr(json_object_get(v1, "trip"), "assigned_by"), "driver_trip");
    cr_assert(json_is_null(json_object_get(json_object_get(v1, "trip"), "start_time")),
              "a scheduled trip has no run start");
    cr_assert_eq(jint(v1, "delay_s"), bus1->deviation_s);
    cr_assert_str_eq(jstr(json_object_get(v1, "next_stop"), "stop_id"), "C");
    cr_assert_leq(jint(v1, "fix_age_s"), 30);
    cr_assert_str_eq(jstr(v3, "status"), "stale");
    cr_assert(json_is_null(json_object_get(v3, "lat")));
    json_decref(j);
    j = get_json(&r, "/api/v1/vehicles?route=02", 200);
    cr_assert_eq(json_array_size(json_object_get(j, "vehicles")), 0);
    json_decref(j);
    j = get_json(&r, "/api/v1/vehicles?route=01", 200);
    cr_assert_eq(json_array_size(json_object_get(j, "vehicles")), 1);
    json_decref(j);
    j = get_json(&r, "/api/v1/vehicles/bus2", 200);
    cr_assert_str_eq(jstr(j, "id"), "bus2");
    cr_assert(json_is_null(json_object_get(j, "trip")));
    /* Its fixes carry no speed or course (a GGA-only receiver): unknown, not 0. */
    cr_assert(json_is_null(json_object_get(j, "speed_mps")), "%s", json_dumps(j, 0));
    cr_assert(json_is_null(json_object_get(j, "course_deg")));
    cr_assert_str_eq(jstr(j, "status"), "stopped", "standing: 1 cm in 10 s between its fixes");
    json_decref(j);

    /* Arrivals at D: bus1's trip in real time, then the next five trips east and the one trip
     * west at their schedule. The predictor has learned nothing in this fresh database, so it
     * predicts from where bus1 is at the timetable's running times: the rest of the segment
     * B -> C in proportion to the distance left (120 s for the whole segment), no dwell at C
     * (none scheduled), then 120 s C -> D, from the time of bus1's newest fix. */
    const struct buyt_network *net = r.e.net;
    double d_b = buyt_network_trip_stop_dist(net, bus1->trip, 1);
    double d_c = buyt_network_trip_stop_dist(net, bus1->trip, 2);
    double d_d = buyt_network_trip_stop_dist(net, bus1->trip, 3);
    int64_t want_d =
        bus1->matched_ms + llround((d_c - bus1->dist_m) / (d_c - d_b) * 120000.0) + 120000;
    int64_t sched_d = ni.bus_start + 3 * 120000;
    j = get_json(&r, "/api/v1/stops/D/arrivals", 200);
    cr_assert_str_eq(jstr(j, "predicted_source"), BUYT_PREDICT_ARRIVALS_SOURCE);
    json_t *arr = json_object_get(j, "arrivals");
    cr_assert_eq(json_array_size(arr), 7, "bus1's trip, 5 more east, 1 west: %s", json_dumps(j, 0));
    json_t *a0 = json_array_get(arr, 0);
    cr_assert_str_eq(jstr(a0, "trip_id"), ni.bus_trip);
    cr_assert_str_eq(jstr(a0, "vehicle_id"), "bus1");
    cr_assert(json_is_true(json_object_get(a0, "realtime")));
    cr_assert_eq(jint(a0, "scheduled_arrival_ms"), sched_d);
    /* The engine keeps bus1's progress as a float, the predictor as the matcher's double: the
     * two may round the 101 s remainder to different milliseconds. */
    long long pa = jint(a0, "predicted_arrival_ms");
    cr_assert(llabs(pa - want_d) <= 1, "predicted %lld, want %lld", pa, (long long)want_d);
    cr_assert_eq(jint(a0, "predicted_departure_ms"), pa, "no dwell scheduled at D");
    long long dev = jint(a0, "deviation_s");
    cr_assert(llabs(dev * 1000 - (pa - sched_d)) <= 500, "deviation %lld s: predicted - scheduled",
              dev);
    cr_assert(dev > -60 && dev <= 300, "bus1 runs %lld s late: neither early nor delayed", dev);
    cr_assert_str_eq(jstr(a0, "status"), "on_time", "over a minute away: not approaching");
    cr_assert_eq(jint(a0, "stops_away"), 1);
    cr_assert_float_eq(json_number_value(json_object_get(a0, "distance_from_stop_m")),
                       d_d - bus1->dist_m, 0.5);
    cr_assert_str_eq(jstr(a0, "route_short_name"), "01");
    cr_assert_str_eq(jstr(a0, "headsign"), "Bến xe Giáp Bát");
    cr_assert_eq(jint(a0, "stop_sequence"), 40);
    cr_assert_eq(jint(a0, "last_update_ms"), bus1->matched_ms);
    cr_assert_str_eq(jstr(a0, "predicted_source"), BUYT_PREDICT_ARRIVALS_SOURCE);
    cr_assert_str_eq(jstr(a0, "prediction_basis"), "schedule_pace");
    cr_assert(json_is_null(json_object_get(a0, "schedule_reason")));
    long long prev = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *a = json_array_get(arr, i);
        long long t = json_is_null(json_object_get(a, "predicted_arrival_ms"))
                          ? jint(a, "scheduled_arrival_ms")
                          : jint(a, "predicted_arrival_ms");
        cr_assert_geq(t, prev, "sorted by expected time");
        prev = t;
        if (i) {
            /* No vehicle and no block in this network: the timetable, as the baseline. */
            cr_assert(json_is_false(json_object_get(a, "realtime")));
            cr_assert_str_eq(jstr(a, "status"), "scheduled");
            cr_assert(json_is_null(json_object_get(a, "vehicle_id")));
            cr_assert(json_is_null(json_object_get(a, "predicted_arrival_ms")));
            cr_assert(json_is_null(json_object_get(a, "deviation_s")));
            cr_assert_str_eq(jstr(a, "predicted_source"), "schedule");
            cr_assert_str_eq(jstr(a, "prediction_basis"), "schedule");
            cr_assert_str_eq(jstr(a, "schedule_reason"), "no_prediction");
        }
    }
    json_decref(j);
    /* The baseline on request: schedule + bus1's current deviation, the same trips. */
    j = get_json(&r, "/api/v1/stops/D/arrivals?source=baseline", 200);
    cr_assert_str_eq(jstr(j, "predicted_source"), BUYT_API_BASELINE_SOURCE);
    arr = json_object_get(j, "arrivals");
    cr_assert_eq(json_array_size(arr), 7);
    a0 = json_array_get(arr, 0);
    cr_assert_str_eq(jstr(a0, "trip_id"), ni.bus_trip);
    cr_assert(json_is_true(json_object_get(a0, "realtime")));
    cr_assert_eq(jint(a0, "predicted_arrival_ms"), sched_d + 1000LL * bus1->deviation_s);
    cr_assert_eq(jint(a0, "deviation_s"), bus1->deviation_s);
    cr_assert_eq(jint(a0, "last_update_ms"), bus1->matched_ms);
    cr_assert_str_eq(jstr(a0, "predicted_source"), BUYT_API_BASELINE_SOURCE);
    cr_assert_str_eq(jstr(a0, "prediction_basis"), "deviation");
    cr_assert_str_eq(jstr(json_array_get(arr, 1), "prediction_basis"), "schedule");
    json_decref(j);
    j = get_json(&r, "/api/v1/stops/D/arrivals?source=" BUYT_PREDICT_ARRIVALS_SOURCE, 200);
    cr_assert_str_eq(jstr(j, "predicted_source"), BUYT_PREDICT_ARRIVALS_SOURCE);
    json_decref(j);
    /* At B, which bus1 has passed: its trip is gone; route 02's trips start there. */
    j = get_json(&r, "/api/v1/stops/B/arrivals?minutes_before=0&minutes_after=30&limit=100", 200);
    arr = json_object_get(j, "arrivals");
    bool saw02 = false;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        cr_assert_str_neq(jstr(json_array_get(arr, i), "trip_id"), ni.bus_trip);
        saw02 |= !strcmp(jstr(json_array_get(arr, i), "route_id"), "02");
    }
    cr_assert(saw02);
    json_decref(j);
    j = get_json(&r, "/api/v1/stops/D/arrivals?limit=2", 200);
    cr_assert_eq(json_array_size(json_object_get(j, "arrivals")), 2);
    json_decref(j);

    /* Track: bus1's 5 fixes in order; bus2's 5 (three at one instant) page by page with
     * limit=2 and the cursor, each exactly once. */
    j = get_json(&r, "/api/v1/vehicles/bus1/track", 200);
    cr_assert_eq(jint(j, "count"), 5);
    json_t *fx = json_object_get(j, "fixes");
    for (size_t i = 1; i < 5; i++)
        cr_assert_gt(jint(json_array_get(fx, i), "time_ms"),
                     jint(json_array_get(fx, i - 1), "time_ms"));
    cr_assert(json_is_null(json_object_get(j, "next_cursor")));
    json_decref(j);
    char path[512];
    snprintf(path, sizeof path, "/api/v1/vehicles/bus2/track?limit=2&from=%lld",
             (long long)(buyt_wall_ms() - 3600000));
    int seen[5] = {0}, pages = 0, total = 0;
    for (;;) {
        j = get_json(&r, path, 200);
        json_t *f = json_object_get(j, "fixes");
        for (size_t i = 0; i < json_array_size(f); i++) {
            long long lat =
                llround(json_number_value(json_object_get(json_array_get(f, i), "lat")) * 1e7);
            cr_assert(lat >= 210500000 && lat < 210500005);
            seen[lat - 210500000]++;
            total++;
        }
        pages++;
        json_t *c = json_object_get(j, "next_cursor");
        if (json_is_null(c)) {
            json_decref(j);
            break;
        }
        snprintf(path, sizeof path, "/api/v1/vehicles/bus2/track?limit=2&cursor=%s",
                 json_string_value(c));
        json_decref(j);
        cr_assert_lt(pages, 10);
    }
    cr_assert_eq(total, 5);
    cr_assert_eq(pages, 3);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(seen[i], 1, "fix %d seen %d times", i, seen[i]);
    /* An RFC 3339 window that holds nothing. */
    j = get_json(&r,
                 "/api/v1/vehicles/bus2/track?from=2024-06-01T07:00:00%2B07:00"
                 "&to=2024-06-01T08:00:00Z",
                 200);
    cr_assert_eq(jint(j, "count"), 0);
    cr_assert_eq(jint(j, "from_ms"), 1717200000000LL);
    json_decref(j);
    buyt_test_rig_stop(&r);
}

/* ------------------------------------------------------------------ bad parameters */

Test(http_api, bad_parameters_get_400_or_404_naming_the_parameter)
{
    struct buyt_test_rig r;
    rig_start(&r, "it-http-bad", 2);
    struct {
        const char *path;
        int status;
        const char *param; /* NULL: no parameter named */
    } cases[] = {
        {"/api/v1/stops", 400, "lat"},
        {"/api/v1/stops?lon=105.8", 400, "lat"},
        {"/api/v1/stops?lat=21", 400, "lon"},
        {"/api/v1/stops?lat=abc&lon=105.8", 400, "lat"},
        {"/api/v1/stops?lat=0x15&lon=105.8", 400, "lat"},
        {"/api/v1/stops?lat=nan&lon=105.8", 400, "lat"},
        {"/api/v1/stops?lat=91&lon=105.8", 400, "lat"},
        {"/api/v1/stops?lat=21&lon=-180.5", 400, "lon"},
        {"/api/v1/stops?lat=%zz&lon=105.8", 400, "lat"},
        {"/api/v1/stops?lat=21&lon=105.8&radius=0", 400, "radius"},
        {"/api/v1/stops?lat=21&lon=105.8&radius=99999", 400, "radius"},
        {"/api/v1/stops?lat=21&lon=105.8&radius=", 400, "radius"},
        {"/api/v1/stops?lat=21&lon=105.8&limit=1000", 400, "limit"},
        {"/api/v1/stops?lat=21&lon=105.8&limit=2.5", 400, "limit"},
        {"/api/v1/stops/NOPE", 404, "stop_id"},
        {"/api/v1/stops/NOPE/arrivals", 404, "stop_id"},
        {"/api/v1/stops/D/arrivals?minutes_after=1000", 400, "minutes_after"},
        {"/api/v1/stops/D/arrivals?minutes_before=-1", 400, "minutes_before"},
        {"/api/v1/stops/D/arrivals?limit=0", 400, "limit"},
        {"/api/v1/stops/D/arrivals?source=oracle", 400, "source"},
        {"/api/v1/routes/NOPE", 404, "route_id"},
        {"/api/v1/vehicles?route=NOPE", 404, "route"},
        {"/api/v1/vehicles/nobus", 404, "vehicle_id"},
        {"/api/v1/vehicles/nobus/track", 404, "vehicle_id"},
        {"/api/v1/vehicles/bus1/track?from=yesterday", 400, "from"},
        {"/api/v1/vehicles/bus1/track?to=2024-02-30T00:00:00Z", 400, "to"},
        {"/api/v1/vehicles/bus1/track?from=2024-06-01T00:00:00Z&to=2024-06-03T00:00:00Z", 400,
         "to"},
        {"/api/v1/vehicles/bus1/track?from=2024-06-02T00:00:00Z&to=2024-06-01T00:00:00Z", 400,
         "from"},
        {"/api/v1/vehicles/bus1/track?cursor=garbage", 400, "cursor"},
        {"/api/v1/vehicles/bus1/track?limit=0", 400, "limit"},
        {"/api/v1/vehicles/bus1/track?limit=5001", 400, "limit"},
        {"/api/v1/nothing", 404, NULL},
        {"/api/v1/stops/A%2", 400, NULL},
        {"/", 404, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = get_json(&r, cases[i].path, cases[i].status);
        json_t *e = json_object_get(j, "error");
        cr_assert(json_is_object(e), "%s", cases[i].path);
        cr_assert_eq(jint(e, "status"), cases[i].status);
        const char *msg = jstr(e, "message");
        if (cases[i].param) {
            cr_assert_str_eq(jstr(e, "parameter"), cases[i].param, "%s", cases[i].path);
            cr_assert_not_null(strstr(msg, cases[i].param), "%s: '%s'", cases[i].path, msg);
        } else {
            cr_assert_null(json_object_get(e, "parameter"), "%s", cases[i].path);
        }
        json_decref(j);
    }
    /* Wrong method on a known path: 405 with Allow. */
    struct hresp h = get(&r, "DELETE", "/api/v1/routes", NULL);
    cr_assert_eq(h.status, 405);
    cr_assert_str_eq(hdr(&h, "allow"), "GET, HEAD, OPTIONS");
    cr_assert_not_null(strstr(h.body, "\"method_not_allowed\""));
    free(h.body);
    buyt_test_rig_stop(&r);
}

/* ------------------------------------------------------------------ /metrics, /healthz */

/* Every line is a HELP, a TYPE or a sample of a declared family; returns the value of
 * `want` (a full sample name with labels) or NAN. */
static double check_exposition(const char *text, const char *want)
{
    double found = NAN;
    char types[400][96];
    int n_types = 0;
    const char *p = text;
    int line = 0;
    while (*p) {
        const char *e = strchr(p, '\n');
        cr_assert_not_null(e, "last line has no newline");
        char l[1024];
        snprintf(l, sizeof l, "%.*s", (int)(e - p), p);
        line++;
        if (!strncmp(l, "# HELP ", 7)) {
            cr_assert(strchr(l + 7, ' '), "line %d: HELP without text: %s", line, l);
        } else if (!strncmp(l, "# TYPE ", 7)) {
            char name[96], type[32];
            cr_assert_eq(sscanf(l + 7, "%95s %31s", name, type), 2, "line %d: %s", line, l);
            cr_assert(!strcmp(type, "counter") || !strcmp(type, "gauge") ||
                          !strcmp(type, "histogram") || !strcmp(type, "summary"),
                      "line %d: %s", line, l);
            for (int i = 0; i < n_types; i++)
                cr_assert_str_neq(types[i], name, "TYPE of %s twice", name);
            cr_assert_lt(n_types, 400);
            snprintf(types[n_types++], sizeof types[0], "%s", name);
        } else {
            /* name{labels} value */
            size_t i = 0;
            cr_assert((l[0] >= 'a' && l[0] <= 'z') || l[0] == '_', "line %d: %s", line, l);
            while (l[i] && ((l[i] >= 'a' && l[i] <= 'z') || (l[i] >= 'A' && l[i] <= 'Z') ||
                            (l[i] >= '0' && l[i] <= '9') || l[i] == '_' || l[i] == ':'))
                i++;
            char name[96];
            snprintf(name, sizeof name, "%.*s", (int)i, l);
            size_t j = i;
            if (l[j] == '{') {
                bool inq = false;
                for (j++; l[j] && (inq || l[j] != '}'); j++) {
                    if (l[j] == '\\' && inq)
                        j++;
                    else if (l[j] == '"')
                        inq = !inq;
                }
                cr_assert_eq(l[j], '}', "line %d: labels: %s", line, l);
                j++;
            }
            cr_assert_eq(l[j], ' ', "line %d: %s", line, l);
            char *end;
            double v = strtod(l + j + 1, &end);
            cr_assert_eq(*end, '\0', "line %d: value: %s", line, l);
            /* The family: the name, or the name less a histogram/summary suffix. */
            bool declared = false;
            for (int k = 0; k < n_types && !declared; k++) {
                size_t tl = strlen(types[k]);
                declared = !strcmp(types[k], name) ||
                           (!strncmp(types[k], name, tl) &&
                            (!strcmp(name + tl, "_bucket") || !strcmp(name + tl, "_sum") ||
                             !strcmp(name + tl, "_count")));
            }
            cr_assert(declared, "line %d: sample of an undeclared family: %s", line, l);
            if (want && (size_t)j == strlen(want) && !strncmp(l, want, j))
                found = v;
        }
        p = e + 1;
    }
    return found;
}

static double metric(struct buyt_test_rig *r, const char *sample)
{
    struct hresp h = get(r, "GET", "/metrics", NULL);
    cr_assert_eq(h.status, 200);
    cr_assert_str_eq(hdr(&h, "content-type"), "text/plain; version=0.0.4; charset=utf-8");
    double v = check_exposition(h.body, sample);
    free(h.body);
    return v;
}

Test(http_api, metrics_parse_and_counters_move_after_telemetry)
{
    struct buyt_test_rig r;
    rig_start(&r, "it-http-metrics", 2);
    cr_assert_eq(metric(&r, "buyt_ingest_records_total"), 0);
    cr_assert_eq(metric(&r, "buyt_vehicles_known"), 3);
    cr_assert_eq(metric(&r, "buyt_broker_connected"), 1);
    cr_assert_eq(metric(&r, "buyt_network_feed_version"), 7);
    cr_assert_eq(metric(&r, "buyt_ingest_messages_rejected_total{reason=\"truncated\"}"), 0);
    drive(&r);
    /* Garbage on a telemetry topic: one rejected message. */
    char topic[BUYT_TOPIC_MAX];
    buyt_topic_format(topic, sizeof topic, BUYT_TOPIC_TELEMETRY, "hn", "bus3");
    buyt_mqtt_publish(r.pub, topic, "\xff\xff\xff\x0f", 4, 1, false, NULL);
    for (int i = 0; i < 200 && r.e.stats.rejected_messages[BUYT_REJECT_TRUNCATED] == 0; i++)
        uv_run(&r.loop, UV_RUN_ONCE);
    cr_assert_eq(metric(&r, "buyt_ingest_records_total"), 11);
    cr_assert_eq(metric(&r, "buyt_ingest_records_accepted_total"), 11);
    cr_assert_eq(metric(&r, "buyt_ingest_messages_rejected_total{reason=\"truncated\"}"), 1);
    cr_assert_eq(metric(&r, "buyt_db_rows_committed_total{table=\"fixes\"}"), 10);
    cr_assert_geq(metric(&r, "buyt_match_fixes_total{outcome=\"matched\"}"), 1);
    cr_assert_eq(metric(&r, "buyt_vehicles_reporting"), 2);
    cr_assert_eq(metric(&r, "buyt_vehicles_matched"), 1);
    cr_assert_eq(metric(&r, "buyt_db_connected"), 1);
    cr_assert_eq(metric(&r, "buyt_db_reachable"), 1);
    cr_assert_geq(metric(&r, "buyt_ingest_batches_committed_total"), 1);
    cr_assert_gt(metric(&r, "buyt_db_batch_commit_last_seconds"), 0);
    cr_assert_geq(metric(&r, "buyt_loop_lag_seconds"), 0);
    cr_assert_geq(metric(&r, "buyt_loop_lag_sample_seconds_count"), 1);
    /* Requests are counted by route and status. */
    json_decref(get_json(&r, "/api/v1/routes/NOPE", 404));
    cr_assert_eq(metric(&r, "buyt_http_requests_total{route=\"/api/v1/routes/{route_id}\","
                            "status=\"404\"}"),
                 1);
    cr_assert_geq(metric(&r, "buyt_http_requests_total{route=\"/metrics\",status=\"200\"}"), 10);
    cr_assert_geq(metric(&r, "buyt_http_request_duration_seconds_count{route=\"/metrics\"}"), 10);
    buyt_test_rig_stop(&r);
}

static bool healthz_is(struct buyt_test_rig *r, int status)
{
    for (int i = 0; i < 100; i++) {
        struct hresp h = get(r, "GET", "/healthz", NULL);
        free(h.body);
        if (h.status == status)
            return true;
        usleep(50 * 1000);
        uv_run(&r->loop, UV_RUN_NOWAIT);
    }
    return false;
}

Test(http_api, healthz_is_503_while_the_database_is_down)
{
    struct buyt_test_rig r;
    rig_start(&r, "it-http-health", 2);
    cr_assert(healthz_is(&r, 200));
    json_t *j = get_json(&r, "/healthz", 200);
    cr_assert_str_eq(jstr(j, "status"), "ok");
    cr_assert(json_is_true(json_object_get(json_object_get(j, "broker"), "connected")));
    cr_assert(json_is_true(json_object_get(json_object_get(j, "database"), "reachable")));
    cr_assert_eq(jint(json_object_get(j, "network"), "feed_version"), 7);
    cr_assert_eq(jint(json_object_get(j, "network"), "frequency_trips"), 0);
    cr_assert_eq(jint(json_object_get(j, "vehicles"), "known"), 3);
    cr_assert_eq(jint(json_object_get(j, "spool"), "pending_batches"), 0);
    json_decref(j);

    buyt_test_servers("pg-stop");
    bool down = healthz_is(&r, 503);
    j = down ? get_json(&r, "/healthz", 503) : NULL;
    /* Tracks need the database: a clear 503, and the loop keeps serving everything else. */
    json_t *t = down ? get_json(&r, "/api/v1/vehicles/bus1/track", 503) : NULL;
    json_t *ok = down ? get_json(&r, "/api/v1/routes", 200) : NULL;
    buyt_test_servers("pg-start");
    cr_assert(down, "healthz stayed 200 with the database down");
    cr_assert_str_eq(jstr(j, "status"), "unavailable");
    cr_assert(json_is_false(json_object_get(json_object_get(j, "database"), "reachable")));
    cr_assert_str_eq(jstr(json_object_get(t, "error"), "code"), "database_unavailable");
    json_decref(j);
    json_decref(t);
    json_decref(ok);
    cr_assert(healthz_is(&r, 200), "healthz did not recover");
    buyt_test_rig_stop(&r);
}

/* ------------------------------------------------------------------ HTTP mechanics */

Test(http_api, etag_gzip_head_keepalive_cors_and_limits)
{
    struct buyt_test_rig r;
    rig_start(&r, "it-http-mech", 2);
    const char *route = "/api/v1/routes/01";
    struct hresp a = get(&r, "GET", route, NULL);
    cr_assert_eq(a.status, 200);
    const char *et = hdr(&a, "etag");
    cr_assert_not_null(et);
    char etag[128];
    snprintf(etag, sizeof etag, "%s", et);
    cr_assert_eq(etag[0], '"');
    cr_assert_str_eq(hdr(&a, "vary"), "Accept-Encoding, Origin");
    cr_assert_str_eq(hdr(&a, "cache-control"), "public, max-age=300");

    /* If-None-Match -> 304, no body, same validator. */
    char extra[256];
    snprintf(extra, sizeof extra, "If-None-Match: W/\"nope\", %s\r\n", etag);
    struct hresp nm = get(&r, "GET", route, extra);
    cr_assert_eq(nm.status, 304);
    cr_assert_eq(nm.len, 0);
    cr_assert_str_eq(hdr(&nm, "etag"), etag);
    cr_assert_null(hdr(&nm, "content-length"));
    free(nm.body);

    /* gzip when accepted: smaller, inflates to the same bytes; its ETag is the weak form. */
    struct hresp gz = get(&r, "GET", route, "Accept-Encoding: br, gzip;q=0.8\r\n");
    cr_assert_eq(gz.status, 200);
    cr_assert_str_eq(hdr(&gz, "content-encoding"), "gzip");
    cr_assert_lt(gz.len, a.len / 2, "gzip %zu vs %zu", gz.len, a.len);
    size_t ul;
    char *u = buyt_test_gunzip(gz.body, gz.len, &ul);
    cr_assert_eq(ul, a.len);
    cr_assert_eq(memcmp(u, a.body, ul), 0);
    char weak[140];
    snprintf(weak, sizeof weak, "W/%s", etag);
    cr_assert_str_eq(hdr(&gz, "etag"), weak);
    free(u);
    free(gz.body);
    snprintf(extra, sizeof extra, "If-None-Match: %s\r\nAccept-Encoding: gzip\r\n", weak);
    nm = get(&r, "GET", route, extra);
    cr_assert_eq(nm.status, 304, "the weak tag validates too");
    free(nm.body);
    struct hresp no = get(&r, "GET", route, "Accept-Encoding: gzip;q=0\r\n");
    cr_assert_null(hdr(&no, "content-encoding"));
    free(no.body);

    /* HEAD: the GET's headers, no body. */
    struct hresp hd = get(&r, "HEAD", route, NULL);
    cr_assert_eq(hd.status, 200);
    cr_assert_eq(atol(hdr(&hd, "content-length")), (long)a.len);
    cr_assert_str_eq(hdr(&hd, "etag"), etag);
    free(hd.body);

    /* CORS: the configured origin only; preflight. */
    struct hresp co = get(&r, "GET", "/api/v1/routes", "Origin: " CORS_ORIGIN "\r\n");
    cr_assert_str_eq(hdr(&co, "access-control-allow-origin"), CORS_ORIGIN);
    cr_assert_not_null(strstr(hdr(&co, "access-control-expose-headers"), "ETag"));
    free(co.body);
    co = get(&r, "GET", "/api/v1/routes", "Origin: https://evil.example\r\n");
    cr_assert_null(hdr(&co, "access-control-allow-origin"));
    free(co.body);
    co = get(&r, "OPTIONS", "/api/v1/stops/D/arrivals",
             "Origin: " CORS_ORIGIN "\r\nAccess-Control-Request-Method: GET\r\n"
             "Access-Control-Request-Headers: if-none-match\r\n");
    cr_assert_eq(co.status, 204);
    cr_assert_str_eq(hdr(&co, "access-control-allow-origin"), CORS_ORIGIN);
    cr_assert_not_null(strstr(hdr(&co, "access-control-allow-headers"), "If-None-Match"));
    cr_assert_not_null(strstr(hdr(&co, "access-control-allow-methods"), "GET"));
    free(co.body);

    /* Keep-alive: two requests on one connection, both answered, connection kept. */
    struct buyt_test_http_conn ka = {.n = 2,
                                     .req = {"GET /api/v1/stops/A HTTP/1.1\r\nHost: t\r\n\r\n",
                                             "GET /api/v1/stops/B HTTP/1.1\r\nHost: t\r\n\r\n"}};
    buyt_test_http_run(&r.loop, r.port, &ka);
    cr_assert_eq(ka.res[0].status, 200);
    cr_assert_eq(ka.res[1].status, 200);
    cr_assert_str_eq(hdr(&ka.res[0], "connection"), "keep-alive");
    cr_assert_not_null(strstr(ka.res[1].body, "\"id\":\"B\""));
    buyt_test_http_free(&ka);

    /* A body over the limit: 413 as JSON as soon as the head announces it (no body sent: a
     * server closing with unread bytes would reset the connection), connection closed. */
    struct buyt_test_http_conn tl = {
        .n = 1,
        .req = {"POST /api/v1/routes HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n"
                "Content-Type: application/json\r\n\r\n"},
        .expect_close = true};
    buyt_test_http_run(&r.loop, r.port, &tl);
    cr_assert_eq(tl.res[0].status, 413);
    cr_assert_str_eq(hdr(&tl.res[0], "content-type"), "application/json");
    cr_assert_not_null(strstr(tl.res[0].body, "\"too_large\""), "%s", tl.res[0].body);
    cr_assert(tl.closed);
    buyt_test_http_free(&tl);

    /* A target over the limit: 414. */
    char longp[3000] = "/api/v1/stops?lat=21&lon=105&pad=";
    memset(longp + strlen(longp), 'a', 2500);
    longp[2600] = '\0';
    struct hresp lp = get(&r, "GET", longp, NULL);
    cr_assert_eq(lp.status, 414);
    free(lp.body);

    /* An idle keep-alive connection is closed by the server's request timeout (3 s here). */
    struct buyt_test_http_conn idle = {
        .n = 1, .req = {"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"}, .expect_close = true};
    buyt_test_http_run(&r.loop, r.port, &idle);
    cr_assert(idle.closed);
    cr_assert(idle.close_after_s > 2 && idle.close_after_s < 5, "closed after %.2f s",
              idle.close_after_s);
    buyt_test_http_free(&idle);
    free(a.body);
    buyt_test_rig_stop(&r);
}

/* The engine stops with a client idling on a keep-alive connection: the server closes it at
 * once, and the loop ends with no handle left (rig_stop asserts uv_loop_close). */
struct idle_client {
    int port;
    volatile int state; /* 1: answered, waiting; 2: closed by the server */
    uv_thread_t th;
};

static void idle_thread(void *arg)
{
    struct idle_client *c = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        const char *q = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
        send(fd, q, strlen(q), MSG_NOSIGNAL);
        char buf[4096];
        ssize_t g = recv(fd, buf, sizeof buf, 0);
        if (g > 0) {
            c->state = 1;
            while ((g = recv(fd, buf, sizeof buf, 0)) > 0)
                ;
            if (g == 0)
                c->state = 2;
        }
    }
    close(fd);
}

static bool idle_answered(void *arg)
{
    return ((struct idle_client *)arg)->state >= 1;
}

Test(http_api, stopping_closes_idle_connections_and_leaves_no_handle)
{
    struct buyt_test_rig r;
    rig_start(&r, "it-http-stop", 2);
    struct idle_client c = {.port = r.port};
    cr_assert_eq(uv_thread_create(&c.th, idle_thread, &c), 0);
    cr_assert(buyt_test_run_until(&r.loop, idle_answered, &c, 10000));
    uint64_t t0 = uv_hrtime();
    buyt_test_rig_stop(&r);
    uv_thread_join(&c.th);
    cr_assert_eq(c.state, 2, "the server did not close the idle connection");
    cr_assert_lt((double)(uv_hrtime() - t0) / 1e9, 2.5, "stopping waited for the idle timeout");
}
