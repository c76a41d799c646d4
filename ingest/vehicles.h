/* The engine's per-vehicle state and the registry that finds it by fleet number (hash) or by
 * database id (direct index). Vehicles are registered in the `vehicles` table; a message from
 * a vehicle not in the registry is rejected as unknown_vehicle. */
#ifndef BUYT_VEHICLES_H
#define BUYT_VEHICLES_H

#include "matcher.h"
#include "seqset.h"
#include "stopev.h"

#include <stdbool.h>
#include <stdint.h>

#define BUYT_VEHICLE_UNKNOWN UINT32_MAX /* speed_cms / course_cdeg not reported */

struct buyt_vehicle {
    char id[33];                 /* fleet number, as in the topic */
    int32_t db_id;               /* vehicles.id */
    struct buyt_seqset accepted; /* seqs accepted (in a sealed or the open batch) */
    uint64_t acked;              /* stored_through_seq of the last Ack published */
    bool in_batch;               /* touched since the open batch began */
    bool reack;                  /* re-sent records seen: repeat the Ack even if unchanged */
    bool ack_pending;            /* committed through ack_through, Ack held back (coalescing) */
    uint64_t ack_through;
    uint64_t ack_ms;             /* uv_now() of the last Ack published */
    uint64_t boot_id;
    int64_t last_seen_ms;        /* engine clock (Unix ms) of the last telemetry */
    int64_t last_fix_ms;         /* GNSS time of the newest fix (0: none) */
    int32_t lat_e7, lon_e7;      /* newest fix */
    uint32_t speed_cms, course_cdeg; /* BUYT_VEHICLE_UNKNOWN: the newest fix did not give it */
    uint32_t moved_cms; /* when the fix gave no speed: its distance from the previous fix over
                           the time between (at most 60 s apart), else BUYT_VEHICLE_UNKNOWN */
    uint32_t index;              /* position in the registry array */
    /* Matching (matcher.h, stopev.h): state and the latest result, for boards and the API. */
    struct buyt_matcher_vehicle mv;
    struct buyt_stopev_vehicle sv;
    uint32_t trip;               /* assigned trip instance, BUYT_NETWORK_NONE if none */
    uint8_t how;                 /* enum buyt_matcher_how */
    bool off_route, layover, completed;
    int32_t deviation_s;         /* + late */
    float dist_m;                /* progress along the trip's shape */
    uint32_t next_stop;          /* index in the trip's stops */
    int64_t matched_ms;          /* GNSS time of the fix this result is from */
    /* Occupancy from passenger taps (tap-on only: alightings are not seen): every boarding
     * adds 1 and the sum decays with a 10 min half-life (rides average ~14 min), an estimate
     * of the riders still on board. load_ms: the time it is valued at; 0: no tap yet. */
    float load;
    int64_t load_ms;
    char signin_trip[64], signin_route[64], signin_run[64]; /* driver's choice, re-applied
                                                                after a network reload */
};

struct buyt_vehicles {
    struct buyt_vehicle *v;
    uint32_t n, cap;
    uint32_t *slots;   /* open addressing over v[], UINT32_MAX = empty */
    uint32_t nslots;   /* power of two */
    uint32_t *by_db;   /* db_id -> index + 1 (0 = none) */
    int32_t n_by_db;
};

void buyt_vehicles_init(struct buyt_vehicles *vs);

#define BUYT_LOAD_HALF_LIFE_MS 600000.0

/** A passenger boarded at time_ms (a passenger card tap): load += 1, decayed to the newest. */
void buyt_vehicle_boarding(struct buyt_vehicle *v, int64_t time_ms);

/** Estimated riders on board at now_ms (the decayed load); < 0 when no tap was ever seen. */
double buyt_vehicle_occupancy(const struct buyt_vehicle *v, int64_t now_ms);
void buyt_vehicles_close(struct buyt_vehicles *vs);

/** Adds a vehicle with `acked_base` (its stored_through_seq) and the extra stored ranges.
 *  Returns 0, BUYT_EINVAL (duplicate or bad id) or BUYT_ENOMEM. Pointers into the registry
 *  are invalidated by an add. */
int buyt_vehicles_add(struct buyt_vehicles *vs, const char *id, int32_t db_id,
                      const struct buyt_seqset *stored);

struct buyt_vehicle *buyt_vehicles_find(const struct buyt_vehicles *vs, const char *id);
struct buyt_vehicle *buyt_vehicles_by_db_id(const struct buyt_vehicles *vs, int32_t db_id);

#endif
