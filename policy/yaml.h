/* yaml.h -- strict YAML reading helpers over libfyaml shared by the policy
 * loader and the test-file reader, over the shared strict reader of
 * common/yamldoc.h: every error is "file:line:column: sentence", unknown
 * and duplicate keys are refused, aliases are refused. Internal. */
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

/* The shared strict reader (common/yamldoc.h) over c: its messages, the
 * policy's error code, c's last position kept across calls. */
static inline macx_yaml_reader_t
s_reader (s_ctx_t *c)
{
    return (macx_yaml_reader_t) { c->file, c->err, MACX_EPOLICY, c->line, c->col };
}

static inline int
s_fail (s_ctx_t *c, struct fy_node *n, const char *fmt, ...)
{
    macx_yaml_reader_t r = s_reader (c);
    va_list ap;
    va_start (ap, fmt);
    int rc = macx_yaml_verror (&r, n, fmt, ap);
    va_end (ap);
    return rc;
}

/* ---- scalars and collections --------------------------------------------------- */

/* Copies a scalar into buf; fails on anything but a non-empty plain scalar. */
static inline int
s_scalar (s_ctx_t *c, struct fy_node *n, const char *what, char *buf, size_t size)
{
    macx_yaml_reader_t r = s_reader (c);
    int rc = macx_yaml_scalar (&r, n, what, buf, size);
    c->line = r.line;
    c->col = r.col;
    return rc;
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
    macx_yaml_reader_t r = s_reader (c);
    int rc = macx_yaml_keys (&r, n, what, allowed, required);
    c->line = r.line;
    c->col = r.col;
    return rc;
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
