/* Trip matching: which trip a vehicle is running and how far along its shape it is.
 *
 * Per fix, buyt_matcher_update() projects the position onto the assigned trip's shape near
 * the previous progress (a window, so loops and out-and-back shapes keep their direction),
 * keeps progress monotone within GPS jitter, flags off-route and layover, and computes the
 * schedule deviation and next stop. Without an assignment, or when the assignment no longer
 * explains the fixes, it follows a few hypotheses (trip, progress) found through the spatial
 * grid and commits one only when the bus has moved along it far enough to tell it from the
 * others: a parked bus is never assigned, and at a terminus shared by several routes the
 * choice waits until the shapes part.
 *
 * Ownership: the matcher borrows the network (read-only, must outlive it). Vehicle states are
 * plain fixed-size structs owned by the caller (an array in the engine's vehicle table); the
 * update allocates nothing. Not thread-safe for one matcher: the trip claims (which vehicle
 * runs which trip) are shared by its vehicles; call from one thread (the engine's loop). */
#ifndef BUYT_MATCHER_H
#define BUYT_MATCHER_H

#include "network.h"

#include <stdbool.h>
#include <stdint.h>

#define BUYT_MATCHER_HISTORY 32   /* fixes remembered per vehicle (replayed on assignment) */
#define BUYT_MATCHER_HYPOTHESES 8 /* candidate trips followed at once while unassigned */

/** Tuning. buyt_matcher_config_default() gives the values in brackets. */
struct buyt_matcher_config {
    double search_radius_m;   /* [60] shapes within this of a fix become candidates */
    double off_route_m;       /* [60] lateral distance beyond which a fix is off the route */
    uint32_t off_route_fixes; /* [3] consecutive such fixes to flag off-route */
    uint32_t on_route_fixes;  /* [2] consecutive fixes back within off_route_m to clear it */
    double jitter_back_m;     /* [30] backward movement tolerated as GPS jitter (progress held) */
    double window_margin_m;   /* [50] slack of the projection window behind and ahead */
    double max_speed_mps;     /* [30] bounds the window ahead: max_speed x time since last fix */
    double wrong_way_m;       /* [50] cost of a segment pointing against the bus's heading */
    double stationary_mps;    /* [1.0] below this speed the bus is standing */
    double heading_min_mps;   /* [2.5] GPS course trusted at or above this speed */
    int32_t early_s;          /* [180] a trip is a candidate from this early ... */
    int32_t late_s;           /* [1800] ... to this late against its schedule at that point */
    double min_move_m;        /* [100] progress along a candidate before it may be assigned */
    uint32_t min_fixes;       /* [3] fixes matched to a candidate before it may be assigned */
    double discriminate_m;    /* [1000] look-alike shapes: choose by schedule after this far */
    double ambiguity_m;       /* [20] a candidate this much farther off (mean) is not a rival */
    double at_stop_m;         /* [30] within this of a stop the bus is at it (schedule, end) */
    double layover_radius_m;  /* [150] standing this close to a terminal stop is layover */
    int32_t block_max_gap_s;  /* [3600] chain to the block's next trip if it starts this soon */
    int32_t lost_drop_s;      /* [900] an automatic assignment off route this long is dropped */
    double max_jump_mps;      /* [70] implied speed beyond which a fix is an outlier */
};

enum buyt_matcher_how {
    BUYT_MATCHER_HOW_NONE = 0,
    BUYT_MATCHER_HOW_EXPLICIT, /* the driver named the trip */
    BUYT_MATCHER_HOW_SIGNIN,   /* the matcher chose it among the driver's route or run */
    BUYT_MATCHER_HOW_AUTO,     /* the matcher chose it among all active trips */
    BUYT_MATCHER_HOW_BLOCK,    /* the next trip of the previous trip's block */
};

/** What a driver's sign-in restricts the matcher to. */
enum buyt_matcher_constraint {
    BUYT_MATCHER_ANY = 0, /* automatic */
    BUYT_MATCHER_TRIP,    /* one trip instance */
    BUYT_MATCHER_ROUTE,   /* trips of one route */
    BUYT_MATCHER_BLOCK,   /* trips of one block (run) */
};

/** A progress sample on the assigned trip, for stop detection (stopev.h). */
struct buyt_matcher_point {
    int64_t time_ms;
    float dist_m;    /* progress along the trip's shape; non-decreasing within a trip */
    float speed_mps; /* NAN if unknown */
    bool stationary;
};

/** One fix remembered (private to the matcher). */
struct buyt_matcher_fix {
    int64_t time_ms;
    float x_m, y_m;
    float speed_mps;
};

/** A candidate (trip, progress) followed while unassigned (private to the matcher). */
struct buyt_matcher_hyp {
    uint32_t trip;
    uint32_t seq0;   /* history sequence number of its first fix */
    float dist_m;    /* progress, monotone */
    float dist0_m;   /* progress at its first fix */
    float sum_off_m; /* sum of lateral offsets of its fixes */
    uint16_t n_fixes;
    uint8_t misses, back, wrong_way;
};

/** Per-vehicle state: fixed size, no pointers, zero allocation. Fields are private; read the
 *  result of buyt_matcher_update() instead. Initialise with buyt_matcher_vehicle_init(). */
struct buyt_matcher_vehicle {
    uint32_t vehicle_id;
    uint32_t constraint; /* trip / route / block index for constraint_kind */
    uint8_t constraint_kind;
    uint8_t how;
    bool anchored, completed, off_route;
    uint8_t off_count, on_count, back_count, jump_count, n_hyp;
    uint32_t trip;
    double dist_m;
    int64_t last_on_route_ms; /* last fix within off_route_m of the trip */
    int64_t off_since_ms;
    uint32_t hist_seq;        /* fixes pushed so far; the newest is hist[(hist_seq-1) % N] */
    float disc_x_m, disc_y_m; /* where shapes were last searched for new hypotheses */
    struct buyt_matcher_fix hist[BUYT_MATCHER_HISTORY];
    struct buyt_matcher_hyp hyp[BUYT_MATCHER_HYPOTHESES];
};

/** The outcome of one fix. */
struct buyt_matcher_result {
    uint32_t trip; /* assigned trip instance, or BUYT_NETWORK_NONE */
    enum buyt_matcher_how how;
    double dist_m;       /* progress along the trip's shape */
    double offset_m;     /* this fix's lateral offset from the shape (+ left); NAN if none */
    int32_t deviation_s; /* schedule deviation at dist_m, + late; 0 while waiting at the
                            first stop before its departure */
    uint32_t next_stop;  /* index in the trip's stops of the stop the bus is at or heading
                            to; n_stops after the last */
    bool assigned_now;   /* the trip was (re)assigned by this fix */
    bool progress_reset; /* progress went backwards (re-anchored): restart stop tracking */
    bool off_route;
    bool layover; /* standing near the trip's first or last stop */
    bool stationary;
    bool completed;    /* reached the last stop; the trip stays reported while the bus
                          waits there */
    uint32_t n_points; /* progress samples produced by this fix (oldest first): usually
                          one; on a new assignment the remembered fixes since the
                          candidate appeared; none while off route */
    struct buyt_matcher_point points[BUYT_MATCHER_HISTORY];
};

struct buyt_matcher; /* opaque */

/** Fills cfg with the defaults above. */
void buyt_matcher_config_default(struct buyt_matcher_config *cfg);

/** Creates a matcher over a finished network (borrowed). cfg NULL: defaults. Returns 0,
 *  BUYT_EINVAL (network not finished, bad config) or BUYT_ENOMEM. */
int buyt_matcher_new(const struct buyt_network *net, const struct buyt_matcher_config *cfg,
                     struct buyt_matcher **out);

/** Frees the matcher. NULL is a no-op. Vehicle states must not be used with it afterwards. */
void buyt_matcher_free(struct buyt_matcher *m);

/** Initialises a vehicle state: unassigned, automatic. vehicle_id (< UINT32_MAX) must be
 *  unique among the vehicles of one matcher: it marks the trips the vehicle claims, so that
 *  automatic matching gives a trip to one vehicle only. */
void buyt_matcher_vehicle_init(struct buyt_matcher_vehicle *v, uint32_t vehicle_id);

/** Forgets the vehicle's assignment, sign-in and history and releases its trip claim. Call it
 *  before dropping a vehicle, and for every vehicle before moving to a new network. */
void buyt_matcher_vehicle_reset(struct buyt_matcher *m, struct buyt_matcher_vehicle *v);

/** Driver sign-in with a trip: assigned at once (EXPLICIT), placed on its shape at the next
 *  fix near it, kept through detours and waits. When it ends the vehicle follows the trip's
 *  block (BLOCK), or without one is matched among the trip's route. Returns 0 or BUYT_EINVAL
 *  (unknown or invalid trip). */
int buyt_matcher_assign_trip(struct buyt_matcher *m, struct buyt_matcher_vehicle *v, uint32_t trip);

/** Driver sign-in with a route or a run (block): the matcher picks the trip among them as it
 *  would automatically (SIGNIN). Returns 0 or BUYT_EINVAL. */
int buyt_matcher_assign_route(struct buyt_matcher *m, struct buyt_matcher_vehicle *v,
                              uint32_t route);
int buyt_matcher_assign_block(struct buyt_matcher *m, struct buyt_matcher_vehicle *v,
                              uint32_t block);

/** Driver sign-out: drops any assignment and returns to automatic matching. */
void buyt_matcher_unassign(struct buyt_matcher *m, struct buyt_matcher_vehicle *v);

/** Feeds one fix: time (Unix ms, GNSS), WGS-84 degrees, speed over ground (m/s) and course
 *  (degrees true) or NAN when the receiver did not give them. Fills *res. Returns 0;
 *  BUYT_EINVAL for bad coordinates; BUYT_ERANGE when the fix is not used: not newer than the
 *  previous one (order fixes first), or an implausible jump (implied speed over max_jump_mps;
 *  after off_route_fixes such fixes in a row the new place is believed). On an error *res
 *  still describes the current assignment, with no points. Allocates nothing. */
int buyt_matcher_update(struct buyt_matcher *m, struct buyt_matcher_vehicle *v, int64_t time_ms,
                        double lat, double lon, double speed_mps, double course_deg,
                        struct buyt_matcher_result *res);

#endif
