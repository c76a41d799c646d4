/* buyt-onboard configuration: defaults, every value checked, one-line errors with file:line. */
#include "agent_config.h"

#include "error.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BASE                                                                                       \
    "agency = hn\n"                                                                                \
    "vehicle_id = 29B-100\n"                                                                       \
    "mqtt_url = mqtt://29B-100:secret@127.0.0.1:1883\n"                                            \
    "journal_dir = /tmp/j\n"                                                                       \
    "gps_device = /dev/ttyUSB0\n"
#define KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static char path[64];
static struct buyt_agent_config cfg;
static char err[512];

static int load(const char *text)
{
    strcpy(path, "/tmp/buyt-conf-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    err[0] = '\0';
    int rc = buyt_agent_config_load(&cfg, path, err, sizeof err);
    unlink(path);
    return rc;
}

/* err with the temp file name replaced by "F". */
static const char *msg(void)
{
    static char out[512];
    size_t n = strlen(path);
    if (!strncmp(err, path, n))
        snprintf(out, sizeof out, "F%s", err + n);
    else
        snprintf(out, sizeof out, "%s", err);
    return out;
}

Test(agent_config, minimal_file_gets_the_documented_defaults)
{
    cr_assert_eq(load(BASE), 0, "%s", err);
    cr_assert_str_eq(cfg.agency, "hn");
    cr_assert_str_eq(cfg.vehicle_id, "29B-100");
    cr_assert_str_eq(cfg.gps_device, "/dev/ttyUSB0");
    cr_assert_eq(cfg.gps_baud, 9600);
    cr_assert_eq(cfg.gps_idle_ms, 200);
    cr_assert_eq(cfg.mqtt_keepalive_s, 30);
    cr_assert_eq(cfg.journal_fsync, BUYT_JOURNAL_FSYNC_INTERVAL);
    cr_assert_eq(cfg.journal_fsync_interval_ms, 1000);
    cr_assert_eq(cfg.journal_max_bytes, 64u * 1024 * 1024);
    cr_assert_eq(cfg.resend_after_ms, 30000);
    cr_assert_eq(cfg.replay_batch_records, 1000);
    cr_assert_eq(cfg.replay_batch_bytes, 65536);
    cr_assert_eq(cfg.report.moving_interval_ms, 1000);
    cr_assert_eq(cfg.report.standing_interval_ms, 30000);
    cr_assert_eq(cfg.report.moving_speed_cms, 150);
    cr_assert_eq(cfg.report.heading_change_cdeg, 1500);
    cr_assert_eq(cfg.health_interval_ms, 60000);
    cr_assert_not(cfg.rfid[0].enabled);
    cr_assert_not(cfg.has_fleet_key);
}

Test(agent_config, every_key_is_read)
{
    cr_assert_eq(load(BASE "log_level = debug\n"
                           "mqtt_keepalive = 1min\n"
                           "mqtt_backoff_min = 100ms\n"
                           "mqtt_backoff_max = 5s\n"
                           "journal_max_bytes = 128M\n"
                           "journal_segment_bytes = 512k\n"
                           "journal_fsync = always\n"
                           "journal_fsync_interval = 250ms\n"
                           "resend_after = 2min\n"
                           "replay_batch_records = 200\n"
                           "replay_batch_bytes = 32k\n"
                           "gps_baud = 4800\n"
                           "gps_accept_no_checksum = yes\n"
                           "gps_idle = 0\n"
                           "report_moving_interval = 2s\n"
                           "report_standing_interval = 1min\n"
                           "report_moving_speed_cms = 200\n"
                           "report_heading_change_cdeg = 2000\n"
                           "health_interval = 5min\n"
                           "serial_retry_max = 3s\n"
                           "fleet_key = " KEY "\n"
                           "rfid1_device = /dev/ttyS1\n"
                           "rfid1_role = driver\n"
                           "rfid1_framing = em18\n"
                           "rfid1_gap = 30ms\n"
                           "rfid2_device = /dev/ttyS2\n"
                           "rfid2_role = passenger\n"
                           "rfid2_framing = line-dec\n"
                           "rfid2_baud = 115200\n"
                           "rfid2_byte_order = lsb-first\n"
                           "rfid2_dec_uid_bytes = 7\n"
                           "rfid2_debounce = 2s\n"),
                 0, "%s", err);
    cr_assert_eq(cfg.log_level, BUYT_LOG_DEBUG);
    cr_assert_eq(cfg.mqtt_keepalive_s, 60);
    cr_assert_eq(cfg.mqtt_backoff_min_ms, 100);
    cr_assert_eq(cfg.mqtt_backoff_max_ms, 5000);
    cr_assert_eq(cfg.journal_max_bytes, 128u * 1024 * 1024);
    cr_assert_eq(cfg.journal_segment_bytes, 512u * 1024);
    cr_assert_eq(cfg.journal_fsync, BUYT_JOURNAL_FSYNC_ALWAYS);
    cr_assert_eq(cfg.journal_fsync_interval_ms, 250);
    cr_assert_eq(cfg.resend_after_ms, 120000);
    cr_assert_eq(cfg.replay_batch_records, 200);
    cr_assert_eq(cfg.replay_batch_bytes, 32768);
    cr_assert_eq(cfg.gps_baud, 4800);
    cr_assert(cfg.gps_accept_no_checksum);
    cr_assert_eq(cfg.gps_idle_ms, 0);
    cr_assert_eq(cfg.report.moving_interval_ms, 2000);
    cr_assert_eq(cfg.report.standing_interval_ms, 60000);
    cr_assert_eq(cfg.report.moving_speed_cms, 200);
    cr_assert_eq(cfg.report.heading_change_cdeg, 2000);
    cr_assert_eq(cfg.health_interval_ms, 300000);
    cr_assert_eq(cfg.serial_retry_max_ms, 3000);
    cr_assert(cfg.has_fleet_key);
    cr_assert_eq(cfg.fleet_key.len, 32);
    cr_assert(cfg.rfid[0].enabled);
    cr_assert_eq(cfg.rfid[0].role, BUYT_AGENT_RFID_DRIVER);
    cr_assert_eq(cfg.rfid[0].rfid.framing, BUYT_RFID_EM18);
    cr_assert_eq(cfg.rfid[0].gap_ms, 30);
    cr_assert_eq(cfg.rfid[0].baud, 9600);
    cr_assert_str_eq(cfg.rfid[1].device, "/dev/ttyS2");
    cr_assert_eq(cfg.rfid[1].role, BUYT_AGENT_RFID_PASSENGER);
    cr_assert_eq(cfg.rfid[1].rfid.framing, BUYT_RFID_LINE_DEC);
    cr_assert_eq(cfg.rfid[1].rfid.byte_order, BUYT_RFID_LSB_FIRST);
    cr_assert_eq(cfg.rfid[1].rfid.dec_uid_bytes, 7);
    cr_assert_eq(cfg.rfid[1].baud, 115200);
    cr_assert_eq(cfg.rfid[1].debounce_ms, 2000);
    buyt_agent_config_clear(&cfg);
    cr_assert_not(cfg.has_fleet_key);
    cr_assert_eq(cfg.mqtt_url[0], 0);
}

Test(agent_config, the_shipped_example_is_valid)
{
    err[0] = '\0';
    cr_assert_eq(buyt_agent_config_load(&cfg,
                                        BUYT_SOURCE_DIR "/deploy/onboard/buyt-onboard.conf.example",
                                        err, sizeof err),
                 0, "%s", err);
    buyt_agent_config_clear(&cfg);
}

Test(agent_config, missing_required_key_is_named)
{
    cr_assert_eq(load("agency = hn\nmqtt_url = mqtt://h\njournal_dir = /j\ngps_device = /d\n"),
                 BUYT_EINVAL);
    cr_assert_str_eq(msg(), "F: vehicle_id is required");
    cr_assert_eq(load("agency = hn\nvehicle_id = v\njournal_dir = /j\nmqtt_url = mqtt://h\n"),
                 BUYT_EINVAL);
    cr_assert_str_eq(msg(), "F: gps_device is required");
}

Test(agent_config, unknown_key_and_bad_values_give_file_and_line)
{
    cr_assert_eq(load(BASE "gps_baudrate = 9600\n"), BUYT_EINVAL);
    cr_assert_str_eq(msg(), "F:6: unknown key 'gps_baudrate'");
    cr_assert_eq(load(BASE "\n# comment\ngps_baud = 9601\n"), BUYT_EINVAL);
    cr_assert_str_eq(
        msg(), "F:8: gps_baud: not a supported speed (4800, 9600, 19200, 38400, 57600, 115200)");
    cr_assert_eq(load(BASE "report_moving_interval = 100ms\n"), BUYT_EINVAL);
    cr_assert_str_eq(msg(), "F:6: report_moving_interval: out of range (200..60000 ms)");
    cr_assert_eq(load(BASE "health_interval = soon\n"), BUYT_EINVAL);
    cr_assert_str_eq(msg(), "F:6: health_interval: not a duration (e.g. 500ms, 30s, 2min)");
    cr_assert_eq(load(BASE "journal_fsync = sometimes\n"), BUYT_EINVAL);
    cr_assert_str_eq(msg(), "F:6: journal_fsync: not a policy (always, interval, never)");
    cr_assert_eq(load("vehicle_id = 29B/100\n"), BUYT_EINVAL);
    cr_assert_str_eq(msg(), "F:1: vehicle_id: 1-32 characters of A-Z a-z 0-9 _ . - expected");
    cr_assert_eq(load("mqtt_url = http://x\n"), BUYT_EINVAL);
    cr_assert_str_eq(msg(), "F:1: mqtt_url: not mqtt://[USER[:PASS]@]HOST[:PORT] or mqtts://...");
    cr_assert_eq(load(BASE "rfid3_device = /dev/ttyS3\n"), BUYT_EINVAL);
    cr_assert_str_eq(msg(), "F:6: unknown key 'rfid3_device'");
}

Test(agent_config, bad_fleet_key_is_explained_without_quoting_it)
{
    cr_assert_eq(load(BASE "fleet_key = 00112233\n"), BUYT_EINVAL);
    cr_assert_not_null(strstr(msg(), "F:6: fleet_key: "));
    cr_assert_null(strstr(err, "00112233"));
    cr_assert_not(cfg.has_fleet_key);
}

Test(agent_config, reader_needs_a_role_a_framing_and_the_fleet_key)
{
    cr_assert_eq(load(BASE "rfid1_device = /dev/ttyS1\nrfid1_framing = rdm6300\n"), BUYT_EINVAL);
    cr_assert_str_eq(msg(), "F: rfid1_role is required (driver or passenger)");
    cr_assert_eq(load(BASE "rfid2_device = /dev/ttyS1\nrfid2_role = driver\n"), BUYT_EINVAL);
    cr_assert_str_eq(msg(), "F: rfid2_framing is required");
    cr_assert_eq(load(BASE "rfid1_device = /dev/ttyS1\nrfid1_role = driver\n"
                           "rfid1_framing = rdm6300\n"),
                 BUYT_EINVAL);
    cr_assert_str_eq(msg(), "F: fleet_key is required with an RFID reader");
    cr_assert_eq(load(BASE "rfid1_role = driver\n"), BUYT_EINVAL);
    cr_assert_str_eq(msg(), "F: rfid1_* keys without rfid1_device");
    cr_assert_eq(load(BASE "rfid1_role = conductor\n"), BUYT_EINVAL);
    cr_assert_str_eq(msg(), "F:6: rfid1_role: not a role (driver, passenger)");
}

Test(agent_config, a_device_cannot_be_used_twice)
{
    cr_assert_eq(load(BASE "fleet_key = " KEY "\n"
                           "rfid1_device = /dev/ttyS1\nrfid1_role = driver\nrfid1_framing = em18\n"
                           "rfid2_device = /dev/ttyS1\nrfid2_role = passenger\n"
                           "rfid2_framing = em18\n"),
                 BUYT_EINVAL);
    cr_assert_str_eq(msg(), "F: rfid2_device is also rfid1_device");
    cr_assert_eq(load(BASE "fleet_key = " KEY "\n"
                           "rfid1_device = /dev/ttyUSB0\nrfid1_role = driver\n"
                           "rfid1_framing = em18\n"),
                 BUYT_EINVAL);
    cr_assert_str_eq(msg(), "F: rfid1_device is the gps_device");
}

Test(agent_config, tls_files_need_mqtts_exist_and_pair)
{
    cr_assert_eq(load(BASE "mqtt_cafile = /etc/hostname\n"), BUYT_EINVAL);
    cr_assert_str_eq(msg(), "F: mqtt_cafile/mqtt_certfile/mqtt_keyfile need an mqtts:// url");
    cr_assert_eq(load("agency = hn\nvehicle_id = v\njournal_dir = /j\ngps_device = /d\n"
                      "mqtt_url = mqtts://v:p@broker\nmqtt_certfile = /etc/hostname\n"),
                 BUYT_EINVAL);
    cr_assert_str_eq(msg(), "F: mqtt_certfile and mqtt_keyfile go together");
    cr_assert_eq(load("agency = hn\nvehicle_id = v\njournal_dir = /j\ngps_device = /d\n"
                      "mqtt_url = mqtts://v:p@broker\nmqtt_cafile = /nonexistent/ca.pem\n"),
                 BUYT_EINVAL);
    cr_assert_str_eq(msg(), "F: mqtt_cafile /nonexistent/ca.pem: No such file or directory");
    cr_assert_eq(load("agency = hn\nvehicle_id = v\njournal_dir = /j\ngps_device = /d\n"
                      "mqtt_url = mqtts://v:p@broker\nmqtt_cafile = /etc/hostname\n"),
                 0, "%s", err);
}

Test(agent_config, journal_sizes_must_hold_two_segments)
{
    cr_assert_eq(load(BASE "journal_max_bytes = 1M\njournal_segment_bytes = 1M\n"), BUYT_EINVAL);
    cr_assert_str_eq(msg(), "F: journal_max_bytes must be at least 2 x journal_segment_bytes");
    cr_assert_eq(load(BASE "replay_batch_bytes = 1M\n"), BUYT_EINVAL);
    cr_assert_str_eq(msg(), "F:6: replay_batch_bytes: out of range (4096..196608 bytes)");
}

Test(agent_config, unreadable_file_is_one_line)
{
    cr_assert_eq(buyt_agent_config_load(&cfg, "/nonexistent/buyt.conf", err, sizeof err), BUYT_EIO);
    cr_assert_str_eq(err, "/nonexistent/buyt.conf: No such file or directory");
}
