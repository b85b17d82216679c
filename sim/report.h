/* report.h -- what a pilot run found, computed after the run from its
 * directory alone: phase latencies from the broker's audit trail, outcomes,
 * levels, disposals, refusals and stalls from the agencies' outcome files,
 * queueing vs working time per agency, and the broker's own overhead. Writes
 * report.json (schema: docs/report.schema.json), phases.csv and a
 * self-contained report.html, prints the stdout summary, and compares two
 * runs. Reading the report is documented in docs/pilot.md.
 *
 * Run directory (written by `macx pilot run`):
 *   RUN/run.json                     run metadata (name, seed, start_date,
 *                                    clock_scale_ms, t0_ms, finished_ms, ...)
 *   RUN/broker/data/                 the broker's LMDB store (audit log)
 *   RUN/agents/<ID>/outcomes.jsonl   one object per line per agency
 *
 * Phase latency, per case: phase P starts at the sim_ms of the first
 * accepted record of phase P for the case and ends at the start of the next
 * phase that started (a skipped phase has no rows). The panel ends when the
 * last panel record sent by ctp for the case is delivered: that deliver's
 * broker wall time converted to simulated time with run.json's t0_ms and
 * clock_scale_ms. A phase with no end is open. Quantiles are nearest-rank
 * over the exact values (no histogram bucketing), in simulated days. */
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
    char holders[MACX_REPORT_PHASES + 1][256];  /* its recipients, ';'-separated */
    char held_by[MACX_REPORT_PHASES + 1][256];  /* who ended the phase, or who has it */
    int64_t panel_end_wall_ms;                  /* last ctp panel deliver (wall), or NONE */
    int64_t panel_end_sim_ms;                   /* that delivery in simulated time: the plan's
                                                   sim_ms + accept-to-receipt lag, or NONE */
    int level;                                  /* 1..3, 0 if never assessed */
    double score;
    char disposals[512];                        /* ';'-separated kinds */
    bool back_to_investigation;
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

typedef struct {
    uint64_t entered;                    /* cases that started the phase */
    uint64_t done;                       /* ... and ended it */
    uint64_t open;                       /* ... and are still in it */
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
} macx_report_agency_t;

typedef struct {
    /* run.json */
    char name[MACX_REPORT_ID];
    char scenario[1024];
    uint64_t seed;
    int subjects;
    char start_date[16];
    int64_t start_ms;                    /* start_date at midnight UTC, ms */
    double clock_scale_ms;
    int64_t t0_ms, finished_ms;
    char policy_hash[128];
    char exit[256];

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
    uint64_t stall_events;               /* "stalled" outcomes, including cases that went on */
    macx_report_agency_t *agencies;      /* run.json's, then any others seen */
    size_t nagencies;
    macx_report_stats_t overhead_ms;     /* accept: time_ms - created_ms */
    uint64_t audit_entries;
    int skipped_lines;                   /* outcome lines that did not parse */
} macx_report_t;

/* Reads run_dir (run.json, the broker's audit log, every agency's
 * outcomes.jsonl) and computes the report. Returns 0 and a new report the
 * caller frees with macx_report_destroy, or an error naming the file at
 * fault (ENOTFOUND if run.json or the broker store is missing). */
int macx_report_build (const char *run_dir, macx_report_t **out, macx_error_t *err);

void macx_report_destroy (macx_report_t **self_p);

/* Writes run_dir/report.json, run_dir/phases.csv and run_dir/report.html
 * (each atomically). Returns 0 or MACX_EIO naming the file. */
int macx_report_write (const macx_report_t *r, const char *run_dir, macx_error_t *err);

/* The same three documents, to any stream (the writer's building blocks). */
void macx_report_json (const macx_report_t *r, FILE *out);
void macx_report_csv (const macx_report_t *r, FILE *out);
void macx_report_html (const macx_report_t *r, FILE *out);

/* The summary table people see on stdout after a run: phases (n, p50, p90,
 * p99, max in days, open), outcomes, levels, disposals, top refusals,
 * broker overhead. */
void macx_report_print_summary (const macx_report_t *r, FILE *out);

/* Builds the reports of two run directories and prints them side by side
 * (or one JSON object when json): phase by phase p50/p90 with the change
 * and % change, end to end, outcomes, levels, refusals by reason and by
 * agreement, stalled counts, then "what changed": one sentence per
 * material difference, largest first. Returns 0 or the error of the run
 * that could not be read (its path in err). */
int macx_report_compare (const char *run_a, const char *run_b, FILE *out, bool json,
                         macx_error_t *err);

/* The same for reports already built. */
void macx_report_compare_reports (const macx_report_t *a, const macx_report_t *b, FILE *out,
                                  bool json);

#endif
