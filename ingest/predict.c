/* Arrival predictions: learned segment statistics, per-vehicle trip predictions, block chains.
 * See predict.h for the model and docs/PREDICTION.md for the measurements. */
#include "predict.h"

#include "error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE BUYT_NETWORK_NONE
#define NCELLS (BUYT_PREDICT_BANDS * BUYT_PREDICT_DAYTYPES)
#define REGIME_RUN 5        /* outliers in a row on one side that mean the world changed */
#define CHAIN_MOVE_MS 30000 /* re-predict the block's later trips when the end moves this */
#define CHAIN_AGE_MS 60000  /* ... or when they are this old */
#define MAX_TRAVEL_S 3600.0 /* a longer stop-to-stop time is not a traversal */
#define MAX_SPEED_MPS 40.0  /* a faster one is a detection error */
#define MAX_DWELL_S 1800.0
#define BLEND_W0 0.3 /* weight of the last vehicle before its errors are learned */

/* One statistics cell: (segment or stop, band, day type). */
struct cell {
    float mean_s, var_s2;      /* EW mean and variance of the samples */
    float var_last_s2, cov_s2; /* EW (x - L)^2 and (x - H)(x - L) when L was fresh */
    uint32_t n, n_last;
    int64_t updated_ms;
    uint8_t run_hi, run_lo; /* consecutive outliers above / below */
    bool dirty;             /* changed since the last snapshot */
};

/* A segment (TRAVEL: two stops) or a stop (DWELL), keyed by GTFS stop ids. */
struct seg {
    char *from;     /* owned: "from\0to\0" in one allocation */
    const char *to; /* into `from` */
    uint32_t hnext; /* hash chain */
    uint8_t kind;
    float last_s;    /* TRAVEL: the last traversal seen */
    int64_t last_ms; /* when it ended (0: none) */
    float kal_e;     /* KALMAN: the filter's error, s^2 */
    struct cell c[NCELLS];
};

/* The predicted stops of one trip instance for one vehicle. */
struct slot {
    uint32_t trip, vehicle;
    uint32_t from, n, cap; /* predicted stops are [from, n) */
    uint32_t next_free;
    bool used, on_trip;
    int64_t *eta_ms; /* cap entries */
    uint8_t *src;
    uint16_t *sd_s; /* standard deviation of each eta from learned errors, s; 0: unknown */
};

struct veh {
    uint32_t trip; /* current trip, NONE */
    uint32_t slot[1 + BUYT_PREDICT_CHAIN_MAX];
    uint32_t n_slot; /* slot[0]: the current trip (NONE once completed); then the chain */
    int64_t fix_ms;
    double dist_m;
    uint32_t next_stop;
    bool off_route, completed;
    uint32_t zone_k; /* stop the bus stands at (NONE), since zone_ms */
    int64_t zone_ms;
    uint32_t term_trip; /* trip whose last stop the bus reached at term_ms */
    int64_t term_ms;
    int64_t chain_end_ms, chain_made_ms; /* the end of the trip the chain was computed from */
    uint32_t ev_trip, ev_k; /* the vehicle's last stop event, and its departure (0: unknown) */
    int64_t ev_dep_ms;
    uint32_t left_trip, left_k; /* the last stop the detector saw the bus leave */
    char label[BUYT_PREDICT_LABEL];
};

struct buyt_predict {
    struct buyt_predict_config cfg;
    const struct buyt_network *net;
    /* statistics */
    struct seg *segs;
    uint32_t n_segs, cap_segs;
    uint32_t *hbucket; /* heads of the hash chains */
    uint32_t hmask;
    /* mapping of the bound network */
    uint32_t *ps_seg;     /* per pattern stop: TRAVEL segment to the next stop (NONE: last) */
    uint32_t *stop_dwell; /* per network stop: DWELL entry */
    uint32_t *trip_slot;  /* per trip: slot, NONE */
    uint8_t *cancelled;   /* per trip */
    /* predictions */
    struct slot *slots;
    uint32_t n_slots, cap_slots, free_slot, live;
    struct veh *veh;
    uint32_t n_veh;
    uint32_t sample_cursor;
    struct buyt_predict_counters ctr;
};

void buyt_predict_config_default(struct buyt_predict_config *cfg)
{
    *cfg = (struct buyt_predict_config){
        .model = BUYT_PREDICT_BLEND,
        .min_samples = 3,
        .alpha_min = 0.05,
        .outlier_lo = 0.5,
        .outlier_hi = 2.5,
        .last_fresh_s = 1800,
        .min_layover_s = 120,
        .chain_horizon_s = 5400,
        .at_stop_m = 30,
        .kalman_e0 = 100,
        .early_z = 1.0,
    };
}

static bool config_ok(const struct buyt_predict_config *c)
{
    return (c->model == BUYT_PREDICT_BLEND || c->model == BUYT_PREDICT_KALMAN) &&
           c->min_samples >= 1 && c->alpha_min > 0 && c->alpha_min <= 1 && c->outlier_lo > 0 &&
           c->outlier_lo < 1 && c->outlier_hi > 1 && c->last_fresh_s >= 0 &&
           c->min_layover_s >= 0 && c->chain_horizon_s >= 0 && c->at_stop_m >= 0 &&
           c->kalman_e0 >= 0 && c->early_z >= 0 && c->early_z <= 3;
}

int buyt_predict_new(const struct buyt_predict_config *cfg, struct buyt_predict **out)
{
    *out = NULL;
    struct buyt_predict_config c;
    if (cfg)
        c = *cfg;
    else
        buyt_predict_config_default(&c);
    if (!config_ok(&c))
        return BUYT_EINVAL;
    struct buyt_predict *p = calloc(1, sizeof *p);
    if (!p)
        return BUYT_ENOMEM;
    p->cfg = c;
    p->hmask = 1023;
    p->hbucket = malloc((p->hmask + 1) * sizeof *p->hbucket);
    if (!p->hbucket) {
        free(p);
        return BUYT_ENOMEM;
    }
    memset(p->hbucket, 0xff, (p->hmask + 1) * sizeof *p->hbucket);
    p->free_slot = NONE;
    *out = p;
    return 0;
}

static void unbind(struct buyt_predict *p)
{
    free(p->ps_seg);
    free(p->stop_dwell);
    free(p->trip_slot);
    free(p->cancelled);
    p->ps_seg = p->stop_dwell = p->trip_slot = NULL;
    p->cancelled = NULL;
    p->net = NULL;
}

void buyt_predict_free(struct buyt_predict *p)
{
    if (!p)
        return;
    unbind(p);
    for (uint32_t i = 0; i < p->n_segs; i++)
        free(p->segs[i].from);
    free(p->segs);
    free(p->hbucket);
    for (uint32_t i = 0; i < p->n_slots; i++) {
        free(p->slots[i].eta_ms);
        free(p->slots[i].src);
        free(p->slots[i].sd_s);
    }
    free(p->slots);
    free(p->veh);
    free(p);
}

/* ---- time bands -------------------------------------------------------------------------- */

uint32_t buyt_predict_band(int32_t local_s)
{
    static const uint8_t band_of_hour[24] = {0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 3,
                                             3, 3, 4, 4, 5, 5, 5, 6, 6, 6, 7, 7};
    int32_t s = local_s % 86400;
    if (s < 0)
        s += 86400;
    return band_of_hour[s / 3600];
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Rounds a non-negative duration in ms (llround is a libm call in the hot loop). */
static inline int64_t ms_round(double ms)
{
    return (int64_t)(ms + 0.5);
}

uint32_t buyt_predict_daytype(int64_t day_start_ms)
{
    /* The service date is the date of its noon, within 14 h of UTC noon of the same date. */
    int64_t day = floor_div(day_start_ms + 12 * 3600000LL, 86400000LL);
    int64_t wd = ((day + 4) % 7 + 7) % 7; /* 1970-01-01 was a Thursday; 0 = Sunday */
    return wd == 6 ? 1u : wd == 0 ? 2u : 0u;
}

/* Band of instant t on a trip of the service day starting at day_start_ms. */
static uint32_t band_at(int64_t day_start_ms, int64_t t_ms)
{
    return buyt_predict_band((int32_t)(floor_div(t_ms - day_start_ms, 1000) % 86400));
}

/* ---- the statistics table ---------------------------------------------------------------- */

static uint32_t key_hash(uint8_t kind, const char *from, const char *to)
{
    uint32_t h = 2166136261u ^ kind;
    h *= 16777619u;
    for (const unsigned char *s = (const unsigned char *)from; *s; s++)
        h = (h ^ *s) * 16777619u;
    h = (h ^ 0xffu) * 16777619u;
    for (const unsigned char *s = (const unsigned char *)to; *s; s++)
        h = (h ^ *s) * 16777619u;
    return h;
}

static uint32_t seg_find(const struct buyt_predict *p, uint8_t kind, const char *from,
                         const char *to)
{
    for (uint32_t i = p->hbucket[key_hash(kind, from, to) & p->hmask]; i != NONE;
         i = p->segs[i].hnext) {
        const struct seg *s = &p->segs[i];
        if (s->kind == kind && !strcmp(s->from, from) && !strcmp(s->to, to))
            return i;
    }
    return NONE;
}

static int rehash(struct buyt_predict *p)
{
    uint32_t nb = (p->hmask + 1) * 2;
    uint32_t *b = malloc(nb * sizeof *b);
    if (!b)
        return BUYT_ENOMEM;
    memset(b, 0xff, nb * sizeof *b);
    for (uint32_t i = 0; i < p->n_segs; i++) {
        struct seg *s = &p->segs[i];
        uint32_t h = key_hash(s->kind, s->from, s->to) & (nb - 1);
        s->hnext = b[h];
        b[h] = i;
    }
    free(p->hbucket);
    p->hbucket = b;
    p->hmask = nb - 1;
    return 0;
}

/* The entry for (kind, from, to), created empty if new. *idx = its index. */
static int seg_intern(struct buyt_predict *p, uint8_t kind, const char *from, const char *to,
                      uint32_t *idx)
{
    uint32_t i = seg_find(p, kind, from, to);
    if (i != NONE) {
        *idx = i;
        return 0;
    }
    if (p->n_segs == p->cap_segs) {
        uint32_t nc = p->cap_segs ? p->cap_segs * 2 : 256;
        struct seg *ns = realloc(p->segs, nc * sizeof *ns);
        if (!ns)
            return BUYT_ENOMEM;
        p->segs = ns;
        p->cap_segs = nc;
    }
    if (p->n_segs + 1 > (p->hmask + 1) / 4 * 3 && rehash(p))
        return BUYT_ENOMEM;
    size_t lf = strlen(from), lt = strlen(to);
    char *key = malloc(lf + lt + 2);
    if (!key)
        return BUYT_ENOMEM;
    memcpy(key, from, lf + 1);
    memcpy(key + lf + 1, to, lt + 1);
    struct seg *s = &p->segs[p->n_segs];
    memset(s, 0, sizeof *s);
    s->from = key;
    s->to = key + lf + 1;
    s->kind = kind;
    s->kal_e = (float)p->cfg.kalman_e0;
    uint32_t h = key_hash(kind, from, to) & p->hmask;
    s->hnext = p->hbucket[h];
    p->hbucket[h] = p->n_segs;
    *idx = p->n_segs++;
    p->ctr.segments = p->n_segs;
    return 0;
}

/* ---- network binding --------------------------------------------------------------------- */

static void vehicle_clear(struct veh *v)
{
    char label[BUYT_PREDICT_LABEL];
    memcpy(label, v->label, sizeof label);
    memset(v, 0, sizeof *v);
    memcpy(v->label, label, sizeof label);
    v->trip = v->zone_k = v->term_trip = v->ev_trip = v->left_trip = NONE;
}

int buyt_predict_set_network(struct buyt_predict *p, const struct buyt_network *net)
{
    unbind(p);
    for (uint32_t i = 0; i < p->n_slots; i++) {
        p->slots[i].used = false;
        p->slots[i].next_free = i + 1 < p->n_slots ? i + 1 : NONE;
    }
    p->free_slot = p->n_slots ? 0 : NONE;
    p->live = 0;
    for (uint32_t i = 0; i < p->n_veh; i++)
        vehicle_clear(&p->veh[i]);
    if (!net)
        return 0;
    uint32_t n_ps = 0;
    for (uint32_t i = 0; i < net->n_patterns; i++)
        if (net->patterns[i].first + net->patterns[i].n_stops > n_ps)
            n_ps = net->patterns[i].first + net->patterns[i].n_stops;
    p->ps_seg = malloc((n_ps ? n_ps : 1) * sizeof *p->ps_seg);
    p->stop_dwell = malloc((net->n_stops ? net->n_stops : 1) * sizeof *p->stop_dwell);
    p->trip_slot = malloc((net->n_trips ? net->n_trips : 1) * sizeof *p->trip_slot);
    p->cancelled = calloc(net->n_trips ? net->n_trips : 1, 1);
    if (!p->ps_seg || !p->stop_dwell || !p->trip_slot || !p->cancelled)
        goto nomem;
    memset(p->ps_seg, 0xff, (n_ps ? n_ps : 1) * sizeof *p->ps_seg);
    memset(p->stop_dwell, 0xff, (net->n_stops ? net->n_stops : 1) * sizeof *p->stop_dwell);
    memset(p->trip_slot, 0xff, (net->n_trips ? net->n_trips : 1) * sizeof *p->trip_slot);
    for (uint32_t i = 0; i < net->n_patterns; i++) {
        const struct buyt_network_pattern *pt = &net->patterns[i];
        for (uint32_t k = 0; k < pt->n_stops; k++) {
            uint32_t a = net->pattern_stops[pt->first + k].stop;
            if (p->stop_dwell[a] == NONE &&
                seg_intern(p, BUYT_PREDICT_DWELL, net->stops[a].id, "", &p->stop_dwell[a]))
                goto nomem;
            if (k + 1 == pt->n_stops)
                continue;
            uint32_t b = net->pattern_stops[pt->first + k + 1].stop;
            if (seg_intern(p, BUYT_PREDICT_TRAVEL, net->stops[a].id, net->stops[b].id,
                           &p->ps_seg[pt->first + k]))
                goto nomem;
        }
    }
    p->net = net;
    return 0;
nomem:
    unbind(p);
    return BUYT_ENOMEM;
}

/* ---- slots and vehicles ------------------------------------------------------------------ */

static int ensure_vehicle(struct buyt_predict *p, uint32_t key)
{
    if (key < p->n_veh)
        return 0;
    if (key == UINT32_MAX)
        return BUYT_EINVAL;
    uint32_t n = p->n_veh ? p->n_veh : 64;
    while (n <= key)
        n = n > UINT32_MAX / 2 ? key + 1 : n * 2;
    struct veh *nv = realloc(p->veh, (size_t)n * sizeof *nv);
    if (!nv)
        return BUYT_ENOMEM;
    for (uint32_t i = p->n_veh; i < n; i++) {
        memset(&nv[i], 0, sizeof nv[i]);
        vehicle_clear(&nv[i]);
    }
    p->veh = nv;
    p->n_veh = n;
    return 0;
}

static void slot_release(struct buyt_predict *p, uint32_t i)
{
    struct slot *s = &p->slots[i];
    if (!s->used)
        return;
    if (p->trip_slot[s->trip] == i)
        p->trip_slot[s->trip] = NONE;
    s->used = false;
    s->next_free = p->free_slot;
    p->free_slot = i;
    p->live--;
}

/* A slot for `trip` owned by `vehicle` with room for its stops; NONE if out of memory or the
 * trip's prediction belongs to another vehicle that runs it (a chain never displaces that). */
static uint32_t slot_take(struct buyt_predict *p, uint32_t vehicle, uint32_t trip, bool on_trip)
{
    uint32_t cur = p->trip_slot[trip];
    if (cur != NONE) {
        const struct slot *c = &p->slots[cur];
        if (c->vehicle == vehicle)
            slot_release(p, cur);
        else if (c->on_trip && !on_trip)
            return NONE;
        /* else: another vehicle's chain, or two vehicles on one trip: the newest wins the
         * trip's mapping; the other keeps its slot until it releases it. */
    }
    uint32_t n = p->net->trips[trip].n_stops;
    uint32_t i = p->free_slot;
    if (i == NONE) {
        if (p->n_slots == p->cap_slots) {
            uint32_t nc = p->cap_slots ? p->cap_slots * 2 : 64;
            struct slot *ns = realloc(p->slots, nc * sizeof *ns);
            if (!ns)
                return NONE;
            p->slots = ns;
            p->cap_slots = nc;
        }
        i = p->n_slots++;
        memset(&p->slots[i], 0, sizeof p->slots[i]);
        p->slots[i].next_free = NONE;
    } else {
        p->free_slot = p->slots[i].next_free;
    }
    struct slot *s = &p->slots[i];
    if (s->cap < n) {
        int64_t *e = realloc(s->eta_ms, n * sizeof *e);
        if (e)
            s->eta_ms = e;
        uint8_t *src = e ? realloc(s->src, n) : NULL;
        if (src)
            s->src = src;
        uint16_t *sd = src ? realloc(s->sd_s, n * sizeof *sd) : NULL;
        if (sd)
            s->sd_s = sd;
        if (!e || !src || !sd) {
            s->next_free = p->free_slot;
            p->free_slot = i;
            return NONE;
        }
        s->cap = n;
    }
    s->trip = trip;
    s->vehicle = vehicle;
    s->from = 0;
    s->n = n;
    s->on_trip = on_trip;
    s->used = true;
    p->live++;
    p->trip_slot[trip] = i;
    return i;
}

static void release_from(struct buyt_predict *p, struct veh *v, uint32_t first)
{
    for (uint32_t j = first; j < v->n_slot; j++)
        if (v->slot[j] != NONE)
            slot_release(p, v->slot[j]);
    if (v->n_slot > first)
        v->n_slot = first;
}

void buyt_predict_vehicle_drop(struct buyt_predict *p, uint32_t vehicle)
{
    if (vehicle >= p->n_veh)
        return;
    if (p->net)
        release_from(p, &p->veh[vehicle], 0);
    vehicle_clear(&p->veh[vehicle]);
}

/* ---- estimates --------------------------------------------------------------------------- */

static const struct cell *cell_of(const struct buyt_predict *p, uint32_t seg, uint32_t band,
                                  uint32_t dt)
{
    return &p->segs[seg].c[band * BUYT_PREDICT_DAYTYPES + dt];
}

/* An estimate: seconds, the variance of its error (0: unknown), and whether it was learned. */
struct est {
    double s, var_s2;
    bool learned;
};

/* Travel time of segment (stop j -> j + 1) of trip t starting at at_ms, seen from now_ms. */
static struct est travel_est(const struct buyt_predict *p, const struct buyt_network_trip *t,
                             uint32_t j, int64_t at_ms, int64_t now_ms, uint32_t dt)
{
    const struct buyt_network_time *tm = &p->net->times[t->first_time];
    double sched = tm[j + 1].arrival_s - tm[j].departure_s;
    struct est e = {sched > 0 ? sched : 0, 0, false};
    uint32_t si = p->ps_seg[p->net->patterns[t->pattern].first + j];
    if (si == NONE)
        return e;
    const struct seg *s = &p->segs[si];
    const struct cell *c = cell_of(p, si, band_at(t->day_start_ms, at_ms), dt);
    if (c->n < p->cfg.min_samples)
        return e; /* the schedule, its error unknown */
    double h = c->mean_s, vh = c->var_s2;
    e = (struct est){h, vh, true};
    bool fresh = s->last_ms && now_ms - s->last_ms <= (int64_t)p->cfg.last_fresh_s * 1000;
    if (!fresh)
        return e;
    double l = s->last_s;
    if (p->cfg.model == BUYT_PREDICT_KALMAN) {
        double v = vh > 1 ? vh : 1, k = s->kal_e;
        double gain = (k + v) / (k + 2 * v);
        e.s = (1 - gain) * l + gain * h;
        return e;
    }
    double w = BLEND_W0;
    if (c->n_last >= p->cfg.min_samples) {
        double vl = c->var_last_s2, cv = c->cov_s2;
        double den = vh + vl - 2 * cv;
        w = den > 1e-3 ? (vh - cv) / den : 0.5;
        w = w < 0 ? 0 : w > 1 ? 1 : w;
        /* The error variance of the blend (H and L errors correlated by cv). */
        double v = w * w * vl + (1 - w) * (1 - w) * vh + 2 * w * (1 - w) * cv;
        e.var_s2 = v > 0 ? v : 0;
    }
    e.s = h + w * (l - h);
    return e;
}

/* Dwell at stop k of trip t arriving at at_ms. */
static struct est dwell_est(const struct buyt_predict *p, const struct buyt_network_trip *t,
                            uint32_t k, int64_t at_ms, uint32_t dt)
{
    const struct buyt_network_time *tm = &p->net->times[t->first_time + k];
    double sched = tm->departure_s - tm->arrival_s;
    struct est e = {sched > 0 ? sched : 0, 0, false};
    uint32_t di = p->stop_dwell[p->net->pattern_stops[p->net->patterns[t->pattern].first + k].stop];
    if (di == NONE)
        return e;
    const struct cell *c = cell_of(p, di, band_at(t->day_start_ms, at_ms), dt);
    if (c->n < p->cfg.min_samples)
        return e;
    return (struct est){c->mean_s, c->var_s2, true};
}

/* Running sums of a prediction from the fix on. */
struct acc {
    double learned_ms, total_ms; /* predicted time, and the part from learned statistics */
    double var_s2;               /* variance of the arrival, from the learned errors */
    int64_t shown_ms;            /* the last eta written: etas never decrease along a trip */
};

static void acc_add(struct acc *a, double ms, const struct est *e, double var_frac)
{
    a->total_ms += ms;
    if (e->learned)
        a->learned_ms += ms;
    a->var_s2 += e->var_s2 * var_frac;
}

/* Writes stop j's eta: the mean arrival, moved early_z standard deviations earlier (a rider
 * misses a bus that comes early, not one that comes late), never before now unless the mean
 * is (a bus already at the stop), never before the previous stop's. */
static void emit(const struct buyt_predict *p, struct slot *s, uint32_t j, int64_t mean_ms,
                 struct acc *a, int64_t now_ms)
{
    int64_t shown = mean_ms;
    if (p->cfg.early_z > 0 && a->var_s2 > 0)
        shown -= ms_round(p->cfg.early_z * sqrt(a->var_s2) * 1000.0);
    int64_t floor_ms = mean_ms < now_ms ? mean_ms : now_ms;
    if (shown < floor_ms)
        shown = floor_ms;
    if (shown < a->shown_ms)
        shown = a->shown_ms;
    a->shown_ms = shown;
    s->eta_ms[j] = shown;
    s->src[j] = 2 * a->learned_ms > a->total_ms ? BUYT_PREDICT_LEARNED : BUYT_PREDICT_SCHEDULE;
    /* The spread is known only from learned errors: 0 (unknown) on the schedule alone, at
     * least 1 s otherwise. */
    long sd = a->var_s2 > 0 ? lround(sqrt(a->var_s2)) : 0;
    s->sd_s[j] = (uint16_t)(a->var_s2 > 0 ? (sd < 1 ? 1 : sd > 65535 ? 65535 : sd) : 0);
}

/* Predicts stops k+1 .. n-1 of slot s's trip from a departure from stop k at dep_ms (mean),
 * continuing the sums in *a. Returns the mean arrival at the last stop. */
static int64_t propagate(const struct buyt_predict *p, struct slot *s, uint32_t k, int64_t dep_ms,
                         int64_t now_ms, struct acc *a)
{
    const struct buyt_network_trip *t = &p->net->trips[s->trip];
    uint32_t dt = buyt_predict_daytype(t->day_start_ms);
    uint32_t n = t->n_stops;
    int64_t last = dep_ms;
    for (uint32_t j = k + 1; j < n; j++) {
        struct est e = travel_est(p, t, j - 1, dep_ms, now_ms, dt);
        double tt = e.s * 1000.0;
        int64_t arr = dep_ms + ms_round(tt);
        acc_add(a, tt, &e, 1);
        emit(p, s, j, arr, a, now_ms);
        last = arr;
        if (j + 1 < n) {
            struct est d = dwell_est(p, t, j, arr, dt);
            double dw = d.s * 1000.0;
            acc_add(a, dw, &d, 1);
            dep_ms = arr + ms_round(dw);
        }
    }
    return last;
}

static int64_t sched_dep0(const struct buyt_network *net, uint32_t trip)
{
    const struct buyt_network_trip *t = &net->trips[trip];
    return t->day_start_ms + (int64_t)net->times[t->first_time].departure_s * 1000;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* Earliest departure of `trip` from its first stop for vehicle v at now_ms. */
static int64_t first_departure(const struct buyt_predict *p, const struct veh *v, uint32_t trip,
                               int64_t now_ms)
{
    int64_t dep = max64(sched_dep0(p->net, trip), now_ms);
    if (v->term_trip != NONE && v->term_ms && p->net->trips[v->term_trip].next_in_block == trip)
        dep = max64(dep, v->term_ms + (int64_t)p->cfg.min_layover_s * 1000);
    return dep;
}

/* Re-predicts the vehicle's current trip from its next stop. Returns the predicted (mean)
 * end; *end_var_s2 gets its variance. */
static int64_t predict_current(struct buyt_predict *p, struct veh *v, struct slot *s,
                               int64_t now_ms, double *end_var_s2)
{
    const struct buyt_network *net = p->net;
    const struct buyt_network_trip *t = &net->trips[s->trip];
    uint32_t dt = buyt_predict_daytype(t->day_start_ms);
    uint32_t n = t->n_stops, k = v->next_stop;
    /* A stop whose zone (shrunk between close stops) the detector saw the bus leave is behind
     * it, even while the bus is still within at_stop_m of it. */
    if (v->left_trip == s->trip && v->left_k + 1 > k && v->left_k + 1 < n)
        k = v->left_k + 1;
    struct acc a = {0, 0, 0, INT64_MIN};
    int64_t dep;
    s->from = k;
    if (k == 0) {
        /* Before the first stop's departure: a trip never leaves early. */
        dep = first_departure(p, v, s->trip, now_ms);
        a.total_ms = (double)(dep - now_ms);
        emit(p, s, 0, dep, &a, now_ms);
    } else {
        int64_t arr;
        if (v->zone_k == k) {
            arr = v->zone_ms; /* standing at stop k since then */
        } else {
            double d0 = buyt_network_trip_stop_dist(net, s->trip, k - 1);
            double d1 = buyt_network_trip_stop_dist(net, s->trip, k);
            double f = d1 > d0 ? (d1 - v->dist_m) / (d1 - d0) : 0;
            f = f < 0 ? 0 : f > 1 ? 1 : f;
            struct est e = travel_est(p, t, k - 1, now_ms, now_ms, dt);
            double rem = f * e.s * 1000.0;
            arr = now_ms + ms_round(rem);
            acc_add(&a, rem, &e, f * f);
        }
        emit(p, s, k, arr, &a, now_ms);
        dep = arr;
        if (k + 1 < n) {
            struct est d = dwell_est(p, t, k, arr, dt);
            dep = max64(now_ms, arr + ms_round(d.s * 1000.0));
            double left = (double)(dep - now_ms) - (double)(arr > now_ms ? arr - now_ms : 0);
            if (left > 0)
                acc_add(&a, left, &d, 1);
        }
    }
    int64_t end = propagate(p, s, k, dep, now_ms, &a);
    *end_var_s2 = a.var_s2;
    return end;
}

/* Predicts the later trips of the vehicle's block from end_ms (variance end_var_s2), the
 * predicted (or actual) end of its current trip; skipped when the previous chain is recent
 * and the end has not moved. */
static void update_chain(struct buyt_predict *p, struct veh *v, int64_t now_ms, int64_t end_ms,
                         double end_var_s2)
{
    const struct buyt_network *net = p->net;
    uint32_t next = net->trips[v->trip].next_in_block;
    if (v->n_slot > 1 && llabs(end_ms - v->chain_end_ms) < CHAIN_MOVE_MS &&
        now_ms - v->chain_made_ms < CHAIN_AGE_MS)
        return;
    release_from(p, v, 1);
    if (v->n_slot == 0) {
        v->slot[0] = NONE;
        v->n_slot = 1;
    }
    v->chain_end_ms = end_ms;
    v->chain_made_ms = now_ms;
    int64_t base = end_ms;
    double base_var = end_var_s2;
    for (uint32_t c = 0; c < BUYT_PREDICT_CHAIN_MAX && next != NONE; c++) {
        const struct buyt_network_trip *t = &net->trips[next];
        if (!t->valid || sched_dep0(net, next) > now_ms + (int64_t)p->cfg.chain_horizon_s * 1000)
            break;
        uint32_t si = slot_take(p, (uint32_t)(v - p->veh), next, false);
        if (si == NONE)
            break;
        struct slot *s = &p->slots[si];
        int64_t sched = max64(sched_dep0(net, next), now_ms);
        int64_t ready = base + (int64_t)p->cfg.min_layover_s * 1000;
        int64_t dep = max64(sched, ready);
        /* The departure is as uncertain as the arrival before it only when that decides it. */
        struct acc a = {0, (double)(dep - now_ms), ready > sched ? base_var : 0, INT64_MIN};
        s->from = 0;
        emit(p, s, 0, dep, &a, now_ms);
        v->slot[v->n_slot++] = si;
        base = propagate(p, s, 0, dep, now_ms, &a);
        base_var = a.var_s2;
        next = t->next_in_block;
    }
}

int buyt_predict_vehicle(struct buyt_predict *p, uint32_t vehicle, const char *label,
                         int64_t time_ms, const struct buyt_matcher_result *res)
{
    if (!p->net)
        return BUYT_EINVAL;
    int rc = ensure_vehicle(p, vehicle);
    if (rc)
        return rc;
    const struct buyt_network *net = p->net;
    struct veh *v = &p->veh[vehicle];
    if (label && strncmp(v->label, label, sizeof v->label - 1))
        snprintf(v->label, sizeof v->label, "%s", label);
    if (time_ms > v->fix_ms)
        v->fix_ms = time_ms;
    if (res->trip == NONE) {
        release_from(p, v, 0);
        v->trip = NONE;
        v->off_route = res->off_route;
        v->completed = false;
        return 0;
    }
    if (res->trip >= net->n_trips)
        return BUYT_EINVAL;
    p->ctr.updates++;
    if (res->trip != v->trip) {
        /* A terminal arrival carries over to the block's next trip only (or stays with its
         * own trip, seen ending before the vehicle's first fix on it). */
        bool chained = v->trip != NONE && v->term_trip == v->trip &&
                       net->trips[v->trip].next_in_block == res->trip;
        if (!chained && v->term_trip != res->trip) {
            v->term_trip = NONE;
            v->term_ms = 0;
        }
        release_from(p, v, 0);
        v->trip = res->trip;
        v->completed = false;
        v->zone_k = NONE;
    }
    v->off_route = res->off_route;
    if (res->off_route)
        return 0; /* progress is held: keep what was predicted, boards show it as schedule */
    v->dist_m = res->dist_m;
    v->next_stop = res->next_stop;
    const struct buyt_network_trip *t = &net->trips[v->trip];
    if (res->completed || res->next_stop >= t->n_stops) {
        if (!v->completed && v->term_trip != v->trip) {
            v->term_trip = v->trip;
            v->term_ms = time_ms;
        }
        v->completed = true;
        if (v->n_slot > 0 && v->slot[0] != NONE) {
            slot_release(p, v->slot[0]);
            v->slot[0] = NONE;
        }
        if (v->n_slot == 0) {
            v->slot[0] = NONE;
            v->n_slot = 1;
        }
        update_chain(p, v, time_ms, v->term_ms, 0);
        return 0;
    }
    uint32_t k = res->next_stop;
    bool at = fabs(v->dist_m - buyt_network_trip_stop_dist(net, v->trip, k)) <= p->cfg.at_stop_m;
    if (!at)
        v->zone_k = NONE;
    else if (v->zone_k != k) {
        v->zone_k = k;
        v->zone_ms = time_ms;
    }
    if (v->n_slot == 0 || v->slot[0] == NONE) {
        uint32_t si = slot_take(p, vehicle, v->trip, true);
        if (si == NONE)
            return BUYT_ENOMEM;
        if (v->n_slot == 0)
            v->n_slot = 1;
        v->slot[0] = si;
    }
    double end_var;
    int64_t end = predict_current(p, v, &p->slots[v->slot[0]], time_ms, &end_var);
    update_chain(p, v, time_ms, end, end_var);
    return 0;
}

/* ---- learning ---------------------------------------------------------------------------- */

/* Adds sample x to cell c. l_fresh: the segment's last traversal l was fresh (travel only). */
static void cell_learn(struct buyt_predict *p, struct cell *c, double x, bool gate, bool l_fresh,
                       double l, int64_t at_ms)
{
    const struct buyt_predict_config *cfg = &p->cfg;
    if (gate && c->n >= cfg->min_samples && c->mean_s > 0) {
        bool hi = x > cfg->outlier_hi * c->mean_s, lo = x < cfg->outlier_lo * c->mean_s;
        c->run_hi = hi ? c->run_hi + 1 : 0;
        c->run_lo = lo ? c->run_lo + 1 : 0;
        if ((hi && c->run_hi < REGIME_RUN) || (lo && c->run_lo < REGIME_RUN)) {
            p->ctr.outliers++;
            return;
        }
        if (hi || lo) /* a new regime: start this cell again from here */
            *c = (struct cell){0};
    }
    double h = c->mean_s;
    bool warm = c->n >= cfg->min_samples;
    double a = 1.0 / (c->n + 1);
    if (a < cfg->alpha_min)
        a = cfg->alpha_min;
    double d = x - c->mean_s;
    c->mean_s = (float)(c->mean_s + a * d);
    c->var_s2 = (float)((1 - a) * (c->var_s2 + a * d * d));
    if (l_fresh && warm) {
        double el = x - l, eh = x - h;
        double b = 1.0 / (c->n_last + 1);
        if (b < cfg->alpha_min)
            b = cfg->alpha_min;
        c->var_last_s2 = (float)(c->var_last_s2 + b * (el * el - c->var_last_s2));
        c->cov_s2 = (float)(c->cov_s2 + b * (eh * el - c->cov_s2));
        c->n_last++;
    }
    c->n++;
    c->updated_ms = at_ms;
    c->dirty = true;
    p->ctr.observations++;
}

static void learn_travel(struct buyt_predict *p, uint32_t si, uint32_t band, uint32_t dt, double x,
                         int64_t at_ms)
{
    struct seg *s = &p->segs[si];
    struct cell *c = &s->c[band * BUYT_PREDICT_DAYTYPES + dt];
    bool fresh = s->last_ms && at_ms - s->last_ms <= (int64_t)p->cfg.last_fresh_s * 1000 &&
                 at_ms >= s->last_ms;
    if (c->n >= p->cfg.min_samples) {
        /* TheTransitClock's filter step: the error after this traversal's estimate. */
        double v = c->var_s2 > 1 ? c->var_s2 : 1;
        double gain = (s->kal_e + v) / (s->kal_e + 2 * v);
        s->kal_e = (float)(v * gain);
    }
    cell_learn(p, c, x, true, fresh, s->last_s, at_ms);
    if (at_ms >= s->last_ms) {
        s->last_s = (float)x;
        s->last_ms = at_ms;
    }
}

void buyt_predict_observe(struct buyt_predict *p, uint32_t vehicle,
                          const struct buyt_stopev_event *ev)
{
    const struct buyt_network *net = p->net;
    if (!net || ev->trip >= net->n_trips || ensure_vehicle(p, vehicle))
        return;
    struct veh *v = &p->veh[vehicle];
    const struct buyt_network_trip *t = &net->trips[ev->trip];
    uint32_t k = ev->stop_index, n = t->n_stops;
    if (k >= n)
        return;
    uint32_t dt = buyt_predict_daytype(t->day_start_ms);
    if (k > 0 && v->ev_trip == ev->trip && v->ev_k + 1 == k && v->ev_dep_ms && ev->arrival_ms &&
        !ev->gap) {
        double x = (double)(ev->arrival_ms - v->ev_dep_ms) / 1000.0;
        double len = buyt_network_trip_stop_dist(net, ev->trip, k) -
                     buyt_network_trip_stop_dist(net, ev->trip, k - 1);
        uint32_t si = p->ps_seg[net->patterns[t->pattern].first + k - 1];
        if (x <= 0 || x > MAX_TRAVEL_S || len / x > MAX_SPEED_MPS)
            p->ctr.implausible++;
        else if (si != NONE)
            learn_travel(p, si, band_at(t->day_start_ms, v->ev_dep_ms), dt, x, ev->arrival_ms);
    }
    /* Dwell at intermediate stops only: the first stop's is layover, the last has none. */
    if (k > 0 && k + 1 < n && !ev->gap && ev->arrival_ms && ev->departure_ms) {
        double x = ev->passed ? 0 : (double)(ev->departure_ms - ev->arrival_ms) / 1000.0;
        uint32_t di = p->stop_dwell[ev->stop];
        if (x < 0 || x > MAX_DWELL_S)
            p->ctr.implausible++;
        else if (di != NONE)
            cell_learn(
                p,
                &p->segs[di]
                     .c[band_at(t->day_start_ms, ev->arrival_ms) * BUYT_PREDICT_DAYTYPES + dt],
                x, false, false, 0, ev->departure_ms);
    }
    v->ev_trip = ev->trip;
    v->ev_k = k;
    v->ev_dep_ms = ev->gap ? 0 : ev->departure_ms;
    if (ev->departure_ms) {
        v->left_trip = ev->trip;
        v->left_k = k;
    }
    if (k + 1 == n && ev->arrival_ms) {
        v->term_trip = ev->trip;
        v->term_ms = ev->arrival_ms;
    }
    uint32_t si = p->trip_slot[ev->trip];
    if (si != NONE && p->slots[si].vehicle == vehicle && ev->departure_ms && p->slots[si].from <= k)
        p->slots[si].from = k + 1;
}

int buyt_predict_trip_cancel(struct buyt_predict *p, uint32_t trip, bool cancelled)
{
    if (!p->net || trip >= p->net->n_trips)
        return BUYT_EINVAL;
    p->cancelled[trip] = cancelled;
    return 0;
}

/* ---- reading ----------------------------------------------------------------------------- */

enum buyt_predict_state buyt_predict_get(const struct buyt_predict *p, uint32_t trip, uint32_t k,
                                         struct buyt_predict_arrival *out)
{
    if (!p->net || trip >= p->net->n_trips)
        return BUYT_PREDICT_NONE;
    if (p->cancelled[trip])
        return BUYT_PREDICT_CANCELLED;
    uint32_t si = p->trip_slot[trip];
    if (si == NONE)
        return BUYT_PREDICT_NONE;
    const struct slot *s = &p->slots[si];
    if (k >= s->n)
        return BUYT_PREDICT_NONE;
    if (k < s->from)
        return BUYT_PREDICT_DEPARTED;
    const struct veh *v = &p->veh[s->vehicle];
    *out = (struct buyt_predict_arrival){
        .eta_ms = s->eta_ms[k],
        .made_ms = v->fix_ms,
        .fix_ms = v->fix_ms,
        .vehicle = s->vehicle,
        .label = v->label,
        .source = (enum buyt_predict_source)s->src[k],
        .uncertainty_s = s->sd_s[k],
        .on_trip = s->on_trip,
        .at_stop = s->on_trip && v->trip == s->trip && v->zone_k == k && k == v->next_stop,
        .off_route = v->off_route,
    };
    return BUYT_PREDICT_LIVE;
}

uint32_t buyt_predict_vehicle_view(const struct buyt_predict *p, uint32_t vehicle,
                                   struct buyt_predict_trip_view *out, uint32_t cap)
{
    if (!p->net || vehicle >= p->n_veh)
        return 0;
    const struct veh *v = &p->veh[vehicle];
    uint32_t n = 0;
    for (uint32_t j = 0; j < v->n_slot && n < cap; j++) {
        if (v->slot[j] == NONE)
            continue;
        const struct slot *s = &p->slots[v->slot[j]];
        out[n++] = (struct buyt_predict_trip_view){.trip = s->trip,
                                                   .from = s->from,
                                                   .n = s->n,
                                                   .eta_ms = s->eta_ms,
                                                   .source = s->src,
                                                   .on_trip = s->on_trip};
    }
    return n;
}

int64_t buyt_predict_vehicle_fix_ms(const struct buyt_predict *p, uint32_t vehicle, bool *off_route)
{
    if (vehicle >= p->n_veh) {
        if (off_route)
            *off_route = false;
        return 0;
    }
    if (off_route)
        *off_route = p->veh[vehicle].off_route;
    return p->veh[vehicle].fix_ms;
}

void buyt_predict_counters(const struct buyt_predict *p, struct buyt_predict_counters *out)
{
    *out = p->ctr;
    out->live_trips = p->live;
}

/* ---- statistics: snapshot, put, get ------------------------------------------------------ */

static bool stat_args_ok(enum buyt_predict_kind kind, const char *from, const char *to,
                         uint32_t band, uint32_t dt)
{
    return (kind == BUYT_PREDICT_TRAVEL || kind == BUYT_PREDICT_DWELL) && from && *from &&
           band < BUYT_PREDICT_BANDS && dt < BUYT_PREDICT_DAYTYPES &&
           (kind == BUYT_PREDICT_DWELL || (to && *to));
}

static void stat_fill(const struct seg *s, uint32_t ci, struct buyt_predict_stat *o)
{
    const struct cell *c = &s->c[ci];
    *o = (struct buyt_predict_stat){.kind = (enum buyt_predict_kind)s->kind,
                                    .from_stop = s->from,
                                    .to_stop = s->to,
                                    .band = ci / BUYT_PREDICT_DAYTYPES,
                                    .daytype = ci % BUYT_PREDICT_DAYTYPES,
                                    .n = c->n,
                                    .n_last = c->n_last,
                                    .mean_s = c->mean_s,
                                    .var_s2 = c->var_s2,
                                    .var_last_s2 = c->var_last_s2,
                                    .cov_s2 = c->cov_s2,
                                    .updated_ms = c->updated_ms};
}

int buyt_predict_stats_snapshot(struct buyt_predict *p, bool all, struct buyt_predict_stats **out)
{
    size_t n = 0, bytes = 0;
    for (uint32_t i = 0; i < p->n_segs; i++) {
        const struct seg *s = &p->segs[i];
        size_t cells = 0;
        for (uint32_t c = 0; c < NCELLS; c++)
            cells += s->c[c].n && (all || s->c[c].dirty);
        if (cells) {
            n += cells;
            bytes += strlen(s->from) + strlen(s->to) + 2;
        }
    }
    size_t head = sizeof(struct buyt_predict_stats) + n * sizeof(struct buyt_predict_stat);
    struct buyt_predict_stats *st = malloc(head + bytes + 1);
    if (!st)
        return BUYT_ENOMEM;
    st->n = 0;
    st->rows = (struct buyt_predict_stat *)(st + 1);
    char *str = (char *)st + head;
    for (uint32_t i = 0; i < p->n_segs; i++) {
        struct seg *s = &p->segs[i];
        const char *from = NULL, *to = NULL;
        for (uint32_t c = 0; c < NCELLS; c++) {
            if (!s->c[c].n || !(all || s->c[c].dirty))
                continue;
            if (!from) {
                size_t lf = strlen(s->from) + 1, lt = strlen(s->to) + 1;
                memcpy(str, s->from, lf);
                memcpy(str + lf, s->to, lt);
                from = str;
                to = str + lf;
                str += lf + lt;
            }
            struct buyt_predict_stat *o = &st->rows[st->n++];
            stat_fill(s, c, o);
            o->from_stop = from;
            o->to_stop = to;
            s->c[c].dirty = false;
        }
    }
    *out = st;
    return 0;
}

void buyt_predict_stats_free(struct buyt_predict_stats *s)
{
    free(s);
}

int buyt_predict_stat_put(struct buyt_predict *p, const struct buyt_predict_stat *st)
{
    const char *to = st->kind == BUYT_PREDICT_DWELL ? "" : st->to_stop;
    if (!stat_args_ok(st->kind, st->from_stop, to, st->band, st->daytype) || st->n == 0 ||
        !isfinite(st->mean_s) || !isfinite(st->var_s2) || st->var_s2 < 0)
        return BUYT_EINVAL;
    uint32_t si;
    int rc = seg_intern(p, (uint8_t)st->kind, st->from_stop, to, &si);
    if (rc)
        return rc;
    struct cell *c = &p->segs[si].c[st->band * BUYT_PREDICT_DAYTYPES + st->daytype];
    *c = (struct cell){.mean_s = (float)st->mean_s,
                       .var_s2 = (float)st->var_s2,
                       .var_last_s2 = (float)st->var_last_s2,
                       .cov_s2 = (float)st->cov_s2,
                       .n = st->n,
                       .n_last = st->n_last,
                       .updated_ms = st->updated_ms};
    return 0;
}

bool buyt_predict_stat_get(const struct buyt_predict *p, enum buyt_predict_kind kind,
                           const char *from_stop, const char *to_stop, uint32_t band,
                           uint32_t daytype, struct buyt_predict_stat *out)
{
    if (kind == BUYT_PREDICT_DWELL || !to_stop)
        to_stop = "";
    if (!stat_args_ok(kind, from_stop, to_stop, band, daytype))
        return false;
    uint32_t si = seg_find(p, (uint8_t)kind, from_stop, to_stop);
    if (si == NONE)
        return false;
    uint32_t ci = band * BUYT_PREDICT_DAYTYPES + daytype;
    if (!p->segs[si].c[ci].n)
        return false;
    stat_fill(&p->segs[si], ci, out);
    return true;
}

/* ---- samples ----------------------------------------------------------------------------- */

static bool copy_id(char *dst, const char *src)
{
    size_t l = strlen(src);
    if (l >= BUYT_PREDICT_ID_MAX)
        return false;
    memcpy(dst, src, l + 1);
    return true;
}

uint32_t buyt_predict_samples(struct buyt_predict *p, int64_t now_ms, int32_t stale_s,
                              struct buyt_predict_sample *out, uint32_t cap)
{
    static const int32_t edge_s[] = {0, 180, 360, 600, 900, 1800};
    const struct buyt_network *net = p->net;
    uint32_t n = 0;
    if (!net || !p->n_veh)
        return 0;
    uint32_t i = p->sample_cursor % p->n_veh;
    for (uint32_t seen = 0; seen < p->n_veh; seen++, i = (i + 1) % p->n_veh) {
        const struct veh *v = &p->veh[i];
        if (v->off_route || !v->fix_ms || now_ms - v->fix_ms > (int64_t)stale_s * 1000)
            continue;
        struct buyt_predict_sample batch[(1 + BUYT_PREDICT_CHAIN_MAX) * 5];
        uint32_t nb = 0;
        for (uint32_t j = 0; j < v->n_slot; j++) {
            if (v->slot[j] == NONE)
                continue;
            const struct slot *s = &p->slots[v->slot[j]];
            const struct buyt_network_trip *t = &net->trips[s->trip];
            uint32_t b = 0;
            for (uint32_t k = s->from; k < s->n && b < 5; k++) {
                int64_t h = s->eta_ms[k] - now_ms;
                while (b < 5 && h >= (int64_t)edge_s[b + 1] * 1000)
                    b++;
                if (b >= 5 || h < (int64_t)edge_s[b] * 1000)
                    continue;
                struct buyt_predict_sample *o = &batch[nb];
                const struct buyt_network_time *tm = &net->times[t->first_time + k];
                *o = (struct buyt_predict_sample){
                    .made_ms = v->fix_ms,
                    .predicted_ms = s->eta_ms[k],
                    .scheduled_ms = t->day_start_ms +
                                    (int64_t)(k == 0 ? tm->departure_s : tm->arrival_s) * 1000,
                    .service_day = (int32_t)floor_div(t->day_start_ms + 12 * 3600000LL, 86400000),
                    .run_start_s = t->run_start_s,
                    .stop_sequence = tm->stop_sequence,
                    .source = (enum buyt_predict_source)s->src[k],
                    .on_trip = s->on_trip,
                    .departure = k == 0,
                };
                memcpy(o->vehicle, v->label, sizeof o->vehicle);
                if (copy_id(o->trip_id, t->id) &&
                    copy_id(o->stop_id, net->stops[buyt_network_trip_stop(net, s->trip, k)].id))
                    nb++;
                b++;
            }
        }
        if (n + nb > cap) {
            p->sample_cursor = i;
            return n;
        }
        memcpy(out + n, batch, nb * sizeof *batch);
        n += nb;
    }
    p->sample_cursor = i;
    return n;
}
