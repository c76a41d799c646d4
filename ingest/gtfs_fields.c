/* GTFS field helpers; see gtfs_fields.h. Pure functions: no I/O, no allocation. */
#include "gtfs_fields.h"

#include "error.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}
static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int fail(const char **reason, const char *why)
{
    if (reason)
        *reason = why;
    return BUYT_EINVAL;
}

int buyt_gtfs_time_parse(const char *s, int32_t *secs, const char **reason)
{
    *secs = BUYT_GTFS_TIME_NONE;
    if (!s)
        return 0;
    while (*s == ' ')
        s++;
    size_t len = strlen(s);
    while (len > 0 && s[len - 1] == ' ')
        len--;
    if (len == 0)
        return 0;
    /* GTFS Schedule reference, "Field Types": Time - HH:MM:SS or H:MM:SS; may exceed 24:00
     * for trips that run past midnight of their service day. */
    size_t h = 0;
    while (h < len && is_digit(s[h]))
        h++;
    if (h == 0 || h >= len || s[h] != ':')
        return fail(reason, "expected H:MM:SS");
    if (h > 2)
        return fail(reason, "hours out of range 0..99");
    if (len != h + 6 || !is_digit(s[h + 1]) || !is_digit(s[h + 2]) || s[h + 3] != ':' ||
        !is_digit(s[h + 4]) || !is_digit(s[h + 5]))
        return fail(reason, "expected H:MM:SS");
    int hours = 0;
    for (size_t i = 0; i < h; i++)
        hours = hours * 10 + (s[i] - '0');
    int minutes = (s[h + 1] - '0') * 10 + (s[h + 2] - '0');
    int seconds = (s[h + 4] - '0') * 10 + (s[h + 5] - '0');
    if (minutes > 59)
        return fail(reason, "minutes out of range 00..59");
    if (seconds > 59)
        return fail(reason, "seconds out of range 00..59");
    *secs = (int32_t)(hours * 3600 + minutes * 60 + seconds);
    return 0;
}

void buyt_gtfs_time_format(int32_t secs, char out[BUYT_GTFS_TIME_TEXT_MAX])
{
    if (secs < 0) {
        out[0] = '\0';
        return;
    }
    snprintf(out, BUYT_GTFS_TIME_TEXT_MAX, "%02ld:%02ld:%02ld", (long)(secs / 3600),
             (long)(secs / 60 % 60), (long)(secs % 60));
}

/* Copies field bytes [b, e) into name, trimming spaces; the field may be quoted. */
static int header_field(const char *b, const char *e, char name[BUYT_GTFS_NAME_MAX],
                        const char **reason)
{
    while (b < e && (*b == ' ' || *b == '\t'))
        b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    size_t n = 0;
    if (b < e && *b == '"') {
        if (e - b < 2 || e[-1] != '"')
            return fail(reason, "unterminated quote");
        for (const char *p = b + 1; p < e - 1; p++) {
            if (*p == '"') {
                if (p + 1 >= e - 1 || p[1] != '"')
                    return fail(reason, "stray quote in a quoted name");
                p++;
            }
            if (n + 1 >= BUYT_GTFS_NAME_MAX)
                return fail(reason, "column name too long");
            name[n++] = *p;
        }
    } else {
        if ((size_t)(e - b) >= BUYT_GTFS_NAME_MAX)
            return fail(reason, "column name too long");
        for (const char *p = b; p < e; p++) {
            if (*p == '"')
                return fail(reason, "stray quote in a column name");
            name[n++] = *p;
        }
    }
    name[n] = '\0';
    return 0;
}

int buyt_gtfs_header_parse(const char *line, size_t len, struct buyt_gtfs_header *h,
                           const char **reason, int *dup_col)
{
    h->n = 0;
    if (dup_col)
        *dup_col = -1;
    if (len >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3)) {
        line += 3;
        len -= 3;
    }
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if (len == 0)
        return fail(reason, "empty header line");
    const char *end = line + len;
    const char *b = line;
    for (;;) {
        /* Find the end of this field: the next comma outside quotes. */
        const char *p = b;
        bool quoted = false;
        while (p < end && (quoted || *p != ',')) {
            if (*p == '"')
                quoted = !quoted;
            p++;
        }
        if (quoted)
            return fail(reason, "unterminated quote");
        if (h->n == BUYT_GTFS_HEADER_COLS_MAX)
            return fail(reason, "too many columns");
        int rc = header_field(b, p, h->names[h->n], reason);
        if (rc)
            return rc;
        h->n++;
        if (p == end)
            break;
        b = p + 1;
    }
    for (size_t i = 1; i < h->n; i++) {
        if (!h->names[i][0])
            continue;
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(h->names[i], h->names[j])) {
                if (dup_col)
                    *dup_col = (int)i;
                return fail(reason, "duplicate column");
            }
        }
    }
    return 0;
}

bool buyt_gtfs_agency_code_valid(const char *code)
{
    if (!code)
        return false;
    size_t n = 0;
    for (const char *p = code; *p; p++, n++) {
        if (!is_alpha(*p) && !is_digit(*p) && *p != '.' && *p != '_' && *p != '-')
            return false;
    }
    return n >= 1 && n < BUYT_GTFS_AGENCY_MAX;
}

static bool has_letter(const char *s)
{
    for (; s && *s; s++)
        if (is_alpha(*s))
            return true;
    return false;
}

void buyt_gtfs_agency_code_derive(const char *agency_id, const char *agency_name,
                                  char out[BUYT_GTFS_AGENCY_MAX])
{
    const char *src = has_letter(agency_id) ? agency_id : agency_name;
    size_t n = 0;
    bool gap = false;
    for (const char *p = src ? src : ""; *p && n < BUYT_GTFS_AGENCY_MAX - 1; p++) {
        char c = *p;
        if (is_alpha(c) || is_digit(c)) {
            if (gap && n > 0 && n < BUYT_GTFS_AGENCY_MAX - 2)
                out[n++] = '-';
            gap = false;
            out[n++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        } else {
            gap = true;
        }
    }
    out[n] = '\0';
    if (n == 0)
        snprintf(out, BUYT_GTFS_AGENCY_MAX, "agency");
}

bool buyt_gtfs_timezone_plausible(const char *tz)
{
    if (!tz || !*tz || *tz == '/' || strstr(tz, ".."))
        return false;
    size_t n = 0;
    for (const char *p = tz; *p; p++, n++) {
        if (!is_alpha(*p) && !is_digit(*p) && *p != '/' && *p != '_' && *p != '+' && *p != '-')
            return false;
    }
    return n < 64;
}

int buyt_gtfs_derived_shape_id(const char *const *stop_ids, size_t n,
                               char out[BUYT_GTFS_DERIVED_ID_MAX])
{
    if (n == 0)
        return BUYT_EINVAL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return BUYT_ENOMEM;
    int ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
    for (size_t i = 0; ok && i < n; i++) {
        if (!stop_ids[i]) {
            ok = 0;
            break;
        }
        char len[24];
        size_t idlen = strlen(stop_ids[i]);
        int m = snprintf(len, sizeof len, "%s%zu:", i ? "," : "", idlen);
        ok = EVP_DigestUpdate(ctx, len, (size_t)m) && EVP_DigestUpdate(ctx, stop_ids[i], idlen);
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen >= 8;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return BUYT_EINVAL;
    int m = snprintf(out, BUYT_GTFS_DERIVED_ID_MAX, "%s", BUYT_GTFS_DERIVED_PREFIX);
    for (unsigned i = 0; i < 8; i++)
        snprintf(out + m + 2 * i, 3, "%02x", md[i]);
    return 0;
}
