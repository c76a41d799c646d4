-- 0001_core: vehicles, the fix store (partitioned by day), events, actuals and dead letters.
-- Times are UTC timestamptz; coordinates are integers as on the wire (1e-7 degree).
-- Hot tables carry no foreign keys: a per-row FK check would cost more than the row.

-- One row per bus known to an agency. `id` is the narrow key the hot tables store.
CREATE TABLE vehicles (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agency      text NOT NULL,
    vehicle_id  text NOT NULL,                 -- fleet number, as in the MQTT topic
    label       text,                          -- plate or display name
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT vehicles_agency_vehicle_key UNIQUE (agency, vehicle_id)
);

-- GNSS fixes: the biggest table (2,000 buses at 1 Hz = ~100 M rows a day). Designed for
-- <= 60 bytes a row on disk including indexes (measured 52.2, see docs/SCHEMA.md):
--   24 B tuple header + 24 B of columns (8, then 4s, then 2s: nothing pads) = 48 B, + 4 B line
--   pointer = 52 B; BRIN on time adds ~0. A 25th byte of columns would cost 8 (alignment), so
--   HDOP, satellites and fix quality are not stored per fix: the engine uses them to filter at
--   ingest, no-fix records are never stored as positions, and Health reports satellites.
-- A btree on (vehicle, time) would add ~24 B a row; track queries use the BRIN to reach the
-- hour and filter by vehicle, and the engine keeps recent tracks in memory.
CREATE TABLE fixes (
    time        timestamptz NOT NULL,          -- GNSS time of the fix
    vehicle     integer NOT NULL,              -- vehicles.id
    lat_e7      integer NOT NULL,              -- degrees x 1e7
    lon_e7      integer NOT NULL,              -- degrees x 1e7
    speed_cms   smallint NOT NULL,             -- cm/s, 0..10000; -1 = unknown
    course_ddeg smallint NOT NULL              -- tenths of a degree true, 0..3599; -1 = unknown
) PARTITION BY RANGE (time);

-- Serves every time-range scan (tracks, replays, reports). Inherited by each partition.
CREATE INDEX fixes_time_brin ON fixes USING brin (time) WITH (pages_per_range = 32);

-- Creates the fixes partition holding UTC day `d` if it does not exist. Returns true if it
-- created one. Safe to call concurrently (the engine calls it ahead and on late records).
CREATE FUNCTION buyt_fix_partition_ensure(d date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    part text := format('fixes_%s', to_char(d, 'YYYYMMDD'));
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF fixes FOR VALUES FROM (%L) TO (%L)',
                   part, d::text || ' 00:00:00+00', (d + 1)::text || ' 00:00:00+00');
    RETURN true;
END $$;

-- Creates partitions for `days` UTC days starting at `first_day`; returns how many it created.
CREATE FUNCTION buyt_fix_partitions_ahead(first_day date, days integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer := 0;
BEGIN
    FOR i IN 0 .. days - 1 LOOP
        IF buyt_fix_partition_ensure(first_day + i) THEN
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END $$;

SELECT buyt_fix_partitions_ahead((now() AT TIME ZONE 'UTC')::date - 1, 9);

-- Passenger and driver card presentations. card_id is the fleet-keyed HMAC (16 bytes), never a
-- clear UID.
CREATE TABLE card_taps (
    time        timestamptz NOT NULL,
    vehicle     integer NOT NULL,
    seq         bigint NOT NULL,               -- the record's seq, for audits
    role        smallint NOT NULL,             -- buyt.v1.ReaderRole
    lat_e7      integer,                       -- NULL: no fix at the tap
    lon_e7      integer,
    card_id     bytea NOT NULL
);
CREATE INDEX card_taps_time_brin ON card_taps USING brin (time);
CREATE INDEX card_taps_vehicle_time_idx ON card_taps (vehicle, time); -- boardings per bus

CREATE TABLE driver_events (
    time        timestamptz NOT NULL,
    vehicle     integer NOT NULL,
    seq         bigint NOT NULL,
    kind        smallint NOT NULL,             -- buyt.v1.DriverEventKind
    lat_e7      integer,
    lon_e7      integer,
    driver_id   text NOT NULL DEFAULT '',
    card_id     bytea,
    route_id    text NOT NULL DEFAULT '',
    trip_id     text NOT NULL DEFAULT '',
    run_id      text NOT NULL DEFAULT ''
);
CREATE INDEX driver_events_vehicle_time_idx ON driver_events (vehicle, time); -- shift history

CREATE TABLE door_events (
    time        timestamptz NOT NULL,
    vehicle     integer NOT NULL,
    seq         bigint NOT NULL,
    door        smallint NOT NULL,
    open        boolean NOT NULL,
    lat_e7      integer,
    lon_e7      integer
);
CREATE INDEX door_events_vehicle_time_idx ON door_events (vehicle, time);

-- Connection state changes (retained status topic) and the agents' Health reports.
CREATE TABLE device_status (
    time        timestamptz NOT NULL,
    vehicle     integer NOT NULL,
    state       smallint NOT NULL,             -- buyt.v1.DeviceState
    boot_id     bigint NOT NULL,
    version     text NOT NULL DEFAULT ''
);
CREATE INDEX device_status_vehicle_time_idx ON device_status (vehicle, time);

CREATE TABLE device_health (
    time                 timestamptz NOT NULL,
    vehicle              integer NOT NULL,
    seq                  bigint NOT NULL,
    uptime_s             integer NOT NULL,
    journal_records      bigint NOT NULL,
    journal_bytes        bigint NOT NULL,
    oldest_unacked_age_s integer NOT NULL,
    gps_state            smallint NOT NULL,
    satellites           smallint NOT NULL,
    nmea_rejected        bigint NOT NULL,
    rfid_rejected        bigint NOT NULL,
    serial_errors        bigint NOT NULL,
    journal_dropped      bigint NOT NULL,
    journal_torn         bigint NOT NULL,
    version              text NOT NULL DEFAULT ''
);
CREATE INDEX device_health_vehicle_time_idx ON device_health (vehicle, time);

-- Actual arrivals/departures at the stops of a trip, detected by the engine: the truth that
-- predictions are scored against. One row per (service day, trip, stop sequence).
CREATE TABLE stop_events (
    service_date  date NOT NULL,               -- GTFS service day, agency time zone
    trip_id       text NOT NULL,
    stop_sequence integer NOT NULL,
    stop_id       text NOT NULL,
    route_id      text NOT NULL,
    vehicle       integer NOT NULL,
    arrival       timestamptz,                 -- NULL if only the departure was observed
    departure     timestamptz,
    passed        boolean NOT NULL DEFAULT false, -- went by without stopping
    scheduled_arrival timestamptz,
    CONSTRAINT stop_events_pkey PRIMARY KEY (service_date, trip_id, stop_sequence)
);
CREATE INDEX stop_events_stop_arrival_idx ON stop_events (stop_id, arrival); -- history per stop
CREATE INDEX stop_events_vehicle_arrival_idx ON stop_events (vehicle, arrival);

-- Dead letters: every message or record the engine refused, with why, so nothing is dropped
-- silently and a bad producer can be diagnosed from its raw bytes.
CREATE TABLE rejects (
    received_at timestamptz NOT NULL,
    topic       text NOT NULL,
    reason      text NOT NULL,                 -- buyt_reject_name(): "truncated", "bad_coord"...
    vehicle_id  text,                          -- from the topic, when it parsed
    seq         bigint,                        -- the refused record's seq, when known
    payload     bytea NOT NULL
);
CREATE INDEX rejects_received_brin ON rejects USING brin (received_at);
CREATE INDEX rejects_reason_received_idx ON rejects (reason, received_at);

-- Per-vehicle delivery state, written in the same transaction as the rows it describes, so an
-- engine restart knows exactly which seqs are stored (exactly-once across crashes).
CREATE TABLE vehicle_progress (
    vehicle             integer PRIMARY KEY,
    stored_through_seq  bigint NOT NULL,       -- every seq <= this is stored or accounted for
    stored_ranges       bigint[] NOT NULL DEFAULT '{}', -- seqs stored past a gap: lo1,hi1,lo2,hi2...
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Batches the engine committed, by id: a batch replayed from the spool after a crash between
-- its COMMIT and the spool file's removal is recognised and not stored twice.
CREATE TABLE ingest_batches (
    batch_id     bigint PRIMARY KEY,
    committed_at timestamptz NOT NULL DEFAULT now(),
    rows         integer NOT NULL
);
