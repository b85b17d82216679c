/* main.c -- `macx`: the subcommand table. Each command parses its own
 * options and calls into the module libraries; no logic lives here. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "error.h"

static const macx_command_t s_commands[] = {
#ifdef HAVE_MACX_KEYS
    { "keys",    macx_cmd_keys,    "create, list, show and revoke agency identities" },
#endif
#ifdef HAVE_MACX_RECORD
    { "record",  macx_cmd_record,  "seal a record by hand; inspect sealed records" },
#endif
#ifdef HAVE_MACX_POLICY
    { "policy",  macx_cmd_policy,  "check, test, explain, diff sharing agreements" },
#endif
#ifdef HAVE_MACX_AUDIT
    { "audit",   macx_cmd_audit,   "verify, show and export the broker's audit log" },
#endif
#ifdef HAVE_MACX_BROKER
    { "broker",  macx_cmd_broker,  "run the broker (CURVE, agreements, durable delivery, audit)" },
#endif
#ifdef HAVE_MACX_AGENTS
    { "send",    macx_cmd_send,    "seal one record and send it through a broker" },
    { "recv",    macx_cmd_recv,    "receive, verify, decrypt and receipt records" },
    { "status",  macx_cmd_status,  "a running broker's counters" },
#endif
#ifdef HAVE_MACX_SIM
    { "pilot",   macx_cmd_pilot,   "run a MAC pilot simulation; report and compare runs" },
    { "agent",   macx_cmd_agent,   "run one agency of a pilot (started by 'pilot run')" },
#endif
    { "version", macx_cmd_version, "print the version" },
};
#define S_NCOMMANDS (sizeof s_commands / sizeof s_commands[0])

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: macx [--version] [--help] <command> [<args>]\n\n"
             "macx exchanges signed, end-to-end encrypted records between agencies through\n"
             "a broker that enforces information-sharing agreements, and simulates MAC\n"
             "pilots on synthetic data. Research simulator: synthetic data only.\n\n"
             "commands:\n");
    for (size_t i = 0; i < S_NCOMMANDS; i++)
        fprintf (out, "  %-9s %s\n", s_commands[i].name, s_commands[i].summary);
    fprintf (out, "\nRun 'macx <command> --help' for a command's options.\n"
                  "Exit codes: 0 ok, 1 refused/failed, 64 usage, 65 bad data, 66 no input,\n"
                  "69 unavailable, 70 internal, 74 I/O, 78 configuration.\n");
}

int
macx_cmd_version (int argc, char **argv)
{
    if (argc > 1 && macx_cli_is_help (argv[1])) {
        printf ("usage: macx version\n\nPrints the macx version.\n");
        return MACX_EX_OK;
    }
    printf ("macx %s\n", MACX_VERSION);
    return MACX_EX_OK;
}

int
main (int argc, char **argv)
{
    if (argc < 2) {
        s_usage (stderr);
        return MACX_EX_USAGE;
    }
    if (macx_cli_is_help (argv[1])) {
        s_usage (stdout);
        return MACX_EX_OK;
    }
    if (strcmp (argv[1], "--version") == 0 || strcmp (argv[1], "-V") == 0)
        return macx_cmd_version (1, argv + 1);
    for (size_t i = 0; i < S_NCOMMANDS; i++)
        if (strcmp (argv[1], s_commands[i].name) == 0)
            return s_commands[i].fn (argc - 1, argv + 1);
    fprintf (stderr, "macx: '%s' is not a macx command; see 'macx --help'\n", argv[1]);
    return MACX_EX_USAGE;
}
