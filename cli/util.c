/* util.c -- helpers shared by the command parsers. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "names.h"
#include "record.h"
#include "error.h"

bool
macx_cli_is_help (const char *arg)
{
    return strcmp (arg, "-h") == 0 || strcmp (arg, "--help") == 0 || strcmp (arg, "help") == 0;
}

int
macx_cli_dispatch (const char *parent, const char *usage, const macx_verb_t *verbs, int nverbs,
                   int argc, char **argv)
{
    FILE *out = stderr;
    int rc = MACX_EX_USAGE;
    if (argc >= 2 && macx_cli_is_help (argv[1])) {
        out = stdout;
        rc = MACX_EX_OK;
    }
    else if (argc >= 2) {
        for (int i = 0; i < nverbs; i++)
            if (strcmp (argv[1], verbs[i].name) == 0)
                return verbs[i].fn (argc - 1, argv + 1);
        fprintf (stderr, "macx %s: unknown command '%s'\n", parent, argv[1]);
    }
    fprintf (out, "%s\ncommands:\n", usage);
    for (int i = 0; i < nverbs; i++)
        fprintf (out, "  %-8s %s\n", verbs[i].name, verbs[i].summary);
    fprintf (out, "\nRun 'macx %s <command> --help' for its options.\n", parent);
    return rc;
}

int
macx_cli_route (const char *cmd, const char *to, const char *phase, const char *case_phase,
                macx_cli_route_t *r)
{
    r->phase = macx_phase_parse (phase);
    r->case_phase = case_phase ? macx_phase_parse (case_phase) : r->phase;
    if (!r->phase || !r->case_phase) {
        fprintf (stderr, "macx %s: unknown phase '%s' (identification, sharing, enrichment, "
                         "profiling, panel)\n", cmd, r->phase ? case_phase : phase);
        return MACX_EX_USAGE;
    }
    snprintf (r->buf, sizeof r->buf, "%s", to);
    r->n = 0;
    /* One more than the limit may be kept, so that sealing names the excess. */
    for (char *save = NULL, *t = strtok_r (r->buf, ",", &save);
         t && r->n <= MACX_RECIPIENTS_MAX; t = strtok_r (NULL, ",", &save))
        r->recipients[r->n++] = t;
    return -1;
}

int
macx_cli_positional (int argc, char **argv, const char *usage, int npos, bool *json)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' }, { 0 }
    };
    int c;
    if (json)
        *json = false;
    optind = 0;
    while ((c = getopt_long (argc, argv, "jh", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs (usage, stdout);
            return MACX_EX_OK;
        }
        if (c != 'j') {
            fputs (usage, stderr);
            return MACX_EX_USAGE;
        }
        if (json)
            *json = true;
    }
    if (argc - optind != npos) {
        fputs (usage, stderr);
        return MACX_EX_USAGE;
    }
    return -1;
}
