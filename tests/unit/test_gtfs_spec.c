/* The GTFS reference as data (ingest/gtfs_spec.c): the invariants the importer relies on. */
#include "gtfs_spec.h"

#include <criterion/criterion.h>
#include <string.h>

Test(gtfs_spec, every_key_is_a_required_field_of_its_file)
{
    for (int i = 0; i < BUYT_GTFS_FILES; i++) {
        const struct buyt_gtfs_file *f = &buyt_gtfs_files[i];
        cr_assert_not_null(f->name, "file %d", i);
        cr_assert_leq(f->nfields, 16, "%s: more fields than the importer maps", f->name);
        for (int k = 0; k < 2 && f->key[k]; k++) {
            const struct buyt_gtfs_field *fd = buyt_gtfs_spec_field(f, f->key[k]);
            cr_assert_not_null(fd, "%s: key %s is not a field", f->name, f->key[k]);
            /* agency_id may be blank with one agency: stored as '' (its default). */
            cr_assert(fd->flags & BUYT_GTFS_REQUIRED || fd->dflt, "%s.%s", f->name, fd->name);
        }
        cr_assert(f->table || !f->key[0], "%s", f->name);
        /* n_X for gtfs_X: the rules in buyt_gtfs_checks name them */
        if (f->table)
            cr_assert(f->typed && !strcmp(f->typed + 2, f->table + 5), "%s", f->name);
    }
}

Test(gtfs_spec, field_names_are_unique_and_plain_identifiers)
{
    for (int i = 0; i < BUYT_GTFS_FILES; i++) {
        const struct buyt_gtfs_file *f = &buyt_gtfs_files[i];
        for (size_t a = 0; a < f->nfields; a++) {
            const char *n = f->fields[a].name;
            /* generated SQL uses the names unquoted */
            cr_assert_eq(strspn(n, "abcdefghijklmnopqrstuvwxyz_"), strlen(n), "%s", n);
            for (size_t b = 0; b < a; b++)
                cr_assert_str_neq(n, f->fields[b].name, "%s", f->name);
            if (f->fields[a].kind == BUYT_GTFS_INT || f->fields[a].kind == BUYT_GTFS_FLOAT)
                cr_assert_leq(f->fields[a].lo, f->fields[a].hi, "%s", n);
        }
    }
}

Test(gtfs_spec, the_required_files_are_those_of_the_reference)
{
    cr_assert(buyt_gtfs_files[BUYT_GTFS_AGENCY].required);
    cr_assert(buyt_gtfs_files[BUYT_GTFS_ROUTES].required);
    cr_assert(buyt_gtfs_files[BUYT_GTFS_STOPS].required);
    cr_assert(buyt_gtfs_files[BUYT_GTFS_TRIPS].required);
    cr_assert(buyt_gtfs_files[BUYT_GTFS_STOP_TIMES].required);
    cr_assert(!buyt_gtfs_files[BUYT_GTFS_SHAPES].required);
    cr_assert(!buyt_gtfs_files[BUYT_GTFS_CALENDAR].required); /* one of the two calendars */
    cr_assert(!buyt_gtfs_files[BUYT_GTFS_CALENDAR_DATES].required);
    cr_assert(!buyt_gtfs_files[BUYT_GTFS_FREQUENCIES].required);
}

Test(gtfs_spec, checks_name_a_column_of_their_file_and_return_a_line)
{
    int n = 0;
    for (const struct buyt_gtfs_check *c = buyt_gtfs_checks; c->sql; c++, n++) {
        const struct buyt_gtfs_file *f = &buyt_gtfs_files[c->file];
        cr_assert_not_null(buyt_gtfs_spec_field(f, c->column), "%s has no %s", f->name, c->column);
        cr_assert(!strncmp(c->sql, "SELECT ", 7) && strstr(c->sql, "n + 1, "), "%s", c->sql);
        cr_assert_not_null(strstr(c->sql, f->typed), "%s: %s", f->name, c->sql);
        cr_assert_not_null(strstr(c->sql, "LIMIT 1"), "%s", c->sql);
        cr_assert_not_null(c->msg);
    }
    cr_assert_gt(n, 10);
}
