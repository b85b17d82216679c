/* core.c -- the broker's judging and storage thread: restores arrival order,
 * judges each record (sender, replay, sequence, the broker's clock,
 * recipients, agreements), writes a whole batch in ONE LMDB transaction
 * (audit entries, mailbox entries, replay state, counters), commits, then
 * ACKs/NACKs and delivers from mailboxes within each recipient's credit.
 * Owns the LMDB env and the broker's clock: the wall clock, or a pilot's
 * simulated clock (simtime.c), whose grants it sends after each batch, and
 * the sequence gaps that let a record refused transiently be resent after
 * later ones were accepted (docs/protocol.md "Retries"). */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker_int.h"
#include "frame.h"
#include "clock.h"
#include "core.h"
#include "file.h"
#include "json.h"
#include "log.h"
#include "names.h"
#include "judge.h"
#include "simtime.h"

#define S_RING        65536          /* reorder window, tickets */
#define S_SESSIONS    256
#define S_RECIPIENTS  MACX_RECIPIENTS_MAX
#define S_DAY_MS      ((int64_t) 86400000)
#define S_NEVER       MACX_SIMTIME_NEVER
#define S_GAPS        65536          /* gaps waiting in memory for a commit, at most */
#define S_GAP_KEEP_MS (7 * S_DAY_MS) /* a gap not filled by then is forgotten */

/* Where a sender is in its batches (docs/protocol.md "Batch signatures"):
 * the batch in progress and the last record judged of it, and the roots of
 * the batches before it. In memory: a restart forgets it, and the sequence
 * check still holds. */
#define S_ROOTS_KEPT 16
typedef struct {
    bool in_batch;
    uint8_t root[MACX_BATCH_HASH_BYTES];
    uint32_t index;
    uint8_t ended[S_ROOTS_KEPT][MACX_BATCH_HASH_BYTES];
    int nended, next_ended;
} s_batch_order_t;

typedef struct {
    char agency[MACX_AGENCY_ID_MAX + 1];
    uint8_t rid[MACX_ROUTING_ID_MAX];
    size_t rid_len;
    bool connected;
    uint32_t window;                 /* credit: deliveries outstanding at most (capped) */
    uint32_t inflight;
    uint64_t inflight_bytes;         /* their stored size: at most limits.max_inflight_bytes */
    uint64_t cursor;                 /* next mailbox seq to consider */
    uint64_t resent_below;           /* seqs below this were sent in an earlier session */
    uint64_t depth;                  /* entries in the mailbox */
    bool dirty;                      /* may have something to deliver */
    int fed;                         /* its federate index (simulated clock), or -1 */
    s_batch_order_t order, order_committed;   /* as a sender of batch-signed records */
    bool order_moved;                /* order changed in the transaction under way */
} s_session_t;

/* A federate's time request, applied once every record it sent before it
 * has been judged (its sequence says which). */
typedef struct {
    bool held;
    int64_t next_ms;
    uint64_t sequence;
    uint64_t judged;                 /* the last sequence judged from it */
    bool told_end;
} s_fedreq_t;

/* A NACK waiting for its flush, where it is signed with the answers
 * around it (docs/protocol.md "Signed answers"). */
typedef struct {
    char agency[MACX_AGENCY_ID_MAX + 1];   /* whom it answers */
    uint8_t record_id[MACX_RECORD_ID_BYTES];
    size_t record_id_len;
    uint8_t digest[MACX_ANSWER_DIGEST_BYTES];
    uint64_t sequence, audit_seq;
    int reason;
    int64_t clock_ms, at_ms;
    char *message, *agreement, *flow;      /* malloc'd */
} s_nack_t;

typedef struct {
    uint8_t rid[MACX_ROUTING_ID_MAX];
    size_t rid_len;
    uint8_t *frame;                  /* packed Frame, malloc'd; NULL for a NACK until its flush */
    size_t len;
    s_nack_t *nack;                  /* a NACK, packed when it is signed; else NULL */
} s_reply_t;

/* A sequence the broker refused transiently and will still accept below the
 * sender's high-water mark: only for the record it refused (its id), once. */
typedef struct {
    char sender[MACX_AGENCY_ID_MAX + 1];
    uint64_t sequence;
    uint8_t record_id[MACX_RECORD_ID_BYTES];
    int64_t refused_ms;              /* wall clock, for S_GAP_KEEP_MS */
} s_gap_t;

struct macx_core_t {
    macx_broker_t *b;
    MDB_env *env;
    MDB_dbi mailbox, seen, senders, counters, meta, gaps, cases;
    MDB_dbi held;                    /* copies delivered under retention (s_held_put) */
    macx_audit_t *audit;
    void *in;                        /* PULL: jobs from verifiers */
    void *out;                       /* PUSH: [rid][frame] to io */
    macx_job_t *ring[S_RING];
    uint64_t next_ticket;
    s_session_t sessions[S_SESSIONS];
    int nsessions;
    uint64_t next_mseq;
    s_reply_t *replies;
    size_t nreplies, capreplies;
    struct s_delivers *delivers;     /* deliveries being gathered into one frame */
    /* ACKs of the batch, sent after commit one frame per sender */
    struct {
        uint8_t rid[MACX_ROUTING_ID_MAX];
        size_t rid_len;
        uint8_t record_id[MACX_RECORD_ID_BYTES];
        uint64_t sequence, audit_seq;
        int64_t clock_ms, at_ms;
        char agency[MACX_AGENCY_ID_MAX + 1];
        uint8_t digest[MACX_ANSWER_DIGEST_BYTES];
    } *acks;
    size_t nacks, capacks;
    /* Signed answers (docs/protocol.md "Signed answers"): one tree and one
     * signature per flush (per MACX_BATCH_MAX answers), and the room its
     * frames are built in, kept from one flush to the next. */
    macx_answer_signer_t *signer;
    struct {
        uint8_t (*leaf)[64];
        Macx__Ack *ack;
        Macx__Ack **ptr;
        Macx__BatchProof *proof;
        ProtobufCBinaryData (*path)[MACX_BATCH_PATH_MAX];
        bool *sent;
        size_t cap;
    } ab;
    uint64_t answers_signed, answer_signatures, answers_unsigned;
    /* Durability (docs/operations.md "Commits"): the store is opened with
     * MDB_NOMETASYNC, so a commit syncs its data and writes its meta page
     * unsynced (meta_pending); that page reaches the disk with the next
     * commit's sync, or with mdb_env_sync. Until then the transaction's
     * answers are held: the first held_acks ACKs and held_replies replies,
     * and deliveries at or above durable_mseq. */
    bool defer_sync;
    bool meta_pending;               /* the last commit's meta page is not synced */
    size_t held_acks, held_replies;
    uint64_t durable_mseq;           /* mailbox entries below this are on disk */
    uint64_t syncs_deferred, syncs_forced;
    /* the clock */
    macx_simtime_t *sim;             /* the simulated clock, or NULL (wall) */
    int64_t skew_ms, verdict_ms;
    int64_t *lookahead;              /* federates x federates, ms */
    s_fedreq_t fedreq[MACX_BROKER_MAX_FEDERATES];
    int64_t pace_t0_ms;              /* wall ms when every federate had joined */
    bool ended;
    /* arrivals of this batch, queued in the clock once it commits */
    struct { int fed; int64_t at; uint64_t mseq; } *arrivals;
    size_t narrivals, caparrivals;
    /* gaps of aborted batches, written by the next transaction that commits */
    s_gap_t *newgaps;
    size_t nnewgaps;
    bool gaps_stored;                /* the gaps table may hold some: look there */
    int64_t last_checkpoint_ms;
    int64_t last_purge_ms;
    /* statistics */
    uint64_t accepted, refused, delivered, redelivered, receipts, purged, batches, store_errors;
    uint64_t disconnected;           /* peers io cut off for a limit */
    uint64_t gaps_filled;
    uint64_t retention_receipts, retention_refused;
    uint64_t refused_by[64];
    macx_hist_t batch_size, commit_us;
    macx_hist_t sync_us;             /* in mdb_txn_commit or mdb_env_sync: the disk's part */
    uint64_t delivery_frames;        /* frames that carried deliveries (Deliver or Delivers) */
    /* Reloads (docs/operations.md "Reloading keys and policy"). A policy
     * reloaded in the transaction under way judges what follows it there;
     * the one it replaced comes back if that transaction aborts. Registry
     * changes io made are in force whatever core does: their audit entries,
     * should their transaction abort, are written by the next one. */
    macx_policy_t *policy_before;
    macx_key_change_t *unaudited;
    size_t nunaudited;
    char *reload_answer;             /* JSON for DATA/reload.json, written after the commit */
    uint64_t reloads, reloads_refused;
};

/* ---- keys and values ------------------------------------------------------ */

static void
s_be64 (uint64_t v, uint8_t out[8])
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t) v;
}

static uint64_t
s_get_be64 (const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* Mailbox key: agency id, NUL, mailbox seq big-endian (FIFO per agency).
 * A gap's key has the same layout: sender, NUL, sequence. */
static size_t
s_mailbox_key (const char *agency, uint64_t mseq, uint8_t *out)
{
    size_t n = strlen (agency);
    memcpy (out, agency, n + 1);
    s_be64 (mseq, out + n + 1);
    return n + 9;
}

static int
s_meta_get_u64 (MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *v)
{
    MDB_val k = { strlen (name), (void *) name }, d;
    int rc = mdb_get (txn, dbi, &k, &d);
    if (rc == MDB_NOTFOUND) {
        *v = 0;
        return 0;
    }
    if (rc || d.mv_size != 8)
        return rc ? rc : MDB_CORRUPTED;
    *v = s_get_be64 (d.mv_data);
    return 0;
}

static int
s_meta_put_u64 (MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t v)
{
    uint8_t buf[8];
    s_be64 (v, buf);
    MDB_val k = { strlen (name), (void *) name }, d = { 8, buf };
    return mdb_put (txn, dbi, &k, &d, 0);
}

/* ---- sessions ------------------------------------------------------------- */

static int s_fed (const macx_core_t *self, const char *agency);
static Macx__Terms *s_terms (const macx_core_t *self, Macx__Terms *t, const Macx__Header *h,
                             const char *recipient, const macx_policy_result_t *r, int64_t stamp,
                             int64_t arrive);
static int s_held_put (macx_core_t *self, MDB_txn *txn, const char *agency,
                       const Macx__MailboxEntry *m);
static int s_retention (macx_core_t *self, MDB_txn *txn, macx_job_t *job);

static s_session_t *
s_session (macx_core_t *self, const char *agency, bool create)
{
    for (int i = 0; i < self->nsessions; i++)
        if (strcmp (self->sessions[i].agency, agency) == 0)
            return &self->sessions[i];
    if (!create || self->nsessions == S_SESSIONS)
        return NULL;
    s_session_t *s = &self->sessions[self->nsessions++];
    memset (s, 0, sizeof *s);
    snprintf (s->agency, sizeof s->agency, "%s", agency);
    s->fed = s_fed (self, agency);
    return s;
}

/* ---- replies -------------------------------------------------------------- */

/* The next reply's slot (not yet counted), or NULL when out of memory. */
static s_reply_t *
s_reply_slot (macx_core_t *self)
{
    if (self->nreplies == self->capreplies) {
        size_t cap = self->capreplies ? self->capreplies * 2 : 1024;
        s_reply_t *grown = realloc (self->replies, cap * sizeof *grown);
        if (!grown) {
            macx_log (MACX_LOG_ERROR, "out of memory queueing a reply", NULL);
            return NULL;
        }
        self->replies = grown;
        self->capreplies = cap;
    }
    s_reply_t *r = &self->replies[self->nreplies];
    r->nack = NULL;
    return r;
}

static void
s_nack_free (s_nack_t *n)
{
    if (!n)
        return;
    free (n->message);
    free (n->agreement);
    free (n->flow);
    free (n);
}

/* Frees what a reply not sent holds. */
static void
s_reply_clear (s_reply_t *r)
{
    free (r->frame);
    r->frame = NULL;
    s_nack_free (r->nack);
    r->nack = NULL;
}

static void
s_queue (macx_core_t *self, const uint8_t *rid, size_t rid_len, const Macx__Frame *frame)
{
    s_reply_t *r = s_reply_slot (self);
    if (!r)
        return;
    r->len = macx__frame__get_packed_size (frame);
    r->frame = malloc (r->len ? r->len : 1);
    if (!r->frame)
        return;
    macx__frame__pack (frame, r->frame);
    memcpy (r->rid, rid, rid_len);
    r->rid_len = rid_len;
    self->nreplies++;
}

static void
s_free_frame (void *data, void *hint)
{
    (void) hint;
    free (data);
}

static void
s_send_raw (macx_core_t *self, const uint8_t *rid, size_t rid_len, uint8_t *frame, size_t len)
{
    /* The io thread reads everything we send; our socket has no HWM, so these
     * sends never block. */
    zmq_send (self->out, rid, rid_len, ZMQ_SNDMORE);
    zmq_msg_t m;
    zmq_msg_init_data (&m, frame, len, s_free_frame, NULL);
    zmq_msg_send (&m, self->out, 0);
}

/* Packs and sends a frame now; false if out of memory. */
static bool
s_send_frame (macx_core_t *self, const uint8_t *rid, size_t rid_len, const Macx__Frame *f)
{
    size_t len = macx__frame__get_packed_size (f);
    uint8_t *buf = malloc (len ? len : 1);
    if (!buf)
        return false;
    macx__frame__pack (f, buf);
    s_send_raw (self, rid, rid_len, buf, len);
    return true;
}

/* ---- signed answers (docs/protocol.md "Signed answers") ------------------- */

/* Room for a tree of n answers and the frames of n ACKs. */
static bool
s_answer_room (macx_core_t *self, size_t n)
{
    if (n <= self->ab.cap)
        return true;
    void *p;
#define S_GROW(field)                                                   \
    if (!(p = realloc (self->ab.field, n * sizeof *self->ab.field)))    \
        return false;                                                   \
    self->ab.field = p;
    S_GROW (leaf) S_GROW (ack) S_GROW (ptr) S_GROW (proof) S_GROW (path) S_GROW (sent)
#undef S_GROW
    self->ab.cap = n;
    return true;
}

/* ACK j of the flush as it goes on the wire, without its proof. */
static void
s_ack_msg (macx_core_t *self, size_t j, Macx__Ack *a)
{
    macx__ack__init (a);
    a->record_id = (ProtobufCBinaryData) { MACX_RECORD_ID_BYTES, self->acks[j].record_id };
    a->sequence = self->acks[j].sequence;
    a->audit_seq = self->acks[j].audit_seq;
    a->clock_ms = self->acks[j].clock_ms;
    a->at_ms = self->acks[j].at_ms;
    a->record_digest = (ProtobufCBinaryData) { MACX_ANSWER_DIGEST_BYTES, self->acks[j].digest };
}

/* A NACK as it goes on the wire, without its proof (pointers into n). */
static void
s_nack_msg (const s_nack_t *n, Macx__Nack *m)
{
    macx__nack__init (m);
    m->record_id = (ProtobufCBinaryData) { n->record_id_len, (uint8_t *) n->record_id };
    m->sequence = n->sequence;
    m->reason = n->reason;
    m->message = n->message;
    m->agreement = n->agreement;
    m->flow = n->flow;
    m->audit_seq = n->audit_seq;
    m->clock_ms = n->clock_ms;
    m->at_ms = n->at_ms;
    m->record_digest = (ProtobufCBinaryData) { MACX_ANSWER_DIGEST_BYTES, (uint8_t *) n->digest };
}

/* One tree over ACKs [a0, a1) then the NACKs among replies [r0, r1) (n
 * answers in all), its head signed once. False when it could not be
 * (memory, the signer): those answers then go unsigned rather than not at
 * all, and the log says so. */
static bool
s_answers_sign (macx_core_t *self, size_t a0, size_t a1, size_t r0, size_t r1, size_t n)
{
    macx_error_t err = { 0 };
    if (!s_answer_room (self, n))
        macx_error_set (&err, MACX_ENOMEM, "out of memory");
    else {
        size_t k = 0;
        for (size_t j = a0; j < a1; j++) {
            Macx__Ack a;
            s_ack_msg (self, j, &a);
            macx_answer_digest_ack (self->acks[j].agency, &a, self->ab.leaf[k++]);
        }
        for (size_t j = r0; j < r1; j++)
            if (self->replies[j].nack) {
                Macx__Nack m;
                s_nack_msg (self->replies[j].nack, &m);
                macx_answer_digest_nack (self->replies[j].nack->agency, &m, self->ab.leaf[k++]);
            }
        assert (k == n);
        if (macx_answer_signer_sign (self->signer, (const uint8_t (*)[64]) self->ab.leaf, n,
                                     &err) == MACX_OK) {
            self->answers_signed += n;
            self->answer_signatures++;
            return true;
        }
    }
    self->answers_unsigned += n;
    macx_log (MACX_LOG_ERROR, "answers sent unsigned", "answers=%zu error=\"%s\"", n,
              macx_error_text (&err));
    return false;
}

/* Sends ACKs [a0, a1), one Acks frame per sender, each with its proof
 * (leaf j - a0 of the tree just signed) when signed. */
static void
s_send_acks (macx_core_t *self, size_t a0, size_t a1, bool signed_)
{
    size_t na = a1 - a0;
    if (!na || !s_answer_room (self, na)) {
        if (na)
            macx_log (MACX_LOG_ERROR, "out of memory sending ACKs: the senders will resend",
                      "acks=%zu", na);
        return;
    }
    memset (self->ab.sent, 0, na * sizeof *self->ab.sent);
    for (size_t i = a0; i < a1; i++) {
        if (self->ab.sent[i - a0])
            continue;
        size_t n = 0;
        for (size_t j = i; j < a1; j++) {
            if (self->ab.sent[j - a0] || self->acks[j].rid_len != self->acks[i].rid_len
                || memcmp (self->acks[j].rid, self->acks[i].rid, self->acks[i].rid_len) != 0)
                continue;
            Macx__Ack *a = &self->ab.ack[n];
            s_ack_msg (self, j, a);
            if (signed_) {
                macx_answer_signer_proof (self->signer, j - a0, &self->ab.proof[n],
                                          self->ab.path[n]);
                a->proof = &self->ab.proof[n];
            }
            self->ab.ptr[n++] = a;
            self->ab.sent[j - a0] = true;
        }
        Macx__Acks acks = MACX__ACKS__INIT;
        acks.acks = self->ab.ptr;
        acks.n_acks = n;
        Macx__Frame f = MACX__FRAME__INIT;
        f.kind_case = MACX__FRAME__KIND_ACKS;
        f.acks = &acks;
        s_send_frame (self, self->acks[i].rid, self->acks[i].rid_len, &f);
    }
}

/* Sends replies [r0, r1) in order; each NACK among them packed now with its
 * proof (leaves from `leaf` on, in order) when signed. */
static void
s_send_replies (macx_core_t *self, size_t r0, size_t r1, bool signed_, size_t leaf)
{
    for (size_t i = r0; i < r1; i++) {
        s_reply_t *r = &self->replies[i];
        if (r->nack) {
            Macx__Nack m;
            Macx__BatchProof proof;
            ProtobufCBinaryData path[MACX_BATCH_PATH_MAX];
            s_nack_msg (r->nack, &m);
            if (signed_) {
                macx_answer_signer_proof (self->signer, leaf++, &proof, path);
                m.proof = &proof;
            }
            Macx__Frame f = MACX__FRAME__INIT;
            f.kind_case = MACX__FRAME__KIND_NACK;
            f.nack = &m;
            if (!s_send_frame (self, r->rid, r->rid_len, &f))
                macx_log (MACX_LOG_ERROR, "out of memory sending a NACK", "peer=%s",
                          r->nack->agency);
            s_nack_free (r->nack);
            r->nack = NULL;
        }
        else if (r->frame)
            s_send_raw (self, r->rid, r->rid_len, r->frame, r->len);
        r->frame = NULL;
    }
}

/* Sends the first na ACKs (one Acks frame per sender) and then the first
 * nr other replies, in order, and moves the rest to the front. Every ACK
 * and NACK among them is signed: their digests are the leaves of one tree
 * whose head the broker signs once (a tree per MACX_BATCH_MAX answers in a
 * longer flush), and each carries its inclusion path and that signature. */
static void
s_flush_some (macx_core_t *self, size_t na, size_t nr)
{
    size_t a0 = 0, r0 = 0;
    while (a0 < na || r0 < nr) {
        size_t a1 = a0, r1 = r0, n = 0;
        while (a1 < na && n < MACX_BATCH_MAX) {
            a1++;
            n++;
        }
        while (a1 == na && r1 < nr && (n < MACX_BATCH_MAX || !self->replies[r1].nack))
            n += self->replies[r1++].nack != NULL;
        bool signed_ = n && s_answers_sign (self, a0, a1, r0, r1, n);
        s_send_acks (self, a0, a1, signed_);
        s_send_replies (self, r0, r1, signed_, a1 - a0);
        a0 = a1;
        r0 = r1;
    }
    if (na && self->nacks > na)   /* never with a NULL array: UB even for 0 bytes */
        memmove (self->acks, self->acks + na, (self->nacks - na) * sizeof *self->acks);
    self->nacks -= na;
    if (nr && self->nreplies > nr)
        memmove (self->replies, self->replies + nr, (self->nreplies - nr) * sizeof *self->replies);
    self->nreplies -= nr;
}

/* Makes the held transaction durable (its meta page synced) and sends what
 * waited for it; then everything queued. Returns false if the sync failed
 * (the held answers then stay held; the next commit's sync carries them). */
static bool
s_make_durable (macx_core_t *self)
{
    if (self->meta_pending) {
        uint64_t t0 = macx_clock_mono_ns ();
        int rc = mdb_env_sync (self->env, 1);
        macx_hist_add (&self->sync_us, (macx_clock_mono_ns () - t0) / 1000);
        if (rc) {
            macx_log (MACX_LOG_ERROR, "sync failed", "error=\"%s\"", mdb_strerror (rc));
            return false;
        }
        self->syncs_forced++;
        self->meta_pending = false;
    }
    self->durable_mseq = self->next_mseq;   /* no transaction is open here */
    self->held_acks = self->held_replies = 0;
    return true;
}

static void
s_flush_replies (macx_core_t *self)
{
    if (s_make_durable (self))
        s_flush_some (self, self->nacks, self->nreplies);
}

static void
s_ack (macx_core_t *self, const macx_job_t *job, const Macx__Header *h, uint64_t audit_seq,
       int64_t clock_ms, int64_t at_ms)
{
    if (self->nacks == self->capacks) {
        size_t cap = self->capacks ? self->capacks * 2 : 1024;
        void *grown = realloc (self->acks, cap * sizeof *self->acks);
        if (!grown) {
            macx_log (MACX_LOG_ERROR, "out of memory queueing an ACK", NULL);
            return;
        }
        self->acks = grown;
        self->capacks = cap;
    }
    memcpy (self->acks[self->nacks].rid, job->rid, job->rid_len);
    self->acks[self->nacks].rid_len = job->rid_len;
    memcpy (self->acks[self->nacks].record_id, h->record_id.data, MACX_RECORD_ID_BYTES);
    self->acks[self->nacks].sequence = h->sequence;
    self->acks[self->nacks].audit_seq = audit_seq;
    self->acks[self->nacks].clock_ms = clock_ms;
    self->acks[self->nacks].at_ms = at_ms;
    memcpy (self->acks[self->nacks].agency, job->agency, sizeof job->agency);
    memcpy (self->acks[self->nacks].digest, job->digest, MACX_ANSWER_DIGEST_BYTES);
    self->nacks++;
}

/* Queues a NACK: packed and signed at its flush, with the answers around
 * it (s_flush_some). */
static void
s_nack (macx_core_t *self, const macx_job_t *job, const Macx__Header *h, int reason,
        const char *message, const char *agreement, const char *flow, uint64_t audit_seq,
        int64_t clock_ms, int64_t at_ms)
{
    s_reply_t *r = s_reply_slot (self);
    s_nack_t *n = r ? calloc (1, sizeof *n) : NULL;
    if (n) {
        n->message = strdup (message ? message : "");
        n->agreement = strdup (agreement ? agreement : "");
        n->flow = strdup (flow ? flow : "");
    }
    if (!n || !n->message || !n->agreement || !n->flow) {
        s_nack_free (n);
        macx_log (MACX_LOG_ERROR, "out of memory queueing a NACK: the sender will resend",
                  "peer=%s", job->agency);
        return;
    }
    memcpy (n->agency, job->agency, sizeof n->agency);
    if (h) {
        n->record_id_len = h->record_id.len < MACX_RECORD_ID_BYTES ? h->record_id.len
                                                                   : MACX_RECORD_ID_BYTES;
        memcpy (n->record_id, h->record_id.data, n->record_id_len);
        n->sequence = h->sequence;
    }
    memcpy (n->digest, job->digest, MACX_ANSWER_DIGEST_BYTES);
    n->reason = reason;
    n->audit_seq = audit_seq;
    n->clock_ms = clock_ms;
    n->at_ms = at_ms;
    memcpy (r->rid, job->rid, job->rid_len);
    r->rid_len = job->rid_len;
    r->frame = NULL;
    r->len = 0;
    r->nack = n;
    self->nreplies++;
}

/* ---- the clock -------------------------------------------------------------- */

/* The federate index of an agency, or -1 (also when the clock is wall). */
static int
s_fed (const macx_core_t *self, const char *agency)
{
    if (!self->sim)
        return -1;
    const macx_broker_clock_t *c = &self->b->cfg.clock;
    for (int i = 0; i < c->nfederates; i++)
        if (strcmp (c->federates[i], agency) == 0)
            return i;
    return -1;
}

/* The broker's time now: the wall clock (or a wall clock started at
 * clock.start); in a pilot, the simulated time before which everything has
 * happened. */
static int64_t
s_now (const macx_core_t *self)
{
    const macx_broker_clock_t *c = &self->b->cfg.clock;
    if (!self->sim) {
        int64_t wall = macx_clock_wall_ms ();
        return c->start_ms ? c->start_ms + (wall - self->b->started_ms) : wall;
    }
    int64_t now = macx_simtime_now (self->sim);
    if (now == S_NEVER)
        now = macx_simtime_frontier (self->sim);
    return now > c->start_ms ? now : c->start_ms;
}

/* When a federate learns the broker's verdict on a record it sent (stamped
 * at stamp, or 0 when the record has none): 0 for anyone else. */
static int64_t
s_verdict_at (const macx_core_t *self, const char *agency, int64_t stamp)
{
    int f = s_fed (self, agency);
    int64_t lo, hi;
    if (f < 0)
        return 0;
    if (!stamp) {
        if (!macx_simtime_window (self->sim, f, &lo, &hi))
            return 0;
        stamp = lo;
    }
    return stamp + self->verdict_ms;
}

/* Checks the time a header claims against the broker's clock and stamps
 * the record. The claim is the header's simulated time, else its date,
 * else its creation time; the clock is the wall clock, or the window of
 * simulated time the sender has been granted. A claim further than the
 * allowed skew is refused (msg says both times); else *stamp is the claim
 * where it lies on the clock, or the clock's nearest time. */
static int
s_stamp (const macx_core_t *self, const macx_job_t *job, const Macx__Header *h, int64_t *stamp,
         char *msg, size_t size)
{
    int64_t clo, chi;
    char claim[64], when[24], a[24], b[24], away[32], skew[32];
    if (h->sim_ms > 0) {
        clo = chi = h->sim_ms;
        snprintf (claim, sizeof claim, "%s", macx_time_format (clo, when));
    }
    else if (h->sim_day > 0) {
        clo = (int64_t) h->sim_day * S_DAY_MS;
        chi = clo + S_DAY_MS - 1;
        snprintf (claim, sizeof claim, "the date %s", macx_date_format (h->sim_day, when));
    }
    else {
        clo = chi = h->created_ms;
        snprintf (claim, sizeof claim, "creation at %s", macx_time_format (clo, when));
    }
    int f = s_fed (self, job->agency);
    int64_t lo, hi;
    if (f >= 0) {
        if (!macx_simtime_window (self->sim, f, &lo, &hi) || macx_simtime_idle (self->sim, f)) {
            snprintf (msg, size, "the record claims %s, but %s holds no grant of simulated time "
                      "(a federate sends only inside the window the broker granted it)", claim,
                      job->agency);
            return -1;
        }
        hi--;
    }
    else
        lo = hi = s_now (self);
    int64_t dist = clo > hi ? clo - hi : chi < lo ? lo - chi : 0;
    if (dist > self->skew_ms) {
        macx_duration_format (dist, away, sizeof away);
        macx_duration_format (self->skew_ms, skew, sizeof skew);
        if (f >= 0)
            snprintf (msg, size, "the record claims %s; the broker has granted %s the simulated "
                      "time from %s to %s (%s away; at most %s allowed)", claim, job->agency,
                      macx_time_format (lo, a), macx_time_format (hi + 1, b), away, skew);
        else
            snprintf (msg, size, "the record claims %s; the broker's clock reads %s (%s away; at "
                      "most %s allowed)", claim, macx_time_format (lo, a), away, skew);
        return -1;
    }
    *stamp = f < 0 ? lo : clo < lo ? lo : clo > hi ? hi : clo;
    return 0;
}

/* When a record stamped at stamp reaches recipient: on the simulated clock,
 * after a transit drawn for (seed, route, subject, record type, phase) --
 * what the record is, not how many the sender sent before it, so the same
 * subject's records see the same transits in every variant of a sweep
 * (common random numbers) -- or for (seed, route, sequence) when it names
 * no subject; never sooner than the route's lookahead; otherwise at once.
 * *fed is the recipient's federate index or -1. */
static int64_t
s_arrival (const macx_core_t *self, const Macx__Header *h, const char *recipient,
           int64_t stamp, int *fed)
{
    const char *sender = h->sender;
    *fed = s_fed (self, recipient);
    if (*fed < 0)
        return stamp;
    const macx_broker_clock_t *c = &self->b->cfg.clock;
    const macx_dist_t *d = macx_broker_clock_transit (c, sender, recipient);
    char stream[2 * MACX_AGENCY_ID_MAX + 160];
    uint64_t sequence = 0;
    if (h->subject && h->subject[0])
        snprintf (stream, sizeof stream, "transit/%s/%s/%.40s/%.40s/%d", sender, recipient,
                  h->subject, h->record_type ? h->record_type : "", (int) h->phase);
    else {
        snprintf (stream, sizeof stream, "transit/%s/%s", sender, recipient);
        sequence = h->sequence;
    }
    double hours = macx_dist_sample (d, macx_rand_unit (c->seed, stream, 2 * sequence),
                                     macx_rand_unit (c->seed, stream, 2 * sequence + 1));
    int64_t ms = llround (hours * 3600000.0);
    int sf = s_fed (self, sender);
    int64_t least = sf >= 0 ? self->lookahead[sf * c->nfederates + *fed]
                            : (int64_t) ceil (macx_dist_min (d) * 3600000.0);
    if (ms < least)
        ms = least;
    return stamp + (ms > 0 ? ms : 1);
}

static int
s_arrival_queue (macx_core_t *self, int fed, int64_t at, uint64_t mseq)
{
    if (self->narrivals == self->caparrivals) {
        size_t cap = self->caparrivals ? self->caparrivals * 2 : 1024;
        void *g = realloc (self->arrivals, cap * sizeof *self->arrivals);
        if (!g)
            return -1;
        self->arrivals = g;
        self->caparrivals = cap;
    }
    self->arrivals[self->narrivals].fed = fed;
    self->arrivals[self->narrivals].at = at;
    self->arrivals[self->narrivals++].mseq = mseq;
    return 0;
}

/* ---- sequence gaps ---------------------------------------------------------- */

/* Why gaps: a batch the store cannot take is refused whole, STORE_UNAVAILABLE,
 * nothing of it written; a later batch that fits (records already in flight,
 * smaller ones, space freed by receipts) moves the sender's sequence past the
 * refused ones, whose resend would then be a SEQUENCE_REGRESSION. So each
 * record of an aborted batch (verified, from its own sender, above the
 * sequence accepted so far) leaves a gap: (sender, sequence) -> record id.
 * Gaps wait in memory and are written at the start of the next transaction
 * that commits, the one that could move the sequence past them; if the
 * broker dies before, nothing moved it either. A gap admits only the record
 * it was left by, once (REPLAY by record id still decides first). */

/* Notes the gaps an aborted batch leaves. */
static void
s_gaps_note (macx_core_t *self, macx_job_t **jobs, size_t n)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn);
    if (rc) {
        macx_log (MACX_LOG_ERROR, "cannot read the sequences: no gaps left for the refused "
                  "records", "error=\"%s\"", mdb_strerror (rc));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const macx_job_t *job = jobs[i];
        const Macx__Header *h = job->kind == JOB_RECORD && job->rc == 0 && job->record
                                    ? macx_record_header (job->record) : NULL;
        if (!h || strcmp (h->sender, job->agency) != 0)
            continue;
        MDB_val sk = { strlen (h->sender), h->sender }, d;
        if (mdb_get (txn, self->senders, &sk, &d) == 0 && d.mv_size == 8
            && h->sequence <= s_get_be64 (d.mv_data))
            continue;   /* a regression anyway, or a gap already stored */
        bool known = false;
        for (size_t g = 0; g < self->nnewgaps && !known; g++)
            known = self->newgaps[g].sequence == h->sequence
                    && strcmp (self->newgaps[g].sender, h->sender) == 0;
        if (known)
            continue;
        if (!self->newgaps && !(self->newgaps = calloc (S_GAPS, sizeof *self->newgaps)))
            break;
        if (self->nnewgaps == S_GAPS) {
            macx_log (MACX_LOG_WARN, "too many sequence gaps waiting for a commit: a resend of "
                      "this record may be refused SEQUENCE_REGRESSION", "sender=%s sequence=%"
                      PRIu64 " gaps=%d", h->sender, h->sequence, S_GAPS);
            continue;
        }
        s_gap_t *g = &self->newgaps[self->nnewgaps++];
        snprintf (g->sender, sizeof g->sender, "%s", h->sender);
        g->sequence = h->sequence;
        memcpy (g->record_id, h->record_id.data, MACX_RECORD_ID_BYTES);
        g->refused_ms = macx_clock_wall_ms ();
    }
    mdb_txn_abort (txn);
}

/* Writes the gaps waiting in memory; the caller drops them once txn commits. */
static int
s_gaps_write (macx_core_t *self, MDB_txn *txn)
{
    for (size_t i = 0; i < self->nnewgaps; i++) {
        const s_gap_t *g = &self->newgaps[i];
        uint8_t key[64], v[MACX_RECORD_ID_BYTES + 8];
        memcpy (v, g->record_id, MACX_RECORD_ID_BYTES);
        s_be64 ((uint64_t) g->refused_ms, v + MACX_RECORD_ID_BYTES);
        MDB_val k = { s_mailbox_key (g->sender, g->sequence, key), key }, d = { sizeof v, v };
        int rc = mdb_put (txn, self->gaps, &k, &d, 0);
        self->gaps_stored = true;
        if (rc) {
            macx_log (MACX_LOG_ERROR, "gap write failed", "error=\"%s\"", mdb_strerror (rc));
            return -1;
        }
    }
    return 0;
}

/* 0 if (sender, sequence) is a gap left by this very record, MDB_NOTFOUND if
 * not, else a store error. */
static int
s_gap_find (macx_core_t *self, MDB_txn *txn, const Macx__Header *h)
{
    uint8_t key[64];
    MDB_val k = { s_mailbox_key (h->sender, h->sequence, key), key }, d;
    int rc = mdb_get (txn, self->gaps, &k, &d);
    if (rc)
        return rc;
    return d.mv_size >= MACX_RECORD_ID_BYTES
           && memcmp (d.mv_data, h->record_id.data, MACX_RECORD_ID_BYTES) == 0 ? 0 : MDB_NOTFOUND;
}

/* Forgets the gaps older than S_GAP_KEEP_MS (a sender that never resent). */
static int
s_gaps_purge (macx_core_t *self, MDB_txn *txn)
{
    MDB_cursor *cur;
    if (mdb_cursor_open (txn, self->gaps, &cur))
        return -1;
    int64_t before = macx_clock_wall_ms () - S_GAP_KEEP_MS;
    MDB_val k, d;
    int rc = mdb_cursor_get (cur, &k, &d, MDB_FIRST), failed = 0;
    while (rc == 0) {
        if (d.mv_size == MACX_RECORD_ID_BYTES + 8
            && (int64_t) s_get_be64 ((uint8_t *) d.mv_data + MACX_RECORD_ID_BYTES) < before
            && mdb_cursor_del (cur, 0)) {
            failed = 1;
            break;
        }
        rc = mdb_cursor_get (cur, &k, &d, MDB_NEXT);
    }
    mdb_cursor_close (cur);
    return failed ? -1 : 0;
}

/* ---- judging a record ----------------------------------------------------- */

static int
s_reason_for_error (int code)
{
    switch (code) {
    case MACX_ETOOBIG:   return MACX__REASON__TOO_LARGE;
    case MACX_EVERSION:  return MACX__REASON__UNSUPPORTED_VERSION;
    case MACX_EUNKNOWN:  return MACX__REASON__UNKNOWN_SENDER;
    case MACX_EREVOKED:  return MACX__REASON__SENDER_REVOKED;
    case MACX_EBADSIG:   return MACX__REASON__BAD_SIGNATURE;
    case MACX_EBATCHPATH: return MACX__REASON__BATCH_PATH_INVALID;
    case MACX_EFOREIGNROOT: return MACX__REASON__BATCH_FOREIGN_ROOT;
    default:             return MACX__REASON__MALFORMED;
    }
}

/* Fills an audit entry from a header (pointers borrow from h). */
static void
s_entry_from_header (Macx__AuditEntry *e, const Macx__Header *h)
{
    e->record_id = h->record_id;
    e->sender = h->sender;
    e->recipients = h->recipients;
    e->n_recipients = h->n_recipients;
    e->sequence = h->sequence;
    e->record_type = h->record_type;
    e->phase = h->phase;
    e->case_phase = h->case_phase ? h->case_phase : h->phase;
    e->purpose = h->purpose;
    e->legal_basis = h->legal_basis;
    e->case_id = h->case_id;
    e->subject = h->subject;
    e->manifest = h->manifest;
    e->n_manifest = h->n_manifest;
    e->created_ms = h->created_ms;
    e->sim_day = h->sim_day;
    e->sim_ms = h->sim_ms;
    e->origin = h->origin;
}

/* Fills an audit entry with what a mailbox entry says of its record
 * (pointers borrow from m): deliveries, purges, retention actions. */
static void
s_entry_from_mailbox (Macx__AuditEntry *e, const Macx__MailboxEntry *m)
{
    e->record_id = m->record_id;
    e->sender = m->sender;
    e->case_id = m->case_id;
    e->subject = m->subject;
    e->phase = m->phase;
    e->record_type = m->record_type;
}

static int
s_audit (macx_core_t *self, MDB_txn *txn, Macx__AuditEntry *e, uint64_t *seq)
{
    macx_error_t err = { 0 };
    if (macx_audit_append (self->audit, txn, e, seq, &err)) {
        macx_log (MACX_LOG_ERROR, "audit append failed", "error=\"%s\"", macx_error_text (&err));
        return -1;
    }
    return 0;
}

/* Refuses a record: audit entry, NACK after commit. Returns -1 on a store
 * failure (the batch must be aborted). */
static void s_entry_case (Macx__AuditEntry *e, const Macx__Header *h, const macx_verdict_t *v);

static int
s_refuse (macx_core_t *self, MDB_txn *txn, const macx_job_t *job, const Macx__Header *h,
          int reason, const char *message, const char *agreement, const char *flow, int64_t stamp,
          const macx_verdict_t *v)
{
    Macx__AuditEntry e = MACX__AUDIT_ENTRY__INIT;
    if (h)
        s_entry_from_header (&e, h);
    if (h && v)
        s_entry_case (&e, h, v);
    e.event = "refuse";
    e.peer = (char *) job->agency;
    e.decision = "deny";
    e.reason = reason;
    e.message = (char *) message;
    e.agreement = (char *) (agreement ? agreement : "");
    e.flow = (char *) (flow ? flow : "");
    e.policy_hash = (char *) macx_policy_hash (self->b->policy);
    e.clock_ms = stamp ? stamp : s_now (self);
    e.record_digest = (ProtobufCBinaryData) { MACX_ANSWER_DIGEST_BYTES, (uint8_t *) job->digest };
    uint64_t seq;
    if (s_audit (self, txn, &e, &seq))
        return -1;
    s_nack (self, job, h, reason, message, agreement, flow, seq, e.clock_ms,
            s_verdict_at (self, job->agency, stamp));
    self->refused++;
    if (reason >= 0 && reason < 64)
        self->refused_by[reason]++;
    macx_log (MACX_LOG_INFO, "refused", "peer=%s reason=%s audit_seq=%" PRIu64 " why=\"%s\"",
              job->agency, macx_reason_name (reason), seq, message);
    return 0;
}

static void
s_hex8 (const uint8_t *root, char out[17])
{
    for (int i = 0; i < 8; i++)
        snprintf (out + 2 * i, 3, "%02x", root[i]);
}

/* The batch in progress has ended: its root joins those not to return. */
static void
s_batch_end (s_batch_order_t *o)
{
    if (!o->in_batch)
        return;
    memcpy (o->ended[o->next_ended], o->root, MACX_BATCH_HASH_BYTES);
    o->next_ended = (o->next_ended + 1) % S_ROOTS_KEPT;
    o->nended += o->nended < S_ROOTS_KEPT;
    o->in_batch = false;
}

/* Checks and moves the sender's place in its batches; 0, or the reason to
 * refuse with msg filled. */
static int
s_batch_order (macx_core_t *self, const Macx__Header *h, const Macx__BatchProof *p, char *msg,
               size_t size)
{
    s_session_t *s = s_session (self, h->sender, true);
    if (!s)
        return 0;   /* no room to follow it: the sequence check still holds */
    s_batch_order_t *o = &s->order;
    if (!p) {   /* signed on its own: ends the batch in progress */
        s->order_moved |= o->in_batch;
        s_batch_end (o);
        return 0;
    }
    char a[17], b[17];
    if (o->in_batch && memcmp (o->root, p->root.data, MACX_BATCH_HASH_BYTES) == 0) {
        if (p->index <= o->index) {
            s_hex8 (p->root.data, a);
            snprintf (msg, size, "record %u of batch %s from %s came after record %u of the same "
                      "batch: a batch's records are judged in the order it was signed",
                      p->index, a, h->sender, o->index);
            return MACX__REASON__BATCH_REORDERED;
        }
        o->index = p->index;
        s->order_moved = true;
        return 0;
    }
    for (int i = 0; i < o->nended; i++)
        if (memcmp (o->ended[i], p->root.data, MACX_BATCH_HASH_BYTES) == 0) {
            s_hex8 (p->root.data, a);
            if (o->in_batch)
                s_hex8 (o->root, b);
            snprintf (msg, size, "record %u of batch %s from %s came %s%s, after its own batch "
                      "had ended: a record cut from one batch and pasted into another",
                      p->index, a, h->sender, o->in_batch ? "inside batch " : "after it",
                      o->in_batch ? b : "");
            return MACX__REASON__BATCH_MISMATCH;
        }
    s_batch_end (o);
    o->in_batch = true;
    memcpy (o->root, p->root.data, MACX_BATCH_HASH_BYTES);
    o->index = p->index;
    s->order_moved = true;
    return 0;
}

/* After a commit the batch positions stand; after an abort they are as
 * they were (the refused records come again). Only the senders whose
 * position moved in this transaction are copied. */
static void
s_batch_order_settle (macx_core_t *self, bool committed)
{
    for (int i = 0; i < self->nsessions; i++) {
        s_session_t *s = &self->sessions[i];
        if (!s->order_moved)
            continue;
        if (committed)
            s->order_committed = s->order;
        else
            s->order = s->order_committed;
        s->order_moved = false;
    }
}

/* ---- the judge's view of the store (judge.h) ------------------------------ */

typedef struct {
    macx_core_t *self;
    MDB_txn *txn;
    const macx_job_t *job;
    /* the case's state as the judge read it, kept for s_case_accept */
    bool case_read;
    Macx__CaseState *case_state;
} s_judging_t;

/* A u64 value under a string key, 0 when absent (or not 8 bytes). */
static int
s_judge_u64 (s_judging_t *j, MDB_dbi dbi, const char *key, uint64_t *v)
{
    MDB_val k = { strlen (key), (void *) key }, d;
    int rc = mdb_get (j->txn, dbi, &k, &d);
    *v = rc == 0 && d.mv_size == 8 ? s_get_be64 (d.mv_data) : 0;
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : -1;
}

static int
s_judge_seen (void *arg, const ProtobufCBinaryData *id, bool *seen, uint64_t *first)
{
    s_judging_t *j = arg;
    MDB_val k = { id->len, id->data }, d;
    int rc = mdb_get (j->txn, j->self->seen, &k, &d);
    *seen = rc == 0;
    *first = rc == 0 && d.mv_size >= 8 ? s_get_be64 (d.mv_data) : 0;
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : -1;
}

static int
s_judge_last (void *arg, const char *sender, uint64_t *last)
{
    s_judging_t *j = arg;
    return s_judge_u64 (j, j->self->senders, sender, last);
}

static int
s_judge_gap (void *arg, const Macx__Header *h, bool *gap)
{
    s_judging_t *j = arg;
    *gap = false;
    if (!j->self->gaps_stored)
        return 0;
    int rc = s_gap_find (j->self, j->txn, h);
    *gap = rc == 0;
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : -1;
}

static int
s_judge_batch_order (void *arg, const Macx__Header *h, const Macx__BatchProof *p, int *reason,
                     char *msg, size_t size)
{
    s_judging_t *j = arg;
    *reason = s_batch_order (j->self, h, p, msg, size);
    return 0;
}

static int
s_judge_stamp (void *arg, const Macx__Header *h, bool *ok, int64_t *stamp, char *msg, size_t size)
{
    s_judging_t *j = arg;
    *ok = s_stamp (j->self, j->job, h, stamp, msg, size) == 0;
    return 0;
}

static int
s_judge_count (void *arg, const char *key, uint64_t *count)
{
    s_judging_t *j = arg;
    return s_judge_u64 (j, j->self->counters, key, count);
}

static int
s_case_get (macx_core_t *self, MDB_txn *txn, const char *case_id, Macx__CaseState **state)
{
    *state = NULL;
    MDB_val k = { strlen (case_id), (void *) case_id }, d;
    if (!k.mv_size)
        return 0;   /* no case id: a case never seen */
    int rc = mdb_get (txn, self->cases, &k, &d);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return -1;
    *state = macx__case_state__unpack (NULL, d.mv_size, d.mv_data);
    if (!*state) {
        macx_log (MACX_LOG_ERROR, "a case's state does not decode", "case=%s", case_id);
        return -1;
    }
    return 0;
}

static int
s_judge_case_get (void *arg, const char *case_id, Macx__CaseState **state)
{
    s_judging_t *j = arg;
    if (s_case_get (j->self, j->txn, case_id, state))
        return -1;
    j->case_read = true;
    j->case_state = *state;
    return 0;
}

/* Kept for the accept (s_case_accept), freed by s_judge_record. */
static void
s_judge_case_free (void *arg, Macx__CaseState *state)
{
    (void) arg;
    (void) state;
}

/* The case's state after an accepted record: the phase reached, and each
 * recipient holding the originator's record. old is the state before it
 * (NULL: a case never seen), as the judge read it when read, else read
 * here. Written only when it changed. */
static int
s_case_accept (macx_core_t *self, MDB_txn *txn, const Macx__Header *h, uint64_t audit_seq,
               bool read, const Macx__CaseState *old)
{
    if (!h->case_id || !*h->case_id)
        return 0;
    Macx__CaseState *mine = NULL;
    if (!read) {
        if (s_case_get (self, txn, h->case_id, &mine))
            return -1;
        old = mine;
    }
    Macx__CaseState st = MACX__CASE_STATE__INIT;
    if (old)
        st = *old;
    else
        st.opened_audit_seq = audit_seq;
    bool changed = !old;
    if (h->phase > 0 && h->phase < 32 && !(st.phases >> h->phase & 1u)) {
        st.phases |= 1u << h->phase;
        changed = true;
    }
    /* Recipients are distinct (the header's rule), so each new holding is
     * checked against the state before the record only. */
    const char *origin = h->origin && *h->origin ? h->origin : h->sender;
    const char *type = h->origin && *h->origin && h->origin_record_type && *h->origin_record_type
                           ? h->origin_record_type : h->record_type;
    Macx__CaseHolding added[S_RECIPIENTS], **holdings = NULL;
    size_t nadded = 0;
    for (size_t i = 0; i < h->n_recipients; i++)
        if (!macx_judge_case_holds (old, h->recipients[i], origin, type)) {
            Macx__CaseHolding *g = &added[nadded++];
            *g = (Macx__CaseHolding) MACX__CASE_HOLDING__INIT;
            g->holder = h->recipients[i];
            g->origin = (char *) origin;
            g->record_type = (char *) type;
            g->audit_seq = audit_seq;
        }
    int rc = 0;
    if (nadded) {
        if (!(holdings = malloc ((st.n_holdings + nadded) * sizeof *holdings))) {
            rc = -1;
            goto done;
        }
        if (st.n_holdings)
            memcpy (holdings, st.holdings, st.n_holdings * sizeof *holdings);
        for (size_t i = 0; i < nadded; i++)
            holdings[st.n_holdings + i] = &added[i];
        st.holdings = holdings;
        st.n_holdings += nadded;
        changed = true;
    }
    if (changed) {
        MDB_val k = { strlen (h->case_id), h->case_id };
        MDB_val d = { macx__case_state__get_packed_size (&st), NULL };
        if ((rc = mdb_put (txn, self->cases, &k, &d, MDB_RESERVE)))
            macx_log (MACX_LOG_ERROR, "case state write failed", "error=\"%s\"", mdb_strerror (rc));
        else
            macx__case_state__pack (&st, d.mv_data);
        rc = rc ? -1 : 0;
    }
done:
    free (holdings);
    if (mine)
        macx__case_state__free_unpacked (mine, NULL);
    return rc;
}

/* Fills the audit entry's case context from the verdict. */
static void
s_entry_case (Macx__AuditEntry *e, const Macx__Header *h, const macx_verdict_t *v)
{
    if (!h)
        return;
    e->case_reached = v->case_reached;
    e->case_needed = v->case_needed;
    e->case_phase = h->phase;   /* the broker's: the header's claim is not used */
}

/* Accepted: audit, mailboxes, replay state, counters and the case's state,
 * in this txn. */
static int
s_accept (macx_core_t *self, MDB_txn *txn, macx_job_t *job, const Macx__Header *h,
          const macx_verdict_t *v, const s_judging_t *j)
{
    int64_t stamp = v->stamp;
    int32_t day = (int32_t) (stamp / S_DAY_MS);
    Macx__AuditEntry e = MACX__AUDIT_ENTRY__INIT;
    s_entry_from_header (&e, h);
    s_entry_case (&e, h, v);
    e.event = "accept";
    e.peer = job->agency;
    e.decision = "permit";
    e.agreement = (char *) v->agreements;
    e.flow = (char *) v->flows;
    e.policy_hash = (char *) macx_policy_hash (self->b->policy);
    e.retention_days = (uint32_t) v->results[0].retention_days;
    e.clock_ms = stamp;
    e.record_digest = (ProtobufCBinaryData) { MACX_ANSWER_DIGEST_BYTES, job->digest };
    uint64_t audit_seq;
    int rc;
    if (s_audit (self, txn, &e, &audit_seq))
        return -1;
    for (size_t i = 0; i < h->n_recipients; i++) {
        int rfed;
        int64_t arrive = s_arrival (self, h, h->recipients[i], stamp, &rfed);
        if (rfed >= 0 && s_arrival_queue (self, rfed, arrive, self->next_mseq))
            return -1;
        Macx__MailboxEntry m = MACX__MAILBOX_ENTRY__INIT;
        m.record_id = h->record_id;
        m.sender = h->sender;
        m.envelope = (ProtobufCBinaryData) { job->body_len, (uint8_t *) job->body };
        m.stored_ms = macx_clock_wall_ms ();
        m.audit_seq = audit_seq;
        m.expires_day = v->results[i].retention_days > 0 ? day + v->results[i].retention_days : 0;
        m.case_id = h->case_id;
        m.phase = h->phase;
        m.record_type = h->record_type;
        m.sim_day = h->sim_day;
        m.subject = h->subject;
        m.sequence = h->sequence;
        m.sim_ms = h->sim_ms;
        m.clock_ms = stamp;
        m.arrive_ms = arrive;
        Macx__Terms terms = MACX__TERMS__INIT;
        m.terms = s_terms (self, &terms, h, h->recipients[i], &v->results[i], stamp, arrive);
        uint8_t key[64];
        MDB_val mk = { s_mailbox_key (h->recipients[i], self->next_mseq++, key), key };
        MDB_val md = { macx__mailbox_entry__get_packed_size (&m), NULL };
        if ((rc = mdb_put (txn, self->mailbox, &mk, &md, MDB_RESERVE))) {
            macx_log (MACX_LOG_ERROR, "mailbox write failed", "error=\"%s\"", mdb_strerror (rc));
            return -1;
        }
        macx__mailbox_entry__pack (&m, md.mv_data);
        if (v->cap_key[i][0]) {
            uint8_t cv[8];
            s_be64 (v->cap_count[i] + 1, cv);
            MDB_val ck = { strlen (v->cap_key[i]), (void *) v->cap_key[i] }, cd = { 8, cv };
            if (mdb_put (txn, self->counters, &ck, &cd, 0))
                return -1;
        }
    }
    if (s_case_accept (self, txn, h, audit_seq, j->case_read, j->case_state))
        return -1;
    uint8_t sv[8];
    s_be64 (audit_seq, sv);
    MDB_val k = { MACX_RECORD_ID_BYTES, h->record_id.data }, d = { 8, sv };
    if (mdb_put (txn, self->seen, &k, &d, MDB_NOOVERWRITE))
        return -1;
    /* A gap is filled once; the high-water mark never moves back. A record
     * above it may have left a gap too (refused, then resent before any
     * later one was accepted): that one goes as well. */
    uint8_t gk[64];
    MDB_val gkey = { s_mailbox_key (h->sender, h->sequence, gk), gk };
    if (self->gaps_stored && (rc = mdb_del (txn, self->gaps, &gkey, NULL)) && rc != MDB_NOTFOUND)
        return -1;
    if (v->gap) {
        self->gaps_filled++;
        macx_log (MACX_LOG_INFO, "gap filled: a record refused transiently is accepted below "
                  "the sender's sequence", "sender=%s sequence=%" PRIu64 " last=%" PRIu64,
                  h->sender, h->sequence, v->last);
    }
    else {
        s_be64 (h->sequence, sv);
        MDB_val sk = { strlen (h->sender), h->sender };
        d = (MDB_val) { 8, sv };
        if (mdb_put (txn, self->senders, &sk, &d, 0))
            return -1;
    }
    s_ack (self, job, h, audit_seq, stamp, s_verdict_at (self, job->agency, stamp));
    job->accepted = true;
    self->accepted++;
    return 0;
}

/* Judges one record (judge.c) and acts on the verdict. */
static int
s_judge_record (macx_core_t *self, MDB_txn *txn, macx_job_t *job)
{
    const Macx__Header *h = job->record ? macx_record_header (job->record) : NULL;
    /* A federate's time request waits for every record it sent before. */
    int sf = h && strcmp (h->sender, job->agency) == 0 ? s_fed (self, job->agency) : -1;
    if (sf >= 0 && h->sequence > self->fedreq[sf].judged)
        self->fedreq[sf].judged = h->sequence;
    s_judging_t j = { self, txn, job, false, NULL };
    macx_judge_context_t ctx = {
        .peer = job->agency,
        .refused = job->rc ? s_reason_for_error (job->rc) : 0,
        .refused_message = job->rc ? macx_error_text (&job->err) : NULL,
        .record = job->record,
        .registry = macx_broker_registry (self->b),
        .policy = self->b->policy,
        .store = { .arg = &j, .seen = s_judge_seen, .last_sequence = s_judge_last,
                   .gap = s_judge_gap, .batch_order = s_judge_batch_order,
                   .stamp = s_judge_stamp, .count = s_judge_count,
                   .case_get = s_judge_case_get, .case_free = s_judge_case_free },
    };
    static macx_verdict_t v;   /* core thread only; large */
    int rc = macx_judge (h, &ctx, &v) ? -1
             : !v.reason ? s_accept (self, txn, job, h, &v, &j)
                         : s_refuse (self, txn, job, h, v.reason, v.message, v.agreement, v.flow,
                                     v.stamp, &v);
    if (j.case_state)
        macx__case_state__free_unpacked (j.case_state, NULL);
    return rc;
}

/* A receipt: audit each delivery it covers and drop the mailbox entry. */
static int
s_receipt (macx_core_t *self, MDB_txn *txn, macx_job_t *job)
{
    if (job->rc) {
        macx_log (MACX_LOG_WARN, "receipt refused", "peer=%s why=\"%s\"", job->agency,
                  macx_error_text (&job->err));
        Macx__AuditEntry e = MACX__AUDIT_ENTRY__INIT;
        e.event = "receipt_refused";
        e.peer = job->agency;
        e.reason = s_reason_for_error (job->rc);
        e.message = (char *) macx_error_text (&job->err);
        uint64_t seq;
        return s_audit (self, txn, &e, &seq);
    }
    const Macx__Receipt *r = job->receipt;
    s_session_t *s = s_session (self, job->agency, false);
    size_t n = r->n_mailbox_seqs < r->n_record_ids ? r->n_mailbox_seqs : r->n_record_ids;
    for (size_t i = 0; i < n; i++) {
        uint8_t key[64];
        MDB_val mk = { s_mailbox_key (job->agency, r->mailbox_seqs[i], key), key }, md;
        int rc = mdb_get (txn, self->mailbox, &mk, &md);
        if (rc == MDB_NOTFOUND)
            continue;   /* already receipted: receipts are idempotent */
        if (rc)
            return -1;
        Macx__MailboxEntry *m = macx__mailbox_entry__unpack (NULL, md.mv_size, md.mv_data);
        if (!m || m->record_id.len != r->record_ids[i].len
            || memcmp (m->record_id.data, r->record_ids[i].data, m->record_id.len) != 0) {
            if (m)
                macx__mailbox_entry__free_unpacked (m, NULL);
            macx_log (MACX_LOG_WARN, "receipt names a record not in that mailbox slot",
                      "peer=%s mailbox_seq=%" PRIu64, job->agency, r->mailbox_seqs[i]);
            continue;
        }
        Macx__AuditEntry e = MACX__AUDIT_ENTRY__INIT;
        e.event = "deliver";
        e.peer = job->agency;
        e.recipient = job->agency;
        s_entry_from_mailbox (&e, m);
        e.sim_day = m->sim_day;
        e.sequence = m->sequence;
        e.sim_ms = m->sim_ms;
        e.clock_ms = m->clock_ms;
        e.arrive_ms = m->arrive_ms;
        e.mailbox_seq = r->mailbox_seqs[i];
        e.created_ms = r->time_ms;
        e.terms = m->terms;
        uint64_t seq;
        rc = s_audit (self, txn, &e, &seq) || s_held_put (self, txn, job->agency, m);
        macx__mailbox_entry__free_unpacked (m, NULL);
        if (rc || mdb_del (txn, self->mailbox, &mk, NULL))
            return -1;
        self->delivered++;
        if (s) {
            if (s->inflight)
                s->inflight--;
            s->inflight_bytes = s->inflight_bytes > md.mv_size ? s->inflight_bytes - md.mv_size : 0;
            if (s->depth)
                s->depth--;
            s->dirty = true;
        }
    }
    self->receipts++;
    return 0;
}

/* ---- manifest complaints (docs/audit.md "Complaints") -------------------- */

/* The reason for a complaint the verifier refused, by what failed. */
static const struct {
    int code;
    int reason;
} s_complaint_reasons[] = {
    { MACX_EBADSIG,      MACX__REASON__BAD_SIGNATURE },
    { MACX_EREVOKED,     MACX__REASON__SENDER_REVOKED },
    { MACX_EUNKNOWN,     MACX__REASON__UNKNOWN_SENDER },
    { MACX_EPROTO,       MACX__REASON__SENDER_MISMATCH },
    { MACX_ETOOBIG,      MACX__REASON__TOO_LARGE },
    { MACX_EBATCHPATH,   MACX__REASON__BATCH_PATH_INVALID },
    { MACX_EFOREIGNROOT, MACX__REASON__BATCH_FOREIGN_ROOT },
    { MACX_ENOMEM,       MACX__REASON__INTERNAL_ERROR },
};

static int
s_complaint_reason (int code)
{
    for (size_t i = 0; i < sizeof s_complaint_reasons / sizeof s_complaint_reasons[0]; i++)
        if (s_complaint_reasons[i].code == code)
            return s_complaint_reasons[i].reason;
    return MACX__REASON__MALFORMED;
}

/* A complaint that does not hold: audited against nobody (the record's
 * sender is not named: a forged or baseless complaint must not count
 * against it). Returns -1 on a store failure. */
static int
s_complaint_refuse (macx_core_t *self, MDB_txn *txn, const macx_job_t *job,
                    const Macx__Header *h, int reason, const char *message, uint64_t accept_seq)
{
    Macx__AuditEntry e = MACX__AUDIT_ENTRY__INIT;
    e.event = "complaint_refused";
    e.peer = (char *) job->agency;
    if (h)
        e.record_id = h->record_id;
    e.reason = reason;
    e.message = (char *) message;
    e.accept_seq = accept_seq;
    e.clock_ms = s_now (self);
    uint64_t seq;
    if (s_audit (self, txn, &e, &seq))
        return -1;
    macx_log (MACX_LOG_INFO, "complaint refused", "peer=%s reason=%s audit_seq=%" PRIu64
              " why=\"%s\"", job->agency, macx_reason_name (reason), seq, message);
    return 0;
}

/* Whether the broker accepted this record, with this header, for the
 * complainant: its id in the table of records accepted, the accept entry
 * that names, and the header's fields against that entry's. 0 with
 * *accept_seq set, 1 with msg saying why not, -1 on a store failure. */
static int
s_complaint_accepted (macx_core_t *self, MDB_txn *txn, const Macx__Header *h,
                      const char *complainant, uint64_t *accept_seq, char *msg, size_t size)
{
    char id[2 * MACX_RECORD_ID_BYTES + 1];
    macx_hex_encode (h->record_id.data, MACX_RECORD_ID_BYTES, id);
    MDB_val k = { MACX_RECORD_ID_BYTES, h->record_id.data }, d;
    int rc = mdb_get (txn, self->seen, &k, &d);
    if (rc == MDB_NOTFOUND || (rc == 0 && d.mv_size < 8)) {
        snprintf (msg, size, "the broker accepted no record %s: %s cannot have received it "
                  "from the broker", id, complainant);
        return 1;
    }
    if (rc)
        return -1;
    *accept_seq = s_get_be64 (d.mv_data);
    Macx__AuditEntry *a = NULL;
    macx_error_t err = { 0 };
    rc = macx_audit_get (self->audit, txn, *accept_seq, &a, &err);
    if (rc == MACX_ESTORE)
        return -1;
    const char *differs = NULL;
    if (rc || strcmp (a->event, "accept") != 0)
        differs = "accept entry";
    else if (strcmp (a->sender, h->sender) != 0)
        differs = "sender";
    else if (a->sequence != h->sequence)
        differs = "sequence";
    else if (strcmp (a->record_type, h->record_type) != 0)
        differs = "record type";
    else if (strcmp (a->case_id, h->case_id) != 0 || strcmp (a->subject, h->subject) != 0)
        differs = "case or subject";
    else if (a->n_recipients != h->n_recipients)
        differs = "recipient list";
    else if (a->n_manifest != h->n_manifest)
        differs = "manifest";
    for (size_t i = 0; !differs && i < h->n_recipients; i++)
        if (strcmp (a->recipients[i], h->recipients[i]) != 0)
            differs = "recipient list";
    for (size_t i = 0; !differs && i < h->n_manifest; i++)
        if (strcmp (a->manifest[i]->name, h->manifest[i]->name) != 0
            || strcmp (a->manifest[i]->transform, h->manifest[i]->transform) != 0)
            differs = "manifest";
    bool listed = false;
    for (size_t i = 0; !differs && i < h->n_recipients && !listed; i++)
        listed = strcmp (h->recipients[i], complainant) == 0;
    int out = 0;
    if (differs) {
        snprintf (msg, size, "the record is not the one the broker accepted as %s (audit entry "
                  "%" PRIu64 "): its %s differs", id, *accept_seq, differs);
        out = 1;
    }
    else if (!listed) {
        char to[256] = "";
        size_t i = 0;
        for (; i < h->n_recipients && strlen (to) + MACX_AGENCY_ID_MAX + 2 < sizeof to; i++)
            snprintf (to + strlen (to), sizeof to - strlen (to), "%s%s", i ? "," : "",
                      h->recipients[i]);
        snprintf (msg, size, "%s is not a recipient of record %s: the broker accepted it for %s%s "
                  "(audit entry %" PRIu64 ")", complainant, id, to,
                  i < h->n_recipients ? ",..." : "", *accept_seq);
        out = 1;
    }
    if (a)
        macx__audit_entry__free_unpacked (a, NULL);
    return out;
}

/* A complaint the evidence upholds: a `complaint` entry against the
 * record's sender naming what differs (names and transforms only), once
 * per record and complainant. */
static int
s_complaint_uphold (macx_core_t *self, MDB_txn *txn, const macx_job_t *job,
                    const macx_complaint_check_t *c, uint64_t accept_seq)
{
    const Macx__Header *h = macx_record_header (c->record);
    /* One per record and complainant: a record delivered again (after a
     * reconnect) is complained of again. */
    MDB_dbi dbi;
    uint8_t key[MACX_RECORD_ID_BYTES + MACX_AGENCY_ID_MAX];
    size_t al = strlen (job->agency);
    memcpy (key, h->record_id.data, MACX_RECORD_ID_BYTES);
    memcpy (key + MACX_RECORD_ID_BYTES, job->agency, al);
    MDB_val k = { MACX_RECORD_ID_BYTES + al, key }, d;
    int rc = mdb_dbi_open (txn, "complaints", MDB_CREATE, &dbi);
    if (rc == 0 && (rc = mdb_get (txn, dbi, &k, &d)) == 0) {
        macx_log (MACX_LOG_INFO, "complaint already upheld: not audited again", "peer=%s "
                  "sender=%s first=%" PRIu64, job->agency, h->sender,
                  d.mv_size == 8 ? s_get_be64 (d.mv_data) : 0);
        return 0;
    }
    if (rc != MDB_NOTFOUND)
        return -1;
    const macx_manifest_diff_t *diff = &c->diff;
    char *undeclared[2 * MACX_MANIFEST_MAX], *absent[2 * MACX_MANIFEST_MAX];
    Macx__FieldEntry fe[2 * MACX_MANIFEST_MAX], *fep[2 * MACX_MANIFEST_MAX];
    Macx__AuditEntry e = MACX__AUDIT_ENTRY__INIT;
    s_entry_from_header (&e, h);
    e.event = "complaint";
    e.peer = (char *) job->agency;
    e.recipient = (char *) job->agency;
    e.undeclared_fields = undeclared;
    e.absent_fields = absent;
    e.transform_mismatches = fep;
    for (size_t i = 0; !c->broken && i < diff->n; i++) {
        const macx_diff_entry_t *x = &diff->entries[i];
        if (x->kind == MACX_DIFF_UNDECLARED)
            undeclared[e.n_undeclared_fields++] = (char *) x->name;
        else if (x->kind == MACX_DIFF_ABSENT)
            absent[e.n_absent_fields++] = (char *) x->name;
        else {
            Macx__FieldEntry *f = &fe[e.n_transform_mismatches];
            macx__field_entry__init (f);
            f->name = (char *) x->name;
            f->transform = (char *) x->transform;
            fep[e.n_transform_mismatches++] = f;
        }
    }
    e.payload_type = (char *) (!c->broken && diff->payload_type ? diff->payload_type : "");
    e.accept_seq = accept_seq;
    e.clock_ms = s_now (self);
    char msg[1024];
    if (c->broken)
        snprintf (msg, sizeof msg, "the payload cannot be compared with its header: %s",
                  macx_error_text (&c->why));
    else
        macx_record_manifest_diff_text (h, diff, msg, sizeof msg);
    e.message = msg;
    uint64_t seq;
    if (s_audit (self, txn, &e, &seq))
        return -1;
    uint8_t v[8];
    s_be64 (seq, v);
    d = (MDB_val) { 8, v };
    if (mdb_put (txn, dbi, &k, &d, 0))
        return -1;
    macx_log (MACX_LOG_WARN, "complaint upheld", "peer=%s sender=%s audit_seq=%" PRIu64
              " accept_seq=%" PRIu64, job->agency, h->sender, seq, accept_seq);
    return 0;
}

/* A recipient's manifest complaint (verified in a verify thread): checked
 * against the store in the order docs/audit.md gives, then audited. */
static int
s_complaint (macx_core_t *self, MDB_txn *txn, macx_job_t *job)
{
    const macx_complaint_check_t *c = job->complaint;
    if (!c)
        return s_complaint_refuse (self, txn, job, NULL, MACX__REASON__INTERNAL_ERROR,
                                   macx_error_text (&job->err), 0);
    const Macx__Header *h = c->record ? macx_record_header (c->record) : NULL;
    if (c->verdict == MACX_COMPLAINT_REFUSED)
        return s_complaint_refuse (self, txn, job, h, s_complaint_reason (c->why.code),
                                   macx_error_text (&c->why), 0);
    char msg[1024];
    uint64_t accept_seq = 0;
    int rc = s_complaint_accepted (self, txn, h, job->agency, &accept_seq, msg, sizeof msg);
    if (rc < 0)
        return -1;
    if (rc)
        return s_complaint_refuse (self, txn, job, h, MACX__REASON__COMPLAINT_NOT_RECIPIENT, msg,
                                   accept_seq);
    if (c->verdict == MACX_COMPLAINT_KEY_INVALID)
        return s_complaint_refuse (self, txn, job, h, MACX__REASON__COMPLAINT_KEY_INVALID,
                                   macx_error_text (&c->why), accept_seq);
    if (c->verdict == MACX_COMPLAINT_UNFOUNDED) {
        snprintf (msg, sizeof msg, "the payload matches its header: record type %s and the "
                  "%zu fields and transforms its manifest declares", h->record_type,
                  h->n_manifest);
        return s_complaint_refuse (self, txn, job, h, MACX__REASON__COMPLAINT_UNFOUNDED, msg,
                                   accept_seq);
    }
    return s_complaint_uphold (self, txn, job, c, accept_seq);
}

/* ---- statistics ----------------------------------------------------------- */

static void
s_stats_json (macx_core_t *self, char **out, size_t *len)
{
    FILE *f = open_memstream (out, len);
    if (!f)
        return;
    fprintf (f, "{\"uptime_ms\":%" PRId64 ",\"accepted\":%" PRIu64 ",\"refused\":%" PRIu64
             ",\"delivered\":%" PRIu64 ",\"redelivered\":%" PRIu64 ",\"receipts\":%" PRIu64
             ",\"purged\":%" PRIu64 ",\"store_errors\":%" PRIu64 ",\"gaps_filled\":%" PRIu64
             ",\"connections_refused\":%" PRIu64 ",\"disconnected\":%" PRIu64
             ",\"audit_seq\":%" PRIu64 ",\"refused_by\":{",
             macx_clock_wall_ms () - self->b->started_ms, self->accepted, self->refused,
             self->delivered, self->redelivered, self->receipts, self->purged, self->store_errors,
             self->gaps_filled,
             __atomic_load_n (&self->b->zap_refused, __ATOMIC_RELAXED), self->disconnected,
             macx_audit_head_seq (self->audit));
    int first = 1;
    for (int i = 0; i < 64; i++)
        if (self->refused_by[i]) {
            fprintf (f, "%s\"%s\":%" PRIu64, first ? "" : ",", macx_reason_name (i),
                     self->refused_by[i]);
            first = 0;
        }
    fputs ("},\"mailboxes\":{", f);
    for (int i = 0; i < self->nsessions; i++) {
        s_session_t *s = &self->sessions[i];
        fprintf (f, "%s\"%s\":{\"depth\":%" PRIu64 ",\"inflight\":%u,\"inflight_bytes\":%" PRIu64
                 ",\"credit\":%u,"
                 "\"connected\":%s}", i ? "," : "", s->agency, s->depth, s->inflight,
                 s->inflight_bytes, s->window, s->connected ? "true" : "false");
    }
    fprintf (f, "},\"batches\":%" PRIu64 ",\"batch_size\":{\"mean\":%.1f,\"p50\":%" PRIu64
             ",\"p99\":%" PRIu64 ",\"max\":%" PRIu64 "},\"commit_us\":{\"mean\":%.0f,\"p50\":%" PRIu64
             ",\"p99\":%" PRIu64 ",\"max\":%" PRIu64 "},\"policy\":\"%s\"}",
             self->batches, macx_hist_mean (&self->batch_size),
             macx_hist_quantile (&self->batch_size, 0.5), macx_hist_quantile (&self->batch_size, 0.99),
             self->batch_size.max, macx_hist_mean (&self->commit_us),
             macx_hist_quantile (&self->commit_us, 0.5), macx_hist_quantile (&self->commit_us, 0.99),
             self->commit_us.max, macx_policy_hash (self->b->policy));
    /* batch roots, the clock: after the closing brace is taken back */
    fseek (f, -1, SEEK_CUR);
    uint64_t roots_verified, roots_cached;
    macx_root_cache_counts (self->b->roots, &roots_verified, &roots_cached);
    fprintf (f, ",\"batch_roots\":{\"verified\":%" PRIu64 ",\"cached\":%" PRIu64 "}"
             ",\"meta_syncs\":{\"carried\":%" PRIu64 ",\"forced\":%" PRIu64 "}"
             ",\"sync_us\":{\"mean\":%.0f,\"p50\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"max\":%" PRIu64 "}"
             ",\"delivery_frames\":%" PRIu64,
             roots_verified, roots_cached, self->syncs_deferred, self->syncs_forced,
             macx_hist_mean (&self->sync_us), macx_hist_quantile (&self->sync_us, 0.5),
             macx_hist_quantile (&self->sync_us, 0.99), self->sync_us.max, self->delivery_frames);
    fprintf (f, ",\"answers\":{\"signed\":%" PRIu64 ",\"signatures\":%" PRIu64
             ",\"unsigned\":%" PRIu64 "}", self->answers_signed, self->answer_signatures,
             self->answers_unsigned);
    fprintf (f, ",\"retention\":{\"receipts\":%" PRIu64 ",\"refused\":%" PRIu64 "}",
             self->retention_receipts, self->retention_refused);
    char now[24];
    fprintf (f, ",\"clock\":{\"mode\":\"%s\",\"now\":\"%s\",\"max_skew_ms\":%" PRId64,
             self->sim ? "simulated" : "wall", macx_time_format (s_now (self), now), self->skew_ms);
    if (self->sim)
        fprintf (f, ",\"federates\":%d,\"joined\":%s,\"ended\":%s,\"grants\":%" PRIu64
                 ",\"frontier\":\"%s\",\"time_violations\":%" PRIu64,
                 macx_simtime_count (self->sim), macx_simtime_joined (self->sim) ? "true" : "false",
                 self->ended ? "true" : "false", macx_simtime_grants (self->sim),
                 macx_time_format (macx_simtime_frontier (self->sim), now),
                 macx_core_time_violations (self));
    fputs ("}}", f);
    fclose (f);
}

static void
s_error_to (macx_core_t *self, const uint8_t *rid, size_t rid_len, int reason, const char *message)
{
    Macx__Error er = MACX__ERROR__INIT;
    er.reason = reason;
    er.message = (char *) message;
    Macx__Frame f = MACX__FRAME__INIT;
    f.kind_case = MACX__FRAME__KIND_ERROR;
    f.error = &er;
    s_queue (self, rid, rid_len, &f);
}

static void
s_error (macx_core_t *self, const macx_job_t *job, int reason, const char *message)
{
    s_error_to (self, job->rid, job->rid_len, reason, message);
}

/* Queues every mailbox entry of federate f in the simulated clock again:
 * at start, and when f says hello (what it was sent and did not receipt
 * comes again; it drops duplicates). */
static void
s_restore_arrivals (macx_core_t *self, int f)
{
    const char *agency = self->b->cfg.clock.federates[f];
    macx_simtime_clear_arrivals (self->sim, f);
    MDB_txn *txn;
    MDB_cursor *cur;
    if (mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn))
        return;
    if (mdb_cursor_open (txn, self->mailbox, &cur) == 0) {
        uint8_t key[64];
        size_t alen = strlen (agency) + 1;
        MDB_val k = { s_mailbox_key (agency, 0, key), key }, d;
        int rc = mdb_cursor_get (cur, &k, &d, MDB_SET_RANGE);
        while (rc == 0 && k.mv_size == alen + 8 && memcmp (k.mv_data, agency, alen) == 0) {
            Macx__MailboxEntry *m = macx__mailbox_entry__unpack (NULL, d.mv_size, d.mv_data);
            if (m) {
                macx_simtime_restore (self->sim, f, m->arrive_ms,
                                      s_get_be64 ((uint8_t *) k.mv_data + alen));
                macx__mailbox_entry__free_unpacked (m, NULL);
            }
            rc = mdb_cursor_get (cur, &k, &d, MDB_NEXT);
        }
        mdb_cursor_close (cur);
    }
    mdb_txn_abort (txn);
}

/* io disconnected a peer over a limit: the audit says who and why. */
static int
s_cut (macx_core_t *self, MDB_txn *txn, macx_job_t *job)
{
    for (int i = 0; !job->agency[0] && i < self->nsessions; i++)
        if (self->sessions[i].rid_len == job->rid_len
            && memcmp (self->sessions[i].rid, job->rid, job->rid_len) == 0)
            snprintf (job->agency, sizeof job->agency, "%s", self->sessions[i].agency);
    Macx__AuditEntry e = MACX__AUDIT_ENTRY__INIT;
    e.event = "disconnect";
    e.peer = job->agency;
    e.reason = job->rc;
    e.message = (char *) macx_error_text (&job->err);
    self->disconnected++;
    uint64_t seq;
    return s_audit (self, txn, &e, &seq);
}

/* ---- reloads -------------------------------------------------------------- */

static const char *
s_key_change_event (macx_key_change_kind_t k)
{
    switch (k) {
    case MACX_KEY_ADDED:    return "key_added";
    case MACX_KEY_REMOVED:  return "key_removed";
    case MACX_KEY_REVOKED:  return "key_revoked";
    case MACX_KEY_CHANGED:  return "key_changed";
    case MACX_KEY_RESTORED: return "key_restored";
    }
    return "key_changed";
}

/* Audits registry changes, one entry each. With jobs (the batch's jobs
 * before the reload, nbefore of them), also ends core's session of each
 * agency that may no longer connect, unless io cut it (a cut among those
 * jobs, or earlier). Without: changes carried from an aborted transaction,
 * whose sessions were seen to then. */
static int
s_key_changes_audit (macx_core_t *self, MDB_txn *txn, macx_key_change_t *c, size_t n,
                     macx_job_t **jobs, size_t nbefore)
{
    for (size_t i = 0; i < n; i++) {
        bool closes = c[i].kind == MACX_KEY_REVOKED || c[i].kind == MACX_KEY_REMOVED
                      || c[i].kind == MACX_KEY_CHANGED;
        s_session_t *s = closes && jobs ? s_session (self, c[i].agency, false) : NULL;
        if (s && s->connected) {
            bool cut = false;
            for (size_t j = 0; j < nbefore && !cut; j++)
                cut = jobs[j]->kind == JOB_CUT && jobs[j]->rid_len == s->rid_len
                      && memcmp (jobs[j]->rid, s->rid, s->rid_len) == 0;
            if (!cut) {
                s_error_to (self, s->rid, s->rid_len, MACX__REASON__SENDER_REVOKED,
                         c[i].kind == MACX_KEY_CHANGED
                             ? "this agency's keys changed in the broker's key registry: this "
                               "connection is closed"
                             : "this agency is revoked or no longer registered: this connection "
                               "is closed");
                s->connected = false;
                c[i].sessions++;
            }
        }
        char msg[400];
        switch (c[i].kind) {
        case MACX_KEY_REVOKED:
            snprintf (msg, sizeof msg, "revoked (%s): new connections refused, %d open "
                      "connection(s) closed; records already accepted from it are still "
                      "delivered, records to it are refused RECIPIENT_REVOKED", c[i].reason,
                      c[i].sessions);
            break;
        case MACX_KEY_REMOVED:
            snprintf (msg, sizeof msg, "no longer in the key registry: new connections refused, "
                      "%d open connection(s) closed", c[i].sessions);
            break;
        case MACX_KEY_CHANGED:
            snprintf (msg, sizeof msg, "new keys in the registry: %d connection(s) made with the "
                      "old ones closed; records it signed with the old key are refused",
                      c[i].sessions);
            break;
        case MACX_KEY_RESTORED:
            snprintf (msg, sizeof msg, "no longer revoked: it may connect again");
            break;
        default:
            snprintf (msg, sizeof msg, "added to the key registry: it may connect");
            break;
        }
        Macx__AuditEntry e = MACX__AUDIT_ENTRY__INIT;
        e.event = (char *) s_key_change_event (c[i].kind);
        e.peer = c[i].agency;
        e.message = msg;
        e.reason = c[i].kind == MACX_KEY_REVOKED || c[i].kind == MACX_KEY_REMOVED
                       ? MACX__REASON__SENDER_REVOKED : 0;
        e.policy_hash = (char *) macx_policy_hash (self->b->policy);
        uint64_t seq;
        if (s_audit (self, txn, &e, &seq))
            return -1;
    }
    return 0;
}

static void
s_answer_str (FILE *f, const char *key, const char *v)
{
    fprintf (f, ",\"%s\":", key);
    macx_json_str (f, v ? v : "");
}

/* A JOB_RELOAD: audits what io changed in the registry and, when asked,
 * reloads the policy from its directory. A policy that does not load (or
 * whose effective-date overrides no longer name an agreement) is refused
 * and the one in force stays; either way it is audited, with both hashes. */
static int
s_reload (macx_core_t *self, MDB_txn *txn, macx_job_t **jobs, size_t at)
{
    macx_job_t *job = jobs[at];
    uint64_t seq;
    if (job->rc) {
        Macx__AuditEntry e = MACX__AUDIT_ENTRY__INIT;
        char msg[600];
        snprintf (msg, sizeof msg, "the key directory %s does not load; the registry in force "
                  "stays: %s", self->b->cfg.keys_dir, macx_error_text (&job->err));
        e.event = "keys_reload_refused";
        e.message = msg;
        e.policy_hash = (char *) macx_policy_hash (self->b->policy);
        if (s_audit (self, txn, &e, &seq))
            return -1;
    }
    else if (s_key_changes_audit (self, txn, job->changes, job->nchanges, jobs, at))
        return -1;
    if (!job->reload_policy)
        return 0;
    char *answer = NULL;
    size_t alen = 0;
    FILE *f = open_memstream (&answer, &alen);
    if (!f)
        return -1;
    const char *old_hash = macx_policy_hash (self->b->policy);
    macx_error_t err = { 0 };
    macx_policy_t *np = macx_policy_load (self->b->cfg.policy_dir, &err);
    for (int i = 0; np && i < self->b->cfg.neffective; i++)
        if (macx_policy_set_effective (np, self->b->cfg.effective[i].agreement,
                                       self->b->cfg.effective[i].day)) {
            macx_error_set (&err, MACX_ENOTFOUND, "the broker's effective date for agreement "
                            "'%s' names no agreement of the new policy",
                            self->b->cfg.effective[i].agreement);
            macx_policy_destroy (&np);
        }
    Macx__AuditEntry e = MACX__AUDIT_ENTRY__INIT;
    char msg[700];
    e.previous_policy_hash = (char *) old_hash;
    e.message = msg;
    if (np) {
        e.event = "policy_reload";
        e.policy_hash = (char *) macx_policy_hash (np);
        snprintf (msg, sizeof msg, "policy reloaded from %s: it judges every record from here on"
                  "%s", self->b->cfg.policy_dir,
                  strcmp (old_hash, macx_policy_hash (np)) == 0 ? " (unchanged)" : "");
    }
    else {
        e.event = "policy_reload_refused";
        e.policy_hash = (char *) old_hash;
        snprintf (msg, sizeof msg, "the policy in %s does not check; the one in force stays: %s",
                  self->b->cfg.policy_dir, macx_error_text (&err));
    }
    int rc = s_audit (self, txn, &e, &seq);
    fprintf (f, "{\"ok\":%s", np ? "true" : "false");
    s_answer_str (f, "policy_hash", e.policy_hash);
    s_answer_str (f, "previous_policy_hash", old_hash);
    if (!np)
        s_answer_str (f, "error", macx_error_text (&err));
    fprintf (f, ",\"audit_seq\":%" PRIu64 ",\"keys\":", seq);
    if (job->rc) {
        fprintf (f, "{\"ok\":false");
        s_answer_str (f, "error", macx_error_text (&job->err));
        fprintf (f, "}");
    }
    else {
        fprintf (f, "{\"ok\":true,\"changes\":[");
        for (size_t i = 0; i < job->nchanges; i++) {
            fprintf (f, "%s{\"agency\":", i ? "," : "");
            macx_json_str (f, job->changes[i].agency);
            s_answer_str (f, "change", s_key_change_event (job->changes[i].kind));
            fprintf (f, ",\"connections_closed\":%d}", job->changes[i].sessions);
        }
        fprintf (f, "]}");
    }
    fputc ('}', f);
    fclose (f);
    free (self->reload_answer);
    self->reload_answer = answer;
    if (rc) {
        macx_policy_destroy (&np);
        return -1;
    }
    if (np) {
        if (!self->policy_before)
            self->policy_before = self->b->policy;
        else
            macx_policy_destroy (&self->b->policy);
        self->b->policy = np;
        self->reloads++;
    }
    else
        self->reloads_refused++;
    return 0;
}

/* At the end of a transaction: a policy reloaded in it stays (committed)
 * or gives way to the one before (aborted), and the registry changes it
 * audited are done with, or kept for the next. `unaudited` were carried in
 * from earlier. */
static void
s_reload_settle (macx_core_t *self, bool committed, size_t unaudited)
{
    if (self->policy_before) {
        if (committed)
            macx_policy_destroy (&self->policy_before);
        else {
            macx_policy_destroy (&self->b->policy);
            self->b->policy = self->policy_before;
            self->policy_before = NULL;
            free (self->reload_answer);
            self->reload_answer = strdup ("{\"ok\":false,\"error\":\"the store was unavailable: "
                                          "nothing was reloaded; ask again\"}");
        }
    }
    if (committed && unaudited) {
        memmove (self->unaudited, self->unaudited + unaudited,
                 (self->nunaudited - unaudited) * sizeof *self->unaudited);
        self->nunaudited -= unaudited;
    }
}

/* Keeps a reload job's registry changes to audit in the next transaction
 * (this one aborted). */
static void
s_reload_keep (macx_core_t *self, const macx_job_t *job)
{
    if (!job->nchanges)
        return;
    macx_key_change_t *u = realloc (self->unaudited,
                                    (self->nunaudited + job->nchanges) * sizeof *u);
    if (!u) {
        macx_log (MACX_LOG_ERROR, "out of memory: registry changes go unaudited",
                  "changes=%zu", job->nchanges);
        return;
    }
    memcpy (u + self->nunaudited, job->changes, job->nchanges * sizeof *u);
    self->unaudited = u;
    self->nunaudited += job->nchanges;
}

/* After the commit: DATA/reload.json says how the last reload asked for
 * went, for `macx broker reload` (which waits for it to change). */
static void
s_reload_answer (macx_core_t *self)
{
    if (!self->reload_answer)
        return;
    char path[1100], *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&text, &len);
    if (f) {
        fprintf (f, "{\"request\":%" PRIu64 ",\"broker_pid\":%ld,\"at_ms\":%" PRId64 ",\"result\":%s}\n",
                 self->reloads + self->reloads_refused, (long) getpid (), macx_clock_wall_ms (),
                 self->reload_answer);
        fclose (f);
        macx_error_t err = { 0 };
        snprintf (path, sizeof path, "%s/reload.json", self->b->cfg.data_dir);
        if (macx_file_write (path, text, len, 0644, 0, &err))
            macx_log (MACX_LOG_ERROR, "cannot write the reload answer", "path=%s error=\"%s\"",
                      path, macx_error_text (&err));
        free (text);
    }
    free (self->reload_answer);
    self->reload_answer = NULL;
}

static void
s_session_job (macx_core_t *self, macx_job_t *job)
{
    if (job->kind == JOB_GONE || job->kind == JOB_CUT)
        macx_core_session_gone (self, job->rid, job->rid_len);
    else if (job->kind == JOB_RELOAD)
        s_reload_answer (self);
    else if (job->kind == JOB_HELLO) {
        if (job->rc || strcmp (job->hello->agency, job->agency) != 0) {
            s_error (self, job, job->rc ? MACX__REASON__MALFORMED : MACX__REASON__SENDER_MISMATCH,
                     job->rc ? "hello does not decode"
                             : "hello names another agency than the connection's");
            return;
        }
        s_session_t *s = s_session (self, job->agency, true);
        if (!s)
            return;
        memcpy (s->rid, job->rid, job->rid_len);
        s->rid_len = job->rid_len;
        s->connected = true;
        /* A grant is capped, not trusted: a recipient that claims a huge
         * credit and never reads would otherwise hold its whole mailbox in
         * the broker's send queue. */
        uint32_t cap = self->b->cfg.limits.max_credit;
        s->window = job->hello->credit ? job->hello->credit : 64;
        if (s->window > cap)
            s->window = cap;
        s->inflight = 0;
        s->inflight_bytes = 0;
        if (s->cursor > s->resent_below)
            s->resent_below = s->cursor;
        s->cursor = 0;   /* everything not receipted is sent again */
        s->dirty = true;
        if (s->fed >= 0)
            s_restore_arrivals (self, s->fed);
        macx_log (MACX_LOG_INFO, "session", "agency=%s credit=%u mailbox=%" PRIu64 "%s", s->agency,
                  s->window, s->depth, s->fed >= 0 ? " federate=yes" : "");
    }
    else if (job->kind == JOB_TIME) {
        int f = job->rc ? -1 : s_fed (self, job->agency);
        if (f < 0) {
            char msg[200];
            if (job->rc)
                snprintf (msg, sizeof msg, "time request does not decode");
            else if (!self->sim)
                snprintf (msg, sizeof msg, "the broker's clock is the wall clock: there is no "
                          "simulated time to ask for");
            else
                snprintf (msg, sizeof msg, "'%s' is not a federate of the broker's simulated clock",
                          job->agency);
            s_error (self, job, job->rc ? MACX__REASON__MALFORMED : MACX__REASON__CLOCK_SKEW, msg);
            return;
        }
        s_fedreq_t *q = &self->fedreq[f];
        q->held = true;
        q->next_ms = job->time->next_ms > 0 ? job->time->next_ms : S_NEVER;
        q->sequence = job->time->sequence;
        q->told_end = false;
    }
    else if (job->kind == JOB_CREDIT && job->rc == 0) {
        s_session_t *s = s_session (self, job->agency, false);
        if (s) {
            uint64_t w = (uint64_t) s->window + job->credit->credit;
            uint32_t cap = self->b->cfg.limits.max_credit;
            s->window = w > cap ? cap : (uint32_t) w;   /* repeated grants never stack past it */
            s->dirty = true;
        }
    }
    else if (job->kind == JOB_STATS) {
        char *json = NULL;
        size_t len = 0;
        s_stats_json (self, &json, &len);
        Macx__StatsReply reply = MACX__STATS_REPLY__INIT;
        reply.json = json ? json : "{}";
        Macx__Frame f = MACX__FRAME__INIT;
        f.kind_case = MACX__FRAME__KIND_STATS_REPLY;
        f.stats_reply = &reply;
        s_queue (self, job->rid, job->rid_len, &f);
        free (json);
    }
}

/* ---- delivery ------------------------------------------------------------- */

/* Deliveries to one session gathered into one frame: a backlog costs one
 * transport message per S_DELIVERS_MAX records (or S_DELIVERS_BYTES),
 * not one per record. */
#define S_DELIVERS_MAX 256
#define S_DELIVERS_BYTES (1u << 20)

typedef struct s_delivers {
    Macx__MailboxEntry *entry[S_DELIVERS_MAX];
    Macx__Deliver item[S_DELIVERS_MAX];
    Macx__Deliver *ptr[S_DELIVERS_MAX];
    size_t size[S_DELIVERS_MAX];
    size_t n, bytes;
} s_delivers_t;

/* Sends what d holds to session s: one Deliver frame for one record, a
 * Delivers frame for more. They were counted in flight as they were added
 * (so that s_full sees them); a frame that cannot be sent uncounts them. */
static void
s_delivers_send (macx_core_t *self, s_session_t *s, s_delivers_t *d)
{
    if (!d->n)
        return;
    Macx__Frame f = MACX__FRAME__INIT;
    Macx__Delivers many = MACX__DELIVERS__INIT;
    if (d->n == 1) {
        f.kind_case = MACX__FRAME__KIND_DELIVER;
        f.deliver = &d->item[0];
    }
    else {
        many.deliveries = d->ptr;
        many.n_deliveries = d->n;
        f.kind_case = MACX__FRAME__KIND_DELIVERS;
        f.delivers = &many;
    }
    bool sent = s_send_frame (self, s->rid, s->rid_len, &f);
    self->delivery_frames += sent;
    for (size_t i = 0; i < d->n; i++) {
        if (!sent) {
            s->inflight--;
            s->inflight_bytes -= d->size[i];
        }
        else if (d->item[i].redelivery)
            self->redelivered++;
        macx__mailbox_entry__free_unpacked (d->entry[i], NULL);
    }
    d->n = d->bytes = 0;
}

/* Adds mailbox entry v (mailbox seq mseq) to what goes to s, sending when
 * the frame is full. A redelivery: resent (after a reconnect), or stored by
 * an earlier broker run. */
static void
s_delivers_add (macx_core_t *self, s_session_t *s, s_delivers_t *d, uint64_t mseq,
                const MDB_val *v, bool resent)
{
    Macx__MailboxEntry *m = macx__mailbox_entry__unpack (NULL, v->mv_size, v->mv_data);
    if (!m)
        return;
    Macx__Deliver *dl = &d->item[d->n];
    macx__deliver__init (dl);
    dl->mailbox_seq = mseq;
    dl->envelope = m->envelope;
    dl->redelivery = resent || m->stored_ms < self->b->started_ms;
    dl->clock_ms = m->clock_ms;
    dl->arrive_ms = m->arrive_ms;
    dl->terms = m->terms;
    d->entry[d->n] = m;
    d->ptr[d->n] = dl;
    d->size[d->n] = v->mv_size;
    d->bytes += v->mv_size;
    s->inflight++;
    s->inflight_bytes += v->mv_size;
    if (++d->n == S_DELIVERS_MAX || d->bytes >= S_DELIVERS_BYTES)
        s_delivers_send (self, s, d);
}

/* Sends session s the mailbox entry v at once, on its own. */
static void
s_send_deliver (macx_core_t *self, s_session_t *s, uint64_t mseq, const MDB_val *v, bool resent)
{
    s_delivers_t *d = self->delivers;
    s_delivers_add (self, s, d, mseq, v, resent);
    s_delivers_send (self, s, d);
}

/* True when s may have no more deliveries outstanding: its credit, or the
 * bytes limit (one delivery always fits, however large). */
static bool
s_full (const macx_core_t *self, const s_session_t *s)
{
    return s->inflight >= s->window
           || (s->inflight && s->inflight_bytes >= self->b->cfg.limits.max_inflight_bytes);
}

static void
s_deliver (macx_core_t *self)
{
    MDB_txn *txn = NULL;
    for (int i = 0; i < self->nsessions; i++) {
        s_session_t *s = &self->sessions[i];
        /* A federate's records go with its grants (s_grant), in time order. */
        if (!s->connected || !s->dirty || s_full (self, s) || s->fed >= 0)
            continue;
        if (!txn && mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn))
            return;
        MDB_cursor *cur;
        if (mdb_cursor_open (txn, self->mailbox, &cur))
            break;
        uint8_t key[64];
        size_t alen = strlen (s->agency) + 1;
        MDB_val k = { s_mailbox_key (s->agency, s->cursor, key), key }, d;
        int rc = mdb_cursor_get (cur, &k, &d, MDB_SET_RANGE);
        bool more = false;
        while (rc == 0 && k.mv_size == alen + 8 && memcmp (k.mv_data, s->agency, alen) == 0) {
            if (s_full (self, s)) {
                more = true;
                break;
            }
            uint64_t mseq = s_get_be64 ((uint8_t *) k.mv_data + alen);
            if (mseq >= self->durable_mseq) {   /* its commit is not on disk yet */
                more = true;
                break;
            }
            s_delivers_add (self, s, self->delivers, mseq, &d, mseq < s->resent_below);
            s->cursor = mseq + 1;
            rc = mdb_cursor_get (cur, &k, &d, MDB_NEXT);
        }
        mdb_cursor_close (cur);
        s_delivers_send (self, s, self->delivers);
        s->dirty = more;
    }
    if (txn)
        mdb_txn_abort (txn);
}

/* ---- simulated time: grants ------------------------------------------------ */

static void
s_send_grant (macx_core_t *self, s_session_t *s, int64_t until, bool end, const char *why)
{
    Macx__TimeGrant g = MACX__TIME_GRANT__INIT;
    g.until_ms = until;
    g.verdict_ms = self->verdict_ms;
    g.end = end;
    g.why = (char *) (why ? why : "");
    Macx__Frame f = MACX__FRAME__INIT;
    f.kind_case = MACX__FRAME__KIND_TIME_GRANT;
    f.time_grant = &g;
    s_send_frame (self, s->rid, s->rid_len, &f);
}

/* Sends a federate the records due in its window, in time order, within
 * its credit. Returns the end of the window it can be granted: until, or
 * the time of the first record its credit could not take. */
static int64_t
s_deliver_due (macx_core_t *self, s_session_t *s, MDB_txn **txn, int64_t until)
{
    uint64_t mseq;
    int64_t at;
    while (s->inflight < s->window && macx_simtime_take (self->sim, s->fed, until, &mseq, &at)) {
        if (!*txn && mdb_txn_begin (self->env, NULL, MDB_RDONLY, txn)) {
            *txn = NULL;
            macx_simtime_restore (self->sim, s->fed, at, mseq);
            return at;
        }
        uint8_t key[64];
        MDB_val k = { s_mailbox_key (s->agency, mseq, key), key }, d;
        if (mdb_get (*txn, self->mailbox, &k, &d) == 0)   /* else receipted or purged */
            s_send_deliver (self, s, mseq, &d, false);
    }
    int64_t next = macx_simtime_next_arrival (self->sim, s->fed);
    return next < until ? next : until;
}

/* After every batch: applies the federates' time requests whose records
 * have all been judged, then grants every idle federate that can advance
 * the window it may have (bound, capped by the pace), its due records
 * first; or, once nothing is left, tells every federate the simulation has
 * ended. */
static void
s_grant (macx_core_t *self)
{
    if (!self->sim)
        return;
    const macx_broker_clock_t *c = &self->b->cfg.clock;
    for (int f = 0; f < c->nfederates; f++) {
        s_fedreq_t *q = &self->fedreq[f];
        if (!q->held || q->judged < q->sequence)
            continue;
        q->held = false;
        if (macx_simtime_request (self->sim, f, q->next_ms)) {
            int64_t lo = 0, hi = 0;
            char a[24], b[24];
            macx_simtime_window (self->sim, f, &lo, &hi);
            macx_log (MACX_LOG_ERROR, "time violation: a federate asks for time with an event "
                      "before its grant", "federate=%s next=%s granted=%s", c->federates[f],
                      macx_time_format (q->next_ms, a), macx_time_format (hi, b));
        }
    }
    if (!macx_simtime_joined (self->sim))
        return;
    int64_t wall = macx_clock_wall_ms ();
    if (!self->pace_t0_ms) {
        self->pace_t0_ms = wall;
        macx_log (MACX_LOG_INFO, "simulated clock started", "federates=%d pace_ms=%g",
                  c->nfederates, c->pace_ms);
    }
    if (macx_simtime_ended (self->sim)) {
        char why[160], a[24];
        int64_t now = macx_simtime_now (self->sim);
        if (c->end_ms && now != S_NEVER)
            snprintf (why, sizeof why, "the simulated clock reached its end (%s)",
                      macx_time_format (c->end_ms, a));
        else
            snprintf (why, sizeof why, "nothing is left to happen (last grant %s)",
                      macx_time_format (macx_simtime_frontier (self->sim), a));
        if (!self->ended) {
            self->ended = true;
            macx_log (MACX_LOG_INFO, "simulation ended", "why=\"%s\" grants=%" PRIu64, why,
                      macx_simtime_grants (self->sim));
        }
        for (int i = 0; i < self->nsessions; i++) {
            s_session_t *s = &self->sessions[i];
            if (s->fed >= 0 && s->connected && !self->fedreq[s->fed].told_end) {
                s_send_grant (self, s, 0, true, why);
                self->fedreq[s->fed].told_end = true;
            }
        }
        return;
    }
    int64_t bounds[MACX_BROKER_MAX_FEDERATES];
    macx_simtime_bounds (self->sim, bounds);
    int64_t cap = S_NEVER;
    if (c->pace_ms > 0)
        cap = c->start_ms + (int64_t) ((double) (wall - self->pace_t0_ms) * S_DAY_MS / c->pace_ms);
    MDB_txn *txn = NULL;
    for (int i = 0; i < self->nsessions; i++) {
        s_session_t *s = &self->sessions[i];
        if (s->fed < 0 || !s->connected || !bounds[s->fed])
            continue;
        int64_t lo = macx_simtime_promise (self->sim, s->fed);
        int64_t until = bounds[s->fed] < cap ? bounds[s->fed] : cap;
        if (until <= lo)
            continue;   /* waiting for the pace */
        until = s_deliver_due (self, s, &txn, until);
        if (until <= lo) {
            char a[24];
            macx_log (MACX_LOG_ERROR, "a federate's credit is too small for the records due at "
                      "one time", "federate=%s at=%s credit=%u", s->agency,
                      macx_time_format (lo, a), s->window);
            continue;
        }
        s_send_grant (self, s, until, false, NULL);
        macx_simtime_grant (self->sim, s->fed, lo, until);
    }
    if (txn)
        mdb_txn_abort (txn);
}

/* ---- retention ------------------------------------------------------------ */

static int
s_purge (macx_core_t *self, MDB_txn *txn)
{
    int32_t today = (int32_t) (s_now (self) / S_DAY_MS);
    MDB_cursor *cur;
    if (mdb_cursor_open (txn, self->mailbox, &cur))
        return -1;
    MDB_val k, d;
    int rc = mdb_cursor_get (cur, &k, &d, MDB_FIRST), failed = 0;
    while (rc == 0) {
        Macx__MailboxEntry *m = macx__mailbox_entry__unpack (NULL, d.mv_size, d.mv_data);
        if (m && m->expires_day > 0 && m->expires_day < today) {
            Macx__AuditEntry e = MACX__AUDIT_ENTRY__INIT;
            e.event = "purge";
            e.recipient = (char *) k.mv_data;   /* NUL-terminated agency prefix */
            s_entry_from_mailbox (&e, m);
            e.sim_day = today;
            e.clock_ms = m->clock_ms;
            e.message = "retention period ended before delivery; stored copy erased";
            e.terms = m->terms;
            uint64_t seq;
            s_session_t *s = s_session (self, (char *) k.mv_data, false);
            if (s_audit (self, txn, &e, &seq) || mdb_cursor_del (cur, 0)) {
                failed = 1;
                macx__mailbox_entry__free_unpacked (m, NULL);
                break;
            }
            if (s && s->depth)
                s->depth--;
            self->purged++;
        }
        if (m)
            macx__mailbox_entry__free_unpacked (m, NULL);
        rc = mdb_cursor_get (cur, &k, &d, MDB_NEXT);
    }
    mdb_cursor_close (cur);
    return failed ? -1 : 0;
}

/* ---- retention at the recipient ------------------------------------------ */

/* docs/protocol.md "Retention at the recipient". The broker tells each
 * recipient, with each delivery, the terms its copy is held under (the
 * agreement and flow that permitted it, the legal bases, when the copy's
 * retention ends and what is done then). A copy receipted as delivered is
 * held (the "held" table: recipient, NUL, record id -> the mailbox entry
 * without its envelope) until the recipient's signed retention receipt says
 * it was deleted or anonymised; a review leaves it held. */

/* Fills t with the terms of recipient's copy of h, judged by r (borrowing
 * from the policy); NULL when no agreement decided. */
static Macx__Terms *
s_terms (const macx_core_t *self, Macx__Terms *t, const Macx__Header *h, const char *recipient,
         const macx_policy_result_t *r, int64_t stamp, int64_t arrive)
{
    if (!r->agreement)
        return NULL;
    t->agreement = (char *) r->agreement;
    t->flow = (char *) (r->flow ? r->flow : "");
    if (r->retention_days > 0) {
        bool creation = r->retention_from && strcmp (r->retention_from, "creation") == 0;
        t->retention_days = (uint32_t) r->retention_days;
        t->retention_from = (char *) (creation ? "creation" : "receipt");
        t->expires_ms = (creation ? stamp : arrive) + (int64_t) r->retention_days * S_DAY_MS;
        t->on_expiry = (char *) (r->on_expiry ? r->on_expiry : "delete");
    }
    const char *disclose, *receive;
    macx_policy_legal_bases (self->b->policy, r->agreement, h->sender, recipient, &disclose,
                             &receive);
    t->disclose_basis = (char *) disclose;
    t->receive_basis = (char *) receive;
    return t;
}

/* Held key: the recipient, NUL, the record id. */
static size_t
s_held_key (const char *agency, const uint8_t *id, size_t id_len, uint8_t *out)
{
    size_t n = strlen (agency);
    memcpy (out, agency, n + 1);
    memcpy (out + n + 1, id, id_len);
    return n + 1 + id_len;
}

/* A delivery receipted: agency holds its copy under m's terms from now. */
static int
s_held_put (macx_core_t *self, MDB_txn *txn, const char *agency, const Macx__MailboxEntry *m)
{
    if (!m->terms || m->record_id.len != MACX_RECORD_ID_BYTES)
        return 0;
    Macx__MailboxEntry held = *m;   /* shallow: the envelope is not kept */
    held.envelope = (ProtobufCBinaryData) { 0, NULL };
    uint8_t key[MACX_AGENCY_ID_MAX + 1 + MACX_RECORD_ID_BYTES];
    MDB_val k = { s_held_key (agency, m->record_id.data, m->record_id.len, key), key };
    MDB_val d = { macx__mailbox_entry__get_packed_size (&held), NULL };
    int rc = mdb_put (txn, self->held, &k, &d, MDB_RESERVE);
    if (rc) {
        macx_log (MACX_LOG_ERROR, "held copy write failed", "error=\"%s\"", mdb_strerror (rc));
        return -1;
    }
    macx__mailbox_entry__pack (&held, d.mv_data);
    return 0;
}

/* What each action does, and how much of the copy it leaves: an action
 * satisfies an agreement's on_expiry when it leaves no more than it asks. */
static const struct {
    const char *action, *event, *on_expiry;
    int strength;
    bool releases;               /* the copy is no longer held */
} s_retention_actions[] = {
    { "deleted", "retention_deleted", "delete", 3, true },
    { "anonymised", "retention_anonymised", "anonymise", 2, true },
    { "review", "retention_review", "review", 1, false },
};
#define S_RETENTION_ACTIONS (sizeof s_retention_actions / sizeof s_retention_actions[0])

static int
s_retention_strength (const char *on_expiry)
{
    for (size_t i = 0; on_expiry && i < S_RETENTION_ACTIONS; i++)
        if (strcmp (on_expiry, s_retention_actions[i].on_expiry) == 0)
            return s_retention_actions[i].strength;
    return 0;
}

/* Audits a refused retention receipt (m, when found, names the copy). */
static int
s_retention_refuse (macx_core_t *self, MDB_txn *txn, const macx_job_t *job,
                    const Macx__MailboxEntry *m, int reason, const char *message)
{
    const Macx__RetentionReceipt *r = job->retention;
    Macx__AuditEntry e = MACX__AUDIT_ENTRY__INIT;
    e.event = "retention_refused";
    e.peer = (char *) job->agency;
    e.recipient = (char *) job->agency;
    e.reason = reason;
    e.message = (char *) message;
    e.clock_ms = s_now (self);
    if (r) {
        e.record_id = r->record_id;
        e.acted_ms = r->at_ms;
        e.agency_signature = r->signature;
    }
    if (m) {
        e.sender = m->sender;
        e.case_id = m->case_id;
        e.subject = m->subject;
        e.phase = m->phase;
        e.record_type = m->record_type;
        e.terms = m->terms;
        e.agreement = m->terms ? m->terms->agreement : "";
    }
    uint64_t seq;
    self->retention_refused++;
    macx_log (MACX_LOG_WARN, "retention receipt refused", "peer=%s reason=%s why=\"%s\"",
              job->agency, macx_reason_name (reason), message);
    return s_audit (self, txn, &e, &seq);
}

/* The time a retention receipt claims, against the broker's clock: a
 * federate's inside the window it was granted (as a record's claim), anyone
 * else's not in the future. 0 with *clock the broker's time of it, or -1
 * with msg. */
static int
s_retention_clock (const macx_core_t *self, const macx_job_t *job, int64_t at, int64_t *clock,
                   char *msg, size_t size)
{
    char a[24], b[24], c[24];
    int f = s_fed (self, job->agency);
    if (f >= 0) {
        int64_t lo, hi;
        if (!macx_simtime_window (self->sim, f, &lo, &hi) || macx_simtime_idle (self->sim, f)) {
            snprintf (msg, size, "the retention receipt claims %s, but %s holds no grant of "
                      "simulated time", macx_time_format (at, a), job->agency);
            return -1;
        }
        if (at < lo || at >= hi) {
            snprintf (msg, size, "the retention receipt claims %s; the broker has granted %s the "
                      "simulated time from %s to %s", macx_time_format (at, a), job->agency,
                      macx_time_format (lo, b), macx_time_format (hi, c));
            return -1;
        }
        *clock = at;
        return 0;
    }
    *clock = s_now (self);
    if (at > *clock + self->skew_ms) {
        snprintf (msg, size, "the retention receipt claims %s, after the broker's clock (%s)",
                  macx_time_format (at, a), macx_time_format (*clock, b));
        return -1;
    }
    return 0;
}

/* A retention receipt: verified (io's verifier), about a copy the agency
 * holds, an action the copy's terms allow, at a time the clock allows:
 * audited, and the copy released (deleted, anonymised) or left held
 * (review). Anything else is audited as refused. -1 on a store failure. */
static int
s_retention (macx_core_t *self, MDB_txn *txn, macx_job_t *job)
{
    if (job->rc)
        return s_retention_refuse (self, txn, job, NULL, MACX__REASON__RETENTION_UNVERIFIED,
                                   macx_error_text (&job->err));
    const Macx__RetentionReceipt *r = job->retention;
    char msg[512], id[2 * MACX_RECORD_ID_BYTES + 1] = "";
    size_t a = 0;
    while (a < S_RETENTION_ACTIONS && strcmp (r->action, s_retention_actions[a].action) != 0)
        a++;
    if (r->record_id.len != MACX_RECORD_ID_BYTES) {
        snprintf (msg, sizeof msg, "retention receipt from %s names a record id of %zu bytes, "
                  "not %d", job->agency, r->record_id.len, MACX_RECORD_ID_BYTES);
        return s_retention_refuse (self, txn, job, NULL, MACX__REASON__RETENTION_UNVERIFIED, msg);
    }
    macx_hex_encode (r->record_id.data, MACX_RECORD_ID_BYTES, id);
    if (a == S_RETENTION_ACTIONS) {
        snprintf (msg, sizeof msg, "retention receipt from %s for record %s names action '%.40s' "
                  "(deleted, anonymised or review)", job->agency, id, r->action);
        return s_retention_refuse (self, txn, job, NULL, MACX__REASON__RETENTION_UNVERIFIED, msg);
    }
    uint8_t key[MACX_AGENCY_ID_MAX + 1 + MACX_RECORD_ID_BYTES];
    MDB_val k = { s_held_key (job->agency, r->record_id.data, r->record_id.len, key), key }, d;
    int rc = mdb_get (txn, self->held, &k, &d);
    if (rc == MDB_NOTFOUND) {
        snprintf (msg, sizeof msg, "%s holds no copy of record %s delivered by the broker (never "
                  "delivered to it, or already deleted or anonymised)", job->agency, id);
        return s_retention_refuse (self, txn, job, NULL, MACX__REASON__RETENTION_NOT_HELD, msg);
    }
    if (rc)
        return -1;
    Macx__MailboxEntry *m = macx__mailbox_entry__unpack (NULL, d.mv_size, d.mv_data);
    if (!m)
        return -1;   /* ours, and unreadable: the store is damaged */
    const Macx__Terms *t = m->terms;
    const char *on_expiry = t && t->on_expiry ? t->on_expiry : "";
    int64_t clock;
    if (s_retention_clock (self, job, r->at_ms, &clock, msg, sizeof msg)) {
        rc = s_retention_refuse (self, txn, job, m, MACX__REASON__CLOCK_SKEW, msg);
        macx__mailbox_entry__free_unpacked (m, NULL);
        return rc;
    }
    if (s_retention_actions[a].strength < s_retention_strength (on_expiry)) {
        snprintf (msg, sizeof msg, "%s says '%s' for record %s, but %s/%s asks '%s' at expiry",
                  job->agency, r->action, id, t->agreement, t->flow, on_expiry);
        rc = s_retention_refuse (self, txn, job, m, MACX__REASON__RETENTION_ACTION_MISMATCH, msg);
        macx__mailbox_entry__free_unpacked (m, NULL);
        return rc;
    }
    char when[24];
    if (t && t->expires_ms)
        snprintf (msg, sizeof msg, "%s %s its copy (%s/%s: %s on %s)", job->agency,
                  r->action[0] == 'r' ? "put under review" : r->action, t->agreement, t->flow,
                  on_expiry, macx_time_format (t->expires_ms, when));
    else
        snprintf (msg, sizeof msg, "%s %s its copy (%s/%s states no retention)", job->agency,
                  r->action[0] == 'r' ? "put under review" : r->action, t ? t->agreement : "",
                  t ? t->flow : "");
    Macx__AuditEntry e = MACX__AUDIT_ENTRY__INIT;
    e.event = (char *) s_retention_actions[a].event;
    e.peer = job->agency;
    e.recipient = job->agency;
    s_entry_from_mailbox (&e, m);
    e.sequence = m->sequence;
    e.agreement = t && t->agreement ? t->agreement : "";
    e.flow = t && t->flow ? t->flow : "";
    e.retention_days = t ? t->retention_days : 0;
    e.terms = m->terms;
    e.acted_ms = r->at_ms;
    e.agency_signature = r->signature;
    e.clock_ms = clock;
    e.message = msg;
    uint64_t seq;
    rc = s_audit (self, txn, &e, &seq);
    macx__mailbox_entry__free_unpacked (m, NULL);
    if (rc || (s_retention_actions[a].releases && mdb_del (txn, self->held, &k, NULL)))
        return -1;
    self->retention_receipts++;
    return 0;
}

/* ---- batches -------------------------------------------------------------- */

static void
s_job_free (macx_core_t *self, macx_job_t *job)
{
    if (job->kind != JOB_DRAIN && job->kind != JOB_GONE && job->kind != JOB_CUT)
        zmq_msg_close (&job->msg);
    macx_record_destroy (&job->record);
    if (job->receipt)
        macx__receipt__free_unpacked (job->receipt, NULL);
    if (job->hello)
        macx__hello__free_unpacked (job->hello, NULL);
    if (job->credit)
        macx__credit__free_unpacked (job->credit, NULL);
    if (job->time)
        macx__time_request__free_unpacked (job->time, NULL);
    if (job->complaint) {
        macx_record_complaint_check_clear (job->complaint);
        free (job->complaint);
    }
    if (job->retention)
        macx__retention_receipt__free_unpacked (job->retention, NULL);
    free (job->changes);
    free (job);
    /* io's bound on what core holds, in records (a chain counts each) */
    __atomic_add_fetch (&self->b->done, 1, __ATOMIC_RELEASE);
}

/* Frees job and the records chained to it (a chain not yet run). */
static void
s_job_free_chain (macx_core_t *self, macx_job_t *job)
{
    while (job) {
        macx_job_t *next = job->next;
        s_job_free (self, job);
        job = next;
    }
}

/* True when the wall clock calls for a checkpoint: something written since
 * the last one, 5 s ago. Never on a simulated clock: there a checkpoint
 * comes by count (checkpoint_every) and at stop, so a pilot's audit log is
 * the same on any machine at any load. */
static bool
s_checkpoint_due (const macx_core_t *self, int64_t now)
{
    return !self->sim && macx_audit_since_checkpoint (self->audit) > 0
           && now - self->last_checkpoint_ms > 5000;
}

/* True when a batch has nothing to write: only session jobs (hello, credit,
 * statistics, time requests) and no purge or checkpoint due. A pilot's
 * rounds are mostly such batches; they need no transaction. */
static bool
s_batch_reads_only (macx_core_t *self, macx_job_t **jobs, size_t n, bool final, int64_t now)
{
    if (final || now - self->last_purge_ms >= self->b->cfg.purge_interval_ms
        || s_checkpoint_due (self, now))
        return false;
    for (size_t i = 0; i < n; i++)
        if (jobs[i]->kind == JOB_RECORD || jobs[i]->kind == JOB_RECEIPT
            || jobs[i]->kind == JOB_COMPLAINT || jobs[i]->kind == JOB_RETENTION
            || jobs[i]->kind == JOB_MALFORMED || jobs[i]->kind == JOB_CUT
            || jobs[i]->kind == JOB_RELOAD)
            return false;
    return !self->nunaudited;
}

/* Processes jobs in one write transaction; on a store failure the batch
 * is aborted and every record in it is refused STORE_UNAVAILABLE (nothing
 * of it was written; senders retry). */
static void
s_batch (macx_core_t *self, macx_job_t **jobs, size_t n, bool final)
{
    uint64_t t0 = macx_clock_mono_ns ();
    if (n && s_batch_reads_only (self, jobs, n, final, macx_clock_wall_ms ())) {
        for (size_t i = 0; i < n; i++)
            s_session_job (self, jobs[i]);
        s_flush_replies (self);
        s_deliver (self);
        s_grant (self);
        return;
    }
    MDB_txn *txn = NULL;
    uint64_t mseq0 = self->next_mseq;
    size_t replies0 = self->nreplies, acks0 = self->nacks;
    self->narrivals = 0;
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    bool failed = rc != 0;
    /* First the gaps earlier aborted batches left: this transaction may move
     * their senders' sequences past them. */
    if (!failed && self->nnewgaps)
        failed = s_gaps_write (self, txn) != 0;
    /* registry changes whose audit entries an aborted transaction lost */
    size_t unaudited = self->nunaudited;
    if (!failed && unaudited)
        failed = s_key_changes_audit (self, txn, self->unaudited, unaudited, NULL, 0) != 0;
    for (size_t i = 0; i < n && !failed; i++) {
        macx_job_t *job = jobs[i];
        switch (job->kind) {
        case JOB_RECORD:  failed = s_judge_record (self, txn, job) != 0; break;
        case JOB_RECEIPT: failed = s_receipt (self, txn, job) != 0; break;
        case JOB_COMPLAINT: failed = s_complaint (self, txn, job) != 0; break;
        case JOB_RETENTION: failed = s_retention (self, txn, job) != 0; break;
        case JOB_MALFORMED: {
            char msg[200];
            size_t size = zmq_msg_size (&job->msg);
            bool big = job->err.code ? job->err.code == MACX_ETOOBIG
                                     : size > MACX_RECORD_MAX + 4096;
            if (job->err.code)   /* io said what is wrong with a records frame */
                snprintf (msg, sizeof msg, "%s", job->err.msg);
            else if (big)
                snprintf (msg, sizeof msg, "frame of %zu bytes is over the broker's limit of %u "
                          "bytes", size, MACX_RECORD_MAX + 4096);
            else
                snprintf (msg, sizeof msg, "frame of %zu bytes is not a macx frame", job->body_len);
            failed = s_refuse (self, txn, job, NULL, big ? MACX__REASON__TOO_LARGE
                                                         : MACX__REASON__MALFORMED,
                               msg, NULL, NULL, 0, NULL) != 0;
            break;
        }
        case JOB_CUT: failed = s_cut (self, txn, job) != 0; break;
        case JOB_RELOAD: failed = s_reload (self, txn, jobs, i) != 0; break;
        default: break;
        }
    }
    int64_t now = macx_clock_wall_ms ();
    if (!failed && (final || now - self->last_purge_ms >= self->b->cfg.purge_interval_ms)) {
        failed = s_purge (self, txn) != 0 || s_gaps_purge (self, txn) != 0;
        self->last_purge_ms = now;
    }
    if (!failed && self->next_mseq != mseq0)
        failed = s_meta_put_u64 (txn, self->meta, "next_mseq", self->next_mseq) != 0;
    if (!failed && final) {
        Macx__AuditEntry e = MACX__AUDIT_ENTRY__INIT;
        e.event = "stop";
        e.policy_hash = (char *) macx_policy_hash (self->b->policy);
        e.message = "broker stopped cleanly";
        uint64_t seq;
        failed = s_audit (self, txn, &e, &seq) != 0;
    }
    if (!failed && (final || macx_audit_since_checkpoint (self->audit)
                                 >= (uint64_t) self->b->cfg.checkpoint_every
                    || s_checkpoint_due (self, now))) {
        macx_error_t err = { 0 };
        failed = macx_audit_checkpoint (self->audit, txn, self->b->identity, &err) != 0;
        if (failed)
            macx_log (MACX_LOG_ERROR, "checkpoint failed", "error=\"%s\"", macx_error_text (&err));
        else
            self->last_checkpoint_ms = now;
    }
    if (!failed) {
        uint64_t c0 = macx_clock_mono_ns ();
        rc = mdb_txn_commit (txn);   /* fsync: nothing is acknowledged before this */
        macx_hist_add (&self->sync_us, (macx_clock_mono_ns () - c0) / 1000);
        txn = NULL;
        failed = rc != 0;
        if (failed)
            macx_log (MACX_LOG_ERROR, "commit failed", "error=\"%s\"", mdb_strerror (rc));
    }
    s_batch_order_settle (self, !failed);
    s_reload_settle (self, !failed, unaudited);
    if (failed) {
        if (txn)
            mdb_txn_abort (txn);
        macx_audit_aborted (self->audit);
        self->next_mseq = mseq0;
        self->narrivals = 0;
        for (size_t i = replies0; i < self->nreplies; i++)
            s_reply_clear (&self->replies[i]);
        self->nreplies = replies0;
        self->nacks = acks0;
        self->store_errors++;
        macx_log (MACX_LOG_ERROR, "store unavailable: batch refused, nothing written",
                  "records=%zu hint=\"map full or disk error; see map_size\"", n);
        s_gaps_note (self, jobs, n);
        for (size_t i = 0; i < n; i++)
            if (jobs[i]->kind == JOB_RELOAD && !jobs[i]->rc)
                s_reload_keep (self, jobs[i]);
        for (size_t i = 0; i < n; i++)
            if (jobs[i]->kind == JOB_RECORD) {
                const Macx__Header *h = jobs[i]->record ? macx_record_header (jobs[i]->record) : NULL;
                s_nack (self, jobs[i], h, MACX__REASON__STORE_UNAVAILABLE,
                        "the broker could not store the record (store full or disk error); "
                        "nothing was stored, send it again later", NULL, NULL, 0, s_now (self),
                        s_verdict_at (self, jobs[i]->agency, 0));
            }
    }
    else {
        macx_audit_committed (self->audit);
        self->nnewgaps = 0;   /* written */
        /* What reaches a federate waits in the simulated clock for its time. */
        for (size_t i = 0; i < self->narrivals; i++) {
            int f = self->arrivals[i].fed;
            if (macx_simtime_arrival (self->sim, f, self->arrivals[i].at, self->arrivals[i].mseq)) {
                int64_t lo = 0, hi = 0;
                char a[24], b[24];
                macx_simtime_window (self->sim, f, &lo, &hi);
                macx_log (MACX_LOG_ERROR, "time violation: a record reaches a federate in its past",
                          "federate=%s arrive=%s granted=%s mailbox_seq=%" PRIu64,
                          self->b->cfg.clock.federates[f], macx_time_format (self->arrivals[i].at, a),
                          macx_time_format (hi, b), self->arrivals[i].mseq);
            }
        }
        self->narrivals = 0;
        /* Count new mail per recipient for the sessions. */
        for (size_t i = 0; i < n; i++) {
            if (jobs[i]->kind != JOB_RECORD || !jobs[i]->accepted)
                continue;
            const Macx__Header *h = macx_record_header (jobs[i]->record);
            for (size_t r = 0; r < h->n_recipients; r++) {
                s_session_t *s = s_session (self, h->recipients[r], true);
                if (s) {
                    s->dirty = true;
                    s->depth++;
                }
            }
        }
    }
    self->batches++;
    macx_hist_add (&self->batch_size, n);
    macx_hist_add (&self->commit_us, (macx_clock_mono_ns () - t0) / 1000);
    bool defer = !failed && self->defer_sync && !final;
    if (defer) {
        /* This commit's sync carried the previous transaction's meta page:
         * that one is on disk, and what waited for it goes. */
        self->durable_mseq = mseq0;
        s_flush_some (self, self->held_acks, self->held_replies);
        self->held_acks = self->held_replies = 0;
        self->syncs_deferred++;
    }
    if (!failed)
        self->meta_pending = self->b->cfg.sync;   /* this commit's own meta page */
    for (size_t i = 0; i < n; i++)
        if (jobs[i]->kind != JOB_RECORD && jobs[i]->kind != JOB_RECEIPT)
            s_session_job (self, jobs[i]);
    if (defer) {
        /* This transaction's answers wait for the next commit, or for the
         * sync core does when nothing more is ready (macx_core_run). */
        self->held_acks = self->nacks;
        self->held_replies = self->nreplies;
    }
    else
        s_flush_replies (self);   /* syncs first */
    s_deliver (self);
    s_grant (self);
}

/* ---- lifecycle ------------------------------------------------------------ */

/* The clock: its skew, and for a simulated clock the lookahead of every
 * route between federates (the least transit it can draw). */
static int
s_clock_new (macx_core_t *self, macx_error_t *err)
{
    const macx_broker_clock_t *c = &self->b->cfg.clock;
    self->skew_ms = c->max_skew_ms >= 0 ? c->max_skew_ms
                    : c->simulated ? 0 : MACX_BROKER_DEFAULT_SKEW_MS;
    if (!c->simulated)
        return MACX_OK;
    if (macx_broker_config_check_clock (c, err))
        return err ? err->code : MACX_EINVAL;
    int n = c->nfederates;
    self->verdict_ms = llround (c->verdict_hours * 3600000.0);
    self->lookahead = calloc ((size_t) n * (size_t) n, sizeof *self->lookahead);
    if (!self->lookahead)
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    for (int k = 0; k < n; k++)
        for (int j = 0; j < n; j++) {
            double least = macx_dist_min (macx_broker_clock_transit (c, c->federates[k],
                                                                     c->federates[j]));
            int64_t ms = (int64_t) ceil (least * 3600000.0);
            self->lookahead[k * n + j] = ms > 0 ? ms : 1;
        }
    self->sim = macx_simtime_new (n, self->lookahead, self->verdict_ms,
                                  c->end_ms ? c->end_ms : S_NEVER);
    if (!self->sim)
        return macx_error_set (err, MACX_ENOMEM, "cannot set up the simulated clock");
    char a[24];
    macx_log (MACX_LOG_INFO, "simulated clock", "start=%s federates=%d verdict_ms=%" PRId64
              " pace_ms=%g", macx_time_format (c->start_ms, a), n, self->verdict_ms, c->pace_ms);
    return MACX_OK;
}

uint64_t
macx_core_time_violations (const macx_core_t *self)
{
    return self->sim ? macx_simtime_violations (self->sim) : 0;
}

macx_core_t *
macx_core_new (macx_broker_t *b, void *in, void *out, macx_error_t *err)
{
    macx_core_t *self = calloc (1, sizeof *self);
    if (!self) {
        macx_error_set (err, MACX_ENOMEM, "out of memory");
        return NULL;
    }
    self->b = b;
    self->in = in;
    self->out = out;
    self->next_ticket = 1;
    if (!(self->delivers = calloc (1, sizeof *self->delivers))
        || !(self->signer = macx_answer_signer_new (b->identity))) {
        free (self->delivers);
        free (self);
        macx_error_set (err, MACX_ENOMEM, "out of memory");
        return NULL;
    }
    macx_hist_reset (&self->batch_size);
    macx_hist_reset (&self->commit_us);
    macx_hist_reset (&self->sync_us);
    MDB_txn *txn = NULL;
    int rc;
    if (s_clock_new (self, err))
        goto fail;
    if ((rc = mdb_env_create (&self->env))
        || (rc = mdb_env_set_maxdbs (self->env, MACX_AUDIT_MAXDBS))
        || (rc = mdb_env_set_mapsize (self->env, b->cfg.map_size))
        || (rc = mdb_env_open (self->env, b->cfg.data_dir,
                               MDB_NOTLS | (b->cfg.sync ? MDB_NOMETASYNC : MDB_NOSYNC),
                               0600))) {
        macx_error_set (err, MACX_ESTORE, "%s: cannot open the store: %s", b->cfg.data_dir,
                        mdb_strerror (rc));
        goto fail;
    }
    if ((rc = mdb_txn_begin (self->env, NULL, 0, &txn))
        || (rc = mdb_dbi_open (txn, "mailbox", MDB_CREATE, &self->mailbox))
        || (rc = mdb_dbi_open (txn, "seen", MDB_CREATE, &self->seen))
        || (rc = mdb_dbi_open (txn, "senders", MDB_CREATE, &self->senders))
        || (rc = mdb_dbi_open (txn, "counters", MDB_CREATE, &self->counters))
        || (rc = mdb_dbi_open (txn, "meta", MDB_CREATE, &self->meta))
        || (rc = mdb_dbi_open (txn, "gaps", MDB_CREATE, &self->gaps))
        || (rc = mdb_dbi_open (txn, "cases", MDB_CREATE, &self->cases))
        || (rc = mdb_dbi_open (txn, "held", MDB_CREATE, &self->held))) {
        macx_error_set (err, MACX_ESTORE, "%s: %s", b->cfg.data_dir, mdb_strerror (rc));
        goto fail;
    }
    if (!(self->audit = macx_audit_attach (self->env, txn, err)))
        goto fail;
    uint64_t v;
    if ((rc = s_meta_get_u64 (txn, self->meta, "next_mseq", &v))) {
        macx_error_set (err, MACX_ESTORE, "%s: %s", b->cfg.data_dir, mdb_strerror (rc));
        goto fail;
    }
    self->next_mseq = v ? v : 1;
    self->durable_mseq = self->next_mseq;
    self->defer_sync = b->cfg.sync && !self->sim;
    self->meta_pending = b->cfg.sync;   /* the start entry's commit, below */
    MDB_stat st;
    self->gaps_stored = mdb_stat (txn, self->gaps, &st) != 0 || st.ms_entries > 0;
    /* Mailbox depth per agency, for statistics and sessions. */
    MDB_cursor *cur;
    if (mdb_cursor_open (txn, self->mailbox, &cur) == 0) {
        MDB_val k, d;
        int r = mdb_cursor_get (cur, &k, &d, MDB_FIRST);
        while (r == 0) {
            s_session_t *s = s_session (self, (const char *) k.mv_data, true);
            if (s)
                s->depth++;
            r = mdb_cursor_get (cur, &k, &d, MDB_NEXT);
        }
        mdb_cursor_close (cur);
    }
    Macx__AuditEntry e = MACX__AUDIT_ENTRY__INIT;
    e.event = "start";
    e.policy_hash = (char *) macx_policy_hash (b->policy);
    char msg[256];
    snprintf (msg, sizeof msg, "broker started on %s", b->cfg.bind);
    e.message = msg;
    uint64_t seq;
    if (macx_audit_append (self->audit, txn, &e, &seq, err))
        goto fail;
    if ((rc = mdb_txn_commit (txn))) {
        txn = NULL;
        macx_error_set (err, MACX_ESTORE, "%s: commit failed: %s", b->cfg.data_dir,
                        mdb_strerror (rc));
        goto fail;
    }
    txn = NULL;
    macx_audit_committed (self->audit);
    for (int f = 0; self->sim && f < b->cfg.clock.nfederates; f++)
        s_restore_arrivals (self, f);
    self->last_checkpoint_ms = self->last_purge_ms = macx_clock_wall_ms ();
    macx_log (MACX_LOG_INFO, "store open", "data=%s audit_seq=%" PRIu64 " mailboxes=%d",
              b->cfg.data_dir, macx_audit_head_seq (self->audit), self->nsessions);
    return self;
fail:
    if (txn)
        mdb_txn_abort (txn);
    macx_core_destroy (&self);
    return NULL;
}

void
macx_core_destroy (macx_core_t **self_p)
{
    if (self_p && *self_p) {
        macx_core_t *self = *self_p;
        for (size_t i = 0; i < S_RING; i++)
            if (self->ring[i])
                s_job_free_chain (self, self->ring[i]);
        for (size_t i = 0; i < self->nreplies; i++)
            s_reply_clear (&self->replies[i]);
        free (self->replies);
        macx_answer_signer_destroy (&self->signer);
        free (self->ab.leaf);
        free (self->ab.ack);
        free (self->ab.ptr);
        free (self->ab.proof);
        free (self->ab.path);
        free (self->ab.sent);
        free (self->delivers);
        free (self->acks);
        free (self->arrivals);
        free (self->newgaps);
        free (self->lookahead);
        free (self->unaudited);
        free (self->reload_answer);
        macx_policy_destroy (&self->policy_before);
        macx_simtime_destroy (&self->sim);
        macx_audit_destroy (&self->audit);
        if (self->env)
            mdb_env_close (self->env);
        free (self);
        *self_p = NULL;
    }
}

/* The core loop: gather what is ready, restore ticket order, run batches.
 * Returns when the drain marker has been processed. */
void
macx_core_run (macx_core_t *self)
{
    size_t max = (size_t) self->b->cfg.batch_max;
    /* room for a whole Records frame past max: a frame is never split */
    macx_job_t **batch = calloc (max + MACX_FRAME_RECORDS_MAX, sizeof *batch);
    bool done = false;
    int64_t stats_ms = 0;
    while (!done && batch) {
        /* The counters for io, which answers `status` itself: a slow commit
         * or a long queue here does not delay the answer. */
        int64_t now_ms = macx_clock_wall_ms ();
        if (self->b->stats_out && now_ms - stats_ms >= 100) {
            char *json = NULL;
            size_t len = 0;
            s_stats_json (self, &json, &len);
            if (json)
                zmq_send (self->b->stats_out, json, len, ZMQ_DONTWAIT);
            free (json);
            stats_ms = now_ms;
        }
        zmq_pollitem_t item = { self->in, 0, ZMQ_POLLIN, 0 };
        /* A paced clock moves with the wall clock: look again soon. */
        int rc = zmq_poll (&item, 1, self->sim && self->b->cfg.clock.pace_ms > 0 ? 5 : 200);
        if (rc < 0 && zmq_errno () == ETERM)
            break;
        /* Take everything that is ready, without blocking. */
        for (;;) {
            macx_job_t *job;
            if (zmq_recv (self->in, &job, sizeof job, ZMQ_DONTWAIT) != sizeof job)
                break;
            if (job->ticket < self->next_ticket || job->ticket >= self->next_ticket + S_RING
                || self->ring[job->ticket % S_RING]) {
                macx_log (MACX_LOG_ERROR, "ticket out of window (bug)", "ticket=%" PRIu64,
                          job->ticket);
                s_job_free_chain (self, job);
                continue;
            }
            self->ring[job->ticket % S_RING] = job;
        }
        /* Run batches over consecutive tickets. */
        for (;;) {
            size_t n = 0;
            bool drain = false;
            while (n < max) {
                macx_job_t *job = self->ring[self->next_ticket % S_RING];
                if (!job || (n && n + job->group > max))
                    break;
                self->ring[self->next_ticket % S_RING] = NULL;
                self->next_ticket++;
                if (job->kind == JOB_DRAIN) {
                    drain = true;
                    s_job_free (self, job);
                    break;
                }
                for (macx_job_t *j = job; j && n < max + MACX_FRAME_RECORDS_MAX; j = j->next)
                    batch[n++] = j;
            }
            if (n || drain)
                s_batch (self, batch, n, drain);
            for (size_t i = 0; i < n; i++)
                s_job_free (self, batch[i]);
            if (drain) {
                done = true;
                break;
            }
            if (n < max)
                break;
        }
        if (!done && self->meta_pending) {
            /* Answers (or the store at rest) wait for a sync: when nothing
             * more is ready to go into another transaction, sync now rather
             * than wait. */
            zmq_pollitem_t more = { self->in, 0, ZMQ_POLLIN, 0 };
            if (zmq_poll (&more, 1, 0) == 0) {
                s_flush_replies (self);
                s_deliver (self);
            }
        }
        if (!done && rc == 0) {
            /* idle: periodic checkpoint and purge via an empty batch */
            int64_t now = macx_clock_wall_ms ();
            if (s_checkpoint_due (self, now)
                || now - self->last_purge_ms >= self->b->cfg.purge_interval_ms)
                s_batch (self, batch, 0, false);
            else {
                s_deliver (self);
                s_grant (self);
            }
        }
    }
    free (batch);
    /* Tell io we are done: an empty routing id. */
    zmq_send (self->out, "", 0, ZMQ_SNDMORE);
    zmq_send (self->out, "", 0, 0);
}

void
macx_core_session_gone (macx_core_t *self, const uint8_t *rid, size_t rid_len)
{
    for (int i = 0; i < self->nsessions; i++) {
        s_session_t *s = &self->sessions[i];
        if (s->connected && s->rid_len == rid_len && memcmp (s->rid, rid, rid_len) == 0) {
            s->connected = false;
            macx_log (MACX_LOG_INFO, "session lost", "agency=%s inflight=%u", s->agency,
                      s->inflight);
        }
    }
}
