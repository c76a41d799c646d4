/* Geodesy for a city: WGS-84 degrees <-> fixed point, distances, and a local planar frame. */
#ifndef BUYT_GEO_H
#define BUYT_GEO_H

#include <stdint.h>

#define BUYT_EARTH_RADIUS_M 6371008.8 /* IUGG mean radius */

/** Great-circle distance in metres between two points given in degrees. */
double buyt_geo_haversine_m(double lat1, double lon1, double lat2, double lon2);

/** A local equirectangular frame around a reference latitude: x east, y north, metres.
 *  Error < 0.1 % within 50 km of the reference — a city, not a continent. */
struct buyt_geo_frame {
    double lat0_deg, lon0_deg;
    double m_per_deg_lat, m_per_deg_lon;
};

void buyt_geo_frame_init(struct buyt_geo_frame *f, double lat0_deg, double lon0_deg);
void buyt_geo_to_xy(const struct buyt_geo_frame *f, double lat, double lon, double *x, double *y);
void buyt_geo_from_xy(const struct buyt_geo_frame *f, double x, double y, double *lat, double *lon);

static inline double buyt_e7_to_deg(int32_t e7) { return (double)e7 * 1e-7; }
/** Rounds degrees to 1e-7 fixed point (callers validate the range first). */
int32_t buyt_deg_to_e7(double deg);

#endif
