/* broker.c -- start-up, the io thread that owns the ROUTER socket, the
 * verify workers, and shutdown. Judging and storage live in core.c, ZAP in
 * zap.c. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker_int.h"
#include "clock.h"
#include "core.h"
#include "file.h"
#include "frame.h"
#include "log.h"

static volatile sig_atomic_t s_signalled = 0;

static void
s_on_signal (int sig)
{
    (void) sig;
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
        .peer_queue_frames = 256, .peer_queue_bytes = (size_t) 8 << 20, .peer_out_frames = 4096,
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

/* Decodes (and for records and receipts verifies) a job; w may be NULL
 * for the session frames, which need no registry. */
static void
s_verify (s_worker_t *w, macx_job_t *job)
{
    switch (job->kind) {
    case JOB_RECORD:
        job->rc = macx_record_decode (job->body, job->body_len, &job->record, &job->err);
        if (job->rc == MACX_OK
            && strcmp (macx_record_header (job->record)->sender, job->agency) == 0)
            job->rc = macx_record_check_signature (w->b->registry, job->record, &job->err);
        /* a spoofed sender is refused in core without spending a verify */
        break;
    case JOB_RECEIPT: {
        job->receipt = macx__receipt__unpack (NULL, job->body_len, job->body);
        if (!job->receipt) {
            job->rc = macx_error_set (&job->err, MACX_EDECODE, "receipt does not decode");
            break;
        }
        const Macx__Receipt *r = job->receipt;
        const macx_agency_t *a = macx_registry_find (w->b->registry, job->agency);
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
        s_verify (w, job);
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

static macx_job_t *
s_job_new (macx_job_kind_t kind, uint64_t ticket)
{
    macx_job_t *job = calloc (1, sizeof *job);
    if (job) {
        job->kind = kind;
        job->ticket = ticket;
    }
    return job;
}

static void
s_push (void *sock, macx_job_t *job)
{
    while (zmq_send (sock, &job, sizeof job, 0) < 0 && zmq_errno () == EINTR)
        ;
}

/* Reads one [routing id][frame] from the ROUTER and hands it on: records
 * and receipts to a verifier; session frames (hello, credit, statistics,
 * time requests), which have no signature to check, straight to core, a
 * thread hop less on every round of a simulated clock. Core restores the
 * tickets' order either way. */
static void
s_io_incoming (void *router, void *to_workers, void *to_core, uint64_t *ticket)
{
    zmq_msg_t rid, body;
    zmq_msg_init (&rid);
    zmq_msg_init (&body);
    if (zmq_msg_recv (&rid, router, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&rid);
        zmq_msg_close (&body);
        return;
    }
    int extra = 0;
    if (!zmq_msg_more (&rid) || zmq_msg_recv (&body, router, 0) < 0)
        extra = 1;
    while (zmq_msg_more (&body)) {   /* we speak single-frame messages only */
        zmq_msg_t junk;
        zmq_msg_init (&junk);
        zmq_msg_recv (&junk, router, 0);
        int more = zmq_msg_more (&junk);
        zmq_msg_close (&junk);
        extra = 1;
        if (!more)
            break;
    }
    const char *user = zmq_msg_gets (&body, "User-Id");
    macx_job_t *job = s_job_new (JOB_MALFORMED, *ticket);
    if (!job || !user || zmq_msg_size (&rid) > MACX_ROUTING_ID_MAX) {
        free (job);
        zmq_msg_close (&rid);
        zmq_msg_close (&body);
        return;
    }
    (*ticket)++;
    memcpy (job->rid, zmq_msg_data (&rid), zmq_msg_size (&rid));
    job->rid_len = zmq_msg_size (&rid);
    snprintf (job->agency, sizeof job->agency, "%s", user);
    zmq_msg_init (&job->msg);
    zmq_msg_move (&job->msg, &body);
    zmq_msg_close (&rid);
    job->body_len = zmq_msg_size (&job->msg);
    uint32_t field;
    if (!extra && macx_frame_peek (zmq_msg_data (&job->msg), zmq_msg_size (&job->msg), &field,
                                   &job->body, &job->body_len) == 0) {
        switch (field) {
        case JOB_RECORD: case JOB_RECEIPT: case JOB_HELLO: case JOB_CREDIT: case JOB_STATS:
        case JOB_TIME:
            job->kind = (macx_job_kind_t) field;
            break;
        default:
            break;
        }
    }
    else if (!extra && zmq_msg_size (&job->msg) == 0)
        job->kind = JOB_MALFORMED;
    if (job->kind == JOB_HELLO || job->kind == JOB_CREDIT || job->kind == JOB_TIME
        || job->kind == JOB_STATS) {
        s_verify (NULL, job);   /* decoding only */
        s_push (to_core, job);
    }
    else
        s_push (to_workers, job);
}

/* Forwards one [routing id][frame] from core to the ROUTER. Returns 1 when
 * core said it is done (empty routing id). */
static int
s_io_outgoing (void *router, void *from_core, void *to_workers, uint64_t *ticket)
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
    if (!done) {
        uint8_t rid_copy[MACX_ROUTING_ID_MAX];
        size_t rid_len = zmq_msg_size (&rid);
        memcpy (rid_copy, zmq_msg_data (&rid), rid_len);
        if (zmq_msg_send (&rid, router, ZMQ_SNDMORE) < 0 || zmq_msg_send (&frame, router, 0) < 0) {
            if (zmq_errno () == EHOSTUNREACH) {
                macx_job_t *job = s_job_new (JOB_GONE, (*ticket)++);
                if (job) {
                    memcpy (job->rid, rid_copy, rid_len);
                    job->rid_len = rid_len;
                    s_push (to_workers, job);
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
         *core_out = NULL, *from_core = NULL;
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
    if (!(b.registry = macx_registry_load (cfg->keys_dir, err))
        || !(b.identity = macx_identity_load (cfg->keys_dir, cfg->identity, err))
        || !(b.policy = macx_policy_load (cfg->policy_dir, err))) {
        rc = err ? err->code : MACX_EINVAL;
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
    router = zmq_socket (b.ctx, ZMQ_ROUTER);
    {
        int one = 1, hb = cfg->heartbeat_ms, hbt = 3 * cfg->heartbeat_ms, linger = 2000;
        int64_t maxmsg = (int64_t) MACX_RECORD_MAX + 4096;
        int hwm = 100000;
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
    signal (SIGPIPE, SIG_IGN);
    macx_log (MACX_LOG_INFO, "listening", "bind=%s workers=%d batch_max=%d policy=%s", cfg->bind,
              nworkers, cfg->batch_max, macx_policy_hash (b.policy));

    uint64_t ticket = 1;
    bool draining = false;
    for (;;) {
        if (s_signalled && !draining) {
            /* Drain: stop reading, let core finish everything ticketed so far. */
            draining = true;
            macx_log (MACX_LOG_INFO, "stopping: draining", "tickets=%" PRIu64, ticket - 1);
            macx_job_t *job = s_job_new (JOB_DRAIN, ticket++);
            if (job)
                s_push (to_workers, job);
        }
        zmq_pollitem_t items[2] = { { from_core, 0, ZMQ_POLLIN, 0 }, { router, 0, ZMQ_POLLIN, 0 } };
        int n = zmq_poll (items, draining ? 1 : 2, 500);
        if (n < 0 && zmq_errno () != EINTR)
            break;
        if (n <= 0)
            continue;
        if (items[0].revents & ZMQ_POLLIN) {
            int done = 0;
            for (int i = 0; i < 1024 && !done; i++) {
                zmq_pollitem_t p = { from_core, 0, ZMQ_POLLIN, 0 };
                if (zmq_poll (&p, 1, 0) <= 0)
                    break;
                done = s_io_outgoing (router, from_core, to_workers, &ticket);
            }
            if (done)
                break;
        }
        if (!draining && (items[1].revents & ZMQ_POLLIN))
            for (int i = 0; i < 256; i++) {
                zmq_pollitem_t p = { router, 0, ZMQ_POLLIN, 0 };
                if (zmq_poll (&p, 1, 0) <= 0)
                    break;
                s_io_incoming (router, to_workers, to_core, &ticket);
            }
    }
    macx_log (MACX_LOG_INFO, "stopped", NULL);
done:
    if (core_started)
        pthread_join (core_thread, NULL);
    if (router)
        zmq_close (router);
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
    if (lock_fd >= 0)
        close (lock_fd);
    return rc;
}
