/* broker.c -- start-up, the io thread that owns the ROUTER socket, the
 * verify workers, and shutdown. Judging and storage live in core.c, ZAP in
 * zap.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker_int.h"
#include "clock.h"
#include "core.h"
#include "file.h"
#include "frame.h"
#include "log.h"
#include "names.h"

static volatile sig_atomic_t s_signalled = 0;
static volatile sig_atomic_t s_reload_asked = 0;

static void
s_on_signal (int sig)
{
    if (sig == SIGHUP)
        s_reload_asked = 1;
    else
        s_signalled = 1;
}

void
macx_broker_config_defaults (macx_broker_config_t *cfg)
{
    memset (cfg, 0, sizeof *cfg);
    snprintf (cfg->bind, sizeof cfg->bind, "tcp://127.0.0.1:7750");
    snprintf (cfg->identity, sizeof cfg->identity, "broker");
    snprintf (cfg->log_level, sizeof cfg->log_level, "info");
    cfg->map_size = (size_t) 1 << 30;
    cfg->batch_max = 512;
    cfg->checkpoint_every = 1000;
    cfg->heartbeat_ms = 1000;
    cfg->purge_interval_ms = 1000;
    cfg->sync = true;
    cfg->clock.max_skew_ms = -1;
    cfg->clock.verdict_hours = MACX_VERDICT_DEFAULT_HOURS;
    cfg->clock.transit = MACX_TRANSIT_DEFAULT;
    cfg->limits = (macx_broker_limits_t) {
        .max_peers = 256, .max_credit = 1024, .max_inflight_bytes = (size_t) 16 << 20,
        .peer_queue_frames = 4096, .peer_queue_bytes = (size_t) 16 << 20, .peer_out_frames = 4096,
        .verify_inflight = 0,
    };
}

int
macx_broker_config_effective (macx_broker_config_t *cfg, const char *text, macx_error_t *err)
{
    const char *eq = strchr (text, '=');
    if (!eq || eq == text || (size_t) (eq - text) >= sizeof cfg->effective[0].agreement)
        return macx_error_set (err, MACX_EINVAL, "effective '%.80s' must be AGREEMENT=YYYY-MM-DD",
                               text);
    if (cfg->neffective == MACX_BROKER_MAX_EFFECTIVE)
        return macx_error_set (err, MACX_ELIMIT, "too many effective-date overrides");
    int32_t day;
    if (macx_date_parse (eq + 1, &day))
        return macx_error_set (err, MACX_EINVAL, "effective '%.80s': '%s' is not a date "
                               "(YYYY-MM-DD)", text, eq + 1);
    snprintf (cfg->effective[cfg->neffective].agreement, sizeof cfg->effective[0].agreement,
              "%.*s", (int) (eq - text), text);
    cfg->effective[cfg->neffective++].day = day;
    return MACX_OK;
}

/* ---- verify workers -------------------------------------------------------- */

typedef struct {
    macx_broker_t *b;
    void *in, *out;
} s_worker_t;

/* The record digest a signed answer and its audit entry name
 * (docs/protocol.md "Signed answers"): the record's bytes as received, or
 * the whole frame that is not one; hashed here, on every core, rather than
 * in core's one thread. */
static void
s_record_digest (macx_job_t *job)
{
    if (job->kind == JOB_RECORD)
        macx_answer_record_digest (job->body, job->body_len, job->digest);
    else if (job->kind == JOB_MALFORMED)
        macx_answer_record_digest (zmq_msg_data (&job->msg), zmq_msg_size (&job->msg),
                                   job->digest);
}

/* A retention receipt: decodes, and checks it is the connection's agency's,
 * signed by it; job->rc and err say what fails. */
static void
s_verify_retention (s_worker_t *w, macx_job_t *job)
{
    Macx__RetentionReceipt *r = job->retention
        = macx__retention_receipt__unpack (NULL, job->body_len, job->body);
    if (!r) {
        job->rc = macx_error_set (&job->err, MACX_EDECODE, "retention receipt from %s does not "
                                  "decode", job->agency);
        return;
    }
    const macx_agency_t *a = macx_registry_find (macx_broker_registry (w->b), job->agency);
    uint8_t digest[64];
    if (strcmp (r->agency, job->agency) != 0)
        job->rc = macx_error_set (&job->err, MACX_EBADSIG, "retention receipt names agency "
                                  "'%.40s' but the connection is '%s'", r->agency, job->agency);
    else if (r->signature.len == 0)
        job->rc = macx_error_set (&job->err, MACX_EBADSIG, "retention receipt from %s is not "
                                  "signed", job->agency);
    else if (!a || r->signature.len != MACX_SIG_BYTES || macx_record_retention_digest (r, digest)
             || macx_keys_verify (a, digest, 64, r->signature.data))
        job->rc = macx_error_set (&job->err, MACX_EBADSIG, "retention receipt's signature does "
                                  "not verify with %s's key", job->agency);
}

/* Decodes (and for records and receipts verifies) a job; w may be NULL
 * for the session frames, which need no registry. */
static void
s_verify (s_worker_t *w, macx_job_t *job)
{
    s_record_digest (job);
    switch (job->kind) {
    case JOB_RECORD:
        job->rc = macx_record_decode (job->body, job->body_len, &job->record, &job->err);
        if (job->rc == MACX_OK
            && strcmp (macx_record_header (job->record)->sender, job->agency) == 0)
            job->rc = macx_record_check_signature_cached (macx_broker_registry (w->b), w->b->roots,
                                                          job->record, &job->err);
        /* a spoofed sender is refused in core without spending a verify */
        break;
    case JOB_RECEIPT: {
        job->receipt = macx__receipt__unpack (NULL, job->body_len, job->body);
        if (!job->receipt) {
            job->rc = macx_error_set (&job->err, MACX_EDECODE, "receipt does not decode");
            break;
        }
        const Macx__Receipt *r = job->receipt;
        const macx_agency_t *a = macx_registry_find (macx_broker_registry (w->b), job->agency);
        uint8_t digest[64];
        if (strcmp (r->recipient, job->agency) != 0)
            job->rc = macx_error_set (&job->err, MACX_EBADSIG, "receipt names recipient '%.40s' "
                                      "but the connection is '%s'", r->recipient, job->agency);
        else if (r->n_record_ids != r->n_mailbox_seqs || r->n_record_ids > 4096)
            job->rc = macx_error_set (&job->err, MACX_EDECODE, "receipt lists are malformed");
        else if (!a || r->signature.len != MACX_SIG_BYTES || macx_record_receipt_digest (r, digest)
                 || macx_keys_verify (a, digest, 64, r->signature.data))
            job->rc = macx_error_set (&job->err, MACX_EBADSIG, "bad receipt signature from %s",
                                      job->agency);
        break;
    }
    case JOB_COMPLAINT:
        /* Signatures and the payload's AEAD here, off the core thread;
         * core checks the rest against its store (core.c, s_complaint). */
        if ((job->complaint = malloc (sizeof *job->complaint)))
            macx_record_complaint_check (macx_broker_registry (w->b), job->agency, job->body,
                                         job->body_len, job->complaint);
        else
            job->rc = macx_error_set (&job->err, MACX_ENOMEM, "out of memory");
        break;
    case JOB_RETENTION:
        s_verify_retention (w, job);
        break;
    case JOB_HELLO:
        job->hello = macx__hello__unpack (NULL, job->body_len, job->body);
        job->rc = job->hello ? 0 : MACX_EDECODE;
        break;
    case JOB_CREDIT:
        job->credit = macx__credit__unpack (NULL, job->body_len, job->body);
        job->rc = job->credit ? 0 : MACX_EDECODE;
        break;
    case JOB_TIME:
        job->time = macx__time_request__unpack (NULL, job->body_len, job->body);
        job->rc = job->time ? 0 : MACX_EDECODE;
        break;
    default:
        break;
    }
}

static void *
s_worker_thread (void *arg)
{
    s_worker_t *w = arg;
    for (;;) {
        macx_job_t *job;
        int n = zmq_recv (w->in, &job, sizeof job, 0);
        if (n < 0) {
            if (zmq_errno () == EINTR)
                continue;
            break;   /* context terminated */
        }
        if (n != sizeof job)
            continue;
        for (macx_job_t *j = job; j; j = j->next)
            s_verify (w, j);
        __atomic_add_fetch (&w->b->verified, 1, __ATOMIC_RELEASE);
        while (zmq_send (w->out, &job, sizeof job, 0) < 0 && zmq_errno () == EINTR)
            ;
    }
    zmq_close (w->in);
    zmq_close (w->out);
    return NULL;
}

/* ---- core thread ------------------------------------------------------------ */

static void *
s_core_thread (void *arg)
{
    macx_core_run (arg);
    return NULL;
}

/* ---- io -------------------------------------------------------------------- */

/* The io thread never blocks on a peer. What it reads waits in the peer's
 * own queue (bounded in frames and bytes) until a verify slot is free, and
 * the queues are served round robin, so a peer that floods slows only
 * itself; what it sends goes without waiting, and a peer whose send queue is
 * full does not read. A peer over either limit is told why (an Error frame),
 * disconnected (its frames are dropped from then on; nothing of it was
 * acknowledged, so an honest client resends after reconnecting) and
 * audited. Tickets are given when a frame leaves its queue, so core's
 * ticket order is still each peer's order. */

#define S_PEER_CUT_KEEP_MS 60000   /* a cut peer's frames are dropped this long */

typedef struct {
    uint8_t rid[MACX_ROUTING_ID_MAX];
    size_t rid_len;
    char agency[MACX_AGENCY_ID_MAX + 1];
    macx_job_t **q;                /* ring of frames read, not yet given a ticket */
    size_t head, n, cap;
    size_t records;                /* what those frames carry (a Records frame, several) */
    size_t qbytes;
    bool cut;
    bool bye;                      /* it said goodbye: its close is not a loss */
    int fd;                        /* its connection's socket (ZMQ_SRCFD), or -1 */
    int64_t seen_ms;
    uint64_t gen;                  /* the registry generation its agency was checked in */
} s_peer_t;

typedef struct {
    macx_broker_t *b;
    const macx_broker_limits_t *lim;
    void *router, *to_workers, *to_core;
    s_peer_t *peers;
    int npeers, maxpeers;
    int rr;                        /* the peer served next */
    uint64_t ticket;
    uint64_t to_verify;            /* jobs pushed to the verify threads */
    uint64_t pushed;               /* records and other jobs pushed to verify threads or core */
    int verify_cap;
    uint64_t core_cap;
    uint64_t queued;               /* frames waiting in peer queues */
    char *stats;                   /* core's last counters (JSON), or NULL */
    int64_t stats_ms;              /* when they came */
    /* the key directory, watched: its fingerprint when last loaded (or
     * when a load last failed), when it was last looked at, and the
     * registry's generation (each reload, one more) */
    uint64_t keys_fp;
    int64_t keys_checked_ms;
    uint64_t reg_gen;
} s_io_t;

static macx_job_t *
s_job_new (macx_job_kind_t kind, uint64_t ticket)
{
    macx_job_t *job = calloc (1, sizeof *job);
    if (job) {
        job->kind = kind;
        job->ticket = ticket;
        job->group = 1;
    }
    return job;
}

static void
s_push (void *sock, macx_job_t *job)
{
    while (zmq_send (sock, &job, sizeof job, 0) < 0 && zmq_errno () == EINTR)
        ;
}

/* A job for core made by io itself (gone, cut, drain), with the next
 * ticket; through the verify threads, so it follows what is there. */
static void
s_push_own (s_io_t *io, macx_job_t *job)
{
    job->ticket = io->ticket++;
    io->to_verify++;
    io->pushed++;
    s_push (io->to_workers, job);
}

static s_peer_t *
s_peer_find (s_io_t *io, const uint8_t *rid, size_t rid_len)
{
    for (int i = 0; i < io->npeers; i++)
        if (io->peers[i].rid_len == rid_len && memcmp (io->peers[i].rid, rid, rid_len) == 0)
            return &io->peers[i];
    return NULL;
}

/* Frees a job io made and the records chained to it. */
static void
s_chain_free (macx_job_t *job)
{
    while (job) {
        macx_job_t *next = job->next;
        zmq_msg_close (&job->msg);
        free (job);
        job = next;
    }
}

static void
s_peer_drop_queue (s_io_t *io, s_peer_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        s_chain_free (p->q[(p->head + i) % p->cap]);
    }
    io->queued -= p->n;
    p->head = p->n = p->records = 0;
    p->qbytes = 0;
}

/* Forgets entry at, whose queue is empty. */
static void
s_peer_forget (s_io_t *io, int at)
{
    free (io->peers[at].q);
    io->peers[at] = io->peers[--io->npeers];
    if (io->rr > io->npeers)
        io->rr = 0;
}

/* A peer entry for rid: found, or new. The table holds peers with frames
 * waiting or cut; an idle one is forgotten when room is needed (nothing is
 * lost: its queue is empty). NULL when every entry is busy. */
static s_peer_t *
s_peer_get (s_io_t *io, const uint8_t *rid, size_t rid_len, const char *agency, int64_t now)
{
    s_peer_t *p = s_peer_find (io, rid, rid_len);
    if (p)
        return p;
    if (io->npeers == io->maxpeers) {
        int victim = -1;
        for (int i = 0; i < io->npeers; i++) {
            s_peer_t *c = &io->peers[i];
            bool idle = !c->n && (!c->cut || now - c->seen_ms > S_PEER_CUT_KEEP_MS);
            if (idle && (victim < 0 || c->seen_ms < io->peers[victim].seen_ms))
                victim = i;
        }
        if (victim < 0)
            return NULL;
        s_peer_forget (io, victim);
    }
    p = &io->peers[io->npeers++];
    memset (p, 0, sizeof *p);
    memcpy (p->rid, rid, rid_len);
    p->rid_len = rid_len;
    snprintf (p->agency, sizeof p->agency, "%s", agency);
    p->fd = -1;
    p->seen_ms = now;
    return p;
}

/* Sends a frame io makes itself (an Error, a stats reply), without waiting:
 * a peer whose queue is full does not get it. */
static void
s_io_send_frame (s_io_t *io, const uint8_t *rid, size_t rid_len, const Macx__Frame *f)
{
    size_t len = macx__frame__get_packed_size (f);
    uint8_t *buf = malloc (len);
    if (!buf)
        return;
    macx__frame__pack (f, buf);
    if (zmq_send (io->router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) == (int) rid_len)
        zmq_send (io->router, buf, len, ZMQ_DONTWAIT);
    free (buf);
}

/* Has core audit the end of p's session (a `disconnect` entry: reason,
 * why) and end it. */
static void
s_push_end (s_io_t *io, const s_peer_t *p, int reason, const char *why)
{
    macx_job_t *job = s_job_new (JOB_CUT, 0);
    if (!job)
        return;
    memcpy (job->rid, p->rid, p->rid_len);
    job->rid_len = p->rid_len;
    snprintf (job->agency, sizeof job->agency, "%s", p->agency);
    job->rc = reason;
    macx_error_set (&job->err, MACX_EINVAL, "%s", why);
    s_push_own (io, job);
}

/* Disconnects p: tells it why (if its queue takes the frame), drops what
 * it has queued, and has core audit it and end its session. */
static void
s_peer_cut (s_io_t *io, s_peer_t *p, int reason, const char *why)
{
    if (p->cut)
        return;
    p->cut = true;
    s_peer_drop_queue (io, p);
    Macx__Error er = MACX__ERROR__INIT;
    er.reason = reason;
    er.message = (char *) why;
    Macx__Frame f = MACX__FRAME__INIT;
    f.kind_case = MACX__FRAME__KIND_ERROR;
    f.error = &er;
    s_io_send_frame (io, p->rid, p->rid_len, &f);
    macx_log (MACX_LOG_WARN, "peer disconnected", "agency=%s reason=%s why=\"%s\"", p->agency,
              macx_reason_name (reason), why);
    s_push_end (io, p, reason, why);
}

/* ---- the key registry, live ---------------------------------------------- */

#define S_KEYS_CHECK_MS 250   /* how often io looks at the key directory */

/* A fingerprint of what the registry is loaded from: each *.pub file and
 * `revoked` in dir, by name, size, inode and modification time, so a file
 * replaced by a rename and one written in place both change it. Summed, so
 * the order readdir gives does not matter. 0 when dir cannot be read. */
static uint64_t
s_keys_fingerprint (const char *dir)
{
    DIR *d = opendir (dir);
    if (!d)
        return 0;
    uint64_t fp = 1;
    struct dirent *de;
    while ((de = readdir (d))) {
        size_t len = strlen (de->d_name);
        if (strcmp (de->d_name, "revoked") != 0
            && (len < 5 || strcmp (de->d_name + len - 4, ".pub") != 0))
            continue;
        char path[2048];
        struct stat st;
        snprintf (path, sizeof path, "%s/%s", dir, de->d_name);
        if (stat (path, &st) != 0)
            continue;
        int64_t parts[5] = { (int64_t) st.st_size, (int64_t) st.st_ino, (int64_t) st.st_mtim.tv_sec,
                             (int64_t) st.st_mtim.tv_nsec, (int64_t) st.st_ctim.tv_nsec };
        uint8_t h[8];
        crypto_generichash_state hs;
        crypto_generichash_init (&hs, NULL, 0, sizeof h);
        crypto_generichash_update (&hs, (const uint8_t *) de->d_name, len + 1);
        crypto_generichash_update (&hs, (const uint8_t *) parts, sizeof parts);
        crypto_generichash_final (&hs, h, sizeof h);
        uint64_t v;
        memcpy (&v, h, sizeof v);
        fp += v;
    }
    closedir (d);
    return fp;
}

static bool
s_same_keys (const macx_agency_t *a, const macx_agency_t *b)
{
    return memcmp (a->sign_pk, b->sign_pk, MACX_KEY_BYTES) == 0
           && memcmp (a->box_pk, b->box_pk, MACX_KEY_BYTES) == 0
           && memcmp (a->curve_pk, b->curve_pk, MACX_KEY_BYTES) == 0
           && strcmp (a->kind, b->kind) == 0;
}

/* What changed from old to new (both sorted by id), into out (room for
 * both registries' sizes). */
static size_t
s_keys_diff (const macx_registry_t *old, const macx_registry_t *new, macx_key_change_t *out)
{
    size_t i = 0, j = 0, n = 0, no = macx_registry_size (old), nn = macx_registry_size (new);
    while (i < no || j < nn) {
        const macx_agency_t *a = i < no ? macx_registry_at (old, i) : NULL;
        const macx_agency_t *b = j < nn ? macx_registry_at (new, j) : NULL;
        int cmp = !a ? 1 : !b ? -1 : strcmp (a->id, b->id);
        macx_key_change_t *c = &out[n];
        memset (c, 0, sizeof *c);
        if (cmp < 0) {
            c->kind = MACX_KEY_REMOVED;
            snprintf (c->agency, sizeof c->agency, "%s", a->id);
            i++, n++;
            continue;
        }
        if (cmp > 0) {
            c->kind = MACX_KEY_ADDED;
            snprintf (c->agency, sizeof c->agency, "%s", b->id);
            j++, n++;
            continue;
        }
        i++, j++;
        if (!a->revoked && b->revoked)
            c->kind = MACX_KEY_REVOKED;
        else if (!s_same_keys (a, b))
            c->kind = MACX_KEY_CHANGED;
        else if (a->revoked && !b->revoked)
            c->kind = MACX_KEY_RESTORED;
        else
            continue;
        snprintf (c->agency, sizeof c->agency, "%s", b->id);
        if (b->revoked)
            snprintf (c->reason, sizeof c->reason, "%s", b->revoked_reason);
        n++;
    }
    return n;
}

/* Why agency may not use its connection under the registry in force, or
 * NULL if it may. */
static const char *
s_standing (const macx_registry_t *reg, const char *agency, char *why, size_t size)
{
    const macx_agency_t *a = macx_registry_find (reg, agency);
    if (a && !a->revoked)
        return NULL;
    if (a)
        snprintf (why, size, "agency '%s' was revoked (%s): its connections are closed and new "
                  "ones refused", agency, a->revoked_reason);
    else
        snprintf (why, size, "agency '%s' is no longer in the broker's key registry: its "
                  "connections are closed and new ones refused", agency);
    return why;
}

/* Cuts p for a registry change and closes its connection for good (the
 * socket is shut down under libzmq, which then ends the session; the
 * client's reconnect meets ZAP, which refuses it). */
static void
s_peer_revoke (s_io_t *io, s_peer_t *p, const char *why)
{
    bool was_cut = p->cut;
    s_peer_cut (io, p, MACX__REASON__SENDER_REVOKED, why);
    if (!was_cut && p->fd >= 0)
        shutdown (p->fd, SHUT_RDWR);
}

/* Loads the key directory again; if it loads, it is in force from the
 * next frame on: connections of agencies revoked, removed or given new
 * keys are closed, and core is told what changed (to audit, and with
 * policy set, to reload the policy too). A directory that does not load
 * leaves the registry as it was; core audits why, once per state of the
 * directory. */
static void
s_keys_reload (s_io_t *io, uint64_t fp, bool policy)
{
    macx_broker_t *b = io->b;
    macx_job_t *job = s_job_new (JOB_RELOAD, 0);
    if (!job) {
        macx_log (MACX_LOG_ERROR, "out of memory reloading the key registry", NULL);
        return;
    }
    job->reload_policy = policy;
    io->keys_fp = fp;
    macx_error_t err = { 0 };
    macx_registry_t *reg = macx_registry_load (b->cfg.keys_dir, &err);
    macx_registry_t **retired = reg ? realloc (b->retired, (b->nretired + 1) * sizeof *retired)
                                    : NULL;
    macx_key_change_t *changes = retired ? calloc (macx_registry_size (b->registry)
                                                   + macx_registry_size (reg) + 1,
                                                   sizeof *changes)
                                         : NULL;
    if (!changes) {
        if (reg)
            macx_error_set (&err, MACX_ENOMEM, "out of memory");
        macx_registry_destroy (&reg);
        if (retired)
            b->retired = retired;
        job->rc = err.code ? err.code : MACX_EINTERNAL;
        job->err = err;
        macx_log (MACX_LOG_ERROR, "key registry not reloaded: the one in force stays",
                  "keys=%s error=\"%s\"", b->cfg.keys_dir, macx_error_text (&err));
        s_push_own (io, job);
        return;
    }
    b->retired = retired;
    size_t n = s_keys_diff (b->registry, reg, changes);
    if (!n && !policy) {   /* touched, not changed */
        macx_registry_destroy (&reg);
        free (changes);
        free (job);
        return;
    }
    b->retired[b->nretired++] = b->registry;
    __atomic_store_n (&b->registry, reg, __ATOMIC_RELEASE);
    io->reg_gen++;
    for (size_t i = 0; i < n; i++) {
        macx_key_change_t *c = &changes[i];
        if (c->kind == MACX_KEY_ADDED || c->kind == MACX_KEY_RESTORED) {
            macx_log (MACX_LOG_INFO, c->kind == MACX_KEY_ADDED ? "agency added" : "agency restored",
                      "agency=%s", c->agency);
            continue;
        }
        char why[300];
        if (c->kind == MACX_KEY_CHANGED)
            snprintf (why, sizeof why, "agency '%s' has new keys in the broker's key registry: "
                      "connections made with the old ones are closed", c->agency);
        else
            s_standing (reg, c->agency, why, sizeof why);
        for (int k = 0; k < io->npeers; k++)
            if (strcmp (io->peers[k].agency, c->agency) == 0 && !io->peers[k].cut) {
                s_peer_revoke (io, &io->peers[k], why);
                c->sessions++;
            }
        macx_log (MACX_LOG_WARN, c->kind == MACX_KEY_CHANGED ? "agency's keys changed"
                  : c->kind == MACX_KEY_REVOKED ? "agency revoked" : "agency removed",
                  "agency=%s connections_closed=%d", c->agency, c->sessions);
    }
    job->changes = changes;
    job->nchanges = n;
    s_push_own (io, job);
}

/* Looks at the key directory (every S_KEYS_CHECK_MS, or at once when a
 * reload is asked for) and reloads it when it changed. */
static void
s_keys_watch (s_io_t *io, int64_t now, bool asked)
{
    if (!asked && now - io->keys_checked_ms < S_KEYS_CHECK_MS)
        return;
    io->keys_checked_ms = now;
    uint64_t fp = s_keys_fingerprint (io->b->cfg.keys_dir);
    if (asked || fp != io->keys_fp)
        s_keys_reload (io, fp, asked);
}

/* p's agency, checked against the registry in force when that has
 * changed since p was last checked: false (and p cut) if it may no longer
 * send. */
static bool
s_peer_in_standing (s_io_t *io, s_peer_t *p)
{
    if (p->gen == io->reg_gen)
        return true;
    p->gen = io->reg_gen;
    char why[300];
    if (!s_standing (macx_broker_registry (io->b), p->agency, why, sizeof why))
        return true;
    s_peer_revoke (io, p, why);
    return false;
}

/* Appends job to p's queue, growing it; -1 when out of memory. */
static int
s_peer_enqueue (s_io_t *io, s_peer_t *p, macx_job_t *job)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        macx_job_t **q = malloc (cap * sizeof *q);
        if (!q)
            return -1;
        for (size_t i = 0; i < p->n; i++)
            q[i] = p->q[(p->head + i) % p->cap];
        free (p->q);
        p->q = q;
        p->head = 0;
        p->cap = cap;
    }
    p->q[(p->head + p->n++) % p->cap] = job;
    p->records += job->group;
    p->qbytes += job->qsize;
    io->queued++;
    return 0;
}

/* The Envelopes of a Records body, in order: at least one, at most
 * MACX_FRAME_RECORDS_MAX, each within the record limit, nothing else. */
static int
s_split_records (const uint8_t *body, size_t len, const uint8_t **sub, size_t *sublen, size_t *k,
                 macx_error_t *err)
{
    size_t pos = 0, n = 0;
    uint32_t field;
    const uint8_t *b;
    size_t blen;
    int rc;
    while ((rc = macx_frame_next (body, len, &pos, &field, &b, &blen)) == 1) {
        if (field != 1)
            return macx_error_set (err, MACX_EDECODE, "records frame has field %u; it carries "
                                   "only envelopes (field 1)", field);
        if (n == MACX_FRAME_RECORDS_MAX)
            return macx_error_set (err, MACX_ETOOBIG, "records frame carries over %d envelopes",
                                   MACX_FRAME_RECORDS_MAX);
        if (blen > MACX_RECORD_MAX + 4096)
            return macx_error_set (err, MACX_ETOOBIG, "envelope %zu of a records frame is %zu "
                                   "bytes, over the record limit of %u", n + 1, blen,
                                   MACX_RECORD_MAX);
        sub[n] = b;
        sublen[n++] = blen;
    }
    if (rc < 0)
        return macx_error_set (err, MACX_EDECODE, "records frame is truncated or malformed after "
                               "%zu envelopes", n);
    if (n == 0)
        return macx_error_set (err, MACX_EDECODE, "records frame carries no envelope");
    *k = n;
    return 0;
}

/* Reads one [routing id][frame] from the ROUTER into its peer's queue, or
 * returns false when none is waiting:
 * records and receipts will go to a verifier; session frames (hello,
 * credit, statistics, time requests), which have no signature to check,
 * straight to core, a thread hop less on every round of a simulated clock. */
static bool
s_io_incoming (s_io_t *io, int64_t now)
{
    zmq_msg_t rid, body;
    zmq_msg_init (&rid);
    zmq_msg_init (&body);
    if (zmq_msg_recv (&rid, io->router, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&rid);
        zmq_msg_close (&body);
        return false;
    }
    int extra = 0;
    if (!zmq_msg_more (&rid) || zmq_msg_recv (&body, io->router, 0) < 0)
        extra = 1;
    while (zmq_msg_more (&body)) {   /* we speak single-frame messages only */
        zmq_msg_t junk;
        zmq_msg_init (&junk);
        zmq_msg_recv (&junk, io->router, 0);
        int more = zmq_msg_more (&junk);
        zmq_msg_close (&junk);
        extra = 1;
        if (!more)
            break;
    }
    const char *user = zmq_msg_gets (&body, "User-Id");
    size_t rid_len = zmq_msg_size (&rid);
    s_peer_t *p = user && rid_len <= MACX_ROUTING_ID_MAX
                      ? s_peer_get (io, zmq_msg_data (&rid), rid_len, user, now) : NULL;
    if (p && p->fd < 0)
        p->fd = zmq_msg_get (&body, ZMQ_SRCFD);
    macx_job_t *job = p && !p->cut && s_peer_in_standing (io, p) ? s_job_new (JOB_MALFORMED, 0)
                                                                 : NULL;
    if (!job) {
        if (!p && user)
            macx_log (MACX_LOG_WARN, "frame dropped: every peer entry is busy", "agency=%s "
                      "max_peers=%d", user, io->maxpeers);
        zmq_msg_close (&rid);
        zmq_msg_close (&body);
        return true;
    }
    p->seen_ms = now;
    size_t size = zmq_msg_size (&body);
    memcpy (job->rid, zmq_msg_data (&rid), rid_len);
    job->rid_len = rid_len;
    snprintf (job->agency, sizeof job->agency, "%s", user);
    zmq_msg_init (&job->msg);
    zmq_msg_move (&job->msg, &body);
    zmq_msg_close (&rid);
    job->body_len = zmq_msg_size (&job->msg);
    job->qsize = size;
    uint32_t field;
    const uint8_t *fbody = NULL;
    size_t fbody_len = 0;
    bool framed = !extra && macx_frame_peek (zmq_msg_data (&job->msg), size, &field, &fbody,
                                             &fbody_len) == 0;
    /* A Records frame: each Envelope becomes a record job of its own, in
     * order, sharing the frame's bytes (zmq_msg_copy counts references). */
    const uint8_t *sub[MACX_FRAME_RECORDS_MAX];
    size_t sublen[MACX_FRAME_RECORDS_MAX], k = 1;
    if (framed && field == MACX__FRAME__KIND_RECORDS) {
        framed = false;
        if (size > MACX_FRAME_RECORDS_BYTES + 16)
            macx_error_set (&job->err, MACX_ETOOBIG, "records frame of %zu bytes is over the "
                            "broker's limit of %u bytes", size, MACX_FRAME_RECORDS_BYTES);
        else if (s_split_records (fbody, fbody_len, sub, sublen, &k, &job->err) == 0) {
            job->kind = JOB_RECORD;
            job->body = sub[0];
            job->body_len = sublen[0];
        }
    }
    else if (framed && job->body_len <= MACX_RECORD_MAX + 4096) {
        job->body = fbody;
        job->body_len = fbody_len;
        switch (field) {
        case JOB_RECORD: case JOB_RECEIPT: case JOB_HELLO: case JOB_CREDIT: case JOB_STATS:
        case JOB_TIME: case JOB_COMPLAINT: case JOB_RETENTION:
            job->kind = (macx_job_kind_t) field;
            break;
        case MACX__FRAME__KIND_BYE:
            p->bye = true;
            zmq_msg_close (&job->msg);
            free (job);
            return true;
        default:
            break;
        }
    }
    if (job->kind != JOB_RECORD)
        k = 1;
    if (p->records + k > (size_t) io->lim->peer_queue_frames
        || p->qbytes + size > io->lim->peer_queue_bytes) {
        char why[300];
        snprintf (why, sizeof why, "%zu frames (%zu bytes) sent and not yet verified: over this "
                  "peer's limit of %d frames or %zu bytes (limits peer_queue_frames, "
                  "peer_queue_bytes; a records frame counts one frame a record); send fewer at "
                  "a time", p->records + k, p->qbytes + size, io->lim->peer_queue_frames,
                  io->lim->peer_queue_bytes);
        zmq_msg_close (&job->msg);
        free (job);
        s_peer_cut (io, p, MACX__REASON__PEER_OVERLOADED, why);
        return true;
    }
    uint64_t held = io->pushed - __atomic_load_n (&io->b->done, __ATOMIC_ACQUIRE);
    if (job->kind == JOB_STATS && io->stats && (held > 64 || now - io->stats_ms > 500)) {
        /* Core is busy (a queue ahead, or a slow commit): answered here,
         * from its last counters, so that status comes within a second
         * whatever the peers (or the disk) do. Otherwise core answers, up
         * to date. */
        Macx__StatsReply reply = MACX__STATS_REPLY__INIT;
        reply.json = io->stats;
        Macx__Frame f = MACX__FRAME__INIT;
        f.kind_case = MACX__FRAME__KIND_STATS_REPLY;
        f.stats_reply = &reply;
        s_io_send_frame (io, job->rid, job->rid_len, &f);
        zmq_msg_close (&job->msg);
        free (job);
        return true;
    }
    /* The frame's records ride in chains of up to MACX_JOB_CHAIN_MAX records
     * (job->next): one ticket, one verify thread, one trip to core a chain. */
    macx_job_t *head = job, *last = job;
    for (size_t i = 1; i < k; i++) {
        macx_job_t *j = s_job_new (JOB_RECORD, 0);
        if (!j) {
            /* What is not queued is never answered: the sender resends it
             * after its reconnect, like any record lost in transit. */
            macx_log (MACX_LOG_ERROR, "out of memory splitting a records frame",
                      "agency=%s records=%zu queued=%zu", user, k, i);
            break;
        }
        memcpy (j->rid, job->rid, job->rid_len);
        j->rid_len = job->rid_len;
        memcpy (j->agency, job->agency, sizeof j->agency);
        zmq_msg_init (&j->msg);
        zmq_msg_copy (&j->msg, &job->msg);
        j->body = sub[i];
        j->body_len = sublen[i];
        if (head->group == MACX_JOB_CHAIN_MAX) {   /* this one starts the next chain */
            j->qsize = 0;   /* the frame's bytes are counted with its first chain */
            if (s_peer_enqueue (io, p, head)) {
                s_chain_free (head);
                s_chain_free (j);
                return true;
            }
            head = last = j;
            continue;
        }
        last->next = j;
        last = j;
        head->group++;
    }
    if (s_peer_enqueue (io, p, head))
        s_chain_free (head);
    return true;
}

/* libzmq closed the connection on socket fd: have core audit the loss
 * unless the peer said goodbye or was cut already. A
 * connection libzmq dropped itself (a frame over the 4 MiB it reads, a
 * heartbeat timeout) and a client killed or cut off by the network look
 * alike here, and are audited alike. */
static void
s_io_closed (s_io_t *io, int fd)
{
    int at = -1;
    for (int i = 0; i < io->npeers; i++)   /* the oldest, should fd be reused already */
        if (io->peers[i].fd == fd && (at < 0 || io->peers[i].seen_ms < io->peers[at].seen_ms))
            at = i;
    if (at < 0)
        return;
    s_peer_t *p = &io->peers[at];
    if (!p->cut && !p->bye) {
        const char *why = "the connection ended without a goodbye: the agency was killed or lost "
                          "its network, or sent a frame over the 4 MiB the transport reads";
        macx_log (MACX_LOG_WARN, "connection lost", "agency=%s why=\"%s\"", p->agency, why);
        s_push_end (io, p, MACX__REASON__CONNECTION_LOST, why);
    }
    /* What it sent before it closed (a receipt, records) is still served,
     * its entry kept until idle and room is needed; an idle one goes now
     * (a cut one too: no frame comes on a closed connection). */
    if (!p->n) {
        s_peer_forget (io, at);
        return;
    }
    p->fd = -1;
    p->bye = false;
}

/* Takes the frame at the head of p's queue off it (the caller has it). */
static void
s_peer_pop (s_io_t *io, s_peer_t *p)
{
    macx_job_t *job = p->q[p->head];
    p->head = (p->head + 1) % p->cap;
    p->n--;
    p->records -= job->group;
    p->qbytes -= job->qsize;
    io->queued--;
}

/* Keeps the first n records of chain job (just taken off p's queue) and
 * puts the rest back at the head of the queue, as a chain of its own. Its
 * bytes stay counted with the part that goes (they share one frame). */
static void
s_chain_cut (s_io_t *io, s_peer_t *p, macx_job_t *job, size_t n)
{
    macx_job_t *tail = job;
    for (size_t i = 1; i < n; i++)
        tail = tail->next;
    macx_job_t *rest = tail->next;
    tail->next = NULL;
    rest->group = job->group - n;
    rest->qsize = 0;
    job->group = n;
    /* p's ring has room: job's slot was freed just now */
    p->head = (p->head + p->cap - 1) % p->cap;
    p->q[p->head] = rest;
    p->n++;
    p->records += rest->group;
    io->queued++;
}

/* Gives queued frames their tickets, one peer at a time in turn, while the
 * verify threads and core have room. */
static void
s_io_dispatch (s_io_t *io)
{
    int idle = 0;
    while (io->queued && idle < io->npeers) {
        uint64_t verified = __atomic_load_n (&io->b->verified, __ATOMIC_ACQUIRE);
        uint64_t done = __atomic_load_n (&io->b->done, __ATOMIC_ACQUIRE);
        if (io->pushed - done >= io->core_cap)
            return;
        if (io->rr >= io->npeers)
            io->rr = 0;
        s_peer_t *p = &io->peers[io->rr++];
        if (!p->n) {
            idle++;
            continue;
        }
        macx_job_t *job = p->q[p->head];
        bool session = job->kind == JOB_HELLO || job->kind == JOB_CREDIT || job->kind == JOB_TIME
                       || job->kind == JOB_STATS;
        if (!session && io->to_verify - verified >= (uint64_t) io->verify_cap) {
            idle++;   /* its head needs a verify slot: another peer's may not */
            continue;
        }
        idle = 0;
        /* Chains save hops, but a chain is verified by one thread in turn:
         * while other peers have frames waiting, a peer's turn is at most
         * MACX_JOB_CHAIN_CONTENDED records, so no one waits behind another's
         * long chains; alone, it takes what it has queued. */
        bool alone = io->queued == p->n;
        s_peer_pop (io, p);
        size_t most = alone ? MACX_JOB_CHAIN_MAX : MACX_JOB_CHAIN_CONTENDED;
        if (job->kind == JOB_RECORD && job->next && job->group > most)
            s_chain_cut (io, p, job, most);
        /* Records that wait one behind another in their own frames go
         * chained too: a backlog of single records costs one trip through a
         * verify thread and to core per chain, not per record. */
        if (job->kind == JOB_RECORD && !job->next) {
            macx_job_t *last = job;
            size_t bytes = job->qsize;
            if (most > MACX_JOB_CHAIN_SINGLES)
                most = MACX_JOB_CHAIN_SINGLES;
            while (p->n && job->group < most) {
                macx_job_t *nx = p->q[p->head];
                if (nx->kind != JOB_RECORD || nx->next || bytes + nx->qsize > MACX_JOB_CHAIN_BYTES)
                    break;
                bytes += nx->qsize;
                s_peer_pop (io, p);
                last->next = nx;
                last = nx;
                job->group++;
            }
        }
        job->ticket = io->ticket++;
        io->pushed += job->group;   /* core_cap counts records */
        if (session) {
            s_verify (NULL, job);   /* decoding only */
            s_push (io->to_core, job);
        }
        else {
            io->to_verify++;
            s_push (io->to_workers, job);
        }
    }
}

/* Sends one [routing id][frame] from core to the ROUTER, without waiting.
 * Returns 1 when core said it is done (empty routing id). */
static int
s_io_outgoing (s_io_t *io, void *from_core, int64_t now)
{
    zmq_msg_t rid, frame;
    zmq_msg_init (&rid);
    zmq_msg_init (&frame);
    if (zmq_msg_recv (&rid, from_core, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&rid);
        zmq_msg_close (&frame);
        return 0;
    }
    zmq_msg_recv (&frame, from_core, 0);
    int done = zmq_msg_size (&rid) == 0;
    size_t rid_len = zmq_msg_size (&rid);
    s_peer_t *p = done ? NULL : s_peer_find (io, zmq_msg_data (&rid), rid_len);
    if (!done && !(p && p->cut)) {
        uint8_t rid_copy[MACX_ROUTING_ID_MAX];
        memcpy (rid_copy, zmq_msg_data (&rid), rid_len);
        if (zmq_msg_send (&rid, io->router, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0
            || zmq_msg_send (&frame, io->router, ZMQ_DONTWAIT) < 0) {
            if (zmq_errno () == EHOSTUNREACH) {
                macx_job_t *job = s_job_new (JOB_GONE, 0);
                if (job) {
                    memcpy (job->rid, rid_copy, rid_len);
                    job->rid_len = rid_len;
                    s_push_own (io, job);
                }
            }
            else if (zmq_errno () == EAGAIN) {
                /* its send queue is full: it does not read */
                const char *agency = p ? p->agency : "";
                p = p ? p : s_peer_get (io, rid_copy, rid_len, agency, now);
                if (p) {
                    char why[200];
                    snprintf (why, sizeof why, "%d frames sent to it and not read: over this "
                              "peer's limit (limits peer_out_frames); read what the broker sends",
                              io->lim->peer_out_frames);
                    s_peer_cut (io, p, MACX__REASON__SLOW_CONSUMER, why);
                }
            }
        }
    }
    zmq_msg_close (&rid);
    zmq_msg_close (&frame);
    return done;
}

/* ---- run ------------------------------------------------------------------- */

static void *
s_socket (void *ctx, int type, const char *endpoint, bool bind, int hwm, macx_error_t *err)
{
    void *s = zmq_socket (ctx, type);
    int linger = 0;
    if (!s) {
        macx_error_set (err, MACX_EINTERNAL, "zmq_socket: %s", zmq_strerror (zmq_errno ()));
        return NULL;
    }
    zmq_setsockopt (s, ZMQ_LINGER, &linger, sizeof linger);
    if (hwm >= 0) {
        zmq_setsockopt (s, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt (s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    }
    if (endpoint && (bind ? zmq_bind (s, endpoint) : zmq_connect (s, endpoint)) != 0) {
        macx_error_set (err, MACX_EINTERNAL, "%s %s: %s", bind ? "bind" : "connect", endpoint,
                        zmq_strerror (zmq_errno ()));
        zmq_close (s);
        return NULL;
    }
    return s;
}

/* Holds an exclusive lock on DATA/broker.lock for the broker's life. */
static int
s_lock_data (const char *dir, macx_error_t *err)
{
    if (mkdir (dir, 0700) != 0 && errno != EEXIST)
        return macx_error_set (err, MACX_EIO, "%s: %s", dir, strerror (errno));
    char path[2048];
    snprintf (path, sizeof path, "%s/broker.lock", dir);
    int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return macx_error_set (err, MACX_EIO, "%s: %s", path, strerror (errno));
    if (flock (fd, LOCK_EX | LOCK_NB) != 0) {
        close (fd);
        return macx_error_set (err, MACX_EIO, "%s: another broker is using this data directory",
                               dir);
    }
    char pid[32];
    int n = snprintf (pid, sizeof pid, "%ld\n", (long) getpid ());
    if (ftruncate (fd, 0) == 0 && write (fd, pid, (size_t) n) < 0)
        macx_log (MACX_LOG_WARN, "cannot write the pid into the lock file", NULL);
    return fd;   /* stays open: released at exit */
}

int
macx_broker_run (const macx_broker_config_t *cfg, macx_error_t *err)
{
    macx_broker_t b = { .cfg = *cfg };
    macx_core_t *core = NULL;
    void *router = NULL, *to_workers = NULL, *from_workers = NULL, *to_core = NULL,
         *core_out = NULL, *from_core = NULL, *stats_in = NULL, *monitor = NULL;
    int nworkers = cfg->workers > 0 ? cfg->workers : (int) sysconf (_SC_NPROCESSORS_ONLN);
    if (nworkers < 1)
        nworkers = 1;
    if (nworkers > 16)
        nworkers = 16;
    s_worker_t workers[16];
    pthread_t worker_threads[16], zap_thread, core_thread;
    int started_workers = 0, zap_started = 0, core_started = 0;
    int rc = MACX_OK, lock_fd = -1;
    macx_harden_process ();
    b.started_ms = macx_clock_wall_ms ();

    if ((lock_fd = s_lock_data (cfg->data_dir, err)) < 0)
        return err ? err->code : MACX_EIO;
    /* looked at before the load: a change made during it is seen by the watch */
    uint64_t keys_fp = s_keys_fingerprint (cfg->keys_dir);
    if (!(b.registry = macx_registry_load (cfg->keys_dir, err))
        || !(b.identity = macx_identity_load (cfg->keys_dir, cfg->identity, err))
        || !(b.policy = macx_policy_load (cfg->policy_dir, err))) {
        rc = err ? err->code : MACX_EINVAL;
        goto done;
    }
    if (!(b.roots = macx_root_cache_new_shared ())) {
        rc = macx_error_set (err, MACX_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < cfg->neffective; i++)
        if (macx_policy_set_effective (b.policy, cfg->effective[i].agreement, cfg->effective[i].day)) {
            rc = macx_error_set (err, MACX_ENOTFOUND, "effective date for unknown agreement '%s'",
                                 cfg->effective[i].agreement);
            goto done;
        }

    b.ctx = zmq_ctx_new ();
    /* ZAP handler first: it must be bound before any CURVE socket binds. */
    if (!(b.zap_socket = s_socket (b.ctx, ZMQ_REP, "inproc://zeromq.zap.01", true, -1, err))) {
        rc = err ? err->code : MACX_EINTERNAL;
        goto done;
    }
    if (!(core_out = s_socket (b.ctx, ZMQ_PUSH, "inproc://macx-out", true, 0, err))
        || !(from_core = s_socket (b.ctx, ZMQ_PULL, "inproc://macx-out", false, 0, err))
        || !(from_workers = s_socket (b.ctx, ZMQ_PULL, "inproc://macx-verified", true, 0, err))
        || !(to_core = s_socket (b.ctx, ZMQ_PUSH, "inproc://macx-verified", false, 0, err))
        || !(to_workers = s_socket (b.ctx, ZMQ_PUSH, "inproc://macx-verify", true, 2000, err))) {
        rc = err ? err->code : MACX_EINTERNAL;
        goto done;
    }
    /* core's counters, conflated: only the last one matters */
    if (!(stats_in = zmq_socket (b.ctx, ZMQ_PULL))
        || zmq_setsockopt (stats_in, ZMQ_CONFLATE, &(int) { 1 }, sizeof (int))
        || zmq_bind (stats_in, "inproc://macx-stats")
        || !(b.stats_out = s_socket (b.ctx, ZMQ_PUSH, "inproc://macx-stats", false, 1, err))) {
        rc = err && err->code ? err->code : macx_error_set (err, MACX_EINTERNAL, "stats socket");
        goto done;
    }
    router = zmq_socket (b.ctx, ZMQ_ROUTER);
    /* Closed connections, to audit the ones that ended without a goodbye. */
    if (zmq_socket_monitor (router, "inproc://macx-router-monitor", ZMQ_EVENT_DISCONNECTED)
        || !(monitor = s_socket (b.ctx, ZMQ_PAIR, "inproc://macx-router-monitor", false, -1, err))) {
        rc = err && err->code ? err->code : macx_error_set (err, MACX_EINTERNAL, "monitor socket");
        goto done;
    }
    {
        int one = 1, hb = cfg->heartbeat_ms, hbt = 3 * cfg->heartbeat_ms, linger = 2000;
        /* Frames up to 4 MiB are read, and refused TOO_LARGE with an audit
         * entry if over a record's limit; libzmq drops a connection that
         * sends a larger one (docs/operations.md, "Limits"). */
        int64_t maxmsg = (int64_t) 4 << 20;
        int hwm = cfg->limits.peer_out_frames;
        zmq_setsockopt (router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
        zmq_setsockopt (router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
        zmq_setsockopt (router, ZMQ_HEARTBEAT_IVL, &hb, sizeof hb);
        zmq_setsockopt (router, ZMQ_HEARTBEAT_TIMEOUT, &hbt, sizeof hbt);
        zmq_setsockopt (router, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt (router, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt (router, ZMQ_ZAP_DOMAIN, "macx", 4);
        if (macx_identity_curve_apply (b.identity, router, true, NULL) != 0
            || zmq_bind (router, cfg->bind) != 0) {
            rc = macx_error_set (err, MACX_EIO, "cannot bind %s: %s", cfg->bind,
                                 zmq_strerror (zmq_errno ()));
            goto done;
        }
    }
    /* The store opens (and audits the start) only once the address is ours. */
    if (!(core = macx_core_new (&b, from_workers, core_out, err))) {
        rc = err ? err->code : MACX_ESTORE;
        goto done;
    }
    pthread_create (&zap_thread, NULL, macx_broker_zap_thread, &b);
    zap_started = 1;
    for (int i = 0; i < nworkers; i++) {
        workers[i].b = &b;
        if (!(workers[i].in = s_socket (b.ctx, ZMQ_PULL, "inproc://macx-verify", false, 2000, err))
            || !(workers[i].out = s_socket (b.ctx, ZMQ_PUSH, "inproc://macx-verified", false, 0, err))) {
            rc = err ? err->code : MACX_EINTERNAL;
            goto done;
        }
        pthread_create (&worker_threads[i], NULL, s_worker_thread, &workers[i]);
        started_workers++;
    }
    pthread_create (&core_thread, NULL, s_core_thread, core);
    core_started = 1;

    struct sigaction sa = { 0 };
    sa.sa_handler = s_on_signal;
    sigaction (SIGTERM, &sa, NULL);
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGHUP, &sa, NULL);   /* reload: the key registry and the policy */
    signal (SIGPIPE, SIG_IGN);
    macx_log (MACX_LOG_INFO, "listening", "bind=%s workers=%d batch_max=%d policy=%s", cfg->bind,
              nworkers, cfg->batch_max, macx_policy_hash (b.policy));

    s_io_t io = { .b = &b, .lim = &cfg->limits, .router = router, .to_workers = to_workers,
                  .to_core = to_core, .maxpeers = cfg->limits.max_peers, .ticket = 1 };
    io.keys_fp = keys_fp;
    io.keys_checked_ms = macx_clock_wall_ms ();
    io.reg_gen = 1;
    io.verify_cap = cfg->limits.verify_inflight > 0 ? cfg->limits.verify_inflight : 4 * nworkers;
    /* core's input is bounded too: a batch's worth and some, for group commit */
    io.core_cap = (uint64_t) (2 * cfg->batch_max + io.verify_cap + 64);
    if (!(io.peers = calloc ((size_t) io.maxpeers, sizeof *io.peers))) {
        rc = macx_error_set (err, MACX_ENOMEM, "out of memory");
        goto stop;
    }
    bool draining = false;
    for (;;) {
        if (s_signalled && !draining) {
            /* Drain: stop reading, let core finish everything ticketed so
             * far; what waits unticketed in a peer's queue was never
             * acknowledged, and its sender sends it again. */
            draining = true;
            macx_log (MACX_LOG_INFO, "stopping: draining", "tickets=%" PRIu64 " unticketed=%" PRIu64,
                      io.ticket - 1, io.queued);
            for (int i = 0; i < io.npeers; i++)
                s_peer_drop_queue (&io, &io.peers[i]);
            macx_job_t *job = s_job_new (JOB_DRAIN, 0);
            if (job)
                s_push_own (&io, job);
        }
        /* Frames waiting for a slot: look again soon, slots free up
         * without a socket event. */
        zmq_pollitem_t items[4] = { { from_core, 0, ZMQ_POLLIN, 0 }, { stats_in, 0, ZMQ_POLLIN, 0 },
                                    { monitor, 0, ZMQ_POLLIN, 0 }, { router, 0, ZMQ_POLLIN, 0 } };
        int n = zmq_poll (items, draining ? 3 : 4, io.queued ? 1 : S_KEYS_CHECK_MS);
        if (n < 0 && zmq_errno () != EINTR)
            break;
        int64_t now = macx_clock_wall_ms ();
        if (n > 0 && (items[1].revents & ZMQ_POLLIN)) {
            zmq_msg_t m;
            zmq_msg_init (&m);
            if (zmq_msg_recv (&m, stats_in, ZMQ_DONTWAIT) >= 0) {
                char *copy = malloc (zmq_msg_size (&m) + 1);
                if (copy) {
                    memcpy (copy, zmq_msg_data (&m), zmq_msg_size (&m));
                    copy[zmq_msg_size (&m)] = '\0';
                    free (io.stats);
                    io.stats = copy;
                    io.stats_ms = now;
                }
            }
            zmq_msg_close (&m);
        }
        if (n > 0 && (items[0].revents & ZMQ_POLLIN)) {
            int done = 0;
            for (int i = 0; i < 1024 && !done; i++) {
                zmq_pollitem_t p = { from_core, 0, ZMQ_POLLIN, 0 };
                if (zmq_poll (&p, 1, 0) <= 0)
                    break;
                done = s_io_outgoing (&io, from_core, now);
            }
            if (done)
                break;
        }
        if (n > 0 && !draining && (items[3].revents & ZMQ_POLLIN))
            for (int i = 0; i < 256; i++)   /* no poll a frame: reading says when none is left */
                if (!s_io_incoming (&io, now))
                    break;
        while (n > 0 && !draining && (items[2].revents & ZMQ_POLLIN)) {
            zmq_msg_t ev, addr;
            zmq_msg_init (&ev);
            zmq_msg_init (&addr);
            if (zmq_msg_recv (&ev, monitor, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close (&ev);
                zmq_msg_close (&addr);
                break;
            }
            if (zmq_msg_more (&ev))
                zmq_msg_recv (&addr, monitor, 0);
            uint16_t event = 0;
            uint32_t value = 0;
            if (zmq_msg_size (&ev) >= 6) {
                memcpy (&event, zmq_msg_data (&ev), 2);
                memcpy (&value, (uint8_t *) zmq_msg_data (&ev) + 2, 4);
            }
            if (event == ZMQ_EVENT_DISCONNECTED) {
                /* what the connection sent before it closed (its goodbye)
                 * is read first */
                for (int i = 0; i < 4096; i++)
                    if (!s_io_incoming (&io, now))
                        break;
                s_io_closed (&io, (int) value);
            }
            zmq_msg_close (&ev);
            zmq_msg_close (&addr);
        }
        if (!draining) {
            bool asked = s_reload_asked;
            if (asked)
                s_reload_asked = 0;
            s_keys_watch (&io, now, asked);
            s_io_dispatch (&io);
        }
    }
    macx_log (MACX_LOG_INFO, "stopped", NULL);
stop:
    if (io.peers) {
        for (int i = 0; i < io.npeers; i++) {
            s_peer_drop_queue (&io, &io.peers[i]);
            free (io.peers[i].q);
        }
        free (io.peers);
    }
    free (io.stats);
done:
    if (core_started)
        pthread_join (core_thread, NULL);
    if (router) {
        zmq_socket_monitor (router, NULL, 0);
        zmq_close (router);
    }
    if (to_workers)
        zmq_close (to_workers);
    if (to_core)
        zmq_close (to_core);
    if (from_core)
        zmq_close (from_core);
    if (core_out)
        zmq_close (core_out);
    if (from_workers)
        zmq_close (from_workers);
    if (stats_in)
        zmq_close (stats_in);
    if (monitor)
        zmq_close (monitor);
    if (b.stats_out)
        zmq_close (b.stats_out);
    if (b.zap_socket && !zap_started)
        zmq_close (b.zap_socket);   /* else the zap thread closes it */
    if (b.ctx)
        zmq_ctx_term (b.ctx);   /* wakes blocked threads with ETERM */
    for (int i = 0; i < started_workers; i++)
        pthread_join (worker_threads[i], NULL);
    if (zap_started)
        pthread_join (zap_thread, NULL);
    if (core && macx_core_time_violations (core) && rc == MACX_OK)
        rc = macx_error_set (err, MACX_EINTERNAL, "the simulated clock's protocol was broken %" PRIu64
                             " time(s): a record reached a federate in its past, or a federate "
                             "asked for time with an event before its grant (see the log)",
                             macx_core_time_violations (core));
    macx_core_destroy (&core);
    macx_policy_destroy (&b.policy);
    macx_identity_destroy (&b.identity);
    macx_registry_destroy (&b.registry);
    for (size_t i = 0; i < b.nretired; i++)
        macx_registry_destroy (&b.retired[i]);
    free (b.retired);
    macx_root_cache_destroy (&b.roots);
    if (lock_fd >= 0)
        close (lock_fd);
    return rc;
}
