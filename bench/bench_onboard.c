/* Benchmark of bin/buyt-onboard against a real broker (run under tools/servers.sh):
 *
 *   1. steady state: a synthetic 10 Hz GNSS receiver (RMC + GGA + GSA per epoch, a bus moving at
 *      8 m/s and turning gently) through a pseudo-terminal, reported at 1 Hz; CPU of the agent
 *      from /proc/PID/stat (utime + stime) and RSS from /proc/PID/status over `seconds`;
 *   2. backlog: the broker stops, `backlog_s` seconds of the same feed (timestamps in the past)
 *      are written fast and journaled, the broker starts again while the 10 Hz live feed goes
 *      on; time until the whole backlog has arrived, and the live fixes that arrived meanwhile
 *      (count and latency from the write of their epoch).
 * A subscriber plays the engine: it acknowledges (retained Ack) the highest gap-free seq every
 * second, so the backlog is only what the outage left.
 *
 *   tools/servers.sh run -- build/bin/bench-onboard build/bin/buyt-onboard [seconds] [backlog_s]
 * Defaults: 60 s, 3600 s. Prints one line per figure. */
#define _XOPEN_SOURCE 700
#include "clock.h"
#include "contract.h"
#include "mqtt.h"
#include "topics.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define VEHICLE "BENCH-1"
#define PASS "bench-pass"
#define MAX_SEQ 200000

static void die(const char *what)
{
    fprintf(stderr, "bench-onboard: %s\n", what);
    exit(1);
}

/* ------------------------------------------------------------------ NMEA generator */

static int nmea_line(char *out, size_t cap, const char *body)
{
    unsigned char cs = 0;
    for (const char *p = body; *p; p++)
        cs ^= (unsigned char)*p;
    return snprintf(out, cap, "$%s*%02X\r\n", body, cs);
}

static void fmt_coord(char *out, size_t cap, double deg, int deg_digits, char pos, char neg)
{
    char h = deg < 0 ? neg : pos;
    deg = fabs(deg);
    int d = (int)deg;
    double m = (deg - d) * 60.0;
    snprintf(out, cap, "%0*d%07.4f,%c", deg_digits, d, m, h);
}

/* One 10 Hz epoch of a bus at time t_ms (Unix ms): RMC, GGA, GSA. Returns bytes written. */
static size_t epoch(char *out, size_t cap, int64_t t_ms, int64_t t0_ms)
{
    double s = (double)(t_ms - t0_ms) / 1000.0;
    double course = fmod(45.0 + 30.0 * sin(s / 60.0) + 360.0, 360.0); /* gentle turns */
    double v = 8.0;                                                   /* m/s */
    double lat = 21.0287 + v * s * cos(course * M_PI / 180.0) / 111320.0;
    double lon =
        105.8522 + v * s * sin(course * M_PI / 180.0) / (111320.0 * cos(21.03 * M_PI / 180));
    time_t sec = (time_t)(t_ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char tod[48], date[40], la[24], lo[24], body[200];
    snprintf(tod, sizeof tod, "%02d%02d%02d.%02d", tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(t_ms % 1000) / 10);
    snprintf(date, sizeof date, "%02d%02d%02d", tm.tm_mday, tm.tm_mon + 1, tm.tm_year % 100);
    fmt_coord(la, sizeof la, lat, 2, 'N', 'S');
    fmt_coord(lo, sizeof lo, lon, 3, 'E', 'W');
    size_t n = 0;
    snprintf(body, sizeof body, "GPRMC,%s,A,%s,%s,%.1f,%.1f,%s,,,A", tod, la, lo, v / 0.514444,
             course, date);
    n += (size_t)nmea_line(out + n, cap - n, body);
    snprintf(body, sizeof body, "GPGGA,%s,%s,%s,1,09,0.9,12.3,M,-20.1,M,,", tod, la, lo);
    n += (size_t)nmea_line(out + n, cap - n, body);
    n += (size_t)nmea_line(out + n, cap - n, "GPGSA,A,3,02,05,08,10,15,17,18,24,26,,,,1.6,0.9,1.3");
    return n;
}

/* ------------------------------------------------------------------ state */

struct bench {
    uv_loop_t loop;
    struct buyt_mqtt *m;
    bool ready;
    int online;
    char t_ack[BUYT_TOPIC_MAX];
    uint8_t *seen;      /* by seq */
    int64_t *arrive_ms; /* wall ms of the first copy, by seq */
    int64_t *fix_time;  /* Fix time_ms, by seq (0: not a fix) */
    uint64_t max_seq, gapfree, acked;
    uint64_t messages, records;
    int master;
    int64_t t0_ms;         /* synthetic trip start (position origin) */
    int64_t next_epoch_ms; /* the next live epoch's GNSS time */
    int64_t offset_ms;     /* live GNSS time = wall clock - offset (room for the backlog) */
    int64_t *written_ms;   /* epoch time -> wall ms written (live epochs), by (t - base)/100 */
    int64_t written_base;
    size_t written_n;
    uv_timer_t feed, ack;
};

static struct bench B;

static void on_connect(struct buyt_mqtt *m, void *ud)
{
    (void)ud;
    buyt_mqtt_subscribe(m, "buyt/v1/hn/vehicle/" VEHICLE "/#", 1);
    B.ready = true;
}

static void on_message(struct buyt_mqtt *m, const char *topic, const void *payload, size_t len,
                       int qos, bool retained, void *ud)
{
    (void)m, (void)qos, (void)retained, (void)ud;
    char agency[BUYT_ID_MAX], id[BUYT_ID_MAX];
    enum buyt_topic_kind kind = buyt_topic_parse(topic, agency, id);
    if (kind == BUYT_TOPIC_STATUS && len) {
        Buyt__V1__DeviceStatus *st = buyt__v1__device_status__unpack(NULL, len, payload);
        if (st) {
            B.online = st->state == BUYT__V1__DEVICE_STATE__DEVICE_STATE_ONLINE;
            buyt__v1__device_status__free_unpacked(st, NULL);
        }
        return;
    }
    if (kind != BUYT_TOPIC_TELEMETRY)
        return;
    Buyt__V1__Telemetry *t;
    if (buyt_telemetry_decode(payload, len, &t) != BUYT_REJECT_NONE)
        die("undecodable telemetry");
    int64_t now = buyt_wall_ms();
    B.messages++;
    for (size_t i = 0; i < t->n_records; i++) {
        uint64_t q = t->records[i]->seq;
        if (q >= MAX_SEQ)
            die("seq beyond the bench's table");
        B.records++;
        if (!B.seen[q]) {
            B.seen[q] = 1;
            B.arrive_ms[q] = now;
            if (t->records[i]->body_case == BUYT__V1__RECORD__BODY_FIX)
                B.fix_time[q] = (int64_t)t->records[i]->time_ms;
        }
        if (q > B.max_seq)
            B.max_seq = q;
    }
    while (B.seen[B.gapfree + 1])
        B.gapfree++;
    buyt_telemetry_free(t);
}

/* The engine's role: a retained Ack of the highest gap-free seq, once a second. */
static void on_ack_timer(uv_timer_t *t)
{
    (void)t;
    if (B.gapfree <= B.acked || !buyt_mqtt_connected(B.m))
        return;
    Buyt__V1__Ack a = BUYT__V1__ACK__INIT;
    a.stored_through_seq = B.gapfree;
    a.time_ms = (uint64_t)buyt_wall_ms();
    uint8_t buf[32];
    size_t n = buyt__v1__ack__pack(&a, buf);
    if (buyt_mqtt_publish(B.m, B.t_ack, buf, n, 1, true, NULL) == 0)
        B.acked = B.gapfree;
}

/* Live feed: one epoch per 100 ms of wall time, stamped wall clock - offset. */
static void on_feed(uv_timer_t *t)
{
    (void)t;
    int64_t now = buyt_wall_ms() - B.offset_ms;
    while (B.next_epoch_ms <= now) {
        char buf[512];
        size_t n = epoch(buf, sizeof buf, B.next_epoch_ms, B.t0_ms);
        if (write(B.master, buf, n) != (ssize_t)n)
            die("pty write");
        size_t k = (size_t)((B.next_epoch_ms - B.written_base) / 100);
        if (k < B.written_n)
            B.written_ms[k] = buyt_wall_ms();
        B.next_epoch_ms += 100;
    }
}

static bool never(void)
{
    return false;
}

/* Runs the loop until pred() or ms elapse. */
static bool run_for(int ms, bool (*pred)(void))
{
    uint64_t end = uv_now(&B.loop) + (uint64_t)ms;
    while (!pred() && uv_now(&B.loop) < end) {
        uv_run(&B.loop, UV_RUN_ONCE);
        uv_update_time(&B.loop);
    }
    return pred();
}

static bool is_ready(void)
{
    return B.ready && B.online;
}

/* ------------------------------------------------------------------ /proc sampling */

static double cpu_seconds(pid_t pid)
{
    char p[64], buf[1024];
    snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(p, "r");
    if (!f || !fgets(buf, sizeof buf, f))
        die("cannot read /proc/PID/stat");
    fclose(f);
    const char *s = strrchr(buf, ')'); /* fields after the command name: state is field 3 */
    unsigned long utime = 0, stime = 0;
    int field = 2;
    for (const char *c = s + 1; *c && field < 15; c++) {
        if (*c == ' ') {
            field++;
            if (field == 14)
                utime = strtoul(c + 1, NULL, 10);
            else if (field == 15)
                stime = strtoul(c + 1, NULL, 10);
        }
    }
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static long status_kib(pid_t pid, const char *key)
{
    char p[64], line[256];
    snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
    FILE *f = fopen(p, "r");
    long v = -1;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':')
            v = strtol(line + kl + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static void servers(const char *action)
{
    char cmd[512];
    const char *dir = getenv("BUYT_SERVERS_DIR");
    snprintf(cmd, sizeof cmd, "%s %s '%s'",
             getenv("BUYT_SERVERS_SH") ? getenv("BUYT_SERVERS_SH") : "tools/servers.sh", action,
             dir);
    if (system(cmd) != 0)
        die("servers.sh failed (run under tools/servers.sh run, from the repository root)");
}

static int cmp_i64(const void *a, const void *b);

/* Wall ms when the epoch of GNSS time t was written, 0 if unknown. */
static int64_t written_at(int64_t t)
{
    if (t < B.written_base)
        return 0;
    size_t k = (size_t)((t - B.written_base) / 100);
    return k < B.written_n ? B.written_ms[k] : 0;
}

/* Latencies (arrival - write) of the fixes with seq in (lo, hi] and GNSS time in [t_from,
 * t_to), sorted; returns how many. */
static size_t latencies(uint64_t lo, uint64_t hi, int64_t t_from, int64_t t_to, int64_t *out,
                        size_t cap)
{
    size_t n = 0;
    for (uint64_t q = lo + 1; q <= hi && n < cap; q++) {
        if (!B.seen[q] || !B.fix_time[q] || B.fix_time[q] < t_from || B.fix_time[q] >= t_to)
            continue;
        int64_t w = written_at(B.fix_time[q]);
        if (w)
            out[n++] = B.arrive_ms[q] - w;
    }
    qsort(out, n, sizeof *out, cmp_i64);
    return n;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage: bench-onboard PATH/buyt-onboard [seconds] [backlog_s]");
    const char *agent_bin = argv[1];
    int seconds = argc > 2 ? atoi(argv[2]) : 60;
    int backlog_s = argc > 3 ? atoi(argv[3]) : 3600;
    if (!getenv("BUYT_SERVERS_DIR") || !getenv("BUYT_MQTT_TOOL_URL"))
        die("run under tools/servers.sh run -- ...");
    signal(SIGPIPE, SIG_IGN);
    B.seen = calloc(MAX_SEQ, 1);
    B.arrive_ms = calloc(MAX_SEQ, sizeof *B.arrive_ms);
    B.fix_time = calloc(MAX_SEQ, sizeof *B.fix_time);

    char cmd[256];
    snprintf(cmd, sizeof cmd, "mqtt-account '%s' " VEHICLE " " PASS, getenv("BUYT_SERVERS_DIR"));
    {
        char full[512];
        snprintf(full, sizeof full, "%s %s",
                 getenv("BUYT_SERVERS_SH") ? getenv("BUYT_SERVERS_SH") : "tools/servers.sh", cmd);
        if (system(full) != 0)
            die("cannot add the device account");
        usleep(300000);
    }
    B.master = posix_openpt(O_RDWR | O_NOCTTY);
    if (B.master < 0 || grantpt(B.master) || unlockpt(B.master))
        die("pty");
    char slave[64];
    snprintf(slave, sizeof slave, "%s", ptsname(B.master));
    int sfd = open(slave, O_RDWR | O_NOCTTY);
    struct termios tio;
    tcgetattr(sfd, &tio);
    cfmakeraw(&tio);
    tcsetattr(sfd, TCSANOW, &tio);

    char dir[] = "/tmp/bench-onboard-XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp");
    char conf[256], log[256];
    snprintf(conf, sizeof conf, "%s/agent.conf", dir);
    snprintf(log, sizeof log, "%s/agent.log", dir);
    FILE *f = fopen(conf, "w");
    fprintf(f,
            "agency = hn\nvehicle_id = " VEHICLE "\nmqtt_url = mqtt://" VEHICLE ":" PASS
            "@%s:%s\njournal_dir = %s/journal\ngps_device = %s\nmqtt_backoff_max = 1s\n",
            getenv("BUYT_MQTT_HOST"), getenv("BUYT_MQTT_PORT"), dir, slave);
    fclose(f);

    uv_loop_init(&B.loop);
    buyt_topic_format(B.t_ack, sizeof B.t_ack, BUYT_TOPIC_ACK, "hn", VEHICLE);
    struct buyt_mqtt_opts o = {.url = getenv("BUYT_MQTT_TOOL_URL"),
                               .client_id = "bench-engine",
                               .backoff_min_ms = 100,
                               .backoff_max_ms = 500};
    struct buyt_mqtt_callbacks cb = {.on_connect = on_connect, .on_message = on_message};
    if (buyt_mqtt_new(&B.loop, &o, &cb, NULL, &B.m))
        die("mqtt client");
    buyt_mqtt_start(B.m);

    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, STDERR_FILENO);
        execl(agent_bin, "buyt-onboard", "--config", conf, (char *)NULL);
        _exit(127);
    }
    if (!run_for(15000, is_ready))
        die("agent or subscriber did not come up");

    /* ---- 1. steady state. GNSS time runs behind the wall clock by the backlog's length, so
     * the backlog written later fits between the steady state and the present. */
    B.offset_ms = (int64_t)backlog_s * 1000 + 60000;
    int64_t now = buyt_wall_ms() - B.offset_ms;
    B.t0_ms = now;
    B.next_epoch_ms = now / 100 * 100;
    B.written_base = B.next_epoch_ms;
    B.written_n = (size_t)(seconds + backlog_s + 600) * 10;
    B.written_ms = calloc(B.written_n, sizeof *B.written_ms);
    uv_timer_init(&B.loop, &B.feed);
    uv_timer_init(&B.loop, &B.ack);
    uv_timer_start(&B.feed, on_feed, 0, 20);
    uv_timer_start(&B.ack, on_ack_timer, 1000, 1000);
    run_for(5000, never); /* warm-up */
    double c0 = cpu_seconds(pid);
    uint64_t w0 = buyt_mono_ns();
    uint64_t recs0 = B.records, msgs0 = B.messages, seq0 = B.max_seq;
    long rss_max = 0;
    for (int i = 0; i < seconds; i++) {
        run_for(1000, never);
        long rss = status_kib(pid, "VmRSS");
        if (rss > rss_max)
            rss_max = rss;
    }
    double cpu = cpu_seconds(pid) - c0;
    double wall = (double)(buyt_mono_ns() - w0) / 1e9;
    static int64_t lat[200000];
    size_t nl = latencies(seq0, B.max_seq, 0, INT64_MAX, lat, 200000);
    printf("steady: %d s at 10 Hz GNSS, 1 Hz reports: agent CPU %.3f s = %.2f %% of one core; "
           "VmRSS max %ld KiB, VmHWM %ld KiB; %" PRIu64 " messages, %" PRIu64 " records\n",
           seconds, cpu, 100.0 * cpu / wall, rss_max, status_kib(pid, "VmHWM"), B.messages - msgs0,
           B.records - recs0);
    printf("steady: latency epoch written -> record received, %zu fixes: median %lld ms, max "
           "%lld ms\n",
           nl, nl ? (long long)lat[nl / 2] : -1LL, nl ? (long long)lat[nl - 1] : -1LL);

    /* ---- 2. backlog */
    run_for(2000, never); /* everything acked */
    uint64_t before = B.max_seq;
    uv_timer_stop(&B.feed);
    servers("mqtt-stop");
    B.online = 0;
    /* backlog_s seconds of drive written as fast as the agent takes it, continuing the GNSS
     * time of the steady state. */
    int64_t start = B.next_epoch_ms;
    uint64_t tfill = buyt_mono_ns();
    double cfill = cpu_seconds(pid);
    for (int64_t t = start; t < start + (int64_t)backlog_s * 1000; t += 100) {
        char buf[512];
        size_t n = epoch(buf, sizeof buf, t, B.t0_ms);
        for (size_t off = 0; off < n;) {
            ssize_t w = write(B.master, buf + off, n - off); /* blocks while the pty is full */
            if (w < 0 && errno != EINTR)
                die("pty write");
            if (w > 0)
                off += (size_t)w;
        }
    }
    usleep(1500000); /* the last epochs are journaled and synced */
    double fill_s = (double)(buyt_mono_ns() - tfill) / 1e9;
    double fill_cpu = cpu_seconds(pid) - cfill;
    B.next_epoch_ms = start + (int64_t)backlog_s * 1000;
    B.offset_ms = buyt_wall_ms() - B.next_epoch_ms; /* live resumes where the backlog ends */
    int64_t live_from = B.next_epoch_ms;
    long rss_fill = status_kib(pid, "VmRSS");
    servers("mqtt-start");
    uint64_t t_up = buyt_mono_ns();
    int64_t wall_up = buyt_wall_ms();
    uv_timer_start(&B.feed, on_feed, 0, 20);
    /* The backlog is every record between the steady state and the first live fix (seqs are
     * assigned in order); drained when all of them have arrived. */
    uint64_t backlog_last = 0, t_done = 0;
    for (int i = 0; i < 6000 && !t_done; i++) {
        run_for(10, never);
        if (!backlog_last)
            for (uint64_t q = before + 1; q <= B.max_seq && !backlog_last; q++)
                if (B.seen[q] && B.fix_time[q] >= live_from)
                    backlog_last = q - 1;
        if (backlog_last && B.gapfree >= backlog_last)
            t_done = buyt_mono_ns();
    }
    if (!t_done)
        die("backlog not drained within 60 s");
    run_for(5000, never); /* live goes on */
    int64_t first_arrival = INT64_MAX, last_arrival = 0;
    for (uint64_t q = before + 1; q <= backlog_last; q++) {
        if (B.arrive_ms[q] > last_arrival)
            last_arrival = B.arrive_ms[q];
        if (B.arrive_ms[q] < first_arrival)
            first_arrival = B.arrive_ms[q];
    }
    size_t live_during = 0;
    for (uint64_t q = backlog_last + 1; q <= B.max_seq; q++)
        live_during += B.seen[q] && B.fix_time[q] >= live_from && B.arrive_ms[q] <= last_arrival;
    nl = latencies(backlog_last, B.max_seq, live_from, INT64_MAX, lat, 200000);
    int64_t first_live = -1;
    for (uint64_t q = backlog_last + 1; q <= B.max_seq && first_live < 0; q++)
        if (B.seen[q] && B.fix_time[q] >= live_from && written_at(B.fix_time[q]))
            first_live = B.arrive_ms[q] - written_at(B.fix_time[q]);
    printf("backlog: %d s of 10 Hz drive (%" PRIu64 " records at 1 Hz) journaled in %.1f s with "
           "the broker down (agent CPU %.2f s, VmRSS %ld KiB)\n",
           backlog_s, backlog_last - before, fill_s, fill_cpu, rss_fill);
    printf("drain: broker restart -> last backlog record received %lld ms (agent reconnect "
           "backoff included); first -> last backlog record %lld ms\n",
           (long long)(last_arrival - wall_up), (long long)(last_arrival - first_arrival));
    printf("live during drain: %zu live fixes arrived before the last backlog record; first live "
           "fix after the restart took %lld ms; latency of the %zu live fixes after the restart: "
           "median %lld ms, max %lld ms\n",
           live_during, (long long)first_live, nl, nl ? (long long)lat[nl / 2] : -1LL,
           nl ? (long long)lat[nl - 1] : -1LL);
    (void)t_up;

    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    printf("agent exit status %d; log %s\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1, log);
    uv_timer_stop(&B.feed);
    uv_timer_stop(&B.ack);
    uv_close((uv_handle_t *)&B.feed, NULL);
    uv_close((uv_handle_t *)&B.ack, NULL);
    buyt_mqtt_close(B.m, NULL, NULL);
    uv_run(&B.loop, UV_RUN_DEFAULT);
    close(sfd);
    close(B.master);
    return 0;
}
