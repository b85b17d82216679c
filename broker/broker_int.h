/* broker_int.h -- state shared by the broker's threads (read-only after
 * start, or atomics) and the job that travels io -> verify -> core. */
#ifndef MACX_BROKER_INT_H
#define MACX_BROKER_INT_H

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

#include "audit.h"
#include "broker.h"
#include "hist.h"
#include "keys.h"
#include "macx.pb-c.h"
#include "policy.h"
#include "record.h"

#define MACX_ROUTING_ID_MAX 256

/* Most records in one chain (one ticket): a long Records frame is cut into
 * chains of this many, so one peer's turn in the round robin stays short. */
#define MACX_JOB_CHAIN_MAX 64
/* Single-record frames are chained only up to MACX_JOB_CHAIN_SINGLES records
 * and while the chain holds at most MACX_JOB_CHAIN_BYTES (a larger frame goes
 * alone): so the memory at the verifiers stays bounded as before
 * (verify_inflight chains of at most that, or one frame, each), and a chain
 * of records signed one by one (a verify each, about 50 us) holds its last
 * record back by at most 16 verifies, not 64. */
#define MACX_JOB_CHAIN_SINGLES 16
/* While other peers have frames waiting, a peer's turn is at most this
 * many records (broker.c, s_io_dispatch). */
#define MACX_JOB_CHAIN_CONTENDED 1
#define MACX_JOB_CHAIN_BYTES ((size_t) 256 << 10)

typedef enum {
    JOB_RECORD = 2,       /* values are the Frame field numbers */
    JOB_RECEIPT = 6,
    JOB_HELLO = 1,
    JOB_CREDIT = 7,
    JOB_STATS = 9,
    JOB_TIME = 12,        /* a federate's TimeRequest (simulated clock) */
    JOB_COMPLAINT = 17,   /* a recipient's manifest complaint (verified like a record) */
    JOB_RETENTION = 18,   /* a recipient's RetentionReceipt: what it did with a copy at expiry */
    JOB_MALFORMED = 100,  /* a frame that is not one of ours */
    JOB_DRAIN = 101,      /* shutdown marker, last ticket */
    JOB_GONE = 102,       /* io could not reach this routing id */
    JOB_CUT = 103,        /* io disconnected a peer over a limit (reason in rc, why in err) */
    JOB_RELOAD = 104      /* io reloaded the key registry (changes), or was asked to reload
                             (SIGHUP): core audits the changes and reloads the policy */
} macx_job_kind_t;

/* One agency whose standing changed when io reloaded the key registry. */
typedef enum { MACX_KEY_ADDED, MACX_KEY_REMOVED, MACX_KEY_REVOKED, MACX_KEY_CHANGED,
               MACX_KEY_RESTORED } macx_key_change_kind_t;
typedef struct {
    macx_key_change_kind_t kind;
    char agency[MACX_AGENCY_ID_MAX + 1];
    char reason[128];                      /* a revocation's reason */
    int sessions;                          /* open connections io closed for it */
} macx_key_change_t;

typedef struct macx_job_s {
    uint64_t ticket;
    macx_job_kind_t kind;
    uint8_t rid[MACX_ROUTING_ID_MAX];
    size_t rid_len;
    char agency[MACX_AGENCY_ID_MAX + 1];   /* ZAP User-Id */
    zmq_msg_t msg;                         /* owns the frame bytes */
    const uint8_t *body;                   /* the Frame's field body, in msg */
    size_t body_len;
    size_t qsize;                          /* io: bytes it counts in its peer's queue */
    /* The records chained after this one (a Records frame's, or single
     * frames that waited one behind another in a peer's queue): one ticket,
     * one trip through a verify thread and one to core for the chain; core
     * judges each as a job of its own. Set on the first only. */
    struct macx_job_s *next;
    size_t group;                          /* records in the chain, this one included (1 alone) */
    /* verifier results */
    uint8_t digest[MACX_ANSWER_DIGEST_BYTES];   /* RECORD, MALFORMED: the record digest its
                                                   answer and audit entry name */
    int rc;
    macx_error_t err;
    macx_record_t *record;                 /* decoded; verified when rc == 0 */
    Macx__Receipt *receipt;
    Macx__Hello *hello;
    Macx__Credit *credit;
    Macx__TimeRequest *time;
    macx_complaint_check_t *complaint;     /* JOB_COMPLAINT: what the verifier found */
    Macx__RetentionReceipt *retention;
    bool accepted;                         /* core: stored and ACKed */
    /* JOB_RELOAD: what changed in the registry, whether the policy is to be
     * reloaded too (SIGHUP, `macx broker reload`), and why the registry
     * could not be reloaded (rc != 0, err) */
    macx_key_change_t *changes;
    size_t nchanges;
    bool reload_policy;
} macx_job_t;

typedef struct {
    macx_broker_config_t cfg;
    /* The key registry: replaced whole when the key directory changes (io
     * thread), read by every thread through macx_broker_registry; a
     * replaced one is kept, unchanged, until the broker stops, so an
     * agency pointer taken from it stays valid. */
    macx_registry_t *registry;
    macx_registry_t **retired;
    size_t nretired;
    macx_root_cache_t *roots;      /* batch roots verified, shared by the verify threads */
    macx_identity_t *identity;     /* used by core only (checkpoint signing) */
    macx_policy_t *policy;         /* core thread only: core swaps it on a reload */
    void *ctx;
    void *zap_socket;
    void *stats_out;               /* core's PUSH of its counters (JSON), at most every
                                      100 ms; io answers `status` from the last one */
    volatile int stop;
    uint64_t zap_refused;          /* atomic */
    uint64_t verified;             /* atomic: jobs the verify threads have finished */
    uint64_t done;                 /* atomic: jobs core has finished (freed) */
    int64_t started_ms;
} macx_broker_t;

void *macx_broker_zap_thread (void *arg);

/* The key registry in force now. */
static inline const macx_registry_t *
macx_broker_registry (const macx_broker_t *b)
{
    return __atomic_load_n (&b->registry, __ATOMIC_ACQUIRE);
}

#endif
