-- 0002_gtfs: the GTFS static network (https://gtfs.org/schedule/reference/), one feed per
-- database, written only by `buyt-gtfs import` (ingest/gtfs_import.c).
--
-- Column names are GTFS field names. Conventions:
--   * blank GTFS values are NULL, except enumerations with a documented default for blank
--     (location_type, pickup_type, ... stored NOT NULL with that default applied);
--   * times of day (stop_times.arrival_time/departure_time, frequencies.start_time/end_time)
--     are integer SECONDS since "noon minus 12h" of the service day, so 25:10:00 = 90600 and
--     times past midnight keep counting; NULL where the feed left a stop time blank
--     (between timepoints). buyt_gtfs_time() and buyt_gtfs_time_text() convert;
--   * dates are `date`, coordinates WGS84 degrees as double precision;
--   * ids (agency_id, route_id, stop_id, trip_id, service_id, shape_id, block_id) are
--     COLLATE "C": byte-wise comparison, no linguistic order to pay for in every btree.
-- No foreign keys: the importer checks every reference (with the file and line of a dangling
-- one) before it commits, and a per-row FK check would slow the bulk insert.
-- A re-import replaces the feed in one transaction with row changes only (DELETE gone keys,
-- UPDATE changed rows, INSERT new keys; never TRUNCATE), so readers keep seeing the previous
-- feed until the commit and are never blocked.

-- One row per successful import; the highest version is the feed in the tables below.
CREATE TABLE gtfs_feed (
    version          integer PRIMARY KEY,          -- 1, 2, ... without gaps
    imported_at      timestamptz NOT NULL DEFAULT now(),
    source           text NOT NULL,                -- the feed folder or .zip, absolute path
    agency           text NOT NULL,                -- operator code used in MQTT topics
    timezone         text NOT NULL,                -- effective zone of the service days
    feed_timezone    text NOT NULL,                -- agency_timezone as the feed gave it
    feed_version     text,                         -- feed_info.txt feed_version, if any
    import_ms        integer NOT NULL,             -- wall time of the import
    n_agency         integer NOT NULL,
    n_routes         integer NOT NULL,
    n_stops          integer NOT NULL,
    n_shapes         integer NOT NULL,             -- distinct shape_id, derived ones included
    n_shape_points   integer NOT NULL,
    n_derived_shapes integer NOT NULL,
    n_trips          integer NOT NULL,
    n_stop_times     integer NOT NULL,
    n_calendar       integer NOT NULL,
    n_calendar_dates integer NOT NULL,
    n_frequencies    integer NOT NULL
);

-- The feed currently in the tables (no row before the first import).
CREATE VIEW gtfs_feed_current AS
    SELECT * FROM gtfs_feed ORDER BY version DESC LIMIT 1;

CREATE TABLE gtfs_agency (
    agency_id        text COLLATE "C" PRIMARY KEY, -- '' if the feed's single agency has none
    agency_name      text NOT NULL,
    agency_url       text NOT NULL,
    agency_timezone  text NOT NULL,                -- the effective zone (--timezone applied)
    agency_lang      text,
    agency_phone     text,
    agency_fare_url  text,
    agency_email     text
);

CREATE TABLE gtfs_routes (
    route_id            text COLLATE "C" PRIMARY KEY,
    agency_id           text COLLATE "C",
    route_short_name    text,
    route_long_name     text,
    route_desc          text,
    route_type          integer NOT NULL,
    route_url           text,
    route_color         text,                      -- 6 upper-case hex digits
    route_text_color    text,
    route_sort_order    integer,
    continuous_pickup   smallint NOT NULL,         -- blank = 1 (none)
    continuous_drop_off smallint NOT NULL
);

CREATE TABLE gtfs_stops (
    stop_id             text COLLATE "C" PRIMARY KEY,
    stop_code           text,
    stop_name           text,                      -- required for location_type 0, 1, 2
    stop_desc           text,
    stop_lat            double precision,          -- required for location_type 0, 1, 2
    stop_lon            double precision,
    zone_id             text,
    stop_url            text,
    location_type       smallint NOT NULL,         -- blank = 0 (stop or platform)
    parent_station      text COLLATE "C",
    stop_timezone       text,
    wheelchair_boarding smallint NOT NULL,         -- blank = 0 (no information)
    level_id            text,
    platform_code       text
);

-- Shape points. derived = true: made by the importer from a trip's stops, in stop order,
-- because the trip had no shape_id (or the feed no shapes.txt); shape_id is then
-- 'buyt:derived:' || the first 16 hex digits of md5 of the stop pattern (docs/GTFS.md).
CREATE TABLE gtfs_shapes (
    shape_id            text COLLATE "C" NOT NULL,
    shape_pt_sequence   integer NOT NULL,
    shape_pt_lat        double precision NOT NULL,
    shape_pt_lon        double precision NOT NULL,
    shape_dist_traveled double precision,          -- feed units; NULL on derived shapes
    derived             boolean NOT NULL DEFAULT false,
    CONSTRAINT gtfs_shapes_pkey PRIMARY KEY (shape_id, shape_pt_sequence) -- a shape in order
);

CREATE TABLE gtfs_trips (
    trip_id               text COLLATE "C" PRIMARY KEY,
    route_id              text COLLATE "C" NOT NULL,
    service_id            text COLLATE "C" NOT NULL,
    trip_headsign         text,
    trip_short_name       text,
    direction_id          smallint,
    block_id              text COLLATE "C",
    shape_id              text COLLATE "C",        -- a derived shape if the feed gave none
    wheelchair_accessible smallint NOT NULL,       -- blank = 0
    bikes_allowed         smallint NOT NULL        -- blank = 0
);
CREATE INDEX gtfs_trips_route_service_idx ON gtfs_trips (route_id, service_id); -- a route's trips
CREATE INDEX gtfs_trips_service_idx ON gtfs_trips (service_id);      -- trips running on a day
CREATE INDEX gtfs_trips_block_idx ON gtfs_trips (block_id) WHERE block_id IS NOT NULL; -- chains
CREATE INDEX gtfs_trips_shape_idx ON gtfs_trips (shape_id);          -- trips drawn on a shape

CREATE TABLE gtfs_stop_times (
    trip_id             text COLLATE "C" NOT NULL,
    stop_sequence       integer NOT NULL,
    stop_id             text COLLATE "C" NOT NULL,
    arrival_time        integer,                   -- seconds (see the top); NULL = blank
    departure_time      integer,
    stop_headsign       text,
    pickup_type         smallint NOT NULL,         -- blank = 0
    drop_off_type       smallint NOT NULL,         -- blank = 0
    continuous_pickup   smallint NOT NULL,         -- blank = 1
    continuous_drop_off smallint NOT NULL,         -- blank = 1
    shape_dist_traveled double precision,
    timepoint           smallint,                  -- as given; NULL = blank
    CONSTRAINT gtfs_stop_times_pkey PRIMARY KEY (trip_id, stop_sequence) -- a trip in order
);
-- Departures from a stop by time of day (arrival boards, schedule-only predictions).
CREATE INDEX gtfs_stop_times_stop_departure_idx ON gtfs_stop_times (stop_id, departure_time);

CREATE TABLE gtfs_calendar (
    service_id  text COLLATE "C" PRIMARY KEY,
    monday      boolean NOT NULL,
    tuesday     boolean NOT NULL,
    wednesday   boolean NOT NULL,
    thursday    boolean NOT NULL,
    friday      boolean NOT NULL,
    saturday    boolean NOT NULL,
    sunday      boolean NOT NULL,
    start_date  date NOT NULL,
    end_date    date NOT NULL
);

CREATE TABLE gtfs_calendar_dates (
    service_id      text COLLATE "C" NOT NULL,
    date            date NOT NULL,
    exception_type  smallint NOT NULL,             -- 1 = service added, 2 = removed
    CONSTRAINT gtfs_calendar_dates_pkey PRIMARY KEY (service_id, date)
);
CREATE INDEX gtfs_calendar_dates_date_idx ON gtfs_calendar_dates (date); -- exceptions of a day

CREATE TABLE gtfs_frequencies (
    trip_id       text COLLATE "C" NOT NULL,
    start_time    integer NOT NULL,                -- seconds, like stop_times
    end_time      integer NOT NULL,
    headway_secs  integer NOT NULL,
    exact_times   smallint NOT NULL,               -- blank = 0
    CONSTRAINT gtfs_frequencies_pkey PRIMARY KEY (trip_id, start_time)
);

-- GTFS time text -> seconds: "H:MM:SS" or "HH:MM:SS" (hours 0..99, so past 24:00), spaces
-- around allowed. NULL for blank AND for malformed text (the importer rejects malformed
-- text before converting). buyt_gtfs_time_parse() in ingest/gtfs_fields.c is the same rule.
CREATE FUNCTION buyt_gtfs_time(t text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN t ~ '^ *[0-9]{1,2}:[0-5][0-9]:[0-5][0-9] *$' THEN
        split_part(btrim(t), ':', 1)::integer * 3600 + split_part(btrim(t), ':', 2)::integer * 60
        + split_part(btrim(t), ':', 3)::integer END
$$;

-- Seconds -> "HH:MM:SS" (hours may pass 23), for people.
CREATE FUNCTION buyt_gtfs_time_text(s integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT lpad((s / 3600)::text, 2, '0') || ':' || lpad((s / 60 % 60)::text, 2, '0') || ':'
        || lpad((s % 60)::text, 2, '0')
$$;

-- GTFS date text "YYYYMMDD" -> date; NULL for blank or an impossible date (20180231).
-- Nested CASEs: each conversion runs only once the test before it has passed.
CREATE FUNCTION buyt_gtfs_date(d text) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN d ~ '^ *[0-9]{8} *$' THEN
        CASE WHEN substr(btrim(d), 1, 4) <> '0000' THEN
            CASE WHEN to_char(make_date(substr(btrim(d), 1, 4)::integer, 1, 1)
                              + (substr(btrim(d), 5, 2)::integer - 1) * interval '1 month'
                              + (substr(btrim(d), 7, 2)::integer - 1) * interval '1 day',
                              'YYYYMMDD') = btrim(d)
                 THEN to_date(btrim(d), 'YYYYMMDD') END END END
$$;

-- The service_ids running on service day d: calendar.txt's weekly pattern within its dates,
-- minus calendar_dates removals (exception_type 2), plus additions (exception_type 1).
CREATE FUNCTION buyt_gtfs_services_on(d date) RETURNS SETOF text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT c.service_id FROM gtfs_calendar c
     WHERE d BETWEEN c.start_date AND c.end_date
       AND CASE extract(isodow FROM d)::integer
               WHEN 1 THEN c.monday WHEN 2 THEN c.tuesday WHEN 3 THEN c.wednesday
               WHEN 4 THEN c.thursday WHEN 5 THEN c.friday WHEN 6 THEN c.saturday
               ELSE c.sunday END
       AND NOT EXISTS (SELECT 1 FROM gtfs_calendar_dates x
                        WHERE x.service_id = c.service_id AND x.date = d
                          AND x.exception_type = 2)
    UNION
    SELECT x.service_id FROM gtfs_calendar_dates x WHERE x.date = d AND x.exception_type = 1
$$;
