/* Direct-mode publisher; see direct.h. Records are kept in a small fixed struct (not encoded)
 * until sent; a Telemetry is assembled from preallocated protobuf-c structs, validated and
 * packed by the contract API, and published at QoS 1 on the vehicle's own topic. */
#include "direct.h"

#include "cardid.h"
#include "clock.h"
#include "contract.h"
#include "error.h"
#include "log.h"
#include "mqtt.h"
#include "topics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MOVING_CMS 150          /* agent default: moving from 1.5 m/s, standing below half */
#define MOVING_INTERVAL_MS 1000
#define STANDING_INTERVAL_MS 30000
#define HEALTH_INTERVAL_MS 60000

enum rec_kind { R_FIX = 1, R_TAP, R_DRIVER, R_HEALTH };

struct rec {
    uint64_t seq;
    int64_t time_ms;
    uint8_t kind;
    uint8_t sub;     /* tap: role; driver: event kind */
    bool has_pos;    /* tap/driver: position present; fix: quality GPS (else NONE) */
    uint8_t sats;
    int32_t lat_e7, lon_e7, alt_cm;
    uint32_t speed_cms, course_cdeg, hdop_x100;
    uint8_t card_id[BUYT_CARDID_BYTES];
    const char *driver_id, *run_id; /* borrowed from the fleet */
    uint32_t uptime_s, backlog;
};

struct dveh {
    char id[BUYT_CONTRACT_VEHICLE_ID_MAX + 1];
    char topic[BUYT_TOPIC_MAX], status_topic[BUYT_TOPIC_MAX];
    int conn;
    uint64_t next_seq, dropped_through;
    bool reported, moving, event_pending, in_zone, powered;
    int64_t last_ms, power_on_ms, next_health_ms;
    bool has_fix;
    struct rec last_fix;
    struct rec *bl; /* backlog: bl[off .. off + n) */
    uint32_t off, n, cap;
};

struct buyt_direct {
    uv_loop_t *loop;
    struct buyt_direct_config cfg;
    char agency[BUYT_ID_MAX];
    struct buyt_cardid_key key;
    int n_conn;
    struct buyt_mqtt **conn;
    int nv;
    struct dveh *v;
    struct buyt_direct_stats st;
    uint64_t published_ok;
    /* scratch for one Telemetry */
    Buyt__V1__Record *recs, **rec_ptrs;
    Buyt__V1__Fix *fixes;
    Buyt__V1__CardTap *taps;
    Buyt__V1__DriverEvent *drivers;
    Buyt__V1__Health *healths;
    uint8_t *buf;
    size_t buf_cap;
    int closing;
    void (*done)(void *);
    void *done_arg;
};

static void on_publish(struct buyt_mqtt *m, int mid, void *ud)
{
    (void)m, (void)mid;
    struct buyt_direct *d = ud;
    d->st.acked++;
}

static void on_connect(struct buyt_mqtt *m, void *ud)
{
    (void)m;
    (void)ud;
}

int buyt_direct_new(uv_loop_t *loop, const struct buyt_direct_config *cfg, int n,
                    const char *const *ids, const uint64_t *seq_start, struct buyt_direct **out)
{
    *out = NULL;
    struct buyt_direct *d = calloc(1, sizeof *d);
    if (!d)
        return BUYT_ENOMEM;
    d->loop = loop;
    d->cfg = *cfg;
    if (!d->cfg.connections)
        d->cfg.connections = 1;
    if (!d->cfg.backlog_max)
        d->cfg.backlog_max = 20000;
    if (!d->cfg.replay_batch || d->cfg.replay_batch > BUYT_CONTRACT_MAX_RECORDS)
        d->cfg.replay_batch = 1000;
    if (!d->cfg.boot_id) {
        uint64_t b = (uint64_t)buyt_wall_ms() ^ ((uint64_t)getpid() << 40) ^ buyt_mono_ns();
        d->cfg.boot_id = b ? b : 1;
    }
    snprintf(d->agency, sizeof d->agency, "%s", cfg->agency);
    const char *why = NULL;
    int rc = BUYT_EINVAL;
    if (!cfg->fleet_key_hex || buyt_cardid_key_parse(&d->key, cfg->fleet_key_hex, &why)) {
        BUYT_ERROR("direct", "msg=\"bad fleet key: %s\"", why ? why : "missing");
        goto fail;
    }
    rc = BUYT_ENOMEM;
    d->nv = n;
    d->v = calloc((size_t)n, sizeof *d->v);
    size_t b = d->cfg.replay_batch;
    d->recs = calloc(b, sizeof *d->recs);
    d->rec_ptrs = calloc(b, sizeof *d->rec_ptrs);
    d->fixes = calloc(b * 3, sizeof *d->fixes); /* a fix, or a tap's/driver event's position */
    d->taps = calloc(b, sizeof *d->taps);
    d->drivers = calloc(b, sizeof *d->drivers);
    d->healths = calloc(b, sizeof *d->healths);
    d->buf_cap = BUYT_CONTRACT_MAX_MSG_BYTES;
    d->buf = malloc(d->buf_cap);
    d->n_conn = d->cfg.connections;
    d->conn = calloc((size_t)d->n_conn, sizeof *d->conn);
    if (!d->v || !d->recs || !d->rec_ptrs || !d->fixes || !d->taps || !d->drivers ||
        !d->healths || !d->buf || !d->conn)
        goto fail;
    rc = BUYT_EINVAL;
    for (int i = 0; i < n; i++) {
        struct dveh *v = &d->v[i];
        if (buyt_contract_check_vehicle_id(ids[i]) != BUYT_REJECT_NONE ||
            buyt_topic_format(v->topic, sizeof v->topic, BUYT_TOPIC_TELEMETRY, d->agency, ids[i]) ||
            buyt_topic_format(v->status_topic, sizeof v->status_topic, BUYT_TOPIC_STATUS,
                              d->agency, ids[i])) {
            BUYT_ERROR("direct", "msg=\"bad vehicle id or agency\" vehicle=%s agency=%s", ids[i],
                       d->agency);
            goto fail;
        }
        snprintf(v->id, sizeof v->id, "%s", ids[i]);
        v->conn = i % d->n_conn;
        v->next_seq = seq_start && seq_start[i] ? seq_start[i] : 1;
    }
    struct buyt_mqtt_callbacks cb = {.on_connect = on_connect, .on_publish = on_publish};
    for (int i = 0; i < d->n_conn; i++) {
        char cid[128];
        snprintf(cid, sizeof cid, "buyt-sim-%s-%d-%d", d->agency, (int)getpid(), i);
        struct buyt_mqtt_opts o = {.url = cfg->url, .client_id = cid, .clean_session = true,
                                   .max_inflight = 1000};
        if ((rc = buyt_mqtt_new(loop, &o, &cb, d, &d->conn[i])))
            goto fail;
    }
    *out = d;
    return 0;
fail:
    buyt_cardid_key_clear(&d->key);
    if (d->conn)
        for (int i = 0; i < d->n_conn; i++)
            if (d->conn[i])
                buyt_mqtt_close(d->conn[i], NULL, NULL);
    free(d->conn);
    free(d->v);
    free(d->recs);
    free(d->rec_ptrs);
    free(d->fixes);
    free(d->taps);
    free(d->drivers);
    free(d->healths);
    free(d->buf);
    free(d);
    return rc;
}

void buyt_direct_start(struct buyt_direct *d)
{
    for (int i = 0; i < d->n_conn; i++)
        buyt_mqtt_start(d->conn[i]);
}

bool buyt_direct_ready(const struct buyt_direct *d)
{
    for (int i = 0; i < d->n_conn; i++)
        if (!buyt_mqtt_connected(d->conn[i]))
            return false;
    return true;
}

uint64_t buyt_direct_outstanding(const struct buyt_direct *d)
{
    return d->published_ok - d->st.acked;
}

/* ------------------------------------------------------------------ records -> Telemetry */

static void fill_fix(Buyt__V1__Fix *f, const struct rec *r)
{
    buyt__v1__fix__init(f);
    if (!r->has_pos && r->kind == R_FIX) {
        f->quality = BUYT__V1__FIX_QUALITY__FIX_QUALITY_NONE;
        return;
    }
    f->lat_e7 = r->lat_e7;
    f->lon_e7 = r->lon_e7;
    f->speed_cms = r->speed_cms;
    f->course_cdeg = r->course_cdeg;
    f->alt_cm = r->alt_cm;
    f->hdop_x100 = r->hdop_x100;
    f->satellites = r->sats;
    f->quality = BUYT__V1__FIX_QUALITY__FIX_QUALITY_GPS;
    f->fields = BUYT__V1__FIX_FIELD__FIX_FIELD_SPEED | BUYT__V1__FIX_FIELD__FIX_FIELD_COURSE |
                BUYT__V1__FIX_FIELD__FIX_FIELD_ALTITUDE | BUYT__V1__FIX_FIELD__FIX_FIELD_HDOP |
                BUYT__V1__FIX_FIELD__FIX_FIELD_SATELLITES;
}

/* Builds proto record i of the scratch from r (the scratch's sub-messages hold the bodies). */
static Buyt__V1__Record *build(struct buyt_direct *d, size_t i, const struct rec *r,
                               const struct rec *pos)
{
    Buyt__V1__Record *x = &d->recs[i];
    buyt__v1__record__init(x);
    x->seq = r->seq;
    x->time_ms = (uint64_t)r->time_ms;
    Buyt__V1__Fix *p = NULL;
    if (r->kind != R_FIX && r->kind != R_HEALTH && pos) {
        p = &d->fixes[3 * i + 1];
        fill_fix(p, pos);
    }
    switch (r->kind) {
    case R_FIX:
        fill_fix(&d->fixes[3 * i], r);
        x->body_case = BUYT__V1__RECORD__BODY_FIX;
        x->fix = &d->fixes[3 * i];
        break;
    case R_TAP: {
        Buyt__V1__CardTap *t = &d->taps[i];
        buyt__v1__card_tap__init(t);
        t->role = (Buyt__V1__ReaderRole)r->sub;
        t->card_id.data = (uint8_t *)r->card_id;
        t->card_id.len = BUYT_CARDID_BYTES;
        t->position = p;
        x->body_case = BUYT__V1__RECORD__BODY_CARD_TAP;
        x->card_tap = t;
        break;
    }
    case R_DRIVER: {
        Buyt__V1__DriverEvent *e = &d->drivers[i];
        buyt__v1__driver_event__init(e);
        e->kind = (Buyt__V1__DriverEventKind)r->sub;
        e->driver_id = (char *)(r->driver_id ? r->driver_id : "");
        e->card_id.data = (uint8_t *)r->card_id;
        e->card_id.len = BUYT_CARDID_BYTES;
        e->run_id = (char *)(r->run_id ? r->run_id : "");
        e->position = p;
        x->body_case = BUYT__V1__RECORD__BODY_DRIVER_EVENT;
        x->driver_event = e;
        break;
    }
    default: {
        Buyt__V1__Health *h = &d->healths[i];
        buyt__v1__health__init(h);
        h->uptime_s = r->uptime_s;
        h->journal_records = r->backlog;
        h->journal_bytes = (uint64_t)r->backlog * 64;
        h->gps_state = r->has_pos ? BUYT__V1__GPS_STATE__GPS_STATE_FIX
                                  : BUYT__V1__GPS_STATE__GPS_STATE_NO_FIX;
        h->satellites = r->sats;
        h->version = (char *)"buyt-sim";
        x->body_case = BUYT__V1__RECORD__BODY_HEALTH;
        x->health = h;
        break;
    }
    }
    return x;
}

/* Publishes records rs[0..n) of vehicle v as one Telemetry. Returns 0 or BUYT_EMQTT. */
static int send_records(struct buyt_direct *d, struct dveh *v, const struct rec *rs, size_t n)
{
    struct buyt_mqtt *m = d->conn[v->conn];
    if (!buyt_mqtt_connected(m))
        return BUYT_EMQTT;
    for (size_t i = 0; i < n; i++)
        d->rec_ptrs[i] = build(d, i, &rs[i], rs[i].has_pos && rs[i].kind != R_FIX ? &rs[i] : NULL);
    Buyt__V1__Telemetry t = BUYT__V1__TELEMETRY__INIT;
    t.vehicle_id = v->id;
    t.boot_id = d->cfg.boot_id;
    t.n_records = n;
    t.records = d->rec_ptrs;
    t.dropped_through_seq = v->dropped_through;
    size_t len;
    enum buyt_reject why = buyt_telemetry_encode(&t, buyt_wall_ms(), d->buf, d->buf_cap, &len);
    if (why != BUYT_REJECT_NONE) {
        /* A simulator bug or a clock too far ahead: say so once per message, drop them. */
        BUYT_WARN("direct", "msg=\"telemetry refused by the contract\" vehicle=%s reason=%s n=%zu",
                  v->id, buyt_reject_name(why), n);
        d->st.rejected += n;
        return 0;
    }
    if (buyt_mqtt_publish(m, v->topic, d->buf, len, 1, false, NULL)) {
        d->st.publish_failed++;
        return BUYT_EMQTT;
    }
    d->published_ok++;
    d->st.bytes += len;
    if (n == 1) {
        d->st.live_messages++;
    } else {
        d->st.replay_messages++;
        d->st.replay_records += n;
    }
    return 0;
}

static bool can_send(const struct buyt_direct *d, const struct dveh *v)
{
    return !v->in_zone && buyt_mqtt_connected(d->conn[v->conn]);
}

static void flush_vehicle(struct buyt_direct *d, struct dveh *v)
{
    while (v->n > 0 && can_send(d, v)) {
        size_t k = v->n < d->cfg.replay_batch ? v->n : d->cfg.replay_batch;
        if (send_records(d, v, &v->bl[v->off], k))
            return;
        v->off += (uint32_t)k;
        v->n -= (uint32_t)k;
    }
    if (v->n == 0)
        v->off = 0;
}

static void hold(struct buyt_direct *d, struct dveh *v, const struct rec *r)
{
    if (v->off + v->n == v->cap) {
        if (v->off > 0) {
            memmove(v->bl, &v->bl[v->off], v->n * sizeof *v->bl);
            v->off = 0;
        } else if (v->cap < d->cfg.backlog_max) {
            uint32_t cap = v->cap ? v->cap * 2 : 256;
            if (cap > d->cfg.backlog_max)
                cap = d->cfg.backlog_max;
            struct rec *b = realloc(v->bl, cap * sizeof *b);
            if (!b) {
                d->st.dropped++;
                return;
            }
            v->bl = b;
            v->cap = cap;
        } else { /* full: drop the oldest, as the agent's journal does */
            v->dropped_through = v->bl[v->off].seq;
            v->off++;
            v->n--;
            d->st.dropped++;
            if (v->off + v->n == v->cap) {
                memmove(v->bl, &v->bl[v->off], v->n * sizeof *v->bl);
                v->off = 0;
            }
        }
    }
    v->bl[v->off + v->n++] = *r;
    d->st.held++;
}

static void emit(struct buyt_direct *d, struct dveh *v, struct rec *r)
{
    r->seq = v->next_seq++;
    d->st.records++;
    if (v->n > 0)
        flush_vehicle(d, v);
    if (v->n == 0 && can_send(d, v) && send_records(d, v, r, 1) == 0)
        return;
    hold(d, v, r);
}

void buyt_direct_epoch(struct buyt_direct *d, int vi, const struct buyt_fleet_epoch *e)
{
    struct dveh *v = &d->v[vi];
    bool was_zone = v->in_zone;
    v->in_zone = !e->connected;
    if (was_zone && !v->in_zone)
        flush_vehicle(d, v);
    struct rec r = {.time_ms = e->time_ms, .kind = R_FIX, .has_pos = e->valid};
    if (e->valid) {
        r.lat_e7 = buyt_deg_to_e7(e->lat);
        r.lon_e7 = buyt_deg_to_e7(e->lon);
        double sp = e->speed_ms * 100.0;
        r.speed_cms = (uint32_t)lround(sp > 10000 ? 10000 : sp);
        r.course_cdeg = (uint32_t)lround(e->course_deg * 100.0) % 36000;
        r.alt_cm = (int32_t)lround(e->alt_m * 100.0);
        double h = e->hdop * 100.0;
        r.hdop_x100 = (uint32_t)lround(h > 9999 ? 9999 : h);
        r.sats = (uint8_t)e->satellites;
        v->last_fix = r;
        v->has_fix = true;
    }
    /* The agent's reporting policy (onboard/report.h). */
    bool report = false;
    if (!e->valid) {
        report = v->reported; /* once, on fix loss */
        v->reported = false;
        v->has_fix = false;
    } else {
        bool moving = v->moving ? r.speed_cms >= MOVING_CMS / 2 : r.speed_cms >= MOVING_CMS;
        bool changed = moving != v->moving;
        v->moving = moving;
        int64_t interval = moving ? MOVING_INTERVAL_MS : STANDING_INTERVAL_MS;
        report = !v->reported || changed || v->event_pending || e->time_ms - v->last_ms >= interval ||
                 e->time_ms < v->last_ms;
        if (report) {
            v->reported = true;
            v->event_pending = false;
            v->last_ms = e->time_ms;
        }
    }
    if (report)
        emit(d, v, &r);
    if (v->powered && e->time_ms >= v->next_health_ms) {
        struct rec h = {.time_ms = e->time_ms, .kind = R_HEALTH, .has_pos = e->valid,
                        .sats = (uint8_t)(e->valid ? e->satellites : 0),
                        .uptime_s = (uint32_t)((e->time_ms - v->power_on_ms) / 1000),
                        .backlog = v->n};
        v->next_health_ms = e->time_ms + HEALTH_INTERVAL_MS;
        emit(d, v, &h);
    }
}

void buyt_direct_card(struct buyt_direct *d, int vi, const struct buyt_fleet_card *c)
{
    struct dveh *v = &d->v[vi];
    struct rec r = {.time_ms = c->time_ms};
    if (v->has_fix) { /* position at the tap: the last good fix */
        r = v->last_fix;
        r.time_ms = c->time_ms;
    }
    r.has_pos = v->has_fix;
    if (buyt_cardid_hmac(&d->key, c->uid, BUYT_FLEET_UID_BYTES, r.card_id)) {
        d->st.rejected++;
        return;
    }
    if (c->role == BUYT_FLEET_PASSENGER) {
        r.kind = R_TAP;
        r.sub = BUYT__V1__READER_ROLE__READER_ROLE_PASSENGER;
    } else {
        r.kind = R_DRIVER;
        r.sub = (uint8_t)c->driver_event;
        r.driver_id = c->driver_id;
        r.run_id = c->run_id;
    }
    v->event_pending = true;
    emit(d, v, &r);
}

void buyt_direct_power(struct buyt_direct *d, int vi, int64_t time_ms, bool on)
{
    struct dveh *v = &d->v[vi];
    v->powered = on;
    if (on) {
        v->power_on_ms = time_ms;
        v->next_health_ms = time_ms + HEALTH_INTERVAL_MS;
        v->reported = false;
    }
    Buyt__V1__DeviceStatus s = BUYT__V1__DEVICE_STATUS__INIT;
    s.vehicle_id = v->id;
    s.boot_id = d->cfg.boot_id;
    s.state = on ? BUYT__V1__DEVICE_STATE__DEVICE_STATE_ONLINE : BUYT__V1__DEVICE_STATE__DEVICE_STATE_OFFLINE;
    s.time_ms = (uint64_t)time_ms;
    s.version = (char *)"buyt-sim";
    uint8_t *buf;
    size_t len;
    if (buyt_contract_pack(&s.base, &buf, &len) == 0) {
        if (buyt_mqtt_publish(d->conn[v->conn], v->status_topic, buf, len, 1, true, NULL) == 0)
            d->published_ok++;
        free(buf);
    }
}

void buyt_direct_flush(struct buyt_direct *d, bool all)
{
    for (int i = 0; i < d->nv; i++) {
        if (all)
            d->v[i].in_zone = false;
        if (d->v[i].n)
            flush_vehicle(d, &d->v[i]);
    }
}

uint64_t buyt_direct_backlog(const struct buyt_direct *d)
{
    uint64_t n = 0;
    for (int i = 0; i < d->nv; i++)
        n += d->v[i].n;
    return n;
}

void buyt_direct_stats(const struct buyt_direct *d, struct buyt_direct_stats *out)
{
    *out = d->st;
    uint64_t failed = 0;
    for (int i = 0; i < d->n_conn; i++) {
        struct buyt_mqtt_stats ms;
        buyt_mqtt_stats(d->conn[i], &ms);
        failed += ms.publish_failed;
    }
    out->publish_failed = failed;
}

static void conn_closed(void *arg)
{
    struct buyt_direct *d = arg;
    if (--d->closing > 0)
        return;
    void (*done)(void *) = d->done;
    void *done_arg = d->done_arg;
    for (int i = 0; i < d->nv; i++)
        free(d->v[i].bl);
    buyt_cardid_key_clear(&d->key);
    free(d->conn);
    free(d->v);
    free(d->recs);
    free(d->rec_ptrs);
    free(d->fixes);
    free(d->taps);
    free(d->drivers);
    free(d->healths);
    free(d->buf);
    free(d);
    if (done)
        done(done_arg);
}

void buyt_direct_close(struct buyt_direct *d, void (*done)(void *arg), void *arg)
{
    d->done = done;
    d->done_arg = arg;
    d->closing = d->n_conn;
    for (int i = 0; i < d->n_conn; i++)
        buyt_mqtt_close(d->conn[i], conn_closed, d);
}
