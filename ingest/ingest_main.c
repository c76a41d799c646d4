/* buyt-ingest: the engine. Wires config, signals and the engine module together. */
#include "api.h"
#include "clock.h"
#include "dashboard.h"
#include "engine.h"
#include "error.h"
#include "gtfsrt.h"
#include "kvconf.h"
#include "log.h"
#include "predict_arrivals.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct config {
    char agency[64], db[1024], mqtt[1024], http[128], spool[1024], client_id[96];
    unsigned long long batch_ms, batch_rows, batch_retention_ms;
};

static const char *const keys[] = {"agency", "db", "mqtt", "http", "spool_dir", "batch_ms",
                                   "batch_rows", "batch_retention", "log_level", "client_id",
                                   NULL};

static int set_str(char *dst, size_t cap, const char *v, char *err, size_t len)
{
    if (strlen(v) >= cap) {
        snprintf(err, len, "value too long (max %zu)", cap - 1);
        return BUYT_EINVAL;
    }
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int set_key(void *target, const char *k, const char *v, char *err, size_t len)
{
    struct config *c = target;
    if (!strcmp(k, "agency"))
        return set_str(c->agency, sizeof c->agency, v, err, len);
    if (!strcmp(k, "db"))
        return set_str(c->db, sizeof c->db, v, err, len);
    if (!strcmp(k, "mqtt"))
        return set_str(c->mqtt, sizeof c->mqtt, v, err, len);
    if (!strcmp(k, "http"))
        return set_str(c->http, sizeof c->http, v, err, len);
    if (!strcmp(k, "client_id"))
        return set_str(c->client_id, sizeof c->client_id, v, err, len);
    if (!strcmp(k, "spool_dir"))
        return set_str(c->spool, sizeof c->spool, v, err, len);
    if (!strcmp(k, "batch_ms")) {
        if (buyt_kvconf_uint(v, 1, &c->batch_ms) || c->batch_ms < 1 || c->batch_ms > 60000) {
            snprintf(err, len, "want a duration between 1 ms and 60 s");
            return BUYT_EINVAL;
        }
        return 0;
    }
    if (!strcmp(k, "batch_rows")) {
        if (buyt_kvconf_uint(v, 0, &c->batch_rows) || c->batch_rows < 1 ||
            c->batch_rows > 1000000) {
            snprintf(err, len, "want 1..1000000");
            return BUYT_EINVAL;
        }
        return 0;
    }
    if (!strcmp(k, "batch_retention")) {
        if (buyt_kvconf_uint(v, 1, &c->batch_retention_ms) || c->batch_retention_ms < 60000 ||
            c->batch_retention_ms > 366ull * 86400000) {
            snprintf(err, len, "want a duration between 1 min and 8784 h (e.g. 168h)");
            return BUYT_EINVAL;
        }
        return 0;
    }
    if (!strcmp(k, "log_level")) {
        static const char *const lv[] = {"debug", "info", "warn", "error"};
        for (int i = 0; i < 4; i++)
            if (!strcmp(v, lv[i])) {
                buyt_log_set_level((enum buyt_log_level)i);
                return 0;
            }
        snprintf(err, len, "want debug, info, warn or error");
        return BUYT_EINVAL;
    }
    return BUYT_EINVAL;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: buyt-ingest [--config FILE] [--check-config] [options]\n"
            "  --config FILE     key = value file (keys: agency, db, mqtt, http, spool_dir,\n"
            "                    batch_ms, batch_rows, batch_retention, log_level, client_id);\n"
            "                    flags below override it\n"
            "  --check-config    validate the configuration and exit\n"
            "  --db CONNINFO     PostgreSQL (libpq connection string or URI)\n"
            "  --mqtt URL        broker, mqtt://USER:PASS@HOST:PORT or mqtts://...\n"
            "  --http ADDR:PORT  HTTP API listen address (default 127.0.0.1:8080)\n"
            "  --agency CODE     operator code in topics (default hn)\n"
            "  --spool DIR       spool directory (default ./spool)\n"
            "  --client-id ID    broker session id (default buyt-ingest-AGENCY); one per engine\n"
            "Signals: SIGTERM/SIGINT drain and exit, SIGHUP reloads vehicles and the network.\n");
}

static uv_signal_t sig_term, sig_int, sig_hup;
static struct buyt_engine engine;
static struct buyt_api *api;
static struct buyt_dashboard dashboard;

static void on_stopped(void *arg)
{
    (void)arg;
    buyt_api_stop(api);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
    uv_close((uv_handle_t *)&sig_hup, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    if (signum == SIGHUP) {
        buyt_engine_reload(&engine);
        buyt_engine_reload_network(&engine);
        return;
    }
    BUYT_INFO("ingest", "msg=\"draining\" signal=%d", signum);
    buyt_engine_stop(&engine, on_stopped, NULL);
}

static int check(const struct config *c, char *err, size_t len)
{
    struct buyt_mqtt_url u;
    if (!c->db[0]) {
        snprintf(err, len, "no database: give --db CONNINFO or db = ... in the config");
        return BUYT_EINVAL;
    }
    if (c->mqtt[0] && buyt_mqtt_url_parse(c->mqtt, &u)) {
        snprintf(err, len, "bad broker URL (want mqtt://USER:PASS@HOST:PORT or mqtts://...)");
        return BUYT_EINVAL;
    }
    if (!c->mqtt[0]) {
        snprintf(err, len, "no broker: give --mqtt URL or mqtt = ... in the config");
        return BUYT_EINVAL;
    }
    if (strpbrk(c->agency, "/+#") || !c->agency[0]) {
        snprintf(err, len, "bad agency code '%s'", c->agency);
        return BUYT_EINVAL;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct config c = {.agency = "hn", .http = "127.0.0.1:8080", .spool = "spool"};
    const char *config_path = NULL;
    int check_only = 0;
    /* The config file first, so flags override it whatever their order. */
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            config_path = argv[i + 1];
    char err[1024];
    if (config_path && buyt_kvconf_load(config_path, keys, set_key, &c, err, sizeof err)) {
        fprintf(stderr, "buyt-ingest: %s\n", err);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--check-config")) {
            check_only = 1;
            continue;
        } else if (!v) {
            fprintf(stderr, "buyt-ingest: unknown or incomplete argument '%s' (try --help)\n", a);
            return 2;
        } else if (!strcmp(a, "--config")) {
        } else if (!strcmp(a, "--db")) {
            rc = set_key(&c, "db", v, err, sizeof err);
        } else if (!strcmp(a, "--mqtt")) {
            rc = set_key(&c, "mqtt", v, err, sizeof err);
        } else if (!strcmp(a, "--http")) {
            rc = set_key(&c, "http", v, err, sizeof err);
        } else if (!strcmp(a, "--agency")) {
            rc = set_key(&c, "agency", v, err, sizeof err);
        } else if (!strcmp(a, "--client-id")) {
            rc = set_key(&c, "client_id", v, err, sizeof err);
        } else if (!strcmp(a, "--spool")) {
            rc = set_key(&c, "spool_dir", v, err, sizeof err);
        } else {
            fprintf(stderr, "buyt-ingest: unknown argument '%s' (try --help)\n", a);
            return 2;
        }
        if (rc) {
            fprintf(stderr, "buyt-ingest: %s: %s\n", a, err);
            return 2;
        }
        i++;
    }
    if (check(&c, err, sizeof err)) {
        fprintf(stderr, "buyt-ingest: %s\n", err);
        return 2;
    }
    if (check_only) {
        printf("buyt-ingest: configuration OK\n");
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t *loop = uv_default_loop();
    struct buyt_engine_config ec = {.agency = c.agency, .conninfo = c.db, .mqtt_url = c.mqtt,
                                    .spool_dir = c.spool,
                                    .client_id = c.client_id[0] ? c.client_id : NULL,
                                    .batch_ms = (uint32_t)c.batch_ms,
                                    .batch_rows = (uint32_t)c.batch_rows,
                                    .batch_retention_s = (uint32_t)(c.batch_retention_ms / 1000)};
    if (buyt_engine_init(&engine, loop, &ec, err, sizeof err)) {
        fprintf(stderr, "buyt-ingest: %s\n", err);
        buyt_engine_close(&engine);
        return 1;
    }
    /* Arrivals from the predictor; the baseline stays behind ?source=baseline. */
    struct buyt_api_opts ao = {.listen = c.http,
                               .arrivals = buyt_api_arrivals_predictor,
                               .arrivals_source = BUYT_PREDICT_ARRIVALS_SOURCE};
    if (buyt_api_start(&engine, &ao, &api, err, sizeof err)) {
        fprintf(stderr, "buyt-ingest: HTTP: %s\n", err);
        buyt_api_free(api);
        buyt_engine_close(&engine);
        return 1;
    }
    if (buyt_dashboard_init(&dashboard, &engine, api, err, sizeof err)) {
        fprintf(stderr, "buyt-ingest: dashboard: %s\n", err);
        buyt_api_free(api);
        buyt_engine_close(&engine);
        return 1;
    }
    struct buyt_gtfsrt *gtfsrt = NULL; /* /gtfs-rt/... on the API's port */
    if (buyt_gtfsrt_start(&engine, buyt_api_http(api), NULL, &gtfsrt)) {
        fprintf(stderr, "buyt-ingest: GTFS-Realtime feeds could not start (out of memory)\n");
        buyt_api_free(api);
        buyt_engine_close(&engine);
        return 1;
    }
    if (buyt_engine_start(&engine)) {
        fprintf(stderr, "buyt-ingest: could not start the engine\n");
        return 1;
    }
    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    uv_signal_init(loop, &sig_hup);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_signal_start(&sig_hup, on_signal, SIGHUP);
    BUYT_INFO("ingest", "msg=started agency=%s", c.agency);
    uv_run(loop, UV_RUN_DEFAULT);
    const struct buyt_ingest_stats *s = &engine.stats;
    BUYT_INFO("ingest", "msg=stopped messages=%llu records=%llu accepted=%llu duplicates=%llu"
              " rows_committed=%llu acks=%llu",
              (unsigned long long)s->messages, (unsigned long long)s->records,
              (unsigned long long)s->accepted, (unsigned long long)s->duplicates,
              (unsigned long long)s->rows_committed, (unsigned long long)s->acks_published);
    buyt_api_free(api);
    buyt_gtfsrt_free(gtfsrt);
    buyt_engine_close(&engine);
    int rc = uv_loop_close(loop);
    return rc ? 1 : 0;
}
