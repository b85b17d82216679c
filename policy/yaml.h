/* yaml.h -- strict YAML reading helpers over libfyaml shared by the policy
 * loader and the test-file reader: every error is "file:line:column: sentence",
 * unknown and duplicate keys are refused, aliases are refused. Internal. */
#ifndef MACX_POLICY_YAML_H
#define MACX_POLICY_YAML_H

#include <libfyaml.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "yamldoc.h"
#include "policy_int.h"

typedef struct {
    macx_policy_t *p;          /* the policy being built (loader only) */
    const char *file;
    macx_error_t *err;
    int line, col;   /* last position seen, for empty collections */
    crypto_generichash_state hash;
} s_ctx_t;

/* ---- positions and errors --------------------------------------------------- */

static inline void
s_mark (s_ctx_t *c, struct fy_node *n, int *line, int *col)
{
    *line = c->line;
    *col = c->col;
    macx_yaml_mark (n, line, col);
}

static inline int
s_fail (s_ctx_t *c, struct fy_node *n, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static inline int
s_fail (s_ctx_t *c, struct fy_node *n, const char *fmt, ...)
{
    int line, col;
    s_mark (c, n, &line, &col);
    char msg[MACX_ERROR_MSG_MAX];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    return macx_error_set (c->err, MACX_EPOLICY, "%s:%d:%d: %s", c->file, line, col, msg);
}

/* ---- scalars and collections --------------------------------------------------- */

/* Copies a scalar into buf; fails on anything but a non-empty plain scalar. */
static inline int
s_scalar (s_ctx_t *c, struct fy_node *n, const char *what, char *buf, size_t size)
{
    if (!n || fy_node_is_alias (n))
        return s_fail (c, n, "%s must be a value, not an alias", what);
    if (fy_node_get_type (n) != FYNT_SCALAR)
        return s_fail (c, n, "%s must be a single value", what);
    size_t len;
    const char *t = fy_node_get_scalar (n, &len);
    if (!t || len == 0)
        return s_fail (c, n, "%s must not be empty", what);
    if (len >= size)
        return s_fail (c, n, "%s is longer than %zu characters", what, size - 1);
    if (memchr (t, 0, len))
        return s_fail (c, n, "%s contains a NUL character", what);
    memcpy (buf, t, len);
    buf[len] = 0;
    int line, col;
    s_mark (c, n, &line, &col);
    c->line = line;
    c->col = col;
    return 0;
}

static inline int
s_int (s_ctx_t *c, struct fy_node *n, const char *what, long min, long max, long *out)
{
    char buf[32];
    int rc = s_scalar (c, n, what, buf, sizeof buf);
    if (rc)
        return rc;
    char *end;
    long v = strtol (buf, &end, 10);
    if (*end || end == buf || v < min || v > max)
        return s_fail (c, n, "%s must be a whole number from %ld to %ld, not '%s'", what, min,
                       max, buf);
    *out = v;
    return 0;
}

static inline int
s_date (s_ctx_t *c, struct fy_node *n, const char *what, int32_t *out)
{
    char buf[32];
    int rc = s_scalar (c, n, what, buf, sizeof buf);
    if (rc)
        return rc;
    if (macx_date_parse (buf, out) != 0)
        return s_fail (c, n, "%s '%s' is not a date (YYYY-MM-DD)", what, buf);
    return 0;
}

/* Checks that n is a mapping whose keys are plain scalars from allowed,
 * none twice, and that every key in required is there. */
static inline int
s_keys (s_ctx_t *c, struct fy_node *n, const char *what, const char *const *allowed,
        const char *const *required)
{
    if (!n || fy_node_is_alias (n) || fy_node_get_type (n) != FYNT_MAPPING)
        return s_fail (c, n, "%s must be a mapping of keys to values", what);
    void *it = NULL;
    struct fy_node_pair *pr;
    const char *seen[64];
    int nseen = 0;
    while ((pr = fy_node_mapping_iterate (n, &it))) {
        char key[64];
        int rc = s_scalar (c, fy_node_pair_key (pr), "a key", key, sizeof key);
        if (rc)
            return rc;
        int known = -1;
        for (int i = 0; allowed[i]; i++)
            if (strcmp (allowed[i], key) == 0)
                known = i;
        if (known < 0) {
            char list[512] = "";
            for (int i = 0; allowed[i]; i++) {
                strncat (list, i ? ", " : "", sizeof list - strlen (list) - 1);
                strncat (list, allowed[i], sizeof list - strlen (list) - 1);
            }
            return s_fail (c, fy_node_pair_key (pr), "unknown key '%s' in %s (expected one of: %s)",
                           key, what, list);
        }
        for (int i = 0; i < nseen; i++)
            if (seen[i] == allowed[known])
                return s_fail (c, fy_node_pair_key (pr), "duplicate key '%s' in %s", key, what);
        if (nseen < 64)
            seen[nseen++] = allowed[known];
    }
    for (int i = 0; required && required[i]; i++)
        if (!fy_node_mapping_lookup_by_string (n, required[i], strlen (required[i])))
            return s_fail (c, n, "%s has no '%s'", what, required[i]);
    return 0;
}

static inline struct fy_node *
s_get (struct fy_node *n, const char *key)
{
    return fy_node_mapping_lookup_by_string (n, key, strlen (key));
}

/* Calls fn for each scalar of a sequence (or for a lone scalar). */
typedef int (*s_item_fn) (s_ctx_t *c, struct fy_node *item, const char *text, void *arg);

static inline int
s_list (s_ctx_t *c, struct fy_node *n, const char *what, s_item_fn fn, void *arg)
{
    char buf[256];
    if (n && !fy_node_is_alias (n) && fy_node_get_type (n) == FYNT_SCALAR) {
        int rc = s_scalar (c, n, what, buf, sizeof buf);
        return rc ? rc : fn (c, n, buf, arg);
    }
    if (!n || fy_node_is_alias (n) || fy_node_get_type (n) != FYNT_SEQUENCE)
        return s_fail (c, n, "%s must be a list", what);
    void *it = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate (n, &it))) {
        int rc = s_scalar (c, item, what, buf, sizeof buf);
        if (rc)
            return rc;
        if ((rc = fn (c, item, buf, arg)))
            return rc;
    }
    return 0;
}

/* Returns the sequence's items one by one; fails unless n is a sequence. */
static inline int
s_seq (s_ctx_t *c, struct fy_node *n, const char *what)
{
    if (!n || fy_node_is_alias (n) || fy_node_get_type (n) != FYNT_SEQUENCE)
        return s_fail (c, n, "%s must be a list", what);
    return 0;
}

/* Parses text into a document; NULL with c->err set ("file:line:col: YAML
 * does not parse: ...") on a syntax error. Duplicate keys are let through to
 * s_keys, which reports them in our words. */
static inline struct fy_document *
s_parse_doc (s_ctx_t *c, const char *text, size_t len)
{
    return macx_yaml_parse (c->file ? c->file : "yaml", text, len, true, MACX_EPOLICY, c->err);
}

#endif
