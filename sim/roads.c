/* Road classes, time-of-day traffic, schedule running times; see roads.h. */
#include "roads.h"

#include <math.h>

double buyt_roads_class_limit_ms(enum buyt_road_class c)
{
    switch (c) {
    case BUYT_ROAD_ARTERIAL: return 50.0 / 3.6;
    case BUYT_ROAD_PRIMARY: return 40.0 / 3.6;
    default: return 30.0 / 3.6;
    }
}

/* Piecewise-linear profile (hour, factor), Hanoi-like peaks 07:00-08:30 and 17:00-18:30. */
static const double tod[][2] = {
    {0.0, 1.00},  {5.5, 1.00},  {6.5, 0.75},  {7.25, 0.55}, {8.5, 0.60},  {9.5, 0.85},
    {11.5, 0.80}, {13.5, 0.88}, {16.0, 0.75}, {17.25, 0.52}, {18.5, 0.58}, {19.5, 0.80},
    {21.0, 0.92}, {22.5, 1.00}, {24.0, 1.00},
};

double buyt_roads_tod_factor(double local_s)
{
    double h = fmod(local_s, 86400.0);
    if (h < 0)
        h += 86400.0;
    h /= 3600.0;
    const int n = (int)(sizeof tod / sizeof tod[0]);
    for (int i = 1; i < n; i++) {
        if (h <= tod[i][0]) {
            double u = (h - tod[i - 1][0]) / (tod[i][0] - tod[i - 1][0]);
            return tod[i - 1][1] + u * (tod[i][1] - tod[i - 1][1]);
        }
    }
    return 1.0;
}

double buyt_roads_run_time_s(double free_flow_s, double local_s)
{
    return free_flow_s / (buyt_roads_tod_factor(local_s) * BUYT_ROADS_EFFICIENCY) +
           BUYT_ROADS_STOP_S;
}

double buyt_roads_limit_from_schedule(double dist_m, double sched_s, double local_s)
{
    double moving_s = sched_s - BUYT_ROADS_STOP_S;
    double v;
    if (moving_s <= 1.0)
        v = BUYT_ROADS_LIMIT_MAX;
    else
        v = dist_m / (moving_s * buyt_roads_tod_factor(local_s) * BUYT_ROADS_EFFICIENCY);
    if (!(v >= BUYT_ROADS_LIMIT_MIN))
        v = BUYT_ROADS_LIMIT_MIN;
    if (v > BUYT_ROADS_LIMIT_MAX)
        v = BUYT_ROADS_LIMIT_MAX;
    return v;
}
