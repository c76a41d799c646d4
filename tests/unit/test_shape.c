/* Shape geometry: cumulative distance, projection (whole, windowed, directed). */
#include "error.h"
#include "shape.h"

#include <criterion/criterion.h>
#include <math.h>

static struct buyt_shape make(struct buyt_shape_pt *pts, uint32_t n)
{
    double len = buyt_shape_measure(pts, n);
    return (struct buyt_shape){.pts = pts, .n_pts = n, .length_m = (float)len};
}

Test(shape, measures_cumulative_distance)
{
    struct buyt_shape_pt p[] = {{0, 0, 0}, {30, 40, 0}, {30, 100, 0}, {0, 100, 0}};
    struct buyt_shape s = make(p, 4);
    cr_assert_float_eq(p[1].dist_m, 50, 1e-4);
    cr_assert_float_eq(p[2].dist_m, 110, 1e-4);
    cr_assert_float_eq(s.length_m, 140, 1e-4);
}

Test(shape, projects_point_onto_polyline)
{
    /* East 100 m, then north 100 m. */
    struct buyt_shape_pt p[] = {{0, 0, 0}, {100, 0, 0}, {100, 100, 0}};
    struct buyt_shape s = make(p, 3);
    struct buyt_shape_proj r;
    cr_assert_eq(buyt_shape_project(&s, 50, 10, &r), 0);
    cr_assert_eq(r.seg, 0);
    cr_assert_float_eq(r.dist_m, 50, 1e-6);
    cr_assert_float_eq(r.offset_m, 10, 1e-6); /* north of an eastbound segment: left */
    cr_assert_float_eq(r.heading_deg, 90, 1e-6);
    cr_assert_float_eq(r.x_m, 50, 1e-6);
    cr_assert_float_eq(r.y_m, 0, 1e-6);

    cr_assert_eq(buyt_shape_project(&s, 110, 40, &r), 0);
    cr_assert_eq(r.seg, 1);
    cr_assert_float_eq(r.dist_m, 140, 1e-6);
    cr_assert_float_eq(r.offset_m, -10, 1e-6); /* east of a northbound segment: right */
    cr_assert_float_eq(r.heading_deg, 0, 1e-6);
}

Test(shape, projection_clamps_to_the_ends)
{
    struct buyt_shape_pt p[] = {{0, 0, 0}, {100, 0, 0}, {100, 100, 0}};
    struct buyt_shape s = make(p, 3);
    struct buyt_shape_proj r;
    cr_assert_eq(buyt_shape_project(&s, -30, 40, &r), 0);
    cr_assert_float_eq(r.dist_m, 0, 1e-6);
    cr_assert_float_eq(fabs(r.offset_m), 50, 1e-6);
    cr_assert_eq(buyt_shape_project(&s, 100, 130, &r), 0);
    cr_assert_float_eq(r.dist_m, 200, 1e-6);
}

Test(shape, loop_start_and_end_tie_prefers_the_start)
{
    /* A square loop that ends where it starts. */
    struct buyt_shape_pt p[] = {{0, 0, 0}, {200, 0, 0}, {200, 200, 0}, {0, 200, 0}, {0, 0, 0}};
    struct buyt_shape s = make(p, 5);
    struct buyt_shape_proj r;
    cr_assert_eq(buyt_shape_project(&s, -3, -3, &r), 0);
    cr_assert_float_eq(r.dist_m, 0, 1e-6);
    /* Near the end, the window keeps the end. */
    cr_assert_eq(buyt_shape_project_window(&s, -3, -3, 700, 800, &r), 0);
    cr_assert_float_eq(r.dist_m, 800, 1e-6);
}

Test(shape, windowed_projection_keeps_the_pass_near_previous_progress)
{
    /* Out along y = 0 for 500 m, back along y = 8: the return leg is 8 m away. */
    struct buyt_shape_pt p[] = {{0, 0, 0}, {500, 0, 0}, {500, 8, 0}, {0, 8, 0}};
    struct buyt_shape s = make(p, 4);
    struct buyt_shape_proj r;
    cr_assert_eq(buyt_shape_project(&s, 100, 3, &r), 0);
    cr_assert_float_eq(r.dist_m, 100, 1e-6); /* the whole shape: outbound is closer */
    cr_assert_eq(buyt_shape_project_window(&s, 100, 3, 850, 1008, &r), 0);
    cr_assert_float_eq(r.dist_m, 908, 1e-6); /* near the previous progress: the return leg */
    cr_assert_float_eq(r.offset_m, 5, 1e-6); /* westbound, point south of it: left */
    cr_assert_eq(r.seg, 2);
    /* A window that ends mid-segment clamps inside it. */
    cr_assert_eq(buyt_shape_project_window(&s, 400, 0, 0, 250, &r), 0);
    cr_assert_float_eq(r.dist_m, 250, 1e-6);
    cr_assert_eq(buyt_shape_project_window(&s, 0, 0, 300, 200, &r), BUYT_EINVAL);
}

Test(shape, directed_projection_picks_the_leg_driven)
{
    struct buyt_shape_pt p[] = {{0, 0, 0}, {500, 0, 0}, {500, 8, 0}, {0, 8, 0}};
    struct buyt_shape s = make(p, 4);
    struct buyt_shape_proj r;
    /* 4 m from both legs: the course decides. */
    cr_assert_eq(buyt_shape_project_directed(&s, 100, 4, 0, s.length_m, 270, 50, &r), 0);
    cr_assert_float_eq(r.dist_m, 908, 1e-6);
    cr_assert_eq(buyt_shape_project_directed(&s, 100, 4, 0, s.length_m, 90, 50, &r), 0);
    cr_assert_float_eq(r.dist_m, 100, 1e-6);
    /* Without a course: the tie goes to the smaller distance along. */
    cr_assert_eq(buyt_shape_project_directed(&s, 100, 4, 0, s.length_m, NAN, 50, &r), 0);
    cr_assert_float_eq(r.dist_m, 100, 1e-6);
}

Test(shape, point_at_and_segment_at_follow_distance)
{
    struct buyt_shape_pt p[] = {{0, 0, 0}, {100, 0, 0}, {100, 100, 0}};
    struct buyt_shape s = make(p, 3);
    double x, y, h;
    buyt_shape_point_at(&s, 150, &x, &y, &h);
    cr_assert_float_eq(x, 100, 1e-6);
    cr_assert_float_eq(y, 50, 1e-6);
    cr_assert_float_eq(h, 0, 1e-6);
    buyt_shape_point_at(&s, -5, &x, &y, NULL);
    cr_assert_float_eq(x, 0, 1e-6);
    cr_assert_eq(buyt_shape_segment_at(&s, 99.9), 0);
    cr_assert_eq(buyt_shape_segment_at(&s, 100), 1);
    cr_assert_eq(buyt_shape_segment_at(&s, 1e9), 1);
    cr_assert_float_eq(buyt_shape_bearing_deg(-1, 0), 270, 1e-9);
    cr_assert_float_eq(buyt_shape_bearing_deg(0, -1), 180, 1e-9);
}

Test(shape, one_point_and_empty_shapes)
{
    struct buyt_shape_pt p[] = {{10, 10, 0}};
    struct buyt_shape s = make(p, 1);
    struct buyt_shape_proj r;
    cr_assert_eq(buyt_shape_project(&s, 13, 14, &r), 0);
    cr_assert_float_eq(r.dist_m, 0, 1e-9);
    cr_assert_float_eq(r.offset_m, 5, 1e-6);
    struct buyt_shape e = {0};
    cr_assert_eq(buyt_shape_project(&e, 0, 0, &r), BUYT_EINVAL);
}
