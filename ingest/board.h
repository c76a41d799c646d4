/* Stop boards: the next arrivals at a stop across every route serving it, as the StopBoard
 * message signs and apps subscribe to (buyt/v1/{agency}/stop/{stop_id}/board, retained), and as
 * fixed-width text lines for signs that can only print characters.
 *
 * An arrival is one (trip, stop) visit of the loaded service days, scheduled within
 * [now - late_window_s, now + horizon_s]; the trip's last stop is never listed (nobody boards a
 * bus that ends there) and its first stop is listed with its departure. Its status:
 *   CANCELLED       the trip is cancelled (buyt_predict_trip_cancel);
 *   AT_STOP         its vehicle stands at the stop (at a first stop: and leaves within
 *                   approaching_s);
 *   APPROACHING     live prediction within approaching_s;
 *   DELAYED         live prediction more than delayed_s after the schedule;
 *   REALTIME        live prediction;
 *   SCHEDULED_ONLY  no live vehicle: not started, no vehicle, the vehicle is off its route, or
 *                   it has been silent for more than stale_s (ghost buses fall back to the
 *                   schedule, marked as such, never silently). A trip not started whose block's
 *                   vehicle is late shows the corrected time with realtime = false (DELAYED
 *                   when over delayed_s).
 * Only live arrivals have realtime = true. An arrival whose vehicle has left the stop is
 * removed; a schedule-only arrival is removed once its time has passed. Soonest first.
 *
 * Publishing rule (buyt_boards_tick): a stop's board is handed to the publisher when what a
 * rider sees changed (the arrivals, their minutes, statuses or vehicles — not eta_ms moving
 * within a minute) or when republish_s passed since it was last published. The tick sweeps
 * the stops once a second for what the clock changes (minutes count down, ghosts expire,
 * visits enter the horizon): each build notes when the clock may next change that board, and
 * the sweep rebuilds only the boards due (or marked), each at least every 10 s; between ticks
 * the engine marks the stops a fix may have changed (buyt_boards_touch) and flushes them a
 * few ms later (buyt_boards_flush), so a rider sees a change within milliseconds, not at the
 * next tick.
 *
 * Text (buyt_board_render): `rows` lines of exactly `width` display cells. The first line is
 * the header (stop name, clock HH:MM right-aligned) when `header`; then one line per arrival:
 * route short name (route_w cells), headsign, time right-aligned (time_w cells): minutes for
 * live arrivals ("now" under a minute), the clock time HH:MM for schedule-only ones, the cancel
 * label for cancelled ones. UTF-8 is measured in display cells (combining marks 0, East Asian
 * wide 2) and cut at character boundaries; with `ascii` Vietnamese (and other Latin) diacritics
 * are folded to ASCII from a table over decoded code points ("Giáp Bát" -> "Giap Bat",
 * "Đ" -> "D").
 *
 * Ownership: a boards object borrows the network and the predictor passed to it. Not
 * thread-safe; runs on the engine's loop. */
#ifndef BUYT_BOARD_H
#define BUYT_BOARD_H

#include "hist.h"
#include "network.h"
#include "predict.h"

#include "buyt/v1/buyt.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BUYT_BOARD_MAX 16       /* arrivals per board at most */
#define BUYT_BOARD_ROWS_MAX 16  /* text lines at most */
#define BUYT_BOARD_WIDTH_MAX 96 /* display cells per line at most */
/* Bytes of one rendered line: a cell may take 4 bytes plus 2 combining marks, and the '\n'. */
#define BUYT_BOARD_LINE_BYTES (BUYT_BOARD_WIDTH_MAX * 12 + 2)
#define BUYT_BOARD_TEXT_BYTES (BUYT_BOARD_ROWS_MAX * BUYT_BOARD_LINE_BYTES)

/** How text lines look. buyt_board_text_default() gives the values in brackets. */
struct buyt_board_text {
    uint32_t width;           /* [24] display cells per line, 12 .. BUYT_BOARD_WIDTH_MAX */
    uint32_t rows;            /* [4] lines, 1 .. BUYT_BOARD_ROWS_MAX */
    bool ascii;               /* [false] fold diacritics to ASCII (signs without a Unicode font) */
    bool header;              /* [true] the first line is the stop name and the clock */
    uint32_t route_w;         /* [4] cells for the route short name */
    uint32_t time_w;          /* [6] cells for the time, right-aligned */
    int32_t stale_s;          /* [120] a board older than this shows schedule times only */
    const char *now_label;    /* ["now"] live, under a minute */
    const char *min_label;    /* ["min"] after the minutes: "5 min" */
    const char *cancel_label; /* ["cancel"] */
    const char *empty_label;  /* ["No buses"] a board without arrivals */
    /* Labels are UTF-8 and folded like the rest with `ascii`. */
};

/** Board building and publishing. buyt_board_config_default() gives the values in brackets. */
struct buyt_board_config {
    int32_t horizon_s;           /* [3600] arrivals up to this far ahead */
    int32_t late_window_s;       /* [2700] trips scheduled this long ago may still come (live) */
    uint32_t max_arrivals;       /* [8] per board, <= BUYT_BOARD_MAX */
    int32_t approaching_s;       /* [60] */
    int32_t delayed_s;           /* [300] */
    int32_t stale_s;             /* [120] a vehicle silent this long is schedule-only */
    int32_t republish_s;         /* [30] publish an unchanged board at least this often */
    int32_t utc_offset_s;        /* [25200] clock times: the engine sets the feed zone's (below) */
    struct buyt_board_text text; /* the `lines` put in each StopBoard */
};

void buyt_board_text_default(struct buyt_board_text *t);
void buyt_board_config_default(struct buyt_board_config *c);

/** A built board: the message and the storage it points into (no heap). Strings borrow the
 *  network's and the predictor's; valid until either changes. */
struct buyt_board {
    Buyt__V1__StopBoard msg;
    Buyt__V1__Arrival arr[BUYT_BOARD_MAX];
    Buyt__V1__Arrival *arrp[BUYT_BOARD_MAX];
    char vehicle[BUYT_BOARD_MAX][BUYT_PREDICT_LABEL];
    uint32_t trip[BUYT_BOARD_MAX]; /* trip instance of each arrival */
    char *linep[BUYT_BOARD_ROWS_MAX];
    char text[BUYT_BOARD_TEXT_BYTES];
    uint32_t stop;
    uint64_t content; /* hash of what a rider sees (see the publishing rule) */
    int64_t next_change_ms; /* the clock alone cannot change it before this (<= now + 10 s) */
};

struct buyt_boards; /* opaque */

/** Creates a board builder. cfg NULL: defaults. Returns 0, BUYT_EINVAL, BUYT_ENOMEM. */
int buyt_boards_new(const struct buyt_board_config *cfg, struct buyt_boards **out);

/** Frees it. NULL is a no-op. */
void buyt_boards_free(struct buyt_boards *b);

/** Binds a finished network (borrowed, NULL: none): indexes the visits of every stop by time
 *  (8 bytes per trip-stop). Publishing state starts afresh: every served stop's board is
 *  published at the next tick. Returns 0 or BUYT_ENOMEM (then no network is bound). */
int buyt_boards_set_network(struct buyt_boards *b, const struct buyt_network *net);

/** Local time's offset from UTC for the clock times in text lines (the feed's zone, which the
 *  engine looks up every second: daylight saving changes it). A change makes every board due. */
void buyt_boards_set_utc_offset(struct buyt_boards *b, int32_t utc_offset_s);
int32_t buyt_boards_utc_offset(const struct buyt_boards *b);

/** Builds the board of `stop` (network index) at now_ms, with its text lines. Returns 0 or
 *  BUYT_EINVAL (no network, stop out of range). */
int buyt_boards_build(struct buyt_boards *b, const struct buyt_predict *p, uint32_t stop,
                      int64_t now_ms, struct buyt_board *out);

/** How one visit reads at a board (the rules at the top of this file). */
enum buyt_board_visit_kind {
    BUYT_BOARD_VISIT_GONE = 0,  /* its vehicle has left the stop: not listed */
    BUYT_BOARD_VISIT_SCHEDULE,  /* no prediction (no vehicle, not started, no chain) */
    BUYT_BOARD_VISIT_CANCELLED, /* buyt_predict_trip_cancel */
    BUYT_BOARD_VISIT_SILENT,    /* ghost: its vehicle silent for more than stale_s */
    BUYT_BOARD_VISIT_OFF_ROUTE, /* ghost: its vehicle off its route */
    BUYT_BOARD_VISIT_BLOCK,     /* not started: corrected by its block's vehicle, not realtime */
    BUYT_BOARD_VISIT_LIVE,      /* its vehicle runs the trip: realtime */
};

struct buyt_board_visit {
    enum buyt_board_visit_kind kind;
    int64_t eta_ms; /* LIVE (never before now), BLOCK: predicted; otherwise the schedule */
    Buyt__V1__ArrivalStatus status;
    bool realtime;                    /* LIVE only */
    struct buyt_predict_arrival pred; /* SILENT, OFF_ROUTE, BLOCK, LIVE; zeroed otherwise */
};

/** Classifies visit k of `trip`, scheduled at sched_ms (its departure at the trip's first
 *  stop, its arrival elsewhere), at now_ms under c's stale_s, approaching_s and delayed_s.
 *  Reads p only (counts nothing); horizon and expiry are the caller's. pred.label is
 *  borrowed from p. */
void buyt_board_visit_classify(const struct buyt_board_config *c, const struct buyt_predict *p,
                               uint32_t trip, uint32_t k, int64_t sched_ms, int64_t now_ms,
                               struct buyt_board_visit *out);

/** The configuration b was created with (borrowed). */
const struct buyt_board_config *buyt_boards_config(const struct buyt_boards *b);

/** Packs a board into buf (protobuf). Returns the length, or 0 if cap is too small. */
size_t buyt_board_pack(const struct buyt_board *bd, uint8_t *buf, size_t cap);

/** Publisher: gets the stop id and the packed StopBoard (borrowed for the call). Returns true
 *  if it was handed to the broker; false: not published, offered again at the next tick. */
typedef bool (*buyt_board_publish_cb)(void *ctx, const char *stop_id, const uint8_t *payload,
                                      size_t len);

/** Builds every served stop's board and calls `publish` for those due under the publishing
 *  rule. Returns the number published. Call once a second from the loop. */
uint32_t buyt_boards_tick(struct buyt_boards *b, const struct buyt_predict *p, int64_t now_ms,
                          buyt_board_publish_cb publish, void *ctx);

/** Marks stop `stop`'s board as possibly changed by data received at since_ns (buyt_mono_ns();
 *  the oldest mark is kept). Cheap; the next buyt_boards_flush (or tick) builds it. Stops that
 *  no trip boards at, and a stop out of range, are ignored. */
void buyt_boards_touch(struct buyt_boards *b, uint32_t stop, uint64_t since_ns);

/** Stops marked and not yet built. */
uint32_t buyt_boards_pending(const struct buyt_boards *b);

/** The oldest mark among the pending stops (buyt_mono_ns() scale); 0 when none. */
uint64_t buyt_boards_oldest_mark(const struct buyt_boards *b);

/** Builds the marked stops' boards and publishes those whose content changed (a mark whose
 *  board did not change is dropped; one whose publish was refused stays). Each publish adds
 *  now - mark to the latency histogram. Returns the number published. Call soon after
 *  touching (the engine: a few ms later, so that a burst of fixes costs one build per stop). */
uint32_t buyt_boards_flush(struct buyt_boards *b, const struct buyt_predict *p, int64_t now_ms,
                           buyt_board_publish_cb publish, void *ctx);

/** Latency of board updates: from the mark (the fix's arrival at the engine) to the board
 *  handed to the broker, for boards published because their content changed. */
const struct buyt_hist *buyt_boards_latency(const struct buyt_boards *b);

/** Counters. */
struct buyt_board_counters {
    uint64_t ticks, built, published, publish_refused;
    uint64_t touched;             /* stops marked by buyt_boards_touch */
    uint64_t flushes;             /* buyt_boards_flush calls */
    uint64_t published_on_change; /* publishes of a marked board whose content changed */
    uint64_t sweep_skipped;       /* stops the sweep left alone: unmarked and not due */
    /* Arrivals built schedule-only because their vehicle is silent / off route (counted per
     * board built: a ghost on 10 boards for a minute counts 600). */
    uint64_t stale_vehicles, off_route;
};
void buyt_boards_counters(const struct buyt_boards *b, struct buyt_board_counters *out);

/* ---- text -------------------------------------------------------------------------------- */

/** Renders a StopBoard (from the engine or received by a sign) as t->rows lines of exactly
 *  t->width display cells, each ended by '\n', into out (NUL-terminated). Minutes are counted
 *  from now_ms; a board older than t->stale_s at now_ms shows every arrival by its scheduled
 *  time (realtime dropped). utc_offset_s gives local clock times. Returns the bytes written
 *  (without the NUL) or 0 if cap is too small or t is invalid. */
size_t buyt_board_render(const Buyt__V1__StopBoard *b, const struct buyt_board_text *t,
                         int64_t now_ms, int32_t utc_offset_s, char *out, size_t cap);

/** Checks a text configuration: 0 or BUYT_EINVAL. */
int buyt_board_text_check(const struct buyt_board_text *t);

/** Decodes one UTF-8 code point from s (at most len bytes). Returns the bytes used (>= 1);
 *  *cp gets U+FFFD for an invalid, overlong, surrogate or truncated sequence (one byte used). */
size_t buyt_utf8_decode(const char *s, size_t len, uint32_t *cp);

/** Display cells of a code point: 0 for combining marks and zero-width characters, 2 for East
 *  Asian wide and fullwidth ones, 1 otherwise (control characters: 0). */
int buyt_utf8_cp_width(uint32_t cp);

/** Display cells of a UTF-8 string (invalid bytes count 1 each, as U+FFFD). */
size_t buyt_utf8_width(const char *s);

/** ASCII for a code point: "" for combining marks (dropped), the letter without its marks for
 *  Latin letters with diacritics (Vietnamese complete: every vowel with every tone, Đ/đ), "AE",
 *  "ss"... for ligatures, the character itself when ASCII, NULL when there is no folding (the
 *  caller prints '?'). */
const char *buyt_fold_cp(uint32_t cp);

/** Folds a UTF-8 string to ASCII into out (always NUL-terminated when cap > 0). Returns the
 *  length it needed (like snprintf). */
size_t buyt_fold_ascii(const char *s, char *out, size_t cap);

/** Writes s into out as exactly `cells` display cells: cut at a character boundary (a
 *  character that would straddle the end is dropped, the combining marks after a kept
 *  character are kept), then padded with spaces; right-aligned when `right`. With `ascii`,
 *  folded first. Needs at most cells * 12 + 1 bytes of out (NUL included). Returns bytes written.
 */
size_t buyt_utf8_fit(const char *s, uint32_t cells, bool right, bool ascii, char *out, size_t cap);

#endif
