/* dist.c -- deterministic randomness and distributions (see dist.h). */
#include "dist.h"

#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t
macx_rand_u64 (uint64_t seed, const char *stream, uint64_t index)
{
    /* BLAKE2b keyed by nothing over (seed, stream, index): any order of
     * asking gives the same answers in every process. */
    uint8_t in[16], out[8];
    for (int i = 0; i < 8; i++) {
        in[i] = (uint8_t) (seed >> (8 * i));
        in[8 + i] = (uint8_t) (index >> (8 * i));
    }
    crypto_generichash_state st;
    crypto_generichash_init (&st, NULL, 0, sizeof out);
    crypto_generichash_update (&st, in, sizeof in);
    crypto_generichash_update (&st, (const uint8_t *) stream, strlen (stream));
    crypto_generichash_final (&st, out, sizeof out);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t) out[i] << (8 * i);
    return v;
}

double
macx_rand_unit (uint64_t seed, const char *stream, uint64_t index)
{
    return ((double) (macx_rand_u64 (seed, stream, index) >> 11) + 0.5) / 9007199254740992.0;
}

double
macx_dist_sample (const macx_dist_t *d, double u1, double u2)
{
    double v;
    switch (d->kind) {
    case MACX_DIST_FIXED:
        v = d->a;
        break;
    case MACX_DIST_UNIFORM:
        v = d->a + (d->b - d->a) * u1;
        break;
    case MACX_DIST_TRIANGULAR: {
        double lo = d->a, mode = d->b, hi = d->c;
        double f = hi > lo ? (mode - lo) / (hi - lo) : 0.5;
        v = u1 < f ? lo + sqrt (u1 * (hi - lo) * (mode - lo))
                   : hi - sqrt ((1 - u1) * (hi - lo) * (hi - mode));
        break;
    }
    case MACX_DIST_LOGNORMAL: {
        double z = sqrt (-2.0 * log (u1)) * cos (2.0 * M_PI * u2);
        v = d->a * exp (d->b * z);
        if (d->c > 0 && v > d->c)
            v = d->c;
        break;
    }
    default:
        v = 0;
    }
    return v < 0 ? 0 : v;
}

double
macx_dist_min (const macx_dist_t *d)
{
    switch (d->kind) {
    case MACX_DIST_FIXED:
    case MACX_DIST_UNIFORM:
    case MACX_DIST_TRIANGULAR:
        return d->a;
    default:
        return 0;
    }
}

/* ---- YAML ------------------------------------------------------------------ */

static struct fy_node *
s_get (struct fy_node *map, const char *key)
{
    return fy_node_mapping_lookup_by_string (map, key, FY_NT);
}

static const char *
s_str (struct fy_node *n)
{
    return n && fy_node_get_type (n) == FYNT_SCALAR ? fy_node_get_scalar0 (n) : NULL;
}

typedef struct {
    struct fy_node **at;
    char *why;
    size_t size;
} s_out_t;

static int s_fail (s_out_t *o, struct fy_node *n, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_fail (s_out_t *o, struct fy_node *n, const char *fmt, ...)
{
    *o->at = n;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (o->why, o->size, fmt, ap);
    va_end (ap);
    return -1;
}

static int
s_number (s_out_t *o, struct fy_node *map, const char *key, double max, double *out)
{
    struct fy_node *n = s_get (map, key);
    const char *v = s_str (n);
    char *end;
    double d = v ? strtod (v, &end) : 0;
    if (!v || end == v || *end || !(d >= 0) || d > max) {
        *o->at = n ? n : map;
        snprintf (o->why, o->size, "'%s' must be a number from 0 to %g", key, max);
        return -1;
    }
    *out = d;
    return 0;
}

int
macx_dist_read (struct fy_node *n, const char *what, const char *fixed_key, double max,
                bool lognormal, macx_dist_t *d, struct fy_node **at, char *why, size_t size)
{
    s_out_t o = { at, why, size };
    memset (d, 0, sizeof *d);
    if (!n || fy_node_get_type (n) != FYNT_MAPPING)
        return s_fail (&o, n, "%s must be a mapping such as {dist: uniform, min: 1, max: 3}", what);
    const char *kind = s_str (s_get (n, "dist"));
    if (!kind)
        return s_fail (&o, n, "%s needs 'dist' (fixed, uniform, triangular%s)", what,
                       lognormal ? ", lognormal" : "");
    static const struct {
        const char *name;
        macx_dist_kind_t kind;
        const char *keys[4];             /* keys[0] NULL: the caller's fixed_key */
    } kinds[] = {
        { "fixed", MACX_DIST_FIXED, { NULL } },
        { "uniform", MACX_DIST_UNIFORM, { "min", "max" } },
        { "triangular", MACX_DIST_TRIANGULAR, { "min", "mode", "max" } },
        { "lognormal", MACX_DIST_LOGNORMAL, { "median", "sigma", "cap" } },
    };
    int k = -1;
    for (int i = 0; i < 4 && k < 0; i++)
        if (strcmp (kind, kinds[i].name) == 0 && (lognormal || kinds[i].kind != MACX_DIST_LOGNORMAL))
            k = i;
    if (k < 0)
        return s_fail (&o, s_get (n, "dist"), "unknown distribution '%s' (fixed, uniform, "
                       "triangular%s)", kind, lognormal ? ", lognormal" : "");
    const char *const *keys = kinds[k].keys;
    const char *fixed[1] = { fixed_key };
    if (!keys[0])
        keys = fixed;
    int nkeys = keys == fixed ? 1 : keys[2] ? 3 : 2;
    /* Keys that do not belong to this distribution are mistakes, not options:
     * name them before complaining of what is missing. */
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate (n, &it))) {
        const char *key = s_str (fy_node_pair_key (p));
        bool ok = key && strcmp (key, "dist") == 0;
        for (int i = 0; key && i < nkeys; i++)
            ok |= strcmp (key, keys[i]) == 0;
        if (!ok) {
            char list[64] = "";
            for (int i = 0; i < nkeys; i++)
                snprintf (list + strlen (list), sizeof list - strlen (list), "%s%s", i ? ", " : "",
                          keys[i]);
            return s_fail (&o, fy_node_pair_key (p), "'%s' is not a key of a %s distribution (%s)",
                           key ? key : "?", kind, list);
        }
    }
    d->kind = kinds[k].kind;
    d->set = true;
    switch (d->kind) {
    case MACX_DIST_FIXED:
        return s_number (&o, n, fixed_key, max, &d->a);
    case MACX_DIST_UNIFORM:
        if (s_number (&o, n, "min", max, &d->a) || s_number (&o, n, "max", max, &d->b))
            return -1;
        return d->b < d->a ? s_fail (&o, n, "'max' is below 'min'") : 0;
    case MACX_DIST_TRIANGULAR:
        if (s_number (&o, n, "min", max, &d->a) || s_number (&o, n, "mode", max, &d->b)
            || s_number (&o, n, "max", max, &d->c))
            return -1;
        return d->a <= d->b && d->b <= d->c ? 0 : s_fail (&o, n, "need min <= mode <= max");
    default:
        if (s_number (&o, n, "median", max, &d->a) || s_number (&o, n, "sigma", 5, &d->b))
            return -1;
        return s_get (n, "cap") ? s_number (&o, n, "cap", max, &d->c) : 0;
    }
}

void
macx_dist_format (const macx_dist_t *d, const char *fixed_key, char *buf, size_t size)
{
    switch (d->kind) {
    case MACX_DIST_FIXED:
        snprintf (buf, size, "{dist: fixed, %s: %.17g}", fixed_key, d->a);
        break;
    case MACX_DIST_UNIFORM:
        snprintf (buf, size, "{dist: uniform, min: %.17g, max: %.17g}", d->a, d->b);
        break;
    case MACX_DIST_TRIANGULAR:
        snprintf (buf, size, "{dist: triangular, min: %.17g, mode: %.17g, max: %.17g}", d->a, d->b,
                  d->c);
        break;
    default:
        snprintf (buf, size, "{dist: lognormal, median: %.17g, sigma: %.17g, cap: %.17g}", d->a,
                  d->b, d->c);
        break;
    }
}
