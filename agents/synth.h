/* synth.h -- the synthetic world of a pilot: MI5's cohort of closed subjects
 * and every partner's own records (police indexes, housing, social care,
 * education, community safety, benefits, employment, probation, health
 * contact), generated from the scenario seed into one LMDB env per agency.
 * Generated names and places only: nothing models a real person, place or
 * case. The generator is documented in docs/synthetic-data.md. */
#ifndef MACX_SYNTH_H
#define MACX_SYNTH_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "macx.pb-c.h"
#include "scenario.h"

#define MACX_SYNTH_MAX_INDICATORS 8
#define MACX_SYNTH_MAX_HOLDINGS   8     /* per record a partner holds */

/* A closed subject of interest, as MI5 holds it. */
typedef struct {
    char id[16];              /* pseudonym "S-000042" (index 42, from 1) */
    char case_id[24];         /* "C-2026-000042" (year of the start day) */
    char name[64];            /* generated given + family name, never empty */
    char dob[11];             /* YYYY-MM-DD, aged 18-60 at the start day */
    char address[128];        /* "12 Larkspur Row, Ashmere, west-midlands": region last */
    char postcode[10];        /* "QX7 4LP": made-up area letters, never a real UK area */
    char region[64];          /* one of scn->regions, drawn by scn->region_share */
    char closure_category[8]; /* "CAT-A" (highest risk at closure), "CAT-B", "CAT-C" */
    int closure_day;          /* day index from start, in [0, scn->closure_window_days) */
    char indicators[MACX_SYNTH_MAX_INDICATORS][48];   /* e.g. "grievance", "isolation" */
    int nindicators;          /* 1..8, more with higher latent risk */
    char kis_ref[24];         /* "KIS-4F2A9C" */
    char kis_summary[200];    /* a bland generated sentence */
    double latent_risk;       /* hidden truth in [0,1]; drives indicators, category and
                                 how often partners' holdings raise concern */
} macx_subject_t;

/* One finding a partner returns from a lookup. */
typedef struct {
    char source[32];          /* housing, social_care, education, community_safety, benefits,
                                 employment, probation, health_contact, police_index,
                                 local_crime, prior_intervention */
    char match[12];           /* "exact" or "near"; a partner sets "confirmed" on a near match it resolved */
    char detail[200];         /* a generated sentence */
    bool concern;             /* raises concern (a strand of evidence for the Level) */
    /* what the lookup knew of the record, never sent: the synthetic truth
     * (whose record it is) draws how a partner's resolution of a near
     * match turns out, and lets the report measure what matching cost */
    int record;               /* the matching record's ordinal in this lookup (0..): holdings
                                 of one record share it */
    int subject;              /* the cohort index the record is really of; 0: not a subject */
    char dob[11];             /* the record's date of birth as filed */
    bool same_name;           /* its name is the one searched (a full date would make it exact) */
} macx_holding_t;

/* Generates every agency of scn into dir/<agency id>/data, one LMDB env each
 * (directories created 0700 as needed; an existing env is overwritten):
 * - mi5: the cohort of scn->subjects subjects;
 * - ctp: police_index, local_crime, prior_intervention on some subjects;
 * - local_authority: housing, social_care, education, community_safety on
 *   subjects of its own region only;
 * - ogd by its declared sector: benefits (benefits, employment),
 *   probation (probation), health (health_contact); OGDs cover every region.
 * A partner holds a record on a subject with probability agency->coverage
 * (a little more for higher latent risk; CTP, which has no coverage in the
 * scenario, uses its configured value too), a fraction agency->near_match of
 * them near-matches (same name with another dob, or a one-letter-different
 * name with the same dob), plus records on generated non-subjects (noise).
 * Deterministic: the same scenario and seed give the same data whatever the
 * order of agencies. Returns 0, or a MACX_E* code with err naming the path. */
int macx_synth_generate (const macx_scenario_t *scn, const char *dir, macx_error_t *err);

/* The cohort as a pure function of (scn, index), index from 1; what
 * macx_synth_generate stores for MI5. For tests and tools. */
void macx_synth_subject (const macx_scenario_t *scn, int index, macx_subject_t *out);

/* One agency's generated database, read-only. */
typedef struct macx_synth_db_t macx_synth_db_t;

/* Opens dir/<agency>/data read-only. Returns a new handle (destroy with
 * macx_synth_close) or NULL with err (not NULL) set, naming the path. The
 * handle is for one thread at a time. */
macx_synth_db_t *macx_synth_open (const char *dir, const char *agency, macx_error_t *err);
/* Closes and NULLs *self_p; safe on NULL and twice. */
void macx_synth_close (macx_synth_db_t **self_p);

/* MI5 only: the cohort, sorted by closure_day then id. *out is malloc'd and
 * owned by the caller (free it; NULL when *n is 0). MACX_ENOTFOUND if this
 * database holds no cohort. */
int macx_synth_subjects (macx_synth_db_t *db, macx_subject_t **out, size_t *n, macx_error_t *err);

/* A partner searching its own systems with what it was sent. name is a full
 * name ("Ada Quill") or initials ("A.Q."); dob a full date ("1990-04-12"),
 * a year ("1990") or empty; region empty or a region name (records of other
 * regions are then skipped). Fills out[0..*n) (at most max) with every
 * holding of every matching record, each marked "exact" (full name and full
 * dob both equal) or "near" (same name with another or partial dob; a name
 * one letter away with the same dob; or initials with the same dob or year).
 * Initials or a year alone never give "exact"; initials with no dob find
 * nothing. Returns 0 (found nothing: *n == 0), or MACX_ESTORE/MACX_EINVAL. */
int macx_synth_lookup (macx_synth_db_t *db, const char *name, const char *dob, const char *region,
                       macx_holding_t *out, size_t max, size_t *n);

/* The interventions a partner would propose from its holdings: one per
 * kind, from concerning holdings of its own sources only (by its kind and
 * sector), e.g. housing -> housing_support, social_care ->
 * safeguarding_referral, health_contact -> mental_health_support,
 * benefits/employment -> employment_support. Fills out[0..k) (k returned,
 * at most max); their kind, provider (agency->id) and rationale point into
 * storage[i][0..2], which the caller owns and must keep while out is used.
 * Pure: no I/O. */
size_t macx_synth_interventions (const macx_scn_agency_t *agency, const macx_holding_t *holdings,
                                 size_t n, Macx__Intervention *out, char storage[][3][200],
                                 size_t max);

/* The intervention kinds an agency could ever propose, from the sources
 * its kind and sector hold (static strings). Returns how many (<= max). */
size_t macx_synth_offers (const macx_scn_agency_t *agency, const char **out, size_t max);

/* Whether an agency of kind may declare sector (benefits, probation and
 * health for an ogd), and the list in words for error messages. */
bool macx_synth_sector_known (const char *kind, const char *sector);
const char *macx_synth_sectors (void);

#endif
