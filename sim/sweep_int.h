/* sweep_int.h -- inside sim/sweep*.c: the table of figures a sweep's runs
 * give (one value per variant and seed for each key), filled from run
 * directories or read back from a sweep.json. */
#ifndef MACX_SWEEP_INT_H
#define MACX_SWEEP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "jsonl.h"

typedef struct {
    char key[192];               /* e.g. phase.enrichment.p90, mac.rmac-wm.end_to_end.p99 */
    double *v;                   /* [variant * nseeds + seed]; NAN: no value */
    bool *skipped;               /* same layout: the run skipped that phase */
} macx_sw_metric_t;

typedef struct {
    char name[64];
    char scenario[1024];
    char start_date[16];
    int subjects;
    int nv, ns;
    char variants[16][64];
    int64_t seeds[1000];
    macx_sw_metric_t *m;
    size_t n, cap;
} macx_sw_table_t;

/* Allocates the table for nv variants and ns seeds (names and seeds set by
 * the caller). */
int macx_sw_table_init (macx_sw_table_t *t, int nv, int ns);
void macx_sw_table_free (macx_sw_table_t *t);
/* The metric of key, added when missing; NULL when out of memory. */
macx_sw_metric_t *macx_sw_metric (macx_sw_table_t *t, const char *key);
const macx_sw_metric_t *macx_sw_find (const macx_sw_table_t *t, const char *key);

/* Adds what the run directory dir found to column (v, s). Also sets the
 * table's start date and subjects from the first run read. */
int macx_sw_read_run (macx_sw_table_t *t, int v, int s, const char *dir, macx_error_t *err);

/* Counts (refusals.*, agency.*, agreement.*, ended_by.*.share) a run has no entry for are zero: fills
 * them in, adding every such key of other (may be NULL) that t lacks. */
int macx_sw_zero_counts (macx_sw_table_t *t, const macx_sw_table_t *other);

/* Reads and parses the JSON file at path (at most 256 MiB) into *out;
 * errors name the file. */
int macx_sw_load_json (const char *path, macx_jv_t *out, macx_error_t *err);

/* Reads a sweep.json back into t. */
int macx_sw_read_json (macx_sw_table_t *t, const char *path, macx_error_t *err);

/* A key said for people: "enrichment p90 (days)", "MAC rmac-wm end to end p99 (days)". */
void macx_sw_label (const char *key, char *buf, size_t size);

#endif
