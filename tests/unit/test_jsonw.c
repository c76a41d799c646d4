/* The JSON writer: structure, numbers, and above all escaping — whatever bytes a GTFS feed or a
 * device puts in a string, the output is valid JSON and valid UTF-8 (checked with jansson,
 * which rejects invalid UTF-8 on load). */
#include "jsonw.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The writer's output for one string value, NUL-terminated (static buffer). */
static const char *esc(const char *s, size_t n)
{
    static struct buyt_jsonw w;
    buyt_jsonw_close(&w);
    buyt_jsonw_init(&w);
    buyt_jsonw_str_n(&w, s, n);
    cr_assert(!w.oom);
    return buyt_jsonw_cstr(&w);
}

/* Parses a JSON string literal with jansson and returns its value (caller frees). */
static char *parse_str(const char *json, size_t *len)
{
    json_error_t err;
    json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    cr_assert_not_null(v, "jansson refused %s: %s", json, err.text);
    cr_assert(json_is_string(v));
    *len = json_string_length(v);
    char *out = malloc(*len + 1);
    memcpy(out, json_string_value(v), *len + 1);
    json_decref(v);
    return out;
}

Test(jsonw, escapes_quote_backslash_and_every_control_character)
{
    cr_assert_str_eq(esc("a\"b\\c/d", 7), "\"a\\\"b\\\\c/d\"");
    cr_assert_str_eq(esc("\b\f\n\r\t", 5), "\"\\b\\f\\n\\r\\t\"");
    for (int c = 0; c < 0x20; c++) {
        char in[1] = {(char)c};
        const char *out = esc(in, 1);
        if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
            continue;
        char want[16];
        snprintf(want, sizeof want, "\"\\u%04x\"", c);
        cr_assert_str_eq(out, want, "byte 0x%02x", c);
    }
    /* DEL is not a JSON control character: kept. */
    cr_assert_str_eq(esc("\x7f", 1), "\"\x7f\"");
}

Test(jsonw, nul_inside_a_counted_string_is_escaped_not_truncated)
{
    cr_assert_str_eq(esc("a\0b", 3), "\"a\\u0000b\"");
    size_t n;
    char *v = parse_str(esc("a\0b", 3), &n);
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(v, "a\0b", 3), 0);
    free(v);
}

Test(jsonw, keeps_vietnamese_and_other_valid_utf8_byte_for_byte)
{
    const char *vi = "Bến xe Giáp Bát – Hồ Hoàn Kiếm, Đống Đa, quận Hai Bà Trưng ₫ 😀 中";
    const char *out = esc(vi, strlen(vi));
    cr_assert_eq(strlen(out), strlen(vi) + 2);
    cr_assert_eq(memcmp(out + 1, vi, strlen(vi)), 0);
    size_t n;
    char *v = parse_str(out, &n);
    cr_assert_str_eq(v, vi);
    free(v);
    /* Combining marks (NFD "ế" = e + U+0302 + U+0301) pass unchanged too. */
    const char *nfd = "Be\xCC\x82\xCC\x81n";
    cr_assert_str_eq(esc(nfd, strlen(nfd)), "\"Be\xCC\x82\xCC\x81n\"");
}

Test(jsonw, escapes_line_and_paragraph_separators_for_javascript)
{
    cr_assert_str_eq(esc("a\xE2\x80\xA8"
                         "b\xE2\x80\xA9",
                         8),
                     "\"a\\u2028b\\u2029\"");
    /* Their neighbour U+2027 is left alone. */
    cr_assert_str_eq(esc("\xE2\x80\xA7", 3), "\"\xE2\x80\xA7\"");
}

#define FFFD "\xEF\xBF\xBD"

Test(jsonw, replaces_each_maximal_ill_formed_subpart_by_one_fffd)
{
    /* The example of Unicode 15, section 3.9 (Table 3-8). */
    const char in[] = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
    cr_assert_str_eq(esc(in, sizeof in - 1), "\"a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d\"");
}

Test(jsonw, rejects_overlongs_surrogates_and_code_points_above_10ffff)
{
    struct {
        const char *in, *want;
    } cases[] = {
        {"\xC0\xAF", "\"" FFFD FFFD "\""},                   /* overlong '/' */
        {"\xC1\xBF", "\"" FFFD FFFD "\""},                   /* overlong */
        {"\xE0\x80\xAF", "\"" FFFD FFFD FFFD "\""},          /* overlong, 3 bytes */
        {"\xF0\x80\x80\xAF", "\"" FFFD FFFD FFFD FFFD "\""}, /* overlong, 4 bytes */
        {"\xED\xA0\x80", "\"" FFFD FFFD FFFD "\""},          /* U+D800, a surrogate */
        {"\xED\xBF\xBF", "\"" FFFD FFFD FFFD "\""},          /* U+DFFF */
        {"\xF4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\""}, /* U+110000 */
        {"\xF5\x80", "\"" FFFD FFFD "\""},                   /* F5 never appears */
        {"\xFF", "\"" FFFD "\""},
        {"\x80", "\"" FFFD "\""},                     /* stray continuation */
        {"abc\xE1\x80", "\"abc" FFFD "\""},           /* truncated at the end */
        {"\xF0\x9F\x98", "\"" FFFD "\""},             /* truncated emoji */
        {"\xED\x9F\xBF", "\"\xED\x9F\xBF\""},         /* U+D7FF: valid */
        {"\xF4\x8F\xBF\xBF", "\"\xF4\x8F\xBF\xBF\""}, /* U+10FFFF: valid */
        {"\xEF\xBF\xBD", "\"" FFFD "\""},             /* U+FFFD itself */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_str_eq(esc(cases[i].in, strlen(cases[i].in)), cases[i].want, "case %zu", i);
}

Test(jsonw, random_bytes_always_give_valid_json_and_utf8)
{
    uint32_t x = 2463534242u;
    char buf[64];
    for (int it = 0; it < 20000; it++) {
        size_t n = (size_t)(it % 63) + 1;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            /* Bias towards the interesting bytes: controls, quotes, lead/continuation bytes. */
            static const uint8_t pick[] = {0x00, 0x1f, '"',  '\\', 'a',  0x7f, 0x80, 0xbf,
                                           0xc2, 0xe0, 0xe2, 0xed, 0xf0, 0xf4, 0xf5, 0xff};
            buf[i] = (char)((x & 0x100) ? pick[x & 15] : (uint8_t)(x >> 24));
        }
        size_t len;
        char *v = parse_str(esc(buf, n), &len);
        free(v);
    }
}

Test(jsonw, places_commas_and_colons_in_nested_structures)
{
    struct buyt_jsonw w;
    buyt_jsonw_init(&w);
    buyt_jsonw_obj_begin(&w);
    buyt_jsonw_kstr(&w, "a", "x");
    buyt_jsonw_key(&w, "b");
    buyt_jsonw_arr_begin(&w);
    buyt_jsonw_int(&w, 1);
    buyt_jsonw_arr_begin(&w);
    buyt_jsonw_arr_end(&w);
    buyt_jsonw_obj_begin(&w);
    buyt_jsonw_obj_end(&w);
    buyt_jsonw_null(&w);
    buyt_jsonw_arr_end(&w);
    buyt_jsonw_key(&w, "c\"");
    buyt_jsonw_obj_begin(&w);
    buyt_jsonw_kbool(&w, "t", true);
    buyt_jsonw_kbool(&w, "f", false);
    buyt_jsonw_obj_end(&w);
    buyt_jsonw_key(&w, "d");
    buyt_jsonw_json(&w, "[1,2]", 5);
    buyt_jsonw_obj_end(&w);
    cr_assert_str_eq(buyt_jsonw_cstr(&w),
                     "{\"a\":\"x\",\"b\":[1,[],{},null],\"c\\\"\":{\"t\":true,\"f\":false},"
                     "\"d\":[1,2]}");
    /* A reset writer starts a new document. */
    buyt_jsonw_reset(&w);
    buyt_jsonw_arr_begin(&w);
    buyt_jsonw_str(&w, NULL);
    buyt_jsonw_str(&w, "");
    buyt_jsonw_arr_end(&w);
    cr_assert_str_eq(buyt_jsonw_cstr(&w), "[null,\"\"]");
    buyt_jsonw_close(&w);
}

Test(jsonw, writes_integers_at_their_limits)
{
    struct buyt_jsonw w;
    buyt_jsonw_init(&w);
    buyt_jsonw_arr_begin(&w);
    buyt_jsonw_int(&w, INT64_MIN);
    buyt_jsonw_int(&w, INT64_MAX);
    buyt_jsonw_int(&w, 0);
    buyt_jsonw_int(&w, -7);
    buyt_jsonw_uint(&w, UINT64_MAX);
    buyt_jsonw_arr_end(&w);
    cr_assert_str_eq(buyt_jsonw_cstr(&w), "[-9223372036854775808,9223372036854775807,0,-7,"
                                          "18446744073709551615]");
    buyt_jsonw_close(&w);
}

Test(jsonw, fixed_decimals_round_trim_and_never_write_minus_zero)
{
    struct {
        double v;
        int d;
        const char *want;
    } cases[] = {
        {21.0287, 7, "21.0287"},   {105.8522, 7, "105.8522"},
        {-0.5, 2, "-0.5"},         {3.0, 7, "3"},
        {-0.0000001, 2, "0"},      {0.125, 2, "0.13"},
        {1.999999, 3, "2"},        {-21.0287123, 7, "-21.0287123"},
        {123456.789, 0, "123457"}, {0, 7, "0"},
        {1e20, 2, "1e+20"},        {NAN, 3, "null"},
        {INFINITY, 3, "null"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct buyt_jsonw w;
        buyt_jsonw_init(&w);
        buyt_jsonw_fixed(&w, cases[i].v, cases[i].d);
        cr_assert_str_eq(buyt_jsonw_cstr(&w), cases[i].want, "case %zu", i);
        buyt_jsonw_close(&w);
    }
}

Test(jsonw, doubles_read_back_exactly)
{
    double vals[] = {0.1, 1.0 / 3, 6.02214076e23, -2.5e-300, 21.0287, 1e15 + 0.3};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        struct buyt_jsonw w;
        buyt_jsonw_init(&w);
        buyt_jsonw_double(&w, vals[i]);
        cr_assert_eq(strtod(buyt_jsonw_cstr(&w), NULL), vals[i], "%s", buyt_jsonw_cstr(&w));
        buyt_jsonw_close(&w);
    }
    struct buyt_jsonw w;
    buyt_jsonw_init(&w);
    buyt_jsonw_double(&w, NAN);
    cr_assert_str_eq(buyt_jsonw_cstr(&w), "null");
    buyt_jsonw_close(&w);
}

Test(jsonw, long_strings_and_formatted_text_grow_the_buffer)
{
    size_t n = 100000;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i % 7 == 0 ? '\n' : 'a' + i % 26);
    struct buyt_jsonw w;
    buyt_jsonw_init(&w);
    buyt_jsonw_str_n(&w, big, n);
    size_t len;
    char *v = parse_str(buyt_jsonw_cstr(&w), &len);
    cr_assert_eq(len, n);
    cr_assert_eq(memcmp(v, big, n), 0);
    free(v);
    buyt_jsonw_reset(&w);
    buyt_jsonw_printf(&w, "%s|%d", "x", 5);
    buyt_jsonw_printf(&w, "%.*s", 1000, big);
    cr_assert_eq(buyt_jsonw_len(&w), 3 + 1000);
    buyt_jsonw_close(&w);
    free(big);
}
