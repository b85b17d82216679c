/* agency.h -- one agency process of a pilot (`macx agent`): MI5, CTP, a
 * local authority or a government department doing its part of the five
 * MAC phases in simulated time granted by the broker, with its own
 * synthetic database, through the real broker with real sealed records. */
#ifndef MACX_AGENCY_H
#define MACX_AGENCY_H

#include <stdint.h>

#include "error.h"

typedef struct {
    char run_dir[1024];          /* the pilot's run directory (keys/, agents/<id>/) */
    char scenario[1024];         /* scenario file */
    char agency[40];
    char broker[256];            /* broker endpoint */
    int64_t seed;                /* -1: the scenario's (as `pilot run --seed`) */
    int subjects;                /* 0: the scenario's */
} macx_agency_opts_t;

/* Runs the agency until the broker ends the simulation (or SIGTERM/SIGINT).
 * Writes its outcomes (closures, levels, disposals, refusals, stalls,
 * units of work) as JSON lines to RUN/agents/<id>/outcomes.jsonl. Returns
 * 0 on a clean stop; an error if a record reached it in its past. */
int macx_agency_run (const macx_agency_opts_t *opts, macx_error_t *err);

#endif
