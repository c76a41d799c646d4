/* Schema migrations: sql/migrations/NNNN_name.sql, embedded at build time, applied in name
 * order, each in its own transaction, recorded in `schema_migrations` with a SHA-256 of its
 * text. Idempotent: an applied migration is skipped; one whose text changed is an error. */
#ifndef BUYT_MIGRATE_H
#define BUYT_MIGRATE_H

#include <stddef.h>

struct buyt_migration {
    const char *name; /* file name, e.g. "0001_core.sql" */
    const char *sql;  /* its text */
};

/** The embedded migrations, ending with {NULL, NULL}. */
extern const struct buyt_migration buyt_migrations[];

struct buyt_migrate_result {
    int applied; /* migrations applied by this run */
    int skipped; /* already applied, checksum equal */
};

/** Applies `list` (NULL: the embedded migrations) to the database at `conninfo` (a libpq
 *  connection string or URI). Serialised with other runners by an advisory lock. On failure
 *  returns a negative code and writes a one-line reason (with the migration's name) to err;
 *  migrations before the failing one stay applied, the failing one is rolled back. */
int buyt_migrate_run(const char *conninfo, const struct buyt_migration *list,
                     struct buyt_migrate_result *res, char *err, size_t errlen);

/** Hex SHA-256 of `sql` into out (65 bytes). */
void buyt_migrate_checksum(const char *sql, char out[65]);

#endif
