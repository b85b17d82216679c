/* policy.c -- the compiled policy and its evaluator: one header in, one
 * decision out, through lookup tables and field bitsets. Deny by default,
 * forbid beats permit, fail closed. No allocation, no I/O on this path. */
#include <stdarg.h>
#include <string.h>

#include "names.h"
#include "policy_int.h"

const char *const macx_policy_class_names[MACX_CLASS_COUNT] = {
    "identifier", "personal", "special_category", "operational", "intelligence"
};
const char *const macx_policy_transform_names[MACX_XF_COUNT] = {
    "", "year_only", "postcode_district", "initials", "region_only", "redacted"
};
const char *const macx_policy_status_names[4] = { "draft", "active", "suspended", "terminated" };
const char *const macx_policy_onward_names[3] = { "prohibited", "originator_consent",
                                                  "agreements" };
static const char *const s_retention_from[] = { "receipt", "creation" };
static const char *const s_on_expiry[] = { "delete", "review", "anonymise" };
static const char *const s_decisions[] = { "deny", "permit", "permit_with_changes" };

/* ---- names -------------------------------------------------------------------- */

static uint32_t
s_hash (const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (uint8_t) *s++) * 16777619u;
    return h;
}

void
macx_policy_names_init (macx_policy_names_t *t)
{
    memset (t, 0, sizeof *t);
}

int
macx_policy_names_add (macx_policy_names_t *t, const char *key, int value)
{
    uint32_t i = s_hash (key) & (S_NAMES_SLOTS - 1);
    for (int n = 0; n < S_NAMES_SLOTS; n++, i = (i + 1) & (S_NAMES_SLOTS - 1)) {
        if (!t->key[i]) {
            t->key[i] = key;
            t->value[i] = value;
            return 0;
        }
        if (strcmp (t->key[i], key) == 0)
            return -1;
    }
    return -1;
}

int
macx_policy_names_find (const macx_policy_names_t *t, const char *key)
{
    uint32_t i = s_hash (key) & (S_NAMES_SLOTS - 1);
    for (int n = 0; n < S_NAMES_SLOTS; n++, i = (i + 1) & (S_NAMES_SLOTS - 1)) {
        if (!t->key[i])
            return -1;
        if (strcmp (t->key[i], key) == 0)
            return t->value[i];
    }
    return -1;
}

int
macx_policy_find_agreement (const macx_policy_t *p, const char *id)
{
    for (int i = 0; i < p->nagreements; i++)
        if (strcmp (p->agreements[i].id, id) == 0)
            return i;
    return -1;
}

int
macx_policy_find_type (const macx_policy_t *p, const char *id)
{
    return macx_policy_names_find (&p->type_names, id);
}

int
macx_policy_find_agency (const macx_policy_t *p, const char *id)
{
    return macx_policy_names_find (&p->agency_names, id);
}

int
macx_policy_find_purpose (const macx_policy_t *p, const char *id)
{
    return macx_policy_names_find (&p->purpose_names, id);
}

int
macx_policy_transform_parse (const char *name)
{
    if (!name || !*name)
        return MACX_XF_NONE;
    for (int i = 1; i < MACX_XF_COUNT; i++)
        if (strcmp (name, macx_policy_transform_names[i]) == 0)
            return i;
    return -1;
}

int
macx_policy_class_parse (const char *name)
{
    for (int i = 0; i < MACX_CLASS_COUNT; i++)
        if (strcmp (name, macx_policy_class_names[i]) == 0)
            return i;
    return -1;
}

uint64_t
macx_policy_match_agencies (const macx_policy_t *p, const char *pattern)
{
    size_t len = strlen (pattern);
    uint64_t m = 0;
    if (len > 0 && pattern[len - 1] == '*') {
        if (memchr (pattern, '*', len - 1))
            return 0;   /* only prefix wildcards */
        for (int i = 0; i < p->nagencies; i++)
            if (strncmp (p->agencies[i].id, pattern, len - 1) == 0)
                m |= 1ull << i;
        return m;
    }
    int i = macx_policy_find_agency (p, pattern);
    return i >= 0 ? 1ull << i : 0;
}

char *
macx_policy_agency_list (const macx_policy_t *p, uint64_t mask, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < p->nagencies && used < size; i++)
        if (mask >> i & 1)
            used += (size_t) snprintf (buf + used, size - used, "%s%s", used ? ", " : "",
                                       p->agencies[i].id);
    return buf;
}

char *
macx_policy_phase_list (uint8_t phases, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = 0;
    for (int k = 1; k <= MACX_PHASE_COUNT && used < size; k++)
        if (phases >> k & 1)
            used += (size_t) snprintf (buf + used, size - used, "%s%s", used ? ", " : "",
                                       macx_phase_name (k));
    return buf;
}

size_t
macx_policy_all_fields (const macx_policy_t *p, int type, macx_policy_field_t *fields)
{
    const macx_rtype_t *t = &p->types[type];
    for (int i = 0; i < t->nfields; i++) {
        fields[i].name = t->fields[i].name;
        fields[i].transform = "";
    }
    return (size_t) t->nfields;
}

/* ---- agreements ----------------------------------------------------------------- */

int
macx_policy_agreement_state (const macx_agreement_t *a, int32_t day, unsigned *warnings)
{
    if (a->status != MACX_AGREEMENT_ACTIVE || day < a->effective)
        return MACX__REASON__AGREEMENT_NOT_IN_FORCE;
    if (day > a->expires)
        return MACX__REASON__AGREEMENT_EXPIRED;
    if ((int64_t) day > (int64_t) a->review_by + a->grace)
        return MACX__REASON__REVIEW_LAPSED;
    if (day > a->review_by && warnings)
        *warnings |= MACX_POLICY_WARN_REVIEW_DUE;
    return 0;
}

int
macx_policy_set_effective (macx_policy_t *self, const char *agreement_id, int32_t day)
{
    int i = self && agreement_id ? macx_policy_find_agreement (self, agreement_id) : -1;
    if (i < 0)
        return MACX_ENOTFOUND;
    self->agreements[i].effective = day;
    return 0;
}

int
macx_policy_set_status (macx_policy_t *self, const char *agreement_id,
                        macx_agreement_status_t status)
{
    int i = self && agreement_id ? macx_policy_find_agreement (self, agreement_id) : -1;
    if (i < 0 || (int) status < 0 || status > MACX_AGREEMENT_TERMINATED)
        return MACX_ENOTFOUND;
    self->agreements[i].status = (int) status;
    return 0;
}

const char *
macx_policy_hash (const macx_policy_t *self)
{
    return self ? self->hash : "";
}

size_t
macx_policy_agency_count (const macx_policy_t *self)
{
    return (size_t) self->nagencies;
}

const char *
macx_policy_agency_id (const macx_policy_t *self, size_t i)
{
    return i < (size_t) self->nagencies ? self->agencies[i].id : NULL;
}

size_t
macx_policy_flow_count (const macx_policy_t *self)
{
    return (size_t) self->nflows;
}

size_t
macx_policy_agreement_count (const macx_policy_t *self)
{
    return (size_t) self->nagreements;
}

int
macx_policy_legal_bases (const macx_policy_t *self, const char *agreement, const char *sender,
                         const char *recipient, const char **disclose, const char **receive)
{
    *disclose = *receive = "";
    int a = agreement ? macx_policy_find_agreement (self, agreement) : -1;
    if (a < 0)
        return MACX_ENOTFOUND;
    int from = sender ? macx_policy_find_agency (self, sender) : -1;
    int to = recipient ? macx_policy_find_agency (self, recipient) : -1;
    const macx_agreement_t *g = &self->agreements[a];
    if (from >= 0 && g->disclose_text[from])
        *disclose = g->disclose_text[from];
    if (to >= 0 && g->receive_text[to])
        *receive = g->receive_text[to];
    return from >= 0 && to >= 0 ? MACX_OK : MACX_ENOTFOUND;
}

const char *
macx_policy_field_class (const macx_policy_t *self, const char *record_type, const char *field)
{
    int t = record_type ? macx_policy_find_type (self, record_type) : -1;
    if (t < 0 || !field)
        return NULL;
    int f = macx_policy_names_find (&self->types[t].names, field);
    return f >= 0 ? macx_policy_class_names[self->types[t].fields[f].cls] : NULL;
}

const char *
macx_decision_name (macx_decision_t d)
{
    return (unsigned) d < 3 ? s_decisions[d] : "deny";
}

int
macx_decision_parse (const char *name, macx_decision_t *d)
{
    for (int i = 0; i < 3; i++)
        if (strcmp (name, s_decisions[i]) == 0) {
            *d = (macx_decision_t) i;
            return 0;
        }
    return -1;
}

/* ---- evaluation -------------------------------------------------------------------- */

static int
s_decide (macx_policy_result_t *out, macx_decision_t decision, int reason, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static int
s_decide (macx_policy_result_t *out, macx_decision_t decision, int reason, const char *fmt, ...)
{
    out->decision = decision;
    out->reason = reason;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (out->message, sizeof out->message, fmt, ap);
    va_end (ap);
    return 0;
}

static const char *
s_forbid_rule (const macx_policy_t *p, int from, int to, int type, int field)
{
    for (int r = 0; r < p->nforbids; r++) {
        const macx_forbid_t *x = &p->forbids[r];
        if ((x->from >> from & 1) && (x->to >> to & 1) && (x->mask[type] >> field & 1))
            return x->id;
    }
    return "?";
}

static void
s_reset (const macx_policy_t *p, macx_policy_result_t *out)
{
    out->decision = MACX_DECISION_DENY;
    out->reason = MACX__REASON__INTERNAL_ERROR;
    out->agreement = NULL;
    out->agreement_version = 0;
    out->flow = NULL;
    out->flow_index = -1;
    out->policy_hash = p ? p->hash : "";
    out->nfields = 0;
    out->retention_days = 0;
    out->retention_from = NULL;
    out->on_expiry = NULL;
    out->onward = MACX_ONWARD_PROHIBITED;
    out->onward_agreements = NULL;
    out->nonward_agreements = 0;
    out->max_per_day = 0;
    out->warnings = 0;
    out->message[0] = 0;
}

/* Checks the onward-sharing terms of every flow the record could have
 * arrived by; 0 when this hop is allowed, else the denial written to out. */
static int
s_onward (const macx_policy_t *p, const macx_policy_request_t *req, int from, int purpose,
          const macx_agreement_t *a, macx_policy_result_t *out)
{
    int og = macx_policy_find_agency (p, req->origin);
    int ot = req->origin_record_type ? macx_policy_find_type (p, req->origin_record_type) : -1;
    if (og < 0 || ot < 0 || og == from) {
        s_decide (out, MACX_DECISION_DENY, MACX__REASON__ONWARD_SHARING_PROHIBITED,
                  "the record passes on %s %s, which no flow of this policy delivers to %s",
                  req->origin, req->origin_record_type ? req->origin_record_type : "(no type)",
                  req->sender);
        return -1;
    }
    size_t cell = macx_policy_cell (p, og, from, ot);
    int found = 0;
    for (int k = p->cell_start[cell]; k < p->cell_start[cell + 1]; k++) {
        const macx_flow_t *g = &p->flows[p->cell_flows[k]];
        if (!(g->purposes >> purpose & 1))
            continue;
        found = 1;
        const char *gid = p->agreements[g->agreement].id;
        if (g->onward == MACX_ONWARD_PROHIBITED) {
            s_decide (out, MACX_DECISION_DENY, MACX__REASON__ONWARD_SHARING_PROHIBITED,
                      "%s received this %s from %s under %s/%s, which prohibits onward sharing",
                      req->sender, req->origin_record_type, req->origin, gid, g->id);
            return -1;
        }
        if (g->onward == MACX_ONWARD_ORIGINATOR_CONSENT && !req->origin_consent) {
            s_decide (out, MACX_DECISION_DENY, MACX__REASON__ONWARD_SHARING_PROHIBITED,
                      "%s/%s allows onward sharing only with the consent of %s, and the record "
                      "does not carry it", gid, g->id, req->origin);
            return -1;
        }
        if (g->onward == MACX_ONWARD_AGREEMENTS) {
            int ok = 0;
            for (size_t i = 0; i < g->nonward; i++)
                ok |= strcmp (g->onward_agreements[i], a->id) == 0;
            if (!ok) {
                s_decide (out, MACX_DECISION_DENY, MACX__REASON__ONWARD_SHARING_PROHIBITED,
                          "%s/%s allows onward sharing only under named agreements, not %s", gid,
                          g->id, a->id);
                return -1;
            }
        }
    }
    if (!found) {
        s_decide (out, MACX_DECISION_DENY, MACX__REASON__ONWARD_SHARING_PROHIBITED,
                  "no flow delivers %s from %s to %s for this purpose, so it cannot be passed on",
                  req->origin_record_type, req->origin, req->sender);
        return -1;
    }
    return 0;
}

int
macx_policy_evaluate (const macx_policy_t *p, const macx_policy_request_t *req,
                      macx_policy_result_t *out)
{
    if (!out)
        return MACX_EINVAL;
    s_reset (p, out);
    if (!p || !req || !req->sender || !req->recipient || !req->record_type || !req->purpose
        || (req->nfields && !req->fields)) {
        s_decide (out, MACX_DECISION_DENY, MACX__REASON__INTERNAL_ERROR,
                  "the request is incomplete (no sender, recipient, type or purpose)");
        return MACX_EINVAL;
    }
    int type = macx_policy_find_type (p, req->record_type);
    if (type < 0)
        return s_decide (out, MACX_DECISION_DENY, MACX__REASON__UNKNOWN_RECORD_TYPE,
                         "record type '%s' is not in the schema", req->record_type);
    const macx_rtype_t *t = &p->types[type];
    if (req->nfields > MACX_POLICY_MAX_FIELDS)
        return s_decide (out, MACX_DECISION_DENY, MACX__REASON__UNKNOWN_FIELD,
                         "the manifest lists %zu fields; %s has %d", req->nfields, t->id,
                         t->nfields);
    /* manifest -> field indices, transforms and a presence bitset */
    uint8_t idx[MACX_POLICY_MAX_FIELDS], xf[MACX_POLICY_MAX_FIELDS];
    uint64_t present = 0;
    for (size_t i = 0; i < req->nfields; i++) {
        const char *name = req->fields[i].name;
        int fi = name ? macx_policy_names_find (&t->names, name) : -1;
        if (fi < 0)
            return s_decide (out, MACX_DECISION_DENY, MACX__REASON__UNKNOWN_FIELD,
                             "%s has no field '%s'", t->id, name ? name : "(null)");
        if (present >> fi & 1)
            return s_decide (out, MACX_DECISION_DENY, MACX__REASON__UNKNOWN_FIELD,
                             "field %s appears twice in the manifest", name);
        int x = macx_policy_transform_parse (req->fields[i].transform);
        if (x < 0 || (x > 0 && !(t->fields[fi].transforms >> x & 1)))
            return s_decide (out, MACX_DECISION_DENY, MACX__REASON__UNKNOWN_FIELD,
                             "transform '%s' is not defined for field %s.%s",
                             req->fields[i].transform, t->id, name);
        present |= 1ull << fi;
        idx[i] = (uint8_t) fi;
        xf[i] = (uint8_t) x;
    }
    int from = macx_policy_find_agency (p, req->sender);
    int to = macx_policy_find_agency (p, req->recipient);
    if (from < 0 || to < 0)
        return s_decide (out, MACX_DECISION_DENY, MACX__REASON__NO_AGREEMENT,
                         "agency '%s' is not known to this policy",
                         from < 0 ? req->sender : req->recipient);
    uint64_t pair = (1ull << from) | (1ull << to);
    int any = 0;
    for (int i = 0; i < p->nagreements && !any; i++)
        any = (p->agreements[i].parties & pair) == pair;
    if (!any || from == to)
        return s_decide (out, MACX_DECISION_DENY, MACX__REASON__NO_AGREEMENT,
                         "no agreement has both %s and %s as parties", req->sender, req->recipient);

    /* candidate flows for (from, to, type), then purpose, then phase */
    size_t cell = macx_policy_cell (p, from, to, type);
    int lo = p->cell_start[cell], hi = p->cell_start[cell + 1];
    if (lo == hi)
        return s_decide (out, MACX_DECISION_DENY, MACX__REASON__NO_FLOW,
                         "no flow lets %s send %s to %s", req->sender, t->id, req->recipient);
    int purpose = macx_policy_find_purpose (p, req->purpose);
    const macx_flow_t *f = NULL;
    int fidx = -1, purpose_ok = 0;
    for (int k = lo; k < hi; k++) {
        const macx_flow_t *g = &p->flows[p->cell_flows[k]];
        if (purpose < 0 || !(g->purposes >> purpose & 1))
            continue;
        purpose_ok = 1;
        if (req->phase > 0 && req->phase <= MACX_PHASE_COUNT && (g->phases >> req->phase & 1)) {
            f = g;
            fidx = p->cell_flows[k];
            break;
        }
    }
    if (!purpose_ok)
        return s_decide (out, MACX_DECISION_DENY, MACX__REASON__PURPOSE_NOT_ALLOWED,
                         "no flow from %s to %s for %s allows purpose '%s'", req->sender,
                         req->recipient, t->id, req->purpose);
    if (!f)
        return s_decide (out, MACX_DECISION_DENY, MACX__REASON__PHASE_NOT_ALLOWED,
                         "no flow from %s to %s for %s allows phase %s", req->sender,
                         req->recipient, t->id, macx_phase_name (req->phase));

    const macx_agreement_t *a = &p->agreements[f->agreement];
    out->agreement = a->id;
    out->agreement_version = a->version;
    out->flow = f->id;
    out->flow_index = fidx;
    out->retention_days = f->retention_days;
    out->retention_from = s_retention_from[f->retention_from];
    out->on_expiry = s_on_expiry[f->on_expiry];
    out->onward = (macx_onward_t) f->onward;
    out->onward_agreements = (const char *const *) f->onward_agreements;
    out->nonward_agreements = f->nonward;
    out->max_per_day = f->max_per_day;

    int state = macx_policy_agreement_state (a, req->date, &out->warnings);
    if (state == MACX__REASON__AGREEMENT_NOT_IN_FORCE)
        return s_decide (out, MACX_DECISION_DENY, state,
                         a->status != MACX_AGREEMENT_ACTIVE
                             ? "agreement %s is %s, not active"
                             : "agreement %s does not take effect before its effective date",
                         a->id, macx_policy_status_names[a->status]);
    if (state == MACX__REASON__AGREEMENT_EXPIRED)
        return s_decide (out, MACX_DECISION_DENY, state, "agreement %s has expired", a->id);
    if (state == MACX__REASON__REVIEW_LAPSED)
        return s_decide (out, MACX_DECISION_DENY, state,
                         "agreement %s was due for review and its grace period has passed", a->id);
    if (req->case_phase != req->phase)
        return s_decide (out, MACX_DECISION_DENY, MACX__REASON__CASE_PHASE_MISMATCH,
                         "flow %s/%s matches phase %s, but the case is in %s", a->id, f->id,
                         macx_phase_name (req->phase), macx_phase_name (req->case_phase));
    if (!(a->disclose >> from & 1) || !(a->receive >> to & 1))
        return s_decide (out, MACX_DECISION_DENY, MACX__REASON__MISSING_LEGAL_BASIS,
                         "agreement %s records no legal basis for %s to %s", a->id,
                         !(a->disclose >> from & 1) ? req->sender : req->recipient,
                         !(a->disclose >> from & 1) ? "disclose" : "receive");
    if (req->origin && *req->origin && strcmp (req->origin, req->sender) != 0
        && s_onward (p, req, from, purpose, a, out) != 0)
        return 0;
    if (f->max_per_day && req->sent_today >= f->max_per_day)
        return s_decide (out, MACX_DECISION_DENY, MACX__REASON__RATE_LIMITED,
                         "flow %s/%s allows at most %u records a day", a->id, f->id,
                         f->max_per_day);
    uint64_t missing = f->require & ~present;
    if (missing)
        return s_decide (out, MACX_DECISION_DENY, MACX__REASON__REQUIRED_FIELD_MISSING,
                         "flow %s/%s requires field %s", a->id, f->id,
                         t->fields[__builtin_ctzll (missing)].name);

    /* field by field: forbid, then transform, then allow, else drop */
    uint64_t forbid = p->cell_forbid[cell];
    int nforbid = 0, nnot = 0, nxf = 0;
    const char *first = NULL;
    for (size_t i = 0; i < req->nfields; i++) {
        int fi = idx[i];
        macx_policy_field_result_t *r = &out->fields[i];
        r->name = t->fields[fi].name;
        r->rule = NULL;
        r->transform = macx_policy_transform_names[xf[i]];
        if (forbid >> fi & 1) {
            r->disposition = MACX_FIELD_DROP_FORBIDDEN;
            r->rule = s_forbid_rule (p, from, to, type, fi);
            if (!nforbid++)
                first = r->name;
        }
        else if (f->xform >> fi & 1) {
            if (xf[i] == f->xform_of[fi])
                r->disposition = MACX_FIELD_RELEASED;
            else {
                r->disposition = MACX_FIELD_TRANSFORM;
                r->transform = macx_policy_transform_names[f->xform_of[fi]];
                if (!nxf++ && !nforbid && !nnot)
                    first = r->name;
            }
        }
        else if (f->allow >> fi & 1)
            r->disposition = MACX_FIELD_RELEASED;
        else {
            r->disposition = MACX_FIELD_DROP_NOT_ALLOWED;
            if (!nnot++ && !nforbid)
                first = r->name;
        }
    }
    out->nfields = req->nfields;
    if (nforbid)
        return s_decide (out, MACX_DECISION_PERMIT_WITH_CHANGES, MACX__REASON__FIELD_FORBIDDEN,
                         "flow %s/%s permits this record once field %s is dropped (forbidden)",
                         a->id, f->id, first);
    if (nnot)
        return s_decide (out, MACX_DECISION_PERMIT_WITH_CHANGES, MACX__REASON__FIELD_NOT_ALLOWED,
                         "flow %s/%s permits this record once field %s is dropped (not allowed)",
                         a->id, f->id, first);
    if (nxf)
        return s_decide (out, MACX_DECISION_PERMIT_WITH_CHANGES, MACX__REASON__TRANSFORM_REQUIRED,
                         "flow %s/%s permits this record once field %s is transformed", a->id,
                         f->id, first);
    return s_decide (out, MACX_DECISION_PERMIT, MACX__REASON__REASON_NONE, "permitted by %s/%s",
                     a->id, f->id);
}

int
macx_policy_prepare (const macx_policy_t *p, const macx_policy_request_t *req,
                     macx_policy_field_t *fields_out, size_t max, size_t *nout,
                     macx_policy_result_t *out)
{
    if (nout)
        *nout = 0;
    if (!req || !fields_out || !nout || !out || req->nfields > MACX_POLICY_MAX_FIELDS) {
        if (out) {
            s_reset (p, out);
            s_decide (out, MACX_DECISION_DENY, MACX__REASON__INTERNAL_ERROR,
                      "prepare was called without a request, an output or with too many fields");
        }
        return MACX_EINVAL;
    }
    macx_policy_field_t held[MACX_POLICY_MAX_FIELDS];
    for (size_t i = 0; i < req->nfields; i++) {
        held[i].name = req->fields[i].name;
        held[i].transform = "";
    }
    macx_policy_request_t r = *req;
    r.fields = held;
    int rc = macx_policy_evaluate (p, &r, out);
    if (rc || out->decision == MACX_DECISION_DENY)
        return rc;
    size_t n = 0;
    for (size_t i = 0; i < out->nfields; i++) {
        const macx_policy_field_result_t *f = &out->fields[i];
        if (f->disposition == MACX_FIELD_RELEASED || f->disposition == MACX_FIELD_TRANSFORM) {
            if (n == max) {
                s_decide (out, MACX_DECISION_DENY, MACX__REASON__INTERNAL_ERROR,
                          "prepare's output holds only %zu fields", max);
                return MACX_ETOOBIG;
            }
            fields_out[n].name = f->name;
            fields_out[n].transform = f->disposition == MACX_FIELD_TRANSFORM ? f->transform : "";
            n++;
        }
    }
    r.fields = fields_out;
    r.nfields = n;
    *nout = n;
    return macx_policy_evaluate (p, &r, out);
}
