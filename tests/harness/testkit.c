/* Test helpers; see testkit.h. */
#include "testkit.h"

#include "batch.h"
#include "migrate.h"
#include "spool.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

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

static uint32_t be(const uint8_t *p, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

void buyt_test_spool_write_layout1(const char *dir, struct buyt_batch *b)
{
    /* Binary COPY tuples: a 16-bit field count, then per field a 32-bit length (-1: NULL)
     * and that many bytes. Keep all fields but the last. */
    struct buyt_buf *in = &b->copy[BUYT_TBL_STOP_EVENTS];
    uint8_t *out = malloc(in->len + 1);
    cr_assert_not_null(out);
    size_t at = 0, o = 0;
    while (at < in->len) {
        uint32_t n = be(in->p + at, 2);
        cr_assert_eq(n, 11, "a stop event of layout 2 has 11 fields");
        out[o++] = 0;
        out[o++] = (uint8_t)(n - 1);
        at += 2;
        for (uint32_t f = 0; f < n; f++) {
            uint32_t len = be(in->p + at, 4);
            size_t sz = 4 + (len == 0xffffffffu ? 0 : len);
            if (f + 1 < n) {
                memcpy(out + o, in->p + at, sz);
                o += sz;
            }
            at += sz;
        }
    }
    memcpy(in->p, out, o);
    in->len = o;
    free(out);
    cr_assert_eq(buyt_spool_write(dir, b, NULL), 0);
    /* The header's layout digit, and the CRC over everything before it. */
    char path[4096];
    snprintf(path, sizeof path, "%s/%020llu.batch", dir, (unsigned long long)b->id);
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f, "%s", path);
    uint8_t img[1 << 16];
    size_t n = fread(img, 1, sizeof img, f);
    cr_assert(n > 12 && n < sizeof img && img[7] == '2', "unexpected spool file %s", path);
    img[7] = '1';
    uint32_t crc = (uint32_t)crc32(0L, img, (uInt)(n - 4));
    memcpy(img + n - 4, &crc, 4);
    rewind(f);
    cr_assert_eq(fwrite(img, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}
