/* The tests' HTTP client; see http_client.h. */
#define _GNU_SOURCE /* memmem */
#include "http_client.h"

#include "testkit.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <zlib.h>

const char *hdr(const struct hresp *r, const char *name)
{
    static char val[1024];
    size_t n = strlen(name);
    const char *p = strstr(r->head, "\r\n");
    while (p && p[2] != '\r') {
        p += 2;
        if (!strncasecmp(p, name, n) && p[n] == ':') {
            const char *v = p + n + 1, *e = strstr(v, "\r\n");
            while (*v == ' ')
                v++;
            snprintf(val, sizeof val, "%.*s", (int)(e - v), v);
            return val;
        }
        p = strstr(p, "\r\n");
    }
    return NULL;
}

/* ------------------------------------------------------------------ the client thread */

struct run {
    struct buyt_test_http_conn *c;
    int port;
    char *buf; /* what was received and not yet taken as an answer */
    size_t have, cap;
    char err[256];
    volatile bool done;
};

/* Receives more into r->buf. Returns what recv() returned. */
static ssize_t receive(struct run *r, int fd)
{
    if (r->have == r->cap) {
        r->cap *= 2;
        r->buf = realloc(r->buf, r->cap);
    }
    ssize_t g = recv(fd, r->buf + r->have, r->cap - r->have, 0);
    if (g > 0)
        r->have += (size_t)g;
    return g;
}

/* Takes the answer to request i from the front of r->buf. Returns false (r->err set) if the
 * connection ended or failed first. */
static bool read_answer(struct run *r, int fd, int i)
{
    struct buyt_test_http_conn *c = r->c;
    struct hresp *a = &c->res[i];
    if (c->until_eof) {
        ssize_t g;
        while ((g = receive(r, fd)) > 0)
            ;
        if (g < 0) {
            snprintf(r->err, sizeof r->err, "recv failed (timeout?)");
            return false;
        }
    }
    char *end;
    while (!(end = memmem(r->buf, r->have, "\r\n\r\n", 4))) {
        if (c->until_eof || receive(r, fd) <= 0) {
            snprintf(r->err, sizeof r->err, "request %d: no answer head (%zu bytes)", i, r->have);
            return false;
        }
    }
    size_t hl = (size_t)(end - r->buf) + 4;
    snprintf(a->head, sizeof a->head, "%.*s", (int)hl, r->buf);
    a->status = atoi(a->head + 9);
    size_t blen = r->have - hl;
    if (!c->until_eof) {
        const char *cl = hdr(a, "content-length");
        blen = (c->head[i] || a->status == 304 || a->status == 204 || !cl) ? 0 : (size_t)atol(cl);
        while (r->have < hl + blen) {
            if (receive(r, fd) <= 0) {
                snprintf(r->err, sizeof r->err, "request %d: body cut", i);
                return false;
            }
        }
    }
    a->body = malloc(blen + 1);
    memcpy(a->body, r->buf + hl, blen);
    a->body[blen] = '\0';
    a->len = blen;
    memmove(r->buf, r->buf + hl + blen, r->have - hl - blen);
    r->have -= hl + blen;
    return true;
}

static void client(void *arg)
{
    struct run *r = arg;
    struct buyt_test_http_conn *c = r->c;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        snprintf(r->err, sizeof r->err, "connect failed");
        goto out;
    }
    for (int i = 0; i < c->n; i++) {
        size_t off = 0;
        while (off < c->req_len[i]) {
            ssize_t w = send(fd, c->req[i] + off, c->req_len[i] - off, MSG_NOSIGNAL);
            if (w <= 0)
                break; /* the server may answer (413) before reading everything */
            off += (size_t)w;
        }
        if (!read_answer(r, fd, i))
            goto out;
    }
    if (c->expect_close) {
        struct timeval t0, t1;
        gettimeofday(&t0, NULL);
        char ch;
        ssize_t g = recv(fd, &ch, 1, 0);
        gettimeofday(&t1, NULL);
        c->closed = g == 0;
        c->close_after_s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_usec - t0.tv_usec) / 1e6;
    }
out:
    close(fd);
    r->done = true;
}

static bool run_done(void *arg)
{
    return ((struct run *)arg)->done;
}

void buyt_test_http_run(uv_loop_t *loop, int port, struct buyt_test_http_conn *c)
{
    cr_assert(c->n >= 1 && c->n <= BUYT_TEST_HTTP_MAX_REQ, "%d requests", c->n);
    cr_assert(!c->until_eof || c->n == 1, "until_eof: one request");
    for (int i = 0; i < c->n; i++)
        if (!c->req_len[i])
            c->req_len[i] = strlen(c->req[i]);
    /* The first request line names the exchange in failures. */
    char what[160];
    snprintf(what, sizeof what, "%.*s", (int)strcspn(c->req[0], "\r\n"), c->req[0]);
    struct run r = {.c = c, .port = port, .cap = 1 << 16};
    r.buf = malloc(r.cap);
    uv_thread_t th;
    cr_assert_eq(uv_thread_create(&th, client, &r), 0);
    bool ok = buyt_test_run_until(loop, run_done, &r, 20000);
    uv_thread_join(&th);
    free(r.buf);
    cr_assert(ok, "%s: client timed out", what);
    cr_assert_eq(r.err[0], '\0', "%s: %s", what, r.err);
}

void buyt_test_http_free(struct buyt_test_http_conn *c)
{
    for (int i = 0; i < BUYT_TEST_HTTP_MAX_REQ; i++) {
        free(c->res[i].body);
        c->res[i].body = NULL;
    }
}

struct hresp buyt_test_http_request(uv_loop_t *loop, int port, enum buyt_test_http_mode mode,
                                    const char *method, const char *path, const char *extra)
{
    char req[4096];
    int len = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: test\r\n%s%s\r\n", method, path,
                       mode == BUYT_TEST_HTTP_KEEP_ALIVE ? "" : "Connection: close\r\n",
                       extra ? extra : "");
    cr_assert_lt((size_t)len, sizeof req, "request too long: %s", path);
    struct buyt_test_http_conn c = {.n = 1,
                                    .req = {req},
                                    .head = {!strcmp(method, "HEAD")},
                                    .until_eof = mode == BUYT_TEST_HTTP_TO_EOF};
    buyt_test_http_run(loop, port, &c);
    return c.res[0];
}

/* ------------------------------------------------------------------ JSON answers */

json_t *buyt_test_http_json(struct hresp *h, const char *what)
{
    json_error_t err;
    json_t *j = json_loadb(h->body, h->len, JSON_REJECT_DUPLICATES, &err);
    cr_assert_not_null(j, "%s: not JSON (%s): %s", what, err.text, h->body);
    free(h->body);
    h->body = NULL;
    return j;
}

json_t *buyt_test_http_get_json(uv_loop_t *loop, int port, enum buyt_test_http_mode mode,
                                const char *path, int want_status)
{
    struct hresp h = buyt_test_http_request(loop, port, mode, "GET", path, NULL);
    cr_assert_eq(h.status, want_status, "%s: status %d: %s", path, h.status, h.body);
    cr_assert_str_eq(hdr(&h, "content-type"), "application/json", "%s", path);
    return buyt_test_http_json(&h, path);
}

json_t *jget(json_t *o, const char *path)
{
    while (o && *path) {
        size_t n = strcspn(path, ".");
        o = json_object_getn(o, path, n);
        path += n + (path[n] == '.');
    }
    return o;
}

const char *jstr(json_t *o, const char *path)
{
    json_t *v = jget(o, path);
    cr_assert(json_is_string(v), "no string '%s'", path);
    return json_string_value(v);
}

long long jint(json_t *o, const char *path)
{
    json_t *v = jget(o, path);
    cr_assert(json_is_integer(v), "no integer '%s'", path);
    return json_integer_value(v);
}

double jnum(json_t *o, const char *path)
{
    json_t *v = jget(o, path);
    cr_assert(json_is_number(v), "no number '%s'", path);
    return json_number_value(v);
}

/* ------------------------------------------------------------------ bodies */

char *buyt_test_gunzip(const char *in, size_t n, size_t *out_len)
{
    size_t cap = n * 20 + 1024;
    char *out = malloc(cap);
    z_stream z = {0};
    cr_assert_eq(inflateInit2(&z, 15 + 16), Z_OK); /* 15 + 16: a gzip wrapper */
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    cr_assert_eq(inflate(&z, Z_FINISH), Z_STREAM_END, "not a complete gzip stream");
    *out_len = z.total_out;
    inflateEnd(&z);
    return out;
}
