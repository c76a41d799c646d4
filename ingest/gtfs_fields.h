/* GTFS field helpers with no I/O: times of day, CSV header lines, operator codes, time zone
 * names and derived shape ids. The importer (gtfs_import.c) and the engine share them; they
 * are the C twins of the SQL functions in sql/migrations/0002_gtfs.sql. */
#ifndef BUYT_GTFS_FIELDS_H
#define BUYT_GTFS_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    BUYT_GTFS_TIME_NONE = -1,        /* a blank GTFS time (stored as NULL) */
    BUYT_GTFS_TIME_TEXT_MAX = 16,    /* "HH:MM:SS" plus NUL, with room for any int32 */
    BUYT_GTFS_HEADER_COLS_MAX = 128, /* columns accepted in one file's header */
    BUYT_GTFS_NAME_MAX = 64,         /* longest column name, plus NUL */
    BUYT_GTFS_AGENCY_MAX = 33,       /* longest operator code (32), plus NUL */
    BUYT_GTFS_DERIVED_ID_MAX = 30,   /* "buyt:derived:" + 16 hex digits + NUL */
};

#define BUYT_GTFS_DERIVED_PREFIX "buyt:derived:"

/** Parses a GTFS time of day ("H:MM:SS" or "HH:MM:SS", hours 0..99 so times past 24:00 are
 *  fine, spaces around allowed) into seconds since noon minus 12h of the service day:
 *  "25:10:00" -> 90600. A blank `s` (NULL, empty or spaces) is not an error: *secs becomes
 *  BUYT_GTFS_TIME_NONE. Returns 0, or BUYT_EINVAL with *reason (a static string, if reason
 *  is not NULL) saying what is wrong. Same rule as SQL buyt_gtfs_time(). */
int buyt_gtfs_time_parse(const char *s, int32_t *secs, const char **reason);

/** Writes `secs` as "HH:MM:SS" (hours past 23 kept) into out; BUYT_GTFS_TIME_NONE or any
 *  negative value gives "". */
void buyt_gtfs_time_format(int32_t secs, char out[BUYT_GTFS_TIME_TEXT_MAX]);

/** The column names of one CSV header line. */
struct buyt_gtfs_header {
    size_t n;                                                  /* columns */
    char names[BUYT_GTFS_HEADER_COLS_MAX][BUYT_GTFS_NAME_MAX]; /* trimmed, unquoted */
};

/** Splits the first line of a GTFS file (`len` bytes, without or with its line break) into
 *  column names: a UTF-8 BOM is skipped, fields are separated by commas, may be quoted
 *  ("a""b" is a"b), and surrounding spaces are trimmed. Empty names are kept (a trailing
 *  comma gives one; such columns are simply unknown). Returns 0, or BUYT_EINVAL with
 *  *reason (static) for an empty line, an unterminated quote, a name too long, too many
 *  columns, or a name that appears twice (*dup_col gets its 0-based index, else -1). */
int buyt_gtfs_header_parse(const char *line, size_t len, struct buyt_gtfs_header *h,
                           const char **reason, int *dup_col);

/** True if `code` can be the operator code of MQTT topics: 1..32 characters from
 *  [A-Za-z0-9._-]. */
bool buyt_gtfs_agency_code_valid(const char *code);

/** Derives an operator code from a feed's agency: agency_id if it holds a letter, else
 *  agency_name, folded to lower case with every other run of characters replaced by '-'
 *  ("TRIMET" -> "trimet", "Default Agency" -> "default-agency", "Hà Nội" -> "h-n-i");
 *  "agency" if nothing is left. Either argument may be NULL. */
void buyt_gtfs_agency_code_derive(const char *agency_id, const char *agency_name,
                                  char out[BUYT_GTFS_AGENCY_MAX]);

/** Cheap syntax check of an IANA zone name before asking the database: 1..63 characters
 *  from [A-Za-z0-9/_+-], no leading '/', no "..". "Asia/Ho_Chi_Minh" and "UTC" pass. The
 *  database's pg_timezone_names decides whether the zone exists. */
bool buyt_gtfs_timezone_plausible(const char *tz);

/** The id of the shape derived from a trip's stops `stop_ids[0..n-1]` in stop_sequence
 *  order: BUYT_GTFS_DERIVED_PREFIX + the first 16 hex digits of MD5 of "len:id,len:id,..."
 *  (len = bytes of the id). Trips with the same stop pattern share it. The importer computes
 *  the same in SQL. Returns 0, or BUYT_EINVAL if n is 0 or an id is NULL. */
int buyt_gtfs_derived_shape_id(const char *const *stop_ids, size_t n,
                               char out[BUYT_GTFS_DERIVED_ID_MAX]);

#endif
