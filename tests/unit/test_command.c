/* Commands: every payload gets a reply status, never a crash. */
#include "command.h"

#include "buyt/v1/buyt.pb-c.h"
#include "contract.h"
#include "error.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static struct buyt_report_config current;
static struct buyt_command cmd;
static char detail[BUYT_COMMAND_DETAIL_MAX];

static void init(void)
{
    buyt_report_config_init(&current);
}

static enum buyt_command_status parse_msg(const Buyt__V1__Command *c)
{
    uint8_t *buf;
    size_t len;
    cr_assert_eq(buyt_contract_pack(&c->base, &buf, &len), 0);
    enum buyt_command_status st =
        buyt_command_parse(buf, len, &current, &cmd, detail, sizeof detail);
    free(buf);
    return st;
}

Test(command, garbage_is_malformed_with_id_0, .init = init)
{
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    cr_assert_eq(buyt_command_parse(junk, sizeof junk, &current, &cmd, detail, sizeof detail),
                 BUYT_COMMAND_MALFORMED);
    cr_assert_eq(cmd.id, 0);
    cr_assert_eq(cmd.kind, BUYT_COMMAND_NONE);
    cr_assert_str_eq(detail, "payload is not a buyt.v1.Command");
}

Test(command, truncated_payload_is_malformed, .init = init)
{
    /* command_id = 5, then a length-delimited field claiming 10 bytes with 1 present. */
    const uint8_t cut[] = {0x08, 0x05, 0x52, 0x0a, 0x08};
    cr_assert_eq(buyt_command_parse(cut, sizeof cut, &current, &cmd, detail, sizeof detail),
                 BUYT_COMMAND_MALFORMED);
}

Test(command, oversized_payload_is_malformed, .init = init)
{
    static uint8_t big[BUYT_COMMAND_MAX_BYTES + 1];
    cr_assert_eq(buyt_command_parse(big, sizeof big, &current, &cmd, detail, sizeof detail),
                 BUYT_COMMAND_MALFORMED);
    cr_assert_str_eq(detail, "payload larger than 4096 bytes");
}

Test(command, empty_payload_is_a_command_without_body_hence_unknown, .init = init)
{
    cr_assert_eq(buyt_command_parse("", 0, &current, &cmd, detail, sizeof detail),
                 BUYT_COMMAND_UNKNOWN);
}

Test(command, body_from_a_newer_contract_is_unknown_and_keeps_the_id, .init = init)
{
    /* command_id = 77, then field 20 (not in buyt.v1.Command) as a varint. */
    const uint8_t newer[] = {0x08, 77, 0xa0, 0x01, 0x01};
    cr_assert_eq(buyt_command_parse(newer, sizeof newer, &current, &cmd, detail, sizeof detail),
                 BUYT_COMMAND_UNKNOWN);
    cr_assert_eq(cmd.id, 77);
    cr_assert_str_eq(detail, "no command body this agent knows");
}

Test(command, set_reporting_in_range_is_ok, .init = init)
{
    Buyt__V1__SetReporting s = BUYT__V1__SET_REPORTING__INIT;
    s.moving_interval_ms = 2000;
    s.standing_interval_ms = 60000;
    s.heading_change_cdeg = 3000;
    Buyt__V1__Command c = BUYT__V1__COMMAND__INIT;
    c.command_id = 9;
    c.body_case = BUYT__V1__COMMAND__BODY_SET_REPORTING;
    c.set_reporting = &s;
    cr_assert_eq(parse_msg(&c), BUYT_COMMAND_OK);
    cr_assert_eq(cmd.id, 9);
    cr_assert_eq(cmd.kind, BUYT_COMMAND_SET_REPORTING);
    cr_assert_eq(cmd.reporting.moving_interval_ms, 2000);
    cr_assert_eq(cmd.reporting.standing_interval_ms, 60000);
    cr_assert_eq(cmd.reporting.heading_change_cdeg, 3000);
    cr_assert_eq(cmd.reporting.moving_speed_cms, current.moving_speed_cms);
    cr_assert_str_eq(detail, "");
}

Test(command, set_reporting_heading_0_means_the_default, .init = init)
{
    current.heading_change_cdeg = 4500;
    Buyt__V1__SetReporting s = BUYT__V1__SET_REPORTING__INIT;
    s.moving_interval_ms = 1000;
    s.standing_interval_ms = 30000;
    Buyt__V1__Command c = BUYT__V1__COMMAND__INIT;
    c.body_case = BUYT__V1__COMMAND__BODY_SET_REPORTING;
    c.set_reporting = &s;
    cr_assert_eq(parse_msg(&c), BUYT_COMMAND_OK);
    cr_assert_eq(cmd.reporting.heading_change_cdeg, BUYT_REPORT_HEADING_CHANGE_CDEG_DEFAULT);
}

Test(command, set_reporting_out_of_range_is_invalid_with_the_reason, .init = init)
{
    Buyt__V1__SetReporting s = BUYT__V1__SET_REPORTING__INIT;
    s.moving_interval_ms = 100;
    s.standing_interval_ms = 30000;
    Buyt__V1__Command c = BUYT__V1__COMMAND__INIT;
    c.command_id = 10;
    c.body_case = BUYT__V1__COMMAND__BODY_SET_REPORTING;
    c.set_reporting = &s;
    cr_assert_eq(parse_msg(&c), BUYT_COMMAND_INVALID);
    cr_assert_eq(cmd.id, 10);
    cr_assert_eq(cmd.kind, BUYT_COMMAND_NONE);
    cr_assert_str_eq(detail, "moving interval out of range (200 ms..60 s)");
    s.moving_interval_ms = 1000;
    s.standing_interval_ms = 0; /* all-zero SetReporting: not "keep", invalid */
    cr_assert_eq(parse_msg(&c), BUYT_COMMAND_INVALID);
    cr_assert_str_eq(detail, "standing interval out of range (1 s..10 min)");
    s.standing_interval_ms = 30000;
    s.heading_change_cdeg = 18001;
    cr_assert_eq(parse_msg(&c), BUYT_COMMAND_INVALID);
}

Test(command, assignment_is_copied, .init = init)
{
    Buyt__V1__Assignment a = BUYT__V1__ASSIGNMENT__INIT;
    a.route_id = "32";
    a.trip_id = "32_1_0715";
    a.run_id = "R12";
    a.driver_id = "D001";
    Buyt__V1__Command c = BUYT__V1__COMMAND__INIT;
    c.command_id = 11;
    c.body_case = BUYT__V1__COMMAND__BODY_ASSIGNMENT;
    c.assignment = &a;
    cr_assert_eq(parse_msg(&c), BUYT_COMMAND_OK);
    cr_assert_eq(cmd.kind, BUYT_COMMAND_ASSIGNMENT);
    cr_assert_str_eq(cmd.assignment.route_id, "32");
    cr_assert_str_eq(cmd.assignment.trip_id, "32_1_0715");
    cr_assert_str_eq(cmd.assignment.run_id, "R12");
    cr_assert_str_eq(cmd.assignment.driver_id, "D001");
}

Test(command, assignment_with_an_overlong_or_control_field_is_invalid, .init = init)
{
    char longest[66];
    memset(longest, 'x', 65);
    longest[65] = '\0';
    Buyt__V1__Assignment a = BUYT__V1__ASSIGNMENT__INIT;
    a.trip_id = longest;
    Buyt__V1__Command c = BUYT__V1__COMMAND__INIT;
    c.body_case = BUYT__V1__COMMAND__BODY_ASSIGNMENT;
    c.assignment = &a;
    cr_assert_eq(parse_msg(&c), BUYT_COMMAND_INVALID);
    cr_assert_str_eq(detail, "trip_id longer than 64 bytes or has control characters");
    longest[64] = '\0'; /* exactly 64: fine */
    cr_assert_eq(parse_msg(&c), BUYT_COMMAND_OK);
    a.driver_id = "D\n1";
    cr_assert_eq(parse_msg(&c), BUYT_COMMAND_INVALID);
}

Test(command, health_request_is_ok, .init = init)
{
    Buyt__V1__HealthRequest h = BUYT__V1__HEALTH_REQUEST__INIT;
    Buyt__V1__Command c = BUYT__V1__COMMAND__INIT;
    c.command_id = 12;
    c.body_case = BUYT__V1__COMMAND__BODY_HEALTH_REQUEST;
    c.health_request = &h;
    cr_assert_eq(parse_msg(&c), BUYT_COMMAND_OK);
    cr_assert_eq(cmd.kind, BUYT_COMMAND_HEALTH_REQUEST);
}

Test(command, reply_round_trips)
{
    uint8_t buf[BUYT_COMMAND_DETAIL_MAX + 32];
    size_t len;
    cr_assert_eq(buyt_command_reply_pack(13, BUYT_COMMAND_INVALID, "why", buf, sizeof buf, &len),
                 0);
    Buyt__V1__CommandReply *r = buyt__v1__command_reply__unpack(NULL, len, buf);
    cr_assert_not_null(r);
    cr_assert_eq(r->command_id, 13);
    cr_assert_eq(r->status, BUYT__V1__COMMAND_STATUS__COMMAND_STATUS_INVALID);
    cr_assert_str_eq(r->detail, "why");
    buyt__v1__command_reply__free_unpacked(r, NULL);
    cr_assert_eq(buyt_command_reply_pack(13, BUYT_COMMAND_OK, "", buf, 2, &len), BUYT_ERANGE);
    cr_assert_str_eq(buyt_command_status_name(BUYT_COMMAND_MALFORMED), "malformed");
}
