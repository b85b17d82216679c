/* names.h -- the wire contract's spellings: phase and reason names derived
 * from the generated enum descriptors, so they can never drift from .proto.
 * Phases are spelt in lowercase in files and output ("enrichment"); reason
 * codes in capitals, as in the .proto ("NO_FLOW"). */
#ifndef MACX_NAMES_H
#define MACX_NAMES_H

#include "macx.pb-c.h"

#define MACX_PHASE_COUNT 5   /* identification .. panel, values 1..5 */

/* Returns "identification".."panel", or "unspecified" for anything else. */
const char *macx_phase_name (int phase);
/* Parses a lowercase phase name; returns 1..5, or 0 if unknown. */
int macx_phase_parse (const char *name);

/* Returns "NO_FLOW" etc., or "UNKNOWN_REASON". */
const char *macx_reason_name (int reason);
/* Parses a reason code name; returns its value, or -1 if unknown. */
int macx_reason_parse (const char *name);

#endif
