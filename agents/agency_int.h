/* agency_int.h -- what an agency process's roles share: its state, the
 * subjects as it knows them, the runtime's calls (timers, work on
 * capacity, policy-prepared sends, outcome lines), and the role table.
 * A role is one agency kind's behaviour (role_mi5.c, role_ctp.c,
 * role_partner.c); agency.c picks it by the kind the scenario declares.
 * No role names a particular agency id: MI5 is the scenario's agency of
 * kind mi5, a case's CTP unit is the chair of its MAC. Internal to
 * agents/. */
#ifndef MACX_AGENCY_INT_H
#define MACX_AGENCY_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "agency.h"
#include "agent.h"
#include "held.h"
#include "policy.h"
#include "scenario.h"
#include "synth.h"

#define MACX_DAY_MS ((int64_t) 86400000)
#define MACX_AGENCY_MAX_PROPOSALS 16

typedef enum {
    MACX_T_CLOSE = 1, MACX_T_WORK, MACX_T_RETRY, MACX_T_WAIT, MACX_T_SIT,
    MACX_T_EVENT,       /* a provider's feed: an event on a customer */
    MACX_T_INTEL,       /* MI5: unsolicited intelligence on a closed subject arrives */
    MACX_T_TRIAGE,      /* CTP: the triage of one watch item is done (ctx: the item) */
    MACX_T_EXPIRY       /* a copy we hold reaches the end of its retention (ctx: the copy) */
} macx_timer_kind_t;

typedef struct {
    int64_t sim;
    macx_timer_kind_t kind;
    int subject;
    int phase;
    void *ctx;
} macx_agency_timer_t;

/* What a send is about, kept until its ACK/NACK (and for retries); every
 * live one is on the agency's list, so none is lost at the end. */
typedef struct macx_agency_send_s {
    struct macx_agency_send_s *prev, *next;
    int subject;
    char to[MACX_AGENCY_ID_MAX + 1];
    char type[24];
    int phase;
    char purpose[64];
    int64_t first_sim;          /* first attempt */
    int64_t sim;                /* this attempt */
    int attempts;
    bool held;                  /* held back by a daily cap at least once */
    /* a watch record: the subject is named by a keyed pseudonym (no case),
     * and the payload is these fields (a Generic body) */
    char alias[24];
    char fields[4][2][48];
    int nfields;
    /* onward sharing: the agency whose record this passes on, and the type
     * it was received as ("" when the record is the sender's own) */
    char origin[MACX_AGENCY_ID_MAX + 1];
    char origin_type[24];
} macx_agency_send_t;

/* A subject as one agency knows it; which fields are used depends on the
 * role. Members are bits by index in the case's MAC's member list. */
typedef struct {
    bool known;
    char id[24];                /* "S-000042", or a provider's watch pseudonym "W-..." */
    char case_id[24];
    char name[64], dob[16], address[128], postcode[12], region[64], category[8];
    char indicators[8][48];
    int nind;
    char kis_ref[24], kis_summary[200];
    const macx_scn_mac_t *mac;  /* the MAC that has the case */
    char chair[MACX_AGENCY_ID_MAX + 1];   /* its CTP unit (partners: the one that shared) */
    /* whose case file the chair received (the origin of what it shares on:
     * docs/pilot.md "Onward sharing"), "" when it prepared the case itself */
    char origin[MACX_AGENCY_ID_MAX + 1];
    char origin_type[24];
    bool work_started[6];
    bool closed;
    /* the chair */
    uint32_t reached, pending, answered, unreachable, responded;
    int last_answerer;          /* 1 + the member index of the latest answer, or 0 */
    uint32_t agenda;            /* members sent the panel agenda */
    int concerns, nholdings;
    char proposals[MACX_AGENCY_MAX_PROPOSALS][48];
    char proposers[MACX_AGENCY_MAX_PROPOSALS][MACX_AGENCY_ID_MAX + 1];
    int nproposals;
    char offers[MACX_AGENCY_MAX_PROPOSALS][48];   /* what panel members offered to deliver */
    char offerers[MACX_AGENCY_MAX_PROPOSALS][MACX_AGENCY_ID_MAX + 1];
    int noffers;
    char sources[12][32];       /* holding sources the integrated profile holds */
    int nsources;
    char concern_sources[12][32];   /* ... of them, those with a concerning finding that counts
                                       (an exact match, or a near match its holder confirmed) */
    int nconcern_sources;
    int police_concerns;        /* concerning findings in CTP's own police holdings */
    int triaged;                /* CTP: watch items on the subject triaged so far */
    char unreached_why[MACX_SCN_MAX_MEMBERS][64];   /* agreement a member's share was refused under */
    int64_t sitting;            /* the panel sitting it is booked on (timetable), or 0 */
    int level;
    double score;
    bool reviewed, profiled, decided, stalled, agenda_sent;
    int64_t share_sim;
    /* a partner */
    bool formal_share, answer_ready, answered_sent, answered_chair;
    macx_holding_t holdings[16];
    int nheld;
} macx_agency_subject_t;

typedef struct macx_agency_proc_s macx_agency_proc_t;

/* One agency kind's behaviour. Every handler is optional. */
typedef struct {
    const char *name;
    /* after the runtime is set up: MI5 loads its cohort and sets closures */
    int (*start) (macx_agency_proc_t *self, macx_error_t *err);
    /* a record whose header names no subject of ours ("S-..."): the
     * subject index the role keeps for it (a watch pseudonym), or -1 */
    int (*alias) (macx_agency_proc_t *self, const Macx__Header *h);
    /* a role's own timer (anything but work and retries) */
    void (*timer) (macx_agency_proc_t *self, const macx_agency_timer_t *t);
    /* a unit of the agency's work in phase finished at sim */
    void (*work_done) (macx_agency_proc_t *self, int subject, int phase, int64_t sim);
    /* a record reached it (at the agency's clock, sim) */
    void (*record) (macx_agency_proc_t *self, const Macx__Header *h, const Macx__Payload *p, int subject,
                    int64_t sim);
    /* the broker accepted c (c is freed after) */
    void (*accepted) (macx_agency_proc_t *self, const macx_agency_send_t *c);
    /* the broker refused c and no later day would let it through (freed after) */
    void (*given_up) (macx_agency_proc_t *self, const macx_agency_send_t *c,
                      const macx_agent_event_t *ev, int64_t now);
} macx_agency_role_t;

extern const macx_agency_role_t macx_role_mi5, macx_role_ctp, macx_role_partner, macx_role_provider;

struct macx_agency_proc_s {
    macx_agency_opts_t o;
    macx_scenario_t scn;
    const macx_scn_agency_t *me;
    const macx_scn_agency_t *mi5;   /* the scenario's agency of kind mi5 */
    const macx_agency_role_t *role;
    macx_policy_t *policy;
    macx_agent_t *agent;
    macx_synth_db_t *db;
    FILE *outcomes;
    int64_t start_ms;
    macx_agency_subject_t *subjects;   /* 1..n */
    int nsubjects;
    int *mac_open;                  /* MI5: cases open per MAC (index in scn.macs) */
    int *booked;                    /* a chair: cases booked per (MAC, sitting) */
    int nsittings;
    int64_t *places[MACX_SCN_MAX_DISPOSALS];   /* an owner: when each place of a disposal is free */
    macx_agency_send_t *sends;      /* live sends (list) */
    struct {
        int32_t day;                /* sent on this day, so far */
        uint32_t sent;
        int32_t next_day;           /* the first later day with room for what is held */
        uint32_t booked;            /* held records booked on it */
    } *caps;                        /* by flow index: the agreements' daily caps */
    int ncaps;
    int64_t *slots[6];              /* per phase: when each slot is free */
    int nslots[6];
    uint64_t sent, refused, received;
    /* per agreement, what the policy made of the fields of the records we
     * prepared under it: written at the end as "fields" outcomes */
    struct macx_agency_fields_s {
        char agreement[64];
        uint64_t records, held, released, transformed, withheld;
    } fields[32];
    int nfields;
    void *watch;                    /* a role's watch state, one allocation (role_mi5.c, role_provider.c) */
    macx_held_t *held;              /* the records that reached us, under their retention */
};

/* The simulated clock (ms since the epoch). */
int64_t macx_agency_now (const macx_agency_proc_t *self);
/* Sets a timer of kind for subject and phase at sim; ctx is returned with it. */
void macx_agency_timer (macx_agency_proc_t *self, int64_t sim, macx_timer_kind_t kind, int subject,
                        int phase, void *ctx);
/* Schedules a unit of work in phase (once per subject and phase): it starts
 * when ready and a slot of the agency's capacity is free, lasts a drawn
 * service time, and ends in the role's work_done. */
void macx_agency_work (macx_agency_proc_t *self, int subject, int phase, int64_t ready);
/* Prepares (policy), seals and sends one record about subject. */
void macx_agency_send (macx_agency_proc_t *self, int subject, const char *to, const char *type,
                       int phase, const char *purpose, int64_t sim);
/* Sends a watch record (a Generic body of nfields name/value pairs) about
 * subject; alias, when not NULL, names the subject in the header (subject
 * and case) instead of our pseudonym and case. */
void macx_agency_send_fields (macx_agency_proc_t *self, int subject, const char *alias, const char *to,
                              const char *type, const char *const (*fields)[2], int nfields, int64_t sim);
/* The value of a Generic body's field, or "" (p may be NULL). */
const char *macx_agency_field (const Macx__Payload *p, const char *name);
/* A case that cannot go on (once per subject, never after a decision). */
void macx_agency_stall (macx_agency_proc_t *self, int subject, int phase, const char *reason,
                        const char *agreement, const char *why, int64_t sim);
/* An outcome line: begin writes subject, case, event, agency, sim_ms; the
 * caller adds ",\"key\":value" pairs; end closes and flushes it. */
void macx_agency_outcome_begin (macx_agency_proc_t *self, const macx_agency_subject_t *s,
                                const char *event, int64_t sim);
void macx_agency_outcome_end (macx_agency_proc_t *self);
/* MI5 or the chair shares the case with every member of its MAC. */
void macx_agency_share_with_members (macx_agency_proc_t *self, int subject, int64_t sim);
/* The subject index of a pseudonym "S-000042" (1..n), or -1. */
int macx_agency_subject_index (const macx_agency_proc_t *self, const char *id);
/* An owner delivers the disposals of an issued plan it owns (delivery
 * outcomes: a place of the scenario's, a waiting list, declined or taken up). */
void macx_agency_deliver (macx_agency_proc_t *self, int subject, const Macx__PanelPlan *plan,
                          int64_t sim);
/* The index of agency in the case's MAC's members, or -1. */
int macx_agency_member (const macx_agency_subject_t *s, const char *agency);
/* The kind of agency id ("" if unknown). */
const char *macx_agency_kind_of (const macx_agency_proc_t *self, const char *id);
/* A deterministic draw in [0,1) from (seed, stream, k). */
double macx_agency_draw (const macx_agency_proc_t *self, const char *stream, uint64_t k);
void macx_agency_copy (char *dst, size_t size, const char *src);

#endif
