/* yamldoc.c -- UTF-8 validation and libfyaml parsing with positioned errors. */
#include "yamldoc.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
