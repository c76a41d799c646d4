/* The latency histogram: bucket edges, quantile bounds against exact order statistics. */
#include "hist.h"

#include <criterion/criterion.h>
#include <stdlib.h>

Test(hist, buckets_are_contiguous_and_exact_below_16us)
{
    for (uint64_t v = 0; v < 16; v++)
        cr_assert_eq(buyt_hist_bucket_max(buyt_hist_bucket(v)), v);
    /* Every value lands in a bucket whose max is >= it and whose predecessor's max is < it. */
    for (uint64_t v = 1; v < (1u << 20); v = v * 5 / 4 + 1) {
        uint32_t i = buyt_hist_bucket(v);
        cr_assert_geq(buyt_hist_bucket_max(i), v, "v=%lu", (unsigned long)v);
        cr_assert_lt(buyt_hist_bucket_max(i - 1), v, "v=%lu", (unsigned long)v);
        /* relative width: at most 1/16 of the value */
        cr_assert_leq(buyt_hist_bucket_max(i) - v, v / 16 + 1);
    }
    cr_assert_eq(buyt_hist_bucket(UINT64_MAX), BUYT_HIST_N - 1);
    cr_assert_eq(buyt_hist_bucket(1ull << 37), BUYT_HIST_N - 1 - BUYT_HIST_SUB);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

Test(hist, quantiles_bound_the_exact_order_statistics_within_a_sixteenth)
{
    static struct buyt_hist h;
    enum { N = 10000 };
    static uint64_t xs[N];
    srand(7);
    for (int i = 0; i < N; i++) {
        /* a long tail: mostly 100-2000 us, 1 % up to 200 ms */
        xs[i] = (i % 100 == 0) ? 20000 + (uint64_t)rand() % 180000 : 100 + (uint64_t)rand() % 1900;
        buyt_hist_add(&h, xs[i]);
    }
    qsort(xs, N, sizeof xs[0], cmp_u64);
    cr_assert_eq(h.n, (uint64_t)N);
    double qs[] = {0.5, 0.9, 0.99, 0.999, 1.0};
    for (size_t j = 0; j < sizeof qs / sizeof qs[0]; j++) {
        uint64_t exact = xs[(size_t)(qs[j] * N + 0.999999) - 1];
        uint64_t got = buyt_hist_quantile(&h, qs[j]);
        cr_assert_geq(got, exact, "q=%g", qs[j]);
        cr_assert_leq(got, exact + exact / 16 + 1, "q=%g got %lu exact %lu", qs[j],
                      (unsigned long)got, (unsigned long)exact);
    }
    cr_assert_eq(buyt_hist_quantile(&h, 1.0), xs[N - 1], "max is exact");
}

Test(hist, empty_and_single)
{
    struct buyt_hist h = {0};
    cr_assert_eq(buyt_hist_quantile(&h, 0.99), 0);
    buyt_hist_add(&h, 12345);
    cr_assert_eq(buyt_hist_quantile(&h, 0.5), 12345, "capped at the largest sample");
    cr_assert_eq(h.sum_us, 12345);
}
