/* diff.c -- exact comparison of two policies by enumerating the finite
 * decision space (sender x recipient x record type x purpose x phase, and
 * every field of the type), classing each change as widening or narrowing;
 * plus changes of agreement status and dates. Writes to the caller's stream. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "names.h"
#include "policy_int.h"

/* The date-independent outcome of one cell in one policy. */
typedef struct {
    bool permit;
    const macx_flow_t *flow;
    const macx_agreement_t *agreement;
    const macx_rtype_t *type;
} s_cell_t;

typedef struct {
    char **lines;
    size_t n, cap;
} s_lines_t;

static void
s_push (s_lines_t *l, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_push (s_lines_t *l, const char *fmt, ...)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **n = realloc (l->lines, cap * sizeof *n);
        if (!n)
            return;
        l->lines = n;
        l->cap = cap;
    }
    char buf[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (buf, sizeof buf, fmt, ap);
    va_end (ap);
    if ((l->lines[l->n] = strdup (buf)))
        l->n++;
}

static void
s_static (const macx_policy_t *p, const char *from_id, const char *to_id, const char *type_id,
          const char *purpose_id, int phase, s_cell_t *c)
{
    memset (c, 0, sizeof *c);
    int from = macx_policy_find_agency (p, from_id), to = macx_policy_find_agency (p, to_id);
    int type = macx_policy_find_type (p, type_id), u = macx_policy_find_purpose (p, purpose_id);
    if (from < 0 || to < 0 || type < 0 || u < 0)
        return;
    c->type = &p->types[type];
    size_t cell = macx_policy_cell (p, from, to, type);
    for (int k = p->cell_start[cell]; k < p->cell_start[cell + 1]; k++) {
        const macx_flow_t *f = &p->flows[p->cell_flows[k]];
        if ((f->purposes >> u & 1) && (f->phases >> phase & 1)) {
            const macx_agreement_t *a = &p->agreements[f->agreement];
            c->flow = f;
            c->agreement = a;
            c->permit = a->status == MACX_AGREEMENT_ACTIVE && (a->disclose >> from & 1)
                        && (a->receive >> to & 1);
            return;
        }
    }
}

/* A field's outcome in a permitted cell: rank 0 dropped, 1 transformed, 2 released. */
static int
s_field (const macx_policy_t *p, const s_cell_t *c, const char *from_id, const char *to_id,
         const char *field, const char **how)
{
    *how = "dropped";
    if (!c->permit)
        return 0;
    int fi = macx_policy_names_find (&c->type->names, field);
    if (fi < 0)
        return 0;
    int from = macx_policy_find_agency (p, from_id), to = macx_policy_find_agency (p, to_id);
    int type = (int) (c->type - p->types);
    if (p->cell_forbid[macx_policy_cell (p, from, to, type)] >> fi & 1) {
        *how = "forbidden";
        return 0;
    }
    if (c->flow->xform >> fi & 1) {
        *how = macx_policy_transform_names[c->flow->xform_of[fi]];
        return 1;
    }
    if (c->flow->allow >> fi & 1) {
        *how = "released";
        return 2;
    }
    *how = "not allowed";
    return 0;
}

/* Onward sharing as a rank: prohibited < named agreements < originator consent. */
static int
s_onward_rank (const macx_flow_t *f)
{
    return f->onward == MACX_ONWARD_PROHIBITED ? 0 : f->onward == MACX_ONWARD_AGREEMENTS ? 1 : 2;
}

/* Names from both policies, de-duplicated, in first-seen order. */
typedef struct {
    const char *v[2 * MACX_POLICY_MAX_AGENCIES];
    int n;
} s_set_t;

static void
s_set_add (s_set_t *s, const char *v)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp (s->v[i], v) == 0)
            return;
    if (s->n < (int) (sizeof s->v / sizeof s->v[0]))
        s->v[s->n++] = v;
}

static void
s_agreements (const macx_policy_t *a, const macx_policy_t *b, s_lines_t *wide, s_lines_t *narrow)
{
    char d1[16], d2[16];
    for (int i = 0; i < a->nagreements; i++)
        if (macx_policy_find_agreement (b, a->agreements[i].id) < 0)
            s_push (narrow, "- agreement %s removed", a->agreements[i].id);
    for (int j = 0; j < b->nagreements; j++) {
        const macx_agreement_t *n = &b->agreements[j];
        int i = macx_policy_find_agreement (a, n->id);
        if (i < 0) {
            s_push (n->status == MACX_AGREEMENT_ACTIVE ? wide : narrow, "%s agreement %s added (%s)",
                    n->status == MACX_AGREEMENT_ACTIVE ? "+" : "~", n->id,
                    macx_policy_status_names[n->status]);
            continue;
        }
        const macx_agreement_t *o = &a->agreements[i];
        if (o->status != n->status) {
            bool w = n->status == MACX_AGREEMENT_ACTIVE;
            s_push (w ? wide : narrow, "~ agreement %s status %s -> %s", n->id,
                    macx_policy_status_names[o->status], macx_policy_status_names[n->status]);
        }
        if (o->effective != n->effective)
            s_push (n->effective < o->effective ? wide : narrow,
                    "~ agreement %s effective_from %s -> %s (%s)", n->id,
                    macx_date_format (o->effective, d1), macx_date_format (n->effective, d2),
                    n->effective < o->effective ? "earlier" : "later");
        if (o->expires != n->expires)
            s_push (n->expires > o->expires ? wide : narrow, "~ agreement %s expires %s -> %s (%s)",
                    n->id, macx_date_format (o->expires, d1), macx_date_format (n->expires, d2),
                    n->expires > o->expires ? "later" : "earlier");
        if (o->review_by + o->grace != n->review_by + n->grace || o->review_by != n->review_by)
            s_push (n->review_by + n->grace >= o->review_by + o->grace ? wide : narrow,
                    "~ agreement %s review_by %s +%d days -> %s +%d days", n->id,
                    macx_date_format (o->review_by, d1), o->grace,
                    macx_date_format (n->review_by, d2), n->grace);
    }
}

int
macx_policy_diff (const macx_policy_t *a, const macx_policy_t *b, FILE *out, bool json)
{
    if (!a || !b || !out)
        return MACX_EINVAL;
    s_lines_t wide = { 0 }, narrow = { 0 };
    s_set_t agencies = { 0 }, types = { 0 }, purposes = { 0 };
    for (int i = 0; i < a->nagencies; i++)
        s_set_add (&agencies, a->agencies[i].id);
    for (int i = 0; i < b->nagencies; i++)
        s_set_add (&agencies, b->agencies[i].id);
    for (int i = 0; i < a->ntypes; i++)
        s_set_add (&types, a->types[i].id);
    for (int i = 0; i < b->ntypes; i++)
        s_set_add (&types, b->types[i].id);
    for (int i = 0; i < a->npurposes; i++)
        s_set_add (&purposes, a->purposes[i]);
    for (int i = 0; i < b->npurposes; i++)
        s_set_add (&purposes, b->purposes[i]);

    long cells = 0, changed = 0;
    for (int f = 0; f < agencies.n; f++)
        for (int t = 0; t < agencies.n; t++) {
            if (f == t)
                continue;
            for (int y = 0; y < types.n; y++)
                for (int u = 0; u < purposes.n; u++)
                    for (int h = 1; h <= MACX_PHASE_COUNT; h++) {
                        const char *from = agencies.v[f], *to = agencies.v[t];
                        const char *ty = types.v[y], *pu = purposes.v[u];
                        char where[256];
                        snprintf (where, sizeof where, "%s -> %s %s [%s/%s]", from, to, ty, pu,
                                  macx_phase_name (h));
                        s_cell_t o, n;
                        s_static (a, from, to, ty, pu, h, &o);
                        s_static (b, from, to, ty, pu, h, &n);
                        cells++;
                        size_t before = wide.n + narrow.n;
                        if (!o.permit && n.permit)
                            s_push (&wide, "+ permit %s  (%s/%s)", where, n.agreement->id,
                                    n.flow->id);
                        else if (o.permit && !n.permit)
                            s_push (&narrow, "- permit %s  (was %s/%s)", where, o.agreement->id,
                                    o.flow->id);
                        if (o.permit && n.permit) {
                            /* fields of either schema's version of the type */
                            s_set_t fields = { 0 };
                            for (int i = 0; i < o.type->nfields; i++)
                                s_set_add (&fields, o.type->fields[i].name);
                            for (int i = 0; i < n.type->nfields; i++)
                                s_set_add (&fields, n.type->fields[i].name);
                            for (int i = 0; i < fields.n; i++) {
                                const char *oh, *nh;
                                int orank = s_field (a, &o, from, to, fields.v[i], &oh);
                                int nrank = s_field (b, &n, from, to, fields.v[i], &nh);
                                if (orank == nrank && (orank != 1 || strcmp (oh, nh) == 0))
                                    continue;
                                bool w = nrank > orank || (nrank == orank && nrank == 1);
                                s_push (w ? &wide : &narrow, "%s field %s: %s %s -> %s",
                                        w ? "+" : "-", where, fields.v[i], oh, nh);
                            }
                            const macx_flow_t *of = o.flow, *nf = n.flow;
                            if (of->retention_days != nf->retention_days)
                                s_push (nf->retention_days > of->retention_days ? &wide : &narrow,
                                        "~ retention %s: %d -> %d days", where, of->retention_days,
                                        nf->retention_days);
                            if (s_onward_rank (of) != s_onward_rank (nf)
                                || of->nonward != nf->nonward)
                                s_push (s_onward_rank (nf) > s_onward_rank (of)
                                                || (s_onward_rank (nf) == s_onward_rank (of)
                                                    && nf->nonward > of->nonward)
                                            ? &wide : &narrow,
                                        "~ onward sharing %s: %s -> %s", where,
                                        macx_policy_onward_names[of->onward],
                                        macx_policy_onward_names[nf->onward]);
                            if (of->max_per_day != nf->max_per_day) {
                                bool w = nf->max_per_day == 0
                                         || (of->max_per_day && nf->max_per_day > of->max_per_day);
                                s_push (w ? &wide : &narrow, "~ max_per_day %s: %u -> %u", where,
                                        of->max_per_day, nf->max_per_day);
                            }
                        }
                        if (wide.n + narrow.n != before)
                            changed++;
                    }
        }
    s_agreements (a, b, &wide, &narrow);

    if (json) {
        fprintf (out, "{\"old\":\"%s\",\"new\":\"%s\",\"widening\":[", a->hash, b->hash);
        for (size_t i = 0; i < wide.n; i++) {
            fprintf (out, "%s", i ? "," : "");
            macx_policy_json_str (out, wide.lines[i]);
        }
        fprintf (out, "],\"narrowing\":[");
        for (size_t i = 0; i < narrow.n; i++) {
            fprintf (out, "%s", i ? "," : "");
            macx_policy_json_str (out, narrow.lines[i]);
        }
        fprintf (out, "],\"cells\":%ld,\"unchanged_cells\":%ld,\"result\":\"%s\"}\n", cells,
                 cells - changed, wide.n ? "FAIL" : "PASS");
    }
    else {
        fprintf (out, "old  %s\nnew  %s\n", a->hash, b->hash);
        fprintf (out, "WIDENING (%zu)\n", wide.n);
        for (size_t i = 0; i < wide.n; i++)
            fprintf (out, "  %s\n", wide.lines[i]);
        fprintf (out, "NARROWING (%zu)\n", narrow.n);
        for (size_t i = 0; i < narrow.n; i++)
            fprintf (out, "  %s\n", narrow.lines[i]);
        fprintf (out, "UNCHANGED %ld of %ld cells\n", cells - changed, cells);
        fprintf (out, "result %s\n", wide.n ? "FAIL (widening)" : "PASS (no widening)");
    }
    int widenings = (int) wide.n;
    for (size_t i = 0; i < wide.n; i++)
        free (wide.lines[i]);
    for (size_t i = 0; i < narrow.n; i++)
        free (narrow.lines[i]);
    free (wide.lines);
    free (narrow.lines);
    return widenings;
}
