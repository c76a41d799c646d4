/* GTFS-Realtime feeds end to end: an in-process engine with a real broker and database, the
 * feeds on its HTTP server (as buyt-ingest wires them), a small network around Hanoi whose
 * trips run now, telemetry published through the broker, requests over plain sockets from a
 * client thread. Every feed is decoded twice: with our generated protobuf-c code and with the
 * official npm bindings (tests/gtfsrt/decode.js, installed by tools/install-deps.sh), and
 * checked against the engine's own state. */
#include "api.h"
#include "clock.h"
#include "contract.h"
#include "engine.h"
#include "engine_rig.h"
#include "gtfsrt.h"
#include "http_client.h"
#include "networks.h"
#include "testkit.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ the network */

/* Route 01 runs east along latitude 21.0 through stops A..E, 1 km apart, 2 min between stops
 * (GTFS stop_sequence 10, 20, ... 50), a trip every 10 min; bus1 drives the one that started
 * 3 min ago. */
static const struct {
    const char *id;
    double lon;
} stops[] = {{"A", 105.80}, {"B", 105.81}, {"C", 105.82}, {"D", 105.83}, {"E", 105.84}};

struct net_info {
    int64_t day0;      /* service day start (UTC midnight: the zone is UTC here) */
    int64_t bus_start; /* start of the trip bus1 drives */
    char bus_trip[32], ghost_trip[32], cancel_trip[32];
};

static struct buyt_network *make_network(int64_t now, struct net_info *ni)
{
    struct buyt_network *net;
    cr_assert_eq(buyt_network_new(NULL, &net), 0);
    ni->day0 = (now - 3 * 3600000LL) / 86400000 * 86400000; /* times 3..27 h after it */
    uint32_t s[5], r1, sh;
    for (int i = 0; i < 5; i++)
        cr_assert_eq(
            buyt_network_add_stop(net, stops[i].id, stops[i].id, 21.0, stops[i].lon, &s[i]), 0);
    cr_assert_eq(buyt_network_add_route(net, "01", "01", 3, &r1), 0);
    cr_assert_eq(buyt_network_add_shape(net, "east", &sh), 0);
    for (int i = 0; i <= 40; i++)
        buyt_network_add_shape_point(net, sh, 21.0, 105.80 + i * 0.001);
    ni->bus_start = now / 1000 * 1000 - 3 * 60000; /* GTFS times are whole seconds */
    for (int j = -6; j <= 12; j++) {
        char id[32];
        snprintf(id, sizeof id, "01_%d", j + 6);
        buyt_test_add_trip(net, id, r1, sh, 0, "E", NULL, ni->day0, ni->bus_start + j * 600000LL, s,
                           5, 120);
        if (j == 0)
            snprintf(ni->bus_trip, sizeof ni->bus_trip, "%s", id);
        if (j == -1)
            snprintf(ni->ghost_trip, sizeof ni->ghost_trip, "%s", id);
        if (j == 3)
            snprintf(ni->cancel_trip, sizeof ni->cancel_trip, "%s", id);
    }
    cr_assert_eq(buyt_network_finish(net), 0);
    cr_assert_eq(net->stats.trips_invalid, 0);
    return net;
}

/* ------------------------------------------------------------------ the rig */

/* The running test's network times and trips, and its feeds (rig_start sets them). */
static struct net_info ni;
static struct buyt_gtfsrt *gtfsrt;

static struct buyt_network *network(void *arg)
{
    return make_network(buyt_wall_ms(), arg);
}

/* Registers bus1, bus2, bus3 and `extra` more (x01, x02...). */
static void rig_start(struct buyt_test_rig *r, const char *client_id, int extra)
{
    struct buyt_api_opts ao = {.listen = "127.0.0.1:0", .request_timeout_ms = 3000};
    struct buyt_test_rig_opts o = {.client_id = client_id,
                                   .buses = 3,
                                   .extra = extra,
                                   .network = network,
                                   .network_arg = &ni,
                                   .feed_version = 1,
                                   .service_day = "today",
                                   .api = &ao};
    buyt_test_rig_start(r, &o);
    /* What ingest_main.c does. */
    cr_assert_eq(buyt_gtfsrt_start(&r->e, buyt_api_http(r->api), NULL, &gtfsrt), 0);
    buyt_test_rig_connect(r, &o);
}

static void rig_stop(struct buyt_test_rig *r)
{
    buyt_test_rig_stop(r);
    buyt_gtfsrt_free(gtfsrt); /* after the HTTP server that routes to them */
    gtfsrt = NULL;
}

/* ------------------------------------------------------------------ telemetry */

/* `vid` signs in to `trip` and reports 5 fixes 2 s apart ending at end_ms, the last one
 * `dist` metres along (10 m per fix), heading east (the shape runs due east) at 5 m/s. */
static void drive_bus(struct buyt_test_rig *r, int slot, const char *vid, const char *trip,
                      double dist, int64_t end_ms)
{
    struct buyt_test_pos p[5];
    for (int i = 0; i < 5; i++)
        p[i] = (struct buyt_test_pos){end_ms - (4 - i) * 2000, dist - (4 - i) * 10.0, 0};
    buyt_test_rig_publish_drive(r, vid, &r->seq[slot], trip, 0, p, 5);
}

/* bus1 runs its trip 1200 m along (between B and C, heading for C), reporting up to now;
 * bus2 reports 3 fixes off the network 40-60 s ago; bus3 signed in to an earlier trip and was
 * last heard 3 min ago, 3000 m along: a ghost. */
static void drive(struct buyt_test_rig *r, int extra)
{
    int64_t now = buyt_wall_ms();
    /* The extra buses: one fix each, off the network, 5 s ago. */
    for (int i = 1; i <= extra; i++) {
        char vid[16];
        snprintf(vid, sizeof vid, "x%02d", i);
        Buyt__V1__Fix f = BUYT__V1__FIX__INIT;
        f.lat_e7 = 210600000 + i * 1000;
        f.lon_e7 = 1059000000;
        f.quality = BUYT__V1__FIX_QUALITY__FIX_QUALITY_GPS;
        Buyt__V1__Record rec = BUYT__V1__RECORD__INIT, *rp = &rec;
        rec.seq = 1;
        rec.time_ms = (uint64_t)(now - 5000);
        rec.body_case = BUYT__V1__RECORD__BODY_FIX;
        rec.fix = &f;
        buyt_test_rig_publish(r, vid, &rp, 1);
    }
    drive_bus(r, 1, "bus1", ni.bus_trip, 1200, now);
    drive_bus(r, 3, "bus3", ni.ghost_trip, 3000, now - 180000);
    Buyt__V1__Record rec[3], *rp[3];
    Buyt__V1__Fix fx[3];
    for (int i = 0; i < 3; i++) {
        buyt__v1__record__init(&rec[i]);
        buyt__v1__fix__init(&fx[i]);
        rp[i] = &rec[i];
        fx[i].lat_e7 = 210500000 + i;
        fx[i].lon_e7 = 1059000000;
        fx[i].quality = BUYT__V1__FIX_QUALITY__FIX_QUALITY_GPS;
        rec[i].seq = ++r->seq[2];
        rec[i].time_ms = (uint64_t)(now - 60000 + i * 10000);
        rec[i].body_case = BUYT__V1__RECORD__BODY_FIX;
        rec[i].fix = &fx[i];
    }
    buyt_test_rig_publish(r, "bus2", rp, 3);
    buyt_test_rig_wait_accepted(r, 15 + (uint64_t)extra,
                                (const char *const[]){"bus1", "bus3", NULL});
}

/* ------------------------------------------------------------------ HTTP */

/* One request on its own connection (Connection: close); extra: header lines, each ending in
 * \r\n. */
static struct hresp get(struct buyt_test_rig *r, const char *method, const char *path,
                        const char *extra)
{
    return buyt_test_http_request(&r->loop, r->port, BUYT_TEST_HTTP_CLOSE, method, path, extra);
}

/* ------------------------------------------------------------------ decoding */

static TransitRealtime__FeedMessage *fetch_pb(struct buyt_test_rig *r, const char *path,
                                              struct hresp *h)
{
    *h = get(r, "GET", path, NULL);
    cr_assert_eq(h->status, 200, "%s: %d %s", path, h->status, h->body);
    cr_assert_str_eq(hdr(h, "content-type"), "application/x-protobuf");
    TransitRealtime__FeedMessage *m =
        transit_realtime__feed_message__unpack(NULL, h->len, (const uint8_t *)h->body);
    cr_assert_not_null(m, "%s: not a FeedMessage", path);
    cr_assert(protobuf_c_message_check(&m->base));
    return m;
}

/* The official bindings' view of the bytes (decode.js), as JSON. */
static json_t *official(const char *bytes, size_t len)
{
    char dir[PATH_MAX], js[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/tests/gtfsrt", BUYT_SOURCE_DIR);
    snprintf(js, sizeof js, "%s/node_modules/gtfs-realtime-bindings/package.json", dir);
    struct stat st;
    cr_assert_eq(stat(js, &st), 0,
                 "the official bindings are not installed: run tools/install-deps.sh "
                 "(npm ci --prefix tests/gtfsrt)");
    char path[] = "/tmp/buyt-gtfsrt-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, bytes, len), (ssize_t)len);
    close(fd);
    char cmd[2 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "node '%s/decode.js' '%s'", dir, path);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    static char out[1 << 22];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    unlink(path);
    cr_assert_eq(rc, 0, "decode.js failed (status %d): %s", rc, out);
    json_error_t err;
    json_t *j = json_loads(out, 0, &err);
    cr_assert_not_null(j, "decode.js printed no JSON (%s): %s", err.text, out);
    return j;
}

static json_t *jentity(json_t *feed, const char *id)
{
    json_t *ents = json_object_get(feed, "entity");
    for (size_t i = 0; i < json_array_size(ents); i++)
        if (!strcmp(jstr(json_array_get(ents, i), "id"), id))
            return json_array_get(ents, i);
    return NULL;
}

static const TransitRealtime__FeedEntity *entity(const TransitRealtime__FeedMessage *m,
                                                 const char *id)
{
    for (size_t i = 0; i < m->n_entity; i++)
        if (!strcmp(m->entity[i]->id, id))
            return m->entity[i];
    return NULL;
}

/* YYYYMMDD of the test network's service day (UTC midnight: the zone is UTC). */
static void service_date(char out[9])
{
    time_t t = (time_t)(ni.day0 / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 9, "%Y%m%d", &tm);
}

/* ------------------------------------------------------------------ VehiclePositions */

Test(gtfsrt_http, vehicle_positions_decode_with_protobuf_c_and_the_official_bindings)
{
    struct buyt_test_rig r;
    rig_start(&r, "it-gtfsrt-vp", 0);
    drive(&r, 0);
    int64_t now = buyt_wall_ms();
    const struct buyt_vehicle *bus1 = buyt_vehicles_find(&r.e.vehicles, "bus1");
    const struct buyt_vehicle *bus3 = buyt_vehicles_find(&r.e.vehicles, "bus3");
    cr_assert_eq(bus1->next_stop, 2, "between B and C");
    cr_assert(bus3->last_fix_ms < now - 170000 && bus3->trip != BUYT_NETWORK_NONE,
              "bus3 matched, silent for 3 min");
    char date[9];
    service_date(date);

    struct hresp h;
    TransitRealtime__FeedMessage *m = fetch_pb(&r, "/gtfs-rt/vehicle-positions", &h);
    cr_assert_str_eq(m->header->gtfs_realtime_version, "2.0");
    cr_assert_eq(m->header->incrementality,
                 TRANSIT_REALTIME__FEED_HEADER__INCREMENTALITY__FULL_DATASET);
    cr_assert(llabs((long long)m->header->timestamp - now / 1000) <= 2);
    cr_assert_eq(m->n_entity, 2, "bus1 and bus2; bus3 is a ghost");
    cr_assert_null(entity(m, "bus3"));
    const TransitRealtime__VehiclePosition *vp = entity(m, "bus1")->vehicle;
    cr_assert_str_eq(vp->trip->trip_id, ni.bus_trip);
    cr_assert_str_eq(vp->trip->start_date, date);
    cr_assert_str_eq(vp->trip->route_id, "01");
    cr_assert_eq(vp->trip->direction_id, 0);
    cr_assert(vp->trip->has_direction_id);
    cr_assert_eq(vp->trip->schedule_relationship,
                 TRANSIT_REALTIME__TRIP_DESCRIPTOR__SCHEDULE_RELATIONSHIP__SCHEDULED);
    cr_assert_str_eq(vp->vehicle->id, "bus1");
    cr_assert_float_eq(vp->position->latitude, buyt_e7_to_deg(bus1->lat_e7), 1e-5);
    cr_assert_float_eq(vp->position->longitude, buyt_e7_to_deg(bus1->lon_e7), 1e-5);
    cr_assert_float_eq(vp->position->bearing, 90, 1e-4);
    cr_assert_float_eq(vp->position->speed, 5, 1e-4);
    cr_assert_eq(vp->timestamp, (uint64_t)(bus1->last_fix_ms / 1000));
    cr_assert_str_eq(vp->stop_id, "C");
    cr_assert_eq(vp->current_stop_sequence, 30);
    cr_assert_eq(vp->current_status,
                 TRANSIT_REALTIME__VEHICLE_POSITION__VEHICLE_STOP_STATUS__IN_TRANSIT_TO);
    const TransitRealtime__VehiclePosition *vp2 = entity(m, "bus2")->vehicle;
    cr_assert_null(vp2->trip, "bus2 runs no trip");
    cr_assert_float_eq(vp2->position->latitude, 21.0500002, 1e-5);
    cr_assert_not(vp2->position->has_speed, "bus2's fixes carry no speed: none is claimed");
    cr_assert_not(vp2->position->has_bearing, "nor a bearing");

    /* The same bytes through the official bindings. */
    json_t *j = official(h.body, h.len);
    cr_assert_str_eq(jstr(j, "header.gtfsRealtimeVersion"), "2.0");
    cr_assert_str_eq(jstr(j, "header.incrementality"), "FULL_DATASET");
    cr_assert_eq(jint(j, "header.timestamp"), (long long)m->header->timestamp);
    cr_assert_eq(json_array_size(json_object_get(j, "entity")), 2);
    json_t *e1 = jentity(j, "bus1");
    cr_assert_not_null(e1);
    cr_assert_str_eq(jstr(e1, "vehicle.trip.tripId"), ni.bus_trip);
    cr_assert_str_eq(jstr(e1, "vehicle.trip.startDate"), date);
    cr_assert_str_eq(jstr(e1, "vehicle.trip.routeId"), "01");
    cr_assert_eq(jint(e1, "vehicle.trip.directionId"), 0);
    cr_assert_str_eq(jstr(e1, "vehicle.trip.scheduleRelationship"), "SCHEDULED");
    cr_assert_str_eq(jstr(e1, "vehicle.vehicle.id"), "bus1");
    cr_assert_str_eq(jstr(e1, "vehicle.vehicle.label"), "bus1");
    cr_assert_float_eq(jnum(e1, "vehicle.position.latitude"), buyt_e7_to_deg(bus1->lat_e7), 1e-5);
    cr_assert_float_eq(jnum(e1, "vehicle.position.longitude"), buyt_e7_to_deg(bus1->lon_e7), 1e-5);
    cr_assert_float_eq(jnum(e1, "vehicle.position.bearing"), 90, 1e-4);
    cr_assert_float_eq(jnum(e1, "vehicle.position.speed"), 5, 1e-4);
    cr_assert_eq(jint(e1, "vehicle.timestamp"), bus1->last_fix_ms / 1000);
    cr_assert_str_eq(jstr(e1, "vehicle.stopId"), "C");
    cr_assert_eq(jint(e1, "vehicle.currentStopSequence"), 30);
    cr_assert_str_eq(jstr(e1, "vehicle.currentStatus"), "IN_TRANSIT_TO");
    json_t *e2 = jentity(j, "bus2");
    cr_assert_not_null(e2);
    cr_assert_null(jget(e2, "vehicle.trip"));
    cr_assert_null(jget(e2, "vehicle.position.speed"));
    cr_assert_null(jget(e2, "vehicle.position.bearing"));
    cr_assert_null(jentity(j, "bus3"));
    json_decref(j);
    transit_realtime__feed_message__free_unpacked(m, NULL);
    free(h.body);
    rig_stop(&r);
}

/* ------------------------------------------------------------------ TripUpdates */

Test(gtfsrt_http, trip_updates_match_the_predictor_in_both_decoders)
{
    struct buyt_test_rig r;
    rig_start(&r, "it-gtfsrt-tu", 0);
    drive(&r, 0);
    const struct buyt_network *net = r.e.net;
    int64_t now = buyt_wall_ms();
    uint32_t cancel = buyt_network_trip_find(net, ni.cancel_trip, now);
    cr_assert_eq(buyt_predict_trip_cancel(r.e.predict, cancel, true), 0);
    const struct buyt_vehicle *bus1 = buyt_vehicles_find(&r.e.vehicles, "bus1");
    const struct buyt_vehicle *bus3 = buyt_vehicles_find(&r.e.vehicles, "bus3");
    uint32_t trip = bus1->trip;
    struct buyt_predict_arrival pa;
    cr_assert_eq(buyt_predict_get(r.e.predict, bus3->trip, 4, &pa), BUYT_PREDICT_LIVE,
                 "the predictor holds bus3's trip: the feed must leave the ghost out");
    char date[9], id[64], cid[64];
    service_date(date);
    snprintf(id, sizeof id, "%s@%s", ni.bus_trip, date);
    snprintf(cid, sizeof cid, "%s@%s", ni.cancel_trip, date);

    struct hresp h;
    TransitRealtime__FeedMessage *m = fetch_pb(&r, "/gtfs-rt/trip-updates", &h);
    int64_t served = buyt_wall_ms();
    cr_assert_eq(m->n_entity, 2, "bus1's trip and the cancelled one; not bus3's");
    const TransitRealtime__TripUpdate *tu = entity(m, id)->trip_update;
    cr_assert_str_eq(tu->trip->trip_id, ni.bus_trip);
    cr_assert_str_eq(tu->trip->start_date, date);
    cr_assert_str_eq(tu->trip->route_id, "01");
    cr_assert_str_eq(tu->vehicle->id, "bus1");
    cr_assert_eq(tu->timestamp, (uint64_t)(bus1->last_fix_ms / 1000));
    cr_assert_eq(tu->delay, bus1->deviation_s);
    cr_assert_eq(tu->n_stop_time_update, 3, "C, D, E");
    const char *sid[3] = {"C", "D", "E"};
    for (uint32_t i = 0; i < 3; i++) {
        const TransitRealtime__TripUpdate__StopTimeUpdate *u = tu->stop_time_update[i];
        uint32_t k = 2 + i;
        cr_assert_eq(buyt_predict_get(r.e.predict, trip, k, &pa), BUYT_PREDICT_LIVE);
        cr_assert_str_eq(u->stop_id, sid[i]);
        cr_assert_eq(u->stop_sequence, (k + 1) * 10);
        cr_assert_gt(pa.eta_ms, served + 10000, "a minute or more ahead: never clamped to now");
        cr_assert_eq(u->arrival->time, (pa.eta_ms + 500) / 1000, "stop %s", sid[i]);
        int64_t sched = (ni.bus_start + k * 120000LL) / 1000;
        cr_assert_eq(u->arrival->delay, u->arrival->time - sched);
        if (k < 4)
            cr_assert_eq(u->departure->time, u->arrival->time, "no scheduled dwell");
        else
            cr_assert_null(u->departure);
    }
    const TransitRealtime__TripUpdate *ct = entity(m, cid)->trip_update;
    cr_assert_eq(ct->trip->schedule_relationship,
                 TRANSIT_REALTIME__TRIP_DESCRIPTOR__SCHEDULE_RELATIONSHIP__CANCELED);
    cr_assert_eq(ct->n_stop_time_update, 0);

    json_t *j = official(h.body, h.len);
    cr_assert_eq(json_array_size(json_object_get(j, "entity")), 2);
    json_t *e = jentity(j, id);
    cr_assert_not_null(e);
    cr_assert_str_eq(jstr(e, "tripUpdate.trip.tripId"), ni.bus_trip);
    cr_assert_str_eq(jstr(e, "tripUpdate.trip.startDate"), date);
    cr_assert_str_eq(jstr(e, "tripUpdate.trip.routeId"), "01");
    cr_assert_str_eq(jstr(e, "tripUpdate.vehicle.id"), "bus1");
    cr_assert_eq(jint(e, "tripUpdate.timestamp"), bus1->last_fix_ms / 1000);
    cr_assert_eq(jint(e, "tripUpdate.delay"), bus1->deviation_s);
    json_t *stus = jget(e, "tripUpdate.stopTimeUpdate");
    cr_assert_eq(json_array_size(stus), 3);
    for (uint32_t i = 0; i < 3; i++) {
        json_t *u = json_array_get(stus, i);
        const TransitRealtime__TripUpdate__StopTimeUpdate *cu = tu->stop_time_update[i];
        cr_assert_str_eq(jstr(u, "stopId"), sid[i]);
        cr_assert_eq(jint(u, "stopSequence"), (long long)cu->stop_sequence);
        cr_assert_eq(jint(u, "arrival.time"), cu->arrival->time);
        cr_assert_eq(jint(u, "arrival.delay"), cu->arrival->delay);
        if (cu->departure)
            cr_assert_eq(jint(u, "departure.time"), cu->departure->time);
        else
            cr_assert_null(jget(u, "departure"));
    }
    json_t *c = jentity(j, cid);
    cr_assert_not_null(c);
    cr_assert_str_eq(jstr(c, "tripUpdate.trip.scheduleRelationship"), "CANCELED");
    cr_assert_null(jget(c, "tripUpdate.stopTimeUpdate"));
    json_decref(j);
    transit_realtime__feed_message__free_unpacked(m, NULL);
    free(h.body);
    rig_stop(&r);
}

/* ------------------------------------------------------------------ HTTP behaviour */

Test(gtfsrt_http, json_format_etag_head_gzip_and_bad_format)
{
    enum { EXTRA = 30 }; /* buses off the network: a VehiclePositions feed over 1 KiB */
    struct buyt_test_rig r;
    rig_start(&r, "it-gtfsrt-http", EXTRA);
    drive(&r, EXTRA);
    /* Every trip still to run cancelled but bus1's: a TripUpdates feed of some size too. */
    const struct buyt_network *net = r.e.net;
    int64_t now = buyt_wall_ms();
    uint32_t own = buyt_vehicles_find(&r.e.vehicles, "bus1")->trip, cancelled = 0;
    for (uint32_t t = 0; t < net->n_trips; t++)
        if (t != own && net->trips[t].day_start_ms + net->trips[t].end_s * 1000LL >= now) {
            cr_assert_eq(buyt_predict_trip_cancel(r.e.predict, t, true), 0);
            cancelled++;
        }
    cr_assert_geq(cancelled, 10);
    const char *feeds[] = {"/gtfs-rt/vehicle-positions", "/gtfs-rt/trip-updates"};
    for (int f = 0; f < 2; f++) {
        const char *path = feeds[f];
        struct hresp pb;
        TransitRealtime__FeedMessage *m = fetch_pb(&r, path, &pb);
        char etag[128], url[256], extra[256];
        snprintf(etag, sizeof etag, "%s", hdr(&pb, "etag"));
        cr_assert_eq(etag[0], '"', "%s: a strong ETag: %s", path, etag);

        /* JSON: the same entities, by the .proto field names. */
        snprintf(url, sizeof url, "%s?format=json", path);
        struct hresp js = get(&r, "GET", url, NULL);
        cr_assert_eq(js.status, 200);
        cr_assert_str_eq(hdr(&js, "content-type"), "application/json");
        char jtag[128];
        snprintf(jtag, sizeof jtag, "%s", hdr(&js, "etag"));
        cr_assert_str_neq(jtag, etag, "another representation, another tag");
        json_error_t err;
        json_t *j = json_loadb(js.body, js.len, JSON_REJECT_DUPLICATES, &err);
        cr_assert_not_null(j, "%s: not JSON (%s)", url, err.text);
        cr_assert_str_eq(jstr(j, "header.gtfs_realtime_version"), "2.0");
        cr_assert_eq(jint(j, "header.timestamp"), (long long)m->header->timestamp);
        json_t *ents = json_object_get(j, "entity");
        cr_assert_eq(json_array_size(ents), m->n_entity);
        for (size_t i = 0; i < m->n_entity; i++) {
            json_t *e = json_array_get(ents, i);
            cr_assert_str_eq(jstr(e, "id"), m->entity[i]->id);
            if (f == 0)
                cr_assert_float_eq(jnum(e, "vehicle.position.latitude"),
                                   m->entity[i]->vehicle->position->latitude, 1e-6);
            else
                cr_assert_eq(json_array_size(jget(e, "trip_update.stop_time_update")),
                             m->entity[i]->trip_update->n_stop_time_update);
        }
        json_decref(j);
        free(js.body);

        /* If-None-Match: 304, no body, for either representation. */
        snprintf(extra, sizeof extra, "If-None-Match: %s\r\n", etag);
        struct hresp nm = get(&r, "GET", path, extra);
        cr_assert_eq(nm.status, 304, "%s", path);
        cr_assert_eq(nm.len, 0);
        cr_assert_str_eq(hdr(&nm, "etag"), etag);
        free(nm.body);
        snprintf(url, sizeof url, "%s?format=json", path);
        snprintf(extra, sizeof extra, "If-None-Match: %s\r\n", jtag);
        nm = get(&r, "GET", url, extra);
        cr_assert_eq(nm.status, 304, "%s", url);
        free(nm.body);
        snprintf(extra, sizeof extra, "If-None-Match: W/\"old\"\r\n");
        nm = get(&r, "GET", path, extra);
        cr_assert_eq(nm.status, 200, "a stale tag gets the feed");
        free(nm.body);

        /* HEAD: the GET's headers, no body. */
        struct hresp hd = get(&r, "HEAD", path, NULL);
        cr_assert_eq(hd.status, 200);
        cr_assert_eq(atol(hdr(&hd, "content-length")), (long)pb.len);
        cr_assert_str_eq(hdr(&hd, "content-type"), "application/x-protobuf");
        free(hd.body);

        transit_realtime__feed_message__free_unpacked(m, NULL);
        free(pb.body);

        /* A format we do not speak: 400 naming the parameter, as JSON. */
        const char *bad[] = {"?format=xml", "?format=%zz", "?format="};
        for (int b = 0; b < 3; b++) {
            snprintf(url, sizeof url, "%s%s", path, bad[b]);
            struct hresp e = get(&r, "GET", url, NULL);
            cr_assert_eq(e.status, 400, "%s", url);
            cr_assert_str_eq(hdr(&e, "content-type"), "application/json");
            json_t *ej = json_loadb(e.body, e.len, 0, NULL);
            cr_assert_not_null(ej, "%s: %s", url, e.body);
            cr_assert_str_eq(jstr(ej, "error.code"), "bad_parameter");
            cr_assert_str_eq(jstr(ej, "error.parameter"), "format");
            cr_assert_eq(jint(ej, "error.status"), 400);
            json_decref(ej);
            free(e.body);
        }
    }
    /* gzip when asked for: the same bytes once inflated, for both representations (the
     * server compresses bodies of 1 KiB and more). */
    const char *zipped[] = {"/gtfs-rt/vehicle-positions", "/gtfs-rt/trip-updates?format=json"};
    for (int z = 0; z < 2; z++) {
        struct hresp id = get(&r, "GET", zipped[z], NULL);
        cr_assert_geq(id.len, 1024, "%s: %zu bytes, too small to be compressed", zipped[z], id.len);
        for (int again = 0; again < 2; again++) {
            struct hresp gz = get(&r, "GET", zipped[z], "Accept-Encoding: gzip\r\n");
            cr_assert_eq(gz.status, 200);
            cr_assert_str_eq(hdr(&gz, "content-encoding"), "gzip", "%s", zipped[z]);
            cr_assert_lt(gz.len, id.len);
            size_t ul;
            char *u = buyt_test_gunzip(gz.body, gz.len, &ul);
            cr_assert_eq(ul, id.len);
            cr_assert_eq(memcmp(u, id.body, ul), 0, "%s", zipped[z]);
            free(u);
            free(gz.body);
        }
        free(id.body);
    }
    struct buyt_gtfsrt_stats st;
    buyt_gtfsrt_stats(gtfsrt, &st);
    cr_assert_eq(st.gzip_builds, 2, "each representation compressed once for its version");
    struct hresp h = get(&r, "POST", feeds[0], NULL);
    cr_assert_eq(h.status, 405);
    free(h.body);
    rig_stop(&r);
}
