/* The foundation's proof that the parts fit: a Telemetry encoded with the contract API goes
 * through the real broker at QoS 1, is received by libmosquitto on a libuv loop (no mosquitto
 * thread), decoded and validated, and inserted with libpq into a migrated database. */
#include "clock.h"
#include "contract.h"
#include "mqtt.h"
#include "testkit.h"
#include "topics.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

struct ctx {
    PGconn *db;
    struct buyt_mqtt *pub, *sub;
    bool sub_ready, published, stored;
    int received;
    enum buyt_reject last_reject;
    char topic[BUYT_TOPIC_MAX];
};

static void sub_on_connect(struct buyt_mqtt *m, void *ud)
{
    struct ctx *c = ud;
    char filter[BUYT_TOPIC_MAX];
    cr_assert_eq(buyt_topic_filter(filter, sizeof filter, BUYT_TOPIC_TELEMETRY, "hn"), 0);
    cr_assert_eq(buyt_mqtt_subscribe(m, filter, 1), 0);
    c->sub_ready = true;
}

/* Stores one fix with a parameterised INSERT (the engine batches with COPY; this test is
 * about the parts, not the batching). */
static void store_fix(struct ctx *c, const char *vehicle, const Buyt__V1__Record *r)
{
    const Buyt__V1__Fix *f = r->fix;
    char t[32], lat[16], lon[16], spd[16], crs[16];
    snprintf(t, sizeof t, "%.3f", (double)r->time_ms / 1000.0);
    snprintf(lat, sizeof lat, "%d", f->lat_e7);
    snprintf(lon, sizeof lon, "%d", f->lon_e7);
    snprintf(spd, sizeof spd, "%u", f->speed_cms);
    snprintf(crs, sizeof crs, "%u", f->course_cdeg / 10);
    const char *p[6] = {vehicle, t, lat, lon, spd, crs};
    PGresult *res =
        PQexecParams(c->db,
                     "INSERT INTO fixes (vehicle, time, lat_e7, lon_e7, speed_cms, course_ddeg)"
                     " SELECT v.id, to_timestamp($2::float8), $3, $4, $5, $6"
                     " FROM vehicles v WHERE v.agency = 'hn' AND v.vehicle_id = $1",
                     6, NULL, p, NULL, NULL, 0);
    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(c->db));
    cr_assert_str_eq(PQcmdTuples(res), "1");
    PQclear(res);
}

static void sub_on_message(struct buyt_mqtt *m, const char *topic, const void *payload, size_t len,
                           int qos, bool retained, void *ud)
{
    (void)m, (void)retained;
    struct ctx *c = ud;
    c->received++;
    cr_assert_eq(qos, 1);
    snprintf(c->topic, sizeof c->topic, "%s", topic);
    char agency[BUYT_ID_MAX], vehicle[BUYT_ID_MAX];
    cr_assert_eq(buyt_topic_parse(topic, agency, vehicle), BUYT_TOPIC_TELEMETRY);
    Buyt__V1__Telemetry *t;
    c->last_reject = buyt_telemetry_decode(payload, len, &t);
    cr_assert_eq(c->last_reject, BUYT_REJECT_NONE, "reject %s", buyt_reject_name(c->last_reject));
    cr_assert_str_eq(t->vehicle_id, vehicle);
    for (size_t i = 0; i < t->n_records; i++) {
        cr_assert_eq(buyt_contract_check_record(t->records[i], buyt_wall_ms()), BUYT_REJECT_NONE);
        store_fix(c, vehicle, t->records[i]);
    }
    buyt_telemetry_free(t);
    c->stored = true;
}

static bool is_sub_ready(void *arg)
{
    struct ctx *c = arg;
    return c->sub_ready && buyt_mqtt_connected(c->pub);
}
static bool is_stored(void *arg)
{
    return ((struct ctx *)arg)->stored;
}

Test(first_pipeline, telemetry_through_real_broker_lands_in_fixes)
{
    char conninfo[512];
    buyt_test_fresh_db(conninfo, sizeof conninfo);
    struct ctx c = {0};
    c.db = buyt_test_pg_connect(conninfo);
    buyt_test_sql_exec(c.db, "INSERT INTO vehicles (agency, vehicle_id) VALUES ('hn', '29B-100')");

    uv_loop_t loop;
    uv_loop_init(&loop);
    struct buyt_mqtt_callbacks scb = {.on_connect = sub_on_connect, .on_message = sub_on_message};
    struct buyt_mqtt_opts so = {.url = buyt_test_env("BUYT_MQTT_URL"), .client_id = "it-ingest"};
    cr_assert_eq(buyt_mqtt_new(&loop, &so, &scb, &c, &c.sub), 0);
    struct buyt_mqtt_callbacks pcb = {0};
    struct buyt_mqtt_opts po = {.url = buyt_test_env("BUYT_MQTT_TOOL_URL"), .client_id = "it-pub"};
    cr_assert_eq(buyt_mqtt_new(&loop, &po, &pcb, &c, &c.pub), 0);
    buyt_mqtt_start(c.sub);
    buyt_mqtt_start(c.pub);
    cr_assert(buyt_test_run_until(&loop, is_sub_ready, &c, 10000), "clients did not connect");

    /* One fix in Hà Nội (Hoàn Kiếm lake), 1e-7 degree integers. */
    Buyt__V1__Fix fix = BUYT__V1__FIX__INIT;
    fix.lat_e7 = 210287000;
    fix.lon_e7 = 1058522000;
    fix.speed_cms = 850;
    fix.course_cdeg = 27350;
    fix.quality = BUYT__V1__FIX_QUALITY__FIX_QUALITY_GPS;
    fix.fields = BUYT__V1__FIX_FIELD__FIX_FIELD_SPEED | BUYT__V1__FIX_FIELD__FIX_FIELD_COURSE;
    Buyt__V1__Record rec = BUYT__V1__RECORD__INIT;
    rec.seq = 1;
    rec.time_ms = (uint64_t)buyt_wall_ms();
    rec.body_case = BUYT__V1__RECORD__BODY_FIX;
    rec.fix = &fix;
    Buyt__V1__Record *recs[1] = {&rec};
    Buyt__V1__Telemetry tm = BUYT__V1__TELEMETRY__INIT;
    tm.vehicle_id = "29B-100";
    tm.boot_id = 7;
    tm.n_records = 1;
    tm.records = recs;
    uint8_t buf[512];
    size_t len;
    cr_assert_eq(buyt_telemetry_encode(&tm, buyt_wall_ms(), buf, sizeof buf, &len),
                 BUYT_REJECT_NONE);

    char topic[BUYT_TOPIC_MAX];
    cr_assert_eq(buyt_topic_format(topic, sizeof topic, BUYT_TOPIC_TELEMETRY, "hn", "29B-100"), 0);
    cr_assert_eq(buyt_mqtt_publish(c.pub, topic, buf, len, 1, false, NULL), 0);
    cr_assert(buyt_test_run_until(&loop, is_stored, &c, 10000), "message not received");

    cr_assert_str_eq(c.topic, "buyt/v1/hn/vehicle/29B-100/telemetry");
    cr_assert_eq(c.received, 1);
    cr_assert_eq(buyt_test_sql_int(c.db, "SELECT count(*) FROM fixes"), 1);
    cr_assert_eq(buyt_test_sql_int(c.db, "SELECT lat_e7 FROM fixes"), 210287000);
    cr_assert_eq(buyt_test_sql_int(c.db, "SELECT lon_e7 FROM fixes"), 1058522000);
    cr_assert_eq(buyt_test_sql_int(c.db, "SELECT speed_cms FROM fixes"), 850);
    cr_assert_eq(buyt_test_sql_int(c.db, "SELECT course_ddeg FROM fixes"), 2735);
    long long age_ms = buyt_test_sql_int(
        c.db, "SELECT abs(extract(epoch FROM now() - time) * 1000)::bigint FROM fixes");
    cr_assert_lt(age_ms, 60000, "stored time is %lld ms away from now", age_ms);
    /* The row landed in its UTC day's partition (created ahead by the migration). */
    cr_assert_eq(buyt_test_sql_int(c.db, "SELECT ((tableoid::regclass)::text = 'fixes_' ||"
                                         " to_char(time AT TIME ZONE 'UTC', 'YYYYMMDD'))::int"
                                         " FROM fixes"),
                 1);

    buyt_mqtt_close(c.pub, NULL, NULL);
    buyt_mqtt_close(c.sub, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0, "handles left open");
    PQfinish(c.db);
}
