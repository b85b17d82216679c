/* hist.c -- log-linear buckets: 32 linear sub-buckets per power of two. */
#include "hist.h"

#include <string.h>

static unsigned
s_index (uint64_t v)
{
    if (v < MACX_HIST_SUB)
        return (unsigned) v;
    unsigned msb = 63u - (unsigned) __builtin_clzll (v);       /* >= 5 */
    unsigned shift = msb - 5;                                   /* log2(SUB) = 5 */
    unsigned sub = (unsigned) (v >> shift) - MACX_HIST_SUB;    /* 0..31 */
    return (shift + 1) * MACX_HIST_SUB + sub;
}

static uint64_t
s_upper (unsigned idx)
{
    if (idx < MACX_HIST_SUB)
        return idx;
    unsigned shift = idx / MACX_HIST_SUB - 1;
    uint64_t sub = idx % MACX_HIST_SUB + MACX_HIST_SUB;
    return ((sub + 1) << shift) - 1;
}

void
macx_hist_reset (macx_hist_t *h)
{
    memset (h, 0, sizeof *h);
}

void
macx_hist_add (macx_hist_t *h, uint64_t v)
{
    if (h->count == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->count++;
    h->sum += (double) v;
    h->buckets[s_index (v)]++;
}

void
macx_hist_merge (macx_hist_t *into, const macx_hist_t *from)
{
    if (from->count == 0)
        return;
    if (into->count == 0 || from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
    into->count += from->count;
    into->sum += from->sum;
    for (unsigned i = 0; i < MACX_HIST_BUCKETS; i++)
        into->buckets[i] += from->buckets[i];
}

uint64_t
macx_hist_quantile (const macx_hist_t *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q <= 0)
        return h->min;
    uint64_t rank = (uint64_t) (q * (double) h->count + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < MACX_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t u = s_upper (i);
            return u > h->max ? h->max : (u < h->min ? h->min : u);
        }
    }
    return h->max;
}

double
macx_hist_mean (const macx_hist_t *h)
{
    return h->count ? h->sum / (double) h->count : 0.0;
}
