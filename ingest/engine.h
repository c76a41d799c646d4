/* buyt-ingest's core: the per-message pipeline on one libuv loop.
 *
 *   MQTT message -> topic -> decode + validate (contract.h) -> known vehicle -> per record:
 *   de-duplicate on (vehicle, seq) -> reject with reason | store row in the open batch
 *   -> every batch_ms or batch_rows: seal -> spool file -> writer thread commits -> Ack per vehicle
 *
 * Invariant: every record taken from the broker is stored exactly once, or written to
 * `rejects` with a reason, or counted as a duplicate (already stored), or deferred (not taken:
 * the bus re-sends it because it is never acknowledged). */
#ifndef BUYT_ENGINE_H
#define BUYT_ENGINE_H

#include "batch.h"
#include "board.h"
#include "contract.h"
#include "matcher.h"
#include "netload.h"
#include "network.h"
#include "stopev.h"
#include "mqtt.h"
#include "pgwriter.h"
#include "predict.h"
#include "vehicles.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct buyt_engine_config {
    const char *agency;      /* operator code in topics, e.g. "hn" */
    const char *conninfo;    /* PostgreSQL; NULL: offline core (bench), vehicles added by hand */
    const char *mqtt_url;    /* mqtt://buyt-ingest:PASS@host:port; NULL: no broker (tests, bench) */
    const char *client_id;   /* NULL: "buyt-ingest-<agency>" */
    const char *spool_dir;
    uint32_t batch_ms;       /* seal the open batch after this long (default 200) */
    uint32_t batch_rows;     /* ... or at this many rows (default 10000) */
    uint32_t drain_timeout_ms; /* on stop, wait this long for the writer to commit (10000) */
    uint32_t stats_ms;       /* save learned statistics + sample predictions this often (300000) */
    int32_t ack_interval_ms; /* at most one Ack per vehicle this often (5000; < 0: every commit) */
    uint32_t progress_fold_ms; /* fold vehicle_progress_log into vehicle_progress (10000) */
    uint32_t batch_retention_s; /* ingest_batches rows kept this long (7 days) */
};

/* Every counter the engine keeps, in one place (exposed by /metrics). */
struct buyt_ingest_stats {
    uint64_t messages;                         /* MQTT messages handled */
    uint64_t records;                          /* records inside telemetry messages */
    uint64_t accepted;                         /* records taken (stored or no-row, e.g. no-fix) */
    uint64_t rejected_messages[BUYT_REJECT__COUNT];
    uint64_t rejected_records[BUYT_REJECT__COUNT];
    uint64_t duplicates;                       /* (vehicle, seq) already taken */
    uint64_t gaps, gap_seqs;                   /* new gaps seen, and seqs missing in them */
    uint64_t lost_on_device;                   /* seqs the device dropped (dropped_through_seq) */
    uint64_t deferred;                         /* not taken: too many gaps open for the vehicle */
    uint64_t nofix;                            /* fixes with quality NONE (no row) */
    uint64_t status_messages;
    uint64_t batches_sealed, spool_errors, spool_bytes;
    uint64_t batches_committed, batches_quarantined, rows_committed;
    uint64_t acks_published, ack_publish_failed;
    uint64_t acks_coalesced;                   /* commits whose Ack was folded into a later one */
    uint64_t fixes_matched, fixes_unmatched, fixes_late, fixes_refused; /* matcher outcomes */
    uint64_t assignments, stop_events, stop_events_passed, off_route_fixes;
    uint64_t network_loads, network_load_failures;
    uint64_t boards_published, stats_saves, stats_save_failures;
    uint64_t samples_stored, samples_failed;   /* predictions kept for the accuracy log */
    uint64_t actuals_filled;                   /* predictions that got their actual time */
};

struct buyt_engine {
    uv_loop_t *loop;
    struct buyt_engine_config cfg;
    char client_id[96];
    struct buyt_vehicles vehicles;
    struct buyt_mqtt *mqtt;
    struct buyt_pgwriter *writer;
    struct buyt_batch batch;
    uint32_t *ack_wait;           /* vehicle indices with ack_pending set */
    uint32_t n_ack_wait, cap_ack_wait;
    uint64_t ack_swept_ms;
    uint32_t *touched;            /* vehicle indices with in_batch set */
    uint32_t n_touched, cap_touched;
    uint64_t next_batch_id;
    uv_timer_t flush_timer;
    uv_timer_t drain_timer;
    bool stopping;
    void (*stopped)(void *arg);
    void *stopped_arg;
    uint64_t stop_deadline;
    struct buyt_ingest_stats stats;
    struct buyt_network *net;     /* NULL until a feed is loaded */
    struct buyt_netload_info net_info;
    struct buyt_matcher *matcher;
    struct buyt_stopev_config stopev_cfg;
    struct buyt_matcher_result mres; /* scratch: one result at a time (512 B of points) */
    bool net_loading;             /* a reload runs on the threadpool */
    bool unknown_seen;            /* an unregistered vehicle sent data since the last reload */
    struct buyt_predict *predict; /* arrival predictions (predict.h) */
    struct buyt_boards *boards;   /* LED stop boards (board.h), published retained */
    uv_timer_t board_timer;       /* 1 s: boards due under the publishing rule */
    uv_timer_t board_flush_timer; /* a few ms after a fix touched boards: publish the changed */
    bool board_flush_ready;       /* the timer exists (the engine was started) */
    uint64_t board_flush_next_ns; /* no flush before (buyt_mono_ns): bounds its duty cycle */
    uint64_t recv_ns;             /* buyt_mono_ns() when the message being handled arrived */
    int64_t *view_eta;            /* scratch: a vehicle's predictions before an update */
    size_t view_eta_cap;
    uv_timer_t stats_timer;       /* 5 min: statistics and prediction samples saved (threadpool) */
    bool stats_saving;
    int64_t actuals_filled_ms;    /* last time actual arrivals were joined to the samples */
    uint64_t vehicles_loaded_at;  /* uv_now() of the last registry load */
    uv_timer_t net_timer;         /* daily refresh check */
    uint8_t *scratch;             /* packed bad records for `rejects` */
    size_t scratch_cap;
};

/** Loads the vehicles of `cfg->agency` and their stored seqs from PostgreSQL (blocking: call
 *  before the loop runs), then the seq sets of batches still in the spool, so nothing is taken
 *  twice after a crash. Returns 0 or a negative code with a reason in err. */
int buyt_engine_init(struct buyt_engine *e, uv_loop_t *loop, const struct buyt_engine_config *cfg,
                     char *err, size_t errlen);

/** Creates the predictor and the boards (done by init; public for offline use and tests).
 *  Returns 0 or BUYT_ENOMEM. */
int buyt_engine_predict_init(struct buyt_engine *e, char *err, size_t errlen);

/** Starts the writer thread, the flush timer and (with an mqtt_url) the broker session. */
int buyt_engine_start(struct buyt_engine *e);

/** The pipeline for one message; `recv_ms` is the engine clock. Public so tests and the
 *  benchmark can drive the engine without a broker. `retained` as delivered by MQTT. */
void buyt_engine_handle(struct buyt_engine *e, const char *topic, const void *payload, size_t len,
                        bool retained, int64_t recv_ms);

/* Local clock times (signs' text) without a loaded feed's zone table: Hanoi, UTC+7, no DST. */
#define BUYT_ENGINE_DEFAULT_UTC_OFFSET_S (7 * 3600)

/** The feed's local time offset from UTC at ms (seconds), from the loaded network's hourly
 *  table (daylight saving included); UTC+7 when no feed's zone is known. */
int32_t buyt_engine_utc_offset(const struct buyt_engine *e, int64_t ms);

/** Replaces the network (and matcher) with `net` (takes ownership; NULL keeps none): every
 *  vehicle's matching state is reset and a driver's sign-in choice re-applied; the boards'
 *  clock times follow the feed's zone. Loop thread. */
void buyt_engine_set_network(struct buyt_engine *e, struct buyt_network *net,
                             const struct buyt_netload_info *info);

/** Loads the network again on the libuv threadpool (the loop keeps running) and swaps it in
 *  when done. Called on SIGHUP and daily at 03:00 in the feed's time zone. */
void buyt_engine_reload_network(struct buyt_engine *e);

/** SIGHUP, and at most every 10 s while unknown vehicles send data: adds vehicles registered
 *  since start (one blocking query on the loop, ~ms for a city's fleet). Returns 0 or BUYT_EDB (logged; the engine keeps running). */
int buyt_engine_reload(struct buyt_engine *e);

/** Seals the open batch now (spools it and hands it to the writer). */
void buyt_engine_flush(struct buyt_engine *e);

/** Batches spooled but not yet committed. */
uint64_t buyt_engine_pending(struct buyt_engine *e);

/** Drains: disconnects from the broker, seals, waits up to drain_timeout_ms for the writer,
 *  stops it, closes every handle; then calls stopped(arg). */
void buyt_engine_stop(struct buyt_engine *e, void (*stopped)(void *arg), void *arg);

/** Frees what init allocated (after stop completed). */
void buyt_engine_close(struct buyt_engine *e);

#endif
