/* sweep_report.c -- what a sweep's runs found: every run's figures (from its
 * report.json and phases.csv) in one table, summarised across seeds (mean
 * and 95 % Student-t interval) and against the base variant (the paired
 * difference per seed, and its t interval), written as sweep.json,
 * sweep.csv and a self-contained sweep.html. */
#include <errno.h>
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

static const char *const s_phases[] = { "identification", "sharing", "enrichment", "profiling",
                                        "panel", NULL };
static const char *const s_stats_keys[] = { "p50", "p90", "p99", "max", "mean", NULL };

/* ---- the table ------------------------------------------------------------------ */

int
macx_sw_table_init (macx_sw_table_t *t, int nv, int ns)
{
    memset (t, 0, sizeof *t);
    t->nv = nv;
    t->ns = ns;
    return MACX_OK;
}

void
macx_sw_table_free (macx_sw_table_t *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free (t->m[i].v);
        free (t->m[i].skipped);
    }
    free (t->m);
    t->m = NULL;
    t->n = t->cap = 0;
}

const macx_sw_metric_t *
macx_sw_find (const macx_sw_table_t *t, const char *key)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp (t->m[i].key, key) == 0)
            return &t->m[i];
    return NULL;
}

macx_sw_metric_t *
macx_sw_metric (macx_sw_table_t *t, const char *key)
{
    macx_sw_metric_t *f = (macx_sw_metric_t *) macx_sw_find (t, key);
    if (f)
        return f;
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        macx_sw_metric_t *m = realloc (t->m, cap * sizeof *m);
        if (!m)
            return NULL;
        t->m = m;
        t->cap = cap;
    }
    macx_sw_metric_t *m = &t->m[t->n];
    size_t cells = (size_t) t->nv * (size_t) t->ns;
    m->v = malloc ((cells ? cells : 1) * sizeof *m->v);
    m->skipped = calloc (cells ? cells : 1, sizeof *m->skipped);
    if (!m->v || !m->skipped) {
        free (m->v);
        free (m->skipped);
        return NULL;
    }
    for (size_t i = 0; i < cells; i++)
        m->v[i] = NAN;
    snprintf (m->key, sizeof m->key, "%s", key);
    t->n++;
    return m;
}

static int
s_put (macx_sw_table_t *t, int v, int s, const char *key, double value, bool skipped)
{
    macx_sw_metric_t *m = macx_sw_metric (t, key);
    if (!m)
        return MACX_ENOMEM;
    m->v[v * t->ns + s] = skipped ? NAN : value;
    m->skipped[v * t->ns + s] = skipped;
    return MACX_OK;
}

/* A metric PREFIX.ID per item of arr (a report.json array of objects):
 * the item's idkey names it, its valkey is the value. */
static int
s_put_items (macx_sw_table_t *t, int v, int s, const macx_jv_t *arr, const char *prefix,
             const char *idkey, const char *valkey)
{
    int rc = 0;
    for (size_t i = 0; arr && i < arr->count && !rc; i++) {
        char key[192];
        snprintf (key, sizeof key, "%s.%s", prefix, macx_jv_str (&arr->items[i], idkey, "?"));
        rc = s_put (t, v, s, key, macx_jv_num (&arr->items[i], valkey, 0), false);
    }
    return rc;
}

void
macx_sw_label (const char *key, char *buf, size_t size)
{
    char k[192];
    snprintf (k, sizeof k, "%s", key);
    char *parts[6] = { 0 };
    int n = 0;
    for (char *save = NULL, *p = strtok_r (k, ".", &save); p && n < 6; p = strtok_r (NULL, ".", &save))
        parts[n++] = p;
    const char *unit = n && (strcmp (parts[n - 1], "p50") == 0 || strcmp (parts[n - 1], "p90") == 0
                             || strcmp (parts[n - 1], "p99") == 0 || strcmp (parts[n - 1], "max") == 0
                             || strcmp (parts[n - 1], "mean") == 0) ? " (days)" : "";
    if (n == 3 && strcmp (parts[0], "phase") == 0)
        snprintf (buf, size, "%s %s%s", parts[1], parts[2], unit);
    else if (n == 2 && strcmp (parts[0], "end_to_end") == 0)
        snprintf (buf, size, "end to end %s%s", parts[1], unit);
    else if (n == 2 && strcmp (parts[0], "share") == 0)
        snprintf (buf, size, "%s (%% of cases)", strcmp (parts[1], "level23") == 0 ? "Level 2 or 3"
                                                 : parts[1]);
    else if (n == 4 && (strcmp (parts[0], "mac") == 0 || strcmp (parts[0], "region") == 0
                        || strcmp (parts[0], "ended_by") == 0)) {
        const char *group = strcmp (parts[0], "mac") == 0 ? "MAC"
                            : strcmp (parts[0], "region") == 0 ? "region" : "ended by";
        if (strcmp (parts[3], "share") == 0)
            snprintf (buf, size, "%s ended by %s (%% of subjects)", parts[2], parts[1]);
        else
            snprintf (buf, size, "%s %s: %s %s%s", group, parts[1],
                      strcmp (parts[2], "end_to_end") == 0 ? "end to end" : parts[2], parts[3], unit);
    }
    else if (n == 2 && strcmp (parts[0], "information") == 0)
        snprintf (buf, size, "partners answering per subject");
    else if (n == 3 && strcmp (parts[0], "agreement") == 0)
        snprintf (buf, size, "%s: records %s", parts[1],
                  strcmp (parts[2], "answers") == 0 ? "answered" : parts[2]);
    else if (n == 3 && strcmp (parts[0], "agency") == 0)
        snprintf (buf, size, "%s: records %s", parts[1], parts[2]);
    else if (n == 3 && strcmp (parts[0], "agreement") == 0 && strcmp (parts[2], "withheld") == 0)
        snprintf (buf, size, "%s: fields withheld", parts[1]);
    else if (n == 3 && strcmp (parts[0], "agreement") == 0
             && (strcmp (parts[2], "exact") == 0 || strcmp (parts[2], "near") == 0))
        snprintf (buf, size, "%s: %s matches", parts[1], parts[2]);
    else if (n == 2 && strcmp (parts[0], "waits") == 0)
        snprintf (buf, size, strcmp (parts[1], "timed_out") == 0 ? "waits for answers timed out (cases)"
                                                                 : "waits for answers timed out on %s", parts[1]);
    else if (n == 2 && strcmp (parts[0], "refusals") == 0)
        snprintf (buf, size, "refusals%s%s", strcmp (parts[1], "total") ? " under " : "",
                  strcmp (parts[1], "total") ? parts[1] : "");
    else
        snprintf (buf, size, "%s", key);
}

/* ---- one run ------------------------------------------------------------------------ */

typedef struct {
    char key[160];
    double *v;
    size_t n, cap;
} s_group_t;

typedef struct {
    s_group_t *g;
    size_t n, cap;
} s_groups_t;

static int
s_group_add (s_groups_t *gs, const char *key, double v)
{
    s_group_t *g = NULL;
    for (size_t i = 0; i < gs->n && !g; i++)
        if (strcmp (gs->g[i].key, key) == 0)
            g = &gs->g[i];
    if (!g) {
        if (gs->n == gs->cap) {
            size_t cap = gs->cap ? 2 * gs->cap : 64;
            s_group_t *n = realloc (gs->g, cap * sizeof *n);
            if (!n)
                return MACX_ENOMEM;
            gs->g = n;
            gs->cap = cap;
        }
        g = &gs->g[gs->n++];
        memset (g, 0, sizeof *g);
        snprintf (g->key, sizeof g->key, "%s", key);
    }
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 64;
        double *n = realloc (g->v, cap * sizeof *n);
        if (!n)
            return MACX_ENOMEM;
        g->v = n;
        g->cap = cap;
    }
    g->v[g->n++] = v;
    return MACX_OK;
}

static int
s_dbl_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

/* Per subject, from phases.csv: each done phase's days by MAC, region and
 * the agency whose work ended it (held_by: attribution, with the share of
 * the phase's subjects each agency ended); end to end (the first phase's
 * start to the panel's end) by MAC and region. */
static int
s_read_phases (macx_sw_table_t *t, int v, int s, const char *dir, macx_error_t *err)
{
    char path[1500], *data = NULL;
    size_t len;
    snprintf (path, sizeof path, "%s/phases.csv", dir);
    int rc = macx_file_read (path, 256u << 20, &data, &len, err);
    if (rc)
        return rc;
    s_groups_t gs = { 0 };
    char subject[64] = "", mac[64] = "", region[64] = "";
    double first = NAN, panel_end = NAN;
    char *save = NULL;
    bool header = true;
    for (char *line = strtok_r (data, "\n", &save);; line = strtok_r (NULL, "\n", &save)) {
        char *f[10] = { 0 };
        int nf = 0;
        if (line && !header) {
            for (char *p = line; nf < 10; nf++) {
                f[nf] = p;
                char *c = strchr (p, ',');
                if (!c) {
                    nf++;
                    break;
                }
                *c = '\0';
                p = c + 1;
            }
        }
        header = false;
        /* a new subject (or the end): its end to end */
        if ((!line || (nf == 10 && strcmp (f[0], subject) != 0)) && subject[0]) {
            if (!isnan (first) && !isnan (panel_end)) {
                char k[160];
                snprintf (k, sizeof k, "mac.%s.end_to_end", mac);
                rc = s_group_add (&gs, k, panel_end - first);
                snprintf (k, sizeof k, "region.%s.end_to_end", region);
                rc = rc ? rc : s_group_add (&gs, k, panel_end - first);
                if (rc)
                    break;
            }
            subject[0] = '\0';
        }
        if (!line)
            break;
        if (nf != 10)
            continue;
        if (!subject[0]) {
            snprintf (subject, sizeof subject, "%s", f[0]);
            snprintf (mac, sizeof mac, "%s", f[3]);
            snprintf (region, sizeof region, "%s", f[2]);
            first = panel_end = NAN;
        }
        if (strcmp (f[9], "done") != 0)
            continue;
        double start = atof (f[5]), end = atof (f[6]), days = atof (f[7]);
        if (isnan (first) || start < first)
            first = start;
        if (strcmp (f[4], "panel") == 0)
            panel_end = end;
        char k[160];
        snprintf (k, sizeof k, "mac.%s.%s", f[3], f[4]);
        rc = s_group_add (&gs, k, days);
        snprintf (k, sizeof k, "region.%s.%s", f[2], f[4]);
        rc = rc ? rc : s_group_add (&gs, k, days);
        if (f[8][0]) {
            snprintf (k, sizeof k, "ended_by.%s.%s", f[8], f[4]);
            rc = rc ? rc : s_group_add (&gs, k, days);
            snprintf (k, sizeof k, "phase.%s", f[4]);   /* the phase's done count */
            rc = rc ? rc : s_group_add (&gs, k, days);
        }
        if (rc)
            break;
    }
    /* each agency's share of the phases it ended */
    for (size_t i = 0; i < gs.n && !rc; i++) {
        char agency[80], phase[40];
        if (sscanf (gs.g[i].key, "ended_by.%79[^.].%39s", agency, phase) != 2)
            continue;
        char k[192];
        snprintf (k, sizeof k, "phase.%s", phase);
        for (size_t j = 0; j < gs.n; j++)
            if (strcmp (gs.g[j].key, k) == 0) {
                snprintf (k, sizeof k, "%s.share", gs.g[i].key);
                rc = s_put (t, v, s, k, 100.0 * (double) gs.g[i].n / (double) gs.g[j].n, false);
            }
    }
    static const double qs[] = { 0.5, 0.9, 0.99, 2 };
    static const char *const qn[] = { "p50", "p90", "p99", "max" };
    for (size_t i = 0; i < gs.n && !rc; i++) {
        if (strncmp (gs.g[i].key, "phase.", 6) == 0)
            continue;   /* a count only: the report's own figures are the phase's */
        qsort (gs.g[i].v, gs.g[i].n, sizeof (double), s_dbl_cmp);
        for (int q = 0; q < 4 && !rc; q++) {
            char k[192];
            snprintf (k, sizeof k, "%s.%s", gs.g[i].key, qn[q]);
            double x = qs[q] > 1 ? gs.g[i].v[gs.g[i].n - 1] : macx_stats_rank (gs.g[i].v, gs.g[i].n, qs[q]);
            rc = s_put (t, v, s, k, x, false);
        }
    }
    for (size_t i = 0; i < gs.n; i++)
        free (gs.g[i].v);
    free (gs.g);
    free (data);
    return rc ? macx_error_set (err, rc, "out of memory") : MACX_OK;
}

int
macx_sw_load_json (const char *path, macx_jv_t *out, macx_error_t *err)
{
    char *data = NULL;
    size_t len;
    int rc = macx_file_read (path, 256u << 20, &data, &len, err);
    if (rc)
        return rc;
    rc = macx_jv_parse (data, len, out, err);
    free (data);
    if (rc)
        macx_error_prefix (err, "%s", path);
    return rc;
}

int
macx_sw_read_run (macx_sw_table_t *t, int v, int s, const char *dir, macx_error_t *err)
{
    char path[1500];
    snprintf (path, sizeof path, "%s/report.json", dir);
    macx_jv_t r;
    int rc = macx_sw_load_json (path, &r, err);
    if (rc)
        return rc;
    const macx_jv_t *run = macx_jv_get (&r, "run");
    t->seeds[s] = (int64_t) macx_jv_num (run, "seed", 0);   /* the sweep's own, or a run's */
    if (!t->start_date[0]) {
        snprintf (t->start_date, sizeof t->start_date, "%s", macx_jv_str (run, "start_date", ""));
        t->subjects = (int) macx_jv_num (run, "subjects", 0);
    }
    const macx_jv_t *ph = macx_jv_get (&r, "phases");
    for (size_t i = 0; ph && i < ph->count && !rc; i++) {
        const macx_jv_t *p = &ph->items[i];
        bool skipped = macx_jv_bool (p, "skipped", false);
        const macx_jv_t *d = macx_jv_get (p, "days");
        for (int k = 0; s_stats_keys[k] && !rc; k++) {
            char key[192];
            snprintf (key, sizeof key, "phase.%s.%s", macx_jv_str (p, "phase", "?"), s_stats_keys[k]);
            rc = s_put (t, v, s, key, macx_jv_num (d, s_stats_keys[k], NAN), skipped);
        }
    }
    const macx_jv_t *e = macx_jv_get (&r, "end_to_end_days");
    for (int k = 0; s_stats_keys[k] && !rc; k++) {
        char key[64];
        snprintf (key, sizeof key, "end_to_end.%s", s_stats_keys[k]);
        rc = s_put (t, v, s, key, macx_jv_num (e, s_stats_keys[k], NAN), false);
    }
    const macx_jv_t *lv = macx_jv_get (&r, "levels");
    double assessed = macx_jv_num (lv, "assessed", 0), high = 0;
    const macx_jv_t *bl = macx_jv_get (lv, "by_level");
    for (size_t i = 0; bl && i < bl->count; i++)
        if (macx_jv_num (&bl->items[i], "level", 0) >= 2)
            high += macx_jv_num (&bl->items[i], "count", 0);
    double cases = macx_jv_num (&r, "cases", 0);
    const macx_jv_t *oc = macx_jv_get (&r, "outcomes");
    if (!rc)
        rc = s_put (t, v, s, "share.level23", assessed > 0 ? 100.0 * high / assessed : NAN, false);
    if (!rc)
        rc = s_put (t, v, s, "share.stalled", cases > 0 ? 100.0 * macx_jv_num (oc, "stalled", 0) / cases
                                                        : NAN, false);
    if (!rc)
        rc = s_put (t, v, s, "share.disposed", cases > 0 ? 100.0 * macx_jv_num (oc, "disposed", 0) / cases
                                                         : NAN, false);
    const macx_jv_t *rf = macx_jv_get (&r, "refusals");
    if (!rc)
        rc = s_put (t, v, s, "refusals.total", macx_jv_num (rf, "total", 0), false);
    if (!rc)
        rc = s_put_items (t, v, s, macx_jv_get (rf, "by_agreement"), "refusals", "agreement", "count");
    /* attribution: the waits for partners' answers that timed out, and on
     * whom; what the agreements' partners matched and their policy withheld */
    const macx_jv_t *att = macx_jv_get (&r, "attribution");
    const macx_jv_t *aw = macx_jv_get (att, "answers_wait");
    if (!rc && aw)
        rc = s_put (t, v, s, "waits.timed_out", macx_jv_num (aw, "timed_out", 0), false);
    if (!rc)
        rc = s_put_items (t, v, s, macx_jv_get (aw, "timed_out_waiting_for"), "waits", "agency", "cases");
    const macx_jv_t *ga = macx_jv_get (att, "agreements");
    for (size_t i = 0; ga && i < ga->count && !rc; i++) {
        static const char *const k3[] = { "exact", "near", NULL };
        char key[192];
        const char *id = macx_jv_str (&ga->items[i], "agreement", "?");
        for (int k = 0; k3[k] && !rc; k++) {
            snprintf (key, sizeof key, "agreement.%s.%s", id, k3[k]);
            rc = s_put (t, v, s, key, macx_jv_num (&ga->items[i], k3[k], 0), false);
        }
        const macx_jv_t *f = macx_jv_get (&ga->items[i], "fields");
        if (!rc && f && f->type == MACX_JV_OBJECT) {
            snprintf (key, sizeof key, "agreement.%s.withheld", id);
            rc = s_put (t, v, s, key, macx_jv_num (f, "withheld", 0), false);
        }
    }
    const macx_jv_t *ag = macx_jv_get (&r, "agencies");
    static const char *const flows[] = { "sent", "received", "refused", NULL };
    for (size_t i = 0; ag && i < ag->count && !rc; i++)
        for (int k = 0; flows[k] && !rc; k++) {
            char key[192];
            snprintf (key, sizeof key, "agency.%s.%s", macx_jv_str (&ag->items[i], "id", "?"), flows[k]);
            rc = s_put (t, v, s, key, macx_jv_num (&ag->items[i], flows[k], 0), false);
        }
    macx_jv_free (&r);
    if (rc)
        return macx_error_set (err, rc, "out of memory");
    rc = s_read_phases (t, v, s, dir, err);
    /* attribution.json (sim/attribution.c): what each agreement carried */
    snprintf (path, sizeof path, "%s/attribution.json", dir);
    if (rc || access (path, F_OK) != 0 || (rc = macx_sw_load_json (path, &r, err)))
        return rc;
    const macx_jv_t *agr = macx_jv_get (&r, "agreements");
    static const char *const carried[] = { "shared", "answers", "refused", NULL };
    for (size_t i = 0; agr && i < agr->count && !rc; i++)
        for (int k = 0; carried[k] && !rc; k++) {
            char key[192];
            snprintf (key, sizeof key, "agreement.%s.%s", macx_jv_str (&agr->items[i], "agreement", "?"),
                      carried[k]);
            rc = s_put (t, v, s, key, macx_jv_num (&agr->items[i], carried[k], 0), false);
        }
    if (!rc)
        rc = s_put (t, v, s, "information.answers_per_subject",
                    macx_jv_num (macx_jv_get (&r, "answers_per_subject"), "mean", NAN), false);
    macx_jv_free (&r);
    return rc ? macx_error_set (err, rc, "out of memory") : MACX_OK;
}

static bool
s_count_key (const char *key)
{
    size_t n = strlen (key);
    return strncmp (key, "refusals.", 9) == 0 || strncmp (key, "agency.", 7) == 0
           || strncmp (key, "waits.", 6) == 0
           || strncmp (key, "agreement.", 10) == 0
           || (strncmp (key, "ended_by.", 9) == 0 && n > 6 && strcmp (key + n - 6, ".share") == 0);
}

int
macx_sw_zero_counts (macx_sw_table_t *t, const macx_sw_table_t *other)
{
    for (size_t i = 0; other && i < other->n; i++)
        if (s_count_key (other->m[i].key) && !macx_sw_metric (t, other->m[i].key))
            return MACX_ENOMEM;
    size_t cells = (size_t) t->nv * (size_t) t->ns;
    for (size_t i = 0; i < t->n; i++)
        if (s_count_key (t->m[i].key))
            for (size_t c = 0; c < cells; c++)
                if (isnan (t->m[i].v[c]))
                    t->m[i].v[c] = 0;
    return MACX_OK;
}

/* ---- summaries -------------------------------------------------------------------- */

/* Variant v's values of m over the seeds that have one. */
static macx_stats_ci_t
s_ci (const macx_sw_table_t *t, const macx_sw_metric_t *m, int v, bool *skipped)
{
    double x[1000];
    size_t n = 0;
    *skipped = false;
    for (int s = 0; s < t->ns; s++) {
        *skipped |= m->skipped[v * t->ns + s];
        if (!isnan (m->v[v * t->ns + s]))
            x[n++] = m->v[v * t->ns + s];
    }
    return macx_stats_ci (x, n);
}

/* The paired difference of variant v against variant 0, per seed. */
static macx_stats_ci_t
s_effect (const macx_sw_table_t *t, const macx_sw_metric_t *m, int v)
{
    double x[1000];
    size_t n = 0;
    for (int s = 0; s < t->ns; s++) {
        double a = m->v[s], b = m->v[v * t->ns + s];
        if (!isnan (a) && !isnan (b))
            x[n++] = b - a;
    }
    return macx_stats_ci (x, n);
}

/* s_ci of the metric named key; n = 0 when the table has none. */
static macx_stats_ci_t
s_ci_key (const macx_sw_table_t *t, const char *key, int v, bool *skipped)
{
    const macx_sw_metric_t *m = macx_sw_find (t, key);
    *skipped = false;
    return m ? s_ci (t, m, v, skipped) : (macx_stats_ci_t) { 0 };
}

/* The key of phase p's statistic (p 0..4 a phase, 5 end to end). */
static void
s_phase_key (char *buf, size_t size, int p, const char *stat)
{
    if (p < 5)
        snprintf (buf, size, "phase.%s.%s", s_phases[p], stat);
    else
        snprintf (buf, size, "end_to_end.%s", stat);
}

static void
s_num (FILE *f, double v)
{
    if (!isfinite (v))
        fputs ("null", f);
    else
        fprintf (f, "%.10g", fabs (v) < 5e-11 ? 0.0 : v);
}

static int
s_write_json (const macx_sweep_t *sw, const macx_sw_table_t *t, const char *dir, macx_error_t *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&buf, &len);
    if (!f)
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    fputs ("{\n  \"schema\": \"macx-sweep-v1\",\n  \"name\": ", f);
    macx_json_str (f, sw->name);
    fputs (",\n  \"scenario\": ", f);
    macx_json_str (f, sw->scenario_given);
    fprintf (f, ",\n  \"subjects\": %d,\n  \"start_date\": ", t->subjects);
    macx_json_str (f, t->start_date);
    fputs (",\n  \"seeds\": [", f);
    for (int s = 0; s < sw->nseeds; s++)
        fprintf (f, "%s%lld", s ? ", " : "", (long long) sw->seeds[s]);
    fputs ("],\n  \"base\": ", f);
    macx_json_str (f, sw->variants[0].name);
    fputs (",\n  \"interval\": {\"method\": \"student-t\", \"level\": 0.95, \"across\": \"seeds\", "
           "\"effects\": \"paired difference per seed, variant minus base (common random numbers)\"},\n"
           "  \"variants\": [", f);
    for (int v = 0; v < sw->nvariants; v++) {
        fputs (v ? ",\n    {\"name\": " : "\n    {\"name\": ", f);
        macx_json_str (f, sw->variants[v].name);
        fputs (", \"overrides\": ", f);
        macx_override_json (&sw->variants[v].ov, f);
        fputs (", \"runs\": [", f);
        for (int s = 0; s < sw->nseeds; s++) {
            char rel[200];
            snprintf (rel, sizeof rel, "runs/%s/seed-%lld", sw->variants[v].name, (long long) sw->seeds[s]);
            fprintf (f, "%s{\"seed\": %lld, \"dir\": ", s ? ", " : "", (long long) sw->seeds[s]);
            macx_json_str (f, rel);
            fputc ('}', f);
        }
        fputs ("]}", f);
    }
    fputs ("\n  ],\n  \"metrics\": [", f);
    for (size_t i = 0; i < t->n; i++) {
        const macx_sw_metric_t *m = &t->m[i];
        char label[256];
        macx_sw_label (m->key, label, sizeof label);
        fputs (i ? ",\n    {\"key\": " : "\n    {\"key\": ", f);
        macx_json_str (f, m->key);
        fputs (", \"label\": ", f);
        macx_json_str (f, label);
        fputs (",\n     \"by_variant\": [", f);
        for (int v = 0; v < t->nv; v++) {
            bool sk;
            macx_stats_ci_t c = s_ci (t, m, v, &sk);
            fputs (v ? ", {\"variant\": " : "{\"variant\": ", f);
            macx_json_str (f, sw->variants[v].name);
            fputs (", \"values\": [", f);
            for (int s = 0; s < t->ns; s++) {
                if (s)
                    fputs (", ", f);
                s_num (f, m->v[v * t->ns + s]);
            }
            fprintf (f, "], \"n\": %zu, \"mean\": ", c.n);
            s_num (f, c.n ? c.mean : NAN);
            fputs (", \"sd\": ", f);
            s_num (f, c.n > 1 ? c.sd : NAN);
            fputs (", \"lo\": ", f);
            s_num (f, c.interval ? c.lo : NAN);
            fputs (", \"hi\": ", f);
            s_num (f, c.interval ? c.hi : NAN);
            fprintf (f, ", \"skipped\": %s}", sk ? "true" : "false");
        }
        fputs ("],\n     \"effects\": [", f);
        for (int v = 1; v < t->nv; v++) {
            macx_stats_ci_t c = s_effect (t, m, v);
            bool sk;
            macx_stats_ci_t base = s_ci (t, m, 0, &sk);
            fputs (v > 1 ? ", {\"variant\": " : "{\"variant\": ", f);
            macx_json_str (f, sw->variants[v].name);
            fprintf (f, ", \"n\": %zu, \"mean\": ", c.n);
            s_num (f, c.n ? c.mean : NAN);
            fputs (", \"lo\": ", f);
            s_num (f, c.interval ? c.lo : NAN);
            fputs (", \"hi\": ", f);
            s_num (f, c.interval ? c.hi : NAN);
            fputs (", \"relative_percent\": ", f);
            s_num (f, c.n && base.n && base.mean != 0 ? 100.0 * c.mean / base.mean : NAN);
            fprintf (f, ", \"change\": %s}", macx_stats_excludes_zero (&c) ? "true" : "false");
        }
        fputs ("]}", f);
    }
    fputs ("\n  ]\n}\n", f);
    fclose (f);
    char path[1500];
    snprintf (path, sizeof path, "%s/sweep.json", dir);
    int rc = macx_file_write (path, buf, len, 0644, 0, err);
    free (buf);
    return rc;
}

static int
s_write_csv (const macx_sweep_t *sw, const macx_sw_table_t *t, const char *dir, macx_error_t *err)
{
    char path[1500];
    snprintf (path, sizeof path, "%s/sweep.csv", dir);
    FILE *f = fopen (path, "w");
    if (!f)
        return macx_error_set (err, MACX_EIO, "%s: %s", path, strerror (errno));
    fputs ("variant,seed,phase,skipped,p50,p90,p99,max,mean\n", f);
    for (int v = 0; v < t->nv; v++)
        for (int s = 0; s < t->ns; s++)
            for (int p = 0; p <= 5; p++) {
                const char *name = p < 5 ? s_phases[p] : "end_to_end";
                fprintf (f, "%s,%lld,%s", sw->variants[v].name, (long long) sw->seeds[s], name);
                bool sk = false;
                for (int k = 0; s_stats_keys[k]; k++) {
                    char key[128];
                    s_phase_key (key, sizeof key, p, s_stats_keys[k]);
                    const macx_sw_metric_t *m = macx_sw_find (t, key);
                    double x = m ? m->v[v * t->ns + s] : NAN;
                    if (k == 0) {
                        sk = m && m->skipped[v * t->ns + s];
                        fprintf (f, ",%s", sk ? "true" : "false");
                    }
                    if (isnan (x))
                        fputc (',', f);
                    else
                        fprintf (f, ",%.6f", x);
                }
                fputc ('\n', f);
            }
    if (fclose (f) != 0)
        return macx_error_set (err, MACX_EIO, "%s: %s", path, strerror (errno));
    return MACX_OK;
}

/* ---- sweep.html ---------------------------------------------------------------------- */

static void
s_html_esc (FILE *f, const char *s)
{
    for (; *s; s++)
        switch (*s) {
        case '<': fputs ("&lt;", f); break;
        case '>': fputs ("&gt;", f); break;
        case '&': fputs ("&amp;", f); break;
        case '"': fputs ("&quot;", f); break;
        default: fputc (*s, f);
        }
}

static void
s_html_ci (FILE *f, const macx_stats_ci_t *c, bool skipped)
{
    if (skipped && c->n == 0)
        fputs ("<td class=sk>skipped</td>", f);
    else if (c->n == 0)
        fputs ("<td class=na>&mdash;</td>", f);
    else if (c->interval)
        fprintf (f, "<td>%.1f <span class=ci>[%.1f, %.1f]</span></td>", c->mean, c->lo, c->hi);
    else
        fprintf (f, "<td>%.1f <span class=ci>(one seed)</span></td>", c->mean);
}

/* The chart of each variant's effect against the base: relative change of
 * the headline figures, with the paired interval as a whisker. */
static void
s_html_effects (FILE *f, const macx_sweep_t *sw, const macx_sw_table_t *t)
{
    static const char *const keys[] = {
        "end_to_end.p50", "end_to_end.p90", "end_to_end.p99", "phase.identification.p90",
        "phase.sharing.p90", "phase.enrichment.p90", "phase.enrichment.p99", "phase.profiling.p90",
        "phase.panel.p90", "share.level23", "share.stalled", "information.answers_per_subject", NULL
    };
    int nk = 0;
    while (keys[nk])
        nk++;
    /* one scale for every variant: the widest interval, in % of the base */
    double lim = 5;
    for (int v = 1; v < t->nv; v++)
        for (int k = 0; k < nk; k++) {
            const macx_sw_metric_t *m = macx_sw_find (t, keys[k]);
            bool sk;
            macx_stats_ci_t b = s_ci_key (t, keys[k], 0, &sk);
            macx_stats_ci_t c = m ? s_effect (t, m, v) : (macx_stats_ci_t) { 0 };
            if (!c.n || !b.n || b.mean == 0)
                continue;
            double lo = 100 * c.lo / fabs (b.mean), hi = 100 * c.hi / fabs (b.mean);
            lim = fmax (lim, fmax (fabs (lo), fabs (hi)));
        }
    lim = ceil (lim / 10) * 10;
    const int W = 1100, L = 230, R = 290, row = 24, top = 30;
    double plot = W - L - R;
    for (int v = 1; v < t->nv; v++) {
        int H = top + nk * row + 30;
        fprintf (f, "<h3>%s against %s</h3>\n<svg width=%d height=%d viewBox='0 0 %d %d' role=img>\n",
                 sw->variants[v].name, sw->variants[0].name, W, H, W, H);
        double x0 = L + plot / 2;
        for (int g = -2; g <= 2; g++) {
            double x = x0 + g * plot / 4;
            fprintf (f, "<line x1=%.1f y1=%d x2=%.1f y2=%d stroke='%s'/>"
                     "<text x=%.1f y=%d text-anchor=middle class=ax>%+.0f%%</text>\n",
                     x, top - 8, x, top + nk * row, g ? "#ddd" : "#555", x, top + nk * row + 16,
                     lim * g / 2);
        }
        for (int k = 0; k < nk; k++) {
            const macx_sw_metric_t *m = macx_sw_find (t, keys[k]);
            char label[256];
            macx_sw_label (keys[k], label, sizeof label);
            int y = top + k * row + row / 2;
            fprintf (f, "<text x=%d y=%d text-anchor=end class=lb>%s</text>", L - 10, y + 4, label);
            bool sk;
            macx_stats_ci_t b = s_ci_key (t, keys[k], 0, &sk);
            macx_stats_ci_t c = m ? s_effect (t, m, v) : (macx_stats_ci_t) { 0 };
            if (!c.n || !b.n || b.mean == 0) {
                if (c.n && b.n)   /* no relative change of a zero: say the absolute one */
                    fprintf (f, "<text x=%d y=%d class=vl>base 0; change %+.2f [%+.2f, %+.2f]</text>\n",
                             W - R + 10, y + 4, c.mean, c.lo, c.hi);
                fprintf (f, "<text x=%.1f y=%d class=ax>%s</text>\n", x0 + 6, y + 4,
                         sk ? "skipped" : c.n && b.n ? "(base is 0)" : "no value");
                continue;
            }
            double sc = plot / 2 / lim, rel = 100 * c.mean / fabs (b.mean);
            double lo = 100 * c.lo / fabs (b.mean), hi = 100 * c.hi / fabs (b.mean);
            bool ch = macx_stats_excludes_zero (&c);
            const char *col = ch ? (c.mean > 0 ? "#c0392b" : "#1e8449") : "#888";
            fprintf (f, "<line x1=%.1f y1=%d x2=%.1f y2=%d stroke='%s' stroke-width='2'/>"
                     "<circle cx='%.1f' cy='%d' r='5' fill='%s'/>",
                     x0 + lo * sc, y, x0 + hi * sc, y, col, x0 + rel * sc, y, col);
            fprintf (f, "<text x=%d y=%d class=vl>%+.1f%% [%+.1f, %+.1f]%s</text>\n", W - R + 10,
                     y + 4, rel, lo, hi, ch ? "" : " no change");
        }
        fputs ("</svg>\n", f);
        /* a faster variant may be faster because information stopped flowing */
        for (size_t i = 0; i < t->n; i++) {
            const char *k = t->m[i].key;
            size_t kl = strlen (k);
            if (strncmp (k, "agency.", 7) != 0 || kl < 13 || strcmp (k + kl - 5, ".sent") != 0)
                continue;
            bool sk;
            macx_stats_ci_t b = s_ci (t, &t->m[i], 0, &sk), c = s_ci (t, &t->m[i], v, &sk);
            if (b.n && c.n && b.mean > 0 && c.mean < 0.5 * b.mean)
                fprintf (f, "<p class=warn>&#9888; %.*s sent %.1f records per run against %.1f in "
                         "the base: its information stopped reaching the MACs for the subjects it "
                         "would have matched, so a latency gain here is partly information lost."
                         "</p>\n", (int) (kl - 12), k + 7, c.mean, b.mean);
        }
    }
}

static int
s_write_html (const macx_sweep_t *sw, const macx_sw_table_t *t, const char *dir, macx_error_t *err)
{
    char path[1500];
    snprintf (path, sizeof path, "%s/sweep.html", dir);
    FILE *f = fopen (path, "w");
    if (!f)
        return macx_error_set (err, MACX_EIO, "%s: %s", path, strerror (errno));
    fputs ("<!doctype html>\n<html lang=en><head><meta charset=utf-8><title>sweep ", f);
    s_html_esc (f, sw->name);
    fputs ("</title>\n<style>body{font:14px/1.4 system-ui,sans-serif;margin:24px;max-width:1240px;color:#222}"
           "table{border-collapse:collapse;margin:8px 0 20px}td,th{border-bottom:1px solid #ddd;"
           "padding:4px 10px;text-align:right}th{background:#f4f4f4}td:first-child,th:first-child,"
           "td.v{text-align:left}.ci{color:#777;font-size:12px}.sk,.na{color:#999;font-style:italic}"
           ".ax{font-size:11px;fill:#666}.lb{font-size:13px}.vl{font-size:12px}"
           "p.note{color:#555;max-width:900px}p.warn{color:#8a4b00;background:#fff4e0;padding:6px 10px;max-width:900px}</style></head><body>\n<h1>Sweep ", f);
    s_html_esc (f, sw->name);
    fputs ("</h1>\n<p>Scenario <code>", f);
    s_html_esc (f, sw->scenario_given);
    fprintf (f, "</code>, %d subjects, starting %s; %d variants &times; %d seeds = %d runs.</p>\n"
             "<p class=note>Each figure is computed per run (one seed), then summarised across seeds: "
             "the mean, and in brackets its 95&nbsp;%% confidence interval by Student's t "
             "(t<sub>0.975, n&minus;1</sub> &times; sd / &radic;n). Effects are paired: every "
             "variant runs the same seeds, and each subject sees the same random draws in every "
             "variant (common random numbers), so the difference is taken seed by seed and its "
             "interval is the t interval of those differences. An effect is a change only when "
             "its interval excludes zero.</p>\n", t->subjects, t->start_date, sw->nvariants,
             sw->nseeds, sw->nvariants * sw->nseeds);
    fputs ("<h2>Variants</h2>\n<table><tr><th>variant</th><th style='text-align:left'>overrides</th></tr>\n", f);
    for (int v = 0; v < sw->nvariants; v++) {
        fputs ("<tr><td>", f);
        s_html_esc (f, sw->variants[v].name);
        fprintf (f, "%s</td><td class=v>", v ? "" : " (base)");
        if (!sw->variants[v].ov.policy && !sw->variants[v].ov.nsets)
            fputs ("the scenario as it is", f);
        if (sw->variants[v].ov.policy) {
            fputs ("<code>--policy ", f);
            s_html_esc (f, sw->variants[v].policy);
            fputs ("</code> ", f);
        }
        for (int i = 0; i < sw->variants[v].ov.nsets; i++) {
            fputs ("<code>", f);
            s_html_esc (f, sw->variants[v].sets[i]);
            fputs ("</code> ", f);
        }
        fputs ("</td></tr>\n", f);
    }
    fputs ("</table>\n<h2>Effects against the base</h2>\n<p class=note>Change in % of the base's "
           "mean, with the 95&nbsp;% paired interval; red slower or more, green faster or fewer, "
           "grey: the interval includes zero (no change).</p>\n", f);
    s_html_effects (f, sw, t);
    fputs ("<h2>Latency per phase (simulated days)</h2>\n<table><tr><th>phase</th><th>variant</th>"
           "<th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>\n", f);
    for (int p = 0; p <= 5; p++)
        for (int v = 0; v < t->nv; v++) {
            const char *name = p < 5 ? s_phases[p] : "end to end";
            fprintf (f, "<tr><td>%s</td><td class=v>", v ? "" : name);
            s_html_esc (f, sw->variants[v].name);
            fputs ("</td>", f);
            static const char *const q[] = { "p50", "p90", "p99", "max" };
            for (int k = 0; k < 4; k++) {
                char key[128];
                s_phase_key (key, sizeof key, p, q[k]);
                bool sk;
                macx_stats_ci_t c = s_ci_key (t, key, v, &sk);
                s_html_ci (f, &c, sk);
            }
            fputs ("</tr>\n", f);
        }
    fputs ("</table>\n<h2>Outcomes</h2>\n<table><tr><th>variant</th><th>Level 2 or 3 (% of assessed)"
           "</th><th>stalled (% of cases)</th><th>refusals per run</th><th>partners answering per "
           "subject</th></tr>\n", f);
    for (int v = 0; v < t->nv; v++) {
        fputs ("<tr><td>", f);
        s_html_esc (f, sw->variants[v].name);
        fputs ("</td>", f);
        static const char *const k3[] = { "share.level23", "share.stalled", "refusals.total",
                                          "information.answers_per_subject" };
        for (int k = 0; k < 4; k++) {
            bool sk;
            macx_stats_ci_t c = s_ci_key (t, k3[k], v, &sk);
            s_html_ci (f, &c, sk);
        }
        fputs ("</tr>\n", f);
    }
    fputs ("</table>\n<h2>Information flow: records each agency sent, per run</h2>\n<table><tr>"
           "<th>agency</th>", f);
    for (int v = 0; v < t->nv; v++) {
        fputs ("<th>", f);
        s_html_esc (f, sw->variants[v].name);
        fputs ("</th>", f);
    }
    fputs ("</tr>\n", f);
    for (size_t i = 0; i < t->n; i++) {
        const char *k = t->m[i].key;
        size_t kl = strlen (k);
        if (strncmp (k, "agency.", 7) != 0 || kl < 5 || strcmp (k + kl - 5, ".sent") != 0)
            continue;
        fprintf (f, "<tr><td>%.*s</td>", (int) (kl - 12), k + 7);
        for (int v = 0; v < t->nv; v++) {
            bool sk;
            macx_stats_ci_t c = s_ci (t, &t->m[i], v, &sk);
            s_html_ci (f, &c, false);
        }
        fputs ("</tr>\n", f);
    }
    fputs ("</table>\n<p class=note>Every figure of every run, and its interval, is in sweep.json; "
           "one row per run and phase in sweep.csv; each run's own report.html is under "
           "runs/VARIANT/seed-N/.</p>\n</body></html>\n", f);
    if (fclose (f) != 0)
        return macx_error_set (err, MACX_EIO, "%s: %s", path, strerror (errno));
    return MACX_OK;
}

int
macx_sweep_gather (const macx_sweep_t *sw, const char *dir, macx_error_t *err)
{
    macx_sw_table_t t;
    macx_sw_table_init (&t, sw->nvariants, sw->nseeds);
    int rc = MACX_OK;
    /* seed-major, as the runs were made: the same keys in the same order
     * whichever executor ran them */
    for (int v = 0; v < sw->nvariants && !rc; v++)
        for (int s = 0; s < sw->nseeds && !rc; s++) {
            char run[1500];
            snprintf (run, sizeof run, "%s/runs/%s/seed-%lld", dir, sw->variants[v].name,
                      (long long) sw->seeds[s]);
            rc = macx_sw_read_run (&t, v, s, run, err);
        }
    if (!rc && macx_sw_zero_counts (&t, NULL))
        rc = macx_error_set (err, MACX_ENOMEM, "out of memory");
    if (!rc)
        rc = s_write_json (sw, &t, dir, err);
    if (!rc)
        rc = s_write_csv (sw, &t, dir, err);
    if (!rc)
        rc = s_write_html (sw, &t, dir, err);
    macx_sw_table_free (&t);
    return rc;
}
