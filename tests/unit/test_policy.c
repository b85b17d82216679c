/* test_policy.c -- unit tests of the policy engine: every reason code,
 * every boundary date, forbid over permit, wildcards, strict-parse errors
 * with golden messages, prepare, diff on crafted pairs, and the never
 * checker finding a planted violation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "names.h"
#include "policy.h"

static const char s_schema[] =
    "agencies:\n"
    "  - {id: mi5, kind: mi5}\n"
    "  - {id: ctp, kind: ctp}\n"
    "  - {id: la-a, kind: local_authority}\n"
    "  - {id: la-b, kind: local_authority}\n"
    "  - {id: ogd-x, kind: ogd}\n"
    "purposes:\n"
    "  - {id: mac}\n"
    "  - {id: other}\n"
    "record_types:\n"
    "  - id: share\n"
    "    fields:\n"
    "      - {name: subject_name, class: identifier, transforms: [initials]}\n"
    "      - {name: dob, class: personal, transforms: [year_only]}\n"
    "      - {name: summary, class: operational}\n"
    "      - {name: kis_ref, class: intelligence}\n"
    "  - id: enrichment\n"
    "    fields:\n"
    "      - {name: subject_name, class: identifier}\n"
    "      - {name: notes, class: personal}\n";

static const char s_forbid[] =
    "forbid:\n"
    "  - {id: X1, reason: no intelligence to partners, from: \"*\", to: [la-*, ogd-*],\n"
    "     field_classes: [intelligence]}\n";

/* Agreement A: mi5/ctp -> la-* share in sharing; la-* -> mi5 enrichment. */
static const char s_agr_a[] =
    "id: ISA-A\n"
    "version: 1\n"
    "title: test\n"
    "status: active\n"
    "effective_from: 2026-01-01\n"
    "expires: 2026-12-31\n"
    "review_by: 2026-06-30\n"
    "review_grace_days: 10\n"
    "parties:\n"
    "  - {id: mi5, regime: dpa2018_part4}\n"
    "  - {id: ctp, regime: dpa2018_part3}\n"
    "  - {id: la-a, regime: uk_gdpr}\n"
    "  - {id: la-b, regime: uk_gdpr}\n"
    "purposes:\n"
    "  - {id: mac, phases: [sharing, enrichment]}\n"
    "legal_bases:\n"
    "  - {party: mi5, disclose: d, receive: r}\n"
    "  - {party: ctp, disclose: d, receive: r}\n"
    "  - {party: la-a, disclose: d, receive: r}\n"
    "  - {party: la-b, disclose: d}\n"
    "flows:\n"
    "  - id: S1\n"
    "    from: [mi5, ctp]\n"
    "    to: la-*\n"
    "    record_type: share\n"
    "    purposes: [mac]\n"
    "    phases: [sharing]\n"
    "    allow: [subject_name, summary, kis_ref]\n"
    "    transform: {dob: year_only}\n"
    "    require: [subject_name]\n"
    "    retention: {days: 30, from: receipt, on_expiry: delete}\n"
    "    onward: prohibited\n"
    "    max_per_day: 5\n"
    "  - id: E1\n"
    "    from: la-*\n"
    "    to: [mi5, ctp]\n"
    "    record_type: enrichment\n"
    "    purposes: [mac]\n"
    "    phases: [enrichment]\n"
    "    allow: [subject_name, notes]\n"
    "    retention: {days: 60}\n"
    "    onward: originator_consent\n";

/* Agreement B: draft, ogd-x. */
static const char s_agr_b[] =
    "id: ISA-B\n"
    "version: 1\n"
    "title: draft\n"
    "status: draft\n"
    "effective_from: 2026-01-01\n"
    "expires: 2026-12-31\n"
    "review_by: 2026-06-30\n"
    "parties:\n"
    "  - {id: mi5, regime: dpa2018_part4}\n"
    "  - {id: ogd-x, regime: uk_gdpr}\n"
    "purposes:\n"
    "  - {id: mac, phases: [sharing]}\n"
    "legal_bases:\n"
    "  - {party: mi5, disclose: d}\n"
    "  - {party: ogd-x, receive: r}\n"
    "flows:\n"
    "  - id: S1\n"
    "    from: mi5\n"
    "    to: ogd-x\n"
    "    record_type: share\n"
    "    purposes: [mac]\n"
    "    phases: [sharing]\n"
    "    allow: [subject_name]\n"
    "    retention: {days: 30}\n"
    "    onward: prohibited\n";

static macx_policy_t *
s_load (const char *forbid, const char *a, const char *b, macx_error_t *err)
{
    const char *agr[2] = { a, b };
    return macx_policy_load_texts (s_schema, forbid, agr, b ? 2 : 1, err);
}

static macx_policy_t *
s_policy (void)
{
    macx_error_t err = { 0 };
    macx_policy_t *p = s_load (s_forbid, s_agr_a, s_agr_b, &err);
    if (!p)
        fprintf (stderr, "load: %s\n", err.msg);
    assert_non_null (p);
    return p;
}

static int32_t
s_day (const char *text)
{
    int32_t d = 0;
    assert_int_equal (macx_date_parse (text, &d), 0);
    return d;
}

/* Evaluates a request with a few fields; returns the result. */
static macx_policy_result_t
s_eval (const macx_policy_t *p, const char *from, const char *to, const char *type,
        const char *purpose, int phase, int case_phase, const char *date, const char *fields)
{
    static char buf[512];
    macx_policy_field_t f[16];
    size_t n = 0;
    snprintf (buf, sizeof buf, "%s", fields ? fields : "");
    char *save = NULL;
    for (char *t = strtok_r (buf, ",", &save); t && n < 16; t = strtok_r (NULL, ",", &save)) {
        char *c = strchr (t, ':');
        if (c)
            *c++ = 0;
        f[n].name = t;
        f[n].transform = c ? c : "";
        n++;
    }
    macx_policy_request_t req = { .sender = from, .recipient = to, .record_type = type,
                                  .purpose = purpose, .phase = phase, .case_phase = case_phase,
                                  .fields = f, .nfields = n, .date = s_day (date) };
    macx_policy_result_t r;
    assert_int_equal (macx_policy_evaluate (p, &req, &r), 0);
    return r;
}

#define SH MACX__PHASE__SHARING
#define EN MACX__PHASE__ENRICHMENT

static void
test_reason_codes (void **state)
{
    macx_policy_t *p = s_policy ();
    const char *d = "2026-03-01";
    struct {
        const char *from, *to, *type, *purpose;
        int phase, case_phase;
        const char *fields;
        int decision, reason;
    } t[] = {
        { "mi5", "la-a", "share", "mac", SH, SH, "subject_name,summary", MACX_DECISION_PERMIT, 0 },
        { "la-a", "ogd-x", "share", "mac", SH, SH, "subject_name", 0, MACX__REASON__NO_AGREEMENT },
        { "la-a", "la-b", "share", "mac", SH, SH, "subject_name", 0, MACX__REASON__NO_FLOW },
        { "nobody", "la-b", "share", "mac", SH, SH, "subject_name", 0, MACX__REASON__NO_AGREEMENT },
        { "mi5", "ogd-x", "share", "mac", SH, SH, "subject_name", 0,
          MACX__REASON__AGREEMENT_NOT_IN_FORCE },
        { "mi5", "la-a", "enrichment", "mac", SH, SH, "subject_name", 0, MACX__REASON__NO_FLOW },
        { "mi5", "la-a", "share", "other", SH, SH, "subject_name", 0,
          MACX__REASON__PURPOSE_NOT_ALLOWED },
        { "mi5", "la-a", "share", "mac", EN, EN, "subject_name", 0,
          MACX__REASON__PHASE_NOT_ALLOWED },
        { "mi5", "la-a", "share", "mac", SH, EN, "subject_name", 0,
          MACX__REASON__CASE_PHASE_MISMATCH },
        { "mi5", "la-a", "share", "mac", SH, SH, "subject_name,kis_ref",
          MACX_DECISION_PERMIT_WITH_CHANGES, MACX__REASON__FIELD_FORBIDDEN },
        { "mi5", "la-a", "enrichment", "mac", SH, SH, "notes", 0, MACX__REASON__NO_FLOW },
        { "la-a", "mi5", "enrichment", "mac", EN, EN, "subject_name,notes", MACX_DECISION_PERMIT,
          0 },
        { "mi5", "la-a", "share", "mac", SH, SH, "subject_name,dob",
          MACX_DECISION_PERMIT_WITH_CHANGES, MACX__REASON__TRANSFORM_REQUIRED },
        { "mi5", "la-a", "share", "mac", SH, SH, "subject_name,dob:year_only",
          MACX_DECISION_PERMIT, 0 },
        { "mi5", "la-a", "share", "mac", SH, SH, "summary", 0,
          MACX__REASON__REQUIRED_FIELD_MISSING },
        { "mi5", "la-b", "share", "mac", SH, SH, "subject_name", 0,
          MACX__REASON__MISSING_LEGAL_BASIS },
        { "mi5", "la-a", "case", "mac", SH, SH, "subject_name", 0,
          MACX__REASON__UNKNOWN_RECORD_TYPE },
        { "mi5", "la-a", "share", "mac", SH, SH, "shoe", 0, MACX__REASON__UNKNOWN_FIELD },
        { "mi5", "la-a", "share", "mac", SH, SH, "subject_name,subject_name", 0,
          MACX__REASON__UNKNOWN_FIELD },
        { "mi5", "la-a", "share", "mac", SH, SH, "summary:initials", 0,
          MACX__REASON__UNKNOWN_FIELD },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        macx_policy_result_t r = s_eval (p, t[i].from, t[i].to, t[i].type, t[i].purpose,
                                         t[i].phase, t[i].case_phase, d, t[i].fields);
        if ((int) r.decision != t[i].decision || r.reason != t[i].reason)
            fprintf (stderr, "case %zu: got %s %s (%s)\n", i, macx_decision_name (r.decision),
                     macx_reason_name (r.reason), r.message);
        assert_int_equal (r.decision, t[i].decision);
        assert_int_equal (r.reason, t[i].reason);
        assert_true (r.message[0] != 0);
    }
    /* FIELD_NOT_ALLOWED: enrichment has no such restriction, so use a field
     * the flow does not list: la-a -> mi5 enrichment lists both; build one */
    macx_policy_destroy (&p);
    (void) state;
}

static void
test_field_not_allowed_and_dispositions (void **state)
{
    macx_policy_t *p = s_policy ();
    /* S1 allows subject_name, summary, kis_ref; transforms dob; kis_ref forbidden */
    macx_policy_result_t r = s_eval (p, "ctp", "la-b", "share", "mac", SH, SH, "2026-03-01",
                                     "subject_name,dob,kis_ref,summary");
    /* la-b has no receive basis */
    assert_int_equal (r.reason, MACX__REASON__MISSING_LEGAL_BASIS);
    r = s_eval (p, "ctp", "la-a", "share", "mac", SH, SH, "2026-03-01",
                "subject_name,dob,kis_ref,summary:");
    assert_int_equal (r.decision, MACX_DECISION_PERMIT_WITH_CHANGES);
    assert_int_equal (r.reason, MACX__REASON__FIELD_FORBIDDEN);
    assert_int_equal (r.nfields, 4);
    assert_int_equal (r.fields[0].disposition, MACX_FIELD_RELEASED);
    assert_int_equal (r.fields[1].disposition, MACX_FIELD_TRANSFORM);
    assert_string_equal (r.fields[1].transform, "year_only");
    assert_int_equal (r.fields[2].disposition, MACX_FIELD_DROP_FORBIDDEN);
    assert_string_equal (r.fields[2].rule, "X1");
    assert_int_equal (r.fields[3].disposition, MACX_FIELD_RELEASED);
    assert_int_equal (r.retention_days, 30);
    assert_int_equal (r.max_per_day, 5);
    assert_int_equal (r.onward, MACX_ONWARD_PROHIBITED);
    assert_string_equal (r.agreement, "ISA-A");
    assert_string_equal (r.flow, "S1");
    assert_true (strncmp (r.policy_hash, "blake2b:", 8) == 0);
    macx_policy_destroy (&p);

    /* FIELD_NOT_ALLOWED: a flow that lists only subject_name */
    const char *narrow = strstr (s_agr_a, "") ? s_agr_a : NULL;
    char buf[4096];
    snprintf (buf, sizeof buf, "%s", narrow);
    char *allow = strstr (buf, "allow: [subject_name, summary, kis_ref]");
    assert_non_null (allow);
    memcpy (allow, "allow: [subject_name]                  ", 39);
    macx_error_t err = { 0 };
    p = s_load (s_forbid, buf, NULL, &err);
    assert_non_null (p);
    r = s_eval (p, "mi5", "la-a", "share", "mac", SH, SH, "2026-03-01", "subject_name,summary");
    assert_int_equal (r.decision, MACX_DECISION_PERMIT_WITH_CHANGES);
    assert_int_equal (r.reason, MACX__REASON__FIELD_NOT_ALLOWED);
    assert_int_equal (r.fields[1].disposition, MACX_FIELD_DROP_NOT_ALLOWED);
    macx_policy_destroy (&p);
    (void) state;
}

static void
test_rate_and_onward (void **state)
{
    macx_policy_t *p = s_policy ();
    macx_policy_field_t f[] = { { "subject_name", "" } };
    macx_policy_request_t req = { .sender = "mi5", .recipient = "la-a", .record_type = "share",
                                  .purpose = "mac", .phase = SH, .case_phase = SH, .fields = f,
                                  .nfields = 1, .date = s_day ("2026-03-01"), .sent_today = 4 };
    macx_policy_result_t r;
    macx_policy_evaluate (p, &req, &r);
    assert_int_equal (r.decision, MACX_DECISION_PERMIT);
    req.sent_today = 5;
    macx_policy_evaluate (p, &req, &r);
    assert_int_equal (r.reason, MACX__REASON__RATE_LIMITED);

    /* ctp passes on what la-a enriched (E1: originator consent) to mi5? no flow
     * ctp -> mi5 in this policy, so use mi5 -> la-a share carrying la-a's data */
    req.sent_today = 0;
    req.origin = "la-a";
    req.origin_record_type = "enrichment";
    macx_policy_evaluate (p, &req, &r);
    assert_int_equal (r.reason, MACX__REASON__ONWARD_SHARING_PROHIBITED);
    req.origin_consent = true;
    macx_policy_evaluate (p, &req, &r);
    assert_int_equal (r.decision, MACX_DECISION_PERMIT);
    /* mi5's share passed on by ctp: S1 prohibits onward sharing */
    req.sender = "ctp";
    req.origin = "mi5";
    req.origin_record_type = "share";
    macx_policy_evaluate (p, &req, &r);
    assert_int_equal (r.reason, MACX__REASON__ONWARD_SHARING_PROHIBITED);
    /* no flow could have delivered it */
    req.origin = "ogd-x";
    macx_policy_evaluate (p, &req, &r);
    assert_int_equal (r.reason, MACX__REASON__ONWARD_SHARING_PROHIBITED);
    macx_policy_destroy (&p);
    (void) state;
}

static void
test_internal_error_fails_closed (void **state)
{
    macx_policy_t *p = s_policy ();
    macx_policy_request_t req = { .sender = "mi5", .recipient = NULL };
    macx_policy_result_t r;
    r.decision = MACX_DECISION_PERMIT;
    assert_true (macx_policy_evaluate (p, &req, &r) < 0);
    assert_int_equal (r.decision, MACX_DECISION_DENY);
    assert_int_equal (r.reason, MACX__REASON__INTERNAL_ERROR);
    assert_true (macx_policy_evaluate (NULL, &req, &r) < 0);
    assert_int_equal (r.reason, MACX__REASON__INTERNAL_ERROR);
    assert_true (macx_policy_evaluate (p, NULL, &r) < 0);
    assert_int_equal (r.decision, MACX_DECISION_DENY);
    macx_policy_destroy (&p);
    macx_policy_destroy (&p);   /* safe twice */
    (void) state;
}

static void
test_boundary_dates (void **state)
{
    macx_policy_t *p = s_policy ();
    struct {
        const char *date;
        int reason;
        unsigned warnings;
    } t[] = {
        { "2025-12-31", MACX__REASON__AGREEMENT_NOT_IN_FORCE, 0 },   /* effective - 1 */
        { "2026-01-01", 0, 0 },                                      /* effective */
        { "2026-06-30", 0, 0 },                                      /* review_by */
        { "2026-07-01", 0, MACX_POLICY_WARN_REVIEW_DUE },            /* review_by + 1 */
        { "2026-07-10", 0, MACX_POLICY_WARN_REVIEW_DUE },            /* review + grace */
        { "2026-07-11", MACX__REASON__REVIEW_LAPSED, 0 },            /* review + grace + 1 */
        { "2026-12-31", MACX__REASON__REVIEW_LAPSED, 0 },            /* expires */
        { "2027-01-01", MACX__REASON__AGREEMENT_EXPIRED, 0 },        /* expires + 1 */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        macx_policy_result_t r =
            s_eval (p, "mi5", "la-a", "share", "mac", SH, SH, t[i].date, "subject_name");
        assert_int_equal (r.reason, t[i].reason);
        assert_int_equal (r.warnings & MACX_POLICY_WARN_REVIEW_DUE, t[i].warnings);
    }
    /* an agreement with a review date after expiry: expiry is its own boundary */
    char buf[4096];
    snprintf (buf, sizeof buf, "%s", s_agr_a);
    memcpy (strstr (buf, "review_by: 2026-06-30"), "review_by: 2027-06-30", 21);
    macx_error_t err = { 0 };
    macx_policy_t *q = s_load (s_forbid, buf, NULL, &err);
    assert_non_null (q);
    assert_int_equal (s_eval (q, "mi5", "la-a", "share", "mac", SH, SH, "2026-12-31",
                              "subject_name").reason, 0);
    assert_int_equal (s_eval (q, "mi5", "la-a", "share", "mac", SH, SH, "2027-01-01",
                              "subject_name").reason, MACX__REASON__AGREEMENT_EXPIRED);
    /* overriding effective-from and status after load */
    assert_int_equal (macx_policy_set_effective (q, "ISA-A", s_day ("2026-05-01")), 0);
    assert_int_equal (s_eval (q, "mi5", "la-a", "share", "mac", SH, SH, "2026-04-30",
                              "subject_name").reason, MACX__REASON__AGREEMENT_NOT_IN_FORCE);
    assert_int_equal (s_eval (q, "mi5", "la-a", "share", "mac", SH, SH, "2026-05-01",
                              "subject_name").reason, 0);
    assert_int_equal (macx_policy_set_status (q, "ISA-A", MACX_AGREEMENT_SUSPENDED), 0);
    assert_int_equal (s_eval (q, "mi5", "la-a", "share", "mac", SH, SH, "2026-05-01",
                              "subject_name").reason, MACX__REASON__AGREEMENT_NOT_IN_FORCE);
    assert_int_equal (macx_policy_set_effective (q, "ISA-NONE", 0), MACX_ENOTFOUND);
    macx_policy_destroy (&q);
    macx_policy_destroy (&p);
    (void) state;
}

static void
test_forbid_beats_permit_and_wildcards (void **state)
{
    macx_policy_t *p = s_policy ();
    /* S1 allows kis_ref explicitly; X1 forbids intelligence to la-* */
    for (const char *const *to = (const char *const[]) { "la-a", NULL }; *to; to++) {
        macx_policy_result_t r =
            s_eval (p, "mi5", *to, "share", "mac", SH, SH, "2026-03-01", "subject_name,kis_ref");
        assert_int_equal (r.fields[1].disposition, MACX_FIELD_DROP_FORBIDDEN);
    }
    /* without the forbid file the flow releases it */
    macx_error_t err = { 0 };
    macx_policy_t *q = s_load (NULL, s_agr_a, NULL, &err);
    assert_non_null (q);
    macx_policy_result_t r =
        s_eval (q, "mi5", "la-a", "share", "mac", SH, SH, "2026-03-01", "subject_name,kis_ref");
    assert_int_equal (r.decision, MACX_DECISION_PERMIT);
    /* wildcard from: la-* expands to both LAs for enrichment */
    r = s_eval (q, "la-b", "ctp", "enrichment", "mac", EN, EN, "2026-03-01", "notes");
    assert_int_equal (r.reason, 0);
    assert_int_equal (macx_policy_never (p, NULL, "la-*", "intelligence", NULL, NULL, NULL), 0);
    assert_true (macx_policy_never (q, NULL, "la-*", "intelligence", NULL, NULL, NULL) > 0);
    assert_true (macx_policy_never (q, "mi5", "la-a", NULL, "kis_ref", NULL, NULL) > 0);
    assert_int_equal (macx_policy_never (q, "la-*", "mi5", NULL, "kis_ref", NULL, NULL), 0);
    macx_policy_destroy (&q);
    macx_policy_destroy (&p);
    (void) state;
}

static void
test_prepare (void **state)
{
    macx_policy_t *p = s_policy ();
    macx_policy_field_t held[] = { { "subject_name", "" }, { "dob", "" }, { "kis_ref", "" },
                                   { "summary", "" } };
    macx_policy_request_t req = { .sender = "mi5", .recipient = "la-a", .record_type = "share",
                                  .purpose = "mac", .phase = SH, .case_phase = SH,
                                  .fields = held, .nfields = 4, .date = s_day ("2026-03-01") };
    macx_policy_field_t out[8];
    size_t n = 0;
    macx_policy_result_t r;
    assert_int_equal (macx_policy_prepare (p, &req, out, 8, &n, &r), 0);
    assert_int_equal (r.decision, MACX_DECISION_PERMIT);
    assert_int_equal (n, 3);
    assert_string_equal (out[0].name, "subject_name");
    assert_string_equal (out[1].name, "dob");
    assert_string_equal (out[1].transform, "year_only");
    assert_string_equal (out[2].name, "summary");
    req.date = s_day ("2027-02-01");
    assert_int_equal (macx_policy_prepare (p, &req, out, 8, &n, &r), 0);
    assert_int_equal (r.decision, MACX_DECISION_DENY);
    assert_int_equal (n, 0);
    macx_policy_destroy (&p);
    (void) state;
}

/* ---- strict parsing: golden messages ---------------------------------------- */

static void
s_expect_error (const char *schema, const char *forbid, const char *agr, const char *golden)
{
    macx_error_t err = { 0 };
    const char *a[1] = { agr };
    macx_policy_t *p = macx_policy_load_texts (schema ? schema : s_schema, forbid, a, agr ? 1 : 0,
                                               &err);
    if (p || strcmp (err.msg, golden) != 0)
        fprintf (stderr, "expected: %s\n     got: %s\n", golden, p ? "(loaded)" : err.msg);
    assert_null (p);
    assert_int_equal (err.code, MACX_EPOLICY);
    assert_string_equal (err.msg, golden);
}

/* Replaces the first occurrence of from by to in s_agr_a. */
static const char *
s_mutate (const char *from, const char *to)
{
    static char buf[8192];
    const char *at = strstr (s_agr_a, from);
    assert_non_null (at);
    snprintf (buf, sizeof buf, "%.*s%s%s", (int) (at - s_agr_a), s_agr_a, to, at + strlen (from));
    return buf;
}

static void
test_strict_parse_golden (void **state)
{
    s_expect_error (NULL, NULL, s_mutate ("title: test\n", "title: test\ncolour: blue\n"),
                    "agreements/0.yaml:4:1: unknown key 'colour' in an agreement (expected one "
                    "of: id, version, title, status, effective_from, expires, review_by, "
                    "review_grace_days, parties, purposes, legal_bases, flows, notes)");
    s_expect_error (NULL, NULL, s_mutate ("title: test\n", "title: test\ntitle: again\n"),
                    "agreements/0.yaml:4:1: duplicate key 'title' in an agreement");
    s_expect_error (NULL, NULL, s_mutate ("  - {id: la-b, regime: uk_gdpr}\n",
                                          "  - {id: la-c, regime: uk_gdpr}\n"),
                    "agreements/0.yaml:13:10: unknown agency 'la-c'");
    s_expect_error (NULL, NULL, s_mutate ("record_type: share", "record_type: memo"),
                    "agreements/0.yaml:25:18: unknown record type 'memo'");
    s_expect_error (NULL, NULL, s_mutate ("allow: [subject_name, summary", "allow: [subject_name, sumary"),
                    "agreements/0.yaml:28:27: unknown field 'sumary' for record type share");
    s_expect_error (NULL, NULL, s_mutate ("expires: 2026-12-31", "expires: 2026-02-30"),
                    "agreements/0.yaml:6:10: expires '2026-02-30' is not a date (YYYY-MM-DD)");
    (void) state;
}

static void
test_strict_parse_more (void **state)
{
    s_expect_error (NULL, NULL, "id: [unclosed\n",
                    "agreements/0.yaml:1:5: YAML does not parse: '[' is never closed");
    s_expect_error (NULL, NULL, s_mutate ("    transform: {dob: year_only}",
                                          "    transform: {dob: initials}"),
                    "agreements/0.yaml:29:22: the schema does not allow transform initials on "
                    "field share.dob");
    s_expect_error (NULL, NULL, s_mutate ("    onward: prohibited", "    onward: sometimes"),
                    "agreements/0.yaml:32:13: onward must be prohibited, originator_consent or "
                    "{agreements: [...]}, not 'sometimes'");
    s_expect_error (NULL, NULL, s_mutate ("    to: la-*\n", "    to: ogd-*\n"),
                    "agreements/0.yaml:24:9: pattern 'ogd-*' matches no party to agreement ISA-A");
    s_expect_error (NULL, "forbid:\n  - {id: X1, reason: r, from: \"*\", to: [zz-*], fields: [kis_ref]}\n",
                    s_agr_a, "forbid.yaml:2:41: pattern 'zz-*' matches no agency");
    s_expect_error (NULL, NULL, s_mutate ("    require: [subject_name]", "    require: [notes]"),
                    "agreements/0.yaml:30:15: unknown field 'notes' for record type share");
    s_expect_error (NULL, s_forbid, s_mutate ("require: [subject_name]", "require: [kis_ref]"),
                    "agreements/0.yaml:22:5: flow S1 requires field kis_ref, which a forbid rule "
                    "removes from mi5 -> la-a");
    (void) state;
}

/* Two flows with the same key in two agreements. */
static void
test_ambiguous_flows (void **state)
{
    const char *a[2] = { s_agr_a, NULL };
    char b[4096];
    snprintf (b, sizeof b, "%s", s_agr_a);
    memcpy (strstr (b, "id: ISA-A"), "id: ISA-Z", 9);
    a[1] = b;
    macx_error_t err = { 0 };
    macx_policy_t *p = macx_policy_load_texts (s_schema, NULL, a, 2, &err);
    assert_null (p);
    assert_string_equal (err.msg,
                         "agreements/1.yaml:22:5: flow ISA-Z/S1 and flow ISA-A/S1 "
                         "(agreements/0.yaml:22) both match mi5 -> la-a share for purpose mac "
                         "in phase sharing");
    (void) state;
}

/* ---- diff, never, suite ------------------------------------------------------- */


/* A third agreement, for onward lists and renames: la-a may pass a share
 * on to ctp while enriching (what S1 delivered to it, when S1's onward list
 * names ISA-C). */
static const char s_agr_c[] =
    "id: ISA-C\n"
    "version: 1\n"
    "title: onward\n"
    "status: active\n"
    "effective_from: 2026-01-01\n"
    "expires: 2026-12-31\n"
    "review_by: 2026-06-30\n"
    "review_grace_days: 10\n"
    "parties:\n"
    "  - {id: ctp, regime: dpa2018_part3}\n"
    "  - {id: la-a, regime: uk_gdpr}\n"
    "purposes:\n"
    "  - {id: mac, phases: [enrichment]}\n"
    "legal_bases:\n"
    "  - {party: ctp, receive: r}\n"
    "  - {party: la-a, disclose: d}\n"
    "flows:\n"
    "  - id: C1\n"
    "    from: la-a\n"
    "    to: ctp\n"
    "    record_type: share\n"
    "    purposes: [mac]\n"
    "    phases: [enrichment]\n"
    "    allow: [subject_name, summary]\n"
    "    retention: {days: 60}\n"
    "    onward: prohibited\n";

/* Diffs two policies of up to three agreements each (NULL-terminated). */
static int
s_diff3 (const char *const *old_agr, const char *const *new_agr, bool json, char *out,
         size_t size)
{
    macx_error_t err = { 0 };
    size_t no = 0, nn = 0;
    while (no < 3 && old_agr[no])
        no++;
    while (nn < 3 && new_agr[nn])
        nn++;
    macx_policy_t *a = macx_policy_load_texts (s_schema, s_forbid, old_agr, no, &err);
    if (!a)
        fprintf (stderr, "old: %s\n", err.msg);
    assert_non_null (a);
    macx_policy_t *b = macx_policy_load_texts (s_schema, s_forbid, new_agr, nn, &err);
    if (!b)
        fprintf (stderr, "new: %s\n", err.msg);
    assert_non_null (b);
    FILE *f = fmemopen (out, size, "w");
    assert_non_null (f);
    int w = macx_policy_diff (a, b, f, json);
    fclose (f);
    macx_policy_destroy (&a);
    macx_policy_destroy (&b);
    return w;
}

static int
s_diff (const char *old_agr, const char *new_agr, char *out, size_t size)
{
    return s_diff3 ((const char *[]) { old_agr, NULL }, (const char *[]) { new_agr, NULL }, false,
                    out, size);
}

/* Replaces the first occurrence of from by to in text, into a buffer of
 * its own (slot 0..3). */
static const char *
s_edit (int slot, const char *text, const char *from, const char *to)
{
    static char buf[4][8192];
    const char *at = strstr (text, from);
    assert_non_null (at);
    snprintf (buf[slot], sizeof buf[slot], "%.*s%s%s", (int) (at - text), text, to,
              at + strlen (from));
    return buf[slot];
}

static void
test_diff_pairs (void **state)
{
    static char out[65536];
    assert_int_equal (s_diff (s_agr_a, s_agr_a, out, sizeof out), 0);
    assert_non_null (strstr (out, "result PASS"));
    assert_non_null (strstr (out, "CHANGES (0)\nWIDENING (0)\nNARROWING (0)\nREATTRIBUTED (0)\n"));
    /* new phase: widening of permits, on the days the agreement permits, named */
    int w = s_diff (s_agr_a, s_mutate ("    phases: [sharing]\n    allow: [subject_name, summary",
                                       "    phases: [sharing, enrichment]\n    allow: [subject_name, summary"),
                    out, sizeof out);
    assert_int_equal (w, 2);   /* mi5, ctp -> la-a (la-b has no receive basis) */
    assert_non_null (strstr (out, "+ permit mi5 -> la-a share [mac/enrichment] from 2026-01-01 to "
                                  "2026-07-10  (ISA-A/S1)  because agreement ISA-A flow S1: "
                                  "phases +enrichment\n"));
    assert_non_null (strstr (out, "CHANGES (1)\n  agreement ISA-A flow S1: phases +enrichment\n"));
    /* transform lifted: field widening; and the reverse is narrowing */
    const char *lifted = s_mutate ("allow: [subject_name, summary, kis_ref]\n    transform: {dob: year_only}",
                                   "allow: [subject_name, summary, kis_ref, dob]");
    w = s_diff (s_agr_a, lifted, out, sizeof out);
    assert_true (w >= 1);
    assert_non_null (strstr (out, "+ field mi5 -> la-a share [mac/sharing]: dob transform:year_only "
                                  "-> released  because agreement ISA-A flow S1: allow +dob; "
                                  "transform -dob:year_only\n"));
    char lifted_copy[8192];
    snprintf (lifted_copy, sizeof lifted_copy, "%s", lifted);
    assert_int_equal (s_diff (lifted_copy, s_agr_a, out, sizeof out), 0);
    assert_non_null (strstr (out, "- field mi5 -> la-a share [mac/sharing]: dob released -> "
                                  "transform:year_only"));
    /* a required field dropped from require is a widening */
    assert_int_equal (s_diff (s_agr_a, s_mutate ("    require: [subject_name]\n", ""), out,
                              sizeof out), 2);
    assert_non_null (strstr (out, "+ field mi5 -> la-a share [mac/sharing]: subject_name required "
                                  "-> optional  because agreement ISA-A flow S1: require "
                                  "-subject_name\n"));
    /* retention longer = widening */
    assert_int_equal (s_diff (s_agr_a, s_mutate ("retention: {days: 30,", "retention: {days: 31,"),
                              out, sizeof out), 2);
    assert_non_null (strstr (out, "~ retention mi5 -> la-a share [mac/sharing]: 30 -> 31 days"));
    /* an earlier expiry after the review has lapsed changes no decision */
    assert_int_equal (s_diff (s_agr_a, s_mutate ("expires: 2026-12-31", "expires: 2026-11-30"),
                              out, sizeof out), 0);
    assert_non_null (strstr (out, "  agreement ISA-A: expires 2026-12-31 -> 2026-11-30 (earlier)\n"
                                  "WIDENING (0)\nNARROWING (0)\n"));
    /* a later review: permits on the days between, and nothing else */
    w = s_diff (s_agr_a, s_mutate ("review_by: 2026-06-30", "review_by: 2026-07-31"), out, sizeof out);
    assert_int_equal (w, 6);   /* mi5, ctp -> la-a share; la-a, la-b -> mi5, ctp enrichment */
    assert_non_null (strstr (out, "+ permit ctp -> la-a share [mac/sharing] from 2026-07-11 to "
                                  "2026-08-10  (ISA-A/S1)  because agreement ISA-A: review_by "
                                  "2026-06-30 +10 days -> 2026-07-31 +10 days\n"));
    /* onward prohibited -> originator_consent: the obligation, and the records
     * that may now pass it on */
    assert_true (s_diff (s_agr_a, s_mutate ("    onward: prohibited", "    onward: originator_consent"),
                         out, sizeof out) > 0);
    assert_non_null (strstr (out, "~ onward sharing mi5 -> la-a share [mac/sharing]: prohibited -> "
                                  "originator_consent"));
    assert_non_null (strstr (out, "+ permit la-a -> mi5 enrichment [mac/enrichment] passing on mi5 "
                                  "share with consent or ctp share with consent from 2026-01-01 "
                                  "to 2026-07-10  (ISA-A/E1)  because agreement ISA-A flow S1: "
                                  "onward prohibited -> originator_consent\n"));
    (void) state;
}

/* The onward list by name: S1 names ISA-C, so la-a may pass on to ctp the
 * share mi5 or ctp sent it; naming ISA-B instead takes that away, and
 * naming it again gives it back. */
static void
test_diff_onward_names (void **state)
{
    static char out[65536];
    const char *named_c = s_edit (0, s_agr_a, "    onward: prohibited", "    onward: {agreements: [ISA-C]}");
    const char *named_b = s_edit (1, s_agr_a, "    onward: prohibited", "    onward: {agreements: [ISA-B]}");
    const char *with_c[] = { named_c, s_agr_b, s_agr_c, NULL };
    const char *with_b[] = { named_b, s_agr_b, s_agr_c, NULL };
    /* the obligation of both senders gains ISA-B; passing on is narrower */
    assert_int_equal (s_diff3 (with_c, with_b, false, out, sizeof out), 2);
    assert_non_null (strstr (out, "CHANGES (1)\n  agreement ISA-A flow S1: onward agreements "
                                  "+ISA-B -ISA-C\n"));
    assert_non_null (strstr (out, "~ onward sharing mi5 -> la-a share [mac/sharing]: agreements "
                                  "+ISA-B -ISA-C  because agreement ISA-A flow S1: onward "
                                  "agreements +ISA-B -ISA-C\n"));
    assert_non_null (strstr (out, "- permit la-a -> ctp share [mac/enrichment] passing on mi5 share "
                                  "or ctp share from 2026-01-01 to 2026-07-10  (was ISA-C/C1)  "
                                  "because agreement ISA-A flow S1: onward agreements +ISA-B "
                                  "-ISA-C\n"));
    int w = s_diff3 (with_b, with_c, false, out, sizeof out);
    assert_true (w >= 2);
    assert_non_null (strstr (out, "+ permit la-a -> ctp share [mac/enrichment] passing on mi5 share "
                                  "or ctp share from 2026-01-01 to 2026-07-10  (ISA-C/C1)  "
                                  "because agreement ISA-A flow S1: onward agreements +ISA-C "
                                  "-ISA-B\n"));
    assert_non_null (strstr (out, "result FAIL (widening)"));
    (void) state;
}

/* A pure rename: same content, new name, references renamed with it. */
static void
test_diff_rename (void **state)
{
    static char out[65536];
    const char *old_a = s_edit (0, s_agr_a, "    onward: prohibited", "    onward: {agreements: [ISA-C]}");
    const char *new_a = s_edit (1, s_agr_a, "    onward: prohibited", "    onward: {agreements: [ISA-D]}");
    const char *new_d = s_edit (2, s_agr_c, "id: ISA-C\n", "id: ISA-D\n");
    const char *before[] = { old_a, s_agr_c, NULL }, *after[] = { new_a, new_d, NULL };
    assert_int_equal (s_diff3 (before, after, false, out, sizeof out), 0);
    assert_non_null (strstr (out, "RENAMED (1)\n  ISA-C -> ISA-D\nCHANGES (0)\nWIDENING (0)\n"
                                  "NARROWING (0)\nREATTRIBUTED (0)\n"));
    assert_non_null (strstr (out, "result PASS"));
    assert_int_equal (s_diff3 (before, after, true, out, sizeof out), 0);
    assert_non_null (strstr (out, "\"renamed\":[{\"old\":\"ISA-C\",\"new\":\"ISA-D\"}],"
                                  "\"changes\":[],\"widening\":[],\"narrowing\":[]"));
    /* renamed and changed: not a rename; the cells change hands and the
     * change itself shows */
    const char *changed_d = s_edit (3, new_d, "retention: {days: 60}", "retention: {days: 90}");
    after[1] = changed_d;
    /* both senders' onward lists now name another agreement, and the retention */
    assert_int_equal (s_diff3 (before, after, false, out, sizeof out), 3);
    assert_non_null (strstr (out, "RENAMED (0)\n"));
    assert_non_null (strstr (out, "  agreement ISA-C removed\n  agreement ISA-D added (active)\n"));
    assert_non_null (strstr (out, "~ retention la-a -> ctp share [mac/enrichment]: 60 -> 90 days"));
    assert_non_null (strstr (out, "~ la-a -> ctp share [mac/enrichment]: decided by ISA-C/C1 -> "
                                  "ISA-D/C1"));
    (void) state;
}

static void
test_never_planted_violation (void **state)
{
    macx_error_t err = { 0 };
    macx_policy_t *p = s_load (s_forbid, s_agr_a, NULL, &err);
    assert_non_null (p);
    macx_policy_suite_t *s = NULL;
    static char out[65536];
    FILE *f = fmemopen (out, sizeof out, "w");
    s = macx_policy_suite_new (p, false, f);
    assert_non_null (s);
    const char *tests =
        "date: 2026-03-01\n"
        "never:\n"
        "  - {name: no intelligence to la, to: la-*, field_class: intelligence}\n"
        "  - {name: no summary to la-a (planted violation), to: la-a, field: summary}\n"
        "cases:\n"
        "  - name: a case that fails\n"
        "    request: {from: mi5, to: la-a, type: share, purpose: mac, phase: sharing, "
        "fields: [subject_name]}\n"
        "    expect: {decision: deny, reason: NO_FLOW}\n";
    assert_int_equal (macx_policy_suite_run_text (s, "t.yaml", tests, &err), 0);
    macx_policy_test_stats_t st = macx_policy_suite_finish (s);
    macx_policy_suite_destroy (&s);
    fclose (f);
    assert_int_equal (st.passed, 1);
    assert_int_equal (st.failed, 2);
    assert_non_null (strstr (out, "FAIL  never: no summary to la-a (planted violation)"));
    assert_non_null (strstr (out, "mi5 -> la-a share.summary released by ISA-A/S1"));
    assert_non_null (strstr (out, "decision: expected deny, got permit"));
    assert_non_null (strstr (out, "\n1 passed, 2 failed\n"));
    assert_non_null (strstr (out, "never produced: MISSING_LEGAL_BASIS"));
    /* a bad test file is an error with its position */
    f = fmemopen (out, sizeof out, "w");
    s = macx_policy_suite_new (p, false, f);
    assert_int_equal (macx_policy_suite_run_text (s, "bad.yaml", "cases:\n  - {name: x, request: "
                                                  "{from: mi5}, expect: {decision: permit}, oops: 1}\n",
                                                  &err), MACX_EPOLICY);
    assert_string_equal (err.msg, "bad.yaml:2:65: unknown key 'oops' in a case (expected one of: "
                                  "name, request, expect)");
    macx_policy_suite_destroy (&s);
    fclose (f);
    macx_policy_destroy (&p);
    (void) state;
}

/* ---- field coverage ------------------------------------------------------------ */

/* Runs test text against the policy loaded from agreement text agr (and
 * ISA-B), writing the report into out. */
static macx_policy_test_stats_t
s_suite (const char *agr, const char *tests, bool json, char *out, size_t size)
{
    macx_error_t err = { 0 };
    macx_policy_t *p = s_load (s_forbid, agr, s_agr_b, &err);
    if (!p)
        fprintf (stderr, "load: %s\n", err.msg);
    assert_non_null (p);
    FILE *f = fmemopen (out, size, "w");
    assert_non_null (f);
    macx_policy_suite_t *s = macx_policy_suite_new (p, json, f);
    assert_non_null (s);
    assert_int_equal (macx_policy_suite_run_text (s, "t.yaml", tests, &err), 0);
    macx_policy_test_stats_t st = macx_policy_suite_finish (s);
    macx_policy_suite_destroy (&s);
    fclose (f);
    macx_policy_destroy (&p);
    return st;
}

/* Pins every field of ISA-A down: S1 and E1 each as listed, S1's transform
 * sent as held, only the required fields, and without the required one. */
static const char s_cover_tests[] =
    "date: 2026-03-01\n"
    "cases:\n"
    "  - name: S1 as listed\n"
    "    request: {from: mi5, to: la-a, type: share, purpose: mac, phase: sharing,\n"
    "              fields: [subject_name, \"dob:year_only\", summary]}\n"
    "    expect: {decision: permit, flow: ISA-A/S1}\n"
    "  - name: S1 dob as held\n"
    "    request: {from: mi5, to: la-a, type: share, purpose: mac, phase: sharing,\n"
    "              fields: [subject_name, dob]}\n"
    "    expect: {decision: permit_with_changes, fields: {dob: \"transform:year_only\"}}\n"
    "  - name: S1 name only\n"
    "    request: {from: mi5, to: la-a, type: share, purpose: mac, phase: sharing,\n"
    "              fields: [subject_name]}\n"
    "    expect: {decision: permit}\n"
    "  - name: S1 without the name\n"
    "    request: {from: mi5, to: la-a, type: share, purpose: mac, phase: sharing,\n"
    "              fields: [summary]}\n"
    "    expect: {decision: deny, reason: REQUIRED_FIELD_MISSING}\n"
    "  - name: E1 as listed\n"
    "    request: {from: la-a, to: mi5, type: enrichment, purpose: mac, phase: enrichment,\n"
    "              fields: [subject_name, notes]}\n"
    "    expect: {decision: permit}\n"
    "  - name: E1 with nothing\n"
    "    request: {from: la-a, to: mi5, type: enrichment, purpose: mac, phase: enrichment}\n"
    "    expect: {decision: permit}\n";

static void
test_field_coverage (void **state)
{
    static char out[65536];
    /* one case that sends two fields: each change it cannot see is named */
    macx_policy_test_stats_t st = s_suite (
        s_agr_a,
        "date: 2026-03-01\n"
        "cases:\n"
        "  - name: one share\n"
        "    request: {from: mi5, to: la-a, type: share, purpose: mac, phase: sharing,\n"
        "              fields: [subject_name, summary]}\n"
        "    expect: {decision: permit}\n",
        false, out, sizeof out);
    assert_int_equal (st.failed, 0);
    /* S1: subject_name, dob, summary (kis_ref shadowed by X1); E1: 2; ISA-B/S1: 1 */
    assert_int_equal (st.field_pairs, 6);
    assert_int_equal (st.field_pairs_exercised, 0);
    assert_non_null (strstr (out, "  fields exercised: 0 of 6 (flow, field) pairs\n"));
    assert_non_null (strstr (out, "    not exercised: ISA-A/S1 subject_name (unnoticed: unrequire)\n"));
    assert_non_null (strstr (out, "    not exercised: ISA-A/S1 dob (unnoticed: drop, release)\n"));
    /* dropped, summary would be not allowed; required, the case still has it */
    assert_non_null (strstr (out, "    not exercised: ISA-A/S1 summary (unnoticed: require)\n"));
    assert_non_null (strstr (out, "    not exercised: ISA-A/E1 notes (unnoticed: drop, require)\n"));
    assert_non_null (strstr (out, "    shadowed: ISA-A/S1 kis_ref (X1)\n"));

    /* the full suite pins all of ISA-A down; the draft ISA-B cannot be */
    st = s_suite (s_agr_a, s_cover_tests, false, out, sizeof out);
    assert_int_equal (st.failed, 0);
    assert_int_equal (st.field_pairs, 6);
    assert_int_equal (st.field_pairs_exercised, 5);
    assert_non_null (strstr (out, "    not exercised: ISA-B/S1 subject_name (unnoticed: drop, "
                                  "transform:initials, require)\n"));
    st = s_suite (s_agr_a, s_cover_tests, true, out, sizeof out);
    assert_non_null (strstr (out, "\"field_pairs\":6,\"field_pairs_exercised\":5,"
                                  "\"fields_not_exercised\":[{\"flow\":\"ISA-B/S1\","
                                  "\"field\":\"subject_name\",\"unnoticed\":["));
    assert_non_null (strstr (out, "\"fields_shadowed\":[{\"flow\":\"ISA-A/S1\","
                                  "\"field\":\"kis_ref\",\"rule\":\"X1\"}]"));

    /* so each narrowing of a listed field fails a case that passed */
    static const char *const narrowed[][2] = {
        { "allow: [subject_name, summary, kis_ref]", "allow: [subject_name, kis_ref]" },
        { "    transform: {dob: year_only}\n", "" },
        { "allow: [subject_name, notes]", "allow: [subject_name]" },
        { "allow: [subject_name, summary, kis_ref]\n    transform: {dob: year_only}",
          "allow: [summary, kis_ref]\n    transform: {dob: year_only, subject_name: initials}" },
        { "    require: [subject_name]\n", "    require: [subject_name, summary]\n" },
    };
    for (size_t i = 0; i < sizeof narrowed / sizeof narrowed[0]; i++) {
        char agr[8192];
        snprintf (agr, sizeof agr, "%s", s_mutate (narrowed[i][0], narrowed[i][1]));
        st = s_suite (agr, s_cover_tests, false, out, sizeof out);
        if (st.failed == 0)
            fprintf (stderr, "narrowing %zu passed:\n%s\n", i, out);
        assert_true (st.failed > 0);
    }
    (void) state;
}

static void
test_baseline_loads (void **state)
{
    macx_error_t err = { 0 };
    const char *src = getenv ("MACX_SOURCE_DIR") ? getenv ("MACX_SOURCE_DIR") : MACX_SOURCE_DIR;
    char dir[4096];
    snprintf (dir, sizeof dir, "%s/scenarios/baseline/policy", src);
    macx_policy_t *p = macx_policy_load (dir, &err);
    if (!p)
        fprintf (stderr, "%s\n", err.msg);
    assert_non_null (p);
    assert_int_equal (macx_policy_agency_count (p), 11);      /* with the watch's three providers */
    assert_int_equal (macx_policy_agreement_count (p), 10);   /* ... and their agreements */
    /* the hash is of content, not of where the directory is */
    char h1[80];
    snprintf (h1, sizeof h1, "%s", macx_policy_hash (p));
    snprintf (dir, sizeof dir, "%s/scenarios/baseline/../baseline/policy", src);
    macx_policy_t *q = macx_policy_load (dir, &err);
    assert_non_null (q);
    assert_string_equal (h1, macx_policy_hash (q));
    snprintf (dir, sizeof dir, "%s/scenarios/no-such/policy", src);
    assert_null (macx_policy_load (dir, &err));
    assert_int_equal (err.code, MACX_ENOTFOUND);
    macx_policy_destroy (&p);
    macx_policy_destroy (&q);
    (void) state;
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_reason_codes),
        cmocka_unit_test (test_field_not_allowed_and_dispositions),
        cmocka_unit_test (test_rate_and_onward),
        cmocka_unit_test (test_internal_error_fails_closed),
        cmocka_unit_test (test_boundary_dates),
        cmocka_unit_test (test_forbid_beats_permit_and_wildcards),
        cmocka_unit_test (test_prepare),
        cmocka_unit_test (test_strict_parse_golden),
        cmocka_unit_test (test_strict_parse_more),
        cmocka_unit_test (test_ambiguous_flows),
        cmocka_unit_test (test_diff_pairs),
        cmocka_unit_test (test_diff_onward_names),
        cmocka_unit_test (test_diff_rename),
        cmocka_unit_test (test_never_planted_violation),
        cmocka_unit_test (test_field_coverage),
        cmocka_unit_test (test_baseline_loads),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
