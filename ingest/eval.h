/* Prediction accuracy, offline: recorded fixes replayed through the engine's own matcher
 * (matcher.h), stop-event detector (stopev.h) and predictor (predict.h), every prediction
 * scored against the actual stop event the same replay detects later. Four predictors side
 * by side, on the same (trip, stop, instant) samples:
 *   schedule  the timetable alone;
 *   oba       OneBusAway's: the schedule plus the bus's current delay, a late bus absorbing
 *             delay into scheduled slack (dwell, layover), an early one waiting where there is
 *             slack;
 *   kalman    predict.h with TheTransitClock's per-segment Kalman filter, reporting the
 *             filter's output (early_z = 0): the anchor;
 *   buyt      predict.h, its default model (the learned blend, early_z from the options).
 * The predictors learn online, in time order, from the events of the replay itself.
 *
 * Scoring (TransitApp's ETA benchmark): a prediction made at `made` for a bus that arrived at
 * `actual` falls in the bucket of its true horizon actual - made (0-3, 3-6, 6-10, 10-15 min;
 * the same samples for every predictor) and is accurate when the error actual - predicted is
 * within [-early, +late] of that bucket: 0-3 min -30 s/+90 s, 3-6 -60/+150, 6-10 -60/+210,
 * 10-15 -90/+270. Score = the plain average of the four buckets' accuracies. At a trip's first
 * stop the departure is predicted and scored, elsewhere the arrival; events interpolated
 * across a data gap are not used as actuals.
 *
 * Sampling: each vehicle's predictions are read once every sample_s (a rider checking the
 * app), for every stop the buyt predictor covers (the current trip's stops ahead, then its
 * block's next trips) up to max_horizon_s ahead. */
#ifndef BUYT_EVAL_H
#define BUYT_EVAL_H

#include "matcher.h"
#include "network.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum buyt_eval_predictor {
    BUYT_EVAL_SCHEDULE = 0,
    BUYT_EVAL_OBA,
    BUYT_EVAL_KALMAN,
    BUYT_EVAL_BUYT,
    BUYT_EVAL__COUNT
};

#define BUYT_EVAL_BUCKETS 4

/** A horizon bucket: [lo_s, hi_s) ahead, accurate within early_s before / late_s after. */
struct buyt_eval_bucket {
    const char *name;
    int32_t lo_s, hi_s, early_s, late_s;
};

extern const struct buyt_eval_bucket buyt_eval_buckets[BUYT_EVAL_BUCKETS];

/** Bucket of a horizon (actual - made), or -1 outside 0 .. 15 min. */
int buyt_eval_bucket_of(int64_t horizon_ms);

/** Whether error_ms = actual - predicted is within the bucket's tolerance (bounds included). */
bool buyt_eval_accurate(int bucket, int64_t error_ms);

/** Name of a predictor ("schedule", "oba", "kalman", "buyt"). */
const char *buyt_eval_predictor_name(enum buyt_eval_predictor p);

struct buyt_eval_cell {
    uint64_t n, accurate;
    double abs_err_s, err_s; /* sums of |error| and error, seconds */
};

struct buyt_eval_report {
    struct buyt_eval_cell cell[BUYT_EVAL__COUNT][BUYT_EVAL_BUCKETS];
    uint64_t fixes, fixes_refused, fixes_matched, vehicles, network_loads;
    uint64_t stop_events, gap_events;
    uint64_t samples;  /* (trip, stop) predictions recorded, each for every predictor */
    uint64_t scored;   /* ... whose actual came (in a bucket or beyond 15 min) */
    uint64_t unscored; /* ... never observed: stop not detected, trip abandoned, replay end */
    int64_t first_ms, last_ms; /* the fixes' time span */
};

/** Scores one prediction into r. */
void buyt_eval_report_add(struct buyt_eval_report *r, enum buyt_eval_predictor p, int64_t made_ms,
                          int64_t predicted_ms, int64_t actual_ms);

/** Accuracy (0..1) of a predictor in a bucket; NAN without samples. */
double buyt_eval_accuracy(const struct buyt_eval_report *r, enum buyt_eval_predictor p, int b);

/** Mean absolute error in a bucket, seconds; NAN without samples. */
double buyt_eval_mae_s(const struct buyt_eval_report *r, enum buyt_eval_predictor p, int b);

/** The plain average of the bucket accuracies that have samples; NAN if none has. */
double buyt_eval_score(const struct buyt_eval_report *r, enum buyt_eval_predictor p);

/** Prints the report as a table (text) or as one JSON object (jansson). Returns 0 or
 *  BUYT_EIO / BUYT_ENOMEM. */
int buyt_eval_report_print(FILE *f, const struct buyt_eval_report *r);
int buyt_eval_report_json(FILE *f, const struct buyt_eval_report *r);

/* ---- the replay ------------------------------------------------------------------------ */

struct buyt_eval_options {
    int32_t sample_s;      /* [30] read a vehicle's predictions this often */
    int32_t max_horizon_s; /* [1200] record predictions up to this far ahead */
    double early_z;        /* [1.0] the buyt predictor's early_z (predict.h); kalman uses 0 */
};

void buyt_eval_options_default(struct buyt_eval_options *o);

/** One recorded fix. Strings are borrowed for the call. trip_id / route_id / run_id, when
 *  given, are the driver's sign-in (as the engine applies a DriverEvent): the matcher is told
 *  when they change; all empty: automatic matching. start_date (YYYYMMDD) picks the trip's
 *  service day when the feed runs it on several. */
struct buyt_eval_fix {
    const char *vehicle_id;
    int64_t time_ms;
    double lat, lon;
    double speed_mps, course_deg;                         /* NAN when unknown */
    const char *trip_id, *route_id, *run_id, *start_date; /* NULL or "" when not given */
};

struct buyt_eval; /* opaque */

/** Creates a replay. opts NULL: defaults. Returns 0, BUYT_EINVAL or BUYT_ENOMEM. */
int buyt_eval_new(const struct buyt_eval_options *opts, struct buyt_eval **out);

/** Frees it. NULL is a no-op. */
void buyt_eval_free(struct buyt_eval *e);

/** Uses a finished network (borrowed until the next call or free). Vehicles' matching restarts;
 *  predictions waiting for an actual are counted unscored; learned statistics are kept.
 *  Returns 0 or BUYT_ENOMEM / BUYT_EINVAL. */
int buyt_eval_set_network(struct buyt_eval *e, const struct buyt_network *net);

/** Replays one fix. Fixes must come in time order across all vehicles (the predictors learn
 *  from everyone's past only). Returns 0, BUYT_EINVAL (no network, no vehicle id, bad
 *  coordinates: counted refused), BUYT_ENOMEM. */
int buyt_eval_feed(struct buyt_eval *e, const struct buyt_eval_fix *f);

/** The report so far; predictions still waiting for their actual are counted unscored. */
const struct buyt_eval_report *buyt_eval_report(struct buyt_eval *e);

#endif
