/* /metrics: the Prometheus text exposition (format 0.0.4) of every counter the engine keeps
 * (struct buyt_ingest_stats, the writer's, the broker client's, the HTTP server's) and of the
 * gauges an operator watches: vehicles known / reporting / matched, broker and database
 * connected, spool depth, loop lag, batch commit latency. Names and meanings: docs/METRICS.md.
 *
 * Also the loop-lag monitor: a uv_timer that fires every interval and measures how late it
 * fired (monotonic clock, expected vs actual): the time the loop spent on other callbacks
 * beyond what was due — what every message, request and timer waits on. */
#ifndef BUYT_METRICS_H
#define BUYT_METRICS_H

#include "http.h"
#include "jsonw.h"

#include <stdint.h>
#include <uv.h>

struct buyt_engine;

/* ------------------------------------------------------------------ loop lag */

#define BUYT_LOOPLAG_BUCKETS 10
extern const double buyt_looplag_le_s[BUYT_LOOPLAG_BUCKETS];

struct buyt_looplag_stats {
    double last_s; /* lateness of the latest tick */
    double max_s;  /* largest lateness over the last one to two windows (60 s each) */
    uint64_t samples;
    uint64_t bucket[BUYT_LOOPLAG_BUCKETS + 1]; /* not cumulative; last = +Inf */
    double sum_s;
};

struct buyt_looplag;

/** Starts the monitor on `loop`, ticking every interval_ms (0: 250). The timer is unref'd: it
 *  never keeps the loop alive. Returns 0 or BUYT_ENOMEM. */
int buyt_looplag_start(uv_loop_t *loop, uint32_t interval_ms, struct buyt_looplag **out);

/** Snapshot. */
void buyt_looplag_get(const struct buyt_looplag *l, struct buyt_looplag_stats *out);

/** Closes the timer; the monitor is freed once closed. NULL is a no-op. Loop thread. */
void buyt_looplag_stop(struct buyt_looplag *l);

/* ------------------------------------------------------------------ exposition */

/** What the API layer adds (its own counters; see api.h). */
struct buyt_metrics_api {
    uint64_t track_queries_ok, track_queries_failed, track_queries_busy;
    uint64_t track_rows;
    uint32_t track_in_flight;
    bool db_probe_ok; /* the periodic reachability probe (SELECT 1 on the pool) */
    uint64_t db_probes, db_probe_failures;
    uint64_t arrivals_built;
    uint64_t index_builds; /* API indexes (stops grid, routes by stop) rebuilt */
};

/** Everything rendered. Pointers may be NULL (that part is left out). Loop thread. */
struct buyt_metrics_sources {
    struct buyt_engine *engine;
    const struct buyt_http_stats *http;
    const struct buyt_looplag_stats *lag;
    const struct buyt_metrics_api *api;
    int64_t now_ms;     /* wall clock, for "reporting in the last 2 min" */
    int64_t started_ms; /* process start, for buyt_start_time_seconds */
};

/** Seconds without telemetry after which a vehicle no longer counts as reporting (and the API
 *  calls it stale). */
#define BUYT_METRICS_REPORTING_S 120

/** Appends the exposition to `out`. */
void buyt_metrics_render(struct buyt_jsonw *out, const struct buyt_metrics_sources *src);

/** Appends `s` escaped as a label value (backslash, double quote, newline: 0.0.4 rules). */
void buyt_metrics_label_escape(struct buyt_jsonw *out, const char *s);

#endif
