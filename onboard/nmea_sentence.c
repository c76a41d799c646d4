/* NMEA 0183 sentence decoding (NMEA 0183 4.11 / IEC 61162-1): one sentence's text, checksum
 * checked, into fixed-point units (no floating point, no locale, no allocation). Framing is in
 * nmea.c, the epoch merger in nmea_epoch.c. */
#include "nmea.h"

#include <string.h>

/* Ranges of proto buyt.v1.Fix (common/contract.c enforces them on the wire). */
#define MAX_SPEED_CMS 10000u /* 360 km/h */
#define MIN_ALT_CM (-100000)
#define MAX_ALT_CM 1000000
#define MAX_HDOP_X100 9999u
#define MAX_SATELLITES 99u

#define MAX_FIELDS 24 /* GSA has 18 fields, GSV 20; the rest of a longer sentence is not used */

/* A field is a slice of the sentence; empty means "not reported". */

struct field {
    const char *p;
    size_t n;
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') /* not NMEA, but gpsd takes it and it costs nothing */
        return c - 'a' + 10;
    return -1;
}

static bool field_is(struct field f, char c)
{
    return f.n == 1 && f.p[0] == c;
}

/* An unsigned decimal ("12", "12.345", ".5") times 10^scale, rounded half up. *decimals gets
 * the number of decimals written (the field's precision). False on anything else or on a
 * value that would not fit 18 digits. */
static bool parse_scaled(struct field f, int scale, int64_t *out, uint8_t *decimals)
{
    int64_t v = 0;
    int ints = 0, decs = -1, round_up = 0;
    for (size_t i = 0; i < f.n; i++) {
        char c = f.p[i];
        if (c == '.' && decs < 0) {
            decs = 0;
            continue;
        }
        if (!is_digit(c))
            return false;
        if (decs < 0) {
            if (++ints + scale > 18)
                return false;
            v = v * 10 + (c - '0');
        } else if (decs < scale) {
            v = v * 10 + (c - '0');
            decs++;
        } else {
            if (decs == scale)
                round_up = c >= '5';
            decs = decs < 99 ? decs + 1 : decs;
        }
    }
    if (ints == 0 && decs <= 0)
        return false; /* "", ".", no digit */
    int written = decs < 0 ? 0 : decs;
    for (int i = written < scale ? written : scale; i < scale; i++)
        v *= 10;
    *out = v + round_up;
    if (decimals)
        *decimals = (uint8_t)written;
    return true;
}

static bool parse_signed_scaled(struct field f, int scale, int64_t *out)
{
    bool neg = f.n > 0 && f.p[0] == '-';
    if (f.n > 0 && (f.p[0] == '-' || f.p[0] == '+')) {
        f.p++;
        f.n--;
    }
    if (!parse_scaled(f, scale, out, NULL))
        return false;
    if (neg)
        *out = -*out;
    return true;
}

static bool parse_uint(struct field f, uint32_t max, uint32_t *out)
{
    int64_t v;
    if (f.n == 0 || f.n > 9 || !parse_scaled(f, 0, &v, NULL) || memchr(f.p, '.', f.n) ||
        v > (int64_t)max)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* hhmmss[.s...] -> ms since 00:00 UTC; decimals past the millisecond are truncated (rounding
 * could carry into a 60th second). ss may be 60 during a leap second. */
static bool parse_time(struct field f, int32_t *tod_ms)
{
    if (f.n < 6)
        return false;
    for (int i = 0; i < 6; i++)
        if (!is_digit(f.p[i]))
            return false;
    int hh = (f.p[0] - '0') * 10 + (f.p[1] - '0');
    int mm = (f.p[2] - '0') * 10 + (f.p[3] - '0');
    int ss = (f.p[4] - '0') * 10 + (f.p[5] - '0');
    if (hh > 23 || mm > 59 || ss > 60)
        return false;
    int ms = 0;
    if (f.n > 6) {
        if (f.p[6] != '.')
            return false;
        int scale = 100;
        for (size_t i = 7; i < f.n; i++) {
            if (!is_digit(f.p[i]))
                return false;
            ms += (f.p[i] - '0') * scale;
            scale /= 10;
        }
    }
    *tod_ms = ((hh * 60 + mm) * 60 + ss) * 1000 + ms;
    return true;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static bool valid_date(int y, int m, int d)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1)
        return false;
    return d <= dim[m - 1] + (m == 2 && is_leap(y));
}

/* RMC ddmmyy. Two-digit year pivot: 80..99 -> 1980..1999 (GPS began in 1980), 00..79 ->
 * 2000..2079. Whether the date is plausible is the merger's question. */
static bool parse_ddmmyy(struct field f, struct buyt_nmea_sentence *s)
{
    if (f.n != 6)
        return false;
    for (int i = 0; i < 6; i++)
        if (!is_digit(f.p[i]))
            return false;
    int d = (f.p[0] - '0') * 10 + (f.p[1] - '0');
    int m = (f.p[2] - '0') * 10 + (f.p[3] - '0');
    int y = (f.p[4] - '0') * 10 + (f.p[5] - '0');
    y += y >= 80 ? 1900 : 2000;
    if (!valid_date(y, m, d))
        return false;
    s->year = y;
    s->month = m;
    s->day = d;
    s->has |= BUYT_NMEA_HAS_DATE;
    return true;
}

/* (d)ddmm.mmmm + hemisphere -> degrees x 1e7, exact integer arithmetic. */
static bool parse_angle(struct field v, struct field hemi, char pos, char neg, int32_t max_deg,
                        int32_t *e7, uint8_t *decimals)
{
    int64_t x; /* ddmm.mmmmmmmm x 1e8 */
    if (!parse_scaled(v, 8, &x, decimals))
        return false;
    int64_t deg = x / 10000000000LL, min_e8 = x % 10000000000LL;
    if (min_e8 >= 6000000000LL)
        return false;
    int64_t r = deg * 10000000 + (min_e8 + 300) / 600; /* minutes / 60 x 1e7 */
    if (r > (int64_t)max_deg * 10000000)
        return false;
    if (field_is(hemi, neg))
        r = -r;
    else if (!field_is(hemi, pos))
        return false;
    *e7 = (int32_t)r;
    return true;
}

/* Position from 4 consecutive fields (lat, N/S, lon, E/W). All empty: not reported (true). */
static bool parse_position(const struct field *f, struct buyt_nmea_sentence *s)
{
    if (f[0].n == 0 && f[1].n == 0 && f[2].n == 0 && f[3].n == 0)
        return true;
    uint8_t dlat, dlon;
    if (!parse_angle(f[0], f[1], 'N', 'S', 90, &s->lat_e7, &dlat) ||
        !parse_angle(f[2], f[3], 'E', 'W', 180, &s->lon_e7, &dlon))
        return false;
    s->pos_digits = dlat < dlon ? dlat : dlon;
    s->has |= BUYT_NMEA_HAS_POS;
    return true;
}

static bool parse_opt_time(struct field f, struct buyt_nmea_sentence *s)
{
    if (f.n == 0)
        return true;
    if (!parse_time(f, &s->tod_ms))
        return false;
    s->has |= BUYT_NMEA_HAS_TIME;
    return true;
}

/* Speed in knots (1852 m / 3600 s) or km/h -> cm/s. */
static bool parse_speed(struct field f, bool kmh, struct buyt_nmea_sentence *s)
{
    int64_t v; /* x 1000 */
    if (f.n == 0)
        return true;
    if (!parse_scaled(f, 3, &v, NULL) || v > 100000000)
        return false;
    int64_t cms = kmh ? (v * 100 + 1800) / 3600 : (v * 1852 + 18000) / 36000;
    if (cms > MAX_SPEED_CMS)
        return false;
    s->speed_cms = (uint32_t)cms;
    s->has |= BUYT_NMEA_HAS_SPEED;
    return true;
}

static bool parse_course(struct field f, struct buyt_nmea_sentence *s)
{
    int64_t v;
    if (f.n == 0)
        return true;
    if (!parse_scaled(f, 2, &v, NULL) || v > 36000)
        return false;
    s->course_cdeg = v == 36000 ? 0 : (uint32_t)v; /* some receivers say 360.0 for north */
    s->has |= BUYT_NMEA_HAS_COURSE;
    return true;
}

static bool parse_alt(struct field f, struct field unit, struct buyt_nmea_sentence *s)
{
    int64_t v;
    if (f.n == 0)
        return true;
    if (!parse_signed_scaled(f, 2, &v) || v < MIN_ALT_CM || v > MAX_ALT_CM ||
        !(unit.n == 0 || field_is(unit, 'M')))
        return false;
    s->alt_cm = (int32_t)v;
    s->has |= BUYT_NMEA_HAS_ALT;
    return true;
}

/* HDOP above 99.99 is the receivers' way of saying "unknown": the field is dropped. */
static bool parse_hdop(struct field f, struct buyt_nmea_sentence *s)
{
    int64_t v;
    if (f.n == 0)
        return true;
    if (!parse_scaled(f, 2, &v, NULL))
        return false;
    if (v <= (int64_t)MAX_HDOP_X100) {
        s->hdop_x100 = (uint32_t)v;
        s->has |= BUYT_NMEA_HAS_HDOP;
    }
    return true;
}

static bool parse_sats(struct field f, struct buyt_nmea_sentence *s)
{
    if (f.n == 0)
        return true;
    if (!parse_uint(f, MAX_SATELLITES, &s->satellites))
        return false;
    s->has |= BUYT_NMEA_HAS_SATS;
    return true;
}

static void set_quality(struct buyt_nmea_sentence *s, enum buyt_nmea_quality q)
{
    s->quality = q;
    s->has |= BUYT_NMEA_HAS_QUALITY;
}

/* FAA mode indicator (NMEA 2.3+: RMC, GLL, VTG field; one per constellation in GNS). */
static void apply_faa_mode(char c, struct buyt_nmea_sentence *s)
{
    switch (c) {
    case 'A':
    case 'P': set_quality(s, BUYT_NMEA_QUALITY_GPS); break;
    case 'D': set_quality(s, BUYT_NMEA_QUALITY_DGPS); break;
    case 'R':
    case 'F': set_quality(s, BUYT_NMEA_QUALITY_RTK); break;
    case 'E': set_quality(s, BUYT_NMEA_QUALITY_ESTIMATED); break;
    case 'N':
    case 'S':
    case 'M':
    case 'V':
    case 'U': s->valid = 0; break; /* none, simulator, manual, invalid, unsafe (4.11) */
    default: break;
    }
}

/* A sentence that says "no fix" keeps only what is not position: its time, satellites. */
static void drop_fix_values(struct buyt_nmea_sentence *s)
{
    s->has &= ~(uint32_t)(BUYT_NMEA_HAS_POS | BUYT_NMEA_HAS_SPEED | BUYT_NMEA_HAS_COURSE |
                          BUYT_NMEA_HAS_ALT | BUYT_NMEA_HAS_HDOP | BUYT_NMEA_HAS_QUALITY |
                          BUYT_NMEA_HAS_DATE);
}

#define BAD(cond)                                                                                  \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return BUYT_NMEA_REJECT_BAD_FIELD;                                                     \
    } while (0)

/* $--GGA,hhmmss.ss,llll.ll,a,yyyyy.yy,a,q,nn,h.h,a.a,M,g.g,M,age,stn */
static enum buyt_nmea_reject parse_gga(const struct field *f, int nf, struct buyt_nmea_sentence *s)
{
    if (nf < 10)
        return BUYT_NMEA_REJECT_MALFORMED;
    BAD(parse_opt_time(f[1], s));
    BAD(parse_sats(f[7], s));
    /* Fix quality 0..8: invalid, GPS, DGPS, PPS, RTK fixed, RTK float, dead reckoning,
     * manual input, simulator. The last two are not measurements. */
    static const enum buyt_nmea_quality quality[9] = {
        BUYT_NMEA_QUALITY_NONE,      BUYT_NMEA_QUALITY_GPS,  BUYT_NMEA_QUALITY_DGPS,
        BUYT_NMEA_QUALITY_GPS,       BUYT_NMEA_QUALITY_RTK,  BUYT_NMEA_QUALITY_RTK,
        BUYT_NMEA_QUALITY_ESTIMATED, BUYT_NMEA_QUALITY_NONE, BUYT_NMEA_QUALITY_NONE};
    if (f[6].n) {
        BAD(f[6].n == 1 && f[6].p[0] >= '0' && f[6].p[0] <= '8');
        enum buyt_nmea_quality q = quality[f[6].p[0] - '0'];
        s->valid = q != BUYT_NMEA_QUALITY_NONE;
        if (s->valid)
            set_quality(s, q);
    }
    if (s->valid == 0)
        return BUYT_NMEA_OK;
    BAD(parse_position(&f[2], s));
    BAD(parse_hdop(f[8], s));
    BAD(parse_alt(f[9], nf > 10 ? f[10] : (struct field){0}, s));
    return BUYT_NMEA_OK;
}

/* $--RMC,hhmmss.ss,A,llll.ll,a,yyyyy.yy,a,x.x,x.x,ddmmyy,x.x,a,m[,s] */
static enum buyt_nmea_reject parse_rmc(const struct field *f, int nf, struct buyt_nmea_sentence *s)
{
    if (nf < 10)
        return BUYT_NMEA_REJECT_MALFORMED;
    BAD(parse_opt_time(f[1], s));
    s->valid = field_is(f[2], 'A'); /* V, empty or anything else: no fix */
    if (nf > 12 && f[12].n == 1)
        apply_faa_mode(f[12].p[0], s);
    if (s->valid != 1) { /* a receiver without a fix prints a default date: not used */
        drop_fix_values(s);
        s->valid = 0;
        return BUYT_NMEA_OK;
    }
    BAD(parse_position(&f[3], s));
    BAD(parse_speed(f[7], false, s));
    BAD(parse_course(f[8], s));
    BAD(f[9].n == 0 || parse_ddmmyy(f[9], s));
    if (!(s->has & BUYT_NMEA_HAS_QUALITY))
        set_quality(s, BUYT_NMEA_QUALITY_GPS);
    return BUYT_NMEA_OK;
}

/* $--GLL,llll.ll,a,yyyyy.yy,a[,hhmmss.ss,A[,m]] (time and status since NMEA 2.0) */
static enum buyt_nmea_reject parse_gll(const struct field *f, int nf, struct buyt_nmea_sentence *s)
{
    if (nf < 5)
        return BUYT_NMEA_REJECT_MALFORMED;
    if (nf > 5)
        BAD(parse_opt_time(f[5], s));
    if (nf > 6) /* V, empty or anything else (Magellan eXplorist: 'N'): no fix */
        s->valid = field_is(f[6], 'A');
    if (nf > 7 && f[7].n == 1)
        apply_faa_mode(f[7].p[0], s);
    if (s->valid == 0) {
        drop_fix_values(s);
        return BUYT_NMEA_OK;
    }
    BAD(parse_position(&f[1], s));
    return BUYT_NMEA_OK;
}

/* $--VTG,x.x,T,x.x,M,x.x,N,x.x,K[,m]  or, before NMEA 2.0, $--VTG,true,mag,knots,kmh */
static enum buyt_nmea_reject parse_vtg(const struct field *f, int nf, struct buyt_nmea_sentence *s)
{
    if (nf < 5)
        return BUYT_NMEA_REJECT_MALFORMED;
    if (nf >= 9 && field_is(f[2], 'T')) {
        if (nf > 9 && f[9].n == 1)
            apply_faa_mode(f[9].p[0], s);
        if (s->valid == 0) {
            drop_fix_values(s);
            return BUYT_NMEA_OK;
        }
        BAD(parse_course(f[1], s));
        BAD(f[5].n ? parse_speed(f[5], false, s) : parse_speed(f[7], true, s));
    } else {
        BAD(parse_course(f[1], s));
        BAD(f[3].n ? parse_speed(f[3], false, s) : parse_speed(f[4], true, s));
    }
    s->has &= ~(uint32_t)BUYT_NMEA_HAS_QUALITY; /* VTG's mode does not rank a fix */
    return BUYT_NMEA_OK;
}

/* $--GSA,A,3,sv x12,pdop,hdop,vdop[,system] */
static enum buyt_nmea_reject parse_gsa(const struct field *f, int nf, struct buyt_nmea_sentence *s)
{
    if (nf < 18)
        return BUYT_NMEA_REJECT_MALFORMED;
    if (f[2].n) {
        BAD(f[2].n == 1 && f[2].p[0] >= '1' && f[2].p[0] <= '3');
        s->gsa_mode = (uint8_t)(f[2].p[0] - '0');
        s->has |= BUYT_NMEA_HAS_MODE;
    }
    uint32_t used = 0;
    for (int i = 3; i <= 14; i++)
        used += f[i].n > 0;
    s->satellites = used;
    s->has |= BUYT_NMEA_HAS_SATS;
    if (s->gsa_mode >= 2)
        BAD(parse_hdop(f[16], s));
    return BUYT_NMEA_OK;
}

/* $--GNS,hhmmss.ss,llll.ll,a,yyyyy.yy,a,modes,nn,h.h,alt,sep,age,stn[,navstatus] */
static enum buyt_nmea_reject parse_gns(const struct field *f, int nf, struct buyt_nmea_sentence *s)
{
    if (nf < 10)
        return BUYT_NMEA_REJECT_MALFORMED;
    BAD(parse_opt_time(f[1], s));
    BAD(parse_sats(f[7], s));
    /* One mode letter per constellation (GPS, GLONASS, Galileo, BeiDou...): the best ranks
     * the fix; N, S, M, V, U and letters of later NMEA versions are not fixes. */
    static const char rank[] = "EAPDFR"; /* worst to best */
    int best = -1;
    for (size_t i = 0; i < f[6].n; i++) {
        const char *r = memchr(rank, f[6].p[i], sizeof rank - 1);
        if (r && r - rank > best)
            best = (int)(r - rank);
    }
    if (f[6].n)
        s->valid = 0;
    if (best >= 0) {
        s->valid = 1;
        apply_faa_mode(rank[best], s);
    }
    if (s->valid == 0) {
        drop_fix_values(s);
        return BUYT_NMEA_OK;
    }
    BAD(parse_position(&f[2], s));
    BAD(parse_hdop(f[8], s));
    BAD(parse_alt(f[9], (struct field){0}, s));
    return BUYT_NMEA_OK;
}

/* $--ZDA,hhmmss.ss,dd,mm,yyyy,zh,zm */
static enum buyt_nmea_reject parse_zda(const struct field *f, int nf, struct buyt_nmea_sentence *s)
{
    if (nf < 5)
        return BUYT_NMEA_REJECT_MALFORMED;
    BAD(parse_opt_time(f[1], s));
    if (f[2].n == 0 && f[3].n == 0 && f[4].n == 0)
        return BUYT_NMEA_OK; /* receiver does not know the date yet */
    uint32_t d, m, y;
    BAD(f[4].n == 4 && parse_uint(f[2], 31, &d) && parse_uint(f[3], 12, &m) &&
        parse_uint(f[4], 9999, &y) && valid_date((int)y, (int)m, (int)d));
    s->year = (int32_t)y;
    s->month = (int32_t)m;
    s->day = (int32_t)d;
    s->has |= BUYT_NMEA_HAS_DATE;
    return BUYT_NMEA_OK;
}

static enum buyt_nmea_type type_of(const char *t)
{
    static const struct {
        char name[4];
        enum buyt_nmea_type type;
    } known[] = {{"GGA", BUYT_NMEA_GGA}, {"RMC", BUYT_NMEA_RMC}, {"VTG", BUYT_NMEA_VTG},
                 {"GSA", BUYT_NMEA_GSA}, {"GNS", BUYT_NMEA_GNS}, {"GLL", BUYT_NMEA_GLL},
                 {"ZDA", BUYT_NMEA_ZDA}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (memcmp(t, known[i].name, 3) == 0)
            return known[i].type;
    return BUYT_NMEA_UNKNOWN;
}

static bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}
static bool is_alnum(char c)
{
    return is_upper(c) || is_digit(c) || (c >= 'a' && c <= 'z');
}

/* Checks "*hh" (XOR of the bytes between the '$' or '!' and the '*'). *body_end gets the index of
 * '*', or len when there is no checksum and the options allow it. */
static enum buyt_nmea_reject check_checksum(const char *text, size_t len, uint32_t options,
                                            size_t *body_end)
{
    size_t star = len;
    for (size_t i = len; i-- > 1;)
        if (text[i] == '*') {
            star = i;
            break;
        }
    if (star == len) {
        if (!(options & BUYT_NMEA_OPT_ACCEPT_NO_CHECKSUM))
            return BUYT_NMEA_REJECT_NO_CHECKSUM;
        *body_end = len;
        return BUYT_NMEA_OK;
    }
    if (len - star != 3 || hex_value(text[star + 1]) < 0 || hex_value(text[star + 2]) < 0)
        return BUYT_NMEA_REJECT_BAD_CHECKSUM;
    unsigned sum = 0;
    for (size_t i = 1; i < star; i++)
        sum ^= (unsigned char)text[i];
    if (sum != (unsigned)(hex_value(text[star + 1]) << 4 | hex_value(text[star + 2])))
        return BUYT_NMEA_REJECT_BAD_CHECKSUM;
    *body_end = star;
    return BUYT_NMEA_OK;
}

enum buyt_nmea_reject buyt_nmea_parse(const char *text, size_t len, uint32_t options,
                                      struct buyt_nmea_sentence *out)
{
    memset(out, 0, sizeof *out);
    out->valid = -1;
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
        len--;
    if (len < 2 || (text[0] != '$' && text[0] != '!'))
        return BUYT_NMEA_REJECT_MALFORMED;
    if (len > BUYT_NMEA_MAX_SENTENCE)
        return BUYT_NMEA_REJECT_TOO_LONG;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] > 0x7e)
            return BUYT_NMEA_REJECT_BAD_CHAR;
    size_t end;
    enum buyt_nmea_reject r = check_checksum(text, len, options, &end);
    if (r != BUYT_NMEA_OK)
        return r;

    struct field f[MAX_FIELDS];
    int nf = 0;
    size_t start = 1;
    for (size_t i = 1; i <= end && nf < MAX_FIELDS; i++)
        if (i == end || text[i] == ',') {
            f[nf++] = (struct field){text + start, i - start};
            start = i + 1;
        }
    for (size_t i = 0; i < f[0].n; i++)
        if (!is_alnum(f[0].p[i]))
            return BUYT_NMEA_REJECT_MALFORMED;
    if (f[0].n == 0)
        return BUYT_NMEA_REJECT_MALFORMED;
    if (f[0].p[0] == 'P') {
        out->type = BUYT_NMEA_PROPRIETARY;
        return BUYT_NMEA_OK;
    }
    out->type = BUYT_NMEA_UNKNOWN;
    if (f[0].n != 5 || !is_upper(f[0].p[0]) || !is_upper(f[0].p[1]))
        return BUYT_NMEA_OK;
    out->type = type_of(f[0].p + 2);
    if (out->type == BUYT_NMEA_UNKNOWN)
        return BUYT_NMEA_OK;
    out->talker[0] = f[0].p[0];
    out->talker[1] = f[0].p[1];
    switch (out->type) {
    case BUYT_NMEA_GGA: return parse_gga(f, nf, out);
    case BUYT_NMEA_RMC: return parse_rmc(f, nf, out);
    case BUYT_NMEA_VTG: return parse_vtg(f, nf, out);
    case BUYT_NMEA_GSA: return parse_gsa(f, nf, out);
    case BUYT_NMEA_GNS: return parse_gns(f, nf, out);
    case BUYT_NMEA_GLL: return parse_gll(f, nf, out);
    case BUYT_NMEA_ZDA: return parse_zda(f, nf, out);
    default: return BUYT_NMEA_OK;
    }
}
