/* Fleet behaviour; see fleet.h. One state machine per bus, stepped every BUYT_FLEET_STEP_MS of
 * simulated time:
 *
 *   OFF --power on--> LAYOVER (at the first terminal) --scheduled departure--> DRIVE
 *   DRIVE --red light--> HALT --green--> DRIVE
 *   DRIVE --stop with passengers--> DWELL --doors closed (held if early)--> DRIVE
 *   DRIVE --last stop--> LAYOVER (next trip of the block) or DONE --> OFF (sign-out, power off)
 *
 * Randomness per bus comes from its own stream (rng.h), so adding a bus changes no other. */
#include "fleet.h"

#include "error.h"
#include "motion.h"
#include "rng.h"
#include "roads.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum phase { PH_OFF, PH_PARKED, PH_LAYOVER, PH_DRIVE, PH_DWELL, PH_HALT, PH_DONE };

enum { T_VEH = 101, T_ZONES, T_CARDS, T_DRIVER };

#define BUS_CAPACITY 80
#define LIGHT_SPACING_M 650.0
#define LIGHT_RED_P 0.45
#define NO_TIME BUYT_TRUTH_NO_TIME

struct zone {
    double x, y, r;
};

struct veh {
    char id[40];
    char driver_id[16];
    char run_id[BUYT_NET_ID_MAX];
    uint8_t driver_uid[BUYT_FLEET_UID_BYTES];
    struct buyt_rng rng;
    int inst; /* -1: spare */
    int k;    /* trip index within the instance */
    const struct buyt_net_trip *trip;
    const struct buyt_net_pattern *pat;
    const struct buyt_net_shape *sh;
    int64_t base_ms;
    const char *date;
    struct buyt_motion mo;
    enum phase ph;
    int64_t until_ms;
    /* stops */
    int next;        /* next stop index of the pattern */
    bool next_halts; /* the bus will stop there */
    bool next_skip;  /* skipped (detour) */
    int board, alight, load;
    int64_t arr_ms;    /* arrival at the stop being served */
    int64_t trip_dep_ms; /* actual departure of the current trip, NO_TIME if unknown */
    int taps_left;
    int64_t next_tap_ms;
    /* traffic */
    double light_s, light_wait_s;
    bool light_red;
    double jam_s0, jam_s1, jam_f;
    double drv_factor, trip_factor;
    /* detour */
    double det_s0, det_s1, det_off;
    bool det_active;
    int64_t det_start_ms;
    /* power and driver */
    bool powered, signed_in;
    int64_t power_on_ms, signin_ms, signout_ms, power_off_ms;
    /* GNSS */
    double ex, ey, hdop_base, course_deg, rep_course;
    int64_t outage_until, degraded_until, next_outage, next_degraded, outage_start, degraded_start;
    double deg_sigma;
    bool in_zone;
    int64_t zone_start;
};

struct buyt_fleet {
    const struct buyt_simnet *net;
    struct buyt_fleet_config cfg;
    char prefix[24];
    struct buyt_fleet_sink sink;
    int n;
    struct veh *v;
    int64_t now_ms;
    int n_zones;
    struct zone *zones;
};

/* ------------------------------------------------------------------ helpers */

static void truth(struct buyt_fleet *f, const struct buyt_truth_row *r)
{
    if (f->sink.truth)
        f->sink.truth(f->sink.ud, r);
}

static struct buyt_truth_row row_for(const struct veh *v, enum buyt_truth_kind kind)
{
    struct buyt_truth_row r = {
        .kind = kind,
        .vehicle_id = v->id,
        .service_date = v->trip ? v->date : NULL,
        .trip_id = v->trip ? v->trip->id : NULL,
        .route_id = v->trip ? v->trip->route_id : NULL,
        .block_id = v->trip ? v->trip->block_id : NULL,
        .stop_sequence = -1,
        .start_ms = NO_TIME,
        .end_ms = NO_TIME,
        .sched_start_ms = NO_TIME,
        .sched_end_ms = NO_TIME,
        .boardings = -1,
        .alightings = -1,
    };
    return r;
}

static double local_s(const struct veh *v, int64_t t)
{
    /* GTFS seconds of the vehicle's service day ~ local time of day (no DST in Vietnam; off by
     * the day's DST shift elsewhere, harmless for a traffic profile) */
    return (double)(t - v->base_ms) / 1000.0;
}

static double demand(double local)
{
    double h = fmod(local / 3600.0, 24.0);
    if (h >= 6.5 && h < 9.0)
        return 2.2;
    if (h >= 16.5 && h < 19.0)
        return 2.0;
    if (h >= 9.0 && h < 16.5)
        return 1.0;
    return 0.5;
}

static void passenger_uid(struct buyt_fleet *f, struct veh *v, uint8_t uid[BUYT_FLEET_UID_BYTES])
{
    uint32_t card = buyt_rng_below(&v->rng, 60000);
    uint64_t h = buyt_rng_hash(f->cfg.seed ^ T_CARDS, card, 0);
    uid[0] = 0x3A;
    for (int i = 1; i < BUYT_FLEET_UID_BYTES; i++)
        uid[i] = (uint8_t)(h >> (8 * i));
}


/* ------------------------------------------------------------------ trips and stops */

static int64_t arr_ms(const struct buyt_fleet *f, const struct veh *v, int i)
{
    return v->base_ms + 1000LL * f->net->arr_s[v->trip->t0 + i];
}

static int64_t dep_ms(const struct buyt_fleet *f, const struct veh *v, int i)
{
    return v->base_ms + 1000LL * f->net->dep_s[v->trip->t0 + i];
}

static void stop_row(struct buyt_fleet *f, const struct veh *v, enum buyt_truth_kind kind, int i,
                     int64_t arr, int64_t dep, int board, int alight)
{
    struct buyt_truth_row r = row_for(v, kind);
    r.stop_sequence = f->net->seq[v->trip->t0 + i];
    r.stop_id = f->net->stops[v->pat->stops[i]].id;
    r.start_ms = arr;
    r.end_ms = dep;
    r.sched_start_ms = i > 0 ? arr_ms(f, v, i) : NO_TIME;
    r.sched_end_ms = i < v->pat->n_stops - 1 ? dep_ms(f, v, i) : NO_TIME;
    r.boardings = kind == BUYT_TRUTH_SKIP ? -1 : board;
    r.alightings = kind == BUYT_TRUTH_SKIP ? -1 : alight;
    truth(f, &r);
}

/* Decides what happens at stop i: served (with how many passengers), passed or skipped. */
static void plan_stop(struct buyt_fleet *f, struct veh *v, int64_t t)
{
    int i = v->next;
    v->next_skip = false;
    v->board = v->alight = 0;
    if (i >= v->pat->n_stops)
        return;
    if (i == v->pat->n_stops - 1) {
        v->next_halts = true;
        v->alight = v->load;
        return;
    }
    double d = v->pat->dist_m[i];
    if (v->det_off != 0 && d > v->det_s0 - 30 && d < v->det_s1 + 30) {
        v->next_halts = false;
        v->next_skip = true;
        return;
    }
    double w = 0.3 + 1.4 * buyt_rng_hash01(f->cfg.seed, 7, (uint64_t)v->pat->stops[i], 0);
    int b = buyt_rng_poisson(&v->rng, 1.4 * demand(local_s(v, t)) * w);
    int a = buyt_rng_poisson(&v->rng, v->load * 0.12);
    if (a > v->load)
        a = v->load;
    if (b > BUS_CAPACITY - v->load + a)
        b = BUS_CAPACITY - v->load + a;
    v->board = b;
    v->alight = a;
    v->next_halts = (a + b) > 0;
}

static void plan_light(struct veh *v, double from)
{
    v->light_s = from + fmax(120.0, buyt_rng_exp(&v->rng, LIGHT_SPACING_M));
    v->light_red = buyt_rng_uniform(&v->rng) < LIGHT_RED_P;
    v->light_wait_s = buyt_rng_range(&v->rng, 8, 45);
}

static void plan_jam(struct buyt_fleet *f, struct veh *v, double from, int64_t t)
{
    double peak = 1.0 / buyt_roads_tod_factor(local_s(v, t));
    double gap = f->cfg.faults ? buyt_rng_exp(&v->rng, 3500.0 / (peak * peak)) : 1e12;
    v->jam_s0 = from + gap;
    v->jam_s1 = v->jam_s0 + buyt_rng_range(&v->rng, 150, 800);
    v->jam_f = buyt_rng_range(&v->rng, 0.2, 0.5);
}

/* Puts the vehicle on trip k of its instance, standing at distance s, next stop `next`. */
static void set_trip(struct buyt_fleet *f, struct veh *v, int k, double s, int next, int64_t t)
{
    const struct buyt_net_instance *in = &f->net->instances[v->inst];
    v->k = k;
    v->trip = &f->net->trips[f->net->inst_trips[in->i0 + k]];
    v->pat = &f->net->patterns[v->trip->pattern];
    v->sh = &f->net->shapes[v->pat->shape];
    buyt_motion_init(&v->mo, v->sh, v->pat->limit_ms, s);
    v->next = next;
    v->trip_factor = 1.0 + 0.06 * buyt_rng_normal(&v->rng);
    v->trip_dep_ms = NO_TIME;
    v->det_off = 0;
    v->det_active = false;
    double len = v->sh->dist_m[v->sh->n - 1];
    if (f->cfg.faults && len > 3000 && buyt_rng_uniform(&v->rng) < f->cfg.detour_prob) {
        v->det_s0 = fmax(s + 300, len * buyt_rng_range(&v->rng, 0.2, 0.6));
        v->det_s1 = fmin(v->det_s0 + buyt_rng_range(&v->rng, 500, 1500), len - 400);
        if (v->det_s1 > v->det_s0 + 300) {
            double side = buyt_rng_uniform(&v->rng) < 0.5 ? -1 : 1;
            v->det_off = side * buyt_rng_range(&v->rng, 120, 250);
        }
    }
    plan_light(v, s);
    plan_jam(f, v, s, t);
    plan_stop(f, v, t);
}

static void start_layover(struct buyt_fleet *f, struct veh *v, int64_t t, int64_t until)
{
    (void)f;
    v->ph = PH_LAYOVER;
    v->until_ms = until;
    /* Passengers board at the terminal in the last minutes before departure. */
    double wait_min = fmin(10.0, (double)(until - t) / 60000.0);
    v->board = buyt_rng_poisson(&v->rng, (1.0 + wait_min * 0.8) * demand(local_s(v, t)));
    if (v->board > BUS_CAPACITY)
        v->board = BUS_CAPACITY;
    v->taps_left = v->board;
    v->next_tap_ms = until - 3000LL * v->board - 5000;
    if (v->next_tap_ms < t)
        v->next_tap_ms = t;
}

static void depart_first_stop(struct buyt_fleet *f, struct veh *v, int64_t t)
{
    v->load = v->board;
    stop_row(f, v, BUYT_TRUTH_STOP, 0, NO_TIME, t, v->board, 0);
    v->trip_dep_ms = t;
    v->next = 1;
    v->taps_left = 0;
    plan_stop(f, v, t);
    v->ph = PH_DRIVE;
}

static void end_block(struct buyt_fleet *f, struct veh *v, int64_t t)
{
    (void)f;
    v->ph = PH_DONE;
    v->signout_ms = t + (int64_t)buyt_rng_range(&v->rng, 60e3, 150e3);
    v->power_off_ms = v->signout_ms + (int64_t)buyt_rng_range(&v->rng, 120e3, 300e3);
}

static void arrive_last_stop(struct buyt_fleet *f, struct veh *v, int64_t t)
{
    int last = v->pat->n_stops - 1;
    stop_row(f, v, BUYT_TRUTH_STOP, last, t, NO_TIME, 0, v->load);
    struct buyt_truth_row r = row_for(v, BUYT_TRUTH_TRIP);
    r.start_ms = v->trip_dep_ms;
    r.end_ms = t;
    r.sched_start_ms = dep_ms(f, v, 0);
    r.sched_end_ms = arr_ms(f, v, last);
    truth(f, &r);
    v->load = 0;
    const struct buyt_net_instance *in = &f->net->instances[v->inst];
    if (v->k + 1 < in->n) {
        set_trip(f, v, v->k + 1, 0, 0, t);
        int64_t dep = dep_ms(f, v, 0), min_dep = t + 60000;
        start_layover(f, v, t, dep > min_dep ? dep : min_dep);
    } else {
        end_block(f, v, t);
    }
}

static void start_dwell(struct buyt_fleet *f, struct veh *v, int64_t t)
{
    int i = v->next;
    v->arr_ms = t;
    if (i == v->pat->n_stops - 1) {
        arrive_last_stop(f, v, t);
        return;
    }
    v->load += v->board - v->alight;
    double dwell = 4.0 + 2.0 * v->board + 1.2 * v->alight + 3.0;
    if (dwell < BUYT_FLEET_DWELL_MIN_S)
        dwell = BUYT_FLEET_DWELL_MIN_S;
    if (dwell > BUYT_FLEET_DWELL_MAX_S)
        dwell = BUYT_FLEET_DWELL_MAX_S;
    int64_t until = t + (int64_t)(dwell * 1000);
    if (v->pat->timepoint[i]) { /* early at a timepoint: wait until 30 s before schedule */
        int64_t target = dep_ms(f, v, i) - 30000;
        if (until < target)
            until += (int64_t)fmin((double)(target - until), BUYT_FLEET_HOLD_MAX_S * 1000);
    }
    v->until_ms = until;
    v->taps_left = 0;
    for (int b = 0; b < v->board; b++)
        if (buyt_rng_uniform(&v->rng) < 0.85)
            v->taps_left++;
    v->next_tap_ms = t + 4000;
    v->ph = PH_DWELL;
}

/* ------------------------------------------------------------------ GNSS */

static void true_position(const struct buyt_fleet *f, struct veh *v, double *x, double *y,
                          double *course)
{
    double dx, dy;
    int seg = v->mo.seg;
    buyt_net_shape_at(v->sh, v->mo.s_m, &seg, x, y, &dx, &dy);
    if (v->det_off != 0) {
        double s = v->mo.s_m;
        double ramp = fmin(1.0, fmax(0.0, (s - v->det_s0) / 80.0)) *
                      fmin(1.0, fmax(0.0, (v->det_s1 - s) / 80.0));
        *x += -dy * v->det_off * ramp;
        *y += dx * v->det_off * ramp;
    }
    (void)f;
    *course = fmod(atan2(dx, dy) * 180.0 / M_PI + 360.0, 360.0);
}

static bool in_zone(const struct buyt_fleet *f, double x, double y)
{
    for (int i = 0; i < f->n_zones; i++)
        if (hypot(x - f->zones[i].x, y - f->zones[i].y) < f->zones[i].r)
            return true;
    return false;
}

static void interval_row(struct buyt_fleet *f, struct veh *v, enum buyt_truth_kind k,
                         int64_t start, int64_t end)
{
    struct buyt_truth_row r = row_for(v, k);
    if (v->ph == PH_OFF || v->ph == PH_DONE || v->ph == PH_PARKED) {
        r.trip_id = r.route_id = r.block_id = r.service_date = NULL;
    }
    r.start_ms = start;
    r.end_ms = end;
    truth(f, &r);
}

static void gnss_epoch(struct buyt_fleet *f, struct veh *v, int64_t t)
{
    struct buyt_fleet_epoch e = {.time_ms = t};
    double x, y, course;
    true_position(f, v, &x, &y, &course);
    double speed = v->mo.v_ms;
    if (speed > 0.3)
        v->course_deg = course;
    /* connectivity */
    bool zone = f->n_zones && in_zone(f, x, y);
    if (zone && !v->in_zone)
        v->zone_start = t;
    if (!zone && v->in_zone)
        interval_row(f, v, BUYT_TRUTH_DEADZONE, v->zone_start, t);
    v->in_zone = zone;
    e.connected = !zone;
    /* outages and degraded periods */
    if (f->cfg.faults) {
        if (t >= v->next_outage && v->outage_until < t) {
            v->outage_start = t;
            v->outage_until = t + 1000 * (int64_t)buyt_rng_range(&v->rng, 5, 40);
            v->next_outage = v->outage_until + (int64_t)buyt_rng_exp(&v->rng, 60 * 60e3);
        }
        if (t >= v->next_degraded && v->degraded_until < t) {
            v->degraded_start = t;
            v->degraded_until = t + 1000 * (int64_t)buyt_rng_range(&v->rng, 10, 60);
            v->deg_sigma = buyt_rng_range(&v->rng, 12, 35);
            v->next_degraded = v->degraded_until + (int64_t)buyt_rng_exp(&v->rng, 45 * 60e3);
        }
    }
    bool outage = t < v->outage_until, degraded = t < v->degraded_until;
    if (v->outage_until && t == v->outage_until)
        interval_row(f, v, BUYT_TRUTH_GNSS_OUTAGE, v->outage_start, t);
    if (v->degraded_until && t == v->degraded_until)
        interval_row(f, v, BUYT_TRUTH_GNSS_DEGRADED, v->degraded_start, t);
    double sigma = degraded ? v->deg_sigma : 2.5, rho = 0.95;
    double k = sigma * sqrt(1 - rho * rho);
    v->ex = rho * v->ex + k * buyt_rng_normal(&v->rng);
    v->ey = rho * v->ey + k * buyt_rng_normal(&v->rng);
    double nx = x + v->ex, ny = y + v->ey;
    if (f->cfg.faults && buyt_rng_uniform(&v->rng) < 1.0 / 4000) { /* multipath spike */
        double a = buyt_rng_range(&v->rng, 0, 2 * M_PI), r = buyt_rng_range(&v->rng, 60, 200);
        nx += r * cos(a);
        ny += r * sin(a);
        interval_row(f, v, BUYT_TRUTH_GNSS_DEGRADED, t, t);
    }
    e.valid = !outage;
    buyt_geo_from_xy(&f->net->frame, nx, ny, &e.lat, &e.lon);
    buyt_geo_from_xy(&f->net->frame, x, y, &e.true_lat, &e.true_lon);
    if (speed > 0.3) {
        e.speed_ms = fmax(0.0, speed + 0.1 * buyt_rng_normal(&v->rng));
        v->rep_course = fmod(v->course_deg + 1.5 * buyt_rng_normal(&v->rng) + 360.0, 360.0);
    } else {
        e.speed_ms = fabs(0.05 * buyt_rng_normal(&v->rng));
    }
    e.course_deg = v->rep_course;
    e.alt_m = 12.0 + 1.5 * buyt_rng_normal(&v->rng);
    e.hdop = v->hdop_base + (degraded ? 3.0 : 0.0) + 0.05 * buyt_rng_normal(&v->rng);
    if (e.hdop < 0.5)
        e.hdop = 0.5;
    e.satellites = degraded ? 5 + (int)buyt_rng_below(&v->rng, 3) : 9 + (int)buyt_rng_below(&v->rng, 5);
    e.true_speed_ms = speed;
    e.limit_ms = buyt_motion_limit_at(&v->mo, v->mo.s_m);
    e.in_service = v->ph == PH_DRIVE || v->ph == PH_DWELL || v->ph == PH_HALT;
    if (f->sink.epoch)
        f->sink.epoch(f->sink.ud, (int)(v - f->v), &e);
}

/* ------------------------------------------------------------------ one step */

static void card(struct buyt_fleet *f, struct veh *v, const struct buyt_fleet_card *c)
{
    if (f->sink.card)
        f->sink.card(f->sink.ud, (int)(v - f->v), c);
}

static void driver_card(struct buyt_fleet *f, struct veh *v, int64_t t, int kind)
{
    struct buyt_fleet_card c = {.time_ms = t, .role = BUYT_FLEET_DRIVER, .driver_event = kind,
                                .driver_id = v->driver_id, .run_id = v->run_id};
    memcpy(c.uid, v->driver_uid, sizeof c.uid);
    card(f, v, &c);
}

static void drive(struct buyt_fleet *f, struct veh *v, int64_t t, double dt)
{
    const struct buyt_net_pattern *p = v->pat;
    double s = v->mo.s_m;
    double halt = v->sh->dist_m[v->sh->n - 1];
    if (v->next < p->n_stops && v->next_halts)
        halt = p->dist_m[v->next];
    bool light_halt = false;
    if (v->light_red && v->light_s > s && v->light_s < halt - 40) {
        halt = v->light_s;
        light_halt = true;
    }
    double cruise = buyt_roads_tod_factor(local_s(v, t)) * v->drv_factor * v->trip_factor;
    if (s >= v->jam_s0 && s < v->jam_s1)
        cruise *= v->jam_f;
    if (s >= v->jam_s1)
        plan_jam(f, v, s, t);
    if (cruise > 1.0)
        cruise = 1.0;
    if (cruise < 0.1)
        cruise = 0.1;
    int halted = buyt_motion_step(&v->mo, dt, halt, cruise);
    double ns = v->mo.s_m;
    /* detour truth */
    if (v->det_off != 0 && !v->det_active && ns >= v->det_s0) {
        v->det_active = true;
        v->det_start_ms = t;
    }
    if (v->det_active && ns >= v->det_s1) {
        v->det_active = false;
        v->det_off = 0;
        interval_row(f, v, BUYT_TRUTH_DETOUR, v->det_start_ms, t);
    }
    /* stops passed without halting */
    while (v->next < p->n_stops - 1 && !v->next_halts && ns >= p->dist_m[v->next]) {
        if (v->next_skip)
            stop_row(f, v, BUYT_TRUTH_SKIP, v->next, NO_TIME, NO_TIME, -1, -1);
        else
            stop_row(f, v, BUYT_TRUTH_STOP, v->next, t, t, 0, 0);
        v->next++;
        plan_stop(f, v, t);
    }
    if (ns >= v->light_s && !(halted && light_halt))
        plan_light(v, ns);
    if (!halted)
        return;
    if (light_halt) {
        v->ph = PH_HALT;
        v->until_ms = t + (int64_t)(v->light_wait_s * 1000);
        plan_light(v, ns); /* the next one, further on */
        return;
    }
    if (v->next < p->n_stops)
        start_dwell(f, v, t);
}

static void step(struct buyt_fleet *f, struct veh *v, int64_t t)
{
    const double dt = BUYT_FLEET_STEP_MS / 1000.0;
    if (!v->powered) {
        if (v->ph == PH_OFF && v->power_on_ms && t >= v->power_on_ms && !v->power_off_ms) {
            v->powered = true;
            if (f->sink.power)
                f->sink.power(f->sink.ud, (int)(v - f->v), t, true);
            /* a bus placed mid-trip drives on; others wait at their terminal */
            v->ph = v->inst < 0 ? PH_PARKED : (v->trip && v->next > 0) ? PH_DRIVE : PH_LAYOVER;
        } else {
            return;
        }
    }
    if (v->power_off_ms && t >= v->power_off_ms) {
        v->powered = false;
        v->ph = PH_OFF;
        if (f->sink.power)
            f->sink.power(f->sink.ud, (int)(v - f->v), t, false);
        return;
    }
    if (!v->signed_in && v->signin_ms && t >= v->signin_ms && !v->signout_ms) {
        v->signed_in = true;
        driver_card(f, v, t, 1);
    }
    if (v->signed_in && v->signout_ms && t >= v->signout_ms) {
        v->signed_in = false;
        driver_card(f, v, t, 2);
    }
    switch (v->ph) {
    case PH_LAYOVER:
    case PH_DWELL:
        while (v->taps_left > 0 && t >= v->next_tap_ms) {
            struct buyt_fleet_card c = {.time_ms = v->next_tap_ms, .role = BUYT_FLEET_PASSENGER};
            passenger_uid(f, v, c.uid);
            card(f, v, &c);
            v->taps_left--;
            v->next_tap_ms += 2000 + (int64_t)buyt_rng_below(&v->rng, 1500);
        }
        if (t >= v->until_ms) {
            if (v->ph == PH_LAYOVER) {
                depart_first_stop(f, v, t);
            } else {
                stop_row(f, v, BUYT_TRUTH_STOP, v->next, v->arr_ms, t, v->board, v->alight);
                v->next++;
                plan_stop(f, v, t);
                v->ph = PH_DRIVE;
            }
        }
        break;
    case PH_HALT:
        if (t >= v->until_ms)
            v->ph = PH_DRIVE;
        break;
    case PH_DRIVE:
        drive(f, v, t, dt);
        break;
    default:
        break;
    }
    if (t % 1000 == 0)
        gnss_epoch(f, v, t);
}

/* ------------------------------------------------------------------ setup */

static void place(struct buyt_fleet *f, struct veh *v, int64_t t)
{
    const struct buyt_simnet *net = f->net;
    const struct buyt_net_instance *in = &net->instances[v->inst];
    v->base_ms = net->days[in->day].base_ms;
    v->date = net->days[in->day].date;
    int k = 0;
    while (k < in->n - 1 &&
           v->base_ms + 1000LL * net->trips[net->inst_trips[in->i0 + k]].end_s <= t)
        k++;
    set_trip(f, v, k, 0, 0, t);
    int64_t dep0 = dep_ms(f, v, 0);
    if (t < dep0) { /* before this trip: at its first terminal */
        if (k == 0) {
            v->power_on_ms = dep0 - (int64_t)buyt_rng_range(&v->rng, 5 * 60e3, 12 * 60e3);
            if (v->power_on_ms < t)
                v->power_on_ms = t;
            v->signin_ms = v->power_on_ms + (int64_t)buyt_rng_range(&v->rng, 30e3, 150e3);
            if (v->signin_ms > dep0 - 20000)
                v->signin_ms = dep0 - 20000 > t ? dep0 - 20000 : t;
            v->ph = PH_OFF;
            start_layover(f, v, v->power_on_ms, dep0);
            v->ph = PH_OFF;
        } else {
            v->power_on_ms = t;
            v->signin_ms = t + 1000;
            start_layover(f, v, t, dep0);
            v->ph = PH_OFF;
        }
        return;
    }
    /* In the middle of trip k: where the schedule says, standing (as after a red light). */
    const struct buyt_net_pattern *p = v->pat;
    int i = 0;
    while (i + 1 < p->n_stops && arr_ms(f, v, i + 1) <= t)
        i++;
    double s = p->dist_m[i];
    if (i + 1 < p->n_stops && t > dep_ms(f, v, i)) {
        double span = (double)(arr_ms(f, v, i + 1) - dep_ms(f, v, i));
        double u = span > 0 ? (double)(t - dep_ms(f, v, i)) / span : 0;
        s = p->dist_m[i] + u * (p->dist_m[i + 1] - p->dist_m[i]);
    }
    set_trip(f, v, k, s, i + 1, t);
    v->load = (int)buyt_rng_below(&v->rng, 30);
    v->power_on_ms = t;
    v->signin_ms = t + 1000;
    v->ph = PH_OFF; /* DRIVE at power-on (next > 0) */
    v->until_ms = 0;
    v->taps_left = 0;
}

struct cand {
    int inst;
    const char *route;
    bool active;
    int64_t start;
};

static int cmp_cand(const void *pa, const void *pb)
{
    const struct cand *a = pa, *b = pb;
    int c = strcmp(a->route, b->route);
    if (c)
        return c;
    if (a->active != b->active)
        return a->active ? -1 : 1;
    return a->start < b->start ? -1 : a->start > b->start;
}

static int cmp_cand_start(const void *pa, const void *pb)
{
    const struct cand *a = pa, *b = pb;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    return a->inst - b->inst;
}

/* Chooses instances: active ones round-robin over routes, then upcoming ones by start. */
static int assign(struct buyt_fleet *f, int *out)
{
    const struct buyt_simnet *net = f->net;
    int64_t t = f->cfg.start_ms;
    struct cand *c = malloc((size_t)(net->n_instances ? net->n_instances : 1) * sizeof *c);
    if (!c)
        return BUYT_ENOMEM;
    int n = 0;
    for (int i = 0; i < net->n_instances; i++) {
        const struct buyt_net_instance *in = &net->instances[i];
        if (in->end_ms <= t || in->start_ms >= f->cfg.horizon_ms)
            continue;
        c[n++] = (struct cand){i, net->trips[net->inst_trips[in->i0]].route_id,
                               in->start_ms <= t, in->start_ms};
    }
    qsort(c, (size_t)n, sizeof *c, cmp_cand);
    int got = 0;
    bool *taken = calloc((size_t)(n ? n : 1), 1);
    if (!taken) {
        free(c);
        return BUYT_ENOMEM;
    }
    /* round-robin over routes, active instances only */
    for (int round = 0; got < f->n; round++) {
        bool any = false;
        for (int i = 0; i < n && got < f->n;) {
            int j = i;
            while (j < n && !strcmp(c[j].route, c[i].route))
                j++;
            if (i + round < j && c[i + round].active) {
                out[got++] = c[i + round].inst;
                taken[i + round] = true;
                any = true;
            }
            i = j;
        }
        if (!any)
            break;
    }
    /* then upcoming ones, soonest first */
    int m = 0;
    for (int i = 0; i < n; i++)
        if (!taken[i] && !c[i].active)
            c[m++] = c[i];
    qsort(c, (size_t)m, sizeof *c, cmp_cand_start);
    for (int i = 0; i < m && got < f->n; i++)
        out[got++] = c[i].inst;
    while (got < f->n)
        out[got++] = -1; /* spares */
    free(taken);
    free(c);
    return 0;
}

void buyt_fleet_config_init(struct buyt_fleet_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->seed = 1;
    cfg->vehicles = 10;
    cfg->vehicle_prefix = "29B-";
    cfg->first_number = 10001;
    cfg->faults = true;
    cfg->detour_prob = 0.04;
    cfg->deadzones = 6;
}

int buyt_fleet_new(const struct buyt_simnet *net, const struct buyt_fleet_config *cfg,
                   const struct buyt_fleet_sink *sink, struct buyt_fleet **out)
{
    *out = NULL;
    if (cfg->vehicles < 1 || cfg->vehicles > 1000000 || !cfg->vehicle_prefix ||
        strlen(cfg->vehicle_prefix) > 20 || net->n_patterns == 0)
        return BUYT_EINVAL;
    struct buyt_fleet *f = calloc(1, sizeof *f);
    if (!f)
        return BUYT_ENOMEM;
    f->net = net;
    f->cfg = *cfg;
    snprintf(f->prefix, sizeof f->prefix, "%s", cfg->vehicle_prefix);
    f->cfg.vehicle_prefix = f->prefix;
    if (f->cfg.horizon_ms <= f->cfg.start_ms)
        f->cfg.horizon_ms = f->cfg.start_ms + 24 * 3600 * 1000LL;
    f->sink = *sink;
    f->n = cfg->vehicles;
    f->now_ms = cfg->start_ms - cfg->start_ms % BUYT_FLEET_STEP_MS;
    f->v = calloc((size_t)f->n, sizeof *f->v);
    /* Assignments are made for skip + n vehicles; this process takes the last n, so two
     * processes (e.g. the demo's real agents and its direct fleet) never run the same block. */
    int skip = cfg->skip_blocks > 0 ? cfg->skip_blocks : 0;
    int *all = malloc((size_t)(f->n + skip) * sizeof *all);
    f->n += skip;
    int arc = f->v && all ? assign(f, all) : BUYT_ENOMEM;
    f->n -= skip;
    if (arc) {
        free(all);
        buyt_fleet_free(f);
        return BUYT_ENOMEM;
    }
    int *inst = all + skip;
    /* dead zones around stops that buses pass */
    struct buyt_rng zr;
    buyt_rng_init(&zr, cfg->seed, T_ZONES, 0);
    f->n_zones = cfg->faults ? cfg->deadzones : 0;
    f->zones = calloc((size_t)(f->n_zones ? f->n_zones : 1), sizeof *f->zones);
    if (!f->zones) {
        free(all);
        buyt_fleet_free(f);
        return BUYT_ENOMEM;
    }
    for (int i = 0; i < f->n_zones; i++) {
        /* around a stop along the way, away from terminals (a bus parked for an hour in a
         * dead zone would say nothing all that time) */
        for (int attempt = 0; attempt < 50; attempt++) {
            const struct buyt_net_pattern *p =
                &net->patterns[buyt_rng_below(&zr, (uint32_t)net->n_patterns)];
            if (p->n_stops < 3)
                continue;
            const struct buyt_net_stop *s =
                &net->stops[p->stops[1 + buyt_rng_below(&zr, (uint32_t)p->n_stops - 2)]];
            struct zone z; /* one draw per statement: initializer order is unspecified */
            z.x = s->x_m + buyt_rng_range(&zr, -100, 100);
            z.y = s->y_m + buyt_rng_range(&zr, -100, 100);
            z.r = buyt_rng_range(&zr, 250, 500);
            bool near_terminal = false;
            for (int k = 0; k < net->n_patterns && !near_terminal; k++) {
                const struct buyt_net_pattern *q = &net->patterns[k];
                const struct buyt_net_stop *a = &net->stops[q->stops[0]];
                const struct buyt_net_stop *b = &net->stops[q->stops[q->n_stops - 1]];
                near_terminal = hypot(a->x_m - z.x, a->y_m - z.y) < z.r + 150 ||
                                hypot(b->x_m - z.x, b->y_m - z.y) < z.r + 150;
            }
            if (!near_terminal) {
                f->zones[i] = z;
                break;
            }
        }
    }
    for (int i = 0; i < f->n; i++) {
        struct veh *v = &f->v[i];
        snprintf(v->id, sizeof v->id, "%s%d", f->prefix, cfg->first_number + i);
        snprintf(v->driver_id, sizeof v->driver_id, "D%05d", i + 1);
        uint64_t h = buyt_rng_hash(cfg->seed ^ T_DRIVER, (uint64_t)i, 0);
        v->driver_uid[0] = 0x4D;
        for (int b = 1; b < BUYT_FLEET_UID_BYTES; b++)
            v->driver_uid[b] = (uint8_t)(h >> (8 * b));
        buyt_rng_init(&v->rng, cfg->seed, T_VEH, (uint64_t)i);
        v->drv_factor = buyt_rng_range(&v->rng, 0.88, 1.0);
        v->hdop_base = buyt_rng_range(&v->rng, 0.7, 1.2);
        v->next_outage = cfg->start_ms + (int64_t)buyt_rng_exp(&v->rng, 60 * 60e3);
        v->next_degraded = cfg->start_ms + (int64_t)buyt_rng_exp(&v->rng, 45 * 60e3);
        v->inst = inst[i];
        if (v->inst >= 0) {
            place(f, v, f->now_ms);
            if (buyt_rng_uniform(&v->rng) < 0.5) /* half the buses have a keypad */
                snprintf(v->run_id, sizeof v->run_id, "%s", v->trip->block_id);
        } else {
            /* spare: parked at the start of some pattern */
            const struct buyt_net_pattern *p = &net->patterns[(unsigned)i % (unsigned)net->n_patterns];
            v->sh = &net->shapes[p->shape];
            v->pat = p;
            buyt_motion_init(&v->mo, v->sh, p->limit_ms, 0);
            v->power_on_ms = f->now_ms;
            v->ph = PH_OFF;
        }
    }
    free(all);
    *out = f;
    return 0;
}

void buyt_fleet_advance(struct buyt_fleet *f, int64_t to_ms)
{
    int64_t from = f->now_ms;
    for (int i = 0; i < f->n; i++) {
        struct veh *v = &f->v[i];
        for (int64_t t = from + BUYT_FLEET_STEP_MS; t <= to_ms; t += BUYT_FLEET_STEP_MS) {
            if (v->ph == PH_OFF && v->power_off_ms)
                break; /* shift over */
            step(f, v, t);
        }
    }
    while (f->now_ms + BUYT_FLEET_STEP_MS <= to_ms)
        f->now_ms += BUYT_FLEET_STEP_MS;
}

void buyt_fleet_finish(struct buyt_fleet *f)
{
    int64_t t = f->now_ms;
    for (int i = 0; i < f->n; i++) {
        struct veh *v = &f->v[i];
        if (v->in_zone)
            interval_row(f, v, BUYT_TRUTH_DEADZONE, v->zone_start, t);
        if (v->det_active)
            interval_row(f, v, BUYT_TRUTH_DETOUR, v->det_start_ms, t);
        if (v->outage_until > t && v->outage_start <= t)
            interval_row(f, v, BUYT_TRUTH_GNSS_OUTAGE, v->outage_start, t);
        if (v->degraded_until > t && v->degraded_start <= t)
            interval_row(f, v, BUYT_TRUTH_GNSS_DEGRADED, v->degraded_start, t);
        v->in_zone = v->det_active = false;
    }
}

int64_t buyt_fleet_now(const struct buyt_fleet *f) { return f->now_ms; }
int buyt_fleet_count(const struct buyt_fleet *f) { return f->n; }
const char *buyt_fleet_vehicle_id(const struct buyt_fleet *f, int i) { return f->v[i].id; }
const char *buyt_fleet_driver_id(const struct buyt_fleet *f, int i) { return f->v[i].driver_id; }

void buyt_fleet_driver_uid(const struct buyt_fleet *f, int i, uint8_t uid[BUYT_FLEET_UID_BYTES])
{
    memcpy(uid, f->v[i].driver_uid, BUYT_FLEET_UID_BYTES);
}

const char *buyt_fleet_block_id(const struct buyt_fleet *f, int i)
{
    return f->v[i].inst >= 0 && f->v[i].trip ? f->v[i].trip->block_id : "";
}

bool buyt_fleet_powered(const struct buyt_fleet *f, int i) { return f->v[i].powered; }

void buyt_fleet_free(struct buyt_fleet *f)
{
    if (!f)
        return;
    free(f->v);
    free(f->zones);
    free(f);
}
