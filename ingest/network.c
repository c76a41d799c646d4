/* In-memory transit network: builder, finishing (projection of stops, blank times, blocks,
 * indexes) and schedule lookups; see network.h. */
#include "network.h"

#include "error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_GRID_CELL_M 200.0
#define STOP_FAR_M 100.0     /* a stop this far from its shape is counted as suspicious */
#define STOP_CANDIDATES 6    /* positions considered per stop when projecting a pattern */
#define MIN_POINT_GAP_M 0.05 /* closer consecutive shape points are merged */

/* ---- string pool: chunks never move, so the strings' addresses are stable ---------------- */

struct pool_chunk {
    struct pool_chunk *next;
    size_t used, cap;
    char data[];
};

static const char *pool_strdup(struct pool_chunk **pool, size_t *bytes, const char *s)
{
    size_t len = strlen(s) + 1;
    struct pool_chunk *c = *pool;
    if (!c || c->cap - c->used < len) {
        size_t cap = len > 65536 ? len : 65536;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->next = *pool;
        c->used = 0;
        c->cap = cap;
        *pool = c;
        *bytes += sizeof *c + cap;
    }
    char *d = c->data + c->used;
    memcpy(d, s, len);
    c->used += len;
    return d;
}

/* ---- growable arrays ------------------------------------------------------------------- */

static int grow(void *pp, uint32_t *cap, uint32_t need, size_t elsize)
{
    void **p = pp;
    if (need <= *cap)
        return 0;
    uint32_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, (size_t)n * elsize);
    if (!q)
        return BUYT_ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

/* ---- string -> index map (open addressing; the keys live in `keys`) -------------------- */

struct strmap {
    uint32_t *slot; /* index + 1, 0 = empty */
    uint32_t n_slots, n;
    const char **keys;
    uint32_t keys_cap;
};

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static uint32_t strmap_find(const struct strmap *m, const char *k)
{
    if (!m->n_slots || !k)
        return BUYT_NETWORK_NONE;
    for (uint32_t i = hash_str(k) & (m->n_slots - 1);; i = (i + 1) & (m->n_slots - 1)) {
        uint32_t v = m->slot[i];
        if (!v)
            return BUYT_NETWORK_NONE;
        if (strcmp(m->keys[v - 1], k) == 0)
            return v - 1;
    }
}

static void strmap_insert_slot(struct strmap *m, uint32_t idx)
{
    uint32_t i = hash_str(m->keys[idx]) & (m->n_slots - 1);
    while (m->slot[i])
        i = (i + 1) & (m->n_slots - 1);
    m->slot[i] = idx + 1;
}

/* Adds key `k` (copied) as index m->n. */
static int strmap_add(struct strmap *m, struct pool_chunk **pool, size_t *bytes, const char *k)
{
    if ((m->n + 1) * 2 > m->n_slots) {
        uint32_t ns = m->n_slots ? m->n_slots * 2 : 64;
        uint32_t *s = calloc(ns, sizeof *s);
        if (!s)
            return BUYT_ENOMEM;
        free(m->slot);
        m->slot = s;
        m->n_slots = ns;
        for (uint32_t i = 0; i < m->n; i++)
            strmap_insert_slot(m, i);
    }
    if (grow(&m->keys, &m->keys_cap, m->n + 1, sizeof *m->keys))
        return BUYT_ENOMEM;
    const char *c = pool_strdup(pool, bytes, k);
    if (!c)
        return BUYT_ENOMEM;
    m->keys[m->n] = c;
    strmap_insert_slot(m, m->n);
    m->n++;
    return 0;
}

static void strmap_free(struct strmap *m)
{
    free(m->slot);
    free(m->keys);
}

/* ---- private storage ------------------------------------------------------------------- */

struct raw_point {
    uint32_t shape;
    double lat, lon;
};

struct raw_time {
    uint32_t trip, seq, stop;
    int32_t arr, dep;
};

struct buyt_network_priv {
    struct buyt_network_options opts;
    struct pool_chunk *pool;
    size_t pool_bytes;
    struct strmap route_map, stop_map, shape_map, block_map, trip_map;
    uint32_t *trip_id_first; /* trip_map index -> first instance */
    uint32_t trip_id_first_cap;
    struct buyt_network_route *routes;
    uint32_t routes_cap;
    struct buyt_network_stop *stops;
    uint32_t stops_cap;
    struct buyt_network_trip *trips;
    uint32_t trips_cap;
    struct raw_point *raw_pts;
    uint32_t n_raw_pts, raw_pts_cap;
    struct raw_time *raw_times;
    uint32_t n_raw_times, raw_times_cap;
    /* finished storage */
    struct buyt_shape *shapes;
    struct buyt_shape *grid_shapes; /* shapes as the grid sees them: merged ones empty */
    const char **shape_ids;
    struct buyt_shape_pt *pts;
    struct buyt_network_pattern *patterns;
    struct buyt_network_pattern_stop *pattern_stops;
    struct buyt_network_time *times;
    uint32_t *shape_trips, *shape_trip_first;
};

int buyt_network_new(const struct buyt_network_options *opts, struct buyt_network **out)
{
    *out = NULL;
    struct buyt_network *net = calloc(1, sizeof *net);
    struct buyt_network_priv *p = calloc(1, sizeof *p);
    if (!net || !p) {
        free(net);
        free(p);
        return BUYT_ENOMEM;
    }
    p->opts.grid_cell_m = DEFAULT_GRID_CELL_M;
    if (opts) {
        if (!(opts->grid_cell_m > 0)) {
            free(net);
            free(p);
            return BUYT_EINVAL;
        }
        p->opts = *opts;
    }
    net->priv = p;
    *out = net;
    return 0;
}

static void free_raw(struct buyt_network_priv *p)
{
    free(p->raw_pts);
    free(p->raw_times);
    p->raw_pts = NULL;
    p->raw_times = NULL;
    p->n_raw_pts = p->raw_pts_cap = p->n_raw_times = p->raw_times_cap = 0;
}

void buyt_network_free(struct buyt_network *net)
{
    if (!net)
        return;
    struct buyt_network_priv *p = net->priv;
    buyt_grid_close(&net->grid);
    if (p) {
        free_raw(p);
        strmap_free(&p->route_map);
        strmap_free(&p->stop_map);
        strmap_free(&p->shape_map);
        strmap_free(&p->block_map);
        strmap_free(&p->trip_map);
        free(p->trip_id_first);
        free(p->routes);
        free(p->stops);
        free(p->trips);
        free(p->shapes);
        free(p->grid_shapes);
        free(p->shape_ids);
        free(p->pts);
        free(p->patterns);
        free(p->pattern_stops);
        free(p->times);
        free(p->shape_trips);
        free(p->shape_trip_first);
        while (p->pool) {
            struct pool_chunk *n = p->pool->next;
            free(p->pool);
            p->pool = n;
        }
        free(p);
    }
    free(net);
}

/* ---- building -------------------------------------------------------------------------- */

static int can_add(const struct buyt_network *net, const char *id)
{
    return net && !net->finished && id && *id;
}

int buyt_network_add_route(struct buyt_network *net, const char *route_id, const char *short_name,
                           int32_t type, uint32_t *idx)
{
    if (!can_add(net, route_id))
        return BUYT_EINVAL;
    struct buyt_network_priv *p = net->priv;
    if (strmap_find(&p->route_map, route_id) != BUYT_NETWORK_NONE)
        return BUYT_EINVAL;
    uint32_t i = p->route_map.n;
    if (grow(&p->routes, &p->routes_cap, i + 1, sizeof *p->routes))
        return BUYT_ENOMEM;
    const char *sn = pool_strdup(&p->pool, &p->pool_bytes, short_name ? short_name : "");
    if (!sn || strmap_add(&p->route_map, &p->pool, &p->pool_bytes, route_id))
        return BUYT_ENOMEM;
    p->routes[i] =
        (struct buyt_network_route){.id = p->route_map.keys[i], .short_name = sn, .type = type};
    net->n_routes = i + 1;
    if (idx)
        *idx = i;
    return 0;
}

int buyt_network_add_stop(struct buyt_network *net, const char *stop_id, const char *name,
                          double lat, double lon, uint32_t *idx)
{
    if (!can_add(net, stop_id) || !(fabs(lat) <= 90) || !(fabs(lon) <= 180))
        return BUYT_EINVAL;
    struct buyt_network_priv *p = net->priv;
    if (strmap_find(&p->stop_map, stop_id) != BUYT_NETWORK_NONE)
        return BUYT_EINVAL;
    uint32_t i = p->stop_map.n;
    if (grow(&p->stops, &p->stops_cap, i + 1, sizeof *p->stops))
        return BUYT_ENOMEM;
    const char *nm = pool_strdup(&p->pool, &p->pool_bytes, name ? name : "");
    if (!nm || strmap_add(&p->stop_map, &p->pool, &p->pool_bytes, stop_id))
        return BUYT_ENOMEM;
    p->stops[i] =
        (struct buyt_network_stop){.id = p->stop_map.keys[i], .name = nm, .lat = lat, .lon = lon};
    net->n_stops = i + 1;
    if (idx)
        *idx = i;
    return 0;
}

int buyt_network_add_shape(struct buyt_network *net, const char *shape_id, uint32_t *idx)
{
    if (!can_add(net, shape_id))
        return BUYT_EINVAL;
    struct buyt_network_priv *p = net->priv;
    if (strmap_find(&p->shape_map, shape_id) != BUYT_NETWORK_NONE)
        return BUYT_EINVAL;
    if (strmap_add(&p->shape_map, &p->pool, &p->pool_bytes, shape_id))
        return BUYT_ENOMEM;
    net->n_shapes = p->shape_map.n;
    if (idx)
        *idx = p->shape_map.n - 1;
    return 0;
}

int buyt_network_add_shape_point(struct buyt_network *net, uint32_t shape, double lat, double lon)
{
    if (!net || net->finished || shape >= net->priv->shape_map.n || !(fabs(lat) <= 90) ||
        !(fabs(lon) <= 180))
        return BUYT_EINVAL;
    struct buyt_network_priv *p = net->priv;
    if (grow(&p->raw_pts, &p->raw_pts_cap, p->n_raw_pts + 1, sizeof *p->raw_pts))
        return BUYT_ENOMEM;
    p->raw_pts[p->n_raw_pts++] = (struct raw_point){.shape = shape, .lat = lat, .lon = lon};
    return 0;
}

int buyt_network_add_trip(struct buyt_network *net, const struct buyt_network_trip_def *def,
                          uint32_t *idx)
{
    if (!def || !can_add(net, def->trip_id))
        return BUYT_EINVAL;
    struct buyt_network_priv *p = net->priv;
    if (def->route >= p->route_map.n ||
        (def->shape != BUYT_NETWORK_NONE && def->shape >= p->shape_map.n) ||
        def->direction_id < -1 || def->direction_id > 1 ||
        (def->frequency_run && def->run_start_s < 0))
        return BUYT_EINVAL;
    int32_t run_start = def->frequency_run ? def->run_start_s : BUYT_NETWORK_NOT_A_RUN;
    uint32_t id = strmap_find(&p->trip_map, def->trip_id);
    uint32_t last = BUYT_NETWORK_NONE;
    if (id != BUYT_NETWORK_NONE) {
        for (uint32_t t = p->trip_id_first[id]; t != BUYT_NETWORK_NONE;
             t = p->trips[t].same_id_next) {
            if (p->trips[t].day_start_ms == def->day_start_ms &&
                p->trips[t].run_start_s == run_start)
                return BUYT_EINVAL;
            last = t;
        }
    }
    uint32_t block = BUYT_NETWORK_NONE;
    if (def->block_id && *def->block_id) {
        block = strmap_find(&p->block_map, def->block_id);
        if (block == BUYT_NETWORK_NONE) {
            if (strmap_add(&p->block_map, &p->pool, &p->pool_bytes, def->block_id))
                return BUYT_ENOMEM;
            block = p->block_map.n - 1;
        }
    }
    uint32_t i = net->n_trips;
    if (grow(&p->trips, &p->trips_cap, i + 1, sizeof *p->trips))
        return BUYT_ENOMEM;
    if (id == BUYT_NETWORK_NONE) {
        id = p->trip_map.n;
        if (grow(&p->trip_id_first, &p->trip_id_first_cap, id + 1, sizeof *p->trip_id_first) ||
            strmap_add(&p->trip_map, &p->pool, &p->pool_bytes, def->trip_id))
            return BUYT_ENOMEM;
        p->trip_id_first[id] = i;
    } else {
        p->trips[last].same_id_next = i;
    }
    const char *hs = pool_strdup(&p->pool, &p->pool_bytes, def->headsign ? def->headsign : "");
    if (!hs)
        return BUYT_ENOMEM;
    p->trips[i] = (struct buyt_network_trip){.id = p->trip_map.keys[id],
                                             .headsign = hs,
                                             .route = def->route,
                                             .shape = def->shape,
                                             .pattern = BUYT_NETWORK_NONE,
                                             .block = block,
                                             .next_in_block = BUYT_NETWORK_NONE,
                                             .same_id_next = BUYT_NETWORK_NONE,
                                             .day_start_ms = def->day_start_ms,
                                             .run_start_s = run_start,
                                             .direction = (int8_t)def->direction_id,
                                             .headway_based =
                                                 def->frequency_run && def->headway_based};
    net->n_trips = i + 1;
    if (idx)
        *idx = i;
    return 0;
}

int buyt_network_add_stop_time(struct buyt_network *net, uint32_t trip, uint32_t stop_sequence,
                               uint32_t stop, int32_t arrival_s, int32_t departure_s)
{
    if (!net || net->finished || trip >= net->n_trips || stop >= net->n_stops)
        return BUYT_EINVAL;
    struct buyt_network_priv *p = net->priv;
    if (grow(&p->raw_times, &p->raw_times_cap, p->n_raw_times + 1, sizeof *p->raw_times))
        return BUYT_ENOMEM;
    p->raw_times[p->n_raw_times++] = (struct raw_time){
        .trip = trip, .seq = stop_sequence, .stop = stop, .arr = arrival_s, .dep = departure_s};
    return 0;
}

/* ---- lookups --------------------------------------------------------------------------- */

uint32_t buyt_network_route_find(const struct buyt_network *net, const char *route_id)
{
    return strmap_find(&net->priv->route_map, route_id);
}

uint32_t buyt_network_stop_find(const struct buyt_network *net, const char *stop_id)
{
    return strmap_find(&net->priv->stop_map, stop_id);
}

uint32_t buyt_network_shape_find(const struct buyt_network *net, const char *shape_id)
{
    return strmap_find(&net->priv->shape_map, shape_id);
}

uint32_t buyt_network_block_find(const struct buyt_network *net, const char *block_id)
{
    return strmap_find(&net->priv->block_map, block_id);
}

/* A driver signs in up to this long before the trip leaves its first stop. */
#define TRIP_FIND_BEFORE_MS (30 * 60 * 1000LL)

uint32_t buyt_network_trip_find(const struct buyt_network *net, const char *trip_id,
                                int64_t time_ms)
{
    const struct buyt_network_priv *p = net->priv;
    uint32_t id = strmap_find(&p->trip_map, trip_id);
    if (id == BUYT_NETWORK_NONE)
        return id;
    uint32_t best = BUYT_NETWORK_NONE;
    int64_t best_gap = INT64_MAX, best_from_start = INT64_MAX;
    for (uint32_t t = p->trip_id_first[id]; t != BUYT_NETWORK_NONE; t = p->trips[t].same_id_next) {
        const struct buyt_network_trip *tr = &p->trips[t];
        int64_t start = tr->day_start_ms + (int64_t)tr->start_s * 1000;
        int64_t end = tr->day_start_ms + (int64_t)tr->end_s * 1000;
        int64_t from = start - TRIP_FIND_BEFORE_MS;
        int64_t gap = time_ms < from ? from - time_ms : time_ms > end ? time_ms - end : 0;
        int64_t from_start = time_ms > start ? time_ms - start : start - time_ms;
        if (gap < best_gap || (gap == best_gap && from_start < best_from_start)) {
            best_gap = gap;
            best_from_start = from_start;
            best = t;
        }
    }
    return best;
}

void buyt_network_time_text(int32_t s, char out[16])
{
    if (s < 0)
        s = 0;
    snprintf(out, 16, "%02d:%02d:%02d", (int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60));
}

/* ---- schedule at a distance ------------------------------------------------------------- */

/* First k in [0, n) with ps[k].dist_m >= d, or n. */
static uint32_t lower_bound_dist(const struct buyt_network_pattern_stop *ps, uint32_t n, double d)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ps[mid].dist_m < d)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

double buyt_network_trip_time_at(const struct buyt_network *net, uint32_t trip, double dist_m,
                                 double at_stop_m, double *window_s)
{
    const struct buyt_network_trip *t = &net->trips[trip];
    const struct buyt_network_pattern_stop *ps =
        &net->pattern_stops[net->patterns[t->pattern].first];
    const struct buyt_network_time *tm = &net->times[t->first_time];
    uint32_t n = t->n_stops;
    if (window_s)
        *window_s = 0;
    if (dist_m < ps[0].dist_m)
        dist_m = ps[0].dist_m; /* before the first stop: as if at it */
    if (dist_m > ps[n - 1].dist_m)
        dist_m = ps[n - 1].dist_m;
    uint32_t k = lower_bound_dist(ps, n, dist_m - at_stop_m);
    if (k < n && ps[k].dist_m <= dist_m + at_stop_m) {
        if (window_s)
            *window_s = tm[k].departure_s - tm[k].arrival_s;
        return tm[k].arrival_s;
    }
    /* Strictly between stop k - 1 and stop k (k in 1 .. n - 1 after the clamps above). */
    double d0 = ps[k - 1].dist_m, d1 = ps[k].dist_m;
    double f = d1 > d0 ? (dist_m - d0) / (d1 - d0) : 0;
    return tm[k - 1].departure_s + f * (tm[k].arrival_s - tm[k - 1].departure_s);
}

uint32_t buyt_network_trip_next_stop(const struct buyt_network *net, uint32_t trip, double dist_m,
                                     double behind_m)
{
    const struct buyt_network_trip *t = &net->trips[trip];
    const struct buyt_network_pattern_stop *ps =
        &net->pattern_stops[net->patterns[t->pattern].first];
    /* First k with dist > dist_m - behind_m. */
    uint32_t lo = 0, hi = t->n_stops;
    double d = dist_m - behind_m;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ps[mid].dist_m <= d)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ---- finishing --------------------------------------------------------------------------- */

/* Places a pattern's stops along its shape, non-decreasing in stop order, minimising the sum
 * of their lateral distances. Each stop's candidates are the local minima of its distance to
 * the shape (a loop or out-and-back passes a stop twice); dynamic programming over them picks
 * the monotone combination. Writes out[0 .. n). */
static int project_pattern(struct buyt_network *net, const struct buyt_shape *sh,
                           const struct raw_time *rows, uint32_t n,
                           struct buyt_network_pattern_stop *out)
{
    const uint32_t K = STOP_CANDIDATES;
    double *cd = malloc((size_t)n * K * sizeof *cd); /* candidate distance along */
    double *cl = malloc((size_t)n * K * sizeof *cl); /* candidate lateral */
    double *cost = malloc((size_t)n * K * sizeof *cost);
    uint32_t *from = malloc((size_t)n * K * sizeof *from);
    uint32_t *nc = malloc((size_t)n * sizeof *nc);
    if (!cd || !cl || !cost || !from || !nc) {
        free(cd), free(cl), free(cost), free(from), free(nc);
        return BUYT_ENOMEM;
    }
    uint32_t nseg = sh->n_pts > 1 ? sh->n_pts - 1 : 1;
    for (uint32_t i = 0; i < n; i++) {
        const struct buyt_network_stop *st = &net->priv->stops[rows[i].stop];
        double *d = &cd[i * K], *l = &cl[i * K];
        nc[i] = 0;
        struct buyt_shape_proj cur, next;
        buyt_shape_project_segment(sh, 0, st->x_m, st->y_m, &cur);
        double prev_lat = INFINITY;
        for (uint32_t j = 0; j < nseg; j++) {
            if (j + 1 < nseg)
                buyt_shape_project_segment(sh, j + 1, st->x_m, st->y_m, &next);
            double lat = fabs(cur.offset_m);
            double next_lat = j + 1 < nseg ? fabs(next.offset_m) : INFINITY;
            /* A local minimum: keep the K closest, sorted by lateral distance. */
            if (lat <= prev_lat && lat < next_lat && (nc[i] < K || lat < l[K - 1])) {
                uint32_t m = nc[i] < K ? nc[i]++ : K - 1;
                while (m > 0 && l[m - 1] > lat) {
                    l[m] = l[m - 1];
                    d[m] = d[m - 1];
                    m--;
                }
                l[m] = lat;
                d[m] = cur.dist_m;
            }
            prev_lat = lat;
            cur = next;
        }
        if (l[0] > STOP_FAR_M)
            net->stats.stops_far_from_shape++;
    }
    /* DP: cost of placing stop i at candidate c with every earlier stop placed monotonically. */
    for (uint32_t c = 0; c < nc[0]; c++)
        cost[c] = cl[c];
    for (uint32_t i = 1; i < n; i++) {
        for (uint32_t c = 0; c < nc[i]; c++) {
            double best = INFINITY;
            uint32_t arg = 0;
            for (uint32_t q = 0; q < nc[i - 1]; q++) {
                if (cd[(i - 1) * K + q] <= cd[i * K + c] + 1e-3 && cost[(i - 1) * K + q] < best) {
                    best = cost[(i - 1) * K + q];
                    arg = q;
                }
            }
            cost[i * K + c] = best + cl[i * K + c];
            from[i * K + c] = arg;
        }
    }
    double best = INFINITY;
    uint32_t arg = 0;
    for (uint32_t c = 0; c < nc[n - 1]; c++) {
        if (cost[(n - 1) * K + c] < best) {
            best = cost[(n - 1) * K + c];
            arg = c;
        }
    }
    if (isfinite(best)) {
        for (uint32_t i = n; i-- > 0;) {
            out[i].dist_m = (float)cd[i * K + arg];
            if (i > 0)
                arg = from[i * K + arg];
        }
    } else {
        /* The stop order contradicts the shape: nearest position not behind the previous. */
        net->stats.stops_out_of_order++;
        double prev = 0;
        for (uint32_t i = 0; i < n; i++) {
            double pick = INFINITY;
            for (uint32_t c = 0; c < nc[i]; c++)
                if (cd[i * K + c] >= prev && cd[i * K + c] < pick)
                    pick = cd[i * K + c];
            prev = isfinite(pick) ? pick : prev;
            out[i].dist_m = (float)prev;
        }
    }
    for (uint32_t i = 0; i < n; i++)
        out[i].stop = rows[i].stop;
    free(cd), free(cl), free(cost), free(from), free(nc);
    return 0;
}

/* Rows of one trip after sorting: raw_times[first[t] .. first[t] + count[t]). */
struct trip_rows {
    uint32_t *first, *count;
};

static int same_stops(const struct raw_time *a, const struct raw_time *b, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (a[i].stop != b[i].stop)
            return 0;
    return 1;
}

/* A map from (shape, stop list) to an index, keyed by a representative trip. */
struct seqmap {
    uint32_t *slot_val, *slot_trip, *slot_hash; /* slot_trip: trip + 1, 0 = empty */
    uint32_t n_slots, n;
};

static uint32_t hash_seq(uint32_t shape, const struct raw_time *r, uint32_t n)
{
    uint32_t h = 2166136261u ^ shape;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ r[i].stop) * 16777619u;
    return h ? h : 1;
}

static int seqmap_init(struct seqmap *m, uint32_t expect)
{
    uint32_t ns = 64;
    while (ns < expect * 2)
        ns *= 2;
    m->slot_val = calloc(ns, sizeof *m->slot_val);
    m->slot_trip = calloc(ns, sizeof *m->slot_trip);
    m->slot_hash = calloc(ns, sizeof *m->slot_hash);
    m->n_slots = ns;
    m->n = 0;
    return m->slot_val && m->slot_trip && m->slot_hash ? 0 : BUYT_ENOMEM;
}

static void seqmap_free(struct seqmap *m)
{
    free(m->slot_val);
    free(m->slot_trip);
    free(m->slot_hash);
}

/* Finds the slot for (shape, rows of trip t); *found tells whether it holds a value. Keys
 * compare on the shape stored in key_shape[] of the representative trip. */
static uint32_t seqmap_slot(const struct seqmap *m, const struct raw_time *rt,
                            const struct trip_rows *tr, const uint32_t *key_shape, uint32_t t,
                            uint32_t shape, uint32_t h, int *found)
{
    uint32_t n = tr->count[t];
    const struct raw_time *r = &rt[tr->first[t]];
    for (uint32_t i = h & (m->n_slots - 1);; i = (i + 1) & (m->n_slots - 1)) {
        if (!m->slot_trip[i]) {
            *found = 0;
            return i;
        }
        uint32_t o = m->slot_trip[i] - 1;
        if (m->slot_hash[i] == h && key_shape[o] == shape && tr->count[o] == n &&
            same_stops(&rt[tr->first[o]], r, n)) {
            *found = 1;
            return i;
        }
    }
}

struct keyed {
    uint32_t key;
    uint32_t trip;
    int64_t when;
};

static int cmp_keyed(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->when != y->when)
        return x->when < y->when ? -1 : 1;
    return x->trip < y->trip ? -1 : x->trip > y->trip;
}

/* Fills blank times of one trip by distance and makes them non-decreasing. Returns 0, or -1
 * when the first or last stop has no time at all (trip unusable). */
static int fill_times(struct buyt_network *net, struct buyt_network_time *tm,
                      const struct buyt_network_pattern_stop *ps, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (tm[i].arrival_s == BUYT_NETWORK_NO_TIME)
            tm[i].arrival_s = tm[i].departure_s;
        if (tm[i].departure_s == BUYT_NETWORK_NO_TIME)
            tm[i].departure_s = tm[i].arrival_s;
    }
    if (tm[0].departure_s == BUYT_NETWORK_NO_TIME || tm[n - 1].arrival_s == BUYT_NETWORK_NO_TIME)
        return -1;
    uint32_t prev = 0;
    for (uint32_t i = 1; i < n; i++) {
        if (tm[i].arrival_s == BUYT_NETWORK_NO_TIME)
            continue;
        /* Stops prev+1 .. i-1 are blank: share the time between prev and i by distance
         * (by count where the distances coincide). */
        double d0 = ps[prev].dist_m, d1 = ps[i].dist_m;
        for (uint32_t k = prev + 1; k < i; k++) {
            double f = d1 > d0 ? (ps[k].dist_m - d0) / (d1 - d0) : (double)(k - prev) / (i - prev);
            int32_t t = tm[prev].departure_s +
                        (int32_t)lround(f * (tm[i].arrival_s - tm[prev].departure_s));
            tm[k].arrival_s = tm[k].departure_s = t;
            net->stats.times_interpolated++;
        }
        prev = i;
    }
    for (uint32_t i = 0; i < n; i++) {
        int32_t floor_s = i ? tm[i - 1].departure_s : tm[0].arrival_s;
        if (tm[i].arrival_s < floor_s) {
            tm[i].arrival_s = floor_s;
            net->stats.times_reordered++;
        }
        if (tm[i].departure_s < tm[i].arrival_s) {
            tm[i].departure_s = tm[i].arrival_s;
            net->stats.times_reordered++;
        }
    }
    return 0;
}

/* Shapes: group the raw points by shape, convert to the frame, merge repeated points, measure. */
static int finish_shapes(struct buyt_network *net, uint32_t *pts_cap)
{
    struct buyt_network_priv *p = net->priv;
    uint32_t ns = p->shape_map.n;
    uint32_t *start = calloc((size_t)ns + 1, sizeof *start);
    if (!start)
        return BUYT_ENOMEM;
    for (uint32_t i = 0; i < p->n_raw_pts; i++)
        start[p->raw_pts[i].shape + 1]++;
    for (uint32_t s = 0; s < ns; s++)
        start[s + 1] += start[s];
    if (grow(&p->pts, pts_cap, p->n_raw_pts + 1, sizeof *p->pts) ||
        !(p->shapes = calloc(ns ? ns : 1, sizeof *p->shapes))) {
        free(start);
        return BUYT_ENOMEM;
    }
    /* Counting sort, stable: each shape's points keep their order. */
    uint32_t *cur = malloc(((size_t)ns + 1) * sizeof *cur);
    if (!cur) {
        free(start);
        return BUYT_ENOMEM;
    }
    memcpy(cur, start, ((size_t)ns + 1) * sizeof *cur);
    for (uint32_t i = 0; i < p->n_raw_pts; i++) {
        const struct raw_point *r = &p->raw_pts[i];
        double x, y;
        buyt_geo_to_xy(&net->frame, r->lat, r->lon, &x, &y);
        p->pts[cur[r->shape]++] = (struct buyt_shape_pt){.x_m = (float)x, .y_m = (float)y};
    }
    free(cur);
    uint32_t w = 0; /* compact in place, dropping repeated points */
    for (uint32_t s = 0; s < ns; s++) {
        uint32_t first = w;
        for (uint32_t i = start[s]; i < start[s + 1]; i++) {
            if (w > first && hypot((double)p->pts[i].x_m - p->pts[w - 1].x_m,
                                   (double)p->pts[i].y_m - p->pts[w - 1].y_m) < MIN_POINT_GAP_M)
                continue;
            p->pts[w++] = p->pts[i];
        }
        p->shapes[s].n_pts = w - first;
        p->shapes[s].length_m = (float)buyt_shape_measure(&p->pts[first], w - first);
        p->shapes[s].pts = (const void *)(uintptr_t)first; /* offset until pts stops moving */
    }
    free(start);
    return 0;
}

/* State shared by the finishing steps. */
struct fin {
    struct trip_rows tr;
    struct raw_time *rt; /* stop_times rows grouped by trip, by stop_sequence */
    uint32_t *key_shape; /* per trip: the shape part of its key in a seqmap */
    uint32_t *canon;     /* per loaded shape: itself, or the identical shape it merged into */
    uint32_t n_pts, pts_cap, n_shapes, shapes_cap;
    uint32_t n_patterns, patterns_cap, n_pstops, pstops_cap;
};

static void finish_frame(struct buyt_network *net)
{
    struct buyt_network_priv *p = net->priv;
    double la0 = INFINITY, la1 = -INFINITY, lo0 = INFINITY, lo1 = -INFINITY;
    for (uint32_t i = 0; i < net->n_stops; i++) {
        la0 = fmin(la0, p->stops[i].lat), la1 = fmax(la1, p->stops[i].lat);
        lo0 = fmin(lo0, p->stops[i].lon), lo1 = fmax(lo1, p->stops[i].lon);
    }
    for (uint32_t i = 0; i < p->n_raw_pts; i++) {
        la0 = fmin(la0, p->raw_pts[i].lat), la1 = fmax(la1, p->raw_pts[i].lat);
        lo0 = fmin(lo0, p->raw_pts[i].lon), lo1 = fmax(lo1, p->raw_pts[i].lon);
    }
    if (la0 > la1)
        la0 = la1 = lo0 = lo1 = 0;
    buyt_geo_frame_init(&net->frame, (la0 + la1) / 2, (lo0 + lo1) / 2);
    for (uint32_t i = 0; i < net->n_stops; i++) {
        double x, y;
        buyt_geo_to_xy(&net->frame, p->stops[i].lat, p->stops[i].lon, &x, &y);
        p->stops[i].x_m = (float)x;
        p->stops[i].y_m = (float)y;
    }
}

/* Groups stop_times rows by trip (stable counting sort) and orders each trip by
 * stop_sequence; marks trips with fewer than two rows or a repeated sequence invalid. */
static int group_times(struct buyt_network *net, struct fin *f)
{
    struct buyt_network_priv *p = net->priv;
    uint32_t nt = net->n_trips;
    f->tr.first = calloc((size_t)nt + 1, sizeof(uint32_t));
    f->tr.count = calloc((size_t)nt + 1, sizeof(uint32_t));
    f->rt = malloc(((size_t)p->n_raw_times + 1) * sizeof *f->rt);
    if (!f->tr.first || !f->tr.count || !f->rt)
        return BUYT_ENOMEM;
    for (uint32_t i = 0; i < p->n_raw_times; i++)
        f->tr.count[p->raw_times[i].trip]++;
    for (uint32_t t = 0, acc = 0; t < nt; t++) {
        f->tr.first[t] = acc;
        acc += f->tr.count[t];
        f->tr.count[t] = 0;
    }
    for (uint32_t i = 0; i < p->n_raw_times; i++) {
        const struct raw_time *r = &p->raw_times[i];
        f->rt[f->tr.first[r->trip] + f->tr.count[r->trip]++] = *r;
    }
    for (uint32_t t = 0; t < nt; t++) {
        struct raw_time *r = &f->rt[f->tr.first[t]];
        uint32_t n = f->tr.count[t];
        for (uint32_t i = 1; i < n; i++) { /* insertion sort: usually already in order */
            struct raw_time v = r[i];
            uint32_t j = i;
            while (j > 0 && r[j - 1].seq > v.seq) {
                r[j] = r[j - 1];
                j--;
            }
            r[j] = v;
        }
        p->trips[t].valid = n >= 2;
        for (uint32_t i = 1; i < n; i++)
            if (r[i].seq == r[i - 1].seq)
                p->trips[t].valid = false;
    }
    return 0;
}

static uint32_t hash_points(const struct buyt_shape_pt *pts, uint32_t n)
{
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t w[2];
        memcpy(&w[0], &pts[i].x_m, 4);
        memcpy(&w[1], &pts[i].y_m, 4);
        h = ((h ^ w[0]) * 16777619u ^ w[1]) * 16777619u;
    }
    return h;
}

/* Some feeds give every trip its own shape_id for the same line (the Hanoi 2018 feed: 2,447
 * shapes, 63 geometries). Copies would crowd the matcher's candidates and look like rivals
 * that never part, so trips of a copy use the first shape with the same points. */
static int merge_shapes(struct buyt_network *net, struct fin *f)
{
    struct buyt_network_priv *p = net->priv;
    uint32_t n = p->shape_map.n, n_slots = 64;
    while (n_slots < n * 2)
        n_slots *= 2;
    uint32_t *slot = calloc(n_slots, sizeof *slot), *canon = malloc((n + 1) * sizeof *canon);
    if (!slot || !canon) {
        free(slot);
        free(canon);
        return BUYT_ENOMEM;
    }
    for (uint32_t s = 0; s < n; s++) {
        canon[s] = s;
        const struct buyt_shape *a = &p->shapes[s];
        if (a->n_pts < 2)
            continue;
        const struct buyt_shape_pt *ap = p->pts + (uintptr_t)a->pts;
        for (uint32_t i = hash_points(ap, a->n_pts) & (n_slots - 1);; i = (i + 1) & (n_slots - 1)) {
            if (!slot[i]) {
                slot[i] = s + 1;
                break;
            }
            const struct buyt_shape *b = &p->shapes[slot[i] - 1];
            const struct buyt_shape_pt *bp = p->pts + (uintptr_t)b->pts;
            if (b->n_pts == a->n_pts && memcmp(ap, bp, a->n_pts * sizeof *ap) == 0) {
                canon[s] = slot[i] - 1;
                net->stats.shapes_merged++;
                break;
            }
        }
    }
    for (uint32_t t = 0; t < net->n_trips; t++)
        if (p->trips[t].shape != BUYT_NETWORK_NONE)
            p->trips[t].shape = canon[p->trips[t].shape];
    free(slot);
    free(f->canon);
    f->canon = canon;
    return 0;
}

/* Gives each valid trip without a usable shape one made of its stops' positions, shared by
 * the trips with the same stop list. */
static int derive_shapes(struct buyt_network *net, struct fin *f)
{
    struct buyt_network_priv *p = net->priv;
    struct seqmap map;
    if (seqmap_init(&map, net->n_trips))
        return BUYT_ENOMEM;
    for (uint32_t t = 0; t < net->n_trips; t++) {
        struct buyt_network_trip *trip = &p->trips[t];
        if (!trip->valid || (trip->shape != BUYT_NETWORK_NONE && p->shapes[trip->shape].n_pts > 1))
            continue;
        const struct raw_time *r = &f->rt[f->tr.first[t]];
        uint32_t n = f->tr.count[t];
        f->key_shape[t] = BUYT_NETWORK_NONE;
        uint32_t h = hash_seq(BUYT_NETWORK_NONE, r, n);
        int found;
        uint32_t slot =
            seqmap_slot(&map, f->rt, &f->tr, f->key_shape, t, BUYT_NETWORK_NONE, h, &found);
        if (found) {
            trip->shape = map.slot_val[slot];
            continue;
        }
        if (grow(&p->shapes, &f->shapes_cap, f->n_shapes + 1, sizeof *p->shapes) ||
            grow(&p->pts, &f->pts_cap, f->n_pts + n, sizeof *p->pts)) {
            seqmap_free(&map);
            return BUYT_ENOMEM;
        }
        uint32_t first = f->n_pts;
        for (uint32_t i = 0; i < n; i++) {
            const struct buyt_network_stop *st = &p->stops[r[i].stop];
            if (f->n_pts > first &&
                hypot((double)st->x_m - p->pts[f->n_pts - 1].x_m,
                      (double)st->y_m - p->pts[f->n_pts - 1].y_m) < MIN_POINT_GAP_M)
                continue;
            p->pts[f->n_pts++] = (struct buyt_shape_pt){.x_m = st->x_m, .y_m = st->y_m};
        }
        p->shapes[f->n_shapes] = (struct buyt_shape){
            .pts = (const void *)(uintptr_t)first,
            .n_pts = f->n_pts - first,
            .length_m = (float)buyt_shape_measure(&p->pts[first], f->n_pts - first)};
        map.slot_trip[slot] = t + 1;
        map.slot_hash[slot] = h;
        map.slot_val[slot] = f->n_shapes;
        map.n++;
        trip->shape = f->n_shapes++;
        net->stats.shapes_derived++;
    }
    seqmap_free(&map);
    /* The points no longer move: turn the offsets into pointers. */
    for (uint32_t s = 0; s < f->n_shapes; s++)
        p->shapes[s].pts = p->pts + (uintptr_t)p->shapes[s].pts;
    p->shape_ids = malloc((f->n_shapes ? f->n_shapes : 1) * sizeof *p->shape_ids);
    if (!p->shape_ids)
        return BUYT_ENOMEM;
    for (uint32_t s = 0; s < f->n_shapes; s++)
        p->shape_ids[s] = s < p->shape_map.n ? p->shape_map.keys[s] : "";
    return 0;
}

/* One pattern per distinct (shape, stop list); its stops are projected once. */
static int build_patterns(struct buyt_network *net, struct fin *f)
{
    struct buyt_network_priv *p = net->priv;
    struct seqmap map;
    if (seqmap_init(&map, net->n_trips))
        return BUYT_ENOMEM;
    int rc = 0;
    for (uint32_t t = 0; t < net->n_trips && !rc; t++) {
        struct buyt_network_trip *trip = &p->trips[t];
        if (!trip->valid)
            continue;
        const struct raw_time *r = &f->rt[f->tr.first[t]];
        uint32_t n = f->tr.count[t];
        f->key_shape[t] = trip->shape;
        uint32_t h = hash_seq(trip->shape, r, n);
        int found;
        uint32_t slot = seqmap_slot(&map, f->rt, &f->tr, f->key_shape, t, trip->shape, h, &found);
        if (found) {
            trip->pattern = map.slot_val[slot];
            continue;
        }
        if (grow(&p->patterns, &f->patterns_cap, f->n_patterns + 1, sizeof *p->patterns) ||
            grow(&p->pattern_stops, &f->pstops_cap, f->n_pstops + n, sizeof *p->pattern_stops)) {
            rc = BUYT_ENOMEM;
            break;
        }
        p->patterns[f->n_patterns] =
            (struct buyt_network_pattern){.shape = trip->shape, .first = f->n_pstops, .n_stops = n};
        rc = project_pattern(net, &p->shapes[trip->shape], r, n, &p->pattern_stops[f->n_pstops]);
        f->n_pstops += n;
        map.slot_trip[slot] = t + 1;
        map.slot_hash[slot] = h;
        map.slot_val[slot] = f->n_patterns;
        map.n++;
        trip->pattern = f->n_patterns++;
    }
    seqmap_free(&map);
    return rc;
}

/* Copies each valid trip's times, fills blanks by distance, sets start/end. */
static int build_times(struct buyt_network *net, struct fin *f)
{
    struct buyt_network_priv *p = net->priv;
    p->times = malloc(((size_t)net->priv->n_raw_times + 1) * sizeof *p->times);
    if (!p->times)
        return BUYT_ENOMEM;
    uint32_t w = 0;
    for (uint32_t t = 0; t < net->n_trips; t++) {
        struct buyt_network_trip *trip = &p->trips[t];
        if (!trip->valid) {
            net->stats.trips_invalid++;
            continue;
        }
        const struct raw_time *r = &f->rt[f->tr.first[t]];
        uint32_t n = f->tr.count[t];
        struct buyt_network_time *tm = &p->times[w];
        for (uint32_t i = 0; i < n; i++)
            tm[i] = (struct buyt_network_time){r[i].arr, r[i].dep, r[i].seq};
        const struct buyt_network_pattern *pat = &p->patterns[trip->pattern];
        if (fill_times(net, tm, &p->pattern_stops[pat->first], n)) {
            trip->valid = false;
            net->stats.trips_invalid++;
            continue;
        }
        trip->first_time = w;
        trip->n_stops = n;
        trip->start_s = tm[0].departure_s;
        trip->end_s = tm[n - 1].arrival_s;
        w += n;
    }
    return 0;
}

/* next_in_block, and the per-shape trip index, both by scheduled start. */
static int index_trips(struct buyt_network *net)
{
    struct buyt_network_priv *p = net->priv;
    uint32_t nt = net->n_trips, n = 0;
    struct keyed *k = malloc(((size_t)nt + 1) * sizeof *k);
    p->shape_trips = malloc(((size_t)nt + 1) * sizeof *p->shape_trips);
    p->shape_trip_first = calloc((size_t)net->n_shapes + 1, sizeof *p->shape_trip_first);
    if (!k || !p->shape_trips || !p->shape_trip_first) {
        free(k);
        return BUYT_ENOMEM;
    }
    for (uint32_t t = 0; t < nt; t++) {
        const struct buyt_network_trip *tr = &p->trips[t];
        if (tr->valid && tr->block != BUYT_NETWORK_NONE)
            k[n++] = (struct keyed){tr->block, t, tr->day_start_ms + tr->start_s * 1000LL};
    }
    qsort(k, n, sizeof *k, cmp_keyed);
    for (uint32_t i = 0; i + 1 < n; i++)
        if (k[i].key == k[i + 1].key &&
            p->trips[k[i].trip].day_start_ms == p->trips[k[i + 1].trip].day_start_ms)
            p->trips[k[i].trip].next_in_block = k[i + 1].trip;
    n = 0;
    for (uint32_t t = 0; t < nt; t++) {
        const struct buyt_network_trip *tr = &p->trips[t];
        if (tr->valid)
            k[n++] = (struct keyed){tr->shape, t, tr->day_start_ms + tr->start_s * 1000LL};
    }
    qsort(k, n, sizeof *k, cmp_keyed);
    for (uint32_t i = 0; i < n; i++) {
        p->shape_trips[i] = k[i].trip;
        p->shape_trip_first[k[i].key + 1]++;
    }
    for (uint32_t s = 0; s < net->n_shapes; s++)
        p->shape_trip_first[s + 1] += p->shape_trip_first[s];
    free(k);
    return 0;
}

/* The grid over the shapes, leaving out merged copies. */
static int build_grid(struct buyt_network *net, const struct fin *f)
{
    struct buyt_network_priv *p = net->priv;
    p->grid_shapes = malloc((f->n_shapes ? f->n_shapes : 1) * sizeof *p->grid_shapes);
    if (!p->grid_shapes)
        return BUYT_ENOMEM;
    for (uint32_t s = 0; s < f->n_shapes; s++) {
        p->grid_shapes[s] = p->shapes[s];
        if (s < p->shape_map.n && f->canon[s] != s)
            p->grid_shapes[s].n_pts = 0;
    }
    return buyt_grid_build(&net->grid, p->grid_shapes, f->n_shapes, p->opts.grid_cell_m);
}

int buyt_network_finish(struct buyt_network *net)
{
    if (!net || net->finished)
        return BUYT_EINVAL;
    struct buyt_network_priv *p = net->priv;
    struct fin f = {0};
    int rc = BUYT_ENOMEM;
    finish_frame(net);
    f.key_shape = malloc(((size_t)net->n_trips + 1) * sizeof *f.key_shape);
    if (!f.key_shape || finish_shapes(net, &f.pts_cap) || group_times(net, &f))
        goto out;
    f.n_shapes = f.shapes_cap = p->shape_map.n;
    for (uint32_t s = 0; s < f.n_shapes; s++)
        f.n_pts += p->shapes[s].n_pts;
    if ((rc = merge_shapes(net, &f)) || (rc = derive_shapes(net, &f)) ||
        (rc = build_patterns(net, &f)) || (rc = build_times(net, &f)))
        goto out;
    net->n_shapes = f.n_shapes;
    if ((rc = index_trips(net)) || (rc = build_grid(net, &f)))
        goto out;
    net->routes = p->routes;
    net->stops = p->stops;
    net->shapes = p->shapes;
    net->shape_ids = p->shape_ids;
    net->patterns = p->patterns;
    net->n_patterns = f.n_patterns;
    net->pattern_stops = p->pattern_stops;
    net->trips = p->trips;
    net->times = p->times;
    net->block_ids = p->block_map.keys;
    net->n_blocks = p->block_map.n;
    net->shape_trips = p->shape_trips;
    net->shape_trip_first = p->shape_trip_first;
    net->finished = true;
    rc = 0;
out:
    free_raw(p);
    free(f.tr.first);
    free(f.tr.count);
    free(f.rt);
    free(f.key_shape);
    free(f.canon);
    return rc;
}

size_t buyt_network_bytes(const struct buyt_network *net)
{
    const struct buyt_network_priv *p = net->priv;
    size_t b = sizeof *net + sizeof *p + p->pool_bytes;
    b += (size_t)net->n_routes * sizeof *p->routes + (size_t)net->n_stops * sizeof *p->stops;
    b += (size_t)net->n_shapes * (2 * sizeof *p->shapes + sizeof *p->shape_ids);
    for (uint32_t s = 0; s < net->n_shapes; s++)
        b += (size_t)net->shapes[s].n_pts * sizeof(struct buyt_shape_pt);
    b += (size_t)net->n_patterns * sizeof *p->patterns;
    for (uint32_t i = 0; i < net->n_patterns; i++)
        b += (size_t)net->patterns[i].n_stops * sizeof *p->pattern_stops;
    b += (size_t)net->n_trips * (sizeof *p->trips + sizeof *p->shape_trips);
    for (uint32_t t = 0; t < net->n_trips; t++)
        b += (size_t)net->trips[t].n_stops * sizeof *p->times;
    b += ((size_t)net->n_shapes + 1) * sizeof *p->shape_trip_first;
    const struct strmap *maps[] = {&p->route_map, &p->stop_map, &p->shape_map, &p->block_map,
                                   &p->trip_map};
    for (size_t i = 0; i < sizeof maps / sizeof *maps; i++)
        b += (size_t)maps[i]->n_slots * sizeof(uint32_t) + maps[i]->keys_cap * sizeof(char *);
    return b + buyt_grid_bytes(&net->grid);
}
