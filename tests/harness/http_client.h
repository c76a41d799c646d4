/* A small HTTP/1.1 client for tests of a server that runs on the test's own libuv loop (the
 * engine's API, see engine_rig.h): each exchange runs on a client thread over a plain loopback
 * socket while the test's thread turns the loop, so requests are written byte for byte as
 * given. Every function fails the test (Criterion assertion) on error.
 *
 * The few helpers that test bodies call on almost every line keep short names: struct hresp,
 * hdr(), jget(), jstr(), jint(), jnum(). */
#ifndef BUYT_HTTP_CLIENT_H
#define BUYT_HTTP_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

/** One answer. */
struct hresp {
    int status;      /* from the status line */
    char head[8192]; /* the status line and the headers, up to and including the blank line */
    char *body;      /* malloc'd and NUL-terminated (empty too): the caller frees it */
    size_t len;      /* of the body */
};

/** The value of header `name` (any case) in r's head, without leading spaces, or NULL if
 *  absent. In a static buffer: valid until the next call. */
const char *hdr(const struct hresp *r, const char *name);

/* ------------------------------------------------------------------ connections */

#define BUYT_TEST_HTTP_MAX_REQ 4

/** Requests written in turn on one connection, each answer read before the next request is
 *  sent. Set the inputs; the results are filled by buyt_test_http_run(). */
struct buyt_test_http_conn {
    int n;                                   /* requests, 1..BUYT_TEST_HTTP_MAX_REQ */
    const char *req[BUYT_TEST_HTTP_MAX_REQ]; /* each exactly as sent: head (and body) */
    size_t req_len[BUYT_TEST_HTTP_MAX_REQ];  /* 0: strlen(req[i]) */
    bool head[BUYT_TEST_HTTP_MAX_REQ];       /* request i is a HEAD: its answer has no body */
    /* How an answer ends: by default after Content-Length bytes (none for HEAD, 304, 204 or
     * without the header); with until_eof (n = 1, a request with "Connection: close"), where
     * the server closes the connection, which it must do within 10 s. */
    bool until_eof;
    bool expect_close; /* after the last answer, wait for the server to close (10 s at most) */
    /* Results: */
    struct hresp res[BUYT_TEST_HTTP_MAX_REQ];
    bool closed;          /* expect_close: the server closed the connection... */
    double close_after_s; /* ...this long after the last answer */
};

/** Connects to 127.0.0.1:port and runs the exchange on a client thread while `loop` turns,
 *  20 s at most. A request the server answers before reading all of it (413) is not an error.
 *  Fails the test if it times out, cannot connect, or an answer is missing or cut (receiving
 *  waits 10 s at most). Free the bodies with buyt_test_http_free(). */
void buyt_test_http_run(uv_loop_t *loop, int port, struct buyt_test_http_conn *c);

/** Frees the answers' bodies. */
void buyt_test_http_free(struct buyt_test_http_conn *c);

/** How buyt_test_http_request() asks and reads. */
enum buyt_test_http_mode {
    BUYT_TEST_HTTP_KEEP_ALIVE, /* no Connection header; the answer ends by its Content-Length */
    BUYT_TEST_HTTP_CLOSE,      /* "Connection: close"; the answer ends by its Content-Length */
    BUYT_TEST_HTTP_TO_EOF,     /* "Connection: close"; the answer ends where the server closes */
};

/** One request on its own connection: "METHOD PATH HTTP/1.1", "Host: test", the Connection
 *  header of `mode`, then `extra` (more header lines, each ending in \r\n; NULL: none). The
 *  caller frees the answer's body. */
struct hresp buyt_test_http_request(uv_loop_t *loop, int port, enum buyt_test_http_mode mode,
                                    const char *method, const char *path, const char *extra);

/* ------------------------------------------------------------------ JSON answers */

/** Parses h's body as JSON (duplicate keys rejected) and frees the body. Fails the test, naming
 *  `what` and showing the body, if it is not JSON. The caller owns the result (json_decref). */
json_t *buyt_test_http_json(struct hresp *h, const char *what);

/** GET path (buyt_test_http_request with `mode`): the status must be want_status, the
 *  Content-Type application/json, the body JSON (buyt_test_http_json). */
json_t *buyt_test_http_get_json(uv_loop_t *loop, int port, enum buyt_test_http_mode mode,
                                const char *path, int want_status);

/** The member at `path` in o: a key, or keys joined by dots ("a.b.c" for o.a.b.c); NULL if
 *  absent. Borrowed. */
json_t *jget(json_t *o, const char *path);

/** The string, integer or number (integer or real) at `path` (as jget); fails the test if it is
 *  absent or of another type. A string is borrowed from o. */
const char *jstr(json_t *o, const char *path);
long long jint(json_t *o, const char *path);
double jnum(json_t *o, const char *path);

/* ------------------------------------------------------------------ bodies */

/** Inflates a complete gzip stream of n bytes into a malloc'd buffer (its size in *out_len),
 *  which the caller frees; fails the test if the stream is not complete gzip or inflates to
 *  more than 20 times its size plus 1 KiB. */
char *buyt_test_gunzip(const char *in, size_t n, size_t *out_len);

#endif
