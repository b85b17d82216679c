/* sweep_compare.c -- `pilot compare` of two sweeps: every figure of the
 * variants both have (or of the two base variants) paired over the seeds
 * both ran, a change only when its paired 95 % t interval excludes zero;
 * warnings when the cohorts, seeds or start dates differ; skipped phases
 * shown as skipped; and records that stopped flowing named beside the
 * latencies they made shorter. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file.h"
#include "json.h"
#include "jsonl.h"
#include "stats.h"
#include "sweep.h"
#include "sweep_int.h"

bool
macx_sweep_is_sweep (const char *dir)
{
    char p[1500];
    snprintf (p, sizeof p, "%s/sweep.json", dir);
    return access (p, F_OK) == 0;
}

int
macx_sw_read_json (macx_sw_table_t *t, const char *path, macx_error_t *err)
{
    macx_jv_t r;
    int rc = macx_sw_load_json (path, &r, err);
    if (rc)
        return rc;
    const macx_jv_t *seeds = macx_jv_get (&r, "seeds"), *vs = macx_jv_get (&r, "variants"),
                    *ms = macx_jv_get (&r, "metrics");
    if (strcmp (macx_jv_str (&r, "schema", ""), "macx-sweep-v1") != 0 || !seeds || !vs || !ms
        || seeds->count > 1000 || vs->count > 16) {
        macx_jv_free (&r);
        return macx_error_set (err, MACX_EFORMAT, "%s: not a macx-sweep-v1 sweep.json", path);
    }
    macx_sw_table_init (t, (int) vs->count, (int) seeds->count);
    snprintf (t->name, sizeof t->name, "%s", macx_jv_str (&r, "name", ""));
    snprintf (t->scenario, sizeof t->scenario, "%s", macx_jv_str (&r, "scenario", ""));
    snprintf (t->start_date, sizeof t->start_date, "%s", macx_jv_str (&r, "start_date", ""));
    t->subjects = (int) macx_jv_num (&r, "subjects", 0);
    for (size_t i = 0; i < seeds->count; i++)
        t->seeds[i] = (int64_t) seeds->items[i].number;
    for (size_t i = 0; i < vs->count; i++)
        snprintf (t->variants[i], sizeof t->variants[i], "%s", macx_jv_str (&vs->items[i], "name", ""));
    for (size_t i = 0; i < ms->count && !rc; i++) {
        macx_sw_metric_t *m = macx_sw_metric (t, macx_jv_str (&ms->items[i], "key", "?"));
        const macx_jv_t *bv = macx_jv_get (&ms->items[i], "by_variant");
        if (!m) {
            rc = macx_error_set (err, MACX_ENOMEM, "out of memory");
            break;
        }
        for (size_t v = 0; bv && v < bv->count && v < vs->count; v++) {
            const macx_jv_t *vals = macx_jv_get (&bv->items[v], "values");
            bool sk = macx_jv_bool (&bv->items[v], "skipped", false);
            for (size_t s = 0; vals && s < vals->count && s < seeds->count; s++) {
                const macx_jv_t *x = &vals->items[s];
                m->v[v * seeds->count + s] = x->type == MACX_JV_NUMBER ? x->number : NAN;
                m->skipped[v * seeds->count + s] = sk && x->type != MACX_JV_NUMBER;
            }
        }
    }
    macx_jv_free (&r);
    if (rc)
        macx_sw_table_free (t);
    return rc;
}

typedef struct {
    const macx_sw_table_t *a, *b;
    int va, vb;
    int pa[1000], pb[1000];      /* paired seeds: column in a, in b */
    int np;
} s_pair_t;

typedef struct {
    double am, bm;               /* means over the paired seeds */
    macx_stats_ci_t d;           /* paired difference b - a */
    bool skipped_a, skipped_b, none;
} s_cmp_t;

static s_cmp_t
s_compare_one (const s_pair_t *p, const macx_sw_metric_t *ma, const macx_sw_metric_t *mb)
{
    s_cmp_t c = { 0 };
    double d[1000], sa = 0, sb = 0;
    size_t n = 0;
    for (int i = 0; i < p->np; i++) {
        double x = ma->v[p->va * p->a->ns + p->pa[i]], y = mb->v[p->vb * p->b->ns + p->pb[i]];
        c.skipped_a |= ma->skipped[p->va * p->a->ns + p->pa[i]];
        c.skipped_b |= mb->skipped[p->vb * p->b->ns + p->pb[i]];
        if (isnan (x) || isnan (y))
            continue;
        sa += x;
        sb += y;
        d[n++] = y - x;
    }
    c.none = n == 0;
    c.am = n ? sa / (double) n : NAN;
    c.bm = n ? sb / (double) n : NAN;
    c.d = macx_stats_ci (d, n);
    return c;
}

static bool
s_headline (const char *key)
{
    return strncmp (key, "phase.", 6) == 0 || strncmp (key, "end_to_end.", 11) == 0
           || strncmp (key, "share.", 6) == 0 || strcmp (key, "refusals.total") == 0
           || strncmp (key, "information.", 12) == 0;
}

static void
s_text_row (FILE *out, const char *key, const s_cmp_t *c, bool single)
{
    char label[256];
    macx_sw_label (key, label, sizeof label);
    if (c->skipped_a || c->skipped_b) {
        fprintf (out, "  %-52s %s\n", label, c->skipped_a && c->skipped_b ? "skipped in both"
                                             : c->skipped_a ? "skipped in A" : "skipped in B");
        return;
    }
    if (c->none) {
        fprintf (out, "  %-52s no value in %s\n", label, "one of them");
        return;
    }
    char rel[32] = "";
    if (c->am != 0)
        snprintf (rel, sizeof rel, " (%+.1f%%)", 100 * c->d.mean / fabs (c->am));
    fprintf (out, "  %-52s %9.2f %9.2f %+9.2f%-10s", label, c->am, c->bm, c->d.mean, rel);
    if (single)
        fputs ("  (no interval: one run each)\n", out);
    else
        fprintf (out, "  [%+.2f, %+.2f]  %s\n", c->d.lo, c->d.hi,
                 macx_stats_excludes_zero (&c->d) ? "CHANGE" : "no change");
}

static void
s_json_num (FILE *f, double v)
{
    if (isfinite (v))
        fprintf (f, "%.10g", v);
    else
        fputs ("null", f);
}

/* Information that stopped flowing, said beside the latencies it shortened:
 * an agency that sent, per subject, less than half what it sent in A. */
static void
s_info_lost (FILE *out, const s_pair_t *p, bool single)
{
    const macx_sw_table_t *a = p->a, *b = p->b;
    for (size_t i = 0; i < a->n; i++) {
        const macx_sw_metric_t *ma = &a->m[i], *mb = macx_sw_find (b, ma->key);
        size_t kl = strlen (ma->key);
        if (!mb || kl <= 12 || strncmp (ma->key, "agency.", 7) != 0
            || strcmp (ma->key + kl - 5, ".sent") != 0)
            continue;
        s_cmp_t c = s_compare_one (p, ma, mb);
        double per_a = a->subjects > 0 ? c.am / a->subjects : c.am,
               per_b = b->subjects > 0 ? c.bm / b->subjects : c.bm;
        if (!c.none && c.am > 0 && per_b < 0.5 * per_a && (single || macx_stats_excludes_zero (&c.d)))
            fprintf (out, "  ! %.*s sent %.1f records per run in B against %.1f in A: its "
                     "information stopped reaching the MACs for the subjects it would have "
                     "matched; a latency gain in B is partly information lost\n",
                     (int) (kl - 12), ma->key + 7, c.bm, c.am);
    }
}

/* Compares variant va of a with vb of b. */
static void
s_variants (FILE *out, bool json, s_pair_t *p, bool single, bool *first_json)
{
    const macx_sw_table_t *a = p->a, *b = p->b;
    int changes = 0, same = 0, nfig = 0;
    if (!json)
        fprintf (out, "\n%s (A) vs %s (B), paired over %d seed(s)\n  %-52s %9s %9s %9s%-10s  %s\n",
                 a->variants[p->va], b->variants[p->vb], p->np, "figure", "A", "B", "B - A", "",
                 single ? "" : "95 % interval of B - A");
    for (int pass = 0; pass < 2; pass++) {
        if (!json && pass == 1)
            s_info_lost (out, p, single);
        if (!json && pass == 1)
            fputs ("\n  by MAC, region, the agency that ended each phase, and information flow (changes only):\n", out);
        int shown = 0;
        for (size_t i = 0; i < a->n; i++) {
            const macx_sw_metric_t *ma = &a->m[i], *mb = macx_sw_find (b, ma->key);
            if (!mb || s_headline (ma->key) != (pass == 0))
                continue;
            s_cmp_t c = s_compare_one (p, ma, mb);
            bool ch = !single && macx_stats_excludes_zero (&c.d);
            nfig++;
            changes += ch;
            same += !ch;
            if (json) {
                fprintf (out, "%s\n    {\"a\": ", *first_json ? "" : ",");
                *first_json = false;
                macx_json_str (out, a->variants[p->va]);
                fputs (", \"b\": ", out);
                macx_json_str (out, b->variants[p->vb]);
                fputs (", \"key\": ", out);
                macx_json_str (out, ma->key);
                fputs (", \"a_mean\": ", out);
                s_json_num (out, c.am);
                fputs (", \"b_mean\": ", out);
                s_json_num (out, c.bm);
                fputs (", \"change\": ", out);
                s_json_num (out, c.none ? NAN : c.d.mean);
                fputs (", \"lo\": ", out);
                s_json_num (out, c.d.interval ? c.d.lo : NAN);
                fputs (", \"hi\": ", out);
                s_json_num (out, c.d.interval ? c.d.hi : NAN);
                fprintf (out, ", \"verdict\": \"%s\"}",
                         c.skipped_a || c.skipped_b ? "skipped" : single ? "no interval"
                         : ch ? "change" : "no change");
                continue;
            }
            if (pass == 0 || ch || (single && !c.none && c.d.mean != 0 && shown < 40)) {
                s_text_row (out, ma->key, &c, single);
                shown++;
            }
        }
        if (!json && pass == 1 && shown == 0)
            fputs ("  (none)\n", out);
    }
    if (!json) {
        if (single)
            fprintf (out, "\n  single runs: no interval can be given, so no difference above can "
                     "be told from noise; run sweeps over seeds for that\n");
        else if (changes == 0)
            fprintf (out, "\n  no change: every one of %d figures' paired 95 %% interval includes "
                     "zero\n", nfig);
        else
            fprintf (out, "\n  %d of %d figures changed (interval excludes zero); %d no change\n",
                     changes, nfig, same);
    }
}

/* What makes a comparison unfair; returns how many warnings. */
static int
s_warnings (const macx_sw_table_t *a, const macx_sw_table_t *b, int np, char warn[4][300])
{
    int nw = 0;
    if (a->subjects != b->subjects)
        snprintf (warn[nw++], sizeof warn[0], "the cohorts differ: A has %d subjects, B %d; "
                  "percentiles of different cohorts are not like for like", a->subjects, b->subjects);
    if (a->ns == 1 && b->ns == 1 && a->seeds[0] != b->seeds[0])
        snprintf (warn[nw++], sizeof warn[0], "the seeds differ: A ran seed %lld, B seed %lld; every "
                  "difference includes the noise between seeds", (long long) a->seeds[0],
                  (long long) b->seeds[0]);
    else if (np != a->ns || np != b->ns)
        snprintf (warn[nw++], sizeof warn[0], "the seeds differ: A ran %d, B %d; only the %d both "
                  "ran are paired", a->ns, b->ns, np);
    if (strcmp (a->start_date, b->start_date) != 0)
        snprintf (warn[nw++], sizeof warn[0], "the start dates differ: A %s, B %s", a->start_date,
                  b->start_date);
    return nw;
}

/* The index of variant name in t, or -1. */
static int
s_variant_index (const macx_sw_table_t *t, const char *name)
{
    for (int i = 0; i < t->nv; i++)
        if (strcmp (t->variants[i], name) == 0)
            return i;
    return -1;
}

int
macx_sweep_compare (const char *da, const char *db, const char *va, const char *vb, FILE *out,
                    bool json, macx_error_t *err)
{
    macx_sw_table_t a, b;
    char path[1500];
    snprintf (path, sizeof path, "%s/sweep.json", da);
    int rc = macx_sw_read_json (&a, path, err);
    if (rc)
        return rc;
    snprintf (path, sizeof path, "%s/sweep.json", db);
    if ((rc = macx_sw_read_json (&b, path, err))) {
        macx_sw_table_free (&a);
        return rc;
    }
    if (macx_sw_zero_counts (&a, &b) || macx_sw_zero_counts (&b, &a)) {
        macx_sw_table_free (&a);
        macx_sw_table_free (&b);
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    }
    s_pair_t p = { .a = &a, .b = &b };
    for (int i = 0; i < a.ns; i++)
        for (int j = 0; j < b.ns; j++)
            if (a.seeds[i] == b.seeds[j]) {
                p.pa[p.np] = i;
                p.pb[p.np++] = j;
            }
    char warn[4][300];
    int nw = s_warnings (&a, &b, p.np, warn);
    int ia = va ? s_variant_index (&a, va) : 0, ib = vb ? s_variant_index (&b, vb) : 0;
    if (ia < 0 || ib < 0) {
        macx_error_set (err, MACX_EFORMAT, "--variants: %s has no variant '%s'", ia < 0 ? da : db,
                        ia < 0 ? va : vb);
        macx_sw_table_free (&a);
        macx_sw_table_free (&b);
        return MACX_EFORMAT;
    }
    if (p.np == 0) {
        macx_sw_table_free (&a);
        macx_sw_table_free (&b);
        return macx_error_set (err, MACX_EFORMAT, "%s and %s ran no seed in common: nothing to pair",
                               da, db);
    }
    if (json) {
        fputs ("{\n  \"a\": ", out);
        macx_json_str (out, da);
        fputs (", \"b\": ", out);
        macx_json_str (out, db);
        fprintf (out, ", \"paired_seeds\": %d,\n  \"interval\": {\"method\": \"student-t\", "
                 "\"level\": 0.95, \"of\": \"paired difference B - A per seed\"},\n  \"warnings\": [", p.np);
        for (int i = 0; i < nw; i++) {
            if (i)
                fputs (", ", out);
            macx_json_str (out, warn[i]);
        }
        fputs ("],\n  \"figures\": [", out);
    } else {
        fprintf (out, "A: %s (sweep %s, %d seeds, %d subjects, start %s)\nB: %s (sweep %s, %d seeds, "
                 "%d subjects, start %s)\nintervals: 95 %% Student t of the paired difference B - A "
                 "per seed (the same seeds, the same draws per subject)\n", da, a.name, a.ns,
                 a.subjects, a.start_date, db, b.name, b.ns, b.subjects, b.start_date);
        for (int i = 0; i < nw; i++)
            fprintf (out, "warning: %s\n", warn[i]);
    }
    bool first = true, any = false;
    if (va) {   /* the two variants asked for */
        p.va = ia;
        p.vb = ib;
        s_variants (out, json, &p, p.np < 2, &first);
        any = true;
    }
    for (int i = 0; i < a.nv && !va; i++)
        for (int j = 0; j < b.nv; j++)
            if (strcmp (a.variants[i], b.variants[j]) == 0) {
                p.va = i;
                p.vb = j;
                s_variants (out, json, &p, p.np < 2, &first);
                any = true;
            }
    if (!any) {   /* no variant in common: the two bases */
        p.va = p.vb = 0;
        s_variants (out, json, &p, p.np < 2, &first);
    }
    if (json)
        fputs ("\n  ]\n}\n", out);
    macx_sw_table_free (&a);
    macx_sw_table_free (&b);
    return MACX_OK;
}

int
macx_sweep_compare_runs (const char *da, const char *db, FILE *out, macx_error_t *err)
{
    macx_sw_table_t a, b;
    macx_sw_table_init (&a, 1, 1);
    macx_sw_table_init (&b, 1, 1);
    snprintf (a.variants[0], sizeof a.variants[0], "run");
    snprintf (b.variants[0], sizeof b.variants[0], "run");
    int rc = macx_sw_read_run (&a, 0, 0, da, err);
    if (!rc)
        rc = macx_sw_read_run (&b, 0, 0, db, err);
    if (!rc && (macx_sw_zero_counts (&a, &b) || macx_sw_zero_counts (&b, &a)))
        rc = macx_error_set (err, MACX_ENOMEM, "out of memory");
    if (!rc) {
        s_pair_t p = { .a = &a, .b = &b, .np = 1 };
        char warn[4][300];
        int nw = s_warnings (&a, &b, 1, warn);
        fputs ("\nevery figure, A against B (single runs: no interval can be given)\n", out);
        for (int i = 0; i < nw; i++)
            fprintf (out, "warning: %s\n", warn[i]);
        bool first = true;
        s_variants (out, false, &p, true, &first);
    }
    macx_sw_table_free (&a);
    macx_sw_table_free (&b);
    return rc;
}
