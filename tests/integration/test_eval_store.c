/* The predictor's tables (sql/migrations/0003_predictions.sql) through predict_store.h: learned
 * statistics survive a restart (save, upsert, load), and sampled predictions get their actual
 * time joined from stop_events for accuracy reports. */
#include "error.h"
#include "geo.h"
#include "network.h"
#include "predict.h"
#include "predict_store.h"
#include "testkit.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define DAY_MS 1714496400000LL /* 2024-05-01 00:00 +07 */
#define HMS(h, m, s) (DAY_MS + ((h)*3600LL + (m)*60LL + (s)) * 1000)
#define NSTOP 6

/* Stops s0..s5 every 400 m; one trip at 07:00, 60 s per segment. Odd ids test escaping. */
static struct buyt_network *street(uint32_t *trip)
{
    static const char *const ids[NSTOP] = {"s0", "s\t1", "s\\2", "s3", "s4", "Đ5"};
    struct buyt_geo_frame f;
    buyt_geo_frame_init(&f, 21.03, 105.85);
    struct buyt_network *net;
    uint32_t r, sh, st[NSTOP];
    cr_assert_eq(buyt_network_new(NULL, &net), 0);
    cr_assert_eq(buyt_network_add_route(net, "R1", "01", 3, &r), 0);
    cr_assert_eq(buyt_network_add_shape(net, "E", &sh), 0);
    for (double x = 0; x <= (NSTOP - 1) * 400.0; x += 50) {
        double lat, lon;
        buyt_geo_from_xy(&f, x, 0, &lat, &lon);
        cr_assert_eq(buyt_network_add_shape_point(net, sh, lat, lon), 0);
    }
    for (int k = 0; k < NSTOP; k++) {
        double lat, lon;
        buyt_geo_from_xy(&f, k * 400.0, 3, &lat, &lon);
        cr_assert_eq(buyt_network_add_stop(net, ids[k], ids[k], lat, lon, &st[k]), 0);
    }
    struct buyt_network_trip_def d = {
        .trip_id = "T1", .route = r, .shape = sh, .direction_id = 0, .day_start_ms = DAY_MS};
    cr_assert_eq(buyt_network_add_trip(net, &d, trip), 0);
    for (int k = 0; k < NSTOP; k++)
        cr_assert_eq(buyt_network_add_stop_time(net, *trip, (uint32_t)k + 1, st[k],
                                                7 * 3600 + k * 60, 7 * 3600 + k * 60),
                     0);
    cr_assert_eq(buyt_network_finish(net), 0);
    return net;
}

static void drive(struct buyt_predict *p, const struct buyt_network *net, uint32_t t, int64_t dep,
                  double seg_s, double dwell_s)
{
    struct buyt_stopev_event e = {
        .trip = t, .stop = buyt_network_trip_stop(net, t, 0), .departure_ms = dep};
    buyt_predict_observe(p, 0, &e);
    for (uint32_t k = 1; k < NSTOP; k++) {
        int64_t arr = dep + (int64_t)(seg_s * 1000);
        e = (struct buyt_stopev_event){.trip = t,
                                       .stop_index = k,
                                       .stop_sequence = k + 1,
                                       .stop = buyt_network_trip_stop(net, t, k),
                                       .arrival_ms = arr,
                                       .departure_ms =
                                           k + 1 < NSTOP ? arr + (int64_t)(dwell_s * 1000) : 0};
        buyt_predict_observe(p, 0, &e);
        dep = e.departure_ms;
    }
}

Test(eval_store, learned_statistics_survive_a_restart)
{
    char db[512], err[512];
    buyt_test_fresh_db(db, sizeof db);
    PGconn *c = buyt_test_pg_connect(db);
    uint32_t t;
    struct buyt_network *net = street(&t);
    struct buyt_predict *p;
    cr_assert_eq(buyt_predict_new(NULL, &p), 0);
    cr_assert_eq(buyt_predict_set_network(p, net), 0);
    for (int i = 0; i < 3; i++)
        drive(p, net, t, HMS(7, 10 * i, 0), 80 + 10 * i, 12);
    struct buyt_predict_stats *snap;
    cr_assert_eq(buyt_predict_stats_snapshot(p, false, &snap), 0);
    cr_assert_eq(snap->n, (NSTOP - 1) + (NSTOP - 2));
    cr_assert_eq(buyt_predict_store_save(c, snap, err, sizeof err), 0, "%s", err);
    buyt_predict_stats_free(snap);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM segment_stats"), 9);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT n FROM segment_stats WHERE kind = 0"
                                      " AND from_stop = 's\t1' AND to_stop = 's\\2'"),
                 3, "ids with a tab and a backslash stored as they are");
    cr_assert_eq(buyt_test_sql_int(c, "SELECT round(mean_s) FROM segment_stats WHERE kind = 0"
                                      " AND from_stop = 's4' AND to_stop = 'Đ5'"),
                 90);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM segment_stats WHERE kind = 1"
                                      " AND to_stop = '' AND round(mean_s) = 12"),
                 4);

    /* More traffic: only the changed cells are saved again, as updates. */
    drive(p, net, t, HMS(7, 40, 0), 200, 12);
    cr_assert_eq(buyt_predict_stats_snapshot(p, false, &snap), 0);
    cr_assert_eq(snap->n, 9);
    cr_assert_eq(buyt_predict_store_save(c, snap, err, sizeof err), 0, "%s", err);
    buyt_predict_stats_free(snap);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM segment_stats"), 9);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT n FROM segment_stats WHERE from_stop = 's0'"), 4);

    /* A restart: a new predictor loads the rows and predicts with them. */
    struct buyt_predict *q;
    cr_assert_eq(buyt_predict_new(NULL, &q), 0);
    size_t loaded;
    cr_assert_eq(buyt_predict_store_load(c, q, &loaded, err, sizeof err), 0, "%s", err);
    cr_assert_eq(loaded, 9);
    cr_assert_eq(buyt_predict_set_network(q, net), 0);
    struct buyt_predict_stat a, b;
    cr_assert(buyt_predict_stat_get(p, BUYT_PREDICT_TRAVEL, "s3", "s4", 1, 0, &a));
    cr_assert(buyt_predict_stat_get(q, BUYT_PREDICT_TRAVEL, "s3", "s4", 1, 0, &b));
    cr_assert_eq(a.n, b.n);
    cr_assert_float_eq(a.mean_s, b.mean_s, 1e-3);
    cr_assert_float_eq(a.var_s2, b.var_s2, 1e-2);
    cr_assert_eq(a.updated_ms, b.updated_ms);
    buyt_predict_free(p);
    buyt_predict_free(q);
    buyt_network_free(net);
    PQfinish(c);
}

Test(eval_store, sampled_predictions_get_their_actuals)
{
    char db[512], err[512];
    buyt_test_fresh_db(db, sizeof db);
    PGconn *c = buyt_test_pg_connect(db);
    uint32_t t;
    struct buyt_network *net = street(&t);
    struct buyt_predict *p;
    cr_assert_eq(buyt_predict_new(NULL, &p), 0);
    cr_assert_eq(buyt_predict_set_network(p, net), 0);
    struct buyt_matcher_result r = {.trip = t, .next_stop = 0, .dist_m = 0};
    cr_assert_eq(buyt_predict_vehicle(p, 0, "29B-100", HMS(6, 59, 0), &r), 0);
    struct buyt_predict_sample s[8];
    uint32_t n = buyt_predict_samples(p, HMS(6, 59, 0), 120, s, 8);
    cr_assert_eq(n, 3, "0-3 min: s0 (departure), 3-6 min: s\\2, 6-10 min: Đ5");
    cr_assert_eq(buyt_predict_store_samples(c, s, n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM predictions WHERE actual IS NULL"), 3);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT horizon_s FROM predictions WHERE stop_sequence = 1"),
                 60);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT departure::int FROM predictions"
                                      " WHERE stop_sequence = 1"),
                 1);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM predictions WHERE"
                                      " service_date = '2024-05-01' AND trip_id = 'T1' AND"
                                      " vehicle_id = '29B-100' AND stop_id = 's\\2' AND"
                                      " predicted = '2024-05-01 07:02:00+07'"),
                 1);
    /* The bus left s0 at 07:00:40 and reached s\2 at 07:02:30 (stop_events as the engine
     * writes them: the first stop has only a departure). */
    buyt_test_sql_exec(c, "INSERT INTO stop_events (service_date, trip_id, stop_sequence,"
                          " stop_id, route_id, vehicle, arrival, departure) VALUES"
                          " ('2024-05-01', 'T1', 1, 's0', 'R1', 1, NULL,"
                          " '2024-05-01 07:00:40+07'),"
                          " ('2024-05-01', 'T1', 3, 's\\2', 'R1', 1, '2024-05-01 07:02:30+07',"
                          " '2024-05-01 07:02:45+07')");
    long long filled;
    cr_assert_eq(buyt_predict_store_fill_actuals(c, HMS(6, 0, 0), &filled, err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(filled, 2, "Đ5 not reached yet");
    cr_assert_eq(buyt_test_sql_int(c, "SELECT extract(epoch FROM actual - predicted)::int"
                                      " FROM predictions WHERE stop_sequence = 1"),
                 40, "the first stop is scored on its departure");
    cr_assert_eq(buyt_test_sql_int(c, "SELECT extract(epoch FROM actual - predicted)::int"
                                      " FROM predictions WHERE stop_sequence = 3"),
                 30);
    cr_assert_eq(buyt_predict_store_fill_actuals(c, HMS(6, 0, 0), &filled, err, sizeof err), 0);
    cr_assert_eq(filled, 0, "already joined");
    buyt_predict_free(p);
    buyt_network_free(net);
    PQfinish(c);
}
