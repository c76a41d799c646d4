/* The operators' live dashboard, served by the engine on its own HTTP port (docs/DASHBOARD.md):
 *
 *   /                       302 to /dashboard/
 *   /dashboard              302 to /dashboard/ (the page's asset URLs are relative)
 *   /dashboard/             the page (web/index.html)
 *   /dashboard/{asset}      the files of web/, embedded at build time (web/embed.cmake):
 *                           Content-Type by extension, strong ETag (SHA-256 of the content),
 *                           404 if unknown
 *   /api/v1/fleet           what the page polls every few seconds: fleet summary by status,
 *                           on-time performance, engine health and rates, and one compact row
 *                           per positioned vehicle (docs/openapi.yaml)
 *   /api/v1/network         the network for drawing, fetched once: routes, stops and every
 *                           pattern's shape simplified to ~2 m, in the engine's metric frame
 *
 * Everything is computed on the loop thread from the engine's state (the vehicle table, the
 * counters, the network); nothing reads PostgreSQL. The page itself asks the existing API for a
 * clicked vehicle's details (/api/v1/vehicles/{id}, /api/v1/stops/{id}/arrivals) and /healthz
 * for database reachability. */
#ifndef BUYT_DASHBOARD_H
#define BUYT_DASHBOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buyt_engine;
struct buyt_api;
struct buyt_vehicle;

/* ------------------------------------------------------------------ embedded assets */

/** One file of web/, as embedded by web/embed.cmake (generated dashboard_assets.c). */
struct buyt_dashboard_asset {
    const char *name;          /* file name, "index.html", "dashboard.js" */
    const unsigned char *data; /* its bytes (index.html: with @file@ replaced by file's etag) */
    size_t len;
    const char *etag; /* first 16 hex digits of the SHA-256 of data */
};

/** Every asset, sorted by name, ended by an entry whose name is NULL. */
extern const struct buyt_dashboard_asset buyt_dashboard_assets[];

/** The asset called `name` (no '/'), or NULL. */
const struct buyt_dashboard_asset *buyt_dashboard_asset_find(const char *name);

/** Content-Type for a file name by its extension (text types with charset=utf-8);
 *  "application/octet-stream" when unknown. Static string. */
const char *buyt_dashboard_content_type(const char *name);

/* ------------------------------------------------------------------ vehicle status */

/** What the map colours a vehicle by; one per vehicle, in this order of precedence. */
enum buyt_fleet_status {
    BUYT_FLEET_OFFLINE = 0, /* no fix since the engine started: not on the map */
    BUYT_FLEET_STALE,       /* newest fix older than BUYT_METRICS_REPORTING_S (2 min) */
    BUYT_FLEET_OFF_ROUTE,   /* the matcher flags it off its trip's shape (or off every shape) */
    BUYT_FLEET_UNASSIGNED,  /* fresh fix, no trip */
    BUYT_FLEET_LATE,        /* on a trip, more than BUYT_FLEET_LATE_S behind schedule */
    BUYT_FLEET_EARLY,       /* on a trip, more than BUYT_FLEET_EARLY_S ahead */
    BUYT_FLEET_ON_TIME,     /* on a trip, within -1 min .. +5 min */
    BUYT_FLEET__COUNT
};

/* The on-time window (the usual -1 / +5 min; api.h's early/delayed arrival statuses agree). */
#define BUYT_FLEET_EARLY_S 60
#define BUYT_FLEET_LATE_S 300

/** The status of `v` at wall-clock `now_ms`. Pure. */
enum buyt_fleet_status buyt_dashboard_classify(const struct buyt_vehicle *v, int64_t now_ms);

/** Stable lower-case name ("on_time", "off_route"...). */
const char *buyt_fleet_status_name(enum buyt_fleet_status s);

/* ------------------------------------------------------------------ geometry */

/** Douglas-Peucker: marks in keep[0..n) the vertices of the polyline (x[i], y[i]) to keep so
 *  that no dropped vertex lies farther than tol_m from the simplified line; the first and last
 *  are always kept. `stack` is scratch of at least 2 * n entries. Returns the number kept. Pure. */
uint32_t buyt_dashboard_simplify(const float *x, const float *y, size_t stride, uint32_t n,
                                 double tol_m, bool *keep, uint32_t *stack);

/* ------------------------------------------------------------------ the module */

#define BUYT_DASHBOARD_RATE_SAMPLES 16

/** Counter sample for the rates in /api/v1/fleet (taken when it is requested). */
struct buyt_dashboard_sample {
    uint64_t mono_ms;
    uint64_t messages, records, rejected, duplicates;
};

/** Embedded by the caller. Owns no memory and no handle: nothing to close, but it must outlive
 *  the HTTP server whose routes point at it (a static, or freed after buyt_api_free()). */
struct buyt_dashboard {
    struct buyt_engine *e;
    struct buyt_api *api;
    int64_t started_ms; /* with e->stats.network_loads: the network answer's ETag */
    struct buyt_dashboard_sample ring[BUYT_DASHBOARD_RATE_SAMPLES];
    uint32_t n_samples, next_sample;
};

/** Adds the routes above to the API's HTTP server (buyt_api_http). Loop thread, before or
 *  after the loop runs. Returns 0, or BUYT_EFULL with the route in err (too many routes). */
int buyt_dashboard_init(struct buyt_dashboard *d, struct buyt_engine *e, struct buyt_api *api,
                        char *err, size_t errlen);

#endif
