/* core.c -- the broker's judging and storage thread: restores arrival order,
 * judges each record (sender, replay, sequence, recipients, agreements),
 * writes a whole batch in ONE LMDB transaction (audit entries, mailbox
 * entries, replay state, counters), commits, then ACKs/NACKs and delivers
 * from mailboxes within each recipient's credit. Owns the LMDB env. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker_int.h"
#include "clock.h"
#include "core.h"
#include "file.h"
#include "json.h"
#include "log.h"
#include "names.h"

#define S_RING        65536          /* reorder window, tickets */
#define S_SESSIONS    256
#define S_RECIPIENTS  MACX_RECIPIENTS_MAX

typedef struct {
    char agency[MACX_AGENCY_ID_MAX + 1];
    uint8_t rid[MACX_ROUTING_ID_MAX];
    size_t rid_len;
    bool connected;
    uint32_t window;                 /* credit: deliveries outstanding at most */
    uint32_t inflight;
    uint64_t cursor;                 /* next mailbox seq to consider */
    uint64_t resent_below;           /* seqs below this were sent in an earlier session */
    uint64_t depth;                  /* entries in the mailbox */
    bool dirty;                      /* may have something to deliver */
} s_session_t;

typedef struct {
    uint8_t rid[MACX_ROUTING_ID_MAX];
    size_t rid_len;
    uint8_t *frame;                  /* packed Frame, malloc'd */
    size_t len;
} s_reply_t;

struct macx_core_t {
    macx_broker_t *b;
    MDB_env *env;
    MDB_dbi mailbox, seen, senders, counters, meta;
    macx_audit_t *audit;
    void *in;                        /* PULL: jobs from verifiers */
    void *out;                       /* PUSH: [rid][frame] to io */
    macx_job_t *ring[S_RING];
    uint64_t next_ticket;
    s_session_t sessions[S_SESSIONS];
    int nsessions;
    uint64_t next_mseq;
    int32_t day;                     /* broker's current (simulated) day */
    s_reply_t *replies;
    size_t nreplies, capreplies;
    /* ACKs of the batch, sent after commit one frame per sender */
    struct {
        uint8_t rid[MACX_ROUTING_ID_MAX];
        size_t rid_len;
        uint8_t record_id[MACX_RECORD_ID_BYTES];
        uint64_t sequence, audit_seq;
    } *acks;
    size_t nacks, capacks;
    int64_t last_checkpoint_ms;
    int64_t last_purge_ms;
    /* statistics */
    uint64_t accepted, refused, delivered, redelivered, receipts, purged, batches, store_errors;
    uint64_t refused_by[64];
    macx_hist_t batch_size, commit_us;
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

/* Mailbox key: agency id, NUL, mailbox seq big-endian (FIFO per agency). */
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
    return s;
}

/* ---- replies -------------------------------------------------------------- */

static void
s_queue (macx_core_t *self, const uint8_t *rid, size_t rid_len, const Macx__Frame *frame)
{
    if (self->nreplies == self->capreplies) {
        size_t cap = self->capreplies ? self->capreplies * 2 : 1024;
        s_reply_t *grown = realloc (self->replies, cap * sizeof *grown);
        if (!grown) {
            macx_log (MACX_LOG_ERROR, "out of memory queueing a reply", NULL);
            return;
        }
        self->replies = grown;
        self->capreplies = cap;
    }
    s_reply_t *r = &self->replies[self->nreplies];
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

/* Sends the batch's ACKs, one Acks frame per sender, then the other
 * replies in order. */
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

static void
s_flush_replies (macx_core_t *self)
{
    Macx__Ack *items = self->nacks ? calloc (self->nacks, sizeof *items) : NULL;
    Macx__Ack **ptrs = self->nacks ? calloc (self->nacks, sizeof *ptrs) : NULL;
    bool *sent = self->nacks ? calloc (self->nacks, sizeof *sent) : NULL;
    for (size_t i = 0; items && ptrs && sent && i < self->nacks; i++) {
        if (sent[i])
            continue;
        size_t n = 0;
        for (size_t j = i; j < self->nacks; j++) {
            if (sent[j] || self->acks[j].rid_len != self->acks[i].rid_len
                || memcmp (self->acks[j].rid, self->acks[i].rid, self->acks[i].rid_len) != 0)
                continue;
            macx__ack__init (&items[n]);
            items[n].record_id = (ProtobufCBinaryData) { MACX_RECORD_ID_BYTES,
                                                         self->acks[j].record_id };
            items[n].sequence = self->acks[j].sequence;
            items[n].audit_seq = self->acks[j].audit_seq;
            ptrs[n] = &items[n];
            n++;
            sent[j] = true;
        }
        Macx__Acks acks = MACX__ACKS__INIT;
        acks.acks = ptrs;
        acks.n_acks = n;
        Macx__Frame f = MACX__FRAME__INIT;
        f.kind_case = MACX__FRAME__KIND_ACKS;
        f.acks = &acks;
        s_send_frame (self, self->acks[i].rid, self->acks[i].rid_len, &f);
    }
    free (items);
    free (ptrs);
    free (sent);
    self->nacks = 0;
    for (size_t i = 0; i < self->nreplies; i++)
        if (self->replies[i].frame)
            s_send_raw (self, self->replies[i].rid, self->replies[i].rid_len,
                        self->replies[i].frame, self->replies[i].len);
    self->nreplies = 0;
}

static void
s_ack (macx_core_t *self, const macx_job_t *job, const Macx__Header *h, uint64_t audit_seq)
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
    self->nacks++;
}

static void
s_nack (macx_core_t *self, const macx_job_t *job, const Macx__Header *h, int reason,
        const char *message, const char *agreement, const char *flow, uint64_t audit_seq)
{
    Macx__Nack nack = MACX__NACK__INIT;
    if (h) {
        nack.record_id = h->record_id;
        nack.sequence = h->sequence;
    }
    nack.reason = reason;
    nack.message = (char *) message;
    nack.agreement = (char *) (agreement ? agreement : "");
    nack.flow = (char *) (flow ? flow : "");
    nack.audit_seq = audit_seq;
    Macx__Frame f = MACX__FRAME__INIT;
    f.kind_case = MACX__FRAME__KIND_NACK;
    f.nack = &nack;
    s_queue (self, job->rid, job->rid_len, &f);
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
static int
s_refuse (macx_core_t *self, MDB_txn *txn, const macx_job_t *job, const Macx__Header *h,
          int reason, const char *message, const char *agreement, const char *flow)
{
    Macx__AuditEntry e = MACX__AUDIT_ENTRY__INIT;
    if (h)
        s_entry_from_header (&e, h);
    e.event = "refuse";
    e.peer = (char *) job->agency;
    e.decision = "deny";
    e.reason = reason;
    e.message = (char *) message;
    e.agreement = (char *) (agreement ? agreement : "");
    e.flow = (char *) (flow ? flow : "");
    e.policy_hash = (char *) macx_policy_hash (self->b->policy);
    uint64_t seq;
    if (s_audit (self, txn, &e, &seq))
        return -1;
    s_nack (self, job, h, reason, message, agreement, flow, seq);
    self->refused++;
    if (reason >= 0 && reason < 64)
        self->refused_by[reason]++;
    macx_log (MACX_LOG_INFO, "refused", "peer=%s reason=%s audit_seq=%" PRIu64 " why=\"%s\"",
              job->agency, macx_reason_name (reason), seq, message);
    return 0;
}

static int
s_judge_record (macx_core_t *self, MDB_txn *txn, macx_job_t *job)
{
    char msg[512];
    const Macx__Header *h = job->record ? macx_record_header (job->record) : NULL;
    /* Identity first: the authenticated agency is the only sender it may be. */
    if (h && strcmp (h->sender, job->agency) != 0) {
        snprintf (msg, sizeof msg, "header names sender '%s' but the connection is authenticated "
                  "as '%s'", h->sender, job->agency);
        return s_refuse (self, txn, job, h, MACX__REASON__SENDER_MISMATCH, msg, NULL, NULL);
    }
    if (job->rc)
        return s_refuse (self, txn, job, h, s_reason_for_error (job->rc),
                         macx_error_text (&job->err), NULL, NULL);
    /* Replay: a record id already seen (within this batch too: the txn sees
     * its own writes), or a sequence that does not move forward. */
    MDB_val k = { MACX_RECORD_ID_BYTES, h->record_id.data }, d;
    int rc = mdb_get (txn, self->seen, &k, &d);
    if (rc == 0) {
        uint64_t first = d.mv_size >= 8 ? s_get_be64 (d.mv_data) : 0;
        snprintf (msg, sizeof msg, "record already received (audit entry %" PRIu64 ")", first);
        return s_refuse (self, txn, job, h, MACX__REASON__REPLAY, msg, NULL, NULL);
    }
    if (rc != MDB_NOTFOUND)
        return -1;
    MDB_val sk = { strlen (h->sender), h->sender };
    uint64_t last = 0;
    rc = mdb_get (txn, self->senders, &sk, &d);
    if (rc == 0 && d.mv_size == 8)
        last = s_get_be64 (d.mv_data);
    else if (rc != MDB_NOTFOUND)
        return -1;
    if (h->sequence <= last) {
        snprintf (msg, sizeof msg, "sequence %" PRIu64 " does not follow %" PRIu64
                  " already accepted from %s", h->sequence, last, h->sender);
        return s_refuse (self, txn, job, h, MACX__REASON__SEQUENCE_REGRESSION, msg, NULL, NULL);
    }
    /* Recipients must be registered agencies, not revoked. */
    const macx_agency_t *peers[S_RECIPIENTS];
    for (size_t i = 0; i < h->n_recipients; i++) {
        peers[i] = macx_registry_find (self->b->registry, h->recipients[i]);
        if (!peers[i] || peers[i]->revoked) {
            snprintf (msg, sizeof msg, "recipient '%s' is %s", h->recipients[i],
                      peers[i] ? "revoked" : "not a registered agency");
            return s_refuse (self, txn, job, h, peers[i] ? MACX__REASON__RECIPIENT_REVOKED
                                                         : MACX__REASON__UNKNOWN_RECIPIENT,
                             msg, NULL, NULL);
        }
    }
    /* The agreements, recipient by recipient; all must permit. */
    macx_policy_field_t fields[MACX_MANIFEST_MAX];
    for (size_t i = 0; i < h->n_manifest; i++)
        fields[i] = (macx_policy_field_t) { h->manifest[i]->name, h->manifest[i]->transform };
    int32_t day = h->sim_day > 0 ? h->sim_day : macx_date_today ();
    macx_policy_request_t req = {
        .sender = h->sender, .record_type = h->record_type, .purpose = h->purpose,
        .phase = h->phase, .case_phase = h->case_phase ? h->case_phase : h->phase,
        .fields = fields, .nfields = h->n_manifest, .date = day,
        .origin = h->origin && *h->origin ? h->origin : NULL,
        .origin_record_type = h->origin_record_type, .origin_consent = h->origin_consent,
    };
    static macx_policy_result_t results[S_RECIPIENTS];   /* core thread only */
    char agreements[1024] = "", flows[1024] = "";
    uint8_t ckeys[S_RECIPIENTS][96];
    size_t ckey_len[S_RECIPIENTS];
    uint64_t counts[S_RECIPIENTS];
    for (size_t i = 0; i < h->n_recipients; i++) {
        macx_policy_result_t *r = &results[i];
        req.recipient = h->recipients[i];
        req.sent_today = 0;
        macx_policy_evaluate (self->b->policy, &req, r);
        ckey_len[i] = 0;
        counts[i] = 0;
        if (r->decision == MACX_DECISION_PERMIT && r->max_per_day > 0) {
            /* per-day volume cap: count per flow, sender and day */
            ckey_len[i] = (size_t) snprintf ((char *) ckeys[i], sizeof ckeys[i], "%d/%s/%d",
                                             r->flow_index, h->sender, day);
            MDB_val ck = { ckey_len[i], ckeys[i] }, cd;
            rc = mdb_get (txn, self->counters, &ck, &cd);
            if (rc == 0 && cd.mv_size == 8)
                counts[i] = s_get_be64 (cd.mv_data);
            else if (rc != MDB_NOTFOUND)
                return -1;
            req.sent_today = (uint32_t) counts[i];
            macx_policy_evaluate (self->b->policy, &req, r);
        }
        if (r->decision != MACX_DECISION_PERMIT) {
            snprintf (msg, sizeof msg, "to %s: %s", h->recipients[i], r->message);
            return s_refuse (self, txn, job, h, r->reason ? r->reason : MACX__REASON__INTERNAL_ERROR,
                             msg, r->agreement, r->flow);
        }
        size_t al = strlen (agreements), fl = strlen (flows);
        snprintf (agreements + al, sizeof agreements - al, "%s%s", i ? "," : "",
                  r->agreement ? r->agreement : "");
        snprintf (flows + fl, sizeof flows - fl, "%s%s", i ? "," : "", r->flow ? r->flow : "");
    }
    /* Accepted: audit, mailboxes, replay state, counters, in this txn. */
    Macx__AuditEntry e = MACX__AUDIT_ENTRY__INIT;
    s_entry_from_header (&e, h);
    e.event = "accept";
    e.peer = job->agency;
    e.decision = "permit";
    e.agreement = agreements;
    e.flow = flows;
    e.policy_hash = (char *) macx_policy_hash (self->b->policy);
    e.retention_days = (uint32_t) results[0].retention_days;
    uint64_t audit_seq;
    if (s_audit (self, txn, &e, &audit_seq))
        return -1;
    for (size_t i = 0; i < h->n_recipients; i++) {
        Macx__MailboxEntry m = MACX__MAILBOX_ENTRY__INIT;
        m.record_id = h->record_id;
        m.sender = h->sender;
        m.envelope = (ProtobufCBinaryData) { job->body_len, (uint8_t *) job->body };
        m.stored_ms = macx_clock_wall_ms ();
        m.audit_seq = audit_seq;
        m.expires_day = results[i].retention_days > 0 ? day + results[i].retention_days : 0;
        m.case_id = h->case_id;
        m.phase = h->phase;
        m.record_type = h->record_type;
        m.sim_day = h->sim_day;
        m.subject = h->subject;
        m.sequence = h->sequence;
        m.sim_ms = h->sim_ms;
        uint8_t key[64];
        MDB_val mk = { s_mailbox_key (h->recipients[i], self->next_mseq++, key), key };
        MDB_val md = { macx__mailbox_entry__get_packed_size (&m), NULL };
        if ((rc = mdb_put (txn, self->mailbox, &mk, &md, MDB_RESERVE))) {
            macx_log (MACX_LOG_ERROR, "mailbox write failed", "error=\"%s\"", mdb_strerror (rc));
            return -1;
        }
        macx__mailbox_entry__pack (&m, md.mv_data);
        if (ckey_len[i]) {
            uint8_t v[8];
            s_be64 (counts[i] + 1, v);
            MDB_val ck = { ckey_len[i], ckeys[i] }, cd = { 8, v };
            if (mdb_put (txn, self->counters, &ck, &cd, 0))
                return -1;
        }
    }
    uint8_t v[8];
    s_be64 (audit_seq, v);
    d = (MDB_val) { 8, v };
    if (mdb_put (txn, self->seen, &k, &d, MDB_NOOVERWRITE))
        return -1;
    uint8_t sv[8];
    s_be64 (h->sequence, sv);
    d = (MDB_val) { 8, sv };
    if (mdb_put (txn, self->senders, &sk, &d, 0))
        return -1;
    if (h->sim_day > self->day)
        self->day = h->sim_day;
    s_ack (self, job, h, audit_seq);
    job->accepted = true;
    self->accepted++;
    return 0;
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
        e.record_id = m->record_id;
        e.sender = m->sender;
        e.case_id = m->case_id;
        e.subject = m->subject;
        e.phase = m->phase;
        e.record_type = m->record_type;
        e.sim_day = m->sim_day;
        e.sequence = m->sequence;
        e.sim_ms = m->sim_ms;
        e.mailbox_seq = r->mailbox_seqs[i];
        e.created_ms = r->time_ms;
        uint64_t seq;
        rc = s_audit (self, txn, &e, &seq);
        macx__mailbox_entry__free_unpacked (m, NULL);
        if (rc || mdb_del (txn, self->mailbox, &mk, NULL))
            return -1;
        self->delivered++;
        if (s) {
            if (s->inflight)
                s->inflight--;
            if (s->depth)
                s->depth--;
            s->dirty = true;
        }
    }
    self->receipts++;
    return 0;
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
             ",\"purged\":%" PRIu64 ",\"store_errors\":%" PRIu64 ",\"connections_refused\":%" PRIu64
             ",\"audit_seq\":%" PRIu64 ",\"refused_by\":{",
             macx_clock_wall_ms () - self->b->started_ms, self->accepted, self->refused,
             self->delivered, self->redelivered, self->receipts, self->purged, self->store_errors,
             __atomic_load_n (&self->b->zap_refused, __ATOMIC_RELAXED),
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
        fprintf (f, "%s\"%s\":{\"depth\":%" PRIu64 ",\"inflight\":%u,\"credit\":%u,"
                 "\"connected\":%s}", i ? "," : "", s->agency, s->depth, s->inflight, s->window,
                 s->connected ? "true" : "false");
    }
    fprintf (f, "},\"batches\":%" PRIu64 ",\"batch_size\":{\"mean\":%.1f,\"p50\":%" PRIu64
             ",\"p99\":%" PRIu64 ",\"max\":%" PRIu64 "},\"commit_us\":{\"mean\":%.0f,\"p50\":%" PRIu64
             ",\"p99\":%" PRIu64 ",\"max\":%" PRIu64 "},\"policy\":\"%s\"}",
             self->batches, macx_hist_mean (&self->batch_size),
             macx_hist_quantile (&self->batch_size, 0.5), macx_hist_quantile (&self->batch_size, 0.99),
             self->batch_size.max, macx_hist_mean (&self->commit_us),
             macx_hist_quantile (&self->commit_us, 0.5), macx_hist_quantile (&self->commit_us, 0.99),
             self->commit_us.max, macx_policy_hash (self->b->policy));
    fclose (f);
}

static void
s_session_job (macx_core_t *self, macx_job_t *job)
{
    if (job->kind == JOB_GONE)
        macx_core_session_gone (self, job->rid, job->rid_len);
    else if (job->kind == JOB_HELLO) {
        if (job->rc || strcmp (job->hello->agency, job->agency) != 0) {
            Macx__Error er = MACX__ERROR__INIT;
            er.reason = job->rc ? MACX__REASON__MALFORMED : MACX__REASON__SENDER_MISMATCH;
            char msg[160];
            snprintf (msg, sizeof msg, "hello %s", job->rc ? "does not decode"
                                                           : "names another agency than the connection's");
            er.message = msg;
            Macx__Frame f = MACX__FRAME__INIT;
            f.kind_case = MACX__FRAME__KIND_ERROR;
            f.error = &er;
            s_queue (self, job->rid, job->rid_len, &f);
            return;
        }
        s_session_t *s = s_session (self, job->agency, true);
        if (!s)
            return;
        memcpy (s->rid, job->rid, job->rid_len);
        s->rid_len = job->rid_len;
        s->connected = true;
        s->window = job->hello->credit ? job->hello->credit : 64;
        s->inflight = 0;
        if (s->cursor > s->resent_below)
            s->resent_below = s->cursor;
        s->cursor = 0;   /* everything not receipted is sent again */
        s->dirty = true;
        macx_log (MACX_LOG_INFO, "session", "agency=%s credit=%u mailbox=%" PRIu64, s->agency,
                  s->window, s->depth);
    }
    else if (job->kind == JOB_CREDIT && job->rc == 0) {
        s_session_t *s = s_session (self, job->agency, false);
        if (s) {
            uint64_t w = (uint64_t) s->window + job->credit->credit;
            s->window = w > 1u << 20 ? 1u << 20 : (uint32_t) w;
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

static void
s_deliver (macx_core_t *self)
{
    MDB_txn *txn = NULL;
    for (int i = 0; i < self->nsessions; i++) {
        s_session_t *s = &self->sessions[i];
        if (!s->connected || !s->dirty || s->inflight >= s->window)
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
            if (s->inflight >= s->window) {
                more = true;
                break;
            }
            uint64_t mseq = s_get_be64 ((uint8_t *) k.mv_data + alen);
            Macx__MailboxEntry *m = macx__mailbox_entry__unpack (NULL, d.mv_size, d.mv_data);
            if (m) {
                Macx__Deliver dl = MACX__DELIVER__INIT;
                dl.mailbox_seq = mseq;
                dl.envelope = m->envelope;
                /* Sent before in this broker's life (a reconnect) or stored by
                 * an earlier broker run: either way, a redelivery. */
                dl.redelivery = m->stored_ms < self->b->started_ms || mseq < s->resent_below;
                Macx__Frame f = MACX__FRAME__INIT;
                f.kind_case = MACX__FRAME__KIND_DELIVER;
                f.deliver = &dl;
                if (s_send_frame (self, s->rid, s->rid_len, &f)) {
                    s->inflight++;
                    if (dl.redelivery)
                        self->redelivered++;
                }
                macx__mailbox_entry__free_unpacked (m, NULL);
            }
            s->cursor = mseq + 1;
            rc = mdb_cursor_get (cur, &k, &d, MDB_NEXT);
        }
        mdb_cursor_close (cur);
        s->dirty = more;
    }
    if (txn)
        mdb_txn_abort (txn);
}

/* ---- retention ------------------------------------------------------------ */

static int
s_purge (macx_core_t *self, MDB_txn *txn)
{
    int32_t today = self->day > 0 ? self->day : macx_date_today ();
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
            e.record_id = m->record_id;
            e.sender = m->sender;
            e.case_id = m->case_id;
            e.subject = m->subject;
            e.phase = m->phase;
            e.record_type = m->record_type;
            e.sim_day = today;
            e.message = "retention period ended before delivery; stored copy erased";
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

/* ---- batches -------------------------------------------------------------- */

static void
s_job_free (macx_job_t *job)
{
    if (job->kind != JOB_DRAIN && job->kind != JOB_GONE)
        zmq_msg_close (&job->msg);
    macx_record_destroy (&job->record);
    if (job->receipt)
        macx__receipt__free_unpacked (job->receipt, NULL);
    if (job->hello)
        macx__hello__free_unpacked (job->hello, NULL);
    if (job->credit)
        macx__credit__free_unpacked (job->credit, NULL);
    free (job);
}

/* Processes jobs in one write transaction; on a store failure the batch
 * is aborted and every record in it is refused STORE_UNAVAILABLE (nothing
 * of it was written; senders retry). */
static void
s_batch (macx_core_t *self, macx_job_t **jobs, size_t n, bool final)
{
    uint64_t t0 = macx_clock_mono_ns ();
    MDB_txn *txn = NULL;
    uint64_t mseq0 = self->next_mseq;
    int32_t day0 = self->day;
    size_t replies0 = self->nreplies, acks0 = self->nacks;
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    bool failed = rc != 0;
    for (size_t i = 0; i < n && !failed; i++) {
        macx_job_t *job = jobs[i];
        switch (job->kind) {
        case JOB_RECORD:  failed = s_judge_record (self, txn, job) != 0; break;
        case JOB_RECEIPT: failed = s_receipt (self, txn, job) != 0; break;
        case JOB_MALFORMED: {
            char msg[200];
            snprintf (msg, sizeof msg, "frame of %zu bytes is not a macx frame", job->body_len);
            failed = s_refuse (self, txn, job, NULL, MACX__REASON__MALFORMED, msg, NULL, NULL) != 0;
            break;
        }
        default: break;
        }
    }
    int64_t now = macx_clock_wall_ms ();
    if (!failed && (final || now - self->last_purge_ms >= self->b->cfg.purge_interval_ms)) {
        failed = s_purge (self, txn) != 0;
        self->last_purge_ms = now;
    }
    if (!failed && self->next_mseq != mseq0)
        failed = s_meta_put_u64 (txn, self->meta, "next_mseq", self->next_mseq) != 0;
    if (!failed && self->day != day0)
        failed = s_meta_put_u64 (txn, self->meta, "day", (uint64_t) self->day) != 0;
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
                    || (macx_audit_since_checkpoint (self->audit) > 0
                        && now - self->last_checkpoint_ms > 5000))) {
        macx_error_t err = { 0 };
        failed = macx_audit_checkpoint (self->audit, txn, self->b->identity, &err) != 0;
        if (failed)
            macx_log (MACX_LOG_ERROR, "checkpoint failed", "error=\"%s\"", macx_error_text (&err));
        else
            self->last_checkpoint_ms = now;
    }
    if (!failed) {
        rc = mdb_txn_commit (txn);   /* fsync: nothing is acknowledged before this */
        txn = NULL;
        failed = rc != 0;
        if (failed)
            macx_log (MACX_LOG_ERROR, "commit failed", "error=\"%s\"", mdb_strerror (rc));
    }
    if (failed) {
        if (txn)
            mdb_txn_abort (txn);
        macx_audit_aborted (self->audit);
        self->next_mseq = mseq0;
        self->day = day0;
        for (size_t i = replies0; i < self->nreplies; i++)
            free (self->replies[i].frame);
        self->nreplies = replies0;
        self->nacks = acks0;
        self->store_errors++;
        macx_log (MACX_LOG_ERROR, "store unavailable: batch refused, nothing written",
                  "records=%zu hint=\"map full or disk error; see map_size\"", n);
        for (size_t i = 0; i < n; i++)
            if (jobs[i]->kind == JOB_RECORD) {
                const Macx__Header *h = jobs[i]->record ? macx_record_header (jobs[i]->record) : NULL;
                s_nack (self, jobs[i], h, MACX__REASON__STORE_UNAVAILABLE,
                        "the broker could not store the record (store full or disk error); "
                        "nothing was stored, send it again later", NULL, NULL, 0);
            }
    }
    else {
        macx_audit_committed (self->audit);
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
    for (size_t i = 0; i < n; i++)
        if (jobs[i]->kind != JOB_RECORD && jobs[i]->kind != JOB_RECEIPT)
            s_session_job (self, jobs[i]);
    s_flush_replies (self);
    s_deliver (self);
}

/* ---- lifecycle ------------------------------------------------------------ */

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
    macx_hist_reset (&self->batch_size);
    macx_hist_reset (&self->commit_us);
    MDB_txn *txn = NULL;
    int rc;
    if ((rc = mdb_env_create (&self->env))
        || (rc = mdb_env_set_maxdbs (self->env, MACX_AUDIT_MAXDBS))
        || (rc = mdb_env_set_mapsize (self->env, b->cfg.map_size))
        || (rc = mdb_env_open (self->env, b->cfg.data_dir, MDB_NOTLS, 0600))) {
        macx_error_set (err, MACX_ESTORE, "%s: cannot open the store: %s", b->cfg.data_dir,
                        mdb_strerror (rc));
        goto fail;
    }
    if ((rc = mdb_txn_begin (self->env, NULL, 0, &txn))
        || (rc = mdb_dbi_open (txn, "mailbox", MDB_CREATE, &self->mailbox))
        || (rc = mdb_dbi_open (txn, "seen", MDB_CREATE, &self->seen))
        || (rc = mdb_dbi_open (txn, "senders", MDB_CREATE, &self->senders))
        || (rc = mdb_dbi_open (txn, "counters", MDB_CREATE, &self->counters))
        || (rc = mdb_dbi_open (txn, "meta", MDB_CREATE, &self->meta))) {
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
    s_meta_get_u64 (txn, self->meta, "day", &v);
    self->day = (int32_t) v;
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
                s_job_free (self->ring[i]);
        for (size_t i = 0; i < self->nreplies; i++)
            free (self->replies[i].frame);
        free (self->replies);
        free (self->acks);
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
    macx_job_t **batch = calloc (max, sizeof *batch);
    bool done = false;
    while (!done && batch) {
        zmq_pollitem_t item = { self->in, 0, ZMQ_POLLIN, 0 };
        int rc = zmq_poll (&item, 1, 200);
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
                s_job_free (job);
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
                if (!job)
                    break;
                self->ring[self->next_ticket % S_RING] = NULL;
                self->next_ticket++;
                if (job->kind == JOB_DRAIN) {
                    drain = true;
                    s_job_free (job);
                    break;
                }
                batch[n++] = job;
            }
            if (n || drain)
                s_batch (self, batch, n, drain);
            for (size_t i = 0; i < n; i++)
                s_job_free (batch[i]);
            if (drain) {
                done = true;
                break;
            }
            if (n < max)
                break;
        }
        if (!done && rc == 0) {
            /* idle: periodic checkpoint and purge via an empty batch */
            int64_t now = macx_clock_wall_ms ();
            if ((macx_audit_since_checkpoint (self->audit) > 0
                 && now - self->last_checkpoint_ms > 5000)
                || now - self->last_purge_ms >= self->b->cfg.purge_interval_ms)
                s_batch (self, batch, 0, false);
            else
                s_deliver (self);
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
