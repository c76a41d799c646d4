/* RFID card readers: byte-stream framing decoders (one per reader) and tap debouncing.
 *
 * Pure logic: the agent reads the serial port and feeds the bytes here; no I/O, no allocation.
 * Framings, byte layouts and configuration names are described in docs/RFID.md. A decoded card
 * carries its clear UID only for the duration of the callback (see struct buyt_rfid_card). */
#ifndef BUYT_RFID_H
#define BUYT_RFID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest UID kept: ISO/IEC 14443-3 triple-size UID (10 bytes). */
#define BUYT_RFID_UID_MAX 10u
/* Longest line accepted by the line-hex/line-dec framings, terminator excluded. */
#define BUYT_RFID_LINE_MAX 40u
/* Longest id the debouncer compares (a card id is 16 bytes, a UID at most 10). */
#define BUYT_RFID_DEBOUNCE_ID_MAX 32u
/* Default debounce window: a held card repeats every 60-100 ms (RDM6300). */
#define BUYT_RFID_DEBOUNCE_DEFAULT_MS 1500u

/* Reader framings. Configuration names (buyt_rfid_framing_name) are stable. */
enum buyt_rfid_framing {
    BUYT_RFID_RDM6300,  /* "rdm6300": STX, 10 hex (V ID3..ID0), 2 hex XOR, ETX (EM4100) */
    BUYT_RFID_ID12,     /* "id12": STX, 10 hex, 2 hex XOR, CR, LF, ETX (ID-12/ID-20) */
    BUYT_RFID_EM18,     /* "em18": 10 hex, 2 hex XOR, no delimiters (EM-18) */
    BUYT_RFID_LINE_HEX, /* "line-hex": one UID per line in hex (13.56 MHz, Wiegand) */
    BUYT_RFID_LINE_DEC, /* "line-dec": one UID per line in decimal */
    BUYT_RFID_FRAMING__COUNT
};

/* How a line reader orders the UID bytes in the number it prints. Names are stable. */
enum buyt_rfid_byte_order {
    BUYT_RFID_MSB_FIRST, /* "msb-first": UID[0] is the printed number's most significant byte */
    BUYT_RFID_LSB_FIRST, /* "lsb-first": UID[0] is its least significant byte */
    BUYT_RFID_BYTE_ORDER__COUNT
};

/* Why a frame or line was refused. Names (buyt_rfid_reject_name) are stable: metrics labels.
 * Append only. */
enum buyt_rfid_reject {
    BUYT_RFID_REJECT_NONE = 0,
    BUYT_RFID_REJECT_BAD_CHECKSUM, /* XOR of the data bytes differs from the checksum */
    BUYT_RFID_REJECT_BAD_LENGTH,   /* wrong number of characters in a frame or line */
    BUYT_RFID_REJECT_BAD_CHAR,     /* non-hex (non-digit) character, or a bad CR/LF trailer */
    BUYT_RFID_REJECT_TRUNCATED,    /* frame cut short by a new STX or by a line-idle gap */
    BUYT_RFID_REJECT_OUT_OF_RANGE, /* line-dec value does not fit in dec_uid_bytes */
    BUYT_RFID_REJECT__COUNT
};

/* One reader's configuration. Zero-initialised is valid for every framing (msb-first, 4-byte
 * decimal UIDs). */
struct buyt_rfid_config {
    enum buyt_rfid_framing framing;
    enum buyt_rfid_byte_order byte_order; /* line-hex and line-dec only */
    uint8_t dec_uid_bytes;                /* line-dec: UID length, 1..8; 0 means 4 */
};

/* A decoded card. Passed to the callback by pointer: borrowed, valid only during the call, and
 * wiped by the decoder when the callback returns. Copy nothing out but the card id. */
struct buyt_rfid_card {
    enum buyt_rfid_framing framing;
    uint8_t uid_len;                /* 1..BUYT_RFID_UID_MAX */
    uint8_t uid[BUYT_RFID_UID_MAX]; /* clear UID, canonical order: what the card id hashes */
    bool has_number;                /* EM4100 framings and line-dec */
    uint64_t number;                /* EM4100: ID3..ID0 big-endian, the number printed on
                                       the card; line-dec: the value the reader printed */
};

/** Called once per accepted frame (card non-NULL, reason BUYT_RFID_REJECT_NONE) and once per
 *  refused frame (card NULL, reason set). `card` is borrowed (see struct buyt_rfid_card). The
 *  callback must not call buyt_rfid_feed() or buyt_rfid_gap() on the same decoder. */
typedef void (*buyt_rfid_cb)(void *arg, const struct buyt_rfid_card *card,
                             enum buyt_rfid_reject reason);

/* A framing decoder for one reader. Embed it; fields are read-only for callers (counters). */
struct buyt_rfid_decoder {
    struct buyt_rfid_config cfg;
    uint8_t state;                   /* private */
    uint8_t len;                     /* private: bytes in buf */
    uint8_t run;                     /* private: em18 hex run length, saturating */
    bool overflow;                   /* private: line longer than BUYT_RFID_LINE_MAX */
    uint8_t buf[BUYT_RFID_LINE_MAX]; /* private: clear frame, wiped after each frame */
    uint64_t cards;                  /* frames accepted */
    uint64_t noise_bytes;            /* bytes outside any frame (not counted as rejects) */
    uint64_t rejects[BUYT_RFID_REJECT__COUNT]; /* frames refused, by reason */
};

/** Initialises `dec` for `cfg` (copied). Returns 0, or BUYT_EINVAL for an unknown framing or
 *  byte order or a dec_uid_bytes above 8. */
int buyt_rfid_decoder_init(struct buyt_rfid_decoder *dec, const struct buyt_rfid_config *cfg);

/** Wipes any partial frame. `dec` may be initialised again afterwards. */
void buyt_rfid_decoder_close(struct buyt_rfid_decoder *dec);

/** Feeds `len` bytes read from the reader (borrowed) in any split: one byte at a time works.
 *  Calls `cb(arg, ...)` for each frame completed by these bytes. Returns the number of cards
 *  accepted (>= 0). Never allocates. */
int buyt_rfid_feed(struct buyt_rfid_decoder *dec, const uint8_t *buf, size_t len, buyt_rfid_cb cb,
                   void *arg);

/** Tells the decoder the line has been idle (no byte for longer than a few byte times; 20 ms
 *  suits 9600 baud). em18: ends the current run of hex characters, which may complete a card
 *  (em18 frames have no end marker: the agent must call this). rdm6300/id12: abandons a partial
 *  frame (rejected as truncated). Line framings: ignored (lines end at CR or LF). Returns the
 *  number of cards accepted (0 or 1). */
int buyt_rfid_gap(struct buyt_rfid_decoder *dec, buyt_rfid_cb cb, void *arg);

/** Writes the card's number in decimal into `buf` (EM4100: 10 digits zero-padded, as printed on
 *  the card). Returns 0, BUYT_EINVAL if the card has no number, BUYT_ERANGE if `len` is too
 *  small (21 bytes always suffice). */
int buyt_rfid_number_format(const struct buyt_rfid_card *card, char *buf, size_t len);

/** Stable configuration name of a framing ("rdm6300", "line-hex", ...), "invalid" otherwise. */
const char *buyt_rfid_framing_name(enum buyt_rfid_framing f);

/** Parses a framing name (exact, lower case). Returns 0 or BUYT_EINVAL. */
int buyt_rfid_framing_parse(const char *name, enum buyt_rfid_framing *out);

/** Stable name of a byte order ("msb-first", "lsb-first"), "invalid" otherwise. */
const char *buyt_rfid_byte_order_name(enum buyt_rfid_byte_order o);

/** Parses a byte order name. Returns 0 or BUYT_EINVAL. */
int buyt_rfid_byte_order_parse(const char *name, enum buyt_rfid_byte_order *out);

/** Stable snake_case name of a reject reason ("bad_checksum", ...), "invalid_reason" otherwise. */
const char *buyt_rfid_reject_name(enum buyt_rfid_reject r);

/* Debouncing: a card held in the field is read again every 60-100 ms; one presentation must
 * give one tap. A sighting is a new tap if its id differs from the last one seen, or if at
 * least window_ms passed since the last sighting of that id (the window slides with every
 * sighting, so a card held for a minute is one tap). One debouncer per reader. */
struct buyt_rfid_debounce {
    uint32_t window_ms;
    uint8_t last_len;                           /* 0: nothing remembered */
    uint8_t last_id[BUYT_RFID_DEBOUNCE_ID_MAX]; /* private */
    int64_t last_ms;                            /* private */
    uint64_t taps;                              /* sightings reported as new taps */
    uint64_t repeats;                           /* sightings suppressed */
};

/** Initialises `db` with a window in ms (0 means BUYT_RFID_DEBOUNCE_DEFAULT_MS). */
void buyt_rfid_debounce_init(struct buyt_rfid_debounce *db, uint32_t window_ms);

/** Records a sighting of `id` (`len` bytes, borrowed, 1..BUYT_RFID_DEBOUNCE_ID_MAX) at monotonic
 *  time `now_ms` (uv_now()). Returns true if it is a new tap, false if it repeats the current
 *  presentation. Pass the card id, not the clear UID, so that no UID outlives the callback; an
 *  id of a bad length is always a new tap and is not remembered. A clock going backwards
 *  counts as no time elapsed. */
bool buyt_rfid_debounce_check(struct buyt_rfid_debounce *db, const uint8_t *id, size_t len,
                              int64_t now_ms);

/** Forgets (and wipes) the remembered id: the next sighting is a new tap. */
void buyt_rfid_debounce_reset(struct buyt_rfid_debounce *db);

#endif
