/* complaint.c -- manifest complaints: a recipient's signed evidence that a
 * record's payload does not match its header (making it), and the broker's
 * check of that evidence, trusting neither the complainant nor the sender
 * (docs/protocol.md "Complaints"). Holds a record's content key only for
 * the call, wiped after. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "record_int.h"

#define S_DOMAIN "macx-complaint-v1"
#define S_DOMAIN_LEN 17

void
macx_record_complaint_digest (const Macx__Complaint *c, uint8_t out[64])
{
    crypto_generichash_state st;
    crypto_generichash_init (&st, NULL, 0, 64);
    macx_record_hash_len (&st, S_DOMAIN, S_DOMAIN_LEN);
    const char *who = c->complainant ? c->complainant : "";
    macx_record_hash_len (&st, who, strlen (who));
    macx_record_hash_len (&st, c->envelope.data, c->envelope.len);
    macx_record_hash_len (&st, c->content_key.data, c->content_key.len);
    macx_record_hash_u64 (&st, (uint64_t) c->time_ms);
    crypto_generichash_final (&st, out, 64);
}

void
macx_record_complaint_free (uint8_t **buf_p, size_t len)
{
    if (buf_p && *buf_p) {
        sodium_memzero (*buf_p, len);
        free (*buf_p);
        *buf_p = NULL;
    }
}

int
macx_record_complaint_sign (macx_identity_t *self, const uint8_t *buf, size_t len,
                            const uint8_t key[MACX_CONTENT_KEY_BYTES], int64_t time_ms,
                            uint8_t **out, size_t *outlen, macx_error_t *err)
{
    *out = NULL;
    *outlen = 0;
    if (len > MACX_RECORD_MAX)
        return macx_error_set (err, MACX_ETOOBIG, "record of %zu bytes is over the limit of %u",
                               len, MACX_RECORD_MAX);
    Macx__Complaint c = MACX__COMPLAINT__INIT;
    uint8_t digest[64], sig[MACX_SIG_BYTES];
    c.complainant = (char *) macx_identity_agency (self)->id;
    c.envelope = (ProtobufCBinaryData) { len, (uint8_t *) buf };
    c.content_key = (ProtobufCBinaryData) { MACX_CONTENT_KEY_BYTES, (uint8_t *) key };
    c.time_ms = time_ms;
    macx_record_complaint_digest (&c, digest);
    if (macx_identity_sign (self, digest, sizeof digest, sig))
        return macx_error_set (err, MACX_ECRYPTO, "signing the complaint failed");
    c.signature = (ProtobufCBinaryData) { sizeof sig, sig };
    size_t n = macx__complaint__get_packed_size (&c);
    uint8_t *packed = malloc (n);
    if (!packed)
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    macx__complaint__pack (&c, packed);
    *out = packed;
    *outlen = n;
    return MACX_OK;
}

int
macx_record_complaint_make (macx_identity_t *self, const macx_registry_t *registry,
                            const uint8_t *buf, size_t len, int64_t time_ms, uint8_t **out,
                            size_t *outlen, macx_error_t *err)
{
    *out = NULL;
    *outlen = 0;
    macx_record_t *rec = NULL;
    uint8_t key[MACX_CONTENT_KEY_BYTES];
    int rc = macx_record_decode (buf, len, &rec, err);
    if (rc == MACX_OK)
        rc = macx_record_check_evidence (registry, rec, err);
    if (rc == MACX_OK)
        rc = macx_record_unwrap (self, registry, rec, key, err);
    if (rc) {
        macx_error_prefix (err, "nothing to complain about: not a record this recipient can "
                           "show to be its sender's");
        macx_record_destroy (&rec);
        return err ? (err->code = MACX_EINVAL) : MACX_EINVAL;
    }
    macx_error_t why = { 0 };
    rc = macx_record_open_with_key (rec, key, &why);
    if (rc == MACX_OK) {
        macx_manifest_diff_t d;
        int n = macx_record_manifest_diff (macx_record_header (rec), macx_record_payload (rec), &d,
                                           &why);
        if (n == 0)
            rc = macx_error_set (err, MACX_EINVAL, "nothing to complain about: the payload matches "
                                 "its manifest");
        else
            rc = MACX_OK;   /* a difference, or a payload that cannot be compared */
    }
    else if (rc == MACX_EDECODE)
        rc = MACX_OK;       /* the sender sealed a payload that does not decode */
    else if (err) {
        *err = why;
        macx_error_prefix (err, "nothing to complain about");
        rc = err->code = MACX_EINVAL;
    }
    else
        rc = MACX_EINVAL;
    if (rc == MACX_OK)
        rc = macx_record_complaint_sign (self, buf, len, key, time_ms, out, outlen, err);
    sodium_memzero (key, sizeof key);
    macx_record_destroy (&rec);
    return rc;
}

/* ---- the broker's check ---------------------------------------------------- */

void
macx_record_complaint_check (const macx_registry_t *registry, const char *peer, const uint8_t *buf,
                             size_t len, macx_complaint_check_t *c)
{
    memset (c, 0, sizeof *c);
    c->verdict = MACX_COMPLAINT_REFUSED;
    /* Bound before we parse: an envelope at its limit and the rest. */
    if (len > MACX_RECORD_MAX + 4096) {
        macx_error_set (&c->why, MACX_ETOOBIG, "complaint of %zu bytes is over the limit of %u",
                        len, MACX_RECORD_MAX + 4096);
        return;
    }
    c->complaint = macx__complaint__unpack (NULL, len, buf);
    if (!c->complaint) {
        macx_error_set (&c->why, MACX_EDECODE, "complaint does not decode");
        return;
    }
    const Macx__Complaint *m = c->complaint;
    if (macx_record_canonical (&m->base, buf, len, "complaint", &c->why))
        return;
    if (strcmp (m->complainant, peer) != 0) {
        macx_error_set (&c->why, MACX_EPROTO, "complaint names complainant '%.40s' but the "
                        "connection is authenticated as '%s'", m->complainant, peer);
        return;
    }
    if (m->signature.len != MACX_SIG_BYTES || m->content_key.len != MACX_CONTENT_KEY_BYTES
        || m->envelope.len == 0) {
        macx_error_set (&c->why, MACX_EDECODE, "complaint from %s lacks its envelope, or its "
                        "content key or signature has the wrong size", peer);
        return;
    }
    /* The record first (its id for the audit, whatever else fails), its
     * failure reported after the complainant's signature. */
    macx_error_t bad_record = { 0 };
    macx_record_decode (m->envelope.data, m->envelope.len, &c->record, &bad_record);
    const macx_agency_t *who = macx_registry_find (registry, peer);
    if (!who) {
        macx_error_set (&c->why, MACX_EUNKNOWN, "complainant '%s' is not a registered agency",
                        peer);
        return;
    }
    if (who->revoked) {
        macx_error_set (&c->why, MACX_EREVOKED, "complainant '%s' is revoked", peer);
        return;
    }
    uint8_t digest[64];
    macx_record_complaint_digest (m, digest);
    if (macx_keys_verify (who, digest, sizeof digest, m->signature.data) != MACX_OK) {
        macx_error_set (&c->why, MACX_EBADSIG, "bad complaint signature from %s", peer);
        return;
    }
    /* The evidence: the sender's record, as the sender signed it. */
    if (!c->record) {
        c->why = bad_record;
        macx_error_prefix (&c->why, "the complaint's record");
        return;
    }
    if (macx_record_check_evidence (registry, c->record, &c->why)) {
        macx_error_prefix (&c->why, "the complaint's record is not its sender's");
        return;
    }
    int rc = macx_record_open_with_key (c->record, m->content_key.data, &c->why);
    if (rc == MACX_ENOMEM)
        return;
    if (rc == MACX_EDECRYPT) {
        c->verdict = MACX_COMPLAINT_KEY_INVALID;
        macx_error_set (&c->why, MACX_EDECRYPT, "the content key given does not open the payload "
                        "of the record from %s", macx_record_header (c->record)->sender);
        return;
    }
    c->verdict = MACX_COMPLAINT_UPHELD;
    if (rc) {   /* the right key (it authenticated), and a payload that does not decode */
        c->broken = true;
        return;
    }
    memset (&c->why, 0, sizeof c->why);
    int n = macx_record_manifest_diff (macx_record_header (c->record), macx_record_payload (c->record),
                                       &c->diff, &c->why);
    if (n < 0)
        c->broken = true;
    else if (n == 0)
        c->verdict = MACX_COMPLAINT_UNFOUNDED;
}

void
macx_record_complaint_check_clear (macx_complaint_check_t *c)
{
    if (c->complaint) {
        /* the content key: a secret of that record, not to linger in freed memory */
        if (c->complaint->content_key.data)
            sodium_memzero (c->complaint->content_key.data, c->complaint->content_key.len);
        macx__complaint__free_unpacked (c->complaint, NULL);
    }
    macx_record_destroy (&c->record);
    memset (c, 0, sizeof *c);
}
