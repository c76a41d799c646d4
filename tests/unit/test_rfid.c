/* RFID framings and debouncing: real RDM6300 frames from ../shared/data/rfid and hand-made
 * frames for the other framings. */
#include "error.h"
#include "rfid.h"
#include "testkit.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#define STX "\x02"
#define ETX "\x03"
#define SEEED STX "62E3086CED08" ETX /* card 3808980205 (seeed_62E3086CED.bin) */
#define PYRDM STX "67003B51C6CB" ETX /* card 0003887558 */

static const uint8_t seeed_uid[5] = {0x62, 0xE3, 0x08, 0x6C, 0xED};
static const uint8_t mifare_uid[4] = {0x04, 0xA2, 0x3B, 0x1C};

/* Everything the decoder reported, in order (tests may copy UIDs; the agent must not). */
struct rec {
    int ncards, nrejects;
    struct buyt_rfid_card cards[16];
    enum buyt_rfid_reject rejects[16];
};

static void on_frame(void *arg, const struct buyt_rfid_card *card, enum buyt_rfid_reject why)
{
    struct rec *r = arg;
    if (card) {
        cr_assert_eq(why, BUYT_RFID_REJECT_NONE);
        cr_assert_lt(r->ncards, 16);
        r->cards[r->ncards++] = *card;
    } else {
        cr_assert_neq(why, BUYT_RFID_REJECT_NONE);
        cr_assert_lt(r->nrejects, 16);
        r->rejects[r->nrejects++] = why;
    }
}

static void decoder(struct buyt_rfid_decoder *dec, enum buyt_rfid_framing f,
                    enum buyt_rfid_byte_order o, uint8_t dec_uid_bytes)
{
    const struct buyt_rfid_config cfg = {
        .framing = f, .byte_order = o, .dec_uid_bytes = dec_uid_bytes};
    cr_assert_eq(buyt_rfid_decoder_init(dec, &cfg), 0);
}

static int feed_str(struct buyt_rfid_decoder *dec, const char *s, struct rec *r)
{
    return buyt_rfid_feed(dec, (const uint8_t *)s, strlen(s), on_frame, r);
}

/* Reads a file of ../shared/data into buf; skips the test (with a notice) if it is absent. */
static size_t read_shared(const char *rel, uint8_t *buf, size_t cap)
{
    char path[512];
    if (!buyt_test_shared_data(rel, path, sizeof path))
        cr_skip_test("../shared/data/%s is absent: real-device frames not tested", rel);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    const size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static void assert_uid(const struct buyt_rfid_card *c, const uint8_t *uid, size_t len)
{
    cr_assert_eq(c->uid_len, len);
    cr_assert_arr_eq(c->uid, uid, len);
}

/* --- rdm6300: real frames ------------------------------------------------------------------ */

Test(rdm6300, decodes_seeed_frame_to_printed_number)
{
    uint8_t buf[64];
    const size_t n = read_shared("rfid/seeed_62E3086CED.bin", buf, sizeof buf);
    cr_assert_eq(n, 14);
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_RDM6300, BUYT_RFID_MSB_FIRST, 0);
    cr_assert_eq(buyt_rfid_feed(&dec, buf, n, on_frame, &r), 1);
    cr_assert_eq(r.ncards, 1);
    cr_assert_eq(r.nrejects, 0);
    assert_uid(&r.cards[0], seeed_uid, 5);
    cr_assert(r.cards[0].has_number);
    cr_assert_eq(r.cards[0].number, 3808980205u);
    char num[21];
    cr_assert_eq(buyt_rfid_number_format(&r.cards[0], num, sizeof num), 0);
    cr_assert_str_eq(num, "3808980205");
    cr_assert_eq(dec.cards, 1);
}

Test(rdm6300, decodes_pyrdm6300_frame_to_zero_padded_number)
{
    uint8_t buf[64];
    const size_t n = read_shared("rfid/pyrdm6300_67003B51C6.bin", buf, sizeof buf);
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_RDM6300, BUYT_RFID_MSB_FIRST, 0);
    cr_assert_eq(buyt_rfid_feed(&dec, buf, n, on_frame, &r), 1);
    const uint8_t uid[5] = {0x67, 0x00, 0x3B, 0x51, 0xC6};
    assert_uid(&r.cards[0], uid, 5);
    cr_assert_eq(r.cards[0].number, 3887558u);
    char num[21];
    cr_assert_eq(buyt_rfid_number_format(&r.cards[0], num, sizeof num), 0);
    cr_assert_str_eq(num, "0003887558");
    cr_assert_eq(buyt_rfid_number_format(&r.cards[0], num, 10), BUYT_ERANGE);
}

Test(rdm6300, rejects_bad_checksum)
{
    uint8_t buf[64];
    const size_t n = read_shared("rfid/pyrdm6300_bad_68003B51C6.bin", buf, sizeof buf);
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_RDM6300, BUYT_RFID_MSB_FIRST, 0);
    cr_assert_eq(buyt_rfid_feed(&dec, buf, n, on_frame, &r), 0);
    cr_assert_eq(r.ncards, 0);
    cr_assert_eq(r.nrejects, 1);
    cr_assert_eq(r.rejects[0], BUYT_RFID_REJECT_BAD_CHECKSUM);
    cr_assert_eq(dec.rejects[BUYT_RFID_REJECT_BAD_CHECKSUM], 1);
    cr_assert_eq(dec.cards, 0);
    /* The next good frame decodes: the decoder is back to hunting for STX. */
    cr_assert_eq(feed_str(&dec, SEEED, &r), 1);
}

Test(rdm6300, decodes_frame_fed_one_byte_at_a_time)
{
    uint8_t buf[64];
    const size_t n = read_shared("rfid/seeed_62E3086CED.bin", buf, sizeof buf);
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_RDM6300, BUYT_RFID_MSB_FIRST, 0);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(r.ncards, 0, "card reported before ETX (byte %zu)", i);
        buyt_rfid_feed(&dec, buf + i, 1, on_frame, &r);
    }
    cr_assert_eq(r.ncards, 1);
    assert_uid(&r.cards[0], seeed_uid, 5);
}

Test(rdm6300, decodes_repeated_frames_each_time)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_RDM6300, BUYT_RFID_MSB_FIRST, 0);
    cr_assert_eq(feed_str(&dec, SEEED SEEED PYRDM SEEED, &r), 4);
    cr_assert_eq(r.cards[2].number, 3887558u);
    cr_assert_eq(r.cards[3].number, 3808980205u);
    cr_assert_eq(dec.cards, 4);
}

Test(rdm6300, resyncs_after_garbage)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_RDM6300, BUYT_RFID_MSB_FIRST, 0);
    /* Noise, a frame whose STX was lost (digits then ETX), then a good frame. */
    cr_assert_eq(feed_str(&dec,
                          "\xff\x01zz"
                          "3086CED08" ETX SEEED,
                          &r),
                 1);
    cr_assert_eq(r.nrejects, 0);
    assert_uid(&r.cards[0], seeed_uid, 5);
    cr_assert_eq(dec.noise_bytes, 4 + 9 + 1);
}

Test(rdm6300, new_stx_truncates_frame_without_etx)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_RDM6300, BUYT_RFID_MSB_FIRST, 0);
    cr_assert_eq(feed_str(&dec, STX "62E30" SEEED, &r), 1);
    cr_assert_eq(r.nrejects, 1);
    cr_assert_eq(r.rejects[0], BUYT_RFID_REJECT_TRUNCATED);
    assert_uid(&r.cards[0], seeed_uid, 5);
}

Test(rdm6300, rejects_non_hex_char)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_RDM6300, BUYT_RFID_MSB_FIRST, 0);
    cr_assert_eq(feed_str(&dec, STX "62E3086CEG08" ETX, &r), 0);
    cr_assert_eq(r.nrejects, 1);
    cr_assert_eq(r.rejects[0], BUYT_RFID_REJECT_BAD_CHAR);
}

Test(rdm6300, rejects_wrong_lengths)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_RDM6300, BUYT_RFID_MSB_FIRST, 0);
    cr_assert_eq(feed_str(&dec, STX "62E3086CED" ETX, &r), 0);              /* short */
    cr_assert_eq(feed_str(&dec, STX "62E3086CED0800000000000" ETX, &r), 0); /* long */
    cr_assert_eq(feed_str(&dec, STX ETX, &r), 0);                           /* empty */
    cr_assert_eq(r.nrejects, 3);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(r.rejects[i], BUYT_RFID_REJECT_BAD_LENGTH, "reject %d", i);
    cr_assert_eq(dec.rejects[BUYT_RFID_REJECT_BAD_LENGTH], 3);
    cr_assert_eq(feed_str(&dec, SEEED, &r), 1);
}

Test(rdm6300, accepts_lower_case_hex)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_RDM6300, BUYT_RFID_MSB_FIRST, 0);
    cr_assert_eq(feed_str(&dec, STX "62e3086ced08" ETX, &r), 1);
    assert_uid(&r.cards[0], seeed_uid, 5);
}

Test(rdm6300, gap_abandons_partial_frame)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_RDM6300, BUYT_RFID_MSB_FIRST, 0);
    cr_assert_eq(feed_str(&dec, STX "62E3086C", &r), 0);
    cr_assert_eq(buyt_rfid_gap(&dec, on_frame, &r), 0);
    cr_assert_eq(r.nrejects, 1);
    cr_assert_eq(r.rejects[0], BUYT_RFID_REJECT_TRUNCATED);
    /* The rest of the interrupted frame is noise, not a card. */
    cr_assert_eq(feed_str(&dec, "ED08" ETX, &r), 0);
    cr_assert_eq(buyt_rfid_gap(&dec, on_frame, &r), 0); /* idle between frames: nothing */
    cr_assert_eq(r.nrejects, 1);
    cr_assert_eq(feed_str(&dec, SEEED, &r), 1);
}

Test(rdm6300, wipes_frame_buffer_after_each_frame)
{
    static const uint8_t zero[BUYT_RFID_LINE_MAX];
    struct buyt_rfid_decoder dec;
    decoder(&dec, BUYT_RFID_RDM6300, BUYT_RFID_MSB_FIRST, 0);
    const char *good = SEEED, *bad = STX "62E3086CED09" ETX;
    cr_assert_eq(buyt_rfid_feed(&dec, (const uint8_t *)good, strlen(good), NULL, NULL), 1);
    cr_assert_arr_eq(dec.buf, zero, sizeof zero);
    buyt_rfid_feed(&dec, (const uint8_t *)bad, strlen(bad), NULL, NULL); /* rejected too */
    cr_assert_arr_eq(dec.buf, zero, sizeof zero);
    cr_assert_eq(dec.rejects[BUYT_RFID_REJECT_BAD_CHECKSUM], 1);
}

/* --- id12 ---------------------------------------------------------------------------------- */

Test(id12, decodes_frame_with_crlf_before_etx)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_ID12, BUYT_RFID_MSB_FIRST, 0);
    const char *f = STX "62E3086CED08\r\n" ETX;
    for (size_t i = 0; i < strlen(f); i++)
        buyt_rfid_feed(&dec, (const uint8_t *)f + i, 1, on_frame, &r);
    cr_assert_eq(r.ncards, 1);
    assert_uid(&r.cards[0], seeed_uid, 5);
    cr_assert_eq(r.cards[0].framing, BUYT_RFID_ID12);
    cr_assert_eq(r.cards[0].number, 3808980205u);
}

Test(id12, rejects_frame_without_crlf)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_ID12, BUYT_RFID_MSB_FIRST, 0);
    cr_assert_eq(feed_str(&dec, SEEED, &r), 0);
    cr_assert_eq(feed_str(&dec, STX "62E3086CED08\n\r" ETX, &r), 0);
    cr_assert_eq(r.nrejects, 2);
    cr_assert_eq(r.rejects[0], BUYT_RFID_REJECT_BAD_LENGTH);
    cr_assert_eq(r.rejects[1], BUYT_RFID_REJECT_BAD_CHAR);
}

Test(id12, rejects_bad_checksum)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_ID12, BUYT_RFID_MSB_FIRST, 0);
    cr_assert_eq(feed_str(&dec, STX "68003B51C6CB\r\n" ETX STX "67003B51C6CB\r\n" ETX, &r), 1);
    cr_assert_eq(r.rejects[0], BUYT_RFID_REJECT_BAD_CHECKSUM);
    cr_assert_eq(r.cards[0].number, 3887558u);
}

/* --- em18 ---------------------------------------------------------------------------------- */

Test(em18, decodes_frame_ended_by_gap)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_EM18, BUYT_RFID_MSB_FIRST, 0);
    cr_assert_eq(feed_str(&dec, "62E3086CED08", &r), 0);
    cr_assert_eq(r.ncards, 0, "no end marker: the card waits for the gap");
    cr_assert_eq(buyt_rfid_gap(&dec, on_frame, &r), 1);
    assert_uid(&r.cards[0], seeed_uid, 5);
    cr_assert_eq(r.cards[0].framing, BUYT_RFID_EM18);
    cr_assert_eq(buyt_rfid_gap(&dec, on_frame, &r), 0);
    cr_assert_eq(r.ncards, 1);
}

Test(em18, decodes_frames_delimited_by_non_hex)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_EM18, BUYT_RFID_MSB_FIRST, 0);
    cr_assert_eq(feed_str(&dec, "62E3086CED08\r\n67003B51C6CB" ETX "62E3086CED08\n", &r), 3);
    cr_assert_eq(r.cards[0].number, 3808980205u);
    cr_assert_eq(r.cards[1].number, 3887558u);
    cr_assert_eq(r.cards[2].number, 3808980205u);
    cr_assert_eq(r.nrejects, 0);
}

Test(em18, rejects_run_of_wrong_length)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_EM18, BUYT_RFID_MSB_FIRST, 0);
    /* Started mid-frame: a short run, then a run of two frames without a gap. */
    cr_assert_eq(feed_str(&dec, "6CED08", &r), 0);
    cr_assert_eq(buyt_rfid_gap(&dec, on_frame, &r), 0);
    cr_assert_eq(feed_str(&dec, "62E3086CED0862E3086CED08", &r), 0);
    cr_assert_eq(buyt_rfid_gap(&dec, on_frame, &r), 0);
    cr_assert_eq(r.nrejects, 2);
    cr_assert_eq(r.rejects[0], BUYT_RFID_REJECT_BAD_LENGTH);
    cr_assert_eq(r.rejects[1], BUYT_RFID_REJECT_BAD_LENGTH);
    /* A long run of noise does not wrap the saturating counter into a valid length. */
    char run[300];
    memset(run, 'A', sizeof run - 1);
    run[sizeof run - 1] = '\0';
    memcpy(run + sizeof run - 13, "62E3086CED08", 12);
    cr_assert_eq(feed_str(&dec, run, &r), 0);
    cr_assert_eq(buyt_rfid_gap(&dec, on_frame, &r), 0);
    cr_assert_eq(r.rejects[2], BUYT_RFID_REJECT_BAD_LENGTH);
    cr_assert_eq(feed_str(&dec, "62E3086CED08\r", &r), 1);
}

Test(em18, rejects_bad_checksum)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_EM18, BUYT_RFID_MSB_FIRST, 0);
    cr_assert_eq(feed_str(&dec, "68003B51C6CB\r\n", &r), 0);
    cr_assert_eq(r.rejects[0], BUYT_RFID_REJECT_BAD_CHECKSUM);
    cr_assert_eq(dec.noise_bytes, 0, "CR/LF after a frame are delimiters, not noise");
}

/* --- line-hex / line-dec ------------------------------------------------------------------- */

Test(line_hex, msb_first_byte_order)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_LINE_HEX, BUYT_RFID_MSB_FIRST, 0);
    cr_assert_eq(feed_str(&dec, "04A23B1C\r\n", &r), 1);
    assert_uid(&r.cards[0], mifare_uid, 4);
    cr_assert_not(r.cards[0].has_number);
    char num[21];
    cr_assert_eq(buyt_rfid_number_format(&r.cards[0], num, sizeof num), BUYT_EINVAL);
}

Test(line_hex, lsb_first_byte_order)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_LINE_HEX, BUYT_RFID_LSB_FIRST, 0);
    cr_assert_eq(feed_str(&dec, "1C3BA204\n", &r), 1);
    assert_uid(&r.cards[0], mifare_uid, 4);
    /* 7-byte UID: fully reversed. */
    cr_assert_eq(feed_str(&dec, "07060504030201\n", &r), 1);
    const uint8_t uid7[7] = {1, 2, 3, 4, 5, 6, 7};
    assert_uid(&r.cards[1], uid7, 7);
}

Test(line_hex, accepts_byte_separators_and_blanks)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_LINE_HEX, BUYT_RFID_MSB_FIRST, 0);
    cr_assert_eq(feed_str(&dec, "04:A2:3B:1C\r\n  04 a2 3b 1c \t\n04-A2-3B-1C\r", &r), 3);
    for (int i = 0; i < 3; i++)
        assert_uid(&r.cards[i], mifare_uid, 4);
    cr_assert_eq(r.nrejects, 0);
}

Test(line_hex, rejects_misplaced_separator_and_non_hex)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_LINE_HEX, BUYT_RFID_MSB_FIRST, 0);
    cr_assert_eq(feed_str(&dec, "0:4A23B1C\n04::A2\n04A2:\nUID 04A2\n04AZ\n", &r), 0);
    cr_assert_eq(r.nrejects, 5);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(r.rejects[i], BUYT_RFID_REJECT_BAD_CHAR, "line %d", i + 1);
}

Test(line_hex, rejects_odd_and_oversized_uids)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_LINE_HEX, BUYT_RFID_MSB_FIRST, 0);
    cr_assert_eq(feed_str(&dec, "04A23\n0102030405060708090A0B\n0102030405060708090A\n", &r), 1);
    cr_assert_eq(r.nrejects, 2);
    cr_assert_eq(r.rejects[0], BUYT_RFID_REJECT_BAD_LENGTH);
    cr_assert_eq(r.rejects[1], BUYT_RFID_REJECT_BAD_LENGTH);
    cr_assert_eq(r.cards[0].uid_len, BUYT_RFID_UID_MAX);
}

Test(line_hex, wiegand26_converter_line)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_LINE_HEX, BUYT_RFID_MSB_FIRST, 0);
    cr_assert_eq(feed_str(&dec, "1A2B3C\r", &r), 1);
    const uint8_t uid[3] = {0x1A, 0x2B, 0x3C};
    assert_uid(&r.cards[0], uid, 3);
}

Test(line_hex, accepts_cr_lf_and_crlf_and_skips_blank_lines)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_LINE_HEX, BUYT_RFID_MSB_FIRST, 0);
    const char *s = "A1B2\rC3D4\nE5F6\r\n\r\n  \n0708\n";
    for (size_t i = 0; i < strlen(s); i++)
        buyt_rfid_feed(&dec, (const uint8_t *)s + i, 1, on_frame, &r);
    cr_assert_eq(r.ncards, 4);
    cr_assert_eq(r.nrejects, 0);
    cr_assert_eq(r.cards[0].uid[0], 0xA1);
    cr_assert_eq(r.cards[1].uid[0], 0xC3);
    cr_assert_eq(r.cards[2].uid[1], 0xF6);
    cr_assert_eq(r.cards[3].uid[1], 0x08);
}

Test(line_hex, rejects_too_long_line_then_decodes_next)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_LINE_HEX, BUYT_RFID_MSB_FIRST, 0);
    char line[200];
    memset(line, '0', sizeof line - 2);
    line[sizeof line - 2] = '\n';
    line[sizeof line - 1] = '\0';
    cr_assert_eq(feed_str(&dec, line, &r), 0);
    cr_assert_eq(feed_str(&dec, "04A23B1C\n", &r), 1);
    cr_assert_eq(r.nrejects, 1);
    cr_assert_eq(r.rejects[0], BUYT_RFID_REJECT_BAD_LENGTH);
    assert_uid(&r.cards[0], mifare_uid, 4);
}

Test(line_hex, gap_does_not_end_a_line)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_LINE_HEX, BUYT_RFID_MSB_FIRST, 0);
    cr_assert_eq(feed_str(&dec, "04A2", &r), 0);
    cr_assert_eq(buyt_rfid_gap(&dec, on_frame, &r), 0);
    cr_assert_eq(feed_str(&dec, "3B1C\n", &r), 1);
    assert_uid(&r.cards[0], mifare_uid, 4);
}

Test(line_dec, msb_first_byte_order)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_LINE_DEC, BUYT_RFID_MSB_FIRST, 0); /* 0: 4-byte UIDs */
    cr_assert_eq(feed_str(&dec, "0077740828\r\n", &r), 1);     /* 0x04A23B1C */
    assert_uid(&r.cards[0], mifare_uid, 4);
    cr_assert(r.cards[0].has_number);
    cr_assert_eq(r.cards[0].number, 77740828u);
    char num[21];
    cr_assert_eq(buyt_rfid_number_format(&r.cards[0], num, sizeof num), 0);
    cr_assert_str_eq(num, "77740828");
}

Test(line_dec, lsb_first_byte_order)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_LINE_DEC, BUYT_RFID_LSB_FIRST, 4);
    cr_assert_eq(feed_str(&dec, "473670148\n", &r), 1); /* 0x1C3BA204: UID[0] = 0x04 */
    assert_uid(&r.cards[0], mifare_uid, 4);
    cr_assert_eq(r.cards[0].number, 473670148u);
}

Test(line_dec, keeps_leading_zero_bytes_of_configured_length)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_LINE_DEC, BUYT_RFID_MSB_FIRST, 7);
    cr_assert_eq(feed_str(&dec, "258\n", &r), 1);
    const uint8_t uid[7] = {0, 0, 0, 0, 0, 0x01, 0x02};
    assert_uid(&r.cards[0], uid, 7);
}

Test(line_dec, rejects_values_that_do_not_fit)
{
    struct buyt_rfid_decoder dec;
    struct rec r = {0};
    decoder(&dec, BUYT_RFID_LINE_DEC, BUYT_RFID_MSB_FIRST, 4);
    cr_assert_eq(feed_str(&dec, "4294967296\n4294967295\n12a4\n-1\n", &r), 1);
    cr_assert_eq(r.cards[0].number, 4294967295u);
    cr_assert_eq(r.rejects[0], BUYT_RFID_REJECT_OUT_OF_RANGE);
    cr_assert_eq(r.rejects[1], BUYT_RFID_REJECT_BAD_CHAR);
    cr_assert_eq(r.rejects[2], BUYT_RFID_REJECT_BAD_CHAR);

    decoder(&dec, BUYT_RFID_LINE_DEC, BUYT_RFID_MSB_FIRST, 8);
    memset(&r, 0, sizeof r);
    cr_assert_eq(feed_str(&dec,
                          "18446744073709551616\n000000000000000000001\n"
                          "18446744073709551615\n",
                          &r),
                 1);
    cr_assert_eq(r.rejects[0], BUYT_RFID_REJECT_OUT_OF_RANGE);
    cr_assert_eq(r.rejects[1], BUYT_RFID_REJECT_BAD_LENGTH);
    const uint8_t max[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_uid(&r.cards[0], max, 8);
}

/* --- configuration ------------------------------------------------------------------------- */

Test(config, parses_framing_and_byte_order_names)
{
    const char *names[] = {"rdm6300", "id12", "em18", "line-hex", "line-dec"};
    for (unsigned i = 0; i < 5; i++) {
        enum buyt_rfid_framing f;
        cr_assert_eq(buyt_rfid_framing_parse(names[i], &f), 0, "%s", names[i]);
        cr_assert_eq(f, (enum buyt_rfid_framing)i);
        cr_assert_str_eq(buyt_rfid_framing_name(f), names[i]);
    }
    enum buyt_rfid_framing f;
    cr_assert_eq(buyt_rfid_framing_parse("RDM6300", &f), BUYT_EINVAL);
    cr_assert_eq(buyt_rfid_framing_parse("wiegand", &f), BUYT_EINVAL);
    cr_assert_eq(buyt_rfid_framing_parse(NULL, &f), BUYT_EINVAL);
    enum buyt_rfid_byte_order o;
    cr_assert_eq(buyt_rfid_byte_order_parse("lsb-first", &o), 0);
    cr_assert_eq(o, BUYT_RFID_LSB_FIRST);
    cr_assert_eq(buyt_rfid_byte_order_parse("msb-first", &o), 0);
    cr_assert_eq(o, BUYT_RFID_MSB_FIRST);
    cr_assert_eq(buyt_rfid_byte_order_parse("little", &o), BUYT_EINVAL);
    cr_assert_str_eq(buyt_rfid_framing_name(BUYT_RFID_FRAMING__COUNT), "invalid");
}

Test(config, reject_names_are_stable)
{
    cr_assert_str_eq(buyt_rfid_reject_name(BUYT_RFID_REJECT_NONE), "none");
    cr_assert_str_eq(buyt_rfid_reject_name(BUYT_RFID_REJECT_BAD_CHECKSUM), "bad_checksum");
    cr_assert_str_eq(buyt_rfid_reject_name(BUYT_RFID_REJECT_BAD_LENGTH), "bad_length");
    cr_assert_str_eq(buyt_rfid_reject_name(BUYT_RFID_REJECT_BAD_CHAR), "bad_char");
    cr_assert_str_eq(buyt_rfid_reject_name(BUYT_RFID_REJECT_TRUNCATED), "truncated");
    cr_assert_str_eq(buyt_rfid_reject_name(BUYT_RFID_REJECT_OUT_OF_RANGE), "out_of_range");
    cr_assert_str_eq(buyt_rfid_reject_name(BUYT_RFID_REJECT__COUNT), "invalid_reason");
}

Test(config, init_rejects_bad_configuration)
{
    struct buyt_rfid_decoder dec;
    struct buyt_rfid_config cfg = {.framing = BUYT_RFID_FRAMING__COUNT};
    cr_assert_eq(buyt_rfid_decoder_init(&dec, &cfg), BUYT_EINVAL);
    cfg = (struct buyt_rfid_config){.framing = BUYT_RFID_LINE_HEX,
                                    .byte_order = BUYT_RFID_BYTE_ORDER__COUNT};
    cr_assert_eq(buyt_rfid_decoder_init(&dec, &cfg), BUYT_EINVAL);
    cfg = (struct buyt_rfid_config){.framing = BUYT_RFID_LINE_DEC, .dec_uid_bytes = 9};
    cr_assert_eq(buyt_rfid_decoder_init(&dec, &cfg), BUYT_EINVAL);
    cfg.dec_uid_bytes = 8;
    cr_assert_eq(buyt_rfid_decoder_init(&dec, &cfg), 0);
}

/* --- debounce ------------------------------------------------------------------------------ */

struct tap_rec {
    struct buyt_rfid_debounce *db;
    int64_t now_ms;
    int taps;
};

static void on_card_debounced(void *arg, const struct buyt_rfid_card *card,
                              enum buyt_rfid_reject why)
{
    (void)why;
    struct tap_rec *t = arg;
    if (card && buyt_rfid_debounce_check(t->db, card->uid, card->uid_len, t->now_ms))
        t->taps++;
}

Test(debounce, debounces_repeated_frames)
{
    uint8_t buf[64];
    const size_t n = read_shared("rfid/seeed_62E3086CED.bin", buf, sizeof buf);
    struct buyt_rfid_decoder dec;
    struct buyt_rfid_debounce db;
    decoder(&dec, BUYT_RFID_RDM6300, BUYT_RFID_MSB_FIRST, 0);
    buyt_rfid_debounce_init(&db, 1500);
    struct tap_rec t = {.db = &db, .now_ms = 1000000};
    /* The reader repeats the frame every 60-100 ms while the card is held: 3 s, 40 frames. */
    for (int i = 0; i < 40; i++) {
        t.now_ms += 60 + (i * 7) % 41;
        buyt_rfid_feed(&dec, buf, n, on_card_debounced, &t);
    }
    cr_assert_eq(dec.cards, 40);
    cr_assert_eq(t.taps, 1);
    cr_assert_eq(db.taps, 1);
    cr_assert_eq(db.repeats, 39);
}

Test(debounce, same_card_after_window_is_new_tap)
{
    struct buyt_rfid_debounce db;
    buyt_rfid_debounce_init(&db, 1500);
    const uint8_t a[16] = {1};
    cr_assert(buyt_rfid_debounce_check(&db, a, sizeof a, 10000));
    cr_assert_not(buyt_rfid_debounce_check(&db, a, sizeof a, 11499));
    cr_assert(buyt_rfid_debounce_check(&db, a, sizeof a, 11499 + 1500));
    cr_assert_eq(db.taps, 2);
}

Test(debounce, window_slides_from_last_sighting)
{
    struct buyt_rfid_debounce db;
    buyt_rfid_debounce_init(&db, 1500);
    const uint8_t a[16] = {1};
    cr_assert(buyt_rfid_debounce_check(&db, a, sizeof a, 0));
    /* Sightings 1.4 s apart for 14 s: always within the window of the previous one. */
    for (int64_t t = 1400; t <= 14000; t += 1400)
        cr_assert_not(buyt_rfid_debounce_check(&db, a, sizeof a, t), "t=%lld", (long long)t);
    cr_assert(buyt_rfid_debounce_check(&db, a, sizeof a, 14000 + 1500));
}

Test(debounce, different_card_is_new_tap_immediately)
{
    struct buyt_rfid_debounce db;
    buyt_rfid_debounce_init(&db, 1500);
    const uint8_t a[16] = {1}, b[16] = {2};
    cr_assert(buyt_rfid_debounce_check(&db, a, sizeof a, 0));
    cr_assert(buyt_rfid_debounce_check(&db, b, sizeof b, 10));
    cr_assert(buyt_rfid_debounce_check(&db, a, sizeof a, 20));
    cr_assert_not(buyt_rfid_debounce_check(&db, a, sizeof a, 30));
    /* A shorter id that is a prefix of the last one is a different card. */
    cr_assert(buyt_rfid_debounce_check(&db, a, 5, 40));
}

Test(debounce, clock_going_backwards_is_no_elapsed_time)
{
    struct buyt_rfid_debounce db;
    buyt_rfid_debounce_init(&db, 1500);
    const uint8_t a[16] = {1};
    cr_assert(buyt_rfid_debounce_check(&db, a, sizeof a, 5000));
    cr_assert_not(buyt_rfid_debounce_check(&db, a, sizeof a, 1000));
    cr_assert(buyt_rfid_debounce_check(&db, a, sizeof a, 2500));
}

Test(debounce, reset_forgets_and_wipes_card)
{
    static const uint8_t zero[BUYT_RFID_DEBOUNCE_ID_MAX];
    struct buyt_rfid_debounce db;
    buyt_rfid_debounce_init(&db, 0);
    cr_assert_eq(db.window_ms, BUYT_RFID_DEBOUNCE_DEFAULT_MS);
    const uint8_t a[16] = {1, 2, 3};
    cr_assert(buyt_rfid_debounce_check(&db, a, sizeof a, 0));
    buyt_rfid_debounce_reset(&db);
    cr_assert_arr_eq(db.last_id, zero, sizeof zero);
    cr_assert(buyt_rfid_debounce_check(&db, a, sizeof a, 10));
}

Test(debounce, id_of_bad_length_is_always_a_tap)
{
    struct buyt_rfid_debounce db;
    buyt_rfid_debounce_init(&db, 1500);
    const uint8_t big[BUYT_RFID_DEBOUNCE_ID_MAX + 1] = {0};
    cr_assert(buyt_rfid_debounce_check(&db, big, sizeof big, 0));
    cr_assert(buyt_rfid_debounce_check(&db, big, sizeof big, 1));
    cr_assert_eq(db.last_len, 0);
}
