/* names.h -- the wire contract's spellings: phase and reason names derived
 * from the generated enum descriptors, so they can never drift from .proto.
 * Phases are spelt in lowercase in files and output ("enrichment"); reason
 * codes in capitals, as in the .proto ("NO_FLOW"). */
#ifndef MACX_NAMES_H
#define MACX_NAMES_H

#include <stdbool.h>

#include "macx.pb-c.h"

#define MACX_PHASE_COUNT 5   /* identification .. panel, values 1..5 */

/* Returns "identification".."panel", or "unspecified" for anything else. */
const char *macx_phase_name (int phase);
/* "an" before a phase name that starts with a vowel ("an enrichment
 * record"), else "a". */
const char *macx_phase_article (int phase);
/* Parses a lowercase phase name; returns 1..5, or 0 if unknown. */
int macx_phase_parse (const char *name);

/* Returns "NO_FLOW" etc., or "UNKNOWN_REASON". */
const char *macx_reason_name (int reason);
/* Parses a reason code name; returns its value, or -1 if unknown. */
int macx_reason_parse (const char *name);

/* True for a transient refusal: the broker judged nothing about the record
 * itself and stored nothing of it, so the same bytes sent again once the
 * cause is gone are judged afresh (docs/protocol.md "Retries"). Every other
 * reason is final: the same bytes would be refused the same way. The one
 * table (names.c) used by the broker's documentation and the agent runtime. */
bool macx_reason_transient (int reason);

#endif
