/* GTFS-Realtime feeds of the engine's live state (https://gtfs.org/realtime/reference/),
 * served on the engine's HTTP server (api.h, http.h):
 *   GET /gtfs-rt/vehicle-positions   VehiclePositions: every vehicle heard within stale_s
 *   GET /gtfs-rt/trip-updates        TripUpdates: the trips vehicles run now, with predicted
 *                                    arrivals/departures at the stops ahead; cancelled trips
 * as protobuf (proto/gtfs-realtime.proto, Content-Type application/x-protobuf), or as JSON
 * with ?format=json (debugging; written from the very bytes served as protobuf: same entities).
 *
 * Where fields come from (docs/GTFS-REALTIME.md has the full table): positions, speed, bearing
 * and fix times from the vehicle registry (vehicles.h); trip, stop and status from the matcher's
 * latest result; times, delays and uncertainty from the predictor (predict.h), under the rules
 * the stop boards follow (board.h): a vehicle silent for more than stale_s, or off its route,
 * makes no prediction — its trip has no TripUpdate (consumers fall back to the schedule), and a
 * silent vehicle is not in VehiclePositions at all (no ghost buses).
 *
 * Cost: a feed is built from the engine's state at most once per max_age_ms, on the first
 * request after that, and its packed bytes are served to every request until then; a rebuild
 * whose entities equal the previous ones keeps the previous bytes (and header timestamp) and
 * ETag, so pollers get 304 while nothing moves. The JSON form is made from the cached bytes on
 * the first JSON request of each version, and each representation is gzipped once, on the
 * first request of the version that accepts gzip (buyt_http_set_body_gzip). Building allocates
 * only when the fleet outgrows the arrays kept from earlier builds. ETag/If-None-Match, gzip and
 * HEAD come from http.h.
 *
 * Not thread-safe: everything runs on the engine's loop. */
#ifndef BUYT_GTFSRT_H
#define BUYT_GTFSRT_H

#include "gtfs-realtime.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buyt_engine;
struct buyt_http;
struct buyt_jsonw;

enum buyt_gtfsrt_feed {
    BUYT_GTFSRT_VEHICLE_POSITIONS = 0,
    BUYT_GTFSRT_TRIP_UPDATES = 1,
};
#define BUYT_GTFSRT_FEEDS 2

/** Tuning; buyt_gtfsrt_opts_default() gives the values in brackets. */
struct buyt_gtfsrt_opts {
    int32_t stale_s;     /* [120] a vehicle silent longer is left out (board.h's stale_s) */
    uint32_t max_age_ms; /* [1000] a cached feed older than this is rebuilt when asked for */
    double at_stop_m;    /* [30] STOPPED_AT within this of the stop (predict.h's at_stop_m) */
    double incoming_m;   /* [300] INCOMING_AT within this before it (api.h's "approaching") */
    double stopped_mps;  /* [1.5] STOPPED_AT only below this speed (stopev.h's stopped_mps) */
};

void buyt_gtfsrt_opts_default(struct buyt_gtfsrt_opts *o);

struct buyt_gtfsrt; /* opaque */

/** Creates the feeds over an engine (borrowed: it must outlive them; only e->loop, e->net,
 *  e->predict and e->vehicles are read). opts NULL: defaults. Returns 0, BUYT_EINVAL (bad
 *  options) or BUYT_ENOMEM. Free with buyt_gtfsrt_free(). */
int buyt_gtfsrt_new(struct buyt_engine *e, const struct buyt_gtfsrt_opts *opts,
                    struct buyt_gtfsrt **out);

/** Adds the two routes to an HTTP server (borrowed; the feeds must outlive it). Returns 0 or
 *  what buyt_http_route() returns. */
int buyt_gtfsrt_routes(struct buyt_gtfsrt *g, struct buyt_http *http);

/** buyt_gtfsrt_new() then buyt_gtfsrt_routes(): what buyt-ingest calls with
 *  buyt_api_http(api). On error *out is NULL. */
int buyt_gtfsrt_start(struct buyt_engine *e, struct buyt_http *http,
                      const struct buyt_gtfsrt_opts *opts, struct buyt_gtfsrt **out);

/** Frees the feeds, after the HTTP server that routes to them has been freed (or will never
 *  run again). NULL is a no-op. */
void buyt_gtfsrt_free(struct buyt_gtfsrt *g);

/** A feed as served. Borrowed until the next build of that feed. */
struct buyt_gtfsrt_snapshot {
    const uint8_t *pb; /* the packed FeedMessage */
    size_t len;
    const char *etag;    /* unquoted; changes exactly when the entities do */
    uint64_t version;    /* counts content changes */
    uint64_t header_s;   /* FeedHeader.timestamp: when this content was first built */
    uint32_t entities;   /* FeedEntity count */
    uint32_t stop_times; /* StopTimeUpdate count (TripUpdates) */
};

/** The feed for a request at wall-clock time now_ms: the cached one if built less than
 *  max_age_ms ago (by the loop's monotonic clock, uv_now), else rebuilt. Returns 0 or
 *  BUYT_ENOMEM (nothing built, *out untouched). */
int buyt_gtfsrt_get(struct buyt_gtfsrt *g, enum buyt_gtfsrt_feed feed, int64_t now_ms,
                    struct buyt_gtfsrt_snapshot *out);

/** Rebuilds a feed now from the engine's state at wall-clock time now_ms, whatever its age
 *  (tests, benchmarks). Returns 0 or BUYT_ENOMEM (nothing built, *out untouched). */
int buyt_gtfsrt_build(struct buyt_gtfsrt *g, enum buyt_gtfsrt_feed feed, int64_t now_ms,
                      struct buyt_gtfsrt_snapshot *out);

/** The feed's JSON form (made from the cached bytes if not yet made for this version):
 *  *json borrowed like the snapshot. Returns 0, BUYT_ENOMEM or BUYT_ECORRUPT (the bytes did
 *  not unpack: a bug). Call after buyt_gtfsrt_get/build. */
int buyt_gtfsrt_json_get(struct buyt_gtfsrt *g, enum buyt_gtfsrt_feed feed, const char **json,
                         size_t *len);

/** Counters. */
struct buyt_gtfsrt_stats {
    uint64_t builds[BUYT_GTFSRT_FEEDS];    /* feeds built from the engine's state */
    uint64_t unchanged[BUYT_GTFSRT_FEEDS]; /* ... whose entities equalled the previous ones */
    uint64_t last_build_ns[BUYT_GTFSRT_FEEDS];
    uint64_t json_builds;
    uint64_t gzip_builds;    /* representations compressed (once per version asked for) */
    uint64_t ghosts_dropped; /* live predictions left out: vehicle silent or off route */
};
void buyt_gtfsrt_stats(const struct buyt_gtfsrt *g, struct buyt_gtfsrt_stats *out);

/* ------------------------------------------------------------------ pure parts (tested alone) */

/** The GTFS-Realtime start_date (YYYYMMDD, NUL-terminated) of a trip instance whose service
 *  day starts at day_start_ms (network.h: the day's noon minus 12 h, UTC ms): the date of that
 *  noon, which is its UTC date for any zone within 12 h of UTC. */
void buyt_gtfsrt_start_date(int64_t day_start_ms, char out[9]);

/** VehicleStopStatus of a vehicle to_stop_m before its current stop (negative: past it)
 *  moving at speed_mps (NAN: unknown, taken as standing): STOPPED_AT within at_stop_m of it
 *  and slower than stopped_mps; INCOMING_AT from incoming_m before it to at_stop_m past it;
 *  IN_TRANSIT_TO otherwise. */
TransitRealtime__VehiclePosition__VehicleStopStatus
buyt_gtfsrt_stop_status(double to_stop_m, double speed_mps, const struct buyt_gtfsrt_opts *o);

/** The `format` query parameter: NULL (absent), "protobuf" or "pb" -> *json false; "json" ->
 *  true. Returns 0 or BUYT_EINVAL. */
int buyt_gtfsrt_parse_format(const char *s, bool *json);

/** Writes any protobuf-c message as JSON through its descriptor: an object per message with
 *  the .proto field names, only the fields present (set optional fields, non-empty repeated
 *  ones), enums by value name, 64-bit integers as numbers, floats in the shortest form that
 *  reads back to the same float, NaN/infinity as null. Returns 0, or BUYT_EINVAL for a bytes
 *  field (none in GTFS-Realtime). The writer's oom flag reports allocation failures. */
int buyt_gtfsrt_json_write(struct buyt_jsonw *w, const ProtobufCMessage *m);

#endif
