/* NMEA 0183 from a GNSS receiver: bytes -> sentences -> one merged fix per receiver epoch.
 *
 * Three layers, each usable alone, all pure (no I/O, no allocation, no globals, no clock):
 *   1. buyt_nmea_parse()        one sentence's text -> struct buyt_nmea_sentence, or a reject;
 *   2. struct buyt_nmea_merger  sentences of one epoch (same UTC time of day) -> struct
 *                               buyt_nmea_fix, with the date resolved (RMC/ZDA, midnight, GPS
 *                               week rollover, nonsense dates);
 *   3. struct buyt_nmea_parser  a byte stream (framing, resynchronisation) through 1 and 2.
 * The agent uses 3; the others are public for tests and tools. docs/NMEA.md has the policies,
 * the gpsd corpus agreement and the throughput measurement.
 *
 * Sentences used (any two-letter talker: GP, GN, GL, GA, GB, BD, QZ...): GGA, RMC, VTG, GSA,
 * GNS, GLL, ZDA. Proprietary ($P...) and other sentences with a good checksum are "ignored"
 * (counted, not an error). Everything else is "rejected" with a reason.
 *
 * Checksum policy: a sentence without "*hh" is REJECTED as no_checksum (gpsd accepts it). In
 * the gpsd corpus (53 logs) no position, time or date sentence lacks a checksum: the only
 * checksum-less lines are vendor text and debug lines, and a line cut short without its "*hh"
 * would otherwise be parsed with wrong fields. BUYT_NMEA_OPT_ACCEPT_NO_CHECKSUM restores
 * gpsd's behaviour for a receiver that needs it. */
#ifndef BUYT_NMEA_H
#define BUYT_NMEA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest sentence kept, from '$' to the last checksum digit, terminator excluded. NMEA 0183
 * (4.11, 5.3) allows 82 characters with CR LF; real receivers exceed it (high-precision GGA 92,
 * Skytraq $PSTI 103 in the gpsd corpus). Longer lines are rejected as too_long. */
#define BUYT_NMEA_MAX_SENTENCE 120

/* Why a sentence was refused. Names (buyt_nmea_reject_name) are stable snake_case: they are
 * metric labels and the decode tool's output. Append only. */
enum buyt_nmea_reject {
    BUYT_NMEA_OK = 0,
    BUYT_NMEA_REJECT_BAD_CHECKSUM, /* "*hh" does not match, or is not two hex digits */
    BUYT_NMEA_REJECT_NO_CHECKSUM,  /* no "*hh" (see the policy above) */
    BUYT_NMEA_REJECT_TOO_LONG,     /* longer than BUYT_NMEA_MAX_SENTENCE */
    BUYT_NMEA_REJECT_TRUNCATED,    /* cut by the next '$' or by the end of input */
    BUYT_NMEA_REJECT_BAD_CHAR,     /* a control or non-ASCII byte (NUL, ESC...) inside */
    BUYT_NMEA_REJECT_MALFORMED,    /* bad address field, or too few fields for its type */
    BUYT_NMEA_REJECT_BAD_FIELD,    /* a field of a valid-fix sentence fails syntax or range */
    BUYT_NMEA_REJECT_BAD_DATE,     /* a date outside the plausible window (see merger) */
    BUYT_NMEA_REJECT__COUNT
};

/** Stable name of a reject reason ("bad_checksum"...); "ok" for BUYT_NMEA_OK, "unknown" out of
 *  range. Static string. */
const char *buyt_nmea_reject_name(enum buyt_nmea_reject r);

enum buyt_nmea_type {
    BUYT_NMEA_NONE = 0,    /* not known (the sentence was rejected before its address) */
    BUYT_NMEA_GGA,         /* fix data: time, position, quality, satellites, HDOP, altitude */
    BUYT_NMEA_RMC,         /* recommended minimum: time, status, position, speed, course, date */
    BUYT_NMEA_VTG,         /* course and speed over ground */
    BUYT_NMEA_GSA,         /* DOP and active satellites: 1/2/3-D mode */
    BUYT_NMEA_GNS,         /* multi-constellation fix data */
    BUYT_NMEA_GLL,         /* position, time, status */
    BUYT_NMEA_ZDA,         /* time and date */
    BUYT_NMEA_PROPRIETARY, /* $P...: ignored */
    BUYT_NMEA_UNKNOWN,     /* any other well-formed sentence (GSV, TXT...): ignored */
    BUYT_NMEA_TYPE__COUNT
};

/** Three-letter name ("GGA"), "proprietary", "unknown" or "none". Static string. */
const char *buyt_nmea_type_name(enum buyt_nmea_type t);

/* Same values as proto buyt.v1.FixQuality. */
enum buyt_nmea_quality {
    BUYT_NMEA_QUALITY_NONE = 1,      /* no fix, simulator, manual input */
    BUYT_NMEA_QUALITY_GPS = 2,       /* autonomous (GGA 1, 3 PPS; mode A, P) */
    BUYT_NMEA_QUALITY_DGPS = 3,      /* differential / SBAS (GGA 2; mode D) */
    BUYT_NMEA_QUALITY_RTK = 4,       /* RTK fixed or float (GGA 4, 5; mode R, F) */
    BUYT_NMEA_QUALITY_ESTIMATED = 5, /* dead reckoning (GGA 6; mode E) */
};

/* gpsd's TPV "mode" numbering. */
enum buyt_nmea_mode {
    BUYT_NMEA_MODE_NO_FIX = 1,
    BUYT_NMEA_MODE_2D = 2,
    BUYT_NMEA_MODE_3D = 3,
};

/* Bits of buyt_nmea_fix.fields: same values as proto buyt.v1.FixField. */
enum {
    BUYT_NMEA_FIELD_SPEED = 1,
    BUYT_NMEA_FIELD_COURSE = 2,
    BUYT_NMEA_FIELD_ALTITUDE = 4,
    BUYT_NMEA_FIELD_HDOP = 8,
    BUYT_NMEA_FIELD_SATELLITES = 16,
};

/* Bits of buyt_nmea_fix.flags. */
enum {
    BUYT_NMEA_FIX_TIME = 1,     /* time_ms is valid (a date is known); else only tod_ms */
    BUYT_NMEA_FIX_TOD = 2,      /* tod_ms is valid */
    BUYT_NMEA_FIX_ROLLOVER = 4, /* the date was corrected by 1024 GPS weeks */
};

/* One receiver epoch merged. Units are those of proto buyt.v1.Fix, so the agent can copy them
 * (buyt_nmea_fix_to_proto does). Position fields are meaningful only when mode is 2D or 3D:
 * a receiver without a fix gives mode NO_FIX and quality NONE, never 0,0. */
struct buyt_nmea_fix {
    int64_t time_ms;      /* Unix ms UTC, if flags & BUYT_NMEA_FIX_TIME */
    int32_t tod_ms;       /* UTC time of day, ms (86400000.. during a leap second) */
    int32_t lat_e7;       /* degrees x 1e7, WGS-84 */
    int32_t lon_e7;       /* degrees x 1e7 */
    uint32_t speed_cms;   /* speed over ground, cm/s          [FIELD_SPEED] */
    uint32_t course_cdeg; /* course over ground, 0.01 deg true [FIELD_COURSE] */
    int32_t alt_cm;       /* altitude above mean sea level, cm [FIELD_ALTITUDE] */
    uint32_t hdop_x100;   /* HDOP x 100                        [FIELD_HDOP] */
    uint32_t satellites;  /* satellites used                   [FIELD_SATELLITES] */
    uint32_t fields;      /* OR of BUYT_NMEA_FIELD_* */
    uint32_t flags;       /* OR of BUYT_NMEA_FIX_* */
    uint32_t sentences;   /* OR of (1u << enum buyt_nmea_type) merged into this epoch */
    enum buyt_nmea_quality quality;
    enum buyt_nmea_mode mode;
};

/* Bits of buyt_nmea_sentence.has. */
enum {
    BUYT_NMEA_HAS_TIME = 1,      /* tod_ms */
    BUYT_NMEA_HAS_DATE = 2,      /* year, month, day */
    BUYT_NMEA_HAS_POS = 4,       /* lat_e7, lon_e7, pos_digits */
    BUYT_NMEA_HAS_SPEED = 8,     /* speed_cms */
    BUYT_NMEA_HAS_COURSE = 16,   /* course_cdeg */
    BUYT_NMEA_HAS_ALT = 32,      /* alt_cm */
    BUYT_NMEA_HAS_HDOP = 64,     /* hdop_x100 */
    BUYT_NMEA_HAS_SATS = 128,    /* satellites */
    BUYT_NMEA_HAS_QUALITY = 256, /* quality */
    BUYT_NMEA_HAS_MODE = 512,    /* gsa_mode */
};

/* One parsed sentence, in the units of struct buyt_nmea_fix. A sentence that reports no fix
 * (RMC/GLL status V, GGA quality 0/7/8, GNS mode N...) has valid = 0 and none of its
 * position, speed, course or altitude set, whatever its fields held. */
struct buyt_nmea_sentence {
    enum buyt_nmea_type type;
    char talker[3];     /* "GP", "GN"... NUL-terminated; "" for proprietary and unknown */
    int8_t valid;       /* 1 reports a fix, 0 reports no fix, -1 says nothing (GSA, ZDA...) */
    uint8_t pos_digits; /* decimals of the minutes in the position (precision) */
    uint8_t gsa_mode;   /* GSA 1 no fix, 2 2D, 3 3D */
    uint32_t has;       /* OR of BUYT_NMEA_HAS_* */
    int32_t tod_ms;
    int32_t year, month, day; /* full year: RMC's two digits pivot at 80 (80..99 -> 1980..1999) */
    int32_t lat_e7, lon_e7;
    uint32_t speed_cms, course_cdeg;
    int32_t alt_cm;
    uint32_t hdop_x100, satellites;
    enum buyt_nmea_quality quality;
};

/* Options (buyt_nmea_config.options). */
enum {
    BUYT_NMEA_OPT_ACCEPT_NO_CHECKSUM = 1, /* gpsd's policy: parse sentences without "*hh" */
    BUYT_NMEA_OPT_HASH_COMMENTS = 2,      /* a line starting with '#' is a comment (gpsd logs) */
};

/** Parses one sentence `text` of `len` bytes: from '$' (or '!') to the checksum, no terminator
 *  (trailing spaces are tolerated). `options`: BUYT_NMEA_OPT_ACCEPT_NO_CHECKSUM or 0. Fills
 *  *out (always: type and talker when known) and returns BUYT_NMEA_OK or the reject reason.
 *  Proprietary and unknown sentences return BUYT_NMEA_OK with type PROPRIETARY / UNKNOWN.
 *  Dates are checked for syntax only here (plausibility is the merger's job). */
enum buyt_nmea_reject buyt_nmea_parse(const char *text, size_t len, uint32_t options,
                                      struct buyt_nmea_sentence *out);

/** Receives a merged fix. `fix` is borrowed for the duration of the call. */
typedef void (*buyt_nmea_fix_cb)(const struct buyt_nmea_fix *fix, void *arg);

/* Epoch merger. Embed it; all fields are private. */
struct buyt_nmea_merger {
    int64_t ref_ms;        /* plausibility floor, 0 = none */
    int64_t anchor_day;    /* last known date (days since 1970-01-01)... */
    int32_t anchor_tod_ms; /* ...at this time of day */
    bool anchor_valid, anchor_rollover;
    uint8_t last_dim; /* 2 or 3 as last said by GSA or a GGA altitude; 0 unknown */
    bool open;        /* an epoch is being merged */
    struct buyt_nmea_epoch {
        uint32_t sentences, fields;
        bool has_tod, has_pos, has_sats, gsa_seen, valid_seen, invalid_seen;
        uint8_t pos_digits, gsa_mode, quality_rank;
        int32_t tod_ms, lat_e7, lon_e7, alt_cm;
        uint32_t speed_cms, course_cdeg, hdop_x100, satellites, gsa_sats;
        enum buyt_nmea_quality quality;
    } ep;
    uint64_t fixes, rollovers;
};

/* How far after the reference a date may be (10 years): the plausible window is [ref - 1 day,
 * ref + 10 years). It must be shorter than 1024 weeks for a rollover to be unambiguous. */
#define BUYT_NMEA_MAX_AHEAD_DAYS 3653

/** Initialises a merger. `ref_ms` (Unix ms UTC) is the caller's "last good time": the last
 *  time in the agent's journal, else the build date; 0 disables the check (replaying old logs).
 *  A date in [ref - 1 day, ref + BUYT_NMEA_MAX_AHEAD_DAYS) is taken; a date exactly 1024 weeks
 *  (7168 days) before that window is a GPS week rollover (receiver firmware counting weeks
 *  from an old epoch): corrected, flagged BUYT_NMEA_FIX_ROLLOVER and counted; any other date
 *  (or, with ref_ms 0, a year outside 2000..2099) is refused as bad_date, so no fix is ever
 *  dated decades away. */
void buyt_nmea_merger_init(struct buyt_nmea_merger *m, int64_t ref_ms);

/** Merges one parsed sentence (buyt_nmea_parse returned BUYT_NMEA_OK). If it starts a new
 *  epoch (another time of day, or a second position sentence of the same type), the previous
 *  epoch is emitted through cb first. Returns BUYT_NMEA_OK, or BUYT_NMEA_REJECT_BAD_DATE if
 *  the sentence's date is implausible (the whole sentence is then left out). */
enum buyt_nmea_reject buyt_nmea_merger_add(struct buyt_nmea_merger *m,
                                           const struct buyt_nmea_sentence *s, buyt_nmea_fix_cb cb,
                                           void *arg);

/** Emits the open epoch, if any, through cb (end of input, or the serial line went idle). */
void buyt_nmea_merger_flush(struct buyt_nmea_merger *m, buyt_nmea_fix_cb cb, void *arg);

/* Counters of a parser; rejected[] is indexed by enum buyt_nmea_reject ([0] unused). */
struct buyt_nmea_stats {
    uint64_t bytes;
    uint64_t accepted; /* GGA/RMC/VTG/GSA/GNS/GLL/ZDA merged */
    uint64_t ignored;  /* proprietary and unknown sentences with a good checksum */
    uint64_t rejected[BUYT_NMEA_REJECT__COUNT];
    uint64_t stitched;  /* sentences rebuilt around one injected into them (see feed) */
    uint64_t fixes;     /* fixes emitted */
    uint64_t rollovers; /* dates corrected by 1024 weeks */
};

/* What happened to one sentence, for diagnostics (decode tool, corpus test). */
struct buyt_nmea_event {
    enum buyt_nmea_type type;
    enum buyt_nmea_reject reject; /* BUYT_NMEA_OK: accepted, or ignored if type is
                                     PROPRIETARY / UNKNOWN */
    uint64_t line;                /* 1-based input line (counted on LF) where it started */
    const char *text;             /* the sentence bytes as framed (borrowed, not terminated) */
    size_t len;
};

/** Receives a sentence verdict. `ev` and its text are borrowed for the duration of the call. */
typedef void (*buyt_nmea_event_cb)(const struct buyt_nmea_event *ev, void *arg);

struct buyt_nmea_config {
    int64_t ref_ms;              /* see buyt_nmea_merger_init */
    uint32_t options;            /* BUYT_NMEA_OPT_* */
    buyt_nmea_fix_cb on_fix;     /* required */
    buyt_nmea_event_cb on_event; /* optional: every sentence's verdict */
    void *arg;                   /* passed to both callbacks */
};

/* Byte-stream parser. Embed it (560 bytes on x86-64); all fields are private. */
struct buyt_nmea_parser {
    struct buyt_nmea_config cfg;
    struct buyt_nmea_merger merger;
    struct buyt_nmea_stats stats;
    uint64_t line, start_line, stash_line;
    uint8_t state;
    bool stitching, line_start;
    size_t len, stash_len;
    char buf[BUYT_NMEA_MAX_SENTENCE + 1];
    char stash[BUYT_NMEA_MAX_SENTENCE + 1];
};

/** Initialises `p` with `cfg` (copied). Returns 0, or BUYT_EINVAL if cfg->on_fix is NULL or
 *  an option bit is unknown. */
int buyt_nmea_init(struct buyt_nmea_parser *p, const struct buyt_nmea_config *cfg);

/** Changes the plausibility floor (see buyt_nmea_merger_init), e.g. once the journal is read. */
void buyt_nmea_ref_time_set(struct buyt_nmea_parser *p, int64_t ref_ms);

/** Feeds `len` bytes (borrowed) of receiver output, in any chunking. Calls on_event for each
 *  sentence and on_fix for each completed epoch, synchronously, before returning. Never fails:
 *  bad input is counted. Framing: a sentence starts at '$' (or '!': AIS encapsulation, framed
 *  and ignored) and ends at CR or LF; bytes between sentences (NULs, text, a lone LF) are
 *  skipped; a '$' inside a sentence starts a new one, and the cut one is kept aside: if the
 *  bytes after the new sentence's end complete it with a good checksum it is accepted
 *  ("stitched": packets injected by a microcontroller, iSync), else rejected as truncated. A
 *  control byte inside a sentence rejects it (bad_char); so does exceeding
 *  BUYT_NMEA_MAX_SENTENCE (too_long); both resync on the next '$'. Callbacks must not call
 *  feed, epoch_end or flush on the same parser. */
void buyt_nmea_feed(struct buyt_nmea_parser *p, const void *bytes, size_t len);

/** Emits the open epoch now (the receiver went quiet: no need to wait for the next epoch's
 *  first sentence). A partial sentence stays buffered. */
void buyt_nmea_epoch_end(struct buyt_nmea_parser *p);

/** End of input: rejects a partial sentence as truncated, then emits the open epoch. The
 *  parser can be fed again afterwards. */
void buyt_nmea_flush(struct buyt_nmea_parser *p);

/** Counters since init. Borrowed pointer into `p`. */
const struct buyt_nmea_stats *buyt_nmea_stats_get(const struct buyt_nmea_parser *p);

struct Buyt__V1__Fix;

/** Copies a fix into a proto Fix the caller initialised with BUYT__V1__FIX__INIT: position,
 *  quality, the values present and their `fields` bits. A NO_FIX fix gives quality NONE and
 *  lat/lon 0 (meaningless by the contract). The record's time is the caller's: fix->time_ms
 *  when flags has BUYT_NMEA_FIX_TIME (without it the fix cannot be a record). Values are
 *  within the contract's ranges by construction (the parser refuses or drops others). */
void buyt_nmea_fix_to_proto(const struct buyt_nmea_fix *fix, struct Buyt__V1__Fix *out);

#endif
