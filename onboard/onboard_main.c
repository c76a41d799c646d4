/* buyt-onboard: the agent on a bus's computer. Wires the config, the signals and the agent
 * (onboard/agent.h) on one libuv loop. Usage and operations: docs/ONBOARD.md. */
#include "agent.h"
#include "agent_config.h"
#include "drivers.h"
#include "error.h"
#include "log.h"
#include "mqtt.h"

#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static const char usage[] =
    "usage: buyt-onboard --config FILE [--check-config]\n"
    "       buyt-onboard --help | --version\n"
    "Reads the GNSS receiver and RFID readers, journals every record and publishes it over MQTT\n"
    "until the engine acknowledges it (docs/ONBOARD.md).\n"
    "  --config FILE    configuration (keys: deploy/onboard/buyt-onboard.conf.example)\n"
    "  --check-config   check FILE (and the driver list) and exit: 0 and one summary line on\n"
    "                   stdout, or 1 and one line saying what is wrong on stderr\n"
    "Signals: SIGTERM/SIGINT stop cleanly (journal synced, offline status, clean disconnect);\n"
    "SIGHUP reloads the driver list. Environment: BUYT_LOG_LEVEL=debug|info|warn|error\n"
    "overrides log_level.\n";

struct main_ctx {
    uv_loop_t *loop;
    struct buyt_agent *agent;
    uv_signal_t sigterm, sigint, sighup;
};

static void on_stopped(void *arg)
{
    struct main_ctx *m = arg;
    uv_close((uv_handle_t *)&m->sigterm, NULL);
    uv_close((uv_handle_t *)&m->sigint, NULL);
    uv_close((uv_handle_t *)&m->sighup, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct main_ctx *m = h->data;
    if (signum == SIGHUP) {
        buyt_agent_reload(m->agent);
        return;
    }
    BUYT_INFO("main", "msg=\"stopping on signal\" signal=%s", signum == SIGTERM ? "TERM" : "INT");
    uv_signal_stop(&m->sigterm);
    uv_signal_stop(&m->sigint);
    uv_signal_stop(&m->sighup);
    buyt_agent_stop(m->agent, on_stopped, m);
}

static void count_bad_line(void *arg, unsigned line, const char *reason)
{
    (void)line, (void)reason;
    (*(unsigned *)arg)++;
}

/* --check-config: the config loaded; also load the driver list, and print one line. */
static int check_config(const struct buyt_agent_config *cfg)
{
    size_t drivers = 0;
    unsigned bad = 0;
    if (cfg->drivers_file[0] && cfg->has_fleet_key) {
        struct buyt_drivers *d;
        int rc = buyt_drivers_load(&d, cfg->drivers_file, &cfg->fleet_key, count_bad_line, &bad);
        if (rc) {
            fprintf(stderr, "buyt-onboard: %s: drivers_file %s: %s\n", cfg->path, cfg->drivers_file,
                    buyt_strerror(rc));
            return 1;
        }
        drivers = buyt_drivers_count(d);
        buyt_drivers_free(d);
        if (bad) {
            fprintf(stderr,
                    "buyt-onboard: %s: drivers_file %s: %u bad line(s) would be skipped (start "
                    "the agent to see them logged)\n",
                    cfg->path, cfg->drivers_file, bad);
            return 1;
        }
    }
    struct buyt_mqtt_url u;
    buyt_mqtt_url_parse(cfg->mqtt_url, &u);
    unsigned readers = 0;
    for (unsigned i = 0; i < BUYT_AGENT_RFID_MAX; i++)
        readers += cfg->rfid[i].enabled;
    printf("buyt-onboard: %s: OK: vehicle %s/%s, broker %s:%d%s as %s, gps %s, %u RFID "
           "reader(s), %zu driver card(s), journal %s\n",
           cfg->path, cfg->agency, cfg->vehicle_id, u.host, u.port, u.tls ? " (TLS)" : "",
           u.user[0] ? u.user : "(anonymous)", cfg->gps_device, readers, drivers, cfg->journal_dir);
    if (u.user[0] && strcmp(u.user, cfg->vehicle_id))
        printf("buyt-onboard: note: MQTT user %s is not the vehicle id: the broker's ACL "
               "(deploy/mosquitto/acl.in) expects them equal\n",
               u.user);
    OPENSSL_cleanse(&u, sizeof u);
    return 0;
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    int check = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--version")) {
            printf("buyt-onboard %s\n", BUYT_ONBOARD_VERSION);
            return 0;
        } else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            config = argv[++i];
        } else if (!strncmp(argv[i], "--config=", 9)) {
            config = argv[i] + 9;
        } else if (!strcmp(argv[i], "--check-config")) {
            check = 1;
        } else {
            fprintf(stderr, "buyt-onboard: unknown argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (!config) {
        fprintf(stderr, "buyt-onboard: --config FILE is required (see --help)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a broker dropping the socket mid-write must not kill us */

    static struct buyt_agent_config cfg; /* ~8 KiB: not on the stack */
    char err[1024];
    if (buyt_agent_config_load(&cfg, config, err, sizeof err)) {
        fprintf(stderr, "buyt-onboard: %s\n", err);
        return 1;
    }
    if (check) {
        int rc = check_config(&cfg);
        buyt_agent_config_clear(&cfg);
        return rc;
    }
    if (!getenv("BUYT_LOG_LEVEL"))
        buyt_log_set_level(cfg.log_level);

    uv_loop_t loop;
    int rc = uv_loop_init(&loop);
    if (rc) {
        fprintf(stderr, "buyt-onboard: event loop: %s\n", uv_strerror(rc));
        return 1;
    }
    struct main_ctx m = {.loop = &loop};
    rc = buyt_agent_new(&loop, &cfg, &m.agent, err, sizeof err);
    buyt_agent_config_clear(&cfg); /* the agent keeps its own copy of the secrets */
    if (rc) {
        fprintf(stderr, "buyt-onboard: %s\n", err);
        uv_run(&loop, UV_RUN_DEFAULT); /* lets the partial agent close its handles */
        uv_loop_close(&loop);
        return 1;
    }
    uv_signal_init(&loop, &m.sigterm);
    uv_signal_init(&loop, &m.sigint);
    uv_signal_init(&loop, &m.sighup);
    m.sigterm.data = m.sigint.data = m.sighup.data = &m;
    uv_signal_start(&m.sigterm, on_signal, SIGTERM);
    uv_signal_start(&m.sigint, on_signal, SIGINT);
    uv_signal_start(&m.sighup, on_signal, SIGHUP);
    buyt_agent_start(m.agent);
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&loop);
    if (rc) {
        BUYT_ERROR("main", "msg=\"handles left open at exit\" err=\"%s\"", uv_strerror(rc));
        return 1;
    }
    BUYT_INFO("main", "msg=stopped");
    return 0;
}
