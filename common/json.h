/* json.h -- tiny helpers for writing JSON text (escaping strings). */
#ifndef MACX_JSON_H
#define MACX_JSON_H

#include <stddef.h>
#include <stdio.h>

/* Writes s as a quoted JSON string with escapes; NULL writes null. */
void macx_json_str (FILE *out, const char *s);
/* Same for len bytes that may not be NUL-terminated. */
void macx_json_strn (FILE *out, const char *s, size_t len);

#endif
