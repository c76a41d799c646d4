/* Store-and-forward journal: segment files of CRC-32C framed records plus an atomically
 * replaced state file (ack, seq high-water mark, lifetime counters). Format and policies are in
 * docs/JOURNAL.md; the API contract in journal.h.
 *
 * Memory is bounded and independent of the record count: one entry per segment, a 256-entry
 * ring locating the newest records, up to 256 "sent" ranges, and one read window. Any other
 * record is found by scanning its segment's headers from the nearest known position. */
#include "journal.h"

#include "clock.h"
#include "error.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define MOD "journal"

#define REC_MAGIC 0x314a5942u   /* "BYJ1" little-endian: record format version 1 */
#define STATE_MAGIC 0x53594a42u /* "BJYS" */
#define STATE_VERSION 1u
#define STATE_BYTES 64
#define HDR BUYT_JOURNAL_RECORD_OVERHEAD
#define TAIL_N 256               /* newest records whose position is remembered */
#define SPANS_MAX 256            /* sent ranges kept; more merge */
#define RBUF_BYTES (256u * 1024) /* read window: >= one whole record (HDR + 64 KiB) */
#define MIN_SEGMENT (128u * 1024)
#define MAX_SEGMENT (1024u * 1024 * 1024)
#define MAX_ACK_JUMP (UINT64_C(1) << 40) /* an ack further ahead than this is nonsense */
#define SEG_NAME_LEN 24                  /* "seg-" + 16 hex + ".log" */

struct seg {
    uint64_t first; /* seq of its first record: the file name */
    uint64_t count; /* records in the file, consecutive seqs */
    uint64_t bytes; /* file size */
};

/* Records first..last were handed to the broker at sent_ms (agent's monotonic clock). */
struct span {
    uint64_t first, last;
    int64_t sent_ms;
};

struct tail_ent {
    uint64_t seq; /* 0: empty */
    uint64_t seg_first;
    uint32_t off;
    uint32_t len;
};

struct buyt_journal {
    struct buyt_journal_config cfg;
    char *dir;
    int dir_fd; /* also holds the flock */

    struct seg *segs; /* sorted by first; the last one is the active one if act_fd >= 0 */
    size_t n_segs, cap_segs;
    int act_fd;
    uint64_t total_bytes;

    uint64_t last_seq;        /* last seq assigned (or skipped) */
    uint64_t synced_seq;      /* everything <= this is fsynced */
    uint64_t acked;           /* highest ack applied */
    uint64_t dropped_through; /* highest seq dropped */
    uint64_t dropped, torn, acks_clamped;
    int64_t dirty_since_ms; /* monotonic ms of the oldest unsynced append, 0 if none */
    bool dir_dirty;         /* a segment was created since the last directory fsync */
    bool state_dirty;       /* acked moved since the state file was written: saved lazily,
                             * losing it only re-sends acknowledged records (duplicates) */

    /* Read side: one fd for a non-active segment and a window of one segment's bytes. */
    int rd_fd;
    uint64_t rd_seg;
    uint8_t *rbuf;
    uint64_t rb_seg, rb_off;
    size_t rb_len;
    uint64_t cur_seq, cur_seg, cur_off; /* next record after the last read, 0 if unknown */

    struct tail_ent tail[TAIL_N];
    struct span *span_mem; /* 2 x (SPANS_MAX + 2): spans and spans_tmp, swapped */
    struct span *spans, *spans_tmp;
    size_t n_spans;

    uint64_t oldest_cache_seq, oldest_cache_time_ms;
};

/* ---- CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), slicing-by-8 ------------------- */

static uint32_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_tab[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int k = 1; k < 8; k++)
            crc_tab[k][i] = (crc_tab[k - 1][i] >> 8) ^ crc_tab[0][crc_tab[k - 1][i] & 0xff];
}

/* Continues `crc` (0 to start) over `n` bytes. Byte loads keep it endian-free. */
static uint32_t crc32c(uint32_t crc, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    crc = ~crc;
    while (n >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        uint32_t hi =
            (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        crc = crc_tab[7][lo & 0xff] ^ crc_tab[6][(lo >> 8) & 0xff] ^ crc_tab[5][(lo >> 16) & 0xff] ^
              crc_tab[4][lo >> 24] ^ crc_tab[3][hi & 0xff] ^ crc_tab[2][(hi >> 8) & 0xff] ^
              crc_tab[1][(hi >> 16) & 0xff] ^ crc_tab[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = crc_tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ---- little-endian fields ------------------------------------------------------------------ */

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* Record header: magic u32, len u32, seq u64, time_ms u64, crc u32 over bytes 0..23 + payload. */
struct hdr {
    uint32_t magic, len;
    uint64_t seq, time_ms;
    uint32_t crc;
};

static void hdr_encode(uint8_t *p, uint64_t seq, uint64_t time_ms, const void *payload,
                       uint32_t len)
{
    put32(p, REC_MAGIC);
    put32(p + 4, len);
    put64(p + 8, seq);
    put64(p + 16, time_ms);
    put32(p + 24, crc32c(crc32c(0, p, 24), payload, len));
}

static struct hdr hdr_decode(const uint8_t *p)
{
    return (struct hdr){get32(p), get32(p + 4), get64(p + 8), get64(p + 16), get32(p + 24)};
}

static bool hdr_plausible(const struct hdr *h)
{
    return h->magic == REC_MAGIC && h->len <= BUYT_JOURNAL_MAX_PAYLOAD;
}

static bool rec_crc_ok(const uint8_t *rec, const struct hdr *h)
{
    return crc32c(crc32c(0, rec, 24), rec + HDR, h->len) == h->crc;
}

/* ---- small helpers ------------------------------------------------------------------------- */

static int64_t mono_ms(void)
{
    int64_t ms = (int64_t)(buyt_mono_ns() / 1000000u);
    return ms > 0 ? ms : 1; /* 0 means "clean" */
}

static uint64_t max64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}
static uint64_t min64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static uint64_t seg_last(const struct seg *s)
{
    return s->first + s->count - 1;
}

/* Oldest seq that is neither acknowledged nor dropped. */
static uint64_t base_seq(const struct buyt_journal *j)
{
    return max64(j->acked, j->dropped_through) + 1;
}

static uint64_t durable_seq(const struct buyt_journal *j)
{
    return j->cfg.fsync == BUYT_JOURNAL_FSYNC_NEVER ? j->last_seq : j->synced_seq;
}

static void seg_name(char *buf, size_t len, uint64_t first)
{
    snprintf(buf, len, "seg-%016" PRIx64 ".log", first);
}

static bool seg_name_parse(const char *name, uint64_t *first)
{
    if (strlen(name) != SEG_NAME_LEN || strncmp(name, "seg-", 4) || strcmp(name + 20, ".log"))
        return false;
    uint64_t v = 0;
    for (int i = 4; i < 20; i++) {
        char c = name[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return false;
        v = v << 4 | (uint64_t)d;
    }
    *first = v;
    return v != 0;
}

static bool has_active(const struct buyt_journal *j)
{
    return j->act_fd >= 0;
}

static int close_fd(int *fd)
{
    int r = 0;
    if (*fd >= 0 && close(*fd) < 0)
        r = -errno;
    *fd = -1;
    return r;
}

static int fsync_fd(int fd, bool data_only)
{
    while ((data_only ? fdatasync(fd) : fsync(fd)) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}

/* ---- state file ---------------------------------------------------------------------------- */

/* Writes "state" atomically (state.tmp, [fdatasync], rename, [fsync dir]). The high-water mark
 * is the highest seq known durable or already gone, so a seq cut by a power cut before it was
 * fsynced (hence never published) is reused, and no deleted seq ever is. */
static int state_save(struct buyt_journal *j, bool durable)
{
    uint8_t b[STATE_BYTES] = {0};
    put32(b, STATE_MAGIC);
    put32(b + 4, STATE_VERSION);
    put64(b + 8, max64(durable_seq(j), base_seq(j) - 1));
    put64(b + 16, j->acked);
    put64(b + 24, j->dropped);
    put64(b + 32, j->dropped_through);
    put64(b + 40, j->torn);
    put32(b + 56, crc32c(0, b, 56));

    ssize_t w;
    int fd = openat(j->dir_fd, "state.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto fail;
    do
        w = write(fd, b, sizeof b);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)sizeof b) {
        if (w >= 0)
            errno = ENOSPC;
        goto fail_fd;
    }
    if (durable && fsync_fd(fd, true) < 0)
        goto fail_fd;
    if (close(fd) < 0)
        goto fail;
    if (renameat(j->dir_fd, "state.tmp", j->dir_fd, "state") < 0)
        goto fail;
    if (durable && fsync_fd(j->dir_fd, false) < 0)
        goto fail;
    j->state_dirty = false;
    return 0;
fail_fd:
    w = errno;
    close(fd);
    errno = (int)w;
fail:
    w = errno;
    BUYT_ERROR(MOD, "msg=\"state save failed\" dir=%s err=\"%s\"", j->dir, strerror((int)w));
    return (int)-w;
}

/* Loads "state" if present and intact; a missing or damaged file leaves zeros (logged). */
static void state_load(struct buyt_journal *j, uint64_t *hiwater)
{
    *hiwater = 0;
    int fd = openat(j->dir_fd, "state", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            BUYT_ERROR(MOD, "msg=\"state unreadable\" dir=%s err=\"%s\"", j->dir, strerror(errno));
        return;
    }
    uint8_t b[STATE_BYTES];
    ssize_t n = pread(fd, b, sizeof b, 0);
    close(fd);
    if (n != (ssize_t)sizeof b || get32(b) != STATE_MAGIC || get32(b + 4) != STATE_VERSION ||
        get32(b + 56) != crc32c(0, b, 56)) {
        BUYT_ERROR(MOD, "msg=\"state file damaged, ignored\" dir=%s", j->dir);
        return;
    }
    *hiwater = get64(b + 8);
    j->acked = get64(b + 16);
    j->dropped = get64(b + 24);
    j->dropped_through = get64(b + 32);
    j->torn = get64(b + 40);
}

/* ---- segments ------------------------------------------------------------------------------ */

static int segs_reserve(struct buyt_journal *j, size_t n)
{
    if (n <= j->cap_segs)
        return 0;
    size_t cap = j->cap_segs ? j->cap_segs : 16;
    while (cap < n)
        cap *= 2;
    struct seg *s = realloc(j->segs, cap * sizeof *s);
    if (!s)
        return BUYT_ENOMEM;
    j->segs = s;
    j->cap_segs = cap;
    return 0;
}

/* Index of the segment holding `seq`, or of the first one after it; n_segs if none. */
static size_t seg_find(const struct buyt_journal *j, uint64_t seq)
{
    size_t lo = 0, hi = j->n_segs;
    while (lo < hi) { /* first segment with last >= seq */
        size_t mid = lo + (hi - lo) / 2;
        if (seg_last(&j->segs[mid]) < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void read_cache_forget(struct buyt_journal *j, uint64_t seg_first)
{
    if (j->rb_seg == seg_first)
        j->rb_len = 0;
    if (j->rd_seg == seg_first)
        close_fd(&j->rd_fd);
    if (j->cur_seg == seg_first)
        j->cur_seq = 0;
}

/* Removes segment i from the array and the disk. */
static int seg_delete(struct buyt_journal *j, size_t i)
{
    struct seg s = j->segs[i];
    if (i == j->n_segs - 1 && has_active(j))
        close_fd(&j->act_fd);
    read_cache_forget(j, s.first);
    char name[32];
    seg_name(name, sizeof name, s.first);
    int r = 0;
    if (unlinkat(j->dir_fd, name, 0) < 0 && errno != ENOENT) {
        r = -errno;
        BUYT_ERROR(MOD, "msg=\"segment delete failed\" dir=%s seg=%s err=\"%s\"", j->dir, name,
                   strerror(errno));
    }
    j->total_bytes -= s.bytes;
    memmove(&j->segs[i], &j->segs[i + 1], (j->n_segs - i - 1) * sizeof *j->segs);
    j->n_segs--;
    return r;
}

static void spans_trim(struct buyt_journal *j)
{
    uint64_t base = base_seq(j);
    size_t k = 0;
    for (size_t i = 0; i < j->n_spans; i++) {
        struct span sp = j->spans[i];
        if (sp.last < base)
            continue;
        sp.first = max64(sp.first, base);
        j->spans[k++] = sp;
    }
    j->n_spans = k;
}

/* Deletes leading segments that hold nothing at or after base_seq(). The state file is saved
 * (durably) first: it carries the seq high-water mark once the records are gone. */
static int trim_head(struct buyt_journal *j)
{
    uint64_t base = base_seq(j);
    if (j->n_segs == 0 || seg_last(&j->segs[0]) >= base)
        return 0;
    int r = state_save(j, true);
    if (r < 0)
        return r;
    while (j->n_segs > 0 && seg_last(&j->segs[0]) < base) {
        int e = seg_delete(j, 0);
        if (e < 0 && r == 0)
            r = e;
    }
    return r;
}

/* Drops the oldest segment to make room: the one permitted loss, counted and logged. */
static int drop_oldest(struct buyt_journal *j)
{
    const struct seg *s = &j->segs[0];
    uint64_t base = base_seq(j), last = seg_last(s);
    if (last >= base) {
        uint64_t n = last - max64(s->first, base) + 1;
        j->dropped += n;
        j->dropped_through = last;
        BUYT_WARN(MOD,
                  "msg=\"journal full, dropped oldest records\" dir=%s first_seq=%" PRIu64
                  " last_seq=%" PRIu64 " records=%" PRIu64 " dropped_total=%" PRIu64,
                  j->dir, max64(s->first, base), last, n, j->dropped);
    }
    /* Segment 0 now ends before base_seq(): this saves the state, then deletes it. */
    int r = trim_head(j);
    spans_trim(j);
    return r;
}

/* fdatasyncs every segment holding records after synced_seq, and the directory if a segment
 * was created. */
static int sync_data(struct buyt_journal *j)
{
    if (j->synced_seq < j->last_seq) {
        size_t i = seg_find(j, j->synced_seq + 1);
        for (; i < j->n_segs; i++) {
            bool act = has_active(j) && i == j->n_segs - 1;
            int fd = j->act_fd;
            if (!act) {
                char name[32];
                seg_name(name, sizeof name, j->segs[i].first);
                fd = openat(j->dir_fd, name, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                    return -errno;
            }
            int r = fsync_fd(fd, true);
            if (!act)
                close(fd);
            if (r < 0) {
                BUYT_ERROR(MOD, "msg=\"fdatasync failed\" dir=%s err=\"%s\"", j->dir, strerror(-r));
                return r;
            }
        }
    }
    if (j->dir_dirty) {
        int r = fsync_fd(j->dir_fd, false);
        if (r < 0)
            return r;
        j->dir_dirty = false;
    }
    j->synced_seq = j->last_seq;
    j->dirty_since_ms = 0;
    return 0;
}

/* Closes the active segment (after syncing it unless the policy is NEVER). */
static int rollover(struct buyt_journal *j)
{
    if (j->cfg.fsync != BUYT_JOURNAL_FSYNC_NEVER) {
        int r = sync_data(j);
        if (r < 0)
            return r;
    }
    return close_fd(&j->act_fd);
}

static int seg_create(struct buyt_journal *j, uint64_t first)
{
    int r = segs_reserve(j, j->n_segs + 1);
    if (r < 0)
        return r;
    char name[32];
    seg_name(name, sizeof name, first);
    int fd = openat(j->dir_fd, name, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        r = -errno;
        BUYT_ERROR(MOD, "msg=\"segment create failed\" dir=%s seg=%s err=\"%s\"", j->dir, name,
                   strerror(errno));
        return r;
    }
    read_cache_forget(j, first);
    j->segs[j->n_segs++] = (struct seg){first, 0, 0};
    j->act_fd = fd;
    j->dir_dirty = true;
    return 0;
}

/* ---- reading ------------------------------------------------------------------------------- */

static int seg_fd(struct buyt_journal *j, uint64_t seg_first)
{
    if (has_active(j) && j->segs[j->n_segs - 1].first == seg_first)
        return j->act_fd;
    if (j->rd_fd >= 0 && j->rd_seg == seg_first)
        return j->rd_fd;
    close_fd(&j->rd_fd);
    char name[32];
    seg_name(name, sizeof name, seg_first);
    j->rd_fd = openat(j->dir_fd, name, O_RDONLY | O_CLOEXEC);
    if (j->rd_fd < 0)
        return -errno;
    j->rd_seg = seg_first;
    return j->rd_fd;
}

/* Makes bytes [off, off + need) of segment seg_first available at j->rbuf + (off - rb_off).
 * Returns 0, 1 if the file ends before, or a negative errno. */
static int window(struct buyt_journal *j, uint64_t seg_first, uint64_t off, size_t need)
{
    if (j->rb_len && j->rb_seg == seg_first && off >= j->rb_off &&
        off + need <= j->rb_off + j->rb_len)
        return 0;
    int fd = seg_fd(j, seg_first);
    if (fd < 0)
        return fd;
    size_t got = 0;
    j->rb_len = 0;
    while (got < need) {
        ssize_t n = pread(fd, j->rbuf + got, RBUF_BYTES - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    j->rb_seg = seg_first;
    j->rb_off = off;
    j->rb_len = got;
    return got >= need ? 0 : 1;
}

static const uint8_t *window_at(const struct buyt_journal *j, uint64_t off)
{
    return j->rbuf + (off - j->rb_off);
}

static int corrupt(struct buyt_journal *j, uint64_t seg_first, uint64_t off, uint64_t seq)
{
    BUYT_ERROR(MOD,
               "msg=\"record damaged after open; reopen the journal to cut it\" dir=%s "
               "seg=%016" PRIx64 " off=%" PRIu64 " seq=%" PRIu64,
               j->dir, seg_first, off, seq);
    return BUYT_ECORRUPT;
}

/* Offset of record `seq` inside segment i (which holds it), walking headers from the nearest
 * known position: segment start, the newest-records ring, or the last read position. */
static int locate(struct buyt_journal *j, size_t i, uint64_t seq, uint64_t *off_out)
{
    const struct seg *s = &j->segs[i];
    uint64_t at = s->first, off = 0;
    const struct tail_ent *t = &j->tail[seq % TAIL_N];
    if (t->seq == seq && t->seg_first == s->first) {
        *off_out = t->off;
        return 0;
    }
    if (j->cur_seq && j->cur_seg == s->first && j->cur_seq <= seq) {
        at = j->cur_seq;
        off = j->cur_off;
    }
    while (at < seq) {
        int r = window(j, s->first, off, HDR);
        if (r < 0)
            return r;
        struct hdr h = hdr_decode(window_at(j, off));
        if (r > 0 || !hdr_plausible(&h) || h.seq != at)
            return corrupt(j, s->first, off, at);
        off += HDR + h.len;
        at++;
    }
    *off_out = off;
    return 0;
}

/* Copies records from..to (inclusive, holes skipped) into b, within its bounds. */
static int read_range(struct buyt_journal *j, uint64_t from, uint64_t to,
                      struct buyt_journal_batch *b)
{
    b->n = 0;
    b->bytes = 0;
    if (!b->recs || !b->max_recs || (!b->buf && b->buf_len))
        return BUYT_EINVAL;
    size_t i = seg_find(j, from);
    if (i == j->n_segs || from > to)
        return 0;
    uint64_t seq = max64(from, j->segs[i].first), off = 0;
    int r = locate(j, i, seq, &off);
    if (r < 0)
        return r;
    while (b->n < b->max_recs && seq <= to) {
        const struct seg *s = &j->segs[i];
        if (seq > seg_last(s)) {
            if (++i == j->n_segs)
                break;
            seq = j->segs[i].first;
            off = 0;
            continue;
        }
        r = window(j, s->first, off, HDR);
        if (r < 0)
            return r;
        struct hdr h = hdr_decode(window_at(j, off));
        if (r > 0 || !hdr_plausible(&h) || h.seq != seq)
            return corrupt(j, s->first, off, seq);
        if (b->bytes + h.len > b->buf_len) {
            if (b->n == 0)
                return BUYT_ERANGE;
            break;
        }
        r = window(j, s->first, off, HDR + h.len);
        if (r < 0)
            return r;
        const uint8_t *rec = window_at(j, off);
        if (r > 0 || !rec_crc_ok(rec, &h))
            return corrupt(j, s->first, off, seq);
        if (h.len)
            memcpy(b->buf + b->bytes, rec + HDR, h.len);
        const uint8_t *p = b->buf ? b->buf + b->bytes : NULL;
        b->recs[b->n++] = (struct buyt_journal_rec){seq, h.time_ms, p, h.len};
        b->bytes += h.len;
        off += HDR + h.len;
        seq++;
        j->cur_seg = s->first;
        j->cur_seq = seq;
        j->cur_off = off;
    }
    return 0;
}

/* ---- recovery ------------------------------------------------------------------------------ */

/* Validates segment i record by record and cuts it at the first bad one. `next_first` is the
 * next segment's first seq (0 for the last segment). Sets *skip_to to the highest seq that must
 * not be reused (records seen intact after a bad one: media damage, maybe published). */
static int seg_recover(struct buyt_journal *j, size_t i, uint64_t next_first, uint64_t *skip_to)
{
    struct seg *s = &j->segs[i];
    char name[32];
    seg_name(name, sizeof name, s->first);
    int fd = seg_fd(j, s->first);
    if (fd < 0)
        return fd;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    uint64_t size = (uint64_t)st.st_size, off = 0, seq = s->first;
    bool bad = false;
    while (off < size) {
        int r = window(j, s->first, off, HDR);
        if (r < 0)
            return r;
        struct hdr h = hdr_decode(window_at(j, off));
        if (r > 0 || !hdr_plausible(&h) || h.seq != seq || off + HDR + h.len > size) {
            bad = true;
            break;
        }
        r = window(j, s->first, off, HDR + h.len);
        if (r < 0)
            return r;
        if (r > 0 || !rec_crc_ok(window_at(j, off), &h)) {
            bad = true;
            break;
        }
        off += HDR + h.len;
        seq++;
    }
    s->count = seq - s->first;
    s->bytes = off;
    if (!bad)
        return 0;

    /* Records lost: up to the next segment, or (last segment) the bad one plus any whole
     * records after it. Records after the bad one mean media damage, not a torn write, so
     * their seqs may have been published: they are not reused. */
    uint64_t lost = 1, pos = off;
    if (next_first > seq) {
        lost = next_first - seq;
    } else if (next_first == 0) {
        struct hdr h = {0};
        if (window(j, s->first, pos, HDR) == 0)
            h = hdr_decode(window_at(j, pos));
        if (hdr_plausible(&h)) {
            for (pos += HDR + h.len; pos + HDR <= size; pos += HDR + h.len) {
                if (window(j, s->first, pos, HDR) != 0)
                    break;
                h = hdr_decode(window_at(j, pos));
                if (!hdr_plausible(&h) || h.seq != seq + lost || pos + HDR + h.len > size)
                    break;
                *skip_to = max64(*skip_to, h.seq);
                lost++;
            }
        }
    }
    j->torn += lost;
    BUYT_WARN(MOD,
              "msg=\"cut damaged segment\" dir=%s seg=%s at_off=%" PRIu64 " at_seq=%" PRIu64
              " size=%" PRIu64 " records_lost=%" PRIu64,
              j->dir, name, off, seq, size, lost);
    read_cache_forget(j, s->first);
    int wfd = openat(j->dir_fd, name, O_WRONLY | O_CLOEXEC);
    if (wfd < 0)
        return -errno;
    int r = ftruncate(wfd, (off_t)off) < 0 ? -errno : 0;
    if (r == 0 && j->cfg.fsync != BUYT_JOURNAL_FSYNC_NEVER)
        r = fsync_fd(wfd, true);
    close(wfd);
    return r;
}

static int seg_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct seg *)a)->first, y = ((const struct seg *)b)->first;
    return x < y ? -1 : x > y;
}

static int list_segments(struct buyt_journal *j)
{
    int fd = openat(j->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return -e;
    }
    int r = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        uint64_t first;
        if (!strcmp(e->d_name, "state.tmp"))
            unlinkat(j->dir_fd, e->d_name, 0);
        if (!seg_name_parse(e->d_name, &first))
            continue;
        if ((r = segs_reserve(j, j->n_segs + 1)) < 0)
            break;
        j->segs[j->n_segs++] = (struct seg){first, 0, 0};
    }
    closedir(d);
    if (r == 0 && j->n_segs > 1)
        qsort(j->segs, j->n_segs, sizeof *j->segs, seg_cmp);
    return r;
}

static int recover(struct buyt_journal *j)
{
    uint64_t hiwater, skip_to = 0;
    state_load(j, &hiwater);
    int r = list_segments(j);
    if (r < 0)
        return r;
    for (size_t i = 0; i < j->n_segs; i++) {
        uint64_t next = i + 1 < j->n_segs ? j->segs[i + 1].first : 0;
        if ((r = seg_recover(j, i, next, &skip_to)) < 0)
            return r;
    }
    /* Remove empty segments and any that overlap the one before (never written so). */
    j->total_bytes = 0;
    for (size_t i = 0; i < j->n_segs; i++)
        j->total_bytes += j->segs[i].bytes;
    for (size_t i = 0; i < j->n_segs;) {
        bool overlap = i > 0 && j->segs[i].first <= seg_last(&j->segs[i - 1]);
        if (j->segs[i].count == 0 || overlap) {
            if (overlap)
                BUYT_ERROR(MOD, "msg=\"overlapping segment deleted\" dir=%s first=%" PRIu64, j->dir,
                           j->segs[i].first);
            if ((r = seg_delete(j, i)) < 0)
                return r;
            continue;
        }
        i++;
    }
    uint64_t last_rec = j->n_segs ? seg_last(&j->segs[j->n_segs - 1]) : 0;
    j->last_seq = max64(max64(hiwater, skip_to), max64(last_rec, base_seq(j) - 1));
    if (j->n_segs) {
        /* What a crashed process left in the page cache becomes durable (hence publishable)
         * before the state file can record it as the high-water mark. */
        char name[32];
        seg_name(name, sizeof name, j->segs[j->n_segs - 1].first);
        j->act_fd = openat(j->dir_fd, name, O_RDWR | O_APPEND | O_CLOEXEC);
        if (j->act_fd < 0)
            return -errno;
        close_fd(&j->rd_fd);
        if (j->cfg.fsync != BUYT_JOURNAL_FSYNC_NEVER && (r = fsync_fd(j->act_fd, true)) < 0)
            return r;
        /* Keep appending to it only if its seqs run up to last_seq. */
        if (last_rec != j->last_seq)
            close_fd(&j->act_fd);
    }
    j->synced_seq = j->last_seq;
    if ((r = trim_head(j)) < 0)
        return r;
    while (j->total_bytes > j->cfg.max_bytes && j->n_segs > 1)
        if ((r = drop_oldest(j)) < 0)
            return r;
    return state_save(j, true);
}

/* ---- public API ---------------------------------------------------------------------------- */

void buyt_journal_config_init(struct buyt_journal_config *cfg, const char *dir)
{
    *cfg = (struct buyt_journal_config){
        .dir = dir,
        .max_bytes = 64u * 1024 * 1024,
        .segment_bytes = 1024u * 1024,
        .fsync = BUYT_JOURNAL_FSYNC_INTERVAL,
        .fsync_interval_ms = 1000,
        .resend_after_ms = 30000,
    };
}

int buyt_journal_open(const struct buyt_journal_config *cfg, struct buyt_journal **out)
{
    *out = NULL;
    if (!cfg->dir || !*cfg->dir || cfg->segment_bytes < MIN_SEGMENT ||
        cfg->segment_bytes > MAX_SEGMENT || cfg->max_bytes < 2 * (uint64_t)cfg->segment_bytes ||
        cfg->fsync > BUYT_JOURNAL_FSYNC_NEVER ||
        (cfg->fsync == BUYT_JOURNAL_FSYNC_INTERVAL && cfg->fsync_interval_ms == 0))
        return BUYT_EINVAL;
    pthread_once(&crc_once, crc_init);
    struct buyt_journal *j = calloc(1, sizeof *j);
    if (!j)
        return BUYT_ENOMEM;
    j->cfg = *cfg;
    j->dir_fd = j->act_fd = j->rd_fd = -1;
    j->dir = strdup(cfg->dir);
    j->rbuf = malloc(RBUF_BYTES);
    j->span_mem = malloc(2 * (SPANS_MAX + 2) * sizeof *j->span_mem);
    int r = BUYT_ENOMEM;
    if (!j->dir || !j->rbuf || !j->span_mem)
        goto fail;
    j->spans = j->span_mem;
    j->spans_tmp = j->span_mem + SPANS_MAX + 2;
    if (mkdir(cfg->dir, 0755) < 0 && errno != EEXIST) {
        r = -errno;
        goto fail;
    }
    j->dir_fd = open(cfg->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (j->dir_fd < 0) {
        r = -errno;
        goto fail;
    }
    if (flock(j->dir_fd, LOCK_EX | LOCK_NB) < 0) {
        r = -errno;
        goto fail;
    }
    if ((r = recover(j)) < 0)
        goto fail;
    BUYT_INFO(MOD,
              "msg=opened dir=%s segments=%zu bytes=%" PRIu64 " last_seq=%" PRIu64 " acked=%" PRIu64
              " torn_total=%" PRIu64 " dropped_total=%" PRIu64,
              j->dir, j->n_segs, j->total_bytes, j->last_seq, j->acked, j->torn, j->dropped);
    *out = j;
    return 0;
fail:
    BUYT_ERROR(MOD, "msg=\"open failed\" dir=%s err=\"%s\"", cfg->dir, buyt_strerror(r));
    j->cfg.fsync = BUYT_JOURNAL_FSYNC_NEVER; /* close without syncing or saving */
    j->state_dirty = false;
    close_fd(&j->act_fd);
    buyt_journal_close(j);
    return r;
}

int buyt_journal_close(struct buyt_journal *j)
{
    if (!j)
        return 0;
    int r = 0;
    if (j->dir_fd >= 0 && j->cfg.fsync != BUYT_JOURNAL_FSYNC_NEVER)
        r = buyt_journal_sync(j);
    if (j->dir_fd >= 0 && j->state_dirty) {
        int e = state_save(j, j->cfg.fsync != BUYT_JOURNAL_FSYNC_NEVER);
        r = r ? r : e;
    }
    int e = close_fd(&j->act_fd);
    r = r ? r : e;
    close_fd(&j->rd_fd);
    close_fd(&j->dir_fd); /* releases the flock */
    free(j->segs);
    free(j->span_mem);
    free(j->rbuf);
    free(j->dir);
    free(j);
    return r;
}

uint64_t buyt_journal_next_seq(const struct buyt_journal *j)
{
    return j->last_seq + 1;
}

/* Undoes a failed append on the active segment: truncate back, forget a new empty segment. */
static void append_undo(struct buyt_journal *j)
{
    struct seg *s = &j->segs[j->n_segs - 1];
    read_cache_forget(j, s->first);
    if (s->count == 0) {
        seg_delete(j, j->n_segs - 1);
        return;
    }
    if (ftruncate(j->act_fd, (off_t)s->bytes) < 0)
        BUYT_ERROR(MOD, "msg=\"undo of failed append failed\" dir=%s err=\"%s\"", j->dir,
                   strerror(errno));
}

static int write_all(int fd, const uint8_t *hdr, const void *payload, size_t len)
{
    struct iovec iov[2] = {{(void *)hdr, HDR}, {(void *)payload, len}};
    int n_iov = len ? 2 : 1;
    struct iovec *v = iov;
    while (n_iov > 0) {
        ssize_t w = writev(fd, v, n_iov);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        if (w == 0)
            return -ENOSPC;
        while (n_iov > 0 && (size_t)w >= v->iov_len) {
            w -= (ssize_t)v->iov_len;
            v++;
            n_iov--;
        }
        if (n_iov > 0) {
            v->iov_base = (uint8_t *)v->iov_base + w;
            v->iov_len -= (size_t)w;
        }
    }
    return 0;
}

int buyt_journal_append(struct buyt_journal *j, uint64_t time_ms, const void *payload, size_t len,
                        uint64_t *seq_out)
{
    if (len > BUYT_JOURNAL_MAX_PAYLOAD)
        return BUYT_ERANGE;
    if (!payload && len)
        return BUYT_EINVAL;
    const uint64_t rec = HDR + len, seq = j->last_seq + 1;
    int r;
    if (has_active(j)) {
        const struct seg *a = &j->segs[j->n_segs - 1];
        /* Full, or not ending at last_seq (the seq counter moved past an ack). */
        if (a->count > 0 && (a->bytes + rec > j->cfg.segment_bytes || seg_last(a) != seq - 1))
            if ((r = rollover(j)) < 0)
                return r;
    }
    while (j->total_bytes + rec > j->cfg.max_bytes && j->n_segs > (has_active(j) ? 1u : 0u))
        if ((r = drop_oldest(j)) < 0)
            return r;
    uint8_t hdr[HDR];
    hdr_encode(hdr, seq, time_ms, payload, (uint32_t)len);
    for (;;) {
        if (!has_active(j) && (r = seg_create(j, seq)) < 0)
            return r;
        r = write_all(j->act_fd, hdr, payload, len);
        /* ALWAYS: earlier segments were synced at rollover, so the active one is all. */
        if (r == 0 && j->cfg.fsync == BUYT_JOURNAL_FSYNC_ALWAYS) {
            r = fsync_fd(j->act_fd, true);
            if (r == 0 && j->dir_dirty && (r = fsync_fd(j->dir_fd, false)) == 0)
                j->dir_dirty = false;
        }
        if (r == 0)
            break;
        append_undo(j);
        /* A full file system before our own bound: make room the same counted way. */
        if (r != -ENOSPC || j->n_segs <= (has_active(j) ? 1u : 0u)) {
            BUYT_ERROR(MOD, "msg=\"append failed\" dir=%s seq=%" PRIu64 " err=\"%s\"", j->dir, seq,
                       strerror(-r));
            return r;
        }
        if ((r = drop_oldest(j)) < 0)
            return r;
    }
    struct seg *s = &j->segs[j->n_segs - 1];
    j->tail[seq % TAIL_N] = (struct tail_ent){seq, s->first, (uint32_t)s->bytes, (uint32_t)len};
    s->count++;
    s->bytes += rec;
    j->total_bytes += rec;
    j->last_seq = seq;
    if (seq_out)
        *seq_out = seq;
    if (j->cfg.fsync == BUYT_JOURNAL_FSYNC_ALWAYS) {
        j->synced_seq = seq;
    } else if (j->cfg.fsync == BUYT_JOURNAL_FSYNC_INTERVAL) {
        int64_t now = mono_ms();
        if (!j->dirty_since_ms)
            j->dirty_since_ms = now;
        else if (now - j->dirty_since_ms >= (int64_t)j->cfg.fsync_interval_ms)
            (void)buyt_journal_sync(j); /* failure logged; the timer's sync retries, reports */
    }
    return 0;
}

int buyt_journal_ack(struct buyt_journal *j, uint64_t stored_through_seq)
{
    int ret = 0;
    uint64_t ack = stored_through_seq;
    if (ack > j->last_seq) {
        /* The engine holds seqs this device does not (journal lost or cut after publishing):
         * new records must not reuse them, or the engine would discard them as duplicates. */
        if (ack - j->last_seq > MAX_ACK_JUMP) {
            BUYT_ERROR(MOD,
                       "msg=\"implausible ack ignored\" dir=%s ack=%" PRIu64 " last_seq=%" PRIu64,
                       j->dir, ack, j->last_seq);
            j->acks_clamped++;
            return BUYT_ERANGE;
        }
        BUYT_WARN(MOD,
                  "msg=\"ack beyond last seq: seq counter advanced\" dir=%s ack=%" PRIu64
                  " last_seq=%" PRIu64,
                  j->dir, ack, j->last_seq);
        j->acks_clamped++;
        if (j->synced_seq == j->last_seq)
            j->synced_seq = ack; /* nothing written in between */
        j->last_seq = ack;
        ret = BUYT_ERANGE;
    }
    if (ack <= j->acked)
        return ret;
    j->acked = ack;
    j->state_dirty = true;
    spans_trim(j);
    int r = trim_head(j);
    if (r == 0 && ret)
        r = state_save(j, true); /* the advanced seq counter must survive */
    return r ? r : ret;
}

int buyt_journal_read_live(struct buyt_journal *j, struct buyt_journal_batch *b)
{
    uint64_t start = base_seq(j), end = durable_seq(j);
    if (j->n_spans)
        start = max64(start, j->spans[j->n_spans - 1].last + 1);
    if (start > end) {
        b->n = b->bytes = 0;
        return 0;
    }
    /* Walk back from the newest while the ring knows the records and they fit. */
    uint64_t first = end;
    const struct tail_ent *t = &j->tail[end % TAIL_N];
    if (t->seq == end) {
        uint64_t bytes = t->len;
        while (first > start && end - first + 1 < b->max_recs) {
            t = &j->tail[(first - 1) % TAIL_N];
            if (t->seq != first - 1 || bytes + t->len > b->buf_len)
                break;
            bytes += t->len;
            first--;
        }
    }
    return read_range(j, first, end, b);
}

int buyt_journal_read_due(struct buyt_journal *j, int64_t now_ms, struct buyt_journal_batch *b)
{
    const int64_t stale_before = now_ms - (int64_t)j->cfg.resend_after_ms;
    uint64_t cand = base_seq(j), end = durable_seq(j);
    size_t i = 0;
    for (; i < j->n_spans; i++) { /* first seq not in a fresh span */
        const struct span *sp = &j->spans[i];
        if (sp->last < cand)
            continue;
        if (cand < sp->first || sp->sent_ms <= stale_before)
            break;
        cand = sp->last + 1;
    }
    for (; i < j->n_spans; i++) { /* the run ends before the next fresh span */
        const struct span *sp = &j->spans[i];
        if (sp->sent_ms > stale_before && sp->first > cand) {
            end = min64(end, sp->first - 1);
            break;
        }
    }
    if (cand > end) {
        b->n = b->bytes = 0;
        return 0;
    }
    return read_range(j, cand, end, b);
}

/* Merges spans i and i+1 into one sent at the later time (delays a resend, never skips one). */
static void spans_merge(struct buyt_journal *j, size_t i)
{
    struct span *a = &j->spans[i];
    const struct span *c = &j->spans[i + 1];
    a->last = c->last;
    a->sent_ms = a->sent_ms > c->sent_ms ? a->sent_ms : c->sent_ms;
    memmove(&j->spans[i + 1], &j->spans[i + 2], (j->n_spans - i - 2) * sizeof *j->spans);
    j->n_spans--;
}

int buyt_journal_mark_sent(struct buyt_journal *j, uint64_t first_seq, uint64_t last_seq,
                           int64_t now_ms)
{
    if (first_seq > last_seq)
        return BUYT_EINVAL;
    first_seq = max64(first_seq, base_seq(j));
    last_seq = min64(last_seq, j->last_seq);
    if (first_seq > last_seq)
        return 0;
    /* Rebuild: pieces before the new range, the range, pieces after it. */
    struct span *o = j->spans_tmp;
    size_t n = 0;
    for (size_t i = 0; i < j->n_spans; i++) {
        const struct span *sp = &j->spans[i];
        if (sp->first < first_seq)
            o[n++] = (struct span){sp->first, min64(sp->last, first_seq - 1), sp->sent_ms};
    }
    o[n++] = (struct span){first_seq, last_seq, now_ms};
    for (size_t i = 0; i < j->n_spans; i++) {
        const struct span *sp = &j->spans[i];
        if (sp->last > last_seq)
            o[n++] = (struct span){max64(sp->first, last_seq + 1), sp->last, sp->sent_ms};
    }
    /* Coalesce contiguous ranges sent at the same time. */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k && o[k - 1].last + 1 == o[i].first && o[k - 1].sent_ms == o[i].sent_ms)
            o[k - 1].last = o[i].last;
        else
            o[k++] = o[i];
    }
    struct span *tmp = j->spans;
    j->spans = o;
    j->spans_tmp = tmp;
    j->n_spans = k;
    /* Over the bound: merge the closest neighbours (contiguous first, then smallest gap). */
    while (j->n_spans > SPANS_MAX) {
        size_t best = 0;
        uint64_t best_gap = UINT64_MAX;
        uint64_t best_dt = UINT64_MAX;
        for (size_t i = 0; i + 1 < j->n_spans; i++) {
            const struct span *a = &j->spans[i], *c = &j->spans[i + 1];
            uint64_t gap = c->first - a->last - 1;
            int64_t d = a->sent_ms - c->sent_ms;
            uint64_t dt = d < 0 ? (uint64_t)-d : (uint64_t)d;
            if (gap < best_gap || (gap == best_gap && dt < best_dt)) {
                best = i;
                best_gap = gap;
                best_dt = dt;
            }
        }
        spans_merge(j, best);
    }
    return 0;
}

void buyt_journal_rewind(struct buyt_journal *j)
{
    j->n_spans = 0;
}

int buyt_journal_sync(struct buyt_journal *j)
{
    return sync_data(j);
}

int64_t buyt_journal_dirty_since_ms(const struct buyt_journal *j)
{
    return j->cfg.fsync == BUYT_JOURNAL_FSYNC_NEVER ? 0 : j->dirty_since_ms;
}

int buyt_journal_stats(struct buyt_journal *j, struct buyt_journal_stats *out)
{
    const uint64_t base = base_seq(j);
    *out = (struct buyt_journal_stats){
        .bytes = j->total_bytes,
        .segments = (uint32_t)j->n_segs,
        .last_seq = j->last_seq,
        .durable_seq = durable_seq(j),
        .acked_seq = j->acked,
        .dropped = j->dropped,
        .dropped_through_seq = j->dropped_through,
        .torn = j->torn,
        .acks_clamped = j->acks_clamped,
    };
    for (size_t i = 0; i < j->n_segs; i++) {
        const struct seg *s = &j->segs[i];
        if (seg_last(s) >= base)
            out->records += seg_last(s) - max64(s->first, base) + 1;
    }
    size_t i = seg_find(j, base);
    if (i == j->n_segs)
        return 0;
    uint64_t seq = max64(base, j->segs[i].first);
    out->oldest_seq = seq;
    if (j->oldest_cache_seq != seq) {
        uint64_t off;
        int r = locate(j, i, seq, &off);
        if (r == 0)
            r = window(j, j->segs[i].first, off, HDR);
        if (r != 0)
            return r < 0 ? r : BUYT_ECORRUPT;
        j->oldest_cache_seq = seq;
        j->oldest_cache_time_ms = hdr_decode(window_at(j, off)).time_ms;
    }
    out->oldest_time_ms = j->oldest_cache_time_ms;
    return 0;
}
