/* libmosquitto on a libuv loop; see mqtt.h and LIBRARY-NOTES.md for the recipe. */
#include "mqtt.h"

#include "error.h"
#include "log.h"

#include <inttypes.h>
#include <mosquitto.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

struct buyt_mqtt {
    uv_loop_t *loop;
    struct mosquitto *mosq;
    struct buyt_mqtt_callbacks cb;
    void *ud;
    struct buyt_mqtt_url url;
    int keepalive_s;
    uint32_t backoff_min_ms, backoff_max_ms, backoff_ms;
    uv_poll_t *poll;        /* heap: closed asynchronously when the socket changes */
    int fd;                 /* the socket `poll` watches, -1 none */
    int poll_events;        /* what `poll` was last started with (uv_poll_start costs syscalls) */
    uint64_t progress;      /* packets seen through callbacks: did a read consume one? */
    bool no_cork;           /* the connection is not TCP (no TCP_CORK): see cork() */
    uv_timer_t misc_timer;  /* 1 s: mosquitto_loop_misc and poll re-sync */
    uv_timer_t retry_timer; /* reconnect backoff */
    bool connected, connecting, closing, started;
    char tls_err[160]; /* TLS: the library's first error message of the current attempt */
    int pending_closes;
    void (*done)(void *);
    void *done_arg;
    struct buyt_mqtt_stats stats;
};

static int lib_refs;

/* ------------------------------------------------------------------ URL */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Copies s[0..n) into out, decoding %XX escapes. */
static int unpercent(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return BUYT_EINVAL;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= cap)
            return BUYT_EINVAL;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

int buyt_mqtt_url_parse(const char *url, struct buyt_mqtt_url *u)
{
    memset(u, 0, sizeof *u);
    const char *p;
    if (!url)
        return BUYT_EINVAL;
    if (!strncmp(url, "mqtt://", 7)) {
        p = url + 7;
        u->port = 1883;
    } else if (!strncmp(url, "mqtts://", 8)) {
        p = url + 8;
        u->port = 8883;
        u->tls = true;
    } else {
        return BUYT_EINVAL;
    }
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *uend = colon ? colon : at;
        if (unpercent(p, (size_t)(uend - p), u->user, sizeof u->user))
            return BUYT_EINVAL;
        if (colon && unpercent(colon + 1, (size_t)(at - colon - 1), u->pass, sizeof u->pass))
            return BUYT_EINVAL;
        p = at + 1;
    }
    const char *end = p + strcspn(p, "/?");
    if (*end && strcmp(end, "/"))
        return BUYT_EINVAL; /* no path: topics are the contract's, not the URL's */
    const char *colon = memchr(p, ':', (size_t)(end - p));
    size_t hlen = (size_t)((colon ? colon : end) - p);
    if (hlen == 0 || hlen >= sizeof u->host)
        return BUYT_EINVAL;
    memcpy(u->host, p, hlen);
    if (colon) {
        char *e;
        long port = strtol(colon + 1, &e, 10);
        if (e != end || port < 1 || port > 65535)
            return BUYT_EINVAL;
        u->port = (int)port;
    }
    return 0;
}

/* ------------------------------------------------------------------ socket watching */

static void sync_poll(struct buyt_mqtt *m);
static void schedule_retry(struct buyt_mqtt *m);
static void tls_failed(struct buyt_mqtt *m);

static void on_handle_closed(uv_handle_t *h)
{
    struct buyt_mqtt *m = h->data;
    if ((void *)h != (void *)&m->misc_timer && (void *)h != (void *)&m->retry_timer)
        free(h);
    if (--m->pending_closes == 0 && m->closing) {
        void (*done)(void *) = m->done;
        void *arg = m->done_arg;
        mosquitto_destroy(m->mosq);
        free(m);
        if (--lib_refs == 0)
            mosquitto_lib_cleanup();
        if (done)
            done(arg);
    }
}

static void drop_poll(struct buyt_mqtt *m)
{
    if (!m->poll)
        return;
    uv_poll_stop(m->poll);
    m->pending_closes++;
    uv_close((uv_handle_t *)m->poll, on_handle_closed);
    m->poll = NULL;
    m->fd = -1;
}

/* TCP_CORK on the connection while a drain answers a burst: libmosquitto writes every PUBACK
 * (QoS 1) on its own as soon as the PUBLISH is read, and each write was a TCP segment through
 * the whole stack (a sixth of the engine's CPU at 30,000 msg/s, delivery to the broker
 * included); corked, the burst's PUBACKs leave in one segment when the drain ends (uncorking
 * flushes). Only from a drain's second packet on: a client reading one message at a time
 * pays nothing. Returns whether the socket is now corked (false: not TCP, or no socket). */
static bool cork(struct buyt_mqtt *m, bool on)
{
    int fd = mosquitto_socket(m->mosq), v = on;
    if (fd < 0 || m->no_cork)
        return false;
    if (setsockopt(fd, IPPROTO_TCP, TCP_CORK, &v, sizeof v)) {
        m->no_cork = on; /* a unix socket: never again on this connection */
        return false;
    }
    return on;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct buyt_mqtt *m = h->data;
    if (status < 0 || (events & UV_READABLE)) {
        /* Drain what the kernel already holds in this callback instead of paying a loop
         * iteration per message, bounded by time so a busy broker cannot starve the loop.
         * Beware: mosquitto_loop_read ignores its max_packets and reads as many packets as
         * the client has QoS > 0 messages queued (in flight both ways), so a client with
         * thousands of QoS 1 publishes awaiting PUBACK reads thousands per call; publishers
         * of high-rate state (stop boards) use QoS 0 for that reason (docs/INGEST.md). */
        uint64_t until = uv_hrtime() + 5000000; /* 5 ms */
        bool corked = false;
        for (int i = 0; i < 512 && uv_hrtime() < until; i++) {
            if (i == 1)
                corked = cork(m, true);
            uint64_t before = m->progress;
            int rc = mosquitto_loop_read(m->mosq, 1);
            if (rc == MOSQ_ERR_TLS && m->connecting)
                tls_failed(m); /* the library closed the socket without on_disconnect */
            if (rc != MOSQ_ERR_SUCCESS)
                break;
            /* A read that delivered a packet is followed by another without asking the kernel
             * (an ioctl per message was a tenth of the receive path's system calls); one that
             * delivered nothing (the socket is empty, a packet is partial, or it was a packet
             * without a callback, like PINGRESP) ends the drain unless the kernel holds more. */
            if (m->progress != before)
                continue;
            int fd = mosquitto_socket(m->mosq), avail = 0;
            if (fd < 0 || ioctl(fd, FIONREAD, &avail) || avail <= 0)
                break;
        }
        if (corked)
            cork(m, false);
    }
    if (m->poll == h && (events & UV_WRITABLE) && mosquitto_socket(m->mosq) >= 0)
        mosquitto_loop_write(m->mosq, 1);
    sync_poll(m);
}

/* Makes the poll watch mosquitto_socket() with WRITABLE iff the library wants to write. */
static void sync_poll(struct buyt_mqtt *m)
{
    if (m->closing)
        return;
    int fd = mosquitto_socket(m->mosq);
    if (fd != m->fd)
        drop_poll(m);
    if (fd < 0) {
        if (m->connected || m->connecting) {
            /* The library closed the socket (connection lost) before or without telling us. */
            bool was = m->connected;
            m->connected = m->connecting = false;
            if (was) {
                m->stats.disconnects++;
                if (m->cb.on_disconnect)
                    m->cb.on_disconnect(m, -1, m->ud);
            }
        }
        if (!m->closing)
            schedule_retry(m);
        return;
    }
    if (!m->poll) {
        uv_poll_t *p = malloc(sizeof *p);
        if (!p)
            return; /* retried from the misc timer */
        int rc = uv_poll_init_socket(m->loop, p, fd);
        if (rc) {
            /* UV_EEXIST: the previous handle on a reused fd number is still closing. */
            free(p);
            return;
        }
        p->data = m;
        m->poll = p;
        m->fd = fd;
        m->poll_events = 0;
    }
    /* Only on a change: libuv's uv_poll_start removes and re-adds the descriptor to epoll
     * (two or three epoll_ctl calls), and this runs after every read and every publish. libuv
     * stops a poll by itself when the socket reports an error (POLLERR): that is a change. */
    int ev = UV_READABLE | (mosquitto_want_write(m->mosq) ? UV_WRITABLE : 0);
    if ((ev != m->poll_events || !uv_is_active((uv_handle_t *)m->poll)) &&
        uv_poll_start(m->poll, ev, on_poll) == 0)
        m->poll_events = ev;
}

static void on_misc(uv_timer_t *t)
{
    struct buyt_mqtt *m = t->data;
    if (mosquitto_socket(m->mosq) >= 0)
        mosquitto_loop_misc(m->mosq);
    sync_poll(m);
}

/* ------------------------------------------------------------------ TLS failures */

/* libmosquitto reports why a handshake failed (OpenSSL's error queue: "certificate verify
 * failed", "wrong version number"...) only through its log callback. The callback is set for
 * the connection attempt only: while it is set the library formats every log line it makes
 * (one per packet), which a connected client should not pay for. */
static void lib_on_log(struct mosquitto *mosq, void *obj, int level, const char *str)
{
    (void)mosq;
    struct buyt_mqtt *m = obj;
    if (level != MOSQ_LOG_ERR || m->tls_err[0])
        return; /* the first error of the attempt is the cause; the rest follow from it */
    const char *p = strstr(str, "OpenSSL Error[");
    if (p && (p = strstr(p, "]: ")))
        str = p + 3;
    size_t o = 0; /* logfmt-safe: no quotes, backslashes or control characters */
    for (; *str && o + 1 < sizeof m->tls_err; str++)
        m->tls_err[o++] = *str == '"' || *str == '\\' || (unsigned char)*str < 0x20 ? '\'' : *str;
    m->tls_err[o] = '\0';
}

static void log_capture(struct buyt_mqtt *m, bool on)
{
    if (!m->url.tls)
        return;
    if (on)
        m->tls_err[0] = '\0';
    mosquitto_log_callback_set(m->mosq, on ? lib_on_log : NULL);
}

/* A connection attempt failed in the TLS handshake or the TLS setup: the broker's certificate
 * is not trusted or does not name the host, the broker refused our client certificate, the CA
 * file is not usable, or the peer does not speak TLS. Never a fallback to plain MQTT: the
 * attempt is retried with backoff, as TLS. */
static void tls_failed(struct buyt_mqtt *m)
{
    m->stats.tls_failures++;
    const char *why = m->tls_err[0] ? m->tls_err : "unknown";
    BUYT_WARN("mqtt",
              "msg=\"TLS handshake failed\" host=%s port=%d err=\"%s\" tls_failures=%" PRIu64,
              m->url.host, m->url.port, why, m->stats.tls_failures);
    m->tls_err[0] = '\0';
}

/* ------------------------------------------------------------------ connect / reconnect */

static void try_connect(struct buyt_mqtt *m)
{
    if (m->closing || m->connected || m->connecting)
        return;
    log_capture(m, true);
    int rc = m->started ? mosquitto_reconnect_async(m->mosq)
                        : mosquitto_connect_async(m->mosq, m->url.host, m->url.port,
                                                  m->keepalive_s);
    if (rc == MOSQ_ERR_SUCCESS) {
        m->started = true;
        m->connecting = true;
    } else if (rc == MOSQ_ERR_TLS) {
        tls_failed(m);
    } else {
        BUYT_DEBUG("mqtt", "msg=\"connect failed\" host=%s port=%d err=\"%s\"", m->url.host,
                   m->url.port, mosquitto_strerror(rc));
    }
    /* A (re)connect closes the library's socket and opens a new one, which often gets the
     * same descriptor number: epoll dropped the old one when it was closed, so the poll must
     * be registered again even though neither the number nor the event mask changed. */
    m->poll_events = 0;
    m->no_cork = false;
    sync_poll(m);
    if (rc != MOSQ_ERR_SUCCESS)
        schedule_retry(m);
}

static void on_retry(uv_timer_t *t) { try_connect(t->data); }

static void schedule_retry(struct buyt_mqtt *m)
{
    if (m->closing || uv_is_active((uv_handle_t *)&m->retry_timer))
        return;
    /* Full jitter in [backoff/2, backoff]: a fleet that lost its broker does not come back in
     * lockstep. */
    uint32_t b = m->backoff_ms;
    uint32_t delay = b / 2 + (uint32_t)((uint64_t)(b / 2 + 1) * (uint32_t)rand() / RAND_MAX);
    m->backoff_ms = b * 2 > m->backoff_max_ms ? m->backoff_max_ms : b * 2;
    uv_timer_start(&m->retry_timer, on_retry, delay, 0);
}

/* ------------------------------------------------------------------ library callbacks */

static void lib_on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    struct buyt_mqtt *m = obj;
    m->connecting = false;
    log_capture(m, false); /* a CONNACK: the handshake is behind us */
    if (rc != 0) {
        BUYT_WARN("mqtt", "msg=\"connection refused\" host=%s port=%d reason=\"%s\"", m->url.host,
                  m->url.port, mosquitto_connack_string(rc));
        mosquitto_disconnect(m->mosq);
        return;
    }
    m->connected = true;
    m->backoff_ms = m->backoff_min_ms;
    m->stats.connects++;
    BUYT_INFO("mqtt", "msg=connected host=%s port=%d", m->url.host, m->url.port);
    if (m->cb.on_connect)
        m->cb.on_connect(m, m->ud);
}

static void lib_on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    struct buyt_mqtt *m = obj;
    bool was = m->connected, attempt = m->connecting;
    m->connected = m->connecting = false;
    if (!was) {
        /* Lost before the CONNACK with OpenSSL's reason logged: the peer refused us after our
         * side of the handshake (TLS 1.3: a missing or untrusted client certificate). */
        if (attempt && (rc == MOSQ_ERR_TLS || (m->url.tls && m->tls_err[0])))
            tls_failed(m);
        return; /* on_disconnect can fire twice; report once */
    }
    m->stats.disconnects++;
    if (!m->closing)
        BUYT_WARN("mqtt", "msg=disconnected host=%s port=%d reason=%d", m->url.host, m->url.port,
                  rc);
    if (m->cb.on_disconnect)
        m->cb.on_disconnect(m, rc, m->ud);
}

static void lib_on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    (void)mosq;
    struct buyt_mqtt *m = obj;
    m->progress++;
    m->stats.received++;
    if (m->cb.on_message)
        m->cb.on_message(m, msg->topic, msg->payload, (size_t)msg->payloadlen, msg->qos,
                         msg->retain, m->ud);
}

static void lib_on_publish(struct mosquitto *mosq, void *obj, int mid)
{
    (void)mosq;
    struct buyt_mqtt *m = obj;
    m->progress++;
    if (m->cb.on_publish)
        m->cb.on_publish(m, mid, m->ud);
}

/* ------------------------------------------------------------------ public API */

int buyt_mqtt_new(uv_loop_t *loop, const struct buyt_mqtt_opts *o,
                  const struct buyt_mqtt_callbacks *cb, void *ud, struct buyt_mqtt **out)
{
    *out = NULL;
    struct buyt_mqtt *m = calloc(1, sizeof *m);
    if (!m)
        return BUYT_ENOMEM;
    if (buyt_mqtt_url_parse(o->url, &m->url)) {
        free(m);
        return BUYT_EINVAL;
    }
    if (lib_refs++ == 0)
        mosquitto_lib_init();
    m->loop = loop;
    m->cb = *cb;
    m->ud = ud;
    m->fd = -1;
    m->keepalive_s = o->keepalive_s > 0 ? o->keepalive_s : 30;
    m->backoff_min_ms = o->backoff_min_ms ? o->backoff_min_ms : 500;
    m->backoff_max_ms = o->backoff_max_ms ? o->backoff_max_ms : 30000;
    m->backoff_ms = m->backoff_min_ms;
    m->mosq = mosquitto_new(o->client_id, o->clean_session, m);
    int rc = m->mosq ? MOSQ_ERR_SUCCESS : MOSQ_ERR_NOMEM;
    if (!rc && m->url.user[0])
        rc = mosquitto_username_pw_set(m->mosq, m->url.user, m->url.pass[0] ? m->url.pass : NULL);
    if (!rc && m->url.tls) {
        rc = mosquitto_tls_set(m->mosq, o->cafile, o->cafile ? NULL : "/etc/ssl/certs",
                               o->certfile, o->keyfile, NULL);
        /* Explicit rather than the library's defaults: TLS 1.2 at least, the broker's
         * certificate chain verified (1 = SSL_VERIFY_PEER) and so is its name (the URL's host
         * against the certificate's subjectAltName: "insecure" stays false). */
        if (!rc)
            rc = mosquitto_tls_opts_set(m->mosq, 1, "tlsv1.2", NULL);
        if (!rc)
            rc = mosquitto_tls_insecure_set(m->mosq, false);
    }
    if (!rc && o->will_topic)
        rc = mosquitto_will_set(m->mosq, o->will_topic, (int)o->will_len, o->will_payload, 1,
                                o->will_retain);
    if (!rc)
        rc = mosquitto_max_inflight_messages_set(m->mosq,
                                                 (unsigned)(o->max_inflight ? o->max_inflight : 100));
    if (rc) {
        BUYT_ERROR("mqtt", "msg=\"client setup failed\" err=\"%s\"", mosquitto_strerror(rc));
        if (m->mosq)
            mosquitto_destroy(m->mosq);
        free(m);
        if (--lib_refs == 0)
            mosquitto_lib_cleanup();
        return BUYT_EMQTT;
    }
    mosquitto_connect_callback_set(m->mosq, lib_on_connect);
    mosquitto_disconnect_callback_set(m->mosq, lib_on_disconnect);
    mosquitto_message_callback_set(m->mosq, lib_on_message);
    mosquitto_publish_callback_set(m->mosq, lib_on_publish);
    uv_timer_init(loop, &m->misc_timer);
    uv_timer_init(loop, &m->retry_timer);
    m->misc_timer.data = m->retry_timer.data = m;
    *out = m;
    return 0;
}

int buyt_mqtt_start(struct buyt_mqtt *m)
{
    uv_timer_start(&m->misc_timer, on_misc, 1000, 1000);
    try_connect(m);
    return 0;
}

int buyt_mqtt_subscribe(struct buyt_mqtt *m, const char *filter, int qos)
{
    int rc = mosquitto_subscribe(m->mosq, NULL, filter, qos);
    sync_poll(m);
    if (rc) {
        BUYT_WARN("mqtt", "msg=\"subscribe failed\" filter=%s err=\"%s\"", filter,
                  mosquitto_strerror(rc));
        return BUYT_EMQTT;
    }
    return 0;
}

int buyt_mqtt_publish(struct buyt_mqtt *m, const char *topic, const void *payload, size_t len,
                      int qos, bool retain, int *mid)
{
    if (!m->connected) {
        m->stats.publish_failed++;
        return BUYT_EMQTT;
    }
    int rc = mosquitto_publish(m->mosq, mid, topic, (int)len, payload, qos, retain);
    sync_poll(m);
    if (rc) {
        m->stats.publish_failed++;
        return BUYT_EMQTT;
    }
    m->stats.published++;
    return 0;
}

bool buyt_mqtt_connected(const struct buyt_mqtt *m) { return m->connected; }

void buyt_mqtt_stats(const struct buyt_mqtt *m, struct buyt_mqtt_stats *out) { *out = m->stats; }

void buyt_mqtt_close(struct buyt_mqtt *m, void (*done)(void *arg), void *arg)
{
    if (m->closing)
        return;
    m->closing = true; /* first: the disconnect callback below is not a connection loss */
    if (m->connected) {
        /* A clean DISCONNECT: the broker discards the will. Flush it before closing. */
        mosquitto_disconnect(m->mosq);
        if (mosquitto_socket(m->mosq) >= 0)
            mosquitto_loop_write(m->mosq, 1);
    }
    m->done = done;
    m->done_arg = arg;
    m->connected = false;
    drop_poll(m);
    uv_timer_stop(&m->misc_timer);
    uv_timer_stop(&m->retry_timer);
    m->pending_closes += 2;
    uv_close((uv_handle_t *)&m->misc_timer, on_handle_closed);
    uv_close((uv_handle_t *)&m->retry_timer, on_handle_closed);
}
