/* Prediction accuracy: scoring, the OneBusAway baseline, and the offline replay. See eval.h. */
#include "eval.h"

#include "clock.h"
#include "error.h"
#include "predict.h"
#include "stopev.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NONE BUYT_NETWORK_NONE
#define ID_MAX 128

/* TransitApp's ETA accuracy benchmark (PREDICTION-NOTES.md). */
const struct buyt_eval_bucket buyt_eval_buckets[BUYT_EVAL_BUCKETS] = {
    {"0-3 min", 0, 180, 30, 90},
    {"3-6 min", 180, 360, 60, 150},
    {"6-10 min", 360, 600, 60, 210},
    {"10-15 min", 600, 900, 90, 270},
};

static const char *const predictor_names[BUYT_EVAL__COUNT] = {"schedule", "oba", "kalman", "buyt"};

const char *buyt_eval_predictor_name(enum buyt_eval_predictor p)
{
    return (unsigned)p < BUYT_EVAL__COUNT ? predictor_names[p] : "?";
}

int buyt_eval_bucket_of(int64_t horizon_ms)
{
    for (int b = 0; b < BUYT_EVAL_BUCKETS; b++)
        if (horizon_ms >= (int64_t)buyt_eval_buckets[b].lo_s * 1000 &&
            horizon_ms < (int64_t)buyt_eval_buckets[b].hi_s * 1000)
            return b;
    return -1;
}

bool buyt_eval_accurate(int bucket, int64_t error_ms)
{
    if (bucket < 0 || bucket >= BUYT_EVAL_BUCKETS)
        return false;
    const struct buyt_eval_bucket *k = &buyt_eval_buckets[bucket];
    return error_ms >= -(int64_t)k->early_s * 1000 && error_ms <= (int64_t)k->late_s * 1000;
}

void buyt_eval_report_add(struct buyt_eval_report *r, enum buyt_eval_predictor p, int64_t made_ms,
                          int64_t predicted_ms, int64_t actual_ms)
{
    int b = buyt_eval_bucket_of(actual_ms - made_ms);
    if (b < 0 || (unsigned)p >= BUYT_EVAL__COUNT)
        return;
    struct buyt_eval_cell *c = &r->cell[p][b];
    int64_t err = actual_ms - predicted_ms;
    c->n++;
    c->accurate += buyt_eval_accurate(b, err);
    c->abs_err_s += fabs((double)err) / 1000.0;
    c->err_s += (double)err / 1000.0;
}

double buyt_eval_accuracy(const struct buyt_eval_report *r, enum buyt_eval_predictor p, int b)
{
    const struct buyt_eval_cell *c = &r->cell[p][b];
    return c->n ? (double)c->accurate / (double)c->n : NAN;
}

double buyt_eval_mae_s(const struct buyt_eval_report *r, enum buyt_eval_predictor p, int b)
{
    const struct buyt_eval_cell *c = &r->cell[p][b];
    return c->n ? c->abs_err_s / (double)c->n : NAN;
}

double buyt_eval_score(const struct buyt_eval_report *r, enum buyt_eval_predictor p)
{
    double sum = 0;
    int n = 0;
    for (int b = 0; b < BUYT_EVAL_BUCKETS; b++) {
        double a = buyt_eval_accuracy(r, p, b);
        if (!isnan(a)) {
            sum += a;
            n++;
        }
    }
    return n ? sum / n : NAN;
}

/* ---- printing ---------------------------------------------------------------------------- */

static void span(const struct buyt_eval_report *r, char *from, char *to)
{
    if (r->fixes) {
        buyt_iso8601_ms(r->first_ms, from, 32);
        buyt_iso8601_ms(r->last_ms, to, 32);
    } else {
        strcpy(from, "-");
        strcpy(to, "-");
    }
}

int buyt_eval_report_print(FILE *f, const struct buyt_eval_report *r)
{
    char from[32], to[32];
    span(r, from, to);
    fprintf(f, "fixes %llu (%llu matched, %llu refused), vehicles %llu, %s .. %s\n",
            (unsigned long long)r->fixes, (unsigned long long)r->fixes_matched,
            (unsigned long long)r->fixes_refused, (unsigned long long)r->vehicles, from, to);
    fprintf(f, "stop events %llu (%llu across data gaps, not used as actuals)\n",
            (unsigned long long)r->stop_events, (unsigned long long)r->gap_events);
    fprintf(f, "predictions sampled %llu: scored %llu, never observed %llu\n\n",
            (unsigned long long)r->samples, (unsigned long long)r->scored,
            (unsigned long long)r->unscored);
    fprintf(f, "%-10s %-12s", "horizon", "tolerance");
    for (int p = 0; p < BUYT_EVAL__COUNT; p++)
        fprintf(f, " | %-22s", predictor_names[p]);
    fprintf(f, "\n%-10s %-12s", "", "(early/late)");
    for (int p = 0; p < BUYT_EVAL__COUNT; p++)
        fprintf(f, " | %7s %6s %7s", "n", "acc%", "MAE s");
    fputc('\n', f);
    for (int b = 0; b < BUYT_EVAL_BUCKETS; b++) {
        const struct buyt_eval_bucket *k = &buyt_eval_buckets[b];
        char tol[32];
        snprintf(tol, sizeof tol, "-%ds/+%ds", k->early_s, k->late_s);
        fprintf(f, "%-10s %-12s", k->name, tol);
        for (int p = 0; p < BUYT_EVAL__COUNT; p++) {
            const struct buyt_eval_cell *c = &r->cell[p][b];
            if (c->n)
                fprintf(f, " | %7llu %6.1f %7.1f", (unsigned long long)c->n,
                        100 * buyt_eval_accuracy(r, p, b), buyt_eval_mae_s(r, p, b));
            else
                fprintf(f, " | %7s %6s %7s", "0", "-", "-");
        }
        fputc('\n', f);
    }
    fprintf(f, "%-23s", "score (bucket mean)");
    for (int p = 0; p < BUYT_EVAL__COUNT; p++) {
        double s = buyt_eval_score(r, p);
        if (isnan(s))
            fprintf(f, " | %22s", "-");
        else
            fprintf(f, " | %21.1f%%", 100 * s);
    }
    fputc('\n', f);
    return ferror(f) ? BUYT_EIO : 0;
}

static json_t *num_or_null(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

int buyt_eval_report_json(FILE *f, const struct buyt_eval_report *r)
{
    char from[32], to[32];
    span(r, from, to);
    json_t *buckets = json_array(), *preds = json_object();
    for (int b = 0; b < BUYT_EVAL_BUCKETS; b++) {
        const struct buyt_eval_bucket *k = &buyt_eval_buckets[b];
        json_array_append_new(buckets, json_pack("{s:s, s:i, s:i, s:i, s:i}", "name", k->name,
                                                 "lo_s", k->lo_s, "hi_s", k->hi_s, "early_s",
                                                 k->early_s, "late_s", k->late_s));
    }
    for (int p = 0; p < BUYT_EVAL__COUNT; p++) {
        json_t *cells = json_array();
        for (int b = 0; b < BUYT_EVAL_BUCKETS; b++) {
            const struct buyt_eval_cell *c = &r->cell[p][b];
            json_array_append_new(cells,
                                  json_pack("{s:I, s:I, s:o, s:o, s:o}", "n", (json_int_t)c->n,
                                            "accurate", (json_int_t)c->accurate, "accuracy",
                                            num_or_null(buyt_eval_accuracy(r, p, b)), "mae_s",
                                            num_or_null(buyt_eval_mae_s(r, p, b)), "bias_s",
                                            num_or_null(c->n ? c->err_s / (double)c->n : NAN)));
        }
        json_object_set_new(
            preds, predictor_names[p],
            json_pack("{s:o, s:o}", "score", num_or_null(buyt_eval_score(r, p)), "buckets", cells));
    }
    json_t *root = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:o, s:o}", "fixes",
        (json_int_t)r->fixes, "fixes_matched", (json_int_t)r->fixes_matched, "fixes_refused",
        (json_int_t)r->fixes_refused, "vehicles", (json_int_t)r->vehicles, "network_loads",
        (json_int_t)r->network_loads, "stop_events", (json_int_t)r->stop_events, "gap_events",
        (json_int_t)r->gap_events, "samples", (json_int_t)r->samples, "scored",
        (json_int_t)r->scored, "unscored", (json_int_t)r->unscored, "from", from, "to", to,
        "buckets", buckets, "predictors", preds);
    if (!root)
        return BUYT_ENOMEM;
    int rc = json_dumpf(root, f, JSON_INDENT(2) | JSON_ENSURE_ASCII) ? BUYT_EIO : 0;
    fputc('\n', f);
    json_decref(root);
    return rc;
}

/* ---- the replay -------------------------------------------------------------------------- */

/* A prediction waiting for its stop's actual time. */
struct pend {
    int64_t made_ms;
    int64_t pred_ms[BUYT_EVAL__COUNT];
    uint32_t next;
};

struct evveh {
    char *id;
    uint32_t hnext;
    struct buyt_matcher_vehicle mv;
    struct buyt_stopev_vehicle sv;
    char trip_id[ID_MAX], route_id[ID_MAX], run_id[ID_MAX]; /* the sign-in applied */
    int64_t last_sample_ms;
};

struct buyt_eval {
    struct buyt_eval_options opt;
    const struct buyt_network *net;
    struct buyt_matcher *m;
    struct buyt_stopev_config scfg;
    struct buyt_predict *kalman, *buyt;
    struct evveh *veh;
    uint32_t n_veh, cap_veh;
    uint32_t *hb; /* vehicle id hash heads */
    uint32_t hmask;
    uint32_t *pend_head; /* per (trip, stop) = net->times index */
    uint32_t n_heads;
    struct pend *pool;
    uint32_t n_pool, cap_pool, free_pend;
    uint64_t pending;
    struct buyt_eval_report rep, out;
    struct buyt_matcher_result res;
};

void buyt_eval_options_default(struct buyt_eval_options *o)
{
    *o = (struct buyt_eval_options){.sample_s = 30, .max_horizon_s = 1200, .early_z = 1.0};
}

int buyt_eval_new(const struct buyt_eval_options *opts, struct buyt_eval **out)
{
    *out = NULL;
    struct buyt_eval_options o;
    if (opts)
        o = *opts;
    else
        buyt_eval_options_default(&o);
    if (o.sample_s <= 0 || o.max_horizon_s <= 0 || !(o.early_z >= 0 && o.early_z <= 3))
        return BUYT_EINVAL;
    struct buyt_eval *e = calloc(1, sizeof *e);
    if (!e)
        return BUYT_ENOMEM;
    e->opt = o;
    e->free_pend = NONE;
    buyt_stopev_config_default(&e->scfg);
    struct buyt_predict_config pc, bc;
    buyt_predict_config_default(&pc);
    pc.model = BUYT_PREDICT_KALMAN;
    pc.early_z = 0; /* TheTransitClock reports its filter's output as it is */
    buyt_predict_config_default(&bc);
    bc.early_z = o.early_z;
    e->hmask = 255;
    e->hb = malloc((e->hmask + 1) * sizeof *e->hb);
    if (!e->hb || buyt_predict_new(&pc, &e->kalman) || buyt_predict_new(&bc, &e->buyt)) {
        buyt_eval_free(e);
        return BUYT_ENOMEM;
    }
    memset(e->hb, 0xff, (e->hmask + 1) * sizeof *e->hb);
    *out = e;
    return 0;
}

void buyt_eval_free(struct buyt_eval *e)
{
    if (!e)
        return;
    buyt_matcher_free(e->m);
    buyt_predict_free(e->kalman);
    buyt_predict_free(e->buyt);
    for (uint32_t i = 0; i < e->n_veh; i++)
        free(e->veh[i].id);
    free(e->veh);
    free(e->hb);
    free(e->pend_head);
    free(e->pool);
    free(e);
}

static void vehicle_restart(struct evveh *v, uint32_t idx)
{
    buyt_matcher_vehicle_init(&v->mv, idx);
    buyt_stopev_vehicle_init(&v->sv);
    v->trip_id[0] = v->route_id[0] = v->run_id[0] = '\0';
    v->last_sample_ms = 0;
}

int buyt_eval_set_network(struct buyt_eval *e, const struct buyt_network *net)
{
    if (!net || !net->finished)
        return BUYT_EINVAL;
    struct buyt_matcher *m;
    int rc = buyt_matcher_new(net, NULL, &m);
    if (rc)
        return rc;
    uint32_t heads = 0;
    for (uint32_t t = 0; t < net->n_trips; t++)
        if (net->trips[t].first_time + net->trips[t].n_stops > heads)
            heads = net->trips[t].first_time + net->trips[t].n_stops;
    uint32_t *h = malloc((heads ? heads : 1) * sizeof *h);
    if (!h || buyt_predict_set_network(e->kalman, net) || buyt_predict_set_network(e->buyt, net)) {
        free(h);
        buyt_matcher_free(m);
        buyt_predict_set_network(e->kalman, NULL);
        buyt_predict_set_network(e->buyt, NULL);
        e->net = NULL;
        return BUYT_ENOMEM;
    }
    memset(h, 0xff, (heads ? heads : 1) * sizeof *h);
    free(e->pend_head);
    e->pend_head = h;
    e->n_heads = heads;
    e->rep.unscored += e->pending; /* their trips are gone with the old network */
    e->pending = 0;
    e->n_pool = 0;
    e->free_pend = NONE;
    buyt_matcher_free(e->m);
    e->m = m;
    e->net = net;
    for (uint32_t i = 0; i < e->n_veh; i++)
        vehicle_restart(&e->veh[i], i);
    e->rep.network_loads++;
    return 0;
}

static uint32_t id_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int vehicle_of(struct buyt_eval *e, const char *id, uint32_t *out)
{
    uint32_t h = id_hash(id);
    for (uint32_t i = e->hb[h & e->hmask]; i != NONE; i = e->veh[i].hnext)
        if (!strcmp(e->veh[i].id, id)) {
            *out = i;
            return 0;
        }
    if (e->n_veh == e->cap_veh) {
        uint32_t nc = e->cap_veh ? e->cap_veh * 2 : 64;
        struct evveh *nv = realloc(e->veh, nc * sizeof *nv);
        if (!nv)
            return BUYT_ENOMEM;
        e->veh = nv;
        e->cap_veh = nc;
    }
    if (e->n_veh + 1 > (e->hmask + 1) / 2) { /* keep chains short */
        uint32_t nb = (e->hmask + 1) * 4;
        uint32_t *hb = malloc(nb * sizeof *hb);
        if (!hb)
            return BUYT_ENOMEM;
        memset(hb, 0xff, nb * sizeof *hb);
        for (uint32_t i = 0; i < e->n_veh; i++) {
            uint32_t k = id_hash(e->veh[i].id) & (nb - 1);
            e->veh[i].hnext = hb[k];
            hb[k] = i;
        }
        free(e->hb);
        e->hb = hb;
        e->hmask = nb - 1;
    }
    struct evveh *v = &e->veh[e->n_veh];
    memset(v, 0, sizeof *v);
    v->id = strdup(id);
    if (!v->id)
        return BUYT_ENOMEM;
    vehicle_restart(v, e->n_veh);
    v->hnext = e->hb[h & e->hmask];
    e->hb[h & e->hmask] = e->n_veh;
    *out = e->n_veh++;
    e->rep.vehicles++;
    return 0;
}

/* The instance of trip_id for a fix at time_ms, on service day start_date when given. */
static uint32_t trip_instance(const struct buyt_network *net, const char *trip_id,
                              const char *start_date, int64_t time_ms)
{
    uint32_t t = buyt_network_trip_find(net, trip_id, time_ms);
    if (t == NONE || !start_date || strlen(start_date) != 8)
        return t;
    int y, mo, d;
    if (sscanf(start_date, "%4d%2d%2d", &y, &mo, &d) != 3)
        return t;
    int64_t day = buyt_days_from_civil(y, (unsigned)mo, (unsigned)d);
    for (uint32_t i = t; i != NONE; i = net->trips[i].same_id_next)
        if ((net->trips[i].day_start_ms + 12 * 3600000LL) / 86400000 == day)
            return i;
    return t;
}

static bool changed(char *applied, const char *now)
{
    if (!now)
        now = "";
    if (!strncmp(applied, now, ID_MAX - 1))
        return false;
    snprintf(applied, ID_MAX, "%s", now);
    return true;
}

/* As the engine applies a driver's sign-in: the trip, else the run, else the route. */
static void apply_signin(struct buyt_eval *e, struct evveh *v, const struct buyt_eval_fix *f)
{
    bool c = changed(v->trip_id, f->trip_id);
    c |= changed(v->route_id, f->route_id);
    c |= changed(v->run_id, f->run_id);
    if (!c)
        return;
    if (v->trip_id[0]) {
        uint32_t t = trip_instance(e->net, v->trip_id, f->start_date, f->time_ms);
        if (t != NONE && !buyt_matcher_assign_trip(e->m, &v->mv, t))
            return;
    }
    if (v->run_id[0]) {
        uint32_t b = buyt_network_block_find(e->net, v->run_id);
        if (b != NONE && !buyt_matcher_assign_block(e->m, &v->mv, b))
            return;
    }
    if (v->route_id[0]) {
        uint32_t r = buyt_network_route_find(e->net, v->route_id);
        if (r != NONE && !buyt_matcher_assign_route(e->m, &v->mv, r))
            return;
    }
    buyt_matcher_unassign(e->m, &v->mv);
}

static uint32_t head_of(const struct buyt_network *net, uint32_t trip, uint32_t k)
{
    return net->trips[trip].first_time + k;
}

static void record(struct buyt_eval *e, uint32_t head, int64_t made_ms,
                   const int64_t pred[BUYT_EVAL__COUNT])
{
    uint32_t i = e->free_pend;
    if (i != NONE) {
        e->free_pend = e->pool[i].next;
    } else {
        if (e->n_pool == e->cap_pool) {
            uint32_t nc = e->cap_pool ? e->cap_pool * 2 : 4096;
            struct pend *np = realloc(e->pool, nc * sizeof *np);
            if (!np)
                return; /* not recorded: the report stays exact for what it has */
            e->pool = np;
            e->cap_pool = nc;
        }
        i = e->n_pool++;
    }
    struct pend *p = &e->pool[i];
    p->made_ms = made_ms;
    memcpy(p->pred_ms, pred, sizeof p->pred_ms);
    p->next = e->pend_head[head];
    e->pend_head[head] = i;
    e->pending++;
    e->rep.samples++;
}

static void score(struct buyt_eval *e, uint32_t head, int64_t actual_ms)
{
    uint32_t i = e->pend_head[head];
    while (i != NONE) {
        struct pend *p = &e->pool[i];
        for (int k = 0; k < BUYT_EVAL__COUNT; k++)
            buyt_eval_report_add(&e->rep, (enum buyt_eval_predictor)k, p->made_ms, p->pred_ms[k],
                                 actual_ms);
        e->rep.scored++;
        e->pending--;
        uint32_t next = p->next;
        p->next = e->free_pend;
        e->free_pend = i;
        i = next;
    }
    e->pend_head[head] = NONE;
}

struct event_ctx {
    struct buyt_eval *e;
    uint32_t vehicle;
};

static void on_event(void *arg, const struct buyt_stopev_event *ev)
{
    struct event_ctx *c = arg;
    struct buyt_eval *e = c->e;
    e->rep.stop_events++;
    buyt_predict_observe(e->kalman, c->vehicle, ev);
    buyt_predict_observe(e->buyt, c->vehicle, ev);
    if (ev->gap) {
        e->rep.gap_events++;
        return;
    }
    int64_t actual = ev->stop_index == 0 ? ev->departure_ms : ev->arrival_ms;
    if (actual)
        score(e, head_of(e->net, ev->trip, ev->stop_index), actual);
}

static int64_t sched_ms(const struct buyt_network *net, uint32_t trip, uint32_t k, bool dep)
{
    const struct buyt_network_trip *t = &net->trips[trip];
    const struct buyt_network_time *tm = &net->times[t->first_time + k];
    return t->day_start_ms + (int64_t)(dep ? tm->departure_s : tm->arrival_s) * 1000;
}

/* OneBusAway's delay propagation past a scheduled wait of slack_ms: a late bus absorbs
 * delay into it, an early bus waits out the difference. */
static int64_t absorb(int64_t delay_ms, int64_t slack_ms)
{
    if (slack_ms <= 0)
        return delay_ms;
    if (delay_ms < 0)
        return 0;
    return delay_ms > slack_ms ? delay_ms - slack_ms : 0;
}

/* Reads the vehicle's predictions now and records them for every predictor. */
static void sample(struct buyt_eval *e, uint32_t vi, int64_t now_ms,
                   const struct buyt_matcher_result *res)
{
    const struct buyt_network *net = e->net;
    struct buyt_predict_trip_view views[1 + BUYT_PREDICT_CHAIN_MAX];
    uint32_t nv = buyt_predict_vehicle_view(e->buyt, vi, views, 1 + BUYT_PREDICT_CHAIN_MAX);
    int64_t max_ms = now_ms + (int64_t)e->opt.max_horizon_s * 1000;
    int64_t delay = (int64_t)res->deviation_s * 1000;
    uint32_t prev = res->trip; /* the trip before the view being walked */
    for (uint32_t j = 0; j < nv; j++) {
        const struct buyt_predict_trip_view *w = &views[j];
        const struct buyt_network_trip *t = &net->trips[w->trip];
        if (!w->on_trip && prev != NONE && prev != w->trip) /* layover between trips */
            delay = absorb(delay, sched_ms(net, w->trip, 0, true) -
                                      sched_ms(net, prev, net->trips[prev].n_stops - 1, false));
        prev = w->trip;
        for (uint32_t k = w->from; k < w->n; k++) {
            int64_t pred[BUYT_EVAL__COUNT];
            int64_t sched = sched_ms(net, w->trip, k, k == 0);
            pred[BUYT_EVAL_SCHEDULE] = sched;
            pred[BUYT_EVAL_OBA] = sched + delay;
            if (pred[BUYT_EVAL_OBA] < now_ms)
                pred[BUYT_EVAL_OBA] = now_ms;
            pred[BUYT_EVAL_BUYT] = w->eta_ms[k];
            struct buyt_predict_arrival a;
            bool kal = buyt_predict_get(e->kalman, w->trip, k, &a) == BUYT_PREDICT_LIVE;
            pred[BUYT_EVAL_KALMAN] = kal ? a.eta_ms : w->eta_ms[k];
            if (k > 0 && k + 1 < t->n_stops) /* slack of the dwell scheduled at stop k */
                delay = absorb(delay, sched_ms(net, w->trip, k, true) - sched);
            if (pred[BUYT_EVAL_BUYT] > max_ms && pred[BUYT_EVAL_OBA] > max_ms && sched > max_ms)
                break;
            if (kal)
                record(e, head_of(net, w->trip, k), now_ms, pred);
        }
    }
}

int buyt_eval_feed(struct buyt_eval *e, const struct buyt_eval_fix *f)
{
    if (!e->net || !f->vehicle_id || !*f->vehicle_id) {
        e->rep.fixes_refused++;
        return BUYT_EINVAL;
    }
    if (!e->rep.fixes || f->time_ms < e->rep.first_ms)
        e->rep.first_ms = f->time_ms;
    if (!e->rep.fixes || f->time_ms > e->rep.last_ms)
        e->rep.last_ms = f->time_ms;
    e->rep.fixes++;
    uint32_t vi;
    int rc = vehicle_of(e, f->vehicle_id, &vi);
    if (rc)
        return rc;
    struct evveh *v = &e->veh[vi];
    apply_signin(e, v, f);
    struct buyt_matcher_result *res = &e->res;
    rc = buyt_matcher_update(e->m, &v->mv, f->time_ms, f->lat, f->lon, f->speed_mps, f->course_deg,
                             res);
    if (rc) {
        e->rep.fixes_refused++;
        return rc == BUYT_ERANGE ? 0 : rc; /* stale or a jump: the engine does not match it */
    }
    if (res->trip != NONE) {
        e->rep.fixes_matched++;
        struct event_ctx c = {e, vi};
        buyt_stopev_feed(e->net, &e->scfg, &v->sv, res, on_event, &c);
    }
    if ((rc = buyt_predict_vehicle(e->kalman, vi, v->id, f->time_ms, res)) ||
        (rc = buyt_predict_vehicle(e->buyt, vi, v->id, f->time_ms, res)))
        return rc;
    if (res->trip != NONE && !res->off_route &&
        f->time_ms - v->last_sample_ms >= (int64_t)e->opt.sample_s * 1000) {
        v->last_sample_ms = f->time_ms;
        sample(e, vi, f->time_ms, res);
    }
    return 0;
}

const struct buyt_eval_report *buyt_eval_report(struct buyt_eval *e)
{
    e->out = e->rep;
    e->out.unscored += e->pending;
    return &e->out;
}
