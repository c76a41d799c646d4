/* The road and schedule model shared by the city generator and the simulator.
 *
 * GTFS carries no road classes, so the simulator recovers each inter-stop segment's speed limit
 * from the schedule: the generator computes scheduled running time as
 *     T = free_flow_s / (buyt_roads_tod_factor(t) * BUYT_ROADS_EFFICIENCY) + BUYT_ROADS_STOP_S
 * where free_flow_s is the segment's length at its roads' limits; buyt_roads_limit_from_schedule()
 * inverts it (harmonic mean of the limits along the segment). On a foreign feed the same
 * inversion gives plausible limits, clamped to [BUYT_ROADS_LIMIT_MIN, BUYT_ROADS_LIMIT_MAX]. */
#ifndef BUYT_SIM_ROADS_H
#define BUYT_SIM_ROADS_H

enum buyt_road_class {
    BUYT_ROAD_ARTERIAL = 0, /* ring roads, radials: 50 km/h */
    BUYT_ROAD_PRIMARY = 1,  /* 40 km/h */
    BUYT_ROAD_SECONDARY = 2 /* 30 km/h */
};

#define BUYT_ROADS_EFFICIENCY 0.56 /* share of free-flow speed kept by lights, turns, traffic */
#define BUYT_ROADS_STOP_S 18.0     /* per served stop: deceleration, dwell, acceleration */
#define BUYT_ROADS_LIMIT_MIN (20.0 / 3.6)
#define BUYT_ROADS_LIMIT_MAX (60.0 / 3.6)

/** Speed limit of a road class, m/s. */
double buyt_roads_class_limit_ms(enum buyt_road_class c);

/** Traffic factor by local time of day (seconds since local midnight, any value: taken modulo
 *  one day): 1 at night, ~0.55 in the morning and evening peaks, ~0.85 midday. */
double buyt_roads_tod_factor(double local_s);

/** Scheduled running time (s) of a segment whose free-flow time is `free_flow_s`, departing at
 *  local time `local_s`. */
double buyt_roads_run_time_s(double free_flow_s, double local_s);

/** Speed limit (m/s) of a segment of `dist_m` scheduled to take `sched_s` from local time
 *  `local_s`, clamped to the limits above. */
double buyt_roads_limit_from_schedule(double dist_m, double sched_s, double local_s);

#endif
