-- 0006_frequency_runs: trips of frequencies.txt are run many times a day under one trip_id
-- (every headway_secs from start_time to end_time), so (service_date, trip_id) no longer names
-- one trip instance. The engine expands each window into runs (ingest/netload.c) and records
-- which run an event or prediction belongs to: its start, in seconds after the service day's
-- "noon minus 12 h" like every GTFS time in 0002 (GTFS-Realtime TripDescriptor.start_time).
-- -1 for a trip that is not a frequency run: rows written before this migration, and every
-- scheduled trip.
ALTER TABLE stop_events ADD COLUMN run_start_s integer NOT NULL DEFAULT -1;
ALTER TABLE stop_events DROP CONSTRAINT stop_events_pkey,
    ADD CONSTRAINT stop_events_pkey PRIMARY KEY (service_date, trip_id, run_start_s, stop_sequence);

ALTER TABLE predictions ADD COLUMN run_start_s integer NOT NULL DEFAULT -1;
DROP INDEX predictions_pending_idx;
CREATE INDEX predictions_pending_idx ON predictions (service_date, trip_id, run_start_s,
                                                     stop_sequence) WHERE actual IS NULL;

-- As in 0003, joined on the whole trip instance.
CREATE OR REPLACE FUNCTION buyt_predictions_fill_actuals(since timestamptz) RETURNS bigint
LANGUAGE sql AS $$
    WITH filled AS (
        UPDATE predictions p
           SET actual = CASE WHEN p.departure THEN e.departure ELSE e.arrival END
          FROM stop_events e
         WHERE p.actual IS NULL AND p.made_at >= since
           AND e.service_date = p.service_date AND e.trip_id = p.trip_id
           AND e.run_start_s = p.run_start_s AND e.stop_sequence = p.stop_sequence
           AND CASE WHEN p.departure THEN e.departure ELSE e.arrival END IS NOT NULL
        RETURNING 1)
    SELECT count(*) FROM filled
$$;
