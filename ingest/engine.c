/* The engine's message pipeline; see engine.h. */
#include "engine.h"

#include "clock.h"
#include "error.h"
#include "log.h"
#include "predict_store.h"
#include "spool.h"
#include "topics.h"

#include <inttypes.h>
#include <math.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ startup state */

/* Parses vehicle_progress.stored_ranges ("{lo1,hi1,lo2,hi2}") into s's ranges. */
static void parse_ranges(const char *text, struct buyt_seqset *s)
{
    const char *p = text;
    while (*p && *p != '{')
        p++;
    while (*p && *p != '}') {
        p++;
        char *end;
        uint64_t lo = strtoull(p, &end, 10);
        if (end == p || *end != ',')
            break;
        p = end + 1;
        uint64_t hi = strtoull(p, &end, 10);
        if (end == p)
            break;
        p = end;
        for (uint64_t q = lo; q <= hi && s->n < BUYT_SEQSET_RANGES; q = hi + 1) {
            s->r[s->n].lo = lo;
            s->r[s->n].hi = hi;
            s->n++;
        }
    }
}

static int load_vehicles(struct buyt_engine *e, char *err, size_t errlen)
{
    PGconn *c = PQconnectdb(e->cfg.conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "connecting to PostgreSQL: %s", PQerrorMessage(c));
        PQfinish(c);
        return BUYT_EDB;
    }
    const char *p[1] = {e->cfg.agency};
    PGresult *r = PQexecParams(c,
                               "SELECT v.id, v.vehicle_id, coalesce(p.stored_through_seq, 0),"
                               " coalesce(p.stored_ranges, '{}')"
                               " FROM vehicles v"
                               " LEFT JOIN vehicle_progress_current p ON p.vehicle = v.id"
                               " WHERE v.agency = $1 AND v.active ORDER BY v.id",
                               1, NULL, p, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "loading vehicles: %s", PQerrorMessage(c));
        rc = BUYT_EDB;
    }
    for (int i = 0; !rc && i < PQntuples(r); i++) {
        struct buyt_seqset s;
        buyt_seqset_init(&s, strtoull(PQgetvalue(r, i, 2), NULL, 10));
        parse_ranges(PQgetvalue(r, i, 3), &s);
        if (buyt_vehicles_find(&e->vehicles, PQgetvalue(r, i, 1)))
            continue; /* a reload: known vehicles keep their live state */
        rc = buyt_vehicles_add(&e->vehicles, PQgetvalue(r, i, 1), atoi(PQgetvalue(r, i, 0)), &s);
        if (rc)
            snprintf(err, errlen, "vehicle '%s': %s", PQgetvalue(r, i, 1), buyt_strerror(rc));
    }
    PQclear(r);
    /* Batch ids must grow across runs: after the newest committed or spooled one. */
    if (!rc) {
        r = PQexec(c, "SELECT coalesce(max(batch_id), 0) FROM ingest_batches");
        if (PQresultStatus(r) == PGRES_TUPLES_OK) {
            uint64_t last = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
            if (last >= e->next_batch_id)
                e->next_batch_id = last + 1;
        }
        PQclear(r);
    }
    PQfinish(c);
    return rc;
}

/* The spool holds batches accepted but not committed by an earlier run: their seqs are taken. */
static int load_spool_progress(struct buyt_engine *e, char *err, size_t errlen)
{
    uint64_t *ids;
    int n = buyt_spool_list(e->cfg.spool_dir, &ids);
    if (n < 0) {
        snprintf(err, errlen, "reading spool %s: %s", e->cfg.spool_dir, buyt_strerror(n));
        return n;
    }
    struct buyt_batch b;
    buyt_batch_init(&b);
    for (int i = 0; i < n; i++) {
        if (ids[i] >= e->next_batch_id)
            e->next_batch_id = ids[i] + 1;
        if (buyt_spool_read(e->cfg.spool_dir, ids[i], &b))
            continue; /* the writer quarantines it */
        for (uint32_t k = 0; k < b.n_progress; k++) {
            struct buyt_vehicle *v = buyt_vehicles_by_db_id(&e->vehicles, b.progress[k].vehicle);
            if (v && buyt_seqset_max(&b.progress[k].seqs) >= buyt_seqset_max(&v->accepted))
                v->accepted = b.progress[k].seqs;
        }
    }
    if (n)
        BUYT_INFO("engine", "msg=\"spooled batches from an earlier run will be committed\" n=%d",
                  n);
    buyt_batch_close(&b);
    free(ids);
    return 0;
}

int buyt_engine_predict_init(struct buyt_engine *e, char *err, size_t errlen)
{
    if (e->predict)
        return 0;
    struct buyt_board_config bc;
    buyt_board_config_default(&bc);
    if (buyt_predict_new(NULL, &e->predict) || buyt_boards_new(&bc, &e->boards)) {
        snprintf(err, errlen, "out of memory for the predictor");
        return BUYT_ENOMEM;
    }
    return 0;
}

int buyt_engine_init(struct buyt_engine *e, uv_loop_t *loop, const struct buyt_engine_config *cfg,
                     char *err, size_t errlen)
{
    memset(e, 0, sizeof *e);
    e->loop = loop;
    e->cfg = *cfg;
    if (!e->cfg.batch_ms)
        e->cfg.batch_ms = 200;
    if (!e->cfg.batch_rows)
        e->cfg.batch_rows = 10000;
    if (!e->cfg.drain_timeout_ms)
        e->cfg.drain_timeout_ms = 10000;
    if (!e->cfg.stats_ms)
        e->cfg.stats_ms = 300000;
    if (!e->cfg.ack_interval_ms)
        e->cfg.ack_interval_ms = 5000;
    snprintf(e->client_id, sizeof e->client_id, "%s",
             cfg->client_id ? cfg->client_id : "buyt-ingest-");
    if (!cfg->client_id)
        strncat(e->client_id, cfg->agency, sizeof e->client_id - strlen(e->client_id) - 1);
    buyt_vehicles_init(&e->vehicles);
    buyt_batch_init(&e->batch);
    /* Batch ids: seconds since 2020 in the high bits keeps them growing across runs even if
     * the database is new; load_* move it past anything already used. */
    e->next_batch_id = (uint64_t)(buyt_wall_ms() / 1000 - 1577836800) << 20;
    int rc = buyt_spool_init_dir(cfg->spool_dir);
    if (rc) {
        snprintf(err, errlen, "spool directory %s: %s", cfg->spool_dir, buyt_strerror(rc));
        return rc;
    }
    if (!cfg->conninfo)
        return 0; /* offline (benchmarks, tests): the caller registers vehicles */
    rc = load_vehicles(e, err, errlen);
    if (!rc)
        rc = load_spool_progress(e, err, errlen);
    buyt_stopev_config_default(&e->stopev_cfg);
    if (!rc)
        rc = buyt_engine_predict_init(e, err, errlen);
    if (!rc) {
        PGconn *c = PQconnectdb(cfg->conninfo);
        struct buyt_network *net = NULL;
        struct buyt_netload_info info;
        if (PQstatus(c) != CONNECTION_OK) {
            snprintf(err, errlen, "connecting to PostgreSQL: %s", PQerrorMessage(c));
            rc = BUYT_EDB;
        } else {
            rc = buyt_netload(c, buyt_wall_ms(), -1, 1, &net, &info, err, errlen);
            size_t n = 0;
            if (!rc && buyt_predict_store_load(c, e->predict, &n, err, errlen))
                BUYT_WARN("engine", "msg=\"learned statistics not loaded; starting from the"
                          " schedule\" err=\"%s\"", err);
            else if (!rc)
                BUYT_INFO("engine", "msg=\"learned statistics loaded\" cells=%zu", n);
        }
        PQfinish(c);
        if (!rc)
            buyt_engine_set_network(e, net, &info);
    }
    if (!rc)
        BUYT_INFO("engine", "msg=\"state loaded\" agency=%s vehicles=%u", cfg->agency,
                  e->vehicles.n);
    return rc;
}

int buyt_engine_reload(struct buyt_engine *e)
{
    char err[512];
    e->vehicles_loaded_at = uv_now(e->loop);
    uint32_t before = e->vehicles.n;
    /* Pointers into the registry move on add: nothing holds one across this call. */
    int rc = load_vehicles(e, err, sizeof err);
    if (rc)
        BUYT_ERROR("engine", "msg=\"reload failed\" err=\"%s\"", err);
    else if (e->vehicles.n != before)
        BUYT_INFO("engine", "msg=\"vehicles reloaded\" vehicles=%u new=%u", e->vehicles.n,
                  e->vehicles.n - before);
    return rc;
}

/* ------------------------------------------------------------------ batches and acks */

static void touch(struct buyt_engine *e, struct buyt_vehicle *v)
{
    if (v->in_batch)
        return;
    if (e->n_touched == e->cap_touched) {
        uint32_t cap = e->cap_touched ? e->cap_touched * 2 : 256;
        void *p = realloc(e->touched, cap * sizeof *e->touched);
        if (!p)
            return; /* progress for this vehicle rides on its next batch */
        e->touched = p;
        e->cap_touched = cap;
    }
    e->touched[e->n_touched++] = v->index;
    v->in_batch = true;
}

void buyt_engine_flush(struct buyt_engine *e)
{
    e->batch.n_progress = 0; /* rebuilt from scratch: a failed earlier flush may have left some */
    for (uint32_t i = 0; i < e->n_touched; i++) {
        struct buyt_vehicle *v = &e->vehicles.v[e->touched[i]];
        if (buyt_batch_add_progress(&e->batch, v->db_id, &v->accepted))
            return; /* out of memory: retry at the next flush */
    }
    if (buyt_batch_empty(&e->batch))
        return;
    e->batch.id = e->next_batch_id;
    uint64_t bytes = 0;
    int rc = buyt_spool_write(e->cfg.spool_dir, &e->batch, &bytes);
    if (rc) {
        /* Disk full or gone: keep the batch (it keeps growing) and retry at the next tick. */
        e->stats.spool_errors++;
        BUYT_ERROR("engine", "msg=\"spool write failed; batch kept in memory\" err=\"%s\"",
                   buyt_strerror(rc));
        return;
    }
    e->next_batch_id++;
    e->stats.batches_sealed++;
    e->stats.spool_bytes += bytes;
    for (uint32_t i = 0; i < e->n_touched; i++)
        e->vehicles.v[e->touched[i]].in_batch = false;
    e->n_touched = 0;
    if (e->writer)
        buyt_pgwriter_submit(e->writer, e->batch.id);
    buyt_batch_reset(&e->batch);
}

static void publish_ack(struct buyt_engine *e, struct buyt_vehicle *v, uint64_t through)
{
    v->acked = through;
    v->reack = false;
    v->ack_pending = false;
    v->ack_ms = uv_now(e->loop);
    if (!e->mqtt)
        return;
    Buyt__V1__Ack ack = BUYT__V1__ACK__INIT;
    ack.stored_through_seq = through;
    ack.time_ms = (uint64_t)buyt_wall_ms();
    uint8_t buf[32];
    size_t len = buyt__v1__ack__pack(&ack, buf);
    char topic[BUYT_TOPIC_MAX];
    if (buyt_topic_format(topic, sizeof topic, BUYT_TOPIC_ACK, e->cfg.agency, v->id) ||
        buyt_mqtt_publish(e->mqtt, topic, buf, len, 1, true, NULL)) {
        /* Not connected: the next commit for this vehicle (or the bus's resend) repeats it. */
        e->stats.ack_publish_failed++;
        v->acked = 0;
        return;
    }
    e->stats.acks_published++;
}

/* Ack coalescing. An Ack is a retained publish through the broker: one per vehicle per batch
 * would double the broker's load at 1 Hz (a batch every 200 ms touches every bus). Acks are
 * cumulative (stored_through_seq), so holding one back loses nothing: a vehicle gets at most
 * one every ack_interval_ms, except at once when it is resending (reack) or has ACK_ADVANCE
 * records stored unacknowledged (a journal replay trims as it goes). The bus resends what is
 * unacknowledged after 30 s (journal.h), far beyond the 5 s default. */
#define ACK_ADVANCE 512

static void ack_committed(struct buyt_engine *e, struct buyt_vehicle *v, uint64_t through)
{
    if (through < v->acked || (through == v->acked && !v->reack))
        return;
    uint64_t now = uv_now(e->loop);
    if (e->cfg.ack_interval_ms > 0 && !v->reack && v->ack_ms && v->acked &&
        now - v->ack_ms < (uint64_t)e->cfg.ack_interval_ms && through - v->acked < ACK_ADVANCE) {
        if (v->ack_pending)
            e->stats.acks_coalesced++;
        v->ack_through = through;
        if (!v->ack_pending) {
            if (e->n_ack_wait == e->cap_ack_wait) {
                uint32_t cap = e->cap_ack_wait ? e->cap_ack_wait * 2 : 256;
                void *p = realloc(e->ack_wait, cap * sizeof *e->ack_wait);
                if (!p) {
                    publish_ack(e, v, through); /* no room to wait: ack now */
                    return;
                }
                e->ack_wait = p;
                e->cap_ack_wait = cap;
            }
            e->ack_wait[e->n_ack_wait++] = v->index;
            v->ack_pending = true;
        }
        return;
    }
    if (v->ack_pending)
        e->stats.acks_coalesced++;
    publish_ack(e, v, through);
}

/* Publishes the held-back Acks whose interval has passed (from the flush timer). */
static void ack_sweep(struct buyt_engine *e)
{
    uint64_t now = uv_now(e->loop);
    if (now - e->ack_swept_ms < 250)
        return;
    e->ack_swept_ms = now;
    uint32_t w = 0;
    for (uint32_t i = 0; i < e->n_ack_wait; i++) {
        struct buyt_vehicle *v = &e->vehicles.v[e->ack_wait[i]];
        if (!v->ack_pending)
            continue; /* acked meanwhile */
        if (now - v->ack_ms >= (uint64_t)e->cfg.ack_interval_ms)
            publish_ack(e, v, v->ack_through);
        else
            e->ack_wait[w++] = e->ack_wait[i];
    }
    e->n_ack_wait = w;
}

static void on_committed(void *ud, const struct buyt_pgwriter_done *d)
{
    struct buyt_engine *e = ud;
    if (!d->committed) {
        /* Quarantined files stay in spool/bad/ for an operator; counted, never silent. */
        e->stats.batches_quarantined++;
    } else {
        e->stats.batches_committed++;
        e->stats.rows_committed += d->rows;
    }
    for (uint32_t i = 0; i < d->n_progress; i++) {
        struct buyt_vehicle *v = buyt_vehicles_by_db_id(&e->vehicles, d->progress[i].vehicle);
        if (v)
            ack_committed(e, v, d->progress[i].seqs.base);
    }
}

static bool publish_board(void *ctx, const char *stop_id, const uint8_t *payload, size_t len)
{
    struct buyt_engine *e = ctx;
    char topic[BUYT_TOPIC_MAX];
    if (!e->mqtt || buyt_topic_format(topic, sizeof topic, BUYT_TOPIC_BOARD, e->cfg.agency,
                                      stop_id))
        return false;
    /* QoS 0, retained: a board is state, the newest wins, and the broker keeps it for every
     * sign that (re)connects. QoS 1 would keep thousands of publishes awaiting PUBACK at a
     * city's rate, and libmosquitto then reads that many packets per read call (a stalled
     * loop: docs/INGEST.md). A board lost with a dropped connection is republished within
     * 30 s, and at once when it changes. */
    if (buyt_mqtt_publish(e->mqtt, topic, payload, len, 0, true, NULL))
        return false; /* not connected: offered again at the next tick */
    e->stats.boards_published++;
    return true;
}

static void on_board_timer(uv_timer_t *t)
{
    struct buyt_engine *e = t->data;
    if (e->boards && e->net && e->mqtt && buyt_mqtt_connected(e->mqtt)) {
        int64_t now = buyt_wall_ms();
        buyt_boards_set_utc_offset(e->boards, buyt_engine_utc_offset(e, now));
        buyt_boards_tick(e->boards, e->predict, now, publish_board, e);
    }
}

#define SAMPLES_MAX 16384          /* predictions sampled per save at most (a city: ~10 k) */
#define ACTUALS_EVERY_MS 3600000   /* join actual arrivals to the samples hourly */

/* One save on the threadpool: the statistics that changed, a sample of the current
 * predictions for the accuracy log, and (hourly) the actual times of earlier samples. */
struct stats_save {
    uv_work_t req;
    struct buyt_engine *e;
    char *conninfo;
    struct buyt_predict_stats *snap;
    struct buyt_predict_sample *samples;
    uint32_t n_samples;
    int64_t actuals_since_ms; /* 0: not this time */
    long long actuals;
    int rc, rc_samples, rc_actuals;
    char err[256], err_samples[256];
};

static void stats_save_work(uv_work_t *req)
{
    struct stats_save *w = req->data;
    PGconn *c = PQconnectdb(w->conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(w->err, sizeof w->err, "%s", PQerrorMessage(c));
        w->rc = w->rc_samples = w->rc_actuals = BUYT_EDB;
        PQfinish(c);
        return;
    }
    w->rc = buyt_predict_store_save(c, w->snap, w->err, sizeof w->err);
    if (w->n_samples)
        w->rc_samples = buyt_predict_store_samples(c, w->samples, w->n_samples, w->err_samples,
                                                   sizeof w->err_samples);
    if (w->actuals_since_ms)
        w->rc_actuals = buyt_predict_store_fill_actuals(c, w->actuals_since_ms, &w->actuals,
                                                        w->err_samples, sizeof w->err_samples);
    PQfinish(c);
}

static void stats_save_done(uv_work_t *req, int status)
{
    struct stats_save *w = req->data;
    struct buyt_engine *e = w->e;
    e->stats_saving = false;
    if (status || w->rc) {
        e->stats.stats_save_failures++;
        BUYT_WARN("engine", "msg=\"saving learned statistics failed; retried later\" err=\"%s\"",
                  w->err);
    } else {
        e->stats.stats_saves++;
    }
    if (w->n_samples) {
        if (status || w->rc_samples) {
            /* A sample is a sample: the next one is taken in 5 min; counted, not retried. */
            e->stats.samples_failed += w->n_samples;
            BUYT_WARN("engine", "msg=\"storing prediction samples failed\" n=%u err=\"%s\"",
                      w->n_samples, w->err_samples);
        } else {
            e->stats.samples_stored += w->n_samples;
        }
    }
    if (w->actuals_since_ms && !status && !w->rc_actuals) {
        e->stats.actuals_filled += (uint64_t)w->actuals;
        e->actuals_filled_ms = buyt_wall_ms();
    }
    buyt_predict_stats_free(w->snap);
    free(w->samples);
    free(w->conninfo);
    free(w);
}

/* Saves the learned statistics that changed and a sample of the current predictions, on the
 * threadpool (a restart keeps what was learned; buyt-eval --db reads the samples). */
static void save_stats(struct buyt_engine *e)
{
    if (e->stats_saving || !e->predict || !e->cfg.conninfo)
        return;
    struct stats_save *w = calloc(1, sizeof *w);
    if (!w || !(w->conninfo = strdup(e->cfg.conninfo)) ||
        buyt_predict_stats_snapshot(e->predict, false, &w->snap)) {
        if (w)
            free(w->conninfo);
        free(w);
        return;
    }
    int64_t now = buyt_wall_ms();
    if (e->net && (w->samples = malloc(SAMPLES_MAX * sizeof *w->samples)))
        w->n_samples = buyt_predict_samples(e->predict, now, 120, w->samples, SAMPLES_MAX);
    if (now - e->actuals_filled_ms >= ACTUALS_EVERY_MS)
        w->actuals_since_ms = now - 86400000;
    w->e = e;
    w->req.data = w;
    if (uv_queue_work(e->loop, &w->req, stats_save_work, stats_save_done)) {
        buyt_predict_stats_free(w->snap);
        free(w->samples);
        free(w->conninfo);
        free(w);
        return;
    }
    e->stats_saving = true;
}

static void on_stats_timer(uv_timer_t *t) { save_stats(t->data); }

static void on_flush_timer(uv_timer_t *t)
{
    struct buyt_engine *e = t->data;
    if (e->unknown_seen && e->cfg.conninfo && uv_now(e->loop) - e->vehicles_loaded_at >= 10000) {
        e->unknown_seen = false;
        buyt_engine_reload(e);
    }
    if (e->n_ack_wait)
        ack_sweep(e);
    if (e->batch.opened_ms && uv_now(e->loop) - (uint64_t)e->batch.opened_ms >= e->cfg.batch_ms)
        buyt_engine_flush(e);
    else if (e->n_touched && buyt_batch_rows(&e->batch) == 0)
        buyt_engine_flush(e); /* progress only (duplicates, device drops): still worth an ack */
}

/* ------------------------------------------------------------------ the pipeline */

static void reject_message(struct buyt_engine *e, const char *topic, enum buyt_reject why,
                           const char *vehicle_id, const void *payload, size_t len, int64_t now)
{
    e->stats.rejected_messages[why]++;
    if (len > BUYT_CONTRACT_MAX_MSG_BYTES)
        len = BUYT_CONTRACT_MAX_MSG_BYTES; /* keep the evidence bounded */
    if (!e->batch.opened_ms)
        e->batch.opened_ms = (int64_t)uv_now(e->loop);
    buyt_batch_add_reject(&e->batch, now, topic, buyt_reject_name(why), vehicle_id, -1, payload,
                          len);
    BUYT_DEBUG("engine", "msg=rejected topic=%s reason=%s", topic, buyt_reject_name(why));
}

static void reject_record(struct buyt_engine *e, const char *topic, struct buyt_vehicle *v,
                          const Buyt__V1__Record *r, enum buyt_reject why, int64_t now)
{
    e->stats.rejected_records[why]++;
    size_t need = buyt__v1__record__get_packed_size(r);
    if (need > e->scratch_cap) {
        void *p = realloc(e->scratch, need);
        if (!p)
            return;
        e->scratch = p;
        e->scratch_cap = need;
    }
    size_t len = buyt__v1__record__pack(r, e->scratch);
    buyt_batch_add_reject(&e->batch, now, topic, buyt_reject_name(why), v->id,
                          r->seq ? (int64_t)r->seq : -1, e->scratch, len);
}

static void position_of(const Buyt__V1__Fix *f, int32_t *lat, int32_t *lon)
{
    bool has = f && f->quality != BUYT__V1__FIX_QUALITY__FIX_QUALITY_NONE;
    *lat = has ? f->lat_e7 : BUYT_BATCH_NULL_I32;
    *lon = has ? f->lon_e7 : BUYT_BATCH_NULL_I32;
}

/* ------------------------------------------------------------------ matching */

static void apply_signin(struct buyt_engine *e, struct buyt_vehicle *v, int64_t time_ms)
{
    if (!e->matcher)
        return;
    if (v->signin_trip[0]) {
        uint32_t t = buyt_network_trip_find(e->net, v->signin_trip, time_ms);
        if (t != BUYT_NETWORK_NONE && !buyt_matcher_assign_trip(e->matcher, &v->mv, t))
            return;
    }
    if (v->signin_run[0]) {
        uint32_t b = buyt_network_block_find(e->net, v->signin_run);
        if (b != BUYT_NETWORK_NONE && !buyt_matcher_assign_block(e->matcher, &v->mv, b))
            return;
    }
    if (v->signin_route[0]) {
        uint32_t r = buyt_network_route_find(e->net, v->signin_route);
        if (r != BUYT_NETWORK_NONE)
            buyt_matcher_assign_route(e->matcher, &v->mv, r);
    }
}

int32_t buyt_engine_utc_offset(const struct buyt_engine *e, int64_t ms)
{
    return buyt_netload_utc_offset(&e->net_info, ms, BUYT_ENGINE_DEFAULT_UTC_OFFSET_S);
}

void buyt_engine_set_network(struct buyt_engine *e, struct buyt_network *net,
                             const struct buyt_netload_info *info)
{
    struct buyt_matcher *m = NULL;
    if (net) {
        struct buyt_matcher_config mc;
        buyt_matcher_config_default(&mc);
        if (buyt_matcher_new(net, &mc, &m)) {
            BUYT_ERROR("engine", "msg=\"matcher allocation failed; keeping the old network\"");
            buyt_network_free(net);
            e->stats.network_load_failures++;
            return;
        }
    }
    buyt_matcher_free(e->matcher);
    buyt_network_free(e->net);
    e->net = net;
    e->matcher = m;
    if (e->predict) {
        buyt_predict_set_network(e->predict, net);
        buyt_boards_set_network(e->boards, net);
    }
    if (info)
        e->net_info = *info;
    if (e->boards)
        buyt_boards_set_utc_offset(e->boards, buyt_engine_utc_offset(e, buyt_wall_ms()));
    e->stats.network_loads++;
    for (uint32_t i = 0; i < e->vehicles.n; i++) {
        struct buyt_vehicle *v = &e->vehicles.v[i];
        buyt_matcher_vehicle_init(&v->mv, (uint32_t)v->db_id);
        buyt_stopev_vehicle_init(&v->sv);
        v->trip = BUYT_NETWORK_NONE;
        v->off_route = v->layover = v->completed = false;
        apply_signin(e, v, v->last_fix_ms ? v->last_fix_ms : buyt_wall_ms());
    }
    if (net)
        BUYT_INFO("engine", "msg=\"network loaded\" feed_version=%d timezone=%s days=%s..%s"
                  " routes=%u stops=%u shapes=%u trips=%u load_ms=%.0f",
                  e->net_info.feed_version, e->net_info.timezone, e->net_info.first_day,
                  e->net_info.last_day, net->n_routes, net->n_stops, net->n_shapes, net->n_trips,
                  e->net_info.load_ms);
    if (net && e->net_info.frequency_trips)
        BUYT_INFO("engine", "msg=\"frequency-based trips expanded into runs\" trips=%u runs=%u",
                  e->net_info.frequency_trips, e->net_info.frequency_runs);
}

struct reload {
    uv_work_t req;
    struct buyt_engine *e;
    char *conninfo;
    int64_t now_ms;
    struct buyt_network *net;
    struct buyt_netload_info info;
    int rc;
    char err[512];
};

static void reload_work(uv_work_t *req)
{
    struct reload *r = req->data;
    PGconn *c = PQconnectdb(r->conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(r->err, sizeof r->err, "connecting: %s", PQerrorMessage(c));
        r->rc = BUYT_EDB;
    } else {
        r->rc = buyt_netload(c, r->now_ms, -1, 1, &r->net, &r->info, r->err, sizeof r->err);
    }
    PQfinish(c);
}

static void reload_done(uv_work_t *req, int status)
{
    struct reload *r = req->data;
    struct buyt_engine *e = r->e;
    e->net_loading = false;
    if (status || r->rc || e->stopping) {
        if (!e->stopping) {
            e->stats.network_load_failures++;
            BUYT_ERROR("engine", "msg=\"network reload failed; keeping the current one\" err=\"%s\"",
                       r->err);
        }
        buyt_network_free(r->net);
    } else {
        buyt_engine_set_network(e, r->net, &r->info);
    }
    free(r->conninfo);
    free(r);
}

void buyt_engine_reload_network(struct buyt_engine *e)
{
    if (e->net_loading || e->stopping || !e->cfg.conninfo)
        return;
    struct reload *r = calloc(1, sizeof *r);
    if (!r || !(r->conninfo = strdup(e->cfg.conninfo))) {
        free(r);
        return;
    }
    r->e = e;
    r->now_ms = buyt_wall_ms();
    r->req.data = r;
    if (uv_queue_work(e->loop, &r->req, reload_work, reload_done)) {
        free(r->conninfo);
        free(r);
        return;
    }
    e->net_loading = true;
}

static void on_net_timer(uv_timer_t *t)
{
    struct buyt_engine *e = t->data;
    if (e->net_info.refresh_at_ms && buyt_wall_ms() >= e->net_info.refresh_at_ms) {
        BUYT_INFO("engine", "msg=\"new service day: loading the network\"");
        e->net_info.refresh_at_ms = 0; /* once; the new load sets the next */
        buyt_engine_reload_network(e);
    }
}

struct stopev_ctx {
    struct buyt_engine *e;
    struct buyt_vehicle *v;
};

static int32_t unix_day(int64_t ms) { return (int32_t)(ms / 86400000); }

static void on_stop_event(void *arg, const struct buyt_stopev_event *ev)
{
    struct stopev_ctx *c = arg;
    const struct buyt_network *net = c->e->net;
    const struct buyt_network_trip *t = &net->trips[ev->trip];
    const struct buyt_network_time *tm = &net->times[t->first_time + ev->stop_index];
    /* The service date is the local date of the day's noon: within +-12 h of UTC noon. */
    struct buyt_batch_stop_event row = {
        .service_day = unix_day(t->day_start_ms + 12 * 3600 * 1000),
        .trip_id = t->id,
        .stop_id = net->stops[ev->stop].id,
        .route_id = net->routes[t->route].id,
        .stop_sequence = (int32_t)ev->stop_sequence,
        .vehicle = c->v->db_id,
        .arrival_ms = ev->arrival_ms ? ev->arrival_ms : -1,
        .departure_ms = ev->departure_ms ? ev->departure_ms : -1,
        .scheduled_arrival_ms = t->day_start_ms + (int64_t)tm->arrival_s * 1000,
        .passed = ev->passed,
        .run_start_s = t->run_start_s,
    };
    buyt_batch_add_stop_event(&c->e->batch, &row);
    if (c->e->predict)
        buyt_predict_observe(c->e->predict, c->v->index, ev);
    c->e->stats.stop_events++;
    c->e->stats.stop_events_passed += ev->passed;
}

/* ------------------------------------------------------------------ boards touched by a fix */

#define BOARD_FLUSH_MS 5 /* coalesce a burst of fixes into one build per touched stop */

/* Builds and publishes the marked boards. Its duty cycle is bounded: the next flush may start
 * only after as long again as this one took (at least BOARD_FLUSH_MS), so that when a burst
 * marks thousands of stops (a city's buses all assigned at start) the messages keep flowing
 * and the loop keeps serving, with the boards a little later instead of the loop stalled. */
static void boards_flush_now(struct buyt_engine *e)
{
    uint64_t t0 = buyt_mono_ns();
    if (e->boards && e->net && e->mqtt && buyt_mqtt_connected(e->mqtt))
        buyt_boards_flush(e->boards, e->predict, buyt_wall_ms(), publish_board, e);
    uint64_t d = buyt_mono_ns() - t0, min = BOARD_FLUSH_MS * 1000000ull;
    e->board_flush_next_ns = t0 + d + (d > min ? d : min);
}

static void on_board_flush(uv_timer_t *t)
{
    struct buyt_engine *e = t->data;
    uint64_t now = buyt_mono_ns();
    if (now < e->board_flush_next_ns) {
        uv_timer_start(t, on_board_flush, (e->board_flush_next_ns - now) / 1000000 + 1, 0);
        return;
    }
    boards_flush_now(e);
}

struct view_copy {
    uint32_t trip, from, n;
    size_t off; /* its eta_ms[from..n) at e->view_eta[off..) */
    bool at_first; /* the vehicle stands at stop `from` */
};

/* Copies a vehicle's predictions (before an update overwrites them). Returns the views kept. */
static uint32_t views_copy(struct buyt_engine *e, uint32_t vehicle, struct view_copy *vc)
{
    struct buyt_predict_trip_view tv[1 + BUYT_PREDICT_CHAIN_MAX];
    uint32_t n = buyt_predict_vehicle_view(e->predict, vehicle, tv, 1 + BUYT_PREDICT_CHAIN_MAX);
    size_t need = 0;
    for (uint32_t i = 0; i < n; i++)
        need += tv[i].n - tv[i].from;
    if (need > e->view_eta_cap) {
        int64_t *g = realloc(e->view_eta, need * sizeof *g);
        if (!g)
            return 0; /* the tick still sees every change within a second */
        e->view_eta = g;
        e->view_eta_cap = need;
    }
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct buyt_predict_arrival a;
        vc[i] = (struct view_copy){.trip = tv[i].trip, .from = tv[i].from, .n = tv[i].n,
                                   .off = off};
        vc[i].at_first = buyt_predict_get(e->predict, tv[i].trip, tv[i].from, &a) ==
                             BUYT_PREDICT_LIVE && a.at_stop;
        memcpy(e->view_eta + off, tv[i].eta_ms + tv[i].from,
               (tv[i].n - tv[i].from) * sizeof(int64_t));
        off += tv[i].n - tv[i].from;
    }
    return n;
}

static int64_t minute_of(int64_t eta_ms, int64_t now_ms)
{
    int64_t d = eta_ms - now_ms;
    return d >= 0 ? d / 60000 : -((-d + 59999) / 60000);
}

static void touch_stop(struct buyt_engine *e, uint32_t trip, uint32_t k)
{
    buyt_boards_touch(e->boards, buyt_network_trip_stop(e->net, trip, k), e->recv_ns);
}

/* Marks the stops whose board a prediction update may have changed for a rider: a stop
 * predicted before or after but not both, a predicted minute that moved (counted from the
 * fix's time, as boards count from their clock), the bus arriving at or leaving its stop,
 * the bus going off route or back. Everything else (minutes counting down) is the tick's. */
static void touch_changed(struct buyt_engine *e, uint32_t vehicle, int64_t now_ms,
                          const struct view_copy *old, uint32_t n_old, bool off_before)
{
    struct buyt_predict_trip_view tv[1 + BUYT_PREDICT_CHAIN_MAX];
    uint32_t n = buyt_predict_vehicle_view(e->predict, vehicle, tv, 1 + BUYT_PREDICT_CHAIN_MAX);
    bool off_now = false;
    buyt_predict_vehicle_fix_ms(e->predict, vehicle, &off_now);
    bool all = off_now != off_before;
    for (uint32_t i = 0; i < n; i++) {
        const struct view_copy *o = NULL;
        for (uint32_t j = 0; j < n_old && !o; j++)
            if (old[j].trip == tv[i].trip)
                o = &old[j];
        for (uint32_t k = tv[i].from; k < tv[i].n; k++) {
            bool was = o && k >= o->from && k < o->n;
            if (all || !was ||
                minute_of(e->view_eta[o->off + (k - o->from)], now_ms) !=
                    minute_of(tv[i].eta_ms[k], now_ms))
                touch_stop(e, tv[i].trip, k);
        }
        struct buyt_predict_arrival a;
        bool at_first = buyt_predict_get(e->predict, tv[i].trip, tv[i].from, &a) ==
                            BUYT_PREDICT_LIVE && a.at_stop;
        if (o && o->from == tv[i].from && o->at_first != at_first)
            touch_stop(e, tv[i].trip, tv[i].from);
    }
    for (uint32_t j = 0; j < n_old; j++) { /* stops no longer predicted: left, or trip dropped */
        const struct buyt_predict_trip_view *t = NULL;
        for (uint32_t i = 0; i < n && !t; i++)
            if (tv[i].trip == old[j].trip)
                t = &tv[i];
        for (uint32_t k = old[j].from; k < old[j].n; k++)
            if (!t || k < t->from || k >= t->n)
                touch_stop(e, old[j].trip, k);
    }
    if (e->board_flush_ready && !e->stopping && buyt_boards_pending(e->boards) &&
        !uv_is_active((uv_handle_t *)&e->board_flush_timer))
        uv_timer_start(&e->board_flush_timer, on_board_flush, BOARD_FLUSH_MS, 0);
}

/* After each message. Fixes come in bursts (receivers report on the GNSS second): a burst of
 * thousands of messages holds the loop for tens of ms before any timer runs, so the flush
 * also runs inline once the oldest mark is BOARD_FLUSH_MS old. */
static void boards_flush_if_due(struct buyt_engine *e)
{
    if (e->board_flush_ready && !e->stopping && e->boards && buyt_boards_pending(e->boards) &&
        e->recv_ns - buyt_boards_oldest_mark(e->boards) >= BOARD_FLUSH_MS * 1000000ull &&
        e->recv_ns >= e->board_flush_next_ns) {
        uv_timer_stop(&e->board_flush_timer);
        boards_flush_now(e);
    }
}

/* buyt_predict_vehicle, and the boards it changed marked for publishing within ms. */
static void predict_fix(struct buyt_engine *e, struct buyt_vehicle *v, int64_t time_ms,
                        const struct buyt_matcher_result *res)
{
    struct view_copy old[1 + BUYT_PREDICT_CHAIN_MAX];
    bool off_before = false;
    buyt_predict_vehicle_fix_ms(e->predict, v->index, &off_before);
    uint32_t n_old = e->boards ? views_copy(e, v->index, old) : 0;
    buyt_predict_vehicle(e->predict, v->index, v->id, time_ms, res);
    if (e->boards && e->net)
        touch_changed(e, v->index, time_ms, old, n_old, off_before);
}

/* buyt_predict_vehicle_drop, and the boards the vehicle was on marked. */
static void predict_drop(struct buyt_engine *e, struct buyt_vehicle *v)
{
    struct view_copy old[1 + BUYT_PREDICT_CHAIN_MAX];
    bool off_before = false;
    buyt_predict_vehicle_fix_ms(e->predict, v->index, &off_before);
    uint32_t n_old = e->boards ? views_copy(e, v->index, old) : 0;
    buyt_predict_vehicle_drop(e->predict, v->index);
    if (e->boards && e->net) {
        e->recv_ns = buyt_mono_ns();
        touch_changed(e, v->index, buyt_wall_ms(), old, n_old, off_before);
    }
}

/* Runs the newest fix of a vehicle through the matcher and the stop-event detector. */
static void match_fix(struct buyt_engine *e, struct buyt_vehicle *v, const Buyt__V1__Record *r)
{
    if (!e->matcher)
        return;
    const Buyt__V1__Fix *f = r->fix;
    double speed = (f->fields & BUYT__V1__FIX_FIELD__FIX_FIELD_SPEED) ? f->speed_cms / 100.0 : NAN;
    double course =
        (f->fields & BUYT__V1__FIX_FIELD__FIX_FIELD_COURSE) ? f->course_cdeg / 100.0 : NAN;
    struct buyt_matcher_result *res = &e->mres;
    if (buyt_matcher_update(e->matcher, &v->mv, (int64_t)r->time_ms, buyt_e7_to_deg(f->lat_e7),
                            buyt_e7_to_deg(f->lon_e7), speed, course, res)) {
        e->stats.fixes_refused++; /* stale or an impossible jump: stored, not matched */
        return;
    }
    v->trip = res->trip;
    v->matched_ms = (int64_t)r->time_ms;
    if (res->trip == BUYT_NETWORK_NONE) {
        e->stats.fixes_unmatched++;
        v->off_route = res->off_route;
        if (e->predict)
            predict_fix(e, v, (int64_t)r->time_ms, res);
        return;
    }
    e->stats.fixes_matched++;
    e->stats.assignments += res->assigned_now;
    e->stats.off_route_fixes += res->off_route;
    v->how = (uint8_t)res->how;
    v->off_route = res->off_route;
    v->layover = res->layover;
    v->completed = res->completed;
    v->deviation_s = res->deviation_s;
    v->dist_m = (float)res->dist_m;
    v->next_stop = res->next_stop;
    struct stopev_ctx c = {e, v};
    buyt_stopev_feed(e->net, &e->stopev_cfg, &v->sv, res, on_stop_event, &c);
    /* After the stop events, so what they taught is used for this very prediction. */
    if (e->predict)
        predict_fix(e, v, (int64_t)r->time_ms, res);
}

static void driver_event(struct buyt_engine *e, struct buyt_vehicle *v,
                         const Buyt__V1__DriverEvent *d, int64_t time_ms)
{
    if (d->kind == BUYT__V1__DRIVER_EVENT_KIND__DRIVER_EVENT_SIGN_IN) {
        snprintf(v->signin_trip, sizeof v->signin_trip, "%s", d->trip_id ? d->trip_id : "");
        snprintf(v->signin_route, sizeof v->signin_route, "%s", d->route_id ? d->route_id : "");
        snprintf(v->signin_run, sizeof v->signin_run, "%s", d->run_id ? d->run_id : "");
        apply_signin(e, v, time_ms);
    } else if (d->kind == BUYT__V1__DRIVER_EVENT_KIND__DRIVER_EVENT_SIGN_OUT) {
        v->signin_trip[0] = v->signin_route[0] = v->signin_run[0] = '\0';
        if (e->matcher)
            buyt_matcher_unassign(e->matcher, &v->mv);
        if (e->predict)
            predict_drop(e, v);
    }
}

static void store_fix(struct buyt_engine *e, struct buyt_vehicle *v, const Buyt__V1__Record *r)
{
    const Buyt__V1__Fix *f = r->fix;
    if (f->quality == BUYT__V1__FIX_QUALITY__FIX_QUALITY_NONE) {
        e->stats.nofix++; /* accounted for: a no-fix is never stored as a position */
        return;
    }
    int16_t speed = (f->fields & BUYT__V1__FIX_FIELD__FIX_FIELD_SPEED) ? (int16_t)f->speed_cms : -1;
    int16_t course =
        (f->fields & BUYT__V1__FIX_FIELD__FIX_FIELD_COURSE) ? (int16_t)(f->course_cdeg / 10) : -1;
    buyt_batch_add_fix(&e->batch, (int64_t)r->time_ms, v->db_id, f->lat_e7, f->lon_e7, speed,
                       course);
    if ((int64_t)r->time_ms > v->last_fix_ms) {
        /* Newest position (late replayed fixes are stored but do not move the bus). */
        int64_t dt = (int64_t)r->time_ms - v->last_fix_ms;
        v->moved_cms = BUYT_VEHICLE_UNKNOWN;
        if (speed < 0 && v->last_fix_ms && dt <= 60000) {
            double m = buyt_geo_haversine_m(buyt_e7_to_deg(v->lat_e7), buyt_e7_to_deg(v->lon_e7),
                                            buyt_e7_to_deg(f->lat_e7), buyt_e7_to_deg(f->lon_e7));
            double cms = m * 100000.0 / (double)dt;
            v->moved_cms = cms < 1e9 ? (uint32_t)cms : 1000000000u; /* a jump: moving */
        }
        v->last_fix_ms = (int64_t)r->time_ms;
        v->lat_e7 = f->lat_e7;
        v->lon_e7 = f->lon_e7;
        /* A receiver that gives no speed or course (GGA only) leaves them unknown, not 0. */
        v->speed_cms = speed >= 0 ? (uint32_t)speed : BUYT_VEHICLE_UNKNOWN;
        v->course_cdeg = course >= 0 ? f->course_cdeg : BUYT_VEHICLE_UNKNOWN;
        match_fix(e, v, r);
    } else {
        /* A replayed fix older than one already matched: stored, not re-matched (matching
         * and stop events follow GNSS time forward). */
        e->stats.fixes_late++;
    }
}

static void store_record(struct buyt_engine *e, struct buyt_vehicle *v, const Buyt__V1__Record *r)
{
    int64_t t = (int64_t)r->time_ms;
    int64_t seq = (int64_t)r->seq;
    int32_t lat, lon;
    switch (r->body_case) {
    case BUYT__V1__RECORD__BODY_FIX:
        store_fix(e, v, r);
        break;
    case BUYT__V1__RECORD__BODY_CARD_TAP: {
        const Buyt__V1__CardTap *c = r->card_tap;
        position_of(c->position, &lat, &lon);
        buyt_batch_add_card_tap(&e->batch, t, v->db_id, seq, (int16_t)c->role, lat, lon,
                                c->card_id.data, c->card_id.len);
        if (c->role == BUYT__V1__READER_ROLE__READER_ROLE_PASSENGER)
            buyt_vehicle_boarding(v, (int64_t)r->time_ms);
        break;
    }
    case BUYT__V1__RECORD__BODY_DRIVER_EVENT: {
        const Buyt__V1__DriverEvent *d = r->driver_event;
        position_of(d->position, &lat, &lon);
        buyt_batch_add_driver_event(&e->batch, t, v->db_id, seq, (int16_t)d->kind, lat, lon,
                                    d->driver_id, d->card_id.data, d->card_id.len, d->route_id,
                                    d->trip_id, d->run_id);
        driver_event(e, v, d, t);
        break;
    }
    case BUYT__V1__RECORD__BODY_DOOR_EVENT: {
        const Buyt__V1__DoorEvent *d = r->door_event;
        position_of(d->position, &lat, &lon);
        buyt_batch_add_door_event(&e->batch, t, v->db_id, seq, (int16_t)d->door, d->open, lat,
                                  lon);
        break;
    }
    case BUYT__V1__RECORD__BODY_HEALTH: {
        const Buyt__V1__Health *h = r->health;
        struct buyt_batch_health row = {
            .time_ms = t, .seq = seq, .vehicle = v->db_id, .uptime_s = (int32_t)h->uptime_s,
            .oldest_unacked_age_s = (int32_t)h->oldest_unacked_age_s,
            .journal_records = (int64_t)h->journal_records,
            .journal_bytes = (int64_t)h->journal_bytes,
            .nmea_rejected = (int64_t)h->nmea_rejected,
            .rfid_rejected = (int64_t)h->rfid_rejected,
            .serial_errors = (int64_t)h->serial_errors,
            .journal_dropped = (int64_t)h->journal_dropped,
            .journal_torn = (int64_t)h->journal_torn, .gps_state = (int16_t)h->gps_state,
            .satellites = (int16_t)h->satellites, .version = h->version};
        buyt_batch_add_health(&e->batch, &row);
        break;
    }
    default:
        break;
    }
}

static void handle_telemetry(struct buyt_engine *e, const char *topic, const char *vid,
                             const void *payload, size_t len, int64_t now)
{
    Buyt__V1__Telemetry *t;
    enum buyt_reject why = buyt_telemetry_decode(payload, len, &t);
    if (why != BUYT_REJECT_NONE) {
        reject_message(e, topic, why, vid, payload, len, now);
        return;
    }
    if (strcmp(t->vehicle_id, vid)) {
        reject_message(e, topic, BUYT_REJECT_VEHICLE_MISMATCH, vid, payload, len, now);
        buyt_telemetry_free(t);
        return;
    }
    struct buyt_vehicle *v = buyt_vehicles_find(&e->vehicles, vid);
    if (!v) {
        reject_message(e, topic, BUYT_REJECT_UNKNOWN_VEHICLE, vid, payload, len, now);
        buyt_telemetry_free(t);
        e->unknown_seen = true; /* maybe registered since: the flush timer reloads */
        return;
    }
    if (!e->batch.opened_ms)
        e->batch.opened_ms = (int64_t)uv_now(e->loop);
    v->last_seen_ms = now;
    v->boot_id = t->boot_id;
    if (t->dropped_through_seq > v->accepted.base) {
        e->stats.lost_on_device += buyt_seqset_skip_through(&v->accepted, t->dropped_through_seq);
        touch(e, v);
    }
    for (size_t i = 0; i < t->n_records; i++) {
        const Buyt__V1__Record *r = t->records[i];
        e->stats.records++;
        enum buyt_reject bad = buyt_contract_check_record(r, now);
        if (r->seq == 0) {
            reject_record(e, topic, v, r, bad, now);
            continue;
        }
        uint64_t gap;
        enum buyt_seqset_add add = buyt_seqset_add(&v->accepted, r->seq, &gap);
        if (add == BUYT_SEQSET_DUPLICATE) {
            /* A re-send means the bus has not seen our Ack (lost, or published while the broker
             * was away): the next commit repeats it. */
            e->stats.duplicates++;
            v->reack = true;
            touch(e, v);
            continue;
        }
        if (add == BUYT_SEQSET_FULL) {
            e->stats.deferred++; /* not taken, never acked: the bus re-sends it later */
            continue;
        }
        if (gap) {
            e->stats.gaps++;
            e->stats.gap_seqs += gap;
        }
        touch(e, v);
        if (bad != BUYT_REJECT_NONE) {
            reject_record(e, topic, v, r, bad, now);
            continue;
        }
        e->stats.accepted++;
        e->batch.records++;
        store_record(e, v, r);
    }
    buyt_telemetry_free(t);
}

static void handle_status(struct buyt_engine *e, const char *topic, const char *vid,
                          const void *payload, size_t len, bool retained, int64_t now)
{
    e->stats.status_messages++;
    Buyt__V1__DeviceStatus *s = buyt__v1__device_status__unpack(NULL, len, payload);
    enum buyt_reject why = BUYT_REJECT_NONE;
    struct buyt_vehicle *v = NULL;
    if (!s)
        why = BUYT_REJECT_TRUNCATED;
    else if (strcmp(s->vehicle_id, vid))
        why = BUYT_REJECT_VEHICLE_MISMATCH;
    else if (!buyt_contract_enum_known(&buyt__v1__device_state__descriptor, (int)s->state))
        why = BUYT_REJECT_UNKNOWN_ENUM;
    else if (!(v = buyt_vehicles_find(&e->vehicles, vid)))
        why = BUYT_REJECT_UNKNOWN_VEHICLE;
    if (why != BUYT_REJECT_NONE) {
        reject_message(e, topic, why, vid, payload, len, now);
    } else if (!retained) {
        /* A retained copy is the state we already stored when it was live (MQTT 3.1.1 sets the
         * retain flag only on delivery to a new subscription). */
        if (!e->batch.opened_ms)
            e->batch.opened_ms = (int64_t)uv_now(e->loop);
        int64_t t = s->time_ms ? (int64_t)s->time_ms : now;
        buyt_batch_add_status(&e->batch, t, v->db_id, (int16_t)s->state, (int64_t)s->boot_id,
                              s->version);
    }
    if (s)
        buyt__v1__device_status__free_unpacked(s, NULL);
}

void buyt_engine_handle(struct buyt_engine *e, const char *topic, const void *payload, size_t len,
                        bool retained, int64_t recv_ms)
{
    e->stats.messages++;
    e->recv_ns = buyt_mono_ns();
    char agency[BUYT_ID_MAX], id[BUYT_ID_MAX];
    enum buyt_topic_kind kind = buyt_topic_parse(topic, agency, id);
    if (kind != BUYT_TOPIC_UNKNOWN && strcmp(agency, e->cfg.agency))
        kind = BUYT_TOPIC_UNKNOWN;
    switch (kind) {
    case BUYT_TOPIC_TELEMETRY:
        handle_telemetry(e, topic, id, payload, len, recv_ms);
        break;
    case BUYT_TOPIC_STATUS:
        handle_status(e, topic, id, payload, len, retained, recv_ms);
        break;
    default:
        reject_message(e, topic, BUYT_REJECT_BAD_TOPIC, NULL, payload, len, recv_ms);
        break;
    }
    if (buyt_batch_rows(&e->batch) >= e->cfg.batch_rows)
        buyt_engine_flush(e);
    boards_flush_if_due(e);
}

/* ------------------------------------------------------------------ broker session */

static void on_connect(struct buyt_mqtt *m, void *ud)
{
    struct buyt_engine *e = ud;
    char f[BUYT_TOPIC_MAX];
    if (!buyt_topic_filter(f, sizeof f, BUYT_TOPIC_TELEMETRY, e->cfg.agency))
        buyt_mqtt_subscribe(m, f, 1);
    if (!buyt_topic_filter(f, sizeof f, BUYT_TOPIC_STATUS, e->cfg.agency))
        buyt_mqtt_subscribe(m, f, 1);
}

static void on_message(struct buyt_mqtt *m, const char *topic, const void *payload, size_t len,
                       int qos, bool retained, void *ud)
{
    (void)m, (void)qos;
    struct buyt_engine *e = ud;
    buyt_engine_handle(e, topic, payload, len, retained, buyt_wall_ms());
}

int buyt_engine_start(struct buyt_engine *e)
{
    struct buyt_pgwriter_opts wo = {.conninfo = e->cfg.conninfo, .spool_dir = e->cfg.spool_dir,
                                    .progress_fold_ms = e->cfg.progress_fold_ms,
                                    .batch_retention_s = e->cfg.batch_retention_s};
    int rc = buyt_pgwriter_start(e->loop, &wo, on_committed, e, &e->writer);
    if (rc)
        return rc;
    uv_timer_init(e->loop, &e->flush_timer);
    e->flush_timer.data = e;
    uint32_t tick = e->cfg.batch_ms / 4 ? e->cfg.batch_ms / 4 : 1;
    uv_timer_start(&e->flush_timer, on_flush_timer, tick, tick);
    uv_timer_init(e->loop, &e->drain_timer);
    e->drain_timer.data = e;
    uv_timer_init(e->loop, &e->net_timer);
    e->net_timer.data = e;
    uv_timer_start(&e->net_timer, on_net_timer, 60000, 60000);
    uv_timer_init(e->loop, &e->board_timer);
    e->board_timer.data = e;
    uv_timer_start(&e->board_timer, on_board_timer, 1000, 1000);
    uv_timer_init(e->loop, &e->board_flush_timer);
    e->board_flush_timer.data = e;
    e->board_flush_ready = true;
    uv_timer_init(e->loop, &e->stats_timer);
    e->stats_timer.data = e;
    uv_timer_start(&e->stats_timer, on_stats_timer, e->cfg.stats_ms, e->cfg.stats_ms);
    if (e->cfg.mqtt_url) {
        struct buyt_mqtt_opts mo = {.url = e->cfg.mqtt_url, .client_id = e->client_id,
                                    .clean_session = false, .max_inflight = 1000};
        struct buyt_mqtt_callbacks cb = {.on_connect = on_connect, .on_message = on_message};
        rc = buyt_mqtt_new(e->loop, &mo, &cb, e, &e->mqtt);
        if (rc)
            return rc;
        buyt_mqtt_start(e->mqtt);
    }
    return 0;
}

uint64_t buyt_engine_pending(struct buyt_engine *e)
{
    if (!e->writer)
        return 0;
    struct buyt_pgwriter_stats s;
    buyt_pgwriter_stats(e->writer, &s);
    return s.pending;
}

/* ------------------------------------------------------------------ shutdown */

static void finish_stop(struct buyt_engine *e);

static void on_handle_closed(uv_handle_t *h)
{
    struct buyt_engine *e = h->data;
    if ((void *)h == (void *)&e->drain_timer && e->stopped)
        e->stopped(e->stopped_arg);
}

static void on_drain(uv_timer_t *t)
{
    struct buyt_engine *e = t->data;
    if (buyt_engine_pending(e) == 0 || uv_now(e->loop) >= e->stop_deadline) {
        uv_timer_stop(t);
        finish_stop(e);
    }
}

static void on_mqtt_closed(void *arg)
{
    struct buyt_engine *e = arg;
    e->mqtt = NULL;
    buyt_engine_flush(e);
    e->stop_deadline = uv_now(e->loop) + e->cfg.drain_timeout_ms;
    uv_timer_start(&e->drain_timer, on_drain, 0, 20);
}

static void finish_stop(struct buyt_engine *e)
{
    uint64_t left = buyt_engine_pending(e);
    if (left)
        BUYT_WARN("engine", "msg=\"stopping with batches not yet committed; they stay in the"
                  " spool for the next run\" pending=%" PRIu64, left);
    buyt_pgwriter_stop(e->writer);
    e->writer = NULL;
    uv_close((uv_handle_t *)&e->flush_timer, on_handle_closed);
    uv_close((uv_handle_t *)&e->net_timer, on_handle_closed);
    uv_close((uv_handle_t *)&e->board_timer, on_handle_closed);
    uv_close((uv_handle_t *)&e->board_flush_timer, on_handle_closed);
    uv_close((uv_handle_t *)&e->stats_timer, on_handle_closed);
    uv_close((uv_handle_t *)&e->drain_timer, on_handle_closed);
}

void buyt_engine_stop(struct buyt_engine *e, void (*stopped)(void *arg), void *arg)
{
    if (e->stopping)
        return;
    e->stopping = true;
    e->stopped = stopped;
    e->stopped_arg = arg;
    uv_timer_stop(&e->flush_timer);
    uv_timer_stop(&e->net_timer);
    uv_timer_stop(&e->board_timer);
    uv_timer_stop(&e->board_flush_timer);
    uv_timer_stop(&e->stats_timer);
    save_stats(e); /* a last save; the loop runs it to completion before exiting */
    if (e->mqtt)
        buyt_mqtt_close(e->mqtt, on_mqtt_closed, e);
    else
        on_mqtt_closed(e);
}

void buyt_engine_close(struct buyt_engine *e)
{
    buyt_boards_free(e->boards);
    buyt_predict_free(e->predict);
    e->boards = NULL;
    e->predict = NULL;
    buyt_matcher_free(e->matcher);
    buyt_network_free(e->net);
    e->matcher = NULL;
    e->net = NULL;
    buyt_batch_close(&e->batch);
    buyt_vehicles_close(&e->vehicles);
    free(e->touched);
    free(e->ack_wait);
    free(e->scratch);
    free(e->view_eta);
    e->view_eta = NULL;
}
