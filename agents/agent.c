/* agent.c -- the agent runtime (see agent.h). Owns one DEALER socket, its
 * monitor, the list of records awaiting ACK, the event queue (a FIFO, and
 * with the simulated clock a heap in time order), the seen-set and the
 * pending receipt. Timeouts use the monotonic clock; the wall clock only
 * stamps what a live agency sends (creation times, receipts, sequences). */
#include "agent.h"

#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "file.h"
#include "frame.h"
#include "log.h"
#include "names.h"

typedef struct {
    uint8_t id[MACX_RECORD_ID_BYTES];
    uint64_t sequence;
    uint8_t *sealed;
    size_t len;
    void *user;
    bool sent;                       /* handed to the socket in this connection */
    bool sealed_here;                /* sealed by post, not handed in by post_raw */
    unsigned sends;                  /* times handed to the socket, over connections */
    int64_t sim_ms;                  /* simulated clock: when it was sent */
    int retries;                     /* transient refusals so far */
    int64_t retry_ms;                /* monotonic: not to be sent again before this */
    int64_t first_refused_ms;        /* monotonic: its first transient refusal */
} s_pending_t;

/* An open-addressing set of record ids. */
typedef struct {
    uint8_t (*slots)[MACX_RECORD_ID_BYTES];
    uint8_t *used;
    size_t cap, n;
} s_idset_t;

struct macx_agent_t {
    macx_agent_config_t cfg;
    macx_registry_t *registry;
    macx_identity_t *identity;
    const macx_agency_t *broker;
    void *ctx, *dealer, *monitor;
    bool connected, refused;
    bool holding;                  /* a batch is being queued: send it when whole */
    uint64_t last_sequence;
    uint8_t posted_id[MACX_RECORD_ID_BYTES];
    s_pending_t *pending;            /* awaiting an answer: [p0, p0 + npending), in order */
    size_t p0, npending, cappending;
    size_t nsent;                    /* the first nsent of them went to the socket (later
                                        ones may have too: sent says) */
    uint64_t retries;                /* resends after transient refusals */
    unsigned retry_state;            /* backoff jitter */
    macx_agent_event_t *queue;
    size_t qhead, qlen, qcap;
    MDB_env *env;
    MDB_dbi seen_dbi;
    MDB_txn *wtxn;
    s_idset_t seen;                  /* without a state dir: every id seen */
    s_idset_t surfaced;              /* handed to the application, not yet done */
    ProtobufCBinaryData *r_ids;
    uint64_t *r_seqs;
    size_t r_n, r_cap;
    int64_t r_first_ms;              /* monotonic */
    struct { uint8_t *frame; size_t len; } *rq;   /* retention receipts not yet sent */
    size_t nrq, caprq;
    int64_t heard_ms;                /* monotonic: the broker's last frame, or the connection */
    /* the simulated clock (cfg.sim) */
    macx_agent_event_t **heap;       /* timers, records, verdicts: in time order */
    size_t nheap, capheap;
    int64_t now_ms;                  /* the time of the last event handed out */
    int64_t grant_ms;                /* events before this may be handed out */
    int64_t done_ms;                 /* what we told the broker we had finished */
    int64_t verdict_ms;              /* stamp to verdict, from the grants */
    uint64_t timers;                 /* timers set, for their order */
    bool asked, ended;
    char end_why[256];
    uint64_t late, requests;
    /* batch signatures (cfg.batch_max > 1): records sealed, not yet signed */
    macx_record_batch_t *batch;
    struct {
        uint8_t id[MACX_RECORD_ID_BYTES];
        uint64_t sequence;
        void *user;
    } *batched;
    int64_t batch_first_ms;          /* monotonic: the first record of the open batch */
    macx_root_cache_t *roots;        /* batch roots of what we received, verified */
    unsigned jitter_us;              /* tests: MACX_TEST_JITTER_US, a random sleep per event */
    unsigned jitter_state;
};

/* The error for a key the broker refused: the connection can never succeed. */
static int
s_refused (const macx_agent_t *self, macx_error_t *err)
{
    return macx_error_set (err, MACX_EDENIED, "the broker refused %s's transport key "
                           "(unregistered or revoked)", self->cfg.agency);
}

static int64_t
s_mono_ms (void)
{
    return (int64_t) (macx_clock_mono_ns () / 1000000);
}

/* ---- id sets ---------------------------------------------------------------- */

static size_t
s_hash (const uint8_t *id, size_t cap)
{
    uint64_t h;
    /* the random tail: an id starts with its creation time (macx_record_new_id) */
    memcpy (&h, id + MACX_RECORD_ID_BYTES - 8, 8);
    return (size_t) (h & (cap - 1));
}

static bool
s_idset_has (const s_idset_t *s, const uint8_t *id)
{
    if (!s->cap)
        return false;
    for (size_t i = s_hash (id, s->cap);; i = (i + 1) & (s->cap - 1)) {
        if (s->used[i] == 0)
            return false;
        if (s->used[i] == 1 && memcmp (s->slots[i], id, MACX_RECORD_ID_BYTES) == 0)
            return true;
    }
}

static int
s_idset_add (s_idset_t *s, const uint8_t *id)
{
    if ((s->n + 1) * 2 > s->cap) {
        s_idset_t g = { 0 };
        g.cap = s->cap ? s->cap * 2 : 1024;
        g.slots = calloc (g.cap, MACX_RECORD_ID_BYTES);
        g.used = calloc (g.cap, 1);
        if (!g.slots || !g.used) {
            free (g.slots);
            free (g.used);
            return -1;
        }
        for (size_t i = 0; i < s->cap; i++)
            if (s->used[i] == 1)
                s_idset_add (&g, s->slots[i]);
        free (s->slots);
        free (s->used);
        *s = g;
    }
    for (size_t i = s_hash (id, s->cap);; i = (i + 1) & (s->cap - 1)) {
        if (s->used[i] == 1 && memcmp (s->slots[i], id, MACX_RECORD_ID_BYTES) == 0)
            return 0;
        if (s->used[i] != 1) {
            memcpy (s->slots[i], id, MACX_RECORD_ID_BYTES);
            s->used[i] = 1;
            s->n++;
            return 0;
        }
    }
}

/* Tombstones keep probe chains intact. */
static void
s_idset_del (s_idset_t *s, const uint8_t *id)
{
    if (!s->cap)
        return;
    for (size_t i = s_hash (id, s->cap);; i = (i + 1) & (s->cap - 1)) {
        if (s->used[i] == 0)
            return;
        if (s->used[i] == 1 && memcmp (s->slots[i], id, MACX_RECORD_ID_BYTES) == 0) {
            s->used[i] = 2;
            return;
        }
    }
}

static void
s_idset_free (s_idset_t *s)
{
    free (s->slots);
    free (s->used);
    memset (s, 0, sizeof *s);
}

/* ---- events ----------------------------------------------------------------- */

static macx_agent_event_t *
s_event_push (macx_agent_t *self)
{
    if (self->qlen == self->qcap) {
        size_t cap = self->qcap ? self->qcap * 2 : 256;
        macx_agent_event_t *q = malloc (cap * sizeof *q);
        if (!q)
            return NULL;
        for (size_t i = 0; i < self->qlen; i++)
            q[i] = self->queue[(self->qhead + i) % self->qcap];
        free (self->queue);
        self->queue = q;
        self->qcap = cap;
        self->qhead = 0;
    }
    macx_agent_event_t *ev = &self->queue[(self->qhead + self->qlen++) % self->qcap];
    memset (ev, 0, sizeof *ev);
    return ev;
}

static bool
s_event_pop (macx_agent_t *self, macx_agent_event_t *ev)
{
    if (!self->qlen)
        return false;
    *ev = self->queue[self->qhead];
    self->qhead = (self->qhead + 1) % self->qcap;
    self->qlen--;
    return true;
}

/* ---- the simulated clock's queue (a binary heap in event order) ------------------- */

/* The order of events at one time: the broker's verdicts, then records,
 * then timers; records by sender and its sequence, verdicts by our own
 * sequence, timers in the order they were set. Nothing of it depends on
 * when a frame happened to arrive. */
static int
s_rank (macx_agent_event_kind_t kind)
{
    return kind == MACX_AGENT_TIMER ? 2 : kind == MACX_AGENT_RECORD ? 1 : 0;
}

static bool
s_ev_before (const macx_agent_event_t *a, const macx_agent_event_t *b)
{
    if (a->time_ms != b->time_ms)
        return a->time_ms < b->time_ms;
    if (s_rank (a->kind) != s_rank (b->kind))
        return s_rank (a->kind) < s_rank (b->kind);
    int c = strcmp (a->from, b->from);
    if (c)
        return c < 0;
    return a->order < b->order;
}

/* A new event for the heap; the caller fills it and calls s_heap_push. */
static macx_agent_event_t *
s_heap_event (void)
{
    return calloc (1, sizeof (macx_agent_event_t));
}

static int
s_heap_push (macx_agent_t *self, macx_agent_event_t *ev)
{
    if (self->nheap == self->capheap) {
        size_t cap = self->capheap ? self->capheap * 2 : 1024;
        macx_agent_event_t **g = realloc (self->heap, cap * sizeof *g);
        if (!g) {
            macx_record_destroy (&ev->record);
            free (ev->answer);
            free (ev);
            return MACX_ENOMEM;
        }
        self->heap = g;
        self->capheap = cap;
    }
    size_t i = self->nheap++;
    self->heap[i] = ev;
    while (i > 0 && s_ev_before (self->heap[i], self->heap[(i - 1) / 2])) {
        macx_agent_event_t *t = self->heap[i];
        self->heap[i] = self->heap[(i - 1) / 2];
        self->heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
    return MACX_OK;
}

static macx_agent_event_t *
s_heap_pop (macx_agent_t *self)
{
    macx_agent_event_t *top = self->heap[0];
    self->heap[0] = self->heap[--self->nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < self->nheap && s_ev_before (self->heap[l], self->heap[m]))
            m = l;
        if (r < self->nheap && s_ev_before (self->heap[r], self->heap[m]))
            m = r;
        if (m == i)
            break;
        macx_agent_event_t *t = self->heap[i];
        self->heap[i] = self->heap[m];
        self->heap[m] = t;
        i = m;
    }
    return top;
}

/* Where a record or a verdict goes: the heap (simulated clock, at its
 * time_ms, never before what we have finished) or the FIFO. The caller
 * fills the event, then commits it. */
static macx_agent_event_t *
s_event_for (macx_agent_t *self)
{
    return self->cfg.sim ? s_heap_event () : s_event_push (self);
}

static void
s_event_commit (macx_agent_t *self, macx_agent_event_t *ev)
{
    if (self->cfg.sim) {
        if (ev->time_ms < self->done_ms)
            ev->time_ms = self->done_ms;
        s_heap_push (self, ev);
    }
}

int
macx_agent_timer (macx_agent_t *self, int64_t at_ms, uint64_t tag, void *user)
{
    if (!self->cfg.sim || at_ms < self->now_ms)
        return MACX_EINVAL;
    macx_agent_event_t *ev = s_heap_event ();
    if (!ev)
        return MACX_ENOMEM;
    ev->kind = MACX_AGENT_TIMER;
    ev->time_ms = at_ms;
    ev->tag = tag;
    ev->user = user;
    ev->order = self->timers++;
    return s_heap_push (self, ev);
}

int64_t macx_agent_now (const macx_agent_t *self) { return self->now_ms; }

/* The agency's clock for what it stamps (receipts, seen marks): the
 * simulated clock in a pilot, never the wall; the wall clock live. */
static int64_t
s_clock_ms (const macx_agent_t *self)
{
    return self->cfg.sim ? self->now_ms : macx_clock_wall_ms ();
}
uint64_t macx_agent_late (const macx_agent_t *self) { return self->late; }
uint64_t macx_agent_requests (const macx_agent_t *self) { return self->requests; }

/* ---- sending ---------------------------------------------------------------- */

static int
s_send_frame (macx_agent_t *self, const Macx__Frame *f)
{
    size_t len = macx__frame__get_packed_size (f);
    zmq_msg_t m;
    if (zmq_msg_init_size (&m, len))
        return MACX_ENOMEM;
    macx__frame__pack (f, zmq_msg_data (&m));
    if (zmq_msg_send (&m, self->dealer, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&m);
        return MACX_ETIMEOUT;   /* not connected (ZMQ_IMMEDIATE) or queue full */
    }
    return MACX_OK;
}

static int
s_send_record (macx_agent_t *self, const s_pending_t *p)
{
    uint8_t prefix[16];
    size_t plen = macx_frame_prefix (MACX__FRAME__KIND_RECORD, p->len, prefix);
    zmq_msg_t m;
    if (zmq_msg_init_size (&m, plen + p->len))
        return MACX_ENOMEM;
    memcpy (zmq_msg_data (&m), prefix, plen);
    memcpy ((uint8_t *) zmq_msg_data (&m) + plen, p->sealed, p->len);
    if (zmq_msg_send (&m, self->dealer, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&m);
        return MACX_ETIMEOUT;
    }
    return MACX_OK;
}

/* Records in one Records frame from us: below the broker's limit
 * (MACX_FRAME_RECORDS_MAX), so that a frame the socket refuses (its queue
 * full) and that is packed again on the next try costs little. */
#define S_FRAME_RECORDS 256

/* Sends pending[i .. i+n) (n > 1, none sent yet) in one Records frame. */
static int
s_send_records (macx_agent_t *self, size_t i, size_t n, size_t bytes)
{
    uint8_t prefix[16];
    size_t body = bytes;
    for (size_t j = 0; j < n; j++)
        body += macx_frame_prefix (1, self->pending[i + j].len, prefix);
    size_t plen = macx_frame_prefix (MACX__FRAME__KIND_RECORDS, body, prefix);
    zmq_msg_t m;
    if (zmq_msg_init_size (&m, plen + body))
        return MACX_ENOMEM;
    uint8_t *out = zmq_msg_data (&m);
    memcpy (out, prefix, plen);
    out += plen;
    for (size_t j = 0; j < n; j++) {
        const s_pending_t *p = &self->pending[i + j];
        out += macx_frame_prefix (1, p->len, out);
        memcpy (out, p->sealed, p->len);
        out += p->len;
    }
    if (zmq_msg_send (&m, self->dealer, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&m);
        return MACX_ETIMEOUT;
    }
    return MACX_OK;
}

/* Sends pending records in order, from the first not yet sent, until the
 * socket will take no more or a record waits out its backoff (what follows
 * it waits too); order per sender is what the broker checks. A record
 * already in flight behind a retried one is not sent twice. Records that
 * are ready together (a signed batch, or what queued while the connection
 * was busy) go in one Records frame, up to MACX_FRAME_RECORDS_MAX or
 * MACX_FRAME_RECORDS_BYTES; the broker judges each as if sent alone. */
static void
s_send_pending (macx_agent_t *self)
{
    if (!self->connected || self->holding)
        return;
    int64_t now = -1;
    size_t window = self->cfg.window > 0 ? (size_t) self->cfg.window : SIZE_MAX;
    while (self->nsent < self->npending && self->nsent < window) {
        s_pending_t *p = &self->pending[self->p0 + self->nsent];
        if (p->sent) {
            self->nsent++;
            continue;
        }
        if (p->retries) {
            if (now < 0)
                now = s_mono_ms ();
            if (now < p->retry_ms)
                return;
        }
        /* the run of unsent records from here that need no backoff */
        size_t n = 1, bytes = p->len;
        while (n < S_FRAME_RECORDS && self->nsent + n < self->npending
               && self->nsent + n < window) {
            const s_pending_t *q = &self->pending[self->p0 + self->nsent + n];
            if (q->sent || q->retries || bytes + q->len > MACX_FRAME_RECORDS_BYTES - 16 * (n + 2))
                break;
            bytes += q->len;
            n++;
        }
        if (n == 1 ? s_send_record (self, p) : s_send_records (self, self->p0 + self->nsent, n, bytes))
            return;
        for (size_t j = 0; j < n; j++, self->nsent++) {
            self->pending[self->p0 + self->nsent].sent = true;
            self->pending[self->p0 + self->nsent].sends++;
        }
    }
}

/* When the first record waiting out its backoff is due (monotonic), or -1. */
static int64_t
s_retry_due (const macx_agent_t *self)
{
    if (self->nsent < self->npending) {
        const s_pending_t *p = &self->pending[self->p0 + self->nsent];
        if (p->retries && !p->sent)
            return p->retry_ms;
    }
    return -1;
}

/* The time request for what we have finished (the simulated clock): the
 * time of our next event, counting the verdicts still to come on what we
 * sent, and our last sequence, so the broker knows when it has judged
 * everything we sent before it. */
static int64_t
s_next_event_ms (const macx_agent_t *self)
{
    int64_t next = self->nheap ? self->heap[0]->time_ms : INT64_MAX;
    for (size_t i = 0; i < self->npending; i++) {
        int64_t at = self->pending[self->p0 + i].sim_ms + self->verdict_ms;
        if (at < next)
            next = at;
    }
    return next;
}

static int
s_send_request (macx_agent_t *self)
{
    int64_t next = s_next_event_ms (self);
    Macx__TimeRequest q = MACX__TIME_REQUEST__INIT;
    q.next_ms = next == INT64_MAX ? 0 : next;
    q.sequence = self->last_sequence;
    Macx__Frame f = MACX__FRAME__INIT;
    f.kind_case = MACX__FRAME__KIND_TIME_REQUEST;
    f.time_request = &q;
    return s_send_frame (self, &f);
}

static void
s_hello (macx_agent_t *self)
{
    Macx__Hello h = MACX__HELLO__INIT;
    h.version = 1;
    h.agency = self->cfg.agency;
    h.credit = self->cfg.credit;
    Macx__Frame f = MACX__FRAME__INIT;
    f.kind_case = MACX__FRAME__KIND_HELLO;
    f.hello = &h;
    s_send_frame (self, &f);
    /* Everything not yet acknowledged goes again, in order; the broker
     * answers REPLAY for what it already has, which we take as an ACK. */
    for (size_t i = 0; i < self->npending; i++)
        self->pending[self->p0 + i].sent = false;
    self->nsent = 0;
    s_send_pending (self);
    if (self->asked)
        s_send_request (self);   /* it may have been lost with the connection */
}

/* Queues a sealed record (taking ownership of sealed) and sends it now if
 * connected and nothing earlier is waiting; otherwise on the next poll or
 * handshake. */
static int
s_pending_push (macx_agent_t *self, const uint8_t *id, uint64_t sequence, uint8_t *sealed,
                size_t len, void *user, bool sealed_here, int64_t sim_ms, macx_error_t *err)
{
    if (self->p0 && self->p0 + self->npending == self->cappending) {
        /* answered ones at the front: close the gap before growing */
        memmove (self->pending, &self->pending[self->p0], self->npending * sizeof *self->pending);
        self->p0 = 0;
    }
    if (self->p0 + self->npending == self->cappending) {
        size_t cap = self->cappending ? self->cappending * 2 : 256;
        s_pending_t *g = realloc (self->pending, cap * sizeof *g);
        if (!g) {
            free (sealed);
            return macx_error_set (err, MACX_ENOMEM, "out of memory");
        }
        self->pending = g;
        self->cappending = cap;
    }
    s_pending_t *p = &self->pending[self->p0 + self->npending++];
    memcpy (p->id, id, MACX_RECORD_ID_BYTES);
    p->sequence = sequence;
    p->sealed = sealed;
    p->len = len;
    p->user = user;
    p->sent = false;
    p->sealed_here = sealed_here;
    p->sends = 0;
    p->sim_ms = sim_ms;
    p->retries = 0;
    p->retry_ms = p->first_refused_ms = 0;
    if (self->nsent + 1 == self->npending)   /* nothing earlier is waiting */
        s_send_pending (self);
    return MACX_OK;
}

/* Signs the open batch and queues its records, in the order posted. A
 * failure (out of memory, the signer) loses the batch: each record comes
 * back as a NACK with INTERNAL_ERROR, so nothing posted goes unanswered. */
/* Records in the open batch (0 when not batching). */
static size_t
s_batched (const macx_agent_t *self)
{
    return self->batch ? macx_record_batch_count (self->batch) : 0;
}

static int
s_batch_close (macx_agent_t *self, macx_error_t *err)
{
    size_t n = s_batched (self);
    if (!n)
        return MACX_OK;
    macx_error_t e = { 0 };
    int rc = macx_record_batch_sign (self->batch, &e);
    self->holding = true;   /* queued together, sent together (one Records frame) */
    for (size_t i = 0; i < n; i++) {
        uint8_t *sealed = NULL;
        size_t len = 0;
        if (rc == MACX_OK)
            rc = macx_record_batch_take (self->batch, i, &sealed, &len, &e);
        if (rc == MACX_OK)
            rc = s_pending_push (self, self->batched[i].id, self->batched[i].sequence, sealed, len,
                                 self->batched[i].user, true, 0, &e);
        if (rc != MACX_OK) {
            macx_agent_event_t *ev = s_event_push (self);
            if (ev) {
                ev->kind = MACX_AGENT_NACK;
                memcpy (ev->record_id, self->batched[i].id, MACX_RECORD_ID_BYTES);
                ev->sequence = self->batched[i].sequence;
                ev->reason = MACX__REASON__INTERNAL_ERROR;
                ev->user = self->batched[i].user;
                snprintf (ev->message, sizeof ev->message, "the batch could not be signed or "
                          "queued: %s", macx_error_text (&e));
            }
        }
    }
    self->holding = false;
    s_send_pending (self);
    macx_record_batch_reset (self->batch);
    if (rc && err)
        *err = e;
    return rc;
}

int
macx_agent_post (macx_agent_t *self, Macx__Header *h, const Macx__Payload *payload, void *user,
                 macx_error_t *err)
{
    if (self->cfg.sim) {
        /* The claim is the agency's clock, which starts with the first
         * event: before it there is no simulated time to claim, and the
         * broker would judge the record by its wall-clock creation time. */
        if (self->now_ms <= 0)
            return macx_error_set (err, MACX_EINVAL, "simulated clock: no event handed out yet, "
                                   "so %s has no time to claim; post in answer to an event",
                                   self->cfg.agency);
        /* The simulated clock's sequences count from 1, so that equal times
         * order alike in every run. */
        self->last_sequence++;
        h->sim_ms = self->now_ms;
        h->sim_day = (int32_t) (self->now_ms / 86400000);
    }
    else {
        /* Sequences increase across restarts without state: wall-clock micros. */
        uint64_t now_us = (uint64_t) macx_clock_wall_ms () * 1000;
        self->last_sequence = self->last_sequence + 1 > now_us ? self->last_sequence + 1 : now_us;
    }
    macx_record_new_id (self->posted_id);
    h->record_id = (ProtobufCBinaryData) { MACX_RECORD_ID_BYTES, self->posted_id };
    h->sequence = self->last_sequence;
    if (self->batch) {
        size_t at = s_batched (self);
        int rc = macx_record_batch_add (self->batch, h, payload, err);
        if (rc)
            return rc;
        memcpy (self->batched[at].id, self->posted_id, MACX_RECORD_ID_BYTES);
        self->batched[at].sequence = h->sequence;
        self->batched[at].user = user;
        if (at == 0)
            self->batch_first_ms = s_mono_ms ();
        if (at + 1 >= (size_t) self->cfg.batch_max)
            s_batch_close (self, NULL);
        return MACX_OK;
    }
    uint8_t *sealed;
    size_t len;
    int rc = macx_record_seal (self->identity, self->registry, h, payload, &sealed, &len, err);
    if (rc)
        return rc;
    return s_pending_push (self, self->posted_id, h->sequence, sealed, len, user, true, h->sim_ms,
                           err);
}

int
macx_agent_post_raw (macx_agent_t *self, const uint8_t *sealed, size_t len, void *user,
                     macx_error_t *err)
{
    macx_record_t *rec = NULL;
    int rc = macx_record_decode (sealed, len, &rec, err);
    if (rc)
        return rc;
    s_batch_close (self, NULL);   /* what was posted before goes first */
    const Macx__Header *h = macx_record_header (rec);
    memcpy (self->posted_id, h->record_id.data, MACX_RECORD_ID_BYTES);
    uint64_t sequence = h->sequence;
    macx_record_destroy (&rec);
    uint8_t *copy = malloc (len ? len : 1);
    if (!copy)
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    memcpy (copy, sealed, len);
    return s_pending_push (self, self->posted_id, sequence, copy, len, user, false, self->now_ms,
                           err);
}

/* ---- receiving -------------------------------------------------------------- */

/* The index of a pending record by id, or -1. */
static ssize_t
s_pending_find (const macx_agent_t *self, const ProtobufCBinaryData *id)
{
    if (id->len != MACX_RECORD_ID_BYTES)
        return -1;
    /* Answers come mostly in the order of sending: the first is the usual hit. */
    for (size_t i = 0; i < self->npending; i++)
        if (memcmp (self->pending[self->p0 + i].id, id->data, MACX_RECORD_ID_BYTES) == 0)
            return (ssize_t) i;
    return -1;
}

static bool
s_pending_take (macx_agent_t *self, const ProtobufCBinaryData *id, s_pending_t *out)
{
    ssize_t found = s_pending_find (self, id);
    if (found < 0)
        return false;
    size_t i = (size_t) found;
    *out = self->pending[self->p0 + i];
    if (i == 0)
        self->p0++;
    else
        memmove (&self->pending[self->p0 + i], &self->pending[self->p0 + i + 1],
                 (self->npending - i - 1) * sizeof *self->pending);
    self->npending--;
    if (i < self->nsent)
        self->nsent--;
    if (!self->npending)
        self->p0 = 0;
    return true;
}

/* A transient refusal of a record we still hold: schedules its resend and
 * returns true, or false when it is to be reported (cfg.sim, retries used
 * up). A second answer to a record already waiting is dropped. */
static bool
s_retry (macx_agent_t *self, const Macx__Nack *n)
{
    if (self->cfg.sim || !macx_reason_transient (n->reason))
        return false;
    ssize_t found = s_pending_find (self, &n->record_id);
    if (found < 0)
        return false;
    s_pending_t *p = &self->pending[self->p0 + (size_t) found];
    if (!p->sent)
        return true;   /* already waiting out its backoff (an answer to a copy) */
    if (p->retries >= self->cfg.retry_max)
        return false;
    int64_t now = s_mono_ms ();
    if (!p->retries)
        p->first_refused_ms = now;
    /* retry_first_ms doubling up to retry_cap_ms, jittered between half and
     * all of it so that agencies refused together do not come back together */
    int64_t delay = self->cfg.retry_first_ms;
    for (int i = 0; i < p->retries && delay < self->cfg.retry_cap_ms; i++)
        delay *= 2;
    if (delay > self->cfg.retry_cap_ms)
        delay = self->cfg.retry_cap_ms;
    delay = delay / 2 + (delay > 1 ? rand_r (&self->retry_state) % (delay - delay / 2 + 1) : 0);
    p->retries++;
    p->retry_ms = now + delay;
    p->sent = false;
    if ((size_t) found < self->nsent)
        self->nsent = (size_t) found;
    self->retries++;
    macx_log (MACX_LOG_INFO, "transient refusal: sending the record again", "reason=%s "
              "sequence=%" PRIu64 " retry=%d of=%d in_ms=%" PRId64, macx_reason_name (n->reason),
              p->sequence, p->retries, self->cfg.retry_max, delay);
    return true;
}

static void
s_receipt_add (macx_agent_t *self, const uint8_t *id, uint64_t mseq)
{
    if (self->r_n == self->r_cap) {
        size_t cap = self->r_cap ? self->r_cap * 2 : 128;
        ProtobufCBinaryData *ids = realloc (self->r_ids, cap * sizeof *ids);
        if (!ids)
            return;
        self->r_ids = ids;
        uint64_t *seqs = realloc (self->r_seqs, cap * sizeof *seqs);
        if (!seqs)
            return;
        self->r_seqs = seqs;
        self->r_cap = cap;
    }
    uint8_t *copy = malloc (MACX_RECORD_ID_BYTES);
    if (!copy)
        return;
    memcpy (copy, id, MACX_RECORD_ID_BYTES);
    if (self->r_n == 0)
        self->r_first_ms = s_mono_ms ();
    self->r_ids[self->r_n] = (ProtobufCBinaryData) { MACX_RECORD_ID_BYTES, copy };
    self->r_seqs[self->r_n++] = mseq;
}

static bool
s_seen (macx_agent_t *self, const uint8_t *id)
{
    if (s_idset_has (&self->surfaced, id) || s_idset_has (&self->seen, id))
        return true;
    if (!self->env)
        return false;
    MDB_val k = { MACX_RECORD_ID_BYTES, (void *) id }, d;
    if (self->wtxn)
        return mdb_get (self->wtxn, self->seen_dbi, &k, &d) == 0;
    MDB_txn *txn;
    if (mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn))
        return false;
    bool found = mdb_get (txn, self->seen_dbi, &k, &d) == 0;
    mdb_txn_abort (txn);
    return found;
}

/* A delivery that did not open: if it is its sender's record and its
 * payload does not match its header, the evidence goes to the broker as a
 * signed complaint (docs/protocol.md "Complaints"), at once, so that it
 * precedes on this connection the receipt that follows in the next batch:
 * a broker that has the receipt has the complaint. Returns 1 when one was
 * sent, 0 when there is nothing to complain about, -1 when the socket did
 * not take it (then the record is not receipted: the broker sends it again
 * and the complaint goes then; it de-duplicates). */
static int
s_complain (macx_agent_t *self, const Macx__Deliver *d)
{
    uint8_t *c = NULL;
    size_t clen = 0;
    macx_error_t why = { 0 };
    if (macx_record_complaint_make (self->identity, self->registry, d->envelope.data,
                                    d->envelope.len, s_clock_ms (self), &c, &clen, &why))
        return 0;
    uint8_t prefix[16];
    size_t plen = macx_frame_prefix (MACX__FRAME__KIND_COMPLAINT, clen, prefix);
    zmq_msg_t m;
    int rc = -1;
    if (zmq_msg_init_size (&m, plen + clen) == 0) {
        memcpy (zmq_msg_data (&m), prefix, plen);
        memcpy ((uint8_t *) zmq_msg_data (&m) + plen, c, clen);
        if (zmq_msg_send (&m, self->dealer, ZMQ_DONTWAIT) >= 0)
            rc = 1;
        else {
            /* the copy holds the content key too */
            sodium_memzero (zmq_msg_data (&m), plen + clen);
            zmq_msg_close (&m);
        }
    }
    macx_record_complaint_free (&c, clen);
    return rc;
}

static void
s_terms_copy (macx_agent_terms_t *out, const Macx__Terms *t)
{
    memset (out, 0, sizeof *out);
    if (!t)
        return;
    snprintf (out->agreement, sizeof out->agreement, "%s", t->agreement);
    snprintf (out->flow, sizeof out->flow, "%s", t->flow);
    out->retention_days = (int) t->retention_days;
    out->expires_ms = t->expires_ms;
    snprintf (out->on_expiry, sizeof out->on_expiry, "%s", t->on_expiry);
}

static void
s_on_deliver (macx_agent_t *self, const Macx__Deliver *d)
{
    macx_error_t err = { 0 };
    macx_record_t *rec = NULL;
    int rc = macx_record_open_cached (self->identity, self->registry, self->roots,
                                      d->envelope.data, d->envelope.len, &rec, &err);
    if (rc) {
        int complained = s_complain (self, d);
        if (complained < 0) {
            macx_log (MACX_LOG_WARN, "complaint not sent: the record waits for redelivery",
                      "why=\"%s\"", macx_error_text (&err));
            return;
        }
        /* Signed evidence against its sender; receipt it so it is not sent
         * forever, and tell the application. */
        macx_record_t *raw = NULL;
        macx_agent_event_t *ev = s_event_push (self);
        if (macx_record_decode (d->envelope.data, d->envelope.len, &raw, NULL) == 0) {
            const Macx__Header *h = macx_record_header (raw);
            s_receipt_add (self, h->record_id.data, d->mailbox_seq);
            if (ev)
                memcpy (ev->record_id, h->record_id.data, MACX_RECORD_ID_BYTES);
            macx_record_destroy (&raw);
        }
        if (ev) {
            ev->kind = MACX_AGENT_ERROR;
            ev->mailbox_seq = d->mailbox_seq;
            ev->reason = MACX__REASON__MALFORMED;
            snprintf (ev->message, sizeof ev->message, "delivery refused: %s%s",
                      macx_error_text (&err),
                      complained ? " (complaint sent to the broker)" : "");
        }
        macx_log (MACX_LOG_WARN, "delivery refused", "why=\"%s\" complaint=%s",
                  macx_error_text (&err), complained ? "sent" : "none");
        return;
    }
    const Macx__Header *h = macx_record_header (rec);
    if (s_seen (self, h->record_id.data)) {
        s_receipt_add (self, h->record_id.data, d->mailbox_seq);   /* a duplicate */
        macx_record_destroy (&rec);
        return;
    }
    if (self->cfg.sim && d->arrive_ms < self->done_ms) {
        /* The broker promised nothing would reach us before the time we
         * had finished: refuse it (not receipted, so it stays in the
         * broker's mailbox) and say so. */
        char a[24], b[24], id[2 * MACX_RECORD_ID_BYTES + 1];
        macx_hex_encode (h->record_id.data, MACX_RECORD_ID_BYTES, id);
        self->late++;
        macx_log (MACX_LOG_ERROR, "time violation: a record reached us stamped in our past",
                  "record=%s sender=%s arrive=%s finished=%s", id, h->sender,
                  macx_time_format (d->arrive_ms, a), macx_time_format (self->done_ms, b));
        macx_record_destroy (&rec);
        return;
    }
    s_idset_add (&self->surfaced, h->record_id.data);
    macx_agent_event_t *ev = s_event_for (self);
    if (!ev) {
        macx_record_destroy (&rec);
        return;
    }
    ev->kind = MACX_AGENT_RECORD;
    memcpy (ev->record_id, h->record_id.data, MACX_RECORD_ID_BYTES);
    ev->sequence = h->sequence;
    ev->record = rec;
    ev->mailbox_seq = d->mailbox_seq;
    ev->redelivery = d->redelivery;
    s_terms_copy (&ev->terms, d->terms);
    ev->time_ms = d->arrive_ms;
    ev->clock_ms = d->clock_ms;
    ev->order = h->sequence;
    snprintf (ev->from, sizeof ev->from, "%s", h->sender);
    s_event_commit (self, ev);
}

/* The broker's signed answer kept with its event (ack or nack given). */
static void
s_keep_answer (macx_agent_t *self, macx_agent_event_t *ev, const Macx__Ack *ack,
               const Macx__Nack *nack)
{
    macx_error_t err = { 0 };
    macx_answer_t *a = malloc (sizeof *a);
    int rc = !a ? macx_error_set (&err, MACX_ENOMEM, "out of memory")
             : ack ? macx_answer_from_ack (a, self->cfg.agency, ack, &err)
                   : macx_answer_from_nack (a, self->cfg.agency, nack, &err);
    if (rc) {
        free (a);
        snprintf (ev->answer_error, sizeof ev->answer_error, "%s", macx_error_text (&err));
        return;
    }
    ev->answer = a;
}

static void
s_on_ack (macx_agent_t *self, const Macx__Ack *ack)
{
    s_pending_t p;
    macx_agent_event_t *ev;
    if (s_pending_take (self, &ack->record_id, &p)) {
        if ((ev = s_event_for (self))) {
            ev->kind = MACX_AGENT_ACK;
            memcpy (ev->record_id, p.id, MACX_RECORD_ID_BYTES);
            ev->sequence = p.sequence;
            ev->audit_seq = ack->audit_seq;
            ev->user = p.user;
            ev->time_ms = ack->at_ms;
            ev->clock_ms = ack->clock_ms;
            ev->order = p.sequence;
            s_keep_answer (self, ev, ack, NULL);
            s_event_commit (self, ev);
        }
        free (p.sealed);
    }
}

/* A new connection: the old one is dropped with whatever it queued, and
 * after the handshake everything unanswered goes again (REPLAY is an ACK). */
static void
s_reconnect (macx_agent_t *self, const char *why)
{
    macx_log (MACX_LOG_WARN, "reconnecting to the broker", "agency=%s why=\"%s\"",
              self->cfg.agency, why);
    zmq_disconnect (self->dealer, self->cfg.broker);
    zmq_connect (self->dealer, self->cfg.broker);
    self->connected = false;
    self->heard_ms = s_mono_ms ();
}

static void
s_on_frame (macx_agent_t *self, const uint8_t *data, size_t len)
{
    Macx__Frame *f = macx__frame__unpack (NULL, len, data);
    if (!f) {
        macx_log (MACX_LOG_WARN, "broker sent a frame that does not decode", "bytes=%zu", len);
        return;
    }
    s_pending_t p;
    macx_agent_event_t *ev;
    switch (f->kind_case) {
    case MACX__FRAME__KIND_ACK:
        s_on_ack (self, f->ack);
        break;
    case MACX__FRAME__KIND_ACKS:
        for (size_t i = 0; i < f->acks->n_acks; i++)
            s_on_ack (self, f->acks->acks[i]);
        break;
    case MACX__FRAME__KIND_NACK: {
        const Macx__Nack *n = f->nack;
        if (s_retry (self, n))
            break;
        if (!s_pending_take (self, &n->record_id, &p))
            break;   /* a duplicate answer to a record we re-sent */
        if (!(ev = s_event_for (self))) {
            free (p.sealed);
            break;
        }
        /* A replay of a record we sealed and sent again after a reconnect
         * means the broker stored it before we heard back: that is an
         * acknowledgement. A replay of anything else is a refusal. */
        ev->kind = n->reason == MACX__REASON__REPLAY && p.sealed_here && p.sends > 1
                       ? MACX_AGENT_ACK : MACX_AGENT_NACK;
        memcpy (ev->record_id, p.id, MACX_RECORD_ID_BYTES);
        ev->sequence = p.sequence;
        ev->audit_seq = n->audit_seq;
        ev->reason = n->reason;
        ev->user = p.user;
        if (p.retries)
            snprintf (ev->message, sizeof ev->message, "%s (gave up after %d attempts over "
                      "%.1f s)", n->message, p.retries + 1,
                      (double) (s_mono_ms () - p.first_refused_ms) / 1000.0);
        else
            snprintf (ev->message, sizeof ev->message, "%s", n->message);
        snprintf (ev->agreement, sizeof ev->agreement, "%s", n->agreement);
        snprintf (ev->flow, sizeof ev->flow, "%s", n->flow);
        ev->time_ms = n->at_ms;
        ev->clock_ms = n->clock_ms;
        ev->order = p.sequence;
        s_keep_answer (self, ev, NULL, n);
        s_event_commit (self, ev);
        free (p.sealed);
        break;
    }
    case MACX__FRAME__KIND_TIME_GRANT: {
        const Macx__TimeGrant *g = f->time_grant;
        if (g->end) {
            self->ended = true;
            snprintf (self->end_why, sizeof self->end_why, "the broker ended the simulation: %s",
                      g->why && *g->why ? g->why : "no reason given");
        }
        else if (g->until_ms > self->grant_ms) {
            self->grant_ms = g->until_ms;
            self->verdict_ms = g->verdict_ms;
            self->asked = false;
        }
        break;
    }
    case MACX__FRAME__KIND_DELIVER:
        s_on_deliver (self, f->deliver);
        break;
    case MACX__FRAME__KIND_DELIVERS:
        for (size_t i = 0; i < f->delivers->n_deliveries; i++)
            s_on_deliver (self, f->delivers->deliveries[i]);
        break;
    case MACX__FRAME__KIND_ERROR:
        if (f->error->reason == MACX__REASON__PEER_OVERLOADED
            || f->error->reason == MACX__REASON__SLOW_CONSUMER) {
            /* The broker disconnected us for a limit and drops what this
             * connection sends: a new connection (a new routing id), and
             * everything unanswered goes again after the hello. */
            s_reconnect (self, f->error->message);
        }
        if ((ev = s_event_push (self))) {
            ev->kind = MACX_AGENT_ERROR;
            ev->reason = f->error->reason;
            snprintf (ev->message, sizeof ev->message, "broker: %s", f->error->message);
        }
        break;
    case MACX__FRAME__KIND_STATS_REPLY:
        if ((ev = s_event_push (self))) {
            ev->kind = MACX_AGENT_STATS;
            ev->stats_json = strdup (f->stats_reply->json);
        }
        break;
    default:
        break;
    }
    macx__frame__free_unpacked (f, NULL);
}

static void
s_on_monitor (macx_agent_t *self)
{
    zmq_msg_t m1, m2;
    zmq_msg_init (&m1);
    zmq_msg_init (&m2);
    if (zmq_msg_recv (&m1, self->monitor, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&m1);
        zmq_msg_close (&m2);
        return;
    }
    if (zmq_msg_more (&m1))
        zmq_msg_recv (&m2, self->monitor, 0);
    uint16_t event = 0;
    if (zmq_msg_size (&m1) >= 2)
        memcpy (&event, zmq_msg_data (&m1), 2);
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        self->connected = true;
        self->heard_ms = s_mono_ms ();
        s_hello (self);
        macx_log (MACX_LOG_DEBUG, "connected", "agency=%s unacked=%zu", self->cfg.agency,
                  self->npending);
    }
    else if (event == ZMQ_EVENT_DISCONNECTED)
        self->connected = false;
    else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        self->refused = true;
    zmq_msg_close (&m1);
    zmq_msg_close (&m2);
}

/* Sends the retention receipts that could not go when they were made, in
 * order, as far as the socket takes them. */
static void
s_retention_send_queued (macx_agent_t *self)
{
    size_t sent = 0;
    while (sent < self->nrq) {
        zmq_msg_t m;
        if (zmq_msg_init_size (&m, self->rq[sent].len))
            break;
        memcpy (zmq_msg_data (&m), self->rq[sent].frame, self->rq[sent].len);
        if (zmq_msg_send (&m, self->dealer, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&m);
            break;
        }
        free (self->rq[sent++].frame);
    }
    memmove (self->rq, self->rq + sent, (self->nrq - sent) * sizeof *self->rq);
    self->nrq -= sent;
}

static int s_flush_receipts (macx_agent_t *self);

int
macx_agent_flush (macx_agent_t *self)
{
    int rc = s_flush_receipts (self);
    if (self->nrq)
        s_retention_send_queued (self);
    return rc;
}

int
macx_agent_retention (macx_agent_t *self, const uint8_t *record_id, const char *action,
                      int64_t at_ms, macx_error_t *err)
{
    static const char *const actions[] = { "deleted", "anonymised", "review" };
    size_t a = 0;
    while (a < 3 && strcmp (action, actions[a]) != 0)
        a++;
    if (a == 3)
        return macx_error_set (err, MACX_EINVAL, "retention action '%s' is not deleted, "
                               "anonymised or review", action);
    /* the broker holds our copy once it has the delivery's receipt */
    if (self->r_n)
        s_flush_receipts (self);
    Macx__RetentionReceipt r = MACX__RETENTION_RECEIPT__INIT;
    r.agency = self->cfg.agency;
    r.record_id = (ProtobufCBinaryData) { MACX_RECORD_ID_BYTES, (uint8_t *) record_id };
    r.action = (char *) actions[a];
    r.at_ms = at_ms;
    uint8_t digest[64], sig[MACX_SIG_BYTES];
    macx_record_retention_digest (&r, digest);
    macx_identity_sign (self->identity, digest, sizeof digest, sig);
    r.signature = (ProtobufCBinaryData) { sizeof sig, sig };
    Macx__Frame f = MACX__FRAME__INIT;
    f.kind_case = MACX__FRAME__KIND_RETENTION_RECEIPT;
    f.retention_receipt = &r;
    if (!self->nrq && s_send_frame (self, &f) == MACX_OK)
        return MACX_OK;
    if (self->nrq == self->caprq) {
        size_t cap = self->caprq ? self->caprq * 2 : 16;
        void *g = realloc (self->rq, cap * sizeof *self->rq);
        if (!g)
            return macx_error_set (err, MACX_ENOMEM, "out of memory");
        self->rq = g;
        self->caprq = cap;
    }
    size_t len = macx__frame__get_packed_size (&f);
    uint8_t *frame = malloc (len);
    if (!frame)
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    macx__frame__pack (&f, frame);
    self->rq[self->nrq].frame = frame;
    self->rq[self->nrq++].len = len;
    return MACX_OK;
}

/* Commits the seen-set and sends the pending delivery receipt. */
static int
s_flush_receipts (macx_agent_t *self)
{
    s_batch_close (self, NULL);
    if (self->wtxn) {
        int rc = mdb_txn_commit (self->wtxn);
        self->wtxn = NULL;
        if (rc) {
            /* Not marked seen: they may come again and be processed again
             * (at least once), but we do not receipt what we did not record. */
            macx_log (MACX_LOG_ERROR, "agent state commit failed", "error=\"%s\"", mdb_strerror (rc));
            return MACX_ESTORE;
        }
    }
    if (!self->r_n)
        return MACX_OK;
    Macx__Receipt r = MACX__RECEIPT__INIT;
    r.recipient = self->cfg.agency;
    r.record_ids = self->r_ids;
    r.n_record_ids = self->r_n;
    r.mailbox_seqs = self->r_seqs;
    r.n_mailbox_seqs = self->r_n;
    r.time_ms = s_clock_ms (self);
    uint8_t digest[64], sig[MACX_SIG_BYTES];
    macx_record_receipt_digest (&r, digest);
    macx_identity_sign (self->identity, digest, sizeof digest, sig);
    r.signature = (ProtobufCBinaryData) { sizeof sig, sig };
    Macx__Frame f = MACX__FRAME__INIT;
    f.kind_case = MACX__FRAME__KIND_RECEIPT;
    f.receipt = &r;
    int rc = s_send_frame (self, &f);
    /* If it could not go, the broker will redeliver and we receipt again. */
    for (size_t i = 0; i < self->r_n; i++)
        free (self->r_ids[i].data);
    self->r_n = 0;
    return rc;
}

static int
s_poll (macx_agent_t *self, int timeout_ms)
{
    /* A broker that cut us off for a limit may not have been able to say so
     * (SLOW_CONSUMER: our queue was full): records unanswered for this long
     * on a live connection mean a new one. Not in simulated time, where
     * answers wait for grants. */
    if (!self->cfg.sim && self->connected && self->nsent && self->cfg.answer_timeout_ms > 0
        && s_mono_ms () - self->heard_ms > self->cfg.answer_timeout_ms)
        s_reconnect (self, "records unanswered too long: the broker may have cut this connection");
    if (self->nsent < self->npending)
        s_send_pending (self);
    zmq_pollitem_t items[2] = { { self->dealer, 0, ZMQ_POLLIN, 0 },
                                { self->monitor, 0, ZMQ_POLLIN, 0 } };
    int rc = zmq_poll (items, 2, timeout_ms);
    if (rc <= 0)
        return rc;
    if (items[1].revents & ZMQ_POLLIN)
        for (int i = 0; i < 16; i++) {
            zmq_pollitem_t p = { self->monitor, 0, ZMQ_POLLIN, 0 };
            if (zmq_poll (&p, 1, 0) <= 0)
                break;
            s_on_monitor (self);
        }
    if (items[0].revents & ZMQ_POLLIN)
        for (int i = 0; i < 512; i++) {
            zmq_msg_t m;
            zmq_msg_init (&m);
            if (zmq_msg_recv (&m, self->dealer, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close (&m);
                break;
            }
            self->heard_ms = s_mono_ms ();
            s_on_frame (self, zmq_msg_data (&m), zmq_msg_size (&m));
            zmq_msg_close (&m);
        }
    return rc;
}

/* The simulated clock's next: the earliest event before the grant; else,
 * once everything we sent has gone to the socket, receipts and a time
 * request, then wait for the grant (or the end). */
static int
s_sim_next (macx_agent_t *self, int timeout_ms, macx_agent_event_t *ev, macx_error_t *err)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : s_mono_ms () + timeout_ms;
    for (;;) {
        if (s_event_pop (self, ev))
            return MACX_OK;   /* errors and statistics are not in time */
        if (self->refused)
            return s_refused (self, err);
        if (self->nheap && self->heap[0]->time_ms < self->grant_ms) {
            if (self->jitter_us)   /* a test's scheduler noise: the order must not care */
                usleep ((useconds_t) (rand_r (&self->jitter_state) % self->jitter_us));
            macx_agent_event_t *top = s_heap_pop (self);
            *ev = *top;
            free (top);
            if (ev->time_ms > self->now_ms)
                self->now_ms = ev->time_ms;
            return MACX_OK;
        }
        if (self->ended)
            return macx_error_set (err, MACX_EDONE, "%s", self->end_why);
        if (self->r_n >= (size_t) self->cfg.receipt_batch)
            macx_agent_flush (self);
        bool all_sent = self->nsent == self->npending;
        if (!self->asked && self->connected && all_sent) {
            /* Receipts go in batches (each is a signature to make and to
             * check), but all of them before we say we have nothing left:
             * they precede the request, so the simulation never ends with a
             * delivery unreceipted. */
            if (self->r_n >= (size_t) self->cfg.receipt_batch || s_next_event_ms (self) == INT64_MAX)
                macx_agent_flush (self);
            if (s_send_request (self) == MACX_OK) {
                self->asked = true;
                self->done_ms = self->grant_ms;
                self->requests++;
            }
        }
        int64_t now = s_mono_ms ();
        if (now >= deadline) {
            if (s_poll (self, 0) > 0)
                continue;
            return macx_error_set (err, MACX_ETIMEOUT, "no event within %d ms", timeout_ms);
        }
        int64_t wait = deadline - now > 1000 ? 1000 : deadline - now;
        if (s_poll (self, (int) wait) < 0 && zmq_errno () != EINTR)
            return macx_error_set (err, MACX_EIO, "poll: %s", zmq_strerror (zmq_errno ()));
    }
}

int
macx_agent_next (macx_agent_t *self, int timeout_ms, macx_agent_event_t *ev, macx_error_t *err)
{
    if (self->cfg.sim)
        return s_sim_next (self, timeout_ms, ev, err);
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : s_mono_ms () + timeout_ms;
    for (;;) {
        /* Receipts (and seen marks) first: records queued here must not
         * reach the application more than one receipt window ahead of
         * what it has receipted, or a crash would show it up to a whole
         * credit's worth of them again. */
        int64_t now = s_mono_ms ();
        if (self->r_n && (self->r_n >= (size_t) self->cfg.receipt_batch
                          || now - self->r_first_ms >= self->cfg.receipt_delay_ms))
            macx_agent_flush (self);
        if (s_batched (self) && now - self->batch_first_ms >= self->cfg.batch_ms)
            s_batch_close (self, NULL);   /* due */
        if (s_event_pop (self, ev))
            return MACX_OK;
        if (self->refused)
            return s_refused (self, err);
        if (now >= deadline) {
            /* Even with no time left, look at the sockets once. */
            if (s_poll (self, 0) > 0 && s_event_pop (self, ev))
                return MACX_OK;
            return macx_error_set (err, MACX_ETIMEOUT, "no event within %d ms", timeout_ms);
        }
        int64_t wait = deadline - now;
        if (s_batched (self)) {
            /* The application waits with nothing to hand it: nothing more
             * is posted until something comes, so the batch goes now. */
            s_batch_close (self, NULL);
            continue;
        }
        if (self->r_n) {
            int64_t due = self->r_first_ms + self->cfg.receipt_delay_ms - now;
            if (due < wait)
                wait = due < 0 ? 0 : due;
        }
        int64_t retry = s_retry_due (self);
        if (retry >= 0 && retry - now < wait)
            wait = retry - now < 0 ? 0 : retry - now;
        if (wait > 1000)
            wait = 1000;
        if (s_poll (self, (int) wait) < 0 && zmq_errno () != EINTR)
            return macx_error_set (err, MACX_EIO, "poll: %s", zmq_strerror (zmq_errno ()));
    }
}

void
macx_agent_done (macx_agent_t *self, macx_agent_event_t *ev)
{
    if (ev->kind == MACX_AGENT_RECORD && ev->record) {
        s_idset_del (&self->surfaced, ev->record_id);
        if (self->env) {
            if (!self->wtxn && mdb_txn_begin (self->env, NULL, 0, &self->wtxn))
                self->wtxn = NULL;
            if (self->wtxn) {
                int64_t day = s_clock_ms (self) / 86400000;
                MDB_val k = { MACX_RECORD_ID_BYTES, ev->record_id }, d = { sizeof day, &day };
                mdb_put (self->wtxn, self->seen_dbi, &k, &d, 0);
            }
        }
        else
            s_idset_add (&self->seen, ev->record_id);
        s_receipt_add (self, ev->record_id, ev->mailbox_seq);
    }
    macx_record_destroy (&ev->record);
    free (ev->stats_json);
    ev->stats_json = NULL;
    free (ev->answer);
    ev->answer = NULL;
}

int
macx_agent_send (macx_agent_t *self, Macx__Header *header, const Macx__Payload *payload,
                 int timeout_ms, macx_agent_event_t *out, macx_error_t *err)
{
    int rc = macx_agent_post (self, header, payload, NULL, err);
    if (rc == MACX_OK)
        rc = s_batch_close (self, err);   /* we wait for it: nothing more comes */
    if (rc)
        return rc;
    uint8_t id[MACX_RECORD_ID_BYTES];
    memcpy (id, self->posted_id, sizeof id);
    int64_t deadline = s_mono_ms () + timeout_ms;
    for (;;) {
        for (size_t i = 0; i < self->qlen; i++) {
            macx_agent_event_t *ev = &self->queue[(self->qhead + i) % self->qcap];
            if ((ev->kind == MACX_AGENT_ACK || ev->kind == MACX_AGENT_NACK)
                && memcmp (ev->record_id, id, sizeof id) == 0) {
                *out = *ev;
                for (size_t j = i; j + 1 < self->qlen; j++)
                    self->queue[(self->qhead + j) % self->qcap]
                        = self->queue[(self->qhead + j + 1) % self->qcap];
                self->qlen--;
                return MACX_OK;
            }
        }
        if (self->refused)
            return s_refused (self, err);
        int64_t now = s_mono_ms ();
        if (now >= deadline)
            return macx_error_set (err, MACX_ETIMEOUT, "no answer from the broker within %d ms",
                                   timeout_ms);
        int64_t wait = deadline - now > 200 ? 200 : deadline - now;
        int64_t retry = s_retry_due (self);
        if (retry >= 0 && retry - now < wait)
            wait = retry - now < 0 ? 0 : retry - now;
        s_poll (self, (int) wait);
    }
}

int
macx_agent_request_stats (macx_agent_t *self)
{
    Macx__StatsRequest q = MACX__STATS_REQUEST__INIT;
    q.json = 1;
    Macx__Frame f = MACX__FRAME__INIT;
    f.kind_case = MACX__FRAME__KIND_STATS_REQUEST;
    f.stats_request = &q;
    return s_send_frame (self, &f);
}

size_t macx_agent_unacked (const macx_agent_t *self) { return self->npending; }
uint64_t macx_agent_retries (const macx_agent_t *self) { return self->retries; }
bool macx_agent_connected (const macx_agent_t *self) { return self->connected; }
const macx_registry_t *macx_agent_registry (const macx_agent_t *self) { return self->registry; }
macx_identity_t *macx_agent_identity (macx_agent_t *self) { return self->identity; }

/* ---- lifecycle -------------------------------------------------------------- */

void
macx_agent_config_defaults (macx_agent_config_t *cfg)
{
    memset (cfg, 0, sizeof *cfg);
    snprintf (cfg->broker, sizeof cfg->broker, "tcp://127.0.0.1:7750");
    snprintf (cfg->broker_id, sizeof cfg->broker_id, "broker");
    cfg->credit = 256;
    cfg->receipt_batch = 64;
    cfg->receipt_delay_ms = 20;
    cfg->heartbeat_ms = 1000;
    cfg->retry_max = 6;
    cfg->window = 1024;
    cfg->answer_timeout_ms = 5000;
    cfg->retry_first_ms = 100;
    cfg->retry_cap_ms = 5000;
    cfg->batch_max = 0;
    cfg->batch_ms = 2;
}

macx_agent_t *
macx_agent_new (const macx_agent_config_t *cfg, macx_error_t *err)
{
    macx_agent_t *self = calloc (1, sizeof *self);
    if (!self) {
        macx_error_set (err, MACX_ENOMEM, "out of memory");
        return NULL;
    }
    self->cfg = *cfg;
    self->retry_state = (unsigned) getpid () ^ (unsigned) macx_clock_mono_ns ();
    const char *jitter = getenv ("MACX_TEST_JITTER_US");
    if (cfg->sim && jitter && atoi (jitter) > 0) {
        self->jitter_us = (unsigned) atoi (jitter);
        self->jitter_state = (unsigned) getpid () ^ (unsigned) macx_clock_mono_ns ();
        macx_log (MACX_LOG_WARN, "test jitter on", "max_us=%u", self->jitter_us);
    }
    if (!(self->registry = macx_registry_load (cfg->keys_dir, err))
        || !(self->identity = macx_identity_load (cfg->keys_dir, cfg->agency, err)))
        goto fail;
    self->broker = macx_registry_find (self->registry, cfg->broker_id);
    if (!self->broker) {
        macx_error_set (err, MACX_ENOTFOUND, "%s: no broker identity '%s' (create it with "
                        "'macx keys init %s --agency %s:broker')", cfg->keys_dir, cfg->broker_id,
                        cfg->keys_dir, cfg->broker_id);
        goto fail;
    }
    if (cfg->batch_max < 0 || cfg->batch_max > MACX_BATCH_MAX || cfg->batch_ms < 0) {
        macx_error_set (err, MACX_EINVAL, "batch_max must be 0 to %d and batch_ms at least 0, "
                        "not %d and %d", MACX_BATCH_MAX, cfg->batch_max, cfg->batch_ms);
        goto fail;
    }
    /* Batches are signed on a wall-clock window: not in simulated time,
     * where every record is signed on its own. */
    if (cfg->batch_max > 1 && !cfg->sim
        && (!(self->batch = macx_record_batch_new (self->identity, self->registry))
            || !(self->batched = calloc ((size_t) cfg->batch_max, sizeof *self->batched)))) {
        macx_error_set (err, MACX_ENOMEM, "out of memory");
        goto fail;
    }
    if (!(self->roots = macx_root_cache_new ())) {
        macx_error_set (err, MACX_ENOMEM, "out of memory");
        goto fail;
    }
    /* The revoked list is the registry's: an identity loads only its own files. */
    const macx_agency_t *me = macx_registry_find (self->registry, cfg->agency);
    if (me && me->revoked) {
        macx_error_set (err, MACX_EREVOKED, "agency '%s' is revoked in %s", cfg->agency,
                        cfg->keys_dir);
        goto fail;
    }
    if (cfg->state_dir[0]) {
        int rc;
        MDB_txn *txn;
        if (mkdir (cfg->state_dir, 0700) != 0 && errno != EEXIST) {
            macx_error_set (err, MACX_EIO, "%s: %s", cfg->state_dir, strerror (errno));
            goto fail;
        }
        if ((rc = mdb_env_create (&self->env)) || (rc = mdb_env_set_maxdbs (self->env, 4))
            || (rc = mdb_env_set_mapsize (self->env, (size_t) 256 << 20))
            /* A pilot's agency does not outlive its run: no fsync per window. */
            || (rc = mdb_env_open (self->env, cfg->state_dir,
                                   MDB_NOTLS | (cfg->sim ? MDB_NOSYNC : 0), 0600))
            || (rc = mdb_txn_begin (self->env, NULL, 0, &txn))) {
            macx_error_set (err, MACX_ESTORE, "%s: %s", cfg->state_dir, mdb_strerror (rc));
            goto fail;
        }
        if ((rc = mdb_dbi_open (txn, "seen", MDB_CREATE, &self->seen_dbi))
            || (rc = mdb_txn_commit (txn))) {
            macx_error_set (err, MACX_ESTORE, "%s: %s", cfg->state_dir, mdb_strerror (rc));
            goto fail;
        }
    }
    self->ctx = zmq_ctx_new ();
    self->dealer = zmq_socket (self->ctx, ZMQ_DEALER);
    int one = 1, ivl = 100, ivl_max = 2000, linger = 2000, hb = cfg->heartbeat_ms,
        hbt = 3 * cfg->heartbeat_ms, hwm = 100000;
    zmq_setsockopt (self->dealer, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_setsockopt (self->dealer, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt (self->dealer, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
    zmq_setsockopt (self->dealer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (self->dealer, ZMQ_HEARTBEAT_IVL, &hb, sizeof hb);
    zmq_setsockopt (self->dealer, ZMQ_HEARTBEAT_TIMEOUT, &hbt, sizeof hbt);
    zmq_setsockopt (self->dealer, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (self->dealer, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (macx_identity_curve_apply (self->identity, self->dealer, false, self->broker->curve_pk)) {
        macx_error_set (err, MACX_EINTERNAL, "cannot set CURVE keys");
        goto fail;
    }
    char mon[64];
    snprintf (mon, sizeof mon, "inproc://macx-agent-monitor-%p", (void *) self);
    if (zmq_socket_monitor (self->dealer, mon, ZMQ_EVENT_HANDSHAKE_SUCCEEDED
                                                   | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                                                   | ZMQ_EVENT_DISCONNECTED) != 0) {
        macx_error_set (err, MACX_EINTERNAL, "socket monitor: %s", zmq_strerror (zmq_errno ()));
        goto fail;
    }
    self->monitor = zmq_socket (self->ctx, ZMQ_PAIR);
    zmq_setsockopt (self->monitor, ZMQ_LINGER, &(int) { 0 }, sizeof (int));
    if (zmq_connect (self->monitor, mon) != 0 || zmq_connect (self->dealer, cfg->broker) != 0) {
        macx_error_set (err, MACX_EINVAL, "cannot connect to %s: %s", cfg->broker,
                        zmq_strerror (zmq_errno ()));
        goto fail;
    }
    return self;
fail:
    macx_agent_destroy (&self);
    return NULL;
}

void
macx_agent_destroy (macx_agent_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    macx_agent_t *self = *self_p;
    if (self->dealer) {
        if (self->connected) {
            macx_agent_flush (self);
            /* a goodbye, so that the broker does not audit a lost connection */
            Macx__Bye bye = MACX__BYE__INIT;
            Macx__Frame f = MACX__FRAME__INIT;
            f.kind_case = MACX__FRAME__KIND_BYE;
            f.bye = &bye;
            s_send_frame (self, &f);
        }
        zmq_socket_monitor (self->dealer, NULL, 0);
        zmq_close (self->dealer);
    }
    if (self->monitor)
        zmq_close (self->monitor);
    if (self->ctx)
        zmq_ctx_term (self->ctx);
    if (self->wtxn)
        mdb_txn_abort (self->wtxn);
    if (self->env)
        mdb_env_close (self->env);
    for (size_t i = 0; i < self->npending; i++)
        free (self->pending[self->p0 + i].sealed);
    free (self->pending);
    macx_agent_event_t ev;
    while (s_event_pop (self, &ev)) {
        macx_record_destroy (&ev.record);
        free (ev.stats_json);
        free (ev.answer);
    }
    free (self->queue);
    for (size_t i = 0; i < self->nheap; i++) {
        macx_record_destroy (&self->heap[i]->record);
        free (self->heap[i]->answer);
        free (self->heap[i]);
    }
    free (self->heap);
    for (size_t i = 0; i < self->r_n; i++)
        free (self->r_ids[i].data);
    for (size_t i = 0; i < self->nrq; i++)
        free (self->rq[i].frame);
    free (self->rq);
    free (self->r_ids);
    free (self->r_seqs);
    s_idset_free (&self->seen);
    s_idset_free (&self->surfaced);
    macx_record_batch_destroy (&self->batch);
    free (self->batched);
    macx_root_cache_destroy (&self->roots);
    macx_identity_destroy (&self->identity);
    macx_registry_destroy (&self->registry);
    free (self);
    *self_p = NULL;
}
