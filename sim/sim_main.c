/* buyt-sim: temporary main (generator only) while the simulator lands. */
#include "citygen.h"
#include "clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    struct buyt_citygen_params p;
    buyt_citygen_params_init(&p);
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--generate-city") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            p.seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--routes") && i + 1 < argc)
            p.routes = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--stops") && i + 1 < argc)
            p.stops = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--buses") && i + 1 < argc)
            p.buses = atoi(argv[++i]);
    }
    if (!dir)
        return 2;
    struct buyt_city *c;
    char err[256];
    uint64_t t0 = buyt_mono_ns();
    if (buyt_citygen_build(&p, &c, err, sizeof err)) {
        fprintf(stderr, "buyt-sim: %s\n", err);
        return 1;
    }
    uint64_t t1 = buyt_mono_ns();
    if (buyt_city_write_gtfs(c, dir, err, sizeof err)) {
        fprintf(stderr, "buyt-sim: %s\n", err);
        return 1;
    }
    uint64_t t2 = buyt_mono_ns();
    int loops = 0, split = 0;
    for (int i = 0; i < c->n_routes; i++)
        loops += c->routes[i].loop;
    for (int i = 0; i < c->n_blocks; i++)
        split += c->blocks[i].split;
    printf("routes %d (loops %d) terminals %d stops %d shapes %d trips %d blocks %d (split %d) "
           "stop_times %ld build %.2fs write %.2fs\n",
           c->n_routes, loops, c->n_terminals, c->n_stops, c->n_shapes, c->n_trips, c->n_blocks,
           split, c->n_stop_times, (t1 - t0) / 1e9, (t2 - t1) / 1e9);
    buyt_city_free(c);
    return 0;
}
