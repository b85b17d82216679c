/* judge.h -- the broker's decision on one record, as a function of what it
 * is given: judge (header, context, policy) -> verdict. No LMDB, no
 * sockets, no clock: what it needs of the broker's state it asks through
 * the context's store (the broker passes LMDB lookups, unit tests pass
 * tables), and it writes nothing. The caller acts on the verdict: an audit
 * entry and a NACK for a refusal; the audit entry, mailboxes, replay state,
 * counters and case state for an acceptance (broker/core.c).
 *
 * The checks, in order, each with its reason code (docs/protocol.md,
 * docs/policy.md "Case context"):
 *   identity       SENDER_MISMATCH       the header's sender is the authenticated peer
 *   verification   (the verifier's)      signature, batch proof, decoding
 *   standing       SENDER_REVOKED        the sender is still registered with the key it signed with
 *   replay         REPLAY                a record id never accepted before
 *   batch order    BATCH_REORDERED/MISMATCH  a batch judged in the order it was signed
 *   sequence       SEQUENCE_REGRESSION   above the sender's last, or into its own gap
 *   clock          CLOCK_SKEW            the header's time agrees with the broker's
 *   recipients     UNKNOWN_RECIPIENT/RECIPIENT_REVOKED
 *   case context   CASE_PHASE_NOT_REACHED, ORIGIN_NOT_DELIVERED
 *   agreements     the policy's reasons, recipient by recipient (all must permit),
 *                  daily caps counted by the store */
#ifndef MACX_JUDGE_H
#define MACX_JUDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "macx.pb-c.h"
#include "policy.h"
#include "record.h"

#define MACX_JUDGE_RECIPIENTS MACX_RECIPIENTS_MAX
#define MACX_JUDGE_MSG_MAX    512
#define MACX_JUDGE_KEY_MAX    200

/* What the judge asks of the broker's state. Each returns 0, or -1 when the
 * store failed (the verdict is then unusable: the caller aborts the batch).
 * Lookups see what the caller's transaction has written so far. */
typedef struct {
    void *arg;
    /* *seen and the first audit entry of a record id already accepted */
    int (*seen) (void *arg, const ProtobufCBinaryData *record_id, bool *seen,
                 uint64_t *first_audit);
    /* the sender's highest accepted sequence (0: none) */
    int (*last_sequence) (void *arg, const char *sender, uint64_t *last);
    /* *gap: the record fills the gap it left when refused transiently */
    int (*gap) (void *arg, const Macx__Header *h, bool *gap);
    /* the sender's place in its batches, moved by this record: *reason 0, or
     * BATCH_REORDERED / BATCH_MISMATCH with msg filled. May be NULL. */
    int (*batch_order) (void *arg, const Macx__Header *h, const Macx__BatchProof *p,
                        int *reason, char *msg, size_t size);
    /* the broker's time for the record: *ok with *stamp, or not with msg */
    int (*stamp) (void *arg, const Macx__Header *h, bool *ok, int64_t *stamp, char *msg,
                  size_t size);
    /* records accepted so far under a daily-cap key */
    int (*count) (void *arg, const char *key, uint64_t *count);
    /* the case's state, or *state NULL for a case never seen; the judge
     * calls case_free on what it was given before it returns */
    int (*case_get) (void *arg, const char *case_id, Macx__CaseState **state);
    void (*case_free) (void *arg, Macx__CaseState *state);
} macx_judge_store_t;

typedef struct {
    const char *peer;                  /* the agency the transport authenticated */
    int refused;                       /* the verifier's refusal (a Reason), or 0 */
    const char *refused_message;
    const macx_record_t *record;       /* decoded (and verified when refused is 0) */
    const macx_registry_t *registry;   /* today's */
    const macx_policy_t *policy;       /* today's */
    macx_judge_store_t store;
} macx_judge_context_t;

typedef struct {
    int reason;                        /* 0: accept; else the Reason to refuse with */
    char message[MACX_JUDGE_MSG_MAX];  /* one sentence (refusals) */
    const char *agreement, *flow;      /* a refusal's deciding agreement and flow, or NULL */
    int64_t stamp;                     /* the broker's time of the record; 0 before the clock check */
    uint64_t last;                     /* the sender's high-water mark it was judged against */
    bool gap;                          /* accepted into a gap, below the mark */
    uint64_t first_audit;              /* REPLAY: the entry that accepted it first */
    /* the case context used */
    uint32_t case_reached;             /* phases reached before it (bit 1 << phase) */
    int case_needed;                   /* the phase it needed reached (0: none) */
    bool case_known;
    /* accept: per recipient, the policy's result and its daily-cap counter */
    size_t nrecipients;
    macx_policy_result_t results[MACX_JUDGE_RECIPIENTS];
    char cap_key[MACX_JUDGE_RECIPIENTS][MACX_JUDGE_KEY_MAX];   /* "" when no cap */
    uint64_t cap_count[MACX_JUDGE_RECIPIENTS];                 /* before this record */
    char agreements[1024], flows[1024];                        /* comma-joined, per recipient */
} macx_verdict_t;

/* Judges the record whose header is h (NULL when it could not be decoded:
 * then ctx->refused says why). Fills *v (large: keep it off small stacks).
 * Returns 0 when v holds a verdict, -1 when the store failed. */
int macx_judge (const Macx__Header *h, const macx_judge_context_t *ctx, macx_verdict_t *v);

/* The phase a record of phase `phase` needs its case to have reached
 * (0: none, it may open a case). */
int macx_judge_phase_needed (int phase);

/* Whether state says the case reached phase. */
bool macx_judge_case_reached (const Macx__CaseState *state, int phase);

/* Whether holder holds origin's record of record_type (any type when
 * record_type is NULL or "") in state. */
bool macx_judge_case_holds (const Macx__CaseState *state, const char *holder, const char *origin,
                            const char *record_type);

/* The case context's verdict on a record of phase from sender in case_id,
 * naming origin/origin_type (NULL or "": the sender's own), given the
 * case's state (NULL: never seen): 0, or CASE_PHASE_NOT_REACHED /
 * ORIGIN_NOT_DELIVERED with msg filled. */
int macx_judge_case (const char *case_id, int phase, const char *sender, const char *origin,
                     const char *origin_type, const Macx__CaseState *state, char *msg, size_t size);

/* Reads case_id's state from the broker store in data_dir (read-only, safe
 * beside a running broker): *state (free with macx__case_state__free_unpacked)
 * or NULL for a case the broker never accepted a record of. Returns 0 or a
 * MACX_E* code with err set (no store there, cannot open it). */
int macx_cases_read (const char *data_dir, const char *case_id, Macx__CaseState **state,
                     macx_error_t *err);

#endif
