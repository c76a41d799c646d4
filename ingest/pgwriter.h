/* The engine's one PostgreSQL writer: a thread that commits spool files (spool.h) strictly in
 * batch-id order, each in one transaction: the batch id into ingest_batches (a replayed batch is
 * recognised and skipped), binary COPY of every table, and the vehicle_progress rows. When the
 * commit returns, the loop is told (done callback on the loop thread) and publishes the acks.
 *
 * Why a thread and not async libpq on the loop: COPY is not allowed in pipeline mode, so an
 * async writer is a state machine of COPY/flush/result steps per table that buys nothing here —
 * the loop never waits on this thread (it hands over file ids and gets completions back through
 * a uv_async), and the thread's synchronous libpq code is short and obviously ordered.
 * While PostgreSQL is down the thread retries with backoff; files wait on disk.
 *
 * ingest_batches only has to remember a batch while its spool file may still be replayed (a
 * crash between COMMIT and the file's removal: minutes, or the length of an outage of the
 * engine itself). Rows older than batch_retention_s are deleted, at most every hour (and every
 * half retention), after a commit: ~430,000 rows a day at one batch per 200 ms otherwise. */
#ifndef BUYT_PGWRITER_H
#define BUYT_PGWRITER_H

#include "batch.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct buyt_pgwriter;

struct buyt_pgwriter_opts {
    const char *conninfo;
    const char *spool_dir;
    uint32_t retry_min_ms, retry_max_ms; /* 0: 200 ms .. 10 s */
    uint32_t partitions_ahead_days;      /* 0: 3 */
    uint32_t progress_fold_ms;           /* 0: 10 s; vehicle_progress_log -> vehicle_progress */
    uint32_t batch_retention_s;          /* 0: 7 days; ingest_batches rows kept (below) */
};

/* A finished batch, reported on the loop thread. `progress` is borrowed for the call. */
struct buyt_pgwriter_done {
    uint64_t batch_id;
    bool committed;     /* false: quarantined (corrupt file or rejected by the database) */
    bool already;       /* committed by an earlier run (found in ingest_batches) */
    uint32_t rows;
    uint32_t records;
    double commit_ms;
    const struct buyt_batch_progress *progress;
    uint32_t n_progress;
};

typedef void (*buyt_pgwriter_done_cb)(void *ud, const struct buyt_pgwriter_done *d);

struct buyt_pgwriter_stats {
    uint64_t batches_committed, rows_committed, batches_already, batches_quarantined;
    uint64_t commit_errors, connect_failures, pending;
    uint64_t batches_pruned; /* ingest_batches rows deleted after batch_retention_s */
    bool connected;
    double last_commit_ms, max_commit_ms;
    uint64_t rows_by_table[BUYT_TBL__COUNT];
};

/** Starts the thread; it first commits the files already in the spool, in order. `done` runs on
 *  `loop`. Returns 0, BUYT_ENOMEM or a negative errno. */
int buyt_pgwriter_start(uv_loop_t *loop, const struct buyt_pgwriter_opts *opts,
                        buyt_pgwriter_done_cb done, void *ud, struct buyt_pgwriter **out);

/** Queues spool file `batch_id` (already written) for commit. Loop thread. */
void buyt_pgwriter_submit(struct buyt_pgwriter *w, uint64_t batch_id);

/** Snapshot of the counters (thread-safe). */
void buyt_pgwriter_stats(struct buyt_pgwriter *w, struct buyt_pgwriter_stats *out);

/** Stops the thread after the batch in progress (waits for it: call at shutdown), closes the
 *  async handle and frees `w` once closed. Pending files stay in the spool for the next run. */
void buyt_pgwriter_stop(struct buyt_pgwriter *w);

#endif
