/* Request parsing without a server: query strings, percent-decoding, Accept-Encoding,
 * If-None-Match, and the API's number and time parameters. */
#include "api.h"
#include "error.h"
#include "http.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static const char *find(const char *q, const char *name)
{
    static char out[256];
    const char *v;
    size_t n;
    if (!buyt_http_query_find(q, strlen(q), name, &v, &n))
        return NULL;
    memcpy(out, v, n);
    out[n] = '\0';
    return out;
}

Test(http_params, query_lookup_takes_the_first_exact_name)
{
    const char *q = "latitude=1&lat=21.03&lon=105.8&lat=99&flag&empty=";
    cr_assert_str_eq(find(q, "lat"), "21.03");
    cr_assert_str_eq(find(q, "latitude"), "1");
    cr_assert_str_eq(find(q, "lon"), "105.8");
    cr_assert_str_eq(find(q, "flag"), "");
    cr_assert_str_eq(find(q, "empty"), "");
    cr_assert_null(find(q, "la"));
    cr_assert_null(find(q, "radius"));
    cr_assert_null(find("", "lat"));
    cr_assert_str_eq(find("&&lat=1&", "lat"), "1");
}

Test(http_params, percent_decoding_and_plus)
{
    char out[64];
    cr_assert_eq(buyt_http_unescape("%41%62+c", 8, true, out), 4);
    cr_assert_str_eq(out, "Ab c");
    cr_assert_eq(buyt_http_unescape("a+b", 3, false, out), 3);
    cr_assert_str_eq(out, "a+b");
    /* UTF-8 in a stop id: "Bến" */
    cr_assert_eq(buyt_http_unescape("B%E1%BA%BFn", 11, false, out), 5);
    cr_assert_str_eq(out, "B\xE1\xBA\xBFn");
    cr_assert_eq(buyt_http_unescape("%4", 2, true, out), BUYT_EINVAL);
    cr_assert_eq(buyt_http_unescape("%", 1, true, out), BUYT_EINVAL);
    cr_assert_eq(buyt_http_unescape("%zz", 3, true, out), BUYT_EINVAL);
    cr_assert_eq(buyt_http_unescape("a%00b", 5, true, out), BUYT_EINVAL, "a decoded NUL");
    cr_assert_eq(buyt_http_unescape("", 0, true, out), 0);
    cr_assert_str_eq(out, "");
}

Test(http_params, accept_encoding_allows_gzip_unless_q_is_zero)
{
    struct {
        const char *h;
        bool want;
    } cases[] = {
        {"gzip", true},
        {"GZip", true},
        {"x-gzip", true},
        {"deflate, gzip;q=0.5", true},
        {"gzip, deflate, br", true},
        {"gzip;q=0", false},
        {"gzip; q=0.000", false},
        {"gzip;q=0.001", true},
        {"*", true},
        {"*;q=0", false},
        {"br, *;q=0.1", true},
        {"gzip;q=0, *", false},
        {"identity", false},
        {"", false},
        {"gzipx", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_eq(buyt_http_accepts_gzip(cases[i].h, strlen(cases[i].h)), cases[i].want, "'%s'",
                     cases[i].h);
}

Test(http_params, if_none_match_compares_weakly)
{
    const char *tag = "d89cfefa1f5d244a";
    struct {
        const char *h;
        bool want;
    } cases[] = {
        {"\"d89cfefa1f5d244a\"", true},
        {"W/\"d89cfefa1f5d244a\"", true},
        {"\"x\", W/\"d89cfefa1f5d244a\"", true},
        {"*", true},
        {"\"d89cfefa1f5d244b\"", false},
        {"d89cfefa1f5d244a", false}, /* unquoted: malformed */
        {"\"d89cfefa1f5d244a", false},
        {"", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_eq(buyt_http_etag_match(cases[i].h, strlen(cases[i].h), tag), cases[i].want,
                     "'%s'", cases[i].h);
}

Test(http_params, numbers_are_plain_decimals)
{
    double d;
    cr_assert_eq(buyt_api_parse_number("21.03", &d), 0);
    cr_assert_float_eq(d, 21.03, 1e-12);
    cr_assert_eq(buyt_api_parse_number("-105.8", &d), 0);
    cr_assert_float_eq(d, -105.8, 1e-12);
    cr_assert_eq(buyt_api_parse_number("1e3", &d), 0);
    cr_assert_float_eq(d, 1000, 1e-12);
    cr_assert_eq(buyt_api_parse_number(".5", &d), 0);
    cr_assert_eq(buyt_api_parse_number("5.", &d), 0);
    const char *bad[] = {"",    "abc", "0x10", "inf", "nan", "NaN", " 1",    "1 ",
                         "1,5", "--1", "1e",   "1e+", ".",   "-",   "1e999", "21.03abc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(buyt_api_parse_number(bad[i], &d), BUYT_EINVAL, "'%s'", bad[i]);
    int64_t v;
    cr_assert_eq(buyt_api_parse_int("500", &v), 0);
    cr_assert_eq(v, 500);
    cr_assert_eq(buyt_api_parse_int("-3", &v), 0);
    cr_assert_eq(v, -3);
    const char *badi[] = {"", "1.5", "1e3", "+1", "12a", "9999999999999999999", "-"};
    for (size_t i = 0; i < sizeof badi / sizeof badi[0]; i++)
        cr_assert_eq(buyt_api_parse_int(badi[i], &v), BUYT_EINVAL, "'%s'", badi[i]);
}

Test(http_params, times_are_rfc3339_or_unix_milliseconds)
{
    int64_t ms;
    cr_assert_eq(buyt_api_parse_time("1717200000123", &ms), 0);
    cr_assert_eq(ms, 1717200000123LL);
    cr_assert_eq(buyt_api_parse_time("2024-06-01T00:00:00Z", &ms), 0);
    cr_assert_eq(ms, 1717200000000LL);
    cr_assert_eq(buyt_api_parse_time("2024-06-01T07:00:00+07:00", &ms), 0);
    cr_assert_eq(ms, 1717200000000LL, "Hanoi local time");
    cr_assert_eq(buyt_api_parse_time("2024-05-31T17:00:00-07:00", &ms), 0);
    cr_assert_eq(ms, 1717200000000LL);
    cr_assert_eq(buyt_api_parse_time("2024-06-01t00:00:00.5z", &ms), 0);
    cr_assert_eq(ms, 1717200000500LL);
    cr_assert_eq(buyt_api_parse_time("2024-06-01 00:00:00.123456Z", &ms), 0);
    cr_assert_eq(ms, 1717200000123LL);
    cr_assert_eq(buyt_api_parse_time("2024-02-29T12:00:00Z", &ms), 0, "leap day");
    const char *bad[] = {"",
                         "yesterday",
                         "2024-06-01",
                         "2024-06-01T00:00:00",  /* no offset */
                         "2024-06-01T00:00Z",    /* no seconds */
                         "2023-02-29T00:00:00Z", /* not a leap year */
                         "2024-04-31T00:00:00Z",
                         "2024-13-01T00:00:00Z",
                         "2024-06-01T24:00:00Z",
                         "2024-06-01T00:00:00.Z",
                         "2024-06-01T00:00:00+0700", /* offset without colon */
                         "2024-06-01T00:00:00Z junk",
                         "-1717200000123",
                         "17172000001234567890"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(buyt_api_parse_time(bad[i], &ms), BUYT_EINVAL, "'%s'", bad[i]);
}

/* Not a parameter, but the server's one stateless service: gzip for bodies a handler caches. */
Test(http_params, gzip_for_cached_bodies_inflates_back_and_refuses_what_does_not_shrink)
{
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    struct buyt_http *s;
    char err[128];
    cr_assert_eq(buyt_http_new(&loop, &(struct buyt_http_opts){.listen = "127.0.0.1:0"}, &s, err,
                               sizeof err),
                 0, "%s", err);
    static char in[20000];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = "GTFS-Realtime feed "[i % 19];
    for (int round = 0; round < 2; round++) { /* the compressor is reused: reset each time */
        uint8_t *gz;
        size_t n;
        cr_assert_eq(buyt_http_gzip(s, in, sizeof in, &gz, &n), 0);
        cr_assert_lt(n, sizeof in / 10);
        cr_assert_eq(gz[0], 0x1f, "a gzip member (RFC 1952), not a bare deflate stream");
        cr_assert_eq(gz[1], 0x8b);
        char back[sizeof in];
        uLongf blen = sizeof back;
        z_stream z = {0};
        cr_assert_eq(inflateInit2(&z, 15 + 16), Z_OK);
        z.next_in = gz;
        z.avail_in = (uInt)n;
        z.next_out = (Bytef *)back;
        z.avail_out = (uInt)blen;
        cr_assert_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
        cr_assert_eq(z.total_out, sizeof in);
        inflateEnd(&z);
        cr_assert_eq(memcmp(back, in, sizeof in), 0);
        free(gz);
    }
    uint8_t *gz = (uint8_t *)"x";
    size_t n = 1;
    cr_assert_eq(buyt_http_gzip(s, "ab", 2, &gz, &n), BUYT_ERANGE, "two bytes never shrink");
    cr_assert_null(gz);
    cr_assert_eq(n, 0);
    buyt_http_stop(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    buyt_http_free(s);
    cr_assert_eq(uv_loop_close(&loop), 0);
}
