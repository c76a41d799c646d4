/* Direct mode: the fleet's sensors become buyt/v1 Telemetry published straight to the broker,
 * as thousands of agents would send it, from one process on one libuv loop (the load
 * generator of the benchmarks).
 *
 * Per vehicle it behaves like buyt-onboard: the agent's reporting policy (1 Hz moving, 30 s
 * standing, at once on start/stop and after a card event, once on fix loss), seq +1 per record
 * from a start the caller gives (continuing the vehicle's history in the database), one
 * boot_id per run, a Health record every minute, retained DeviceStatus online/offline at
 * power on/off. While a vehicle is in a dead zone, or the broker is unreachable, its records
 * are held (bounded, oldest dropped and declared in dropped_through_seq) and sent when it is
 * back, oldest first, many records per Telemetry: a journal replay. */
#ifndef BUYT_SIM_DIRECT_H
#define BUYT_SIM_DIRECT_H

#include "fleet.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct buyt_direct_config {
    const char *url;      /* broker URL with an account allowed to write for every vehicle */
    const char *agency;   /* topic agency code */
    int connections;      /* MQTT connections the vehicles are spread over (default 1) */
    const char *fleet_key_hex; /* card id key (onboard/cardid.h), required */
    uint32_t backlog_max;      /* records held per vehicle (default 20000) */
    uint32_t replay_batch;     /* records per replay Telemetry (default 1000) */
    uint64_t boot_id;          /* 0: random */
};

struct buyt_direct_stats {
    uint64_t records;         /* records made */
    uint64_t live_messages;   /* one-record Telemetry published */
    uint64_t replay_messages; /* multi-record Telemetry published */
    uint64_t replay_records;
    uint64_t acked;           /* PUBACKs received */
    uint64_t held;            /* records that went through the backlog */
    uint64_t dropped;         /* backlog overflow */
    uint64_t rejected;        /* records the contract refused (a simulator bug) */
    uint64_t publish_failed;
    uint64_t bytes;
};

struct buyt_direct;

/** Creates the publisher for `n` vehicles with ids `ids` (copied) whose first record gets
 *  seq seq_start[i] (NULL: 1). Returns 0, BUYT_EINVAL (bad key or URL) or BUYT_ENOMEM. */
int buyt_direct_new(uv_loop_t *loop, const struct buyt_direct_config *cfg, int n,
                    const char *const *ids, const uint64_t *seq_start, struct buyt_direct **out);

/** Connects (and keeps reconnecting). */
void buyt_direct_start(struct buyt_direct *d);

/** True when every connection is up. */
bool buyt_direct_ready(const struct buyt_direct *d);

/** Publishes not yet acknowledged by the broker. */
uint64_t buyt_direct_outstanding(const struct buyt_direct *d);

/** Sink entry points (call from the fleet's sink). Records are validated against the wall
 *  clock: the caller keeps simulated time at most a few minutes ahead of it. */
void buyt_direct_epoch(struct buyt_direct *d, int vehicle, const struct buyt_fleet_epoch *e);
void buyt_direct_card(struct buyt_direct *d, int vehicle, const struct buyt_fleet_card *c);
void buyt_direct_power(struct buyt_direct *d, int vehicle, int64_t time_ms, bool on);

/** Sends what vehicles hold if they can (connectivity back, broker back). Call periodically.
 *  `all`: the run ends, every vehicle is back in coverage (dead zones lifted). */
void buyt_direct_flush(struct buyt_direct *d, bool all);

/** Records held in backlogs now. */
uint64_t buyt_direct_backlog(const struct buyt_direct *d);

void buyt_direct_stats(const struct buyt_direct *d, struct buyt_direct_stats *out);

/** Closes the connections (clean disconnect) and frees `d` when they are closed; `done` may
 *  be NULL. Call once outstanding is 0 for a lossless end. */
void buyt_direct_close(struct buyt_direct *d, void (*done)(void *arg), void *arg);

#endif
