/* simtime.h -- the broker's simulated clock: conservative time management
 * for a pilot's federates (the agencies time waits for). Pure: no I/O, no
 * sockets, no wall clock; core.c feeds it requests and accepted records and
 * asks it for grants. Single-threaded (the core thread).
 *
 * The model (docs/protocol.md, "Simulated time"). Each federate j is either
 * idle, having asked for time with the time of its next event (next_j), or
 * running inside a granted window [lo_j, hi_j). Its promise T_j is the
 * earliest simulated time at which it may still send anything: idle,
 * min(next_j, earliest undelivered arrival to j); running, lo_j. A record
 * from k to j arrives no sooner than L[k][j] after it was sent (the
 * minimum transit of the route: the lookahead, > 0), and a sender learns
 * the broker's verdict `verdict_ms` after sending. So the earliest time
 * anything not yet known can reach i is
 *     A_i = min over k != i of (D_k + L[k][i]),
 * where D_k = min(T_k, A_k) is the earliest k can send, counting what it
 * might be sent first (a shortest-path closure over the routes). Idle i is
 * granted bound_i = min(A_i, D_i + verdict_ms, end) when bound_i > T_i: it
 * may handle every event stamped before bound_i, and nothing it does not
 * yet have can be stamped earlier. The simulation has ended when every
 * federate is idle and every T_j is at or past the end (or has no event at
 * all). */
#ifndef MACX_SIMTIME_H
#define MACX_SIMTIME_H

#include <stdbool.h>
#include <stdint.h>

#define MACX_SIMTIME_NEVER INT64_MAX

typedef struct macx_simtime_t macx_simtime_t;

/* n federates (1..64); lookahead is n*n, row = sender, column =
 * recipient, each > 0 (the diagonal is unused); verdict_ms > 0; end_ms is
 * the time at which the simulation stops (MACX_SIMTIME_NEVER: when nothing
 * is left). Returns NULL on bad arguments or no memory. */
macx_simtime_t *macx_simtime_new (int n, const int64_t *lookahead, int64_t verdict_ms,
                                  int64_t end_ms);
void macx_simtime_destroy (macx_simtime_t **self_p);

/* Federate i has handled every event before its grant and asks for more;
 * its next event is at next_ms (MACX_SIMTIME_NEVER: none). Its first
 * request is its join: nothing is granted before every federate has
 * joined. Returns 0, or -1 when next_ms lies before its last grant (it
 * left events unhandled: a protocol violation, counted). */
int macx_simtime_request (macx_simtime_t *self, int i, int64_t next_ms);

/* A record accepted for federate i that reaches it at arrive_ms; tag is the
 * caller's (a mailbox sequence). Returns 0, or -1 when arrive_ms lies
 * before what i has been granted (a protocol violation, counted; the
 * arrival is still queued). */
int macx_simtime_arrival (macx_simtime_t *self, int i, int64_t arrive_ms, uint64_t tag);

/* Forgets every undelivered arrival of i, before they are queued again
 * from the store with restore (at start, or after i reconnects: what was
 * delivered and not receipted comes again, and is no violation). */
void macx_simtime_clear_arrivals (macx_simtime_t *self, int i);
int macx_simtime_restore (macx_simtime_t *self, int i, int64_t arrive_ms, uint64_t tag);

/* The grant idle i could have now: bound_i (above), or 0 if i is not idle,
 * not every federate has joined, or i cannot advance (bound_i <= T_i, or
 * it has nothing to do). */
int64_t macx_simtime_bound (const macx_simtime_t *self, int i);

/* The same for every federate at once (out has one slot per federate);
 * the closure is computed once. */
void macx_simtime_bounds (const macx_simtime_t *self, int64_t *out);

/* Takes i's earliest undelivered arrival if it is before until: true with
 * *tag and *arrive_ms. */
bool macx_simtime_take (macx_simtime_t *self, int i, int64_t until, uint64_t *tag,
                        int64_t *arrive_ms);

/* i's earliest undelivered arrival, or MACX_SIMTIME_NEVER. */
int64_t macx_simtime_next_arrival (const macx_simtime_t *self, int i);

/* T_i: the earliest time i may still send anything (see above). */
int64_t macx_simtime_promise (const macx_simtime_t *self, int i);

/* Grants idle i the window [lo, until), lo being its promise before its
 * due arrivals were taken: it is running until it asks again. until must
 * be above lo (see bound). */
void macx_simtime_grant (macx_simtime_t *self, int i, int64_t lo, int64_t until);

/* i's window: true with [*lo, *hi) while it runs, or after its last grant
 * when idle (*hi is its grant); false before its first grant. */
bool macx_simtime_window (const macx_simtime_t *self, int i, int64_t *lo, int64_t *hi);

bool macx_simtime_idle (const macx_simtime_t *self, int i);
bool macx_simtime_joined (const macx_simtime_t *self);
/* True once every federate is idle with nothing left before the end. */
bool macx_simtime_ended (const macx_simtime_t *self);
/* The simulated time everything before which is done: min over T_j
 * (MACX_SIMTIME_NEVER once ended with nothing left; 0 before all joined). */
int64_t macx_simtime_now (const macx_simtime_t *self);
/* The furthest time granted to anyone so far. */
int64_t macx_simtime_frontier (const macx_simtime_t *self);
/* Protocol violations seen (requests or arrivals in a federate's past). */
uint64_t macx_simtime_violations (const macx_simtime_t *self);
/* Grants issued. */
uint64_t macx_simtime_grants (const macx_simtime_t *self);
int macx_simtime_count (const macx_simtime_t *self);

#endif
