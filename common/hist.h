/* A latency histogram for quantiles (p50, p99) without keeping samples: log-linear buckets in
 * microseconds, 16 per power of two (HdrHistogram's idea with 4 significant bits), so a quantile
 * read back is within 1/16 (6.25 %) above the true value. Values 0..15 µs are exact; the last
 * bucket holds everything from 2^38 µs (~3 days) up. 4.4 KiB, no heap, not thread-safe. */
#ifndef BUYT_HIST_H
#define BUYT_HIST_H

#include <stdint.h>

#define BUYT_HIST_SUB 16                                       /* buckets per power of two */
#define BUYT_HIST_TOP 38                                       /* 2^38 µs: the last bucket */
#define BUYT_HIST_N (BUYT_HIST_SUB + (BUYT_HIST_TOP - 4) * BUYT_HIST_SUB + 1)

struct buyt_hist {
    uint64_t n;      /* samples */
    uint64_t sum_us; /* their sum */
    uint64_t max_us;
    uint64_t b[BUYT_HIST_N];
};

/** Adds one sample. */
void buyt_hist_add(struct buyt_hist *h, uint64_t us);

/** The value at quantile q (0..1): the upper edge of the bucket holding the ceil(q * n)-th
 *  smallest sample (so never below the true value), capped at the largest sample seen.
 *  0 when empty. */
uint64_t buyt_hist_quantile(const struct buyt_hist *h, double q);

/** Bucket index of a value, and the largest value a bucket holds (exposed for tests). */
uint32_t buyt_hist_bucket(uint64_t us);
uint64_t buyt_hist_bucket_max(uint32_t i);

#endif
