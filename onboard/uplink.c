/* Store-and-forward uplink; see uplink.h. */
#include "uplink.h"

#include "error.h"
#include "frame.h"
#include "log.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define DRAIN_PERIOD_MS 1000u
#define ERROR_LOG_PERIOD_MS 60000u /* a failing medium must not flood the log */

struct buyt_uplink {
    uv_loop_t *loop;
    struct buyt_journal *j;
    struct buyt_mqtt *m;
    struct buyt_uplink_config cfg;
    struct buyt_journal_batch batch;
    uint8_t *msg; /* framed Telemetry */
    size_t msg_cap;
    int inflight[BUYT_UPLINK_MAX_INFLIGHT]; /* mids awaiting PUBACK */
    unsigned n_inflight;
    uint64_t live_floor; /* records up to this seq are backlog (drain), not live */
    bool synced_once;
    int64_t last_sync_ms; /* uv_now() of the last sync by the timer */
    uv_timer_t sync_timer, drain_timer;
    bool closing;
    int pending;
    uint64_t last_error_log_ms;
    void (*done)(void *);
    void *done_arg;
    struct buyt_uplink_stats stats;
};

int buyt_uplink_new(uv_loop_t *loop, struct buyt_journal *j, const struct buyt_uplink_config *cfg,
                    struct buyt_uplink **out)
{
    *out = NULL;
    if (!cfg->vehicle_id || !cfg->topic || cfg->batch_max_records == 0 ||
        cfg->batch_max_records > BUYT_CONTRACT_MAX_RECORDS || cfg->batch_max_bytes < 1024)
        return BUYT_EINVAL;
    struct buyt_uplink *u = calloc(1, sizeof *u);
    if (!u)
        return BUYT_ENOMEM;
    u->loop = loop;
    u->j = j;
    u->cfg = *cfg;
    u->batch.max_recs = cfg->batch_max_records;
    u->batch.buf_len = cfg->batch_max_bytes;
    u->batch.recs = calloc(cfg->batch_max_records, sizeof *u->batch.recs);
    u->batch.buf = malloc(cfg->batch_max_bytes);
    u->msg_cap =
        buyt_frame_bound(strlen(cfg->vehicle_id), cfg->batch_max_records, cfg->batch_max_bytes);
    u->msg = malloc(u->msg_cap);
    if (!u->batch.recs || !u->batch.buf || !u->msg) {
        free(u->batch.recs);
        free(u->batch.buf);
        free(u->msg);
        free(u);
        return BUYT_ENOMEM;
    }
    uv_timer_init(loop, &u->sync_timer);
    uv_timer_init(loop, &u->drain_timer);
    u->sync_timer.data = u->drain_timer.data = u;
    *out = u;
    return 0;
}

void buyt_uplink_set_mqtt(struct buyt_uplink *u, struct buyt_mqtt *m)
{
    u->m = m;
}

static bool can_send(const struct buyt_uplink *u)
{
    return !u->closing && u->m && buyt_mqtt_connected(u->m);
}

static void read_failed(struct buyt_uplink *u, int rc)
{
    u->stats.read_errors++;
    uint64_t now = uv_now(u->loop);
    if (u->last_error_log_ms && now - u->last_error_log_ms < ERROR_LOG_PERIOD_MS)
        return;
    u->last_error_log_ms = now;
    BUYT_ERROR("uplink", "msg=\"journal read failed\" err=\"%s\" errors=%" PRIu64,
               buyt_strerror(rc), u->stats.read_errors);
}

/* Publishes the batch just read as one Telemetry. Returns 0 or a negative error. */
static int publish_batch(struct buyt_uplink *u, bool live)
{
    struct buyt_journal_batch *b = &u->batch;
    struct buyt_journal_stats st;
    buyt_journal_stats(u->j, &st); /* dropped_through_seq is valid even on error */
    size_t len;
    int rc = buyt_frame_telemetry(u->cfg.vehicle_id, u->cfg.boot_id, st.dropped_through_seq,
                                  b->recs, b->n, u->msg, u->msg_cap, &len);
    if (rc) {
        BUYT_ERROR("uplink", "msg=\"cannot frame batch\" records=%zu bytes=%zu err=\"%s\"", b->n,
                   b->bytes, buyt_strerror(rc));
        return rc;
    }
    int mid = 0;
    rc = buyt_mqtt_publish(u->m, u->cfg.topic, u->msg, len, 1, false, &mid);
    if (rc) {
        u->stats.publish_failed++;
        return rc;
    }
    if (u->n_inflight < BUYT_UPLINK_MAX_INFLIGHT)
        u->inflight[u->n_inflight++] = mid;
    uint64_t first = b->recs[0].seq, last = b->recs[b->n - 1].seq;
    buyt_journal_mark_sent(u->j, first, last, (int64_t)uv_now(u->loop));
    u->stats.messages++;
    u->stats.records += b->n;
    if (live)
        u->stats.live_messages++;
    BUYT_DEBUG("uplink",
               "msg=published live=%d first_seq=%" PRIu64 " last_seq=%" PRIu64
               " records=%zu bytes=%zu mid=%d",
               live, first, last, b->n, len, mid);
    return 0;
}

static void publish_live(struct buyt_uplink *u)
{
    if (!can_send(u))
        return;
    int rc = buyt_journal_read_live(u->j, &u->batch);
    if (rc) {
        read_failed(u, rc);
        return;
    }
    /* After a (re)connect every unacknowledged record is "unsent": read_live would return the
     * newest backlog records. Those belong to the drain (oldest first); live is what came
     * after the connect. The batch is one run of seqs, so drop its head. */
    struct buyt_journal_batch *b = &u->batch;
    size_t skip = 0;
    while (skip < b->n && b->recs[skip].seq <= u->live_floor)
        skip++;
    if (skip == b->n)
        return;
    if (skip) {
        memmove(b->recs, b->recs + skip, (b->n - skip) * sizeof *b->recs);
        b->n -= skip;
    }
    if (u->n_inflight >= BUYT_UPLINK_MAX_INFLIGHT) {
        u->stats.deferred++; /* the drain sends it when the broker catches up */
        return;
    }
    publish_batch(u, true);
}

static void drain(struct buyt_uplink *u)
{
    while (can_send(u) && u->n_inflight < BUYT_UPLINK_DRAIN_WINDOW) {
        int rc = buyt_journal_read_due(u->j, (int64_t)uv_now(u->loop), &u->batch);
        if (rc) {
            read_failed(u, rc);
            return;
        }
        if (u->batch.n == 0 || publish_batch(u, false))
            return;
    }
}

static void on_sync(uv_timer_t *t);

/* Arms the sync timer (INTERVAL policy): syncs at once unless the timer synced less than half
 * an interval ago, then at that point. So a lone record (1 Hz reports with a 1 s interval) is
 * synced and published at once whatever the phase of the reports, a burst costs at most two
 * fsyncs per interval, and the loss window stays within one interval (the journal also syncs
 * in append past it). */
static void arm_sync(struct buyt_uplink *u)
{
    if (u->closing || !u->cfg.fsync_interval_ms || uv_is_active((uv_handle_t *)&u->sync_timer))
        return;
    if (!buyt_journal_dirty_since_ms(u->j))
        return;
    int64_t now = (int64_t)uv_now(u->loop);
    int64_t delay = 0;
    if (u->synced_once)
        delay = u->last_sync_ms + (int64_t)u->cfg.fsync_interval_ms / 2 - now;
    if (delay < 0)
        delay = 0;
    if (delay > (int64_t)u->cfg.fsync_interval_ms)
        delay = u->cfg.fsync_interval_ms;
    uv_timer_start(&u->sync_timer, on_sync, (uint64_t)delay, 0);
}

static void on_sync(uv_timer_t *t)
{
    struct buyt_uplink *u = t->data;
    int rc = buyt_journal_sync(u->j);
    u->synced_once = true;
    u->last_sync_ms = (int64_t)uv_now(u->loop);
    if (rc)
        BUYT_ERROR("uplink", "msg=\"journal sync failed\" err=\"%s\"", buyt_strerror(rc));
    publish_live(u);
    drain(u);
    arm_sync(u); /* failed, or appended meanwhile by a callback: one interval later */
}

static void on_drain(uv_timer_t *t)
{
    drain(t->data);
}

void buyt_uplink_appended(struct buyt_uplink *u)
{
    if (u->closing)
        return;
    publish_live(u);
    drain(u);
    arm_sync(u);
}

void buyt_uplink_connected(struct buyt_uplink *u)
{
    if (u->closing)
        return;
    buyt_journal_rewind(u->j);
    struct buyt_journal_stats st;
    buyt_journal_stats(u->j, &st);
    u->live_floor = st.last_seq;
    u->n_inflight = 0; /* the library re-sends those itself; their PUBACKs are ignored */
    if (!uv_is_active((uv_handle_t *)&u->drain_timer))
        uv_timer_start(&u->drain_timer, on_drain, DRAIN_PERIOD_MS, DRAIN_PERIOD_MS);
    drain(u);
}

void buyt_uplink_puback(struct buyt_uplink *u, int mid)
{
    for (unsigned i = 0; i < u->n_inflight; i++) {
        if (u->inflight[i] == mid) {
            u->inflight[i] = u->inflight[--u->n_inflight];
            publish_live(u); /* one deferred for lack of room */
            drain(u);
            return;
        }
    }
}

int buyt_uplink_ack(struct buyt_uplink *u, uint64_t stored_through_seq)
{
    int rc = buyt_journal_ack(u->j, stored_through_seq);
    u->stats.acks++;
    if (rc == BUYT_ERANGE)
        BUYT_WARN("uplink",
                  "msg=\"ack beyond the last seq (engine holds seqs this journal "
                  "forgot)\" stored_through_seq=%" PRIu64,
                  stored_through_seq);
    else if (rc)
        BUYT_ERROR("uplink", "msg=\"journal ack failed\" stored_through_seq=%" PRIu64 " err=\"%s\"",
                   stored_through_seq, buyt_strerror(rc));
    else
        BUYT_DEBUG("uplink", "msg=ack stored_through_seq=%" PRIu64, stored_through_seq);
    return rc;
}

void buyt_uplink_stats(const struct buyt_uplink *u, struct buyt_uplink_stats *out)
{
    *out = u->stats;
    out->inflight = u->n_inflight;
}

static void on_closed(uv_handle_t *h)
{
    struct buyt_uplink *u = h->data;
    if (--u->pending > 0)
        return;
    void (*done)(void *) = u->done;
    void *arg = u->done_arg;
    free(u->batch.recs);
    free(u->batch.buf);
    free(u->msg);
    free(u);
    if (done)
        done(arg);
}

void buyt_uplink_close(struct buyt_uplink *u, void (*done)(void *arg), void *arg)
{
    if (u->closing)
        return;
    u->closing = true;
    u->done = done;
    u->done_arg = arg;
    uv_timer_stop(&u->sync_timer);
    uv_timer_stop(&u->drain_timer);
    u->pending = 2;
    uv_close((uv_handle_t *)&u->sync_timer, on_closed);
    uv_close((uv_handle_t *)&u->drain_timer, on_closed);
}
