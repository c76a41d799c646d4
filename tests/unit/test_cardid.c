/* Card ids: HMAC-SHA-256 under the fleet key, truncated to 16 bytes; key parsing. */
#include "cardid.h"
#include "error.h"
#include "rfid.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

/* A fixed test key: bytes 00 01 .. 1f. */
static const char *const key_hex = "000102030405060708090a0b0c0d0e0f"
                                   "101112131415161718191a1b1c1d1e1f";

static void key_parse(struct buyt_cardid_key *k, const char *hex)
{
    const char *why = "unset";
    cr_assert_eq(buyt_cardid_key_parse(k, hex, &why), 0, "%s", why ? why : "");
    cr_assert_null(why);
}

static void unhex(const char *hex, uint8_t *out)
{
    for (size_t i = 0; i < strlen(hex) / 2; i++) {
        unsigned v;
        cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

static void assert_id(const uint8_t id[BUYT_CARDID_BYTES], const char *hex)
{
    char s[BUYT_CARDID_HEX_LEN + 1];
    cr_assert_str_eq(buyt_cardid_format(id, s), hex);
}

/* A card as a decoder would deliver it. */
static struct buyt_rfid_card card_of(enum buyt_rfid_framing f, const char *uid_hex)
{
    struct buyt_rfid_card c = {.framing = f, .uid_len = (uint8_t)(strlen(uid_hex) / 2)};
    unhex(uid_hex, c.uid);
    return c;
}

/* RFC 4231 section 4.6, test case 5: HMAC-SHA-256 truncated to 128 bits, exactly our output. */
Test(cardid, hmac_matches_rfc4231_vector)
{
    struct buyt_cardid_key k;
    uint8_t id[BUYT_CARDID_BYTES];
    key_parse(&k, "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c");
    const char *data = "Test With Truncation";
    cr_assert_eq(buyt_cardid_hmac(&k, (const uint8_t *)data, strlen(data), id), 0);
    assert_id(id, "a3b6167473100ee06e0c796c2955552b");
}

/* RFC 4231 test cases 1 and 4 (full outputs published; we keep the first 16 bytes). */
Test(cardid, hmac_matches_rfc4231_cases_1_and_4)
{
    struct buyt_cardid_key k;
    uint8_t id[BUYT_CARDID_BYTES];
    key_parse(&k, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
    cr_assert_eq(buyt_cardid_hmac(&k, (const uint8_t *)"Hi There", 8, id), 0);
    assert_id(id, "b0344c61d8db38535ca8afceaf0bf12b");

    key_parse(&k, "0102030405060708090a0b0c0d0e0f10111213141516171819");
    uint8_t data[50];
    memset(data, 0xcd, sizeof data);
    cr_assert_eq(buyt_cardid_hmac(&k, data, sizeof data, id), 0);
    assert_id(id, "82558a389a443c0ea4cc819899f2083a");
}

/* Known answer for a real card, for anyone re-implementing the derivation (server tools). */
Test(cardid, seeed_card_known_answer)
{
    struct buyt_cardid_key k;
    uint8_t id[BUYT_CARDID_BYTES];
    key_parse(&k, key_hex);
    const struct buyt_rfid_card c = card_of(BUYT_RFID_RDM6300, "62E3086CED");
    cr_assert_eq(buyt_cardid_compute(&k, &c, id), 0);
    assert_id(id, "6bcee4aff4550a46660dc208929698f4");
}

Test(cardid, same_uid_gives_same_id_across_framings)
{
    struct buyt_cardid_key k;
    key_parse(&k, key_hex);
    /* The same EM4100 card read by an RDM6300, an EM-18 and a reader printing hex lines. */
    const struct buyt_rfid_card a = card_of(BUYT_RFID_RDM6300, "62E3086CED");
    struct buyt_rfid_card b = card_of(BUYT_RFID_EM18, "62E3086CED");
    b.has_number = true;
    b.number = 3808980205u;
    const struct buyt_rfid_card c = card_of(BUYT_RFID_LINE_HEX, "62E3086CED");
    uint8_t ia[16], ib[16], ic[16];
    cr_assert_eq(buyt_cardid_compute(&k, &a, ia), 0);
    cr_assert_eq(buyt_cardid_compute(&k, &b, ib), 0);
    cr_assert_eq(buyt_cardid_compute(&k, &c, ic), 0);
    cr_assert_arr_eq(ia, ib, 16);
    cr_assert_arr_eq(ia, ic, 16);
    /* And again: deterministic. */
    cr_assert_eq(buyt_cardid_compute(&k, &a, ib), 0);
    cr_assert_arr_eq(ia, ib, 16);
}

Test(cardid, hashes_only_the_uid_bytes)
{
    struct buyt_cardid_key k;
    key_parse(&k, key_hex);
    struct buyt_rfid_card a = card_of(BUYT_RFID_LINE_HEX, "04A23B1C");
    struct buyt_rfid_card b = a;
    memset(b.uid + 4, 0xee, sizeof b.uid - 4); /* bytes past uid_len */
    uint8_t ia[16], ib[16];
    cr_assert_eq(buyt_cardid_compute(&k, &a, ia), 0);
    cr_assert_eq(buyt_cardid_compute(&k, &b, ib), 0);
    cr_assert_arr_eq(ia, ib, 16);
    assert_id(ia, "c30f1b09abb5939cccd841abb7b02c04");
}

Test(cardid, different_keys_give_different_ids)
{
    struct buyt_cardid_key k1, k2;
    key_parse(&k1, key_hex);
    key_parse(&k2, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1e");
    const struct buyt_rfid_card c = card_of(BUYT_RFID_RDM6300, "62E3086CED");
    uint8_t i1[16], i2[16];
    cr_assert_eq(buyt_cardid_compute(&k1, &c, i1), 0);
    cr_assert_eq(buyt_cardid_compute(&k2, &c, i2), 0);
    cr_assert_arr_neq(i1, i2, 16);
}

Test(cardid, different_uids_give_different_ids)
{
    struct buyt_cardid_key k;
    key_parse(&k, key_hex);
    const struct buyt_rfid_card a = card_of(BUYT_RFID_RDM6300, "62E3086CED");
    const struct buyt_rfid_card b = card_of(BUYT_RFID_RDM6300, "63E3086CED");
    const struct buyt_rfid_card c = card_of(BUYT_RFID_RDM6300, "E3086CED"); /* no version */
    uint8_t ia[16], ib[16], ic[16];
    cr_assert_eq(buyt_cardid_compute(&k, &a, ia), 0);
    cr_assert_eq(buyt_cardid_compute(&k, &b, ib), 0);
    cr_assert_eq(buyt_cardid_compute(&k, &c, ic), 0);
    cr_assert_arr_neq(ia, ib, 16);
    cr_assert_arr_neq(ia, ic, 16);
}

Test(cardid, rejects_short_key)
{
    struct buyt_cardid_key k;
    const char *why = NULL;
    /* 15 bytes. */
    cr_assert_eq(buyt_cardid_key_parse(&k, "000102030405060708090a0b0c0d0e", &why), BUYT_ERANGE);
    cr_assert_not_null(why);
    cr_assert_not_null(strstr(why, "too short"), "%s", why);
    cr_assert_eq(k.len, 0);
    key_parse(&k, "000102030405060708090a0b0c0d0e0f"); /* 16 bytes: the minimum */
    cr_assert_eq(k.len, 16);
}

Test(cardid, rejects_long_key)
{
    struct buyt_cardid_key k;
    char hex[2 * BUYT_CARDID_KEY_MAX + 3];
    memset(hex, 'A', sizeof hex - 1);
    hex[sizeof hex - 1] = '\0';
    const char *why = NULL;
    cr_assert_eq(buyt_cardid_key_parse(&k, hex, &why), BUYT_ERANGE);
    cr_assert_not_null(strstr(why, "too long"), "%s", why);
    hex[2 * BUYT_CARDID_KEY_MAX] = '\0'; /* 64 bytes, upper case: accepted */
    key_parse(&k, hex);
    cr_assert_eq(k.len, 64);
    cr_assert_eq(k.bytes[63], 0xAA);
}

Test(cardid, rejects_malformed_key)
{
    struct buyt_cardid_key k;
    const char *why;
    const char *bad[] = {
        "",
        "000102030405060708090a0b0c0d0e0f1",   /* odd number of digits */
        "000102030405060708090a0b0c0d0e0g",    /* not hex */
        "00010203 0405060708090a0b0c0d0e0f10", /* space */
        "0x000102030405060708090a0b0c0d0e0f",  /* prefix */
        "00000000000000000000000000000000",    /* all zeros */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why = NULL;
        cr_assert_eq(buyt_cardid_key_parse(&k, bad[i], &why), BUYT_EINVAL, "%s", bad[i]);
        cr_assert_not_null(why, "%s", bad[i]);
    }
    cr_assert_eq(buyt_cardid_key_parse(&k, NULL, NULL), BUYT_EINVAL);
}

Test(cardid, failed_parse_wipes_key)
{
    static const struct buyt_cardid_key zero;
    struct buyt_cardid_key k;
    key_parse(&k, key_hex);
    cr_assert_eq(buyt_cardid_key_parse(&k, "00000000000000000000000000000000", NULL), BUYT_EINVAL);
    cr_assert_arr_eq(&k, &zero, sizeof k);
}

Test(cardid, key_clear_wipes_key_and_makes_it_unusable)
{
    static const struct buyt_cardid_key zero;
    struct buyt_cardid_key k;
    key_parse(&k, key_hex);
    buyt_cardid_key_clear(&k);
    cr_assert_arr_eq(&k, &zero, sizeof k);
    uint8_t id[16];
    cr_assert_eq(buyt_cardid_hmac(&k, (const uint8_t *)"x", 1, id), BUYT_EINVAL);
}

Test(cardid, refuses_card_without_uid)
{
    struct buyt_cardid_key k;
    key_parse(&k, key_hex);
    struct buyt_rfid_card c = {0};
    uint8_t id[16];
    cr_assert_eq(buyt_cardid_compute(&k, &c, id), BUYT_EINVAL);
    c.uid_len = BUYT_RFID_UID_MAX + 1;
    cr_assert_eq(buyt_cardid_compute(&k, &c, id), BUYT_EINVAL);
}

Test(cardid, formats_card_id_as_lower_case_hex)
{
    const uint8_t id[16] = {0x00, 0x01, 0xab, 0xCD, 0xef, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff};
    char s[BUYT_CARDID_HEX_LEN + 1];
    cr_assert_str_eq(buyt_cardid_format(id, s), "0001abcdef10000000000000000000ff");
}
