/* Configuration of buyt-onboard: one `key = value` file (common/kvconf.h), every key described
 * in deploy/onboard/buyt-onboard.conf.example and docs/ONBOARD.md. Loading checks each value and
 * then the file as a whole, and reports the first problem as one line, "FILE:LINE: key: reason"
 * (or "FILE: reason" for a missing key or a conflict between keys), so --check-config can tell
 * an installer exactly what to fix. */
#ifndef BUYT_AGENT_CONFIG_H
#define BUYT_AGENT_CONFIG_H

#include "cardid.h"
#include "journal.h"
#include "log.h"
#include "report.h"
#include "rfid.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BUYT_AGENT_PATH_MAX 512u /* bytes, with the NUL */
#define BUYT_AGENT_RFID_MAX 2u   /* readers: rfid1_*, rfid2_* */

/* Values equal buyt.v1.ReaderRole. */
enum buyt_agent_rfid_role {
    BUYT_AGENT_RFID_PASSENGER = 1,
    BUYT_AGENT_RFID_DRIVER = 2,
};

struct buyt_agent_rfid_config {
    bool enabled; /* rfidN_device is set */
    char device[BUYT_AGENT_PATH_MAX];
    uint32_t baud;
    enum buyt_agent_rfid_role role;
    bool role_set;
    struct buyt_rfid_config rfid; /* framing, byte order, decimal UID length */
    bool framing_set;
    uint32_t debounce_ms;
    uint32_t gap_ms; /* idle time that ends an em18 frame */
};

struct buyt_agent_config {
    char path[BUYT_AGENT_PATH_MAX]; /* the file loaded, for messages */
    char agency[64];
    char vehicle_id[33];
    enum buyt_log_level log_level;

    char mqtt_url[512]; /* secret: holds the password */
    char mqtt_cafile[BUYT_AGENT_PATH_MAX];
    char mqtt_certfile[BUYT_AGENT_PATH_MAX];
    char mqtt_keyfile[BUYT_AGENT_PATH_MAX];
    uint32_t mqtt_keepalive_s;
    uint32_t mqtt_backoff_min_ms, mqtt_backoff_max_ms;

    char journal_dir[BUYT_AGENT_PATH_MAX];
    uint64_t journal_max_bytes;
    uint32_t journal_segment_bytes;
    enum buyt_journal_fsync journal_fsync;
    uint32_t journal_fsync_interval_ms;
    uint32_t resend_after_ms;
    uint32_t replay_batch_records;
    uint32_t replay_batch_bytes;

    char gps_device[BUYT_AGENT_PATH_MAX];
    uint32_t gps_baud;
    bool gps_accept_no_checksum;
    uint32_t gps_idle_ms; /* quiet line ends the receiver's epoch; 0: wait for the next epoch */

    struct buyt_report_config report;
    uint32_t health_interval_ms;
    uint32_t serial_retry_max_ms;

    bool has_fleet_key;
    struct buyt_cardid_key fleet_key; /* secret */
    char drivers_file[BUYT_AGENT_PATH_MAX];
    struct buyt_agent_rfid_config rfid[BUYT_AGENT_RFID_MAX];
};

/* Bounds checked by buyt_agent_config_load() (besides the report's own, report.h). */
#define BUYT_AGENT_BATCH_BYTES_MIN (4u * 1024u)
#define BUYT_AGENT_BATCH_BYTES_MAX (192u * 1024u) /* + framing stays under the 256 KiB limit */

/** Fills `cfg` with every default (docs/ONBOARD.md); the required keys stay empty. */
void buyt_agent_config_init(struct buyt_agent_config *cfg);

/** Initialises `cfg` and loads `path` into it (blocking file I/O: at start-up). Checks every
 *  value, then the whole: required keys (agency, vehicle_id, mqtt_url, journal_dir,
 *  gps_device), the MQTT URL, TLS files readable and only with mqtts://, journal sizes, a fleet
 *  key when a reader is configured, a role and framing for each reader, no device used twice.
 *  Returns 0, or BUYT_EIO / BUYT_EINVAL with one line in err (never quoting a secret). On error
 *  the fleet key is wiped. */
int buyt_agent_config_load(struct buyt_agent_config *cfg, const char *path, char *err,
                           size_t errlen);

/** Wipes the secrets (fleet key, MQTT URL with its password). */
void buyt_agent_config_clear(struct buyt_agent_config *cfg);

/** Fills a journal configuration from `cfg` (dir borrowed from cfg). */
void buyt_agent_config_journal(const struct buyt_agent_config *cfg,
                               struct buyt_journal_config *out);

#endif
