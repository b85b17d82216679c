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

#include "record.h"

typedef struct macx_cmd_s macx_cmd_t;
struct macx_cmd_s {
    const char *name;            /* as typed after `macx`: "send", "pilot run" */
    /* Runs the command once its options are known to be valid; argv[0] is
     * its last word. It reads its options with macx_cli_getopt (self, ...). */
    int (*fn) (const macx_cmd_t *self, int argc, char **argv);
    const char *summary;         /* one line, for the parent's list */
    const char *synopsis;        /* what follows "usage: "; further forms on new lines */
    const char *description;     /* paragraphs, wrapped at 80 columns */
    const char *options;         /* the page's Options section, lines as printed; NULL: none */
    const char *examples;        /* one command a line; "# ..." lines explain the next */
    const char *exits;           /* one "CODE meaning" a line */
    const struct option *opts;   /* {0}-terminated; --help is added; NULL: only --help */
    const char *shortopts;       /* getopt short options besides -h, e.g. "o:q" */
    /* A command whose options come from a table of its own (`macx broker`'s
     * option table) fills opts and options from it here, before either is
     * read; called once, NULL: none. */
    void (*init) (void);
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

/* The options that describe one record, shared by `record seal` and `send`. */
#define MACX_CLI_RECORD_OPTIONS                                                                 \
    { "to", required_argument, NULL, 't' },      { "type", required_argument, NULL, 'T' },      \
    { "phase", required_argument, NULL, 'p' },   { "case-phase", required_argument, NULL, 'P' }, \
    { "purpose", required_argument, NULL, 'u' }, { "case", required_argument, NULL, 'c' },      \
    { "subject", required_argument, NULL, 's' }, { "legal-basis", required_argument, NULL, 'l' }, \
    { "field", required_argument, NULL, 'f' }

typedef struct {
    const char *to, *type, *phase, *case_phase, *purpose, *case_id, *subject, *basis;
    macx_record_field_t fields[256];
    size_t nfields;
    macx_cli_route_t route;      /* set by macx_cli_record_check */
} macx_cli_record_t;

/* Applies option c if it is one of MACX_CLI_RECORD_OPTIONS: returns true if
 * it was (with *bad set to 64 after a usage error), false if not. */
bool macx_cli_record_opt (const macx_cmd_t *cmd, macx_cli_record_t *r, int c, char *arg,
                          int *bad);

/* True if any record option was given. */
bool macx_cli_record_any (const macx_cli_record_t *r);

/* Checks that --to, --type, --phase, --purpose, --case and --subject were
 * given and parses the route (`alt` names what may stand instead, or
 * NULL). Returns -1 when fine, or 64 after naming what is missing. */
int macx_cli_record_check (const macx_cmd_t *cmd, macx_cli_record_t *r, const char *alt);

/* Sets h's route, subject, case, type, purpose and legal basis from r
 * (pointers into r, which must outlive h). */
void macx_cli_record_header (macx_cli_record_t *r, Macx__Header *h);

/* Checks that a tcp:// endpoint's host resolves, so that a typo is named at
 * once rather than after a timeout. Returns -1 when fine (or not tcp), or
 * 69 after saying which host does not resolve. */
int macx_cli_endpoint (const macx_cmd_t *cmd, const char *endpoint);

#endif
