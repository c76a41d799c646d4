/* GTFS Schedule reference as data; see gtfs_spec.h. Field lists follow the reference's
 * "Field Definitions" (revised 2024); "Conditionally Required" fields are optional here and
 * their conditions are rules in buyt_gtfs_checks. */
#include "gtfs_spec.h"

#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define INT_MAXD 2147483647.0
#define TEXT(n, fl)                                                                                \
    {                                                                                              \
        n, BUYT_GTFS_TEXT, fl, 0, 0, NULL                                                          \
    }
#define INT(n, fl, lo, hi, d)                                                                      \
    {                                                                                              \
        n, BUYT_GTFS_INT, fl, lo, hi, d                                                            \
    }
#define FLOAT(n, fl, lo, hi)                                                                       \
    {                                                                                              \
        n, BUYT_GTFS_FLOAT, fl, lo, hi, NULL                                                       \
    }
#define TYPED(n, k, fl)                                                                            \
    {                                                                                              \
        n, k, fl, 0, 0, NULL                                                                       \
    }

enum { REQ = BUYT_GTFS_REQUIRED, COL = BUYT_GTFS_COLUMN };

static const struct buyt_gtfs_field agency[] = {
    {"agency_id", BUYT_GTFS_TEXT, 0, 0, 0, "''"}, /* optional with a single agency */
    TEXT("agency_name", REQ),
    TEXT("agency_url", REQ),
    TEXT("agency_timezone", REQ),
    TEXT("agency_lang", 0),
    TEXT("agency_phone", 0),
    TEXT("agency_fare_url", 0),
    TEXT("agency_email", 0),
};

static const struct buyt_gtfs_field routes[] = {
    TEXT("route_id", REQ),
    TEXT("agency_id", 0),
    TEXT("route_short_name", 0),
    TEXT("route_long_name", 0),
    TEXT("route_desc", 0),
    INT("route_type", REQ, 0, 1799, NULL), /* 0..12 and the extended types 100..1702 */
    TEXT("route_url", 0),
    TYPED("route_color", BUYT_GTFS_COLOR, 0),
    TYPED("route_text_color", BUYT_GTFS_COLOR, 0),
    INT("route_sort_order", 0, 0, INT_MAXD, NULL),
    INT("continuous_pickup", 0, 0, 3, "1"),
    INT("continuous_drop_off", 0, 0, 3, "1"),
};

static const struct buyt_gtfs_field stops[] = {
    TEXT("stop_id", REQ),
    TEXT("stop_code", 0),
    TEXT("stop_name", 0),
    TEXT("stop_desc", 0),
    FLOAT("stop_lat", 0, -90, 90),
    FLOAT("stop_lon", 0, -180, 180),
    TEXT("zone_id", 0),
    TEXT("stop_url", 0),
    INT("location_type", 0, 0, 4, "0"),
    TEXT("parent_station", 0),
    TEXT("stop_timezone", 0),
    INT("wheelchair_boarding", 0, 0, 2, "0"),
    TEXT("level_id", 0),
    TEXT("platform_code", 0),
};

static const struct buyt_gtfs_field shapes[] = {
    TEXT("shape_id", REQ),
    FLOAT("shape_pt_lat", REQ, -90, 90),
    FLOAT("shape_pt_lon", REQ, -180, 180),
    INT("shape_pt_sequence", REQ, 0, INT_MAXD, NULL),
    FLOAT("shape_dist_traveled", 0, 0, 1e300),
};

static const struct buyt_gtfs_field trips[] = {
    TEXT("route_id", REQ),
    TEXT("service_id", REQ),
    TEXT("trip_id", REQ),
    TEXT("trip_headsign", 0),
    TEXT("trip_short_name", 0),
    INT("direction_id", 0, 0, 1, NULL),
    TEXT("block_id", 0),
    TEXT("shape_id", 0),
    INT("wheelchair_accessible", 0, 0, 2, "0"),
    INT("bikes_allowed", 0, 0, 2, "0"),
};

static const struct buyt_gtfs_field stop_times[] = {
    TEXT("trip_id", REQ),
    TYPED("arrival_time", BUYT_GTFS_TIME, COL),
    TYPED("departure_time", BUYT_GTFS_TIME, COL),
    TEXT("stop_id", REQ),
    INT("stop_sequence", REQ, 0, INT_MAXD, NULL),
    TEXT("stop_headsign", 0),
    INT("pickup_type", 0, 0, 3, "0"),
    INT("drop_off_type", 0, 0, 3, "0"),
    INT("continuous_pickup", 0, 0, 3, "1"),
    INT("continuous_drop_off", 0, 0, 3, "1"),
    FLOAT("shape_dist_traveled", 0, 0, 1e300),
    INT("timepoint", 0, 0, 1, NULL),
};

static const struct buyt_gtfs_field calendar[] = {
    TEXT("service_id", REQ),
    TYPED("monday", BUYT_GTFS_BOOL, REQ),
    TYPED("tuesday", BUYT_GTFS_BOOL, REQ),
    TYPED("wednesday", BUYT_GTFS_BOOL, REQ),
    TYPED("thursday", BUYT_GTFS_BOOL, REQ),
    TYPED("friday", BUYT_GTFS_BOOL, REQ),
    TYPED("saturday", BUYT_GTFS_BOOL, REQ),
    TYPED("sunday", BUYT_GTFS_BOOL, REQ),
    TYPED("start_date", BUYT_GTFS_DATE, REQ),
    TYPED("end_date", BUYT_GTFS_DATE, REQ),
};

static const struct buyt_gtfs_field calendar_dates[] = {
    TEXT("service_id", REQ),
    TYPED("date", BUYT_GTFS_DATE, REQ),
    INT("exception_type", REQ, 1, 2, NULL),
};

static const struct buyt_gtfs_field frequencies[] = {
    TEXT("trip_id", REQ),
    TYPED("start_time", BUYT_GTFS_TIME, REQ),
    TYPED("end_time", BUYT_GTFS_TIME, REQ),
    INT("headway_secs", REQ, 1, INT_MAXD, NULL),
    INT("exact_times", 0, 0, 1, "0"),
};

static const struct buyt_gtfs_field feed_info[] = {
    TEXT("feed_version", 0),
};

const struct buyt_gtfs_file buyt_gtfs_files[BUYT_GTFS_FILES] = {
    [BUYT_GTFS_AGENCY] = {"agency.txt",
                          "gtfs_agency",
                          "s_agency",
                          "n_agency",
                          true,
                          agency,
                          N(agency),
                          {"agency_id", NULL}},
    [BUYT_GTFS_ROUTES] = {"routes.txt",
                          "gtfs_routes",
                          "s_routes",
                          "n_routes",
                          true,
                          routes,
                          N(routes),
                          {"route_id", NULL}},
    [BUYT_GTFS_STOPS] =
        {"stops.txt", "gtfs_stops", "s_stops", "n_stops", true, stops, N(stops), {"stop_id", NULL}},
    [BUYT_GTFS_SHAPES] = {"shapes.txt",
                          "gtfs_shapes",
                          "s_shapes",
                          "n_shapes",
                          false,
                          shapes,
                          N(shapes),
                          {"shape_id", "shape_pt_sequence"}},
    [BUYT_GTFS_TRIPS] =
        {"trips.txt", "gtfs_trips", "s_trips", "n_trips", true, trips, N(trips), {"trip_id", NULL}},
    [BUYT_GTFS_STOP_TIMES] = {"stop_times.txt",
                              "gtfs_stop_times",
                              "s_stop_times",
                              "n_stop_times",
                              true,
                              stop_times,
                              N(stop_times),
                              {"trip_id", "stop_sequence"}},
    [BUYT_GTFS_CALENDAR] = {"calendar.txt",
                            "gtfs_calendar",
                            "s_calendar",
                            "n_calendar",
                            false,
                            calendar,
                            N(calendar),
                            {"service_id", NULL}},
    [BUYT_GTFS_CALENDAR_DATES] = {"calendar_dates.txt",
                                  "gtfs_calendar_dates",
                                  "s_calendar_dates",
                                  "n_calendar_dates",
                                  false,
                                  calendar_dates,
                                  N(calendar_dates),
                                  {"service_id", "date"}},
    [BUYT_GTFS_FREQUENCIES] = {"frequencies.txt",
                               "gtfs_frequencies",
                               "s_frequencies",
                               "n_frequencies",
                               false,
                               frequencies,
                               N(frequencies),
                               {"trip_id", "start_time"}},
    [BUYT_GTFS_FEED_INFO] =
        {"feed_info.txt", NULL, "s_feed_info", NULL, false, feed_info, N(feed_info), {NULL, NULL}},
};

/* Each query runs on the new feed's typed tables (n_agency ... n_frequencies: the columns of
 * gtfs_X plus n, the row's line minus one) and returns the line of the first offending row
 * and the offending value, as text. Ordered by line: the first problem in the file. */
const struct buyt_gtfs_check buyt_gtfs_checks[] = {
    {BUYT_GTFS_AGENCY, "agency_id",
     "SELECT n + 1, '' FROM n_agency WHERE agency_id = '' "
     "AND (SELECT count(*) FROM n_agency) > 1 ORDER BY n LIMIT 1",
     "missing value (required when the feed has several agencies)"},
    {BUYT_GTFS_ROUTES, "agency_id",
     "SELECT n + 1, '' FROM n_routes WHERE agency_id IS NULL "
     "AND (SELECT count(*) FROM n_agency) > 1 ORDER BY n LIMIT 1",
     "missing value (required when the feed has several agencies)"},
    {BUYT_GTFS_ROUTES, "agency_id",
     "SELECT n + 1, agency_id FROM n_routes r WHERE agency_id IS NOT NULL "
     "AND NOT EXISTS (SELECT 1 FROM n_agency a WHERE a.agency_id = r.agency_id) "
     "ORDER BY n LIMIT 1",
     "unknown agency_id \"{}\" (not in agency.txt)"},
    {BUYT_GTFS_ROUTES, "route_short_name",
     "SELECT n + 1, '' FROM n_routes "
     "WHERE route_short_name IS NULL AND route_long_name IS NULL ORDER BY n LIMIT 1",
     "missing value (route_short_name or route_long_name is required)"},
    {BUYT_GTFS_STOPS, "stop_name",
     "SELECT n + 1, '' FROM n_stops WHERE location_type <= 2 AND stop_name IS NULL "
     "ORDER BY n LIMIT 1",
     "missing value (required for location_type 0, 1 and 2)"},
    {BUYT_GTFS_STOPS, "stop_lat",
     "SELECT n + 1, '' FROM n_stops WHERE location_type <= 2 AND stop_lat IS NULL "
     "ORDER BY n LIMIT 1",
     "missing value (required for location_type 0, 1 and 2)"},
    {BUYT_GTFS_STOPS, "stop_lon",
     "SELECT n + 1, '' FROM n_stops WHERE location_type <= 2 AND stop_lon IS NULL "
     "ORDER BY n LIMIT 1",
     "missing value (required for location_type 0, 1 and 2)"},
    {BUYT_GTFS_STOPS, "parent_station",
     "SELECT n + 1, parent_station FROM n_stops s WHERE parent_station IS NOT NULL "
     "AND NOT EXISTS (SELECT 1 FROM n_stops p WHERE p.stop_id = s.parent_station) "
     "ORDER BY n LIMIT 1",
     "unknown parent_station \"{}\""},
    {BUYT_GTFS_STOPS, "parent_station",
     "SELECT n + 1, '' FROM n_stops WHERE location_type >= 2 AND parent_station IS NULL "
     "ORDER BY n LIMIT 1",
     "missing value (required for location_type 2, 3 and 4)"},
    {BUYT_GTFS_CALENDAR, "end_date",
     "SELECT n + 1, to_char(end_date, 'YYYYMMDD') FROM n_calendar "
     "WHERE end_date < start_date ORDER BY n LIMIT 1",
     "{} is before start_date"},
    {BUYT_GTFS_TRIPS, "route_id",
     "SELECT n + 1, route_id FROM n_trips t "
     "WHERE NOT EXISTS (SELECT 1 FROM n_routes r WHERE r.route_id = t.route_id) "
     "ORDER BY n LIMIT 1",
     "unknown route_id \"{}\" (not in routes.txt)"},
    {BUYT_GTFS_TRIPS, "service_id",
     "SELECT n + 1, service_id FROM n_trips t "
     "WHERE NOT EXISTS (SELECT 1 FROM n_calendar c WHERE c.service_id = t.service_id) "
     "AND NOT EXISTS (SELECT 1 FROM n_calendar_dates d WHERE d.service_id = t.service_id) "
     "ORDER BY n LIMIT 1",
     "unknown service_id \"{}\" (not in calendar.txt or calendar_dates.txt)"},
    {BUYT_GTFS_TRIPS, "shape_id",
     "SELECT n + 1, shape_id FROM n_trips t WHERE shape_id IS NOT NULL "
     "AND NOT EXISTS (SELECT 1 FROM n_shapes s WHERE s.shape_id = t.shape_id) "
     "ORDER BY n LIMIT 1",
     "unknown shape_id \"{}\" (not in shapes.txt)"},
    {BUYT_GTFS_STOP_TIMES, "trip_id",
     "SELECT n + 1, trip_id FROM n_stop_times st "
     "WHERE NOT EXISTS (SELECT 1 FROM n_trips t WHERE t.trip_id = st.trip_id) "
     "ORDER BY n LIMIT 1",
     "unknown trip_id \"{}\" (not in trips.txt)"},
    {BUYT_GTFS_STOP_TIMES, "stop_id",
     "SELECT n + 1, stop_id FROM n_stop_times st "
     "WHERE NOT EXISTS (SELECT 1 FROM n_stops s WHERE s.stop_id = st.stop_id) "
     "ORDER BY n LIMIT 1",
     "unknown stop_id \"{}\" (not in stops.txt)"},
    {BUYT_GTFS_STOP_TIMES, "stop_id",
     "SELECT n + 1, stop_id FROM n_stop_times st "
     "WHERE EXISTS (SELECT 1 FROM n_stops s WHERE s.stop_id = st.stop_id "
     "AND s.location_type <> 0) ORDER BY n LIMIT 1",
     "stop_id \"{}\" is a station or node, not a stop (its location_type must be 0)"},
    {BUYT_GTFS_STOP_TIMES, "departure_time",
     "SELECT n + 1, buyt_gtfs_time_text(departure_time) FROM n_stop_times "
     "WHERE departure_time < arrival_time ORDER BY n LIMIT 1",
     "{} is before arrival_time"},
    {BUYT_GTFS_STOP_TIMES, "arrival_time",
     "SELECT st.n + 1, '' FROM n_stop_times st "
     "JOIN (SELECT trip_id, min(stop_sequence) lo, max(stop_sequence) hi "
     "FROM n_stop_times GROUP BY trip_id) e "
     "ON e.trip_id = st.trip_id AND st.stop_sequence IN (e.lo, e.hi) "
     "WHERE st.arrival_time IS NULL OR st.departure_time IS NULL ORDER BY st.n LIMIT 1",
     "missing time (arrival_time and departure_time are required at a trip's first and "
     "last stop)"},
    {BUYT_GTFS_STOP_TIMES, "arrival_time",
     "SELECT n + 1, '' FROM n_stop_times WHERE timepoint = 1 "
     "AND (arrival_time IS NULL OR departure_time IS NULL) ORDER BY n LIMIT 1",
     "missing time (arrival_time and departure_time are required where timepoint is 1)"},
    {BUYT_GTFS_STOP_TIMES, "arrival_time",
     "SELECT n + 1, buyt_gtfs_time_text(t) FROM ("
     "SELECT n, coalesce(arrival_time, departure_time) t, "
     "max(coalesce(departure_time, arrival_time)) OVER (PARTITION BY trip_id "
     "ORDER BY stop_sequence ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) prev "
     "FROM n_stop_times) x WHERE t < prev ORDER BY n LIMIT 1",
     "{} is before the time at an earlier stop of the trip"},
    {BUYT_GTFS_FREQUENCIES, "trip_id",
     "SELECT n + 1, trip_id FROM n_frequencies f "
     "WHERE NOT EXISTS (SELECT 1 FROM n_trips t WHERE t.trip_id = f.trip_id) "
     "ORDER BY n LIMIT 1",
     "unknown trip_id \"{}\" (not in trips.txt)"},
    {BUYT_GTFS_FREQUENCIES, "end_time",
     "SELECT n + 1, buyt_gtfs_time_text(end_time) FROM n_frequencies "
     "WHERE end_time <= start_time ORDER BY n LIMIT 1",
     "{} is not after start_time"},
    {0, NULL, NULL, NULL},
};

const struct buyt_gtfs_field *buyt_gtfs_spec_field(const struct buyt_gtfs_file *f, const char *name)
{
    for (size_t i = 0; i < f->nfields; i++)
        if (!strcmp(f->fields[i].name, name))
            return &f->fields[i];
    return NULL;
}
