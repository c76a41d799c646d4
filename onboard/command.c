/* Command decoding and replies; see command.h. */
#include "command.h"

#include "buyt/v1/buyt.pb-c.h"
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *buyt_command_status_name(enum buyt_command_status s)
{
    switch (s) {
    case BUYT_COMMAND_OK: return "ok";
    case BUYT_COMMAND_MALFORMED: return "malformed";
    case BUYT_COMMAND_UNKNOWN: return "unknown";
    case BUYT_COMMAND_INVALID: return "invalid";
    }
    return "invalid_status";
}

__attribute__((format(printf, 4, 5))) static enum buyt_command_status
fail(enum buyt_command_status st, char *detail, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, len, fmt, ap);
    va_end(ap);
    return st;
}

/* Copies a string field of at most `max` bytes with no control characters. */
static int copy_field(char *dst, size_t max, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n > max)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)src[i] < 0x20 || src[i] == 0x7f)
            return -1;
    memcpy(dst, n ? src : "", n);
    dst[n] = '\0';
    return 0;
}

static enum buyt_command_status set_reporting(const Buyt__V1__SetReporting *s,
                                              const struct buyt_report_config *current,
                                              struct buyt_command *out, char *detail, size_t dlen)
{
    struct buyt_report_config cfg = *current;
    cfg.moving_interval_ms = s->moving_interval_ms;
    cfg.standing_interval_ms = s->standing_interval_ms;
    cfg.heading_change_cdeg =
        s->heading_change_cdeg ? s->heading_change_cdeg : BUYT_REPORT_HEADING_CHANGE_CDEG_DEFAULT;
    const char *why;
    if (buyt_report_config_check(&cfg, &why))
        return fail(BUYT_COMMAND_INVALID, detail, dlen, "%s", why);
    out->kind = BUYT_COMMAND_SET_REPORTING;
    out->reporting = cfg;
    return BUYT_COMMAND_OK;
}

static enum buyt_command_status assignment(const Buyt__V1__Assignment *a, struct buyt_command *out,
                                           char *detail, size_t dlen)
{
    struct buyt_assignment *as = &out->assignment;
    if (copy_field(as->route_id, 64, a->route_id))
        return fail(BUYT_COMMAND_INVALID, detail, dlen,
                    "route_id longer than 64 bytes or has control characters");
    if (copy_field(as->trip_id, 64, a->trip_id))
        return fail(BUYT_COMMAND_INVALID, detail, dlen,
                    "trip_id longer than 64 bytes or has control characters");
    if (copy_field(as->run_id, 64, a->run_id))
        return fail(BUYT_COMMAND_INVALID, detail, dlen,
                    "run_id longer than 64 bytes or has control characters");
    if (copy_field(as->driver_id, 32, a->driver_id))
        return fail(BUYT_COMMAND_INVALID, detail, dlen,
                    "driver_id longer than 32 bytes or has control characters");
    out->kind = BUYT_COMMAND_ASSIGNMENT;
    return BUYT_COMMAND_OK;
}

enum buyt_command_status buyt_command_parse(const void *payload, size_t len,
                                            const struct buyt_report_config *current,
                                            struct buyt_command *out, char *detail,
                                            size_t detail_len)
{
    memset(out, 0, sizeof *out);
    if (detail_len)
        detail[0] = '\0';
    if (len > BUYT_COMMAND_MAX_BYTES)
        return fail(BUYT_COMMAND_MALFORMED, detail, detail_len, "payload larger than %u bytes",
                    BUYT_COMMAND_MAX_BYTES);
    Buyt__V1__Command *c = buyt__v1__command__unpack(NULL, len, payload);
    if (!c)
        return fail(BUYT_COMMAND_MALFORMED, detail, detail_len, "payload is not a buyt.v1.Command");
    out->id = c->command_id;
    enum buyt_command_status st;
    switch (c->body_case) {
    case BUYT__V1__COMMAND__BODY_SET_REPORTING:
        st = set_reporting(c->set_reporting, current, out, detail, detail_len);
        break;
    case BUYT__V1__COMMAND__BODY_ASSIGNMENT:
        st = assignment(c->assignment, out, detail, detail_len);
        break;
    case BUYT__V1__COMMAND__BODY_HEALTH_REQUEST:
        out->kind = BUYT_COMMAND_HEALTH_REQUEST;
        st = BUYT_COMMAND_OK;
        break;
    default:
        st = fail(BUYT_COMMAND_UNKNOWN, detail, detail_len, "no command body this agent knows");
        break;
    }
    buyt__v1__command__free_unpacked(c, NULL);
    if (st != BUYT_COMMAND_OK) {
        uint64_t id = out->id;
        memset(out, 0, sizeof *out);
        out->id = id;
    }
    return st;
}

int buyt_command_reply_pack(uint64_t id, enum buyt_command_status status, const char *detail,
                            uint8_t *buf, size_t cap, size_t *len)
{
    Buyt__V1__CommandReply r = BUYT__V1__COMMAND_REPLY__INIT;
    r.command_id = id;
    r.status = (Buyt__V1__CommandStatus)status;
    r.detail = (char *)(detail ? detail : "");
    size_t need = buyt__v1__command_reply__get_packed_size(&r);
    if (need > cap)
        return BUYT_ERANGE;
    *len = buyt__v1__command_reply__pack(&r, buf);
    return 0;
}
