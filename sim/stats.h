/* stats.h -- the arithmetic of experiments: a sample's mean and its 95 %
 * confidence interval by Student's t, and nearest-rank quantiles. Pure: no
 * I/O, no allocation. */
#ifndef MACX_STATS_H
#define MACX_STATS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    size_t n;
    double mean, sd;             /* sd: sample standard deviation (n - 1); 0 when n < 2 */
    double lo, hi;               /* 95 % interval for the mean; lo = hi = mean when n < 2 */
    bool interval;               /* n >= 2: lo and hi are an interval */
} macx_stats_ci_t;

/* The two-sided 97.5 % quantile of Student's t with df degrees of freedom
 * (exact table to 30, then a Cornish-Fisher expansion; df >= 1). */
double macx_stats_t975 (size_t df);

/* Mean, sd and t interval of v[0..n). */
macx_stats_ci_t macx_stats_ci (const double *v, size_t n);

/* True when the interval is one and excludes zero: a change, not noise. */
bool macx_stats_excludes_zero (const macx_stats_ci_t *c);

/* Nearest-rank quantile q of v[0..n), which must be sorted; 0 when n is 0
 * (the report's rule: the value at rank ceil(q n)). */
double macx_stats_rank (const double *v, size_t n, double q);

#endif
