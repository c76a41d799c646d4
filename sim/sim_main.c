/* buyt-sim: placeholder until the simulator lands; refuses to run rather than pretend. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: buyt-sim --db CONNINFO --mqtt URL --vehicles N [--direct] [--speedup X]\n"
               "                [--duration S] [--truth FILE]\n(not implemented yet)\n");
        return 0;
    }
    fprintf(stderr, "buyt-sim: not implemented yet\n");
    return 2;
}
