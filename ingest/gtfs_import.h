/* GTFS static import: loads a feed (folder or .zip) into the gtfs_* tables of
 * sql/migrations/0002_gtfs.sql, replacing the previous feed in one transaction, and reads
 * back a summary. Synchronous libpq: a batch tool, never called from the engine's loop.
 *
 * PostgreSQL parses the CSV (COPY ... FORMAT csv into temporary text tables, columns mapped
 * by each file's header), typed INSERT ... SELECT statements convert into temporary typed
 * tables, and every value and reference is checked there before the gtfs_* tables are
 * touched, so a bad feed is refused with "file:line: column name: reason" and the database
 * is left exactly as it was. docs/GTFS.md has the details. */
#ifndef BUYT_GTFS_IMPORT_H
#define BUYT_GTFS_IMPORT_H

#include "gtfs_fields.h"

#include <stddef.h>

/** Row counts of a feed, as imported or as found in the tables. */
struct buyt_gtfs_counts {
    long agency;
    long routes;
    long stops;
    long shapes; /* distinct shape_id, derived ones included */
    long shape_points;
    long derived_shapes; /* shapes made from trips' stops */
    long trips;
    long stop_times;
    long calendar;
    long calendar_dates;
    long frequencies;
};

struct buyt_gtfs_options {
    const char *conninfo; /* libpq connection string or URI; required */
    const char *feed;     /* folder or .zip; required */
    const char *agency;   /* operator code for MQTT topics; NULL: the previous import's,
                             else derived from agency.txt (buyt_gtfs_agency_code_derive) */
    const char *timezone; /* overrides agency_timezone (checked against pg_timezone_names);
                             NULL: the feed's own, which must then be a known zone */
    /* Test seam: called inside the import transaction, after every row is written and
     * checked and just before COMMIT. A non-zero return rolls the import back and is
     * returned. NULL: none. */
    int (*before_commit)(void *arg);
    void *arg;
};

/** What an import did. */
struct buyt_gtfs_result {
    int version;                       /* gtfs_feed.version of this import */
    char agency[BUYT_GTFS_AGENCY_MAX]; /* operator code stored */
    char timezone[64];                 /* effective time zone */
    struct buyt_gtfs_counts counts;
    long rows; /* rows read from the feed's files */
    long elapsed_ms;
    int warnings; /* logged, not fatal (e.g. trips with < 2 stops) */
};

/** Imports the feed described by `opt` (borrowed) and replaces the previous one, all in one
 *  transaction: concurrent readers see the old feed until the commit, never a mix, and are
 *  not blocked. Concurrent imports are serialised. On success fills *res (may be NULL) and
 *  returns 0. On failure nothing in the database has changed; returns BUYT_EINVAL for a bad
 *  feed or option (err: "stop_times.txt:1234: column arrival_time: bad time \"25:61:00\"
 *  (minutes out of range (00..59))", "agency.txt: missing required file", ...), BUYT_EDB
 *  for a database failure, another negative code for I/O; err gets one line (no newline). */
int buyt_gtfs_import(const struct buyt_gtfs_options *opt, struct buyt_gtfs_result *res, char *err,
                     size_t errlen);

/** The feed now in the tables. */
struct buyt_gtfs_summary {
    int version;                       /* current gtfs_feed.version; 0: nothing imported */
    char agency[BUYT_GTFS_AGENCY_MAX]; /* of the current version ("" if none) */
    char timezone[64];
    char imported_at[40];           /* ISO 8601, UTC */
    char feed_version[128];         /* feed_info.txt's, "" if none */
    struct buyt_gtfs_counts counts; /* counted in the tables now */
};

/** Reads the current feed's description and counts the rows of every gtfs_* table into *out.
 *  Returns 0, or BUYT_EDB with a one-line reason in err. */
int buyt_gtfs_summary_read(const char *conninfo, struct buyt_gtfs_summary *out, char *err,
                           size_t errlen);

#endif
