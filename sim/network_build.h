/* Building the simulator's network from rows (used by the PostgreSQL loader and by the
 * in-memory conversion of a generated city): stop patterns projected onto shapes, speed limits
 * from the schedule, blank times interpolated, block instances per service day. */
#ifndef BUYT_SIM_NETWORK_BUILD_H
#define BUYT_SIM_NETWORK_BUILD_H

#include "simnet.h"

#include <stdbool.h>

/* One stop time, in trip then stop_sequence order. */
struct buyt_net_st_row {
    int trip, stop, arr, dep; /* -1: NULL (blank time) */
    int seq;                  /* GTFS stop_sequence */
    bool timepoint;
};

/** Completes `net`, whose frame, stops (with x/y), shapes (x/y/dist), trips (sorted by id,
 *  with shape set) and days are filled: builds patterns, times and instances from `st`
 *  (n_st rows) and `active` (trip * 3 + day: runs on that day). Trips that cannot be driven
 *  (no shape, < 2 stops, no times at the ends) keep pattern -1. Returns 0 or BUYT_ENOMEM. */
int buyt_network_build(struct buyt_simnet *net, const struct buyt_net_st_row *st, long n_st,
                       const bool *active);

/** Index of the element whose first member (a NUL-terminated id) equals `id`, in an array
 *  sorted by strcmp of that member; -1 if none. */
int buyt_net_find_id(const void *base, size_t n, size_t size, const char *id);

#endif
