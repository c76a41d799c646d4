/* buyt-onboard and the engine's end-to-end acknowledgement, and its command channel, with the
 * real program and broker: a consumer that acknowledges only part of what it got (a retained
 * Ack, as the engine publishes it) sees the rest re-sent; a full Ack empties the journal. Every
 * command gets a reply with the right status, and nothing crashes the agent. */
#include "onboard_kit.h"

static void list_journal(const char *dir, char *out, size_t len)
{
    /* Names in the journal directory, sorted, space-separated. */
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    cr_assert_geq(n, 0);
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.')
            o += (size_t)snprintf(out + o, len - o, "%s%s", o ? " " : "", names[i]->d_name);
        free(names[i]);
    }
    free(names);
}

Test(onboard_ack, unacknowledged_records_are_resent_and_a_full_ack_empties_the_journal,
     .init = kit_setup, .fini = kit_teardown, .timeout = 300)
{
    struct kit_drive d;
    kit_drive_load(&d, buyt_wall_ms() - 60000, 0, NULL);
    const size_t epochs = 150;
    struct kit_expect x = {0};
    kit_expect_run(&x, &d, 0, epochs, NULL, 0, true);
    struct kit_pty gps;
    kit_pty_open(&gps);
    struct kit_sub s;
    kit_sub_start(&s, "T4-ACK");
    kit_sub_wait_ready(&s);
    struct kit_agent a;
    kit_agent_init(&a, "T4-ACK", 0, gps.path, "resend_after = 1s\n");
    kit_agent_start(&a);
    kit_sub_wait_online(&s);
    kit_feed(&s, &d, &gps, 0, epochs);
    kit_sleep(&s, 300);
    uint64_t m = 1 + x.n;
    cr_assert(kit_sub_wait_seqs(&s, m, 15000));
    kit_assert_fixes(&s, 1, m, &x, 0, x.n, &d);

    /* The engine stored the first half. */
    uint64_t k = m / 2;
    kit_publish_ack(&s, k);
    const Buyt__V1__Record *h = kit_health(&s, 1);
    cr_assert_eq(h->seq, m + 1);
    cr_assert_eq(h->health->journal_records, m - k, "the acknowledged half is trimmed");
    uint32_t *copies = calloc(m + 2, sizeof *copies);
    for (uint64_t q = 1; q <= m + 1; q++)
        copies[q] = s.recs[q].copies;
    kit_sleep(&s, 3000); /* resend_after 1 s, checked every second */
    for (uint64_t q = 1; q <= k; q++)
        cr_assert_eq(s.recs[q].copies, copies[q], "acknowledged seq %llu was sent again",
                     (unsigned long long)q);
    for (uint64_t q = k + 1; q <= m + 1; q++)
        cr_assert_gt(s.recs[q].copies, copies[q], "unacknowledged seq %llu was not re-sent",
                     (unsigned long long)q);

    /* The engine stored everything, the Health included: the journal is empty. */
    kit_publish_ack(&s, m + 1);
    h = kit_health(&s, 2);
    cr_assert_eq(h->seq, m + 2);
    cr_assert_eq(h->health->journal_records, 0);
    cr_assert_eq(h->health->oldest_unacked_age_s, 0);
    char names[512], want[128];
    list_journal(a.journal, names, sizeof names);
    snprintf(want, sizeof want, "seg-%016llx.log state", (unsigned long long)(m + 2));
    cr_assert_str_eq(names, want, "only the segment of the newest (unacknowledged) record");
    for (uint64_t q = 1; q <= m + 1; q++)
        copies[q] = s.recs[q].copies;
    kit_sleep(&s, 2500);
    for (uint64_t q = 1; q <= m + 1; q++)
        cr_assert_eq(s.recs[q].copies, copies[q], "acknowledged seq %llu was sent again",
                     (unsigned long long)q);
    cr_assert_gt(s.recs[m + 2].copies, 1, "the unacknowledged Health is re-sent");
    kit_assert_gap_free(&s, m + 2);

    /* A restarted agent continues after the acknowledged seqs: the ack survived in the state. */
    cr_assert_eq(kit_agent_stop(&a), 0);
    kit_agent_start(&a);
    struct kit_wait_seqs w = {&s, m + 3};
    cr_assert(buyt_test_run_until(&s.loop, kit_have_all, &w, 15000));
    cr_assert_eq(s.recs[m + 3].r->body_case, BUYT__V1__RECORD__BODY_HEALTH);
    cr_assert_eq(s.recs[m + 3].r->health->journal_records, 1, "only seq m+2 unacknowledged");
    cr_assert_eq(kit_agent_stop(&a), 0);

    free(copies);
    kit_sub_close(&s);
    kit_pty_close(&gps);
    kit_expect_free(&x);
    kit_drive_free(&d);
    kit_passed = true;
}

static bool has_driver_event(void *arg)
{
    return kit_count_body(arg, BUYT__V1__RECORD__BODY_DRIVER_EVENT) > 0;
}

Test(onboard_ack, every_command_gets_a_reply_and_none_crashes_the_agent, .init = kit_setup,
     .fini = kit_teardown, .timeout = 300)
{
    struct kit_drive d;
    kit_drive_load(&d, buyt_wall_ms() - 60000, 0, NULL);
    struct kit_pty gps, drv;
    kit_pty_open(&gps);
    kit_pty_open(&drv);
    char extra[512];
    char drivers[256];
    snprintf(drivers, sizeof drivers, "%s/drivers.txt", kit_dir);
    FILE *f = fopen(drivers, "w"); /* empty at start: every card unknown */
    fclose(f);
    snprintf(extra, sizeof extra,
             "fleet_key = " KIT_FLEET_KEY "\nrfid1_device = %s\nrfid1_role = driver\n"
             "rfid1_framing = em18\ndrivers_file = %s\n",
             drv.path, drivers);
    struct kit_sub s;
    kit_sub_start(&s, "T7-CMD");
    kit_sub_wait_ready(&s);
    struct kit_agent a;
    kit_agent_init(&a, "T7-CMD", 0, gps.path, extra);
    kit_agent_start(&a);
    kit_sub_wait_online(&s);

    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    const struct kit_reply *r = kit_command_raw(&s, 0, junk, sizeof junk);
    cr_assert_eq(r->status, BUYT__V1__COMMAND_STATUS__COMMAND_STATUS_MALFORMED);
    cr_assert_str_eq(r->detail, "payload is not a buyt.v1.Command");

    Buyt__V1__Command c = BUYT__V1__COMMAND__INIT;
    c.command_id = 2; /* no body */
    r = kit_command(&s, &c);
    cr_assert_eq(r->status, BUYT__V1__COMMAND_STATUS__COMMAND_STATUS_UNKNOWN);
    cr_assert_str_eq(r->detail, "no command body this agent knows");

    const uint8_t newer[] = {0x08, 7, 0xa0, 0x01, 0x01}; /* id 7, a body from a newer contract */
    r = kit_command_raw(&s, 7, newer, sizeof newer);
    cr_assert_eq(r->status, BUYT__V1__COMMAND_STATUS__COMMAND_STATUS_UNKNOWN);

    Buyt__V1__SetReporting sr = BUYT__V1__SET_REPORTING__INIT;
    sr.moving_interval_ms = 100;
    sr.standing_interval_ms = 4000;
    c.command_id = 3;
    c.body_case = BUYT__V1__COMMAND__BODY_SET_REPORTING;
    c.set_reporting = &sr;
    r = kit_command(&s, &c);
    cr_assert_eq(r->status, BUYT__V1__COMMAND_STATUS__COMMAND_STATUS_INVALID);
    cr_assert_str_eq(r->detail, "moving interval out of range (200 ms..60 s)");

    sr.moving_interval_ms = 1000;
    c.command_id = 4;
    r = kit_command(&s, &c);
    cr_assert_eq(r->status, BUYT__V1__COMMAND_STATUS__COMMAND_STATUS_OK);
    cr_assert_str_empty(r->detail);

    Buyt__V1__Assignment as = BUYT__V1__ASSIGNMENT__INIT;
    as.route_id = "32";
    as.trip_id = "32_1_0715";
    as.run_id = "R7";
    c.command_id = 5;
    c.body_case = BUYT__V1__COMMAND__BODY_ASSIGNMENT;
    c.assignment = &as;
    r = kit_command(&s, &c);
    cr_assert_eq(r->status, BUYT__V1__COMMAND_STATUS__COMMAND_STATUS_OK);

    /* The new standing interval (4 s instead of 30 s) rules the reports: the drive starts with
     * the bus standing for three minutes. */
    struct kit_expect x = {0};
    buyt_report_config_init(&x.cfg);
    x.cfg.standing_interval_ms = 4000;
    kit_expect_run(&x, &d, 0, 60, NULL, 0, true);
    cr_assert_geq(x.n, 25, "a report every other 2-s epoch while standing");
    uint64_t before = s.max_seq;
    kit_feed(&s, &d, &gps, 0, 60);
    kit_sleep(&s, 300);

    /* The assignment goes with the next driver event. */
    kit_pty_write(&drv, "62E3086CED08", 12);
    cr_assert(buyt_test_run_until(&s.loop, has_driver_event, &s, 10000), "no driver event");
    const Buyt__V1__Record *h = kit_health(&s, 6);
    uint64_t n = h->seq;
    cr_assert_eq(n, before + x.n + 2,
                 "fixes, the driver event, the Health: %llu after %llu, %zu fixes",
                 (unsigned long long)n, (unsigned long long)before, x.n);
    cr_assert(kit_sub_wait_seqs(&s, n, 10000));
    kit_assert_gap_free(&s, n);
    kit_assert_fixes(&s, before + 1, n, &x, 0, x.n, &d);
    const Buyt__V1__DriverEvent *de = s.recs[n - 1].r->driver_event;
    cr_assert_not_null(de);
    cr_assert_eq(de->kind, BUYT__V1__DRIVER_EVENT_KIND__DRIVER_EVENT_UNKNOWN_CARD);
    cr_assert_str_eq(de->route_id, "32");
    cr_assert_str_eq(de->trip_id, "32_1_0715");
    cr_assert_str_eq(de->run_id, "R7");
    cr_assert_eq(h->health->serial_errors, 0);

    /* SIGHUP reloads the driver list: the same card now signs its driver in. */
    f = fopen(drivers, "w");
    fputs("3808980205 D009 Reloaded Driver\n", f);
    fclose(f);
    kill(a.pid, SIGHUP);
    kit_sleep(&s, 1600); /* the reload, and the reader's debounce window */
    kit_pty_write(&drv, "62E3086CED08", 12);
    struct kit_wait_seqs w = {&s, n + 1};
    cr_assert(buyt_test_run_until(&s.loop, kit_have_all, &w, 10000), "no event after SIGHUP");
    de = s.recs[n + 1].r->driver_event;
    cr_assert_not_null(de);
    cr_assert_eq(de->kind, BUYT__V1__DRIVER_EVENT_KIND__DRIVER_EVENT_SIGN_IN);
    cr_assert_str_eq(de->driver_id, "D009");

    cr_assert_eq(kill(a.pid, 0), 0, "the agent is alive");
    cr_assert_eq(kit_agent_stop(&a), 0);

    /* The stop signed D009 out in the journal; the next start publishes it first. */
    kit_agent_start(&a);
    w.n = n + 3;
    cr_assert(buyt_test_run_until(&s.loop, kit_have_all, &w, 15000), "nothing after restart");
    de = s.recs[n + 2].r->driver_event;
    cr_assert_not_null(de, "seq %llu is the sign-out", (unsigned long long)(n + 2));
    cr_assert_eq(de->kind, BUYT__V1__DRIVER_EVENT_KIND__DRIVER_EVENT_SIGN_OUT);
    cr_assert_str_eq(de->driver_id, "D009");
    cr_assert_eq(s.recs[n + 3].r->body_case, BUYT__V1__RECORD__BODY_HEALTH);
    kit_assert_gap_free(&s, n + 3);
    cr_assert_eq(kit_agent_stop(&a), 0);
    kit_sub_close(&s);
    kit_pty_close(&gps);
    kit_pty_close(&drv);
    kit_expect_free(&x);
    kit_drive_free(&d);
    kit_passed = true;
}
