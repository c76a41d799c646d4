/* buyt-sim end to end against real servers: generate a small city, import it with buyt-gtfs,
 * run the simulator in direct mode at 60x, and check what a subscriber receives against the
 * network and the simulator's own ground truth. */
#include "clock.h"
#include "contract.h"
#include "geo.h"
#include "mqtt.h"
#include "simnet.h"
#include "network_build.h"
#include "testkit.h"
#include "topics.h"
#include "truth.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NV 5
#define MAX_FIX 20000

struct fix {
    int64_t t;
    double lat, lon;
};

struct veh {
    char id[BUYT_ID_MAX];
    uint64_t boot_id;
    uint8_t *seen; /* by seq */
    uint64_t max_seq, dup;
    struct fix *fix;
    int n_fix;
};

struct ctx {
    struct buyt_mqtt *sub;
    bool subscribed, exited;
    int64_t exit_status;
    long messages, multi, records, rejects;
    struct veh v[NV];
    int nv;
    int64_t last_msg_ms;
};

static struct veh *vehicle(struct ctx *c, const char *id)
{
    for (int i = 0; i < c->nv; i++)
        if (!strcmp(c->v[i].id, id))
            return &c->v[i];
    cr_assert_lt(c->nv, NV, "more vehicles than simulated: %s", id);
    struct veh *v = &c->v[c->nv++];
    snprintf(v->id, sizeof v->id, "%s", id);
    v->seen = calloc(200000, 1);
    v->fix = calloc(MAX_FIX, sizeof *v->fix);
    return v;
}

static void on_connect(struct buyt_mqtt *m, void *ud)
{
    struct ctx *c = ud;
    cr_assert_eq(buyt_mqtt_subscribe(m, "buyt/v1/+/vehicle/+/telemetry", 1), 0);
    c->subscribed = true;
}

static void on_message(struct buyt_mqtt *m, const char *topic, const void *payload, size_t len,
                       int qos, bool retained, void *ud)
{
    (void)m, (void)qos, (void)retained;
    struct ctx *c = ud;
    char agency[BUYT_ID_MAX], vid[BUYT_ID_MAX];
    cr_assert_eq(buyt_topic_parse(topic, agency, vid), BUYT_TOPIC_TELEMETRY);
    Buyt__V1__Telemetry *t;
    enum buyt_reject why = buyt_telemetry_decode(payload, len, &t);
    cr_assert_eq(why, BUYT_REJECT_NONE, "%s", buyt_reject_name(why));
    cr_assert_str_eq(t->vehicle_id, vid);
    struct veh *v = vehicle(c, vid);
    if (!v->boot_id)
        v->boot_id = t->boot_id;
    cr_assert_eq(v->boot_id, t->boot_id, "boot_id changed within one run");
    c->messages++;
    c->last_msg_ms = buyt_wall_ms();
    if (t->n_records > 1)
        c->multi++;
    uint64_t prev = 0;
    for (size_t i = 0; i < t->n_records; i++) {
        const Buyt__V1__Record *r = t->records[i];
        if (buyt_contract_check_record(r, buyt_wall_ms()) != BUYT_REJECT_NONE)
            c->rejects++;
        cr_assert_gt(r->seq, prev, "records of one message out of seq order");
        prev = r->seq;
        cr_assert_lt(r->seq, 200000);
        if (v->seen[r->seq])
            v->dup++;
        v->seen[r->seq] = 1;
        if (r->seq > v->max_seq)
            v->max_seq = r->seq;
        c->records++;
        if (r->body_case == BUYT__V1__RECORD__BODY_FIX &&
            r->fix->quality != BUYT__V1__FIX_QUALITY__FIX_QUALITY_NONE && v->n_fix < MAX_FIX)
            v->fix[v->n_fix++] = (struct fix){(int64_t)r->time_ms, buyt_e7_to_deg(r->fix->lat_e7),
                                              buyt_e7_to_deg(r->fix->lon_e7)};
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
static bool is_quiet(void *arg)
{
    return buyt_wall_ms() - ((struct ctx *)arg)->last_msg_ms > 1500;
}

static void run(const char *cmd)
{
    int rc = system(cmd);
    cr_assert_eq(rc, 0, "'%s' failed (%d)", cmd, rc);
}

/* A daytime start in the past: 08:00 Hanoi time today, or yesterday before 09:00. */
static int64_t daytime_start(void)
{
    const int64_t tz = 7 * 3600 * 1000LL, day = 86400000LL;
    int64_t local = buyt_wall_ms() + tz;
    int64_t midnight = local - local % day;
    int64_t start = midnight + 8 * 3600 * 1000LL;
    if (local - midnight < 9 * 3600 * 1000LL)
        start -= day;
    return start - tz;
}

/* Truth intervals during which fixes may be far from the shape. */
struct excl {
    char vehicle[40];
    int64_t a, b;
};

struct truth_ctx {
    struct ctx *c;
    const struct buyt_simnet *net;
    struct excl ex[4096];
    int n_ex;
    long arrivals, near, deadzones, stop_rows;
    double worst;
};

static void collect_excl(void *ud, const struct buyt_truth_rec *r)
{
    struct truth_ctx *k = ud;
    if (r->kind == BUYT_TRUTH_DEADZONE)
        k->deadzones++;
    if (r->kind != BUYT_TRUTH_DETOUR && r->kind != BUYT_TRUTH_GNSS_DEGRADED)
        return;
    cr_assert_lt(k->n_ex, 4096);
    struct excl *e = &k->ex[k->n_ex++];
    snprintf(e->vehicle, sizeof e->vehicle, "%s", r->vehicle_id);
    e->a = r->start_ms - 3000;
    e->b = r->end_ms + 3000;
}

static bool excluded(const struct truth_ctx *k, const char *vid, int64_t t)
{
    for (int i = 0; i < k->n_ex; i++)
        if (t >= k->ex[i].a && t <= k->ex[i].b && !strcmp(k->ex[i].vehicle, vid))
            return true;
    return false;
}

static void check_arrival(void *ud, const struct buyt_truth_rec *r)
{
    struct truth_ctx *k = ud;
    if (r->kind != BUYT_TRUTH_STOP)
        return;
    k->stop_rows++;
    if (r->start_ms == BUYT_TRUTH_NO_TIME || r->end_ms == BUYT_TRUTH_NO_TIME ||
        r->end_ms == r->start_ms || excluded(k, r->vehicle_id, r->start_ms))
        return; /* served stops only: the bus stands there */
    const struct veh *v = NULL;
    for (int i = 0; i < k->c->nv; i++)
        if (!strcmp(k->c->v[i].id, r->vehicle_id))
            v = &k->c->v[i];
    cr_assert(v, "truth names vehicle %s that published nothing", r->vehicle_id);
    const struct fix *best = NULL;
    for (int i = 0; i < v->n_fix; i++)
        if (llabs(v->fix[i].t - r->start_ms) <= 3000 &&
            (!best || llabs(v->fix[i].t - r->start_ms) < llabs(best->t - r->start_ms)))
            best = &v->fix[i];
    if (!best)
        return; /* no fix then (GNSS outage) */
    int si = buyt_net_find_id(k->net->stops, (size_t)k->net->n_stops, sizeof *k->net->stops,
                              r->stop_id);
    cr_assert_geq(si, 0, "unknown stop %s", r->stop_id);
    double d = buyt_geo_haversine_m(best->lat, best->lon, k->net->stops[si].lat,
                                    k->net->stops[si].lon);
    k->arrivals++;
    k->near += d < 30.0;
    if (d > k->worst)
        k->worst = d;
}

Test(sim_direct, five_buses_at_60x_match_network_and_truth)
{
    char dir[] = "/tmp/buyt-simcity-XXXXXX";
    cr_assert(mkdtemp(dir));
    char cmd[2048], conninfo[512], truth[600];
    snprintf(cmd, sizeof cmd, "%s/buyt-sim --generate-city %s --routes 5 --stops 150 --buses 20",
             BUYT_BIN_DIR, dir);
    run(cmd);
    buyt_test_fresh_db(conninfo, sizeof conninfo);
    snprintf(cmd, sizeof cmd, "%s/buyt-gtfs import --db '%s' --feed %s 2>/dev/null", BUYT_BIN_DIR,
             conninfo, dir);
    run(cmd);
    snprintf(truth, sizeof truth, "%s/truth.csv", dir);

    uv_loop_t loop;
    uv_loop_init(&loop);
    static struct ctx c;
    memset(&c, 0, sizeof c);
    struct buyt_mqtt_callbacks cb = {.on_connect = on_connect, .on_message = on_message};
    struct buyt_mqtt_opts o = {.url = buyt_test_env("BUYT_MQTT_URL"), .client_id = "it-sim-sub",
                               .clean_session = true, .max_inflight = 1000};
    cr_assert_eq(buyt_mqtt_new(&loop, &o, &cb, &c, &c.sub), 0);
    buyt_mqtt_start(c.sub);
    cr_assert(buyt_test_run_until(&loop, is_subscribed, &c, 10000), "subscriber did not connect");
    usleep(300 * 1000);

    int64_t start = daytime_start();
    char start_iso[40], bin[600];
    buyt_iso8601_ms(start, start_iso, sizeof start_iso);
    snprintf(bin, sizeof bin, "%s/buyt-sim", BUYT_BIN_DIR);
    char *args[] = {bin, "--db", conninfo, "--mqtt", (char *)buyt_test_env("BUYT_MQTT_TOOL_URL"),
                    "--direct", "--vehicles", "5", "--speedup", "60", "--duration", "20",
                    "--start", start_iso, "--truth", truth, "--stats-interval", "5", NULL};
    uv_process_t proc;
    uv_stdio_container_t stdio[3] = {{UV_IGNORE, {0}}, {UV_INHERIT_FD, {.fd = 1}},
                                     {UV_INHERIT_FD, {.fd = 2}}};
    uv_process_options_t po = {.exit_cb = on_exit_cb, .file = bin, .args = args,
                               .stdio_count = 3, .stdio = stdio};
    proc.data = &c;
    cr_assert_eq(uv_spawn(&loop, &proc, &po), 0);
    cr_assert(buyt_test_run_until(&loop, is_exited, &c, 120000), "buyt-sim did not finish");
    cr_assert_eq(c.exit_status, 0);
    buyt_test_run_until(&loop, is_quiet, &c, 10000);

    /* Every record decoded and valid; seqs gap-free from 1 per vehicle; one boot id each. */
    cr_assert_eq(c.nv, NV, "%d vehicles published", c.nv);
    cr_assert_eq(c.rejects, 0);
    for (int i = 0; i < c.nv; i++) {
        struct veh *v = &c.v[i];
        cr_assert_gt(v->max_seq, 50, "%s sent %llu records", v->id, (unsigned long long)v->max_seq);
        for (uint64_t s = 1; s <= v->max_seq; s++)
            cr_assert(v->seen[s], "%s: seq %llu missing (max %llu)", v->id, (unsigned long long)s,
                      (unsigned long long)v->max_seq);
    }
    PGconn *db = buyt_test_pg_connect(conninfo);
    cr_assert_eq(buyt_test_sql_int(db, "SELECT count(*) FROM vehicles WHERE agency = 'hnsim'"
                                       " AND label = 'buyt-sim'"),
                 NV);
    PQfinish(db);

    /* Positions on the routes' shapes, within GPS noise (outside detours and bad GNSS). */
    struct buyt_simnet *net;
    char err[512];
    cr_assert_eq(buyt_simnet_load(conninfo, start, &net, err, sizeof err), 0, "%s", err);
    static struct truth_ctx k;
    memset(&k, 0, sizeof k);
    k.c = &c;
    k.net = net;
    cr_assert_eq(buyt_truth_read(truth, collect_excl, &k, err, sizeof err), 0, "%s", err);
    long fixes = 0, near = 0, far = 0;
    for (int i = 0; i < c.nv; i++)
        for (int j = 0; j < c.v[i].n_fix; j++) {
            const struct fix *f = &c.v[i].fix[j];
            if (excluded(&k, c.v[i].id, f->t))
                continue;
            double x, y, best = INFINITY;
            buyt_geo_to_xy(&net->frame, f->lat, f->lon, &x, &y);
            for (int s = 0; s < net->n_shapes; s++)
                best = fmin(best, buyt_net_shape_distance(&net->shapes[s], x, y));
            fixes++;
            near += best < 20;
            far += best > 60;
        }
    cr_log_info("fixes %ld, within 20 m of a shape %ld, beyond 60 m %ld", fixes, near, far);
    cr_assert_gt(fixes, 1000);
    cr_assert_geq(near * 1000, fixes * 995, "only %ld of %ld fixes within 20 m", near, fixes);
    cr_assert_eq(far, 0);

    /* Truth against the fixes: at a true arrival the bus's published position is at the stop. */
    cr_assert_eq(buyt_truth_read(truth, check_arrival, &k, err, sizeof err), 0, "%s", err);
    cr_log_info("arrivals %ld, within 30 m %ld, worst %.1f m; messages %ld (%ld replays)",
                k.arrivals, k.near, k.worst, c.messages, c.multi);
    cr_assert_gt(k.stop_rows, 20);
    cr_assert_gt(k.arrivals, 10);
    cr_assert_geq(k.near * 10, k.arrivals * 9, "%ld of %ld arrivals within 30 m", k.near,
                  k.arrivals);
    if (k.deadzones > 0)
        cr_assert_gt(c.multi, 0, "dead zones crossed but no replay batch published");

    buyt_simnet_free(net);
    buyt_mqtt_close(c.sub, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    for (int i = 0; i < c.nv; i++) {
        free(c.v[i].seen);
        free(c.v[i].fix);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    run(cmd);
}
