/* yamldoc.h -- the one way macx parses YAML text (libfyaml): input must be
 * valid UTF-8 (libfyaml 0.7.12 loops forever on '%' followed by a byte that
 * is not, found by fuzzing), and syntax errors come back as
 * "file:line:column: YAML does not parse: ...". */
#ifndef MACX_YAMLDOC_H
#define MACX_YAMLDOC_H

#include <libfyaml.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Returns true if s[0..len) is valid UTF-8 (no overlongs, no surrogates);
 * otherwise false with *bad (if not NULL) the offset of the first bad byte. */
bool macx_utf8_valid (const char *s, size_t len, size_t *bad);

/* Parses text (which must outlive the document) into a document, or NULL
 * with err set to code and a message naming file, line and column.
 * allow_duplicates lets duplicate keys through for the caller to report. */
struct fy_document *macx_yaml_parse (const char *file, const char *text, size_t len,
                                     bool allow_duplicates, int code, macx_error_t *err);

/* Reads path (at most 4 MiB) and parses it; *text receives the buffer the
 * document points into (free it after fy_document_destroy). */
struct fy_document *macx_yaml_load (const char *path, char **text, int code, macx_error_t *err);

/* Sets *line and *col (1-based) to where node n starts: the node itself if
 * a scalar or alias, else its first key or item, recursively. Leaves them
 * unchanged when n (or what it holds) has no position. */
void macx_yaml_mark (struct fy_node *n, int *line, int *col);

/* Sets err to MACX_EFORMAT and "file:line:column: <message>", where node n
 * starts (0:0 when it has no position). Returns MACX_EFORMAT. */
int macx_yaml_fail (macx_error_t *err, const char *file, struct fy_node *n, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

#endif
