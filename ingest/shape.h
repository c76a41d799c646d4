/* Shape geometry: a polyline in the network's local metric frame (common/geo.h), its
 * cumulative distance, and the projection of a point onto it — whole, or only the part near a
 * previous distance along (loops and out-and-back shapes pass the same place twice).
 *
 * Pure functions over borrowed arrays: no allocation, no state, safe from any thread. */
#ifndef BUYT_SHAPE_H
#define BUYT_SHAPE_H

#include <stdint.h>

/** One vertex: position in metres (x east, y north) and distance along the shape from its
 *  first vertex. float: 2 mm resolution at 30 km, half the memory of double. */
struct buyt_shape_pt {
    float x_m, y_m;
    float dist_m;
};

/** A polyline of n_pts >= 1 vertices (n_pts - 1 segments). Borrows `pts`. */
struct buyt_shape {
    const struct buyt_shape_pt *pts;
    uint32_t n_pts;
    float length_m;
};

/** Where a point falls on a shape. */
struct buyt_shape_proj {
    uint32_t seg;       /* segment index, 0 .. n_pts - 2 (0 for a one-point shape) */
    double dist_m;      /* distance along the shape of the closest point */
    double offset_m;    /* lateral offset: + left of the direction of travel, - right */
    double x_m, y_m;    /* the closest point on the shape */
    double heading_deg; /* compass bearing of the segment, [0, 360), 0 = north, 90 = east */
};

/** Fills pts[i].dist_m with the cumulative distance from pts[0] and returns the total length.
 *  The loader calls it once per shape; x_m, y_m must be set. */
double buyt_shape_measure(struct buyt_shape_pt *pts, uint32_t n_pts);

/** Projects (x, y) onto the whole shape: the closest point; on a tie (a loop passing the same
 *  place twice) the one with the smaller distance along. Returns 0, or BUYT_EINVAL for an
 *  empty shape. */
int buyt_shape_project(const struct buyt_shape *s, double x_m, double y_m,
                       struct buyt_shape_proj *out);

/** Projects (x, y) onto the part of the shape between from_m and to_m (clamped to the shape;
 *  from_m <= to_m): the answer's dist_m lies in that window. Cost is proportional to the
 *  number of segments in the window, plus a binary search. Returns 0 or BUYT_EINVAL. */
int buyt_shape_project_window(const struct buyt_shape *s, double x_m, double y_m, double from_m,
                              double to_m, struct buyt_shape_proj *out);

/** As buyt_shape_project_window, with a travel direction: segments whose direction is more
 *  than 90 degrees from course_deg cost wrong_way_m extra metres, so where two legs of a shape
 *  lie on the same road the one the bus is driving wins. course_deg NAN: no preference. */
int buyt_shape_project_directed(const struct buyt_shape *s, double x_m, double y_m, double from_m,
                                double to_m, double course_deg, double wrong_way_m,
                                struct buyt_shape_proj *out);

/** Projects (x, y) onto segment `seg` only (seg < n_pts - 1, or 0 for a one-point shape). */
void buyt_shape_project_segment(const struct buyt_shape *s, uint32_t seg, double x_m, double y_m,
                                struct buyt_shape_proj *out);

/** Index of the segment containing distance dist_m (clamped to the shape). */
uint32_t buyt_shape_segment_at(const struct buyt_shape *s, double dist_m);

/** Position at distance dist_m along the shape (clamped), and the segment's compass bearing
 *  when heading_deg is not NULL. */
void buyt_shape_point_at(const struct buyt_shape *s, double dist_m, double *x_m, double *y_m,
                         double *heading_deg);

/** Compass bearing in degrees [0, 360) of the vector (dx, dy) (x east, y north). */
double buyt_shape_bearing_deg(double dx, double dy);

#endif
