/* Seq interval set; see seqset.h. Ranges are few (<= 8): linear scans beat anything clever. */
#include "seqset.h"

#include <string.h>

void buyt_seqset_init(struct buyt_seqset *s, uint64_t base)
{
    memset(s, 0, sizeof *s);
    s->base = base;
}

bool buyt_seqset_has(const struct buyt_seqset *s, uint64_t seq)
{
    if (seq <= s->base)
        return true;
    for (unsigned i = 0; i < s->n; i++)
        if (seq >= s->r[i].lo && seq <= s->r[i].hi)
            return true;
    return false;
}

uint64_t buyt_seqset_max(const struct buyt_seqset *s)
{
    return s->n ? s->r[s->n - 1].hi : s->base;
}

uint64_t buyt_seqset_missing(const struct buyt_seqset *s)
{
    uint64_t miss = 0, prev = s->base;
    for (unsigned i = 0; i < s->n; i++) {
        miss += s->r[i].lo - prev - 1;
        prev = s->r[i].hi;
    }
    return miss;
}

static void normalise(struct buyt_seqset *s);

uint64_t buyt_seqset_skip_through(struct buyt_seqset *s, uint64_t seq)
{
    if (seq <= s->base)
        return 0;
    uint64_t present = 0;
    for (unsigned i = 0; i < s->n && s->r[i].lo <= seq; i++)
        present += (s->r[i].hi < seq ? s->r[i].hi : seq) - s->r[i].lo + 1;
    uint64_t missing = seq - s->base - present;
    s->base = seq;
    normalise(s);
    return missing;
}

static void remove_range(struct buyt_seqset *s, unsigned i)
{
    memmove(&s->r[i], &s->r[i + 1], (s->n - i - 1) * sizeof s->r[0]);
    s->n--;
}

/* Folds ranges that now touch the base into it, and merges adjacent ranges. */
static void normalise(struct buyt_seqset *s)
{
    while (s->n && s->r[0].lo <= s->base + 1) {
        if (s->r[0].hi > s->base)
            s->base = s->r[0].hi;
        remove_range(s, 0);
    }
    for (unsigned i = 0; i + 1 < s->n;) {
        if (s->r[i].hi + 1 >= s->r[i + 1].lo) {
            if (s->r[i + 1].hi > s->r[i].hi)
                s->r[i].hi = s->r[i + 1].hi;
            remove_range(s, i + 1);
        } else {
            i++;
        }
    }
}

enum buyt_seqset_add buyt_seqset_add(struct buyt_seqset *s, uint64_t seq, uint64_t *gap_out)
{
    if (gap_out)
        *gap_out = 0;
    if (buyt_seqset_has(s, seq))
        return BUYT_SEQSET_DUPLICATE;
    uint64_t max = buyt_seqset_max(s);
    if (seq == s->base + 1) {
        s->base = seq;
        normalise(s);
        return BUYT_SEQSET_ADDED;
    }
    /* Extends an existing range at either end? */
    for (unsigned i = 0; i < s->n; i++) {
        if (seq + 1 == s->r[i].lo || seq == s->r[i].hi + 1) {
            if (seq + 1 == s->r[i].lo)
                s->r[i].lo = seq;
            else
                s->r[i].hi = seq;
            normalise(s);
            return BUYT_SEQSET_ADDED;
        }
    }
    if (s->n == BUYT_SEQSET_RANGES)
        return BUYT_SEQSET_FULL;
    unsigned at = 0;
    while (at < s->n && s->r[at].lo < seq)
        at++;
    memmove(&s->r[at + 1], &s->r[at], (s->n - at) * sizeof s->r[0]);
    s->r[at].lo = s->r[at].hi = seq;
    s->n++;
    if (gap_out && seq > max)
        *gap_out = seq - max - 1;
    return BUYT_SEQSET_ADDED;
}
