/* jsonl.c -- a recursive-descent JSON parser into a malloc'd value tree,
 * bounded in depth, and a JSON-lines reader on top of it. Owns the trees it
 * returns until the caller frees them. */
#include "jsonl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "file.h"

typedef struct {
    const char *p, *end, *start;
    macx_error_t *err;
} s_parser_t;

static int s_value (s_parser_t *ps, macx_jv_t *out, int depth);

static int
s_fail (s_parser_t *ps, const char *what)
{
    return macx_error_set (ps->err, MACX_EFORMAT, "JSON: %s at byte %zu", what,
                           (size_t) (ps->p - ps->start));
}

static void
s_ws (s_parser_t *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int
s_lit (s_parser_t *ps, const char *word)
{
    size_t n = strlen (word);
    if ((size_t) (ps->end - ps->p) < n || memcmp (ps->p, word, n) != 0)
        return s_fail (ps, "unexpected character");
    ps->p += n;
    return 0;
}

static int
s_hex4 (s_parser_t *ps, unsigned *cp)
{
    if (ps->end - ps->p < 4)
        return s_fail (ps, "short \\u escape");
    *cp = 0;
    for (int i = 0; i < 4; i++) {
        char c = *ps->p++;
        unsigned d = c >= '0' && c <= '9' ? (unsigned) (c - '0')
                   : c >= 'a' && c <= 'f' ? (unsigned) (c - 'a' + 10)
                   : c >= 'A' && c <= 'F' ? (unsigned) (c - 'A' + 10) : 16u;
        if (d > 15)
            return s_fail (ps, "bad \\u escape");
        *cp = *cp << 4 | d;
    }
    return 0;
}

static size_t
s_utf8 (unsigned cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char) cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char) (0xc0 | cp >> 6);
        out[1] = (char) (0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char) (0xe0 | cp >> 12);
        out[1] = (char) (0x80 | (cp >> 6 & 0x3f));
        out[2] = (char) (0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char) (0xf0 | cp >> 18);
    out[1] = (char) (0x80 | (cp >> 12 & 0x3f));
    out[2] = (char) (0x80 | (cp >> 6 & 0x3f));
    out[3] = (char) (0x80 | (cp & 0x3f));
    return 4;
}

/* Parses a string at ps->p (on the opening quote) into a new buffer. The
 * decoded text is never longer than the source, which bounds the buffer. */
static int
s_string (s_parser_t *ps, char **out)
{
    ps->p++;
    const char *q = ps->p;
    while (q < ps->end && *q != '"')
        q += *q == '\\' ? 2 : 1;
    if (q >= ps->end)
        return s_fail (ps, "unterminated string");
    char *buf = malloc ((size_t) (q - ps->p) + 4);
    if (!buf)
        return macx_error_set (ps->err, MACX_ENOMEM, "out of memory");
    size_t n = 0;
    while (*ps->p != '"') {
        unsigned char c = (unsigned char) *ps->p++;
        if (c < 0x20) {
            free (buf);
            return s_fail (ps, "control character in string");
        }
        if (c != '\\') {
            buf[n++] = (char) c;
            continue;
        }
        char e = *ps->p++;
        unsigned cp;
        switch (e) {
        case '"':  buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/':  buf[n++] = '/'; break;
        case 'b':  buf[n++] = '\b'; break;
        case 'f':  buf[n++] = '\f'; break;
        case 'n':  buf[n++] = '\n'; break;
        case 'r':  buf[n++] = '\r'; break;
        case 't':  buf[n++] = '\t'; break;
        case 'u':
            if (s_hex4 (ps, &cp)) {
                free (buf);
                return MACX_EFORMAT;
            }
            if (cp >= 0xd800 && cp < 0xdc00 && ps->end - ps->p >= 6 && ps->p[0] == '\\'
                && ps->p[1] == 'u') {
                unsigned lo;
                ps->p += 2;
                if (s_hex4 (ps, &lo)) {
                    free (buf);
                    return MACX_EFORMAT;
                }
                if (lo >= 0xdc00 && lo < 0xe000)
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                else
                    cp = 0xfffd;
            }
            else if (cp >= 0xd800 && cp < 0xe000)
                cp = 0xfffd;
            /* 6 source bytes (12 for a pair) always cover the UTF-8 bytes */
            n += s_utf8 (cp, buf + n);
            break;
        default:
            free (buf);
            return s_fail (ps, "bad escape");
        }
    }
    ps->p++;
    buf[n] = 0;
    *out = buf;
    return 0;
}

static int
s_number (s_parser_t *ps, macx_jv_t *out)
{
    char tmp[64];
    size_t n = 0;
    while (ps->p + n < ps->end && n < sizeof tmp - 1
           && strchr ("+-0123456789.eE", ps->p[n]) && ps->p[n])
        n++;
    memcpy (tmp, ps->p, n);
    tmp[n] = 0;
    char *endp;
    double d = strtod (tmp, &endp);
    if (n == 0 || endp != tmp + n)
        return s_fail (ps, "bad number");
    ps->p += n;
    out->type = MACX_JV_NUMBER;
    out->number = d;
    return 0;
}

/* Appends an empty slot to an array or object value. */
static macx_jv_t *
s_push (macx_jv_t *v, char *key, size_t *cap)
{
    if (v->count == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        macx_jv_t *items = realloc (v->items, nc * sizeof *items);
        if (!items)
            return NULL;
        v->items = items;
        if (v->type == MACX_JV_OBJECT) {
            char **keys = realloc (v->keys, nc * sizeof *keys);
            if (!keys)
                return NULL;
            v->keys = keys;
        }
        *cap = nc;
    }
    if (v->type == MACX_JV_OBJECT)
        v->keys[v->count] = key;
    macx_jv_t *slot = &v->items[v->count++];
    memset (slot, 0, sizeof *slot);
    return slot;
}

static int
s_container (s_parser_t *ps, macx_jv_t *out, int depth)
{
    bool object = *ps->p == '{';
    char close = object ? '}' : ']';
    size_t cap = 0;
    out->type = object ? MACX_JV_OBJECT : MACX_JV_ARRAY;
    ps->p++;
    s_ws (ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return 0;
    }
    while (1) {
        char *key = NULL;
        s_ws (ps);
        if (object) {
            if (ps->p >= ps->end || *ps->p != '"')
                return s_fail (ps, "expected a member name");
            int rc = s_string (ps, &key);
            if (rc)
                return rc;
            s_ws (ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                free (key);
                return s_fail (ps, "expected ':'");
            }
            ps->p++;
        }
        macx_jv_t *slot = s_push (out, key, &cap);
        if (!slot) {
            free (key);
            return macx_error_set (ps->err, MACX_ENOMEM, "out of memory");
        }
        int rc = s_value (ps, slot, depth + 1);
        if (rc)
            return rc;
        s_ws (ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return 0;
        }
        return s_fail (ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int
s_value (s_parser_t *ps, macx_jv_t *out, int depth)
{
    if (depth > MACX_JV_MAX_DEPTH)
        return s_fail (ps, "nesting too deep");
    s_ws (ps);
    if (ps->p >= ps->end)
        return s_fail (ps, "unexpected end");
    switch (*ps->p) {
    case '{':
    case '[':
        return s_container (ps, out, depth);
    case '"':
        out->type = MACX_JV_STRING;
        return s_string (ps, &out->string);
    case 't':
        out->type = MACX_JV_BOOL;
        out->boolean = true;
        return s_lit (ps, "true");
    case 'f':
        out->type = MACX_JV_BOOL;
        return s_lit (ps, "false");
    case 'n':
        return s_lit (ps, "null");
    default:
        return s_number (ps, out);
    }
}

int
macx_jv_parse (const char *text, size_t len, macx_jv_t *out, macx_error_t *err)
{
    memset (out, 0, sizeof *out);
    s_parser_t ps = { text, text + len, text, err };
    int rc = s_value (&ps, out, 0);
    if (rc == 0) {
        s_ws (&ps);
        if (ps.p != ps.end)
            rc = s_fail (&ps, "trailing characters");
    }
    if (rc)
        macx_jv_free (out);
    return rc;
}

void
macx_jv_free (macx_jv_t *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->count; i++) {
        if (v->items)
            macx_jv_free (&v->items[i]);
        if (v->keys)
            free (v->keys[i]);
    }
    free (v->items);
    free (v->keys);
    free (v->string);
    memset (v, 0, sizeof *v);
}

const macx_jv_t *
macx_jv_get (const macx_jv_t *obj, const char *key)
{
    if (!obj || obj->type != MACX_JV_OBJECT)
        return NULL;
    for (size_t i = 0; i < obj->count; i++)
        if (strcmp (obj->keys[i], key) == 0)
            return &obj->items[i];
    return NULL;
}

const char *
macx_jv_str (const macx_jv_t *obj, const char *key, const char *dflt)
{
    const macx_jv_t *v = macx_jv_get (obj, key);
    return v && v->type == MACX_JV_STRING ? v->string : dflt;
}

double
macx_jv_num (const macx_jv_t *obj, const char *key, double dflt)
{
    const macx_jv_t *v = macx_jv_get (obj, key);
    return v && v->type == MACX_JV_NUMBER ? v->number : dflt;
}

bool
macx_jv_bool (const macx_jv_t *obj, const char *key, bool dflt)
{
    const macx_jv_t *v = macx_jv_get (obj, key);
    return v && v->type == MACX_JV_BOOL ? v->boolean : dflt;
}

int
macx_jsonl_read (const char *path, macx_jsonl_fn fn, void *arg, int *skipped, macx_error_t *err)
{
    char *data = NULL;
    size_t len = 0;
    int rc = macx_file_read (path, MACX_JSONL_MAX_FILE, &data, &len, err);
    if (rc)
        return rc;
    int bad = 0, line = 0;
    const char *p = data, *end = data + len;
    while (p < end && rc == 0) {
        const char *nl = memchr (p, '\n', (size_t) (end - p));
        const char *eol = nl ? nl : end;
        line++;
        const char *q = p;
        while (q < eol && (*q == ' ' || *q == '\t' || *q == '\r'))
            q++;
        if (q < eol) {
            macx_jv_t v;
            macx_error_t perr = { 0 };
            if (macx_jv_parse (p, (size_t) (eol - p), &v, &perr) == 0 && v.type == MACX_JV_OBJECT)
                rc = fn (&v, line, arg);
            else
                bad++;
            macx_jv_free (&v);
        }
        p = nl ? nl + 1 : end;
    }
    free (data);
    if (skipped)
        *skipped = bad;
    return rc;
}
