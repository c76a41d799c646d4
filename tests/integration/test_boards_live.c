/* Live stop boards end to end: an in-process engine with a real broker and database, a bus
 * publishing telemetry as it approaches stop D, and a sign's account subscribed to D's board.
 *
 * The bus runs faster than its (slow) schedule: each fix brings its predicted arrival at D
 * earlier, so the minutes on D's board count down fix after fix (3, 2, 1, now), then the bus
 * stands at D. Its fixes are 2 min old or a little less when sent, so that the bus goes
 * silent (over the 2 min stale limit) within seconds of the last one: its arrival at D must
 * then drop back to scheduled-only, at its scheduled time. A subscriber that joins late gets
 * the current board at once (retained). The engine also samples its predictions into the
 * `predictions` table. */
#include "clock.h"
#include "engine.h"
#include "engine_rig.h"
#include "hist.h"
#include "mqtt.h"
#include "testkit.h"
#include "topics.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Stops A..E 1 km apart along latitude 21.0; the trip takes 2 min per segment except C->D,
 * scheduled at 10 min (a slow segment: the bus beats it). */
#define N_STOPS 5
static const char *stop_ids[N_STOPS] = {"A", "B", "C", "D", "E"};
static const int32_t sched_s[N_STOPS] = {0, 120, 240, 840, 960};
#define SEG_M 1000.0
#define STEP_M 50.0   /* between fixes */
#define STEP_S 2.5    /* 20 m/s */
#define START_M 2500.0 /* 500 m before D */
#define N_MOVE 11     /* fixes from START_M to D */

struct board_seen {
    int minutes;   /* of the bus's arrival; -1: not listed */
    int status;    /* Buyt__V1__ArrivalStatus */
    bool realtime;
    int64_t predicted_ms, scheduled_ms;
    bool retained;
};

struct rig {
    struct buyt_test_rig t; /* the engine and the telemetry publisher (engine_rig.h) */
    struct buyt_mqtt *sign, *late;
    bool sign_up, late_up;
    int64_t t0, day0, trip_start_ms;
    struct board_seen seen[64];
    int n_seen;
    struct board_seen late_seen;
    int late_n;
};

static struct buyt_network *make_network(struct rig *r, int64_t t0)
{
    struct buyt_network *net;
    cr_assert_eq(buyt_network_new(NULL, &net), 0);
    uint32_t s[N_STOPS], route, shape, t;
    for (int i = 0; i < N_STOPS; i++)
        cr_assert_eq(buyt_network_add_stop(net, stop_ids[i], stop_ids[i], 21.0,
                                           105.80 + i * (SEG_M / 103900.0), &s[i]),
                     0);
    cr_assert_eq(buyt_network_add_route(net, "01", "01", 3, &route), 0);
    cr_assert_eq(buyt_network_add_shape(net, "east", &shape), 0);
    for (int i = 0; i <= 80; i++)
        cr_assert_eq(buyt_network_add_shape_point(net, shape, 21.0, 105.80 + i * (50 / 103900.0)),
                     0);
    r->day0 = (t0 - 3 * 3600000LL) / 86400000 * 86400000;
    /* Scheduled at START_M (2.5 km: half of C->D) when the first fix is taken: on time. */
    r->trip_start_ms = (t0 - (sched_s[2] + 300) * 1000LL) / 1000 * 1000;
    struct buyt_network_trip_def d = {.trip_id = "T1",
                                      .route = route,
                                      .shape = shape,
                                      .headsign = "Giáp Bát",
                                      .direction_id = 0,
                                      .day_start_ms = r->day0};
    cr_assert_eq(buyt_network_add_trip(net, &d, &t), 0);
    int32_t s0 = (int32_t)((r->trip_start_ms - r->day0) / 1000);
    for (int i = 0; i < N_STOPS; i++)
        cr_assert_eq(buyt_network_add_stop_time(net, t, (uint32_t)i + 1, s[i], s0 + sched_s[i],
                                                s0 + sched_s[i]),
                     0);
    cr_assert_eq(buyt_network_finish(net), 0);
    return net;
}

/* ------------------------------------------------------------------ MQTT clients */

static void decode_board(const void *payload, size_t len, bool retained, struct board_seen *out)
{
    Buyt__V1__StopBoard *b = buyt__v1__stop_board__unpack(NULL, len, payload);
    cr_assert_not_null(b, "a board that does not decode");
    cr_assert_str_eq(b->stop_id, "D");
    *out = (struct board_seen){.minutes = -1, .retained = retained};
    for (size_t i = 0; i < b->n_arrivals; i++) {
        const Buyt__V1__Arrival *a = b->arrivals[i];
        if (strcmp(a->trip_id, "T1"))
            continue;
        out->minutes = a->minutes;
        out->status = a->status;
        out->realtime = a->realtime;
        out->predicted_ms = (int64_t)a->eta_ms;
        out->scheduled_ms = (int64_t)a->scheduled_ms;
    }
    buyt__v1__stop_board__free_unpacked(b, NULL);
}

static void sign_connect(struct buyt_mqtt *m, void *ud)
{
    char topic[BUYT_TOPIC_MAX];
    cr_assert_eq(buyt_topic_format(topic, sizeof topic, BUYT_TOPIC_BOARD, "hn", "D"), 0);
    cr_assert_eq(buyt_mqtt_subscribe(m, topic, 1), 0);
    struct rig *r = ud;
    if (m == r->sign)
        r->sign_up = true;
    else
        r->late_up = true;
}

static void sign_message(struct buyt_mqtt *m, const char *topic, const void *payload, size_t len,
                         int qos, bool retained, void *ud)
{
    (void)topic, (void)qos;
    struct rig *r = ud;
    if (m == r->late) {
        decode_board(payload, len, retained, &r->late_seen);
        r->late_n++;
        return;
    }
    if (r->n_seen < (int)(sizeof r->seen / sizeof r->seen[0]))
        decode_board(payload, len, retained, &r->seen[r->n_seen++]);
}

static struct buyt_mqtt *client(struct rig *r, const char *url_env, const char *id,
                                const struct buyt_mqtt_callbacks *cb)
{
    struct buyt_mqtt *m;
    struct buyt_mqtt_opts o = {.url = buyt_test_env(url_env), .client_id = id,
                               .clean_session = true};
    cr_assert_eq(buyt_mqtt_new(&r->t.loop, &o, cb, r, &m), 0);
    buyt_mqtt_start(m);
    return m;
}

/* ------------------------------------------------------------------ the rig */

static struct buyt_network *network(void *arg)
{
    struct rig *r = arg;
    return make_network(r, r->t0);
}

static bool sign_ready(void *arg)
{
    return ((struct rig *)arg)->sign_up;
}

static void rig_start(struct rig *r, int64_t t0)
{
    memset(r, 0, sizeof *r);
    r->t0 = t0;
    struct buyt_test_rig_opts o = {.client_id = "it-boards-engine",
                                   .buses = 1,
                                   .network = network,
                                   .network_arg = r,
                                   .feed_version = 1,
                                   .service_day = "today",
                                   .stats_ms = 500,
                                   .pub_client_id = "it-boards-pub",
                                   .ready = sign_ready,
                                   .ready_arg = r};
    buyt_test_rig_start(&r->t, &o);
    struct buyt_mqtt_callbacks scb = {.on_connect = sign_connect, .on_message = sign_message};
    r->sign = client(r, "BUYT_MQTT_SIGN_URL", "it-boards-sign", &scb);
    buyt_test_rig_connect(&r->t, &o); /* and the sign's SUBACK */
}

static void rig_stop(struct rig *r)
{
    buyt_mqtt_close(r->sign, NULL, NULL);
    if (r->late)
        buyt_mqtt_close(r->late, NULL, NULL);
    buyt_test_rig_stop(&r->t);
}

/* ------------------------------------------------------------------ telemetry */

static void publish_fix(struct rig *r, uint64_t seq, int64_t time_ms, double dist_m,
                        double speed, const Buyt__V1__DriverEvent *signin)
{
    Buyt__V1__Record rec[2], *rp[2];
    Buyt__V1__Fix fx;
    size_t n = 0;
    if (signin) {
        buyt__v1__record__init(&rec[n]);
        rec[n].seq = seq - 1;
        rec[n].time_ms = (uint64_t)time_ms;
        rec[n].body_case = BUYT__V1__RECORD__BODY_DRIVER_EVENT;
        rec[n].driver_event = (Buyt__V1__DriverEvent *)signin;
        rp[n] = &rec[n];
        n++;
    }
    buyt__v1__fix__init(&fx);
    fx.lat_e7 = buyt_deg_to_e7(21.0);
    fx.lon_e7 = buyt_deg_to_e7(105.80 + dist_m / 103900.0);
    fx.speed_cms = (uint32_t)(speed * 100);
    fx.course_cdeg = 9000;
    fx.quality = BUYT__V1__FIX_QUALITY__FIX_QUALITY_GPS;
    fx.fields = BUYT__V1__FIX_FIELD__FIX_FIELD_SPEED | BUYT__V1__FIX_FIELD__FIX_FIELD_COURSE;
    buyt__v1__record__init(&rec[n]);
    rec[n].seq = seq;
    rec[n].time_ms = (uint64_t)time_ms;
    rec[n].body_case = BUYT__V1__RECORD__BODY_FIX;
    rec[n].fix = &fx;
    rp[n] = &rec[n];
    n++;
    buyt_test_rig_publish(&r->t, "bus1", rp, n);
}

struct wait_board {
    struct rig *r;
    int n_before;
    uint64_t accepted;
};
static bool fix_taken(void *arg)
{
    struct wait_board *w = arg;
    return w->r->t.e.stats.accepted >= w->accepted;
}
static bool new_board(void *arg)
{
    struct wait_board *w = arg;
    return w->r->n_seen > w->n_before;
}
static bool late_got_one(void *arg)
{
    return ((struct rig *)arg)->late_n > 0;
}

static void run_for(struct rig *r, int ms)
{
    int64_t until = buyt_wall_ms() + ms;
    while (buyt_wall_ms() < until) {
        uv_run(&r->t.loop, UV_RUN_NOWAIT);
        usleep(2000);
    }
}

Test(boards_live, a_bus_approaching_counts_down_a_late_sign_gets_it_and_silence_turns_it_schedule_only,
     .timeout = 120)
{
    /* The first fix is 118 s old when sent; the last moving one 93 s: the bus goes silent
     * (> 120 s since its newest fix) about 27 s after the last. */
    int64_t now = buyt_wall_ms();
    int64_t t0 = now - 118000;
    struct rig r;
    rig_start(&r, t0);
    Buyt__V1__DriverEvent de = BUYT__V1__DRIVER_EVENT__INIT;
    de.kind = BUYT__V1__DRIVER_EVENT_KIND__DRIVER_EVENT_SIGN_IN;
    de.trip_id = "T1";
    de.driver_id = "d1";

    /* A first sweep publishes D's board (the trip scheduled-only); wait for it. */
    struct wait_board w = {&r, 0, 0};
    cr_assert(buyt_test_run_until(&r.t.loop, new_board, &w, 5000), "no first board");
    cr_assert_eq(r.seen[0].minutes >= 0 && !r.seen[0].realtime, true,
                 "before any fix: T1 listed, not real-time");

    uint64_t seq = 0;
    struct buyt_board_counters bc0;
    buyt_boards_counters(r.t.e.boards, &bc0);
    for (int k = 0; k < N_MOVE + 2; k++) {
        bool at_d = k >= N_MOVE - 1;
        double dist = at_d ? 3 * SEG_M : START_M + k * STEP_M;
        int64_t t = t0 + (int64_t)(k * STEP_S * 1000);
        w.n_before = r.n_seen;
        w.accepted = r.t.e.stats.accepted + (k == 0 ? 2 : 1);
        seq += k == 0 ? 2 : 1; /* consecutive: the sign-in takes seq - 1 */
        publish_fix(&r, seq, t, dist, at_d ? 0 : 20, k == 0 ? &de : NULL);
        cr_assert(buyt_test_run_until(&r.t.loop, fix_taken, &w, 5000), "fix %d not taken", k);
        /* The board changes when the minutes do; give it time to arrive if it does. */
        buyt_test_run_until(&r.t.loop, new_board, &w, 300);
    }
    /* Expected (schedule-based: the bus beats a 10 min segment by running 20 m/s):
     * arrival at D predicted at t_k + remaining scheduled time = about now + 3 min at the
     * first fix, 25 s earlier at each next one. */
    const struct board_seen *first_rt = NULL;
    for (int i = 0; i < r.n_seen && !first_rt; i++)
        if (r.seen[i].realtime)
            first_rt = &r.seen[i];
    cr_assert_not_null(first_rt, "the bus never appeared real-time on D's board");
    cr_assert_geq(first_rt->minutes, 2, "first live minutes %d", first_rt->minutes);
    int prev = 1000, distinct = 0;
    for (int i = 0; i < r.n_seen; i++) {
        if (!r.seen[i].realtime)
            continue;
        cr_assert_leq(r.seen[i].minutes, prev, "board %d went up: %d after %d", i,
                      r.seen[i].minutes, prev);
        distinct += r.seen[i].minutes != prev;
        prev = r.seen[i].minutes;
    }
    cr_assert_geq(distinct, 3, "counted down through at least 3 values");
    const struct board_seen *last = &r.seen[r.n_seen - 1];
    cr_assert_eq(last->status, BUYT__V1__ARRIVAL_STATUS__ARRIVAL_STATUS_AT_STOP,
                 "the bus stands at D: status %d", last->status);
    cr_assert_eq(last->minutes, 0);
    cr_assert(last->realtime);

    /* The changes were published by the fix path, not the 1 s sweep, and timed. */
    struct buyt_board_counters bc1;
    buyt_boards_counters(r.t.e.boards, &bc1);
    cr_assert_geq(bc1.published_on_change - bc0.published_on_change, (uint64_t)distinct,
                  "every change seen on D came from a fix (%llu)",
                  (unsigned long long)(bc1.published_on_change - bc0.published_on_change));
    const struct buyt_hist *h = buyt_boards_latency(r.t.e.boards);
    cr_assert_geq(h->n, (uint64_t)distinct);

    /* A sign that joins now gets the current board at once, flagged retained. */
    struct buyt_mqtt_callbacks lcb = {.on_connect = sign_connect, .on_message = sign_message};
    r.late = client(&r, "BUYT_MQTT_SIGN_URL", "it-boards-late", &lcb);
    cr_assert(buyt_test_run_until(&r.t.loop, late_got_one, &r, 5000), "late sign got nothing");
    cr_assert(r.late_seen.retained, "delivered as the retained board");
    cr_assert_eq(r.late_seen.status, last->status);
    cr_assert_eq(r.late_seen.realtime, true);

    /* Silence: no more fixes. Over 120 s after the newest fix the bus is a ghost: its arrival
     * at D is scheduled-only, at the scheduled time. */
    int64_t newest = t0 + (int64_t)((N_MOVE + 1) * STEP_S * 1000);
    int64_t silent_at = newest + 120000;
    int64_t wait = silent_at - buyt_wall_ms() + 2500;
    cr_assert_lt(wait, 60000, "the test took too long to reach the silent phase");
    run_for(&r, (int)(wait > 0 ? wait : 0));
    last = &r.seen[r.n_seen - 1];
    cr_assert_eq(last->realtime, false, "silent bus still shown real-time");
    cr_assert_eq(last->status, BUYT__V1__ARRIVAL_STATUS__ARRIVAL_STATUS_SCHEDULED_ONLY,
                 "status %d", last->status);
    cr_assert_eq(last->predicted_ms, r.trip_start_ms + sched_s[3] * 1000LL,
                 "scheduled-only shows the scheduled time");

    /* The engine sampled its live predictions into `predictions` (every 500 ms here). */
    PGconn *c = buyt_test_pg_connect(r.t.db);
    long long rows = buyt_test_sql_int(
        c, "SELECT count(*) FROM predictions WHERE vehicle_id = 'bus1' AND trip_id = 'T1'"
           " AND stop_id IN ('D', 'E') AND predicted > made_at - interval '1 minute'");
    cr_assert_gt(rows, 0, "no prediction samples stored");
    PQfinish(c);
    cr_assert_gt(r.t.e.stats.samples_stored, 0);
    rig_stop(&r);
}
