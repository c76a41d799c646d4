/* NMEA epoch merger: the sentences a receiver sends for one measurement (same UTC time of day)
 * become one fix, dated from the last RMC/ZDA date. Dates are checked against a plausibility
 * window (GPS week rollover, cold-start default dates, two-digit years). Policies are in
 * nmea.h and docs/NMEA.md. */
#include "nmea.h"

#include "clock.h"

#include <string.h>

#define DAY_MS 86400000LL
#define HALF_DAY_MS (DAY_MS / 2)
#define ROLLOVER_DAYS 7168LL /* 1024 GPS weeks (IS-GPS-200: 10-bit week number) */
#define ROLLOVER_MS (ROLLOVER_DAYS * DAY_MS)
_Static_assert(BUYT_NMEA_MAX_AHEAD_DAYS + 1 < ROLLOVER_DAYS, "the window must be unambiguous");
#define REF_SLACK_MS DAY_MS /* dates this much before the reference are still taken as they are */

/* Sentences that report a position: each starts a new epoch when it repeats. */
#define POSITION_TYPES                                                                             \
    (1u << BUYT_NMEA_GGA | 1u << BUYT_NMEA_RMC | 1u << BUYT_NMEA_GLL | 1u << BUYT_NMEA_GNS)

void buyt_nmea_merger_init(struct buyt_nmea_merger *m, int64_t ref_ms)
{
    memset(m, 0, sizeof *m);
    m->ref_ms = ref_ms;
}

/* Day of a sentence's date, corrected for the GPS week rollover, or BAD_DATE. */
static enum buyt_nmea_reject resolve_date(struct buyt_nmea_merger *m,
                                          const struct buyt_nmea_sentence *s, int64_t *day,
                                          bool *rolled)
{
    int64_t d = buyt_days_from_civil(s->year, (unsigned)s->month, (unsigned)s->day);
    int64_t ms = d * DAY_MS + ((s->has & BUYT_NMEA_HAS_TIME) ? s->tod_ms : 0);
    *rolled = false;
    if (m->ref_ms == 0) {
        if (s->year < 2000 || s->year > 2099)
            return BUYT_NMEA_REJECT_BAD_DATE;
        *day = d;
        return BUYT_NMEA_OK;
    }
    int64_t lo = m->ref_ms - REF_SLACK_MS, hi = m->ref_ms + BUYT_NMEA_MAX_AHEAD_DAYS * DAY_MS;
    if (ms >= lo && ms < hi) {
        *day = d;
        return BUYT_NMEA_OK;
    }
    /* A receiver whose firmware counts weeks from an old epoch is exactly 1024 weeks behind. */
    if (ms < lo && ms + ROLLOVER_MS >= lo && ms + ROLLOVER_MS < hi) {
        *day = d + ROLLOVER_DAYS;
        *rolled = true;
        m->rollovers++;
        return BUYT_NMEA_OK;
    }
    return BUYT_NMEA_REJECT_BAD_DATE;
}

/* The day of time of day `tod` given the last known (day, time of day): the nearest one, so a
 * time of day that wrapped past midnight moves to the next day. */
static int64_t day_of(const struct buyt_nmea_merger *m, int32_t tod)
{
    int64_t delta = (int64_t)tod - m->anchor_tod_ms;
    if (delta < -HALF_DAY_MS)
        return m->anchor_day + 1;
    if (delta > HALF_DAY_MS)
        return m->anchor_day - 1;
    return m->anchor_day;
}

static void emit(struct buyt_nmea_merger *m, buyt_nmea_fix_cb cb, void *arg)
{
    const struct buyt_nmea_epoch *ep = &m->ep;
    m->open = false;
    if (ep->gsa_mode >= 2)
        m->last_dim = ep->gsa_mode; /* a GSA in an epoch without position sentences */
    if (!(ep->sentences & POSITION_TYPES))
        return; /* only GSA/VTG/ZDA: nothing says whether there is a fix */

    struct buyt_nmea_fix f = {0};
    f.sentences = ep->sentences;
    if (ep->has_tod) {
        f.tod_ms = ep->tod_ms;
        f.flags |= BUYT_NMEA_FIX_TOD;
        if (m->anchor_valid) {
            int64_t day = day_of(m, ep->tod_ms);
            f.time_ms = day * DAY_MS + ep->tod_ms;
            f.flags |= BUYT_NMEA_FIX_TIME | (m->anchor_rollover ? BUYT_NMEA_FIX_ROLLOVER : 0);
            m->anchor_day = day; /* follow the clock across midnight in GGA-only streams */
            m->anchor_tod_ms = ep->tod_ms;
        }
    }
    if (ep->has_sats || ep->gsa_seen) {
        f.satellites = ep->has_sats ? ep->satellites : ep->gsa_sats;
        f.fields |= BUYT_NMEA_FIELD_SATELLITES;
    }
    /* One sentence saying "no fix" outweighs the others: a receiver does not say it lightly. */
    if (!ep->has_pos || !ep->valid_seen || ep->invalid_seen) {
        f.mode = BUYT_NMEA_MODE_NO_FIX;
        f.quality = BUYT_NMEA_QUALITY_NONE;
        m->last_dim = 0;
    } else {
        f.lat_e7 = ep->lat_e7;
        f.lon_e7 = ep->lon_e7;
        f.quality = ep->quality_rank ? ep->quality : BUYT_NMEA_QUALITY_GPS;
        f.fields |= ep->fields;
        f.speed_cms = ep->speed_cms;
        f.course_cdeg = ep->course_cdeg;
        f.alt_cm = ep->alt_cm;
        f.hdop_x100 = ep->hdop_x100;
        /* 2D or 3D: the receiver's GSA says it (it may come in the epoch before: it has no
         * time field); until a GSA does, a GGA/GNS altitude means a 3D solution. Receivers
         * send GSA or GGA every few epochs only (u-blox rx210: GSA every 5 s; Humminbird
         * rotates RMC, GLL, RMC, GGA), hence the last word is kept until the fix is lost. */
        if (ep->gsa_mode >= 2)
            m->last_dim = ep->gsa_mode;
        else if (m->last_dim == 0 && (ep->fields & BUYT_NMEA_FIELD_ALTITUDE))
            m->last_dim = 3;
        f.mode = m->last_dim == 3 ? BUYT_NMEA_MODE_3D : BUYT_NMEA_MODE_2D;
    }
    m->fixes++;
    cb(&f, arg);
}

static void merge(struct buyt_nmea_merger *m, const struct buyt_nmea_sentence *s)
{
    struct buyt_nmea_epoch *ep = &m->ep;
    ep->sentences |= 1u << s->type;
    if ((s->has & BUYT_NMEA_HAS_TIME) && !ep->has_tod) {
        ep->tod_ms = s->tod_ms;
        ep->has_tod = true;
    }
    if (s->valid == 1)
        ep->valid_seen = true;
    else if (s->valid == 0)
        ep->invalid_seen = true;
    /* The same position comes in several sentences, sometimes with more decimals in one. */
    if ((s->has & BUYT_NMEA_HAS_POS) && (!ep->has_pos || s->pos_digits > ep->pos_digits)) {
        ep->lat_e7 = s->lat_e7;
        ep->lon_e7 = s->lon_e7;
        ep->pos_digits = s->pos_digits;
        ep->has_pos = true;
    }
    /* GGA's and GNS's quality field is the receiver's own verdict; RMC/GLL modes come second. */
    if (s->has & BUYT_NMEA_HAS_QUALITY) {
        uint8_t rank = (s->type == BUYT_NMEA_GGA || s->type == BUYT_NMEA_GNS) ? 2 : 1;
        if (rank > ep->quality_rank) {
            ep->quality = s->quality;
            ep->quality_rank = rank;
        }
    }
    if ((s->has & BUYT_NMEA_HAS_SPEED) && !(ep->fields & BUYT_NMEA_FIELD_SPEED)) {
        ep->speed_cms = s->speed_cms;
        ep->fields |= BUYT_NMEA_FIELD_SPEED;
    }
    if ((s->has & BUYT_NMEA_HAS_COURSE) && !(ep->fields & BUYT_NMEA_FIELD_COURSE)) {
        ep->course_cdeg = s->course_cdeg;
        ep->fields |= BUYT_NMEA_FIELD_COURSE;
    }
    if ((s->has & BUYT_NMEA_HAS_ALT) && !(ep->fields & BUYT_NMEA_FIELD_ALTITUDE)) {
        ep->alt_cm = s->alt_cm;
        ep->fields |= BUYT_NMEA_FIELD_ALTITUDE;
    }
    if ((s->has & BUYT_NMEA_HAS_HDOP) && !(ep->fields & BUYT_NMEA_FIELD_HDOP)) {
        ep->hdop_x100 = s->hdop_x100;
        ep->fields |= BUYT_NMEA_FIELD_HDOP;
    }
    if (s->type == BUYT_NMEA_GSA) {
        /* One GSA per constellation in multi-GNSS receivers: add them up, best mode wins. */
        ep->gsa_sats += s->satellites;
        ep->gsa_seen = true;
        if ((s->has & BUYT_NMEA_HAS_MODE) && s->gsa_mode > ep->gsa_mode)
            ep->gsa_mode = s->gsa_mode;
    } else if ((s->has & BUYT_NMEA_HAS_SATS) && !ep->has_sats) {
        ep->satellites = s->satellites;
        ep->has_sats = true;
    }
}

enum buyt_nmea_reject buyt_nmea_merger_add(struct buyt_nmea_merger *m,
                                           const struct buyt_nmea_sentence *s, buyt_nmea_fix_cb cb,
                                           void *arg)
{
    if (s->type == BUYT_NMEA_NONE || s->type >= BUYT_NMEA_PROPRIETARY)
        return BUYT_NMEA_OK;
    int64_t day = 0;
    bool rolled = false;
    if (s->has & BUYT_NMEA_HAS_DATE) {
        enum buyt_nmea_reject r = resolve_date(m, s, &day, &rolled);
        if (r != BUYT_NMEA_OK)
            return r;
    }
    /* ZDA dates the stream but is not part of an epoch: receivers send it at their own pace,
     * its time of day is not always the fix's. */
    if (s->type != BUYT_NMEA_ZDA && m->open) {
        bool new_time = (s->has & BUYT_NMEA_HAS_TIME) && m->ep.has_tod && s->tod_ms != m->ep.tod_ms;
        /* A second GGA (RMC...) is the next epoch, unless both carry the same time of day:
         * GPGGA and GLGGA of one epoch (SiRF V) stay together. */
        bool same_time = (s->has & BUYT_NMEA_HAS_TIME) && m->ep.has_tod;
        bool repeated =
            !same_time && ((1u << s->type) & POSITION_TYPES) && (m->ep.sentences & (1u << s->type));
        if (new_time || repeated)
            emit(m, cb, arg);
    }
    /* A date without its time of day cannot anchor anything. */
    if ((s->has & BUYT_NMEA_HAS_DATE) && (s->has & BUYT_NMEA_HAS_TIME)) {
        m->anchor_day = day;
        m->anchor_tod_ms = s->tod_ms;
        m->anchor_valid = true;
        m->anchor_rollover = rolled;
    }
    if (s->type == BUYT_NMEA_ZDA)
        return BUYT_NMEA_OK;
    if (!m->open) {
        memset(&m->ep, 0, sizeof m->ep);
        m->open = true;
    }
    merge(m, s);
    return BUYT_NMEA_OK;
}

void buyt_nmea_merger_flush(struct buyt_nmea_merger *m, buyt_nmea_fix_cb cb, void *arg)
{
    if (m->open)
        emit(m, cb, arg);
}
