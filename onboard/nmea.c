/* NMEA 0183 byte-stream framing: bytes from the receiver are cut into sentences (resyncing on
 * '$', stitching a sentence cut by an injected one), each is decoded (nmea_sentence.c) and
 * merged into epochs (nmea_epoch.c). Also the names and the proto mapping. No allocation. */
#include "nmea.h"

#include "buyt/v1/buyt.pb-c.h"
#include "error.h"

#include <string.h>

/* The fix's enums are the proto's values so the agent can copy them. */
#define SAME_VALUE(a, b) _Static_assert((int)(a) == (int)(b), #a " must equal " #b)
SAME_VALUE(BUYT_NMEA_QUALITY_NONE, BUYT__V1__FIX_QUALITY__FIX_QUALITY_NONE);
SAME_VALUE(BUYT_NMEA_QUALITY_GPS, BUYT__V1__FIX_QUALITY__FIX_QUALITY_GPS);
SAME_VALUE(BUYT_NMEA_QUALITY_DGPS, BUYT__V1__FIX_QUALITY__FIX_QUALITY_DGPS);
SAME_VALUE(BUYT_NMEA_QUALITY_RTK, BUYT__V1__FIX_QUALITY__FIX_QUALITY_RTK);
SAME_VALUE(BUYT_NMEA_QUALITY_ESTIMATED, BUYT__V1__FIX_QUALITY__FIX_QUALITY_ESTIMATED);
SAME_VALUE(BUYT_NMEA_FIELD_SPEED, BUYT__V1__FIX_FIELD__FIX_FIELD_SPEED);
SAME_VALUE(BUYT_NMEA_FIELD_COURSE, BUYT__V1__FIX_FIELD__FIX_FIELD_COURSE);
SAME_VALUE(BUYT_NMEA_FIELD_ALTITUDE, BUYT__V1__FIX_FIELD__FIX_FIELD_ALTITUDE);
SAME_VALUE(BUYT_NMEA_FIELD_HDOP, BUYT__V1__FIX_FIELD__FIX_FIELD_HDOP);
SAME_VALUE(BUYT_NMEA_FIELD_SATELLITES, BUYT__V1__FIX_FIELD__FIX_FIELD_SATELLITES);

static const char *const reject_names[BUYT_NMEA_REJECT__COUNT] = {
    [BUYT_NMEA_OK] = "ok",
    [BUYT_NMEA_REJECT_BAD_CHECKSUM] = "bad_checksum",
    [BUYT_NMEA_REJECT_NO_CHECKSUM] = "no_checksum",
    [BUYT_NMEA_REJECT_TOO_LONG] = "too_long",
    [BUYT_NMEA_REJECT_TRUNCATED] = "truncated",
    [BUYT_NMEA_REJECT_BAD_CHAR] = "bad_char",
    [BUYT_NMEA_REJECT_MALFORMED] = "malformed",
    [BUYT_NMEA_REJECT_BAD_FIELD] = "bad_field",
    [BUYT_NMEA_REJECT_BAD_DATE] = "bad_date",
};

static const char *const type_names[BUYT_NMEA_TYPE__COUNT] = {
    [BUYT_NMEA_NONE] = "none",
    [BUYT_NMEA_GGA] = "GGA",
    [BUYT_NMEA_RMC] = "RMC",
    [BUYT_NMEA_VTG] = "VTG",
    [BUYT_NMEA_GSA] = "GSA",
    [BUYT_NMEA_GNS] = "GNS",
    [BUYT_NMEA_GLL] = "GLL",
    [BUYT_NMEA_ZDA] = "ZDA",
    [BUYT_NMEA_PROPRIETARY] = "proprietary",
    [BUYT_NMEA_UNKNOWN] = "unknown",
};

const char *buyt_nmea_reject_name(enum buyt_nmea_reject r)
{
    return (unsigned)r < BUYT_NMEA_REJECT__COUNT ? reject_names[r] : "unknown";
}

const char *buyt_nmea_type_name(enum buyt_nmea_type t)
{
    return (unsigned)t < BUYT_NMEA_TYPE__COUNT ? type_names[t] : "unknown";
}

/* ---------------------------------------------------------------------------------------------
 * Byte stream framing. */

enum { S_IDLE, S_SENTENCE, S_COMMENT };

static void on_merged(const struct buyt_nmea_fix *fix, void *arg)
{
    struct buyt_nmea_parser *p = arg;
    p->stats.fixes++;
    p->cfg.on_fix(fix, p->cfg.arg);
}

static void report(struct buyt_nmea_parser *p, enum buyt_nmea_type type, enum buyt_nmea_reject r,
                   uint64_t line, const char *text, size_t len)
{
    if (r != BUYT_NMEA_OK)
        p->stats.rejected[r]++;
    else if (type == BUYT_NMEA_PROPRIETARY || type == BUYT_NMEA_UNKNOWN)
        p->stats.ignored++;
    else
        p->stats.accepted++;
    if (p->cfg.on_event) {
        struct buyt_nmea_event ev = {type, r, line, text, len};
        p->cfg.on_event(&ev, p->cfg.arg);
    }
}

/* A complete sentence is in buf. */
static void finish(struct buyt_nmea_parser *p)
{
    struct buyt_nmea_sentence s;
    enum buyt_nmea_reject r = buyt_nmea_parse(p->buf, p->len, p->cfg.options, &s);
    if (r == BUYT_NMEA_OK)
        r = buyt_nmea_merger_add(&p->merger, &s, on_merged, p);
    p->stats.rollovers = p->merger.rollovers;
    if (p->stitching) {
        /* The cut sentence and the bytes after the injected one do not make a sentence. */
        if (r == BUYT_NMEA_REJECT_BAD_CHECKSUM || r == BUYT_NMEA_REJECT_NO_CHECKSUM)
            r = BUYT_NMEA_REJECT_TRUNCATED;
        else if (r == BUYT_NMEA_OK)
            p->stats.stitched++;
    }
    report(p, s.type, r, p->start_line, p->buf, p->len);
    p->len = 0;
    p->stitching = false;
    p->state = S_IDLE;
}

static void drop(struct buyt_nmea_parser *p, enum buyt_nmea_reject r)
{
    report(p, BUYT_NMEA_NONE, r, p->start_line, p->buf, p->len);
    p->len = 0;
    p->stitching = false;
    p->state = S_IDLE;
}

static void drop_stash(struct buyt_nmea_parser *p)
{
    report(p, BUYT_NMEA_NONE, BUYT_NMEA_REJECT_TRUNCATED, p->stash_line, p->stash, p->stash_len);
    p->stash_len = 0;
}

/* '$' starts a sentence, '!' an encapsulated one (AIS: ignored, but framed and counted). */
static void start(struct buyt_nmea_parser *p, unsigned char delimiter)
{
    p->buf[0] = (char)delimiter;
    p->len = 1;
    p->start_line = p->line;
    p->stitching = false;
    p->state = S_SENTENCE;
}

/* A '$' inside a sentence: keep the cut one aside once, in case it continues afterwards. */
static void collide(struct buyt_nmea_parser *p)
{
    if (p->stitching || p->stash_len > 0 || p->len <= 1) {
        drop(p, BUYT_NMEA_REJECT_TRUNCATED);
    } else {
        memcpy(p->stash, p->buf, p->len);
        p->stash_len = p->len;
        p->stash_line = p->start_line;
    }
    start(p, '$');
}

static bool printable(unsigned char c)
{
    return c >= 0x20 && c <= 0x7e;
}

static void idle_byte(struct buyt_nmea_parser *p, unsigned char c, bool bol)
{
    if (c == '$' || c == '!') {
        if (p->stash_len > 0)
            drop_stash(p);
        start(p, c);
    } else if (c == '#' && bol && (p->cfg.options & BUYT_NMEA_OPT_HASH_COMMENTS)) {
        p->state = S_COMMENT;
    } else if (p->stash_len > 0 && printable(c)) {
        /* The rest of the sentence that another one cut: resume it. */
        memcpy(p->buf, p->stash, p->stash_len);
        p->len = p->stash_len;
        p->start_line = p->stash_line;
        p->stash_len = 0;
        p->stitching = true;
        p->state = S_SENTENCE;
        p->buf[p->len++] = (char)c;
    } else if (p->stash_len > 0 && c != '\r' && c != '\n') {
        drop_stash(p);
    }
}

void buyt_nmea_feed(struct buyt_nmea_parser *p, const void *bytes, size_t len)
{
    const unsigned char *b = bytes;
    p->stats.bytes += len;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = b[i];
        bool bol = i > 0 ? b[i - 1] == '\n' : p->line_start;
        switch (p->state) {
        case S_SENTENCE:
            if (c == '\r' || c == '\n')
                finish(p);
            else if (c == '$') /* not '!': vendors' text sentences use it */
                collide(p);
            else if (!printable(c))
                drop(p, BUYT_NMEA_REJECT_BAD_CHAR);
            else if (p->len >= BUYT_NMEA_MAX_SENTENCE)
                drop(p, BUYT_NMEA_REJECT_TOO_LONG);
            else
                p->buf[p->len++] = (char)c;
            break;
        case S_COMMENT:
            if (c == '\n')
                p->state = S_IDLE;
            break;
        default: idle_byte(p, c, bol); break;
        }
        if (c == '\n')
            p->line++;
    }
    if (len > 0)
        p->line_start = b[len - 1] == '\n';
}

void buyt_nmea_epoch_end(struct buyt_nmea_parser *p)
{
    buyt_nmea_merger_flush(&p->merger, on_merged, p);
}

void buyt_nmea_flush(struct buyt_nmea_parser *p)
{
    if (p->stash_len > 0)
        drop_stash(p);
    if (p->state == S_SENTENCE)
        drop(p, BUYT_NMEA_REJECT_TRUNCATED);
    p->state = S_IDLE;
    buyt_nmea_merger_flush(&p->merger, on_merged, p);
}

int buyt_nmea_init(struct buyt_nmea_parser *p, const struct buyt_nmea_config *cfg)
{
    const uint32_t known = BUYT_NMEA_OPT_ACCEPT_NO_CHECKSUM | BUYT_NMEA_OPT_HASH_COMMENTS;
    if (!cfg || !cfg->on_fix || (cfg->options & ~known))
        return BUYT_EINVAL;
    memset(p, 0, sizeof *p);
    p->cfg = *cfg;
    p->line = 1;
    p->line_start = true;
    p->state = S_IDLE;
    buyt_nmea_merger_init(&p->merger, cfg->ref_ms);
    return 0;
}

void buyt_nmea_ref_time_set(struct buyt_nmea_parser *p, int64_t ref_ms)
{
    p->merger.ref_ms = ref_ms;
}

const struct buyt_nmea_stats *buyt_nmea_stats_get(const struct buyt_nmea_parser *p)
{
    return &p->stats;
}

void buyt_nmea_fix_to_proto(const struct buyt_nmea_fix *fix, struct Buyt__V1__Fix *out)
{
    if (fix->mode == BUYT_NMEA_MODE_NO_FIX) {
        out->quality = BUYT__V1__FIX_QUALITY__FIX_QUALITY_NONE;
        out->lat_e7 = out->lon_e7 = 0;
        out->fields = fix->fields & BUYT_NMEA_FIELD_SATELLITES;
        out->satellites = fix->satellites;
        return;
    }
    out->lat_e7 = fix->lat_e7;
    out->lon_e7 = fix->lon_e7;
    out->quality = (Buyt__V1__FixQuality)fix->quality;
    out->fields = fix->fields;
    out->speed_cms = fix->speed_cms;
    out->course_cdeg = fix->course_cdeg;
    out->alt_cm = fix->alt_cm;
    out->hdop_x100 = fix->hdop_x100;
    out->satellites = fix->satellites;
}
