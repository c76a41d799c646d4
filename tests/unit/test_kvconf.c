/* Config files: typos are errors with file and line, not silently ignored. */
#include "error.h"
#include "kvconf.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct seen {
    char vehicle[64], broker[128];
    int n;
};

static int set(void *t, const char *k, const char *v, char *err, size_t len)
{
    struct seen *s = t;
    s->n++;
    if (!strcmp(k, "vehicle"))
        snprintf(s->vehicle, sizeof s->vehicle, "%s", v);
    else if (!strcmp(k, "broker"))
        snprintf(s->broker, sizeof s->broker, "%s", v);
    else if (!strcmp(k, "baud") && strcmp(v, "9600")) {
        snprintf(err, len, "unsupported baud rate %s", v);
        return BUYT_EINVAL;
    }
    return 0;
}

static const char *const keys[] = {"vehicle", "broker", "baud", NULL};

static char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/kvconf-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

Test(kvconf, reads_keys_values_comments_and_quotes)
{
    char *p = write_tmp("# bus config\n\nvehicle = 29B-100   # fleet number\n"
                        "broker=\"mqtt://a b#c\"\n");
    struct seen s = {0};
    char err[256];
    cr_assert_eq(buyt_kvconf_load(p, keys, set, &s, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(s.vehicle, "29B-100");
    cr_assert_str_eq(s.broker, "mqtt://a b#c");
    cr_assert_eq(s.n, 2);
    unlink(p);
}

Test(kvconf, unknown_key_names_file_and_line)
{
    char *p = write_tmp("vehicle = 1\nvehicel = 2\n");
    struct seen s = {0};
    char err[256];
    cr_assert_eq(buyt_kvconf_load(p, keys, set, &s, err, sizeof err), BUYT_EINVAL);
    cr_assert(strstr(err, ":2: unknown key 'vehicel'"), "%s", err);
    unlink(p);
}

Test(kvconf, bad_value_reason_is_reported_with_line)
{
    char *p = write_tmp("baud = 9600\nbaud = 1234\n");
    struct seen s = {0};
    char err[256];
    cr_assert_eq(buyt_kvconf_load(p, keys, set, &s, err, sizeof err), BUYT_EINVAL);
    cr_assert(strstr(err, ":2: baud: unsupported baud rate 1234"), "%s", err);
    unlink(p);
}

Test(kvconf, malformed_lines_are_errors)
{
    char err[256];
    struct seen s = {0};
    char *p = write_tmp("just words\n");
    cr_assert_eq(buyt_kvconf_load(p, keys, set, &s, err, sizeof err), BUYT_EINVAL);
    cr_assert(strstr(err, ":1: expected 'key = value'"), "%s", err);
    unlink(p);
    p = write_tmp("broker = \"open\n");
    cr_assert_eq(buyt_kvconf_load(p, keys, set, &s, err, sizeof err), BUYT_EINVAL);
    cr_assert(strstr(err, "unterminated"), "%s", err);
    unlink(p);
    cr_assert_eq(buyt_kvconf_load("/nonexistent/x.conf", keys, set, &s, err, sizeof err), BUYT_EIO);
}

Test(kvconf, numbers_with_units)
{
    unsigned long long v;
    cr_assert_eq(buyt_kvconf_uint("64M", 0, &v), 0);
    cr_assert_eq(v, 64ull << 20);
    cr_assert_eq(buyt_kvconf_uint("30s", 1, &v), 0);
    cr_assert_eq(v, 30000);
    cr_assert_eq(buyt_kvconf_uint("2min", 1, &v), 0);
    cr_assert_eq(v, 120000);
    cr_assert_eq(buyt_kvconf_uint("250", 1, &v), 0);
    cr_assert_eq(v, 250);
    cr_assert_eq(buyt_kvconf_uint("-1", 0, &v), BUYT_EINVAL);
    cr_assert_eq(buyt_kvconf_uint("5 parsecs", 1, &v), BUYT_EINVAL);
    cr_assert_eq(buyt_kvconf_uint("99999999999999999999", 0, &v), BUYT_EINVAL);
    int b;
    cr_assert_eq(buyt_kvconf_bool("Yes", &b), 0);
    cr_assert_eq(b, 1);
    cr_assert_eq(buyt_kvconf_bool("off", &b), 0);
    cr_assert_eq(b, 0);
    cr_assert_eq(buyt_kvconf_bool("maybe", &b), BUYT_EINVAL);
}
