/* pilot.h -- `macx pilot run`: one broker (whose simulated clock drives
 * the run) and one process per agency, started from a scenario and
 * watched until the broker ends the simulation, then the report. */
#ifndef MACX_PILOT_H
#define MACX_PILOT_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "override.h"

typedef struct {
    char scenario[1024];
    char out[1024];              /* run directory; default out/<scenario name> */
    char self_exe[1024];         /* the macx binary to start children with */
    int64_t seed;                /* -1: the scenario's */
    int subjects;                /* 0: the scenario's */
    double pace_ms;              /* wall ms per simulated day at most; 0: as fast as possible */
    bool quiet;                  /* no progress on stderr */
    macx_override_t ov;          /* --set and --policy (sim/override.h); none: the file as is */
} macx_pilot_opts_t;

/* Runs the pilot; returns 0 when it completed and the report was written,
 * or an error naming what failed (a process that died, a bad scenario). */
int macx_pilot_run (const macx_pilot_opts_t *opts, macx_error_t *err);

#endif
