/* The synthetic city generator (sim/citygen.c, sim/gtfs_out.c): determinism, size, names,
 * geometry and blocks. */
#include "citygen.h"
#include "names.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct buyt_city *build(uint64_t seed, int routes, int stops, int buses)
{
    struct buyt_citygen_params p = {seed, routes, stops, buses};
    struct buyt_city *c = NULL;
    char err[256];
    cr_assert_eq(buyt_citygen_build(&p, &c, err, sizeof err), 0, "%s", err);
    return c;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    b[n] = 0;
    *len = (size_t)n;
    return b;
}

static const char *const files[] = {"agency.txt", "feed_info.txt", "calendar.txt", "routes.txt",
                                     "stops.txt",  "shapes.txt",    "trips.txt",    "stop_times.txt"};

static void write_city(uint64_t seed, char *dir)
{
    strcpy(dir, "/tmp/buyt-citygen-XXXXXX");
    cr_assert(mkdtemp(dir));
    struct buyt_city *c = build(seed, 12, 400, 60);
    char err[256];
    cr_assert_eq(buyt_city_write_gtfs(c, dir, err, sizeof err), 0, "%s", err);
    buyt_city_free(c);
}

static void remove_city(const char *dir)
{
    char p[512];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

Test(sim_citygen, same_seed_gives_byte_identical_feed)
{
    char a[64], b[64], c[64];
    write_city(42, a);
    write_city(42, b);
    write_city(43, c);
    int differ_other_seed = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char pa[512], pb[512], pc[512];
        snprintf(pa, sizeof pa, "%s/%s", a, files[i]);
        snprintf(pb, sizeof pb, "%s/%s", b, files[i]);
        snprintf(pc, sizeof pc, "%s/%s", c, files[i]);
        size_t la, lb, lc;
        char *xa = slurp(pa, &la), *xb = slurp(pb, &lb), *xc = slurp(pc, &lc);
        cr_assert_gt(la, 0, "%s empty", files[i]);
        cr_assert(la == lb && memcmp(xa, xb, la) == 0, "%s differs for the same seed", files[i]);
        differ_other_seed += la != lc || memcmp(xa, xc, la) != 0;
        free(xa);
        free(xb);
        free(xc);
    }
    cr_assert_geq(differ_other_seed, 4, "another seed should give another city");
    remove_city(a);
    remove_city(b);
    remove_city(c);
}

Test(sim_citygen, hanoi_scale_counts_in_range)
{
    struct buyt_city *c = build(1, 150, 4000, 2000);
    cr_assert_eq(c->n_routes, 150);
    cr_assert(c->n_stops >= 3600 && c->n_stops <= 4400, "stops %d", c->n_stops);
    cr_assert_eq(c->n_blocks, 2000);
    int loops = 0, split = 0;
    for (int i = 0; i < c->n_routes; i++)
        loops += c->routes[i].loop;
    for (int i = 0; i < c->n_blocks; i++)
        split += c->blocks[i].split;
    cr_assert_geq(loops, 6, "loops %d", loops);
    cr_assert_gt(split, 100);
    cr_assert(c->n_trips > 15000 && c->n_trips < 60000, "trips %d", c->n_trips);
    /* routes 5..35 km, buses on every route */
    for (int i = 0; i < c->n_routes; i++) {
        const struct buyt_city_shape *s = &c->shapes[c->routes[i].dir[0].shape];
        double km = s->dist_m[s->n - 1] / 1000;
        cr_assert(km > 3 && km < 40, "route %s is %.1f km", c->routes[i].id, km);
        cr_assert_geq(c->routes[i].n_buses, 1);
    }
    /* around Hà Nội */
    for (int i = 0; i < c->n_stops; i++) {
        cr_assert(fabs(c->stops[i].lat - 21.03) < 0.25 && fabs(c->stops[i].lon - 105.85) < 0.3);
    }
    buyt_city_free(c);
}

Test(sim_citygen, stop_names_are_vietnamese_with_diacritics)
{
    struct buyt_city *c = build(1, 30, 800, 300);
    int with = 0, terminals_named = 0;
    for (int i = 0; i < c->n_stops; i++) {
        with += buyt_names_has_diacritics(c->stops[i].name);
        if (c->stops[i].terminal >= 0)
            terminals_named += strstr(c->stops[i].name, "Bến xe") != NULL ||
                               strstr(c->stops[i].name, "Điểm") != NULL;
    }
    cr_assert_geq(with * 10, c->n_stops * 9, "%d of %d names have diacritics", with, c->n_stops);
    cr_assert_geq(terminals_named, 2);
    cr_assert_str_eq(c->stops[0].name, "Bến xe Giáp Bát");
    buyt_city_free(c);
}

static double dist_to_shape(const struct buyt_city_shape *s, double x, double y)
{
    double best = INFINITY;
    for (int j = 0; j + 1 < s->n; j++) {
        double vx = s->x_m[j + 1] - s->x_m[j], vy = s->y_m[j + 1] - s->y_m[j];
        double l2 = vx * vx + vy * vy;
        double t = l2 > 0 ? ((x - s->x_m[j]) * vx + (y - s->y_m[j]) * vy) / l2 : 0;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        double d = hypot(s->x_m[j] + t * vx - x, s->y_m[j] + t * vy - y);
        if (d < best)
            best = d;
    }
    return best;
}

Test(sim_citygen, shapes_pass_within_20m_of_their_stops)
{
    struct buyt_city *c = build(3, 40, 1000, 400);
    for (int i = 0; i < c->n_routes; i++)
        for (int d = 0; d < c->routes[i].n_dirs; d++) {
            const struct buyt_city_pattern *p = &c->routes[i].dir[d];
            const struct buyt_city_shape *s = &c->shapes[p->shape];
            for (int k = 0; k < p->n_stops; k++) {
                const struct buyt_city_stop *st = &c->stops[p->stops[k]];
                double dd = dist_to_shape(s, st->x_m, st->y_m);
                cr_assert_lt(dd, 20.0, "stop %s is %.1f m from shape %s", st->id, dd, s->id);
                if (k)
                    cr_assert_geq(p->dist_m[k], p->dist_m[k - 1]);
            }
        }
    buyt_city_free(c);
}

Test(sim_citygen, shapes_curve_between_stops)
{
    struct buyt_city *c = build(3, 20, 500, 200);
    int segments = 0, curved = 0;
    for (int i = 0; i < c->n_routes; i++) {
        const struct buyt_city_pattern *p = &c->routes[i].dir[0];
        const struct buyt_city_shape *s = &c->shapes[p->shape];
        int j = 0;
        for (int k = 0; k + 1 < p->n_stops; k++) {
            /* largest deviation of the shape from the straight stop-to-stop chord */
            double ax = 0, ay = 0, bx = 0, by = 0, dev = 0;
            int npts = 0;
            while (j < s->n && s->dist_m[j] < p->dist_m[k])
                j++;
            int j0 = j;
            while (j < s->n && s->dist_m[j] <= p->dist_m[k + 1])
                j++;
            if (j - j0 < 3)
                continue;
            ax = s->x_m[j0], ay = s->y_m[j0], bx = s->x_m[j - 1], by = s->y_m[j - 1];
            double l = hypot(bx - ax, by - ay);
            for (int m = j0; m < j && l > 0; m++, npts++) {
                double e = fabs((bx - ax) * (ay - s->y_m[m]) - (ax - s->x_m[m]) * (by - ay)) / l;
                if (e > dev)
                    dev = e;
            }
            segments++;
            curved += dev > 3.0;
        }
    }
    cr_assert_gt(segments, 100);
    cr_assert_geq(curved * 2, segments, "%d of %d stop-to-stop segments curve", curved, segments);
    buyt_city_free(c);
}

Test(sim_citygen, loop_routes_start_and_end_at_one_terminal)
{
    struct buyt_city *c = build(5, 40, 1000, 400);
    int loops = 0;
    for (int i = 0; i < c->n_routes; i++) {
        const struct buyt_city_route *r = &c->routes[i];
        const struct buyt_city_pattern *p = &r->dir[0];
        if (!r->loop) {
            cr_assert_neq(p->stops[0], p->stops[p->n_stops - 1]);
            continue;
        }
        loops++;
        cr_assert_eq(p->stops[0], p->stops[p->n_stops - 1], "loop %s", r->id);
        cr_assert_geq(c->stops[p->stops[0]].terminal, 0);
    }
    cr_assert_geq(loops, 2);
    /* shared terminals: some terminal stop serves 3+ routes */
    int best = 0;
    for (int t = 0; t < c->n_terminals; t++) {
        int n = 0;
        for (int i = 0; i < c->n_routes; i++)
            n += c->routes[i].dir[0].stops[0] == t ||
                 c->routes[i].dir[0].stops[c->routes[i].dir[0].n_stops - 1] == t;
        if (n > best)
            best = n;
    }
    cr_assert_geq(best, 3);
    buyt_city_free(c);
}

Test(sim_citygen, blocks_chain_trips_without_overlap)
{
    struct buyt_city *c = build(7, 40, 1000, 400);
    int past_midnight = 0, chained = 0;
    for (int b = 0; b < c->n_blocks; b++) {
        const struct buyt_city_block *bl = &c->blocks[b];
        cr_assert_geq(bl->n_trips, 1, "block %s empty", bl->id);
        for (int k = 0; k < bl->n_trips; k++) {
            const struct buyt_city_trip *t = &c->trips[c->block_trips[bl->t0 + k]];
            cr_assert_eq(t->block, b);
            cr_assert_lt(t->start_s, t->end_s);
            for (int m = 1; m < t->n_st; m++) {
                const struct buyt_city_stop_time *x = &c->stop_times[t->st0 + m];
                cr_assert_geq(x->arr_s, c->stop_times[t->st0 + m - 1].dep_s);
                cr_assert_geq(x->dep_s, x->arr_s);
            }
            past_midnight += t->end_s > 86400;
            if (k == 0)
                continue;
            const struct buyt_city_trip *prev = &c->trips[c->block_trips[bl->t0 + k - 1]];
            cr_assert_leq(prev->end_s + 60, t->start_s, "block %s: %s overlaps %s", bl->id,
                          prev->id, t->id);
            int end_stop = c->stop_times[prev->st0 + prev->n_st - 1].stop;
            int start_stop = c->stop_times[t->st0].stop;
            cr_assert_eq(end_stop, start_stop, "block %s: %s ends where %s does not start",
                         bl->id, prev->id, t->id);
            chained++;
        }
    }
    cr_assert_gt(chained, 1000);
    cr_assert_gt(past_midnight, 0, "no trip runs past 24:00");
    buyt_city_free(c);
}

Test(sim_citygen, rejects_bad_parameters)
{
    struct buyt_citygen_params p = {1, 0, 100, 10};
    struct buyt_city *c = (struct buyt_city *)1;
    char err[256];
    cr_assert_neq(buyt_citygen_build(&p, &c, err, sizeof err), 0);
    cr_assert_null(c);
    p = (struct buyt_citygen_params){1, 10, 100, 5};
    cr_assert_neq(buyt_citygen_build(&p, &c, err, sizeof err), 0);
    cr_assert(strstr(err, "buses"));
}
