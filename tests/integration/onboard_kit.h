/* Shared by tests/integration/test_onboard*.c (included once per test program; static
 * functions): pseudo-terminals standing in for the serial ports, the real-drive NMEA log moved
 * to the present and cut into receiver epochs, the expected reports (the project's own NMEA
 * parser and reporting policy run over the same bytes), the real bin/buyt-onboard as a child
 * process, and a subscriber (tool account) that decodes and checks every Telemetry. */
#ifndef BUYT_ONBOARD_KIT_H
#define BUYT_ONBOARD_KIT_H

#define _XOPEN_SOURCE 700 /* posix_openpt, grantpt, unlockpt, ptsname */

#include "cardid.h"
#include "clock.h"
#include "contract.h"
#include "error.h"
#include "log.h"
#include "mqtt.h"
#include "nmea.h"
#include "report.h"
#include "testkit.h"
#include "topics.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define KIT_UNUSED __attribute__((unused))
#define KIT_AGENCY "hn"
#define KIT_FLEET_KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KIT_DRIVE "nmea/drive-regensburg-2010-geko201.nmea"
#define KIT_SPEEDUP 100 /* the 26-minute drive plays in ~16 s */

/* ------------------------------------------------------------------ temp dirs, cleanup */

static char kit_dir[128];
static pid_t kit_pids[4];
static bool kit_passed;

static KIT_UNUSED void kit_rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char p[512];
            snprintf(p, sizeof p, "%s/%s", path, e->d_name);
            kit_rm_rf(p);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static KIT_UNUSED void kit_setup(void)
{
    buyt_log_set_level(BUYT_LOG_ERROR);
    snprintf(kit_dir, sizeof kit_dir, "/tmp/buyt-it-onboard-XXXXXX");
    cr_assert_not_null(mkdtemp(kit_dir));
    memset(kit_pids, 0, sizeof kit_pids);
    kit_passed = false;
}

/* Kills agents left by a failed test; keeps the directory (agent logs) of a failed test. */
static KIT_UNUSED void kit_teardown(void)
{
    for (int i = 0; i < 4; i++) {
        if (kit_pids[i] > 0) {
            kill(kit_pids[i], SIGKILL);
            waitpid(kit_pids[i], NULL, 0);
        }
    }
    if (kit_passed && !getenv("KIT_KEEP"))
        kit_rm_rf(kit_dir);
    else
        fprintf(stderr, "test files (agent logs) kept in %s\n", kit_dir);
}

/* ------------------------------------------------------------------ pseudo-terminals */

/* A serial port stand-in: the test writes the master; the agent opens `path`. The test keeps
 * a raw-mode slave fd open too, so the port survives the agent being killed. */
struct kit_pty {
    int master, slave;
    char path[64];
};

static KIT_UNUSED void kit_pty_open(struct kit_pty *p)
{
    p->master = posix_openpt(O_RDWR | O_NOCTTY);
    cr_assert_geq(p->master, 0);
    cr_assert_eq(grantpt(p->master), 0);
    cr_assert_eq(unlockpt(p->master), 0);
    snprintf(p->path, sizeof p->path, "%s", ptsname(p->master));
    p->slave = open(p->path, O_RDWR | O_NOCTTY);
    cr_assert_geq(p->slave, 0);
    struct termios t;
    cr_assert_eq(tcgetattr(p->slave, &t), 0);
    cfmakeraw(&t);
    cr_assert_eq(tcsetattr(p->slave, TCSANOW, &t), 0);
}

static KIT_UNUSED void kit_pty_write(struct kit_pty *p, const void *buf, size_t len)
{
    const char *b = buf;
    while (len) {
        ssize_t n = write(p->master, b, len);
        if (n < 0 && errno == EINTR)
            continue;
        cr_assert_gt(n, 0, "pty write: %s", strerror(errno));
        b += n;
        len -= (size_t)n;
    }
}

static KIT_UNUSED void kit_pty_close(struct kit_pty *p)
{
    if (p->slave >= 0)
        close(p->slave);
    if (p->master >= 0)
        close(p->master);
    p->slave = p->master = -1;
}

/* ------------------------------------------------------------------ the drive */

struct kit_epoch {
    size_t off, len; /* bytes of this epoch in drive.text (from its RMC to the next) */
    int64_t time_ms; /* its RMC time, moved; 0 if its RMC has none (receiver without a fix) */
    int64_t pace_ms; /* when to send it: time_ms, or the previous epoch's + 1 s */
    int32_t text_lat_e7, text_lon_e7; /* position as written in its RMC, converted here */
};

struct kit_drive {
    char *text;
    size_t len;
    struct kit_epoch *ep;
    size_t n;
};

static int kit_hex(int v)
{
    return "0123456789ABCDEF"[v & 15];
}

/* "ddmm.mmmm" + hemisphere -> degrees x 1e7, rounded half up, in integers (exact). */
static int32_t kit_coord_e7(const char *f, const char *hemi, int deg_digits)
{
    long deg = 0;
    for (int i = 0; i < deg_digits; i++)
        deg = deg * 10 + (f[i] - '0');
    const char *m = f + deg_digits;
    long min_int = 0, frac = 0, scale = 1;
    while (*m && *m != '.')
        min_int = min_int * 10 + (*m++ - '0');
    if (*m == '.')
        for (m++; *m >= '0' && *m <= '9'; m++)
            frac = frac * 10 + (*m - '0'), scale *= 10;
    /* minutes * 1e7 / 60, with minutes = min_int + frac/scale */
    long long num = ((long long)min_int * scale + frac) * 10000000LL;
    long long den = 60LL * scale;
    long long e7 = deg * 10000000LL + (num + den / 2) / den;
    return (int32_t)(*hemi == 'S' || *hemi == 'W' ? -e7 : e7);
}

static int64_t kit_tod_ms(const char *f)
{
    return ((f[0] - '0') * 10 + (f[1] - '0')) * 3600000LL +
           ((f[2] - '0') * 10 + (f[3] - '0')) * 60000LL +
           ((f[4] - '0') * 10 + (f[5] - '0')) * 1000LL;
}

static void kit_fmt_tod(char *out, int64_t tod_ms)
{
    unsigned s = (unsigned)(tod_ms / 1000) % 86400u;
    snprintf(out, 24, "%02u%02u%02u", s / 3600 % 24, s / 60 % 60, s % 60);
}

/* Rewrites one sentence with times moved by delta_ms (RMC time and date, GGA and GLL time)
 * and a fresh checksum; appends it with CR LF to out. Returns the moved RMC time (0 if not an
 * RMC) and the RMC position. */
static int64_t kit_move_sentence(const char *line, int64_t delta_ms, char *out, size_t *olen,
                                 int32_t *lat, int32_t *lon)
{
    char f[32][24];
    int nf = 0;
    const char *star = strchr(line, '*');
    size_t body = star ? (size_t)(star - line) : strlen(line);
    const char *p = line, *end = line + body;
    for (;;) { /* every field, empty trailing ones included */
        const char *c = memchr(p, ',', (size_t)(end - p));
        size_t n = c ? (size_t)(c - p) : (size_t)(end - p);
        cr_assert_lt(n, sizeof f[0]);
        cr_assert_lt(nf, 32);
        memcpy(f[nf], p, n);
        f[nf++][n] = '\0';
        if (!c)
            break;
        p = c + 1;
    }
    int64_t rmc_ms = 0;
    const char *type = f[0] + 3;
    if (!strcmp(type, "RMC") && strlen(f[1]) >= 6 && strlen(f[9]) == 6) {
        int d = (f[9][0] - '0') * 10 + (f[9][1] - '0'), mo = (f[9][2] - '0') * 10 + (f[9][3] - '0'),
            y = 2000 + (f[9][4] - '0') * 10 + (f[9][5] - '0');
        int64_t t = buyt_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400000LL +
                    kit_tod_ms(f[1]) + delta_ms;
        rmc_ms = t;
        kit_fmt_tod(f[1], t % 86400000LL);
        time_t secs = (time_t)(t / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        snprintf(f[9], sizeof f[9], "%02d%02d%02d", tm.tm_mday, tm.tm_mon + 1, tm.tm_year % 100);
        *lat = kit_coord_e7(f[3], f[4], 2);
        *lon = kit_coord_e7(f[5], f[6], 3);
    } else if (!strcmp(type, "RMC") && strlen(f[1]) >= 6) { /* a time but no date */
        kit_fmt_tod(f[1], ((kit_tod_ms(f[1]) + delta_ms) % 86400000LL + 86400000LL) % 86400000LL);
    } else if (!strcmp(type, "GGA") && strlen(f[1]) >= 6) {
        kit_fmt_tod(f[1], ((kit_tod_ms(f[1]) + delta_ms) % 86400000LL + 86400000LL) % 86400000LL);
    } else if (!strcmp(type, "GLL") && nf > 5 && strlen(f[5]) >= 6) {
        kit_fmt_tod(f[5], ((kit_tod_ms(f[5]) + delta_ms) % 86400000LL + 86400000LL) % 86400000LL);
    }
    char s[160];
    size_t n = 0;
    for (int i = 0; i < nf; i++)
        n += (size_t)snprintf(s + n, sizeof s - n, "%s%s", i ? "," : "", f[i]);
    unsigned char cs = 0;
    for (size_t i = 1; i < n; i++)
        cs ^= (unsigned char)s[i];
    n += (size_t)snprintf(s + n, sizeof s - n, "*%c%c\r\n", kit_hex(cs >> 4), kit_hex(cs));
    memcpy(out + *olen, s, n);
    *olen += n;
    return rmc_ms;
}

/* Loads the drive (comment lines stripped), moves it in time so that its last RMC is at
 * end_ms (the contract refuses records over 30 days old, and the agent refuses dates before its
 * floor), and cuts it into epochs at each RMC. `inject` (may be NULL) is written verbatim at the
 * start of epoch inject_at. Skips the test if the shared data is absent. */
static KIT_UNUSED void kit_drive_load(struct kit_drive *d, int64_t end_ms, size_t inject_at,
                                      const char *inject)
{
    char path[512];
    if (!buyt_test_shared_data(KIT_DRIVE, path, sizeof path))
        cr_skip_test("shared test data absent (../shared/data/" KIT_DRIVE "): test skipped");
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char line[256];
    int64_t last_rmc = 0;
    while (fgets(line, sizeof line, f)) { /* pass 1: the last RMC time */
        if (!strncmp(line, "$GPRMC", 6)) {
            int32_t la, lo;
            char tmp[256];
            size_t tl = 0;
            line[strcspn(line, "\r\n")] = '\0';
            last_rmc = kit_move_sentence(line, 0, tmp, &tl, &la, &lo);
        }
    }
    cr_assert_gt(last_rmc, 0);
    int64_t delta = (end_ms / 1000) * 1000 - last_rmc;
    rewind(f);
    size_t cap = 1 << 20;
    d->text = malloc(cap);
    d->ep = calloc(2000, sizeof *d->ep);
    d->len = d->n = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        cr_assert_lt(d->len + 512, cap);
        if (!strncmp(line, "$GPRMC", 6)) {
            if (d->n > 0)
                d->ep[d->n - 1].len = d->len - d->ep[d->n - 1].off;
            cr_assert_lt(d->n, 2000);
            struct kit_epoch *e = &d->ep[d->n++];
            e->off = d->n == 1 ? 0 : d->len; /* lines before the first RMC go with epoch 0 */
            if (inject && d->n - 1 == inject_at) {
                size_t il = strlen(inject);
                memcpy(d->text + d->len, inject, il);
                d->len += il;
            }
            e->time_ms =
                kit_move_sentence(line, delta, d->text, &d->len, &e->text_lat_e7, &e->text_lon_e7);
        } else {
            int32_t la, lo;
            kit_move_sentence(line, delta, d->text, &d->len, &la, &lo);
        }
    }
    fclose(f);
    cr_assert_gt(d->n, 0);
    d->ep[d->n - 1].len = d->len - d->ep[d->n - 1].off;
    char dump[256]; /* the bytes fed, kept with the logs of a failed test */
    snprintf(dump, sizeof dump, "%s/drive.nmea", kit_dir);
    FILE *o = fopen(dump, "wb");
    if (o) {
        fwrite(d->text, 1, d->len, o);
        fclose(o);
    }
    for (size_t i = 0; i < d->n; i++)
        d->ep[i].pace_ms =
            d->ep[i].time_ms ? d->ep[i].time_ms : (i ? d->ep[i - 1].pace_ms + 1000 : 0);
}

/* The epoch whose RMC has this time, or NULL. */
static KIT_UNUSED const struct kit_epoch *kit_epoch_at(const struct kit_drive *d, int64_t t)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->ep[i].time_ms == t)
            return &d->ep[i];
    return NULL;
}

static KIT_UNUSED void kit_drive_free(struct kit_drive *d)
{
    free(d->text);
    free(d->ep);
}

/* ------------------------------------------------------------------ expected reports */

struct kit_fix {
    int64_t time_ms;
    Buyt__V1__Fix fix; /* what the agent must send */
    int reason;
};

#define KIT_MAX_EVENTS 16

struct kit_expect {
    struct kit_fix *fix; /* reported fixes, in order */
    size_t n;
    size_t n_epochs_out; /* fixes the parser emitted (reported or not) */
    bool have_valid;
    Buyt__V1__Fix last_valid;                /* the agent's "last good fix" */
    Buyt__V1__Fix event_pos[KIT_MAX_EVENTS]; /* last good fix at each event */
    bool event_has_pos[KIT_MAX_EVENTS];
    size_t n_events;
    uint64_t nmea_rejected;
    uint32_t last_sats;
    struct buyt_report_config cfg; /* the agent's policy; zero: the defaults */
    struct buyt_report policy;     /* carried across runs unless the agent restarts */
};

struct kit_parse_ctx {
    struct kit_expect *x;
    struct buyt_report *policy;
};

static void kit_on_fix(const struct buyt_nmea_fix *fix, void *arg)
{
    struct kit_parse_ctx *c = arg;
    struct kit_expect *x = c->x;
    Buyt__V1__Fix pf = BUYT__V1__FIX__INIT;
    buyt_nmea_fix_to_proto(fix, &pf);
    x->n_epochs_out++;
    if (fix->fields & BUYT_NMEA_FIELD_SATELLITES)
        x->last_sats = fix->satellites;
    bool valid = fix->mode == BUYT_NMEA_MODE_2D || fix->mode == BUYT_NMEA_MODE_3D;
    if (valid) {
        x->last_valid = pf;
        x->have_valid = true;
    }
    if (!(fix->flags & BUYT_NMEA_FIX_TIME))
        return;
    struct buyt_report_input in = {.time_ms = fix->time_ms,
                                   .valid = valid,
                                   .has_speed = valid && (fix->fields & BUYT_NMEA_FIELD_SPEED),
                                   .speed_cms = fix->speed_cms,
                                   .has_course = valid && (fix->fields & BUYT_NMEA_FIELD_COURSE),
                                   .course_cdeg = fix->course_cdeg};
    enum buyt_report_reason why = buyt_report_fix(c->policy, &in);
    if (why == BUYT_REPORT_NO)
        return;
    x->fix[x->n++] = (struct kit_fix){.time_ms = fix->time_ms, .fix = pf, .reason = why};
}

/* What the agent reports for epochs [from, to), with a card event after each epoch listed in
 * events[] (ascending), under x->cfg. `restart`: the agent (re)started before `from` (fresh
 * policy); else it continues (a serial port reopened: parser flushed, policy kept). Runs the
 * project's NMEA parser (ref = the agent's build floor) over the same bytes, epoch by epoch,
 * ending the epoch at each event as the agent's idle timer does while the test pauses there,
 * and records the last good fix at each event. Appends to *x. */
static KIT_UNUSED void kit_expect_run(struct kit_expect *x, const struct kit_drive *d, size_t from,
                                      size_t to, const size_t *events, size_t n_events,
                                      bool restart)
{
    if (!x->fix)
        x->fix = calloc(d->n + 1, sizeof *x->fix);
    if (restart) {
        if (!x->cfg.moving_interval_ms)
            buyt_report_config_init(&x->cfg);
        buyt_report_init(&x->policy, &x->cfg);
        x->have_valid = false; /* a restarted agent knows no fix yet */
    }
    struct kit_parse_ctx ctx = {.x = x, .policy = &x->policy};
    struct buyt_nmea_config nc = {.ref_ms = 1793491200000LL, .on_fix = kit_on_fix, .arg = &ctx};
    static struct buyt_nmea_parser p;
    cr_assert_eq(buyt_nmea_init(&p, &nc), 0);
    size_t ev = 0;
    for (size_t i = from; i < to; i++) {
        buyt_nmea_feed(&p, d->text + d->ep[i].off, d->ep[i].len);
        while (ev < n_events && events[ev] < i)
            ev++;
        if (ev < n_events && events[ev] == i) {
            buyt_nmea_epoch_end(&p); /* the test pauses here: the agent's idle timer fires */
            cr_assert_lt(x->n_events, KIT_MAX_EVENTS);
            x->event_has_pos[x->n_events] = x->have_valid;
            x->event_pos[x->n_events++] = x->last_valid;
            buyt_report_event(&x->policy);
        }
    }
    buyt_nmea_flush(&p);
    const struct buyt_nmea_stats *st = buyt_nmea_stats_get(&p);
    for (int i = 1; i < BUYT_NMEA_REJECT__COUNT; i++)
        x->nmea_rejected += st->rejected[i];
}

static KIT_UNUSED void kit_expect_free(struct kit_expect *x)
{
    free(x->fix);
}

/* ------------------------------------------------------------------ the agent process */

struct kit_agent {
    char vehicle[33], pass[32];
    char conf[256], log[256], journal[256];
    pid_t pid;
    int slot;
};

/* Writes the config: common test settings + `extra` lines. Creates the device account. */
static KIT_UNUSED void kit_agent_init(struct kit_agent *a, const char *vehicle, int slot,
                                      const char *gps_path, const char *extra)
{
    memset(a, 0, sizeof *a);
    snprintf(a->vehicle, sizeof a->vehicle, "%s", vehicle);
    snprintf(a->pass, sizeof a->pass, "pw-%s", vehicle);
    a->slot = slot;
    snprintf(a->conf, sizeof a->conf, "%s/%s.conf", kit_dir, vehicle);
    snprintf(a->log, sizeof a->log, "%s/%s.log", kit_dir, vehicle);
    snprintf(a->journal, sizeof a->journal, "%s/%s-journal", kit_dir, vehicle);
    buyt_test_mqtt_account(vehicle, a->pass);
    FILE *f = fopen(a->conf, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "agency = " KIT_AGENCY "\nvehicle_id = %s\n"
            "mqtt_url = mqtt://%s:%s@%s:%s\n"
            "mqtt_backoff_min = 100ms\nmqtt_backoff_max = 1s\nmqtt_keepalive = 5s\n"
            "journal_dir = %s\njournal_fsync = interval\njournal_fsync_interval = 100ms\n"
            "gps_device = %s\ngps_idle = 50ms\nhealth_interval = 1h\n"
            "serial_retry_max = 500ms\nlog_level = info\n%s",
            vehicle, vehicle, a->pass, buyt_test_env("BUYT_MQTT_HOST"),
            buyt_test_env("BUYT_MQTT_PORT"), a->journal, gps_path, extra ? extra : "");
    fclose(f);
}

static KIT_UNUSED void kit_agent_start(struct kit_agent *a)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int fd = open(a->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            dup2(fd, STDOUT_FILENO);
        }
        execl(BUYT_BIN_DIR "/buyt-onboard", "buyt-onboard", "--config", a->conf, (char *)NULL);
        _exit(127);
    }
    a->pid = pid;
    kit_pids[a->slot] = pid;
}

/* SIGTERM; returns the exit status (fails the test if it does not exit within 20 s). */
static KIT_UNUSED int kit_agent_stop(struct kit_agent *a)
{
    cr_assert_gt(a->pid, 0);
    kill(a->pid, SIGTERM);
    int st = 0;
    for (int i = 0; i < 2000; i++) {
        pid_t r = waitpid(a->pid, &st, WNOHANG);
        if (r == a->pid) {
            a->pid = kit_pids[a->slot] = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        usleep(10000);
    }
    cr_assert_fail("agent did not exit within 20 s of SIGTERM (log %s)", a->log);
    return -1;
}

static KIT_UNUSED void kit_agent_kill(struct kit_agent *a)
{
    kill(a->pid, SIGKILL);
    waitpid(a->pid, NULL, 0);
    a->pid = kit_pids[a->slot] = 0;
}

/* ------------------------------------------------------------------ the subscriber */

struct kit_rec {
    uint8_t *bytes; /* the record re-packed (deterministic), to compare copies */
    size_t len;
    uint32_t copies;
    uint64_t boot_id;    /* of the first message that carried it */
    size_t first_msg;    /* index in kit_sub.msgs of that message: arrival order */
    Buyt__V1__Record *r; /* first copy, decoded (owned) */
};

struct kit_msg {
    uint64_t first, last, boot_id;
    uint32_t n;
};

struct kit_reply {
    uint64_t id;
    int status;
    char detail[128];
};

struct kit_sub {
    uv_loop_t loop;
    struct buyt_mqtt *m, *pub;
    bool ready, pub_ready;
    char vehicle[33], filter[BUYT_TOPIC_MAX];
    struct kit_rec *recs; /* index = seq */
    uint64_t cap, max_seq;
    struct kit_msg *msgs;
    size_t n_msgs, cap_msgs;
    uint64_t copies_mismatch, unordered, rejects;
    uint64_t foreign_telemetry; /* telemetry of other vehicles (the ACL test) */
    int status_state;           /* last DeviceStatus.state seen (0 none) */
    uint64_t status_boot;
    struct kit_reply replies[32];
    size_t n_replies;
};

static void kit_sub_on_connect(struct buyt_mqtt *m, void *ud)
{
    struct kit_sub *s = ud;
    if (m == s->pub) {
        s->pub_ready = true;
        return;
    }
    cr_assert_eq(buyt_mqtt_subscribe(m, s->filter, 1), 0);
    s->ready = true;
}

static void kit_store_record(struct kit_sub *s, Buyt__V1__Record *r, uint64_t boot_id)
{
    uint64_t seq = r->seq;
    if (seq >= s->cap) {
        uint64_t nc = s->cap ? s->cap : 1024;
        while (nc <= seq)
            nc *= 2;
        s->recs = realloc(s->recs, nc * sizeof *s->recs);
        memset(s->recs + s->cap, 0, (nc - s->cap) * sizeof *s->recs);
        s->cap = nc;
    }
    struct kit_rec *k = &s->recs[seq];
    size_t len = buyt__v1__record__get_packed_size(r);
    uint8_t *b = malloc(len ? len : 1);
    buyt__v1__record__pack(r, b);
    if (k->copies == 0) {
        k->bytes = b;
        k->len = len;
        k->boot_id = boot_id;
        k->first_msg = s->n_msgs - 1;
        k->r = buyt__v1__record__unpack(NULL, len, b);
    } else {
        if (len != k->len || memcmp(b, k->bytes, len))
            s->copies_mismatch++;
        free(b);
    }
    k->copies++;
    if (seq > s->max_seq)
        s->max_seq = seq;
}

static void kit_sub_on_message(struct buyt_mqtt *m, const char *topic, const void *payload,
                               size_t len, int qos, bool retained, void *ud)
{
    (void)m, (void)qos, (void)retained;
    struct kit_sub *s = ud;
    char agency[BUYT_ID_MAX], vehicle[BUYT_ID_MAX];
    enum buyt_topic_kind kind = buyt_topic_parse(topic, agency, vehicle);
    if (strcmp(vehicle, s->vehicle)) {
        s->foreign_telemetry += kind == BUYT_TOPIC_TELEMETRY;
        return;
    }
    if (kind == BUYT_TOPIC_STATUS && len > 0) {
        Buyt__V1__DeviceStatus *st = buyt__v1__device_status__unpack(NULL, len, payload);
        cr_assert_not_null(st);
        s->status_state = (int)st->state;
        s->status_boot = st->boot_id;
        buyt__v1__device_status__free_unpacked(st, NULL);
    } else if (kind == BUYT_TOPIC_REPLY) {
        Buyt__V1__CommandReply *r = buyt__v1__command_reply__unpack(NULL, len, payload);
        cr_assert_not_null(r);
        cr_assert_lt(s->n_replies, 32);
        struct kit_reply *k = &s->replies[s->n_replies++];
        k->id = r->command_id;
        k->status = (int)r->status;
        snprintf(k->detail, sizeof k->detail, "%s", r->detail ? r->detail : "");
        buyt__v1__command_reply__free_unpacked(r, NULL);
    } else if (kind == BUYT_TOPIC_TELEMETRY) {
        Buyt__V1__Telemetry *t;
        enum buyt_reject why = buyt_telemetry_decode(payload, len, &t);
        cr_assert_eq(why, BUYT_REJECT_NONE, "telemetry refused: %s", buyt_reject_name(why));
        cr_assert_str_eq(t->vehicle_id, s->vehicle);
        if (s->n_msgs == s->cap_msgs) {
            s->cap_msgs = s->cap_msgs ? 2 * s->cap_msgs : 256;
            s->msgs = realloc(s->msgs, s->cap_msgs * sizeof *s->msgs);
        }
        s->msgs[s->n_msgs++] = (struct kit_msg){.first = t->records[0]->seq,
                                                .last = t->records[t->n_records - 1]->seq,
                                                .boot_id = t->boot_id,
                                                .n = (uint32_t)t->n_records};
        int64_t now = buyt_wall_ms();
        for (size_t i = 0; i < t->n_records; i++) {
            if (buyt_contract_check_record(t->records[i], now) != BUYT_REJECT_NONE)
                s->rejects++;
            if (i && t->records[i]->seq != t->records[i - 1]->seq + 1)
                s->unordered++; /* a batch is one run of consecutive seqs */
            kit_store_record(s, t->records[i], t->boot_id);
        }
        buyt_telemetry_free(t);
    }
}

static KIT_UNUSED void kit_sub_start(struct kit_sub *s, const char *vehicle)
{
    memset(s, 0, sizeof *s);
    cr_assert_eq(uv_loop_init(&s->loop), 0);
    snprintf(s->vehicle, sizeof s->vehicle, "%s", vehicle);
    snprintf(s->filter, sizeof s->filter, "buyt/v1/" KIT_AGENCY "/vehicle/+/#");
    char id[64];
    snprintf(id, sizeof id, "it-sub-%s", vehicle);
    struct buyt_mqtt_callbacks cb = {.on_connect = kit_sub_on_connect,
                                     .on_message = kit_sub_on_message};
    struct buyt_mqtt_opts o = {.url = buyt_test_env("BUYT_MQTT_TOOL_URL"),
                               .client_id = id,
                               .backoff_min_ms = 100,
                               .backoff_max_ms = 500};
    cr_assert_eq(buyt_mqtt_new(&s->loop, &o, &cb, s, &s->m), 0);
    snprintf(id, sizeof id, "it-ops-%s", vehicle);
    o.client_id = id;
    o.clean_session = true;
    cr_assert_eq(buyt_mqtt_new(&s->loop, &o, &cb, s, &s->pub), 0);
    buyt_mqtt_start(s->m);
    buyt_mqtt_start(s->pub);
}

static bool kit_sub_is_ready(void *arg)
{
    struct kit_sub *s = arg;
    return s->ready && s->pub_ready && buyt_mqtt_connected(s->m);
}

static KIT_UNUSED void kit_sub_wait_ready(struct kit_sub *s)
{
    cr_assert(buyt_test_run_until(&s->loop, kit_sub_is_ready, s, 15000), "tool clients not up");
    buyt_test_run_until(&s->loop, kit_sub_is_ready, s, 300); /* let the SUBACK land */
}

static bool kit_never(void *arg)
{
    (void)arg;
    return false;
}

/* Runs the loop for ms milliseconds. */
static KIT_UNUSED void kit_sleep(struct kit_sub *s, int ms)
{
    buyt_test_run_until(&s->loop, kit_never, NULL, ms);
}

struct kit_wait_seqs {
    struct kit_sub *s;
    uint64_t n;
};

static bool kit_have_all(void *arg)
{
    struct kit_wait_seqs *w = arg;
    if (w->s->max_seq < w->n)
        return false;
    for (uint64_t q = 1; q <= w->n; q++)
        if (!w->s->recs[q].copies)
            return false;
    return true;
}

/* Waits until records 1..n have all arrived. */
static KIT_UNUSED bool kit_sub_wait_seqs(struct kit_sub *s, uint64_t n, int timeout_ms)
{
    struct kit_wait_seqs w = {s, n};
    return buyt_test_run_until(&s->loop, kit_have_all, &w, timeout_ms);
}

static bool kit_online(void *arg)
{
    return ((struct kit_sub *)arg)->status_state == BUYT__V1__DEVICE_STATE__DEVICE_STATE_ONLINE;
}

static KIT_UNUSED void kit_sub_wait_online(struct kit_sub *s)
{
    cr_assert(buyt_test_run_until(&s->loop, kit_online, s, 15000), "agent never came online");
}

/* Publishes a message with the tool account (commands, acks). */
static KIT_UNUSED void kit_publish(struct kit_sub *s, enum buyt_topic_kind kind, const void *buf,
                                   size_t len, bool retain)
{
    char topic[BUYT_TOPIC_MAX];
    cr_assert_eq(buyt_topic_format(topic, sizeof topic, kind, KIT_AGENCY, s->vehicle), 0);
    cr_assert_eq(buyt_mqtt_publish(s->pub, topic, buf, len, 1, retain, NULL), 0);
}

struct kit_wait_reply {
    struct kit_sub *s;
    uint64_t id;
};

static bool kit_has_reply(void *arg)
{
    struct kit_wait_reply *w = arg;
    for (size_t i = 0; i < w->s->n_replies; i++)
        if (w->s->replies[i].id == w->id)
            return true;
    return false;
}

/* Sends a raw Command payload and waits for the reply to `id`. */
static KIT_UNUSED const struct kit_reply *kit_command_raw(struct kit_sub *s, uint64_t id,
                                                          const void *buf, size_t len)
{
    kit_publish(s, BUYT_TOPIC_CMD, buf, len, false);
    struct kit_wait_reply w = {s, id};
    cr_assert(buyt_test_run_until(&s->loop, kit_has_reply, &w, 10000), "no reply to command %llu",
              (unsigned long long)id);
    for (size_t i = s->n_replies; i-- > 0;)
        if (s->replies[i].id == id)
            return &s->replies[i];
    return NULL;
}

static KIT_UNUSED const struct kit_reply *kit_command(struct kit_sub *s, const Buyt__V1__Command *c)
{
    uint8_t *buf;
    size_t len;
    cr_assert_eq(buyt_contract_pack(&c->base, &buf, &len), 0);
    const struct kit_reply *r = kit_command_raw(s, c->command_id, buf, len);
    free(buf);
    return r;
}

/* health_request; returns the Health record it produced (the newest Health after the reply). */
static KIT_UNUSED const Buyt__V1__Record *kit_health(struct kit_sub *s, uint64_t id)
{
    Buyt__V1__HealthRequest hr = BUYT__V1__HEALTH_REQUEST__INIT;
    Buyt__V1__Command c = BUYT__V1__COMMAND__INIT;
    c.command_id = id;
    c.body_case = BUYT__V1__COMMAND__BODY_HEALTH_REQUEST;
    c.health_request = &hr;
    uint64_t before = s->max_seq;
    const struct kit_reply *r = kit_command(s, &c);
    cr_assert_eq(r->status, BUYT__V1__COMMAND_STATUS__COMMAND_STATUS_OK);
    /* The Health was journaled before the reply was sent: it is in a message before it, or
     * (if the journal sync was pending) within the next sync interval. */
    for (int i = 0; i < 200; i++) {
        for (uint64_t q = s->max_seq; q > before; q--)
            if (s->recs[q].copies && s->recs[q].r->body_case == BUYT__V1__RECORD__BODY_HEALTH)
                return s->recs[q].r;
        kit_sleep(s, 20);
    }
    cr_assert_fail("no Health record after health_request %llu", (unsigned long long)id);
    return NULL;
}

static KIT_UNUSED void kit_publish_ack(struct kit_sub *s, uint64_t seq)
{
    Buyt__V1__Ack ack = BUYT__V1__ACK__INIT;
    ack.stored_through_seq = seq;
    ack.time_ms = (uint64_t)buyt_wall_ms();
    uint8_t *buf;
    size_t len;
    cr_assert_eq(buyt_contract_pack(&ack.base, &buf, &len), 0);
    kit_publish(s, BUYT_TOPIC_ACK, buf, len, true);
    free(buf);
}

static KIT_UNUSED void kit_sub_close(struct kit_sub *s)
{
    buyt_mqtt_close(s->m, NULL, NULL);
    buyt_mqtt_close(s->pub, NULL, NULL);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&s->loop), 0);
    for (uint64_t q = 0; q < s->cap; q++) {
        free(s->recs[q].bytes);
        if (s->recs[q].r)
            buyt__v1__record__free_unpacked(s->recs[q].r, NULL);
    }
    free(s->recs);
    free(s->msgs);
}

/* ------------------------------------------------------------------ feeding the drive */

struct kit_feed {
    struct kit_sub *s;
    const struct kit_drive *d;
    struct kit_pty *pty;
    uv_timer_t timer;
    size_t next, end;
    bool done;
};

static void kit_feed_tick(uv_timer_t *t)
{
    struct kit_feed *f = t->data;
    const struct kit_epoch *e = &f->d->ep[f->next];
    kit_pty_write(f->pty, f->d->text + e->off, e->len);
    f->next++;
    if (f->next >= f->end) {
        f->done = true;
        return;
    }
    int64_t gap = f->d->ep[f->next].pace_ms - e->pace_ms;
    uv_timer_start(&f->timer, kit_feed_tick, (uint64_t)(gap > 0 ? gap / KIT_SPEEDUP : 0), 0);
}

static bool kit_feed_done(void *arg)
{
    return ((struct kit_feed *)arg)->done;
}

/* Writes epochs [from, to) through the pty at KIT_SPEEDUP x real time, running the loop. */
static KIT_UNUSED void kit_feed(struct kit_sub *s, const struct kit_drive *d, struct kit_pty *pty,
                                size_t from, size_t to)
{
    if (from >= to)
        return;
    struct kit_feed f = {.s = s, .d = d, .pty = pty, .next = from, .end = to};
    uv_timer_init(&s->loop, &f.timer);
    f.timer.data = &f;
    uv_timer_start(&f.timer, kit_feed_tick, 0, 0);
    bool ok = buyt_test_run_until(&s->loop, kit_feed_done, &f, 600000);
    uv_close((uv_handle_t *)&f.timer, NULL);
    uv_run(&s->loop, UV_RUN_NOWAIT);
    cr_assert(ok, "feed did not finish");
}

/* ------------------------------------------------------------------ checks */

/* Every seq in 1..n arrived, nothing beyond n, and every copy of a seq is identical. */
static KIT_UNUSED void kit_assert_gap_free(const struct kit_sub *s, uint64_t n)
{
    cr_assert_eq(s->max_seq, n, "highest seq %llu, expected %llu", (unsigned long long)s->max_seq,
                 (unsigned long long)n);
    for (uint64_t q = 1; q <= n; q++)
        cr_assert_gt(s->recs[q].copies, 0, "seq %llu never arrived", (unsigned long long)q);
    cr_assert_eq(s->copies_mismatch, 0, "a seq was reused for different content");
    cr_assert_eq(s->unordered, 0, "a batch was not one run of consecutive seqs");
    cr_assert_eq(s->rejects, 0, "records refused by the contract check");
}

static KIT_UNUSED bool kit_fix_equal(const Buyt__V1__Fix *a, const Buyt__V1__Fix *b)
{
    return a->lat_e7 == b->lat_e7 && a->lon_e7 == b->lon_e7 && a->speed_cms == b->speed_cms &&
           a->course_cdeg == b->course_cdeg && a->alt_cm == b->alt_cm &&
           a->hdop_x100 == b->hdop_x100 && a->satellites == b->satellites &&
           a->quality == b->quality && a->fields == b->fields;
}

/* The Fix records with seq in [lo, hi], in seq order, are exactly x->fix[from..from+n): same
 * GNSS time, same values, and the position equal to the RMC text's within 1e-7 degree. Returns
 * the number of Fix records found in the range. */
static KIT_UNUSED size_t kit_assert_fixes(const struct kit_sub *s, uint64_t lo, uint64_t hi,
                                          const struct kit_expect *x, size_t from, size_t n,
                                          const struct kit_drive *d)
{
    size_t k = 0;
    for (uint64_t q = lo; q <= hi; q++) {
        const Buyt__V1__Record *r = s->recs[q].r;
        if (!r || r->body_case != BUYT__V1__RECORD__BODY_FIX)
            continue;
        cr_assert_lt(k, n, "more fixes than the policy reports (seq %llu)", (unsigned long long)q);
        const struct kit_fix *e = &x->fix[from + k];
        cr_assert_eq((int64_t)r->time_ms, e->time_ms, "fix %zu (seq %llu): time %llu, want %lld", k,
                     (unsigned long long)q, (unsigned long long)r->time_ms, (long long)e->time_ms);
        cr_assert(kit_fix_equal(r->fix, &e->fix), "fix %zu (seq %llu) differs from the parser's", k,
                  (unsigned long long)q);
        if (e->fix.quality == BUYT__V1__FIX_QUALITY__FIX_QUALITY_NONE) {
            k++; /* fix lost: no position to compare with the text */
            continue;
        }
        const struct kit_epoch *ep = kit_epoch_at(d, e->time_ms);
        cr_assert_not_null(ep, "no RMC at the fix's time %lld (fix %zu, reason %d, quality %d)",
                           (long long)e->time_ms, from + k, e->reason, (int)e->fix.quality);
        cr_assert(labs((long)r->fix->lat_e7 - ep->text_lat_e7) <= 1 &&
                      labs((long)r->fix->lon_e7 - ep->text_lon_e7) <= 1,
                  "fix %zu (seq %llu, time %lld): %d,%d but the RMC says %d,%d", k,
                  (unsigned long long)q, (long long)e->time_ms, r->fix->lat_e7, r->fix->lon_e7,
                  ep->text_lat_e7, ep->text_lon_e7);
        k++;
    }
    cr_assert_eq(k, n, "%zu fixes arrived, the policy reports %zu", k, n);
    return k;
}

static KIT_UNUSED size_t kit_count_body(const struct kit_sub *s, int body)
{
    size_t n = 0;
    for (uint64_t q = 1; q <= s->max_seq; q++)
        n += s->recs[q].r && (int)s->recs[q].r->body_case == body;
    return n;
}

#endif
