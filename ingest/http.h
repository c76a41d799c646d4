/* HTTP/1.1 server on the engine's libuv loop: the one module that speaks to h2o (libh2o 2.2.5,
 * libuv flavour). The rest of the engine sees routes, requests and JSON bodies.
 *
 * What it gives every route:
 *  - a routing table of path patterns ("/api/v1/stops/{stop_id}/arrivals": literal segments and
 *    one-segment {captures}), 404 for unknown paths, 405 (with Allow) for other methods, HEAD
 *    for every GET route, OPTIONS (CORS preflight);
 *  - limits: request head 8 KiB (h2o's fixed H2O_MAX_REQLEN), path and query `max_target_bytes`
 *    (414), body `max_body_bytes` (413), `max_connections` (more are closed at accept and
 *    counted), one timeout `request_timeout_ms` for reading a request and for an idle
 *    keep-alive connection;
 *  - errors as JSON: {"error": {"status", "code", "parameter"?, "message"}}, including the
 *    413/400 that h2o itself generates;
 *  - ETag / If-None-Match (304) for routes flagged BUYT_HTTP_ETAG (a hash of the body) or with an
 *    ETag chosen by the handler, Cache-Control, gzip when the client accepts it and the body is
 *    large enough (Vary: Accept-Encoding; the ETag of a gzipped body is the weak form of the
 *    identity one, compared weakly as RFC 9110 13.1.2 says), CORS for one configured origin or
 *    "*";
 *  - counters by route and status, and a latency histogram per route (buyt_http_stats).
 *
 * Handlers run on the loop thread and must not block. A handler answers before it returns, or
 * calls buyt_http_defer() and answers later from the loop thread (work on the libuv threadpool,
 * see api.c). HTTP/2 (h2c) is off: an app reaches the engine through a TLS-terminating proxy that
 * speaks HTTP/2 to phones and HTTP/1.1 here.
 *
 * Lifecycle: buyt_http_new() listens at once; buyt_http_stop() (from any loop callback) closes
 * the listener and every idle connection, and answers in-flight requests with Connection: close;
 * the loop then ends once deferred requests have been answered; buyt_http_free() after
 * uv_run() has returned (h2o's context disposal runs the loop itself). */
#ifndef BUYT_HTTP_H
#define BUYT_HTTP_H

#include "jsonw.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

enum buyt_http_method {
    BUYT_HTTP_GET = 1,
    BUYT_HTTP_HEAD = 2, /* served by GET routes: same headers, no body */
    BUYT_HTTP_POST = 4,
    BUYT_HTTP_PUT = 8,
    BUYT_HTTP_DELETE = 16,
    BUYT_HTTP_OPTIONS = 32,
    BUYT_HTTP_OTHER = 64,
};

enum buyt_http_route_flags {
    BUYT_HTTP_ETAG = 1, /* 200 bodies get an ETag from their hash; If-None-Match -> 304 */
};

struct buyt_http_opts {
    const char *listen;      /* "ADDR:PORT", "[V6ADDR]:PORT" or ":PORT" (any); port 0 picks one */
    const char *cors_origin; /* NULL or "": no CORS headers; "*": any; else that origin only */
    uint32_t request_timeout_ms; /* [10000] reading one request; idle keep-alive */
    uint32_t max_connections;    /* [4096] */
    size_t max_body_bytes;       /* [16384] request bodies above this get 413 */
    size_t max_target_bytes;     /* [2048] longer path + query get 414 */
    size_t gzip_min_bytes;       /* [1024] smaller bodies are never compressed */
    int gzip_level;              /* [1] zlib level 1..9 (1: ~3x smaller JSON at ~100 MB/s) */
};

struct buyt_http;
struct buyt_http_req;      /* a request being answered; valid until it is finished */
struct buyt_http_deferred; /* a request whose handler returned without answering */

/** A route's handler. `req` is valid until the answer is sent: when the handler returns,
 *  unless it called buyt_http_defer(). Loop thread. */
typedef void (*buyt_http_handler)(void *ud, struct buyt_http_req *req);

/** Creates the server on `loop` and starts listening. Returns 0, or BUYT_EINVAL (bad listen
 *  address, with the reason in err) or a negative libuv code (bind/listen failed). *out is
 *  owned by the caller: stop, run the loop out, then free. */
int buyt_http_new(uv_loop_t *loop, const struct buyt_http_opts *opts, struct buyt_http **out,
                  char *err, size_t errlen);

/** Adds a route (before or after listening). `pattern` starts with '/'; a segment "{name}"
 *  captures one non-empty path segment (percent-decoded). A trailing '/' is significant:
 *  "/dashboard/" matches that path only, "/dashboard" only that one. `methods`:
 *  BUYT_HTTP_GET and/or others (HEAD is implied by GET). The pattern string is borrowed (a
 *  literal) and names the route in the metrics. Returns 0, BUYT_EINVAL (malformed pattern) or
 *  BUYT_EFULL (more than BUYT_HTTP_MAX_ROUTES). */
#define BUYT_HTTP_MAX_ROUTES 48
int buyt_http_route(struct buyt_http *s, const char *pattern, unsigned methods, unsigned flags,
                    buyt_http_handler handler, void *ud);

/** The port the server listens on (useful with port 0). */
int buyt_http_port(const struct buyt_http *s);

/** Stops accepting, closes idle connections, answers in-flight requests with Connection:
 *  close. Loop thread; may be called from a callback; idempotent. */
void buyt_http_stop(struct buyt_http *s);

/** Frees the server after uv_run() has returned (never from inside a loop callback). NULL is
 *  a no-op. */
void buyt_http_free(struct buyt_http *s);

/* ------------------------------------------------------------------ requests */

/** The request's method (BUYT_HTTP_HEAD for HEAD). */
unsigned buyt_http_method(const struct buyt_http_req *r);

/** Capture `i` of the route pattern, percent-decoded and NUL-terminated ("" if absent). */
const char *buyt_http_param(const struct buyt_http_req *r, unsigned i);

/** Query parameter `name`, percent-decoded ('+' is a space) and NUL-terminated into request
 *  memory: *val points to it. Returns 1 if present (the first occurrence), 0 if absent,
 *  BUYT_EINVAL if its encoding is malformed (bad %XX, a decoded NUL). */
int buyt_http_query(const struct buyt_http_req *r, const char *name, const char **val);

/** Request header value (name in lower case), NUL-terminated, or NULL. */
const char *buyt_http_header(const struct buyt_http_req *r, const char *lname);

/** Wall-clock time the request's handling began (Unix ms). */
int64_t buyt_http_now_ms(const struct buyt_http_req *r);

/* ------------------------------------------------------------------ answers */

/** The body writer (application/json unless buyt_http_set_type says otherwise). Empty at the
 *  start of a handler and again after buyt_http_resume(). */
struct buyt_jsonw *buyt_http_body(struct buyt_http_req *r);

/** Status (default 200). */
void buyt_http_set_status(struct buyt_http_req *r, int status);

/** Content-Type (a literal or a string that outlives the request). */
void buyt_http_set_type(struct buyt_http_req *r, const char *content_type);

/** Cache-Control value (a literal; default "no-cache": revalidate with the ETag). */
void buyt_http_set_cache(struct buyt_http_req *r, const char *cache_control);

/** A strong ETag chosen by the handler, without quotes (copied; at most 64 characters):
 *  overrides the body hash. A handler that can name its version cheaply (a feed's sequence
 *  number) checks buyt_http_etag_fresh() first and skips building the body. */
void buyt_http_set_etag(struct buyt_http_req *r, const char *etag);

/** True if the request's If-None-Match matches `etag` (weak comparison): the handler may
 *  return at once after buyt_http_set_etag(); the server answers 304. */
bool buyt_http_etag_fresh(const struct buyt_http_req *r, const char *etag);

/** A gzip encoding of the body already written, made once with buyt_http_gzip() and kept by
 *  the handler across requests (a cached feed): a client that accepts gzip gets these bytes
 *  (copied) instead of the body being compressed again for it. Borrowed until the answer is
 *  sent; dropped by buyt_http_error(). The rules for compressing at all are unchanged (the
 *  body's size against gzip_min_bytes, the client's Accept-Encoding). */
void buyt_http_set_body_gzip(struct buyt_http_req *r, const void *gz, size_t len);

/** Compresses n bytes as the server compresses bodies (gzip, its level) into *out (malloc'd:
 *  the caller frees it) of *out_len bytes, for buyt_http_set_body_gzip(). Returns 0,
 *  BUYT_ENOMEM, or BUYT_ERANGE when the result would not be smaller (send the body as is).
 *  Loop thread (it uses the server's compressor). */
int buyt_http_gzip(struct buyt_http *s, const void *in, size_t n, uint8_t **out, size_t *out_len);

/** Adds a response header (both strings copied). At most 8 per response. */
void buyt_http_add_header(struct buyt_http_req *r, const char *name, const char *value);

/** Replaces the answer by a JSON error: {"error": {"status", "code", "parameter", "message"}}.
 *  `code` a stable snake_case word (bad_parameter, not_found...); `param` the parameter at
 *  fault or NULL. */
void buyt_http_error(struct buyt_http_req *r, int status, const char *code, const char *param,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/** Keeps the request open after the handler returns. Loop thread. */
struct buyt_http_deferred *buyt_http_defer(struct buyt_http_req *r);

/** Back on the loop thread: the request to answer (body emptied), or NULL if it can no longer
 *  be answered (the connection went away; `d` is then freed). Answer it with the functions
 *  above and buyt_http_finish(). */
struct buyt_http_req *buyt_http_resume(struct buyt_http_deferred *d);

/** Sends the answer of a resumed request. */
void buyt_http_finish(struct buyt_http_req *r);

/* ------------------------------------------------------------------ statistics */

/* Status codes counted one by one; anything else is counted as "other" (status 0 here). */
#define BUYT_HTTP_STATUS_SLOTS 13
extern const int buyt_http_status_slot_code[BUYT_HTTP_STATUS_SLOTS];

/* Latency histogram upper bounds, seconds (the +Inf bucket is implicit). */
#define BUYT_HTTP_LATENCY_BUCKETS 12
extern const double buyt_http_latency_le_s[BUYT_HTTP_LATENCY_BUCKETS];

struct buyt_http_route_stats {
    const char *name; /* pattern, or "(unmatched)" / "(protocol)" for the two pseudo-routes */
    uint64_t by_status[BUYT_HTTP_STATUS_SLOTS];
    uint64_t latency_bucket[BUYT_HTTP_LATENCY_BUCKETS + 1]; /* not cumulative; last = +Inf */
    double latency_sum_s;
};

struct buyt_http_stats {
    uint64_t connections_accepted, connections_refused, connections_open;
    uint64_t requests, responses_gzip, responses_not_modified, bytes_sent_body;
    uint64_t deferred_open, deferred_lost;
    uint32_t n_routes;
    const struct buyt_http_route_stats *routes; /* borrowed: valid until the next route added */
};

/** Snapshot (the route array is borrowed). Loop thread. */
void buyt_http_stats(const struct buyt_http *s, struct buyt_http_stats *out);

/* ------------------------------------------------------------------ pure helpers (tested alone) */

/** Percent-decodes src[0..n) into dst (capacity >= n + 1), '+' as a space when plus_space;
 *  NUL-terminates. Returns the decoded length, or BUYT_EINVAL (bad %XX or a decoded NUL). */
int buyt_http_unescape(const char *src, size_t n, bool plus_space, char *dst);

/** Finds `name` in a raw query string (no leading '?'): *val and *len get the still-encoded value
 *  of the first occurrence ("" for "name" or "name="). Returns true if found. */
bool buyt_http_query_find(const char *query, size_t qlen, const char *name, const char **val,
                          size_t *len);

/** True if an Accept-Encoding value allows gzip (gzip, x-gzip or * with q > 0). */
bool buyt_http_accepts_gzip(const char *accept_encoding, size_t n);

/** True if an If-None-Match value ("*", or a list of entity tags, weak or strong) matches the
 *  opaque tag `etag` (unquoted) under weak comparison. */
bool buyt_http_etag_match(const char *if_none_match, size_t n, const char *etag);

#endif
