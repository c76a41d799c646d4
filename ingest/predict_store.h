/* PostgreSQL persistence of the predictor (sql/migrations/0003_predictions.sql): its learned
 * statistics (table segment_stats) and sampled predictions (table predictions).
 *
 * Synchronous libpq on a connection the caller owns: call from a worker thread (uv_queue_work)
 * or at start-up, never on the loop. The data passed in are self-contained copies
 * (buyt_predict_stats_snapshot, buyt_predict_samples), so the loop keeps running meanwhile.
 * buyt_predict_store_load is the exception: it writes into the predictor, so call it before
 * the loop starts (or with the loop not touching the predictor). */
#ifndef BUYT_PREDICT_STORE_H
#define BUYT_PREDICT_STORE_H

#include "predict.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/** Loads every stored cell into p (buyt_predict_stat_put). *loaded (may be NULL) gets the
 *  number of rows. Returns 0, BUYT_EDB (reason in err) or BUYT_ENOMEM. */
int buyt_predict_store_load(PGconn *c, struct buyt_predict *p, size_t *loaded, char *err,
                            size_t errlen);

/** Upserts a snapshot's rows in one transaction (COPY into a temporary table, then INSERT ...
 *  ON CONFLICT DO UPDATE). Returns 0 or BUYT_EDB (rolled back; reason in err). */
int buyt_predict_store_save(PGconn *c, const struct buyt_predict_stats *s, char *err,
                            size_t errlen);

/** Appends n samples to `predictions` (one COPY). Returns 0 or BUYT_EDB. */
int buyt_predict_store_samples(PGconn *c, const struct buyt_predict_sample *s, size_t n, char *err,
                               size_t errlen);

/** Joins the actual times of predictions made since since_ms (SQL function
 *  buyt_predictions_fill_actuals). *filled (may be NULL) gets the rows filled. Returns 0 or
 *  BUYT_EDB. */
int buyt_predict_store_fill_actuals(PGconn *c, int64_t since_ms, long long *filled, char *err,
                                    size_t errlen);

#endif
