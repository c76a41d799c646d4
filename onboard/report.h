/* Reporting policy of the onboard agent: which GNSS epochs become Fix records.
 *
 * Pure logic on GNSS time (the fix's own time, not the system clock), so the same input always
 * gives the same reports, whatever the feed speed or the load of the machine:
 *   - the first fix (at start, or after the fix was lost);
 *   - one fix per moving_interval_ms while moving (default 1 s);
 *   - one fix per standing_interval_ms while standing (default 30 s);
 *   - at once on a start (speed rises to moving_speed_cms) and on a stop (speed falls below
 *     half of it: hysteresis, so GNSS speed noise around one threshold gives no report storm);
 *   - at once on a turn: course differs from the last reported course by more than
 *     heading_change_cdeg (while moving: a standing receiver's course is noise);
 *   - at once on the first fix after a card or driver event (buyt_report_event);
 *   - once when the fix is lost (an epoch without a position after a reported fix);
 *   - at once when GNSS time goes backwards (receiver reset): the baseline restarts.
 * An epoch without a speed counts as moving (no speed: no way to know it stands). */
#ifndef BUYT_REPORT_H
#define BUYT_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#define BUYT_REPORT_MOVING_INTERVAL_MS_DEFAULT 1000u
#define BUYT_REPORT_STANDING_INTERVAL_MS_DEFAULT 30000u
#define BUYT_REPORT_MOVING_SPEED_CMS_DEFAULT 150u     /* 5.4 km/h; standing below 75 cm/s */
#define BUYT_REPORT_HEADING_CHANGE_CDEG_DEFAULT 1500u /* 15 degrees */

/* Ranges, as in the contract's SetReporting (proto/buyt/v1/buyt.proto). */
#define BUYT_REPORT_MOVING_INTERVAL_MS_MIN 200u
#define BUYT_REPORT_MOVING_INTERVAL_MS_MAX 60000u
#define BUYT_REPORT_STANDING_INTERVAL_MS_MIN 1000u
#define BUYT_REPORT_STANDING_INTERVAL_MS_MAX 600000u
#define BUYT_REPORT_HEADING_CHANGE_CDEG_MIN 100u   /* 1 degree */
#define BUYT_REPORT_HEADING_CHANGE_CDEG_MAX 18000u /* 180 degrees */
#define BUYT_REPORT_MOVING_SPEED_CMS_MIN 10u
#define BUYT_REPORT_MOVING_SPEED_CMS_MAX 2000u

struct buyt_report_config {
    uint32_t moving_interval_ms;   /* BUYT_REPORT_MOVING_INTERVAL_MS_MIN..MAX */
    uint32_t standing_interval_ms; /* BUYT_REPORT_STANDING_INTERVAL_MS_MIN..MAX */
    uint32_t moving_speed_cms;     /* start threshold; a stop is below half of it */
    uint32_t heading_change_cdeg;  /* BUYT_REPORT_HEADING_CHANGE_CDEG_MIN..MAX */
};

/* Why an epoch is reported. Names (buyt_report_reason_name) are stable: logs and counters. */
enum buyt_report_reason {
    BUYT_REPORT_NO = 0,    /* not reported */
    BUYT_REPORT_FIRST,     /* first fix since start or since the fix was lost */
    BUYT_REPORT_TIME_JUMP, /* GNSS time went backwards */
    BUYT_REPORT_START,     /* the vehicle started moving */
    BUYT_REPORT_STOP,      /* the vehicle stopped */
    BUYT_REPORT_EVENT,     /* first fix after a card or driver event */
    BUYT_REPORT_TURN,      /* course changed more than heading_change_cdeg */
    BUYT_REPORT_INTERVAL,  /* the moving or standing interval elapsed */
    BUYT_REPORT_FIX_LOST,  /* first epoch without a position after a reported fix */
    BUYT_REPORT_REASON__COUNT
};

/* One receiver epoch, as the policy needs it. */
struct buyt_report_input {
    int64_t time_ms; /* GNSS time, Unix ms UTC */
    bool valid;      /* the epoch has a position (2D/3D fix) */
    bool has_speed;
    uint32_t speed_cms;
    bool has_course;
    uint32_t course_cdeg; /* 0..35999 */
};

/* Policy state. Embed it; fields other than `cfg` and `counts` are private. */
struct buyt_report {
    struct buyt_report_config cfg;
    bool reported;      /* a valid fix was reported and no loss since */
    bool moving;        /* motion state (hysteresis) */
    bool event_pending; /* buyt_report_event() since the last report */
    bool have_course;   /* course of the last report is known */
    int64_t last_ms;    /* GNSS time of the last report */
    uint32_t last_course_cdeg;
    uint64_t counts[BUYT_REPORT_REASON__COUNT]; /* epochs by outcome ([0]: not reported) */
};

/** Fills `cfg` with the defaults above. */
void buyt_report_config_init(struct buyt_report_config *cfg);

/** Checks every value against its range. Returns 0, or BUYT_ERANGE with *why (may be NULL)
 *  pointing to a static sentence naming the value. */
int buyt_report_config_check(const struct buyt_report_config *cfg, const char **why);

/** Initialises `r` with `cfg` (copied; assumed checked). */
void buyt_report_init(struct buyt_report *r, const struct buyt_report_config *cfg);

/** Replaces the configuration at run time (Command.set_reporting), keeping the state: the
 *  next interval is measured from the last report. Returns as buyt_report_config_check();
 *  nothing changes on error. */
int buyt_report_configure(struct buyt_report *r, const struct buyt_report_config *cfg,
                          const char **why);

/** Decides whether the epoch `in` (borrowed) is reported, and updates the state. Returns
 *  BUYT_REPORT_NO or the reason; when several apply, the first in the enum's order. */
enum buyt_report_reason buyt_report_fix(struct buyt_report *r, const struct buyt_report_input *in);

/** A card or driver event happened: the next valid epoch is reported whatever the interval. */
void buyt_report_event(struct buyt_report *r);

/** Stable name of a reason ("interval", "turn"...), "invalid" out of range. Static string. */
const char *buyt_report_reason_name(enum buyt_report_reason reason);

#endif
