/* buyt-onboard end to end: a real 26-minute drive (NMEA through a pseudo-terminal) and RFID
 * frames (two more pseudo-terminals) into the real program, out through the real broker with a
 * device account, decoded by a subscriber: every record arrives, gap-free, exactly what the
 * parser and the reporting policy say. And the broker's ACL keeps a bus to its own topics. */
#include "onboard_kit.h"

static const uint8_t SEEED_UID[5] = {0x62, 0xE3, 0x08, 0x6C, 0xED}; /* card 3808980205 */
static const uint8_t PASSENGER_UID[5] = {0x67, 0x00, 0x3B, 0x51, 0xC6};
static const uint8_t UNKNOWN_UID[5] = {0x01, 0x02, 0x03, 0x04, 0x05};

static void card_id(const uint8_t uid[5], uint8_t out[16])
{
    struct buyt_cardid_key key;
    cr_assert_eq(buyt_cardid_key_parse(&key, KIT_FLEET_KEY, NULL), 0);
    cr_assert_eq(buyt_cardid_hmac(&key, uid, 5, out), 0);
    buyt_cardid_key_clear(&key);
}

static void read_file(const char *rel, uint8_t *buf, size_t *len)
{
    char path[512];
    if (!buyt_test_shared_data(rel, path, sizeof path))
        cr_skip_test("shared test data absent: test skipped");
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    *len = fread(buf, 1, 64, f);
    fclose(f);
}

struct count_wait {
    struct kit_sub *s;
    int body;
    size_t n;
};

static bool has_count(void *arg)
{
    struct count_wait *w = arg;
    return kit_count_body(w->s, w->body) >= w->n;
}

static void wait_count(struct kit_sub *s, int body, size_t n)
{
    struct count_wait w = {s, body, n};
    cr_assert(buyt_test_run_until(&s->loop, has_count, &w, 10000), "record kind %d #%zu missing",
              body, n);
}

/* The n-th (1-based) record of a kind, by seq. */
static const Buyt__V1__Record *nth(const struct kit_sub *s, int body, size_t n)
{
    for (uint64_t q = 1; q <= s->max_seq; q++)
        if (s->recs[q].r && (int)s->recs[q].r->body_case == body && --n == 0)
            return s->recs[q].r;
    cr_assert_fail("record kind %d not found", body);
    return NULL;
}

Test(onboard_drive, drive_and_card_taps_arrive_complete_exact_and_gap_free, .init = kit_setup,
     .fini = kit_teardown, .timeout = 300)
{
    struct kit_drive d;
    /* A corrupted sentence in epoch 100: refused, counted in Health.nmea_rejected. */
    kit_drive_load(&d, buyt_wall_ms() - 60000, 100, "$GPGGA,170012,4901.6,N*00\r\n");
    const size_t events[] = {150, 300, 450, 600}; /* driver in, passenger, unknown, driver out */
    struct kit_expect x = {0};
    kit_expect_run(&x, &d, 0, d.n, events, 4, true);
    cr_assert_gt(x.n, 400, "the policy reports most of a moving drive");
    cr_assert_geq(x.nmea_rejected, 1);

    uint8_t pas_frame[64], bad_frame[64];
    size_t pas_len, bad_len;
    read_file("rfid/pyrdm6300_67003B51C6.bin", pas_frame, &pas_len);
    read_file("rfid/pyrdm6300_bad_68003B51C6.bin", bad_frame, &bad_len);
    cr_assert_eq(pas_len, 14);

    struct kit_pty gps, drv, pas;
    kit_pty_open(&gps);
    kit_pty_open(&drv);
    kit_pty_open(&pas);
    char drivers[256], extra[1024];
    snprintf(drivers, sizeof drivers, "%s/drivers.txt", kit_dir);
    FILE *f = fopen(drivers, "w");
    fputs("# card       driver  name\n3808980205   D001    Test Driver\n", f);
    fclose(f);
    snprintf(extra, sizeof extra,
             "fleet_key = " KIT_FLEET_KEY "\ndrivers_file = %s\n"
             "rfid1_device = %s\nrfid1_role = driver\nrfid1_framing = em18\n"
             "rfid2_device = %s\nrfid2_role = passenger\nrfid2_framing = rdm6300\n",
             drivers, drv.path, pas.path);

    struct kit_sub s;
    kit_sub_start(&s, "T1-DRIVE");
    kit_sub_wait_ready(&s);
    struct kit_agent a;
    kit_agent_init(&a, "T1-DRIVE", 0, gps.path, extra);
    uint64_t t0 = buyt_mono_ns();
    kit_agent_start(&a);
    kit_sub_wait_online(&s);

    kit_feed(&s, &d, &gps, 0, 151);
    kit_sleep(&s, 300);
    kit_pty_write(&drv, "62E3086CED08", 12); /* em18: no delimiters, ended by the idle gap */
    wait_count(&s, BUYT__V1__RECORD__BODY_DRIVER_EVENT, 1);

    kit_feed(&s, &d, &gps, 151, 301);
    kit_sleep(&s, 300);
    for (int i = 0; i < 3; i++) { /* a card held in the field: one tap */
        kit_pty_write(&pas, pas_frame, pas_len);
        kit_sleep(&s, 80);
    }
    kit_pty_write(&pas, bad_frame, bad_len);
    wait_count(&s, BUYT__V1__RECORD__BODY_CARD_TAP, 1);

    kit_feed(&s, &d, &gps, 301, 451);
    kit_sleep(&s, 300);
    kit_pty_write(&drv, "\r\n010203040501\r\n", 16); /* a card not in the list */
    wait_count(&s, BUYT__V1__RECORD__BODY_DRIVER_EVENT, 2);

    kit_feed(&s, &d, &gps, 451, 601);
    kit_sleep(&s, 300);
    kit_pty_write(&drv, "62E3086CED08", 12);
    wait_count(&s, BUYT__V1__RECORD__BODY_DRIVER_EVENT, 3);

    kit_feed(&s, &d, &gps, 601, d.n);
    kit_sleep(&s, 300);
    const Buyt__V1__Record *hr = kit_health(&s, 1);
    uint64_t elapsed_s = (buyt_mono_ns() - t0) / 1000000000u;
    uint64_t n = hr->seq;
    /* start Health + fixes + sign-in + tap + unknown card + sign-out + requested Health */
    cr_assert_eq(n, x.n + 6);
    cr_assert(kit_sub_wait_seqs(&s, n, 15000), "records missing");
    kit_assert_gap_free(&s, n);
    kit_assert_fixes(&s, 1, n, &x, 0, x.n, &d);
    cr_assert_eq(s.recs[1].r->body_case, BUYT__V1__RECORD__BODY_HEALTH, "a Health at start");

    uint8_t seeed[16], passenger[16], unknown[16];
    card_id(SEEED_UID, seeed);
    card_id(PASSENGER_UID, passenger);
    card_id(UNKNOWN_UID, unknown);
    int64_t now = buyt_wall_ms();

    const Buyt__V1__Record *r = nth(&s, BUYT__V1__RECORD__BODY_DRIVER_EVENT, 1);
    const Buyt__V1__DriverEvent *de = r->driver_event;
    cr_assert_eq(de->kind, BUYT__V1__DRIVER_EVENT_KIND__DRIVER_EVENT_SIGN_IN);
    cr_assert_str_eq(de->driver_id, "D001");
    cr_assert_eq(de->card_id.len, 16);
    cr_assert_arr_eq(de->card_id.data, seeed, 16);
    cr_assert_not_null(de->position);
    cr_assert(x.event_has_pos[0] && x.event_has_pos[1] && x.event_has_pos[2] && x.event_has_pos[3]);
    cr_assert(kit_fix_equal(de->position, &x.event_pos[0]), "sign-in at epoch 150's position");
    cr_assert_str_empty(de->route_id);
    cr_assert_leq(llabs(now - (int64_t)r->time_ms), 120000);

    r = nth(&s, BUYT__V1__RECORD__BODY_CARD_TAP, 1);
    cr_assert_eq(kit_count_body(&s, BUYT__V1__RECORD__BODY_CARD_TAP), 1, "debounced: one tap");
    cr_assert_eq(r->card_tap->role, BUYT__V1__READER_ROLE__READER_ROLE_PASSENGER);
    cr_assert_arr_eq(r->card_tap->card_id.data, passenger, 16);
    cr_assert(kit_fix_equal(r->card_tap->position, &x.event_pos[1]), "tap at epoch 300's position");

    de = nth(&s, BUYT__V1__RECORD__BODY_DRIVER_EVENT, 2)->driver_event;
    cr_assert_eq(de->kind, BUYT__V1__DRIVER_EVENT_KIND__DRIVER_EVENT_UNKNOWN_CARD);
    cr_assert_str_empty(de->driver_id);
    cr_assert_arr_eq(de->card_id.data, unknown, 16);
    cr_assert(kit_fix_equal(de->position, &x.event_pos[2]));

    de = nth(&s, BUYT__V1__RECORD__BODY_DRIVER_EVENT, 3)->driver_event;
    cr_assert_eq(de->kind, BUYT__V1__DRIVER_EVENT_KIND__DRIVER_EVENT_SIGN_OUT);
    cr_assert_str_eq(de->driver_id, "D001");
    cr_assert_arr_eq(de->card_id.data, seeed, 16);
    cr_assert(kit_fix_equal(de->position, &x.event_pos[3]));
    cr_assert_eq(kit_count_body(&s, BUYT__V1__RECORD__BODY_DRIVER_EVENT), 3);

    const Buyt__V1__Health *h = hr->health;
    cr_assert_eq(h->nmea_rejected, x.nmea_rejected);
    cr_assert_eq(h->rfid_rejected, 1, "the bad-checksum frame");
    cr_assert_eq(h->serial_errors, 0);
    cr_assert_eq(h->gps_state, BUYT__V1__GPS_STATE__GPS_STATE_FIX);
    cr_assert_eq(h->satellites, x.last_sats);
    cr_assert_eq(h->journal_records, n - 1, "nothing acknowledged: all but itself kept");
    cr_assert_eq(h->journal_dropped, 0);
    cr_assert_eq(h->journal_torn, 0);
    cr_assert_str_eq(h->version, "0.1.0");
    cr_assert_leq(h->uptime_s, elapsed_s + 1);
    cr_assert_geq(h->uptime_s + 2, elapsed_s);
    cr_assert_leq(h->oldest_unacked_age_s, elapsed_s + 1);
    cr_assert_geq(h->oldest_unacked_age_s + 3, elapsed_s);

    /* SIGTERM: exit 0, retained OFFLINE, and nothing published afterwards. */
    size_t msgs = s.n_msgs;
    cr_assert_eq(kit_agent_stop(&a), 0, "exit status");
    kit_sleep(&s, 1000);
    cr_assert_eq(s.status_state, BUYT__V1__DEVICE_STATE__DEVICE_STATE_OFFLINE);
    cr_assert_eq(s.n_msgs, msgs, "telemetry after SIGTERM");
    for (size_t i = 0; i < s.n_msgs; i++)
        cr_assert_leq(s.msgs[i].n, 1000, "batches are bounded by replay_batch_records");

    kit_sub_close(&s);
    kit_pty_close(&gps);
    kit_pty_close(&drv);
    kit_pty_close(&pas);
    kit_expect_free(&x);
    kit_drive_free(&d);
    kit_passed = true;
}

/* ---------------------------------------------------------------- ACL */

struct acl_ctx {
    bool up;
    int cmds;
};

static void dev_on_connect(struct buyt_mqtt *m, void *ud)
{
    (void)m;
    ((struct acl_ctx *)ud)->up = true;
}

static void dev_on_message(struct buyt_mqtt *m, const char *topic, const void *p, size_t len,
                           int qos, bool retained, void *ud)
{
    (void)m, (void)topic, (void)p, (void)len, (void)qos, (void)retained;
    ((struct acl_ctx *)ud)->cmds++;
}

static bool dev_up(void *arg)
{
    return ((struct acl_ctx *)arg)->up;
}

static void publish_telemetry(struct buyt_mqtt *m, const char *vehicle)
{
    Buyt__V1__Health h = BUYT__V1__HEALTH__INIT;
    h.version = "0.1.0";
    Buyt__V1__Record r = BUYT__V1__RECORD__INIT;
    r.seq = 1;
    r.time_ms = (uint64_t)buyt_wall_ms();
    r.body_case = BUYT__V1__RECORD__BODY_HEALTH;
    r.health = &h;
    Buyt__V1__Record *rs[1] = {&r};
    Buyt__V1__Telemetry t = BUYT__V1__TELEMETRY__INIT;
    t.vehicle_id = (char *)vehicle;
    t.n_records = 1;
    t.records = rs;
    uint8_t buf[256];
    size_t len;
    cr_assert_eq(buyt_telemetry_encode(&t, buyt_wall_ms(), buf, sizeof buf, &len),
                 BUYT_REJECT_NONE);
    char topic[BUYT_TOPIC_MAX];
    buyt_topic_format(topic, sizeof topic, BUYT_TOPIC_TELEMETRY, KIT_AGENCY, vehicle);
    cr_assert_eq(buyt_mqtt_publish(m, topic, buf, len, 1, false, NULL), 0);
}

Test(onboard_drive, a_bus_account_publishes_and_reads_only_its_own_topics, .init = kit_setup,
     .fini = kit_teardown)
{
    buyt_test_mqtt_account("T6-A", "pw-a");
    struct kit_sub s;
    kit_sub_start(&s, "T6-A");
    kit_sub_wait_ready(&s);

    struct acl_ctx c = {0};
    char url[256];
    snprintf(url, sizeof url, "mqtt://T6-A:pw-a@%s:%s", buyt_test_env("BUYT_MQTT_HOST"),
             buyt_test_env("BUYT_MQTT_PORT"));
    struct buyt_mqtt_opts o = {.url = url, .client_id = "T6-A", .clean_session = true};
    struct buyt_mqtt_callbacks cb = {.on_connect = dev_on_connect, .on_message = dev_on_message};
    struct buyt_mqtt *dev;
    cr_assert_eq(buyt_mqtt_new(&s.loop, &o, &cb, &c, &dev), 0);
    buyt_mqtt_start(dev);
    cr_assert(buyt_test_run_until(&s.loop, dev_up, &c, 10000), "device account refused");
    buyt_mqtt_subscribe(dev, "buyt/v1/" KIT_AGENCY "/vehicle/T6-B/cmd", 1); /* not its own */
    kit_sleep(&s, 300);

    publish_telemetry(dev, "T6-B"); /* posing as another bus: the broker drops it */
    publish_telemetry(dev, "T6-A");
    uint8_t cmd[2] = {0x08, 0x01}; /* Command{command_id: 1} */
    buyt_mqtt_publish(s.pub, "buyt/v1/" KIT_AGENCY "/vehicle/T6-B/cmd", cmd, 2, 1, false, NULL);
    kit_sleep(&s, 1500);
    cr_assert_eq(s.foreign_telemetry, 0, "T6-A published on T6-B's topic");
    cr_assert_eq(s.n_msgs, 1, "T6-A's own telemetry arrives");
    cr_assert_eq(c.cmds, 0, "T6-A read T6-B's commands");

    buyt_mqtt_subscribe(dev, "buyt/v1/" KIT_AGENCY "/vehicle/T6-A/cmd", 1);
    kit_sleep(&s, 300);
    buyt_mqtt_publish(s.pub, "buyt/v1/" KIT_AGENCY "/vehicle/T6-A/cmd", cmd, 2, 1, false, NULL);
    kit_sleep(&s, 1000);
    cr_assert_eq(c.cmds, 1, "T6-A reads its own commands");

    buyt_mqtt_close(dev, NULL, NULL);
    kit_sub_close(&s);
    kit_passed = true;
}
