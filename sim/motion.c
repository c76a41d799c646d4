/* Bus kinematics; see motion.h. Lookahead braking uses v <= sqrt(v_c^2 + 2 b d) for every
 * constraint (v_c at distance d) within braking range; the result is clamped to the limit at
 * the new position, so "never above the limit" holds by construction, not by tuning. */
#include "motion.h"

#include <math.h>

void buyt_motion_init(struct buyt_motion *m, const struct buyt_net_shape *shape,
                      const double *limit_ms, double s_m)
{
    m->shape = shape;
    m->limit_ms = limit_ms;
    m->s_m = s_m;
    m->v_ms = 0;
    m->seg = 0;
    double x, y, dx, dy;
    buyt_net_shape_at(shape, s_m, &m->seg, &x, &y, &dx, &dy);
}

static int seg_of(const struct buyt_net_shape *sh, double s, int hint)
{
    int j = hint < 0 ? 0 : hint > sh->n - 2 ? sh->n - 2 : hint;
    while (j > 0 && sh->dist_m[j] > s)
        j--;
    while (j < sh->n - 2 && sh->dist_m[j + 1] <= s)
        j++;
    return j;
}

double buyt_motion_limit_at(const struct buyt_motion *m, double s_m)
{
    return m->limit_ms[seg_of(m->shape, s_m, m->seg)];
}

int buyt_motion_step(struct buyt_motion *m, double dt, double halt_m, double cruise)
{
    const struct buyt_net_shape *sh = m->shape;
    double end = sh->dist_m[sh->n - 1];
    if (!(halt_m < end))
        halt_m = end;
    if (halt_m < m->s_m)
        halt_m = m->s_m;
    double s = m->s_m, v = m->v_ms;
    const double b = BUYT_MOTION_DECEL_MS2;
    if (halt_m - s <= BUYT_MOTION_HALT_EPS_M) {
        m->s_m = halt_m;
        m->v_ms = 0;
        return 1;
    }
    m->seg = seg_of(sh, s, m->seg);
    double lim = m->limit_ms[m->seg];
    double target = lim * cruise;
    /* Constraints ahead: the halt, and every lower limit within braking range. */
    double allow = sqrt(2 * b * (halt_m - s));
    double horizon = s + v * v / (2 * b) + v * dt + 30;
    for (int j = m->seg + 1; j < sh->n - 1 && sh->dist_m[j] < horizon; j++) {
        double d = sh->dist_m[j] - s - v * dt; /* reach the boundary braked, a step early */
        if (d < 0)
            d = 0;
        double a = sqrt(m->limit_ms[j] * m->limit_ms[j] + 2 * b * d);
        if (a < allow)
            allow = a;
    }
    if (allow < target)
        target = allow;
    double nv;
    if (v < target)
        nv = fmin(target, v + BUYT_MOTION_ACCEL_MS2 * dt);
    else
        nv = fmax(target, v - BUYT_MOTION_BRAKE_MS2 * dt);
    if (nv < 0.5 && halt_m - s > BUYT_MOTION_HALT_EPS_M)
        nv = fmin(0.5, sqrt(2 * b * (halt_m - s))); /* creep the last decimetres */
    double ns = s + (v + nv) / 2 * dt;
    if (ns >= halt_m - BUYT_MOTION_HALT_EPS_M) {
        m->s_m = halt_m;
        m->v_ms = 0;
        m->seg = seg_of(sh, halt_m, m->seg);
        return 1;
    }
    m->seg = seg_of(sh, ns, m->seg);
    if (nv > m->limit_ms[m->seg])
        nv = m->limit_ms[m->seg];
    m->s_m = ns;
    m->v_ms = nv;
    return 0;
}
