/* Network geometry helpers and teardown; loading is in network_db.c. */
#include "simnet.h"

#include <math.h>
#include <stdlib.h>

void buyt_net_shape_at(const struct buyt_net_shape *sh, double s, int *seg, double *x, double *y,
                       double *dx, double *dy)
{
    int j = seg ? *seg : 0;
    if (j < 0 || j > sh->n - 2)
        j = 0;
    if (s <= 0)
        s = 0;
    if (s >= sh->dist_m[sh->n - 1])
        s = sh->dist_m[sh->n - 1];
    while (j > 0 && sh->dist_m[j] > s)
        j--;
    while (j < sh->n - 2 && sh->dist_m[j + 1] < s)
        j++;
    double len = sh->dist_m[j + 1] - sh->dist_m[j];
    double t = len > 0 ? (s - sh->dist_m[j]) / len : 0;
    double vx = sh->x_m[j + 1] - sh->x_m[j], vy = sh->y_m[j + 1] - sh->y_m[j];
    *x = sh->x_m[j] + t * vx;
    *y = sh->y_m[j] + t * vy;
    double n = hypot(vx, vy);
    *dx = n > 0 ? vx / n : 1;
    *dy = n > 0 ? vy / n : 0;
    if (seg)
        *seg = j;
}

double buyt_net_shape_distance(const struct buyt_net_shape *sh, double x, double y)
{
    double best = INFINITY;
    for (int j = 0; j + 1 < sh->n; j++) {
        double ax = sh->x_m[j], ay = sh->y_m[j];
        double vx = sh->x_m[j + 1] - ax, vy = sh->y_m[j + 1] - ay, l2 = vx * vx + vy * vy;
        double t = l2 > 0 ? ((x - ax) * vx + (y - ay) * vy) / l2 : 0;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        double d = hypot(ax + t * vx - x, ay + t * vy - y);
        if (d < best)
            best = d;
    }
    return best;
}

void buyt_simnet_free(struct buyt_simnet *n)
{
    if (!n)
        return;
    for (int i = 0; i < n->n_shapes; i++) {
        free(n->shapes[i].x_m);
        free(n->shapes[i].y_m);
        free(n->shapes[i].dist_m);
    }
    for (int i = 0; i < n->n_patterns; i++) {
        free(n->patterns[i].stops);
        free(n->patterns[i].dist_m);
        free(n->patterns[i].limit_ms);
        free(n->patterns[i].timepoint);
    }
    free(n->stops);
    free(n->shapes);
    free(n->patterns);
    free(n->trips);
    free(n->arr_s);
    free(n->dep_s);
    free(n->seq);
    free(n->instances);
    free(n->inst_trips);
    free(n);
}
