/* The engine end to end on a real feed: a bus driven along a TriMet line 1 trip (fixes made from
 * the trip's shape and stop times, with GPS noise) is assigned that trip automatically, and its
 * stop events land in PostgreSQL at the right stops within 10 s of the generated truth; the
 * same for one run of that trip made a frequencies.txt trip.
 * Truth uses the detector's definitions (docs/MATCHING.md): arrival when the bus enters the
 * stop's zone, departure when it leaves it. */
#include "clock.h"
#include "engine.h"
#include "testkit.h"
#include "topics.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DWELL_S 20
#define SERVICE_NOON_MS 1527879600000LL /* 2018-06-01 12:00 America/Los_Angeles (19:00Z) */

struct truth {
    uint32_t n;
    int64_t arr_ms[256], dep_ms[256];
    float dist_m[256];
};

/* Truth timeline: arrive at each stop at its scheduled arrival (or later if the bus cannot make
 * it at 15 m/s), stand DWELL_S, leave; constant speed between stops. */
static void plan(const struct buyt_network *net, uint32_t t, struct truth *tr)
{
    const struct buyt_network_trip *trip = &net->trips[t];
    const struct buyt_network_pattern *p = &net->patterns[trip->pattern];
    tr->n = p->n_stops < 256 ? p->n_stops : 256;
    for (uint32_t i = 0; i < tr->n; i++) {
        tr->dist_m[i] = net->pattern_stops[p->first + i].dist_m;
        int64_t sched = trip->day_start_ms + (int64_t)net->times[trip->first_time + i].arrival_s * 1000;
        if (i == 0) {
            tr->arr_ms[0] = sched - 120 * 1000; /* waits two minutes at the first stop */
            tr->dep_ms[0] = trip->day_start_ms +
                            (int64_t)net->times[trip->first_time].departure_s * 1000;
            continue;
        }
        int64_t earliest = tr->dep_ms[i - 1] +
                           (int64_t)((tr->dist_m[i] - tr->dist_m[i - 1]) / 15.0 * 1000);
        tr->arr_ms[i] = sched > earliest ? sched : earliest;
        tr->dep_ms[i] = tr->arr_ms[i] + DWELL_S * 1000;
    }
}

/* Where the bus is at time `ms` (distance along the shape) and how fast it goes. */
static double where(const struct truth *tr, int64_t ms, double *speed)
{
    *speed = 0;
    if (ms <= tr->dep_ms[0])
        return tr->dist_m[0];
    for (uint32_t i = 1; i < tr->n; i++) {
        if (ms < tr->arr_ms[i]) {
            double span = (double)(tr->arr_ms[i] - tr->dep_ms[i - 1]);
            *speed = (tr->dist_m[i] - tr->dist_m[i - 1]) / (span / 1000.0);
            return tr->dist_m[i - 1] + (tr->dist_m[i] - tr->dist_m[i - 1]) *
                                           (double)(ms - tr->dep_ms[i - 1]) / span;
        }
        if (ms < tr->dep_ms[i])
            return tr->dist_m[i];
    }
    return tr->dist_m[tr->n - 1];
}

/* When the truth's position first reaches `target` metres (1 ms resolution, by bisection on
 * the monotone position): the detector's definition of arrival (stop - r) and departure
 * (stop + r), r = 30 m or half the gap to a neighbouring stop. */
static int64_t crossing(const struct truth *tr, double target)
{
    int64_t lo = tr->arr_ms[0], hi = tr->arr_ms[tr->n - 1];
    double sp;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (where(tr, mid, &sp) >= target)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static double zone_r(const struct truth *tr, uint32_t i)
{
    double r = 30;
    if (i > 0 && (tr->dist_m[i] - tr->dist_m[i - 1]) / 2 < r)
        r = (tr->dist_m[i] - tr->dist_m[i - 1]) / 2;
    if (i + 1 < tr->n && (tr->dist_m[i + 1] - tr->dist_m[i]) / 2 < r)
        r = (tr->dist_m[i + 1] - tr->dist_m[i]) / 2;
    return r;
}

static uint32_t rng = 12345;
static double noise_m(void)
{
    rng = rng * 1103515245u + 12345u;
    return ((double)((rng >> 8) % 8001) / 1000.0) - 4.0; /* uniform +-4 m */
}

static void feed_fix(struct buyt_engine *e, const struct buyt_network *net, uint32_t shape,
                     uint64_t seq, int64_t ms, double dist, double speed)
{
    double x, y, x2, y2, lat, lon;
    buyt_shape_point_at(&net->shapes[shape], dist, &x, &y, NULL);
    buyt_shape_point_at(&net->shapes[shape], dist + 5, &x2, &y2, NULL);
    buyt_geo_from_xy(&net->frame, x + noise_m(), y + noise_m(), &lat, &lon);
    Buyt__V1__Fix f = BUYT__V1__FIX__INIT;
    f.lat_e7 = buyt_deg_to_e7(lat);
    f.lon_e7 = buyt_deg_to_e7(lon);
    f.speed_cms = (uint32_t)(speed * 100);
    f.quality = BUYT__V1__FIX_QUALITY__FIX_QUALITY_GPS;
    f.fields = BUYT__V1__FIX_FIELD__FIX_FIELD_SPEED;
    if (speed > 1) {
        f.course_cdeg = (uint32_t)(buyt_shape_bearing_deg(x2 - x, y2 - y) * 100) % 36000;
        f.fields |= BUYT__V1__FIX_FIELD__FIX_FIELD_COURSE;
    }
    Buyt__V1__Record r = BUYT__V1__RECORD__INIT, *rp = &r;
    r.seq = seq;
    r.time_ms = (uint64_t)ms;
    r.body_case = BUYT__V1__RECORD__BODY_FIX;
    r.fix = &f;
    Buyt__V1__Telemetry t = BUYT__V1__TELEMETRY__INIT;
    t.vehicle_id = "tm1";
    t.n_records = 1;
    t.records = &rp;
    uint8_t buf[256];
    size_t len = buyt__v1__telemetry__pack(&t, buf);
    buyt_engine_handle(e, "buyt/v1/hn/vehicle/tm1/telemetry", buf, len, false, ms + 500);
}

static bool committed(void *arg)
{
    struct buyt_engine *e = arg;
    return buyt_engine_pending(e) == 0 && buyt_batch_empty(&e->batch);
}

/* A fresh database with `feed` imported for agency hn (extra: more buyt-gtfs flags, or "");
 * db gets its conninfo. Returns a connection to it. */
static PGconn *import_feed(char db[512], const char *feed, const char *extra)
{
    char cmd[2048];
    buyt_test_fresh_db(db, 512);
    snprintf(cmd, sizeof cmd,
             "%s/buyt-gtfs import --db '%s' --feed '%s' --agency hn %s >/dev/null", BUYT_BIN_DIR,
             db, feed, extra);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    return buyt_test_pg_connect(db);
}

/* The engine on its own loop (no broker: fixes go straight to buyt_engine_handle), with the
 * network of the service day around noon_ms. */
struct drive {
    uv_loop_t loop;
    struct buyt_engine e;
    struct buyt_network *net;
    char spool[64];
};

static void drive_start(struct drive *d, const char *db, PGconn *c, int64_t noon_ms)
{
    snprintf(d->spool, sizeof d->spool, "/tmp/buyt-spool-XXXXXX");
    cr_assert_not_null(mkdtemp(d->spool));
    uv_loop_init(&d->loop);
    struct buyt_engine_config ec = {.agency = "hn", .conninfo = db, .spool_dir = d->spool,
                                    .batch_ms = 50};
    char err[512];
    cr_assert_eq(buyt_engine_init(&d->e, &d->loop, &ec, err, sizeof err), 0, "%s", err);
    struct buyt_netload_info info;
    cr_assert_eq(buyt_netload(c, noon_ms, -1, 1, &d->net, &info, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(info.timezone, "America/Los_Angeles");
    buyt_engine_set_network(&d->e, d->net, &info);
    cr_assert_eq(buyt_engine_start(&d->e), 0);
}

/* Drives bus tm1 along trip t as the truth plans it (fixes every second, GPS noise) and waits
 * for the engine to commit everything. */
static void drive_trip(struct drive *d, uint32_t t, struct truth *tr)
{
    plan(d->net, t, tr);
    uint64_t seq = 1;
    for (int64_t ms = tr->arr_ms[0]; ms <= tr->arr_ms[tr->n - 1] + 60000; ms += 1000) {
        double speed, dist = where(tr, ms, &speed);
        feed_fix(&d->e, d->net, d->net->trips[t].shape, seq++, ms, dist, speed);
        uv_run(&d->loop, UV_RUN_NOWAIT);
    }
    buyt_engine_flush(&d->e);
    cr_assert(buyt_test_run_until(&d->loop, committed, &d->e, 20000), "not committed");
}

static void drive_stop(struct drive *d)
{
    buyt_engine_stop(&d->e, NULL, NULL);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&d->loop), 0, "handles left open");
    buyt_engine_close(&d->e);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->spool);
    cr_assert_eq(system(cmd), 0);
}

/* The first valid trip of the service day at noon_ms starting at or after 10:00 local. */
static uint32_t first_trip_after_10(const struct buyt_network *net, int64_t noon_ms)
{
    uint32_t t = BUYT_NETWORK_NONE;
    int64_t best = INT64_MAX;
    for (uint32_t i = 0; i < net->n_trips; i++) {
        const struct buyt_network_trip *tr = &net->trips[i];
        int64_t start = tr->day_start_ms + (int64_t)tr->start_s * 1000;
        if (tr->valid && llabs(tr->day_start_ms + 12 * 3600000LL - noon_ms) < 3600000 &&
            tr->start_s >= 10 * 3600 && start < best) {
            best = start;
            t = i;
        }
    }
    cr_assert_neq(t, BUYT_NETWORK_NONE, "no trip that day");
    return t;
}

/* Stop events of trip t on 2018-06-01 (rows with run_start_s = run): the right stops, none
 * marked passed, arrival and departure within 10 s of the truth. */
static void check_stop_events(PGconn *c, const struct buyt_network *net, uint32_t t,
                              const struct truth *tr, int32_t run)
{
    const struct buyt_network_trip *trip = &net->trips[t];
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT stop_sequence, stop_id, extract(epoch FROM arrival) * 1000,"
             " extract(epoch FROM departure) * 1000, passed,"
             " extract(epoch FROM scheduled_arrival) * 1000 FROM stop_events"
             " WHERE trip_id = '%s' AND service_date = '2018-06-01' AND run_start_s = %d"
             " ORDER BY stop_sequence",
             trip->id, (int)run);
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    int rows = PQntuples(r), checked_arr = 0, checked_dep = 0;
    double worst = 0;
    cr_assert_geq(rows, (int)tr->n - 1, "only %d stop events for %u stops", rows, tr->n);
    for (int i = 0; i < rows; i++) {
        uint32_t seqno = (uint32_t)atoi(PQgetvalue(r, i, 0));
        uint32_t k = 0;
        while (k < tr->n && net->times[trip->first_time + k].stop_sequence != seqno)
            k++;
        cr_assert_lt(k, tr->n, "event for unknown stop_sequence %u", seqno);
        const struct buyt_network_pattern *p = &net->patterns[trip->pattern];
        cr_assert_str_eq(PQgetvalue(r, i, 1), net->stops[net->pattern_stops[p->first + k].stop].id);
        cr_assert_str_eq(PQgetvalue(r, i, 4), "f", "stop %u marked passed: the bus stood there",
                         seqno);
        int64_t sched = trip->day_start_ms + (int64_t)net->times[trip->first_time + k].arrival_s * 1000;
        cr_assert_eq(atoll(PQgetvalue(r, i, 5)), sched, "stop %u scheduled arrival", seqno);
        if (!PQgetisnull(r, i, 2) && k > 0) {
            int64_t want = crossing(tr, tr->dist_m[k] - zone_r(tr, k));
            double d = fabs(atof(PQgetvalue(r, i, 2)) - (double)want) / 1000;
            cr_assert_leq(d, 10, "stop %u arrival off by %.1f s", seqno, d);
            worst = d > worst ? d : worst;
            checked_arr++;
        }
        if (!PQgetisnull(r, i, 3) && k + 1 < tr->n) {
            int64_t want = crossing(tr, tr->dist_m[k] + zone_r(tr, k));
            double d = fabs(atof(PQgetvalue(r, i, 3)) - (double)want) / 1000;
            cr_assert_leq(d, 10, "stop %u departure off by %.1f s", seqno, d);
            worst = d > worst ? d : worst;
            checked_dep++;
        }
    }
    cr_assert_geq(checked_arr, (int)tr->n - 2, "arrivals checked: %d of %u", checked_arr, tr->n);
    cr_assert_geq(checked_dep, (int)tr->n - 2, "departures checked: %d of %u", checked_dep, tr->n);
    fprintf(stderr, "trimet: trip %s (run %d), %u stops, %d events, worst error %.1f s\n",
            trip->id, (int)run, tr->n, rows, worst);
    PQclear(r);
}

Test(ingest_match, trimet_trip_is_assigned_and_stop_events_match_truth)
{
    char feed[1024];
    if (!buyt_test_shared_data("gtfs/trimet-line1-2018", feed, sizeof feed))
        cr_skip_test("TriMet feed absent");
    char db[512];
    PGconn *c = import_feed(db, feed, "");
    buyt_test_sql_exec(c, "INSERT INTO vehicles (agency, vehicle_id) VALUES ('hn', 'tm1')");
    /* The feed's service ran in 2018: load the network for that day. */
    struct drive d;
    drive_start(&d, db, c, SERVICE_NOON_MS);
    cr_assert_gt(d.net->n_trips, 10);
    uint32_t t = first_trip_after_10(d.net, SERVICE_NOON_MS);
    struct truth tr;
    drive_trip(&d, t, &tr);
    cr_assert_geq(tr.n, 20, "a long trip: %u stops", tr.n);

    struct buyt_vehicle *v = buyt_vehicles_find(&d.e.vehicles, "tm1");
    cr_assert_gt(d.e.stats.assignments, 0);
    cr_assert_eq(v->trip, t, "assigned %s, drove %s",
                 v->trip == BUYT_NETWORK_NONE ? "nothing" : d.net->trips[v->trip].id,
                 d.net->trips[t].id);
    /* Stop events: the right trip, the right stops, within 10 s of the truth. */
    check_stop_events(c, d.net, t, &tr, BUYT_NETWORK_NOT_A_RUN);
    PQfinish(c);
    drive_stop(&d);
}

/* frequencies.txt: the same TriMet trip made a frequency trip (every 30 min from its own
 * start, three runs, no other trips in the feed). The bus drives the second run: it is
 * assigned that run (not the first, which left 30 min earlier on the same shape), and its
 * stop events are stored under that run's start with the run's scheduled times. */
Test(ingest_match, a_frequency_run_is_matched_and_its_stop_events_carry_its_start)
{
    char feed[1024];
    if (!buyt_test_shared_data("gtfs/trimet-line1-2018", feed, sizeof feed))
        cr_skip_test("TriMet feed absent");
    char db[512], err[512];
    PGconn *c = import_feed(db, feed, "");
    buyt_test_sql_exec(c, "INSERT INTO vehicles (agency, vehicle_id) VALUES ('hn', 'tm1')");
    struct buyt_network *net;
    struct buyt_netload_info info;
    cr_assert_eq(buyt_netload(c, SERVICE_NOON_MS, -1, 1, &net, &info, err, sizeof err), 0, "%s",
                 err);
    uint32_t t = first_trip_after_10(net, SERVICE_NOON_MS);
    char trip_id[64];
    snprintf(trip_id, sizeof trip_id, "%s", net->trips[t].id);
    int32_t start = net->times[net->trips[t].first_time].departure_s;
    buyt_network_free(net);
    const char *p[2] = {trip_id, NULL};
    char start_s[16];
    snprintf(start_s, sizeof start_s, "%d", (int)start);
    p[1] = start_s;
    PGresult *r = PQexecParams(c,
                               "WITH gone AS (DELETE FROM gtfs_trips WHERE trip_id <> $1)"
                               " INSERT INTO gtfs_frequencies VALUES ($1, $2::int,"
                               " $2::int + 3 * 1800, 1800, 1)",
                               2, NULL, p, NULL, NULL, 0);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
    PQclear(r);

    struct drive d;
    drive_start(&d, db, c, SERVICE_NOON_MS);
    uint32_t runs[3], n = 0;
    for (uint32_t i = 0; i < d.net->n_trips; i++)
        if (!strcmp(d.net->trips[i].id, trip_id) &&
            llabs(d.net->trips[i].day_start_ms + 12 * 3600000LL - SERVICE_NOON_MS) < 3600000) {
            cr_assert_lt(n, 3, "more than three runs that day");
            runs[n++] = i;
        }
    cr_assert_eq(n, 3);
    for (uint32_t k = 0; k < 3; k++) {
        const struct buyt_network_trip *run = &d.net->trips[runs[k]];
        cr_assert_eq(run->run_start_s, start + (int32_t)k * 1800);
        cr_assert_eq(run->start_s, run->run_start_s, "a run leaves its first stop at its start");
        cr_assert(run->valid);
    }
    uint32_t second = runs[1];
    cr_assert_eq(buyt_engine_utc_offset(&d.e, SERVICE_NOON_MS), -7 * 3600);
    struct truth tr;
    drive_trip(&d, second, &tr);
    struct buyt_vehicle *v = buyt_vehicles_find(&d.e.vehicles, "tm1");
    cr_assert_eq(v->trip, second, "assigned run %d, drove run %d",
                 v->trip == BUYT_NETWORK_NONE ? -2 : d.net->trips[v->trip].run_start_s,
                 d.net->trips[second].run_start_s);
    check_stop_events(c, d.net, second, &tr, start + 1800);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM stop_events WHERE run_start_s <> %d",
             (int)(start + 1800));
    cr_assert_eq(buyt_test_sql_int(c, sql), 0, "events stored under another run");
    PQfinish(c);
    drive_stop(&d);
}

/* Signs' clock times follow the feed's zone, daylight saving included: the network load reads
 * the zone's hourly offsets from PostgreSQL and the engine hands them to the boards. The
 * minimal fixture imported as New York, loaded for 2024-03-10 (clocks go 02:00 EST -> 03:00
 * EDT that night). */
Test(ingest_match, clock_times_follow_the_feeds_zone_across_daylight_saving)
{
    char db[512];
    PGconn *c = import_feed(db, BUYT_SOURCE_DIR "/tests/fixtures/gtfs/minimal",
                            "--timezone America/New_York");
    struct buyt_network *net;
    struct buyt_netload_info info;
    char err[512];
    const int64_t noon = 1710086400000LL;         /* 2024-03-10 12:00 EDT */
    const int64_t before = 1710052200000LL;       /* 2024-03-10 01:30 EST */
    const int64_t after = 1710055800000LL;        /* 2024-03-10 03:30 EDT */
    const int64_t first_noon = 1710003600000LL;   /* 2024-03-09 12:00 EST */
    cr_assert_eq(buyt_netload(c, noon, -1, 1, &net, &info, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(info.timezone, "America/New_York");
    /* 03-09 00:00 EST .. 03-13 00:00 EDT hourly: 4 days less the hour that never was, + 1. */
    cr_assert_eq(info.n_tz, 4 * 24 - 1 + 1);
    cr_assert_eq(buyt_netload_utc_offset(&info, first_noon, 0), -5 * 3600);
    cr_assert_eq(buyt_netload_utc_offset(&info, before, 0), -5 * 3600);
    cr_assert_eq(buyt_netload_utc_offset(&info, before + 1799999, 0), -5 * 3600); /* 01:59:59 */
    cr_assert_eq(buyt_netload_utc_offset(&info, before + 1800000, 0), -4 * 3600); /* 03:00 */
    cr_assert_eq(buyt_netload_utc_offset(&info, after, 0), -4 * 3600);
    cr_assert_eq(buyt_netload_utc_offset(&info, noon + 30LL * 86400000, 0), -4 * 3600,
                 "past the table: its last hour");
    struct buyt_netload_info none = {0};
    cr_assert_eq(buyt_netload_utc_offset(&none, noon, 25200), 25200, "no table: the fallback");

    /* The engine: boards get the zone's offset when the network is set. */
    char spool[] = "/tmp/buyt-spool-XXXXXX";
    cr_assert_not_null(mkdtemp(spool));
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct buyt_engine e;
    struct buyt_engine_config ec = {.agency = "hn", .conninfo = db, .spool_dir = spool};
    cr_assert_eq(buyt_engine_init(&e, &loop, &ec, err, sizeof err), 0, "%s", err);
    cr_assert_eq(buyt_engine_predict_init(&e, err, sizeof err), 0, "%s", err);
    /* engine_init loaded the days around today already: New York's offset now, not UTC+7. */
    int32_t today = buyt_boards_utc_offset(e.boards);
    cr_assert(today == -5 * 3600 || today == -4 * 3600, "offset today %d", today);
    cr_assert_eq(today, buyt_engine_utc_offset(&e, buyt_wall_ms()));
    buyt_engine_set_network(&e, net, &info);
    cr_assert_eq(buyt_engine_utc_offset(&e, before), -5 * 3600);
    cr_assert_eq(buyt_engine_utc_offset(&e, after), -4 * 3600);
    /* Set with the wall clock's offset: years after the loaded days, the table's last hour. */
    cr_assert_eq(buyt_boards_utc_offset(e.boards), -4 * 3600);
    cr_assert_eq(uv_loop_close(&loop), 0, "handles left open");
    buyt_engine_close(&e);
    PQfinish(c);
    char rm[256];
    snprintf(rm, sizeof rm, "rm -rf '%s'", spool);
    cr_assert_eq(system(rm), 0);
}

/* frequencies.txt windows are expanded into runs at load: the `vi` fixture's weekend trip 02_1
 * (06:00-22:00 every 15 min, 45 min long) on the Sunday of the three days loaded. */
Test(ingest_match, frequency_trips_are_expanded_into_runs_at_load)
{
    char db[512], err[512];
    PGconn *c = import_feed(db, BUYT_SOURCE_DIR "/tests/fixtures/gtfs/vi", "");
    struct buyt_network *net;
    struct buyt_netload_info info;
    const int64_t monday_noon = 1718625600000LL; /* 2024-06-17 12:00 UTC, the feed's zone */
    cr_assert_eq(buyt_netload(c, monday_noon, -1, 1, &net, &info, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(info.frequency_trips, 1, "the fixture has one trip with a headway window");
    cr_assert_eq(info.frequency_runs, 64, "06:00, 06:15, ... 21:45 (22:00 is the window's end)");
    uint32_t n = 0;
    int32_t next = 6 * 3600;
    for (uint32_t i = 0; i < net->n_trips; i++) {
        const struct buyt_network_trip *t = &net->trips[i];
        if (strcmp(t->id, "02_1"))
            continue;
        cr_assert_eq(t->day_start_ms, 1718539200000LL - 12 * 3600000LL, "Sunday 2024-06-16");
        cr_assert_eq(t->run_start_s, next, "runs in order, every 900 s");
        cr_assert(t->headway_based, "exact_times blank = 0");
        cr_assert(t->valid);
        cr_assert_eq(net->times[t->first_time].departure_s, next);
        cr_assert_eq(net->times[t->first_time + 1].arrival_s, next + 45 * 60,
                     "the template's 45 min from KM to YN");
        next += 900;
        n++;
    }
    cr_assert_eq(n, 64);
    /* Scheduled trips are not runs. */
    uint32_t s = buyt_network_trip_find(net, "01_1", monday_noon);
    cr_assert_neq(s, BUYT_NETWORK_NONE);
    cr_assert_eq(net->trips[s].run_start_s, BUYT_NETWORK_NOT_A_RUN);
    buyt_network_free(net);

    /* Without its window the trip is an ordinary one: its stop times as written. */
    buyt_test_sql_exec(c, "DELETE FROM gtfs_frequencies");
    cr_assert_eq(buyt_netload(c, monday_noon, -1, 1, &net, &info, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(info.frequency_trips, 0);
    cr_assert_eq(info.frequency_runs, 0);
    uint32_t t = buyt_network_trip_find(net, "02_1", monday_noon);
    cr_assert_neq(t, BUYT_NETWORK_NONE);
    cr_assert_eq(net->trips[t].run_start_s, BUYT_NETWORK_NOT_A_RUN);
    cr_assert_eq(net->trips[t].start_s, 6 * 3600);
    buyt_network_free(net);
    PQfinish(c);
}
