/* json.c -- JSON string escaping. */
#include "json.h"

void
macx_json_strn (FILE *out, const char *s, size_t len)
{
    fputc ('"', out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];
        switch (c) {
        case '"':  fputs ("\\\"", out); break;
        case '\\': fputs ("\\\\", out); break;
        case '\n': fputs ("\\n", out); break;
        case '\r': fputs ("\\r", out); break;
        case '\t': fputs ("\\t", out); break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf (out, "\\u%04x", c);
            else
                fputc (c, out);
        }
    }
    fputc ('"', out);
}

void
macx_json_str (FILE *out, const char *s)
{
    if (!s) {
        fputs ("null", out);
        return;
    }
    size_t len = 0;
    while (s[len])
        len++;
    macx_json_strn (out, s, len);
}
