/* Record encoding and Telemetry framing: byte-identical to protobuf-c's packing. */
#include "frame.h"

#include "error.h"

#include <criterion/criterion.h>
#include <string.h>

#define NOW 1795000000000LL

static Buyt__V1__Fix fix = BUYT__V1__FIX__INIT;
static Buyt__V1__CardTap tap = BUYT__V1__CARD_TAP__INIT;
static Buyt__V1__Health health = BUYT__V1__HEALTH__INIT;
static Buyt__V1__Record recs[3];
static uint8_t card[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static void make_records(void)
{
    fix.lat_e7 = 490265667;
    fix.lon_e7 = 120652717;
    fix.speed_cms = 1234;
    fix.course_cdeg = 13190;
    fix.quality = BUYT__V1__FIX_QUALITY__FIX_QUALITY_GPS;
    fix.fields = BUYT__V1__FIX_FIELD__FIX_FIELD_SPEED | BUYT__V1__FIX_FIELD__FIX_FIELD_COURSE;
    tap.role = BUYT__V1__READER_ROLE__READER_ROLE_PASSENGER;
    tap.card_id.data = card;
    tap.card_id.len = sizeof card;
    tap.position = &fix;
    health.uptime_s = 60;
    health.gps_state = BUYT__V1__GPS_STATE__GPS_STATE_FIX;
    health.version = "0.1.0";
    for (int i = 0; i < 3; i++) {
        buyt__v1__record__init(&recs[i]);
        recs[i].seq = 1000000 + (uint64_t)i; /* multi-byte varints */
        recs[i].time_ms = (uint64_t)NOW + (uint64_t)i;
    }
    recs[0].body_case = BUYT__V1__RECORD__BODY_FIX;
    recs[0].fix = &fix;
    recs[1].body_case = BUYT__V1__RECORD__BODY_CARD_TAP;
    recs[1].card_tap = &tap;
    recs[2].body_case = BUYT__V1__RECORD__BODY_HEALTH;
    recs[2].health = &health;
}

/* Frames recs[0..n) and checks the bytes against buyt_telemetry_encode of the same message. */
static void check_same(size_t n, uint64_t boot_id, uint64_t dropped)
{
    static uint8_t payload[3][512], framed[4096], packed[4096];
    struct buyt_journal_rec jr[3];
    for (size_t i = 0; i < n; i++) {
        size_t len;
        cr_assert_eq(buyt_frame_record(&recs[i], payload[i], sizeof payload[i], &len),
                     BUYT_REJECT_NONE);
        jr[i] = (struct buyt_journal_rec){.seq = recs[i].seq,
                                          .time_ms = recs[i].time_ms,
                                          .payload = payload[i],
                                          .len = (uint32_t)len};
    }
    size_t flen;
    cr_assert_eq(
        buyt_frame_telemetry("29B-100", boot_id, dropped, jr, n, framed, sizeof framed, &flen), 0);
    cr_assert_leq(flen, buyt_frame_bound(
                            7, n, jr[0].len + (n > 1 ? jr[1].len : 0) + (n > 2 ? jr[2].len : 0)));
    Buyt__V1__Record *ptrs[3] = {&recs[0], &recs[1], &recs[2]};
    Buyt__V1__Telemetry t = BUYT__V1__TELEMETRY__INIT;
    t.vehicle_id = "29B-100";
    t.boot_id = boot_id;
    t.dropped_through_seq = dropped;
    t.n_records = n;
    t.records = ptrs;
    size_t plen;
    cr_assert_eq(buyt_telemetry_encode(&t, NOW, packed, sizeof packed, &plen), BUYT_REJECT_NONE);
    cr_assert_eq(flen, plen);
    cr_assert_arr_eq(framed, packed, plen);
}

Test(frame, telemetry_is_byte_identical_to_protobuf_c, .init = make_records)
{
    check_same(3, 0x1234567890abcdefULL, 999999);
}

Test(frame, zero_boot_id_and_no_drops_are_left_out_as_proto3_defaults, .init = make_records)
{
    check_same(1, 0, 0);
    check_same(2, 7, 0);
}

Test(frame, framed_message_decodes_with_its_records, .init = make_records)
{
    uint8_t payload[512], out[1024];
    size_t len, olen;
    cr_assert_eq(buyt_frame_record(&recs[1], payload, sizeof payload, &len), BUYT_REJECT_NONE);
    struct buyt_journal_rec jr = {.seq = recs[1].seq, .payload = payload, .len = (uint32_t)len};
    cr_assert_eq(buyt_frame_telemetry("29B-100", 42, 5, &jr, 1, out, sizeof out, &olen), 0);
    Buyt__V1__Telemetry *t;
    cr_assert_eq(buyt_telemetry_decode(out, olen, &t), BUYT_REJECT_NONE);
    cr_assert_str_eq(t->vehicle_id, "29B-100");
    cr_assert_eq(t->boot_id, 42);
    cr_assert_eq(t->dropped_through_seq, 5);
    cr_assert_eq(t->n_records, 1);
    cr_assert_eq(t->records[0]->seq, 1000001);
    cr_assert_eq(t->records[0]->body_case, BUYT__V1__RECORD__BODY_CARD_TAP);
    cr_assert_arr_eq(t->records[0]->card_tap->card_id.data, card, 16);
    cr_assert_eq(t->records[0]->card_tap->position->lat_e7, 490265667);
    buyt_telemetry_free(t);
}

Test(frame, refuses_what_does_not_fit_or_is_empty, .init = make_records)
{
    uint8_t payload[512], out[64];
    size_t len, olen;
    cr_assert_eq(buyt_frame_record(&recs[0], payload, sizeof payload, &len), BUYT_REJECT_NONE);
    struct buyt_journal_rec jr = {.payload = payload, .len = (uint32_t)len};
    cr_assert_eq(buyt_frame_telemetry("29B-100", 1, 0, &jr, 0, out, sizeof out, &olen),
                 BUYT_EINVAL);
    cr_assert_eq(buyt_frame_telemetry("", 1, 0, &jr, 1, out, sizeof out, &olen), BUYT_EINVAL);
    cr_assert_eq(buyt_frame_telemetry("29B-100", 1, 0, &jr, 1, out, 10, &olen), BUYT_ERANGE);
    cr_assert_eq(buyt_frame_record(&recs[0], payload, 8, &len), BUYT_REJECT_OVERSIZE);
}

Test(frame, invalid_records_are_refused_with_the_contract_reason, .init = make_records)
{
    uint8_t payload[512];
    size_t len;
    fix.lat_e7 = 0;
    fix.lon_e7 = 0;
    cr_assert_eq(buyt_frame_record(&recs[0], payload, sizeof payload, &len), BUYT_REJECT_BAD_COORD);
    recs[2].seq = 0;
    cr_assert_eq(buyt_frame_record(&recs[2], payload, sizeof payload, &len), BUYT_REJECT_BAD_SEQ);
    tap.card_id.len = 15;
    cr_assert_eq(buyt_frame_record(&recs[1], payload, sizeof payload, &len),
                 BUYT_REJECT_BAD_CARD_ID);
}

Test(frame, an_old_record_is_still_encodable_its_age_is_the_engines_call, .init = make_records)
{
    uint8_t payload[512];
    size_t len;
    recs[0].time_ms = 1262304000000ULL; /* 2010: the engine will say time_past */
    cr_assert_eq(buyt_frame_record(&recs[0], payload, sizeof payload, &len), BUYT_REJECT_NONE);
}
