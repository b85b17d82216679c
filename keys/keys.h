/* keys.h -- agency identities: key generation, key files, the registry of
 * public keys, revocation. Secret keys never leave this module: others ask
 * it to sign, to wrap/unwrap a payload key for a peer, or to configure a
 * ZeroMQ socket's CURVE keys.
 *
 * A key directory holds, per agency ID:
 *   ID.pub     public identity (agency, kind, three public keys); shareable
 *   ID.secret  its secret keys, mode 0600; refused if group/other can read
 * and one optional file `revoked` (one "ID TIME REASON" line per revocation)
 * that every consumer of the directory honours. */
#ifndef MACX_KEYS_H
#define MACX_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define MACX_AGENCY_ID_MAX 32
#define MACX_KEY_BYTES     32
#define MACX_SIG_BYTES     64
#define MACX_WRAP_NONCE    24
#define MACX_WRAP_BYTES    48   /* 32-byte key + 16-byte tag */

typedef struct {
    char    id[MACX_AGENCY_ID_MAX + 1];
    char    kind[16];                    /* mi5, ctp, local_authority, ogd, provider, broker */
    uint8_t sign_pk[MACX_KEY_BYTES];     /* Ed25519 */
    uint8_t box_pk[MACX_KEY_BYTES];      /* X25519, payload key wrapping */
    uint8_t curve_pk[MACX_KEY_BYTES];    /* CURVE transport */
    char    curve_z85[41];
    bool    revoked;
    char    revoked_reason[128];
} macx_agency_t;

typedef struct macx_registry_t macx_registry_t;
typedef struct macx_identity_t macx_identity_t;

/* Returns 0 if id is a valid agency id: [a-z0-9][a-z0-9-]{0,31}. */
int macx_keys_check_id (const char *id, macx_error_t *err);

/* Creates DIR (0700 if new) and the key pair files for agency id of kind
 * (mi5, ctp, local_authority, ogd, provider, broker), which ID.pub records: a kind is
 * always declared, never read from the id. EINVAL for a bad id or a NULL or
 * unknown kind; EDUP if the agency exists. */
int macx_keys_generate (const char *dir, const char *id, const char *kind, macx_error_t *err);

/* Adds id to DIR/revoked with a reason (no newlines). EDUP if already
 * revoked, ENOTFOUND if no such agency. */
int macx_keys_revoke (const char *dir, const char *id, const char *reason, macx_error_t *err);

/* The secret key files in dir of agencies other than `self_id`: a broker
 * needs only the agencies' public keys, so another's secret there is a key
 * that one breach of the broker would expose. With `only_loose`, only those
 * group or others can read. Writes "ID.secret (0600), ..." into list
 * (truncated to size) and returns how many there are (0 if dir cannot be
 * read: loading the registry reports that). */
int macx_keys_foreign_secrets (const char *dir, const char *self_id, bool only_loose, char *list,
                               size_t size);

/* Loads every *.pub in dir and the revocation list. Refuses malformed files
 * (path:line), duplicate ids and any public key used twice. Returns a new
 * registry or NULL with err set. Read-only after load: safe to share. */
macx_registry_t *macx_registry_load (const char *dir, macx_error_t *err);
void macx_registry_destroy (macx_registry_t **self_p);

size_t macx_registry_size (const macx_registry_t *self);
/* Agencies sorted by id; index < size. */
const macx_agency_t *macx_registry_at (const macx_registry_t *self, size_t index);
/* Lookups return NULL when absent; revoked agencies are returned with
 * revoked set, so callers can say which it is. */
const macx_agency_t *macx_registry_find (const macx_registry_t *self, const char *id);
const macx_agency_t *macx_registry_find_curve (const macx_registry_t *self,
                                               const uint8_t curve_pk[MACX_KEY_BYTES]);

/* Verifies an Ed25519 signature by agency a; 0 or MACX_EBADSIG. */
int macx_keys_verify (const macx_agency_t *a, const uint8_t *msg, size_t len,
                      const uint8_t sig[MACX_SIG_BYTES]);

/* Loads agency id's secret file from dir and checks it against the public
 * file. Secrets live in sodium_malloc memory, wiped on destroy. One identity
 * is not thread-safe (it caches pair keys); use one per thread. */
macx_identity_t *macx_identity_load (const char *dir, const char *id, macx_error_t *err);
void macx_identity_destroy (macx_identity_t **self_p);

/* The identity's public side (as in the registry). */
const macx_agency_t *macx_identity_agency (const macx_identity_t *self);

/* Signs msg with the Ed25519 secret key. */
int macx_identity_sign (const macx_identity_t *self, const uint8_t *msg, size_t len,
                        uint8_t sig[MACX_SIG_BYTES]);

/* Wraps a 32-byte payload key for peer under the pair key (X25519 with the
 * peer, computed once per peer and cached, so later wraps are symmetric
 * only). ad binds the wrap to its record. nonce is filled at random. */
int macx_identity_wrap (macx_identity_t *self, const macx_agency_t *peer,
                        const uint8_t *ad, size_t adlen, const uint8_t key[MACX_KEY_BYTES],
                        uint8_t nonce[MACX_WRAP_NONCE], uint8_t out[MACX_WRAP_BYTES]);

/* Unwraps a key that peer wrapped for us; MACX_EDECRYPT if it does not
 * authenticate. */
int macx_identity_unwrap (macx_identity_t *self, const macx_agency_t *peer,
                          const uint8_t *ad, size_t adlen, const uint8_t nonce[MACX_WRAP_NONCE],
                          const uint8_t in[MACX_WRAP_BYTES], uint8_t key[MACX_KEY_BYTES]);

/* Configures a libzmq socket with this identity's CURVE keys; as_server
 * makes it a CURVE server, otherwise server_pk (the broker's CURVE public
 * key) is set for a client. 0 or MACX_EINVAL. */
int macx_identity_curve_apply (const macx_identity_t *self, void *zmq_socket, bool as_server,
                               const uint8_t *server_pk);

/* Number of pair keys derived so far (a public-key operation each). */
size_t macx_identity_pair_derivations (const macx_identity_t *self);

#endif
