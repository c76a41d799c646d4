/* buyt-gtfs: imports a GTFS static feed into PostgreSQL and summarises what is there.
 * Exit status: 0 done, 1 the import or the database failed, 2 bad arguments. */
#include "error.h"
#include "gtfs_import.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: buyt-gtfs import --db CONNINFO --feed PATH [--agency CODE] [--timezone TZ]\n"
               "       buyt-gtfs summary --db CONNINFO\n"
               "\n"
               "import   loads the GTFS feed at PATH (a folder or a .zip) and replaces the\n"
               "         previous feed in one transaction; a bad feed is refused with\n"
               "         file:line: column: reason, and the database is left unchanged.\n"
               "  --db CONNINFO   libpq connection string or URI (postgresql://...)\n"
               "  --feed PATH     folder or .zip holding agency.txt, stops.txt, ...\n"
               "  --agency CODE   operator code used in MQTT topics (1-32 of A-Z a-z 0-9 . _ -);\n"
               "                  default: the previous import's code, else derived from\n"
               "                  agency.txt (agency_id if it has a letter, else agency_name,\n"
               "                  lower-cased, other characters as '-')\n"
               "  --timezone TZ   IANA zone of the service days, overriding agency_timezone\n"
               "                  (e.g. Asia/Ho_Chi_Minh); must be in pg_timezone_names\n"
               "summary  prints the current feed and the row count of every GTFS table.\n"
               "Logs go to stderr (BUYT_LOG_LEVEL=debug|info|warn|error).\n");
}

/* One line on stderr; returns the exit status for bad arguments. */
static int bad_args(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad_args(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "buyt-gtfs: %s (try --help)\n", msg);
    return 2;
}

static void print_counts(const struct buyt_gtfs_counts *c)
{
    printf("agency         %ld\n", c->agency);
    printf("routes         %ld\n", c->routes);
    printf("stops          %ld\n", c->stops);
    printf("shapes         %ld points=%ld derived=%ld\n", c->shapes, c->shape_points,
           c->derived_shapes);
    printf("trips          %ld\n", c->trips);
    printf("stop_times     %ld\n", c->stop_times);
    printf("calendar       %ld\n", c->calendar);
    printf("calendar_dates %ld\n", c->calendar_dates);
    printf("frequencies    %ld\n", c->frequencies);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return bad_args("%s", "a command is required: import or summary");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "import") && strcmp(cmd, "summary"))
        return bad_args("unknown command '%s'", cmd);
    bool import = !strcmp(cmd, "import");
    struct buyt_gtfs_options opt = {0};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--db")) {
            dst = &opt.conninfo;
        } else if (import && !strcmp(a, "--feed")) {
            dst = &opt.feed;
        } else if (import && !strcmp(a, "--agency")) {
            dst = &opt.agency;
        } else if (import && !strcmp(a, "--timezone")) {
            dst = &opt.timezone;
        } else {
            return bad_args("unknown argument '%s'", a);
        }
        if (i + 1 >= argc || !argv[i + 1][0])
            return bad_args("%s needs a value", a);
        if (*dst)
            return bad_args("%s given twice", a);
        *dst = argv[++i];
    }
    if (!opt.conninfo)
        return bad_args("%s is required", "--db CONNINFO");
    char err[1024] = "";
    if (!import) {
        struct buyt_gtfs_summary s;
        if (buyt_gtfs_summary_read(opt.conninfo, &s, err, sizeof err)) {
            fprintf(stderr, "buyt-gtfs: %s\n", err);
            return 1;
        }
        if (s.version)
            printf("feed           version=%d agency=%s timezone=%s imported_at=%s%s%s\n",
                   s.version, s.agency, s.timezone, s.imported_at,
                   s.feed_version[0] ? " feed_version=" : "", s.feed_version);
        else
            printf("feed           none imported\n");
        print_counts(&s.counts);
        return 0;
    }
    if (!opt.feed)
        return bad_args("%s is required", "--feed PATH");
    struct buyt_gtfs_result res;
    if (buyt_gtfs_import(&opt, &res, err, sizeof err)) {
        fprintf(stderr, "buyt-gtfs: %s\n", err);
        return 1;
    }
    printf("feed           version=%d agency=%s timezone=%s rows=%ld ms=%ld rows_per_s=%.0f\n",
           res.version, res.agency, res.timezone, res.rows, res.elapsed_ms,
           res.elapsed_ms > 0 ? res.rows * 1000.0 / (double)res.elapsed_ms : 0.0);
    print_counts(&res.counts);
    return 0;
}
