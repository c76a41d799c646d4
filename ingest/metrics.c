/* Prometheus text exposition and the loop-lag monitor; see metrics.h and docs/METRICS.md.
 * Format: https://prometheus.io/docs/instrumenting/exposition_formats/ (text 0.0.4). */
#include "metrics.h"

#include "contract.h"
#include "engine.h"
#include "error.h"
#include "mqtt.h"
#include "pgwriter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ loop lag */

const double buyt_looplag_le_s[BUYT_LOOPLAG_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                                        0.05,  0.1,    0.25,  0.5,  1.0};

#define LAG_WINDOW_NS (60ull * 1000000000ull)

struct buyt_looplag {
    uv_timer_t timer;
    uint64_t interval_ms;
    uint64_t armed_ns; /* when the timer was (re)armed */
    uint64_t window_start_ns;
    double max_cur_s, max_prev_s;
    struct buyt_looplag_stats st;
};

static void on_lag_tick(uv_timer_t *t)
{
    struct buyt_looplag *l = t->data;
    uint64_t now = uv_hrtime();
    uint64_t expected = l->armed_ns + l->interval_ms * 1000000u;
    double late = now > expected ? (double)(now - expected) / 1e9 : 0.0;
    l->st.last_s = late;
    l->st.samples++;
    l->st.sum_s += late;
    unsigned b = 0;
    while (b < BUYT_LOOPLAG_BUCKETS && late > buyt_looplag_le_s[b])
        b++;
    l->st.bucket[b]++;
    if (now - l->window_start_ns >= LAG_WINDOW_NS) {
        l->max_prev_s = l->max_cur_s;
        l->max_cur_s = 0;
        l->window_start_ns = now;
    }
    if (late > l->max_cur_s)
        l->max_cur_s = late;
    /* Re-armed from now (not repeating): each sample measures one wait, not accumulated drift.
     * uv_update_time first: the loop's cached clock may be behind by the callbacks run so far
     * in this iteration, and the next expiry must be counted from the real now. */
    uv_update_time(t->loop);
    l->armed_ns = uv_hrtime();
    uv_timer_start(t, on_lag_tick, l->interval_ms, 0);
}

int buyt_looplag_start(uv_loop_t *loop, uint32_t interval_ms, struct buyt_looplag **out)
{
    struct buyt_looplag *l = calloc(1, sizeof *l);
    if (!l)
        return BUYT_ENOMEM;
    l->interval_ms = interval_ms ? interval_ms : 250;
    uv_timer_init(loop, &l->timer);
    l->timer.data = l;
    uv_unref((uv_handle_t *)&l->timer);
    uv_update_time(loop);
    l->armed_ns = l->window_start_ns = uv_hrtime();
    uv_timer_start(&l->timer, on_lag_tick, l->interval_ms, 0);
    *out = l;
    return 0;
}

void buyt_looplag_get(const struct buyt_looplag *l, struct buyt_looplag_stats *out)
{
    *out = l->st;
    out->max_s = l->max_cur_s > l->max_prev_s ? l->max_cur_s : l->max_prev_s;
}

static void free_lag(uv_handle_t *h)
{
    free(h->data);
}

void buyt_looplag_stop(struct buyt_looplag *l)
{
    if (!l)
        return;
    uv_timer_stop(&l->timer);
    uv_close((uv_handle_t *)&l->timer, free_lag);
}

/* ------------------------------------------------------------------ exposition helpers */

void buyt_metrics_label_escape(struct buyt_jsonw *o, const char *s)
{
    const char *run = s;
    for (; *s; s++) {
        const char *e = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : *s == '\n' ? "\\n" : NULL;
        if (!e)
            continue;
        buyt_jsonw_raw(o, run, (size_t)(s - run));
        buyt_jsonw_rawz(o, e);
        run = s + 1;
    }
    buyt_jsonw_raw(o, run, (size_t)(s - run));
}

static void family(struct buyt_jsonw *o, const char *name, const char *type, const char *help)
{
    buyt_jsonw_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample_u(struct buyt_jsonw *o, const char *name, uint64_t v)
{
    buyt_jsonw_rawz(o, name);
    buyt_jsonw_raw(o, " ", 1);
    buyt_jsonw_raw_uint(o, v);
    buyt_jsonw_raw(o, "\n", 1);
}

static void sample_d(struct buyt_jsonw *o, const char *name, double v)
{
    /* Large values (timestamps) keep their milliseconds; others 9 significant digits. */
    buyt_jsonw_printf(o, fabs(v) >= 1e6 ? "%s %.3f\n" : "%s %.9g\n", name, v);
}

static void counter(struct buyt_jsonw *o, const char *name, const char *help, uint64_t v)
{
    family(o, name, "counter", help);
    sample_u(o, name, v);
}

static void gauge(struct buyt_jsonw *o, const char *name, const char *help, double v)
{
    family(o, name, "gauge", help);
    sample_d(o, name, v);
}

/* name{label="value"} v */
static void labelled_u(struct buyt_jsonw *o, const char *name, const char *label, const char *value,
                       uint64_t v)
{
    buyt_jsonw_rawz(o, name);
    buyt_jsonw_raw(o, "{", 1);
    buyt_jsonw_rawz(o, label);
    buyt_jsonw_raw(o, "=\"", 2);
    buyt_metrics_label_escape(o, value);
    buyt_jsonw_raw(o, "\"} ", 3);
    buyt_jsonw_raw_uint(o, v);
    buyt_jsonw_raw(o, "\n", 1);
}

/* A histogram from per-bucket (non-cumulative) counts; `labels` is "" or `route="x",`. */
static void histogram_samples(struct buyt_jsonw *o, const char *name, const char *labels,
                              const double *le, unsigned n_le, const uint64_t *bucket, double sum)
{
    uint64_t cum = 0;
    for (unsigned i = 0; i <= n_le; i++) {
        cum += bucket[i];
        if (i < n_le)
            buyt_jsonw_printf(o, "%s_bucket{%sle=\"%g\"} ", name, labels, le[i]);
        else
            buyt_jsonw_printf(o, "%s_bucket{%sle=\"+Inf\"} ", name, labels);
        buyt_jsonw_raw_uint(o, cum);
        buyt_jsonw_raw(o, "\n", 1);
    }
    size_t ll = strlen(labels);
    if (ll) { /* drop the trailing comma for _sum and _count */
        buyt_jsonw_printf(o, "%s_sum{%.*s} %.9g\n", name, (int)(ll - 1), labels, sum);
        buyt_jsonw_printf(o, "%s_count{%.*s} ", name, (int)(ll - 1), labels);
    } else {
        buyt_jsonw_printf(o, "%s_sum %.9g\n%s_count ", name, sum, name);
    }
    buyt_jsonw_raw_uint(o, cum);
    buyt_jsonw_raw(o, "\n", 1);
}

/* ------------------------------------------------------------------ the engine */

static void render_ingest(struct buyt_jsonw *o, const struct buyt_ingest_stats *s)
{
    counter(o, "buyt_ingest_messages_total", "MQTT messages handled (telemetry, status, other).",
            s->messages);
    counter(o, "buyt_ingest_records_total", "Records inside telemetry messages.", s->records);
    counter(o, "buyt_ingest_records_accepted_total",
            "Records taken: stored, or accounted for without a row (no-fix).", s->accepted);
    family(o, "buyt_ingest_messages_rejected_total", "counter",
           "Whole messages rejected, by reason (dead-lettered to the rejects table).");
    for (int r = 1; r < BUYT_REJECT__COUNT; r++)
        labelled_u(o, "buyt_ingest_messages_rejected_total", "reason",
                   buyt_reject_name((enum buyt_reject)r), s->rejected_messages[r]);
    family(o, "buyt_ingest_records_rejected_total", "counter",
           "Single records rejected inside accepted messages, by reason.");
    for (int r = 1; r < BUYT_REJECT__COUNT; r++)
        labelled_u(o, "buyt_ingest_records_rejected_total", "reason",
                   buyt_reject_name((enum buyt_reject)r), s->rejected_records[r]);
    counter(o, "buyt_ingest_duplicates_total", "Records whose (vehicle, seq) was already taken.",
            s->duplicates);
    counter(o, "buyt_ingest_gaps_total", "Gaps opened in a vehicle's seq sequence.", s->gaps);
    counter(o, "buyt_ingest_gap_seqs_total", "Seqs missing in the gaps opened.", s->gap_seqs);
    counter(o, "buyt_ingest_lost_on_device_total",
            "Seqs a device reported dropped from its journal (dropped_through_seq).",
            s->lost_on_device);
    counter(o, "buyt_ingest_deferred_total",
            "Records not taken because the vehicle had too many gaps open (re-sent later).",
            s->deferred);
    counter(o, "buyt_ingest_nofix_total", "Fix records with no position (quality NONE).", s->nofix);
    counter(o, "buyt_ingest_status_messages_total", "Device status messages handled.",
            s->status_messages);
    counter(o, "buyt_ingest_batches_sealed_total", "Batches sealed and written to the spool.",
            s->batches_sealed);
    counter(o, "buyt_ingest_spool_errors_total",
            "Spool writes that failed (the batch stays in memory and is retried).",
            s->spool_errors);
    counter(o, "buyt_ingest_spool_bytes_total", "Bytes written to spool files.", s->spool_bytes);
    counter(o, "buyt_ingest_batches_committed_total", "Batches committed to PostgreSQL.",
            s->batches_committed);
    counter(o, "buyt_ingest_batches_quarantined_total",
            "Batches moved to spool/bad/ (unreadable, or refused by the database).",
            s->batches_quarantined);
    counter(o, "buyt_ingest_rows_committed_total", "Rows committed, all tables.",
            s->rows_committed);
    counter(o, "buyt_ingest_acks_published_total", "Acks published to vehicles.",
            s->acks_published);
    counter(o, "buyt_ingest_acks_coalesced_total",
            "Commits whose Ack was folded into a later one (at most one Ack per vehicle per "
            "5 s).",
            s->acks_coalesced);
    counter(o, "buyt_ingest_ack_publish_failed_total",
            "Acks not published (broker away); repeated at the next commit.",
            s->ack_publish_failed);
    family(o, "buyt_match_fixes_total", "counter",
           "Fixes through the trip matcher, by outcome (matched, unmatched, late: older than "
           "the newest fix, refused: stale or an impossible jump).");
    labelled_u(o, "buyt_match_fixes_total", "outcome", "matched", s->fixes_matched);
    labelled_u(o, "buyt_match_fixes_total", "outcome", "unmatched", s->fixes_unmatched);
    labelled_u(o, "buyt_match_fixes_total", "outcome", "late", s->fixes_late);
    labelled_u(o, "buyt_match_fixes_total", "outcome", "refused", s->fixes_refused);
    counter(o, "buyt_match_assignments_total", "Trip assignments made by the matcher.",
            s->assignments);
    counter(o, "buyt_match_off_route_fixes_total", "Matched fixes flagged off route.",
            s->off_route_fixes);
    counter(o, "buyt_stop_events_total", "Stop arrival/departure events detected.", s->stop_events);
    counter(o, "buyt_stop_events_passed_total",
            "Stop events where the bus passed without stopping.", s->stop_events_passed);
    counter(o, "buyt_network_loads_total", "Networks (GTFS) swapped in.", s->network_loads);
    counter(o, "buyt_network_load_failures_total", "Network loads that failed.",
            s->network_load_failures);
}

static void render_writer(struct buyt_jsonw *o, struct buyt_pgwriter *w)
{
    struct buyt_pgwriter_stats s;
    memset(&s, 0, sizeof s);
    if (w)
        buyt_pgwriter_stats(w, &s);
    gauge(o, "buyt_db_connected",
          "1 if the writer's PostgreSQL connection was up at its last attempt.",
          w && s.connected ? 1 : 0);
    gauge(o, "buyt_spool_pending_batches", "Batches spooled and not yet committed (spool depth).",
          (double)s.pending);
    family(o, "buyt_db_rows_committed_total", "counter", "Rows committed, by table.");
    for (int t = 0; t < BUYT_TBL__COUNT; t++)
        labelled_u(o, "buyt_db_rows_committed_total", "table",
                   buyt_batch_table_name((enum buyt_batch_table)t), s.rows_by_table[t]);
    counter(o, "buyt_db_batches_already_total",
            "Batches found already committed by an earlier run (replay after a crash).",
            s.batches_already);
    counter(o, "buyt_db_commit_errors_total", "Batch commits that failed and were retried.",
            s.commit_errors);
    counter(o, "buyt_db_connect_failures_total", "Failed connection attempts by the writer.",
            s.connect_failures);
    counter(o, "buyt_db_batches_pruned_total",
            "ingest_batches rows deleted once older than the batch retention (7 days).",
            s.batches_pruned);
    gauge(o, "buyt_db_batch_commit_last_seconds", "Duration of the latest batch commit.",
          s.last_commit_ms / 1000.0);
    gauge(o, "buyt_db_batch_commit_max_seconds", "Longest batch commit since start.",
          s.max_commit_ms / 1000.0);
}

static void render_mqtt(struct buyt_jsonw *o, struct buyt_mqtt *m)
{
    struct buyt_mqtt_stats s;
    memset(&s, 0, sizeof s);
    if (m)
        buyt_mqtt_stats(m, &s);
    gauge(o, "buyt_broker_connected", "1 while the MQTT session is up.",
          m && buyt_mqtt_connected(m) ? 1 : 0);
    counter(o, "buyt_mqtt_connects_total", "MQTT connections established.", s.connects);
    counter(o, "buyt_mqtt_disconnects_total", "MQTT connections lost or closed.", s.disconnects);
    counter(o, "buyt_mqtt_received_total", "MQTT messages received.", s.received);
    counter(o, "buyt_mqtt_published_total", "MQTT messages published (acks, boards).", s.published);
    counter(o, "buyt_mqtt_publish_failed_total", "MQTT publishes refused (not connected).",
            s.publish_failed);
    counter(o, "buyt_mqtt_tls_failures_total",
            "TLS handshakes that failed (certificate, host name, protocol).", s.tls_failures);
}

static void render_vehicles(struct buyt_jsonw *o, const struct buyt_engine *e, int64_t now_ms)
{
    uint32_t reporting = 0, matched = 0, off_route = 0;
    for (uint32_t i = 0; i < e->vehicles.n; i++) {
        const struct buyt_vehicle *v = &e->vehicles.v[i];
        if (!v->last_seen_ms || now_ms - v->last_seen_ms > BUYT_METRICS_REPORTING_S * 1000)
            continue;
        reporting++;
        if (v->trip != BUYT_NETWORK_NONE) {
            matched++;
            off_route += v->off_route;
        }
    }
    gauge(o, "buyt_vehicles_known", "Vehicles registered for the agency.", e->vehicles.n);
    gauge(o, "buyt_vehicles_reporting", "Vehicles with telemetry in the last 2 minutes.",
          reporting);
    gauge(o, "buyt_vehicles_matched",
          "Reporting vehicles with a trip assigned by the matcher or the driver.", matched);
    gauge(o, "buyt_vehicles_off_route", "Reporting, matched vehicles currently off route.",
          off_route);
    const struct buyt_network *net = e->net;
    gauge(o, "buyt_network_feed_version", "GTFS feed version loaded (0: none).",
          e->net_info.feed_version);
    gauge(o, "buyt_network_trips", "Trip instances in the loaded network.", net ? net->n_trips : 0);
    gauge(o, "buyt_network_stops", "Stops in the loaded network.", net ? net->n_stops : 0);
    gauge(o, "buyt_network_routes", "Routes in the loaded network.", net ? net->n_routes : 0);
    gauge(o, "buyt_network_frequency_trips", "Trips with frequencies.txt windows in the feed.",
          net ? e->net_info.frequency_trips : 0);
    gauge(o, "buyt_network_frequency_runs",
          "Trip instances made from frequencies.txt windows (one per run) on the loaded days.",
          net ? e->net_info.frequency_runs : 0);
}

/* ------------------------------------------------------------------ HTTP, API, loop */

static void render_http(struct buyt_jsonw *o, const struct buyt_http_stats *h)
{
    family(o, "buyt_http_requests_total", "counter",
           "HTTP responses by route pattern and status (status=\"other\" for codes not listed).");
    for (uint32_t r = 0; r < h->n_routes; r++) {
        const struct buyt_http_route_stats *rs = &h->routes[r];
        for (unsigned k = 0; k < BUYT_HTTP_STATUS_SLOTS; k++) {
            if (!rs->by_status[k])
                continue;
            buyt_jsonw_rawz(o, "buyt_http_requests_total{route=\"");
            buyt_metrics_label_escape(o, rs->name);
            if (buyt_http_status_slot_code[k])
                buyt_jsonw_printf(o, "\",status=\"%d\"} ", buyt_http_status_slot_code[k]);
            else
                buyt_jsonw_rawz(o, "\",status=\"other\"} ");
            buyt_jsonw_raw_uint(o, rs->by_status[k]);
            buyt_jsonw_raw(o, "\n", 1);
        }
    }
    family(o, "buyt_http_request_duration_seconds", "histogram",
           "Time from a request's routing to its answer being handed to the socket, by route.");
    for (uint32_t r = 0; r < h->n_routes; r++) {
        const struct buyt_http_route_stats *rs = &h->routes[r];
        uint64_t n = 0;
        for (unsigned b = 0; b <= BUYT_HTTP_LATENCY_BUCKETS; b++)
            n += rs->latency_bucket[b];
        if (!n)
            continue;
        struct buyt_jsonw lab;
        buyt_jsonw_init(&lab);
        buyt_jsonw_rawz(&lab, "route=\"");
        buyt_metrics_label_escape(&lab, rs->name);
        buyt_jsonw_rawz(&lab, "\",");
        histogram_samples(o, "buyt_http_request_duration_seconds", buyt_jsonw_cstr(&lab),
                          buyt_http_latency_le_s, BUYT_HTTP_LATENCY_BUCKETS, rs->latency_bucket,
                          rs->latency_sum_s);
        buyt_jsonw_close(&lab);
    }
    counter(o, "buyt_http_connections_accepted_total", "HTTP connections accepted.",
            h->connections_accepted);
    counter(o, "buyt_http_connections_refused_total",
            "HTTP connections closed at accept (over max_connections, or stopping).",
            h->connections_refused);
    gauge(o, "buyt_http_connections_open", "HTTP connections open.", (double)h->connections_open);
    counter(o, "buyt_http_responses_gzip_total", "Responses sent gzip-compressed.",
            h->responses_gzip);
    counter(o, "buyt_http_responses_not_modified_total", "304 answers to If-None-Match.",
            h->responses_not_modified);
    counter(o, "buyt_http_response_body_bytes_total", "Response body bytes sent (after gzip).",
            h->bytes_sent_body);
    gauge(o, "buyt_http_deferred_open", "Requests waiting on the threadpool (track queries).",
          (double)h->deferred_open);
}

static void render_api(struct buyt_jsonw *o, const struct buyt_metrics_api *a)
{
    family(o, "buyt_api_track_queries_total", "counter",
           "Track queries (PostgreSQL, on the libuv threadpool) by result; busy: refused "
           "with 503 because the query pool was full.");
    labelled_u(o, "buyt_api_track_queries_total", "result", "ok", a->track_queries_ok);
    labelled_u(o, "buyt_api_track_queries_total", "result", "failed", a->track_queries_failed);
    labelled_u(o, "buyt_api_track_queries_total", "result", "busy", a->track_queries_busy);
    counter(o, "buyt_api_track_rows_total", "Fix rows returned by track queries.", a->track_rows);
    gauge(o, "buyt_api_track_queries_in_flight", "Track queries running.", a->track_in_flight);
    gauge(o, "buyt_db_reachable",
          "1 if the latest reachability probe (SELECT 1, every 5 s off the loop) succeeded.",
          a->db_probe_ok ? 1 : 0);
    counter(o, "buyt_db_probes_total", "Database reachability probes run.", a->db_probes);
    counter(o, "buyt_db_probe_failures_total", "Database reachability probes that failed.",
            a->db_probe_failures);
    counter(o, "buyt_api_arrivals_total", "Arrival lists built (/stops/{id}/arrivals).",
            a->arrivals_built);
    counter(o, "buyt_api_index_builds_total",
            "API indexes (stop grid, routes per stop) built for a new network.", a->index_builds);
}

static void render_lag(struct buyt_jsonw *o, const struct buyt_looplag_stats *l)
{
    gauge(o, "buyt_loop_lag_seconds",
          "How late the loop ran its latest lag-probe timer (expected vs actual firing).",
          l->last_s);
    gauge(o, "buyt_loop_lag_max_seconds", "Largest loop lag over the last 1-2 minutes.", l->max_s);
    family(o, "buyt_loop_lag_sample_seconds", "histogram", "Loop lag samples (one per 250 ms).");
    histogram_samples(o, "buyt_loop_lag_sample_seconds", "", buyt_looplag_le_s,
                      BUYT_LOOPLAG_BUCKETS, l->bucket, l->sum_s);
}

/* The predictor and the stop boards. */
static void render_predict(struct buyt_jsonw *o, const struct buyt_engine *e)
{
    const struct buyt_ingest_stats *s = &e->stats;
    struct buyt_predict_counters pc;
    memset(&pc, 0, sizeof pc);
    if (e->predict)
        buyt_predict_counters(e->predict, &pc);
    counter(o, "buyt_predict_updates_total", "Prediction updates (fixes of vehicles on a trip).",
            pc.updates);
    counter(o, "buyt_predict_observations_total",
            "Travel and dwell samples learned from stop events.", pc.observations);
    counter(o, "buyt_predict_outliers_total", "Samples refused by the outlier gate.", pc.outliers);
    counter(o, "buyt_predict_implausible_total",
            "Travel samples refused outright (<= 0 s, > 1 h, > 40 m/s).", pc.implausible);
    gauge(o, "buyt_predict_segments", "Segments and stops with learned statistics.",
          (double)pc.segments);
    gauge(o, "buyt_predict_live_trips", "Trip predictions held now.", (double)pc.live_trips);
    counter(o, "buyt_predict_stats_saves_total", "Saves of learned statistics to PostgreSQL.",
            s->stats_saves);
    counter(o, "buyt_predict_stats_save_failures_total", "Saves that failed (retried later).",
            s->stats_save_failures);
    family(o, "buyt_predict_samples_total", "counter",
           "Predictions sampled for the accuracy log (table predictions), by outcome.");
    labelled_u(o, "buyt_predict_samples_total", "outcome", "stored", s->samples_stored);
    labelled_u(o, "buyt_predict_samples_total", "outcome", "failed", s->samples_failed);
    counter(o, "buyt_predict_actuals_filled_total",
            "Sampled predictions joined with their actual arrival.", s->actuals_filled);

    struct buyt_board_counters bc;
    memset(&bc, 0, sizeof bc);
    if (e->boards)
        buyt_boards_counters(e->boards, &bc);
    counter(o, "buyt_boards_published_total", "Stop boards published (retained).",
            s->boards_published);
    counter(o, "buyt_boards_publish_refused_total",
            "Boards not handed to the broker (not connected); offered again.",
            bc.publish_refused);
    counter(o, "buyt_boards_built_total", "Stop boards built (sweep and changes).", bc.built);
    counter(o, "buyt_boards_touched_total", "Stops marked as changed by a fix.", bc.touched);
    counter(o, "buyt_boards_published_on_change_total",
            "Boards published because a fix changed what riders see.", bc.published_on_change);
    family(o, "buyt_boards_ghost_arrivals_total", "counter",
           "Arrivals shown schedule-only because their vehicle is silent or off route "
           "(counted per board built).");
    labelled_u(o, "buyt_boards_ghost_arrivals_total", "reason", "silent", bc.stale_vehicles);
    labelled_u(o, "buyt_boards_ghost_arrivals_total", "reason", "off_route", bc.off_route);
    family(o, "buyt_board_update_latency_seconds", "summary",
           "Fix received -> changed board handed to the broker (since start; quantiles within "
           "6.25 %).");
    static const double qs[] = {0.5, 0.9, 0.99, 1.0};
    const struct buyt_hist *h = e->boards ? buyt_boards_latency(e->boards) : NULL;
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
        buyt_jsonw_printf(o, "buyt_board_update_latency_seconds{quantile=\"%g\"} %.6f\n", qs[i],
                          h ? (double)buyt_hist_quantile(h, qs[i]) / 1e6 : 0.0);
    buyt_jsonw_printf(o, "buyt_board_update_latency_seconds_sum %.6f\n",
                      h ? (double)h->sum_us / 1e6 : 0.0);
    buyt_jsonw_printf(o, "buyt_board_update_latency_seconds_count %llu\n",
                      h ? (unsigned long long)h->n : 0ULL);
}

void buyt_metrics_render(struct buyt_jsonw *o, const struct buyt_metrics_sources *src)
{
    family(o, "buyt_build_info", "gauge", "Always 1; the version in a label.");
    buyt_jsonw_rawz(o, "buyt_build_info{version=\"" BUYT_VERSION_STRING "\"} 1\n");
    if (src->started_ms)
        gauge(o, "buyt_start_time_seconds", "Process start, Unix seconds.",
              (double)src->started_ms / 1000.0);
    if (src->engine) {
        struct buyt_engine *e = src->engine;
        render_ingest(o, &e->stats);
        render_writer(o, e->writer);
        render_mqtt(o, e->mqtt);
        render_vehicles(o, e, src->now_ms);
        render_predict(o, e);
    }
    if (src->lag)
        render_lag(o, src->lag);
    if (src->api)
        render_api(o, src->api);
    if (src->http)
        render_http(o, src->http);
}
