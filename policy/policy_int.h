/* policy_int.h -- the compiled form of a policy, shared by the loader, the
 * evaluator and the tools (explain, diff, test). Not installed, not public. */
#ifndef MACX_POLICY_INT_H
#define MACX_POLICY_INT_H

#include "policy.h"

#define S_NAMES_SLOTS 128   /* power of two, > 2 x the largest table */

/* Open-addressing table of borrowed names -> small index. */
typedef struct {
    const char *key[S_NAMES_SLOTS];
    int value[S_NAMES_SLOTS];
} macx_policy_names_t;

/* Field classes and transforms: closed sets. */
enum { MACX_CLASS_IDENTIFIER, MACX_CLASS_PERSONAL, MACX_CLASS_SPECIAL, MACX_CLASS_OPERATIONAL,
       MACX_CLASS_INTELLIGENCE, MACX_CLASS_COUNT };
enum { MACX_XF_NONE, MACX_XF_YEAR_ONLY, MACX_XF_POSTCODE_DISTRICT, MACX_XF_INITIALS,
       MACX_XF_REGION_ONLY, MACX_XF_REDACTED, MACX_XF_COUNT };

extern const char *const macx_policy_class_names[MACX_CLASS_COUNT];
extern const char *const macx_policy_transform_names[MACX_XF_COUNT];
extern const char *const macx_policy_status_names[4];
extern const char *const macx_policy_onward_names[3];

typedef struct {
    char *id, *kind, *region;
} macx_agency_t;

typedef struct {
    char *name;
    int cls;
    uint32_t transforms;   /* bit per MACX_XF_* the schema allows */
} macx_field_def_t;

typedef struct {
    char *id;
    int nfields;
    macx_field_def_t fields[MACX_POLICY_MAX_FIELDS];
    uint64_t class_mask[MACX_CLASS_COUNT];
    macx_policy_names_t names;
} macx_rtype_t;

typedef struct {
    char *id, *title, *file;
    int version;
    int status;
    int32_t effective, expires, review_by;
    int grace;
    uint64_t parties;
    char *regime[MACX_POLICY_MAX_AGENCIES];
    uint64_t disclose, receive;          /* parties holding a legal basis */
    char *disclose_text[MACX_POLICY_MAX_AGENCIES];
    char *receive_text[MACX_POLICY_MAX_AGENCIES];
    uint32_t purposes;
    uint8_t purpose_phases[MACX_POLICY_MAX_PURPOSES];
    int line;
} macx_agreement_t;

typedef struct {
    char *id;
    int agreement;
    uint64_t from, to;
    int type;
    uint32_t purposes;
    uint8_t phases;                      /* bit per phase 1..5 */
    uint64_t allow, xform, require;
    uint8_t xform_of[MACX_POLICY_MAX_FIELDS];
    int retention_days;
    int retention_from;                  /* 0 receipt, 1 creation */
    int on_expiry;                       /* 0 delete, 1 review, 2 anonymise */
    int onward;                          /* macx_onward_t */
    char **onward_agreements;
    size_t nonward;
    uint32_t max_per_day;
    char *file;
    int line, col;
} macx_flow_t;

typedef struct {
    char *id, *reason;
    uint64_t from, to;
    uint32_t types;
    uint64_t mask[MACX_POLICY_MAX_TYPES];   /* fields removed, per record type */
} macx_forbid_t;

struct macx_policy_t {
    /* everything the policy owns, freed on destroy */
    void **allocs;
    size_t nallocs, allocs_cap;

    int nagencies;
    macx_agency_t agencies[MACX_POLICY_MAX_AGENCIES];
    macx_policy_names_t agency_names;

    int ntypes;
    macx_rtype_t *types;                  /* [MACX_POLICY_MAX_TYPES] */
    macx_policy_names_t type_names;

    int npurposes;
    char *purposes[MACX_POLICY_MAX_PURPOSES];
    macx_policy_names_t purpose_names;

    int nagreements;
    macx_agreement_t *agreements;
    int nflows;
    macx_flow_t *flows;
    int nforbids;
    macx_forbid_t *forbids;

    /* cell (from, to, type) -> candidate flows and forbid mask */
    int *cell_start;                      /* ncells + 1 */
    int *cell_flows;
    uint64_t *cell_forbid;

    char hash[8 + 64 + 1];
};

static inline size_t
macx_policy_cell (const macx_policy_t *p, int from, int to, int type)
{
    return ((size_t) from * (size_t) p->nagencies + (size_t) to) * (size_t) p->ntypes
           + (size_t) type;
}

/* Name tables. */
void macx_policy_names_init (macx_policy_names_t *t);
int macx_policy_names_add (macx_policy_names_t *t, const char *key, int value);
int macx_policy_names_find (const macx_policy_names_t *t, const char *key);

int macx_policy_find_agreement (const macx_policy_t *p, const char *id);
int macx_policy_find_type (const macx_policy_t *p, const char *id);
int macx_policy_find_agency (const macx_policy_t *p, const char *id);
int macx_policy_find_purpose (const macx_policy_t *p, const char *id);
int macx_policy_transform_parse (const char *name);
int macx_policy_class_parse (const char *name);
/* Agencies matching a pattern ("*", "la-*" or an exact id), as a bitset. */
uint64_t macx_policy_match_agencies (const macx_policy_t *p, const char *pattern);

/* Agreement state at day: 0 in force, else the denial reason. */
int macx_policy_agreement_state (const macx_agreement_t *a, int32_t day, unsigned *warnings);

/* Builds a request whose manifest is every field of the type, as held. */
size_t macx_policy_all_fields (const macx_policy_t *p, int type, macx_policy_field_t *fields);

/* Formats "a, b, c" of the agencies in mask into buf. */
char *macx_policy_agency_list (const macx_policy_t *p, uint64_t mask, char *buf, size_t size);
char *macx_policy_phase_list (uint8_t phases, char *buf, size_t size);
/* "released", "transform:year_only", "forbidden:X1" or "not_allowed". */
char *macx_policy_disposition (const macx_policy_field_result_t *r, char *buf, size_t size);
/* Writes s as a JSON string literal. */
void macx_policy_json_str (FILE *out, const char *s);

#endif
