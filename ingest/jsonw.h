/* A small streaming JSON writer into a growable buffer, for hot HTTP output (arrivals, vehicle
 * lists, tracks, metrics text): no tree, no per-value allocation, the buffer is reused between
 * documents. LIBRARY-NOTES.md measured this kind of writer 5x faster than building and dumping a
 * jansson tree.
 *
 * Output is always valid JSON (RFC 8259) and valid UTF-8 whatever the input strings hold:
 *  - '"', '\\' and control characters U+0000..U+001F are escaped (\b \f \n \r \t, else \u00XX);
 *  - U+2028 and U+2029 are escaped (\u2028, \u2029) so the output is also safe inside JavaScript;
 *  - ill-formed UTF-8 is replaced by U+FFFD, one per maximal ill-formed subpart (Unicode 15
 *    section 3.9, "U+FFFD substitution of maximal subparts"): overlong forms, surrogates, code
 *    points above U+10FFFF, stray continuation bytes and truncated sequences;
 *  - NaN and infinities, which JSON cannot represent, are written as null.
 * Commas and colons are placed by the writer; the caller only nests begin/end calls correctly
 * (checked by assert in debug builds, at most BUYT_JSONW_MAX_DEPTH levels).
 *
 * Memory: an allocation failure sets `oom`; later calls do nothing, and the caller answers 500.
 * Not thread-safe for one writer; separate writers may be used from separate threads. */
#ifndef BUYT_JSONW_H
#define BUYT_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BUYT_JSONW_MAX_DEPTH 32

struct buyt_jsonw {
    char *buf;
    size_t len, cap;
    bool oom;       /* an allocation failed: the output is incomplete */
    bool after_key; /* a key was written: the next value takes no comma */
    uint32_t depth;
    uint32_t has_item; /* bit d: the container at depth d already holds a value */
};

/** An empty writer (no allocation until the first write). */
void buyt_jsonw_init(struct buyt_jsonw *w);

/** Empties the output, keeping the buffer for the next document. */
void buyt_jsonw_reset(struct buyt_jsonw *w);

/** Frees the buffer. */
void buyt_jsonw_close(struct buyt_jsonw *w);

/** Ensures room for `extra` more bytes. Returns 0 or BUYT_ENOMEM (and sets oom). */
int buyt_jsonw_reserve(struct buyt_jsonw *w, size_t extra);

void buyt_jsonw_obj_begin(struct buyt_jsonw *w);
void buyt_jsonw_obj_end(struct buyt_jsonw *w);
void buyt_jsonw_arr_begin(struct buyt_jsonw *w);
void buyt_jsonw_arr_end(struct buyt_jsonw *w);

/** A member name of n bytes (escaped like a string); the next call writes its value. */
void buyt_jsonw_key_n(struct buyt_jsonw *w, const char *key, size_t n);

/** Values. str(NULL) writes null; str_n takes `n` bytes that may contain NUL (escaped). */
void buyt_jsonw_str(struct buyt_jsonw *w, const char *s);
void buyt_jsonw_str_n(struct buyt_jsonw *w, const char *s, size_t n);
void buyt_jsonw_null(struct buyt_jsonw *w);
void buyt_jsonw_bool(struct buyt_jsonw *w, bool v);
void buyt_jsonw_int(struct buyt_jsonw *w, int64_t v);
void buyt_jsonw_uint(struct buyt_jsonw *w, uint64_t v);
/** A number with at most `decimals` (0..9) digits after the point, trailing zeros trimmed
 *  ("21.0287", "3", "-0.5"); values too large for that precision fall back to %.17g. */
void buyt_jsonw_fixed(struct buyt_jsonw *w, double v, int decimals);
/** A number in the shortest form that reads back to the same double (%.17g at worst). */
void buyt_jsonw_double(struct buyt_jsonw *w, double v);
/** A value already in JSON form (a cached fragment), written as is after the comma. */
void buyt_jsonw_json(struct buyt_jsonw *w, const char *json, size_t n);

/** A member name (NUL-terminated); inline so that a literal's length is folded at compile
 *  time (keys are most of the calls in a large document). */
static inline void buyt_jsonw_key(struct buyt_jsonw *w, const char *key)
{
    buyt_jsonw_key_n(w, key, __builtin_strlen(key));
}

/** Key + value shorthands. */
static inline void buyt_jsonw_kstr(struct buyt_jsonw *w, const char *key, const char *s)
{
    buyt_jsonw_key(w, key);
    buyt_jsonw_str(w, s);
}
static inline void buyt_jsonw_kint(struct buyt_jsonw *w, const char *key, int64_t v)
{
    buyt_jsonw_key(w, key);
    buyt_jsonw_int(w, v);
}
static inline void buyt_jsonw_kuint(struct buyt_jsonw *w, const char *key, uint64_t v)
{
    buyt_jsonw_key(w, key);
    buyt_jsonw_uint(w, v);
}
static inline void buyt_jsonw_kbool(struct buyt_jsonw *w, const char *key, bool v)
{
    buyt_jsonw_key(w, key);
    buyt_jsonw_bool(w, v);
}
static inline void buyt_jsonw_kfixed(struct buyt_jsonw *w, const char *key, double v, int decimals)
{
    buyt_jsonw_key(w, key);
    buyt_jsonw_fixed(w, v, decimals);
}
static inline void buyt_jsonw_knull(struct buyt_jsonw *w, const char *key)
{
    buyt_jsonw_key(w, key);
    buyt_jsonw_null(w);
}

/** Raw text, outside the JSON structure (the metrics exposition uses the writer as a buffer). */
void buyt_jsonw_raw(struct buyt_jsonw *w, const void *p, size_t n);
void buyt_jsonw_rawz(struct buyt_jsonw *w, const char *s);
void buyt_jsonw_raw_uint(struct buyt_jsonw *w, uint64_t v);
void buyt_jsonw_raw_int(struct buyt_jsonw *w, int64_t v);
void buyt_jsonw_printf(struct buyt_jsonw *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** Appends `n` bytes of `s` escaped as the inside of a JSON string (no quotes). Exposed for
 *  the metrics label escaper's tests and for writers of pre-rendered fragments. */
void buyt_jsonw_escape(struct buyt_jsonw *w, const char *s, size_t n);

/** The output so far (not NUL-terminated unless buyt_jsonw_cstr is used). */
static inline const char *buyt_jsonw_data(const struct buyt_jsonw *w)
{
    return w->buf ? w->buf : "";
}
static inline size_t buyt_jsonw_len(const struct buyt_jsonw *w)
{
    return w->len;
}

/** NUL-terminates the output (the terminator is not counted in len) and returns it. */
const char *buyt_jsonw_cstr(struct buyt_jsonw *w);

#endif
