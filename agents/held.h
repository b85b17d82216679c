/* held.h -- the records an agency holds as it received them, each with the
 * terms the broker stated for its copy, and what happens to a copy when its
 * retention ends (docs/protocol.md "Retention at the recipient"):
 *   delete     the copy is erased (its bytes zeroed, then freed);
 *   anonymise  only the fields the policy's schema classes `operational`
 *              are kept, and the copy no longer names its subject or case;
 *   review     the copy is kept and flagged: a review task for the agency.
 * Pure: no I/O, no clock, no sockets (the caller receipts what was done to
 * the broker with macx_agent_retention). Owns the copies. Internal to agents/;
 * single-threaded. */
#ifndef MACX_HELD_H
#define MACX_HELD_H

#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "error.h"
#include "policy.h"
#include "record.h"

typedef enum {
    MACX_HELD_KEPT = 0,          /* as received */
    MACX_HELD_ANONYMISED,        /* operational fields only, no subject or case */
    MACX_HELD_REVIEW             /* kept, under review */
} macx_held_state_t;

/* One copy. Read-only to the caller; valid until it is deleted or the
 * store destroyed. */
typedef struct macx_held_copy_s {
    uint8_t record_id[MACX_RECORD_ID_BYTES];
    char sender[MACX_AGENCY_ID_MAX + 1];
    uint64_t sequence;           /* the sender's */
    char subject[64], case_id[64], record_type[64];
    macx_agent_terms_t terms;
    int64_t received_ms;
    macx_held_state_t state;
    uint8_t *payload;            /* the serialised Payload as held */
    size_t len;
    struct macx_held_copy_s *prev, *next;
} macx_held_copy_t;

typedef struct macx_held_t macx_held_t;

/* A new, empty store; policy (borrowed, must outlive the store) gives the
 * field classes anonymising keeps by. NULL when out of memory. */
macx_held_t *macx_held_new (const macx_policy_t *policy);
/* Erases every copy still held and the store; *self_p = NULL. Safe twice. */
void macx_held_destroy (macx_held_t **self_p);

/* Keeps a copy of the record h and p (an opened record's header and
 * payload: both are copied) under terms, received at received_ms. Returns
 * the copy, owned by the store, or NULL with err. */
macx_held_copy_t *macx_held_add (macx_held_t *self, const Macx__Header *h, const Macx__Payload *p,
                                 const macx_agent_terms_t *terms, int64_t received_ms,
                                 macx_error_t *err);

/* Applies the copy's on_expiry and sets *action to what was done, as a
 * retention receipt says it: "deleted" (c is freed: do not use it after),
 * "anonymised" or "review". A copy whose terms state no retention is left
 * as it is: MACX_EINVAL. On any error the copy is as it was. */
int macx_held_expire (macx_held_t *self, macx_held_copy_t *c, const char **action,
                      macx_error_t *err);

/* The payload of a copy as it is held now; a new one the caller frees with
 * macx__payload__free_unpacked, or NULL (out of memory). */
Macx__Payload *macx_held_payload (const macx_held_copy_t *c);

typedef struct {
    size_t held;                 /* copies in the store (any state) */
    size_t anonymised, review;   /* ... of them */
    size_t deleted;              /* copies erased so far */
} macx_held_counts_t;

void macx_held_counts (const macx_held_t *self, macx_held_counts_t *out);

#endif
