/* Test helpers; see testkit.h. */
#include "testkit.h"

#include "migrate.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *buyt_test_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        cr_assert_fail("%s is not set: integration tests run under tools/servers.sh "
                 "(ctest does this; by hand: tools/servers.sh run -- ./it_test_x)",
                 name);
    return v;
}

PGconn *buyt_test_pg_connect(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        cr_assert_fail("connecting to %s: %s", conninfo, PQerrorMessage(c));
    return c;
}

void buyt_test_sql_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
        PQclear(r);
        cr_assert_fail("SQL failed: %s: %s", sql, msg);
    }
    PQclear(r);
}

long long buyt_test_sql_int(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
        PQclear(r);
        cr_assert_fail("SQL failed: %s: %s", sql, msg);
    }
    long long v = PQgetisnull(r, 0, 0) ? 0 : atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

void buyt_test_fresh_db(char *out, size_t len)
{
    static int n;
    char name[64], sql[128];
    snprintf(name, sizeof name, "t_%d_%d", (int)getpid(), ++n);
    PGconn *c = buyt_test_pg_connect(buyt_test_env("BUYT_PG"));
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    buyt_test_sql_exec(c, sql);
    PQfinish(c);
    snprintf(out, len, "host=%s port=%s user=postgres dbname=%s", buyt_test_env("BUYT_PG_HOST"),
             buyt_test_env("BUYT_PG_PORT"), name);
    struct buyt_migrate_result res;
    char err[512];
    if (buyt_migrate_run(out, NULL, &res, err, sizeof err))
        cr_assert_fail("migrating %s: %s", name, err);
}

static void run_script(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/tools/servers.sh %s", BUYT_SOURCE_DIR, args);
    int rc = system(cmd);
    if (rc != 0)
        cr_assert_fail("'%s' failed (status %d)", cmd, rc);
}

void buyt_test_servers(const char *action)
{
    char args[768];
    snprintf(args, sizeof args, "%s '%s'", action, buyt_test_env("BUYT_SERVERS_DIR"));
    run_script(args);
}

void buyt_test_mqtt_account(const char *name, const char *pass)
{
    char args[768];
    snprintf(args, sizeof args, "mqtt-account '%s' '%s' '%s'",
             buyt_test_env("BUYT_SERVERS_DIR"), name, pass);
    run_script(args);
    usleep(200 * 1000); /* the broker reloads its password file on SIGHUP */
}

const char *buyt_test_shared_data(const char *rel, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", BUYT_SHARED_DATA_DIR, rel);
    struct stat st;
    if (stat(buf, &st) != 0) {
        fprintf(stderr, "NOTICE: test data %s is absent (../shared/data); test skipped\n", buf);
        return NULL;
    }
    return buf;
}

struct until {
    bool (*done)(void *);
    void *arg;
    uv_loop_t *loop;
};

static void on_check(uv_timer_t *t)
{
    struct until *u = t->data;
    if (u->done(u->arg))
        uv_stop(u->loop);
}

bool buyt_test_run_until(uv_loop_t *loop, bool (*done)(void *arg), void *arg, int timeout_ms)
{
    struct until u = {done, arg, loop};
    uv_timer_t t;
    uv_timer_init(loop, &t);
    t.data = &u;
    uv_timer_start(&t, on_check, 5, 5);
    uint64_t deadline = uv_now(loop) + (uint64_t)timeout_ms;
    while (!done(arg) && uv_now(loop) < deadline) {
        uv_run(loop, UV_RUN_ONCE);
        uv_update_time(loop);
    }
    uv_timer_stop(&t);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return done(arg);
}
