/* sweep.h -- `macx pilot sweep`: many pilots over seeds and variants of one
 * scenario, run in parallel on this machine or as a Slurm job array, and
 * summarised with 95 % intervals across seeds and paired effects against
 * the base variant (sweep.json, sweep.csv, sweep.html). The file formats
 * are documented in docs/experiments.md and docs/sweep.schema.json. */
#ifndef MACX_SWEEP_H
#define MACX_SWEEP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "override.h"

#define MACX_SWEEP_MAX_VARIANTS 16
#define MACX_SWEEP_MAX_SEEDS    1000

typedef struct {
    char name[64];
    char sets[MACX_OVERRIDE_MAX][512];   /* PATH=VALUE */
    char policy[1024];                   /* resolved against the sweep file; "" none */
    macx_override_t ov;                  /* points into sets and policy */
} macx_sweep_variant_t;

typedef struct {
    char name[64];
    char path[1024];                     /* the sweep file */
    char scenario[1024];                 /* absolute */
    char scenario_given[1024];           /* as the sweep file says, for the outputs */
    int subjects;                        /* 0: the scenario's */
    int64_t seeds[MACX_SWEEP_MAX_SEEDS];
    int nseeds;
    macx_sweep_variant_t variants[MACX_SWEEP_MAX_VARIANTS];
    int nvariants;                       /* variants[0] is the base */
} macx_sweep_t;

typedef struct {
    char out[1024];                      /* output directory */
    char self_exe[1024];                 /* the macx binary every run starts */
    int jobs;                            /* local: runs at a time; 0: the cores */
    bool slurm;                          /* --executor slurm */
    char sbatch_args[1024];              /* extra sbatch arguments (split on spaces) */
    bool quiet;
} macx_sweep_opts_t;

/* Reads and checks a sweep file (strict, errors file:line:column, EFORMAT),
 * and each variant's scenario with its overrides as `pilot run` would
 * (an error names the variant). */
int macx_sweep_load (const char *path, macx_sweep_t *sw, macx_error_t *err);

/* Runs every (variant, seed) not already complete in opts->out/runs, then
 * writes sweep.json, sweep.csv and sweep.html. Progress on stderr. A run
 * that fails fails the sweep (its log is named). */
int macx_sweep_run (const macx_sweep_t *sw, const macx_sweep_opts_t *opts, macx_error_t *err);

/* Rebuilds sweep.json, sweep.csv and sweep.html from dir's runs. */
int macx_sweep_gather (const macx_sweep_t *sw, const char *dir, macx_error_t *err);

/* `pilot compare` of two sweep directories: per variant in both (or the
 * base variants; or a's variant va with b's vb when they are not NULL),
 * each figure paired over the seeds both ran; a change only when its
 * paired interval excludes zero. Writes text, or JSON. */
int macx_sweep_compare (const char *a, const char *b, const char *va, const char *vb, FILE *out,
                        bool json, macx_error_t *err);

/* The same figures for two run directories (text): p50/p90/p99/max per
 * phase and end to end, by MAC, region and the agency that ended the phase, skipped
 * phases as skipped, warnings on differing cohorts, seeds or start dates,
 * and no verdict: one run each gives no interval. */
int macx_sweep_compare_runs (const char *a, const char *b, FILE *out, macx_error_t *err);

/* True when dir holds a sweep.json. */
bool macx_sweep_is_sweep (const char *dir);

#endif
