/* log.h -- operational logs: levelled key=value lines on stderr. Not the
 * audit log, which is data with its own store and verifier. Never pass a
 * secret to these functions. */
#ifndef MACX_LOG_H
#define MACX_LOG_H

typedef enum { MACX_LOG_DEBUG, MACX_LOG_INFO, MACX_LOG_WARN, MACX_LOG_ERROR } macx_log_level_t;

/* Sets the minimum level printed (default INFO) and a component tag. */
void macx_log_set_level (macx_log_level_t level);
void macx_log_set_component (const char *component);
/* Parses "debug|info|warn|error"; returns 0 or -1. */
int  macx_log_parse_level (const char *name, macx_log_level_t *level);

/* Writes `ts=... level=... comp=... msg="..." k=v ...`; fmt supplies the
 * key=value tail, e.g. macx_log (MACX_LOG_INFO, "started", "bind=%s", ep). */
void macx_log (macx_log_level_t level, const char *msg, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

#endif
