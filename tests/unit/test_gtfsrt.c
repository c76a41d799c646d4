/* GTFS-Realtime feeds without servers: the pure parts (start_date, stop status, the format
 * parameter, JSON through protobuf-c descriptors), then feeds built over a hand-made engine
 * state (registry, network, predictor) and decoded with the generated code. */
#include "clock.h"
#include "engine.h"
#include "error.h"
#include "geo.h"
#include "gtfsrt.h"
#include "jsonw.h"
#include "network.h"
#include "predict.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define LAT0 21.03
#define LON0 105.85
#define DAY_MS 1714496400000LL /* 2024-05-01 00:00 +07 (noon - 12 h of that service day) */
#define HMS(h, m, s) (DAY_MS + ((h)*3600LL + (m)*60LL + (s)) * 1000)
#define NSTOP 6
#define GAP_M 400.0
#define SEG_S 60

typedef TransitRealtime__VehiclePosition__VehicleStopStatus stop_status;
#define STOPPED_AT TRANSIT_REALTIME__VEHICLE_POSITION__VEHICLE_STOP_STATUS__STOPPED_AT
#define INCOMING_AT TRANSIT_REALTIME__VEHICLE_POSITION__VEHICLE_STOP_STATUS__INCOMING_AT
#define IN_TRANSIT_TO TRANSIT_REALTIME__VEHICLE_POSITION__VEHICLE_STOP_STATUS__IN_TRANSIT_TO
#define TRIP_SCHEDULED TRANSIT_REALTIME__TRIP_DESCRIPTOR__SCHEDULE_RELATIONSHIP__SCHEDULED
#define TRIP_CANCELED TRANSIT_REALTIME__TRIP_DESCRIPTOR__SCHEDULE_RELATIONSHIP__CANCELED

/* ------------------------------------------------------------------ pure parts */

Test(gtfsrt, start_date_is_the_date_of_the_service_days_noon)
{
    char d[9];
    buyt_gtfsrt_start_date(DAY_MS, d); /* Hanoi: 2024-04-30T17:00Z */
    cr_assert_str_eq(d, "20240501");
    buyt_gtfsrt_start_date(1714521600000LL, d); /* UTC: 2024-05-01T00:00Z */
    cr_assert_str_eq(d, "20240501");
    buyt_gtfsrt_start_date(1714557600000LL, d); /* Honolulu (-10): 2024-05-01T10:00Z */
    cr_assert_str_eq(d, "20240501");
    buyt_gtfsrt_start_date(1709164800000LL - 7 * 3600000LL, d); /* leap day, +07 */
    cr_assert_str_eq(d, "20240229");
    buyt_gtfsrt_start_date(951868800000LL, d); /* 2000-03-01T00:00Z */
    cr_assert_str_eq(d, "20000301");
    buyt_gtfsrt_start_date(946598400000LL, d); /* 1999-12-31T00:00Z */
    cr_assert_str_eq(d, "19991231");
    buyt_gtfsrt_start_date(-86400000LL, d); /* 1969-12-31 */
    cr_assert_str_eq(d, "19691231");
}

Test(gtfsrt, stop_status_standing_near_approaching_or_in_transit)
{
    struct buyt_gtfsrt_opts o;
    buyt_gtfsrt_opts_default(&o);
    struct {
        double to_m, speed;
        stop_status want;
    } c[] = {
        {0, 0, STOPPED_AT},      {25, 0.5, STOPPED_AT},     {-29, 1.0, STOPPED_AT},
        {10, NAN, STOPPED_AT},   {10, 8.0, INCOMING_AT},    {31, 0, INCOMING_AT},
        {300, 10, INCOMING_AT},  {301, 10, IN_TRANSIT_TO},  {2000, 0, IN_TRANSIT_TO},
        {-20, 6.0, INCOMING_AT}, {-31, 6.0, IN_TRANSIT_TO}, {-500, 0, IN_TRANSIT_TO},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        cr_assert_eq(buyt_gtfsrt_stop_status(c[i].to_m, c[i].speed, &o), c[i].want,
                     "%.0f m at %.1f m/s", c[i].to_m, c[i].speed);
}

Test(gtfsrt, format_parameter_is_protobuf_by_default_or_json)
{
    bool json = true;
    cr_assert_eq(buyt_gtfsrt_parse_format(NULL, &json), 0);
    cr_assert_not(json);
    cr_assert_eq(buyt_gtfsrt_parse_format("json", &json), 0);
    cr_assert(json);
    cr_assert_eq(buyt_gtfsrt_parse_format("protobuf", &json), 0);
    cr_assert_not(json);
    cr_assert_eq(buyt_gtfsrt_parse_format("pb", &json), 0);
    cr_assert_not(json);
    const char *bad[] = {"", "JSON", "xml", "json ", "proto"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(buyt_gtfsrt_parse_format(bad[i], &json), BUYT_EINVAL, "'%s'", bad[i]);
}

static json_t *to_json(const ProtobufCMessage *m)
{
    struct buyt_jsonw w;
    buyt_jsonw_init(&w);
    cr_assert_eq(buyt_gtfsrt_json_write(&w, m), 0);
    cr_assert_not(w.oom);
    json_error_t err;
    json_t *j = json_loadb(buyt_jsonw_data(&w), buyt_jsonw_len(&w), JSON_REJECT_DUPLICATES, &err);
    cr_assert_not_null(j, "%s: %.*s", err.text, (int)buyt_jsonw_len(&w), buyt_jsonw_data(&w));
    buyt_jsonw_close(&w);
    return j;
}

Test(gtfsrt, json_names_proto_fields_and_writes_only_what_is_set)
{
    TransitRealtime__Position pos = TRANSIT_REALTIME__POSITION__INIT;
    pos.latitude = 21.0285f;
    pos.longitude = 105.8542f;
    pos.has_speed = true;
    pos.speed = 0.1f;
    pos.has_bearing = true;
    pos.bearing = NAN;
    TransitRealtime__VehicleDescriptor veh = TRANSIT_REALTIME__VEHICLE_DESCRIPTOR__INIT;
    veh.id = "29B-\"001\"\\ Hà";
    TransitRealtime__TripUpdate__StopTimeEvent ev =
        TRANSIT_REALTIME__TRIP_UPDATE__STOP_TIME_EVENT__INIT;
    ev.has_time = true;
    ev.time = 1714532400;
    ev.has_delay = true;
    ev.delay = -45;
    TransitRealtime__TripUpdate__StopTimeUpdate su[2] = {
        TRANSIT_REALTIME__TRIP_UPDATE__STOP_TIME_UPDATE__INIT,
        TRANSIT_REALTIME__TRIP_UPDATE__STOP_TIME_UPDATE__INIT};
    su[0].has_stop_sequence = true;
    su[0].stop_sequence = 4;
    su[0].arrival = &ev;
    su[1].stop_id = "s5";
    su[1].has_schedule_relationship = true;
    su[1].schedule_relationship =
        TRANSIT_REALTIME__TRIP_UPDATE__STOP_TIME_UPDATE__SCHEDULE_RELATIONSHIP__SKIPPED;
    TransitRealtime__TripUpdate__StopTimeUpdate *sup[2] = {&su[0], &su[1]};
    TransitRealtime__TripDescriptor trip = TRANSIT_REALTIME__TRIP_DESCRIPTOR__INIT;
    trip.trip_id = "T1";
    trip.has_direction_id = true;
    trip.direction_id = 0; /* set to zero: still written */
    TransitRealtime__TripUpdate tu = TRANSIT_REALTIME__TRIP_UPDATE__INIT;
    tu.trip = &trip;
    tu.vehicle = &veh;
    tu.n_stop_time_update = 2;
    tu.stop_time_update = sup;
    TransitRealtime__VehiclePosition vp = TRANSIT_REALTIME__VEHICLE_POSITION__INIT;
    vp.position = &pos;
    vp.has_current_status = true;
    vp.current_status = STOPPED_AT;
    vp.has_timestamp = true;
    vp.timestamp = 17145324001ULL; /* beyond 32 bits: still a number */
    TransitRealtime__FeedEntity ent[2] = {TRANSIT_REALTIME__FEED_ENTITY__INIT,
                                          TRANSIT_REALTIME__FEED_ENTITY__INIT};
    ent[0].id = "a";
    ent[0].trip_update = &tu;
    ent[1].id = "b";
    ent[1].vehicle = &vp;
    TransitRealtime__FeedEntity *entp[2] = {&ent[0], &ent[1]};
    TransitRealtime__FeedHeader h = TRANSIT_REALTIME__FEED_HEADER__INIT;
    h.gtfs_realtime_version = "2.0";
    TransitRealtime__FeedMessage m = TRANSIT_REALTIME__FEED_MESSAGE__INIT;
    m.header = &h;
    m.n_entity = 2;
    m.entity = entp;

    json_t *j = to_json(&m.base);
    json_t *hd = json_object_get(j, "header");
    cr_assert_str_eq(json_string_value(json_object_get(hd, "gtfs_realtime_version")), "2.0");
    cr_assert_eq(json_object_size(hd), 1, "incrementality and timestamp are not set");
    json_t *e0 = json_array_get(json_object_get(j, "entity"), 0);
    cr_assert_eq(json_object_size(e0), 2, "id and trip_update only (is_deleted unset)");
    json_t *t = json_object_get(e0, "trip_update");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(t, "vehicle"), "id")),
                     "29B-\"001\"\\ Hà");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(t, "trip"), "direction_id")),
                 0);
    json_t *stus = json_object_get(t, "stop_time_update");
    cr_assert_eq(json_array_size(stus), 2);
    json_t *a = json_object_get(json_array_get(stus, 0), "arrival");
    cr_assert_eq(json_integer_value(json_object_get(a, "time")), 1714532400);
    cr_assert_eq(json_integer_value(json_object_get(a, "delay")), -45);
    cr_assert_null(json_object_get(a, "uncertainty"));
    cr_assert_str_eq(
        json_string_value(json_object_get(json_array_get(stus, 1), "schedule_relationship")),
        "SKIPPED");
    cr_assert_null(json_object_get(json_array_get(stus, 1), "stop_sequence"));
    json_t *v = json_object_get(json_array_get(json_object_get(j, "entity"), 1), "vehicle");
    cr_assert_str_eq(json_string_value(json_object_get(v, "current_status")), "STOPPED_AT");
    cr_assert_eq(json_integer_value(json_object_get(v, "timestamp")), 17145324001LL);
    json_t *p = json_object_get(v, "position");
    /* Floats in the shortest form that reads back to the same float. */
    cr_assert_eq((float)json_real_value(json_object_get(p, "latitude")), 21.0285f);
    cr_assert_eq((float)json_real_value(json_object_get(p, "longitude")), 105.8542f);
    cr_assert_eq((float)json_real_value(json_object_get(p, "speed")), 0.1f);
    cr_assert(json_is_null(json_object_get(p, "bearing")), "NaN is null");
    cr_assert_null(json_object_get(v, "trip"));
    json_decref(j);

    /* The literal text of the position: short numbers, .proto names. */
    struct buyt_jsonw w;
    buyt_jsonw_init(&w);
    pos.has_bearing = false;
    cr_assert_eq(buyt_gtfsrt_json_write(&w, &pos.base), 0);
    cr_assert_str_eq(buyt_jsonw_cstr(&w), "{\"latitude\":21.0285,\"longitude\":105.8542,"
                                          "\"speed\":0.1}");
    buyt_jsonw_close(&w);
}

/* ------------------------------------------------------------------ a hand-made engine state */

/* A street of NSTOP stops GAP_M apart running east; trips every 10 min from 08:00, SEG_S
 * between stops, a 20 s dwell at the intermediate ones. */
struct rig {
    uv_loop_t loop;
    struct buyt_engine e;
    struct buyt_gtfsrt *g;
    uint32_t trip[6]; /* 08:00, 08:10, ... */
};

/* true: the trips are runs of one frequencies.txt trip "F" (starts 08:00, 08:10, ...). */
static bool rig_runs;
/* true: T0 (08:00) and T2 (08:20) are one block, "B": one bus runs T2 after T0. */
static bool rig_block;

static void rig_network(struct rig *r, uint32_t n_trips)
{
    struct buyt_geo_frame f;
    buyt_geo_frame_init(&f, LAT0, LON0);
    struct buyt_network *net;
    cr_assert_eq(buyt_network_new(NULL, &net), 0);
    uint32_t route, shape, stop[NSTOP];
    cr_assert_eq(buyt_network_add_route(net, "R1", "01", 3, &route), 0);
    cr_assert_eq(buyt_network_add_shape(net, "E", &shape), 0);
    for (double x = 0; x <= (NSTOP - 1) * GAP_M + 1e-9; x += 50) {
        double lat, lon;
        buyt_geo_from_xy(&f, x, 0, &lat, &lon);
        cr_assert_eq(buyt_network_add_shape_point(net, shape, lat, lon), 0);
    }
    for (int k = 0; k < NSTOP; k++) {
        char id[8];
        double lat, lon;
        snprintf(id, sizeof id, "s%d", k);
        buyt_geo_from_xy(&f, k * GAP_M, 3, &lat, &lon);
        cr_assert_eq(buyt_network_add_stop(net, id, id, lat, lon, &stop[k]), 0);
    }
    for (uint32_t i = 0; i < n_trips; i++) {
        char id[16];
        snprintf(id, sizeof id, "T%u", i);
        int32_t s0 = 8 * 3600 + (int32_t)i * 600;
        struct buyt_network_trip_def d = {.trip_id = rig_runs ? "F" : id,
                                          .route = route,
                                          .shape = shape,
                                          .direction_id = 1,
                                          .headsign = "East",
                                          .day_start_ms = DAY_MS,
                                          .block_id = rig_block && (i == 0 || i == 2) ? "B" : NULL,
                                          .frequency_run = rig_runs,
                                          .run_start_s = s0};
        cr_assert_eq(buyt_network_add_trip(net, &d, &r->trip[i]), 0);
        for (int k = 0; k < NSTOP; k++) {
            int32_t arr = s0 + k * (SEG_S + 20), dep = k == 0 || k == NSTOP - 1 ? arr : arr + 20;
            cr_assert_eq(buyt_network_add_stop_time(net, r->trip[i], (uint32_t)k * 10 + 5, stop[k],
                                                    arr, dep),
                         0);
        }
    }
    cr_assert_eq(buyt_network_finish(net), 0);
    r->e.net = net;
}

static void rig_start(struct rig *r, const struct buyt_gtfsrt_opts *o)
{
    memset(r, 0, sizeof *r);
    cr_assert_eq(uv_loop_init(&r->loop), 0);
    r->e.loop = &r->loop;
    buyt_vehicles_init(&r->e.vehicles);
    rig_network(r, 6);
    cr_assert_eq(buyt_predict_new(NULL, &r->e.predict), 0);
    cr_assert_eq(buyt_predict_set_network(r->e.predict, r->e.net), 0);
    cr_assert_eq(buyt_gtfsrt_new(&r->e, o, &r->g), 0);
}

static void rig_stop(struct rig *r)
{
    buyt_gtfsrt_free(r->g);
    buyt_predict_free(r->e.predict);
    buyt_network_free(r->e.net);
    buyt_vehicles_close(&r->e.vehicles);
    cr_assert_eq(uv_loop_close(&r->loop), 0);
}

/* The pointer is valid until the registry grows past 256 vehicles (the tests hold a few). */
static struct buyt_vehicle *add_vehicle(struct rig *r, const char *id)
{
    struct buyt_seqset s;
    buyt_seqset_init(&s, 0);
    cr_assert_eq(buyt_vehicles_add(&r->e.vehicles, id, (int32_t)r->e.vehicles.n + 1, &s), 0);
    return &r->e.vehicles.v[r->e.vehicles.n - 1];
}

/* What the engine does with a matched fix: the registry's newest position and match, then the
 * predictor. `dist` along trip `t`; off_route keeps the progress. */
static void fix(struct rig *r, struct buyt_vehicle *v, uint32_t t, double dist, int64_t ms,
                double speed, bool off_route)
{
    const struct buyt_network *net = r->e.net;
    double x, y, lat, lon;
    buyt_shape_point_at(&net->shapes[net->trips[t].shape], dist, &x, &y, NULL);
    buyt_geo_from_xy(&net->frame, x, off_route ? y + 200 : y, &lat, &lon);
    v->last_fix_ms = ms;
    v->last_seen_ms = ms;
    v->lat_e7 = buyt_deg_to_e7(lat);
    v->lon_e7 = buyt_deg_to_e7(lon);
    v->speed_cms = (uint32_t)lround(speed * 100);
    v->course_cdeg = 9000;
    struct buyt_matcher_result res = {0};
    res.trip = t;
    res.dist_m = dist;
    res.next_stop = buyt_network_trip_next_stop(net, t, dist, 30);
    res.off_route = off_route;
    res.offset_m = NAN;
    double sched = buyt_network_trip_time_at(net, t, dist, 30, NULL);
    res.deviation_s = (int32_t)lround((double)(ms - net->trips[t].day_start_ms) / 1000 - sched);
    v->trip = t;
    v->matched_ms = ms;
    v->off_route = off_route;
    v->dist_m = (float)dist;
    v->next_stop = res.next_stop;
    v->deviation_s = res.deviation_s;
    cr_assert_eq(buyt_predict_vehicle(r->e.predict, v->index, v->id, ms, &res), 0);
}

static TransitRealtime__FeedMessage *feed(struct rig *r, enum buyt_gtfsrt_feed which, int64_t now,
                                          struct buyt_gtfsrt_snapshot *s)
{
    cr_assert_eq(buyt_gtfsrt_build(r->g, which, now, s), 0);
    TransitRealtime__FeedMessage *m = transit_realtime__feed_message__unpack(NULL, s->len, s->pb);
    cr_assert_not_null(m, "the feed does not unpack");
    cr_assert(protobuf_c_message_check(&m->base), "required fields missing");
    cr_assert_str_eq(m->header->gtfs_realtime_version, "2.0");
    cr_assert(m->header->has_incrementality);
    cr_assert_eq(m->header->incrementality,
                 TRANSIT_REALTIME__FEED_HEADER__INCREMENTALITY__FULL_DATASET);
    cr_assert_eq(m->n_entity, s->entities);
    return m;
}

static const TransitRealtime__FeedEntity *entity(const TransitRealtime__FeedMessage *m,
                                                 const char *id)
{
    for (size_t i = 0; i < m->n_entity; i++)
        if (!strcmp(m->entity[i]->id, id))
            return m->entity[i];
    return NULL;
}

static double stop_d(const struct rig *r, uint32_t t, uint32_t k)
{
    return buyt_network_trip_stop_dist(r->e.net, t, k);
}

/* ------------------------------------------------------------------ VehiclePositions */

Test(gtfsrt, vehicle_positions_of_fresh_vehicles_with_trip_stop_and_status)
{
    struct rig r;
    rig_start(&r, NULL);
    int64_t now = HMS(8, 3, 0);
    uint32_t t = r.trip[0];
    struct buyt_vehicle *a = add_vehicle(&r, "bus-a");
    fix(&r, a, t, stop_d(&r, t, 2) + 120, now - 2000, 8.5, false); /* 280 m before s3 */
    struct buyt_vehicle *b = add_vehicle(&r, "bus-b");
    fix(&r, b, r.trip[1], stop_d(&r, r.trip[1], 1), now - 1000, 0, false); /* standing at s1 */
    struct buyt_vehicle *c = add_vehicle(&r, "bus-c");
    fix(&r, c, r.trip[2], 500, now - 121000, 8, false); /* silent for 121 s: a ghost */
    struct buyt_vehicle *d = add_vehicle(&r, "bus-d");
    fix(&r, d, r.trip[3], 500, now - 3000, 8, true); /* off its route */
    add_vehicle(&r, "bus-e");                        /* never heard */
    struct buyt_gtfsrt_snapshot s;
    TransitRealtime__FeedMessage *m = feed(&r, BUYT_GTFSRT_VEHICLE_POSITIONS, now, &s);
    cr_assert_eq(m->n_entity, 3, "a, b, d; not the silent c nor the unheard e");
    cr_assert_null(entity(m, "bus-c"));
    cr_assert_null(entity(m, "bus-e"));
    cr_assert_eq(m->header->timestamp, (uint64_t)(now / 1000));

    const TransitRealtime__VehiclePosition *vp = entity(m, "bus-a")->vehicle;
    cr_assert_not_null(vp);
    cr_assert_str_eq(vp->trip->trip_id, "T0");
    cr_assert_str_eq(vp->trip->route_id, "R1");
    cr_assert_str_eq(vp->trip->start_date, "20240501");
    cr_assert(vp->trip->has_direction_id);
    cr_assert_eq(vp->trip->direction_id, 1);
    cr_assert_eq(vp->trip->schedule_relationship, TRIP_SCHEDULED);
    cr_assert_str_eq(vp->vehicle->id, "bus-a");
    cr_assert_str_eq(vp->vehicle->label, "bus-a");
    cr_assert_float_eq(vp->position->latitude, (float)buyt_e7_to_deg(a->lat_e7), 1e-6);
    cr_assert_float_eq(vp->position->longitude, (float)buyt_e7_to_deg(a->lon_e7), 1e-6);
    cr_assert_float_eq(vp->position->bearing, 90.0f, 1e-6);
    cr_assert_float_eq(vp->position->speed, 8.5f, 1e-6);
    cr_assert_eq(vp->timestamp, (uint64_t)((now - 2000) / 1000));
    cr_assert_str_eq(vp->stop_id, "s3");
    cr_assert_eq(vp->current_stop_sequence, 35, "GTFS stop_sequence, not the index");
    cr_assert_eq(vp->current_status, INCOMING_AT, "280 m before s3");

    vp = entity(m, "bus-b")->vehicle;
    cr_assert_str_eq(vp->trip->trip_id, "T1");
    cr_assert_str_eq(vp->stop_id, "s1");
    cr_assert_eq(vp->current_status, STOPPED_AT);

    vp = entity(m, "bus-d")->vehicle;
    cr_assert_null(vp->trip, "off route: its trip is not asserted");
    cr_assert(!vp->has_current_stop_sequence && !vp->stop_id);
    cr_assert_not_null(vp->position);
    transit_realtime__feed_message__free_unpacked(m, NULL);
    rig_stop(&r);
}

/* ------------------------------------------------------------------ TripUpdates */

static const TransitRealtime__TripUpdate *trip_update(const TransitRealtime__FeedMessage *m,
                                                      const char *id)
{
    const TransitRealtime__FeedEntity *e = entity(m, id);
    return e ? e->trip_update : NULL;
}

Test(gtfsrt, trip_updates_give_the_predicted_stops_ahead_with_delay_and_uncertainty)
{
    struct rig r;
    rig_start(&r, NULL);
    /* s2 -> s3 learned: 90 s, standard deviation 12 s (band 1: 06-09 h, weekday). */
    struct buyt_predict_stat st = {.kind = BUYT_PREDICT_TRAVEL,
                                   .from_stop = "s2",
                                   .to_stop = "s3",
                                   .band = 1,
                                   .n = 50,
                                   .mean_s = 90,
                                   .var_s2 = 144};
    cr_assert_eq(buyt_predict_stat_put(r.e.predict, &st), 0);
    uint32_t t = r.trip[0];
    int64_t now = HMS(8, 3, 0);
    struct buyt_vehicle *a = add_vehicle(&r, "bus-a");
    fix(&r, a, t, stop_d(&r, t, 2) + 100, now - 2000, 8.5, false);
    struct buyt_gtfsrt_snapshot s;
    TransitRealtime__FeedMessage *m = feed(&r, BUYT_GTFSRT_TRIP_UPDATES, now, &s);
    cr_assert_eq(m->n_entity, 1);
    const TransitRealtime__TripUpdate *tu = trip_update(m, "T0@20240501");
    cr_assert_not_null(tu, "entity id is trip_id@start_date");
    cr_assert_str_eq(tu->trip->trip_id, "T0");
    cr_assert_str_eq(tu->trip->start_date, "20240501");
    cr_assert_str_eq(tu->trip->route_id, "R1");
    cr_assert_eq(tu->trip->schedule_relationship, TRIP_SCHEDULED);
    cr_assert_str_eq(tu->vehicle->id, "bus-a");
    cr_assert_eq(tu->timestamp, (uint64_t)((now - 2000) / 1000));
    cr_assert(tu->has_delay);
    cr_assert_eq(tu->delay, a->deviation_s);
    cr_assert_eq(tu->n_stop_time_update, NSTOP - 3, "s3, s4, s5");
    cr_assert_eq(s.stop_times, NSTOP - 3);
    const struct buyt_network *net = r.e.net;
    for (uint32_t i = 0; i < tu->n_stop_time_update; i++) {
        const TransitRealtime__TripUpdate__StopTimeUpdate *u = tu->stop_time_update[i];
        uint32_t k = 3 + i;
        const struct buyt_network_time *tm = &net->times[net->trips[t].first_time + k];
        struct buyt_predict_arrival pa;
        cr_assert_eq(buyt_predict_get(r.e.predict, t, k, &pa), BUYT_PREDICT_LIVE);
        cr_assert_eq(u->stop_sequence, tm->stop_sequence);
        char sid[8];
        snprintf(sid, sizeof sid, "s%u", k);
        cr_assert_str_eq(u->stop_id, sid);
        cr_assert_eq(
            u->schedule_relationship,
            TRANSIT_REALTIME__TRIP_UPDATE__STOP_TIME_UPDATE__SCHEDULE_RELATIONSHIP__SCHEDULED);
        int64_t sched_arr = (DAY_MS + tm->arrival_s * 1000LL) / 1000;
        cr_assert_not_null(u->arrival);
        cr_assert_eq(u->arrival->time, (pa.eta_ms + 500) / 1000, "stop %u", k);
        cr_assert_eq(u->arrival->delay, u->arrival->time - sched_arr);
        /* A quarter of s2 -> s3 behind the bus: 0.75 x 12 s of learned spread left; the
         * schedule adds none after it. */
        cr_assert(u->arrival->has_uncertainty);
        cr_assert_eq(u->arrival->uncertainty, 9, "stop %u", k);
        if (k + 1 < NSTOP) {
            cr_assert_not_null(u->departure);
            cr_assert_eq(u->departure->time, u->arrival->time + 20, "scheduled dwell 20 s");
            cr_assert_eq(u->departure->delay, u->arrival->delay);
        } else {
            cr_assert_null(u->departure, "the last stop has an arrival only");
        }
        if (i)
            cr_assert_geq(u->arrival->time, tu->stop_time_update[i - 1]->arrival->time);
    }
    transit_realtime__feed_message__free_unpacked(m, NULL);

    /* A bus waiting at the first stop before its departure: a departure, never before the
     * schedule, and no uncertainty (the schedule alone). */
    struct buyt_vehicle *b = add_vehicle(&r, "bus-b");
    fix(&r, b, r.trip[1], 0, now - 1000, 0, false);
    m = feed(&r, BUYT_GTFSRT_TRIP_UPDATES, now, &s);
    tu = trip_update(m, "T1@20240501");
    cr_assert_not_null(tu);
    cr_assert_eq(tu->n_stop_time_update, NSTOP);
    const TransitRealtime__TripUpdate__StopTimeUpdate *u0 = tu->stop_time_update[0];
    cr_assert_null(u0->arrival, "a trip's first stop is a departure");
    cr_assert_eq(u0->departure->time, HMS(8, 10, 0) / 1000);
    cr_assert_eq(u0->departure->delay, 0);
    cr_assert_not(u0->departure->has_uncertainty);
    transit_realtime__feed_message__free_unpacked(m, NULL);
    rig_stop(&r);
}

/* Runs of a frequencies.txt trip share trip_id and date: start_time tells them apart, in the
 * descriptor (required there by GTFS-Realtime) and in the entity id (one entity each). */
Test(gtfsrt, frequency_runs_are_told_apart_by_start_time)
{
    struct rig r;
    rig_runs = true;
    rig_start(&r, NULL);
    rig_runs = false;
    int64_t now = HMS(8, 12, 0);
    struct buyt_vehicle *a = add_vehicle(&r, "bus-a"), *b = add_vehicle(&r, "bus-b");
    fix(&r, a, r.trip[0], stop_d(&r, r.trip[0], 2) + 100, now - 2000, 8.5, false);
    fix(&r, b, r.trip[1], stop_d(&r, r.trip[1], 1), now - 1000, 0, false);
    struct buyt_gtfsrt_snapshot s;
    TransitRealtime__FeedMessage *m = feed(&r, BUYT_GTFSRT_TRIP_UPDATES, now, &s);
    cr_assert_eq(m->n_entity, 2, "one TripUpdate per run");
    const TransitRealtime__TripUpdate *tu0 = trip_update(m, "F@20240501@08:00:00");
    const TransitRealtime__TripUpdate *tu1 = trip_update(m, "F@20240501@08:10:00");
    cr_assert_not_null(tu0);
    cr_assert_not_null(tu1);
    cr_assert_str_eq(tu0->trip->trip_id, "F");
    cr_assert_str_eq(tu0->trip->start_time, "08:00:00");
    cr_assert_str_eq(tu1->trip->start_time, "08:10:00");
    cr_assert_str_eq(tu1->trip->start_date, "20240501");
    cr_assert_str_eq(tu0->vehicle->id, "bus-a");
    cr_assert_str_eq(tu1->vehicle->id, "bus-b");
    transit_realtime__feed_message__free_unpacked(m, NULL);
    m = feed(&r, BUYT_GTFSRT_VEHICLE_POSITIONS, now, &s);
    cr_assert_str_eq(entity(m, "bus-b")->vehicle->trip->start_time, "08:10:00");
    transit_realtime__feed_message__free_unpacked(m, NULL);
    rig_stop(&r);

    /* A scheduled trip has no start_time: trip_id and date name it. */
    rig_start(&r, NULL);
    a = add_vehicle(&r, "bus-a");
    fix(&r, a, r.trip[0], stop_d(&r, r.trip[0], 2) + 100, now - 2000, 8.5, false);
    m = feed(&r, BUYT_GTFSRT_TRIP_UPDATES, now, &s);
    cr_assert_null(trip_update(m, "T0@20240501")->trip->start_time);
    transit_realtime__feed_message__free_unpacked(m, NULL);
    rig_stop(&r);
}

/* The later trip of a bus's block has its own TripUpdate, with that bus, from its first stop:
 * a late bus on T0 makes T2 leave late. Once another bus runs T2, T2 is that bus's (one
 * TripUpdate per trip). */
Test(gtfsrt, the_next_trip_of_a_block_is_predicted_with_its_bus)
{
    struct rig r;
    rig_block = true;
    rig_start(&r, NULL);
    rig_block = false;
    const struct buyt_network *net = r.e.net;
    cr_assert_eq(net->trips[r.trip[0]].next_in_block, r.trip[2]);
    /* bus-a is at s2 at 08:15, 13 min behind T0's schedule (s2 at 08:02:40): T0 ends about
     * 08:19:20, so with the minimum layover T2 cannot leave at 08:20. */
    int64_t now = HMS(8, 15, 0);
    struct buyt_vehicle *a = add_vehicle(&r, "bus-a");
    fix(&r, a, r.trip[0], stop_d(&r, r.trip[0], 2) + 10, now - 1000, 8.5, false);
    struct buyt_gtfsrt_snapshot s;
    TransitRealtime__FeedMessage *m = feed(&r, BUYT_GTFSRT_TRIP_UPDATES, now, &s);
    cr_assert_eq(m->n_entity, 2, "T0 and the block's T2");
    const TransitRealtime__TripUpdate *t0 = trip_update(m, "T0@20240501");
    const TransitRealtime__TripUpdate *t2 = trip_update(m, "T2@20240501");
    cr_assert_not_null(t0);
    cr_assert_not_null(t2, "the next trip of the block");
    cr_assert(t0->has_delay);
    cr_assert_gt(t0->delay, 600);
    cr_assert_str_eq(t2->vehicle->id, "bus-a");
    cr_assert_not(t2->has_delay, "not started: its delay is its first departure's");
    cr_assert_eq(t2->n_stop_time_update, NSTOP, "every stop, from the first");
    const TransitRealtime__TripUpdate__StopTimeUpdate *u0 = t2->stop_time_update[0];
    cr_assert_null(u0->arrival);
    cr_assert_not_null(u0->departure);
    struct buyt_predict_arrival pa;
    cr_assert_eq(buyt_predict_get(r.e.predict, r.trip[2], 0, &pa), BUYT_PREDICT_LIVE);
    cr_assert_not(pa.on_trip);
    cr_assert_eq(u0->departure->time, (pa.eta_ms + 500) / 1000);
    cr_assert_gt(u0->departure->delay, 0, "the late bus makes T2 leave late");
    cr_assert_gt(u0->departure->time, t0->stop_time_update[t0->n_stop_time_update - 1]
                                          ->arrival->time,
                 "after T0's predicted end");
    transit_realtime__feed_message__free_unpacked(m, NULL);

    /* bus-b takes T2 at its first stop: T2 is bus-b's, and only once. */
    struct buyt_vehicle *b = add_vehicle(&r, "bus-b");
    fix(&r, b, r.trip[2], 0, now - 500, 0, false);
    m = feed(&r, BUYT_GTFSRT_TRIP_UPDATES, now, &s);
    cr_assert_eq(m->n_entity, 2, "T0 (bus-a) and T2 (bus-b)");
    cr_assert_str_eq(trip_update(m, "T2@20240501")->vehicle->id, "bus-b");
    cr_assert(trip_update(m, "T2@20240501")->has_delay, "bus-b runs it now");
    transit_realtime__feed_message__free_unpacked(m, NULL);
    rig_stop(&r);
}

Test(gtfsrt, a_bus_standing_at_a_stop_arrived_when_it_did_and_leaves_now_at_the_earliest)
{
    struct rig r;
    rig_start(&r, NULL);
    uint32_t t = r.trip[0];
    int64_t now = HMS(8, 4, 0);
    struct buyt_vehicle *a = add_vehicle(&r, "bus-a");
    fix(&r, a, t, stop_d(&r, t, 2), now - 40000, 0, false);
    fix(&r, a, t, stop_d(&r, t, 2) + 2, now - 1000, 0, false);
    struct buyt_gtfsrt_snapshot s;
    TransitRealtime__FeedMessage *m = feed(&r, BUYT_GTFSRT_TRIP_UPDATES, now, &s);
    const TransitRealtime__TripUpdate *tu = trip_update(m, "T0@20240501");
    cr_assert_not_null(tu);
    const TransitRealtime__TripUpdate__StopTimeUpdate *u = tu->stop_time_update[0];
    cr_assert_str_eq(u->stop_id, "s2");
    cr_assert_eq(u->arrival->time, (now - 40000) / 1000, "arrived 40 s ago, not 'due now'");
    cr_assert_eq(u->departure->time, now / 1000, "scheduled dwell over: leaves now at earliest");
    /* Farther stops are never due before now. */
    for (size_t i = 1; i < tu->n_stop_time_update; i++)
        cr_assert_geq(tu->stop_time_update[i]->arrival->time, now / 1000);
    transit_realtime__feed_message__free_unpacked(m, NULL);
    rig_stop(&r);
}

Test(gtfsrt, silent_or_off_route_vehicles_make_no_trip_updates)
{
    struct rig r;
    rig_start(&r, NULL);
    int64_t now = HMS(8, 25, 0);
    struct buyt_vehicle *a = add_vehicle(&r, "bus-a"), *b = add_vehicle(&r, "bus-b");
    struct buyt_vehicle *c = add_vehicle(&r, "bus-c");
    fix(&r, a, r.trip[2], 300, now - 1000, 8, false);
    fix(&r, b, r.trip[1], 900, now - 121000, 8, false);
    fix(&r, c, r.trip[0], 1500, now - 2000, 8, false);
    fix(&r, c, r.trip[0], 1520, now - 1000, 8, true);
    struct buyt_gtfsrt_snapshot s;
    TransitRealtime__FeedMessage *m = feed(&r, BUYT_GTFSRT_TRIP_UPDATES, now, &s);
    cr_assert_eq(m->n_entity, 1, "only bus-a's trip");
    cr_assert_not_null(trip_update(m, "T2@20240501"));
    struct buyt_gtfsrt_stats st;
    buyt_gtfsrt_stats(r.g, &st);
    cr_assert_eq(st.ghosts_dropped, 2);
    transit_realtime__feed_message__free_unpacked(m, NULL);
    /* The predictor still holds both (boards show them as scheduled-only): what decides is
     * the state buyt_predict_get reports. */
    struct buyt_predict_arrival pa;
    cr_assert_eq(buyt_predict_get(r.e.predict, r.trip[1], NSTOP - 1, &pa), BUYT_PREDICT_LIVE);
    cr_assert(pa.fix_ms == now - 121000);
    /* Heard again: back in the feed. */
    fix(&r, b, r.trip[1], 950, now, 8, false);
    m = feed(&r, BUYT_GTFSRT_TRIP_UPDATES, now, &s);
    cr_assert_eq(m->n_entity, 2);
    cr_assert_not_null(trip_update(m, "T1@20240501"));
    transit_realtime__feed_message__free_unpacked(m, NULL);
    rig_stop(&r);
}

Test(gtfsrt, cancelled_trips_are_canceled_entities_until_their_scheduled_end)
{
    struct rig r;
    rig_start(&r, NULL);
    int64_t now = HMS(8, 12, 0); /* T0 ends 08:06:40, T1 runs, T2.. later */
    cr_assert_eq(buyt_predict_trip_cancel(r.e.predict, r.trip[0], true), 0);
    cr_assert_eq(buyt_predict_trip_cancel(r.e.predict, r.trip[3], true), 0);
    /* A vehicle on T1 and one on the cancelled T3's route position: T3 appears once. */
    struct buyt_vehicle *a = add_vehicle(&r, "bus-a"), *b = add_vehicle(&r, "bus-b");
    fix(&r, a, r.trip[1], 500, now - 1000, 8, false);
    fix(&r, b, r.trip[3], 0, now - 1000, 0, false);
    struct buyt_gtfsrt_snapshot s;
    TransitRealtime__FeedMessage *m = feed(&r, BUYT_GTFSRT_TRIP_UPDATES, now, &s);
    cr_assert_eq(m->n_entity, 2, "T1 live, T3 cancelled; T0 is over");
    cr_assert_not_null(trip_update(m, "T1@20240501"));
    const TransitRealtime__TripUpdate *tu = trip_update(m, "T3@20240501");
    cr_assert_not_null(tu);
    cr_assert(tu->trip->has_schedule_relationship);
    cr_assert_eq(tu->trip->schedule_relationship, TRIP_CANCELED);
    cr_assert_eq(tu->n_stop_time_update, 0);
    cr_assert_null(tu->vehicle);
    transit_realtime__feed_message__free_unpacked(m, NULL);
    rig_stop(&r);
}

Test(gtfsrt, one_trip_update_per_trip_when_two_vehicles_claim_it)
{
    struct rig r;
    rig_start(&r, NULL);
    int64_t now = HMS(8, 3, 0);
    struct buyt_vehicle *a = add_vehicle(&r, "bus-a"), *b = add_vehicle(&r, "bus-b");
    fix(&r, a, r.trip[0], 800, now - 2000, 8, false);
    fix(&r, b, r.trip[0], 810, now - 1000, 8, false);
    struct buyt_gtfsrt_snapshot s;
    TransitRealtime__FeedMessage *m = feed(&r, BUYT_GTFSRT_TRIP_UPDATES, now, &s);
    cr_assert_eq(m->n_entity, 1);
    struct buyt_predict_arrival pa;
    cr_assert_eq(buyt_predict_get(r.e.predict, r.trip[0], NSTOP - 1, &pa), BUYT_PREDICT_LIVE);
    cr_assert_str_eq(m->entity[0]->trip_update->vehicle->id, pa.label,
                     "the vehicle the predictor reports for the trip");
    transit_realtime__feed_message__free_unpacked(m, NULL);
    m = feed(&r, BUYT_GTFSRT_VEHICLE_POSITIONS, now, &s);
    cr_assert_eq(m->n_entity, 2, "both buses are still on the map");
    transit_realtime__feed_message__free_unpacked(m, NULL);
    rig_stop(&r);
}

/* ------------------------------------------------------------------ caching, JSON */

Test(gtfsrt, unchanged_content_keeps_its_bytes_version_and_etag)
{
    struct rig r;
    struct buyt_gtfsrt_opts o;
    buyt_gtfsrt_opts_default(&o);
    o.max_age_ms = 60000;
    rig_start(&r, &o);
    int64_t now = HMS(8, 3, 0);
    struct buyt_vehicle *a = add_vehicle(&r, "bus-a");
    fix(&r, a, r.trip[0], 800, now - 2000, 8, false);
    struct buyt_gtfsrt_snapshot s1, s2, s3;
    cr_assert_eq(buyt_gtfsrt_build(r.g, BUYT_GTFSRT_VEHICLE_POSITIONS, now, &s1), 0);
    char etag[64];
    snprintf(etag, sizeof etag, "%s", s1.etag);
    /* Two seconds later, nothing moved: same entities, so the same answer. */
    cr_assert_eq(buyt_gtfsrt_build(r.g, BUYT_GTFSRT_VEHICLE_POSITIONS, now + 2000, &s2), 0);
    cr_assert_eq(s2.version, s1.version);
    cr_assert_str_eq(s2.etag, etag);
    cr_assert_eq(s2.header_s, (uint64_t)(now / 1000), "the content's time, not the rebuild's");
    /* The bus moves: a new version, a new tag. Within max_age the cache answers. */
    fix(&r, a, r.trip[0], 850, now + 3000, 8, false);
    cr_assert_eq(buyt_gtfsrt_get(r.g, BUYT_GTFSRT_VEHICLE_POSITIONS, now + 3000, &s3), 0);
    cr_assert_eq(s3.version, s1.version, "cached for max_age_ms");
    cr_assert_eq(buyt_gtfsrt_build(r.g, BUYT_GTFSRT_VEHICLE_POSITIONS, now + 3000, &s3), 0);
    cr_assert_eq(s3.version, s1.version + 1);
    cr_assert_str_neq(s3.etag, etag);
    cr_assert_eq(s3.header_s, (uint64_t)((now + 3000) / 1000));
    struct buyt_gtfsrt_stats st;
    buyt_gtfsrt_stats(r.g, &st);
    cr_assert_eq(st.builds[BUYT_GTFSRT_VEHICLE_POSITIONS], 3);
    cr_assert_eq(st.unchanged[BUYT_GTFSRT_VEHICLE_POSITIONS], 1);
    rig_stop(&r);
}

Test(gtfsrt, json_form_is_made_from_the_served_bytes)
{
    struct rig r;
    rig_start(&r, NULL);
    int64_t now = HMS(8, 3, 0);
    fix(&r, add_vehicle(&r, "bus-a"), r.trip[0], 800, now - 2000, 8, false);
    fix(&r, add_vehicle(&r, "bus-b"), r.trip[1], 0, now - 1000, 0, false);
    for (int f = 0; f < BUYT_GTFSRT_FEEDS; f++) {
        struct buyt_gtfsrt_snapshot s;
        TransitRealtime__FeedMessage *m = feed(&r, (enum buyt_gtfsrt_feed)f, now, &s);
        const char *js;
        size_t n;
        cr_assert_eq(buyt_gtfsrt_json_get(r.g, (enum buyt_gtfsrt_feed)f, &js, &n), 0);
        json_t *j = json_loadb(js, n, JSON_REJECT_DUPLICATES, NULL);
        cr_assert_not_null(j);
        json_t *want = to_json(&m->base);
        cr_assert(json_equal(j, want), "feed %d", f);
        json_t *ents = json_object_get(j, "entity");
        cr_assert_eq(json_array_size(ents), 2);
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "header"), "timestamp")),
                     now / 1000);
        const char *key = f == BUYT_GTFSRT_VEHICLE_POSITIONS ? "vehicle" : "trip_update";
        cr_assert_str_eq(
            json_string_value(json_object_get(
                json_object_get(json_object_get(json_array_get(ents, 0), key), "trip"), "trip_id")),
            "T0");
        json_decref(j);
        json_decref(want);
        transit_realtime__feed_message__free_unpacked(m, NULL);
    }
    struct buyt_gtfsrt_stats st;
    buyt_gtfsrt_stats(r.g, &st);
    cr_assert_eq(st.json_builds, 2);
    const char *js;
    size_t n;
    cr_assert_eq(buyt_gtfsrt_json_get(r.g, BUYT_GTFSRT_TRIP_UPDATES, &js, &n), 0);
    buyt_gtfsrt_stats(r.g, &st);
    cr_assert_eq(st.json_builds, 2, "made once per version");
    rig_stop(&r);
}

/* ------------------------------------------------------------------ a city's fleet */

/* 2,000 buses on 100 routes of 30 stops: both feeds built in full, every bus and trip in them
 * once, with the time it took (docs/GTFS-REALTIME.md quotes it). */
Test(gtfsrt, a_fleet_of_2000_buses_builds_in_full, .timeout = 120)
{
    enum { ROUTES = 100, STOPS = 30, BUSES = 2000, PER = BUSES / ROUTES };
    struct rig r;
    memset(&r, 0, sizeof r);
    cr_assert_eq(uv_loop_init(&r.loop), 0);
    r.e.loop = &r.loop;
    buyt_vehicles_init(&r.e.vehicles);
    struct buyt_network *net;
    cr_assert_eq(buyt_network_new(NULL, &net), 0);
    struct buyt_geo_frame f;
    buyt_geo_frame_init(&f, LAT0, LON0);
    static uint32_t trips[ROUTES][PER];
    for (uint32_t rt = 0; rt < ROUTES; rt++) {
        char id[32];
        uint32_t route, shape, stop[STOPS];
        snprintf(id, sizeof id, "R%u", rt);
        cr_assert_eq(buyt_network_add_route(net, id, id, 3, &route), 0);
        cr_assert_eq(buyt_network_add_shape(net, id, &shape), 0);
        double y = rt * 500.0;
        for (double x = 0; x <= (STOPS - 1) * GAP_M + 1e-9; x += 100) {
            double lat, lon;
            buyt_geo_from_xy(&f, x, y, &lat, &lon);
            buyt_network_add_shape_point(net, shape, lat, lon);
        }
        for (uint32_t k = 0; k < STOPS; k++) {
            double lat, lon;
            snprintf(id, sizeof id, "R%u-s%u", rt, k);
            buyt_geo_from_xy(&f, k * GAP_M, y + 3, &lat, &lon);
            cr_assert_eq(buyt_network_add_stop(net, id, id, lat, lon, &stop[k]), 0);
        }
        for (uint32_t j = 0; j < PER; j++) {
            snprintf(id, sizeof id, "R%u-T%02u", rt, j);
            struct buyt_network_trip_def d = {.trip_id = id,
                                              .route = route,
                                              .shape = shape,
                                              .direction_id = 0,
                                              .day_start_ms = DAY_MS};
            cr_assert_eq(buyt_network_add_trip(net, &d, &trips[rt][j]), 0);
            int32_t s0 = 7 * 3600 + (int32_t)j * 180;
            for (uint32_t k = 0; k < STOPS; k++)
                buyt_network_add_stop_time(net, trips[rt][j], k + 1, stop[k], s0 + (int32_t)k * 60,
                                           s0 + (int32_t)k * 60);
        }
    }
    cr_assert_eq(buyt_network_finish(net), 0);
    r.e.net = net;
    cr_assert_eq(buyt_predict_new(NULL, &r.e.predict), 0);
    cr_assert_eq(buyt_predict_set_network(r.e.predict, net), 0);
    cr_assert_eq(buyt_gtfsrt_new(&r.e, NULL, &r.g), 0);
    int64_t now = HMS(8, 0, 0);
    uint32_t want_stus = 0;
    for (uint32_t i = 0; i < BUSES; i++) {
        char id[16];
        snprintf(id, sizeof id, "bus%04u", i);
        uint32_t rt = i % ROUTES, j = i / ROUTES, t = trips[rt][j];
        /* Trip j started 60 - 3 j min ago: buses spread along their routes. */
        double dist = (double)(PER - 1 - j) * 500 + 150;
        fix(&r, add_vehicle(&r, id), t, dist, now - 1000, 8, false);
        want_stus += STOPS - r.e.vehicles.v[i].next_stop;
    }
    struct buyt_gtfsrt_snapshot s;
    uint64_t t0 = buyt_mono_ns();
    cr_assert_eq(buyt_gtfsrt_build(r.g, BUYT_GTFSRT_VEHICLE_POSITIONS, now, &s), 0);
    double vp_ms = (double)(buyt_mono_ns() - t0) / 1e6;
    cr_assert_eq(s.entities, BUSES);
    size_t vp_len = s.len;
    t0 = buyt_mono_ns();
    cr_assert_eq(buyt_gtfsrt_build(r.g, BUYT_GTFSRT_TRIP_UPDATES, now, &s), 0);
    double tu_ms = (double)(buyt_mono_ns() - t0) / 1e6;
    cr_assert_eq(s.entities, BUSES, "one TripUpdate per bus");
    cr_assert_eq(s.stop_times, want_stus);
    /* Served again within max_age: no build at all. */
    t0 = buyt_mono_ns();
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(buyt_gtfsrt_get(r.g, BUYT_GTFSRT_TRIP_UPDATES, now, &s), 0);
    double cached_us = (double)(buyt_mono_ns() - t0) / 1e3 / 1000;
    struct buyt_gtfsrt_stats st;
    buyt_gtfsrt_stats(r.g, &st);
    cr_assert_eq(st.builds[BUYT_GTFSRT_TRIP_UPDATES], 1);
    cr_log_info("2000 buses: VehiclePositions %zu bytes in %.2f ms; TripUpdates (%u stop times) "
                "%zu bytes in %.2f ms; cached get %.3f us",
                vp_len, vp_ms, s.stop_times, s.len, tu_ms, cached_us);
    rig_stop(&r);
}
