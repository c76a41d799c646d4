/* Stop boards: UTF-8 decoding and display width, Vietnamese folding, fixed-width rendering,
 * and boards built from the schedule and the predictor (ordering, expiry, statuses, ghost
 * buses, terminal departures, the publishing rule). */
#include "board.h"
#include "clock.h"
#include "error.h"
#include "geo.h"
#include "network.h"
#include "predict.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- UTF-8 ------------------------------------------------------------------------------- */

static uint32_t dec(const char *s, size_t *used)
{
    uint32_t cp;
    *used = buyt_utf8_decode(s, strlen(s), &cp);
    return cp;
}

Test(utf8, decodes_well_formed_and_refuses_ill_formed_sequences)
{
    size_t n;
    cr_assert_eq(dec("A", &n), 'A');
    cr_assert_eq(n, 1);
    cr_assert_eq(dec("\xC3\xA1", &n), 0xE1); /* á */
    cr_assert_eq(n, 2);
    cr_assert_eq(dec("\xE1\xBA\xA1", &n), 0x1EA1); /* ạ */
    cr_assert_eq(n, 3);
    cr_assert_eq(dec("\xF0\x9F\x9A\x8C", &n), 0x1F68C); /* bus */
    cr_assert_eq(n, 4);
    cr_assert_eq(dec("\xC0\xAF", &n), 0xFFFD, "overlong");
    cr_assert_eq(n, 1);
    cr_assert_eq(dec("\xE0\x80\xAF", &n), 0xFFFD, "overlong 3-byte");
    cr_assert_eq(dec("\xED\xA0\x80", &n), 0xFFFD, "surrogate");
    cr_assert_eq(dec("\xF4\x90\x80\x80", &n), 0xFFFD, "beyond U+10FFFF");
    cr_assert_eq(dec("\xE1\xBA", &n), 0xFFFD, "truncated");
    cr_assert_eq(n, 1);
    cr_assert_eq(dec("\x80", &n), 0xFFFD, "lone continuation");
    cr_assert_eq(dec("\xE1\x41\x41", &n), 0xFFFD, "bad continuation");
    cr_assert_eq(n, 1);
}

Test(utf8, display_width_counts_cells_not_bytes)
{
    cr_assert_eq(buyt_utf8_width("Giáp Bát"), 8);
    cr_assert_eq(buyt_utf8_width("Gia\xCC\x81p Ba\xCC\x81t"), 8, "decomposed: marks are 0");
    cr_assert_eq(buyt_utf8_width("Ng\xC6\xB0\xCC\x9B"), 3);
    cr_assert_eq(buyt_utf8_width("北京"), 4, "wide");
    cr_assert_eq(buyt_utf8_width("ｂｕｓ"), 6, "fullwidth");
    cr_assert_eq(buyt_utf8_width("a\xE2\x80\x8B"
                                 "b"),
                 2, "zero-width space");
    cr_assert_eq(buyt_utf8_width("\xFF"
                                 "a"),
                 2, "an invalid byte is one replacement cell");
}

/* ---- folding ----------------------------------------------------------------------------- */

static void fold_eq(const char *in, const char *want)
{
    char out[512];
    size_t n = buyt_fold_ascii(in, out, sizeof out);
    cr_assert_str_eq(out, want, "fold(%s)", in);
    cr_assert_eq(n, strlen(want));
}

Test(fold, the_whole_vietnamese_alphabet_with_every_tone)
{
    /* Each vowel with no tone, huyền, sắc, hỏi, ngã, nặng (precomposed, NFC). */
    fold_eq("aàáảãạ ăằắẳẵặ âầấẩẫậ eèéẻẽẹ êềếểễệ iìíỉĩị oòóỏõọ ôồốổỗộ ơờớởỡợ uùúủũụ "
            "ưừứửữự yỳýỷỹỵ",
            "aaaaaa aaaaaa aaaaaa eeeeee eeeeee iiiiii oooooo oooooo oooooo uuuuuu uuuuuu "
            "yyyyyy");
    fold_eq("AÀÁẢÃẠ ĂẰẮẲẴẶ ÂẦẤẨẪẬ EÈÉẺẼẸ ÊỀẾỂỄỆ IÌÍỈĨỊ OÒÓỎÕỌ ÔỒỐỔỖỘ ƠỜỚỞỠỢ UÙÚỦŨỤ "
            "ƯỪỨỬỮỰ YỲÝỶỸỴ",
            "AAAAAA AAAAAA AAAAAA EEEEEE EEEEEE IIIIII OOOOOO OOOOOO OOOOOO UUUUUU UUUUUU "
            "YYYYYY");
    /* The 29 letters. */
    fold_eq("a ă â b c d đ e ê g h i k l m n o ô ơ p q r s t u ư v x y",
            "a a a b c d d e e g h i k l m n o o o p q r s t u u v x y");
    fold_eq("A Ă Â B C D Đ E Ê G H I K L M N O Ô Ơ P Q R S T U Ư V X Y",
            "A A A B C D D E E G H I K L M N O O O P Q R S T U U V X Y");
    /* Every tone in decomposed form (NFD: base + marks, as some keyboards and feeds write it):
     * U+0300 grave, U+0301 acute, U+0309 hook above, U+0303 tilde, U+0323 dot below; the
     * vowel marks U+0302 circumflex, U+0306 breve, U+031B horn. */
    fold_eq("a\xCC\x80 a\xCC\x81 a\xCC\x89 a\xCC\x83 a\xCC\xA3 "
            "a\xCC\x82\xCC\x81 a\xCC\x86\xCC\xA3 o\xCC\x9B\xCC\x80 u\xCC\x9B\xCC\x83 "
            "E\xCC\x82\xCC\x89",
            "a a a a a a a o u E");
    /* Mixed: precomposed vowel + combining tone. */
    fold_eq("\xC6\xA1\xCC\x81 \xC3\xAA\xCC\xA3", "o e");
}

Test(fold, place_names_and_what_has_no_folding)
{
    fold_eq("Giáp Bát", "Giap Bat");
    fold_eq("Bến xe Mỹ Đình", "Ben xe My Dinh");
    fold_eq("Đường Láng - Nguyễn Trãi", "Duong Lang - Nguyen Trai");
    fold_eq("Hồ Hoàn Kiếm", "Ho Hoan Kiem");
    fold_eq("Ðà Nẵng", "Da Nang"); /* U+00D0 eth looks like Đ */
    fold_eq("Straße Æ œ Ł", "Strasse AE oe L");
    fold_eq("“Kim Mã” – Cầu Giấy…", "\"Kim Ma\" - Cau Giay...");
    fold_eq("北京", "??");
    fold_eq("a\xFF"
            "b",
            "a?b");
    cr_assert_str_eq(buyt_fold_cp('x'), "x");
    cr_assert_str_eq(buyt_fold_cp(0x0111), "d");
    cr_assert_str_eq(buyt_fold_cp(0x0110), "D");
    cr_assert_str_eq(buyt_fold_cp(0x0323), "");
    cr_assert_null(buyt_fold_cp(0x4E2C));
    char small[5];
    cr_assert_eq(buyt_fold_ascii("Giáp Bát", small, sizeof small), 8, "length needed");
    cr_assert_str_eq(small, "Giap");
}

/* ---- fixed width ------------------------------------------------------------------------- */

static void fit_eq(const char *in, uint32_t cells, bool right, bool ascii, const char *want)
{
    char out[BUYT_BOARD_LINE_BYTES];
    size_t n = buyt_utf8_fit(in, cells, right, ascii, out, sizeof out);
    cr_assert_str_eq(out, want, "fit(%s, %u)", in, cells);
    cr_assert_eq(n, strlen(want));
    cr_assert_eq(buyt_utf8_width(out), cells);
}

Test(fit, truncates_at_character_boundaries_and_pads)
{
    fit_eq("Bến xe Giáp Bát", 10, false, false, "Bến xe Giá");
    fit_eq("Bến xe Giáp Bát", 18, false, false, "Bến xe Giáp Bát   ");
    fit_eq("Bến xe Giáp Bát", 18, true, false, "   Bến xe Giáp Bát");
    fit_eq("Bến xe Giáp Bát", 10, false, true, "Ben xe Gia");
    fit_eq("Gia\xCC\x81p", 3, false, false, "Gia\xCC\x81"); /* the tone mark stays on its vowel */
    fit_eq("Gia\xCC\x81p", 2, false, false, "Gi");
    fit_eq("ab北京", 3, false, false, "ab "); /* a wide character never straddles the end */
    fit_eq("ab北京", 4, false, false, "ab北");
    fit_eq("Đ", 1, false, true, "D");
    fit_eq("", 3, false, false, "   ");
    fit_eq("line\nbreak\t!", 12, false, false, "line break !");
    fit_eq("x\xFFy", 3, false, false, "x\xEF\xBF\xBDy");
}

/* ---- rendering a received board ---------------------------------------------------------- */

#define NOW 1714532400000LL /* 2024-05-01 10:00 +07 (03:00Z) */
#define OFF (7 * 3600)

struct made_board {
    Buyt__V1__StopBoard b;
    Buyt__V1__Arrival a[4];
    Buyt__V1__Arrival *ap[4];
};

static void board_make(struct made_board *m)
{
    buyt__v1__stop_board__init(&m->b);
    m->b.stop_id = "S1";
    m->b.stop_name = "Bến xe Giáp Bát";
    m->b.generated_ms = NOW;
    struct {
        const char *route, *head;
        int64_t eta, sched;
        int status;
        bool rt;
    } rows[4] = {
        {"32", "Giáp Bát - Nhổn", NOW + 30000, NOW + 0, 2, true},
        {"03", "Gia Lâm", NOW + 5 * 60000 + 1000, NOW + 4 * 60000, 1, true},
        {"21A", "Khu đô thị Dương Nội", NOW + 7 * 60000, NOW + 7 * 60000, 4, false},
        {"08", "Long Biên", NOW + 9 * 60000, NOW + 9 * 60000, 6, false},
    };
    for (int i = 0; i < 4; i++) {
        Buyt__V1__Arrival *a = &m->a[i];
        buyt__v1__arrival__init(a);
        a->route_short_name = (char *)rows[i].route;
        a->headsign = (char *)rows[i].head;
        a->eta_ms = (uint64_t)rows[i].eta;
        a->scheduled_ms = (uint64_t)rows[i].sched;
        a->status = (Buyt__V1__ArrivalStatus)rows[i].status;
        a->realtime = rows[i].rt;
        m->ap[i] = a;
    }
    m->b.n_arrivals = 4;
    m->b.arrivals = m->ap;
}

Test(render, board_lines_are_exact_fixed_width_cells)
{
    struct made_board m;
    board_make(&m);
    struct buyt_board_text t;
    buyt_board_text_default(&t);
    t.width = 28;
    t.rows = 5;
    char out[BUYT_BOARD_TEXT_BYTES];
    size_t n = buyt_board_render(&m.b, &t, NOW, OFF, out, sizeof out);
    cr_assert_gt(n, 0);
    cr_assert_str_eq(out, "Bến xe Giáp Bát        10:00\n"
                          "32   Giáp Bát - Nhổn     now\n"
                          "03   Gia Lâm           5 min\n"
                          "21A  Khu đô thị Dương  10:07\n"
                          "08   Long Biên        cancel\n");
    /* Every line is 28 cells, whatever its bytes. */
    for (char *s = out; *s;) {
        char *e = strchr(s, '\n');
        *e = '\0';
        cr_assert_eq(buyt_utf8_width(s), 28, "%s", s);
        s = e + 1;
    }
}

Test(render, ascii_mode_folds_and_counts_down_with_the_clock)
{
    struct made_board m;
    board_make(&m);
    struct buyt_board_text t;
    buyt_board_text_default(&t);
    t.ascii = true;
    t.rows = 3;
    char out[BUYT_BOARD_TEXT_BYTES];
    cr_assert_gt(buyt_board_render(&m.b, &t, NOW + 61000, OFF, out, sizeof out), 0);
    cr_assert_str_eq(out, "Ben xe Giap Bat    10:01\n"
                          "32   Giap Bat - N    now\n"
                          "03   Gia Lam       4 min\n");
    for (const char *s = out; *s; s++)
        cr_assert_lt((unsigned char)*s, 0x80);
}

Test(render, a_stale_board_shows_schedule_times_only)
{
    struct made_board m;
    board_make(&m);
    struct buyt_board_text t;
    buyt_board_text_default(&t);
    t.rows = 3;
    t.header = false;
    char out[BUYT_BOARD_TEXT_BYTES];
    /* Three minutes without a new board: the engine (or the link) is gone. Nothing counts
     * down any more; the arrivals still ahead show their scheduled clock time. */
    cr_assert_gt(buyt_board_render(&m.b, &t, NOW + 180000, OFF, out, sizeof out), 0);
    cr_assert_str_eq(out, "03   Gia Lâm       10:04\n"
                          "21A  Khu đô thị D  10:07\n"
                          "08   Long Biên    cancel\n");
}

Test(render, empty_board_and_bad_config)
{
    Buyt__V1__StopBoard b = BUYT__V1__STOP_BOARD__INIT;
    b.stop_name = "Kim Mã";
    b.generated_ms = NOW;
    struct buyt_board_text t;
    buyt_board_text_default(&t);
    t.width = 16;
    t.rows = 3;
    char out[BUYT_BOARD_TEXT_BYTES];
    cr_assert_gt(buyt_board_render(&b, &t, NOW, OFF, out, sizeof out), 0);
    cr_assert_str_eq(out, "Kim Mã     10:00\n"
                          "No buses        \n"
                          "                \n");
    t.width = 8;
    cr_assert_eq(buyt_board_render(&b, &t, NOW, OFF, out, sizeof out), 0);
    cr_assert_eq(buyt_board_text_check(&t), BUYT_EINVAL);
}

/* ---- boards from the network and the predictor ------------------------------------------- */

#define LAT0 21.03
#define LON0 105.85
#define DAY_MS 1714496400000LL /* 2024-05-01 00:00 +07 */
#define HMS(h, m, s) (DAY_MS + ((h)*3600LL + (m)*60LL + (s)) * 1000)
#define NSTOP 8
#define GAP_M 400.0

struct city {
    struct buyt_network *net;
    uint32_t r01, r32, shape_e, shape_w, stop[NSTOP];
    struct buyt_predict *p;
    struct buyt_boards *b;
};

static void city_make(struct city *c)
{
    struct buyt_geo_frame f;
    buyt_geo_frame_init(&f, LAT0, LON0);
    cr_assert_eq(buyt_network_new(NULL, &c->net), 0);
    cr_assert_eq(buyt_network_add_route(c->net, "R01", "01", 3, &c->r01), 0);
    cr_assert_eq(buyt_network_add_route(c->net, "R32", "32", 3, &c->r32), 0);
    cr_assert_eq(buyt_network_add_shape(c->net, "E", &c->shape_e), 0);
    cr_assert_eq(buyt_network_add_shape(c->net, "W", &c->shape_w), 0);
    double len = (NSTOP - 1) * GAP_M;
    for (double x = 0; x <= len + 1e-9; x += 50) {
        double lat, lon;
        buyt_geo_from_xy(&f, x, 0, &lat, &lon);
        cr_assert_eq(buyt_network_add_shape_point(c->net, c->shape_e, lat, lon), 0);
        buyt_geo_from_xy(&f, len - x, 0, &lat, &lon);
        cr_assert_eq(buyt_network_add_shape_point(c->net, c->shape_w, lat, lon), 0);
    }
    for (int k = 0; k < NSTOP; k++) {
        char id[8], name[32];
        double lat, lon;
        snprintf(id, sizeof id, "s%d", k);
        snprintf(name, sizeof name, "Điểm %d", k);
        buyt_geo_from_xy(&f, k * GAP_M, 3, &lat, &lon);
        cr_assert_eq(buyt_network_add_stop(c->net, id, name, lat, lon, &c->stop[k]), 0);
    }
}

static uint32_t trip(struct city *c, const char *id, uint32_t route, bool east, int32_t start_s,
                     const char *block, const char *headsign)
{
    struct buyt_network_trip_def d = {.trip_id = id,
                                      .route = route,
                                      .shape = east ? c->shape_e : c->shape_w,
                                      .block_id = block,
                                      .headsign = headsign,
                                      .direction_id = east ? 0 : 1,
                                      .day_start_ms = DAY_MS};
    uint32_t t;
    cr_assert_eq(buyt_network_add_trip(c->net, &d, &t), 0);
    for (int k = 0; k < NSTOP; k++) {
        int32_t at = start_s + k * 60;
        cr_assert_eq(buyt_network_add_stop_time(c->net, t, (uint32_t)k + 1,
                                                c->stop[east ? k : NSTOP - 1 - k], at, at),
                     0);
    }
    return t;
}

static void city_finish(struct city *c)
{
    cr_assert_eq(buyt_network_finish(c->net), 0);
    cr_assert_eq(buyt_predict_new(NULL, &c->p), 0);
    cr_assert_eq(buyt_predict_set_network(c->p, c->net), 0);
    cr_assert_eq(buyt_boards_new(NULL, &c->b), 0);
    cr_assert_eq(buyt_boards_set_network(c->b, c->net), 0);
}

static void city_free(struct city *c)
{
    buyt_boards_free(c->b);
    buyt_predict_free(c->p);
    buyt_network_free(c->net);
}

static struct buyt_matcher_result at(const struct buyt_network *net, uint32_t t, double dist)
{
    struct buyt_matcher_result r = {0};
    uint32_t n = net->trips[t].n_stops;
    r.trip = t;
    r.dist_m = dist;
    r.next_stop = buyt_network_trip_next_stop(net, t, dist, 30);
    r.completed = dist >= buyt_network_trip_stop_dist(net, t, n - 1) - 30;
    return r;
}

static void drive(struct city *c, uint32_t veh, const char *label, uint32_t t, uint32_t k_after,
                  double extra_m, int64_t now)
{
    double d = buyt_network_trip_stop_dist(c->net, t, k_after) + extra_m;
    struct buyt_matcher_result r = at(c->net, t, d);
    cr_assert_eq(buyt_predict_vehicle(c->p, veh, label, now, &r), 0);
}

static struct buyt_board bd;

/* What the engine does after a prediction update (engine.c, touch_changed): marks the stops
 * whose board may have changed; here simply all of them. */
static void touch_all(struct city *c)
{
    for (int k = 0; k < NSTOP; k++)
        buyt_boards_touch(c->b, c->stop[k], buyt_mono_ns());
}

static void build(struct city *c, uint32_t stop, int64_t now)
{
    cr_assert_eq(buyt_boards_build(c->b, c->p, c->stop[stop], now, &bd), 0);
}

#define A(i) (bd.msg.arrivals[i])
#define ST(x) BUYT__V1__ARRIVAL_STATUS__ARRIVAL_STATUS_##x

Test(boards, soonest_first_across_routes_with_schedule_only_for_trips_without_a_vehicle)
{
    struct city c;
    city_make(&c);
    trip(&c, "A1", c.r01, true, 10 * 3600 + 5 * 60, NULL, "Đông");               /* s3 at 10:08 */
    trip(&c, "B1", c.r32, true, 10 * 3600 + 1 * 60, NULL, NULL);                 /* s3 at 10:04 */
    uint32_t a0 = trip(&c, "A0", c.r01, true, 9 * 3600 + 55 * 60, NULL, "Đông"); /* 09:58 */
    trip(&c, "B2", c.r32, true, 11 * 3600 + 30 * 60, NULL, NULL); /* beyond the hour */
    city_finish(&c);
    /* A0 runs 4 min late: 1.5 stops before s3 at 10:00:00 -> s3 at 10:01:30. */
    drive(&c, 0, "29B-100", a0, 1, GAP_M / 2, HMS(10, 0, 0));
    build(&c, 3, HMS(10, 0, 0));
    cr_assert_eq(bd.msg.n_arrivals, 3);
    cr_assert_str_eq(A(0)->trip_id, "A0");
    cr_assert_eq(A(0)->status, ST(REALTIME));
    cr_assert(A(0)->realtime);
    cr_assert_str_eq(A(0)->vehicle_id, "29B-100");
    cr_assert_eq(A(0)->eta_ms, (uint64_t)HMS(10, 1, 30));
    cr_assert_eq(A(0)->minutes, 1);
    cr_assert_eq(A(0)->scheduled_ms, (uint64_t)HMS(9, 58, 0));
    cr_assert_str_eq(A(0)->headsign, "Đông");
    cr_assert_str_eq(A(1)->trip_id, "B1");
    cr_assert_str_eq(A(1)->route_short_name, "32");
    cr_assert_str_eq(A(1)->headsign, "Điểm 7", "no headsign: the last stop's name");
    cr_assert_eq(A(1)->status, ST(SCHEDULED_ONLY));
    cr_assert_not(A(1)->realtime);
    cr_assert_str_eq(A(1)->vehicle_id, "");
    cr_assert_eq(A(1)->minutes, 4);
    cr_assert_str_eq(A(2)->trip_id, "A1");
    cr_assert_str_eq(bd.msg.stop_id, "s3");
    cr_assert_str_eq(bd.msg.stop_name, "Điểm 3");
    cr_assert_eq(bd.msg.n_lines, 4);
    cr_assert_str_eq(bd.msg.lines[0], "Điểm 3             10:00");
    cr_assert_str_eq(bd.msg.lines[1], "01   Đông          1 min");
    cr_assert_str_eq(bd.msg.lines[2], "32   Điểm 7        10:04");
    city_free(&c);
}

Test(boards, an_arrival_leaves_the_board_when_its_bus_has_left_the_stop)
{
    struct city c;
    city_make(&c);
    uint32_t t = trip(&c, "A0", c.r01, true, 10 * 3600, NULL, "Đông");
    city_finish(&c);
    drive(&c, 0, "v", t, 3, -20, HMS(10, 3, 0));
    build(&c, 3, HMS(10, 3, 0));
    cr_assert_eq(bd.msg.n_arrivals, 1);
    cr_assert_eq(A(0)->status, ST(AT_STOP));
    cr_assert_eq(A(0)->minutes, 0);
    drive(&c, 0, "v", t, 3, 40, HMS(10, 3, 20));
    build(&c, 3, HMS(10, 3, 20));
    cr_assert_eq(bd.msg.n_arrivals, 0, "departed: gone, even though its schedule is ahead");
    build(&c, 4, HMS(10, 3, 20));
    cr_assert_eq(bd.msg.n_arrivals, 1);
    cr_assert_eq(A(0)->status, ST(APPROACHING), "the next stop is under a minute away");
    city_free(&c);
}

Test(boards, a_vehicle_silent_two_minutes_drops_back_to_scheduled_only)
{
    struct city c;
    city_make(&c);
    uint32_t t = trip(&c, "A0", c.r01, true, 10 * 3600 + 2 * 60, NULL, "Đông"); /* s5 10:07 */
    city_finish(&c);
    drive(&c, 0, "29B-100", t, 1, 0, HMS(10, 1, 0)); /* early: s5 predicted 10:05:00 */
    build(&c, 5, HMS(10, 2, 0));
    cr_assert_eq(A(0)->status, ST(REALTIME));
    cr_assert(A(0)->realtime);
    cr_assert_eq(A(0)->eta_ms, (uint64_t)HMS(10, 5, 0));
    build(&c, 5, HMS(10, 3, 0));
    cr_assert(A(0)->realtime, "2 min of silence is not yet a ghost");
    uint64_t before = bd.content;
    build(&c, 5, HMS(10, 3, 1));
    cr_assert_eq(bd.msg.n_arrivals, 1);
    cr_assert_eq(A(0)->status, ST(SCHEDULED_ONLY), "silent > 2 min: marked schedule-only");
    cr_assert_not(A(0)->realtime);
    cr_assert_eq(A(0)->eta_ms, (uint64_t)HMS(10, 7, 0), "the schedule, not the old prediction");
    cr_assert_str_eq(A(0)->vehicle_id, "");
    cr_assert_neq(bd.content, before, "so the board is republished");
    cr_assert_str_eq(bd.msg.lines[1], "01   Đông          10:07", "a clock time, not minutes");
    struct buyt_board_counters k;
    buyt_boards_counters(c.b, &k);
    cr_assert_eq(k.stale_vehicles, 1);
    /* It reports again: live again. */
    drive(&c, 0, "29B-100", t, 2, 0, HMS(10, 4, 0));
    build(&c, 5, HMS(10, 4, 0));
    cr_assert(A(0)->realtime);
    city_free(&c);
}

Test(boards, an_off_route_bus_is_not_shown_as_real_time)
{
    struct city c;
    city_make(&c);
    uint32_t t = trip(&c, "A0", c.r01, true, 10 * 3600, NULL, "Đông");
    city_finish(&c);
    drive(&c, 0, "v", t, 1, 100, HMS(10, 1, 30));
    struct buyt_matcher_result r = at(c.net, t, buyt_network_trip_stop_dist(c.net, t, 1) + 100);
    r.off_route = true;
    cr_assert_eq(buyt_predict_vehicle(c.p, 0, "v", HMS(10, 2, 0), &r), 0);
    build(&c, 5, HMS(10, 2, 0));
    cr_assert_eq(bd.msg.n_arrivals, 1);
    cr_assert_eq(A(0)->status, ST(SCHEDULED_ONLY));
    cr_assert_not(A(0)->realtime);
    city_free(&c);
}

Test(boards, delayed_and_cancelled)
{
    struct city c;
    city_make(&c);
    uint32_t t = trip(&c, "A0", c.r01, true, 10 * 3600, NULL, "Đông"); /* s6 at 10:06 */
    uint32_t x = trip(&c, "A1", c.r01, true, 10 * 3600 + 10 * 60, NULL, "Đông");
    city_finish(&c);
    drive(&c, 0, "v", t, 1, 0, HMS(10, 8, 0)); /* 7 min late: s6 at 10:13 */
    cr_assert_eq(buyt_predict_trip_cancel(c.p, x, true), 0);
    build(&c, 6, HMS(10, 8, 0));
    cr_assert_eq(bd.msg.n_arrivals, 2);
    cr_assert_eq(A(0)->status, ST(DELAYED));
    cr_assert(A(0)->realtime);
    cr_assert_eq(A(0)->minutes, 5);
    cr_assert_eq(A(1)->status, ST(CANCELLED));
    cr_assert_not(A(1)->realtime);
    cr_assert_str_eq(bd.msg.lines[2], "01   Đông         cancel");
    city_free(&c);
}

Test(boards, a_terminal_lists_the_next_departure_not_the_arrival_there)
{
    struct city c;
    city_make(&c);
    uint32_t t1 = trip(&c, "T1", c.r01, true, 8 * 3600, "B1", "Đông");           /* s7 at 08:07 */
    uint32_t t2 = trip(&c, "T2", c.r01, false, 8 * 3600 + 12 * 60, "B1", "Tây"); /* s7 08:12 */
    city_finish(&c);
    (void)t2;
    /* T1 is 6 min late: reaches s7 at ~08:13:30, so T2 leaves after its layover. */
    drive(&c, 0, "v", t1, 5, 0, HMS(8, 11, 30));
    build(&c, 7, HMS(8, 11, 30));
    cr_assert_eq(bd.msg.n_arrivals, 1, "T1 ends at s7: not listed");
    cr_assert_str_eq(A(0)->trip_id, "T2");
    cr_assert_eq(A(0)->eta_ms, (uint64_t)HMS(8, 15, 30), "T1 arrives 08:13:30 + 2 min");
    cr_assert_eq(A(0)->status, ST(SCHEDULED_ONLY), "not started: corrected, not real-time");
    cr_assert_not(A(0)->realtime);
    cr_assert_str_eq(A(0)->vehicle_id, "v");
    city_free(&c);
}

static int published;
static char last_stop[64];
static bool refuse;
static bool on_publish(void *ctx, const char *stop_id, const uint8_t *payload, size_t len)
{
    (void)ctx;
    if (refuse)
        return false;
    Buyt__V1__StopBoard *b = buyt__v1__stop_board__unpack(NULL, len, payload);
    cr_assert_not_null(b);
    cr_assert_str_eq(b->stop_id, stop_id);
    cr_assert_eq(b->n_lines, 4);
    cr_assert_eq(b->line_width, 24);
    buyt__v1__stop_board__free_unpacked(b, NULL);
    snprintf(last_stop, sizeof last_stop, "%s", stop_id);
    published++;
    return true;
}

Test(boards, publishes_on_change_and_at_least_every_30_s)
{
    struct city c;
    city_make(&c);
    uint32_t t = trip(&c, "A0", c.r01, true, 10 * 3600, NULL, "Đông");
    city_finish(&c);
    /* 08:00: nothing within the hour; the boards (empty) never change. */
    int64_t now = HMS(8, 0, 0);
    published = 0;
    cr_assert_eq(buyt_boards_tick(c.b, c.p, now, on_publish, NULL), NSTOP - 1,
                 "every served stop once (s7 only ends trips)");
    cr_assert_eq(buyt_boards_tick(c.b, c.p, now + 1000, on_publish, NULL), 0, "unchanged");
    cr_assert_eq(buyt_boards_tick(c.b, c.p, now + 29999, on_publish, NULL), 0, "unchanged");
    cr_assert_eq(buyt_boards_tick(c.b, c.p, now + 30000, on_publish, NULL), NSTOP - 1,
                 "30 s: republished although unchanged");

    /* 09:49:30: A0 enters the horizon everywhere. */
    now = HMS(9, 49, 30);
    cr_assert_eq(buyt_boards_tick(c.b, c.p, now, on_publish, NULL), NSTOP - 1);
    cr_assert_eq(buyt_boards_tick(c.b, c.p, now + 1000, on_publish, NULL), 0,
                 "eta and minutes unchanged");
    /* A bus appears: every board it is on changes (live, with a vehicle). */
    drive(&c, 0, "v", t, 0, 0, now + 2000);
    touch_all(&c);
    cr_assert_eq(buyt_boards_tick(c.b, c.p, now + 2000, on_publish, NULL), NSTOP - 1);
    cr_assert_eq(buyt_boards_tick(c.b, c.p, now + 3000, on_publish, NULL), 0);

    /* A refused publication is offered again at the next tick. */
    refuse = true;
    struct buyt_matcher_result r = {.trip = BUYT_NETWORK_NONE};
    cr_assert_eq(buyt_predict_vehicle(c.p, 0, "v", now + 4000, &r), 0);
    touch_all(&c);
    cr_assert_eq(buyt_boards_tick(c.b, c.p, now + 4000, on_publish, NULL), 0);
    refuse = false;
    cr_assert_eq(buyt_boards_tick(c.b, c.p, now + 5000, on_publish, NULL), NSTOP - 1);
    struct buyt_board_counters k;
    buyt_boards_counters(c.b, &k);
    cr_assert_eq(k.publish_refused, NSTOP - 1);
    city_free(&c);
}

Test(boards, a_touched_stop_is_built_at_the_flush_and_published_only_if_riders_see_a_change)
{
    struct city c;
    city_make(&c);
    uint32_t t = trip(&c, "A0", c.r01, true, 10 * 3600, NULL, "Đông");
    city_finish(&c);
    int64_t now = HMS(9, 49, 30);
    published = 0;
    cr_assert_eq(buyt_boards_tick(c.b, c.p, now, on_publish, NULL), NSTOP - 1, "first sweep");
    struct buyt_board_counters k0, k1;
    buyt_boards_counters(c.b, &k0);

    /* Nothing touched: a flush builds nothing. */
    cr_assert_eq(buyt_boards_flush(c.b, c.p, now + 100, on_publish, NULL), 0);
    buyt_boards_counters(c.b, &k1);
    cr_assert_eq(k1.built, k0.built, "no stop marked, no build");

    /* A bus appears; only stop s3 is marked: the flush builds and publishes s3 alone. */
    drive(&c, 0, "v", t, 0, 0, now + 200);
    uint64_t mark = buyt_mono_ns();
    buyt_boards_touch(c.b, c.stop[3], mark);
    buyt_boards_touch(c.b, c.stop[3], mark + 5); /* the oldest mark is kept, listed once */
    buyt_boards_touch(c.b, c.stop[7], mark);     /* only ends trips: no board, ignored */
    buyt_boards_touch(c.b, 999, mark);           /* out of range: ignored */
    cr_assert_eq(buyt_boards_pending(c.b), 1);
    published = 0;
    cr_assert_eq(buyt_boards_flush(c.b, c.p, now + 210, on_publish, NULL), 1);
    cr_assert_str_eq(last_stop, "s3");
    cr_assert_eq(buyt_boards_pending(c.b), 0);
    buyt_boards_counters(c.b, &k1);
    cr_assert_eq(k1.built - k0.built, 1, "one board built");
    cr_assert_eq(k1.published_on_change, 1);
    const struct buyt_hist *h = buyt_boards_latency(c.b);
    cr_assert_eq(h->n, 1, "the publish's latency is recorded");
    cr_assert_lt(h->max_us, 10u * 1000 * 1000, "mark to publish, in microseconds");

    /* Touched again without a change a rider sees: built, not published, mark dropped. */
    buyt_boards_touch(c.b, c.stop[3], buyt_mono_ns());
    cr_assert_eq(buyt_boards_flush(c.b, c.p, now + 220, on_publish, NULL), 0);
    cr_assert_eq(buyt_boards_pending(c.b), 0);
    cr_assert_eq(buyt_boards_latency(c.b)->n, 1);

    /* A refused publish keeps the mark for the next flush. */
    struct buyt_matcher_result r = {.trip = BUYT_NETWORK_NONE};
    cr_assert_eq(buyt_predict_vehicle(c.p, 0, "v", now + 300, &r), 0);
    buyt_boards_touch(c.b, c.stop[3], buyt_mono_ns()); /* s3 last showed the bus */
    refuse = true;
    cr_assert_eq(buyt_boards_flush(c.b, c.p, now + 310, on_publish, NULL), 0);
    cr_assert_eq(buyt_boards_pending(c.b), 1);
    refuse = false;
    cr_assert_eq(buyt_boards_flush(c.b, c.p, now + 320, on_publish, NULL), 1);
    cr_assert_str_eq(last_stop, "s3");
    cr_assert_eq(buyt_boards_latency(c.b)->n, 2);
    /* The bus comes back, nothing marked: the sweep leaves the boards alone until their
     * recheck (every board is rebuilt at least every 10 s), then publishes every one. */
    drive(&c, 0, "v", t, 0, 0, now + 900);
    cr_assert_eq(buyt_boards_tick(c.b, c.p, now + 1000, on_publish, NULL), 0);
    cr_assert_eq(buyt_boards_tick(c.b, c.p, now + 10400, on_publish, NULL), NSTOP - 1);
    cr_assert_eq(buyt_boards_latency(c.b)->n, 2, "unmarked publishes are not fix latencies");
    city_free(&c);
}

Test(boards, the_sweep_rebuilds_a_board_when_its_minutes_change_not_every_second)
{
    struct city c;
    city_make(&c);
    uint32_t t = trip(&c, "A0", c.r01, true, 10 * 3600, NULL, "Đông");
    city_finish(&c);
    /* 09:57:30: the bus at s0; it is predicted at s3 on schedule, 10:03:00 (5.5 min away);
     * every eta is on a whole minute, so no board's minutes change in the next 29 s. */
    int64_t now = HMS(9, 57, 30);
    drive(&c, 0, "v", t, 0, 0, now);
    published = 0;
    cr_assert_eq(buyt_boards_tick(c.b, c.p, now, on_publish, NULL), NSTOP - 1);
    build(&c, 3, now);
    int64_t eta = (int64_t)A(0)->eta_ms;
    int32_t m0 = A(0)->minutes;
    struct buyt_board_counters k0, k1;
    buyt_boards_counters(c.b, &k0);
    /* The next second: nothing due anywhere, nothing built. */
    cr_assert_eq(buyt_boards_tick(c.b, c.p, now + 1000, on_publish, NULL), 0);
    buyt_boards_counters(c.b, &k1);
    cr_assert_eq(k1.built, k0.built, "no board built: none due");
    cr_assert_eq(k1.sweep_skipped - k0.sweep_skipped, NSTOP - 1);
    /* Just past s3's minute boundary its board is rebuilt and shows a minute less. */
    int64_t boundary = eta - (int64_t)m0 * 60000 + 1;
    cr_assert_lt(boundary, now + 61000);
    int64_t at = now + 1000;
    while (at + 1000 < boundary) { /* 1 s ticks until just before it */
        at += 1000;
        buyt_boards_tick(c.b, c.p, at, on_publish, NULL);
    }
    published = 0;
    last_stop[0] = '\0';
    buyt_boards_tick(c.b, c.p, boundary, on_publish, NULL);
    cr_assert_geq(published, 1);
    build(&c, 3, boundary);
    cr_assert_eq(A(0)->minutes, m0 - 1);
    city_free(&c);
}

Test(boards, packed_board_round_trips)
{
    struct city c;
    city_make(&c);
    trip(&c, "A0", c.r01, true, 10 * 3600, NULL, "Đông");
    city_finish(&c);
    build(&c, 2, HMS(9, 59, 0));
    uint8_t buf[8192];
    size_t len = buyt_board_pack(&bd, buf, sizeof buf);
    cr_assert_gt(len, 0);
    cr_assert_eq(buyt_board_pack(&bd, buf, 10), 0, "too small");
    Buyt__V1__StopBoard *b = buyt__v1__stop_board__unpack(NULL, len, buf);
    cr_assert_not_null(b);
    cr_assert_eq(b->n_arrivals, 1);
    cr_assert_str_eq(b->arrivals[0]->route_id, "R01");
    cr_assert_eq(b->arrivals[0]->eta_ms, (uint64_t)HMS(10, 2, 0));
    cr_assert_eq(b->generated_ms, (uint64_t)HMS(9, 59, 0));
    char out[BUYT_BOARD_TEXT_BYTES];
    struct buyt_board_text t;
    buyt_board_text_default(&t);
    cr_assert_gt(buyt_board_render(b, &t, HMS(9, 59, 0), 7 * 3600, out, sizeof out), 0);
    cr_assert_str_eq(out,
                     "Điểm 2             09:59\n"
                     "01   Đông          10:02\n"
                     "                        \n"
                     "                        \n",
                     "a receiver renders what the engine put in `lines`");
    char joined[BUYT_BOARD_TEXT_BYTES] = "";
    for (uint32_t i = 0; i < b->n_lines; i++) {
        strcat(joined, b->lines[i]);
        strcat(joined, "\n");
    }
    cr_assert_str_eq(joined, out);
    buyt__v1__stop_board__free_unpacked(b, NULL);
    city_free(&c);
}
