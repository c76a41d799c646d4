/* Store-and-forward journal of the onboard agent: every Record is appended here before it is
 * published, and leaves only when the engine acknowledges it (Ack.stored_through_seq, see
 * "End-to-end acknowledgement" in ARCHITECTURE.md). Assigns the device's lifetime `seq`,
 * survives power cuts (torn/corrupt tails are cut and counted), keeps the disk bounded (oldest
 * records dropped and counted when full) and tracks what was sent when, for replay and resend.
 * On-disk format, fsync policies and loss windows: docs/JOURNAL.md.
 *
 * Threading: single-threaded, called from the agent's loop. Appends, reads and acks do small
 * blocking file I/O (a write, a pread); fsync happens only in buyt_journal_sync(), in append
 * under the ALWAYS/INTERVAL policies, at open, at a segment rollover and when segments are
 * deleted (see each call). No call allocates per record; none calls back.
 *
 * Intended agent loop (libuv; `now` = uv_now(), a monotonic ms clock):
 *
 *   on record:   encode Record{seq = buyt_journal_next_seq(j), ...};
 *                buyt_journal_append(j, time_ms, buf, len, &seq);   // then maybe publish_live()
 *   sync timer:  every fsync_interval_ms while buyt_journal_dirty_since_ms(j) != 0:
 *                buyt_journal_sync(j); publish_live();              // INTERVAL policy only
 *   publish_live: if connected: buyt_journal_read_live(j, &b) -> Telemetry of b.n records ->
 *                publish -> buyt_journal_mark_sent(j, first, last, now)
 *   drain:       while connected and the MQTT queue has room (e.g. < 4 messages in flight):
 *                buyt_journal_read_due(j, now, &b); if b.n == 0 break; publish; mark_sent.
 *                Run after publish_live, on PUBACK, and from a 1 s timer (catches resends).
 *   on connect:  buyt_journal_rewind(j); drain.  on Ack: buyt_journal_ack(j, stored_through_seq)
 *   every min:   buyt_journal_stats(j, &st) -> Health.journal_*.   on SIGTERM: buyt_journal_close.
 *
 * The live path sends the newest records at once; the drain path sends the backlog oldest
 * first, in bounded batches, skipping records sent recently (live ones included) and re-sending
 * those unacknowledged for resend_after_ms. So a long replay never delays live data. */
#ifndef BUYT_JOURNAL_H
#define BUYT_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

/** Largest payload accepted by buyt_journal_append(), bytes. */
#define BUYT_JOURNAL_MAX_PAYLOAD 65536u
/** Bytes added on disk per record (header: magic, length, seq, time_ms, CRC-32C). */
#define BUYT_JOURNAL_RECORD_OVERHEAD 28u

/** When the journal calls fdatasync(). Loss windows on a power cut: docs/JOURNAL.md. */
enum buyt_journal_fsync {
    BUYT_JOURNAL_FSYNC_ALWAYS,   /* every append; nothing acknowledged by append() is lost */
    BUYT_JOURNAL_FSYNC_INTERVAL, /* at most fsync_interval_ms after an append (default) */
    BUYT_JOURNAL_FSYNC_NEVER,    /* only on an explicit buyt_journal_sync(): OS writeback */
};

struct buyt_journal_config {
    const char *dir;        /* journal directory, created if missing (copied by open) */
    uint64_t max_bytes;     /* bound on the segment files, bytes (>= 2 segments) */
    uint32_t segment_bytes; /* roll over to a new segment file past this size */
    enum buyt_journal_fsync fsync;
    uint32_t fsync_interval_ms; /* INTERVAL policy: the loss window */
    uint32_t resend_after_ms;   /* a sent, unacknowledged record is due again after this */
};

/** A record read from the journal. `payload` points into the caller's batch buffer. */
struct buyt_journal_rec {
    uint64_t seq;
    uint64_t time_ms;
    const uint8_t *payload;
    uint32_t len;
};

/** A read request and its result. The caller owns both arrays; the journal fills them. */
struct buyt_journal_batch {
    struct buyt_journal_rec *recs; /* in: room for max_recs records */
    size_t max_recs;               /* in: bound on the record count, >= 1 */
    uint8_t *buf;                  /* in: payloads are copied here */
    size_t buf_len;                /* in: bound on the sum of payload lengths; pass at least
                                    * BUYT_JOURNAL_MAX_PAYLOAD to be sure any record fits */
    size_t n;                      /* out: records returned, in increasing seq */
    size_t bytes;                  /* out: sum of their payload lengths (<= buf_len) */
};

struct buyt_journal_stats {
    uint64_t records;             /* unacknowledged records on disk */
    uint64_t bytes;               /* size of the segment files (headers, acked prefix incl.) */
    uint32_t segments;            /* segment files */
    uint64_t oldest_seq;          /* oldest unacknowledged record, 0 if none */
    uint64_t oldest_time_ms;      /* its time_ms (Health.oldest_unacked_age_s), 0 if none */
    uint64_t last_seq;            /* last seq ever assigned on this device, 0 if none yet */
    uint64_t durable_seq;         /* highest seq readable for publishing (see read_live) */
    uint64_t acked_seq;           /* highest stored_through_seq applied */
    uint64_t dropped;             /* records dropped because the journal was full, lifetime */
    uint64_t dropped_through_seq; /* highest seq ever dropped, 0 if none */
    uint64_t torn;                /* torn/corrupt records cut at recovery, lifetime */
    uint64_t acks_clamped;        /* acks beyond last_seq, since open */
};

struct buyt_journal;

/** Fills `cfg` with the defaults for `dir` (borrowed; buyt_journal_open() copies it): 64 MiB
 *  max, 1 MiB segments, INTERVAL fsync every 1000 ms, resend after 30 s. */
void buyt_journal_config_init(struct buyt_journal_config *cfg, const char *dir);

/** Opens (creating if needed) the journal in cfg->dir and recovers it: cuts a torn or corrupt
 *  record and everything after it in its segment (counted in `torn`), deletes acknowledged and
 *  empty segments, drops the oldest records if over max_bytes (counted). Locks the directory
 *  (flock) against a second opener. Blocks on file I/O and one fsync. On success *out owns a
 *  new journal, to be closed with buyt_journal_close().
 *  Returns 0, BUYT_EINVAL (bad config: segment_bytes < 128 KiB or > 1 GiB, max_bytes <
 *  2 * segment_bytes, INTERVAL with interval 0), -EWOULDBLOCK (opened elsewhere), BUYT_ENOMEM,
 *  or a negative errno from the file system (-EACCES, -ENOSPC, -EIO...). */
int buyt_journal_open(const struct buyt_journal_config *cfg, struct buyt_journal **out);

/** Syncs (unless the policy is NEVER), saves the state file, closes and frees `j`. Returns 0 or
 *  the first error met (the journal is freed in every case). NULL is a no-op returning 0. */
int buyt_journal_close(struct buyt_journal *j);

/** The seq the next buyt_journal_append() will assign (last_seq + 1), so the agent can encode
 *  it into the Record before appending it. */
uint64_t buyt_journal_next_seq(const struct buyt_journal *j);

/** Appends one record (payload borrowed: copied to the file before return) and assigns it the
 *  next seq, stored in *seq_out (may be NULL). Rolls over to a new segment past
 *  segment_bytes; when the journal would exceed max_bytes, first deletes the oldest whole
 *  segments, counting their unacknowledged records in `dropped` — the only loss the journal
 *  ever makes. Under ALWAYS it fdatasyncs before returning; under INTERVAL it does when the
 *  oldest unsynced append is older than fsync_interval_ms.
 *  Returns 0, BUYT_ERANGE (len > BUYT_JOURNAL_MAX_PAYLOAD), BUYT_EINVAL (payload NULL with
 *  len > 0), or a negative errno (-ENOSPC when even an empty journal has no room, -EIO). On
 *  error nothing was appended and no seq was used. */
int buyt_journal_append(struct buyt_journal *j, uint64_t time_ms, const void *payload, size_t len,
                        uint64_t *seq_out);

/** Applies the engine's Ack: every record with seq <= stored_through_seq is acknowledged, and
 *  segments holding only acknowledged records are deleted (the state file is then saved and
 *  fsynced first, so the seq high-water mark survives). Otherwise the new ack reaches the state
 *  file lazily (next deletion, close): after a crash, records acknowledged since are re-sent
 *  until the engine's retained Ack arrives — duplicates, never loss. An ack at or below the
 *  current one is ignored (acks never move back).
 *  An ack beyond the last seq ever assigned means the engine holds seqs this device forgot
 *  (journal wiped, or cut after publishing): everything is trimmed, and the seq counter moves
 *  to the ack (persisted) so new records are not discarded by the engine as duplicates; an ack
 *  more than 2^40 ahead is ignored. Both count in acks_clamped and return BUYT_ERANGE (log it).
 *  Otherwise returns 0, or a negative errno if the state could not be saved. */
int buyt_journal_ack(struct buyt_journal *j, uint64_t stored_through_seq);

/** Reads the newest records not sent yet (never marked sent since open or the last rewind),
 *  for immediate publishing: the tail of the trailing run of unsent records, bounded by
 *  b->max_recs and b->buf_len, in increasing seq. Records past durable_seq (appended but not
 *  fsynced yet under ALWAYS/INTERVAL) are not returned, so a record is never published before
 *  it is durable, and a seq cut by a power cut was never seen by the engine. b->n = 0 when
 *  there is nothing. Returns 0, BUYT_ERANGE (the next record does not fit an empty batch),
 *  BUYT_ECORRUPT (a record failed its CRC: the medium is failing; reopen to cut it), or a
 *  negative errno. Does not mark anything sent. */
int buyt_journal_read_live(struct buyt_journal *j, struct buyt_journal_batch *b);

/** Reads the oldest records that are due: never sent, or last marked sent at or before
 *  now_ms - resend_after_ms, and not yet acknowledged, up to durable_seq. Returns one run of
 *  consecutive due records, bounded by b->max_recs and b->buf_len, oldest first (call again
 *  for the next run). `now_ms` is the monotonic clock given to buyt_journal_mark_sent().
 *  Returns as buyt_journal_read_live(). Does not mark anything sent. */
int buyt_journal_read_due(struct buyt_journal *j, int64_t now_ms, struct buyt_journal_batch *b);

/** Records that seqs first_seq..last_seq (inclusive) were handed to the broker at now_ms
 *  (monotonic ms). Parts already acknowledged or never assigned are ignored. Sent marks live
 *  in memory only (after a restart every unacknowledged record is due); they are kept as at
 *  most 256 ranges, and when more are needed the closest ones merge, which can only delay a
 *  resend, never skip one. Returns 0 or BUYT_EINVAL (first_seq > last_seq). */
int buyt_journal_mark_sent(struct buyt_journal *j, uint64_t first_seq, uint64_t last_seq,
                           int64_t now_ms);

/** Forgets every sent mark: all unacknowledged records are due at once. Call on (re)connect,
 *  since what was in flight on a lost connection may never have reached the broker. */
void buyt_journal_rewind(struct buyt_journal *j);

/** Makes every appended record durable (fdatasync of the segments written since the last
 *  sync, fsync of the directory after a new segment; also under the NEVER policy, for a clean
 *  shutdown). Blocks for the fsync: the agent calls it from a timer (INTERVAL) —
 *  buyt_journal_dirty_since_ms() says whether and since when it is needed. Returns 0 or a
 *  negative errno (-EIO: the data may be lost; the records stay unpublishable). */
int buyt_journal_sync(struct buyt_journal *j);

/** Monotonic ms (CLOCK_MONOTONIC, the clock of uv_now()) of the oldest append not yet
 *  fsynced, or 0 when everything appended is durable or the policy is NEVER. */
int64_t buyt_journal_dirty_since_ms(const struct buyt_journal *j);

/** Fills *out with the journal's counters. May read one record header from disk (for
 *  oldest_time_ms, cached per oldest seq). Returns 0 or a negative errno (then oldest_time_ms
 *  is 0 and the rest valid). */
int buyt_journal_stats(struct buyt_journal *j, struct buyt_journal_stats *out);

#endif
