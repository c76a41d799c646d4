/* Loads the in-memory network (network.h) from the GTFS tables of sql/migrations/0002_gtfs.sql:
 * routes, stops, shapes, and every trip active on the service days around `now` in the feed's
 * effective time zone (gtfs_feed.timezone, which `buyt-gtfs import --timezone` can override),
 * resolving calendar.txt and calendar_dates.txt in SQL. Yesterday's service day is included
 * because its trips run past midnight (times beyond 24:00).
 *
 * Synchronous libpq: the engine calls it at start and from a worker thread on reload
 * (uv_queue_work), then swaps the finished network in on the loop. */
#ifndef BUYT_NETLOAD_H
#define BUYT_NETLOAD_H

#include "network.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

struct buyt_netload_info {
    char timezone[64];    /* effective zone of the service days */
    char agency[64];      /* operator code recorded at import */
    int feed_version;     /* gtfs_feed.version, 0 if no feed imported */
    char first_day[16], last_day[16]; /* service days loaded, YYYY-MM-DD */
    uint32_t trip_instances, stop_times;
    double load_ms;
    int64_t refresh_at_ms; /* 03:00 local after "today": when to load the next days (0: none) */
};

/** Builds and finishes a network for service days [today + day_from, today + day_to] (today in
 *  the feed's zone at now_ms). With no feed imported, returns an empty finished network.
 *  Returns 0 or BUYT_EDB / BUYT_ENOMEM with a one-line reason in err. *out owns the network. */
int buyt_netload(PGconn *c, int64_t now_ms, int day_from, int day_to, struct buyt_network **out,
                 struct buyt_netload_info *info, char *err, size_t errlen);

#endif
