/* Reporting policy: 1 Hz moving, 30 s standing, start/stop, turns, card events, fix loss. */
#include "report.h"

#include "error.h"

#include <criterion/criterion.h>

#define T0 1795000000000LL /* 2026-11-18, any GNSS time */

static struct buyt_report r;

static void init_default(void)
{
    struct buyt_report_config cfg;
    buyt_report_config_init(&cfg);
    buyt_report_init(&r, &cfg);
}

static struct buyt_report_input moving_at(int64_t t_ms, uint32_t course_cdeg)
{
    return (struct buyt_report_input){.time_ms = T0 + t_ms,
                                      .valid = true,
                                      .has_speed = true,
                                      .speed_cms = 1000,
                                      .has_course = true,
                                      .course_cdeg = course_cdeg};
}

static struct buyt_report_input standing_at(int64_t t_ms)
{
    return (struct buyt_report_input){.time_ms = T0 + t_ms,
                                      .valid = true,
                                      .has_speed = true,
                                      .speed_cms = 0,
                                      .has_course = true,
                                      .course_cdeg = 9000};
}

static enum buyt_report_reason feed(struct buyt_report_input in)
{
    return buyt_report_fix(&r, &in);
}

/* Feeds epochs every step_ms over [from, to] and returns how many were reported. */
static int feed_range(int64_t from, int64_t to, int64_t step, bool moving)
{
    int n = 0;
    for (int64_t t = from; t <= to; t += step)
        n += feed(moving ? moving_at(t, 9000) : standing_at(t)) != BUYT_REPORT_NO;
    return n;
}

Test(report, first_fix_is_reported, .init = init_default)
{
    cr_assert_eq(feed(standing_at(0)), BUYT_REPORT_FIRST);
    cr_assert_eq(feed(standing_at(1000)), BUYT_REPORT_NO);
}

Test(report, moving_reports_once_a_second_from_a_10hz_receiver, .init = init_default)
{
    cr_assert_eq(feed(moving_at(0, 9000)), BUYT_REPORT_FIRST);
    /* 100 more epochs at 10 Hz over 10 s: one report per second exactly. */
    int n = 0;
    for (int64_t t = 100; t <= 10000; t += 100) {
        enum buyt_report_reason why = feed(moving_at(t, 9000));
        if (why != BUYT_REPORT_NO) {
            cr_assert_eq(why, BUYT_REPORT_INTERVAL);
            cr_assert_eq(t % 1000, 0, "reported at %lld ms", (long long)t);
            n++;
        }
    }
    cr_assert_eq(n, 10);
    cr_assert_eq(r.counts[BUYT_REPORT_NO], 90);
}

Test(report, standing_reports_every_30_seconds, .init = init_default)
{
    cr_assert_eq(feed(standing_at(0)), BUYT_REPORT_FIRST);
    cr_assert_eq(feed_range(1000, 29000, 1000, false), 0);
    cr_assert_eq(feed(standing_at(30000)), BUYT_REPORT_INTERVAL);
    cr_assert_eq(feed_range(31000, 120000, 1000, false), 3); /* at 60, 90, 120 s */
}

Test(report, start_is_reported_at_once, .init = init_default)
{
    cr_assert_eq(feed(standing_at(0)), BUYT_REPORT_FIRST);
    cr_assert_eq(feed(standing_at(5000)), BUYT_REPORT_NO);
    struct buyt_report_input in = standing_at(5100);
    in.speed_cms = 150; /* exactly the threshold */
    cr_assert_eq(feed(in), BUYT_REPORT_START);
}

Test(report, stop_is_reported_at_once, .init = init_default)
{
    cr_assert_eq(feed(moving_at(0, 9000)), BUYT_REPORT_FIRST);
    cr_assert_eq(feed(moving_at(1000, 9000)), BUYT_REPORT_INTERVAL);
    struct buyt_report_input in = moving_at(1100, 9000);
    in.speed_cms = 74; /* below half of 150 */
    cr_assert_eq(feed(in), BUYT_REPORT_STOP);
    /* Standing now: the next report is 30 s later. */
    cr_assert_eq(feed_range(2100, 31000, 1000, false), 0);
    cr_assert_eq(feed(standing_at(31100)), BUYT_REPORT_INTERVAL);
}

Test(report, speed_noise_between_the_thresholds_gives_no_reports, .init = init_default)
{
    cr_assert_eq(feed(standing_at(0)), BUYT_REPORT_FIRST);
    struct buyt_report_input in = standing_at(0);
    in.speed_cms = 160;
    in.time_ms = T0 + 1000;
    cr_assert_eq(feed(in), BUYT_REPORT_START);
    /* Jitter between 80 and 140 cm/s: still moving, reported at the moving rate only. */
    int n = 0;
    for (int i = 1; i <= 50; i++) {
        in.time_ms = T0 + 1000 + i * 100;
        in.speed_cms = i % 2 ? 80 : 140;
        n += feed(in) != BUYT_REPORT_NO;
    }
    cr_assert_eq(n, 5);
    cr_assert_eq(r.counts[BUYT_REPORT_START], 1);
    cr_assert_eq(r.counts[BUYT_REPORT_STOP], 0);
}

Test(report, turn_is_reported_at_once, .init = init_default)
{
    struct buyt_report_config cfg;
    buyt_report_config_init(&cfg);
    cfg.moving_interval_ms = 5000;
    buyt_report_init(&r, &cfg);
    cr_assert_eq(feed(moving_at(0, 9000)), BUYT_REPORT_FIRST);
    cr_assert_eq(feed(moving_at(100, 10400)), BUYT_REPORT_NO);   /* 14 degrees */
    cr_assert_eq(feed(moving_at(200, 10600)), BUYT_REPORT_TURN); /* 16 degrees */
    cr_assert_eq(feed(moving_at(300, 11000)), BUYT_REPORT_NO);   /* 4 from the last report */
}

Test(report, turn_through_north_takes_the_short_way, .init = init_default)
{
    struct buyt_report_config cfg;
    buyt_report_config_init(&cfg);
    cfg.moving_interval_ms = 5000;
    buyt_report_init(&r, &cfg);
    cr_assert_eq(feed(moving_at(0, 35500)), BUYT_REPORT_FIRST);
    cr_assert_eq(feed(moving_at(100, 500)), BUYT_REPORT_NO);    /* 10 degrees across 0 */
    cr_assert_eq(feed(moving_at(200, 1100)), BUYT_REPORT_TURN); /* 16 degrees */
}

Test(report, course_is_ignored_while_standing, .init = init_default)
{
    cr_assert_eq(feed(standing_at(0)), BUYT_REPORT_FIRST);
    struct buyt_report_input in = standing_at(1000);
    in.course_cdeg = 27000; /* 180 degrees away: noise when standing */
    cr_assert_eq(feed(in), BUYT_REPORT_NO);
}

Test(report, card_event_reports_the_next_fix_at_once, .init = init_default)
{
    cr_assert_eq(feed(standing_at(0)), BUYT_REPORT_FIRST);
    cr_assert_eq(feed(standing_at(1000)), BUYT_REPORT_NO);
    buyt_report_event(&r);
    cr_assert_eq(feed(standing_at(2000)), BUYT_REPORT_EVENT);
    cr_assert_eq(feed(standing_at(3000)), BUYT_REPORT_NO);
    /* The standing interval restarts from the event's report. */
    cr_assert_eq(feed_range(4000, 31000, 1000, false), 0);
    cr_assert_eq(feed(standing_at(32000)), BUYT_REPORT_INTERVAL);
}

Test(report, card_event_waits_for_a_valid_fix, .init = init_default)
{
    cr_assert_eq(feed(standing_at(0)), BUYT_REPORT_FIRST);
    buyt_report_event(&r);
    struct buyt_report_input lost = {.time_ms = T0 + 1000, .valid = false};
    cr_assert_eq(feed(lost), BUYT_REPORT_FIX_LOST);
    cr_assert_eq(feed(standing_at(2000)), BUYT_REPORT_FIRST);
    cr_assert_eq(feed(standing_at(3000)), BUYT_REPORT_NO, "the event was served by FIRST");
}

Test(report, fix_loss_is_reported_once, .init = init_default)
{
    struct buyt_report_input lost = {.time_ms = T0, .valid = false};
    cr_assert_eq(feed(lost), BUYT_REPORT_NO, "nothing reported yet: no loss to report");
    cr_assert_eq(feed(moving_at(1000, 0)), BUYT_REPORT_FIRST);
    lost.time_ms = T0 + 2000;
    cr_assert_eq(feed(lost), BUYT_REPORT_FIX_LOST);
    for (int i = 3; i < 10; i++) {
        lost.time_ms = T0 + i * 1000;
        cr_assert_eq(feed(lost), BUYT_REPORT_NO);
    }
    cr_assert_eq(feed(moving_at(10000, 0)), BUYT_REPORT_FIRST);
}

Test(report, time_going_backwards_restarts_the_baseline, .init = init_default)
{
    cr_assert_eq(feed(standing_at(60000)), BUYT_REPORT_FIRST);
    cr_assert_eq(feed(standing_at(1000)), BUYT_REPORT_TIME_JUMP);
    cr_assert_eq(feed(standing_at(2000)), BUYT_REPORT_NO);
    cr_assert_eq(feed(standing_at(31000)), BUYT_REPORT_INTERVAL);
}

Test(report, epochs_without_speed_count_as_moving, .init = init_default)
{
    struct buyt_report_input in = {.time_ms = T0, .valid = true};
    cr_assert_eq(feed(in), BUYT_REPORT_FIRST);
    in.time_ms += 500;
    cr_assert_eq(feed(in), BUYT_REPORT_NO);
    in.time_ms += 500;
    cr_assert_eq(feed(in), BUYT_REPORT_INTERVAL);
}

Test(report, set_reporting_changes_the_intervals_at_run_time, .init = init_default)
{
    cr_assert_eq(feed(standing_at(0)), BUYT_REPORT_FIRST);
    struct buyt_report_config cfg = r.cfg;
    cfg.standing_interval_ms = 5000;
    cfg.moving_interval_ms = 2000;
    cr_assert_eq(buyt_report_configure(&r, &cfg, NULL), 0);
    cr_assert_eq(feed_range(1000, 4000, 1000, false), 0);
    cr_assert_eq(feed(standing_at(5000)), BUYT_REPORT_INTERVAL);
    cr_assert_eq(feed(moving_at(6000, 9000)), BUYT_REPORT_START);
    cr_assert_eq(feed(moving_at(7000, 9000)), BUYT_REPORT_NO);
    cr_assert_eq(feed(moving_at(8000, 9000)), BUYT_REPORT_INTERVAL);
}

Test(report, configure_refuses_out_of_range_values_and_keeps_the_old_ones, .init = init_default)
{
    struct buyt_report_config cfg = r.cfg;
    const char *why = NULL;
    cfg.moving_interval_ms = 199;
    cr_assert_eq(buyt_report_configure(&r, &cfg, &why), BUYT_ERANGE);
    cr_assert_str_eq(why, "moving interval out of range (200 ms..60 s)");
    cr_assert_eq(r.cfg.moving_interval_ms, 1000);
    cfg = r.cfg;
    cfg.standing_interval_ms = 600001;
    cr_assert_eq(buyt_report_config_check(&cfg, &why), BUYT_ERANGE);
    cr_assert_str_eq(why, "standing interval out of range (1 s..10 min)");
    cfg = r.cfg;
    cfg.heading_change_cdeg = 99;
    cr_assert_eq(buyt_report_config_check(&cfg, &why), BUYT_ERANGE);
    cfg = r.cfg;
    cfg.moving_speed_cms = 0;
    cr_assert_eq(buyt_report_config_check(&cfg, &why), BUYT_ERANGE);
    cfg = r.cfg;
    cr_assert_eq(buyt_report_config_check(&cfg, &why), 0);
    cr_assert_null(why);
}

Test(report, reason_names_are_stable)
{
    cr_assert_str_eq(buyt_report_reason_name(BUYT_REPORT_INTERVAL), "interval");
    cr_assert_str_eq(buyt_report_reason_name(BUYT_REPORT_FIX_LOST), "fix_lost");
    cr_assert_str_eq(buyt_report_reason_name(BUYT_REPORT_REASON__COUNT), "invalid");
}
