/* log.c -- key=value operational logging to stderr, one write per line. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static macx_log_level_t s_level = MACX_LOG_INFO;
static char s_component[32] = "macx";
static const char *s_names[] = { "debug", "info", "warn", "error" };

void macx_log_set_level (macx_log_level_t level) { s_level = level; }

void
macx_log_set_component (const char *component)
{
    snprintf (s_component, sizeof s_component, "%s", component);
}

int
macx_log_parse_level (const char *name, macx_log_level_t *level)
{
    for (int i = 0; i < 4; i++)
        if (strcmp (name, s_names[i]) == 0) {
            *level = (macx_log_level_t) i;
            return 0;
        }
    return -1;
}

void
macx_log (macx_log_level_t level, const char *msg, const char *fmt, ...)
{
    if (level < s_level)
        return;
    char line[2048];
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r (&ts.tv_sec, &tm);
    int n = snprintf (line, sizeof line,
                      "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s comp=%s msg=\"%s\"",
                      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                      tm.tm_sec, ts.tv_nsec / 1000000L, s_names[level], s_component, msg);
    if (fmt && *fmt && n > 0 && (size_t) n < sizeof line - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start (ap, fmt);
        int m = vsnprintf (line + n, sizeof line - (size_t) n - 1, fmt, ap);
        va_end (ap);
        if (m > 0)
            n += m;
    }
    if (n < 0)
        return;
    if ((size_t) n > sizeof line - 2)
        n = (int) sizeof line - 2;
    line[n++] = '\n';
    ssize_t rc = write (STDERR_FILENO, line, (size_t) n);
    (void) rc;
}
