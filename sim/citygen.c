/* Synthetic Hà Nội: street grid -> terminals -> routes (shortest paths with per-route
 * preferences, some loops) -> stops on the streets the routes use -> patterns and shapes ->
 * blocks of trips through the service day. See citygen.h. Every random draw comes from a
 * stream keyed by (seed, purpose, index) (rng.h), so the city is reproducible. */
#include "citygen.h"

#include "error.h"
#include "names.h"
#include "rng.h"
#include "roads.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>

/* snprintf that truncates silently: names are bounded by design and a cut name is harmless. */
static void sfmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sfmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* Stream tags. */
enum { T_GRID = 1, T_EDGE, T_TERM, T_ROUTE, T_STOPS, T_NAMES, T_BLOCK, T_STREETS };

#define GRID_SPACING_M 620.0
#define SAMPLE_M 20.0           /* shape point spacing on curves */
#define STOP_MIN_GAP_M 200.0    /* closest two consecutive stops of a pattern */
#define STOP_END_MARGIN_M 70.0  /* no stop this close to an intersection */
#define STOP_SIDE_OFFSET_M 8.0  /* kerb: stops stand right of the centreline (right-hand traffic) */
#define LAYOVER_MIN_S 300
#define SERVICE_DAY_S 86400

struct node {
    double x, y;
    int row, col, deg;
};

struct edge {
    int a, b;
    int cls;    /* enum buyt_road_class */
    int street; /* street index (rows first, then columns) */
    bool removed;
    double len;
    int p0, np; /* geometry points pts[p0 .. p0+np), from a to b */
};

struct path {
    int n, cap;
    int *de; /* directed edges: 2 * edge + (0: a->b, 1: b->a) */
};

struct gen {
    struct buyt_city *c;
    uint64_t seed;
    double half_w, half_h;
    int rows, cols;
    int n_nodes;
    struct node *nodes;
    int n_edges;
    struct edge *edges;
    int n_pts, cap_pts;
    double *px, *py, *ps; /* geometry points and arc length within their edge */
    int *adj_off, *adj;   /* CSR: for node v, directed edges leaving v */
    int *terminals;       /* node of each terminal */
    unsigned *street_perm;
    struct path *paths;   /* 2 per route */
    int *term_a, *term_b; /* per route: terminal indices at the start and end of direction 0 */
    /* stops per directed edge: positions (arc distance from the edge's start in its
     * direction) and stop index (-1 until used) */
    int *de_stop_off, *de_stop_n;
    double *de_stop_pos;
    int *de_stop_idx;
    int n_stop_slots;
    char err[256];
};

/* ------------------------------------------------------------------ small helpers */

static void *xcalloc(size_t n, size_t sz) { return calloc(n ? n : 1, sz); }

static int path_push(struct path *p, int de)
{
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 64;
        int *d = realloc(p->de, (size_t)cap * sizeof *d);
        if (!d)
            return BUYT_ENOMEM;
        p->de = d;
        p->cap = cap;
    }
    p->de[p->n++] = de;
    return 0;
}

static int add_pt(struct gen *g, double x, double y, double s)
{
    if (g->n_pts == g->cap_pts) {
        int cap = g->cap_pts ? g->cap_pts * 2 : 4096;
        double *nx = realloc(g->px, (size_t)cap * sizeof *nx);
        if (!nx)
            return BUYT_ENOMEM;
        g->px = nx;
        double *ny = realloc(g->py, (size_t)cap * sizeof *ny);
        if (!ny)
            return BUYT_ENOMEM;
        g->py = ny;
        double *ns = realloc(g->ps, (size_t)cap * sizeof *ns);
        if (!ns)
            return BUYT_ENOMEM;
        g->ps = ns;
        g->cap_pts = cap;
    }
    g->px[g->n_pts] = x;
    g->py[g->n_pts] = y;
    g->ps[g->n_pts] = s;
    g->n_pts++;
    return 0;
}

static int de_from(const struct gen *g, int de)
{
    const struct edge *e = &g->edges[de >> 1];
    return (de & 1) ? e->b : e->a;
}

static int de_to(const struct gen *g, int de)
{
    const struct edge *e = &g->edges[de >> 1];
    return (de & 1) ? e->a : e->b;
}

/* Point at arc distance u (0..len) along directed edge de, with its unit direction. */
static void de_point(const struct gen *g, int de, double u, double *x, double *y, double *dx,
                     double *dy)
{
    const struct edge *e = &g->edges[de >> 1];
    double s = (de & 1) ? e->len - u : u;
    if (s < 0)
        s = 0;
    if (s > e->len)
        s = e->len;
    int lo = e->p0, hi = e->p0 + e->np - 1;
    while (hi - lo > 1) { /* last point with ps <= s */
        int mid = (lo + hi) / 2;
        if (g->ps[mid] <= s)
            lo = mid;
        else
            hi = mid;
    }
    double seg = g->ps[hi] - g->ps[lo];
    double t = seg > 0 ? (s - g->ps[lo]) / seg : 0;
    *x = g->px[lo] + t * (g->px[hi] - g->px[lo]);
    *y = g->py[lo] + t * (g->py[hi] - g->py[lo]);
    double ux = g->px[hi] - g->px[lo], uy = g->py[hi] - g->py[lo];
    double n = hypot(ux, uy);
    if (n <= 0)
        n = 1;
    ux /= n;
    uy /= n;
    if (de & 1) {
        ux = -ux;
        uy = -uy;
    }
    *dx = ux;
    *dy = uy;
}

static double path_len(const struct gen *g, const struct path *p)
{
    double l = 0;
    for (int i = 0; i < p->n; i++)
        l += g->edges[p->de[i] >> 1].len;
    return l;
}

/* ------------------------------------------------------------------ streets */

static int road_class_of_line(int line)
{
    if (line % 5 == 2)
        return BUYT_ROAD_ARTERIAL;
    if (line % 2 == 0)
        return BUYT_ROAD_PRIMARY;
    return BUYT_ROAD_SECONDARY;
}

static int build_grid(struct gen *g)
{
    double scale = sqrt(g->c->params.routes / 150.0);
    if (scale < 0.4)
        scale = 0.4;
    if (scale > 2.5)
        scale = 2.5;
    g->half_w = 12000.0 * scale;
    g->half_h = 10000.0 * scale;
    g->cols = (int)(2 * g->half_w / GRID_SPACING_M) + 1;
    g->rows = (int)(2 * g->half_h / GRID_SPACING_M) + 1;
    g->n_nodes = g->rows * g->cols;
    g->nodes = xcalloc((size_t)g->n_nodes, sizeof *g->nodes);
    if (!g->nodes)
        return BUYT_ENOMEM;
    struct buyt_rng r;
    buyt_rng_init(&r, g->seed, T_GRID, 0);
    double ph1 = buyt_rng_range(&r, 0, 6.28), ph2 = buyt_rng_range(&r, 0, 6.28);
    double rot = buyt_rng_range(&r, -0.15, 0.15);
    for (int i = 0; i < g->rows; i++) {
        for (int j = 0; j < g->cols; j++) {
            struct node *n = &g->nodes[i * g->cols + j];
            double x = -g->half_w + j * GRID_SPACING_M + buyt_rng_range(&r, -110, 110);
            double y = -g->half_h + i * GRID_SPACING_M + buyt_rng_range(&r, -110, 110);
            /* Smooth warp: streets bend over kilometres, as Hanoi's do around its lakes. */
            x += 260 * sin(y / 1900.0 + ph1);
            y += 220 * sin(x / 2300.0 + ph2);
            n->x = x * cos(rot) - y * sin(rot);
            n->y = x * sin(rot) + y * cos(rot);
            n->row = i;
            n->col = j;
        }
    }
    /* Edges: row streets then column streets. */
    int max_edges = g->rows * (g->cols - 1) + g->cols * (g->rows - 1);
    g->edges = xcalloc((size_t)max_edges, sizeof *g->edges);
    if (!g->edges)
        return BUYT_ENOMEM;
    for (int i = 0; i < g->rows; i++)
        for (int j = 0; j + 1 < g->cols; j++) {
            struct edge *e = &g->edges[g->n_edges++];
            e->a = i * g->cols + j;
            e->b = e->a + 1;
            e->street = i;
            e->cls = road_class_of_line(i);
        }
    for (int j = 0; j < g->cols; j++)
        for (int i = 0; i + 1 < g->rows; i++) {
            struct edge *e = &g->edges[g->n_edges++];
            e->a = i * g->cols + j;
            e->b = e->a + g->cols;
            e->street = g->rows + j;
            e->cls = road_class_of_line(j + 1);
        }
    for (int k = 0; k < g->n_edges; k++) {
        g->nodes[g->edges[k].a].deg++;
        g->nodes[g->edges[k].b].deg++;
    }
    /* Remove some side streets (dead blocks, a lake, a campus) where both ends keep 3+ ways. */
    for (int k = 0; k < g->n_edges; k++) {
        struct edge *e = &g->edges[k];
        if (e->cls != BUYT_ROAD_SECONDARY)
            continue;
        if (buyt_rng_hash01(g->seed, T_EDGE, (uint64_t)k, 1) >= 0.14)
            continue;
        if (g->nodes[e->a].deg <= 3 || g->nodes[e->b].deg <= 3)
            continue;
        e->removed = true;
        g->nodes[e->a].deg--;
        g->nodes[e->b].deg--;
    }
    /* Geometry: a quadratic Bezier bulging sideways, sampled every ~SAMPLE_M. */
    for (int k = 0; k < g->n_edges; k++) {
        struct edge *e = &g->edges[k];
        const struct node *a = &g->nodes[e->a], *b = &g->nodes[e->b];
        double dx = b->x - a->x, dy = b->y - a->y, chord = hypot(dx, dy);
        double bulge = buyt_rng_hash01(g->seed, T_EDGE, (uint64_t)k, 2) * 2 - 1;
        bulge *= (e->cls == BUYT_ROAD_SECONDARY ? 0.16 : e->cls == BUYT_ROAD_PRIMARY ? 0.10 : 0.06);
        double cx = (a->x + b->x) / 2 - dy * bulge, cy = (a->y + b->y) / 2 + dx * bulge;
        int n = (int)ceil(chord * (1 + fabs(bulge)) / SAMPLE_M);
        if (n < 2)
            n = 2;
        e->p0 = g->n_pts;
        e->np = n + 1;
        double s = 0, lx = a->x, ly = a->y;
        /* and a gentle meander: streets are never ruler-straight */
        double amp = 5 + 9 * buyt_rng_hash01(g->seed, T_EDGE, (uint64_t)k, 3);
        int waves = 1 + (int)(4 * buyt_rng_hash01(g->seed, T_EDGE, (uint64_t)k, 4));
        for (int i = 0; i <= n; i++) {
            double t = (double)i / n, u = 1 - t;
            double m = amp * sin(M_PI * waves * t) / (chord > 0 ? chord : 1);
            double x = u * u * a->x + 2 * u * t * cx + t * t * b->x - dy * m;
            double y = u * u * a->y + 2 * u * t * cy + t * t * b->y + dx * m;
            s += hypot(x - lx, y - ly);
            lx = x;
            ly = y;
            if (add_pt(g, x, y, s))
                return BUYT_ENOMEM;
        }
        e->len = s;
    }
    /* Adjacency (CSR over directed edges). */
    g->adj_off = xcalloc((size_t)g->n_nodes + 1, sizeof *g->adj_off);
    g->adj = xcalloc((size_t)g->n_edges * 2, sizeof *g->adj);
    if (!g->adj_off || !g->adj)
        return BUYT_ENOMEM;
    for (int k = 0; k < g->n_edges; k++) {
        if (g->edges[k].removed)
            continue;
        g->adj_off[g->edges[k].a + 1]++;
        g->adj_off[g->edges[k].b + 1]++;
    }
    for (int v = 0; v < g->n_nodes; v++)
        g->adj_off[v + 1] += g->adj_off[v];
    int *fill = xcalloc((size_t)g->n_nodes, sizeof *fill);
    if (!fill)
        return BUYT_ENOMEM;
    for (int k = 0; k < g->n_edges; k++) {
        if (g->edges[k].removed)
            continue;
        int a = g->edges[k].a, b = g->edges[k].b;
        g->adj[g->adj_off[a] + fill[a]++] = 2 * k;
        g->adj[g->adj_off[b] + fill[b]++] = 2 * k + 1;
    }
    free(fill);
    /* Street names: a seeded shuffle, so each seed names its streets differently. */
    int n_streets = g->rows + g->cols;
    g->street_perm = xcalloc((size_t)n_streets, sizeof *g->street_perm);
    if (!g->street_perm)
        return BUYT_ENOMEM;
    for (int i = 0; i < n_streets; i++)
        g->street_perm[i] = (unsigned)i;
    struct buyt_rng rs;
    buyt_rng_init(&rs, g->seed, T_STREETS, 0);
    for (int i = n_streets - 1; i > 0; i--) {
        int j = (int)buyt_rng_below(&rs, (uint32_t)i + 1);
        unsigned t = g->street_perm[i];
        g->street_perm[i] = g->street_perm[j];
        g->street_perm[j] = t;
    }
    return 0;
}

/* ------------------------------------------------------------------ shortest paths */

struct heap {
    int n;
    int *v;
    double *k;
};

static void heap_push(struct heap *h, int v, double k)
{
    int i = h->n++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (h->k[p] <= k)
            break;
        h->v[i] = h->v[p];
        h->k[i] = h->k[p];
        i = p;
    }
    h->v[i] = v;
    h->k[i] = k;
}

static int heap_pop(struct heap *h, double *k)
{
    int top = h->v[0];
    *k = h->k[0];
    int lv = h->v[--h->n];
    double lk = h->k[h->n];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->k[c + 1] < h->k[c])
            c++;
        if (h->k[c] >= lk)
            break;
        h->v[i] = h->v[c];
        h->k[i] = h->k[c];
        i = c;
    }
    h->v[i] = lv;
    h->k[i] = lk;
    return top;
}

/* Edge cost for route `salt`: length, cheaper on big roads, with a per-route preference and a
 * penalty on edges already used by this route (`used`, may be NULL) so loops do not retrace. */
static double edge_cost(const struct gen *g, int k, uint64_t salt, const unsigned char *used)
{
    const struct edge *e = &g->edges[k];
    static const double cf[3] = {0.72, 0.88, 1.0};
    double c = e->len * cf[e->cls] * (0.7 + 0.6 * buyt_rng_hash01(g->seed, T_ROUTE, salt, (uint64_t)k));
    if (used && used[k])
        c *= 5;
    return c;
}

/* Appends the cheapest path from `src` to `dst` to p. Returns 0, BUYT_EINVAL if unreachable. */
static int shortest(struct gen *g, int src, int dst, uint64_t salt, const unsigned char *used,
                    struct path *p)
{
    int n = g->n_nodes;
    double *dist = malloc((size_t)n * sizeof *dist);
    int *prev = malloc((size_t)n * sizeof *prev);
    struct heap h = {0, malloc((size_t)g->n_edges * 2 * sizeof(int) + sizeof(int)),
                     malloc((size_t)g->n_edges * 2 * sizeof(double) + sizeof(double))};
    int rc = BUYT_ENOMEM;
    if (!dist || !prev || !h.v || !h.k)
        goto out;
    for (int i = 0; i < n; i++) {
        dist[i] = INFINITY;
        prev[i] = -1;
    }
    dist[src] = 0;
    heap_push(&h, src, 0);
    while (h.n > 0) {
        double k;
        int v = heap_pop(&h, &k);
        if (k > dist[v])
            continue;
        if (v == dst)
            break;
        for (int i = g->adj_off[v]; i < g->adj_off[v + 1]; i++) {
            int de = g->adj[i], w = de_to(g, de);
            double nk = k + edge_cost(g, de >> 1, salt, used);
            if (nk < dist[w]) {
                dist[w] = nk;
                prev[w] = de;
                heap_push(&h, w, nk);
            }
        }
    }
    rc = BUYT_EINVAL;
    if (src == dst || prev[dst] < 0)
        goto out;
    int cnt = 0;
    for (int v = dst; v != src; v = de_from(g, prev[v]))
        cnt++;
    int start = p->n;
    for (int i = 0; i < cnt; i++)
        if ((rc = path_push(p, 0)))
            goto out;
    int i = start + cnt - 1;
    for (int v = dst; v != src; v = de_from(g, prev[v]))
        p->de[i--] = prev[v];
    rc = 0;
out:
    free(dist);
    free(prev);
    free(h.v);
    free(h.k);
    return rc;
}

static int nearest_node(const struct gen *g, double x, double y)
{
    int best = 0;
    double bd = INFINITY;
    for (int v = 0; v < g->n_nodes; v++) {
        if (g->nodes[v].deg < 2)
            continue;
        double d = hypot(g->nodes[v].x - x, g->nodes[v].y - y);
        if (d < bd) {
            bd = d;
            best = v;
        }
    }
    return best;
}

/* ------------------------------------------------------------------ terminals and routes */

static int pick_terminals(struct gen *g)
{
    int want = g->c->params.routes / 6;
    if (want < 3)
        want = 3;
    if (want > 40)
        want = 40;
    g->terminals = xcalloc((size_t)want, sizeof *g->terminals);
    double *dmin = malloc((size_t)g->n_nodes * sizeof *dmin);
    if (!g->terminals || !dmin) {
        free(dmin);
        return BUYT_ENOMEM;
    }
    struct buyt_rng r;
    buyt_rng_init(&r, g->seed, T_TERM, 0);
    /* The first terminal is central (Bờ Hồ-like); the rest by farthest-point sampling, with
     * a pull towards the middle so not every terminal sits on the city's edge. */
    /* one draw per statement: argument evaluation order is unspecified in C */
    double cx = buyt_rng_range(&r, -800, 800);
    double cy = buyt_rng_range(&r, -800, 800);
    g->terminals[0] = nearest_node(g, cx, cy);
    for (int v = 0; v < g->n_nodes; v++)
        dmin[v] = INFINITY;
    for (int t = 1; t <= want; t++) {
        int last = g->terminals[t - 1];
        for (int v = 0; v < g->n_nodes; v++) {
            double d = hypot(g->nodes[v].x - g->nodes[last].x, g->nodes[v].y - g->nodes[last].y);
            if (d < dmin[v])
                dmin[v] = d;
        }
        if (t == want)
            break;
        int best = -1;
        double bs = -1;
        for (int v = 0; v < g->n_nodes; v++) {
            if (g->nodes[v].deg < 3)
                continue;
            double edge = fmin(g->half_w - fabs(g->nodes[v].x), g->half_h - fabs(g->nodes[v].y));
            double score = dmin[v] * (0.75 + 0.25 * fmin(1.0, edge / 2500.0)) *
                           (0.9 + 0.2 * buyt_rng_hash01(g->seed, T_TERM, (uint64_t)v, 1));
            if (score > bs) {
                bs = score;
                best = v;
            }
        }
        g->terminals[t] = best;
    }
    free(dmin);
    g->c->n_terminals = want;
    return 0;
}

static bool is_loop_route(int i, int n_routes)
{
    int loops = n_routes / 12;
    if (loops < 1)
        loops = 1;
    /* Spread the loops: route i is a loop when it crosses a multiple of n_routes / loops. */
    return (int)((long)(2 * i + 1) * loops / (2L * n_routes)) !=
           (int)((long)(2 * i + 3) * loops / (2L * n_routes));
}

static void reverse_path(const struct path *src, struct path *dst)
{
    for (int i = src->n - 1; i >= 0; i--)
        path_push(dst, src->de[i] ^ 1);
}

static int build_routes(struct gen *g)
{
    struct buyt_city *c = g->c;
    int R = c->params.routes, T = c->n_terminals;
    c->routes = xcalloc((size_t)R, sizeof *c->routes);
    c->n_routes = R;
    g->paths = xcalloc((size_t)R * 2, sizeof *g->paths);
    g->term_a = xcalloc((size_t)R, sizeof *g->term_a);
    g->term_b = xcalloc((size_t)R, sizeof *g->term_b);
    unsigned char *used = xcalloc((size_t)g->n_edges, 1);
    if (!c->routes || !g->paths || !g->term_a || !g->term_b || !used) {
        free(used);
        return BUYT_ENOMEM;
    }
    double diag = hypot(2 * g->half_w, 2 * g->half_h);
    for (int i = 0; i < R; i++) {
        struct buyt_city_route *rt = &c->routes[i];
        struct path *p0 = &g->paths[2 * i], *p1 = &g->paths[2 * i + 1];
        struct buyt_rng r;
        buyt_rng_init(&r, g->seed, T_ROUTE, (uint64_t)i);
        sfmt(rt->id, sizeof rt->id, "R%03d", i + 1);
        int a = (int)((i * 7 + (int)buyt_rng_below(&r, 3)) % T);
        int rc = BUYT_EINVAL;
        for (int attempt = 0; attempt < 12 && rc; attempt++) {
            p0->n = p1->n = 0;
            if (is_loop_route(i, R)) {
                rt->loop = true;
                int ta = g->terminals[a];
                double ang = buyt_rng_range(&r, 0, 2 * M_PI), rad = diag * buyt_rng_range(&r, 0.08, 0.14);
                int w1 = nearest_node(g, g->nodes[ta].x + rad * cos(ang), g->nodes[ta].y + rad * sin(ang));
                ang += buyt_rng_range(&r, 1.3, 1.9);
                int w2 = nearest_node(g, g->nodes[ta].x + rad * cos(ang), g->nodes[ta].y + rad * sin(ang));
                memset(used, 0, (size_t)g->n_edges);
                int legs[4] = {ta, w1, w2, ta};
                rc = 0;
                for (int l = 0; l < 3 && !rc; l++) {
                    int from = p0->n;
                    rc = shortest(g, legs[l], legs[l + 1], (uint64_t)i * 16 + (uint64_t)l, used, p0);
                    for (int k = from; !rc && k < p0->n; k++)
                        used[p0->de[k] >> 1] = 1;
                }
                if (!rc && path_len(g, p0) < 3000)
                    rc = BUYT_EINVAL;
                rt->n_dirs = (i % 2) ? 2 : 1;
                if (!rc && rt->n_dirs == 2)
                    reverse_path(p0, p1);
                g->term_b[i] = a;
            } else {
                rt->loop = false;
                double want = diag * buyt_rng_range(&r, 0.28, 0.55);
                int b = -1;
                double bd = INFINITY;
                for (int k = 0; k < 8; k++) {
                    int cand = (int)buyt_rng_below(&r, (uint32_t)T);
                    if (cand == a)
                        continue;
                    const struct node *na = &g->nodes[g->terminals[a]], *nb = &g->nodes[g->terminals[cand]];
                    double d = fabs(hypot(na->x - nb->x, na->y - nb->y) - want);
                    if (d < bd) {
                        bd = d;
                        b = cand;
                    }
                }
                if (b < 0)
                    continue;
                rt->n_dirs = 2;
                rc = shortest(g, g->terminals[a], g->terminals[b], (uint64_t)i * 16, NULL, p0);
                if (!rc) {
                    /* Most routes come back the same way; some use other streets (one-way
                     * pairs), which the matcher must handle. */
                    if (buyt_rng_uniform(&r) < 0.7)
                        reverse_path(p0, p1);
                    else
                        rc = shortest(g, g->terminals[b], g->terminals[a], (uint64_t)i * 16 + 9, NULL, p1);
                }
                g->term_b[i] = b;
            }
            if (rc)
                a = (a + 1) % T;
        }
        if (rc) {
            free(used);
            sfmt(g->err, sizeof g->err, "route %d: no path between terminals", i + 1);
            return BUYT_EINVAL;
        }
        /* Terminal names for the long name and headsigns. */
        char ta_name[BUYT_CITY_NAME_MAX], tb_name[BUYT_CITY_NAME_MAX];
        buyt_names_terminal((unsigned)a, ta_name, sizeof ta_name);
        if (rt->loop) {
            sfmt(rt->long_name, sizeof rt->long_name, "%s - Tuyến vòng", ta_name);
            sfmt(rt->dir[0].headsign, sizeof rt->dir[0].headsign, "%s (vòng%s)", ta_name,
                     rt->n_dirs == 2 ? " thuận" : "");
            sfmt(rt->dir[1].headsign, sizeof rt->dir[1].headsign, "%s (vòng nghịch)", ta_name);
        } else {
            int b = g->term_b[i];
            buyt_names_terminal((unsigned)b, tb_name, sizeof tb_name);
            sfmt(rt->long_name, sizeof rt->long_name, "%s - %s", ta_name, tb_name);
            sfmt(rt->dir[0].headsign, sizeof rt->dir[0].headsign, "%s", tb_name);
            sfmt(rt->dir[1].headsign, sizeof rt->dir[1].headsign, "%s", ta_name);
        }
        /* Short names like Hanoi's: 01..99, then 1xx, some with a letter (03A, 32B), some
         * electric "E" routes. */
        int num = i + 1;
        if (i % 17 == 3)
            sfmt(rt->short_name, sizeof rt->short_name, "%02d%c", (num % 99) + 1, 'A' + i % 3);
        else if (i % 23 == 7)
            sfmt(rt->short_name, sizeof rt->short_name, "E%02d", num % 100);
        else
            sfmt(rt->short_name, sizeof rt->short_name, "%02d", num);
        static const char *const palette[] = {"E85D04", "F48C06", "DC2F02", "0077B6",
                                              "2A9D8F", "6A4C93", "1B998B", "C1121F"};
        sfmt(rt->color, sizeof rt->color, "%s", palette[i % 8]);
        for (int d = 0; d < rt->n_dirs; d++)
            rt->dir[d].shape = -1;
        g->term_a[i] = a;
    }
    free(used);
    return 0;
}

/* ------------------------------------------------------------------ stops */

/* Stop slots on every directed edge used by a route, spaced `spacing` apart on average. */
static int place_stop_slots(struct gen *g, double spacing)
{
    int nde = g->n_edges * 2;
    free(g->de_stop_off);
    free(g->de_stop_n);
    free(g->de_stop_pos);
    free(g->de_stop_idx);
    g->de_stop_off = xcalloc((size_t)nde + 1, sizeof(int));
    g->de_stop_n = xcalloc((size_t)nde, sizeof(int));
    unsigned char *usedde = xcalloc((size_t)nde, 1);
    if (!g->de_stop_off || !g->de_stop_n || !usedde) {
        free(usedde);
        return BUYT_ENOMEM;
    }
    for (int i = 0; i < g->c->params.routes * 2; i++)
        for (int k = 0; k < g->paths[i].n; k++)
            usedde[g->paths[i].de[k]] = 1;
    for (int de = 0; de < nde; de++) {
        if (!usedde[de])
            continue;
        double len = g->edges[de >> 1].len, usable = len - 2 * STOP_END_MARGIN_M;
        if (usable <= 0)
            continue;
        g->de_stop_n[de] = (int)floor(len / spacing + buyt_rng_hash01(g->seed, T_STOPS, (uint64_t)de, 0));
    }
    free(usedde);
    for (int de = 0; de < nde; de++)
        g->de_stop_off[de + 1] = g->de_stop_off[de] + g->de_stop_n[de];
    g->n_stop_slots = g->de_stop_off[nde];
    g->de_stop_pos = xcalloc((size_t)g->n_stop_slots, sizeof(double));
    g->de_stop_idx = xcalloc((size_t)g->n_stop_slots, sizeof(int));
    if (!g->de_stop_pos || !g->de_stop_idx)
        return BUYT_ENOMEM;
    for (int de = 0; de < nde; de++) {
        int n = g->de_stop_n[de];
        double len = g->edges[de >> 1].len, usable = len - 2 * STOP_END_MARGIN_M;
        for (int k = 0; k < n; k++) {
            double j = buyt_rng_hash01(g->seed, T_STOPS, (uint64_t)de, (uint64_t)k + 1) - 0.5;
            g->de_stop_pos[g->de_stop_off[de] + k] =
                STOP_END_MARGIN_M + usable * (k + 0.5 + 0.5 * j) / n;
            g->de_stop_idx[g->de_stop_off[de] + k] = -1;
        }
    }
    return 0;
}

/* Marks the slots each pattern keeps (consecutive stops at least STOP_MIN_GAP_M apart) and
 * returns how many distinct slots are used. */
static int count_used_slots(struct gen *g)
{
    for (int s = 0; s < g->n_stop_slots; s++)
        g->de_stop_idx[s] = -1;
    int used = 0;
    for (int i = 0; i < g->c->params.routes * 2; i++) {
        const struct path *p = &g->paths[i];
        if (!p->n)
            continue;
        double total = path_len(g, p), off = 0, last = 0;
        for (int k = 0; k < p->n; k++) {
            int de = p->de[k];
            for (int s = 0; s < g->de_stop_n[de]; s++) {
                int slot = g->de_stop_off[de] + s;
                double d = off + g->de_stop_pos[slot];
                if (d - last < STOP_MIN_GAP_M || total - d < STOP_MIN_GAP_M)
                    continue;
                last = d;
                if (g->de_stop_idx[slot] < 0) {
                    g->de_stop_idx[slot] = 0;
                    used++;
                }
            }
            off += g->edges[de >> 1].len;
        }
    }
    return used;
}

static void name_stop(struct gen *g, int de, double u, char *buf, size_t len)
{
    const struct edge *e = &g->edges[de >> 1];
    char street[96], other[96];
    buyt_names_street(g->street_perm[e->street], street, sizeof street);
    double h01 = buyt_rng_hash01(g->seed, T_NAMES, (uint64_t)de, (uint64_t)(u * 10));
    uint64_t h = buyt_rng_hash(g->seed, (uint64_t)de, (uint64_t)(u * 10));
    if (u < 130 || e->len - u < 130) {
        /* Near an intersection: named after it. */
        int node = (u < 130) ? de_from(g, de) : de_to(g, de);
        const struct node *n = &g->nodes[node];
        bool row_street = e->street < g->rows;
        int cross = row_street ? g->rows + n->col : n->row;
        buyt_names_street(g->street_perm[cross], other, sizeof other);
        sfmt(buf, len, "%s %s - %s", n->deg >= 4 ? "Ngã tư" : "Ngã ba", street, other);
    } else if (h01 < 0.3) {
        char lm[96];
        buyt_names_landmark(h, lm, sizeof lm);
        sfmt(buf, len, "%s - %s", lm, street);
    } else {
        /* House numbers grow along the street; odd on one side, even on the other. */
        double x, y, dx, dy;
        de_point(g, de, u, &x, &y, &dx, &dy);
        bool row_street = e->street < g->rows;
        double along = row_street ? x + g->half_w * 1.3 : y + g->half_h * 1.3;
        int num = 2 * (int)(along / 40.0) + 1 + (de & 1);
        sfmt(buf, len, "%s%d %s", (h01 < 0.45) ? "Đối diện số " : "Số ", num, street);
    }
}

static int build_stops(struct gen *g)
{
    struct buyt_city *c = g->c;
    int target = c->params.stops - c->n_terminals;
    if (target < 2 * c->params.routes)
        target = 2 * c->params.routes;
    double used_len = 0;
    {
        unsigned char *u = xcalloc((size_t)g->n_edges * 2, 1);
        if (!u)
            return BUYT_ENOMEM;
        for (int i = 0; i < c->params.routes * 2; i++)
            for (int k = 0; k < g->paths[i].n; k++)
                if (!u[g->paths[i].de[k]]) {
                    u[g->paths[i].de[k]] = 1;
                    used_len += g->edges[g->paths[i].de[k] >> 1].len;
                }
        free(u);
    }
    double spacing = used_len / target;
    int rc, used = 0;
    for (int iter = 0; iter < 8; iter++) {
        if ((rc = place_stop_slots(g, spacing)))
            return rc;
        used = count_used_slots(g);
        double ratio = (double)used / target;
        if (fabs(ratio - 1) < 0.02)
            break;
        spacing *= pow(ratio, 1.2);
    }
    c->n_stops = c->n_terminals + used;
    c->stops = xcalloc((size_t)c->n_stops, sizeof *c->stops);
    if (!c->stops)
        return BUYT_ENOMEM;
    for (int t = 0; t < c->n_terminals; t++) {
        struct buyt_city_stop *s = &c->stops[t];
        const struct node *n = &g->nodes[g->terminals[t]];
        sfmt(s->id, sizeof s->id, "T%02d", t + 1);
        sfmt(s->code, sizeof s->code, "%d", 9000 + t + 1);
        buyt_names_terminal((unsigned)t, s->name, sizeof s->name);
        s->x_m = n->x + 9;
        s->y_m = n->y + 9;
        s->terminal = t;
    }
    int next = c->n_terminals;
    for (int de = 0; de < g->n_edges * 2; de++) {
        for (int k = 0; k < g->de_stop_n[de]; k++) {
            int slot = g->de_stop_off[de] + k;
            if (g->de_stop_idx[slot] < 0)
                continue;
            struct buyt_city_stop *s = &c->stops[next];
            g->de_stop_idx[slot] = next;
            int num = next - c->n_terminals + 1;
            sfmt(s->id, sizeof s->id, "S%04d", num);
            sfmt(s->code, sizeof s->code, "%d", 1000 + num);
            double x, y, dx, dy;
            de_point(g, de, g->de_stop_pos[slot], &x, &y, &dx, &dy);
            /* right of the direction of travel: (dy, -dx) */
            s->x_m = x + STOP_SIDE_OFFSET_M * dy;
            s->y_m = y - STOP_SIDE_OFFSET_M * dx;
            s->terminal = -1;
            name_stop(g, de, g->de_stop_pos[slot], s->name, sizeof s->name);
            next++;
        }
    }
    for (int i = 0; i < c->n_stops; i++)
        buyt_geo_from_xy(&c->frame, c->stops[i].x_m, c->stops[i].y_m, &c->stops[i].lat,
                         &c->stops[i].lon);
    return 0;
}

/* ------------------------------------------------------------------ patterns and shapes */

static int build_pattern(struct gen *g, int route, int dir, int term_a, int term_b)
{
    struct buyt_city *c = g->c;
    struct buyt_city_route *rt = &c->routes[route];
    struct buyt_city_pattern *pt = &rt->dir[dir];
    const struct path *p = &g->paths[2 * route + dir];
    /* Shape: concatenated edge geometries. */
    int npts = 1;
    for (int k = 0; k < p->n; k++)
        npts += g->edges[p->de[k] >> 1].np - 1;
    struct buyt_city_shape *sh = &c->shapes[c->n_shapes];
    sfmt(sh->id, sizeof sh->id, "%s_%d", rt->id, dir);
    sh->x_m = malloc((size_t)npts * sizeof(double));
    sh->y_m = malloc((size_t)npts * sizeof(double));
    sh->lat = malloc((size_t)npts * sizeof(double));
    sh->lon = malloc((size_t)npts * sizeof(double));
    sh->dist_m = malloc((size_t)npts * sizeof(double));
    int cap_stops = 2 + g->n_stop_slots;
    pt->stops = malloc((size_t)cap_stops * sizeof(int));
    pt->dist_m = malloc((size_t)cap_stops * sizeof(double));
    pt->free_flow_s = malloc((size_t)cap_stops * sizeof(double));
    if (!sh->x_m || !sh->y_m || !sh->lat || !sh->lon || !sh->dist_m || !pt->stops ||
        !pt->dist_m || !pt->free_flow_s)
        return BUYT_ENOMEM;
    pt->shape = c->n_shapes++;
    int n = 0;
    double off = 0;
    for (int k = 0; k < p->n; k++) {
        const struct edge *e = &g->edges[p->de[k] >> 1];
        for (int i = (k == 0 ? 0 : 1); i < e->np; i++) {
            int idx = (p->de[k] & 1) ? e->p0 + e->np - 1 - i : e->p0 + i;
            double s = (p->de[k] & 1) ? e->len - g->ps[idx] : g->ps[idx];
            sh->x_m[n] = g->px[idx];
            sh->y_m[n] = g->py[idx];
            sh->dist_m[n] = off + s;
            n++;
        }
        off += e->len;
    }
    sh->n = n;
    for (int i = 0; i < n; i++)
        buyt_geo_from_xy(&c->frame, sh->x_m[i], sh->y_m[i], &sh->lat[i], &sh->lon[i]);
    double total = off;
    /* Stops, and the free-flow time of each segment (edge by edge, at each road's limit). */
    int ns = 0;
    pt->stops[ns] = term_a;
    pt->dist_m[ns++] = 0;
    off = 0;
    double last = 0;
    for (int k = 0; k < p->n; k++) {
        int de = p->de[k];
        for (int s = 0; s < g->de_stop_n[de]; s++) {
            int slot = g->de_stop_off[de] + s;
            double d = off + g->de_stop_pos[slot];
            if (d - last < STOP_MIN_GAP_M || total - d < STOP_MIN_GAP_M)
                continue;
            last = d;
            pt->stops[ns] = g->de_stop_idx[slot];
            pt->dist_m[ns++] = d;
        }
        off += g->edges[de >> 1].len;
    }
    pt->stops[ns] = term_b;
    pt->dist_m[ns++] = total;
    pt->n_stops = ns;
    for (int i = 0; i + 1 < ns; i++)
        pt->free_flow_s[i] = 0;
    off = 0;
    int seg = 0;
    for (int k = 0; k < p->n; k++) {
        const struct edge *e = &g->edges[p->de[k] >> 1];
        double v = buyt_roads_class_limit_ms((enum buyt_road_class)e->cls);
        double a = off, b = off + e->len;
        while (a < b) {
            while (seg + 2 < ns && a >= pt->dist_m[seg + 1])
                seg++;
            double end = (seg + 2 < ns) ? fmin(b, pt->dist_m[seg + 1]) : b;
            pt->free_flow_s[seg] += (end - a) / v;
            a = end;
        }
        off = b;
    }
    return 0;
}

static int build_patterns(struct gen *g)
{
    struct buyt_city *c = g->c;
    c->shapes = xcalloc((size_t)c->params.routes * 2, sizeof *c->shapes);
    if (!c->shapes)
        return BUYT_ENOMEM;
    for (int i = 0; i < c->params.routes; i++) {
        const struct buyt_city_route *rt = &c->routes[i];
        int a = g->term_a[i], b = g->term_b[i];
        int rc;
        if ((rc = build_pattern(g, i, 0, a, b)))
            return rc;
        if (rt->n_dirs == 2 && (rc = build_pattern(g, i, 1, b, a)))
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ blocks and trips */

struct trip_tmp {
    int route, dir, block, start_s;
};

static int cmp_trip_tmp(const void *pa, const void *pb)
{
    const struct trip_tmp *a = pa, *b = pb;
    if (a->route != b->route)
        return a->route - b->route;
    if (a->dir != b->dir)
        return a->dir - b->dir;
    if (a->start_s != b->start_s)
        return a->start_s - b->start_s;
    return a->block - b->block;
}

/* Running time of a whole pattern departing at service time t. */
static double pattern_run_s(const struct buyt_city_pattern *pt, double t)
{
    double t0 = t;
    for (int i = 0; i + 1 < pt->n_stops; i++)
        t += buyt_roads_run_time_s(pt->free_flow_s[i], t);
    return t - t0;
}

static int ceil_minute(double t) { return (int)ceil(t / 60.0) * 60; }

static int allocate_buses(struct gen *g)
{
    struct buyt_city *c = g->c;
    int R = c->params.routes, B = c->params.buses;
    double *cycle = malloc((size_t)R * sizeof *cycle), sum = 0;
    if (!cycle)
        return BUYT_ENOMEM;
    for (int i = 0; i < R; i++) {
        const struct buyt_city_route *rt = &c->routes[i];
        cycle[i] = 0;
        for (int d = 0; d < rt->n_dirs; d++)
            cycle[i] += pattern_run_s(&rt->dir[d], 12 * 3600.0) + 420;
        sum += cycle[i];
    }
    int given = 0;
    for (int i = 0; i < R; i++) {
        int n = (int)floor(B * cycle[i] / sum);
        if (n < 1)
            n = 1;
        c->routes[i].n_buses = n;
        given += n;
    }
    /* Largest remainders first, deterministically; take back from the biggest if over. */
    for (int k = 0; given < B; k = (k + 1) % R) {
        c->routes[(k * 37) % R].n_buses++;
        given++;
    }
    while (given > B) {
        int big = 0;
        for (int i = 1; i < R; i++)
            if (c->routes[i].n_buses > c->routes[big].n_buses)
                big = i;
        c->routes[big].n_buses--;
        given--;
    }
    free(cycle);
    return 0;
}

static int build_blocks(struct gen *g)
{
    struct buyt_city *c = g->c;
    int rc;
    if ((rc = allocate_buses(g)))
        return rc;
    int B = c->params.buses;
    c->blocks = xcalloc((size_t)B, sizeof *c->blocks);
    size_t cap = (size_t)B * 24, n = 0;
    struct trip_tmp *tt = malloc(cap * sizeof *tt);
    if (!c->blocks || !tt) {
        free(tt);
        return BUYT_ENOMEM;
    }
    for (int i = 0; i < c->params.routes; i++) {
        struct buyt_city_route *rt = &c->routes[i];
        struct buyt_rng r;
        buyt_rng_init(&r, g->seed, T_BLOCK, (uint64_t)i);
        int first = 5 * 3600 + 60 * (int)buyt_rng_below(&r, 31);
        int last = 21 * 3600 + 60 * (int)buyt_rng_below(&r, 91);
        if (buyt_rng_uniform(&r) < 0.2)
            last = 23 * 3600 + 60 * (int)buyt_rng_below(&r, 31); /* late routes: past 24:00 */
        int k = rt->n_buses, k_split = k >= 4 ? k * 15 / 100 : 0, k_reg = k - k_split;
        double cycle = 0;
        for (int d = 0; d < rt->n_dirs; d++)
            cycle += pattern_run_s(&rt->dir[d], 12 * 3600.0) + 420;
        double h = cycle / k_reg;
        for (int j = 0; j < k; j++) {
            int b = c->n_blocks++;
            struct buyt_city_block *bl = &c->blocks[b];
            bl->route = i;
            bl->split = j >= k_reg;
            int jj = bl->split ? j - k_reg : j;
            sfmt(bl->id, sizeof bl->id, "%s_%c%02d", rt->id, bl->split ? 'P' : 'B', jj + 1);
            int dir = 0;
            double t;
            int shift_end;
            if (!bl->split) {
                t = first + jj * h;
                if (rt->n_dirs == 2 && jj * h >= cycle / 2) {
                    dir = 1;
                    t -= cycle / 2;
                }
                shift_end = last;
            } else {
                double hp = 9000.0 / (k_split + 1);
                t = 6 * 3600 + 900 + jj * hp;
                shift_end = 9 * 3600;
            }
            int dep = ceil_minute(t);
            for (int phase = 0; phase < (bl->split ? 2 : 1); phase++) {
                if (phase == 1) {
                    double hp = 9000.0 / (k_split + 1);
                    int pm = ceil_minute(16 * 3600 + 900 + jj * hp);
                    if (pm > dep)
                        dep = pm;
                    shift_end = 18 * 3600 + 2700;
                }
                while (dep <= shift_end) {
                    if (n == cap) {
                        cap *= 2;
                        struct trip_tmp *nt = realloc(tt, cap * sizeof *nt);
                        if (!nt) {
                            free(tt);
                            return BUYT_ENOMEM;
                        }
                        tt = nt;
                    }
                    tt[n++] = (struct trip_tmp){i, dir, b, dep};
                    double arr = dep + pattern_run_s(&rt->dir[dir], dep);
                    dep = ceil_minute(arr + LAYOVER_MIN_S + buyt_rng_range(&r, 0, 300));
                    if (rt->n_dirs == 2)
                        dir ^= 1;
                }
            }
        }
    }
    qsort(tt, n, sizeof *tt, cmp_trip_tmp);
    /* Trips and stop times. */
    long n_st = 0;
    for (size_t k = 0; k < n; k++)
        n_st += c->routes[tt[k].route].dir[tt[k].dir].n_stops;
    c->trips = xcalloc(n, sizeof *c->trips);
    c->stop_times = xcalloc((size_t)n_st, sizeof *c->stop_times);
    c->block_trips = xcalloc(n, sizeof *c->block_trips);
    if (!c->trips || !c->stop_times || !c->block_trips) {
        free(tt);
        return BUYT_ENOMEM;
    }
    int seqno = 0;
    for (size_t k = 0; k < n; k++) {
        struct buyt_city_trip *tr = &c->trips[k];
        const struct buyt_city_pattern *pt = &c->routes[tt[k].route].dir[tt[k].dir];
        if (k == 0 || tt[k].route != tt[k - 1].route || tt[k].dir != tt[k - 1].dir)
            seqno = 0;
        tr->route = tt[k].route;
        tr->dir = tt[k].dir;
        tr->block = tt[k].block;
        sfmt(tr->id, sizeof tr->id, "%s_%d_%03d", c->routes[tr->route].id, tr->dir, ++seqno);
        tr->st0 = (int)c->n_stop_times;
        tr->n_st = pt->n_stops;
        double t = tt[k].start_s;
        for (int s = 0; s < pt->n_stops; s++) {
            struct buyt_city_stop_time *st = &c->stop_times[c->n_stop_times++];
            if (s > 0)
                t += buyt_roads_run_time_s(pt->free_flow_s[s - 1], t);
            st->stop = pt->stops[s];
            st->arr_s = st->dep_s = (int)lround(t);
            st->dist_m = pt->dist_m[s];
            st->timepoint = (s == 0 || s == pt->n_stops - 1 || s % 5 == 0);
        }
        tr->start_s = c->stop_times[tr->st0].dep_s;
        tr->end_s = c->stop_times[tr->st0 + tr->n_st - 1].arr_s;
    }
    c->n_trips = (int)n;
    /* Blocks: their trips in time order. */
    int *count = xcalloc((size_t)c->n_blocks + 1, sizeof *count);
    if (!count) {
        free(tt);
        return BUYT_ENOMEM;
    }
    for (int k = 0; k < c->n_trips; k++)
        count[c->trips[k].block + 1]++;
    for (int b = 0; b < c->n_blocks; b++) {
        count[b + 1] += count[b];
        c->blocks[b].t0 = count[b];
        c->blocks[b].n_trips = 0;
    }
    for (int k = 0; k < c->n_trips; k++) {
        struct buyt_city_block *bl = &c->blocks[c->trips[k].block];
        c->block_trips[bl->t0 + bl->n_trips++] = k;
    }
    for (int b = 0; b < c->n_blocks; b++) { /* insertion sort by start time: short lists */
        int *v = &c->block_trips[c->blocks[b].t0];
        for (int i = 1; i < c->blocks[b].n_trips; i++)
            for (int j = i; j > 0 && c->trips[v[j]].start_s < c->trips[v[j - 1]].start_s; j--) {
                int x = v[j];
                v[j] = v[j - 1];
                v[j - 1] = x;
            }
    }
    free(count);
    free(tt);
    return 0;
}

/* ------------------------------------------------------------------ public */

void buyt_citygen_params_init(struct buyt_citygen_params *p)
{
    p->seed = 1;
    p->routes = 150;
    p->stops = 4000;
    p->buses = 2000;
}

static void gen_free(struct gen *g)
{
    free(g->nodes);
    free(g->edges);
    free(g->px);
    free(g->py);
    free(g->ps);
    free(g->adj_off);
    free(g->adj);
    free(g->terminals);
    free(g->street_perm);
    free(g->term_a);
    free(g->term_b);
    if (g->paths)
        for (int i = 0; i < g->c->params.routes * 2; i++)
            free(g->paths[i].de);
    free(g->paths);
    free(g->de_stop_off);
    free(g->de_stop_n);
    free(g->de_stop_pos);
    free(g->de_stop_idx);
}

int buyt_citygen_build(const struct buyt_citygen_params *p, struct buyt_city **out, char *err,
                       size_t errlen)
{
    *out = NULL;
    if (p->routes < 1 || p->routes > 1000) {
        sfmt(err, errlen, "routes must be 1..1000 (got %d)", p->routes);
        return BUYT_EINVAL;
    }
    if (p->buses < p->routes || p->buses > 100000) {
        sfmt(err, errlen, "buses must be at least the number of routes and at most 100000");
        return BUYT_EINVAL;
    }
    if (p->stops < 10 || p->stops > 100000) {
        sfmt(err, errlen, "stops must be 10..100000 (got %d)", p->stops);
        return BUYT_EINVAL;
    }
    struct buyt_city *c = xcalloc(1, sizeof *c);
    if (!c)
        return BUYT_ENOMEM;
    c->params = *p;
    buyt_geo_frame_init(&c->frame, BUYT_CITY_CENTER_LAT, BUYT_CITY_CENTER_LON);
    struct gen g = {.c = c, .seed = p->seed};
    int rc;
    if ((rc = build_grid(&g)) || (rc = pick_terminals(&g)) || (rc = build_routes(&g)) ||
        (rc = build_stops(&g)) || (rc = build_patterns(&g)) || (rc = build_blocks(&g))) {
        sfmt(err, errlen, "%s", g.err[0] ? g.err : "out of memory");
        gen_free(&g);
        buyt_city_free(c);
        return rc;
    }
    gen_free(&g);
    *out = c;
    return 0;
}

void buyt_city_free(struct buyt_city *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n_shapes; i++) {
        free(c->shapes[i].x_m);
        free(c->shapes[i].y_m);
        free(c->shapes[i].lat);
        free(c->shapes[i].lon);
        free(c->shapes[i].dist_m);
    }
    free(c->shapes);
    if (c->routes)
        for (int i = 0; i < c->params.routes; i++)
            for (int d = 0; d < 2; d++) {
                free(c->routes[i].dir[d].stops);
                free(c->routes[i].dir[d].dist_m);
                free(c->routes[i].dir[d].free_flow_s);
            }
    free(c->routes);
    free(c->stops);
    free(c->trips);
    free(c->stop_times);
    free(c->blocks);
    free(c->block_trips);
    free(c);
}
