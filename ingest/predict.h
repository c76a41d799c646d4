/* Arrival predictions: when will the bus on a trip reach each stop still ahead of it.
 *
 * Learned statistics. Every stop event (stopev.h) of a vehicle updates, online:
 *   - the travel time of the segment between two consecutive stops of a pattern (from the
 *     departure of one stop's zone to the arrival at the next one's), and
 *   - the dwell time at a stop (zero when the bus passed without stopping),
 * each in a cell per (time-of-day band, day type weekday / saturday / sunday): an exponentially
 * weighted mean and variance, outliers gated. A segment is identified by its two GTFS stop
 * ids, so the statistics survive network reloads and feed versions, and routes that drive the
 * same pair of stops learn together.
 *
 * Prediction. On each matched fix the vehicle's trip is predicted from where the bus is: the
 * rest of the current segment by distance, then for each segment ahead an estimate that blends
 * the historical cell (H) with the last vehicle's time on that segment today (L):
 *   - BUYT_PREDICT_BLEND (default): H + w (L - H), w the weight minimising the squared error,
 *     learned per cell from how well H and L each predicted later traversals
 *     (w = (vH - c) / (vH + vL - 2c), vH, vL their error variances, c their covariance);
 *   - BUYT_PREDICT_KALMAN: TheTransitClock's scalar filter: gain = (e + s2) / (e + 2 s2),
 *     prediction = (1 - gain) L + gain H, e <- s2 gain (s2 the cell's variance, e cached per
 *     segment, initially 100 s2): the anchor the blend is measured against (buyt-eval).
 * A segment or dwell without enough history uses the schedule's time for it, and each
 * predicted stop says which source dominated (BUYT_PREDICT_SCHEDULE / _LEARNED).
 *
 * Riders judge a prediction asymmetrically: a bus later than announced costs a wait, one
 * earlier than announced is missed (TransitApp's tolerances: 30 s early / 90 s late at 0-3
 * min). So the eta reported is the mean arrival moved early_z standard deviations earlier,
 * the deviation summed along the way from the learned error variances of each estimate (the
 * schedule's error is not known: it adds none). early_z = 0 reports the mean. A bus never
 * leaves a trip's first stop before its scheduled departure, nor a terminal before its arrival
 * there plus the minimum layover. Trips of the vehicle's block that have not started
 * (trip.next_in_block) are predicted from the predicted end of the current trip: "not started,
 * corrected by where the vehicle that will run it is now".
 *
 * A trip's first stop is predicted as a departure, every other stop as an arrival: a terminal
 * departure is never confused with an arrival (the last stop of a trip is predicted for its
 * arrival only, and boards leave it out: nobody boards a bus that ends there).
 *
 * Cost: one update touches the vehicle's trip from its next stop on (the block's later trips
 * are recomputed only when the trip's predicted end moves by 30 s or once a minute); it
 * allocates nothing in steady state. Not thread-safe: one loop owns it (the engine's).
 * Ownership: borrows the network (must outlive it until the next set_network). */
#ifndef BUYT_PREDICT_H
#define BUYT_PREDICT_H

#include "matcher.h"
#include "network.h"
#include "stopev.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BUYT_PREDICT_BANDS 8     /* time-of-day bands, see buyt_predict_band() */
#define BUYT_PREDICT_DAYTYPES 3  /* weekday, saturday, sunday */
#define BUYT_PREDICT_CHAIN_MAX 3 /* later trips of a block predicted per vehicle */
#define BUYT_PREDICT_LABEL 33    /* vehicle label bytes, NUL included */

enum buyt_predict_model {
    BUYT_PREDICT_BLEND = 0, /* learned minimum-variance blend of history and last vehicle */
    BUYT_PREDICT_KALMAN,    /* TheTransitClock's scalar Kalman filter (the anchor) */
};

/** Which source dominates a predicted time: more than half of the time from the bus to the
 *  stop came from learned statistics (LEARNED), or not (SCHEDULE). */
enum buyt_predict_source {
    BUYT_PREDICT_SCHEDULE = 0,
    BUYT_PREDICT_LEARNED = 1,
};

/** Statistic kinds (also the `kind` column of segment_stats). */
enum buyt_predict_kind {
    BUYT_PREDICT_TRAVEL = 0, /* from_stop -> to_stop */
    BUYT_PREDICT_DWELL = 1,  /* at from_stop; to_stop is "" */
};

/** Tuning. buyt_predict_config_default() gives the values in brackets. */
struct buyt_predict_config {
    enum buyt_predict_model model; /* [BLEND] */
    uint32_t min_samples;          /* [3] samples in a cell before it is used */
    double alpha_min;              /* [0.05] floor of the EWMA weight (~20 samples of memory) */
    double outlier_lo, outlier_hi; /* [0.5, 2.5] once warm, a sample outside [lo, hi] x mean is
                                      an outlier; 5 in a row on one side are a new regime */
    int32_t last_fresh_s;    /* [1800] the last vehicle's time on a segment is used this long */
    int32_t min_layover_s;   /* [120] at a terminal between two trips of a block */
    int32_t chain_horizon_s; /* [5400] predict block trips starting within this of now */
    double at_stop_m;        /* [30] within this of a stop the bus is at it */
    double kalman_e0;        /* [100] initial error of the KALMAN filter, s^2 */
    double early_z;          /* [1.0] report eta = mean - early_z x its learned standard
                                deviation (0 .. 3; 0: the mean); see the top of this file */
};

struct buyt_predict; /* opaque */

/** Fills cfg with the defaults above. */
void buyt_predict_config_default(struct buyt_predict_config *cfg);

/** Creates a predictor with no network. cfg NULL: defaults. Returns 0, BUYT_EINVAL (bad
 *  config) or BUYT_ENOMEM. Free with buyt_predict_free(). */
int buyt_predict_new(const struct buyt_predict_config *cfg, struct buyt_predict **out);

/** Frees it and its statistics. NULL is a no-op. */
void buyt_predict_free(struct buyt_predict *p);

/** Binds a finished network (borrowed; NULL: none). Live predictions, vehicle states and
 *  cancellations are dropped (trip indices change); learned statistics are kept and mapped onto
 *  the new network's segments by stop ids. Returns 0 or BUYT_ENOMEM (then no network is bound). */
int buyt_predict_set_network(struct buyt_predict *p, const struct buyt_network *net);

/** Feeds one matcher result of vehicle `vehicle` (a small dense key chosen by the caller, e.g.
 *  the engine's registry index; the state array grows to the largest key). `label` (the fleet
 *  number, may be NULL) is copied when it changes. `time_ms` is the fix's time.
 *  No trip: the vehicle's predictions are dropped. Off route: its predictions are kept as they
 *  were (boards show them as scheduled-only) and not updated. Otherwise the current trip is
 *  re-predicted from res->next_stop on. Returns 0, BUYT_EINVAL (no network, trip out of range),
 *  BUYT_ENOMEM (first use of a key or of a longer trip; the vehicle then has no prediction). */
int buyt_predict_vehicle(struct buyt_predict *p, uint32_t vehicle, const char *label,
                         int64_t time_ms, const struct buyt_matcher_result *res);

/** Forgets a vehicle's predictions (sign-out, removal). */
void buyt_predict_vehicle_drop(struct buyt_predict *p, uint32_t vehicle);

/** Learns from one stop event of `vehicle` (the events of a vehicle in the order stopev emits
 *  them): the dwell at the stop, and the travel time from the previous stop when that stop's
 *  departure was seen. Also marks the stop as left. Events with gaps teach nothing. */
void buyt_predict_observe(struct buyt_predict *p, uint32_t vehicle,
                          const struct buyt_stopev_event *ev);

/** Marks a trip instance cancelled (or not): boards show it as cancelled. Returns 0 or
 *  BUYT_EINVAL. */
int buyt_predict_trip_cancel(struct buyt_predict *p, uint32_t trip, bool cancelled);

/* ---- reading predictions --------------------------------------------------------------- */

enum buyt_predict_state {
    BUYT_PREDICT_NONE = 0,  /* no vehicle predicted for this trip */
    BUYT_PREDICT_LIVE,      /* *out filled */
    BUYT_PREDICT_DEPARTED,  /* the trip's vehicle has left this stop (or it is behind it) */
    BUYT_PREDICT_CANCELLED, /* the trip is cancelled */
};

/** One predicted stop of a trip. */
struct buyt_predict_arrival {
    int64_t eta_ms;    /* predicted arrival; at the trip's first stop: departure */
    int64_t made_ms;   /* time of the fix it was computed at */
    int64_t fix_ms;    /* the vehicle's newest fix (staleness is the reader's call) */
    uint32_t vehicle;  /* key */
    const char *label; /* borrowed until the next call for that vehicle */
    enum buyt_predict_source source;
    bool on_trip;   /* the vehicle runs this trip now; false: a later trip of its block */
    bool at_stop;   /* the vehicle is at this stop now */
    bool off_route; /* the vehicle is off its route: the prediction is not current */
    /* Standard deviation of the arrival, s, from the learned errors of the estimates summed to
     * it (eta_ms is early_z of them before the mean); 0: unknown (the schedule alone, whose
     * error is not known). */
    uint32_t uncertainty_s;
};

/** State of stop k (0-based in the trip's stop list) of `trip`; fills *out when LIVE. */
enum buyt_predict_state buyt_predict_get(const struct buyt_predict *p, uint32_t trip, uint32_t k,
                                         struct buyt_predict_arrival *out);

/** A vehicle's predicted trips: the current one first (on_trip), then its block's. eta_ms and
 *  source are indexed by stop k in [from, n) and borrowed until the next update. */
struct buyt_predict_trip_view {
    uint32_t trip, from, n;
    const int64_t *eta_ms;
    const uint8_t *source;
    bool on_trip;
};

/** Fills up to cap views of the vehicle's predictions; returns how many. */
uint32_t buyt_predict_vehicle_view(const struct buyt_predict *p, uint32_t vehicle,
                                   struct buyt_predict_trip_view *out, uint32_t cap);

/** The vehicle's newest fix time (0 if unknown) and off-route flag. */
int64_t buyt_predict_vehicle_fix_ms(const struct buyt_predict *p, uint32_t vehicle,
                                    bool *off_route);

/* ---- statistics: query, persistence ---------------------------------------------------- */

/** Time-of-day band of a local time of day (seconds after midnight, any value: taken modulo a
 *  day): 00-06, 06-09, 09-11, 11-14, 14-16, 16-19, 19-22, 22-24 h. */
uint32_t buyt_predict_band(int32_t local_s);

/** Day type of a service day starting at day_start_ms (network.h): 0 weekday, 1 saturday,
 *  2 sunday (holidays are not known: a holiday counts as its weekday). */
uint32_t buyt_predict_daytype(int64_t day_start_ms);

/** One cell of statistics, as stored. */
struct buyt_predict_stat {
    enum buyt_predict_kind kind;
    const char *from_stop, *to_stop; /* to_stop "" for DWELL */
    uint32_t band, daytype;
    uint32_t n, n_last; /* samples; samples that had a fresh last-vehicle time */
    double mean_s, var_s2;
    double var_last_s2, cov_s2; /* error variance of the last vehicle's time as a predictor,
                                   covariance of the two predictors' errors */
    int64_t updated_ms;
};

/** A self-contained copy of statistics (its strings live in the same allocation), safe to hand
 *  to another thread. */
struct buyt_predict_stats {
    size_t n;
    struct buyt_predict_stat *rows;
};

/** Copies the cells changed since the previous snapshot (every cell with samples when `all`)
 *  into a new *out, and clears their changed marks. Free with buyt_predict_stats_free().
 *  Returns 0 or BUYT_ENOMEM (marks kept). */
int buyt_predict_stats_snapshot(struct buyt_predict *p, bool all, struct buyt_predict_stats **out);

/** Frees a snapshot. NULL is a no-op. */
void buyt_predict_stats_free(struct buyt_predict_stats *s);

/** Sets one cell (loading stored statistics; replaces what the cell held, not marked changed).
 *  Returns 0, BUYT_EINVAL (bad kind/band/daytype, empty stop id) or BUYT_ENOMEM. */
int buyt_predict_stat_put(struct buyt_predict *p, const struct buyt_predict_stat *st);

/** Reads one cell: returns false if the segment/stop is unknown or the cell has no samples.
 *  to_stop "" (or NULL) for DWELL. */
bool buyt_predict_stat_get(const struct buyt_predict *p, enum buyt_predict_kind kind,
                           const char *from_stop, const char *to_stop, uint32_t band,
                           uint32_t daytype, struct buyt_predict_stat *out);

/** Counters. */
struct buyt_predict_counters {
    uint64_t updates;      /* buyt_predict_vehicle calls with a trip */
    uint64_t observations; /* travel + dwell samples taken */
    uint64_t outliers;     /* samples refused by the gate */
    uint64_t implausible;  /* travel samples refused outright (<= 0 s, > 1 h, > 40 m/s) */
    uint64_t segments;     /* distinct segments + stops with statistics */
    uint64_t live_trips;   /* trip predictions held now */
};
void buyt_predict_counters(const struct buyt_predict *p, struct buyt_predict_counters *out);

/* ---- samples for the `predictions` table ------------------------------------------------ */

#define BUYT_PREDICT_ID_MAX 80 /* id bytes kept in a sample, NUL included */

/** One prediction kept for the accuracy log (sql/migrations/0003_predictions.sql). Self-
 *  contained (ids copied), safe to hand to another thread. */
struct buyt_predict_sample {
    int64_t made_ms, predicted_ms, scheduled_ms;
    int32_t service_day; /* Unix day of the trip's service date */
    int32_t run_start_s; /* the trip's network.h run_start_s (-1: not a frequency run) */
    uint32_t stop_sequence;
    enum buyt_predict_source source;
    bool on_trip;   /* false: a later trip of the vehicle's block */
    bool departure; /* the trip's first stop: the prediction is a departure */
    char trip_id[BUYT_PREDICT_ID_MAX], stop_id[BUYT_PREDICT_ID_MAX];
    char vehicle[BUYT_PREDICT_LABEL];
};

/** Samples the current predictions of vehicles seen within stale_s of now_ms and not off
 *  route: per predicted trip, the first stop whose horizon falls in each of 0-3, 3-6, 6-10,
 *  10-15 and 15-30 min. Up to cap samples; a call that fills cap resumes with the next vehicle
 *  on the next call. Returns the number written. */
uint32_t buyt_predict_samples(struct buyt_predict *p, int64_t now_ms, int32_t stale_s,
                              struct buyt_predict_sample *out, uint32_t cap);

#endif
