/* Spool files; see spool.h. */
#include "spool.h"

#include "error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* "BYSPOOL" and the batch's column layout as a digit (batch.h: BUYT_BATCH_LAYOUT). */
static const char MAGIC[7] = {'B', 'Y', 'S', 'P', 'O', 'O', 'L'};
#define HEADER_LEN 8

int buyt_spool_init_dir(const char *dir)
{
    if (mkdir(dir, 0750) && errno != EEXIST)
        return -errno;
    char bad[4096];
    snprintf(bad, sizeof bad, "%s/bad", dir);
    if (mkdir(bad, 0750) && errno != EEXIST)
        return -errno;
    return 0;
}

static void path_of(char *out, size_t len, const char *dir, uint64_t id)
{
    snprintf(out, len, "%s/%020" PRIu64 ".batch", dir, id);
}

static int put32(struct buyt_buf *o, uint32_t v) { return buyt_buf_put(o, &v, 4); }
static int put64(struct buyt_buf *o, uint64_t v) { return buyt_buf_put(o, &v, 8); }

/* Serialises in host byte order: spool files never leave the machine that wrote them. */
static int encode(const struct buyt_batch *b, struct buyt_buf *o)
{
    char layout = (char)('0' + BUYT_BATCH_LAYOUT);
    int rc = buyt_buf_put(o, MAGIC, sizeof MAGIC);
    rc |= buyt_buf_put(o, &layout, 1);
    rc |= put64(o, b->id);
    rc |= put32(o, b->records);
    rc |= put32(o, BUYT_TBL__COUNT);
    for (int t = 0; t < BUYT_TBL__COUNT; t++) {
        rc |= put32(o, b->rows[t]);
        rc |= put64(o, b->copy[t].len);
        rc |= buyt_buf_put(o, b->copy[t].p, b->copy[t].len);
    }
    rc |= put32(o, b->n_days);
    rc |= buyt_buf_put(o, b->days, b->n_days * sizeof b->days[0]);
    rc |= put32(o, b->n_progress);
    for (uint32_t i = 0; i < b->n_progress; i++) {
        const struct buyt_seqset *s = &b->progress[i].seqs;
        rc |= put32(o, (uint32_t)b->progress[i].vehicle);
        rc |= put64(o, s->base);
        rc |= put32(o, s->n);
        for (unsigned k = 0; k < s->n; k++) {
            rc |= put64(o, s->r[k].lo);
            rc |= put64(o, s->r[k].hi);
        }
    }
    if (rc)
        return BUYT_ENOMEM;
    uint32_t crc = (uint32_t)crc32(0L, o->p, (uInt)o->len);
    return put32(o, crc);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int buyt_spool_write(const char *dir, const struct buyt_batch *b, uint64_t *bytes_out)
{
    struct buyt_buf o = {0};
    int rc = encode(b, &o);
    if (rc) {
        buyt_buf_free(&o);
        return rc;
    }
    char tmp[4096], final[4096];
    snprintf(tmp, sizeof tmp, "%s/.tmp-%020" PRIu64, dir, b->id);
    path_of(final, sizeof final, dir, b->id);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        rc = -errno;
        buyt_buf_free(&o);
        return rc;
    }
    rc = write_all(fd, o.p, o.len);
    if (close(fd) && !rc)
        rc = -errno;
    if (!rc && rename(tmp, final))
        rc = -errno;
    if (rc)
        unlink(tmp);
    else if (bytes_out)
        *bytes_out = o.len;
    buyt_buf_free(&o);
    return rc;
}

/* Bounds-checked reader over a file image. */
struct rd {
    const uint8_t *p;
    size_t len, at;
    int bad;
};
static void take(struct rd *r, void *out, size_t n)
{
    if (r->bad || r->len - r->at < n) {
        r->bad = 1;
        memset(out, 0, n);
        return;
    }
    memcpy(out, r->p + r->at, n);
    r->at += n;
}
static uint32_t take32(struct rd *r)
{
    uint32_t v;
    take(r, &v, 4);
    return v;
}
static uint64_t take64(struct rd *r)
{
    uint64_t v;
    take(r, &v, 8);
    return v;
}

static int decode(const uint8_t *p, size_t len, struct buyt_batch *b)
{
    if (len < HEADER_LEN + 4 || memcmp(p, MAGIC, sizeof MAGIC) ||
        p[7] < '0' + BUYT_BATCH_LAYOUT_OLDEST || p[7] > '0' + BUYT_BATCH_LAYOUT)
        return BUYT_ECORRUPT;
    uint32_t want;
    memcpy(&want, p + len - 4, 4);
    if ((uint32_t)crc32(0L, p, (uInt)(len - 4)) != want)
        return BUYT_ECORRUPT;
    struct rd r = {p, len - 4, HEADER_LEN, 0};
    buyt_batch_reset(b);
    b->layout = (unsigned)(p[7] - '0');
    b->id = take64(&r);
    b->records = take32(&r);
    if (take32(&r) != BUYT_TBL__COUNT)
        return BUYT_ECORRUPT;
    for (int t = 0; t < BUYT_TBL__COUNT && !r.bad; t++) {
        b->rows[t] = take32(&r);
        uint64_t n = take64(&r);
        if (r.bad || n > r.len - r.at)
            return BUYT_ECORRUPT;
        b->copy[t].len = 0;
        if (buyt_buf_put(&b->copy[t], r.p + r.at, n))
            return BUYT_ENOMEM;
        r.at += n;
    }
    b->n_days = take32(&r);
    if (b->n_days > sizeof b->days / sizeof b->days[0])
        return BUYT_ECORRUPT;
    take(&r, b->days, b->n_days * sizeof b->days[0]);
    uint32_t np = take32(&r);
    for (uint32_t i = 0; i < np && !r.bad; i++) {
        struct buyt_seqset s;
        int32_t vehicle = (int32_t)take32(&r);
        buyt_seqset_init(&s, take64(&r));
        uint32_t n = take32(&r);
        if (n > BUYT_SEQSET_RANGES)
            return BUYT_ECORRUPT;
        s.n = (uint8_t)n;
        for (unsigned k = 0; k < n; k++) {
            s.r[k].lo = take64(&r);
            s.r[k].hi = take64(&r);
        }
        if (buyt_batch_add_progress(b, vehicle, &s))
            return BUYT_ENOMEM;
    }
    return r.bad || r.at != r.len ? BUYT_ECORRUPT : 0;
}

int buyt_spool_read(const char *dir, uint64_t id, struct buyt_batch *b)
{
    char path[4096];
    path_of(path, sizeof path, dir, id);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st)) {
        int e = -errno;
        close(fd);
        return e;
    }
    uint8_t *p = malloc(st.st_size ? (size_t)st.st_size : 1);
    if (!p) {
        close(fd);
        return BUYT_ENOMEM;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, p + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    int rc = got == (size_t)st.st_size ? decode(p, got, b) : BUYT_ECORRUPT;
    free(p);
    return rc;
}

int buyt_spool_remove(const char *dir, uint64_t id)
{
    char path[4096];
    path_of(path, sizeof path, dir, id);
    return unlink(path) ? -errno : 0;
}

int buyt_spool_quarantine(const char *dir, uint64_t id)
{
    char from[4096], to[4200];
    path_of(from, sizeof from, dir, id);
    snprintf(to, sizeof to, "%s/bad/%020" PRIu64 ".batch", dir, id);
    return rename(from, to) ? -errno : 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int buyt_spool_list(const char *dir, uint64_t **ids)
{
    *ids = NULL;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    size_t n = 0, cap = 0;
    uint64_t *v = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        if (strlen(e->d_name) != 26 || strcmp(e->d_name + 20, ".batch"))
            continue;
        uint64_t id = strtoull(e->d_name, &end, 10);
        if (end != e->d_name + 20)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            uint64_t *nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                free(v);
                closedir(d);
                return BUYT_ENOMEM;
            }
            v = nv;
        }
        v[n++] = id;
    }
    closedir(d);
    if (n)
        qsort(v, n, sizeof *v, cmp_u64);
    *ids = v;
    return (int)n;
}
