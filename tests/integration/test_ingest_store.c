/* buyt-ingest's storage invariant with the real broker and database: every record accepted from
 * the broker is stored exactly once or rejected with a reason — through duplicates, bad input,
 * a PostgreSQL outage, an engine crash and a backlog queued at the broker. */
#include "batch.h"
#include "clock.h"
#include "contract.h"
#include "engine.h"
#include "mqtt.h"
#include "spool.h"
#include "testkit.h"
#include "topics.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------------ helpers */

static size_t make_fixes(uint8_t *buf, size_t cap, const char *vehicle, uint64_t first_seq,
                         unsigned n, int64_t t0_ms)
{
    Buyt__V1__Fix fx[64];
    Buyt__V1__Record rec[64], *recs[64];
    cr_assert_leq(n, 64);
    for (unsigned i = 0; i < n; i++) {
        buyt__v1__fix__init(&fx[i]);
        uint64_t seq = first_seq + i;
        fx[i].lat_e7 = 210000000 + (int32_t)seq;
        fx[i].lon_e7 = 1058000000 + (int32_t)seq;
        fx[i].speed_cms = 500;
        fx[i].quality = BUYT__V1__FIX_QUALITY__FIX_QUALITY_GPS;
        fx[i].fields = BUYT__V1__FIX_FIELD__FIX_FIELD_SPEED;
        buyt__v1__record__init(&rec[i]);
        rec[i].seq = seq;
        rec[i].time_ms = (uint64_t)(t0_ms + (int64_t)seq * 1000);
        rec[i].body_case = BUYT__V1__RECORD__BODY_FIX;
        rec[i].fix = &fx[i];
        recs[i] = &rec[i];
    }
    Buyt__V1__Telemetry t = BUYT__V1__TELEMETRY__INIT;
    t.vehicle_id = (char *)vehicle;
    t.n_records = n;
    t.records = recs;
    size_t len = 0;
    enum buyt_reject r = buyt_telemetry_encode(&t, buyt_wall_ms(), buf, cap, &len);
    cr_assert_eq(r, BUYT_REJECT_NONE, "%s", buyt_reject_name(r));
    return len;
}

struct pub {
    struct buyt_mqtt *m;
    bool up;
    int acked;
    uint64_t ack_seen[4];
    int ack_count[4];
    const char *ack_vehicle[4];
};

static void pub_connect(struct buyt_mqtt *m, void *ud)
{
    struct pub *p = ud;
    char f[BUYT_TOPIC_MAX];
    buyt_topic_filter(f, sizeof f, BUYT_TOPIC_ACK, "hn");
    buyt_mqtt_subscribe(m, f, 1);
    p->up = true;
}
static void pub_published(struct buyt_mqtt *m, int mid, void *ud)
{
    (void)m, (void)mid;
    ((struct pub *)ud)->acked++;
}
static void pub_message(struct buyt_mqtt *m, const char *topic, const void *payload, size_t len,
                        int qos, bool retained, void *ud)
{
    (void)m, (void)qos;
    struct pub *p = ud;
    if (retained)
        return; /* an earlier test's ack on the same broker: only live acks count here */
    char agency[BUYT_ID_MAX], id[BUYT_ID_MAX];
    if (buyt_topic_parse(topic, agency, id) != BUYT_TOPIC_ACK)
        return;
    Buyt__V1__Ack *a = buyt__v1__ack__unpack(NULL, len, payload);
    cr_assert_not_null(a, "ack does not decode");
    for (int i = 0; i < 4; i++)
        if (p->ack_vehicle[i] && !strcmp(p->ack_vehicle[i], id)) {
            p->ack_count[i]++;
            if (a->stored_through_seq > p->ack_seen[i])
                p->ack_seen[i] = a->stored_through_seq;
        }
    buyt__v1__ack__free_unpacked(a, NULL);
}

static void pub_open(uv_loop_t *loop, struct pub *p, const char *client_id)
{
    struct buyt_mqtt_callbacks cb = {.on_connect = pub_connect, .on_publish = pub_published,
                                     .on_message = pub_message};
    struct buyt_mqtt_opts o = {.url = buyt_test_env("BUYT_MQTT_TOOL_URL"), .client_id = client_id,
                               .max_inflight = 200};
    cr_assert_eq(buyt_mqtt_new(loop, &o, &cb, p, &p->m), 0);
    buyt_mqtt_start(p->m);
}

static void publish(struct pub *p, const char *topic_vehicle, const uint8_t *buf, size_t len)
{
    char topic[BUYT_TOPIC_MAX];
    cr_assert_eq(buyt_topic_format(topic, sizeof topic, BUYT_TOPIC_TELEMETRY, "hn", topic_vehicle),
                 0);
    cr_assert_eq(buyt_mqtt_publish(p->m, topic, buf, len, 1, false, NULL), 0);
}

static void register_vehicles(const char *db, int n)
{
    PGconn *c = buyt_test_pg_connect(db);
    char sql[256];
    for (int i = 1; i <= n; i++) {
        snprintf(sql, sizeof sql, "INSERT INTO vehicles (agency, vehicle_id) VALUES ('hn', 'bus%d')",
                 i);
        buyt_test_sql_exec(c, sql);
    }
    PQfinish(c);
}

static long long count(const char *db, const char *sql)
{
    PGconn *c = PQconnectdb(db);
    long long v = -1;
    if (PQstatus(c) == CONNECTION_OK)
        v = buyt_test_sql_int(c, sql);
    PQfinish(c);
    return v;
}

/* ------------------------------------------------------------------ in-process engine */

struct rig {
    uv_loop_t loop;
    struct buyt_engine e;
    struct pub p;
    char db[512], spool[128];
    bool stopped;
};

static bool rig_ready(void *arg)
{
    struct rig *r = arg;
    return r->p.up && r->e.mqtt && buyt_mqtt_connected(r->e.mqtt);
}

static uint32_t rig_fold_ms; /* the engine's progress_fold_ms (0: its default, 10 s) */
static uint32_t rig_retention_s; /* the engine's batch_retention_s (0: its default, 7 days) */

static void rig_start(struct rig *r, int vehicles, const char *client_id)
{
    memset(r, 0, sizeof *r);
    buyt_test_fresh_db(r->db, sizeof r->db);
    register_vehicles(r->db, vehicles);
    snprintf(r->spool, sizeof r->spool, "/tmp/buyt-spool-XXXXXX");
    cr_assert_not_null(mkdtemp(r->spool));
    uv_loop_init(&r->loop);
    struct buyt_engine_config ec = {.agency = "hn", .conninfo = r->db,
                                    .mqtt_url = buyt_test_env("BUYT_MQTT_URL"),
                                    .client_id = client_id, .spool_dir = r->spool,
                                    .batch_ms = 50, .progress_fold_ms = rig_fold_ms,
                                    .batch_retention_s = rig_retention_s};
    char err[512];
    cr_assert_eq(buyt_engine_init(&r->e, &r->loop, &ec, err, sizeof err), 0, "%s", err);
    cr_assert_eq(buyt_engine_start(&r->e), 0);
    pub_open(&r->loop, &r->p, "it-pub");
    cr_assert(buyt_test_run_until(&r->loop, rig_ready, r, 10000), "not connected");
    usleep(200 * 1000); /* let the engine's SUBACK land before publishing */
    uv_run(&r->loop, UV_RUN_NOWAIT);
}

static void on_rig_stopped(void *arg) { ((struct rig *)arg)->stopped = true; }
static bool is_stopped(void *arg) { return ((struct rig *)arg)->stopped; }

static void rig_stop(struct rig *r)
{
    buyt_mqtt_close(r->p.m, NULL, NULL);
    buyt_engine_stop(&r->e, on_rig_stopped, r);
    cr_assert(buyt_test_run_until(&r->loop, is_stopped, r, 30000), "engine did not stop");
    uv_run(&r->loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&r->loop), 0, "handles left open");
    buyt_engine_close(&r->e);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->spool);
    cr_assert_eq(system(cmd), 0);
}

struct until_rows {
    struct rig *r;
    uint64_t want_records;
};
static bool records_done(void *arg)
{
    struct until_rows *u = arg;
    return u->r->e.stats.accepted + u->r->e.stats.duplicates >= u->want_records &&
           buyt_engine_pending(&u->r->e) == 0 && buyt_batch_empty(&u->r->e.batch);
}
static bool acks_done(void *arg)
{
    struct rig *r = arg;
    return r->p.ack_seen[0] == 300 && r->p.ack_seen[1] == 300;
}

Test(ingest_store, stores_each_record_once_rejects_bad_ones_and_acks)
{
    struct rig r;
    rig_start(&r, 2, "it-once");
    r.p.ack_vehicle[0] = "bus1";
    r.p.ack_vehicle[1] = "bus2";
    int64_t t0 = buyt_wall_ms() - 600 * 1000;
    uint8_t buf[8192];
    /* 300 fixes per bus in messages of 10, each message sent twice (redelivery, replay). */
    for (int v = 1; v <= 2; v++) {
        char vid[8];
        snprintf(vid, sizeof vid, "bus%d", v);
        for (uint64_t s = 1; s <= 300; s += 10) {
            size_t len = make_fixes(buf, sizeof buf, vid, s, 10, t0);
            publish(&r.p, vid, buf, len);
            publish(&r.p, vid, buf, len);
        }
    }
    /* Bad input: garbage, a message for an unknown bus, a payload claiming another bus. */
    publish(&r.p, "bus1", (const uint8_t *)"\xff\xff\xff\x0f garbage", 12);
    size_t len = make_fixes(buf, sizeof buf, "bus9", 1, 1, t0);
    publish(&r.p, "bus9", buf, len);
    len = make_fixes(buf, sizeof buf, "bus2", 301, 1, t0);
    publish(&r.p, "bus1", buf, len);

    struct until_rows u = {&r, 2 * 600};
    cr_assert(buyt_test_run_until(&r.loop, records_done, &u, 30000),
              "accepted %llu dup %llu", (unsigned long long)r.e.stats.accepted,
              (unsigned long long)r.e.stats.duplicates);
    cr_assert(buyt_test_run_until(&r.loop, acks_done, &r, 10000), "acks %llu %llu",
              (unsigned long long)r.p.ack_seen[0], (unsigned long long)r.p.ack_seen[1]);

    cr_assert_eq(r.e.stats.accepted, 600);
    cr_assert_eq(r.e.stats.duplicates, 600);
    cr_assert_eq(count(r.db, "SELECT count(*) FROM fixes"), 600);
    cr_assert_eq(count(r.db, "SELECT count(DISTINCT (vehicle, time)) FROM fixes"), 600);
    cr_assert_eq(count(r.db, "SELECT count(*) FROM fixes f JOIN vehicles v ON v.id = f.vehicle"
                             " WHERE v.vehicle_id = 'bus2' AND f.lat_e7 = 210000000 + 300"),
                 1);
    cr_assert_eq(count(r.db, "SELECT count(*) FROM rejects"), 3);
    cr_assert_eq(count(r.db, "SELECT count(*) FROM rejects WHERE reason = 'truncated'"), 1);
    cr_assert_eq(count(r.db, "SELECT count(*) FROM rejects WHERE reason = 'unknown_vehicle'"
                             " AND vehicle_id = 'bus9' AND length(payload) > 0"),
                 1);
    cr_assert_eq(count(r.db, "SELECT count(*) FROM rejects WHERE reason = 'vehicle_mismatch'"), 1);
    cr_assert_eq(count(r.db, "SELECT min(stored_through_seq) FROM vehicle_progress_current"), 300);
    cr_assert_eq(r.e.stats.rejected_messages[BUYT_REJECT_TRUNCATED], 1);
    rig_stop(&r);
}

static bool ack_through_40(void *arg)
{
    return ((struct rig *)arg)->p.ack_seen[0] == 40;
}
static bool ack_through_1000(void *arg)
{
    return ((struct rig *)arg)->p.ack_seen[0] == 1000;
}

/* A bus at 1 Hz gets an Ack at its first commit, then at most one per 5 s (acks are
 * cumulative: the held-back one carries everything), the last one within 5 s of the last
 * commit; a replay gets one every 512 records at once, so its journal trims as it goes. */
Test(ingest_store, acks_are_coalesced_per_vehicle_and_none_is_lost)
{
    struct rig r;
    rig_start(&r, 1, "it-ackc");
    r.p.ack_vehicle[0] = "bus1";
    int64_t t0 = buyt_wall_ms() - 3600 * 1000;
    uint8_t buf[8192];
    int64_t start = buyt_wall_ms();
    for (uint64_t s = 1; s <= 40; s++) { /* 40 live messages over 4 s */
        size_t len = make_fixes(buf, sizeof buf, "bus1", s, 1, t0);
        publish(&r.p, "bus1", buf, len);
        int64_t until = start + (int64_t)s * 100;
        while (buyt_wall_ms() < until) {
            uv_run(&r.loop, UV_RUN_NOWAIT);
            usleep(2000);
        }
    }
    struct until_rows u = {&r, 40};
    cr_assert(buyt_test_run_until(&r.loop, records_done, &u, 10000));
    int64_t committed = buyt_wall_ms();
    cr_assert_leq(r.p.ack_count[0], 2, "acks while streaming: %d (one per 5 s expected)",
                  r.p.ack_count[0]);
    cr_assert_geq(r.p.ack_count[0], 1, "the first commit is acked at once");
    cr_assert_lt(r.p.ack_seen[0], 40);
    cr_assert(buyt_test_run_until(&r.loop, ack_through_40, &r, 7000),
              "the held-back ack never came (through %llu)",
              (unsigned long long)r.p.ack_seen[0]);
    cr_assert_leq(buyt_wall_ms() - committed, 6000);
    cr_assert_gt(r.e.stats.acks_coalesced, 0);

    /* A replay: 960 records in 16 messages at once. Each time 512 records wait unacked the
     * ack goes out at once, well before the 5 s interval. */
    int before = r.p.ack_count[0];
    int64_t replay_at = buyt_wall_ms();
    for (uint64_t s = 41; s <= 1000; s += 60) {
        size_t len = make_fixes(buf, sizeof buf, "bus1", s, s + 59 <= 1000 ? 60 : 1000 - s + 1,
                                t0);
        publish(&r.p, "bus1", buf, len);
    }
    cr_assert(buyt_test_run_until(&r.loop, ack_through_1000, &r, 3000),
              "512 records unacked did not force an ack (through %llu)",
              (unsigned long long)r.p.ack_seen[0]);
    cr_assert_lt(buyt_wall_ms() - replay_at, 4000, "sooner than the 5 s interval");
    cr_assert_geq(r.p.ack_count[0] - before, 1);
    cr_assert_eq(count(r.db, "SELECT count(*) FROM fixes"), 1000);
    rig_stop(&r);
}

/* Publishes seqs from..to of bus1, one per message, 100 ms apart (several batches), and runs
 * the loop until they are committed. */
static void trickle(struct rig *r, uint64_t from, uint64_t to, int64_t t0)
{
    uint8_t buf[512];
    int64_t start = buyt_wall_ms();
    for (uint64_t s = from; s <= to; s++) {
        size_t len = make_fixes(buf, sizeof buf, "bus1", s, 1, t0);
        publish(&r->p, "bus1", buf, len);
        int64_t until = start + (int64_t)(s - from + 1) * 100;
        while (buyt_wall_ms() < until) {
            uv_run(&r->loop, UV_RUN_NOWAIT);
            usleep(2000);
        }
    }
    struct until_rows u = {r, to};
    cr_assert(buyt_test_run_until(&r->loop, records_done, &u, 10000));
}

/* Delivery state is appended per batch (vehicle_progress_log) and folded into vehicle_progress
 * on a commit once progress_fold_ms has passed; vehicle_progress_current is the truth between
 * folds (what a restart reads: ingest_store::engine_killed... goes through it). */
Test(ingest_store, progress_is_appended_per_batch_and_folded)
{
    struct rig r;
    rig_fold_ms = 0; /* 10 s: only the first commit folds in this test */
    rig_start(&r, 1, "it-fold");
    int64_t t0 = buyt_wall_ms() - 3600 * 1000;
    trickle(&r, 1, 20, t0);
    cr_assert_eq(count(r.db, "SELECT stored_through_seq FROM vehicle_progress_current"), 20);
    cr_assert_lt(count(r.db, "SELECT stored_through_seq FROM vehicle_progress"), 20,
                 "the table lags the view: batches after the first were appended");
    cr_assert_geq(count(r.db, "SELECT count(*) FROM vehicle_progress_log"), 2,
                  "later batches were appended");
    rig_stop(&r);

    rig_fold_ms = 300;
    rig_start(&r, 1, "it-fold2");
    trickle(&r, 1, 20, t0);
    usleep(350 * 1000);
    trickle(&r, 21, 21, t0); /* a commit after the interval folds everything before it */
    rig_fold_ms = 0;
    cr_assert_eq(count(r.db, "SELECT stored_through_seq FROM vehicle_progress"), 21);
    cr_assert_eq(count(r.db, "SELECT count(*) FROM vehicle_progress_log"), 0);
    cr_assert_eq(count(r.db, "SELECT stored_through_seq FROM vehicle_progress_current"), 21);
    cr_assert_eq(count(r.db, "SELECT count(*) FROM fixes"), 21);
    rig_stop(&r);
}

/* ingest_batches forgets batches older than the retention (here 2 s; 7 days by default):
 * after a commit, at most every half retention here (hourly by default). Stored data is not
 * touched and the newest batches are kept. */
Test(ingest_store, committed_batch_ids_are_pruned_after_the_retention)
{
    struct rig r;
    rig_retention_s = 2;
    rig_start(&r, 1, "it-prune");
    rig_retention_s = 0;
    int64_t t0 = buyt_wall_ms() - 3600 * 1000;
    trickle(&r, 1, 20, t0);
    long long first = count(r.db, "SELECT count(*) FROM ingest_batches");
    cr_assert_geq(first, 2, "several batches committed");
    struct buyt_pgwriter_stats s;
    buyt_pgwriter_stats(r.e.writer, &s);
    cr_assert_eq(s.batches_pruned, 0, "nothing is old yet");
    usleep(2500 * 1000);
    trickle(&r, 21, 21, t0); /* a commit after the retention prunes every earlier batch */
    /* The writer prunes right after reporting the commit: give it a moment. */
    for (int i = 0; i < 100 && (buyt_pgwriter_stats(r.e.writer, &s), !s.batches_pruned); i++)
        usleep(20 * 1000);
    cr_assert_eq(s.batches_pruned, (uint64_t)first);
    cr_assert_eq(count(r.db, "SELECT count(*) FROM ingest_batches"), 1, "the new batch stays");
    cr_assert_eq(count(r.db, "SELECT count(*) FROM fixes"), 21, "stored rows are untouched");
    cr_assert_eq(count(r.db, "SELECT stored_through_seq FROM vehicle_progress_current"), 21);
    rig_stop(&r);
}

Test(ingest_store, bad_records_in_a_replay_batch_do_not_sink_good_ones)
{
    struct rig r;
    rig_start(&r, 1, "it-badrec");
    int64_t now = buyt_wall_ms();
    Buyt__V1__Fix good = BUYT__V1__FIX__INIT, bad = BUYT__V1__FIX__INIT;
    good.lat_e7 = 210000000;
    good.lon_e7 = 1058000000;
    good.quality = BUYT__V1__FIX_QUALITY__FIX_QUALITY_GPS;
    bad = good;
    bad.lat_e7 = 950000000; /* beyond the pole */
    Buyt__V1__Record r1 = BUYT__V1__RECORD__INIT, r2 = BUYT__V1__RECORD__INIT,
                     r3 = BUYT__V1__RECORD__INIT;
    r1.seq = 1, r2.seq = 2, r3.seq = 3;
    r1.time_ms = r2.time_ms = (uint64_t)now;
    r3.time_ms = (uint64_t)(now + 3600 * 1000); /* an hour in the future */
    r1.body_case = r2.body_case = r3.body_case = BUYT__V1__RECORD__BODY_FIX;
    r1.fix = &good, r2.fix = &bad, r3.fix = &good;
    Buyt__V1__Record *recs[3] = {&r1, &r2, &r3};
    Buyt__V1__Telemetry t = BUYT__V1__TELEMETRY__INIT;
    t.vehicle_id = "bus1";
    t.n_records = 3;
    t.records = recs;
    uint8_t buf[512];
    size_t len = buyt__v1__telemetry__pack(&t, buf); /* unvalidated, as a faulty bus would */
    publish(&r.p, "bus1", buf, len);
    struct until_rows u = {&r, 1};
    cr_assert(buyt_test_run_until(&r.loop, records_done, &u, 10000));
    usleep(100 * 1000);
    cr_assert(buyt_test_run_until(&r.loop, records_done, &u, 10000));
    cr_assert_eq(count(r.db, "SELECT count(*) FROM fixes"), 1);
    cr_assert_eq(count(r.db, "SELECT count(*) FROM rejects WHERE reason = 'bad_coord' AND seq = 2"),
                 1);
    cr_assert_eq(count(r.db, "SELECT count(*) FROM rejects WHERE reason = 'time_future' AND seq = 3"),
                 1);
    /* Rejected records are accounted for: the ack covers them. */
    cr_assert_eq(count(r.db, "SELECT stored_through_seq FROM vehicle_progress_current"), 3);
    rig_stop(&r);
}

static bool writer_failing(void *arg)
{
    struct rig *r = arg;
    struct buyt_pgwriter_stats s;
    buyt_pgwriter_stats(r->e.writer, &s);
    return s.connect_failures + s.commit_errors > 0 && s.pending > 0;
}

Test(ingest_store, postgres_outage_mid_stream_loses_and_duplicates_nothing)
{
    struct rig r;
    rig_start(&r, 1, "it-pgdown");
    int64_t t0 = buyt_wall_ms() - 3600 * 1000;
    uint8_t buf[8192];
    for (uint64_t s = 1; s <= 200; s += 20)
        publish(&r.p, "bus1", buf, make_fixes(buf, sizeof buf, "bus1", s, 20, t0));
    struct until_rows u = {&r, 200};
    cr_assert(buyt_test_run_until(&r.loop, records_done, &u, 20000));

    buyt_test_servers("pg-stop"); /* fast shutdown: the connection drops */
    for (uint64_t s = 201; s <= 400; s += 20) {
        size_t len = make_fixes(buf, sizeof buf, "bus1", s, 20, t0);
        publish(&r.p, "bus1", buf, len);
        publish(&r.p, "bus1", buf, len); /* re-sent while the database is away */
    }
    cr_assert(buyt_test_run_until(&r.loop, writer_failing, &r, 20000), "writer never failed");
    cr_assert_eq(r.e.stats.accepted, 400);
    buyt_test_servers("pg-start");
    u.want_records = 600;
    cr_assert(buyt_test_run_until(&r.loop, records_done, &u, 60000), "pending %llu",
              (unsigned long long)buyt_engine_pending(&r.e));
    cr_assert_eq(count(r.db, "SELECT count(*) FROM fixes"), 400);
    cr_assert_eq(count(r.db, "SELECT count(DISTINCT time) FROM fixes"), 400);
    cr_assert_eq(count(r.db, "SELECT stored_through_seq FROM vehicle_progress_current"), 400);
    rig_stop(&r);
}

/* ------------------------------------------------------------------ the real binary */

/* Each test's engine has its own broker session: a persistent session outlives its test.
 * stderr (the log) goes to `log` when given. */
static pid_t spawn_ingest_log(const char *db, const char *spool, const char *client_id,
                              const char *log)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test must not leave an engine behind */
        char path[512];
        snprintf(path, sizeof path, "%s/buyt-ingest", BUYT_BIN_DIR);
        freopen("/dev/null", "w", stdout);
        if (log)
            freopen(log, "w", stderr);
        execl(path, path, "--db", db, "--mqtt", getenv("BUYT_MQTT_URL"), "--agency", "hn",
              "--spool", spool, "--client-id", client_id, "--http", "127.0.0.1:0", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static pid_t spawn_ingest(const char *db, const char *spool, const char *client_id)
{
    return spawn_ingest_log(db, spool, client_id, NULL);
}

static void wait_count(const char *db, const char *sql, long long want, int timeout_ms)
{
    long long got = -1;
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        got = count(db, sql);
        if (got == want)
            return;
        usleep(100 * 1000);
    }
    cr_assert_fail("%s: got %lld, want %lld", sql, got, want);
}

struct burst {
    uv_loop_t loop;
    struct pub p;
};
static bool burst_up(void *arg) { return ((struct burst *)arg)->p.up; }
static int burst_target;
static bool burst_acked(void *arg) { return ((struct burst *)arg)->p.acked >= burst_target; }

/* Publishes seqs [first, last] for bus1 in messages of `per` records, waits for PUBACKs. */
static void burst(uint64_t first, uint64_t last, unsigned per, int64_t t0)
{
    struct burst b;
    memset(&b, 0, sizeof b);
    uv_loop_init(&b.loop);
    pub_open(&b.loop, &b.p, "it-burst");
    cr_assert(buyt_test_run_until(&b.loop, burst_up, &b, 10000));
    uint8_t buf[8192];
    int n = 0;
    for (uint64_t s = first; s <= last; s += per) {
        unsigned k = (unsigned)(last - s + 1 < per ? last - s + 1 : per);
        publish(&b.p, "bus1", buf, make_fixes(buf, sizeof buf, "bus1", s, k, t0));
        n++;
        if (n % 500 == 0)
            uv_run(&b.loop, UV_RUN_NOWAIT);
    }
    burst_target = n;
    cr_assert(buyt_test_run_until(&b.loop, burst_acked, &b, 60000), "PUBACKs %d/%d", b.p.acked, n);
    buyt_mqtt_close(b.p.m, NULL, NULL);
    uv_run(&b.loop, UV_RUN_DEFAULT);
    uv_loop_close(&b.loop);
}

Test(ingest_store, engine_killed_mid_stream_restarts_without_loss_or_duplicates)
{
    char db[512], spool[128];
    buyt_test_fresh_db(db, sizeof db);
    register_vehicles(db, 1);
    snprintf(spool, sizeof spool, "/tmp/buyt-spool-XXXXXX");
    cr_assert_not_null(mkdtemp(spool));
    int64_t t0 = buyt_wall_ms() - 7200 * 1000;
    pid_t pid = spawn_ingest(db, spool, "it-killed");
    usleep(1500 * 1000); /* started, subscribed */
    burst(1, 3000, 1, t0);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    long long before = count(db, "SELECT count(*) FROM fixes");
    cr_assert_leq(before, 3000);
    /* The bus re-sends everything not acknowledged; here simply everything again, plus more. */
    pid = spawn_ingest(db, spool, "it-killed");
    usleep(800 * 1000);
    burst(1, 4000, 10, t0);
    wait_count(db, "SELECT count(*) FROM fixes", 4000, 30000);
    wait_count(db, "SELECT stored_through_seq FROM vehicle_progress_current", 4000, 10000);
    cr_assert_eq(count(db, "SELECT count(DISTINCT time) FROM fixes"), 4000);
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", spool);
    cr_assert_eq(system(cmd), 0);
}

/* An engine upgraded (migration 0006, stop events keyed by frequency run) while batches waited
 * in its spool: a file of the old column layout is committed with its own columns (the new
 * column takes its default, -1), a current one with the run's start; both stop events of the
 * same trip, day and stop are kept (two runs), and the spool empties without quarantine. */
Test(ingest_store, batches_spooled_before_an_upgrade_replay_with_their_own_columns)
{
    char db[512], spool[128];
    buyt_test_fresh_db(db, sizeof db);
    register_vehicles(db, 1);
    snprintf(spool, sizeof spool, "/tmp/buyt-spool-XXXXXX");
    cr_assert_not_null(mkdtemp(spool));
    cr_assert_eq(buyt_spool_init_dir(spool), 0);
    int64_t now = buyt_wall_ms();
    struct buyt_batch_stop_event ev = {.service_day = (int32_t)(now / 86400000), .trip_id = "F",
                                       .stop_id = "S2", .route_id = "R", .stop_sequence = 2,
                                       .vehicle = 1, .arrival_ms = now - 60000,
                                       .departure_ms = now - 30000,
                                       .scheduled_arrival_ms = now - 90000,
                                       .run_start_s = 12345};
    struct buyt_batch b;
    buyt_batch_init(&b);
    b.id = 7;
    cr_assert_eq(buyt_batch_add_stop_event(&b, &ev), 0);
    cr_assert_eq(buyt_batch_add_fix(&b, now - 60000, 1, 210000000, 1058000000, 500, 900), 0);
    buyt_test_spool_write_layout1(spool, &b); /* the run start is dropped: an old engine's file */
    buyt_batch_reset(&b);
    b.id = 8;
    ev.run_start_s = 29700;
    cr_assert_eq(buyt_batch_add_stop_event(&b, &ev), 0);
    cr_assert_eq(buyt_spool_write(spool, &b, NULL), 0);
    buyt_batch_close(&b);

    pid_t pid = spawn_ingest(db, spool, "it-upgrade");
    wait_count(db, "SELECT count(*) FROM stop_events", 2, 20000);
    cr_assert_eq(count(db, "SELECT count(*) FROM stop_events WHERE trip_id = 'F'"
                           " AND stop_sequence = 2 AND run_start_s = -1"),
                 1);
    cr_assert_eq(count(db, "SELECT count(*) FROM stop_events WHERE trip_id = 'F'"
                           " AND stop_sequence = 2 AND run_start_s = 29700"),
                 1);
    cr_assert_eq(count(db, "SELECT count(*) FROM fixes"), 1, "the old file's other rows too");
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    uint64_t *ids;
    cr_assert_eq(buyt_spool_list(spool, &ids), 0, "both files committed and removed");
    free(ids);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s/bad')\" && rm -rf '%s'", spool, spool);
    cr_assert_eq(system(cmd), 0, "nothing quarantined");
}

Test(ingest_store, backlog_queued_at_the_broker_while_engine_is_down_is_not_dropped)
{
    char db[512], spool[128];
    buyt_test_fresh_db(db, sizeof db);
    register_vehicles(db, 1);
    snprintf(spool, sizeof spool, "/tmp/buyt-spool-XXXXXX");
    cr_assert_not_null(mkdtemp(spool));
    int64_t t0 = buyt_wall_ms() - 20 * 3600 * 1000LL;
    /* First run creates the persistent session, then stops cleanly. */
    pid_t pid = spawn_ingest(db, spool, "it-backlog");
    usleep(1500 * 1000);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    /* 20,000 messages while the engine is away: 20x mosquitto's default queue limit. */
    burst(1, 20000, 1, t0);
    pid = spawn_ingest(db, spool, "it-backlog");
    wait_count(db, "SELECT count(*) FROM fixes", 20000, 120000);
    cr_assert_eq(count(db, "SELECT stored_through_seq FROM vehicle_progress_current"), 20000);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", spool);
    cr_assert_eq(system(cmd), 0);
}

/* True once `needle` appears in the file (polls up to timeout_ms). */
static bool log_has(const char *path, const char *needle, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 100) {
        FILE *f = fopen(path, "r");
        char line[2048];
        bool found = false;
        while (f && !found && fgets(line, sizeof line, f))
            found = strstr(line, needle) != NULL;
        if (f)
            fclose(f);
        if (found)
            return true;
        usleep(100 * 1000);
    }
    return false;
}

Test(ingest_store, sighup_loads_a_newly_imported_network_without_stopping)
{
    char db[512], spool[128], log[160], cmd[1024];
    buyt_test_fresh_db(db, sizeof db);
    register_vehicles(db, 1);
    snprintf(spool, sizeof spool, "/tmp/buyt-spool-XXXXXX");
    cr_assert_not_null(mkdtemp(spool));
    snprintf(log, sizeof log, "%s.log", spool);
    pid_t pid = spawn_ingest_log(db, spool, "it-reload", log);
    cr_assert(log_has(log, "msg=started", 10000), "engine did not start");
    snprintf(cmd, sizeof cmd, "%s/buyt-gtfs import --db '%s' --feed %s/tests/fixtures/gtfs/always"
             " >/dev/null", BUYT_BIN_DIR, db, BUYT_SOURCE_DIR);
    cr_assert_eq(system(cmd), 0);
    kill(pid, SIGHUP);
    cr_assert(log_has(log, "msg=\"network loaded\" feed_version=1 timezone=Asia/Ho_Chi_Minh", 10000),
              "no reload in the log");
    cr_assert(log_has(log, "routes=1 stops=5", 100));
    /* Still taking telemetry after the swap. */
    burst(1, 10, 1, buyt_wall_ms() - 60000);
    wait_count(db, "SELECT count(*) FROM fixes", 10, 10000);
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", spool, log);
    cr_assert_eq(system(cmd), 0);
}

static bool bus2_taken(void *arg)
{
    struct rig *r = arg;
    return r->e.stats.accepted >= 1;
}

Test(ingest_store, vehicle_registered_while_running_is_taken_without_a_restart)
{
    struct rig r;
    rig_start(&r, 1, "it-newbus");
    uint8_t buf[512];
    int64_t t0 = buyt_wall_ms() - 60000;
    publish(&r.p, "bus2", buf, make_fixes(buf, sizeof buf, "bus2", 1, 1, t0));
    cr_assert(buyt_test_run_until(&r.loop, bus2_taken, &r, 1000) == false);
    cr_assert_eq(r.e.stats.rejected_messages[BUYT_REJECT_UNKNOWN_VEHICLE], 1);
    PGconn *c = buyt_test_pg_connect(r.db);
    buyt_test_sql_exec(c, "INSERT INTO vehicles (agency, vehicle_id) VALUES ('hn', 'bus2')");
    PQfinish(c);
    /* The engine reloads its registry within 10 s of seeing an unknown vehicle. */
    bool taken = false;
    for (int i = 0; i < 15 && !taken; i++) {
        publish(&r.p, "bus2", buf, make_fixes(buf, sizeof buf, "bus2", 2 + (uint64_t)i, 1, t0));
        taken = buyt_test_run_until(&r.loop, bus2_taken, &r, 1000);
    }
    cr_assert(taken, "bus2 never accepted after registration");
    rig_stop(&r);
}
