/* NMEA sentence generation; see nmea_out.h. */
#include "nmea_out.h"

#include "clock.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define KNOTS_PER_MS (3600.0 / 1852.0)

size_t buyt_nmea_out_sentence(const char *body, char *buf, size_t cap)
{
    unsigned char x = 0;
    for (const char *p = body; *p; p++)
        x ^= (unsigned char)*p;
    int n = snprintf(buf, cap, "$%s*%02X\r\n", body, x);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* ddmm.mmmmm / dddmm.mmmmm with hemisphere. */
static void coord(char *out, size_t len, double deg, bool lat)
{
    char hemi = lat ? (deg < 0 ? 'S' : 'N') : (deg < 0 ? 'W' : 'E');
    double a = fabs(deg);
    int d = (int)a;
    double m = (a - d) * 60.0;
    if (m >= 59.999995) { /* would print as 60.00000 */
        d++;
        m = 0;
    }
    snprintf(out, len, lat ? "%02d%08.5f,%c" : "%03d%08.5f,%c", d, m, hemi);
}

size_t buyt_nmea_out_epoch(const struct buyt_fleet_epoch *e, char *buf, size_t cap)
{
    int64_t ms = e->time_ms;
    int64_t day = ms >= 0 ? ms / 86400000 : (ms - 86399999) / 86400000;
    int64_t tod = ms - day * 86400000;
    char iso[32];
    buyt_iso8601_ms(day * 86400000, iso, sizeof iso);
    int y, mo, d;
    sscanf(iso, "%d-%d-%d", &y, &mo, &d);
    char hms[40], date[40], lat[48], lon[48], body[256];
    snprintf(hms, sizeof hms, "%02d%02d%02d.%02d", (int)(tod / 3600000), (int)(tod / 60000 % 60),
             (int)(tod / 1000 % 60), (int)(tod % 1000 / 10));
    snprintf(date, sizeof date, "%02d%02d%02d", d, mo, y % 100);
    double kn = e->speed_ms * KNOTS_PER_MS, course = fmod(e->course_deg, 360.0);
    size_t n = 0, k;
    if (e->valid) {
        coord(lat, sizeof lat, e->lat, true);
        coord(lon, sizeof lon, e->lon, false);
        snprintf(body, sizeof body, "GPRMC,%s,A,%s,%s,%.2f,%.2f,%s,,,A", hms, lat, lon, kn, course,
                 date);
    } else {
        snprintf(body, sizeof body, "GPRMC,%s,V,,,,,,,%s,,,N", hms, date);
    }
    if (!(k = buyt_nmea_out_sentence(body, buf + n, cap - n)))
        return 0;
    n += k;
    if (e->valid)
        snprintf(body, sizeof body, "GPVTG,%.2f,T,,M,%.2f,N,%.2f,K,A", course, kn,
                 e->speed_ms * 3.6);
    else
        snprintf(body, sizeof body, "GPVTG,,T,,M,,N,,K,N");
    if (!(k = buyt_nmea_out_sentence(body, buf + n, cap - n)))
        return 0;
    n += k;
    int sats = e->satellites < 0 ? 0 : e->satellites > 12 ? 12 : e->satellites;
    if (e->valid)
        snprintf(body, sizeof body, "GPGGA,%s,%s,%s,1,%02d,%.2f,%.1f,M,-28.0,M,,", hms, lat, lon,
                 e->satellites, e->hdop, e->alt_m);
    else
        snprintf(body, sizeof body, "GPGGA,%s,,,,,0,00,99.99,,,,,,", hms);
    if (!(k = buyt_nmea_out_sentence(body, buf + n, cap - n)))
        return 0;
    n += k;
    /* GSA: mode, fix type, the satellites used (PRNs), PDOP, HDOP, VDOP */
    char prns[64] = "";
    size_t pl = 0;
    for (int i = 0; i < 12; i++)
        pl += (size_t)snprintf(prns + pl, sizeof prns - pl, i < sats && e->valid ? "%02d," : ",",
                               2 + 3 * i);
    if (e->valid)
        snprintf(body, sizeof body, "GPGSA,A,3,%s%.2f,%.2f,%.2f", prns, e->hdop * 1.6, e->hdop,
                 e->hdop * 1.3);
    else
        snprintf(body, sizeof body, "GPGSA,A,1,%s99.99,99.99,99.99", prns);
    if (!(k = buyt_nmea_out_sentence(body, buf + n, cap - n)))
        return 0;
    return n + k;
}
