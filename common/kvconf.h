/* Config files for buyt programs: `key = value` lines, `#` comments, blank lines ignored,
 * values may be "double quoted" (to keep leading/trailing spaces or a '#').
 * Unknown keys and malformed lines are errors with the file name and line number, so a typo
 * in a bus's config is caught by --check-config instead of being silently ignored.
 *
 * Usage: describe the keys in a table of struct buyt_kvconf_key, then buyt_kvconf_load(). */
#ifndef BUYT_KVCONF_H
#define BUYT_KVCONF_H

#include <stddef.h>

/** Called for each `key = value`. Returns 0, or a negative code and writes a reason (no line
 *  number: the loader adds it) into err. `value` is borrowed for the call. */
typedef int (*buyt_kvconf_set_fn)(void *target, const char *key, const char *value, char *err,
                                  size_t errlen);

/** Loads `path`, calling set() for every key in `keys` (NULL-terminated list of allowed key
 *  names). Returns 0, BUYT_EIO (unreadable file) or BUYT_EINVAL, with a one-line reason
 *  "FILE:LINE: ..." in err. */
int buyt_kvconf_load(const char *path, const char *const *keys, buyt_kvconf_set_fn set,
                     void *target, char *err, size_t errlen);

/** Parses an unsigned integer with optional suffix (k, M, G = 1024^n; ms, s, min, h for
 *  durations when `unit_ms` is nonzero: result in ms). Returns 0 or BUYT_EINVAL. */
int buyt_kvconf_uint(const char *value, int unit_ms, unsigned long long *out);

/** Parses true/false/yes/no/on/off/1/0. Returns 0 or BUYT_EINVAL. */
int buyt_kvconf_bool(const char *value, int *out);

#endif
