/* NMEA 0183 parser, epoch merger and buyt-nmea-decode: one test per behaviour, hand-made
 * sentences (checksums computed by nmea() below, so a test reads as the receiver's text). */
#include "buyt/v1/buyt.pb-c.h"
#include "clock.h"
#include "error.h"
#include "nmea.h"
#include "testkit.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define DAY_MS 86400000LL

/* "$" body "*hh\r\n": one of 16 rotating static buffers. */
static const char *nmea(const char *body)
{
    static char ring[16][256];
    static unsigned next;
    char *out = ring[next++ % 16];
    unsigned sum = 0;
    for (const char *c = body; *c; c++)
        sum ^= (unsigned char)*c;
    snprintf(out, sizeof ring[0], "$%s*%02X\r\n", body, sum);
    return out;
}

/* Unix ms of a UTC date and time of day. */
static int64_t utc_ms(int y, int mo, int d, int h, int mi, int s, int ms)
{
    return buyt_days_from_civil(y, (unsigned)mo, (unsigned)d) * DAY_MS +
           ((h * 60 + mi) * 60 + s) * 1000LL + ms;
}

struct capture {
    struct buyt_nmea_fix fix[64];
    int nfix;
    enum buyt_nmea_reject reject[64];
    enum buyt_nmea_type type[64];
    uint64_t line[64];
    int nev;
};

static void cap_fix(const struct buyt_nmea_fix *f, void *arg)
{
    struct capture *c = arg;
    cr_assert_lt(c->nfix, 64);
    c->fix[c->nfix++] = *f;
}

static void cap_event(const struct buyt_nmea_event *ev, void *arg)
{
    struct capture *c = arg;
    cr_assert_lt(c->nev, 64);
    c->reject[c->nev] = ev->reject;
    c->type[c->nev] = ev->type;
    c->line[c->nev++] = ev->line;
}

static void start(struct buyt_nmea_parser *p, struct capture *c, int64_t ref_ms, uint32_t options)
{
    memset(c, 0, sizeof *c);
    struct buyt_nmea_config cfg = {
        .ref_ms = ref_ms, .options = options, .on_fix = cap_fix, .on_event = cap_event, .arg = c};
    cr_assert_eq(buyt_nmea_init(p, &cfg), 0);
}

static void feed(struct buyt_nmea_parser *p, const char *s)
{
    buyt_nmea_feed(p, s, strlen(s));
}

/* One epoch in Hà Nội, 2026-11-24 08:30:15.5 UTC, 16.5 kn west. */
#define GGA_HN "GPGGA,083015.50,2101.72200,N,10551.13200,E,1,09,0.9,12.3,M,-22.0,M,,"
#define RMC_HN "GPRMC,083015.50,A,2101.72200,N,10551.13200,E,16.5,273.5,241126,,,A"
#define GSA_3D "GPGSA,A,3,01,02,03,04,05,06,07,08,09,,,,1.5,0.9,1.2"
#define LAT_HN 210287000
#define LON_HN 1058522000

static int rejects(const struct buyt_nmea_parser *p, enum buyt_nmea_reject r)
{
    return (int)buyt_nmea_stats_get(p)->rejected[r];
}

Test(nmea, rejects_bad_checksum)
{
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, 0);
    char bad[256];
    strcpy(bad, nmea(GGA_HN));
    bad[strlen(bad) - 3] ^= 1; /* one bit of the last checksum digit */
    feed(&p, bad);
    buyt_nmea_flush(&p);
    cr_assert_eq(rejects(&p, BUYT_NMEA_REJECT_BAD_CHECKSUM), 1);
    cr_assert_eq(buyt_nmea_stats_get(&p)->accepted, 0);
    cr_assert_eq(c.nfix, 0, "a sentence with a bad checksum gives nothing");
    cr_assert_eq(c.reject[0], BUYT_NMEA_REJECT_BAD_CHECKSUM);
}

Test(nmea, rejects_a_checksum_that_is_not_two_hex_digits)
{
    struct buyt_nmea_sentence s;
    /* garmin48.log in gpsd's corpus: "*7", one digit. */
    const char *one = "$GPGSV,3,1,11,01,78,221,47,03,09,042,00,04,05,242,00,06,04,149,00*7";
    cr_assert_eq(buyt_nmea_parse(one, strlen(one), 0, &s), BUYT_NMEA_REJECT_BAD_CHECKSUM);
    const char *zz = "$GPGGA,083015*ZZ";
    cr_assert_eq(buyt_nmea_parse(zz, strlen(zz), 0, &s), BUYT_NMEA_REJECT_BAD_CHECKSUM);
    char lower[128];
    snprintf(lower, sizeof lower, "%s", nmea("GPZDA,083015.00,24,11,2026,,"));
    for (char *x = strchr(lower, '*'); *x; x++)
        *x = (char)(*x >= 'A' && *x <= 'F' ? *x + 32 : *x);
    cr_assert_eq(buyt_nmea_parse(lower, strlen(lower) - 2, 0, &s), BUYT_NMEA_OK,
                 "lower-case hex is taken, as gpsd does");
}

Test(nmea, rejects_sentences_without_checksum_unless_configured)
{
    const char *line = "$GPGGA,083015.50,2101.72200,N,10551.13200,E,1,09,0.9,12.3,M,-22.0,M,,\r\n";
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, 0);
    feed(&p, line);
    buyt_nmea_flush(&p);
    cr_assert_eq(rejects(&p, BUYT_NMEA_REJECT_NO_CHECKSUM), 1);
    cr_assert_eq(c.nfix, 0);

    start(&p, &c, 0, BUYT_NMEA_OPT_ACCEPT_NO_CHECKSUM);
    feed(&p, line);
    buyt_nmea_flush(&p);
    cr_assert_eq(rejects(&p, BUYT_NMEA_REJECT_NO_CHECKSUM), 0);
    cr_assert_eq(c.nfix, 1);
    cr_assert_eq(c.fix[0].lat_e7, LAT_HN);
}

Test(nmea, merges_rmc_and_gga_of_one_epoch)
{
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, 0);
    feed(&p, nmea(GGA_HN));
    feed(&p, nmea(RMC_HN));
    feed(&p, nmea(GSA_3D));
    cr_assert_eq(c.nfix, 0, "the epoch is open until the next one starts");
    feed(&p, nmea("GPGGA,083016.50,2101.72200,N,10551.13200,E,1,09,0.9,12.3,M,-22.0,M,,"));
    cr_assert_eq(c.nfix, 1);
    const struct buyt_nmea_fix *f = &c.fix[0];
    cr_assert_eq(f->time_ms, utc_ms(2026, 11, 24, 8, 30, 15, 500));
    cr_assert_eq(f->tod_ms, (8 * 3600 + 30 * 60 + 15) * 1000 + 500);
    cr_assert_eq(f->flags, BUYT_NMEA_FIX_TIME | BUYT_NMEA_FIX_TOD);
    cr_assert_eq(f->lat_e7, LAT_HN);
    cr_assert_eq(f->lon_e7, LON_HN);
    cr_assert_eq(f->speed_cms, 849, "16.5 kn = 848.8 cm/s");
    cr_assert_eq(f->course_cdeg, 27350);
    cr_assert_eq(f->alt_cm, 1230, "MSL altitude from GGA");
    cr_assert_eq(f->hdop_x100, 90);
    cr_assert_eq(f->satellites, 9);
    cr_assert_eq(f->fields, BUYT_NMEA_FIELD_SPEED | BUYT_NMEA_FIELD_COURSE |
                                BUYT_NMEA_FIELD_ALTITUDE | BUYT_NMEA_FIELD_HDOP |
                                BUYT_NMEA_FIELD_SATELLITES);
    cr_assert_eq(f->quality, BUYT_NMEA_QUALITY_GPS);
    cr_assert_eq(f->mode, BUYT_NMEA_MODE_3D);
    cr_assert_eq(f->sentences, 1u << BUYT_NMEA_GGA | 1u << BUYT_NMEA_RMC | 1u << BUYT_NMEA_GSA);
    buyt_nmea_flush(&p);
    cr_assert_eq(c.nfix, 2, "flush emits the last epoch");
    cr_assert_eq(c.fix[1].time_ms, utc_ms(2026, 11, 24, 8, 30, 16, 500));
    cr_assert_eq(buyt_nmea_stats_get(&p)->fixes, 2);
}

Test(nmea, epoch_end_emits_without_waiting_for_the_next_epoch)
{
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, 0);
    feed(&p, nmea(RMC_HN));
    const char *gga = nmea(GGA_HN);
    buyt_nmea_feed(&p, gga, 11); /* the next sentence is still arriving */
    buyt_nmea_epoch_end(&p);
    cr_assert_eq(c.nfix, 1, "the serial line went quiet: emit now");
    feed(&p, gga + 11);
    cr_assert_eq(buyt_nmea_stats_get(&p)->accepted, 2, "the partial sentence was kept");
}

Test(nmea, resyncs_on_dollar_inside_a_line)
{
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, 0);
    char buf[512];
    snprintf(buf, sizeof buf, "$GPGGA,083015.50,21%s%s", nmea(RMC_HN), nmea(GSA_3D));
    feed(&p, buf);
    buyt_nmea_flush(&p);
    cr_assert_eq(rejects(&p, BUYT_NMEA_REJECT_TRUNCATED), 1, "the cut GGA");
    cr_assert_eq(buyt_nmea_stats_get(&p)->accepted, 2, "RMC and GSA");
    cr_assert_eq(c.nfix, 1);
    cr_assert_eq(c.fix[0].sentences, 1u << BUYT_NMEA_RMC | 1u << BUYT_NMEA_GSA);
    cr_assert_eq(c.fix[0].lat_e7, LAT_HN);
}

Test(nmea, stitches_a_sentence_cut_by_an_injected_one)
{
    /* gpsd-noisy/isync.log: a microcontroller injects $PTNTA into the u-blox's sentence. */
    const char *gga = nmea(GGA_HN);
    char buf[512];
    snprintf(buf, sizeof buf, "%.20s%s%s", gga, nmea("PTNTA,20160203131539,2,T4,000000066"),
             gga + 20);
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, 0);
    feed(&p, buf);
    buyt_nmea_flush(&p);
    cr_assert_eq(buyt_nmea_stats_get(&p)->stitched, 1);
    cr_assert_eq(buyt_nmea_stats_get(&p)->ignored, 1, "the injected proprietary sentence");
    cr_assert_eq(buyt_nmea_stats_get(&p)->accepted, 1);
    cr_assert_eq(c.nfix, 1);
    cr_assert_eq(c.fix[0].lon_e7, LON_HN);

    /* What follows the injected sentence is not the rest of the cut one. */
    snprintf(buf, sizeof buf, "%.20s%sgarbage\r\n%s", gga, nmea("PTNTA,1"), nmea(RMC_HN));
    start(&p, &c, 0, 0);
    feed(&p, buf);
    buyt_nmea_flush(&p);
    cr_assert_eq(buyt_nmea_stats_get(&p)->stitched, 0);
    cr_assert_eq(rejects(&p, BUYT_NMEA_REJECT_TRUNCATED), 1);
    cr_assert_eq(buyt_nmea_stats_get(&p)->accepted, 1, "the RMC after it");
}

static void assert_no_position(const struct buyt_nmea_fix *f)
{
    cr_assert_eq(f->mode, BUYT_NMEA_MODE_NO_FIX);
    cr_assert_eq(f->quality, BUYT_NMEA_QUALITY_NONE);
    cr_assert_eq(f->lat_e7, 0);
    cr_assert_eq(f->lon_e7, 0);
    cr_assert_eq(f->fields & ~(uint32_t)BUYT_NMEA_FIELD_SATELLITES, 0,
                 "no speed, course, altitude or HDOP without a fix");
}

Test(nmea, no_fix_is_never_a_position)
{
    static const char *const no_fix[][2] = {
        {"GPRMC,083015.00,V,2101.72200,N,10551.13200,E,0.0,0.0,241126,,,N", "RMC status V"},
        {"GPGGA,083015.00,2101.72200,N,10551.13200,E,0,00,99.9,12.3,M,,M,,", "GGA quality 0"},
        {"GPGGA,083015.00,2101.72200,N,10551.13200,E,8,09,0.9,12.3,M,,M,,", "GGA simulator"},
        {"GPGLL,2101.72200,N,10551.13200,E,083015.00,V,N", "GLL status V"},
        {"GNGNS,083015.00,2101.72200,N,10551.13200,E,NNNN,00,,,,,,V", "GNS mode N"},
        {"GPGGA,083015.00,,,,,1,09,0.9,12.3,M,,M,,", "GGA without position"},
        {"GPRMC,083015.00,A,2101.72200,N,10551.13200,E,0.0,0.0,241126,,,N", "RMC mode N"},
    };
    for (size_t i = 0; i < sizeof no_fix / sizeof no_fix[0]; i++) {
        struct buyt_nmea_parser p;
        struct capture c;
        start(&p, &c, 0, 0);
        feed(&p, nmea(no_fix[i][0]));
        buyt_nmea_flush(&p);
        cr_assert_eq(c.nfix, 1, "%s", no_fix[i][1]);
        assert_no_position(&c.fix[0]);
        Buyt__V1__Fix pf = BUYT__V1__FIX__INIT;
        buyt_nmea_fix_to_proto(&c.fix[0], &pf);
        cr_assert_eq(pf.quality, BUYT__V1__FIX_QUALITY__FIX_QUALITY_NONE, "%s", no_fix[i][1]);
        cr_assert_eq(pf.lat_e7, 0);
    }
}

Test(nmea, one_sentence_saying_no_fix_outweighs_the_others)
{
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, 0);
    feed(&p, nmea(GGA_HN));
    feed(&p, nmea("GPRMC,083015.50,V,2101.72200,N,10551.13200,E,0.0,0.0,241126,,,N"));
    buyt_nmea_flush(&p);
    cr_assert_eq(c.nfix, 1);
    assert_no_position(&c.fix[0]);
    cr_assert_eq(c.fix[0].flags & BUYT_NMEA_FIX_TIME, 0,
                 "RMC V's date is not used (cold receivers print a default date)");
}

Test(nmea, corrects_gps_week_rollover)
{
    /* A receiver 1024 weeks behind says 2007-04-10 on 2026-11-24. */
    int64_t ref = utc_ms(2026, 1, 1, 0, 0, 0, 0);
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, ref, 0);
    feed(&p, nmea("GPRMC,083015.50,A,2101.72200,N,10551.13200,E,16.5,273.5,100407,,,A"));
    feed(&p, nmea("GPGGA,083016.50,2101.72200,N,10551.13200,E,1,09,0.9,12.3,M,-22.0,M,,"));
    buyt_nmea_flush(&p);
    cr_assert_eq(c.nfix, 2);
    cr_assert_eq(c.fix[0].time_ms, utc_ms(2026, 11, 24, 8, 30, 15, 500));
    cr_assert(c.fix[0].flags & BUYT_NMEA_FIX_ROLLOVER);
    cr_assert_eq(c.fix[1].time_ms, utc_ms(2026, 11, 24, 8, 30, 16, 500),
                 "a GGA-only epoch keeps the corrected date");
    cr_assert(c.fix[1].flags & BUYT_NMEA_FIX_ROLLOVER);
    cr_assert_eq(buyt_nmea_stats_get(&p)->rollovers, 1);

    /* Without a reference (replaying an old log) the date is taken as it is. */
    start(&p, &c, 0, 0);
    feed(&p, nmea("GPRMC,083015.50,A,2101.72200,N,10551.13200,E,16.5,273.5,100407,,,A"));
    buyt_nmea_flush(&p);
    cr_assert_eq(c.fix[0].time_ms, utc_ms(2007, 4, 10, 8, 30, 15, 500));
    cr_assert_eq(c.fix[0].flags & BUYT_NMEA_FIX_ROLLOVER, 0);
}

Test(nmea, refuses_nonsense_dates)
{
    int64_t ref = utc_ms(2026, 1, 1, 0, 0, 0, 0);
    static const char *const dates[] = {
        "050180", /* 1980-01-05, a cold receiver's default (rgm3800.log); +1024 weeks = 1999 */
        "010179", /* 2079: two-digit year decades ahead */
        "241125", /* 2025-11-24: the clock went back (or 2045 after a rollover: too far) */
        "010137", /* 2037: more than 10 years after the reference */
    };
    for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) {
        char body[128];
        snprintf(body, sizeof body,
                 "GPRMC,083015.50,A,2101.72200,N,10551.13200,E,16.5,273.5,%s,,,A", dates[i]);
        struct buyt_nmea_parser p;
        struct capture c;
        start(&p, &c, ref, 0);
        feed(&p, nmea(GGA_HN));
        feed(&p, nmea(body));
        buyt_nmea_flush(&p);
        cr_assert_eq(rejects(&p, BUYT_NMEA_REJECT_BAD_DATE), 1, "%s", dates[i]);
        cr_assert_eq(c.nfix, 1, "the GGA still gives the position");
        cr_assert_eq(c.fix[0].lat_e7, LAT_HN);
        cr_assert_eq(c.fix[0].flags & BUYT_NMEA_FIX_TIME, 0, "%s: never dated", dates[i]);
    }
    /* Without a reference, only 2000..2099 pass. */
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, 0);
    feed(&p, nmea("GPRMC,083015.50,A,2101.72200,N,10551.13200,E,16.5,273.5,050180,,,A"));
    feed(&p, nmea("GPZDA,083016.00,01,01,2150,,"));
    cr_assert_eq(rejects(&p, BUYT_NMEA_REJECT_BAD_DATE), 2);
}

Test(nmea, two_digit_year)
{
    static const struct {
        const char *ddmmyy;
        int year;
    } cases[] = {{"241126", 2026}, {"010100", 2000}, {"311279", 2079},
                 {"010180", 1980}, {"311299", 1999}, {"290224", 2024}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[128];
        snprintf(body, sizeof body, "GPRMC,083015.50,A,2101.722,N,10551.132,E,0.0,0.0,%s,,,A",
                 cases[i].ddmmyy);
        const char *s = nmea(body);
        struct buyt_nmea_sentence out;
        cr_assert_eq(buyt_nmea_parse(s, strlen(s) - 2, 0, &out), BUYT_NMEA_OK, "%s",
                     cases[i].ddmmyy);
        cr_assert_eq(out.year, cases[i].year, "%s", cases[i].ddmmyy);
    }
    const char *feb29 = nmea("GPRMC,083015.50,A,2101.722,N,10551.132,E,0.0,0.0,290223,,,A");
    struct buyt_nmea_sentence out;
    cr_assert_eq(buyt_nmea_parse(feb29, strlen(feb29) - 2, 0, &out), BUYT_NMEA_REJECT_BAD_FIELD,
                 "2023 is not a leap year");
}

Test(nmea, midnight_crossing)
{
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, 0);
    feed(&p, nmea("GPRMC,235959.00,A,2101.72200,N,10551.13200,E,0.0,0.0,241126,,,A"));
    feed(&p, nmea("GPGGA,235959.00,2101.72200,N,10551.13200,E,1,09,0.9,12.3,M,-22.0,M,,"));
    feed(&p, nmea("GPGGA,000000.00,2101.72200,N,10551.13200,E,1,09,0.9,12.3,M,-22.0,M,,"));
    feed(&p, nmea("GPGGA,000001.00,2101.72200,N,10551.13200,E,1,09,0.9,12.3,M,-22.0,M,,"));
    buyt_nmea_flush(&p);
    cr_assert_eq(c.nfix, 3);
    cr_assert_eq(c.fix[0].time_ms, utc_ms(2026, 11, 24, 23, 59, 59, 0));
    cr_assert_eq(c.fix[1].time_ms, utc_ms(2026, 11, 25, 0, 0, 0, 0), "GGA alone, next day");
    cr_assert_eq(c.fix[2].time_ms, utc_ms(2026, 11, 25, 0, 0, 1, 0));

    /* A ZDA already past midnight dates the epoch still open before it. */
    start(&p, &c, 0, 0);
    feed(&p, nmea("GPGGA,235959.50,2101.72200,N,10551.13200,E,1,09,0.9,12.3,M,-22.0,M,,"));
    feed(&p, nmea("GPZDA,000000.00,25,11,2026,00,00"));
    feed(&p, nmea("GPGGA,000000.50,2101.72200,N,10551.13200,E,1,09,0.9,12.3,M,-22.0,M,,"));
    buyt_nmea_flush(&p);
    cr_assert_eq(c.nfix, 2);
    cr_assert_eq(c.fix[0].time_ms, utc_ms(2026, 11, 24, 23, 59, 59, 500));
    cr_assert_eq(c.fix[1].time_ms, utc_ms(2026, 11, 25, 0, 0, 0, 500));
}

Test(nmea, gga_before_any_date_has_time_of_day_only)
{
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, 0);
    feed(&p, nmea(GGA_HN));
    buyt_nmea_flush(&p);
    cr_assert_eq(c.nfix, 1);
    cr_assert_eq(c.fix[0].flags, BUYT_NMEA_FIX_TOD);
    cr_assert_eq(c.fix[0].tod_ms, 30615500);
    cr_assert_eq(c.fix[0].lat_e7, LAT_HN);
}

Test(nmea, every_talker)
{
    static const char *const talkers[] = {"GP", "GN", "GL", "GA", "GB", "BD", "QZ", "IN"};
    for (size_t i = 0; i < sizeof talkers / sizeof talkers[0]; i++) {
        char gga[128], rmc[128];
        snprintf(gga, sizeof gga, "%s%s", talkers[i], &GGA_HN[2]);
        snprintf(rmc, sizeof rmc, "%s%s", talkers[i], &RMC_HN[2]);
        struct buyt_nmea_parser p;
        struct capture c;
        start(&p, &c, 0, 0);
        feed(&p, nmea(gga));
        feed(&p, nmea(rmc));
        buyt_nmea_flush(&p);
        cr_assert_eq(buyt_nmea_stats_get(&p)->accepted, 2, "%s", talkers[i]);
        cr_assert_eq(c.nfix, 1, "%s", talkers[i]);
        cr_assert_eq(c.fix[0].time_ms, utc_ms(2026, 11, 24, 8, 30, 15, 500), "%s", talkers[i]);
        cr_assert_eq(c.fix[0].lat_e7, LAT_HN, "%s", talkers[i]);
    }
}

Test(nmea, skips_proprietary_and_unknown_sentences)
{
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, 0);
    feed(&p, "$PMTK001,604,1*30\r\n"); /* mtk-3329.log */
    feed(&p, nmea("PGRME,15.0,M,45.0,M,25.0,M"));
    feed(&p, nmea("GPGSV,3,1,11,01,78,221,47,03,09,042,00,04,05,242,00,06,04,149,00"));
    feed(&p, nmea("GPTXT,01,01,02,u-blox ag - www.u-blox.com"));
    feed(&p, "$LOG108,1,100,100,0,0,5,0,4,462*61\r\n");             /* rgm3800.log */
    feed(&p, "!AIVDO,1,1,,,B3aC3LP00063aj7RNpl03wSUwP06,0*43\r\n"); /* ait250.log, AIS */
    feed(&p, nmea(GGA_HN));
    buyt_nmea_flush(&p);
    const struct buyt_nmea_stats *st = buyt_nmea_stats_get(&p);
    cr_assert_eq(st->ignored, 6);
    cr_assert_eq(st->accepted, 1);
    for (int r = 1; r < BUYT_NMEA_REJECT__COUNT; r++)
        cr_assert_eq(st->rejected[r], 0, "%s", buyt_nmea_reject_name(r));
    cr_assert_eq(c.type[0], BUYT_NMEA_PROPRIETARY);
    cr_assert_eq(c.type[1], BUYT_NMEA_PROPRIETARY);
    cr_assert_eq(c.type[2], BUYT_NMEA_UNKNOWN);
    cr_assert_eq(c.nfix, 1);
}

Test(nmea, truncated_input_is_rejected_at_flush)
{
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, 0);
    feed(&p, nmea(RMC_HN));
    feed(&p, "$GPGGA,012530.562,4131.7353,N,09336.8150,W,0,00,50."); /* holux-gm-210.log */
    buyt_nmea_flush(&p);
    cr_assert_eq(rejects(&p, BUYT_NMEA_REJECT_TRUNCATED), 1);
    cr_assert_eq(c.nfix, 1);
    feed(&p, nmea(GGA_HN)); /* the parser goes on after a flush */
    buyt_nmea_flush(&p);
    cr_assert_eq(buyt_nmea_stats_get(&p)->accepted, 2);
}

Test(nmea, tolerates_nuls_between_sentences_not_inside)
{
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, 0);
    char buf[512];
    size_t n = 0;
    memcpy(buf + n, "\0\0\0", 3), n += 3;
    memcpy(buf + n, nmea(GGA_HN), strlen(nmea(GGA_HN))), n += strlen(nmea(GGA_HN));
    buf[n++] = '\0';
    static const char nul_inside[] = "$GPGSA,A,3\0,01*00\r\n";
    memcpy(buf + n, nul_inside, sizeof nul_inside - 1), n += sizeof nul_inside - 1;
    memcpy(buf + n, nmea(RMC_HN), strlen(nmea(RMC_HN))), n += strlen(nmea(RMC_HN));
    buyt_nmea_feed(&p, buf, n);
    buyt_nmea_flush(&p);
    cr_assert_eq(buyt_nmea_stats_get(&p)->accepted, 2);
    cr_assert_eq(rejects(&p, BUYT_NMEA_REJECT_BAD_CHAR), 1, "the NUL inside the GSA");
    cr_assert_eq(c.nfix, 1);
    cr_assert_eq(c.fix[0].sentences, 1u << BUYT_NMEA_GGA | 1u << BUYT_NMEA_RMC);
}

/* The fixes of a few epochs written with line ending `eol`, fed in chunks of `chunk` bytes. */
static void run_epochs(const char *eol, size_t chunk, struct capture *c, struct buyt_nmea_stats *st)
{
    static const char *const bodies[] = {GGA_HN, RMC_HN, GSA_3D,
                                         "GPGGA,083016.50,2101.72300,N,10551.13300,E,1,09,0.9,"
                                         "12.4,M,-22.0,M,,",
                                         "GPRMC,083016.50,A,2101.72300,N,10551.13300,E,16.4,"
                                         "273.4,241126,,,A"};
    char text[2048] = "";
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        char line[256];
        snprintf(line, sizeof line, "%s", nmea(bodies[i]));
        line[strlen(line) - 2] = '\0';
        strcat(text, line);
        strcat(text, eol);
    }
    struct buyt_nmea_parser p;
    start(&p, c, 0, 0);
    for (size_t i = 0; i < strlen(text); i += chunk)
        buyt_nmea_feed(&p, text + i, strlen(text) - i < chunk ? strlen(text) - i : chunk);
    buyt_nmea_flush(&p);
    *st = *buyt_nmea_stats_get(&p);
}

Test(nmea, crlf_lf_and_cr_line_endings_give_the_same_fixes)
{
    struct capture crlf, lf, cr, crcrlf;
    struct buyt_nmea_stats s1, s2, s3, s4;
    run_epochs("\r\n", 4096, &crlf, &s1);
    run_epochs("\n", 4096, &lf, &s2);
    run_epochs("\r", 4096, &cr, &s3);
    run_epochs("\r\r\n", 4096, &crcrlf, &s4); /* Jackson Labs Firefly-1a */
    cr_assert_eq(crlf.nfix, 2);
    cr_assert_eq(s1.accepted, 5);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(memcmp(&crlf.fix[i], &lf.fix[i], sizeof crlf.fix[i]), 0);
        cr_assert_eq(memcmp(&crlf.fix[i], &cr.fix[i], sizeof crlf.fix[i]), 0);
        cr_assert_eq(memcmp(&crlf.fix[i], &crcrlf.fix[i], sizeof crlf.fix[i]), 0);
    }
    cr_assert_eq(s2.accepted + s3.accepted + s4.accepted, 15);
    cr_assert_eq(crlf.fix[1].lat_e7, 210287167);
}

Test(nmea, any_chunking_gives_the_same_result)
{
    struct capture whole, bytes, sevens;
    struct buyt_nmea_stats s1, s2, s3;
    run_epochs("\r\n", 4096, &whole, &s1);
    run_epochs("\r\n", 1, &bytes, &s2);
    run_epochs("\r\n", 7, &sevens, &s3);
    cr_assert_eq(whole.nfix, 2);
    cr_assert_eq(memcmp(whole.fix, bytes.fix, sizeof whole.fix[0] * 2), 0);
    cr_assert_eq(memcmp(whole.fix, sevens.fix, sizeof whole.fix[0] * 2), 0);
    cr_assert_eq(memcmp(&s1, &s2, sizeof s1), 0);
    cr_assert_eq(memcmp(&s1, &s3, sizeof s1), 0);
}

Test(nmea, rejects_overlong_lines_and_resyncs)
{
    /* A sentence of exactly BUYT_NMEA_MAX_SENTENCE characters passes; one more does not. */
    char body[256] = "GPTXT,";
    size_t fill = BUYT_NMEA_MAX_SENTENCE - 4 - strlen(body); /* '$' and "*hh" */
    memset(body + strlen(body), 'A', fill);
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, 0);
    feed(&p, nmea(body));
    cr_assert_eq(strlen(nmea(body)), BUYT_NMEA_MAX_SENTENCE + 2);
    cr_assert_eq(buyt_nmea_stats_get(&p)->ignored, 1);
    strcat(body, "A");
    feed(&p, nmea(body));
    cr_assert_eq(rejects(&p, BUYT_NMEA_REJECT_TOO_LONG), 1);
    char junk[1024];
    memset(junk, 'x', sizeof junk - 1);
    junk[0] = '$';
    junk[sizeof junk - 1] = '\0';
    feed(&p, junk); /* no line end at all, then a sentence */
    feed(&p, nmea(GGA_HN));
    buyt_nmea_flush(&p);
    cr_assert_eq(rejects(&p, BUYT_NMEA_REJECT_TOO_LONG), 2);
    cr_assert_eq(buyt_nmea_stats_get(&p)->accepted, 1);
    cr_assert_eq(c.nfix, 1);
}

Test(nmea, garbage_between_sentences_is_skipped)
{
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, 0);
    feed(&p, "+ 6: 28 (.....)\n\x1b[H\x1b[J r"); /* et-332.log, tomtom-mkII.log */
    feed(&p, nmea(RMC_HN));
    feed(&p, "{\"class\":\"VERSION\"}\r\n");
    buyt_nmea_flush(&p);
    cr_assert_eq(buyt_nmea_stats_get(&p)->accepted, 1);
    for (int r = 1; r < BUYT_NMEA_REJECT__COUNT; r++)
        cr_assert_eq(rejects(&p, r), 0, "text without '$' is not a sentence");
    cr_assert_eq(c.nfix, 1);
}

static struct buyt_nmea_sentence parse_ok(const char *body)
{
    const char *s = nmea(body);
    struct buyt_nmea_sentence out;
    enum buyt_nmea_reject r = buyt_nmea_parse(s, strlen(s) - 2, 0, &out);
    cr_assert_eq(r, BUYT_NMEA_OK, "%s: %s", body, buyt_nmea_reject_name(r));
    return out;
}

Test(nmea, field_units_position_and_time)
{
    struct buyt_nmea_sentence s = parse_ok("GPGLL,4916.45,N,12311.12,W,225444.25,A,A");
    cr_assert_eq(s.lat_e7, 492741667, "49 deg 16.45 min");
    cr_assert_eq(s.lon_e7, -1231853333, "west is negative");
    cr_assert_eq(s.pos_digits, 2);
    cr_assert_eq(s.tod_ms, ((22 * 60 + 54) * 60 + 44) * 1000 + 250);
    s = parse_ok("GPGLL,3342.9024,S,00000.0001,E,000000,A,A");
    cr_assert_eq(s.lat_e7, -337150400, "south is negative");
    cr_assert_eq(s.lon_e7, 17, "1e-4 min = 16.7e-7 deg");
    cr_assert_eq(s.tod_ms, 0);
    s = parse_ok("GPGGA,113938.999,3842.86006889,N,11705.43645510,W,2,09,1.5,1864.182,M,-44.296,"
                 "M,1.4,0000"); /* cat-ms352.log, 8 decimals */
    cr_assert_eq(s.lat_e7, 387143345);
    cr_assert_eq(s.pos_digits, 8);
    cr_assert_eq(s.tod_ms % 1000, 999);
    cr_assert_eq(s.alt_cm, 186418);
    s = parse_ok("GPGLL,2101.722,N,10551.132,E,235960.00,A,A");
    cr_assert_eq(s.tod_ms, 86400000, "a leap second");
}

Test(nmea, field_units_speed_course_altitude_hdop_satellites)
{
    struct buyt_nmea_sentence s =
        parse_ok("GPRMC,083015.50,A,2101.722,N,10551.132,E,1.0,359.99,241126,,,A");
    cr_assert_eq(s.speed_cms, 51, "1 kn = 51.44 cm/s");
    cr_assert_eq(s.course_cdeg, 35999);
    s = parse_ok("GPRMC,083015.50,A,2101.722,N,10551.132,E,0.5,360.0,241126,,,A");
    cr_assert_eq(s.speed_cms, 26, "0.5 kn = 25.72 cm/s");
    cr_assert_eq(s.course_cdeg, 0, "360 is north");
    s = parse_ok("GPRMC,083015.50,A,2101.722,N,10551.132,E,,,241126,,,A");
    cr_assert_eq(s.has & (BUYT_NMEA_HAS_SPEED | BUYT_NMEA_HAS_COURSE), 0, "empty: unknown");
    s = parse_ok("GPGGA,083015.50,2101.722,N,10551.132,E,1,12,0.9,-12.34,M,,M,,");
    cr_assert_eq(s.alt_cm, -1234);
    cr_assert_eq(s.hdop_x100, 90);
    cr_assert_eq(s.satellites, 12);
    s = parse_ok("GPGGA,083015.50,2101.722,N,10551.132,E,1,04,100.0,5,M,,M,,");
    cr_assert_eq(s.has & BUYT_NMEA_HAS_HDOP, 0, "HDOP over 99.99 means unknown");
    cr_assert_eq(s.alt_cm, 500);
}

Test(nmea, vtg_speed_and_course_in_both_formats)
{
    struct buyt_nmea_sentence s = parse_ok("GPVTG,054.7,T,034.4,M,005.5,N,010.2,K,A");
    cr_assert_eq(s.course_cdeg, 5470, "true course, not magnetic");
    cr_assert_eq(s.speed_cms, 283, "5.5 kn");
    s = parse_ok("GPVTG,054.7,T,,M,,N,36.0,K,A");
    cr_assert_eq(s.speed_cms, 1000, "36 km/h when knots are missing");
    s = parse_ok("GPVTG,054.7,034.4,005.5,010.2"); /* NMEA before 2.0 */
    cr_assert_eq(s.course_cdeg, 5470);
    cr_assert_eq(s.speed_cms, 283);
    s = parse_ok("GPVTG,,T,,M,0.000,N,0.000,K,N");
    cr_assert_eq(s.has & BUYT_NMEA_HAS_SPEED, 0, "mode N: no values");

    /* VTG fills what RMC lacks, in its epoch. */
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, 0);
    feed(&p, nmea("GPRMC,083015.50,A,2101.72200,N,10551.13200,E,,,241126,,,A"));
    feed(&p, nmea("GPVTG,054.7,T,034.4,M,005.5,N,010.2,K,A"));
    buyt_nmea_flush(&p);
    cr_assert_eq(c.fix[0].speed_cms, 283);
    cr_assert_eq(c.fix[0].course_cdeg, 5470);
}

Test(nmea, rejects_out_of_range_fields_of_a_valid_fix)
{
    static const char *const bad[] = {
        "GPGGA,083015.50,9100.000,N,10551.132,E,1,09,0.9,12.3,M,,M,,",    /* 91 deg */
        "GPGGA,083015.50,2160.000,N,10551.132,E,1,09,0.9,12.3,M,,M,,",    /* 60 minutes */
        "GPGGA,083015.50,2101.722,X,10551.132,E,1,09,0.9,12.3,M,,M,,",    /* hemisphere */
        "GPGGA,083015.50,2101.722,N,18100.000,E,1,09,0.9,12.3,M,,M,,",    /* 181 deg */
        "GPGGA,246015.50,2101.722,N,10551.132,E,1,09,0.9,12.3,M,,M,,",    /* hour 24 */
        "GPGGA,083015.50,2101.722,N,10551.132,E,1,09,0.9,20000.0,M,,M,,", /* 20 km up */
        "GPGGA,083015.50,2101.722,N,10551.132,E,9,09,0.9,12.3,M,,M,,",    /* quality 9 */
        "GPGGA,083015.50,2101.7-2,N,10551.132,E,1,09,0.9,12.3,M,,M,,",    /* not a number */
        "GPRMC,083015.50,A,2101.722,N,10551.132,E,200.0,0.0,241126,,,A",  /* 370 km/h */
        "GPRMC,083015.50,A,2101.722,N,10551.132,E,1.0,360.5,241126,,,A",  /* course */
        "GPRMC,083015.50,A,2101.722,N,10551.132,E,1.0,0.0,321126,,,A",    /* 32 Nov */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *s = nmea(bad[i]);
        struct buyt_nmea_sentence out;
        cr_assert_eq(buyt_nmea_parse(s, strlen(s) - 2, 0, &out), BUYT_NMEA_REJECT_BAD_FIELD, "%s",
                     bad[i]);
    }
    const char *short_gga = nmea("GPGGA,083015.50,2101.722,N");
    struct buyt_nmea_sentence out;
    cr_assert_eq(buyt_nmea_parse(short_gga, strlen(short_gga) - 2, 0, &out),
                 BUYT_NMEA_REJECT_MALFORMED);
    /* The same garbage in a no-fix sentence is not looked at (tn200-all.log: 36000.0000,N). */
    const char *v = nmea("GPRMC,000452.981,V,36000.0000,N,72000.0000,E,0.000000,,190120,,");
    cr_assert_eq(buyt_nmea_parse(v, strlen(v) - 2, 0, &out), BUYT_NMEA_OK);
}

Test(nmea, gsa_gives_2d_or_3d)
{
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, 0);
    feed(&p, nmea(GGA_HN));
    feed(&p, nmea("GPGSA,A,2,01,02,03,,,,,,,,,,2.0,0.9,1.2"));
    buyt_nmea_flush(&p);
    cr_assert_eq(c.fix[0].mode, BUYT_NMEA_MODE_2D, "GSA says 2D despite GGA's altitude");

    start(&p, &c, 0, 0);
    feed(&p, nmea(GGA_HN));
    buyt_nmea_flush(&p);
    cr_assert_eq(c.fix[0].mode, BUYT_NMEA_MODE_3D, "no GSA: an altitude means 3D");

    start(&p, &c, 0, 0);
    feed(&p, nmea(RMC_HN));
    buyt_nmea_flush(&p);
    cr_assert_eq(c.fix[0].mode, BUYT_NMEA_MODE_2D, "RMC alone: 2D");

    /* GSA every few epochs (u-blox rx210): its word holds until it changes. */
    start(&p, &c, 0, 0);
    feed(&p, nmea(GGA_HN));
    feed(&p, nmea(GSA_3D));
    feed(&p, nmea("GPRMC,083016.50,A,2101.72200,N,10551.13200,E,16.5,273.5,241126,,,A"));
    buyt_nmea_flush(&p);
    cr_assert_eq(c.fix[1].mode, BUYT_NMEA_MODE_3D);
}

Test(nmea, quality_from_gga_and_faa_mode)
{
    static const struct {
        const char *body;
        enum buyt_nmea_quality q;
    } cases[] = {
        {"GPGGA,083015.50,2101.722,N,10551.132,E,2,09,0.9,12.3,M,,M,,", BUYT_NMEA_QUALITY_DGPS},
        {"GPGGA,083015.50,2101.722,N,10551.132,E,4,09,0.9,12.3,M,,M,,", BUYT_NMEA_QUALITY_RTK},
        {"GPGGA,083015.50,2101.722,N,10551.132,E,5,09,0.9,12.3,M,,M,,", BUYT_NMEA_QUALITY_RTK},
        {"GPGGA,083015.50,2101.722,N,10551.132,E,6,09,0.9,12.3,M,,M,,",
         BUYT_NMEA_QUALITY_ESTIMATED},
        {"GPRMC,083015.50,A,2101.722,N,10551.132,E,0.0,0.0,241126,,,D", BUYT_NMEA_QUALITY_DGPS},
        {"GPRMC,083015.50,A,2101.722,N,10551.132,E,0.0,0.0,241126,,,E",
         BUYT_NMEA_QUALITY_ESTIMATED},
        {"GPRMC,083015.50,A,2101.722,N,10551.132,E,0.0,0.0,241126,,", BUYT_NMEA_QUALITY_GPS},
        {"GNGNS,083015.50,2101.722,N,10551.132,E,ADNN,12,0.8,12.3,-22.0,,,V",
         BUYT_NMEA_QUALITY_DGPS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct buyt_nmea_parser p;
        struct capture c;
        start(&p, &c, 0, 0);
        feed(&p, nmea(cases[i].body));
        buyt_nmea_flush(&p);
        cr_assert_eq(c.nfix, 1);
        cr_assert_eq(c.fix[0].quality, cases[i].q, "%s", cases[i].body);
        cr_assert_neq(c.fix[0].mode, BUYT_NMEA_MODE_NO_FIX);
    }
    /* GGA's own verdict wins over RMC's mode letter, whatever the order. */
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, 0);
    feed(&p, nmea("GPRMC,083015.50,A,2101.722,N,10551.132,E,0.0,0.0,241126,,,A"));
    feed(&p, nmea("GPGGA,083015.50,2101.722,N,10551.132,E,2,09,0.9,12.3,M,,M,,"));
    buyt_nmea_flush(&p);
    cr_assert_eq(c.fix[0].quality, BUYT_NMEA_QUALITY_DGPS);
}

Test(nmea, gsa_satellites_add_up_across_constellations)
{
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, 0);
    feed(&p, nmea("GNRMC,083015.50,A,2101.722,N,10551.132,E,0.0,0.0,241126,,,A"));
    feed(&p, nmea("GNGSA,A,3,01,02,03,04,05,,,,,,,,1.5,0.9,1.2"));
    feed(&p, nmea("GNGSA,A,3,67,68,69,,,,,,,,,,1.5,0.9,1.2"));
    buyt_nmea_flush(&p);
    cr_assert_eq(c.fix[0].satellites, 8);
    cr_assert_eq(c.fix[0].hdop_x100, 90);
    cr_assert_eq(c.fix[0].mode, BUYT_NMEA_MODE_3D);
}

Test(nmea, gns_gives_a_multi_constellation_fix)
{
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, 0);
    feed(&p, nmea("GNZDA,083015.00,24,11,2026,,"));
    feed(&p, nmea("GNGNS,083015.00,2101.72200,N,10551.13200,E,AANN,13,0.93,01482.5,-016.5,,"));
    buyt_nmea_flush(&p);
    cr_assert_eq(c.nfix, 1);
    cr_assert_eq(c.fix[0].time_ms, utc_ms(2026, 11, 24, 8, 30, 15, 0), "dated by ZDA");
    cr_assert_eq(c.fix[0].lat_e7, LAT_HN);
    cr_assert_eq(c.fix[0].satellites, 13);
    cr_assert_eq(c.fix[0].hdop_x100, 93);
    cr_assert_eq(c.fix[0].alt_cm, 148250);
    cr_assert_eq(c.fix[0].mode, BUYT_NMEA_MODE_3D);
}

Test(nmea, a_repeated_position_sentence_without_time_is_a_new_epoch)
{
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, 0);
    feed(&p, nmea("GPGLL,2101.72200,N,10551.13200,E,,A,A"));
    feed(&p, nmea("GPGLL,2101.72300,N,10551.13200,E,,A,A"));
    buyt_nmea_flush(&p);
    cr_assert_eq(c.nfix, 2);
    cr_assert_eq(c.fix[1].lat_e7, 210287167);
    cr_assert_eq(c.fix[0].flags, 0, "no time at all");

    /* GPGGA and GLGGA of one epoch (SiRF V) stay together. */
    start(&p, &c, 0, 0);
    char glgga[128];
    snprintf(glgga, sizeof glgga, "GL%s", &GGA_HN[2]);
    feed(&p, nmea(GGA_HN));
    feed(&p, nmea(glgga));
    feed(&p, nmea(RMC_HN));
    buyt_nmea_flush(&p);
    cr_assert_eq(c.nfix, 1);
}

Test(nmea, hash_comments_are_skipped_when_asked)
{
    const char *text = "# Note non-NMEA svid 193:\n#  $QZGSV,1,1,01,193,34,332,,,,\n";
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, BUYT_NMEA_OPT_HASH_COMMENTS);
    feed(&p, text);
    feed(&p, nmea(GGA_HN));
    buyt_nmea_flush(&p);
    cr_assert_eq(buyt_nmea_stats_get(&p)->accepted, 1);
    cr_assert_eq(rejects(&p, BUYT_NMEA_REJECT_NO_CHECKSUM), 0);

    start(&p, &c, 0, 0);
    feed(&p, text);
    buyt_nmea_flush(&p);
    cr_assert_eq(rejects(&p, BUYT_NMEA_REJECT_NO_CHECKSUM), 1, "the '$' in the comment");
}

Test(nmea, events_carry_line_numbers)
{
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, 0);
    feed(&p, "\r\n\r\n");
    feed(&p, nmea(GGA_HN));
    feed(&p, "$GPGGA,083016.50*00\r\n");
    cr_assert_eq(c.nev, 2);
    cr_assert_eq(c.line[0], 3);
    cr_assert_eq(c.line[1], 4);
    cr_assert_eq(c.reject[1], BUYT_NMEA_REJECT_BAD_CHECKSUM);
}

Test(nmea, fix_to_proto_copies_units_and_presence)
{
    struct buyt_nmea_parser p;
    struct capture c;
    start(&p, &c, 0, 0);
    feed(&p, nmea(GGA_HN));
    feed(&p, nmea(RMC_HN));
    buyt_nmea_flush(&p);
    Buyt__V1__Fix f = BUYT__V1__FIX__INIT;
    buyt_nmea_fix_to_proto(&c.fix[0], &f);
    cr_assert_eq(f.lat_e7, LAT_HN);
    cr_assert_eq(f.lon_e7, LON_HN);
    cr_assert_eq(f.speed_cms, 849);
    cr_assert_eq(f.course_cdeg, 27350);
    cr_assert_eq(f.alt_cm, 1230);
    cr_assert_eq(f.hdop_x100, 90);
    cr_assert_eq(f.satellites, 9);
    cr_assert_eq(f.quality, BUYT__V1__FIX_QUALITY__FIX_QUALITY_GPS);
    cr_assert_eq(f.fields,
                 BUYT__V1__FIX_FIELD__FIX_FIELD_SPEED | BUYT__V1__FIX_FIELD__FIX_FIELD_COURSE |
                     BUYT__V1__FIX_FIELD__FIX_FIELD_ALTITUDE | BUYT__V1__FIX_FIELD__FIX_FIELD_HDOP |
                     BUYT__V1__FIX_FIELD__FIX_FIELD_SATELLITES);
}

Test(nmea, names_are_stable)
{
    static const char *const names[] = {"ok",        "bad_checksum", "no_checksum",
                                        "too_long",  "truncated",    "bad_char",
                                        "malformed", "bad_field",    "bad_date"};
    cr_assert_eq(sizeof names / sizeof names[0], BUYT_NMEA_REJECT__COUNT);
    for (int r = 0; r < BUYT_NMEA_REJECT__COUNT; r++)
        cr_assert_str_eq(buyt_nmea_reject_name(r), names[r]);
    cr_assert_str_eq(buyt_nmea_reject_name(BUYT_NMEA_REJECT__COUNT), "unknown");
    cr_assert_str_eq(buyt_nmea_type_name(BUYT_NMEA_GNS), "GNS");
}

Test(nmea, init_refuses_bad_config)
{
    struct buyt_nmea_parser p;
    struct buyt_nmea_config cfg = {0};
    cr_assert_eq(buyt_nmea_init(&p, &cfg), BUYT_EINVAL, "on_fix is required");
    cr_assert_eq(buyt_nmea_init(&p, NULL), BUYT_EINVAL);
    cfg.on_fix = cap_fix;
    cfg.options = 1u << 7;
    cr_assert_eq(buyt_nmea_init(&p, &cfg), BUYT_EINVAL, "unknown option");
}

/* ---- buyt-nmea-decode ---- */

struct tool_run {
    int status;
    char out[4096];
    char err[1024];
};

static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Runs the tool with `args` on `input` (written to a temporary file, unless NULL). */
static void run_tool(const char *args, const char *input, struct tool_run *r)
{
    char in[] = "/tmp/buyt-nmea-in-XXXXXX", out[] = "/tmp/buyt-nmea-out-XXXXXX",
         err[] = "/tmp/buyt-nmea-err-XXXXXX";
    int fds[3] = {mkstemp(in), mkstemp(out), mkstemp(err)};
    for (int i = 0; i < 3; i++)
        cr_assert_geq(fds[i], 0);
    if (input)
        cr_assert_eq(write(fds[0], input, strlen(input)), (ssize_t)strlen(input));
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/buyt-nmea-decode %s %s >%s 2>%s", BUYT_BIN_DIR, args,
             input ? in : "", out, err);
    int st = system(cmd);
    cr_assert(WIFEXITED(st), "%s", cmd);
    r->status = WEXITSTATUS(st);
    slurp(out, r->out, sizeof r->out);
    slurp(err, r->err, sizeof r->err);
    unlink(in);
    unlink(out);
    unlink(err);
}

Test(nmea, decode_tool_prints_gpsd_style_tpv_and_rejects)
{
    char input[1024];
    snprintf(input, sizeof input, "# a gpsd log comment\n%s%s%s$GPGSA,A,3*00\r\n", nmea(GGA_HN),
             nmea(RMC_HN), nmea(GSA_3D));
    struct tool_run r;
    run_tool("", input, &r);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "{\"reject\":\"bad_checksum\",\"line\":5}\n"
                            "{\"class\":\"TPV\",\"mode\":3,\"time\":\"2026-11-24T08:30:15.500Z\","
                            "\"lat\":21.0287,\"lon\":105.8522,\"altMSL\":12.3,\"speed\":8.49,"
                            "\"track\":273.5,\"hdop\":0.9,\"uSat\":9}\n");
    cr_assert(strstr(r.err, "fixes=1 accepted=3") != NULL, "%s", r.err);

    /* No fix: mode 1 and nothing else but the time and satellites. */
    run_tool("", nmea("GPRMC,083015.00,V,2101.72200,N,10551.13200,E,0.0,0.0,241126,,,N"), &r);
    cr_assert_str_eq(r.out, "{\"class\":\"TPV\",\"mode\":1}\n");
}

Test(nmea, decode_tool_corrects_rollover_with_ref_time)
{
    const char *rmc = nmea("GPRMC,083015.50,A,2101.72200,N,10551.13200,E,16.5,273.5,100407,,,A");
    struct tool_run r;
    run_tool("--ref-time 2026-01-01T00:00:00Z", rmc, &r);
    cr_assert_eq(r.status, 0);
    cr_assert(strstr(r.out, "\"time\":\"2026-11-24T08:30:15.500Z\"") != NULL, "%s", r.out);
    run_tool("", rmc, &r);
    cr_assert(strstr(r.out, "\"time\":\"2007-04-10T08:30:15.500Z\"") != NULL, "%s", r.out);
}

Test(nmea, decode_tool_help_and_bad_arguments)
{
    struct tool_run r;
    run_tool("--help", NULL, &r);
    cr_assert_eq(r.status, 0);
    cr_assert(strncmp(r.out, "usage: buyt-nmea-decode", 23) == 0);

    run_tool("/nonexistent/file.nmea", NULL, &r);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "cannot open /nonexistent/file.nmea") != NULL);
    cr_assert_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1, "one line: %s", r.err);

    run_tool("/tmp", NULL, &r); /* opens, cannot be read */
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "cannot read /tmp") != NULL, "%s", r.err);
    cr_assert_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1, "one line: %s", r.err);

    run_tool("--frobnicate", NULL, &r);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "unknown option --frobnicate") != NULL);

    run_tool("--ref-time yesterday", NULL, &r);
    cr_assert_eq(r.status, 2);
    run_tool("--ref-time", NULL, &r);
    cr_assert_eq(r.status, 2);
}

/* Random bytes biased towards NMEA's alphabet, and real sentences with random damage: nothing
 * may crash (run under ASan/UBSan), and every sentence gets exactly one verdict. */
Test(nmea, survives_random_and_damaged_input)
{
    static const char alphabet[] = "$$$,,,,***\r\n\n0123456789ABCDEFGPNRMCVAW.-\0\x80 #";
    struct buyt_nmea_parser p;
    struct capture c = {0};
    struct buyt_nmea_config cfg = {.ref_ms = utc_ms(2026, 1, 1, 0, 0, 0, 0),
                                   .options = BUYT_NMEA_OPT_HASH_COMMENTS,
                                   .on_fix = cap_fix, /* no on_event: too many to capture */
                                   .arg = &c};
    cr_assert_eq(buyt_nmea_init(&p, &cfg), 0);
    unsigned seed = 12345, tick = 0;
    char buf[4096];
    uint64_t fixes = 0;
    for (int round = 0; round < 400; round++) {
        size_t n = 0;
        while (n < sizeof buf - 256) {
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 16) % 4 == 0) { /* a real sentence, maybe damaged */
                char body[128];
                unsigned t = ++tick / 2; /* a new epoch every other sentence */
                snprintf(body, sizeof body,
                         (seed >> 8) % 2 ? "GPGGA,%02u%02u%02u.00,2101.72200,N,10551.13200,E,1,"
                                           "09,0.9,12.3,M,-22.0,M,,"
                                         : "GPRMC,%02u%02u%02u.00,A,2101.72200,N,10551.13200,"
                                           "E,16.5,273.5,241126,,,A",
                         t / 3600 % 24, t / 60 % 60, t % 60);
                const char *s = nmea(body);
                size_t l = strlen(s);
                memcpy(buf + n, s, l);
                if ((seed >> 20) % 2)
                    buf[n + (seed >> 3) % l] = alphabet[(seed >> 11) % (sizeof alphabet - 1)];
                n += l;
            } else {
                buf[n++] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
            }
        }
        buyt_nmea_feed(&p, buf, n);
        c.nfix = 0; /* keep the capture from filling up */
        fixes = buyt_nmea_stats_get(&p)->fixes;
    }
    buyt_nmea_flush(&p);
    const struct buyt_nmea_stats *st = buyt_nmea_stats_get(&p);
    cr_assert_gt(st->accepted, 10000, "the undamaged sentences get through");
    cr_assert_gt(st->rejected[BUYT_NMEA_REJECT_BAD_CHECKSUM], 1000);
    cr_assert_gt(fixes, 1000);
}
