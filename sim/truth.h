/* Ground truth of a simulation run, as CSV (docs/SIMULATOR.md, "Truth file"): what each bus
 * really did, so tests and the accuracy report can score the engine's matching, stop events
 * and predictions. One file, one header, one row per fact; `kind` says which columns apply:
 *
 *   kind,vehicle_id,service_date,trip_id,route_id,block_id,stop_sequence,stop_id,
 *   start,end,scheduled_start,scheduled_end,boardings,alightings
 *
 *   trip          a trip driven: start = departure from the first stop, end = arrival at the last
 *   stop          a stop served or passed: start = arrival, end = departure (the first stop of a
 *                 trip has no arrival, the last no departure; passed without stopping: equal)
 *   skip          a stop not served (detour): no times
 *   detour        the bus off its shape: start/end of the excursion
 *   deadzone      no connectivity (direct mode: records held, then replayed)
 *   gnss_outage   the receiver had no fix
 *   gnss_degraded fixes tens of metres off (urban canyon, multipath)
 * Times are ISO 8601 UTC with milliseconds; empty when not applicable. Text goes through
 * libcsv's quoting. */
#ifndef BUYT_SIM_TRUTH_H
#define BUYT_SIM_TRUTH_H

#include <stdint.h>
#include <stdio.h>

enum buyt_truth_kind {
    BUYT_TRUTH_TRIP,
    BUYT_TRUTH_STOP,
    BUYT_TRUTH_SKIP,
    BUYT_TRUTH_DETOUR,
    BUYT_TRUTH_DEADZONE,
    BUYT_TRUTH_GNSS_OUTAGE,
    BUYT_TRUTH_GNSS_DEGRADED,
    BUYT_TRUTH__COUNT
};

#define BUYT_TRUTH_NO_TIME INT64_MIN

/* One row. Strings are borrowed; NULL or "" prints an empty field. */
struct buyt_truth_row {
    enum buyt_truth_kind kind;
    const char *vehicle_id;
    const char *service_date; /* YYYY-MM-DD */
    const char *trip_id;
    const char *route_id;
    const char *block_id;
    int stop_sequence; /* < 0: empty */
    const char *stop_id;
    int64_t start_ms, end_ms, sched_start_ms, sched_end_ms; /* BUYT_TRUTH_NO_TIME: empty */
    int boardings, alightings;                              /* < 0: empty */
};

/** Stable name of a kind ("trip", "stop"...). */
const char *buyt_truth_kind_name(enum buyt_truth_kind k);

/** Parses a kind name. Returns the kind or -1. */
int buyt_truth_kind_parse(const char *name);

/** Writes the header line. */
void buyt_truth_write_header(FILE *f);

/** Writes one row. */
void buyt_truth_write(FILE *f, const struct buyt_truth_row *r);

/** A row read back (owned strings in fixed buffers). */
struct buyt_truth_rec {
    int kind;
    char vehicle_id[40], service_date[12], trip_id[72], route_id[72], block_id[72], stop_id[72];
    int stop_sequence;
    int64_t start_ms, end_ms, sched_start_ms, sched_end_ms;
    int boardings, alightings;
};

/** Reads a truth file, calling cb for each row after the header. Returns 0, or BUYT_EIO /
 *  BUYT_EINVAL (bad header or row) with a reason in err. */
int buyt_truth_read(const char *path, void (*cb)(void *ud, const struct buyt_truth_rec *r),
                    void *ud, char *err, size_t errlen);

/** Parses "YYYY-MM-DDTHH:MM:SS.mmmZ" to Unix ms. Returns 0 or BUYT_EINVAL. */
int buyt_truth_parse_time(const char *s, int64_t *out_ms);

#endif
