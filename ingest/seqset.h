/* A vehicle's set of accepted record seqs, as a base ("every seq <= base is in the set") plus
 * a few disjoint ranges above it. Journal replay sends old records while live ones keep coming,
 * so the set is typically [..base] + one live range; gaps show up as separate ranges.
 * Fixed size, no allocation: it lives inside the per-vehicle state. */
#ifndef BUYT_SEQSET_H
#define BUYT_SEQSET_H

#include <stdbool.h>
#include <stdint.h>

#define BUYT_SEQSET_RANGES 8

struct buyt_seqset {
    uint64_t base;                      /* every seq in 1..base is in the set */
    uint8_t n;                          /* ranges in use */
    struct { uint64_t lo, hi; } r[BUYT_SEQSET_RANGES]; /* sorted, disjoint, lo > base + 1 */
};

enum buyt_seqset_add {
    BUYT_SEQSET_ADDED = 0,     /* new seq, now in the set */
    BUYT_SEQSET_DUPLICATE = 1, /* already in the set */
    BUYT_SEQSET_FULL = 2,      /* would need a range beyond capacity: not added (retry later) */
};

/** Empty set with `base` (seqs 1..base already present). */
void buyt_seqset_init(struct buyt_seqset *s, uint64_t base);

/** True if seq is in the set. */
bool buyt_seqset_has(const struct buyt_seqset *s, uint64_t seq);

/** Adds seq (>= 1). *gap_out (may be NULL) gets how many seqs were skipped between the
 *  highest seq so far and `seq` when seq is above everything (a new gap), else 0. */
enum buyt_seqset_add buyt_seqset_add(struct buyt_seqset *s, uint64_t seq, uint64_t *gap_out);

/** Treats every seq <= `seq` as present (the device reported them dropped). Returns how many
 *  of them were missing from the set. */
uint64_t buyt_seqset_skip_through(struct buyt_seqset *s, uint64_t seq);

/** Highest seq in the set (0 if empty). */
uint64_t buyt_seqset_max(const struct buyt_seqset *s);

/** Missing seqs between base and the highest seq. */
uint64_t buyt_seqset_missing(const struct buyt_seqset *s);

#endif
