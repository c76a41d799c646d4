-- 0003_predictions: what the arrival predictor (ingest/predict.h) has learned, so a restart
-- keeps it, and a sample of its predictions for accuracy reports (docs/PREDICTION.md).

-- Learned statistics, one row per cell: a travel segment (two consecutive stops of a route
-- pattern, by GTFS stop id, so rows outlive feed versions) or a stop's dwell, per time-of-day
-- band and day type. Written by upsert from the predictor's snapshots
-- (buyt_predict_store_save), read once at start-up (buyt_predict_store_load).
CREATE TABLE segment_stats (
    kind         smallint NOT NULL CHECK (kind IN (0, 1)),  -- 0 travel from -> to, 1 dwell at from
    from_stop    text COLLATE "C" NOT NULL,
    to_stop      text COLLATE "C" NOT NULL DEFAULT '',      -- '' for a dwell
    band         smallint NOT NULL CHECK (band BETWEEN 0 AND 7),
                 -- local hours 00-06, 06-09, 09-11, 11-14, 14-16, 16-19, 19-22, 22-24
    day_type     smallint NOT NULL CHECK (day_type BETWEEN 0 AND 2), -- weekday, saturday, sunday
    n            integer NOT NULL CHECK (n > 0),            -- samples taken
    mean_s       real NOT NULL,                             -- exponentially weighted mean, s
    var_s2       real NOT NULL CHECK (var_s2 >= 0),         -- ... and variance, s^2
    n_last       integer NOT NULL DEFAULT 0,                -- samples with a fresh last vehicle
    var_last_s2  real NOT NULL DEFAULT 0,                   -- its error variance as a predictor
    cov_s2       real NOT NULL DEFAULT 0,                   -- covariance of the two errors
    updated_at   timestamptz NOT NULL,                      -- the last sample
    CONSTRAINT segment_stats_pkey PRIMARY KEY (kind, from_stop, to_stop, band, day_type)
);

-- Sampled predictions (buyt_predict_samples -> buyt_predict_store_samples) and, once the bus
-- has been there, the actual time from stop_events (buyt_predictions_fill_actuals). Error =
-- actual - predicted (positive: the bus came later than said); horizon = predicted - made_at.
CREATE TABLE predictions (
    made_at       timestamptz NOT NULL,          -- time of the fix the prediction came from
    service_date  date NOT NULL,                 -- as in stop_events
    trip_id       text NOT NULL,
    stop_sequence integer NOT NULL,
    stop_id       text NOT NULL,
    vehicle_id    text NOT NULL,                 -- fleet number
    predicted     timestamptz NOT NULL,
    scheduled     timestamptz NOT NULL,
    horizon_s     integer NOT NULL,
    departure     boolean NOT NULL,              -- a trip's first stop: a departure is predicted
    source        smallint NOT NULL,             -- 0 mostly schedule, 1 mostly learned
    started       boolean NOT NULL,              -- false: a later trip of the vehicle's block
    actual        timestamptz                    -- NULL until joined (or never observed)
);
CREATE INDEX predictions_made_brin ON predictions USING brin (made_at);
-- The join of actuals looks up the rows still waiting for one.
CREATE INDEX predictions_pending_idx ON predictions (service_date, trip_id, stop_sequence)
    WHERE actual IS NULL;

-- Fills `actual` of predictions made since `since` from the detected stop events: the
-- arrival, or at a trip's first stop the departure. Returns the rows filled. Run it now and
-- then (the engine, or cron: SELECT buyt_predictions_fill_actuals(now() - interval '1 day')).
CREATE FUNCTION buyt_predictions_fill_actuals(since timestamptz) RETURNS bigint
LANGUAGE sql AS $$
    WITH filled AS (
        UPDATE predictions p
           SET actual = CASE WHEN p.departure THEN e.departure ELSE e.arrival END
          FROM stop_events e
         WHERE p.actual IS NULL AND p.made_at >= since
           AND e.service_date = p.service_date AND e.trip_id = p.trip_id
           AND e.stop_sequence = p.stop_sequence
           AND CASE WHEN p.departure THEN e.departure ELSE e.arrival END IS NOT NULL
        RETURNING 1)
    SELECT count(*) FROM filled
$$;
