/* util.c -- the command table's convention (help pages, option errors,
 * dispatch to verbs) and the parsing helpers the commands share. */
#include <getopt.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <limits.h>

#include "cli.h"
#include "names.h"
#include "record.h"
#include "error.h"

bool
macx_cli_is_help (const char *arg)
{
    return strcmp (arg, "-h") == 0 || strcmp (arg, "--help") == 0 || strcmp (arg, "help") == 0;
}

/* Prints each line of text indented, with an optional prefix per line. */
static void
s_lines (FILE *out, const char *text, const char *indent)
{
    for (const char *p = text; *p;) {
        const char *nl = strchr (p, '\n');
        size_t len = nl ? (size_t) (nl - p) : strlen (p);
        fprintf (out, "%s%.*s\n", len ? indent : "", (int) len, p);
        p += len + (nl != NULL);
    }
}

/* Runs cmd's init once, before its opts or options are read. */
static void
s_init (const macx_cmd_t *cmd)
{
    static const macx_cmd_t *done[16];
    if (!cmd->init)
        return;
    for (size_t i = 0; i < sizeof done / sizeof done[0]; i++) {
        if (done[i] == cmd)
            return;
        if (!done[i]) {
            done[i] = cmd;
            break;
        }
    }
    cmd->init ();
}

void
macx_cli_help (const macx_cmd_t *cmd, FILE *out)
{
    s_init (cmd);
    fprintf (out, "usage: ");
    s_lines (out, cmd->synopsis, "");
    if (cmd->description) {
        fputc ('\n', out);
        s_lines (out, cmd->description, "");
    }
    if (cmd->nverbs) {
        fprintf (out, "\nCommands:\n");
        for (int i = 0; i < cmd->nverbs; i++) {
            const char *verb = strrchr (cmd->verbs[i].name, ' ');
            fprintf (out, "  %-8s %s\n", verb ? verb + 1 : cmd->verbs[i].name,
                     cmd->verbs[i].summary);
        }
        fprintf (out, "\nRun 'macx %s <command> --help' for a command's page.\n", cmd->name);
    }
    if (cmd->options) {
        fprintf (out, "\nOptions:\n");
        s_lines (out, cmd->options, "");
    }
    if (cmd->examples) {
        fprintf (out, "\nExamples:\n");
        s_lines (out, cmd->examples, "  ");
    }
    if (cmd->exits) {
        fprintf (out, "\nExit status:\n");
        for (const char *p = cmd->exits; *p;) {
            const char *nl = strchr (p, '\n');
            size_t len = nl ? (size_t) (nl - p) : strlen (p);
            const char *sp = memchr (p, ' ', len);
            if (sp)
                fprintf (out, "  %-4.*s%.*s\n", (int) (sp - p), p, (int) (len - (size_t) (sp - p) - 1),
                         sp + 1);
            p += len + (nl != NULL);
        }
    }
}

/* ---- options --------------------------------------------------------------- */

#define S_OPTS_MAX 64

/* The getopt tables for cmd: its options plus --help, and its short
 * options plus h, with a leading ':' so that a missing value is told apart
 * from an unknown option. Built once per command (the CLI is one thread). */
static const macx_cmd_t *s_opts_for;
static struct option s_opts[S_OPTS_MAX + 2];
static char s_short[80];

static void
s_prepare (const macx_cmd_t *cmd)
{
    if (s_opts_for == cmd)
        return;
    s_init (cmd);
    size_t n = 0;
    for (const struct option *o = cmd->opts; o && o->name && n < S_OPTS_MAX; o++)
        s_opts[n++] = *o;
    s_opts[n++] = (struct option) { "help", no_argument, NULL, 'h' };
    s_opts[n] = (struct option) { 0 };
    snprintf (s_short, sizeof s_short, ":%sh", cmd->shortopts ? cmd->shortopts : "");
    s_opts_for = cmd;
}

int
macx_cli_getopt (const macx_cmd_t *cmd, int argc, char **argv)
{
    s_prepare (cmd);
    opterr = 0;
    return getopt_long (argc, argv, s_short, s_opts, NULL);
}

int
macx_cli_usage (const macx_cmd_t *cmd, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    fprintf (stderr, "macx %s: %s; see 'macx %s --help'\n", cmd->name, msg, cmd->name);
    return MACX_EX_USAGE;
}

/* The option getopt just refused, as typed (without a long option's =VALUE). */
static void
s_bad_option (int argc, char **argv, char *buf, size_t size)
{
    const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
    if (optopt && !(arg[0] == '-' && arg[1] == '-'))
        snprintf (buf, size, "-%c", optopt);
    else
        snprintf (buf, size, "%.*s", (int) strcspn (arg, "="), arg);
}

/* Reads every option once, before the command does anything. Returns -1
 * when they are all known and complete, else the exit code. */
static int
s_check_options (const macx_cmd_t *cmd, int argc, char **argv)
{
    int c;
    optind = 0;
    while ((c = macx_cli_getopt (cmd, argc, argv)) != -1) {
        char opt[128];
        if (c == 'h') {
            macx_cli_help (cmd, stdout);
            return MACX_EX_OK;
        }
        if (c == '?') {
            s_bad_option (argc, argv, opt, sizeof opt);
            return macx_cli_usage (cmd, "unknown option '%s'", opt);
        }
        if (c == ':') {
            s_bad_option (argc, argv, opt, sizeof opt);
            return macx_cli_usage (cmd, "option '%s' needs a value", opt);
        }
    }
    return -1;
}

int
macx_cli_run (const macx_cmd_t *cmd, int argc, char **argv)
{
    /* A command with verbs that also runs itself (`macx broker`, `macx
     * broker reload`) takes anything that is not a verb as its own. */
    if (cmd->nverbs && (!cmd->fn || argc >= 2)) {
        if (argc < 2) {
            macx_cli_help (cmd, stderr);
            return MACX_EX_USAGE;
        }
        if (macx_cli_is_help (argv[1])) {
            macx_cli_help (cmd, stdout);
            return MACX_EX_OK;
        }
        for (int i = 0; i < cmd->nverbs; i++) {
            const char *verb = strrchr (cmd->verbs[i].name, ' ');
            if (strcmp (argv[1], verb ? verb + 1 : cmd->verbs[i].name) == 0)
                return macx_cli_run (&cmd->verbs[i], argc - 1, argv + 1);
        }
    }
    if (cmd->nverbs && !cmd->fn) {
        if (argv[1][0] == '-')
            return macx_cli_usage (cmd, "unknown option '%.*s'", (int) strcspn (argv[1], "="),
                                   argv[1]);
        return macx_cli_usage (cmd, "unknown command '%s'", argv[1]);
    }
    int rc = s_check_options (cmd, argc, argv);
    if (rc >= 0)
        return rc;
    optind = 0;
    return cmd->fn (cmd, argc, argv);
}

int
macx_cli_args (const macx_cmd_t *cmd, int argc, char **argv, const char *names)
{
    char buf[256];
    snprintf (buf, sizeof buf, "%s", names);
    const char *name[16];
    int n = 0;
    for (char *save = NULL, *t = strtok_r (buf, " ", &save); t && n < 16;
         t = strtok_r (NULL, " ", &save))
        name[n++] = t;
    bool more = n && strlen (name[n - 1]) > 3
                && strcmp (name[n - 1] + strlen (name[n - 1]) - 3, "...") == 0;
    int have = argc - optind;
    if (have < n) {
        char missing[256] = "";
        for (int i = have; i < n; i++) {
            size_t len = strlen (name[i]);
            snprintf (missing + strlen (missing), sizeof missing - strlen (missing), "%s%.*s",
                      i > have ? (i == n - 1 ? " and " : ", ") : "",
                      (int) (more && i == n - 1 ? len - 3 : len), name[i]);
        }
        return macx_cli_usage (cmd, "missing %s", missing);
    }
    if (have > n && !more)
        return macx_cli_usage (cmd, "unexpected argument '%s'", argv[optind + n]);
    return -1;
}

int
macx_cli_long (const macx_cmd_t *cmd, const char *name, const char *text, long long min,
               long long max, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll (text, &end, 10);
    if (end == text || *end || errno == ERANGE || v < min || v > max) {
        /* the broker's option table says it the same way */
        if (max == LLONG_MAX)
            return macx_cli_usage (cmd, "--%s must be a whole number of at least %lld, not '%s'",
                                   name, min, text);
        return macx_cli_usage (cmd, "--%s must be a whole number from %lld to %lld, not '%s'",
                               name, min, max, text);
    }
    *out = v;
    return -1;
}

static int
s_route (const macx_cmd_t *cmd, const char *to, const char *phase, const char *case_phase,
         macx_cli_route_t *r)
{
    r->phase = macx_phase_parse (phase);
    r->case_phase = case_phase ? macx_phase_parse (case_phase) : r->phase;
    if (!r->phase || !r->case_phase)
        return macx_cli_usage (cmd, "unknown phase '%s' (identification, sharing, enrichment, "
                               "profiling, panel)", r->phase ? case_phase : phase);
    snprintf (r->buf, sizeof r->buf, "%s", to);
    r->n = 0;
    /* One more than the limit may be kept, so that sealing names the excess. */
    for (char *save = NULL, *t = strtok_r (r->buf, ",", &save);
         t && r->n <= MACX_RECIPIENTS_MAX; t = strtok_r (NULL, ",", &save))
        r->recipients[r->n++] = t;
    return -1;
}

bool
macx_cli_record_opt (const macx_cmd_t *cmd, macx_cli_record_t *r, int c, char *arg,
                     int *bad)
{
    macx_error_t err = { 0 };
    switch (c) {
    case 't': r->to = arg; return true;
    case 'T': r->type = arg; return true;
    case 'p': r->phase = arg; return true;
    case 'P': r->case_phase = arg; return true;
    case 'u': r->purpose = arg; return true;
    case 'c': r->case_id = arg; return true;
    case 's': r->subject = arg; return true;
    case 'l': r->basis = arg; return true;
    case 'f':
        if (r->nfields == sizeof r->fields / sizeof r->fields[0])
            *bad = macx_cli_usage (cmd, "more than %zu --field options", r->nfields);
        else if (macx_record_field_parse (arg, &r->fields[r->nfields++], &err))
            *bad = macx_cli_usage (cmd, "%s", macx_error_text (&err));
        return true;
    default: return false;
    }
}

bool
macx_cli_record_any (const macx_cli_record_t *r)
{
    return r->to || r->type || r->phase || r->case_phase || r->purpose || r->case_id
           || r->subject || r->basis || r->nfields;
}

int
macx_cli_record_check (const macx_cmd_t *cmd, macx_cli_record_t *r, const char *alt)
{
    static const char *const names[] = { "--to", "--type", "--phase", "--purpose", "--case",
                                         "--subject" };
    const char *given[] = { r->to, r->type, r->phase, r->purpose, r->case_id, r->subject };
    for (size_t i = 0; i < sizeof given / sizeof given[0]; i++)
        if (!given[i])
            return macx_cli_usage (cmd, "%s is required%s%s%s", names[i], alt ? " (or " : "",
                                   alt ? alt : "", alt ? ")" : "");
    return s_route (cmd, r->to, r->phase, r->case_phase, &r->route);
}

void
macx_cli_record_header (macx_cli_record_t *r, Macx__Header *h)
{
    h->recipients = r->route.recipients;
    h->n_recipients = r->route.n;
    h->subject = (char *) r->subject;
    h->case_id = (char *) r->case_id;
    h->phase = r->route.phase;
    h->case_phase = r->route.case_phase;
    h->record_type = (char *) r->type;
    h->purpose = (char *) r->purpose;
    h->legal_basis = (char *) (r->basis ? r->basis : "");
}

int
macx_cli_endpoint (const macx_cmd_t *cmd, const char *endpoint)
{
    if (strncmp (endpoint, "tcp://", 6) != 0)
        return -1;
    const char *host = endpoint + 6;
    const char *colon = strrchr (host, ':');
    if (!colon || colon == host) {
        fprintf (stderr, "macx %s: broker endpoint '%s' has no port (tcp://HOST:PORT)\n",
                 cmd->name, endpoint);
        return MACX_EX_USAGE;
    }
    char name[256];
    snprintf (name, sizeof name, "%.*s", (int) (colon - host), host);
    if (name[0] == '[') {   /* [IPv6] */
        memmove (name, name + 1, strlen (name));
        name[strcspn (name, "]")] = '\0';
    }
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
    int rc = getaddrinfo (name, NULL, &hints, &res);
    if (res)
        freeaddrinfo (res);
    if (rc == 0)
        return -1;
    fprintf (stderr, "macx %s: cannot reach the broker at %s: host '%s' does not resolve (%s)\n",
             cmd->name, endpoint, name, gai_strerror (rc));
    return MACX_EX_UNAVAILABLE;
}
