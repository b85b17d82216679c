/* cmd_audit.c -- `macx audit`: verify, show and export the broker's audit
 * log, and prove a signed answer against it. Parsing only; reading and
 * verifying live in audit/, an answer's checks in record/ (answer.c). */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cli.h"
#include "file.h"
#include "json.h"
#include "jsonl.h"
#include "names.h"

static int
s_fail (const char *verb, const macx_error_t *err)
{
    fprintf (stderr, "macx audit %s: %s\n", verb, macx_error_text (err));
    return macx_exit_code (err->code);
}

/* verify and prove: --keys KEYDIR (required), --broker-id, --json. */
static const struct option s_keyed_opts[] = {
    { "keys", required_argument, NULL, 'k' }, { "broker-id", required_argument, NULL, 'b' },
    { "json", no_argument, NULL, 'j' }, { 0 }
};

/* Reads s_keyed_opts and the positional arguments `names`: -1, or the
 * exit code of a usage error. */
static int
s_keyed_args (const macx_cmd_t *self, int argc, char **argv, const char *names,
              const char **keydir, const char **broker_id, int *json)
{
    int c, bad;
    *keydir = NULL;
    *broker_id = "broker";
    *json = 0;
    while ((c = macx_cli_getopt (self, argc, argv)) != -1) {
        switch (c) {
        case 'k': *keydir = optarg; break;
        case 'b': *broker_id = optarg; break;
        case 'j': *json = 1; break;
        }
    }
    if ((bad = macx_cli_args (self, argc, argv, names)) >= 0)
        return bad;
    if (!*keydir)
        return macx_cli_usage (self, "--keys KEYDIR is required (the broker's public key is there)");
    return -1;
}

static int
s_verify (const macx_cmd_t *self, int argc, char **argv)
{
    const char *keydir, *broker_id;
    int json, bad;
    if ((bad = s_keyed_args (self, argc, argv, "DATA_DIR", &keydir, &broker_id, &json)) >= 0)
        return bad;
    macx_error_t err = { 0 };
    macx_registry_t *reg = macx_registry_load (keydir, &err);
    if (!reg)
        return s_fail ("verify", &err);
    const macx_agency_t *broker = macx_registry_find (reg, broker_id);
    if (!broker) {
        fprintf (stderr, "macx audit verify: no agency '%s' in %s (see --broker-id)\n", broker_id,
                 keydir);
        macx_registry_destroy (&reg);
        return MACX_EX_NOINPUT;
    }
    if (broker->revoked)
        fprintf (stderr, "macx audit verify: note: '%s' is revoked (%s); checking its signatures "
                         "with its registered key all the same\n", broker->id,
                 broker->revoked_reason);
    macx_audit_reader_t *reader = macx_audit_reader_open (argv[optind], &err);
    if (!reader) {
        macx_registry_destroy (&reg);
        return s_fail ("verify", &err);
    }
    macx_audit_report_t r;
    int rc = macx_audit_verify (reader, broker, &r, &err);
    macx_audit_reader_destroy (&reader);
    macx_registry_destroy (&reg);
    int broken = rc != 0 && r.first_bad != 0;
    if (rc != 0 && !broken)
        return s_fail ("verify", &err);
    if (json) {
        printf ("{\"intact\":%s,\"entries\":%" PRIu64 ",\"checkpoints\":%" PRIu64
                ",\"last_checkpoint\":%" PRIu64 ",\"unsigned_tail\":%" PRIu64
                ",\"first_bad\":%" PRIu64 ",\"problem\":",
                broken ? "false" : "true", r.entries, r.checkpoints, r.last_checkpoint,
                r.unsigned_tail, r.first_bad);
        macx_json_str (stdout, broken ? r.problem : NULL);
        printf ("}\n");
    }
    if (broken) {
        fprintf (stderr, "audit log broken at entry %" PRIu64 ": %s\n", r.first_bad, r.problem);
        if (!json)
            fprintf (stderr, "(%" PRIu64 " entries and %" PRIu64 " checkpoints before it are "
                             "intact)\n", r.entries, r.checkpoints);
        return MACX_EX_DATAERR;
    }
    if (!json) {
        printf ("audit log intact: %" PRIu64 " entries, %" PRIu64 " signed checkpoints\n",
                r.entries, r.checkpoints);
        if (r.last_checkpoint)
            printf ("last checkpoint at entry %" PRIu64 "\n", r.last_checkpoint);
        else
            printf ("no checkpoint yet\n");
        printf ("unsigned tail: %" PRIu64 " entries after the last checkpoint (chained, not yet "
                "signed)\n", r.unsigned_tail);
    }
    return MACX_EX_OK;
}

typedef struct {
    int json;
} s_show_t;

static int
s_show_one (const Macx__AuditEntry *entry, void *arg)
{
    const s_show_t *show = arg;
    macx_audit_print_entry (stdout, entry, show->json);
    putchar ('\n');
    return 0;
}

/* What a filter's value must name: one of the events the broker writes,
 * and an agency or case the log holds (a typo would otherwise match
 * nothing, silently). */
static const char *const s_events[] = { "accept", "refuse", "deliver", "purge",
                                        "receipt_refused", "disconnect", "complaint",
                                        "complaint_refused", "retention_deleted",
                                        "retention_anonymised", "retention_review",
                                        "retention_refused", "start", "stop" };
#define S_NEVENTS (sizeof s_events / sizeof s_events[0])

typedef struct {
    const char *want;            /* the agency or case looked for */
    bool agency;
    bool found;
    char seen[1024];             /* the first few distinct values, comma-separated */
    int nseen;
} s_known_t;

static void
s_known_add (s_known_t *k, const char *v)
{
    if (!v || !*v)
        return;
    if (strcmp (v, k->want) == 0)
        k->found = true;
    char padded[300];
    snprintf (padded, sizeof padded, ", %s,", v);
    char list[1030];
    snprintf (list, sizeof list, ", %s,", k->seen);
    if (strstr (list, padded) || k->nseen >= 12 || strlen (k->seen) + strlen (v) + 3 >= sizeof k->seen)
        return;
    snprintf (k->seen + strlen (k->seen), sizeof k->seen - strlen (k->seen), "%s%s",
              k->nseen++ ? ", " : "", v);
}

static int
s_known_one (const Macx__AuditEntry *e, void *arg)
{
    s_known_t *k = arg;
    if (k->agency) {
        s_known_add (k, e->peer);
        s_known_add (k, e->sender);
        s_known_add (k, e->recipient);
        for (size_t i = 0; i < e->n_recipients; i++)
            s_known_add (k, e->recipients[i]);
    }
    else
        s_known_add (k, e->case_id);
    return k->found;   /* stop at the first entry that names it */
}

/* Returns -1 when the log names `want` (an agency, or a case), else 64
 * after saying what the log does name. */
static int
s_check_known (const macx_cmd_t *self, macx_audit_reader_t *reader, const char *dir,
               const char *want, bool agency)
{
    s_known_t k = { .want = want, .agency = agency };
    macx_error_t err = { 0 };
    if (macx_audit_scan (reader, NULL, s_known_one, &k, &err) < 0 || k.found)
        return -1;
    return macx_cli_usage (self, "no entry in %s names %s '%s'; %s %s%s", dir,
                           agency ? "agency" : "case", want,
                           k.nseen ? (agency ? "its agencies are" : "its cases include")
                                   : "the log has no",
                           k.nseen ? k.seen : (agency ? "agencies yet" : "cases yet"),
                           k.nseen == 12 ? ", ..." : "");
}

static const struct option s_show_opts[] = {
    { "case", required_argument, NULL, 'c' },  { "agency", required_argument, NULL, 'a' },
    { "event", required_argument, NULL, 'e' }, { "since", required_argument, NULL, 's' },
    { "from", required_argument, NULL, 'f' },  { "limit", required_argument, NULL, 'n' },
    { "json", no_argument, NULL, 'j' }, { 0 }
};

static int
s_show (const macx_cmd_t *self, int argc, char **argv)
{
    macx_audit_filter_t f = { 0 };
    s_show_t show = { 0 };
    long long v;
    int c, bad = -1;
    while (bad < 0 && (c = macx_cli_getopt (self, argc, argv)) != -1) {
        switch (c) {
        case 'c': f.case_id = optarg; break;
        case 'a': f.agency = optarg; break;
        case 'j': show.json = 1; break;
        case 'e': {
            f.event = optarg;
            size_t i = 0;
            while (i < S_NEVENTS && strcmp (optarg, s_events[i]) != 0)
                i++;
            if (i == S_NEVENTS) {
                const char *near = NULL;
                for (i = 0; i < S_NEVENTS && !near; i++)
                    if (strncmp (optarg, s_events[i], strlen (s_events[i])) == 0
                        || strncmp (optarg, s_events[i], strlen (optarg)) == 0)
                        near = s_events[i];
                char hint[64] = "", list[512] = "";
                if (near)
                    snprintf (hint, sizeof hint, "did you mean '%s'? ", near);
                for (i = 0; i < S_NEVENTS; i++)   /* "a, b and c", from the table */
                    snprintf (list + strlen (list), sizeof list - strlen (list), "%s%s",
                              i == 0 ? "" : i + 1 == S_NEVENTS ? " and " : ", ", s_events[i]);
                bad = macx_cli_usage (self, "unknown event '%s' (%sevents are %s)", optarg, hint,
                                      list);
            }
            break;
        }
        case 's':
            if (macx_audit_parse_time (optarg, &f.since_ms))
                bad = macx_cli_usage (self, "--since must be a UTC date (2026-11-27) or "
                                      "date-time (2026-11-27T10:00:00Z), not '%s'", optarg);
            break;
        case 'f':
            if ((bad = macx_cli_long (self, "from", optarg, 0, LLONG_MAX, &v)) < 0)
                f.from_seq = (uint64_t) v;
            break;
        case 'n':
            if ((bad = macx_cli_long (self, "limit", optarg, 0, LLONG_MAX, &v)) < 0)
                f.limit = (uint64_t) v;
            break;
        }
    }
    if (bad >= 0 || (bad = macx_cli_args (self, argc, argv, "DATA_DIR")) >= 0)
        return bad;
    const char *dir = argv[optind];
    macx_error_t err = { 0 };
    macx_audit_reader_t *reader = macx_audit_reader_open (dir, &err);
    if (!reader)
        return s_fail ("show", &err);
    int rc = 0;
    if (f.agency)
        bad = s_check_known (self, reader, dir, f.agency, true);
    if (bad < 0 && f.case_id)
        bad = s_check_known (self, reader, dir, f.case_id, false);
    if (bad < 0)
        rc = macx_audit_scan (reader, &f, s_show_one, &show, &err);
    macx_audit_reader_destroy (&reader);
    if (bad >= 0)
        return bad;
    if (rc)
        return s_fail ("show", &err);
    return MACX_EX_OK;
}

static const struct option s_json_opts[] = { { "json", no_argument, NULL, 'j' }, { 0 } };

static int
s_subject (const macx_cmd_t *self, int argc, char **argv)
{
    bool json = false;
    int c, bad;
    while ((c = macx_cli_getopt (self, argc, argv)) != -1)
        if (c == 'j')
            json = true;
    if ((bad = macx_cli_args (self, argc, argv, "DATA_DIR SUBJECT")) >= 0)
        return bad;
    const char *dir = argv[optind], *subject = argv[optind + 1];
    macx_error_t err = { 0 };
    macx_audit_reader_t *reader = macx_audit_reader_open (dir, &err);
    if (!reader)
        return s_fail ("subject", &err);
    macx_audit_history_t *h = macx_audit_history (reader, subject, &err);
    macx_audit_reader_destroy (&reader);
    if (!h)
        return s_fail ("subject", &err);
    int rc = MACX_EX_OK;
    if (macx_audit_history_entries (h) == 0) {
        bool more;
        const char *others = macx_audit_history_others (h, &more);
        char list[1024] = "";
        for (size_t i = 0, n = 0; others[i] && n + 3 < sizeof list; i++) {
            list[n++] = others[i];
            if (others[i] == ',')
                list[n++] = ' ';
            list[n] = '\0';
        }
        rc = macx_cli_usage (self, "no entry in %s names subject '%s'; %s%s%s", dir, subject,
                             *list ? "its subjects include " : "the log names no subject yet",
                             list, more ? ", ..." : "");
    }
    else
        macx_audit_history_print (stdout, h, json);
    macx_audit_history_destroy (&h);
    return rc;
}

static int
s_export (const macx_cmd_t *self, int argc, char **argv)
{
    while (macx_cli_getopt (self, argc, argv) != -1)
        ;   /* --json: JSON lines are the only format */
    int bad = macx_cli_args (self, argc, argv, "DATA_DIR");
    if (bad >= 0)
        return bad;
    macx_error_t err = { 0 };
    macx_audit_reader_t *reader = macx_audit_reader_open (argv[optind], &err);
    if (!reader)
        return s_fail ("export", &err);
    int rc = macx_audit_export (reader, stdout, &err);
    macx_audit_reader_destroy (&reader);
    return rc ? s_fail ("export", &err) : MACX_EX_OK;
}

/* ---- prove ------------------------------------------------------------------ */

/* An answer file holds one JSON object of a few KiB. */
#define S_ANSWER_MAX (64u << 10)

/* Reads ANSWER: a file, or stdin for "-". */
static int
s_answer_read (const char *path, char **text, size_t *len, macx_error_t *err)
{
    if (strcmp (path, "-") != 0)
        return macx_file_read (path, S_ANSWER_MAX, text, len, err);
    char *buf = malloc (S_ANSWER_MAX + 1);
    if (!buf)
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    size_t n = fread (buf, 1, S_ANSWER_MAX + 1, stdin);
    if (ferror (stdin) || n > S_ANSWER_MAX) {
        free (buf);
        return ferror (stdin) ? macx_error_set (err, MACX_EIO, "cannot read stdin")
                              : macx_error_set (err, MACX_ETOOBIG, "stdin holds over %u bytes: "
                                                "an answer is one JSON object", S_ANSWER_MAX);
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return MACX_OK;
}

static int
s_bad_field (macx_error_t *err, const char *key, const char *want)
{
    return macx_error_set (err, MACX_EFORMAT, "field '%s' must be %s", key, want);
}

/* A string member: required, or "" when absent; it must fit size. */
static int
s_get_str (const macx_jv_t *o, const char *key, bool required, char *out, size_t size,
           macx_error_t *err)
{
    const macx_jv_t *v = macx_jv_get (o, key);
    if (!v && !required) {
        out[0] = '\0';
        return MACX_OK;
    }
    if (!v || v->type != MACX_JV_STRING)
        return s_bad_field (err, key, "a string");
    if (strlen (v->string) >= size)
        return macx_error_set (err, MACX_EFORMAT, "field '%s' is over %zu bytes", key, size - 1);
    memcpy (out, v->string, strlen (v->string) + 1);
    return MACX_OK;
}

/* A whole number member in [lo, hi] (JSON numbers are doubles: exact up to
 * 2^53, which every sequence, time and count is below). */
static int
s_get_num (const macx_jv_t *o, const char *key, bool required, double lo, double hi,
           double *out, macx_error_t *err)
{
    const macx_jv_t *v = macx_jv_get (o, key);
    *out = 0;
    if (!v && !required)
        return MACX_OK;
    if (!v || v->type != MACX_JV_NUMBER || v->number != (double) (int64_t) v->number
        || v->number < lo || v->number > hi)
        return s_bad_field (err, key, "a whole number in range");
    *out = v->number;
    return MACX_OK;
}

/* Hex member of exactly n bytes (or of none, when empty is allowed). */
static int
s_get_hex (const macx_jv_t *v, const char *key, uint8_t *out, size_t n, bool empty_ok,
           size_t *got, macx_error_t *err)
{
    char want[64];
    snprintf (want, sizeof want, "%zu hex digits%s", 2 * n, empty_ok ? " (or empty)" : "");
    if (!v || v->type != MACX_JV_STRING)
        return s_bad_field (err, key, want);
    size_t len = strlen (v->string);
    if (got)
        *got = len ? n : 0;
    if (len == 0 && empty_ok)
        return MACX_OK;
    if (len != 2 * n || macx_hex_decode (v->string, out, n))
        return s_bad_field (err, key, want);
    return MACX_OK;
}

#define S_MAX_INT 9007199254740992.0   /* 2^53 */

/* The answer `macx send --json` printed (macx_answer_print_json), back
 * into a: every field the signature covers, and the proof. A field missing
 * or malformed is named; a proof absent leaves a->proved false (prove then
 * says the answer is not signed). */
static int
s_answer_parse (const macx_jv_t *o, macx_answer_t *a, macx_error_t *err)
{
    memset (a, 0, sizeof *a);
    if (o->type != MACX_JV_OBJECT)
        return macx_error_set (err, MACX_EFORMAT, "not a JSON object: an answer is the object "
                               "`macx send --json` prints");
    const char *result = macx_jv_str (o, "result", NULL);
    if (!result || (strcmp (result, "ack") != 0 && strcmp (result, "nack") != 0))
        return s_bad_field (err, "result", "\"ack\" or \"nack\"");
    a->accepted = strcmp (result, "ack") == 0;
    double v;
    char reason[64], time_text[40];
    int rc;
    if ((rc = s_get_str (o, "agency", true, a->agency, sizeof a->agency, err))
        || (rc = s_get_hex (macx_jv_get (o, "record_id"), "record_id", a->record_id,
                            MACX_RECORD_ID_BYTES, true, &a->record_id_len, err))
        || (rc = s_get_hex (macx_jv_get (o, "record_digest"), "record_digest", a->record_digest,
                            MACX_ANSWER_DIGEST_BYTES, false, NULL, err)))
        return rc;
    if ((rc = s_get_num (o, "audit_seq", true, 0, S_MAX_INT, &v, err)))
        return rc;
    a->audit_seq = (uint64_t) v;
    if ((rc = s_get_num (o, "sequence", true, 0, S_MAX_INT, &v, err)))
        return rc;
    a->sequence = (uint64_t) v;
    if ((rc = s_get_num (o, "clock_ms", true, -S_MAX_INT, S_MAX_INT, &v, err)))
        return rc;
    a->clock_ms = (int64_t) v;
    if ((rc = s_get_num (o, "at_ms", false, -S_MAX_INT, S_MAX_INT, &v, err)))
        return rc;
    a->at_ms = (int64_t) v;
    if ((rc = s_get_str (o, "time", false, time_text, sizeof time_text, err)))
        return rc;
    char t[40];
    if (time_text[0] && strcmp (time_text, macx_audit_format_time (a->clock_ms, t)) != 0)
        return macx_error_set (err, MACX_EFORMAT, "field 'time' says %s but clock_ms %" PRId64
                               " is %s: 'time' is clock_ms written for people", time_text,
                               a->clock_ms, t);
    if ((rc = s_get_str (o, "reason", false, reason, sizeof reason, err))
        || (rc = s_get_str (o, "message", false, a->message, sizeof a->message, err))
        || (rc = s_get_str (o, "agreement", false, a->agreement, sizeof a->agreement, err))
        || (rc = s_get_str (o, "flow", false, a->flow, sizeof a->flow, err)))
        return rc;
    if (reason[0] && (a->reason = macx_reason_parse (reason)) < 0)
        return macx_error_set (err, MACX_EFORMAT, "field 'reason': '%s' is not a reason code",
                               reason);
    if (!a->accepted && !reason[0])
        return s_bad_field (err, "reason", "a reason code (a NACK's)");
    const macx_jv_t *p = macx_jv_get (o, "proof");
    if (!p)
        return MACX_OK;
    if (p->type != MACX_JV_OBJECT)
        return s_bad_field (err, "proof", "an object");
    const macx_jv_t *path = macx_jv_get (p, "path");
    if ((rc = s_get_str (p, "signer", true, a->signer, sizeof a->signer, err)))
        return rc;
    if ((rc = s_get_num (p, "index", true, 0, MACX_BATCH_MAX - 1, &v, err)))
        return rc;
    a->index = (uint32_t) v;
    if ((rc = s_get_num (p, "count", true, 1, MACX_BATCH_MAX, &v, err)))
        return rc;
    a->count = (uint32_t) v;
    if ((rc = s_get_hex (macx_jv_get (p, "root"), "proof.root", a->root, MACX_BATCH_HASH_BYTES,
                         false, NULL, err))
        || (rc = s_get_hex (macx_jv_get (p, "signature"), "proof.signature", a->signature,
                            MACX_SIG_BYTES, false, NULL, err)))
        return rc;
    if (!path || path->type != MACX_JV_ARRAY || path->count > MACX_BATCH_PATH_MAX)
        return s_bad_field (err, "proof.path", "an array of at most 12 hashes");
    for (size_t i = 0; i < path->count; i++)
        if ((rc = s_get_hex (&path->items[i], "proof.path", a->path[i], MACX_BATCH_HASH_BYTES,
                             false, NULL, err)))
            return rc;
    a->npath = path->count;
    a->proved = true;
    return MACX_OK;
}

/* One check of a proof: run or not, its verdict, what it found. */
typedef struct {
    const char *name;
    int state;                     /* 0 not run, 1 ok, -1 failed */
    char detail[700];
} s_check_t;

enum { S_SIG, S_PATH, S_ENTRY, S_FIELDS, S_CHAIN, S_NCHECKS };

static void
s_check (s_check_t *c, int state, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

static void
s_check (s_check_t *c, int state, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (c->detail, sizeof c->detail, fmt, ap);
    va_end (ap);
    c->state = state;
}

typedef struct {
    uint64_t seq;
    Macx__AuditEntry *entry;       /* a copy: the scan's is valid only during the call */
} s_find_t;

static int
s_find_one (const Macx__AuditEntry *e, void *arg)
{
    s_find_t *f = arg;
    if (e->seq == f->seq) {
        size_t n = macx__audit_entry__get_packed_size (e);
        uint8_t *buf = malloc (n ? n : 1);
        if (buf) {
            macx__audit_entry__pack (e, buf);
            f->entry = macx__audit_entry__unpack (NULL, n, buf);
            free (buf);
        }
    }
    return 1;   /* the first entry at or after seq is the only one looked at */
}

/* The checks over the log: the entry at the answer's audit_seq, its fields,
 * and the chain up to it. Returns 0, or an error reading the store. */
static int
s_prove_log (const char *dir, const macx_agency_t *broker, const macx_answer_t *a,
             s_check_t *checks, macx_error_t *err)
{
    if (a->audit_seq == 0) {
        s_check (&checks[S_ENTRY], -1, "the answer names no audit entry (audit_seq 0): the "
                 "broker stored nothing of the record (%s)",
                 a->reason ? macx_reason_name (a->reason) : "no reason");
        return MACX_OK;
    }
    macx_audit_reader_t *reader = macx_audit_reader_open (dir, err);
    if (!reader)
        return err->code;
    macx_audit_report_t r;
    macx_error_t verr = { 0 };
    int rc = macx_audit_verify (reader, broker, &r, &verr);
    if (rc && !r.first_bad) {
        *err = verr;
        macx_audit_reader_destroy (&reader);
        return rc;
    }
    s_find_t found = { a->audit_seq, NULL };
    macx_audit_filter_t f = { .from_seq = a->audit_seq, .limit = 1 };
    rc = macx_audit_scan (reader, &f, s_find_one, &found, err);
    macx_audit_reader_destroy (&reader);
    if (rc < 0)
        return rc;
    if (!found.entry) {
        s_check (&checks[S_ENTRY], -1, "no audit entry %" PRIu64 " in %s (the log holds %"
                 PRIu64 " entries): not this broker's log, or entries removed", a->audit_seq, dir,
                 r.entries);
        return MACX_OK;
    }
    s_check (&checks[S_ENTRY], 1, "audit entry %" PRIu64 " is in %s", a->audit_seq, dir);
    char why[600];
    const char *field = macx_answer_match_entry (a, found.entry, why, sizeof why);
    if (field)
        s_check (&checks[S_FIELDS], -1, "entry %" PRIu64 " differs from the answer in %s: %s",
                 a->audit_seq, field, why);
    else
        s_check (&checks[S_FIELDS], 1, "%s: record id, digest, verdict, reason, agency, "
                 "sequence%s agree", why, a->accepted ? " and time"
                                                      : ", time, agreement, flow and message");
    macx__audit_entry__free_unpacked (found.entry, NULL);
    if (r.first_bad && r.first_bad <= a->audit_seq)
        s_check (&checks[S_CHAIN], -1, "the audit chain is broken at entry %" PRIu64 ", at or "
                 "before the answer's: %s", r.first_bad, r.problem);
    else {
        char later[400] = "", cover[200];
        if (r.first_bad)
            snprintf (later, sizeof later, " (the log is broken later, at entry %" PRIu64 ": %s)",
                      r.first_bad, r.problem);
        if (r.last_checkpoint >= a->audit_seq)
            snprintf (cover, sizeof cover, "signed by the broker's checkpoints (the last at entry %"
                      PRIu64 ")", r.last_checkpoint);
        else if (r.first_bad)
            snprintf (cover, sizeof cover, "no signed checkpoint before the break covers it");
        else
            snprintf (cover, sizeof cover, "not yet covered by a signed checkpoint (it is in the "
                      "unsigned tail)");
        s_check (&checks[S_CHAIN], 1, "entries 1 to %" PRIu64 " are chained; %s%s",
                 a->audit_seq, cover, later);
    }
    return MACX_OK;
}

static int
s_prove (const macx_cmd_t *self, int argc, char **argv)
{
    const char *keydir, *broker_id;
    int json, bad;
    if ((bad = s_keyed_args (self, argc, argv, "DATA_DIR ANSWER", &keydir, &broker_id, &json)) >= 0)
        return bad;
    const char *dir = argv[optind], *path = argv[optind + 1];
    const char *shown = strcmp (path, "-") == 0 ? "stdin" : path;
    macx_error_t err = { 0 };
    char *text = NULL;
    size_t len = 0;
    if (s_answer_read (path, &text, &len, &err)) {
        fprintf (stderr, "macx audit prove: %s: %s\n", shown, macx_error_text (&err));
        return err.code == MACX_ENOTFOUND ? MACX_EX_NOINPUT : macx_exit_code (err.code);
    }
    macx_jv_t doc = { 0 };
    macx_answer_t a;
    int rc = macx_jv_parse (text, len, &doc, &err);
    free (text);
    if (rc == 0)
        rc = s_answer_parse (&doc, &a, &err);
    macx_jv_free (&doc);
    if (rc) {
        fprintf (stderr, "macx audit prove: %s: not an answer: %s\n", shown,
                 macx_error_text (&err));
        return MACX_EX_DATAERR;
    }
    macx_registry_t *reg = macx_registry_load (keydir, &err);
    if (!reg)
        return s_fail ("prove", &err);
    const macx_agency_t *broker = macx_registry_find (reg, broker_id);
    if (!broker) {
        fprintf (stderr, "macx audit prove: no agency '%s' in %s (see --broker-id)\n", broker_id,
                 keydir);
        macx_registry_destroy (&reg);
        return MACX_EX_NOINPUT;
    }
    s_check_t checks[S_NCHECKS] = { { .name = "signature" }, { .name = "path" },
                                    { .name = "entry" }, { .name = "fields" },
                                    { .name = "chain" } };
    macx_error_t cerr = { 0 };
    if (macx_answer_check_head (&a, broker, &cerr))
        s_check (&checks[S_SIG], -1, "%s", macx_error_text (&cerr));
    else
        s_check (&checks[S_SIG], 1, "the tree head of %u answer%s is signed by %s (key from %s)",
                 a.count, a.count == 1 ? "" : "s", broker->id, keydir);
    if (a.proved && macx_answer_check_path (&a, &cerr))
        s_check (&checks[S_PATH], -1, "%s", macx_error_text (&cerr));
    else if (a.proved && a.count == 1)
        s_check (&checks[S_PATH], 1, "the answer's leaf is the signed root (a tree of one)");
    else if (a.proved)
        s_check (&checks[S_PATH], 1, "answer %u of %u leads, through its %zu path hash%s, to "
                 "the signed root", a.index + 1, a.count, a.npath, a.npath == 1 ? "" : "es");
    rc = s_prove_log (dir, broker, &a, checks, &err);
    macx_registry_destroy (&reg);
    if (rc)
        return s_fail ("prove", &err);
    const s_check_t *failed = NULL;
    for (int i = 0; i < S_NCHECKS && !failed; i++)
        if (checks[i].state < 0)
            failed = &checks[i];
    char hex[2 * MACX_RECORD_ID_BYTES + 1], t[40], what[300];
    macx_hex_encode (a.record_id, a.record_id_len, hex);
    snprintf (what, sizeof what, "the broker %s record %s from %s%s%s (audit entry %" PRIu64
              ", %s)", a.accepted ? "accepted" : "refused", a.record_id_len ? hex : "(no header)",
              a.agency, a.accepted ? "" : ": ", a.accepted ? "" : macx_reason_name (a.reason),
              a.audit_seq, macx_audit_format_time (a.clock_ms, t));
    if (json) {
        printf ("{\"proven\":%s,\"failed\":", failed ? "false" : "true");
        macx_json_str (stdout, failed ? failed->name : NULL);
        printf (",\"problem\":");
        macx_json_str (stdout, failed ? failed->detail : NULL);
        printf (",\"claim\":");
        macx_json_str (stdout, what);
        printf (",\"result\":\"%s\",\"record_id\":\"%s\",\"agency\":", a.accepted ? "ack" : "nack",
                hex);
        macx_json_str (stdout, a.agency);
        printf (",\"audit_seq\":%" PRIu64 ",\"checks\":[", a.audit_seq);
        for (int i = 0; i < S_NCHECKS; i++) {
            printf ("%s{\"check\":\"%s\",\"ok\":%s,\"detail\":", i ? "," : "", checks[i].name,
                    checks[i].state > 0 ? "true" : checks[i].state < 0 ? "false" : "null");
            macx_json_str (stdout, checks[i].state ? checks[i].detail : "not run");
            putchar ('}');
        }
        printf ("]}\n");
    }
    else {
        printf ("%s: %s\n", failed ? "not proven" : "proven", what);
        for (int i = 0; i < S_NCHECKS; i++)
            printf ("  %-9s  %-6s  %s\n", checks[i].name,
                    checks[i].state > 0 ? "ok" : checks[i].state < 0 ? "FAILED" : "-",
                    checks[i].state ? checks[i].detail : "not run");
    }
    if (failed) {
        /* An altered answer fails its path; the log then says which field. */
        const s_check_t *fields = &checks[S_FIELDS];
        fprintf (stderr, "macx audit prove: not proven (%s): %s%s%s\n", failed->name,
                 failed->detail, failed != fields && fields->state < 0 ? "; " : "",
                 failed != fields && fields->state < 0 ? fields->detail : "");
        return MACX_EX_FAIL;
    }
    return MACX_EX_OK;
}

static const macx_cmd_t s_verbs[] = {
    { .name = "audit verify", .fn = s_verify,
      .summary = "check every hash, link and checkpoint signature", .opts = s_keyed_opts,
      .shortopts = "k:b:j", .synopsis = "macx audit verify DATA_DIR --keys KEYDIR [--broker-id ID] [--json]",
      .description =
          "Checks every entry of the audit log in DATA_DIR (the broker's --data\n"
          "directory): sequence numbers without gaps, each entry's link to the one\n"
          "before, each entry's hash against its contents, and each checkpoint's\n"
          "signature by the broker (agency ID, default `broker`, public key from\n"
          "KEYDIR) and its head against the stored chain. Entries after the last\n"
          "checkpoint are chained but not yet signed; the summary says how many. A\n"
          "broken log is named on stderr: \"audit log broken at entry N: ...\".\n",
      .examples = "macx audit verify out/baseline/broker/data --keys out/baseline/keys\n",
      .exits = "0 intact\n64 usage error\n65 broken: the first bad entry is named on stderr\n"
               "66 no store in DATA_DIR, or no agency ID in KEYDIR\n" },
    { .name = "audit prove", .fn = s_prove,
      .summary = "check a signed ACK or NACK against the log", .opts = s_keyed_opts,
      .shortopts = "k:b:j",
      .synopsis = "macx audit prove DATA_DIR ANSWER --keys KEYDIR [--broker-id ID] [--json]",
      .description =
          "Proves what the broker answered about a record: ANSWER is a file holding\n"
          "the JSON answer `macx send --json` printed (the broker's signed ACK or\n"
          "NACK), or - for stdin. It checks, and prints each check's result:\n"
          "  signature  the tree head the answer names is signed by the broker (agency\n"
          "             ID, default `broker`, public key from KEYDIR);\n"
          "  path       the answer's fields, through its inclusion path, lead to that\n"
          "             signed root (an altered verdict, reason, entry, time, record\n"
          "             id or digest does not);\n"
          "  entry      the audit log in DATA_DIR (the broker's --data) holds the entry\n"
          "             the answer names;\n"
          "  fields     that entry is the record's accept (ACK) or refuse (NACK) entry\n"
          "             with the same record id, record digest, reason, agency, sequence\n"
          "             and time (and agreement, flow and message for a NACK);\n"
          "  chain      the hash chain verifies up to that entry (and whether a signed\n"
          "             checkpoint covers it yet).\n"
          "The first check that fails is named on stderr: \"not proven (path): ...\".\n",
      .examples = "macx send --keys demo/keys --as mi5 --to ctp --type case_file --phase identification \\\n"
                  "    --purpose mac_case_management --case C-1 --subject S-1 \\\n"
                  "    --field subject_name=\"Ada Quill\" --field closure_category=closed --json > answer.json\n"
                  "macx audit prove out/baseline/broker/data answer.json --keys out/baseline/keys\n",
      .exits = "0 proven\n1 not proven: a check failed (named on stderr)\n64 usage error\n"
               "65 ANSWER is not an answer (the field at fault is named)\n"
               "66 ANSWER or DATA_DIR's store does not exist, or no agency ID in KEYDIR\n"
               "74 the store cannot be read\n" },
    { .name = "audit show", .fn = s_show,
      .summary = "print entries, filtered by case, agency, event, time", .opts = s_show_opts,
      .shortopts = "c:a:e:s:f:n:j",
      .synopsis = "macx audit show DATA_DIR [--case C] [--agency A] [--event E]\n"
                  "                       [--since T] [--from SEQ] [--limit N] [--json]",
      .description =
          "Prints the audit entries that match every filter given, in sequence order,\n"
          "one line each (JSON lines with --json). --agency matches the authenticated\n"
          "peer, the sender, any recipient, or the recipient of a delivery or purge.\n"
          "--event is accept, refuse, deliver, purge, receipt_refused, disconnect (a\n"
          "peer cut off for a limit), complaint (a recipient's manifest complaint the\n"
          "broker upheld against the record's sender, with what differs),\n"
          "complaint_refused (one whose evidence did not hold, with its reason), start,\n"
          "stop, or what a recipient did with its copy at expiry: retention_deleted,\n"
          "retention_anonymised, retention_review, retention_refused (a retention\n"
          "receipt the broker refused).\n"
          "T is a UTC date or date-time: 2026-11-27 or 2026-11-27T10:00:00Z (the wall\n"
          "time of the entry). An agency or case that no entry names is refused, with\n"
          "the ones the log does name, rather than matching nothing. Does not verify\n"
          "the chain: run `macx audit verify` for that.\n",
      .examples = "macx audit show out/baseline/broker/data --event refuse\n"
                  "macx audit show out/baseline/broker/data --event complaint --agency mi5 --json\n"
                  "macx audit show out/baseline/broker/data --agency ogd-dwp --limit 20 --json\n",
      .exits = "0 printed (possibly nothing, when the filters together match no entry)\n"
               "64 usage error, an unknown event, or an agency or case no entry names\n"
               "66 no store in DATA_DIR\n" },
    { .name = "audit subject", .fn = s_subject,
      .summary = "a subject's disclosure history: who got what, under what, and is it deleted",
      .opts = s_json_opts, .shortopts = "j",
      .synopsis = "macx audit subject DATA_DIR SUBJECT [--json]",
      .description =
          "Prints, from the audit log in DATA_DIR, every disclosure of a record about\n"
          "SUBJECT (its pseudonym, e.g. S-000042): one line per record and recipient,\n"
          "with when the broker accepted it, sender and recipient, record type, the\n"
          "agreement and flow it went under, its legal basis (a key into the list of\n"
          "the agreements' bases printed below the table), when the recipient's copy\n"
          "expires, what became of it (deleted, anonymised, under review, held, held\n"
          "past expiry, queued at the broker, purged undelivered) and the fields\n"
          "disclosed. A header counts them; records the broker refused (nothing\n"
          "disclosed) are counted after the table. Times are the broker's clock in UTC\n"
          "(simulated in a pilot). --json prints one JSON object: the subject, its\n"
          "cases, the counts and every disclosure with all of it (times in ms and as\n"
          "text, the manifest as a list). A subject no entry names is refused, with the\n"
          "subjects the log does name. Does not verify the chain: run `macx audit\n"
          "verify` for that.\n",
      .examples = "macx audit subject out/baseline/broker/data S-000042\n"
                  "macx audit subject out/baseline/broker/data S-000042 --json\n",
      .exits = "0 printed\n64 usage error, or a subject no entry names\n66 no store in DATA_DIR\n" },
    { .name = "audit export", .fn = s_export,
      .summary = "write the whole log and its checkpoints as JSON lines", .opts = s_json_opts,
      .synopsis = "macx audit export DATA_DIR [--json]",
      .description =
          "Writes the whole audit log as JSON lines (the only format; --json is\n"
          "accepted for clarity), in sequence order, each checkpoint right after the\n"
          "entry it covers:\n"
          "  {\"type\":\"entry\",\"seq\":...,<every field>,\"prev_hash\":...,\"hash\":...,\"raw\":...}\n"
          "  {\"type\":\"checkpoint\",\"seq\":...,\"head\":...,\"time_ms\":...,\"broker\":...,\n"
          "   \"signature\":...}\n"
          "\"raw\" is the serialised entry in hex, so the chain can be re-verified\n"
          "elsewhere. Does not verify: run `macx audit verify` for that.\n",
      .examples = "macx audit export out/baseline/broker/data > audit.jsonl\n",
      .exits = "0 written\n64 usage error\n66 no store in DATA_DIR\n74 write error\n" },
};

const macx_cmd_t macx_cmd_audit = {
    .name = "audit", .summary = "verify, show and export the broker's audit log",
    .synopsis = "macx audit <command> [<args>]",
    .description =
        "The broker's audit log: one entry per accept, refusal, delivery and purge,\n"
        "each chained to the one before by a BLAKE2b hash, with checkpoints of the\n"
        "chain head signed by the broker. Read-only: safe while the broker runs.\n"
        "`prove` checks a signed ACK or NACK against it.\n",
    .examples = "macx audit verify out/baseline/broker/data --keys out/baseline/keys\n",
    .exits = "0 done\n64 no command, or an unknown one (each command's page lists its own)\n",
    .verbs = s_verbs, .nverbs = (int) (sizeof s_verbs / sizeof s_verbs[0]),
};
