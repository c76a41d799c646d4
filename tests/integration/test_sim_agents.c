/* buyt-sim agents mode against real servers: real buyt-onboard processes, one per bus, fed
 * NMEA and RDM6300 bytes through ptys, each with its own broker account; a subscriber checks
 * what the agents publish. */
#include "clock.h"
#include "contract.h"
#include "mqtt.h"
#include "testkit.h"
#include "topics.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NV 2

struct veh {
    char id[BUYT_ID_MAX];
    uint8_t seen[20000];
    uint64_t max_seq;
    long fixes, taps, sign_ins;
    char driver[40];
};

struct ctx {
    bool subscribed, exited;
    int64_t exit_status;
    struct veh v[NV];
    int nv;
    int64_t last_msg_ms;
};

static void on_connect(struct buyt_mqtt *m, void *ud)
{
    cr_assert_eq(buyt_mqtt_subscribe(m, "buyt/v1/+/vehicle/+/telemetry", 1), 0);
    ((struct ctx *)ud)->subscribed = true;
}

static void on_message(struct buyt_mqtt *m, const char *topic, const void *payload, size_t len,
                       int qos, bool retained, void *ud)
{
    (void)m, (void)qos, (void)retained;
    struct ctx *c = ud;
    char agency[BUYT_ID_MAX], vid[BUYT_ID_MAX];
    cr_assert_eq(buyt_topic_parse(topic, agency, vid), BUYT_TOPIC_TELEMETRY);
    Buyt__V1__Telemetry *t;
    cr_assert_eq(buyt_telemetry_decode(payload, len, &t), BUYT_REJECT_NONE);
    struct veh *v = NULL;
    for (int i = 0; i < c->nv; i++)
        if (!strcmp(c->v[i].id, vid))
            v = &c->v[i];
    if (!v) {
        cr_assert_lt(c->nv, NV, "unexpected vehicle %s", vid);
        v = &c->v[c->nv++];
        snprintf(v->id, sizeof v->id, "%s", vid);
    }
    c->last_msg_ms = buyt_wall_ms();
    for (size_t i = 0; i < t->n_records; i++) {
        const Buyt__V1__Record *r = t->records[i];
        cr_assert_eq(buyt_contract_check_record(r, buyt_wall_ms()), BUYT_REJECT_NONE);
        cr_assert_lt(r->seq, 20000);
        v->seen[r->seq] = 1;
        if (r->seq > v->max_seq)
            v->max_seq = r->seq;
        if (r->body_case == BUYT__V1__RECORD__BODY_FIX &&
            r->fix->quality != BUYT__V1__FIX_QUALITY__FIX_QUALITY_NONE) {
            v->fixes++;
            cr_assert(r->fix->lat_e7 > 200000000 && r->fix->lat_e7 < 220000000);
            cr_assert(r->fix->lon_e7 > 1050000000 && r->fix->lon_e7 < 1070000000);
        }
        if (r->body_case == BUYT__V1__RECORD__BODY_CARD_TAP)
            v->taps++;
        if (r->body_case == BUYT__V1__RECORD__BODY_DRIVER_EVENT &&
            r->driver_event->kind == BUYT__V1__DRIVER_EVENT_KIND__DRIVER_EVENT_SIGN_IN) {
            v->sign_ins++;
            snprintf(v->driver, sizeof v->driver, "%s", r->driver_event->driver_id);
        }
    }
    buyt_telemetry_free(t);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    struct ctx *c = p->data;
    c->exited = true;
    c->exit_status = sig ? 128 + sig : status;
    uv_close((uv_handle_t *)p, NULL);
}

static bool is_subscribed(void *arg) { return ((struct ctx *)arg)->subscribed; }
static bool is_exited(void *arg) { return ((struct ctx *)arg)->exited; }
static bool is_quiet(void *arg) { return buyt_wall_ms() - ((struct ctx *)arg)->last_msg_ms > 2000; }

static void run(const char *cmd)
{
    int rc = system(cmd);
    cr_assert_eq(rc, 0, "'%s' failed (%d)", cmd, rc);
}

Test(sim_agents, real_agents_fed_through_ptys_publish_fixes_taps_and_sign_in)
{
    char dir[] = "/tmp/buyt-simagents-XXXXXX";
    cr_assert(mkdtemp(dir));
    char cmd[2048], conninfo[512], acc[600], work[600];
    snprintf(cmd, sizeof cmd, "%s/buyt-sim --generate-city %s/city --routes 3 --stops 90 --buses 12",
             BUYT_BIN_DIR, dir);
    run(cmd);
    buyt_test_fresh_db(conninfo, sizeof conninfo);
    snprintf(cmd, sizeof cmd, "%s/buyt-gtfs import --db '%s' --feed %s/city 2>/dev/null",
             BUYT_BIN_DIR, conninfo, dir);
    run(cmd);
    snprintf(acc, sizeof acc, "%s/accounts", dir);
    snprintf(work, sizeof work, "%s/work", dir);
    snprintf(cmd, sizeof cmd, "%s/buyt-sim --make-accounts %s --vehicles %d", BUYT_BIN_DIR, acc, NV);
    run(cmd);
    FILE *f = fopen(acc, "r");
    cr_assert(f);
    char line[256];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *colon = strchr(line, ':');
        cr_assert(colon);
        *colon = 0;
        buyt_test_mqtt_account(line, colon + 1);
    }
    fclose(f);

    uv_loop_t loop;
    uv_loop_init(&loop);
    static struct ctx c;
    memset(&c, 0, sizeof c);
    struct buyt_mqtt *sub;
    struct buyt_mqtt_callbacks cb = {.on_connect = on_connect, .on_message = on_message};
    struct buyt_mqtt_opts o = {.url = buyt_test_env("BUYT_MQTT_URL"), .client_id = "it-simag-sub",
                               .clean_session = true};
    cr_assert_eq(buyt_mqtt_new(&loop, &o, &cb, &c, &sub), 0);
    buyt_mqtt_start(sub);
    cr_assert(buyt_test_run_until(&loop, is_subscribed, &c, 10000));
    usleep(300 * 1000);

    /* 08:00 Hanoi time, yesterday: daytime service, in the past */
    const int64_t tz = 7 * 3600 * 1000LL, day = 86400000LL;
    int64_t local = buyt_wall_ms() + tz;
    int64_t start = local - local % day - day + 8 * 3600 * 1000LL - tz;
    char start_iso[40], url[300], bin[600];
    buyt_iso8601_ms(start, start_iso, sizeof start_iso);
    snprintf(url, sizeof url, "mqtt://127.0.0.1:%s", buyt_test_env("BUYT_MQTT_PORT"));
    snprintf(bin, sizeof bin, "%s/buyt-sim", BUYT_BIN_DIR);
    char *args[] = {bin, "--db", conninfo, "--mqtt", url, "--vehicles", "2", "--speedup", "10",
                    "--duration", "20", "--start", start_iso, "--accounts-file", acc,
                    "--workdir", work, "--stats-interval", "0", NULL};
    uv_process_t proc;
    uv_stdio_container_t stdio[3] = {{UV_IGNORE, {0}}, {UV_INHERIT_FD, {.fd = 1}},
                                     {UV_INHERIT_FD, {.fd = 2}}};
    uv_process_options_t po = {.exit_cb = on_exit_cb, .file = bin, .args = args,
                               .stdio_count = 3, .stdio = stdio};
    proc.data = &c;
    cr_assert_eq(uv_spawn(&loop, &proc, &po), 0);
    cr_assert(buyt_test_run_until(&loop, is_exited, &c, 90000), "buyt-sim did not finish");
    cr_assert_eq(c.exit_status, 0);
    buyt_test_run_until(&loop, is_quiet, &c, 10000);

    cr_assert_eq(c.nv, NV, "%d agents published", c.nv);
    long taps = 0;
    for (int i = 0; i < c.nv; i++) {
        struct veh *v = &c.v[i];
        cr_log_info("%s: seq 1..%llu, %ld fixes, %ld taps, sign-in %s", v->id,
                    (unsigned long long)v->max_seq, v->fixes, v->taps, v->driver);
        cr_assert_gt(v->fixes, 30, "%s: %ld fixes", v->id, v->fixes);
        for (uint64_t s = 1; s <= v->max_seq; s++)
            cr_assert(v->seen[s], "%s: seq %llu missing", v->id, (unsigned long long)s);
        cr_assert_eq(v->sign_ins, 1, "%s: %ld sign-ins", v->id, v->sign_ins);
        cr_assert_eq(strncmp(v->driver, "D0000", 5), 0, "driver id '%s' from the driver list",
                     v->driver);
        taps += v->taps;
    }
    cr_assert_gt(taps, 0, "no passenger card tap came through the reader pty");
    buyt_mqtt_close(sub, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    run(cmd);
}
