/* answer.c -- the broker's signed answers: the digest of an ACK or NACK,
 * one Ed25519 signature over a Merkle tree of the answers of one flush
 * (batch.c's tree, the head under its own domain), and the checks of such
 * an answer against the broker's key and against its audit entry. No I/O
 * beyond printing to a FILE the caller gives. */
#include <assert.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "file.h"
#include "json.h"
#include "names.h"
#include "record.h"
#include "record_int.h"

#define S_HASH MACX_BATCH_HASH_BYTES

void
macx_answer_record_digest (const uint8_t *buf, size_t len, uint8_t out[MACX_ANSWER_DIGEST_BYTES])
{
    crypto_generichash (out, MACX_ANSWER_DIGEST_BYTES, buf, len, NULL, 0);
}

/* ---- the signed bytes ------------------------------------------------------ */

/* One layout for the three callers (the broker's Ack and Nack, a kept
 * answer): every field the answer states, in a fixed order, each
 * length-prefixed or fixed-width (docs/protocol.md "Signed answers"). */
static void
s_digest (const char *agency, const ProtobufCBinaryData *record_id,
          const ProtobufCBinaryData *record_digest, uint64_t sequence, bool accepted, int reason,
          uint64_t audit_seq, int64_t clock_ms, int64_t at_ms, const char *agreement,
          const char *flow, const char *message, uint8_t out[64])
{
    crypto_generichash_state st;
    crypto_generichash_init (&st, NULL, 0, 64);
    macx_record_hash_len (&st, "macx-answer-v1", 14);
    macx_record_hash_len (&st, agency, strlen (agency));
    macx_record_hash_len (&st, record_id->data, record_id->len);
    macx_record_hash_len (&st, record_digest->data, record_digest->len);
    macx_record_hash_u64 (&st, sequence);
    macx_record_hash_u64 (&st, accepted ? MACX_ANSWER_ACCEPT : MACX_ANSWER_REFUSE);
    macx_record_hash_u64 (&st, (uint64_t) (uint32_t) reason);
    macx_record_hash_u64 (&st, audit_seq);
    macx_record_hash_u64 (&st, (uint64_t) clock_ms);
    macx_record_hash_u64 (&st, (uint64_t) at_ms);
    macx_record_hash_len (&st, agreement, strlen (agreement));
    macx_record_hash_len (&st, flow, strlen (flow));
    macx_record_hash_len (&st, message, strlen (message));
    crypto_generichash_final (&st, out, 64);
}

static const char *
s_str (const char *s)
{
    return s ? s : "";
}

void
macx_answer_digest_ack (const char *agency, const Macx__Ack *ack, uint8_t out[64])
{
    s_digest (agency, &ack->record_id, &ack->record_digest, ack->sequence, true, 0,
              ack->audit_seq, ack->clock_ms, ack->at_ms, "", "", "", out);
}

void
macx_answer_digest_nack (const char *agency, const Macx__Nack *nack, uint8_t out[64])
{
    s_digest (agency, &nack->record_id, &nack->record_digest, nack->sequence, false,
              (int) nack->reason, nack->audit_seq, nack->clock_ms, nack->at_ms,
              s_str (nack->agreement), s_str (nack->flow), s_str (nack->message), out);
}

void
macx_answer_digest (const macx_answer_t *a, uint8_t out[64])
{
    ProtobufCBinaryData id = { a->record_id_len, (uint8_t *) a->record_id };
    ProtobufCBinaryData dg = { MACX_ANSWER_DIGEST_BYTES, (uint8_t *) a->record_digest };
    s_digest (a->agency, &id, &dg, a->sequence, a->accepted, a->reason, a->audit_seq,
              a->clock_ms, a->at_ms, a->agreement, a->flow, a->message, out);
}

void
macx_answer_head_digest (const char *signer, uint32_t count, const uint8_t root[S_HASH],
                         uint8_t out[64])
{
    crypto_generichash_state st;
    crypto_generichash_init (&st, NULL, 0, 64);
    macx_record_hash_len (&st, "macx-answers-v1", 15);
    macx_record_hash_len (&st, signer, strlen (signer));
    macx_record_hash_u64 (&st, count);
    crypto_generichash_update (&st, root, S_HASH);
    crypto_generichash_final (&st, out, 64);
}

/* ---- signing a flush ------------------------------------------------------- */

struct macx_answer_signer_t {
    const macx_identity_t *broker;
    macx_merkle_t *tree;
    uint32_t count;
    uint8_t root[S_HASH];
    uint8_t sig[MACX_SIG_BYTES];
};

macx_answer_signer_t *
macx_answer_signer_new (const macx_identity_t *broker)
{
    macx_answer_signer_t *s = calloc (1, sizeof *s);
    if (s && !(s->tree = macx_merkle_new ())) {
        free (s);
        return NULL;
    }
    if (s)
        s->broker = broker;
    return s;
}

void
macx_answer_signer_destroy (macx_answer_signer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    macx_merkle_destroy (&(*self_p)->tree);
    free (*self_p);
    *self_p = NULL;
}

int
macx_answer_signer_sign (macx_answer_signer_t *s, const uint8_t (*digests)[64], size_t n,
                         macx_error_t *err)
{
    s->count = 0;
    int rc = macx_merkle_begin (s->tree, n);
    if (rc == MACX_ELIMIT)
        return macx_error_set (err, rc, "%zu answers: a tree holds 1 to %d", n, MACX_BATCH_MAX);
    if (rc)
        return macx_error_set (err, rc, "out of memory");
    for (size_t i = 0; i < n; i++)
        macx_merkle_leaf (s->tree, i, digests[i]);
    macx_merkle_end (s->tree);
    memcpy (s->root, macx_merkle_root (s->tree), S_HASH);
    uint8_t head[64];
    macx_answer_head_digest (macx_identity_agency (s->broker)->id, (uint32_t) n, s->root, head);
    if (macx_identity_sign (s->broker, head, sizeof head, s->sig))
        return macx_error_set (err, MACX_ECRYPTO, "signing the answers failed");
    s->count = (uint32_t) n;
    return MACX_OK;
}

void
macx_answer_signer_proof (macx_answer_signer_t *s, size_t i, Macx__BatchProof *proof,
                          ProtobufCBinaryData path[MACX_BATCH_PATH_MAX])
{
    assert (i < s->count);
    macx__batch_proof__init (proof);
    proof->signer = (char *) macx_identity_agency (s->broker)->id;
    proof->index = (uint32_t) i;
    proof->count = s->count;
    proof->root = (ProtobufCBinaryData) { S_HASH, s->root };
    proof->path = path;
    proof->n_path = macx_merkle_path (s->tree, i, path);
    proof->signature = (ProtobufCBinaryData) { MACX_SIG_BYTES, s->sig };
}

/* ---- an answer as kept ----------------------------------------------------- */

static int
s_copy (char *dst, size_t size, const char *src, const char *what, macx_error_t *err)
{
    size_t n = strlen (s_str (src));
    if (n >= size)
        return macx_error_set (err, MACX_ETOOBIG, "the answer's %s is %zu bytes, over %zu", what,
                               n, size - 1);
    memcpy (dst, s_str (src), n + 1);
    return MACX_OK;
}

/* The fields Ack and Nack share, and the proof. */
static int
s_from (macx_answer_t *a, const char *agency, const ProtobufCBinaryData *record_id,
        const ProtobufCBinaryData *record_digest, const Macx__BatchProof *p, macx_error_t *err)
{
    if (s_copy (a->agency, sizeof a->agency, agency, "agency", err))
        return err ? err->code : MACX_ETOOBIG;
    if (record_id->len > MACX_RECORD_ID_BYTES)
        return macx_error_set (err, MACX_EDECODE, "the answer's record id is %zu bytes, over %d",
                               record_id->len, MACX_RECORD_ID_BYTES);
    memcpy (a->record_id, record_id->data, record_id->len);
    a->record_id_len = record_id->len;
    if (record_digest->len != MACX_ANSWER_DIGEST_BYTES)
        return macx_error_set (err, MACX_EDECODE, "the answer's record digest is %zu bytes, want "
                               "%d (a broker before signed answers?)", record_digest->len,
                               MACX_ANSWER_DIGEST_BYTES);
    memcpy (a->record_digest, record_digest->data, MACX_ANSWER_DIGEST_BYTES);
    if (!p)
        return macx_error_set (err, MACX_EDECODE, "the answer carries no proof: it is not "
                               "signed (a broker before signed answers?)");
    int rc = macx_batch_check_shape (p, err);
    if (rc)
        return rc;
    if (s_copy (a->signer, sizeof a->signer, p->signer, "signer", err))
        return err ? err->code : MACX_ETOOBIG;
    a->index = p->index;
    a->count = p->count;
    memcpy (a->root, p->root.data, S_HASH);
    for (size_t i = 0; i < p->n_path; i++)
        memcpy (a->path[i], p->path[i].data, S_HASH);
    a->npath = p->n_path;
    memcpy (a->signature, p->signature.data, MACX_SIG_BYTES);
    a->proved = true;
    return MACX_OK;
}

int
macx_answer_from_ack (macx_answer_t *a, const char *agency, const Macx__Ack *ack,
                      macx_error_t *err)
{
    memset (a, 0, sizeof *a);
    a->accepted = true;
    a->sequence = ack->sequence;
    a->audit_seq = ack->audit_seq;
    a->clock_ms = ack->clock_ms;
    a->at_ms = ack->at_ms;
    return s_from (a, agency, &ack->record_id, &ack->record_digest, ack->proof, err);
}

int
macx_answer_from_nack (macx_answer_t *a, const char *agency, const Macx__Nack *nack,
                       macx_error_t *err)
{
    memset (a, 0, sizeof *a);
    a->sequence = nack->sequence;
    a->reason = (int) nack->reason;
    a->audit_seq = nack->audit_seq;
    a->clock_ms = nack->clock_ms;
    a->at_ms = nack->at_ms;
    if (s_copy (a->message, sizeof a->message, nack->message, "message", err)
        || s_copy (a->agreement, sizeof a->agreement, nack->agreement, "agreement", err)
        || s_copy (a->flow, sizeof a->flow, nack->flow, "flow", err))
        return err ? err->code : MACX_ETOOBIG;
    return s_from (a, agency, &nack->record_id, &nack->record_digest, nack->proof, err);
}

/* ---- checking an answer ---------------------------------------------------- */

int
macx_answer_check_head (const macx_answer_t *a, const macx_agency_t *broker, macx_error_t *err)
{
    if (!a->proved)
        return macx_error_set (err, MACX_EDECODE, "the answer carries no proof: it is not signed");
    if (a->count == 0 || a->count > MACX_BATCH_MAX || a->index >= a->count
        || a->npath > MACX_BATCH_PATH_MAX)
        return macx_error_set (err, MACX_EDECODE, "the answer's proof is malformed: answer %u of "
                               "%u, %zu path hashes", a->index, a->count, a->npath);
    if (strcmp (a->signer, broker->id) != 0)
        return macx_error_set (err, MACX_EFOREIGNROOT, "the answer is signed by '%s', not by the "
                               "broker '%s'", a->signer, broker->id);
    uint8_t head[64];
    macx_answer_head_digest (a->signer, a->count, a->root, head);
    if (macx_keys_verify (broker, head, sizeof head, a->signature) != MACX_OK)
        return macx_error_set (err, MACX_EBADSIG, "the signature over the tree head (a tree of "
                               "%u) does not verify with %s's key: forged or altered", a->count,
                               broker->id);
    return MACX_OK;
}

int
macx_answer_check_path (const macx_answer_t *a, macx_error_t *err)
{
    if (!a->proved)
        return macx_error_set (err, MACX_EDECODE, "the answer carries no proof: it is not signed");
    uint8_t digest[64], root[S_HASH];
    macx_answer_digest (a, digest);
    ProtobufCBinaryData path[MACX_BATCH_PATH_MAX];
    size_t n = a->npath < MACX_BATCH_PATH_MAX ? a->npath : MACX_BATCH_PATH_MAX;
    for (size_t i = 0; i < n; i++)
        path[i] = (ProtobufCBinaryData) { S_HASH, (uint8_t *) a->path[i] };
    if (a->npath > MACX_BATCH_PATH_MAX
        || macx_batch_root_from_path (digest, a->index, a->count, path, n, root) != MACX_OK
        || sodium_memcmp (root, a->root, S_HASH) != 0)
        return macx_error_set (err, MACX_EBATCHPATH, "answer %u of %u: its fields and inclusion "
                               "path do not lead to the signed root (the answer or its path was "
                               "altered)", a->index + 1, a->count);
    return MACX_OK;
}

int
macx_answer_verify (const macx_answer_t *a, const macx_agency_t *broker, macx_error_t *err)
{
    int rc = macx_answer_check_head (a, broker, err);
    return rc ? rc : macx_answer_check_path (a, err);
}

static void
s_hex (const uint8_t *data, size_t len, char *out, size_t size)
{
    if (2 * len + 1 > size)
        len = (size - 1) / 2;
    macx_hex_encode (data, len, out);
}


/* The field an entry differs in, with the log's and the answer's values. */
static const char *
s_differs (const char *field, char *why, size_t size, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static const char *
s_differs (const char *field, char *why, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (why, size, fmt, ap);
    va_end (ap);
    return field;
}

const char *
macx_answer_match_entry (const macx_answer_t *a, const Macx__AuditEntry *e, char *why,
                         size_t size)
{
    char x[80], y[80];
    const char *want = a->accepted ? "accept" : "refuse";
    if (e->seq != a->audit_seq)
        return s_differs ("audit_seq", why, size, "the log's entry is %" PRIu64 ", the answer "
                          "names %" PRIu64, e->seq, a->audit_seq);
    if (strcmp (e->event, "accept") != 0 && strcmp (e->event, "refuse") != 0)
        return s_differs ("event", why, size, "entry %" PRIu64 " is a '%s' entry, not a "
                          "record's accept or refuse", e->seq, e->event);
    if (strcmp (e->event, want) != 0
        || strcmp (e->decision, a->accepted ? "permit" : "deny") != 0)
        return s_differs ("verdict", why, size, "the log says %s (%s), the answer %s", e->event,
                          e->decision, want);
    if (e->record_id.len != a->record_id_len
        || memcmp (e->record_id.data, a->record_id, a->record_id_len) != 0) {
        s_hex (e->record_id.data, e->record_id.len, x, sizeof x);
        s_hex (a->record_id, a->record_id_len, y, sizeof y);
        return s_differs ("record_id", why, size, "the log's entry %" PRIu64 " is record '%s', "
                          "the answer's record '%s'", e->seq, x, y);
    }
    if (e->record_digest.len != MACX_ANSWER_DIGEST_BYTES
        || memcmp (e->record_digest.data, a->record_digest, MACX_ANSWER_DIGEST_BYTES) != 0) {
        s_hex (e->record_digest.data, e->record_digest.len, x, sizeof x);
        s_hex (a->record_digest, MACX_ANSWER_DIGEST_BYTES, y, sizeof y);
        return s_differs ("record_digest", why, size, "the log says '%s', the answer '%s'",
                          e->record_digest.len ? x : "(none)", y);
    }
    if ((int) e->reason != a->reason)
        return s_differs ("reason", why, size, "the log says %s, the answer %s",
                          e->reason ? macx_reason_name (e->reason) : "none",
                          a->reason ? macx_reason_name (a->reason) : "none");
    if (strcmp (e->peer, a->agency) != 0)
        return s_differs ("agency", why, size, "the log's entry is for '%s', the answer for "
                          "'%s'", e->peer, a->agency);
    if (e->sequence != a->sequence)
        return s_differs ("sequence", why, size, "the log says %" PRIu64 ", the answer %" PRIu64,
                          e->sequence, a->sequence);
    if (e->clock_ms != a->clock_ms) {
        char t1[32], t2[32];
        return s_differs ("time", why, size, "the log says %s (%" PRId64 "), the answer %s (%"
                          PRId64 ")", macx_time_format_ms (e->clock_ms, t1), e->clock_ms,
                          macx_time_format_ms (a->clock_ms, t2), a->clock_ms);
    }
    if (!a->accepted) {   /* an ACK names no agreement: the accept entry lists each recipient's */
        if (strcmp (e->agreement, a->agreement) != 0)
            return s_differs ("agreement", why, size, "the log says '%s', the answer '%s'",
                              e->agreement, a->agreement);
        if (strcmp (e->flow, a->flow) != 0)
            return s_differs ("flow", why, size, "the log says '%s', the answer '%s'", e->flow,
                              a->flow);
        if (strcmp (e->message, a->message) != 0)
            return s_differs ("message", why, size, "the log says \"%.200s\", the answer "
                              "\"%.200s\"", e->message, a->message);
    }
    if (why && size)
        snprintf (why, size, "entry %" PRIu64 " is the record's %s entry", e->seq, e->event);
    return NULL;
}

/* ---- printing ---------------------------------------------------------------- */

/* "2026-11-27T10:00:00.123Z", as the audit log writes times. */
static void
s_hex_json (FILE *out, const char *key, const uint8_t *data, size_t len)
{
    char h[2 * 64 + 1];
    s_hex (data, len, h, sizeof h);
    fprintf (out, ",\"%s\":\"%s\"", key, h);
}

void
macx_answer_print_json (FILE *out, const macx_answer_t *a)
{
    char t[32];
    fprintf (out, "{\"result\":\"%s\",\"agency\":", a->accepted ? "ack" : "nack");
    macx_json_str (out, a->agency);
    s_hex_json (out, "record_id", a->record_id, a->record_id_len);
    fprintf (out, ",\"audit_seq\":%" PRIu64 ",\"sequence\":%" PRIu64, a->audit_seq, a->sequence);
    s_hex_json (out, "record_digest", a->record_digest, MACX_ANSWER_DIGEST_BYTES);
    fprintf (out, ",\"clock_ms\":%" PRId64 ",\"time\":\"%s\",\"at_ms\":%" PRId64, a->clock_ms,
             macx_time_format_ms (a->clock_ms, t), a->at_ms);
    if (!a->accepted) {
        fprintf (out, ",\"reason\":\"%s\",\"message\":", macx_reason_name (a->reason));
        macx_json_str (out, a->message);
        fprintf (out, ",\"agreement\":");
        macx_json_str (out, a->agreement);
        fprintf (out, ",\"flow\":");
        macx_json_str (out, a->flow);
    }
    if (a->proved) {
        fprintf (out, ",\"proof\":{\"signer\":");
        macx_json_str (out, a->signer);
        fprintf (out, ",\"index\":%u,\"count\":%u", a->index, a->count);
        s_hex_json (out, "root", a->root, S_HASH);
        fprintf (out, ",\"path\":[");
        for (size_t i = 0; i < a->npath; i++) {
            char h[2 * S_HASH + 1];
            s_hex (a->path[i], S_HASH, h, sizeof h);
            fprintf (out, "%s\"%s\"", i ? "," : "", h);
        }
        fputc (']', out);
        s_hex_json (out, "signature", a->signature, MACX_SIG_BYTES);
        fputc ('}', out);
    }
    fputc ('}', out);
}
