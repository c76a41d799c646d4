/* Card ids: the keyed, one-way identifier that replaces a card's clear UID everywhere off the
 * bus. card id = HMAC-SHA-256(fleet key, clear UID bytes), first 16 bytes (RFC 2104, FIPS
 * 180-4; truncation as in RFC 4231 test case 5). The only module that talks to libcrypto's
 * MAC functions. Which UID bytes are hashed for each framing: docs/RFID.md. */
#ifndef BUYT_CARDID_H
#define BUYT_CARDID_H

#include "rfid.h"

#include <stddef.h>
#include <stdint.h>

#define BUYT_CARDID_BYTES 16u   /* = BUYT_CONTRACT_CARD_ID_BYTES */
#define BUYT_CARDID_KEY_MIN 16u /* bytes: 128-bit security */
#define BUYT_CARDID_KEY_MAX 64u /* bytes: one SHA-256 block; longer keys would be hashed */
#define BUYT_CARDID_HEX_LEN (2u * BUYT_CARDID_BYTES) /* characters, without the NUL */

/* The fleet key. Secret: wipe it with buyt_cardid_key_clear() when done. */
struct buyt_cardid_key {
    uint8_t bytes[BUYT_CARDID_KEY_MAX];
    size_t len; /* BUYT_CARDID_KEY_MIN..BUYT_CARDID_KEY_MAX once parsed */
};

/** Parses the fleet key from configuration: hex digits only (either case, no prefix, no
 *  spaces), an even number from 32 to 128 (16 to 64 bytes), not all zeros. Returns 0, or
 *  BUYT_EINVAL (malformed or all zeros) / BUYT_ERANGE (too short or too long); then `key` is
 *  wiped and, if `why` is not NULL, *why points to a static sentence for the log (it never
 *  contains key material). `hex` is borrowed; the caller should wipe its own copy. */
int buyt_cardid_key_parse(struct buyt_cardid_key *key, const char *hex, const char **why);

/** Wipes the key (OPENSSL_cleanse). */
void buyt_cardid_key_clear(struct buyt_cardid_key *key);

/** Computes HMAC-SHA-256(key, data[0..len)) truncated to BUYT_CARDID_BYTES into `out`. `data`
 *  is borrowed and not copied; intermediate buffers are wiped. Returns 0, BUYT_EINVAL if the
 *  key is not a parsed key, or BUYT_EIO if libcrypto fails. */
int buyt_cardid_hmac(const struct buyt_cardid_key *key, const uint8_t *data, size_t len,
                     uint8_t out[BUYT_CARDID_BYTES]);

/** Computes the card id of a decoded card: the HMAC of card->uid[0..uid_len), the clear UID
 *  in canonical order (docs/RFID.md). Call it from the decoder callback; the card is borrowed.
 *  Returns as buyt_cardid_hmac(), or BUYT_EINVAL for an empty or oversized UID. */
int buyt_cardid_compute(const struct buyt_cardid_key *key, const struct buyt_rfid_card *card,
                        uint8_t out[BUYT_CARDID_BYTES]);

/** Writes a card id as 32 lower-case hex digits and a NUL into `out` (for logs: a card id is
 *  pseudonymous, not secret). Returns out. */
char *buyt_cardid_format(const uint8_t id[BUYT_CARDID_BYTES], char out[BUYT_CARDID_HEX_LEN + 1]);

#endif
