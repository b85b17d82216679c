/* peer_bench.c -- one publisher and one consumer of 1 KiB records through
 * NATS JetStream, RabbitMQ, Mosquitto or the macx broker, durable and
 * acknowledged, optionally with macx's sealed envelope done by the peers'
 * clients (seal at the publisher, open at the consumer). Prints one line of
 * key=value figures; bench/peers/run.sh starts the servers, calls this for
 * every row of its table and prints the table. Owns no server: it only
 * connects to the port it is given, on loopback.
 *
 *   peer_bench --system nats|rabbitmq|mosquitto|macx --port P
 *              [--records N] [--rate R] [--window W] [--envelope] [--keys DIR]
 *   peer_bench --probe          Ed25519 verifies/s on all cores, 1 s */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <mosquitto.h>
#include <nats/nats.h>

#include "agent.h"
#include "clock.h"
#include "hist.h"
#include "keys.h"
#include "log.h"
#include "record.h"

#define S_BODY     1024
#define S_SENDER   "ogd-send1"
#define S_RECEIVER "ogd-recv1"

/* One run: what to do, and what the consumer measured. The consumer thread
 * writes hist, received and t_last; main reads them after joining it. */
typedef struct s_run_t s_run_t;
struct s_run_t {
    int port;
    uint64_t records;
    double rate;               /* records/s; 0 = as fast as the window allows */
    int window;                /* unconfirmed publishes at most */
    bool envelope;
    int batch;                 /* macx: records per batch signature (0: each signed) */
    int batch_ms;              /* macx: a batch is signed this long after its first record */
    const char *keys;          /* macx: the broker's key directory */
    uint64_t deadline_ns;
    volatile int ready;        /* consumer subscribed */
    volatile int stop;
    uint64_t t0, t_last;
    uint64_t received, errors;
    macx_hist_t hist;
    macx_hist_t ack_hist;      /* macx: post -> ACK at the sender, us */
    char extra[400];           /* macx: the latency breakdown, appended to the line */
    void *pub, *con;           /* each system's own state */
};

/* A system: set up (main thread), consume (its own thread until received ==
 * records or the deadline), publish one record stamped t (blocks while the
 * window is full), drain (until every publish is confirmed), tear down. */
typedef struct {
    const char *name;
    int (*setup) (s_run_t *run);
    void *(*consume) (void *run);
    int (*publish) (s_run_t *run, uint64_t t);
    int (*drain) (s_run_t *run);
    void (*teardown) (s_run_t *run);
} s_system_t;

/* ---- the message: 1 KiB with a send stamp, or a sealed record carrying it -- */

static macx_registry_t *s_registry;
static macx_identity_t *s_sealer, *s_opener;
static uint64_t s_sequence;

/* Keys for the envelope, made in a temp dir that is removed at once. */
static int
s_envelope_init (void)
{
    char dir[] = "/tmp/macx-peer-keys-XXXXXX";
    if (!mkdtemp (dir))
        return -1;
    macx_error_t err = { 0 };
    int rc = macx_keys_generate (dir, S_SENDER, "ogd", &err)
             || macx_keys_generate (dir, S_RECEIVER, "ogd", &err)
             || !(s_registry = macx_registry_load (dir, &err))
             || !(s_sealer = macx_identity_load (dir, S_SENDER, &err))
             || !(s_opener = macx_identity_load (dir, S_RECEIVER, &err));
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system (cmd) != 0)
        fprintf (stderr, "peer_bench: could not remove %s\n", dir);
    if (rc)
        fprintf (stderr, "peer_bench: envelope keys: %s\n", macx_error_text (&err));
    return rc ? -1 : 0;
}

/* The payload macx itself carries (bench_broker's): body and send stamp. */
typedef struct {
    char body[S_BODY + 1], t[32];
    Macx__Field f[2], *fp[2];
    Macx__Generic generic;
    Macx__Payload payload;
    Macx__FieldEntry e[2], *ep[2];
} s_payload_t;

static void
s_payload_init (s_payload_t *p, uint64_t t)
{
    memset (p->body, 'x', S_BODY);
    p->body[S_BODY] = '\0';
    snprintf (p->t, sizeof p->t, "%" PRIu64, t);
    const char *names[2] = { "body", "t" };
    char *values[2] = { p->body, p->t };
    for (int i = 0; i < 2; i++) {
        macx__field__init (&p->f[i]);
        p->f[i].name = (char *) names[i];
        p->f[i].value = values[i];
        p->fp[i] = &p->f[i];
        macx__field_entry__init (&p->e[i]);
        p->e[i].name = (char *) names[i];
        p->e[i].transform = "";
        p->ep[i] = &p->e[i];
    }
    macx__generic__init (&p->generic);
    p->generic.n_fields = 2;
    p->generic.fields = p->fp;
    macx__payload__init (&p->payload);
    p->payload.body_case = MACX__PAYLOAD__BODY_GENERIC;
    p->payload.generic = &p->generic;
}

static void
s_header_init (Macx__Header *h, uint8_t *id, char **to, s_payload_t *p)
{
    macx__header__init (h);
    macx_record_new_id (id);
    h->record_id = (ProtobufCBinaryData) { MACX_RECORD_ID_BYTES, id };
    h->recipients = to;
    h->n_recipients = 1;
    h->sequence = ++s_sequence;
    h->subject = "SYN-BENCH";
    h->case_id = "BENCH";
    h->phase = MACX__PHASE__SHARING;
    h->case_phase = MACX__PHASE__SHARING;
    h->record_type = "bench_note";
    h->purpose = "bench";
    h->n_manifest = 2;
    h->manifest = p->ep;
}

/* Fills *buf (caller frees) with the message stamped t. */
static int
s_make (const s_run_t *run, uint64_t t, uint8_t **buf, size_t *len)
{
    if (!run->envelope) {
        *buf = malloc (S_BODY);
        if (!*buf)
            return -1;
        memset (*buf, 'x', S_BODY);
        memcpy (*buf, &t, sizeof t);
        *len = S_BODY;
        return 0;
    }
    s_payload_t p;
    s_payload_init (&p, t);
    Macx__Header h;
    uint8_t id[MACX_RECORD_ID_BYTES];
    char *to[1] = { S_RECEIVER };
    s_header_init (&h, id, to, &p);
    macx_error_t err = { 0 };
    if (macx_record_seal (s_sealer, s_registry, &h, &p.payload, buf, len, &err)) {
        fprintf (stderr, "peer_bench: seal: %s\n", macx_error_text (&err));
        return -1;
    }
    return 0;
}

static void
s_stamp (s_run_t *run, uint64_t t)
{
    uint64_t now = macx_clock_mono_ns ();
    macx_hist_add (&run->hist, now > t ? (now - t) / 1000 : 0);
    run->received++;
    run->t_last = now;
}

static uint64_t
s_field_t (const Macx__Payload *p)
{
    for (size_t i = 0; p && p->generic && i < p->generic->n_fields; i++)
        if (strcmp (p->generic->fields[i]->name, "t") == 0)
            return strtoull (p->generic->fields[i]->value, NULL, 10);
    return 0;
}

/* The consumer's half: opens (verify + decrypt) when enveloped. */
static void
s_take (s_run_t *run, const void *data, size_t len)
{
    uint64_t t = 0;
    if (!run->envelope) {
        if (len < sizeof t) {
            run->errors++;
            return;
        }
        memcpy (&t, data, sizeof t);
        s_stamp (run, t);
        return;
    }
    macx_record_t *rec = NULL;
    macx_error_t err = { 0 };
    if (macx_record_open (s_opener, s_registry, data, len, &rec, &err)) {
        if (!run->errors++)
            fprintf (stderr, "peer_bench: open: %s\n", macx_error_text (&err));
        return;
    }
    s_stamp (run, s_field_t (macx_record_payload (rec)));
    macx_record_destroy (&rec);
}

static bool
s_running (const s_run_t *run)
{
    return !run->stop && run->received < run->records && macx_clock_mono_ns () < run->deadline_ns;
}

/* ---- NATS JetStream: file store, async publish, pull consumer, explicit acks */

typedef struct {
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub;
} s_nats_t;

static int
s_nats_connect (s_run_t *run, s_nats_t *n)
{
    char url[64];
    snprintf (url, sizeof url, "nats://127.0.0.1:%d", run->port);
    jsOptions o;
    jsOptions_Init (&o);
    o.PublishAsync.MaxPending = run->window;
    o.PublishAsync.StallWait = 30000;   /* a full window waits, not fails (200 ms default) */
    o.Wait = 10000;
    natsStatus s = natsConnection_ConnectTo (&n->nc, url);
    if (s == NATS_OK)
        s = natsConnection_JetStream (&n->js, n->nc, &o);
    if (s != NATS_OK)
        fprintf (stderr, "peer_bench: nats %s: %s\n", url, natsStatus_GetText (s));
    return s == NATS_OK ? 0 : -1;
}

static int
s_nats_setup (s_run_t *run)
{
    s_nats_t *n = run->pub = calloc (1, sizeof *n);
    if (!n || s_nats_connect (run, n))
        return -1;
    jsErrCode jerr = 0;
    js_DeleteStream (n->js, "BENCH", NULL, &jerr);   /* a previous run's, if any */
    jsStreamConfig cfg;
    jsStreamConfig_Init (&cfg);
    const char *subjects[1] = { "bench" };
    cfg.Name = "BENCH";
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    natsStatus s = js_AddStream (NULL, n->js, &cfg, NULL, &jerr);
    if (s != NATS_OK)
        fprintf (stderr, "peer_bench: nats add stream: %s (%d)\n", natsStatus_GetText (s), jerr);
    return s == NATS_OK ? 0 : -1;
}

static void *
s_nats_consume (void *arg)
{
    s_run_t *run = arg;
    s_nats_t *n = run->con = calloc (1, sizeof *n);
    jsErrCode jerr = 0;
    if (!n || s_nats_connect (run, n)
        || js_PullSubscribe (&n->sub, n->js, "bench", "bench", NULL, NULL, &jerr) != NATS_OK) {
        fprintf (stderr, "peer_bench: nats pull subscribe failed (%d)\n", jerr);
        run->stop = 1;
        return NULL;
    }
    run->ready = 1;
    while (s_running (run)) {
        natsMsgList list = { 0 };
        if (natsSubscription_Fetch (&list, n->sub, 256, 200, &jerr) != NATS_OK)
            continue;
        for (int i = 0; i < list.Count; i++) {
            s_take (run, natsMsg_GetData (list.Msgs[i]), (size_t) natsMsg_GetDataLength (list.Msgs[i]));
            natsMsg_Ack (list.Msgs[i], NULL);
        }
        natsMsgList_Destroy (&list);
    }
    return NULL;
}

static int
s_nats_publish (s_run_t *run, uint64_t t)
{
    s_nats_t *n = run->pub;
    uint8_t *buf;
    size_t len;
    if (s_make (run, t, &buf, &len))
        return -1;
    natsStatus s = js_PublishAsync (n->js, "bench", buf, (int) len, NULL);
    free (buf);
    if (s != NATS_OK)
        fprintf (stderr, "peer_bench: nats publish: %s\n", natsStatus_GetText (s));
    return s == NATS_OK ? 0 : -1;
}

static int
s_nats_drain (s_run_t *run)
{
    s_nats_t *n = run->pub;
    jsPubOptions o;
    jsPubOptions_Init (&o);
    o.MaxWait = 60000;
    return js_PublishAsyncComplete (n->js, &o) == NATS_OK ? 0 : -1;
}

static void
s_nats_close (s_nats_t *n)
{
    if (!n)
        return;
    if (n->sub)
        natsSubscription_Destroy (n->sub);
    if (n->js)
        jsCtx_Destroy (n->js);
    if (n->nc)
        natsConnection_Destroy (n->nc);
    free (n);
}

static void
s_nats_teardown (s_run_t *run)
{
    s_nats_t *p = run->pub;
    jsErrCode jerr = 0;
    if (p && p->js)
        js_DeleteStream (p->js, "BENCH", NULL, &jerr);
    s_nats_close (run->con);
    s_nats_close (run->pub);
}

/* ---- RabbitMQ: durable queue, persistent messages, publisher confirms ------ */

typedef struct {
    amqp_connection_state_t conn;
    uint64_t sent, confirmed;
} s_amqp_t;

#define S_QUEUE "macx-bench"

static int
s_amqp_connect (s_run_t *run, s_amqp_t *a)
{
    a->conn = amqp_new_connection ();
    amqp_socket_t *sock = amqp_tcp_socket_new (a->conn);
    if (!sock || amqp_socket_open (sock, "127.0.0.1", run->port) != AMQP_STATUS_OK) {
        fprintf (stderr, "peer_bench: rabbitmq: cannot connect to 127.0.0.1:%d\n", run->port);
        return -1;
    }
    amqp_rpc_reply_t r = amqp_login (a->conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
    if (r.reply_type != AMQP_RESPONSE_NORMAL || !amqp_channel_open (a->conn, 1)) {
        fprintf (stderr, "peer_bench: rabbitmq: login or channel failed\n");
        return -1;
    }
    amqp_queue_declare (a->conn, 1, amqp_cstring_bytes (S_QUEUE), 0, 1, 0, 0, amqp_empty_table);
    return amqp_get_rpc_reply (a->conn).reply_type == AMQP_RESPONSE_NORMAL ? 0 : -1;
}

static int
s_amqp_setup (s_run_t *run)
{
    s_amqp_t *a = run->pub = calloc (1, sizeof *a);
    if (!a || s_amqp_connect (run, a))
        return -1;
    amqp_queue_purge (a->conn, 1, amqp_cstring_bytes (S_QUEUE));
    if (!amqp_confirm_select (a->conn, 1))
        return -1;
    return 0;
}

static void *
s_amqp_consume (void *arg)
{
    s_run_t *run = arg;
    s_amqp_t *a = run->con = calloc (1, sizeof *a);
    if (!a || s_amqp_connect (run, a)) {
        run->stop = 1;
        return NULL;
    }
    amqp_basic_qos (a->conn, 1, 0, (uint16_t) (run->window > 65535 ? 65535 : run->window), 0);
    amqp_basic_consume (a->conn, 1, amqp_cstring_bytes (S_QUEUE), amqp_empty_bytes, 0, 0, 0,
                        amqp_empty_table);
    if (amqp_get_rpc_reply (a->conn).reply_type != AMQP_RESPONSE_NORMAL) {
        run->stop = 1;
        return NULL;
    }
    run->ready = 1;
    while (s_running (run)) {
        amqp_envelope_t env;
        struct timeval tv = { 0, 200000 };
        amqp_maybe_release_buffers (a->conn);
        amqp_rpc_reply_t r = amqp_consume_message (a->conn, &env, &tv, 0);
        if (r.reply_type != AMQP_RESPONSE_NORMAL)
            continue;
        s_take (run, env.message.body.bytes, env.message.body.len);
        amqp_basic_ack (a->conn, 1, env.delivery_tag, 0);
        amqp_destroy_envelope (&env);
    }
    return NULL;
}

/* Reads confirms: waits up to timeout_us for the first, then takes what is
 * already there. */
static int
s_amqp_confirms (s_amqp_t *a, long timeout_us)
{
    for (;;) {
        amqp_frame_t f;
        struct timeval tv = { timeout_us / 1000000, timeout_us % 1000000 };
        int rc = amqp_simple_wait_frame_noblock (a->conn, &f, &tv);
        if (rc == AMQP_STATUS_TIMEOUT)
            return 0;
        if (rc != AMQP_STATUS_OK)
            return -1;
        if (f.frame_type == AMQP_FRAME_METHOD && f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
            amqp_basic_ack_t *ack = f.payload.method.decoded;
            a->confirmed = ack->delivery_tag;   /* tags are 1.. in publish order */
        }
        timeout_us = 0;
    }
}

static int
s_amqp_publish (s_run_t *run, uint64_t t)
{
    s_amqp_t *a = run->pub;
    while (a->sent - a->confirmed >= (uint64_t) run->window)
        if (s_amqp_confirms (a, 100000))
            return -1;
    uint8_t *buf;
    size_t len;
    if (s_make (run, t, &buf, &len))
        return -1;
    amqp_basic_properties_t props;
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    int rc = amqp_basic_publish (a->conn, 1, amqp_empty_bytes, amqp_cstring_bytes (S_QUEUE), 0, 0,
                                 &props, (amqp_bytes_t) { len, buf });
    free (buf);
    a->sent++;
    if (rc != AMQP_STATUS_OK)
        fprintf (stderr, "peer_bench: rabbitmq publish: %s\n", amqp_error_string2 (rc));
    return rc == AMQP_STATUS_OK ? s_amqp_confirms (a, 0) : -1;
}

static int
s_amqp_drain (s_run_t *run)
{
    s_amqp_t *a = run->pub;
    uint64_t end = macx_clock_mono_ns () + 60000000000ull;
    while (a->confirmed < a->sent && macx_clock_mono_ns () < end)
        if (s_amqp_confirms (a, 100000))
            return -1;
    return a->confirmed == a->sent ? 0 : -1;
}

static void
s_amqp_close (s_amqp_t *a, bool delete_queue)
{
    if (!a)
        return;
    if (a->conn) {
        if (delete_queue)
            amqp_queue_delete (a->conn, 1, amqp_cstring_bytes (S_QUEUE), 0, 0);
        amqp_channel_close (a->conn, 1, AMQP_REPLY_SUCCESS);
        amqp_connection_close (a->conn, AMQP_REPLY_SUCCESS);
        amqp_destroy_connection (a->conn);
    }
    free (a);
}

static void
s_amqp_teardown (s_run_t *run)
{
    s_amqp_close (run->con, false);
    s_amqp_close (run->pub, true);
}

/* ---- Mosquitto: QoS 1, persistence on (the server's config) ---------------- */

typedef struct {
    struct mosquitto *m;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t sent, acked;
    volatile int subscribed;
} s_mqtt_t;

static void
s_mqtt_on_publish (struct mosquitto *m, void *obj, int mid)
{
    s_mqtt_t *q = obj;
    pthread_mutex_lock (&q->lock);
    q->acked++;
    pthread_cond_signal (&q->cond);
    pthread_mutex_unlock (&q->lock);
}

static void
s_mqtt_on_subscribe (struct mosquitto *m, void *obj, int mid, int n, const int *qos)
{
    ((s_mqtt_t *) obj)->subscribed = 1;
}

static s_run_t *s_mqtt_run;   /* the consumer's run, for on_message */

static void
s_mqtt_on_message (struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    s_take (s_mqtt_run, msg->payload, (size_t) msg->payloadlen);
}

static s_mqtt_t *
s_mqtt_new (s_run_t *run, const char *id)
{
    s_mqtt_t *q = calloc (1, sizeof *q);
    if (!q)
        return NULL;
    pthread_mutex_init (&q->lock, NULL);
    pthread_cond_init (&q->cond, NULL);
    q->m = mosquitto_new (id, true, q);
    if (!q->m)
        return q;
    mosquitto_max_inflight_messages_set (q->m, (unsigned) run->window);
    mosquitto_publish_callback_set (q->m, s_mqtt_on_publish);
    mosquitto_subscribe_callback_set (q->m, s_mqtt_on_subscribe);
    mosquitto_message_callback_set (q->m, s_mqtt_on_message);
    if (mosquitto_connect (q->m, "127.0.0.1", run->port, 60) != MOSQ_ERR_SUCCESS) {
        fprintf (stderr, "peer_bench: mosquitto: cannot connect to 127.0.0.1:%d\n", run->port);
        mosquitto_destroy (q->m);
        q->m = NULL;
    }
    return q;
}

static int
s_mqtt_setup (s_run_t *run)
{
    s_mqtt_t *q = run->pub = s_mqtt_new (run, "macx-bench-pub");
    return q && q->m && mosquitto_loop_start (q->m) == MOSQ_ERR_SUCCESS ? 0 : -1;
}

static void *
s_mqtt_consume (void *arg)
{
    s_run_t *run = arg;
    s_mqtt_run = run;
    s_mqtt_t *q = run->con = s_mqtt_new (run, "macx-bench-sub");
    if (!q || !q->m || mosquitto_subscribe (q->m, NULL, "bench", 1) != MOSQ_ERR_SUCCESS) {
        run->stop = 1;
        return NULL;
    }
    while (s_running (run)) {
        if (mosquitto_loop (q->m, 100, 1) != MOSQ_ERR_SUCCESS)
            usleep (10000);
        if (q->subscribed)
            run->ready = 1;
    }
    for (int i = 0; i < 5; i++)   /* the last PUBACKs out */
        mosquitto_loop (q->m, 10, 1);
    return NULL;
}

static int
s_mqtt_publish (s_run_t *run, uint64_t t)
{
    s_mqtt_t *q = run->pub;
    pthread_mutex_lock (&q->lock);
    while (q->sent - q->acked >= (uint64_t) run->window)
        pthread_cond_wait (&q->cond, &q->lock);
    pthread_mutex_unlock (&q->lock);
    uint8_t *buf;
    size_t len;
    if (s_make (run, t, &buf, &len))
        return -1;
    int rc = mosquitto_publish (q->m, NULL, "bench", (int) len, buf, 1, false);
    free (buf);
    pthread_mutex_lock (&q->lock);
    q->sent++;
    pthread_mutex_unlock (&q->lock);
    if (rc != MOSQ_ERR_SUCCESS)
        fprintf (stderr, "peer_bench: mosquitto publish: %s\n", mosquitto_strerror (rc));
    return rc == MOSQ_ERR_SUCCESS ? 0 : -1;
}

static int
s_mqtt_drain (s_run_t *run)
{
    s_mqtt_t *q = run->pub;
    struct timespec end;
    clock_gettime (CLOCK_REALTIME, &end);
    end.tv_sec += 60;
    pthread_mutex_lock (&q->lock);
    int rc = 0;
    while (q->acked < q->sent && rc == 0)
        rc = pthread_cond_timedwait (&q->cond, &q->lock, &end);
    pthread_mutex_unlock (&q->lock);
    return q->acked == q->sent ? 0 : -1;
}

static void
s_mqtt_close (s_mqtt_t *q, bool threaded)
{
    if (!q)
        return;
    if (q->m) {
        mosquitto_disconnect (q->m);
        if (threaded)
            mosquitto_loop_stop (q->m, false);
        mosquitto_destroy (q->m);
    }
    free (q);
}

static void
s_mqtt_teardown (s_run_t *run)
{
    s_mqtt_close (run->con, false);
    s_mqtt_close (run->pub, true);
}

/* ---- macx: the broker's full path, per-record signatures -------------------
 * One sending and one receiving agency (bench/policy's ogd-send1 ->
 * ogd-recv1); the agent library seals, the broker verifies, checks policy
 * and commits (fsync) before its ACK, the recipient's agent opens.
 * With --batch N the sending agent signs batches of up to N records (or
 * what it sent within --batch-ms): the "macx-batch" row of run.sh. */

typedef struct {
    macx_agent_t *agent;
    uint64_t sent, answered, nacks;
    macx_hist_t *ack_hist;     /* the publisher's: post -> ACK */
    char *stats;               /* the broker's counters at the end (JSON) */
} s_macx_t;

static macx_agent_t *
s_macx_agent (s_run_t *run, const char *agency, int credit)
{
    macx_agent_config_t cfg;
    macx_agent_config_defaults (&cfg);
    snprintf (cfg.keys_dir, sizeof cfg.keys_dir, "%s", run->keys);
    snprintf (cfg.agency, sizeof cfg.agency, "%s", agency);
    snprintf (cfg.broker, sizeof cfg.broker, "tcp://127.0.0.1:%d", run->port);
    if (credit)
        cfg.credit = credit;
    cfg.batch_max = run->batch;
    if (run->batch_ms >= 0)
        cfg.batch_ms = run->batch_ms;
    macx_error_t err = { 0 };
    macx_agent_t *a = macx_agent_new (&cfg, &err);
    if (!a)
        fprintf (stderr, "peer_bench: macx agent %s: %s\n", agency, macx_error_text (&err));
    return a;
}

/* Takes ACKs and NACKs: waits up to wait_ms for the first. */
static void
s_macx_pump (s_macx_t *m, int wait_ms)
{
    macx_agent_event_t ev;
    while (macx_agent_next (m->agent, wait_ms, &ev, NULL) == 0) {
        if (ev.kind == MACX_AGENT_ACK || ev.kind == MACX_AGENT_NACK) {
            m->answered++;
            m->nacks += ev.kind == MACX_AGENT_NACK;
            uint64_t t = (uint64_t) (uintptr_t) ev.user, now = macx_clock_mono_ns ();
            if (m->ack_hist && ev.kind == MACX_AGENT_ACK)
                macx_hist_add (m->ack_hist, now > t ? (now - t) / 1000 : 0);
        }
        else if (ev.kind == MACX_AGENT_STATS && ev.stats_json && !m->stats)
            m->stats = strdup (ev.stats_json);
        macx_agent_done (m->agent, &ev);
        wait_ms = 0;
    }
}

static int
s_macx_setup (s_run_t *run)
{
    if (!run->keys) {
        fprintf (stderr, "peer_bench: --system macx needs --keys DIR\n");
        return -1;
    }
    s_macx_t *m = run->pub = calloc (1, sizeof *m);
    if (!m || !(m->agent = s_macx_agent (run, S_SENDER, 0)))
        return -1;
    m->ack_hist = &run->ack_hist;
    macx_hist_reset (&run->ack_hist);
    for (int i = 0; i < 100 && !macx_agent_connected (m->agent); i++)
        s_macx_pump (m, 20);
    return 0;
}

static void *
s_macx_consume (void *arg)
{
    s_run_t *run = arg;
    s_macx_t *m = run->con = calloc (1, sizeof *m);
    if (!m || !(m->agent = s_macx_agent (run, S_RECEIVER, 1024))) {
        run->stop = 1;
        return NULL;
    }
    uint64_t connected_by = macx_clock_mono_ns () + 5000000000ull;
    while (!macx_agent_connected (m->agent) && macx_clock_mono_ns () < connected_by) {
        macx_agent_event_t ev;
        if (macx_agent_next (m->agent, 20, &ev, NULL) == 0)
            macx_agent_done (m->agent, &ev);
    }
    usleep (100000);   /* said hello */
    run->ready = 1;
    while (s_running (run)) {
        macx_agent_event_t ev;
        if (macx_agent_next (m->agent, 100, &ev, NULL) != 0)
            continue;
        if (ev.kind == MACX_AGENT_RECORD)
            s_stamp (run, s_field_t (macx_record_payload (ev.record)));
        else if (ev.kind == MACX_AGENT_ERROR)
            run->errors++;
        macx_agent_done (m->agent, &ev);
    }
    macx_agent_flush (m->agent);
    return NULL;
}

static int
s_macx_publish (s_run_t *run, uint64_t t)
{
    s_macx_t *m = run->pub;
    while (m->sent - m->answered >= (uint64_t) run->window && !run->stop)
        s_macx_pump (m, 50);
    s_payload_t p;
    s_payload_init (&p, t);
    Macx__Header h = MACX__HEADER__INIT;
    char *to[1] = { S_RECEIVER };
    h.recipients = to;
    h.n_recipients = 1;
    h.subject = "SYN-BENCH";
    h.case_id = "BENCH";
    /* The first record opens the case (identification); the rest are
     * shares, judged against the case context the broker keeps
     * (docs/policy.md "Case context"), as a pilot's records are. */
    h.phase = m->sent ? MACX__PHASE__SHARING : MACX__PHASE__IDENTIFICATION;
    h.case_phase = h.phase;
    h.record_type = "bench_note";
    h.purpose = "bench";
    h.manifest = p.ep;
    h.n_manifest = 2;
    macx_error_t err = { 0 };
    if (macx_agent_post (m->agent, &h, &p.payload, (void *) (uintptr_t) t, &err)) {
        fprintf (stderr, "peer_bench: macx post: %s\n", macx_error_text (&err));
        return -1;
    }
    m->sent++;
    s_macx_pump (m, 0);
    return 0;
}

/* The number at "object":{..."key":N...} in a broker's counters, or -1. */
static double
s_json_num (const char *json, const char *object, const char *key)
{
    char pat[64];
    snprintf (pat, sizeof pat, "\"%s\":{", object);
    const char *o = json ? strstr (json, pat) : NULL;
    if (!o)
        return -1;
    const char *end = strchr (o, '}');
    snprintf (pat, sizeof pat, "\"%s\":", key);
    const char *k = strstr (o, pat);
    return k && end && k < end ? strtod (k + strlen (pat), NULL) : -1;
}

static int
s_macx_drain (s_run_t *run)
{
    s_macx_t *m = run->pub;
    uint64_t end = macx_clock_mono_ns () + 60000000000ull;
    while (m->answered < m->sent && macx_clock_mono_ns () < end)
        s_macx_pump (m, 50);
    if (m->nacks)
        fprintf (stderr, "peer_bench: macx: %" PRIu64 " records refused\n", m->nacks);
    /* The broker's side of the breakdown: its commits and their disk part
     * (run.sh gives each macx run a broker of its own). */
    macx_agent_request_stats (m->agent);
    for (int i = 0; i < 40 && !m->stats; i++)
        s_macx_pump (m, 50);
    double commit50 = s_json_num (m->stats, "commit_us", "p50");
    double commit99 = s_json_num (m->stats, "commit_us", "p99");
    double sync50 = s_json_num (m->stats, "sync_us", "p50");
    double sync99 = s_json_num (m->stats, "sync_us", "p99");
    double batch = s_json_num (m->stats, "batch_size", "mean");
    snprintf (run->extra, sizeof run->extra, " ack_p50_us=%" PRIu64 " ack_p99_us=%" PRIu64
              " commit_p50_us=%.0f commit_p99_us=%.0f sync_p50_us=%.0f sync_p99_us=%.0f"
              " records_per_commit=%.1f", macx_hist_quantile (&run->ack_hist, 0.5),
              macx_hist_quantile (&run->ack_hist, 0.99), commit50, commit99, sync50, sync99, batch);
    return m->answered == m->sent && m->nacks == 0 ? 0 : -1;
}

static void
s_macx_teardown (s_run_t *run)
{
    s_macx_t *c = run->con, *p = run->pub;
    if (c)
        macx_agent_destroy (&c->agent);
    if (p)
        macx_agent_destroy (&p->agent);
    if (c)
        free (c->stats);
    if (p)
        free (p->stats);
    free (c);
    free (p);
}

static const s_system_t s_systems[] = {
    { "nats", s_nats_setup, s_nats_consume, s_nats_publish, s_nats_drain, s_nats_teardown },
    { "rabbitmq", s_amqp_setup, s_amqp_consume, s_amqp_publish, s_amqp_drain, s_amqp_teardown },
    { "mosquitto", s_mqtt_setup, s_mqtt_consume, s_mqtt_publish, s_mqtt_drain, s_mqtt_teardown },
    { "macx", s_macx_setup, s_macx_consume, s_macx_publish, s_macx_drain, s_macx_teardown },
};

/* ---- the run ---------------------------------------------------------------- */

static int
s_run (const s_system_t *sys, s_run_t *run)
{
    macx_hist_reset (&run->hist);
    run->deadline_ns = macx_clock_mono_ns () + 180000000000ull;
    if (sys->setup (run)) {
        sys->teardown (run);
        return -1;
    }
    pthread_t con;
    pthread_create (&con, NULL, sys->consume, run);
    while (!run->ready && !run->stop && macx_clock_mono_ns () < run->deadline_ns)
        usleep (1000);
    int rc = run->stop ? -1 : 0;
    run->t0 = macx_clock_mono_ns ();
    for (uint64_t i = 0; rc == 0 && i < run->records && !run->stop; i++) {
        if (run->rate > 0) {
            uint64_t due = run->t0 + (uint64_t) ((double) i * 1e9 / run->rate), now;
            while ((now = macx_clock_mono_ns ()) < due) {
                struct timespec ts = { 0, (long) (due - now) };
                nanosleep (&ts, NULL);
            }
        }
        rc = sys->publish (run, macx_clock_mono_ns ());
    }
    if (rc == 0)
        rc = sys->drain (run);
    if (rc)
        run->stop = 1;
    pthread_join (con, NULL);
    sys->teardown (run);
    return rc == 0 && run->received == run->records ? 0 : -1;
}

/* The CPU probe: Ed25519 verifies (about a second) and signs (half a
 * second) per second on every core at once, and from them the crypto
 * ceiling of per-record signatures: the rate at which all cores do one sign
 * and two verifies (the broker's and the recipient's) per record. */
typedef struct {
    uint64_t verifies, signs;
} s_probe_t;

static void *
s_probe_thread (void *arg)
{
    s_probe_t *p = arg;
    uint8_t pk[32], sk[64], sig[64], msg[64] = { 1 };
    crypto_sign_keypair (pk, sk);
    crypto_sign_detached (sig, NULL, msg, sizeof msg, sk);
    uint64_t end = macx_clock_mono_ns () + 1000000000ull, n = 0;
    while (macx_clock_mono_ns () < end)
        for (int i = 0; i < 64; i++, n++)
            if (crypto_sign_verify_detached (sig, msg, sizeof msg, pk) != 0)
                abort ();
    p->verifies = n;
    end = macx_clock_mono_ns () + 500000000ull;
    n = 0;
    while (macx_clock_mono_ns () < end)
        for (int i = 0; i < 64; i++, n++)
            crypto_sign_detached (sig, NULL, msg, sizeof msg, sk);
    p->signs = 2 * n;
    return NULL;
}

static int
s_probe (void)
{
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    int n = cores < 1 ? 1 : cores > 16 ? 16 : (int) cores;
    pthread_t t[16];
    s_probe_t counts[16];
    uint64_t verifies = 0, signs = 0;
    for (int i = 0; i < n; i++)
        pthread_create (&t[i], NULL, s_probe_thread, &counts[i]);
    for (int i = 0; i < n; i++) {
        pthread_join (t[i], NULL);
        verifies += counts[i].verifies;
        signs += counts[i].signs;
    }
    double ceiling = verifies && signs ? 1.0 / (1.0 / (double) signs + 2.0 / (double) verifies) : 0;
    printf ("probe cores=%d verify_per_s=%" PRIu64 " sign_per_s=%" PRIu64
            " ceiling_per_record=%.0f\n", n, verifies, signs, ceiling);
    return 0;
}

static int
s_usage (FILE *f, int code)
{
    fprintf (f, "usage: peer_bench --system nats|rabbitmq|mosquitto|macx --port P\n"
                "                  [--records N] [--rate R] [--window W] [--envelope] [--keys DIR]\n"
                "                  [--batch N] [--batch-ms MS]\n"
                "       peer_bench --probe\n\n"
                "One publisher and one consumer of 1 KiB records, durable and acknowledged,\n"
                "through the server on 127.0.0.1:P. --rate 0 (default) publishes as fast as\n"
                "the window of unconfirmed records allows. --envelope seals each record with\n"
                "macx's record library and opens it at the consumer. --batch N (macx only):\n"
                "the sender signs batches of up to N records, or what it sent within\n"
                "--batch-ms (default 2). Prints one line:\n"
                "system= envelope= records= received= rate= p50_us= p99_us= max_us= errors=\n"
                "and for macx the latency breakdown: ack_p50_us= ack_p99_us= (post -> ACK at\n"
                "the sender) commit_p50_us= commit_p99_us= (the broker's transactions)\n"
                "sync_p50_us= sync_p99_us= (their disk part) records_per_commit=\n");
    return code;
}

int
main (int argc, char **argv)
{
    static const struct option opts[] = {
        { "system", required_argument, NULL, 's' }, { "port", required_argument, NULL, 'p' },
        { "records", required_argument, NULL, 'n' }, { "rate", required_argument, NULL, 'r' },
        { "window", required_argument, NULL, 'w' }, { "envelope", no_argument, NULL, 'e' },
        { "keys", required_argument, NULL, 'k' },   { "probe", no_argument, NULL, 'P' },
        { "batch", required_argument, NULL, 'b' },  { "batch-ms", required_argument, NULL, 'B' },
        { "help", no_argument, NULL, 'h' },         { 0 }
    };
    static s_run_t run;
    run.records = 20000;
    run.window = 1000;
    run.batch_ms = -1;
    const char *system_name = NULL;
    bool probe = false;
    int c;
    while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1)
        switch (c) {
        case 's': system_name = optarg; break;
        case 'p': run.port = atoi (optarg); break;
        case 'n': run.records = strtoull (optarg, NULL, 10); break;
        case 'r': run.rate = strtod (optarg, NULL); break;
        case 'w': run.window = atoi (optarg); break;
        case 'e': run.envelope = true; break;
        case 'k': run.keys = optarg; break;
        case 'b': run.batch = atoi (optarg); break;
        case 'B': run.batch_ms = atoi (optarg); break;
        case 'P': probe = true; break;
        case 'h': return s_usage (stdout, 0);
        default: return s_usage (stderr, 64);
        }
    if (sodium_init () < 0)
        return 70;
    if (probe)
        return s_probe ();
    const s_system_t *sys = NULL;
    for (size_t i = 0; system_name && i < sizeof s_systems / sizeof s_systems[0]; i++)
        if (strcmp (s_systems[i].name, system_name) == 0)
            sys = &s_systems[i];
    if (!sys || run.port <= 0 || run.port > 65535 || run.records == 0 || run.window <= 0)
        return s_usage (stderr, 64);
    macx_log_set_level (MACX_LOG_WARN);
    if (run.envelope && strcmp (sys->name, "macx") != 0 && s_envelope_init ())
        return 70;
    mosquitto_lib_init ();
    int rc = s_run (sys, &run);
    mosquitto_lib_cleanup ();
    nats_Close ();
    uint64_t span = run.t_last > run.t0 ? run.t_last - run.t0 : 1;
    printf ("system=%s envelope=%d records=%" PRIu64 " received=%" PRIu64 " rate=%.0f"
            " p50_us=%" PRIu64 " p99_us=%" PRIu64 " max_us=%" PRIu64 " errors=%" PRIu64 "%s\n",
            sys->name, run.envelope || strcmp (sys->name, "macx") == 0, run.records, run.received,
            (double) run.received / ((double) span / 1e9), macx_hist_quantile (&run.hist, 0.5),
            macx_hist_quantile (&run.hist, 0.99), run.hist.max, run.errors, run.extra);
    macx_identity_destroy (&s_sealer);
    macx_identity_destroy (&s_opener);
    macx_registry_destroy (&s_registry);
    return rc == 0 ? 0 : 1;
}
