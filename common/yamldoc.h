/* yamldoc.h -- the one way macx parses and reads YAML text (libfyaml):
 * input must be valid UTF-8 (libfyaml 0.7.12 loops forever on '%' followed
 * by a byte that is not, found by fuzzing), syntax errors come back as
 * "file:line:column: YAML does not parse: ...", and the strict reader
 * below (used by the policy, test-file, scenario and broker config readers)
 * words every other error the same way: "file:line:column: sentence",
 * unknown and duplicate keys refused. */
#ifndef MACX_YAMLDOC_H
#define MACX_YAMLDOC_H

#include <libfyaml.h>
#include <stdarg.h>
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

/* ---- the strict reader ------------------------------------------------------- */

/* Where a reader reports: its file, its error, the code errors carry
 * (MACX_EFORMAT when 0; the policy's MACX_EPOLICY), and the last position
 * seen, reported for a node that has none (an empty collection). */
typedef struct {
    const char *file;
    macx_error_t *err;
    int code;
    int line, col;
} macx_yaml_reader_t;

/* Sets r->err to "file:line:column: <message>" at node n (or r's last
 * position) with r's code, and returns that code. */
int macx_yaml_error (macx_yaml_reader_t *r, struct fy_node *n, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
int macx_yaml_verror (macx_yaml_reader_t *r, struct fy_node *n, const char *fmt, va_list ap)
    __attribute__ ((format (printf, 3, 0)));

/* Checks that n is a mapping whose keys are plain scalars from allowed
 * (NULL-terminated), none twice, and that each of required (NULL or
 * NULL-terminated) is there. Errors: "WHAT must be a mapping of keys to
 * values", "unknown key 'K' in WHAT (expected one of: A, B)", "duplicate
 * key 'K' in WHAT", "WHAT has no 'K'". Returns 0 or the error's code. */
int macx_yaml_keys (macx_yaml_reader_t *r, struct fy_node *n, const char *what,
                    const char *const *allowed, const char *const *required);

/* Copies the non-empty plain scalar n into buf (size bytes) and moves r's
 * last position there; refuses aliases, collections, NUL bytes and values
 * of size characters or more, naming WHAT. */
int macx_yaml_scalar (macx_yaml_reader_t *r, struct fy_node *n, const char *what, char *buf,
                      size_t size);

/* What a value must be. Sizes are bytes, or a number with K, M, G or T
 * (and an optional B); durations are milliseconds, or a number with ms, s,
 * m, h or d; dates YYYY-MM-DD, read as UTC midnight in ms. */
typedef enum {
    MACX_YAML_STRING,    /* char[size]: shorter than size */
    MACX_YAML_INT,       /* int: a whole number in [min, max] */
    MACX_YAML_UINT32,    /* uint32_t: a whole number in [min, max] */
    MACX_YAML_SIZE,      /* size_t: a size in [min, max] bytes */
    MACX_YAML_DURATION,  /* int64_t: a duration in [min, max] ms */
    MACX_YAML_NUMBER,    /* double: a number in [min, max] */
    MACX_YAML_BOOL,      /* bool: true or false */
    MACX_YAML_DATE,      /* int64_t: a date, as ms since 1970 */
    MACX_YAML_NODE,      /* anything: the key's read function takes the node */
} macx_yaml_type_t;

/* Parses text as a value of type, bounded by [min, max], into dst (size
 * bytes for a string). Returns 0, or -1 with why set to what the value
 * must be ("a whole number from 0 to 16"), for "'KEY' must be WHY, not
 * 'TEXT'" or "--FLAG must be WHY, not 'TEXT'". Pure: no I/O. */
int macx_yaml_value (macx_yaml_type_t type, long long min, long long max, size_t size,
                     const char *text, void *dst, char *why, size_t whysize);

/* Formats a size in bytes the way sizes are written (64K, 16M, 1G, 16T). */
void macx_yaml_size_text (unsigned long long v, char *buf, size_t size);

/* One key of a mapping read by macx_yaml_read: its value goes to dst +
 * offset, parsed as type (MACX_YAML_NODE: handed to read with dst). */
typedef struct {
    const char *name;
    macx_yaml_type_t type;
    size_t offset, size;
    long long min, max;
    bool required;
    int (*read) (macx_yaml_reader_t *r, struct fy_node *value, void *dst);
} macx_yaml_key_t;

/* Reads mapping n by its keys[0..nkeys) into dst: macx_yaml_keys' checks,
 * then each value as its key says, refused as "'KEY' must be WHY, not
 * 'TEXT'" at the value. Returns 0 or the first error's code. */
int macx_yaml_read (macx_yaml_reader_t *r, struct fy_node *n, const char *what,
                    const macx_yaml_key_t *keys, size_t nkeys, void *dst);

#endif
