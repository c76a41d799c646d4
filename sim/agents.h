/* Agents mode: one real buyt-onboard process per simulated bus, fed the bus's GNSS receiver
 * output as NMEA 0183 bytes and its RFID readers' RDM6300 frames through pseudo-terminals
 * (posix_openpt), with a generated configuration (vehicle id, broker URL with the vehicle's
 * own account, journal under the work dir, driver list, fleet key). For tens of buses: the
 * end-to-end demo of the real agent. */
#ifndef BUYT_SIM_AGENTS_H
#define BUYT_SIM_AGENTS_H

#include "fleet.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct buyt_agents_config {
    const char *mqtt_url;      /* broker host/port; credentials come from accounts_file */
    const char *agency;
    const char *workdir;       /* created; per vehicle: VEHICLE/onboard.conf, journal/, log */
    const char *accounts_file; /* NAME:PASSWORD lines (tools/mqtt-accounts.sh format) */
    const char *onboard;       /* path of buyt-onboard */
    const char *fleet_key_hex;
    const char *argv0;
};

struct buyt_agents;

/** Prepares the work dir, ptys and configs for every vehicle of `fleet` (borrowed) and starts
 *  the agents as each bus powers on. Returns 0, or a negative code with a reason in err. */
int buyt_agents_new(uv_loop_t *loop, const struct buyt_agents_config *cfg,
                    const struct buyt_fleet *fleet, const uint64_t *seq, char *err,
                    size_t errlen, struct buyt_agents **out);

void buyt_agents_epoch(struct buyt_agents *a, int vehicle, const struct buyt_fleet_epoch *e);
void buyt_agents_card(struct buyt_agents *a, int vehicle, const struct buyt_fleet_card *c);
void buyt_agents_power(struct buyt_agents *a, int vehicle, int64_t time_ms, bool on);

/** True once every agent process has exited (after buyt_agents_stop or on its own). */
bool buyt_agents_stopped(struct buyt_agents *a);

/** Sends SIGTERM to the agents, then closes every handle and frees `a` once they are gone. */
void buyt_agents_close(struct buyt_agents *a);

#endif
