/* Spatial grid index over the segments of many shapes: which (shape, segment) pairs lie within
 * R metres of a point. Square cells (~200 m) in the local metric frame; each cell lists the
 * global ids of the segments that may cross it, in one compressed array (CSR layout): 4 bytes
 * per (segment, cell) pair plus 4 bytes per cell, no per-cell allocation.
 *
 * Built once when the network is finished, then read-only: queries from any thread. */
#ifndef BUYT_GRID_H
#define BUYT_GRID_H

#include "shape.h"

#include <stddef.h>
#include <stdint.h>

struct buyt_grid {
    const struct buyt_shape *shapes; /* borrowed; must outlive the grid */
    uint32_t n_shapes;
    uint32_t *seg_base; /* n_shapes + 1: global id of each shape's first segment */
    double x0_m, y0_m;  /* south-west corner of cell (0, 0) */
    double cell_m;
    uint32_t nx, ny;
    uint32_t *cell_start; /* nx * ny + 1 offsets into items */
    uint32_t *items;      /* global segment ids, ascending within a cell */
};

/** A segment near the query point, with the point projected onto it. */
struct buyt_grid_hit {
    uint32_t shape, seg;
    float dist_m;    /* distance along the shape of the closest point of the segment */
    float lateral_m; /* distance from the query point to that closest point */
};

/** Largest number of cells a grid may have; a sparse network over a huge area gets larger
 *  cells instead of gigabytes of empty ones. */
#define BUYT_GRID_MAX_CELLS (4u * 1024 * 1024)

/** Builds the index over `shapes` (borrowed; one-point shapes contribute no segment) with
 *  cells of cell_m metres (enlarged if the extent needs more than BUYT_GRID_MAX_CELLS).
 *  Returns 0, BUYT_EINVAL (cell_m <= 0) or BUYT_ENOMEM; on failure *g is empty and
 *  buyt_grid_close() is still safe. */
int buyt_grid_build(struct buyt_grid *g, const struct buyt_shape *shapes, uint32_t n_shapes,
                    double cell_m);

/** Frees what buyt_grid_build allocated. Safe on a zeroed or failed grid. */
void buyt_grid_close(struct buyt_grid *g);

/** Writes to hits[] each distinct (shape, segment) whose closest point is within radius_m of
 *  (x, y), in no particular order, and the count to *n. Returns 0, or BUYT_EFULL when more than
 *  `cap` matched (the first `cap` are written). Allocates nothing. */
int buyt_grid_query(const struct buyt_grid *g, double x_m, double y_m, double radius_m,
                    struct buyt_grid_hit *hits, size_t cap, size_t *n);

/** Bytes of heap memory the index holds. */
size_t buyt_grid_bytes(const struct buyt_grid *g);

#endif
