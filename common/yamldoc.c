/* yamldoc.c -- UTF-8 validation and libfyaml parsing with positioned errors. */
#include "yamldoc.h"

#include <stdarg.h>

#include <stdlib.h>

#include "file.h"

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
        if (e)
            macx_error_set (err, code, "%s:%d:%d: YAML does not parse: %s", file, e->line + 1,
                            e->column + 1, e->msg ? e->msg : "syntax error");
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
