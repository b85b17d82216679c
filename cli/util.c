/* util.c -- helpers shared by the command parsers. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
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
