/* Agents mode; see agents.h. (Placeholder until buyt-onboard exists on this branch.) */
#include "agents.h"

#include "error.h"

#include <stdio.h>

int buyt_agents_new(uv_loop_t *loop, const struct buyt_agents_config *cfg,
                    const struct buyt_fleet *fleet, const uint64_t *seq, char *err,
                    size_t errlen, struct buyt_agents **out)
{
    (void)loop, (void)cfg, (void)fleet, (void)seq;
    *out = NULL;
    snprintf(err, errlen, "agents mode is not available yet: use --direct or --dry-run");
    return BUYT_EINVAL;
}

void buyt_agents_epoch(struct buyt_agents *a, int v, const struct buyt_fleet_epoch *e)
{
    (void)a, (void)v, (void)e;
}

void buyt_agents_card(struct buyt_agents *a, int v, const struct buyt_fleet_card *c)
{
    (void)a, (void)v, (void)c;
}

void buyt_agents_power(struct buyt_agents *a, int v, int64_t t, bool on)
{
    (void)a, (void)v, (void)t, (void)on;
}

bool buyt_agents_stopped(struct buyt_agents *a)
{
    (void)a;
    return true;
}

void buyt_agents_close(struct buyt_agents *a) { (void)a; }
