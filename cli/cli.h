/* cli.h -- the subcommand table's entries and shared option helpers. */
#ifndef MACX_CLI_H
#define MACX_CLI_H

#include <stdbool.h>

typedef struct {
    const char *name;
    int (*fn) (int argc, char **argv);   /* argv[0] is the command name */
    const char *summary;
} macx_command_t;

/* Each returns a sysexits code. */
int macx_cmd_keys (int argc, char **argv);
int macx_cmd_record (int argc, char **argv);
int macx_cmd_policy (int argc, char **argv);
int macx_cmd_audit (int argc, char **argv);
int macx_cmd_broker (int argc, char **argv);
int macx_cmd_send (int argc, char **argv);
int macx_cmd_recv (int argc, char **argv);
int macx_cmd_status (int argc, char **argv);
int macx_cmd_pilot (int argc, char **argv);
int macx_cmd_agent (int argc, char **argv);
int macx_cmd_version (int argc, char **argv);

/* True for "-h", "--help" and "help". */
bool macx_cli_is_help (const char *arg);

/* Runs a sub-subcommand table: argv[0] is the parent command, argv[1] the
 * verb. Prints `usage` (to stdout for --help, stderr on error). */
typedef struct {
    const char *name;
    int (*fn) (int argc, char **argv);
    const char *summary;
} macx_verb_t;
int macx_cli_dispatch (const char *parent, const char *usage, const macx_verb_t *verbs,
                       int nverbs, int argc, char **argv);

/* Parses [--json] [--help] around exactly npos positional arguments, which
 * then start at argv[optind]. Returns -1 when they are fine, or the exit
 * code after printing usage (to stdout for --help, else stderr). */
int macx_cli_positional (int argc, char **argv, const char *usage, int npos, bool *json);

/* A record's route from the command line: phases and recipients. */
typedef struct {
    int phase, case_phase;
    char *recipients[33];        /* MACX_RECIPIENTS_MAX + 1, pointing into buf */
    size_t n;
    char buf[2048];
} macx_cli_route_t;

/* Parses --to A,B,C, --phase and --case-phase (default: --phase) into r.
 * Returns -1 when fine, or the exit code after printing the error. */
int macx_cli_route (const char *cmd, const char *to, const char *phase, const char *case_phase,
                    macx_cli_route_t *r);

#endif
