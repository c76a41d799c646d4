/* The simulator's device outputs: NMEA sentences (sim/nmea_out.c) round-trip through the
 * project's NMEA parser, RDM6300 frames (sim/rfid_out.c) through the RFID decoder, and both
 * pass unchanged through a pseudo-terminal (sim/pty.c). */
#include "cardid.h"
#include "nmea.h"
#include "nmea_out.h"
#include "pty.h"
#include "rfid.h"
#include "rfid_out.h"

#include <criterion/criterion.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct got {
    int n;
    struct buyt_nmea_fix fix[8];
};

static void on_fix(const struct buyt_nmea_fix *f, void *arg)
{
    struct got *g = arg;
    if (g->n < 8)
        g->fix[g->n] = *f;
    g->n++;
}

static struct buyt_fleet_epoch epoch(int64_t t, bool valid)
{
    struct buyt_fleet_epoch e = {.time_ms = t, .valid = valid, .lat = 21.0285123,
                                 .lon = 105.8542456, .speed_ms = 8.43, .course_deg = 271.37,
                                 .alt_m = 12.3, .hdop = 0.92, .satellites = 11};
    return e;
}

Test(sim_nmea, every_sentence_has_a_valid_checksum)
{
    char buf[BUYT_NMEA_OUT_EPOCH_MAX];
    for (int valid = 0; valid < 2; valid++) {
        struct buyt_fleet_epoch e = epoch(1795480200000LL, valid);
        size_t n = buyt_nmea_out_epoch(&e, buf, sizeof buf);
        cr_assert_gt(n, 0);
        int sentences = 0;
        for (char *p = buf; p < buf + n;) {
            char *end = memchr(p, '\n', (size_t)(buf + n - p));
            cr_assert(end && end[-1] == '\r', "CR LF terminator");
            size_t len = (size_t)(end - 1 - p);
            cr_assert_leq(len, 82, "sentence longer than NMEA's 82 characters");
            struct buyt_nmea_sentence s;
            cr_assert_eq(buyt_nmea_parse(p, len, 0, &s), BUYT_NMEA_OK, "%.*s", (int)len, p);
            unsigned x = 0, want;
            char *star = memchr(p, '*', len);
            for (char *q = p + 1; q < star; q++)
                x ^= (unsigned char)*q;
            sscanf(star + 1, "%2X", &want);
            cr_assert_eq(x, want);
            sentences++;
            p = end + 1;
        }
        cr_assert_eq(sentences, 4);
    }
}

Test(sim_nmea, epochs_round_trip_through_the_parser)
{
    struct buyt_nmea_parser p;
    struct got g = {0};
    struct buyt_nmea_config cfg = {.ref_ms = 1795480200000LL - 86400000LL, .on_fix = on_fix,
                                   .arg = &g};
    cr_assert_eq(buyt_nmea_init(&p, &cfg), 0);
    char buf[BUYT_NMEA_OUT_EPOCH_MAX];
    for (int i = 0; i < 3; i++) {
        struct buyt_fleet_epoch e = epoch(1795480200000LL + 1000 * i, i != 1);
        size_t n = buyt_nmea_out_epoch(&e, buf, sizeof buf);
        for (size_t k = 0; k < n; k += 7) /* any chunking */
            buyt_nmea_feed(&p, buf + k, n - k < 7 ? n - k : 7);
    }
    buyt_nmea_flush(&p);
    cr_assert_eq(g.n, 3);
    const struct buyt_nmea_fix *f = &g.fix[0];
    cr_assert(f->flags & BUYT_NMEA_FIX_TIME);
    cr_assert_eq(f->time_ms, 1795480200000LL);
    cr_assert_eq(f->mode, BUYT_NMEA_MODE_3D);
    cr_assert_eq(f->quality, BUYT_NMEA_QUALITY_GPS);
    cr_assert(abs(f->lat_e7 - 210285123) <= 2, "lat %d", f->lat_e7);
    cr_assert(abs(f->lon_e7 - 1058542456) <= 2, "lon %d", f->lon_e7);
    cr_assert(fabs(f->speed_cms - 843.0) <= 1.0, "speed %u", f->speed_cms);
    cr_assert(abs((int)f->course_cdeg - 27137) <= 1, "course %u", f->course_cdeg);
    cr_assert_eq(f->hdop_x100, 92);
    cr_assert_eq(f->satellites, 11);
    cr_assert_eq(f->alt_cm, 1230);
    cr_assert_eq(g.fix[1].mode, BUYT_NMEA_MODE_NO_FIX, "no-fix epoch");
    cr_assert_eq(g.fix[1].quality, BUYT_NMEA_QUALITY_NONE);
    cr_assert_eq(g.fix[2].time_ms, 1795480202000LL);
    const struct buyt_nmea_stats *st = buyt_nmea_stats_get(&p);
    for (int r = 1; r < BUYT_NMEA_REJECT__COUNT; r++)
        cr_assert_eq(st->rejected[r], 0, "rejected as %s", buyt_nmea_reject_name(r));
}

Test(sim_nmea, southern_western_and_minute_rounding)
{
    struct buyt_nmea_parser p;
    struct got g = {0};
    struct buyt_nmea_config cfg = {.on_fix = on_fix, .arg = &g};
    cr_assert_eq(buyt_nmea_init(&p, &cfg), 0);
    struct buyt_fleet_epoch e = epoch(1795480200000LL, true);
    e.lat = -33.99999999; /* 59.9999994 minutes: must not print 60.00000 */
    e.lon = -70.5;
    char buf[BUYT_NMEA_OUT_EPOCH_MAX];
    size_t n = buyt_nmea_out_epoch(&e, buf, sizeof buf);
    buyt_nmea_feed(&p, buf, n);
    buyt_nmea_flush(&p);
    cr_assert_eq(g.n, 1);
    cr_assert(abs(g.fix[0].lat_e7 - -340000000) <= 2, "lat %d", g.fix[0].lat_e7);
    cr_assert_eq(g.fix[0].lon_e7, -705000000);
}

struct card_got {
    int n;
    uint8_t uid[5];
};

static void on_card(void *arg, const struct buyt_rfid_card *card, enum buyt_rfid_reject reason)
{
    struct card_got *g = arg;
    cr_assert_eq(reason, BUYT_RFID_REJECT_NONE);
    cr_assert_eq(card->uid_len, 5);
    memcpy(g->uid, card->uid, 5);
    g->n++;
}

Test(sim_nmea, rdm6300_frames_decode_to_the_same_card)
{
    const uint8_t uid[5] = {0x62, 0xE3, 0x08, 0x6C, 0xED};
    uint8_t frame[BUYT_RFID_OUT_RDM6300_BYTES];
    buyt_rfid_out_rdm6300(uid, frame);
    cr_assert_eq(memcmp(frame, "\x02" "62E3086CED08" "\x03", 14), 0, "docs/RFID.md example");
    struct buyt_rfid_decoder dec;
    struct buyt_rfid_config cfg = {.framing = BUYT_RFID_RDM6300};
    cr_assert_eq(buyt_rfid_decoder_init(&dec, &cfg), 0);
    struct card_got g = {0};
    cr_assert_eq(buyt_rfid_feed(&dec, frame, sizeof frame, on_card, &g), 1);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(memcmp(g.uid, uid, 5), 0);
}

Test(sim_nmea, bytes_pass_unchanged_through_a_pty)
{
    struct buyt_pty p;
    cr_assert_eq(buyt_pty_open(&p), 0);
    cr_assert(strncmp(p.path, "/dev/pts/", 9) == 0, "%s", p.path);
    char buf[BUYT_NMEA_OUT_EPOCH_MAX];
    struct buyt_fleet_epoch e = epoch(1795480200000LL, true);
    size_t n = buyt_nmea_out_epoch(&e, buf, sizeof buf);
    cr_assert_eq(buyt_pty_write(&p, buf, n), n);
    char in[BUYT_NMEA_OUT_EPOCH_MAX];
    size_t got = 0;
    while (got < n) {
        struct pollfd pf = {.fd = p.slave, .events = POLLIN};
        cr_assert_eq(poll(&pf, 1, 2000), 1, "pty stalled");
        ssize_t r = read(p.slave, in + got, sizeof in - got);
        cr_assert_gt(r, 0);
        got += (size_t)r;
    }
    cr_assert_eq(got, n);
    cr_assert_eq(memcmp(in, buf, n), 0, "the line discipline changed bytes");
    buyt_pty_close(&p);
}
