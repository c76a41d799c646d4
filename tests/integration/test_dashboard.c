/* The operators' dashboard end to end: an in-process engine with a real broker and database,
 * its HTTP server with the dashboard's routes (as ingest_main.c wires them), a small network
 * around Hanoi whose trips run now, and telemetry published through the broker. Asserts what a
 * browser sees: the redirect, the page and its assets with their types and validators, the
 * fleet summary following the telemetry, and that every path the page's script requests is
 * answered by the engine. */
#include "api.h"
#include "clock.h"
#include "contract.h"
#include "dashboard.h"
#include "engine.h"
#include "engine_rig.h"
#include "http_client.h"
#include "networks.h"
#include "testkit.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ the network */

/* The A..G network (networks.h): route 01 east through A..E, a trip every 10 min (trip 01_6
 * started 3 min ago), one trip back west; route 02 from B north through F and G every 15 min.
 * The east shape has 41 collinear points. */
static struct buyt_network *make_network(int64_t now)
{
    return buyt_test_network_ag(now, "Nhà hát Lớn", "Bến xe Giáp Bát", NULL);
}

/* ------------------------------------------------------------------ the rig */

static struct buyt_dashboard dash; /* the running test's */

static struct buyt_network *network(void *arg)
{
    (void)arg;
    return make_network(buyt_wall_ms());
}

static void rig_start(struct buyt_test_rig *r, const char *client_id)
{
    struct buyt_api_opts ao = {
        .listen = "127.0.0.1:0", .probe_interval_ms = 100, .request_timeout_ms = 3000};
    struct buyt_test_rig_opts o = {.client_id = client_id,
                                   .buses = 7,
                                   .network = network,
                                   .feed_version = 7,
                                   .service_day = "d",
                                   .api = &ao};
    buyt_test_rig_start(r, &o);
    char err[512];
    cr_assert_eq(buyt_dashboard_init(&dash, &r->e, r->api, err, sizeof err), 0, "%s", err);
    buyt_test_rig_connect(r, &o);
}

/* ------------------------------------------------------------------ telemetry */

/* Vehicle `v` (bus1..bus7 -> seq[v]) signs in to `trip` (NULL: none) and reports n fixes on
 * `shape`: dist[i] metres along, side[i] to the left, ago_s[i] seconds before now. */
static void drive(struct buyt_test_rig *r, int v, const char *trip, uint32_t shape, int n,
                  const double *dist, const double *side, const int *ago_s)
{
    int64_t now = buyt_wall_ms();
    struct buyt_test_pos ps[8];
    cr_assert_leq(n, 8);
    for (int i = 0; i < n; i++)
        ps[i] = (struct buyt_test_pos){now - ago_s[i] * 1000, dist[i], side ? side[i] : 0};
    char vid[16];
    snprintf(vid, sizeof vid, "bus%d", v);
    buyt_test_rig_publish_drive(r, vid, &r->seq[v], trip, shape, ps, n);
}

/* ------------------------------------------------------------------ HTTP */

/* One request on its own connection (Connection: close), read until the server closes it;
 * extra: more header lines, each ending in \r\n. */
static struct hresp get(struct buyt_test_rig *r, const char *method, const char *path,
                        const char *extra)
{
    return buyt_test_http_request(&r->loop, r->port, BUYT_TEST_HTTP_TO_EOF, method, path, extra);
}

static json_t *get_json(struct buyt_test_rig *r, const char *path, int want_status)
{
    return buyt_test_http_get_json(&r->loop, r->port, BUYT_TEST_HTTP_TO_EOF, path, want_status);
}

static void sha16(const void *data, size_t len, char out[17])
{
    unsigned char md[32];
    unsigned int n = 0;
    cr_assert(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL));
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* ------------------------------------------------------------------ page and assets */

Test(dashboard, root_redirects_to_the_page_which_is_served_at_dashboard_slash)
{
    struct buyt_test_rig r;
    rig_start(&r, "it-dash-page");
    const char *paths[] = {"/", "/dashboard"};
    for (int i = 0; i < 2; i++) {
        struct hresp h = get(&r, "GET", paths[i], NULL);
        cr_assert_eq(h.status, 302, "%s: %d", paths[i], h.status);
        cr_assert_str_eq(hdr(&h, "location"), "/dashboard/");
        cr_assert_not_null(strstr(h.head, "302 Found"), "%s", h.head);
        free(h.body);
    }
    struct hresp h = get(&r, "GET", "/dashboard/", NULL);
    cr_assert_eq(h.status, 200, "%d: %s", h.status, h.body);
    cr_assert_str_eq(hdr(&h, "content-type"), "text/html; charset=utf-8");
    cr_assert_str_eq(hdr(&h, "cache-control"), "no-cache");
    cr_assert_str_eq(hdr(&h, "x-content-type-options"), "nosniff");
    cr_assert_not_null(strstr(hdr(&h, "content-security-policy"), "default-src 'self'"));
    char want[40], etag[17];
    sha16(h.body, h.len, etag);
    snprintf(want, sizeof want, "\"%s\"", etag);
    cr_assert_str_eq(hdr(&h, "etag"), want, "the ETag is the SHA-256 of the page served");
    cr_assert_not_null(strstr(h.body, "<canvas id=\"map\""));
    /* The script it loads is the one /dashboard/dashboard.js serves, by its current hash. */
    char ref[80];
    snprintf(ref, sizeof ref, "src=\"dashboard.js?v=%s\"",
             buyt_dashboard_asset_find("dashboard.js")->etag);
    cr_assert_not_null(strstr(h.body, ref), "%s", ref);
    free(h.body);
    /* Trailing slashes stay significant elsewhere: the API has none. */
    h = get(&r, "GET", "/api/v1/routes/", NULL);
    cr_assert_eq(h.status, 404);
    free(h.body);
    h = get(&r, "GET", "/dashboard/index.html", NULL);
    cr_assert_eq(h.status, 200);
    cr_assert_str_eq(hdr(&h, "etag"), want);
    free(h.body);
    buyt_test_rig_stop(&r);
}

Test(dashboard, every_asset_is_served_with_its_type_hash_and_cache_policy)
{
    struct buyt_test_rig r;
    rig_start(&r, "it-dash-assets");
    static const struct {
        const char *name, *type;
    } want[] = {
        {"index.html", "text/html; charset=utf-8"},
        {"dashboard.js", "text/javascript; charset=utf-8"},
        {"dashboard.css", "text/css; charset=utf-8"},
        {"favicon.svg", "image/svg+xml"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct buyt_dashboard_asset *a = buyt_dashboard_asset_find(want[i].name);
        cr_assert_not_null(a, "%s not embedded", want[i].name);
        char path[128], tag[40], etag[17];
        snprintf(path, sizeof path, "/dashboard/%s", want[i].name);
        struct hresp h = get(&r, "GET", path, NULL);
        cr_assert_eq(h.status, 200, "%s: %d", path, h.status);
        cr_assert_str_eq(hdr(&h, "content-type"), want[i].type, "%s", path);
        sha16(h.body, h.len, etag);
        snprintf(tag, sizeof tag, "\"%s\"", etag);
        cr_assert_str_eq(hdr(&h, "etag"), tag, "%s: ETag is the content's hash", path);
        cr_assert_str_eq(hdr(&h, "cache-control"), "no-cache", "%s: unversioned: revalidate", path);
        cr_assert_str_eq(hdr(&h, "x-content-type-options"), "nosniff");
        cr_assert_eq(h.len, a->len);
        if (strcmp(want[i].name, "index.html")) {
            /* Byte for byte the file in web/. */
            char src[512];
            snprintf(src, sizeof src, "%s/web/%s", BUYT_SOURCE_DIR, want[i].name);
            FILE *f = fopen(src, "rb");
            cr_assert_not_null(f, "%s", src);
            char *disk = malloc(h.len + 1);
            cr_assert_eq(fread(disk, 1, h.len + 1, f), h.len, "%s: length differs from web/", path);
            cr_assert_eq(memcmp(disk, h.body, h.len), 0, "%s differs from web/", path);
            fclose(f);
            free(disk);
        }
        free(h.body);
        /* The page's own references (?v=hash) may be kept for good; another hash may not. */
        snprintf(path, sizeof path, "/dashboard/%s?v=%s", want[i].name, etag);
        h = get(&r, "GET", path, NULL);
        cr_assert_eq(h.status, 200);
        cr_assert_str_eq(hdr(&h, "cache-control"), "public, max-age=31536000, immutable");
        free(h.body);
        snprintf(path, sizeof path, "/dashboard/%s?v=0123456789abcdef", want[i].name);
        h = get(&r, "GET", path, NULL);
        cr_assert_str_eq(hdr(&h, "cache-control"), "no-cache");
        free(h.body);
        /* HEAD: the same headers, no body. */
        snprintf(path, sizeof path, "/dashboard/%s", want[i].name);
        h = get(&r, "HEAD", path, NULL);
        cr_assert_eq(h.status, 200);
        cr_assert_str_eq(hdr(&h, "etag"), tag);
        cr_assert_str_eq(hdr(&h, "content-type"), want[i].type);
        cr_assert_eq(h.len, 0);
        free(h.body);
    }
    buyt_test_rig_stop(&r);
}

Test(dashboard, if_none_match_gives_304_and_a_changed_tag_the_content)
{
    struct buyt_test_rig r;
    rig_start(&r, "it-dash-304");
    const char *paths[] = {"/dashboard/", "/dashboard/dashboard.js", "/dashboard/dashboard.css"};
    for (int i = 0; i < 3; i++) {
        struct hresp h = get(&r, "GET", paths[i], NULL);
        cr_assert_eq(h.status, 200);
        char tag[64], extra[128];
        snprintf(tag, sizeof tag, "%s", hdr(&h, "etag"));
        size_t len = h.len;
        free(h.body);
        snprintf(extra, sizeof extra, "If-None-Match: %s\r\n", tag);
        h = get(&r, "GET", paths[i], extra);
        cr_assert_eq(h.status, 304, "%s: %d", paths[i], h.status);
        cr_assert_eq(h.len, 0);
        cr_assert_str_eq(hdr(&h, "etag"), tag);
        free(h.body);
        h = get(&r, "GET", paths[i], "If-None-Match: \"0123456789abcdef\"\r\n");
        cr_assert_eq(h.status, 200);
        cr_assert_eq(h.len, len);
        free(h.body);
        /* gzip: another representation, the weak form of the tag; it validates too. */
        h = get(&r, "GET", paths[i], "Accept-Encoding: gzip\r\n");
        cr_assert_eq(h.status, 200);
        cr_assert_str_eq(hdr(&h, "content-encoding"), "gzip", "%s", paths[i]);
        char weak[80];
        snprintf(weak, sizeof weak, "W/%s", tag);
        cr_assert_str_eq(hdr(&h, "etag"), weak);
        cr_assert_lt(h.len, len);
        free(h.body);
        snprintf(extra, sizeof extra, "Accept-Encoding: gzip\r\nIf-None-Match: %s\r\n", weak);
        h = get(&r, "GET", paths[i], extra);
        cr_assert_eq(h.status, 304);
        free(h.body);
    }
    buyt_test_rig_stop(&r);
}

Test(dashboard, unknown_assets_are_404)
{
    struct buyt_test_rig r;
    rig_start(&r, "it-dash-404");
    const char *paths[] = {"/dashboard/nope.js",
                           "/dashboard/dashboard.js.map",
                           "/dashboard/x/dashboard.js",
                           "/dashboard/%2e%2e%2fREADME.md",
                           "/dashboard//",
                           "/dashboard.js"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct hresp h = get(&r, "GET", paths[i], NULL);
        cr_assert_eq(h.status, 404, "%s: %d", paths[i], h.status);
        cr_assert_str_eq(hdr(&h, "content-type"), "application/json");
        cr_assert_not_null(strstr(h.body, "\"not_found\""), "%s", h.body);
        cr_assert_null(hdr(&h, "etag"));
        free(h.body);
    }
    buyt_test_rig_stop(&r);
}

/* ------------------------------------------------------------------ /api/v1/fleet */

static json_t *row_of(json_t *fleet, const char *id)
{
    json_t *rows = json_object_get(fleet, "vehicles");
    for (size_t i = 0; i < json_array_size(rows); i++)
        if (!strcmp(json_string_value(json_array_get(json_array_get(rows, i), 0)), id))
            return json_array_get(rows, i);
    return NULL;
}

static const char *row_status(json_t *fleet, const char *id)
{
    json_t *row = row_of(fleet, id);
    return row ? json_string_value(json_array_get(row, 1)) : "(absent)";
}

static long long by_status(json_t *fleet, const char *status)
{
    return jint(json_object_get(json_object_get(fleet, "summary"), "by_status"), status);
}

Test(dashboard, fleet_summary_follows_the_telemetry)
{
    struct buyt_test_rig r;
    rig_start(&r, "it-dash-fleet");
    json_t *f = get_json(&r, "/api/v1/fleet", 200);
    json_t *sum = json_object_get(f, "summary");
    cr_assert_eq(jint(sum, "known"), 7);
    cr_assert_eq(jint(sum, "reporting"), 0);
    cr_assert_eq(jint(sum, "positioned"), 0);
    cr_assert_eq(by_status(f, "offline"), 7);
    cr_assert(json_is_null(json_object_get(sum, "on_time_performance")));
    cr_assert_eq(json_array_size(json_object_get(f, "vehicles")), 0);
    json_t *fields = json_object_get(f, "vehicle_fields");
    const char *want_fields[] = {"id",         "status",    "lat",      "lon",
                                 "course_deg", "speed_mps", "route_id", "delay_s",
                                 "fix_age_s",  "pattern",   "next_stop"};
    cr_assert_eq(json_array_size(fields), 11);
    for (size_t i = 0; i < 11; i++)
        cr_assert_str_eq(json_string_value(json_array_get(fields, i)), want_fields[i]);
    json_t *eng = json_object_get(f, "engine");
    cr_assert(json_is_true(json_object_get(eng, "broker_connected")));
    cr_assert(json_is_null(json_object_get(eng, "rates")), "no earlier sample yet");
    long long msgs0 = jint(eng, "messages");
    json_decref(f);

    /* bus1 on 01_6 (started 3 min ago) 1200 m along: about 40 s late, on time. bus2 on 01_5
     * (13 min ago) 200 m along: ~12 min late. bus3 on 01_7 (starts in 7 min) 1500 m along:
     * ~10 min early. bus4 off the network, no trip. bus5 one fix 110 s old: stale in ten
     * seconds. bus7 on 02_2 leaves the shape by 300 m. bus6 says nothing. */
    double d1[] = {1170, 1180, 1190, 1200}, d2[] = {170, 180, 190, 200},
           d3[] = {1470, 1480, 1490, 1500}, d7[] = {100, 150, 200, 250, 300, 350, 400};
    double s7[] = {0, 0, 0, 150, 300, 300, 300};
    int ago[] = {6, 4, 2, 0}, ago7[] = {70, 60, 50, 40, 30, 20, 10}, ago5[] = {110};
    char trip[3][16];
    snprintf(trip[0], 16, "01_6");
    snprintf(trip[1], 16, "01_5");
    snprintf(trip[2], 16, "01_7");
    drive(&r, 1, trip[0], 0, 4, d1, NULL, ago);
    drive(&r, 2, trip[1], 0, 4, d2, NULL, ago);
    drive(&r, 3, trip[2], 0, 4, d3, NULL, ago);
    drive(&r, 4, NULL, 2, 4, d1, (double[]){3000, 3000, 3000, 3000}, ago);
    drive(&r, 5, NULL, 0, 1, d1, NULL, ago5);
    drive(&r, 7, "02_2", 2, 7, d7, s7, ago7);
    buyt_test_rig_wait_accepted(&r, 3 * 5 + 4 + 1 + 8, NULL);

    f = get_json(&r, "/api/v1/fleet", 200);
    sum = json_object_get(f, "summary");
    cr_assert_eq(jint(sum, "known"), 7);
    cr_assert_eq(jint(sum, "reporting"), 6, "bus6 is silent");
    cr_assert_eq(jint(sum, "positioned"), 6);
    cr_assert_str_eq(row_status(f, "bus1"), "on_time");
    cr_assert_str_eq(row_status(f, "bus2"), "late");
    cr_assert_str_eq(row_status(f, "bus3"), "early");
    cr_assert_str_eq(row_status(f, "bus4"), "unassigned");
    cr_assert_str_eq(row_status(f, "bus5"), "unassigned", "110 s: not stale yet");
    cr_assert_str_eq(row_status(f, "bus7"), "off_route");
    cr_assert_null(row_of(f, "bus6"), "never seen: not on the map");
    cr_assert_eq(by_status(f, "on_time"), 1);
    cr_assert_eq(by_status(f, "late"), 1);
    cr_assert_eq(by_status(f, "early"), 1);
    cr_assert_eq(by_status(f, "unassigned"), 2);
    cr_assert_eq(by_status(f, "off_route"), 1);
    cr_assert_eq(by_status(f, "stale"), 0);
    cr_assert_eq(by_status(f, "offline"), 1);
    cr_assert_eq(jint(sum, "assigned"), 4, "bus1-3 and bus7 are on a trip");
    cr_assert_float_eq(json_number_value(json_object_get(sum, "on_time_performance")), 1.0 / 3,
                       1e-4);
    /* bus1's row: where it is, its route, delay, pattern and next stop (C, index 2). */
    struct buyt_vehicle *b1 = buyt_vehicles_find(&r.e.vehicles, "bus1");
    json_t *row = row_of(f, "bus1");
    cr_assert_float_eq(json_number_value(json_array_get(row, 2)), buyt_e7_to_deg(b1->lat_e7), 1e-6);
    cr_assert_float_eq(json_number_value(json_array_get(row, 3)), buyt_e7_to_deg(b1->lon_e7), 1e-6);
    cr_assert_eq(json_integer_value(json_array_get(row, 4)), 90, "heading east");
    cr_assert_str_eq(json_string_value(json_array_get(row, 6)), "01");
    cr_assert_eq(json_integer_value(json_array_get(row, 7)), b1->deviation_s);
    cr_assert_leq(json_integer_value(json_array_get(row, 8)), 10);
    cr_assert_eq(json_integer_value(json_array_get(row, 9)), r.e.net->trips[b1->trip].pattern);
    cr_assert_eq(json_integer_value(json_array_get(row, 10)), 2);
    json_t *row4 = row_of(f, "bus4");
    cr_assert(json_is_null(json_array_get(row4, 6)) && json_is_null(json_array_get(row4, 7)));
    eng = json_object_get(f, "engine");
    cr_assert_eq(jint(eng, "messages"), msgs0 + 6);
    cr_assert_eq(jint(eng, "records"), 3 * 5 + 4 + 1 + 8);
    json_decref(f);

    /* The route filter: the summary and rows of that route only. */
    f = get_json(&r, "/api/v1/fleet?route=01", 200);
    cr_assert_str_eq(jstr(f, "route"), "01");
    cr_assert_eq(jint(json_object_get(f, "summary"), "known"), 3);
    cr_assert_eq(json_array_size(json_object_get(f, "vehicles")), 3);
    cr_assert_eq(by_status(f, "late"), 1);
    json_decref(f);
    f = get_json(&r, "/api/v1/fleet?route=02", 200);
    cr_assert_eq(json_array_size(json_object_get(f, "vehicles")), 1);
    cr_assert_str_eq(row_status(f, "bus7"), "off_route");
    json_decref(f);
    f = get_json(&r, "/api/v1/fleet?route=99", 404);
    json_decref(f);

    /* A silent vehicle turns stale once its newest fix is 2 minutes old, still reporting
     * (telemetry arrived) but no longer placed: the summary moves it. */
    int64_t t0 = buyt_wall_ms();
    for (;;) {
        f = get_json(&r, "/api/v1/fleet", 200);
        if (!strcmp(row_status(f, "bus5"), "stale"))
            break;
        cr_assert_str_eq(row_status(f, "bus5"), "unassigned");
        json_decref(f);
        cr_assert_lt(buyt_wall_ms() - t0, 20000, "bus5 never went stale");
        uv_sleep(250);
    }
    cr_assert_geq(buyt_wall_ms() - t0, 1000, "it was fresh a moment ago");
    cr_assert_eq(by_status(f, "stale"), 1);
    cr_assert_eq(by_status(f, "unassigned"), 1);
    cr_assert_eq(jint(json_object_get(f, "summary"), "reporting"), 6);
    cr_assert_geq(json_integer_value(json_array_get(row_of(f, "bus5"), 8)), 120);
    json_decref(f);
    buyt_test_rig_stop(&r);
}

Test(dashboard, fleet_engine_block_counts_rates_duplicates_and_rejects)
{
    struct buyt_test_rig r;
    rig_start(&r, "it-dash-engine");
    double d[] = {1170, 1180, 1190, 1200};
    int ago[] = {6, 4, 2, 0};
    drive(&r, 1, "01_6", 0, 4, d, NULL, ago);
    buyt_test_rig_wait_accepted(&r, 5, NULL);
    json_t *f = get_json(&r, "/api/v1/fleet", 200); /* the rates' first sample */
    json_t *eng = json_object_get(f, "engine");
    long long m0 = jint(eng, "messages"), d0 = jint(eng, "duplicates");
    long long rej0 = jint(eng, "rejected");
    json_decref(f);
    int64_t t0 = buyt_wall_ms();

    /* 4 new messages, one re-sent record (a duplicate), one message from an unknown vehicle. */
    for (int i = 0; i < 4; i++) {
        double di[] = {1210 + 10.0 * i};
        int now0[] = {0};
        drive(&r, 1, NULL, 0, 1, di, NULL, now0);
    }
    Buyt__V1__Record rec = BUYT__V1__RECORD__INIT, *rp = &rec;
    Buyt__V1__Fix fx;
    buyt_test_fix_on_shape(&fx, r.e.net, 0, 1200, 0, 5);
    rec.seq = 3; /* already taken */
    rec.time_ms = (uint64_t)buyt_wall_ms();
    rec.body_case = BUYT__V1__RECORD__BODY_FIX;
    rec.fix = &fx;
    buyt_test_rig_publish(&r, "bus1", &rp, 1);
    rec.seq = 1;
    buyt_test_rig_publish(&r, "ghost", &rp, 1);
    buyt_test_rig_wait_accepted(&r, 9, NULL);
    while (buyt_wall_ms() - t0 < 1300 || r.e.stats.messages < (uint64_t)m0 + 6)
        uv_run(&r.loop, UV_RUN_NOWAIT), uv_sleep(20);

    f = get_json(&r, "/api/v1/fleet", 200);
    eng = json_object_get(f, "engine");
    cr_assert_eq(jint(eng, "messages"), m0 + 6);
    cr_assert_eq(jint(eng, "duplicates"), d0 + 1);
    cr_assert_eq(jint(eng, "rejected"), rej0 + 1);
    cr_assert_eq(jint(json_object_get(eng, "rejected_by_reason"), "unknown_vehicle"), 1);
    cr_assert_eq(json_object_size(json_object_get(eng, "rejected_by_reason")), 1,
                 "only reasons that happened");
    json_t *rates = json_object_get(eng, "rates");
    cr_assert(json_is_object(rates), "a sample >= 1 s old exists");
    double win = json_number_value(json_object_get(rates, "window_s"));
    cr_assert_geq(win, 1.0);
    cr_assert_lt(win, 30.0);
    cr_assert_float_eq(json_number_value(json_object_get(rates, "messages_per_s")) * win, 6.0, 0.1);
    cr_assert_float_eq(json_number_value(json_object_get(rates, "duplicates_per_s")) * win, 1.0,
                       0.05);
    cr_assert_float_eq(json_number_value(json_object_get(rates, "rejected_per_s")) * win, 1.0,
                       0.05);
    cr_assert(json_is_true(json_object_get(eng, "writer_connected")));
    cr_assert_geq(jint(eng, "batches_committed"), 1);
    cr_assert_eq(jint(eng, "spool_pending_batches"), 0);
    cr_assert_gt(json_number_value(json_object_get(eng, "batch_commit_max_ms")), 0);
    json_decref(f);
    buyt_test_rig_stop(&r);
}

/* ------------------------------------------------------------------ /api/v1/network */

Test(dashboard, network_gives_simplified_shapes_in_the_engine_frame_and_revalidates)
{
    struct buyt_test_rig r;
    rig_start(&r, "it-dash-net");
    struct hresp h = get(&r, "GET", "/api/v1/network", NULL);
    cr_assert_eq(h.status, 200);
    char tag[80];
    snprintf(tag, sizeof tag, "%s", hdr(&h, "etag"));
    cr_assert_str_eq(hdr(&h, "cache-control"), "no-cache");
    json_t *n = json_loadb(h.body, h.len, JSON_REJECT_DUPLICATES, NULL);
    cr_assert_not_null(n);
    free(h.body);
    json_t *f = get_json(&r, "/api/v1/fleet", 200);
    cr_assert_str_eq(jstr(n, "version"), jstr(f, "network_version"));
    char quoted[80];
    snprintf(quoted, sizeof quoted, "\"%s\"", jstr(n, "version"));
    cr_assert_str_eq(tag, quoted);
    json_decref(f);
    cr_assert_eq(jint(n, "feed_version"), 7);
    cr_assert_eq(json_array_size(json_object_get(n, "routes")), 2);
    json_t *st = json_object_get(n, "stops");
    cr_assert_eq(json_array_size(st), 7);
    json_t *a = json_array_get(st, 0);
    cr_assert_str_eq(json_string_value(json_array_get(a, 0)), "A");
    cr_assert_str_eq(json_string_value(json_array_get(a, 1)), "Kim Mã");
    /* Stop A in the frame: the frame's formula on its lat/lon gives the same metres. */
    json_t *fr = json_object_get(n, "frame");
    double ax = (105.80 - json_number_value(json_object_get(fr, "lon0"))) *
                json_number_value(json_object_get(fr, "m_per_deg_lon"));
    double ay = (21.0 - json_number_value(json_object_get(fr, "lat0"))) *
                json_number_value(json_object_get(fr, "m_per_deg_lat"));
    cr_assert_float_eq((double)json_integer_value(json_array_get(a, 2)), ax, 1.0);
    cr_assert_float_eq((double)json_integer_value(json_array_get(a, 3)), ay, 1.0);
    /* Three patterns; the east one's 41 collinear points become its two ends. */
    json_t *pats = json_object_get(n, "patterns");
    cr_assert_eq(json_array_size(pats), 3);
    bool east = false;
    for (size_t i = 0; i < 3; i++) {
        json_t *p = json_array_get(pats, i);
        json_t *line = json_object_get(p, "line"), *ps = json_object_get(p, "stops");
        if (json_array_size(ps) != 5 || jint(p, "direction_id") != 0)
            continue;
        east = true;
        cr_assert_eq(jint(p, "route"), 0);
        cr_assert_str_eq(jstr(p, "headsign"), "Bến xe Giáp Bát");
        for (size_t k = 0; k < 5; k++)
            cr_assert_eq(json_integer_value(json_array_get(ps, k)), (long long)k);
        cr_assert_eq(json_array_size(line), 4, "two vertices: %s", json_dumps(line, 0));
        long long x0 = json_integer_value(json_array_get(line, 0));
        long long dx = json_integer_value(json_array_get(line, 2));
        cr_assert_float_eq((double)x0, ax, 1.5, "starts at A");
        double east_m = 0.04 * json_number_value(json_object_get(fr, "m_per_deg_lon"));
        cr_assert_float_eq((double)dx, east_m, 1.5, "A to E: %lld m", dx);
        cr_assert_eq(json_integer_value(json_array_get(line, 3)), 0);
    }
    cr_assert(east);
    json_t *b = json_object_get(n, "bounds");
    cr_assert_eq(json_array_size(b), 4);
    cr_assert_lt(json_integer_value(json_array_get(b, 0)),
                 json_integer_value(json_array_get(b, 2)));
    json_decref(n);

    /* Revalidation: 304 until another network is swapped in. */
    char extra[128];
    snprintf(extra, sizeof extra, "If-None-Match: %s\r\n", tag);
    h = get(&r, "GET", "/api/v1/network", extra);
    cr_assert_eq(h.status, 304);
    free(h.body);
    struct buyt_netload_info info = {
        .timezone = "UTC", .agency = "hn", .feed_version = 8, .first_day = "d", .last_day = "d"};
    buyt_engine_set_network(&r.e, make_network(buyt_wall_ms()), &info);
    h = get(&r, "GET", "/api/v1/network", extra);
    cr_assert_eq(h.status, 200, "a new network, a new version");
    cr_assert_str_neq(hdr(&h, "etag"), tag);
    cr_assert_not_null(strstr(h.body, "\"feed_version\":8"));
    free(h.body);
    buyt_test_rig_stop(&r);
}

/* ------------------------------------------------------------------ what the script requests */

/* The page's script keeps every path it requests in one table (`const API = {...}`). Each is
 * requested here with real ids, and no other absolute path may appear in the script. */
Test(dashboard, every_path_the_script_requests_exists_on_the_engine)
{
    struct buyt_test_rig r;
    rig_start(&r, "it-dash-paths");
    double d[] = {1170, 1180, 1190, 1200};
    int ago[] = {6, 4, 2, 0};
    drive(&r, 1, "01_6", 0, 4, d, NULL, ago);
    buyt_test_rig_wait_accepted(&r, 5, NULL);
    struct hresp js = get(&r, "GET", "/dashboard/dashboard.js", NULL);
    cr_assert_eq(js.status, 200);
    /* One fetch() call: every request goes through the helper that uses the table. */
    const char *p = strstr(js.body, "fetch(");
    cr_assert_not_null(p);
    cr_assert_null(strstr(p + 1, "fetch("), "a second fetch() outside the helper");
    const char *tb = strstr(js.body, "const API = {"), *te = tb ? strstr(tb, "};") : NULL;
    cr_assert(tb && te, "no API table in dashboard.js");
    char paths[16][128];
    int n = 0;
    for (const char *q = tb; q < te && (q = strstr(q, ": '")) && q < te; q += 3) {
        const char *e = strchr(q + 3, '\'');
        cr_assert_lt(n, 16);
        snprintf(paths[n++], sizeof paths[0], "%.*s", (int)(e - q - 3), q + 3);
    }
    cr_assert_geq(n, 5, "found %d paths", n);
    /* Every string literal starting with '/' anywhere in the script is one of them. */
    int literals = 0;
    for (const char *q = js.body; (q = strpbrk(q, "'\"`")); q++) {
        if (q[1] != '/')
            continue;
        const char *e = strchr(q + 1, *q);
        cr_assert_not_null(e);
        char s[128];
        snprintf(s, sizeof s, "%.*s", (int)(e - q - 1), q + 1);
        bool known = false;
        for (int i = 0; i < n; i++)
            known |= !strcmp(s, paths[i]);
        cr_assert(known, "dashboard.js names %s outside its API table", s);
        literals++;
    }
    cr_assert_eq(literals, n, "each path written once, in the table");
    bool fleet = false, network = false;
    for (int i = 0; i < n; i++) {
        char path[256];
        const char *brace = strchr(paths[i], '{');
        if (brace) {
            const char *close = strchr(brace, '}');
            const char *val = !strncmp(brace, "{vehicle_id}", 12) ? "bus1"
                              : !strncmp(brace, "{stop_id}", 9)   ? "C"
                                                                  : NULL;
            cr_assert_not_null(val, "no test value for %s", paths[i]);
            snprintf(path, sizeof path, "%.*s%s%s", (int)(brace - paths[i]), paths[i], val,
                     close + 1);
        } else {
            snprintf(path, sizeof path, "%.200s", paths[i]);
        }
        fleet |= !strcmp(path, "/api/v1/fleet");
        network |= !strcmp(path, "/api/v1/network");
        struct hresp h = get(&r, "GET", path, NULL);
        cr_assert_eq(h.status, 200, "%s (from %s): %d %s", path, paths[i], h.status, h.body);
        cr_assert_not_null(strstr(hdr(&h, "content-type"), "application/json"), "%s", path);
        free(h.body);
    }
    cr_assert(fleet && network);
    free(js.body);
    buyt_test_rig_stop(&r);
}
