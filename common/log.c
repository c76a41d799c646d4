/* Logging: logfmt lines to stderr, written with one write() so concurrent lines don't mix. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static int g_level = -1;

void buyt_log_set_level(enum buyt_log_level level) { g_level = (int)level; }

static int current_level(void)
{
    if (g_level < 0) {
        const char *e = getenv("BUYT_LOG_LEVEL");
        g_level = BUYT_LOG_INFO;
        if (e && !strcasecmp(e, "debug"))
            g_level = BUYT_LOG_DEBUG;
        else if (e && !strcasecmp(e, "warn"))
            g_level = BUYT_LOG_WARN;
        else if (e && !strcasecmp(e, "error"))
            g_level = BUYT_LOG_ERROR;
    }
    return g_level;
}

void buyt_log(enum buyt_log_level level, const char *mod, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if ((int)level < current_level())
        return;
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s mod=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, names[level], mod);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
