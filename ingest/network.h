/* The in-memory transit network the matcher works on: routes, stops, shapes, trips of one or
 * more service days with their stop times, each stop projected onto the shape of every trip
 * that serves it, and a spatial grid over the shapes.
 *
 * Two phases. Building: a loader (PostgreSQL, a test, the bench) appends routes, stops, shapes
 * and their points, trips and stop times through buyt_network_add_*() in any order that
 * respects references (a trip names a route and shape already added). Then
 * buyt_network_finish() computes everything derived and the network becomes read-only: its
 * public arrays may be read from any thread without locks, and indices stay valid for its
 * life. To change the network, build a new one and swap (vehicle states hold trip indices: see
 * buyt_matcher_vehicle_reset).
 *
 * GTFS meaning of the fields (https://gtfs.org/schedule/reference/): routes.txt, stops.txt,
 * shapes.txt, trips.txt, stop_times.txt. A trip here is a trip *instance*: one GTFS trip on one
 * service day. The loader resolves calendar.txt + calendar_dates.txt and adds each active
 * trip once per service day it runs, with that day's "noon minus 12 h" instant in UTC
 * (GTFS stop times are seconds after it and may exceed 24 h). A trip with frequencies.txt
 * windows is added once per *run* instead: one instance per start time in each window, its
 * stop times the template's shifted to that start (the instance is then (trip_id, day, run
 * start), as in GTFS-Realtime's TripDescriptor start_time). */
#ifndef BUYT_NETWORK_H
#define BUYT_NETWORK_H

#include "geo.h"
#include "grid.h"
#include "shape.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BUYT_NETWORK_NONE UINT32_MAX   /* "no such index" */
#define BUYT_NETWORK_NO_TIME INT32_MIN /* a blank arrival/departure in stop_times.txt */
#define BUYT_NETWORK_NOT_A_RUN (-1)    /* trip.run_start_s of a trip that is not a run */

struct buyt_network_route {
    const char *id;         /* route_id */
    const char *short_name; /* route_short_name ("" if none) */
    int32_t type;           /* route_type (3 = bus) */
};

struct buyt_network_stop {
    const char *id, *name;
    double lat, lon;
    float x_m, y_m; /* in net->frame */
};

/** A stop of a pattern: which stop, and where it falls along the pattern's shape. */
struct buyt_network_pattern_stop {
    uint32_t stop;
    float dist_m; /* non-decreasing along the pattern */
};

/** A distinct (shape, stop list): the trips sharing it share the projection of their stops. */
struct buyt_network_pattern {
    uint32_t shape;
    uint32_t first; /* index of its first stop in net->pattern_stops */
    uint32_t n_stops;
};

/** One row of stop_times.txt after finishing: blanks filled by interpolation on distance. */
struct buyt_network_time {
    int32_t arrival_s, departure_s; /* seconds after the trip's day_start_ms */
    uint32_t stop_sequence;         /* GTFS stop_sequence (increasing, not always dense) */
};

struct buyt_network_trip {
    const char *id, *headsign;
    uint32_t route, shape, pattern;
    uint32_t block;      /* index into net->block_ids, or NONE */
    uint32_t first_time; /* its stops' times are net->times[first_time .. + n_stops) */
    uint32_t n_stops;
    uint32_t next_in_block; /* the block's next trip (same service day, by start time), NONE */
    uint32_t same_id_next;  /* next instance of the same trip_id (another day), NONE */
    int64_t day_start_ms;   /* service day's noon - 12 h, UTC Unix ms */
    int32_t start_s, end_s; /* first departure, last arrival (seconds after day_start_ms) */
    int32_t run_start_s;    /* a run of a frequencies.txt trip: its start (s after day start,
                               the first stop's departure); BUYT_NETWORK_NOT_A_RUN otherwise */
    int8_t direction;       /* direction_id 0/1, -1 if unknown */
    bool headway_based;     /* a run of an exact_times = 0 window: its times are nominal */
    bool valid;             /* false: unusable (fewer than 2 timed stops...): never matched */
};

/** What finishing found in the data (counted, not fatal). */
struct buyt_network_stats {
    uint32_t shapes_derived;       /* shapes made from stop positions (trip had no usable shape) */
    uint32_t shapes_merged;        /* shapes identical to an earlier one: its trips use that one */
    uint32_t stops_far_from_shape; /* pattern stops projected more than 100 m from the shape */
    uint32_t stops_out_of_order;   /* no monotone placement existed: placed greedily */
    uint32_t times_interpolated;   /* blank arrival/departure filled by distance */
    uint32_t times_reordered;      /* times decreasing along a trip, clamped */
    uint32_t trips_invalid;        /* trips with fewer than two stops or no first/last time */
};

/** Building options. */
struct buyt_network_options {
    double grid_cell_m; /* spatial index cell; default 200 */
};

struct buyt_network_priv; /* private: storage and building buffers */

/** The network. Public fields are read-only and valid only after buyt_network_finish(). */
struct buyt_network {
    struct buyt_geo_frame frame; /* local metric frame: centre of the data's bounding box */
    const struct buyt_network_route *routes;
    uint32_t n_routes;
    const struct buyt_network_stop *stops;
    uint32_t n_stops;
    const struct buyt_shape *shapes; /* loaded shapes first, then derived ones; a shape merged
                                        into an identical one keeps its points, has no trips */
    const char *const *shape_ids;    /* derived shapes get "" */
    uint32_t n_shapes;
    const struct buyt_network_pattern *patterns;
    uint32_t n_patterns;
    const struct buyt_network_pattern_stop *pattern_stops;
    const struct buyt_network_trip *trips;
    uint32_t n_trips;
    const struct buyt_network_time *times;
    const char *const *block_ids;
    uint32_t n_blocks;
    /* Valid trips of each shape, by start instant: shape_trips[shape_trip_first[s] ..
     * shape_trip_first[s + 1]). */
    const uint32_t *shape_trips;
    const uint32_t *shape_trip_first;
    struct buyt_grid grid;
    struct buyt_network_stats stats;
    bool finished;
    struct buyt_network_priv *priv;
};

/** A trip as the loader gives it. Strings are copied. */
struct buyt_network_trip_def {
    const char *trip_id;
    uint32_t route;       /* index from buyt_network_add_route */
    uint32_t shape;       /* index from buyt_network_add_shape, or NONE: derived from stops */
    const char *block_id; /* NULL or "" if none */
    const char *headsign; /* NULL for none */
    int direction_id;     /* 0, 1, or -1 unknown */
    int64_t day_start_ms; /* the service day's noon - 12 h, UTC Unix ms */
    bool frequency_run;   /* one run of a frequencies.txt trip (below); false: scheduled */
    int32_t run_start_s;  /* the run's start, seconds after day_start_ms (frequency_run only) */
    bool headway_based;   /* the run's window has exact_times = 0 (frequency_run only) */
};

/** Creates an empty network in the building phase. opts NULL: defaults. Returns 0 or
 *  BUYT_ENOMEM / BUYT_EINVAL. *out owns it: free with buyt_network_free(). */
int buyt_network_new(const struct buyt_network_options *opts, struct buyt_network **out);

/** Frees the network and everything it owns. NULL is a no-op. */
void buyt_network_free(struct buyt_network *net);

/** Adds a route; *idx gets its index (may be NULL). Strings copied. Returns 0, BUYT_EINVAL
 *  (finished, NULL/empty id, or duplicate id), BUYT_ENOMEM. */
int buyt_network_add_route(struct buyt_network *net, const char *route_id, const char *short_name,
                           int32_t type, uint32_t *idx);

/** Adds a stop at WGS-84 degrees. Same returns as add_route. */
int buyt_network_add_stop(struct buyt_network *net, const char *stop_id, const char *name,
                          double lat, double lon, uint32_t *idx);

/** Adds an empty shape. Same returns as add_route. */
int buyt_network_add_shape(struct buyt_network *net, const char *shape_id, uint32_t *idx);

/** Appends a point to a shape. The points of one shape must come in shape_pt_sequence order;
 *  points of different shapes may interleave. Returns 0, BUYT_EINVAL, BUYT_ENOMEM. */
int buyt_network_add_shape_point(struct buyt_network *net, uint32_t shape, double lat, double lon);

/** Adds a trip instance. The same trip_id may be added once per service day, or once per run
 *  start per day for frequency runs. Returns 0, BUYT_EINVAL (bad reference, negative run
 *  start, duplicate (trip_id, day, run start)), BUYT_ENOMEM. */
int buyt_network_add_trip(struct buyt_network *net, const struct buyt_network_trip_def *def,
                          uint32_t *idx);

/** Appends one stop_times.txt row to a trip, in any order (sorted by stop_sequence when
 *  finishing). arrival_s / departure_s: seconds after the trip's day start, or
 *  BUYT_NETWORK_NO_TIME when blank. Returns 0, BUYT_EINVAL, BUYT_ENOMEM. */
int buyt_network_add_stop_time(struct buyt_network *net, uint32_t trip, uint32_t stop_sequence,
                               uint32_t stop, int32_t arrival_s, int32_t departure_s);

/** Ends building: projects stops onto shapes (monotone along each trip, by dynamic
 *  programming over the candidate positions of each stop), fills blank times by distance,
 *  chains blocks, indexes trips by shape and builds the grid. Frees the building buffers.
 *  Data problems are counted in net->stats, not fatal (a trip with fewer than two stops, a
 *  duplicate stop_sequence or no first/last time is kept but marked invalid). Returns 0,
 *  BUYT_EINVAL (already finished), BUYT_ENOMEM (the network is then unusable: free it). */
int buyt_network_finish(struct buyt_network *net);

/** Index of the route / stop / shape / block with that GTFS id, or BUYT_NETWORK_NONE. Work
 *  while building and after. */
uint32_t buyt_network_route_find(const struct buyt_network *net, const char *route_id);
uint32_t buyt_network_stop_find(const struct buyt_network *net, const char *stop_id);
uint32_t buyt_network_shape_find(const struct buyt_network *net, const char *shape_id);
uint32_t buyt_network_block_find(const struct buyt_network *net, const char *block_id);

/** The instance of trip_id that fits time_ms best (a driver's sign-in, an operator's
 *  assignment): among those whose span, from 30 min before the first departure to the last
 *  arrival, contains it, the one starting nearest to it (overlapping frequency runs: the run
 *  about to leave or just left, not one that left long ago), else the one whose span is
 *  nearest. BUYT_NETWORK_NONE if unknown. */
uint32_t buyt_network_trip_find(const struct buyt_network *net, const char *trip_id,
                                int64_t time_ms);

/** GTFS time text of s seconds after a service day's start: "HH:MM:SS", hours past 24 kept
 *  ("25:15:35"), as in stop_times.txt and GTFS-Realtime's start_time. s >= 0. */
void buyt_network_time_text(int32_t s, char out[16]);

/** Scheduled time, in seconds after the trip's day start, at which the trip is at dist_m
 *  along its shape: interpolated between the departure of the stop before and the arrival of
 *  the stop after; before the first stop its departure, after the last its arrival. When
 *  dist_m is at a stop (within at_stop_m), *window_s (if not NULL) gets the dwell scheduled
 *  there (departure - arrival; the return value is the arrival), else 0. */
double buyt_network_trip_time_at(const struct buyt_network *net, uint32_t trip, double dist_m,
                                 double at_stop_m, double *window_s);

/** Index (0-based, in the trip's stop list) of the first stop whose distance along the shape
 *  is greater than dist_m - behind_m, or n_stops if none: the stop the bus is at or heading
 *  to when it is dist_m along and a stop counts as left behind_m after it. */
uint32_t buyt_network_trip_next_stop(const struct buyt_network *net, uint32_t trip, double dist_m,
                                     double behind_m);

/** Distance along the trip's shape of its stop k (0-based). */
static inline double buyt_network_trip_stop_dist(const struct buyt_network *net, uint32_t trip,
                                                 uint32_t k)
{
    const struct buyt_network_pattern *p = &net->patterns[net->trips[trip].pattern];
    return net->pattern_stops[p->first + k].dist_m;
}

/** Index into net->stops of the trip's stop k. */
static inline uint32_t buyt_network_trip_stop(const struct buyt_network *net, uint32_t trip,
                                              uint32_t k)
{
    const struct buyt_network_pattern *p = &net->patterns[net->trips[trip].pattern];
    return net->pattern_stops[p->first + k].stop;
}

/** Bytes of heap memory the finished network holds (arrays, strings, grid). */
size_t buyt_network_bytes(const struct buyt_network *net);

#endif
