/* buyt-eval end to end: a generated GTFS feed imported with buyt-gtfs, buses whose street is
 * slower than the timetable recorded as a CSV file, and the same fixes stored in PostgreSQL
 * (with the drivers' sign-ins): the report ranks the learned predictor above OneBusAway's
 * schedule + delay, and that above the schedule, in both modes. */
#include "testkit.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NSTOP 10
#define NTRIP 24
#define FIRST_S (6 * 3600) /* 06:00 local */
#define HEADWAY_S 600
#define SCHED_SEG_S 60
#define TRUE_SEG_S 90
#define DWELL_S 15
#define LAT 21.03
#define LON0 105.80
#define DLON 0.003849          /* 400 m at 21.03 N */
#define DAY_MS 1714496400000LL /* 2024-05-01 00:00 +07 (Wednesday) */

static void put(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

/* A straight route east through ten stops, a trip every 10 min, 60 s per segment. */
static void make_feed(const char *dir)
{
    mkdir(dir, 0755);
    put(dir, "agency.txt",
        "agency_id,agency_name,agency_url,agency_timezone\n"
        "HN,Hà Nội Bus,http://example.com,Asia/Ho_Chi_Minh\n");
    put(dir, "routes.txt",
        "route_id,agency_id,route_short_name,route_long_name,route_type\n"
        "R1,HN,01,Tuyến 01,3\n");
    put(dir, "calendar.txt",
        "service_id,monday,tuesday,wednesday,thursday,friday,saturday,"
        "sunday,start_date,end_date\nALL,1,1,1,1,1,1,1,20240101,20241231\n");
    char buf[65536];
    int n = snprintf(buf, sizeof buf, "stop_id,stop_name,stop_lat,stop_lon\n");
    for (int k = 0; k < NSTOP; k++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "s%d,Điểm %d,%.6f,%.6f\n", k, k, LAT,
                      LON0 + k * DLON);
    put(dir, "stops.txt", buf);
    n = snprintf(buf, sizeof buf, "route_id,service_id,trip_id,trip_headsign\n");
    for (int i = 0; i < NTRIP; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "R1,ALL,T%02d,Đông\n", i);
    put(dir, "trips.txt", buf);
    n = snprintf(buf, sizeof buf, "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n");
    for (int i = 0; i < NTRIP; i++)
        for (int k = 0; k < NSTOP; k++) {
            int t = FIRST_S + i * HEADWAY_S + k * SCHED_SEG_S;
            n += snprintf(buf + n, sizeof buf - (size_t)n,
                          "T%02d,%02d:%02d:%02d,%02d:%02d:%02d,s%d,%d\n", i, t / 3600, t / 60 % 60,
                          t % 60, t / 3600, t / 60 % 60, t % 60, k, k + 1);
        }
    put(dir, "stop_times.txt", buf);
}

/* Where a bus that left s0 at dep_ms is (stops passed, as a fraction of the line). */
static double truth(int64_t dep_ms, int64_t ms, double *speed)
{
    *speed = 0;
    if (ms <= dep_ms)
        return 0;
    double t = (double)(ms - dep_ms) / 1000.0;
    for (int k = 1; k < NSTOP; k++) {
        if (t < TRUE_SEG_S) {
            *speed = 400.0 / TRUE_SEG_S;
            return k - 1 + t / TRUE_SEG_S;
        }
        t -= TRUE_SEG_S;
        if (k + 1 == NSTOP)
            break;
        if (t < DWELL_S)
            return k;
        t -= DWELL_S;
    }
    return NSTOP - 1;
}

struct fixrec {
    char vehicle[8], trip[8];
    int64_t ms;
    double lat, lon, speed;
};

/* The recorded fixes, in time order: four buses taking turns, one fix every 3 s. */
static size_t make_fixes(struct fixrec **out)
{
    size_t cap = 200000, n = 0;
    struct fixrec *r = malloc(cap * sizeof *r);
    int64_t trip_ms = (int64_t)(NSTOP - 1) * (TRUE_SEG_S + DWELL_S) * 1000;
    int64_t t0 = DAY_MS + (FIRST_S - 120) * 1000LL;
    int64_t t1 = DAY_MS + (FIRST_S + (NTRIP - 1) * HEADWAY_S) * 1000LL + trip_ms + 60000;
    for (int64_t ms = t0; ms <= t1; ms += 3000)
        for (int i = 0; i < NTRIP; i++) {
            int64_t dep = DAY_MS + (int64_t)(FIRST_S + i * HEADWAY_S) * 1000;
            if (ms < dep - 120000 || ms > dep + trip_ms + 30000)
                continue;
            cr_assert_lt(n, cap);
            struct fixrec *f = &r[n++];
            double speed, x = truth(dep, ms, &speed);
            snprintf(f->vehicle, sizeof f->vehicle, "bus%d", i % 4);
            snprintf(f->trip, sizeof f->trip, "T%02d", i);
            f->ms = ms;
            f->lat = LAT;
            f->lon = LON0 + x * DLON;
            f->speed = speed;
        }
    *out = r;
    return n;
}

static void write_csv(const char *path, const struct fixrec *r, size_t n)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    /* Columns in another order than the documentation's, extra ones ignored; times in both
     * accepted forms; the rows not in time order (buyt-eval sorts). */
    fprintf(f, "timestamp,lat,lon,note,vehicle_id,speed,bearing,trip_id\n");
    for (size_t j = 0; j < n; j++) {
        size_t i = (j % 2) ? n - 1 - j / 2 : j / 2; /* interleave from both ends */
        const struct fixrec *x = &r[i];
        char ts[64];
        if (i % 2) {
            snprintf(ts, sizeof ts, "%.3f", x->ms / 1000.0);
        } else { /* ISO-8601 in local time with its offset */
            int64_t s = x->ms / 1000 + 7 * 3600;
            snprintf(ts, sizeof ts, "2024-05-01T%02d:%02d:%02d+07:00", (int)(s / 3600 % 24),
                     (int)(s / 60 % 60), (int)(s % 60));
        }
        fprintf(f, "%s,%.7f,%.7f,\"a, \"\"quoted\"\" note\",%s,%.2f,%s,%s\n", ts, x->lat, x->lon,
                x->vehicle, x->speed, x->speed > 0 ? "90" : "", x->trip);
    }
    fclose(f);
}

static json_t *run_eval(const char *args, int *status)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s/buyt-eval %s --json", BUYT_BIN_DIR, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    static char out[1 << 16];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    *status = pclose(p);
    json_error_t je;
    return json_loads(out, 0, &je);
}

static double score(json_t *j, const char *pred)
{
    return json_real_value(
        json_object_get(json_object_get(json_object_get(j, "predictors"), pred), "score"));
}

static long long num(json_t *j, const char *key)
{
    return (long long)json_integer_value(json_object_get(j, key));
}

Test(eval, ranks_predictors_from_a_csv_file_and_from_stored_fixes)
{
    char db[512], dir[] = "/tmp/buyt-eval-XXXXXX", cmd[2048];
    cr_assert_not_null(mkdtemp(dir));
    char feed[600], csv[600];
    snprintf(feed, sizeof feed, "%s/feed", dir);
    snprintf(csv, sizeof csv, "%s/fixes.csv", dir);
    make_feed(feed);
    buyt_test_fresh_db(db, sizeof db);
    snprintf(cmd, sizeof cmd, "%s/buyt-gtfs import --db '%s' --feed '%s' --agency hn >/dev/null",
             BUYT_BIN_DIR, db, feed);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    struct fixrec *fx;
    size_t n = make_fixes(&fx);
    write_csv(csv, fx, n);

    /* From the CSV file. */
    char args[1400];
    snprintf(args, sizeof args, "--db '%s' --fixes '%s'", db, csv);
    int st;
    json_t *j = run_eval(args, &st);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    cr_assert_not_null(j);
    cr_assert_eq(num(j, "fixes"), (long long)n);
    cr_assert_eq(num(j, "fixes_refused"), 0);
    cr_assert_eq(num(j, "vehicles"), 4);
    cr_assert_eq(num(j, "stop_events"), NTRIP * NSTOP, "every stop of every trip detected");
    cr_assert_gt(num(j, "scored"), 1000);
    double s = score(j, "schedule"), o = score(j, "oba"), k = score(j, "kalman"),
           b = score(j, "buyt");
    cr_log_info("csv: schedule %.3f oba %.3f kalman %.3f buyt %.3f", s, o, k, b);
    cr_assert_gt(o, s);
    cr_assert_gt(b, o);
    cr_assert_geq(b, 0.85);
    long long scored_csv = num(j, "scored");
    json_decref(j);

    /* The same fixes stored by the engine, with the drivers' sign-ins. */
    PGconn *c = buyt_test_pg_connect(db);
    buyt_test_sql_exec(c, "SELECT buyt_fix_partition_ensure('2024-04-30'),"
                          " buyt_fix_partition_ensure('2024-05-01')");
    buyt_test_sql_exec(c, "INSERT INTO vehicles (agency, vehicle_id) VALUES ('hn', 'bus0'),"
                          " ('hn', 'bus1'), ('hn', 'bus2'), ('hn', 'bus3'), ('xx', 'other')");
    FILE *f = fopen(csv, "w"); /* reuse the file: a COPY source */
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%.3f\t%s\t%d\t%d\t%d\t%d\n", fx[i].ms / 1000.0, fx[i].vehicle,
                (int)lround(fx[i].lat * 1e7), (int)lround(fx[i].lon * 1e7),
                (int)lround(fx[i].speed * 100), fx[i].speed > 0 ? 900 : -1);
    fclose(f);
    buyt_test_sql_exec(c, "CREATE TEMP TABLE fx_in (t float8, v text, lat int, lon int,"
                          " speed int, course int)");
    snprintf(cmd, sizeof cmd, "COPY fx_in FROM '%s'", csv);
    chmod(dir, 0755);
    chmod(csv, 0644);
    buyt_test_sql_exec(c, cmd);
    buyt_test_sql_exec(c, "INSERT INTO fixes SELECT to_timestamp(t), v.id, lat, lon, speed,"
                          " course FROM fx_in JOIN vehicles v ON v.vehicle_id = fx_in.v");
    /* A sign-in per trip, a second before its first fix; a foreign agency's noise. */
    for (int i = 0; i < NTRIP; i++) {
        int64_t at = DAY_MS + (int64_t)(FIRST_S + i * HEADWAY_S - 121) * 1000;
        snprintf(cmd, sizeof cmd,
                 "INSERT INTO driver_events (time, vehicle, seq, kind, trip_id)"
                 " SELECT to_timestamp(%lld / 1000.0), id, %d, 1, 'T%02d' FROM vehicles"
                 " WHERE vehicle_id = 'bus%d'",
                 (long long)at, i, i, i % 4);
        buyt_test_sql_exec(c, cmd);
    }
    buyt_test_sql_exec(c, "INSERT INTO fixes SELECT time, v.id, lat_e7 + 100000, lon_e7, 0, -1"
                          " FROM fixes, vehicles v WHERE v.vehicle_id = 'other' LIMIT 100");
    PQfinish(c);
    snprintf(args, sizeof args,
             "--db '%s' --from 2024-04-30T22:00:00Z --to 2024-05-01T06:00:00Z --agency hn", db);
    j = run_eval(args, &st);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    cr_assert_not_null(j);
    cr_assert_eq(num(j, "fixes"), (long long)n, "the other agency's fixes are left out");
    cr_assert_eq(num(j, "stop_events"), NTRIP * NSTOP);
    double b2 = score(j, "buyt"), o2 = score(j, "oba"), s2 = score(j, "schedule");
    cr_log_info("db: schedule %.3f oba %.3f buyt %.3f", s2, o2, b2);
    cr_assert_gt(b2, o2);
    cr_assert_gt(o2, s2);
    cr_assert_lt(fabs(b2 - b), 0.05, "the stored fixes tell the same story");
    cr_assert_lt(llabs(num(j, "scored") - scored_csv), scored_csv / 20 + 1);
    json_decref(j);
    free(fx);
}

Test(eval, refuses_a_csv_without_the_required_columns)
{
    char db[512], path[] = "/tmp/buyt-eval-bad-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    dprintf(fd, "vehicle_id,time,lat,lon\nbus0,1714532400,21.03,105.8\n");
    close(fd);
    buyt_test_fresh_db(db, sizeof db);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "%s/buyt-eval --db '%s' --fixes '%s' 2>&1", BUYT_BIN_DIR, db, path);
    FILE *p = popen(cmd, "r");
    char out[4096];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d: %s", st, out);
    cr_assert_not_null(strstr(out, "lacks column timestamp"), "%s", out);
    unlink(path);
    snprintf(cmd, sizeof cmd, "%s/buyt-eval --db x --fixes y --from 1 --to 2 2>/dev/null",
             BUYT_BIN_DIR);
    st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "--fixes and --from are exclusive");
}
