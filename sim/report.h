/* report.h -- what a pilot run found, computed after the run from its
 * directory alone: phase latencies from the broker's audit trail, outcomes,
 * levels, disposals, refusals and stalls from the agencies' outcome files,
 * where each phase's subjects waited or stalled, queueing vs working time
 * per agency and phase, and, set apart, how fast the run went
 * on the wall clock. Writes report.json (schema: docs/report.schema.json),
 * phases.csv and a self-contained report.html, prints the stdout summary,
 * and compares two runs. Reading the report is documented in docs/pilot.md.
 *
 * Run directory (written by `macx pilot run`):
 *   RUN/run.json                     run metadata (name, seed, start_date,
 *                                    end_date, wall_started_ms, ...)
 *   RUN/broker/data/                 the broker's LMDB store (audit log)
 *   RUN/agents/<ID>/outcomes.jsonl   one object per line per agency
 *
 * Phase latency, per case, from the broker's simulated stamps only: phase P
 * starts at the least clock_ms of the accepted records of phase P for the
 * case (ties: the lower sender id, then the lower sequence, names the
 * starter) and ends at the start of the next phase that started (a skipped
 * phase has no rows). The panel ends at the latest arrive_ms of the
 * deliveries of panel records sent by ctp for the case. A phase with no end
 * is open; a record stamped 0 (outside the simulated clock) gives no time.
 * Quantiles are nearest-rank over the exact values (no histogram
 * bucketing), in simulated days.
 *
 * Determinism: the same run directory contents give the same report, byte
 * for byte, whatever order the audit entries are in (a pilot's concurrency
 * shuffles it); every list has a complete order. The figures that depend on
 * the wall clock or on scheduling are kept apart, in fields whose JSON key
 * contains "wall". */
#ifndef MACX_REPORT_H
#define MACX_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

#define MACX_REPORT_PHASES 5             /* identification .. panel, 1..5 */
#define MACX_REPORT_NONE   INT64_MIN     /* a time that did not happen */
#define MACX_REPORT_ID     64
#define MACX_REPORT_DAY_MS 86400000.0

typedef enum {
    MACX_OUTCOME_DISPOSED,               /* the panel issued a plan (a "disposal" outcome) */
    MACX_OUTCOME_STALLED,                /* no plan, and an agency gave up ("stalled") */
    MACX_OUTCOME_OPEN                    /* no plan and nobody gave up: still in progress */
} macx_outcome_t;

/* Summary of a set of values (days or ms). Zero when n is 0. */
typedef struct {
    uint64_t n;
    double p50, p90, p99, max, min, mean;
} macx_report_stats_t;

/* Why a case waited in a phase (flags in macx_report_case_t.waited). */
#define MACX_REPORT_WAIT_WORKER    1     /* a unit of its work there queued for a free worker */
#define MACX_REPORT_WAIT_AGREEMENT 2     /* a record of it there was refused, or held for a daily cap */

/* One case (one subject) as the report sees it. Index [p] is the phase
 * (1..5); [0] is unused. */
typedef struct {
    char case_id[MACX_REPORT_ID];
    char subject[MACX_REPORT_ID];
    char region[MACX_REPORT_ID];
    char mac[MACX_REPORT_ID];
    int64_t start_ms[MACX_REPORT_PHASES + 1];   /* simulated ms, or MACX_REPORT_NONE */
    int64_t end_ms[MACX_REPORT_PHASES + 1];     /* simulated ms, or NONE (open / not started) */
    char starter[MACX_REPORT_PHASES + 1][MACX_REPORT_ID];   /* sender of the phase's first record */
    uint64_t start_seq[MACX_REPORT_PHASES + 1]; /* its sequence (breaks a tie of stamps) */
    char holders[MACX_REPORT_PHASES + 1][256];  /* its recipients, ';'-separated */
    char held_by[MACX_REPORT_PHASES + 1][256];  /* who ended the phase, or who has it */
    int64_t panel_end_ms;                       /* latest arrive_ms of a ctp panel record, or NONE */
    uint8_t waited[MACX_REPORT_PHASES + 1];     /* MACX_REPORT_WAIT_* of the phase's work and records */
    int level;                                  /* 1..3, 0 if never assessed */
    double score;
    /* attribution: how the wait for partners' answers ended (CTP's
     * "answers_closed" outcome): "last_answer" (last_answer: whose), or
     * "wait_timed_out" (waited_for: the partners it stopped waiting for) */
    char ended_how[16];
    char last_answer[MACX_REPORT_ID];
    char waited_for[256];
    int partners;                               /* partners whose answers reached the profile, -1 unknown */
    char disposals[512];                        /* ';'-separated kinds */
    bool back_to_investigation;
    bool overflow;                              /* MI5 sent it to the national MAC in overflow */
    int interventions;                          /* delivery outcomes: interventions issued */
    int64_t first_delivery_ms;                  /* earliest start of one taken up, or NONE */
    int64_t reengage_triage_ms;                 /* the watch: re-engagement to the first triage
                                                   decision after it, or NONE */
    char owner[MACX_REPORT_ID];                 /* the CTP unit that owned it (its MAC's chair) */
    macx_outcome_t outcome;
    int open_phase;                             /* the phase it is open in, 0 if none */
    /* the first "stalled" outcome, when there is one */
    char stalled_agency[MACX_REPORT_ID];
    char stalled_phase[32];
    char stalled_reason[48];
    char stalled_agreement[MACX_REPORT_ID];
    char stalled_why[256];
    int64_t stalled_sim_ms;
} macx_report_case_t;

/* Where the cases that entered a phase went, each in exactly one: an open
 * case is stalled or waiting; a done one is agreement if a record of it in
 * the phase was refused or held, else worker if its work there queued,
 * else through. So through + worker + agreement is done and stalled +
 * waiting is open (chart 2 of report.html). */
typedef struct {
    uint64_t through;                    /* done, without waiting for either */
    uint64_t worker;                     /* done, after waiting for a free worker */
    uint64_t agreement;                  /* done, after a refusal or a daily cap's hold */
    uint64_t stalled;                    /* open, and an agency gave up on the case */
    uint64_t waiting;                    /* open when the run ended, nobody gave up */
} macx_report_funnel_t;

typedef struct {
    uint64_t entered;                    /* cases that started the phase */
    uint64_t done;                       /* ... and ended it */
    uint64_t open;                       /* ... and are still in it */
    bool skipped;                        /* nobody entered it and a later phase ran */
    macx_report_funnel_t funnel;
    macx_report_stats_t days;            /* latency of the done ones */
    double p25, p75;                     /* for the box plot */
    double *values;                      /* sorted latencies (days), done of them */
} macx_report_phase_t;

/* A count keyed by a name (a reason, an agreement, a disposal kind). */
typedef struct {
    char key[MACX_REPORT_ID];
    uint64_t count;                      /* events */
    uint64_t cases;                      /* distinct cases */
} macx_report_tally_t;

/* An agency's units of work in one phase. */
typedef struct {
    uint64_t units;                      /* "work" outcomes */
    uint64_t queued;                     /* ... that waited for a free worker at all */
    double queue_days;                   /* sum of start - queued */
    double work_days;                    /* sum of end - start */
    double max_queue_days;
} macx_report_work_t;

/* What a partner's lookups matched, in records, and what matching cost: its
 * "matching" outcomes summed (the enrichment of review 7.4; docs/pilot.md "Levels from
 * evidence"). */
typedef struct {
    uint64_t lookups, year_only;         /* lookups, and those with the year of birth only */
    uint64_t exact, near;                /* records matched exactly, or near */
    uint64_t confirmed, rejected, unresolved;   /* the near matches' verdicts */
    uint64_t false_confirmed;            /* another person's record confirmed */
    uint64_t own_lost;                   /* the subject's own record rejected or unresolved */
    uint64_t minimised;                  /* ... that a full date of birth would have matched exactly */
} macx_report_matching_t;

typedef struct {
    char id[MACX_REPORT_ID];
    char kind[32];
    char region[MACX_REPORT_ID];
    uint64_t sent;                       /* records it sent that the broker accepted */
    uint64_t refused;                    /* records it sent that the broker refused */
    uint64_t received;                   /* records delivered to it */
    uint64_t units;                      /* "work" outcomes */
    double queue_days;                   /* sum of start - queued */
    double work_days;                    /* sum of end - start */
    macx_report_work_t phases[MACX_REPORT_PHASES + 1];   /* the same by phase, [1..5] */
    macx_report_matching_t matching;     /* a partner's lookups */
    char answers_under[MACX_REPORT_ID];  /* the agreement its first accepted answer came under */
} macx_report_agency_t;

/* Attribution: what one agreement carried in the run. */
typedef struct {
    char id[MACX_REPORT_ID];
    uint64_t shared, answers, other;     /* accepted share, enrichment (answer) and other records */
    uint64_t refused;                    /* records refused under it */
    uint64_t exact, near;                /* records its answering partners' lookups matched */
    bool fields_known;                   /* a sender wrote a "fields" outcome for it */
    uint64_t prepared;                   /* records its senders prepared under it */
    uint64_t fields_held, fields_sent, fields_transformed, fields_withheld;
} macx_report_agreement_t;

/* One disposal kind's delivery after the panel (review 7.10): offered a
 * place by its owner after a waiting list, then taken up or declined. */
typedef struct {
    char kind[MACX_REPORT_ID];
    uint64_t issued;                     /* interventions of the kind in issued plans */
    uint64_t delivered;                  /* ... taken up (a place, a start and an end) */
    uint64_t declined;                   /* ... declined or not taken up when a place came */
    macx_report_stats_t waiting_days;    /* plan to a place, all issued */
    double *values;                      /* waiting days, sorted */
} macx_report_delivery_t;

/* A partner missing from panels, and why (the disposal outcomes' unavailable). */
typedef struct {
    char agency[MACX_REPORT_ID];
    char why[16];                        /* NOT_REACHED (share refused) or NO_ANSWER */
    char agreement[MACX_REPORT_ID];      /* the agreement its share was refused under */
    char could_offer[256];               /* ';'-separated kinds it could have offered */
    uint64_t cases;
} macx_report_unavailable_t;

/* A MAC as run.json declares it, with the cases MI5 routed to it. */
typedef struct {
    char id[MACX_REPORT_ID];
    char chair[MACX_REPORT_ID];          /* the CTP unit that owns its cases */
    bool national;
    int overflow_load;                   /* 0: never overflows */
    uint64_t cases;                      /* cases routed to it at closure */
    uint64_t overflow_in;                /* ... of them from another MAC's region, in overflow */
    uint64_t disposed;                   /* ... that ended in a plan */
} macx_report_mac_t;

typedef struct {
    /* run.json */
    char name[MACX_REPORT_ID];
    char scenario[1024];
    uint64_t seed;
    int subjects;
    char start_date[16];
    char end_date[16];                   /* the simulated clock's limit */
    int64_t start_ms;                    /* start_date at midnight UTC, ms */
    double wall_pace_ms;                 /* wall ms per simulated day at most; 0: unpaced */
    int64_t wall_started_ms, wall_finished_ms;
    char policy_hash[128];
    char exit[256];

    /* the audit log */
    int64_t last_ms;                     /* latest accept clock_ms or deliver arrive_ms, or NONE */
    uint64_t accepted, delivered;        /* accept and deliver entries (refuse: refusals) */
    double simulated_days;               /* start_date to last_ms, days (0 if no stamp) */

    macx_report_case_t *cases;           /* in case id order */
    size_t ncases;
    macx_report_phase_t phases[MACX_REPORT_PHASES + 1];   /* [1..5] */
    macx_report_stats_t end_to_end;      /* first phase start to panel end, days */
    uint64_t outcomes[3];                /* by macx_outcome_t */
    uint64_t levels[4];                  /* [1..3]; [0]: never assessed */
    uint64_t back_to_investigation;
    macx_report_tally_t *disposals;      /* by kind, most frequent first */
    size_t ndisposals;
    macx_report_tally_t *refusal_reasons;       /* audit refuse events by reason */
    size_t nrefusal_reasons;
    macx_report_tally_t *refusal_agreements;    /* ... by agreement ("(none)" if unset) */
    size_t nrefusal_agreements;
    uint64_t refusals;                   /* refuse events in all */
    macx_report_tally_t *held_agreements;       /* "held" outcomes (a daily cap) by agreement */
    size_t nheld_agreements;
    uint64_t held;                       /* records an agency held back for a daily cap */
    uint64_t stall_events;               /* "stalled" outcomes, including cases that went on */
    macx_report_delivery_t *delivery;    /* by kind, most issued first */
    size_t ndelivery;
    macx_report_stats_t first_intervention_days;   /* first phase start to a delivery's start */
    uint64_t with_intervention;          /* cases with an intervention issued */
    uint64_t with_delivered;             /* ... and one taken up */
    macx_report_unavailable_t *unavailable;   /* partners missing from panels, most cases first */
    size_t nunavailable;
    macx_report_matching_t matching;     /* every partner's, summed */
    macx_report_agreement_t *agreements; /* by id */
    size_t nagreements;
    struct {
        uint64_t closed;                 /* cases whose wait for answers ended */
        uint64_t last_answer;            /* ... with the last partner's answer */
        uint64_t timed_out;              /* ... with the wait timing out */
        macx_report_tally_t *last_by;    /* last_answer cases by the partner that answered last */
        size_t nlast_by;
        macx_report_tally_t *waited_for; /* timed-out cases by the partner not waited for longer */
        size_t nwaited_for;
        uint64_t profiled;               /* cases with a profile (a "level" outcome) */
        uint64_t by_partners[33];        /* ... by partners whose answers reached it */
        double mean_partners;            /* NAN without a profile */
    } attribution;
    /* the closed-subject watch (review section 6) */
    struct {
        uint64_t watched;                /* subjects the closure gateway put on the watch */
        uint64_t events;                 /* events the providers' feeds saw */
        uint64_t tripwires;              /* ... that matched the watch-list: sent to MI5 */
        uint64_t false_alerts;           /* ... of them no part of a re-engagement */
        uint64_t missed;                 /* re-engagement events that matched no list entry */
        uint64_t alerts, alerts_unsolicited;   /* alerts to the triage point; of them unsolicited */
        uint64_t triaged, reopen_decisions;    /* triage decisions; of them to reopen */
        uint64_t reopened;               /* subjects MI5 reopened */
        macx_report_stats_t latency_days;   /* re-engagement to the first triage decision after it */
    } watch;
    macx_report_mac_t *macs;             /* run.json's, in its order */
    size_t nmacs;
    macx_report_agency_t *agencies;      /* run.json's, then any others seen, by id */
    size_t nagencies;
    size_t nrun_agencies;                /* how many of them run.json lists */

    /* the wall clock: how fast this machine ran the pilot, not what it found */
    double wall_seconds;                 /* wall_started_ms to wall_finished_ms */
    double wall_records_per_second;      /* accepted / wall_seconds; NAN if none measured */
    double wall_ms_per_subject;          /* wall ms / subjects; NAN with no subjects */
    macx_report_stats_t broker_wall_ms;  /* accept: time_ms - created_ms */
    uint64_t audit_entries;
    int skipped_lines;                   /* outcome lines that did not parse */
} macx_report_t;

/* Reads run_dir (run.json, the broker's audit log, every agency's
 * outcomes.jsonl) and computes the report. Returns 0 and a new report the
 * caller frees with macx_report_destroy, or an error naming the file at
 * fault (ENOTFOUND if run.json or the broker store is missing, EFORMAT if
 * run.json is malformed or was written by a wall-clock macx). */
int macx_report_build (const char *run_dir, macx_report_t **out, macx_error_t *err);

void macx_report_destroy (macx_report_t **self_p);

/* Writes run_dir/report.json, run_dir/phases.csv and run_dir/report.html
 * (each atomically). Returns 0 or MACX_EIO naming the file. */
int macx_report_write (const macx_report_t *r, const char *run_dir, macx_error_t *err);

/* The same three documents, to any stream (the writer's building blocks). */
void macx_report_json (const macx_report_t *r, FILE *out);
void macx_report_csv (const macx_report_t *r, FILE *out);
void macx_report_html (const macx_report_t *r, FILE *out);

/* Words for an identifier a scenario spells with underscores (a disposal,
 * an agency kind): "no_further_action" -> "No further action" (capital
 * first letter if `capital`). Writes buf and returns it. */
const char *macx_report_words (char *buf, size_t size, const char *id, bool capital);

/* The summary table people see on stdout after a run: phases (n, p50, p90,
 * p99, max in days, open), outcomes, levels, disposals, top refusals, and
 * last, on a line of its own, the wall-clock performance. */
void macx_report_print_summary (const macx_report_t *r, FILE *out);

/* Builds the reports of two run directories and prints them side by side
 * (or one JSON object when json): phase by phase p50/p90 with the change
 * and % change, end to end, outcomes, levels, refusals by reason and by
 * agreement, stalled counts, then "what changed": one sentence per
 * material difference, largest first. Wall-clock figures are not findings
 * and are not compared. Returns 0 or the error of the run
 * that could not be read (its path in err). */
int macx_report_compare (const char *run_a, const char *run_b, FILE *out, bool json,
                         macx_error_t *err);

/* The same for reports already built. */
void macx_report_compare_reports (const macx_report_t *a, const macx_report_t *b, FILE *out,
                                  bool json);

#endif
