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

#define BUYT_NETLOAD_TZ_HOURS 240 /* 10 days */

struct buyt_netload_info {
    char timezone[64];    /* effective zone of the service days */
    char agency[64];      /* operator code recorded at import */
    int feed_version;     /* gtfs_feed.version, 0 if no feed imported */
    char first_day[16], last_day[16]; /* service days loaded, YYYY-MM-DD */
    uint32_t trip_instances, stop_times;
    uint32_t frequency_trips; /* trips with frequencies.txt windows (in the feed) ... */
    uint32_t frequency_runs;  /* ... and the runs they were expanded into on the loaded days */
    double load_ms;
    int64_t refresh_at_ms; /* 03:00 local after "today": when to load the next days (0: none) */
    /* The zone's offset from UTC hour by hour, from local midnight before the first day to
     * two days after the last: what clock times on signs use (daylight saving included). */
    int64_t tz_from_ms;
    uint32_t n_tz;
    int32_t tz_offset_s[BUYT_NETLOAD_TZ_HOURS];
};

/** Offset of the feed's local time from UTC at ms (seconds), from the hourly table; outside
 *  it the nearest hour; `fallback` when the table is empty (no feed, or an info built by hand). */
int32_t buyt_netload_utc_offset(const struct buyt_netload_info *info, int64_t ms,
                                int32_t fallback);

/** Builds and finishes a network for service days [today + day_from, today + day_to] (today in
 *  the feed's zone at now_ms). With no feed imported, returns an empty finished network.
 *  Returns 0 or BUYT_EDB / BUYT_ENOMEM with a one-line reason in err. *out owns the network. */
int buyt_netload(PGconn *c, int64_t now_ms, int day_from, int day_to, struct buyt_network **out,
                 struct buyt_netload_info *info, char *err, size_t errlen);

#endif
