/* buyt-eval: how accurate are arrival predictions? Replays recorded fixes through the engine's
 * matching, stop-event and prediction code offline and prints accuracy by horizon for four
 * predictors side by side (ingest/eval.h).
 *
 *   buyt-eval --db CONNINFO --fixes FILE.csv [--json] [--sample-s S] [--horizon-s S]
 *             [--early-z Z]
 *   buyt-eval --db CONNINFO --from TIME --to TIME [--agency CODE] [--json] ...
 *
 * The network comes from PostgreSQL (ingest/netload.h): the service days around the first fix,
 * reloaded when the replay runs past them. With --fixes, a CSV file whose header names at
 * least vehicle_id, timestamp (epoch seconds or ISO-8601; no zone means UTC), lat, lon
 * (degrees) and optionally speed (m/s), bearing (degrees true), trip_id, route_id, run_id,
 * start_date (YYYYMMDD). Rows may come in any order (sorted by time here: the whole file is
 * held in memory, ~80 bytes a fix). With --from/--to, the fixes stored in the `fixes` table in
 * [FROM, TO), with the drivers' sign-ins from `driver_events`, streamed in time order.
 *
 * CSV parsing is libcsv's (Debian libcsv-dev). */
#include "clock.h"
#include "error.h"
#include "eval.h"
#include "netload.h"

#include <csv.h>
#include <getopt.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RELOAD_AFTER_MS (20 * 3600 * 1000LL) /* the network holds yesterday .. tomorrow */

static void usage(FILE *f)
{
    fprintf(f, "usage: buyt-eval --db CONNINFO (--fixes FILE.csv | --from TIME --to TIME"
               " [--agency CODE])\n"
               "                 [--json] [--sample-s S] [--horizon-s S] [--early-z Z]\n"
               "  TIME: epoch seconds or ISO-8601 (2024-05-01T08:00:00+07:00; no zone = UTC)\n");
}

/* ---- time -------------------------------------------------------------------------------- */

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Epoch seconds (fractions allowed) or ISO-8601 date-time: YYYY-MM-DD[T ]HH:MM[:SS[.fff]]
 * [Z|+HH:MM|+HHMM|+HH]. Returns false for anything else. */
static bool parse_time(const char *s, int64_t *ms)
{
    while (*s == ' ')
        s++;
    char *end;
    double sec = strtod(s, &end);
    if (end != s && *end == '\0' && strchr(s, '-') == NULL && isfinite(sec)) {
        *ms = llround(sec * 1000.0);
        return true;
    }
    int y, mo, d, h, mi, se = 0;
    if (strlen(s) < 16 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != ' ') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi))
        return false;
    const char *p = s + 16;
    double frac = 0;
    if (*p == ':') {
        if (!digits(p + 1, 2, &se))
            return false;
        p += 3;
        if (*p == '.' || *p == ',') {
            double scale = 0.1;
            for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
                frac += (*p - '0') * scale;
        }
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return false;
    int off_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om = 0, sign = *p == '-' ? -1 : 1;
        if (!digits(p + 1, 2, &oh))
            return false;
        p += 3;
        if (*p == ':')
            p++;
        if (*p && !digits(p, 2, &om))
            return false;
        if (*p)
            p += 2;
        off_min = sign * (oh * 60 + om);
    }
    if (*p)
        return false;
    int64_t days = buyt_days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t t = ((days * 24 + h) * 60 + mi) * 60 + se - (int64_t)off_min * 60;
    *ms = t * 1000 + llround(frac * 1000);
    return true;
}

static bool parse_num(const char *s, double *out)
{
    char *end;
    while (*s == ' ')
        s++;
    if (!*s)
        return false;
    *out = strtod(s, &end);
    while (*end == ' ')
        end++;
    return *end == '\0' && isfinite(*out);
}

/* ---- interned strings -------------------------------------------------------------------- */

struct strs {
    char **s; /* s[0] = "" */
    uint32_t n, cap;
    uint32_t *hb, hmask;
};

static uint32_t str_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Index of s in the table (0 for ""), added if new; UINT32_MAX when out of memory. */
static uint32_t intern(struct strs *t, const char *s)
{
    if (!*s)
        return 0;
    if (!t->hb || t->n * 2 >= t->hmask) {
        uint32_t nb = t->hb ? (t->hmask + 1) * 2 : 1024;
        uint32_t *hb = malloc(nb * sizeof *hb);
        if (!hb)
            return UINT32_MAX;
        memset(hb, 0xff, nb * sizeof *hb);
        for (uint32_t i = 1; i < t->n; i++) {
            uint32_t h = str_hash(t->s[i]) & (nb - 1);
            while (hb[h] != UINT32_MAX)
                h = (h + 1) & (nb - 1);
            hb[h] = i;
        }
        free(t->hb);
        t->hb = hb;
        t->hmask = nb - 1;
    }
    uint32_t h = str_hash(s) & t->hmask;
    for (; t->hb[h] != UINT32_MAX; h = (h + 1) & t->hmask)
        if (!strcmp(t->s[t->hb[h]], s))
            return t->hb[h];
    if (!t->n) {
        t->s = malloc(64 * sizeof *t->s);
        if (!t->s)
            return UINT32_MAX;
        t->cap = 64;
        t->s[t->n++] = (char *)"";
    }
    if (t->n == t->cap) {
        char **ns = realloc(t->s, t->cap * 2 * sizeof *ns);
        if (!ns)
            return UINT32_MAX;
        t->s = ns;
        t->cap *= 2;
    }
    char *c = strdup(s);
    if (!c)
        return UINT32_MAX;
    t->s[t->n] = c;
    t->hb[h] = t->n;
    return t->n++;
}

static void strs_free(struct strs *t)
{
    for (uint32_t i = 1; i < t->n; i++)
        free(t->s[i]);
    free(t->s);
    free(t->hb);
}

/* ---- the CSV file ------------------------------------------------------------------------ */

enum col {
    C_VEHICLE,
    C_TIME,
    C_LAT,
    C_LON,
    C_SPEED,
    C_BEARING,
    C_TRIP,
    C_ROUTE,
    C_RUN,
    C_DATE,
    NCOL
};
static const char *const col_names[NCOL] = {"vehicle_id", "timestamp", "lat",     "lon",
                                            "speed",      "bearing",   "trip_id", "route_id",
                                            "run_id",     "start_date"};

struct fixrow {
    int64_t ms;
    double lat, lon, speed, course;
    uint32_t vehicle, trip, route, run, date, line;
};

struct csvread {
    struct strs str;
    struct fixrow *rows;
    size_t n, cap;
    int col[NCOL];   /* field index of each column, -1 absent */
    char *field[64]; /* the current record's fields (up to 64 used) */
    size_t nfield;
    size_t line;
    bool header_done, oom;
    size_t bad;
};

static void on_field(void *s, size_t len, void *data)
{
    struct csvread *r = data;
    if (r->nfield < 64) {
        char *f = malloc(len + 1);
        if (!f) {
            r->oom = true;
            return;
        }
        memcpy(f, s, len);
        f[len] = '\0';
        r->field[r->nfield] = f;
    }
    r->nfield++;
}

static const char *fld(const struct csvread *r, enum col c)
{
    int i = r->col[c];
    return i >= 0 && (size_t)i < r->nfield && (size_t)i < 64 ? r->field[i] : "";
}

static void bad_row(struct csvread *r, const char *why)
{
    if (r->bad++ < 5)
        fprintf(stderr, "buyt-eval: line %zu: %s (row skipped)\n", r->line, why);
}

static void on_row(int term, void *data)
{
    (void)term;
    struct csvread *r = data;
    r->line++;
    if (!r->header_done) {
        for (int c = 0; c < NCOL; c++)
            r->col[c] = -1;
        for (size_t i = 0; i < r->nfield && i < 64; i++) {
            char *name = r->field[i];
            if (i == 0 && !strncmp(name, "\xEF\xBB\xBF", 3)) /* a UTF-8 byte order mark */
                memmove(name, name + 3, strlen(name + 3) + 1);
            for (int c = 0; c < NCOL; c++)
                if (!strcasecmp(name, col_names[c]))
                    r->col[c] = (int)i;
        }
        r->header_done = true;
    } else if (r->nfield > 1 || (r->nfield == 1 && r->field[0][0])) {
        struct fixrow f = {.line = (uint32_t)r->line, .speed = NAN, .course = NAN};
        double v;
        if (!*fld(r, C_VEHICLE))
            bad_row(r, "empty vehicle_id");
        else if (!parse_time(fld(r, C_TIME), &f.ms))
            bad_row(r, "bad timestamp");
        else if (!parse_num(fld(r, C_LAT), &f.lat) || !parse_num(fld(r, C_LON), &f.lon) ||
                 fabs(f.lat) > 90 || fabs(f.lon) > 180)
            bad_row(r, "bad lat/lon");
        else {
            if (parse_num(fld(r, C_SPEED), &v) && v >= 0)
                f.speed = v;
            if (parse_num(fld(r, C_BEARING), &v) && v >= 0 && v <= 360)
                f.course = v;
            f.vehicle = intern(&r->str, fld(r, C_VEHICLE));
            f.trip = intern(&r->str, fld(r, C_TRIP));
            f.route = intern(&r->str, fld(r, C_ROUTE));
            f.run = intern(&r->str, fld(r, C_RUN));
            f.date = intern(&r->str, fld(r, C_DATE));
            if (f.vehicle == UINT32_MAX || f.trip == UINT32_MAX || f.route == UINT32_MAX ||
                f.run == UINT32_MAX || f.date == UINT32_MAX)
                r->oom = true;
            if (r->n == r->cap) {
                size_t nc = r->cap ? r->cap * 2 : 65536;
                struct fixrow *nr = realloc(r->rows, nc * sizeof *nr);
                if (!nr)
                    r->oom = true;
                else {
                    r->rows = nr;
                    r->cap = nc;
                }
            }
            if (!r->oom)
                r->rows[r->n++] = f;
        }
    }
    for (size_t i = 0; i < r->nfield && i < 64; i++)
        free(r->field[i]);
    r->nfield = 0;
}

static int row_cmp(const void *a, const void *b)
{
    const struct fixrow *x = a, *y = b;
    if (x->ms != y->ms)
        return x->ms < y->ms ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line; /* stable: file order */
}

static int read_csv(const char *path, struct csvread *r)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "buyt-eval: %s: %m\n", path);
        return 1;
    }
    struct csv_parser p;
    int rc = 0;
    if (csv_init(&p, CSV_STRICT | CSV_APPEND_NULL) != 0) {
        fprintf(stderr, "buyt-eval: csv_init failed\n");
        fclose(f);
        return 1;
    }
    char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0 && !r->oom) {
        if (csv_parse(&p, buf, got, on_field, on_row, r) != got) {
            fprintf(stderr, "buyt-eval: %s: near line %zu: %s\n", path, r->line + 1,
                    csv_strerror(csv_error(&p)));
            rc = 1;
            break;
        }
    }
    if (!rc && ferror(f)) {
        fprintf(stderr, "buyt-eval: %s: read error\n", path);
        rc = 1;
    }
    if (!rc)
        csv_fini(&p, on_field, on_row, r);
    csv_free(&p);
    fclose(f);
    if (r->oom) {
        fprintf(stderr, "buyt-eval: out of memory reading %s\n", path);
        return 1;
    }
    if (rc)
        return rc;
    for (int c = 0; c < 4; c++)
        if (r->col[c] < 0) {
            fprintf(stderr, "buyt-eval: %s: the header lacks column %s\n", path, col_names[c]);
            return 1;
        }
    qsort(r->rows, r->n, sizeof *r->rows, row_cmp);
    return 0;
}

/* ---- the replay -------------------------------------------------------------------------- */

struct run {
    PGconn *db;     /* reads fixes (a cursor, in a transaction) */
    PGconn *net_db; /* loads networks meanwhile */
    struct buyt_eval *ev;
    struct buyt_network *net;
    int64_t loaded_at_ms;
};

/* Loads the network around t when none is loaded or the replay has gone past it. */
static int network_for(struct run *u, int64_t t)
{
    if (u->net && t >= u->loaded_at_ms - 4 * 3600000LL && t < u->loaded_at_ms + RELOAD_AFTER_MS)
        return 0;
    struct buyt_network *net;
    struct buyt_netload_info info;
    char err[512];
    if (buyt_netload(u->net_db, t, -1, 1, &net, &info, err, sizeof err)) {
        fprintf(stderr, "buyt-eval: loading the network: %s\n", err);
        return 1;
    }
    if (!info.feed_version || !net->n_trips) {
        fprintf(stderr, "buyt-eval: no trips in the database's feed around the fixes' time\n");
        buyt_network_free(net);
        return 1;
    }
    int rc = buyt_eval_set_network(u->ev, net);
    if (rc) {
        fprintf(stderr, "buyt-eval: %s\n", buyt_strerror(rc));
        buyt_network_free(net);
        return 1;
    }
    fprintf(stderr, "buyt-eval: network %s .. %s (%s): %u trips\n", info.first_day, info.last_day,
            info.timezone, net->n_trips);
    buyt_network_free(u->net);
    u->net = net;
    u->loaded_at_ms = t;
    return 0;
}

static int feed(struct run *u, const struct buyt_eval_fix *f)
{
    if (network_for(u, f->time_ms))
        return 1;
    int rc = buyt_eval_feed(u->ev, f);
    if (rc == BUYT_ENOMEM) {
        fprintf(stderr, "buyt-eval: out of memory\n");
        return 1;
    }
    return 0;
}

static int replay_csv(struct run *u, const char *path)
{
    struct csvread r = {0};
    int rc = read_csv(path, &r);
    if (!rc) {
        fprintf(stderr, "buyt-eval: %zu fixes read from %s (%zu rows skipped)\n", r.n, path, r.bad);
        for (size_t i = 0; i < r.n && !rc; i++) {
            const struct fixrow *x = &r.rows[i];
            struct buyt_eval_fix f = {.vehicle_id = r.str.s[x->vehicle],
                                      .time_ms = x->ms,
                                      .lat = x->lat,
                                      .lon = x->lon,
                                      .speed_mps = x->speed,
                                      .course_deg = x->course,
                                      .trip_id = r.str.s[x->trip],
                                      .route_id = r.str.s[x->route],
                                      .run_id = r.str.s[x->run],
                                      .start_date = r.str.s[x->date]};
            rc = feed(u, &f);
        }
    }
    free(r.rows);
    strs_free(&r.str);
    return rc;
}

/* A driver's sign-in, kept per vehicle and passed with its fixes (as the engine applies it). */
struct signin {
    char *vehicle, *trip, *route, *run;
};

static struct signin *signin_of(struct signin **tab, size_t *n, const char *vehicle)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*tab)[i].vehicle, vehicle))
            return &(*tab)[i];
    struct signin *nt = realloc(*tab, (*n + 1) * sizeof *nt);
    if (!nt)
        return NULL;
    *tab = nt;
    struct signin *s = &nt[(*n)++];
    *s = (struct signin){strdup(vehicle), strdup(""), strdup(""), strdup("")};
    return s->vehicle && s->trip && s->route && s->run ? s : NULL;
}

static void set_str(char **dst, const char *v)
{
    char *c = strdup(v ? v : "");
    if (c) {
        free(*dst);
        *dst = c;
    }
}

static bool exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "buyt-eval: %s\n", PQerrorMessage(c));
    PQclear(r);
    return ok;
}

static int replay_db(struct run *u, int64_t from_ms, int64_t to_ms, const char *agency)
{
    char *lit = agency ? PQescapeLiteral(u->db, agency, strlen(agency)) : NULL;
    if (agency && !lit) {
        fprintf(stderr, "buyt-eval: %s\n", PQerrorMessage(u->db));
        return 1;
    }
    char sql[2048];
    /* Sign-ins up to 12 h before the range still hold at its start; at one instant a sign-in
     * comes before the fix. */
    snprintf(sql, sizeof sql,
             "DECLARE fx NO SCROLL CURSOR FOR"
             " SELECT v.vehicle_id, (extract(epoch FROM x.time) * 1000)::bigint, x.kind,"
             " x.lat_e7, x.lon_e7, x.speed_cms, x.course_ddeg, x.trip_id, x.route_id, x.run_id"
             " FROM (SELECT time, vehicle, 0 AS kind, lat_e7, lon_e7, speed_cms, course_ddeg,"
             " '' AS trip_id, '' AS route_id, '' AS run_id FROM fixes"
             " WHERE time >= to_timestamp(%.3f) AND time < to_timestamp(%.3f)"
             " UNION ALL SELECT time, vehicle, kind, 0, 0, -1, -1, trip_id, route_id, run_id"
             " FROM driver_events WHERE kind IN (1, 2)"
             " AND time >= to_timestamp(%.3f) - interval '12 hours'"
             " AND time < to_timestamp(%.3f)) x"
             " JOIN vehicles v ON v.id = x.vehicle %s%s"
             " ORDER BY x.time, x.kind DESC",
             from_ms / 1000.0, to_ms / 1000.0, from_ms / 1000.0, to_ms / 1000.0,
             lit ? "WHERE v.agency = " : "", lit ? lit : "");
    PQfreemem(lit);
    if (!exec_ok(u->db, "BEGIN READ ONLY") || !exec_ok(u->db, sql))
        return 1;
    struct signin *tab = NULL;
    size_t ntab = 0, nfix = 0;
    int rc = 0;
    for (;;) {
        PGresult *r = PQexec(u->db, "FETCH 20000 FROM fx");
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            fprintf(stderr, "buyt-eval: %s\n", PQerrorMessage(u->db));
            PQclear(r);
            rc = 1;
            break;
        }
        int n = PQntuples(r);
        for (int i = 0; i < n && !rc; i++) {
            const char *veh = PQgetvalue(r, i, 0);
            int64_t ms = strtoll(PQgetvalue(r, i, 1), NULL, 10);
            int kind = atoi(PQgetvalue(r, i, 2));
            struct signin *s = signin_of(&tab, &ntab, veh);
            if (!s) {
                rc = 1;
                break;
            }
            if (kind == 1) { /* DRIVER_EVENT_SIGN_IN */
                set_str(&s->trip, PQgetvalue(r, i, 7));
                set_str(&s->route, PQgetvalue(r, i, 8));
                set_str(&s->run, PQgetvalue(r, i, 9));
                continue;
            }
            if (kind == 2) { /* DRIVER_EVENT_SIGN_OUT */
                set_str(&s->trip, "");
                set_str(&s->route, "");
                set_str(&s->run, "");
                continue;
            }
            int speed = atoi(PQgetvalue(r, i, 5)), course = atoi(PQgetvalue(r, i, 6));
            struct buyt_eval_fix f = {.vehicle_id = veh,
                                      .time_ms = ms,
                                      .lat = atoi(PQgetvalue(r, i, 3)) * 1e-7,
                                      .lon = atoi(PQgetvalue(r, i, 4)) * 1e-7,
                                      .speed_mps = speed >= 0 ? speed / 100.0 : NAN,
                                      .course_deg = course >= 0 ? course / 10.0 : NAN,
                                      .trip_id = s->trip,
                                      .route_id = s->route,
                                      .run_id = s->run};
            rc = feed(u, &f);
            nfix++;
        }
        PQclear(r);
        if (rc || n == 0)
            break;
    }
    exec_ok(u->db, "COMMIT");
    for (size_t i = 0; i < ntab; i++) {
        free(tab[i].vehicle);
        free(tab[i].trip);
        free(tab[i].route);
        free(tab[i].run);
    }
    free(tab);
    fprintf(stderr, "buyt-eval: %zu fixes read from the database\n", nfix);
    return rc;
}

int main(int argc, char **argv)
{
    const char *db = NULL, *fixes = NULL, *from = NULL, *to = NULL, *agency = NULL;
    bool json = false;
    struct buyt_eval_options opt;
    buyt_eval_options_default(&opt);
    static const struct option longs[] = {
        {"db", required_argument, NULL, 'd'},
        {"fixes", required_argument, NULL, 'f'},
        {"from", required_argument, NULL, 'F'},
        {"to", required_argument, NULL, 'T'},
        {"agency", required_argument, NULL, 'a'},
        {"json", no_argument, NULL, 'j'},
        {"sample-s", required_argument, NULL, 's'},
        {"horizon-s", required_argument, NULL, 'H'},
        {"early-z", required_argument, NULL, 'z'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'f': fixes = optarg; break;
        case 'F': from = optarg; break;
        case 'T': to = optarg; break;
        case 'a': agency = optarg; break;
        case 'j': json = true; break;
        case 's': opt.sample_s = atoi(optarg); break;
        case 'H': opt.max_horizon_s = atoi(optarg); break;
        case 'z': opt.early_z = atof(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    int64_t from_ms = 0, to_ms = 0;
    if (!db || optind != argc || (!fixes == !(from || to)) || (!fixes && (!from || !to))) {
        usage(stderr);
        return 2;
    }
    if (from && (!parse_time(from, &from_ms) || !parse_time(to, &to_ms) || to_ms <= from_ms)) {
        fprintf(stderr, "buyt-eval: bad --from/--to\n");
        return 2;
    }
    struct run u = {0};
    if (buyt_eval_new(&opt, &u.ev)) {
        fprintf(stderr, "buyt-eval: bad --sample-s, --horizon-s or --early-z\n");
        return 2;
    }
    u.db = PQconnectdb(db);
    u.net_db = PQconnectdb(db);
    if (PQstatus(u.db) != CONNECTION_OK || PQstatus(u.net_db) != CONNECTION_OK) {
        fprintf(stderr, "buyt-eval: %s",
                PQerrorMessage(PQstatus(u.db) != CONNECTION_OK ? u.db : u.net_db));
        PQfinish(u.db);
        PQfinish(u.net_db);
        buyt_eval_free(u.ev);
        return 1;
    }
    int rc = fixes ? replay_csv(&u, fixes) : replay_db(&u, from_ms, to_ms, agency);
    if (!rc) {
        const struct buyt_eval_report *r = buyt_eval_report(u.ev);
        if (!r->fixes)
            fprintf(stderr, "buyt-eval: no fixes\n");
        rc = (json ? buyt_eval_report_json(stdout, r) : buyt_eval_report_print(stdout, r)) != 0;
    }
    buyt_eval_free(u.ev);
    buyt_network_free(u.net);
    PQfinish(u.db);
    PQfinish(u.net_db);
    return rc;
}
