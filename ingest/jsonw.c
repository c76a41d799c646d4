/* Streaming JSON writer; see jsonw.h. */
#include "jsonw.h"

#include "error.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buyt_jsonw_init(struct buyt_jsonw *w)
{
    memset(w, 0, sizeof *w);
}

void buyt_jsonw_reset(struct buyt_jsonw *w)
{
    w->len = 0;
    w->oom = false;
    w->after_key = false;
    w->depth = 0;
    w->has_item = 0;
}

void buyt_jsonw_close(struct buyt_jsonw *w)
{
    free(w->buf);
    memset(w, 0, sizeof *w);
}

static int grow(struct buyt_jsonw *w, size_t extra)
{
    if (w->oom)
        return BUYT_ENOMEM;
    size_t cap = w->cap ? w->cap : 1024;
    while (cap - w->len <= extra) {
        if (cap > SIZE_MAX / 2) {
            w->oom = true;
            return BUYT_ENOMEM;
        }
        cap *= 2;
    }
    char *p = realloc(w->buf, cap);
    if (!p) {
        w->oom = true;
        return BUYT_ENOMEM;
    }
    w->buf = p;
    w->cap = cap;
    return 0;
}

/* The hot path is one comparison; after a failed allocation writes that still fit may land,
 * which is harmless: the document is discarded (oom stays set). */
static inline int ensure(struct buyt_jsonw *w, size_t extra)
{
    return w->cap - w->len > extra ? 0 : grow(w, extra);
}

int buyt_jsonw_reserve(struct buyt_jsonw *w, size_t extra)
{
    return ensure(w, extra);
}

static inline void put(struct buyt_jsonw *w, const void *p, size_t n)
{
    if (ensure(w, n))
        return;
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static inline void putc1(struct buyt_jsonw *w, char c)
{
    if (ensure(w, 1))
        return;
    w->buf[w->len++] = c;
}

/* Before a value: a comma if the enclosing container already holds one (not after a key). */
static inline void sep(struct buyt_jsonw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth == 0)
        return;
    uint32_t bit = 1u << (w->depth - 1);
    if (w->has_item & bit)
        putc1(w, ',');
    else
        w->has_item |= bit;
}

static void open_container(struct buyt_jsonw *w, char c)
{
    sep(w);
    putc1(w, c);
    assert(w->depth < BUYT_JSONW_MAX_DEPTH);
    if (w->depth < BUYT_JSONW_MAX_DEPTH) {
        w->depth++;
        w->has_item &= ~(1u << (w->depth - 1));
    }
}

static void close_container(struct buyt_jsonw *w, char c)
{
    assert(w->depth > 0 && !w->after_key);
    if (w->depth > 0)
        w->depth--;
    putc1(w, c);
}

void buyt_jsonw_obj_begin(struct buyt_jsonw *w)
{
    open_container(w, '{');
}
void buyt_jsonw_obj_end(struct buyt_jsonw *w)
{
    close_container(w, '}');
}
void buyt_jsonw_arr_begin(struct buyt_jsonw *w)
{
    open_container(w, '[');
}
void buyt_jsonw_arr_end(struct buyt_jsonw *w)
{
    close_container(w, ']');
}

/* ------------------------------------------------------------------ strings */

/* 1: byte needs no escaping and is ASCII. */
static const uint8_t plain_ascii[256] = {
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    R16(0), R16(0), /* 0x00-0x1f: control */
    1,      1,      0,      1,      1,      1,      1,      1,
    1,      1,      1,      1,      1,      1,      1,      1, /* 0x20-0x2f: '"' */
    R16(1), R16(1),                                            /* 0x30-0x4f */
    1,      1,      1,      1,      1,      1,      1,      1,
    1,      1,      1,      1,      0,      1,      1,      1,     /* 0x50-0x5f: '\\' */
    R16(1), R16(1),                                                /* 0x60-0x7f */
    R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0) /* 0x80-0xff: UTF-8 */
#undef R16
};

static void put_replacement(struct buyt_jsonw *w)
{
    put(w, "\xEF\xBF\xBD", 3);
}

/* Length of the well-formed UTF-8 sequence at s (n bytes available), or 0 when ill-formed; then
 * *skip is the length of the maximal ill-formed subpart to replace by one U+FFFD (>= 1).
 * Table 3-7 of the Unicode Standard: well-formed byte sequences. */
static size_t utf8_seq(const uint8_t *s, size_t n, size_t *skip)
{
    uint8_t b0 = s[0];
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 2;
    } else if (b0 == 0xE0) {
        need = 3, lo = 0xA0;
    } else if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) {
        need = 3;
    } else if (b0 == 0xED) {
        need = 3, hi = 0x9F; /* no surrogates */
    } else if (b0 == 0xF0) {
        need = 4, lo = 0x90;
    } else if (b0 >= 0xF1 && b0 <= 0xF3) {
        need = 4;
    } else if (b0 == 0xF4) {
        need = 4, hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        *skip = 1; /* continuation byte, C0, C1, F5..FF */
        return 0;
    }
    if (n < 2 || s[1] < lo || s[1] > hi) {
        *skip = 1;
        return 0;
    }
    for (size_t i = 2; i < need; i++) {
        if (i >= n || s[i] < 0x80 || s[i] > 0xBF) {
            *skip = i;
            return 0;
        }
    }
    return need;
}

void buyt_jsonw_escape(struct buyt_jsonw *w, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *s = (const uint8_t *)str, *end = s + n;
    while (s < end) {
        const uint8_t *run = s;
        while (s < end && plain_ascii[*s])
            s++;
        if (s > run)
            put(w, run, (size_t)(s - run));
        if (s == end)
            break;
        uint8_t c = *s;
        if (c < 0x80) {
            char e[6] = {'\\', 0, 0, 0, 0, 0};
            size_t el = 2;
            switch (c) {
            case '"': e[1] = '"'; break;
            case '\\': e[1] = '\\'; break;
            case '\b': e[1] = 'b'; break;
            case '\f': e[1] = 'f'; break;
            case '\n': e[1] = 'n'; break;
            case '\r': e[1] = 'r'; break;
            case '\t': e[1] = 't'; break;
            default:
                e[1] = 'u', e[2] = '0', e[3] = '0', e[4] = hex[c >> 4], e[5] = hex[c & 15];
                el = 6;
            }
            put(w, e, el);
            s++;
            continue;
        }
        size_t skip = 1;
        size_t len = utf8_seq(s, (size_t)(end - s), &skip);
        if (!len) {
            put_replacement(w);
            s += skip;
            continue;
        }
        /* U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR: E2 80 A8 / E2 80 A9. */
        if (len == 3 && s[0] == 0xE2 && s[1] == 0x80 && (s[2] == 0xA8 || s[2] == 0xA9))
            put(w, s[2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
        else
            put(w, s, len);
        s += len;
    }
}

/* Length of the prefix of s[0..n) that needs no escaping. */
static inline size_t plain_prefix(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && plain_ascii[(uint8_t)s[i]])
        i++;
    return i;
}

void buyt_jsonw_str_n(struct buyt_jsonw *w, const char *s, size_t n)
{
    if (!s) {
        buyt_jsonw_null(w);
        return;
    }
    sep(w);
    size_t p = plain_prefix(s, n);
    if (ensure(w, p + 2))
        return;
    char *o = w->buf + w->len;
    *o++ = '"';
    memcpy(o, s, p);
    w->len += p + 1;
    if (p < n)
        buyt_jsonw_escape(w, s + p, n - p);
    putc1(w, '"');
}

void buyt_jsonw_str(struct buyt_jsonw *w, const char *s)
{
    buyt_jsonw_str_n(w, s, s ? strlen(s) : 0);
}

void buyt_jsonw_key_n(struct buyt_jsonw *w, const char *key, size_t n)
{
    assert(!w->after_key);
    if (plain_prefix(key, n) == n) { /* the usual literal key: one copy */
        sep(w);
        if (ensure(w, n + 3))
            return;
        char *o = w->buf + w->len;
        o[0] = '"';
        memcpy(o + 1, key, n);
        o[n + 1] = '"';
        o[n + 2] = ':';
        w->len += n + 3;
    } else {
        buyt_jsonw_str_n(w, key, n);
        putc1(w, ':');
    }
    w->after_key = true;
}

/* ------------------------------------------------------------------ numbers */

/* Writes v's decimal digits backwards ending at end; returns the start. */
static char *u64_digits(uint64_t v, char *end)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

void buyt_jsonw_raw_uint(struct buyt_jsonw *w, uint64_t v)
{
    char b[24], *p = u64_digits(v, b + sizeof b);
    put(w, p, (size_t)(b + sizeof b - p));
}

void buyt_jsonw_raw_int(struct buyt_jsonw *w, int64_t v)
{
    char b[24], *p;
    if (v < 0) {
        p = u64_digits((uint64_t)0 - (uint64_t)v, b + sizeof b);
        *--p = '-';
    } else {
        p = u64_digits((uint64_t)v, b + sizeof b);
    }
    put(w, p, (size_t)(b + sizeof b - p));
}

void buyt_jsonw_int(struct buyt_jsonw *w, int64_t v)
{
    sep(w);
    buyt_jsonw_raw_int(w, v);
}

void buyt_jsonw_uint(struct buyt_jsonw *w, uint64_t v)
{
    sep(w);
    buyt_jsonw_raw_uint(w, v);
}

void buyt_jsonw_null(struct buyt_jsonw *w)
{
    sep(w);
    put(w, "null", 4);
}

void buyt_jsonw_bool(struct buyt_jsonw *w, bool v)
{
    sep(w);
    if (v)
        put(w, "true", 4);
    else
        put(w, "false", 5);
}

void buyt_jsonw_double(struct buyt_jsonw *w, double v)
{
    if (!isfinite(v)) {
        buyt_jsonw_null(w);
        return;
    }
    sep(w);
    char b[32];
    /* The shortest %.Ng (N <= 17) that reads back exactly. */
    int n = 0;
    for (int prec = 6; prec <= 17; prec++) {
        n = snprintf(b, sizeof b, "%.*g", prec, v);
        if (strtod(b, NULL) == v)
            break;
    }
    put(w, b, (size_t)n);
}

void buyt_jsonw_fixed(struct buyt_jsonw *w, double v, int decimals)
{
    static const double pow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    if (!isfinite(v)) {
        buyt_jsonw_null(w);
        return;
    }
    if (decimals < 0)
        decimals = 0;
    if (decimals > 9)
        decimals = 9;
    double scaled = fabs(v) * pow10[decimals];
    if (scaled >= 9e15) {
        buyt_jsonw_double(w, v);
        return;
    }
    sep(w);
    uint64_t u = (uint64_t)(scaled + 0.5);
    uint64_t ip = u / (uint64_t)pow10[decimals], fp = u % (uint64_t)pow10[decimals];
    char b[48], *end = b + sizeof b, *p = end;
    int d = decimals;
    while (d > 0 && fp % 10 == 0) { /* trim trailing zeros */
        fp /= 10;
        d--;
    }
    if (d > 0) {
        for (int i = 0; i < d; i++) {
            *--p = (char)('0' + fp % 10);
            fp /= 10;
        }
        *--p = '.';
    }
    p = u64_digits(ip, p);
    if (v < 0 && u != 0)
        *--p = '-';
    put(w, p, (size_t)(end - p));
}

void buyt_jsonw_json(struct buyt_jsonw *w, const char *json, size_t n)
{
    sep(w);
    put(w, json, n);
}

/* ------------------------------------------------------------------ raw text */

void buyt_jsonw_raw(struct buyt_jsonw *w, const void *p, size_t n)
{
    put(w, p, n);
}

void buyt_jsonw_rawz(struct buyt_jsonw *w, const char *s)
{
    put(w, s, strlen(s));
}

void buyt_jsonw_printf(struct buyt_jsonw *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        put(w, small, (size_t)n);
        return;
    }
    if (ensure(w, (size_t)n + 1))
        return;
    va_start(ap, fmt);
    vsnprintf(w->buf + w->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    w->len += (size_t)n;
}

const char *buyt_jsonw_cstr(struct buyt_jsonw *w)
{
    if (ensure(w, 1))
        return "";
    w->buf[w->len] = '\0';
    return w->buf;
}
