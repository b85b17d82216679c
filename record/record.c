/* record.c -- seal, verify and open records. Owns the signed-digest layout
 * (the canonical bytes a signature covers); never holds a secret key: keys/
 * signs, wraps and unwraps for it. */
#include "record.h"
#include "record_int.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "names.h"

#define S_NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define S_TAG_BYTES   crypto_aead_xchacha20poly1305_ietf_ABYTES
#define S_HEADER_MAX  (64u * 1024u)

struct macx_record_t {
    Macx__Envelope *envelope;
    Macx__Header *header;
    Macx__Payload *payload;
    int verified;              /* signature checked against the registry */
    uint8_t signer_pk[MACX_KEY_BYTES];   /* the key that checked it */
};

/* The first field m or a message inside it carries that its schema does not
 * know (protobuf-c keeps such fields, and packs them again), as its tag, or
 * 0 if none. `size` gets its length. */
static uint32_t
s_unknown_field (const ProtobufCMessage *m, size_t *size)
{
    if (m->n_unknown_fields) {
        *size = m->unknown_fields[0].len;
        return m->unknown_fields[0].tag;
    }
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *at = (const char *) m + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *) ((const char *) m + f->quantifier_offset);
            ProtobufCMessage *const *items = *(ProtobufCMessage *const *const *) at;
            for (size_t k = 0; k < n; k++) {
                uint32_t tag = items[k] ? s_unknown_field (items[k], size) : 0;
                if (tag)
                    return tag;
            }
        }
        else {
            const ProtobufCMessage *sub = *(const ProtobufCMessage *const *) at;
            uint32_t tag = sub ? s_unknown_field (sub, size) : 0;
            if (tag)
                return tag;
        }
    }
    return 0;
}

/* Only the canonical encoding of m is accepted, with no field its schema
 * does not know: the signature covers the envelope's decoded fields and the
 * header's bytes, so any other byte would ride along unsigned, or signed
 * but never checked, audited or shown. */
static int
s_canonical (const ProtobufCMessage *m, const uint8_t *buf, size_t len, const char *what,
             macx_error_t *err)
{
    size_t size = 0;
    uint32_t tag = s_unknown_field (m, &size);
    if (tag)
        return macx_error_set (err, MACX_EDECODE, "%s carries a field macx does not know (field "
                               "%u, %zu bytes): only known fields are accepted", what, tag, size);
    if (protobuf_c_message_get_packed_size (m) != len)
        return macx_error_set (err, MACX_EDECODE, "%s is not canonically encoded (padding or "
                               "non-minimal encoding)", what);
    uint8_t small[4096];   /* most envelopes, headers and payloads fit: no malloc */
    uint8_t *again = len <= sizeof small ? small : malloc (len ? len : 1);
    bool same = again && protobuf_c_message_pack (m, again) == len && memcmp (again, buf, len) == 0;
    if (again != small)
        free (again);
    if (!again)
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    return same ? MACX_OK
                : macx_error_set (err, MACX_EDECODE, "%s is not canonically encoded (fields out "
                                  "of order or repeated)", what);
}

int
macx_record_canonical (const ProtobufCMessage *m, const uint8_t *buf, size_t len, const char *what,
                       macx_error_t *err)
{
    return s_canonical (m, buf, len, what, err);
}

void
macx_record_destroy (macx_record_t **self_p)
{
    if (self_p && *self_p) {
        macx_record_t *self = *self_p;
        if (self->payload)
            macx__payload__free_unpacked (self->payload, NULL);
        if (self->header)
            macx__header__free_unpacked (self->header, NULL);
        if (self->envelope)
            macx__envelope__free_unpacked (self->envelope, NULL);
        free (self);
        *self_p = NULL;
    }
}

const Macx__Header *macx_record_header (const macx_record_t *self) { return self->header; }
const Macx__Payload *macx_record_payload (const macx_record_t *self) { return self->payload; }
const Macx__Envelope *macx_record_envelope (const macx_record_t *self) { return self->envelope; }
int macx_record_verified (const macx_record_t *self) { return self->verified; }

bool
macx_record_signed_by (const macx_record_t *self, const macx_agency_t *a)
{
    return self->verified && a && memcmp (self->signer_pk, a->sign_pk, MACX_KEY_BYTES) == 0;
}

/* ---- header checks ----------------------------------------------------- */

/* Header strings are printable ASCII without quotes or backslashes, so that
 * they can go into logs and the audit log without escaping surprises. */
static int
s_check_string (const char *what, const char *s, int required, macx_error_t *err)
{
    size_t len = s ? strlen (s) : 0;
    if (required && len == 0)
        return macx_error_set (err, MACX_EHEADER, "header has no %s", what);
    if (len > MACX_HEADER_STRING_MAX)
        return macx_error_set (err, MACX_ELIMIT, "header %s is %zu bytes, over the limit of %d",
                               what, len, MACX_HEADER_STRING_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
            return macx_error_set (err, MACX_EHEADER, "header %s has a character not allowed (0x%02x)",
                                   what, c);
    }
    return MACX_OK;
}

static int
s_check_name (const char *what, const char *s, macx_error_t *err)
{
    size_t len = s ? strlen (s) : 0;
    if (len == 0 || len > MACX_FIELD_NAME_MAX)
        return macx_error_set (err, MACX_EHEADER, "%s '%.64s' must be 1 to %d characters", what,
                               s ? s : "", MACX_FIELD_NAME_MAX);
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
            return macx_error_set (err, MACX_EHEADER, "%s '%.64s' may hold only a-z, 0-9, '_', '.'",
                                   what, s);
    }
    return MACX_OK;
}

int
macx_record_check_header (const Macx__Header *h, macx_error_t *err)
{
    int rc;
    if (h->version != MACX_RECORD_VERSION)
        return macx_error_set (err, MACX_EVERSION, "header version %u is not supported (want %d)",
                               h->version, MACX_RECORD_VERSION);
    if (h->record_id.len != MACX_RECORD_ID_BYTES)
        return macx_error_set (err, MACX_EHEADER, "record id is %zu bytes, want %d",
                               h->record_id.len, MACX_RECORD_ID_BYTES);
    if (macx_keys_check_id (h->sender, err)) {
        macx_error_prefix (err, "header sender");
        return err ? (err->code = MACX_EHEADER) : MACX_EHEADER;
    }
    if (h->n_recipients == 0)
        return macx_error_set (err, MACX_EHEADER, "header names no recipient");
    if (h->n_recipients > MACX_RECIPIENTS_MAX)
        return macx_error_set (err, MACX_ELIMIT, "header names %zu recipients, over the limit of %d",
                               h->n_recipients, MACX_RECIPIENTS_MAX);
    for (size_t i = 0; i < h->n_recipients; i++) {
        if (macx_keys_check_id (h->recipients[i], err)) {
            macx_error_prefix (err, "header recipient");
            return err ? (err->code = MACX_EHEADER) : MACX_EHEADER;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp (h->recipients[i], h->recipients[j]) == 0)
                return macx_error_set (err, MACX_EHEADER, "recipient '%s' is listed twice",
                                       h->recipients[i]);
    }
    if (h->sequence == 0)
        return macx_error_set (err, MACX_EHEADER, "header sequence must start at 1");
    if (h->phase < MACX__PHASE__IDENTIFICATION || h->phase > MACX__PHASE__PANEL)
        return macx_error_set (err, MACX_EHEADER, "header phase %d is not a MAC phase", h->phase);
    if (h->case_phase < 0 || h->case_phase > MACX__PHASE__PANEL)
        return macx_error_set (err, MACX_EHEADER, "header case phase %d is not a MAC phase",
                               h->case_phase);
    if ((rc = s_check_string ("subject", h->subject, 1, err))
        || (rc = s_check_string ("case id", h->case_id, 1, err))
        || (rc = s_check_name ("record type", h->record_type, err))
        || (rc = s_check_string ("purpose", h->purpose, 1, err))
        || (rc = s_check_string ("legal basis", h->legal_basis, 0, err))
        || (rc = s_check_string ("origin record type", h->origin_record_type, 0, err)))
        return rc;
    if (h->origin && *h->origin && macx_keys_check_id (h->origin, err)) {
        macx_error_prefix (err, "header origin");
        return err ? (err->code = MACX_EHEADER) : MACX_EHEADER;
    }
    if (h->n_manifest > MACX_MANIFEST_MAX)
        return macx_error_set (err, MACX_ELIMIT, "manifest lists %zu fields, over the limit of %d",
                               h->n_manifest, MACX_MANIFEST_MAX);
    for (size_t i = 0; i < h->n_manifest; i++) {
        const Macx__FieldEntry *f = h->manifest[i];
        if ((rc = s_check_name ("manifest field", f->name, err)))
            return rc;
        if (f->transform && *f->transform && !macx_record_transform_known (f->transform))
            return macx_error_set (err, MACX_EHEADER, "manifest field '%s' has unknown transform '%.40s'",
                                   f->name, f->transform);
        for (size_t j = 0; j < i; j++)
            if (strcmp (f->name, h->manifest[j]->name) == 0)
                return macx_error_set (err, MACX_EHEADER, "manifest lists field '%s' twice", f->name);
    }
    return MACX_OK;
}

/* ---- the signed digest ------------------------------------------------- */

void
macx_record_hash_u64 (crypto_generichash_state *st, uint64_t n)
{
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t) (n >> (8 * i));
    crypto_generichash_update (st, le, sizeof le);
}

void
macx_record_hash_len (crypto_generichash_state *st, const void *data, size_t len)
{
    macx_record_hash_u64 (st, len);
    if (len)
        crypto_generichash_update (st, data, len);
}

/* BLAKE2b-512 over a domain tag and every envelope field but the signature,
 * each length-prefixed, so no two envelopes share a digest. */
static void
s_digest (const Macx__Envelope *env, uint8_t out[64])
{
    crypto_generichash_state st;
    crypto_generichash_init (&st, NULL, 0, 64);
    macx_record_hash_len (&st, "macx-record-v1", 14);
    macx_record_hash_u64 (&st, env->version);
    macx_record_hash_len (&st, env->header.data, env->header.len);
    macx_record_hash_len (&st, env->nonce.data, env->nonce.len);
    macx_record_hash_len (&st, env->ciphertext.data, env->ciphertext.len);
    macx_record_hash_u64 (&st, env->n_wraps);
    for (size_t i = 0; i < env->n_wraps; i++) {
        const Macx__KeyWrap *w = env->wraps[i];
        macx_record_hash_len (&st, w->recipient, strlen (w->recipient));
        macx_record_hash_len (&st, w->nonce.data, w->nonce.len);
        macx_record_hash_len (&st, w->wrapped.data, w->wrapped.len);
    }
    crypto_generichash_final (&st, out, 64);
}

/* Associated data of a key wrap: record id, sender, recipient. */
static size_t
s_wrap_ad (const Macx__Header *h, const char *recipient, uint8_t *ad, size_t size)
{
    size_t sl = strlen (h->sender), rl = strlen (recipient);
    size_t n = MACX_RECORD_ID_BYTES + sl + 1 + rl;
    if (n > size)
        return 0;
    memcpy (ad, h->record_id.data, MACX_RECORD_ID_BYTES);
    memcpy (ad + MACX_RECORD_ID_BYTES, h->sender, sl + 1);
    memcpy (ad + MACX_RECORD_ID_BYTES + sl + 1, recipient, rl);
    return n;
}

/* ---- seal -------------------------------------------------------------- */

void
macx_record_new_id (uint8_t id[MACX_RECORD_ID_BYTES])
{
    uint64_t ms = (uint64_t) macx_clock_wall_ms ();
    for (int i = 5; i >= 0; i--, ms >>= 8)
        id[i] = (uint8_t) ms;
    randombytes_buf (id + 6, MACX_RECORD_ID_BYTES - 6);
}

void
macx_sealed_clear (macx_sealed_t *s)
{
    free (s->header);
    free (s->cipher);
    free (s->wraps);
    memset (s, 0, sizeof *s);
}

/* Everything of a sealed record but its signature: header packed, payload
 * encrypted under a fresh key, that key wrapped for every recipient, and
 * the digest a signature (or a batch leaf) covers. */
static int
s_seal_unsigned (macx_identity_t *self, const macx_registry_t *registry, Macx__Header *header,
                 const Macx__Payload *payload, bool check_manifest, macx_sealed_t *out,
                 macx_error_t *err)
{
    memset (out, 0, sizeof *out);
    const macx_agency_t *me = macx_identity_agency (self);
    header->version = MACX_RECORD_VERSION;
    header->sender = (char *) me->id;
    if (header->created_ms == 0)
        header->created_ms = macx_clock_wall_ms ();
    int rc = macx_record_check_header (header, err);
    if (rc == MACX_OK && check_manifest)
        rc = macx_record_check_manifest (header, payload, err);
    if (rc)
        return rc;
    const macx_agency_t *peers[MACX_RECIPIENTS_MAX];
    for (size_t i = 0; i < header->n_recipients; i++) {
        peers[i] = macx_registry_find (registry, header->recipients[i]);
        if (!peers[i])
            return macx_error_set (err, MACX_EUNKNOWN, "recipient '%s' is not a registered agency",
                                   header->recipients[i]);
        if (peers[i]->revoked)
            return macx_error_set (err, MACX_EREVOKED, "recipient '%s' is revoked", peers[i]->id);
    }

    size_t hlen = macx__header__get_packed_size (header);
    size_t plen = macx__payload__get_packed_size (payload);
    if (hlen > S_HEADER_MAX || plen + hlen + 4096 + header->n_recipients * 128 > MACX_RECORD_MAX)
        return macx_error_set (err, MACX_ETOOBIG, "record of %zu bytes is over the limit of %u",
                               plen + hlen, MACX_RECORD_MAX);
    /* The per-record key and plaintext are wiped before they are freed;
     * sodium_malloc (an mmap and mprotect each) is kept for long-lived
     * secrets in keys/, where it costs once, not per record. */
    uint8_t *plain = malloc (plen ? plen : 1);
    uint8_t key[MACX_KEY_BYTES];
    out->header = malloc (hlen ? hlen : 1);
    out->cipher = malloc (plen + S_TAG_BYTES);
    out->wraps = calloc (header->n_recipients ? header->n_recipients : 1, sizeof *out->wraps);
    if (!plain || !out->header || !out->cipher || !out->wraps) {
        rc = macx_error_set (err, MACX_ENOMEM, "out of memory sealing a record");
        goto done;
    }
    out->header_len = hlen;
    macx__header__pack (header, out->header);
    macx__payload__pack (payload, plain);
    /* the key and the nonce from one draw: one getrandom call, not two */
    uint8_t fresh[MACX_KEY_BYTES + sizeof out->nonce];
    randombytes_buf (fresh, sizeof fresh);
    memcpy (key, fresh, MACX_KEY_BYTES);
    memcpy (out->nonce, fresh + MACX_KEY_BYTES, sizeof out->nonce);
    sodium_memzero (fresh, sizeof fresh);
    unsigned long long clen;
    crypto_aead_xchacha20poly1305_ietf_encrypt (out->cipher, &clen, plain, plen, out->header,
                                                hlen, NULL, out->nonce, key);
    out->cipher_len = (size_t) clen;
    for (size_t i = 0; i < header->n_recipients; i++) {
        uint8_t ad[MACX_RECORD_ID_BYTES + 2 * (MACX_AGENCY_ID_MAX + 1)];
        size_t adlen = s_wrap_ad (header, peers[i]->id, ad, sizeof ad);
        if (macx_identity_wrap (self, peers[i], ad, adlen, key, out->wraps[i].nonce,
                                out->wraps[i].wrapped)) {
            rc = macx_error_set (err, MACX_ECRYPTO, "cannot wrap the payload key for '%s'",
                                 peers[i]->id);
            goto done;
        }
        out->wraps[i].recipient = peers[i]->id;   /* the registry outlives the record */
    }
    out->nwraps = header->n_recipients;
    Macx__KeyWrap wraps[MACX_RECIPIENTS_MAX], *wrap_ptrs[MACX_RECIPIENTS_MAX];
    Macx__Envelope env;
    macx_sealed_envelope (out, &env, wraps, wrap_ptrs);
    s_digest (&env, out->digest);
    rc = MACX_OK;
done:
    if (plain) {
        sodium_memzero (plain, plen ? plen : 1);
        free (plain);
    }
    sodium_memzero (key, sizeof key);
    if (rc)
        macx_sealed_clear (out);
    return rc;
}

int
macx_record_seal_unsigned (macx_identity_t *self, const macx_registry_t *registry,
                           Macx__Header *header, const Macx__Payload *payload, macx_sealed_t *out,
                           macx_error_t *err)
{
    return s_seal_unsigned (self, registry, header, payload, true, out, err);
}

/* Points env (and the caller's wraps arrays, MACX_RECIPIENTS_MAX long) at
 * s: an unsigned envelope, borrowing everything. */
void
macx_sealed_envelope (const macx_sealed_t *s, Macx__Envelope *env, Macx__KeyWrap *wraps,
                      Macx__KeyWrap **wrap_ptrs)
{
    macx__envelope__init (env);
    env->version = MACX_RECORD_VERSION;
    env->header = (ProtobufCBinaryData) { s->header_len, s->header };
    env->nonce = (ProtobufCBinaryData) { sizeof s->nonce, (uint8_t *) s->nonce };
    env->ciphertext = (ProtobufCBinaryData) { s->cipher_len, s->cipher };
    for (size_t i = 0; i < s->nwraps; i++) {
        macx__key_wrap__init (&wraps[i]);
        wraps[i].recipient = (char *) s->wraps[i].recipient;
        wraps[i].nonce = (ProtobufCBinaryData) { MACX_WRAP_NONCE, (uint8_t *) s->wraps[i].nonce };
        wraps[i].wrapped = (ProtobufCBinaryData) { MACX_WRAP_BYTES, (uint8_t *) s->wraps[i].wrapped };
        wrap_ptrs[i] = &wraps[i];
    }
    env->n_wraps = s->nwraps;
    env->wraps = wrap_ptrs;
}

/* Packs env into a new buffer. */
int
macx_envelope_pack (const Macx__Envelope *env, uint8_t **out, size_t *outlen, macx_error_t *err)
{
    size_t elen = macx__envelope__get_packed_size (env);
    uint8_t *packed = malloc (elen);
    if (!packed)
        return macx_error_set (err, MACX_ENOMEM, "out of memory sealing a record");
    macx__envelope__pack (env, packed);
    *out = packed;
    *outlen = elen;
    return MACX_OK;
}

static int
s_seal (macx_identity_t *self, const macx_registry_t *registry, Macx__Header *header,
        const Macx__Payload *payload, bool check_manifest, uint8_t **out, size_t *outlen,
        macx_error_t *err)
{
    *out = NULL;
    *outlen = 0;
    macx_sealed_t sealed;
    int rc = s_seal_unsigned (self, registry, header, payload, check_manifest, &sealed, err);
    if (rc)
        return rc;
    uint8_t sig[MACX_SIG_BYTES];
    if (macx_identity_sign (self, sealed.digest, sizeof sealed.digest, sig))
        rc = macx_error_set (err, MACX_ECRYPTO, "signing failed");
    else {
        Macx__KeyWrap wraps[MACX_RECIPIENTS_MAX], *wrap_ptrs[MACX_RECIPIENTS_MAX];
        Macx__Envelope env;
        macx_sealed_envelope (&sealed, &env, wraps, wrap_ptrs);
        env.signature = (ProtobufCBinaryData) { sizeof sig, sig };
        rc = macx_envelope_pack (&env, out, outlen, err);
    }
    macx_sealed_clear (&sealed);
    return rc;
}

int
macx_record_seal (macx_identity_t *self, const macx_registry_t *registry, Macx__Header *header,
                  const Macx__Payload *payload, uint8_t **out, size_t *outlen, macx_error_t *err)
{
    return s_seal (self, registry, header, payload, true, out, outlen, err);
}

int
macx_record_seal_forged (macx_identity_t *self, const macx_registry_t *registry,
                         Macx__Header *header, const Macx__Payload *payload, uint8_t **out,
                         size_t *outlen, macx_error_t *err)
{
    return s_seal (self, registry, header, payload, false, out, outlen, err);
}

/* ---- verify and open --------------------------------------------------- */

static int
s_check_envelope (const Macx__Envelope *env, const Macx__Header *h, macx_error_t *err)
{
    if (env->nonce.len != S_NONCE_BYTES)
        return macx_error_set (err, MACX_EDECODE, "envelope nonce is %zu bytes, want %d",
                               env->nonce.len, S_NONCE_BYTES);
    if (env->ciphertext.len < S_TAG_BYTES)
        return macx_error_set (err, MACX_ETRUNC, "envelope ciphertext is shorter than its tag");
    if (env->batch) {
        if (env->signature.len)
            return macx_error_set (err, MACX_EDECODE, "envelope has both a signature and a "
                                   "batch proof");
        int rc = macx_batch_check_shape (env->batch, err);
        if (rc)
            return rc;
    }
    else if (env->signature.len != MACX_SIG_BYTES)
        return macx_error_set (err, MACX_EDECODE, "envelope signature is %zu bytes, want %d",
                               env->signature.len, MACX_SIG_BYTES);
    if (env->n_wraps != h->n_recipients)
        return macx_error_set (err, MACX_EDECODE, "envelope has %zu key wraps for %zu recipients",
                               env->n_wraps, h->n_recipients);
    for (size_t i = 0; i < env->n_wraps; i++) {
        const Macx__KeyWrap *w = env->wraps[i];
        if (strcmp (w->recipient, h->recipients[i]) != 0)
            return macx_error_set (err, MACX_EDECODE, "key wrap %zu is for '%.40s', not recipient '%s'",
                                   i, w->recipient, h->recipients[i]);
        if (w->nonce.len != MACX_WRAP_NONCE || w->wrapped.len != MACX_WRAP_BYTES)
            return macx_error_set (err, MACX_EDECODE, "key wrap for '%s' has the wrong size",
                                   h->recipients[i]);
    }
    return MACX_OK;
}

int
macx_record_decode (const uint8_t *buf, size_t len, macx_record_t **record, macx_error_t *err)
{
    *record = NULL;
    if (len == 0)
        return macx_error_set (err, MACX_ETRUNC, "record is empty");
    if (len > MACX_RECORD_MAX)
        return macx_error_set (err, MACX_ETOOBIG, "record of %zu bytes is over the limit of %u",
                               len, MACX_RECORD_MAX);
    macx_record_t *self = calloc (1, sizeof *self);
    if (!self)
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    int rc;
    self->envelope = macx__envelope__unpack (NULL, len, buf);
    if (!self->envelope) {
        rc = macx_error_set (err, MACX_EDECODE, "record does not decode as an envelope "
                                                "(truncated or malformed)");
        goto fail;
    }
    Macx__Envelope *env = self->envelope;
    if ((rc = s_canonical (&env->base, buf, len, "record envelope", err)))
        goto fail;
    if (env->version != MACX_RECORD_VERSION) {
        rc = macx_error_set (err, MACX_EVERSION, "envelope version %u is not supported (want %d)",
                             env->version, MACX_RECORD_VERSION);
        goto fail;
    }
    if (env->header.len == 0 || env->header.len > S_HEADER_MAX) {
        rc = macx_error_set (err, env->header.len ? MACX_ETOOBIG : MACX_ETRUNC,
                             "envelope header is %zu bytes", env->header.len);
        goto fail;
    }
    self->header = macx__header__unpack (NULL, env->header.len, env->header.data);
    if (!self->header) {
        rc = macx_error_set (err, MACX_EDECODE, "record header does not decode");
        goto fail;
    }
    if ((rc = s_canonical (&self->header->base, env->header.data, env->header.len,
                           "record header", err)))
        goto fail;
    if ((rc = macx_record_check_header (self->header, err))
        || (rc = s_check_envelope (env, self->header, err)))
        goto fail;
    *record = self;
    return MACX_OK;
fail:
    macx_record_destroy (&self);
    return rc;
}

static int
s_check_signature (const macx_registry_t *registry, macx_root_cache_t *cache, macx_record_t *self,
                   bool revoked_ok, macx_error_t *err)
{
    const macx_agency_t *sender = macx_registry_find (registry, self->header->sender);
    if (!sender)
        return macx_error_set (err, MACX_EUNKNOWN, "unknown sender '%s'", self->header->sender);
    if (sender->revoked && !revoked_ok)
        return macx_error_set (err, MACX_EREVOKED, "sender '%s' is revoked", sender->id);
    uint8_t digest[64];
    s_digest (self->envelope, digest);
    if (self->envelope->batch) {
        int rc = macx_batch_check (cache, self->envelope, sender, digest, err);
        if (rc)
            return rc;
    }
    else if (macx_keys_verify (sender, digest, sizeof digest, self->envelope->signature.data)
             != MACX_OK)
        return macx_error_set (err, MACX_EBADSIG, "bad signature from %s", sender->id);
    self->verified = 1;
    memcpy (self->signer_pk, sender->sign_pk, MACX_KEY_BYTES);
    return MACX_OK;
}

int
macx_record_check_signature_cached (const macx_registry_t *registry, macx_root_cache_t *cache,
                                    macx_record_t *self, macx_error_t *err)
{
    return s_check_signature (registry, cache, self, false, err);
}

int
macx_record_check_evidence (const macx_registry_t *registry, macx_record_t *self,
                            macx_error_t *err)
{
    return s_check_signature (registry, NULL, self, true, err);
}

int
macx_record_check_signature (const macx_registry_t *registry, macx_record_t *self,
                             macx_error_t *err)
{
    return macx_record_check_signature_cached (registry, NULL, self, err);
}

int
macx_record_verify (const macx_registry_t *registry, const uint8_t *buf, size_t len,
                    macx_record_t **record, macx_error_t *err)
{
    macx_record_t *self = NULL;
    int rc = macx_record_decode (buf, len, &self, err);
    if (rc == MACX_OK && (rc = macx_record_check_signature (registry, self, err)))
        macx_record_destroy (&self);
    *record = self;
    return rc;
}

int
macx_record_open (macx_identity_t *me, const macx_registry_t *registry, const uint8_t *buf,
                  size_t len, macx_record_t **record, macx_error_t *err)
{
    return macx_record_open_cached (me, registry, NULL, buf, len, record, err);
}

int
macx_record_unwrap (macx_identity_t *me, const macx_registry_t *registry,
                    const macx_record_t *self, uint8_t key[MACX_KEY_BYTES], macx_error_t *err)
{
    const Macx__Header *h = self->header;
    const char *my_id = macx_identity_agency (me)->id;
    size_t slot = h->n_recipients;
    for (size_t i = 0; i < h->n_recipients; i++)
        if (strcmp (h->recipients[i], my_id) == 0)
            slot = i;
    if (slot == h->n_recipients)
        return macx_error_set (err, MACX_ENOTRECIPIENT, "not a recipient: %s is not among the %zu "
                               "recipients of this record from %s", my_id, h->n_recipients,
                               h->sender);
    const macx_agency_t *sender = macx_registry_find (registry, h->sender);
    if (!sender)
        return macx_error_set (err, MACX_EUNKNOWN, "unknown sender '%s'", h->sender);
    uint8_t ad[MACX_RECORD_ID_BYTES + 2 * (MACX_AGENCY_ID_MAX + 1)];
    size_t adlen = s_wrap_ad (h, my_id, ad, sizeof ad);
    const Macx__KeyWrap *w = self->envelope->wraps[slot];
    if (macx_identity_unwrap (me, sender, ad, adlen, w->nonce.data, w->wrapped.data, key)) {
        sodium_memzero (key, MACX_KEY_BYTES);
        return macx_error_set (err, MACX_EDECRYPT, "the payload key wrapped for %s by %s does not "
                               "open", my_id, h->sender);
    }
    return MACX_OK;
}

int
macx_record_open_with_key (macx_record_t *self, const uint8_t key[MACX_KEY_BYTES],
                           macx_error_t *err)
{
    const Macx__Header *h = self->header;
    const Macx__Envelope *env = self->envelope;
    size_t plen = env->ciphertext.len - S_TAG_BYTES;
    uint8_t *plain = malloc (plen ? plen : 1);
    if (!plain)
        return macx_error_set (err, MACX_ENOMEM, "out of memory opening a record");
    int rc = MACX_OK;
    unsigned long long got;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt (plain, &got, NULL, env->ciphertext.data,
                                                    env->ciphertext.len, env->header.data,
                                                    env->header.len, env->nonce.data, key) != 0) {
        rc = macx_error_set (err, MACX_EDECRYPT, "payload from %s does not decrypt", h->sender);
        goto done;
    }
    Macx__Payload *payload = macx__payload__unpack (NULL, (size_t) got, plain);
    if (!payload) {
        rc = macx_error_set (err, MACX_EDECODE, "payload from %s does not decode", h->sender);
        goto done;
    }
    if ((rc = s_canonical (&payload->base, plain, (size_t) got, "payload", err))) {
        macx__payload__free_unpacked (payload, NULL);
        goto done;
    }
    if (self->payload)
        macx__payload__free_unpacked (self->payload, NULL);
    self->payload = payload;
done:
    sodium_memzero (plain, plen ? plen : 1);
    free (plain);
    return rc;
}

int
macx_record_content_key (macx_identity_t *me, const macx_registry_t *registry, const uint8_t *buf,
                         size_t len, uint8_t key[MACX_CONTENT_KEY_BYTES], macx_error_t *err)
{
    macx_record_t *self = NULL;
    int rc = macx_record_decode (buf, len, &self, err);
    if (rc == MACX_OK)
        rc = macx_record_unwrap (me, registry, self, key, err);
    macx_record_destroy (&self);
    return rc;
}

int
macx_record_open_cached (macx_identity_t *me, const macx_registry_t *registry,
                         macx_root_cache_t *cache, const uint8_t *buf, size_t len,
                         macx_record_t **record, macx_error_t *err)
{
    *record = NULL;
    macx_record_t *self = NULL;
    int rc = macx_record_decode (buf, len, &self, err);
    if (rc == MACX_OK && (rc = macx_record_check_signature_cached (registry, cache, self, err)))
        macx_record_destroy (&self);
    if (rc)
        return rc;
    uint8_t key[MACX_KEY_BYTES];
    rc = macx_record_unwrap (me, registry, self, key, err);
    if (rc == MACX_OK)
        rc = macx_record_open_with_key (self, key, err);
    sodium_memzero (key, sizeof key);
    if (rc == MACX_OK)
        rc = macx_record_check_manifest (self->header, self->payload, err);
    if (rc)
        macx_record_destroy (&self);
    *record = self;
    return rc;
}
