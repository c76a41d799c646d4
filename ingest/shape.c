/* Polyline geometry for trip shapes; see shape.h. Arithmetic in double, storage in float. */
#include "shape.h"

#include "error.h"

#include <math.h>

double buyt_shape_bearing_deg(double dx, double dy)
{
    double b = atan2(dx, dy) * (180.0 / M_PI);
    return b < 0 ? b + 360.0 : b;
}

double buyt_shape_measure(struct buyt_shape_pt *pts, uint32_t n_pts)
{
    double d = 0;
    for (uint32_t i = 0; i < n_pts; i++) {
        if (i > 0)
            d += hypot((double)pts[i].x_m - pts[i - 1].x_m, (double)pts[i].y_m - pts[i - 1].y_m);
        pts[i].dist_m = (float)d;
    }
    return d;
}

uint32_t buyt_shape_segment_at(const struct buyt_shape *s, double dist_m)
{
    if (s->n_pts < 3)
        return 0;
    /* Largest i in [0, n_pts - 2] with pts[i].dist_m <= dist_m. */
    uint32_t lo = 0, hi = s->n_pts - 2;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        if (s->pts[mid].dist_m <= dist_m)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* Parameter t in [t_lo, t_hi] of the point of segment a->b closest to p, and the squared
 * distance to it. */
static double closest_on_segment(const struct buyt_shape_pt *a, const struct buyt_shape_pt *b,
                                 double px, double py, double t_lo, double t_hi, double *t_out)
{
    double ax = a->x_m, ay = a->y_m;
    double dx = (double)b->x_m - ax, dy = (double)b->y_m - ay;
    double len2 = dx * dx + dy * dy;
    double t = len2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / len2 : 0;
    if (t < t_lo)
        t = t_lo;
    if (t > t_hi)
        t = t_hi;
    double cx = ax + t * dx - px, cy = ay + t * dy - py;
    *t_out = t;
    return cx * cx + cy * cy;
}

static void fill_proj(const struct buyt_shape *s, uint32_t seg, double t, double px, double py,
                      struct buyt_shape_proj *out)
{
    const struct buyt_shape_pt *a = &s->pts[seg];
    if (s->n_pts < 2) {
        double dx = px - a->x_m, dy = py - a->y_m;
        *out = (struct buyt_shape_proj){.seg = 0,
                                        .dist_m = 0,
                                        .x_m = a->x_m,
                                        .y_m = a->y_m,
                                        .offset_m = sqrt(dx * dx + dy * dy)};
        return;
    }
    const struct buyt_shape_pt *b = &s->pts[seg + 1];
    double dx = (double)b->x_m - a->x_m, dy = (double)b->y_m - a->y_m;
    double len = sqrt(dx * dx + dy * dy); /* not hypot(): no overflow at city scale, 5x faster */
    out->seg = seg;
    out->x_m = a->x_m + t * dx;
    out->y_m = a->y_m + t * dy;
    out->dist_m = a->dist_m + t * len;
    double ex = px - out->x_m, ey = py - out->y_m, lat = sqrt(ex * ex + ey * ey);
    /* Sign from the cross product of the segment direction and the point: + on the left. */
    double cross = dx * (py - a->y_m) - dy * (px - a->x_m);
    out->offset_m = cross < 0 ? -lat : lat;
    out->heading_deg = buyt_shape_bearing_deg(dx, dy);
}

void buyt_shape_project_segment(const struct buyt_shape *s, uint32_t seg, double x_m, double y_m,
                                struct buyt_shape_proj *out)
{
    double t = 0;
    if (s->n_pts >= 2)
        closest_on_segment(&s->pts[seg], &s->pts[seg + 1], x_m, y_m, 0, 1, &t);
    fill_proj(s, seg, t, x_m, y_m, out);
}

int buyt_shape_project_directed(const struct buyt_shape *s, double x_m, double y_m, double from_m,
                                double to_m, double course_deg, double wrong_way_m,
                                struct buyt_shape_proj *out)
{
    if (!s || s->n_pts == 0 || !(from_m <= to_m))
        return BUYT_EINVAL;
    if (s->n_pts == 1) {
        fill_proj(s, 0, 0, x_m, y_m, out);
        return 0;
    }
    int directed = !isnan(course_deg) && wrong_way_m > 0;
    double hx = 0, hy = 0;
    if (directed) {
        hx = sin(course_deg * (M_PI / 180.0));
        hy = cos(course_deg * (M_PI / 180.0));
    }
    uint32_t lo = buyt_shape_segment_at(s, from_m), hi = buyt_shape_segment_at(s, to_m);
    double best = INFINITY, best_t = 0;
    uint32_t best_seg = lo;
    for (uint32_t i = lo; i <= hi; i++) {
        const struct buyt_shape_pt *a = &s->pts[i], *b = &s->pts[i + 1];
        double seg_len = (double)b->dist_m - a->dist_m;
        double t_lo = 0, t_hi = 1;
        if (seg_len > 0) {
            if (i == lo && from_m > a->dist_m)
                t_lo = fmin(1.0, (from_m - a->dist_m) / seg_len);
            if (i == hi && to_m < b->dist_m)
                t_hi = fmax(t_lo, (to_m - a->dist_m) / seg_len);
        }
        double t, d2 = closest_on_segment(a, b, x_m, y_m, t_lo, t_hi, &t);
        if (d2 >= best * best)
            continue; /* the cost is at least the distance */
        double cost = sqrt(d2);
        if (directed && ((double)b->x_m - a->x_m) * hx + ((double)b->y_m - a->y_m) * hy < 0)
            cost += wrong_way_m;
        if (cost < best) {
            best = cost;
            best_seg = i;
            best_t = t;
        }
    }
    fill_proj(s, best_seg, best_t, x_m, y_m, out);
    return 0;
}

int buyt_shape_project_window(const struct buyt_shape *s, double x_m, double y_m, double from_m,
                              double to_m, struct buyt_shape_proj *out)
{
    return buyt_shape_project_directed(s, x_m, y_m, from_m, to_m, NAN, 0, out);
}

int buyt_shape_project(const struct buyt_shape *s, double x_m, double y_m,
                       struct buyt_shape_proj *out)
{
    if (!s || s->n_pts == 0)
        return BUYT_EINVAL;
    return buyt_shape_project_directed(s, x_m, y_m, 0, s->length_m, NAN, 0, out);
}

void buyt_shape_point_at(const struct buyt_shape *s, double dist_m, double *x_m, double *y_m,
                         double *heading_deg)
{
    uint32_t seg = buyt_shape_segment_at(s, dist_m);
    const struct buyt_shape_pt *a = &s->pts[seg];
    if (s->n_pts < 2) {
        *x_m = a->x_m;
        *y_m = a->y_m;
        if (heading_deg)
            *heading_deg = 0;
        return;
    }
    const struct buyt_shape_pt *b = &s->pts[seg + 1];
    double len = (double)b->dist_m - a->dist_m;
    double t = len > 0 ? (dist_m - a->dist_m) / len : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double dx = (double)b->x_m - a->x_m, dy = (double)b->y_m - a->y_m;
    *x_m = a->x_m + t * dx;
    *y_m = a->y_m + t * dy;
    if (heading_deg)
        *heading_deg = buyt_shape_bearing_deg(dx, dy);
}
