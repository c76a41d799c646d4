/* Uniform grid over shape segments; see grid.h. */
#include "grid.h"

#include "error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void buyt_grid_close(struct buyt_grid *g)
{
    free(g->seg_base);
    free(g->cell_start);
    free(g->items);
    memset(g, 0, sizeof *g);
}

size_t buyt_grid_bytes(const struct buyt_grid *g)
{
    size_t cells = g->cell_start ? (size_t)g->nx * g->ny + 1 : 0;
    size_t items = g->cell_start ? g->cell_start[(size_t)g->nx * g->ny] : 0;
    return (g->n_shapes + 1) * sizeof(uint32_t) * (g->seg_base != NULL) + cells * sizeof(uint32_t) +
           items * sizeof(uint32_t);
}

static double dist2_point_segment(double px, double py, double ax, double ay, double bx, double by)
{
    double dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
    double t = len2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / len2 : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double cx = ax + t * dx - px, cy = ay + t * dy - py;
    return cx * cx + cy * cy;
}

static uint32_t clamp_cell(double v, uint32_t n)
{
    if (v < 0)
        return 0;
    if (v >= n)
        return n - 1;
    return (uint32_t)v;
}

/* Visits the cells that segment a->b may cross: the cells of its bounding box whose centre is
 * within half a cell diagonal of the segment (a superset of the cells it truly crosses). With
 * `fill` NULL it counts into cell_start[c + 1]; otherwise appends `id` at fill[c]++. */
static void cover_segment(const struct buyt_grid *g, const struct buyt_shape_pt *a,
                          const struct buyt_shape_pt *b, uint32_t id, uint32_t *counts,
                          uint32_t *fill)
{
    double half_diag2 = g->cell_m * g->cell_m * 0.5 * 1.0001;
    uint32_t cx0 = clamp_cell((fmin(a->x_m, b->x_m) - g->x0_m) / g->cell_m, g->nx);
    uint32_t cx1 = clamp_cell((fmax(a->x_m, b->x_m) - g->x0_m) / g->cell_m, g->nx);
    uint32_t cy0 = clamp_cell((fmin(a->y_m, b->y_m) - g->y0_m) / g->cell_m, g->ny);
    uint32_t cy1 = clamp_cell((fmax(a->y_m, b->y_m) - g->y0_m) / g->cell_m, g->ny);
    for (uint32_t cy = cy0; cy <= cy1; cy++) {
        for (uint32_t cx = cx0; cx <= cx1; cx++) {
            double mx = g->x0_m + (cx + 0.5) * g->cell_m, my = g->y0_m + (cy + 0.5) * g->cell_m;
            if ((cx0 != cx1 || cy0 != cy1) &&
                dist2_point_segment(mx, my, a->x_m, a->y_m, b->x_m, b->y_m) > half_diag2)
                continue;
            size_t c = (size_t)cy * g->nx + cx;
            if (fill)
                fill[counts[c]++] = id;
            else
                counts[c + 1]++;
        }
    }
}

int buyt_grid_build(struct buyt_grid *g, const struct buyt_shape *shapes, uint32_t n_shapes,
                    double cell_m)
{
    memset(g, 0, sizeof *g);
    if (!(cell_m > 0))
        return BUYT_EINVAL;
    g->shapes = shapes;
    g->n_shapes = n_shapes;
    g->seg_base = malloc((n_shapes + 1) * sizeof *g->seg_base);
    if (!g->seg_base)
        goto nomem;
    double minx = INFINITY, miny = INFINITY, maxx = -INFINITY, maxy = -INFINITY;
    uint32_t n_segs = 0;
    for (uint32_t s = 0; s < n_shapes; s++) {
        g->seg_base[s] = n_segs;
        n_segs += shapes[s].n_pts > 1 ? shapes[s].n_pts - 1 : 0;
        for (uint32_t i = 0; i < shapes[s].n_pts; i++) {
            minx = fmin(minx, shapes[s].pts[i].x_m);
            maxx = fmax(maxx, shapes[s].pts[i].x_m);
            miny = fmin(miny, shapes[s].pts[i].y_m);
            maxy = fmax(maxy, shapes[s].pts[i].y_m);
        }
    }
    g->seg_base[n_shapes] = n_segs;
    if (n_segs == 0) {
        minx = miny = 0;
        maxx = maxy = 0;
    }
    for (;;) {
        double nx = floor((maxx - minx) / cell_m) + 1, ny = floor((maxy - miny) / cell_m) + 1;
        if (nx * ny <= BUYT_GRID_MAX_CELLS) {
            g->nx = (uint32_t)nx;
            g->ny = (uint32_t)ny;
            break;
        }
        cell_m *= 2;
    }
    g->cell_m = cell_m;
    g->x0_m = minx;
    g->y0_m = miny;
    size_t n_cells = (size_t)g->nx * g->ny;
    g->cell_start = calloc(n_cells + 1, sizeof *g->cell_start);
    if (!g->cell_start)
        goto nomem;
    for (uint32_t s = 0; s < n_shapes; s++)
        for (uint32_t i = 0; i + 1 < shapes[s].n_pts; i++)
            cover_segment(g, &shapes[s].pts[i], &shapes[s].pts[i + 1], 0, g->cell_start, NULL);
    for (size_t c = 0; c < n_cells; c++)
        g->cell_start[c + 1] += g->cell_start[c];
    g->items = malloc((g->cell_start[n_cells] + 1) * sizeof *g->items);
    uint32_t *cursor = malloc(n_cells * sizeof *cursor);
    if (!g->items || !cursor) {
        free(cursor);
        goto nomem;
    }
    memcpy(cursor, g->cell_start, n_cells * sizeof *cursor);
    for (uint32_t s = 0; s < n_shapes; s++)
        for (uint32_t i = 0; i + 1 < shapes[s].n_pts; i++)
            cover_segment(g, &shapes[s].pts[i], &shapes[s].pts[i + 1], g->seg_base[s] + i, cursor,
                          g->items);
    free(cursor);
    return 0;
nomem:
    buyt_grid_close(g);
    return BUYT_ENOMEM;
}

/* Shape owning global segment id: the last s with seg_base[s] <= id. */
static uint32_t shape_of(const struct buyt_grid *g, uint32_t id)
{
    uint32_t lo = 0, hi = g->n_shapes - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        if (g->seg_base[mid] <= id)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

int buyt_grid_query(const struct buyt_grid *g, double x_m, double y_m, double radius_m,
                    struct buyt_grid_hit *hits, size_t cap, size_t *n)
{
    *n = 0;
    if (!g->cell_start || g->n_shapes == 0 || !(radius_m >= 0))
        return 0;
    double fx0 = (x_m - radius_m - g->x0_m) / g->cell_m,
           fx1 = (x_m + radius_m - g->x0_m) / g->cell_m;
    double fy0 = (y_m - radius_m - g->y0_m) / g->cell_m,
           fy1 = (y_m + radius_m - g->y0_m) / g->cell_m;
    if (fx1 < 0 || fy1 < 0 || fx0 >= g->nx || fy0 >= g->ny)
        return 0;
    uint32_t cx0 = clamp_cell(fx0, g->nx), cx1 = clamp_cell(fx1, g->nx);
    uint32_t cy0 = clamp_cell(fy0, g->ny), cy1 = clamp_cell(fy1, g->ny);
    double r2 = radius_m * radius_m;
    int full = 0;
    uint32_t shape = 0, lo = g->seg_base[0], hi = g->seg_base[1];
    for (uint32_t cy = cy0; cy <= cy1; cy++) {
        for (uint32_t cx = cx0; cx <= cx1; cx++) {
            size_t c = (size_t)cy * g->nx + cx;
            size_t n_before = *n; /* a cell lists a segment once: dedup against earlier cells */
            for (uint32_t k = g->cell_start[c]; k < g->cell_start[c + 1]; k++) {
                uint32_t id = g->items[k];
                if (id < lo || id >= hi) {
                    shape = shape_of(g, id);
                    lo = g->seg_base[shape];
                    hi = g->seg_base[shape + 1];
                }
                const struct buyt_shape *s = &g->shapes[shape];
                uint32_t seg = id - lo;
                const struct buyt_shape_pt *a = &s->pts[seg], *b = &s->pts[seg + 1];
                double d2 = dist2_point_segment(x_m, y_m, a->x_m, a->y_m, b->x_m, b->y_m);
                if (d2 > r2)
                    continue;
                size_t j = 0;
                while (j < n_before && (hits[j].shape != shape || hits[j].seg != seg))
                    j++;
                if (j < n_before)
                    continue; /* already found through another cell */
                if (*n == cap) {
                    full = 1;
                    continue;
                }
                struct buyt_shape_proj p;
                buyt_shape_project_segment(s, seg, x_m, y_m, &p);
                hits[(*n)++] = (struct buyt_grid_hit){.shape = shape,
                                                      .seg = seg,
                                                      .dist_m = (float)p.dist_m,
                                                      .lateral_m = (float)sqrt(d2)};
            }
        }
    }
    return full ? BUYT_EFULL : 0;
}
