/* Reporting policy: see report.h. */
#include "report.h"

#include "error.h"

#include <stddef.h>

static const char *const reason_names[BUYT_REPORT_REASON__COUNT] = {
    [BUYT_REPORT_NO] = "no",
    [BUYT_REPORT_FIRST] = "first",
    [BUYT_REPORT_TIME_JUMP] = "time_jump",
    [BUYT_REPORT_START] = "start",
    [BUYT_REPORT_STOP] = "stop",
    [BUYT_REPORT_EVENT] = "event",
    [BUYT_REPORT_TURN] = "turn",
    [BUYT_REPORT_INTERVAL] = "interval",
    [BUYT_REPORT_FIX_LOST] = "fix_lost",
};

const char *buyt_report_reason_name(enum buyt_report_reason reason)
{
    return (unsigned)reason < BUYT_REPORT_REASON__COUNT ? reason_names[reason] : "invalid";
}

void buyt_report_config_init(struct buyt_report_config *cfg)
{
    cfg->moving_interval_ms = BUYT_REPORT_MOVING_INTERVAL_MS_DEFAULT;
    cfg->standing_interval_ms = BUYT_REPORT_STANDING_INTERVAL_MS_DEFAULT;
    cfg->moving_speed_cms = BUYT_REPORT_MOVING_SPEED_CMS_DEFAULT;
    cfg->heading_change_cdeg = BUYT_REPORT_HEADING_CHANGE_CDEG_DEFAULT;
}

int buyt_report_config_check(const struct buyt_report_config *cfg, const char **why)
{
    const char *w = NULL;
    if (cfg->moving_interval_ms < BUYT_REPORT_MOVING_INTERVAL_MS_MIN ||
        cfg->moving_interval_ms > BUYT_REPORT_MOVING_INTERVAL_MS_MAX)
        w = "moving interval out of range (200 ms..60 s)";
    else if (cfg->standing_interval_ms < BUYT_REPORT_STANDING_INTERVAL_MS_MIN ||
             cfg->standing_interval_ms > BUYT_REPORT_STANDING_INTERVAL_MS_MAX)
        w = "standing interval out of range (1 s..10 min)";
    else if (cfg->moving_speed_cms < BUYT_REPORT_MOVING_SPEED_CMS_MIN ||
             cfg->moving_speed_cms > BUYT_REPORT_MOVING_SPEED_CMS_MAX)
        w = "moving speed out of range (10..2000 cm/s)";
    else if (cfg->heading_change_cdeg < BUYT_REPORT_HEADING_CHANGE_CDEG_MIN ||
             cfg->heading_change_cdeg > BUYT_REPORT_HEADING_CHANGE_CDEG_MAX)
        w = "heading change out of range (100..18000 centidegrees)";
    if (why)
        *why = w;
    return w ? BUYT_ERANGE : 0;
}

void buyt_report_init(struct buyt_report *r, const struct buyt_report_config *cfg)
{
    *r = (struct buyt_report){.cfg = *cfg};
}

int buyt_report_configure(struct buyt_report *r, const struct buyt_report_config *cfg,
                          const char **why)
{
    int rc = buyt_report_config_check(cfg, why);
    if (rc == 0)
        r->cfg = *cfg;
    return rc;
}

void buyt_report_event(struct buyt_report *r)
{
    r->event_pending = true;
}

/* Smallest angle between two courses, centidegrees (0..18000). */
static uint32_t course_diff(uint32_t a, uint32_t b)
{
    uint32_t d = a > b ? a - b : b - a;
    d %= 36000;
    return d > 18000 ? 36000 - d : d;
}

/* Updates the motion state; returns START, STOP or NO for the transition. */
static enum buyt_report_reason update_motion(struct buyt_report *r,
                                             const struct buyt_report_input *in)
{
    if (!in->has_speed) {
        r->moving = true; /* unknown: report at the moving rate, no start/stop */
        return BUYT_REPORT_NO;
    }
    if (!r->moving && in->speed_cms >= r->cfg.moving_speed_cms) {
        r->moving = true;
        return BUYT_REPORT_START;
    }
    if (r->moving && in->speed_cms < r->cfg.moving_speed_cms / 2) {
        r->moving = false;
        return BUYT_REPORT_STOP;
    }
    return BUYT_REPORT_NO;
}

static enum buyt_report_reason decide(struct buyt_report *r, const struct buyt_report_input *in)
{
    if (!in->valid) {
        if (!r->reported)
            return BUYT_REPORT_NO;
        r->reported = false; /* the next valid epoch is a FIRST */
        return BUYT_REPORT_FIX_LOST;
    }
    bool first = !r->reported;
    enum buyt_report_reason motion = update_motion(r, in);
    if (first)
        return BUYT_REPORT_FIRST;
    if (in->time_ms < r->last_ms)
        return BUYT_REPORT_TIME_JUMP;
    if (motion != BUYT_REPORT_NO)
        return motion;
    if (r->event_pending)
        return BUYT_REPORT_EVENT;
    if (r->moving && in->has_course && r->have_course &&
        course_diff(in->course_cdeg, r->last_course_cdeg) > r->cfg.heading_change_cdeg)
        return BUYT_REPORT_TURN;
    uint64_t interval = r->moving ? r->cfg.moving_interval_ms : r->cfg.standing_interval_ms;
    if ((uint64_t)(in->time_ms - r->last_ms) >= interval)
        return BUYT_REPORT_INTERVAL;
    return BUYT_REPORT_NO;
}

enum buyt_report_reason buyt_report_fix(struct buyt_report *r, const struct buyt_report_input *in)
{
    enum buyt_report_reason why = decide(r, in);
    r->counts[why]++;
    if (why == BUYT_REPORT_NO || why == BUYT_REPORT_FIX_LOST)
        return why;
    r->reported = true;
    r->event_pending = false;
    r->last_ms = in->time_ms;
    r->have_course = in->has_course;
    r->last_course_cdeg = in->course_cdeg;
    return why;
}
