/* The engine's HTTP surface: the passenger-app JSON API (/api/v1, docs/openapi.yaml), /metrics
 * (metrics.h) and /healthz, served by http.h on the engine's loop from the engine's live state
 * (network, vehicles, counters). It owns the HTTP server, the loop-lag monitor, the indexes the
 * API needs over the network (stops grid, routes per stop, trips per pattern; rebuilt when a
 * new network is swapped in), and a small pool of PostgreSQL connections used off the loop.
 *
 * Only /api/v1/vehicles/{id}/track reads PostgreSQL (the fixes table): the query runs on the
 * libuv threadpool (uv_queue_work), at most `track_pool` at a time, each worker taking a
 * connection from the pool (synchronous libpq there), and builds the JSON on the worker too;
 * the loop only routes the request and sends the bytes. Chosen over async libpq on the loop
 * because the loop then does no parsing or formatting of large results, the code is a plain
 * query, and the bound on concurrent queries also bounds the connections and keeps threadpool
 * threads free for the engine's own work (network reloads). A request beyond the bound gets
 * 503 with Retry-After. The same pool runs a reachability probe (SELECT 1) every few seconds for
 * /healthz and /metrics.
 *
 * Arrivals (/api/v1/stops/{stop_id}/arrivals) come from one function, `arrivals` in the options:
 * by default buyt_api_arrivals_baseline (the OneBusAway baseline: schedule plus the vehicle's
 * current deviation); buyt-ingest sets buyt's predictor there (predict_arrivals.h). The
 * baseline stays reachable with ?source=baseline, for comparison. */
#ifndef BUYT_API_H
#define BUYT_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buyt_engine;
struct buyt_api;

/* ------------------------------------------------------------------ arrivals provider */

enum buyt_arrival_status {
    BUYT_ARRIVAL_SCHEDULED = 0, /* no real-time data for this trip */
    BUYT_ARRIVAL_ON_TIME,
    BUYT_ARRIVAL_EARLY,       /* more than 60 s ahead of schedule */
    BUYT_ARRIVAL_DELAYED,     /* more than 300 s behind */
    BUYT_ARRIVAL_APPROACHING, /* baseline: next stop is this one, within 300 m; predictor:
                                 expected within the boards' approaching_s (60 s) */
    BUYT_ARRIVAL_AT_STOP,     /* within 30 m of the stop */
    BUYT_ARRIVAL_OFF_ROUTE,   /* predictor: realtime false, no prediction (a ghost) */
    BUYT_ARRIVAL_LAYOVER,     /* waiting at a terminal before the trip */
    BUYT_ARRIVAL_CANCELLED,   /* the trip is cancelled (predictor only) */
};

/** Stable lower-case name ("scheduled", "on_time", "at_stop"...). */
const char *buyt_arrival_status_name(enum buyt_arrival_status s);

/** What a predicted time is based on. */
enum buyt_arrival_basis {
    BUYT_ARRIVAL_BASIS_SCHEDULE = 0,  /* no prediction: the timetable */
    BUYT_ARRIVAL_BASIS_DEVIATION,     /* baseline: the schedule plus the vehicle's deviation */
    BUYT_ARRIVAL_BASIS_HISTORY,       /* predictor: mostly learned segment and dwell times */
    BUYT_ARRIVAL_BASIS_SCHEDULE_PACE, /* predictor: from where the bus is, mostly at the
                                         timetable's running times (nothing learned yet) */
    BUYT_ARRIVAL_BASIS_BLOCK,         /* predictor: not started; follows its block's vehicle
                                         (predicted end of its trip + layover) */
};

/** Why an arrival is listed at its schedule (basis SCHEDULE). */
enum buyt_arrival_fallback {
    BUYT_ARRIVAL_FALLBACK_NONE = 0,       /* it has a prediction, or it is cancelled */
    BUYT_ARRIVAL_FALLBACK_NO_PREDICTION,  /* no vehicle (or network) predicts it */
    BUYT_ARRIVAL_FALLBACK_VEHICLE_SILENT, /* its vehicle sent nothing for over 2 min */
    BUYT_ARRIVAL_FALLBACK_OFF_ROUTE,      /* its vehicle is off its route */
};

/** Stable lower-case names ("history", "block"...; "vehicle_silent"...); NULL for
 *  BUYT_ARRIVAL_FALLBACK_NONE. */
const char *buyt_arrival_basis_name(enum buyt_arrival_basis b);
const char *buyt_arrival_fallback_name(enum buyt_arrival_fallback f);

/** One arrival of a trip at the stop asked about. */
struct buyt_arrival {
    uint32_t trip;       /* trip instance (index in net->trips) */
    uint32_t stop_index; /* the stop's position in the trip (a loop may visit a stop twice) */
    int64_t scheduled_arrival_ms, scheduled_departure_ms;
    int64_t predicted_arrival_ms, predicted_departure_ms; /* 0: no prediction */
    bool realtime;       /* a fresh vehicle on the trip predicts it */
    int32_t vehicle;     /* index in e->vehicles.v, -1 if none */
    int32_t deviation_s; /* + late: predicted - scheduled; meaningful with a prediction */
    double distance_m;   /* along the shape from the vehicle to the stop; NAN if unknown */
    int32_t stops_away;  /* -1 if unknown */
    enum buyt_arrival_status status;
    int64_t last_update_ms; /* GNSS time of the vehicle's newest fix; 0 if none */
    enum buyt_arrival_basis basis;
    enum buyt_arrival_fallback fallback;
};

/** Fills out[0..*n) with the arrivals at stop `stop` (index in net->stops) whose expected time
 *  (predicted if any, else scheduled) lies in [from_ms, to_ms], in any order; at most cap.
 *  Returns 0, BUYT_EFULL if more existed (out holds cap of them), BUYT_ENOMEM. Loop thread. */
typedef int (*buyt_arrivals_fn)(void *ud, struct buyt_engine *e, uint32_t stop, int64_t now_ms,
                                int64_t from_ms, int64_t to_ms, struct buyt_arrival *out,
                                uint32_t cap, uint32_t *n);

/** The OneBusAway baseline: a trip with a fresh vehicle on it (its newest fix within 2 min of
 *  now_ms, either side; the stop still ahead of it) is predicted at its schedule plus the
 *  vehicle's current deviation (never before now_ms); a trip without one is listed at its
 *  schedule, realtime false. No propagation along blocks: the next trip of a late bus's block is
 *  listed at its schedule (the predictor's job). `ud` is the api object (it uses the API's
 *  indexes: trips by stop, vehicles by pattern). Name in responses: BUYT_API_BASELINE_SOURCE. */
int buyt_api_arrivals_baseline(void *ud, struct buyt_engine *e, uint32_t stop, int64_t now_ms,
                               int64_t from_ms, int64_t to_ms, struct buyt_arrival *out,
                               uint32_t cap, uint32_t *n);
#define BUYT_API_BASELINE_SOURCE "schedule_deviation"

/** Appends to out[*n .. cap) every visit of stop `stop` by a valid trip whose scheduled arrival
 *  lies in [from_ms, to_ms], at its schedule, as the baseline lists a trip without a fresh
 *  vehicle: no prediction, realtime false, vehicle -1, status SCHEDULED, basis SCHEDULE,
 *  fallback NO_PREDICTION. For providers that overlay their predictions on the timetable.
 *  `a` is the api object (a provider's `ud` when arrivals_ud is NULL). Returns 0, or BUYT_EFULL
 *  when more existed (out holds cap). Loop thread. */
int buyt_api_arrivals_scheduled(struct buyt_api *a, struct buyt_engine *e, uint32_t stop,
                                int64_t from_ms, int64_t to_ms, struct buyt_arrival *out,
                                uint32_t cap, uint32_t *n);

/* ------------------------------------------------------------------ the server */

struct buyt_api_opts {
    const char *listen;          /* "ADDR:PORT" (port 0: any, see buyt_api_port) */
    const char *cors_origin;     /* NULL: no CORS; "*"; or one origin */
    const char *conninfo;        /* PostgreSQL for tracks and the probe; NULL: the engine's */
    uint32_t track_pool;         /* [2] concurrent track queries (and connections) */
    uint32_t probe_interval_ms;  /* [5000] database reachability probe; tests use less */
    uint32_t request_timeout_ms; /* [10000] see http.h */
    uint32_t max_connections;    /* [4096] */
    buyt_arrivals_fn arrivals;   /* NULL: buyt_api_arrivals_baseline */
    void *arrivals_ud;           /* its `ud` (NULL: the api object) */
    const char *arrivals_source; /* its name in responses and in ?source= ("predictor"...) */
};

/** Starts the HTTP server on the engine's loop (e->loop; the engine initialised, started or
 *  not). Returns 0, or a negative code with a reason in err; then *out may still be set: free
 *  it with buyt_api_free() (no loop run needed). */
int buyt_api_start(struct buyt_engine *e, const struct buyt_api_opts *opts, struct buyt_api **out,
                   char *err, size_t errlen);

/** The HTTP port listened on. */
int buyt_api_port(const struct buyt_api *a);

/** The HTTP server, for modules that add their own routes on the same port (GTFS-Realtime
 *  feeds, the dashboard): buyt_http_route() with their handlers. Borrowed. */
struct buyt_http *buyt_api_http(struct buyt_api *a);

/** Stops listening and closes connections and timers; queries in flight finish (the loop runs
 *  until they have). Loop thread, from any callback; idempotent; NULL is a no-op. */
void buyt_api_stop(struct buyt_api *a);

/** Frees everything, after uv_run() has returned. NULL is a no-op. */
void buyt_api_free(struct buyt_api *a);

/* ------------------------------------------------------------------ parameter parsing (pure) */

/** A decimal number: optional sign, digits, optional fraction and exponent; no hex, inf, nan
 *  or surrounding spaces. Returns 0 or BUYT_EINVAL. */
int buyt_api_parse_number(const char *s, double *out);

/** A decimal integer (optional '-', at most 18 digits). Returns 0 or BUYT_EINVAL. */
int buyt_api_parse_int(const char *s, int64_t *out);

/** A time: Unix milliseconds (digits), or RFC 3339 "YYYY-MM-DDTHH:MM:SS[.fff]" with "Z" or
 *  "+HH:MM"/"-HH:MM" ('t', 'z' and a space for 'T' accepted). Returns 0 or BUYT_EINVAL. */
int buyt_api_parse_time(const char *s, int64_t *ms);

#endif
