/* clock.h -- monotonic and wall clocks in integer units, and civil dates as
 * days since 1970-01-01 (the unit the policy engine and pilot share). */
#ifndef MACX_CLOCK_H
#define MACX_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic nanoseconds, for latency measurement. */
uint64_t macx_clock_mono_ns (void);
/* Wall-clock milliseconds since the epoch, for record creation times. */
int64_t macx_clock_wall_ms (void);

/* Days since 1970-01-01 for a proleptic Gregorian date; no range checks. */
int32_t macx_date_from_ymd (int y, int m, int d);
void macx_date_to_ymd (int32_t days, int *y, int *m, int *d);
/* Parses strict "YYYY-MM-DD" into days; returns 0, or -1 when it does not
 * parse or names a day that does not exist (2026-02-30). */
int macx_date_parse (const char *text, int32_t *days);
/* Formats days as "YYYY-MM-DD" into buf (at least 11 bytes); returns buf. */
char *macx_date_format (int32_t days, char *buf);
/* Today (UTC) in days. */
int32_t macx_date_today (void);
/* Formats ms since the epoch as "YYYY-MM-DDTHH:MM:SSZ" into buf (at least
 * 21 bytes); returns buf. */
char *macx_time_format (int64_t ms, char *buf);
/* The same with milliseconds, "2026-06-01T09:30:00.250Z", into buf (at
 * least 32 bytes); returns buf. */
char *macx_time_format_ms (int64_t ms, char *buf);
/* A duration for people: "850 ms", "12.0 s", "3.5 min", "5.0 h", "21.0 days". */
char *macx_duration_format (int64_t ms, char *buf, size_t size);

#endif
