/* record_int.h -- what record.c and batch.c share: a record sealed but not
 * yet signed, and the batch proof check. Not for other modules. */
#ifndef MACX_RECORD_INT_H
#define MACX_RECORD_INT_H

#include <sodium.h>

#include "record.h"

typedef struct {
    uint8_t *header;               /* packed Header */
    size_t header_len;
    uint8_t nonce[24];
    uint8_t *cipher;               /* payload + tag */
    size_t cipher_len;
    struct {
        const char *recipient;     /* borrowed from the registry */
        uint8_t nonce[MACX_WRAP_NONCE];
        uint8_t wrapped[MACX_WRAP_BYTES];
    } *wraps;
    size_t nwraps;
    uint8_t digest[64];            /* what a signature, or a batch leaf, covers */
} macx_sealed_t;

int macx_record_seal_unsigned (macx_identity_t *self, const macx_registry_t *registry,
                               Macx__Header *header, const Macx__Payload *payload,
                               macx_sealed_t *out, macx_error_t *err);
void macx_sealed_clear (macx_sealed_t *s);
void macx_sealed_envelope (const macx_sealed_t *s, Macx__Envelope *env, Macx__KeyWrap *wraps,
                           Macx__KeyWrap **wrap_ptrs);
int macx_envelope_pack (const Macx__Envelope *env, uint8_t **out, size_t *outlen,
                        macx_error_t *err);

/* The digests' encoding: a little-endian u64, and bytes prefixed with
 * their length as one. */
void macx_record_hash_u64 (crypto_generichash_state *st, uint64_t n);
void macx_record_hash_len (crypto_generichash_state *st, const void *data, size_t len);

/* Checks env's batch proof for a record whose signed digest is `digest`
 * from `sender`: shape, signer, path to the root, and the root's signature
 * (once per cache). */
int macx_batch_check (macx_root_cache_t *cache, const Macx__Envelope *env,
                      const macx_agency_t *sender, const uint8_t digest[64], macx_error_t *err);

/* Checks the proof's sizes (no crypto): used by decode. */
int macx_batch_check_shape (const Macx__BatchProof *p, macx_error_t *err);

/* Only the canonical encoding of m (as buf, len), with no field its schema
 * does not know: MACX_EDECODE naming `what` otherwise. */
int macx_record_canonical (const ProtobufCMessage *m, const uint8_t *buf, size_t len,
                           const char *what, macx_error_t *err);

/* The signature check of macx_record_check_signature, for evidence: a
 * sender revoked since still counts (the record was signed with the key it
 * had), an unknown one does not. Uncached. */
int macx_record_check_evidence (const macx_registry_t *registry, macx_record_t *record,
                                macx_error_t *err);

/* Unwraps the payload key of a decoded record for recipient me (no
 * signature check): MACX_ENOTRECIPIENT, MACX_EUNKNOWN (sender),
 * MACX_EDECRYPT. The caller wipes key. */
int macx_record_unwrap (macx_identity_t *me, const macx_registry_t *registry,
                        const macx_record_t *record, uint8_t key[MACX_KEY_BYTES],
                        macx_error_t *err);

/* Decrypts a decoded record's payload with key and keeps it in the record
 * (macx_record_payload): MACX_EDECRYPT when the key does not open it,
 * MACX_EDECODE when what it opens to is not a canonical Payload. Does not
 * compare it with the manifest. */
int macx_record_open_with_key (macx_record_t *record, const uint8_t key[MACX_KEY_BYTES],
                               macx_error_t *err);

#endif
