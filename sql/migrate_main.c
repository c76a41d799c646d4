/* buyt-migrate: applies the embedded schema migrations to a database. */
#include "migrate.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: buyt-migrate --db CONNINFO [--list]\n"
               "  --db CONNINFO  libpq connection string or URI (postgresql://...)\n"
               "  --list         print the embedded migrations and exit\n"
               "Applies sql/migrations/*.sql in order, each in a transaction, recorded in\n"
               "schema_migrations. Running it again changes nothing.\n");
}

int main(int argc, char **argv)
{
    const char *db = NULL;
    int list = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--db") && i + 1 < argc) {
            db = argv[++i];
        } else if (!strcmp(argv[i], "--list")) {
            list = 1;
        } else {
            fprintf(stderr, "buyt-migrate: unknown or incomplete argument '%s' (try --help)\n",
                    argv[i]);
            return 2;
        }
    }
    if (list) {
        for (const struct buyt_migration *m = buyt_migrations; m->name; m++) {
            char sum[65];
            buyt_migrate_checksum(m->sql, sum);
            printf("%s %s\n", m->name, sum);
        }
        return 0;
    }
    if (!db) {
        fprintf(stderr, "buyt-migrate: --db CONNINFO is required (try --help)\n");
        return 2;
    }
    struct buyt_migrate_result res;
    char err[1024];
    if (buyt_migrate_run(db, NULL, &res, err, sizeof err)) {
        fprintf(stderr, "buyt-migrate: %s\n", err);
        return 1;
    }
    printf("buyt-migrate: %d applied, %d already applied\n", res.applied, res.skipped);
    return 0;
}
