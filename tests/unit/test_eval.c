/* Accuracy report: bucket assignment, TransitApp tolerances, scoring of a hand-made case, the
 * JSON form, and an offline replay where the learned predictor must beat the baselines. */
#include "error.h"
#include "eval.h"
#include "geo.h"
#include "network.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN 60000LL

Test(eval, horizon_buckets)
{
    cr_assert_eq(buyt_eval_bucket_of(-1), -1, "made after the arrival");
    cr_assert_eq(buyt_eval_bucket_of(0), 0);
    cr_assert_eq(buyt_eval_bucket_of(3 * MIN - 1), 0);
    cr_assert_eq(buyt_eval_bucket_of(3 * MIN), 1);
    cr_assert_eq(buyt_eval_bucket_of(6 * MIN - 1), 1);
    cr_assert_eq(buyt_eval_bucket_of(6 * MIN), 2);
    cr_assert_eq(buyt_eval_bucket_of(10 * MIN - 1), 2);
    cr_assert_eq(buyt_eval_bucket_of(10 * MIN), 3);
    cr_assert_eq(buyt_eval_bucket_of(15 * MIN - 1), 3);
    cr_assert_eq(buyt_eval_bucket_of(15 * MIN), -1);
}

Test(eval, transitapp_tolerances_early_and_late)
{
    /* error = actual - predicted: negative = the bus came early. */
    const int64_t early[4] = {30000, 60000, 60000, 90000};
    const int64_t late[4] = {90000, 150000, 210000, 270000};
    for (int b = 0; b < 4; b++) {
        cr_assert(buyt_eval_accurate(b, 0));
        cr_assert(buyt_eval_accurate(b, -early[b]), "bucket %d: exactly early_s", b);
        cr_assert_not(buyt_eval_accurate(b, -early[b] - 1));
        cr_assert(buyt_eval_accurate(b, late[b]));
        cr_assert_not(buyt_eval_accurate(b, late[b] + 1));
    }
    cr_assert_not(buyt_eval_accurate(4, 0));
    cr_assert_not(buyt_eval_accurate(-1, 0));
}

/* A hand-made case: predictions made at T0 for buses arriving at known times. */
static void hand_made(struct buyt_eval_report *r)
{
    const int64_t t0 = 1714532400000LL;
    memset(r, 0, sizeof *r);
    /* 0-3 min: arrives at +2 min; predicted on time, 100 s early (bus late), 20 s late. */
    buyt_eval_report_add(r, BUYT_EVAL_BUYT, t0, t0 + 2 * MIN, t0 + 2 * MIN);
    buyt_eval_report_add(r, BUYT_EVAL_BUYT, t0, t0 + 2 * MIN - 100000, t0 + 2 * MIN);
    buyt_eval_report_add(r, BUYT_EVAL_BUYT, t0, t0 + 2 * MIN + 20000, t0 + 2 * MIN);
    /* 3-6 min: arrives at +5 min, predicted 70 s late (the bus came 70 s early). */
    buyt_eval_report_add(r, BUYT_EVAL_BUYT, t0, t0 + 5 * MIN + 70000, t0 + 5 * MIN);
    /* 10-15 min: arrives at +12 min, predicted 4 min early: within +4.5 min. */
    buyt_eval_report_add(r, BUYT_EVAL_BUYT, t0, t0 + 8 * MIN, t0 + 12 * MIN);
    /* 20 min ahead: outside every bucket. */
    buyt_eval_report_add(r, BUYT_EVAL_BUYT, t0, t0 + 20 * MIN, t0 + 20 * MIN);
    /* The schedule: one in 0-3, wrong by 2 min late. */
    buyt_eval_report_add(r, BUYT_EVAL_SCHEDULE, t0, t0, t0 + 2 * MIN);
}

Test(eval, hand_made_case_scores)
{
    struct buyt_eval_report r;
    hand_made(&r);
    cr_assert_eq(r.cell[BUYT_EVAL_BUYT][0].n, 3);
    cr_assert_eq(r.cell[BUYT_EVAL_BUYT][0].accurate, 2);
    cr_assert_float_eq(buyt_eval_accuracy(&r, BUYT_EVAL_BUYT, 0), 2.0 / 3, 1e-12);
    cr_assert_float_eq(buyt_eval_mae_s(&r, BUYT_EVAL_BUYT, 0), 40.0, 1e-9);
    cr_assert_eq(r.cell[BUYT_EVAL_BUYT][1].n, 1);
    cr_assert_eq(r.cell[BUYT_EVAL_BUYT][1].accurate, 0);
    cr_assert_eq(r.cell[BUYT_EVAL_BUYT][2].n, 0);
    cr_assert(isnan(buyt_eval_accuracy(&r, BUYT_EVAL_BUYT, 2)));
    cr_assert_eq(r.cell[BUYT_EVAL_BUYT][3].accurate, 1);
    cr_assert_float_eq(buyt_eval_mae_s(&r, BUYT_EVAL_BUYT, 3), 240.0, 1e-9);
    /* Score: the plain mean of the buckets that have samples: (2/3 + 0 + 1) / 3. */
    cr_assert_float_eq(buyt_eval_score(&r, BUYT_EVAL_BUYT), (2.0 / 3 + 0 + 1) / 3, 1e-12);
    cr_assert_float_eq(buyt_eval_score(&r, BUYT_EVAL_SCHEDULE), 0.0, 1e-12);
    cr_assert(isnan(buyt_eval_score(&r, BUYT_EVAL_OBA)));
    cr_assert_str_eq(buyt_eval_predictor_name(BUYT_EVAL_KALMAN), "kalman");
}

Test(eval, json_and_text_reports)
{
    struct buyt_eval_report r;
    hand_made(&r);
    r.fixes = 10;
    r.first_ms = 1714532400000LL;
    r.last_ms = r.first_ms + 1000;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_eq(buyt_eval_report_json(f, &r), 0);
    fclose(f);
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    cr_assert_not_null(j, "%s: %s", je.text, text);
    cr_assert_eq(json_integer_value(json_object_get(j, "fixes")), 10);
    cr_assert_str_eq(json_string_value(json_object_get(j, "from")), "2024-05-01T03:00:00.000Z");
    json_t *b0 = json_array_get(json_object_get(j, "buckets"), 0);
    cr_assert_eq(json_integer_value(json_object_get(b0, "early_s")), 30);
    cr_assert_eq(json_integer_value(json_object_get(b0, "late_s")), 90);
    json_t *buyt = json_object_get(json_object_get(j, "predictors"), "buyt");
    cr_assert_float_eq(json_real_value(json_object_get(buyt, "score")), (2.0 / 3 + 1) / 3, 1e-9);
    json_t *c0 = json_array_get(json_object_get(buyt, "buckets"), 0);
    cr_assert_eq(json_integer_value(json_object_get(c0, "n")), 3);
    cr_assert_float_eq(json_real_value(json_object_get(c0, "mae_s")), 40.0, 1e-9);
    cr_assert_float_eq(json_real_value(json_object_get(c0, "bias_s")), 80.0 / 3, 1e-9);
    cr_assert(json_is_null(
        json_object_get(json_array_get(json_object_get(buyt, "buckets"), 2), "accuracy")));
    cr_assert(json_is_null(
        json_object_get(json_object_get(json_object_get(j, "predictors"), "oba"), "score")));
    json_decref(j);
    free(text);

    f = open_memstream(&text, &len);
    cr_assert_eq(buyt_eval_report_print(f, &r), 0);
    fclose(f);
    cr_assert_not_null(strstr(text, "0-3 min    -30s/+90s"), "%s", text);
    cr_assert_not_null(strstr(text, "66.7"), "%s", text);
    free(text);
}

/* ---- an offline replay ------------------------------------------------------------------- */

#define LAT0 21.03
#define LON0 105.85
#define DAY_MS 1714496400000LL /* 2024-05-01 00:00 +07 */
#define NSTOP 10
#define GAP_M 400.0
#define SCHED_SEG_S 60 /* the timetable's stop-to-stop time ... */
#define TRUE_SEG_S 90  /* ... and what the street really takes */
#define DWELL_S 15

static struct buyt_network *street(int ntrips, int first_s, int headway_s)
{
    struct buyt_geo_frame f;
    buyt_geo_frame_init(&f, LAT0, LON0);
    struct buyt_network *net;
    uint32_t route, shape, stop[NSTOP];
    cr_assert_eq(buyt_network_new(NULL, &net), 0);
    cr_assert_eq(buyt_network_add_route(net, "R1", "01", 3, &route), 0);
    cr_assert_eq(buyt_network_add_shape(net, "E", &shape), 0);
    for (double x = 0; x <= (NSTOP - 1) * GAP_M + 1e-9; x += 50) {
        double lat, lon;
        buyt_geo_from_xy(&f, x, 0, &lat, &lon);
        cr_assert_eq(buyt_network_add_shape_point(net, shape, lat, lon), 0);
    }
    for (int k = 0; k < NSTOP; k++) {
        char id[8];
        double lat, lon;
        snprintf(id, sizeof id, "s%d", k);
        buyt_geo_from_xy(&f, k * GAP_M, 3, &lat, &lon);
        cr_assert_eq(buyt_network_add_stop(net, id, id, lat, lon, &stop[k]), 0);
    }
    for (int i = 0; i < ntrips; i++) {
        char id[16];
        snprintf(id, sizeof id, "T%02d", i);
        struct buyt_network_trip_def d = {.trip_id = id,
                                          .route = route,
                                          .shape = shape,
                                          .direction_id = 0,
                                          .day_start_ms = DAY_MS};
        uint32_t t;
        cr_assert_eq(buyt_network_add_trip(net, &d, &t), 0);
        for (int k = 0; k < NSTOP; k++) {
            int32_t at = first_s + i * headway_s + k * SCHED_SEG_S;
            cr_assert_eq(buyt_network_add_stop_time(net, t, (uint32_t)k + 1, stop[k], at, at), 0);
        }
    }
    cr_assert_eq(buyt_network_finish(net), 0);
    return net;
}

/* Where a bus that left stop 0 at dep_ms is at ms: TRUE_SEG_S per segment at constant speed,
 * DWELL_S standing at each intermediate stop. */
static double truth(int64_t dep_ms, int64_t ms, double *speed)
{
    *speed = 0;
    if (ms <= dep_ms)
        return 0;
    double t = (double)(ms - dep_ms) / 1000.0;
    for (int k = 1; k < NSTOP; k++) {
        if (t < TRUE_SEG_S) {
            *speed = GAP_M / TRUE_SEG_S;
            return (k - 1) * GAP_M + GAP_M * t / TRUE_SEG_S;
        }
        t -= TRUE_SEG_S;
        if (k + 1 == NSTOP)
            break;
        if (t < DWELL_S)
            return k * GAP_M;
        t -= DWELL_S;
    }
    return (NSTOP - 1) * GAP_M;
}

Test(eval, replay_learned_predictor_beats_schedule_and_oba)
{
    const int ntrips = 24, first_s = 6 * 3600, headway_s = 600;
    struct buyt_network *net = street(ntrips, first_s, headway_s);
    struct buyt_eval *e;
    cr_assert_eq(buyt_eval_new(NULL, &e), 0);
    cr_assert_eq(
        buyt_eval_new(&(struct buyt_eval_options){.sample_s = 0}, &(struct buyt_eval *){0}),
        BUYT_EINVAL);
    cr_assert_eq(buyt_eval_set_network(e, net), 0);
    struct buyt_geo_frame f;
    buyt_geo_frame_init(&f, LAT0, LON0);
    int64_t trip_s = (NSTOP - 1) * (TRUE_SEG_S + DWELL_S);
    for (int64_t ms = DAY_MS + (first_s - 120) * 1000LL;
         ms <= DAY_MS + (first_s + (ntrips - 1) * headway_s + trip_s + 120) * 1000LL; ms += 2000) {
        for (int i = 0; i < ntrips; i++) {
            int64_t dep = DAY_MS + (int64_t)(first_s + i * headway_s) * 1000;
            if (ms < dep - 120000 || ms > dep + (trip_s + 60) * 1000)
                continue;
            double speed, x = truth(dep, ms, &speed), lat, lon;
            buyt_geo_from_xy(&f, x, 0, &lat, &lon);
            char vid[16], tid[16];
            snprintf(vid, sizeof vid, "bus%02d", i % 4);
            snprintf(tid, sizeof tid, "T%02d", i);
            struct buyt_eval_fix fx = {.vehicle_id = vid,
                                       .time_ms = ms,
                                       .lat = lat,
                                       .lon = lon,
                                       .speed_mps = speed,
                                       .course_deg = speed > 0 ? 90 : NAN,
                                       .trip_id = tid};
            cr_assert_eq(buyt_eval_feed(e, &fx), 0);
        }
    }
    const struct buyt_eval_report *r = buyt_eval_report(e);
    cr_assert_eq(r->vehicles, 4);
    cr_assert_eq(r->fixes_refused, 0);
    cr_assert_eq(r->stop_events, (uint64_t)ntrips * NSTOP, "every stop of every trip seen");
    cr_assert_gt(r->scored, 1000);
    cr_assert_eq(r->scored + r->unscored, r->samples);
    double s_sched = buyt_eval_score(r, BUYT_EVAL_SCHEDULE),
           s_oba = buyt_eval_score(r, BUYT_EVAL_OBA);
    double s_kal = buyt_eval_score(r, BUYT_EVAL_KALMAN),
           s_buyt = buyt_eval_score(r, BUYT_EVAL_BUYT);
    cr_log_info("scores: schedule %.3f oba %.3f kalman %.3f buyt %.3f", s_sched, s_oba, s_kal,
                s_buyt);
    cr_assert_gt(s_oba, s_sched);
    cr_assert_gt(s_buyt, s_oba);
    cr_assert_geq(s_kal, s_oba);
    cr_assert_geq(s_buyt, 0.9);
    for (int b = 0; b < BUYT_EVAL_BUCKETS; b++)
        cr_assert_gt(r->cell[BUYT_EVAL_BUYT][b].n, 0, "bucket %d", b);
    buyt_eval_free(e);
    buyt_network_free(net);
}
