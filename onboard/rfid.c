/* RFID reader framings (EM4100 serial modules and line-based UID readers) and tap debouncing.
 * See rfid.h for the contracts and docs/RFID.md for the byte layouts.
 *
 * EM4100 modules (RDM6300, ID-12/ID-20, EM-18) send 10 ASCII hex digits for the 5 data bytes
 * (a version/customer byte then ID3..ID0) and 2 for the checksum, the XOR of the 5 bytes. */
#include "rfid.h"

#include "error.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#define STX 0x02
#define ETX 0x03
#define EM4100_HEX 12u  /* 10 data + 2 checksum digits */
#define EM4100_BYTES 5u /* V ID3 ID2 ID1 ID0 */

/* Decoder states. */
enum { HUNT, FRAME };

static const char *const framing_names[BUYT_RFID_FRAMING__COUNT] = {
    [BUYT_RFID_RDM6300] = "rdm6300",   [BUYT_RFID_ID12] = "id12",         [BUYT_RFID_EM18] = "em18",
    [BUYT_RFID_LINE_HEX] = "line-hex", [BUYT_RFID_LINE_DEC] = "line-dec",
};

static const char *const byte_order_names[BUYT_RFID_BYTE_ORDER__COUNT] = {
    [BUYT_RFID_MSB_FIRST] = "msb-first",
    [BUYT_RFID_LSB_FIRST] = "lsb-first",
};

static const char *const reject_names[BUYT_RFID_REJECT__COUNT] = {
    [BUYT_RFID_REJECT_NONE] = "none",
    [BUYT_RFID_REJECT_BAD_CHECKSUM] = "bad_checksum",
    [BUYT_RFID_REJECT_BAD_LENGTH] = "bad_length",
    [BUYT_RFID_REJECT_BAD_CHAR] = "bad_char",
    [BUYT_RFID_REJECT_TRUNCATED] = "truncated",
    [BUYT_RFID_REJECT_OUT_OF_RANGE] = "out_of_range",
};

const char *buyt_rfid_framing_name(enum buyt_rfid_framing f)
{
    return (unsigned)f < BUYT_RFID_FRAMING__COUNT ? framing_names[f] : "invalid";
}

const char *buyt_rfid_byte_order_name(enum buyt_rfid_byte_order o)
{
    return (unsigned)o < BUYT_RFID_BYTE_ORDER__COUNT ? byte_order_names[o] : "invalid";
}

const char *buyt_rfid_reject_name(enum buyt_rfid_reject r)
{
    return (unsigned)r < BUYT_RFID_REJECT__COUNT ? reject_names[r] : "invalid_reason";
}

int buyt_rfid_framing_parse(const char *name, enum buyt_rfid_framing *out)
{
    for (unsigned i = 0; name && i < BUYT_RFID_FRAMING__COUNT; i++) {
        if (strcmp(name, framing_names[i]) == 0) {
            *out = (enum buyt_rfid_framing)i;
            return 0;
        }
    }
    return BUYT_EINVAL;
}

int buyt_rfid_byte_order_parse(const char *name, enum buyt_rfid_byte_order *out)
{
    for (unsigned i = 0; name && i < BUYT_RFID_BYTE_ORDER__COUNT; i++) {
        if (strcmp(name, byte_order_names[i]) == 0) {
            *out = (enum buyt_rfid_byte_order)i;
            return 0;
        }
    }
    return BUYT_EINVAL;
}

/* Value of an ASCII hex digit (either case), or -1. */
static inline int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int buyt_rfid_decoder_init(struct buyt_rfid_decoder *dec, const struct buyt_rfid_config *cfg)
{
    if ((unsigned)cfg->framing >= BUYT_RFID_FRAMING__COUNT ||
        (unsigned)cfg->byte_order >= BUYT_RFID_BYTE_ORDER__COUNT || cfg->dec_uid_bytes > 8)
        return BUYT_EINVAL;
    memset(dec, 0, sizeof *dec);
    dec->cfg = *cfg;
    if (dec->cfg.dec_uid_bytes == 0)
        dec->cfg.dec_uid_bytes = 4;
    dec->state = HUNT;
    return 0;
}

/* Forgets the frame in progress; the clear digits do not stay in memory. */
static void frame_reset(struct buyt_rfid_decoder *dec)
{
    OPENSSL_cleanse(dec->buf, sizeof dec->buf);
    dec->len = 0;
    dec->run = 0;
    dec->overflow = false;
}

void buyt_rfid_decoder_close(struct buyt_rfid_decoder *dec)
{
    frame_reset(dec);
    dec->state = HUNT;
}

static void reject(struct buyt_rfid_decoder *dec, enum buyt_rfid_reject why, buyt_rfid_cb cb,
                   void *arg)
{
    dec->rejects[why]++;
    if (cb)
        cb(arg, NULL, why);
}

/* Hands an accepted card to the callback, then wipes it. Returns 1 (cards accepted). */
static int deliver(struct buyt_rfid_decoder *dec, struct buyt_rfid_card *card, buyt_rfid_cb cb,
                   void *arg)
{
    dec->cards++;
    if (cb)
        cb(arg, card, BUYT_RFID_REJECT_NONE);
    OPENSSL_cleanse(card, sizeof *card);
    return 1;
}

/* Decodes 12 hex digits (5 data bytes + XOR checksum) into an EM4100 card. */
static enum buyt_rfid_reject em4100_decode(const uint8_t *hex, enum buyt_rfid_framing framing,
                                           struct buyt_rfid_card *card)
{
    uint8_t b[EM4100_BYTES + 1];
    for (unsigned i = 0; i < EM4100_HEX; i++) {
        if (hex_value(hex[i]) < 0)
            return BUYT_RFID_REJECT_BAD_CHAR;
    }
    for (unsigned i = 0; i < EM4100_BYTES + 1; i++)
        b[i] = (uint8_t)(hex_value(hex[2 * i]) << 4 | hex_value(hex[2 * i + 1]));
    uint8_t x = 0;
    for (unsigned i = 0; i < EM4100_BYTES; i++)
        x ^= b[i];
    if (x != b[EM4100_BYTES]) {
        OPENSSL_cleanse(b, sizeof b);
        return BUYT_RFID_REJECT_BAD_CHECKSUM;
    }
    memset(card, 0, sizeof *card);
    card->framing = framing;
    card->uid_len = EM4100_BYTES;
    memcpy(card->uid, b, EM4100_BYTES);
    card->has_number = true;
    card->number = (uint64_t)b[1] << 24 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 8 | b[4];
    OPENSSL_cleanse(b, sizeof b);
    return BUYT_RFID_REJECT_NONE;
}

/* rdm6300 / id12: the bytes between STX and ETX. */
static int stx_frame_end(struct buyt_rfid_decoder *dec, buyt_rfid_cb cb, void *arg)
{
    const bool id12 = dec->cfg.framing == BUYT_RFID_ID12;
    const unsigned want = id12 ? EM4100_HEX + 2 : EM4100_HEX;
    struct buyt_rfid_card card;
    enum buyt_rfid_reject why;
    int n = 0;

    if (dec->overflow || dec->len != want)
        why = BUYT_RFID_REJECT_BAD_LENGTH;
    else if (id12 && (dec->buf[EM4100_HEX] != '\r' || dec->buf[EM4100_HEX + 1] != '\n'))
        why = BUYT_RFID_REJECT_BAD_CHAR;
    else
        why = em4100_decode(dec->buf, dec->cfg.framing, &card);
    if (why == BUYT_RFID_REJECT_NONE)
        n = deliver(dec, &card, cb, arg);
    else
        reject(dec, why, cb, arg);
    frame_reset(dec);
    return n;
}

static int stx_feed_byte(struct buyt_rfid_decoder *dec, uint8_t c, buyt_rfid_cb cb, void *arg)
{
    if (dec->state == HUNT) {
        if (c == STX)
            dec->state = FRAME;
        else
            dec->noise_bytes++;
        return 0;
    }
    if (c == STX) { /* ETX lost: the previous frame is incomplete; this one starts afresh */
        reject(dec, BUYT_RFID_REJECT_TRUNCATED, cb, arg);
        frame_reset(dec);
        return 0;
    }
    if (c == ETX) {
        dec->state = HUNT;
        return stx_frame_end(dec, cb, arg);
    }
    if (dec->len < EM4100_HEX + 2)
        dec->buf[dec->len++] = c;
    else
        dec->overflow = true; /* reported at ETX, or as truncated by the next STX */
    return 0;
}

/* em18: a run of exactly 12 hex digits between delimiters (non-hex byte or idle gap). */
static int em18_run_end(struct buyt_rfid_decoder *dec, buyt_rfid_cb cb, void *arg)
{
    struct buyt_rfid_card card;
    enum buyt_rfid_reject why;
    int n = 0;

    if (dec->run == 0)
        return 0;
    if (dec->run != EM4100_HEX)
        why = BUYT_RFID_REJECT_BAD_LENGTH;
    else
        why = em4100_decode(dec->buf, BUYT_RFID_EM18, &card);
    if (why == BUYT_RFID_REJECT_NONE)
        n = deliver(dec, &card, cb, arg);
    else
        reject(dec, why, cb, arg);
    frame_reset(dec);
    return n;
}

static int em18_feed_byte(struct buyt_rfid_decoder *dec, uint8_t c, buyt_rfid_cb cb, void *arg)
{
    if (hex_value(c) >= 0) {
        if (dec->run < EM4100_HEX)
            dec->buf[dec->run] = c;
        if (dec->run < UINT8_MAX)
            dec->run++;
        return 0;
    }
    if (dec->run == 0 && c != '\r' && c != '\n')
        dec->noise_bytes++;
    return em18_run_end(dec, cb, arg);
}

static bool is_blank(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static bool is_separator(uint8_t c)
{
    return c == ' ' || c == ':' || c == '-';
}

/* line-hex: pairs of hex digits, optionally separated by one ' ', ':' or '-' between bytes. */
static enum buyt_rfid_reject line_hex_parse(const uint8_t *s, size_t n,
                                            enum buyt_rfid_byte_order order,
                                            struct buyt_rfid_card *card)
{
    uint8_t uid[BUYT_RFID_UID_MAX];
    unsigned digits = 0;
    bool after_sep = false;

    for (size_t i = 0; i < n; i++) {
        int v = hex_value(s[i]);
        if (v < 0) {
            if (!is_separator(s[i]) || digits % 2 != 0 || after_sep)
                return BUYT_RFID_REJECT_BAD_CHAR;
            after_sep = true;
            continue;
        }
        after_sep = false;
        if (digits >= 2 * BUYT_RFID_UID_MAX)
            return BUYT_RFID_REJECT_BAD_LENGTH;
        if (digits % 2 == 0)
            uid[digits / 2] = (uint8_t)(v << 4);
        else
            uid[digits / 2] |= (uint8_t)v;
        digits++;
    }
    if (after_sep)
        return BUYT_RFID_REJECT_BAD_CHAR;
    if (digits == 0 || digits % 2 != 0)
        return BUYT_RFID_REJECT_BAD_LENGTH;

    const unsigned nb = digits / 2;
    memset(card, 0, sizeof *card);
    card->framing = BUYT_RFID_LINE_HEX;
    card->uid_len = (uint8_t)nb;
    for (unsigned i = 0; i < nb; i++)
        card->uid[i] = order == BUYT_RFID_LSB_FIRST ? uid[nb - 1 - i] : uid[i];
    OPENSSL_cleanse(uid, sizeof uid);
    return BUYT_RFID_REJECT_NONE;
}

/* line-dec: a decimal number of at most 20 digits that fits in `nb` bytes. */
static enum buyt_rfid_reject line_dec_parse(const uint8_t *s, size_t n, unsigned nb,
                                            enum buyt_rfid_byte_order order,
                                            struct buyt_rfid_card *card)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return BUYT_RFID_REJECT_BAD_CHAR;
    }
    if (n > 20)
        return BUYT_RFID_REJECT_BAD_LENGTH;
    for (size_t i = 0; i < n; i++) {
        const uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return BUYT_RFID_REJECT_OUT_OF_RANGE;
        v = v * 10 + d;
    }
    if (nb < 8 && v >> (8 * nb) != 0)
        return BUYT_RFID_REJECT_OUT_OF_RANGE;

    memset(card, 0, sizeof *card);
    card->framing = BUYT_RFID_LINE_DEC;
    card->uid_len = (uint8_t)nb;
    for (unsigned i = 0; i < nb; i++) {
        const unsigned shift = order == BUYT_RFID_LSB_FIRST ? 8 * i : 8 * (nb - 1 - i);
        card->uid[i] = (uint8_t)(v >> shift);
    }
    card->has_number = true;
    card->number = v;
    return BUYT_RFID_REJECT_NONE;
}

static int line_end(struct buyt_rfid_decoder *dec, buyt_rfid_cb cb, void *arg)
{
    struct buyt_rfid_card card;
    enum buyt_rfid_reject why;
    size_t a = 0, b = dec->len;
    int n = 0;

    while (a < b && is_blank(dec->buf[a]))
        a++;
    while (b > a && is_blank(dec->buf[b - 1]))
        b--;
    if (dec->overflow)
        why = BUYT_RFID_REJECT_BAD_LENGTH;
    else if (a == b) { /* blank line, or the LF of a CRLF */
        frame_reset(dec);
        return 0;
    } else if (dec->cfg.framing == BUYT_RFID_LINE_HEX)
        why = line_hex_parse(dec->buf + a, b - a, dec->cfg.byte_order, &card);
    else
        why =
            line_dec_parse(dec->buf + a, b - a, dec->cfg.dec_uid_bytes, dec->cfg.byte_order, &card);
    if (why == BUYT_RFID_REJECT_NONE)
        n = deliver(dec, &card, cb, arg);
    else
        reject(dec, why, cb, arg);
    frame_reset(dec);
    return n;
}

static int line_feed_byte(struct buyt_rfid_decoder *dec, uint8_t c, buyt_rfid_cb cb, void *arg)
{
    if (c == '\r' || c == '\n')
        return line_end(dec, cb, arg);
    if (dec->len < BUYT_RFID_LINE_MAX)
        dec->buf[dec->len++] = c;
    else
        dec->overflow = true;
    return 0;
}

int buyt_rfid_feed(struct buyt_rfid_decoder *dec, const uint8_t *buf, size_t len, buyt_rfid_cb cb,
                   void *arg)
{
    int n = 0;
    for (size_t i = 0; i < len; i++) {
        switch (dec->cfg.framing) {
        case BUYT_RFID_RDM6300:
        case BUYT_RFID_ID12: n += stx_feed_byte(dec, buf[i], cb, arg); break;
        case BUYT_RFID_EM18: n += em18_feed_byte(dec, buf[i], cb, arg); break;
        case BUYT_RFID_LINE_HEX:
        case BUYT_RFID_LINE_DEC: n += line_feed_byte(dec, buf[i], cb, arg); break;
        default: return 0; /* not initialised: init refuses unknown framings */
        }
    }
    return n;
}

int buyt_rfid_gap(struct buyt_rfid_decoder *dec, buyt_rfid_cb cb, void *arg)
{
    switch (dec->cfg.framing) {
    case BUYT_RFID_RDM6300:
    case BUYT_RFID_ID12:
        if (dec->state == FRAME) {
            reject(dec, BUYT_RFID_REJECT_TRUNCATED, cb, arg);
            frame_reset(dec);
            dec->state = HUNT;
        }
        return 0;
    case BUYT_RFID_EM18: return em18_run_end(dec, cb, arg);
    default: return 0;
    }
}

int buyt_rfid_number_format(const struct buyt_rfid_card *card, char *buf, size_t len)
{
    if (!card->has_number)
        return BUYT_EINVAL;
    int w;
    if (card->framing == BUYT_RFID_LINE_DEC)
        w = snprintf(buf, len, "%llu", (unsigned long long)card->number);
    else
        w = snprintf(buf, len, "%010llu", (unsigned long long)card->number);
    return w < 0 || (size_t)w >= len ? BUYT_ERANGE : 0;
}

void buyt_rfid_debounce_init(struct buyt_rfid_debounce *db, uint32_t window_ms)
{
    memset(db, 0, sizeof *db);
    db->window_ms = window_ms ? window_ms : BUYT_RFID_DEBOUNCE_DEFAULT_MS;
}

void buyt_rfid_debounce_reset(struct buyt_rfid_debounce *db)
{
    OPENSSL_cleanse(db->last_id, sizeof db->last_id);
    db->last_len = 0;
    db->last_ms = 0;
}

bool buyt_rfid_debounce_check(struct buyt_rfid_debounce *db, const uint8_t *id, size_t len,
                              int64_t now_ms)
{
    if (len == 0 || len > BUYT_RFID_DEBOUNCE_ID_MAX) {
        db->taps++;
        return true;
    }
    const bool same = db->last_len == len && memcmp(db->last_id, id, len) == 0;
    const int64_t elapsed = now_ms > db->last_ms ? now_ms - db->last_ms : 0;
    if (same && elapsed < (int64_t)db->window_ms) {
        db->last_ms = now_ms; /* the window slides: measured from the latest sighting */
        db->repeats++;
        return false;
    }
    buyt_rfid_debounce_reset(db);
    memcpy(db->last_id, id, len);
    db->last_len = (uint8_t)len;
    db->last_ms = now_ms;
    db->taps++;
    return true;
}
