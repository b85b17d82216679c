/* suite.c -- policy test files: cases with expected decisions, matrices
 * where every unlisted cell must deny, and `never` properties checked over
 * the whole finite decision space; plus decision-space coverage (flows never
 * exercised, (flow, field) pairs no case pins down, reason codes never
 * produced, date boundaries never hit). */
#include "file.h"
#include "names.h"
#include "yaml.h"

#define S_REASONS 19         /* policy reason codes 1..18 */
#define S_BOUNDARIES 4       /* per agreement */

typedef struct s_case_rec s_case_t;   /* one parsed case (below) */

struct macx_policy_suite_t {
    const macx_policy_t *p;
    bool json;
    FILE *out;
    int passed, failed;
    uint8_t *flow_hit;                   /* [nflows] */
    uint8_t reason_hit[S_REASONS];
    uint8_t *boundary_hit;               /* [nagreements * S_BOUNDARIES] */
    int32_t date;                        /* the current file's default date */
    s_case_t **cases;                    /* every case run, for field coverage */
    size_t ncases, cases_cap;
};

static const char *const s_boundary_names[S_BOUNDARIES] = {
    "effective_from", "review_by+1", "review_by+grace+1", "expires+1"
};

static int32_t
s_boundary (const macx_agreement_t *a, int k)
{
    switch (k) {
    case 0: return a->effective;
    case 1: return a->review_by + 1;
    case 2: return a->review_by + a->grace + 1;
    default: return a->expires + 1;
    }
}

macx_policy_suite_t *
macx_policy_suite_new (const macx_policy_t *policy, bool json, FILE *out)
{
    if (!policy || !out)
        return NULL;
    macx_policy_suite_t *s = calloc (1, sizeof *s);
    if (!s)
        return NULL;
    s->p = policy;
    s->json = json;
    s->out = out;
    s->flow_hit = calloc ((size_t) policy->nflows + 1, 1);
    s->boundary_hit = calloc ((size_t) policy->nagreements * S_BOUNDARIES + 1, 1);
    if (!s->flow_hit || !s->boundary_hit)
        macx_policy_suite_destroy (&s);
    return s;
}

void
macx_policy_suite_destroy (macx_policy_suite_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->flow_hit);
    free ((*self_p)->boundary_hit);
    for (size_t i = 0; i < (*self_p)->ncases; i++)
        free ((*self_p)->cases[i]);
    free ((*self_p)->cases);
    free (*self_p);
    *self_p = NULL;
}

static void
s_cover (macx_policy_suite_t *s, const macx_policy_request_t *req, const macx_policy_result_t *r)
{
    if (r->flow_index >= 0) {
        s->flow_hit[r->flow_index] = 1;
        int ai = s->p->flows[r->flow_index].agreement;
        for (int k = 0; k < S_BOUNDARIES; k++) {
            int32_t b = s_boundary (&s->p->agreements[ai], k);
            if (req->date == b || req->date == b - 1)
                s->boundary_hit[ai * S_BOUNDARIES + k] = 1;
        }
    }
    if (r->reason > 0 && r->reason < S_REASONS)
        s->reason_hit[r->reason] = 1;
}

static void
s_result (macx_policy_suite_t *s, bool ok, const char *kind, const char *name, const char *detail)
{
    if (ok)
        s->passed++;
    else
        s->failed++;
    if (s->json)
        return;
    fprintf (s->out, "%s  %s: %s\n", ok ? "ok  " : "FAIL", kind, name);
    if (!ok && detail[0])
        fprintf (s->out, "%s", detail);
}

/* Appends one printf-formatted line to a detail buffer. */
static void
s_add (char *buf, size_t size, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

static void
s_add (char *buf, size_t size, const char *fmt, ...)
{
    size_t used = strlen (buf);
    if (used + 1 >= size)
        return;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (buf + used, size - used, fmt, ap);
    va_end (ap);
}

/* ---- requests --------------------------------------------------------------- */

typedef struct {
    char from[64], to[64], type[64], purpose[64], origin[64], origin_type[64];
    char fnames[MACX_POLICY_MAX_FIELDS][64], fxf[MACX_POLICY_MAX_FIELDS][32];
    macx_policy_field_t fields[MACX_POLICY_MAX_FIELDS];
    macx_policy_request_t req;
} s_req_t;

static int
s_phase (s_ctx_t *c, struct fy_node *n, const char *what, int *phase)
{
    char buf[64];
    int rc = s_scalar (c, n, what, buf, sizeof buf);
    if (rc)
        return rc;
    *phase = macx_phase_parse (buf);
    return *phase ? 0 : s_fail (c, n, "unknown phase '%s'", buf);
}

static int
s_field_entry (s_ctx_t *c, struct fy_node *item, const char *text, void *arg)
{
    s_req_t *r = arg;
    size_t i = r->req.nfields;
    if (i == MACX_POLICY_MAX_FIELDS)
        return s_fail (c, item, "more than %d fields", MACX_POLICY_MAX_FIELDS);
    const char *colon = strchr (text, ':');
    size_t nlen = colon ? (size_t) (colon - text) : strlen (text);
    if (nlen == 0 || nlen >= sizeof r->fnames[i] || (colon && strlen (colon + 1) >= 32))
        return s_fail (c, item, "field '%s' is not name or name:transform", text);
    memcpy (r->fnames[i], text, nlen);
    r->fnames[i][nlen] = 0;
    snprintf (r->fxf[i], sizeof r->fxf[i], "%s", colon ? colon + 1 : "");
    r->fields[i].name = r->fnames[i];
    r->fields[i].transform = r->fxf[i];
    r->req.nfields++;
    return 0;
}

static int
s_request (macx_policy_suite_t *s, s_ctx_t *c, struct fy_node *n, s_req_t *r)
{
    static const char *const keys[] = { "from", "to", "type", "purpose", "phase", "case_phase",
                                        "date", "fields", "origin", "origin_type",
                                        "origin_consent", "sent_today", NULL };
    static const char *const req[] = { "from", "to", "type", "phase", NULL };
    memset (r, 0, sizeof *r);
    int rc = s_keys (c, n, "a request", keys, req);
    if (rc || (rc = s_scalar (c, s_get (n, "from"), "from", r->from, sizeof r->from))
        || (rc = s_scalar (c, s_get (n, "to"), "to", r->to, sizeof r->to))
        || (rc = s_scalar (c, s_get (n, "type"), "type", r->type, sizeof r->type))
        || (rc = s_phase (c, s_get (n, "phase"), "phase", &r->req.phase)))
        return rc;
    snprintf (r->purpose, sizeof r->purpose, "mac_case_management");
    if (s_get (n, "purpose")
        && (rc = s_scalar (c, s_get (n, "purpose"), "purpose", r->purpose, sizeof r->purpose)))
        return rc;
    r->req.case_phase = r->req.phase;
    if (s_get (n, "case_phase")
        && (rc = s_phase (c, s_get (n, "case_phase"), "case_phase", &r->req.case_phase)))
        return rc;
    r->req.date = s->date;
    if (s_get (n, "date") && (rc = s_date (c, s_get (n, "date"), "date", &r->req.date)))
        return rc;
    if (r->req.date == INT32_MIN)
        return s_fail (c, n, "the request has no date and the file sets none");
    if (s_get (n, "fields")
        && (rc = s_list (c, s_get (n, "fields"), "fields", s_field_entry, r)))
        return rc;
    if (s_get (n, "origin")) {
        if ((rc = s_scalar (c, s_get (n, "origin"), "origin", r->origin, sizeof r->origin)))
            return rc;
        r->req.origin = r->origin;
    }
    if (s_get (n, "origin_type")) {
        if ((rc = s_scalar (c, s_get (n, "origin_type"), "origin_type", r->origin_type,
                            sizeof r->origin_type)))
            return rc;
        r->req.origin_record_type = r->origin_type;
    }
    if (s_get (n, "origin_consent")) {
        char b[16];
        if ((rc = s_scalar (c, s_get (n, "origin_consent"), "origin_consent", b, sizeof b)))
            return rc;
        if (strcmp (b, "true") && strcmp (b, "false"))
            return s_fail (c, s_get (n, "origin_consent"), "origin_consent must be true or false");
        r->req.origin_consent = strcmp (b, "true") == 0;
    }
    if (s_get (n, "sent_today")) {
        long v = 0;
        if ((rc = s_int (c, s_get (n, "sent_today"), "sent_today", 0, 100000000, &v)))
            return rc;
        r->req.sent_today = (uint32_t) v;
    }
    r->req.sender = r->from;
    r->req.recipient = r->to;
    r->req.record_type = r->type;
    r->req.purpose = r->purpose;
    r->req.fields = r->fields;
    return 0;
}

/* ---- cases ------------------------------------------------------------------ */

#define S_CASE_NAME 256

/* One case, parsed once and kept: field coverage judges it again against
 * changed copies of the policy. Holds pointers into itself (the request's
 * strings), so it lives on the heap and is never copied. */
struct s_case_rec {
    s_req_t r;
    char name[S_CASE_NAME];
    macx_decision_t decision;
    char decision_text[32];
    bool has_reason, has_agreement, has_flow, has_retention, has_onward, has_warnings;
    int reason;
    char reason_text[64], agreement[128], flow[160], onward[64];
    long retention_days;
    unsigned warnings;
    size_t nfields;
    char fname[MACX_POLICY_MAX_FIELDS][64], fwant[MACX_POLICY_MAX_FIELDS][96];
    bool passed;                         /* against the policy under test */
    int flow_index;                      /* the flow that decided it, or -1 */
};

/* Judges the case against policy p: true when every expectation holds; the
 * differences, one line each, are appended to detail. */
static bool
s_case_check (const macx_policy_t *p, const s_case_t *k, macx_policy_result_t *res,
              char *detail, size_t size)
{
    detail[0] = 0;
    macx_policy_evaluate (p, &k->r.req, res);
    if (k->decision != res->decision)
        s_add (detail, size, "      decision: expected %s, got %s (%s: %s)\n", k->decision_text,
               macx_decision_name (res->decision),
               res->reason ? macx_reason_name (res->reason) : "-", res->message);
    if (k->has_reason && k->reason != res->reason)
        s_add (detail, size, "      reason: expected %s, got %s (%s)\n", k->reason_text,
               res->reason ? macx_reason_name (res->reason) : "NONE", res->message);
    if (k->has_agreement && (!res->agreement || strcmp (k->agreement, res->agreement)))
        s_add (detail, size, "      agreement: expected %s, got %s\n", k->agreement,
               res->agreement ? res->agreement : "none");
    if (k->has_flow) {
        char got[160] = "none";
        if (res->flow)
            snprintf (got, sizeof got, strchr (k->flow, '/') ? "%s/%s" : "%.0s%s",
                      res->agreement, res->flow);
        if (strcmp (k->flow, got))
            s_add (detail, size, "      flow: expected %s, got %s\n", k->flow, got);
    }
    for (size_t j = 0; j < k->nfields; j++) {
        char got_d[96] = "absent";
        for (size_t i = 0; i < res->nfields; i++)
            if (strcmp (res->fields[i].name, k->fname[j]) == 0)
                macx_policy_disposition (&res->fields[i], got_d, sizeof got_d);
        bool same = strcmp (k->fwant[j], got_d) == 0
                    || (strcmp (k->fwant[j], "forbidden") == 0
                        && strncmp (got_d, "forbidden:", 10) == 0);
        if (!same)
            s_add (detail, size, "      field %s: expected %s, got %s\n", k->fname[j],
                   k->fwant[j], got_d);
    }
    if (k->has_retention && k->retention_days != res->retention_days)
        s_add (detail, size, "      retention_days: expected %ld, got %d\n", k->retention_days,
               res->retention_days);
    if (k->has_onward) {
        const char *got = res->flow_index >= 0 ? macx_policy_onward_names[res->onward] : "none";
        if (strcmp (k->onward, got))
            s_add (detail, size, "      onward: expected %s, got %s\n", k->onward, got);
    }
    if (k->has_warnings && k->warnings != res->warnings)
        s_add (detail, size, "      warnings: expected %s, got %s\n",
               k->warnings ? "[REVIEW_DUE]" : "[]", res->warnings ? "[REVIEW_DUE]" : "[]");
    return detail[0] == 0;
}

/* Reads a case's expectations into k; returns 0 or the parse error. */
static int
s_case_expect (s_ctx_t *c, struct fy_node *e, s_case_t *k)
{
    static const char *const ekeys[] = { "decision", "reason", "agreement", "flow", "fields",
                                         "retention_days", "onward", "warnings", NULL };
    int rc = s_keys (c, e, "expect", ekeys, (const char *const[]) { "decision", NULL });
    if (rc || (rc = s_scalar (c, s_get (e, "decision"), "decision", k->decision_text,
                              sizeof k->decision_text)))
        return rc;
    if (macx_decision_parse (k->decision_text, &k->decision) != 0)
        return s_fail (c, s_get (e, "decision"),
                       "decision must be deny, permit or permit_with_changes, not '%s'",
                       k->decision_text);
    if (s_get (e, "reason")) {
        if ((rc = s_scalar (c, s_get (e, "reason"), "reason", k->reason_text,
                            sizeof k->reason_text)))
            return rc;
        k->reason = strcmp (k->reason_text, "NONE") == 0 ? 0 : macx_reason_parse (k->reason_text);
        if (k->reason < 0 || k->reason >= S_REASONS)
            return s_fail (c, s_get (e, "reason"), "unknown reason code '%s'", k->reason_text);
        k->has_reason = true;
    }
    if (s_get (e, "agreement")) {
        if ((rc = s_scalar (c, s_get (e, "agreement"), "agreement", k->agreement,
                            sizeof k->agreement)))
            return rc;
        k->has_agreement = true;
    }
    if (s_get (e, "flow")) {
        if ((rc = s_scalar (c, s_get (e, "flow"), "flow", k->flow, sizeof k->flow)))
            return rc;
        k->has_flow = true;
    }
    struct fy_node *fe = s_get (e, "fields");
    if (fe) {
        if (fy_node_is_alias (fe) || fy_node_get_type (fe) != FYNT_MAPPING)
            return s_fail (c, fe, "expect.fields must map field names to outcomes");
        void *it = NULL;
        struct fy_node_pair *pr;
        while ((pr = fy_node_mapping_iterate (fe, &it))) {
            if (k->nfields == MACX_POLICY_MAX_FIELDS)
                return s_fail (c, fy_node_pair_key (pr), "more than %d fields",
                               MACX_POLICY_MAX_FIELDS);
            char *fname = k->fname[k->nfields], *want = k->fwant[k->nfields];
            if ((rc = s_scalar (c, fy_node_pair_key (pr), "field", fname, sizeof k->fname[0]))
                || (rc = s_scalar (c, fy_node_pair_value (pr), "outcome", want,
                                   sizeof k->fwant[0])))
                return rc;
            if (strcmp (want, "released") && strncmp (want, "transform:", 10)
                && strncmp (want, "forbidden", 9) && strcmp (want, "not_allowed"))
                return s_fail (c, fy_node_pair_value (pr),
                               "field outcome must be released, transform:T, forbidden[:RULE] "
                               "or not_allowed, not '%s'", want);
            k->nfields++;
        }
    }
    if (s_get (e, "retention_days")) {
        if ((rc = s_int (c, s_get (e, "retention_days"), "retention_days", 0, 36500,
                         &k->retention_days)))
            return rc;
        k->has_retention = true;
    }
    if (s_get (e, "onward")) {
        if ((rc = s_scalar (c, s_get (e, "onward"), "onward", k->onward, sizeof k->onward)))
            return rc;
        k->has_onward = true;
    }
    struct fy_node *w = s_get (e, "warnings");
    if (w) {
        if (fy_node_is_alias (w) || fy_node_get_type (w) != FYNT_SEQUENCE)
            return s_fail (c, w, "warnings must be a list (e.g. [] or [REVIEW_DUE])");
        void *it = NULL;
        struct fy_node *item;
        char buf[64];
        while ((item = fy_node_sequence_iterate (w, &it))) {
            if ((rc = s_scalar (c, item, "warning", buf, sizeof buf)))
                return rc;
            if (strcmp (buf, "REVIEW_DUE"))
                return s_fail (c, item, "unknown warning '%s' (REVIEW_DUE)", buf);
            k->warnings |= MACX_POLICY_WARN_REVIEW_DUE;
        }
        k->has_warnings = true;
    }
    return 0;
}

static int
s_case (macx_policy_suite_t *s, s_ctx_t *c, struct fy_node *n)
{
    static const char *const keys[] = { "name", "request", "expect", NULL };
    if (s->ncases == s->cases_cap) {
        size_t cap = s->cases_cap ? s->cases_cap * 2 : 64;
        s_case_t **grown = realloc (s->cases, cap * sizeof *grown);
        if (!grown)
            return s_fail (c, n, "out of memory");
        s->cases = grown;
        s->cases_cap = cap;
    }
    s_case_t *k = calloc (1, sizeof *k);
    if (!k)
        return s_fail (c, n, "out of memory");
    char detail[4096];
    int rc = s_keys (c, n, "a case", keys, keys);
    if (rc || (rc = s_scalar (c, s_get (n, "name"), "name", k->name, sizeof k->name))
        || (rc = s_request (s, c, s_get (n, "request"), &k->r))
        || (rc = s_case_expect (c, s_get (n, "expect"), k))) {
        free (k);
        return rc;
    }
    macx_policy_result_t res;
    k->passed = s_case_check (s->p, k, &res, detail, sizeof detail);
    k->flow_index = res.flow_index;
    s_cover (s, &k->r.req, &res);
    s->cases[s->ncases++] = k;
    s_result (s, k->passed, "case", k->name, detail);
    return 0;
}

/* ---- matrices ---------------------------------------------------------------- */

#define S_MATRIX_MAX 64

typedef struct {
    char v[S_MATRIX_MAX][128];
    int n;
} s_words_t;

static int
s_word_item (s_ctx_t *c, struct fy_node *item, const char *text, void *arg)
{
    s_words_t *w = arg;
    if (w->n == S_MATRIX_MAX)
        return s_fail (c, item, "more than %d values", S_MATRIX_MAX);
    snprintf (w->v[w->n++], sizeof w->v[0], "%s", text);
    return 0;
}

static int
s_matrix (macx_policy_suite_t *s, s_ctx_t *c, struct fy_node *n)
{
    static const char *const keys[] = { "name", "from", "to", "type", "purpose", "phase", "date",
                                        "permit", NULL };
    static const char *const req[] = { "name", "from", "to", "type", "phase", "permit", NULL };
    char name[256], detail[4096] = "";
    int rc = s_keys (c, n, "a matrix", keys, req);
    if (rc || (rc = s_scalar (c, s_get (n, "name"), "name", name, sizeof name)))
        return rc;
    static s_words_t from, to, type, purpose, phase, permit;
    memset (&purpose, 0, sizeof purpose);
    from.n = to.n = type.n = phase.n = permit.n = 0;
    if ((rc = s_list (c, s_get (n, "from"), "from", s_word_item, &from))
        || (rc = s_list (c, s_get (n, "to"), "to", s_word_item, &to))
        || (rc = s_list (c, s_get (n, "type"), "type", s_word_item, &type))
        || (rc = s_list (c, s_get (n, "phase"), "phase", s_word_item, &phase)))
        return rc;
    if (s_get (n, "purpose")) {
        if ((rc = s_list (c, s_get (n, "purpose"), "purpose", s_word_item, &purpose)))
            return rc;
    }
    else
        s_word_item (c, n, "mac_case_management", &purpose);
    struct fy_node *pn = s_get (n, "permit");
    if (!fy_node_is_alias (pn) && fy_node_get_type (pn) == FYNT_SEQUENCE
        && fy_node_sequence_item_count (pn) == 0)
        permit.n = 0;
    else if ((rc = s_list (c, pn, "permit", s_word_item, &permit)))
        return rc;
    int32_t date = s->date;
    if (s_get (n, "date") && (rc = s_date (c, s_get (n, "date"), "date", &date)))
        return rc;
    if (date == INT32_MIN)
        return s_fail (c, n, "the matrix has no date and the file sets none");
    for (int i = 0; i < phase.n; i++)
        if (!macx_phase_parse (phase.v[i]))
            return s_fail (c, s_get (n, "phase"), "unknown phase '%s'", phase.v[i]);
    uint8_t used[S_MATRIX_MAX] = { 0 };
    int wrong = 0;
    for (int a = 0; a < from.n; a++)
        for (int b = 0; b < to.n; b++)
            for (int t = 0; t < type.n; t++)
                for (int u = 0; u < purpose.n; u++)
                    for (int h = 0; h < phase.n; h++) {
                        if (strcmp (from.v[a], to.v[b]) == 0)
                            continue;
                        char label[300];
                        if (purpose.n > 1)
                            snprintf (label, sizeof label, "%s>%s:%s:%s:%s", from.v[a], to.v[b],
                                      type.v[t], purpose.v[u], phase.v[h]);
                        else
                            snprintf (label, sizeof label, "%s>%s:%s:%s", from.v[a], to.v[b],
                                      type.v[t], phase.v[h]);
                        bool want = false;
                        for (int k = 0; k < permit.n; k++)
                            if (strcmp (permit.v[k], label) == 0) {
                                want = true;
                                used[k] = 1;
                            }
                        macx_policy_field_t fields[MACX_POLICY_MAX_FIELDS];
                        int ti = macx_policy_find_type (s->p, type.v[t]);
                        macx_policy_request_t rq = {
                            .sender = from.v[a], .recipient = to.v[b], .record_type = type.v[t],
                            .purpose = purpose.v[u], .phase = macx_phase_parse (phase.v[h]),
                            .date = date, .fields = fields,
                            .nfields = ti >= 0 ? macx_policy_all_fields (s->p, ti, fields) : 0,
                        };
                        rq.case_phase = rq.phase;
                        macx_policy_result_t res;
                        macx_policy_evaluate (s->p, &rq, &res);
                        s_cover (s, &rq, &res);
                        bool got = res.decision != MACX_DECISION_DENY;
                        if (got != want && wrong++ < 20)
                            s_add (detail, sizeof detail, "      %s: expected %s, got %s (%s)\n",
                                   label, want ? "permit" : "deny",
                                   macx_decision_name (res.decision),
                                   res.reason ? macx_reason_name (res.reason) : "-");
                    }
    for (int k = 0; k < permit.n; k++)
        if (!used[k])
            return s_fail (c, pn, "permit cell '%s' is not in the matrix (from>to:type:phase, or "
                           "from>to:type:purpose:phase when it lists several purposes)",
                           permit.v[k]);
    if (wrong > 20)
        s_add (detail, sizeof detail, "      ... and %d more cells\n", wrong - 20);
    s_result (s, wrong == 0, "matrix", name, detail);
    return 0;
}

/* ---- never -------------------------------------------------------------------- */

typedef struct {
    char *detail;
    size_t size;
    int count;
} s_never_arg_t;

static void
s_never_cb (void *arg, const char *from, const char *to, const char *type, const char *purpose,
            int phase, int32_t date, const char *field, const char *flow)
{
    s_never_arg_t *na = arg;
    char d[16];
    if (na->count++ < 10)
        s_add (na->detail, na->size, "      %s -> %s %s.%s released by %s (%s, %s, %s)\n", from,
               to, type, field, flow, purpose, macx_phase_name (phase), macx_date_format (date, d));
}

int
macx_policy_never (const macx_policy_t *p, const char *from_pattern, const char *to_pattern,
                   const char *field_class, const char *field, macx_policy_never_cb cb, void *arg)
{
    uint64_t from = from_pattern ? macx_policy_match_agencies (p, from_pattern) : ~0ull;
    uint64_t to = to_pattern ? macx_policy_match_agencies (p, to_pattern) : ~0ull;
    int cls = field_class ? macx_policy_class_parse (field_class) : -1;
    if ((field_class && cls < 0) || (!field_class && !field))
        return MACX_EINVAL;
    /* every date where some agreement changes state, and the day before */
    int32_t dates[S_BOUNDARIES * 2 * 256 + 1];
    int nd = 0;
    for (int i = 0; i < p->nagreements && nd + 8 < (int) (sizeof dates / sizeof dates[0]); i++)
        for (int k = 0; k < S_BOUNDARIES; k++) {
            dates[nd++] = s_boundary (&p->agreements[i], k);
            dates[nd++] = s_boundary (&p->agreements[i], k) - 1;
        }
    int violations = 0;
    macx_policy_field_t fields[MACX_POLICY_MAX_FIELDS];
    for (int a = 0; a < p->nagencies; a++)
        for (int b = 0; b < p->nagencies; b++) {
            if (a == b || !(from >> a & 1) || !(to >> b & 1))
                continue;
            for (int t = 0; t < p->ntypes; t++) {
                size_t nf = macx_policy_all_fields (p, t, fields);
                for (int u = 0; u < p->npurposes; u++)
                    for (int h = 1; h <= MACX_PHASE_COUNT; h++)
                        for (int d = 0; d < nd; d++) {
                            if (d > 0 && dates[d] == dates[d - 1])
                                continue;
                            macx_policy_request_t rq = {
                                .sender = p->agencies[a].id, .recipient = p->agencies[b].id,
                                .record_type = p->types[t].id, .purpose = p->purposes[u],
                                .phase = h, .case_phase = h, .date = dates[d],
                                .fields = fields, .nfields = nf,
                            };
                            macx_policy_result_t res;
                            macx_policy_evaluate (p, &rq, &res);
                            if (res.decision == MACX_DECISION_DENY)
                                continue;
                            for (size_t i = 0; i < res.nfields; i++) {
                                const macx_policy_field_result_t *r = &res.fields[i];
                                if (r->disposition != MACX_FIELD_RELEASED
                                    && r->disposition != MACX_FIELD_TRANSFORM)
                                    continue;
                                int fi = macx_policy_names_find (&p->types[t].names, r->name);
                                bool hit = field ? strcmp (field, r->name) == 0
                                                 : p->types[t].fields[fi].cls == cls;
                                if (!hit)
                                    continue;
                                violations++;
                                if (cb) {
                                    char fl[160];
                                    snprintf (fl, sizeof fl, "%s/%s", res.agreement, res.flow);
                                    cb (arg, rq.sender, rq.recipient, rq.record_type, rq.purpose,
                                        h, rq.date, r->name, fl);
                                }
                            }
                        }
            }
        }
    return violations;
}

static int
s_never (macx_policy_suite_t *s, s_ctx_t *c, struct fy_node *n)
{
    static const char *const keys[] = { "name", "from", "to", "field_class", "field", NULL };
    char name[256], cls[64] = "", field[64] = "", detail[4096] = "";
    int rc = s_keys (c, n, "a never property", keys, (const char *const[]) { "name", "to", NULL });
    if (rc || (rc = s_scalar (c, s_get (n, "name"), "name", name, sizeof name)))
        return rc;
    static s_words_t from, to;
    from.n = to.n = 0;
    if (s_get (n, "from")) {
        if ((rc = s_list (c, s_get (n, "from"), "from", s_word_item, &from)))
            return rc;
    }
    else
        s_word_item (c, n, "*", &from);
    if ((rc = s_list (c, s_get (n, "to"), "to", s_word_item, &to)))
        return rc;
    if (!s_get (n, "field_class") == !s_get (n, "field"))
        return s_fail (c, n, "a never property names exactly one of field_class and field");
    if (s_get (n, "field_class")
        && (rc = s_scalar (c, s_get (n, "field_class"), "field_class", cls, sizeof cls)))
        return rc;
    if (s_get (n, "field") && (rc = s_scalar (c, s_get (n, "field"), "field", field, sizeof field)))
        return rc;
    if (cls[0] && macx_policy_class_parse (cls) < 0)
        return s_fail (c, s_get (n, "field_class"), "unknown field class '%s'", cls);
    s_never_arg_t na = { detail, sizeof detail, 0 };
    for (int a = 0; a < from.n; a++)
        for (int b = 0; b < to.n; b++) {
            if (!macx_policy_match_agencies (s->p, from.v[a]))
                return s_fail (c, s_get (n, "from"), "'%s' matches no agency", from.v[a]);
            if (!macx_policy_match_agencies (s->p, to.v[b]))
                return s_fail (c, s_get (n, "to"), "'%s' matches no agency", to.v[b]);
            macx_policy_never (s->p, from.v[a], to.v[b], cls[0] ? cls : NULL,
                               field[0] ? field : NULL, s_never_cb, &na);
        }
    if (na.count > 10)
        s_add (detail, sizeof detail, "      ... %d violations in all\n", na.count);
    s_result (s, na.count == 0, "never", name, detail);
    return 0;
}

/* ---- field coverage ------------------------------------------------------------------
 * A (flow, field) pair is every field a flow names in allow, transform or
 * require. It is exercised when the cases pin its setting down: each change
 * of that one setting below, made to a copy of the policy, makes a case that
 * passes against the policy fail. A pair whose field a forbid rule removes on
 * every hop of the flow is shadowed: no request can tell its setting, so it
 * is listed apart and not counted. Matrices and never properties take no
 * part: a matrix holds every field and asks only permit or deny, a never
 * property asks only whether a field is released (as held or transformed),
 * and no change here can turn either from pass to fail. */

enum { S_MUT_DROP, S_MUT_TRANSFORM, S_MUT_RELEASE, S_MUT_UNREQUIRE, S_MUT_REQUIRE };

typedef struct {
    int flow, field;
    const char *rule;                    /* shadowed by this forbid rule, or NULL */
    char unnoticed[256];                 /* the changes no case noticed, "drop, release" */
} s_pair_t;

/* The forbid rule that removes field fi on hop a -> b of type t, or NULL. */
static const char *
s_forbid_of (const macx_policy_t *p, int a, int b, int t, int fi)
{
    for (int r = 0; r < p->nforbids; r++) {
        const macx_forbid_t *x = &p->forbids[r];
        if ((x->from >> a & 1) && (x->to >> b & 1) && (x->mask[t] >> fi & 1))
            return x->id;
    }
    return NULL;
}

/* Whether field fi of flow f is forbidden on every hop (*all, with the first
 * rule in *rule) and on any hop (returned). */
static bool
s_forbidden_hops (const macx_policy_t *p, const macx_flow_t *f, int fi, bool *all,
                  const char **rule)
{
    bool any = false;
    int hops = 0;
    *all = true;
    *rule = NULL;
    for (int a = 0; a < p->nagencies; a++)
        for (int b = 0; b < p->nagencies; b++) {
            if (a == b || !(f->from >> a & 1) || !(f->to >> b & 1))
                continue;
            hops++;
            const char *r = s_forbid_of (p, a, b, f->type, fi);
            if (r) {
                any = true;
                if (!*rule)
                    *rule = r;
            }
            else
                *all = false;
        }
    *all = *all && hops > 0;
    return any;
}

/* True when some case that passes against the policy fails against m, whose
 * flow fi alone differs. Only cases that flow decided can change. */
static bool
s_noticed (const macx_policy_suite_t *s, const macx_policy_t *m, int fi)
{
    char detail[4096];
    macx_policy_result_t res;
    for (size_t i = 0; i < s->ncases; i++) {
        const s_case_t *k = s->cases[i];
        if (k->passed && k->flow_index == fi && !s_case_check (m, k, &res, detail, sizeof detail))
            return true;
    }
    return false;
}

static void
s_unnoticed (s_pair_t *pr, const char *what)
{
    size_t used = strlen (pr->unnoticed);
    snprintf (pr->unnoticed + used, sizeof pr->unnoticed - used, "%s%s", used ? ", " : "", what);
}

/* Tries each change of one pair's setting on m->flows[fi] (restored after). */
static void
s_pair_judge (const macx_policy_suite_t *s, macx_policy_t *m, int fi, s_pair_t *pr)
{
    const macx_policy_t *p = s->p;
    const macx_flow_t *f = &p->flows[fi];
    macx_flow_t *g = &m->flows[fi];
    const macx_field_def_t *def = &p->types[f->type].fields[pr->field];
    uint64_t bit = 1ull << pr->field;
    bool all;
    const char *rule;
    bool forbidden = s_forbidden_hops (p, f, pr->field, &all, &rule);
    char what[64];
    for (int kind = S_MUT_DROP; kind <= S_MUT_REQUIRE; kind++)
        for (int x = 0; x < MACX_XF_COUNT; x++) {
            /* kinds without a transform run once, at x == 0 */
            bool per_xf = kind == S_MUT_TRANSFORM;
            if (per_xf != (x > 0))
                continue;
            *g = *f;
            switch (kind) {
            case S_MUT_DROP:   /* taken out of the flow */
                g->allow &= ~bit;
                g->xform &= ~bit;
                g->require &= ~bit;
                snprintf (what, sizeof what, "drop");
                break;
            case S_MUT_TRANSFORM:   /* must arrive transformed with x (another x if it did) */
                if (!(def->transforms >> x & 1) || ((f->xform & bit) && f->xform_of[pr->field] == x))
                    continue;
                g->allow &= ~bit;
                g->xform |= bit;
                g->xform_of[pr->field] = (uint8_t) x;
                snprintf (what, sizeof what, "transform:%s", macx_policy_transform_names[x]);
                break;
            case S_MUT_RELEASE:   /* a transformed field released as held */
                if (!(f->xform & bit))
                    continue;
                g->xform &= ~bit;
                g->allow |= bit;
                snprintf (what, sizeof what, "release");
                break;
            case S_MUT_UNREQUIRE:
                if (!(f->require & bit))
                    continue;
                g->require &= ~bit;
                snprintf (what, sizeof what, "unrequire");
                break;
            default:   /* required too; a field forbidden on some hop may not be */
                if ((f->require & bit) || forbidden)
                    continue;
                g->require |= bit;
                snprintf (what, sizeof what, "require");
                break;
            }
            if (!s_noticed (s, m, fi))
                s_unnoticed (pr, what);
        }
    *g = *f;
}

/* Lists every pair of the policy into a new array (caller frees) of *n, and
 * counts the shadowed ones and the exercised ones. */
static s_pair_t *
s_field_coverage (const macx_policy_suite_t *s, size_t *n, int *shadowed, int *exercised)
{
    const macx_policy_t *p = s->p;
    *n = 0;
    *shadowed = *exercised = 0;
    size_t cap = 0;
    for (int i = 0; i < p->nflows; i++)
        cap += (size_t) __builtin_popcountll (p->flows[i].allow | p->flows[i].xform
                                              | p->flows[i].require);
    s_pair_t *pairs = calloc (cap + 1, sizeof *pairs);
    /* a shallow copy whose flows alone are its own: changed one at a time */
    macx_policy_t *m = malloc (sizeof *m);
    macx_flow_t *flows = malloc (((size_t) p->nflows + 1) * sizeof *flows);
    if (!pairs || !m || !flows) {
        free (pairs);
        free (m);
        free (flows);
        return NULL;
    }
    *m = *p;
    memcpy (flows, p->flows, (size_t) p->nflows * sizeof *flows);
    m->flows = flows;
    for (int i = 0; i < p->nflows; i++) {
        const macx_flow_t *f = &p->flows[i];
        uint64_t named = f->allow | f->xform | f->require;
        for (int fi = 0; fi < p->types[f->type].nfields; fi++) {
            if (!(named >> fi & 1))
                continue;
            s_pair_t *pr = &pairs[(*n)++];
            pr->flow = i;
            pr->field = fi;
            bool all;
            const char *rule;
            s_forbidden_hops (p, f, fi, &all, &rule);
            if (all) {
                pr->rule = rule;
                (*shadowed)++;
                continue;
            }
            s_pair_judge (s, m, i, pr);
            *exercised += pr->unnoticed[0] == 0;
        }
    }
    free (flows);
    free (m);
    return pairs;
}

/* ---- files ------------------------------------------------------------------------ */

int
macx_policy_suite_run_text (macx_policy_suite_t *s, const char *name, const char *text,
                            macx_error_t *err)
{
    static const char *const keys[] = { "date", "cases", "matrices", "never", NULL };
    if (!s || !name || !text)
        return macx_error_set (err, MACX_EINVAL, "no suite, name or text");
    s_ctx_t c = { .file = name, .err = err, .line = 1, .col = 1 };
    struct fy_document *doc = s_parse_doc (&c, text, strlen (text));
    if (!doc)
        return err ? err->code : MACX_EPOLICY;
    struct fy_node *root = fy_document_root (doc), *list, *item;
    int rc = s_keys (&c, root, "a test file", keys, NULL);
    s->date = INT32_MIN;
    if (!rc && s_get (root, "date"))
        rc = s_date (&c, s_get (root, "date"), "date", &s->date);
    typedef int (*s_run_fn) (macx_policy_suite_t *, s_ctx_t *, struct fy_node *);
    static const struct {
        const char *key;
        s_run_fn fn;
    } sections[] = { { "cases", s_case }, { "matrices", s_matrix }, { "never", s_never } };
    for (size_t k = 0; k < 3 && !rc; k++) {
        if (!(list = s_get (root, sections[k].key)))
            continue;
        if ((rc = s_seq (&c, list, sections[k].key)))
            break;
        void *it = NULL;
        while (!rc && (item = fy_node_sequence_iterate (list, &it)))
            rc = sections[k].fn (s, &c, item);
    }
    fy_document_destroy (doc);
    return rc;
}

int
macx_policy_suite_run_file (macx_policy_suite_t *s, const char *path, macx_error_t *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc = macx_file_read (path, 4u << 20, &text, &len, err);
    if (rc)
        return rc;
    rc = macx_policy_suite_run_text (s, path, text, err);
    free (text);
    return rc;
}

/* Writes the pairs that are shadowed (or, with shadowed false, counted and
 * not exercised) as JSON objects, comma-separated. */
static void
s_pairs_json (const macx_policy_t *p, const s_pair_t *pairs, size_t n, bool shadowed, FILE *out)
{
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        const s_pair_t *pr = &pairs[i];
        if (shadowed ? !pr->rule : (pr->rule || !pr->unnoticed[0]))
            continue;
        const macx_flow_t *f = &p->flows[pr->flow];
        char flow[300];
        snprintf (flow, sizeof flow, "%s/%s", p->agreements[f->agreement].id, f->id);
        fprintf (out, "%s{\"flow\":", k++ ? "," : "");
        macx_policy_json_str (out, flow);
        fprintf (out, ",\"field\":");
        macx_policy_json_str (out, p->types[f->type].fields[pr->field].name);
        if (shadowed) {
            fprintf (out, ",\"rule\":");
            macx_policy_json_str (out, pr->rule);
        }
        else {
            fprintf (out, ",\"unnoticed\":[");
            char list[sizeof pr->unnoticed];
            snprintf (list, sizeof list, "%s", pr->unnoticed);
            char *save = NULL;
            int j = 0;
            for (char *w = strtok_r (list, ", ", &save); w; w = strtok_r (NULL, ", ", &save)) {
                fprintf (out, "%s", j++ ? "," : "");
                macx_policy_json_str (out, w);
            }
            fprintf (out, "]");
        }
        fprintf (out, "}");
    }
}

macx_policy_test_stats_t
macx_policy_suite_finish (macx_policy_suite_t *s)
{
    macx_policy_test_stats_t st = { 0 };
    if (!s)
        return st;
    const macx_policy_t *p = s->p;
    int nf = 0, nr = 0, nb = 0;
    char d[16];
    for (int i = 0; i < p->nflows; i++)
        nf += !s->flow_hit[i];
    for (int r = 1; r < S_REASONS; r++)
        nr += !s->reason_hit[r];
    for (int i = 0; i < p->nagreements * S_BOUNDARIES; i++)
        nb += !s->boundary_hit[i];
    size_t npairs = 0;
    int shadowed = 0, exercised = 0;
    s_pair_t *pairs = s_field_coverage (s, &npairs, &shadowed, &exercised);
    int counted = (int) npairs - shadowed;
    FILE *out = s->out;
    if (s->json) {
        fprintf (out, "{\"passed\":%d,\"failed\":%d,\"coverage\":{\"flows_never_exercised\":[",
                 s->passed, s->failed);
        for (int i = 0, n = 0; i < p->nflows; i++)
            if (!s->flow_hit[i])
                fprintf (out, "%s\"%s/%s\"", n++ ? "," : "", p->agreements[p->flows[i].agreement].id,
                         p->flows[i].id);
        if (pairs) {
            fprintf (out, "],\"field_pairs\":%d,\"field_pairs_exercised\":%d,"
                          "\"fields_not_exercised\":[", counted, exercised);
            s_pairs_json (p, pairs, npairs, false, out);
            fprintf (out, "],\"fields_shadowed\":[");
            s_pairs_json (p, pairs, npairs, true, out);
        }
        fprintf (out, "],\"reasons_never_produced\":[");
        for (int r = 1, n = 0; r < S_REASONS; r++)
            if (!s->reason_hit[r])
                fprintf (out, "%s\"%s\"", n++ ? "," : "", macx_reason_name (r));
        fprintf (out, "],\"boundaries_never_hit\":[");
        for (int i = 0, n = 0; i < p->nagreements * S_BOUNDARIES; i++)
            if (!s->boundary_hit[i])
                fprintf (out, "%s\"%s %s %s\"", n++ ? "," : "",
                         p->agreements[i / S_BOUNDARIES].id, s_boundary_names[i % S_BOUNDARIES],
                         macx_date_format (s_boundary (&p->agreements[i / S_BOUNDARIES],
                                                       i % S_BOUNDARIES), d));
        fprintf (out, "]}}\n");
    }
    else {
        fprintf (out, "coverage\n");
        fprintf (out, "  flows exercised: %d of %d\n", p->nflows - nf, p->nflows);
        for (int i = 0; i < p->nflows; i++)
            if (!s->flow_hit[i])
                fprintf (out, "    never exercised: %s/%s\n",
                         p->agreements[p->flows[i].agreement].id, p->flows[i].id);
        if (!pairs)
            fprintf (out, "  fields exercised: not known (out of memory)\n");
        else {
            fprintf (out, "  fields exercised: %d of %d (flow, field) pairs\n", exercised, counted);
            for (size_t i = 0; i < npairs; i++)
                if (!pairs[i].rule && pairs[i].unnoticed[0])
                    fprintf (out, "    not exercised: %s/%s %s (unnoticed: %s)\n",
                             p->agreements[p->flows[pairs[i].flow].agreement].id,
                             p->flows[pairs[i].flow].id,
                             p->types[p->flows[pairs[i].flow].type].fields[pairs[i].field].name,
                             pairs[i].unnoticed);
            if (shadowed)
                fprintf (out, "  fields a forbid rule removes on every hop (not counted): %d\n",
                         shadowed);
            for (size_t i = 0; i < npairs; i++)
                if (pairs[i].rule)
                    fprintf (out, "    shadowed: %s/%s %s (%s)\n",
                             p->agreements[p->flows[pairs[i].flow].agreement].id,
                             p->flows[pairs[i].flow].id,
                             p->types[p->flows[pairs[i].flow].type].fields[pairs[i].field].name,
                             pairs[i].rule);
        }
        fprintf (out, "  reason codes produced: %d of %d\n", S_REASONS - 1 - nr, S_REASONS - 1);
        for (int r = 1; r < S_REASONS; r++)
            if (!s->reason_hit[r])
                fprintf (out, "    never produced: %s\n", macx_reason_name (r));
        fprintf (out, "  date boundaries hit: %d of %d\n", p->nagreements * S_BOUNDARIES - nb,
                 p->nagreements * S_BOUNDARIES);
        for (int i = 0; i < p->nagreements * S_BOUNDARIES; i++)
            if (!s->boundary_hit[i])
                fprintf (out, "    never hit: %s %s (%s)\n", p->agreements[i / S_BOUNDARIES].id,
                         s_boundary_names[i % S_BOUNDARIES],
                         macx_date_format (s_boundary (&p->agreements[i / S_BOUNDARIES],
                                                       i % S_BOUNDARIES), d));
        fprintf (out, "%d passed, %d failed\n", s->passed, s->failed);
    }
    st.passed = s->passed;
    st.failed = s->failed;
    st.field_pairs = pairs ? counted : -1;
    st.field_pairs_exercised = exercised;
    free (pairs);
    return st;
}
