/* Deterministic synthetic city: a Hà Nội-scale bus network (street grid with curved streets,
 * terminals shared by many routes, loop routes, stops named in Vietnamese, blocks chaining each
 * bus's trips through the service day with layovers, times past 24:00), built in memory by
 * buyt_citygen_build() and written as a GTFS feed by buyt_city_write_gtfs() (gtfs_out.c).
 *
 * Same parameters (seed included) -> the same city, byte for byte. The structures below are
 * the generator's output, public read-only so tests can check its invariants. Geometry is in a
 * local frame around Hoàn Kiếm lake (x east, y north, metres; common/geo.h) and in WGS-84. */
#ifndef BUYT_SIM_CITYGEN_H
#define BUYT_SIM_CITYGEN_H

#include "geo.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BUYT_CITY_NAME_MAX 192
#define BUYT_CITY_CENTER_LAT 21.0285
#define BUYT_CITY_CENTER_LON 105.8542

struct buyt_citygen_params {
    uint64_t seed;
    int routes; /* 1..1000 (default 150) */
    int stops;  /* target, +-10 % (default 4000) */
    int buses;  /* vehicles (blocks), >= routes (default 2000) */
};

struct buyt_city_stop {
    char id[16];
    char code[8];
    char name[BUYT_CITY_NAME_MAX];
    double x_m, y_m, lat, lon;
    int terminal; /* terminal index, or -1 */
};

struct buyt_city_shape {
    char id[24];
    int n;
    double *x_m, *y_m, *lat, *lon, *dist_m; /* n points each */
};

/* One direction of a route: its shape and stop pattern. */
struct buyt_city_pattern {
    int shape;
    int n_stops;
    int *stops;          /* stop indices */
    double *dist_m;      /* distance along the shape of each stop */
    double *free_flow_s; /* n_stops - 1 segments: time at the roads' speed limits */
    char headsign[BUYT_CITY_NAME_MAX];
};

struct buyt_city_route {
    char id[16];
    char short_name[8];
    char long_name[2 * BUYT_CITY_NAME_MAX];
    char color[7];
    bool loop;  /* starts and ends at the same terminal */
    int n_dirs; /* 1 or 2 */
    struct buyt_city_pattern dir[2];
    int n_buses;
};

struct buyt_city_stop_time {
    int stop;
    int arr_s, dep_s; /* seconds since service-day noon - 12 h (may pass 86400) */
    double dist_m;
    bool timepoint;
};

struct buyt_city_trip {
    char id[32];
    int route, dir, block;
    int start_s, end_s;
    int st0, n_st; /* stop_times[st0 .. st0 + n_st) */
};

struct buyt_city_block {
    char id[24];
    int route;
    bool split;       /* peak-only bus: a long midday layover between two shifts */
    int t0, n_trips;  /* block_trips[t0 .. t0 + n_trips): trip indices in time order */
};

struct buyt_city {
    struct buyt_citygen_params params;
    struct buyt_geo_frame frame;
    int n_terminals;
    int n_stops;
    struct buyt_city_stop *stops;
    int n_shapes;
    struct buyt_city_shape *shapes;
    int n_routes;
    struct buyt_city_route *routes;
    int n_trips;
    struct buyt_city_trip *trips;
    long n_stop_times;
    struct buyt_city_stop_time *stop_times;
    int n_blocks;
    struct buyt_city_block *blocks;
    int *block_trips;
};

/** Fills `p` with the defaults (seed 1, 150 routes, 4000 stops, 2000 buses). */
void buyt_citygen_params_init(struct buyt_citygen_params *p);

/** Builds the city of `p` (borrowed). Returns 0 with *out owning a new city
 *  (buyt_city_free), or BUYT_EINVAL (a parameter out of range, reason in err) / BUYT_ENOMEM. */
int buyt_citygen_build(const struct buyt_citygen_params *p, struct buyt_city **out, char *err,
                       size_t errlen);

/** Frees a city; NULL is a no-op. */
void buyt_city_free(struct buyt_city *c);

/** Writes the city as a GTFS feed into folder `dir` (created if missing; files replaced):
 *  agency, feed_info, calendar, routes, stops, shapes, trips, stop_times. Returns 0, or
 *  BUYT_EIO with "path: reason" in err. */
int buyt_city_write_gtfs(const struct buyt_city *c, const char *dir, char *err, size_t errlen);

#endif
