/* bench-nmea: NMEA parser throughput on a real drive (sentences/s, MB/s, fixes/s).
 * Usage: bench-nmea [FILE] (default ../shared/data/nmea/drive-regensburg-2010-geko201.nmea
 * relative to the source tree). Prints one line; docs/NMEA.md records the figures. */
#include "clock.h"
#include "nmea.h"

#include <stdio.h>
#include <stdlib.h>

static void count_fix(const struct buyt_nmea_fix *fix, void *arg)
{
    (void)fix;
    ++*(size_t *)arg;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : BUYT_BENCH_SHARED "/nmea/drive-regensburg-2010-geko201.nmea";
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench-nmea: cannot open %s\n", path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    size_t len = (size_t)ftell(f);
    rewind(f);
    char *data = malloc(len);
    if (!data || fread(data, 1, len, f) != len) {
        fprintf(stderr, "bench-nmea: cannot read %s\n", path);
        return 1;
    }
    fclose(f);
    size_t fixes = 0;
    struct buyt_nmea_config cfg = {.ref_ms = 0, .on_fix = count_fix, .arg = &fixes};
    struct buyt_nmea_parser p;
    buyt_nmea_init(&p, &cfg);
    const int rounds = 200;
    uint64_t t0 = buyt_mono_ns();
    for (int i = 0; i < rounds; i++) {
        buyt_nmea_feed(&p, data, len);
        buyt_nmea_flush(&p);
    }
    double s = (double)(buyt_mono_ns() - t0) / 1e9;
    const struct buyt_nmea_stats *st = buyt_nmea_stats_get(&p);
    unsigned long long sentences = st->accepted + st->ignored;
    for (int r = 1; r < BUYT_NMEA_REJECT__COUNT; r++)
        sentences += st->rejected[r];
    printf("nmea: %.0f sentences/s, %.1f MB/s, %.0f fixes/s (%llu sentences, %zu fixes in %.3f s)\n",
           (double)sentences / s, (double)len * rounds / s / 1e6, (double)fixes / s, sentences,
           fixes, s);
    free(data);
    return 0;
}
