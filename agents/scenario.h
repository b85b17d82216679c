/* scenario.h -- a pilot scenario (YAML): the cohort, the simulated clock,
 * the MACs and their members, each agency's service times and capacities,
 * when agreements come into force, the evidence model and the disposals.
 * Read by `macx pilot run` and by every `macx agent`, so both see the same
 * world. The file format is documented in docs/pilot.md. */
#ifndef MACX_SCENARIO_H
#define MACX_SCENARIO_H

#include <stdbool.h>
#include <stdint.h>

#include "dist.h"
#include "error.h"
#include "keys.h"

#define MACX_SCN_MAX_AGENCIES  32
#define MACX_SCN_MAX_MACS      8
#define MACX_SCN_MAX_REGIONS   16
#define MACX_SCN_MAX_MEMBERS   16
#define MACX_SCN_MAX_OVERRIDES 32
#define MACX_SCN_MAX_DISPOSALS 12
#define MACX_SCN_NAME          64
#define MACX_SCN_MAX_ROUTES    64

typedef struct {
    char id[MACX_AGENCY_ID_MAX + 1];
    char kind[16];                       /* mi5, ctp, local_authority, ogd, provider */
    char sector[24];                     /* what an OGD runs: benefits, probation, health; "" else */
    char region[MACX_SCN_NAME];          /* "national" for MI5, OGDs and a national CTP unit */
    macx_dist_t service[6];              /* by Macx__Phase (1..5), simulated days */
    int capacity[6];                     /* cases worked at once, by phase; 0 = unlimited */
    double coverage;                     /* chance it holds a record on a subject (partners) */
    double near_match;                   /* chance what it holds is a near-match */
    struct {                             /* how it resolves a near match it found (partners) */
        double probability;              /* chance it works one to a verdict; 0: never (dropped) */
        double error;                    /* chance that verdict is wrong (either way) */
    } resolve;
    /* a provider: a data provider that runs tripwires for the closed-subject watch */
    char feed[24];                       /* vehicle_hire, flight_booking, precursor_purchase */
    double rate;                         /* ordinary events per customer per year */
    double customers;                    /* share of people (subjects and others) who are customers */
} macx_scn_agency_t;

typedef struct {
    char id[MACX_SCN_NAME];
    char name[128];
    bool national;                       /* takes cases from any region without its own MAC */
    char regions[MACX_SCN_MAX_REGIONS][MACX_SCN_NAME];
    int nregions;
    char members[MACX_SCN_MAX_MEMBERS][MACX_AGENCY_ID_MAX + 1];   /* partners (not MI5, not CTP) */
    int nmembers;
    char chair[MACX_AGENCY_ID_MAX + 1];  /* the CTP unit that owns its cases and chairs its panel */
    int overflow_load;                   /* open cases at which a new case goes to the national
                                            MAC instead ("MAC in a box"); 0: never */
} macx_scn_mac_t;

typedef struct {
    char agreement[64];
    int32_t effective_day;               /* simulated day index from start (>= 0) */
    bool missing;                        /* never comes into force in this pilot */
} macx_scn_override_t;

/* How long a record takes from the broker's acceptance to its recipient,
 * in simulated hours, on one route. */
typedef struct {
    char from[MACX_AGENCY_ID_MAX + 1];   /* an agency id, or "*" */
    char to[MACX_AGENCY_ID_MAX + 1];
    macx_dist_t hours;
    int line;                            /* where it is in the file */
} macx_scn_route_t;

/* A disposal a panel may issue, in the panel's order of preference. Its
 * owner is the agency that offered it, which must be of owner_kind. */
typedef struct {
    char kind[48];                       /* e.g. safeguarding_referral */
    char owner_kind[16];                 /* who may offer and deliver it: local_authority, ogd, ctp */
    char needs[32];                      /* a holding source the profile must hold, or "" */
    double decline;                      /* chance the subject declines or does not take it up */
    int places;                          /* per owner, delivered at once; 0: no delivery stage */
    macx_dist_t days;                    /* how long one delivery lasts, simulated days */
} macx_scn_disposal_t;

/* The Level from the evidence the profile integrated: a strand of
 * concern is a source with a concerning finding that counts (an exact
 * match, or a near match its holder confirmed: partners' and CTP's own
 * police holdings alike), a closure category listed here, or this many
 * risk indicators at closure */
typedef struct {
    int level2_strands;              /* strands for Level 2 */
    int level3_strands;              /* strands for Level 3, one of them CTP's own police holdings */
    int indicators_strand;           /* indicators that make a strand; 0: never */
    char category_strand[4][8];      /* closure categories that are a strand (e.g. CAT-A) */
    int ncategory_strand;
} macx_scn_evidence_t;

typedef struct {
    char name[MACX_SCN_NAME];
    char description[256];
    char path[1024];                     /* the scenario file */
    char policy_dir[1024];               /* resolved against the file's directory */
    uint64_t seed;
    int subjects;
    int32_t start_day;                   /* days since epoch */
    int closure_window_days;             /* subjects close uniformly over this many days */
    int deadline_days;                   /* a step waiting longer than this is given up (stalled) */
    int enrichment_wait_days;            /* the profile owner waits at most this for answers */
    /* transit: the simulated time a record takes on each route (hours; the
     * minimum over routes is the lookahead of the broker's simulated clock)
     * and how long a sender waits for the broker's verdict */
    struct {
        macx_dist_t fallback;               /* routes not listed */
        macx_scn_route_t routes[MACX_SCN_MAX_ROUTES];
        int nroutes;
        double verdict_hours;
    } transit;
    /* regions and the share of subjects from each (sums to 1) */
    char regions[MACX_SCN_MAX_REGIONS][MACX_SCN_NAME];
    double region_share[MACX_SCN_MAX_REGIONS];
    int nregions;
    macx_scn_mac_t macs[MACX_SCN_MAX_MACS];
    int nmacs;
    macx_scn_agency_t agencies[MACX_SCN_MAX_AGENCIES];
    int nagencies;
    macx_scn_override_t overrides[MACX_SCN_MAX_OVERRIDES];
    int noverrides;
    macx_scn_evidence_t evidence;        /* how the profile's evidence gives the Level */
    /* the closed-subject watch (section 6): who the closure gateway puts on
     * it, how the synthetic world re-engages, and the joint triage */
    struct {
        bool on;                         /* the scenario has a 'watch' */
        char categories[4][8];           /* closure categories watched */
        int ncategories;
        int window_days;                 /* providers' feeds run this long from the start */
        double reengage;                 /* chance a watched subject re-engages (scaled by risk) */
        double unsolicited;              /* chance of unsolicited intelligence on a closed subject */
        macx_dist_t triage;              /* days the joint MI5/CTP assessment of one item takes */
        double detect;                   /* chance triage recognises a real re-engagement */
        double false_reopen;             /* chance it reopens on a benign event */
        char purpose[64];                /* purpose on every watch record */
    } watch;
    macx_scn_disposal_t disposals[MACX_SCN_MAX_DISPOSALS];
    int ndisposals;
    /* the panel: sittings per MAC on a timetable (every_days 0: it sits
     * for each case as soon as every member on its agenda has answered) */
    struct {
        int every_days;
        int agenda_limit;                /* cases a sitting takes; 0: any number */
        int notice_days;                 /* the agenda goes out at least this long before */
        double level1_intervention;      /* chance a Level 1 case takes an offered intervention */
        int max_disposals;               /* disposals in one plan */
    } panel;
    /* workflow variants */
    struct {
        bool share_during_identification;   /* live-subject sharing before closure */
        bool enrichment_in_sharing;         /* abbreviated: answers count as sharing */
        bool profile_review;                /* members review the profile before the panel */
        char purpose[64];                   /* purpose on every record */
        char live_purpose[64];              /* purpose for identification-phase shares */
    } workflow;
} macx_scenario_t;

/* A scenario directory's file: DIR stands for DIR/pilot.yaml. */
#define MACX_SCENARIO_FILE "pilot.yaml"

/* Loads and validates a scenario file (or the MACX_SCENARIO_FILE of a
 * directory; scn->path is the file read) against its policy, loaded as the
 * broker loads it: the policy directory exists and loads, every agreement
 * overridden is in it, every agency is declared in it. Errors name
 * file:line:column (the policy's own errors its own file); EFORMAT or
 * EPOLICY for bad data, ENOTFOUND for a missing file or directory. */
int macx_scenario_load (const char *path, macx_scenario_t *scn, macx_error_t *err);

/* Applies command-line overrides: seed (< 0: keep), subjects (0: keep).
 * Every process of a run applies the same ones. */
void macx_scenario_override (macx_scenario_t *scn, int64_t seed, int subjects);

/* Lookups; NULL when absent. */
const macx_scn_agency_t *macx_scenario_agency (const macx_scenario_t *scn, const char *id);
/* The first agency of a kind (in file order): the one MI5 of a pilot. */
const macx_scn_agency_t *macx_scenario_of_kind (const macx_scenario_t *scn, const char *kind);
const macx_scn_mac_t *macx_scenario_mac (const macx_scenario_t *scn, const char *id);
/* The national MAC, or NULL. */
const macx_scn_mac_t *macx_scenario_national (const macx_scenario_t *scn);
/* The MAC that takes a case from region: its regional MAC if it has one,
 * else the national MAC. NULL if none. */
const macx_scn_mac_t *macx_scenario_mac_for (const macx_scenario_t *scn, const char *region);

#endif
