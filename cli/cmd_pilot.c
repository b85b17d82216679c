/* cmd_pilot.c -- `macx pilot run|report|compare` and `macx agent`. Parsing
 * only: the orchestrator is sim/pilot.c, the report sim/report.c, an
 * agency agents/agency.c. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agency.h"
#include "cli.h"
#include "file.h"
#include "log.h"
#include "pilot.h"
#include "report.h"

static const char s_usage[] =
    "usage: macx pilot <command> [<args>]\n\n"
    "Simulates a Multi-Agency Centre pilot on synthetic data: one broker and one\n"
    "process per agency exchanging real signed, encrypted records under the\n"
    "scenario's sharing agreements, through the five MAC phases.\n";

static int
s_fail (const char *verb, const macx_error_t *err)
{
    fprintf (stderr, "macx pilot %s: %s\n", verb, macx_error_text (err));
    return err->code == MACX_EINTERNAL ? MACX_EX_SOFTWARE : macx_exit_code (err->code);
}

static int
s_run (int argc, char **argv)
{
    static const char usage[] =
        "usage: macx pilot run SCENARIO [--out DIR] [--seed N] [--subjects N]\n"
        "                      [--pace MS] [--quiet]\n\n"
        "Creates keys and synthetic agency databases from the seed, starts the broker\n"
        "and every agency as separate processes, shows progress on stderr (simulated\n"
        "day, subjects per phase, refusals), and once the broker's simulated clock has\n"
        "nothing left to run writes DIR/report.json, DIR/phases.csv and DIR/report.html\n"
        "and prints a summary. DIR defaults to out/<scenario name>; a previous run\n"
        "there is replaced.\n\n"
        "The broker owns the clock: simulated time advances as soon as every agency has\n"
        "handled what came before, so a run is as fast as the machine allows, and the\n"
        "same scenario, policy and seed give the same phases.csv and report.json (less\n"
        "its wall-clock fields) at any load. --pace MS lets at most one simulated day\n"
        "pass per MS milliseconds of wall time, for live demonstrations: the figures\n"
        "are the same.\n\n"
        "Exit codes: 0 completed, 64 usage, 65/66/78 bad scenario or policy,\n"
        "70 a process died (the message names it), 74 I/O.\n";
    static const struct option opts[] = {
        { "out", required_argument, NULL, 'o' },        { "seed", required_argument, NULL, 's' },
        { "subjects", required_argument, NULL, 'n' },   { "pace", required_argument, NULL, 'p' },
        { "clock-scale", required_argument, NULL, 'c' },
        { "quiet", no_argument, NULL, 'q' },            { "help", no_argument, NULL, 'h' }, { 0 }
    };
    macx_pilot_opts_t o = { .seed = -1 };
    int c;
    optind = 0;
    while ((c = getopt_long (argc, argv, "o:qh", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'o': snprintf (o.out, sizeof o.out, "%s", optarg); break;
        case 's': o.seed = strtoll (optarg, &end, 10); break;
        case 'n': o.subjects = (int) strtol (optarg, &end, 10); break;
        case 'p': o.pace_ms = strtod (optarg, &end); break;
        case 'c':
            fprintf (stderr, "macx pilot run: --clock-scale is retired: a pilot runs in the "
                     "broker's simulated time, as fast as the machine allows, with the same "
                     "figures at any speed; use --pace %s for a demonstration at %s ms of wall "
                     "time per simulated day\n", optarg, optarg);
            return MACX_EX_USAGE;
        case 'q': o.quiet = true; break;
        case 'h': fputs (usage, stdout); return MACX_EX_OK;
        default: fputs (usage, stderr); return MACX_EX_USAGE;
        }
        if (end && (*end || end == optarg || o.seed < -1 || o.subjects < 0 || !(o.pace_ms >= 0)
                    || o.pace_ms > 86400000)) {
            fprintf (stderr, "macx pilot run: '%s' is not a valid number here\n", optarg);
            return MACX_EX_USAGE;
        }
    }
    if (argc - optind != 1) {
        fputs (usage, stderr);
        return MACX_EX_USAGE;
    }
    snprintf (o.scenario, sizeof o.scenario, "%s", argv[optind]);
    ssize_t n = readlink ("/proc/self/exe", o.self_exe, sizeof o.self_exe - 1);
    if (n <= 0) {
        fprintf (stderr, "macx pilot run: cannot find the macx binary (/proc/self/exe)\n");
        return MACX_EX_SOFTWARE;
    }
    o.self_exe[n] = '\0';
    macx_harden_process ();   /* it generates every identity of the run */
    macx_error_t err = { 0 };
    if (macx_pilot_run (&o, &err))
        return s_fail ("run", &err);
    return MACX_EX_OK;
}

static int
s_report (int argc, char **argv)
{
    static const char usage[] =
        "usage: macx pilot report RUN_DIR\n\n"
        "Rebuilds RUN_DIR/report.json, phases.csv and report.html from the run's\n"
        "audit trail and the agencies' outcomes, and prints the summary.\n";
    if (argc == 2 && macx_cli_is_help (argv[1])) {
        fputs (usage, stdout);
        return MACX_EX_OK;
    }
    if (argc != 2) {
        fputs (usage, stderr);
        return MACX_EX_USAGE;
    }
    macx_error_t err = { 0 };
    macx_report_t *r = NULL;
    int rc = macx_report_build (argv[1], &r, &err);
    if (rc == MACX_OK)
        rc = macx_report_write (r, argv[1], &err);
    if (rc == MACX_OK) {
        macx_report_print_summary (r, stdout);
        printf ("\nreport: %s/report.html\n", argv[1]);
    }
    macx_report_destroy (&r);
    return rc ? s_fail ("report", &err) : MACX_EX_OK;
}

static int
s_compare (int argc, char **argv)
{
    static const char usage[] =
        "usage: macx pilot compare RUN_A RUN_B [--json]\n\n"
        "Compares two runs side by side, phase by phase: latency percentiles and\n"
        "their change, outcomes, levels, disposals, refusals and stalled cases.\n";
    bool json;
    int bad = macx_cli_positional (argc, argv, usage, 2, &json);
    if (bad >= 0)
        return bad;
    macx_error_t err = { 0 };
    if (macx_report_compare (argv[optind], argv[optind + 1], stdout, json, &err))
        return s_fail ("compare", &err);
    return MACX_EX_OK;
}

static const macx_verb_t s_verbs[] = {
    { "run",     s_run,     "run a pilot scenario and write its report" },
    { "report",  s_report,  "rebuild a run's report" },
    { "compare", s_compare, "compare two runs phase by phase" },
};

int
macx_cmd_pilot (int argc, char **argv)
{
    return macx_cli_dispatch ("pilot", s_usage, s_verbs, (int) (sizeof s_verbs / sizeof s_verbs[0]),
                              argc, argv);
}

int
macx_cmd_agent (int argc, char **argv)
{
    static const char usage[] =
        "usage: macx agent --agency ID --scenario FILE --run DIR --broker ENDPOINT\n"
        "                  [--seed N] [--subjects N]\n\n"
        "Runs one agency of a pilot (normally started by `macx pilot run`): its\n"
        "keys are in DIR/keys, its synthetic database in DIR/agents/ID/data, and it\n"
        "writes its outcomes to DIR/agents/ID/outcomes.jsonl. It is a federate of the\n"
        "broker's simulated clock and stops when the broker ends the simulation (or on\n"
        "SIGTERM). Exit codes: 0 stopped, 64 usage, 65/66 bad scenario, 69 refused by\n"
        "the broker, 70 internal error or a record that reached it in its past.\n";
    static const struct option opts[] = {
        { "agency", required_argument, NULL, 'a' },   { "scenario", required_argument, NULL, 's' },
        { "run", required_argument, NULL, 'r' },      { "broker", required_argument, NULL, 'b' },
        { "seed", required_argument, NULL, 'S' },     { "subjects", required_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' }, { 0 }
    };
    macx_agency_opts_t o = { .seed = -1 };
    int c;
    optind = 0;
    while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'a': snprintf (o.agency, sizeof o.agency, "%s", optarg); break;
        case 's': snprintf (o.scenario, sizeof o.scenario, "%s", optarg); break;
        case 'r': snprintf (o.run_dir, sizeof o.run_dir, "%s", optarg); break;
        case 'b': snprintf (o.broker, sizeof o.broker, "%s", optarg); break;
        case 'S': o.seed = strtoll (optarg, NULL, 10); break;
        case 'n': o.subjects = atoi (optarg); break;
        case 'h': fputs (usage, stdout); return MACX_EX_OK;
        default: fputs (usage, stderr); return MACX_EX_USAGE;
        }
    }
    if (optind != argc || !o.agency[0] || !o.scenario[0] || !o.run_dir[0] || !o.broker[0]) {
        fputs (usage, stderr);
        return MACX_EX_USAGE;
    }
    macx_harden_process ();
    macx_log_set_level (MACX_LOG_INFO);
    macx_error_t err = { 0 };
    if (macx_agency_run (&o, &err)) {
        fprintf (stderr, "macx agent %s: %s\n", o.agency, macx_error_text (&err));
        return macx_exit_code (err.code);
    }
    return MACX_EX_OK;
}
