/* GTFS import; see gtfs_import.h. One transaction per import:
 *
 *   lock -> stage every file: COPY csv into a temporary text table s_X (n = line - 1,
 *   c0..cN by header position) -> convert: INSERT ... SELECT into a temporary typed table
 *   n_X (the columns of gtfs_X, plus n), strict, then a unique index on the key; only when
 *   that fails, one scan of s_X finds the first bad line -> ANALYZE -> cross-row rules on
 *   the n_X tables (gtfs_spec.c) -> derived shapes -> time zone and operator code -> apply:
 *   per table, DELETE gone keys, UPDATE changed rows, INSERT new keys -> gtfs_feed row,
 *   NOTIFY buyt_gtfs -> ANALYZE -> COMMIT.
 *
 * Nothing outside temporary tables is written before every check has passed, and a failure
 * anywhere rolls everything back.
 * Every identifier in generated SQL is ours (table names from gtfs_spec.c, columns c0..cN);
 * values from the feed only ever travel as COPY data or as query parameters.
 * Line numbers: staging rows are numbered by an identity column in COPY order, so a row's
 * line is n + 1 (the header is line 1) -- the same count PostgreSQL's COPY errors use (it
 * counts CSV records: a quoted field holding a line break does not add a line). */
#include "gtfs_import.h"

#include "error.h"
#include "gtfs_source.h"
#include "gtfs_spec.h"
#include "log.h"

#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MOD "gtfs"
#define LOCK_KEY "4242000002" /* pg_advisory_xact_lock key serialising imports */
#define CHUNK (256 * 1024)    /* bytes per COPY message */
#define FIELDS_MAX 16         /* most fields of one file in gtfs_spec.c */
#define VALUE_SHOWN 60        /* bytes of an offending value quoted in an error */

struct staged {
    bool present;
    struct buyt_gtfs_header hdr;
    int col[FIELDS_MAX]; /* field index -> header column, or -1 */
    long rows;
};

struct imp {
    const struct buyt_gtfs_options *opt;
    PGconn *pg;
    struct buyt_gtfs_source *src;
    struct staged st[BUYT_GTFS_FILES];
    struct buyt_gtfs_result res;
    char feed_tz[64];
    char *err;
    size_t errlen;
    bool err_set;
};

/* ------------------------------------------------------------------ small helpers */

struct sb {
    char *s;
    size_t len, cap;
    bool oom;
};

static void sb_add(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sb *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap <= b->len + (size_t)n)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

static void sb_free(struct sb *b)
{
    free(b->s);
    *b = (struct sb){0};
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Records the first error only: later failures are consequences. One line. */
static int fail(struct imp *im, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct imp *im, int code, const char *fmt, ...)
{
    if (!im->err_set && im->err && im->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(im->err, im->errlen, fmt, ap);
        va_end(ap);
        for (char *p = im->err; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        size_t n = strlen(im->err);
        while (n > 0 && im->err[n - 1] == ' ')
            im->err[--n] = '\0';
        im->err_set = true;
    }
    return code;
}

/* Copies a feed value for an error message: at most VALUE_SHOWN bytes (not cutting a UTF-8
 * sequence), control characters as '?', quotes as '\''. */
static void shown(const char *v, char out[VALUE_SHOWN + 4])
{
    size_t n = strlen(v);
    bool cut = n > VALUE_SHOWN;
    if (cut) {
        n = VALUE_SHOWN;
        while (n > 0 && ((unsigned char)v[n] & 0xC0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        out[i] = c < 0x20 || c == 0x7F ? '?' : c == '"' ? '\'' : (char)c;
    }
    if (cut)
        memcpy(out + n, "...", 3), n += 3;
    out[n] = '\0';
}

static const char *pg_msg(const PGresult *r, PGconn *c)
{
    const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    return m ? m : PQerrorMessage(c);
}

/* Runs a statement without parameters; on failure records "what: message". */
static int exec_cmd(struct imp *im, const char *sql, const char *what)
{
    PGresult *r = PQexec(im->pg, sql);
    ExecStatusType s = PQresultStatus(r);
    int rc = 0;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        rc = fail(im, BUYT_EDB, "%s: %s", what, pg_msg(r, im->pg));
    PQclear(r);
    return rc;
}

/* Runs a query; on success *out holds the result (caller PQclear()s it). */
static int query(struct imp *im, const char *sql, int nparams, const char *const *params,
                 const char *what, PGresult **out)
{
    PGresult *r = PQexecParams(im->pg, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        int rc = fail(im, BUYT_EDB, "%s: %s", what, pg_msg(r, im->pg));
        PQclear(r);
        *out = NULL;
        return rc;
    }
    *out = r;
    return 0;
}

/* ------------------------------------------------------------------ SQL fragments */

static const char *stage_col(const struct staged *s, size_t field, char buf[16])
{
    if (s->col[field] < 0)
        return "NULL::text";
    snprintf(buf, 16, "c%d", s->col[field]);
    return buf;
}

/* The typed value of field f held in text column `c`. Strict about syntax: text that is not
 * blank and cannot be converted raises an error (a failing cast, or pg_temp.buyt_gtfs_bad()
 * created by the import), so the INSERT of a good feed needs no separate validation scan;
 * ranges are checked after, on the typed values (out_of_range()). When either fails,
 * check_values() finds the line. Blank is NULL (or the field's default); NOT NULL columns
 * refuse blank required values. Each conversion runs once per value: they are most of an
 * import's CPU time. */
static void sql_value(struct sb *b, const struct buyt_gtfs_field *f, const char *c)
{
    if (f->dflt)
        sb_add(b, "coalesce(");
    switch (f->kind) {
    case BUYT_GTFS_TEXT: sb_add(b, "nullif(btrim(%s), '')", c); break;
    case BUYT_GTFS_INT: sb_add(b, "nullif(btrim(%s), '')::integer", c); break;
    case BUYT_GTFS_FLOAT:
        /* strtod() under float8in would also read hexadecimal ("0x1A") */
        sb_add(b,
               "CASE WHEN coalesce(btrim(%s), '') = '' THEN NULL WHEN strpos(%s, 'x') + "
               "strpos(%s, 'X') = 0 THEN btrim(%s)::double precision "
               "ELSE pg_temp.buyt_gtfs_bad(%s, NULL::double precision) END",
               c, c, c, c, c);
        break;
    case BUYT_GTFS_TIME:
    case BUYT_GTFS_DATE:
        sb_add(b,
               "coalesce(buyt_gtfs_%s(%s), CASE WHEN coalesce(btrim(%s), '') = '' THEN NULL "
               "ELSE pg_temp.buyt_gtfs_bad(%s, NULL::%s) END)",
               f->kind == BUYT_GTFS_TIME ? "time" : "date", c, c, c,
               f->kind == BUYT_GTFS_TIME ? "integer" : "date");
        break;
    case BUYT_GTFS_COLOR:
        sb_add(b,
               "CASE WHEN coalesce(btrim(%s), '') = '' THEN NULL WHEN %s ~ '^ *[0-9A-Fa-f]{6} *$' "
               "THEN upper(btrim(%s)) ELSE pg_temp.buyt_gtfs_bad(%s, NULL::text) END",
               c, c, c, c);
        break;
    case BUYT_GTFS_BOOL:
        sb_add(b,
               "CASE WHEN coalesce(btrim(%s), '') = '' THEN NULL WHEN btrim(%s) = '1' THEN true "
               "WHEN btrim(%s) = '0' THEN false ELSE pg_temp.buyt_gtfs_bad(%s, NULL::boolean) END",
               c, c, c, c);
        break;
    }
    if (f->dflt)
        sb_add(b, ", %s)", f->dflt);
}

/* SQL true when typed column `name` of n_X holds a value outside f's range (NaN and
 * Infinity included: they are outside every range); NULL or false otherwise. */
static bool sql_out_of_range(struct sb *b, const struct buyt_gtfs_field *f, const char *name)
{
    if (f->kind != BUYT_GTFS_INT && f->kind != BUYT_GTFS_FLOAT)
        return false;
    sb_add(b, "NOT (%s BETWEEN %.17g AND %.17g)", name, f->lo, f->hi);
    return true;
}

/* True when the text of a non-blank value of f is acceptable. Conversions sit behind a
 * CASE so they only run on text that matched the pattern. */
static void sql_valid(struct sb *b, const struct buyt_gtfs_field *f, const char *c)
{
    switch (f->kind) {
    case BUYT_GTFS_TEXT: sb_add(b, "true"); break;
    case BUYT_GTFS_INT:
        sb_add(b,
               "CASE WHEN %s ~ '^\\s*[+-]?[0-9]{1,10}\\s*$' THEN btrim(%s)::bigint BETWEEN %.0f "
               "AND %.0f ELSE false END",
               c, c, f->lo, f->hi);
        break;
    case BUYT_GTFS_FLOAT:
        sb_add(b,
               "CASE WHEN %s ~ '^\\s*[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]{1,2})?\\s*$' "
               "THEN btrim(%s)::double precision BETWEEN %.17g AND %.17g ELSE false END",
               c, c, f->lo, f->hi);
        break;
    case BUYT_GTFS_TIME: sb_add(b, "buyt_gtfs_time(%s) IS NOT NULL", c); break;
    case BUYT_GTFS_DATE: sb_add(b, "buyt_gtfs_date(%s) IS NOT NULL", c); break;
    case BUYT_GTFS_COLOR: sb_add(b, "%s ~ '^ *[0-9A-Fa-f]{6} *$'", c); break;
    case BUYT_GTFS_BOOL: sb_add(b, "%s ~ '^ *[01] *$'", c); break;
    }
}

/* True when column c holds a bad value for f: blank where required, or unparsable. */
static void sql_bad(struct sb *b, const struct buyt_gtfs_field *f, const char *c)
{
    if (f->flags & BUYT_GTFS_REQUIRED)
        sb_add(b, "(coalesce(btrim(%s), '') = '' OR NOT coalesce(", c);
    else
        sb_add(b, "(coalesce(btrim(%s), '') <> '' AND NOT coalesce(", c);
    sql_valid(b, f, c);
    sb_add(b, ", false))");
}

static bool needs_check(const struct buyt_gtfs_field *f)
{
    return (f->flags & BUYT_GTFS_REQUIRED) || f->kind != BUYT_GTFS_TEXT;
}

/* ------------------------------------------------------------------ staging */

/* Maps "COPY s_x, line 12, column c3: ..." (the CONTEXT of a COPY error) to a line and a
 * header column; *col is -1 when the context names none. */
static void copy_context(const char *ctx, long *line, int *col)
{
    *line = 0;
    *col = -1;
    const char *p = ctx ? strstr(ctx, ", line ") : NULL;
    if (!p)
        return;
    *line = strtol(p + 7, NULL, 10);
    const char *q = strstr(p, ", column c");
    const char *colon = strchr(p, ':');
    if (q && colon && q < colon)
        *col = (int)strtol(q + 10, NULL, 10);
}

/* Sends `n` bytes of file data, holding back a trailing run of line breaks (kept in
 * hold/held) so blank lines at the end of a file are dropped: PostgreSQL would read each as
 * a row of one empty column. */
static int copy_put(struct imp *im, const char *buf, size_t n, char *hold, size_t *held,
                    size_t hold_cap)
{
    size_t keep = n;
    while (keep > 0 && (buf[keep - 1] == '\n' || buf[keep - 1] == '\r'))
        keep--;
    if (keep > 0 && *held > 0) { /* the held breaks were inside the data after all */
        if (PQputCopyData(im->pg, hold, (int)*held) != 1)
            return BUYT_EDB;
        *held = 0;
    }
    if (keep > 0 && PQputCopyData(im->pg, buf, (int)keep) != 1)
        return BUYT_EDB;
    for (size_t i = keep; i < n; i++) {
        if (*held == hold_cap) { /* a long run of blank lines: a data error anyway */
            if (PQputCopyData(im->pg, hold, (int)*held) != 1)
                return BUYT_EDB;
            *held = 0;
        }
        hold[(*held)++] = buf[i];
    }
    return 0;
}

/* Reads the first chunk (which must hold the header line) into buf; returns its length. */
static int read_head(struct imp *im, const char *name, struct buyt_gtfs_member *m, char *buf,
                     size_t cap, size_t *len, size_t *hdr_len)
{
    *len = 0;
    while (*len < cap) {
        ssize_t r = buyt_gtfs_member_read(m, buf + *len, cap - *len);
        if (r < 0)
            return fail(im, BUYT_EIO, "%s: read error", name);
        if (r == 0)
            break;
        *len += (size_t)r;
        if (memchr(buf, '\n', *len))
            break;
    }
    char *nl = memchr(buf, '\n', *len);
    if (!nl && *len == cap)
        return fail(im, BUYT_EINVAL, "%s:1: header line longer than %zu bytes", name, cap);
    *hdr_len = nl ? (size_t)(nl - buf) : *len;
    return 0;
}

static int stage_file(struct imp *im, enum buyt_gtfs_file_id id)
{
    const struct buyt_gtfs_file *f = &buyt_gtfs_files[id];
    struct staged *s = &im->st[id];
    long t0 = now_ms();
    struct buyt_gtfs_member *m = NULL;
    char ebuf[256] = "";
    int rc = buyt_gtfs_member_open(im->src, f->name, &m, ebuf, sizeof ebuf);
    if (rc == -ENOENT)
        return 0; /* presence of required files was checked before */
    if (rc)
        return fail(im, rc, "%s", ebuf);
    s->present = true;

    char *buf = malloc(CHUNK);
    char hold[4096];
    size_t held = 0;
    struct sb sql = {0};
    if (!buf) {
        buyt_gtfs_member_close(m);
        return fail(im, BUYT_ENOMEM, "out of memory");
    }
    size_t len = 0, hdr_len = 0;
    rc = read_head(im, f->name, m, buf, CHUNK, &len, &hdr_len);
    if (rc)
        goto out;
    if (len == 0) {
        rc = fail(im, BUYT_EINVAL, "%s:1: empty file (no header line)", f->name);
        goto out;
    }
    const char *why = NULL;
    int dup = -1;
    if (buyt_gtfs_header_parse(buf, hdr_len, &s->hdr, &why, &dup)) {
        if (dup >= 0)
            rc = fail(im, BUYT_EINVAL, "%s:1: column %s: appears twice in the header", f->name,
                      s->hdr.names[dup]);
        else
            rc = fail(im, BUYT_EINVAL, "%s:1: bad header: %s", f->name, why);
        goto out;
    }
    for (size_t i = 0; i < f->nfields; i++) {
        s->col[i] = -1;
        for (size_t c = 0; c < s->hdr.n; c++)
            if (!strcmp(s->hdr.names[c], f->fields[i].name))
                s->col[i] = (int)c;
        if (s->col[i] < 0 && (f->fields[i].flags & (BUYT_GTFS_REQUIRED | BUYT_GTFS_COLUMN))) {
            rc = fail(im, BUYT_EINVAL, "%s:1: missing required column %s", f->name,
                      f->fields[i].name);
            goto out;
        }
    }

    sb_add(&sql, "CREATE TEMP TABLE %s (n bigint GENERATED ALWAYS AS IDENTITY", f->stage);
    for (size_t c = 0; c < s->hdr.n; c++)
        sb_add(&sql, ", c%zu text", c);
    sb_add(&sql, ") ON COMMIT DROP");
    if (sql.oom) {
        rc = fail(im, BUYT_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = exec_cmd(im, sql.s, f->name)))
        goto out;
    sql.len = 0;
    sb_add(&sql, "COPY %s (", f->stage);
    for (size_t c = 0; c < s->hdr.n; c++)
        sb_add(&sql, "%sc%zu", c ? ", " : "", c);
    sb_add(&sql, ") FROM STDIN WITH (FORMAT csv, HEADER true)");
    if (sql.oom) {
        rc = fail(im, BUYT_ENOMEM, "out of memory");
        goto out;
    }
    PGresult *r = PQexec(im->pg, sql.s);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        rc = fail(im, BUYT_EDB, "%s: %s", f->name, pg_msg(r, im->pg));
        PQclear(r);
        goto out;
    }
    PQclear(r);

    /* The data, BOM stripped (the header parser skipped it too). */
    size_t off = (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) ? 3 : 0;
    int io = copy_put(im, buf + off, len - off, hold, &held, sizeof hold);
    while (!io) {
        ssize_t n = buyt_gtfs_member_read(m, buf, CHUNK);
        if (n < 0) {
            io = BUYT_EIO;
            break;
        }
        if (n == 0)
            break;
        io = copy_put(im, buf, (size_t)n, hold, &held, sizeof hold);
    }
    if (PQputCopyEnd(im->pg, io == BUYT_EIO ? "read error" : NULL) != 1)
        io = io ? io : BUYT_EDB;
    r = PQgetResult(im->pg);
    if (io == BUYT_EIO) {
        rc = fail(im, BUYT_EIO, "%s: read error", f->name);
    } else if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        long line;
        int col;
        copy_context(PQresultErrorField(r, PG_DIAG_CONTEXT), &line, &col);
        if (line > 0 && col >= 0 && (size_t)col < s->hdr.n)
            rc = fail(im, BUYT_EINVAL, "%s:%ld: column %s: %s", f->name, line, s->hdr.names[col],
                      pg_msg(r, im->pg));
        else if (line > 0)
            rc = fail(im, BUYT_EINVAL, "%s:%ld: %s", f->name, line, pg_msg(r, im->pg));
        else
            rc = fail(im, BUYT_EDB, "%s: %s", f->name, pg_msg(r, im->pg));
    } else {
        s->rows = strtol(PQcmdTuples(r), NULL, 10);
    }
    PQclear(r);
    while ((r = PQgetResult(im->pg)) != NULL)
        PQclear(r);
    if (!rc)
        BUYT_INFO(MOD, "staged file=%s rows=%ld columns=%zu ms=%ld", f->name, s->rows, s->hdr.n,
                  now_ms() - t0);
out:
    sb_free(&sql);
    free(buf);
    buyt_gtfs_member_close(m);
    return rc;
}

/* ------------------------------------------------------------------ value checks */

static int value_error(struct imp *im, const struct buyt_gtfs_file *f,
                       const struct buyt_gtfs_field *fd, long line, const char *v)
{
    char val[VALUE_SHOWN + 4];
    shown(v ? v : "", val);
    bool blank = true;
    for (const char *p = v; p && *p; p++)
        if (*p != ' ')
            blank = false;
    if (blank)
        return fail(im, BUYT_EINVAL, "%s:%ld: column %s: missing value", f->name, line, fd->name);
    const char *pre = "bad value";
    char expect[96];
    switch (fd->kind) {
    case BUYT_GTFS_INT:
        if (fd->hi >= 2147483647.0)
            snprintf(expect, sizeof expect, "an integer >= %.0f", fd->lo);
        else
            snprintf(expect, sizeof expect, "an integer %.0f..%.0f", fd->lo, fd->hi);
        break;
    case BUYT_GTFS_FLOAT:
        if (fd->hi >= 1e300)
            snprintf(expect, sizeof expect, "a number >= %g", fd->lo);
        else
            snprintf(expect, sizeof expect, "a number %g..%g", fd->lo, fd->hi);
        break;
    case BUYT_GTFS_TIME: {
        int32_t secs;
        const char *why = "expected H:MM:SS";
        buyt_gtfs_time_parse(v, &secs, &why);
        pre = "bad time";
        snprintf(expect, sizeof expect, "%s", why);
        break;
    }
    case BUYT_GTFS_DATE:
        pre = "bad date";
        snprintf(expect, sizeof expect, "expected YYYYMMDD");
        break;
    case BUYT_GTFS_COLOR:
        pre = "bad color";
        snprintf(expect, sizeof expect, "expected six hex digits");
        break;
    case BUYT_GTFS_BOOL: snprintf(expect, sizeof expect, "expected 0 or 1"); break;
    case BUYT_GTFS_TEXT: snprintf(expect, sizeof expect, "unexpected"); break;
    }
    bool expected = fd->kind == BUYT_GTFS_INT || fd->kind == BUYT_GTFS_FLOAT;
    return fail(im, BUYT_EINVAL, "%s:%ld: column %s: %s \"%s\" (%s%s)", f->name, line, fd->name,
                pre, val, expected ? "expected " : "", expect);
}

/* One scan of the staging table: the first row (by line) holding any bad value. */
static int check_values(struct imp *im, enum buyt_gtfs_file_id id)
{
    const struct buyt_gtfs_file *f = &buyt_gtfs_files[id];
    const struct staged *s = &im->st[id];
    /* Checked fields in header order, so the leftmost bad column of a line is reported. */
    size_t order[FIELDS_MAX], n = 0;
    for (size_t c = 0; c < s->hdr.n; c++)
        for (size_t i = 0; i < f->nfields; i++)
            if (s->col[i] == (int)c && needs_check(&f->fields[i]))
                order[n++] = i;
    if (n == 0)
        return 0;
    struct sb sql = {0};
    char cb[16];
    sb_add(&sql, "SELECT n + 1");
    for (size_t k = 0; k < n; k++) {
        sb_add(&sql, ", ");
        sql_bad(&sql, &f->fields[order[k]], stage_col(s, order[k], cb));
        sb_add(&sql, ", %s", stage_col(s, order[k], cb));
    }
    sb_add(&sql, " FROM %s WHERE ", f->stage);
    for (size_t k = 0; k < n; k++) {
        sb_add(&sql, "%s", k ? " OR " : "");
        sql_bad(&sql, &f->fields[order[k]], stage_col(s, order[k], cb));
    }
    sb_add(&sql, " ORDER BY n LIMIT 1");
    if (sql.oom) {
        sb_free(&sql);
        return fail(im, BUYT_ENOMEM, "out of memory");
    }
    PGresult *r;
    int rc = query(im, sql.s, 0, NULL, f->name, &r);
    sb_free(&sql);
    if (rc)
        return rc;
    if (PQntuples(r) == 1) {
        long line = strtol(PQgetvalue(r, 0, 0), NULL, 10);
        size_t k = 0;
        while (k < n && strcmp(PQgetvalue(r, 0, 1 + 2 * (int)k), "t"))
            k++;
        if (k < n)
            rc = value_error(im, f, &f->fields[order[k]], line,
                             PQgetvalue(r, 0, 2 + 2 * (int)k)); /* "" when NULL */
        else
            rc = fail(im, BUYT_EINVAL, "%s:%ld: bad value", f->name, line);
    }
    PQclear(r);
    return rc;
}

/* ------------------------------------------------------------------ typed tables */

/* Runs `sql` inside a savepoint. Returns 0; or, if it failed, rolls back to the savepoint
 * (the transaction goes on), stores the failure's SQLSTATE and message, and returns 1. */
static int try_exec(struct imp *im, const char *sql, const char *what, char state[6], char *msg,
                    size_t msglen)
{
    int rc = exec_cmd(im, "SAVEPOINT try", what);
    if (rc)
        return rc;
    PGresult *r = PQexec(im->pg, sql);
    if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK) {
        PQclear(r);
        return exec_cmd(im, "RELEASE SAVEPOINT try", what);
    }
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    snprintf(state, 6, "%s", st ? st : "");
    snprintf(msg, msglen, "%s", pg_msg(r, im->pg));
    PQclear(r);
    rc = exec_cmd(im, "ROLLBACK TO SAVEPOINT try", what);
    return rc ? rc : 1;
}

/* The first row of n_X repeating an earlier row's key (after the unique index failed). */
static int duplicate_error(struct imp *im, enum buyt_gtfs_file_id id)
{
    const struct buyt_gtfs_file *f = &buyt_gtfs_files[id];
    char sql[512];
    const char *k1 = f->key[1] ? f->key[1] : "NULL";
    snprintf(sql, sizeof sql,
             "SELECT n + 1, first + 1, %s::text, %s::text FROM (SELECT n, %s, %s, min(n) OVER "
             "(PARTITION BY %s, %s) AS first FROM %s) x WHERE n <> first ORDER BY n LIMIT 1",
             f->key[0], k1, f->key[0], k1, f->key[0], k1, f->typed);
    PGresult *r;
    int rc = query(im, sql, 0, NULL, f->name, &r);
    if (rc)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return fail(im, BUYT_EINVAL, "%s: duplicate key", f->name);
    }
    char v0[VALUE_SHOWN + 4], v1[VALUE_SHOWN + 4];
    shown(PQgetvalue(r, 0, 2), v0);
    shown(PQgetvalue(r, 0, 3), v1);
    long line = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    long first = strtol(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    if (!f->key[1])
        return fail(im, BUYT_EINVAL, "%s:%ld: column %s: duplicate %s \"%s\" (first on line %ld)",
                    f->name, line, f->key[0], f->key[0], v0, first);
    return fail(im, BUYT_EINVAL,
                "%s:%ld: column %s: duplicate %s \"%s\" for %s \"%s\" (first on line %ld)", f->name,
                line, f->key[1], f->key[1], v1, f->key[0], v0, first);
}

/* s_X -> n_X: the typed rows of a file with their line, converted strictly, then unique by
 * the table's key. Made (empty) for absent files too, so the rules can join them. */
static int load_file(struct imp *im, enum buyt_gtfs_file_id id, long *rows)
{
    const struct buyt_gtfs_file *f = &buyt_gtfs_files[id];
    const struct staged *s = &im->st[id];
    long t0 = now_ms();
    *rows = 0;
    struct sb sql = {0};
    sb_add(&sql, "CREATE TEMP TABLE %s (n bigint, LIKE %s INCLUDING DEFAULTS) ON COMMIT DROP",
           f->typed, f->table);
    int rc = sql.oom ? fail(im, BUYT_ENOMEM, "out of memory") : exec_cmd(im, sql.s, f->name);
    char state[6], msg[512];
    if (!rc && s->present) {
        char cb[16];
        sql.len = 0;
        sb_add(&sql, "INSERT INTO %s (n", f->typed);
        for (size_t i = 0; i < f->nfields; i++)
            sb_add(&sql, ", %s", f->fields[i].name);
        sb_add(&sql, ") SELECT n");
        for (size_t i = 0; i < f->nfields; i++) {
            sb_add(&sql, ", ");
            sql_value(&sql, &f->fields[i], stage_col(s, i, cb));
        }
        sb_add(&sql, " FROM %s", f->stage);
        rc = sql.oom ? fail(im, BUYT_ENOMEM, "out of memory")
                     : try_exec(im, sql.s, f->name, state, msg, sizeof msg);
        if (rc == 0) { /* syntax is fine: now the ranges */
            sql.len = 0;
            sb_add(&sql, "SELECT n FROM %s WHERE false", f->typed);
            for (size_t i = 0; i < f->nfields; i++) {
                struct sb cond = {0};
                if (sql_out_of_range(&cond, &f->fields[i], f->fields[i].name))
                    sb_add(&sql, " OR %s", cond.s ? cond.s : "true");
                sb_free(&cond);
            }
            sb_add(&sql, " LIMIT 1");
            PGresult *r;
            rc = sql.oom ? fail(im, BUYT_ENOMEM, "out of memory")
                         : query(im, sql.s, 0, NULL, f->name, &r);
            if (!rc) {
                snprintf(msg, sizeof msg, "value out of range");
                rc = PQntuples(r) ? 1 : 0;
                PQclear(r);
            }
        }
        if (rc == 1) { /* say where: the first bad value by line */
            rc = check_values(im, id);
            if (!rc)
                rc = fail(im, BUYT_EINVAL, "%s: %s", f->name, msg);
        }
    }
    if (!rc) {
        sql.len = 0;
        sb_add(&sql, "CREATE UNIQUE INDEX ON %s (%s%s%s)", f->typed, f->key[0],
               f->key[1] ? ", " : "", f->key[1] ? f->key[1] : "");
        rc = sql.oom ? fail(im, BUYT_ENOMEM, "out of memory")
                     : try_exec(im, sql.s, f->name, state, msg, sizeof msg);
        if (rc == 1)
            rc = !strcmp(state, "23505") ? duplicate_error(im, id)
                                         : fail(im, BUYT_EDB, "%s: %s", f->name, msg);
    }
    sb_free(&sql);
    if (!rc && s->present) {
        *rows = s->rows;
        BUYT_INFO(MOD, "converted file=%s rows=%ld ms=%ld", f->name, *rows, now_ms() - t0);
    }
    return rc;
}

/* ------------------------------------------------------------------ cross-row rules */

static int run_checks(struct imp *im)
{
    for (const struct buyt_gtfs_check *c = buyt_gtfs_checks; c->sql; c++) {
        const struct buyt_gtfs_file *f = &buyt_gtfs_files[c->file];
        if (!im->st[c->file].present)
            continue;
        long t0 = now_ms();
        PGresult *r;
        int rc = query(im, c->sql, 0, NULL, f->name, &r);
        if (rc)
            return rc;
        BUYT_DEBUG(MOD, "checked file=%s column=%s ms=%ld", f->name, c->column, now_ms() - t0);
        if (PQntuples(r) == 0) {
            PQclear(r);
            continue;
        }
        long line = strtol(PQgetvalue(r, 0, 0), NULL, 10);
        char val[VALUE_SHOWN + 4], msg[512];
        shown(PQgetvalue(r, 0, 1), val);
        PQclear(r);
        size_t o = 0; /* msg with "{}" replaced by the value */
        for (const char *p = c->msg; *p && o + 1 < sizeof msg; p++) {
            if (p[0] == '{' && p[1] == '}') {
                o += (size_t)snprintf(msg + o, sizeof msg - o, "%s", val);
                if (o >= sizeof msg)
                    o = sizeof msg - 1;
                p++;
            } else {
                msg[o++] = *p;
            }
        }
        msg[o] = '\0';
        return fail(im, BUYT_EINVAL, "%s:%ld: column %s: %s", f->name, line, c->column, msg);
    }
    return 0;
}

/* Trips with fewer than two stop times cannot be served or matched: logged, not fatal. */
static int warn_short_trips(struct imp *im)
{
    PGresult *r;
    int rc = query(im,
                   "SELECT count(*), min(t.trip_id) FROM n_trips t LEFT JOIN (SELECT trip_id, "
                   "count(*) AS c FROM n_stop_times GROUP BY trip_id) s ON s.trip_id = t.trip_id "
                   "WHERE coalesce(s.c, 0) < 2",
                   0, NULL, "trips.txt", &r);
    if (rc)
        return rc;
    long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    if (n > 0) {
        char v[VALUE_SHOWN + 4];
        shown(PQgetvalue(r, 0, 1), v);
        BUYT_WARN(MOD,
                  "msg=\"trips with fewer than 2 stop times (no shape derived)\" "
                  "count=%ld example=\"%s\"",
                  n, v);
        im->res.warnings++;
    }
    PQclear(r);
    return 0;
}

/* A shape per distinct stop pattern of the trips without shape_id; see 0002_gtfs.sql and
 * buyt_gtfs_derived_shape_id() for the id. Points are the stops, numbered by the first
 * trip's stop_sequence; they have no line (n is NULL). */
static int derive_shapes(struct imp *im)
{
    static const char *const steps[] = {
        ("CREATE TEMP TABLE d_patterns ON COMMIT DROP AS "
         "SELECT st.trip_id, '" BUYT_GTFS_DERIVED_PREFIX "' || left(md5(string_agg("
         "octet_length(st.stop_id)::text || ':' || st.stop_id, ',' ORDER BY st.stop_sequence)),"
         " 16) AS shape_id FROM n_stop_times st JOIN n_trips t ON t.trip_id = st.trip_id "
         "WHERE t.shape_id IS NULL GROUP BY st.trip_id HAVING count(*) >= 2"),
        ("INSERT INTO n_shapes (shape_id, shape_pt_sequence, shape_pt_lat, shape_pt_lon, "
         "derived) SELECT p.shape_id, st.stop_sequence, s.stop_lat, s.stop_lon, true "
         "FROM (SELECT DISTINCT ON (shape_id) shape_id, trip_id FROM d_patterns "
         "ORDER BY shape_id, trip_id) p JOIN n_stop_times st ON st.trip_id = p.trip_id "
         "JOIN n_stops s ON s.stop_id = st.stop_id"),
        ("UPDATE n_trips t SET shape_id = p.shape_id FROM d_patterns p "
         "WHERE t.trip_id = p.trip_id"),
    };
    long t0 = now_ms();
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        char state[6], msg[512];
        int rc = try_exec(im, steps[i], "deriving shapes", state, msg, sizeof msg);
        if (rc == 1 && !strcmp(state, "23505"))
            return fail(im, BUYT_EINVAL,
                        "shapes.txt: column shape_id: a shape_id starting with \"%s\" collides "
                        "with a derived shape",
                        BUYT_GTFS_DERIVED_PREFIX);
        if (rc == 1)
            return fail(im, BUYT_EDB, "deriving shapes: %s", msg);
        if (rc)
            return rc;
    }
    PGresult *r;
    int rc = query(im,
                   "SELECT count(*), count(*) FILTER (WHERE derived), "
                   "(SELECT count(*) FROM n_shapes) FROM (SELECT shape_id, bool_or(derived) "
                   "AS derived FROM n_shapes GROUP BY shape_id) x",
                   0, NULL, "counting shapes", &r);
    if (rc)
        return rc;
    im->res.counts.shapes = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    im->res.counts.derived_shapes = strtol(PQgetvalue(r, 0, 1), NULL, 10);
    im->res.counts.shape_points = strtol(PQgetvalue(r, 0, 2), NULL, 10);
    PQclear(r);
    if (im->res.counts.derived_shapes)
        BUYT_INFO(MOD, "derived shapes=%ld ms=%ld", im->res.counts.derived_shapes, now_ms() - t0);
    return 0;
}

/* ------------------------------------------------------------------ zone, code, feed row */

static int zone_known(struct imp *im, const char *tz, bool *known)
{
    *known = false;
    if (!buyt_gtfs_timezone_plausible(tz))
        return 0;
    PGresult *r;
    const char *p[1] = {tz};
    int rc = query(im, "SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)", 1, p,
                   "checking the time zone", &r);
    if (rc)
        return rc;
    *known = !strcmp(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    return 0;
}

/* The feed's zone is the first agency's (by line); every agency must share it (GTFS:
 * agency.agency_timezone) unless --timezone replaces them all. */
static int resolve_timezone(struct imp *im)
{
    PGresult *r;
    int rc = query(im,
                   "WITH first AS (SELECT agency_timezone AS tz FROM n_agency ORDER BY n LIMIT 1) "
                   "SELECT (SELECT tz FROM first), n + 1, agency_timezone FROM n_agency "
                   "ORDER BY agency_timezone <> (SELECT tz FROM first) DESC, n LIMIT 1",
                   0, NULL, "agency.txt", &r);
    if (rc)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return fail(im, BUYT_EINVAL, "agency.txt: no agency");
    }
    snprintf(im->feed_tz, sizeof im->feed_tz, "%s", PQgetvalue(r, 0, 0));
    long line = strtol(PQgetvalue(r, 0, 1), NULL, 10);
    char tz[VALUE_SHOWN + 4], first[VALUE_SHOWN + 4];
    shown(PQgetvalue(r, 0, 2), tz);
    shown(PQgetvalue(r, 0, 0), first);
    bool differs = strcmp(PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 2)) != 0;
    PQclear(r);
    if (im->opt->timezone) {
        snprintf(im->res.timezone, sizeof im->res.timezone, "%s", im->opt->timezone);
        if (strcmp(im->feed_tz, im->opt->timezone) || differs)
            BUYT_WARN(MOD, "msg=\"agency_timezone overridden\" feed=\"%s\" timezone=\"%s\"", first,
                      im->opt->timezone);
        const char *p[1] = {im->opt->timezone};
        rc = query(im, "UPDATE n_agency SET agency_timezone = $1", 1, p, "agency.txt", &r);
        PQclear(r);
        return rc;
    }
    if (differs)
        return fail(im, BUYT_EINVAL,
                    "agency.txt:%ld: column agency_timezone: \"%s\" differs from \"%s\" (all "
                    "agencies must share one time zone; or use --timezone)",
                    line, tz, first);
    bool known;
    if ((rc = zone_known(im, im->feed_tz, &known)))
        return rc;
    if (!known)
        return fail(im, BUYT_EINVAL,
                    "agency.txt:%ld: column agency_timezone: unknown time zone \"%s\" (use "
                    "--timezone)",
                    line, first);
    snprintf(im->res.timezone, sizeof im->res.timezone, "%s", im->feed_tz);
    return 0;
}

static int resolve_agency_code(struct imp *im)
{
    if (im->opt->agency) {
        snprintf(im->res.agency, sizeof im->res.agency, "%s", im->opt->agency);
        return 0;
    }
    PGresult *r;
    int rc = query(im, "SELECT agency FROM gtfs_feed ORDER BY version DESC LIMIT 1", 0, NULL,
                   "reading gtfs_feed", &r);
    if (rc)
        return rc;
    if (PQntuples(r) == 1 && buyt_gtfs_agency_code_valid(PQgetvalue(r, 0, 0))) {
        snprintf(im->res.agency, sizeof im->res.agency, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
        BUYT_INFO(MOD, "agency code=%s (kept from the previous import)", im->res.agency);
        return 0;
    }
    PQclear(r);
    rc = query(im, "SELECT agency_id, agency_name FROM n_agency ORDER BY n LIMIT 1", 0, NULL,
               "agency.txt", &r);
    if (rc)
        return rc;
    buyt_gtfs_agency_code_derive(PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), im->res.agency);
    PQclear(r);
    BUYT_INFO(MOD, "agency code=%s (derived from agency.txt; set it with --agency)",
              im->res.agency);
    return 0;
}

/* ------------------------------------------------------------------ applying */

/* n_X -> gtfs_X: deletes the rows whose key is gone, updates the rows that changed, inserts
 * the new keys. The result equals DELETE all + INSERT all, but a row that did not change
 * costs no write, no index entry and no dead tuple -- most of a weekly feed update. */
static int apply_file(struct imp *im, enum buyt_gtfs_file_id id)
{
    const struct buyt_gtfs_file *f = &buyt_gtfs_files[id];
    long t0 = now_ms();
    struct sb cols = {0}, ncols = {0}, tcols = {0}, on = {0}, sql = {0};
    for (size_t i = 0; i < f->nfields; i++) {
        sb_add(&cols, "%s%s", i ? ", " : "", f->fields[i].name);
        sb_add(&ncols, "%sn.%s", i ? ", " : "", f->fields[i].name);
        sb_add(&tcols, "%st.%s", i ? ", " : "", f->fields[i].name);
    }
    if (id == BUYT_GTFS_SHAPES) { /* the one column that is not a GTFS field */
        sb_add(&cols, ", derived");
        sb_add(&ncols, ", n.derived");
        sb_add(&tcols, ", t.derived");
    }
    for (int k = 0; k < 2 && f->key[k]; k++)
        sb_add(&on, "%sn.%s = t.%s", k ? " AND " : "", f->key[k], f->key[k]);
    long changed[3] = {0, 0, 0};
    int rc = 0;
    for (int step = 0; step < 3 && !rc; step++) {
        sql.len = 0;
        if (step == 0)
            sb_add(&sql, "DELETE FROM %s t WHERE NOT EXISTS (SELECT 1 FROM %s n WHERE %s)",
                   f->table, f->typed, on.s);
        else if (step == 1)
            sb_add(&sql,
                   "UPDATE %s t SET (%s) = ROW(%s) FROM %s n WHERE %s AND (%s) IS DISTINCT FROM "
                   "(%s)",
                   f->table, cols.s, ncols.s, f->typed, on.s, tcols.s, ncols.s);
        else
            sb_add(&sql,
                   "INSERT INTO %s (%s) SELECT %s FROM %s n WHERE NOT EXISTS (SELECT 1 FROM %s t "
                   "WHERE %s) ORDER BY n.%s%s%s",
                   f->table, cols.s, ncols.s, f->typed, f->table, on.s, f->key[0],
                   f->key[1] ? ", n." : "", f->key[1] ? f->key[1] : "");
        if (sql.oom || cols.oom || ncols.oom || tcols.oom || on.oom) {
            rc = fail(im, BUYT_ENOMEM, "out of memory");
            break;
        }
        PGresult *r = PQexec(im->pg, sql.s);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = fail(im, BUYT_EDB, "writing %s: %s", f->table, pg_msg(r, im->pg));
        else
            changed[step] = strtol(PQcmdTuples(r), NULL, 10);
        PQclear(r);
    }
    sb_free(&cols);
    sb_free(&ncols);
    sb_free(&tcols);
    sb_free(&on);
    sb_free(&sql);
    if (!rc)
        BUYT_INFO(MOD, "applied table=%s deleted=%ld updated=%ld inserted=%ld ms=%ld", f->table,
                  changed[0], changed[1], changed[2], now_ms() - t0);
    return rc;
}

static int write_feed_row(struct imp *im, long t0)
{
    PGresult *r;
    int rc = query(im, "SELECT coalesce(max(version), 0) + 1 FROM gtfs_feed", 0, NULL,
                   "reading gtfs_feed", &r);
    if (rc)
        return rc;
    im->res.version = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);

    char feed_version[256] = "";
    bool have_fv = false;
    const struct staged *fi = &im->st[BUYT_GTFS_FEED_INFO];
    if (fi->present && fi->col[0] >= 0) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT nullif(btrim(c%d), '') FROM %s ORDER BY n LIMIT 1",
                 fi->col[0], buyt_gtfs_files[BUYT_GTFS_FEED_INFO].stage);
        if ((rc = query(im, sql, 0, NULL, "feed_info.txt", &r)))
            return rc;
        if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
            snprintf(feed_version, sizeof feed_version, "%s", PQgetvalue(r, 0, 0));
            have_fv = true;
        }
        PQclear(r);
    }
    char source[PATH_MAX];
    if (!realpath(im->opt->feed, source))
        snprintf(source, sizeof source, "%s", im->opt->feed);
    const struct buyt_gtfs_counts *c = &im->res.counts;
    long nums[] = {c->agency,       c->routes,         c->stops,       c->shapes,
                   c->shape_points, c->derived_shapes, c->trips,       c->stop_times,
                   c->calendar,     c->calendar_dates, c->frequencies, now_ms() - t0};
    enum { NN = sizeof nums / sizeof nums[0] };
    char txt[NN][24];
    const char *p[6 + NN];
    char ver[16];
    snprintf(ver, sizeof ver, "%d", im->res.version);
    p[0] = ver;
    p[1] = source;
    p[2] = im->res.agency;
    p[3] = im->res.timezone;
    p[4] = im->feed_tz;
    p[5] = have_fv ? feed_version : NULL;
    for (int i = 0; i < NN; i++) {
        snprintf(txt[i], sizeof txt[i], "%ld", nums[i]);
        p[6 + i] = txt[i];
    }
    rc = query(im,
               "INSERT INTO gtfs_feed (version, source, agency, timezone, feed_timezone, "
               "feed_version, n_agency, n_routes, n_stops, n_shapes, n_shape_points, "
               "n_derived_shapes, n_trips, n_stop_times, n_calendar, n_calendar_dates, "
               "n_frequencies, import_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
               "$11, $12, $13, $14, $15, $16, $17, $18)",
               6 + NN, p, "writing gtfs_feed", &r);
    PQclear(r);
    if (rc)
        return rc;
    /* Delivered at COMMIT only: listeners reload a feed that is complete. */
    rc = query(im, "SELECT pg_notify('buyt_gtfs', $1)", 1, p, "notifying", &r);
    PQclear(r);
    return rc;
}

/* ------------------------------------------------------------------ the import */

static int check_schema(struct imp *im)
{
    PGresult *r;
    int rc = query(im,
                   "SELECT to_regclass('gtfs_feed') IS NOT NULL AND "
                   "to_regprocedure('buyt_gtfs_time(text)') IS NOT NULL",
                   0, NULL, "checking the schema", &r);
    if (rc)
        return rc;
    bool ok = !strcmp(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    return ok ? 0
              : fail(im, BUYT_EDB,
                     "the database has no GTFS schema: run buyt-migrate --db "
                     "CONNINFO first");
}

/* Raised by sql_value() on a bad value; only its failing says something (check_values()
 * then reports the line). A session-private function, gone with the connection. */
#define BAD_FUNCTION                                                                               \
    "CREATE FUNCTION pg_temp.buyt_gtfs_bad(v text, t anyelement) RETURNS anyelement "              \
    "LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION USING ERRCODE = '22P02', "                        \
    "MESSAGE = format('bad GTFS value \"%s\"', v); END$$"

static int check_files(struct imp *im)
{
    bool has[BUYT_GTFS_FILES];
    for (int i = 0; i < BUYT_GTFS_FILES; i++) {
        struct buyt_gtfs_member *m = NULL;
        char ebuf[256] = "";
        int rc = buyt_gtfs_member_open(im->src, buyt_gtfs_files[i].name, &m, ebuf, sizeof ebuf);
        if (rc && rc != -ENOENT)
            return fail(im, rc, "%s", ebuf);
        has[i] = rc == 0;
        buyt_gtfs_member_close(m);
        if (!has[i] && buyt_gtfs_files[i].required)
            return fail(im, BUYT_EINVAL, "%s: missing required file", buyt_gtfs_files[i].name);
    }
    if (!has[BUYT_GTFS_CALENDAR] && !has[BUYT_GTFS_CALENDAR_DATES])
        return fail(im, BUYT_EINVAL,
                    "calendar.txt: missing required file (calendar.txt or calendar_dates.txt)");
    return 0;
}

static int run(struct imp *im, long t0)
{
    static const enum buyt_gtfs_file_id loaded[] = {
        BUYT_GTFS_AGENCY,   BUYT_GTFS_ROUTES,         BUYT_GTFS_STOPS,
        BUYT_GTFS_SHAPES,   BUYT_GTFS_TRIPS,          BUYT_GTFS_STOP_TIMES,
        BUYT_GTFS_CALENDAR, BUYT_GTFS_CALENDAR_DATES, BUYT_GTFS_FREQUENCIES,
    };
    struct buyt_gtfs_counts *c = &im->res.counts;
    long shape_rows;
    long *count[] = {&c->agency,     &c->routes,   &c->stops,          &shape_rows,    &c->trips,
                     &c->stop_times, &c->calendar, &c->calendar_dates, &c->frequencies};
    enum { NL = sizeof loaded / sizeof loaded[0] };
    int rc;
    if ((rc = check_schema(im)) || (rc = check_files(im)))
        return rc;
    if (im->opt->timezone) {
        bool known;
        if ((rc = zone_known(im, im->opt->timezone, &known)))
            return rc;
        if (!known)
            return fail(im, BUYT_EINVAL, "--timezone: unknown time zone \"%s\"", im->opt->timezone);
    }
    if ((rc = exec_cmd(im, "BEGIN", "BEGIN")) ||
        (rc = exec_cmd(im, "SELECT pg_advisory_xact_lock(" LOCK_KEY ")", "locking")) ||
        (rc = exec_cmd(im, BAD_FUNCTION, "creating pg_temp.buyt_gtfs_bad")))
        return rc;
    /* Read and check everything into temporary tables; nothing else is touched yet. */
    for (int i = 0; i < BUYT_GTFS_FILES; i++) {
        if ((rc = stage_file(im, (enum buyt_gtfs_file_id)i)))
            return rc;
        im->res.rows += im->st[i].rows;
    }
    for (int i = 0; i < NL; i++)
        if ((rc = load_file(im, loaded[i], count[i])))
            return rc;
    if ((rc = exec_cmd(im,
                       "ANALYZE n_agency, n_routes, n_stops, n_shapes, n_trips, n_stop_times, "
                       "n_calendar, n_calendar_dates, n_frequencies",
                       "ANALYZE")))
        return rc;
    long tc = now_ms();
    if ((rc = run_checks(im)) || (rc = warn_short_trips(im)))
        return rc;
    BUYT_INFO(MOD, "checked the rules ms=%ld", now_ms() - tc);
    if ((rc = derive_shapes(im)) || (rc = resolve_timezone(im)) || (rc = resolve_agency_code(im)))
        return rc;
    /* Replace the previous feed. Readers see it until COMMIT and are never blocked: row
     * changes only (no TRUNCATE, whose ACCESS EXCLUSIVE lock would stop every reader). */
    for (int i = 0; i < NL; i++)
        if ((rc = apply_file(im, loaded[i])))
            return rc;
    if ((rc = write_feed_row(im, t0)))
        return rc;
    /* Statistics of the new rows for the engine's planner, committed with them. */
    if ((rc = exec_cmd(im,
                       "ANALYZE gtfs_agency, gtfs_routes, gtfs_stops, gtfs_shapes, gtfs_trips, "
                       "gtfs_stop_times, gtfs_calendar, gtfs_calendar_dates, gtfs_frequencies",
                       "ANALYZE")))
        return rc;
    if (im->opt->before_commit && (rc = im->opt->before_commit(im->opt->arg)))
        return fail(im, rc, "stopped before commit by the caller (%s)", buyt_strerror(rc));
    return exec_cmd(im, "COMMIT", "COMMIT");
}

static void on_notice(void *arg, const char *msg)
{
    (void)arg;
    BUYT_DEBUG(MOD, "msg=\"postgres notice\" notice=\"%.*s\"", (int)strcspn(msg, "\n"), msg);
}

int buyt_gtfs_import(const struct buyt_gtfs_options *opt, struct buyt_gtfs_result *res, char *err,
                     size_t errlen)
{
    struct imp *im = calloc(1, sizeof *im);
    if (!im) {
        snprintf(err, errlen, "out of memory");
        return BUYT_ENOMEM;
    }
    im->opt = opt;
    im->err = err;
    im->errlen = errlen;
    int rc = 0;
    long t0 = now_ms();
    if (!opt->conninfo || !opt->feed)
        rc = fail(im, BUYT_EINVAL, "a database and a feed are required");
    else if (opt->agency && !buyt_gtfs_agency_code_valid(opt->agency))
        rc = fail(im, BUYT_EINVAL,
                  "--agency: bad operator code \"%s\" (1 to 32 of A-Z a-z 0-9 . _ -)", opt->agency);
    else if (opt->timezone && !buyt_gtfs_timezone_plausible(opt->timezone))
        rc = fail(im, BUYT_EINVAL, "--timezone: unknown time zone \"%s\"", opt->timezone);
    char ebuf[512] = "";
    if (!rc && (rc = buyt_gtfs_source_open(opt->feed, &im->src, ebuf, sizeof ebuf)))
        fail(im, rc, "%s", ebuf);
    if (!rc) {
        im->pg = PQconnectdb(opt->conninfo);
        if (PQstatus(im->pg) != CONNECTION_OK)
            rc = fail(im, BUYT_EDB, "connecting to the database: %s", PQerrorMessage(im->pg));
    }
    if (!rc) {
        PQsetNoticeProcessor(im->pg, on_notice, NULL);
        /* UTF-8 in, validated by the server: a feed in another encoding fails with a line. */
        if (PQsetClientEncoding(im->pg, "UTF8"))
            rc = fail(im, BUYT_EDB, "setting client_encoding: %s", PQerrorMessage(im->pg));
        else
            rc = exec_cmd(im, "SET temp_buffers = '64MB'", "SET");
    }
    if (!rc)
        rc = run(im, t0);
    if (rc && im->pg && PQstatus(im->pg) == CONNECTION_OK &&
        PQtransactionStatus(im->pg) != PQTRANS_IDLE)
        PQclear(PQexec(im->pg, "ROLLBACK"));
    im->res.elapsed_ms = now_ms() - t0;
    if (!rc) {
        BUYT_INFO(MOD, "imported version=%d agency=%s timezone=%s rows=%ld ms=%ld rows_per_s=%.0f",
                  im->res.version, im->res.agency, im->res.timezone, im->res.rows,
                  im->res.elapsed_ms,
                  im->res.elapsed_ms ? im->res.rows * 1000.0 / im->res.elapsed_ms : 0.0);
        if (res)
            *res = im->res;
    }
    PQfinish(im->pg);
    buyt_gtfs_source_free(im->src);
    free(im);
    return rc;
}

/* ------------------------------------------------------------------ summary */

int buyt_gtfs_summary_read(const char *conninfo, struct buyt_gtfs_summary *out, char *err,
                           size_t errlen)
{
    memset(out, 0, sizeof *out);
    PGconn *pg = PQconnectdb(conninfo);
    int rc = 0;
    if (PQstatus(pg) != CONNECTION_OK) {
        snprintf(err, errlen, "connecting to the database: %s", PQerrorMessage(pg));
        rc = BUYT_EDB;
    }
    /* One statement: one snapshot, so the counts all belong to the same feed. */
    PGresult *r =
        rc ? NULL
           : PQexec(
                 pg,
                 "SELECT (SELECT count(*) FROM gtfs_agency), (SELECT count(*) FROM gtfs_routes), "
                 "(SELECT count(*) FROM gtfs_stops), (SELECT count(DISTINCT shape_id) FROM "
                 "gtfs_shapes), "
                 "(SELECT count(*) FROM gtfs_shapes), "
                 "(SELECT count(DISTINCT shape_id) FROM gtfs_shapes WHERE derived), "
                 "(SELECT count(*) FROM gtfs_trips), (SELECT count(*) FROM gtfs_stop_times), "
                 "(SELECT count(*) FROM gtfs_calendar), (SELECT count(*) FROM "
                 "gtfs_calendar_dates), "
                 "(SELECT count(*) FROM gtfs_frequencies), f.version, f.agency, f.timezone, "
                 "to_char(f.imported_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
                 "f.feed_version FROM (SELECT 1) one LEFT JOIN gtfs_feed_current f ON true");
    if (!rc && (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)) {
        snprintf(err, errlen, "reading the GTFS tables: %s", pg_msg(r, pg));
        rc = BUYT_EDB;
    }
    if (!rc) {
        long *c[] = {
            &out->counts.agency,         &out->counts.routes,       &out->counts.stops,
            &out->counts.shapes,         &out->counts.shape_points, &out->counts.derived_shapes,
            &out->counts.trips,          &out->counts.stop_times,   &out->counts.calendar,
            &out->counts.calendar_dates, &out->counts.frequencies};
        for (int i = 0; i < 11; i++)
            *c[i] = strtol(PQgetvalue(r, 0, i), NULL, 10);
        out->version = (int)strtol(PQgetvalue(r, 0, 11), NULL, 10);
        snprintf(out->agency, sizeof out->agency, "%s", PQgetvalue(r, 0, 12));
        snprintf(out->timezone, sizeof out->timezone, "%s", PQgetvalue(r, 0, 13));
        snprintf(out->imported_at, sizeof out->imported_at, "%s", PQgetvalue(r, 0, 14));
        snprintf(out->feed_version, sizeof out->feed_version, "%s", PQgetvalue(r, 0, 15));
    }
    for (char *p = err; rc && *p; p++)
        if (*p == '\n')
            *p = ' ';
    PQclear(r);
    PQfinish(pg);
    return rc;
}
