/* The simulator's view of a GTFS network: what buses drive (shapes in a local metric frame,
 * stop patterns projected onto them with per-segment speed limits) and when (trips, block
 * instances on concrete service days). Loaded from the gtfs_* tables by network_db.c; built
 * by the loader only, read-only afterwards. */
#ifndef BUYT_SIMNET_H
#define BUYT_SIMNET_H

#include "geo.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BUYT_NET_ID_MAX 65
#define BUYT_NET_NAME_MAX 160

struct buyt_net_stop {
    char id[BUYT_NET_ID_MAX];
    char name[BUYT_NET_NAME_MAX];
    double lat, lon, x_m, y_m;
};

struct buyt_net_shape {
    char id[BUYT_NET_ID_MAX];
    int n;
    double *x_m, *y_m, *dist_m; /* dist_m: cumulative length computed here (metres) */
};

/* A stop sequence on a shape, shared by every trip that runs it. */
struct buyt_net_pattern {
    int shape;
    int n_stops;
    int *stops;         /* stop indices */
    double *dist_m;     /* each stop projected onto the shape, non-decreasing */
    double *limit_ms;   /* per shape segment (shape n - 1): speed limit incl. corners, m/s */
    bool *timepoint;    /* per stop */
};

struct buyt_net_trip {
    char id[BUYT_NET_ID_MAX];
    char route_id[BUYT_NET_ID_MAX];
    char block_id[BUYT_NET_ID_MAX]; /* "" if none: the trip is a block of its own */
    char service_id[BUYT_NET_ID_MAX];
    int shape;
    int pattern;
    int t0; /* arr_s/dep_s/seq[t0 .. t0 + n_stops of the pattern) */
    int start_s, end_s; /* departure from the first stop, arrival at the last (GTFS seconds) */
};

/* A service day: GTFS times count from base_ms (noon minus 12 h, agency time zone). */
struct buyt_net_day {
    char date[11]; /* YYYY-MM-DD */
    int64_t base_ms;
};

/* One bus's work on one service day: the trips of a block (or one unblocked trip). */
struct buyt_net_instance {
    int day;
    int i0, n;             /* inst_trips[i0 .. i0 + n): trip indices in time order */
    int64_t start_ms, end_ms;
};

struct buyt_simnet {
    char agency[BUYT_NET_ID_MAX];
    char timezone[64];
    struct buyt_geo_frame frame;
    int n_stops, n_shapes, n_patterns, n_trips, n_days, n_instances;
    struct buyt_net_stop *stops;
    struct buyt_net_shape *shapes;
    struct buyt_net_pattern *patterns;
    struct buyt_net_trip *trips;
    int *arr_s, *dep_s, *seq; /* per stop time: GTFS seconds, stop_sequence */
    struct buyt_net_day days[3];
    struct buyt_net_instance *instances;
    int *inst_trips;
    long n_stop_times;
};

/** Loads the network around `start_ms` (Unix ms): the service days before, of and after the
 *  local date of start_ms, their trips (calendar and calendar_dates), stop times, shapes and
 *  stops, and every block instance of those days. Blocking libpq: call before the loop runs.
 *  Returns 0 with *out owning the network (buyt_simnet_free), or BUYT_EDB / BUYT_EINVAL
 *  (no feed imported, no service) with one line in err. */
int buyt_simnet_load(const char *conninfo, int64_t start_ms, struct buyt_simnet **out,
                      char *err, size_t errlen);

/** Frees a network; NULL is a no-op. */
void buyt_simnet_free(struct buyt_simnet *n);

/** Position (local metres) and unit heading at distance s along shape `sh`, with a hint of the
 *  segment to start searching from (*seg, updated; may be NULL). s is clamped to the shape. */
void buyt_net_shape_at(const struct buyt_net_shape *sh, double s, int *seg, double *x, double *y,
                       double *dx, double *dy);

/** Distance (m) from (x, y) to the nearest point of shape `sh`. */
double buyt_net_shape_distance(const struct buyt_net_shape *sh, double x, double y);

#endif
