/* core.h -- the broker's judging and storage thread (see core.c). */
#ifndef MACX_CORE_H
#define MACX_CORE_H

#include "broker_int.h"

typedef struct macx_core_t macx_core_t;

/* Opens the store in cfg.data_dir (LMDB env, mailboxes, audit) and writes a
 * "start" audit entry. in: PULL socket of verified jobs (pointers); out: PUSH
 * socket of [routing id][frame] to the io thread. */
macx_core_t *macx_core_new (macx_broker_t *b, void *in, void *out, macx_error_t *err);
void macx_core_destroy (macx_core_t **self_p);

/* Runs until the drain marker; then writes the final checkpoint and sends
 * an empty [""][""] message on out. */
void macx_core_run (macx_core_t *self);

/* Violations of the simulated clock's protocol seen so far (a record
 * reaching a federate in its past, a request with an event before its
 * grant): each is logged; a broker that saw any exits non-zero. */
uint64_t macx_core_time_violations (const macx_core_t *self);

/* Marks the session with this routing id disconnected (core thread only). */
void macx_core_session_gone (macx_core_t *self, const uint8_t *rid, size_t rid_len);

#endif
