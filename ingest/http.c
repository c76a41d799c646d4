/* HTTP server over libh2o 2.2.5 (libuv flavour); see http.h. The only file that includes h2o.
 *
 * h2o facts this file depends on (read in the 2.2.5 sources, lib/http1.c, lib/core/request.c,
 * lib/core/context.c):
 *  - h2o_context_init() creates a uv_async (its thread queue) and eight uv_timers. The async is
 *    always active, so the loop would never end: those handles are unref'd right after init.
 *  - h2o_context_dispose() closes them and then calls uv_run(NOWAIT) itself: it must run after
 *    the loop has returned, never from a callback (uv_run is not reentrant): buyt_http_free.
 *  - h2o_context_request_shutdown() makes HTTP/2 link a 1 s timeout entry that is still linked
 *    at disposal (assertion): stopping sets ctx.shutdown_requested itself (all HTTP/1 reads).
 *  - HTTP/1's graceful-shutdown callback is NULL: idle keep-alive connections would stay until
 *    their timeout. Stopping expires the request-timeout list (h2o_timeout_run with now =
 *    UINT64_MAX), which closes every connection waiting for a request, then repeats that until
 *    none is left (connections finishing a response go back to waiting).
 *  - While a request is processed, h2o stops reading its socket and unlinks its timeout: a
 *    deferred request stays valid until answered (HTTP/1.1; HTTP/2 is disabled).
 *  - Bare libh2o registers no chunked encoder: every response sets content_length (SIZE_MAX only
 *    for 204/304, which have no body), else keep-alive breaks. The protocol layer writes whatever
 *    body it is given, also for HEAD: HEAD answers pass no body.
 *  - h2o_send() does not copy: bodies are copied into the request's memory pool.
 *  - Errors h2o raises itself (413 body too large, 400 broken chunked body, 417) go through the
 *    host's fallback path with a text/plain body: a filter there rewrites them as JSON. A request
 *    head over 8 KiB (H2O_MAX_REQLEN) gets a fixed "400 Bad Request" written straight to the
 *    socket: that one cannot be changed. */
#include "http.h"

#include "clock.h"
#include "error.h"
#include "log.h"

#include <h2o.h>

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MAX_SEGMENTS 12
#define MAX_PARAMS 6
#define MAX_EXTRA_HEADERS 8
#define ROUTE_UNMATCHED 0 /* stats index of requests no route matched */
#define ROUTE_PROTOCOL 1  /* stats index of errors h2o answered itself */
#define FIRST_ROUTE 2

const int buyt_http_status_slot_code[BUYT_HTTP_STATUS_SLOTS] = {200, 204, 304, 400, 404, 405, 413,
                                                                414, 429, 500, 503, 504, 0};
const double buyt_http_latency_le_s[BUYT_HTTP_LATENCY_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0};

struct segment {
    const char *lit; /* NULL: a capture */
    size_t len;
};

struct route {
    const char *pattern;
    unsigned methods, flags;
    buyt_http_handler handler;
    void *ud;
    uint32_t n_seg;
    bool slash; /* the pattern ends in '/': the path must too ("/dashboard/") */
    struct segment seg[MAX_SEGMENTS];
};

struct handler_ext {
    h2o_handler_t super;
    struct buyt_http *srv;
};

struct filter_ext {
    h2o_filter_t super;
    struct buyt_http *srv;
};

struct buyt_http {
    uv_loop_t *loop;
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    bool config_inited, ctx_inited, stopping;
    uv_tcp_t *listener;
    uv_timer_t *drain_timer;
    int port;
    /* options */
    char *cors_origin; /* NULL: no CORS */
    uint32_t max_connections;
    size_t max_target, gzip_min;
    int gzip_level;
    /* routes and counters */
    struct route routes[BUYT_HTTP_MAX_ROUTES];
    uint32_t n_routes;
    struct buyt_http_route_stats rstats[BUYT_HTTP_MAX_ROUTES + FIRST_ROUTE];
    struct buyt_http_stats st;
    /* scratch shared by the request being answered (one at a time: one thread) */
    struct buyt_jsonw body;
    z_stream z;
    bool z_ready;
};

struct header_kv {
    h2o_iovec_t name, value;
};

struct guard {
    struct buyt_http_deferred *d; /* NULL once answered */
};

struct buyt_http_req {
    struct buyt_http *srv;
    h2o_req_t *hr;
    unsigned method;
    uint32_t route; /* stats index */
    unsigned flags;
    int status;
    const char *ctype, *cache;
    char etag[72];
    struct header_kv hdr[MAX_EXTRA_HEADERS];
    unsigned n_hdr;
    const char *params[MAX_PARAMS];
    unsigned n_params;
    uint64_t t0_ns;
    int64_t now_ms;
    bool deferred;
    struct buyt_http_deferred *d;
    const void *gz; /* the handler's gzip form of the body (buyt_http_set_body_gzip), borrowed */
    size_t gz_len;
};

struct buyt_http_deferred {
    struct buyt_http_req *req; /* NULL once the request's memory was released */
    struct guard *guard;
};

/* ------------------------------------------------------------------ pure helpers */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int buyt_http_unescape(const char *src, size_t n, bool plus_space, char *dst)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%') {
            int hi = i + 2 < n ? hexval((unsigned char)src[i + 1]) : -1;
            int lo = i + 2 < n ? hexval((unsigned char)src[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return BUYT_EINVAL;
            c = (char)(hi << 4 | lo);
            if (c == '\0')
                return BUYT_EINVAL;
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        } else if (c == '\0') {
            return BUYT_EINVAL;
        }
        dst[o++] = c;
    }
    dst[o] = '\0';
    return (int)o;
}

bool buyt_http_query_find(const char *q, size_t qlen, const char *name, const char **val,
                          size_t *len)
{
    size_t nlen = strlen(name);
    size_t i = 0;
    while (i < qlen) {
        size_t end = i;
        while (end < qlen && q[end] != '&')
            end++;
        size_t eq = i;
        while (eq < end && q[eq] != '=')
            eq++;
        if (eq - i == nlen && !memcmp(q + i, name, nlen)) {
            *val = eq < end ? q + eq + 1 : q + end;
            *len = eq < end ? end - eq - 1 : 0;
            return true;
        }
        i = end + 1;
    }
    return false;
}

static bool lc_eq(const char *a, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    if (n != m)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lit[i])
            return false;
    }
    return true;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* q-value of "q=0", "q=0.000" -> zero; anything else (malformed included) counts as non-zero. */
static bool q_is_zero(const char *p, size_t n)
{
    while (n && is_ows(*p))
        p++, n--;
    if (n < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=')
        return false;
    p += 2, n -= 2;
    if (!n || p[0] != '0')
        return false;
    for (size_t i = 1; i < n; i++) {
        if (i == 1 && p[i] == '.')
            continue;
        if (p[i] != '0')
            return is_ows(p[i]);
    }
    return true;
}

bool buyt_http_accepts_gzip(const char *ae, size_t n)
{
    bool star = false, gzip = false, gzip_seen = false;
    size_t i = 0;
    while (i < n) {
        size_t end = i;
        while (end < n && ae[end] != ',')
            end++;
        size_t a = i, b = end;
        while (a < b && is_ows(ae[a]))
            a++;
        size_t semi = a;
        while (semi < b && ae[semi] != ';')
            semi++;
        size_t tend = semi;
        while (tend > a && is_ows(ae[tend - 1]))
            tend--;
        bool zero = false;
        for (size_t p = semi; p < b; p++) /* parameters: find q */
            if (ae[p] == ';' && q_is_zero(ae + p + 1, b - p - 1))
                zero = true;
        if (lc_eq(ae + a, tend - a, "gzip") || lc_eq(ae + a, tend - a, "x-gzip")) {
            gzip_seen = true;
            gzip = gzip || !zero;
        } else if (lc_eq(ae + a, tend - a, "*")) {
            star = !zero;
        }
        i = end + 1;
    }
    return gzip_seen ? gzip : star;
}

bool buyt_http_etag_match(const char *h, size_t n, const char *etag)
{
    size_t elen = strlen(etag);
    size_t i = 0;
    while (i < n) {
        while (i < n && (is_ows(h[i]) || h[i] == ','))
            i++;
        if (i >= n)
            break;
        if (h[i] == '*')
            return true;
        if (i + 1 < n && h[i] == 'W' && h[i + 1] == '/')
            i += 2;
        if (i >= n || h[i] != '"')
            return false; /* malformed list: no match */
        size_t start = ++i;
        while (i < n && h[i] != '"')
            i++;
        if (i >= n)
            return false;
        if (i - start == elen && !memcmp(h + start, etag, elen))
            return true;
        i++;
    }
    return false;
}

/* A fast 64-bit hash of the body for ETags (not cryptographic: a validator, not a secret). */
static uint64_t body_hash(const void *p, size_t n)
{
    const uint64_t k1 = 0x9E3779B97F4A7C15ull, k2 = 0xC2B2AE3D27D4EB4Full;
    const unsigned char *s = p;
    uint64_t h = k2 ^ (n * k1);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        w *= k1;
        w ^= w >> 31;
        h = (h ^ w) * k2;
        h ^= h >> 29;
    }
    uint64_t t = 0;
    for (size_t j = 0; i < n; i++, j++)
        t |= (uint64_t)s[i] << (8 * j);
    h = (h ^ (t * k1)) * k2;
    h ^= h >> 32;
    h *= k1;
    h ^= h >> 29;
    return h;
}

/* ------------------------------------------------------------------ statistics */

static unsigned status_slot(int status)
{
    for (unsigned i = 0; i < BUYT_HTTP_STATUS_SLOTS - 1; i++)
        if (buyt_http_status_slot_code[i] == status)
            return i;
    return BUYT_HTTP_STATUS_SLOTS - 1;
}

static void count(struct buyt_http *s, uint32_t route, int status, double seconds)
{
    struct buyt_http_route_stats *rs = &s->rstats[route];
    rs->by_status[status_slot(status)]++;
    unsigned b = 0;
    while (b < BUYT_HTTP_LATENCY_BUCKETS && seconds > buyt_http_latency_le_s[b])
        b++;
    rs->latency_bucket[b]++;
    rs->latency_sum_s += seconds;
}

void buyt_http_stats(const struct buyt_http *s, struct buyt_http_stats *out)
{
    *out = s->st;
    out->n_routes = s->n_routes + FIRST_ROUTE;
    out->routes = s->rstats;
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return status < 400 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
    }
}

/* ------------------------------------------------------------------ request accessors */

unsigned buyt_http_method(const struct buyt_http_req *r)
{
    return r->method;
}

const char *buyt_http_param(const struct buyt_http_req *r, unsigned i)
{
    return i < r->n_params ? r->params[i] : "";
}

int64_t buyt_http_now_ms(const struct buyt_http_req *r)
{
    return r->now_ms;
}

int buyt_http_query(const struct buyt_http_req *r, const char *name, const char **val)
{
    h2o_req_t *hr = r->hr;
    if (hr->query_at == SIZE_MAX)
        return 0;
    const char *raw;
    size_t len;
    if (!buyt_http_query_find(hr->path.base + hr->query_at + 1, hr->path.len - hr->query_at - 1,
                              name, &raw, &len))
        return 0;
    char *dst = h2o_mem_alloc_pool(&hr->pool, len + 1);
    if (buyt_http_unescape(raw, len, true, dst) < 0)
        return BUYT_EINVAL;
    *val = dst;
    return 1;
}

const char *buyt_http_header(const struct buyt_http_req *r, const char *lname)
{
    h2o_req_t *hr = r->hr;
    ssize_t i = h2o_find_header_by_str(&hr->headers, lname, strlen(lname), -1);
    if (i < 0)
        return NULL;
    h2o_iovec_t v = hr->headers.entries[i].value;
    return h2o_strdup(&hr->pool, v.base, v.len).base;
}

/* ------------------------------------------------------------------ answers */

struct buyt_jsonw *buyt_http_body(struct buyt_http_req *r)
{
    return &r->srv->body;
}

void buyt_http_set_status(struct buyt_http_req *r, int status)
{
    r->status = status;
}

void buyt_http_set_type(struct buyt_http_req *r, const char *content_type)
{
    r->ctype = content_type;
}

void buyt_http_set_cache(struct buyt_http_req *r, const char *cache_control)
{
    r->cache = cache_control;
}

void buyt_http_set_etag(struct buyt_http_req *r, const char *etag)
{
    snprintf(r->etag, sizeof r->etag, "%s", etag);
}

bool buyt_http_etag_fresh(const struct buyt_http_req *r, const char *etag)
{
    ssize_t i = h2o_find_header(&r->hr->headers, H2O_TOKEN_IF_NONE_MATCH, -1);
    if (i < 0)
        return false;
    h2o_iovec_t v = r->hr->headers.entries[i].value;
    return buyt_http_etag_match(v.base, v.len, etag);
}

void buyt_http_add_header(struct buyt_http_req *r, const char *name, const char *value)
{
    if (r->n_hdr == MAX_EXTRA_HEADERS)
        return;
    h2o_mem_pool_t *pool = &r->hr->pool;
    r->hdr[r->n_hdr].name = h2o_strdup(pool, name, SIZE_MAX);
    r->hdr[r->n_hdr].value = h2o_strdup(pool, value, SIZE_MAX);
    r->n_hdr++;
}

static void write_error(struct buyt_jsonw *w, int status, const char *code, const char *param,
                        const char *msg)
{
    buyt_jsonw_reset(w);
    buyt_jsonw_obj_begin(w);
    buyt_jsonw_key(w, "error");
    buyt_jsonw_obj_begin(w);
    buyt_jsonw_kint(w, "status", status);
    buyt_jsonw_kstr(w, "code", code);
    if (param)
        buyt_jsonw_kstr(w, "parameter", param);
    buyt_jsonw_kstr(w, "message", msg);
    buyt_jsonw_obj_end(w);
    buyt_jsonw_obj_end(w);
    buyt_jsonw_raw(w, "\n", 1);
}

void buyt_http_error(struct buyt_http_req *r, int status, const char *code, const char *param,
                     const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->status = status;
    r->ctype = "application/json";
    r->cache = "no-store";
    r->etag[0] = '\0';
    r->flags &= ~(unsigned)BUYT_HTTP_ETAG;
    r->gz = NULL;
    write_error(&r->srv->body, status, code, param, msg);
}

static bool origin_allowed(const struct buyt_http *s, h2o_req_t *hr, h2o_iovec_t *origin)
{
    if (!s->cors_origin)
        return false;
    ssize_t i = h2o_find_header_by_str(&hr->headers, H2O_STRLIT("origin"), -1);
    if (i < 0)
        return false;
    *origin = hr->headers.entries[i].value;
    if (!strcmp(s->cors_origin, "*"))
        return true;
    return h2o_memis(origin->base, origin->len, s->cors_origin, strlen(s->cors_origin));
}

/* Compresses len bytes of body into out (cap >= deflateBound) with the server's stream and
 * level. Returns the gzip length, or 0 if that failed or is not smaller than the input. */
static size_t deflate_body(struct buyt_http *s, const void *body, size_t len, unsigned char *out,
                           size_t cap)
{
    s->z.next_in = (Bytef *)(uintptr_t)body;
    s->z.avail_in = (uInt)len;
    s->z.next_out = out;
    s->z.avail_out = (uInt)cap;
    if (deflate(&s->z, Z_FINISH) != Z_STREAM_END || s->z.total_out >= len)
        return 0;
    return s->z.total_out;
}

/* The server's deflate stream, reset for a new body. */
static bool deflate_ready(struct buyt_http *s)
{
    if (!s->z_ready) {
        memset(&s->z, 0, sizeof s->z);
        /* windowBits 15 + 16: the gzip wrapper (RFC 1952) that Content-Encoding: gzip means. */
        if (deflateInit2(&s->z, s->gzip_level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return false;
        s->z_ready = true;
        return true;
    }
    return deflateReset(&s->z) == Z_OK;
}

/* Compresses body into pool memory. Returns the gzip bytes, or {NULL, 0} if not smaller. */
static h2o_iovec_t gzip_body(struct buyt_http *s, h2o_mem_pool_t *pool, const char *body,
                             size_t len)
{
    h2o_iovec_t none = {NULL, 0};
    if (!deflate_ready(s))
        return none;
    uLong bound = deflateBound(&s->z, (uLong)len);
    unsigned char *out = h2o_mem_alloc_pool(pool, bound);
    size_t n = deflate_body(s, body, len, out, bound);
    return n ? h2o_iovec_init(out, n) : none;
}

int buyt_http_gzip(struct buyt_http *s, const void *in, size_t n, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (!deflate_ready(s))
        return BUYT_ENOMEM;
    uLong bound = deflateBound(&s->z, (uLong)n);
    uint8_t *b = malloc(bound);
    if (!b)
        return BUYT_ENOMEM;
    size_t len = deflate_body(s, in, n, b, bound);
    if (!len) {
        free(b);
        return BUYT_ERANGE;
    }
    *out = b;
    *out_len = len;
    return 0;
}

void buyt_http_set_body_gzip(struct buyt_http_req *r, const void *gz, size_t len)
{
    r->gz = gz;
    r->gz_len = len;
}

static void add_hdr(h2o_req_t *hr, const h2o_token_t *t, const char *v, size_t n)
{
    h2o_add_header(&hr->pool, &hr->res.headers, t, NULL, v, n);
}

static void add_hdr_str(h2o_req_t *hr, const char *name, const char *v)
{
    h2o_add_header_by_str(&hr->pool, &hr->res.headers, name, strlen(name), 0, NULL, v, strlen(v));
}

/* Headers shared by every answer of a routed request: CORS and Vary. */
static void common_headers(struct buyt_http *s, h2o_req_t *hr, bool compressible)
{
    h2o_iovec_t origin;
    bool cors = origin_allowed(s, hr, &origin);
    if (cors) {
        if (!strcmp(s->cors_origin, "*"))
            add_hdr(hr, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, H2O_STRLIT("*"));
        else
            add_hdr(hr, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, origin.base, origin.len);
        add_hdr_str(hr, "access-control-expose-headers", "ETag");
    }
    bool vary_origin = s->cors_origin && strcmp(s->cors_origin, "*");
    if (compressible && vary_origin)
        add_hdr(hr, H2O_TOKEN_VARY, H2O_STRLIT("Accept-Encoding, Origin"));
    else if (compressible)
        add_hdr(hr, H2O_TOKEN_VARY, H2O_STRLIT("Accept-Encoding"));
    else if (vary_origin)
        add_hdr(hr, H2O_TOKEN_VARY, H2O_STRLIT("Origin"));
}

static void send_answer(struct buyt_http_req *r)
{
    static h2o_generator_t generator = {NULL, NULL};
    struct buyt_http *s = r->srv;
    h2o_req_t *hr = r->hr;
    struct buyt_jsonw *w = &s->body;
    if (w->oom) {
        buyt_jsonw_close(w); /* give the memory back; the error below is small */
        buyt_http_error(r, 500, "internal", NULL, "out of memory building the answer");
    }
    int status = r->status;
    const char *body = buyt_jsonw_data(w);
    size_t len = buyt_jsonw_len(w);
    bool compressible = len >= s->gzip_min && status != 204;
    common_headers(s, hr, compressible);

    /* Validator: the handler's ETag, or the body hash on ETag routes; 200 answers only. */
    char etag[80] = "";
    if (status == 200 && r->etag[0])
        snprintf(etag, sizeof etag, "%s", r->etag);
    else if (status == 200 && (r->flags & BUYT_HTTP_ETAG))
        snprintf(etag, sizeof etag, "%016llx", (unsigned long long)body_hash(body, len));
    if (etag[0] && buyt_http_etag_fresh(r, etag)) {
        status = 304;
        s->st.responses_not_modified++;
    }
    if (r->cache)
        add_hdr(hr, H2O_TOKEN_CACHE_CONTROL, r->cache, strlen(r->cache));

    h2o_iovec_t out = {NULL, 0};
    bool gz = false;
    if (status != 304 && status != 204) {
        ssize_t ae = h2o_find_header(&hr->headers, H2O_TOKEN_ACCEPT_ENCODING, -1);
        if (compressible && ae >= 0 &&
            buyt_http_accepts_gzip(hr->headers.entries[ae].value.base,
                                   hr->headers.entries[ae].value.len)) {
            if (r->gz) { /* compressed once by the handler, for every request */
                out.base = h2o_mem_alloc_pool(&hr->pool, r->gz_len);
                memcpy(out.base, r->gz, r->gz_len);
                out.len = r->gz_len;
            } else {
                out = gzip_body(s, &hr->pool, body, len);
            }
            gz = out.base != NULL;
        }
        if (!gz) {
            out.base = h2o_mem_alloc_pool(&hr->pool, len ? len : 1);
            memcpy(out.base, body, len);
            out.len = len;
        }
        add_hdr(hr, H2O_TOKEN_CONTENT_TYPE, r->ctype, strlen(r->ctype));
        if (gz) {
            add_hdr(hr, H2O_TOKEN_CONTENT_ENCODING, H2O_STRLIT("gzip"));
            s->st.responses_gzip++;
        }
    }
    if (etag[0]) {
        /* The gzip body is another representation of the same content: the weak form of the
         * identity ETag (what nginx does); If-None-Match compares weakly, so both validate. */
        char v[96];
        int n = snprintf(v, sizeof v, "%s\"%s\"", gz ? "W/" : "", etag);
        add_hdr(hr, H2O_TOKEN_ETAG, h2o_strdup(&hr->pool, v, (size_t)n).base, (size_t)n);
    }
    for (unsigned i = 0; i < r->n_hdr; i++)
        h2o_add_header_by_str(&hr->pool, &hr->res.headers, r->hdr[i].name.base, r->hdr[i].name.len,
                              0, NULL, r->hdr[i].value.base, r->hdr[i].value.len);
    hr->res.status = status;
    hr->res.reason = reason(status);
    hr->res.content_length = (status == 304 || status == 204) ? SIZE_MAX : out.len;
    if (s->stopping)
        hr->http1_is_persistent = 0;
    double secs = (double)(uv_hrtime() - r->t0_ns) / 1e9;
    count(s, r->route, status, secs);
    bool head = r->method == BUYT_HTTP_HEAD;
    if (!head && status != 304 && status != 204)
        s->st.bytes_sent_body += out.len;
    buyt_jsonw_reset(w);
    h2o_start_response(hr, &generator);
    if (head || status == 304 || status == 204)
        h2o_send(hr, NULL, 0, H2O_SEND_STATE_FINAL);
    else
        h2o_send(hr, &out, 1, H2O_SEND_STATE_FINAL);
}

/* ------------------------------------------------------------------ deferred answers */

static void guard_dispose(void *p)
{
    struct guard *g = p;
    if (g->d)
        g->d->req = NULL; /* the request's memory is going away: nothing left to answer */
}

struct buyt_http_deferred *buyt_http_defer(struct buyt_http_req *r)
{
    struct buyt_http_deferred *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->guard = h2o_mem_alloc_shared(&r->hr->pool, sizeof *d->guard, guard_dispose);
    d->guard->d = d;
    d->req = r;
    r->d = d;
    r->deferred = true;
    r->srv->st.deferred_open++;
    return d;
}

struct buyt_http_req *buyt_http_resume(struct buyt_http_deferred *d)
{
    struct buyt_http_req *r = d->req;
    if (!r) {
        /* The guard was disposed with the request's pool: the server outlives deferred work
         * (stop waits for it), but the connection did not. Counted, nothing to send. */
        free(d);
        return NULL;
    }
    buyt_jsonw_reset(&r->srv->body);
    r->status = 200;
    r->gz = NULL;
    return r;
}

void buyt_http_finish(struct buyt_http_req *r)
{
    struct buyt_http_deferred *d = r->d;
    if (d) {
        d->guard->d = NULL;
        r->d = NULL;
        r->srv->st.deferred_open--;
        free(d);
    }
    send_answer(r);
}

/* ------------------------------------------------------------------ routing */

static unsigned parse_method(h2o_iovec_t m)
{
    static const struct {
        const char *name;
        unsigned bit;
    } tab[] = {{"GET", BUYT_HTTP_GET},       {"HEAD", BUYT_HTTP_HEAD},
               {"POST", BUYT_HTTP_POST},     {"PUT", BUYT_HTTP_PUT},
               {"DELETE", BUYT_HTTP_DELETE}, {"OPTIONS", BUYT_HTTP_OPTIONS}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (h2o_memis(m.base, m.len, tab[i].name, strlen(tab[i].name)))
            return tab[i].bit;
    return BUYT_HTTP_OTHER;
}

int buyt_http_route(struct buyt_http *s, const char *pattern, unsigned methods, unsigned flags,
                    buyt_http_handler handler, void *ud)
{
    if (s->n_routes == BUYT_HTTP_MAX_ROUTES)
        return BUYT_EFULL;
    if (!pattern || pattern[0] != '/' || !handler)
        return BUYT_EINVAL;
    struct route *rt = &s->routes[s->n_routes];
    memset(rt, 0, sizeof *rt);
    const char *p = pattern + 1;
    unsigned captures = 0;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (rt->n_seg == MAX_SEGMENTS || n == 0)
            return BUYT_EINVAL;
        struct segment *sg = &rt->seg[rt->n_seg++];
        if (p[0] == '{') {
            if (p[n - 1] != '}' || ++captures > MAX_PARAMS)
                return BUYT_EINVAL;
            sg->lit = NULL;
        } else {
            sg->lit = p;
            sg->len = n;
        }
        p += n;
        if (*p == '/')
            p++;
    }
    rt->pattern = pattern;
    rt->slash = rt->n_seg > 0 && pattern[strlen(pattern) - 1] == '/';
    rt->methods = methods | ((methods & BUYT_HTTP_GET) ? BUYT_HTTP_HEAD : 0);
    rt->flags = flags;
    rt->handler = handler;
    rt->ud = ud;
    s->rstats[FIRST_ROUTE + s->n_routes].name = pattern;
    s->n_routes++;
    return 0;
}

/* Matches the raw path against rt: captures are stored (still encoded) in caps. */
static bool route_match(const struct route *rt, const char *path, size_t n, h2o_iovec_t *caps,
                        unsigned *n_caps)
{
    if (n == 0 || path[0] != '/')
        return false;
    size_t i = 1;
    *n_caps = 0;
    for (uint32_t k = 0; k < rt->n_seg; k++) {
        if (i > n)
            return false;
        size_t e = i;
        while (e < n && path[e] != '/')
            e++;
        const struct segment *sg = &rt->seg[k];
        if (sg->lit) {
            if (e - i != sg->len || memcmp(path + i, sg->lit, sg->len))
                return false;
        } else {
            if (e == i)
                return false;
            caps[(*n_caps)++] = h2o_iovec_init(path + i, e - i);
        }
        i = e + 1;
    }
    /* i == n + 1: the last segment ended the path; i == n: a '/' followed it. */
    if (rt->slash)
        return i == n;
    return i == n + 1 || (rt->n_seg == 0 && n == 1);
}

static void allow_header(struct buyt_http_req *r, unsigned methods)
{
    char v[64] = "";
    if (methods & BUYT_HTTP_GET)
        strcat(v, "GET, HEAD, ");
    if (methods & BUYT_HTTP_POST)
        strcat(v, "POST, ");
    if (methods & BUYT_HTTP_PUT)
        strcat(v, "PUT, ");
    if (methods & BUYT_HTTP_DELETE)
        strcat(v, "DELETE, ");
    strcat(v, "OPTIONS");
    buyt_http_add_header(r, "allow", v);
}

static void preflight(struct buyt_http_req *r, unsigned methods)
{
    h2o_iovec_t origin;
    r->status = 204;
    r->cache = NULL;
    allow_header(r, methods);
    if (origin_allowed(r->srv, r->hr, &origin)) {
        buyt_http_add_header(r, "access-control-allow-methods", "GET, HEAD, OPTIONS");
        buyt_http_add_header(r, "access-control-allow-headers",
                             "If-None-Match, Accept-Encoding, Content-Type");
        buyt_http_add_header(r, "access-control-max-age", "600");
    }
}

static int on_req(h2o_handler_t *self, h2o_req_t *hr)
{
    struct buyt_http *s = ((struct handler_ext *)self)->srv;
    s->st.requests++;
    struct buyt_http_req *r = h2o_mem_alloc_pool(&hr->pool, sizeof *r);
    memset(r, 0, sizeof *r);
    r->srv = s;
    r->hr = hr;
    r->t0_ns = uv_hrtime();
    r->now_ms = buyt_wall_ms();
    r->status = 200;
    r->ctype = "application/json";
    r->cache = "no-cache";
    r->route = ROUTE_UNMATCHED;
    r->method = parse_method(hr->method);
    buyt_jsonw_reset(&s->body);

    size_t plen = hr->query_at == SIZE_MAX ? hr->path.len : hr->query_at;
    if (hr->path.len > s->max_target) {
        buyt_http_error(r, 414, "uri_too_long", NULL, "request target longer than %zu bytes",
                        s->max_target);
        send_answer(r);
        return 0;
    }
    h2o_iovec_t caps[MAX_PARAMS];
    unsigned n_caps = 0, allowed = 0;
    const struct route *hit = NULL;
    for (uint32_t i = 0; i < s->n_routes; i++) {
        const struct route *rt = &s->routes[i];
        if (!route_match(rt, hr->path.base, plen, caps, &n_caps))
            continue;
        allowed |= rt->methods;
        if ((rt->methods & r->method) || r->method == BUYT_HTTP_OPTIONS) {
            hit = rt;
            r->route = FIRST_ROUTE + i;
            break;
        }
        if (!hit)
            r->route = FIRST_ROUTE + i; /* counts the 405 against the route */
    }
    if (!hit && allowed) {
        allow_header(r, allowed);
        buyt_http_error(r, 405, "method_not_allowed", NULL, "%.*s is not allowed here",
                        (int)(hr->method.len > 16 ? 16 : hr->method.len), hr->method.base);
        send_answer(r);
        return 0;
    }
    if (!hit) {
        buyt_http_error(r, 404, "not_found", NULL, "no such path: %.*s",
                        (int)(plen > 200 ? 200 : plen), hr->path.base);
        send_answer(r);
        return 0;
    }
    if (r->method == BUYT_HTTP_OPTIONS) {
        preflight(r, hit->methods);
        send_answer(r);
        return 0;
    }
    for (unsigned i = 0; i < n_caps; i++) {
        char *dst = h2o_mem_alloc_pool(&hr->pool, caps[i].len + 1);
        if (buyt_http_unescape(caps[i].base, caps[i].len, false, dst) < 0) {
            buyt_http_error(r, 400, "bad_path", NULL, "malformed percent-encoding in the path");
            send_answer(r);
            return 0;
        }
        r->params[r->n_params++] = dst;
    }
    r->flags = hit->flags;
    hit->handler(hit->ud, r);
    if (!r->deferred)
        send_answer(r);
    return 0;
}

/* ------------------------------------------------------------------ h2o's own errors as JSON */

struct json_ostream {
    h2o_ostream_t super;
    h2o_iovec_t body;
    bool sent;
};

static void json_ostream_send(h2o_ostream_t *self, h2o_req_t *hr, h2o_iovec_t *bufs, size_t n,
                              h2o_send_state_t state)
{
    (void)bufs, (void)n;
    struct json_ostream *o = (struct json_ostream *)self;
    bool head = h2o_memis(hr->input.method.base, hr->input.method.len, H2O_STRLIT("HEAD"));
    if (o->sent || head) {
        h2o_ostream_send_next(self, hr, NULL, 0, state);
        return;
    }
    o->sent = true;
    h2o_ostream_send_next(self, hr, &o->body, 1, state);
}

static void on_fallback_setup(h2o_filter_t *self, h2o_req_t *hr, h2o_ostream_t **slot)
{
    struct buyt_http *s = ((struct filter_ext *)self)->srv;
    int status = hr->res.status;
    if (status >= 400) {
        const char *code = status == 413   ? "too_large"
                           : status == 404 ? "not_found"
                                           : "bad_request";
        char msg[160];
        if (status == 413)
            snprintf(msg, sizeof msg, "request body larger than %zu bytes",
                     hr->conn->ctx->globalconf->max_request_entity_size);
        else
            snprintf(msg, sizeof msg, "%s", hr->res.reason ? hr->res.reason : "bad request");
        struct buyt_jsonw w;
        buyt_jsonw_init(&w);
        write_error(&w, status, code, NULL, msg);
        struct json_ostream *o = (void *)h2o_add_ostream(hr, sizeof *o, slot);
        o->super.do_send = json_ostream_send;
        o->sent = false;
        o->body = h2o_strdup(&hr->pool, buyt_jsonw_data(&w), buyt_jsonw_len(&w));
        buyt_jsonw_close(&w);
        hr->res.content_length = o->body.len;
        h2o_set_header(&hr->pool, &hr->res.headers, H2O_TOKEN_CONTENT_TYPE,
                       H2O_STRLIT("application/json"), 1);
        h2o_set_header(&hr->pool, &hr->res.headers, H2O_TOKEN_CACHE_CONTROL, H2O_STRLIT("no-store"),
                       1);
        slot = &o->super.next;
        count(s, ROUTE_PROTOCOL, status, 0);
    }
    h2o_setup_next_ostream(hr, slot);
}

/* ------------------------------------------------------------------ connections */

static void on_sock_closed(void *data)
{
    struct buyt_http *s = data;
    s->st.connections_open--;
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void on_accept(uv_stream_t *listener, int status)
{
    struct buyt_http *s = listener->data;
    if (status != 0)
        return;
    uv_tcp_t *c = malloc(sizeof *c);
    if (!c || uv_tcp_init(s->loop, c)) {
        free(c);
        return;
    }
    if (uv_accept(listener, (uv_stream_t *)c)) {
        uv_close((uv_handle_t *)c, free_handle);
        return;
    }
    if (s->stopping || s->st.connections_open >= s->max_connections) {
        s->st.connections_refused++;
        uv_close((uv_handle_t *)c, free_handle);
        return;
    }
    uv_tcp_nodelay(c, 1);
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)c, free_handle);
    sock->on_close.cb = on_sock_closed;
    sock->on_close.data = s;
    s->st.connections_accepted++;
    s->st.connections_open++;
    h2o_accept(&s->accept_ctx, sock);
}

static int parse_listen(const char *spec, struct sockaddr_storage *ss, char *err, size_t errlen)
{
    const char *colon = strrchr(spec ? spec : "", ':');
    if (!colon) {
        snprintf(err, errlen, "listen address '%s': want ADDR:PORT", spec ? spec : "");
        return BUYT_EINVAL;
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535) {
        snprintf(err, errlen, "listen address '%s': bad port", spec);
        return BUYT_EINVAL;
    }
    char host[128];
    size_t hl = (size_t)(colon - spec);
    if (hl >= sizeof host) {
        snprintf(err, errlen, "listen address '%s': host too long", spec);
        return BUYT_EINVAL;
    }
    memcpy(host, spec, hl);
    host[hl] = '\0';
    int rc;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        rc = uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)ss);
    } else {
        rc = uv_ip4_addr(hl ? host : "0.0.0.0", (int)port, (struct sockaddr_in *)ss);
    }
    if (rc) {
        snprintf(err, errlen, "listen address '%s': bad address", spec);
        return BUYT_EINVAL;
    }
    return 0;
}

/* Handles h2o_context_init created: unref'd so that they do not keep the loop running. */
struct walk {
    uv_handle_t **h;
    size_t n, cap;
    bool unref;
};

static void walk_cb(uv_handle_t *h, void *arg)
{
    struct walk *w = arg;
    if (w->unref) {
        for (size_t i = 0; i < w->n; i++)
            if (w->h[i] == h)
                return;
        uv_unref(h);
        return;
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        void *p = realloc(w->h, cap * sizeof *w->h);
        if (!p)
            return;
        w->h = p;
        w->cap = cap;
    }
    w->h[w->n++] = h;
}

int buyt_http_new(uv_loop_t *loop, const struct buyt_http_opts *o, struct buyt_http **out,
                  char *err, size_t errlen)
{
    *out = NULL;
    struct sockaddr_storage ss;
    int rc = parse_listen(o->listen, &ss, err, errlen);
    if (rc)
        return rc;
    struct buyt_http *s = calloc(1, sizeof *s);
    if (!s)
        return BUYT_ENOMEM;
    s->loop = loop;
    s->max_connections = o->max_connections ? o->max_connections : 4096;
    s->max_target = o->max_target_bytes ? o->max_target_bytes : 2048;
    s->gzip_min = o->gzip_min_bytes ? o->gzip_min_bytes : 1024;
    s->gzip_level = o->gzip_level >= 1 && o->gzip_level <= 9 ? o->gzip_level : 1;
    if (o->cors_origin && o->cors_origin[0] && !(s->cors_origin = strdup(o->cors_origin))) {
        free(s);
        return BUYT_ENOMEM;
    }
    buyt_jsonw_init(&s->body);
    s->rstats[ROUTE_UNMATCHED].name = "(unmatched)";
    s->rstats[ROUTE_PROTOCOL].name = "(protocol)";

    h2o_config_init(&s->config);
    s->config_inited = true;
    s->config.server_name = h2o_iovec_init(H2O_STRLIT("buyt"));
    s->config.max_request_entity_size = o->max_body_bytes ? o->max_body_bytes : 16384;
    s->config.http1.req_timeout = o->request_timeout_ms ? o->request_timeout_ms : 10000;
    s->config.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *host =
        h2o_config_register_host(&s->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    struct handler_ext *h = (void *)h2o_create_handler(path, sizeof *h);
    h->super.on_req = on_req;
    h->srv = s;
    struct filter_ext *f = (void *)h2o_create_filter(&host->fallback_path, sizeof *f);
    f->super.on_setup_ostream = on_fallback_setup;
    f->srv = s;

    struct walk w = {0};
    uv_walk(loop, walk_cb, &w);
    h2o_context_init(&s->ctx, loop, &s->config);
    s->ctx_inited = true;
    w.unref = true;
    uv_walk(loop, walk_cb, &w);
    free(w.h);
    s->accept_ctx.ctx = &s->ctx;
    s->accept_ctx.hosts = s->config.hosts;

    s->listener = malloc(sizeof *s->listener);
    if (!s->listener) {
        buyt_http_free(s);
        return BUYT_ENOMEM;
    }
    uv_tcp_init(loop, s->listener);
    s->listener->data = s;
    if ((rc = uv_tcp_bind(s->listener, (struct sockaddr *)&ss, 0)) ||
        (rc = uv_listen((uv_stream_t *)s->listener, 511, on_accept))) {
        snprintf(err, errlen, "listening on %s: %s", o->listen, uv_strerror(rc));
        uv_close((uv_handle_t *)s->listener, free_handle);
        s->listener = NULL;
        /* The caller runs the loop out (or frees after uv_run): the close completes then. */
        s->stopping = true;
        *out = s;
        return rc;
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    if (!uv_tcp_getsockname(s->listener, (struct sockaddr *)&bound, &blen))
        s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                    : ((struct sockaddr_in *)&bound)->sin_port);
    *out = s;
    return 0;
}

int buyt_http_port(const struct buyt_http *s)
{
    return s->port;
}

/* Closes connections waiting for a request until none is open. */
static void drain(struct buyt_http *s)
{
    h2o_timeout_run(s->loop, &s->ctx.http1.req_timeout, UINT64_MAX);
}

static void on_drain_timer(uv_timer_t *t)
{
    struct buyt_http *s = t->data;
    drain(s);
    if (s->st.connections_open == 0 && s->st.deferred_open == 0) {
        uv_close((uv_handle_t *)t, free_handle);
        s->drain_timer = NULL;
    }
}

void buyt_http_stop(struct buyt_http *s)
{
    if (!s || (s->stopping && !s->listener))
        return;
    s->stopping = true;
    if (s->listener) {
        uv_close((uv_handle_t *)s->listener, free_handle);
        s->listener = NULL;
    }
    /* Not h2o_context_request_shutdown(): its HTTP/2 half links a 1 s timeout entry that is
     * still linked when the context is disposed (assertion in h2o_timeout_dispose). HTTP/1
     * only reads this flag: requests parsed from now on get Connection: close. */
    s->ctx.shutdown_requested = 1;
    drain(s);
    if (s->st.connections_open || s->st.deferred_open) {
        s->drain_timer = malloc(sizeof *s->drain_timer);
        if (s->drain_timer) {
            uv_timer_init(s->loop, s->drain_timer);
            s->drain_timer->data = s;
            uv_timer_start(s->drain_timer, on_drain_timer, 20, 20);
        }
    }
}

void buyt_http_free(struct buyt_http *s)
{
    if (!s)
        return;
    if (s->st.connections_open)
        BUYT_WARN("http", "msg=\"freed with connections open\" n=%llu",
                  (unsigned long long)s->st.connections_open);
    if (s->ctx_inited)
        h2o_context_dispose(&s->ctx); /* runs the loop once: outside uv_run only */
    if (s->config_inited)
        h2o_config_dispose(&s->config);
    if (s->z_ready)
        deflateEnd(&s->z);
    buyt_jsonw_close(&s->body);
    free(s->cors_origin);
    free(s);
}
