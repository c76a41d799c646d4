/* The passenger API's arrivals from the predictor, read through the boards' rules; see
 * predict_arrivals.h. */
#include "predict_arrivals.h"

#include "engine.h"

#define EARLY_S 60 /* BUYT_ARRIVAL_EARLY: more than this ahead of schedule */

/* Rounds a duration in ms to whole seconds, halves away from zero. */
static int32_t ms_to_s(int64_t ms)
{
    return (int32_t)(ms >= 0 ? (ms + 500) / 1000 : -((-ms + 500) / 1000));
}

/* The board's reading names a vehicle (bv->pred is filled). */
static bool has_vehicle(enum buyt_board_visit_kind k)
{
    return k == BUYT_BOARD_VISIT_SILENT || k == BUYT_BOARD_VISIT_OFF_ROUTE ||
           k == BUYT_BOARD_VISIT_BLOCK || k == BUYT_BOARD_VISIT_LIVE;
}

/* The status of a LIVE visit: the board's, refined where the API says more (early, layover). */
static enum buyt_arrival_status live_status(const struct buyt_board_visit *bv, int32_t dev_s,
                                            bool layover)
{
    switch (bv->status) {
    case BUYT__V1__ARRIVAL_STATUS__ARRIVAL_STATUS_AT_STOP: return BUYT_ARRIVAL_AT_STOP;
    case BUYT__V1__ARRIVAL_STATUS__ARRIVAL_STATUS_APPROACHING: return BUYT_ARRIVAL_APPROACHING;
    case BUYT__V1__ARRIVAL_STATUS__ARRIVAL_STATUS_DELAYED: return BUYT_ARRIVAL_DELAYED;
    default: break;
    }
    if (layover)
        return BUYT_ARRIVAL_LAYOVER;
    return dev_s < -EARLY_S ? BUYT_ARRIVAL_EARLY : BUYT_ARRIVAL_ON_TIME;
}

bool buyt_predict_arrivals_apply(const struct buyt_board_visit *bv, const struct buyt_network *net,
                                 const struct buyt_vehicle *v, struct buyt_arrival *x)
{
    uint32_t k = x->stop_index;
    int64_t sched = k == 0 ? x->scheduled_departure_ms : x->scheduled_arrival_ms;
    switch (bv->kind) {
    case BUYT_BOARD_VISIT_GONE: return false;
    case BUYT_BOARD_VISIT_SCHEDULE: x->fallback = BUYT_ARRIVAL_FALLBACK_NO_PREDICTION; return true;
    case BUYT_BOARD_VISIT_CANCELLED:
        x->status = BUYT_ARRIVAL_CANCELLED;
        x->fallback = BUYT_ARRIVAL_FALLBACK_NONE;
        return true;
    case BUYT_BOARD_VISIT_SILENT:
    case BUYT_BOARD_VISIT_OFF_ROUTE:
        /* A ghost: the schedule, marked, with the vehicle and how old its last fix is. */
        x->vehicle = v ? (int32_t)v->index : -1;
        x->last_update_ms = bv->pred.fix_ms;
        if (bv->kind == BUYT_BOARD_VISIT_OFF_ROUTE) {
            x->status = BUYT_ARRIVAL_OFF_ROUTE;
            x->fallback = BUYT_ARRIVAL_FALLBACK_OFF_ROUTE;
        } else {
            x->status = BUYT_ARRIVAL_SCHEDULED;
            x->fallback = BUYT_ARRIVAL_FALLBACK_VEHICLE_SILENT;
        }
        return true;
    case BUYT_BOARD_VISIT_BLOCK:
    case BUYT_BOARD_VISIT_LIVE: break;
    }
    int64_t eta = bv->eta_ms;
    int64_t dwell = x->scheduled_departure_ms - x->scheduled_arrival_ms;
    x->predicted_arrival_ms = eta;
    x->predicted_departure_ms = k == 0 ? eta : eta + (dwell > 0 ? dwell : 0);
    x->deviation_s = ms_to_s(eta - sched);
    x->vehicle = v ? (int32_t)v->index : -1;
    x->last_update_ms = bv->pred.fix_ms;
    x->fallback = BUYT_ARRIVAL_FALLBACK_NONE;
    if (bv->kind == BUYT_BOARD_VISIT_BLOCK) {
        x->realtime = false;
        x->basis = BUYT_ARRIVAL_BASIS_BLOCK;
        x->status = bv->status == BUYT__V1__ARRIVAL_STATUS__ARRIVAL_STATUS_DELAYED
                        ? BUYT_ARRIVAL_DELAYED
                        : BUYT_ARRIVAL_SCHEDULED;
        return true;
    }
    x->realtime = true;
    x->basis = bv->pred.source == BUYT_PREDICT_LEARNED ? BUYT_ARRIVAL_BASIS_HISTORY
                                                       : BUYT_ARRIVAL_BASIS_SCHEDULE_PACE;
    /* Where the vehicle is, from the engine's latest match of this very trip. */
    bool on = v && net && v->trip == x->trip;
    if (on) {
        double d = buyt_network_trip_stop_dist(net, x->trip, k) - v->dist_m;
        x->distance_m = d > 0 ? d : 0;
        x->stops_away = k > v->next_stop ? (int32_t)(k - v->next_stop) : 0;
    }
    x->status = live_status(bv, x->deviation_s, on && v->layover);
    return true;
}

int buyt_api_arrivals_predictor(void *ud, struct buyt_engine *e, uint32_t stop, int64_t now_ms,
                                int64_t from_ms, int64_t to_ms, struct buyt_arrival *out,
                                uint32_t cap, uint32_t *n)
{
    struct buyt_board_config def;
    const struct buyt_board_config *c = e->boards ? buyt_boards_config(e->boards) : NULL;
    if (!c) {
        buyt_board_config_default(&def);
        c = &def;
    }
    /* Late buses come up to the boards' late window after their schedule, early ones up to
     * EARLY_S before it: read every visit that may land in [from, to]. */
    uint32_t m = 0;
    *n = 0;
    int rc = buyt_api_arrivals_scheduled(ud, e, stop, from_ms - (int64_t)c->late_window_s * 1000,
                                         to_ms + (int64_t)BUYT_PREDICT_ARRIVALS_EARLY_S * 1000, out,
                                         cap, &m);
    if (rc)
        return rc;
    int64_t stale_ms = (int64_t)c->stale_s * 1000;
    uint32_t w = 0;
    for (uint32_t i = 0; i < m; i++) {
        struct buyt_arrival x = out[i];
        if (e->predict) {
            struct buyt_board_visit bv;
            int64_t sched = x.stop_index == 0 ? x.scheduled_departure_ms : x.scheduled_arrival_ms;
            buyt_board_visit_classify(c, e->predict, x.trip, x.stop_index, sched, now_ms, &bv);
            if (has_vehicle(bv.kind) && bv.pred.fix_ms - now_ms > stale_ms) {
                /* Asked about an instant before what the predictor knows: no prediction. */
                bv = (struct buyt_board_visit){.kind = BUYT_BOARD_VISIT_SCHEDULE, .eta_ms = sched};
            }
            const struct buyt_vehicle *v = has_vehicle(bv.kind) && bv.pred.vehicle < e->vehicles.n
                                               ? &e->vehicles.v[bv.pred.vehicle]
                                               : NULL;
            if (!buyt_predict_arrivals_apply(&bv, e->net, v, &x))
                continue;
        }
        int64_t t = x.predicted_arrival_ms ? x.predicted_arrival_ms : x.scheduled_arrival_ms;
        if (t < from_ms || t > to_ms)
            continue;
        out[w++] = x;
    }
    *n = w;
    return 0;
}
