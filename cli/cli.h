/* cli.h -- the command table: each command and verb is declared once, with
 * its help page and its options, and the table applies one convention to
 * all of them: `--help` prints the page (usage, description, examples, exit
 * status) and exits 0; an unknown option or a missing value gets one line
 * naming it, and exit 64, before the command runs. */
#ifndef MACX_CLI_H
#define MACX_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

typedef struct macx_cmd_s macx_cmd_t;
struct macx_cmd_s {
    const char *name;            /* as typed after `macx`: "send", "pilot run" */
    /* Runs the command once its options are known to be valid; argv[0] is
     * its last word. It reads its options with macx_cli_getopt (self, ...). */
    int (*fn) (const macx_cmd_t *self, int argc, char **argv);
    const char *summary;         /* one line, for the parent's list */
    const char *synopsis;        /* what follows "usage: "; further forms on new lines */
    const char *description;     /* paragraphs, wrapped at 80 columns */
    const char *examples;        /* one command a line; "# ..." lines explain the next */
    const char *exits;           /* one "CODE meaning" a line */
    const struct option *opts;   /* {0}-terminated; --help is added; NULL: only --help */
    const char *shortopts;       /* getopt short options besides -h, e.g. "o:q" */
    const macx_cmd_t *verbs;     /* a command with verbs (`macx pilot run`) */
    int nverbs;
};

/* The commands, each defined by its cmd_*.c. */
extern const macx_cmd_t macx_cmd_keys, macx_cmd_record, macx_cmd_policy, macx_cmd_audit,
    macx_cmd_broker, macx_cmd_send, macx_cmd_recv, macx_cmd_status, macx_cmd_pilot,
    macx_cmd_agent;

/* Runs cmd with argv[0] its name: dispatches to a verb, answers --help,
 * refuses unknown options and missing values, then calls cmd->fn. Returns
 * the exit code. */
int macx_cli_run (const macx_cmd_t *cmd, int argc, char **argv);

/* Prints cmd's help page to out. */
void macx_cli_help (const macx_cmd_t *cmd, FILE *out);

/* getopt_long over cmd's options (and -h/--help), errors already reported
 * by macx_cli_run: returns the next option's value, or -1. Call with
 * optind = 0 first (macx_cli_run leaves it so). */
int macx_cli_getopt (const macx_cmd_t *cmd, int argc, char **argv);

/* A usage error: prints "macx NAME: MESSAGE; see 'macx NAME --help'" on
 * stderr and returns 64. */
int macx_cli_usage (const macx_cmd_t *cmd, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* Checks the positional arguments left after the options (argv[optind..]):
 * `names` lists them, space-separated, a trailing "..." meaning one or
 * more of the last ("DIR ID", "DIR TESTS..."). Returns -1 when they are
 * right, or 64 after saying which is missing or unexpected. */
int macx_cli_args (const macx_cmd_t *cmd, int argc, char **argv, const char *names);

/* Parses a whole number in [min, max] given to --NAME; returns -1 when
 * fine, or 64 after saying what is wrong with it. */
int macx_cli_long (const macx_cmd_t *cmd, const char *name, const char *text, long long min,
                   long long max, long long *out);

/* True for "-h", "--help" and "help". */
bool macx_cli_is_help (const char *arg);

/* A record's route from the command line: phases and recipients. */
typedef struct {
    int phase, case_phase;
    char *recipients[33];        /* MACX_RECIPIENTS_MAX + 1, pointing into buf */
    size_t n;
    char buf[2048];
} macx_cli_route_t;

/* Parses --to A,B,C, --phase and --case-phase (default: --phase) into r.
 * Returns -1 when fine, or the exit code after printing the error. */
int macx_cli_route (const macx_cmd_t *cmd, const char *to, const char *phase,
                    const char *case_phase, macx_cli_route_t *r);

/* Checks that a tcp:// endpoint's host resolves, so that a typo is named at
 * once rather than after a timeout. Returns -1 when fine (or not tcp), or
 * 69 after saying which host does not resolve. */
int macx_cli_endpoint (const macx_cmd_t *cmd, const char *endpoint);

#endif
