/* The engine's spool: every sealed batch is written here as one file before the writer thread
 * commits it to PostgreSQL, and removed after the commit. While PostgreSQL is down or slow the
 * files pile up on disk (memory stays bounded) and are committed in order when it is back; after
 * an engine crash they are replayed at start. Files are written without fsync: acks are only
 * published after the database commit, so a file lost with the machine means the buses resend.
 *
 * File: <dir>/<batch id, 20 digits>.batch — "BYSPOOL" and the column layout digit (batch.h,
 * BUYT_BATCH_LAYOUT: "BYSPOOL2"; files of older layouts are read and replayed with their own
 * column lists), id, records, per table (rows, length, binary COPY tuples), days, per-vehicle
 * seq sets, CRC-32 (zlib) of all that. Written to a temporary name and renamed, so a reader
 * never sees half a file. */
#ifndef BUYT_SPOOL_H
#define BUYT_SPOOL_H

#include "batch.h"

#include <stddef.h>
#include <stdint.h>

/** Creates `dir` if needed. Returns 0 or a negative errno. */
int buyt_spool_init_dir(const char *dir);

/** Writes batch `b` as <dir>/<b->id>.batch; *bytes_out (may be NULL) gets the file size.
 *  Returns 0 or a negative errno / BUYT_ENOMEM. */
int buyt_spool_write(const char *dir, const struct buyt_batch *b, uint64_t *bytes_out);

/** Reads <dir>/<id>.batch into `b` (reset first). Returns 0, a negative errno, or
 *  BUYT_ECORRUPT (bad magic, truncated, CRC mismatch). */
int buyt_spool_read(const char *dir, uint64_t id, struct buyt_batch *b);

/** Removes <dir>/<id>.batch. Returns 0 or a negative errno. */
int buyt_spool_remove(const char *dir, uint64_t id);

/** Moves a corrupt or poison file aside into <dir>/bad/. Returns 0 or a negative errno. */
int buyt_spool_quarantine(const char *dir, uint64_t id);

/** Lists the batch ids in `dir`, ascending, into a malloc'd array (*ids, caller frees).
 *  Returns the count (>= 0) or a negative errno. */
int buyt_spool_list(const char *dir, uint64_t **ids);

#endif
