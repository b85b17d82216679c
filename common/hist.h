/* hist.h -- a fixed-size log-linear latency histogram (HdrHistogram-like,
 * ~3% relative error), no allocation after new, no I/O. Not thread-safe:
 * one per thread, merge with macx_hist_merge. */
#ifndef MACX_HIST_H
#define MACX_HIST_H

#include <stdint.h>

#define MACX_HIST_SUB 32
#define MACX_HIST_BUCKETS (64 * MACX_HIST_SUB)

typedef struct {
    uint64_t count;
    uint64_t min, max;
    double   sum;
    uint64_t buckets[MACX_HIST_BUCKETS];
} macx_hist_t;

void macx_hist_reset (macx_hist_t *h);
void macx_hist_add (macx_hist_t *h, uint64_t value);
void macx_hist_merge (macx_hist_t *into, const macx_hist_t *from);
/* Returns the value at quantile q in [0,1] (upper bound of its bucket,
 * clamped to the observed max); 0 when empty. */
uint64_t macx_hist_quantile (const macx_hist_t *h, double q);
double macx_hist_mean (const macx_hist_t *h);

#endif
