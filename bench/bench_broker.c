/* bench_broker.c -- the full record path against a plain relay, side by
 * side in one run on one machine: 1 KiB records from 4 sending agencies to
 * 4 receiving agencies through the broker (CURVE, signature checks, policy,
 * group-committed LMDB audit + mailboxes, delivery, opening, signed
 * receipts) and through a plain ZeroMQ ROUTER relay of frames of the same
 * size without security or storage. Also the Ed25519 verify rate on one and
 * on all cores, the ceiling the full path lives under. Prints figures; it
 * is not a test (--smoke is a quick run ctest uses to keep it working). */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "agent.h"
#include "broker.h"
#include "clock.h"
#include "hist.h"
#include "log.h"

#define S_AGENCIES 4
#define S_BODY     1024

static const char *s_senders[S_AGENCIES] = { "ogd-send1", "ogd-send2", "ogd-send3", "ogd-send4" };
static const char *s_receivers[S_AGENCIES] = { "ogd-recv1", "ogd-recv2", "ogd-recv3", "ogd-recv4" };

typedef struct {
    const char *name;
    double rate;             /* records/s delivered */
    uint64_t p50_us, p99_us, max_us;
    uint64_t n;
} s_result_t;

/* ---- Ed25519 verify ceiling ---------------------------------------------------- */

typedef struct {
    double seconds;
    uint64_t count;
} s_verify_arg_t;

static void *
s_verify_thread (void *arg)
{
    s_verify_arg_t *a = arg;
    uint8_t pk[32], sk[64], sig[64], msg[64] = { 1 };
    crypto_sign_keypair (pk, sk);
    crypto_sign_detached (sig, NULL, msg, sizeof msg, sk);
    uint64_t end = macx_clock_mono_ns () + (uint64_t) (a->seconds * 1e9), n = 0;
    while (macx_clock_mono_ns () < end)
        for (int i = 0; i < 64; i++, n++)
            if (crypto_sign_verify_detached (sig, msg, sizeof msg, pk) != 0)
                abort ();
    a->count = n;
    return NULL;
}

static double
s_verify_rate (int threads, double seconds)
{
    pthread_t t[8];
    s_verify_arg_t a[8];
    for (int i = 0; i < threads; i++) {
        a[i] = (s_verify_arg_t) { seconds, 0 };
        pthread_create (&t[i], NULL, s_verify_thread, &a[i]);
    }
    uint64_t total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join (t[i], NULL);
        total += a[i].count;
    }
    return (double) total / seconds;
}

/* ---- measuring a run (both paths) ------------------------------------------------ */

/* Waits until the receivers' counters reach want, or the deadline. */
static void
s_wait_received (volatile uint64_t *const *done, uint64_t want, uint64_t deadline_ns)
{
    for (;;) {
        uint64_t got = 0;
        for (int i = 0; i < S_AGENCIES; i++)
            got += *done[i];
        if (got >= want || macx_clock_mono_ns () > deadline_ns)
            return;
        usleep (1000);
    }
}

/* Rate and latency from the receivers' counts and histograms. */
static s_result_t
s_result (const char *name, const uint64_t *const *counts, const macx_hist_t *const *hists,
          uint64_t t0, uint64_t t1)
{
    s_result_t r = { name, 0, 0, 0, 0, 0 };
    macx_hist_t all;
    macx_hist_reset (&all);
    for (int i = 0; i < S_AGENCIES; i++) {
        macx_hist_merge (&all, hists[i]);
        r.n += *counts[i];
    }
    r.rate = (double) r.n / ((double) (t1 - t0) / 1e9);
    r.p50_us = macx_hist_quantile (&all, 0.5);
    r.p99_us = macx_hist_quantile (&all, 0.99);
    r.max_us = all.max;
    return r;
}

/* ---- the full path --------------------------------------------------------------- */

typedef struct {
    const char *keys, *endpoint;
    int index;
    uint64_t records;        /* to send (senders) or expect (receivers) */
    double rate;             /* per sender, records/s; 0 = as fast as credit allows */
    int window;              /* unacknowledged records at most */
    uint64_t done, nacks;
    macx_hist_t hist;        /* receivers: end-to-end latency, us */
    volatile int *stop;
} s_agent_arg_t;

static void *
s_sender (void *arg)
{
    s_agent_arg_t *a = arg;
    macx_agent_config_t cfg;
    macx_agent_config_defaults (&cfg);
    snprintf (cfg.keys_dir, sizeof cfg.keys_dir, "%s", a->keys);
    snprintf (cfg.agency, sizeof cfg.agency, "%s", s_senders[a->index]);
    snprintf (cfg.broker, sizeof cfg.broker, "%s", a->endpoint);
    macx_error_t err = { 0 };
    macx_agent_t *agent = macx_agent_new (&cfg, &err);
    if (!agent) {
        fprintf (stderr, "bench: sender: %s\n", macx_error_text (&err));
        return NULL;
    }
    static char body[S_BODY + 1];
    memset (body, 'x', S_BODY);
    char tbuf[32];
    macx_record_field_t fields[2] = { { "body", NULL, body }, { "t", NULL, tbuf } };
    char *to[1] = { (char *) s_receivers[a->index] };
    uint64_t sent = 0, answered = 0, start = macx_clock_mono_ns ();
    while (answered < a->records && !*a->stop) {
        while (sent < a->records && sent - answered < (uint64_t) a->window) {
            if (a->rate > 0) {
                uint64_t due = start + (uint64_t) ((double) sent * 1e9 / a->rate);
                if (macx_clock_mono_ns () < due)
                    break;
            }
            snprintf (tbuf, sizeof tbuf, "%" PRIu64, macx_clock_mono_ns ());
            Macx__Payload *p;
            Macx__FieldEntry **manifest;
            size_t nm;
            if (macx_record_build ("bench_note", fields, 2, &p, &manifest, &nm, &err))
                break;
            Macx__Header h = MACX__HEADER__INIT;
            h.recipients = to;
            h.n_recipients = 1;
            h.subject = "SYN-BENCH";
            h.case_id = "BENCH";
            /* the first opens the case (docs/policy.md "Case context") */
            h.phase = sent ? MACX__PHASE__SHARING : MACX__PHASE__IDENTIFICATION;
            h.case_phase = h.phase;
            h.record_type = "bench_note";
            h.purpose = "bench";
            h.manifest = manifest;
            h.n_manifest = nm;
            macx_agent_post (agent, &h, p, NULL, &err);
            macx_record_build_free (&p, &manifest, nm);
            sent++;
        }
        macx_agent_event_t ev;
        /* Sleep in the poll until the next record is due, never spin. */
        int wait = 50;
        if (a->rate > 0 && sent < a->records && sent - answered < (uint64_t) a->window) {
            uint64_t due = start + (uint64_t) ((double) sent * 1e9 / a->rate), now = macx_clock_mono_ns ();
            wait = due > now ? (int) ((due - now) / 1000000) + 1 : 0;
            if (wait > 50)
                wait = 50;
        }
        while (macx_agent_next (agent, wait, &ev, &err) == 0) {
            if (ev.kind == MACX_AGENT_ACK || ev.kind == MACX_AGENT_NACK) {
                answered++;
                a->nacks += ev.kind == MACX_AGENT_NACK;
            }
            macx_agent_done (agent, &ev);
            wait = 0;
        }
    }
    a->done = answered;
    macx_agent_destroy (&agent);
    return NULL;
}

static void *
s_receiver (void *arg)
{
    s_agent_arg_t *a = arg;
    macx_agent_config_t cfg;
    macx_agent_config_defaults (&cfg);
    snprintf (cfg.keys_dir, sizeof cfg.keys_dir, "%s", a->keys);
    snprintf (cfg.agency, sizeof cfg.agency, "%s", s_receivers[a->index]);
    snprintf (cfg.broker, sizeof cfg.broker, "%s", a->endpoint);
    cfg.credit = 1024;
    macx_error_t err = { 0 };
    macx_agent_t *agent = macx_agent_new (&cfg, &err);
    if (!agent) {
        fprintf (stderr, "bench: receiver: %s\n", macx_error_text (&err));
        return NULL;
    }
    macx_hist_reset (&a->hist);
    while (a->done < a->records && !*a->stop) {
        macx_agent_event_t ev;
        if (macx_agent_next (agent, 100, &ev, &err) != 0)
            continue;
        if (ev.kind == MACX_AGENT_RECORD) {
            const Macx__Payload *p = macx_record_payload (ev.record);
            uint64_t now = macx_clock_mono_ns ();
            for (size_t i = 0; p->generic && i < p->generic->n_fields; i++)
                if (strcmp (p->generic->fields[i]->name, "t") == 0) {
                    uint64_t t = strtoull (p->generic->fields[i]->value, NULL, 10);
                    macx_hist_add (&a->hist, now > t ? (now - t) / 1000 : 0);
                }
            a->done++;
        }
        macx_agent_done (agent, &ev);
    }
    macx_agent_flush (agent);
    macx_agent_destroy (&agent);
    return NULL;
}

static s_result_t
s_run_full (const char *name, const char *keys, const char *endpoint, uint64_t per_agency,
            double total_rate, double timeout_s)
{
    s_agent_arg_t senders[S_AGENCIES], receivers[S_AGENCIES];
    pthread_t ts[S_AGENCIES], tr[S_AGENCIES];
    volatile int stop = 0;
    for (int i = 0; i < S_AGENCIES; i++) {
        receivers[i] = (s_agent_arg_t) { keys, endpoint, i, per_agency, 0, 0, 0, 0, { 0 }, &stop };
        pthread_create (&tr[i], NULL, s_receiver, &receivers[i]);
    }
    usleep (300000);   /* receivers connected and said hello */
    uint64_t t0 = macx_clock_mono_ns ();
    for (int i = 0; i < S_AGENCIES; i++) {
        senders[i] = (s_agent_arg_t) { keys, endpoint, i, per_agency, total_rate / S_AGENCIES,
                                       total_rate > 0 ? 4096 : 512, 0, 0, { 0 }, &stop };
        pthread_create (&ts[i], NULL, s_sender, &senders[i]);
    }
    /* Watchdog: never hang the run. */
    volatile uint64_t *done[S_AGENCIES];
    for (int i = 0; i < S_AGENCIES; i++)
        done[i] = &receivers[i].done;
    s_wait_received (done, per_agency * S_AGENCIES, t0 + (uint64_t) (timeout_s * 1e9));
    uint64_t t1 = macx_clock_mono_ns ();
    stop = 1;
    for (int i = 0; i < S_AGENCIES; i++) {
        pthread_join (ts[i], NULL);
        pthread_join (tr[i], NULL);
    }
    const uint64_t *counts[S_AGENCIES];
    const macx_hist_t *hists[S_AGENCIES];
    uint64_t nacks = 0;
    for (int i = 0; i < S_AGENCIES; i++) {
        counts[i] = &receivers[i].done;
        hists[i] = &receivers[i].hist;
        nacks += senders[i].nacks;
    }
    if (nacks)
        fprintf (stderr, "bench: %" PRIu64 " records refused in '%s'\n", nacks, name);
    s_result_t r = s_result (name, counts, hists, t0, t1);
    return r;
}

/* ---- plain relay ----------------------------------------------------------------- */

typedef struct {
    char endpoint[64];
    volatile int stop;
} s_relay_t;

static void *
s_relay_thread (void *arg)
{
    s_relay_t *r = arg;
    void *ctx = zmq_ctx_new (), *router = zmq_socket (ctx, ZMQ_ROUTER);
    int hwm = 100000, linger = 0;
    zmq_setsockopt (router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_bind (router, r->endpoint);
    zmq_msg_t rids[S_AGENCIES];
    int known[S_AGENCIES] = { 0 };
    while (!r->stop) {
        zmq_pollitem_t it = { router, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&it, 1, 100) <= 0)
            continue;
        zmq_msg_t rid, body;
        zmq_msg_init (&rid);
        zmq_msg_init (&body);
        zmq_msg_recv (&rid, router, 0);
        zmq_msg_recv (&body, router, 0);
        const uint8_t *d = zmq_msg_data (&body);
        if (zmq_msg_size (&body) == 2 && d[0] == 'H' && d[1] < S_AGENCIES) {
            zmq_msg_init (&rids[d[1]]);
            zmq_msg_copy (&rids[d[1]], &rid);
            known[d[1]] = 1;
        }
        else if (zmq_msg_size (&body) > 1 && d[0] < S_AGENCIES && known[d[0]]) {
            zmq_msg_t to;
            zmq_msg_init (&to);
            zmq_msg_copy (&to, &rids[d[0]]);
            zmq_msg_send (&to, router, ZMQ_SNDMORE);
            zmq_msg_send (&body, router, 0);
        }
        zmq_msg_close (&rid);
        zmq_msg_close (&body);
    }
    zmq_close (router);
    zmq_ctx_term (ctx);
    return NULL;
}

typedef struct {
    const char *endpoint;
    int index;
    uint64_t records;
    size_t frame;
    uint64_t done;
    macx_hist_t hist;
    volatile int *stop;
} s_plain_arg_t;

static void *
s_plain_receiver (void *arg)
{
    s_plain_arg_t *a = arg;
    void *ctx = zmq_ctx_new (), *s = zmq_socket (ctx, ZMQ_DEALER);
    int hwm = 100000, linger = 0;
    zmq_setsockopt (s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect (s, a->endpoint);
    uint8_t hello[2] = { 'H', (uint8_t) a->index };
    zmq_send (s, hello, 2, 0);
    macx_hist_reset (&a->hist);
    uint8_t *buf = malloc (a->frame + 64);
    while (a->done < a->records && !*a->stop) {
        zmq_pollitem_t it = { s, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&it, 1, 100) <= 0)
            continue;
        int n = zmq_recv (s, buf, a->frame + 64, 0);
        if (n < 9)
            continue;
        uint64_t t, now = macx_clock_mono_ns ();
        memcpy (&t, buf + 1, 8);
        macx_hist_add (&a->hist, now > t ? (now - t) / 1000 : 0);
        a->done++;
    }
    free (buf);
    zmq_close (s);
    zmq_ctx_term (ctx);
    return NULL;
}

static void *
s_plain_sender (void *arg)
{
    s_plain_arg_t *a = arg;
    void *ctx = zmq_ctx_new (), *s = zmq_socket (ctx, ZMQ_DEALER);
    int hwm = 100000, linger = 0;
    zmq_setsockopt (s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect (s, a->endpoint);
    uint8_t *buf = calloc (1, a->frame);
    buf[0] = (uint8_t) a->index;
    for (uint64_t i = 0; i < a->records && !*a->stop; i++) {
        uint64_t t = macx_clock_mono_ns ();
        memcpy (buf + 1, &t, 8);
        zmq_send (s, buf, a->frame, 0);
    }
    free (buf);
    while (!*a->stop)
        usleep (1000);
    zmq_close (s);
    zmq_ctx_term (ctx);
    return NULL;
}

static s_result_t
s_run_plain (const char *endpoint, uint64_t per_agency, size_t frame, double timeout_s)
{
    s_relay_t relay;
    snprintf (relay.endpoint, sizeof relay.endpoint, "%s", endpoint);
    relay.stop = 0;
    pthread_t trl, ts[S_AGENCIES], tr[S_AGENCIES];
    pthread_create (&trl, NULL, s_relay_thread, &relay);
    volatile int stop = 0;
    s_plain_arg_t senders[S_AGENCIES], receivers[S_AGENCIES];
    for (int i = 0; i < S_AGENCIES; i++) {
        receivers[i] = (s_plain_arg_t) { endpoint, i, per_agency, frame, 0, { 0 }, &stop };
        pthread_create (&tr[i], NULL, s_plain_receiver, &receivers[i]);
    }
    usleep (300000);
    uint64_t t0 = macx_clock_mono_ns ();
    for (int i = 0; i < S_AGENCIES; i++) {
        senders[i] = (s_plain_arg_t) { endpoint, i, per_agency, frame, 0, { 0 }, &stop };
        pthread_create (&ts[i], NULL, s_plain_sender, &senders[i]);
    }
    volatile uint64_t *done[S_AGENCIES];
    for (int i = 0; i < S_AGENCIES; i++)
        done[i] = &receivers[i].done;
    s_wait_received (done, per_agency * S_AGENCIES, t0 + (uint64_t) (timeout_s * 1e9));
    uint64_t t1 = macx_clock_mono_ns ();
    stop = 1;
    relay.stop = 1;
    for (int i = 0; i < S_AGENCIES; i++) {
        pthread_join (ts[i], NULL);
        pthread_join (tr[i], NULL);
    }
    pthread_join (trl, NULL);
    const uint64_t *counts[S_AGENCIES];
    const macx_hist_t *hists[S_AGENCIES];
    for (int i = 0; i < S_AGENCIES; i++) {
        counts[i] = &receivers[i].done;
        hists[i] = &receivers[i].hist;
    }
    s_result_t r = s_result ("plain ROUTER relay", counts, hists, t0, t1);
    return r;
}

/* The broker's own view: batch sizes and commit latency (fsync included). */
static void
s_print_broker_stats (const char *keys, const char *endpoint)
{
    macx_agent_config_t cfg;
    macx_agent_config_defaults (&cfg);
    snprintf (cfg.keys_dir, sizeof cfg.keys_dir, "%s", keys);
    snprintf (cfg.agency, sizeof cfg.agency, "%s", s_senders[0]);
    snprintf (cfg.broker, sizeof cfg.broker, "%s", endpoint);
    macx_agent_t *agent = macx_agent_new (&cfg, NULL);
    bool asked = false;
    for (int i = 0; agent && i < 50; i++) {
        if (!asked && macx_agent_connected (agent))
            asked = macx_agent_request_stats (agent) == MACX_OK;
        macx_agent_event_t ev;
        if (macx_agent_next (agent, 100, &ev, NULL) != 0)
            continue;
        bool got = ev.kind == MACX_AGENT_STATS;
        if (got) {
            const char *b = strstr (ev.stats_json, "\"batch_size\"");
            const char *e = b ? strstr (b, ",\"policy\"") : NULL;
            printf ("  broker: %.*s\n", e ? (int) (e - b) : 0, b ? b : "");
        }
        macx_agent_done (agent, &ev);
        if (got)
            break;
    }
    macx_agent_destroy (&agent);
}

/* ---- main ------------------------------------------------------------------------ */

static pid_t
s_start_broker (const char *dir, const char *endpoint)
{
    pid_t pid = fork ();
    if (pid != 0)
        return pid;
    macx_broker_config_t cfg;
    macx_broker_config_defaults (&cfg);
    snprintf (cfg.bind, sizeof cfg.bind, "%s", endpoint);
    snprintf (cfg.keys_dir, sizeof cfg.keys_dir, "%s/keys", dir);
    snprintf (cfg.policy_dir, sizeof cfg.policy_dir, "%s/bench/policy", MACX_SOURCE_DIR);
    snprintf (cfg.data_dir, sizeof cfg.data_dir, "%s/data", dir);
    cfg.map_size = (size_t) 4 << 30;
    cfg.checkpoint_every = 10000;
    macx_log_set_level (MACX_LOG_WARN);
    macx_log_set_component ("broker");
    macx_error_t err = { 0 };
    if (macx_broker_run (&cfg, &err)) {
        fprintf (stderr, "bench: broker: %s\n", macx_error_text (&err));
        _exit (1);
    }
    _exit (0);
}

static void
s_stop_broker (pid_t pid)
{
    kill (pid, SIGTERM);
    int status;
    waitpid (pid, &status, 0);
}

static void
s_print (const s_result_t *r)
{
    printf ("  %-38s %9.0f rec/s  p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  (%" PRIu64 " records)\n",
            r->name, r->rate, (double) r->p50_us / 1000, (double) r->p99_us / 1000,
            (double) r->max_us / 1000, r->n);
}

int
main (int argc, char **argv)
{
    int smoke = argc > 1 && strcmp (argv[1], "--smoke") == 0;
    uint64_t per_agency = smoke ? 250 : 25000;
    if (argc > 2 && strcmp (argv[1], "--records") == 0)
        per_agency = strtoull (argv[2], NULL, 10) / S_AGENCIES;
    if (sodium_init () < 0)
        return 70;
    char dir[] = "/tmp/macx-bench-XXXXXX";
    if (!mkdtemp (dir))
        return 74;
    char keys[512];
    snprintf (keys, sizeof keys, "%s/keys", dir);
    macx_error_t err = { 0 };
    const char *all[] = { "broker", "ogd-send1", "ogd-send2", "ogd-send3", "ogd-send4",
                          "ogd-recv1", "ogd-recv2", "ogd-recv3", "ogd-recv4" };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (macx_keys_generate (keys, all[i], i == 0 ? "broker" : "ogd", &err)) {
            fprintf (stderr, "bench: %s\n", macx_error_text (&err));
            return 70;
        }
    int port = 20000 + (int) (getpid () % 20000);
    char endpoint[64], plain[64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    snprintf (plain, sizeof plain, "tcp://127.0.0.1:%d", port + 1);
    macx_log_set_level (MACX_LOG_WARN);

    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    double vsec = smoke ? 0.1 : 1.0;
    double v1 = s_verify_rate (1, vsec), vn = s_verify_rate ((int) (cores > 8 ? 8 : cores), vsec);
    printf ("macx broker benchmark: %d senders -> %d receivers, %d-byte bodies, %ld cores\n\n",
            S_AGENCIES, S_AGENCIES, S_BODY, cores);
    printf ("  Ed25519 verify: %.0f/s on one core, %.0f/s on %ld cores\n", v1, vn, cores);
    printf ("  the full path verifies twice per record (broker, recipient): ceiling %.0f rec/s\n\n",
            vn / 2);

    pid_t broker = s_start_broker (dir, endpoint);
    usleep (500000);
    s_result_t full = s_run_full ("full path, saturated", keys, endpoint, per_agency, 0,
                                  smoke ? 60 : 300);
    double half = full.rate / 2;
    s_result_t paced = s_run_full ("full path, paced at half that rate", keys, endpoint,
                                   smoke ? per_agency : per_agency / 2, half, smoke ? 60 : 300);
    s_print_broker_stats (keys, endpoint);
    s_stop_broker (broker);
    size_t frame = S_BODY + 420;   /* about a sealed 1 KiB record's size */
    s_result_t relay = s_run_plain (plain, per_agency, frame, smoke ? 60 : 300);
    char hdr[64];
    snprintf (hdr, sizeof hdr, "%s", "");
    s_print (&full);
    s_print (&paced);
    s_print (&relay);
    printf ("\n  full / plain throughput: %.3f (%.1fx slower)\n", full.rate / relay.rate,
            relay.rate / (full.rate > 0 ? full.rate : 1));
    printf ("  full path / verify ceiling: %.0f%%\n", 100.0 * full.rate / (vn / 2));
    char cmd[600];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system (cmd) != 0)
        fprintf (stderr, "bench: could not remove %s\n", dir);
    int ok = full.n == per_agency * S_AGENCIES && relay.n == per_agency * S_AGENCIES;
    if (!ok)
        fprintf (stderr, "bench: not every record arrived (full %" PRIu64 ", plain %" PRIu64 ")\n",
                 full.n, relay.n);
    return ok ? 0 : 1;
}
