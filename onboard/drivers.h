/* The bus's driver list (card -> driver, from a local file) and the driver sign-in/sign-out
 * state machine fed by the driver's card reader. File format and rules: docs/RFID.md.
 *
 * Pure logic: the agent loads the file, feeds debounced taps, and maps each event to a
 * buyt.v1.DriverEvent (the kind values are the proto's DriverEventKind values). */
#ifndef BUYT_DRIVERS_H
#define BUYT_DRIVERS_H

#include "cardid.h"
#include "rfid.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BUYT_DRIVERS_ID_MAX 32u                    /* DriverEvent.driver_id: <= 32 chars */
#define BUYT_DRIVERS_NAME_MAX 96u                  /* bytes of UTF-8 */
#define BUYT_DRIVERS_LINE_MAX 512u                 /* bytes, terminator excluded */
#define BUYT_DRIVERS_FILE_MAX (4u * 1024u * 1024u) /* bytes */

/* One line of the list. A card is named either by number (EM4100 printed number, or the value
 * a line-dec reader prints) or by card id (from a uid: entry hashed at load time, or cid:). */
struct buyt_drivers_entry {
    char driver_id[BUYT_DRIVERS_ID_MAX + 1]; /* printable ASCII, no spaces */
    char name[BUYT_DRIVERS_NAME_MAX + 1];    /* may be empty */
    unsigned line;                           /* 1-based line in the file */
    bool by_number;
    uint64_t number;                    /* if by_number */
    uint8_t card_id[BUYT_CARDID_BYTES]; /* if !by_number */
};

/* A loaded list (opaque, heap). Immutable once loaded: reload by loading a new one. */
struct buyt_drivers;

/** Called for each line that is skipped: `line` is 1-based, `reason` a borrowed sentence valid
 *  during the call (it never quotes the card field). */
typedef void (*buyt_drivers_bad_line_cb)(void *arg, unsigned line, const char *reason);

/** Parses a list from `text` (`len` bytes, borrowed, need not be NUL-terminated). `key` (the
 *  fleet key, borrowed) hashes uid: entries, whose clear bytes are then wiped. Bad lines are
 *  skipped and reported to `bad` (may be NULL) and counted (buyt_drivers_bad_lines); they do
 *  not fail the parse. On success *out owns a new list (buyt_drivers_free). Returns 0,
 *  BUYT_EINVAL (NULL argument or unparsed key), BUYT_ERANGE (more than BUYT_DRIVERS_FILE_MAX
 *  bytes), BUYT_ENOMEM or BUYT_EIO (libcrypto failed); then *out is NULL. */
int buyt_drivers_parse(struct buyt_drivers **out, const char *text, size_t len,
                       const struct buyt_cardid_key *key, buyt_drivers_bad_line_cb bad, void *arg);

/** Reads the file at `path` and parses it as buyt_drivers_parse(). Blocking file I/O: call it
 *  at start-up or from a worker, not on the loop thread. Returns as buyt_drivers_parse(), or a
 *  negative errno from open/read (-ENOENT...). */
int buyt_drivers_load(struct buyt_drivers **out, const char *path,
                      const struct buyt_cardid_key *key, buyt_drivers_bad_line_cb bad, void *arg);

/** Frees a list. NULL is a no-op. */
void buyt_drivers_free(struct buyt_drivers *d);

/** Number of usable entries (0 for NULL). */
size_t buyt_drivers_count(const struct buyt_drivers *d);

/** Number of lines skipped as bad (0 for NULL). */
unsigned buyt_drivers_bad_lines(const struct buyt_drivers *d);

/** Finds the driver of a decoded card: the first line, in file order, whose number equals
 *  card->number (when the card has one) or whose card id equals `card_id` (the card's id,
 *  buyt_cardid_compute). `card` and `card_id` are borrowed. Returns an entry owned by `d`
 *  (valid until buyt_drivers_free), or NULL if none or `d` is NULL. Linear scan. */
const struct buyt_drivers_entry *buyt_drivers_find(const struct buyt_drivers *d,
                                                   const struct buyt_rfid_card *card,
                                                   const uint8_t card_id[BUYT_CARDID_BYTES]);

/* Event kinds: values equal buyt.v1.DriverEventKind. */
enum buyt_drivers_event_kind {
    BUYT_DRIVERS_SIGN_IN = 1,
    BUYT_DRIVERS_SIGN_OUT = 2,
    BUYT_DRIVERS_UNKNOWN_CARD = 3,
};

/* What the agent turns into a DriverEvent. */
struct buyt_drivers_event {
    enum buyt_drivers_event_kind kind;
    char driver_id[BUYT_DRIVERS_ID_MAX + 1]; /* empty for UNKNOWN_CARD */
    uint8_t card_id[BUYT_CARDID_BYTES];      /* SIGN_OUT: the card that signed the driver in */
};

/* Who is signed in on this bus. Independent of the list, so a reload keeps it. */
struct buyt_drivers_state {
    bool signed_in;
    char driver_id[BUYT_DRIVERS_ID_MAX + 1];
    uint8_t card_id[BUYT_CARDID_BYTES]; /* card id of the sign-in */
};

/** Initialises `st`: nobody signed in. */
void buyt_drivers_state_init(struct buyt_drivers_state *st);

/** Applies one debounced tap of a driver card (card and card_id borrowed; `d` may be NULL: no
 *  list, every card unknown) and writes 0 to 2 events into `ev`, in order:
 *   - card not in the list: UNKNOWN_CARD; whoever is signed in stays signed in;
 *   - nobody signed in: SIGN_IN of the card's driver;
 *   - the signed-in driver's card (the same card, or another card of the same driver_id):
 *     SIGN_OUT of that driver;
 *   - another driver's card: SIGN_OUT of the signed-in driver, then SIGN_IN of the new one.
 *  Returns the number of events written. */
int buyt_drivers_tap(const struct buyt_drivers *d, struct buyt_drivers_state *st,
                     const struct buyt_rfid_card *card, const uint8_t card_id[BUYT_CARDID_BYTES],
                     struct buyt_drivers_event ev[2]);

/** Signs out whoever is signed in (end of service, shutdown): writes a SIGN_OUT into `ev` and
 *  returns 1, or returns 0 if nobody was signed in. */
int buyt_drivers_sign_out(struct buyt_drivers_state *st, struct buyt_drivers_event *ev);

#endif
