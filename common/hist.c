#include "hist.h"

uint32_t buyt_hist_bucket(uint64_t us)
{
    if (us < BUYT_HIST_SUB)
        return (uint32_t)us;
    uint32_t e = 63u - (uint32_t)__builtin_clzll(us); /* 2^e <= us < 2^(e+1), e >= 4 */
    if (e >= BUYT_HIST_TOP)
        return BUYT_HIST_N - 1;
    uint32_t sub = (uint32_t)(us >> (e - 4)) & (BUYT_HIST_SUB - 1);
    return BUYT_HIST_SUB + (e - 4) * BUYT_HIST_SUB + sub;
}

uint64_t buyt_hist_bucket_max(uint32_t i)
{
    if (i < BUYT_HIST_SUB)
        return i;
    if (i >= BUYT_HIST_N - 1)
        return UINT64_MAX;
    uint32_t e = (i - BUYT_HIST_SUB) / BUYT_HIST_SUB + 4, sub = (i - BUYT_HIST_SUB) % BUYT_HIST_SUB;
    uint64_t lo = ((uint64_t)(BUYT_HIST_SUB + sub)) << (e - 4);
    return lo + (1ull << (e - 4)) - 1;
}

void buyt_hist_add(struct buyt_hist *h, uint64_t us)
{
    h->b[buyt_hist_bucket(us)]++;
    h->n++;
    h->sum_us += us;
    if (us > h->max_us)
        h->max_us = us;
}

uint64_t buyt_hist_quantile(const struct buyt_hist *h, double q)
{
    if (!h->n)
        return 0;
    if (q < 0)
        q = 0;
    if (q > 1)
        q = 1;
    uint64_t rank = (uint64_t)(q * (double)h->n);
    if ((double)rank < q * (double)h->n)
        rank++; /* ceil */
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < BUYT_HIST_N; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t m = buyt_hist_bucket_max(i);
            return m < h->max_us ? m : h->max_us;
        }
    }
    return h->max_us;
}
