/* yamldoc.c -- UTF-8 validation, libfyaml parsing with positioned errors, and
 * the strict reader: key tables, typed values, one wording for every error. */
#include "yamldoc.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "file.h"

#define S_FLOW_DEPTH 64   /* open collections tracked when looking for an unclosed bracket */

bool
macx_utf8_valid (const char *s, size_t len, size_t *bad)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        size_t n;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) { n = 1; min = 0x80; }
        else if (c >= 0xe0 && c <= 0xef) { n = 2; min = 0x800; }
        else if (c >= 0xf0 && c <= 0xf4) { n = 3; min = 0x10000; }
        else
            goto fail;
        unsigned cp = c & (0x3f >> n);
        for (size_t k = 1; k <= n; k++) {
            if (i + k >= len || (p[i + k] & 0xc0) != 0x80)
                goto fail;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            goto fail;
        i += n + 1;
    }
    return true;
fail:
    if (bad)
        *bad = i;
    return false;
}

/* Scans text from the bracket at open ('[' or '{') for the one that closes
 * it, skipping quoted scalars and comments. Returns 1 if the text ends with
 * it still open, 0 if it is closed (or met by a closing bracket of the
 * other kind), -1 if the scan cannot tell (a quote never ends, nesting too
 * deep). A heuristic that errs towards 0 and -1: a wrong "never closed"
 * would point someone at a bracket that is fine. */
static int
s_never_closed (const char *text, size_t len, size_t open)
{
    char want[S_FLOW_DEPTH];
    int depth = 0;
    bool node_start = true;   /* a quote here opens a quoted scalar, not a plain one's letter */
    for (size_t i = open; i < len; i++) {
        char ch = text[i];
        bool space_after = i + 1 == len || text[i + 1] == ' ' || text[i + 1] == '\t'
                           || text[i + 1] == '\n' || text[i + 1] == '\r';
        if (ch == '[' || ch == '{') {
            if (depth == S_FLOW_DEPTH)
                return -1;
            want[depth++] = ch == '[' ? ']' : '}';
            node_start = true;
        }
        else if (ch == ']' || ch == '}') {
            if (ch != want[--depth] || depth == 0)
                return 0;
            node_start = false;
        }
        else if (ch == '#' && (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\t'
                               || text[i - 1] == '\n')) {
            while (i + 1 < len && text[i + 1] != '\n')
                i++;
        }
        else if ((ch == '"' || ch == '\'') && node_start) {
            for (i++; i < len; i++) {
                if (ch == '"' && text[i] == '\\')
                    i++;
                else if (text[i] == ch && ch == '\'' && i + 1 < len && text[i + 1] == '\'')
                    i++;
                else if (text[i] == ch)
                    break;
            }
            if (i >= len)
                return -1;
            node_start = false;
        }
        else if (ch == ',' || ch == '\n' || ((ch == ':' || ch == '-' || ch == '?') && space_after))
            node_start = true;
        else if (ch != ' ' && ch != '\t' && ch != '\r')
            node_start = false;
    }
    return 1;
}

/* libfyaml reports an unclosed '[' or '{' where it notices, often lines
 * further down. Replays text through its event parser, keeping the flow
 * collections still open when it fails, and sets *line, *col (1-based) and
 * *bracket to the innermost one whose bracket the text never closes.
 * Returns false when there is none (the error is something else). */
static bool
s_unclosed_bracket (const struct fy_parse_cfg *cfg, const char *text, size_t len, int *line,
                    int *col, char *bracket)
{
    /* A diagnostic object of its own: the first parse's has its error. */
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default (&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = NULL;
    struct fy_diag *diag = fy_diag_create (&dcfg);
    if (!diag)
        return false;
    fy_diag_set_collect_errors (diag, true);
    struct fy_parse_cfg pcfg = *cfg;
    pcfg.diag = diag;
    struct fy_parser *parser = fy_parser_create (&pcfg);
    if (!parser || fy_parser_set_string (parser, text, len) != 0) {
        if (parser)
            fy_parser_destroy (parser);
        fy_diag_destroy (diag);
        return false;
    }
    /* Every collection's start, SIZE_MAX for those that open with no bracket
     * (block collections, a flow sequence's implicit single-pair mappings). */
    size_t open[S_FLOW_DEPTH];
    struct fy_mark marks[S_FLOW_DEPTH];
    int depth = 0;
    struct fy_event *ev;
    while ((ev = fy_parser_parse (parser))) {
        if (ev->type == FYET_SEQUENCE_START || ev->type == FYET_MAPPING_START) {
            const struct fy_mark *m = fy_event_start_mark (ev);
            if (depth < S_FLOW_DEPTH) {
                bool flow = fy_event_get_node_style (ev) == FYNS_FLOW && m && m->input_pos < len
                            && (text[m->input_pos] == '[' || text[m->input_pos] == '{');
                open[depth] = flow ? m->input_pos : SIZE_MAX;
                if (flow)
                    marks[depth] = *m;
            }
            depth++;
        }
        else if ((ev->type == FYET_SEQUENCE_END || ev->type == FYET_MAPPING_END) && depth > 0)
            depth--;
        fy_parser_event_free (parser, ev);
    }
    bool failed = fy_parser_get_stream_error (parser);
    fy_parser_destroy (parser);
    fy_diag_destroy (diag);
    if (!failed)
        return false;
    for (int i = (depth < S_FLOW_DEPTH ? depth : S_FLOW_DEPTH) - 1; i >= 0; i--)
        if (open[i] != SIZE_MAX && s_never_closed (text, len, open[i]) == 1) {
            *line = marks[i].line + 1;
            *col = marks[i].column + 1;
            *bracket = text[open[i]];
            return true;
        }
    return false;
}

struct fy_document *
macx_yaml_parse (const char *file, const char *text, size_t len, bool allow_duplicates, int code,
                 macx_error_t *err)
{
    size_t bad;
    if (!macx_utf8_valid (text, len, &bad)) {
        int line = 1, col = 1;
        for (size_t i = 0; i < bad; i++, col++)
            if (text[i] == '\n') {
                line++;
                col = 0;
            }
        macx_error_set (err, code, "%s:%d:%d: not valid UTF-8 (byte 0x%02x)", file, line, col,
                        (unsigned char) text[bad]);
        return NULL;
    }
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default (&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = NULL;
    struct fy_diag *diag = fy_diag_create (&dcfg);
    if (!diag) {
        macx_error_set (err, MACX_ENOMEM, "%s: out of memory", file);
        return NULL;
    }
    fy_diag_set_collect_errors (diag, true);
    struct fy_parse_cfg cfg = {
        .flags = FYPCF_QUIET | (allow_duplicates ? FYPCF_ALLOW_DUPLICATE_KEYS : 0), .diag = diag
    };
    struct fy_document *doc = fy_document_build_from_string (&cfg, text, len);
    if (!doc || fy_document_root (doc) == NULL) {
        void *it = NULL;
        struct fy_diag_error *e = fy_diag_errors_iterate (diag, &it);
        int line, col;
        char bracket;
        /* libfyaml's error positions are 1-based already. */
        if (e && s_unclosed_bracket (&cfg, text, len, &line, &col, &bracket))
            macx_error_set (err, code, "%s:%d:%d: YAML does not parse: '%c' is never closed", file,
                            line, col, bracket);
        else if (e)
            macx_error_set (err, code, "%s:%d:%d: YAML does not parse: %s", file, e->line,
                            e->column, e->msg ? e->msg : "syntax error");
        else
            macx_error_set (err, code, "%s:1:1: the file holds no YAML document", file);
        if (doc)
            fy_document_destroy (doc);
        doc = NULL;
    }
    fy_diag_destroy (diag);
    return doc;
}

struct fy_document *
macx_yaml_load (const char *path, char **text, int code, macx_error_t *err)
{
    size_t len;
    *text = NULL;
    if (macx_file_read (path, 4u << 20, text, &len, err))
        return NULL;
    struct fy_document *doc = macx_yaml_parse (path, *text, len, false, code, err);
    if (!doc) {
        free (*text);
        *text = NULL;
    }
    return doc;
}

void
macx_yaml_mark (struct fy_node *n, int *line, int *col)
{
    for (int depth = 0; n && depth < 64; depth++) {
        if (fy_node_is_alias (n) || fy_node_get_type (n) == FYNT_SCALAR) {
            struct fy_token *t = fy_node_get_scalar_token (n);
            const struct fy_mark *m = t ? fy_token_start_mark (t) : NULL;
            if (m) {
                *line = m->line + 1;
                *col = m->column + 1;
            }
            return;
        }
        void *it = NULL;
        if (fy_node_get_type (n) == FYNT_MAPPING) {
            struct fy_node_pair *p = fy_node_mapping_iterate (n, &it);
            n = p ? fy_node_pair_key (p) : NULL;
        }
        else
            n = fy_node_sequence_iterate (n, &it);
    }
}

int
macx_yaml_fail (macx_error_t *err, const char *file, struct fy_node *n, const char *fmt, ...)
{
    int line = 0, col = 0;
    macx_yaml_mark (n, &line, &col);
    char msg[400];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    return macx_error_set (err, MACX_EFORMAT, "%s:%d:%d: %s", file, line, col, msg);
}

/* ---- the strict reader ------------------------------------------------------- */

int
macx_yaml_verror (macx_yaml_reader_t *r, struct fy_node *n, const char *fmt, va_list ap)
{
    int line = r->line, col = r->col;
    macx_yaml_mark (n, &line, &col);
    char msg[MACX_ERROR_MSG_MAX];
    vsnprintf (msg, sizeof msg, fmt, ap);
    return macx_error_set (r->err, r->code ? r->code : MACX_EFORMAT, "%s:%d:%d: %s", r->file, line,
                           col, msg);
}

int
macx_yaml_error (macx_yaml_reader_t *r, struct fy_node *n, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    int rc = macx_yaml_verror (r, n, fmt, ap);
    va_end (ap);
    return rc;
}

int
macx_yaml_scalar (macx_yaml_reader_t *r, struct fy_node *n, const char *what, char *buf,
                  size_t size)
{
    if (!n || fy_node_is_alias (n))
        return macx_yaml_error (r, n, "%s must be a value, not an alias", what);
    if (fy_node_get_type (n) != FYNT_SCALAR)
        return macx_yaml_error (r, n, "%s must be a single value", what);
    size_t len;
    const char *t = fy_node_get_scalar (n, &len);
    if (!t || len == 0)
        return macx_yaml_error (r, n, "%s must not be empty", what);
    if (len >= size)
        return macx_yaml_error (r, n, "%s is longer than %zu characters", what, size - 1);
    if (memchr (t, 0, len))
        return macx_yaml_error (r, n, "%s contains a NUL character", what);
    memcpy (buf, t, len);
    buf[len] = 0;
    macx_yaml_mark (n, &r->line, &r->col);
    return 0;
}

int
macx_yaml_keys (macx_yaml_reader_t *r, struct fy_node *n, const char *what,
                const char *const *allowed, const char *const *required)
{
    if (!n || fy_node_is_alias (n) || fy_node_get_type (n) != FYNT_MAPPING)
        return macx_yaml_error (r, n, "%s must be a mapping of keys to values", what);
    void *it = NULL;
    struct fy_node_pair *pr;
    const char *seen[64];
    int nseen = 0;
    while ((pr = fy_node_mapping_iterate (n, &it))) {
        char key[64];
        int rc = macx_yaml_scalar (r, fy_node_pair_key (pr), "a key", key, sizeof key);
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
            return macx_yaml_error (r, fy_node_pair_key (pr),
                                    "unknown key '%s' in %s (expected one of: %s)", key, what, list);
        }
        for (int i = 0; i < nseen; i++)
            if (seen[i] == allowed[known])
                return macx_yaml_error (r, fy_node_pair_key (pr), "duplicate key '%s' in %s", key,
                                        what);
        if (nseen < 64)
            seen[nseen++] = allowed[known];
    }
    for (int i = 0; required && required[i]; i++)
        if (!fy_node_mapping_lookup_by_string (n, required[i], strlen (required[i])))
            return macx_yaml_error (r, n, "%s has no '%s'", what, required[i]);
    return 0;
}

void
macx_yaml_size_text (unsigned long long v, char *buf, size_t size)
{
    static const char units[] = "TGMK";
    for (int i = 0; i < 4; i++) {
        int shift = 40 - 10 * i;
        if (v && v % (1ULL << shift) == 0) {
            snprintf (buf, size, "%llu%c", v >> shift, units[i]);
            return;
        }
    }
    snprintf (buf, size, "%llu", v);
}

/* A whole number, strictly: an optional '-', digits, nothing else. */
static int
s_whole (const char *text, long long *out)
{
    const char *d = text[0] == '-' ? text + 1 : text;
    if (!(*d >= '0' && *d <= '9'))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll (text, &end, 10);
    if (errno == ERANGE || *end)
        return -1;
    *out = v;
    return 0;
}

/* A size: digits, then K, M, G or T and an optional B; -1 past ULLONG_MAX. */
static int
s_size (const char *text, unsigned long long *out)
{
    if (!(*text >= '0' && *text <= '9'))
        return -1;   /* strtoull would take "-4G" (negated) */
    char *end;
    errno = 0;
    unsigned long long v = strtoull (text, &end, 10);
    if (errno == ERANGE)
        return -1;
    int shift = 0;
    const char *u = strchr ("KkMmGgTt", *end);
    if (*end && u) {
        shift = 10 * (1 + (int) (u - "KkMmGgTt") / 2);
        end++;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || v > (ULLONG_MAX >> shift))
        return -1;
    *out = v << shift;
    return 0;
}

static int
s_duration (const char *text, int64_t *out)
{
    char *end;
    double v = strtod (text, &end);
    if (end == text || !(v >= 0) || !(*text >= '0' && *text <= '9'))
        return -1;
    static const struct { const char *unit; double ms; } units[] = {
        { "", 1 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp (end, units[i].unit) == 0 && v * units[i].ms < 9e15) {
            *out = (int64_t) (v * units[i].ms + 0.5);
            return 0;
        }
    return -1;
}

int
macx_yaml_value (macx_yaml_type_t type, long long min, long long max, size_t size,
                 const char *text, void *dst, char *why, size_t whysize)
{
    long long v = 0;
    unsigned long long u = 0;
    int64_t ms = 0;
    double d = 0;
    char *end, lo[24], hi[24];
    switch (type) {
    case MACX_YAML_STRING:
        if (strlen (text) >= size) {
            snprintf (why, whysize, "at most %zu characters", size - 1);
            return -1;
        }
        snprintf (dst, size, "%s", text);
        return 0;
    case MACX_YAML_INT:
    case MACX_YAML_UINT32:
        if (s_whole (text, &v) || v < min || v > max) {
            snprintf (why, whysize, "a whole number from %lld to %lld", min, max);
            return -1;
        }
        if (type == MACX_YAML_INT)
            *(int *) dst = (int) v;
        else
            *(uint32_t *) dst = (uint32_t) v;
        return 0;
    case MACX_YAML_SIZE:
        if (s_size (text, &u) || u < (unsigned long long) min || u > (unsigned long long) max) {
            macx_yaml_size_text ((unsigned long long) min, lo, sizeof lo);
            macx_yaml_size_text ((unsigned long long) max, hi, sizeof hi);
            snprintf (why, whysize, "bytes, or a number with K, M, G or T, from %s to %s", lo, hi);
            return -1;
        }
        *(size_t *) dst = (size_t) u;
        return 0;
    case MACX_YAML_DURATION:
        if (s_duration (text, &ms) || ms < min || ms > max) {
            snprintf (why, whysize, "a duration such as 300000, 500ms, 90s, 5m, 2h or 30d");
            return -1;
        }
        *(int64_t *) dst = ms;
        return 0;
    case MACX_YAML_NUMBER:
        d = strtod (text, &end);
        if (end == text || *end || !(d >= (double) min && d <= (double) max)) {
            snprintf (why, whysize, "a number from %lld to %lld", min, max);
            return -1;
        }
        *(double *) dst = d;
        return 0;
    case MACX_YAML_BOOL:
        if (strcmp (text, "true") && strcmp (text, "false")) {
            snprintf (why, whysize, "true or false");
            return -1;
        }
        *(bool *) dst = strcmp (text, "true") == 0;
        return 0;
    case MACX_YAML_DATE: {
        int32_t day;
        if (macx_date_parse (text, &day)) {
            snprintf (why, whysize, "a date YYYY-MM-DD");
            return -1;
        }
        *(int64_t *) dst = (int64_t) day * 86400000;
        return 0;
    }
    case MACX_YAML_NODE:
        break;
    }
    snprintf (why, whysize, "a mapping or list");
    return -1;
}

int
macx_yaml_read (macx_yaml_reader_t *r, struct fy_node *n, const char *what,
                const macx_yaml_key_t *keys, size_t nkeys, void *dst)
{
    const char *names[65], *required[65];
    size_t nreq = 0;
    assert (nkeys < 65);
    for (size_t i = 0; i < nkeys; i++) {
        names[i] = keys[i].name;
        if (keys[i].required)
            required[nreq++] = keys[i].name;
    }
    names[nkeys] = required[nreq] = NULL;
    int rc = macx_yaml_keys (r, n, what, names, required);
    if (rc)
        return rc;
    void *it = NULL;
    struct fy_node_pair *pr;
    while ((pr = fy_node_mapping_iterate (n, &it))) {
        const char *name = fy_node_get_scalar0 (fy_node_pair_key (pr));
        struct fy_node *vn = fy_node_pair_value (pr);
        const macx_yaml_key_t *k = keys;
        while (strcmp (k->name, name))
            k++;   /* macx_yaml_keys found it */
        char *out = (char *) dst + k->offset;
        if (k->type == MACX_YAML_NODE) {
            if ((rc = k->read (r, vn, dst)))
                return rc;
            continue;
        }
        char text[1100], quoted[70], why[200];
        snprintf (quoted, sizeof quoted, "'%s'", k->name);
        if ((rc = macx_yaml_scalar (r, vn, quoted, text, sizeof text)))
            return rc;
        if (macx_yaml_value (k->type, k->min, k->max, k->size, text, out, why, sizeof why))
            return macx_yaml_error (r, vn, "'%s' must be %s, not '%.80s'", k->name, why, text);
    }
    return 0;
}
