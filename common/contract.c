/* Validation and packing of buyt/v1 messages; see contract.h and proto/buyt/v1/buyt.proto. */
#include "contract.h"

#include "error.h"

#include <stdlib.h>
#include <string.h>

static const char *const reject_names[BUYT_REJECT__COUNT] = {
    [BUYT_REJECT_NONE] = "none",
    [BUYT_REJECT_TRUNCATED] = "truncated",
    [BUYT_REJECT_OVERSIZE] = "oversize",
    [BUYT_REJECT_TOO_MANY_RECORDS] = "too_many_records",
    [BUYT_REJECT_EMPTY] = "empty",
    [BUYT_REJECT_BAD_TOPIC] = "bad_topic",
    [BUYT_REJECT_BAD_VEHICLE_ID] = "bad_vehicle_id",
    [BUYT_REJECT_VEHICLE_MISMATCH] = "vehicle_mismatch",
    [BUYT_REJECT_UNKNOWN_VEHICLE] = "unknown_vehicle",
    [BUYT_REJECT_BAD_SEQ] = "bad_seq",
    [BUYT_REJECT_TIME_FUTURE] = "time_future",
    [BUYT_REJECT_TIME_PAST] = "time_past",
    [BUYT_REJECT_BAD_COORD] = "bad_coord",
    [BUYT_REJECT_BAD_VALUE] = "bad_value",
    [BUYT_REJECT_UNKNOWN_ENUM] = "unknown_enum",
    [BUYT_REJECT_BAD_CARD_ID] = "bad_card_id",
};

const char *buyt_reject_name(enum buyt_reject r)
{
    return (unsigned)r < BUYT_REJECT__COUNT ? reject_names[r] : "invalid_reason";
}

int buyt_contract_enum_known(const ProtobufCEnumDescriptor *d, int v)
{
    return protobuf_c_enum_descriptor_get_value(d, v) != NULL;
}

enum buyt_reject buyt_contract_check_vehicle_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > BUYT_CONTRACT_VEHICLE_ID_MAX)
        return BUYT_REJECT_BAD_VEHICLE_ID;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == '-';
        if (!ok)
            return BUYT_REJECT_BAD_VEHICLE_ID;
    }
    return BUYT_REJECT_NONE;
}

enum buyt_reject buyt_contract_check_fix(const Buyt__V1__Fix *f)
{
    if (!buyt_contract_enum_known(&buyt__v1__fix_quality__descriptor, (int)f->quality) ||
        f->quality == BUYT__V1__FIX_QUALITY__FIX_QUALITY_UNSPECIFIED)
        return BUYT_REJECT_UNKNOWN_ENUM;
    const uint32_t known = 1u | 2u | 4u | 8u | 16u;
    if (f->fields & ~known)
        return BUYT_REJECT_BAD_VALUE;
    if (f->quality != BUYT__V1__FIX_QUALITY__FIX_QUALITY_NONE) {
        if (f->lat_e7 < -900000000 || f->lat_e7 > 900000000 || f->lon_e7 < -1800000000 ||
            f->lon_e7 > 1800000000)
            return BUYT_REJECT_BAD_COORD;
        /* (0,0) is "Null Island": a receiver that zero-fills a no-fix, never a bus position. */
        if (f->lat_e7 == 0 && f->lon_e7 == 0)
            return BUYT_REJECT_BAD_COORD;
    }
    if ((f->fields & BUYT__V1__FIX_FIELD__FIX_FIELD_SPEED) && f->speed_cms > 10000)
        return BUYT_REJECT_BAD_VALUE;
    if ((f->fields & BUYT__V1__FIX_FIELD__FIX_FIELD_COURSE) && f->course_cdeg > 35999)
        return BUYT_REJECT_BAD_VALUE;
    if ((f->fields & BUYT__V1__FIX_FIELD__FIX_FIELD_ALTITUDE) &&
        (f->alt_cm < -100000 || f->alt_cm > 1000000))
        return BUYT_REJECT_BAD_VALUE;
    if ((f->fields & BUYT__V1__FIX_FIELD__FIX_FIELD_HDOP) && f->hdop_x100 > 9999)
        return BUYT_REJECT_BAD_VALUE;
    if ((f->fields & BUYT__V1__FIX_FIELD__FIX_FIELD_SATELLITES) && f->satellites > 99)
        return BUYT_REJECT_BAD_VALUE;
    return BUYT_REJECT_NONE;
}

/* A position attached to an event is optional; when present it must be a valid fix. */
static enum buyt_reject check_position(const Buyt__V1__Fix *f)
{
    return f ? buyt_contract_check_fix(f) : BUYT_REJECT_NONE;
}

static int str_ok(const char *s, size_t max) { return !s || strlen(s) <= max; }

static enum buyt_reject check_card_tap(const Buyt__V1__CardTap *t)
{
    if (t->role == BUYT__V1__READER_ROLE__READER_ROLE_UNSPECIFIED ||
        !buyt_contract_enum_known(&buyt__v1__reader_role__descriptor, (int)t->role))
        return BUYT_REJECT_UNKNOWN_ENUM;
    if (t->card_id.len != BUYT_CONTRACT_CARD_ID_BYTES)
        return BUYT_REJECT_BAD_CARD_ID;
    return check_position(t->position);
}

static enum buyt_reject check_driver_event(const Buyt__V1__DriverEvent *e)
{
    if (e->kind == BUYT__V1__DRIVER_EVENT_KIND__DRIVER_EVENT_UNSPECIFIED ||
        !buyt_contract_enum_known(&buyt__v1__driver_event_kind__descriptor, (int)e->kind))
        return BUYT_REJECT_UNKNOWN_ENUM;
    if (e->card_id.len != 0 && e->card_id.len != BUYT_CONTRACT_CARD_ID_BYTES)
        return BUYT_REJECT_BAD_CARD_ID;
    if (!str_ok(e->driver_id, 32) || !str_ok(e->route_id, 64) || !str_ok(e->trip_id, 64) ||
        !str_ok(e->run_id, 64))
        return BUYT_REJECT_BAD_VALUE;
    return check_position(e->position);
}

static enum buyt_reject check_health(const Buyt__V1__Health *h)
{
    if (!buyt_contract_enum_known(&buyt__v1__gps_state__descriptor, (int)h->gps_state))
        return BUYT_REJECT_UNKNOWN_ENUM;
    if (!str_ok(h->version, 64))
        return BUYT_REJECT_BAD_VALUE;
    return BUYT_REJECT_NONE;
}

enum buyt_reject buyt_contract_check_record(const Buyt__V1__Record *r, int64_t recv_ms)
{
    if (r->seq == 0)
        return BUYT_REJECT_BAD_SEQ;
    if (r->time_ms > (uint64_t)INT64_MAX || (int64_t)r->time_ms > recv_ms + BUYT_CONTRACT_MAX_FUTURE_MS)
        return BUYT_REJECT_TIME_FUTURE;
    if ((int64_t)r->time_ms < recv_ms - BUYT_CONTRACT_MAX_PAST_MS)
        return BUYT_REJECT_TIME_PAST;
    switch (r->body_case) {
    case BUYT__V1__RECORD__BODY_FIX: return buyt_contract_check_fix(r->fix);
    case BUYT__V1__RECORD__BODY_CARD_TAP: return check_card_tap(r->card_tap);
    case BUYT__V1__RECORD__BODY_DRIVER_EVENT: return check_driver_event(r->driver_event);
    case BUYT__V1__RECORD__BODY_DOOR_EVENT:
        if (r->door_event->door < 1 || r->door_event->door > 8)
            return BUYT_REJECT_BAD_VALUE;
        return check_position(r->door_event->position);
    case BUYT__V1__RECORD__BODY_HEALTH: return check_health(r->health);
    default: return BUYT_REJECT_EMPTY;
    }
}

static enum buyt_reject check_message(const Buyt__V1__Telemetry *t)
{
    enum buyt_reject r = buyt_contract_check_vehicle_id(t->vehicle_id);
    if (r != BUYT_REJECT_NONE)
        return r;
    if (t->n_records == 0)
        return BUYT_REJECT_EMPTY;
    if (t->n_records > BUYT_CONTRACT_MAX_RECORDS)
        return BUYT_REJECT_TOO_MANY_RECORDS;
    return BUYT_REJECT_NONE;
}

enum buyt_reject buyt_telemetry_decode(const uint8_t *buf, size_t len, Buyt__V1__Telemetry **out)
{
    *out = NULL;
    if (len > BUYT_CONTRACT_MAX_MSG_BYTES)
        return BUYT_REJECT_OVERSIZE;
    Buyt__V1__Telemetry *t = buyt__v1__telemetry__unpack(NULL, len, buf);
    if (!t)
        return BUYT_REJECT_TRUNCATED;
    enum buyt_reject r = check_message(t);
    if (r != BUYT_REJECT_NONE) {
        buyt__v1__telemetry__free_unpacked(t, NULL);
        return r;
    }
    *out = t;
    return BUYT_REJECT_NONE;
}

void buyt_telemetry_free(Buyt__V1__Telemetry *t)
{
    if (t)
        buyt__v1__telemetry__free_unpacked(t, NULL);
}

enum buyt_reject buyt_telemetry_encode(const Buyt__V1__Telemetry *t, int64_t now_ms, uint8_t *buf,
                                       size_t cap, size_t *out_len)
{
    enum buyt_reject r = check_message(t);
    if (r != BUYT_REJECT_NONE)
        return r;
    for (size_t i = 0; i < t->n_records; i++) {
        r = buyt_contract_check_record(t->records[i], now_ms);
        if (r != BUYT_REJECT_NONE)
            return r;
    }
    size_t need = buyt__v1__telemetry__get_packed_size(t);
    if (need > cap || need > BUYT_CONTRACT_MAX_MSG_BYTES)
        return BUYT_REJECT_OVERSIZE;
    *out_len = buyt__v1__telemetry__pack(t, buf);
    return BUYT_REJECT_NONE;
}

int buyt_contract_pack(const ProtobufCMessage *m, uint8_t **buf, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        return BUYT_ENOMEM;
    *len = protobuf_c_message_pack(m, b);
    *buf = b;
    return 0;
}
