/* The simulated fleet: N buses, each assigned one block instance of the loaded network (or
 * parked as a spare), driven through its trips in simulated time with realistic behaviour:
 * power-on and driver sign-in at the start of a shift, layovers at terminals, traffic-light
 * halts, congestion, time-of-day speeds, dwell with passenger boardings and card taps, holding
 * at timepoints, detours off the shape, GNSS noise, degraded fixes and outages, connectivity
 * dead zones. Everything is deterministic for a seed.
 *
 * The fleet produces what a bus's sensors would: one GNSS epoch per vehicle per simulated
 * second, card presentations, power on/off; and the ground truth. A sink (direct MQTT
 * publisher, or NMEA/RFID feeders of real agents) turns them into bytes. */
#ifndef BUYT_SIM_FLEET_H
#define BUYT_SIM_FLEET_H

#include "simnet.h"
#include "truth.h"

#include <stdbool.h>
#include <stdint.h>

#define BUYT_FLEET_STEP_MS 500        /* kinematic step */
#define BUYT_FLEET_DWELL_MIN_S 7.0    /* doors open and close with nobody */
#define BUYT_FLEET_DWELL_MAX_S 90.0   /* passenger dwell cap */
#define BUYT_FLEET_HOLD_MAX_S 120.0   /* extra wait at a timepoint when early */
#define BUYT_FLEET_UID_BYTES 5        /* EM4100: version byte + 4 id bytes (RDM6300 readers) */

/* One GNSS epoch of one bus: what the receiver reports, and the truth behind it. */
struct buyt_fleet_epoch {
    int64_t time_ms;     /* GNSS time, whole second */
    bool valid;          /* receiver has a fix */
    double lat, lon;     /* reported (noisy) */
    double speed_ms;     /* reported speed over ground */
    double course_deg;   /* reported course, 0..360 */
    double alt_m;
    double hdop;
    int satellites;
    bool connected;      /* outside any dead zone */
    /* truth */
    double true_lat, true_lon, true_speed_ms, limit_ms;
    bool in_service;     /* on a trip (not layover, not parked) */
};

enum buyt_fleet_card_role { BUYT_FLEET_PASSENGER = 1, BUYT_FLEET_DRIVER = 2 };

/* A card presented to one of the bus's readers. */
struct buyt_fleet_card {
    int64_t time_ms;
    enum buyt_fleet_card_role role;
    uint8_t uid[BUYT_FLEET_UID_BYTES];
    /* driver cards only: what the bus's driver list and keypad would give */
    int driver_event;          /* 1 sign-in, 2 sign-out (buyt.v1.DriverEventKind) */
    const char *driver_id;     /* borrowed */
    const char *run_id;        /* block id when the driver keyed it in, else "" */
};

struct buyt_fleet_sink {
    void *ud;
    /** Every simulated second of every powered bus. */
    void (*epoch)(void *ud, int vehicle, const struct buyt_fleet_epoch *e);
    /** A card tap (passenger boarding, driver sign-in/out). */
    void (*card)(void *ud, int vehicle, const struct buyt_fleet_card *c);
    /** The bus's agent is powered on/off (start and end of a shift). */
    void (*power)(void *ud, int vehicle, int64_t time_ms, bool on);
    /** A truth row (may be NULL). */
    void (*truth)(void *ud, const struct buyt_truth_row *row);
};

struct buyt_fleet_config {
    uint64_t seed;
    int vehicles;
    const char *vehicle_prefix; /* ids are prefix + (first_number + i) */
    int first_number;
    int skip_blocks;            /* leave the first N assignments to another buyt-sim process */
    int64_t start_ms;           /* simulated start */
    int64_t horizon_ms;         /* blocks starting after this are not assigned */
    bool faults;                /* detours, GNSS trouble, dead zones (default true) */
    double detour_prob;         /* per trip (default 0.04) */
    int deadzones;              /* number of dead zones in the city (default 6) */
};

struct buyt_fleet;

/** Fills defaults. */
void buyt_fleet_config_init(struct buyt_fleet_config *cfg);

/** Assigns vehicles to block instances active at start_ms or starting before horizon_ms,
 *  round-robin over routes (active ones first), places each where its schedule says, and
 *  prepares the dead zones. `net` and `sink` are borrowed and must outlive the fleet.
 *  Returns 0, BUYT_EINVAL (bad config) or BUYT_ENOMEM. */
int buyt_fleet_new(const struct buyt_simnet *net, const struct buyt_fleet_config *cfg,
                   const struct buyt_fleet_sink *sink, struct buyt_fleet **out);

/** Advances every vehicle to simulated time `to_ms` (step by step, calling the sink). */
void buyt_fleet_advance(struct buyt_fleet *f, int64_t to_ms);

/** Ends the run at the current time: closes open truth intervals (detours, dead zones...). */
void buyt_fleet_finish(struct buyt_fleet *f);

/** Current simulated time. */
int64_t buyt_fleet_now(const struct buyt_fleet *f);

int buyt_fleet_count(const struct buyt_fleet *f);
const char *buyt_fleet_vehicle_id(const struct buyt_fleet *f, int vehicle);
/** Driver id and card UID of the vehicle's driver (for the agents' driver lists). */
const char *buyt_fleet_driver_id(const struct buyt_fleet *f, int vehicle);
void buyt_fleet_driver_uid(const struct buyt_fleet *f, int vehicle,
                           uint8_t uid[BUYT_FLEET_UID_BYTES]);
/** Block id assigned to the vehicle, "" for a spare. */
const char *buyt_fleet_block_id(const struct buyt_fleet *f, int vehicle);
/** True if the vehicle is powered now. */
bool buyt_fleet_powered(const struct buyt_fleet *f, int vehicle);

/** Frees the fleet; NULL is a no-op. */
void buyt_fleet_free(struct buyt_fleet *f);

#endif
