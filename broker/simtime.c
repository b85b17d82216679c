/* simtime.c -- the broker's simulated clock (see simtime.h). Owns each
 * federate's state and a min-heap of its undelivered arrivals. */
#include "simtime.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t at;
    uint64_t tag;
} s_arrival_t;

typedef struct {
    bool joined, idle;
    int64_t next;            /* idle: its next own event */
    int64_t lo, hi;          /* its last window (hi: its last grant); hi 0 before any */
    s_arrival_t *heap;       /* undelivered arrivals, min-heap by time */
    size_t n, cap;
} s_fed_t;

struct macx_simtime_t {
    int n, njoined;
    int64_t *L;              /* n*n lookahead */
    int64_t verdict, end;
    int64_t frontier;
    uint64_t violations, grants;
    s_fed_t *feds;
};

static int64_t
s_add (int64_t a, int64_t b)
{
    return a >= MACX_SIMTIME_NEVER - b ? MACX_SIMTIME_NEVER : a + b;
}

static int64_t
s_min (int64_t a, int64_t b)
{
    return a < b ? a : b;
}

macx_simtime_t *
macx_simtime_new (int n, const int64_t *lookahead, int64_t verdict_ms, int64_t end_ms)
{
    if (n < 1 || n > 64 || verdict_ms <= 0 || !lookahead)
        return NULL;
    for (int k = 0; k < n; k++)
        for (int j = 0; j < n; j++)
            if (k != j && lookahead[k * n + j] <= 0)
                return NULL;
    macx_simtime_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->n = n;
    self->verdict = verdict_ms;
    self->end = end_ms;
    self->L = malloc ((size_t) n * (size_t) n * sizeof *self->L);
    self->feds = calloc ((size_t) n, sizeof *self->feds);
    if (!self->L || !self->feds) {
        macx_simtime_destroy (&self);
        return NULL;
    }
    memcpy (self->L, lookahead, (size_t) n * (size_t) n * sizeof *self->L);
    return self;
}

void
macx_simtime_destroy (macx_simtime_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    macx_simtime_t *self = *self_p;
    for (int i = 0; self->feds && i < self->n; i++)
        free (self->feds[i].heap);
    free (self->feds);
    free (self->L);
    free (self);
    *self_p = NULL;
}

/* ---- arrivals (a binary heap per federate) --------------------------------- */

static int
s_push (s_fed_t *f, int64_t at, uint64_t tag)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 64;
        s_arrival_t *g = realloc (f->heap, cap * sizeof *g);
        if (!g)
            return -1;
        f->heap = g;
        f->cap = cap;
    }
    size_t i = f->n++;
    f->heap[i] = (s_arrival_t) { at, tag };
    while (i > 0 && f->heap[i].at < f->heap[(i - 1) / 2].at) {
        s_arrival_t t = f->heap[i];
        f->heap[i] = f->heap[(i - 1) / 2];
        f->heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
    return 0;
}

static s_arrival_t
s_pop (s_fed_t *f)
{
    s_arrival_t top = f->heap[0];
    f->heap[0] = f->heap[--f->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < f->n && f->heap[l].at < f->heap[m].at)
            m = l;
        if (r < f->n && f->heap[r].at < f->heap[m].at)
            m = r;
        if (m == i)
            break;
        s_arrival_t t = f->heap[i];
        f->heap[i] = f->heap[m];
        f->heap[m] = t;
        i = m;
    }
    return top;
}

int
macx_simtime_arrival (macx_simtime_t *self, int i, int64_t arrive_ms, uint64_t tag)
{
    s_fed_t *f = &self->feds[i];
    int rc = 0;
    if (arrive_ms < f->hi) {
        self->violations++;
        rc = -1;
    }
    if (s_push (f, arrive_ms, tag))
        return -1;
    return rc;
}

void
macx_simtime_clear_arrivals (macx_simtime_t *self, int i)
{
    self->feds[i].n = 0;
}

int
macx_simtime_restore (macx_simtime_t *self, int i, int64_t arrive_ms, uint64_t tag)
{
    return s_push (&self->feds[i], arrive_ms, tag);
}

int64_t
macx_simtime_next_arrival (const macx_simtime_t *self, int i)
{
    const s_fed_t *f = &self->feds[i];
    return f->n ? f->heap[0].at : MACX_SIMTIME_NEVER;
}

bool
macx_simtime_take (macx_simtime_t *self, int i, int64_t until, uint64_t *tag, int64_t *arrive_ms)
{
    s_fed_t *f = &self->feds[i];
    if (!f->n || f->heap[0].at >= until)
        return false;
    s_arrival_t a = s_pop (f);
    *tag = a.tag;
    *arrive_ms = a.at;
    return true;
}

/* ---- the bound --------------------------------------------------------------- */

/* T_j: the earliest time j may still send anything. */
static int64_t
s_promise (const macx_simtime_t *self, int j)
{
    const s_fed_t *f = &self->feds[j];
    if (!f->idle)
        return f->lo;
    return s_min (f->next, f->n ? f->heap[0].at : MACX_SIMTIME_NEVER);
}

/* D_k = min(T_k, A_k) for every k: Bellman-Ford from every promise over the
 * routes (n rounds at most; lookaheads are positive, so it settles). */
static void
s_earliest_sends (const macx_simtime_t *self, int64_t *D)
{
    int n = self->n;
    for (int k = 0; k < n; k++)
        D[k] = s_promise (self, k);
    for (int round = 0; round < n; round++) {
        bool changed = false;
        for (int j = 0; j < n; j++)
            for (int k = 0; k < n; k++) {
                if (k == j)
                    continue;
                int64_t via = s_add (D[k], self->L[k * n + j]);
                if (via < D[j]) {
                    D[j] = via;
                    changed = true;
                }
            }
        if (!changed)
            break;
    }
}

static int64_t
s_bound (const macx_simtime_t *self, const int64_t *D, int i)
{
    const s_fed_t *f = &self->feds[i];
    if (!f->idle || self->njoined < self->n)
        return 0;
    int64_t T = s_promise (self, i);
    if (T == MACX_SIMTIME_NEVER || T >= self->end)
        return 0;
    int64_t A = MACX_SIMTIME_NEVER;
    for (int k = 0; k < self->n; k++)
        if (k != i)
            A = s_min (A, s_add (D[k], self->L[k * self->n + i]));
    int64_t bound = s_min (s_min (A, s_add (D[i], self->verdict)), self->end);
    return bound > T ? bound : 0;
}

int64_t
macx_simtime_bound (const macx_simtime_t *self, int i)
{
    int64_t D[64];
    s_earliest_sends (self, D);
    return s_bound (self, D, i);
}

void
macx_simtime_bounds (const macx_simtime_t *self, int64_t *out)
{
    int64_t D[64];
    s_earliest_sends (self, D);
    for (int i = 0; i < self->n; i++)
        out[i] = s_bound (self, D, i);
}

/* ---- requests and grants -------------------------------------------------- */

int
macx_simtime_request (macx_simtime_t *self, int i, int64_t next_ms)
{
    s_fed_t *f = &self->feds[i];
    int rc = 0;
    if (!f->joined) {
        f->joined = true;
        self->njoined++;
    }
    if (next_ms < f->hi) {
        self->violations++;
        rc = -1;
        next_ms = f->hi;
    }
    f->idle = true;
    f->next = next_ms;
    return rc;
}

int64_t
macx_simtime_promise (const macx_simtime_t *self, int i)
{
    return s_promise (self, i);
}

void
macx_simtime_grant (macx_simtime_t *self, int i, int64_t lo, int64_t until)
{
    s_fed_t *f = &self->feds[i];
    f->lo = lo;
    f->hi = until;
    f->idle = false;
    if (until > self->frontier)
        self->frontier = until;
    self->grants++;
}

bool
macx_simtime_window (const macx_simtime_t *self, int i, int64_t *lo, int64_t *hi)
{
    const s_fed_t *f = &self->feds[i];
    if (!f->hi)
        return false;
    *lo = f->lo;
    *hi = f->hi;
    return true;
}

bool
macx_simtime_idle (const macx_simtime_t *self, int i)
{
    return self->feds[i].idle;
}

bool
macx_simtime_joined (const macx_simtime_t *self)
{
    return self->njoined == self->n;
}

int64_t
macx_simtime_now (const macx_simtime_t *self)
{
    if (self->njoined < self->n)
        return 0;
    int64_t now = MACX_SIMTIME_NEVER;
    for (int j = 0; j < self->n; j++)
        now = s_min (now, s_promise (self, j));
    return now;
}

bool
macx_simtime_ended (const macx_simtime_t *self)
{
    if (self->njoined < self->n)
        return false;
    for (int j = 0; j < self->n; j++) {
        if (!self->feds[j].idle)
            return false;
        int64_t T = s_promise (self, j);
        if (T != MACX_SIMTIME_NEVER && T < self->end)
            return false;
    }
    return true;
}

int64_t macx_simtime_frontier (const macx_simtime_t *self) { return self->frontier; }
uint64_t macx_simtime_violations (const macx_simtime_t *self) { return self->violations; }
uint64_t macx_simtime_grants (const macx_simtime_t *self) { return self->grants; }
int macx_simtime_count (const macx_simtime_t *self) { return self->n; }
