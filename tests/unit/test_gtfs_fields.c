/* GTFS field helpers (ingest/gtfs_fields.c): times, header lines, operator codes, zone names,
 * derived shape ids. The SQL twins are cross-checked in tests/integration/test_gtfs_import.c
 * against the same table of times (tests/fixtures/gtfs/time_cases.h). */
#include "error.h"
#include "gtfs_fields.h"
#include "../fixtures/gtfs/time_cases.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static int32_t secs_of(const char *s)
{
    int32_t v = 12345;
    const char *why = NULL;
    cr_assert_eq(buyt_gtfs_time_parse(s, &v, &why), 0, "\"%s\" refused: %s", s, why ? why : "?");
    return v;
}

static const char *reason_of(const char *s)
{
    int32_t v = 0;
    const char *why = NULL;
    cr_assert_eq(buyt_gtfs_time_parse(s, &v, &why), BUYT_EINVAL, "\"%s\" accepted", s);
    cr_assert_not_null(why);
    return why;
}

Test(gtfs_time, parses_times_past_midnight_of_the_service_day)
{
    cr_assert_eq(secs_of("25:10:00"), 90600);
    cr_assert_eq(secs_of("24:00:00"), 86400);
    cr_assert_eq(secs_of("47:59:59"), 172799);
    cr_assert_eq(secs_of("99:59:59"), 359999);
}

Test(gtfs_time, parses_one_or_two_hour_digits_and_surrounding_spaces)
{
    cr_assert_eq(secs_of("8:05:09"), 29109);
    cr_assert_eq(secs_of("08:05:09"), 29109);
    cr_assert_eq(secs_of(" 8:05:09 "), 29109);
    cr_assert_eq(secs_of("00:00:00"), 0);
    cr_assert_eq(secs_of("0:00:01"), 1);
}

Test(gtfs_time, blank_is_none_not_an_error)
{
    cr_assert_eq(secs_of(NULL), BUYT_GTFS_TIME_NONE);
    cr_assert_eq(secs_of(""), BUYT_GTFS_TIME_NONE);
    cr_assert_eq(secs_of("   "), BUYT_GTFS_TIME_NONE);
}

Test(gtfs_time, refuses_bad_times_with_a_reason)
{
    cr_assert_str_eq(reason_of("25:61:00"), "minutes out of range 00..59");
    cr_assert_str_eq(reason_of("10:00:60"), "seconds out of range 00..59");
    cr_assert_str_eq(reason_of("100:00:00"), "hours out of range 0..99");
    cr_assert_str_eq(reason_of("1:2:3"), "expected H:MM:SS");
    cr_assert_str_eq(reason_of("12:00"), "expected H:MM:SS");
    cr_assert_str_eq(reason_of("12:00:00:00"), "expected H:MM:SS");
    cr_assert_str_eq(reason_of("-1:00:00"), "expected H:MM:SS");
    cr_assert_str_eq(reason_of("12h00"), "expected H:MM:SS");
    cr_assert_str_eq(reason_of("\t08:00:00"), "expected H:MM:SS");
    cr_assert_str_eq(reason_of("08:00:00x"), "expected H:MM:SS");
}

Test(gtfs_time, a_bad_time_leaves_none_in_the_output)
{
    int32_t v = 5;
    cr_assert_eq(buyt_gtfs_time_parse("25:61:00", &v, NULL), BUYT_EINVAL);
    cr_assert_eq(v, BUYT_GTFS_TIME_NONE);
}

Test(gtfs_time, agrees_with_the_shared_case_table)
{
    for (size_t i = 0; i < sizeof gtfs_time_cases / sizeof gtfs_time_cases[0]; i++) {
        const struct gtfs_time_case *c = &gtfs_time_cases[i];
        int32_t v;
        int rc = buyt_gtfs_time_parse(c->text, &v, NULL);
        if (c->secs == GTFS_TIME_CASE_BAD) {
            cr_assert_eq(rc, BUYT_EINVAL, "\"%s\"", c->text);
        } else if (c->secs == GTFS_TIME_CASE_NONE) {
            cr_assert_eq(rc, 0, "\"%s\"", c->text);
            cr_assert_eq(v, BUYT_GTFS_TIME_NONE, "\"%s\"", c->text);
        } else {
            cr_assert_eq(rc, 0, "\"%s\"", c->text);
            cr_assert_eq(v, c->secs, "\"%s\": %d != %d", c->text, (int)v, (int)c->secs);
        }
    }
}

Test(gtfs_time, formats_back_with_hours_past_23)
{
    char t[BUYT_GTFS_TIME_TEXT_MAX];
    buyt_gtfs_time_format(90600, t);
    cr_assert_str_eq(t, "25:10:00");
    buyt_gtfs_time_format(29109, t);
    cr_assert_str_eq(t, "08:05:09");
    buyt_gtfs_time_format(BUYT_GTFS_TIME_NONE, t);
    cr_assert_str_eq(t, "");
}

static void header_ok(const char *line, struct buyt_gtfs_header *h)
{
    const char *why = NULL;
    int dup = 7;
    cr_assert_eq(buyt_gtfs_header_parse(line, strlen(line), h, &why, &dup), 0, "%s: %s", line,
                 why ? why : "?");
    cr_assert_eq(dup, -1);
}

Test(gtfs_header, splits_names_and_strips_bom_spaces_and_line_break)
{
    struct buyt_gtfs_header h;
    header_ok("\xEF\xBB\xBFstop_id, stop_name ,stop_lat,stop_lon\r\n", &h);
    cr_assert_eq(h.n, 4);
    cr_assert_str_eq(h.names[0], "stop_id");
    cr_assert_str_eq(h.names[1], "stop_name");
    cr_assert_str_eq(h.names[3], "stop_lon");
}

Test(gtfs_header, unquotes_quoted_names)
{
    struct buyt_gtfs_header h;
    header_ok("\"trip_id\",\"a,b\",\"say \"\"hi\"\"\"", &h);
    cr_assert_eq(h.n, 3);
    cr_assert_str_eq(h.names[0], "trip_id");
    cr_assert_str_eq(h.names[1], "a,b");
    cr_assert_str_eq(h.names[2], "say \"hi\"");
}

Test(gtfs_header, keeps_empty_names_from_a_trailing_comma)
{
    struct buyt_gtfs_header h;
    header_ok("route_id,route_type,", &h);
    cr_assert_eq(h.n, 3);
    cr_assert_str_eq(h.names[2], "");
    header_ok(",,x", &h); /* two empty names are not duplicates */
    cr_assert_eq(h.n, 3);
}

Test(gtfs_header, refuses_duplicates_and_says_which)
{
    struct buyt_gtfs_header h;
    const char *why = NULL;
    int dup = -1;
    const char *l = "stop_id,stop_name,stop_id";
    cr_assert_eq(buyt_gtfs_header_parse(l, strlen(l), &h, &why, &dup), BUYT_EINVAL);
    cr_assert_eq(dup, 2);
    cr_assert_str_eq(h.names[dup], "stop_id");
}

Test(gtfs_header, refuses_malformed_lines)
{
    struct buyt_gtfs_header h;
    const char *why = NULL;
    cr_assert_eq(buyt_gtfs_header_parse("", 0, &h, &why, NULL), BUYT_EINVAL);
    cr_assert_eq(buyt_gtfs_header_parse("\xEF\xBB\xBF\r\n", 5, &h, &why, NULL), BUYT_EINVAL);
    cr_assert_eq(buyt_gtfs_header_parse("\"a,b", 4, &h, &why, NULL), BUYT_EINVAL);
    cr_assert_str_eq(why, "unterminated quote");
    cr_assert_eq(buyt_gtfs_header_parse("a\"b,c", 5, &h, &why, NULL), BUYT_EINVAL);
    char longname[BUYT_GTFS_NAME_MAX + 2];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    cr_assert_eq(buyt_gtfs_header_parse(longname, strlen(longname), &h, &why, NULL), BUYT_EINVAL);
    cr_assert_str_eq(why, "column name too long");
}

Test(gtfs_header, refuses_too_many_columns)
{
    char line[BUYT_GTFS_HEADER_COLS_MAX * 5 + 8];
    size_t n = 0;
    for (int i = 0; i <= BUYT_GTFS_HEADER_COLS_MAX; i++)
        n += (size_t)snprintf(line + n, sizeof line - n, "%sc%d", i ? "," : "", i);
    struct buyt_gtfs_header h;
    const char *why = NULL;
    cr_assert_eq(buyt_gtfs_header_parse(line, n, &h, &why, NULL), BUYT_EINVAL);
    cr_assert_str_eq(why, "too many columns");
}

Test(gtfs_agency_code, accepts_topic_safe_codes_only)
{
    cr_assert(buyt_gtfs_agency_code_valid("hn"));
    cr_assert(buyt_gtfs_agency_code_valid("trimet-2018_v1.0"));
    cr_assert(!buyt_gtfs_agency_code_valid(""));
    cr_assert(!buyt_gtfs_agency_code_valid(NULL));
    cr_assert(!buyt_gtfs_agency_code_valid("a/b"));
    cr_assert(!buyt_gtfs_agency_code_valid("+"));
    cr_assert(!buyt_gtfs_agency_code_valid("#"));
    cr_assert(!buyt_gtfs_agency_code_valid("hà nội"));
    cr_assert(!buyt_gtfs_agency_code_valid("abcdefghijklmnopqrstuvwxyz0123456")); /* 33 */
    cr_assert(buyt_gtfs_agency_code_valid("abcdefghijklmnopqrstuvwxyz012345"));   /* 32 */
}

Test(gtfs_agency_code, derives_from_id_with_letters_else_name)
{
    char c[BUYT_GTFS_AGENCY_MAX];
    buyt_gtfs_agency_code_derive("TRIMET", "TriMet", c);
    cr_assert_str_eq(c, "trimet");
    buyt_gtfs_agency_code_derive("1", "Default Agency", c);
    cr_assert_str_eq(c, "default-agency");
    buyt_gtfs_agency_code_derive("", "Hà Nội", c);
    cr_assert_str_eq(c, "h-n-i");
    buyt_gtfs_agency_code_derive(NULL, "  --Bus & Co.-- ", c);
    cr_assert_str_eq(c, "bus-co");
    buyt_gtfs_agency_code_derive("", "", c);
    cr_assert_str_eq(c, "agency");
    buyt_gtfs_agency_code_derive(NULL, NULL, c);
    cr_assert_str_eq(c, "agency");
    buyt_gtfs_agency_code_derive(NULL, "A very long agency name that goes on and on", c);
    cr_assert(strlen(c) <= 32);
    cr_assert(buyt_gtfs_agency_code_valid(c), "%s", c);
    cr_assert_neq(c[strlen(c) - 1], '-');
}

Test(gtfs_timezone, plausible_names_pass_the_syntax_check)
{
    cr_assert(buyt_gtfs_timezone_plausible("Asia/Ho_Chi_Minh"));
    cr_assert(buyt_gtfs_timezone_plausible("UTC"));
    cr_assert(buyt_gtfs_timezone_plausible("America/Argentina/Buenos_Aires"));
    cr_assert(buyt_gtfs_timezone_plausible("Etc/GMT+7"));
    cr_assert(!buyt_gtfs_timezone_plausible(""));
    cr_assert(!buyt_gtfs_timezone_plausible(NULL));
    cr_assert(!buyt_gtfs_timezone_plausible("/etc/passwd"));
    cr_assert(!buyt_gtfs_timezone_plausible("Asia/../../x"));
    cr_assert(!buyt_gtfs_timezone_plausible("Asia/Ho Chi Minh"));
    cr_assert(!buyt_gtfs_timezone_plausible("UTC'; --"));
}

Test(gtfs_derived_shape, id_is_md5_of_the_length_prefixed_stop_pattern)
{
    char id[BUYT_GTFS_DERIVED_ID_MAX];
    const char *a[] = {"BH", "GHN", "GB"}; /* md5("2:BH,3:GHN,2:GB") */
    cr_assert_eq(buyt_gtfs_derived_shape_id(a, 3, id), 0);
    cr_assert_str_eq(id, "buyt:derived:46e69962e8ad5038");
    const char *one[] = {"a"};
    cr_assert_eq(buyt_gtfs_derived_shape_id(one, 1, id), 0);
    cr_assert_str_eq(id, "buyt:derived:2c1119fadf9f513c");
    const char *utf8[] = {"S1", "B\xe1\xba\xbfn"}; /* "Bến": 5 bytes */
    cr_assert_eq(buyt_gtfs_derived_shape_id(utf8, 2, id), 0);
    cr_assert_str_eq(id, "buyt:derived:f73d9956060950db");
}

Test(gtfs_derived_shape, length_prefix_keeps_patterns_with_commas_apart)
{
    char x[BUYT_GTFS_DERIVED_ID_MAX], y[BUYT_GTFS_DERIVED_ID_MAX];
    const char *a[] = {"a,b", "c"};
    const char *b[] = {"a", "b,c"};
    cr_assert_eq(buyt_gtfs_derived_shape_id(a, 2, x), 0);
    cr_assert_eq(buyt_gtfs_derived_shape_id(b, 2, y), 0);
    cr_assert_str_eq(x, "buyt:derived:0e9adbea8f69e19e");
    cr_assert_str_eq(y, "buyt:derived:f4c3c9b79e3cd537");
}

Test(gtfs_derived_shape, refuses_an_empty_pattern)
{
    char id[BUYT_GTFS_DERIVED_ID_MAX];
    const char *bad[] = {"a", NULL};
    cr_assert_eq(buyt_gtfs_derived_shape_id(bad, 0, id), BUYT_EINVAL);
    cr_assert_eq(buyt_gtfs_derived_shape_id(bad, 2, id), BUYT_EINVAL);
}
