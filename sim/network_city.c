/* City -> network; see network_city.h. */
#include "network_city.h"

#include "clock.h"
#include "error.h"
#include "network_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZ_OFFSET_MS (7 * 3600 * 1000LL)

static int cmp_trip_id(const void *a, const void *b)
{
    return strcmp(((const struct buyt_net_trip *)a)->id, ((const struct buyt_net_trip *)b)->id);
}

int buyt_network_from_city(const struct buyt_city *c, int64_t start_ms, struct buyt_simnet **out)
{
    *out = NULL;
    struct buyt_simnet *net = calloc(1, sizeof *net);
    if (!net)
        return BUYT_ENOMEM;
    snprintf(net->agency, sizeof net->agency, "hnsim");
    snprintf(net->timezone, sizeof net->timezone, "Asia/Ho_Chi_Minh");
    buyt_geo_frame_init(&net->frame, BUYT_CITY_CENTER_LAT, BUYT_CITY_CENTER_LON);
    int64_t local_day = (start_ms + TZ_OFFSET_MS) / 86400000LL;
    net->n_days = 3;
    for (int d = 0; d < 3; d++) {
        int64_t day = local_day - 1 + d;
        net->days[d].base_ms = day * 86400000LL - TZ_OFFSET_MS;
        char iso[32];
        buyt_iso8601_ms(day * 86400000LL, iso, sizeof iso);
        snprintf(net->days[d].date, sizeof net->days[d].date, "%.10s", iso);
    }
    net->stops = calloc((size_t)c->n_stops, sizeof *net->stops);
    net->shapes = calloc((size_t)c->n_shapes, sizeof *net->shapes);
    net->trips = calloc((size_t)c->n_trips, sizeof *net->trips);
    bool *active = malloc((size_t)c->n_trips * 3);
    struct buyt_net_st_row *st = malloc((size_t)c->n_stop_times * sizeof *st);
    int *order = malloc((size_t)c->n_trips * sizeof *order);
    int rc = BUYT_ENOMEM;
    if (!net->stops || !net->shapes || !net->trips || !active || !st || !order)
        goto out;
    /* stops in id order (T.. before S.. is fine: any strcmp order) */
    int *stop_map = malloc((size_t)c->n_stops * sizeof *stop_map);
    if (!stop_map)
        goto out;
    for (int i = 0; i < c->n_stops; i++)
        stop_map[i] = i;
    for (int i = 1; i < c->n_stops; i++) /* insertion sort by id: a few thousand */
        for (int j = i; j > 0 && strcmp(c->stops[stop_map[j]].id, c->stops[stop_map[j - 1]].id) < 0; j--) {
            int x = stop_map[j];
            stop_map[j] = stop_map[j - 1];
            stop_map[j - 1] = x;
        }
    int *stop_index = malloc((size_t)c->n_stops * sizeof *stop_index);
    if (!stop_index) {
        free(stop_map);
        goto out;
    }
    for (int i = 0; i < c->n_stops; i++) {
        const struct buyt_city_stop *s = &c->stops[stop_map[i]];
        struct buyt_net_stop *n = &net->stops[i];
        snprintf(n->id, sizeof n->id, "%s", s->id);
        snprintf(n->name, sizeof n->name, "%.*s", (int)sizeof n->name - 1, s->name);
        n->lat = s->lat;
        n->lon = s->lon;
        buyt_geo_to_xy(&net->frame, s->lat, s->lon, &n->x_m, &n->y_m);
        stop_index[stop_map[i]] = i;
    }
    free(stop_map);
    net->n_stops = c->n_stops;
    /* shapes (city order is route order, already sorted by id) */
    for (int i = 0; i < c->n_shapes; i++) {
        const struct buyt_city_shape *s = &c->shapes[i];
        struct buyt_net_shape *n = &net->shapes[i];
        snprintf(n->id, sizeof n->id, "%s", s->id);
        n->x_m = malloc((size_t)s->n * sizeof(double));
        n->y_m = malloc((size_t)s->n * sizeof(double));
        n->dist_m = malloc((size_t)s->n * sizeof(double));
        net->n_shapes = i + 1;
        if (!n->x_m || !n->y_m || !n->dist_m) {
            free(stop_index);
            goto out;
        }
        for (int k = 0; k < s->n; k++) {
            buyt_geo_to_xy(&net->frame, s->lat[k], s->lon[k], &n->x_m[k], &n->y_m[k]);
            n->dist_m[k] = s->dist_m[k];
        }
        n->n = s->n;
    }
    /* trips, sorted by id; the city's trip index travels in `order` */
    for (int i = 0; i < c->n_trips; i++) {
        const struct buyt_city_trip *t = &c->trips[i];
        struct buyt_net_trip *n = &net->trips[i];
        const struct buyt_city_route *r = &c->routes[t->route];
        snprintf(n->id, sizeof n->id, "%s", t->id);
        snprintf(n->route_id, sizeof n->route_id, "%s", r->id);
        snprintf(n->block_id, sizeof n->block_id, "%s", c->blocks[t->block].id);
        snprintf(n->service_id, sizeof n->service_id, "DAILY");
        n->shape = r->dir[t->dir].shape;
        n->pattern = -1;
        n->t0 = i; /* temporarily: the city trip index */
    }
    qsort(net->trips, (size_t)c->n_trips, sizeof *net->trips, cmp_trip_id);
    net->n_trips = c->n_trips;
    long n_st = 0;
    for (int i = 0; i < net->n_trips; i++) {
        const struct buyt_city_trip *t = &c->trips[net->trips[i].t0];
        net->trips[i].t0 = -1;
        for (int d = 0; d < 3; d++)
            active[i * 3 + d] = true; /* DAILY */
        for (int k = 0; k < t->n_st; k++) {
            const struct buyt_city_stop_time *x = &c->stop_times[t->st0 + k];
            st[n_st++] = (struct buyt_net_st_row){i, stop_index[x->stop], x->arr_s, x->dep_s,
                                                  k + 1, x->timepoint};
        }
    }
    free(stop_index);
    rc = buyt_network_build(net, st, n_st, active);
out:
    free(active);
    free(st);
    free(order);
    if (rc) {
        buyt_simnet_free(net);
        return rc;
    }
    *out = net;
    return 0;
}
