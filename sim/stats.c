/* stats.c -- means, t intervals and quantiles for sweeps and compare. */
#include "stats.h"

#include <math.h>

double
macx_stats_t975 (size_t df)
{
    static const double t[31] = { 0, 12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646,
                                  2.3060, 2.2622, 2.2281, 2.2010, 2.1788, 2.1604, 2.1448, 2.1314,
                                  2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687,
                                  2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423 };
    if (df < 1)
        df = 1;
    if (df <= 30)
        return t[df];
    double z = 1.959964, d = (double) df;
    return z + (z * z * z + z) / (4 * d) + (5 * pow (z, 5) + 16 * z * z * z + 3 * z) / (96 * d * d);
}

macx_stats_ci_t
macx_stats_ci (const double *v, size_t n)
{
    macx_stats_ci_t c = { .n = n };
    if (n == 0)
        return c;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    c.mean = sum / (double) n;
    c.lo = c.hi = c.mean;
    if (n < 2)
        return c;
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (v[i] - c.mean) * (v[i] - c.mean);
    c.sd = sqrt (ss / (double) (n - 1));
    double half = macx_stats_t975 (n - 1) * c.sd / sqrt ((double) n);
    c.lo = c.mean - half;
    c.hi = c.mean + half;
    c.interval = true;
    return c;
}

bool
macx_stats_excludes_zero (const macx_stats_ci_t *c)
{
    /* a difference of exactly zero in every pair is no change, however
     * narrow its interval; rounding noise below 1e-9 is none either */
    return c->interval && (c->lo > 1e-9 || c->hi < -1e-9);
}

double
macx_stats_rank (const double *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    double k = ceil (q * (double) n);
    size_t i = k < 1 ? 0 : (size_t) k - 1;
    return v[i < n ? i : n - 1];
}
