/* macx_peer.c -- a test tool: one agency's connection to a broker, well
 * behaved or hostile, for tests/integration/broker_soak.sh. Owns one CURVE
 * DEALER socket and nothing else; prints one JSON line when it ends.
 *
 *   macx_peer MODE --keys DIR --broker EP --as AGENCY [--seconds S] [--count N]
 *             [--to A[,B...]] [--type case_file|share|enrichment] [--rate R]
 *             [--window W] [--credit N] [--pool N] [--read] [--drain S]
 *             [--record FILE --key real|random [--flip-signature]]
 *
 * Modes:
 *   good    sends records at R per second (at most W unanswered), reads its
 *           answers; reports the rate it achieved and the send -> answer
 *           latency (monotonic), p50, p99 and max
 *   flood   sends valid records as fast as the socket takes them (or at R),
 *           never reads: a pool of --pool records sealed up front, cycled
 *   badsig  the same with one signature byte flipped in every record;
 *           --read reads (and discards) the answers
 *   credit  says Hello with credit 4294967295, then sends Credit frames with
 *           huge grants at R per second (0: as fast as it can), never reads
 *   noread  says Hello with --credit, then never reads anything
 *   batchorder  batch-signed records one at a time, out of order, pasted
 *           between batches, with a forged path and a foreign root: one
 *           JSON line per step with the answer
 *   records several records in one Records frame (a batch; a replay and a
 *           forgery among good ones), and malformed Records frames: one JSON
 *           line per frame with the answer to each record it carried
 *   complain  one manifest complaint about the record in --record FILE, with
 *           its real content key or a random one (--key real|random), its
 *           signature intact or not (--flip-signature): forged complaints
 *           for tests/integration/broker_complaints.sh
 *   retention  one RetentionReceipt for --record HEX (the record id) with --action A (default
 *           deleted) at --at-ms T (default the wall clock), signed by AGENCY,
 *           or forged with --forge flip (a signature byte flipped), unsigned
 *           (no signature), agency=ID (naming ID, signed by AGENCY) or
 *           junk (bytes that do not decode); then waits for the broker's
 *           counters (so the receipt has been judged) and says goodbye
 * Each runs for --seconds S or until --count N frames are sent, whichever
 * comes first, and exits 0 (2 on a usage error, 1 when it cannot start). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "error.h"
#include "file.h"
#include "frame.h"
#include "hist.h"
#include "keys.h"
#include "macx.pb-c.h"
#include "names.h"
#include "record.h"

#define S_MS 1000000ull   /* ns */
#define S_TRACKED 16      /* records mode: answers kept by record index */

/* What a record of each type needs to be accepted by the baseline policy. */
typedef struct {
    const char *type;
    int phase;
    macx_record_field_t fields[2];
    size_t nfields;
} s_template_t;

static const s_template_t s_templates[] = {
    { "case_file", MACX__PHASE__IDENTIFICATION,
      { { "subject_name", NULL, "Ada Quill" }, { "closure_category", NULL, "closed" } }, 2 },
    { "share", MACX__PHASE__SHARING, { { "subject_name", NULL, "Ada Quill" } }, 1 },
    { "enrichment", MACX__PHASE__ENRICHMENT, { { "subject_name", NULL, "Ada Quill" } }, 1 },
};

typedef struct {
    const char *mode, *keys, *broker, *broker_id, *as, *to, *type;
    const char *case_id;       /* every record's case (--case), or C-SOAK-<index> */
    const char *action, *forge;   /* retention (and --record: the record id in hex) */
    int64_t at_ms;
    double rate, seconds, drain;
    uint64_t count;
    uint64_t window, pool;
    uint64_t bytes;            /* big: the frame's size */
    uint32_t credit;
    bool credit_set, read;
    const char *record, *key;  /* complain: the sealed record, "real" or "random" */
    bool flip;                 /* complain: flip a signature byte */
} s_opts_t;

typedef struct {
    s_opts_t o;
    const s_template_t *tpl;
    macx_registry_t *registry;
    macx_identity_t *identity;
    void *ctx, *dealer;
    char *recipients[MACX_RECIPIENTS_MAX];
    size_t nrecipients;
    char to_buf[512];
    Macx__Payload *payload;
    Macx__FieldEntry **manifest;
    size_t nmanifest;
    uint8_t id_prefix[8];          /* a record id is this run's prefix and its index */
    uint64_t sequence;             /* the next one: above every earlier run's */
    uint64_t t0, t_end;
    /* what happened */
    uint64_t sent, acked, nacked, errors, delivered, eagain;
    char first_nack[40], first_error[40];
    char last_nack[40], last_error[40];
    char first_error_msg[200];
    macx_hist_t hist;              /* ns, send -> answer (good) */
    uint64_t *sent_at;             /* good: send time by record index (0: answered) */
    size_t cap_sent_at;
    uint64_t unanswered;
    char answer[S_TRACKED][40];    /* records: the answer to record index i, "" none yet */
} s_peer_t;

static volatile sig_atomic_t s_stop = 0;

static void
s_on_signal (int sig)
{
    (void) sig;
    s_stop = 1;
}

/* ---- the connection -------------------------------------------------------- */

static int
s_connect (s_peer_t *self, macx_error_t *err)
{
    if (!(self->registry = macx_registry_load (self->o.keys, err))
        || !(self->identity = macx_identity_load (self->o.keys, self->o.as, err)))
        return -1;
    const macx_agency_t *broker = macx_registry_find (self->registry, self->o.broker_id);
    if (!broker)
        return macx_error_set (err, MACX_ENOTFOUND, "%s: no broker identity '%s'", self->o.keys,
                               self->o.broker_id);
    self->ctx = zmq_ctx_new ();
    self->dealer = zmq_socket (self->ctx, ZMQ_DEALER);
    /* Never reading is the point of some modes: exit without waiting. */
    int linger = 0, hwm = 1000000;
    /* One that never reads takes little in, so the broker's sends back up
     * (TCP, then its queue) as they would to a peer that stopped reading. */
    int rcvhwm = self->o.read || strcmp (self->o.mode, "good") == 0 ? hwm : 16;
    zmq_setsockopt (self->dealer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (self->dealer, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (self->dealer, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    if (macx_identity_curve_apply (self->identity, self->dealer, false, broker->curve_pk))
        return macx_error_set (err, MACX_EINTERNAL, "cannot set CURVE keys");
    if (zmq_connect (self->dealer, self->o.broker) != 0)
        return macx_error_set (err, MACX_EINVAL, "cannot connect to %s: %s", self->o.broker,
                               zmq_strerror (zmq_errno ()));
    return 0;
}

/* Sends a frame (queued until the connection is up); false when the queue
 * is full. */
static bool
s_send_packed (s_peer_t *self, zmq_msg_t *m)
{
    if (zmq_msg_send (m, self->dealer, ZMQ_DONTWAIT) >= 0)
        return true;
    self->eagain++;
    return false;
}

static bool
s_send_frame (s_peer_t *self, const Macx__Frame *f)
{
    zmq_msg_t m;
    zmq_msg_init_size (&m, macx__frame__get_packed_size (f));
    macx__frame__pack (f, zmq_msg_data (&m));
    if (s_send_packed (self, &m))
        return true;
    zmq_msg_close (&m);
    return false;
}

static void
s_hello (s_peer_t *self, uint32_t credit)
{
    Macx__Hello h = MACX__HELLO__INIT;
    h.version = 1;
    h.agency = (char *) self->o.as;
    h.credit = credit;
    Macx__Frame f = MACX__FRAME__INIT;
    f.kind_case = MACX__FRAME__KIND_HELLO;
    f.hello = &h;
    s_send_frame (self, &f);
}

/* The last frame a well-behaved client sends. */
static void
s_bye (s_peer_t *self)
{
    Macx__Bye bye = MACX__BYE__INIT;
    Macx__Frame f = MACX__FRAME__INIT;
    f.kind_case = MACX__FRAME__KIND_BYE;
    f.bye = &bye;
    s_send_frame (self, &f);
}

/* ---- records ---------------------------------------------------------------- */

static int
s_records_init (s_peer_t *self, macx_error_t *err)
{
    snprintf (self->to_buf, sizeof self->to_buf, "%s", self->o.to);
    for (char *save = NULL, *t = strtok_r (self->to_buf, ",", &save);
         t && self->nrecipients < MACX_RECIPIENTS_MAX; t = strtok_r (NULL, ",", &save))
        self->recipients[self->nrecipients++] = t;
    randombytes_buf (self->id_prefix, sizeof self->id_prefix);
    /* Sequences from the wall clock in microseconds: a later run of the same
     * agency starts above an earlier one's. */
    self->sequence = (uint64_t) macx_clock_wall_ms () * 1000;
    return macx_record_build (self->tpl->type, self->tpl->fields, self->tpl->nfields,
                              &self->payload, &self->manifest, &self->nmanifest, err);
}

/* Fills h for record number index (its id in id, its strings in the
 * caller's subject and case_id buffers), with the next sequence. */
static void
s_header (s_peer_t *self, uint64_t index, Macx__Header *h, uint8_t id[MACX_RECORD_ID_BYTES],
          char subject[32], char case_id[32])
{
    memcpy (id, self->id_prefix, 8);
    for (int i = 0; i < 8; i++)
        id[8 + i] = (uint8_t) (index >> (56 - 8 * i));
    snprintf (subject, 32, "S-%" PRIu64, index % 1000);
    if (self->o.case_id)
        snprintf (case_id, 32, "%s", self->o.case_id);
    else
        snprintf (case_id, 32, "C-SOAK-%" PRIu64, index);
    macx__header__init (h);
    h->record_id = (ProtobufCBinaryData) { MACX_RECORD_ID_BYTES, id };
    h->recipients = self->recipients;
    h->n_recipients = self->nrecipients;
    h->sequence = self->sequence++;
    h->subject = subject;
    h->case_id = case_id;
    h->phase = (Macx__Phase) self->tpl->phase;
    h->case_phase = (Macx__Phase) self->tpl->phase;
    h->record_type = (char *) self->tpl->type;
    h->purpose = "mac_case_management";
    h->legal_basis = "";
    h->manifest = self->manifest;
    h->n_manifest = self->nmanifest;
}

/* Seals record number index into a Frame message (prefix + envelope). */
static int
s_record (s_peer_t *self, uint64_t index, zmq_msg_t *m, macx_error_t *err)
{
    uint8_t id[MACX_RECORD_ID_BYTES];
    char subject[32], case_id[32];
    Macx__Header h;
    s_header (self, index, &h, id, subject, case_id);
    uint8_t *sealed = NULL;
    size_t len = 0;
    int rc = macx_record_seal (self->identity, self->registry, &h, self->payload, &sealed, &len,
                               err);
    if (rc)
        return rc;
    uint8_t prefix[16];
    size_t plen = macx_frame_prefix (MACX__FRAME__KIND_RECORD, len, prefix);
    zmq_msg_init_size (m, plen + len);
    memcpy (zmq_msg_data (m), prefix, plen);
    memcpy ((uint8_t *) zmq_msg_data (m) + plen, sealed, len);
    free (sealed);
    return 0;
}

/* Wraps sealed bytes in a record Frame message. */
static void
s_frame_record (const uint8_t *sealed, size_t len, zmq_msg_t *m)
{
    uint8_t prefix[16];
    size_t plen = macx_frame_prefix (MACX__FRAME__KIND_RECORD, len, prefix);
    zmq_msg_init_size (m, plen + len);
    memcpy (zmq_msg_data (m), prefix, plen);
    memcpy ((uint8_t *) zmq_msg_data (m) + plen, sealed, len);
}

/* ---- answers ------------------------------------------------------------------ */

static void
s_answered (s_peer_t *self, const ProtobufCBinaryData *id, uint64_t now, const char *what)
{
    if (id->len != MACX_RECORD_ID_BYTES || memcmp (id->data, self->id_prefix, 8) != 0)
        return;
    uint64_t index = 0;
    for (int i = 0; i < 8; i++)
        index = index << 8 | id->data[8 + i];
    if (index < S_TRACKED)
        snprintf (self->answer[index], sizeof self->answer[index], "%s", what);
    if (index < self->cap_sent_at && self->sent_at && self->sent_at[index]) {
        macx_hist_add (&self->hist, now - self->sent_at[index]);
        self->sent_at[index] = 0;
        self->unanswered--;
        self->t_end = now;
    }
}

/* Reads every frame waiting; with keep, counts what they answer. */
static void
s_read (s_peer_t *self, bool keep)
{
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init (&m);
        if (zmq_msg_recv (&m, self->dealer, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&m);
            return;
        }
        uint64_t now = macx_clock_mono_ns ();
        Macx__Frame *f = keep ? macx__frame__unpack (NULL, zmq_msg_size (&m), zmq_msg_data (&m))
                              : NULL;
        zmq_msg_close (&m);
        if (!f)
            continue;
        switch (f->kind_case) {
        case MACX__FRAME__KIND_ACK:
            self->acked++;
            s_answered (self, &f->ack->record_id, now, "ACK");
            break;
        case MACX__FRAME__KIND_ACKS:
            for (size_t i = 0; i < f->acks->n_acks; i++) {
                self->acked++;
                s_answered (self, &f->acks->acks[i]->record_id, now, "ACK");
            }
            break;
        case MACX__FRAME__KIND_NACK:
            snprintf (self->last_nack, sizeof self->last_nack, "%s",
                      macx_reason_name (f->nack->reason));
            if (!self->nacked++)
                snprintf (self->first_nack, sizeof self->first_nack, "%s", self->last_nack);
            s_answered (self, &f->nack->record_id, now, self->last_nack);
            break;
        case MACX__FRAME__KIND_ERROR:
            snprintf (self->last_error, sizeof self->last_error, "%s",
                      macx_reason_name (f->error->reason));
            if (!self->errors++) {
                snprintf (self->first_error, sizeof self->first_error, "%s",
                          macx_reason_name (f->error->reason));
                snprintf (self->first_error_msg, sizeof self->first_error_msg, "%s",
                          f->error->message ? f->error->message : "");
            }
            break;
        case MACX__FRAME__KIND_DELIVER:
            self->delivered++;   /* never receipted: not what these peers are for */
            break;
        case MACX__FRAME__KIND_DELIVERS:
            self->delivered += f->delivers->n_deliveries;
            break;
        default:
            break;
        }
        macx__frame__free_unpacked (f, NULL);
    }
}

/* ---- modes ----------------------------------------------------------------------- */

static bool
s_done (const s_peer_t *self, uint64_t now)
{
    return s_stop || (self->o.count && self->sent >= self->o.count)
           || (self->o.seconds > 0 && (double) (now - self->t0) / 1e9 >= self->o.seconds);
}

/* Waits up to ms for input (read) or room to send (write). */
static void
s_wait (s_peer_t *self, short events, long ms)
{
    zmq_pollitem_t it = { self->dealer, 0, events, 0 };
    zmq_poll (&it, 1, ms < 0 ? 0 : ms);
}

static int
s_good (s_peer_t *self, macx_error_t *err)
{
    s_hello (self, self->o.credit_set ? self->o.credit : 64);
    double interval = self->o.rate > 0 ? 1e9 / self->o.rate : 0;
    uint64_t planned = self->o.count ? self->o.count
                                     : (uint64_t) (self->o.seconds * (self->o.rate > 0 ? self->o.rate : 1e5)) + 16;
    if (!(self->sent_at = calloc (planned, sizeof *self->sent_at)))
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    self->cap_sent_at = planned;
    self->t0 = macx_clock_mono_ns ();
    uint64_t next = self->t0, sending_end = 0;
    for (;;) {
        uint64_t now = macx_clock_mono_ns ();
        bool done = s_done (self, now) || self->sent == self->cap_sent_at;
        if (done && !sending_end)
            sending_end = now;
        if (done && (!self->unanswered || s_stop
                     || (double) (now - sending_end) / 1e9 >= self->o.drain))
            break;
        if (!done && now >= next && self->unanswered < self->o.window) {
            zmq_msg_t m;
            if (s_record (self, self->sent, &m, err))
                return err->code;
            uint64_t at = macx_clock_mono_ns ();
            if (s_send_packed (self, &m)) {
                self->sent_at[self->sent++] = at ? at : 1;
                self->unanswered++;
                next += (uint64_t) interval;
            }
            else {
                zmq_msg_close (&m);
                s_wait (self, ZMQ_POLLOUT, 1);
            }
            s_read (self, true);
            continue;
        }
        long ms = done ? 10 : now >= next ? 1 : (long) ((next - now + S_MS - 1) / S_MS);
        s_wait (self, ZMQ_POLLIN, ms);
        s_read (self, true);
    }
    uint64_t planned_end = self->t0 + (uint64_t) (interval * (double) self->sent);
    if (self->t_end < planned_end)
        self->t_end = planned_end;
    /* a well-behaved agency says goodbye; the hostile modes just vanish */
    s_bye (self);
    return 0;
}

/* flood and badsig: a pool of records sealed up front, sent in turn as fast
 * as the socket takes them (or at --rate). */
static int
s_blast (s_peer_t *self, bool flip, macx_error_t *err)
{
    s_hello (self, self->o.credit_set ? self->o.credit : 64);
    size_t n = self->o.pool ? self->o.pool : 1;
    zmq_msg_t *pool = calloc (n, sizeof *pool);
    if (!pool)
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (s_record (self, i, &pool[i], err))
            return err->code;
        if (flip) {   /* the signature is the envelope's last field */
            uint8_t *b = zmq_msg_data (&pool[i]);
            b[zmq_msg_size (&pool[i]) - 1] ^= 0x01;
        }
    }
    fprintf (stderr, "macx_peer %s: %zu records sealed, sending\n", self->o.mode, n);
    double interval = self->o.rate > 0 ? 1e9 / self->o.rate : 0;
    self->t0 = macx_clock_mono_ns ();
    uint64_t next = self->t0;
    for (;;) {
        uint64_t now = macx_clock_mono_ns ();
        if (s_done (self, now))
            break;
        if (self->o.read)
            s_read (self, true);
        if (interval > 0 && now < next) {
            s_wait (self, self->o.read ? ZMQ_POLLIN : 0, (long) ((next - now) / S_MS));
            continue;
        }
        zmq_msg_t m;
        zmq_msg_init (&m);
        zmq_msg_copy (&m, &pool[self->sent % n]);
        if (s_send_packed (self, &m)) {
            self->sent++;
            next += (uint64_t) interval;
        }
        else {
            zmq_msg_close (&m);
            s_wait (self, ZMQ_POLLOUT | (self->o.read ? ZMQ_POLLIN : 0), 10);
        }
    }
    self->t_end = macx_clock_mono_ns ();
    for (size_t i = 0; i < n; i++)
        zmq_msg_close (&pool[i]);
    free (pool);
    return 0;
}

/* batchorder: two batches and a record signed on its own, sent one at a
 * time (each answer awaited) in an order that breaks the batch rules, with
 * a forged path and a root claimed by another agency. One JSON line per
 * step: {"step":..,"answer":"ACK" or the NACK's reason}. */
typedef struct {
    uint8_t *buf;
    size_t len;
} s_sealed_t;

static int
s_batch_seal (s_peer_t *self, uint64_t first, size_t n, s_sealed_t *out, macx_error_t *err)
{
    macx_record_batch_t *b = macx_record_batch_new (self->identity, self->registry);
    if (!b)
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        uint8_t id[MACX_RECORD_ID_BYTES];
        char subject[32], case_id[32];
        Macx__Header h;
        s_header (self, first + i, &h, id, subject, case_id);
        rc = macx_record_batch_add (b, &h, self->payload, err);
    }
    if (!rc)
        rc = macx_record_batch_sign (b, err);
    for (size_t i = 0; i < n && !rc; i++)
        rc = macx_record_batch_take (b, i, &out[i].buf, &out[i].len, err);
    macx_record_batch_destroy (&b);
    return rc;
}

/* A copy of a batch record with its proof changed: path byte flipped, or
 * the signer renamed. */
static s_sealed_t
s_tamper (const s_sealed_t *in, const char *signer)
{
    s_sealed_t out = { 0 };
    Macx__Envelope *env = macx__envelope__unpack (NULL, in->len, in->buf);
    if (!env || !env->batch) {
        if (env)
            macx__envelope__free_unpacked (env, NULL);
        return out;
    }
    char *was = env->batch->signer;
    if (signer)
        env->batch->signer = (char *) signer;
    else if (env->batch->n_path)
        env->batch->path[0].data[0] ^= 0x01;
    out.len = macx__envelope__get_packed_size (env);
    out.buf = malloc (out.len);
    if (out.buf)
        macx__envelope__pack (env, out.buf);
    env->batch->signer = was;   /* the unpacked one is freed with the message */
    macx__envelope__free_unpacked (env, NULL);
    return out;
}

/* Sends one record and waits up to 5 s for its answer. */
static void
s_step (s_peer_t *self, const char *step, const s_sealed_t *r)
{
    char answer[48] = "NONE";
    zmq_msg_t m;
    s_frame_record (r->buf, r->len, &m);
    if (!s_send_packed (self, &m))
        zmq_msg_close (&m);
    else
        self->sent++;
    uint64_t acked = self->acked, nacked = self->nacked, errors = self->errors;
    uint64_t end = macx_clock_mono_ns () + 5000 * S_MS;
    while (strcmp (answer, "NONE") == 0 && macx_clock_mono_ns () < end) {
        s_wait (self, ZMQ_POLLIN, 100);
        s_read (self, true);
        if (self->acked > acked)
            snprintf (answer, sizeof answer, "ACK");
        else if (self->nacked > nacked)
            snprintf (answer, sizeof answer, "%s", self->last_nack);
        else if (self->errors > errors)
            snprintf (answer, sizeof answer, "ERROR:%s", self->last_error);
    }
    printf ("{\"step\":\"%s\",\"answer\":\"%s\"}\n", step, answer);
    fflush (stdout);
}

static int
s_batchorder (s_peer_t *self, macx_error_t *err)
{
    s_hello (self, 64);
    self->t0 = macx_clock_mono_ns ();
    s_sealed_t a[5] = { { 0 } }, b[3] = { { 0 } }, one = { 0 };
    int rc = s_batch_seal (self, 0, 5, a, err);
    if (!rc)
        rc = s_batch_seal (self, 5, 3, b, err);
    if (!rc) {
        zmq_msg_t m;
        if (!(rc = s_record (self, 8, &m, err))) {
            /* s_record frames it: take the envelope back out of the frame */
            Macx__Frame *f = macx__frame__unpack (NULL, zmq_msg_size (&m), zmq_msg_data (&m));
            if (f && f->kind_case == MACX__FRAME__KIND_RECORD && (one.buf = malloc (f->record.len))) {
                memcpy (one.buf, f->record.data, f->record.len);
                one.len = f->record.len;
            }
            if (f)
                macx__frame__free_unpacked (f, NULL);
            zmq_msg_close (&m);
        }
    }
    if (rc)
        return rc;
    s_sealed_t forged = s_tamper (&a[4], NULL), foreign = s_tamper (&a[4], self->recipients[0]);
    s_step (self, "A0", &a[0]);
    s_step (self, "A1", &a[1]);
    s_step (self, "A3", &a[3]);
    s_step (self, "A2-after-A3", &a[2]);
    s_step (self, "A4-forged-path", &forged);
    s_step (self, "A4-foreign-root", &foreign);
    s_step (self, "B0", &b[0]);
    s_step (self, "A4-inside-B", &a[4]);
    s_step (self, "B1", &b[1]);
    s_step (self, "single", &one);
    s_step (self, "B2-after-single", &b[2]);
    self->t_end = macx_clock_mono_ns ();
    for (int i = 0; i < 5; i++)
        free (a[i].buf);
    for (int i = 0; i < 3; i++)
        free (b[i].buf);
    free (one.buf);
    free (forged.buf);
    free (foreign.buf);
    s_bye (self);
    return 0;
}

/* records: Records frames. Batch C of six records: C0-C3 in one frame;
 * C4, a replay of C1 and C5 with a forged path in the next; C5 alone in a
 * Records frame of one; then Records frames that are empty, truncated,
 * carry another field, or carry over MACX_FRAME_RECORDS_MAX envelopes.
 * Prints per frame the answer to each record it carried, by record. */
static void
s_body_frame (uint32_t field, const uint8_t *body, size_t len, zmq_msg_t *m)
{
    uint8_t prefix[16];
    size_t plen = macx_frame_prefix (field, len, prefix);
    zmq_msg_init_size (m, plen + len);
    memcpy (zmq_msg_data (m), prefix, plen);
    if (len)
        memcpy ((uint8_t *) zmq_msg_data (m) + plen, body, len);
}

/* Sends frame m and waits up to 5 s for an answer to each of the n
 * record indexes in want (n == 0: for one NACK, the frame's own). */
static void
s_step_frame (s_peer_t *self, const char *step, zmq_msg_t *m, const int *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        self->answer[want[i]][0] = '\0';
    uint64_t nacked = self->nacked;
    if (!s_send_packed (self, m))
        zmq_msg_close (m);
    else
        self->sent++;
    uint64_t end = macx_clock_mono_ns () + 5000 * S_MS;
    for (;;) {
        size_t got = 0;
        for (size_t i = 0; i < n; i++)
            got += self->answer[want[i]][0] != '\0';
        if ((n && got == n) || (!n && self->nacked > nacked) || macx_clock_mono_ns () >= end)
            break;
        s_wait (self, ZMQ_POLLIN, 100);
        s_read (self, true);
    }
    printf ("{\"step\":\"%s\",\"answers\":[", step);
    if (!n)
        printf ("\"%s\"", self->nacked > nacked ? self->last_nack : "NONE");
    for (size_t i = 0; i < n; i++)
        printf ("%s\"%d:%s\"", i ? "," : "", want[i],
                self->answer[want[i]][0] ? self->answer[want[i]] : "NONE");
    printf ("]}\n");
    fflush (stdout);
}

/* A Records frame of the n sealed records in r. */
static void
s_records_frame (const s_sealed_t *const *r, size_t n, zmq_msg_t *m)
{
    size_t len = 0;
    uint8_t p[16];
    for (size_t i = 0; i < n; i++)
        len += macx_frame_prefix (1, r[i]->len, p) + r[i]->len;
    uint8_t *body = malloc (len ? len : 1), *out = body;
    for (size_t i = 0; body && i < n; i++) {
        out += macx_frame_prefix (1, r[i]->len, out);
        memcpy (out, r[i]->buf, r[i]->len);
        out += r[i]->len;
    }
    s_body_frame (MACX__FRAME__KIND_RECORDS, body, body ? len : 0, m);
    free (body);
}

static int
s_records (s_peer_t *self, macx_error_t *err)
{
    s_hello (self, 64);
    self->t0 = macx_clock_mono_ns ();
    s_sealed_t c[6] = { { 0 } };
    int rc = s_batch_seal (self, 0, 6, c, err);
    if (rc)
        return rc;
    s_sealed_t forged = s_tamper (&c[5], NULL);
    zmq_msg_t m;
    const s_sealed_t *f1[] = { &c[0], &c[1], &c[2], &c[3] };
    s_records_frame (f1, 4, &m);
    s_step_frame (self, "C0-C3", &m, (const int[]) { 0, 1, 2, 3 }, 4);
    const s_sealed_t *f2[] = { &c[4], &c[1], &forged };
    s_records_frame (f2, 3, &m);
    s_step_frame (self, "C4,C1-again,C5-forged-path", &m, (const int[]) { 4, 1, 5 }, 3);
    const s_sealed_t *f3[] = { &c[5] };
    s_records_frame (f3, 1, &m);
    s_step_frame (self, "C5-alone", &m, (const int[]) { 5 }, 1);
    s_records_frame (NULL, 0, &m);
    s_step_frame (self, "empty", &m, NULL, 0);
    const uint8_t truncated[] = { 0x0a, 0xc8, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
    s_body_frame (MACX__FRAME__KIND_RECORDS, truncated, sizeof truncated, &m);
    s_step_frame (self, "truncated", &m, NULL, 0);
    const uint8_t other[] = { 0x12, 0x01, 0x00 };   /* field 2 */
    s_body_frame (MACX__FRAME__KIND_RECORDS, other, sizeof other, &m);
    s_step_frame (self, "other-field", &m, NULL, 0);
    size_t many = MACX_FRAME_RECORDS_MAX + 1;
    uint8_t *tiny = malloc (3 * many);
    for (size_t i = 0; tiny && i < many; i++)
        memcpy (tiny + 3 * i, (const uint8_t[]) { 0x0a, 0x01, 0x00 }, 3);
    s_body_frame (MACX__FRAME__KIND_RECORDS, tiny, tiny ? 3 * many : 0, &m);
    free (tiny);
    s_step_frame (self, "too-many", &m, NULL, 0);
    self->t_end = macx_clock_mono_ns ();
    for (int i = 0; i < 6; i++)
        free (c[i].buf);
    free (forged.buf);
    s_bye (self);
    return 0;
}

static int
s_flood (s_peer_t *self, macx_error_t *err)
{
    return s_blast (self, false, err);
}

static int
s_badsig (s_peer_t *self, macx_error_t *err)
{
    return s_blast (self, true, err);
}

static int
s_credit (s_peer_t *self, macx_error_t *err)
{
    (void) err;
    s_hello (self, self->o.credit_set ? self->o.credit : UINT32_MAX);
    double interval = self->o.rate > 0 ? 1e9 / self->o.rate : 0;
    Macx__Credit c = MACX__CREDIT__INIT;
    c.credit = UINT32_MAX;
    Macx__Frame f = MACX__FRAME__INIT;
    f.kind_case = MACX__FRAME__KIND_CREDIT;
    f.credit = &c;
    self->t0 = macx_clock_mono_ns ();
    uint64_t next = self->t0;
    for (;;) {
        uint64_t now = macx_clock_mono_ns ();
        if (s_done (self, now))
            break;
        if (interval > 0 && now < next) {
            s_wait (self, 0, (long) ((next - now) / S_MS));
            continue;
        }
        if (s_send_frame (self, &f)) {
            self->sent++;
            next += (uint64_t) interval;
        }
        else
            s_wait (self, ZMQ_POLLOUT, 10);
    }
    self->t_end = macx_clock_mono_ns ();
    return 0;
}

static int
s_noread (s_peer_t *self, macx_error_t *err)
{
    (void) err;
    s_hello (self, self->o.credit_set ? self->o.credit : 1024);
    self->t0 = macx_clock_mono_ns ();
    while (!s_done (self, macx_clock_mono_ns ()))
        s_wait (self, 0, 50);
    self->t_end = macx_clock_mono_ns ();
    return 0;
}

/* big: a Hello, then one frame of --bytes bytes (not a macx frame), then
 * waits and vanishes without a goodbye. */
static int
s_big (s_peer_t *self, macx_error_t *err)
{
    s_hello (self, 64);
    zmq_msg_t m;
    if (zmq_msg_init_size (&m, self->o.bytes ? self->o.bytes : 1))
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    memset (zmq_msg_data (&m), 0x5a, zmq_msg_size (&m));
    self->t0 = macx_clock_mono_ns ();
    if (zmq_msg_send (&m, self->dealer, 0) >= 0)
        self->sent++;
    else
        zmq_msg_close (&m);
    while (!s_done (self, macx_clock_mono_ns ())) {
        s_wait (self, ZMQ_POLLIN, 50);
        s_read (self, false);
    }
    self->t_end = macx_clock_mono_ns ();
    return 0;
}

/* askstats: asks for the broker's counters as fast as it can, never reads
 * the answers (a slow consumer of small frames). */
static int
s_askstats (s_peer_t *self, macx_error_t *err)
{
    (void) err;
    s_hello (self, 64);
    Macx__StatsRequest q = MACX__STATS_REQUEST__INIT;
    Macx__Frame f = MACX__FRAME__INIT;
    f.kind_case = MACX__FRAME__KIND_STATS_REQUEST;
    f.stats_request = &q;
    self->t0 = macx_clock_mono_ns ();
    while (!s_done (self, macx_clock_mono_ns ())) {
        if (s_send_frame (self, &f))
            self->sent++;
        else
            s_wait (self, ZMQ_POLLOUT, 1);
    }
    self->t_end = macx_clock_mono_ns ();
    return 0;
}

/* complain: one manifest complaint about the sealed record in --record
 * FILE, signed as AGENCY, with the record's real content key (--key real:
 * AGENCY must be a recipient) or a random one (--key random), and with a
 * signature byte flipped (--flip-signature); then asks for the broker's
 * counters and waits for them (so that the complaint has reached the
 * broker) and says goodbye. The broker does not answer a complaint: the
 * test reads its audit log. */
static int
s_complain (s_peer_t *self, macx_error_t *err)
{
    char *data = NULL;
    size_t len = 0;
    uint8_t key[MACX_CONTENT_KEY_BYTES], *c = NULL;
    size_t clen = 0;
    int rc = macx_file_read (self->o.record, MACX_RECORD_MAX, &data, &len, err);
    if (rc)
        return rc;
    if (strcmp (self->o.key, "real") == 0)
        rc = macx_record_content_key (self->identity, self->registry, (uint8_t *) data, len, key,
                                      err);
    else if (strcmp (self->o.key, "random") == 0)
        randombytes_buf (key, sizeof key);
    else
        rc = macx_error_set (err, MACX_EINVAL, "--key must be real or random, not '%s'",
                             self->o.key);
    if (rc == MACX_OK)
        rc = macx_record_complaint_sign (self->identity, (uint8_t *) data, len, key,
                                         macx_clock_wall_ms (), &c, &clen, err);
    sodium_memzero (key, sizeof key);
    free (data);
    if (rc)
        return rc;
    if (self->o.flip)
        c[clen - 1] ^= 0x01;   /* the signature is the last field */
    uint8_t prefix[16];
    size_t plen = macx_frame_prefix (MACX__FRAME__KIND_COMPLAINT, clen, prefix);
    zmq_msg_t m;
    zmq_msg_init_size (&m, plen + clen);
    memcpy (zmq_msg_data (&m), prefix, plen);
    memcpy ((uint8_t *) zmq_msg_data (&m) + plen, c, clen);
    macx_record_complaint_free (&c, clen);
    self->t0 = macx_clock_mono_ns ();
    if (!s_send_packed (self, &m)) {
        zmq_msg_close (&m);
        return macx_error_set (err, MACX_EIO, "the socket did not take the complaint");
    }
    self->sent++;
    Macx__StatsRequest q = MACX__STATS_REQUEST__INIT;
    Macx__Frame f = MACX__FRAME__INIT;
    f.kind_case = MACX__FRAME__KIND_STATS_REQUEST;
    f.stats_request = &q;
    s_send_frame (self, &f);
    bool answered = false;
    uint64_t deadline = self->t0 + (uint64_t) (self->o.drain * 1e9);
    while (!answered && !s_stop && macx_clock_mono_ns () < deadline) {
        s_wait (self, ZMQ_POLLIN, 100);
        zmq_msg_t in;
        zmq_msg_init (&in);
        if (zmq_msg_recv (&in, self->dealer, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&in);
            continue;
        }
        Macx__Frame *g = macx__frame__unpack (NULL, zmq_msg_size (&in), zmq_msg_data (&in));
        zmq_msg_close (&in);
        answered = g && g->kind_case == MACX__FRAME__KIND_STATS_REPLY;
        if (g)
            macx__frame__free_unpacked (g, NULL);
    }
    self->t_end = macx_clock_mono_ns ();
    s_bye (self);
    return answered ? 0 : macx_error_set (err, MACX_ETIMEOUT, "no answer from the broker");
}

/* retention: one retention receipt, genuine or forged (see the top). */
static int
s_retention (s_peer_t *self, macx_error_t *err)
{
    uint8_t id[MACX_RECORD_ID_BYTES];
    if (!self->o.record || macx_hex_decode (self->o.record, id, sizeof id))
        return macx_error_set (err, MACX_EINVAL, "--record must be %d hex characters",
                               2 * MACX_RECORD_ID_BYTES);
    const char *forge = self->o.forge ? self->o.forge : "none";
    s_hello (self, 16);
    Macx__RetentionReceipt r = MACX__RETENTION_RECEIPT__INIT;
    r.agency = (char *) (strncmp (forge, "agency=", 7) == 0 ? forge + 7 : self->o.as);
    r.record_id = (ProtobufCBinaryData) { sizeof id, id };
    r.action = (char *) (self->o.action ? self->o.action : "deleted");
    r.at_ms = self->o.at_ms ? self->o.at_ms : macx_clock_wall_ms ();
    uint8_t digest[64], sig[MACX_SIG_BYTES];
    macx_record_retention_digest (&r, digest);
    macx_identity_sign (self->identity, digest, sizeof digest, sig);
    if (strcmp (forge, "flip") == 0)
        sig[7] ^= 0x01;
    if (strcmp (forge, "unsigned") != 0)
        r.signature = (ProtobufCBinaryData) { sizeof sig, sig };
    Macx__Frame f = MACX__FRAME__INIT;
    f.kind_case = MACX__FRAME__KIND_RETENTION_RECEIPT;
    f.retention_receipt = &r;
    self->t0 = macx_clock_mono_ns ();
    if (strcmp (forge, "junk") == 0) {
        uint8_t junk[] = { 0x92, 0x01, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff };   /* field 18, bad */
        zmq_msg_t m;
        zmq_msg_init_size (&m, sizeof junk);
        memcpy (zmq_msg_data (&m), junk, sizeof junk);
        if (s_send_packed (self, &m))
            self->sent++;
        else
            zmq_msg_close (&m);
    }
    else if (s_send_frame (self, &f))
        self->sent++;
    /* the broker answers a retention receipt with nothing: its counters,
     * asked for after it, come once it has been judged */
    Macx__StatsRequest q = MACX__STATS_REQUEST__INIT;
    Macx__Frame sf = MACX__FRAME__INIT;
    sf.kind_case = MACX__FRAME__KIND_STATS_REQUEST;
    sf.stats_request = &q;
    s_send_frame (self, &sf);
    bool answered = false;
    while (!answered && !s_stop
           && (double) (macx_clock_mono_ns () - self->t0) / 1e9 < self->o.seconds) {
        s_wait (self, ZMQ_POLLIN, 50);
        zmq_msg_t m;
        zmq_msg_init (&m);
        if (zmq_msg_recv (&m, self->dealer, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&m);
            continue;
        }
        Macx__Frame *in = macx__frame__unpack (NULL, zmq_msg_size (&m), zmq_msg_data (&m));
        zmq_msg_close (&m);
        answered = in && in->kind_case == MACX__FRAME__KIND_STATS_REPLY;
        if (in)
            macx__frame__free_unpacked (in, NULL);
    }
    self->t_end = macx_clock_mono_ns ();
    s_bye (self);
    s_wait (self, 0, 100);   /* linger 0: give the goodbye a moment */
    return answered ? 0 : macx_error_set (err, MACX_ETIMEOUT, "no answer from the broker");
}

typedef struct {
    const char *name;
    int (*run) (s_peer_t *self, macx_error_t *err);
    bool records;              /* needs --to and a record type */
} s_mode_t;

static const s_mode_t s_modes[] = {
    { "good", s_good, true },
    { "flood", s_flood, true },
    { "badsig", s_badsig, true },
    { "credit", s_credit, false },
    { "noread", s_noread, false },
    { "big", s_big, false },
    { "askstats", s_askstats, false },
    { "batchorder", s_batchorder, true },
    { "records", s_records, true },
    { "complain", s_complain, false },
    { "retention", s_retention, false },
};

/* ---- main ------------------------------------------------------------------------ */

static void
s_report (const s_peer_t *self, int rc, const macx_error_t *err)
{
    double secs = self->t_end > self->t0 ? (double) (self->t_end - self->t0) / 1e9 : 0;
    printf ("{\"mode\":\"%s\",\"agency\":\"%s\",\"ok\":%s,\"sent\":%" PRIu64 ",\"acked\":%" PRIu64
            ",\"nacked\":%" PRIu64 ",\"unanswered\":%" PRIu64 ",\"errors\":%" PRIu64
            ",\"delivered\":%" PRIu64 ",\"send_full\":%" PRIu64 ",\"seconds\":%.3f"
            ",\"send_rate\":%.1f,\"ack_rate\":%.1f,\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f"
            ",\"first_nack\":\"%s\",\"first_error\":\"%s\",\"why\":\"%s\"}\n",
            self->o.mode, self->o.as, rc ? "false" : "true", self->sent, self->acked, self->nacked,
            self->unanswered, self->errors, self->delivered, self->eagain, secs,
            secs > 0 ? (double) self->sent / secs : 0,
            secs > 0 ? (double) self->acked / secs : 0,
            (double) macx_hist_quantile (&self->hist, 0.50) / 1e6,
            (double) macx_hist_quantile (&self->hist, 0.99) / 1e6,
            (double) self->hist.max / 1e6, self->first_nack, self->first_error,
            rc ? macx_error_text (err) : "");
    fflush (stdout);
}

static int
s_usage (const char *why)
{
    fprintf (stderr, "macx_peer: %s\nusage: macx_peer good|flood|badsig|credit|noread|big|askstats|batchorder|records|complain|retention --keys DIR "
             "--broker EP --as AGENCY [--seconds S] [--count N] [--to A[,B]] [--type T] "
             "[--rate R] [--window W] [--credit N] [--pool N] [--read] [--drain S] [--bytes N] "
             "[--record FILE --key real|random [--flip-signature]]\n"
             "  [--case C]   every record in case C (a record of a later phase than identification\n"
             "               needs its case opened first: docs/policy.md \"Case context\")\n"
             "  retention: --record HEX [--action A] [--forge flip|unsigned|agency=ID|junk] [--at-ms T]\n", why);
    return 2;
}

int
main (int argc, char **argv)
{
    static const struct option opts[] = {
        { "keys", required_argument, 0, 'k' },   { "broker", required_argument, 0, 'b' },
        { "broker-id", required_argument, 0, 'B' }, { "as", required_argument, 0, 'a' },
        { "to", required_argument, 0, 't' },     { "type", required_argument, 0, 'T' },
        { "rate", required_argument, 0, 'r' },   { "seconds", required_argument, 0, 's' },
        { "count", required_argument, 0, 'n' },  { "window", required_argument, 0, 'w' },
        { "credit", required_argument, 0, 'c' }, { "pool", required_argument, 0, 'p' },
        { "read", no_argument, 0, 'R' },         { "drain", required_argument, 0, 'd' },
        { "bytes", required_argument, 0, 'y' },  { "case", required_argument, 0, 'C' },
        { "bytes", required_argument, 0, 'y' },
        { "record", required_argument, 0, 'F' }, { "key", required_argument, 0, 'K' },
        { "flip-signature", no_argument, 0, 'X' },
        { "action", required_argument, 0, 'A' }, { "forge", required_argument, 0, 'G' },
        { "at-ms", required_argument, 0, 'm' },
        { 0, 0, 0, 0 }
    };
    static s_peer_t peer;
    s_peer_t *self = &peer;
    s_opts_t *o = &self->o;
    *o = (s_opts_t) { .broker = "tcp://127.0.0.1:7750", .broker_id = "broker", .type = "case_file",
                      .window = 1024, .pool = 8192, .drain = 5, .seconds = 10 };
    if (argc < 2)
        return s_usage ("a mode is required");
    o->mode = argv[1];
    const s_mode_t *mode = NULL;
    for (size_t i = 0; i < sizeof s_modes / sizeof s_modes[0]; i++)
        if (strcmp (s_modes[i].name, o->mode) == 0)
            mode = &s_modes[i];
    if (!mode)
        return s_usage ("unknown mode");
    optind = 2;
    int c;
    while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'k': o->keys = optarg; break;
        case 'b': o->broker = optarg; break;
        case 'B': o->broker_id = optarg; break;
        case 'a': o->as = optarg; break;
        case 't': o->to = optarg; break;
        case 'T': o->type = optarg; break;
        case 'r': o->rate = atof (optarg); break;
        case 's': o->seconds = atof (optarg); break;
        case 'n': o->count = strtoull (optarg, NULL, 10); break;
        case 'w': o->window = strtoull (optarg, NULL, 10); break;
        case 'c': o->credit = (uint32_t) strtoul (optarg, NULL, 10); o->credit_set = true; break;
        case 'p': o->pool = strtoull (optarg, NULL, 10); break;
        case 'R': o->read = true; break;
        case 'y': o->bytes = strtoull (optarg, NULL, 10); break;
        case 'd': o->drain = atof (optarg); break;
        case 'C': o->case_id = optarg; break;
        case 'F': o->record = optarg; break;
        case 'K': o->key = optarg; break;
        case 'X': o->flip = true; break;
        case 'A': o->action = optarg; break;
        case 'G': o->forge = optarg; break;
        case 'm': o->at_ms = strtoll (optarg, NULL, 10); break;
        default: return s_usage ("unknown option");
        }
    }
    if (optind != argc || !o->keys || !o->as || (mode->records && !o->to) || o->window == 0)
        return s_usage ("--keys and --as are required (and --to with records)");
    if (mode->run == s_complain && (!o->record || !o->key))
        return s_usage ("complain needs --record FILE and --key real|random");
    for (size_t i = 0; i < sizeof s_templates / sizeof s_templates[0]; i++)
        if (strcmp (s_templates[i].type, o->type) == 0)
            self->tpl = &s_templates[i];
    if (!self->tpl)
        return s_usage ("--type must be case_file, share or enrichment");
    struct sigaction sa = { 0 };
    sa.sa_handler = s_on_signal;
    sigaction (SIGTERM, &sa, NULL);
    sigaction (SIGINT, &sa, NULL);
    macx_hist_reset (&self->hist);
    macx_error_t err = { 0 };
    int rc = s_connect (self, &err);
    if (rc == 0 && mode->records)
        rc = s_records_init (self, &err);
    if (rc == 0)
        rc = mode->run (self, &err);
    s_report (self, rc, &err);
    if (self->dealer)
        zmq_close (self->dealer);
    if (self->ctx)
        zmq_ctx_term (self->ctx);
    macx_record_build_free (&self->payload, &self->manifest, self->nmanifest);
    free (self->sent_at);
    macx_identity_destroy (&self->identity);
    macx_registry_destroy (&self->registry);
    return rc ? 1 : 0;
}
