/* buyt-migrate against a real PostgreSQL: ordered, transactional, recorded, idempotent. */
#include "migrate.h"
#include "testkit.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static void empty_db(char *out, size_t len, const char *name)
{
    PGconn *c = buyt_test_pg_connect(buyt_test_env("BUYT_PG"));
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    buyt_test_sql_exec(c, sql);
    PQfinish(c);
    snprintf(out, len, "host=%s port=%s user=postgres dbname=%s", buyt_test_env("BUYT_PG_HOST"),
             buyt_test_env("BUYT_PG_PORT"), name);
}

static int count_migrations(void)
{
    int n = 0;
    while (buyt_migrations[n].name)
        n++;
    return n;
}

Test(migrate, applies_all_then_nothing_on_second_run)
{
    char db[512], err[512];
    empty_db(db, sizeof db, "m_twice");
    struct buyt_migrate_result r;
    cr_assert_eq(buyt_migrate_run(db, NULL, &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r.applied, count_migrations());
    cr_assert_eq(r.skipped, 0);

    PGconn *c = buyt_test_pg_connect(db);
    long long tables =
        buyt_test_sql_int(c, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'");
    long long applied_at = buyt_test_sql_int(
        c, "SELECT extract(epoch FROM max(applied_at))::bigint * 1000000 + "
           "extract(microseconds FROM max(applied_at))::bigint FROM schema_migrations");

    cr_assert_eq(buyt_migrate_run(db, NULL, &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r.applied, 0, "second run applied %d", r.applied);
    cr_assert_eq(r.skipped, count_migrations());
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
                 tables, "second run changed the schema");
    cr_assert_eq(buyt_test_sql_int(
                     c,
                     "SELECT extract(epoch FROM max(applied_at))::bigint * 1000000 + "
                     "extract(microseconds FROM max(applied_at))::bigint FROM schema_migrations"),
                 applied_at);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM schema_migrations"),
                 count_migrations());
    PQfinish(c);
}

Test(migrate, changed_applied_migration_is_an_error)
{
    char db[512], err[512];
    empty_db(db, sizeof db, "m_checksum");
    struct buyt_migration v1[] = {{"0001_t.sql", "CREATE TABLE t (a int);"}, {0, 0}};
    struct buyt_migration v2[] = {{"0001_t.sql", "CREATE TABLE t (a bigint);"}, {0, 0}};
    struct buyt_migrate_result r;
    cr_assert_eq(buyt_migrate_run(db, v1, &r, err, sizeof err), 0, "%s", err);
    int rc = buyt_migrate_run(db, v2, &r, err, sizeof err);
    cr_assert_lt(rc, 0);
    cr_assert(strstr(err, "0001_t.sql") && strstr(err, "checksum"), "message: %s", err);
}

Test(migrate, failing_migration_rolls_back_and_stops)
{
    char db[512], err[512];
    empty_db(db, sizeof db, "m_fail");
    struct buyt_migration list[] = {{"0001_ok.sql", "CREATE TABLE ok (a int);"},
                                    {"0002_bad.sql", "CREATE TABLE half (a int); SELEC oops;"},
                                    {"0003_never.sql", "CREATE TABLE never (a int);"},
                                    {0, 0}};
    struct buyt_migrate_result r;
    cr_assert_lt(buyt_migrate_run(db, list, &r, err, sizeof err), 0);
    cr_assert(strstr(err, "0002_bad.sql"), "message: %s", err);
    cr_assert_eq(r.applied, 1);
    PGconn *c = buyt_test_pg_connect(db);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM pg_tables WHERE tablename = 'half'"), 0,
                 "the failed migration's first statement was not rolled back");
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM pg_tables WHERE tablename = 'never'"),
                 0);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM schema_migrations"), 1);
    PQfinish(c);
}

Test(migrate, cli_runs_twice_and_reports_bad_arguments)
{
    char db[512], cmd[1024], line[256];
    empty_db(db, sizeof db, "m_cli");
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "%s/buyt-migrate --db '%s' 2>&1", BUYT_BIN_DIR, db);
        FILE *p = popen(cmd, "r");
        cr_assert(fgets(line, sizeof line, p));
        cr_assert_eq(pclose(p), 0, "run %d: %s", i, line);
        char want[64];
        snprintf(want, sizeof want, "%d applied", i == 0 ? count_migrations() : 0);
        cr_assert(strstr(line, want), "run %d said: %s", i, line);
    }
    snprintf(cmd, sizeof cmd, "%s/buyt-migrate --bogus 2>&1", BUYT_BIN_DIR);
    FILE *p = popen(cmd, "r");
    cr_assert(fgets(line, sizeof line, p));
    cr_assert_neq(pclose(p), 0);
    cr_assert(strstr(line, "--bogus"), "%s", line);
}

Test(migrate, fixes_partitions_are_created_ahead_and_on_demand)
{
    char db[512];
    buyt_test_fresh_db(db, sizeof db);
    PGconn *c = buyt_test_pg_connect(db);
    /* The migration made yesterday .. today+7 (UTC). */
    cr_assert_geq(buyt_test_sql_int(
                      c, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'fixes'::regclass"),
                  9);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT buyt_fix_partitions_ahead('2031-01-30', 3)"), 3);
    cr_assert_eq(buyt_test_sql_int(c, "SELECT buyt_fix_partitions_ahead('2031-01-30', 3)"), 0);
    buyt_test_sql_exec(c, "INSERT INTO fixes VALUES ('2031-01-31 23:59:59.999+00', 1, 1, 1, 0, 0)");
    cr_assert_eq(buyt_test_sql_int(c, "SELECT count(*) FROM fixes_20310131"), 1);
    PQfinish(c);
}
