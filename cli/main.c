/* main.c -- `macx`: the command table. Each command is declared once, with
 * its help page and options, in its cmd_*.c; util.c applies the one
 * convention to all (help, unknown options, exit 64). No logic lives here. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "error.h"

static int
s_version (const macx_cmd_t *self, int argc, char **argv)
{
    (void) self;
    (void) argv;
    if (argc > 1)
        return macx_cli_usage (self, "takes no arguments");
    printf ("macx %s\n", MACX_VERSION);
    return MACX_EX_OK;
}

static const macx_cmd_t s_version_cmd = {
    .name = "version", .fn = s_version, .summary = "print the version",
    .synopsis = "macx version",
    .description = "Prints the version of macx (also `macx --version`).\n",
    .examples = "macx version\n",
    .exits = "0 printed\n64 usage error\n",
};

static const macx_cmd_t *const s_commands[] = {
#ifdef HAVE_MACX_KEYS
    &macx_cmd_keys,
#endif
#ifdef HAVE_MACX_RECORD
    &macx_cmd_record,
#endif
#ifdef HAVE_MACX_POLICY
    &macx_cmd_policy,
#endif
#ifdef HAVE_MACX_AUDIT
    &macx_cmd_audit,
#endif
#ifdef HAVE_MACX_BROKER
    &macx_cmd_broker,
#endif
#ifdef HAVE_MACX_AGENTS
    &macx_cmd_send, &macx_cmd_recv, &macx_cmd_status,
#endif
#ifdef HAVE_MACX_SIM
    &macx_cmd_pilot, &macx_cmd_agent,
#endif
    &s_version_cmd,
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
             "Commands:\n");
    for (size_t i = 0; i < S_NCOMMANDS; i++)
        fprintf (out, "  %-9s %s\n", s_commands[i]->name, s_commands[i]->summary);
    fprintf (out, "\nRun 'macx <command> --help' for a command's page.\n\n"
                  "Examples:\n"
                  "  macx pilot run scenarios/baseline/pilot.yaml\n"
                  "  macx policy check scenarios/baseline/policy\n\n"
                  "Exit status (every command):\n"
                  "  0   done\n"
                  "  1   refused or failed: a record refused, a test failed, a widening found\n"
                  "  64  usage error: an unknown option, a missing or malformed argument\n"
                  "  65  bad input data: a policy, scenario, key or record that is invalid\n"
                  "  66  an input that does not exist\n"
                  "  69  the broker cannot be reached, or refused our key\n"
                  "  70  internal error\n"
                  "  74  I/O error\n"
                  "  78  bad configuration\n");
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
        return s_version (&s_version_cmd, 1, argv + 1);
    for (size_t i = 0; i < S_NCOMMANDS; i++)
        if (strcmp (argv[1], s_commands[i]->name) == 0)
            return macx_cli_run (s_commands[i], argc - 1, argv + 1);
    if (argv[1][0] == '-')
        fprintf (stderr, "macx: unknown option '%.*s'; see 'macx --help'\n",
                 (int) strcspn (argv[1], "="), argv[1]);
    else
        fprintf (stderr, "macx: '%s' is not a macx command; see 'macx --help'\n", argv[1]);
    return MACX_EX_USAGE;
}
