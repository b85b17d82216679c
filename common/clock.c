/* clock.c -- clocks and civil-date arithmetic (Howard Hinnant's algorithms). */
#include "clock.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

uint64_t
macx_clock_mono_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

int64_t
macx_clock_wall_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int32_t
macx_date_from_ymd (int y, int m, int d)
{
    y -= m <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned) (y - era * 400);
    const unsigned doy = (153 * (unsigned) (m > 2 ? m - 3 : m + 9) + 2) / 5 + (unsigned) d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t) (era * 146097 + (int) doe - 719468);
}

void
macx_date_to_ymd (int32_t z, int *y, int *m, int *d)
{
    z += 719468;
    const int era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned) (z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int yy = (int) yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = (int) (doy - (153 * mp + 2) / 5 + 1);
    *m = (int) (mp < 10 ? mp + 3 : mp - 9);
    *y = yy + (*m <= 2);
}

int
macx_date_parse (const char *text, int32_t *days)
{
    if (!text || strlen (text) != 10 || text[4] != '-' || text[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (text[i] < '0' || text[i] > '9'))
            return -1;
    int y = (text[0] - '0') * 1000 + (text[1] - '0') * 100 + (text[2] - '0') * 10 + (text[3] - '0');
    int m = (text[5] - '0') * 10 + (text[6] - '0');
    int d = (text[8] - '0') * 10 + (text[9] - '0');
    if (m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    int32_t z = macx_date_from_ymd (y, m, d);
    int yy, mm, dd;
    macx_date_to_ymd (z, &yy, &mm, &dd);
    if (yy != y || mm != m || dd != d)
        return -1;
    *days = z;
    return 0;
}

char *
macx_date_format (int32_t days, char *buf)
{
    int y, m, d;
    macx_date_to_ymd (days, &y, &m, &d);
    snprintf (buf, 11, "%04d-%02d-%02d", y % 10000, m, d);
    return buf;
}

int32_t
macx_date_today (void)
{
    return (int32_t) (macx_clock_wall_ms () / 86400000);
}

char *
macx_time_format (int64_t ms, char *buf)
{
    int64_t days = ms >= 0 ? ms / 86400000 : (ms - 86399999) / 86400000;
    int64_t in_day = ms - days * 86400000;
    int y, m, d;
    macx_date_to_ymd ((int32_t) days, &y, &m, &d);
    snprintf (buf, 21, "%04d-%02d-%02dT%02d:%02d:%02dZ", y % 10000, m, d,
              (int) (in_day / 3600000), (int) (in_day / 60000 % 60), (int) (in_day / 1000 % 60));
    return buf;
}

char *
macx_time_format_ms (int64_t ms, char *buf)
{
    int64_t day = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    int64_t rem = ms - day * 86400000;
    int y, m, d;
    macx_date_to_ymd ((int32_t) day, &y, &m, &d);
    snprintf (buf, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d, (int) (rem / 3600000),
              (int) (rem / 60000 % 60), (int) (rem / 1000 % 60), (int) (rem % 1000));
    return buf;
}

char *
macx_duration_format (int64_t ms, char *buf, size_t size)
{
    int64_t a = ms < 0 ? -ms : ms;
    if (a < 1000)
        snprintf (buf, size, "%" PRId64 " ms", a);
    else if (a < 120000)
        snprintf (buf, size, "%.1f s", (double) a / 1000);
    else if (a < 7200000)
        snprintf (buf, size, "%.1f min", (double) a / 60000);
    else if (a < 172800000)
        snprintf (buf, size, "%.1f h", (double) a / 3600000);
    else
        snprintf (buf, size, "%.1f days", (double) a / 86400000);
    return buf;
}
