/* The engine rig; see engine_rig.h. */
#include "engine_rig.h"

#include "clock.h"
#include "geo.h"
#include "shape.h"
#include "testkit.h"
#include "topics.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ start, connect, stop */

static void register_vehicles(const char *db, int buses, int extra)
{
    PGconn *c = buyt_test_pg_connect(db);
    char sql[512] = "INSERT INTO vehicles (agency, vehicle_id) VALUES";
    cr_assert(buses >= 1 && buses <= 9, "buses: %d", buses);
    for (int i = 1; i <= buses; i++) {
        size_t l = strlen(sql);
        snprintf(sql + l, sizeof sql - l, "%s ('" BUYT_TEST_AGENCY "', 'bus%d')", i > 1 ? "," : "",
                 i);
    }
    buyt_test_sql_exec(c, sql);
    for (int i = 1; i <= extra; i++) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO vehicles (agency, vehicle_id) VALUES ('" BUYT_TEST_AGENCY
                 "', 'x%02d')",
                 i);
        buyt_test_sql_exec(c, sql);
    }
    PQfinish(c);
}

void buyt_test_rig_start(struct buyt_test_rig *r, const struct buyt_test_rig_opts *opts)
{
    memset(r, 0, sizeof *r);
    buyt_test_fresh_db(r->db, sizeof r->db);
    register_vehicles(r->db, opts->buses, opts->extra);
    snprintf(r->spool, sizeof r->spool, "/tmp/buyt-spool-XXXXXX");
    cr_assert_not_null(mkdtemp(r->spool));
    uv_loop_init(&r->loop);
    struct buyt_engine_config ec = {.agency = BUYT_TEST_AGENCY,
                                    .conninfo = r->db,
                                    .mqtt_url = buyt_test_env("BUYT_MQTT_URL"),
                                    .client_id = opts->client_id,
                                    .spool_dir = r->spool,
                                    .batch_ms = 50,
                                    .stats_ms = opts->stats_ms};
    char err[512];
    cr_assert_eq(buyt_engine_init(&r->e, &r->loop, &ec, err, sizeof err), 0, "%s", err);
    struct buyt_netload_info info = {
        .timezone = "UTC", .agency = BUYT_TEST_AGENCY, .feed_version = opts->feed_version};
    snprintf(info.first_day, sizeof info.first_day, "%s", opts->service_day);
    snprintf(info.last_day, sizeof info.last_day, "%s", opts->service_day);
    buyt_engine_set_network(&r->e, opts->network(opts->network_arg), &info);
    cr_assert_eq(buyt_engine_start(&r->e), 0);
    if (!opts->api)
        return;
    cr_assert_eq(buyt_api_start(&r->e, opts->api, &r->api, err, sizeof err), 0, "%s", err);
    r->port = buyt_api_port(r->api);
    cr_assert_gt(r->port, 0);
}

static void pub_connect(struct buyt_mqtt *m, void *ud)
{
    (void)m;
    ((struct buyt_test_rig *)ud)->pub_up = true;
}

struct until_ready {
    struct buyt_test_rig *r;
    const struct buyt_test_rig_opts *opts;
};

static bool rig_ready(void *arg)
{
    const struct until_ready *u = arg;
    return u->r->pub_up && u->r->e.mqtt && buyt_mqtt_connected(u->r->e.mqtt) &&
           (!u->opts->ready || u->opts->ready(u->opts->ready_arg));
}

void buyt_test_rig_connect(struct buyt_test_rig *r, const struct buyt_test_rig_opts *opts)
{
    struct buyt_mqtt_callbacks cb = {.on_connect = pub_connect};
    char pid[64];
    if (opts->pub_client_id)
        snprintf(pid, sizeof pid, "%s", opts->pub_client_id);
    else
        snprintf(pid, sizeof pid, "%s-pub", opts->client_id);
    struct buyt_mqtt_opts o = {.url = buyt_test_env("BUYT_MQTT_TOOL_URL"),
                               .client_id = pid,
                               .clean_session = true,
                               .max_inflight = 200};
    cr_assert_eq(buyt_mqtt_new(&r->loop, &o, &cb, r, &r->pub), 0);
    buyt_mqtt_start(r->pub);
    struct until_ready u = {r, opts};
    cr_assert(buyt_test_run_until(&r->loop, rig_ready, &u, 10000), "broker not connected");
    usleep(200 * 1000); /* the engine's SUBACK */
    uv_run(&r->loop, UV_RUN_NOWAIT);
}

static void on_engine_stopped(void *arg)
{
    struct buyt_test_rig *r = arg;
    buyt_api_stop(r->api); /* what ingest_main.c does (NULL: no-op) */
    r->stopped = true;
}

static bool is_stopped(void *arg)
{
    return ((struct buyt_test_rig *)arg)->stopped;
}

void buyt_test_rig_stop(struct buyt_test_rig *r)
{
    buyt_mqtt_close(r->pub, NULL, NULL);
    buyt_engine_stop(&r->e, on_engine_stopped, r);
    cr_assert(buyt_test_run_until(&r->loop, is_stopped, r, 30000), "engine did not stop");
    uv_run(&r->loop, UV_RUN_DEFAULT);
    buyt_api_free(r->api);
    cr_assert_eq(uv_loop_close(&r->loop), 0, "handles left open");
    buyt_engine_close(&r->e);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->spool);
    cr_assert_eq(system(cmd), 0);
}

/* ------------------------------------------------------------------ telemetry */

void buyt_test_rig_publish(struct buyt_test_rig *r, const char *vid, Buyt__V1__Record **recs,
                           size_t n)
{
    Buyt__V1__Telemetry t = BUYT__V1__TELEMETRY__INIT;
    t.vehicle_id = (char *)vid;
    t.n_records = n;
    t.records = recs;
    size_t len = buyt__v1__telemetry__get_packed_size(&t);
    uint8_t *buf = malloc(len);
    cr_assert_not_null(buf);
    cr_assert_eq(buyt__v1__telemetry__pack(&t, buf), len);
    char topic[BUYT_TOPIC_MAX];
    cr_assert_eq(
        buyt_topic_format(topic, sizeof topic, BUYT_TOPIC_TELEMETRY, BUYT_TEST_AGENCY, vid), 0);
    int rc = buyt_mqtt_publish(r->pub, topic, buf, len, 1, false, NULL);
    free(buf);
    cr_assert_eq(rc, 0, "publishing for %s", vid);
}

void buyt_test_fix_on_shape(Buyt__V1__Fix *f, const struct buyt_network *net, uint32_t shape,
                            double dist, double side, double speed)
{
    double x, y, x2, y2, lat, lon;
    buyt_shape_point_at(&net->shapes[shape], dist, &x, &y, NULL);
    buyt_shape_point_at(&net->shapes[shape], dist + 5, &x2, &y2, NULL);
    double dx = x2 - x, dy = y2 - y;
    if (side != 0) {
        double l = hypot(dx, dy);
        buyt_geo_from_xy(&net->frame, x - dy / l * side, y + dx / l * side, &lat, &lon);
    } else {
        buyt_geo_from_xy(&net->frame, x, y, &lat, &lon);
    }
    buyt__v1__fix__init(f);
    f->lat_e7 = buyt_deg_to_e7(lat);
    f->lon_e7 = buyt_deg_to_e7(lon);
    f->speed_cms = (uint32_t)(speed * 100);
    f->course_cdeg = (uint32_t)(buyt_shape_bearing_deg(dx, dy) * 100) % 36000;
    f->quality = BUYT__V1__FIX_QUALITY__FIX_QUALITY_GPS;
    f->fields = BUYT__V1__FIX_FIELD__FIX_FIELD_SPEED | BUYT__V1__FIX_FIELD__FIX_FIELD_COURSE;
}

void buyt_test_rig_publish_drive(struct buyt_test_rig *r, const char *vid, uint64_t *seq,
                                 const char *trip_id, uint32_t shape,
                                 const struct buyt_test_pos *ps, int n)
{
    enum { MAX = 16 };
    cr_assert(n >= 1 && n <= MAX, "%d positions", n);
    Buyt__V1__Record rec[MAX + 1], *rp[MAX + 1];
    Buyt__V1__Fix fx[MAX];
    Buyt__V1__DriverEvent de = BUYT__V1__DRIVER_EVENT__INIT;
    size_t k = 0;
    if (trip_id) {
        de.kind = BUYT__V1__DRIVER_EVENT_KIND__DRIVER_EVENT_SIGN_IN;
        de.trip_id = (char *)trip_id;
        de.driver_id = "d1";
        buyt__v1__record__init(&rec[k]);
        rec[k].seq = ++*seq;
        rec[k].time_ms = (uint64_t)(ps[0].time_ms - 1000);
        rec[k].body_case = BUYT__V1__RECORD__BODY_DRIVER_EVENT;
        rec[k].driver_event = &de;
        rp[k] = &rec[k];
        k++;
    }
    for (int i = 0; i < n; i++, k++) {
        buyt_test_fix_on_shape(&fx[i], r->e.net, shape, ps[i].dist, ps[i].side, 5);
        buyt__v1__record__init(&rec[k]);
        rec[k].seq = ++*seq;
        rec[k].time_ms = (uint64_t)ps[i].time_ms;
        rec[k].body_case = BUYT__V1__RECORD__BODY_FIX;
        rec[k].fix = &fx[i];
        rp[k] = &rec[k];
    }
    buyt_test_rig_publish(r, vid, rp, k);
}

struct until_accepted {
    struct buyt_test_rig *r;
    uint64_t records;
    const char *const *on_trip;
};

static bool accepted_and_committed(void *arg)
{
    const struct until_accepted *u = arg;
    struct buyt_engine *e = &u->r->e;
    if (e->stats.accepted < u->records)
        return false;
    for (const char *const *id = u->on_trip; id && *id; id++) {
        const struct buyt_vehicle *v = buyt_vehicles_find(&e->vehicles, *id);
        if (!v || v->trip == BUYT_NETWORK_NONE)
            return false;
    }
    return buyt_engine_pending(e) == 0 && buyt_batch_empty(&e->batch);
}

void buyt_test_rig_wait_accepted(struct buyt_test_rig *r, uint64_t records,
                                 const char *const *on_trip)
{
    struct until_accepted u = {r, records, on_trip};
    cr_assert(buyt_test_run_until(&r->loop, accepted_and_committed, &u, 20000),
              "accepted %llu of %llu, matched %llu", (unsigned long long)r->e.stats.accepted,
              (unsigned long long)records, (unsigned long long)r->e.stats.fixes_matched);
}
