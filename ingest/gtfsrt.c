/* GTFS-Realtime VehiclePositions and TripUpdates over the engine's live state; see gtfsrt.h and
 * docs/GTFS-REALTIME.md. Field meanings: https://gtfs.org/realtime/reference/ (cited below as
 * "GTFS-RT"). */
#include "gtfsrt.h"

#include "clock.h"
#include "engine.h"
#include "error.h"
#include "geo.h"
#include "http.h"
#include "jsonw.h"
#include "log.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE BUYT_NETWORK_NONE

typedef TransitRealtime__TripDescriptor__ScheduleRelationship trip_rel;

/* The messages of one feed entity, pointing at each other once filled. */
struct ent {
    TransitRealtime__FeedEntity fe;
    TransitRealtime__TripDescriptor trip;
    TransitRealtime__VehicleDescriptor veh;
    TransitRealtime__VehiclePosition vp;
    TransitRealtime__Position pos;
    TransitRealtime__TripUpdate tu;
    char date[9];
    char start_time[16]; /* a frequency run's start; the trip is identified by it too */
};

/* One StopTimeUpdate and its two events. */
struct stu {
    TransitRealtime__TripUpdate__StopTimeUpdate u;
    TransitRealtime__TripUpdate__StopTimeEvent arr, dep;
};

/* A trip update to write: a vehicle's current trip from stop `from`, a later trip of its
 * block, or a cancelled trip. */
struct cand {
    uint32_t vehicle; /* registry index; NONE: cancelled trip */
    uint32_t trip, from, n;
    int64_t fix_ms;
    bool later; /* a later trip of the vehicle's block: not started yet */
};

/* One feed as served, and the JSON made from it. */
struct feed {
    uint8_t *pb, *scratch; /* served bytes; the next build is packed into scratch */
    size_t len, cap, scratch_cap;
    size_t body_off; /* where the entities start in pb (after the header) */
    bool built;
    uint64_t built_at; /* uv_now() of the last build */
    uint64_t version, header_s;
    uint32_t entities, stop_times;
    char etag[64];
    struct buyt_jsonw json;
    uint64_t json_version; /* 0: none */
    /* gzip of each representation (0 protobuf, 1 JSON), made on the first request of a
     * version that accepts it: compressing a city's feed costs more than building it. */
    uint8_t *gz[2];
    size_t gz_len[2]; /* 0: compression does not pay; the server sends it as it is */
    uint64_t gz_version[2];
};

struct route_ctx {
    struct buyt_gtfsrt *g;
    enum buyt_gtfsrt_feed feed;
};

struct buyt_gtfsrt {
    struct buyt_engine *e;
    struct buyt_http *http; /* the server routing to us (buyt_gtfsrt_routes) */
    struct buyt_gtfsrt_opts o;
    struct route_ctx ctx[BUYT_GTFSRT_FEEDS];
    struct feed feed[BUYT_GTFSRT_FEEDS];
    /* Building storage, shared by the feeds (one build at a time), kept between builds. */
    struct ent *ent;
    TransitRealtime__FeedEntity **entp;
    size_t cap_ent, cap_entp;
    struct stu *stu;
    TransitRealtime__TripUpdate__StopTimeUpdate **stup;
    size_t cap_stu, cap_stup;
    struct cand *cand;
    size_t cap_cand;
    char *ids; /* TripUpdate entity ids */
    size_t cap_ids;
    int64_t boot_ms; /* in the ETags: two runs never share one */
    struct buyt_gtfsrt_stats st;
};

/* ------------------------------------------------------------------ pure parts */

void buyt_gtfsrt_opts_default(struct buyt_gtfsrt_opts *o)
{
    *o = (struct buyt_gtfsrt_opts){
        .stale_s = 120,
        .max_age_ms = 1000,
        .at_stop_m = 30,
        .incoming_m = 300,
        .stopped_mps = 1.5,
    };
}

static bool opts_ok(const struct buyt_gtfsrt_opts *o)
{
    return o->stale_s > 0 && o->at_stop_m >= 0 && o->incoming_m >= 0 && o->stopped_mps >= 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

void buyt_gtfsrt_start_date(int64_t day_start_ms, char out[9])
{
    /* Civil date from days (Howard Hinnant's civil_from_days), of the service day's noon. */
    int64_t z = floor_div(day_start_ms + 12 * 3600 * 1000LL, 86400000LL) + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    if (y < 0 || y > 9999) {
        memcpy(out, "00000000", 9); /* outside what YYYYMMDD can say: never a real trip */
        return;
    }
    for (int i = 3; i >= 0; i--, y /= 10)
        out[i] = (char)('0' + y % 10);
    out[4] = (char)('0' + m / 10);
    out[5] = (char)('0' + m % 10);
    out[6] = (char)('0' + d / 10);
    out[7] = (char)('0' + d % 10);
    out[8] = '\0';
}

TransitRealtime__VehiclePosition__VehicleStopStatus
buyt_gtfsrt_stop_status(double to_stop_m, double speed_mps, const struct buyt_gtfsrt_opts *o)
{
    if (isnan(speed_mps))
        speed_mps = 0;
    if (fabs(to_stop_m) <= o->at_stop_m && speed_mps < o->stopped_mps)
        return TRANSIT_REALTIME__VEHICLE_POSITION__VEHICLE_STOP_STATUS__STOPPED_AT;
    if (to_stop_m <= o->incoming_m && to_stop_m >= -o->at_stop_m)
        return TRANSIT_REALTIME__VEHICLE_POSITION__VEHICLE_STOP_STATUS__INCOMING_AT;
    return TRANSIT_REALTIME__VEHICLE_POSITION__VEHICLE_STOP_STATUS__IN_TRANSIT_TO;
}

int buyt_gtfsrt_parse_format(const char *s, bool *json)
{
    if (!s || !strcmp(s, "protobuf") || !strcmp(s, "pb")) {
        *json = false;
        return 0;
    }
    if (!strcmp(s, "json")) {
        *json = true;
        return 0;
    }
    return BUYT_EINVAL;
}

/* ------------------------------------------------------------------ JSON through descriptors */

/* A float in the shortest %g form that reads back to the same float (9 digits always do). */
static void w_float(struct buyt_jsonw *w, float v)
{
    if (!isfinite(v)) {
        buyt_jsonw_null(w);
        return;
    }
    char b[40];
    int n = 0;
    for (int prec = 6; prec <= 9; prec++) {
        n = snprintf(b, sizeof b, "%.*g", prec, (double)v);
        if (strtof(b, NULL) == v)
            break;
    }
    buyt_jsonw_json(w, b, (size_t)n);
}

static size_t elt_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM: return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE: return 8;
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    }
    return 0;
}

static int w_message(struct buyt_jsonw *w, const ProtobufCMessage *m);

static int w_value(struct buyt_jsonw *w, const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: buyt_jsonw_int(w, *(const int32_t *)p); break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: buyt_jsonw_uint(w, *(const uint32_t *)p); break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: buyt_jsonw_int(w, *(const int64_t *)p); break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: buyt_jsonw_uint(w, *(const uint64_t *)p); break;
    case PROTOBUF_C_TYPE_FLOAT: w_float(w, *(const float *)p); break;
    case PROTOBUF_C_TYPE_DOUBLE: buyt_jsonw_double(w, *(const double *)p); break;
    case PROTOBUF_C_TYPE_BOOL: buyt_jsonw_bool(w, *(const protobuf_c_boolean *)p); break;
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        if (ev)
            buyt_jsonw_str(w, ev->name);
        else
            buyt_jsonw_int(w, v); /* a value this schema does not name */
        break;
    }
    case PROTOBUF_C_TYPE_STRING: buyt_jsonw_str(w, *(char *const *)p); break;
    case PROTOBUF_C_TYPE_MESSAGE: return w_message(w, *(ProtobufCMessage *const *)p);
    case PROTOBUF_C_TYPE_BYTES: return BUYT_EINVAL;
    }
    return 0;
}

/* Whether a non-repeated field is set (protobuf-c 1.4: has_ flags for optional scalars, NULL
 * or the default's address for unset strings and messages, the case for oneof members). */
static bool present(const ProtobufCFieldDescriptor *f, const char *m)
{
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(m + f->quantifier_offset) == f->id;
    if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE) {
        const void *ptr = *(void *const *)(m + f->offset);
        return ptr && (f->label == PROTOBUF_C_LABEL_REQUIRED || ptr != f->default_value);
    }
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
        return *(const protobuf_c_boolean *)(m + f->quantifier_offset);
    return true; /* required; proto3 fields without presence */
}

static int w_message(struct buyt_jsonw *w, const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *b = (const char *)m;
    int rc = 0;
    buyt_jsonw_obj_begin(w);
    for (unsigned i = 0; i < d->n_fields && !rc; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(b + f->quantifier_offset);
            if (!n)
                continue;
            const char *arr = *(char *const *)(b + f->offset);
            size_t sz = elt_size(f->type);
            buyt_jsonw_key(w, f->name);
            buyt_jsonw_arr_begin(w);
            for (size_t j = 0; j < n && !rc; j++)
                rc = w_value(w, f, arr + j * sz);
            buyt_jsonw_arr_end(w);
        } else if (present(f, b)) {
            buyt_jsonw_key(w, f->name);
            rc = w_value(w, f, b + f->offset);
        }
    }
    buyt_jsonw_obj_end(w);
    return rc;
}

int buyt_gtfsrt_json_write(struct buyt_jsonw *w, const ProtobufCMessage *m)
{
    return w_message(w, m);
}

/* ------------------------------------------------------------------ building */

static int grow(void *pp, size_t *cap, size_t need, size_t size)
{
    void **p = pp;
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * size);
    if (!q)
        return BUYT_ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

static bool fresh(const struct buyt_gtfsrt *g, int64_t fix_ms, int64_t now_ms)
{
    return fix_ms > 0 && now_ms - fix_ms <= (int64_t)g->o.stale_s * 1000;
}

/* protobuf-c's char * fields point into the network and the registry: packing only reads. */
static char *str(const char *s)
{
    return (char *)(uintptr_t)s;
}

static void fill_trip(const struct buyt_network *net, uint32_t t, struct ent *x, trip_rel rel)
{
    const struct buyt_network_trip *tr = &net->trips[t];
    transit_realtime__trip_descriptor__init(&x->trip);
    x->trip.trip_id = str(tr->id);
    x->trip.route_id = str(net->routes[tr->route].id);
    if (tr->direction >= 0) {
        x->trip.has_direction_id = true;
        x->trip.direction_id = (uint32_t)tr->direction;
    }
    buyt_gtfsrt_start_date(tr->day_start_ms, x->date);
    x->trip.start_date = x->date;
    x->start_time[0] = '\0';
    if (tr->run_start_s != BUYT_NETWORK_NOT_A_RUN) {
        /* A run of a frequencies.txt trip: trip_id and date name all its runs (GTFS-Realtime
         * requires start_time for these). */
        buyt_network_time_text(tr->run_start_s, x->start_time);
        x->trip.start_time = x->start_time;
    }
    x->trip.has_schedule_relationship = true;
    x->trip.schedule_relationship = rel;
}

static void fill_vehicle(struct ent *x, const struct buyt_vehicle *v)
{
    /* The fleet number is both the system id and what riders read on the bus. */
    transit_realtime__vehicle_descriptor__init(&x->veh);
    x->veh.id = str(v->id);
    x->veh.label = str(v->id);
}

/* VehiclePositions: every vehicle with a fix within stale_s; its trip, current stop and
 * status when the matcher has it on a trip and on its route. *n_ent gets the entity count.
 * Returns 0 or BUYT_ENOMEM. */
static int build_positions(struct buyt_gtfsrt *g, int64_t now_ms, uint32_t *n_ent)
{
    const struct buyt_engine *e = g->e;
    const struct buyt_network *net = e->net;
    uint32_t nv = e->vehicles.n, n = 0;
    if (grow(&g->ent, &g->cap_ent, nv, sizeof *g->ent) ||
        grow(&g->entp, &g->cap_entp, nv, sizeof *g->entp))
        return BUYT_ENOMEM;
    for (uint32_t i = 0; i < nv; i++) {
        const struct buyt_vehicle *v = &e->vehicles.v[i];
        if (!fresh(g, v->last_fix_ms, now_ms))
            continue; /* silent: not shown where it was (no ghost buses) */
        struct ent *x = &g->ent[n];
        transit_realtime__feed_entity__init(&x->fe);
        transit_realtime__vehicle_position__init(&x->vp);
        transit_realtime__position__init(&x->pos);
        fill_vehicle(x, v);
        x->fe.id = str(v->id);
        x->pos.latitude = (float)buyt_e7_to_deg(v->lat_e7);
        x->pos.longitude = (float)buyt_e7_to_deg(v->lon_e7);
        /* Optional in GTFS-Realtime: left out when the receiver did not give them. */
        x->pos.has_bearing = v->course_cdeg != BUYT_VEHICLE_UNKNOWN;
        x->pos.bearing = x->pos.has_bearing ? (float)v->course_cdeg / 100.0f : 0;
        x->pos.has_speed = v->speed_cms != BUYT_VEHICLE_UNKNOWN;
        x->pos.speed = x->pos.has_speed ? (float)v->speed_cms / 100.0f : 0;
        x->vp.position = &x->pos;
        x->vp.vehicle = &x->veh;
        x->vp.has_timestamp = true;
        x->vp.timestamp = (uint64_t)(v->last_fix_ms / 1000);
        const struct buyt_network_trip *tr =
            net && v->trip < net->n_trips ? &net->trips[v->trip] : NULL;
        /* Off its route, the bus is not asserted to serve its trip (its predictions are not
         * current either: the trip has no TripUpdate). */
        if (tr && tr->n_stops > 0 && !v->off_route) {
            fill_trip(net, v->trip, x,
                      TRANSIT_REALTIME__TRIP_DESCRIPTOR__SCHEDULE_RELATIONSHIP__SCHEDULED);
            x->vp.trip = &x->trip;
            /* Past the last stop (trip completed, waiting there): the last stop. */
            uint32_t k = v->next_stop < tr->n_stops ? v->next_stop : tr->n_stops - 1;
            x->vp.stop_id = str(net->stops[buyt_network_trip_stop(net, v->trip, k)].id);
            x->vp.has_current_stop_sequence = true;
            x->vp.current_stop_sequence = net->times[tr->first_time + k].stop_sequence;
            double to = buyt_network_trip_stop_dist(net, v->trip, k) - v->dist_m;
            x->vp.has_current_status = true;
            double mps = x->pos.has_speed ? v->speed_cms / 100.0 : NAN;
            x->vp.current_status = buyt_gtfsrt_stop_status(to, mps, &g->o);
        }
        x->fe.vehicle = &x->vp;
        g->entp[n++] = &x->fe;
    }
    *n_ent = n;
    return 0;
}

/* Seconds, rounded to the nearest (times are positive). */
static int64_t to_s(int64_t ms)
{
    return floor_div(ms + 500, 1000);
}

static void fill_event(TransitRealtime__TripUpdate__StopTimeEvent *ev, int64_t at_ms,
                       int64_t sched_ms, uint32_t uncertainty_s)
{
    transit_realtime__trip_update__stop_time_event__init(ev);
    int64_t s = to_s(at_ms);
    ev->has_time = true;
    ev->time = s;
    /* GTFS-RT: time = scheduled time + delay when both are given; GTFS times are whole
     * seconds. */
    ev->has_delay = true;
    ev->delay = (int32_t)(s - to_s(sched_ms));
    if (uncertainty_s) { /* 0: unknown, so left out (GTFS-RT: absent uncertainty = unknown) */
        ev->has_uncertainty = true;
        ev->uncertainty = (int32_t)uncertainty_s;
    }
}

/* Stop k of trip t as predicted in *a. The first stop of a trip is predicted as a departure,
 * the last as an arrival, the others as an arrival followed by the scheduled dwell (the
 * predictor's own dwell estimate is not kept). A bus not yet at a stop is due now at the
 * earliest (board.h's rule); one standing at it arrived when it did. */
static void fill_stop(const struct buyt_network *net, uint32_t t, uint32_t k,
                      const struct buyt_predict_arrival *a, int64_t now_ms, struct stu *s)
{
    const struct buyt_network_trip *tr = &net->trips[t];
    const struct buyt_network_time *tm = &net->times[tr->first_time + k];
    transit_realtime__trip_update__stop_time_update__init(&s->u);
    s->u.has_stop_sequence = true;
    s->u.stop_sequence = tm->stop_sequence;
    s->u.stop_id = str(net->stops[buyt_network_trip_stop(net, t, k)].id);
    int64_t eta = a->eta_ms;
    if (!a->at_stop && eta < now_ms)
        eta = now_ms;
    int64_t sched_arr = tr->day_start_ms + (int64_t)tm->arrival_s * 1000;
    int64_t sched_dep = tr->day_start_ms + (int64_t)tm->departure_s * 1000;
    if (k == 0) {
        fill_event(&s->dep, eta, sched_dep, a->uncertainty_s);
        s->u.departure = &s->dep;
        return;
    }
    fill_event(&s->arr, eta, sched_arr, a->uncertainty_s);
    s->u.arrival = &s->arr;
    if (k + 1 < tr->n_stops) {
        int64_t dep = eta + (sched_dep - sched_arr);
        fill_event(&s->dep, dep > now_ms ? dep : now_ms, sched_dep, a->uncertainty_s);
        s->u.departure = &s->dep;
    }
}

/* Later trips of a vehicle's block given TripUpdates: the next one. The predictor chains up to
 * BUYT_PREDICT_CHAIN_MAX, but each adds a whole trip of stop updates to a feed rebuilt every
 * second, and riders and planners need the next departure of a late bus most. */
#define LATER_TRIPS 1

/* The vehicle's current trip if the predictor has it live for that vehicle (on the trip, not
 * off its route, heard within stale_s: board.h's rules), then the next trip of its block if
 * the predictor chains it to this vehicle (GTFS-Realtime best practice, so a late bus's delay
 * shows on the trip it will run next). Fills c[0..]; returns how many. */
static uint32_t live_trips(struct buyt_gtfsrt *g, const struct buyt_vehicle *v, int64_t now_ms,
                           struct cand c[1 + LATER_TRIPS])
{
    const struct buyt_predict *p = g->e->predict;
    struct buyt_predict_trip_view vw[1 + BUYT_PREDICT_CHAIN_MAX];
    uint32_t nv = buyt_predict_vehicle_view(p, v->index, vw, 1 + BUYT_PREDICT_CHAIN_MAX);
    if (!nv || !vw[0].on_trip || vw[0].from >= vw[0].n)
        return 0; /* no current trip */
    struct buyt_predict_arrival a;
    if (buyt_predict_get(p, vw[0].trip, vw[0].from, &a) != BUYT_PREDICT_LIVE ||
        a.vehicle != v->index || !a.on_trip)
        return 0; /* cancelled, or another vehicle holds the trip's prediction */
    if (a.off_route || !fresh(g, a.fix_ms, now_ms)) {
        g->st.ghosts_dropped++;
        return 0;
    }
    c[0] = (struct cand){.vehicle = v->index,
                         .trip = vw[0].trip,
                         .from = vw[0].from,
                         .n = vw[0].n,
                         .fix_ms = a.fix_ms};
    uint32_t n = 1;
    for (uint32_t j = 1; j < nv && j <= LATER_TRIPS; j++) {
        struct buyt_predict_arrival b;
        /* Only while this vehicle holds the later trip's prediction (another bus may run it). */
        if (vw[j].on_trip || vw[j].from >= vw[j].n ||
            buyt_predict_get(p, vw[j].trip, vw[j].from, &b) != BUYT_PREDICT_LIVE ||
            b.vehicle != v->index || b.on_trip)
            break;
        c[n++] = (struct cand){.vehicle = v->index,
                               .trip = vw[j].trip,
                               .from = vw[j].from,
                               .n = vw[j].n,
                               .fix_ms = a.fix_ms,
                               .later = true};
    }
    return n;
}

/* TripUpdates: the current trip of every vehicle the predictor has live and the next trip of
 * its block (GTFS-RT: at most one TripUpdate per trip instance; the predictor keeps one vehicle
 * per trip), then every cancelled trip not yet over by its schedule. */
static int build_trip_updates(struct buyt_gtfsrt *g, int64_t now_ms, uint32_t *n_ent,
                              uint32_t *n_stu)
{
    const struct buyt_engine *e = g->e;
    const struct buyt_network *net = e->net;
    const struct buyt_predict *p = e->predict;
    *n_ent = *n_stu = 0;
    if (!net || !p)
        return 0;
    uint32_t nc = 0;
    size_t stus = 0, ids = 0;
    for (uint32_t i = 0; i < e->vehicles.n; i++) {
        struct cand c[1 + LATER_TRIPS];
        uint32_t n = live_trips(g, &e->vehicles.v[i], now_ms, c);
        if (grow(&g->cand, &g->cap_cand, nc + n, sizeof *g->cand))
            return BUYT_ENOMEM;
        for (uint32_t k = 0; k < n; k++) {
            g->cand[nc++] = c[k];
            stus += c[k].n - c[k].from;
            ids += strlen(net->trips[c[k].trip].id) + 10 + 16;
        }
    }
    for (uint32_t t = 0; t < net->n_trips; t++) {
        const struct buyt_network_trip *tr = &net->trips[t];
        struct buyt_predict_arrival a;
        if (!tr->valid || tr->day_start_ms + (int64_t)tr->end_s * 1000 < now_ms ||
            buyt_predict_get(p, t, 0, &a) != BUYT_PREDICT_CANCELLED)
            continue;
        if (grow(&g->cand, &g->cap_cand, nc + 1, sizeof *g->cand))
            return BUYT_ENOMEM;
        g->cand[nc++] = (struct cand){.vehicle = NONE, .trip = t};
        ids += strlen(tr->id) + 10 + 16;
    }
    if (grow(&g->ent, &g->cap_ent, nc, sizeof *g->ent) ||
        grow(&g->entp, &g->cap_entp, nc, sizeof *g->entp) ||
        grow(&g->stu, &g->cap_stu, stus, sizeof *g->stu) ||
        grow(&g->stup, &g->cap_stup, stus, sizeof *g->stup) ||
        grow(&g->ids, &g->cap_ids, ids + 1, 1))
        return BUYT_ENOMEM;
    uint32_t ns = 0;
    size_t id_off = 0;
    for (uint32_t j = 0; j < nc; j++) {
        const struct cand *c = &g->cand[j];
        struct ent *x = &g->ent[j];
        transit_realtime__feed_entity__init(&x->fe);
        transit_realtime__trip_update__init(&x->tu);
        fill_trip(net, c->trip, x,
                  c->vehicle == NONE
                      ? TRANSIT_REALTIME__TRIP_DESCRIPTOR__SCHEDULE_RELATIONSHIP__CANCELED
                      : TRANSIT_REALTIME__TRIP_DESCRIPTOR__SCHEDULE_RELATIONSHIP__SCHEDULED);
        /* Entity id: the trip instance (one TripUpdate each), stable while the trip runs; a
         * frequency run's start added ("T1@20240615@08:15:00"). */
        char *id = g->ids + id_off;
        id_off += (size_t)snprintf(id, g->cap_ids - id_off, "%s@%s%s%s", net->trips[c->trip].id,
                                   x->date, x->start_time[0] ? "@" : "", x->start_time) +
                  1;
        x->fe.id = id;
        x->tu.trip = &x->trip;
        if (c->vehicle != NONE) {
            const struct buyt_vehicle *v = &e->vehicles.v[c->vehicle];
            fill_vehicle(x, v);
            x->tu.vehicle = &x->veh;
            x->tu.has_timestamp = true;
            x->tu.timestamp = (uint64_t)(c->fix_ms / 1000);
            /* The trip's delay is the bus's on the trip it runs; a later trip's own delay is
             * in its stop time updates (its first departure). */
            x->tu.has_delay = !c->later;
            x->tu.delay = c->later ? 0 : v->deviation_s;
            x->tu.stop_time_update = &g->stup[ns];
            for (uint32_t k = c->from; k < c->n; k++) {
                struct buyt_predict_arrival a;
                if (buyt_predict_get(p, c->trip, k, &a) != BUYT_PREDICT_LIVE)
                    break;
                fill_stop(net, c->trip, k, &a, now_ms, &g->stu[ns]);
                g->stup[ns] = &g->stu[ns].u;
                ns++;
                x->tu.n_stop_time_update++;
            }
        }
        x->fe.trip_update = &x->tu;
        g->entp[j] = &x->fe;
    }
    *n_ent = nc;
    *n_stu = ns;
    return 0;
}

static int build(struct buyt_gtfsrt *g, enum buyt_gtfsrt_feed which, int64_t now_ms)
{
    uint64_t t0 = buyt_mono_ns();
    struct feed *f = &g->feed[which];
    uint32_t n = 0, n_stu = 0;
    int rc = which == BUYT_GTFSRT_VEHICLE_POSITIONS ? build_positions(g, now_ms, &n)
                                                    : build_trip_updates(g, now_ms, &n, &n_stu);
    if (rc)
        return rc;
    TransitRealtime__FeedHeader h = TRANSIT_REALTIME__FEED_HEADER__INIT;
    h.gtfs_realtime_version = "2.0";
    h.has_incrementality = true;
    h.incrementality = TRANSIT_REALTIME__FEED_HEADER__INCREMENTALITY__FULL_DATASET;
    h.has_timestamp = true;
    h.timestamp = (uint64_t)(now_ms / 1000);
    TransitRealtime__FeedMessage m = TRANSIT_REALTIME__FEED_MESSAGE__INIT;
    m.header = &h;
    /* The header alone: where the entities start in the packed message (protobuf-c packs
     * fields in field-number order; were it not so, no two builds would compare equal). */
    size_t body_off = transit_realtime__feed_message__get_packed_size(&m);
    m.n_entity = n;
    m.entity = g->entp;
    size_t len = transit_realtime__feed_message__get_packed_size(&m);
    if (grow(&f->scratch, &f->scratch_cap, len, 1))
        return BUYT_ENOMEM;
    size_t packed = transit_realtime__feed_message__pack(&m, f->scratch);
    assert(packed == len);
    (void)packed;
    g->st.builds[which]++;
    f->built_at = uv_now(g->e->loop);
    if (f->built && len - body_off == f->len - f->body_off &&
        !memcmp(f->scratch + body_off, f->pb + f->body_off, len - body_off)) {
        g->st.unchanged[which]++; /* same entities: same bytes, header time and ETag */
    } else {
        uint8_t *b = f->pb;
        size_t c = f->cap;
        f->pb = f->scratch;
        f->cap = f->scratch_cap;
        f->scratch = b;
        f->scratch_cap = c;
        f->len = len;
        f->body_off = body_off;
        f->version++;
        f->header_s = h.timestamp;
        f->entities = n;
        f->stop_times = n_stu;
        f->built = true;
        snprintf(f->etag, sizeof f->etag, "%s-%llx-%llu",
                 which == BUYT_GTFSRT_VEHICLE_POSITIONS ? "vp" : "tu",
                 (unsigned long long)g->boot_ms, (unsigned long long)f->version);
    }
    g->st.last_build_ns[which] = buyt_mono_ns() - t0;
    return 0;
}

static void snapshot(const struct feed *f, struct buyt_gtfsrt_snapshot *out)
{
    *out = (struct buyt_gtfsrt_snapshot){.pb = f->pb,
                                         .len = f->len,
                                         .etag = f->etag,
                                         .version = f->version,
                                         .header_s = f->header_s,
                                         .entities = f->entities,
                                         .stop_times = f->stop_times};
}

int buyt_gtfsrt_build(struct buyt_gtfsrt *g, enum buyt_gtfsrt_feed feed, int64_t now_ms,
                      struct buyt_gtfsrt_snapshot *out)
{
    int rc = build(g, feed, now_ms);
    if (!rc)
        snapshot(&g->feed[feed], out);
    return rc;
}

int buyt_gtfsrt_get(struct buyt_gtfsrt *g, enum buyt_gtfsrt_feed feed, int64_t now_ms,
                    struct buyt_gtfsrt_snapshot *out)
{
    struct feed *f = &g->feed[feed];
    if (!f->built || uv_now(g->e->loop) - f->built_at >= g->o.max_age_ms)
        return buyt_gtfsrt_build(g, feed, now_ms, out);
    snapshot(f, out);
    return 0;
}

int buyt_gtfsrt_json_get(struct buyt_gtfsrt *g, enum buyt_gtfsrt_feed feed, const char **json,
                         size_t *len)
{
    struct feed *f = &g->feed[feed];
    if (f->json_version != f->version || !f->built) {
        /* From the served bytes themselves: the JSON shows exactly what protobuf clients get. */
        TransitRealtime__FeedMessage *m =
            transit_realtime__feed_message__unpack(NULL, f->len, f->pb);
        if (!m)
            return BUYT_ECORRUPT;
        buyt_jsonw_reset(&f->json);
        int rc = buyt_gtfsrt_json_write(&f->json, &m->base);
        buyt_jsonw_raw(&f->json, "\n", 1);
        transit_realtime__feed_message__free_unpacked(m, NULL);
        if (rc || f->json.oom) {
            buyt_jsonw_close(&f->json);
            buyt_jsonw_init(&f->json);
            f->json_version = 0;
            return rc ? rc : BUYT_ENOMEM;
        }
        f->json_version = f->version;
        g->st.json_builds++;
    }
    *json = buyt_jsonw_data(&f->json);
    *len = buyt_jsonw_len(&f->json);
    return 0;
}

void buyt_gtfsrt_stats(const struct buyt_gtfsrt *g, struct buyt_gtfsrt_stats *out)
{
    *out = g->st;
}

/* ------------------------------------------------------------------ HTTP */

/* Hands the server this version's gzip of the body when the client accepts gzip, compressing
 * it on the first such request of the version. */
static void offer_gzip(struct buyt_gtfsrt *g, struct feed *f, int rep, const void *body, size_t len,
                       struct buyt_http_req *r)
{
    const char *ae = buyt_http_header(r, "accept-encoding");
    if (!g->http || !ae || !buyt_http_accepts_gzip(ae, strlen(ae)))
        return;
    if (f->gz_version[rep] != f->version) {
        free(f->gz[rep]);
        f->gz[rep] = NULL;
        f->gz_len[rep] = 0;
        int rc = buyt_http_gzip(g->http, body, len, &f->gz[rep], &f->gz_len[rep]);
        if (rc && rc != BUYT_ERANGE)
            return; /* out of memory: the server compresses this answer itself */
        f->gz_version[rep] = f->version;
        g->st.gzip_builds++;
    }
    if (f->gz_len[rep])
        buyt_http_set_body_gzip(r, f->gz[rep], f->gz_len[rep]);
}

static void h_feed(void *ud, struct buyt_http_req *r)
{
    const struct route_ctx *rc = ud;
    struct buyt_gtfsrt *g = rc->g;
    const char *fmt = NULL;
    bool json = false;
    int q = buyt_http_query(r, "format", &fmt);
    if (q < 0) {
        buyt_http_error(r, 400, "bad_parameter", "format", "format: malformed percent-encoding");
        return;
    }
    if (buyt_gtfsrt_parse_format(q == 1 ? fmt : NULL, &json)) {
        buyt_http_error(r, 400, "bad_parameter", "format",
                        "format: want json or protobuf, got '%.40s'", fmt);
        return;
    }
    struct buyt_gtfsrt_snapshot s;
    if (buyt_gtfsrt_get(g, rc->feed, buyt_http_now_ms(r), &s)) {
        buyt_http_error(r, 500, "internal", NULL, "out of memory building the feed");
        return;
    }
    /* The two representations are different entities for caches: different tags. */
    char etag[80];
    snprintf(etag, sizeof etag, "%s-%s", s.etag, json ? "json" : "pb");
    buyt_http_set_etag(r, etag);
    if (buyt_http_etag_fresh(r, etag))
        return; /* 304 without touching the body */
    struct buyt_jsonw *w = buyt_http_body(r);
    struct feed *f = &g->feed[rc->feed];
    if (!json) {
        buyt_http_set_type(r, "application/x-protobuf");
        buyt_jsonw_raw(w, s.pb, s.len);
        offer_gzip(g, f, 0, s.pb, s.len, r);
        return;
    }
    const char *j;
    size_t n;
    int jr = buyt_gtfsrt_json_get(g, rc->feed, &j, &n);
    if (jr) {
        buyt_http_error(r, 500, "internal", NULL, "could not write the feed as JSON: %s",
                        buyt_strerror(jr));
        return;
    }
    buyt_jsonw_raw(w, j, n);
    offer_gzip(g, f, 1, j, n, r);
}

int buyt_gtfsrt_routes(struct buyt_gtfsrt *g, struct buyt_http *http)
{
    g->http = http;
    int rc = buyt_http_route(http, "/gtfs-rt/vehicle-positions", BUYT_HTTP_GET, 0, h_feed,
                             &g->ctx[BUYT_GTFSRT_VEHICLE_POSITIONS]);
    if (!rc)
        rc = buyt_http_route(http, "/gtfs-rt/trip-updates", BUYT_HTTP_GET, 0, h_feed,
                             &g->ctx[BUYT_GTFSRT_TRIP_UPDATES]);
    return rc;
}

/* ------------------------------------------------------------------ lifecycle */

int buyt_gtfsrt_new(struct buyt_engine *e, const struct buyt_gtfsrt_opts *opts,
                    struct buyt_gtfsrt **out)
{
    *out = NULL;
    struct buyt_gtfsrt_opts o;
    if (opts)
        o = *opts;
    else
        buyt_gtfsrt_opts_default(&o);
    if (!opts_ok(&o) || !e || !e->loop)
        return BUYT_EINVAL;
    struct buyt_gtfsrt *g = calloc(1, sizeof *g);
    if (!g)
        return BUYT_ENOMEM;
    g->e = e;
    g->o = o;
    g->boot_ms = buyt_wall_ms();
    for (int i = 0; i < BUYT_GTFSRT_FEEDS; i++) {
        g->ctx[i] = (struct route_ctx){g, (enum buyt_gtfsrt_feed)i};
        buyt_jsonw_init(&g->feed[i].json);
    }
    *out = g;
    return 0;
}

int buyt_gtfsrt_start(struct buyt_engine *e, struct buyt_http *http,
                      const struct buyt_gtfsrt_opts *opts, struct buyt_gtfsrt **out)
{
    int rc = buyt_gtfsrt_new(e, opts, out);
    if (!rc && (rc = buyt_gtfsrt_routes(*out, http))) {
        buyt_gtfsrt_free(*out);
        *out = NULL;
    }
    if (rc)
        BUYT_ERROR("gtfsrt", "msg=\"feeds not served\" err=\"%s\"", buyt_strerror(rc));
    return rc;
}

void buyt_gtfsrt_free(struct buyt_gtfsrt *g)
{
    if (!g)
        return;
    for (int i = 0; i < BUYT_GTFSRT_FEEDS; i++) {
        free(g->feed[i].pb);
        free(g->feed[i].scratch);
        free(g->feed[i].gz[0]);
        free(g->feed[i].gz[1]);
        buyt_jsonw_close(&g->feed[i].json);
    }
    free(g->ent);
    free(g->entp);
    free(g->stu);
    free(g->stup);
    free(g->cand);
    free(g->ids);
    free(g);
}
