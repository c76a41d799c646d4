/* Test networks; see networks.h. */
#include "networks.h"

#include <criterion/criterion.h>
#include <stdio.h>

void buyt_test_add_trip(struct buyt_network *net, const char *id, uint32_t route, uint32_t shape,
                        int dir, const char *headsign, const char *block, int64_t day0,
                        int64_t start_ms, const uint32_t *stops, int n, int seg_s)
{
    struct buyt_network_trip_def d = {.trip_id = id,
                                      .route = route,
                                      .shape = shape,
                                      .block_id = block,
                                      .headsign = headsign,
                                      .direction_id = dir,
                                      .day_start_ms = day0};
    uint32_t t;
    cr_assert_eq(buyt_network_add_trip(net, &d, &t), 0, "%s", id);
    int32_t s0 = (int32_t)((start_ms - day0) / 1000);
    for (int i = 0; i < n; i++)
        cr_assert_eq(buyt_network_add_stop_time(net, t, (uint32_t)(i + 1) * 10, stops[i],
                                                s0 + i * seg_s, s0 + i * seg_s),
                     0);
}

struct buyt_network *buyt_test_network_ag(int64_t now, const char *g_name, const char *headsign_02,
                                          struct buyt_test_net_ag *out)
{
    const struct {
        const char *id, *name;
        double lat, lon;
    } stops[] = {
        {"A", "Kim Mã", 21.0, 105.80},          {"B", "Cầu Giấy", 21.0, 105.81},
        {"C", "Hồ Hoàn Kiếm", 21.0, 105.82},    {"D", "Đại học Bách khoa", 21.0, 105.83},
        {"E", "Bến xe Giáp Bát", 21.0, 105.84}, {"F", "Ga Hà Nội", 21.01, 105.81},
        {"G", g_name, 21.02, 105.81},
    };
    struct buyt_test_net_ag unused;
    if (!out)
        out = &unused;
    struct buyt_network *net;
    cr_assert_eq(buyt_network_new(NULL, &net), 0);
    out->day0 = (now - 3 * 3600000LL) / 86400000 * 86400000; /* times 3..27 h after it */
    uint32_t s[7], r1, r2, sh1, sh1b, sh2;
    for (int i = 0; i < 7; i++)
        cr_assert_eq(buyt_network_add_stop(net, stops[i].id, stops[i].name, stops[i].lat,
                                           stops[i].lon, &s[i]),
                     0);
    cr_assert_eq(buyt_network_add_route(net, "01", "01", 3, &r1), 0);
    cr_assert_eq(buyt_network_add_route(net, "02", "02", 3, &r2), 0);
    cr_assert_eq(buyt_network_add_shape(net, "east", &sh1), 0);
    cr_assert_eq(buyt_network_add_shape(net, "west", &sh1b), 0);
    cr_assert_eq(buyt_network_add_shape(net, "north", &sh2), 0);
    for (int i = 0; i <= 40; i++) {
        buyt_network_add_shape_point(net, sh1, 21.0, 105.80 + i * 0.001);
        buyt_network_add_shape_point(net, sh1b, 21.0, 105.84 - i * 0.001);
    }
    for (int i = 0; i <= 20; i++)
        buyt_network_add_shape_point(net, sh2, 21.0 + i * 0.001, 105.81);
    uint32_t east[5] = {s[0], s[1], s[2], s[3], s[4]}, west[5] = {s[4], s[3], s[2], s[1], s[0]};
    uint32_t north[3] = {s[1], s[5], s[6]};
    int64_t t0 = now / 1000 * 1000 - 3 * 60000; /* GTFS times are whole seconds */
    char id[32];
    for (int k = 0; k <= 18; k++) {
        snprintf(id, sizeof id, "01_%d", k);
        out->trip_start[k] = t0 + (k - 6) * 600000LL;
        buyt_test_add_trip(net, id, r1, sh1, 0, "Bến xe Giáp Bát", NULL, out->day0,
                           out->trip_start[k], east, 5, 120);
    }
    buyt_test_add_trip(net, "01_back", r1, sh1b, 1, "Kim Mã", NULL, out->day0, now + 30 * 60000,
                       west, 5, 120);
    for (int k = 0; k <= 8; k++) {
        snprintf(id, sizeof id, "02_%d", k);
        buyt_test_add_trip(net, id, r2, sh2, 0, headsign_02, NULL, out->day0,
                           now + (k - 2) * 900000LL, north, 3, 150);
    }
    cr_assert_eq(buyt_network_finish(net), 0);
    cr_assert_eq(net->stats.trips_invalid, 0);
    return net;
}
