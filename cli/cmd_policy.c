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
#include "policy.h"

#define S_MAX_FIELDS MACX_POLICY_MAX_FIELDS

/* Options shared by the verbs; each verb says which it accepts. */
typedef struct {
    bool json, allow_widening, origin_consent;
    const char *from, *to, *type, *phase, *case_phase, *purpose, *fields, *date;
    const char *origin, *origin_type, *sent_today;
    const char *pos[64];
    int npos;
} s_opts_t;

typedef struct {
    const char *name;
    size_t offset;   /* of a const char * in s_opts_t, or of a bool for flags */
    bool flag;
} s_optdef_t;

#define S_OPT(n, m) { n, offsetof (s_opts_t, m), false }
#define S_FLAG(n, m) { n, offsetof (s_opts_t, m), true }

static const s_optdef_t s_optdefs[] = {
    S_FLAG ("--json", json), S_FLAG ("--allow-widening", allow_widening),
    S_FLAG ("--origin-consent", origin_consent),
    S_OPT ("--from", from), S_OPT ("--to", to), S_OPT ("--type", type), S_OPT ("--phase", phase),
    S_OPT ("--case-phase", case_phase), S_OPT ("--purpose", purpose), S_OPT ("--fields", fields),
    S_OPT ("--date", date), S_OPT ("--origin", origin), S_OPT ("--origin-type", origin_type),
    S_OPT ("--sent-today", sent_today),
};

/* Parses argv[1..]; accepted is a space-separated list of option names.
 * Returns 0, 1 for --help, or -1 after printing a usage error. */
static int
s_parse (const char *verb, const char *accepted, int argc, char **argv, s_opts_t *o)
{
    memset (o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (macx_cli_is_help (a))
            return 1;
        if (strncmp (a, "--", 2) != 0) {
            if (o->npos == 64) {
                fprintf (stderr, "macx policy %s: too many arguments\n", verb);
                return -1;
            }
            o->pos[o->npos++] = a;
            continue;
        }
        const s_optdef_t *d = NULL;
        for (size_t k = 0; k < sizeof s_optdefs / sizeof s_optdefs[0]; k++)
            if (strcmp (a, s_optdefs[k].name) == 0)
                d = &s_optdefs[k];
        const char *hit = d ? strstr (accepted, a) : NULL;
        size_t alen = strlen (a);
        if (!d || !hit || (hit[alen] != ' ' && hit[alen] != 0)) {
            fprintf (stderr, "macx policy %s: unknown option '%s'; see 'macx policy %s --help'\n",
                     verb, a, verb);
            return -1;
        }
        if (d->flag) {
            *(bool *) ((char *) o + d->offset) = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf (stderr, "macx policy %s: %s needs a value\n", verb, a);
            return -1;
        }
        *(const char **) ((char *) o + d->offset) = argv[++i];
    }
    return 0;
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
s_date_opt (const char *verb, const char *text, int32_t *day)
{
    if (!text) {
        *day = macx_date_today ();
        return 0;
    }
    if (macx_date_parse (text, day) != 0) {
        fprintf (stderr, "macx policy %s: --date '%s' is not a date (YYYY-MM-DD)\n", verb, text);
        return -1;
    }
    return 0;
}

/* ---- check ------------------------------------------------------------------- */

static const char s_check_usage[] =
    "usage: macx policy check DIR [--json]\n\n"
    "Validates the policy directory DIR strictly (unknown or duplicate keys, unknown\n"
    "agencies, record types or fields, ambiguous flows and bad dates are errors with\n"
    "file:line:column) and prints a summary: agreements, flows, parties and what each\n"
    "party may receive.\n"
    "Exit: 0 valid, 65 invalid, 66 missing, 64 usage.\n";

static int
s_check (int argc, char **argv)
{
    s_opts_t o;
    int rc = s_parse ("check", "--json", argc, argv, &o);
    if (rc)
        return rc > 0 ? (fputs (s_check_usage, stdout), MACX_EX_OK)
                      : (fputs (s_check_usage, stderr), MACX_EX_USAGE);
    if (o.npos != 1) {
        fputs (s_check_usage, stderr);
        return MACX_EX_USAGE;
    }
    int ex = 0;
    macx_policy_t *p = s_load ("check", o.pos[0], &ex);
    if (!p)
        return ex;
    macx_policy_summary (p, stdout, o.json);
    macx_policy_destroy (&p);
    return MACX_EX_OK;
}

/* ---- test -------------------------------------------------------------------- */

static const char s_test_usage[] =
    "usage: macx policy test DIR TESTS... [--json]\n\n"
    "Runs test files (YAML: cases with expected decisions, reasons, flows and field\n"
    "outcomes; matrices where every unlisted cell must deny; never properties checked\n"
    "over the whole decision space) against the policy in DIR. TESTS are files or\n"
    "directories of *.yaml. Prints each failure with expected vs actual, then\n"
    "decision-space coverage, then the line 'N passed, N failed'.\n"
    "Exit: 0 all passed, 1 failures, 65 invalid policy or test file, 66 missing.\n";

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
s_test (int argc, char **argv)
{
    s_opts_t o;
    int rc = s_parse ("test", "--json", argc, argv, &o);
    if (rc)
        return rc > 0 ? (fputs (s_test_usage, stdout), MACX_EX_OK)
                      : (fputs (s_test_usage, stderr), MACX_EX_USAGE);
    if (o.npos < 2) {
        fputs (s_test_usage, stderr);
        return MACX_EX_USAGE;
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
    return st.failed ? MACX_EX_FAIL : MACX_EX_OK;
}

/* ---- explain ------------------------------------------------------------------ */

static const char s_explain_usage[] =
    "usage: macx policy explain DIR --from A --to B --type T --phase P\n"
    "                           [--purpose U] [--case-phase P] [--fields f1,f2:transform]\n"
    "                           [--date YYYY-MM-DD] [--origin A --origin-type T\n"
    "                           [--origin-consent]] [--sent-today N] [--json]\n\n"
    "Explains in plain words the decision on one record: agreements considered, the\n"
    "flow that decides, field by field what happens, the obligations, and for a denial\n"
    "the nearest miss. --purpose defaults to mac_case_management, --case-phase to\n"
    "--phase, --date to today, --fields to none.\n"
    "Exit: 0 permit, 1 deny or changes needed, 64 usage, 65 invalid policy.\n";

static int
s_explain (int argc, char **argv)
{
    s_opts_t o;
    int rc = s_parse ("explain",
                      "--json --from --to --type --phase --case-phase --purpose --fields --date "
                      "--origin --origin-type --origin-consent --sent-today",
                      argc, argv, &o);
    if (rc)
        return rc > 0 ? (fputs (s_explain_usage, stdout), MACX_EX_OK)
                      : (fputs (s_explain_usage, stderr), MACX_EX_USAGE);
    if (o.npos != 1 || !o.from || !o.to || !o.type || !o.phase) {
        fprintf (stderr, "macx policy explain: DIR, --from, --to, --type and --phase are "
                         "required\n");
        fputs (s_explain_usage, stderr);
        return MACX_EX_USAGE;
    }
    macx_policy_request_t req = {
        .sender = o.from, .recipient = o.to, .record_type = o.type,
        .purpose = o.purpose ? o.purpose : "mac_case_management",
        .phase = macx_phase_parse (o.phase), .origin = o.origin,
        .origin_record_type = o.origin_type, .origin_consent = o.origin_consent,
    };
    req.case_phase = o.case_phase ? macx_phase_parse (o.case_phase) : req.phase;
    if (!req.phase || !req.case_phase) {
        fprintf (stderr, "macx policy explain: unknown phase '%s' (identification, sharing, "
                         "enrichment, profiling, panel)\n", !req.phase ? o.phase : o.case_phase);
        return MACX_EX_USAGE;
    }
    if (s_date_opt ("explain", o.date, &req.date))
        return MACX_EX_USAGE;
    if (o.sent_today) {
        char *end;
        unsigned long n = strtoul (o.sent_today, &end, 10);
        if (*end || n > UINT32_MAX) {
            fprintf (stderr, "macx policy explain: --sent-today must be a count\n");
            return MACX_EX_USAGE;
        }
        req.sent_today = (uint32_t) n;
    }
    char fbuf[4096];
    macx_policy_field_t fields[S_MAX_FIELDS];
    if (o.fields) {
        snprintf (fbuf, sizeof fbuf, "%s", o.fields);
        char *save = NULL;
        for (char *tok = strtok_r (fbuf, ",", &save); tok; tok = strtok_r (NULL, ",", &save)) {
            if (req.nfields == S_MAX_FIELDS) {
                fprintf (stderr, "macx policy explain: more than %d fields\n", S_MAX_FIELDS);
                return MACX_EX_USAGE;
            }
            char *colon = strchr (tok, ':');
            if (colon)
                *colon++ = 0;
            fields[req.nfields].name = tok;
            fields[req.nfields].transform = colon ? colon : "";
            req.nfields++;
        }
        req.fields = fields;
    }
    int ex = 0;
    macx_policy_t *p = s_load ("explain", o.pos[0], &ex);
    if (!p)
        return ex;
    macx_policy_result_t res;
    macx_policy_explain (p, &req, stdout, o.json);
    macx_policy_evaluate (p, &req, &res);
    macx_policy_destroy (&p);
    return res.decision == MACX_DECISION_PERMIT ? MACX_EX_OK : MACX_EX_FAIL;
}

/* ---- diff ---------------------------------------------------------------------- */

static const char s_diff_usage[] =
    "usage: macx policy diff OLD NEW [--allow-widening] [--json]\n\n"
    "Compares two policy directories exactly, by enumerating the finite decision space\n"
    "(sender x recipient x record type x purpose x phase, field by field): every cell\n"
    "whose decision, field disposition, retention, onward sharing or rate cap changes,\n"
    "and every changed agreement date or status, classed as widening or narrowing.\n"
    "Exit: 0 no widening (or --allow-widening), 1 widening found, 65 invalid policy.\n";

static int
s_diff (int argc, char **argv)
{
    s_opts_t o;
    int rc = s_parse ("diff", "--json --allow-widening", argc, argv, &o);
    if (rc)
        return rc > 0 ? (fputs (s_diff_usage, stdout), MACX_EX_OK)
                      : (fputs (s_diff_usage, stderr), MACX_EX_USAGE);
    if (o.npos != 2) {
        fputs (s_diff_usage, stderr);
        return MACX_EX_USAGE;
    }
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

static const char s_can_usage[] =
    "usage: macx policy can DIR --to B [--date YYYY-MM-DD] [--json]\n\n"
    "Lists what agency B may receive, from whom, in which phases and with which\n"
    "fields (after forbid rules), under agreements in force at --date (default: at any\n"
    "date an agreement is in force).\n"
    "Exit: 0 ok, 64 usage, 65 invalid policy, 66 unknown agency or missing policy.\n";

static int
s_can (int argc, char **argv)
{
    s_opts_t o;
    int rc = s_parse ("can", "--json --to --date", argc, argv, &o);
    if (rc)
        return rc > 0 ? (fputs (s_can_usage, stdout), MACX_EX_OK)
                      : (fputs (s_can_usage, stderr), MACX_EX_USAGE);
    if (o.npos != 1 || !o.to) {
        fputs (s_can_usage, stderr);
        return MACX_EX_USAGE;
    }
    int32_t day = INT32_MIN;
    if (o.date && s_date_opt ("can", o.date, &day))
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

static const macx_verb_t s_verbs[] = {
    { "check",   s_check,   "validate a policy directory and summarise it" },
    { "test",    s_test,    "run test files: cases, matrices, never properties, coverage" },
    { "explain", s_explain, "explain one decision in plain words" },
    { "diff",    s_diff,    "exact diff of two policies: widening and narrowing" },
    { "can",     s_can,     "what may an agency receive, from whom, in which phases" },
};

int
macx_cmd_policy (int argc, char **argv)
{
    return macx_cli_dispatch ("policy",
                              "usage: macx policy <command> [<args>]\n\n"
                              "Sharing agreements: check, test, explain and compare them.",
                              s_verbs, (int) (sizeof s_verbs / sizeof s_verbs[0]), argc, argv);
}
