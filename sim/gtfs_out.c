/* Writes a generated city as a GTFS Schedule feed (https://gtfs.org/schedule/reference/).
 *
 * Free text (names, headsigns) goes through libcsv's quoting (csv_fwrite); ids are the
 * generator's own tokens ([A-Za-z0-9_]) and numbers are printed, so neither needs quoting.
 * Output is a pure function of the city: no dates from the clock, fixed number formats. */
#include "citygen.h"

#include "error.h"

#include <csv.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define FEED_START "20240101"
#define FEED_END "20351231"

struct out {
    const char *dir;
    char path[1024];
    FILE *f;
    char *err;
    size_t errlen;
};

static int open_file(struct out *o, const char *name, const char *header)
{
    snprintf(o->path, sizeof o->path, "%s/%s", o->dir, name);
    o->f = fopen(o->path, "w");
    if (!o->f) {
        snprintf(o->err, o->errlen, "%s: %s", o->path, strerror(errno));
        return BUYT_EIO;
    }
    fputs(header, o->f);
    fputc('\n', o->f);
    return 0;
}

static int close_file(struct out *o)
{
    int bad = ferror(o->f);
    if (fclose(o->f) != 0 || bad) {
        snprintf(o->err, o->errlen, "%s: write failed: %s", o->path, strerror(errno));
        o->f = NULL;
        return BUYT_EIO;
    }
    o->f = NULL;
    return 0;
}

static void text(FILE *f, const char *s) { csv_fwrite(f, s, strlen(s)); }

static void gtfs_time(FILE *f, int s)
{
    fprintf(f, "%02d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
}

static int write_agency(struct out *o, const struct buyt_city *c)
{
    int rc = open_file(o, "agency.txt",
                       "agency_id,agency_name,agency_url,agency_timezone,agency_lang,agency_phone");
    if (rc)
        return rc;
    fputs("HNSIM,", o->f);
    text(o->f, "Xe buýt Hà Nội (thành phố mô phỏng buyt-sim)");
    fputs(",https://buyt.example/sim,Asia/Ho_Chi_Minh,vi,1900 1001\n", o->f);
    (void)c;
    return close_file(o);
}

static int write_feed_info(struct out *o, const struct buyt_city *c)
{
    int rc = open_file(o, "feed_info.txt",
                       "feed_publisher_name,feed_publisher_url,feed_lang,feed_start_date,"
                       "feed_end_date,feed_version");
    if (rc)
        return rc;
    fprintf(o->f, "buyt-sim,https://buyt.example/sim,vi," FEED_START "," FEED_END ",");
    char v[160];
    snprintf(v, sizeof v, "buyt-sim seed=%llu routes=%d stops=%d buses=%d",
             (unsigned long long)c->params.seed, c->params.routes, c->params.stops,
             c->params.buses);
    text(o->f, v);
    fputc('\n', o->f);
    return close_file(o);
}

static int write_calendar(struct out *o)
{
    int rc = open_file(o, "calendar.txt",
                       "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
                       "start_date,end_date");
    if (rc)
        return rc;
    fputs("DAILY,1,1,1,1,1,1,1," FEED_START "," FEED_END "\n", o->f);
    return close_file(o);
}

static int write_routes(struct out *o, const struct buyt_city *c)
{
    int rc = open_file(o, "routes.txt",
                       "route_id,agency_id,route_short_name,route_long_name,route_type,"
                       "route_color,route_text_color,route_sort_order");
    if (rc)
        return rc;
    for (int i = 0; i < c->n_routes; i++) {
        const struct buyt_city_route *r = &c->routes[i];
        fprintf(o->f, "%s,HNSIM,%s,", r->id, r->short_name);
        text(o->f, r->long_name);
        fprintf(o->f, ",3,%s,FFFFFF,%d\n", r->color, i + 1);
    }
    return close_file(o);
}

static int write_stops(struct out *o, const struct buyt_city *c)
{
    int rc = open_file(o, "stops.txt",
                       "stop_id,stop_code,stop_name,stop_lat,stop_lon,location_type,"
                       "wheelchair_boarding");
    if (rc)
        return rc;
    for (int i = 0; i < c->n_stops; i++) {
        const struct buyt_city_stop *s = &c->stops[i];
        fprintf(o->f, "%s,%s,", s->id, s->code);
        text(o->f, s->name);
        fprintf(o->f, ",%.7f,%.7f,0,%d\n", s->lat, s->lon, s->terminal >= 0 ? 1 : 0);
    }
    return close_file(o);
}

static int write_shapes(struct out *o, const struct buyt_city *c)
{
    int rc = open_file(o, "shapes.txt",
                       "shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence,shape_dist_traveled");
    if (rc)
        return rc;
    for (int i = 0; i < c->n_shapes; i++) {
        const struct buyt_city_shape *s = &c->shapes[i];
        for (int k = 0; k < s->n; k++)
            fprintf(o->f, "%s,%.7f,%.7f,%d,%.1f\n", s->id, s->lat[k], s->lon[k], k + 1,
                    s->dist_m[k]);
    }
    return close_file(o);
}

static int write_trips(struct out *o, const struct buyt_city *c)
{
    int rc = open_file(o, "trips.txt",
                       "route_id,service_id,trip_id,trip_headsign,direction_id,block_id,shape_id");
    if (rc)
        return rc;
    for (int i = 0; i < c->n_trips; i++) {
        const struct buyt_city_trip *t = &c->trips[i];
        const struct buyt_city_route *r = &c->routes[t->route];
        fprintf(o->f, "%s,DAILY,%s,", r->id, t->id);
        text(o->f, r->dir[t->dir].headsign);
        fprintf(o->f, ",%d,%s,%s\n", t->dir, c->blocks[t->block].id,
                c->shapes[r->dir[t->dir].shape].id);
    }
    return close_file(o);
}

static int write_stop_times(struct out *o, const struct buyt_city *c)
{
    int rc = open_file(o, "stop_times.txt",
                       "trip_id,arrival_time,departure_time,stop_id,stop_sequence,"
                       "shape_dist_traveled,timepoint");
    if (rc)
        return rc;
    for (int i = 0; i < c->n_trips; i++) {
        const struct buyt_city_trip *t = &c->trips[i];
        for (int k = 0; k < t->n_st; k++) {
            const struct buyt_city_stop_time *st = &c->stop_times[t->st0 + k];
            fprintf(o->f, "%s,", t->id);
            gtfs_time(o->f, st->arr_s);
            fputc(',', o->f);
            gtfs_time(o->f, st->dep_s);
            fprintf(o->f, ",%s,%d,%.1f,%d\n", c->stops[st->stop].id, k + 1, st->dist_m,
                    st->timepoint ? 1 : 0);
        }
    }
    return close_file(o);
}

int buyt_city_write_gtfs(const struct buyt_city *c, const char *dir, char *err, size_t errlen)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return BUYT_EIO;
    }
    struct out o = {.dir = dir, .err = err, .errlen = errlen};
    int rc;
    if ((rc = write_agency(&o, c)) || (rc = write_feed_info(&o, c)) ||
        (rc = write_calendar(&o)) || (rc = write_routes(&o, c)) || (rc = write_stops(&o, c)) ||
        (rc = write_shapes(&o, c)) || (rc = write_trips(&o, c)) ||
        (rc = write_stop_times(&o, c))) {
        if (o.f)
            fclose(o.f);
        return rc;
    }
    return 0;
}
