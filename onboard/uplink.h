/* Store-and-forward uplink: journal -> Telemetry messages -> MQTT, following the agent loop
 * documented in journal.h.
 *
 *   - live:   after each append (and each journal sync) the newest unsent durable records
 *             made since the last connect go out at once, as one Telemetry;
 *   - drain:  the backlog (never sent, or unacknowledged for resend_after_ms) goes oldest first,
 *             in batches of at most batch_max_records / batch_max_bytes, with at most
 *             BUYT_UPLINK_DRAIN_WINDOW batch messages awaiting their PUBACK, so live records
 *             are never queued behind a long replay; runs after a live publish, on every
 *             PUBACK, and from a 1 s timer (resends);
 *   - sync:   under the INTERVAL fsync policy a timer fsyncs the journal after an append at
 *             once, or half an interval after its previous sync (a lone 1 Hz record is synced
 *             at once; a burst costs at most two fsyncs per interval), then publishes what
 *             became durable (a record is never published before it is durable: journal.h);
 *   - acks:   the engine's Ack trims the journal;
 *   - every Telemetry carries the journal's dropped_through_seq.
 * Messages in flight are bounded (BUYT_UPLINK_MAX_INFLIGHT): a live record refused for that
 * reason is counted and left to the drain. Nothing is lost by refusing: the journal keeps it. */
#ifndef BUYT_UPLINK_H
#define BUYT_UPLINK_H

#include "journal.h"
#include "mqtt.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define BUYT_UPLINK_MAX_INFLIGHT 16u /* Telemetry messages awaiting PUBACK */
#define BUYT_UPLINK_DRAIN_WINDOW 4u  /* the drain sends only while fewer are in flight */

struct buyt_uplink_config {
    const char *vehicle_id; /* borrowed for the uplink's life */
    uint64_t boot_id;
    const char *topic; /* telemetry topic, borrowed */
    uint32_t batch_max_records;
    uint32_t batch_max_bytes;
    uint32_t fsync_interval_ms; /* 0 unless the journal's policy is INTERVAL */
};

struct buyt_uplink_stats {
    uint64_t messages;       /* Telemetry messages handed to the broker client */
    uint64_t records;        /* records in them (resends included) */
    uint64_t live_messages;  /* of which from the live path */
    uint64_t publish_failed; /* refused by the client (disconnected): left in the journal */
    uint64_t deferred;       /* live publishes deferred because too many were in flight */
    uint64_t read_errors;    /* journal read errors (logged) */
    uint64_t acks;           /* Acks applied */
    uint32_t inflight;       /* Telemetry messages awaiting PUBACK now */
};

struct buyt_uplink;

/** Creates an uplink over `j` (borrowed; must outlive the uplink). Allocates its batch buffers
 *  once (about 2 x batch_max_bytes). Returns 0, BUYT_EINVAL or BUYT_ENOMEM. */
int buyt_uplink_new(uv_loop_t *loop, struct buyt_journal *j, const struct buyt_uplink_config *cfg,
                    struct buyt_uplink **out);

/** Sets the broker client (borrowed) used to publish. Call before the first connect. */
void buyt_uplink_set_mqtt(struct buyt_uplink *u, struct buyt_mqtt *m);

/** Call after every successful buyt_journal_append(): publishes what is durable now and arms
 *  the sync timer for the rest. */
void buyt_uplink_appended(struct buyt_uplink *u);

/** Call from the client's on_connect: forgets what was in flight on the lost connection
 *  (buyt_journal_rewind) and starts draining. */
void buyt_uplink_connected(struct buyt_uplink *u);

/** Call from the client's on_publish (any mid: ours are recognised). */
void buyt_uplink_puback(struct buyt_uplink *u, int mid);

/** Applies the engine's Ack (buyt_journal_ack; errors are logged). Returns its result. */
int buyt_uplink_ack(struct buyt_uplink *u, uint64_t stored_through_seq);

/** Counters. */
void buyt_uplink_stats(const struct buyt_uplink *u, struct buyt_uplink_stats *out);

/** Stops publishing for good (shutdown): timers stop, nothing more is sent. The journal is
 *  synced by the caller. Then closes the handles and frees `u`; `done` (may be NULL) runs once
 *  they are closed. */
void buyt_uplink_close(struct buyt_uplink *u, void (*done)(void *arg), void *arg);

#endif
