/* A generated city as a simulator network, without a database: for unit tests and quick
 * experiments. Same result as importing the city's GTFS and loading it, except that the
 * service day is computed for UTC+7 (Asia/Ho_Chi_Minh has no DST). */
#ifndef BUYT_SIM_NETWORK_CITY_H
#define BUYT_SIM_NETWORK_CITY_H

#include "citygen.h"
#include "simnet.h"

/** Builds the network of `city` (borrowed) for the service days around start_ms. Returns 0 or
 *  BUYT_ENOMEM; *out is freed with buyt_simnet_free. */
int buyt_network_from_city(const struct buyt_city *city, int64_t start_ms,
                           struct buyt_simnet **out);

#endif
