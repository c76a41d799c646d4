/* buyt-onboard over TLS with the real program and broker (tools/servers.sh gives the broker a
 * TLS listener with a certificate from a CA made for the run): the records arrive, are
 * acknowledged and leave the journal exactly as over plain MQTT. A broker certificate the
 * agent's CA did not sign, or one that does not name the host of the URL, is refused and
 * reported, and nothing is delivered meanwhile (the records wait in the journal); so is a
 * server's refusal of the agent's client certificate. On the wire, an mqtts:// agent speaks TLS
 * from its first byte, on every retry: no MQTT in clear. */
#include "onboard_kit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

/* ------------------------------------------------------------------ helpers */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return calloc(1, 1);
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    size_t r;
    while ((r = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 2)
            b = realloc(b, cap *= 2);
    }
    fclose(f);
    b[n] = '\0';
    return b;
}

static size_t count_in(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static size_t count_in_file(const char *path, const char *needle)
{
    char *t = slurp(path);
    size_t n = count_in(t, needle);
    free(t);
    return n;
}

/* Replaces the line "key = ..." of the agent's config (which must have it) by "key = value". */
static void conf_set(struct kit_agent *a, const char *key, const char *value)
{
    char *t = slurp(a->conf);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s = ", key);
    char *line = strstr(t, prefix);
    cr_assert(line && (line == t || line[-1] == '\n'), "no %s line in %s", key, a->conf);
    char *end = strchr(line, '\n');
    cr_assert_not_null(end);
    FILE *f = fopen(a->conf, "w");
    cr_assert_not_null(f);
    fprintf(f, "%.*s%s%s%s", (int)(line - t), t, prefix, value, end);
    fclose(f);
    free(t);
}

/* kit_agent_init's agent, on the broker's TLS listener with the run's CA (host: "127.0.0.1" or
 * another name for it). */
static void tls_agent_init(struct kit_agent *a, const char *vehicle, const char *gps,
                           const char *host)
{
    char more[512];
    snprintf(more, sizeof more, "mqtt_cafile = %s\n", buyt_test_env("BUYT_MQTT_CAFILE"));
    kit_agent_init(a, vehicle, 0, gps, more);
    char url[256];
    snprintf(url, sizeof url, "mqtts://%s:%s@%s:%s", vehicle, a->pass, host,
             buyt_test_env("BUYT_MQTT_TLS_PORT"));
    conf_set(a, "mqtt_url", url);
}

/* The value of `key=` in the agent's last "msg=stopping" log line (fails if absent). */
static uint64_t stop_counter(const struct kit_agent *a, const char *key)
{
    char *t = slurp(a->log);
    char *line = NULL;
    for (char *p = t; (p = strstr(p, "msg=stopping ")); p++)
        line = p;
    cr_assert_not_null(line, "no stop line in %s", a->log);
    char k[64];
    snprintf(k, sizeof k, " %s=", key);
    char *p = strstr(line, k);
    char *eol = strchr(line, '\n');
    cr_assert(p && (!eol || p < eol), "no %s in the stop line of %s", key, a->log);
    uint64_t v = strtoull(p + strlen(k), NULL, 10);
    free(t);
    return v;
}

struct log_wait {
    const char *path, *needle;
    size_t n;
};

static bool log_has(void *arg)
{
    struct log_wait *w = arg;
    return count_in_file(w->path, w->needle) >= w->n;
}

/* Runs the subscriber's loop until the agent's log holds `n` lines with `needle`. */
static bool wait_log(struct kit_sub *s, const struct kit_agent *a, const char *needle, size_t n,
                     int timeout_ms)
{
    struct log_wait w = {a->log, needle, n};
    return buyt_test_run_until(&s->loop, log_has, &w, timeout_ms);
}

/* The same without a subscriber. */
static bool wait_log_sleeping(const struct kit_agent *a, const char *needle, size_t n,
                              int timeout_ms)
{
    struct log_wait w = {a->log, needle, n};
    for (int t = 0; t < timeout_ms && !log_has(&w); t += 20)
        usleep(20000);
    return log_has(&w);
}

static bool is_offline(void *arg)
{
    return ((struct kit_sub *)arg)->status_state == BUYT__V1__DEVICE_STATE__DEVICE_STATE_OFFLINE;
}

/* A CA that signed nothing the broker has, made with the openssl command line. */
static void other_ca(char *path, size_t len)
{
    snprintf(path, len, "%s/other-ca.crt", kit_dir);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
             "-subj '/CN=buyt test: a CA that signed nothing here' -keyout '%s/other-ca.key' "
             "-out '%s' >'%s/openssl.log' 2>&1",
             kit_dir, path, kit_dir);
    cr_assert_eq(system(cmd), 0, "openssl failed (see %s/openssl.log)", kit_dir);
}

static size_t broker_log_count(const char *needle)
{
    char path[512];
    snprintf(path, sizeof path, "%s/mqtt/mosquitto.log", buyt_test_env("BUYT_SERVERS_DIR"));
    char *t = slurp(path);
    cr_assert_gt(strlen(t), 0, "broker log %s unreadable or empty", path);
    size_t n = count_in(t, needle);
    free(t);
    return n;
}

/* The broker never had an MQTT session for this client id. */
static void assert_never_connected_to_broker(const char *vehicle)
{
    char needle[96];
    snprintf(needle, sizeof needle, " as %s (", vehicle);
    cr_assert_eq(broker_log_count(needle), 0, "the broker logged a session for %s", vehicle);
}

/* The stopped agent reported exactly the handshakes the broker saw it refuse (the TLS alert it
 * sent, `alert`, counted in the broker's log since `before`): those that failed inside the
 * connect call and those that failed later on the socket alike. The agent reports a failure
 * before its alert reaches the broker, so the broker's count catches up, never overtakes. */
static void assert_every_refusal_reported(const struct kit_agent *a, const char *alert,
                                          size_t before)
{
    uint64_t fails = stop_counter(a, "mqtt_tls_failures");
    size_t seen = 0;
    for (int i = 0; i < 250 && (seen = broker_log_count(alert) - before) < fails; i++)
        usleep(20000);
    cr_assert_eq(seen, fails, "the broker refused %zu handshakes (%s), the agent reported %llu",
                 seen, alert, (unsigned long long)fails);
}

/* ------------------------------------------------------------------ tests */

Test(onboard_tls, records_go_over_tls_are_acknowledged_and_the_journal_drains, .init = kit_setup,
     .fini = kit_teardown, .timeout = 300)
{
    struct kit_drive d;
    kit_drive_load(&d, buyt_wall_ms() - 60000, 0, NULL);
    const size_t epochs = 150;
    struct kit_expect x = {0};
    kit_expect_run(&x, &d, 0, epochs, NULL, 0, true);
    cr_assert_gt(x.n, 10);
    struct kit_pty gps;
    kit_pty_open(&gps);
    struct kit_sub s;
    kit_sub_start(&s, "T-TLS");
    kit_sub_wait_ready(&s);
    struct kit_agent a;
    tls_agent_init(&a, "T-TLS", gps.path, "127.0.0.1");
    kit_agent_start(&a);
    kit_sub_wait_online(&s);
    char connected[128];
    snprintf(connected, sizeof connected, "msg=connected host=127.0.0.1 port=%s\n",
             buyt_test_env("BUYT_MQTT_TLS_PORT"));
    cr_assert_eq(count_in_file(a.log, connected), 1, "connected once, to the TLS listener");

    kit_feed(&s, &d, &gps, 0, epochs);
    kit_sleep(&s, 300);
    uint64_t m = 1 + x.n; /* the start's Health, then the fixes */
    cr_assert(kit_sub_wait_seqs(&s, m, 15000), "records over TLS did not all arrive");
    kit_assert_fixes(&s, 1, m, &x, 0, x.n, &d);

    /* The engine's Ack reaches the agent over TLS (as does the health_request): all trimmed. */
    kit_publish_ack(&s, m);
    const Buyt__V1__Record *h = kit_health(&s, 1);
    cr_assert_eq(h->seq, m + 1);
    cr_assert_eq(h->health->journal_records, 0, "the acknowledged records left the journal");
    cr_assert_eq(h->health->oldest_unacked_age_s, 0);
    kit_assert_gap_free(&s, m + 1);

    /* A clean stop over TLS: the retained OFFLINE is published, the exit is clean. */
    cr_assert_eq(kit_agent_stop(&a), 0);
    cr_assert(buyt_test_run_until(&s.loop, is_offline, &s, 5000), "no retained OFFLINE");
    cr_assert_eq(stop_counter(&a, "mqtt_connects"), 1);
    cr_assert_eq(stop_counter(&a, "mqtt_tls_failures"), 0);
    cr_assert_eq(stop_counter(&a, "journal_records"), 1, "only the Health of the request");
    cr_assert_eq(count_in_file(a.log, "TLS handshake failed"), 0);

    kit_sub_close(&s);
    kit_pty_close(&gps);
    kit_expect_free(&x);
    kit_drive_free(&d);
    kit_passed = true;
}

Test(onboard_tls, a_broker_certificate_from_another_ca_is_refused_and_nothing_is_delivered,
     .init = kit_setup, .fini = kit_teardown, .timeout = 300)
{
    struct kit_drive d;
    kit_drive_load(&d, buyt_wall_ms() - 60000, 0, NULL);
    const size_t epochs = 60;
    struct kit_expect x = {0};
    kit_expect_run(&x, &d, 0, epochs, NULL, 0, true);
    cr_assert_gt(x.n, 5);
    char ca[256];
    other_ca(ca, sizeof ca);
    struct kit_pty gps;
    kit_pty_open(&gps);
    struct kit_sub s; /* reads every topic of the fleet, whichever listener it came through */
    kit_sub_start(&s, "T-BADCA");
    kit_sub_wait_ready(&s);
    struct kit_agent a;
    tls_agent_init(&a, "T-BADCA", gps.path, "127.0.0.1");
    conf_set(&a, "mqtt_cafile", ca);
    const char *alert = "tlsv1 alert unknown ca"; /* the agent's, in the broker's log */
    size_t alerts = broker_log_count(alert);
    kit_agent_start(&a);
    kit_feed(&s, &d, &gps, 0, epochs);

    /* Every attempt fails in the handshake and is reported (backoff 100 ms..1 s). */
    cr_assert(wait_log(&s, &a, "msg=\"TLS handshake failed\"", 4, 15000),
              "no TLS failure reported (log %s)", a.log);
    cr_assert_eq(count_in_file(a.log, "TLS handshake failed"),
                 count_in_file(a.log, "err=\"error:0A000086:SSL routines::certificate verify "
                                      "failed\""),
                 "every failure says why");
    kit_sleep(&s, 500);
    cr_assert_eq(s.max_seq, 0, "a record was delivered");
    cr_assert_eq(s.n_msgs, 0, "a Telemetry was delivered");
    cr_assert_eq(s.status_state, 0, "a status (ONLINE or will) was published");
    cr_assert_eq(s.foreign_telemetry, 0);
    cr_assert_eq(count_in_file(a.log, "msg=connected"), 0);
    assert_never_connected_to_broker("T-BADCA");

    cr_assert_eq(kit_agent_stop(&a), 0);
    uint64_t fails = stop_counter(&a, "mqtt_tls_failures");
    cr_assert_geq(fails, 4);
    cr_assert_eq(fails, count_in_file(a.log, "TLS handshake failed"), "one count per report");
    cr_assert_eq(stop_counter(&a, "mqtt_connects"), 0);
    cr_assert_eq(stop_counter(&a, "journal_records"), 1 + x.n, "every record kept");
    cr_assert_eq(s.max_seq, 0);
    assert_every_refusal_reported(&a, alert, alerts);

    /* With the right CA the same journal drains: nothing was lost while TLS failed. */
    conf_set(&a, "mqtt_cafile", buyt_test_env("BUYT_MQTT_CAFILE"));
    kit_agent_start(&a);
    uint64_t m = 1 + x.n + 1; /* the first start's Health and fixes, the restart's Health */
    cr_assert(kit_sub_wait_seqs(&s, m, 15000), "the journal did not drain over TLS");
    kit_assert_fixes(&s, 1, m, &x, 0, x.n, &d);
    cr_assert_eq(s.recs[m].r->body_case, BUYT__V1__RECORD__BODY_HEALTH);
    cr_assert_eq(s.recs[m].r->health->journal_records, 1 + x.n);
    kit_assert_gap_free(&s, m);
    cr_assert_eq(kit_agent_stop(&a), 0);
    cr_assert_eq(stop_counter(&a, "mqtt_connects"), 1, "the restarted agent's stop line");

    kit_sub_close(&s);
    kit_pty_close(&gps);
    kit_expect_free(&x);
    kit_drive_free(&d);
    kit_passed = true;
}

Test(onboard_tls, a_broker_certificate_that_does_not_name_the_host_is_refused, .init = kit_setup,
     .fini = kit_teardown, .timeout = 120)
{
    struct kit_pty gps;
    kit_pty_open(&gps);
    struct kit_sub s;
    kit_sub_start(&s, "T-NAME");
    kit_sub_wait_ready(&s);
    struct kit_agent a;
    /* 127.1 is 127.0.0.1 to the resolver but a name the certificate (IP:127.0.0.1,
     * DNS:localhost) does not carry: the chain is trusted, the name check alone refuses it. */
    tls_agent_init(&a, "T-NAME", gps.path, "127.1");
    const char *alert = "tlsv1 alert internal error"; /* how OpenSSL sends this refusal */
    size_t alerts = broker_log_count(alert);
    kit_agent_start(&a);
    cr_assert(wait_log(&s, &a, "err=\"Error: host name verification failed.\"", 3, 15000),
              "the name mismatch was not reported (log %s)", a.log);
    kit_sleep(&s, 300);
    cr_assert_eq(s.max_seq, 0, "a record was delivered");
    cr_assert_eq(s.status_state, 0, "a status was published");
    cr_assert_eq(count_in_file(a.log, "msg=connected"), 0);
    assert_never_connected_to_broker("T-NAME");
    cr_assert_eq(kit_agent_stop(&a), 0);
    cr_assert_geq(stop_counter(&a, "mqtt_tls_failures"), 3);
    cr_assert_eq(stop_counter(&a, "mqtt_connects"), 0);
    assert_every_refusal_reported(&a, alert, alerts);
    kit_sub_close(&s);
    kit_pty_close(&gps);
    kit_passed = true;
}

/* Reads what the agent sends first on a connection to a TCP listener of ours: at least 16 bytes
 * (or what came before EOF / 5 s). Returns the count. */
static size_t first_bytes(int lfd, uint8_t *buf, size_t cap)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 15000), 1, "the agent did not connect");
    int c = accept(lfd, NULL, NULL);
    cr_assert_geq(c, 0);
    size_t n = 0;
    while (n < 16) {
        struct pollfd q = {.fd = c, .events = POLLIN};
        if (poll(&q, 1, 5000) != 1)
            break;
        ssize_t r = read(c, buf + n, cap - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    /* Keep reading what arrives within 200 ms: the whole first flight. */
    for (;;) {
        struct pollfd q = {.fd = c, .events = POLLIN};
        if (n >= cap || poll(&q, 1, 200) != 1)
            break;
        ssize_t r = read(c, buf + n, cap - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(c); /* mid-handshake: the agent's attempt fails */
    return n;
}

static bool contains(const uint8_t *b, size_t n, const char *s)
{
    size_t l = strlen(s);
    for (size_t i = 0; i + l <= n; i++)
        if (!memcmp(b + i, s, l))
            return true;
    return false;
}

Test(onboard_tls, an_mqtts_agent_sends_nothing_in_clear_on_any_attempt, .init = kit_setup,
     .fini = kit_teardown, .timeout = 120)
{
    /* A listener of ours stands in for the broker: it sees the agent's first bytes. */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(lfd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(lfd, 4), 0);
    socklen_t sl = sizeof sa;
    cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    char port[16];
    snprintf(port, sizeof port, "%u", ntohs(sa.sin_port));

    struct kit_pty gps;
    kit_pty_open(&gps);
    struct kit_agent a;
    tls_agent_init(&a, "T-CLEAR", gps.path, "127.0.0.1");
    char url[256];
    snprintf(url, sizeof url, "mqtts://T-CLEAR:%s@127.0.0.1:%s", a.pass, port);
    conf_set(&a, "mqtt_url", url);
    kit_agent_start(&a);
    for (int attempt = 0; attempt < 3; attempt++) {
        uint8_t b[4096];
        size_t n = first_bytes(lfd, b, sizeof b);
        cr_assert_geq(n, 6, "attempt %d: %zu bytes", attempt, n);
        /* A TLS handshake record (type 22, version 3.x) carrying a ClientHello (type 1); an
         * MQTT CONNECT would start with 0x10 and carry the client id and password. */
        cr_assert_eq(b[0], 0x16, "attempt %d: first byte 0x%02x, not a TLS handshake", attempt,
                     b[0]);
        cr_assert_eq(b[1], 0x03);
        cr_assert_eq(b[5], 0x01, "attempt %d: not a ClientHello", attempt);
        cr_assert(!contains(b, n, a.pass), "attempt %d: the password in clear", attempt);
        cr_assert(!contains(b, n, "MQTT"), "attempt %d: an MQTT CONNECT in clear", attempt);
        cr_assert(!contains(b, n, "T-CLEAR"), "attempt %d: the client id in clear", attempt);
    }
    close(lfd);
    cr_assert(wait_log_sleeping(&a, "msg=\"TLS handshake failed\"", 3, 10000),
              "cut handshakes not reported (log %s)", a.log);
    cr_assert_eq(kit_agent_stop(&a), 0);
    cr_assert_geq(stop_counter(&a, "mqtt_tls_failures"), 3, "each cut handshake is reported");
    cr_assert_eq(stop_counter(&a, "mqtt_connects"), 0);
    kit_pty_close(&gps);
    kit_passed = true;
}

/* openssl s_server demanding a client certificate, on a port it picks (slot 3 of kit_pids:
 * killed by the teardown if the test fails). Its certificate (IP:127.0.0.1, self-signed) is
 * written to `ca` for the agent to trust. Returns its port. */
static int demanding_server(pid_t *pid, char *ca, size_t len)
{
    snprintf(ca, len, "%s/demanding.crt", kit_dir);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
             "-subj '/CN=buyt test: a server that wants client certificates' "
             "-addext 'subjectAltName = IP:127.0.0.1' -keyout '%s/demanding.key' -out '%s' "
             ">'%s/openssl.log' 2>&1",
             kit_dir, ca, kit_dir);
    cr_assert_eq(system(cmd), 0, "openssl failed (see %s/openssl.log)", kit_dir);
    char out[256], key[256];
    snprintf(out, sizeof out, "%s/s_server.out", kit_dir);
    snprintf(key, sizeof key, "%s/demanding.key", kit_dir);
    *pid = fork();
    cr_assert_geq(*pid, 0);
    if (*pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execlp("openssl", "openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", ca, "-key", key,
               "-CAfile", ca, "-Verify", "1", "-verify_return_error", (char *)NULL);
        _exit(127);
    }
    kit_pids[3] = *pid;
    for (int i = 0; i < 500; i++) {
        char *t = slurp(out);
        const char *p = strstr(t, "ACCEPT 127.0.0.1:");
        int port = p ? atoi(p + strlen("ACCEPT 127.0.0.1:")) : 0;
        free(t);
        if (port > 0)
            return port;
        usleep(20000);
    }
    cr_assert_fail("openssl s_server did not start (see %s)", out);
    return 0;
}

Test(onboard_tls, a_broker_that_refuses_the_client_certificate_is_reported, .init = kit_setup,
     .fini = kit_teardown, .timeout = 120)
{
    pid_t srv;
    char ca[256];
    int port = demanding_server(&srv, ca, sizeof ca);
    struct kit_pty gps;
    kit_pty_open(&gps);
    struct kit_agent a;
    tls_agent_init(&a, "T-NOCERT", gps.path, "127.0.0.1");
    conf_set(&a, "mqtt_cafile", ca);
    char url[256];
    snprintf(url, sizeof url, "mqtts://T-NOCERT:%s@127.0.0.1:%d", a.pass, port);
    conf_set(&a, "mqtt_url", url);
    kit_agent_start(&a);
    /* Under TLS 1.3 the client's side of the handshake completes before the server checks
     * the (missing) client certificate: the refusal comes as an alert on the first read. */
    cr_assert(wait_log_sleeping(&a, "msg=\"TLS handshake failed\"", 3, 15000),
              "the refusal was not reported (log %s)", a.log);
    cr_assert_eq(kit_agent_stop(&a), 0);
    kill(srv, SIGTERM);
    waitpid(srv, NULL, 0);
    kit_pids[3] = 0;
    size_t n = count_in_file(a.log, "msg=\"TLS handshake failed\"");
    cr_assert_eq(count_in_file(a.log, "alert certificate required\""), n, "each says why");
    cr_assert_eq(stop_counter(&a, "mqtt_tls_failures"), n);
    cr_assert_eq(stop_counter(&a, "mqtt_connects"), 0);
    kit_pty_close(&gps);
    kit_passed = true;
}
