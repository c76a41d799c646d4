/* bench-predict: cost of the arrival predictor and of the stop boards on a city-sized network.
 *
 * Builds L straight lines of 40 stops (300 m apart, 11.7 km), each driven by two routes (so
 * every stop has two routes and shared segments), trips every 5 min from 05:00 to 22:00 on
 * each route, chained in blocks (a route's trips 50 min apart share a bus). Every travel and
 * dwell cell is warm (learned) and every segment has a fresh "last vehicle" time, so each
 * estimate takes the full blend path. Then V vehicles, each on its own trip around 08:00,
 * report once a second for S seconds; timed on one core:
 *   - buyt_predict_vehicle per fix (the trip re-predicted from the bus's next stop; its block's
 *     later trips when their base moved by 30 s or once a minute);
 *   - buyt_predict_observe per stop event;
 *   - buyt_boards_tick once a second over every served stop (build, compare, pack changed ones).
 * Prints figures for docs/PREDICTION.md. Usage:
 *   bench-predict [-v vehicles=2000] [-l lines=75] [-s seconds=300] [-m blend|kalman] */
#include "board.h"
#include "error.h"
#include "geo.h"
#include "network.h"
#include "predict.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NSTOP 40
#define GAP_M 300.0
#define SEG_S 75  /* scheduled stop-to-stop time */
#define TRUE_S 90 /* what buses take */
#define DWELL_S 20
#define HEADWAY_S 300
#define FIRST_S (5 * 3600)
#define LAST_S (22 * 3600)
#define DAY_MS 1714496400000LL /* 2024-05-01 00:00 +07 */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench-predict: %s: %s\n", what, buyt_strerror(rc));
    exit(1);
}

struct city {
    struct buyt_network *net;
    uint32_t n_lines, trips_per_route;
    uint32_t *first_trip; /* per route */
};

static void city_build(struct city *c, uint32_t lines)
{
    struct buyt_geo_frame f;
    buyt_geo_frame_init(&f, 21.03, 105.85);
    int rc = buyt_network_new(NULL, &c->net);
    if (rc)
        die("network", rc);
    c->n_lines = lines;
    c->trips_per_route = (LAST_S - FIRST_S) / HEADWAY_S;
    c->first_trip = malloc(2 * lines * sizeof *c->first_trip);
    uint32_t *stops = malloc(NSTOP * sizeof *stops);
    char id[64];
    for (uint32_t l = 0; l < lines; l++) {
        uint32_t shape;
        snprintf(id, sizeof id, "L%u", l);
        if ((rc = buyt_network_add_shape(c->net, id, &shape)))
            die("shape", rc);
        double y = (double)l * 400.0 - lines * 200.0, x0 = -NSTOP * GAP_M / 2;
        for (double x = 0; x <= (NSTOP - 1) * GAP_M + 1e-9; x += 50) {
            double lat, lon;
            buyt_geo_from_xy(&f, x0 + x, y, &lat, &lon);
            buyt_network_add_shape_point(c->net, shape, lat, lon);
        }
        for (uint32_t k = 0; k < NSTOP; k++) {
            double lat, lon;
            snprintf(id, sizeof id, "L%u-S%u", l, k);
            buyt_geo_from_xy(&f, x0 + k * GAP_M, y + 4, &lat, &lon);
            if ((rc = buyt_network_add_stop(c->net, id, "Bến xe Giáp Bát", lat, lon, &stops[k])))
                die("stop", rc);
        }
        for (uint32_t r2 = 0; r2 < 2; r2++) {
            uint32_t route, ri = 2 * l + r2;
            snprintf(id, sizeof id, "R%u", ri);
            char sn[16];
            snprintf(sn, sizeof sn, "%u", ri);
            if ((rc = buyt_network_add_route(c->net, id, sn, 3, &route)))
                die("route", rc);
            for (uint32_t i = 0; i < c->trips_per_route; i++) {
                char tid[32], bid[32];
                snprintf(tid, sizeof tid, "R%u-T%u", ri, i);
                snprintf(bid, sizeof bid, "R%u-B%u", ri, i % 10); /* same bus every 50 min */
                int32_t start = FIRST_S + (int32_t)i * HEADWAY_S + (int32_t)r2 * 150;
                struct buyt_network_trip_def d = {.trip_id = tid,
                                                  .route = route,
                                                  .shape = shape,
                                                  .block_id = bid,
                                                  .headsign = "Nhổn",
                                                  .direction_id = 0,
                                                  .day_start_ms = DAY_MS};
                uint32_t t;
                if ((rc = buyt_network_add_trip(c->net, &d, &t)))
                    die("trip", rc);
                if (i == 0)
                    c->first_trip[ri] = t;
                for (uint32_t k = 0; k < NSTOP; k++)
                    buyt_network_add_stop_time(c->net, t, k + 1, stops[k],
                                               start + (int32_t)k * SEG_S,
                                               start + (int32_t)k * SEG_S);
            }
        }
    }
    free(stops);
    if ((rc = buyt_network_finish(c->net)))
        die("finish", rc);
}

/* Warm every cell of every travel segment and dwell of the city. */
static void warm(struct buyt_predict *p, const struct city *c)
{
    char from[32], to[32];
    for (uint32_t l = 0; l < c->n_lines; l++)
        for (uint32_t k = 0; k < NSTOP; k++)
            for (uint32_t b = 0; b < BUYT_PREDICT_BANDS; b++)
                for (uint32_t d = 0; d < BUYT_PREDICT_DAYTYPES; d++) {
                    snprintf(from, sizeof from, "L%u-S%u", l, k);
                    snprintf(to, sizeof to, "L%u-S%u", l, k + 1);
                    struct buyt_predict_stat st = {.kind = BUYT_PREDICT_DWELL,
                                                   .from_stop = from,
                                                   .to_stop = "",
                                                   .band = b,
                                                   .daytype = d,
                                                   .n = 50,
                                                   .mean_s = DWELL_S,
                                                   .var_s2 = 25};
                    buyt_predict_stat_put(p, &st);
                    if (k + 1 == NSTOP)
                        continue;
                    st = (struct buyt_predict_stat){.kind = BUYT_PREDICT_TRAVEL,
                                                    .from_stop = from,
                                                    .to_stop = to,
                                                    .band = b,
                                                    .daytype = d,
                                                    .n = 50,
                                                    .n_last = 20,
                                                    .mean_s = TRUE_S,
                                                    .var_s2 = 400,
                                                    .var_last_s2 = 300,
                                                    .cov_s2 = 100};
                    buyt_predict_stat_put(p, &st);
                }
}

struct bus {
    uint32_t trip;
    int64_t dep_ms; /* left its first stop */
    uint32_t next_event;
    int64_t dep_prev_ms;
};

/* Distance along the trip at ms for a bus that left stop 0 at dep_ms (TRUE_S per segment,
 * DWELL_S standing at each stop). */
static double where(int64_t dep_ms, int64_t ms, double *speed)
{
    double t = (double)(ms - dep_ms) / 1000.0;
    *speed = 0;
    if (t <= 0)
        return 0;
    double cycle = TRUE_S + DWELL_S;
    double k = floor(t / cycle), in = t - k * cycle;
    if (k >= NSTOP - 1)
        return (NSTOP - 1) * GAP_M;
    if (in < TRUE_S) {
        *speed = GAP_M / TRUE_S;
        return k * GAP_M + GAP_M * in / TRUE_S;
    }
    return (k + 1) * GAP_M;
}

static bool publish(void *ctx, const char *stop_id, const uint8_t *payload, size_t len)
{
    (void)stop_id, (void)payload;
    *(size_t *)ctx += len;
    return true;
}

int main(int argc, char **argv)
{
    uint32_t nveh = 2000, lines = 75, secs = 300;
    enum buyt_predict_model model = BUYT_PREDICT_BLEND;
    int o;
    while ((o = getopt(argc, argv, "v:l:s:m:")) != -1) {
        switch (o) {
        case 'v': nveh = (uint32_t)atoi(optarg); break;
        case 'l': lines = (uint32_t)atoi(optarg); break;
        case 's': secs = (uint32_t)atoi(optarg); break;
        case 'm':
            model = strcmp(optarg, "kalman") ? BUYT_PREDICT_BLEND : BUYT_PREDICT_KALMAN;
            break;
        default:
            fprintf(stderr, "usage: bench-predict [-v vehicles] [-l lines] [-s seconds]"
                            " [-m blend|kalman]\n");
            return 2;
        }
    }
    struct city c;
    double t0 = now_s();
    city_build(&c, lines);
    printf("network: %u lines x 2 routes, %u stops, %u trips of %d stops (%.1f s to build)\n",
           lines, c.net->n_stops, c.net->n_trips, NSTOP, now_s() - t0);

    struct buyt_predict_config pc;
    buyt_predict_config_default(&pc);
    pc.model = model;
    struct buyt_predict *p;
    int rc;
    if ((rc = buyt_predict_new(&pc, &p)) || (rc = buyt_predict_set_network(p, c.net)))
        die("predictor", rc);
    warm(p, &c);
    struct buyt_boards *b;
    if ((rc = buyt_boards_new(NULL, &b)) || (rc = buyt_boards_set_network(b, c.net)))
        die("boards", rc);

    /* Vehicles: spread over routes and over the first 40 min of a trip around 08:00. */
    int64_t start_ms = DAY_MS + 8 * 3600 * 1000LL;
    struct bus *bus = calloc(nveh, sizeof *bus);
    uint32_t nroutes = 2 * lines;
    for (uint32_t v = 0; v < nveh; v++) {
        uint32_t route = v % nroutes, slot = v / nroutes; /* 0 .. 13 buses a route */
        int64_t behind_s = (int64_t)slot * HEADWAY_S / 2 + 30;
        uint32_t trip_i = (uint32_t)((8 * 3600 - FIRST_S - behind_s) / HEADWAY_S);
        bus[v].trip = c.first_trip[route] + trip_i;
        const struct buyt_network_trip *t = &c.net->trips[bus[v].trip];
        bus[v].dep_ms = t->day_start_ms + (int64_t)t->start_s * 1000;
    }
    /* Every segment gets a fresh last-vehicle time (the blend's heavier path). */
    for (uint32_t l = 0; l < 2 * lines; l++) {
        uint32_t t = c.first_trip[l];
        for (uint32_t k = 0; k + 1 < NSTOP; k++) {
            int64_t d = start_ms - 600000 + k * 1000;
            struct buyt_stopev_event a = {.trip = t,
                                          .stop_index = k,
                                          .stop = buyt_network_trip_stop(c.net, t, k),
                                          .arrival_ms = d - 20000,
                                          .departure_ms = d};
            struct buyt_stopev_event e = {.trip = t,
                                          .stop_index = k + 1,
                                          .stop = buyt_network_trip_stop(c.net, t, k + 1),
                                          .arrival_ms = d + TRUE_S * 1000,
                                          .departure_ms = d + (TRUE_S + DWELL_S) * 1000};
            buyt_predict_observe(p, nveh + l, &a);
            buyt_predict_observe(p, nveh + l, &e);
        }
    }

    struct buyt_matcher_result *res = calloc(nveh, sizeof *res);
    double t_pred = 0, t_obs = 0, t_tick = 0;
    uint64_t fixes = 0, events = 0, published = 0;
    size_t bytes = 0;
    char label[16];
    for (uint32_t s = 0; s < secs; s++) {
        int64_t ms = start_ms + (int64_t)s * 1000;
        for (uint32_t v = 0; v < nveh; v++) { /* the matcher's output, prepared untimed */
            double speed, d = where(bus[v].dep_ms, ms, &speed);
            uint32_t n = c.net->trips[bus[v].trip].n_stops;
            res[v] = (struct buyt_matcher_result){
                .trip = bus[v].trip,
                .dist_m = d,
                .next_stop = buyt_network_trip_next_stop(c.net, bus[v].trip, d, 30),
                .completed = d >= buyt_network_trip_stop_dist(c.net, bus[v].trip, n - 1) - 30,
                .stationary = speed == 0};
        }
        double a = now_s();
        for (uint32_t v = 0; v < nveh; v++) {
            snprintf(label, sizeof label, "29B-%04u", v);
            if ((rc = buyt_predict_vehicle(p, v, label, ms, &res[v])))
                die("predict", rc);
        }
        t_pred += now_s() - a;
        fixes += nveh;
        /* Stop events: each bus's departure from the stop it just left. */
        a = now_s();
        for (uint32_t v = 0; v < nveh; v++) {
            uint32_t k = bus[v].next_event;
            if (k >= NSTOP)
                continue;
            int64_t dep = bus[v].dep_ms + (int64_t)k * (TRUE_S + DWELL_S) * 1000;
            if (dep > ms)
                continue;
            struct buyt_stopev_event e = {.trip = bus[v].trip,
                                          .stop_index = k,
                                          .stop_sequence = k + 1,
                                          .stop = buyt_network_trip_stop(c.net, bus[v].trip, k),
                                          .arrival_ms = k ? dep - DWELL_S * 1000 : 0,
                                          .departure_ms = dep};
            buyt_predict_observe(p, v, &e);
            bus[v].next_event++;
            events++;
        }
        t_obs += now_s() - a;
        a = now_s();
        published += buyt_boards_tick(b, p, ms, publish, &bytes);
        t_tick += now_s() - a;
    }
    /* One bus just out of its first stop: every fix re-predicts all 39 stops ahead (the
     * worst case of a 40-stop trip); its block's next trips once a minute. */
    uint32_t one = nveh + 2 * lines + 1;
    uint32_t trip = c.first_trip[0] + 40;
    const struct buyt_network_trip *tr = &c.net->trips[trip];
    int64_t t_start = tr->day_start_ms + (int64_t)tr->start_s * 1000;
    struct buyt_matcher_result r1 = {.trip = trip, .dist_m = 40, .next_stop = 1};
    const uint32_t reps = 200000;
    double a = now_s();
    for (uint32_t i = 0; i < reps; i++)
        if ((rc = buyt_predict_vehicle(p, one, "29B-9999", t_start + 10000 + i, &r1)))
            die("predict", rc);
    double t_one = now_s() - a;
    struct buyt_predict_trip_view view;
    buyt_predict_vehicle_view(p, one, &view, 1);

    struct buyt_predict_counters pcnt;
    buyt_predict_counters(p, &pcnt);
    printf("model %s, %u vehicles, %u s at 1 Hz: %llu fixes, %llu stop events, %llu live trip"
           " predictions at the end\n",
           model == BUYT_PREDICT_BLEND ? "blend" : "kalman", nveh, secs, (unsigned long long)fixes,
           (unsigned long long)events, (unsigned long long)pcnt.live_trips);
    printf("predict per fix      %.2f us   (%.0f fixes/s per core)\n", t_pred / fixes * 1e6,
           fixes / t_pred);
    printf("predict per fix, 40-stop trip, %u stops ahead: %.2f us\n", view.n - view.from,
           t_one / reps * 1e6);
    printf("observe per event    %.2f us\n", events ? t_obs / events * 1e6 : 0);
    printf("boards tick          %.2f ms per tick over %u stops; %llu boards published"
           " (%.1f per s, %.0f bytes avg)\n",
           t_tick / secs * 1e3, c.net->n_stops, (unsigned long long)published,
           (double)published / secs, published ? (double)bytes / published : 0);
    buyt_boards_free(b);
    buyt_predict_free(p);
    buyt_network_free(c.net);
    free(c.first_trip);
    free(bus);
    free(res);
    return 0;
}
