/* broker.h -- the broker daemon: CURVE-authenticated ROUTER socket, ZAP
 * handler over the key registry, signature checks on both cores, agreement
 * enforcement, group-committed LMDB mailboxes and audit, credit-based
 * delivery, receipts, retention purges and statistics.
 *
 * Threads (message passing only, CZMQ-style pointer handoff over inproc):
 *   io      owns the ROUTER socket; tickets each incoming frame in arrival
 *           order and hands it to a verifier; forwards replies and
 *           deliveries; never blocks on its peers' replies
 *   verify  N threads: decode, bounds, header and signature checks
 *   core    restores ticket order, judges, writes one LMDB transaction per
 *           batch (audit + mailboxes + replay state), commits, then ACKs and
 *           delivers
 *   zap     answers ZeroMQ's authentication requests from the registry */
#ifndef MACX_BROKER_H
#define MACX_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dist.h"
#include "error.h"
#include "keys.h"
#include "yamldoc.h"

#define MACX_BROKER_MAX_EFFECTIVE 32
#define MACX_BROKER_MAX_FEDERATES 32
#define MACX_BROKER_MAX_ROUTES    64
#define MACX_BROKER_DEFAULT_SKEW_MS 300000

/* A route's transit time, in simulated hours (simulated clock only). */
typedef struct {
    char from[MACX_AGENCY_ID_MAX + 1];   /* a federate, or "*" */
    char to[MACX_AGENCY_ID_MAX + 1];
    macx_dist_t hours;
} macx_broker_route_t;

/* The broker's clock: every accepted record is stamped with it and the
 * agreements are judged by it, never by a time the sender claims.
 *   wall       the wall clock; with start_ms, a wall clock that reads
 *              start_ms when the broker starts (to run "as of" a date)
 *   simulated  a pilot's clock, advanced by the broker's time management
 *              (docs/protocol.md "Simulated time"): time 0 is start_ms;
 *              the federates are the agencies it waits for; every record
 *              to a federate arrives after a transit drawn per route. */
typedef struct {
    bool simulated;
    int64_t start_ms;                    /* 0: the wall clock itself (wall only) */
    int64_t end_ms;                      /* simulated: stop there (0: when nothing is left) */
    int64_t max_skew_ms;                 /* a claim further than this from the clock is
                                            refused CLOCK_SKEW; -1: 300000 (wall), 0 (simulated) */
    double pace_ms;                      /* simulated: at most one simulated day per pace_ms of
                                            wall time (0: as fast as the federates go) */
    uint64_t seed;                       /* simulated: transit draws */
    double verdict_hours;                /* simulated: from a record's stamp to its sender
                                            learning the verdict (> 0) */
    char federates[MACX_BROKER_MAX_FEDERATES][MACX_AGENCY_ID_MAX + 1];
    int nfederates;
    macx_dist_t transit;                 /* hours, routes not listed */
    macx_broker_route_t routes[MACX_BROKER_MAX_ROUTES];
    int nroutes;
} macx_broker_clock_t;

/* What one peer may hold of the broker, and what all may: each limit is
 * per peer unless it says otherwise (docs/operations.md, "Limits"). A peer
 * over one is told why and disconnected, and the broker audits it. */
typedef struct {
    int max_peers;               /* sessions at once, all agencies (256) */
    uint32_t max_credit;         /* deliveries outstanding to one recipient (1024): a
                                    Hello's or Credit's grant is capped there, never stacked */
    size_t max_inflight_bytes;   /* bytes of deliveries outstanding to one recipient (16M) */
    int peer_queue_frames;       /* frames read from one peer, not yet verified (4096: an
                                    agent keeps at most 1024 records unanswered) */
    size_t peer_queue_bytes;     /* their bytes (16M) */
    int peer_out_frames;         /* frames waiting to be sent to one peer (4096): past
                                    it, the peer does not read, and is disconnected */
    int verify_inflight;         /* frames at the verifiers at once, all peers (0: 4 per
                                    verify thread) */
} macx_broker_limits_t;

typedef struct {
    char bind[256];              /* e.g. tcp://127.0.0.1:7750 */
    char keys_dir[1024];
    char policy_dir[1024];
    char data_dir[1024];
    char identity[40];           /* the broker's agency id in keys_dir: "broker" */
    size_t map_size;             /* LMDB map size, bytes: MACX_BROKER_MAP_MIN..MAX */
    int workers;                 /* verify threads; 0 = number of cores */
    int batch_max;               /* frames per transaction */
    int checkpoint_every;        /* audit entries between signed checkpoints */
    int heartbeat_ms;            /* ZMTP heartbeat interval (timeout = 3x) */
    int purge_interval_ms;       /* retention sweep period */
    struct {
        char agreement[64];
        int32_t day;
    } effective[MACX_BROKER_MAX_EFFECTIVE];   /* agreements' effective-from overrides */
    int neffective;
    char log_level[8];
    bool sync;                   /* fsync every commit (default); off: a crash of the
                                    process loses nothing, one of the machine may */
    macx_broker_clock_t clock;
    macx_broker_limits_t limits;
} macx_broker_config_t;

/* Fills cfg with defaults (bind tcp://127.0.0.1:7750, identity broker,
 * map 1 GiB, workers 0, batch 512, checkpoint every 1000, heartbeat 1000 ms,
 * purge every 1000 ms, sync on, the wall clock with a 5-minute skew). */
void macx_broker_config_defaults (macx_broker_config_t *cfg);

/* ---- the option table -------------------------------------------------------
 * Every broker option is declared once, in macx_broker_options (config.c):
 * the command line (--FLAG), the config file (KEY, in SECTION's mapping)
 * and `macx broker --help` all read it, so the three cannot drift apart;
 * docs/operations.md lists it. Defaults are macx_broker_config_defaults'. */
typedef struct {
    const char *key;             /* the config key, in section's mapping */
    const char *section;         /* NULL: the top level; "clock" or "limits" */
    const char *flag;            /* --FLAG; NULL: config only (the limits: --limit KEY=VALUE) */
    const char *arg;             /* the value's name in --help: DIR, N, SIZE */
    macx_yaml_type_t type;       /* MACX_YAML_BOOL: --FLAG takes no value and sets it false */
    size_t offset, size;         /* the value in macx_broker_config_t */
    long long min, max;          /* bounds, checked as it is read */
    /* MACX_YAML_NODE: reads the config's value (a mapping, a list)... */
    int (*read) (macx_yaml_reader_t *r, struct fy_node *value, void *cfg);
    /* ...and, with a flag, the command line's text. */
    int (*set) (macx_broker_config_t *cfg, const char *text, macx_error_t *err);
    const char *help;            /* one line; "(default D; MIN to MAX)" is added */
    const char *shown;           /* the default as --help shows it, when the value is a
                                    stand-in (-1: 5m wall, 0 simulated); NULL: the value */
} macx_broker_option_t;

extern const macx_broker_option_t macx_broker_options[];
extern const size_t macx_broker_noptions;

/* The option of section (NULL: top level) named key, or NULL. */
const macx_broker_option_t *macx_broker_option_find (const char *section, const char *key);

/* Sets option o in cfg from text, as given to `name` on the command line
 * ("--workers", "--limit max_credit"): 0, or MACX_EINVAL with err saying
 * "NAME must be WHY, not 'TEXT'". */
int macx_broker_option_set (macx_broker_config_t *cfg, const macx_broker_option_t *o,
                            const char *name, const char *text, macx_error_t *err);

/* Writes o's value in cfg as it would be written in the config file (sizes
 * with K/M/G/T, durations with a unit, dates YYYY-MM-DD), or o->shown;
 * "-" for an empty string or no date. */
void macx_broker_option_format (const macx_broker_config_t *cfg, const macx_broker_option_t *o,
                                char *buf, size_t size);

/* Writes o's bounds, "0 to 16", "64K to 16T", or "" when it has none. */
void macx_broker_option_bounds (const macx_broker_option_t *o, char *buf, size_t size);

/* Reads a YAML config file over cfg: the table's keys, each range-checked
 * (docs/operations.md). Unknown and duplicate keys and bad values are
 * errors with file:line:column (MACX_EFORMAT). */
int macx_broker_config_load (const char *path, macx_broker_config_t *cfg, macx_error_t *err);

/* The same, from len bytes of source (which need not be NUL-terminated);
 * path names it in messages. */
int macx_broker_config_parse (const char *path, const char *source, size_t len,
                              macx_broker_config_t *cfg, macx_error_t *err);

/* Parses a duration: milliseconds, or a number with ms, s, m, h or d. 0 or -1. */
int macx_broker_config_duration (const char *text, int64_t *out);

#define MACX_BROKER_MAP_MIN (64ULL << 10)   /* 64 KiB */
#define MACX_BROKER_MAP_MAX (16ULL << 40)   /* 16 TiB: address space a 64-bit mmap can reserve */

/* Checks the clock section as a whole (a simulated clock needs a start,
 * federates and transits that take time; routes name federates). */
int macx_broker_config_check_clock (const macx_broker_clock_t *clock, macx_error_t *err);

/* The transit of the route from -> to (most specific route first). */
const macx_dist_t *macx_broker_clock_transit (const macx_broker_clock_t *clock, const char *from,
                                              const char *to);

/* Parses "AGREEMENT=YYYY-MM-DD" into cfg's effective overrides. */
int macx_broker_config_effective (macx_broker_config_t *cfg, const char *text, macx_error_t *err);

/* Runs the broker until SIGTERM or SIGINT, then drains what it has read,
 * writes a final signed checkpoint and returns 0; or fails to start with
 * err set (bad keys, policy or data directory, address in use). */
int macx_broker_run (const macx_broker_config_t *cfg, macx_error_t *err);

#endif
