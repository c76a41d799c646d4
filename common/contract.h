/* The buyt/v1 wire contract in C: decode and validate every message the same way in every
 * producer and consumer. Thin layer over the protobuf-c code generated from proto/.
 *
 * Validation returns a reason (enum buyt_reject), never aborts: the engine counts each reason
 * and dead-letters the payload; the agent refuses to journal a record it could not send. */
#ifndef BUYT_CONTRACT_H
#define BUYT_CONTRACT_H

#include "buyt/v1/buyt.pb-c.h"

#include <stddef.h>
#include <stdint.h>

#define BUYT_CONTRACT_MAX_MSG_BYTES (256u * 1024u)
#define BUYT_CONTRACT_MAX_RECORDS 4096u
#define BUYT_CONTRACT_MAX_FUTURE_MS (5LL * 60 * 1000)       /* clock skew allowed ahead */
#define BUYT_CONTRACT_MAX_PAST_MS (30LL * 24 * 3600 * 1000) /* oldest replayable record */
#define BUYT_CONTRACT_CARD_ID_BYTES 16u
#define BUYT_CONTRACT_VEHICLE_ID_MAX 32u

/* Why a message or record was refused. Names (buyt_reject_name) are stable: they appear in
 * metrics labels and in the `rejects.reason` column. Append only. */
enum buyt_reject {
    BUYT_REJECT_NONE = 0,
    BUYT_REJECT_TRUNCATED,        /* protobuf did not decode (truncated or garbage) */
    BUYT_REJECT_OVERSIZE,         /* message larger than BUYT_CONTRACT_MAX_MSG_BYTES */
    BUYT_REJECT_TOO_MANY_RECORDS, /* more than BUYT_CONTRACT_MAX_RECORDS records */
    BUYT_REJECT_EMPTY,            /* no records, or a record without a body */
    BUYT_REJECT_BAD_TOPIC,        /* topic is not a buyt/v1 topic this consumer handles */
    BUYT_REJECT_BAD_VEHICLE_ID,   /* empty, too long, or characters outside [A-Za-z0-9_.-] */
    BUYT_REJECT_VEHICLE_MISMATCH, /* payload vehicle_id differs from the topic's */
    BUYT_REJECT_UNKNOWN_VEHICLE,  /* vehicle not registered with the agency */
    BUYT_REJECT_BAD_SEQ,          /* seq 0 */
    BUYT_REJECT_TIME_FUTURE,      /* time more than MAX_FUTURE_MS after receive time */
    BUYT_REJECT_TIME_PAST,        /* time more than MAX_PAST_MS before receive time */
    BUYT_REJECT_BAD_COORD,        /* latitude/longitude out of range */
    BUYT_REJECT_BAD_VALUE,        /* another field out of its documented range */
    BUYT_REJECT_UNKNOWN_ENUM,     /* enum value not in this contract version */
    BUYT_REJECT_BAD_CARD_ID,      /* card id not exactly 16 bytes */
    BUYT_REJECT__COUNT
};

/** Stable snake_case name of a reason ("truncated", "time_future", ...). */
const char *buyt_reject_name(enum buyt_reject r);

/** Checks a Fix on its own (coordinates, ranges, enum, presence bits). */
enum buyt_reject buyt_contract_check_fix(const Buyt__V1__Fix *f);

/** Checks one record: seq, time against `recv_ms` (Unix ms), and its body. */
enum buyt_reject buyt_contract_check_record(const Buyt__V1__Record *r, int64_t recv_ms);

/** Checks a vehicle id's syntax. */
enum buyt_reject buyt_contract_check_vehicle_id(const char *id);

/** Decodes a Telemetry payload and applies the message-level checks (size, decoding, vehicle
 *  id, record count, non-empty). Records are NOT checked here, so a consumer can accept the
 *  good records of a replay batch and reject the bad ones individually with
 *  buyt_contract_check_record(). On success *out owns the message (free with
 *  buyt_telemetry_free); on a reject *out is NULL. */
enum buyt_reject buyt_telemetry_decode(const uint8_t *buf, size_t len, Buyt__V1__Telemetry **out);

/** Frees a decoded Telemetry. NULL is a no-op. */
void buyt_telemetry_free(Buyt__V1__Telemetry *t);

/** Validates a Telemetry (message level and every record at `now_ms`) and packs it into `buf`
 *  of `cap` bytes; *out_len gets the size. Returns BUYT_REJECT_NONE, the first reason found,
 *  or BUYT_REJECT_OVERSIZE if it does not fit in `cap` or the contract limit. */
enum buyt_reject buyt_telemetry_encode(const Buyt__V1__Telemetry *t, int64_t now_ms, uint8_t *buf,
                                       size_t cap, size_t *out_len);

/** Packs any contract message into a new malloc'd buffer (caller frees). Returns 0 or
 *  BUYT_ENOMEM. For messages without validation rules beyond their types (Ack, Command...). */
int buyt_contract_pack(const ProtobufCMessage *m, uint8_t **buf, size_t *len);

/** True if `v` is a value of enum `d` (proto3 enums are open: protobuf-c keeps unknown values). */
int buyt_contract_enum_known(const ProtobufCEnumDescriptor *d, int v);

#endif
