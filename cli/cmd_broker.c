/* cmd_broker.c -- `macx broker`: parse options or a YAML config, run. */
#include <getopt.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "broker.h"
#include "cli.h"
#include "clock.h"
#include "keys.h"
#include "log.h"

static const struct option s_opts[] = {
        { "config", required_argument, NULL, 'c' },   { "bind", required_argument, NULL, 'b' },
        { "keys", required_argument, NULL, 'k' },     { "policy", required_argument, NULL, 'p' },
        { "data", required_argument, NULL, 'd' },     { "identity", required_argument, NULL, 'i' },
        { "map-size", required_argument, NULL, 'm' }, { "workers", required_argument, NULL, 'w' },
        { "batch-max", required_argument, NULL, 'B' },
        { "checkpoint-every", required_argument, NULL, 'C' },
        { "heartbeat-ms", required_argument, NULL, 'H' },
        { "effective", required_argument, NULL, 'e' },
        { "clock-start", required_argument, NULL, 'S' }, { "max-skew", required_argument, NULL, 'K' },
        { "pace", required_argument, NULL, 'P' },      { "no-sync", no_argument, NULL, 'N' },
        { "log-level", required_argument, NULL, 'l' }, { 0 }
};

static int
s_broker (const macx_cmd_t *self, int argc, char **argv)
{
    macx_broker_config_t cfg;
    macx_broker_config_defaults (&cfg);
    macx_error_t err = { 0 };
    /* The config file first, so that options override it. */
    int c, bad;
    long long v;
    while ((c = macx_cli_getopt (self, argc, argv)) != -1) {
        if (c == 'c' && macx_broker_config_load (optarg, &cfg, &err)) {
            fprintf (stderr, "macx broker: %s\n", macx_error_text (&err));
            return MACX_EX_CONFIG;
        }
    }
    optind = 0;
    while ((c = macx_cli_getopt (self, argc, argv)) != -1) {
        char *dst = NULL;
        size_t size = 0;
        switch (c) {
        case 'c': continue;
        case 'b': dst = cfg.bind; size = sizeof cfg.bind; break;
        case 'k': dst = cfg.keys_dir; size = sizeof cfg.keys_dir; break;
        case 'p': dst = cfg.policy_dir; size = sizeof cfg.policy_dir; break;
        case 'd': dst = cfg.data_dir; size = sizeof cfg.data_dir; break;
        case 'i': dst = cfg.identity; size = sizeof cfg.identity; break;
        case 'l': dst = cfg.log_level; size = sizeof cfg.log_level; break;
        case 'm':
            if (macx_broker_config_map_size (optarg, &cfg.map_size))
                return macx_cli_usage (self, "--map-size '%s' must be bytes, or a number with K, M, G or T, from 64K to 16T",
                                       optarg);
            continue;
        case 'w': if ((bad = macx_cli_long (self, "workers", optarg, 0, 16, &v)) >= 0) return bad;
                  cfg.workers = (int) v; continue;
        case 'B': if ((bad = macx_cli_long (self, "batch-max", optarg, 1, 65536, &v)) >= 0) return bad;
                  cfg.batch_max = (int) v; continue;
        case 'C': if ((bad = macx_cli_long (self, "checkpoint-every", optarg, 1, 100000000, &v)) >= 0)
                      return bad;
                  cfg.checkpoint_every = (int) v; continue;
        case 'H': if ((bad = macx_cli_long (self, "heartbeat-ms", optarg, 100, 600000, &v)) >= 0)
                      return bad;
                  cfg.heartbeat_ms = (int) v; continue;
        case 'e':
            if (macx_broker_config_effective (&cfg, optarg, &err))
                return macx_cli_usage (self, "%s", macx_error_text (&err));
            continue;
        case 'S': {
            int32_t day;
            if (macx_date_parse (optarg, &day))
                return macx_cli_usage (self, "--clock-start '%s' is not a date YYYY-MM-DD", optarg);
            cfg.clock.start_ms = (int64_t) day * 86400000;
            continue;
        }
        case 'K':
            if (macx_broker_config_duration (optarg, &cfg.clock.max_skew_ms))
                return macx_cli_usage (self, "--max-skew '%s' must be a duration such as 300000, "
                                       "500ms, 90s, 5m, 2h or 30d", optarg);
            continue;
        case 'P': {
            char *end;
            cfg.clock.pace_ms = strtod (optarg, &end);
            if (*end || end == optarg || !(cfg.clock.pace_ms >= 0))
                return macx_cli_usage (self, "--pace '%s' must be milliseconds, 0 or more", optarg);
            continue;
        }
        case 'N': cfg.sync = false; continue;
        default: continue;
        }
        if (strlen (optarg) >= size)
            return macx_cli_usage (self, "'%s' is too long", optarg);
        snprintf (dst, size, "%s", optarg);
    }
    if ((bad = macx_cli_args (self, argc, argv, "")) >= 0)
        return bad;
    if (!cfg.keys_dir[0] || !cfg.policy_dir[0] || !cfg.data_dir[0])
        return macx_cli_usage (self, "%s is required (or its key in --config)",
                               !cfg.keys_dir[0] ? "--keys DIR" : !cfg.policy_dir[0] ? "--policy DIR"
                                                                                    : "--data DIR");
    if (cfg.batch_max < 1 || cfg.checkpoint_every < 1 || cfg.heartbeat_ms < 100 || cfg.workers < 0) {
        fprintf (stderr, "macx broker: batch_max and checkpoint_every must be >= 1, "
                         "heartbeat_ms >= 100 and workers >= 0\n");
        return MACX_EX_CONFIG;
    }
    if (cfg.clock.pace_ms > 0 && !cfg.clock.simulated)
        return macx_cli_usage (self, "--pace needs a simulated clock (clock: mode: simulated in "
                               "the config file)");
    if (macx_broker_config_check_clock (&cfg.clock, &err)) {
        fprintf (stderr, "macx broker: clock: %s\n", macx_error_text (&err));
        return MACX_EX_CONFIG;
    }
    macx_log_level_t level;
    if (macx_log_parse_level (cfg.log_level, &level)) {
        fprintf (stderr, "macx broker: log level '%s' is not debug, info, warn or error\n",
                 cfg.log_level);
        return MACX_EX_USAGE;
    }
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

const macx_cmd_t macx_cmd_broker = {
    .name = "broker", .fn = s_broker,
    .summary = "run the broker (CURVE, agreements, durable delivery, audit)", .opts = s_opts,
    .synopsis =
        "macx broker [--config FILE] [--bind ENDPOINT] --keys DIR --policy DIR\n"
        "                   --data DIR [--identity ID] [--map-size SIZE] [--workers N]\n"
        "                   [--batch-max N]\n"
        "                   [--checkpoint-every N] [--heartbeat-ms MS] [--no-sync]\n"
        "                   [--clock-start YYYY-MM-DD] [--max-skew DURATION] [--pace MS]\n"
        "                   [--effective AGREEMENT=YYYY-MM-DD ...] [--log-level LEVEL]",
    .description =
        "Runs the broker: a CURVE-only ROUTER socket (default tcp://127.0.0.1:7750)\n"
        "admitting only transport keys registered in --keys and not revoked; every\n"
        "record is checked (bounds, signature, sender = authenticated agency, replay,\n"
        "sequence) and judged against the agreements in --policy; accepted records\n"
        "and every decision's audit entry are committed to --data in one LMDB\n"
        "transaction per batch before the ACK. SIGTERM or SIGINT drains and writes a\n"
        "final signed checkpoint. Options override the config file's keys (bind,\n"
        "keys, policy, data, identity, map_size, workers, batch_max,\n"
        "checkpoint_every, heartbeat_ms, purge_interval_ms, log_level, sync,\n"
        "effective, clock; docs/operations.md). Logs are key=value lines on stderr.\n\n"
        "The broker owns the clock: it stamps every accepted record with its own time\n"
        "and judges the agreements (dates in force, expiry, daily caps) by it, never by\n"
        "the time a sender claims; a claim further than --max-skew from its clock\n"
        "(default 5m; units ms, s, m, h, d) is refused CLOCK_SKEW. Its clock is the\n"
        "wall clock, or with --clock-start a wall clock that reads that date (UTC\n"
        "midnight) when the broker starts, to run as of a date. A pilot's simulated\n"
        "clock is set in the config file (clock: mode: simulated, docs/operations.md);\n"
        "--pace MS then lets at most one simulated day pass per MS ms of wall time.\n"
        "--no-sync skips the fsync of each commit: a crash of the process loses\n"
        "nothing, a crash of the machine may lose the last commits.\n",
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
