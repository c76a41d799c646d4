/* Batches and spool files: what the writer commits is exactly what the loop sealed. */
#include "batch.h"
#include "error.h"
#include "spool.h"
#include "testkit.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/spool-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(buyt_spool_init_dir(dir), 0);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(spool, .init = setup, .fini = teardown);

static void fill(struct buyt_batch *b, uint64_t id)
{
    buyt_batch_init(b);
    b->id = id;
    b->records = 3;
    cr_assert_eq(buyt_batch_add_fix(b, 1795000000123LL, 7, 210287000, 1058522000, 850, 2735), 0);
    cr_assert_eq(buyt_batch_add_fix(b, 1795000000123LL + 86400000, 7, 1, 2, -1, -1), 0);
    const uint8_t card[16] = {1, 2, 3, 4};
    cr_assert_eq(buyt_batch_add_card_tap(b, 1795000000500LL, 7, 3, 1, BUYT_BATCH_NULL_I32,
                                         BUYT_BATCH_NULL_I32, card, 16), 0);
    cr_assert_eq(buyt_batch_add_reject(b, 1795000000600LL, "buyt/v1/hn/vehicle/x/telemetry",
                                       "truncated", "x", -1, "\x0a\x02", 2), 0);
    struct buyt_seqset s;
    buyt_seqset_init(&s, 2);
    buyt_seqset_add(&s, 5, NULL);
    cr_assert_eq(buyt_batch_set_progress(b, 7, &s), 0);
}

Test(spool, fix_row_is_binary_copy_encoded)
{
    struct buyt_batch b;
    fill(&b, 1);
    const uint8_t *p = b.copy[BUYT_TBL_FIXES].p;
    /* 6 fields; then timestamptz: length 8, microseconds since 2000-01-01. */
    cr_assert_eq(p[0], 0);
    cr_assert_eq(p[1], 6);
    cr_assert_eq(p[5], 8);
    int64_t us = 0;
    for (int i = 0; i < 8; i++)
        us = (us << 8) | p[6 + i];
    cr_assert_eq(us, (1795000000123LL - 946684800000LL) * 1000);
    cr_assert_eq(b.rows[BUYT_TBL_FIXES], 2);
    cr_assert_eq(b.n_days, 2, "two UTC days touched");
    /* A 6-field row is 2 + 6*4 + 8 + 4*3 + 2*2 bytes. */
    cr_assert_eq(b.copy[BUYT_TBL_FIXES].len, 2 * (2 + 24 + 8 + 12 + 4));
    buyt_batch_close(&b);
}

Test(spool, round_trips_a_batch_byte_for_byte)
{
    struct buyt_batch b, r;
    fill(&b, 42);
    uint64_t bytes = 0;
    cr_assert_eq(buyt_spool_write(dir, &b, &bytes), 0);
    cr_assert_gt(bytes, 100);
    buyt_batch_init(&r);
    cr_assert_eq(buyt_spool_read(dir, 42, &r), 0);
    cr_assert_eq(r.id, 42);
    cr_assert_eq(r.records, 3);
    for (int t = 0; t < BUYT_TBL__COUNT; t++) {
        cr_assert_eq(r.rows[t], b.rows[t], "table %d", t);
        cr_assert_eq(r.copy[t].len, b.copy[t].len, "table %d", t);
        if (b.copy[t].len)
            cr_assert_eq(memcmp(r.copy[t].p, b.copy[t].p, b.copy[t].len), 0);
    }
    cr_assert_eq(r.n_progress, 1);
    cr_assert_eq(r.progress[0].vehicle, 7);
    cr_assert_eq(r.progress[0].seqs.base, 2);
    cr_assert_eq(r.progress[0].seqs.n, 1);
    cr_assert_eq(r.progress[0].seqs.r[0].lo, 5);
    cr_assert_eq(r.n_days, 2);
    buyt_batch_close(&b);
    buyt_batch_close(&r);
}

Test(spool, lists_in_id_order_and_removes)
{
    struct buyt_batch b;
    uint64_t order[] = {30, 4, 1000000000000ULL, 17};
    for (int i = 0; i < 4; i++) {
        fill(&b, order[i]);
        cr_assert_eq(buyt_spool_write(dir, &b, NULL), 0);
        buyt_batch_close(&b);
    }
    uint64_t *ids;
    cr_assert_eq(buyt_spool_list(dir, &ids), 4);
    cr_assert_eq(ids[0], 4);
    cr_assert_eq(ids[1], 17);
    cr_assert_eq(ids[2], 30);
    cr_assert_eq(ids[3], 1000000000000ULL);
    free(ids);
    cr_assert_eq(buyt_spool_remove(dir, 17), 0);
    cr_assert_eq(buyt_spool_quarantine(dir, 30), 0);
    cr_assert_eq(buyt_spool_list(dir, &ids), 2);
    free(ids);
}

Test(spool, detects_corruption_and_truncation)
{
    struct buyt_batch b, r;
    fill(&b, 9);
    cr_assert_eq(buyt_spool_write(dir, &b, NULL), 0);
    char path[128];
    snprintf(path, sizeof path, "%s/%020d.batch", dir, 9);
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, "X", 1, 40), 1);
    close(fd);
    buyt_batch_init(&r);
    cr_assert_eq(buyt_spool_read(dir, 9, &r), BUYT_ECORRUPT);
    cr_assert_eq(buyt_spool_write(dir, &b, NULL), 0);
    cr_assert_eq(truncate(path, 60), 0);
    cr_assert_eq(buyt_spool_read(dir, 9, &r), BUYT_ECORRUPT);
    buyt_batch_close(&b);
    buyt_batch_close(&r);
}

static void add_stop_event(struct buyt_batch *b, int32_t run_start_s)
{
    struct buyt_batch_stop_event ev = {.service_day = 20000, .trip_id = "T1", .stop_id = "S1",
                                       .route_id = "R1", .stop_sequence = 3, .vehicle = 7,
                                       .arrival_ms = 1795000000123LL, .departure_ms = -1,
                                       .scheduled_arrival_ms = 1795000000000LL, .passed = 0,
                                       .run_start_s = run_start_s};
    cr_assert_eq(buyt_batch_add_stop_event(b, &ev), 0);
}

/* An engine upgraded while batches wait in its spool replays them with their own columns. */
Test(spool, files_of_the_previous_column_layout_keep_their_columns)
{
    struct buyt_batch b, r;
    fill(&b, 50);
    add_stop_event(&b, 29700);
    cr_assert_eq(b.layout, BUYT_BATCH_LAYOUT);
    size_t len2 = b.copy[BUYT_TBL_STOP_EVENTS].len;
    cr_assert_eq(buyt_spool_write(dir, &b, NULL), 0);
    buyt_batch_init(&r);
    cr_assert_eq(buyt_spool_read(dir, 50, &r), 0);
    cr_assert_eq(r.layout, 2);
    cr_assert_not_null(strstr(buyt_batch_table_columns(BUYT_TBL_STOP_EVENTS, r.layout),
                              ", run_start_s"));

    b.id = 51;
    buyt_test_spool_write_layout1(dir, &b);
    cr_assert_eq(buyt_spool_read(dir, 51, &r), 0);
    cr_assert_eq(r.layout, 1);
    cr_assert_eq(r.rows[BUYT_TBL_STOP_EVENTS], 1);
    cr_assert_eq(r.copy[BUYT_TBL_STOP_EVENTS].len, len2 - 8, "the int32 field is gone");
    cr_assert_eq(r.copy[BUYT_TBL_STOP_EVENTS].p[1], 10);
    const char *cols = buyt_batch_table_columns(BUYT_TBL_STOP_EVENTS, r.layout);
    cr_assert_null(strstr(cols, "run_start_s"), "%s", cols);
    cr_assert_str_eq(buyt_batch_table_columns(BUYT_TBL_FIXES, 1),
                     buyt_batch_table_columns(BUYT_TBL_FIXES, 2));
    cr_assert_eq(r.rows[BUYT_TBL_FIXES], 2, "the other tables as written");

    /* A layout this engine does not know (a newer engine's file, CRC intact) is not guessed
     * at. */
    char path[128];
    snprintf(path, sizeof path, "%s/%020d.batch", dir, 50);
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f);
    uint8_t img[8192];
    size_t n = fread(img, 1, sizeof img, f);
    cr_assert(n > 12 && n < sizeof img);
    img[7] = '3';
    uint32_t crc = (uint32_t)crc32(0L, img, (uInt)(n - 4));
    memcpy(img + n - 4, &crc, 4);
    rewind(f);
    cr_assert_eq(fwrite(img, 1, n, f), n);
    fclose(f);
    cr_assert_eq(buyt_spool_read(dir, 50, &r), BUYT_ECORRUPT);
    img[7] = '2';
    crc = (uint32_t)crc32(0L, img, (uInt)(n - 4));
    memcpy(img + n - 4, &crc, 4);
    f = fopen(path, "wb");
    cr_assert_eq(fwrite(img, 1, n, f), n);
    fclose(f);
    cr_assert_eq(buyt_spool_read(dir, 50, &r), 0, "the same bytes with a known layout");
    buyt_batch_close(&b);
    buyt_batch_close(&r);
}
