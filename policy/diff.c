/* diff.c -- exact comparison of two policies. Both are evaluated, request by
 * request, over the whole decision space drawn from the union of their
 * schemas and agreements: sender x recipient x record type x purpose x phase,
 * at every date where an agreement of either changes state, with and without
 * onward-sharing provenance (every origin, origin type and consent), field
 * by field. Each changed decision is classed as widening or narrowing and
 * named by the agreement, flow and list entries behind it; an agreement that
 * reappears under another name with the same content is a rename. Owns
 * nothing beyond one call; writes to the caller's stream. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "names.h"
#include "policy_int.h"

/* ---- growable text -------------------------------------------------------------- */

typedef struct {
    char *s;
    size_t n, cap;
    bool oom;
} s_buf_t;

static void
s_bprintf (s_buf_t *b, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_bprintf (s_buf_t *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    va_list ap;
    va_start (ap, fmt);
    int len = vsnprintf (NULL, 0, fmt, ap);
    va_end (ap);
    if (len < 0) {
        b->oom = true;
        return;
    }
    if (b->n + (size_t) len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->n + (size_t) len + 1)
            cap *= 2;
        char *s = realloc (b->s, cap);
        if (!s) {
            b->oom = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    va_start (ap, fmt);
    vsnprintf (b->s + b->n, b->cap - b->n, fmt, ap);
    va_end (ap);
    b->n += (size_t) len;
}

static const char *
s_bstr (const s_buf_t *b)
{
    return b->s && b->n ? b->s : "";
}

static void
s_breset (s_buf_t *b)
{
    b->n = 0;
    if (b->s)
        b->s[0] = 0;
}

typedef struct {
    char **v;
    size_t n, cap;
    bool oom;
} s_lines_t;

static void
s_lines_add (s_lines_t *l, const char *text)
{
    if (l->oom)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **v = realloc (l->v, cap * sizeof *v);
        if (!v) {
            l->oom = true;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup (text)))
        l->oom = true;
    else
        l->n++;
}

static bool
s_lines_has (const s_lines_t *l, const char *text)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp (l->v[i], text) == 0)
            return true;
    return false;
}

static void
s_lines_free (s_lines_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free (l->v[i]);
    free (l->v);
}

/* ---- names of both policies ------------------------------------------------------- */

/* Names, de-duplicated, in first-seen order: agencies, types, purposes or
 * fields of two policies (each table at most 64). */
typedef struct {
    const char *v[2 * MACX_POLICY_MAX_FIELDS];
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

static bool
s_set_has (const s_set_t *s, const char *v)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp (s->v[i], v) == 0)
            return true;
    return false;
}

static void
s_agency_set (const macx_policy_t *p, uint64_t mask, s_set_t *s)
{
    s->n = 0;
    for (int i = 0; i < p->nagencies; i++)
        if (mask >> i & 1)
            s_set_add (s, p->agencies[i].id);
}

static void
s_field_set (const macx_policy_t *p, int type, uint64_t mask, s_set_t *s)
{
    s->n = 0;
    for (int i = 0; i < p->types[type].nfields; i++)
        if (mask >> i & 1)
            s_set_add (s, p->types[type].fields[i].name);
}

static void
s_purpose_set (const macx_policy_t *p, uint32_t mask, s_set_t *s)
{
    s->n = 0;
    for (int i = 0; i < p->npurposes; i++)
        if (mask >> i & 1)
            s_set_add (s, p->purposes[i]);
}

static void
s_phase_set (uint8_t phases, s_set_t *s)
{
    s->n = 0;
    for (int k = 1; k <= MACX_PHASE_COUNT; k++)
        if (phases >> k & 1)
            s_set_add (s, macx_phase_name (k));
}

/* ---- the comparison ------------------------------------------------------------------ */

typedef struct {
    const macx_policy_t *a, *b;          /* old, new */
    /* renames: old agreement id -> new id */
    int nren;
    const char *ren_old[256], *ren_new[256];
    /* what differs, per old and new flow, agreement and forbid rule ("" none) */
    char **fdesc_a, **fdesc_b, **adesc_a, **adesc_b, **xdesc_a, **xdesc_b;
    char *schema;
    /* the dates: one per stretch where no agreement of either changes state */
    int32_t *dates;
    int ndates;
    s_set_t agencies, types, purposes;
    s_lines_t renamed, changes, wide, narrow, reattr;
    long cells, changed, requests;
    macx_policy_result_t r[4];           /* scratch results */
    bool oom;
} s_diff_t;

static const char *
s_new_name (const s_diff_t *d, const char *old_id)
{
    for (int i = 0; i < d->nren; i++)
        if (strcmp (d->ren_old[i], old_id) == 0)
            return d->ren_new[i];
    return old_id;
}

static const char *
s_old_name (const s_diff_t *d, const char *new_id)
{
    for (int i = 0; i < d->nren; i++)
        if (strcmp (d->ren_new[i], new_id) == 0)
            return d->ren_old[i];
    return new_id;
}

/* The flow of the other policy with the same agreement (through renames)
 * and id, or -1. */
static int
s_flow_in (const macx_policy_t *p, const char *agreement, const char *flow)
{
    for (int i = 0; i < p->nflows; i++)
        if (strcmp (p->flows[i].id, flow) == 0
            && strcmp (p->agreements[p->flows[i].agreement].id, agreement) == 0)
            return i;
    return -1;
}

static int
s_counter_b (const s_diff_t *d, int fa)
{
    const macx_flow_t *f = &d->a->flows[fa];
    return s_flow_in (d->b, s_new_name (d, d->a->agreements[f->agreement].id), f->id);
}

static int
s_counter_a (const s_diff_t *d, int fb)
{
    const macx_flow_t *f = &d->b->flows[fb];
    return s_flow_in (d->a, s_old_name (d, d->b->agreements[f->agreement].id), f->id);
}

/* A description: "HEAD: item; item", or nothing when no item was added. */
typedef struct {
    s_buf_t *b;
    const char *head;
    int items;
} s_desc_t;

static void
s_item (s_desc_t *x, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_item (s_desc_t *x, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (buf, sizeof buf, fmt, ap);
    va_end (ap);
    if (!x->items++)
        s_bprintf (x->b, "%s: ", x->head);
    else
        s_bprintf (x->b, "; ");
    s_bprintf (x->b, "%s", buf);
}

/* Adds "label +n ... -o ..." when the sets differ. */
static void
s_set_item (s_desc_t *x, const char *label, const s_set_t *o, const s_set_t *n)
{
    char buf[1024];
    size_t used = (size_t) snprintf (buf, sizeof buf, "%s", label);
    bool any = false;
    for (int i = 0; i < n->n && used < sizeof buf; i++)
        if (!s_set_has (o, n->v[i])) {
            used += (size_t) snprintf (buf + used, sizeof buf - used, " +%s", n->v[i]);
            any = true;
        }
    for (int i = 0; i < o->n && used < sizeof buf; i++)
        if (!s_set_has (n, o->v[i])) {
            used += (size_t) snprintf (buf + used, sizeof buf - used, " -%s", o->v[i]);
            any = true;
        }
    if (any)
        s_item (x, "%s", buf);
}

static void
s_onward_text (const macx_flow_t *f, char *buf, size_t size)
{
    size_t used = (size_t) snprintf (buf, size, "%s", macx_policy_onward_names[f->onward]);
    for (size_t i = 0; i < f->nonward && used < size; i++)
        used += (size_t) snprintf (buf + used, size - used, "%s%s%s", i ? ", " : " [",
                                   f->onward_agreements[i], i + 1 == f->nonward ? "]" : "");
}

static const char *const s_retention_from[] = { "receipt", "creation" };
static const char *const s_on_expiry[] = { "delete", "review", "anonymise" };

/* What differs between old flow f and new flow g (either may be NULL),
 * by name, into out. */
static void
s_flow_desc (const s_diff_t *d, const macx_flow_t *f, const macx_flow_t *g, s_buf_t *out)
{
    const macx_policy_t *a = d->a, *b = d->b;
    char head[300];
    if (!g) {
        s_bprintf (out, "agreement %s flow %s removed", a->agreements[f->agreement].id, f->id);
        return;
    }
    if (!f) {
        s_bprintf (out, "agreement %s flow %s added", b->agreements[g->agreement].id, g->id);
        return;
    }
    snprintf (head, sizeof head, "agreement %s flow %s", b->agreements[g->agreement].id, g->id);
    s_desc_t x = { out, head, 0 };
    s_set_t o, n;
    s_agency_set (a, f->from, &o);
    s_agency_set (b, g->from, &n);
    s_set_item (&x, "from", &o, &n);
    s_agency_set (a, f->to, &o);
    s_agency_set (b, g->to, &n);
    s_set_item (&x, "to", &o, &n);
    const char *ot = a->types[f->type].id, *nt = b->types[g->type].id;
    if (strcmp (ot, nt))
        s_item (&x, "record type %s -> %s", ot, nt);
    s_purpose_set (a, f->purposes, &o);
    s_purpose_set (b, g->purposes, &n);
    s_set_item (&x, "purposes", &o, &n);
    s_phase_set (f->phases, &o);
    s_phase_set (g->phases, &n);
    s_set_item (&x, "phases", &o, &n);
    s_field_set (a, f->type, f->allow, &o);
    s_field_set (b, g->type, g->allow, &n);
    s_set_item (&x, "allow", &o, &n);
    /* transforms as "field:transform" entries */
    char tx_o[MACX_POLICY_MAX_FIELDS][96], tx_n[MACX_POLICY_MAX_FIELDS][96];
    o.n = n.n = 0;
    for (int i = 0; i < a->types[f->type].nfields; i++)
        if (f->xform >> i & 1) {
            snprintf (tx_o[o.n], sizeof tx_o[0], "%s:%s", a->types[f->type].fields[i].name,
                      macx_policy_transform_names[f->xform_of[i]]);
            o.v[o.n] = tx_o[o.n];
            o.n++;
        }
    for (int i = 0; i < b->types[g->type].nfields; i++)
        if (g->xform >> i & 1) {
            snprintf (tx_n[n.n], sizeof tx_n[0], "%s:%s", b->types[g->type].fields[i].name,
                      macx_policy_transform_names[g->xform_of[i]]);
            n.v[n.n] = tx_n[n.n];
            n.n++;
        }
    s_set_item (&x, "transform", &o, &n);
    s_field_set (a, f->type, f->require, &o);
    s_field_set (b, g->type, g->require, &n);
    s_set_item (&x, "require", &o, &n);
    if (f->retention_days != g->retention_days)
        s_item (&x, "retention %d -> %d days", f->retention_days, g->retention_days);
    if (f->retention_from != g->retention_from)
        s_item (&x, "retention from %s -> %s", s_retention_from[f->retention_from],
                s_retention_from[g->retention_from]);
    if (f->on_expiry != g->on_expiry)
        s_item (&x, "on_expiry %s -> %s", s_on_expiry[f->on_expiry], s_on_expiry[g->on_expiry]);
    if (f->onward == MACX_ONWARD_AGREEMENTS && g->onward == MACX_ONWARD_AGREEMENTS) {
        /* by name, the old names read through the renames */
        o.n = n.n = 0;
        for (size_t i = 0; i < f->nonward; i++)
            s_set_add (&o, s_new_name (d, f->onward_agreements[i]));
        for (size_t i = 0; i < g->nonward; i++)
            s_set_add (&n, g->onward_agreements[i]);
        s_set_item (&x, "onward agreements", &o, &n);
    }
    else if (f->onward != g->onward) {
        char t1[512], t2[512];
        s_onward_text (f, t1, sizeof t1);
        s_onward_text (g, t2, sizeof t2);
        s_item (&x, "onward %s -> %s", t1, t2);
    }
    if (f->max_per_day != g->max_per_day) {
        char c1[16] = "none", c2[16] = "none";
        if (f->max_per_day)
            snprintf (c1, sizeof c1, "%u", f->max_per_day);
        if (g->max_per_day)
            snprintf (c2, sizeof c2, "%u", g->max_per_day);
        s_item (&x, "max_per_day %s -> %s", c1, c2);
    }
}

/* What differs between old agreement o and new agreement n (either NULL). */
static void
s_agreement_desc (const s_diff_t *d, const macx_agreement_t *o, const macx_agreement_t *n,
                  s_buf_t *out)
{
    const macx_policy_t *a = d->a, *b = d->b;
    char d1[16], d2[16];
    if (!n) {
        s_bprintf (out, "agreement %s removed", o->id);
        return;
    }
    if (!o) {
        s_bprintf (out, "agreement %s added (%s)", n->id, macx_policy_status_names[n->status]);
        return;
    }
    char head[300];
    snprintf (head, sizeof head, "agreement %s", n->id);
    s_desc_t x = { out, head, 0 };
    if (o->status != n->status)
        s_item (&x, "status %s -> %s", macx_policy_status_names[o->status],
                macx_policy_status_names[n->status]);
    if (o->effective != n->effective)
        s_item (&x, "effective_from %s -> %s (%s)", macx_date_format (o->effective, d1),
                macx_date_format (n->effective, d2), n->effective < o->effective ? "earlier" : "later");
    if (o->expires != n->expires)
        s_item (&x, "expires %s -> %s (%s)", macx_date_format (o->expires, d1),
                macx_date_format (n->expires, d2), n->expires > o->expires ? "later" : "earlier");
    if (o->review_by != n->review_by || o->grace != n->grace)
        s_item (&x, "review_by %s +%d days -> %s +%d days", macx_date_format (o->review_by, d1),
                o->grace, macx_date_format (n->review_by, d2), n->grace);
    s_set_t so, sn;
    s_agency_set (a, o->parties, &so);
    s_agency_set (b, n->parties, &sn);
    s_set_item (&x, "parties", &so, &sn);
    s_agency_set (a, o->disclose, &so);
    s_agency_set (b, n->disclose, &sn);
    s_set_item (&x, "legal basis to disclose", &so, &sn);
    s_agency_set (a, o->receive, &so);
    s_agency_set (b, n->receive, &sn);
    s_set_item (&x, "legal basis to receive", &so, &sn);
    s_purpose_set (a, o->purposes, &so);
    s_purpose_set (b, n->purposes, &sn);
    s_set_item (&x, "purposes", &so, &sn);
    for (int u = 0; u < b->npurposes; u++) {
        int v = macx_policy_find_purpose (a, b->purposes[u]);
        if (v < 0 || !(n->purposes >> u & 1) || !(o->purposes >> v & 1))
            continue;
        char label[128];
        snprintf (label, sizeof label, "purpose %s phases", b->purposes[u]);
        s_phase_set (o->purpose_phases[v], &so);
        s_phase_set (n->purpose_phases[u], &sn);
        s_set_item (&x, label, &so, &sn);
    }
}

/* What differs in forbid rule id between the policies (either index -1). */
static void
s_forbid_desc (const s_diff_t *d, int ro, int rn, s_buf_t *out)
{
    const macx_policy_t *a = d->a, *b = d->b;
    if (rn < 0) {
        s_bprintf (out, "forbid %s removed", a->forbids[ro].id);
        return;
    }
    if (ro < 0) {
        s_bprintf (out, "forbid %s added", b->forbids[rn].id);
        return;
    }
    const macx_forbid_t *o = &a->forbids[ro], *n = &b->forbids[rn];
    char head[300];
    snprintf (head, sizeof head, "forbid %s", n->id);
    s_desc_t x = { out, head, 0 };
    s_set_t so, sn;
    s_agency_set (a, o->from, &so);
    s_agency_set (b, n->from, &sn);
    s_set_item (&x, "from", &so, &sn);
    s_agency_set (a, o->to, &so);
    s_agency_set (b, n->to, &sn);
    s_set_item (&x, "to", &so, &sn);
    for (int t = 0; t < b->ntypes; t++) {
        int u = macx_policy_find_type (a, b->types[t].id);
        char label[128];
        snprintf (label, sizeof label, "fields of %s", b->types[t].id);
        s_field_set (b, t, n->mask[t], &sn);
        if (u >= 0)
            s_field_set (a, u, o->mask[u], &so);
        else
            so.n = 0;
        s_set_item (&x, label, &so, &sn);
    }
}

static int
s_forbid_find (const macx_policy_t *p, const char *id)
{
    for (int r = 0; r < p->nforbids; r++)
        if (strcmp (p->forbids[r].id, id) == 0)
            return r;
    return -1;
}

/* What differs in the schemas: agencies, purposes, record types, fields,
 * their classes and the transforms the schema allows. */
static void
s_schema_desc (const s_diff_t *d, s_buf_t *out)
{
    const macx_policy_t *a = d->a, *b = d->b;
    s_desc_t x = { out, "schema", 0 };
    s_set_t so = { 0 }, sn = { 0 };
    s_agency_set (a, ~0ull, &so);
    s_agency_set (b, ~0ull, &sn);
    s_set_item (&x, "agencies", &so, &sn);
    s_purpose_set (a, ~0u, &so);
    s_purpose_set (b, ~0u, &sn);
    s_set_item (&x, "purposes", &so, &sn);
    so.n = sn.n = 0;
    for (int t = 0; t < a->ntypes; t++)
        s_set_add (&so, a->types[t].id);
    for (int t = 0; t < b->ntypes; t++)
        s_set_add (&sn, b->types[t].id);
    s_set_item (&x, "record types", &so, &sn);
    for (int t = 0; t < b->ntypes; t++) {
        int u = macx_policy_find_type (a, b->types[t].id);
        if (u < 0)
            continue;
        const macx_rtype_t *ot = &a->types[u], *nt = &b->types[t];
        char label[160];
        snprintf (label, sizeof label, "record type %s fields", nt->id);
        s_field_set (a, u, ~0ull, &so);
        s_field_set (b, t, ~0ull, &sn);
        s_set_item (&x, label, &so, &sn);
        for (int i = 0; i < nt->nfields; i++) {
            int j = macx_policy_names_find (&ot->names, nt->fields[i].name);
            if (j < 0)
                continue;
            if (ot->fields[j].cls != nt->fields[i].cls)
                s_item (&x, "field %s.%s class %s -> %s", nt->id, nt->fields[i].name,
                        macx_policy_class_names[ot->fields[j].cls],
                        macx_policy_class_names[nt->fields[i].cls]);
            so.n = sn.n = 0;
            for (int k = 1; k < MACX_XF_COUNT; k++) {
                if (ot->fields[j].transforms >> k & 1)
                    s_set_add (&so, macx_policy_transform_names[k]);
                if (nt->fields[i].transforms >> k & 1)
                    s_set_add (&sn, macx_policy_transform_names[k]);
            }
            snprintf (label, sizeof label, "field %s.%s transforms", nt->id, nt->fields[i].name);
            s_set_item (&x, label, &so, &sn);
        }
    }
}

/* The decision-relevant content of an agreement, by name and without its
 * id, title, version, texts or onward lists: equal for a renamed copy. */
static void
s_fingerprint (const macx_policy_t *p, int ai, s_buf_t *out)
{
    const macx_agreement_t *g = &p->agreements[ai];
    char buf[1024];
    s_bprintf (out, "%d|%d|%d|%d|%d|", g->status, g->effective, g->expires, g->review_by, g->grace);
    s_bprintf (out, "%s|", macx_policy_agency_list (p, g->parties, buf, sizeof buf));
    s_bprintf (out, "%s|", macx_policy_agency_list (p, g->disclose, buf, sizeof buf));
    s_bprintf (out, "%s|", macx_policy_agency_list (p, g->receive, buf, sizeof buf));
    for (int u = 0; u < p->npurposes; u++)
        if (g->purposes >> u & 1)
            s_bprintf (out, "%s:%u,", p->purposes[u], g->purpose_phases[u]);   /* phases are bits */
    for (int i = 0; i < p->nflows; i++) {
        const macx_flow_t *f = &p->flows[i];
        if (f->agreement != ai)
            continue;
        const macx_rtype_t *t = &p->types[f->type];
        s_bprintf (out, "|%s/%s>", f->id, macx_policy_agency_list (p, f->from, buf, sizeof buf));
        s_bprintf (out, "%s/%s/", macx_policy_agency_list (p, f->to, buf, sizeof buf), t->id);
        for (int u = 0; u < p->npurposes; u++)
            if (f->purposes >> u & 1)
                s_bprintf (out, "%s,", p->purposes[u]);
        s_bprintf (out, "/%u/", f->phases);
        for (int k = 0; k < t->nfields; k++)
            if ((f->allow | f->xform | f->require) >> k & 1)
                s_bprintf (out, "%s%c%c%d,", t->fields[k].name, f->allow >> k & 1 ? 'a' : '-',
                           f->require >> k & 1 ? 'r' : '-',
                           f->xform >> k & 1 ? f->xform_of[k] : 0);
        s_bprintf (out, "/%d/%d/%d/%d/%u", f->retention_days, f->retention_from, f->on_expiry,
                   f->onward, f->max_per_day);
    }
}

/* Pairs each agreement only in OLD with the one agreement only in NEW whose
 * content is the same (and which no other candidate shares). */
static void
s_find_renames (s_diff_t *d)
{
    const macx_policy_t *a = d->a, *b = d->b;
    s_buf_t fo = { 0 }, fn = { 0 };
    for (int i = 0; i < a->nagreements && d->nren < 256; i++) {
        if (macx_policy_find_agreement (b, a->agreements[i].id) >= 0)
            continue;
        s_breset (&fo);
        s_fingerprint (a, i, &fo);
        int match = -1, count = 0;
        for (int j = 0; j < b->nagreements; j++) {
            if (macx_policy_find_agreement (a, b->agreements[j].id) >= 0)
                continue;
            s_breset (&fn);
            s_fingerprint (b, j, &fn);
            if (strcmp (s_bstr (&fo), s_bstr (&fn)) == 0) {
                match = j;
                count++;
            }
        }
        /* and no other old agreement has that content */
        int rivals = 0;
        for (int k = 0; k < a->nagreements && count == 1; k++) {
            if (macx_policy_find_agreement (b, a->agreements[k].id) >= 0)
                continue;
            s_breset (&fn);
            s_fingerprint (a, k, &fn);
            rivals += strcmp (s_bstr (&fo), s_bstr (&fn)) == 0;
        }
        if (count == 1 && rivals == 1) {
            d->ren_old[d->nren] = a->agreements[i].id;
            d->ren_new[d->nren] = b->agreements[match].id;
            d->nren++;
        }
    }
    d->oom |= fo.oom || fn.oom;
    free (fo.s);
    free (fn.s);
}

static char *
s_take (s_diff_t *d, s_buf_t *b)
{
    char *s = strdup (s_bstr (b));
    d->oom |= !s || b->oom;
    s_breset (b);
    return s;
}

/* Describes every flow, agreement and forbid rule of both policies against
 * its counterpart, and lists the descriptions that are not empty. */
static void
s_describe (s_diff_t *d)
{
    const macx_policy_t *a = d->a, *b = d->b;
    s_buf_t t = { 0 };
    d->fdesc_a = calloc ((size_t) a->nflows + 1, sizeof (char *));
    d->fdesc_b = calloc ((size_t) b->nflows + 1, sizeof (char *));
    d->adesc_a = calloc ((size_t) a->nagreements + 1, sizeof (char *));
    d->adesc_b = calloc ((size_t) b->nagreements + 1, sizeof (char *));
    d->xdesc_a = calloc ((size_t) a->nforbids + 1, sizeof (char *));
    d->xdesc_b = calloc ((size_t) b->nforbids + 1, sizeof (char *));
    if (!d->fdesc_a || !d->fdesc_b || !d->adesc_a || !d->adesc_b || !d->xdesc_a || !d->xdesc_b) {
        d->oom = true;
        return;
    }
    for (int i = 0; i < a->nagreements; i++) {
        int j = macx_policy_find_agreement (b, s_new_name (d, a->agreements[i].id));
        s_agreement_desc (d, &a->agreements[i], j >= 0 ? &b->agreements[j] : NULL, &t);
        d->adesc_a[i] = s_take (d, &t);
    }
    for (int j = 0; j < b->nagreements; j++) {
        int i = macx_policy_find_agreement (a, s_old_name (d, b->agreements[j].id));
        s_agreement_desc (d, i >= 0 ? &a->agreements[i] : NULL, &b->agreements[j], &t);
        d->adesc_b[j] = s_take (d, &t);
    }
    for (int i = 0; i < a->nflows; i++) {
        int j = s_counter_b (d, i);
        s_flow_desc (d, &a->flows[i], j >= 0 ? &b->flows[j] : NULL, &t);
        d->fdesc_a[i] = s_take (d, &t);
    }
    for (int j = 0; j < b->nflows; j++) {
        int i = s_counter_a (d, j);
        s_flow_desc (d, i >= 0 ? &a->flows[i] : NULL, &b->flows[j], &t);
        d->fdesc_b[j] = s_take (d, &t);
    }
    for (int r = 0; r < a->nforbids; r++) {
        s_forbid_desc (d, r, s_forbid_find (b, a->forbids[r].id), &t);
        d->xdesc_a[r] = s_take (d, &t);
    }
    for (int r = 0; r < b->nforbids; r++) {
        s_forbid_desc (d, s_forbid_find (a, b->forbids[r].id), r, &t);
        d->xdesc_b[r] = s_take (d, &t);
    }
    s_schema_desc (d, &t);
    d->schema = s_take (d, &t);
    free (t.s);
    if (d->oom)
        return;
    /* the list a reviewer reads: agreements, then their flows, forbid rules, schema */
    char **lists[] = { d->adesc_a, d->adesc_b, d->fdesc_a, d->fdesc_b, d->xdesc_a, d->xdesc_b };
    int counts[] = { a->nagreements, b->nagreements, a->nflows, b->nflows, a->nforbids,
                     b->nforbids };
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++)
        for (int i = 0; i < counts[k]; i++)
            if (lists[k][i][0] && !s_lines_has (&d->changes, lists[k][i]))
                s_lines_add (&d->changes, lists[k][i]);
    if (d->schema[0])
        s_lines_add (&d->changes, d->schema);
}

/* ---- the decision space -------------------------------------------------------------- */

static int
s_cmp_day (const void *x, const void *y)
{
    int32_t a = *(const int32_t *) x, b = *(const int32_t *) y;
    return (a > b) - (a < b);
}

/* One date per stretch of days on which no agreement of either policy
 * changes state: the day before the first boundary, then each boundary. */
static void
s_dates (s_diff_t *d)
{
    const macx_policy_t *ps[2] = { d->a, d->b };
    size_t n = 0, cap = 4 * ((size_t) d->a->nagreements + (size_t) d->b->nagreements) + 1;
    d->dates = calloc (cap + 1, sizeof (int32_t));
    if (!d->dates) {
        d->oom = true;
        return;
    }
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < ps[k]->nagreements; i++) {
            const macx_agreement_t *g = &ps[k]->agreements[i];
            d->dates[n++] = g->effective;
            d->dates[n++] = g->review_by + 1;
            d->dates[n++] = (int32_t) ((int64_t) g->review_by + g->grace + 1);
            d->dates[n++] = g->expires + 1;
        }
    qsort (d->dates, n, sizeof (int32_t), s_cmp_day);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || d->dates[i] != d->dates[m - 1])
            d->dates[m++] = d->dates[i];
    /* the stretch before every boundary */
    memmove (d->dates + 1, d->dates, m * sizeof (int32_t));
    d->dates[0] = m ? d->dates[1] - 1 : 0;
    d->ndates = (int) m + 1;
}

/* Writes the days of the stretches marked in mask: "from D1 to D2", joined
 * with "and"; "" when every day is marked. */
static void
s_days_text (const s_diff_t *d, const uint8_t *mask, char *buf, size_t size)
{
    char d1[16], d2[16];
    size_t used = 0;
    int all = 1;
    buf[0] = 0;
    for (int i = 0; i < d->ndates; i++)
        all &= mask[i];
    if (all)
        return;
    for (int i = 0; i < d->ndates && used < size; i++) {
        if (!mask[i] || (i > 0 && mask[i - 1]))
            continue;
        int j = i;
        while (j + 1 < d->ndates && mask[j + 1])
            j++;
        const char *sep = used ? " and " : "";
        if (i == 0)
            used += (size_t) snprintf (buf + used, size - used, "%suntil %s", sep,
                                       macx_date_format (d->dates[j + 1] - 1, d2));
        else if (j == d->ndates - 1)
            used += (size_t) snprintf (buf + used, size - used, "%sfrom %s on", sep,
                                       macx_date_format (d->dates[i], d1));
        else
            used += (size_t) snprintf (buf + used, size - used, "%sfrom %s to %s", sep,
                                       macx_date_format (d->dates[i], d1),
                                       macx_date_format (d->dates[j + 1] - 1, d2));
    }
}

/* Reasons that do not depend on the date, the provenance or the fields a
 * record carries beyond its type: a cell denied so by both is settled. */
static bool
s_settled (const macx_policy_result_t *r)
{
    return r->decision == MACX_DECISION_DENY
           && (r->reason == MACX__REASON__UNKNOWN_RECORD_TYPE || r->reason == MACX__REASON__NO_AGREEMENT
               || r->reason == MACX__REASON__NO_FLOW || r->reason == MACX__REASON__PURPOSE_NOT_ALLOWED
               || r->reason == MACX__REASON__PHASE_NOT_ALLOWED);
}

/* One cell being compared: its requests in both policies. */
typedef struct {
    const char *from, *to, *type, *purpose;
    int phase;
    char where[300];
    macx_policy_field_t fields_a[MACX_POLICY_MAX_FIELDS], fields_b[MACX_POLICY_MAX_FIELDS];
    size_t nfields_a, nfields_b;
    int ta, tb;                          /* the type's index in each, or -1 */
    int flow_a, flow_b;                  /* the deciding flow in each, or -1 */
    uint8_t *od, *nd;                    /* per date: not denied in old, new */
    int both;                            /* a date where neither denies, or -1 */
    bool changed;
} s_cell_t;

static void
s_eval (s_diff_t *d, const macx_policy_t *p, const s_cell_t *c, int32_t date,
        const macx_policy_field_t *fields, size_t nfields, const char *origin,
        const char *origin_type, bool consent, macx_policy_result_t *r)
{
    macx_policy_request_t req = {
        .sender = c->from, .recipient = c->to, .record_type = c->type, .purpose = c->purpose,
        .phase = c->phase, .case_phase = c->phase, .fields = fields, .nfields = nfields,
        .date = date, .origin = origin, .origin_record_type = origin_type,
        .origin_consent = consent,
    };
    macx_policy_evaluate (p, &req, r);
    d->requests++;
}

/* Appends "  because CAUSE" naming what differs behind a change: the
 * deciding flows and their agreements in both policies, the flows that
 * delivered what is passed on (inbound_a/b, -1 terminated), forbid rules
 * (rules, NULL terminated), else the schema. */
static void
s_because (const s_diff_t *d, const s_cell_t *c, const int *inbound_a, const int *inbound_b,
           const char *const *rules, s_buf_t *out)
{
    s_lines_t seen = { 0 };
    const char *parts[8 + 2 * 64 + 16];
    int np = 0;
    if (inbound_a)
        for (int k = 0; inbound_a[k] >= 0 && np < 64; k++)
            parts[np++] = d->fdesc_a[inbound_a[k]];
    if (inbound_b)
        for (int k = 0; inbound_b[k] >= 0 && np < 128; k++)
            parts[np++] = d->fdesc_b[inbound_b[k]];
    int named = 0;
    for (int k = 0; k < np; k++)
        named += parts[k][0] != 0;
    /* provenance explains it when its flows changed; else the deciding ones */
    if (!named) {
        np = 0;
        if (c->flow_a >= 0) {
            parts[np++] = d->fdesc_a[c->flow_a];
            parts[np++] = d->adesc_a[d->a->flows[c->flow_a].agreement];
        }
        if (c->flow_b >= 0) {
            parts[np++] = d->fdesc_b[c->flow_b];
            parts[np++] = d->adesc_b[d->b->flows[c->flow_b].agreement];
        }
    }
    for (int k = 0; rules && rules[k] && np < (int) (sizeof parts / sizeof parts[0]) - 1; k++) {
        int ra = s_forbid_find (d->a, rules[k]), rb = s_forbid_find (d->b, rules[k]);
        if (ra >= 0)
            parts[np++] = d->xdesc_a[ra];
        if (rb >= 0)
            parts[np++] = d->xdesc_b[rb];
    }
    named = 0;
    for (int k = 0; k < np; k++)
        if (parts[k][0] && !s_lines_has (&seen, parts[k])) {
            s_bprintf (out, "%s%s", named++ ? "; " : "  because ", parts[k]);
            s_lines_add (&seen, parts[k]);
        }
    if (!named)
        s_bprintf (out, "  because %s", d->schema[0] ? d->schema : "(no change found in the text)");
    s_lines_free (&seen);
}

/* Onward obligations as a rank: prohibited < named agreements < consent. */
static int
s_onward_rank (macx_onward_t o)
{
    return o == MACX_ONWARD_PROHIBITED ? 0 : o == MACX_ONWARD_AGREEMENTS ? 1 : 2;
}

/* A field's outcome as a rank: dropped (or absent) 0, transformed 1, released 2. */
static int
s_rank (const char *disp)
{
    if (strcmp (disp, "released") == 0)
        return 2;
    return strncmp (disp, "transform:", 10) == 0 ? 1 : 0;
}

static void
s_disp (const macx_policy_result_t *r, const char *field, char *buf, size_t size,
        const char **rule)
{
    snprintf (buf, size, "absent");
    for (size_t i = 0; i < r->nfields; i++)
        if (strcmp (r->fields[i].name, field) == 0) {
            macx_policy_disposition (&r->fields[i], buf, size);
            if (r->fields[i].disposition == MACX_FIELD_DROP_FORBIDDEN && rule)
                *rule = r->fields[i].rule;
        }
}

static void
s_emit (s_diff_t *d, s_cell_t *c, s_lines_t *to, s_buf_t *line)
{
    s_lines_add (to, s_bstr (line));
    d->oom |= line->oom;
    s_breset (line);
    c->changed = true;
}

/* Changes where both policies let the cell through: each field's outcome,
 * required fields, transforms the schema allows, obligations, and who
 * decides. */
static void
s_compare_permitted (s_diff_t *d, s_cell_t *c, s_buf_t *line)
{
    int32_t day = d->dates[c->both];
    /* ro, rn: the full records' outcomes throughout; r1, r2: the variants */
    macx_policy_result_t *ro = &d->r[0], *rn = &d->r[1], *r1 = &d->r[2], *r2 = &d->r[3];
    s_eval (d, d->a, c, day, c->fields_a, c->nfields_a, NULL, NULL, false, ro);
    s_eval (d, d->b, c, day, c->fields_b, c->nfields_b, NULL, NULL, false, rn);
    s_set_t names = { 0 };
    if (c->ta >= 0)
        s_field_set (d->a, c->ta, ~0ull, &names);
    s_set_t nb;
    if (c->tb >= 0) {
        s_field_set (d->b, c->tb, ~0ull, &nb);
        for (int i = 0; i < nb.n; i++)
            s_set_add (&names, nb.v[i]);
    }
    for (int i = 0; i < names.n; i++) {
        const char *x = names.v[i], *rules[3] = { NULL, NULL, NULL };
        char oh[96], nh[96];
        s_disp (ro, x, oh, sizeof oh, &rules[0]);
        s_disp (rn, x, nh, sizeof nh, &rules[1]);
        int orank = s_rank (oh), nrank = s_rank (nh);
        if (strcmp (oh, nh) && (orank != nrank || orank == 1)) {
            bool w = nrank > orank || (nrank == orank && nrank == 1);
            s_bprintf (line, "%s field %s: %s %s -> %s", w ? "+" : "-", c->where, x, oh, nh);
            s_because (d, c, NULL, NULL, rules, line);
            s_emit (d, c, w ? &d->wide : &d->narrow, line);
        }
    }
    /* a field is required where the record without it (and nothing else
     * missing) is refused for it */
    for (int i = 0; i < names.n; i++) {
        const char *x = names.v[i];
        macx_policy_field_t less_a[MACX_POLICY_MAX_FIELDS], less_b[MACX_POLICY_MAX_FIELDS];
        size_t na = 0, nb2 = 0;
        for (size_t k = 0; k < c->nfields_a; k++)
            if (strcmp (c->fields_a[k].name, x))
                less_a[na++] = c->fields_a[k];
        for (size_t k = 0; k < c->nfields_b; k++)
            if (strcmp (c->fields_b[k].name, x))
                less_b[nb2++] = c->fields_b[k];
        s_eval (d, d->a, c, day, less_a, na, NULL, NULL, false, r1);
        s_eval (d, d->b, c, day, less_b, nb2, NULL, NULL, false, r2);
        bool oreq = r1->reason == MACX__REASON__REQUIRED_FIELD_MISSING;
        bool nreq = r2->reason == MACX__REASON__REQUIRED_FIELD_MISSING;
        if (oreq != nreq) {
            s_bprintf (line, "%s field %s: %s %s -> %s", oreq ? "+" : "-", c->where, x,
                       oreq ? "required" : "optional", nreq ? "required" : "optional");
            s_because (d, c, NULL, NULL, NULL, line);
            s_emit (d, c, oreq ? &d->wide : &d->narrow, line);
        }
    }
    /* a field sent transformed where one schema allows that transform and
     * the other does not: the record is refused as UNKNOWN_FIELD there */
    for (int i = 0; c->ta >= 0 && c->tb >= 0 && i < names.n; i++) {
        const char *x = names.v[i];
        int ja = macx_policy_names_find (&d->a->types[c->ta].names, x);
        int jb = macx_policy_names_find (&d->b->types[c->tb].names, x);
        if (ja < 0 || jb < 0)
            continue;
        for (int k = 1; k < MACX_XF_COUNT; k++) {
            bool oa = d->a->types[c->ta].fields[ja].transforms >> k & 1;
            bool na2 = d->b->types[c->tb].fields[jb].transforms >> k & 1;
            if (oa == na2)
                continue;
            macx_policy_field_t fa[MACX_POLICY_MAX_FIELDS], fb[MACX_POLICY_MAX_FIELDS];
            memcpy (fa, c->fields_a, c->nfields_a * sizeof fa[0]);
            memcpy (fb, c->fields_b, c->nfields_b * sizeof fb[0]);
            fa[ja].transform = macx_policy_transform_names[k];
            fb[jb].transform = macx_policy_transform_names[k];
            s_eval (d, d->a, c, day, fa, c->nfields_a, NULL, NULL, false, r1);
            s_eval (d, d->b, c, day, fb, c->nfields_b, NULL, NULL, false, r2);
            bool op = r1->decision != MACX_DECISION_DENY, np = r2->decision != MACX_DECISION_DENY;
            if (op == np)
                continue;
            s_bprintf (line, "%s permit %s with %s sent as %s:%s", np ? "+" : "-", c->where, x, x,
                       macx_policy_transform_names[k]);
            s_because (d, c, NULL, NULL, NULL, line);
            s_emit (d, c, np ? &d->wide : &d->narrow, line);
        }
    }
    /* obligations */
    if (ro->retention_days != rn->retention_days) {
        bool w = rn->retention_days > ro->retention_days;
        s_bprintf (line, "~ retention %s: %d -> %d days", c->where, ro->retention_days,
                   rn->retention_days);
        s_because (d, c, NULL, NULL, NULL, line);
        s_emit (d, c, w ? &d->wide : &d->narrow, line);
    }
    if (strcmp (ro->retention_from, rn->retention_from)) {
        /* counted from creation, a copy is deleted sooner */
        bool w = strcmp (rn->retention_from, "receipt") == 0;
        s_bprintf (line, "~ retention from %s: %s -> %s", c->where, ro->retention_from,
                   rn->retention_from);
        s_because (d, c, NULL, NULL, NULL, line);
        s_emit (d, c, w ? &d->wide : &d->narrow, line);
    }
    if (strcmp (ro->on_expiry, rn->on_expiry)) {
        /* delete < anonymise < review: what is kept at expiry */
        static const char *const order[] = { "delete", "anonymise", "review" };
        int oi = 0, ni = 0;
        for (int k = 0; k < 3; k++) {
            oi = strcmp (order[k], ro->on_expiry) == 0 ? k : oi;
            ni = strcmp (order[k], rn->on_expiry) == 0 ? k : ni;
        }
        s_bprintf (line, "~ on_expiry %s: %s -> %s", c->where, ro->on_expiry, rn->on_expiry);
        s_because (d, c, NULL, NULL, NULL, line);
        s_emit (d, c, ni > oi ? &d->wide : &d->narrow, line);
    }
    {
        s_set_t o = { 0 }, n = { 0 };
        for (size_t k = 0; k < ro->nonward_agreements; k++)
            s_set_add (&o, s_new_name (d, ro->onward_agreements[k]));
        for (size_t k = 0; k < rn->nonward_agreements; k++)
            s_set_add (&n, rn->onward_agreements[k]);
        int added = 0, removed = 0;
        for (int k = 0; k < n.n; k++)
            added += !s_set_has (&o, n.v[k]);
        for (int k = 0; k < o.n; k++)
            removed += !s_set_has (&n, o.v[k]);
        int orank = s_onward_rank (ro->onward), nrank = s_onward_rank (rn->onward);
        if (orank != nrank || added || removed) {
            bool w = nrank > orank || (nrank == orank && added);
            s_bprintf (line, "~ onward sharing %s: ", c->where);
            if (orank != nrank)
                s_bprintf (line, "%s -> %s", macx_policy_onward_names[ro->onward],
                           macx_policy_onward_names[rn->onward]);
            else {
                s_bprintf (line, "agreements");
                for (int k = 0; k < n.n; k++)
                    if (!s_set_has (&o, n.v[k]))
                        s_bprintf (line, " +%s", n.v[k]);
                for (int k = 0; k < o.n; k++)
                    if (!s_set_has (&n, o.v[k]))
                        s_bprintf (line, " -%s", o.v[k]);
            }
            s_because (d, c, NULL, NULL, NULL, line);
            s_emit (d, c, w ? &d->wide : &d->narrow, line);
        }
    }
    if (ro->max_per_day != rn->max_per_day) {
        bool w = rn->max_per_day == 0 || (ro->max_per_day && rn->max_per_day > ro->max_per_day);
        s_bprintf (line, "~ max_per_day %s: %u -> %u", c->where, ro->max_per_day, rn->max_per_day);
        s_because (d, c, NULL, NULL, NULL, line);
        s_emit (d, c, w ? &d->wide : &d->narrow, line);
    }
    if (strcmp (s_new_name (d, ro->agreement), rn->agreement) || strcmp (ro->flow, rn->flow)) {
        s_bprintf (line, "~ %s: decided by %s/%s -> %s/%s", c->where, ro->agreement, ro->flow,
                   rn->agreement, rn->flow);
        s_because (d, c, NULL, NULL, NULL, line);
        s_emit (d, c, &d->reattr, line);
    }
}

/* The flows that could have delivered origin_type from origin to the sender
 * for the cell's purpose, in p, into out (-1 terminated). */
static void
s_inbound (const macx_policy_t *p, const s_cell_t *c, const char *origin, const char *otype,
           int *out, int max)
{
    int n = 0;
    int og = macx_policy_find_agency (p, origin), from = macx_policy_find_agency (p, c->from);
    int ot = macx_policy_find_type (p, otype), u = macx_policy_find_purpose (p, c->purpose);
    if (og >= 0 && from >= 0 && ot >= 0 && u >= 0 && og != from) {
        size_t cell = macx_policy_cell (p, og, from, ot);
        for (int k = p->cell_start[cell]; k < p->cell_start[cell + 1] && n < max - 1; k++)
            if (p->flows[p->cell_flows[k]].purposes >> u & 1)
                out[n++] = p->cell_flows[k];
    }
    out[n] = -1;
}

/* A change seen only when the record passes on what another agency sent:
 * sign '+' or '-', the stretches of days, and who and what it passes on. */
typedef struct {
    char sign;
    size_t mask;                         /* offset of its days in the masks */
    char origin[300];
    char because[2048];
    bool done;
} s_onward_change_t;

/* Decisions that change only for a record passing on what origin sent as
 * origin type (every agency and type of both, with consent and without):
 * grouped by sign, days and cause into one line each. */
static void
s_compare_onward (s_diff_t *d, s_cell_t *c, s_buf_t *line)
{
    /* per (origin, type): days gained and lost without consent, then with */
    size_t nd = (size_t) d->ndates, slots = (size_t) d->agencies.n * (size_t) d->types.n;
    s_onward_change_t *ch = calloc (slots * 4 + 1, sizeof *ch);
    uint8_t *masks = calloc (slots * 4 * nd + 1, 1);
    if (!ch || !masks) {
        free (ch);
        free (masks);
        d->oom = true;
        return;
    }
    size_t n = 0, slot = 0;
    macx_policy_result_t *r1 = &d->r[2], *r2 = &d->r[3];
    uint8_t *plus[2], *minus[2];
    for (int g = 0; g < d->agencies.n; g++) {
        const char *og = d->agencies.v[g];
        if (strcmp (og, c->from) == 0)
            continue;
        for (int t = 0; t < d->types.n; t++) {
            const char *ot = d->types.v[t];
            int any = 0;
            uint8_t *base = masks + slot * 4 * nd;
            for (int k = 0; k < 2; k++) {
                plus[k] = base + (size_t) k * 2 * nd;
                minus[k] = plus[k] + nd;
                for (int i = 0; i < d->ndates; i++) {
                    if (!c->od[i] && !c->nd[i])
                        continue;
                    s_eval (d, d->a, c, d->dates[i], c->fields_a, c->nfields_a, og, ot, k, r1);
                    s_eval (d, d->b, c, d->dates[i], c->fields_b, c->nfields_b, og, ot, k, r2);
                    uint8_t o2 = r1->decision != MACX_DECISION_DENY;
                    uint8_t n2 = r2->decision != MACX_DECISION_DENY;
                    /* what the cell's own change does not already say */
                    if (o2 == n2 || (o2 == c->od[i] && n2 == c->nd[i]))
                        continue;
                    (n2 ? plus[k] : minus[k])[i] = 1;
                    any = 1;
                }
            }
            if (!any)
                continue;
            slot++;   /* these days stay, for the lines below */
            int in_a[65], in_b[65];
            s_inbound (d->a, c, og, ot, in_a, 65);
            s_inbound (d->b, c, og, ot, in_b, 65);
            s_buf_t why = { 0 };
            s_because (d, c, in_a, in_b, NULL, &why);
            bool same = memcmp (plus[0], plus[1], 2 * nd) == 0;
            for (int k = 0; k < (same ? 1 : 2); k++)
                for (int s = 0; s < 2; s++) {
                    uint8_t *m = s ? minus[k] : plus[k];
                    if (!memchr (m, 1, nd))
                        continue;
                    s_onward_change_t *e = &ch[n++];
                    e->sign = s ? '-' : '+';
                    e->mask = (size_t) (m - masks);
                    snprintf (e->origin, sizeof e->origin, "%s %s%s", og, ot,
                              same ? "" : k ? " with consent" : " without consent");
                    snprintf (e->because, sizeof e->because, "%s", s_bstr (&why));
                }
            d->oom |= why.oom;
            free (why.s);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (ch[i].done)
            continue;
        char days[512];
        s_days_text (d, masks + ch[i].mask, days, sizeof days);
        s_bprintf (line, "%c permit %s passing on %s", ch[i].sign, c->where, ch[i].origin);
        for (size_t j = i + 1; j < n; j++)
            if (!ch[j].done && ch[j].sign == ch[i].sign
                && memcmp (masks + ch[j].mask, masks + ch[i].mask, nd) == 0
                && strcmp (ch[j].because, ch[i].because) == 0) {
                s_bprintf (line, " or %s", ch[j].origin);
                ch[j].done = true;
            }
        if (days[0])
            s_bprintf (line, " %s", days);
        if (ch[i].sign == '+')
            s_bprintf (line, "  (%s/%s)", d->b->agreements[d->b->flows[c->flow_b].agreement].id,
                       d->b->flows[c->flow_b].id);
        else
            s_bprintf (line, "  (was %s/%s)",
                       d->a->agreements[d->a->flows[c->flow_a].agreement].id,
                       d->a->flows[c->flow_a].id);
        s_bprintf (line, "%s", ch[i].because);
        s_emit (d, c, ch[i].sign == '+' ? &d->wide : &d->narrow, line);
    }
    free (ch);
    free (masks);
}

static void
s_compare_cell (s_diff_t *d, s_cell_t *c, s_buf_t *line)
{
    macx_policy_result_t *ro = &d->r[0], *rn = &d->r[1];
    c->flow_a = c->flow_b = -1;
    c->both = -1;
    c->changed = false;
    s_eval (d, d->a, c, d->dates[0], c->fields_a, c->nfields_a, NULL, NULL, false, ro);
    s_eval (d, d->b, c, d->dates[0], c->fields_b, c->nfields_b, NULL, NULL, false, rn);
    d->cells++;
    if (s_settled (ro) && s_settled (rn))
        return;
    int any = 0;
    for (int i = 0; i < d->ndates; i++) {
        if (i > 0) {
            s_eval (d, d->a, c, d->dates[i], c->fields_a, c->nfields_a, NULL, NULL, false, ro);
            s_eval (d, d->b, c, d->dates[i], c->fields_b, c->nfields_b, NULL, NULL, false, rn);
        }
        c->flow_a = ro->flow_index >= 0 ? ro->flow_index : c->flow_a;
        c->flow_b = rn->flow_index >= 0 ? rn->flow_index : c->flow_b;
        c->od[i] = ro->decision != MACX_DECISION_DENY;
        c->nd[i] = rn->decision != MACX_DECISION_DENY;
        if (c->od[i] && c->nd[i] && c->both < 0)
            c->both = i;
        any |= c->od[i] | c->nd[i];
    }
    /* permits gained and lost, by stretches of days */
    uint8_t mask[2][1024 + 1];
    uint8_t *plus = d->ndates <= 1024 ? mask[0] : calloc ((size_t) d->ndates, 1);
    uint8_t *minus = d->ndates <= 1024 ? mask[1] : calloc ((size_t) d->ndates, 1);
    if (!plus || !minus) {
        d->oom = true;
        if (plus != mask[0])
            free (plus);
        if (minus != mask[1])
            free (minus);
        return;
    }
    bool gained = false, lost = false;
    for (int i = 0; i < d->ndates; i++) {
        plus[i] = !c->od[i] && c->nd[i];
        minus[i] = c->od[i] && !c->nd[i];
        gained |= plus[i];
        lost |= minus[i];
    }
    char days[512];
    if (gained) {
        s_days_text (d, plus, days, sizeof days);
        const macx_flow_t *f = &d->b->flows[c->flow_b];
        s_bprintf (line, "+ permit %s%s%s  (%s/%s)", c->where, days[0] ? " " : "", days,
                   d->b->agreements[f->agreement].id, f->id);
        s_because (d, c, NULL, NULL, NULL, line);
        s_emit (d, c, &d->wide, line);
    }
    if (lost) {
        s_days_text (d, minus, days, sizeof days);
        const macx_flow_t *f = &d->a->flows[c->flow_a];
        s_bprintf (line, "- permit %s%s%s  (was %s/%s)", c->where, days[0] ? " " : "", days,
                   d->a->agreements[f->agreement].id, f->id);
        s_because (d, c, NULL, NULL, NULL, line);
        s_emit (d, c, &d->narrow, line);
    }
    if (plus != mask[0])
        free (plus);
    if (minus != mask[1])
        free (minus);
    if (c->both >= 0)
        s_compare_permitted (d, c, line);
    if (any)
        s_compare_onward (d, c, line);
}

static void
s_print_list (FILE *out, bool json, const char *key, const char *title, const s_lines_t *l,
              bool first)
{
    if (json) {
        fprintf (out, "%s\"%s\":[", first ? "" : ",", key);
        for (size_t i = 0; i < l->n; i++) {
            fprintf (out, "%s", i ? "," : "");
            macx_policy_json_str (out, l->v[i]);
        }
        fprintf (out, "]");
        return;
    }
    fprintf (out, "%s (%zu)\n", title, l->n);
    for (size_t i = 0; i < l->n; i++)
        fprintf (out, "  %s\n", l->v[i]);
}

static void
s_free_descs (char **v, int n)
{
    for (int i = 0; v && i < n; i++)
        free (v[i]);
    free (v);
}

int
macx_policy_diff (const macx_policy_t *a, const macx_policy_t *b, FILE *out, bool json)
{
    if (!a || !b || !out)
        return MACX_EINVAL;
    s_diff_t *d = calloc (1, sizeof *d);
    s_cell_t *c = calloc (1, sizeof *c);
    if (!d || !c) {
        free (d);
        free (c);
        return MACX_ENOMEM;
    }
    d->a = a;
    d->b = b;
    for (int i = 0; i < a->nagencies; i++)
        s_set_add (&d->agencies, a->agencies[i].id);
    for (int i = 0; i < b->nagencies; i++)
        s_set_add (&d->agencies, b->agencies[i].id);
    for (int i = 0; i < a->ntypes; i++)
        s_set_add (&d->types, a->types[i].id);
    for (int i = 0; i < b->ntypes; i++)
        s_set_add (&d->types, b->types[i].id);
    for (int i = 0; i < a->npurposes; i++)
        s_set_add (&d->purposes, a->purposes[i]);
    for (int i = 0; i < b->npurposes; i++)
        s_set_add (&d->purposes, b->purposes[i]);
    s_find_renames (d);
    for (int i = 0; i < d->nren; i++) {
        char text[600];
        snprintf (text, sizeof text, "%s -> %s", d->ren_old[i], d->ren_new[i]);
        s_lines_add (&d->renamed, text);
    }
    s_describe (d);
    s_dates (d);
    s_buf_t line = { 0 };
    c->od = calloc ((size_t) d->ndates + 1, 1);
    c->nd = calloc ((size_t) d->ndates + 1, 1);
    if (!c->od || !c->nd)
        d->oom = true;
    for (int f = 0; f < d->agencies.n && !d->oom; f++)
        for (int t = 0; t < d->agencies.n && !d->oom; t++) {
            if (f == t)
                continue;
            for (int y = 0; y < d->types.n; y++) {
                c->from = d->agencies.v[f];
                c->to = d->agencies.v[t];
                c->type = d->types.v[y];
                c->ta = macx_policy_find_type (a, c->type);
                c->tb = macx_policy_find_type (b, c->type);
                c->nfields_a = c->ta >= 0 ? macx_policy_all_fields (a, c->ta, c->fields_a) : 0;
                c->nfields_b = c->tb >= 0 ? macx_policy_all_fields (b, c->tb, c->fields_b) : 0;
                for (int u = 0; u < d->purposes.n; u++)
                    for (int h = 1; h <= MACX_PHASE_COUNT; h++) {
                        c->purpose = d->purposes.v[u];
                        c->phase = h;
                        snprintf (c->where, sizeof c->where, "%s -> %s %s [%s/%s]", c->from,
                                  c->to, c->type, c->purpose, macx_phase_name (h));
                        s_compare_cell (d, c, &line);
                        d->changed += c->changed;
                    }
            }
        }
    free (line.s);
    d->oom |= d->renamed.oom || d->changes.oom || d->wide.oom || d->narrow.oom || d->reattr.oom;
    int rc = d->oom ? MACX_ENOMEM : (int) d->wide.n;
    if (!d->oom) {
        if (json)
            fprintf (out, "{\"old\":\"%s\",\"new\":\"%s\",", a->hash, b->hash);
        else
            fprintf (out, "old  %s\nnew  %s\n", a->hash, b->hash);
        if (json) {
            fprintf (out, "\"renamed\":[");
            for (int i = 0; i < d->nren; i++) {
                fprintf (out, "%s{\"old\":", i ? "," : "");
                macx_policy_json_str (out, d->ren_old[i]);
                fprintf (out, ",\"new\":");
                macx_policy_json_str (out, d->ren_new[i]);
                fprintf (out, "}");
            }
            fprintf (out, "]");
        }
        else
            s_print_list (out, json, "renamed", "RENAMED", &d->renamed, true);
        s_print_list (out, json, "changes", "CHANGES", &d->changes, false);
        s_print_list (out, json, "widening", "WIDENING", &d->wide, false);
        s_print_list (out, json, "narrowing", "NARROWING", &d->narrow, false);
        s_print_list (out, json, "reattributed", "REATTRIBUTED", &d->reattr, false);
        if (json)
            fprintf (out, ",\"cells\":%ld,\"unchanged_cells\":%ld,\"requests\":%ld,"
                          "\"dates\":%d,\"result\":\"%s\"}\n",
                     d->cells, d->cells - d->changed, d->requests, d->ndates,
                     d->wide.n ? "FAIL" : "PASS");
        else {
            fprintf (out, "UNCHANGED %ld of %ld cells (%ld requests at %d dates)\n",
                     d->cells - d->changed, d->cells, d->requests, d->ndates);
            fprintf (out, "result %s\n", d->wide.n ? "FAIL (widening)" : "PASS (no widening)");
        }
    }
    s_lines_free (&d->renamed);
    s_lines_free (&d->changes);
    s_lines_free (&d->wide);
    s_lines_free (&d->narrow);
    s_lines_free (&d->reattr);
    s_free_descs (d->fdesc_a, a->nflows);
    s_free_descs (d->fdesc_b, b->nflows);
    s_free_descs (d->adesc_a, a->nagreements);
    s_free_descs (d->adesc_b, b->nagreements);
    s_free_descs (d->xdesc_a, a->nforbids);
    s_free_descs (d->xdesc_b, b->nforbids);
    free (d->schema);
    free (d->dates);
    free (c->od);
    free (c->nd);
    free (c);
    free (d);
    return rc;
}
