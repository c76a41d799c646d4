/* A batch: the rows the engine accepted during one flush interval, already encoded as
 * PostgreSQL binary COPY data per table, plus each touched vehicle's seq-set snapshot (what
 * vehicle_progress will say after the batch commits, and the Ack to publish then).
 *
 * Built on the loop (no allocation per row in steady state: buffers grow and are reused),
 * serialised to a spool file (spool.h), committed by the writer thread (pgwriter.h). */
#ifndef BUYT_BATCH_H
#define BUYT_BATCH_H

#include "seqset.h"

#include <stddef.h>
#include <stdint.h>

enum buyt_batch_table {
    BUYT_TBL_FIXES,
    BUYT_TBL_CARD_TAPS,
    BUYT_TBL_DRIVER_EVENTS,
    BUYT_TBL_DOOR_EVENTS,
    BUYT_TBL_DEVICE_HEALTH,
    BUYT_TBL_DEVICE_STATUS,
    BUYT_TBL_REJECTS,
    BUYT_TBL_STOP_EVENTS,
    BUYT_TBL__COUNT
};

/* The column layout of a batch's COPY data. It changes when a table gains a column; spool
 * files (spool.h) record theirs, so batches spooled by an older engine replay after an
 * upgrade with their own column list (PostgreSQL fills the new columns with their defaults).
 *   1: before stop_events.run_start_s (sql/migrations/0006)
 *   2: stop_events with run_start_s (frequency runs) */
#define BUYT_BATCH_LAYOUT 2
#define BUYT_BATCH_LAYOUT_OLDEST 1

/** Table name and the column list its COPY data carries, in order, in `layout`. */
const char *buyt_batch_table_name(enum buyt_batch_table t);
const char *buyt_batch_table_columns(enum buyt_batch_table t, unsigned layout);

struct buyt_buf {
    uint8_t *p;
    size_t len, cap;
};

/* A vehicle's seq set at seal time: becomes its vehicle_progress row and its Ack. */
struct buyt_batch_progress {
    int32_t vehicle;    /* vehicles.id */
    struct buyt_seqset seqs;
};

struct buyt_batch {
    uint64_t id;                           /* unique across engine restarts */
    struct buyt_buf copy[BUYT_TBL__COUNT]; /* binary COPY tuples (no header/trailer) */
    uint32_t rows[BUYT_TBL__COUNT];
    uint32_t records;                      /* accepted records (incl. ones with no row) */
    struct buyt_batch_progress *progress;
    uint32_t n_progress, cap_progress;
    int32_t days[16];                      /* UTC days (since 1970) of the fixes, distinct */
    uint32_t n_days;
    int64_t opened_ms;                     /* engine clock when the first record came in */
    unsigned layout;                       /* BUYT_BATCH_LAYOUT, or an old spool file's */
};

void buyt_batch_init(struct buyt_batch *b);
void buyt_batch_close(struct buyt_batch *b);
/** Empties the batch for reuse, keeping its buffers. */
void buyt_batch_reset(struct buyt_batch *b);
/** Total rows over all tables. */
uint32_t buyt_batch_rows(const struct buyt_batch *b);
/** True when nothing would be committed (no rows and no progress). */
int buyt_batch_empty(const struct buyt_batch *b);

/* Row appenders. Times are Unix ms UTC. A field passed as BUYT_BATCH_NULL_I32 (or a NULL
 * pointer for text/bytes) is stored as SQL NULL. Return 0 or BUYT_ENOMEM. */
#define BUYT_BATCH_NULL_I32 INT32_MIN
int buyt_batch_add_fix(struct buyt_batch *b, int64_t time_ms, int32_t vehicle, int32_t lat_e7,
                       int32_t lon_e7, int16_t speed_cms, int16_t course_ddeg);
int buyt_batch_add_card_tap(struct buyt_batch *b, int64_t time_ms, int32_t vehicle, int64_t seq,
                            int16_t role, int32_t lat_e7, int32_t lon_e7, const uint8_t *card_id,
                            size_t card_len);
int buyt_batch_add_driver_event(struct buyt_batch *b, int64_t time_ms, int32_t vehicle,
                                int64_t seq, int16_t kind, int32_t lat_e7, int32_t lon_e7,
                                const char *driver_id, const uint8_t *card_id, size_t card_len,
                                const char *route_id, const char *trip_id, const char *run_id);
int buyt_batch_add_door_event(struct buyt_batch *b, int64_t time_ms, int32_t vehicle, int64_t seq,
                              int16_t door, int open, int32_t lat_e7, int32_t lon_e7);
struct buyt_batch_health {
    int64_t time_ms, seq;
    int32_t vehicle, uptime_s, oldest_unacked_age_s;
    int64_t journal_records, journal_bytes, nmea_rejected, rfid_rejected, serial_errors,
        journal_dropped, journal_torn;
    int16_t gps_state, satellites;
    const char *version;
};
int buyt_batch_add_health(struct buyt_batch *b, const struct buyt_batch_health *h);
int buyt_batch_add_status(struct buyt_batch *b, int64_t time_ms, int32_t vehicle, int16_t state,
                          int64_t boot_id, const char *version);
/** seq < 0: unknown (NULL). vehicle_id may be NULL. */
int buyt_batch_add_reject(struct buyt_batch *b, int64_t received_ms, const char *topic,
                          const char *reason, const char *vehicle_id, int64_t seq,
                          const void *payload, size_t len);
struct buyt_batch_stop_event {
    int32_t service_day;   /* days since 1970 (the GTFS service date) */
    const char *trip_id, *stop_id, *route_id;
    int32_t stop_sequence, vehicle;
    int64_t arrival_ms, departure_ms, scheduled_arrival_ms; /* < 0: NULL */
    int passed;
    int32_t run_start_s; /* the trip's network.h run_start_s (-1: not a frequency run) */
};
int buyt_batch_add_stop_event(struct buyt_batch *b, const struct buyt_batch_stop_event *e);

/** Records (or updates) a vehicle's seq-set snapshot. Returns 0 or BUYT_ENOMEM. */
int buyt_batch_set_progress(struct buyt_batch *b, int32_t vehicle, const struct buyt_seqset *s);

/** Appends a snapshot for a vehicle the caller knows is not in the batch yet (no search: sealing
 *  a batch touched by thousands of vehicles stays linear). Returns 0 or BUYT_ENOMEM. */
int buyt_batch_add_progress(struct buyt_batch *b, int32_t vehicle, const struct buyt_seqset *s);

/** Binary COPY stream framing (PostgreSQL "COPY ... (FORMAT binary)" file format). */
extern const uint8_t buyt_copy_header[19];
extern const uint8_t buyt_copy_trailer[2];

/** Encodes the progress snapshots as COPY rows (vehicle int4, stored_through_seq int8,
 *  stored_ranges int8[]) into `out` (reset first). Returns 0 or BUYT_ENOMEM. */
int buyt_batch_progress_copy(const struct buyt_batch *b, struct buyt_buf *out);

/* Growable buffer helpers, shared with the spool. */
int buyt_buf_reserve(struct buyt_buf *b, size_t extra);
int buyt_buf_put(struct buyt_buf *b, const void *p, size_t n);
void buyt_buf_free(struct buyt_buf *b);

#endif
