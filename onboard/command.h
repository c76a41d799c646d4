/* Commands to the bus (buyt/v1/{agency}/vehicle/{vehicle}/cmd) and their replies (.../reply).
 *
 * Pure: decodes and checks a Command payload into struct buyt_command, and packs the
 * CommandReply. A payload that does not decode is MALFORMED (command_id 0: it could not be
 * read), a Command with no body this agent knows is UNKNOWN (a newer sender's body type decodes
 * as an unknown field), a value out of range is INVALID with the reason in `detail`. Nothing
 * here can crash on input: protobuf-c bounds every read. */
#ifndef BUYT_COMMAND_H
#define BUYT_COMMAND_H

#include "report.h"

#include <stddef.h>
#include <stdint.h>

/* Longest accepted Command payload (an Assignment is a few hundred bytes). */
#define BUYT_COMMAND_MAX_BYTES 4096u
#define BUYT_COMMAND_DETAIL_MAX 128u

/* Values equal buyt.v1.CommandStatus. */
enum buyt_command_status {
    BUYT_COMMAND_OK = 1,
    BUYT_COMMAND_MALFORMED = 2,
    BUYT_COMMAND_UNKNOWN = 3,
    BUYT_COMMAND_INVALID = 4,
};

enum buyt_command_kind {
    BUYT_COMMAND_NONE = 0,
    BUYT_COMMAND_SET_REPORTING,
    BUYT_COMMAND_ASSIGNMENT,
    BUYT_COMMAND_HEALTH_REQUEST,
};

/* The operator's assignment: attached to the DriverEvents that follow (docs/ONBOARD.md). */
struct buyt_assignment {
    char route_id[65]; /* GTFS route_id, <= 64 bytes; "" none */
    char trip_id[65];
    char run_id[65];
    char driver_id[33]; /* <= 32 bytes */
};

struct buyt_command {
    uint64_t id; /* Command.command_id, echoed in the reply */
    enum buyt_command_kind kind;
    /* SET_REPORTING: `current` with the command's intervals and heading change applied. */
    struct buyt_report_config reporting;
    struct buyt_assignment assignment; /* ASSIGNMENT */
};

/** Decodes `payload` (borrowed, `len` bytes) and checks it. `current` (borrowed) is the
 *  reporting configuration in force: SET_REPORTING changes its intervals, and its heading change
 *  unless the command gives 0 (= the default, BUYT_REPORT_HEADING_CHANGE_CDEG_DEFAULT). Fills
 *  *out (kind NONE unless OK) and writes a reason into detail (BUYT_COMMAND_DETAIL_MAX bytes
 *  suffice; "" when OK). Returns the reply status. */
enum buyt_command_status buyt_command_parse(const void *payload, size_t len,
                                            const struct buyt_report_config *current,
                                            struct buyt_command *out, char *detail,
                                            size_t detail_len);

/** Packs CommandReply{id, status, detail} into buf of `cap` bytes (detail borrowed, may be "").
 *  Returns 0 or BUYT_ERANGE if it does not fit (BUYT_COMMAND_DETAIL_MAX + 32 bytes suffice). */
int buyt_command_reply_pack(uint64_t id, enum buyt_command_status status, const char *detail,
                            uint8_t *buf, size_t cap, size_t *len);

/** Stable name of a status ("ok", "malformed", "unknown", "invalid"), "invalid_status" else. */
const char *buyt_command_status_name(enum buyt_command_status s);

#endif
