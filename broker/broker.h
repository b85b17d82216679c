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

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define MACX_BROKER_MAX_EFFECTIVE 32

typedef struct {
    char bind[256];              /* e.g. tcp://127.0.0.1:7750 */
    char keys_dir[1024];
    char policy_dir[1024];
    char data_dir[1024];
    char identity[40];           /* the broker's agency id in keys_dir: "broker" */
    size_t map_size;             /* LMDB map size, bytes */
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
} macx_broker_config_t;

/* Fills cfg with defaults (bind tcp://127.0.0.1:7750, identity broker,
 * map 1 GiB, workers 0, batch 512, checkpoint every 1000, heartbeat 1000 ms,
 * purge every 1000 ms). */
void macx_broker_config_defaults (macx_broker_config_t *cfg);

/* Reads a YAML config file over cfg: keys bind, keys, policy, data,
 * identity, map_size (bytes or with K/M/G suffix), workers, batch_max,
 * checkpoint_every, heartbeat_ms, purge_interval_ms, log_level, effective
 * (a mapping of agreement id to YYYY-MM-DD). Unknown keys are errors with
 * file:line:column. */
int macx_broker_config_load (const char *path, macx_broker_config_t *cfg, macx_error_t *err);

/* Parses a size in bytes, or with a K/M/G suffix (at least 64K). 0 or -1. */
int macx_broker_config_map_size (const char *text, size_t *out);

/* Parses "AGREEMENT=YYYY-MM-DD" into cfg's effective overrides. */
int macx_broker_config_effective (macx_broker_config_t *cfg, const char *text, macx_error_t *err);

/* Runs the broker until SIGTERM or SIGINT, then drains what it has read,
 * writes a final signed checkpoint and returns 0; or fails to start with
 * err set (bad keys, policy or data directory, address in use). */
int macx_broker_run (const macx_broker_config_t *cfg, macx_error_t *err);

#endif
