/* Journal: seq for life, end-to-end ack trimming, power-cut recovery, bounded disk, replay and
 * resend. Each test runs in a fresh temporary directory. */
#include "journal.h"

#include "error.h"
#include "log.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SEG (128u * 1024)
#define PER_SEG 127u /* records of 1000 B (1028 B on disk) in a 128 KiB segment */

static char dir[64];
static struct buyt_journal_config cfg;
static struct buyt_journal *j;

/* Payload of record `seq`: deterministic, so any byte read back can be checked. */
static void fill(uint8_t *p, size_t len, uint64_t seq)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(seq * 31 + i * 7 + (i >> 8));
}

static bool payload_ok(const struct buyt_journal_rec *r, size_t len)
{
    static uint8_t want[BUYT_JOURNAL_MAX_PAYLOAD];
    if (r->len != len)
        return false;
    fill(want, len, r->seq);
    return len == 0 || memcmp(r->payload, want, len) == 0;
}

static void setup(void)
{
    buyt_log_set_level(BUYT_LOG_ERROR);
    strcpy(dir, "/tmp/buyt-journal-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    buyt_journal_config_init(&cfg, dir);
    cfg.segment_bytes = SEG;
    cfg.max_bytes = 64u * 1024 * 1024;
    cfg.fsync = BUYT_JOURNAL_FSYNC_NEVER;
    cfg.resend_after_ms = 1000;
    j = NULL;
}

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(path);
}

static void teardown(void)
{
    buyt_journal_close(j);
    rm_rf(dir);
}

TestSuite(journal, .init = setup, .fini = teardown);

static void open_j(void)
{
    cr_assert_eq(buyt_journal_open(&cfg, &j), 0);
}

static void reopen(void)
{
    cr_assert_eq(buyt_journal_close(j), 0);
    j = NULL;
    open_j();
}

static uint64_t append_n(size_t n, size_t len)
{
    static uint8_t buf[BUYT_JOURNAL_MAX_PAYLOAD];
    uint64_t seq = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t want = buyt_journal_next_seq(j);
        fill(buf, len, want);
        cr_assert_eq(buyt_journal_append(j, 1000 * want, buf, len, &seq), 0);
        cr_assert_eq(seq, want);
    }
    return seq;
}

static struct buyt_journal_stats stats(void)
{
    struct buyt_journal_stats st;
    cr_assert_eq(buyt_journal_stats(j, &st), 0);
    return st;
}

/* A batch with room for `max_recs` records and `buf_len` payload bytes. */
static struct buyt_journal_rec recs[4096];
static uint8_t bbuf[1u << 20];
static struct buyt_journal_batch batch(size_t max_recs, size_t buf_len)
{
    return (struct buyt_journal_batch){recs, max_recs, bbuf, buf_len, 0, 0};
}

static void seg_path(char *p, size_t len, uint64_t first)
{
    snprintf(p, len, "%s/seg-%016" PRIx64 ".log", dir, first);
}

static off_t file_size(const char *p)
{
    struct stat st;
    cr_assert_eq(stat(p, &st), 0, "%s", p);
    return st.st_size;
}

static void flip_byte(const char *p, off_t off)
{
    int fd = open(p, O_RDWR);
    cr_assert_geq(fd, 0);
    uint8_t b;
    cr_assert_eq(pread(fd, &b, 1, off), 1);
    b ^= 0x40;
    cr_assert_eq(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

static int count_segments(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += !strncmp(e->d_name, "seg-", 4);
    closedir(d);
    return n;
}

/* Reads every due record (marking none sent), checks payloads, returns how many; seqs[] gets
 * them in order. */
static size_t read_all(uint64_t *seqs, size_t max, size_t len)
{
    size_t n = 0;
    int64_t now = 0;
    for (;;) {
        struct buyt_journal_batch b = batch(100, sizeof bbuf);
        cr_assert_eq(buyt_journal_read_due(j, now, &b), 0);
        if (b.n == 0)
            return n;
        for (size_t i = 0; i < b.n; i++) {
            cr_assert(payload_ok(&b.recs[i], len), "seq %" PRIu64, b.recs[i].seq);
            cr_assert_lt(n, max);
            seqs[n++] = b.recs[i].seq;
        }
        cr_assert_eq(buyt_journal_mark_sent(j, b.recs[0].seq, b.recs[b.n - 1].seq, now), 0);
    }
}

Test(journal, fresh_journal_assigns_seq_from_1)
{
    open_j();
    cr_assert_eq(buyt_journal_next_seq(j), 1);
    cr_assert_eq(append_n(3, 100), 3);
    struct buyt_journal_stats st = stats();
    cr_assert_eq(st.records, 3);
    cr_assert_eq(st.bytes, 3 * (100 + BUYT_JOURNAL_RECORD_OVERHEAD));
    cr_assert_eq(st.segments, 1);
    cr_assert_eq(st.oldest_seq, 1);
    cr_assert_eq(st.oldest_time_ms, 1000);
    cr_assert_eq(st.last_seq, 3);
    cr_assert_eq(st.durable_seq, 3);
    cr_assert_eq(st.acked_seq, 0);
    cr_assert_eq(st.dropped + st.torn + st.acks_clamped, 0);
}

Test(journal, record_format_is_stable)
{
    open_j();
    cr_assert_eq(buyt_journal_append(j, 0x0102030405060708ull, "hello", 5, NULL), 0);
    cr_assert_eq(buyt_journal_close(j), 0);
    j = NULL;
    char p[128];
    seg_path(p, sizeof p, 1);
    uint8_t got[64];
    int fd = open(p, O_RDONLY);
    cr_assert_eq(read(fd, got, sizeof got), 33);
    close(fd);
    const char want[] = "BYJ1"                             /* magic */
                        "\x05\0\0\0"                       /* len */
                        "\x01\0\0\0\0\0\0\0"               /* seq */
                        "\x08\x07\x06\x05\x04\x03\x02\x01" /* time_ms */
                        "\x90\xa3\x5c\x10"                 /* CRC-32C */
                        "hello";
    cr_assert_arr_eq(got, want, 33);
}

Test(journal, seq_survives_reopen)
{
    open_j();
    append_n(5, 100);
    reopen();
    cr_assert_eq(buyt_journal_next_seq(j), 6);
    cr_assert_eq(stats().records, 5);
    uint64_t seqs[16];
    cr_assert_eq(read_all(seqs, 16, 100), 5);
    cr_assert_eq(seqs[0], 1);
    cr_assert_eq(seqs[4], 5);
    cr_assert_eq(append_n(1, 100), 6);
}

Test(journal, seq_continues_after_full_trim)
{
    open_j();
    append_n(5, 100);
    cr_assert_eq(buyt_journal_ack(j, 5), 0);
    cr_assert_eq(count_segments(), 0);
    cr_assert_eq(stats().records, 0);
    reopen();
    struct buyt_journal_stats st = stats();
    cr_assert_eq(st.records, 0);
    cr_assert_eq(st.oldest_seq, 0);
    cr_assert_eq(st.last_seq, 5);
    cr_assert_eq(st.acked_seq, 5);
    cr_assert_eq(append_n(1, 100), 6);
    char p[128];
    seg_path(p, sizeof p, 6); /* a new segment, named by its first seq */
    cr_assert_eq(file_size(p), 128);
    reopen();
    cr_assert_eq(buyt_journal_next_seq(j), 7);
}

Test(journal, ack_trims_through_seq)
{
    open_j();
    append_n(300, 1000); /* segments 1..127, 128..254, 255..300 */
    cr_assert_eq(count_segments(), 3);
    cr_assert_eq(buyt_journal_ack(j, 200), 0);
    struct buyt_journal_stats st = stats();
    cr_assert_eq(st.records, 100);
    cr_assert_eq(st.segments, 2);
    cr_assert_eq(count_segments(), 2);
    cr_assert_eq(st.bytes, (PER_SEG + 46) * 1028);
    cr_assert_eq(st.oldest_seq, 201);
    cr_assert_eq(st.oldest_time_ms, 201000);
    cr_assert_eq(st.acked_seq, 200);
    struct buyt_journal_batch b = batch(1, sizeof bbuf);
    cr_assert_eq(buyt_journal_read_due(j, 0, &b), 0);
    cr_assert_eq(b.n, 1);
    cr_assert_eq(b.recs[0].seq, 201);
    reopen();
    st = stats();
    cr_assert_eq(st.records, 100);
    cr_assert_eq(st.oldest_seq, 201);
    cr_assert_eq(st.acked_seq, 200);
}

Test(journal, ack_never_moves_back)
{
    open_j();
    append_n(10, 100);
    cr_assert_eq(buyt_journal_ack(j, 5), 0);
    cr_assert_eq(buyt_journal_ack(j, 3), 0);
    struct buyt_journal_stats st = stats();
    cr_assert_eq(st.acked_seq, 5);
    cr_assert_eq(st.records, 5);
    cr_assert_eq(st.oldest_seq, 6);
    reopen();
    cr_assert_eq(buyt_journal_ack(j, 4), 0);
    cr_assert_eq(stats().acked_seq, 5);
    cr_assert_eq(stats().oldest_seq, 6);
}

Test(journal, ack_beyond_last_seq_is_reported_and_seq_moves_past_it)
{
    open_j();
    append_n(3, 100);
    cr_assert_eq(buyt_journal_ack(j, 10), BUYT_ERANGE);
    struct buyt_journal_stats st = stats();
    cr_assert_eq(st.acks_clamped, 1);
    cr_assert_eq(st.records, 0);
    cr_assert_eq(st.acked_seq, 10);
    cr_assert_eq(st.last_seq, 10);
    /* The engine already holds 4..10: reusing them would get new records discarded. */
    cr_assert_eq(append_n(1, 100), 11);
    reopen();
    cr_assert_eq(buyt_journal_next_seq(j), 12);
    cr_assert_eq(stats().records, 1);
    cr_assert_eq(buyt_journal_ack(j, UINT64_MAX), BUYT_ERANGE); /* implausible: ignored */
    cr_assert_eq(stats().acked_seq, 10);
    cr_assert_eq(buyt_journal_next_seq(j), 12);
}

Test(journal, recovers_from_torn_tail)
{
    open_j();
    append_n(10, 100);
    cr_assert_eq(buyt_journal_close(j), 0);
    j = NULL;
    char p[128];
    seg_path(p, sizeof p, 1);
    cr_assert_eq(truncate(p, 9 * 128 + 50), 0); /* record 10 half written */
    open_j();
    struct buyt_journal_stats st = stats();
    cr_assert_eq(st.torn, 1);
    cr_assert_eq(st.records, 9);
    cr_assert_eq(st.last_seq, 9);
    cr_assert_eq(file_size(p), 9 * 128);
    uint64_t seqs[16];
    cr_assert_eq(read_all(seqs, 16, 100), 9);
    cr_assert_eq(seqs[8], 9);
    /* Never fsynced, so never published: its seq is reused, leaving no gap for the engine. */
    cr_assert_eq(append_n(1, 100), 10);
    reopen();
    cr_assert_eq(stats().torn, 1); /* lifetime total, persisted */
    cr_assert_eq(stats().records, 10);
}

Test(journal, recovers_from_torn_header_in_new_segment)
{
    open_j();
    append_n(PER_SEG, 1000);
    cr_assert_eq(buyt_journal_close(j), 0);
    j = NULL;
    char p[128];
    seg_path(p, sizeof p, PER_SEG + 1);
    int fd = open(p, O_WRONLY | O_CREAT, 0644);
    cr_assert_eq(write(fd, "BYJ1\x10", 5), 5); /* power cut during the first header */
    close(fd);
    open_j();
    cr_assert_eq(stats().torn, 1);
    cr_assert_eq(count_segments(), 1);
    cr_assert_eq(append_n(1, 1000), PER_SEG + 1);
}

Test(journal, cuts_corrupted_record)
{
    open_j();
    append_n(10, 100);
    cr_assert_eq(buyt_journal_close(j), 0);
    j = NULL;
    char p[128];
    seg_path(p, sizeof p, 1);
    flip_byte(p, 9 * 128 + 28 + 40); /* payload of the last record */
    open_j();
    struct buyt_journal_stats st = stats();
    cr_assert_eq(st.torn, 1);
    cr_assert_eq(st.records, 9);
    cr_assert_eq(file_size(p), 9 * 128);
    uint64_t seqs[16];
    cr_assert_eq(read_all(seqs, 16, 100), 9);
    cr_assert_eq(append_n(1, 100), 10);
}

Test(journal, corrupt_middle_record_cuts_rest_of_segment_without_reusing_seqs)
{
    open_j();
    append_n(10, 100);
    cr_assert_eq(buyt_journal_close(j), 0);
    j = NULL;
    char p[128];
    seg_path(p, sizeof p, 1);
    flip_byte(p, 4 * 128 + 28 + 3); /* payload of record 5 */
    open_j();
    struct buyt_journal_stats st = stats();
    cr_assert_eq(st.torn, 6); /* 5 and the 5 intact records after it */
    cr_assert_eq(st.records, 4);
    cr_assert_eq(st.last_seq, 10); /* 6..10 may have been published: not reused */
    cr_assert_eq(append_n(1, 100), 11);
    uint64_t seqs[16];
    cr_assert_eq(read_all(seqs, 16, 100), 5);
    cr_assert_eq(seqs[3], 4);
    cr_assert_eq(seqs[4], 11);
}

Test(journal, corrupt_record_in_older_segment_keeps_later_segments)
{
    open_j();
    append_n(300, 1000);
    cr_assert_eq(buyt_journal_close(j), 0);
    j = NULL;
    char p[128];
    seg_path(p, sizeof p, 1);
    flip_byte(p, 49 * 1028 + 10); /* header (seq field) of record 50 */
    open_j();
    struct buyt_journal_stats st = stats();
    cr_assert_eq(st.torn, PER_SEG - 49); /* 50..127 */
    cr_assert_eq(st.records, 300 - (PER_SEG - 49));
    cr_assert_eq(st.last_seq, 300);
    static uint64_t seqs[400];
    cr_assert_eq(read_all(seqs, 400, 1000), 300 - (PER_SEG - 49));
    cr_assert_eq(seqs[48], 49);
    cr_assert_eq(seqs[49], PER_SEG + 1);
    cr_assert_eq(append_n(1, 1000), 301);
}

Test(journal, drops_oldest_when_full_and_counts)
{
    cfg.max_bytes = 2 * SEG;
    open_j();
    append_n(300, 1000);
    struct buyt_journal_stats st = stats();
    cr_assert_eq(st.dropped, PER_SEG);
    cr_assert_eq(st.dropped_through_seq, PER_SEG);
    cr_assert_eq(st.records, 300 - PER_SEG);
    cr_assert_eq(st.oldest_seq, PER_SEG + 1);
    cr_assert_leq(st.bytes, 2 * SEG);
    cr_assert_eq(count_segments(), 2);
    reopen();
    st = stats();
    cr_assert_eq(st.dropped, PER_SEG); /* lifetime, persisted */
    cr_assert_eq(st.oldest_seq, PER_SEG + 1);
    /* Already-acknowledged records in the dropped segment are not counted. */
    cr_assert_eq(buyt_journal_ack(j, 200), 0);
    append_n(PER_SEG + 60, 1000); /* fills 255..(segment) and forces one more drop */
    st = stats();
    cr_assert_eq(st.dropped, PER_SEG + (2 * PER_SEG - 200));
    cr_assert_eq(st.dropped_through_seq, 2 * PER_SEG);
    cr_assert_eq(st.oldest_seq, 2 * PER_SEG + 1);
}

Test(journal, replay_batches_bounded_by_count_and_bytes)
{
    open_j();
    append_n(20, 100);
    struct buyt_journal_batch b = batch(8, 1000);
    cr_assert_eq(buyt_journal_read_due(j, 0, &b), 0);
    cr_assert_eq(b.n, 8);
    cr_assert_eq(b.bytes, 800);
    cr_assert_eq(b.recs[0].seq, 1);
    cr_assert_eq(b.recs[7].seq, 8);
    cr_assert_eq(b.recs[7].time_ms, 8000);
    for (size_t i = 0; i < b.n; i++)
        cr_assert(payload_ok(&b.recs[i], 100));
    b = batch(8, 1000); /* not marked sent: the same batch again */
    cr_assert_eq(buyt_journal_read_due(j, 0, &b), 0);
    cr_assert_eq(b.recs[0].seq, 1);
    cr_assert_eq(buyt_journal_mark_sent(j, 1, 8, 0), 0);
    b = batch(100, 350); /* bytes bound */
    cr_assert_eq(buyt_journal_read_due(j, 0, &b), 0);
    cr_assert_eq(b.n, 3);
    cr_assert_eq(b.bytes, 300);
    cr_assert_eq(b.recs[0].seq, 9);
    cr_assert_eq(buyt_journal_mark_sent(j, 9, 11, 0), 0);
    b = batch(100, sizeof bbuf);
    cr_assert_eq(buyt_journal_read_due(j, 0, &b), 0);
    cr_assert_eq(b.n, 9);
    cr_assert_eq(b.recs[0].seq, 12);
    cr_assert_eq(b.recs[8].seq, 20);
    b = batch(100, 99); /* the next record cannot fit at all */
    cr_assert_eq(buyt_journal_read_due(j, 0, &b), BUYT_ERANGE);
    cr_assert_eq(b.n, 0);
}

Test(journal, resends_unacked_after_timeout)
{
    open_j();
    append_n(5, 100);
    struct buyt_journal_batch b = batch(100, sizeof bbuf);
    cr_assert_eq(buyt_journal_read_due(j, 10000, &b), 0);
    cr_assert_eq(b.n, 5);
    cr_assert_eq(buyt_journal_mark_sent(j, 1, 5, 10000), 0);
    cr_assert_eq(buyt_journal_read_due(j, 10999, &b), 0);
    cr_assert_eq(b.n, 0);
    cr_assert_eq(buyt_journal_read_due(j, 11000, &b), 0);
    cr_assert_eq(b.n, 5);
    cr_assert_eq(b.recs[0].seq, 1);
    cr_assert_eq(buyt_journal_ack(j, 3), 0);
    cr_assert_eq(buyt_journal_read_due(j, 11000, &b), 0);
    cr_assert_eq(b.n, 2);
    cr_assert_eq(b.recs[0].seq, 4);
    cr_assert_eq(buyt_journal_mark_sent(j, 4, 5, 11000), 0);
    cr_assert_eq(buyt_journal_read_due(j, 11500, &b), 0);
    cr_assert_eq(b.n, 0);
    cr_assert_eq(buyt_journal_read_due(j, 12000, &b), 0);
    cr_assert_eq(b.n, 2);
}

Test(journal, rewind_makes_sent_records_due)
{
    open_j();
    append_n(5, 100);
    cr_assert_eq(buyt_journal_mark_sent(j, 1, 5, 0), 0);
    struct buyt_journal_batch b = batch(100, sizeof bbuf);
    cr_assert_eq(buyt_journal_read_due(j, 0, &b), 0);
    cr_assert_eq(b.n, 0);
    buyt_journal_rewind(j);
    cr_assert_eq(buyt_journal_read_due(j, 0, &b), 0);
    cr_assert_eq(b.n, 5);
}

Test(journal, live_record_visible_while_replaying)
{
    open_j();
    append_n(100, 100); /* backlog from a dead zone */
    struct buyt_journal_batch b = batch(3, sizeof bbuf);
    cr_assert_eq(buyt_journal_read_live(j, &b), 0); /* newest first: 98..100 */
    cr_assert_eq(b.n, 3);
    cr_assert_eq(b.recs[0].seq, 98);
    cr_assert_eq(b.recs[2].seq, 100);
    cr_assert_eq(buyt_journal_mark_sent(j, 98, 100, 0), 0);
    uint64_t next_backlog = 1;
    for (int round = 0; round < 10; round++) {
        b = batch(10, sizeof bbuf);
        cr_assert_eq(buyt_journal_read_due(j, 0, &b), 0);
        cr_assert_eq(b.n, round < 9 ? 10 : 7);
        cr_assert_eq(b.recs[0].seq, next_backlog);
        cr_assert_eq(buyt_journal_mark_sent(j, b.recs[0].seq, b.recs[b.n - 1].seq, 0), 0);
        next_backlog += b.n;
        uint64_t live = append_n(1, 100); /* a fix arrives mid-replay */
        b = batch(1, sizeof bbuf);
        cr_assert_eq(buyt_journal_read_live(j, &b), 0);
        cr_assert_eq(b.n, 1);
        cr_assert_eq(b.recs[0].seq, live);
        cr_assert(payload_ok(&b.recs[0], 100));
        cr_assert_eq(buyt_journal_mark_sent(j, live, live, 0), 0);
        b = batch(1, sizeof bbuf);
        cr_assert_eq(buyt_journal_read_live(j, &b), 0);
        cr_assert_eq(b.n, 0);
    }
    b = batch(100, sizeof bbuf); /* backlog done; live ones are not sent twice */
    cr_assert_eq(buyt_journal_read_due(j, 0, &b), 0);
    cr_assert_eq(b.n, 0);
}

Test(journal, interval_policy_publishes_only_synced_records)
{
    cfg.fsync = BUYT_JOURNAL_FSYNC_INTERVAL;
    cfg.fsync_interval_ms = 3600 * 1000;
    open_j();
    cr_assert_eq(buyt_journal_dirty_since_ms(j), 0);
    append_n(3, 100);
    cr_assert_gt(buyt_journal_dirty_since_ms(j), 0);
    struct buyt_journal_stats st = stats();
    cr_assert_eq(st.last_seq, 3);
    cr_assert_eq(st.durable_seq, 0);
    struct buyt_journal_batch b = batch(100, sizeof bbuf);
    cr_assert_eq(buyt_journal_read_live(j, &b), 0);
    cr_assert_eq(b.n, 0);
    cr_assert_eq(buyt_journal_read_due(j, 0, &b), 0);
    cr_assert_eq(b.n, 0);
    cr_assert_eq(buyt_journal_sync(j), 0);
    cr_assert_eq(buyt_journal_dirty_since_ms(j), 0);
    cr_assert_eq(stats().durable_seq, 3);
    cr_assert_eq(buyt_journal_read_live(j, &b), 0);
    cr_assert_eq(b.n, 3);
}

Test(journal, interval_policy_syncs_inline_when_due)
{
    cfg.fsync = BUYT_JOURNAL_FSYNC_INTERVAL;
    cfg.fsync_interval_ms = 5;
    open_j();
    append_n(1, 100);
    cr_assert_eq(stats().durable_seq, 0);
    struct timespec ts = {0, 6 * 1000 * 1000};
    nanosleep(&ts, NULL);
    append_n(1, 100); /* the oldest unsynced append is older than the interval */
    cr_assert_eq(stats().durable_seq, 2);
    cr_assert_eq(buyt_journal_dirty_since_ms(j), 0);
}

Test(journal, always_policy_makes_each_append_durable)
{
    cfg.fsync = BUYT_JOURNAL_FSYNC_ALWAYS;
    open_j();
    append_n(PER_SEG + 2, 1000); /* crosses a segment rollover */
    cr_assert_eq(buyt_journal_dirty_since_ms(j), 0);
    cr_assert_eq(stats().durable_seq, PER_SEG + 2);
    struct buyt_journal_batch b = batch(1, sizeof bbuf);
    cr_assert_eq(buyt_journal_read_live(j, &b), 0);
    cr_assert_eq(b.recs[0].seq, PER_SEG + 2);
}

Test(journal, many_segments_roll_over)
{
    open_j();
    append_n(1000, 1000);
    struct buyt_journal_stats st = stats();
    cr_assert_eq(st.segments, 8); /* 7 x 127 + 111 */
    char p[128];
    for (uint64_t k = 0; k < 8; k++) {
        seg_path(p, sizeof p, 1 + k * PER_SEG);
        cr_assert_eq(file_size(p), k < 7 ? PER_SEG * 1028 : 111 * 1028);
    }
    static uint64_t seqs[1100];
    cr_assert_eq(read_all(seqs, 1100, 1000), 1000);
    for (uint64_t k = 0; k < 1000; k++)
        cr_assert_eq(seqs[k], k + 1);
    reopen();
    cr_assert_eq(read_all(seqs, 1100, 1000), 1000);
    cr_assert_eq(seqs[999], 1000);
    cr_assert_eq(buyt_journal_ack(j, 700), 0); /* a random position inside segment 6 */
    st = stats();
    cr_assert_eq(st.oldest_seq, 701);
    cr_assert_eq(st.oldest_time_ms, 701000);
    cr_assert_eq(st.segments, 3);
}

Test(journal, zero_length_payload)
{
    open_j();
    uint64_t seq;
    cr_assert_eq(buyt_journal_append(j, 42, NULL, 0, &seq), 0);
    cr_assert_eq(seq, 1);
    cr_assert_eq(buyt_journal_append(j, 43, NULL, 1, &seq), BUYT_EINVAL);
    reopen();
    struct buyt_journal_batch b = batch(10, 0);
    b.buf = NULL;
    cr_assert_eq(buyt_journal_read_due(j, 0, &b), 0);
    cr_assert_eq(b.n, 1);
    cr_assert_eq(b.recs[0].seq, 1);
    cr_assert_eq(b.recs[0].len, 0);
    cr_assert_eq(b.recs[0].time_ms, 42);
    cr_assert_eq(stats().bytes, BUYT_JOURNAL_RECORD_OVERHEAD);
}

Test(journal, max_payload_64k)
{
    open_j();
    append_n(3, BUYT_JOURNAL_MAX_PAYLOAD);
    static uint8_t big[BUYT_JOURNAL_MAX_PAYLOAD + 1];
    cr_assert_eq(buyt_journal_append(j, 1, big, sizeof big, NULL), BUYT_ERANGE);
    cr_assert_eq(buyt_journal_next_seq(j), 4);
    reopen();
    struct buyt_journal_batch b = batch(10, BUYT_JOURNAL_MAX_PAYLOAD - 1);
    cr_assert_eq(buyt_journal_read_due(j, 0, &b), BUYT_ERANGE);
    b = batch(10, 2 * BUYT_JOURNAL_MAX_PAYLOAD);
    cr_assert_eq(buyt_journal_read_due(j, 0, &b), 0);
    cr_assert_eq(b.n, 2);
    cr_assert(payload_ok(&b.recs[0], BUYT_JOURNAL_MAX_PAYLOAD));
    cr_assert(payload_ok(&b.recs[1], BUYT_JOURNAL_MAX_PAYLOAD));
}

Test(journal, sent_ranges_stay_bounded_and_never_resend_early)
{
    open_j();
    append_n(1200, 10);
    for (uint64_t s = 1; s <= 1200; s += 2) /* 600 disjoint ranges, more than are kept */
        cr_assert_eq(buyt_journal_mark_sent(j, s, s, 5000), 0);
    size_t evens = 0;
    for (;;) {
        struct buyt_journal_batch b = batch(100, sizeof bbuf);
        cr_assert_eq(buyt_journal_read_due(j, 5000, &b), 0);
        if (b.n == 0)
            break;
        for (size_t i = 0; i < b.n; i++)
            cr_assert_eq(b.recs[i].seq % 2, 0, "seq %" PRIu64 " sent just now", b.recs[i].seq);
        evens += b.n;
        cr_assert_eq(buyt_journal_mark_sent(j, b.recs[0].seq, b.recs[b.n - 1].seq, 5000), 0);
    }
    cr_assert_gt(evens, 0); /* merged ranges may hide some unsent ones until they are stale */
    uint64_t seqs[1300];
    int64_t later = 5000 + 1000;
    size_t n = 0;
    for (;;) {
        struct buyt_journal_batch b = batch(100, sizeof bbuf);
        cr_assert_eq(buyt_journal_read_due(j, later, &b), 0);
        if (b.n == 0)
            break;
        for (size_t i = 0; i < b.n; i++)
            seqs[n++] = b.recs[i].seq;
        cr_assert_eq(buyt_journal_mark_sent(j, b.recs[0].seq, b.recs[b.n - 1].seq, later), 0);
    }
    cr_assert_eq(n, 1200); /* after resend_after_ms everything is due again */
    cr_assert_eq(seqs[0], 1);
    cr_assert_eq(seqs[1199], 1200);
}

Test(journal, second_open_is_refused)
{
    open_j();
    struct buyt_journal *other = NULL;
    cr_assert_eq(buyt_journal_open(&cfg, &other), -EWOULDBLOCK);
    cr_assert_null(other);
}

Test(journal, rejects_bad_config)
{
    struct buyt_journal *other = NULL;
    cfg.segment_bytes = 4096;
    cr_assert_eq(buyt_journal_open(&cfg, &other), BUYT_EINVAL);
    cfg.segment_bytes = SEG;
    cfg.max_bytes = SEG;
    cr_assert_eq(buyt_journal_open(&cfg, &other), BUYT_EINVAL);
}

/* A crash as the process sees it: SIGKILL at any point of the append loop (rarely mid-write). */
static size_t crash_len(uint64_t seq)
{
    return (size_t)((seq * 2654435761u) % 6000);
}

Test(journal, sigkill_during_appends_keeps_seqs_contiguous_and_payloads_intact)
{
    cfg.max_bytes = 4u * 1024 * 1024;
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct buyt_journal *c;
        if (buyt_journal_open(&cfg, &c))
            _exit(1);
        static uint8_t buf[8192];
        for (;;) {
            uint64_t seq = buyt_journal_next_seq(c);
            fill(buf, crash_len(seq), seq);
            if (buyt_journal_append(c, seq, buf, crash_len(seq), NULL))
                _exit(2);
        }
    }
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    cr_assert_eq(kill(pid, SIGKILL), 0);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status), "child exited early with %d", WEXITSTATUS(status));
    open_j();
    struct buyt_journal_stats st = stats();
    cr_log_info("after SIGKILL: last_seq=%" PRIu64 " records=%" PRIu64 " dropped=%" PRIu64
                " torn=%" PRIu64,
                st.last_seq, st.records, st.dropped, st.torn);
    cr_assert_gt(st.last_seq, 100);
    cr_assert_leq(st.torn, 1);
    cr_assert_eq(st.dropped + st.records, st.last_seq); /* nothing missing, nothing extra */
    cr_assert_eq(st.oldest_seq, st.dropped_through_seq + 1);
    uint64_t expect = st.oldest_seq, n = 0;
    for (;;) {
        struct buyt_journal_batch b = batch(4096, sizeof bbuf);
        cr_assert_eq(buyt_journal_read_due(j, 0, &b), 0);
        if (b.n == 0)
            break;
        for (size_t i = 0; i < b.n; i++) {
            cr_assert_eq(b.recs[i].seq, expect, "gap or duplicate at %" PRIu64, expect);
            cr_assert_eq(b.recs[i].time_ms, expect);
            cr_assert(payload_ok(&b.recs[i], crash_len(expect)), "payload of %" PRIu64, expect);
            expect++;
            n++;
        }
        cr_assert_eq(buyt_journal_mark_sent(j, b.recs[0].seq, b.recs[b.n - 1].seq, 0), 0);
    }
    cr_assert_eq(n, st.records);
    cr_assert_eq(expect, st.last_seq + 1);
    cr_assert_eq(append_n(1, 10), st.last_seq + 1);
}
