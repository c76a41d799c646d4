/* Stop arrivals and departures from matched progress: the "actuals" that predictions are
 * judged against.
 *
 * Each stop of the trip has a zone along the shape: [stop - r, stop + r] with r the arrival
 * radius, shrunk to half the distance to a neighbouring stop so zones never overlap. Arrival
 * is the instant progress crossed the zone's start, departure the instant it crossed its end,
 * both interpolated between the two progress samples around the crossing (a monotone cubic
 * using the samples' speeds when the interval is short, linear across a data gap). A stop
 * crossed with no slow sample inside its zone was passed without stopping. The last stop of a
 * trip gets an arrival only (a terminal's departure belongs to the next trip's first stop);
 * the first stop gets no arrival when the trip began with the bus already in its zone.
 *
 * Per-vehicle state is a small fixed-size struct owned by the caller; no allocation. */
#ifndef BUYT_STOPEV_H
#define BUYT_STOPEV_H

#include "matcher.h"
#include "network.h"

#include <stdbool.h>
#include <stdint.h>

struct buyt_stopev_config {
    double arrival_radius_m; /* [30] half-width of a stop's zone along the shape */
    double stopped_mps;      /* [1.5] a sample in the zone slower than this: the bus stopped */
    int32_t gap_s;           /* [60] a crossing interpolated over a longer interval is a gap */
};

struct buyt_stopev_event {
    uint32_t trip;          /* trip instance */
    uint32_t stop_index;    /* position in the trip's stop list, 0-based */
    uint32_t stop_sequence; /* GTFS stop_sequence */
    uint32_t stop;          /* index into net->stops */
    int64_t arrival_ms;     /* Unix ms; 0 = unknown (the trip began inside the zone) */
    int64_t departure_ms;   /* Unix ms; 0 = none (last stop) or unknown (trip abandoned) */
    int32_t dwell_s;        /* departure - arrival, rounded; 0 when passed, gap or unknown */
    bool passed;            /* crossed the zone without a stopped sample */
    bool gap;               /* arrival or departure interpolated across a data gap: the bus
                               was not seen near the stop, its times are estimates */
};

/** Receives each event, in stop order. `ev` is borrowed for the call. */
typedef void (*buyt_stopev_cb)(void *ctx, const struct buyt_stopev_event *ev);

/** Per-vehicle detection state (fields private). */
struct buyt_stopev_vehicle {
    uint32_t trip;
    uint32_t next; /* first stop of the trip not yet emitted */
    bool have_last, in_zone, arr_known, arr_gap, stopped;
    int64_t arr_ms;
    struct buyt_matcher_point last;
};

/** Fills cfg with the defaults above. */
void buyt_stopev_config_default(struct buyt_stopev_config *cfg);

/** Initialises a vehicle's state (no trip). */
void buyt_stopev_vehicle_init(struct buyt_stopev_vehicle *v);

/** Feeds one matcher result (its trip, progress points, completed and progress_reset flags)
 *  and calls cb for each stop event it completes. A change of trip closes the previous one (a
 *  stop entered but not left is emitted without departure). Returns the number of events. */
uint32_t buyt_stopev_feed(const struct buyt_network *net, const struct buyt_stopev_config *cfg,
                          struct buyt_stopev_vehicle *v, const struct buyt_matcher_result *r,
                          buyt_stopev_cb cb, void *ctx);

/** Time at which progress reached `target_m` between samples a and b (a before b, a.dist <=
 *  target <= b.dist): monotone cubic Hermite on the samples' speeds when both are known and
 *  the interval is at most gap_s, else linear. Exposed for tests and the bench. */
int64_t buyt_stopev_cross_time(const struct buyt_matcher_point *a,
                               const struct buyt_matcher_point *b, double target_m, int32_t gap_s);

#endif
