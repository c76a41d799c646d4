/* Network building; see network_build.h. */
#include "network_build.h"

#include "error.h"
#include "roads.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CORNER_LATERAL_MS2 1.5 /* comfortable lateral acceleration in a turn */

int buyt_net_find_id(const void *base, size_t n, size_t size, const char *id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp((const char *)base + mid * size, id);
        if (c == 0)
            return (int)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* ------------------------------------------------------------------ patterns */

/* Projects (x, y) onto shape segments from `*seg` on; takes the first close pass (< 30 m)
 * rather than a later closer one, so loops and out-and-back shapes keep stops in order. */
static double project(const struct buyt_net_shape *sh, double x, double y, double min_s, int *seg)
{
    double best_d = INFINITY, best_s = min_s;
    int best_seg = *seg;
    for (int j = *seg; j + 1 < sh->n; j++) {
        if (best_d < 30 && sh->dist_m[j] > best_s + 400)
            break;
        double ax = sh->x_m[j], ay = sh->y_m[j], bx = sh->x_m[j + 1], by = sh->y_m[j + 1];
        double vx = bx - ax, vy = by - ay, l2 = vx * vx + vy * vy;
        double t = l2 > 0 ? ((x - ax) * vx + (y - ay) * vy) / l2 : 0;
        if (t < 0)
            t = 0;
        if (t > 1)
            t = 1;
        double s = sh->dist_m[j] + t * (sh->dist_m[j + 1] - sh->dist_m[j]);
        if (s < min_s)
            s = min_s;
        double d = hypot(ax + t * vx - x, ay + t * vy - y);
        if (d < best_d - 1e-9) {
            best_d = d;
            best_s = s;
            best_seg = j;
        }
    }
    *seg = best_seg;
    return best_s;
}

static uint64_t pattern_hash(int shape, const struct buyt_net_st_row *st, int n)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)shape;
    for (int i = 0; i < n; i++)
        h = (h ^ (uint64_t)st[i].stop) * 1099511628211ULL;
    return (h ^ (uint64_t)n) * 1099511628211ULL;
}

static int build_pattern(struct buyt_simnet *net, int shape, const struct buyt_net_st_row *st, int n,
                         const int *arr, const int *dep)
{
    struct buyt_net_pattern *p = &net->patterns[net->n_patterns];
    const struct buyt_net_shape *sh = &net->shapes[shape];
    memset(p, 0, sizeof *p);
    p->shape = shape;
    p->n_stops = n;
    p->stops = malloc((size_t)n * sizeof *p->stops);
    p->dist_m = malloc((size_t)n * sizeof *p->dist_m);
    p->timepoint = malloc((size_t)n * sizeof *p->timepoint);
    p->limit_ms = malloc((size_t)(sh->n > 1 ? sh->n - 1 : 1) * sizeof *p->limit_ms);
    if (!p->stops || !p->dist_m || !p->timepoint || !p->limit_ms)
        return BUYT_ENOMEM;
    net->n_patterns++;
    int seg = 0;
    double s = 0;
    for (int i = 0; i < n; i++) {
        const struct buyt_net_stop *stop = &net->stops[st[i].stop];
        p->stops[i] = st[i].stop;
        s = project(sh, stop->x_m, stop->y_m, s, &seg);
        if (i == n - 1 && s < sh->dist_m[sh->n - 1] - 60 &&
            hypot(sh->x_m[sh->n - 1] - stop->x_m, sh->y_m[sh->n - 1] - stop->y_m) < 60)
            s = sh->dist_m[sh->n - 1]; /* last stop at the shape's end */
        p->dist_m[i] = s;
        p->timepoint[i] = st[i].timepoint;
    }
    /* Speed limits: from the schedule, segment by segment (roads.h), then corners. */
    int k = 0;
    for (int j = 0; j + 1 < sh->n; j++) {
        double mid = (sh->dist_m[j] + sh->dist_m[j + 1]) / 2;
        while (k + 2 < n && mid > p->dist_m[k + 1])
            k++;
        double v = BUYT_ROADS_LIMIT_MAX;
        if (n >= 2) {
            double d = p->dist_m[k + 1] - p->dist_m[k];
            double t = arr[k + 1] - dep[k];
            v = buyt_roads_limit_from_schedule(d, t, dep[k]);
        }
        p->limit_ms[j] = v;
    }
    for (int j = 1; j + 1 < sh->n; j++) {
        double ax = sh->x_m[j] - sh->x_m[j - 1], ay = sh->y_m[j] - sh->y_m[j - 1];
        double bx = sh->x_m[j + 1] - sh->x_m[j], by = sh->y_m[j + 1] - sh->y_m[j];
        double la = hypot(ax, ay), lb = hypot(bx, by);
        if (la <= 0 || lb <= 0)
            continue;
        double cosang = (ax * bx + ay * by) / (la * lb);
        if (cosang > 0.995)
            continue; /* < ~6 degrees: a gentle curve point */
        double ang = acos(fmax(-1.0, fmin(1.0, cosang)));
        double r = fmin(fmin(la, lb), 40.0) / (2 * sin(ang / 2));
        double v = sqrt(CORNER_LATERAL_MS2 * r);
        if (v < 3.0)
            v = 3.0;
        if (v < p->limit_ms[j - 1])
            p->limit_ms[j - 1] = v;
        if (v < p->limit_ms[j])
            p->limit_ms[j] = v;
    }
    return 0;
}

static const struct buyt_simnet *g_sort_net; /* qsort has no context argument in C17 */

static int cmp_trip_block(const void *pa, const void *pb)
{
    const struct buyt_net_trip *a = &g_sort_net->trips[*(const int *)pa];
    const struct buyt_net_trip *b = &g_sort_net->trips[*(const int *)pb];
    const char *ka = a->block_id[0] ? a->block_id : a->id;
    const char *kb = b->block_id[0] ? b->block_id : b->id;
    int c = (a->block_id[0] != 0) - (b->block_id[0] != 0);
    if (c)
        return c;
    c = strcmp(ka, kb);
    if (c)
        return c;
    return a->start_s - b->start_s;
}

static int build_instances(struct buyt_simnet *net, const bool *active)
{
    int *idx = malloc((size_t)(net->n_trips ? net->n_trips : 1) * sizeof *idx);
    net->inst_trips = malloc((size_t)(net->n_trips ? net->n_trips : 1) * 3 * sizeof(int));
    net->instances = malloc((size_t)(net->n_trips ? net->n_trips : 1) * 3 * sizeof *net->instances);
    if (!idx || !net->inst_trips || !net->instances) {
        free(idx);
        return BUYT_ENOMEM;
    }
    int used = 0;
    g_sort_net = net;
    for (int d = 0; d < net->n_days; d++) {
        int n = 0;
        for (int i = 0; i < net->n_trips; i++)
            if (active[i * 3 + d] && net->trips[i].pattern >= 0)
                idx[n++] = i;
        qsort(idx, (size_t)n, sizeof *idx, cmp_trip_block);
        for (int i = 0; i < n;) {
            const struct buyt_net_trip *t = &net->trips[idx[i]];
            int j = i + 1;
            if (t->block_id[0])
                while (j < n && !strcmp(net->trips[idx[j]].block_id, t->block_id))
                    j++;
            struct buyt_net_instance *in = &net->instances[net->n_instances++];
            in->day = d;
            in->i0 = used;
            in->n = j - i;
            for (int k = i; k < j; k++)
                net->inst_trips[used++] = idx[k];
            in->start_ms = net->days[d].base_ms + (int64_t)t->start_s * 1000;
            in->end_ms = net->days[d].base_ms + (int64_t)net->trips[idx[j - 1]].end_s * 1000;
            i = j;
        }
    }
    free(idx);
    return 0;
}

int buyt_network_build(struct buyt_simnet *net, const struct buyt_net_st_row *st, long n_st,
                       const bool *active)
{
    int rc;
    net->arr_s = malloc((size_t)(n_st ? n_st : 1) * sizeof(int));
    net->dep_s = malloc((size_t)(n_st ? n_st : 1) * sizeof(int));
    net->seq = malloc((size_t)(n_st ? n_st : 1) * sizeof(int));
    net->patterns = calloc((size_t)net->n_trips, sizeof *net->patterns);
    size_t hcap = 1;
    while (hcap < (size_t)net->n_trips * 2)
        hcap <<= 1;
    uint64_t *hkey = calloc(hcap, sizeof *hkey);
    int *hval = malloc(hcap * sizeof *hval);
    if (!net->arr_s || !net->dep_s || !net->seq || !net->patterns || !hkey || !hval) {
        free(hkey);
        free(hval);
        return BUYT_ENOMEM;
    }
    for (size_t i = 0; i < hcap; i++)
        hval[i] = -1;
    rc = 0;
    for (long i = 0; i < n_st && !rc;) {
        long j = i;
        while (j < n_st && st[j].trip == st[i].trip)
            j++;
        int n = (int)(j - i), trip = st[i].trip, shape = net->trips[trip].shape;
        struct buyt_net_trip *t = &net->trips[trip];
        int *arr = &net->arr_s[net->n_stop_times], *dep = &net->dep_s[net->n_stop_times];
        for (int k = 0; k < n; k++) {
            net->seq[net->n_stop_times + k] = st[i + k].seq;
            arr[k] = st[i + k].arr >= 0 ? st[i + k].arr : st[i + k].dep;
            dep[k] = st[i + k].dep >= 0 ? st[i + k].dep : st[i + k].arr;
        }
        if (n < 2 || shape < 0 || net->shapes[shape].n < 2 || arr[0] < 0 || dep[0] < 0 ||
            arr[n - 1] < 0) {
            i = j;
            continue; /* not drivable: no shape, or no times at the ends */
        }
        /* pattern */
        uint64_t h = pattern_hash(shape, &st[i], n);
        size_t slot = h & (hcap - 1);
        while (hval[slot] >= 0 && hkey[slot] != h)
            slot = (slot + 1) & (hcap - 1);
        int pat = hval[slot];
        if (pat >= 0) { /* confirm (hash collisions) */
            const struct buyt_net_pattern *p = &net->patterns[pat];
            bool same = p->shape == shape && p->n_stops == n;
            for (int k = 0; same && k < n; k++)
                same = p->stops[k] == st[i + k].stop;
            if (!same)
                pat = -1;
        }
        bool fresh = pat < 0;
        if (fresh) {
            pat = net->n_patterns;
            if (hval[slot] < 0) {
                hkey[slot] = h;
                hval[slot] = pat;
            }
        }
        /* blank times between timepoints: interpolate by distance (needs the pattern's
         * projection, so build first with the known times filled crudely) */
        for (int k = 1; k < n; k++)
            if (arr[k] < 0) {
                arr[k] = -1;
                dep[k] = -1;
            }
        if (fresh) {
            int *ta = malloc((size_t)n * sizeof *ta), *td = malloc((size_t)n * sizeof *td);
            if (!ta || !td) {
                free(ta);
                free(td);
                rc = BUYT_ENOMEM;
                break;
            }
            memcpy(ta, arr, (size_t)n * sizeof *ta);
            memcpy(td, dep, (size_t)n * sizeof *td);
            for (int k = 1; k < n; k++) /* crude fill for the limit estimate */
                if (ta[k] < 0) {
                    ta[k] = td[k] = td[k - 1] + 60;
                }
            rc = build_pattern(net, shape, &st[i], n, ta, td);
            free(ta);
            free(td);
            if (rc)
                break;
        }
        const struct buyt_net_pattern *p = &net->patterns[pat];
        for (int k = 1; k < n; k++) {
            if (arr[k] >= 0)
                continue;
            int e = k + 1;
            while (e < n && arr[e] < 0)
                e++;
            double d0 = p->dist_m[k - 1], d1 = p->dist_m[e], span = d1 - d0;
            for (int m = k; m < e; m++) {
                double u = span > 0 ? (p->dist_m[m] - d0) / span : (double)(m - k + 1) / (e - k + 1);
                arr[m] = dep[m] = dep[k - 1] + (int)lround(u * (arr[e] - dep[k - 1]));
            }
            k = e;
        }
        t->pattern = pat;
        t->t0 = (int)net->n_stop_times;
        t->start_s = dep[0];
        t->end_s = arr[n - 1];
        net->n_stop_times += n;
        i = j;
    }
    free(hkey);
    free(hval);
    if (rc)
        return rc;
    return build_instances(net, active);
}
