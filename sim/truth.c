/* Truth CSV writer and reader; see truth.h. */
#include "truth.h"

#include "clock.h"
#include "error.h"

#include <csv.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[BUYT_TRUTH__COUNT] = {
    "trip", "stop", "skip", "detour", "deadzone", "gnss_outage", "gnss_degraded",
};

static const char *const header[] = {
    "kind",     "vehicle_id", "service_date",    "trip_id",       "route_id",
    "block_id", "stop_sequence", "stop_id",      "start",         "end",
    "scheduled_start", "scheduled_end", "boardings", "alightings",
};
#define N_COLS (int)(sizeof header / sizeof header[0])

const char *buyt_truth_kind_name(enum buyt_truth_kind k)
{
    return (unsigned)k < BUYT_TRUTH__COUNT ? names[k] : "invalid";
}

int buyt_truth_kind_parse(const char *name)
{
    for (int i = 0; i < BUYT_TRUTH__COUNT; i++)
        if (!strcmp(name, names[i]))
            return i;
    return -1;
}

void buyt_truth_write_header(FILE *f)
{
    for (int i = 0; i < N_COLS; i++) {
        if (i)
            fputc(',', f);
        fputs(header[i], f);
    }
    fputc('\n', f);
}

static void text(FILE *f, const char *s, bool comma)
{
    if (s && *s)
        csv_fwrite(f, s, strlen(s));
    if (comma)
        fputc(',', f);
}

static void time_field(FILE *f, int64_t ms, bool comma)
{
    if (ms != BUYT_TRUTH_NO_TIME) {
        char buf[40];
        fputs(buyt_iso8601_ms(ms, buf, sizeof buf), f);
    }
    if (comma)
        fputc(',', f);
}

static void int_field(FILE *f, int v, bool comma)
{
    if (v >= 0)
        fprintf(f, "%d", v);
    if (comma)
        fputc(',', f);
}

void buyt_truth_write(FILE *f, const struct buyt_truth_row *r)
{
    fputs(buyt_truth_kind_name(r->kind), f);
    fputc(',', f);
    text(f, r->vehicle_id, true);
    text(f, r->service_date, true);
    text(f, r->trip_id, true);
    text(f, r->route_id, true);
    text(f, r->block_id, true);
    int_field(f, r->stop_sequence, true);
    text(f, r->stop_id, true);
    time_field(f, r->start_ms, true);
    time_field(f, r->end_ms, true);
    time_field(f, r->sched_start_ms, true);
    time_field(f, r->sched_end_ms, true);
    int_field(f, r->boardings, true);
    int_field(f, r->alightings, false);
    fputc('\n', f);
}

int buyt_truth_parse_time(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec, ms;
    char z;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &sec, &ms, &z) != 8 ||
        z != 'Z')
        return BUYT_EINVAL;
    *out = ((buyt_days_from_civil(y, (unsigned)mo, (unsigned)d) * 24 + h) * 60 + mi) * 60000LL +
           sec * 1000LL + ms;
    return 0;
}

struct reader {
    void (*cb)(void *, const struct buyt_truth_rec *);
    void *ud;
    int col;
    long row;
    struct buyt_truth_rec rec;
    bool bad;
    char why[160];
};

static void fld(void *s, size_t len, void *data)
{
    struct reader *r = data;
    const char *v = s ? s : "";
    (void)len;
    if (r->row == 0) {
        if (r->col >= N_COLS || strcmp(v, header[r->col]) != 0) {
            r->bad = true;
            snprintf(r->why, sizeof r->why, "header column %d is not %s", r->col + 1,
                     r->col < N_COLS ? header[r->col] : "(none)");
        }
        r->col++;
        return;
    }
    struct buyt_truth_rec *x = &r->rec;
    int64_t *t = NULL;
    switch (r->col) {
    case 0: x->kind = buyt_truth_kind_parse(v); break;
    case 1: snprintf(x->vehicle_id, sizeof x->vehicle_id, "%s", v); break;
    case 2: snprintf(x->service_date, sizeof x->service_date, "%s", v); break;
    case 3: snprintf(x->trip_id, sizeof x->trip_id, "%s", v); break;
    case 4: snprintf(x->route_id, sizeof x->route_id, "%s", v); break;
    case 5: snprintf(x->block_id, sizeof x->block_id, "%s", v); break;
    case 6: x->stop_sequence = *v ? atoi(v) : -1; break;
    case 7: snprintf(x->stop_id, sizeof x->stop_id, "%s", v); break;
    case 8: t = &x->start_ms; break;
    case 9: t = &x->end_ms; break;
    case 10: t = &x->sched_start_ms; break;
    case 11: t = &x->sched_end_ms; break;
    case 12: x->boardings = *v ? atoi(v) : -1; break;
    case 13: x->alightings = *v ? atoi(v) : -1; break;
    default: break;
    }
    if (t) {
        *t = BUYT_TRUTH_NO_TIME;
        if (*v && buyt_truth_parse_time(v, t)) {
            r->bad = true;
            snprintf(r->why, sizeof r->why, "line %ld: bad time \"%.40s\"", r->row + 1, v);
        }
    }
    r->col++;
}

static void endrow(int c, void *data)
{
    (void)c;
    struct reader *r = data;
    if (r->row > 0 && !r->bad) {
        if (r->col != N_COLS || r->rec.kind < 0) {
            r->bad = true;
            snprintf(r->why, sizeof r->why, "line %ld: %d fields or unknown kind", r->row + 1,
                     r->col);
        } else {
            r->cb(r->ud, &r->rec);
        }
    }
    r->row++;
    r->col = 0;
    memset(&r->rec, 0, sizeof r->rec);
}

int buyt_truth_read(const char *path, void (*cb)(void *ud, const struct buyt_truth_rec *r),
                    void *ud, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open", path);
        return BUYT_EIO;
    }
    struct csv_parser p;
    if (csv_init(&p, CSV_APPEND_NULL) != 0) {
        fclose(f);
        return BUYT_ENOMEM;
    }
    struct reader r = {.cb = cb, .ud = ud};
    char buf[65536];
    size_t n;
    while (!r.bad && (n = fread(buf, 1, sizeof buf, f)) > 0)
        if (csv_parse(&p, buf, n, fld, endrow, &r) != n) {
            r.bad = true;
            snprintf(r.why, sizeof r.why, "%s", csv_strerror(csv_error(&p)));
        }
    if (!r.bad)
        csv_fini(&p, fld, endrow, &r);
    csv_free(&p);
    fclose(f);
    if (r.bad) {
        snprintf(err, errlen, "%s: %s", path, r.why);
        return BUYT_EINVAL;
    }
    return 0;
}
