/* buyt-nmea-decode: NMEA 0183 bytes in, one JSON line per merged fix out, with gpsd's TPV field
 * names and units so the output can be compared with gpsd's; one line per rejected sentence.
 * A diagnostic for receivers and logs (docs/NMEA.md). */
#include "nmea.h"

#include "clock.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: buyt-nmea-decode [--ref-time ISO8601] [--accept-no-checksum] [FILE|-]\n"
    "Reads NMEA 0183 from FILE (or standard input) and prints one JSON object per line:\n"
    "  {\"class\":\"TPV\",\"mode\":M,\"time\":...,\"lat\":...,\"lon\":...,\"altMSL\":m,\n"
    "   \"speed\":m/s,\"track\":deg,\"hdop\":...,\"uSat\":n}   for each receiver epoch\n"
    "  (unknown values are left out; time only once a date is known), and\n"
    "  {\"reject\":\"REASON\",\"line\":N}   for each rejected sentence (N: 1-based line).\n"
    "Lines starting with '#' (comments in gpsd's logs) are skipped. A summary goes to stderr.\n"
    "  --ref-time T          earliest plausible time (e.g. 2026-01-01 or 2026-01-01T08:00:00Z):\n"
    "                        dates 1024 weeks before it are GPS week rollovers and corrected;\n"
    "                        without it only dates outside 2000..2099 are refused\n"
    "  --accept-no-checksum  parse sentences without *hh (gpsd's policy; default: reject)\n";

/* Fixed-width decimal digits at s (exactly n), or -1. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* YYYY-MM-DD[THH:MM[:SS[.fff]]][Z] (UTC) -> Unix ms. */
static int parse_iso8601(const char *s, int64_t *ms)
{
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] == 'Z')
        n--;
    int y = digits(s, 4), mo, d, h = 0, mi = 0, sec = 0, frac = 0;
    if (n < 10 || y < 0 || s[4] != '-' || s[7] != '-')
        return -1;
    mo = digits(s + 5, 2);
    d = digits(s + 8, 2);
    if (mo < 1 || mo > 12 || d < 1 || d > 31)
        return -1;
    if (n > 10) {
        if (n < 16 || (s[10] != 'T' && s[10] != ' ') || s[13] != ':')
            return -1;
        h = digits(s + 11, 2);
        mi = digits(s + 14, 2);
        if (n > 16) {
            if (n < 19 || s[16] != ':' || (sec = digits(s + 17, 2)) < 0)
                return -1;
            if (n > 19) {
                if (s[19] != '.' || n > 23 || (frac = digits(s + 20, (int)n - 20)) < 0)
                    return -1;
                for (size_t i = n - 20; i < 3; i++)
                    frac *= 10;
            }
        }
        if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec > 60)
            return -1;
    }
    *ms = ((buyt_days_from_civil(y, (unsigned)mo, (unsigned)d) * 24 + h) * 60 + mi) * 60000LL +
          sec * 1000LL + frac;
    return 0;
}

static void print_json(json_t *o)
{
    json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(10));
    putchar('\n');
    json_decref(o);
}

static void on_fix(const struct buyt_nmea_fix *f, void *arg)
{
    (void)arg;
    json_t *o = json_object();
    json_object_set_new(o, "class", json_string("TPV"));
    json_object_set_new(o, "mode", json_integer(f->mode));
    if (f->flags & BUYT_NMEA_FIX_TIME) {
        char t[32];
        json_object_set_new(o, "time", json_string(buyt_iso8601_ms(f->time_ms, t, sizeof t)));
    }
    if (f->mode != BUYT_NMEA_MODE_NO_FIX) {
        json_object_set_new(o, "lat", json_real(f->lat_e7 / 1e7));
        json_object_set_new(o, "lon", json_real(f->lon_e7 / 1e7));
        if (f->fields & BUYT_NMEA_FIELD_ALTITUDE)
            json_object_set_new(o, "altMSL", json_real(f->alt_cm / 100.0));
        if (f->fields & BUYT_NMEA_FIELD_SPEED)
            json_object_set_new(o, "speed", json_real(f->speed_cms / 100.0));
        if (f->fields & BUYT_NMEA_FIELD_COURSE)
            json_object_set_new(o, "track", json_real(f->course_cdeg / 100.0));
        if (f->fields & BUYT_NMEA_FIELD_HDOP) /* gpsd puts hdop and uSat in SKY reports */
            json_object_set_new(o, "hdop", json_real(f->hdop_x100 / 100.0));
    }
    if (f->fields & BUYT_NMEA_FIELD_SATELLITES)
        json_object_set_new(o, "uSat", json_integer(f->satellites));
    print_json(o);
}

static void on_event(const struct buyt_nmea_event *ev, void *arg)
{
    (void)arg;
    if (ev->reject == BUYT_NMEA_OK)
        return;
    json_t *o = json_object();
    json_object_set_new(o, "reject", json_string(buyt_nmea_reject_name(ev->reject)));
    json_object_set_new(o, "line", json_integer((json_int_t)ev->line));
    print_json(o);
}

static void print_summary(const struct buyt_nmea_stats *st)
{
    fprintf(stderr, "fixes=%llu accepted=%llu ignored=%llu stitched=%llu rollovers=%llu",
            (unsigned long long)st->fixes, (unsigned long long)st->accepted,
            (unsigned long long)st->ignored, (unsigned long long)st->stitched,
            (unsigned long long)st->rollovers);
    for (int r = 1; r < BUYT_NMEA_REJECT__COUNT; r++)
        if (st->rejected[r])
            fprintf(stderr, " %s=%llu", buyt_nmea_reject_name((enum buyt_nmea_reject)r),
                    (unsigned long long)st->rejected[r]);
    fputc('\n', stderr);
}

int main(int argc, char **argv)
{
    struct buyt_nmea_config cfg = {
        .options = BUYT_NMEA_OPT_HASH_COMMENTS, .on_fix = on_fix, .on_event = on_event};
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(a, "--ref-time") == 0) {
            if (i + 1 >= argc || parse_iso8601(argv[i + 1], &cfg.ref_ms) != 0) {
                fprintf(stderr, "buyt-nmea-decode: --ref-time needs a date like 2026-01-01 or "
                                "2026-01-01T08:00:00Z\n");
                return 2;
            }
            i++;
        } else if (strcmp(a, "--accept-no-checksum") == 0) {
            cfg.options |= BUYT_NMEA_OPT_ACCEPT_NO_CHECKSUM;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "buyt-nmea-decode: unknown option %s (see --help)\n", a);
            return 2;
        } else if (path) {
            fprintf(stderr, "buyt-nmea-decode: one input only (got %s and %s)\n", path, a);
            return 2;
        } else {
            path = a;
        }
    }
    FILE *in = stdin;
    if (path && strcmp(path, "-") != 0 && !(in = fopen(path, "rb"))) {
        fprintf(stderr, "buyt-nmea-decode: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    struct buyt_nmea_parser p;
    if (buyt_nmea_init(&p, &cfg) != 0) {
        fprintf(stderr, "buyt-nmea-decode: parser init failed\n");
        return 1;
    }
    static char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        buyt_nmea_feed(&p, buf, n);
    if (ferror(in)) {
        fprintf(stderr, "buyt-nmea-decode: cannot read %s: %s\n", path ? path : "stdin",
                strerror(errno));
        if (in != stdin)
            fclose(in);
        return 1;
    }
    buyt_nmea_flush(&p);
    if (in != stdin)
        fclose(in);
    fflush(stdout);
    print_summary(buyt_nmea_stats_get(&p));
    return 0;
}
