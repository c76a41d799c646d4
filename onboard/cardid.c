/* Card ids: HMAC-SHA-256 of the clear UID under the fleet key, truncated to 16 bytes. See
 * cardid.h. HMAC() (one-shot) is not deprecated in OpenSSL 3 and needs no context to free. */
#include "cardid.h"

#include "error.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int key_fail(struct buyt_cardid_key *key, int err, const char *text, const char **why)
{
    buyt_cardid_key_clear(key);
    if (why)
        *why = text;
    return err;
}

int buyt_cardid_key_parse(struct buyt_cardid_key *key, const char *hex, const char **why)
{
    memset(key, 0, sizeof *key);
    if (!hex || !*hex)
        return key_fail(key, BUYT_EINVAL, "fleet key is empty (need 32 to 128 hex digits)", why);
    const size_t n = strlen(hex);
    for (size_t i = 0; i < n; i++) {
        if (hex_digit(hex[i]) < 0)
            return key_fail(key, BUYT_EINVAL, "fleet key has a character that is not a hex digit",
                            why);
    }
    if (n % 2 != 0)
        return key_fail(key, BUYT_EINVAL, "fleet key has an odd number of hex digits", why);
    if (n < 2 * BUYT_CARDID_KEY_MIN)
        return key_fail(key, BUYT_ERANGE,
                        "fleet key is too short (need at least 32 hex digits, 16 bytes)", why);
    if (n > 2 * BUYT_CARDID_KEY_MAX)
        return key_fail(key, BUYT_ERANGE,
                        "fleet key is too long (at most 128 hex digits, 64 bytes)", why);
    uint8_t any = 0;
    for (size_t i = 0; i < n / 2; i++) {
        key->bytes[i] = (uint8_t)(hex_digit(hex[2 * i]) << 4 | hex_digit(hex[2 * i + 1]));
        any |= key->bytes[i];
    }
    if (!any)
        return key_fail(key, BUYT_EINVAL, "fleet key is all zeros (a placeholder?)", why);
    key->len = n / 2;
    if (why)
        *why = NULL;
    return 0;
}

void buyt_cardid_key_clear(struct buyt_cardid_key *key)
{
    OPENSSL_cleanse(key, sizeof *key);
}

int buyt_cardid_hmac(const struct buyt_cardid_key *key, const uint8_t *data, size_t len,
                     uint8_t out[BUYT_CARDID_BYTES])
{
    if (key->len < BUYT_CARDID_KEY_MIN || key->len > BUYT_CARDID_KEY_MAX || (!data && len))
        return BUYT_EINVAL;
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    static const uint8_t empty[1];
    if (!HMAC(EVP_sha256(), key->bytes, (int)key->len, data ? data : empty, len, md, &md_len) ||
        md_len < BUYT_CARDID_BYTES) {
        OPENSSL_cleanse(md, sizeof md);
        return BUYT_EIO;
    }
    memcpy(out, md, BUYT_CARDID_BYTES);
    OPENSSL_cleanse(md, sizeof md);
    return 0;
}

int buyt_cardid_compute(const struct buyt_cardid_key *key, const struct buyt_rfid_card *card,
                        uint8_t out[BUYT_CARDID_BYTES])
{
    if (card->uid_len == 0 || card->uid_len > BUYT_RFID_UID_MAX)
        return BUYT_EINVAL;
    return buyt_cardid_hmac(key, card->uid, card->uid_len, out);
}

char *buyt_cardid_format(const uint8_t id[BUYT_CARDID_BYTES], char out[BUYT_CARDID_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < BUYT_CARDID_BYTES; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 0xf];
    }
    out[BUYT_CARDID_HEX_LEN] = '\0';
    return out;
}
