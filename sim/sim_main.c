/* buyt-sim: the synthetic city generator and the fleet simulator (docs/SIMULATOR.md).
 * Wires modules together: citygen/gtfs_out (--generate-city), network_db (load), fleet
 * (behaviour), direct (MQTT publisher), agents (real buyt-onboard processes fed NMEA/RFID
 * through ptys), truth (CSV). */
#include "agents.h"
#include "citygen.h"
#include "clock.h"
#include "contract.h"
#include "direct.h"
#include "error.h"
#include "fleet.h"
#include "log.h"
#include "mqtt.h"
#include "simnet.h"
#include "truth.h"

#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

/* Demo fleet key: card ids in simulated data only. Real fleets generate their own. */
#define DEMO_FLEET_KEY "5f1c3b7a9e2d4c6b8a0f1e3d5c7b9a2e4f6d8c0b1a3e5d7c9b2f4e6a8c0d1e3f"
#define FUTURE_GUARD_MS (4 * 60 * 1000) /* the contract refuses records > 5 min ahead */
#define TICK_MS 20
#define MAX_OUTSTANDING 50000

static const char usage[] =
    "usage:\n"
    "  buyt-sim --generate-city DIR [--seed N] [--routes 150] [--stops 4000] [--buses 2000]\n"
    "  buyt-sim --db CONNINFO --mqtt URL --vehicles N [--direct] [options]\n"
    "  buyt-sim --db CONNINFO --vehicles N --dry-run [options]\n"
    "  buyt-sim --make-accounts FILE --vehicles N [--vehicle-prefix P] [--first-number N]\n"
    "\n"
    "Generator: writes a deterministic GTFS feed of a Hanoi-scale synthetic city into DIR\n"
    "(same seed, same bytes). Import it with: buyt-gtfs import --db CONNINFO --feed DIR\n"
    "\n"
    "Simulator: loads the network from PostgreSQL, registers its vehicles, and drives them.\n"
    "  --direct              publish Telemetry straight to the broker (load generator); URL's\n"
    "                        account must be allowed to write for every vehicle (buyt-tool)\n"
    "  (default)             run one real buyt-onboard per vehicle, fed NMEA and RFID bytes\n"
    "                        through pseudo-terminals; needs --accounts-file\n"
    "  --dry-run             no broker: simulate as fast as possible, write --truth only\n"
    "  --speedup X           simulated seconds per wall second (default 1)\n"
    "  --duration S          run S wall seconds (default: until Ctrl-C)\n"
    "  --start ISO8601|now   simulated start, e.g. 2026-11-24T08:00:00+07:00; default now, or\n"
    "                        with --speedup > 1, now - (X - 1) * S so the run ends at now\n"
    "  --truth FILE          write the ground truth CSV (docs/SIMULATOR.md)\n"
    "  --agency CODE         topic agency code (default: the imported feed's)\n"
    "  --seed N              behaviour seed (default 1)\n"
    "  --vehicle-prefix P    vehicle ids are P + number (default 29B-)\n"
    "  --first-number N      first vehicle number (default 10001)\n"
            "  --skip-blocks N       leave the first N block assignments to another buyt-sim\n"
            "                        (two processes, e.g. agents + direct, share one city)\n"
    "  --no-faults           no detours, GNSS outages or degraded fixes, no dead zones\n"
    "  --detour-prob P       detour probability per trip (default 0.04)\n"
    "  --deadzones N         connectivity dead zones in the city (default 6)\n"
    "  --connections K       direct mode: MQTT connections (default 1)\n"
    "  --fleet-key HEX       card id key (default: a fixed demo key)\n"
    "  --stats-interval S    progress line every S wall seconds on stderr (default 10; 0 off)\n"
    "  --workdir DIR         agents mode: configs, journals, logs (default var/buyt-sim)\n"
    "  --accounts-file FILE  agents mode: NAME:PASSWORD lines, one broker account per vehicle\n"
    "  --onboard PATH        agents mode: the agent binary (default: buyt-onboard next to\n"
    "                        buyt-sim)\n"
    "  --make-accounts FILE  write NAME:PASSWORD lines (random passwords) for the vehicles and\n"
    "                        exit; create them with tools/mqtt-accounts.sh PASSWD $(cat FILE)\n";

struct opts {
    const char *gen_dir, *db, *mqtt, *truth, *agency, *start, *prefix, *fleet_key, *workdir,
        *accounts, *onboard, *make_accounts;
    struct buyt_citygen_params city;
    uint64_t seed;
    int vehicles, first_number, deadzones, connections, skip_blocks;
    double speedup, duration_s, detour_prob, stats_s;
    bool direct, dry_run, no_faults;
};

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "buyt-sim: %s\n", msg);
    return 2;
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int parse_int(const char *s, long lo, long hi, int *out)
{
    double v;
    if (parse_num(s, (double)lo, (double)hi, &v) || v != floor(v))
        return -1;
    *out = (int)v;
    return 0;
}

/* ISO 8601 with a zone: YYYY-MM-DDTHH:MM[:SS[.fff]](Z|+HH:MM|-HH:MM) -> Unix ms. */
static int parse_iso(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, n = 0;
    double sec = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d%n", &y, &mo, &d, &h, &mi, &n) != 5)
        return -1;
    const char *p = s + n;
    if (*p == ':') {
        char *end;
        sec = strtod(p + 1, &end);
        if (end == p + 1 || sec < 0 || sec >= 61)
            return -1;
        p = end;
    }
    int off_min = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
            return -1;
        off_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59)
        return -1;
    int64_t days = buyt_days_from_civil(y, (unsigned)mo, (unsigned)d);
    *out = ((days * 24 + h) * 60 + mi - off_min) * 60000LL + (int64_t)llround(sec * 1000);
    return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof *o);
    buyt_citygen_params_init(&o->city);
    o->seed = 1;
    o->speedup = 1;
    o->prefix = "29B-";
    o->first_number = 10001;
    o->deadzones = 6;
    o->detour_prob = 0.04;
    o->connections = 1;
    o->stats_s = 10;
    o->fleet_key = DEMO_FLEET_KEY;
    o->workdir = "var/buyt-sim";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            exit(0);
        }
        bool flag = true;
        if (!strcmp(a, "--direct"))
            o->direct = true;
        else if (!strcmp(a, "--dry-run"))
            o->dry_run = true;
        else if (!strcmp(a, "--no-faults"))
            o->no_faults = true;
        else
            flag = false;
        if (flag)
            continue;
        static const char *const valued[] = {
            "--generate-city", "--seed", "--routes", "--stops", "--buses", "--db", "--mqtt",
            "--vehicles", "--speedup", "--duration", "--truth", "--agency", "--start",
            "--vehicle-prefix", "--first-number", "--skip-blocks", "--detour-prob", "--deadzones", "--connections",
            "--fleet-key", "--stats-interval", "--workdir", "--accounts-file", "--onboard",
            "--make-accounts", NULL};
        bool known = false;
        for (int k = 0; valued[k]; k++)
            known = known || !strcmp(a, valued[k]);
        if (!known)
            return die("unknown argument '%s' (try --help)", a);
        if (i + 1 >= argc)
            return die("%s needs a value (try --help)", a);
        const char *v = argv[++i];
        double x;
        int bad = 0;
        if (!strcmp(a, "--generate-city"))
            o->gen_dir = v;
        else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            bad = errno || end == v || *end || *v == '-';
            o->seed = o->city.seed = s;
        } else if (!strcmp(a, "--routes"))
            bad = parse_int(v, 1, 1000, &o->city.routes);
        else if (!strcmp(a, "--stops"))
            bad = parse_int(v, 10, 100000, &o->city.stops);
        else if (!strcmp(a, "--buses"))
            bad = parse_int(v, 1, 100000, &o->city.buses);
        else if (!strcmp(a, "--db"))
            o->db = v;
        else if (!strcmp(a, "--mqtt"))
            o->mqtt = v;
        else if (!strcmp(a, "--vehicles"))
            bad = parse_int(v, 1, 200000, &o->vehicles);
        else if (!strcmp(a, "--speedup"))
            bad = parse_num(v, 0.01, 100000, &o->speedup);
        else if (!strcmp(a, "--duration"))
            bad = parse_num(v, 0.001, 1e9, &o->duration_s);
        else if (!strcmp(a, "--truth"))
            o->truth = v;
        else if (!strcmp(a, "--agency"))
            o->agency = v;
        else if (!strcmp(a, "--start"))
            o->start = v;
        else if (!strcmp(a, "--vehicle-prefix"))
            o->prefix = v;
        else if (!strcmp(a, "--first-number"))
            bad = parse_int(v, 0, 1000000000, &o->first_number);
        else if (!strcmp(a, "--skip-blocks"))
            bad = parse_int(v, 0, 1000000, &o->skip_blocks);
        else if (!strcmp(a, "--detour-prob"))
            bad = parse_num(v, 0, 1, &o->detour_prob);
        else if (!strcmp(a, "--deadzones"))
            bad = parse_int(v, 0, 1000, &o->deadzones);
        else if (!strcmp(a, "--connections"))
            bad = parse_int(v, 1, 256, &o->connections);
        else if (!strcmp(a, "--fleet-key"))
            o->fleet_key = v;
        else if (!strcmp(a, "--stats-interval"))
            bad = parse_num(v, 0, 86400, &o->stats_s);
        else if (!strcmp(a, "--workdir"))
            o->workdir = v;
        else if (!strcmp(a, "--accounts-file"))
            o->accounts = v;
        else if (!strcmp(a, "--onboard"))
            o->onboard = v;
        else if (!strcmp(a, "--make-accounts"))
            o->make_accounts = v;
        else
            return die("unknown option %s (try --help)", a);
        if (bad)
            return die("bad value for %s (try --help)", a);
        (void)x;
    }
    if (o->gen_dir)
        return 0;
    if (o->make_accounts) {
        if (!o->vehicles)
            return die("%s needs --vehicles N", "--make-accounts");
        return 0;
    }
    if (!o->db)
        return die("%s", "--db CONNINFO is required (try --help)");
    if (!o->vehicles)
        return die("%s", "--vehicles N is required (try --help)");
    if (!o->dry_run && !o->mqtt)
        return die("%s", "--mqtt URL is required (or --dry-run)");
    if (o->direct && o->dry_run)
        return die("%s", "--direct and --dry-run exclude each other");
    if (strlen(o->prefix) > 20)
        return die("%s", "--vehicle-prefix is longer than 20 characters");
    return 0;
}

/* ------------------------------------------------------------------ generator */

static int generate(const struct opts *o)
{
    struct buyt_city *c;
    char err[256];
    uint64_t t0 = buyt_mono_ns();
    if (buyt_citygen_build(&o->city, &c, err, sizeof err)) {
        fprintf(stderr, "buyt-sim: %s\n", err);
        return 2;
    }
    if (buyt_city_write_gtfs(c, o->gen_dir, err, sizeof err)) {
        fprintf(stderr, "buyt-sim: %s\n", err);
        buyt_city_free(c);
        return 1;
    }
    int loops = 0, split = 0;
    for (int i = 0; i < c->n_routes; i++)
        loops += c->routes[i].loop;
    for (int i = 0; i < c->n_blocks; i++)
        split += c->blocks[i].split;
    printf("buyt-sim: city seed=%llu routes=%d loops=%d terminals=%d stops=%d shapes=%d "
           "trips=%d blocks=%d split_blocks=%d stop_times=%ld in %s (%.1f s)\n",
           (unsigned long long)o->city.seed, c->n_routes, loops, c->n_terminals, c->n_stops,
           c->n_shapes, c->n_trips, c->n_blocks, split, c->n_stop_times, o->gen_dir,
           (double)(buyt_mono_ns() - t0) / 1e9);
    buyt_city_free(c);
    return 0;
}

static int make_accounts(const struct opts *o)
{
    FILE *f = fopen(o->make_accounts, "wx");
    if (!f)
        return die("cannot create %s (exists already?)", o->make_accounts);
    chmod(o->make_accounts, 0600);
    FILE *r = fopen("/dev/urandom", "rb");
    if (!r) {
        fclose(f);
        return die("%s", "cannot read /dev/urandom");
    }
    static const char al[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    for (int i = 0; i < o->vehicles; i++) {
        char pass[21];
        unsigned char b[20];
        if (fread(b, 1, sizeof b, r) != sizeof b) {
            fclose(r);
            fclose(f);
            return die("%s", "short read from /dev/urandom");
        }
        for (int k = 0; k < 20; k++)
            pass[k] = al[b[k] % (sizeof al - 1)];
        pass[20] = 0;
        fprintf(f, "%s%d:%s\n", o->prefix, o->first_number + i, pass);
    }
    fclose(r);
    if (fclose(f) != 0)
        return die("writing %s failed", o->make_accounts);
    return 0;
}

/* ------------------------------------------------------------------ simulator */

struct sim {
    struct opts *o;
    uv_loop_t loop;
    uv_timer_t tick;
    uv_signal_t sigint, sigterm;
    struct buyt_simnet *net;
    struct buyt_fleet *fleet;
    struct buyt_direct *direct;
    struct buyt_agents *agents;
    FILE *truth;
    int64_t start_ms;     /* simulated */
    uint64_t wall0_ns;    /* monotonic at start */
    int64_t end_wall_ms;  /* run length in wall ms (0: until stopped) */
    uint64_t next_stats_ns;
    uint64_t last_acked;
    uint64_t last_stats_ns;
    bool stopping, started;
    int rc;
    int64_t drain_deadline_ns;
    uint64_t finish_ns; /* when the simulation stopped (the drain comes after) */
    double lag_s;       /* simulated time behind the wall clock x speedup, last tick */
    double cpu0_s;      /* CPU used before the clock started (loading) */
    int ticks_lagging;
};

static void on_epoch(void *ud, int v, const struct buyt_fleet_epoch *e)
{
    struct sim *s = ud;
    if (s->direct)
        buyt_direct_epoch(s->direct, v, e);
    if (s->agents)
        buyt_agents_epoch(s->agents, v, e);
}

static void on_card(void *ud, int v, const struct buyt_fleet_card *c)
{
    struct sim *s = ud;
    if (s->direct)
        buyt_direct_card(s->direct, v, c);
    if (s->agents)
        buyt_agents_card(s->agents, v, c);
}

static void on_power(void *ud, int v, int64_t t, bool on)
{
    struct sim *s = ud;
    if (s->direct)
        buyt_direct_power(s->direct, v, t, on);
    if (s->agents)
        buyt_agents_power(s->agents, v, t, on);
}

static void on_truth(void *ud, const struct buyt_truth_row *r)
{
    struct sim *s = ud;
    if (s->truth)
        buyt_truth_write(s->truth, r);
}

static double cpu_total_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static double cpu_run_s(const struct sim *s) { return cpu_total_s() - s->cpu0_s; }

static void print_stats(struct sim *s, bool final)
{
    uint64_t now = buyt_mono_ns();
    double wall = (double)((final && s->finish_ns ? s->finish_ns : now) - s->wall0_ns) / 1e9;
    double sim_s = (double)(buyt_fleet_now(s->fleet) - s->start_ms) / 1000.0;
    double lag = s->lag_s;
    if (s->direct) {
        struct buyt_direct_stats st;
        buyt_direct_stats(s->direct, &st);
        double dt = (double)(now - s->last_stats_ns) / 1e9;
        double rate = dt > 0 ? (double)(st.acked - s->last_acked) / dt : 0;
        s->last_acked = st.acked;
        s->last_stats_ns = now;
        if (final)
            printf("buyt-sim: vehicles=%d wall_s=%.1f sim_s=%.0f records=%llu live_msgs=%llu "
                   "replay_msgs=%llu replay_records=%llu acked=%llu msgs_per_s=%.0f "
                   "held=%llu dropped=%llu rejected=%llu lag_s=%.1f cpu_s=%.1f cpu_pct=%.0f\n",
                   buyt_fleet_count(s->fleet), wall, sim_s, (unsigned long long)st.records,
                   (unsigned long long)st.live_messages, (unsigned long long)st.replay_messages,
                   (unsigned long long)st.replay_records, (unsigned long long)st.acked,
                   wall > 0 ? (double)st.acked / wall : 0, (unsigned long long)st.held,
                   (unsigned long long)st.dropped, (unsigned long long)st.rejected,
                   lag > 0 ? lag : 0, cpu_run_s(s), wall > 0 ? 100 * cpu_run_s(s) / wall : 0);
        else
            BUYT_INFO("sim",
                      "msg=progress sim_s=%.0f lag_s=%.1f records=%llu acked=%llu msgs_per_s=%.0f "
                      "outstanding=%llu backlog=%llu cpu_pct=%.0f",
                      sim_s, lag > 0 ? lag : 0, (unsigned long long)st.records,
                      (unsigned long long)st.acked, rate,
                      (unsigned long long)buyt_direct_outstanding(s->direct),
                      (unsigned long long)buyt_direct_backlog(s->direct),
                      wall > 0 ? 100 * cpu_run_s(s) / wall : 0);
    } else if (final) {
        printf("buyt-sim: vehicles=%d wall_s=%.1f sim_s=%.0f cpu_s=%.1f\n",
               buyt_fleet_count(s->fleet), wall, sim_s, cpu_run_s(s));
    } else {
        BUYT_INFO("sim", "msg=progress sim_s=%.0f lag_s=%.1f", sim_s, lag > 0 ? lag : 0);
    }
    fflush(stdout);
}

static void closed_direct(void *arg)
{
    struct sim *s = arg;
    s->direct = NULL;
}

static void finish(struct sim *s)
{
    if (s->stopping)
        return;
    s->stopping = true;
    s->finish_ns = buyt_mono_ns();
    buyt_fleet_finish(s->fleet);
    if (s->truth)
        fflush(s->truth);
    s->drain_deadline_ns = (int64_t)(buyt_mono_ns() + 30ull * 1000000000ull);
}

static void on_signal(uv_signal_t *h, int sig)
{
    struct sim *s = h->data;
    BUYT_INFO("sim", "msg=\"stopping\" signal=%d", sig);
    finish(s);
}

static void on_tick(uv_timer_t *t)
{
    struct sim *s = t->data;
    uint64_t now = buyt_mono_ns();
    if (s->stopping) {
        /* drain: every held record out, every publish acknowledged (or time out) */
        bool drained = true;
        if (s->direct) {
            buyt_direct_flush(s->direct, true);
            drained = buyt_direct_backlog(s->direct) == 0 && buyt_direct_outstanding(s->direct) == 0;
        }
        if (s->agents)
            drained = buyt_agents_stopped(s->agents);
        if (drained || (int64_t)now > s->drain_deadline_ns) {
            if (!drained)
                BUYT_WARN("sim", "msg=\"drain timed out\"");
            print_stats(s, true);
            uv_timer_stop(&s->tick);
            uv_close((uv_handle_t *)&s->tick, NULL);
            uv_close((uv_handle_t *)&s->sigint, NULL);
            uv_close((uv_handle_t *)&s->sigterm, NULL);
            if (s->direct)
                buyt_direct_close(s->direct, closed_direct, s);
            if (s->agents)
                buyt_agents_close(s->agents);
        }
        return;
    }
    if (s->direct && !s->started) {
        if (!buyt_direct_ready(s->direct))
            return; /* wait for the broker before the clock starts */
        s->started = true;
        s->cpu0_s = cpu_total_s();
        s->wall0_ns = now;
        s->last_stats_ns = now;
        s->next_stats_ns = now + (uint64_t)(s->o->stats_s * 1e9);
    }
    double wall_s = (double)(now - s->wall0_ns) / 1e9;
    if (s->end_wall_ms && wall_s * 1000 >= (double)s->end_wall_ms) {
        int64_t target = s->start_ms + (int64_t)(s->end_wall_ms * s->o->speedup);
        buyt_fleet_advance(s->fleet, target);
        finish(s);
        return;
    }
    int64_t target = s->start_ms + (int64_t)(wall_s * 1000 * s->o->speedup);
    if (target > buyt_wall_ms() + FUTURE_GUARD_MS) {
        BUYT_WARN("sim", "msg=\"simulated time reached the contract's future limit; stopping\"");
        finish(s);
        return;
    }
    if (s->direct) {
        buyt_direct_flush(s->direct, false);
        if (buyt_direct_outstanding(s->direct) > MAX_OUTSTANDING)
            return; /* the broker is behind: let the simulation lag rather than queue */
        /* bounded work per tick keeps the loop responsive at high speedups */
        int64_t cap = buyt_fleet_now(s->fleet) + 60000;
        if (target > cap)
            target = cap;
    }
    buyt_fleet_advance(s->fleet, target);
    s->lag_s = (wall_s * 1000 * s->o->speedup - (double)(buyt_fleet_now(s->fleet) - s->start_ms)) / 1000;
    if (s->o->stats_s > 0 && now >= s->next_stats_ns) {
        s->next_stats_ns = now + (uint64_t)(s->o->stats_s * 1e9);
        print_stats(s, false);
    }
}

/* Registers missing vehicles and reads where each one's seq continues. */
static int prepare_vehicles(struct sim *s, const char *agency, char **ids, uint64_t *seq)
{
    PGconn *c = PQconnectdb(s->o->db);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "buyt-sim: connecting to the database: %s", PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < s->o->vehicles && !rc; i++) {
        const char *p[2] = {agency, ids[i]};
        PGresult *r = PQexecParams(
            c,
            "WITH ins AS (INSERT INTO vehicles (agency, vehicle_id, label) VALUES ($1, $2,"
            " 'buyt-sim') ON CONFLICT (agency, vehicle_id) DO NOTHING RETURNING id)"
            " SELECT greatest(coalesce(p.stored_through_seq, 0),"
            " coalesce((SELECT max(x) FROM unnest(p.stored_ranges) x), 0))"
            " FROM vehicles v LEFT JOIN vehicle_progress_current p ON p.vehicle = v.id"
            " WHERE v.agency = $1 AND v.vehicle_id = $2",
            2, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            fprintf(stderr, "buyt-sim: registering vehicle %s: %s", ids[i], PQerrorMessage(c));
            rc = -1;
        } else {
            seq[i] = (PQntuples(r) ? strtoull(PQgetvalue(r, 0, 0), NULL, 10) : 0) + 1;
        }
        PQclear(r);
    }
    PQfinish(c);
    return rc;
}

static int simulate(struct opts *o)
{
    struct sim s = {.o = o};
    int64_t wall = buyt_wall_ms();
    if (!o->start || !strcmp(o->start, "now")) {
        if (o->speedup > 1 && !o->dry_run) {
            if (!o->duration_s)
                return die("%s", "--speedup above 1 needs --duration (or --start in the past)");
            s.start_ms = wall - (int64_t)((o->speedup - 1) * o->duration_s * 1000);
        } else {
            s.start_ms = wall;
        }
    } else if (parse_iso(o->start, &s.start_ms)) {
        return die("bad --start '%s' (want ISO 8601 with a zone, e.g. 2026-11-24T08:00:00+07:00)",
                   o->start);
    }
    if (!o->dry_run && s.start_ms > wall + FUTURE_GUARD_MS)
        return die("%s", "--start is in the future (records would be refused)");
    if (!o->dry_run && s.start_ms < wall - BUYT_CONTRACT_MAX_PAST_MS + 3600000)
        return die("%s", "--start is more than 30 days ago (records would be refused)");
    if (o->dry_run && !o->duration_s)
        return die("%s", "--dry-run needs --duration");
    char err[512];
    uint64_t t0 = buyt_mono_ns();
    if (buyt_simnet_load(o->db, s.start_ms, &s.net, err, sizeof err)) {
        fprintf(stderr, "buyt-sim: %s\n", err);
        return 1;
    }
    BUYT_INFO("sim", "msg=\"network loaded\" trips=%d patterns=%d stop_times=%ld instances=%d "
              "service_day=%s load_s=%.1f",
              s.net->n_trips, s.net->n_patterns, s.net->n_stop_times, s.net->n_instances,
              s.net->days[1].date, (double)(buyt_mono_ns() - t0) / 1e9);
    const char *agency = o->agency ? o->agency : s.net->agency;
    struct buyt_fleet_config fc;
    buyt_fleet_config_init(&fc);
    fc.seed = o->seed;
    fc.vehicles = o->vehicles;
    fc.vehicle_prefix = o->prefix;
    fc.first_number = o->first_number;
    fc.skip_blocks = o->skip_blocks;
    fc.start_ms = s.start_ms;
    fc.horizon_ms = o->duration_s ? s.start_ms + (int64_t)(o->duration_s * o->speedup * 1000)
                                  : s.start_ms + 24 * 3600000LL;
    fc.faults = !o->no_faults;
    fc.detour_prob = o->detour_prob;
    fc.deadzones = o->deadzones;
    struct buyt_fleet_sink sink = {.ud = &s, .epoch = on_epoch, .card = on_card,
                                   .power = on_power, .truth = on_truth};
    if (buyt_fleet_new(s.net, &fc, &sink, &s.fleet)) {
        buyt_simnet_free(s.net);
        return die("%s", "cannot build the fleet (bad vehicle prefix or no drivable trips)");
    }
    int rc = 1;
    char **ids = calloc((size_t)o->vehicles, sizeof *ids);
    uint64_t *seq = calloc((size_t)o->vehicles, sizeof *seq);
    if (!ids || !seq)
        goto out;
    for (int i = 0; i < o->vehicles; i++)
        ids[i] = (char *)buyt_fleet_vehicle_id(s.fleet, i);
    if (!o->dry_run && prepare_vehicles(&s, agency, ids, seq))
        goto out;
    if (o->truth) {
        s.truth = fopen(o->truth, "w");
        if (!s.truth) {
            fprintf(stderr, "buyt-sim: cannot write %s: %s\n", o->truth, strerror(errno));
            goto out;
        }
        buyt_truth_write_header(s.truth);
    }
    s.cpu0_s = cpu_total_s();
    if (o->dry_run) {
        s.wall0_ns = buyt_mono_ns();
        s.last_stats_ns = s.wall0_ns;
        int64_t end = s.start_ms + (int64_t)(o->duration_s * o->speedup * 1000);
        for (int64_t t = s.start_ms; t < end;) {
            t = t + 60000 < end ? t + 60000 : end;
            buyt_fleet_advance(s.fleet, t);
        }
        buyt_fleet_finish(s.fleet);
        print_stats(&s, true);
        rc = 0;
        goto out;
    }
    uv_loop_init(&s.loop);
    if (o->direct) {
        struct buyt_direct_config dc = {.url = o->mqtt, .agency = agency,
                                        .connections = o->connections,
                                        .fleet_key_hex = o->fleet_key};
        if (buyt_direct_new(&s.loop, &dc, o->vehicles, (const char *const *)ids, seq,
                            &s.direct)) {
            fprintf(stderr, "buyt-sim: bad --mqtt URL, --fleet-key or vehicle ids\n");
            uv_loop_close(&s.loop);
            rc = 2;
            goto out;
        }
        buyt_direct_start(s.direct);
    } else {
        struct buyt_agents_config ac = {.mqtt_url = o->mqtt, .agency = agency,
                                        .workdir = o->workdir, .accounts_file = o->accounts,
                                        .onboard = o->onboard, .fleet_key_hex = o->fleet_key,
                                        .argv0 = NULL};
        if (buyt_agents_new(&s.loop, &ac, s.fleet, seq, err, sizeof err, &s.agents)) {
            fprintf(stderr, "buyt-sim: %s\n", err);
            uv_loop_close(&s.loop);
            rc = 2;
            goto out;
        }
        s.started = true;
    }
    s.wall0_ns = buyt_mono_ns();
    s.last_stats_ns = s.wall0_ns;
    s.next_stats_ns = s.wall0_ns + (uint64_t)(o->stats_s * 1e9);
    s.end_wall_ms = (int64_t)(o->duration_s * 1000);
    uv_timer_init(&s.loop, &s.tick);
    s.tick.data = &s;
    uv_timer_start(&s.tick, on_tick, TICK_MS, TICK_MS);
    uv_signal_init(&s.loop, &s.sigint);
    uv_signal_init(&s.loop, &s.sigterm);
    s.sigint.data = s.sigterm.data = &s;
    uv_signal_start(&s.sigint, on_signal, SIGINT);
    uv_signal_start(&s.sigterm, on_signal, SIGTERM);
    uv_run(&s.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&s.loop) != 0)
        BUYT_WARN("sim", "msg=\"loop closed with handles left\"");
    rc = 0;
out:
    if (s.truth && fclose(s.truth) != 0) {
        fprintf(stderr, "buyt-sim: writing %s failed\n", o->truth);
        rc = 1;
    }
    free(ids);
    free(seq);
    buyt_fleet_free(s.fleet);
    buyt_simnet_free(s.net);
    return rc;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    struct opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    if (o.gen_dir)
        return generate(&o);
    if (o.make_accounts)
        return make_accounts(&o);
    if (!o.onboard && !o.direct && !o.dry_run) {
        static char path[PATH_MAX + 16];
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n > 0) {
            self[n] = 0;
            char *slash = strrchr(self, '/');
            if (slash) {
                *slash = 0;
                snprintf(path, sizeof path, "%s/buyt-onboard", self);
                o.onboard = path;
            }
        }
    }
    return simulate(&o);
}
