/* cmd_send.c -- `macx send`, `macx recv` and `macx status`: try a broker by
 * hand, like `nats pub` / `nats sub`. Parsing and printing only. */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "cli.h"
#include "clock.h"
#include "file.h"
#include "json.h"
#include "log.h"
#include "names.h"

/* Options every client command shares. */
typedef struct {
    macx_agent_config_t agent;
    int timeout_s;
    int json;
} s_client_t;

enum { OPT_KEYS = 1000, OPT_AS, OPT_BROKER, OPT_STATE, OPT_TIMEOUT, OPT_JSON, OPT_BROKER_ID };

#define S_CLIENT_OPTIONS                                                  \
    { "keys", required_argument, NULL, OPT_KEYS },                        \
    { "as", required_argument, NULL, OPT_AS },                            \
    { "broker", required_argument, NULL, OPT_BROKER },                    \
    { "broker-id", required_argument, NULL, OPT_BROKER_ID },              \
    { "state", required_argument, NULL, OPT_STATE },                      \
    { "timeout", required_argument, NULL, OPT_TIMEOUT },                  \
    { "json", no_argument, NULL, OPT_JSON }

/* The client options' part of every help page. */
#define S_CLIENT_HELP(timeout)                                                                 \
    "Client options:\n"                                                                        \
    "  --keys DIR          the key directory holding AGENCY's secret keys\n"                   \
    "  --as AGENCY         the agency to act as\n"                                             \
    "  --broker ENDPOINT   the broker (default tcp://127.0.0.1:7750)\n"                        \
    "  --broker-id ID      the broker's identity in DIR (default broker)\n"                    \
    "  --timeout S         give up after S seconds without an answer (default " #timeout ");\n"  \
    "                      a broker that cannot be reached by then is named, exit 69\n"      \
    "  --json              machine-readable output\n"

/* Applies c if it is a client option: returns 1 if it was, 0 if not, or
 * 64 after a usage error (*code set). */
static int
s_client_opt (const macx_cmd_t *self, s_client_t *cl, int c, const char *arg, int *code)
{
    switch (c) {
    case OPT_KEYS: snprintf (cl->agent.keys_dir, sizeof cl->agent.keys_dir, "%s", arg); return 1;
    case OPT_AS: snprintf (cl->agent.agency, sizeof cl->agent.agency, "%s", arg); return 1;
    case OPT_BROKER: snprintf (cl->agent.broker, sizeof cl->agent.broker, "%s", arg); return 1;
    case OPT_BROKER_ID:
        snprintf (cl->agent.broker_id, sizeof cl->agent.broker_id, "%s", arg);
        return 1;
    case OPT_STATE: snprintf (cl->agent.state_dir, sizeof cl->agent.state_dir, "%s", arg); return 1;
    case OPT_TIMEOUT: {
        long long v;
        if ((*code = macx_cli_long (self, "timeout", arg, 0, 86400, &v)) >= 0)
            return 1;
        cl->timeout_s = (int) v;
        return 1;
    }
    case OPT_JSON: cl->json = 1; return 1;
    default: return 0;
    }
}

static void
s_client_init (s_client_t *cl, int timeout_s)
{
    memset (cl, 0, sizeof *cl);
    macx_agent_config_defaults (&cl->agent);
    cl->timeout_s = timeout_s;
}

static macx_agent_t *
s_connect (const macx_cmd_t *self, s_client_t *cl, int *exit_code)
{
    const char *cmd = self->name;
    if (!cl->agent.keys_dir[0] || !cl->agent.agency[0]) {
        *exit_code = macx_cli_usage (self, "%s is required", cl->agent.keys_dir[0] ? "--as AGENCY"
                                                                                : "--keys DIR");
        return NULL;
    }
    if ((*exit_code = macx_cli_endpoint (self, cl->agent.broker)) >= 0)
        return NULL;
    *exit_code = MACX_EX_OK;
    macx_harden_process ();
    macx_log_set_level (MACX_LOG_WARN);
    macx_error_t err = { 0 };
    macx_agent_t *agent = macx_agent_new (&cl->agent, &err);
    if (!agent) {
        fprintf (stderr, "macx %s: %s\n", cmd, macx_error_text (&err));
        *exit_code = macx_exit_code (err.code);
    }
    return agent;
}

/* The one sentence for a broker that did not answer: whether it was never
 * reached or reached and silent. Returns 69. */
static int
s_unreachable (const macx_cmd_t *self, macx_agent_t *agent, const s_client_t *cl)
{
    if (macx_agent_connected (agent))
        fprintf (stderr, "macx %s: the broker at %s did not answer within %d s\n", self->name,
                 cl->agent.broker, cl->timeout_s);
    else
        fprintf (stderr, "macx %s: cannot reach the broker at %s: no answer within %d s (is it "
                 "running? --broker names another)\n", self->name, cl->agent.broker,
                 cl->timeout_s);
    return MACX_EX_UNAVAILABLE;
}

static int
s_wait_error (const macx_cmd_t *self, macx_agent_t *agent, const s_client_t *cl,
              const macx_error_t *err)
{
    if (err->code == MACX_ETIMEOUT)
        return s_unreachable (self, agent, cl);
    fprintf (stderr, "macx %s: %s\n", self->name, macx_error_text (err));
    return err->code == MACX_EDENIED ? MACX_EX_UNAVAILABLE : macx_exit_code (err->code);
}

/* ---- send ------------------------------------------------------------------- */

/* The broker's signed answer as one JSON object a user can save and give
 * to `macx audit prove` (docs/audit.md); an answer the agent runtime made
 * itself, or one without a proof, is printed with "unsigned": why. */
static void
s_answer_json (FILE *out, const macx_agent_event_t *ev, const char *hex)
{
    if (ev->answer) {
        macx_answer_print_json (out, ev->answer);
        fputc ('\n', out);
        return;
    }
    fprintf (out, "{\"result\":\"%s\",\"record_id\":\"%s\",\"audit_seq\":%llu",
             ev->kind == MACX_AGENT_ACK ? "ack" : "nack", hex, (unsigned long long) ev->audit_seq);
    if (ev->kind == MACX_AGENT_NACK)
        fprintf (out, ",\"reason\":\"%s\"", macx_reason_name (ev->reason));
    fprintf (out, ",\"unsigned\":");
    macx_json_str (out, ev->answer_error[0] ? ev->answer_error
                                            : "the answer was made by the agent runtime");
    fprintf (out, "}\n");
}

/* With --json: the answer on stdout, checked with the broker's key (a
 * failure is named on stderr; the answer is printed all the same). */
static void
s_print_answer (macx_agent_t *agent, const s_client_t *cl, const macx_agent_event_t *ev,
                const char *hex)
{
    s_answer_json (stdout, ev, hex);
    const macx_agency_t *broker = macx_registry_find (macx_agent_registry (agent),
                                                      cl->agent.broker_id);
    macx_error_t err = { 0 };
    if (!ev->answer)
        fprintf (stderr, "macx send: warning: the broker's answer is not signed: %s\n",
                 ev->answer_error[0] ? ev->answer_error : "made by the agent runtime");
    else if (!broker)
        fprintf (stderr, "macx send: warning: no agency '%s' in %s: the answer's signature is "
                 "not checked\n", cl->agent.broker_id, cl->agent.keys_dir);
    else if (macx_answer_verify (ev->answer, broker, &err))
        fprintf (stderr, "macx send: warning: the broker's answer does not verify: %s\n",
                 macx_error_text (&err));
}

/* --raw FILE: sends a record sealed elsewhere (`macx record seal`) byte for
 * byte and reports the broker's answer as it is (a REPLAY is a refusal). */
static int
s_send_raw (macx_agent_t *agent, const char *path, const s_client_t *cl)
{
    char *data = NULL;
    size_t len = 0;
    macx_error_t err = { 0 };
    if (macx_file_read (path, MACX_RECORD_MAX + 4096, &data, &len, &err)
        || macx_agent_post_raw (agent, (const uint8_t *) data, len, NULL, &err)) {
        free (data);
        fprintf (stderr, "macx send: %s: %s\n", path, macx_error_text (&err));
        return err.code == MACX_ENOTFOUND ? MACX_EX_NOINPUT : MACX_EX_DATAERR;
    }
    free (data);
    int64_t deadline = macx_clock_wall_ms () + (int64_t) cl->timeout_s * 1000;
    for (;;) {
        int64_t left = deadline - macx_clock_wall_ms ();
        macx_agent_event_t ev = { 0 };
        int rc = macx_agent_next (agent, left > 0 ? (int) left : 0, &ev, &err);
        if (rc)
            return s_wait_error (&macx_cmd_send, agent, cl, &err);
        if (ev.kind == MACX_AGENT_ACK || ev.kind == MACX_AGENT_NACK) {
            char hex[2 * MACX_RECORD_ID_BYTES + 1];
            macx_hex_encode (ev.record_id, MACX_RECORD_ID_BYTES, hex);
            int code = MACX_EX_OK;
            if (ev.kind == MACX_AGENT_ACK) {
                if (!cl->json)
                    printf ("accepted record %s (audit entry %llu)\n", hex,
                            (unsigned long long) ev.audit_seq);
            }
            else {
                fprintf (stderr, "macx send: refused %s: %s: %s\n", hex,
                         macx_reason_name (ev.reason), ev.message);
                code = MACX_EX_FAIL;
            }
            if (cl->json)
                s_print_answer (agent, cl, &ev, hex);
            macx_agent_done (agent, &ev);
            return code;
        }
        macx_agent_done (agent, &ev);
    }
}

/* --repeat N: posts N records (each sealed with its own id and sequence),
 * keeping at most S_WINDOW unanswered (and at most rate per second, if
 * rate > 0), and waits for every answer; gives up
 * after --timeout seconds without one. The agent re-sends what is not
 * answered across reconnects. Exits 0 only if all N were ACKed. */
#define S_WINDOW 1000

static int
s_send_repeat (macx_agent_t *agent, Macx__Header *h, const Macx__Payload *payload, long n,
               long rate, const char *acked_path, const char *answers_path, const s_client_t *cl)
{
    FILE *acked = NULL, *answers = NULL;
    if (acked_path && !(acked = fopen (acked_path, "w"))) {
        perror (acked_path);
        return MACX_EX_IOERR;
    }
    if (answers_path && !(answers = fopen (answers_path, "w"))) {
        perror (answers_path);
        if (acked)
            fclose (acked);
        return MACX_EX_IOERR;
    }
    macx_error_t err = { 0 };
    long posted = 0, acks = 0, nacks = 0;
    int code = MACX_EX_OK;
    int64_t idle_ms = (int64_t) (cl->timeout_s > 0 ? cl->timeout_s : 10) * 1000;
    int64_t start = macx_clock_wall_ms (), last_answer = start;
    while (acks + nacks < n) {
        long allowed = rate > 0 ? (long) ((macx_clock_wall_ms () - start) * rate / 1000) + 1 : n;
        while (posted < n && posted < allowed && posted - acks - nacks < S_WINDOW) {
            if (macx_agent_post (agent, h, payload, NULL, &err)) {
                fprintf (stderr, "macx send: %s\n", macx_error_text (&err));
                code = macx_exit_code (err.code);
                goto done;
            }
            posted++;
        }
        macx_agent_event_t ev = { 0 };
        int rc = macx_agent_next (agent, rate > 0 && posted < n ? 5 : 100, &ev, &err);
        if (rc == MACX_ETIMEOUT) {
            if (macx_clock_wall_ms () - last_answer >= idle_ms)
                break;
            continue;
        }
        if (rc) {
            code = s_wait_error (&macx_cmd_send, agent, cl, &err);
            goto done;
        }
        char hex[2 * MACX_RECORD_ID_BYTES + 1];
        macx_hex_encode (ev.record_id, MACX_RECORD_ID_BYTES, hex);
        if (ev.kind == MACX_AGENT_ACK) {
            acks++;
            if (acked)
                fprintf (acked, "%s\n", hex);
        }
        else if (ev.kind == MACX_AGENT_NACK) {
            if (nacks++ < 10)
                fprintf (stderr, "macx send: refused %s: %s: %s\n", hex,
                         macx_reason_name (ev.reason), ev.message);
        }
        if (ev.kind == MACX_AGENT_ACK || ev.kind == MACX_AGENT_NACK) {
            last_answer = macx_clock_wall_ms ();
            if (answers)
                s_answer_json (answers, &ev, hex);
        }
        macx_agent_done (agent, &ev);
    }
    long unanswered = n - acks - nacks;
    if (acks + nacks == 0 && unanswered) {
        code = s_unreachable (&macx_cmd_send, agent, cl);
        goto done;
    }
    if (cl->json)
        printf ("{\"records\":%ld,\"acked\":%ld,\"refused\":%ld,\"unanswered\":%ld}\n", n,
                acks, nacks, unanswered);
    else
        printf ("%ld records: %ld accepted, %ld refused, %ld unanswered\n", n, acks, nacks,
                unanswered);
    if (acks != n)
        code = MACX_EX_FAIL;
done:
    if (acked && fclose (acked) != 0) {
        perror (acked_path);
        code = MACX_EX_IOERR;
    }
    if (answers && fclose (answers) != 0) {
        perror (answers_path);
        code = MACX_EX_IOERR;
    }
    return code;
}

/* --origin A --origin-type T [--origin-consent]: the record passes on what A
 * sent (docs/policy.md "Case context"). Returns -1 when they go together, or
 * 64 after naming what is missing. */
static int
s_origin_check (const macx_cmd_t *self, const char *origin, const char *type, bool consent)
{
    if (origin && !type)
        return macx_cli_usage (self, "--origin needs --origin-type (the record type %s sent)",
                               origin);
    if (!origin && (type || consent))
        return macx_cli_usage (self, "%s needs --origin AGENCY", type ? "--origin-type"
                                                                       : "--origin-consent");
    return -1;
}

static const struct option s_send_opts[] = {
    S_CLIENT_OPTIONS, MACX_CLI_RECORD_OPTIONS,
    { "sim-day", required_argument, NULL, 'D' },
    { "raw", required_argument, NULL, 'R' },     { "repeat", required_argument, NULL, 'N' },
    { "acked", required_argument, NULL, 'A' },   { "rate", required_argument, NULL, 'r' },
    { "answers", required_argument, NULL, 'S' },
    { "batch", required_argument, NULL, 'b' },   { "batch-ms", required_argument, NULL, 'W' },
    { "origin", required_argument, NULL, 'O' },  { "origin-type", required_argument, NULL, 'Y' },
    { "origin-consent", no_argument, NULL, 'K' },
    { 0 }
};

static int
s_send (const macx_cmd_t *self, int argc, char **argv)
{
    s_client_t cl;
    s_client_init (&cl, 10);
    const char *raw = NULL, *acked = NULL, *answers = NULL, *origin = NULL, *origin_type = NULL;
    bool origin_consent = false;
    long long repeat = 0, rate = 0, batch = 0, batch_ms = -1;
    int32_t sim_day = 0;
    macx_cli_record_t *r = calloc (1, sizeof *r);
    if (!r)
        return MACX_EX_SOFTWARE;
    macx_error_t err = { 0 };
    int c, bad = -1;
    while (bad < 0 && (c = macx_cli_getopt (self, argc, argv)) != -1) {
        if (s_client_opt (self, &cl, c, optarg, &bad) || macx_cli_record_opt (self, r, c, optarg, &bad))
            continue;
        switch (c) {
        case 'R': raw = optarg; break;
        case 'A': acked = optarg; break;
        case 'S': answers = optarg; break;
        case 'N': bad = macx_cli_long (self, "repeat", optarg, 1, 100000000, &repeat); break;
        case 'r': bad = macx_cli_long (self, "rate", optarg, 1, 10000000, &rate); break;
        case 'b': bad = macx_cli_long (self, "batch", optarg, 1, MACX_BATCH_MAX, &batch); break;
        case 'W': bad = macx_cli_long (self, "batch-ms", optarg, 0, 10000, &batch_ms); break;
        case 'O': origin = optarg; break;
        case 'Y': origin_type = optarg; break;
        case 'K': origin_consent = true; break;
        case 'D':
            if (macx_date_parse (optarg, &sim_day))
                bad = macx_cli_usage (self, "--sim-day must be a date YYYY-MM-DD, not '%s'", optarg);
            break;
        }
    }
    if (bad < 0)
        bad = macx_cli_args (self, argc, argv, "");
    if (bad < 0 && raw && (macx_cli_record_any (r) || repeat || acked || answers || rate || batch
                           || batch_ms >= 0 || origin || origin_type || origin_consent))
        bad = macx_cli_usage (self, "--raw sends a sealed record as it is: it takes no record "
                              "options");
    if (bad < 0 && !raw && (acked || answers || rate || batch || batch_ms >= 0) && !repeat)
        bad = macx_cli_usage (self, "%s needs --repeat", acked ? "--acked" : answers ? "--answers"
                              : rate ? "--rate" : batch ? "--batch" : "--batch-ms");
    if (bad < 0 && batch_ms >= 0 && batch < 2)
        bad = macx_cli_usage (self, "--batch-ms needs --batch N (N of at least 2)");
    if (bad < 0 && !raw)
        bad = s_origin_check (self, origin, origin_type, origin_consent);
    cl.agent.batch_max = (int) batch;
    if (batch_ms >= 0)
        cl.agent.batch_ms = (int) batch_ms;
    if (bad < 0 && !raw)
        bad = macx_cli_record_check (self, r, "--raw FILE");
    if (bad >= 0) {
        free (r);
        return bad;
    }
    if (raw) {
        free (r);
        int exit_code = MACX_EX_OK;
        macx_agent_t *agent = s_connect (self, &cl, &exit_code);
        if (!agent)
            return exit_code;
        exit_code = s_send_raw (agent, raw, &cl);
        macx_agent_destroy (&agent);
        return exit_code;
    }

    int exit_code = MACX_EX_OK;
    macx_agent_t *agent = s_connect (self, &cl, &exit_code);
    if (!agent) {
        free (r);
        return exit_code;
    }
    Macx__Payload *payload = NULL;
    Macx__FieldEntry **manifest = NULL;
    size_t nmanifest = 0;
    int rc = macx_record_build (r->type, r->fields, r->nfields, &payload, &manifest, &nmanifest,
                                &err);
    macx_agent_event_t ev = { 0 };
    if (rc == MACX_OK) {
        Macx__Header h = MACX__HEADER__INIT;
        macx_cli_record_header (r, &h);
        h.manifest = manifest;
        h.n_manifest = nmanifest;
        h.sim_day = sim_day;
        h.origin = (char *) (origin ? origin : "");
        h.origin_record_type = (char *) (origin_type ? origin_type : "");
        h.origin_consent = origin_consent;
        if (repeat) {
            exit_code = s_send_repeat (agent, &h, payload, (long) repeat, (long) rate, acked,
                                       answers, &cl);
            macx_record_build_free (&payload, &manifest, nmanifest);
            macx_agent_destroy (&agent);
            free (r);
            return exit_code;
        }
        rc = macx_agent_send (agent, &h, payload, cl.timeout_s * 1000, &ev, &err);
    }
    char hex[2 * MACX_RECORD_ID_BYTES + 1];
    if (rc)
        exit_code = s_wait_error (self, agent, &cl, &err);
    else if (ev.kind == MACX_AGENT_ACK) {
        macx_hex_encode (ev.record_id, MACX_RECORD_ID_BYTES, hex);
        if (cl.json)
            s_print_answer (agent, &cl, &ev, hex);
        else
            printf ("accepted record %s (audit entry %llu)\n", hex,
                    (unsigned long long) ev.audit_seq);
    }
    else {
        macx_hex_encode (ev.record_id, MACX_RECORD_ID_BYTES, hex);
        char where[300] = "";
        if (ev.agreement[0])
            snprintf (where, sizeof where, " (agreement %s%s%s)", ev.agreement,
                      ev.flow[0] ? ", flow " : "", ev.flow);
        fprintf (stderr, "macx send: refused %s: %s: %s%s\n", hex, macx_reason_name (ev.reason),
                 ev.message, where);
        if (cl.json)
            s_print_answer (agent, &cl, &ev, hex);
        exit_code = MACX_EX_FAIL;
    }
    macx_agent_done (agent, &ev);
    macx_record_build_free (&payload, &manifest, nmanifest);
    macx_agent_destroy (&agent);
    free (r);
    return exit_code;
}

/* ---- recv ------------------------------------------------------------------- */

static volatile sig_atomic_t s_stop;
static void s_on_signal (int sig) { (void) sig; s_stop = 1; }

/* A record received, with the terms our copy is held under (recv keeps no
 * copy: these are for whoever keeps what it prints). */
static void
s_print_received (const macx_agent_event_t *ev, bool json)
{
    const macx_agent_terms_t *t = &ev->terms;
    char when[24];
    if (!json) {
        macx_record_print (stdout, ev->record, 0);
        if (!t->agreement[0])
            printf ("retention   none stated (no agreement named with the delivery)\n");
        else if (!t->expires_ms)
            printf ("retention   %s/%s states no retention\n", t->agreement, t->flow);
        else
            printf ("retention   %s/%s: %s on %s (%d days)\n", t->agreement, t->flow,
                    t->on_expiry, macx_time_format (t->expires_ms, when), t->retention_days);
        return;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream (&buf, &len);
    if (!m)
        return;
    macx_record_print (m, ev->record, 1);
    fclose (m);
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '}'))   /* reopen the object */
        if (buf[--len] == '}')
            break;
    fwrite (buf, 1, len, stdout);
    free (buf);
    printf (",\"terms\":{\"agreement\":");
    macx_json_str (stdout, t->agreement);
    printf (",\"flow\":");
    macx_json_str (stdout, t->flow);
    printf (",\"retention_days\":%d,\"expires_ms\":%" PRId64 ",\"expires\":\"%s\","
            "\"on_expiry\":", t->retention_days, t->expires_ms,
            t->expires_ms ? macx_time_format (t->expires_ms, when) : "");
    macx_json_str (stdout, t->on_expiry);
    printf ("}}\n");
}

static const struct option s_recv_opts[] = {
    S_CLIENT_OPTIONS, { "count", required_argument, NULL, 'n' }, { 0 }
};

static int
s_recv (const macx_cmd_t *self, int argc, char **argv)
{
    s_client_t cl;
    s_client_init (&cl, 10);
    long long count = 0;
    int c, bad = -1;
    while (bad < 0 && (c = macx_cli_getopt (self, argc, argv)) != -1)
        if (!s_client_opt (self, &cl, c, optarg, &bad) && c == 'n')
            bad = macx_cli_long (self, "count", optarg, 0, LLONG_MAX, &count);
    if (bad >= 0 || (bad = macx_cli_args (self, argc, argv, "")) >= 0)
        return bad;
    int exit_code = MACX_EX_OK;
    macx_agent_t *agent = s_connect (self, &cl, &exit_code);
    if (!agent)
        return exit_code;
    struct sigaction sa = { 0 };
    sa.sa_handler = s_on_signal;
    sigaction (SIGTERM, &sa, NULL);
    sigaction (SIGINT, &sa, NULL);
    long long got = 0;
    bool reached = false;
    macx_error_t err = { 0 };
    int64_t idle_since = macx_clock_wall_ms ();
    while (!s_stop && (count == 0 || got < count)) {
        macx_agent_event_t ev = { 0 };
        int rc = macx_agent_next (agent, 100, &ev, &err);
        reached = reached || macx_agent_connected (agent);
        if (rc == MACX_ETIMEOUT) {
            if (cl.timeout_s > 0 && macx_clock_wall_ms () - idle_since >= cl.timeout_s * 1000LL) {
                if (!reached)
                    exit_code = s_unreachable (self, agent, &cl);
                break;
            }
            continue;
        }
        if (rc) {
            exit_code = s_wait_error (self, agent, &cl, &err);
            break;
        }
        idle_since = macx_clock_wall_ms ();
        if (ev.kind == MACX_AGENT_RECORD) {
            s_print_received (&ev, cl.json);
            if (!cl.json)
                fputc ('\n', stdout);
            fflush (stdout);   /* printed before it is marked seen and receipted */
            got++;
        }
        else if (ev.kind == MACX_AGENT_ERROR)
            fprintf (stderr, "macx recv: %s\n", ev.message);
        macx_agent_done (agent, &ev);
    }
    macx_agent_flush (agent);
    if (exit_code == MACX_EX_OK && count > 0 && got < count) {
        fprintf (stderr, "macx recv: received %lld of %lld records before the timeout\n", got,
                 count);
        exit_code = MACX_EX_FAIL;
    }
    macx_agent_destroy (&agent);
    return exit_code;
}

/* ---- status ----------------------------------------------------------------- */

static const struct option s_status_opts[] = { S_CLIENT_OPTIONS, { 0 } };

static int
s_status (const macx_cmd_t *self, int argc, char **argv)
{
    s_client_t cl;
    s_client_init (&cl, 5);
    int c, bad = -1;
    while (bad < 0 && (c = macx_cli_getopt (self, argc, argv)) != -1)
        s_client_opt (self, &cl, c, optarg, &bad);
    if (bad >= 0 || (bad = macx_cli_args (self, argc, argv, "")) >= 0)
        return bad;
    int exit_code = MACX_EX_OK;
    macx_agent_t *agent = s_connect (self, &cl, &exit_code);
    if (!agent)
        return exit_code;
    macx_error_t err = { 0 };
    int64_t deadline = macx_clock_wall_ms () + cl.timeout_s * 1000;
    bool asked = false;
    exit_code = MACX_EX_UNAVAILABLE;
    while (macx_clock_wall_ms () < deadline) {
        if (!asked && macx_agent_connected (agent))
            asked = macx_agent_request_stats (agent) == MACX_OK;
        macx_agent_event_t ev = { 0 };
        int rc = macx_agent_next (agent, 100, &ev, &err);
        if (rc == MACX_EDENIED) {
            exit_code = s_wait_error (self, agent, &cl, &err);
            break;
        }
        if (rc == 0 && ev.kind == MACX_AGENT_STATS) {
            if (cl.json)
                printf ("%s\n", ev.stats_json);
            else {   /* indent for reading */
                int depth = 0;
                bool in_str = false;
                for (const char *p = ev.stats_json; *p; p++) {
                    if (*p == '"' && (p == ev.stats_json || p[-1] != '\\'))
                        in_str = !in_str;
                    if (in_str) {
                        putchar (*p);
                        continue;
                    }
                    if (*p == '{') {
                        printf ("{\n%*s", 2 * ++depth, "");
                    }
                    else if (*p == '}')
                        printf ("\n%*s}", 2 * --depth, "");
                    else if (*p == ',')
                        printf (",\n%*s", 2 * depth, "");
                    else if (*p == ':')
                        printf (": ");
                    else
                        putchar (*p);
                }
                putchar ('\n');
            }
            exit_code = MACX_EX_OK;
            macx_agent_done (agent, &ev);
            break;
        }
        if (rc == 0)
            macx_agent_done (agent, &ev);
    }
    if (exit_code == MACX_EX_UNAVAILABLE && err.code != MACX_EDENIED)
        s_unreachable (self, agent, &cl);
    macx_agent_destroy (&agent);
    return exit_code;
}

/* ---- the table's entries ----------------------------------------------------- */

const macx_cmd_t macx_cmd_send = {
    .name = "send", .fn = s_send, .summary = "seal one record and send it through a broker",
    .opts = s_send_opts,
    .synopsis =
        "macx send --keys DIR --as AGENCY [--broker ENDPOINT]\n"
        "                 --to AGENCY[,AGENCY...] --type T --phase P --purpose U\n"
        "                 --case C --subject S [--case-phase P] [--legal-basis L]\n"
        "                 [--sim-day YYYY-MM-DD]\n"
        "                 [--origin A --origin-type T [--origin-consent]]\n"
        "                 [--field NAME[:TRANSFORM]=VALUE ...] [--timeout S] [--json]\n"
        "                 [--repeat N [--rate R] [--acked FILE] [--answers FILE]\n"
        "                             [--batch N [--batch-ms MS]]]\n"
        "       macx send --keys DIR --as AGENCY [--broker ENDPOINT] --raw FILE\n"
        "                 [--timeout S] [--json]",
    .description =
        "Seals one record as AGENCY and sends it to the broker, then waits for its\n"
        "answer. Prints the ACK; for a NACK prints the reason code and the broker's\n"
        "sentence on stderr and exits 1. Typed record types (case_file, share,\n"
        "enrichment, profile, panel_plan) take their payload fields by name; any other\n"
        "type carries NAME=VALUE pairs.\n\n"
        "With --json it prints the broker's signed answer, ACK or NACK, as one JSON\n"
        "object: save it, and `macx audit prove` checks it against the audit log\n"
        "(docs/audit.md). An answer that does not verify with the broker's key is\n"
        "named on stderr.\n\n"
        "--origin A --origin-type T marks the record as passing on what agency A sent\n"
        "as record type T (onward sharing; --origin-consent: A consented). The broker\n"
        "refuses it (ORIGIN_NOT_DELIVERED) unless it accepted such a record of A's for\n"
        "AGENCY in the same case, then judges it by the onward-sharing terms of the\n"
        "flows that delivered it (docs/policy.md, \"Case context\").\n\n"
        "--repeat N sends N such records (each its own record id), pipelined, at most\n"
        "R a second with --rate R, waits for every answer (giving up after S seconds\n"
        "without one) and prints how many were accepted, refused and unanswered;\n"
        "--acked FILE gets the id of each accepted record, one a line; --answers FILE\n"
        "gets each signed answer, one JSON object a line. It exits 0 only if all N\n"
        "were accepted. --batch N signs the records in batches (one Ed25519\n"
        "signature over a Merkle tree of up to N records, or of those sent within\n"
        "--batch-ms, default 2; each record still carries a proof of its own, see\n"
        "docs/protocol.md): several times the throughput for a sender that sends many.\n\n"
        "--raw FILE sends a record already sealed (by `macx record seal`) byte for byte\n"
        "over AGENCY's connection, e.g. to replay evidence; the broker's answer is\n"
        "reported as it is (a REPLAY is a refusal).\n\n"
        S_CLIENT_HELP (10),
    .examples =
        "# a case opens with identification: MI5's case file to CTP ...\n"
        "macx send --keys demo/keys --as mi5 --to ctp --type case_file \\\n"
        "    --phase identification --purpose mac_case_management --case C-1 --subject S-1 \\\n"
        "    --field subject_name=\"Ada Quill\" --field closure_category=closed\n"
        "# ... then it may be shared (the broker refuses a later phase before:\n"
        "# CASE_PHASE_NOT_REACHED, docs/policy.md \"Case context\")\n"
        "macx send --keys demo/keys --as mi5 --to la-london --type share \\\n"
        "    --phase sharing --purpose mac_case_management --case C-1 --subject S-1 \\\n"
        "    --field subject_name=\"Ada Quill\" --field dob:year_only=1990-04-12\n"
        "# CTP passes on MI5's case file, which the first example gave it\n"
        "macx send --keys demo/keys --as ctp --to la-london --type share \\\n"
        "    --phase sharing --purpose mac_case_management --case C-1 --subject S-1 \\\n"
        "    --origin mi5 --origin-type case_file --field subject_name=\"Ada Quill\"\n"
        "# replay a sealed record, byte for byte\n"
        "macx send --keys demo/keys --as mi5 --raw record.bin\n"
        "# 10,000 records, batch-signed 256 at a time\n"
        "macx send --keys demo/keys --as mi5 --to la-london --type share --phase sharing \\\n"
        "    --purpose mac_case_management --case C-1 --subject S-1 \\\n"
        "    --field subject_name=\"Ada Quill\" --repeat 10000 --batch 256\n",
    .exits =
        "0 accepted (with --repeat: all N accepted)\n"
        "1 refused (the reason on stderr), or some of N not accepted\n"
        "64 usage error\n"
        "65 bad keys or record input\n"
        "66 --raw FILE does not exist\n"
        "69 the broker cannot be reached within --timeout, or refused our key\n",
};

const macx_cmd_t macx_cmd_recv = {
    .name = "recv", .fn = s_recv, .summary = "receive, verify, decrypt and receipt records",
    .opts = s_recv_opts,
    .synopsis = "macx recv --keys DIR --as AGENCY [--broker ENDPOINT] [--count N]\n"
                "                 [--timeout S] [--state DIR] [--json]",
    .description =
        "Receives records for AGENCY: verifies each signature, decrypts, checks the\n"
        "payload against the header's manifest, drops duplicates (by record id; kept\n"
        "across runs with --state DIR), prints it (one JSON object per line with\n"
        "--json) and returns signed receipts in batches. Stops after N records, or\n"
        "after S seconds without one (0 waits forever). With each record it prints\n"
        "the retention the broker stated for this copy (a `retention` line; \"terms\"\n"
        "in JSON): recv keeps no copy itself, so whoever keeps what it prints must\n"
        "delete, anonymise or review it then.\n\n"
        "A record that does not open is refused, named on stderr and receipted; when\n"
        "it is its sender's and its payload does not match its header, a signed\n"
        "complaint goes to the broker with it, disclosing that record's content key\n"
        "(docs/audit.md, \"Complaints\"; `macx audit show --event complaint`).\n\n"
        S_CLIENT_HELP (10),
    .examples = "macx recv --keys demo/keys --as la-london --count 1\n"
                "macx recv --keys demo/keys --as la-london --timeout 0 --json --state la-london-state\n",
    .exits = "0 done: N records received, or none more within --timeout\n"
             "1 fewer than N records arrived before the timeout\n"
             "64 usage error\n"
             "65 bad keys\n"
             "69 the broker cannot be reached within --timeout, or refused our key\n",
};

const macx_cmd_t macx_cmd_status = {
    .name = "status", .fn = s_status, .summary = "a running broker's counters",
    .opts = s_status_opts,
    .synopsis = "macx status --keys DIR --as AGENCY [--broker ENDPOINT] [--timeout S]\n"
                "                   [--json]",
    .description =
        "Asks a running broker for its counters: accepted, refused by reason,\n"
        "delivered, redelivered, purged, mailbox depth per agency, batch size and\n"
        "commit latency. Prints JSON (one line with --json, indented otherwise).\n\n"
        S_CLIENT_HELP (5),
    .examples = "macx status --keys demo/keys --as mi5\n"
                "macx status --keys demo/keys --as mi5 --broker tcp://10.0.0.5:7750 --json\n",
    .exits = "0 printed\n"
             "64 usage error\n"
             "65 bad keys\n"
             "69 the broker cannot be reached within --timeout, or refused our key\n",
};
