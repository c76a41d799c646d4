/* Wire framing of the agent's records: a Record is validated and encoded once, when it is made,
 * and journaled as those bytes; a Telemetry message is then framed around journaled Records
 * without decoding them again (replaying a backlog costs a copy, not a decode and an encode).
 *
 * The framing is what protobuf-c packs for buyt.v1.Telemetry (fields in number order, proto3
 * defaults omitted), so it is byte-identical to buyt_telemetry_encode() of the same message
 * (tests/unit/test_frame.c checks it). Records are not re-checked against the clock when sent:
 * a record that waited in the journal past the contract's 30 days is still sent, and the engine
 * rejects it with a reason and acknowledges past it, instead of the batch being stuck forever. */
#ifndef BUYT_FRAME_H
#define BUYT_FRAME_H

#include "contract.h"
#include "journal.h"

#include <stddef.h>
#include <stdint.h>

/** Validates `r` (borrowed) with buyt_contract_check_record() — its body, seq and ranges; its
 *  time only against itself, since a device clock is not the engine's receive clock — and packs
 *  it into buf of `cap` bytes; *len gets the size. Returns BUYT_REJECT_NONE, the reason, or
 *  BUYT_REJECT_OVERSIZE if it does not fit. */
enum buyt_reject buyt_frame_record(const Buyt__V1__Record *r, uint8_t *buf, size_t cap,
                                   size_t *len);

/** Upper bound of the framed size of n records totalling `record_bytes`, for a vehicle id of
 *  `vehicle_id_len` bytes. */
size_t buyt_frame_bound(size_t vehicle_id_len, size_t n, size_t record_bytes);

/** Frames a Telemetry {vehicle_id, boot_id, records = recs[0..n) payloads, dropped_through_seq}
 *  into out of `cap` bytes; *out_len gets the size. Everything is borrowed. Returns 0,
 *  BUYT_EINVAL (n is 0 or above BUYT_CONTRACT_MAX_RECORDS, or an empty vehicle id) or
 *  BUYT_ERANGE (larger than cap or than BUYT_CONTRACT_MAX_MSG_BYTES). */
int buyt_frame_telemetry(const char *vehicle_id, uint64_t boot_id, uint64_t dropped_through_seq,
                         const struct buyt_journal_rec *recs, size_t n, uint8_t *out, size_t cap,
                         size_t *out_len);

#endif
