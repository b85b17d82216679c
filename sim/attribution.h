/* attribution.h -- what information flowed in a run, from its audit log
 * (read-only): per agreement the records shared, the answers sent back and
 * the refusals; per subject how many partners' answers reached the case's
 * owner. Written as RUN/attribution.json beside report.json, so that a
 * variant that is faster because information stopped flowing says so. */
#ifndef MACX_ATTRIBUTION_H
#define MACX_ATTRIBUTION_H

#include "error.h"

/* Reads run's broker audit (RUN/broker/data) and run.json, and writes
 * RUN/attribution.json:
 *   {"schema": "macx-attribution-v1",
 *    "agreements": [{"agreement", "shared", "answers", "other", "refused"}],
 *    "answers_per_subject": {"subjects", "mean", "by_partners": [n0, n1, ...]}}
 * shared counts accepted `share` records, answers accepted `enrichment`
 * records, other every other accepted record under the agreement;
 * answers_per_subject counts, per subject of the cohort, the distinct
 * partners with an accepted enrichment answer (by_partners[k]: subjects
 * with k). Returns 0 or an error naming the file. */
int macx_attribution_write (const char *run, macx_error_t *err);

#endif
