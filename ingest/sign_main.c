/* buyt-sign: the reference LED stop sign. A sign vendor integrating with buyt needs only what
 * this file does:
 *
 *   1. Connect to the broker with the sign account (read-only on boards) and subscribe, QoS 1,
 *      to its stop's board: buyt/v1/{agency}/stop/{stop_id}/board. Boards are retained, so the
 *      current one arrives at once, also after a reconnect.
 *   2. Decode the payload: a protobuf StopBoard (proto/buyt/v1/buyt.proto). Use `arrivals`
 *      (soonest first) to lay out your own screen, or print `lines` as they are: they are
 *      pre-rendered for a text sign of `line_width` characters (`ascii`: no diacritics).
 *   3. Count down from your own clock between boards (eta_ms - now), and stop counting when
 *      the board is older than two minutes (the engine republishes at least every 30 s): then
 *      show scheduled times only, never stale "real-time" minutes.
 *
 * Here the sign is a box of W x H character cells drawn in the terminal, rendered by
 * buyt_board_render() (ingest/board.h: the same code that fills `lines`) so that any sign size
 * shows the same content.
 *
 *   buyt-sign --mqtt URL --agency CODE --stop STOP_ID [--width W] [--rows H] [--ascii]
 *             [--once] [--timeout-s S] [--at UNIX_MS]
 *
 * --once prints one frame (no terminal control codes) as soon as the board arrives and exits:
 * 0 on success, 1 if no board came within --timeout-s (default 10). --at renders as if the
 * clock read UNIX_MS (tests, demos). Clock times are in the machine's local time zone (TZ). */
#include "board.h"
#include "clock.h"
#include "error.h"
#include "log.h"
#include "mqtt.h"
#include "topics.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

struct sign {
    uv_loop_t *loop;
    struct buyt_mqtt *mqtt;
    uv_timer_t tick; /* redraws every second: minutes count down between boards */
    uv_signal_t sigint, sigterm;
    char topic[BUYT_TOPIC_MAX];
    struct buyt_board_text text;
    Buyt__V1__StopBoard *board; /* the newest board, NULL until one arrives */
    bool once, ascii, closing;
    int64_t at_ms; /* 0: the real clock */
    int rc;
};

static int64_t now_ms(const struct sign *s)
{
    return s->at_ms ? s->at_ms : buyt_wall_ms();
}

/* Offset of local time from UTC at instant ms, from the process's time zone (TZ). */
static int32_t utc_offset_s(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    return localtime_r(&t, &tm) ? (int32_t)tm.tm_gmtoff : 0;
}

/* Draws the sign: a border around rows x width cells. */
static void draw(struct sign *s)
{
    static char lines[BUYT_BOARD_TEXT_BYTES];
    int64_t now = now_ms(s);
    if (!buyt_board_render(s->board, &s->text, now, utc_offset_s(now), lines, sizeof lines))
        return;
    const char *h = s->ascii ? "-" : "─", *v = s->ascii ? "|" : "│";
    const char *tl = s->ascii ? "+" : "┌", *tr = s->ascii ? "+" : "┐";
    const char *bl = s->ascii ? "+" : "└", *br = s->ascii ? "+" : "┘";
    if (!s->once)
        fputs("\x1b[H\x1b[2J", stdout); /* ANSI: cursor home, clear screen */
    fputs(tl, stdout);
    for (uint32_t i = 0; i < s->text.width; i++)
        fputs(h, stdout);
    printf("%s\n", tr);
    for (char *line = lines; *line;) { /* each line is exactly `width` cells, '\n'-ended */
        char *end = strchr(line, '\n');
        printf("%s%.*s%s\n", v, (int)(end - line), line, v);
        line = end + 1;
    }
    fputs(bl, stdout);
    for (uint32_t i = 0; i < s->text.width; i++)
        fputs(h, stdout);
    printf("%s\n", br);
    fflush(stdout);
}

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

static void shutdown_sign(struct sign *s)
{
    if (s->closing)
        return;
    s->closing = true;
    uv_close((uv_handle_t *)&s->tick, on_closed);
    uv_close((uv_handle_t *)&s->sigint, on_closed);
    uv_close((uv_handle_t *)&s->sigterm, on_closed);
    buyt_mqtt_close(s->mqtt, NULL, NULL); /* frees the client once its handles are closed */
}

static void on_tick(uv_timer_t *t);

static void on_connect(struct buyt_mqtt *m, void *ud)
{
    struct sign *s = ud;
    if (buyt_mqtt_subscribe(m, s->topic, 1))
        fprintf(stderr, "buyt-sign: subscribe %s failed\n", s->topic);
}

static void on_message(struct buyt_mqtt *m, const char *topic, const void *payload, size_t len,
                       int qos, bool retained, void *ud)
{
    (void)m, (void)topic, (void)qos, (void)retained;
    struct sign *s = ud;
    Buyt__V1__StopBoard *b = buyt__v1__stop_board__unpack(NULL, len, payload);
    if (!b) {
        fprintf(stderr, "buyt-sign: a board that does not decode (%zu bytes) ignored\n", len);
        return;
    }
    if (s->board)
        buyt__v1__stop_board__free_unpacked(s->board, NULL);
    s->board = b;
    draw(s);
    if (s->once) {
        /* Done; close from the timer, not from inside libmosquitto's callback (closing the
         * client here deadlocks: mqtt.c flushes the DISCONNECT while libmosquitto holds its
         * lock around on_message). */
        s->rc = 0;
        uv_timer_start(&s->tick, on_tick, 0, 0);
    }
}

/* Every second: redraw (the clock and the minutes move). --once: the frame is out, or no board
 * came within the timeout. */
static void on_tick(uv_timer_t *t)
{
    struct sign *s = t->data;
    if (s->once) {
        if (s->rc)
            fprintf(stderr, "buyt-sign: no board on %s\n", s->topic);
        shutdown_sign(s);
    } else if (s->board) {
        draw(s);
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    shutdown_sign(h->data);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: buyt-sign --mqtt URL --agency CODE --stop STOP_ID [--width W] [--rows H]"
               " [--ascii] [--once] [--timeout-s S] [--at UNIX_MS]\n");
}

int main(int argc, char **argv)
{
    struct sign s = {.rc = 1};
    const char *url = NULL, *agency = NULL, *stop = NULL;
    int timeout_s = 10;
    buyt_board_text_default(&s.text);
    static const struct option longs[] = {
        {"mqtt", required_argument, NULL, 'm'},
        {"agency", required_argument, NULL, 'a'},
        {"stop", required_argument, NULL, 's'},
        {"width", required_argument, NULL, 'w'},
        {"rows", required_argument, NULL, 'r'},
        {"ascii", no_argument, NULL, 'A'},
        {"once", no_argument, NULL, 'o'},
        {"timeout-s", required_argument, NULL, 't'},
        {"at", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 'm': url = optarg; break;
        case 'a': agency = optarg; break;
        case 's': stop = optarg; break;
        case 'w': s.text.width = (uint32_t)atoi(optarg); break;
        case 'r': s.text.rows = (uint32_t)atoi(optarg); break;
        case 'A': s.ascii = s.text.ascii = true; break;
        case 'o': s.once = true; break;
        case 't': timeout_s = atoi(optarg); break;
        case 'T': s.at_ms = strtoll(optarg, NULL, 10); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!url || !agency || !stop || optind != argc || timeout_s <= 0) {
        usage(stderr);
        return 2;
    }
    if (buyt_board_text_check(&s.text)) {
        fprintf(stderr, "buyt-sign: --width must be 12..%d and --rows 1..%d\n",
                BUYT_BOARD_WIDTH_MAX, BUYT_BOARD_ROWS_MAX);
        return 2;
    }
    if (buyt_topic_format(s.topic, sizeof s.topic, BUYT_TOPIC_BOARD, agency, stop)) {
        fprintf(stderr, "buyt-sign: bad agency or stop id\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (!getenv("BUYT_LOG_LEVEL")) /* the screen is the output: only errors on stderr */
        buyt_log_set_level(BUYT_LOG_ERROR);

    uv_loop_t loop;
    uv_loop_init(&loop);
    s.loop = &loop;
    char client_id[128];
    snprintf(client_id, sizeof client_id, "buyt-sign-%s-%ld", stop, (long)getpid());
    /* A clean session: a sign needs no queued history, the retained board is the state. */
    struct buyt_mqtt_opts mo = {.url = url, .client_id = client_id, .clean_session = true};
    struct buyt_mqtt_callbacks cb = {.on_connect = on_connect, .on_message = on_message};
    if (buyt_mqtt_new(&loop, &mo, &cb, &s, &s.mqtt)) {
        fprintf(stderr, "buyt-sign: bad --mqtt URL\n");
        uv_loop_close(&loop);
        return 2;
    }
    uv_timer_init(&loop, &s.tick);
    s.tick.data = &s;
    uv_timer_start(&s.tick, on_tick, s.once ? (uint64_t)timeout_s * 1000 : 1000, 1000);
    uv_signal_init(&loop, &s.sigint);
    uv_signal_init(&loop, &s.sigterm);
    s.sigint.data = s.sigterm.data = &s;
    uv_signal_start(&s.sigint, on_signal, SIGINT);
    uv_signal_start(&s.sigterm, on_signal, SIGTERM);
    buyt_mqtt_start(s.mqtt);
    if (!s.once)
        fprintf(stderr, "buyt-sign: waiting for %s\n", s.topic);

    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (s.board)
        buyt__v1__stop_board__free_unpacked(s.board, NULL);
    return s.once ? s.rc : 0;
}
