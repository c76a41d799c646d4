/* MQTT client on a libuv loop: the one module that speaks to libmosquitto.
 *
 * libmosquitto runs without its own thread: a uv_poll on its socket calls loop_read /
 * loop_write, a 1 s timer calls loop_misc (keepalive), and after every call into the library
 * the poll is re-synchronised with mosquitto_socket() (the library closes the socket itself on
 * connection loss). Reconnects use exponential backoff with jitter. MQTT 3.1.1 with
 * clean_session=false gives the persistent session (the broker keeps QoS 1 messages for us
 * while we are away, bounded by the broker's queue limits — see deploy/mosquitto/).
 *
 * Caveat (LIBRARY-NOTES.md): libmosquitto sends PUBACK before on_message runs. Delivery to
 * the application is not storage: "nothing lost" needs the application-level Ack. */
#ifndef BUYT_MQTT_H
#define BUYT_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct buyt_mqtt;

/** A parsed broker URL: mqtt://[USER[:PASS]@]HOST[:PORT] or mqtts://... (TLS, port 8883).
 *  USER and PASS may be percent-encoded. */
struct buyt_mqtt_url {
    char host[256];
    int port;
    bool tls;
    char user[128];
    char pass[128];
};

/** Parses `url`. Returns 0 or BUYT_EINVAL. */
int buyt_mqtt_url_parse(const char *url, struct buyt_mqtt_url *out);

struct buyt_mqtt_opts {
    const char *url;       /* required, see buyt_mqtt_url */
    const char *client_id; /* required for a persistent session */
    bool clean_session;    /* false: persistent session (default for buyt programs) */
    int keepalive_s;       /* 0: 30 */
    const char *cafile;    /* TLS: CA bundle (mqtts:// with NULL: the system's CAs); the
                              broker's chain and host name are always verified */
    const char *certfile;  /* TLS client certificate, or NULL */
    const char *keyfile;   /* its key, or NULL */
    /* Last will, published by the broker if we vanish (NULL topic: none). */
    const char *will_topic;
    const void *will_payload;
    size_t will_len;
    bool will_retain;
    int max_inflight;      /* QoS 1 messages in flight; 0: 100 */
    uint32_t backoff_min_ms, backoff_max_ms; /* 0: 500 ms and 30 s */
};

struct buyt_mqtt_callbacks {
    /** Connected (again): subscribe and publish "online" here. */
    void (*on_connect)(struct buyt_mqtt *m, void *ud);
    /** Connection lost or refused; a reconnect is already scheduled unless closing. */
    void (*on_disconnect)(struct buyt_mqtt *m, int reason, void *ud);
    /** A message arrived. topic and payload are borrowed for the call only. */
    void (*on_message)(struct buyt_mqtt *m, const char *topic, const void *payload, size_t len,
                       int qos, bool retained, void *ud);
    /** The broker acknowledged our QoS 1 publish `mid` (PUBACK). */
    void (*on_publish)(struct buyt_mqtt *m, int mid, void *ud);
};

/** Creates a client (not yet connecting). Strings in `opts` are copied. Returns 0 or
 *  BUYT_EINVAL (bad URL) / BUYT_ENOMEM / BUYT_EMQTT. */
int buyt_mqtt_new(uv_loop_t *loop, const struct buyt_mqtt_opts *opts,
                  const struct buyt_mqtt_callbacks *cb, void *ud, struct buyt_mqtt **out);

/** Starts connecting; on failure keeps retrying with backoff. Returns 0. */
int buyt_mqtt_start(struct buyt_mqtt *m);

/** Subscribes (call from on_connect). Returns 0 or BUYT_EMQTT. */
int buyt_mqtt_subscribe(struct buyt_mqtt *m, const char *filter, int qos);

/** Publishes; *mid (may be NULL) gets the message id matched by on_publish. Returns 0,
 *  BUYT_EMQTT when not connected or the library refused (caller keeps the data). */
int buyt_mqtt_publish(struct buyt_mqtt *m, const char *topic, const void *payload, size_t len,
                      int qos, bool retain, int *mid);

/** True between on_connect and on_disconnect. */
bool buyt_mqtt_connected(const struct buyt_mqtt *m);

/** Counters for metrics. tls_failures: connection attempts that failed in the TLS handshake
 *  or setup (untrusted certificate, host name not in it, unusable CA file, peer without TLS);
 *  each is also logged at warn with the library's reason. */
struct buyt_mqtt_stats {
    uint64_t connects, disconnects, received, published, publish_failed, tls_failures;
};
void buyt_mqtt_stats(const struct buyt_mqtt *m, struct buyt_mqtt_stats *out);

/** Disconnects cleanly (no will), closes all handles and frees `m` once they are closed;
 *  `done` (may be NULL) runs then. Must NOT be called from inside this client's callbacks
 *  (on_message, on_connect...): libmosquitto holds its callback lock there and the flush would
 *  deadlock; close from a timer or another handle's callback instead. */
void buyt_mqtt_close(struct buyt_mqtt *m, void (*done)(void *arg), void *arg);

#endif
