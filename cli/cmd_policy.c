/* cmd_policy.c -- `macx policy`: check, test, explain, diff and can over
 * policy directories. Argument parsing only; the work is in policy/. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clock.h"
#include "error.h"
#include "names.h"
#include "judge.h"
#include "policy.h"

#define S_MAX_FIELDS MACX_POLICY_MAX_FIELDS

/* Options shared by the verbs; each verb says which it accepts. */
typedef struct {
    bool json, allow_widening, origin_consent;
    const char *from, *to, *type, *phase, *case_phase, *purpose, *fields, *date;
    const char *origin, *origin_type, *sent_today, *min_field_coverage;
    const char *data, *case_id;
    const char *pos[64];
    int npos;
} s_opts_t;

/* Each option's place in s_opts_t, by its getopt value less S_OPT0. */
enum { S_OPT0 = 1000, S_JSON = S_OPT0, S_WIDEN, S_CONSENT, S_FROM, S_TO, S_TYPE, S_PHASE,
       S_CASE_PHASE, S_PURPOSE, S_FIELDS, S_DATE, S_ORIGIN, S_ORIGIN_TYPE, S_SENT_TODAY,
       S_MIN_FIELD_COVERAGE, S_DATA, S_CASE };

static const struct {
    size_t offset;   /* of a const char * in s_opts_t, or of a bool for flags */
    bool flag;
} s_optdefs[] = {
    [S_JSON - S_OPT0] = { offsetof (s_opts_t, json), true },
    [S_WIDEN - S_OPT0] = { offsetof (s_opts_t, allow_widening), true },
    [S_CONSENT - S_OPT0] = { offsetof (s_opts_t, origin_consent), true },
    [S_FROM - S_OPT0] = { offsetof (s_opts_t, from), false },
    [S_TO - S_OPT0] = { offsetof (s_opts_t, to), false },
    [S_TYPE - S_OPT0] = { offsetof (s_opts_t, type), false },
    [S_PHASE - S_OPT0] = { offsetof (s_opts_t, phase), false },
    [S_CASE_PHASE - S_OPT0] = { offsetof (s_opts_t, case_phase), false },
    [S_PURPOSE - S_OPT0] = { offsetof (s_opts_t, purpose), false },
    [S_FIELDS - S_OPT0] = { offsetof (s_opts_t, fields), false },
    [S_DATE - S_OPT0] = { offsetof (s_opts_t, date), false },
    [S_ORIGIN - S_OPT0] = { offsetof (s_opts_t, origin), false },
    [S_ORIGIN_TYPE - S_OPT0] = { offsetof (s_opts_t, origin_type), false },
    [S_SENT_TODAY - S_OPT0] = { offsetof (s_opts_t, sent_today), false },
    [S_MIN_FIELD_COVERAGE - S_OPT0] = { offsetof (s_opts_t, min_field_coverage), false },
    [S_DATA - S_OPT0] = { offsetof (s_opts_t, data), false },
    [S_CASE - S_OPT0] = { offsetof (s_opts_t, case_id), false },
};

#define S_JSON_OPT { "json", no_argument, NULL, S_JSON }
static const struct option s_json_opts[] = { S_JSON_OPT, { 0 } };
static const struct option s_explain_opts[] = {
    S_JSON_OPT,
    { "from", required_argument, NULL, S_FROM },       { "to", required_argument, NULL, S_TO },
    { "type", required_argument, NULL, S_TYPE },       { "phase", required_argument, NULL, S_PHASE },
    { "case-phase", required_argument, NULL, S_CASE_PHASE },
    { "purpose", required_argument, NULL, S_PURPOSE }, { "fields", required_argument, NULL, S_FIELDS },
    { "date", required_argument, NULL, S_DATE },       { "origin", required_argument, NULL, S_ORIGIN },
    { "data", required_argument, NULL, S_DATA },       { "case", required_argument, NULL, S_CASE },
    { "origin-type", required_argument, NULL, S_ORIGIN_TYPE },
    { "origin-consent", no_argument, NULL, S_CONSENT },
    { "sent-today", required_argument, NULL, S_SENT_TODAY }, { 0 }
};
static const struct option s_test_opts[] = {
    S_JSON_OPT, { "min-field-coverage", required_argument, NULL, S_MIN_FIELD_COVERAGE }, { 0 }
};
static const struct option s_diff_opts[] = {
    S_JSON_OPT, { "allow-widening", no_argument, NULL, S_WIDEN }, { 0 }
};
static const struct option s_can_opts[] = {
    S_JSON_OPT, { "to", required_argument, NULL, S_TO }, { "date", required_argument, NULL, S_DATE },
    { 0 }
};

/* Reads the verb's options (already checked by the table) into o, and
 * the positional arguments after them, which `names` describes. Returns
 * -1, or 64 after a usage error. */
static int
s_parse (const macx_cmd_t *self, int argc, char **argv, const char *names, s_opts_t *o)
{
    memset (o, 0, sizeof *o);
    int c;
    while ((c = macx_cli_getopt (self, argc, argv)) != -1) {
        if (c < S_OPT0 || c > S_CASE)
            continue;
        if (s_optdefs[c - S_OPT0].flag)
            *(bool *) ((char *) o + s_optdefs[c - S_OPT0].offset) = true;
        else
            *(const char **) ((char *) o + s_optdefs[c - S_OPT0].offset) = optarg;
    }
    int bad = macx_cli_args (self, argc, argv, names);
    if (bad >= 0)
        return bad;
    for (int i = optind; i < argc && o->npos < 64; i++)
        o->pos[o->npos++] = argv[i];
    if (argc - optind > 64)
        return macx_cli_usage (self, "more than 64 arguments");
    return -1;
}

static macx_policy_t *
s_load (const char *verb, const char *dir, int *exit_code)
{
    macx_error_t err = { 0 };
    macx_policy_t *p = macx_policy_load (dir, &err);
    if (!p) {
        fprintf (stderr, "macx policy %s: %s\n", verb, macx_error_text (&err));
        *exit_code = macx_exit_code (err.code);
    }
    return p;
}

static int
s_date_opt (const macx_cmd_t *self, const char *text, int32_t *day)
{
    if (!text) {
        *day = macx_date_today ();
        return 0;
    }
    if (macx_date_parse (text, day) != 0) {
        macx_cli_usage (self, "--date must be a date YYYY-MM-DD, not '%s'", text);
        return -1;
    }
    return 0;
}

/* ---- check ------------------------------------------------------------------- */


static int
s_check (const macx_cmd_t *self, int argc, char **argv)
{
    s_opts_t o;
    int rc = s_parse (self, argc, argv, "DIR", &o);
    if (rc >= 0)
        return rc;
    int ex = 0;
    macx_policy_t *p = s_load ("check", o.pos[0], &ex);
    if (!p)
        return ex;
    macx_policy_summary (p, stdout, o.json);
    macx_policy_destroy (&p);
    return MACX_EX_OK;
}

/* ---- test -------------------------------------------------------------------- */


#include <dirent.h>

static int
s_cmp (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

static int
s_run_path (macx_policy_suite_t *suite, const char *path, int *bad)
{
    DIR *d = opendir (path);
    macx_error_t err = { 0 };
    if (!d) {
        if (macx_policy_suite_run_file (suite, path, &err) != 0) {
            fprintf (stderr, "macx policy test: %s\n", macx_error_text (&err));
            *bad = macx_exit_code (err.code);
            return -1;
        }
        return 0;
    }
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir (d)) && n < 256) {
        size_t len = strlen (e->d_name);
        if (e->d_name[0] != '.' && len > 5 && strcmp (e->d_name + len - 5, ".yaml") == 0)
            names[n++] = strdup (e->d_name);
    }
    closedir (d);
    qsort (names, n, sizeof names[0], s_cmp);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char full[4096];
        snprintf (full, sizeof full, "%s/%s", path, names[i]);
        if (!rc && macx_policy_suite_run_file (suite, full, &err) != 0) {
            fprintf (stderr, "macx policy test: %s\n", macx_error_text (&err));
            *bad = macx_exit_code (err.code);
            rc = -1;
        }
        free (names[i]);
    }
    return rc;
}

static int
s_test (const macx_cmd_t *self, int argc, char **argv)
{
    s_opts_t o;
    int rc = s_parse (self, argc, argv, "DIR TESTS...", &o);
    if (rc >= 0)
        return rc;
    long min_cover = -1;
    if (o.min_field_coverage) {
        char *end;
        min_cover = strtol (o.min_field_coverage, &end, 10);
        if (*end || end == o.min_field_coverage || min_cover < 0 || min_cover > 100)
            return macx_cli_usage (self, "--min-field-coverage must be a percentage 0..100, "
                                   "not '%s'", o.min_field_coverage);
    }
    int ex = 0;
    macx_policy_t *p = s_load ("test", o.pos[0], &ex);
    if (!p)
        return ex;
    macx_policy_suite_t *suite = macx_policy_suite_new (p, o.json, stdout);
    if (!suite) {
        macx_policy_destroy (&p);
        return MACX_EX_SOFTWARE;
    }
    int bad = 0;
    for (int i = 1; i < o.npos && !bad; i++)
        s_run_path (suite, o.pos[i], &bad);
    macx_policy_test_stats_t st = macx_policy_suite_finish (suite);
    macx_policy_suite_destroy (&suite);
    macx_policy_destroy (&p);
    if (bad)
        return bad;
    if (st.field_pairs < 0)
        return MACX_EX_SOFTWARE;
    if (st.failed)
        return MACX_EX_FAIL;
    /* below the bar when exercised / pairs < min / 100, in integers */
    if (min_cover >= 0 && (long) st.field_pairs_exercised * 100 < min_cover * st.field_pairs) {
        fprintf (stderr, "macx policy test: %d of %d (flow, field) pairs exercised, below "
                 "--min-field-coverage %ld%%\n", st.field_pairs_exercised, st.field_pairs,
                 min_cover);
        return MACX_EX_FAIL;
    }
    return MACX_EX_OK;
}

/* ---- explain ------------------------------------------------------------------ */


static int
s_explain (const macx_cmd_t *self, int argc, char **argv)
{
    s_opts_t o;
    int rc = s_parse (self, argc, argv, "DIR", &o);
    if (rc >= 0)
        return rc;
    if (!o.from || !o.to || !o.type || !o.phase)
        return macx_cli_usage (self, "--from, --to, --type and --phase are required");
    macx_policy_request_t req = {
        .sender = o.from, .recipient = o.to, .record_type = o.type,
        .purpose = o.purpose ? o.purpose : "mac_case_management",
        .phase = macx_phase_parse (o.phase), .origin = o.origin,
        .origin_record_type = o.origin_type, .origin_consent = o.origin_consent,
    };
    req.case_phase = o.case_phase ? macx_phase_parse (o.case_phase) : req.phase;
    if (!req.phase || !req.case_phase)
        return macx_cli_usage (self, "unknown phase '%s' (identification, sharing, enrichment, "
                               "profiling, panel)", !req.phase ? o.phase : o.case_phase);
    if (s_date_opt (self, o.date, &req.date))
        return MACX_EX_USAGE;
    if (o.sent_today) {
        char *end;
        unsigned long n = strtoul (o.sent_today, &end, 10);
        if (*end || end == o.sent_today || n > UINT32_MAX)
            return macx_cli_usage (self, "--sent-today must be a count, not '%s'", o.sent_today);
        req.sent_today = (uint32_t) n;
    }
    char fbuf[4096];
    macx_policy_field_t fields[S_MAX_FIELDS];
    if (o.fields) {
        snprintf (fbuf, sizeof fbuf, "%s", o.fields);
        char *save = NULL;
        for (char *tok = strtok_r (fbuf, ",", &save); tok; tok = strtok_r (NULL, ",", &save)) {
            if (req.nfields == S_MAX_FIELDS)
                return macx_cli_usage (self, "more than %d fields", S_MAX_FIELDS);
            char *colon = strchr (tok, ':');
            if (colon)
                *colon++ = 0;
            fields[req.nfields].name = tok;
            fields[req.nfields].transform = colon ? colon : "";
            req.nfields++;
        }
        req.fields = fields;
    }
    if (!o.data != !o.case_id)
        return macx_cli_usage (self, "--data DIR and --case C go together (the case's context in "
                               "the broker store DIR)");
    /* The case context the broker would judge by (docs/policy.md "Case
     * context"): its rule, and with --data the case as the broker holds it. */
    macx_policy_case_context_t cx = { .needed = macx_judge_phase_needed (req.phase),
                                      .origin_held = -1 };
    if (o.case_id) {
        macx_error_t err = { 0 };
        Macx__CaseState *state = NULL;
        int crc = macx_cases_read (o.data, o.case_id, &state, &err);
        if (crc) {
            fprintf (stderr, "macx policy explain: %s\n", macx_error_text (&err));
            return macx_exit_code (crc);
        }
        cx.case_id = o.case_id;
        cx.source = o.data;
        cx.known = state != NULL;
        cx.reached = state ? state->phases : 0;
        if (req.origin && *req.origin && strcmp (req.origin, req.sender) != 0)
            cx.origin_held = macx_judge_case_holds (state, req.sender, req.origin,
                                                    req.origin_record_type);
        cx.reason = macx_judge_case (o.case_id, req.phase, req.sender, req.origin,
                                     req.origin_record_type, state, cx.message, sizeof cx.message);
        if (state)
            macx__case_state__free_unpacked (state, NULL);
    }
    int ex = 0;
    macx_policy_t *p = s_load ("explain", o.pos[0], &ex);
    if (!p)
        return ex;
    macx_policy_result_t res;
    macx_policy_explain_case (p, &req, &cx, stdout, o.json);
    macx_policy_evaluate (p, &req, &res);
    macx_policy_destroy (&p);
    return res.decision == MACX_DECISION_PERMIT && !cx.reason ? MACX_EX_OK : MACX_EX_FAIL;
}

/* ---- diff ---------------------------------------------------------------------- */


static int
s_diff (const macx_cmd_t *self, int argc, char **argv)
{
    s_opts_t o;
    int rc = s_parse (self, argc, argv, "OLD NEW", &o);
    if (rc >= 0)
        return rc;
    int ex = 0;
    macx_policy_t *a = s_load ("diff", o.pos[0], &ex);
    if (!a)
        return ex;
    macx_policy_t *b = s_load ("diff", o.pos[1], &ex);
    if (!b) {
        macx_policy_destroy (&a);
        return ex;
    }
    int widenings = macx_policy_diff (a, b, stdout, o.json);
    macx_policy_destroy (&a);
    macx_policy_destroy (&b);
    if (widenings < 0)
        return MACX_EX_SOFTWARE;
    return widenings && !o.allow_widening ? MACX_EX_FAIL : MACX_EX_OK;
}

/* ---- can ---------------------------------------------------------------------- */


static int
s_can (const macx_cmd_t *self, int argc, char **argv)
{
    s_opts_t o;
    int rc = s_parse (self, argc, argv, "DIR", &o);
    if (rc >= 0)
        return rc;
    if (!o.to)
        return macx_cli_usage (self, "--to AGENCY is required");
    int32_t day = INT32_MIN;
    if (o.date && s_date_opt (self, o.date, &day))
        return MACX_EX_USAGE;
    int ex = 0;
    macx_policy_t *p = s_load ("can", o.pos[0], &ex);
    if (!p)
        return ex;
    rc = macx_policy_can (p, o.to, day, stdout, o.json);
    macx_policy_destroy (&p);
    if (rc) {
        fprintf (stderr, "macx policy can: unknown agency '%s'\n", o.to);
        return MACX_EX_NOINPUT;
    }
    return MACX_EX_OK;
}

static const macx_cmd_t s_verbs[] = {
    { .name = "policy check", .fn = s_check, .summary = "validate a policy directory and summarise it",
      .opts = s_json_opts, .synopsis = "macx policy check DIR [--json]",
      .description =
          "Validates the policy directory DIR strictly (unknown or duplicate keys, unknown\n"
          "agencies, record types or fields, ambiguous flows and bad dates are errors with\n"
          "file:line:column) and prints a summary: agreements, flows, parties and what each\n"
          "party may receive.\n",
      .examples = "macx policy check scenarios/baseline/policy\n",
      .exits = "0 valid\n64 usage error\n65 invalid (file:line:column on stderr)\n"
               "66 DIR does not exist\n" },
    { .name = "policy test", .fn = s_test,
      .summary = "run test files: cases, matrices, never properties, coverage", .opts = s_test_opts,
      .synopsis = "macx policy test DIR TESTS... [--min-field-coverage PERCENT] [--json]",
      .description =
          "Runs test files (YAML: cases with expected decisions, reasons, flows and field\n"
          "outcomes; matrices where every unlisted cell must deny; never properties checked\n"
          "over the whole decision space) against the policy in DIR. TESTS are files or\n"
          "directories of *.yaml. Prints each failure with expected vs actual, then\n"
          "decision-space coverage, then the line 'N passed, N failed'.\n"
          "\n"
          "Field coverage: a (flow, field) pair -- a field a flow allows, transforms or\n"
          "requires -- is exercised when the cases notice every change of its setting\n"
          "(dropped from the flow, transformed, released as held, required or not): each\n"
          "change, made alone, fails a case that passes. Pairs that a forbid rule removes\n"
          "on every hop are listed apart. --min-field-coverage PERCENT fails the run (1)\n"
          "when fewer pairs than that are exercised.\n",
      .examples = "macx policy test scenarios/baseline/policy scenarios/baseline/tests\n"
                  "macx policy test scenarios/baseline/policy scenarios/baseline/tests \\\n"
                  "    --min-field-coverage 100\n",
      .exits = "0 all passed (and field coverage at least --min-field-coverage)\n"
               "1 some failed, or field coverage below --min-field-coverage\n"
               "64 usage error\n65 invalid policy or test file\n"
               "66 DIR or a test file does not exist\n70 internal error\n" },
    { .name = "policy explain", .fn = s_explain, .summary = "explain one decision in plain words",
      .opts = s_explain_opts,
      .synopsis = "macx policy explain DIR --from A --to B --type T --phase P\n"
                  "                           [--purpose U] [--case-phase P] [--fields f1,f2:transform]\n"
                  "                           [--date YYYY-MM-DD] [--origin A --origin-type T\n"
                  "                           [--origin-consent]] [--sent-today N]\n"
                  "                           [--data BROKER-DATA --case C] [--json]",
      .description =
          "Explains in plain words the decision on one record: agreements considered, the\n"
          "flow that decides, field by field what happens, the obligations, and for a denial\n"
          "the nearest miss. --purpose defaults to mac_case_management, --case-phase to\n"
          "--phase, --date to today, --fields to none.\n"
          "\n"
          "It also shows the case context the broker judges by before the agreements\n"
          "(docs/policy.md \"Case context\"): the phase the record needs its case to have\n"
          "reached, and for an onward share (--origin) that the origin's record was\n"
          "delivered to the sender. With --data BROKER-DATA --case C it reads case C as a\n"
          "broker's store holds it (read-only; a running broker's too): the phases it\n"
          "reached and whether the context refuses the record (CASE_PHASE_NOT_REACHED,\n"
          "ORIGIN_NOT_DELIVERED), which is then the decision shown, beside what the policy\n"
          "alone decides.\n",
      .examples = "macx policy explain scenarios/baseline/policy --from ogd-dwp --to ctp \\\n"
                  "    --type enrichment --phase enrichment --date 2026-06-01 \\\n"
                  "    --fields subject_name,dob:year_only,holdings\n"
                  "macx policy explain scenarios/baseline/policy --from ctp --to la-london \\\n"
                  "    --type share --phase sharing --origin mi5 --origin-type case_file \\\n"
                  "    --data out/baseline/broker/data --case C-000001\n",
      .exits = "0 permit\n1 deny (by the policy or the case context), or permit only with changes\n"
               "64 usage error\n65 invalid policy\n66 DIR or BROKER-DATA does not exist\n"
               "74 the broker store cannot be read\n" },
    { .name = "policy diff", .fn = s_diff, .summary = "exact diff of two policies: widening and narrowing",
      .opts = s_diff_opts, .synopsis = "macx policy diff OLD NEW [--allow-widening] [--json]",
      .description =
          "Compares two policy directories exactly, by evaluating both over the whole\n"
          "decision space drawn from the union of the two: sender x recipient x record type\n"
          "x purpose x phase, at one date in every stretch where an agreement of either\n"
          "changes state, with and without onward-sharing provenance (every origin, origin\n"
          "type and consent), field by field. Prints what differs in the text (CHANGES, by\n"
          "agreement, flow and list entry), every decision, field outcome, required field,\n"
          "retention, onward sharing (by agreement name) or daily cap that changes, classed\n"
          "as WIDENING or NARROWING and followed by 'because' and the entries behind it,\n"
          "cells now decided by another agreement with the same outcome (REATTRIBUTED), and\n"
          "agreements RENAMED with the same content (not a widening).\n",
      .examples = "macx policy diff policy-v1 policy-v2\n"
                  "macx policy diff scenarios/baseline/policy scenarios/live-sharing/policy --json\n",
      .exits = "0 no widening (or --allow-widening)\n1 a widening found\n64 usage error\n"
               "65 invalid policy\n66 OLD or NEW does not exist\n70 internal error\n" },
    { .name = "policy can", .fn = s_can, .summary = "what may an agency receive, from whom, in which phases",
      .opts = s_can_opts, .synopsis = "macx policy can DIR --to B [--date YYYY-MM-DD] [--json]",
      .description =
          "Lists what agency B may receive, from whom, in which phases and with which\n"
          "fields (after forbid rules), under agreements in force at --date (default: at any\n"
          "date an agreement is in force).\n",
      .examples = "macx policy can scenarios/baseline/policy --to ctp --date 2026-06-01\n",
      .exits = "0 listed\n64 usage error\n65 invalid policy\n"
               "66 unknown agency, or DIR does not exist\n" },
};

const macx_cmd_t macx_cmd_policy = {
    .name = "policy", .summary = "check, test, explain, diff sharing agreements",
    .synopsis = "macx policy <command> [<args>]",
    .description = "Sharing agreements: check, test, explain and compare them before they are\n"
                   "signed; docs/policy.md describes the language.\n",
    .examples = "macx policy check scenarios/baseline/policy\n"
                "macx policy test scenarios/baseline/policy scenarios/baseline/tests\n",
    .exits = "0 done\n64 no command, or an unknown one (each command's page lists its own)\n",
    .verbs = s_verbs, .nverbs = (int) (sizeof s_verbs / sizeof s_verbs[0]),
};
