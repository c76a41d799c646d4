/* Bus kinematics (sim/motion.c): limits, braking, halting. */
#include "motion.h"

#include <criterion/criterion.h>
#include <math.h>

/* A 2 km street: 1 km straight east, a 90-degree corner, 1 km north; 20 m points. */
static struct buyt_net_shape shape;
static double xs[102], ys[102], ds[102], lim[101];

static void make_shape(void)
{
    int n = 0;
    for (int i = 0; i <= 50; i++, n++) {
        xs[n] = i * 20.0;
        ys[n] = 0;
    }
    for (int i = 1; i <= 50; i++, n++) {
        xs[n] = 1000;
        ys[n] = i * 20.0;
    }
    ds[0] = 0;
    for (int i = 1; i < n; i++)
        ds[i] = ds[i - 1] + hypot(xs[i] - xs[i - 1], ys[i] - ys[i - 1]);
    for (int i = 0; i + 1 < n; i++)
        lim[i] = i < 25 ? 50 / 3.6 : i < 48 ? 30 / 3.6 : i < 52 ? 4.0 : 40 / 3.6;
    shape = (struct buyt_net_shape){.n = n, .x_m = xs, .y_m = ys, .dist_m = ds};
}

Test(sim_motion, never_exceeds_the_limit_where_it_is)
{
    make_shape();
    struct buyt_motion m;
    buyt_motion_init(&m, &shape, lim, 0);
    double prev_v = 0;
    for (int step = 0; step < 4000 && m.s_m < 1990; step++) {
        int halted = buyt_motion_step(&m, 0.5, INFINITY, 1.0);
        double l = buyt_motion_limit_at(&m, m.s_m);
        cr_assert_leq(m.v_ms, l + 1e-9, "v %.2f > limit %.2f at s %.1f", m.v_ms, l, m.s_m);
        cr_assert_leq(m.v_ms - prev_v, BUYT_MOTION_ACCEL_MS2 * 0.5 + 1e-9, "too strong accel");
        prev_v = m.v_ms;
        if (halted)
            break;
    }
    cr_assert_geq(m.s_m, 1990);
}

Test(sim_motion, halts_exactly_at_the_halt_point)
{
    make_shape();
    double halts[] = {7.0, 133.3, 480.0, 999.0, 1000.5, 1500.25};
    for (size_t h = 0; h < sizeof halts / sizeof halts[0]; h++) {
        struct buyt_motion m;
        buyt_motion_init(&m, &shape, lim, h ? halts[h - 1] : 0);
        int halted = 0, steps = 0;
        while (!halted && steps++ < 2000) {
            double before = m.s_m;
            halted = buyt_motion_step(&m, 0.5, halts[h], 0.9);
            cr_assert_geq(m.s_m, before, "moved backwards");
            cr_assert_leq(m.s_m, halts[h] + 1e-9, "overshot %.2f", halts[h]);
        }
        cr_assert(halted, "never reached %.2f", halts[h]);
        cr_assert_float_eq(m.s_m, halts[h], 1e-9);
        cr_assert_float_eq(m.v_ms, 0.0, 1e-12);
    }
}

Test(sim_motion, slows_for_the_corner_and_cruises_below_the_limit)
{
    make_shape();
    struct buyt_motion m;
    buyt_motion_init(&m, &shape, lim, 0);
    double vmax_straight = 0, v_corner = 100;
    while (m.s_m < 1900) {
        buyt_motion_step(&m, 0.5, INFINITY, 0.8);
        if (m.s_m < 480 && m.v_ms > vmax_straight)
            vmax_straight = m.v_ms;
        if (m.s_m > 990 && m.s_m < 1010)
            v_corner = fmin(v_corner, m.v_ms);
    }
    cr_assert_float_eq(vmax_straight, 0.8 * 50 / 3.6, 0.01, "cruise %.2f", vmax_straight);
    cr_assert_leq(v_corner, 4.0 + 1e-9);
}
