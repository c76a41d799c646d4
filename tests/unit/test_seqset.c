/* Seq sets: de-duplication and gap-free acknowledgement across replays and gaps. */
#include "seqset.h"

#include <criterion/criterion.h>

Test(seqset, in_order_seqs_advance_the_base)
{
    struct buyt_seqset s;
    buyt_seqset_init(&s, 0);
    for (uint64_t q = 1; q <= 100; q++)
        cr_assert_eq(buyt_seqset_add(&s, q, NULL), BUYT_SEQSET_ADDED);
    cr_assert_eq(s.base, 100);
    cr_assert_eq(s.n, 0);
}

Test(seqset, duplicates_are_detected_below_and_above_base)
{
    struct buyt_seqset s;
    buyt_seqset_init(&s, 10);
    cr_assert_eq(buyt_seqset_add(&s, 5, NULL), BUYT_SEQSET_DUPLICATE);
    cr_assert_eq(buyt_seqset_add(&s, 20, NULL), BUYT_SEQSET_ADDED);
    cr_assert_eq(buyt_seqset_add(&s, 20, NULL), BUYT_SEQSET_DUPLICATE);
    cr_assert_eq(s.base, 10);
}

Test(seqset, gap_is_reported_then_filled_by_replay)
{
    struct buyt_seqset s;
    buyt_seqset_init(&s, 0);
    uint64_t gap;
    for (uint64_t q = 1; q <= 5; q++)
        buyt_seqset_add(&s, q, &gap);
    cr_assert_eq(buyt_seqset_add(&s, 9, &gap), BUYT_SEQSET_ADDED);
    cr_assert_eq(gap, 3, "6,7,8 missing");
    cr_assert_eq(buyt_seqset_missing(&s), 3);
    cr_assert_eq(s.base, 5, "base must not jump the gap");
    buyt_seqset_add(&s, 7, &gap);
    cr_assert_eq(gap, 0, "filling a gap is not a new gap");
    buyt_seqset_add(&s, 6, NULL);
    cr_assert_eq(s.base, 7);
    buyt_seqset_add(&s, 8, NULL);
    cr_assert_eq(s.base, 9);
    cr_assert_eq(s.n, 0);
    cr_assert_eq(buyt_seqset_missing(&s), 0);
}

Test(seqset, live_records_during_backlog_replay)
{
    /* Backlog 1..1000 replays oldest first while live records 5001.. arrive interleaved. */
    struct buyt_seqset s;
    buyt_seqset_init(&s, 0);
    uint64_t live = 5001;
    for (uint64_t q = 1; q <= 1000; q++) {
        cr_assert_eq(buyt_seqset_add(&s, q, NULL), BUYT_SEQSET_ADDED);
        if (q % 100 == 0)
            cr_assert_eq(buyt_seqset_add(&s, live++, NULL), BUYT_SEQSET_ADDED);
    }
    cr_assert_eq(s.base, 1000);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.r[0].lo, 5001);
    cr_assert_eq(s.r[0].hi, 5010);
    cr_assert_eq(buyt_seqset_max(&s), 5010);
}

Test(seqset, full_set_refuses_instead_of_forgetting)
{
    struct buyt_seqset s;
    buyt_seqset_init(&s, 0);
    for (unsigned i = 0; i < BUYT_SEQSET_RANGES; i++)
        cr_assert_eq(buyt_seqset_add(&s, 10 + 10 * i, NULL), BUYT_SEQSET_ADDED);
    cr_assert_eq(buyt_seqset_add(&s, 1000, NULL), BUYT_SEQSET_FULL);
    cr_assert_not(buyt_seqset_has(&s, 1000));
    /* Extending an existing range still works when full. */
    cr_assert_eq(buyt_seqset_add(&s, 11, NULL), BUYT_SEQSET_ADDED);
    /* Filling from the base merges ranges and frees room. */
    for (uint64_t q = 1; q <= 9; q++)
        buyt_seqset_add(&s, q, NULL);
    cr_assert_eq(s.base, 11);
    cr_assert_eq(buyt_seqset_add(&s, 1000, NULL), BUYT_SEQSET_ADDED);
}

Test(seqset, ranges_merge_when_they_meet)
{
    struct buyt_seqset s;
    buyt_seqset_init(&s, 0);
    buyt_seqset_add(&s, 10, NULL);
    buyt_seqset_add(&s, 12, NULL);
    cr_assert_eq(s.n, 2);
    buyt_seqset_add(&s, 11, NULL);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.r[0].lo, 10);
    cr_assert_eq(s.r[0].hi, 12);
}

Test(seqset, device_dropped_seqs_are_skipped_and_counted)
{
    struct buyt_seqset s;
    buyt_seqset_init(&s, 10);
    buyt_seqset_add(&s, 15, NULL);
    buyt_seqset_add(&s, 16, NULL);
    buyt_seqset_add(&s, 30, NULL);
    /* The bus dropped everything up to 20: 11..14 and 17..20 never came (8 seqs). */
    cr_assert_eq(buyt_seqset_skip_through(&s, 20), 8);
    cr_assert_eq(s.base, 20);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(buyt_seqset_skip_through(&s, 5), 0, "never moves back");
    cr_assert_eq(buyt_seqset_skip_through(&s, 30), 9, "21..29");
    cr_assert_eq(s.base, 30);
    cr_assert_eq(s.n, 0);
}
