/* Config file reader; see kvconf.h. */
#include "kvconf.h"

#include "error.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* Splits "key = value # comment" in place. Returns 0, or 1 for an empty/comment line, or -1. */
static int split(char *line, char **key, char **value, const char **why)
{
    char *s = trim(line);
    if (!*s || *s == '#')
        return 1;
    char *eq = strchr(s, '=');
    if (!eq) {
        *why = "expected 'key = value'";
        return -1;
    }
    *eq = '\0';
    *key = trim(s);
    char *v = trim(eq + 1);
    if (*v == '"') {
        char *end = strchr(v + 1, '"');
        if (!end) {
            *why = "unterminated quoted value";
            return -1;
        }
        *end = '\0';
        char *rest = trim(end + 1);
        if (*rest && *rest != '#') {
            *why = "text after the quoted value";
            return -1;
        }
        *value = v + 1;
    } else {
        char *hash = strstr(v, " #");
        if (hash)
            *hash = '\0';
        *value = trim(v);
    }
    if (!**key) {
        *why = "empty key";
        return -1;
    }
    return 0;
}

int buyt_kvconf_load(const char *path, const char *const *keys, buyt_kvconf_set_fn set,
                     void *target, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return BUYT_EIO;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line too long", path, lineno);
            rc = BUYT_EINVAL;
            break;
        }
        char *key, *value;
        const char *why = NULL;
        int s = split(line, &key, &value, &why);
        if (s == 1)
            continue;
        if (s < 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
            rc = BUYT_EINVAL;
            break;
        }
        int known = 0;
        for (const char *const *k = keys; *k; k++)
            known |= !strcmp(*k, key);
        if (!known) {
            snprintf(err, errlen, "%s:%d: unknown key '%s'", path, lineno, key);
            rc = BUYT_EINVAL;
            break;
        }
        char why2[256] = "";
        if (set(target, key, value, why2, sizeof why2)) {
            snprintf(err, errlen, "%s:%d: %s: %s", path, lineno, key, why2[0] ? why2 : "bad value");
            rc = BUYT_EINVAL;
        }
    }
    fclose(f);
    return rc;
}

int buyt_kvconf_uint(const char *value, int unit_ms, unsigned long long *out)
{
    if (!value || !isdigit((unsigned char)*value))
        return BUYT_EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(value, &end, 10);
    if (errno)
        return BUYT_EINVAL;
    unsigned long long mul = 1;
    if (!*end) {
        mul = 1;
    } else if (unit_ms) {
        if (!strcmp(end, "ms"))
            mul = 1;
        else if (!strcmp(end, "s"))
            mul = 1000;
        else if (!strcmp(end, "min"))
            mul = 60000;
        else if (!strcmp(end, "h"))
            mul = 3600000;
        else
            return BUYT_EINVAL;
    } else {
        if (!strcmp(end, "k"))
            mul = 1024;
        else if (!strcmp(end, "M"))
            mul = 1024 * 1024;
        else if (!strcmp(end, "G"))
            mul = 1024ull * 1024 * 1024;
        else
            return BUYT_EINVAL;
    }
    if (v > ~0ull / mul)
        return BUYT_EINVAL;
    *out = v * mul;
    return 0;
}

int buyt_kvconf_bool(const char *value, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(value, yes[i])) {
            *out = 1;
            return 0;
        }
        if (!strcasecmp(value, no[i])) {
            *out = 0;
            return 0;
        }
    }
    return BUYT_EINVAL;
}
