/* bench-matcher: decode + match + stop detection throughput on a synthetic Hanoi-sized city.
 *
 * Builds a street grid around 21.03 N 105.85 E (400 m blocks), ~150 routes x 2 directions
 * wandering over it (shape points every 20 m, stops every 400 m shared between routes that
 * drive the same block the same way), trips every 5 min from 05:00 to 22:00, chained in blocks
 * (out, 5 min layover, back, layover...: 16 buses per route). Then simulates N vehicles, each
 * running one block from 08:00 (each a little late throughout, 4 m GPS noise), one fix per
 * period, encodes every fix as the wire Telemetry message, and times on one core:
 *   - decode: buyt_telemetry_decode + record check (protobuf-c, malloc) and, for comparison,
 *     protobuf-c unpack into a reused arena;
 *   - match: buyt_matcher_update (automatic assignment: vehicles start unassigned);
 *   - the pipeline: decode + match + stop events, split into the acquisition minutes and the
 *     steady state that follows.
 * Prints figures for docs/MATCHING.md. Usage:
 *   bench-matcher [-v vehicles=2000] [-r routes=150] [-s seconds=1200] [-p period_s=1]
 *                 [-w warmup_s=300] [-e] (-e: explicit sign-in with the true trip) */
#include "contract.h"
#include "error.h"
#include "geo.h"
#include "matcher.h"
#include "network.h"
#include "stopev.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LAT0 21.03
#define LON0 105.85
#define DAY_MS 1714496400000LL /* 2024-05-01 00:00 +07: the service day's noon - 12 h */
#define BLOCK_M 400.0
#define GRID_N 40       /* intersections per side: a 15.6 km square */
#define ROUTE_BLOCKS 25 /* ~10 km per route */
#define POINT_STEP_M 20.0
#define HEADWAY_S 300
#define FIRST_S (5 * 3600)
#define LAST_S (22 * 3600)
#define SIM_START_S (8 * 3600)
#define TRIP_S (24 * 87)         /* first departure to last arrival */
#define CYCLE_S (16 * HEADWAY_S) /* out, layover, back, layover: 16 buses per route */

static uint64_t rng_state = 0x853C49E6748FEA9Bull;
static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static double now_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "bench-matcher: %s: %s\n", what, buyt_strerror(rc));
        exit(1);
    }
}

/* ---- the synthetic city ------------------------------------------------------------------ */

struct city {
    struct buyt_network *net;
    uint32_t n_shapes;
    double build_s;
};

/* Stop ids are keyed by the directed block they stand on, so routes share them. */
static uint32_t stop_for_block(struct buyt_network *net, const struct buyt_geo_frame *f, int ix,
                               int iy, int dx, int dy)
{
    char id[48];
    snprintf(id, sizeof id, "S%d_%d_%d_%d", ix, iy, dx, dy);
    uint32_t s = buyt_network_stop_find(net, id);
    if (s != BUYT_NETWORK_NONE)
        return s;
    /* Mid-block, 8 m to the right of the direction of travel. */
    double x = (ix + 0.5 * dx - GRID_N / 2.0) * BLOCK_M + dy * 8;
    double y = (iy + 0.5 * dy - GRID_N / 2.0) * BLOCK_M - dx * 8;
    double lat, lon;
    buyt_geo_from_xy(f, x, y, &lat, &lon);
    check(buyt_network_add_stop(net, id, id, lat, lon, &s), "add stop");
    return s;
}

static void build_city(struct city *c, int n_routes)
{
    double t0 = now_s(CLOCK_MONOTONIC);
    struct buyt_geo_frame f;
    buyt_geo_frame_init(&f, LAT0, LON0);
    check(buyt_network_new(NULL, &c->net), "network");
    struct buyt_network *net = c->net;
    for (int r = 0; r < n_routes; r++) {
        /* A walk over the grid: mostly straight, turning at some corners, never back. */
        int ix[ROUTE_BLOCKS + 1], iy[ROUTE_BLOCKS + 1];
        ix[0] = 4 + (int)(urand() * (GRID_N - 8));
        iy[0] = 4 + (int)(urand() * (GRID_N - 8));
        int dx = 1, dy = 0;
        if (urand() < 0.5) {
            dx = 0;
            dy = urand() < 0.5 ? 1 : -1;
        } else if (urand() < 0.5) {
            dx = -1;
        }
        for (int b = 1; b <= ROUTE_BLOCKS; b++) {
            if (urand() < 0.3) { /* turn left (-dy, dx) or right (dy, -dx) */
                int left = urand() < 0.5, ndx = left ? -dy : dy, ndy = left ? dx : -dx;
                dx = ndx;
                dy = ndy;
            }
            int nx = ix[b - 1] + dx, ny = iy[b - 1] + dy;
            if (nx < 1 || ny < 1 || nx >= GRID_N - 1 || ny >= GRID_N - 1) { /* turn inward */
                int t = dx;
                dx = -dy;
                dy = t;
                nx = ix[b - 1] + dx;
                ny = iy[b - 1] + dy;
                if (nx < 1 || ny < 1 || nx >= GRID_N - 1 || ny >= GRID_N - 1) {
                    dx = -dx;
                    dy = -dy;
                    nx = ix[b - 1] + dx;
                    ny = iy[b - 1] + dy;
                }
            }
            ix[b] = nx;
            iy[b] = ny;
        }
        char id[32];
        snprintf(id, sizeof id, "R%03d", r);
        uint32_t route;
        check(buyt_network_add_route(net, id, id, 3, &route), "add route");
        for (int dir = 0; dir < 2; dir++) {
            snprintf(id, sizeof id, "R%03d-%d", r, dir);
            uint32_t sh;
            check(buyt_network_add_shape(net, id, &sh), "add shape");
            uint32_t stops[ROUTE_BLOCKS];
            for (int b = 0; b < ROUTE_BLOCKS; b++) {
                int a = dir ? ROUTE_BLOCKS - b : b, z = dir ? ROUTE_BLOCKS - b - 1 : b + 1;
                double x0 = (ix[a] - GRID_N / 2.0) * BLOCK_M, y0 = (iy[a] - GRID_N / 2.0) * BLOCK_M;
                double x1 = (ix[z] - GRID_N / 2.0) * BLOCK_M, y1 = (iy[z] - GRID_N / 2.0) * BLOCK_M;
                int steps = (int)(BLOCK_M / POINT_STEP_M);
                for (int k = 0; k < steps + (b == ROUTE_BLOCKS - 1); k++) {
                    double lat, lon, u = (double)k / steps;
                    buyt_geo_from_xy(&f, x0 + u * (x1 - x0), y0 + u * (y1 - y0), &lat, &lon);
                    check(buyt_network_add_shape_point(net, sh, lat, lon), "add point");
                }
                stops[b] = stop_for_block(net, &f, ix[a], iy[a], ix[z] - ix[a], iy[z] - iy[a]);
            }
            /* Every HEADWAY_S; 400 m at 6 m/s plus 20 s at each stop. The bus that leaves at
             * s comes back CYCLE_S / 2 later. */
            for (int s = FIRST_S; s <= LAST_S; s += HEADWAY_S) {
                char block[32];
                int k = (s - FIRST_S) / HEADWAY_S - (dir ? CYCLE_S / 2 / HEADWAY_S : 0);
                k = ((k % (CYCLE_S / HEADWAY_S)) + CYCLE_S / HEADWAY_S) % (CYCLE_S / HEADWAY_S);
                snprintf(block, sizeof block, "R%03d-B%02d", r, k);
                snprintf(id, sizeof id, "R%03d-%d-%05d", r, dir, s);
                struct buyt_network_trip_def d = {.trip_id = id,
                                                  .route = route,
                                                  .shape = sh,
                                                  .block_id = block,
                                                  .headsign = "",
                                                  .direction_id = dir,
                                                  .day_start_ms = DAY_MS};
                uint32_t t;
                check(buyt_network_add_trip(net, &d, &t), "add trip");
                for (int b = 0; b < ROUTE_BLOCKS; b++) {
                    int32_t arr = s + b * 87, dep = b ? arr + 20 : arr;
                    check(buyt_network_add_stop_time(net, t, (uint32_t)b + 1, stops[b], arr, dep),
                          "add stop time");
                }
            }
        }
    }
    check(buyt_network_finish(net), "finish");
    c->n_shapes = net->n_shapes;
    c->build_s = now_s(CLOCK_MONOTONIC) - t0;
}

/* ---- the simulated fleet ----------------------------------------------------------------- */

struct rawfix {
    uint32_t veh;
    int64_t t_ms;
    int32_t lat_e7, lon_e7;
    uint32_t speed_cms, course_cdeg;
};

struct fleet {
    int n_veh;
    uint32_t *first_trip; /* the vehicle's block, from its first trip */
    uint32_t *true_trip;  /* the trip it runs at the end of the simulation */
    double *late_s;
    size_t n_fix;
    struct rawfix *fix;
    uint8_t *wire;    /* every fix as a Telemetry message, back to back */
    size_t *wire_off; /* n_fix + 1 */
};

/* Where the bus of `trip` is `tau` seconds after its day start if it runs the timetable
 * exactly: distance along the shape and speed. */
static void schedule_pos(const struct buyt_network *net, uint32_t trip, double tau, double *d,
                         double *v)
{
    const struct buyt_network_trip *t = &net->trips[trip];
    const struct buyt_network_time *tm = &net->times[t->first_time];
    *v = 0;
    if (tau <= tm[0].departure_s) {
        *d = buyt_network_trip_stop_dist(net, trip, 0);
        return;
    }
    for (uint32_t k = 0; k + 1 < t->n_stops; k++) {
        double d0 = buyt_network_trip_stop_dist(net, trip, k);
        double d1 = buyt_network_trip_stop_dist(net, trip, k + 1);
        if (tau <= tm[k].departure_s) {
            *d = d0;
            return;
        }
        if (tau < tm[k + 1].arrival_s) {
            double span = tm[k + 1].arrival_s - tm[k].departure_s;
            *v = (d1 - d0) / span;
            *d = d0 + (tau - tm[k].departure_s) * *v;
            return;
        }
    }
    *d = buyt_network_trip_stop_dist(net, trip, t->n_stops - 1);
}

/* The trip of the block starting at `first` that the bus runs (or waits for) at tau. */
static uint32_t block_trip_at(const struct buyt_network *net, uint32_t first, double tau)
{
    uint32_t t = first;
    while (net->trips[t].end_s < tau && net->trips[t].next_in_block != BUYT_NETWORK_NONE)
        t = net->trips[t].next_in_block;
    return t;
}

static void simulate(struct fleet *fl, const struct city *c, int n_routes, int n_veh, int seconds,
                     double period_s)
{
    const struct buyt_network *net = c->net;
    fl->n_veh = n_veh;
    fl->first_trip = malloc(n_veh * sizeof *fl->first_trip);
    fl->true_trip = malloc(n_veh * sizeof *fl->true_trip);
    fl->late_s = malloc(n_veh * sizeof *fl->late_s);
    /* Block heads: trips that are nobody's next. */
    uint8_t *is_next = calloc(net->n_trips, 1);
    uint32_t *head = malloc(net->n_blocks * sizeof *head);
    for (uint32_t t = 0; t < net->n_trips; t++)
        if (net->trips[t].next_in_block != BUYT_NETWORK_NONE)
            is_next[net->trips[t].next_in_block] = 1;
    for (uint32_t t = 0; t < net->n_trips; t++)
        if (!is_next[t] && net->trips[t].block != BUYT_NETWORK_NONE)
            head[net->trips[t].block] = t;
    /* Vehicle i runs block i / n_routes of route i % n_routes, 30 s early to 2 min late. */
    for (int i = 0; i < n_veh; i++) {
        char id[32];
        snprintf(id, sizeof id, "R%03d-B%02d", i % n_routes,
                 (i / n_routes) % (CYCLE_S / HEADWAY_S));
        uint32_t b = buyt_network_block_find(net, id);
        if (b == BUYT_NETWORK_NONE) {
            fprintf(stderr, "bench-matcher: no block %s\n", id);
            exit(1);
        }
        fl->first_trip[i] = head[b];
        fl->late_s[i] = -30 + urand() * 150;
        fl->true_trip[i] = block_trip_at(net, head[b], SIM_START_S + seconds - fl->late_s[i]);
    }
    free(is_next);
    free(head);
    size_t per_veh = (size_t)(seconds / period_s);
    fl->n_fix = per_veh * n_veh;
    fl->fix = malloc(fl->n_fix * sizeof *fl->fix);
    double *phase = malloc(n_veh * sizeof *phase);
    for (int i = 0; i < n_veh; i++)
        phase[i] = urand() * period_s;
    size_t w = 0;
    for (size_t step = 0; step < per_veh; step++) {
        for (int i = 0; i < n_veh; i++) {
            double t = SIM_START_S + step * period_s + phase[i], d, v, x, y, h, lat, lon;
            uint32_t trip = block_trip_at(net, fl->first_trip[i], t - fl->late_s[i]);
            schedule_pos(net, trip, t - fl->late_s[i], &d, &v);
            buyt_shape_point_at(&net->shapes[net->trips[trip].shape], d, &x, &y, &h);
            buyt_geo_from_xy(&net->frame, x + (urand() - 0.5) * 8, y + (urand() - 0.5) * 8, &lat,
                             &lon);
            fl->fix[w++] = (struct rawfix){
                .veh = (uint32_t)i,
                .t_ms = DAY_MS + (int64_t)llround(t * 1000),
                .lat_e7 = buyt_deg_to_e7(lat),
                .lon_e7 = buyt_deg_to_e7(lon),
                .speed_cms = (uint32_t)lround(fmax(0, v + (urand() - 0.5) * 0.4) * 100),
                .course_cdeg = (uint32_t)lround(h * 100) % 36000};
        }
    }
    free(phase);
    /* The wire form, as buyt-onboard sends it: one live record per message. */
    fl->wire_off = malloc((fl->n_fix + 1) * sizeof *fl->wire_off);
    fl->wire = malloc(fl->n_fix * 64);
    size_t off = 0;
    for (size_t k = 0; k < fl->n_fix; k++) {
        const struct rawfix *r = &fl->fix[k];
        char vid[16];
        snprintf(vid, sizeof vid, "29B-%05u", r->veh);
        Buyt__V1__Fix fx = BUYT__V1__FIX__INIT;
        fx.lat_e7 = r->lat_e7;
        fx.lon_e7 = r->lon_e7;
        fx.speed_cms = r->speed_cms;
        fx.course_cdeg = r->course_cdeg;
        fx.hdop_x100 = 90;
        fx.satellites = 11;
        fx.quality = BUYT__V1__FIX_QUALITY__FIX_QUALITY_GPS;
        fx.fields = BUYT__V1__FIX_FIELD__FIX_FIELD_SPEED | BUYT__V1__FIX_FIELD__FIX_FIELD_COURSE |
                    BUYT__V1__FIX_FIELD__FIX_FIELD_HDOP | BUYT__V1__FIX_FIELD__FIX_FIELD_SATELLITES;
        Buyt__V1__Record rec = BUYT__V1__RECORD__INIT;
        rec.seq = k / (size_t)n_veh + 1;
        rec.time_ms = (uint64_t)r->t_ms;
        rec.body_case = BUYT__V1__RECORD__BODY_FIX;
        rec.fix = &fx;
        Buyt__V1__Record *recs[] = {&rec};
        Buyt__V1__Telemetry tel = BUYT__V1__TELEMETRY__INIT;
        tel.vehicle_id = vid;
        tel.boot_id = 42;
        tel.n_records = 1;
        tel.records = recs;
        size_t len;
        if (buyt_telemetry_encode(&tel, r->t_ms, fl->wire + off, 64, &len) != BUYT_REJECT_NONE) {
            fprintf(stderr, "bench-matcher: encode failed\n");
            exit(1);
        }
        fl->wire_off[k] = off;
        off += len;
    }
    fl->wire_off[fl->n_fix] = off;
}

/* ---- decoding ---------------------------------------------------------------------------- */

/* A bump allocator for protobuf-c, reset per message: decoding without malloc. */
struct arena {
    uint8_t buf[4096];
    size_t used;
};

static void *arena_alloc(void *ctx, size_t size)
{
    struct arena *a = ctx;
    size = (size + 15) & ~(size_t)15;
    if (a->used + size > sizeof a->buf)
        return NULL;
    void *p = a->buf + a->used;
    a->used += size;
    return p;
}

static void arena_free(void *ctx, void *p)
{
    (void)ctx, (void)p;
}

/* Vehicle index from "29B-NNNNN" (the engine's vehicle table lookup stands here). */
static uint32_t vehicle_index(const char *vid)
{
    return (uint32_t)strtoul(vid + 4, NULL, 10);
}

struct decoded {
    uint32_t veh;
    int64_t t_ms;
    double lat, lon, speed, course;
};

static int decode_one(const struct fleet *fl, size_t k, struct decoded *d)
{
    Buyt__V1__Telemetry *t;
    const uint8_t *p = fl->wire + fl->wire_off[k];
    size_t len = fl->wire_off[k + 1] - fl->wire_off[k];
    if (buyt_telemetry_decode(p, len, &t) != BUYT_REJECT_NONE)
        return -1;
    const Buyt__V1__Record *r = t->records[0];
    int rc = buyt_contract_check_record(r, (int64_t)r->time_ms) == BUYT_REJECT_NONE ? 0 : -1;
    const Buyt__V1__Fix *f = r->fix;
    d->veh = vehicle_index(t->vehicle_id);
    d->t_ms = (int64_t)r->time_ms;
    d->lat = buyt_e7_to_deg(f->lat_e7);
    d->lon = buyt_e7_to_deg(f->lon_e7);
    d->speed = f->fields & BUYT__V1__FIX_FIELD__FIX_FIELD_SPEED ? f->speed_cms / 100.0 : NAN;
    d->course = f->fields & BUYT__V1__FIX_FIELD__FIX_FIELD_COURSE ? f->course_cdeg / 100.0 : NAN;
    buyt_telemetry_free(t);
    return rc;
}

/* ---- the runs ---------------------------------------------------------------------------- */

/* Is `trip` what vehicle i runs at end_s? The matcher ends a trip on entering the last stop's
 * zone, a few seconds before the timetable does: the block's next trip counts as right then. */
static bool judged_right(const struct buyt_network *net, const struct fleet *fl, int i,
                         uint32_t trip, double end_s)
{
    double tau = end_s - fl->late_s[i];
    uint32_t truth = block_trip_at(net, fl->first_trip[i], tau);
    return trip == truth ||
           (trip == net->trips[truth].next_in_block && tau > net->trips[truth].end_s - 30);
}

struct run {
    double wall_s, cpu_s;
    size_t fixes, events, assigned, correct, errors;
};

static void count_event(void *ctx, const struct buyt_stopev_event *ev)
{
    (void)ev;
    (*(size_t *)ctx)++;
}

/* Runs fixes [from, to) through the selected stages. Vehicle states persist across calls. */
static void run_range(const struct fleet *fl, struct buyt_matcher *m,
                      struct buyt_matcher_vehicle *veh, struct buyt_stopev_vehicle *sev,
                      const struct buyt_network *net, size_t from, size_t to, bool decode,
                      bool match, bool stops, struct run *out)
{
    static struct buyt_matcher_result res;
    struct buyt_stopev_config scfg;
    buyt_stopev_config_default(&scfg);
    memset(out, 0, sizeof *out);
    double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    for (size_t k = from; k < to; k++) {
        struct decoded d;
        if (decode) {
            if (decode_one(fl, k, &d)) {
                out->errors++;
                continue;
            }
        } else {
            const struct rawfix *r = &fl->fix[k];
            d = (struct decoded){r->veh,
                                 r->t_ms,
                                 buyt_e7_to_deg(r->lat_e7),
                                 buyt_e7_to_deg(r->lon_e7),
                                 r->speed_cms / 100.0,
                                 r->course_cdeg / 100.0};
        }
        if (match) {
            if (buyt_matcher_update(m, &veh[d.veh], d.t_ms, d.lat, d.lon, d.speed, d.course, &res))
                out->errors++;
            else if (stops)
                buyt_stopev_feed(net, &scfg, &sev[d.veh], &res, count_event, &out->events);
        }
    }
    out->wall_s = now_s(CLOCK_MONOTONIC) - w0;
    out->cpu_s = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    out->fixes = to - from;
    if (match) { /* judged against the trip each bus runs at the range's last fix */
        double end_s = (double)(fl->fix[to - 1].t_ms - DAY_MS) / 1000.0;
        for (int i = 0; i < fl->n_veh; i++) {
            out->assigned += veh[i].trip != BUYT_NETWORK_NONE;
            out->correct += judged_right(net, fl, i, veh[i].trip, end_s);
        }
    }
}

static void report(const char *what, const struct run *r, int n_veh)
{
    printf("%-34s %9zu fixes %7.3f s cpu %9.0f fixes/s %6.2f us/fix", what, r->fixes, r->cpu_s,
           r->fixes / r->cpu_s, r->cpu_s / r->fixes * 1e6);
    if (n_veh)
        printf("  assigned %zu/%d correct %zu", r->assigned, n_veh, r->correct);
    if (r->events)
        printf("  stop events %zu", r->events);
    if (r->errors)
        printf("  errors %zu", r->errors);
    printf("\n");
}

/* What the wrong assignments at the end have in common with the truth. */
static void classify_wrong(const struct fleet *fl, const struct buyt_network *net,
                           const struct buyt_matcher_vehicle *veh)
{
    int same_shape = 0, other_dir = 0, other_route = 0, none = 0, chained = 0;
    double end_s = (double)(fl->fix[fl->n_fix - 1].t_ms - DAY_MS) / 1000.0;
    for (int i = 0; i < fl->n_veh; i++) {
        uint32_t a = veh[i].trip, t = block_trip_at(net, fl->first_trip[i], end_s - fl->late_s[i]);
        if (judged_right(net, fl, i, a, end_s))
            continue;
        if (a == BUYT_NETWORK_NONE) {
            none++;
            continue;
        }
        chained += veh[i].how == BUYT_MATCHER_HOW_BLOCK;
        if (net->trips[a].shape == net->trips[t].shape)
            same_shape++;
        else if (net->trips[a].route == net->trips[t].route)
            other_dir++;
        else
            other_route++;
    }
    printf("  wrong at the end: same shape, other trip %d; same route, other direction %d; other "
           "route %d; none %d (of which chained from the block: %d)\n",
           same_shape, other_dir, other_route, none, chained);
}

static double arena_decode_rate(const struct fleet *fl, size_t n)
{
    struct arena a;
    ProtobufCAllocator alloc = {arena_alloc, arena_free, &a};
    double c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    size_t ok = 0;
    for (size_t k = 0; k < n; k++) {
        a.used = 0;
        Buyt__V1__Telemetry *t = buyt__v1__telemetry__unpack(
            &alloc, fl->wire_off[k + 1] - fl->wire_off[k], fl->wire + fl->wire_off[k]);
        ok += t && t->n_records == 1 && t->records[0]->fix;
    }
    double c = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    if (ok != n)
        fprintf(stderr, "bench-matcher: arena decode failed %zu times\n", n - ok);
    return n / c;
}

int main(int argc, char **argv)
{
    int n_veh = 2000, n_routes = 150, seconds = 1200, warmup = 300, opt;
    double period = 1;
    bool explicit_signin = false;
    while ((opt = getopt(argc, argv, "v:r:s:p:w:e")) != -1) {
        switch (opt) {
        case 'v': n_veh = atoi(optarg); break;
        case 'r': n_routes = atoi(optarg); break;
        case 's': seconds = atoi(optarg); break;
        case 'p': period = atof(optarg); break;
        case 'w': warmup = atoi(optarg); break;
        case 'e': explicit_signin = true; break;
        default:
            fprintf(stderr,
                    "usage: %s [-v vehicles] [-r routes] [-s seconds] [-p period_s] "
                    "[-w warmup_s] [-e]\n",
                    argv[0]);
            return 2;
        }
    }
    if (n_veh < 1 || n_routes < 1 || period <= 0 || warmup >= seconds) {
        fprintf(stderr, "bench-matcher: bad arguments\n");
        return 2;
    }
    struct city c;
    build_city(&c, n_routes);
    const struct buyt_network *net = c.net;
    size_t pts = 0;
    for (uint32_t s = 0; s < net->n_shapes; s++)
        pts += net->shapes[s].n_pts;
    printf("network: %u routes, %u shapes (%zu points), %u stops, %u patterns, %u trips; "
           "built in %.2f s; %.1f MiB (grid %.1f MiB, %u x %u cells)\n",
           net->n_routes, net->n_shapes, pts, net->n_stops, net->n_patterns, net->n_trips,
           c.build_s, buyt_network_bytes(net) / 1048576.0, buyt_grid_bytes(&net->grid) / 1048576.0,
           net->grid.nx, net->grid.ny);
    struct fleet fl;
    if (n_veh > n_routes * (CYCLE_S / HEADWAY_S)) {
        fprintf(stderr, "bench-matcher: at most %d vehicles for %d routes\n",
                n_routes * (CYCLE_S / HEADWAY_S), n_routes);
        return 2;
    }
    simulate(&fl, &c, n_routes, n_veh, seconds, period);
    printf("fleet: %d vehicles, a fix every %.0f s for %d s: %zu fixes, %.1f bytes/message; "
           "%s assignment\n",
           n_veh, period, seconds, fl.n_fix, (double)fl.wire_off[fl.n_fix] / fl.n_fix,
           explicit_signin ? "explicit" : "automatic");
    printf("state per vehicle: matcher %zu bytes, stopev %zu bytes\n",
           sizeof(struct buyt_matcher_vehicle), sizeof(struct buyt_stopev_vehicle));

    struct buyt_matcher_vehicle *veh = malloc(n_veh * sizeof *veh);
    struct buyt_stopev_vehicle *sev = malloc(n_veh * sizeof *sev);
    struct buyt_matcher *m;
    size_t split = (size_t)(warmup / period) * n_veh;
    struct run r;
    for (int pass = 0; pass < 2; pass++) {
        /* pass 0: match only; pass 1: decode + match + stop events */
        check(buyt_matcher_new(net, NULL, &m), "matcher");
        for (int i = 0; i < n_veh; i++) {
            buyt_matcher_vehicle_init(&veh[i], (uint32_t)i);
            buyt_stopev_vehicle_init(&sev[i]);
            if (explicit_signin)
                check(buyt_matcher_assign_trip(
                          m, &veh[i],
                          block_trip_at(net, fl.first_trip[i], SIM_START_S - fl.late_s[i])),
                      "sign-in");
        }
        bool full = pass == 1;
        run_range(&fl, m, veh, sev, net, 0, split, full, true, full, &r);
        report(full ? "decode+match+stops, first minutes" : "match, first minutes", &r, n_veh);
        run_range(&fl, m, veh, sev, net, split, fl.n_fix, full, true, full, &r);
        report(full ? "decode+match+stops, steady" : "match, steady", &r, n_veh);
        if (!full)
            classify_wrong(&fl, net, veh);
        buyt_matcher_free(m);
    }
    run_range(&fl, NULL, veh, sev, net, 0, fl.n_fix, true, false, false, &r);
    report("decode (contract, malloc)", &r, 0);
    printf("%-34s %9zu fixes %9.0f fixes/s\n", "decode (protobuf-c, arena)", fl.n_fix,
           arena_decode_rate(&fl, fl.n_fix));
    free(veh);
    free(sev);
    free(fl.true_trip);
    free(fl.first_trip);
    free(fl.late_s);
    free(fl.fix);
    free(fl.wire);
    free(fl.wire_off);
    buyt_network_free(c.net);
    return 0;
}
