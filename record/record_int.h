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

#endif
