/* The onboard agent: inputs -> records -> journal -> uplink; see agent.h and docs/ONBOARD.md. */
#include "agent.h"

#include "clock.h"
#include "command.h"
#include "contract.h"
#include "drivers.h"
#include "error.h"
#include "frame.h"
#include "journal.h"
#include "log.h"
#include "mqtt.h"
#include "nmea.h"
#include "report.h"
#include "serial.h"
#include "topics.h"
#include "uplink.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define MOD "agent"
#define POSITION_MAX_AGE_MS 10000u /* a tap carries the last good fix if it is this fresh */
#define GPS_STALE_MS 5000u         /* Health: no sentence / no fix for this long */
#define STATUS_PUBACK_WAIT_MS 2000u
#define APPEND_ERROR_LOG_PERIOD_MS 60000u

struct buyt_agent;

struct reader {
    struct buyt_agent *a;
    unsigned index; /* 1-based, as in the rfidN_ keys */
    const struct buyt_agent_rfid_config *cfg;
    struct buyt_serial *serial;
    struct buyt_rfid_decoder dec;
    struct buyt_rfid_debounce db;
    uv_timer_t gap_timer; /* em18: a quiet line ends a frame */
    char name[8];
};

struct reload {
    uv_work_t work;
    struct buyt_agent *a;
    struct buyt_drivers *list;
    int rc;
};

struct buyt_agent {
    uv_loop_t *loop;
    struct buyt_agent_config cfg;
    uint64_t boot_id;
    int64_t start_wall_ms;
    uint64_t start_mono_ms;
    char t_telemetry[BUYT_TOPIC_MAX], t_status[BUYT_TOPIC_MAX], t_cmd[BUYT_TOPIC_MAX],
        t_reply[BUYT_TOPIC_MAX], t_ack[BUYT_TOPIC_MAX];

    struct buyt_journal *journal;
    struct buyt_uplink *uplink;
    struct buyt_mqtt *mqtt;

    /* GNSS */
    struct buyt_serial *gps;
    struct buyt_nmea_parser nmea;
    uv_timer_t gps_idle_timer;
    uint64_t nmea_accepted; /* parser's accepted count at the last read */
    bool sentence_seen, epoch_seen, epoch_valid, sats_known;
    uint64_t sentence_ms, epoch_ms; /* uv_now() of the last accepted sentence, last epoch */
    uint32_t satellites;
    bool have_fix;
    uint64_t fix_ms;
    Buyt__V1__Fix fix; /* last good fix, for taps */
    struct buyt_report report;
    uint64_t undated_epochs;

    /* RFID */
    struct reader readers[BUYT_AGENT_RFID_MAX];
    unsigned n_readers;
    struct buyt_drivers *drivers;
    struct buyt_drivers_state driver_state;
    struct buyt_assignment assignment;
    struct reload *reload; /* running reload, or NULL */

    uv_timer_t health_timer;
    uint64_t records, refused, append_failed, last_append_log_ms, last_refused_log_ms;
    uint8_t rec_buf[2048];

    /* shutdown */
    bool stopping, mqtt_closing;
    uint64_t stop_started_ms;
    int pending;
    int status_mid;
    uv_timer_t stop_timer;
    void (*done)(void *);
    void *done_arg;
};

/* ------------------------------------------------------------------ records */

/* Validates, encodes and journals `r` (borrowed), then lets the uplink publish it. */
static int emit(struct buyt_agent *a, Buyt__V1__Record *r)
{
    r->seq = buyt_journal_next_seq(a->journal);
    size_t len;
    enum buyt_reject why = buyt_frame_record(r, a->rec_buf, sizeof a->rec_buf, &len);
    if (why != BUYT_REJECT_NONE) {
        a->refused++;
        uint64_t now = uv_now(a->loop);
        if (!a->last_refused_log_ms || now - a->last_refused_log_ms >= APPEND_ERROR_LOG_PERIOD_MS) {
            a->last_refused_log_ms = now;
            BUYT_ERROR(MOD,
                       "msg=\"record refused by the contract, not journaled\" body=%d reason=%s "
                       "refused=%" PRIu64,
                       (int)r->body_case, buyt_reject_name(why), a->refused);
        }
        return BUYT_EINVAL;
    }
    uint64_t seq;
    int rc = buyt_journal_append(a->journal, r->time_ms, a->rec_buf, len, &seq);
    if (rc) {
        a->append_failed++;
        uint64_t now = uv_now(a->loop);
        if (!a->last_append_log_ms || now - a->last_append_log_ms >= APPEND_ERROR_LOG_PERIOD_MS) {
            a->last_append_log_ms = now;
            BUYT_ERROR(MOD, "msg=\"journal append failed: record lost\" err=\"%s\" lost=%" PRIu64,
                       buyt_strerror(rc), a->append_failed);
        }
        return rc;
    }
    a->records++;
    if (!a->stopping)
        buyt_uplink_appended(a->uplink);
    return 0;
}

/* The last good fix if fresh enough to locate an event, else NULL (the contract's "no fix"). */
static Buyt__V1__Fix *event_position(struct buyt_agent *a)
{
    if (!a->have_fix || uv_now(a->loop) - a->fix_ms > POSITION_MAX_AGE_MS)
        return NULL;
    return &a->fix;
}

static Buyt__V1__GpsState gps_state(const struct buyt_agent *a)
{
    if (!a->gps || !buyt_serial_is_open(a->gps))
        return BUYT__V1__GPS_STATE__GPS_STATE_NO_DEVICE;
    uint64_t now = uv_now(a->loop);
    if (!a->sentence_seen || now - a->sentence_ms > GPS_STALE_MS)
        return BUYT__V1__GPS_STATE__GPS_STATE_NO_DATA;
    if (a->epoch_seen && a->epoch_valid && now - a->epoch_ms <= GPS_STALE_MS)
        return BUYT__V1__GPS_STATE__GPS_STATE_FIX;
    return BUYT__V1__GPS_STATE__GPS_STATE_NO_FIX;
}

static void emit_health(struct buyt_agent *a)
{
    struct buyt_journal_stats js;
    buyt_journal_stats(a->journal, &js);
    int64_t wall = buyt_wall_ms();
    Buyt__V1__Health h = BUYT__V1__HEALTH__INIT;
    h.uptime_s = (uint32_t)((uv_now(a->loop) - a->start_mono_ms) / 1000);
    h.journal_records = js.records;
    h.journal_bytes = js.bytes;
    if (js.oldest_time_ms && (int64_t)js.oldest_time_ms < wall) {
        uint64_t age = (uint64_t)(wall - (int64_t)js.oldest_time_ms) / 1000;
        h.oldest_unacked_age_s = age > UINT32_MAX ? UINT32_MAX : (uint32_t)age;
    }
    h.gps_state = gps_state(a);
    h.satellites = a->sats_known ? a->satellites : 0;
    const struct buyt_nmea_stats *ns = buyt_nmea_stats_get(&a->nmea);
    for (int i = 1; i < BUYT_NMEA_REJECT__COUNT; i++)
        h.nmea_rejected += ns->rejected[i];
    struct buyt_serial_stats ss;
    buyt_serial_stats(a->gps, &ss);
    h.serial_errors = ss.errors;
    for (unsigned i = 0; i < a->n_readers; i++) {
        const struct reader *r = &a->readers[i];
        for (int k = 1; k < BUYT_RFID_REJECT__COUNT; k++)
            h.rfid_rejected += r->dec.rejects[k];
        buyt_serial_stats(r->serial, &ss);
        h.serial_errors += ss.errors;
    }
    h.journal_dropped = js.dropped;
    h.journal_torn = js.torn;
    h.version = BUYT_ONBOARD_VERSION;
    Buyt__V1__Record r = BUYT__V1__RECORD__INIT;
    r.time_ms = (uint64_t)wall;
    r.body_case = BUYT__V1__RECORD__BODY_HEALTH;
    r.health = &h;
    emit(a, &r);
}

static void on_health_timer(uv_timer_t *t)
{
    emit_health(t->data);
}

/* ------------------------------------------------------------------ GNSS */

/* The one place that turns the parser's epoch into the policy's input and a Fix record. */
static void on_fix(const struct buyt_nmea_fix *fix, void *arg)
{
    struct buyt_agent *a = arg;
    uint64_t now = uv_now(a->loop);
    bool valid = fix->mode == BUYT_NMEA_MODE_2D || fix->mode == BUYT_NMEA_MODE_3D;
    a->epoch_seen = true;
    a->epoch_ms = now;
    a->epoch_valid = valid;
    if (fix->fields & BUYT_NMEA_FIELD_SATELLITES) {
        a->sats_known = true;
        a->satellites = fix->satellites;
    }
    Buyt__V1__Fix pf = BUYT__V1__FIX__INIT;
    buyt_nmea_fix_to_proto(fix, &pf);
    if (valid) {
        a->fix = pf;
        a->have_fix = true;
        a->fix_ms = now;
    }
    if (!(fix->flags & BUYT_NMEA_FIX_TIME)) {
        a->undated_epochs++; /* no date yet (GGA before the first RMC/ZDA): not a record */
        return;
    }
    struct buyt_report_input in = {
        .time_ms = fix->time_ms,
        .valid = valid,
        .has_speed = valid && (fix->fields & BUYT_NMEA_FIELD_SPEED),
        .speed_cms = fix->speed_cms,
        .has_course = valid && (fix->fields & BUYT_NMEA_FIELD_COURSE),
        .course_cdeg = fix->course_cdeg,
    };
    enum buyt_report_reason why = buyt_report_fix(&a->report, &in);
    if (why == BUYT_REPORT_NO)
        return;
    BUYT_DEBUG(MOD, "msg=fix reason=%s time_ms=%" PRId64 " lat_e7=%d lon_e7=%d speed_cms=%u",
               buyt_report_reason_name(why), fix->time_ms, pf.lat_e7, pf.lon_e7, pf.speed_cms);
    Buyt__V1__Record r = BUYT__V1__RECORD__INIT;
    r.time_ms = (uint64_t)fix->time_ms;
    r.body_case = BUYT__V1__RECORD__BODY_FIX;
    r.fix = &pf;
    emit(a, &r);
}

static void on_gps_idle(uv_timer_t *t)
{
    struct buyt_agent *a = t->data;
    buyt_nmea_epoch_end(&a->nmea);
}

static void on_gps_data(struct buyt_serial *s, const uint8_t *buf, size_t len, void *ud)
{
    (void)s;
    struct buyt_agent *a = ud;
    buyt_nmea_feed(&a->nmea, buf, len);
    uint64_t accepted = buyt_nmea_stats_get(&a->nmea)->accepted;
    if (accepted != a->nmea_accepted) {
        a->nmea_accepted = accepted;
        a->sentence_seen = true;
        a->sentence_ms = uv_now(a->loop);
    }
    if (a->cfg.gps_idle_ms && !a->stopping)
        uv_timer_start(&a->gps_idle_timer, on_gps_idle, a->cfg.gps_idle_ms, 0);
}

static void on_gps_state(struct buyt_serial *s, bool open, int err, void *ud)
{
    (void)s, (void)err;
    struct buyt_agent *a = ud;
    if (!open)
        buyt_nmea_flush(&a->nmea); /* a sentence cut by the unplug is rejected, not glued */
}

/* ------------------------------------------------------------------ RFID */

static void emit_driver_event(struct buyt_agent *a, const struct buyt_drivers_event *e)
{
    Buyt__V1__DriverEvent ev = BUYT__V1__DRIVER_EVENT__INIT;
    ev.kind = (Buyt__V1__DriverEventKind)e->kind;
    ev.driver_id = (char *)e->driver_id;
    ev.card_id.data = (uint8_t *)e->card_id;
    ev.card_id.len = BUYT_CARDID_BYTES;
    ev.route_id = a->assignment.route_id;
    ev.trip_id = a->assignment.trip_id;
    ev.run_id = a->assignment.run_id;
    ev.position = event_position(a);
    Buyt__V1__Record r = BUYT__V1__RECORD__INIT;
    r.time_ms = (uint64_t)buyt_wall_ms();
    r.body_case = BUYT__V1__RECORD__BODY_DRIVER_EVENT;
    r.driver_event = &ev;
    static const char *const kinds[] = {"", "sign_in", "sign_out", "unknown_card"};
    BUYT_INFO(MOD, "msg=\"driver event\" kind=%s driver=%s", kinds[e->kind & 3],
              e->driver_id[0] ? e->driver_id : "-");
    emit(a, &r);
}

/* Decoder callback: the clear UID lives only during this call (docs/RFID.md). */
static void on_card(void *arg, const struct buyt_rfid_card *card, enum buyt_rfid_reject reason)
{
    struct reader *rd = arg;
    struct buyt_agent *a = rd->a;
    if (!card) {
        BUYT_DEBUG(MOD, "msg=\"rfid frame rejected\" reader=%s reason=%s", rd->name,
                   buyt_rfid_reject_name(reason));
        return;
    }
    uint8_t id[BUYT_CARDID_BYTES];
    int rc = buyt_cardid_compute(&a->cfg.fleet_key, card, id);
    if (rc) {
        BUYT_ERROR(MOD, "msg=\"card id failed\" reader=%s err=\"%s\"", rd->name, buyt_strerror(rc));
        return;
    }
    if (!buyt_rfid_debounce_check(&rd->db, id, sizeof id, (int64_t)uv_now(a->loop)))
        return;
    if (rd->cfg->role == BUYT_AGENT_RFID_PASSENGER) {
        Buyt__V1__CardTap tap = BUYT__V1__CARD_TAP__INIT;
        tap.role = BUYT__V1__READER_ROLE__READER_ROLE_PASSENGER;
        tap.card_id.data = id;
        tap.card_id.len = sizeof id;
        tap.position = event_position(a);
        Buyt__V1__Record r = BUYT__V1__RECORD__INIT;
        r.time_ms = (uint64_t)buyt_wall_ms();
        r.body_case = BUYT__V1__RECORD__BODY_CARD_TAP;
        r.card_tap = &tap;
        emit(a, &r);
    } else {
        struct buyt_drivers_event ev[2];
        int n = buyt_drivers_tap(a->drivers, &a->driver_state, card, id, ev);
        for (int i = 0; i < n; i++)
            emit_driver_event(a, &ev[i]);
    }
    buyt_report_event(&a->report);
}

static void on_rfid_gap(uv_timer_t *t)
{
    struct reader *rd = t->data;
    buyt_rfid_gap(&rd->dec, on_card, rd);
}

static void on_rfid_data(struct buyt_serial *s, const uint8_t *buf, size_t len, void *ud)
{
    (void)s;
    struct reader *rd = ud;
    buyt_rfid_feed(&rd->dec, buf, len, on_card, rd);
    if (rd->cfg->rfid.framing == BUYT_RFID_EM18 && !rd->a->stopping)
        uv_timer_start(&rd->gap_timer, on_rfid_gap, rd->cfg->gap_ms, 0);
}

static void on_bad_driver_line(void *arg, unsigned line, const char *reason)
{
    const char *path = arg;
    BUYT_WARN(MOD, "msg=\"driver list line skipped\" file=%s line=%u reason=\"%s\"", path, line,
              reason);
}

static void release(struct buyt_agent *a);

static void reload_work(uv_work_t *w)
{
    struct reload *rl = w->data;
    rl->rc = buyt_drivers_load(&rl->list, rl->a->cfg.drivers_file, &rl->a->cfg.fleet_key,
                               on_bad_driver_line, rl->a->cfg.drivers_file);
}

static void reload_done(uv_work_t *w, int status)
{
    struct reload *rl = w->data;
    struct buyt_agent *a = rl->a;
    a->reload = NULL;
    if (status == 0 && rl->rc == 0 && !a->stopping) {
        buyt_drivers_free(a->drivers);
        a->drivers = rl->list;
        BUYT_INFO(MOD, "msg=\"driver list reloaded\" file=%s drivers=%zu", a->cfg.drivers_file,
                  buyt_drivers_count(a->drivers));
    } else {
        buyt_drivers_free(rl->list);
        if (!a->stopping)
            BUYT_ERROR(MOD,
                       "msg=\"driver list reload failed, keeping the old one\" file=%s "
                       "err=\"%s\"",
                       a->cfg.drivers_file, buyt_strerror(status ? status : rl->rc));
    }
    free(rl);
    release(a);
}

void buyt_agent_reload(struct buyt_agent *a)
{
    if (a->stopping || a->reload || !a->cfg.drivers_file[0] || !a->cfg.has_fleet_key)
        return;
    struct reload *rl = calloc(1, sizeof *rl);
    if (!rl)
        return;
    rl->a = a;
    rl->work.data = rl;
    if (uv_queue_work(a->loop, &rl->work, reload_work, reload_done)) {
        free(rl);
        return;
    }
    a->reload = rl;
    a->pending++; /* the agent outlives the worker: released in reload_done */
}

/* ------------------------------------------------------------------ broker */

static int pack_status(struct buyt_agent *a, Buyt__V1__DeviceState state, int64_t time_ms,
                       uint8_t *buf, size_t cap, size_t *len)
{
    Buyt__V1__DeviceStatus st = BUYT__V1__DEVICE_STATUS__INIT;
    st.vehicle_id = a->cfg.vehicle_id;
    st.boot_id = a->boot_id;
    st.state = state;
    st.time_ms = (uint64_t)time_ms;
    st.version = BUYT_ONBOARD_VERSION;
    if (buyt__v1__device_status__get_packed_size(&st) > cap)
        return BUYT_ERANGE;
    *len = buyt__v1__device_status__pack(&st, buf);
    return 0;
}

static int publish_status(struct buyt_agent *a, Buyt__V1__DeviceState state, int *mid)
{
    uint8_t buf[256];
    size_t len;
    int rc = pack_status(a, state, buyt_wall_ms(), buf, sizeof buf, &len);
    if (!rc)
        rc = buyt_mqtt_publish(a->mqtt, a->t_status, buf, len, 1, true, mid);
    if (rc)
        BUYT_WARN(MOD, "msg=\"status publish failed\" state=%d", (int)state);
    return rc;
}

static void on_connect(struct buyt_mqtt *m, void *ud)
{
    struct buyt_agent *a = ud;
    if (a->stopping)
        return;
    /* Subscribe before announcing ONLINE: the broker handles our packets in order, so whoever
     * reacts to ONLINE with a command finds the subscription in place. */
    buyt_mqtt_subscribe(m, a->t_ack, 1);
    buyt_mqtt_subscribe(m, a->t_cmd, 1);
    publish_status(a, BUYT__V1__DEVICE_STATE__DEVICE_STATE_ONLINE, NULL);
    buyt_uplink_connected(a->uplink);
}

static void handle_ack(struct buyt_agent *a, const void *payload, size_t len)
{
    Buyt__V1__Ack *ack = buyt__v1__ack__unpack(NULL, len, payload);
    if (!ack) {
        BUYT_WARN(MOD, "msg=\"undecodable ack ignored\" bytes=%zu", len);
        return;
    }
    uint64_t seq = ack->stored_through_seq;
    buyt__v1__ack__free_unpacked(ack, NULL);
    if (seq)
        buyt_uplink_ack(a->uplink, seq);
}

static void handle_command(struct buyt_agent *a, const void *payload, size_t len)
{
    struct buyt_command cmd;
    char detail[BUYT_COMMAND_DETAIL_MAX];
    enum buyt_command_status st =
        buyt_command_parse(payload, len, &a->report.cfg, &cmd, detail, sizeof detail);
    if (st == BUYT_COMMAND_OK) {
        switch (cmd.kind) {
        case BUYT_COMMAND_SET_REPORTING:
            buyt_report_configure(&a->report, &cmd.reporting, NULL);
            BUYT_INFO(MOD, "msg=\"reporting changed\" moving_ms=%u standing_ms=%u turn_cdeg=%u",
                      cmd.reporting.moving_interval_ms, cmd.reporting.standing_interval_ms,
                      cmd.reporting.heading_change_cdeg);
            break;
        case BUYT_COMMAND_ASSIGNMENT:
            a->assignment = cmd.assignment;
            BUYT_INFO(MOD, "msg=assignment route=%s trip=%s run=%s driver=%s",
                      cmd.assignment.route_id, cmd.assignment.trip_id, cmd.assignment.run_id,
                      cmd.assignment.driver_id);
            break;
        case BUYT_COMMAND_HEALTH_REQUEST: emit_health(a); break;
        case BUYT_COMMAND_NONE: break;
        }
    } else {
        BUYT_WARN(MOD, "msg=\"command refused\" id=%" PRIu64 " status=%s detail=\"%s\"", cmd.id,
                  buyt_command_status_name(st), detail);
    }
    uint8_t buf[BUYT_COMMAND_DETAIL_MAX + 64];
    size_t rlen;
    if (buyt_command_reply_pack(cmd.id, st, detail, buf, sizeof buf, &rlen) == 0 &&
        buyt_mqtt_publish(a->mqtt, a->t_reply, buf, rlen, 1, false, NULL))
        BUYT_WARN(MOD, "msg=\"reply not sent (disconnected)\" id=%" PRIu64, cmd.id);
}

static void on_message(struct buyt_mqtt *m, const char *topic, const void *payload, size_t len,
                       int qos, bool retained, void *ud)
{
    (void)m, (void)qos, (void)retained;
    struct buyt_agent *a = ud;
    if (a->stopping)
        return;
    if (!strcmp(topic, a->t_ack))
        handle_ack(a, payload, len);
    else if (!strcmp(topic, a->t_cmd))
        handle_command(a, payload, len);
}

static void finish_mqtt(struct buyt_agent *a);
static void on_stop_timer(uv_timer_t *t);

static void on_publish(struct buyt_mqtt *m, int mid, void *ud)
{
    (void)m;
    struct buyt_agent *a = ud;
    if (a->stopping) {
        /* Not finish_mqtt() here: closing the client from inside its own callback deadlocks in
         * libmosquitto (buyt_mqtt_close writes the DISCONNECT, whose completion calls
         * on_disconnect under the callback mutex this callback holds). Next loop turn. */
        if (mid == a->status_mid && !a->mqtt_closing)
            uv_timer_start(&a->stop_timer, on_stop_timer, 0, 0);
        return;
    }
    buyt_uplink_puback(a->uplink, mid);
}

/* ------------------------------------------------------------------ life cycle */

static uint64_t random_boot_id(void)
{
    uint64_t id = 0;
    if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id)
        id = (uint64_t)buyt_wall_ms() ^ ((uint64_t)getpid() << 40) ^ buyt_mono_ns();
    return id ? id : 1;
}

/* The GNSS date floor: the time of the newest journaled record (what this device last knew to
 * be true), unless it lies more than a day ahead of a sane system clock; else the build floor. */
static int64_t time_floor(struct buyt_journal *j)
{
    int64_t floor = BUYT_ONBOARD_TIME_FLOOR_MS;
    struct buyt_journal_rec rec;
    uint8_t *buf = malloc(BUYT_JOURNAL_MAX_PAYLOAD);
    if (!buf)
        return floor;
    struct buyt_journal_batch b = {
        .recs = &rec, .max_recs = 1, .buf = buf, .buf_len = BUYT_JOURNAL_MAX_PAYLOAD};
    if (buyt_journal_read_live(j, &b) == 0 && b.n == 1) {
        int64_t t = (int64_t)rec.time_ms, wall = buyt_wall_ms();
        bool clock_sane = wall >= BUYT_ONBOARD_TIME_FLOOR_MS;
        if (t > floor && (!clock_sane || t <= wall + 86400000LL))
            floor = t;
    }
    free(buf);
    return floor;
}

static int make_topics(struct buyt_agent *a)
{
    const char *ag = a->cfg.agency, *v = a->cfg.vehicle_id;
    if (buyt_topic_format(a->t_telemetry, BUYT_TOPIC_MAX, BUYT_TOPIC_TELEMETRY, ag, v) ||
        buyt_topic_format(a->t_status, BUYT_TOPIC_MAX, BUYT_TOPIC_STATUS, ag, v) ||
        buyt_topic_format(a->t_cmd, BUYT_TOPIC_MAX, BUYT_TOPIC_CMD, ag, v) ||
        buyt_topic_format(a->t_reply, BUYT_TOPIC_MAX, BUYT_TOPIC_REPLY, ag, v) ||
        buyt_topic_format(a->t_ack, BUYT_TOPIC_MAX, BUYT_TOPIC_ACK, ag, v))
        return BUYT_EINVAL;
    return 0;
}

static int make_mqtt(struct buyt_agent *a)
{
    uint8_t will[256];
    size_t will_len;
    int rc = pack_status(a, BUYT__V1__DEVICE_STATE__DEVICE_STATE_OFFLINE, a->start_wall_ms, will,
                         sizeof will, &will_len);
    if (rc)
        return rc;
    const struct buyt_agent_config *c = &a->cfg;
    struct buyt_mqtt_opts o = {
        .url = c->mqtt_url,
        .client_id = c->vehicle_id,
        .clean_session = false,
        .keepalive_s = (int)c->mqtt_keepalive_s,
        .cafile = c->mqtt_cafile[0] ? c->mqtt_cafile : NULL,
        .certfile = c->mqtt_certfile[0] ? c->mqtt_certfile : NULL,
        .keyfile = c->mqtt_keyfile[0] ? c->mqtt_keyfile : NULL,
        .will_topic = a->t_status,
        .will_payload = will,
        .will_len = will_len,
        .will_retain = true,
        .backoff_min_ms = c->mqtt_backoff_min_ms,
        .backoff_max_ms = c->mqtt_backoff_max_ms,
    };
    struct buyt_mqtt_callbacks cb = {
        .on_connect = on_connect, .on_message = on_message, .on_publish = on_publish};
    rc = buyt_mqtt_new(a->loop, &o, &cb, a, &a->mqtt);
    if (rc == 0)
        buyt_uplink_set_mqtt(a->uplink, a->mqtt);
    return rc;
}

static int make_ports(struct buyt_agent *a)
{
    const struct buyt_agent_config *c = &a->cfg;
    struct buyt_serial_opts go = {.name = "gps",
                                  .path = c->gps_device,
                                  .baud = c->gps_baud,
                                  .retry_max_ms = c->serial_retry_max_ms};
    struct buyt_serial_callbacks gcb = {.on_data = on_gps_data, .on_state = on_gps_state};
    int rc = buyt_serial_new(a->loop, &go, &gcb, a, &a->gps);
    if (rc)
        return rc;
    uv_timer_init(a->loop, &a->gps_idle_timer);
    a->gps_idle_timer.data = a;
    for (unsigned i = 0; i < BUYT_AGENT_RFID_MAX; i++) {
        if (!c->rfid[i].enabled)
            continue;
        struct reader *rd = &a->readers[a->n_readers];
        rd->a = a;
        rd->index = i + 1;
        rd->cfg = &c->rfid[i];
        snprintf(rd->name, sizeof rd->name, "rfid%u", i + 1);
        rc = buyt_rfid_decoder_init(&rd->dec, &rd->cfg->rfid);
        if (rc)
            return rc;
        buyt_rfid_debounce_init(&rd->db, rd->cfg->debounce_ms);
        uv_timer_init(a->loop, &rd->gap_timer);
        rd->gap_timer.data = rd;
        a->n_readers++; /* counted before the port: its timer needs closing either way */
        struct buyt_serial_opts ro = {.name = rd->name,
                                      .path = rd->cfg->device,
                                      .baud = rd->cfg->baud,
                                      .retry_max_ms = c->serial_retry_max_ms};
        struct buyt_serial_callbacks rcb = {.on_data = on_rfid_data};
        rc = buyt_serial_new(a->loop, &ro, &rcb, rd, &rd->serial);
        if (rc)
            return rc;
    }
    return 0;
}

static void free_agent(struct buyt_agent *a)
{
    int rc = buyt_journal_close(a->journal);
    if (rc)
        BUYT_ERROR(MOD, "msg=\"journal close failed\" err=\"%s\"", buyt_strerror(rc));
    buyt_drivers_free(a->drivers);
    for (unsigned i = 0; i < a->n_readers; i++)
        buyt_rfid_decoder_close(&a->readers[i].dec);
    buyt_agent_config_clear(&a->cfg);
    void (*done)(void *) = a->done;
    void *arg = a->done_arg;
    free(a);
    if (done)
        done(arg);
}

/* Drops one of the references `pending` counts (handles being closed, a running reload, holds
 * taken while stopping); the last one after stop frees the agent. */
static void release(struct buyt_agent *a)
{
    if (--a->pending == 0 && a->stopping)
        free_agent(a);
}

static void on_handle_closed(uv_handle_t *h)
{
    release(h->data);
}
static void on_part_closed(void *arg)
{
    release(arg);
}

static void close_handle(struct buyt_agent *a, uv_handle_t *h)
{
    h->data = a;
    a->pending++;
    uv_close(h, on_handle_closed);
}

/* Tears down the inputs, timers and uplink (not the broker client: finish_mqtt); used by stop
 * and by a failed new. */
static void close_all(struct buyt_agent *a)
{
    a->pending++; /* held until every close below is issued */
    if (a->gps) {
        a->pending++;
        buyt_serial_close(a->gps, on_part_closed, a);
        close_handle(a, (uv_handle_t *)&a->gps_idle_timer);
    }
    for (unsigned i = 0; i < a->n_readers; i++) {
        struct reader *rd = &a->readers[i];
        if (rd->serial) {
            a->pending++;
            buyt_serial_close(rd->serial, on_part_closed, a);
        }
        close_handle(a, (uv_handle_t *)&rd->gap_timer);
    }
    close_handle(a, (uv_handle_t *)&a->health_timer);
    if (a->uplink) {
        a->pending++;
        buyt_uplink_close(a->uplink, on_part_closed, a);
    }
    release(a);
}

/* Closes the broker client (and the timer that bounds the wait for it); releases the hold
 * taken by the caller of the wait. */
static void finish_mqtt(struct buyt_agent *a)
{
    if (a->mqtt_closing)
        return;
    a->mqtt_closing = true;
    uv_timer_stop(&a->stop_timer);
    close_handle(a, (uv_handle_t *)&a->stop_timer);
    if (a->mqtt) {
        a->pending++;
        buyt_mqtt_close(a->mqtt, on_part_closed, a);
    }
    release(a);
}

int buyt_agent_new(uv_loop_t *loop, const struct buyt_agent_config *cfg, struct buyt_agent **out,
                   char *err, size_t errlen)
{
    *out = NULL;
    struct buyt_agent *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return BUYT_ENOMEM;
    }
    a->loop = loop;
    a->cfg = *cfg;
    a->boot_id = random_boot_id();
    a->start_wall_ms = buyt_wall_ms();
    a->start_mono_ms = uv_now(loop);
    a->status_mid = -1;
    buyt_report_init(&a->report, &cfg->report);
    buyt_drivers_state_init(&a->driver_state);
    uv_timer_init(loop, &a->health_timer);
    uv_timer_init(loop, &a->stop_timer);
    a->health_timer.data = a->stop_timer.data = a;

    int rc = make_topics(a);
    if (rc) {
        snprintf(err, errlen, "agency/vehicle_id do not make valid topics");
        goto fail;
    }
    struct buyt_journal_config jc;
    buyt_agent_config_journal(&a->cfg, &jc);
    rc = buyt_journal_open(&jc, &a->journal);
    if (rc) {
        snprintf(err, errlen, "journal %s: %s", cfg->journal_dir,
                 rc == -EWOULDBLOCK ? "in use by another buyt-onboard" : buyt_strerror(rc));
        goto fail;
    }
    struct buyt_nmea_config nc = {
        .ref_ms = time_floor(a->journal),
        .options = cfg->gps_accept_no_checksum ? BUYT_NMEA_OPT_ACCEPT_NO_CHECKSUM : 0,
        .on_fix = on_fix,
        .arg = a,
    };
    rc = buyt_nmea_init(&a->nmea, &nc);
    if (rc) {
        snprintf(err, errlen, "NMEA parser: %s", buyt_strerror(rc));
        goto fail;
    }
    struct buyt_uplink_config uc = {
        .vehicle_id = a->cfg.vehicle_id,
        .boot_id = a->boot_id,
        .topic = a->t_telemetry,
        .batch_max_records = cfg->replay_batch_records,
        .batch_max_bytes = cfg->replay_batch_bytes,
        .fsync_interval_ms =
            cfg->journal_fsync == BUYT_JOURNAL_FSYNC_INTERVAL ? cfg->journal_fsync_interval_ms : 0,
    };
    rc = buyt_uplink_new(loop, a->journal, &uc, &a->uplink);
    if (rc) {
        snprintf(err, errlen, "uplink: %s", buyt_strerror(rc));
        goto fail;
    }
    rc = make_mqtt(a);
    if (rc) {
        snprintf(err, errlen, "MQTT client: %s", buyt_strerror(rc));
        goto fail;
    }
    rc = make_ports(a);
    if (rc) {
        snprintf(err, errlen, "serial ports: %s", buyt_strerror(rc));
        goto fail;
    }
    if (cfg->drivers_file[0] && cfg->has_fleet_key) {
        int d = buyt_drivers_load(&a->drivers, cfg->drivers_file, &a->cfg.fleet_key,
                                  on_bad_driver_line, a->cfg.drivers_file);
        if (d) /* keep running: GPS data matters more than driver names */
            BUYT_ERROR(MOD,
                       "msg=\"driver list not loaded: every driver card is unknown\" "
                       "file=%s err=\"%s\"",
                       cfg->drivers_file, buyt_strerror(d));
    }
    *out = a;
    return 0;
fail:
    a->stopping = true;
    a->pending++;
    finish_mqtt(a);
    close_all(a); /* frees a once the handles are closed (run the loop) */
    return rc;
}

int buyt_agent_start(struct buyt_agent *a)
{
    struct buyt_journal_stats js;
    buyt_journal_stats(a->journal, &js);
    BUYT_INFO(MOD,
              "msg=started version=%s agency=%s vehicle=%s boot_id=%016" PRIx64
              " journal_records=%" PRIu64 " last_seq=%" PRIu64 " acked_seq=%" PRIu64
              " dropped=%" PRIu64 " torn=%" PRIu64 " drivers=%zu readers=%u",
              BUYT_ONBOARD_VERSION, a->cfg.agency, a->cfg.vehicle_id, a->boot_id, js.records,
              js.last_seq, js.acked_seq, js.dropped, js.torn, buyt_drivers_count(a->drivers),
              a->n_readers);
    buyt_serial_start(a->gps);
    for (unsigned i = 0; i < a->n_readers; i++)
        buyt_serial_start(a->readers[i].serial);
    emit_health(a);
    uv_timer_start(&a->health_timer, on_health_timer, a->cfg.health_interval_ms,
                   a->cfg.health_interval_ms);
    buyt_mqtt_start(a->mqtt);
    return 0;
}

/* The OFFLINE status was acknowledged (timeout 0), or its PUBACK did not come in time. */
static void on_stop_timer(uv_timer_t *t)
{
    struct buyt_agent *a = t->data;
    if (a->status_mid >= 0 && uv_now(a->loop) - a->stop_started_ms >= STATUS_PUBACK_WAIT_MS)
        BUYT_WARN(MOD, "msg=\"no PUBACK for the offline status; disconnecting anyway\"");
    finish_mqtt(a);
}

void buyt_agent_stop(struct buyt_agent *a, void (*done)(void *arg), void *arg)
{
    if (a->stopping)
        return;
    a->stopping = true;
    a->stop_started_ms = uv_now(a->loop);
    a->done = done;
    a->done_arg = arg;
    uv_timer_stop(&a->health_timer);
    struct buyt_drivers_event ev;
    if (buyt_drivers_sign_out(&a->driver_state, &ev))
        emit_driver_event(a, &ev); /* journaled, published at the next start */
    int rc = buyt_journal_sync(a->journal);
    struct buyt_journal_stats js;
    buyt_journal_stats(a->journal, &js);
    struct buyt_mqtt_stats ms;
    buyt_mqtt_stats(a->mqtt, &ms);
    BUYT_INFO(MOD,
              "msg=stopping records=%" PRIu64 " refused=%" PRIu64 " append_failed=%" PRIu64
              " undated_epochs=%" PRIu64 " journal_records=%" PRIu64 " last_seq=%" PRIu64
              " sync=\"%s\" mqtt_connects=%" PRIu64 " mqtt_tls_failures=%" PRIu64,
              a->records, a->refused, a->append_failed, a->undated_epochs, js.records, js.last_seq,
              rc ? buyt_strerror(rc) : "ok", ms.connects, ms.tls_failures);
    /* The OFFLINE status is published by hand: a clean DISCONNECT makes the broker drop the
     * will, and a retained ONLINE would otherwise outlive the agent. */
    a->pending++; /* held until finish_mqtt */
    if (buyt_mqtt_connected(a->mqtt) &&
        publish_status(a, BUYT__V1__DEVICE_STATE__DEVICE_STATE_OFFLINE, &a->status_mid) == 0)
        uv_timer_start(&a->stop_timer, on_stop_timer, STATUS_PUBACK_WAIT_MS, 0);
    else
        finish_mqtt(a);
    close_all(a);
}
