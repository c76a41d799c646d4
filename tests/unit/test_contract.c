/* Contract API: every producer and consumer validates the same way. */
#include "contract.h"

#include <criterion/criterion.h>
#include <string.h>

#define NOW_MS 1795000000000LL /* 2026-11-18 */

static Buyt__V1__Fix fix;
static Buyt__V1__Record rec;
static Buyt__V1__Record *recs[1];
static Buyt__V1__Telemetry tm;

static void setup(void)
{
    buyt__v1__fix__init(&fix);
    fix.lat_e7 = 210287000;
    fix.lon_e7 = 1058522000;
    fix.quality = BUYT__V1__FIX_QUALITY__FIX_QUALITY_GPS;
    buyt__v1__record__init(&rec);
    rec.seq = 42;
    rec.time_ms = NOW_MS;
    rec.body_case = BUYT__V1__RECORD__BODY_FIX;
    rec.fix = &fix;
    recs[0] = &rec;
    buyt__v1__telemetry__init(&tm);
    tm.vehicle_id = "29B-100";
    tm.n_records = 1;
    tm.records = recs;
}

TestSuite(contract, .init = setup);

Test(contract, round_trips_a_valid_fix)
{
    uint8_t buf[256];
    size_t len = 0;
    cr_assert_eq(buyt_telemetry_encode(&tm, NOW_MS, buf, sizeof buf, &len), BUYT_REJECT_NONE);
    Buyt__V1__Telemetry *out;
    cr_assert_eq(buyt_telemetry_decode(buf, len, &out), BUYT_REJECT_NONE);
    cr_assert_str_eq(out->vehicle_id, "29B-100");
    cr_assert_eq(out->n_records, 1);
    cr_assert_eq(out->records[0]->seq, 42);
    cr_assert_eq(out->records[0]->fix->lat_e7, 210287000);
    cr_assert_eq(out->records[0]->fix->lon_e7, 1058522000);
    cr_assert_eq(buyt_contract_check_record(out->records[0], NOW_MS), BUYT_REJECT_NONE);
    buyt_telemetry_free(out);
}

Test(contract, rejects_truncated_payload)
{
    uint8_t buf[256];
    size_t len = 0;
    cr_assert_eq(buyt_telemetry_encode(&tm, NOW_MS, buf, sizeof buf, &len), BUYT_REJECT_NONE);
    Buyt__V1__Telemetry *out = (void *)1;
    cr_assert_eq(buyt_telemetry_decode(buf, len - 3, &out), BUYT_REJECT_TRUNCATED);
    cr_assert_null(out);
}

Test(contract, rejects_garbage_payload)
{
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x0f};
    Buyt__V1__Telemetry *out;
    cr_assert_eq(buyt_telemetry_decode(junk, sizeof junk, &out), BUYT_REJECT_TRUNCATED);
}

Test(contract, rejects_oversize_payload_before_decoding)
{
    static uint8_t big[BUYT_CONTRACT_MAX_MSG_BYTES + 1];
    Buyt__V1__Telemetry *out;
    cr_assert_eq(buyt_telemetry_decode(big, sizeof big, &out), BUYT_REJECT_OVERSIZE);
}

Test(contract, rejects_out_of_range_coordinates)
{
    fix.lat_e7 = 900000001;
    cr_assert_eq(buyt_contract_check_record(&rec, NOW_MS), BUYT_REJECT_BAD_COORD);
    fix.lat_e7 = 210287000;
    fix.lon_e7 = -1800000001;
    cr_assert_eq(buyt_contract_check_record(&rec, NOW_MS), BUYT_REJECT_BAD_COORD);
}

Test(contract, rejects_null_island_but_not_a_no_fix)
{
    fix.lat_e7 = 0;
    fix.lon_e7 = 0;
    cr_assert_eq(buyt_contract_check_fix(&fix), BUYT_REJECT_BAD_COORD);
    fix.quality = BUYT__V1__FIX_QUALITY__FIX_QUALITY_NONE;
    cr_assert_eq(buyt_contract_check_fix(&fix), BUYT_REJECT_NONE);
}

Test(contract, rejects_time_far_from_receive_time)
{
    rec.time_ms = NOW_MS + BUYT_CONTRACT_MAX_FUTURE_MS + 1;
    cr_assert_eq(buyt_contract_check_record(&rec, NOW_MS), BUYT_REJECT_TIME_FUTURE);
    rec.time_ms = NOW_MS - BUYT_CONTRACT_MAX_PAST_MS - 1;
    cr_assert_eq(buyt_contract_check_record(&rec, NOW_MS), BUYT_REJECT_TIME_PAST);
    /* A day-old record from a journal replay is fine. */
    rec.time_ms = NOW_MS - 24LL * 3600 * 1000;
    cr_assert_eq(buyt_contract_check_record(&rec, NOW_MS), BUYT_REJECT_NONE);
}

Test(contract, rejects_unknown_enum_values)
{
    fix.quality = 99;
    cr_assert_eq(buyt_contract_check_fix(&fix), BUYT_REJECT_UNKNOWN_ENUM);
    fix.quality = BUYT__V1__FIX_QUALITY__FIX_QUALITY_UNSPECIFIED;
    cr_assert_eq(buyt_contract_check_fix(&fix), BUYT_REJECT_UNKNOWN_ENUM);
}

Test(contract, survives_unknown_enum_on_the_wire)
{
    fix.quality = 77; /* a newer producer's value: decodes (proto3 open enum), then rejected */
    uint8_t buf[256];
    size_t len = buyt__v1__telemetry__pack(&tm, buf);
    Buyt__V1__Telemetry *out;
    cr_assert_eq(buyt_telemetry_decode(buf, len, &out), BUYT_REJECT_NONE);
    cr_assert_eq(buyt_contract_check_record(out->records[0], NOW_MS), BUYT_REJECT_UNKNOWN_ENUM);
    buyt_telemetry_free(out);
}

Test(contract, rejects_values_out_of_documented_range_only_when_present)
{
    fix.speed_cms = 20000;
    cr_assert_eq(buyt_contract_check_fix(&fix), BUYT_REJECT_NONE, "speed not flagged present");
    fix.fields = BUYT__V1__FIX_FIELD__FIX_FIELD_SPEED;
    cr_assert_eq(buyt_contract_check_fix(&fix), BUYT_REJECT_BAD_VALUE);
    fix.speed_cms = 1000;
    fix.course_cdeg = 36000;
    fix.fields |= BUYT__V1__FIX_FIELD__FIX_FIELD_COURSE;
    cr_assert_eq(buyt_contract_check_fix(&fix), BUYT_REJECT_BAD_VALUE);
    fix.course_cdeg = 35999;
    cr_assert_eq(buyt_contract_check_fix(&fix), BUYT_REJECT_NONE);
}

Test(contract, rejects_seq_zero_and_empty_record)
{
    rec.seq = 0;
    cr_assert_eq(buyt_contract_check_record(&rec, NOW_MS), BUYT_REJECT_BAD_SEQ);
    rec.seq = 1;
    rec.body_case = BUYT__V1__RECORD__BODY__NOT_SET;
    cr_assert_eq(buyt_contract_check_record(&rec, NOW_MS), BUYT_REJECT_EMPTY);
}

Test(contract, rejects_bad_vehicle_ids_and_empty_messages)
{
    uint8_t buf[256];
    size_t len;
    tm.vehicle_id = "";
    cr_assert_eq(buyt_telemetry_encode(&tm, NOW_MS, buf, sizeof buf, &len),
                 BUYT_REJECT_BAD_VEHICLE_ID);
    tm.vehicle_id = "bus/1";
    cr_assert_eq(buyt_contract_check_vehicle_id(tm.vehicle_id), BUYT_REJECT_BAD_VEHICLE_ID);
    tm.vehicle_id = "29B-100";
    tm.n_records = 0;
    cr_assert_eq(buyt_telemetry_encode(&tm, NOW_MS, buf, sizeof buf, &len), BUYT_REJECT_EMPTY);
}

Test(contract, card_tap_needs_16_byte_card_id)
{
    uint8_t id[16] = {1, 2, 3};
    Buyt__V1__CardTap tap = BUYT__V1__CARD_TAP__INIT;
    tap.role = BUYT__V1__READER_ROLE__READER_ROLE_PASSENGER;
    tap.card_id.data = id;
    tap.card_id.len = 15;
    rec.body_case = BUYT__V1__RECORD__BODY_CARD_TAP;
    rec.card_tap = &tap;
    cr_assert_eq(buyt_contract_check_record(&rec, NOW_MS), BUYT_REJECT_BAD_CARD_ID);
    tap.card_id.len = 16;
    cr_assert_eq(buyt_contract_check_record(&rec, NOW_MS), BUYT_REJECT_NONE);
}

Test(contract, encode_refuses_buffer_too_small)
{
    uint8_t buf[8];
    size_t len;
    cr_assert_eq(buyt_telemetry_encode(&tm, NOW_MS, buf, sizeof buf, &len), BUYT_REJECT_OVERSIZE);
}

Test(contract, reject_names_are_stable)
{
    cr_assert_str_eq(buyt_reject_name(BUYT_REJECT_TRUNCATED), "truncated");
    cr_assert_str_eq(buyt_reject_name(BUYT_REJECT_TIME_FUTURE), "time_future");
    cr_assert_str_eq(buyt_reject_name(BUYT_REJECT_UNKNOWN_VEHICLE), "unknown_vehicle");
    for (int r = 0; r < BUYT_REJECT__COUNT; r++)
        cr_assert_not_null(buyt_reject_name(r), "reason %d has no name", r);
    cr_assert_str_eq(buyt_reject_name(BUYT_REJECT__COUNT), "invalid_reason");
}
