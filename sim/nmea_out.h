/* NMEA 0183 output of a simulated GNSS receiver: one epoch as the sentences a typical u-blox
 * receiver sends each second, in its order (RMC, VTG, GGA, GSA), talker GP, each with its
 * "*hh" checksum (XOR of the bytes between '$' and '*', NMEA 0183 4.11 section 5.3) and CR LF.
 * A no-fix epoch is reported as receivers do: RMC status V, GGA quality 0, GSA mode 1, empty
 * position fields. Round-trips through the project's parser (onboard/nmea.h). */
#ifndef BUYT_SIM_NMEA_OUT_H
#define BUYT_SIM_NMEA_OUT_H

#include "fleet.h"

#include <stddef.h>

#define BUYT_NMEA_OUT_EPOCH_MAX 512 /* bytes: four sentences of at most 82 characters + CR LF */

/** Frames `body` (the text between '$' and '*') as "$body*hh\r\n" into buf. Returns the
 *  length, or 0 if it does not fit. */
size_t buyt_nmea_out_sentence(const char *body, char *buf, size_t cap);

/** Writes the epoch `e` (time, position, speed, course, HDOP, satellites, altitude) as
 *  RMC, VTG, GGA and GSA into buf. Returns the length, or 0 if cap is too small. */
size_t buyt_nmea_out_epoch(const struct buyt_fleet_epoch *e, char *buf, size_t cap);

#endif
