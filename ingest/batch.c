/* Batch building: PostgreSQL binary COPY encoding (see "COPY" in the PostgreSQL manual, File
 * Formats: Binary Format). All integers big-endian; timestamptz = int64 microseconds since
 * 2000-01-01 00:00 UTC; a field is int32 length (-1 = NULL) + bytes. */
#include "batch.h"

#include "error.h"

#include <stdlib.h>
#include <string.h>

const uint8_t buyt_copy_header[19] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0,
                                      0,   0,   0,   0,   0,   0,   0,    0};
const uint8_t buyt_copy_trailer[2] = {0xff, 0xff};

#define PG_EPOCH_MS 946684800000LL /* 2000-01-01 in Unix ms */

static const struct {
    const char *name, *columns;
} tables[BUYT_TBL__COUNT] = {
    [BUYT_TBL_FIXES] = {"fixes", "time, vehicle, lat_e7, lon_e7, speed_cms, course_ddeg"},
    [BUYT_TBL_CARD_TAPS] = {"card_taps", "time, vehicle, seq, role, lat_e7, lon_e7, card_id"},
    [BUYT_TBL_DRIVER_EVENTS] = {"driver_events", "time, vehicle, seq, kind, lat_e7, lon_e7, "
                                                 "driver_id, card_id, route_id, trip_id, run_id"},
    [BUYT_TBL_DOOR_EVENTS] = {"door_events", "time, vehicle, seq, door, open, lat_e7, lon_e7"},
    [BUYT_TBL_DEVICE_HEALTH] = {"device_health",
                                "time, vehicle, seq, uptime_s, journal_records, journal_bytes, "
                                "oldest_unacked_age_s, gps_state, satellites, nmea_rejected, "
                                "rfid_rejected, serial_errors, journal_dropped, journal_torn, "
                                "version"},
    [BUYT_TBL_DEVICE_STATUS] = {"device_status", "time, vehicle, state, boot_id, version"},
    [BUYT_TBL_REJECTS] = {"rejects", "received_at, topic, reason, vehicle_id, seq, payload"},
    [BUYT_TBL_STOP_EVENTS] = {"stop_events",
                              "service_date, trip_id, stop_sequence, stop_id, route_id, vehicle, "
                              "arrival, departure, passed, scheduled_arrival, run_start_s"},
};

const char *buyt_batch_table_name(enum buyt_batch_table t) { return tables[t].name; }
const char *buyt_batch_table_columns(enum buyt_batch_table t, unsigned layout)
{
    if (layout < 2 && t == BUYT_TBL_STOP_EVENTS)
        return "service_date, trip_id, stop_sequence, stop_id, route_id, vehicle, arrival, "
               "departure, passed, scheduled_arrival";
    return tables[t].columns;
}

/* ------------------------------------------------------------------ buffers */

int buyt_buf_reserve(struct buyt_buf *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return BUYT_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int buyt_buf_put(struct buyt_buf *b, const void *p, size_t n)
{
    if (buyt_buf_reserve(b, n))
        return BUYT_ENOMEM;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

void buyt_buf_free(struct buyt_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Field writers: callers reserve enough space first (row_begin), so these cannot fail. */
static void put_be(struct buyt_buf *b, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        b->p[b->len++] = (uint8_t)(v >> (8 * i));
}
static void f_i16(struct buyt_buf *b, int16_t v)
{
    put_be(b, 2, 4);
    put_be(b, (uint16_t)v, 2);
}
static void f_i32(struct buyt_buf *b, int32_t v)
{
    if (v == BUYT_BATCH_NULL_I32) {
        put_be(b, 0xffffffffu, 4);
        return;
    }
    put_be(b, 4, 4);
    put_be(b, (uint32_t)v, 4);
}
static void f_i64(struct buyt_buf *b, int64_t v)
{
    put_be(b, 8, 4);
    put_be(b, (uint64_t)v, 8);
}
static void f_bool(struct buyt_buf *b, int v)
{
    put_be(b, 1, 4);
    b->p[b->len++] = v ? 1 : 0;
}
static void f_time(struct buyt_buf *b, int64_t unix_ms)
{
    if (unix_ms < 0) {
        put_be(b, 0xffffffffu, 4);
        return;
    }
    f_i64(b, (unix_ms - PG_EPOCH_MS) * 1000);
}
static void f_date(struct buyt_buf *b, int32_t unix_day)
{
    put_be(b, 4, 4);
    put_be(b, (uint32_t)(unix_day - 10957), 4); /* days since 2000-01-01 */
}
static void f_bytes(struct buyt_buf *b, const void *p, size_t n)
{
    if (!p) {
        put_be(b, 0xffffffffu, 4);
        return;
    }
    put_be(b, (uint32_t)n, 4);
    memcpy(b->p + b->len, p, n);
    b->len += n;
}
static void f_text(struct buyt_buf *b, const char *s) { f_bytes(b, s, s ? strlen(s) : 0); }
static size_t tlen(const char *s) { return s ? strlen(s) : 0; }

/* Reserves room for a row of `fields` fields with `payload` bytes of data, writes the count. */
static int row_begin(struct buyt_batch *b, enum buyt_batch_table t, int fields, size_t payload)
{
    struct buyt_buf *buf = &b->copy[t];
    if (buyt_buf_reserve(buf, 2 + (size_t)fields * 4 + payload))
        return BUYT_ENOMEM;
    put_be(buf, (uint16_t)fields, 2);
    b->rows[t]++;
    return 0;
}

static void note_day(struct buyt_batch *b, int64_t time_ms)
{
    int32_t day = (int32_t)(time_ms >= 0 ? time_ms / 86400000 : (time_ms - 86399999) / 86400000);
    for (uint32_t i = 0; i < b->n_days; i++)
        if (b->days[i] == day)
            return;
    if (b->n_days < sizeof b->days / sizeof b->days[0])
        b->days[b->n_days++] = day;
}

/* ------------------------------------------------------------------ rows */

int buyt_batch_add_fix(struct buyt_batch *b, int64_t time_ms, int32_t vehicle, int32_t lat_e7,
                       int32_t lon_e7, int16_t speed_cms, int16_t course_ddeg)
{
    if (row_begin(b, BUYT_TBL_FIXES, 6, 8 + 4 * 3 + 2 * 2))
        return BUYT_ENOMEM;
    struct buyt_buf *o = &b->copy[BUYT_TBL_FIXES];
    f_time(o, time_ms);
    f_i32(o, vehicle);
    f_i32(o, lat_e7);
    f_i32(o, lon_e7);
    f_i16(o, speed_cms);
    f_i16(o, course_ddeg);
    note_day(b, time_ms);
    return 0;
}

int buyt_batch_add_card_tap(struct buyt_batch *b, int64_t time_ms, int32_t vehicle, int64_t seq,
                            int16_t role, int32_t lat_e7, int32_t lon_e7, const uint8_t *card_id,
                            size_t card_len)
{
    if (row_begin(b, BUYT_TBL_CARD_TAPS, 7, 8 + 4 + 8 + 2 + 8 + card_len))
        return BUYT_ENOMEM;
    struct buyt_buf *o = &b->copy[BUYT_TBL_CARD_TAPS];
    f_time(o, time_ms);
    f_i32(o, vehicle);
    f_i64(o, seq);
    f_i16(o, role);
    f_i32(o, lat_e7);
    f_i32(o, lon_e7);
    f_bytes(o, card_id, card_len);
    return 0;
}

int buyt_batch_add_driver_event(struct buyt_batch *b, int64_t time_ms, int32_t vehicle,
                                int64_t seq, int16_t kind, int32_t lat_e7, int32_t lon_e7,
                                const char *driver_id, const uint8_t *card_id, size_t card_len,
                                const char *route_id, const char *trip_id, const char *run_id)
{
    size_t n = 8 + 4 + 8 + 2 + 8 + tlen(driver_id) + card_len + tlen(route_id) + tlen(trip_id) +
               tlen(run_id);
    if (row_begin(b, BUYT_TBL_DRIVER_EVENTS, 11, n))
        return BUYT_ENOMEM;
    struct buyt_buf *o = &b->copy[BUYT_TBL_DRIVER_EVENTS];
    f_time(o, time_ms);
    f_i32(o, vehicle);
    f_i64(o, seq);
    f_i16(o, kind);
    f_i32(o, lat_e7);
    f_i32(o, lon_e7);
    f_text(o, driver_id ? driver_id : "");
    f_bytes(o, card_len ? card_id : NULL, card_len);
    f_text(o, route_id ? route_id : "");
    f_text(o, trip_id ? trip_id : "");
    f_text(o, run_id ? run_id : "");
    return 0;
}

int buyt_batch_add_door_event(struct buyt_batch *b, int64_t time_ms, int32_t vehicle, int64_t seq,
                              int16_t door, int open, int32_t lat_e7, int32_t lon_e7)
{
    if (row_begin(b, BUYT_TBL_DOOR_EVENTS, 7, 8 + 4 + 8 + 2 + 1 + 8))
        return BUYT_ENOMEM;
    struct buyt_buf *o = &b->copy[BUYT_TBL_DOOR_EVENTS];
    f_time(o, time_ms);
    f_i32(o, vehicle);
    f_i64(o, seq);
    f_i16(o, door);
    f_bool(o, open);
    f_i32(o, lat_e7);
    f_i32(o, lon_e7);
    return 0;
}

int buyt_batch_add_health(struct buyt_batch *b, const struct buyt_batch_health *h)
{
    if (row_begin(b, BUYT_TBL_DEVICE_HEALTH, 15, 8 * 9 + 4 * 3 + 2 * 2 + tlen(h->version)))
        return BUYT_ENOMEM;
    struct buyt_buf *o = &b->copy[BUYT_TBL_DEVICE_HEALTH];
    f_time(o, h->time_ms);
    f_i32(o, h->vehicle);
    f_i64(o, h->seq);
    f_i32(o, h->uptime_s);
    f_i64(o, h->journal_records);
    f_i64(o, h->journal_bytes);
    f_i32(o, h->oldest_unacked_age_s);
    f_i16(o, h->gps_state);
    f_i16(o, h->satellites);
    f_i64(o, h->nmea_rejected);
    f_i64(o, h->rfid_rejected);
    f_i64(o, h->serial_errors);
    f_i64(o, h->journal_dropped);
    f_i64(o, h->journal_torn);
    f_text(o, h->version ? h->version : "");
    return 0;
}

int buyt_batch_add_status(struct buyt_batch *b, int64_t time_ms, int32_t vehicle, int16_t state,
                          int64_t boot_id, const char *version)
{
    if (row_begin(b, BUYT_TBL_DEVICE_STATUS, 5, 8 + 4 + 2 + 8 + tlen(version)))
        return BUYT_ENOMEM;
    struct buyt_buf *o = &b->copy[BUYT_TBL_DEVICE_STATUS];
    f_time(o, time_ms);
    f_i32(o, vehicle);
    f_i16(o, state);
    f_i64(o, boot_id);
    f_text(o, version ? version : "");
    return 0;
}

int buyt_batch_add_reject(struct buyt_batch *b, int64_t received_ms, const char *topic,
                          const char *reason, const char *vehicle_id, int64_t seq,
                          const void *payload, size_t len)
{
    size_t n = 8 + tlen(topic) + tlen(reason) + tlen(vehicle_id) + 8 + len;
    if (row_begin(b, BUYT_TBL_REJECTS, 6, n))
        return BUYT_ENOMEM;
    struct buyt_buf *o = &b->copy[BUYT_TBL_REJECTS];
    f_time(o, received_ms);
    f_text(o, topic ? topic : "");
    f_text(o, reason);
    f_text(o, vehicle_id);
    if (seq < 0)
        put_be(o, 0xffffffffu, 4);
    else
        f_i64(o, seq);
    f_bytes(o, payload ? payload : "", len);
    return 0;
}

int buyt_batch_add_stop_event(struct buyt_batch *b, const struct buyt_batch_stop_event *e)
{
    size_t n = 4 + tlen(e->trip_id) + 4 + tlen(e->stop_id) + tlen(e->route_id) + 4 + 8 * 3 + 1 +
               4;
    if (row_begin(b, BUYT_TBL_STOP_EVENTS, 11, n))
        return BUYT_ENOMEM;
    struct buyt_buf *o = &b->copy[BUYT_TBL_STOP_EVENTS];
    f_date(o, e->service_day);
    f_text(o, e->trip_id);
    f_i32(o, e->stop_sequence);
    f_text(o, e->stop_id);
    f_text(o, e->route_id);
    f_i32(o, e->vehicle);
    f_time(o, e->arrival_ms);
    f_time(o, e->departure_ms);
    f_bool(o, e->passed);
    f_time(o, e->scheduled_arrival_ms);
    f_i32(o, e->run_start_s);
    return 0;
}

/* ------------------------------------------------------------------ progress */

int buyt_batch_set_progress(struct buyt_batch *b, int32_t vehicle, const struct buyt_seqset *s)
{
    for (uint32_t i = 0; i < b->n_progress; i++) {
        if (b->progress[i].vehicle == vehicle) {
            b->progress[i].seqs = *s;
            return 0;
        }
    }
    return buyt_batch_add_progress(b, vehicle, s);
}

int buyt_batch_add_progress(struct buyt_batch *b, int32_t vehicle, const struct buyt_seqset *s)
{
    if (b->n_progress == b->cap_progress) {
        uint32_t cap = b->cap_progress ? b->cap_progress * 2 : 64;
        void *p = realloc(b->progress, cap * sizeof *b->progress);
        if (!p)
            return BUYT_ENOMEM;
        b->progress = p;
        b->cap_progress = cap;
    }
    b->progress[b->n_progress].vehicle = vehicle;
    b->progress[b->n_progress].seqs = *s;
    b->n_progress++;
    return 0;
}

int buyt_batch_progress_copy(const struct buyt_batch *b, struct buyt_buf *out)
{
    out->len = 0;
    for (uint32_t i = 0; i < b->n_progress; i++) {
        const struct buyt_seqset *s = &b->progress[i].seqs;
        uint32_t nelem = 2u * s->n;
        size_t arr = 12 + (nelem ? 8 : 0) + nelem * 12u;
        if (buyt_buf_reserve(out, 2 + 4 + 4 + 4 + 8 + 4 + arr))
            return BUYT_ENOMEM;
        put_be(out, 3, 2);
        f_i32(out, b->progress[i].vehicle);
        f_i64(out, (int64_t)s->base);
        /* int8[] in binary: ndim, has-null flag, element type oid (20 = int8), then per
         * dimension (size, lower bound), then each element as length + value. */
        put_be(out, arr, 4);
        put_be(out, nelem ? 1 : 0, 4);
        put_be(out, 0, 4);
        put_be(out, 20, 4);
        if (nelem) {
            put_be(out, nelem, 4);
            put_be(out, 1, 4);
        }
        for (unsigned k = 0; k < s->n; k++) {
            put_be(out, 8, 4);
            put_be(out, s->r[k].lo, 8);
            put_be(out, 8, 4);
            put_be(out, s->r[k].hi, 8);
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ lifecycle */

void buyt_batch_init(struct buyt_batch *b)
{
    memset(b, 0, sizeof *b);
    b->layout = BUYT_BATCH_LAYOUT;
}

void buyt_batch_reset(struct buyt_batch *b)
{
    for (int t = 0; t < BUYT_TBL__COUNT; t++) {
        b->copy[t].len = 0;
        b->rows[t] = 0;
    }
    b->records = 0;
    b->n_progress = 0;
    b->n_days = 0;
    b->opened_ms = 0;
    b->id = 0;
    b->layout = BUYT_BATCH_LAYOUT;
}

void buyt_batch_close(struct buyt_batch *b)
{
    for (int t = 0; t < BUYT_TBL__COUNT; t++)
        buyt_buf_free(&b->copy[t]);
    free(b->progress);
    memset(b, 0, sizeof *b);
}

uint32_t buyt_batch_rows(const struct buyt_batch *b)
{
    uint32_t n = 0;
    for (int t = 0; t < BUYT_TBL__COUNT; t++)
        n += b->rows[t];
    return n;
}

int buyt_batch_empty(const struct buyt_batch *b)
{
    return buyt_batch_rows(b) == 0 && b->n_progress == 0;
}
