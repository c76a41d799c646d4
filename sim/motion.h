/* Longitudinal motion of a bus along a pattern's shape: accelerate, cruise under the speed
 * limit, brake ahead of lower limits (corners, slower roads) and to a standstill exactly at a
 * halt point (a stop, a red light, the end of the trip). Pure kinematics, no randomness: the
 * fleet decides where to halt and how fast to cruise (traffic), this module never exceeds the
 * limit at the position it reaches. */
#ifndef BUYT_SIM_MOTION_H
#define BUYT_SIM_MOTION_H

#include "simnet.h"

#define BUYT_MOTION_ACCEL_MS2 1.0  /* loaded city bus, gentle start */
#define BUYT_MOTION_DECEL_MS2 1.2  /* planned, comfortable braking */
#define BUYT_MOTION_BRAKE_MS2 2.5  /* firmest braking used (traffic slowing ahead) */
#define BUYT_MOTION_HALT_EPS_M 0.3 /* closer than this to a halt point: stopped there */

struct buyt_motion {
    const struct buyt_net_shape *shape; /* borrowed */
    const double *limit_ms;             /* borrowed: per shape segment */
    double s_m;                         /* distance along the shape */
    double v_ms;                        /* speed */
    int seg;                            /* shape segment containing s (search hint) */
};

/** Places the vehicle at s_m, standing, on `shape` with per-segment limits `limit_ms`. */
void buyt_motion_init(struct buyt_motion *m, const struct buyt_net_shape *shape,
                      const double *limit_ms, double s_m);

/** Speed limit (m/s) at distance s along the shape. */
double buyt_motion_limit_at(const struct buyt_motion *m, double s_m);

/** Advances dt seconds. `halt_m`: where the vehicle must be standing next (INFINITY: none
 *  ahead but the shape's end, which always is one); `cruise` (0..1]: share of the limit the
 *  driver aims for (traffic, time of day). Returns 1 if the vehicle came to rest at halt_m
 *  during this step (then s_m == halt_m, v_ms == 0), else 0. */
int buyt_motion_step(struct buyt_motion *m, double dt_s, double halt_m, double cruise);

#endif
