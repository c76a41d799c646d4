/* Driver list parsing, lookup by decoded card, and the sign-in/sign-out state machine. */
#include "buyt/v1/buyt.pb-c.h"
#include "cardid.h"
#include "drivers.h"
#include "error.h"
#include "rfid.h"
#include "testkit.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE BUYT_SOURCE_DIR "/tests/fixtures/drivers.txt"

static struct buyt_cardid_key key;

static void setup(void)
{
    cr_assert_eq(buyt_cardid_key_parse(&key,
                                       "000102030405060708090a0b0c0d0e0f"
                                       "101112131415161718191a1b1c1d1e1f",
                                       NULL),
                 0);
}

static void teardown(void)
{
    buyt_cardid_key_clear(&key);
}

TestSuite(drivers, .init = setup, .fini = teardown);

/* Bad lines reported by the parser. */
struct bad_rec {
    int n;
    unsigned line[16];
    char reason[16][128];
};

static void on_bad(void *arg, unsigned line, const char *reason)
{
    struct bad_rec *b = arg;
    cr_assert_lt(b->n, 16);
    b->line[b->n] = line;
    snprintf(b->reason[b->n], sizeof b->reason[b->n], "%s", reason);
    b->n++;
}

static struct buyt_drivers *parse(const char *text, struct bad_rec *bad)
{
    struct buyt_drivers *d = NULL;
    cr_assert_eq(buyt_drivers_parse(&d, text, strlen(text), &key, bad ? on_bad : NULL, bad), 0);
    cr_assert_not_null(d);
    return d;
}

/* A decoded card and its id, as the agent has them in the decoder callback. */
struct tap {
    struct buyt_rfid_card card;
    uint8_t id[BUYT_CARDID_BYTES];
};

/* An EM4100 card: 5 UID bytes, printed number ID3..ID0. */
static struct tap em4100(const char *uid_hex)
{
    struct tap t = {.card = {.framing = BUYT_RFID_RDM6300, .uid_len = 5, .has_number = true}};
    for (int i = 0; i < 5; i++) {
        unsigned v;
        cr_assert_eq(sscanf(uid_hex + 2 * i, "%2x", &v), 1);
        t.card.uid[i] = (uint8_t)v;
        if (i > 0)
            t.card.number = t.card.number << 8 | v;
    }
    cr_assert_eq(buyt_cardid_compute(&key, &t.card, t.id), 0);
    return t;
}

/* A 13.56 MHz card from a line-hex reader: no number. */
static struct tap mifare(const uint8_t *uid, uint8_t len)
{
    struct tap t = {.card = {.framing = BUYT_RFID_LINE_HEX, .uid_len = len}};
    memcpy(t.card.uid, uid, len);
    cr_assert_eq(buyt_cardid_compute(&key, &t.card, t.id), 0);
    return t;
}

static const char *driver_of(const struct buyt_drivers *d, const struct tap *t)
{
    const struct buyt_drivers_entry *e = buyt_drivers_find(d, &t->card, t->id);
    return e ? e->driver_id : NULL;
}

static const char *two_drivers = "3808980205 D001 An\n"
                                 "uid:67003B51C6 D002 Binh\n";

Test(drivers, loads_fixture_and_reports_bad_lines_with_numbers)
{
    struct bad_rec bad = {0};
    struct buyt_drivers *d = NULL;
    cr_assert_eq(buyt_drivers_load(&d, FIXTURE, &key, on_bad, &bad), 0);
    cr_assert_eq(buyt_drivers_count(d), 5);
    cr_assert_eq(buyt_drivers_bad_lines(d), 3);
    cr_assert_eq(bad.n, 3);
    cr_assert_eq(bad.line[0], 9);
    cr_assert_str_eq(bad.reason[0], "card must be a decimal card number, uid:HEX or cid:HEX");
    cr_assert_eq(bad.line[1], 10);
    cr_assert_str_eq(bad.reason[1], "missing driver id after the card");
    cr_assert_eq(bad.line[2], 11);
    cr_assert_str_eq(bad.reason[2], "card is already listed on line 3");

    const struct tap seeed = em4100("62E3086CED");
    const struct buyt_drivers_entry *e = buyt_drivers_find(d, &seeed.card, seeed.id);
    cr_assert_not_null(e);
    cr_assert_str_eq(e->driver_id, "D001");
    cr_assert_str_eq(e->name, "Nguyễn Văn An");
    cr_assert_eq(e->line, 3);
    const uint8_t uid[4] = {0x04, 0xA2, 0x3B, 0x1C};
    const struct tap m = mifare(uid, 4);
    e = buyt_drivers_find(d, &m.card, m.id);
    cr_assert_not_null(e);
    cr_assert_str_eq(e->driver_id, "D004");
    cr_assert_str_eq(e->name, "Lê Văn Cường (bus#12 spare)");
    buyt_drivers_free(d);
}

Test(drivers, finds_driver_by_printed_number)
{
    struct buyt_drivers *d = parse("0003887558 D007\n3808980205 D001\n", NULL);
    const struct tap a = em4100("62E3086CED");
    cr_assert_str_eq(driver_of(d, &a), "D001");
    /* The printed number ignores the version byte: another version, same number, same driver. */
    const struct tap b = em4100("01E3086CED");
    cr_assert_str_eq(driver_of(d, &b), "D001");
    const struct tap c = em4100("67003B51C6");
    cr_assert_str_eq(driver_of(d, &c), "D007", "leading zeros of the printed number");
    buyt_drivers_free(d);
}

Test(drivers, finds_driver_by_uid_entry_through_card_id)
{
    struct buyt_drivers *d = parse("uid:67003b51c6 D002\nuid:04-A2-3B-1C D004\n", NULL);
    const struct tap a = em4100("67003B51C6");
    cr_assert_str_eq(driver_of(d, &a), "D002");
    const uint8_t uid[4] = {0x04, 0xA2, 0x3B, 0x1C};
    const struct tap m = mifare(uid, 4);
    cr_assert_str_eq(driver_of(d, &m), "D004");
    /* The same bytes but the version byte differs: a different card. */
    const struct tap b = em4100("68003B51C6");
    cr_assert_null(driver_of(d, &b));
    buyt_drivers_free(d);
}

Test(drivers, finds_driver_by_cid_entry)
{
    const struct tap a = em4100("62E3086CED");
    char line[128], hex[BUYT_CARDID_HEX_LEN + 1];
    snprintf(line, sizeof line, "cid:%s D003 Carol\n", buyt_cardid_format(a.id, hex));
    struct buyt_drivers *d = parse(line, NULL);
    cr_assert_str_eq(driver_of(d, &a), "D003");
    const struct tap b = em4100("67003B51C6");
    cr_assert_null(driver_of(d, &b));
    buyt_drivers_free(d);
}

Test(drivers, number_entry_does_not_match_card_without_number)
{
    /* 77740828 = 0x04A23B1C, but a line-hex card has no number: matched only by uid/cid. */
    struct buyt_drivers *d = parse("77740828 D001\n", NULL);
    const uint8_t uid[4] = {0x04, 0xA2, 0x3B, 0x1C};
    const struct tap m = mifare(uid, 4);
    cr_assert_null(driver_of(d, &m));
    struct tap dec = m;
    dec.card.framing = BUYT_RFID_LINE_DEC;
    dec.card.has_number = true;
    dec.card.number = 77740828u;
    cr_assert_str_eq(driver_of(d, &dec), "D001");
    buyt_drivers_free(d);
}

Test(drivers, first_matching_line_wins)
{
    struct buyt_drivers *d = parse("uid:04A23B1C D004\n77740828 D001\n", NULL);
    struct tap dec = mifare((const uint8_t[]){0x04, 0xA2, 0x3B, 0x1C}, 4);
    dec.card.has_number = true;
    dec.card.number = 77740828u;
    cr_assert_str_eq(driver_of(d, &dec), "D004");
    buyt_drivers_free(d);
}

Test(drivers, ignores_comments_blank_lines_crlf_and_bom)
{
    struct bad_rec bad = {0};
    struct buyt_drivers *d = parse("\xEF\xBB\xBF# list\r\n\r\n   \t\r\n"
                                   "3808980205\tD001\t An  Nguyen \t # comment\r\n"
                                   "#3887558 D002\n"
                                   "3887558 D#2 Bus#5\tspare", /* no final newline */
                                   &bad);
    cr_assert_eq(bad.n, 0, "%s", bad.reason[0]);
    cr_assert_eq(buyt_drivers_count(d), 2);
    const struct tap a = em4100("62E3086CED");
    const struct buyt_drivers_entry *e = buyt_drivers_find(d, &a.card, a.id);
    cr_assert_str_eq(e->name, "An  Nguyen");
    cr_assert_eq(e->line, 4);
    const struct tap b = em4100("67003B51C6");
    e = buyt_drivers_find(d, &b.card, b.id);
    cr_assert_str_eq(e->driver_id, "D#2");
    cr_assert_str_eq(e->name, "Bus#5\tspare");
    cr_assert_eq(e->line, 6);
    buyt_drivers_free(d);
}

Test(drivers, reports_each_bad_line_and_keeps_the_good_ones)
{
    char text[2048];
    char long_id[40], long_name[120], long_line[600];
    memset(long_id, 'X', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    memset(long_line, ' ', sizeof long_line - 1);
    long_line[sizeof long_line - 1] = '\0';
    memcpy(long_line, "1 D1", 4);
    snprintf(text, sizeof text,
             "uid:0 D1\n"                      /* 1: odd hex */
             "uid:0102030405060708090A0B D1\n" /* 2: 11 bytes */
             "uid: D1\n"                       /* 3: empty */
             "cid:0011 D1\n"                   /* 4: short cid */
             "18446744073709551616 D1\n"       /* 5: > UINT64_MAX */
             "12 %s\n"                         /* 6: id too long */
             "13 D1 %s\n"                      /* 7: name too long */
             "14 D1 tab\x01here\n"             /* 8: control char */
             "%s\n"                            /* 9: line too long */
             "15 D\xc3\xa9\n"                  /* 10: non-ASCII id */
             "16 D16 ok\n",                    /* 11: good */
             long_id, long_name, long_line);
    struct bad_rec bad = {0};
    struct buyt_drivers *d = parse(text, &bad);
    cr_assert_eq(bad.n, 10);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(bad.line[i], (unsigned)i + 1, "report %d: %s", i, bad.reason[i]);
    cr_assert_not_null(strstr(bad.reason[0], "uid:"));
    cr_assert_not_null(strstr(bad.reason[3], "cid:"));
    cr_assert_str_eq(bad.reason[4], "card number is too large");
    cr_assert_not_null(strstr(bad.reason[5], "driver id"));
    cr_assert_not_null(strstr(bad.reason[6], "name"));
    cr_assert_not_null(strstr(bad.reason[7], "control"));
    cr_assert_str_eq(bad.reason[8], "line is too long");
    cr_assert_not_null(strstr(bad.reason[9], "ASCII"));
    cr_assert_eq(buyt_drivers_count(d), 1);
    cr_assert_eq(buyt_drivers_bad_lines(d), 10);
    buyt_drivers_free(d);
}

Test(drivers, line_with_nul_byte_is_bad_not_truncated)
{
    const char text[] = "3808980205 D001\n3887558 D0\0002\n";
    struct bad_rec bad = {0};
    struct buyt_drivers *d = NULL;
    cr_assert_eq(buyt_drivers_parse(&d, text, sizeof text - 1, &key, on_bad, &bad), 0);
    cr_assert_eq(buyt_drivers_count(d), 1);
    cr_assert_eq(bad.n, 1);
    cr_assert_eq(bad.line[0], 2);
    buyt_drivers_free(d);
}

Test(drivers, reports_duplicates_of_every_card_form)
{
    const struct tap a = em4100("62E3086CED");
    char hex[BUYT_CARDID_HEX_LEN + 1], text[512];
    snprintf(text, sizeof text,
             "uid:62E3086CED D1\n"
             "3808980205 D2\n"
             "cid:%s D3\n" /* the card id of line 1 */
             "uid:62:E3:08:6C:ED D4\n"
             "03808980205 D5\n", /* the number of line 2 */
             buyt_cardid_format(a.id, hex));
    struct bad_rec bad = {0};
    struct buyt_drivers *d = parse(text, &bad);
    cr_assert_eq(bad.n, 3);
    cr_assert_eq(bad.line[0], 3);
    cr_assert_str_eq(bad.reason[0], "card is already listed on line 1");
    cr_assert_eq(bad.line[1], 4);
    cr_assert_str_eq(bad.reason[1], "card is already listed on line 1");
    cr_assert_eq(bad.line[2], 5);
    cr_assert_str_eq(bad.reason[2], "card is already listed on line 2");
    cr_assert_eq(buyt_drivers_count(d), 2);
    cr_assert_str_eq(driver_of(d, &a), "D1");
    buyt_drivers_free(d);
}

Test(drivers, loads_a_large_list)
{
    const size_t n = 20000;
    char *text = malloc(n * 24 + 64);
    cr_assert_not_null(text);
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(text + len, "%zu D%zu\n", 1000000 + i, i);
    len += (size_t)sprintf(text + len, "%d dup\n", 1000000 + 123);
    struct bad_rec bad = {0};
    struct buyt_drivers *d = NULL;
    cr_assert_eq(buyt_drivers_parse(&d, text, len, &key, on_bad, &bad), 0);
    cr_assert_eq(buyt_drivers_count(d), n);
    cr_assert_eq(bad.n, 1);
    cr_assert_eq(bad.line[0], n + 1);
    cr_assert_str_eq(bad.reason[0], "card is already listed on line 124");
    struct tap t = {
        .card = {.framing = BUYT_RFID_LINE_DEC, .has_number = true, .number = 1000000 + 19999}};
    cr_assert_str_eq(driver_of(d, &t), "D19999");
    buyt_drivers_free(d);
    free(text);
}

Test(drivers, missing_file_returns_enoent)
{
    struct buyt_drivers *d = (struct buyt_drivers *)&key; /* must be reset to NULL */
    cr_assert_eq(
        buyt_drivers_load(&d, BUYT_SOURCE_DIR "/tests/fixtures/no-such-file", &key, NULL, NULL),
        -ENOENT);
    cr_assert_null(d);
}

Test(drivers, refuses_unparsed_key)
{
    struct buyt_cardid_key none = {0};
    struct buyt_drivers *d = NULL;
    cr_assert_eq(buyt_drivers_parse(&d, "1 D1\n", 5, &none, NULL, NULL), BUYT_EINVAL);
    cr_assert_null(d);
    buyt_drivers_free(NULL);
}

/* --- state machine ------------------------------------------------------------------------- */

Test(drivers, same_card_signs_in_then_out)
{
    struct buyt_drivers *d = parse(two_drivers, NULL);
    struct buyt_drivers_state st;
    struct buyt_drivers_event ev[2];
    buyt_drivers_state_init(&st);
    const struct tap a = em4100("62E3086CED");

    cr_assert_eq(buyt_drivers_tap(d, &st, &a.card, a.id, ev), 1);
    cr_assert_eq(ev[0].kind, BUYT_DRIVERS_SIGN_IN);
    cr_assert_str_eq(ev[0].driver_id, "D001");
    cr_assert_arr_eq(ev[0].card_id, a.id, 16);
    cr_assert(st.signed_in);
    cr_assert_str_eq(st.driver_id, "D001");

    cr_assert_eq(buyt_drivers_tap(d, &st, &a.card, a.id, ev), 1);
    cr_assert_eq(ev[0].kind, BUYT_DRIVERS_SIGN_OUT);
    cr_assert_str_eq(ev[0].driver_id, "D001");
    cr_assert_arr_eq(ev[0].card_id, a.id, 16);
    cr_assert_not(st.signed_in);

    cr_assert_eq(buyt_drivers_tap(d, &st, &a.card, a.id, ev), 1);
    cr_assert_eq(ev[0].kind, BUYT_DRIVERS_SIGN_IN, "a third tap signs in again");
    buyt_drivers_free(d);
}

Test(drivers, unknown_card_is_reported)
{
    struct buyt_drivers *d = parse(two_drivers, NULL);
    struct buyt_drivers_state st;
    struct buyt_drivers_event ev[2];
    buyt_drivers_state_init(&st);
    const struct tap a = em4100("62E3086CED");
    const struct tap x = em4100("0100000001");

    cr_assert_eq(buyt_drivers_tap(d, &st, &x.card, x.id, ev), 1);
    cr_assert_eq(ev[0].kind, BUYT_DRIVERS_UNKNOWN_CARD);
    cr_assert_str_eq(ev[0].driver_id, "");
    cr_assert_arr_eq(ev[0].card_id, x.id, 16);
    cr_assert_not(st.signed_in);

    /* While a driver is signed in, an unknown card changes nothing. */
    cr_assert_eq(buyt_drivers_tap(d, &st, &a.card, a.id, ev), 1);
    cr_assert_eq(buyt_drivers_tap(d, &st, &x.card, x.id, ev), 1);
    cr_assert_eq(ev[0].kind, BUYT_DRIVERS_UNKNOWN_CARD);
    cr_assert(st.signed_in);
    cr_assert_str_eq(st.driver_id, "D001");
    buyt_drivers_free(d);
}

Test(drivers, another_driver_card_signs_out_first_then_signs_in_second)
{
    struct buyt_drivers *d = parse(two_drivers, NULL);
    struct buyt_drivers_state st;
    struct buyt_drivers_event ev[2];
    buyt_drivers_state_init(&st);
    const struct tap a = em4100("62E3086CED"), b = em4100("67003B51C6");

    cr_assert_eq(buyt_drivers_tap(d, &st, &a.card, a.id, ev), 1);
    cr_assert_eq(buyt_drivers_tap(d, &st, &b.card, b.id, ev), 2);
    cr_assert_eq(ev[0].kind, BUYT_DRIVERS_SIGN_OUT);
    cr_assert_str_eq(ev[0].driver_id, "D001");
    cr_assert_arr_eq(ev[0].card_id, a.id, 16);
    cr_assert_eq(ev[1].kind, BUYT_DRIVERS_SIGN_IN);
    cr_assert_str_eq(ev[1].driver_id, "D002");
    cr_assert_arr_eq(ev[1].card_id, b.id, 16);
    cr_assert_str_eq(st.driver_id, "D002");
    cr_assert_arr_eq(st.card_id, b.id, 16);
    buyt_drivers_free(d);
}

Test(drivers, other_card_of_signed_in_driver_signs_out)
{
    struct buyt_drivers *d = parse("3808980205 D001 An\n3887558 D001 An spare card\n", NULL);
    struct buyt_drivers_state st;
    struct buyt_drivers_event ev[2];
    buyt_drivers_state_init(&st);
    const struct tap a = em4100("62E3086CED"), spare = em4100("67003B51C6");

    cr_assert_eq(buyt_drivers_tap(d, &st, &a.card, a.id, ev), 1);
    cr_assert_eq(buyt_drivers_tap(d, &st, &spare.card, spare.id, ev), 1);
    cr_assert_eq(ev[0].kind, BUYT_DRIVERS_SIGN_OUT);
    cr_assert_str_eq(ev[0].driver_id, "D001");
    cr_assert_arr_eq(ev[0].card_id, a.id, 16, "sign-out carries the sign-in card id");
    cr_assert_not(st.signed_in);
    buyt_drivers_free(d);
}

Test(drivers, forced_sign_out)
{
    struct buyt_drivers *d = parse(two_drivers, NULL);
    struct buyt_drivers_state st;
    struct buyt_drivers_event ev[2];
    buyt_drivers_state_init(&st);
    cr_assert_eq(buyt_drivers_sign_out(&st, &ev[0]), 0, "nobody signed in");
    const struct tap b = em4100("67003B51C6");
    cr_assert_eq(buyt_drivers_tap(d, &st, &b.card, b.id, ev), 1);
    cr_assert_eq(buyt_drivers_sign_out(&st, &ev[0]), 1);
    cr_assert_eq(ev[0].kind, BUYT_DRIVERS_SIGN_OUT);
    cr_assert_str_eq(ev[0].driver_id, "D002");
    cr_assert_arr_eq(ev[0].card_id, b.id, 16);
    cr_assert_not(st.signed_in);
    buyt_drivers_free(d);
}

Test(drivers, state_survives_list_reload)
{
    struct buyt_drivers *d1 = parse(two_drivers, NULL);
    struct buyt_drivers_state st;
    struct buyt_drivers_event ev[2];
    buyt_drivers_state_init(&st);
    const struct tap a = em4100("62E3086CED");
    cr_assert_eq(buyt_drivers_tap(d1, &st, &a.card, a.id, ev), 1);
    buyt_drivers_free(d1);
    struct buyt_drivers *d2 = parse("uid:62E3086CED D001 An, now by UID\n", NULL);
    cr_assert_eq(buyt_drivers_tap(d2, &st, &a.card, a.id, ev), 1);
    cr_assert_eq(ev[0].kind, BUYT_DRIVERS_SIGN_OUT);
    buyt_drivers_free(d2);
}

Test(drivers, no_list_makes_every_card_unknown)
{
    struct buyt_drivers_state st;
    struct buyt_drivers_event ev[2];
    buyt_drivers_state_init(&st);
    const struct tap a = em4100("62E3086CED");
    cr_assert_eq(buyt_drivers_tap(NULL, &st, &a.card, a.id, ev), 1);
    cr_assert_eq(ev[0].kind, BUYT_DRIVERS_UNKNOWN_CARD);
    cr_assert_eq(buyt_drivers_count(NULL), 0);
}

Test(drivers, event_kinds_equal_proto_values)
{
    cr_assert_eq((int)BUYT_DRIVERS_SIGN_IN, BUYT__V1__DRIVER_EVENT_KIND__DRIVER_EVENT_SIGN_IN);
    cr_assert_eq((int)BUYT_DRIVERS_SIGN_OUT, BUYT__V1__DRIVER_EVENT_KIND__DRIVER_EVENT_SIGN_OUT);
    cr_assert_eq((int)BUYT_DRIVERS_UNKNOWN_CARD,
                 BUYT__V1__DRIVER_EVENT_KIND__DRIVER_EVENT_UNKNOWN_CARD);
    cr_assert_eq(BUYT_CARDID_BYTES, 16);
}
