/* The dashboard module without a server: vehicle status classification, shape simplification,
 * content types, the embedded assets (complete, hashed, cross-referenced), and the JavaScript's
 * syntax (node --check, when node is installed). */
#include "dashboard.h"
#include "network.h"
#include "vehicles.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ status */

static struct buyt_vehicle fresh(int64_t now, int32_t deviation_s)
{
    struct buyt_vehicle v;
    memset(&v, 0, sizeof v);
    v.last_fix_ms = now - 5000;
    v.last_seen_ms = now - 5000;
    v.trip = 3;
    v.deviation_s = deviation_s;
    return v;
}

Test(dashboard, classifies_by_delay_within_minus_one_plus_five_minutes)
{
    int64_t now = 1700000000000;
    struct {
        int32_t dev;
        enum buyt_fleet_status want;
    } cases[] = {
        {0, BUYT_FLEET_ON_TIME},   {300, BUYT_FLEET_ON_TIME}, {301, BUYT_FLEET_LATE},
        {-60, BUYT_FLEET_ON_TIME}, {-61, BUYT_FLEET_EARLY},   {3600, BUYT_FLEET_LATE},
        {-900, BUYT_FLEET_EARLY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct buyt_vehicle v = fresh(now, cases[i].dev);
        cr_assert_eq(buyt_dashboard_classify(&v, now), cases[i].want, "deviation %d s",
                     cases[i].dev);
    }
}

Test(dashboard, silence_beats_off_route_beats_no_trip_beats_delay)
{
    int64_t now = 1700000000000;
    struct buyt_vehicle v = fresh(now, 900);
    v.off_route = true;
    cr_assert_eq(buyt_dashboard_classify(&v, now), BUYT_FLEET_OFF_ROUTE);
    v.last_fix_ms = now - 120000;
    cr_assert_eq(buyt_dashboard_classify(&v, now), BUYT_FLEET_OFF_ROUTE, "120 s is not stale yet");
    v.last_fix_ms = now - 120001;
    cr_assert_eq(buyt_dashboard_classify(&v, now), BUYT_FLEET_STALE);
    v.last_fix_ms = 0;
    cr_assert_eq(buyt_dashboard_classify(&v, now), BUYT_FLEET_OFFLINE);
    v = fresh(now, 900);
    v.trip = BUYT_NETWORK_NONE;
    cr_assert_eq(buyt_dashboard_classify(&v, now), BUYT_FLEET_UNASSIGNED);
    v.off_route = true; /* off every shape without a trip */
    cr_assert_eq(buyt_dashboard_classify(&v, now), BUYT_FLEET_OFF_ROUTE);
    v = fresh(now, 0);
    v.last_fix_ms = now + 60000; /* a receiver clock ahead of ours: still fresh */
    cr_assert_eq(buyt_dashboard_classify(&v, now), BUYT_FLEET_ON_TIME);
}

Test(dashboard, status_names_are_stable)
{
    const char *want[] = {"offline", "stale", "off_route", "unassigned",
                          "late",    "early", "on_time"};
    for (int s = 0; s < BUYT_FLEET__COUNT; s++)
        cr_assert_str_eq(buyt_fleet_status_name((enum buyt_fleet_status)s), want[s]);
    cr_assert_str_eq(buyt_fleet_status_name(BUYT_FLEET__COUNT), "offline");
}

/* ------------------------------------------------------------------ simplification */

struct pt {
    float x, y, unused; /* the stride of struct buyt_shape_pt */
};

static uint32_t simplify(const struct pt *p, uint32_t n, double tol, bool *keep)
{
    uint32_t *stack = malloc(2 * (size_t)n * sizeof *stack);
    uint32_t k = buyt_dashboard_simplify(&p[0].x, &p[0].y, 3, n, tol, keep, stack);
    free(stack);
    return k;
}

static double seg_dist(const struct pt *a, const struct pt *b, const struct pt *p)
{
    double dx = b->x - a->x, dy = b->y - a->y, l2 = dx * dx + dy * dy;
    double t = l2 > 0 ? ((p->x - a->x) * dx + (p->y - a->y) * dy) / l2 : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    return hypot(p->x - a->x - t * dx, p->y - a->y - t * dy);
}

Test(dashboard, simplify_drops_collinear_vertices_and_keeps_the_ends)
{
    struct pt p[41];
    bool keep[41];
    for (int i = 0; i < 41; i++)
        p[i] = (struct pt){(float)(i * 20), 0.5f * (float)(i % 2), 0};
    cr_assert_eq(simplify(p, 41, 2.0, keep), 2);
    cr_assert(keep[0] && keep[40]);
    cr_assert_eq(simplify(p, 1, 2.0, keep), 1);
    cr_assert(keep[0]);
    cr_assert_eq(simplify(p, 2, 2.0, keep), 2);
    /* A right angle keeps its corner; a 5 m zig-zag survives a 2 m tolerance. */
    struct pt l[3] = {{0, 0, 0}, {100, 0, 0}, {100, 100, 0}};
    cr_assert_eq(simplify(l, 3, 2.0, keep), 3);
    for (int i = 0; i < 41; i++)
        p[i].y = (float)(5 * (i % 2));
    cr_assert_eq(simplify(p, 41, 2.0, keep), 41);
}

Test(dashboard, simplify_keeps_every_dropped_vertex_within_tolerance_even_on_a_loop)
{
    enum { N = 2000 };
    static struct pt p[N];
    static bool keep[N];
    srand(7);
    /* A loop (the ends coincide) with a wobble of a few metres along a 1 km circle. */
    for (int i = 0; i < N; i++) {
        double a = 2 * M_PI * i / (N - 1);
        double r = 1000 + (rand() % 600) / 100.0;
        p[i] = (struct pt){(float)(r * cos(a)), (float)(r * sin(a)), 0};
    }
    p[N - 1] = p[0];
    uint32_t k = simplify(p, N, 2.0, keep);
    cr_assert_lt(k, N / 2, "kept %u of %u", k, N);
    cr_assert_gt(k, 20, "a circle needs more than %u vertices at 2 m", k);
    uint32_t prev = 0;
    for (uint32_t i = 1; i < N; i++) {
        if (!keep[i])
            continue;
        for (uint32_t j = prev + 1; j < i; j++)
            cr_assert_leq(seg_dist(&p[prev], &p[i], &p[j]), 2.0 + 1e-3, "vertex %u", j);
        prev = i;
    }
    cr_assert_eq(prev, N - 1);
}

/* ------------------------------------------------------------------ assets */

Test(dashboard, content_types_follow_the_extension)
{
    cr_assert_str_eq(buyt_dashboard_content_type("index.html"), "text/html; charset=utf-8");
    cr_assert_str_eq(buyt_dashboard_content_type("dashboard.js"), "text/javascript; charset=utf-8");
    cr_assert_str_eq(buyt_dashboard_content_type("dashboard.css"), "text/css; charset=utf-8");
    cr_assert_str_eq(buyt_dashboard_content_type("favicon.svg"), "image/svg+xml");
    cr_assert_str_eq(buyt_dashboard_content_type("a.js.map"), "application/octet-stream");
    cr_assert_str_eq(buyt_dashboard_content_type("README"), "application/octet-stream");
    cr_assert_str_eq(buyt_dashboard_content_type("x.HTML"), "application/octet-stream");
}

static void sha16(const unsigned char *data, size_t len, char out[17])
{
    unsigned char md[32];
    unsigned int n = 0;
    cr_assert(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL));
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static bool served_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcmp(dot, ".html") || !strcmp(dot, ".js") || !strcmp(dot, ".css") ||
                   !strcmp(dot, ".svg"));
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

Test(dashboard, every_web_file_is_embedded_sorted_and_hashed)
{
    /* Every servable file of web/ is in the table, byte for byte (HTML after substitution). */
    DIR *d = opendir(BUYT_SOURCE_DIR "/web");
    cr_assert_not_null(d);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(d))) {
        if (!served_ext(de->d_name))
            continue;
        files++;
        const struct buyt_dashboard_asset *a = buyt_dashboard_asset_find(de->d_name);
        cr_assert_not_null(a, "web/%s is not embedded", de->d_name);
        if (strstr(de->d_name, ".html"))
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/web/%s", BUYT_SOURCE_DIR, de->d_name);
        size_t len;
        char *src = read_file(path, &len);
        cr_assert_eq(a->len, len, "%s", de->d_name);
        cr_assert_eq(memcmp(a->data, src, len), 0, "%s differs from web/", de->d_name);
        free(src);
    }
    closedir(d);
    int n = 0;
    for (const struct buyt_dashboard_asset *a = buyt_dashboard_assets; a->name; a++, n++) {
        char h[17];
        sha16(a->data, a->len, h);
        cr_assert_str_eq(a->etag, h, "%s: the ETag is the content's SHA-256", a->name);
        cr_assert_eq(a->data[a->len], 0, "NUL after the bytes");
        if (n)
            cr_assert_lt(strcmp(a[-1].name, a->name), 0, "sorted by name");
    }
    cr_assert_eq(n, files, "nothing embedded that web/ lacks");
    cr_assert_geq(n, 4);
    cr_assert_null(buyt_dashboard_asset_find("missing.js"));
    cr_assert_null(buyt_dashboard_asset_find(""));
}

Test(dashboard, the_page_references_each_asset_by_its_current_hash)
{
    const struct buyt_dashboard_asset *page = buyt_dashboard_asset_find("index.html");
    cr_assert_not_null(page);
    const char *html = (const char *)page->data;
    cr_assert_null(strstr(html, "@dashboard"), "a placeholder was left: %s", html);
    for (const struct buyt_dashboard_asset *a = buyt_dashboard_assets; a->name; a++) {
        if (a == page)
            continue;
        char ref[128];
        snprintf(ref, sizeof ref, "\"%s?v=%s\"", a->name, a->etag);
        cr_assert_not_null(strstr(html, ref), "index.html lacks %s", ref);
    }
}

/* ------------------------------------------------------------------ the JavaScript parses */

Test(dashboard, javascript_passes_node_check)
{
    if (system("command -v node >/dev/null 2>&1") != 0) {
        fprintf(stderr, "NOTICE: node is not installed: the JavaScript syntax check is skipped "
                        "(apt-get install nodejs to run it)\n");
        cr_skip_test("node not installed: node --check skipped");
    }
    int checked = 0;
    DIR *d = opendir(BUYT_SOURCE_DIR "/web");
    cr_assert_not_null(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *dot = strrchr(de->d_name, '.');
        if (!dot || strcmp(dot, ".js"))
            continue;
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "node --check '%s/web/%s' 2>&1", BUYT_SOURCE_DIR, de->d_name);
        cr_assert_eq(system(cmd), 0, "node --check web/%s failed", de->d_name);
        checked++;
    }
    closedir(d);
    cr_assert_geq(checked, 1);
}
