/* Geodesy helpers; see geo.h. */
#include "geo.h"

#include <math.h>

#define DEG2RAD (M_PI / 180.0)

double buyt_geo_haversine_m(double lat1, double lon1, double lat2, double lon2)
{
    double p1 = lat1 * DEG2RAD, p2 = lat2 * DEG2RAD;
    double dp = (lat2 - lat1) * DEG2RAD, dl = (lon2 - lon1) * DEG2RAD;
    double a = sin(dp / 2) * sin(dp / 2) + cos(p1) * cos(p2) * sin(dl / 2) * sin(dl / 2);
    return 2 * BUYT_EARTH_RADIUS_M * atan2(sqrt(a), sqrt(1 - a));
}

void buyt_geo_frame_init(struct buyt_geo_frame *f, double lat0_deg, double lon0_deg)
{
    f->lat0_deg = lat0_deg;
    f->lon0_deg = lon0_deg;
    f->m_per_deg_lat = BUYT_EARTH_RADIUS_M * DEG2RAD;
    f->m_per_deg_lon = BUYT_EARTH_RADIUS_M * DEG2RAD * cos(lat0_deg * DEG2RAD);
}

void buyt_geo_to_xy(const struct buyt_geo_frame *f, double lat, double lon, double *x, double *y)
{
    *x = (lon - f->lon0_deg) * f->m_per_deg_lon;
    *y = (lat - f->lat0_deg) * f->m_per_deg_lat;
}

void buyt_geo_from_xy(const struct buyt_geo_frame *f, double x, double y, double *lat, double *lon)
{
    *lat = f->lat0_deg + y / f->m_per_deg_lat;
    *lon = f->lon0_deg + x / f->m_per_deg_lon;
}

int32_t buyt_deg_to_e7(double deg) { return (int32_t)lround(deg * 1e7); }
