/* The part of the GTFS Schedule reference (https://gtfs.org/schedule/reference/) that buyt
 * imports, as data: files, fields with their type and presence, keys, and the cross-row
 * rules checked once a feed is loaded. gtfs_import.c turns it into SQL. */
#ifndef BUYT_GTFS_SPEC_H
#define BUYT_GTFS_SPEC_H

#include <stdbool.h>
#include <stddef.h>

/* How a field's text becomes a typed column, and what text is valid. */
enum buyt_gtfs_kind {
    BUYT_GTFS_TEXT,  /* text, trimmed; blank -> NULL */
    BUYT_GTFS_INT,   /* integer within [lo, hi] */
    BUYT_GTFS_FLOAT, /* decimal number within [lo, hi] */
    BUYT_GTFS_TIME,  /* H:MM:SS -> seconds (buyt_gtfs_time) */
    BUYT_GTFS_DATE,  /* YYYYMMDD -> date (buyt_gtfs_date) */
    BUYT_GTFS_COLOR, /* six hex digits, stored upper-case */
    BUYT_GTFS_BOOL,  /* 0 or 1 -> boolean */
};

enum {
    BUYT_GTFS_REQUIRED = 1, /* column must exist and every value be non-blank */
    BUYT_GTFS_COLUMN = 2,   /* column must exist; values may be blank */
};

struct buyt_gtfs_field {
    const char *name; /* GTFS field name = column of the target table */
    enum buyt_gtfs_kind kind;
    unsigned flags;   /* BUYT_GTFS_REQUIRED, BUYT_GTFS_COLUMN or 0 (optional) */
    double lo, hi;    /* accepted range of INT and FLOAT values */
    const char *dflt; /* SQL literal stored for a blank value (the reference's default), or
                         NULL to store NULL */
};

enum buyt_gtfs_file_id {
    BUYT_GTFS_AGENCY,
    BUYT_GTFS_ROUTES,
    BUYT_GTFS_STOPS,
    BUYT_GTFS_SHAPES,
    BUYT_GTFS_TRIPS,
    BUYT_GTFS_STOP_TIMES,
    BUYT_GTFS_CALENDAR,
    BUYT_GTFS_CALENDAR_DATES,
    BUYT_GTFS_FREQUENCIES,
    BUYT_GTFS_FEED_INFO,
    BUYT_GTFS_FILES /* count */
};

struct buyt_gtfs_file {
    const char *name;  /* "stops.txt" */
    const char *table; /* target table; NULL: read but not stored (feed_info.txt) */
    const char *stage; /* its temporary staging table: n (line - 1), c0..cN text */
    const char *typed; /* its temporary typed table: n, then the columns of `table` */
    bool required;     /* calendar/calendar_dates: one of the two, checked by the importer */
    const struct buyt_gtfs_field *fields;
    size_t nfields;
    const char *key[2]; /* fields of the primary key (key[1] may be NULL) */
};

/** Every file the importer reads, indexed by enum buyt_gtfs_file_id, in the order they are
 *  loaded. Other files of a feed (transfers.txt, ...) are ignored. */
extern const struct buyt_gtfs_file buyt_gtfs_files[BUYT_GTFS_FILES];

/** A rule across rows or files, checked on the typed tables before anything is written. */
struct buyt_gtfs_check {
    enum buyt_gtfs_file_id file; /* the file whose line is reported */
    const char *column;          /* the column reported */
    const char *sql;             /* constant SQL returning the first bad row: its line, then the
                                    offending value, as text */
    const char *msg;             /* the reason; "{}" is replaced by the offending value */
};

/** The rules, in the order they are checked; ends with an entry whose sql is NULL. */
extern const struct buyt_gtfs_check buyt_gtfs_checks[];

/** The field `name` of file `f`, or NULL. */
const struct buyt_gtfs_field *buyt_gtfs_spec_field(const struct buyt_gtfs_file *f,
                                                   const char *name);

#endif
