/* Migration runner; see migrate.h. Synchronous libpq: it runs before any loop exists. */
#include "migrate.h"

#include "error.h"

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Any fixed key works: it only has to be the same for every runner of this project. */
#define MIGRATE_LOCK_KEY "4242000001"

void buyt_migrate_checksum(const char *sql, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(sql, strlen(sql), md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < n && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[64] = '\0';
}

static void seterr(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    /* libpq messages end with a newline; the reason is one line. */
    for (char *p = err; *p; p++)
        if (*p == '\n')
            *p = ' ';
}

/* Runs a command that returns no rows; on failure fills err and returns BUYT_EDB. */
static int exec_ok(PGconn *c, const char *sql, const char *what, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        seterr(err, errlen, "%s: %s", what, PQerrorMessage(c));
    PQclear(r);
    return ok ? 0 : BUYT_EDB;
}

/* Looks up an applied migration: 1 and its checksum if applied, 0 if not, <0 on error. */
static int applied_checksum(PGconn *c, const char *name, char sum[65], char *err, size_t errlen)
{
    const char *params[1] = {name};
    PGresult *r = PQexecParams(c, "SELECT checksum FROM schema_migrations WHERE name = $1", 1,
                               NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        seterr(err, errlen, "reading schema_migrations: %s", PQerrorMessage(c));
        PQclear(r);
        return BUYT_EDB;
    }
    int found = PQntuples(r) == 1;
    if (found)
        snprintf(sum, 65, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return found;
}

static int apply_one(PGconn *c, const struct buyt_migration *m, const char *sum, char *err,
                     size_t errlen)
{
    char what[160];
    snprintf(what, sizeof what, "migration %s", m->name);
    if (exec_ok(c, "BEGIN", what, err, errlen))
        return BUYT_EDB;
    if (exec_ok(c, m->sql, what, err, errlen)) {
        PQclear(PQexec(c, "ROLLBACK"));
        return BUYT_EDB;
    }
    const char *params[2] = {m->name, sum};
    PGresult *r = PQexecParams(c,
                               "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)",
                               2, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        seterr(err, errlen, "recording %s: %s", m->name, PQerrorMessage(c));
    PQclear(r);
    if (!ok) {
        PQclear(PQexec(c, "ROLLBACK"));
        return BUYT_EDB;
    }
    return exec_ok(c, "COMMIT", what, err, errlen);
}

static int run_list(PGconn *c, const struct buyt_migration *list, struct buyt_migrate_result *res,
                    char *err, size_t errlen)
{
    int rc = exec_ok(c,
                     "CREATE TABLE IF NOT EXISTS schema_migrations ("
                     " name text PRIMARY KEY,"
                     " checksum text NOT NULL,"
                     " applied_at timestamptz NOT NULL DEFAULT now())",
                     "creating schema_migrations", err, errlen);
    for (const struct buyt_migration *m = list; !rc && m->name; m++) {
        char want[65], have[65];
        buyt_migrate_checksum(m->sql, want);
        int found = applied_checksum(c, m->name, have, err, errlen);
        if (found < 0)
            return found;
        if (found && strcmp(have, want)) {
            seterr(err, errlen,
                   "migration %s was applied with checksum %.12s but the file now has %.12s: "
                   "applied migrations must not change; add a new one",
                   m->name, have, want);
            return BUYT_ECHECKSUM;
        }
        if (found) {
            res->skipped++;
            continue;
        }
        rc = apply_one(c, m, want, err, errlen);
        if (!rc)
            res->applied++;
    }
    return rc;
}

int buyt_migrate_run(const char *conninfo, const struct buyt_migration *list,
                     struct buyt_migrate_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    err[0] = '\0';
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        seterr(err, errlen, "connecting: %s", PQerrorMessage(c));
        PQfinish(c);
        return BUYT_EDB;
    }
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    int rc = exec_ok(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", "taking the lock", err,
                     errlen);
    if (!rc) {
        rc = run_list(c, list ? list : buyt_migrations, res, err, errlen);
        PQclear(PQexec(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")"));
    }
    PQfinish(c);
    return rc;
}
