/* Small networks for engine tests, built in memory (network.h) around Hanoi with trips that run
 * at the time given: what a GTFS import would load, without one. Every function fails the test
 * (Criterion assertion) on error. */
#ifndef BUYT_NETWORKS_H
#define BUYT_NETWORKS_H

#include "network.h"

#include <stdint.h>

/** Adds trip `id` to net (still building): on `route` and `shape`, direction `dir`, with
 *  `headsign` and `block` (NULL: none), on the service day that starts at day0 (UTC ms). It
 *  calls at the n stops in `stops`, with stop_sequence 10, 20..., from start_ms (whole seconds)
 *  on, seg_s seconds apart, arriving and leaving at the same time. */
void buyt_test_add_trip(struct buyt_network *net, const char *id, uint32_t route, uint32_t shape,
                        int dir, const char *headsign, const char *block, int64_t day0,
                        int64_t start_ms, const uint32_t *stops, int n, int seg_s);

/** The A..G network. Route 01 runs east along latitude 21.0 through stops A..E, 1 km apart,
 *  2 min between stops, a trip every 10 min, 01_0 to 01_18, 01_6 started 3 min before `now`
 *  (whole seconds), headed "Bến xe Giáp Bát"; and one trip back west, 01_back, in 30 min, headed
 *  "Kim Mã". Route 02 leaves B northwards through F and G every 15 min, 02_0 to 02_8, 02_2
 *  starting at `now`, headed `headsign_02`. Stop G is named `g_name`. Shapes "east" (41
 *  collinear points, index 0), "west" (1) and "north" (2). The service day starts at the last
 *  UTC midnight at least 3 h before now. */
struct buyt_test_net_ag {
    int64_t day0;           /* the service day's start */
    int64_t trip_start[19]; /* 01_k starts at trip_start[k] */
};

/** Builds and finishes that network; fills *out (NULL: not needed). The caller owns the
 *  network (the engine takes it: buyt_engine_set_network). */
struct buyt_network *buyt_test_network_ag(int64_t now, const char *g_name, const char *headsign_02,
                                          struct buyt_test_net_ag *out);

#endif
