/* Structured logging to stderr: one line per event, `ts=... level=... mod=... msg="..." k=v`.
 * Format is logfmt so operators can grep and ship it; no allocation. */
#ifndef BUYT_LOG_H
#define BUYT_LOG_H

enum buyt_log_level { BUYT_LOG_DEBUG, BUYT_LOG_INFO, BUYT_LOG_WARN, BUYT_LOG_ERROR };

/** Sets the lowest level printed (default INFO; env BUYT_LOG_LEVEL=debug|info|warn|error). */
void buyt_log_set_level(enum buyt_log_level level);

/** Logs `fmt` (printf style, the message and any k=v pairs after it) for module `mod`. */
void buyt_log(enum buyt_log_level level, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define BUYT_DEBUG(mod, ...) buyt_log(BUYT_LOG_DEBUG, mod, __VA_ARGS__)
#define BUYT_INFO(mod, ...) buyt_log(BUYT_LOG_INFO, mod, __VA_ARGS__)
#define BUYT_WARN(mod, ...) buyt_log(BUYT_LOG_WARN, mod, __VA_ARGS__)
#define BUYT_ERROR(mod, ...) buyt_log(BUYT_LOG_ERROR, mod, __VA_ARGS__)

#endif
