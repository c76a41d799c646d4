/* Spatial grid over shape segments: exact answers against brute force, no duplicates. */
#include "error.h"
#include "grid.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

static uint64_t rng = 88172645463325252ull;
static double urand(void) /* xorshift64, [0, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

#define N_SHAPES 12
#define N_PTS 60

static struct buyt_shape_pt pts[N_SHAPES][N_PTS];
static struct buyt_shape shapes[N_SHAPES];

/* Random walks over ~6 km, segments 20..400 m (long ones span several cells). */
static void make_shapes(void)
{
    for (int s = 0; s < N_SHAPES; s++) {
        double x = urand() * 4000, y = urand() * 4000, h = urand() * 2 * M_PI;
        for (int i = 0; i < N_PTS; i++) {
            pts[s][i] = (struct buyt_shape_pt){(float)x, (float)y, 0};
            h += (urand() - 0.5) * 1.5;
            double step = 20 + urand() * (i % 7 == 0 ? 400 : 60);
            x += cos(h) * step;
            y += sin(h) * step;
        }
        double len = buyt_shape_measure(pts[s], N_PTS);
        shapes[s] = (struct buyt_shape){pts[s], N_PTS, (float)len};
    }
}

static double seg_dist(const struct buyt_shape *s, uint32_t seg, double x, double y)
{
    struct buyt_shape_proj p;
    buyt_shape_project_segment(s, seg, x, y, &p);
    return fabs(p.offset_m);
}

Test(grid, grid_finds_segments_within_radius)
{
    make_shapes();
    struct buyt_grid g;
    cr_assert_eq(buyt_grid_build(&g, shapes, N_SHAPES, 200), 0);
    struct buyt_grid_hit hits[512];
    for (int q = 0; q < 2000; q++) {
        double x = urand() * 6000 - 1000, y = urand() * 6000 - 1000;
        double r = q % 3 == 0 ? 30 : q % 3 == 1 ? 80 : 250;
        size_t n;
        cr_assert_eq(buyt_grid_query(&g, x, y, r, hits, 512, &n), 0);
        /* Every hit is within r, distinct, and its fields are right. */
        for (size_t i = 0; i < n; i++) {
            const struct buyt_shape *s = &shapes[hits[i].shape];
            double d = seg_dist(s, hits[i].seg, x, y);
            cr_assert_leq(d, r + 1e-6);
            cr_assert_float_eq(hits[i].lateral_m, d, 1e-3);
            struct buyt_shape_proj p;
            buyt_shape_project_segment(s, hits[i].seg, x, y, &p);
            cr_assert_float_eq(hits[i].dist_m, p.dist_m, 1e-2);
            for (size_t j = 0; j < i; j++)
                cr_assert(hits[j].shape != hits[i].shape || hits[j].seg != hits[i].seg);
        }
        /* Every segment within r is a hit. */
        size_t expect = 0;
        for (uint32_t s = 0; s < N_SHAPES; s++)
            for (uint32_t k = 0; k + 1 < N_PTS; k++)
                if (seg_dist(&shapes[s], k, x, y) <= r)
                    expect++;
        cr_assert_eq(n, expect, "query %d at (%.0f, %.0f) r %.0f: %zu hits, %zu expected", q, x, y,
                     r, n, expect);
    }
    buyt_grid_close(&g);
}

Test(grid, query_outside_the_extent_finds_nothing)
{
    make_shapes();
    struct buyt_grid g;
    cr_assert_eq(buyt_grid_build(&g, shapes, N_SHAPES, 250), 0);
    struct buyt_grid_hit hits[8];
    size_t n = 99;
    cr_assert_eq(buyt_grid_query(&g, 1e6, 1e6, 100, hits, 8, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(buyt_grid_query(&g, -1e6, 0, 100, hits, 8, &n), 0);
    cr_assert_eq(n, 0);
    buyt_grid_close(&g);
}

Test(grid, reports_full_when_more_hits_than_room)
{
    /* Ten shapes on the same road. */
    static struct buyt_shape_pt p[10][2];
    struct buyt_shape s[10];
    for (int i = 0; i < 10; i++) {
        p[i][0] = (struct buyt_shape_pt){0, (float)i, 0};
        p[i][1] = (struct buyt_shape_pt){1000, (float)i, 0};
        s[i] = (struct buyt_shape){p[i], 2, (float)buyt_shape_measure(p[i], 2)};
    }
    struct buyt_grid g;
    cr_assert_eq(buyt_grid_build(&g, s, 10, 200), 0);
    struct buyt_grid_hit hits[4];
    size_t n;
    cr_assert_eq(buyt_grid_query(&g, 500, 5, 20, hits, 4, &n), BUYT_EFULL);
    cr_assert_eq(n, 4);
    buyt_grid_close(&g);
}

Test(grid, memory_is_compact_at_city_scale)
{
    /* 300 shapes x 500 points, ~10 km each, within a 20 km square. */
    enum { NS = 300, NP = 500 };
    struct buyt_shape_pt *all = malloc(sizeof *all * NS * NP);
    struct buyt_shape *sh = malloc(sizeof *sh * NS);
    cr_assert(all && sh);
    for (int s = 0; s < NS; s++) {
        double x = urand() * 10000 + 5000, y = urand() * 10000 + 5000, h = urand() * 6.28;
        for (int i = 0; i < NP; i++) {
            all[s * NP + i] = (struct buyt_shape_pt){(float)x, (float)y, 0};
            h += (urand() - 0.5) * 0.3;
            x += cos(h) * 20;
            y += sin(h) * 20;
        }
        sh[s] = (struct buyt_shape){&all[s * NP], NP, (float)buyt_shape_measure(&all[s * NP], NP)};
    }
    struct buyt_grid g;
    cr_assert_eq(buyt_grid_build(&g, sh, NS, 200), 0);
    size_t segs = (size_t)NS * (NP - 1);
    /* About two cell entries per 20 m segment plus the cells: well under 16 bytes each. */
    cr_assert_lt(buyt_grid_bytes(&g), segs * 16, "%zu bytes for %zu segments", buyt_grid_bytes(&g),
                 segs);
    buyt_grid_close(&g);
    free(all);
    free(sh);
}

Test(grid, refuses_a_bad_cell_size)
{
    struct buyt_grid g;
    cr_assert_eq(buyt_grid_build(&g, NULL, 0, 0), BUYT_EINVAL);
    buyt_grid_close(&g);
    cr_assert_eq(buyt_grid_build(&g, NULL, 0, 200), 0);
    size_t n;
    cr_assert_eq(buyt_grid_query(&g, 0, 0, 100, NULL, 0, &n), 0);
    cr_assert_eq(n, 0);
    buyt_grid_close(&g);
}
