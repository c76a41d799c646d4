/* Vehicle registry; see vehicles.h. FNV-1a over the fleet number, linear probing. */
#include "vehicles.h"

#include "error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

void buyt_vehicles_init(struct buyt_vehicles *vs) { memset(vs, 0, sizeof *vs); }

void buyt_vehicles_close(struct buyt_vehicles *vs)
{
    free(vs->v);
    free(vs->slots);
    free(vs->by_db);
    memset(vs, 0, sizeof *vs);
}

static int rehash(struct buyt_vehicles *vs, uint32_t nslots)
{
    uint32_t *s = malloc(nslots * sizeof *s);
    if (!s)
        return BUYT_ENOMEM;
    memset(s, 0xff, nslots * sizeof *s);
    for (uint32_t i = 0; i < vs->n; i++) {
        uint32_t k = hash(vs->v[i].id) & (nslots - 1);
        while (s[k] != UINT32_MAX)
            k = (k + 1) & (nslots - 1);
        s[k] = i;
    }
    free(vs->slots);
    vs->slots = s;
    vs->nslots = nslots;
    return 0;
}

struct buyt_vehicle *buyt_vehicles_find(const struct buyt_vehicles *vs, const char *id)
{
    if (!vs->nslots)
        return NULL;
    for (uint32_t k = hash(id) & (vs->nslots - 1);; k = (k + 1) & (vs->nslots - 1)) {
        uint32_t i = vs->slots[k];
        if (i == UINT32_MAX)
            return NULL;
        if (!strcmp(vs->v[i].id, id))
            return &vs->v[i];
    }
}

struct buyt_vehicle *buyt_vehicles_by_db_id(const struct buyt_vehicles *vs, int32_t db_id)
{
    if (db_id < 0 || db_id >= vs->n_by_db || !vs->by_db[db_id])
        return NULL;
    return &vs->v[vs->by_db[db_id] - 1];
}

int buyt_vehicles_add(struct buyt_vehicles *vs, const char *id, int32_t db_id,
                      const struct buyt_seqset *stored)
{
    size_t len = strlen(id);
    if (len == 0 || len >= sizeof vs->v[0].id || db_id < 0 || buyt_vehicles_find(vs, id) ||
        buyt_vehicles_by_db_id(vs, db_id))
        return BUYT_EINVAL;
    if (vs->n == vs->cap) {
        uint32_t cap = vs->cap ? vs->cap * 2 : 256;
        void *p = realloc(vs->v, cap * sizeof *vs->v);
        if (!p)
            return BUYT_ENOMEM;
        vs->v = p;
        vs->cap = cap;
    }
    if (db_id >= vs->n_by_db) {
        int32_t n = vs->n_by_db ? vs->n_by_db : 256;
        while (n <= db_id)
            n *= 2;
        uint32_t *p = realloc(vs->by_db, (size_t)n * sizeof *p);
        if (!p)
            return BUYT_ENOMEM;
        memset(p + vs->n_by_db, 0, (size_t)(n - vs->n_by_db) * sizeof *p);
        vs->by_db = p;
        vs->n_by_db = n;
    }
    struct buyt_vehicle *v = &vs->v[vs->n];
    memset(v, 0, sizeof *v);
    memcpy(v->id, id, len + 1);
    v->db_id = db_id;
    v->accepted = *stored;
    v->acked = stored->base;
    v->index = vs->n;
    buyt_matcher_vehicle_init(&v->mv, (uint32_t)db_id);
    buyt_stopev_vehicle_init(&v->sv);
    v->trip = BUYT_NETWORK_NONE;
    v->speed_cms = v->course_cdeg = v->moved_cms = BUYT_VEHICLE_UNKNOWN;
    vs->by_db[db_id] = vs->n + 1;
    vs->n++;
    if (vs->n * 2 > vs->nslots)
        return rehash(vs, vs->nslots ? vs->nslots * 2 : 512);
    uint32_t k = hash(id) & (vs->nslots - 1);
    while (vs->slots[k] != UINT32_MAX)
        k = (k + 1) & (vs->nslots - 1);
    vs->slots[k] = vs->n - 1;
    return 0;
}

static double decay(int64_t dt_ms)
{
    return exp2(-(double)dt_ms / BUYT_LOAD_HALF_LIFE_MS);
}

void buyt_vehicle_boarding(struct buyt_vehicle *v, int64_t time_ms)
{
    if (!v->load_ms) {
        v->load = 1;
        v->load_ms = time_ms;
    } else if (time_ms >= v->load_ms) {
        v->load = (float)(v->load * decay(time_ms - v->load_ms) + 1);
        v->load_ms = time_ms;
    } else { /* a late record (replay): its share, decayed to the newest */
        v->load = (float)(v->load + decay(v->load_ms - time_ms));
    }
}

double buyt_vehicle_occupancy(const struct buyt_vehicle *v, int64_t now_ms)
{
    if (!v->load_ms)
        return -1;
    return now_ms > v->load_ms ? v->load * decay(now_ms - v->load_ms) : v->load;
}
