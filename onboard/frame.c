/* Record encoding and Telemetry framing; see frame.h. Protobuf wire format:
 * https://protobuf.dev/programming-guides/encoding/ (tags are field_number << 3 | wire_type). */
#include "frame.h"

#include "error.h"

#include <string.h>

enum {
    TAG_VEHICLE_ID = (1 << 3) | 2, /* string */
    TAG_BOOT_ID = (2 << 3) | 0,    /* varint */
    TAG_RECORDS = (3 << 3) | 2,    /* repeated message */
    TAG_DROPPED = (4 << 3) | 0,    /* varint */
    VARINT_MAX = 10,
};

enum buyt_reject buyt_frame_record(const Buyt__V1__Record *r, uint8_t *buf, size_t cap, size_t *len)
{
    enum buyt_reject why = buyt_contract_check_record(r, (int64_t)r->time_ms);
    if (why != BUYT_REJECT_NONE)
        return why;
    size_t need = buyt__v1__record__get_packed_size(r);
    if (need > cap || need > BUYT_JOURNAL_MAX_PAYLOAD)
        return BUYT_REJECT_OVERSIZE;
    *len = buyt__v1__record__pack(r, buf);
    return BUYT_REJECT_NONE;
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

size_t buyt_frame_bound(size_t vehicle_id_len, size_t n, size_t record_bytes)
{
    return (1 + VARINT_MAX + vehicle_id_len) + 2 * (1 + VARINT_MAX) + n * (1 + 5) + record_bytes;
}

int buyt_frame_telemetry(const char *vehicle_id, uint64_t boot_id, uint64_t dropped_through_seq,
                         const struct buyt_journal_rec *recs, size_t n, uint8_t *out, size_t cap,
                         size_t *out_len)
{
    size_t vlen = vehicle_id ? strlen(vehicle_id) : 0;
    if (n == 0 || n > BUYT_CONTRACT_MAX_RECORDS || vlen == 0)
        return BUYT_EINVAL;
    size_t need = 1 + varint_len(vlen) + vlen;
    if (boot_id)
        need += 1 + varint_len(boot_id);
    for (size_t i = 0; i < n; i++)
        need += 1 + varint_len(recs[i].len) + recs[i].len;
    if (dropped_through_seq)
        need += 1 + varint_len(dropped_through_seq);
    if (need > cap || need > BUYT_CONTRACT_MAX_MSG_BYTES)
        return BUYT_ERANGE;
    uint8_t *p = out;
    *p++ = TAG_VEHICLE_ID;
    p = put_varint(p, vlen);
    memcpy(p, vehicle_id, vlen);
    p += vlen;
    if (boot_id) {
        *p++ = TAG_BOOT_ID;
        p = put_varint(p, boot_id);
    }
    for (size_t i = 0; i < n; i++) {
        *p++ = TAG_RECORDS;
        p = put_varint(p, recs[i].len);
        if (recs[i].len)
            memcpy(p, recs[i].payload, recs[i].len);
        p += recs[i].len;
    }
    if (dropped_through_seq) {
        *p++ = TAG_DROPPED;
        p = put_varint(p, dropped_through_seq);
    }
    *out_len = (size_t)(p - out);
    return 0;
}
