/* An in-process engine for integration tests ("the rig"): a fresh migrated database with its
 * vehicles registered, a buyt engine on the rig's own libuv loop against the harness's broker,
 * optionally its HTTP API on a free loopback port, and a publisher on the broker's tool account
 * that sends telemetry as buses do. Agency BUYT_TEST_AGENCY, time zone UTC.
 *
 * Everything runs on the test's thread: the loop turns only inside buyt_test_run_until()
 * (testkit.h) and the helpers here and in http_client.h. Runs under tools/servers.sh (see
 * testkit.h). Every function fails the test (Criterion assertion) on error.
 *
 *   struct buyt_test_rig r;
 *   buyt_test_rig_start(&r, &opts);   engine (and API) started
 *   ... add routes or MQTT clients of the test's own here ...
 *   buyt_test_rig_connect(&r, &opts); publisher connected, engine subscribed
 *   ... publish, wait, request ...
 *   buyt_test_rig_stop(&r);           everything stopped and freed */
#ifndef BUYT_ENGINE_RIG_H
#define BUYT_ENGINE_RIG_H

#include "api.h"
#include "contract.h"
#include "engine.h"
#include "mqtt.h"
#include "network.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define BUYT_TEST_AGENCY "hn"

struct buyt_test_rig {
    uv_loop_t loop;
    struct buyt_engine e;
    struct buyt_api *api;  /* the HTTP API, or NULL (opts.api NULL) */
    int port;              /* its port on 127.0.0.1 */
    struct buyt_mqtt *pub; /* the telemetry publisher (tool account) */
    bool pub_up;           /* it is connected */
    bool stopped;          /* the engine has reported it stopped */
    char db[512];          /* the database's conninfo */
    char spool[128];       /* the engine's spool directory (removed by buyt_test_rig_stop) */
    uint64_t seq[8];       /* telemetry record numbers so far: a slot per vehicle, as the test
                              chooses (the engine drops a record whose seq it has seen) */
};

struct buyt_test_rig_opts {
    const char *client_id; /* the engine's MQTT client id (one per test) */
    int buses;             /* vehicles bus1..busN are registered (N <= 9)... */
    int extra;             /* ...and x01..xNN */
    /* The network, built once the engine is initialised (the engine takes it): the test's own
     * builder, called with network_arg. */
    struct buyt_network *(*network)(void *arg);
    void *network_arg;
    int feed_version;                /* reported by the engine as the network's */
    const char *service_day;         /* its first_day and last_day (any text) */
    uint32_t stats_ms;               /* the engine's stats period; 0: the engine's default */
    const struct buyt_api_opts *api; /* NULL: no HTTP server */
    /* buyt_test_rig_connect: */
    const char *pub_client_id; /* the publisher's client id; NULL: client_id + "-pub" */
    bool (*ready)(void *arg);  /* NULL, or what must also hold before it returns (the test's
                                  own MQTT clients connected), called with ready_arg */
    void *ready_arg;
};

/** Clears *r, makes the database (buses and extra vehicles registered), a spool directory and
 *  the loop, initialises the engine (batches every 50 ms), gives it the network and starts it,
 *  then the HTTP API if opts->api (r->port set). The loop has not run yet. */
void buyt_test_rig_start(struct buyt_test_rig *r, const struct buyt_test_rig_opts *opts);

/** Starts the publisher (max 200 messages in flight) and runs the loop until it and the engine
 *  are connected to the broker (and opts->ready holds), 10 s at most; then gives the engine's
 *  subscription 200 ms to be acknowledged. opts: the same as given to buyt_test_rig_start. */
void buyt_test_rig_connect(struct buyt_test_rig *r, const struct buyt_test_rig_opts *opts);

/** Closes the publisher, stops the engine (and the API, as buyt-ingest does) within 30 s, runs
 *  the loop to its end and asserts that no handle is left open, frees the engine and the API,
 *  and removes the spool directory. MQTT clients of the test's own are closed before. */
void buyt_test_rig_stop(struct buyt_test_rig *r);

/* ------------------------------------------------------------------ telemetry */

/** Publishes the n records as one Telemetry message of vehicle `vid` on its telemetry topic,
 *  QoS 1, through the publisher. The records are borrowed; the loop is not run. */
void buyt_test_rig_publish(struct buyt_test_rig *r, const char *vid, Buyt__V1__Record **recs,
                           size_t n);

/** Fills *f (initialised here) with a GPS fix `dist` metres along shape `shape` of `net`,
 *  `side` metres to the left of it, moving at `speed` m/s with the shape's bearing there. */
void buyt_test_fix_on_shape(Buyt__V1__Fix *f, const struct buyt_network *net, uint32_t shape,
                            double dist, double side, double speed);

/** A position along a shape: `dist` metres along, `side` metres to its left, at time_ms. */
struct buyt_test_pos {
    int64_t time_ms;
    double dist, side;
};

/** Publishes one Telemetry message of vehicle `vid`: if trip_id is not NULL, its driver ("d1")
 *  signing in to that trip 1 s before the first position; then a fix at each of the n (1 to
 *  16) positions on shape `shape` of the engine's network, moving at 5 m/s. The records take
 *  the numbers ++*seq in that order. The loop is not run. */
void buyt_test_rig_publish_drive(struct buyt_test_rig *r, const char *vid, uint64_t *seq,
                                 const char *trip_id, uint32_t shape,
                                 const struct buyt_test_pos *ps, int n);

/** Runs the loop until the engine has accepted `records` records in all, every vehicle named
 *  in on_trip (a NULL-terminated list, or NULL) is matched to a trip, and everything accepted
 *  is committed to the database (nothing pending, the batch empty). Fails after 20 s. */
void buyt_test_rig_wait_accepted(struct buyt_test_rig *r, uint64_t records,
                                 const char *const *on_trip);

#endif
