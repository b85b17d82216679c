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

#endif
