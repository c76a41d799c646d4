-- 0005_progress_log: the engine's per-vehicle delivery state is appended, not updated.
-- Each committed batch COPYs one row per vehicle it holds into vehicle_progress_log (in the
-- same transaction as the rows, as before); every few seconds the writer folds the log into
-- vehicle_progress (newest row per vehicle) and empties it, in one transaction. At 1 Hz a
-- batch holds every reporting bus once: an append costs a fraction of an update, and the fold
-- updates each bus once per interval instead of once per fix (docs/BENCHMARKS.md).
CREATE TABLE vehicle_progress_log (
    id                  bigint GENERATED ALWAYS AS IDENTITY,  -- commit order (one writer)
    vehicle             integer NOT NULL,
    stored_through_seq  bigint NOT NULL,
    stored_ranges       bigint[] NOT NULL DEFAULT '{}'
);

-- What is stored, per vehicle: the newest log row, else the folded table. Read this, not
-- vehicle_progress (the engine at start, the simulator, tests).
CREATE VIEW vehicle_progress_current AS
SELECT DISTINCT ON (vehicle) vehicle, stored_through_seq, stored_ranges
FROM (SELECT vehicle, stored_through_seq, stored_ranges, id FROM vehicle_progress_log
      UNION ALL
      SELECT vehicle, stored_through_seq, stored_ranges, 0 FROM vehicle_progress) x
ORDER BY vehicle, id DESC;
