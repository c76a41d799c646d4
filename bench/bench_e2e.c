/* bench-e2e: the broker's own QoS 1 ceiling vs the engine end to end, same payloads.
 *   bench-e2e broker --url URL [--messages N] [--vehicles V]
 *       publisher -> mosquitto -> a plain QoS 1 subscriber (no engine, the engine's session
 *       kind: persistent), both in this process: msgs/s delivered
 *   bench-e2e sub --url URL [--messages N]     and then     bench-e2e pub --url URL ...
 *       the same with the subscriber in a process of its own, as the engine is (what
 *       bench/e2e.sh measures): `sub` prints "ready" once subscribed, then, when N messages
 *       arrived, the CLOCK_MONOTONIC ns of the last; `pub` prints the ns it started at
 *   bench-e2e engine --url URL --db CONNINFO [--messages N] [--vehicles V] [--seq-base S]
 *       publisher -> mosquitto -> buyt-ingest (running) -> PostgreSQL: msgs/s stored, and loss
 * One fix per message (as buses send live), vehicles bus0000.. round robin. Prints one line. */
#include "clock.h"
#include "contract.h"
#include "mqtt.h"
#include "topics.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum mode { BROKER, ENGINE, PUB, SUB };

static struct {
    struct buyt_mqtt *pub, *sub;
    enum mode mode;
    bool pub_up, sub_up, engine, ready_said;
    uint64_t sub_up_ns;
    long total, sent, acked, received;
    int vehicles;
    const char *agency;
    uint64_t seq_base;
    int64_t t0_ms;
    uint64_t start_ns, last_rx_ns, pub_done_ns;
    PGconn *db;
    long stored;
    uv_timer_t poll;
    uv_loop_t *loop;
} B;

static void publish_more(void)
{
    /* Keep at most 5,000 unacknowledged: libmosquitto would otherwise queue without bound. */
    while (B.sent < B.total && B.sent - B.acked < 5000) {
        int v = (int)(B.sent % B.vehicles);
        uint64_t seq = B.seq_base + (uint64_t)(B.sent / B.vehicles) + 1;
        char vid[16], topic[BUYT_TOPIC_MAX];
        snprintf(vid, sizeof vid, "bus%04d", v);
        buyt_topic_format(topic, sizeof topic, BUYT_TOPIC_TELEMETRY, B.agency, vid);
        Buyt__V1__Fix f = BUYT__V1__FIX__INIT;
        f.lat_e7 = 210000000 + v * 1000 + (int32_t)seq;
        f.lon_e7 = 1058000000 + v * 1000;
        f.speed_cms = 800;
        f.quality = BUYT__V1__FIX_QUALITY__FIX_QUALITY_GPS;
        f.fields = 1;
        Buyt__V1__Record r = BUYT__V1__RECORD__INIT, *rp = &r;
        r.seq = seq;
        r.time_ms = (uint64_t)(B.t0_ms + (int64_t)seq * 1000);
        r.body_case = BUYT__V1__RECORD__BODY_FIX;
        r.fix = &f;
        Buyt__V1__Telemetry t = BUYT__V1__TELEMETRY__INIT;
        t.vehicle_id = vid;
        t.n_records = 1;
        t.records = &rp;
        uint8_t buf[128];
        size_t len = buyt__v1__telemetry__pack(&t, buf);
        if (buyt_mqtt_publish(B.pub, topic, buf, len, 1, false, NULL))
            return;
        B.sent++;
    }
}

static void on_pub_connect(struct buyt_mqtt *m, void *ud)
{
    (void)m, (void)ud;
    B.pub_up = true;
}
static void on_puback(struct buyt_mqtt *m, int mid, void *ud)
{
    (void)m, (void)mid, (void)ud;
    if (++B.acked == B.total)
        B.pub_done_ns = buyt_mono_ns();
    publish_more();
}
static void on_sub_connect(struct buyt_mqtt *m, void *ud)
{
    (void)ud;
    char f[BUYT_TOPIC_MAX];
    if (!buyt_topic_filter(f, sizeof f, BUYT_TOPIC_TELEMETRY, B.agency))
        buyt_mqtt_subscribe(m, f, 1);
    B.sub_up = true;
    B.sub_up_ns = buyt_mono_ns();
}
static void on_sub_message(struct buyt_mqtt *m, const char *topic, const void *p, size_t len,
                           int qos, bool retained, void *ud)
{
    (void)m, (void)topic, (void)p, (void)len, (void)qos, (void)retained, (void)ud;
    B.received++;
    B.last_rx_ns = buyt_mono_ns();
}

static void on_poll(uv_timer_t *t)
{
    (void)t;
    if (B.start_ns && buyt_mono_ns() - B.start_ns > 600 * 1000000000ull) {
        fprintf(stderr, "bench-e2e: gave up after 600 s\n");
        B.last_rx_ns = buyt_mono_ns();
        uv_stop(B.loop);
        return;
    }
    if (B.mode == SUB) {
        /* The SUBACK is back long before this (loopback): the publisher may start. */
        if (B.sub_up && !B.ready_said && buyt_mono_ns() - B.sub_up_ns > 300000000ull) {
            printf("ready\n");
            fflush(stdout);
            B.ready_said = true;
            B.start_ns = buyt_mono_ns(); /* for the give-up only */
        }
        if (B.received >= B.total)
            uv_stop(B.loop);
        return;
    }
    if (!B.start_ns && B.pub_up && (B.mode != BROKER || B.sub_up)) {
        B.start_ns = buyt_mono_ns();
        publish_more();
    }
    if (B.mode == PUB) {
        if (B.pub_done_ns)
            uv_stop(B.loop);
        return;
    }
    /* The engine's rows are counted only once the broker has acknowledged every message:
     * a count(*) every 100 ms over the growing table cost PostgreSQL ~0.8 s of CPU per run,
     * taken from the engine and the broker on this two-core machine. The end is the first
     * count (every 20 ms from then on) that finds every row. */
    if (B.engine && B.start_ns && B.pub_done_ns) {
        PGresult *r = PQexec(B.db, "SELECT count(*) FROM fixes WHERE lon_e7 >= 1058000000");
        if (PQresultStatus(r) == PGRES_TUPLES_OK)
            B.stored = atol(PQgetvalue(r, 0, 0));
        PQclear(r);
        if (B.stored >= B.total) {
            B.last_rx_ns = buyt_mono_ns();
            uv_stop(B.loop);
        }
    } else if (B.received >= B.total) {
        uv_stop(B.loop);
    }
}

int main(int argc, char **argv)
{
    static const char *const modes[] = {"broker", "engine", "pub", "sub"};
    int mode = -1;
    for (int i = 0; argc >= 2 && i < 4; i++)
        if (!strcmp(argv[1], modes[i]))
            mode = i;
    if (mode < 0) {
        fprintf(stderr, "usage: bench-e2e broker|engine|pub|sub --url URL [--db CONNINFO] "
                        "[--messages N] [--vehicles V] [--seq-base S]\n");
        return 2;
    }
    B.mode = (enum mode)mode;
    B.engine = B.mode == ENGINE;
    /* The ceiling runs on another agency's topics (same length): the engine (subscribed to
     * hn) may be running, and the ceiling's persistent subscriber must not have the engine
     * phase's messages queued for it while it is away. */
    B.agency = B.engine ? "hn" : "bx";
    const char *url = NULL, *db = NULL;
    B.total = 200000;
    B.vehicles = 2000;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--url"))
            url = argv[i + 1];
        else if (!strcmp(argv[i], "--db"))
            db = argv[i + 1];
        else if (!strcmp(argv[i], "--messages"))
            B.total = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--vehicles"))
            B.vehicles = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seq-base"))
            B.seq_base = strtoull(argv[i + 1], NULL, 10);
    }
    if (!url || (B.engine && !db)) {
        fprintf(stderr, "bench-e2e: --url (and --db for engine) required\n");
        return 2;
    }
    B.t0_ms = buyt_wall_ms() - 3600 * 1000;
    if (B.engine) {
        B.db = PQconnectdb(db);
        if (PQstatus(B.db) != CONNECTION_OK) {
            fprintf(stderr, "bench-e2e: %s", PQerrorMessage(B.db));
            return 1;
        }
    }
    B.loop = uv_default_loop();
    if (B.mode != SUB) {
        struct buyt_mqtt_callbacks pcb = {.on_connect = on_pub_connect, .on_publish = on_puback};
        struct buyt_mqtt_opts po = {.url = url, .client_id = "bench-pub", .clean_session = true,
                                    .max_inflight = 1000};
        buyt_mqtt_new(B.loop, &po, &pcb, NULL, &B.pub);
        buyt_mqtt_start(B.pub);
    }
    if (B.mode == BROKER || B.mode == SUB) {
        struct buyt_mqtt_callbacks scb = {.on_connect = on_sub_connect,
                                          .on_message = on_sub_message};
        /* The same kind of session as the engine's (persistent, QoS 1): the broker does a
         * little more per message for it than for a clean session (a few per cent here). */
        struct buyt_mqtt_opts so = {.url = url, .client_id = "bench-sub",
                                    .clean_session = false};
        buyt_mqtt_new(B.loop, &so, &scb, NULL, &B.sub);
        buyt_mqtt_start(B.sub);
    }
    uv_timer_init(B.loop, &B.poll);
    uv_timer_start(&B.poll, on_poll, 50, 20);
    uv_run(B.loop, UV_RUN_DEFAULT);
    if (B.mode == SUB) {
        printf("sub: received %ld of %ld, last at %llu ns\n", B.received, B.total,
               (unsigned long long)B.last_rx_ns);
        return B.received == B.total ? 0 : 1;
    }
    if (B.mode == PUB) {
        printf("pub: %ld messages, %d vehicles, started at %llu ns, acked in %.2f s\n", B.total,
               B.vehicles, (unsigned long long)B.start_ns,
               (double)(B.pub_done_ns - B.start_ns) / 1e9);
        return B.pub_done_ns ? 0 : 1;
    }
    double s = (double)(B.last_rx_ns - B.start_ns) / 1e9;
    double pub_s = B.pub_done_ns ? (double)(B.pub_done_ns - B.start_ns) / 1e9 : s;
    long got = B.engine ? B.stored : B.received;
    printf("%s: %ld messages, %d vehicles: %s %ld in %.2f s = %.0f msg/s (publisher acked in "
           "%.2f s = %.0f msg/s), loss %ld\n",
           argv[1], B.total, B.vehicles, B.engine ? "stored" : "delivered", got, s, got / s,
           pub_s, B.total / pub_s, B.total - got);
    return got == B.total ? 0 : 1;
}
