/* buyt-sign against the real broker: a retained StopBoard published by the engine's account is
 * rendered by the sign (its read-only account) exactly as the LED box of W x H cells; a sign
 * that joins late gets the current board; a stop without a board times out. */
#include "mqtt.h"
#include "testkit.h"
#include "topics.h"

#include "buyt/v1/buyt.pb-c.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define NOW 1714532400000LL /* 2024-05-01 10:00 +07 */

struct pub {
    uv_loop_t loop;
    struct buyt_mqtt *m;
    int acked;
};

static void on_publish(struct buyt_mqtt *m, int mid, void *ud)
{
    (void)m, (void)mid;
    ((struct pub *)ud)->acked++;
}

static bool connected(void *arg)
{
    return buyt_mqtt_connected(((struct pub *)arg)->m);
}
static int want_acks;
static bool acked(void *arg)
{
    return ((struct pub *)arg)->acked >= want_acks;
}

/* Publishes `boards` retained to stop S of agency hn, in order, and waits for the PUBACKs. */
static void publish(const char *stop, Buyt__V1__StopBoard **boards, int n)
{
    struct pub p = {0};
    uv_loop_init(&p.loop);
    struct buyt_mqtt_callbacks cb = {.on_publish = on_publish};
    struct buyt_mqtt_opts o = {
        .url = buyt_test_env("BUYT_MQTT_URL"), .client_id = "it-engine", .clean_session = true};
    cr_assert_eq(buyt_mqtt_new(&p.loop, &o, &cb, &p, &p.m), 0);
    buyt_mqtt_start(p.m);
    cr_assert(buyt_test_run_until(&p.loop, connected, &p, 10000), "engine account connects");
    char topic[BUYT_TOPIC_MAX];
    cr_assert_eq(buyt_topic_format(topic, sizeof topic, BUYT_TOPIC_BOARD, "hn", stop), 0);
    for (int i = 0; i < n; i++) {
        uint8_t buf[4096];
        size_t len = buyt__v1__stop_board__pack(boards[i], buf);
        cr_assert_eq(buyt_mqtt_publish(p.m, topic, buf, len, 1, true, NULL), 0);
    }
    want_acks = n;
    cr_assert(buyt_test_run_until(&p.loop, acked, &p, 10000), "PUBACK");
    buyt_mqtt_close(p.m, NULL, NULL);
    uv_run(&p.loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&p.loop), 0);
}

struct made {
    Buyt__V1__StopBoard b;
    Buyt__V1__Arrival a[3];
    Buyt__V1__Arrival *ap[3];
};

static void make(struct made *m, const char *name, int shift_min)
{
    buyt__v1__stop_board__init(&m->b);
    m->b.stop_id = "S1";
    m->b.stop_name = (char *)name;
    m->b.generated_ms = NOW;
    struct {
        const char *route, *head;
        int64_t eta;
        Buyt__V1__ArrivalStatus st;
        bool rt;
    } rows[3] = {
        {"32", "Giáp Bát", NOW + 20000, BUYT__V1__ARRIVAL_STATUS__ARRIVAL_STATUS_APPROACHING, 1},
        {"03", "Đường Láng", NOW + 6 * 60000 + 5000,
         BUYT__V1__ARRIVAL_STATUS__ARRIVAL_STATUS_REALTIME, 1},
        {"21A", "Khu đô thị Dương Nội", NOW + 12 * 60000,
         BUYT__V1__ARRIVAL_STATUS__ARRIVAL_STATUS_SCHEDULED_ONLY, 0},
    };
    for (int i = 0; i < 3; i++) {
        buyt__v1__arrival__init(&m->a[i]);
        m->a[i].route_short_name = (char *)rows[i].route;
        m->a[i].headsign = (char *)rows[i].head;
        m->a[i].eta_ms = (uint64_t)(rows[i].eta + shift_min * 60000LL);
        m->a[i].scheduled_ms = m->a[i].eta_ms;
        m->a[i].status = rows[i].st;
        m->a[i].realtime = rows[i].rt;
        m->ap[i] = &m->a[i];
    }
    m->b.n_arrivals = 3;
    m->b.arrivals = m->ap;
}

/* Runs buyt-sign --once with `args` in the zone UTC+7 and returns its output (and status). */
static char *sign_once(const char *args, int *status)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "TZ='<+07>-7' %s/buyt-sign --mqtt '%s' --agency hn --once --at %lld %s", BUYT_BIN_DIR,
             buyt_test_env("BUYT_MQTT_SIGN_URL"), (long long)NOW, args);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    static char out[16384];
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    *status = pclose(f);
    return out;
}

Test(sign, renders_the_retained_board_exactly)
{
    struct made m;
    make(&m, "Bến xe Giáp Bát", 0);
    Buyt__V1__StopBoard *b = &m.b;
    publish("S1", &b, 1);
    int st;
    char *out = sign_once("--stop S1 --width 28 --rows 4", &st);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    cr_assert_str_eq(out, "┌────────────────────────────┐\n"
                          "│Bến xe Giáp Bát        10:00│\n"
                          "│32   Giáp Bát            now│\n"
                          "│03   Đường Láng        6 min│\n"
                          "│21A  Khu đô thị Dương  10:12│\n"
                          "└────────────────────────────┘\n");
    out = sign_once("--stop S1 --width 20 --rows 3 --ascii", &st);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_str_eq(out, "+--------------------+\n"
                          "|Ben xe Giap Ba 10:00|\n"
                          "|32   Giap Bat    now|\n"
                          "|03   Duong La  6 min|\n"
                          "+--------------------+\n");
}

Test(sign, a_late_joining_sign_gets_the_current_board)
{
    struct made a, b;
    make(&a, "Kim Mã", 0);
    make(&b, "Kim Mã", 1); /* a later board: every bus a minute later */
    Buyt__V1__StopBoard *boards[2] = {&a.b, &b.b};
    publish("S2", boards, 2);
    int st;
    char *out = sign_once("--stop S2 --width 24 --rows 3", &st);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_str_eq(out,
                     "┌────────────────────────┐\n"
                     "│Kim Mã             10:00│\n"
                     "│32   Giáp Bát      1 min│\n"
                     "│03   Đường Láng    7 min│\n"
                     "└────────────────────────┘\n",
                     "the second (current) board, not the first");
}

Test(sign, no_board_times_out_with_status_1)
{
    int st;
    char *out = sign_once("--stop NOBOARD --timeout-s 1", &st);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
    cr_assert_str_eq(out, "");
}
