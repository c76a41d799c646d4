/* bench-ingest: the engine core alone, no broker, no database: a recorded stream of Telemetry
 * payloads (one fix per message, as buses send live) goes through buyt_engine_handle() —
 * topic parse, protobuf decode, validation, (vehicle, seq) de-duplication, binary COPY encoding
 * into the open batch. Prints messages/s on one core and the engine's memory per vehicle.
 *   bench-ingest [VEHICLES] [FIXES_PER_VEHICLE]   (default 2000 x 500 = 1 M messages) */
#include "clock.h"
#include "engine.h"
#include "topics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct msg {
    char topic[64];
    uint8_t *buf;
    size_t len;
};

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

int main(int argc, char **argv)
{
    int nveh = argc > 1 ? atoi(argv[1]) : 2000;
    int per = argc > 2 ? atoi(argv[2]) : 500;
    size_t n = (size_t)nveh * (size_t)per;
    struct msg *msgs = calloc(n, sizeof *msgs);
    int64_t t0 = buyt_wall_ms() - (int64_t)per * 1000;
    /* Record the stream: round-robin over vehicles, one fix each, 1 Hz, a few metres apart. */
    for (int k = 0; k < per; k++) {
        for (int v = 0; v < nveh; v++) {
            struct msg *m = &msgs[(size_t)k * nveh + v];
            char vid[16];
            snprintf(vid, sizeof vid, "bus%04d", v);
            buyt_topic_format(m->topic, sizeof m->topic, BUYT_TOPIC_TELEMETRY, "hn", vid);
            Buyt__V1__Fix f = BUYT__V1__FIX__INIT;
            f.lat_e7 = 210000000 + v * 1000 + k * 30;
            f.lon_e7 = 1058000000 + v * 1000 + k * 20;
            f.speed_cms = 800;
            f.course_cdeg = 4500;
            f.hdop_x100 = 90;
            f.satellites = 9;
            f.quality = BUYT__V1__FIX_QUALITY__FIX_QUALITY_GPS;
            f.fields = 1 | 2 | 8 | 16;
            Buyt__V1__Record r = BUYT__V1__RECORD__INIT;
            r.seq = (uint64_t)k + 1;
            r.time_ms = (uint64_t)(t0 + k * 1000);
            r.body_case = BUYT__V1__RECORD__BODY_FIX;
            r.fix = &f;
            Buyt__V1__Record *rp = &r;
            Buyt__V1__Telemetry t = BUYT__V1__TELEMETRY__INIT;
            t.vehicle_id = vid;
            t.boot_id = 1;
            t.n_records = 1;
            t.records = &rp;
            m->len = buyt__v1__telemetry__get_packed_size(&t);
            m->buf = malloc(m->len);
            buyt__v1__telemetry__pack(&t, m->buf);
        }
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct buyt_engine e;
    char err[256], spool[] = "/tmp/bench-ingest-XXXXXX";
    if (!mkdtemp(spool))
        return 1;
    struct buyt_engine_config cfg = {.agency = "hn", .spool_dir = spool,
                                     .batch_rows = 1000000000};
    if (buyt_engine_init(&e, &loop, &cfg, err, sizeof err)) {
        fprintf(stderr, "bench-ingest: %s\n", err);
        return 1;
    }
    long rss0 = rss_kb();
    for (int v = 0; v < nveh; v++) {
        char vid[16];
        snprintf(vid, sizeof vid, "bus%04d", v);
        struct buyt_seqset s;
        buyt_seqset_init(&s, 0);
        buyt_vehicles_add(&e.vehicles, vid, v + 1, &s);
    }
    long rss1 = rss_kb();
    size_t avg_len = 0;
    for (size_t i = 0; i < n; i++)
        avg_len += msgs[i].len;
    uint64_t start = buyt_mono_ns();
    for (size_t i = 0; i < n; i++) {
        buyt_engine_handle(&e, msgs[i].topic, msgs[i].buf, msgs[i].len, false, t0 + 600000);
        if (buyt_batch_rows(&e.batch) >= 10000) /* a sealed batch: encoding kept, spool excluded */
            buyt_batch_reset(&e.batch);
    }
    double s = (double)(buyt_mono_ns() - start) / 1e9;
    printf("ingest core: %zu messages (%d vehicles x %d fixes, %.0f B avg) in %.3f s = %.0f msg/s"
           " on one core; accepted %llu, duplicates %llu\n",
           n, nveh, per, (double)avg_len / n, s, n / s, (unsigned long long)e.stats.accepted,
           (unsigned long long)e.stats.duplicates);
    printf("ingest state: struct buyt_vehicle %zu B; registry growth %.0f B per vehicle (RSS)\n",
           sizeof(struct buyt_vehicle), (double)(rss1 - rss0) * 1024.0 / nveh);
    buyt_engine_close(&e);
    for (size_t i = 0; i < n; i++)
        free(msgs[i].buf);
    free(msgs);
    rmdir(spool);
    uv_loop_close(&loop);
    return 0;
}
