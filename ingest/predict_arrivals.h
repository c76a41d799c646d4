/* The passenger API's arrivals (/api/v1/stops/{stop_id}/arrivals) from buyt's predictor, under
 * the rules the LED boards follow, so an app and the sign at the stop never disagree.
 *
 * Each visit of the stop (the API's timetable listing, buyt_api_arrivals_scheduled: every stop
 * of a trip, its last one included, scheduled in a window widened by the boards' late_window_s
 * before and BUYT_PREDICT_ARRIVALS_EARLY_S after) is read through buyt_board_visit_classify
 * (board.h) and mapped onto struct buyt_arrival:
 *
 *   board kind   realtime  predicted                 status                      basis / fallback
 *   LIVE         true      predictor's eta           at_stop, approaching,       history or
 *                                                    delayed; else layover,      schedule_pace
 *                                                    early (< -60 s), on_time
 *   BLOCK        false     block-corrected           delayed (> delayed_s) or    block
 *                                                    scheduled
 *   SILENT       false     none (the schedule)       scheduled                   vehicle_silent
 *   OFF_ROUTE    false     none (the schedule)       off_route                   off_route
 *   CANCELLED    false     none                      cancelled                   -
 *   SCHEDULE     false     none                      scheduled                   no_prediction
 *   GONE         (not listed: the vehicle has left the stop, as the baseline drops it)
 *
 * The predictor predicts a trip's first stop as a departure: there both predicted times are
 * that departure. Elsewhere the departure is the predicted arrival plus the scheduled dwell
 * (the learned dwell is not exposed per stop). deviation_s is predicted - scheduled at this
 * stop (rounded to the second); distance and stops away are the live vehicle's, along its trip.
 * Listed when the expected time (predicted, else scheduled) is in the window asked for.
 *
 * Predictions are the predictor's present: a request for an instant more than the boards'
 * stale_s before the vehicle's newest fix (the `time` parameter in the past) gets the schedule.
 * Without a predictor or a network everything is the schedule (fallback no_prediction),
 * exactly as the baseline lists trips without a fresh vehicle. */
#ifndef BUYT_PREDICT_ARRIVALS_H
#define BUYT_PREDICT_ARRIVALS_H

#include "api.h"
#include "board.h"
#include "network.h"
#include "vehicles.h"

#include <stdbool.h>
#include <stdint.h>

/** The provider's name in responses and in ?source=. */
#define BUYT_PREDICT_ARRIVALS_SOURCE "predictor"

/** Visits scheduled up to this long after the window are read: a bus running this early. */
#define BUYT_PREDICT_ARRIVALS_EARLY_S 1800

/** A buyt_arrivals_fn (api.h). `ud` is the api object: set arrivals_ud NULL in the options.
 *  Reads e->predict, e->boards (its configuration; the defaults without one), e->vehicles.
 *  Returns 0, BUYT_EFULL (the caller grows out and asks again). Loop thread. */
int buyt_api_arrivals_predictor(void *ud, struct buyt_engine *e, uint32_t stop, int64_t now_ms,
                                int64_t from_ms, int64_t to_ms, struct buyt_arrival *out,
                                uint32_t cap, uint32_t *n);

/** Overlays a board's reading `bv` of visit (x->trip, x->stop_index) onto *x, which holds the
 *  visit at its schedule (as buyt_api_arrivals_scheduled lists it), per the table above. `v`
 *  is the engine's entry of bv->pred.vehicle (NULL if unknown: no vehicle, distance or layover
 *  then). Returns false when the visit is not to be listed (GONE). Pure. */
bool buyt_predict_arrivals_apply(const struct buyt_board_visit *bv, const struct buyt_network *net,
                                 const struct buyt_vehicle *v, struct buyt_arrival *x);

#endif
