/* report.c -- builds a pilot run's report from its directory (run.json, the
 * audit log, the agencies' outcomes), writes report.json and phases.csv,
 * prints the summary and compares two runs. Owns the report it builds; the
 * HTML is drawn by report_html.c from the same structure. Nothing here may
 * depend on the order of the audit log's entries, which a pilot's
 * concurrency shuffles: each figure is a minimum, a maximum, a count or a
 * sort with a complete order. */
#include "report.h"

#include <assert.h>
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit.h"
#include "clock.h"
#include "file.h"
#include "json.h"
#include "jsonl.h"
#include "names.h"
#include "stats.h"

#define S_MAX_RUN_JSON (4u << 20)

/* ---- small helpers ------------------------------------------------------- */

static void
s_cpy (char *dst, size_t size, const char *src)
{
    snprintf (dst, size, "%s", src ? src : "");
}

/* Appends item to a ';'-separated list in dst (bounded). */
static void
s_join (char *dst, size_t size, const char *item)
{
    size_t n = strlen (dst);
    if (n + 1 < size)
        snprintf (dst + n, size - n, "%s%s", n ? ";" : "", item);
}

static int
s_dbl_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank quantile of sorted values (sim/stats.c: the sweeps' too). */
static double
s_rank (const double *v, size_t n, double q)
{
    return macx_stats_rank (v, n, q);
}

/* Sorts v in place and summarises it. */
static macx_report_stats_t
s_stats (double *v, size_t n)
{
    macx_report_stats_t s = { 0 };
    if (n == 0)
        return s;
    qsort (v, n, sizeof *v, s_dbl_cmp);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    s.n = n;
    s.min = v[0];
    s.max = v[n - 1];
    s.mean = sum / (double) n;
    s.p50 = s_rank (v, n, 0.50);
    s.p90 = s_rank (v, n, 0.90);
    s.p99 = s_rank (v, n, 0.99);
    return s;
}

/* A number as JSON: non-finite values become null. */
static void
s_num (FILE *out, double v)
{
    if (!isfinite (v))
        fputs ("null", out);
    else if (v == floor (v) && fabs (v) < 1e15)
        fprintf (out, "%.0f", v);
    else
        fprintf (out, "%.10g", v);
}

/* ---- building ------------------------------------------------------------ */

typedef struct {
    char reason[48];
    char agreement[MACX_REPORT_ID];
    size_t case_ix;                      /* SIZE_MAX: no case */
} s_refusal_t;

typedef struct {
    macx_report_t *r;
    size_t cap;
    size_t *slots;                       /* case index + 1; 0 empty */
    size_t nslots;
    double *overhead;
    size_t noverhead, capoverhead;
    s_refusal_t *refusals;
    size_t caprefusals;
    s_refusal_t *holds;                  /* "held" outcomes, as refusals (r->held of them) */
    size_t capholds;
    const char *agent_dir;               /* the outcomes file being read */
    size_t capdelivery, capunavailable;
    size_t *capvalues;                   /* per delivery kind */
    macx_error_t *err;
} s_build_t;

static uint64_t
s_hash (const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s)
        h = (h ^ (unsigned char) *s++) * 1099511628211ull;
    return h;
}

static int
s_rehash (s_build_t *b, size_t nslots)
{
    size_t *slots = calloc (nslots, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < b->r->ncases; i++) {
        size_t j = s_hash (b->r->cases[i].case_id) & (nslots - 1);
        while (slots[j])
            j = (j + 1) & (nslots - 1);
        slots[j] = i + 1;
    }
    free (b->slots);
    b->slots = slots;
    b->nslots = nslots;
    return 0;
}

/* Returns the case named case_id, adding it when new; NULL when out of
 * memory. The pointer is valid until the next call. */
static macx_report_case_t *
s_case (s_build_t *b, const char *case_id)
{
    macx_report_t *r = b->r;
    if (b->nslots) {
        size_t j = s_hash (case_id) & (b->nslots - 1);
        while (b->slots[j]) {
            if (strcmp (r->cases[b->slots[j] - 1].case_id, case_id) == 0)
                return &r->cases[b->slots[j] - 1];
            j = (j + 1) & (b->nslots - 1);
        }
    }
    if (r->ncases == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        macx_report_case_t *cases = realloc (r->cases, nc * sizeof *cases);
        if (!cases)
            return NULL;
        r->cases = cases;
        b->cap = nc;
    }
    macx_report_case_t *c = &r->cases[r->ncases++];
    memset (c, 0, sizeof *c);
    s_cpy (c->case_id, sizeof c->case_id, case_id);
    for (int p = 0; p <= MACX_REPORT_PHASES; p++)
        c->start_ms[p] = c->end_ms[p] = MACX_REPORT_NONE;
    c->panel_end_ms = MACX_REPORT_NONE;
    c->first_delivery_ms = MACX_REPORT_NONE;
    c->reengage_triage_ms = MACX_REPORT_NONE;
    c->stalled_sim_ms = MACX_REPORT_NONE;
    c->partners = -1;
    if (r->ncases * 2 > b->nslots) {
        /* grows the table and places every case, the new one included */
        if (s_rehash (b, b->nslots ? b->nslots * 2 : 1024)) {
            r->ncases--;
            return NULL;
        }
    }
    else {
        size_t j = s_hash (case_id) & (b->nslots - 1);
        while (b->slots[j])
            j = (j + 1) & (b->nslots - 1);
        b->slots[j] = r->ncases;
    }
    return c;
}

/* Returns the agency with id, adding it when new; NULL for "" or ENOMEM. */
static macx_report_agency_t *
s_agency (macx_report_t *r, const char *id)
{
    if (!id || !*id)
        return NULL;
    for (size_t i = 0; i < r->nagencies; i++)
        if (strcmp (r->agencies[i].id, id) == 0)
            return &r->agencies[i];
    macx_report_agency_t *a = realloc (r->agencies, (r->nagencies + 1) * sizeof *a);
    if (!a)
        return NULL;
    r->agencies = a;
    a = &r->agencies[r->nagencies++];
    memset (a, 0, sizeof *a);
    s_cpy (a->id, sizeof a->id, id);
    return a;
}

/* The agreement id's attribution counts (added on first sight), or NULL. */
static macx_report_agreement_t *
s_agreement (macx_report_t *r, const char *id)
{
    if (!id || !*id)
        return NULL;
    for (size_t i = 0; i < r->nagreements; i++)
        if (strcmp (r->agreements[i].id, id) == 0)
            return &r->agreements[i];
    macx_report_agreement_t *g = realloc (r->agreements, (r->nagreements + 1) * sizeof *g);
    if (!g)
        return NULL;
    r->agreements = g;
    g = &r->agreements[r->nagreements++];
    memset (g, 0, sizeof *g);
    s_cpy (g->id, sizeof g->id, id);
    return g;
}

static int
s_agreement_cmp (const void *a, const void *b)
{
    return strcmp (((const macx_report_agreement_t *) a)->id, ((const macx_report_agreement_t *) b)->id);
}

static bool
s_is_ctp (const macx_report_t *r, const char *id)
{
    for (size_t i = 0; i < r->nagencies; i++)
        if (strcmp (r->agencies[i].id, id) == 0)
            return strcmp (r->agencies[i].kind, "ctp") == 0;
    return false;   /* an agency run.json does not list: not a CTP unit we know */
}

static int
s_read_run (macx_report_t *r, const char *run_dir, macx_error_t *err)
{
    char path[4096], *text = NULL;
    size_t len = 0;
    snprintf (path, sizeof path, "%s/run.json", run_dir);
    int rc = macx_file_read (path, S_MAX_RUN_JSON, &text, &len, err);
    if (rc)
        return rc;
    macx_jv_t run;
    rc = macx_jv_parse (text, len, &run, err);
    free (text);
    if (rc) {
        macx_error_prefix (err, "%s", path);
        return rc;
    }
    int32_t day = 0, end = 0;
    s_cpy (r->name, sizeof r->name, macx_jv_str (&run, "name", ""));
    s_cpy (r->scenario, sizeof r->scenario, macx_jv_str (&run, "scenario", ""));
    s_cpy (r->start_date, sizeof r->start_date, macx_jv_str (&run, "start_date", ""));
    s_cpy (r->end_date, sizeof r->end_date, macx_jv_str (&run, "end_date", ""));
    s_cpy (r->policy_hash, sizeof r->policy_hash, macx_jv_str (&run, "policy_hash", ""));
    s_cpy (r->exit, sizeof r->exit, macx_jv_str (&run, "exit", ""));
    r->seed = (uint64_t) macx_jv_num (&run, "seed", 0);
    r->subjects = (int) macx_jv_num (&run, "subjects", 0);
    r->wall_pace_ms = macx_jv_num (&run, "wall_pace_ms", 0);
    r->wall_started_ms = (int64_t) macx_jv_num (&run, "wall_started_ms", 0);
    r->wall_finished_ms = (int64_t) macx_jv_num (&run, "wall_finished_ms", 0);
    /* A wall-clock pilot's times mean something else: reading them as
     * stamps would give figures that look right and are not. */
    if (!macx_jv_get (&run, "wall_started_ms")
        && (macx_jv_get (&run, "clock_scale_ms") || macx_jv_get (&run, "t0_ms")))
        rc = macx_error_set (err, MACX_EFORMAT, "%s was written by an older macx (wall-clock pilots); "
                             "run the pilot again", path);
    else if (macx_date_parse (r->start_date, &day))
        rc = macx_error_set (err, MACX_EFORMAT, "%s: start_date \"%s\" is not a YYYY-MM-DD date",
                             path, r->start_date);
    else if (macx_date_parse (r->end_date, &end))
        rc = macx_error_set (err, MACX_EFORMAT, "%s: end_date \"%s\" is not a YYYY-MM-DD date",
                             path, r->end_date);
    else if (r->wall_started_ms <= 0)
        rc = macx_error_set (err, MACX_EFORMAT, "%s: wall_started_ms is missing", path);
    else if (!(r->wall_pace_ms >= 0))
        rc = macx_error_set (err, MACX_EFORMAT, "%s: wall_pace_ms must be 0 or more", path);
    r->start_ms = (int64_t) day * 86400000;
    const macx_jv_t *agencies = macx_jv_get (&run, "agencies");
    for (size_t i = 0; rc == 0 && agencies && agencies->type == MACX_JV_ARRAY && i < agencies->count; i++) {
        const macx_jv_t *o = &agencies->items[i];
        macx_report_agency_t *a = s_agency (r, macx_jv_str (o, "id", ""));
        if (a) {
            s_cpy (a->kind, sizeof a->kind, macx_jv_str (o, "kind", ""));
            s_cpy (a->region, sizeof a->region, macx_jv_str (o, "region", ""));
        }
    }
    r->nrun_agencies = r->nagencies;
    const macx_jv_t *macs = macx_jv_get (&run, "macs");
    size_t nm = rc == 0 && macs && macs->type == MACX_JV_ARRAY ? macs->count : 0;
    if (nm && !(r->macs = calloc (nm, sizeof *r->macs)))
        rc = macx_error_set (err, MACX_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < nm; i++) {
        const macx_jv_t *o = &macs->items[i];
        macx_report_mac_t *m = &r->macs[r->nmacs++];
        s_cpy (m->id, sizeof m->id, macx_jv_str (o, "id", ""));
        s_cpy (m->chair, sizeof m->chair, macx_jv_str (o, "chair", ""));
        m->national = macx_jv_bool (o, "national", false);
        m->overflow_load = (int) macx_jv_num (o, "overflow_load", 0);
    }
    macx_jv_free (&run);
    return rc;
}

/* Makes room for element n of a growing array (doubling from first). */
static int
s_grow (void **arr, size_t *cap, size_t n, size_t size, size_t first)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : first;
    void *v = realloc (*arr, nc * size);
    if (!v)
        return -1;
    *arr = v;
    *cap = nc;
    return 0;
}

/* True when an accepted record (stamped clock_ms, from sender with seq)
 * starts phase p of c before the one that starts it so far: the earlier
 * stamp, then the lower sender id, then the lower sequence, so that the
 * starter does not depend on the order the audit log was written in. */
static bool
s_starts_before (const macx_report_case_t *c, int p, int64_t clock_ms, const char *sender, uint64_t seq)
{
    if (c->start_ms[p] == MACX_REPORT_NONE || clock_ms < c->start_ms[p])
        return true;
    if (clock_ms > c->start_ms[p])
        return false;
    /* compared as stored (bounded), so a long id orders the same every time */
    char id[MACX_REPORT_ID];
    s_cpy (id, sizeof id, sender);
    int cmp = strcmp (id, c->starter[p]);
    return cmp < 0 || (cmp == 0 && seq < c->start_seq[p]);
}

static void
s_later (int64_t *last, int64_t ms)
{
    if (ms > 0 && (*last == MACX_REPORT_NONE || ms > *last))
        *last = ms;
}

static int
s_on_entry (const Macx__AuditEntry *e, void *arg)
{
    s_build_t *b = arg;
    macx_report_t *r = b->r;
    r->audit_entries++;
    macx_report_case_t *c = NULL;
    /* the closed-subject watch's records belong to no MAC case */
    static const char *const watch_types[] = { "watch_list", "tripwire", "alert", "triage_decision" };
    bool watch = false;
    for (size_t i = 0; i < sizeof watch_types / sizeof watch_types[0]; i++)
        watch |= e->record_type && strcmp (e->record_type, watch_types[i]) == 0;
    if (e->case_id && *e->case_id && !watch) {
        c = s_case (b, e->case_id);
        if (!c)
            return macx_error_set (b->err, MACX_ENOMEM, "out of memory");
        /* every entry of a case names the same subject; should two differ,
         * the least wins rather than the first read */
        char subject[MACX_REPORT_ID];
        s_cpy (subject, sizeof subject, e->subject);
        if (*subject && (!c->subject[0] || strcmp (subject, c->subject) < 0))
            s_cpy (c->subject, sizeof c->subject, subject);
    }
    int phase = (int) e->phase;
    bool in_phase = phase >= 1 && phase <= MACX_REPORT_PHASES;
    if (strcmp (e->event, "accept") == 0) {
        r->accepted++;
        s_later (&r->last_ms, e->clock_ms);
        macx_report_agency_t *a = s_agency (r, e->sender);
        if (a)
            a->sent++;
        const char *type = e->record_type ? e->record_type : "";
        macx_report_agreement_t *g = e->agreement && *e->agreement ? s_agreement (r, e->agreement) : NULL;
        if (e->agreement && *e->agreement && !g)
            return macx_error_set (b->err, MACX_ENOMEM, "out of memory");
        if (g) {
            bool share = strcmp (type, "share") == 0, answer = strcmp (type, "enrichment") == 0;
            g->shared += share;
            g->answers += answer;
            g->other += !share && !answer;
            if (answer && a && !a->answers_under[0])
                s_cpy (a->answers_under, sizeof a->answers_under, e->agreement);
        }
        if (e->created_ms > 0) {
            if (s_grow ((void **) &b->overhead, &b->capoverhead, b->noverhead,
                        sizeof *b->overhead, 1024))
                return macx_error_set (b->err, MACX_ENOMEM, "out of memory");
            b->overhead[b->noverhead++] = (double) (e->time_ms - e->created_ms);
        }
        /* clock_ms 0: a record from outside the simulated clock, no phase time */
        if (c && in_phase && e->clock_ms > 0
            && s_starts_before (c, phase, e->clock_ms, e->sender, e->sequence)) {
            c->start_ms[phase] = e->clock_ms;
            c->start_seq[phase] = e->sequence;
            s_cpy (c->starter[phase], sizeof c->starter[phase], e->sender);
            c->holders[phase][0] = 0;
            for (size_t i = 0; i < e->n_recipients; i++)
                s_join (c->holders[phase], sizeof c->holders[phase], e->recipients[i]);
        }
    }
    else if (strcmp (e->event, "refuse") == 0) {
        macx_report_agency_t *a = s_agency (r, e->sender);
        if (a)
            a->refused++;
        if (e->agreement && *e->agreement) {
            macx_report_agreement_t *g = s_agreement (r, e->agreement);
            if (!g)
                return macx_error_set (b->err, MACX_ENOMEM, "out of memory");
            g->refused++;
        }
        if (s_grow ((void **) &b->refusals, &b->caprefusals, r->refusals, sizeof *b->refusals, 256))
            return macx_error_set (b->err, MACX_ENOMEM, "out of memory");
        s_refusal_t *f = &b->refusals[r->refusals++];
        s_cpy (f->reason, sizeof f->reason, macx_reason_name ((int) e->reason));
        s_cpy (f->agreement, sizeof f->agreement,
               e->agreement && *e->agreement ? e->agreement : "(none)");
        f->case_ix = c ? (size_t) (c - r->cases) : SIZE_MAX;
        if (c && in_phase)
            c->waited[phase] |= MACX_REPORT_WAIT_AGREEMENT;
    }
    else if (strcmp (e->event, "deliver") == 0) {
        r->delivered++;
        s_later (&r->last_ms, e->arrive_ms);
        macx_report_agency_t *a = s_agency (r, e->recipient);
        if (a)
            a->received++;
        /* the panel is over when CTP's last panel record (the plan) has
         * reached its last recipient */
        if (c && phase == MACX__PHASE__PANEL && e->sender && s_is_ctp (r, e->sender))
            s_later (&c->panel_end_ms, e->arrive_ms);
    }
    return 0;
}

static int64_t
s_ms (const macx_jv_t *o, const char *key)
{
    const macx_jv_t *v = macx_jv_get (o, key);
    return v && v->type == MACX_JV_NUMBER ? (int64_t) llround (v->number) : MACX_REPORT_NONE;
}

static int
s_on_outcome (const macx_jv_t *o, int line, void *arg)
{
    s_build_t *b = arg;
    macx_report_t *r = b->r;
    const char *event = macx_jv_str (o, "event", "");
    int phase = macx_phase_parse (macx_jv_str (o, "phase", ""));
    if (strcmp (event, "work") == 0) {
        macx_report_agency_t *a = s_agency (r, macx_jv_str (o, "agency", b->agent_dir));
        int64_t q = s_ms (o, "queued_sim_ms"), s = s_ms (o, "start_sim_ms"), e = s_ms (o, "end_sim_ms");
        if (!a || q == MACX_REPORT_NONE || s == MACX_REPORT_NONE || e == MACX_REPORT_NONE)
            return 0;
        double queue = (double) (s - q) / MACX_REPORT_DAY_MS, work = (double) (e - s) / MACX_REPORT_DAY_MS;
        a->units++;
        a->queue_days += queue;
        a->work_days += work;
        if (phase) {
            macx_report_work_t *w = &a->phases[phase];
            w->units++;
            w->queued += s > q;
            w->queue_days += queue;
            w->work_days += work;
            if (queue > w->max_queue_days)
                w->max_queue_days = queue;
        }
        const char *case_id = macx_jv_str (o, "case", "");
        if (phase && s > q && *case_id) {
            macx_report_case_t *c = s_case (b, case_id);
            if (!c)
                return macx_error_set (b->err, MACX_ENOMEM, "out of memory");
            c->waited[phase] |= MACX_REPORT_WAIT_WORKER;
        }
        return 0;
    }
    if (strcmp (event, "feed") == 0) {   /* a provider's customers who are not subjects */
        double v = macx_jv_num (o, "other_events", 0);
        r->watch.events += v > 0 ? (uint64_t) v : 0;
        return 0;
    }
    if (strcmp (event, "watch_event") == 0) {
        bool matched = macx_jv_bool (o, "matched", false), signal = macx_jv_bool (o, "signal", false);
        r->watch.events++;
        r->watch.tripwires += matched;
        r->watch.false_alerts += matched && !signal;
        r->watch.missed += !matched && signal;
        return 0;
    }
    if (strcmp (event, "matching") == 0) {
        macx_report_agency_t *a = s_agency (r, macx_jv_str (o, "agency", b->agent_dir));
        if (!a)
            return 0;
        const struct { const char *k; size_t off; } f[] = {
            { "exact", offsetof (macx_report_matching_t, exact) },
            { "near", offsetof (macx_report_matching_t, near) },
            { "confirmed", offsetof (macx_report_matching_t, confirmed) },
            { "rejected", offsetof (macx_report_matching_t, rejected) },
            { "unresolved", offsetof (macx_report_matching_t, unresolved) },
            { "false_confirmed", offsetof (macx_report_matching_t, false_confirmed) },
            { "own_lost", offsetof (macx_report_matching_t, own_lost) },
            { "minimised", offsetof (macx_report_matching_t, minimised) },
        };
        macx_report_matching_t *m[2] = { &a->matching, &r->matching };
        for (int j = 0; j < 2; j++) {
            m[j]->lookups++;
            m[j]->year_only += strcmp (macx_jv_str (o, "dob", ""), "year") == 0;
            for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
                double v = macx_jv_num (o, f[i].k, 0);
                *(uint64_t *) ((char *) m[j] + f[i].off) += v > 0 ? (uint64_t) v : 0;
            }
        }
        return 0;
    }
    if (strcmp (event, "fields") == 0) {   /* a sender's fields under one agreement, at its end */
        macx_report_agreement_t *g = s_agreement (r, macx_jv_str (o, "agreement", ""));
        if (!g)
            return 0;
        g->fields_known = true;
        const struct { const char *k; uint64_t *v; } f[] = {
            { "records", &g->prepared }, { "held", &g->fields_held }, { "released", &g->fields_sent },
            { "transformed", &g->fields_transformed }, { "withheld", &g->fields_withheld },
        };
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
            double v = macx_jv_num (o, f[i].k, 0);
            *f[i].v += v > 0 ? (uint64_t) v : 0;
        }
        double tr = macx_jv_num (o, "transformed", 0);
        g->fields_sent += tr > 0 ? (uint64_t) tr : 0;   /* sent: released as held, or transformed */
        return 0;
    }
    const char *case_id = macx_jv_str (o, "case", "");
    if (!*case_id)
        return 0;
    macx_report_case_t *c = s_case (b, case_id);
    if (!c)
        return macx_error_set (b->err, MACX_ENOMEM, "out of memory");
    if (!c->subject[0])
        s_cpy (c->subject, sizeof c->subject, macx_jv_str (o, "subject", ""));
    if (strcmp (event, "closed") == 0) {
        const char *region = macx_jv_str (o, "region", NULL), *mac = macx_jv_str (o, "mac", NULL);
        if (region)
            s_cpy (c->region, sizeof c->region, region);
        if (mac)
            s_cpy (c->mac, sizeof c->mac, mac);
        s_cpy (c->owner, sizeof c->owner, macx_jv_str (o, "owner", ""));
        c->overflow = macx_jv_bool (o, "overflow", false);
    }
    else if (strcmp (event, "level") == 0) {
        int level = (int) macx_jv_num (o, "level", 0);
        if (level >= 1 && level <= 3)
            c->level = level;
        c->score = macx_jv_num (o, "score", c->score);
        double n = macx_jv_num (o, "answers", -1);
        if (n >= 0)
            c->partners = (int) n;
    }
    else if (strcmp (event, "answers_closed") == 0 && !c->ended_how[0]) {
        s_cpy (c->ended_how, sizeof c->ended_how, macx_jv_str (o, "how", ""));
        s_cpy (c->last_answer, sizeof c->last_answer, macx_jv_str (o, "last", ""));
        const macx_jv_t *w = macx_jv_get (o, "waited_for");
        c->waited_for[0] = 0;
        for (size_t i = 0; w && w->type == MACX_JV_ARRAY && i < w->count; i++)
            if (w->items[i].type == MACX_JV_STRING)
                s_join (c->waited_for, sizeof c->waited_for, w->items[i].string);
    }
    else if (strcmp (event, "disposal") == 0) {
        int level = (int) macx_jv_num (o, "level", 0);
        if (level >= 1 && level <= 3)
            c->level = level;
        c->disposals[0] = 0;
        const macx_jv_t *d = macx_jv_get (o, "disposals");
        for (size_t i = 0; d && d->type == MACX_JV_ARRAY && i < d->count; i++)
            if (d->items[i].type == MACX_JV_STRING)
                s_join (c->disposals, sizeof c->disposals, d->items[i].string);
        c->back_to_investigation = macx_jv_bool (o, "back_to_investigation", false);
        const macx_jv_t *un = macx_jv_get (o, "unavailable");
        for (size_t i = 0; un && un->type == MACX_JV_ARRAY && i < un->count; i++) {
            const macx_jv_t *u = &un->items[i];
            const char *agency = macx_jv_str (u, "agency", "");
            if (!*agency)
                continue;   /* a need not met, not a partner missing */
            const char *why = macx_jv_str (u, "why", ""), *agr = macx_jv_str (u, "agreement", "");
            size_t k = 0;
            while (k < r->nunavailable
                   && (strcmp (r->unavailable[k].agency, agency) != 0 || strcmp (r->unavailable[k].why, why) != 0
                       || strcmp (r->unavailable[k].agreement, agr) != 0))
                k++;
            if (k == r->nunavailable) {
                if (s_grow ((void **) &r->unavailable, &b->capunavailable, k, sizeof *r->unavailable, 8))
                    return macx_error_set (b->err, MACX_ENOMEM, "out of memory");
                macx_report_unavailable_t *n = &r->unavailable[r->nunavailable++];
                memset (n, 0, sizeof *n);
                s_cpy (n->agency, sizeof n->agency, agency);
                s_cpy (n->why, sizeof n->why, why);
                s_cpy (n->agreement, sizeof n->agreement, agr);
                const macx_jv_t *co = macx_jv_get (u, "could_offer");
                for (size_t j = 0; co && co->type == MACX_JV_ARRAY && j < co->count; j++)
                    if (co->items[j].type == MACX_JV_STRING)
                        s_join (n->could_offer, sizeof n->could_offer, co->items[j].string);
            }
            r->unavailable[k].cases++;
        }
        c->outcome = MACX_OUTCOME_DISPOSED;
        c->open_phase = -1;              /* marks "has a disposal" until finalised */
    }
    else if (strcmp (event, "delivery") == 0) {
        const char *kind = macx_jv_str (o, "kind", "");
        int64_t ready = s_ms (o, "ready_sim_ms"), start = s_ms (o, "start_sim_ms");
        if (!*kind || ready == MACX_REPORT_NONE || start == MACX_REPORT_NONE)
            return 0;
        size_t k = 0;
        while (k < r->ndelivery && strcmp (r->delivery[k].kind, kind) != 0)
            k++;
        if (k == r->ndelivery) {
            size_t old = b->capdelivery;
            if (s_grow ((void **) &r->delivery, &b->capdelivery, k, sizeof *r->delivery, 16))
                return macx_error_set (b->err, MACX_ENOMEM, "out of memory");
            if (b->capdelivery != old) {
                size_t *cv = realloc (b->capvalues, b->capdelivery * sizeof *cv);
                if (!cv)
                    return macx_error_set (b->err, MACX_ENOMEM, "out of memory");
                b->capvalues = cv;
            }
            memset (&r->delivery[k], 0, sizeof r->delivery[k]);
            b->capvalues[k] = 0;
            s_cpy (r->delivery[k].kind, sizeof r->delivery[k].kind, kind);
            r->ndelivery++;
        }
        macx_report_delivery_t *d = &r->delivery[k];
        if (s_grow ((void **) &d->values, &b->capvalues[k], d->issued, sizeof *d->values, 64))
            return macx_error_set (b->err, MACX_ENOMEM, "out of memory");
        d->values[d->issued++] = (double) (start - ready) / MACX_REPORT_DAY_MS;
        bool declined = macx_jv_bool (o, "declined", false);
        d->declined += declined;
        d->delivered += !declined;
        c->interventions++;
        if (!declined && (c->first_delivery_ms == MACX_REPORT_NONE || start < c->first_delivery_ms))
            c->first_delivery_ms = start;
    }
    else if (strcmp (event, "watched") == 0)
        r->watch.watched++;
    else if (strcmp (event, "alert") == 0) {
        r->watch.alerts++;
        r->watch.alerts_unsolicited += strcmp (macx_jv_str (o, "source", ""), "unsolicited") == 0;
    }
    else if (strcmp (event, "reopened") == 0)
        r->watch.reopened++;
    else if (strcmp (event, "triage") == 0) {
        r->watch.triaged++;
        r->watch.reopen_decisions += strcmp (macx_jv_str (o, "decision", ""), "reopen") == 0;
        int64_t at = s_ms (o, "reengage_sim_ms"), sim = s_ms (o, "sim_ms");
        if (macx_jv_bool (o, "reengaged", false) && at != MACX_REPORT_NONE && sim != MACX_REPORT_NONE
            && (c->reengage_triage_ms == MACX_REPORT_NONE || sim - at < c->reengage_triage_ms))
            c->reengage_triage_ms = sim - at;
    }
    else if (strcmp (event, "held") == 0) {
        /* a record its sender held back for a daily cap: not a refusal */
        if (s_grow ((void **) &b->holds, &b->capholds, r->held, sizeof *b->holds, 256))
            return macx_error_set (b->err, MACX_ENOMEM, "out of memory");
        s_refusal_t *h = &b->holds[r->held++];
        s_cpy (h->reason, sizeof h->reason, macx_jv_str (o, "reason", ""));
        const char *agreement = macx_jv_str (o, "agreement", "");
        s_cpy (h->agreement, sizeof h->agreement, *agreement ? agreement : "(none)");
        h->case_ix = (size_t) (c - r->cases);
        if (phase)
            c->waited[phase] |= MACX_REPORT_WAIT_AGREEMENT;
    }
    else if (strcmp (event, "stalled") == 0) {
        r->stall_events++;
        if (!c->stalled_agency[0]) {
            s_cpy (c->stalled_agency, sizeof c->stalled_agency, b->agent_dir);
            s_cpy (c->stalled_phase, sizeof c->stalled_phase, macx_jv_str (o, "phase", ""));
            s_cpy (c->stalled_reason, sizeof c->stalled_reason, macx_jv_str (o, "reason", ""));
            s_cpy (c->stalled_agreement, sizeof c->stalled_agreement, macx_jv_str (o, "agreement", ""));
            s_cpy (c->stalled_why, sizeof c->stalled_why, macx_jv_str (o, "why", ""));
            c->stalled_sim_ms = s_ms (o, "sim_ms");
        }
    }
    return 0;
}

static int
s_name_cmp (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Reads every RUN/agents/<ID>/outcomes.jsonl, in agency id order. */
static int
s_read_outcomes (s_build_t *b, const char *run_dir)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/agents", run_dir);
    DIR *d = opendir (path);
    if (!d)
        return 0;                        /* a run that died before any agency started */
    char **names = NULL;
    size_t n = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir (d)) && rc == 0) {
        if (e->d_name[0] == '.')
            continue;
        char **nn = realloc (names, (n + 1) * sizeof *nn);
        if (nn)
            names = nn;
        if (!nn || !(names[n] = strdup (e->d_name)))
            rc = macx_error_set (b->err, MACX_ENOMEM, "out of memory");
        else
            n++;
    }
    closedir (d);
    if (n)
        qsort (names, n, sizeof *names, s_name_cmp);
    for (size_t i = 0; i < n && rc == 0; i++) {
        snprintf (path, sizeof path, "%s/agents/%s/outcomes.jsonl", run_dir, names[i]);
        struct stat st;
        if (stat (path, &st) != 0)
            continue;
        int skipped = 0;
        b->agent_dir = names[i];
        rc = macx_jsonl_read (path, s_on_outcome, b, &skipped, b->err);
        b->r->skipped_lines += skipped;
        if (rc)
            macx_error_prefix (b->err, "%s", path);
    }
    for (size_t i = 0; i < n; i++)
        free (names[i]);
    free (names);
    return rc;
}

static int
s_case_cmp (const void *a, const void *b)
{
    return strcmp (((const macx_report_case_t *) a)->case_id, ((const macx_report_case_t *) b)->case_id);
}

static int
s_agency_cmp (const void *a, const void *b)
{
    return strcmp (((const macx_report_agency_t *) a)->id, ((const macx_report_agency_t *) b)->id);
}

static int
s_refusal_cmp (const void *a, const void *b)
{
    size_t x = ((const s_refusal_t *) a)->case_ix, y = ((const s_refusal_t *) b)->case_ix;
    return x < y ? -1 : x > y;
}

static int
s_tally_cmp (const void *a, const void *b)
{
    const macx_report_tally_t *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp (x->key, y->key);
}

static int
s_delivery_cmp (const void *a, const void *b)
{
    const macx_report_delivery_t *x = a, *y = b;
    if (x->issued != y->issued)
        return x->issued > y->issued ? -1 : 1;
    return strcmp (x->kind, y->kind);
}

static int
s_unavailable_cmp (const void *a, const void *b)
{
    const macx_report_unavailable_t *x = a, *y = b;
    if (x->cases != y->cases)
        return x->cases > y->cases ? -1 : 1;
    int c = strcmp (x->agency, y->agency);
    return c ? c : strcmp (x->agreement, y->agreement);
}

/* Counts key (for case_ix) into a tally array; last[] remembers the last
 * case counted per key, so feeding events grouped by case counts distinct
 * cases. */
static int
s_tally (macx_report_tally_t **t, size_t *n, size_t **last, const char *key, size_t case_ix)
{
    size_t i = 0;
    while (i < *n && strcmp ((*t)[i].key, key) != 0)
        i++;
    if (i == *n) {
        macx_report_tally_t *nt = realloc (*t, (*n + 1) * sizeof *nt);
        if (!nt)
            return -1;
        *t = nt;
        size_t *nl = realloc (*last, (*n + 1) * sizeof *nl);
        if (!nl)
            return -1;
        *last = nl;
        memset (&nt[i], 0, sizeof nt[i]);
        s_cpy (nt[i].key, sizeof nt[i].key, key);
        nl[i] = SIZE_MAX;
        (*n)++;
    }
    (*t)[i].count++;
    if (case_ix != SIZE_MAX && (*last)[i] != case_ix) {
        (*t)[i].cases++;
        (*last)[i] = case_ix;
    }
    return 0;
}

/* Tallies events (sorted by case) by reason or by agreement. */
static int
s_tally_events (macx_report_tally_t **t, size_t *nt, const s_refusal_t *ev, size_t n, bool by_reason)
{
    size_t *last = NULL;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = s_tally (t, nt, &last, by_reason ? ev[i].reason : ev[i].agreement, ev[i].case_ix);
    free (last);
    return rc;
}

static int
s_finish (s_build_t *b)
{
    macx_report_t *r = b->r;
    /* Cases in id order; the refusals point at cases by index, so remap. */
    if (r->ncases) {
        macx_report_case_t *sorted = malloc (r->ncases * sizeof *sorted);
        size_t *moved = malloc (r->ncases * sizeof *moved);
        if (!sorted || !moved) {
            free (sorted);
            free (moved);
            return macx_error_set (b->err, MACX_ENOMEM, "out of memory");
        }
        memcpy (sorted, r->cases, r->ncases * sizeof *sorted);
        qsort (sorted, r->ncases, sizeof *sorted, s_case_cmp);
        /* case ids are unique, so each case's new place is found by search */
        for (size_t i = 0; i < r->ncases; i++) {
            macx_report_case_t *hit = bsearch (&r->cases[i], sorted, r->ncases, sizeof *sorted, s_case_cmp);
            assert (hit);
            moved[i] = (size_t) (hit - sorted);
        }
        free (r->cases);
        r->cases = sorted;
        for (size_t i = 0; i < r->refusals; i++)
            if (b->refusals[i].case_ix != SIZE_MAX)
                b->refusals[i].case_ix = moved[b->refusals[i].case_ix];
        for (size_t i = 0; i < r->held; i++)
            b->holds[i].case_ix = moved[b->holds[i].case_ix];
        free (moved);
    }

    double *e2e = malloc ((r->ncases + 1) * sizeof *e2e);
    if (!e2e)
        return macx_error_set (b->err, MACX_ENOMEM, "out of memory");
    size_t ne2e = 0;
    for (int p = 1; p <= MACX_REPORT_PHASES; p++) {
        r->phases[p].values = malloc ((r->ncases + 1) * sizeof (double));
        if (!r->phases[p].values) {
            free (e2e);
            return macx_error_set (b->err, MACX_ENOMEM, "out of memory");
        }
    }
    for (size_t i = 0; i < r->ncases; i++) {
        macx_report_case_t *c = &r->cases[i];
        bool disposed = c->open_phase == -1;
        c->open_phase = 0;
        int first = 0;
        for (int p = 1; p <= MACX_REPORT_PHASES; p++) {
            if (c->start_ms[p] == MACX_REPORT_NONE)
                continue;
            if (!first)
                first = p;
            macx_report_phase_t *ph = &r->phases[p];
            ph->entered++;
            int q = p + 1;
            while (q <= MACX_REPORT_PHASES && c->start_ms[q] == MACX_REPORT_NONE)
                q++;
            if (q <= MACX_REPORT_PHASES) {
                c->end_ms[p] = c->start_ms[q];
                s_cpy (c->held_by[p], sizeof c->held_by[p], c->starter[q]);
            }
            else if (p == MACX_REPORT_PHASES && c->panel_end_ms != MACX_REPORT_NONE) {
                c->end_ms[p] = c->panel_end_ms;
                s_cpy (c->held_by[p], sizeof c->held_by[p], c->starter[p]);
            }
            if (c->end_ms[p] != MACX_REPORT_NONE) {
                ph->done++;
                ph->values[ph->done - 1] = (double) (c->end_ms[p] - c->start_ms[p]) / MACX_REPORT_DAY_MS;
            }
            else {
                ph->open++;
                c->open_phase = p;
                s_cpy (c->held_by[p], sizeof c->held_by[p], c->holders[p]);
            }
        }
        c->outcome = disposed ? MACX_OUTCOME_DISPOSED
                   : c->stalled_agency[0] ? MACX_OUTCOME_STALLED : MACX_OUTCOME_OPEN;
        for (int p = 1; p <= MACX_REPORT_PHASES; p++) {
            macx_report_funnel_t *f = &r->phases[p].funnel;
            if (c->start_ms[p] == MACX_REPORT_NONE)
                continue;
            if (c->end_ms[p] == MACX_REPORT_NONE) {
                if (c->outcome == MACX_OUTCOME_STALLED)
                    f->stalled++;
                else
                    f->waiting++;
            }
            else if (c->waited[p] & MACX_REPORT_WAIT_AGREEMENT)
                f->agreement++;
            else if (c->waited[p] & MACX_REPORT_WAIT_WORKER)
                f->worker++;
            else
                f->through++;
        }
        if (first && c->end_ms[MACX_REPORT_PHASES] != MACX_REPORT_NONE)
            e2e[ne2e++] = (double) (c->end_ms[MACX_REPORT_PHASES] - c->start_ms[first]) / MACX_REPORT_DAY_MS;
        r->outcomes[c->outcome]++;
        r->levels[c->level]++;
        for (size_t m = 0; m < r->nmacs; m++)
            if (strcmp (r->macs[m].id, c->mac) == 0) {
                r->macs[m].cases++;
                r->macs[m].overflow_in += c->overflow;
                r->macs[m].disposed += c->outcome == MACX_OUTCOME_DISPOSED;
            }
        if (disposed && c->back_to_investigation)
            r->back_to_investigation++;
    }
    /* skipped: the scenario's workflow leaves the phase out (nobody entered
     * it, yet a later phase ran), not a phase nobody has reached yet */
    for (int p = 1; p <= MACX_REPORT_PHASES; p++)
        for (int q = p + 1; q <= MACX_REPORT_PHASES && !r->phases[p].entered; q++)
            if (r->phases[q].entered)
                r->phases[p].skipped = true;
    for (int p = 1; p <= MACX_REPORT_PHASES; p++) {
        macx_report_phase_t *ph = &r->phases[p];
        ph->days = s_stats (ph->values, ph->done);
        ph->p25 = s_rank (ph->values, ph->done, 0.25);
        ph->p75 = s_rank (ph->values, ph->done, 0.75);
    }
    r->end_to_end = s_stats (e2e, ne2e);
    /* delivery: time to first intervention, from the case's first phase */
    ne2e = 0;
    for (size_t i = 0; i < r->ncases; i++) {
        const macx_report_case_t *c = &r->cases[i];
        r->with_intervention += c->interventions > 0;
        r->with_delivered += c->first_delivery_ms != MACX_REPORT_NONE;
        int64_t first = MACX_REPORT_NONE;
        for (int p = MACX_REPORT_PHASES; p >= 1; p--)
            if (c->start_ms[p] != MACX_REPORT_NONE)
                first = c->start_ms[p];
        if (c->first_delivery_ms != MACX_REPORT_NONE && first != MACX_REPORT_NONE)
            e2e[ne2e++] = (double) (c->first_delivery_ms - first) / MACX_REPORT_DAY_MS;
    }
    r->first_intervention_days = s_stats (e2e, ne2e);
    ne2e = 0;
    for (size_t i = 0; i < r->ncases; i++)
        if (r->cases[i].reengage_triage_ms != MACX_REPORT_NONE)
            e2e[ne2e++] = (double) r->cases[i].reengage_triage_ms / MACX_REPORT_DAY_MS;
    r->watch.latency_days = s_stats (e2e, ne2e);
    free (e2e);
    for (size_t k = 0; k < r->ndelivery; k++)
        r->delivery[k].waiting_days = s_stats (r->delivery[k].values, r->delivery[k].issued);
    if (r->ndelivery)
        qsort (r->delivery, r->ndelivery, sizeof *r->delivery, s_delivery_cmp);
    if (r->nunavailable)
        qsort (r->unavailable, r->nunavailable, sizeof *r->unavailable, s_unavailable_cmp);
    r->simulated_days = r->last_ms == MACX_REPORT_NONE
                      ? 0 : (double) (r->last_ms - r->start_ms) / MACX_REPORT_DAY_MS;
    r->wall_seconds = r->wall_finished_ms > r->wall_started_ms
                    ? (double) (r->wall_finished_ms - r->wall_started_ms) / 1000.0 : 0;
    r->wall_records_per_second = r->wall_seconds > 0 ? (double) r->accepted / r->wall_seconds : NAN;
    r->wall_ms_per_subject = r->subjects > 0 ? r->wall_seconds * 1000.0 / r->subjects : NAN;
    r->broker_wall_ms = s_stats (b->overhead, b->noverhead);
    /* agencies run.json does not list come in the order the audit log
     * happened to name them: put them in id order */
    if (r->nagencies > r->nrun_agencies)
        qsort (r->agencies + r->nrun_agencies, r->nagencies - r->nrun_agencies, sizeof *r->agencies,
               s_agency_cmp);

    /* tallies */
    if (r->refusals)
        qsort (b->refusals, r->refusals, sizeof *b->refusals, s_refusal_cmp);
    if (r->held)
        qsort (b->holds, r->held, sizeof *b->holds, s_refusal_cmp);
    int rc = s_tally_events (&r->refusal_reasons, &r->nrefusal_reasons, b->refusals, r->refusals, true)
             || s_tally_events (&r->refusal_agreements, &r->nrefusal_agreements, b->refusals,
                                r->refusals, false)
             || s_tally_events (&r->held_agreements, &r->nheld_agreements, b->holds, r->held, false);
    size_t *last = NULL;
    for (size_t i = 0; i < r->ncases && rc == 0; i++) {
        const macx_report_case_t *c = &r->cases[i];
        if (c->outcome != MACX_OUTCOME_DISPOSED)
            continue;
        char kinds[sizeof c->disposals];
        s_cpy (kinds, sizeof kinds, c->disposals);
        for (char *save = NULL, *k = strtok_r (kinds, ";", &save); k && rc == 0;
             k = strtok_r (NULL, ";", &save))
            rc = s_tally (&r->disposals, &r->ndisposals, &last, k, i);
    }
    free (last);
    /* attribution: how each wait for answers ended, and who reached the profile */
    size_t *last_a = NULL, *last_w = NULL;
    double partners = 0;
    for (size_t i = 0; i < r->ncases && rc == 0; i++) {
        const macx_report_case_t *c = &r->cases[i];
        if (c->partners >= 0) {
            r->attribution.profiled++;
            r->attribution.by_partners[c->partners < 32 ? c->partners : 32]++;
            partners += c->partners;
        }
        if (!c->ended_how[0])
            continue;
        r->attribution.closed++;
        if (strcmp (c->ended_how, "wait_timed_out") == 0) {
            r->attribution.timed_out++;
            char w[sizeof c->waited_for];
            s_cpy (w, sizeof w, c->waited_for);
            for (char *save = NULL, *k = strtok_r (w, ";", &save); k && rc == 0; k = strtok_r (NULL, ";", &save))
                rc = s_tally (&r->attribution.waited_for, &r->attribution.nwaited_for, &last_w, k, i);
        }
        else {
            r->attribution.last_answer++;
            rc = s_tally (&r->attribution.last_by, &r->attribution.nlast_by, &last_a,
                          c->last_answer[0] ? c->last_answer : "(unknown)", i);
        }
    }
    free (last_a);
    free (last_w);
    r->attribution.mean_partners = r->attribution.profiled ? partners / (double) r->attribution.profiled : NAN;
    /* a partner's matches count under the agreement it answered under */
    for (size_t i = 0; i < r->nagencies && rc == 0; i++) {
        const macx_report_agency_t *a = &r->agencies[i];
        macx_report_agreement_t *g = a->matching.lookups ? s_agreement (r, a->answers_under) : NULL;
        if (g) {
            g->exact += a->matching.exact;
            g->near += a->matching.near;
        }
    }
    if (r->nagreements)
        qsort (r->agreements, r->nagreements, sizeof *r->agreements, s_agreement_cmp);
    if (rc)
        return macx_error_set (b->err, MACX_ENOMEM, "out of memory");
    if (r->attribution.nlast_by)
        qsort (r->attribution.last_by, r->attribution.nlast_by, sizeof *r->attribution.last_by, s_tally_cmp);
    if (r->attribution.nwaited_for)
        qsort (r->attribution.waited_for, r->attribution.nwaited_for, sizeof *r->attribution.waited_for,
               s_tally_cmp);
    if (r->nrefusal_reasons)
        qsort (r->refusal_reasons, r->nrefusal_reasons, sizeof *r->refusal_reasons, s_tally_cmp);
    if (r->nrefusal_agreements)
        qsort (r->refusal_agreements, r->nrefusal_agreements, sizeof *r->refusal_agreements, s_tally_cmp);
    if (r->nheld_agreements)
        qsort (r->held_agreements, r->nheld_agreements, sizeof *r->held_agreements, s_tally_cmp);
    if (r->ndisposals)
        qsort (r->disposals, r->ndisposals, sizeof *r->disposals, s_tally_cmp);
    return 0;
}

int
macx_report_build (const char *run_dir, macx_report_t **out, macx_error_t *err)
{
    *out = NULL;
    s_build_t b = { 0 };
    b.err = err;
    b.r = calloc (1, sizeof *b.r);
    if (!b.r)
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    b.r->last_ms = MACX_REPORT_NONE;
    macx_audit_reader_t *reader = NULL;
    int rc = s_read_run (b.r, run_dir, err);
    if (rc == 0) {
        char data[4096];
        snprintf (data, sizeof data, "%s/broker/data", run_dir);
        reader = macx_audit_reader_open (data, err);
        if (!reader)
            rc = err && err->code ? err->code : MACX_ESTORE;
    }
    if (rc == 0) {
        macx_audit_filter_t filter = { 0 };
        rc = macx_audit_scan (reader, &filter, s_on_entry, &b, err);
    }
    macx_audit_reader_destroy (&reader);
    if (rc == 0)
        rc = s_read_outcomes (&b, run_dir);
    if (rc == 0)
        rc = s_finish (&b);
    free (b.slots);
    free (b.overhead);
    free (b.capvalues);
    free (b.refusals);
    free (b.holds);
    if (rc)
        macx_report_destroy (&b.r);
    *out = b.r;
    return rc;
}

void
macx_report_destroy (macx_report_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    macx_report_t *r = *self_p;
    for (int p = 1; p <= MACX_REPORT_PHASES; p++)
        free (r->phases[p].values);
    free (r->cases);
    free (r->disposals);
    free (r->refusal_reasons);
    free (r->refusal_agreements);
    free (r->held_agreements);
    free (r->agencies);
    free (r->agreements);
    free (r->attribution.last_by);
    free (r->attribution.waited_for);
    free (r->macs);
    for (size_t k = 0; k < r->ndelivery; k++)
        free (r->delivery[k].values);
    free (r->delivery);
    free (r->unavailable);
    free (r);
    *self_p = NULL;
}

/* ---- report.json ----------------------------------------------------------- */

static const char *const s_outcome_names[] = { "disposed", "stalled", "open" };

/* One macx_report_matching_t as a JSON object. */
static void
s_json_matching (FILE *out, const macx_report_matching_t *m)
{
    fprintf (out, "{\"lookups\": %" PRIu64 ", \"year_of_birth_only\": %" PRIu64 ", \"exact\": %" PRIu64
             ", \"near\": %" PRIu64 ", \"confirmed\": %" PRIu64 ", \"rejected\": %" PRIu64
             ", \"unresolved\": %" PRIu64 ", \"false_confirmed\": %" PRIu64 ", \"own_lost\": %" PRIu64
             ", \"minimised\": %" PRIu64 "}", m->lookups, m->year_only, m->exact, m->near, m->confirmed,
             m->rejected, m->unresolved, m->false_confirmed, m->own_lost, m->minimised);
}

static void
s_json_stats (FILE *out, const macx_report_stats_t *s)
{
    fprintf (out, "{\"n\": %" PRIu64 ", \"p50\": ", s->n);
    s_num (out, s->p50);
    fputs (", \"p90\": ", out);
    s_num (out, s->p90);
    fputs (", \"p99\": ", out);
    s_num (out, s->p99);
    fputs (", \"max\": ", out);
    s_num (out, s->max);
    fputs (", \"min\": ", out);
    s_num (out, s->min);
    fputs (", \"mean\": ", out);
    s_num (out, s->mean);
    fputc ('}', out);
}

static void
s_json_tallies (FILE *out, int indent, const char *keyname, const macx_report_tally_t *t, size_t n)
{
    fputc ('[', out);
    for (size_t i = 0; i < n; i++) {
        fprintf (out, "%s\n%*s{\"%s\": ", i ? "," : "", indent + 2, "", keyname);
        macx_json_str (out, t[i].key);
        fprintf (out, ", \"count\": %" PRIu64 ", \"cases\": %" PRIu64 "}", t[i].count, t[i].cases);
    }
    if (n)
        fprintf (out, "\n%*s", indent, "");
    fputc (']', out);
}

/* "attribution": what ended each phase, how the waits for partners'
 * answers ended, what each agreement carried, and how many partners'
 * answers reached each profile (docs/pilot.md, "Attribution"). */
static void
s_json_attribution (const macx_report_t *r, FILE *out)
{
    fputs ("  \"attribution\": {\n    \"ended_by\": [", out);
    for (int p = 1; p <= MACX_REPORT_PHASES; p++) {
        macx_report_tally_t *t = NULL;
        size_t nt = 0, *last = NULL;
        for (size_t i = 0; i < r->ncases; i++) {
            const macx_report_case_t *c = &r->cases[i];
            if (c->end_ms[p] != MACX_REPORT_NONE && c->held_by[p][0]
                && s_tally (&t, &nt, &last, c->held_by[p], i))
                break;
        }
        if (nt)
            qsort (t, nt, sizeof *t, s_tally_cmp);
        fprintf (out, "%s\n      {\"phase\": \"%s\", \"by\": ", p > 1 ? "," : "", macx_phase_name (p));
        s_json_tallies (out, 6, "agency", t, nt);
        fputc ('}', out);
        free (t);
        free (last);
    }
    fprintf (out, "\n    ],\n    \"answers_wait\": {\"closed\": %" PRIu64 ", \"last_answer\": %" PRIu64
             ", \"timed_out\": %" PRIu64 ",\n      \"last_answer_by\": ", r->attribution.closed,
             r->attribution.last_answer, r->attribution.timed_out);
    s_json_tallies (out, 6, "agency", r->attribution.last_by, r->attribution.nlast_by);
    fputs (",\n      \"timed_out_waiting_for\": ", out);
    s_json_tallies (out, 6, "agency", r->attribution.waited_for, r->attribution.nwaited_for);
    fputs ("},\n    \"agreements\": [", out);
    for (size_t i = 0; i < r->nagreements; i++) {
        const macx_report_agreement_t *g = &r->agreements[i];
        fprintf (out, "%s\n      {\"agreement\": ", i ? "," : "");
        macx_json_str (out, g->id);
        fprintf (out, ", \"shared\": %" PRIu64 ", \"answers\": %" PRIu64 ", \"other\": %" PRIu64
                 ", \"refused\": %" PRIu64 ", \"exact\": %" PRIu64 ", \"near\": %" PRIu64 ", \"fields\": ",
                 g->shared, g->answers, g->other, g->refused, g->exact, g->near);
        if (g->fields_known)
            fprintf (out, "{\"records\": %" PRIu64 ", \"held\": %" PRIu64 ", \"sent\": %" PRIu64
                     ", \"transformed\": %" PRIu64 ", \"withheld\": %" PRIu64 "}}", g->prepared,
                     g->fields_held, g->fields_sent, g->fields_transformed, g->fields_withheld);
        else
            fputs ("null}", out);
    }
    fprintf (out, "%s],\n    \"partners_in_profile\": {\"profiled\": %" PRIu64 ", \"mean\": ",
             r->nagreements ? "\n    " : "", r->attribution.profiled);
    s_num (out, r->attribution.mean_partners);
    fputs (", \"by_partners\": [", out);
    int top = 32;
    while (top > 0 && !r->attribution.by_partners[top])
        top--;
    for (int k = 0; k <= top; k++)
        fprintf (out, "%s%" PRIu64, k ? ", " : "", r->attribution.by_partners[k]);
    fputs ("]}\n  },\n", out);
}

static double
s_pct (uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double) part / (double) whole : 0;
}

static double
s_day (const macx_report_t *r, int64_t sim_ms)
{
    return (double) (sim_ms - r->start_ms) / MACX_REPORT_DAY_MS;
}

void
macx_report_json (const macx_report_t *r, FILE *out)
{
    fputs ("{\n  \"schema\": \"macx-report-v1\",\n  \"run\": {\"name\": ", out);
    macx_json_str (out, r->name);
    fputs (", \"scenario\": ", out);
    macx_json_str (out, r->scenario);
    fprintf (out, ", \"seed\": %" PRIu64 ", \"subjects\": %d, \"start_date\": ", r->seed, r->subjects);
    macx_json_str (out, r->start_date);
    fputs (", \"end_date\": ", out);
    macx_json_str (out, r->end_date);
    fputs (", \"simulated_days\": ", out);
    s_num (out, r->simulated_days);
    fputs (", \"policy_hash\": ", out);
    macx_json_str (out, r->policy_hash);
    fputs (", \"exit\": ", out);
    macx_json_str (out, r->exit);
    fputs (",\n    \"wall_pace_ms\": ", out);
    s_num (out, r->wall_pace_ms);
    fprintf (out, ", \"wall_started_ms\": %" PRId64 ", \"wall_finished_ms\": %" PRId64 ", \"wall_seconds\": ",
             r->wall_started_ms, r->wall_finished_ms);
    s_num (out, r->wall_seconds);
    fprintf (out, "},\n  \"cases\": %zu,\n  \"audit_entries\": %" PRIu64 ",\n  \"records\": {\"accepted\": %"
             PRIu64 ", \"refused\": %" PRIu64 ", \"delivered\": %" PRIu64 "},\n  \"phases\": [",
             r->ncases, r->audit_entries, r->accepted, r->refusals, r->delivered);
    for (int p = 1; p <= MACX_REPORT_PHASES; p++) {
        const macx_report_phase_t *ph = &r->phases[p];
        const macx_report_funnel_t *f = &ph->funnel;
        fprintf (out, "%s\n    {\"phase\": \"%s\", \"skipped\": %s, \"entered\": %" PRIu64 ", \"done\": %"
                 PRIu64 ", \"open\": %" PRIu64 ",\n     \"funnel\": {\"through\": %" PRIu64 ", \"worker\": %"
                 PRIu64 ", \"agreement\": %" PRIu64 ", \"stalled\": %" PRIu64 ", \"waiting\": %" PRIu64
                 "},\n     \"days\": ", p > 1 ? "," : "", macx_phase_name (p), ph->skipped ? "true" : "false",
                 ph->entered, ph->done, ph->open, f->through, f->worker, f->agreement, f->stalled, f->waiting);
        s_json_stats (out, &ph->days);
        fputc ('}', out);
    }
    fputs ("\n  ],\n  \"end_to_end_days\": ", out);
    s_json_stats (out, &r->end_to_end);
    fputs (",\n  \"outcomes\": {", out);
    for (int o = 0; o < 3; o++)
        fprintf (out, "%s\"%s\": %" PRIu64, o ? ", " : "", s_outcome_names[o], r->outcomes[o]);
    uint64_t assessed = r->levels[1] + r->levels[2] + r->levels[3];
    fprintf (out, "},\n  \"levels\": {\"assessed\": %" PRIu64 ", \"not_assessed\": %" PRIu64
             ", \"by_level\": [", assessed, r->levels[0]);
    for (int l = 1; l <= 3; l++) {
        fprintf (out, "%s{\"level\": %d, \"count\": %" PRIu64 ", \"percent\": ", l > 1 ? ", " : "", l,
                 r->levels[l]);
        s_num (out, s_pct (r->levels[l], assessed));
        fputc ('}', out);
    }
    fprintf (out, "]},\n  \"back_to_investigation\": %" PRIu64 ",\n  \"disposals\": ",
             r->back_to_investigation);
    s_json_tallies (out, 2, "kind", r->disposals, r->ndisposals);
    fprintf (out, ",\n  \"refusals\": {\"total\": %" PRIu64 ",\n    \"by_reason\": ", r->refusals);
    s_json_tallies (out, 4, "reason", r->refusal_reasons, r->nrefusal_reasons);
    fputs (",\n    \"by_agreement\": ", out);
    s_json_tallies (out, 4, "agreement", r->refusal_agreements, r->nrefusal_agreements);
    fprintf (out, "},\n  \"held\": {\"total\": %" PRIu64 ",\n    \"by_agreement\": ", r->held);
    s_json_tallies (out, 4, "agreement", r->held_agreements, r->nheld_agreements);
    fprintf (out, "},\n  \"stalled\": {\"cases\": %" PRIu64 ", \"events\": %" PRIu64 ", \"list\": [",
             r->outcomes[MACX_OUTCOME_STALLED], r->stall_events);
    bool first = true;
    for (size_t i = 0; i < r->ncases; i++) {
        const macx_report_case_t *c = &r->cases[i];
        if (c->outcome != MACX_OUTCOME_STALLED)
            continue;
        fprintf (out, "%s\n    {\"case\": ", first ? "" : ",");
        first = false;
        macx_json_str (out, c->case_id);
        fputs (", \"subject\": ", out);
        macx_json_str (out, c->subject);
        fputs (", \"region\": ", out);
        macx_json_str (out, c->region);
        fputs (", \"mac\": ", out);
        macx_json_str (out, c->mac);
        fprintf (out, ", \"open_phase\": ");
        macx_json_str (out, c->open_phase ? macx_phase_name (c->open_phase) : "");
        fputs (", \"agency\": ", out);
        macx_json_str (out, c->stalled_agency);
        fputs (", \"phase\": ", out);
        macx_json_str (out, c->stalled_phase);
        fputs (", \"reason\": ", out);
        macx_json_str (out, c->stalled_reason);
        fputs (", \"agreement\": ", out);
        macx_json_str (out, c->stalled_agreement);
        fputs (", \"why\": ", out);
        macx_json_str (out, c->stalled_why);
        fputs (", \"sim_day\": ", out);
        if (c->stalled_sim_ms == MACX_REPORT_NONE)
            fputs ("null", out);
        else
            s_num (out, s_day (r, c->stalled_sim_ms));
        fputc ('}', out);
    }
    fputs (first ? "]},\n" : "\n  ]},\n", out);
    fprintf (out, "  \"interventions\": {\"cases_with_intervention\": %" PRIu64 ", \"percent\": ",
             r->with_intervention);
    s_num (out, s_pct (r->with_intervention, r->ncases));
    fprintf (out, ", \"cases_taken_up\": %" PRIu64 ", \"percent_taken_up\": ", r->with_delivered);
    s_num (out, s_pct (r->with_delivered, r->ncases));
    fputs ("},\n  \"delivery\": {\"time_to_first_intervention_days\": ", out);
    s_json_stats (out, &r->first_intervention_days);
    fputs (",\n    \"by_kind\": [", out);
    for (size_t k = 0; k < r->ndelivery; k++) {
        const macx_report_delivery_t *d = &r->delivery[k];
        fprintf (out, "%s\n      {\"kind\": ", k ? "," : "");
        macx_json_str (out, d->kind);
        fprintf (out, ", \"issued\": %" PRIu64 ", \"delivered\": %" PRIu64 ", \"declined\": %" PRIu64
                 ", \"waiting_p50_days\": ", d->issued, d->delivered, d->declined);
        s_num (out, d->waiting_days.p50);
        fputs (", \"waiting_p90_days\": ", out);
        s_num (out, d->waiting_days.p90);
        fputs (", \"waiting_max_days\": ", out);
        s_num (out, d->waiting_days.max);
        fputc ('}', out);
    }
    fputs (r->ndelivery ? "\n    ]},\n" : "]},\n", out);
    fprintf (out, "  \"watch\": {\"watched\": %" PRIu64 ", \"events\": %" PRIu64 ", \"tripwires\": %" PRIu64
             ", \"false_alerts\": %" PRIu64 ", \"missed\": %" PRIu64 ", \"alerts\": %" PRIu64
             ", \"alerts_unsolicited\": %" PRIu64 ", \"triaged\": %" PRIu64 ", \"unread\": %" PRIu64
             ", \"reopen_decisions\": %" PRIu64 ", \"reopened\": %" PRIu64 ",\n    \"latency_days\": ",
             r->watch.watched, r->watch.events, r->watch.tripwires, r->watch.false_alerts, r->watch.missed,
             r->watch.alerts, r->watch.alerts_unsolicited, r->watch.triaged,
             r->watch.alerts > r->watch.triaged ? r->watch.alerts - r->watch.triaged : 0,
             r->watch.reopen_decisions, r->watch.reopened);
    s_json_stats (out, &r->watch.latency_days);
    fputs ("},\n", out);
    fputs ("  \"matching\": {\"total\": ", out);
    s_json_matching (out, &r->matching);
    fputs (",\n    \"by_agency\": [", out);
    int nm = 0;
    for (size_t i = 0; i < r->nagencies; i++) {
        const macx_report_agency_t *a = &r->agencies[i];
        if (!a->matching.lookups)
            continue;
        fprintf (out, "%s\n      {\"agency\": ", nm++ ? "," : "");
        macx_json_str (out, a->id);
        fputs (", \"figures\": ", out);
        s_json_matching (out, &a->matching);
        fputc ('}', out);
    }
    fputs (nm ? "\n    ]},\n" : "]},\n", out);
    s_json_attribution (r, out);
    fputs ("  \"panel_unavailable\": [", out);
    for (size_t k = 0; k < r->nunavailable; k++) {
        const macx_report_unavailable_t *u = &r->unavailable[k];
        fprintf (out, "%s\n    {\"agency\": ", k ? "," : "");
        macx_json_str (out, u->agency);
        fputs (", \"why\": ", out);
        macx_json_str (out, u->why);
        fputs (", \"agreement\": ", out);
        macx_json_str (out, u->agreement);
        fprintf (out, ", \"cases\": %" PRIu64 ", \"could_offer\": [", u->cases);
        char kinds[sizeof u->could_offer];
        s_cpy (kinds, sizeof kinds, u->could_offer);
        int n = 0;
        for (char *save = NULL, *t = strtok_r (kinds, ";", &save); t; t = strtok_r (NULL, ";", &save)) {
            fputs (n++ ? ", " : "", out);
            macx_json_str (out, t);
        }
        fputs ("]}", out);
    }
    fputs (r->nunavailable ? "\n  ],\n" : "],\n", out);
    fputs ("  \"macs\": [", out);
    for (size_t i = 0; i < r->nmacs; i++) {
        const macx_report_mac_t *m = &r->macs[i];
        fprintf (out, "%s\n    {\"id\": ", i ? "," : "");
        macx_json_str (out, m->id);
        fputs (", \"chair\": ", out);
        macx_json_str (out, m->chair);
        fprintf (out, ", \"national\": %s, \"overflow_load\": %d, \"cases\": %" PRIu64
                 ", \"overflow_in\": %" PRIu64 ", \"disposed\": %" PRIu64 "}",
                 m->national ? "true" : "false", m->overflow_load, m->cases, m->overflow_in, m->disposed);
    }
    fputs (r->nmacs ? "\n  ],\n" : "],\n", out);
    fputs ("  \"agencies\": [", out);
    for (size_t i = 0; i < r->nagencies; i++) {
        const macx_report_agency_t *a = &r->agencies[i];
        fprintf (out, "%s\n    {\"id\": ", i ? "," : "");
        macx_json_str (out, a->id);
        fputs (", \"kind\": ", out);
        macx_json_str (out, a->kind);
        fputs (", \"region\": ", out);
        macx_json_str (out, a->region);
        fprintf (out, ", \"sent\": %" PRIu64 ", \"refused\": %" PRIu64 ", \"received\": %" PRIu64
                 ", \"work_units\": %" PRIu64 ", \"queue_days\": ", a->sent, a->refused, a->received,
                 a->units);
        s_num (out, a->queue_days);
        fputs (", \"work_days\": ", out);
        s_num (out, a->work_days);
        fputs (", \"mean_queue_days\": ", out);
        s_num (out, a->units ? a->queue_days / (double) a->units : 0);
        fputs (", \"mean_work_days\": ", out);
        s_num (out, a->units ? a->work_days / (double) a->units : 0);
        fputs (",\n     \"phases\": [", out);
        int listed = 0;
        for (int p = 1; p <= MACX_REPORT_PHASES; p++) {
            const macx_report_work_t *w = &a->phases[p];
            if (!w->units)
                continue;
            fprintf (out, "%s{\"phase\": \"%s\", \"work_units\": %" PRIu64 ", \"queued_units\": %" PRIu64
                     ", \"mean_queue_days\": ", listed++ ? ", " : "", macx_phase_name (p), w->units, w->queued);
            s_num (out, w->queue_days / (double) w->units);
            fputs (", \"max_queue_days\": ", out);
            s_num (out, w->max_queue_days);
            fputs (", \"mean_work_days\": ", out);
            s_num (out, w->work_days / (double) w->units);
            fputc ('}', out);
        }
        fputs ("]}", out);
    }
    fprintf (out, "%s],\n  \"skipped_outcome_lines\": %d,\n", r->nagencies ? "\n  " : "",
             r->skipped_lines);
    /* last and apart: how fast this machine ran it, not what the pilot found */
    fputs ("  \"wall_performance\": {\"wall_seconds\": ", out);
    s_num (out, r->wall_seconds);
    fprintf (out, ", \"records\": %" PRIu64 ", \"wall_records_per_second\": ", r->accepted);
    s_num (out, r->wall_records_per_second);
    fputs (", \"wall_ms_per_subject\": ", out);
    s_num (out, r->wall_ms_per_subject);
    fputs (",\n    \"broker_wall_ms_per_record\": ", out);
    s_json_stats (out, &r->broker_wall_ms);
    fputs ("}\n}\n", out);
}

/* ---- phases.csv ------------------------------------------------------------ */

static void
s_csv (FILE *out, const char *s)
{
    if (!strpbrk (s, ",\"\n\r")) {
        fputs (s, out);
        return;
    }
    fputc ('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc ('"', out);
        fputc (*s, out);
    }
    fputc ('"', out);
}

void
macx_report_csv (const macx_report_t *r, FILE *out)
{
    fputs ("subject,case,region,mac,phase,start_day,end_day,days,held_by,status,ended_how,partners\n", out);
    for (size_t i = 0; i < r->ncases; i++) {
        const macx_report_case_t *c = &r->cases[i];
        for (int p = 1; p <= MACX_REPORT_PHASES; p++) {
            if (c->start_ms[p] == MACX_REPORT_NONE)
                continue;
            s_csv (out, c->subject);
            fputc (',', out);
            s_csv (out, c->case_id);
            fputc (',', out);
            s_csv (out, c->region);
            fputc (',', out);
            s_csv (out, c->mac);
            fprintf (out, ",%s,%.5f,", macx_phase_name (p), s_day (r, c->start_ms[p]));
            bool done = c->end_ms[p] != MACX_REPORT_NONE;
            if (done)
                fprintf (out, "%.5f,%.5f,", s_day (r, c->end_ms[p]),
                         (double) (c->end_ms[p] - c->start_ms[p]) / MACX_REPORT_DAY_MS);
            else
                fputs (",,", out);
            s_csv (out, c->held_by[p]);
            fputs (done ? ",done," : ",open,", out);
            /* how the phase ended: enrichment waits for partners' answers */
            char how[sizeof c->waited_for + 32] = "";
            if (done && p == MACX__PHASE__ENRICHMENT && strcmp (c->ended_how, "wait_timed_out") == 0)
                snprintf (how, sizeof how, "wait_timed_out:%s", c->waited_for);
            else if (done && p == MACX__PHASE__ENRICHMENT && c->ended_how[0])
                snprintf (how, sizeof how, "last_answer:%s", c->last_answer);
            else if (done)
                snprintf (how, sizeof how, "record");
            s_csv (out, how);
            if (c->partners >= 0)
                fprintf (out, ",%d\n", c->partners);
            else
                fputs (",\n", out);
        }
    }
}

/* ---- writing ----------------------------------------------------------------- */

typedef void (*s_doc_fn) (const macx_report_t *r, FILE *out);

static int
s_write_doc (const macx_report_t *r, const char *run_dir, const char *name, s_doc_fn fn,
             macx_error_t *err)
{
    char path[4096], *buf = NULL;
    size_t len = 0;
    snprintf (path, sizeof path, "%s/%s", run_dir, name);
    FILE *mem = open_memstream (&buf, &len);
    if (!mem)
        return macx_error_set (err, MACX_ENOMEM, "%s: out of memory", path);
    fn (r, mem);
    if (fclose (mem) != 0) {
        free (buf);
        return macx_error_set (err, MACX_ENOMEM, "%s: out of memory", path);
    }
    int rc = macx_file_write (path, buf, len, 0644, 0, err);
    free (buf);
    return rc;
}

int
macx_report_write (const macx_report_t *r, const char *run_dir, macx_error_t *err)
{
    int rc = s_write_doc (r, run_dir, "report.json", macx_report_json, err);
    if (rc == 0)
        rc = s_write_doc (r, run_dir, "phases.csv", macx_report_csv, err);
    if (rc == 0)
        rc = s_write_doc (r, run_dir, "report.html", macx_report_html, err);
    return rc;
}

/* ---- summary ----------------------------------------------------------------- */

/* v (0 or more) rounded to a whole number, with thousands separators
 * ("16,030"), in buf (cut short if size is too small). Returns buf. */
static char *
s_thousands (char *buf, size_t size, double v)
{
    assert (size > 0);
    char digits[32];
    snprintf (digits, sizeof digits, "%.0f", isfinite (v) && v > 0 && v < 1e18 ? v : 0);
    size_t n = strlen (digits), o = 0;
    for (size_t i = 0; i < n && o + 3 < size; i++) {
        if (i && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
    return buf;
}

/* Words for identifiers a scenario spells with underscores: a disposal kind
 * ("no_further_action": "No further action") or an agency kind. The table
 * holds what capitalising the first word would get wrong; anything else is
 * the identifier with spaces, first letter capitalised. */
static const struct {
    const char *id, *words;
} s_words[] = {
    { "prevent_channel_referral", "Prevent (Channel) referral" },
    { "mental_health_support", "Mental health support" },
    { "mi5", "MI5" },
    { "ctp", "Counter-Terrorism Policing" },
    { "ogd", "other government department" },
    { "local_authority", "local authority" },
};

const char *
macx_report_words (char *buf, size_t size, const char *id, bool capital)
{
    for (size_t i = 0; i < sizeof s_words / sizeof s_words[0]; i++)
        if (strcmp (id, s_words[i].id) == 0) {
            snprintf (buf, size, "%s", s_words[i].words);
            return buf;
        }
    snprintf (buf, size, "%s", id);
    for (char *c = buf; *c; c++)
        if (*c == '_')
            *c = ' ';
    if (capital && buf[0] >= 'a' && buf[0] <= 'z')
        buf[0] = (char) (buf[0] - 'a' + 'A');
    return buf;
}

void
macx_report_print_summary (const macx_report_t *r, FILE *out)
{
    fprintf (out, "%s: %zu cases of %d subjects, seed %" PRIu64 ", start %s, %.1f simulated days\n\n",
             r->name[0] ? r->name : "pilot", r->ncases, r->subjects, r->seed, r->start_date,
             r->simulated_days);
    fprintf (out, "%-16s %6s %6s %8s %8s %8s %8s %8s\n", "phase (days)", "n", "open", "p50", "p90",
             "p99", "max", "mean");
    for (int p = 1; p <= MACX_REPORT_PHASES; p++) {
        const macx_report_phase_t *ph = &r->phases[p];
        if (ph->skipped)
            fprintf (out, "%-16s %6s    skipped (no subject entered it; a later phase ran)\n",
                     macx_phase_name (p), "-");
        else
            fprintf (out, "%-16s %6" PRIu64 " %6" PRIu64 " %8.2f %8.2f %8.2f %8.2f %8.2f\n",
                     macx_phase_name (p), ph->done, ph->open, ph->days.p50, ph->days.p90, ph->days.p99,
                     ph->days.max, ph->days.mean);
    }
    const macx_report_stats_t *e = &r->end_to_end;
    fprintf (out, "%-16s %6" PRIu64 " %6s %8.2f %8.2f %8.2f %8.2f %8.2f\n", "end to end", e->n, "",
             e->p50, e->p90, e->p99, e->max, e->mean);
    uint64_t total = r->outcomes[0] + r->outcomes[1] + r->outcomes[2];
    fprintf (out, "\noutcomes: ");
    for (int o = 0; o < 3; o++)
        fprintf (out, "%s%s %" PRIu64 " (%.1f%%)", o ? ", " : "", s_outcome_names[o], r->outcomes[o],
                 s_pct (r->outcomes[o], total));
    uint64_t assessed = r->levels[1] + r->levels[2] + r->levels[3];
    fprintf (out, "\nlevels:   ");
    for (int l = 1; l <= 3; l++)
        fprintf (out, "%sLevel %d %" PRIu64 " (%.1f%%)", l > 1 ? ", " : "", l, r->levels[l],
                 s_pct (r->levels[l], assessed));
    fprintf (out, "; Level 2 or 3: %.1f%%; back to investigation %" PRIu64 "\n",
             s_pct (r->levels[2] + r->levels[3], assessed), r->back_to_investigation);
    if (r->ndisposals) {
        fprintf (out, "disposals:");
        for (size_t i = 0; i < r->ndisposals; i++)
        {
            char words[128];
            fprintf (out, "%s %s %" PRIu64, i ? "," : "",
                     macx_report_words (words, sizeof words, r->disposals[i].key, true),
                     r->disposals[i].count);
        }
        fputc ('\n', out);
    }
    fprintf (out, "interventions: %" PRIu64 " cases (%.1f%%) had one issued, %" PRIu64 " (%.1f%%) took "
             "one up; time to first intervention %.1f days p50, %.1f p90\n", r->with_intervention,
             s_pct (r->with_intervention, r->ncases), r->with_delivered, s_pct (r->with_delivered, r->ncases),
             r->first_intervention_days.p50, r->first_intervention_days.p90);
    for (size_t i = 0; i < r->nunavailable; i++) {
        const macx_report_unavailable_t *u = &r->unavailable[i];
        char kinds[sizeof u->could_offer];
        s_cpy (kinds, sizeof kinds, u->could_offer);
        for (char *c = kinds; *c; c++)
            if (*c == ';')
                *c = ',';
        bool refused = strcmp (u->why, "NOT_REACHED") == 0;
        fprintf (out, "not on the panel: %s, for %" PRIu64 " cases: %s%s; what it would offer (%s) "
                 "could not be issued to it\n", u->agency, u->cases,
                 refused ? "its share was refused under " : "it had not answered when the profile was made",
                 refused ? u->agreement : "", kinds[0] ? kinds : "nothing");
    }
    fprintf (out, "refusals: %" PRIu64, r->refusals);
    for (size_t i = 0; i < r->nrefusal_agreements && i < 5; i++)
        fprintf (out, "%s %s %" PRIu64 " (%" PRIu64 " cases)", i ? "," : ";", r->refusal_agreements[i].key,
                 r->refusal_agreements[i].count, r->refusal_agreements[i].cases);
    for (size_t i = 0; i < r->nrefusal_reasons && i < 5; i++)
        fprintf (out, "%s %s %" PRIu64, i ? "," : "; by reason:", r->refusal_reasons[i].key,
                 r->refusal_reasons[i].count);
    if (r->held) {
        fprintf (out, "\nheld back for daily caps: %" PRIu64, r->held);
        for (size_t i = 0; i < r->nheld_agreements && i < 5; i++)
            fprintf (out, "%s %s %" PRIu64 " (%" PRIu64 " cases)", i ? "," : ";", r->held_agreements[i].key,
                     r->held_agreements[i].count, r->held_agreements[i].cases);
    }
    fprintf (out, "\nstalled:  %" PRIu64 " cases", r->outcomes[MACX_OUTCOME_STALLED]);
    int shown = 0;
    for (size_t i = 0; i < r->ncases && shown < 3; i++) {
        const macx_report_case_t *c = &r->cases[i];
        if (c->outcome != MACX_OUTCOME_STALLED)
            continue;
        fprintf (out, "%s %s (%s %s%s%s)", shown++ ? "," : "; e.g.", c->case_id, c->stalled_reason,
                 c->stalled_phase, c->stalled_agreement[0] ? ", " : "", c->stalled_agreement);
    }
    /* on a line of its own and labelled, so nobody reads it as a finding */
    char recs[32], rate[32];
    fprintf (out, "\nperformance (wall clock): %.1f s, %s records", r->wall_seconds,
             s_thousands (recs, sizeof recs, (double) r->accepted));
    if (isfinite (r->wall_records_per_second))
        fprintf (out, ", %s records/s", s_thousands (rate, sizeof rate, r->wall_records_per_second));
    if (isfinite (r->wall_ms_per_subject))
        fprintf (out, ", %.1f ms per subject", r->wall_ms_per_subject);
    fprintf (out, "; broker %.1f ms per record p50, %.1f ms p99\n", r->broker_wall_ms.p50,
             r->broker_wall_ms.p99);
}

/* ---- compare ----------------------------------------------------------------- */

typedef struct {
    double score;                        /* how material, for ordering */
    char text[256];
} s_change_t;

typedef struct {
    s_change_t *v;
    size_t n, cap;
} s_changes_t;

static void
s_change_add (s_changes_t *c, double score, const char *text)
{
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 32;
        s_change_t *v = realloc (c->v, nc * sizeof *v);
        if (!v)
            return;
        c->v = v;
        c->cap = nc;
    }
    c->v[c->n].score = score;
    s_cpy (c->v[c->n].text, sizeof c->v[c->n].text, text);
    c->n++;
}

/* Largest first; equal scores by their text, so the order is complete. */
static int
s_change_cmp (const void *a, const void *b)
{
    const s_change_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return strcmp (x->text, y->text);
}

/* Relative change in percent; NAN when a is 0 (a new thing). */
static double
s_rel (double a, double b)
{
    return a != 0 ? 100.0 * (b - a) / fabs (a) : NAN;
}

static double
s_score (double a, double b)
{
    double r = s_rel (a, b);
    return isnan (r) ? 1e9 : fabs (r);
}

static void
s_pct_text (char *buf, size_t size, double a, double b)
{
    double r = s_rel (a, b);
    if (isnan (r))
        snprintf (buf, size, "%s", b == 0 ? "=" : "new");
    else
        snprintf (buf, size, "%+.1f%%", r);
}

/* A days metric changed materially: at least a hundredth of a day and 1%. */
static void
s_days_change (s_changes_t *ch, const char *what, const char *q, double a, double b)
{
    if (fabs (b - a) < 0.01 || (a != 0 && fabs (s_rel (a, b)) < 1.0))
        return;
    char pct[32], text[256];
    s_pct_text (pct, sizeof pct, a, b);
    snprintf (text, sizeof text, "%s %s %s from %.2f to %.2f days (%+.2f, %s)", what, q,
              b > a ? "rose" : "fell", a, b, b - a, pct);
    s_change_add (ch, s_score (a, b), text);
}

static void
s_count_change (s_changes_t *ch, const char *what, uint64_t a, uint64_t b)
{
    if (a == b)
        return;
    char pct[32], text[256];
    s_pct_text (pct, sizeof pct, (double) a, (double) b);
    snprintf (text, sizeof text, "%s %s from %" PRIu64 " to %" PRIu64 " (%+" PRId64 ", %s)", what,
              b > a ? "rose" : "fell", a, b, (int64_t) b - (int64_t) a, pct);
    s_change_add (ch, s_score ((double) a, (double) b), text);
}

static uint64_t
s_tally_get (const macx_report_tally_t *t, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp (t[i].key, key) == 0)
            return t[i].count;
    return 0;
}

/* Calls fn for every key in the union of two tallies, in a's order then b's. */
typedef void (*s_union_fn) (const char *key, uint64_t a, uint64_t b, void *arg);
static void
s_union (const macx_report_tally_t *ta, size_t na, const macx_report_tally_t *tb, size_t nb,
         s_union_fn fn, void *arg)
{
    for (size_t i = 0; i < na; i++)
        fn (ta[i].key, ta[i].count, s_tally_get (tb, nb, ta[i].key), arg);
    for (size_t i = 0; i < nb; i++)
        if (!s_tally_get (ta, na, tb[i].key))
            fn (tb[i].key, 0, tb[i].count, arg);
}

typedef struct {
    FILE *out;
    bool json;
    bool first;
    const char *keyname;
    const char *label;                   /* for change sentences */
    s_changes_t *ch;
} s_union_ctx_t;

static void
s_union_row (const char *key, uint64_t a, uint64_t b, void *arg)
{
    s_union_ctx_t *u = arg;
    char pct[32];
    s_pct_text (pct, sizeof pct, (double) a, (double) b);
    if (u->json) {
        fprintf (u->out, "%s\n    {\"%s\": ", u->first ? "" : ",", u->keyname);
        macx_json_str (u->out, key);
        fprintf (u->out, ", \"a\": %" PRIu64 ", \"b\": %" PRIu64 ", \"delta\": %" PRId64 ", \"percent\": ",
                 a, b, (int64_t) b - (int64_t) a);
        s_num (u->out, s_rel ((double) a, (double) b));
        fputc ('}', u->out);
    }
    else
        fprintf (u->out, "  %-34s %10" PRIu64 " %10" PRIu64 " %+10" PRId64 " %9s\n", key, a, b,
                 (int64_t) b - (int64_t) a, pct);
    u->first = false;
    char what[160];
    snprintf (what, sizeof what, "%s %s", u->label, key);
    s_count_change (u->ch, what, a, b);
}

/* s_union_row for the partners a wait timed out on, labelled as such. */
static void
s_union_row_on (const char *key, uint64_t a, uint64_t b, void *arg)
{
    char label[MACX_REPORT_ID + 16];
    snprintf (label, sizeof label, "timed out on %s", key);
    s_union_ctx_t *u = arg;
    if (u->json)
        s_union_row (key, a, b, arg);
    else
        s_union_row (label, a, b, arg);
}

static void
s_json_run_ref (FILE *out, const macx_report_t *r)
{
    fputs ("{\"name\": ", out);
    macx_json_str (out, r->name);
    fputs (", \"scenario\": ", out);
    macx_json_str (out, r->scenario);
    fprintf (out, ", \"seed\": %" PRIu64 ", \"subjects\": %d, \"cases\": %zu, \"policy_hash\": ", r->seed,
             r->subjects, r->ncases);
    macx_json_str (out, r->policy_hash);
    fputc ('}', out);
}

static void
s_cmp_stats_json (FILE *out, const macx_report_stats_t *a, const macx_report_stats_t *b)
{
    fprintf (out, "\"n\": {\"a\": %" PRIu64 ", \"b\": %" PRIu64 "}", a->n, b->n);
    const char *qs[] = { "p50", "p90" };
    double va[] = { a->p50, a->p90 }, vb[] = { b->p50, b->p90 };
    for (int i = 0; i < 2; i++) {
        fprintf (out, ", \"%s\": {\"a\": ", qs[i]);
        s_num (out, va[i]);
        fputs (", \"b\": ", out);
        s_num (out, vb[i]);
        fputs (", \"delta\": ", out);
        s_num (out, vb[i] - va[i]);
        fputs (", \"percent\": ", out);
        s_num (out, s_rel (va[i], vb[i]));
        fputc ('}', out);
    }
}

static void
s_cmp_stats_text (FILE *out, const char *name, const macx_report_stats_t *a, const macx_report_stats_t *b)
{
    if (!a->n || !b->n) {   /* nobody finished it in one run (skipped, or all open) */
        char va[2][16], vb[2][16];
        snprintf (va[0], sizeof va[0], a->n ? "%.2f" : "-", a->p50);
        snprintf (va[1], sizeof va[1], a->n ? "%.2f" : "-", a->p90);
        snprintf (vb[0], sizeof vb[0], b->n ? "%.2f" : "-", b->p50);
        snprintf (vb[1], sizeof vb[1], b->n ? "%.2f" : "-", b->p90);
        fprintf (out, "  %-16s %5" PRIu64 " %5" PRIu64 " %8s %8s %8s %8s %8s %8s %8s %8s\n", name,
                 a->n, b->n, va[0], vb[0], "-", "", va[1], vb[1], "-", "");
        return;
    }
    char p1[32], p2[32];
    s_pct_text (p1, sizeof p1, a->p50, b->p50);
    s_pct_text (p2, sizeof p2, a->p90, b->p90);
    fprintf (out, "  %-16s %5" PRIu64 " %5" PRIu64 " %8.2f %8.2f %+8.2f %8s %8.2f %8.2f %+8.2f %8s\n", name,
             a->n, b->n, a->p50, b->p50, b->p50 - a->p50, p1, a->p90, b->p90, b->p90 - a->p90, p2);
}

void
macx_report_compare_reports (const macx_report_t *a, const macx_report_t *b, FILE *out, bool json)
{
    s_changes_t ch = { 0 };
    /* phases */
    for (int p = 1; p <= MACX_REPORT_PHASES; p++) {
        const macx_report_stats_t *sa = &a->phases[p].days, *sb = &b->phases[p].days;
        if (a->phases[p].skipped != b->phases[p].skipped) {
            char text[128];
            snprintf (text, sizeof text, "%s is skipped in %s only", macx_phase_name (p),
                      a->phases[p].skipped ? "A" : "B");
            s_change_add (&ch, 1e9, text);
        }
        if (sa->n && sb->n) {
            s_days_change (&ch, macx_phase_name (p), "p50", sa->p50, sb->p50);
            s_days_change (&ch, macx_phase_name (p), "p90", sa->p90, sb->p90);
        }
        char what[64];
        snprintf (what, sizeof what, "subjects reaching %s", macx_phase_name (p));
        s_count_change (&ch, what, a->phases[p].entered, b->phases[p].entered);
    }
    s_days_change (&ch, "end to end", "p50", a->end_to_end.p50, b->end_to_end.p50);
    s_days_change (&ch, "end to end", "p90", a->end_to_end.p90, b->end_to_end.p90);
    for (int o = 0; o < 3; o++) {
        char what[64];
        snprintf (what, sizeof what, "%s subjects", s_outcome_names[o]);
        s_count_change (&ch, what, a->outcomes[o], b->outcomes[o]);
    }
    for (int l = 1; l <= 3; l++) {
        char what[64];
        snprintf (what, sizeof what, "Level %d subjects", l);
        s_count_change (&ch, what, a->levels[l], b->levels[l]);
    }
    s_count_change (&ch, "refusals", a->refusals, b->refusals);

    if (json) {
        fputs ("{\n  \"a\": ", out);
        s_json_run_ref (out, a);
        fputs (",\n  \"b\": ", out);
        s_json_run_ref (out, b);
        fputs (",\n  \"phases\": [", out);
        for (int p = 1; p <= MACX_REPORT_PHASES; p++) {
            fprintf (out, "%s\n    {\"phase\": \"%s\", \"entered\": {\"a\": %" PRIu64 ", \"b\": %" PRIu64 "}, ",
                     p > 1 ? "," : "", macx_phase_name (p), a->phases[p].entered, b->phases[p].entered);
            s_cmp_stats_json (out, &a->phases[p].days, &b->phases[p].days);
            fputc ('}', out);
        }
        fputs ("\n  ],\n  \"end_to_end\": {", out);
        s_cmp_stats_json (out, &a->end_to_end, &b->end_to_end);
        fputs ("},\n  \"outcomes\": {", out);
        for (int o = 0; o < 3; o++)
            fprintf (out, "%s\"%s\": {\"a\": %" PRIu64 ", \"b\": %" PRIu64 ", \"delta\": %" PRId64 "}",
                     o ? ", " : "", s_outcome_names[o], a->outcomes[o], b->outcomes[o],
                     (int64_t) b->outcomes[o] - (int64_t) a->outcomes[o]);
        fputs ("},\n  \"levels\": [", out);
        uint64_t aa = a->levels[1] + a->levels[2] + a->levels[3];
        uint64_t ba = b->levels[1] + b->levels[2] + b->levels[3];
        for (int l = 1; l <= 3; l++) {
            fprintf (out, "%s{\"level\": %d, \"a\": %" PRIu64 ", \"b\": %" PRIu64 ", \"a_percent\": ",
                     l > 1 ? ", " : "", l, a->levels[l], b->levels[l]);
            s_num (out, s_pct (a->levels[l], aa));
            fputs (", \"b_percent\": ", out);
            s_num (out, s_pct (b->levels[l], ba));
            fputc ('}', out);
        }
        fprintf (out, "],\n  \"refusals\": {\"a\": %" PRIu64 ", \"b\": %" PRIu64 "},\n  \"refusals_by_reason\": [",
                 a->refusals, b->refusals);
        s_changes_t scratch = { 0 };
        s_union_ctx_t u = { out, true, true, "reason", "refusals for", &scratch };
        s_union (a->refusal_reasons, a->nrefusal_reasons, b->refusal_reasons, b->nrefusal_reasons,
                 s_union_row, &u);
        fputs ("],\n  \"refusals_by_agreement\": [", out);
        u.first = true;
        u.keyname = "agreement";
        u.label = "refusals under";
        u.ch = &ch;
        s_union (a->refusal_agreements, a->nrefusal_agreements, b->refusal_agreements,
                 b->nrefusal_agreements, s_union_row, &u);
        fprintf (out, "],\n  \"answers_wait\": {\"last_answer\": {\"a\": %" PRIu64 ", \"b\": %" PRIu64
                 "}, \"timed_out\": {\"a\": %" PRIu64 ", \"b\": %" PRIu64 "}, \"partners_per_profile\": {\"a\": ",
                 a->attribution.last_answer, b->attribution.last_answer, a->attribution.timed_out,
                 b->attribution.timed_out);
        s_num (out, a->attribution.mean_partners);
        fputs (", \"b\": ", out);
        s_num (out, b->attribution.mean_partners);
        fputs ("},\n    \"timed_out_waiting_for\": [", out);
        u.first = true;
        u.keyname = "agency";
        u.label = "waits for answers timed out on";
        s_union (a->attribution.waited_for, a->attribution.nwaited_for, b->attribution.waited_for,
                 b->attribution.nwaited_for, s_union_row, &u);
        s_count_change (&ch, "waits for answers that timed out", a->attribution.timed_out,
                        b->attribution.timed_out);
        fprintf (out, "]},\n  \"stalled\": {\"a\": %" PRIu64 ", \"b\": %" PRIu64 ", \"delta\": %" PRId64 "},\n",
                 a->outcomes[MACX_OUTCOME_STALLED], b->outcomes[MACX_OUTCOME_STALLED],
                 (int64_t) b->outcomes[MACX_OUTCOME_STALLED] - (int64_t) a->outcomes[MACX_OUTCOME_STALLED]);
        free (scratch.v);
        if (ch.n)
            qsort (ch.v, ch.n, sizeof *ch.v, s_change_cmp);
        fputs ("  \"changes\": [", out);
        for (size_t i = 0; i < ch.n; i++) {
            fputs (i ? ",\n    " : "\n    ", out);
            macx_json_str (out, ch.v[i].text);
        }
        fputs (ch.n ? "\n  ]\n}\n" : "]\n}\n", out);
        free (ch.v);
        return;
    }

    fprintf (out, "A: %s (seed %" PRIu64 ", %zu cases)  %s\nB: %s (seed %" PRIu64 ", %zu cases)  %s\n\n",
             a->name, a->seed, a->ncases, a->scenario, b->name, b->seed, b->ncases, b->scenario);
    fprintf (out, "  %-16s %5s %5s %8s %8s %8s %8s %8s %8s %8s %8s\n", "phase (days)", "n A", "n B",
             "p50 A", "p50 B", "delta", "change", "p90 A", "p90 B", "delta", "change");
    for (int p = 1; p <= MACX_REPORT_PHASES; p++)
        s_cmp_stats_text (out, macx_phase_name (p), &a->phases[p].days, &b->phases[p].days);
    s_cmp_stats_text (out, "end to end", &a->end_to_end, &b->end_to_end);
    fprintf (out, "\n  %-34s %10s %10s %10s %9s\n", "subjects", "A", "B", "delta", "change");
    for (int p = 1; p <= MACX_REPORT_PHASES; p++) {
        char what[64], pct[32];
        snprintf (what, sizeof what, "reached %s", macx_phase_name (p));
        s_pct_text (pct, sizeof pct, (double) a->phases[p].entered, (double) b->phases[p].entered);
        fprintf (out, "  %-34s %10" PRIu64 " %10" PRIu64 " %+10" PRId64 " %9s\n", what, a->phases[p].entered,
                 b->phases[p].entered, (int64_t) b->phases[p].entered - (int64_t) a->phases[p].entered, pct);
    }
    for (int o = 0; o < 3; o++) {
        char pct[32];
        s_pct_text (pct, sizeof pct, (double) a->outcomes[o], (double) b->outcomes[o]);
        fprintf (out, "  %-34s %10" PRIu64 " %10" PRIu64 " %+10" PRId64 " %9s\n", s_outcome_names[o],
                 a->outcomes[o], b->outcomes[o], (int64_t) b->outcomes[o] - (int64_t) a->outcomes[o], pct);
    }
    for (int l = 1; l <= 3; l++) {
        char what[32], pct[32];
        snprintf (what, sizeof what, "Level %d", l);
        s_pct_text (pct, sizeof pct, (double) a->levels[l], (double) b->levels[l]);
        fprintf (out, "  %-34s %10" PRIu64 " %10" PRIu64 " %+10" PRId64 " %9s\n", what, a->levels[l],
                 b->levels[l], (int64_t) b->levels[l] - (int64_t) a->levels[l], pct);
    }
    fprintf (out, "\n  %-34s %10s %10s %10s %9s\n", "refusals by reason", "A", "B", "delta", "change");
    s_changes_t scratch = { 0 };
    s_union_ctx_t u = { out, false, true, "reason", "refusals for", &scratch };
    s_union (a->refusal_reasons, a->nrefusal_reasons, b->refusal_reasons, b->nrefusal_reasons,
             s_union_row, &u);
    free (scratch.v);
    fprintf (out, "\n  %-34s %10s %10s %10s %9s\n", "refusals by agreement", "A", "B", "delta", "change");
    u.ch = &ch;
    u.label = "refusals under";
    s_union (a->refusal_agreements, a->nrefusal_agreements, b->refusal_agreements,
             b->nrefusal_agreements, s_union_row, &u);
    /* attribution: how the waits for answers ended, and what reached the profiles */
    fprintf (out, "\n  %-34s %10s %10s %10s %9s\n", "waits for partners' answers", "A", "B", "delta", "change");
    u.label = "waits for answers";
    s_union_row ("ended with the last answer", a->attribution.last_answer, b->attribution.last_answer, &u);
    s_union_row ("timed out", a->attribution.timed_out, b->attribution.timed_out, &u);
    u.label = "waits for answers";
    s_union (a->attribution.waited_for, a->attribution.nwaited_for, b->attribution.waited_for,
             b->attribution.nwaited_for, s_union_row_on, &u);
    if (a->attribution.profiled || b->attribution.profiled)
        fprintf (out, "  %-34s %10.2f %10.2f %+10.2f\n", "partners per profile (mean)",
                 a->attribution.profiled ? a->attribution.mean_partners : 0.0,
                 b->attribution.profiled ? b->attribution.mean_partners : 0.0,
                 (b->attribution.profiled ? b->attribution.mean_partners : 0.0)
                     - (a->attribution.profiled ? a->attribution.mean_partners : 0.0));
    if (ch.n)
        qsort (ch.v, ch.n, sizeof *ch.v, s_change_cmp);
    fputs ("\nwhat changed (B against A):\n", out);
    if (!ch.n)
        fputs ("  nothing material\n", out);
    for (size_t i = 0; i < ch.n; i++)
        fprintf (out, "  - %s\n", ch.v[i].text);
    free (ch.v);
}

int
macx_report_compare (const char *run_a, const char *run_b, FILE *out, bool json, macx_error_t *err)
{
    macx_report_t *a = NULL, *b = NULL;
    int rc = macx_report_build (run_a, &a, err);
    if (rc == 0)
        rc = macx_report_build (run_b, &b, err);
    if (rc == 0)
        macx_report_compare_reports (a, b, out, json);
    macx_report_destroy (&a);
    macx_report_destroy (&b);
    return rc;
}
