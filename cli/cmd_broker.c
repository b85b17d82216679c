/* cmd_broker.c -- `macx broker`: its options (the broker's option table) from
 * the command line over a YAML config, checked, then run. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "broker.h"
#include "cli.h"
#include "clock.h"
#include "file.h"
#include "jsonl.h"
#include "keys.h"
#include "log.h"

/* The getopt options and the page's Options section, both from the
 * broker's option table (broker.h) by s_init: an option's getopt value is
 * S_TABLE + its index there. */
enum { S_CONFIG = 'c', S_LIMIT = 'L', S_TABLE = 256 };
#define S_NBSP '\x1f'   /* a space s_option_line does not break at */
#define S_OPTS_MAX 40
static struct option s_opts[S_OPTS_MAX + 1];
static char s_options[8192];

/* Appends "  LEFT  TEXT" to s_options, TEXT wrapped at 80 columns under
 * itself (LEFT on a line of its own when it is too long). */
static void
s_option_line (const char *left, const char *text)
{
    enum { INDENT = 26, WIDTH = 80 };
    char line[1024];
    int n = (int) strlen (left) + 2 < INDENT - 1
                ? snprintf (line, sizeof line, "  %-*s", INDENT - 2, left)
                : snprintf (line, sizeof line, "  %s\n%*s", left, INDENT, "");
    int col = INDENT;
    bool first = true;
    for (const char *w = text; *w && n < (int) sizeof line - 100;) {
        int len = (int) strcspn (w, " ");
        if (!first && col + 1 + len > WIDTH) {
            n += snprintf (line + n, sizeof line - (size_t) n, "\n%*s", INDENT, "");
            col = INDENT;
        }
        else if (!first) {
            line[n++] = ' ';
            col++;
        }
        for (int k = 0; k < len; k++)
            line[n++] = w[k] == S_NBSP ? ' ' : w[k];
        line[n] = 0;
        col += len;
        first = false;
        for (w += len; *w == ' '; w++)
            ;
    }
    snprintf (s_options + strlen (s_options), sizeof s_options - strlen (s_options), "%s\n", line);
}

/* An option's help line: its help, then its default and bounds. */
static void
s_option_help (const macx_broker_config_t *defaults, const macx_broker_option_t *o,
               const char *left)
{
    char text[400], value[64], bounds[64];
    macx_broker_option_format (defaults, o, value, sizeof value);
    macx_broker_option_bounds (o, bounds, sizeof bounds);
    for (char *p = bounds; (p = strchr (p, ' ')); )
        *p = S_NBSP;
    if (o->type == MACX_YAML_NODE || o->type == MACX_YAML_BOOL || !strcmp (value, "-"))
        snprintf (text, sizeof text, "%s%s%s%s", o->help, *bounds ? " (" : "", bounds,
                  *bounds ? ")" : "");
    else
        snprintf (text, sizeof text, "%s (default %s%s%s)", o->help, value, *bounds ? "; " : "",
                  bounds);
    s_option_line (left, text);
}

static void
s_init (void)
{
    macx_broker_config_t defaults;
    macx_broker_config_defaults (&defaults);
    size_t n = 0;
    s_opts[n++] = (struct option) { "config", required_argument, NULL, S_CONFIG };
    s_option_line ("--config FILE", "read the options from a YAML file first, each under its "
                   "key in docs/operations.md; the command line wins");
    for (size_t i = 0; i < macx_broker_noptions; i++) {
        const macx_broker_option_t *o = &macx_broker_options[i];
        if (!o->flag)
            continue;
        assert (n < S_OPTS_MAX - 1);
        bool value = o->type != MACX_YAML_BOOL;
        s_opts[n++] = (struct option) { o->flag, value ? required_argument : no_argument, NULL,
                                        S_TABLE + (int) i };
        char left[80];
        snprintf (left, sizeof left, "--%s%s%s", o->flag, value ? " " : "", value ? o->arg : "");
        s_option_help (&defaults, o, left);
    }
    s_opts[n++] = (struct option) { "limit", required_argument, NULL, S_LIMIT };
    s_opts[n] = (struct option) { 0 };
    s_option_line ("--limit NAME=VALUE", "one of the limits below (repeatable); in the config "
                   "file, limits: {NAME: VALUE, ...}");
    snprintf (s_options + strlen (s_options), sizeof s_options - strlen (s_options),
              "\nLimits, per peer unless they say otherwise (docs/operations.md, \"Limits\"):\n");
    for (size_t i = 0; i < macx_broker_noptions; i++) {
        const macx_broker_option_t *o = &macx_broker_options[i];
        if (o->section && strcmp (o->section, "limits") == 0) {
            char left[80];
            snprintf (left, sizeof left, "%s=%s", o->key, o->type == MACX_YAML_SIZE ? "SIZE" : o->arg);
            s_option_help (&defaults, o, left);
        }
    }
}

/* --limit NAME=VALUE */
static int
s_limit (const macx_cmd_t *self, macx_broker_config_t *cfg, const char *text)
{
    char name[64], list[400] = "";
    size_t len = strcspn (text, "=");
    snprintf (name, sizeof name, "%.*s", (int) (len < 40 ? len : 40), text);
    const macx_broker_option_t *o = text[len] ? macx_broker_option_find ("limits", name) : NULL;
    if (!o) {
        for (size_t i = 0; i < macx_broker_noptions; i++)
            if (macx_broker_options[i].section && !strcmp (macx_broker_options[i].section, "limits"))
                snprintf (list + strlen (list), sizeof list - strlen (list), "%s%s", *list ? ", " : "",
                          macx_broker_options[i].key);
        if (!text[len])
            return macx_cli_usage (self, "--limit '%s' must be NAME=VALUE (NAME one of: %s)", text,
                                   list);
        return macx_cli_usage (self, "--limit: unknown limit '%s' (expected one of: %s)", name,
                               list);
    }
    char flag[80];
    macx_error_t err = { 0 };
    snprintf (flag, sizeof flag, "--limit %s", name);
    if (macx_broker_option_set (cfg, o, flag, text + len + 1, &err))
        return macx_cli_usage (self, "%s", macx_error_text (&err));
    return -1;
}

static int
s_broker (const macx_cmd_t *self, int argc, char **argv)
{
    macx_broker_config_t cfg;
    macx_broker_config_defaults (&cfg);
    macx_error_t err = { 0 };
    /* The config file first, so that options override it. */
    int c, bad;
    macx_log_level_t level;
    while ((c = macx_cli_getopt (self, argc, argv)) != -1) {
        if (c == S_CONFIG && macx_broker_config_load (optarg, &cfg, &err)) {
            fprintf (stderr, "macx broker: %s\n", macx_error_text (&err));
            return MACX_EX_CONFIG;
        }
        if (c == S_CONFIG && macx_log_parse_level (cfg.log_level, &level)) {
            fprintf (stderr, "macx broker: %s: 'log_level' must be debug, info, warn or error, "
                     "not '%s'\n", optarg, cfg.log_level);
            return MACX_EX_CONFIG;
        }
    }
    optind = 0;
    while ((c = macx_cli_getopt (self, argc, argv)) != -1) {
        if (c == S_LIMIT && (bad = s_limit (self, &cfg, optarg)) >= 0)
            return bad;
        if (c < S_TABLE || c >= S_TABLE + (int) macx_broker_noptions)
            continue;
        const macx_broker_option_t *o = &macx_broker_options[c - S_TABLE];
        if (o->type == MACX_YAML_BOOL) {
            *(bool *) ((char *) &cfg + o->offset) = false;
            continue;
        }
        char flag[64];
        snprintf (flag, sizeof flag, "--%s", o->flag);
        if (macx_broker_option_set (&cfg, o, flag, optarg, &err))
            return macx_cli_usage (self, "%s", macx_error_text (&err));
        if (o->offset == offsetof (macx_broker_config_t, log_level)
            && macx_log_parse_level (cfg.log_level, &level))
            return macx_cli_usage (self, "--log-level must be debug, info, warn or error, not '%s'",
                                   optarg);
    }
    if ((bad = macx_cli_args (self, argc, argv, "")) >= 0)
        return bad;
    if (!cfg.keys_dir[0] || !cfg.policy_dir[0] || !cfg.data_dir[0])
        return macx_cli_usage (self, "%s is required (or its key in --config)",
                               !cfg.keys_dir[0] ? "--keys DIR" : !cfg.policy_dir[0] ? "--policy DIR"
                                                                                    : "--data DIR");
    if (cfg.clock.pace_ms > 0 && !cfg.clock.simulated)
        return macx_cli_usage (self, "--pace needs a simulated clock (clock: mode: simulated in "
                               "the config file)");
    if ((uint32_t) cfg.limits.peer_out_frames <= cfg.limits.max_credit) {
        fprintf (stderr, "macx broker: limits: peer_out_frames (%d) must be above max_credit (%u): "
                 "a recipient taking its whole credit would be taken for a slow consumer\n",
                 cfg.limits.peer_out_frames, cfg.limits.max_credit);
        return MACX_EX_CONFIG;
    }
    if (macx_broker_config_check_clock (&cfg.clock, &err)) {
        fprintf (stderr, "macx broker: clock: %s\n", macx_error_text (&err));
        return MACX_EX_CONFIG;
    }
    macx_log_parse_level (cfg.log_level, &level);   /* checked above, where it was set */
    macx_log_set_level (level);
    macx_log_set_component ("broker");
    /* Other agencies' secrets beside the broker's: refused when others can
     * read them, else named in a warning. */
    char secrets[1024];
    if (macx_keys_foreign_secrets (cfg.keys_dir, cfg.identity, true, secrets, sizeof secrets)) {
        fprintf (stderr, "macx broker: %s holds other agencies' secret keys that group or others "
                 "can read: %s; the broker needs only their public keys (ID.pub): move the "
                 "secrets to each agency, or at least chmod 600 them\n", cfg.keys_dir, secrets);
        return MACX_EX_CONFIG;
    }
    if (macx_keys_foreign_secrets (cfg.keys_dir, cfg.identity, false, secrets, sizeof secrets))
        macx_log (MACX_LOG_WARN, "other agencies' secret keys in the broker's key directory",
                  "dir=%s secrets=\"%s\" hint=\"the broker needs only their ID.pub; move the "
                  "secrets out\"", cfg.keys_dir, secrets);
    if (macx_broker_run (&cfg, &err)) {
        fprintf (stderr, "macx broker: %s\n", macx_error_text (&err));
        return err.code == MACX_EPOLICY ? MACX_EX_CONFIG : macx_exit_code (err.code);
    }
    return MACX_EX_OK;
}

/* ---- macx broker reload ------------------------------------------------- */

static const struct option s_reload_opts[] = {
    { "data", required_argument, NULL, 'd' }, { "timeout", required_argument, NULL, 't' },
    { "json", no_argument, NULL, 'j' }, { 0 }
};

static int
s_reload (const macx_cmd_t *self, int argc, char **argv)
{
    const char *data = NULL;
    long long timeout_s = 10;
    bool json = false;
    int c, rc;
    while ((c = macx_cli_getopt (self, argc, argv)) != -1) {
        if (c == 'd')
            data = optarg;
        else if (c == 't' && (rc = macx_cli_long (self, "timeout", optarg, 1, 3600, &timeout_s)) >= 0)
            return rc;
        else if (c == 'j')
            json = true;
    }
    if ((rc = macx_cli_args (self, argc, argv, "")) >= 0)
        return rc;
    if (!data)
        return macx_cli_usage (self, "--data DIR is required (the running broker's --data)");
    char path[1100], answer_path[1100];
    snprintf (path, sizeof path, "%s/broker.lock", data);
    snprintf (answer_path, sizeof answer_path, "%s/reload.json", data);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf (stderr, "macx broker reload: %s: %s: no broker has run on this data directory\n",
                 path, strerror (errno));
        return MACX_EX_UNAVAILABLE;
    }
    /* The broker holds this lock for its life: if we get it, none runs. */
    if (flock (fd, LOCK_SH | LOCK_NB) == 0) {
        close (fd);
        fprintf (stderr, "macx broker reload: no broker is running on %s\n", data);
        return MACX_EX_UNAVAILABLE;
    }
    char pidtext[32] = "";
    ssize_t got = read (fd, pidtext, sizeof pidtext - 1);
    close (fd);
    long pid = got > 0 ? strtol (pidtext, NULL, 10) : 0;
    if (pid <= 1) {
        fprintf (stderr, "macx broker reload: %s holds no process id\n", path);
        return MACX_EX_UNAVAILABLE;
    }
    char *before = NULL, *after = NULL;
    size_t blen = 0, alen = 0;
    macx_error_t err = { 0 };
    macx_file_read (answer_path, 1 << 20, &before, &blen, &err);   /* none yet: fine */
    if (kill ((pid_t) pid, SIGHUP) != 0) {
        fprintf (stderr, "macx broker reload: cannot signal the broker (pid %ld): %s\n", pid,
                 strerror (errno));
        free (before);
        return errno == EPERM ? MACX_EX_CONFIG : MACX_EX_UNAVAILABLE;
    }
    char mine[48];
    snprintf (mine, sizeof mine, "\"broker_pid\":%ld,", pid);
    int64_t deadline = (int64_t) (macx_clock_mono_ns () / 1000000) + timeout_s * 1000;
    for (;;) {
        free (after);
        after = NULL;
        macx_error_t e2 = { 0 };
        if (macx_file_read (answer_path, 1 << 20, &after, &alen, &e2) == 0 && strstr (after, mine)
            && (!before || blen != alen || memcmp (before, after, alen) != 0))
            break;
        if ((int64_t) (macx_clock_mono_ns () / 1000000) > deadline) {
            fprintf (stderr, "macx broker reload: the broker (pid %ld) did not answer in %lld s; "
                     "its log says why\n", pid, timeout_s);
            free (before);
            free (after);
            return MACX_EX_UNAVAILABLE;
        }
        nanosleep (&(struct timespec) { 0, 20 * 1000 * 1000 }, NULL);
    }
    free (before);
    macx_jv_t answer = { 0 };
    if (macx_jv_parse (after, alen, &answer, &err)) {
        fprintf (stderr, "macx broker reload: %s: %s\n", answer_path, macx_error_text (&err));
        free (after);
        return MACX_EX_SOFTWARE;
    }
    const macx_jv_t *result = macx_jv_get (&answer, "result");
    const macx_jv_t *keys = macx_jv_get (result, "keys");
    bool ok = macx_jv_bool (result, "ok", false);
    const char *newh = macx_jv_str (result, "policy_hash", "");
    const char *oldh = macx_jv_str (result, "previous_policy_hash", "");
    if (json)
        fputs (after, stdout);
    else if (ok)
        printf ("policy reloaded: %s -> %s%s\n", oldh, newh,
                strcmp (oldh, newh) == 0 ? " (unchanged)" : "");
    if (!ok)
        fprintf (stderr, "macx broker reload: refused, the policy in force (%s) stays: %s\n",
                 oldh[0] ? oldh : "unchanged", macx_jv_str (result, "error", ""));
    if (!json && keys) {
        /* the registry's changes, as the broker saw them */
        const macx_jv_t *changes = macx_jv_get (keys, "changes");
        size_t n = changes && changes->type == MACX_JV_ARRAY ? changes->count : 0;
        for (size_t i = 0; i < n; i++) {
            const macx_jv_t *ch = &changes->items[i];
            double closed = macx_jv_num (ch, "connections_closed", 0);
            printf ("keys: %s %s", macx_jv_str (ch, "change", ""), macx_jv_str (ch, "agency", ""));
            if (closed > 0)
                printf (", connections closed: %.0f", closed);
            putchar ('\n');
        }
        if (!macx_jv_bool (keys, "ok", true))
            fprintf (stderr, "macx broker reload: the key directory does not load; the registry "
                     "in force stays: %s\n", macx_jv_str (keys, "error", ""));
        else if (!n)
            printf ("keys: no change\n");
    }
    macx_jv_free (&answer);
    free (after);
    return ok ? MACX_EX_OK : MACX_EX_DATAERR;
}

static const macx_cmd_t s_verbs[] = {
    { .name = "broker reload", .fn = s_reload,
      .summary = "have a running broker reload its keys and policy", .opts = s_reload_opts,
      .shortopts = "d:t:j",
      .synopsis = "macx broker reload --data DIR [--timeout S] [--json]",
      .description =
          "Asks the broker running on --data DIR (the pid in DIR/broker.lock) to reload,\n"
          "with SIGHUP, and waits for its answer (DIR/reload.json). The broker reads its\n"
          "--keys directory again (it also does so by itself within a second of any\n"
          "change, `macx keys revoke` included) and its --policy directory. A policy that\n"
          "does not check is refused and the one in force stays; a policy that checks\n"
          "judges the next record on. Either way the audit log has a policy_reload or\n"
          "policy_reload_refused entry with the old and the new policy hash, and every\n"
          "judged record names the hash that judged it.\n",
      .options =
          "  --data DIR              the running broker's data directory (required)\n"
          "  --timeout S             wait at most S seconds for the answer (default 10)\n"
          "  --json                  print the broker's answer as JSON\n",
      .examples =
          "macx broker reload --data data\n"
          "# revocation needs no reload: the broker sees it within a second\n"
          "macx keys revoke demo/keys la-london --reason \"key lost\"\n",
      .exits =
          "0 reloaded\n"
          "64 usage error\n"
          "65 the new policy does not check: refused, the old one stays (why on stderr)\n"
          "69 no broker runs on DIR, or it did not answer in time\n"
          "78 not allowed to signal the broker\n" },
};

const macx_cmd_t macx_cmd_broker = {
    .name = "broker", .fn = s_broker,
    .summary = "run the broker (CURVE, agreements, durable delivery, audit)", .opts = s_opts,
    .options = s_options, .init = s_init,
    .verbs = s_verbs, .nverbs = (int) (sizeof s_verbs / sizeof s_verbs[0]),
    .synopsis =
        "macx broker [--config FILE] [OPTION...] --keys DIR --policy DIR --data DIR\n"
        "macx broker reload --data DIR",
    .description =
        "Runs the broker: a CURVE-only ROUTER socket (default tcp://127.0.0.1:7750)\n"
        "admitting only transport keys registered in --keys and not revoked; every\n"
        "record is checked (bounds, signature, sender = authenticated agency, replay,\n"
        "sequence) and judged against the agreements in --policy; accepted records\n"
        "and every decision's audit entry are committed to --data in one LMDB\n"
        "transaction per batch before the ACK. SIGTERM or SIGINT drains and writes a\n"
        "final signed checkpoint. Each option below is also a key of the YAML config\n"
        "file (--config; docs/operations.md lists them); the command line wins, and\n"
        "every value is checked against its bounds before anything starts (exit 64\n"
        "on the command line, 78 in the file). Logs are key=value lines on stderr.\n\n"
        "The broker owns the clock: it stamps every accepted record with its own time\n"
        "and judges the agreements (dates in force, expiry, daily caps) by it, never by\n"
        "the time a sender claims; a claim further than --max-skew from its clock\n"
        "(default 5m; units ms, s, m, h, d) is refused CLOCK_SKEW. Its clock is the\n"
        "wall clock, or with --clock-start a wall clock that reads that date (UTC\n"
        "midnight) when the broker starts, to run as of a date. A pilot's simulated\n"
        "clock is set in the config file (clock: mode: simulated, docs/operations.md);\n"
        "--pace MS then lets at most one simulated day pass per MS ms of wall time.\n"
        "--no-sync skips the fsync of each commit: a crash of the process loses\n"
        "nothing, a crash of the machine may lose the last commits.\n\n"
        "The key registry is live: a change in --keys (a revocation, a new agency, new\n"
        "keys) is in force within a second, without a restart; the connections of a\n"
        "revoked or removed agency are closed. SIGHUP, or 'macx broker reload', reloads\n"
        "the keys and the policy; a policy that does not check is refused, audited, and\n"
        "the old one stays.\n",
    .examples =
        "macx broker --keys demo/keys --policy scenarios/baseline/policy --data data\n"
        "# as of a date, to try an agreement before it is signed\n"
        "macx broker --keys demo/keys --policy new-policy --data data \\\n"
        "    --clock-start 2026-04-01\n",
    .exits =
        "0 stopped cleanly (SIGTERM or SIGINT)\n"
        "64 usage error\n"
        "65 bad keys or policy (file:line:column on stderr)\n"
        "69 the endpoint cannot be bound\n"
        "70 internal error, or (simulated clock) a record reached a federate in its past\n"
        "74 the data directory is unusable\n"
        "78 bad configuration, or others' secret keys in --keys readable by group/others\n",
};
