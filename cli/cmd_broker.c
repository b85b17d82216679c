/* cmd_broker.c -- `macx broker`: parse options or a YAML config, run. */
#include <getopt.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "broker.h"
#include "cli.h"
#include "clock.h"
#include "log.h"

static const char s_usage[] =
    "usage: macx broker [--config FILE] [--bind ENDPOINT] --keys DIR --policy DIR --data DIR\n"
    "                   [--identity ID] [--map-size SIZE] [--workers N] [--batch-max N]\n"
    "                   [--checkpoint-every N] [--heartbeat-ms MS] [--no-sync]\n"
    "                   [--clock-start YYYY-MM-DD] [--max-skew DURATION] [--pace MS]\n"
    "                   [--effective AGREEMENT=YYYY-MM-DD ...] [--log-level LEVEL]\n\n"
    "Runs the broker: a CURVE-only ROUTER socket (default tcp://127.0.0.1:7750)\n"
    "admitting only transport keys registered in --keys and not revoked; every\n"
    "record is checked (bounds, signature, sender = authenticated agency, replay,\n"
    "sequence) and judged against the agreements in --policy; accepted records\n"
    "and every decision's audit entry are committed to --data in one LMDB\n"
    "transaction per batch before the ACK. SIGTERM or SIGINT drains and writes a\n"
    "final signed checkpoint. Options override the config file's keys (bind,\n"
    "keys, policy, data, identity, map_size, workers, batch_max,\n"
    "checkpoint_every, heartbeat_ms, purge_interval_ms, log_level, sync,\n"
    "effective, clock). Logs are key=value lines on stderr.\n\n"
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
    "Exit codes: 0 stopped cleanly, 64 usage, 65/78 bad keys, policy or config,\n"
    "74 data directory unusable.\n";

int
macx_cmd_broker (int argc, char **argv)
{
    static const struct option opts[] = {
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
        { "log-level", required_argument, NULL, 'l' }, { "help", no_argument, NULL, 'h' }, { 0 }
    };
    macx_broker_config_t cfg;
    macx_broker_config_defaults (&cfg);
    macx_error_t err = { 0 };
    /* The config file first, so that options override it. */
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs (s_usage, stdout);
            return MACX_EX_OK;
        }
        if (c == 'c' && macx_broker_config_load (optarg, &cfg, &err)) {
            fprintf (stderr, "macx broker: %s\n", macx_error_text (&err));
            return MACX_EX_CONFIG;
        }
    }
    opterr = 1;
    optind = 0;
    while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
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
            if (macx_broker_config_map_size (optarg, &cfg.map_size)) {
                fprintf (stderr, "macx broker: --map-size '%s' must be bytes or N[KMG], at least 64K\n",
                         optarg);
                return MACX_EX_USAGE;
            }
            continue;
        case 'w': cfg.workers = atoi (optarg); continue;
        case 'B': cfg.batch_max = atoi (optarg); continue;
        case 'C': cfg.checkpoint_every = atoi (optarg); continue;
        case 'H': cfg.heartbeat_ms = atoi (optarg); continue;
        case 'e':
            if (macx_broker_config_effective (&cfg, optarg, &err)) {
                fprintf (stderr, "macx broker: %s\n", macx_error_text (&err));
                return MACX_EX_USAGE;
            }
            continue;
        case 'S': {
            int32_t day;
            if (macx_date_parse (optarg, &day)) {
                fprintf (stderr, "macx broker: --clock-start '%s' is not a date YYYY-MM-DD\n", optarg);
                return MACX_EX_USAGE;
            }
            cfg.clock.start_ms = (int64_t) day * 86400000;
            continue;
        }
        case 'K':
            if (macx_broker_config_duration (optarg, &cfg.clock.max_skew_ms)) {
                fprintf (stderr, "macx broker: --max-skew '%s' must be a duration such as 300000, "
                         "500ms, 90s, 5m, 2h or 30d\n", optarg);
                return MACX_EX_USAGE;
            }
            continue;
        case 'P': {
            char *end;
            cfg.clock.pace_ms = strtod (optarg, &end);
            if (*end || end == optarg || !(cfg.clock.pace_ms >= 0)) {
                fprintf (stderr, "macx broker: --pace '%s' must be milliseconds, 0 or more\n", optarg);
                return MACX_EX_USAGE;
            }
            continue;
        }
        case 'N': cfg.sync = false; continue;
        default:
            fputs (s_usage, stderr);
            return MACX_EX_USAGE;
        }
        if (strlen (optarg) >= size) {
            fprintf (stderr, "macx broker: '%s' is too long\n", optarg);
            return MACX_EX_USAGE;
        }
        snprintf (dst, size, "%s", optarg);
    }
    if (optind != argc || !cfg.keys_dir[0] || !cfg.policy_dir[0] || !cfg.data_dir[0]) {
        fprintf (stderr, "macx broker: --keys, --policy and --data are required (or in --config)\n");
        fputs (s_usage, stderr);
        return MACX_EX_USAGE;
    }
    if (cfg.batch_max < 1 || cfg.checkpoint_every < 1 || cfg.heartbeat_ms < 100 || cfg.workers < 0) {
        fprintf (stderr, "macx broker: --batch-max and --checkpoint-every must be >= 1, "
                         "--heartbeat-ms >= 100\n");
        return MACX_EX_USAGE;
    }
    if (cfg.clock.pace_ms > 0 && !cfg.clock.simulated) {
        fprintf (stderr, "macx broker: --pace needs a simulated clock (clock: mode: simulated in "
                         "the config file)\n");
        return MACX_EX_USAGE;
    }
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
    if (macx_broker_run (&cfg, &err)) {
        fprintf (stderr, "macx broker: %s\n", macx_error_text (&err));
        return err.code == MACX_EPOLICY ? MACX_EX_CONFIG : macx_exit_code (err.code);
    }
    return MACX_EX_OK;
}
