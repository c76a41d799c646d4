/* buyt-gtfs against a real PostgreSQL: the two real feeds of ../shared/data (exact counts and
 * values), the hand-written fixtures of tests/fixtures/gtfs (UTF-8 with BOM, columns in any
 * order, missing optional files, derived shapes, times past 24:00, a .zip), malformed feeds
 * (the error names file, line and column; the previous feed stays untouched), the atomic
 * replace seen from a second connection, and the CLI's arguments. */
#include "error.h"
#include "gtfs_fields.h"
#include "gtfs_import.h"
#include "testkit.h"

#include "../fixtures/gtfs/time_cases.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FIXTURES BUYT_SOURCE_DIR "/tests/fixtures/gtfs"

/* ------------------------------------------------------------------ helpers */

struct cli {
    int status;
    char out[16384];
    char err[4096];
};

static void slurp(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, len - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    unlink(path);
}

/* Runs bin/buyt-gtfs with `args` (shell words, already quoted); logs limited to errors so
 * stderr holds only the program's own message. */
static void cli(struct cli *r, const char *args)
{
    char out[64], err[64], cmd[4096];
    snprintf(out, sizeof out, "/tmp/buyt-gtfs-test-%d.out", (int)getpid());
    snprintf(err, sizeof err, "/tmp/buyt-gtfs-test-%d.err", (int)getpid());
    snprintf(cmd, sizeof cmd, "BUYT_LOG_LEVEL=error %s/buyt-gtfs %s >%s 2>%s", BUYT_BIN_DIR, args,
             out, err);
    int st = system(cmd);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    slurp(out, r->out, sizeof r->out);
    slurp(err, r->err, sizeof r->err);
}

static void import_cli(struct cli *r, const char *db, const char *feed, const char *extra)
{
    char args[2048];
    snprintf(args, sizeof args, "import --db '%s' --feed '%s' %s", db, feed, extra ? extra : "");
    cli(r, args);
}

static void import_ok(const char *db, const char *feed, const char *extra)
{
    struct cli r;
    import_cli(&r, db, feed, extra);
    cr_assert_eq(r.status, 0, "import of %s failed (%d): %s", feed, r.status, r.err);
}

static void sql_text(PGconn *c, const char *sql, char *buf, size_t len)
{
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    cr_assert_eq(PQntuples(r), 1, "%s", sql);
    snprintf(buf, len, "%s", PQgetisnull(r, 0, 0) ? "(null)" : PQgetvalue(r, 0, 0));
    PQclear(r);
}

static double sql_double(PGconn *c, const char *sql)
{
    char b[64];
    sql_text(c, sql, b, sizeof b);
    return strtod(b, NULL);
}

/* Everything an import writes, as one string: equal before and after means untouched. */
static void fingerprint(PGconn *c, char *buf, size_t len)
{
    sql_text(
        c,
        "SELECT (SELECT coalesce(max(version), 0) FROM gtfs_feed) || ':' || md5("
        "(SELECT coalesce(string_agg(t::text, ';' ORDER BY t::text), '') FROM gtfs_agency t)"
        " || (SELECT coalesce(string_agg(t::text, ';' ORDER BY t::text), '') FROM gtfs_routes t)"
        " || (SELECT coalesce(string_agg(t::text, ';' ORDER BY t::text), '') FROM gtfs_stops t)"
        " || (SELECT coalesce(string_agg(t::text, ';' ORDER BY t::text), '') FROM gtfs_shapes t)"
        " || (SELECT coalesce(string_agg(t::text, ';' ORDER BY t::text), '') FROM gtfs_trips t)"
        " || (SELECT coalesce(string_agg(t::text, ';' ORDER BY t::text), '') "
        "FROM gtfs_stop_times t)"
        " || (SELECT coalesce(string_agg(t::text, ';' ORDER BY t::text), '') "
        "FROM gtfs_calendar t)"
        " || (SELECT coalesce(string_agg(t::text, ';' ORDER BY t::text), '') "
        "FROM gtfs_calendar_dates t)"
        " || (SELECT coalesce(string_agg(t::text, ';' ORDER BY t::text), '') "
        "FROM gtfs_frequencies t))",
        buf, len);
}

static long count(PGconn *c, const char *table)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    return (long)buyt_test_sql_int(c, sql);
}

static const char *shared(const char *rel, char *buf, size_t len)
{
    const char *p = buyt_test_shared_data(rel, buf, len);
    if (!p)
        cr_skip_test("../shared/data/%s is absent", rel);
    return p;
}

static void setup(void)
{
    setenv("BUYT_LOG_LEVEL", "warn", 1);
}

TestSuite(gtfs_import, .init = setup, .timeout = 120);

/* ------------------------------------------------------------------ real feeds */

Test(gtfs_import, imports_hanoi_with_its_zone_overridden)
{
    char feed[512], db[256];
    shared("gtfs/hanoi-2018-derived", feed, sizeof feed);
    buyt_test_fresh_db(db, sizeof db);
    import_ok(db, feed, "--timezone Asia/Ho_Chi_Minh --agency hn");
    PGconn *c = buyt_test_pg_connect(db);
    /* Counts: data lines of each file (wc -l minus the header). */
    cr_assert_eq(count(c, "gtfs_agency"), 1);
    cr_assert_eq(count(c, "gtfs_routes"), 63);
    cr_assert_eq(count(c, "gtfs_stops"), 372);
    cr_assert_eq(count(c, "gtfs_trips"), 2447);
    cr_assert_eq(count(c, "gtfs_stop_times"), 14507);
    cr_assert_eq(count(c, "gtfs_shapes"), 14507);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(DISTINCT shape_id) FROM gtfs_shapes"), 2447);
    cr_assert_eq(count(c, "gtfs_calendar"), 1);
    cr_assert_eq(count(c, "gtfs_calendar_dates"), 0);
    cr_assert_eq(count(c, "gtfs_frequencies"), 0);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM gtfs_shapes WHERE derived"), 0);
    char s[128];
    sql_text(c, "SELECT stop_name FROM gtfs_stops WHERE stop_id = '01_1_S12'", s, sizeof s);
    cr_assert_str_eq(s, "STOP_01_1_S12");
    cr_assert_float_eq(sql_double(c, "SELECT stop_lat FROM gtfs_stops WHERE stop_id = '01_1_S12'"),
                       21.019377, 1e-9);
    cr_assert_float_eq(sql_double(c, "SELECT stop_lon FROM gtfs_stops WHERE stop_id = '01_1_S12'"),
                       105.837823, 1e-9);
    /* 01_1_MD_1,01_1_S12,10:08:01,... */
    cr_assert_eq(buyt_test_sql_int(c, "SELECT arrival_time FROM gtfs_stop_times "
                                      "WHERE trip_id = '01_1_MD_1' AND stop_sequence = 1"),
                 10 * 3600 + 8 * 60 + 1);
    /* The latest time in the file is 18:00:37: no trip runs past midnight. */
    cr_assert_eq(buyt_test_sql_int(c, "SELECT max(arrival_time) FROM gtfs_stop_times"), 64837);
    sql_text(c, "SELECT timezone || ' ' || feed_timezone || ' ' || agency FROM gtfs_feed_current",
             s, sizeof s);
    cr_assert_str_eq(s, "Asia/Ho_Chi_Minh UTC hn");
    sql_text(c, "SELECT agency_timezone FROM gtfs_agency", s, sizeof s);
    cr_assert_str_eq(s, "Asia/Ho_Chi_Minh");
    PQfinish(c);
}

Test(gtfs_import, imports_trimet_with_distances_timepoints_and_calendar_dates)
{
    char feed[512], db[256];
    shared("gtfs/trimet-line1-2018", feed, sizeof feed);
    buyt_test_fresh_db(db, sizeof db);
    import_ok(db, feed, NULL);
    PGconn *c = buyt_test_pg_connect(db);
    cr_assert_eq(count(c, "gtfs_agency"), 1);
    cr_assert_eq(count(c, "gtfs_routes"), 1);
    cr_assert_eq(count(c, "gtfs_stops"), 102);
    cr_assert_eq(count(c, "gtfs_trips"), 78);
    cr_assert_eq(count(c, "gtfs_stop_times"), 4133);
    cr_assert_eq(count(c, "gtfs_shapes"), 8241);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(DISTINCT shape_id) FROM gtfs_shapes"), 14);
    cr_assert_eq(count(c, "gtfs_calendar"), 1);
    cr_assert_eq(count(c, "gtfs_calendar_dates"), 114);
    char s[128];
    sql_text(c, "SELECT stop_name FROM gtfs_stops WHERE stop_id = '155'", s, sizeof s);
    cr_assert_str_eq(s, "4900 Block SW Barbur");
    cr_assert_float_eq(sql_double(c, "SELECT stop_lat FROM gtfs_stops WHERE stop_id = '155'"),
                       45.487059, 1e-9);
    cr_assert_float_eq(sql_double(c, "SELECT stop_lon FROM gtfs_stops WHERE stop_id = '155'"),
                       -122.682757, 1e-9);
    /* 7925551,06:45:25,06:45:25,7631,2,45th Ave,0,0,875.1,0,, */
    cr_assert_float_eq(sql_double(c, "SELECT shape_dist_traveled FROM gtfs_stop_times "
                                     "WHERE trip_id = '7925551' AND stop_sequence = 2"),
                       875.1, 1e-9);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT timepoint FROM gtfs_stop_times "
                                      "WHERE trip_id = '7925551' AND stop_sequence = 2"),
                 0);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT departure_time FROM gtfs_stop_times "
                                      "WHERE trip_id = '7925551' AND stop_sequence = 2"),
                 6 * 3600 + 45 * 60 + 25);
    /* Trips run on services known only from calendar_dates.txt. */
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM gtfs_trips "
                                      "WHERE service_id = 'W.504'"),
                 26);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM buyt_gtfs_services_on('2018-06-01') "
                                      "s WHERE s IN ('unknown', 'W.504')"),
                 2);
    sql_text(c, "SELECT agency || ' ' || timezone || ' ' || feed_version FROM gtfs_feed_current", s,
             sizeof s);
    cr_assert_str_eq(s, "trimet America/Los_Angeles 20180128-20180206-0148");
    PQfinish(c);
}

/* ------------------------------------------------------------------ fixtures */

Test(gtfs_import, vietnamese_names_round_trip_through_bom_and_reordered_columns)
{
    char db[256], s[256];
    buyt_test_fresh_db(db, sizeof db);
    import_ok(db, FIXTURES "/vi", NULL);
    PGconn *c = buyt_test_pg_connect(db);
    sql_text(c, "SELECT stop_name FROM gtfs_stops WHERE stop_id = 'GB'", s, sizeof s);
    cr_assert_str_eq(s, "B\xe1\xba\xbfn xe Gi\xc3\xa1p B\xc3\xa1t"); /* Bến xe Giáp Bát */
    sql_text(c, "SELECT stop_name FROM gtfs_stops WHERE stop_id = 'BH'", s, sizeof s);
    cr_assert_str_eq(s, "H\xe1\xbb\x93 Ho\xc3\xa0n Ki\xe1\xba\xbfm"); /* Hồ Hoàn Kiếm */
    /* stops.txt starts with a BOM and with stop_lon: both columns were still found. */
    cr_assert_float_eq(sql_double(c, "SELECT stop_lon FROM gtfs_stops WHERE stop_id = 'GB'"),
                       105.8413, 1e-9);
    cr_assert_float_eq(sql_double(c, "SELECT stop_lat FROM gtfs_stops WHERE stop_id = 'GB'"),
                       20.9809, 1e-9);
    sql_text(c, "SELECT agency_id || '|' || agency_name FROM gtfs_agency", s, sizeof s);
    cr_assert_str_eq(s, "HN|C\xc3\xb4ng ty Xe bu\xc3\xbdt H\xc3\xa0 N\xe1\xbb\x99i");
    sql_text(c, "SELECT route_long_name FROM gtfs_routes WHERE route_id = '01'", s, sizeof s);
    cr_assert_str_eq(s, "B\xe1\xbb\x9d H\xe1\xbb\x93 - Gi\xc3\xa1p B\xc3\xa1t, qua L\xc3\xaa "
                        "Du\xe1\xba\xa9n"); /* quoted field with a comma */
    sql_text(c, "SELECT route_color FROM gtfs_routes WHERE route_id = '01'", s, sizeof s);
    cr_assert_str_eq(s, "00A651");
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM gtfs_routes WHERE route_desc IS NULL "
                                      "AND route_color IS NULL AND route_id = '02'"),
                 1);
    /* An unknown column (ghi_chu) is ignored; a blank location_type is the default 0. */
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM gtfs_stops WHERE location_type = 0"),
                 5);
    /* CRLF files and trailing blank lines. */
    cr_assert_eq(count(c, "gtfs_trips"), 3);
    cr_assert_eq(count(c, "gtfs_stop_times"), 8);
    /* agency_id "HN" gives the operator code; the feed's own zone stands. */
    sql_text(c, "SELECT agency || ' ' || timezone FROM gtfs_feed_current", s, sizeof s);
    cr_assert_str_eq(s, "hn UTC");
    PQfinish(c);
}

Test(gtfs_import, keeps_times_past_midnight_and_blank_times_between_timepoints)
{
    char db[256];
    buyt_test_fresh_db(db, sizeof db);
    import_ok(db, FIXTURES "/vi", NULL);
    PGconn *c = buyt_test_pg_connect(db);
    /* 3,GB,01_1,24:20:00,24:15:00 (departure before arrival in this file's header) */
    cr_assert_eq(buyt_test_sql_int(c, "SELECT arrival_time FROM gtfs_stop_times "
                                      "WHERE trip_id = '01_1' AND stop_sequence = 3"),
                 24 * 3600 + 15 * 60);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT departure_time FROM gtfs_stop_times "
                                      "WHERE trip_id = '01_1' AND stop_sequence = 3"),
                 24 * 3600 + 20 * 60);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT arrival_time FROM gtfs_stop_times "
                                      "WHERE trip_id = '01_2' AND stop_sequence = 2"),
                 90600); /* 25:10:00 */
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM gtfs_stop_times WHERE trip_id = "
                                      "'01_1' AND stop_sequence = 2 AND arrival_time IS NULL "
                                      "AND departure_time IS NULL AND timepoint = 0"),
                 1);
    /* "6:00:00" with one hour digit */
    cr_assert_eq(buyt_test_sql_int(c, "SELECT departure_time FROM gtfs_stop_times "
                                      "WHERE trip_id = '02_1' AND stop_sequence = 1"),
                 21600);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM gtfs_frequencies WHERE trip_id = "
                                      "'02_1' AND start_time = 21600 AND end_time = 79200 AND "
                                      "headway_secs = 900 AND exact_times = 0"),
                 1);
    char s[64];
    sql_text(c, "SELECT buyt_gtfs_time_text(max(departure_time)) FROM gtfs_stop_times", s,
             sizeof s);
    cr_assert_str_eq(s, "25:30:00");
    PQfinish(c);
}

Test(gtfs_import, derives_one_shape_per_stop_pattern_when_shapes_txt_is_missing)
{
    char db[256], s[128];
    buyt_test_fresh_db(db, sizeof db);
    import_ok(db, FIXTURES "/vi", NULL);
    PGconn *c = buyt_test_pg_connect(db);
    /* 01_1 and 01_2 stop at BH, GHN, GB; 02_1 at KM, YN. */
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(DISTINCT shape_id) FROM gtfs_shapes "
                                      "WHERE derived"),
                 2);
    cr_assert_eq(count(c, "gtfs_shapes"), 5);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM gtfs_trips WHERE shape_id IS NULL"), 0);
    const char *pattern[] = {"BH", "GHN", "GB"};
    char id[BUYT_GTFS_DERIVED_ID_MAX];
    cr_assert_eq(buyt_gtfs_derived_shape_id(pattern, 3, id), 0);
    sql_text(c, "SELECT shape_id FROM gtfs_trips WHERE trip_id = '01_2'", s, sizeof s);
    cr_assert_str_eq(s, id, "SQL and C derive different ids");
    sql_text(c, "SELECT shape_id FROM gtfs_trips WHERE trip_id = '01_1'", s, sizeof s);
    cr_assert_str_eq(s, id);
    /* The points are the stops, in order. */
    sql_text(c,
             "SELECT string_agg(shape_pt_lat::text || ',' || shape_pt_lon::text, ' ' "
             "ORDER BY shape_pt_sequence) FROM gtfs_shapes WHERE shape_id = "
             "(SELECT shape_id FROM gtfs_trips WHERE trip_id = '01_1')",
             s, sizeof s);
    cr_assert_str_eq(s, "21.0287,105.8522 21.0149,105.8446 20.9809,105.8413");
    sql_text(c, "SELECT n_shapes || ' ' || n_derived_shapes FROM gtfs_feed_current", s, sizeof s);
    cr_assert_str_eq(s, "2 2");
    PQfinish(c);
}

Test(gtfs_import, derives_shapes_only_for_trips_without_one)
{
    char db[256], s[128];
    buyt_test_fresh_db(db, sizeof db);
    import_ok(db, FIXTURES "/mixed", NULL);
    PGconn *c = buyt_test_pg_connect(db);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(DISTINCT shape_id) FROM gtfs_shapes"), 2);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM gtfs_shapes WHERE derived"), 2);
    sql_text(c, "SELECT shape_id FROM gtfs_trips WHERE trip_id = 'A'", s, sizeof s);
    cr_assert_str_eq(s, "SH1");
    const char *pattern[] = {"P2", "P1"};
    char id[BUYT_GTFS_DERIVED_ID_MAX];
    cr_assert_eq(buyt_gtfs_derived_shape_id(pattern, 2, id), 0);
    sql_text(c, "SELECT shape_id FROM gtfs_trips WHERE trip_id = 'B'", s, sizeof s);
    cr_assert_str_eq(s, id);
    cr_assert_float_eq(sql_double(c, "SELECT shape_dist_traveled FROM gtfs_shapes "
                                     "WHERE shape_id = 'SH1' AND shape_pt_sequence = 2"),
                       900.5, 1e-9);
    /* No agency_id with a single agency; a station with a platform; calendar_dates only. */
    sql_text(c, "SELECT '[' || agency_id || ']' FROM gtfs_agency", s, sizeof s);
    cr_assert_str_eq(s, "[]");
    sql_text(c, "SELECT agency FROM gtfs_feed_current", s, sizeof s);
    cr_assert_str_eq(s, "mixed-lines");
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM gtfs_stops WHERE stop_id = 'P1' "
                                      "AND parent_station = 'ST'"),
                 1);
    cr_assert_eq(count(c, "gtfs_calendar"), 0);
    sql_text(c, "SELECT string_agg(s, ',') FROM buyt_gtfs_services_on('2024-06-01') s", s,
             sizeof s);
    cr_assert_str_eq(s, "X");
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM buyt_gtfs_services_on('2024-06-03')"),
                 0);
    PQfinish(c);
}

Test(gtfs_import, missing_optional_files_are_fine)
{
    char db[256];
    buyt_test_fresh_db(db, sizeof db);
    import_ok(db, FIXTURES "/minimal", NULL); /* no shapes, calendar_dates, frequencies */
    PGconn *c = buyt_test_pg_connect(db);
    cr_assert_eq(count(c, "gtfs_calendar_dates"), 0);
    cr_assert_eq(count(c, "gtfs_frequencies"), 0);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(DISTINCT shape_id) FROM gtfs_shapes "
                                      "WHERE derived"),
                 2);
    /* Monday 2024-06-03 runs WK; Saturday 2024-06-01 nothing. */
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM buyt_gtfs_services_on('2024-06-03')"),
                 1);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM buyt_gtfs_services_on('2024-06-01')"),
                 0);
    PQfinish(c);
}

Test(gtfs_import, imports_a_zip_with_its_files_in_a_folder)
{
    char a[256], b[256];
    buyt_test_fresh_db(a, sizeof a);
    buyt_test_fresh_db(b, sizeof b);
    import_ok(a, FIXTURES "/vi", NULL);
    import_ok(b, FIXTURES "/vi.zip", NULL);
    PGconn *ca = buyt_test_pg_connect(a), *cb = buyt_test_pg_connect(b);
    char fa[128], fb[128];
    fingerprint(ca, fa, sizeof fa);
    fingerprint(cb, fb, sizeof fb);
    cr_assert_str_eq(fa, fb, "the zip and the folder gave different rows");
    PQfinish(ca);
    PQfinish(cb);
}

Test(gtfs_import, reimport_replaces_the_feed_and_bumps_the_version)
{
    char db[256], s[64];
    buyt_test_fresh_db(db, sizeof db);
    import_ok(db, FIXTURES "/minimal", "--agency op1");
    import_ok(db, FIXTURES "/minimal", NULL);
    PGconn *c = buyt_test_pg_connect(db);
    cr_assert_eq(count(c, "gtfs_stop_times"), 5);
    sql_text(c, "SELECT version || ' ' || agency FROM gtfs_feed_current", s, sizeof s);
    cr_assert_str_eq(s, "2 op1", "the operator code is kept across imports");
    import_ok(db, FIXTURES "/vi", NULL);
    cr_assert_eq(count(c, "gtfs_stop_times"), 8);
    cr_assert_eq(count(c, "gtfs_stops"), 5);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM gtfs_stops WHERE stop_id = 'S1'"), 0);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT max(version) FROM gtfs_feed"), 3);
    PQfinish(c);
}

/* ------------------------------------------------------------------ malformed feeds */

/* Imports the good vi feed, then `fixture`: the second import must fail with exactly
 * "buyt-gtfs: <expected>" and leave every row of the first. */
static void expect_refused(const char *fixture, const char *expected)
{
    char db[256], before[128], after[128], feed[512];
    buyt_test_fresh_db(db, sizeof db);
    import_ok(db, FIXTURES "/vi", NULL);
    PGconn *c = buyt_test_pg_connect(db);
    fingerprint(c, before, sizeof before);
    snprintf(feed, sizeof feed, "%s/%s", FIXTURES, fixture);
    struct cli r;
    import_cli(&r, db, feed, NULL);
    cr_assert_eq(r.status, 1, "%s: exit status %d, stderr: %s", fixture, r.status, r.err);
    char want[1024];
    snprintf(want, sizeof want, "buyt-gtfs: %s\n", expected);
    cr_assert_str_eq(r.err, want, "%s", fixture);
    fingerprint(c, after, sizeof after);
    cr_assert_str_eq(before, after, "%s changed the database", fixture);
    PQfinish(c);
}

Test(gtfs_refused, bad_time)
{
    expect_refused("bad-time", "stop_times.txt:3: column arrival_time: bad time \"25:61:00\" "
                               "(minutes out of range 00..59)");
}

Test(gtfs_refused, missing_required_column)
{
    expect_refused("missing-column", "trips.txt:1: missing required column service_id");
}

Test(gtfs_refused, dangling_route_id)
{
    expect_refused("dangling-route",
                   "trips.txt:3: column route_id: unknown route_id \"R9\" (not in routes.txt)");
}

Test(gtfs_refused, duplicate_stop_id)
{
    expect_refused("duplicate-stop",
                   "stops.txt:5: column stop_id: duplicate stop_id \"S2\" (first on line 3)");
}

Test(gtfs_refused, duplicate_stop_sequence_after_conversion)
{
    /* "01" and "1" are the same stop_sequence */
    expect_refused("duplicate-stop-time", "stop_times.txt:6: column stop_sequence: duplicate "
                                          "stop_sequence \"1\" for trip_id \"T2\" (first on "
                                          "line 5)");
}

Test(gtfs_refused, missing_required_file)
{
    expect_refused("missing-file", "stop_times.txt: missing required file");
}

Test(gtfs_refused, coordinate_out_of_range)
{
    expect_refused("bad-coordinate",
                   "stops.txt:3: column stop_lat: bad value \"95.01\" (expected a number -90..90)");
}

Test(gtfs_refused, hexadecimal_number)
{
    /* float8's input (strtod) reads "0x15" as 21.0: GTFS numbers are decimal */
    expect_refused("hex-coordinate",
                   "stops.txt:3: column stop_lat: bad value \"0x15\" (expected a number -90..90)");
}

Test(gtfs_refused, row_with_an_extra_field_reported_from_the_copy_context)
{
    expect_refused("extra-field", "stops.txt:4: extra data after last expected column");
}

Test(gtfs_refused, text_that_is_not_utf8)
{
    expect_refused("bad-utf8",
                   "stops.txt:3: invalid byte sequence for encoding \"UTF8\": 0xe1 0x6e 0x20");
}

Test(gtfs_refused, unknown_time_zone_without_override)
{
    expect_refused("unknown-zone", "agency.txt:2: column agency_timezone: unknown time zone "
                                   "\"Asia/Hanoi_Nowhere\" (use --timezone)");
}

Test(gtfs_refused, impossible_date)
{
    expect_refused("bad-date",
                   "calendar.txt:2: column end_date: bad date \"20240231\" (expected YYYYMMDD)");
}

Test(gtfs_refused, times_running_backwards)
{
    expect_refused("times-backwards", "stop_times.txt:6: column arrival_time: 08:50:00 is "
                                      "before the time at an earlier stop of the trip");
}

Test(gtfs_refused, dangling_stop_id)
{
    expect_refused("dangling-stop", "stop_times.txt:6: column stop_id: unknown stop_id \"S7\" "
                                    "(not in stops.txt)");
}

Test(gtfs_refused, a_zone_override_fixes_an_unknown_zone)
{
    char db[256];
    buyt_test_fresh_db(db, sizeof db);
    import_ok(db, FIXTURES "/unknown-zone", "--timezone Asia/Ho_Chi_Minh");
}

/* ------------------------------------------------------------------ atomic replace */

struct peek {
    const char *db;
    long stop_times, stops, version;
    int rc;
};

/* Runs inside the import transaction, just before COMMIT: another connection must see the
 * previous feed, whole, without waiting for a lock. */
static int peek_from_another_connection(void *arg)
{
    struct peek *p = arg;
    PGconn *c = buyt_test_pg_connect(p->db);
    buyt_test_sql_exec(c, "SET statement_timeout = '5s'"); /* a blocked reader fails */
    PGresult *r = PQexec(c, "SELECT (SELECT count(*) FROM gtfs_stop_times), "
                            "(SELECT count(*) FROM gtfs_stops), "
                            "(SELECT version FROM gtfs_feed_current)");
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "reader: %s", PQerrorMessage(c));
    p->stop_times = atol(PQgetvalue(r, 0, 0));
    p->stops = atol(PQgetvalue(r, 0, 1));
    p->version = atol(PQgetvalue(r, 0, 2));
    PQclear(r);
    PQfinish(c);
    return p->rc;
}

Test(gtfs_import, readers_see_the_old_feed_until_commit_and_are_not_blocked)
{
    char db[256];
    buyt_test_fresh_db(db, sizeof db);
    struct buyt_gtfs_options o = {.conninfo = db, .feed = FIXTURES "/minimal"};
    char err[512];
    cr_assert_eq(buyt_gtfs_import(&o, NULL, err, sizeof err), 0, "%s", err);
    struct peek p = {.db = db};
    o.feed = FIXTURES "/vi";
    o.before_commit = peek_from_another_connection;
    o.arg = &p;
    struct buyt_gtfs_result res;
    cr_assert_eq(buyt_gtfs_import(&o, &res, err, sizeof err), 0, "%s", err);
    cr_assert_eq(p.stop_times, 5, "a reader saw %ld stop_times mid-import", p.stop_times);
    cr_assert_eq(p.stops, 3);
    cr_assert_eq(p.version, 1);
    PGconn *c = buyt_test_pg_connect(db);
    cr_assert_eq(count(c, "gtfs_stop_times"), 8);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT version FROM gtfs_feed_current"), 2);
    cr_assert_eq(res.version, 2);
    cr_assert_eq(res.counts.stop_times, 8);
    cr_assert_eq(res.counts.derived_shapes, 2);
    cr_assert_str_eq(res.agency, "t"); /* derived from agency_id "T", then kept */
    PQfinish(c);
}

Test(gtfs_import, a_failure_at_the_last_moment_rolls_everything_back)
{
    char db[256], before[128], after[128];
    buyt_test_fresh_db(db, sizeof db);
    struct buyt_gtfs_options o = {.conninfo = db, .feed = FIXTURES "/minimal"};
    char err[512];
    cr_assert_eq(buyt_gtfs_import(&o, NULL, err, sizeof err), 0, "%s", err);
    PGconn *c = buyt_test_pg_connect(db);
    fingerprint(c, before, sizeof before);
    struct peek p = {.db = db, .rc = BUYT_EIO};
    o.feed = FIXTURES "/vi";
    o.before_commit = peek_from_another_connection;
    o.arg = &p;
    cr_assert_eq(buyt_gtfs_import(&o, NULL, err, sizeof err), BUYT_EIO);
    fingerprint(c, after, sizeof after);
    cr_assert_str_eq(before, after);
    /* The staging tables went with the transaction: a new import works at once. */
    o.before_commit = NULL;
    cr_assert_eq(buyt_gtfs_import(&o, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_eq(count(c, "gtfs_stop_times"), 8);
    PQfinish(c);
}

/* ------------------------------------------------------------------ SQL twins */

Test(gtfs_import, sql_time_function_agrees_with_the_c_parser)
{
    char db[256];
    buyt_test_fresh_db(db, sizeof db);
    PGconn *c = buyt_test_pg_connect(db);
    for (size_t i = 0; i < sizeof gtfs_time_cases / sizeof gtfs_time_cases[0]; i++) {
        const struct gtfs_time_case *k = &gtfs_time_cases[i];
        const char *p[1] = {k->text};
        PGresult *r = PQexecParams(c, "SELECT buyt_gtfs_time($1)", 1, NULL, p, NULL, NULL, 0);
        cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
        if (k->secs < 0)
            cr_assert(PQgetisnull(r, 0, 0), "\"%s\" gave %s", k->text, PQgetvalue(r, 0, 0));
        else
            cr_assert_eq(atol(PQgetvalue(r, 0, 0)), k->secs, "\"%s\"", k->text);
        PQclear(r);
    }
    char s[32];
    sql_text(c, "SELECT buyt_gtfs_time_text(90600)", s, sizeof s);
    cr_assert_str_eq(s, "25:10:00");
    sql_text(c, "SELECT buyt_gtfs_date('20240229')::text", s, sizeof s);
    cr_assert_str_eq(s, "2024-02-29");
    sql_text(c, "SELECT buyt_gtfs_date('20230229')", s, sizeof s);
    cr_assert_str_eq(s, "(null)");
    PQfinish(c);
}

/* ------------------------------------------------------------------ the command line */

static bool one_line(const char *s)
{
    const char *nl = strchr(s, '\n');
    return *s && nl && nl[1] == '\0';
}

Test(gtfs_cli, help_and_bad_arguments)
{
    struct cli r;
    cli(&r, "--help");
    cr_assert_eq(r.status, 0);
    cr_assert_not_null(strstr(r.out, "buyt-gtfs import --db CONNINFO --feed PATH"));
    cr_assert_not_null(strstr(r.out, "buyt-gtfs summary --db CONNINFO"));
    cli(&r, "import --help");
    cr_assert_eq(r.status, 0);
    cli(&r, "summary --help");
    cr_assert_eq(r.status, 0);
    const char *bad[] = {
        "",
        "frobnicate",
        "import --feed /tmp",
        "import --db x",
        "import --db x --feed",
        "import --db x --feed /tmp --bogus 1",
        "summary --db x --feed /tmp",
        "import --db x --db y --feed /tmp",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cli(&r, bad[i]);
        cr_assert_eq(r.status, 2, "'%s': status %d", bad[i], r.status);
        cr_assert(one_line(r.err), "'%s': not one line: %s", bad[i], r.err);
        cr_assert_eq(strncmp(r.err, "buyt-gtfs: ", 11), 0, "'%s': %s", bad[i], r.err);
    }
}

Test(gtfs_cli, bad_option_values_fail_with_one_line_and_change_nothing)
{
    char db[256], before[128], after[128];
    buyt_test_fresh_db(db, sizeof db);
    import_ok(db, FIXTURES "/minimal", NULL);
    PGconn *c = buyt_test_pg_connect(db);
    fingerprint(c, before, sizeof before);
    struct cli r;
    import_cli(&r, db, FIXTURES "/vi", "--timezone Mars/Olympus_Mons");
    cr_assert_eq(r.status, 1);
    cr_assert_str_eq(r.err, "buyt-gtfs: --timezone: unknown time zone \"Mars/Olympus_Mons\"\n");
    import_cli(&r, db, FIXTURES "/vi", "--agency 'a/b'");
    cr_assert_eq(r.status, 1);
    cr_assert(one_line(r.err), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "--agency"), "%s", r.err);
    import_cli(&r, db, FIXTURES "/no-such-feed", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert(one_line(r.err), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "No such file"), "%s", r.err);
    import_cli(&r, db, FIXTURES "/minimal/agency.txt", NULL); /* a file, not a zip */
    cr_assert_eq(r.status, 1);
    cr_assert(one_line(r.err), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "zip"), "%s", r.err);
    fingerprint(c, after, sizeof after);
    cr_assert_str_eq(before, after);
    PQfinish(c);
}

Test(gtfs_cli, refuses_a_database_without_the_schema)
{
    char db[256], sql[64];
    PGconn *c = buyt_test_pg_connect(buyt_test_env("BUYT_PG"));
    snprintf(sql, sizeof sql, "CREATE DATABASE bare_%d", (int)getpid());
    buyt_test_sql_exec(c, sql);
    PQfinish(c);
    snprintf(db, sizeof db, "host=%s port=%s user=postgres dbname=bare_%d",
             buyt_test_env("BUYT_PG_HOST"), buyt_test_env("BUYT_PG_PORT"), (int)getpid());
    struct cli r;
    import_cli(&r, db, FIXTURES "/minimal", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_str_eq(r.err, "buyt-gtfs: the database has no GTFS schema: run buyt-migrate --db "
                            "CONNINFO first\n");
}

Test(gtfs_cli, summary_prints_the_feed_and_every_table)
{
    char db[256], args[512];
    buyt_test_fresh_db(db, sizeof db);
    struct cli r;
    snprintf(args, sizeof args, "summary --db '%s'", db);
    cli(&r, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "feed           none imported\n"), "%s", r.out);
    import_ok(db, FIXTURES "/vi", "--agency hn --timezone Asia/Ho_Chi_Minh");
    cli(&r, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *want[] = {
        "feed           version=1 agency=hn timezone=Asia/Ho_Chi_Minh imported_at=",
        "\nagency         1\n",
        "\nroutes         2\n",
        "\nstops          5\n",
        "\nshapes         2 points=5 derived=2\n",
        "\ntrips          3\n",
        "\nstop_times     8\n",
        "\ncalendar       2\n",
        "\ncalendar_dates 0\n",
        "\nfrequencies    1\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert_not_null(strstr(r.out, want[i]), "missing '%s' in:\n%s", want[i], r.out);
}
