/* Configuration of buyt-onboard; see agent_config.h. */
#include "agent_config.h"

#include "error.h"
#include "kvconf.h"
#include "mqtt.h"
#include "serial.h"
#include "topics.h"
#include "contract.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const keys[] = {
    "agency",
    "vehicle_id",
    "log_level",
    "mqtt_url",
    "mqtt_cafile",
    "mqtt_certfile",
    "mqtt_keyfile",
    "mqtt_keepalive",
    "mqtt_backoff_min",
    "mqtt_backoff_max",
    "journal_dir",
    "journal_max_bytes",
    "journal_segment_bytes",
    "journal_fsync",
    "journal_fsync_interval",
    "resend_after",
    "replay_batch_records",
    "replay_batch_bytes",
    "gps_device",
    "gps_baud",
    "gps_accept_no_checksum",
    "gps_idle",
    "report_moving_interval",
    "report_standing_interval",
    "report_moving_speed_cms",
    "report_heading_change_cdeg",
    "health_interval",
    "serial_retry_max",
    "fleet_key",
    "drivers_file",
    "rfid1_device",
    "rfid1_role",
    "rfid1_framing",
    "rfid1_baud",
    "rfid1_byte_order",
    "rfid1_dec_uid_bytes",
    "rfid1_debounce",
    "rfid1_gap",
    "rfid2_device",
    "rfid2_role",
    "rfid2_framing",
    "rfid2_baud",
    "rfid2_byte_order",
    "rfid2_dec_uid_bytes",
    "rfid2_debounce",
    "rfid2_gap",
    NULL,
};

void buyt_agent_config_init(struct buyt_agent_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->log_level = BUYT_LOG_INFO;
    cfg->mqtt_keepalive_s = 30;
    cfg->mqtt_backoff_min_ms = 500;
    cfg->mqtt_backoff_max_ms = 30000;
    struct buyt_journal_config j;
    buyt_journal_config_init(&j, "");
    cfg->journal_max_bytes = j.max_bytes;
    cfg->journal_segment_bytes = j.segment_bytes;
    cfg->journal_fsync = j.fsync;
    cfg->journal_fsync_interval_ms = j.fsync_interval_ms;
    cfg->resend_after_ms = j.resend_after_ms;
    cfg->replay_batch_records = 1000;
    cfg->replay_batch_bytes = 64u * 1024u;
    cfg->gps_baud = 9600;
    cfg->gps_idle_ms = 200;
    buyt_report_config_init(&cfg->report);
    cfg->health_interval_ms = 60000;
    cfg->serial_retry_max_ms = 10000;
    for (unsigned i = 0; i < BUYT_AGENT_RFID_MAX; i++) {
        cfg->rfid[i].baud = 9600;
        cfg->rfid[i].debounce_ms = BUYT_RFID_DEBOUNCE_DEFAULT_MS;
        cfg->rfid[i].gap_ms = 20;
    }
}

void buyt_agent_config_clear(struct buyt_agent_config *cfg)
{
    buyt_cardid_key_clear(&cfg->fleet_key);
    cfg->has_fleet_key = false;
    OPENSSL_cleanse(cfg->mqtt_url, sizeof cfg->mqtt_url);
}

void buyt_agent_config_journal(const struct buyt_agent_config *cfg, struct buyt_journal_config *out)
{
    buyt_journal_config_init(out, cfg->journal_dir);
    out->max_bytes = cfg->journal_max_bytes;
    out->segment_bytes = cfg->journal_segment_bytes;
    out->fsync = cfg->journal_fsync;
    out->fsync_interval_ms = cfg->journal_fsync_interval_ms;
    out->resend_after_ms = cfg->resend_after_ms;
}

/* ------------------------------------------------------------------ value parsers */

__attribute__((format(printf, 3, 4))) static int bad(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return BUYT_EINVAL;
}

static int set_str(char *dst, size_t cap, const char *v, char *err, size_t errlen)
{
    size_t n = strlen(v);
    if (n == 0)
        return bad(err, errlen, "empty value");
    if (n >= cap)
        return bad(err, errlen, "longer than %zu bytes", cap - 1);
    memcpy(dst, v, n + 1);
    return 0;
}

/* A number (or a duration when ms, or a size with k/M/G) within [lo, hi]. */
static int set_num(uint64_t *out, const char *v, int ms, uint64_t lo, uint64_t hi, const char *unit,
                   char *err, size_t errlen)
{
    unsigned long long x;
    if (buyt_kvconf_uint(v, ms, &x))
        return bad(err, errlen,
                   ms ? "not a duration (e.g. 500ms, 30s, 2min)"
                      : "not a number (k, M, G suffixes allowed for sizes)");
    if (x < lo || x > hi)
        return bad(err, errlen, "out of range (%llu..%llu%s)", (unsigned long long)lo,
                   (unsigned long long)hi, unit);
    *out = x;
    return 0;
}

static int set_u32(uint32_t *out, const char *v, int ms, uint64_t lo, uint64_t hi, const char *unit,
                   char *err, size_t errlen)
{
    uint64_t x = 0;
    int rc = set_num(&x, v, ms, lo, hi, unit, err, errlen);
    if (!rc)
        *out = (uint32_t)x;
    return rc;
}

static int set_baud(uint32_t *out, const char *v, char *err, size_t errlen)
{
    uint64_t x = 0;
    if (set_num(&x, v, 0, 0, 1000000, "", err, errlen) || !buyt_serial_baud_valid((uint32_t)x))
        return bad(err, errlen, "not a supported speed (4800, 9600, 19200, 38400, 57600, 115200)");
    *out = (uint32_t)x;
    return 0;
}

static int set_bool(bool *out, const char *v, char *err, size_t errlen)
{
    int b;
    if (buyt_kvconf_bool(v, &b))
        return bad(err, errlen, "not a boolean (yes/no, true/false, on/off, 1/0)");
    *out = b;
    return 0;
}

static int set_rfid(struct buyt_agent_rfid_config *r, const char *key, const char *v, char *err,
                    size_t errlen)
{
    if (!strcmp(key, "device")) {
        r->enabled = true;
        return set_str(r->device, sizeof r->device, v, err, errlen);
    }
    if (!strcmp(key, "role")) {
        r->role_set = true;
        if (!strcmp(v, "driver"))
            r->role = BUYT_AGENT_RFID_DRIVER;
        else if (!strcmp(v, "passenger"))
            r->role = BUYT_AGENT_RFID_PASSENGER;
        else
            return bad(err, errlen, "not a role (driver, passenger)");
        return 0;
    }
    if (!strcmp(key, "framing")) {
        r->framing_set = true;
        if (buyt_rfid_framing_parse(v, &r->rfid.framing))
            return bad(err, errlen, "not a framing (rdm6300, id12, em18, line-hex, line-dec)");
        return 0;
    }
    if (!strcmp(key, "baud"))
        return set_baud(&r->baud, v, err, errlen);
    if (!strcmp(key, "byte_order")) {
        if (buyt_rfid_byte_order_parse(v, &r->rfid.byte_order))
            return bad(err, errlen, "not a byte order (msb-first, lsb-first)");
        return 0;
    }
    if (!strcmp(key, "dec_uid_bytes")) {
        uint32_t n = 0;
        int rc = set_u32(&n, v, 0, 1, 8, " bytes", err, errlen);
        if (!rc)
            r->rfid.dec_uid_bytes = (uint8_t)n;
        return rc;
    }
    if (!strcmp(key, "debounce"))
        return set_u32(&r->debounce_ms, v, 1, 100, 60000, " ms", err, errlen);
    if (!strcmp(key, "gap"))
        return set_u32(&r->gap_ms, v, 1, 5, 1000, " ms", err, errlen);
    return bad(err, errlen, "unknown key");
}

static int set_key(void *target, const char *key, const char *v, char *err, size_t errlen)
{
    struct buyt_agent_config *c = target;
    if (!strcmp(key, "agency")) {
        int rc = set_str(c->agency, sizeof c->agency, v, err, errlen);
        if (!rc && buyt_contract_check_vehicle_id(v) != BUYT_REJECT_NONE)
            return bad(err, errlen, "1-32 characters of A-Z a-z 0-9 _ . - expected");
        return rc;
    }
    if (!strcmp(key, "vehicle_id")) {
        if (buyt_contract_check_vehicle_id(v) != BUYT_REJECT_NONE)
            return bad(err, errlen, "1-32 characters of A-Z a-z 0-9 _ . - expected");
        return set_str(c->vehicle_id, sizeof c->vehicle_id, v, err, errlen);
    }
    if (!strcmp(key, "log_level")) {
        static const char *const names[] = {"debug", "info", "warn", "error"};
        for (int i = 0; i < 4; i++) {
            if (!strcmp(v, names[i])) {
                c->log_level = (enum buyt_log_level)i;
                return 0;
            }
        }
        return bad(err, errlen, "not a level (debug, info, warn, error)");
    }
    if (!strcmp(key, "mqtt_url")) {
        struct buyt_mqtt_url u;
        if (buyt_mqtt_url_parse(v, &u))
            return bad(err, errlen, "not mqtt://[USER[:PASS]@]HOST[:PORT] or mqtts://...");
        OPENSSL_cleanse(&u, sizeof u);
        return set_str(c->mqtt_url, sizeof c->mqtt_url, v, err, errlen);
    }
    if (!strcmp(key, "mqtt_cafile"))
        return set_str(c->mqtt_cafile, sizeof c->mqtt_cafile, v, err, errlen);
    if (!strcmp(key, "mqtt_certfile"))
        return set_str(c->mqtt_certfile, sizeof c->mqtt_certfile, v, err, errlen);
    if (!strcmp(key, "mqtt_keyfile"))
        return set_str(c->mqtt_keyfile, sizeof c->mqtt_keyfile, v, err, errlen);
    if (!strcmp(key, "mqtt_keepalive")) {
        uint32_t ms = 0;
        int rc = set_u32(&ms, v, 1, 5000, 600000, " ms", err, errlen);
        if (!rc)
            c->mqtt_keepalive_s = ms / 1000;
        return rc;
    }
    if (!strcmp(key, "mqtt_backoff_min"))
        return set_u32(&c->mqtt_backoff_min_ms, v, 1, 10, 60000, " ms", err, errlen);
    if (!strcmp(key, "mqtt_backoff_max"))
        return set_u32(&c->mqtt_backoff_max_ms, v, 1, 100, 600000, " ms", err, errlen);
    if (!strcmp(key, "journal_dir"))
        return set_str(c->journal_dir, sizeof c->journal_dir, v, err, errlen);
    if (!strcmp(key, "journal_max_bytes"))
        return set_num(&c->journal_max_bytes, v, 0, 256u * 1024u, 1ull << 40, " bytes", err,
                       errlen);
    if (!strcmp(key, "journal_segment_bytes"))
        return set_u32(&c->journal_segment_bytes, v, 0, 128u * 1024u, 1u << 30, " bytes", err,
                       errlen);
    if (!strcmp(key, "journal_fsync")) {
        if (!strcmp(v, "always"))
            c->journal_fsync = BUYT_JOURNAL_FSYNC_ALWAYS;
        else if (!strcmp(v, "interval"))
            c->journal_fsync = BUYT_JOURNAL_FSYNC_INTERVAL;
        else if (!strcmp(v, "never"))
            c->journal_fsync = BUYT_JOURNAL_FSYNC_NEVER;
        else
            return bad(err, errlen, "not a policy (always, interval, never)");
        return 0;
    }
    if (!strcmp(key, "journal_fsync_interval"))
        return set_u32(&c->journal_fsync_interval_ms, v, 1, 10, 60000, " ms", err, errlen);
    if (!strcmp(key, "resend_after"))
        return set_u32(&c->resend_after_ms, v, 1, 1000, 3600000, " ms", err, errlen);
    if (!strcmp(key, "replay_batch_records"))
        return set_u32(&c->replay_batch_records, v, 0, 1, BUYT_CONTRACT_MAX_RECORDS, "", err,
                       errlen);
    if (!strcmp(key, "replay_batch_bytes"))
        return set_u32(&c->replay_batch_bytes, v, 0, BUYT_AGENT_BATCH_BYTES_MIN,
                       BUYT_AGENT_BATCH_BYTES_MAX, " bytes", err, errlen);
    if (!strcmp(key, "gps_device"))
        return set_str(c->gps_device, sizeof c->gps_device, v, err, errlen);
    if (!strcmp(key, "gps_baud"))
        return set_baud(&c->gps_baud, v, err, errlen);
    if (!strcmp(key, "gps_accept_no_checksum"))
        return set_bool(&c->gps_accept_no_checksum, v, err, errlen);
    if (!strcmp(key, "gps_idle"))
        return set_u32(&c->gps_idle_ms, v, 1, 0, 5000, " ms", err, errlen);
    if (!strcmp(key, "report_moving_interval"))
        return set_u32(&c->report.moving_interval_ms, v, 1, BUYT_REPORT_MOVING_INTERVAL_MS_MIN,
                       BUYT_REPORT_MOVING_INTERVAL_MS_MAX, " ms", err, errlen);
    if (!strcmp(key, "report_standing_interval"))
        return set_u32(&c->report.standing_interval_ms, v, 1, BUYT_REPORT_STANDING_INTERVAL_MS_MIN,
                       BUYT_REPORT_STANDING_INTERVAL_MS_MAX, " ms", err, errlen);
    if (!strcmp(key, "report_moving_speed_cms"))
        return set_u32(&c->report.moving_speed_cms, v, 0, BUYT_REPORT_MOVING_SPEED_CMS_MIN,
                       BUYT_REPORT_MOVING_SPEED_CMS_MAX, " cm/s", err, errlen);
    if (!strcmp(key, "report_heading_change_cdeg"))
        return set_u32(&c->report.heading_change_cdeg, v, 0, BUYT_REPORT_HEADING_CHANGE_CDEG_MIN,
                       BUYT_REPORT_HEADING_CHANGE_CDEG_MAX, " centidegrees", err, errlen);
    if (!strcmp(key, "health_interval"))
        return set_u32(&c->health_interval_ms, v, 1, 1000, 3600000, " ms", err, errlen);
    if (!strcmp(key, "serial_retry_max"))
        return set_u32(&c->serial_retry_max_ms, v, 1, 500, 300000, " ms", err, errlen);
    if (!strcmp(key, "fleet_key")) {
        const char *why = NULL;
        if (buyt_cardid_key_parse(&c->fleet_key, v, &why))
            return bad(err, errlen, "%s", why ? why : "not a fleet key");
        c->has_fleet_key = true;
        return 0;
    }
    if (!strcmp(key, "drivers_file"))
        return set_str(c->drivers_file, sizeof c->drivers_file, v, err, errlen);
    if (!strncmp(key, "rfid", 4) && key[4] >= '1' && key[4] <= '0' + (int)BUYT_AGENT_RFID_MAX &&
        key[5] == '_')
        return set_rfid(&c->rfid[key[4] - '1'], key + 6, v, err, errlen);
    return bad(err, errlen, "unknown key");
}

/* ------------------------------------------------------------------ whole-file checks */

static int readable(const char *path, const char *key, const struct buyt_agent_config *c, char *err,
                    size_t errlen)
{
    if (!path[0] || access(path, R_OK) == 0)
        return 0;
    return bad(err, errlen, "%s: %s %s: %s", c->path, key, path, strerror(errno));
}

static int check_whole(const struct buyt_agent_config *c, char *err, size_t errlen)
{
    static const char *const required[] = {"agency", "vehicle_id", "mqtt_url", "journal_dir",
                                           "gps_device"};
    const char *const values[] = {c->agency, c->vehicle_id, c->mqtt_url, c->journal_dir,
                                  c->gps_device};
    for (size_t i = 0; i < sizeof required / sizeof *required; i++)
        if (!values[i][0])
            return bad(err, errlen, "%s: %s is required", c->path, required[i]);
    char topic[BUYT_TOPIC_MAX];
    if (buyt_topic_format(topic, sizeof topic, BUYT_TOPIC_TELEMETRY, c->agency, c->vehicle_id))
        return bad(err, errlen, "%s: agency and vehicle_id do not make a valid topic", c->path);
    struct buyt_mqtt_url u;
    buyt_mqtt_url_parse(c->mqtt_url, &u);
    bool tls = u.tls;
    OPENSSL_cleanse(&u, sizeof u);
    if (!tls && (c->mqtt_cafile[0] || c->mqtt_certfile[0] || c->mqtt_keyfile[0]))
        return bad(err, errlen, "%s: mqtt_cafile/mqtt_certfile/mqtt_keyfile need an mqtts:// url",
                   c->path);
    if (!c->mqtt_certfile[0] != !c->mqtt_keyfile[0])
        return bad(err, errlen, "%s: mqtt_certfile and mqtt_keyfile go together", c->path);
    int rc = readable(c->mqtt_cafile, "mqtt_cafile", c, err, errlen);
    if (!rc)
        rc = readable(c->mqtt_certfile, "mqtt_certfile", c, err, errlen);
    if (!rc)
        rc = readable(c->mqtt_keyfile, "mqtt_keyfile", c, err, errlen);
    if (!rc)
        rc = readable(c->drivers_file, "drivers_file", c, err, errlen);
    if (rc)
        return rc;
    if (c->mqtt_backoff_min_ms > c->mqtt_backoff_max_ms)
        return bad(err, errlen, "%s: mqtt_backoff_min is above mqtt_backoff_max", c->path);
    if (c->journal_max_bytes < 2ull * c->journal_segment_bytes)
        return bad(err, errlen, "%s: journal_max_bytes must be at least 2 x journal_segment_bytes",
                   c->path);
    const char *why;
    if (buyt_report_config_check(&c->report, &why))
        return bad(err, errlen, "%s: %s", c->path, why);
    bool any = false;
    for (unsigned i = 0; i < BUYT_AGENT_RFID_MAX; i++) {
        const struct buyt_agent_rfid_config *r = &c->rfid[i];
        if (!r->enabled) {
            if (r->role_set || r->framing_set)
                return bad(err, errlen, "%s: rfid%u_* keys without rfid%u_device", c->path, i + 1,
                           i + 1);
            continue;
        }
        any = true;
        if (!r->role_set)
            return bad(err, errlen, "%s: rfid%u_role is required (driver or passenger)", c->path,
                       i + 1);
        if (!r->framing_set)
            return bad(err, errlen, "%s: rfid%u_framing is required", c->path, i + 1);
        if (!strcmp(r->device, c->gps_device))
            return bad(err, errlen, "%s: rfid%u_device is the gps_device", c->path, i + 1);
        for (unsigned k = 0; k < i; k++)
            if (c->rfid[k].enabled && !strcmp(r->device, c->rfid[k].device))
                return bad(err, errlen, "%s: rfid%u_device is also rfid%u_device", c->path, i + 1,
                           k + 1);
    }
    if (any && !c->has_fleet_key)
        return bad(err, errlen, "%s: fleet_key is required with an RFID reader", c->path);
    return 0;
}

int buyt_agent_config_load(struct buyt_agent_config *cfg, const char *path, char *err,
                           size_t errlen)
{
    buyt_agent_config_init(cfg);
    snprintf(cfg->path, sizeof cfg->path, "%s", path);
    int rc = buyt_kvconf_load(path, keys, set_key, cfg, err, errlen);
    if (!rc)
        rc = check_whole(cfg, err, errlen);
    if (rc)
        buyt_agent_config_clear(cfg);
    return rc;
}
