/* Clocks: wall-clock time for data (Unix ms UTC), monotonic time for timers and durations. */
#ifndef BUYT_CLOCK_H
#define BUYT_CLOCK_H

#include <stdint.h>
#include <stddef.h>

/** Wall clock, Unix epoch milliseconds UTC. */
int64_t buyt_wall_ms(void);

/** Monotonic clock in nanoseconds (for measuring durations). */
uint64_t buyt_mono_ns(void);

/** Formats `ms` as ISO-8601 UTC with milliseconds ("2026-11-24T08:00:00.000Z") into `buf`
 *  (at least 25 bytes). Returns buf. */
char *buyt_iso8601_ms(int64_t ms, char *buf, size_t len);

/** Days since 1970-01-01 for a proleptic Gregorian civil date (no time zone, no leap seconds). */
int64_t buyt_days_from_civil(int y, unsigned m, unsigned d);

#endif
