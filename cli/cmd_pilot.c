/* cmd_pilot.c -- `macx pilot run|report|compare` and `macx agent`. Parsing
 * only: the orchestrator is sim/pilot.c, the report sim/report.c, an
 * agency agents/agency.c. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agency.h"
#include "attribution.h"
#include "cli.h"
#include "file.h"
#include "log.h"
#include "pilot.h"
#include "report.h"
#include "sweep.h"

static int
s_fail (const char *verb, const macx_error_t *err)
{
    fprintf (stderr, "macx pilot %s: %s\n", verb, macx_error_text (err));
    return err->code == MACX_EINTERNAL ? MACX_EX_SOFTWARE : macx_exit_code (err->code);
}

/* The macx binary children are started with; -1 (said on stderr) if unknown. */
static int
s_self_exe (const char *verb, char *buf, size_t size)
{
    ssize_t n = readlink ("/proc/self/exe", buf, size - 1);
    if (n <= 0) {
        fprintf (stderr, "macx pilot %s: cannot find the macx binary (/proc/self/exe)\n", verb);
        return -1;
    }
    buf[n] = '\0';
    return 0;
}

/* --seed N and --subjects N, which `pilot run` and `agent` share: returns
 * true if c was one of them (with *bad set to 64 after a usage error). */
static bool
s_seed_subjects (const macx_cmd_t *self, int c, const char *arg, int64_t *seed, int *subjects,
                 int *bad)
{
    long long v;
    if (c == 'S' && (*bad = macx_cli_long (self, "seed", arg, 0, LLONG_MAX, &v)) < 0)
        *seed = v;
    else if (c == 'n' && (*bad = macx_cli_long (self, "subjects", arg, 1, 1000000, &v)) < 0)
        *subjects = (int) v;
    return c == 'S' || c == 'n';
}

static const struct option s_run_opts[] = {
    { "out", required_argument, NULL, 'o' },        { "seed", required_argument, NULL, 'S' },
    { "subjects", required_argument, NULL, 'n' },   { "pace", required_argument, NULL, 'p' },
    { "clock-scale", required_argument, NULL, 'c' },
    { "quiet", no_argument, NULL, 'q' },            { "set", required_argument, NULL, 'e' },
    { "policy", required_argument, NULL, 'P' },     { 0 }
};

static int
s_run (const macx_cmd_t *self, int argc, char **argv)
{
    macx_pilot_opts_t o = { .seed = -1 };
    int c, bad = -1;
    while (bad < 0 && (c = macx_cli_getopt (self, argc, argv)) != -1) {
        if (s_seed_subjects (self, c, optarg, &o.seed, &o.subjects, &bad))
            continue;
        switch (c) {
        case 'o':
            if (strlen (optarg) >= sizeof o.out)
                bad = macx_cli_usage (self, "--out '%s' is too long", optarg);
            snprintf (o.out, sizeof o.out, "%s", optarg);
            break;
        case 'p': {
            char *end;
            o.pace_ms = strtod (optarg, &end);
            if (*end || end == optarg || !(o.pace_ms >= 0) || o.pace_ms > 86400000)
                bad = macx_cli_usage (self, "--pace must be milliseconds from 0 to 86400000, "
                                      "not '%s'", optarg);
            break;
        }
        case 'c':
            fprintf (stderr, "macx pilot run: --clock-scale is retired: a pilot runs in the "
                     "broker's simulated time, as fast as the machine allows, with the same "
                     "figures at any speed; use --pace %s for a demonstration at %s ms of wall "
                     "time per simulated day\n", optarg, optarg);
            return MACX_EX_USAGE;
        case 'q': o.quiet = true; break;
        case 'e': {
            macx_error_t e = { 0 };
            if (o.ov.nsets == MACX_OVERRIDE_MAX)
                bad = macx_cli_usage (self, "more than %d --set options", MACX_OVERRIDE_MAX);
            else if (macx_override_check (optarg, &e))
                bad = macx_cli_usage (self, "%s", e.msg);
            else
                o.ov.sets[o.ov.nsets++] = optarg;
            break;
        }
        case 'P': o.ov.policy = optarg; break;
        }
    }
    if (bad >= 0 || (bad = macx_cli_args (self, argc, argv, "SCENARIO")) >= 0)
        return bad;
    snprintf (o.scenario, sizeof o.scenario, "%s", argv[optind]);
    if (s_self_exe ("run", o.self_exe, sizeof o.self_exe))
        return MACX_EX_SOFTWARE;
    macx_harden_process ();   /* it generates every identity of the run */
    macx_error_t err = { 0 };
    if (macx_pilot_run (&o, &err))
        return s_fail ("run", &err);
    return MACX_EX_OK;
}

static int
s_report (const macx_cmd_t *self, int argc, char **argv)
{
    while (macx_cli_getopt (self, argc, argv) != -1)
        ;   /* only --help, answered already */
    int bad = macx_cli_args (self, argc, argv, "RUN_DIR");
    if (bad >= 0)
        return bad;
    const char *run = argv[optind];
    macx_error_t err = { 0 };
    macx_report_t *r = NULL;
    int rc = macx_report_build (run, &r, &err);
    if (rc == MACX_OK)
        rc = macx_report_write (r, run, &err);
    if (rc == MACX_OK)
        rc = macx_attribution_write (run, &err);
    if (rc == MACX_OK) {
        macx_report_print_summary (r, stdout);
        printf ("\nreport: %s/report.html\n", run);
    }
    macx_report_destroy (&r);
    return rc ? s_fail ("report", &err) : MACX_EX_OK;
}

static const struct option s_sweep_opts[] = {
    { "out", required_argument, NULL, 'o' },      { "jobs", required_argument, NULL, 'j' },
    { "executor", required_argument, NULL, 'x' }, { "sbatch-args", required_argument, NULL, 'b' },
    { "gather", no_argument, NULL, 'g' },         { "quiet", no_argument, NULL, 'q' },
    { 0 }
};

static int
s_sweep (const macx_cmd_t *self, int argc, char **argv)
{
    macx_sweep_opts_t o = { .jobs = 0 };
    bool gather = false;
    int c, bad = -1;
    long long v;
    while (bad < 0 && (c = macx_cli_getopt (self, argc, argv)) != -1) {
        switch (c) {
        case 'o':
            if (strlen (optarg) >= sizeof o.out)
                bad = macx_cli_usage (self, "--out '%s' is too long", optarg);
            snprintf (o.out, sizeof o.out, "%s", optarg);
            break;
        case 'j':
            if ((bad = macx_cli_long (self, "jobs", optarg, 1, 1024, &v)) < 0)
                o.jobs = (int) v;
            break;
        case 'x':
            if (strcmp (optarg, "local") == 0 || strcmp (optarg, "slurm") == 0)
                o.slurm = strcmp (optarg, "slurm") == 0;
            else
                bad = macx_cli_usage (self, "--executor is local or slurm, not '%s'", optarg);
            break;
        case 'b': snprintf (o.sbatch_args, sizeof o.sbatch_args, "%s", optarg); break;
        case 'g': gather = true; break;
        case 'q': o.quiet = true; break;
        }
    }
    if (bad >= 0 || (bad = macx_cli_args (self, argc, argv, "SWEEP")) >= 0)
        return bad;
    if (!o.out[0])
        return macx_cli_usage (self, "--out DIR is required");
    if (s_self_exe ("sweep", o.self_exe, sizeof o.self_exe))
        return MACX_EX_SOFTWARE;
    macx_sweep_t *sw = calloc (1, sizeof *sw);
    if (!sw)
        return MACX_EX_SOFTWARE;
    macx_error_t err = { 0 };
    int rc = macx_sweep_load (argv[optind], sw, &err);
    if (rc == MACX_OK)
        rc = gather ? macx_sweep_gather (sw, o.out, &err) : macx_sweep_run (sw, &o, &err);
    if (rc == MACX_OK && !o.quiet)
        printf ("sweep %s: %d variants x %d seeds; %s/sweep.html (also sweep.json, sweep.csv)\n",
                sw->name, sw->nvariants, sw->nseeds, o.out);
    free (sw);
    return rc ? s_fail ("sweep", &err) : MACX_EX_OK;
}

static const struct option s_compare_opts[] = {
    { "json", no_argument, NULL, 'j' }, { "variants", required_argument, NULL, 'v' }, { 0 }
};

static int
s_compare (const macx_cmd_t *self, int argc, char **argv)
{
    bool json = false;
    char va[64] = "", vb[64] = "";
    int c, bad = -1;
    while (bad < 0 && (c = macx_cli_getopt (self, argc, argv)) != -1) {
        if (c == 'j')
            json = true;
        else if (c == 'v') {
            const char *comma = strchr (optarg, ',');
            if (!comma || comma == optarg || !comma[1] || comma - optarg >= (int) sizeof va
                || strlen (comma + 1) >= sizeof vb)
                bad = macx_cli_usage (self, "--variants is A_VARIANT,B_VARIANT, not '%s'", optarg);
            else {
                snprintf (va, sizeof va, "%.*s", (int) (comma - optarg), optarg);
                snprintf (vb, sizeof vb, "%s", comma + 1);
            }
        }
    }
    if (bad >= 0 || (bad = macx_cli_args (self, argc, argv, "RUN_A RUN_B")) >= 0)
        return bad;
    macx_error_t err = { 0 };
    const char *a = argv[optind], *b = argv[optind + 1];
    bool sa = macx_sweep_is_sweep (a), sb = macx_sweep_is_sweep (b);
    if (sa != sb) {
        fprintf (stderr, "macx pilot compare: %s is a sweep and %s a run: compare two sweeps or "
                 "two runs\n", sa ? a : b, sa ? b : a);
        return MACX_EX_USAGE;
    }
    if (va[0] && !sa)
        return macx_cli_usage (self, "--variants is for two sweeps, and %s and %s are runs", a, b);
    if (sa)
        return macx_sweep_compare (a, b, va[0] ? va : NULL, vb[0] ? vb : NULL, stdout, json, &err)
                   ? s_fail ("compare", &err) : MACX_EX_OK;
    if (macx_report_compare (a, b, stdout, json, &err)
        || (!json && macx_sweep_compare_runs (a, b, stdout, &err)))
        return s_fail ("compare", &err);
    return MACX_EX_OK;
}

static const struct option s_agent_opts[] = {
    { "agency", required_argument, NULL, 'a' },   { "scenario", required_argument, NULL, 's' },
    { "run", required_argument, NULL, 'r' },      { "broker", required_argument, NULL, 'b' },
    { "seed", required_argument, NULL, 'S' },     { "subjects", required_argument, NULL, 'n' },
    { 0 }
};

static int
s_agent (const macx_cmd_t *self, int argc, char **argv)
{
    macx_agency_opts_t o = { .seed = -1 };
    int c, bad = -1;
    while (bad < 0 && (c = macx_cli_getopt (self, argc, argv)) != -1) {
        if (s_seed_subjects (self, c, optarg, &o.seed, &o.subjects, &bad))
            continue;
        switch (c) {
        case 'a': snprintf (o.agency, sizeof o.agency, "%s", optarg); break;
        case 's': snprintf (o.scenario, sizeof o.scenario, "%s", optarg); break;
        case 'r': snprintf (o.run_dir, sizeof o.run_dir, "%s", optarg); break;
        case 'b': snprintf (o.broker, sizeof o.broker, "%s", optarg); break;
        }
    }
    if (bad >= 0 || (bad = macx_cli_args (self, argc, argv, "")) >= 0)
        return bad;
    if (!o.agency[0] || !o.scenario[0] || !o.run_dir[0] || !o.broker[0])
        return macx_cli_usage (self, "--agency, --scenario, --run and --broker are required");
    macx_harden_process ();
    macx_log_set_level (MACX_LOG_INFO);
    macx_error_t err = { 0 };
    if (macx_agency_run (&o, &err)) {
        fprintf (stderr, "macx agent %s: %s\n", o.agency, macx_error_text (&err));
        return macx_exit_code (err.code);
    }
    return MACX_EX_OK;
}

/* ---- the table's entries ----------------------------------------------------- */

static const macx_cmd_t s_verbs[] = {
    { .name = "pilot run", .fn = s_run, .summary = "run a pilot scenario and write its report",
      .opts = s_run_opts, .shortopts = "o:q",
      .synopsis = "macx pilot run SCENARIO [--out DIR] [--seed N] [--subjects N]\n"
                  "                      [--set PATH=VALUE]... [--policy DIR] [--pace MS] [--quiet]",
      .description =
          "Validates SCENARIO (a pilot.yaml, or a scenario directory holding one) and\n"
          "everything it names (its policy, agreements and agencies; file:line:column on\n"
          "stderr, exit 65, before anything starts), then creates keys and synthetic\n"
          "agency databases from the seed, starts the broker and every agency as\n"
          "separate processes, shows progress on stderr (simulated day, subjects per\n"
          "phase, refusals), and once the broker's simulated clock has nothing left to\n"
          "run writes DIR/report.json, DIR/phases.csv and DIR/report.html and prints a\n"
          "summary. DIR defaults to out/<scenario name>; a previous run there is\n"
          "replaced.\n\n"
          "The broker owns the clock: simulated time advances as soon as every agency has\n"
          "handled what came before, so a run is as fast as the machine allows, and the\n"
          "same scenario, policy and seed give the same phases.csv and report.json (less\n"
          "its wall-clock fields) at any load. --pace MS lets at most one simulated day\n"
          "pass per MS milliseconds of wall time, for live demonstrations: the figures\n"
          "are the same. --seed and --subjects override the scenario's.\n\n"
          "--set PATH=VALUE replaces any field of the scenario by its YAML path: keys\n"
          "joined by '.', a list's item by its id (or kind, or 0-based index), VALUE\n"
          "any YAML (a number, a word, {dist: fixed, days: 2}); a missing key is added.\n"
          "--policy DIR runs with another policy directory. The result is validated as\n"
          "the file is (an error in a value set names the --set; exit 65), every process\n"
          "of the run reads it, and DIR/scenario.yaml keeps it; run.json lists them.\n",
      .examples = "macx pilot run scenarios/baseline/pilot.yaml\n"
                  "macx pilot run scenarios/abbreviated\n"
                  "# a quick small run\n"
                  "macx pilot run scenarios/late-isa/pilot.yaml --subjects 50 --out out/late-isa\n"
                  "# health's enrichment capacity doubled; the health agreement never signed\n"
                  "macx pilot run scenarios/baseline --set agencies.ogd-health.capacity.enrichment=20\n"
                  "macx pilot run scenarios/baseline --set agreements.health-mac.missing=true\n",
      .exits = "0 completed\n64 usage error\n"
               "65 bad scenario, policy or --set (file:line:column or the option on stderr);\n"
               "   nothing was started\n"
               "66 the scenario, a file it names, or --policy DIR does not exist\n"
               "70 a process died, or the simulated clock stuck (the message names it)\n"
               "74 I/O error in the run directory\n" },
    { .name = "pilot report", .fn = s_report, .summary = "rebuild a run's report",
      .synopsis = "macx pilot report RUN_DIR",
      .description = "Rebuilds RUN_DIR/report.json, phases.csv, report.html and attribution.json\n"
                     "(the records each agreement carried, partners' answers per subject) from the run's\n"
                     "audit trail and the agencies' outcomes, and prints the summary.\n",
      .examples = "macx pilot report out/baseline\n",
      .exits = "0 rebuilt\n64 usage error\n65 the run's files are malformed\n"
               "66 RUN_DIR is not a run directory\n74 I/O error\n" },
    { .name = "pilot sweep", .fn = s_sweep, .summary = "run a scenario over seeds and variants",
      .opts = s_sweep_opts, .shortopts = "o:j:q",
      .synopsis = "macx pilot sweep SWEEP.yaml --out DIR [--jobs N] [--executor local|slurm]\n"
                  "                        [--sbatch-args ARGS] [--gather] [--quiet]",
      .description =
          "Runs the sweep's base scenario for every variant (a set of --set overrides\n"
          "and/or a policy directory) and every seed, each run a `macx pilot run` into\n"
          "DIR/runs/VARIANT/seed-N, then writes DIR/sweep.json (docs/sweep.schema.json),\n"
          "DIR/sweep.csv (one row per run and phase) and DIR/sweep.html: per variant and\n"
          "phase p50/p90/p99/max with 95 % Student-t intervals across seeds, the Level 2/3\n"
          "share, and each variant's effect against the base (the first variant) paired\n"
          "by seed. Every variant runs the same seeds and each subject sees the same\n"
          "random draws in every variant (common random numbers). Progress (runs done,\n"
          "running, ETA) on stderr. Runs already complete in DIR are kept: a sweep that\n"
          "was interrupted or extended goes on from where it stopped.\n\n"
          "--executor local (the default) runs --jobs runs at a time (default: the\n"
          "cores). --executor slurm submits the same commands as one job array (sbatch\n"
          "--array; DIR must be on a file system the nodes share), waits for it and\n"
          "gathers the results; --sbatch-args passes options (partition, time) to\n"
          "sbatch. --gather only rebuilds the outputs from DIR/runs. The sweep file's\n"
          "format: docs/experiments.md.\n",
      .examples = "macx pilot sweep scenarios/sweeps/health.yaml --out out/health\n"
                  "macx pilot sweep scenarios/sweeps/health.yaml --out /shared/health --executor slurm \\\n"
                  "    --sbatch-args '--partition=short --time=00:20:00'\n"
                  "macx pilot compare out/health-a out/health-b\n",
      .exits = "0 every run completed and the outputs were written\n1 a run failed (its log is named)\n"
               "64 usage error\n65 bad sweep file, scenario or override (file:line:column or the variant)\n"
               "66 the sweep file or its scenario does not exist\n"
               "69 --executor slurm, and Slurm is not there or refused the job\n"
               "70 internal error\n74 I/O error in DIR\n" },
    { .name = "pilot compare", .fn = s_compare, .summary = "compare two runs phase by phase",
      .opts = s_compare_opts, .synopsis = "macx pilot compare A B [--variants VA,VB] [--json]",
      .description = "Compares two runs side by side, phase by phase: latency percentiles and\n"
                     "their change, outcomes, levels, disposals, refusals and stalled cases.\n\n"
                     "A and B may instead be two sweep directories (`macx pilot sweep --out`):\n"
                     "then every figure (p50/p90/p99/max per phase and end to end, by MAC,\n"
                     "region and the agency that ended the phase, outcomes, refusals, records each agency\n"
                     "sent) is paired over the seeds both ran, and called a change only when\n"
                     "its 95 % paired t interval excludes zero. It warns when cohorts, seeds or\n"
                     "start dates differ, shows a skipped phase as skipped, and says when an\n"
                     "agency's records stopped flowing (a latency gain that lost information).\n"
                     "--variants VA,VB compares A's variant VA with B's VB instead (A and B may\n"
                     "be the same sweep: one variant against another).\n",
      .examples = "macx pilot compare out/baseline out/late-isa\n"
                  "# two sweeps of the same seeds\n"
                  "macx pilot compare out/baseline-sweep out/late-isa-sweep\n"
                  "# health's agreement removed, against the base, in one sweep\n"
                  "macx pilot compare out/health out/health --variants base,no-health-isa\n",
      .exits = "0 compared\n64 usage error\n65 a run's report.json or a sweep.json is malformed, or a\n"
               "   --variants name is not in its sweep\n"
               "66 a run directory has no report.json\n" },
};

const macx_cmd_t macx_cmd_pilot = {
    .name = "pilot", .summary = "run a MAC pilot simulation; report and compare runs",
    .synopsis = "macx pilot <command> [<args>]",
    .description =
        "Simulates a Multi-Agency Centre pilot on synthetic data: one broker and one\n"
        "process per agency exchanging real signed, encrypted records under the\n"
        "scenario's sharing agreements, through the five MAC phases.\n",
    .examples = "macx pilot run scenarios/baseline/pilot.yaml\n"
                "macx pilot compare out/baseline out/late-isa\n",
    .exits = "0 done\n64 no command, or an unknown one (each command's page lists its own)\n",
    .verbs = s_verbs, .nverbs = (int) (sizeof s_verbs / sizeof s_verbs[0]),
};

const macx_cmd_t macx_cmd_agent = {
    .name = "agent", .fn = s_agent, .summary = "run one agency of a pilot (started by 'pilot run')",
    .opts = s_agent_opts,
    .synopsis = "macx agent --agency ID --scenario FILE --run DIR --broker ENDPOINT\n"
                "                  [--seed N] [--subjects N]",
    .description =
        "Runs one agency of a pilot (normally started by `macx pilot run`): its\n"
        "keys are in DIR/keys, its synthetic database in DIR/agents/ID/data, and it\n"
        "writes its outcomes to DIR/agents/ID/outcomes.jsonl. It is a federate of the\n"
        "broker's simulated clock and stops when the broker ends the simulation (or on\n"
        "SIGTERM).\n",
    .examples = "macx agent --agency mi5 --scenario scenarios/baseline/pilot.yaml \\\n"
                "    --run out/baseline --broker tcp://127.0.0.1:7750\n",
    .exits = "0 stopped\n64 usage error\n65 bad scenario\n66 the scenario or run does not exist\n"
             "69 refused by the broker\n"
             "70 internal error, or a record that reached it in its past\n",
};
