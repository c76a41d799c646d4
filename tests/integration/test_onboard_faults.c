/* buyt-onboard under faults, end to end with the real program and broker: the broker stops
 * mid-drive, the agent is killed with SIGKILL mid-drive, the GNSS receiver is unplugged and
 * plugged back in. Every time: nothing journaled is lost, no seq is reused, exact counts. */
#include "onboard_kit.h"

static bool boot_changed(void *arg)
{
    struct kit_sub *s = arg;
    return s->status_state == BUYT__V1__DEVICE_STATE__DEVICE_STATE_ONLINE &&
           s->status_boot != s->recs[1].boot_id;
}

Test(onboard_faults, broker_stopped_mid_drive_every_record_arrives_in_order, .init = kit_setup,
     .fini = kit_teardown, .timeout = 300)
{
    struct kit_drive d;
    kit_drive_load(&d, buyt_wall_ms() - 60000, 0, NULL);
    struct kit_expect x = {0};
    kit_expect_run(&x, &d, 0, d.n, NULL, 0, true);
    struct kit_pty gps;
    kit_pty_open(&gps);
    struct kit_sub s;
    kit_sub_start(&s, "T2-BROKER");
    kit_sub_wait_ready(&s);
    struct kit_agent a;
    kit_agent_init(&a, "T2-BROKER", 0, gps.path, NULL);
    kit_agent_start(&a);
    kit_sub_wait_online(&s);

    kit_feed(&s, &d, &gps, 0, 250);
    buyt_test_servers("mqtt-stop");
    kit_feed(&s, &d, &gps, 250, 500); /* 5 s of drive with no broker: journaled only */
    size_t msgs_down = s.n_msgs;
    uint64_t seen_down = s.max_seq;
    buyt_test_servers("mqtt-start");
    kit_feed(&s, &d, &gps, 500, d.n);
    kit_sleep(&s, 300);

    uint64_t n = 1 + x.n; /* the start Health and the fixes */
    cr_assert(kit_sub_wait_seqs(&s, n, 30000), "records missing after the broker came back");
    kit_sleep(&s, 500);
    kit_assert_gap_free(&s, n);
    kit_assert_fixes(&s, 1, n, &x, 0, x.n, &d);
    cr_assert_lt(seen_down, 1 + x.n, "some records were made while the broker was down");

    /* What was made while the broker was down reached the subscriber oldest first: the
     * backlog is drained in seq order, and live records do not overtake it. */
    uint64_t lo = 0, hi = 0;
    for (uint64_t q = 1; q <= n; q++) {
        const Buyt__V1__Record *r = s.recs[q].r;
        if (r->body_case != BUYT__V1__RECORD__BODY_FIX)
            continue;
        if (!lo && (int64_t)r->time_ms >= d.ep[250].time_ms)
            lo = q;
        if ((int64_t)r->time_ms < d.ep[500].time_ms)
            hi = q;
    }
    cr_assert(lo > seen_down && hi > lo + 50, "outage window %llu..%llu", (unsigned long long)lo,
              (unsigned long long)hi);
    for (uint64_t q = lo + 1; q <= hi; q++)
        cr_assert_geq(s.recs[q].first_msg, s.recs[q - 1].first_msg,
                      "seq %llu arrived before seq %llu", (unsigned long long)q,
                      (unsigned long long)(q - 1));
    cr_assert_geq(s.recs[lo].first_msg, msgs_down);
    size_t batches = 0;
    for (size_t i = msgs_down; i < s.n_msgs; i++)
        batches += s.msgs[i].n > 100;
    cr_assert_geq(batches, 1, "the backlog came in batches of many records");

    cr_assert_eq(kit_agent_stop(&a), 0);
    kit_sub_close(&s);
    kit_pty_close(&gps);
    kit_expect_free(&x);
    kit_drive_free(&d);
    kit_passed = true;
}

Test(onboard_faults, killed_mid_drive_nothing_journaled_is_lost_and_no_seq_reused,
     .init = kit_setup, .fini = kit_teardown, .timeout = 300)
{
    struct kit_drive d;
    kit_drive_load(&d, buyt_wall_ms() - 60000, 0, NULL);
    const size_t cut = 300;
    struct kit_expect x = {0};
    kit_expect_run(&x, &d, 0, cut, NULL, 0, true);
    size_t n_a = x.n;
    kit_expect_run(&x, &d, cut, d.n, NULL, 0, true); /* the restarted agent starts afresh */
    size_t n_b = x.n - n_a;

    struct kit_pty gps;
    kit_pty_open(&gps);
    struct kit_sub s;
    kit_sub_start(&s, "T3-KILL");
    kit_sub_wait_ready(&s);
    struct kit_agent a;
    kit_agent_init(&a, "T3-KILL", 0, gps.path, NULL);
    kit_agent_start(&a);
    kit_sub_wait_online(&s);

    /* The broker goes away first, so the last 100 epochs of run A exist only in its journal
     * when it is killed: they can reach the engine only through the restarted agent. */
    const size_t down = 200;
    kit_feed(&s, &d, &gps, 0, down);
    buyt_test_servers("mqtt-stop");
    kit_feed(&s, &d, &gps, down, cut);
    kit_sleep(&s, 150); /* the last epoch is journaled (idle timer) */
    kit_agent_kill(&a);
    buyt_test_servers("mqtt-start");
    kit_agent_start(&a);
    cr_assert(buyt_test_run_until(&s.loop, boot_changed, &s, 15000), "agent did not come back");
    kit_feed(&s, &d, &gps, cut, d.n);
    kit_sleep(&s, 300);

    uint64_t n = 2 + n_a + n_b; /* Health, fixes of run A, Health, fixes of run B */
    cr_assert(kit_sub_wait_seqs(&s, n, 30000), "records missing after the restart");
    kit_sleep(&s, 500);
    kit_assert_gap_free(&s, n);
    kit_assert_fixes(&s, 1, n, &x, 0, x.n, &d);
    uint64_t health_b = 2 + n_a;
    cr_assert_eq(s.recs[1].r->body_case, BUYT__V1__RECORD__BODY_HEALTH);
    cr_assert_eq(s.recs[health_b].r->body_case, BUYT__V1__RECORD__BODY_HEALTH,
                 "the restarted agent continues at seq %llu", (unsigned long long)health_b);
    uint64_t boot_a = s.recs[1].boot_id, boot_b = s.recs[health_b].boot_id;
    cr_assert_neq(boot_a, boot_b);
    for (uint64_t q = health_b; q <= n; q++)
        cr_assert_eq(s.recs[q].boot_id, boot_b, "seq %llu made after the restart",
                     (unsigned long long)q);
    /* Every fix of run A made while the broker was down was first published by run B. */
    size_t recovered = 0;
    for (uint64_t q = 1; q < health_b; q++) {
        const Buyt__V1__Record *r = s.recs[q].r;
        if (r->body_case == BUYT__V1__RECORD__BODY_FIX &&
            (int64_t)r->time_ms >= d.ep[down].time_ms) {
            cr_assert_eq(s.recs[q].boot_id, boot_b, "seq %llu", (unsigned long long)q);
            recovered++;
        }
    }
    cr_assert_gt(recovered, 40, "fixes recovered from the killed agent's journal");
    cr_assert_eq(kit_agent_stop(&a), 0);
    kit_sub_close(&s);
    kit_pty_close(&gps);
    kit_expect_free(&x);
    kit_drive_free(&d);
    kit_passed = true;
}

Test(onboard_faults, gps_unplugged_and_plugged_back_is_reported_and_read_again, .init = kit_setup,
     .fini = kit_teardown, .timeout = 300)
{
    struct kit_drive d;
    kit_drive_load(&d, buyt_wall_ms() - 60000, 0, NULL);
    struct kit_expect x = {0};
    kit_expect_run(&x, &d, 0, 40, NULL, 0, true);
    size_t n_first = x.n;
    kit_expect_run(&x, &d, 40, 80, NULL, 0, false); /* same agent, same policy */

    char link[256];
    snprintf(link, sizeof link, "%s/gps0", kit_dir); /* a udev-style name, absent at start */
    struct kit_sub s;
    kit_sub_start(&s, "T5-PLUG");
    kit_sub_wait_ready(&s);
    struct kit_agent a;
    kit_agent_init(&a, "T5-PLUG", 0, link, NULL);
    kit_agent_start(&a);
    kit_sub_wait_online(&s);

    const Buyt__V1__Health *h = kit_health(&s, 1)->health;
    cr_assert_eq(h->gps_state, BUYT__V1__GPS_STATE__GPS_STATE_NO_DEVICE);
    cr_assert_geq(h->serial_errors, 1);

    struct kit_pty gps;
    kit_pty_open(&gps);
    cr_assert_eq(symlink(gps.path, link), 0);
    kit_sleep(&s, 1200); /* serial_retry_max = 500ms */
    kit_feed(&s, &d, &gps, 0, 40);
    kit_sleep(&s, 300);
    h = kit_health(&s, 2)->health;
    cr_assert_eq(h->gps_state, BUYT__V1__GPS_STATE__GPS_STATE_FIX);
    uint64_t errors = h->serial_errors;

    kit_pty_close(&gps); /* unplugged */
    unlink(link);
    kit_sleep(&s, 1000);
    h = kit_health(&s, 3)->health;
    cr_assert_eq(h->gps_state, BUYT__V1__GPS_STATE__GPS_STATE_NO_DEVICE);
    cr_assert_gt(h->serial_errors, errors, "the loss is counted");

    kit_pty_open(&gps); /* plugged back in, maybe as another /dev/pts/N */
    cr_assert_eq(symlink(gps.path, link), 0);
    kit_sleep(&s, 1200);
    kit_feed(&s, &d, &gps, 40, 80);
    kit_sleep(&s, 300);
    const Buyt__V1__Record *last = kit_health(&s, 4);
    cr_assert_eq(last->health->gps_state, BUYT__V1__GPS_STATE__GPS_STATE_FIX);

    /* Health at start, Health 1, fixes, Health 2, Health 3, fixes, Health 4. */
    uint64_t n = last->seq;
    cr_assert_eq(n, 5 + x.n);
    cr_assert(kit_sub_wait_seqs(&s, n, 15000));
    kit_assert_gap_free(&s, n);
    kit_assert_fixes(&s, 1, n, &x, 0, x.n, &d);
    cr_assert_gt(n_first, 0);

    cr_assert_eq(kit_agent_stop(&a), 0);
    kit_sub_close(&s);
    kit_pty_close(&gps);
    kit_expect_free(&x);
    kit_drive_free(&d);
    kit_passed = true;
}
