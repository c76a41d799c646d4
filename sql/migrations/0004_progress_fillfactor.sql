-- 0004_progress_fillfactor: vehicle_progress is rewritten for every vehicle in every batch
-- (one update per stored fix at 1 Hz). With half of each page left free the update can stay on
-- its page and skip the primary-key index (a heap-only tuple): measured in docs/BENCHMARKS.md.
ALTER TABLE vehicle_progress SET (fillfactor = 50);
