/* jsonl.h -- a small JSON reader for the files a pilot run leaves behind
 * (run.json, each agency's outcomes.jsonl, the report schema): parses text
 * into a value tree, and reads JSON-lines files one object at a time.
 * No I/O in the parser; macx_jsonl_read is the only function that reads a
 * file. Not a general-purpose library: nesting and sizes are bounded. */
#ifndef MACX_JSONL_H
#define MACX_JSONL_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define MACX_JV_MAX_DEPTH  32                  /* nesting deeper than this is refused */
#define MACX_JSONL_MAX_FILE (512u << 20)       /* bytes read from one file at most */

typedef enum {
    MACX_JV_NULL, MACX_JV_BOOL, MACX_JV_NUMBER, MACX_JV_STRING, MACX_JV_ARRAY, MACX_JV_OBJECT
} macx_jv_type_t;

/* One parsed value. Arrays and objects hold count items; objects also hold
 * count keys (keys[i] names items[i]; duplicates are kept, lookups find
 * the first). Strings are NUL-terminated UTF-8 (a \u0000 escape ends it). */
typedef struct macx_jv_t {
    macx_jv_type_t type;
    bool boolean;
    double number;
    char *string;
    size_t count;
    char **keys;
    struct macx_jv_t *items;
} macx_jv_t;

/* Parses exactly one JSON value from text[0..len) (surrounding whitespace
 * allowed) into *out. Returns 0, or MACX_EFORMAT with err naming the byte
 * offset and what was expected. On success the caller owns the tree and
 * frees it with macx_jv_free; on failure *out is left empty (JV_NULL). */
int macx_jv_parse (const char *text, size_t len, macx_jv_t *out, macx_error_t *err);

/* Frees what v owns and resets it to JV_NULL. Safe on an empty value. */
void macx_jv_free (macx_jv_t *v);

/* Object member lookup; NULL if obj is not an object or has no such key. */
const macx_jv_t *macx_jv_get (const macx_jv_t *obj, const char *key);
/* Typed member lookups with a default for absent or differently typed
 * members. The string is owned by obj. */
const char *macx_jv_str (const macx_jv_t *obj, const char *key, const char *dflt);
double macx_jv_num (const macx_jv_t *obj, const char *key, double dflt);
bool macx_jv_bool (const macx_jv_t *obj, const char *key, bool dflt);

/* Called for each object line of a JSON-lines file; line is 1-based. The
 * value is valid only during the call. Return 0 to go on; anything else
 * stops the read and is returned. */
typedef int (*macx_jsonl_fn) (const macx_jv_t *obj, int line, void *arg);

/* Reads path line by line. Blank lines are ignored. A line that does not
 * parse as a JSON object is skipped and counted in *skipped (may be NULL):
 * an agency killed mid-write leaves a torn last line, and the rest of the
 * file is still worth reading. ENOTFOUND if the file is missing. */
int macx_jsonl_read (const char *path, macx_jsonl_fn fn, void *arg, int *skipped,
                     macx_error_t *err);

#endif
