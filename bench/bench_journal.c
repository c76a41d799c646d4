/* Journal benchmark: append rate under each fsync policy, on-disk overhead, recovery time of a
 * week-offline journal (600 k records) warm and cold, and replay read rate.
 * Usage: bench-journal [parent-dir] [records]   (default /tmp, 600000). Figures: docs/JOURNAL.md */
#include "journal.h"

#include "clock.h"
#include "error.h"
#include "log.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#define PAYLOAD 64 /* a typical encoded Record with a Fix is 40..70 bytes */

static char dir[512];

static double secs(uint64_t t0)
{
    return (double)(buyt_mono_ns() - t0) / 1e9;
}

static void rm_journal(void)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
}

/* Drops the journal's files from the page cache (they are clean after a sync). */
static void evict(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[1024];
    while (d && (e = readdir(d))) {
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        int fd = open(p, O_RDONLY);
        if (fd >= 0) {
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            close(fd);
        }
    }
    if (d)
        closedir(d);
}

static struct buyt_journal *open_or_die(enum buyt_journal_fsync policy, uint32_t interval_ms)
{
    struct buyt_journal_config cfg;
    buyt_journal_config_init(&cfg, dir);
    cfg.max_bytes = 1024u * 1024 * 1024;
    cfg.fsync = policy;
    cfg.fsync_interval_ms = interval_ms;
    struct buyt_journal *j;
    int r = buyt_journal_open(&cfg, &j);
    if (r) {
        fprintf(stderr, "open %s: %s\n", dir, buyt_strerror(r));
        exit(1);
    }
    return j;
}

/* Appends up to n records or for max_s seconds; returns appends per second. */
static double append_rate(struct buyt_journal *j, uint64_t n, double max_s, uint64_t *done)
{
    uint8_t p[PAYLOAD];
    memset(p, 0x5a, sizeof p);
    uint64_t t0 = buyt_mono_ns(), i = 0;
    for (; i < n; i++) {
        if (buyt_journal_append(j, 1795000000000ull + i * 1000, p, sizeof p, NULL)) {
            fprintf(stderr, "append failed\n");
            exit(1);
        }
        if ((i & 63) == 0 && secs(t0) > max_s)
            break;
    }
    *done = i;
    return (double)i / secs(t0);
}

int main(int argc, char **argv)
{
    const char *parent = argc > 1 ? argv[1] : "/tmp";
    uint64_t records = argc > 2 ? strtoull(argv[2], NULL, 10) : 600000;
    buyt_log_set_level(BUYT_LOG_WARN);
    snprintf(dir, sizeof dir, "%s/bench-journal-XXXXXX", parent);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    struct utsname u;
    uname(&u);
    printf("machine: %ld cores, %s %s; dir %s; payload %d B\n", sysconf(_SC_NPROCESSORS_ONLN),
           u.sysname, u.release, parent, PAYLOAD);

    uint64_t n;
    struct buyt_journal *j = open_or_die(BUYT_JOURNAL_FSYNC_ALWAYS, 0);
    double r = append_rate(j, UINT64_MAX, 3.0, &n);
    printf("append fsync=always:       %10.0f /s  (%" PRIu64 " appends, %.1f us each)\n", r, n,
           1e6 / r);
    buyt_journal_close(j);
    rm_journal();

    j = open_or_die(BUYT_JOURNAL_FSYNC_INTERVAL, 100);
    r = append_rate(j, UINT64_MAX, 3.0, &n);
    printf("append fsync=every 100 ms: %10.0f /s  (%" PRIu64 " appends, %.2f us each)\n", r, n,
           1e6 / r);
    buyt_journal_close(j);
    rm_journal();

    /* The 600 k-record journal for recovery and replay. */
    j = open_or_die(BUYT_JOURNAL_FSYNC_NEVER, 0);
    r = append_rate(j, records, 1e9, &n);
    printf("append fsync=never:        %10.0f /s  (%" PRIu64 " appends, %.2f us each)\n", r, n,
           1e6 / r);
    struct buyt_journal_stats st;
    buyt_journal_stats(j, &st);
    printf("on disk: %" PRIu64 " B for %" PRIu64 " records of %d B = %.1f B overhead/record, "
           "%u segments\n",
           st.bytes, st.records, PAYLOAD, (double)st.bytes / (double)st.records - PAYLOAD,
           st.segments);
    buyt_journal_sync(j);
    buyt_journal_close(j);

    uint64_t t0 = buyt_mono_ns();
    j = open_or_die(BUYT_JOURNAL_FSYNC_INTERVAL, 1000);
    printf("recovery of %" PRIu64 " records (warm page cache): %.1f ms\n", records, secs(t0) * 1e3);
    buyt_journal_close(j);
    evict();
    t0 = buyt_mono_ns();
    j = open_or_die(BUYT_JOURNAL_FSYNC_INTERVAL, 1000);
    printf("recovery of %" PRIu64 " records (evicted, from disk): %.1f ms\n", records,
           secs(t0) * 1e3);

    /* Replay: what the agent does after a week offline, batches of <= 1000 records / 256 KiB. */
    static struct buyt_journal_rec recs[1000];
    static uint8_t buf[256 * 1024];
    uint64_t got = 0, bytes = 0, batches = 0;
    t0 = buyt_mono_ns();
    for (;;) {
        struct buyt_journal_batch b = {recs, 1000, buf, sizeof buf, 0, 0};
        if (buyt_journal_read_due(j, 0, &b)) {
            fprintf(stderr, "read failed\n");
            return 1;
        }
        if (b.n == 0)
            break;
        buyt_journal_mark_sent(j, recs[0].seq, recs[b.n - 1].seq, 0);
        got += b.n;
        bytes += b.bytes;
        batches++;
    }
    double rs = secs(t0);
    printf("replay read: %" PRIu64 " records in %" PRIu64 " batches, %.1f ms: %.0f records/s, "
           "%.0f MB/s payload\n",
           got, batches, rs * 1e3, (double)got / rs, (double)bytes / rs / 1e6);

    t0 = buyt_mono_ns();
    buyt_journal_ack(j, st.last_seq / 2);
    printf("ack of half the journal (deletes segments, saves state): %.2f ms\n", secs(t0) * 1e3);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("max RSS of this benchmark: %ld KiB\n", ru.ru_maxrss);
    buyt_journal_close(j);
    rm_journal();
    rmdir(dir);
    return 0;
}
