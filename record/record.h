/* record.h -- sealing and opening signed, end-to-end encrypted records.
 *
 * A sealed record is a serialised Macx__Envelope (proto/macx.proto): the
 * header in clear, the payload encrypted once under a random key with
 * XChaCha20-Poly1305 (header bytes as associated data), that key wrapped
 * for each recipient under a cached pair key (keys/), and one Ed25519
 * signature by the sender over a BLAKE2b-512 digest of everything else.
 * This module touches no socket and no disk. */
#ifndef MACX_RECORD_H
#define MACX_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "keys.h"
#include "macx.pb-c.h"

#define MACX_RECORD_VERSION     1
#define MACX_RECORD_MAX         (1u << 20)   /* sealed bytes */
#define MACX_RECORD_ID_BYTES    16
#define MACX_RECIPIENTS_MAX     32
#define MACX_MANIFEST_MAX       64
#define MACX_HEADER_STRING_MAX  128          /* any header string */
#define MACX_PAYLOAD_REPEAT_MAX 1024         /* any repeated payload field */
#define MACX_FIELD_NAME_MAX     64

typedef struct macx_record_t macx_record_t;

/* ---- batch signatures (record/batch.c; docs/protocol.md "Batch signatures") --
 * A sender may sign a batch of records at once: each record is sealed as
 * usual but left unsigned, the records' digests become the leaves of a
 * Merkle tree (RFC 9162 2.1: leaf = BLAKE2b-256(0x00 || digest), node =
 * BLAKE2b-256(0x01 || left || right)) and one Ed25519 signature covers the
 * tree head (signer, leaf count, root). Every record then carries the
 * root, that signature and its own inclusion path, so each is on its own
 * signed evidence of its sender. Verifying costs one signature check per
 * root (a macx_root_cache_t remembers roots already verified) and
 * log2(count) hashes per record. */
#define MACX_BATCH_MAX        4096   /* records in one batch */
#define MACX_BATCH_HASH_BYTES 32
#define MACX_BATCH_PATH_MAX   12     /* ceil(log2(MACX_BATCH_MAX)) */

typedef struct macx_record_batch_t macx_record_batch_t;

/* A batch being sealed by `self` (which, with registry, must outlive it). */
macx_record_batch_t *macx_record_batch_new (macx_identity_t *self,
                                            const macx_registry_t *registry);
void macx_record_batch_destroy (macx_record_batch_t **self_p);
/* Seals one more record into the batch, checked and encrypted as
 * macx_record_seal does, not yet signed. Header as for macx_record_seal.
 * MACX_ELIMIT when the batch holds MACX_BATCH_MAX already. */
int macx_record_batch_add (macx_record_batch_t *self, Macx__Header *header,
                           const Macx__Payload *payload, macx_error_t *err);
size_t macx_record_batch_count (const macx_record_batch_t *self);
/* Builds the tree and signs its head: the batch's records can then be
 * taken. */
int macx_record_batch_sign (macx_record_batch_t *self, macx_error_t *err);
/* Record i (in the order added) of a signed batch, as a sealed Envelope
 * with its proof, in a new buffer the caller frees with free(). */
int macx_record_batch_take (macx_record_batch_t *self, size_t i, uint8_t **out, size_t *outlen,
                            macx_error_t *err);
/* Empties the batch for the next one. */
void macx_record_batch_reset (macx_record_batch_t *self);

/* Roots already verified, so that each costs one signature check: keyed on
 * signer, root and signature together. */
typedef struct macx_root_cache_t macx_root_cache_t;
macx_root_cache_t *macx_root_cache_new (void);
/* The same, shared between threads (a mutex; a root being checked by one
 * thread is waited for by another, not checked twice). */
macx_root_cache_t *macx_root_cache_new_shared (void);
void macx_root_cache_destroy (macx_root_cache_t **self_p);
/* Signature checks a cache has spent (misses) and saved (hits). */
void macx_root_cache_counts (const macx_root_cache_t *self, uint64_t *verified, uint64_t *hits);

/* The root a record's inclusion path leads to (RFC 9162 2.1.3.2), from its
 * signed digest; 0, or MACX_EBATCHPATH when index, count and path length
 * do not fit together. For tests and tools. */
int macx_batch_root_from_path (const uint8_t digest[64], uint32_t index, uint32_t count,
                               const ProtobufCBinaryData *path, size_t npath,
                               uint8_t root[MACX_BATCH_HASH_BYTES]);

/* ---- Merkle trees (record/batch.c) ------------------------------------------
 * The tree batch signatures are built on, over any 64-byte digests (the
 * broker's signed answers use it too): leaf = BLAKE2b-256(0x00 || digest),
 * node = BLAKE2b-256(0x01 || left || right), RFC 9162 2.1. */
typedef struct macx_merkle_t macx_merkle_t;
macx_merkle_t *macx_merkle_new (void);
void macx_merkle_destroy (macx_merkle_t **self_p);
/* Starts a tree of n leaves (1 to MACX_BATCH_MAX): 0, MACX_ELIMIT or
 * MACX_ENOMEM. The memory is kept for the next tree. */
int macx_merkle_begin (macx_merkle_t *self, size_t n);
/* Sets leaf i (below n) from its 64-byte digest. */
void macx_merkle_leaf (macx_merkle_t *self, size_t i, const uint8_t digest[64]);
/* Builds the levels above the leaves, once every leaf is set. */
void macx_merkle_end (macx_merkle_t *self);
/* The root: 32 bytes in self, valid until the next begin. */
const uint8_t *macx_merkle_root (const macx_merkle_t *self);
/* Leaf i's inclusion path (RFC 9162 2.1.3), pointing into self (valid
 * until the next begin); returns its length. */
size_t macx_merkle_path (const macx_merkle_t *self, size_t i,
                         ProtobufCBinaryData path[MACX_BATCH_PATH_MAX]);

/* ---- signed answers (record/answer.c; docs/protocol.md "Signed answers") ----
 * Every ACK and NACK the broker sends carries the record's digest as the
 * broker received it and a proof: the answers of one flush are the leaves of
 * a Merkle tree (above), whose head -- BLAKE2b-512 of "macx-answers-v1", the
 * broker's id, the leaf count and the root -- the broker signs once with its
 * Ed25519 key; each answer carries that signature, the root and its own
 * inclusion path (a BatchProof), so on its own it is the broker's signed word
 * that it accepted, or refused, that record. A leaf is the answer's digest:
 * BLAKE2b-512 of "macx-answer-v1" and every field the answer states. */
#define MACX_ANSWER_DIGEST_BYTES 32      /* the record digest: BLAKE2b-256 of its bytes */
#define MACX_ANSWER_NAME_MAX     255     /* an agreement or flow name in a kept answer */
#define MACX_ANSWER_ACCEPT       1       /* the verdict, as it is signed */
#define MACX_ANSWER_REFUSE       2

/* The record digest an answer and its audit entry name: BLAKE2b-256 of the
 * record's bytes as the broker received them (a sealed Envelope, byte for
 * byte; for a frame that is not a record, the whole frame). */
void macx_answer_record_digest (const uint8_t *buf, size_t len,
                                uint8_t out[MACX_ANSWER_DIGEST_BYTES]);

/* An ACK or NACK as received, with the agency it was sent to, and its
 * proof. Self-contained (no pointers): copy it, keep it, print it. */
typedef struct {
    bool accepted;                         /* ACK; false: NACK */
    char agency[MACX_AGENCY_ID_MAX + 1];   /* whom the broker answered (the connection's agency) */
    uint8_t record_id[MACX_RECORD_ID_BYTES];
    size_t record_id_len;                  /* 16, or 0 when the broker read no header */
    uint8_t record_digest[MACX_ANSWER_DIGEST_BYTES];
    uint64_t sequence;                     /* the record's, as its header said (0: none) */
    int reason;                            /* NACK: the Macx__Reason; ACK: 0 */
    uint64_t audit_seq;                    /* its audit entry (0: none, e.g. STORE_UNAVAILABLE) */
    int64_t clock_ms;                      /* the broker's time of the record */
    int64_t at_ms;                         /* simulated clock: when the sender learns it */
    char message[MACX_ERROR_MSG_MAX];      /* NACK: the broker's sentence */
    char agreement[MACX_ANSWER_NAME_MAX + 1];
    char flow[MACX_ANSWER_NAME_MAX + 1];
    /* the proof: this answer's leaf in the tree of its flush */
    bool proved;                           /* false: the answer carried none */
    char signer[MACX_AGENCY_ID_MAX + 1];
    uint32_t index, count;
    uint8_t root[MACX_BATCH_HASH_BYTES];
    uint8_t path[MACX_BATCH_PATH_MAX][MACX_BATCH_HASH_BYTES];
    size_t npath;
    uint8_t signature[MACX_SIG_BYTES];
} macx_answer_t;

/* Fills a from an Ack or Nack received by agency: 0, or MACX_EDECODE (no
 * proof, a malformed one, a digest or id of the wrong size) or
 * MACX_ETOOBIG (a string over a's room), with err saying which; a is
 * filled as far as it could be either way. */
int macx_answer_from_ack (macx_answer_t *a, const char *agency, const Macx__Ack *ack,
                          macx_error_t *err);
int macx_answer_from_nack (macx_answer_t *a, const char *agency, const Macx__Nack *nack,
                           macx_error_t *err);

/* An answer's digest (its leaf): of a kept answer, or of an Ack or Nack
 * about to be sent to agency (its proof is not covered). */
void macx_answer_digest (const macx_answer_t *a, uint8_t out[64]);
void macx_answer_digest_ack (const char *agency, const Macx__Ack *ack, uint8_t out[64]);
void macx_answer_digest_nack (const char *agency, const Macx__Nack *nack, uint8_t out[64]);
/* The tree head a flush's signature covers. */
void macx_answer_head_digest (const char *signer, uint32_t count,
                              const uint8_t root[MACX_BATCH_HASH_BYTES], uint8_t out[64]);

/* The broker's signer (broker/core.c): broker must outlive it. */
typedef struct macx_answer_signer_t macx_answer_signer_t;
macx_answer_signer_t *macx_answer_signer_new (const macx_identity_t *broker);
void macx_answer_signer_destroy (macx_answer_signer_t **self_p);
/* Builds the tree over n answer digests (1 to MACX_BATCH_MAX) and signs its
 * head: one signature for the n. 0, MACX_ELIMIT, MACX_ENOMEM or
 * MACX_ECRYPTO. */
int macx_answer_signer_sign (macx_answer_signer_t *self, const uint8_t (*digests)[64], size_t n,
                             macx_error_t *err);
/* Answer i's proof from the last sign: proof points into self and into
 * path (its room), valid until the next sign. */
void macx_answer_signer_proof (macx_answer_signer_t *self, size_t i, Macx__BatchProof *proof,
                               ProtobufCBinaryData path[MACX_BATCH_PATH_MAX]);

/* Checks the proof's shape, that broker signed it and the signature over
 * its tree head: 0, MACX_EDECODE (no proof, or a malformed one),
 * MACX_EFOREIGNROOT (signed by another agency) or MACX_EBADSIG. */
int macx_answer_check_head (const macx_answer_t *a, const macx_agency_t *broker,
                            macx_error_t *err);
/* Checks that the answer's fields, through its inclusion path, lead to the
 * root its proof names: 0, or MACX_EBATCHPATH (the answer or its path was
 * altered). */
int macx_answer_check_path (const macx_answer_t *a, macx_error_t *err);
/* Both. */
int macx_answer_verify (const macx_answer_t *a, const macx_agency_t *broker, macx_error_t *err);

/* Compares an answer with the audit entry at its audit_seq: NULL when it is
 * the record's accept (ACK) or refuse (NACK) entry and agrees with the
 * answer in record id, record digest, reason, agency (the entry's peer),
 * sequence and time (clock_ms), and for a NACK in agreement, flow and
 * message; else the name of the first field that differs ("audit_seq",
 * "event", "verdict", "record_id", "record_digest", "reason", "agency",
 * "sequence", "time", "agreement", "flow", "message"). why (may be NULL)
 * gets one sentence either way. */
const char *macx_answer_match_entry (const macx_answer_t *a, const Macx__AuditEntry *e,
                                     char *why, size_t size);

/* Writes the answer as one JSON object, no newline: what `macx send --json`
 * prints and `macx audit prove` reads (docs/audit.md). */
void macx_answer_print_json (FILE *out, const macx_answer_t *a);

/* Fills id with a new record id: the wall clock in milliseconds (48 bits,
 * big-endian) and then 80 random bits, as in a UUIDv7. Ids made close in
 * time sort close together, so the broker's and the agents' indexes of
 * ids seen (B-trees keyed by id) take new ids on the same few pages rather
 * than dirtying one random page each; 80 random bits keep ids unguessable
 * and collisions within a millisecond out of reach. */
void macx_record_new_id (uint8_t id[MACX_RECORD_ID_BYTES]);

/* Seals payload from identity `self` to header->recipients. The caller fills
 * header's record_id (macx_record_new_id), recipients, sequence, subject,
 * case_id, phase, case_phase, record_type, purpose, legal_basis and
 * manifest; seal sets version, sender (pointing into self, which must
 * outlive header) and created_ms (unless set). Checks the header and that
 * payload fields equal the manifest before sealing. On success *out is a
 * new buffer the caller frees with free(). */
int macx_record_seal (macx_identity_t *self, const macx_registry_t *registry,
                      Macx__Header *header, const Macx__Payload *payload,
                      uint8_t **out, size_t *outlen, macx_error_t *err);

/* Decodes and checks structure only (bounds, envelope, header, limits): no
 * signature check. For inspection tools; never trust what it returns. */
int macx_record_decode (const uint8_t *buf, size_t len, macx_record_t **record,
                        macx_error_t *err);

/* Checks a decoded record's sender (registered, not revoked) and signature
 * (or, batch-signed, its proof: MACX_EFOREIGNROOT when another agency
 * signed the root, MACX_EBATCHPATH when the path does not lead to the root,
 * MACX_EBADSIG when the root's signature does not verify); marks it
 * verified. cache may be NULL (every root is then verified). */
int macx_record_check_signature (const macx_registry_t *registry, macx_record_t *record,
                                 macx_error_t *err);
int macx_record_check_signature_cached (const macx_registry_t *registry, macx_root_cache_t *cache,
                                        macx_record_t *record, macx_error_t *err);

/* Checks a sealed record without decrypting it (what the broker does):
 * size bounds, envelope and header decode, header validity and limits,
 * sender registered and not revoked, signature. On success *record is new;
 * the caller destroys it. */
int macx_record_verify (const macx_registry_t *registry, const uint8_t *buf, size_t len,
                        macx_record_t **record, macx_error_t *err);

/* verify, then: `self` is a listed recipient with a key wrap, unwrap,
 * decrypt, decode the payload, and check its fields against the manifest
 * (names, and the form each declared transform leaves). */
int macx_record_open (macx_identity_t *self, const macx_registry_t *registry,
                      const uint8_t *buf, size_t len, macx_record_t **record,
                      macx_error_t *err);
/* open, with roots already verified taken from cache (NULL: none). */
int macx_record_open_cached (macx_identity_t *self, const macx_registry_t *registry,
                             macx_root_cache_t *cache, const uint8_t *buf, size_t len,
                             macx_record_t **record, macx_error_t *err);

void macx_record_destroy (macx_record_t **self_p);

/* Borrowed views, valid until destroy. payload is NULL unless opened. */
const Macx__Header *macx_record_header (const macx_record_t *self);
const Macx__Payload *macx_record_payload (const macx_record_t *self);
const Macx__Envelope *macx_record_envelope (const macx_record_t *self);
/* 1 if the signature was checked (verify/open), 0 after decode only. */
int macx_record_verified (const macx_record_t *self);
/* True if the record's signature was checked with a's current signing key
 * (false for another key: a's keys changed since, or not verified). */
bool macx_record_signed_by (const macx_record_t *self, const macx_agency_t *a);

/* Checks header fields and limits (used by seal and verify). */
int macx_record_check_header (const Macx__Header *header, macx_error_t *err);

/* Checks that payload matches header's record type and manifest. */
int macx_record_check_manifest (const Macx__Header *header, const Macx__Payload *payload,
                                macx_error_t *err);

/* ---- what differs between a payload and its header (record/manifest.c) ----
 * The comparison behind macx_record_check_manifest, listing every
 * difference rather than the first: the evidence of a manifest complaint
 * (docs/audit.md "Complaints"). Names only, never a value. */
typedef enum {
    MACX_DIFF_UNDECLARED = 1,        /* a payload field the manifest does not list */
    MACX_DIFF_ABSENT,                /* a manifest field the payload does not carry */
    MACX_DIFF_TRANSFORM_FORM,        /* declared with a transform its value does not have */
    MACX_DIFF_TRANSFORM_NOT_TEXT,    /* a transform declared on a field that is not text */
    MACX_DIFF_TRANSFORM_UNKNOWN      /* a transform macx does not know (only when the
                                        header was not checked first) */
} macx_diff_kind_t;

typedef struct {
    macx_diff_kind_t kind;
    const char *name;                /* the field, borrowed from the payload or the header */
    const char *transform;           /* the transform declared ("" for UNDECLARED, ABSENT) */
} macx_diff_entry_t;

typedef struct {
    /* the body the payload carries when it is not the header's record type:
     * another typed body ("share"), "generic" (a typed record type with a
     * generic body) or "none" (no body); NULL when it is. Static. */
    const char *payload_type;
    macx_diff_entry_t entries[2 * MACX_MANIFEST_MAX];   /* in payload field order, then ABSENT */
    size_t n;
} macx_manifest_diff_t;

/* Compares payload with header's record type and manifest. Returns the
 * number of differences (0: it matches; payload_type counts one), or a
 * negative error when the payload cannot be compared (a repeated field or
 * the field count over its limit: MACX_ELIMIT; a generic field named badly
 * or twice: MACX_EMANIFEST). d borrows names from header and payload. */
int macx_record_manifest_diff (const Macx__Header *header, const Macx__Payload *payload,
                               macx_manifest_diff_t *d, macx_error_t *err);
/* True for the three transform kinds. */
bool macx_diff_is_transform (macx_diff_kind_t kind);
/* The differences as one readable sentence into out (at least 5 bytes; cut
 * with "..." when it does not fit): "fields present but not declared:
 * address; declared but absent: dob; transform mismatch: postcode declared
 * postcode_district but its value has another form". */
void macx_record_manifest_diff_text (const Macx__Header *header, const macx_manifest_diff_t *d,
                                     char *out, size_t size);

/* The payload's body message (typed or generic), or NULL when none is set.
 * Borrowed from payload. */
const ProtobufCMessage *macx_record_body (const Macx__Payload *payload);

/* The record type a payload body stands for ("case_file", ...), or NULL
 * for a generic body (any other record type). */
const char *macx_record_body_type (const Macx__Payload *payload);

/* Returns 1 if name is a transform record/ knows, 0 if not. Transforms:
 * year_only, postcode_district, initials, region_only, redacted. */
int macx_record_transform_known (const char *name);
/* Applies transform to value into out (size outsize); 0 or MACX_EINVAL. */
int macx_record_transform_apply (const char *transform, const char *value, char *out,
                                 size_t outsize);

/* Writes the header (and the payload if opened) as text or one JSON object. */
void macx_record_print (FILE *out, const macx_record_t *self, int json);
void macx_record_print_header (FILE *out, const Macx__Header *header, int json);

/* The digest a delivery receipt's signature covers: BLAKE2b-512 of
 * "macx-receipt-v1", the recipient, the time and every (record id, mailbox
 * seq) pair, each length-prefixed. Returns 0, or MACX_EINVAL when the two
 * lists differ in length. The recipient signs it with macx_identity_sign;
 * the broker checks it with macx_keys_verify. */
int macx_record_receipt_digest (const Macx__Receipt *receipt, uint8_t out[64]);

/* ---- manifest complaints (record/complaint.c; docs/protocol.md "Complaints") ----
 * A recipient whose record does not match its header sends the broker a
 * signed Complaint: the sender's Envelope as delivered and the record's
 * content key, which lets the broker open that one payload itself and
 * compare it with the header, trusting neither party. */
#define MACX_CONTENT_KEY_BYTES 32

/* The digest a complaint's signature covers: BLAKE2b-512 of
 * "macx-complaint-v1", the complainant, the envelope, the content key and
 * the time, each length-prefixed (the time as 8 bytes LE). */
void macx_record_complaint_digest (const Macx__Complaint *complaint, uint8_t out[64]);

/* The payload key of a sealed record for recipient `self`: decodes the
 * record and unwraps its key wrap (no signature check). MACX_ENOTRECIPIENT
 * when self has none, MACX_EDECRYPT when it does not open. key is a secret
 * of that record: wipe it (sodium_memzero) after use. */
int macx_record_content_key (macx_identity_t *self, const macx_registry_t *registry,
                             const uint8_t *buf, size_t len,
                             uint8_t key[MACX_CONTENT_KEY_BYTES], macx_error_t *err);

/* What the agent runtime calls when a record delivered to `self` does not
 * open: if the record is genuine (decodes, its sender's signature holds),
 * self can open its payload, and the payload does not match the header
 * (macx_record_manifest_diff, or it does not decode), builds the complaint
 * and signs it as self at time_ms. Otherwise MACX_EINVAL ("nothing to
 * complain about", err says why): a recipient never complains of a record
 * that matches, nor of one it cannot show to be its sender's. On success
 * *out is a serialised Complaint that holds the record's content key: free
 * it with macx_record_complaint_free, which wipes it. */
int macx_record_complaint_make (macx_identity_t *self, const macx_registry_t *registry,
                                const uint8_t *buf, size_t len, int64_t time_ms, uint8_t **out,
                                size_t *outlen, macx_error_t *err);
/* Builds and signs a complaint as self over any envelope and key, checking
 * nothing: for tests and forgery tools (tests/tools/macx_peer.c), which
 * must be able to send complaints that do not hold. */
int macx_record_complaint_sign (macx_identity_t *self, const uint8_t *buf, size_t len,
                                const uint8_t key[MACX_CONTENT_KEY_BYTES], int64_t time_ms,
                                uint8_t **out, size_t *outlen, macx_error_t *err);
/* Wipes and frees a complaint from make or sign. */
void macx_record_complaint_free (uint8_t **buf_p, size_t len);

/* The broker's check of a complaint, in the order it is made. */
typedef enum {
    MACX_COMPLAINT_REFUSED = 1,      /* the complaint or its envelope does not hold: why
                                        says what (MACX_EDECODE, MACX_EPROTO for a
                                        complainant other than the peer, MACX_EBADSIG,
                                        MACX_EUNKNOWN, MACX_EREVOKED) */
    MACX_COMPLAINT_KEY_INVALID,      /* a genuine record, but the key does not open it */
    MACX_COMPLAINT_UNFOUNDED,        /* the payload matches its header */
    MACX_COMPLAINT_UPHELD            /* it does not: diff, or (broken) it does not decode
                                        or cannot be compared, why saying how */
} macx_complaint_verdict_t;

typedef struct {
    macx_complaint_verdict_t verdict;
    macx_error_t why;                /* REFUSED, KEY_INVALID: what failed; UPHELD and
                                        broken: what is wrong with the payload */
    Macx__Complaint *complaint;      /* decoded (NULL when it does not) */
    macx_record_t *record;           /* the envelope, decoded (NULL when it does not);
                                        verified from KEY_INVALID on; with its payload
                                        for UNFOUNDED and UPHELD unless broken */
    macx_manifest_diff_t diff;       /* UPHELD: borrows from record */
    bool broken;                     /* UPHELD: the payload does not decode or compare */
} macx_complaint_check_t;

/* Checks complaint bytes from `peer` (the authenticated agency) with what
 * needs no store: bounds and decode (canonical, no unknown field), that
 * the complainant is peer, registered, not revoked and signed it, that the
 * envelope decodes and its sender signed it (a sender revoked since still
 * counts: the record was signed while it was not), that the key opens the
 * payload, and the comparison. That the broker accepted the record for the
 * complainant is the caller's to check (it holds the store). Fills c;
 * free what it holds with macx_record_complaint_check_clear. Thread-safe. */
void macx_record_complaint_check (const macx_registry_t *registry, const char *peer,
                                  const uint8_t *buf, size_t len, macx_complaint_check_t *c);
void macx_record_complaint_check_clear (macx_complaint_check_t *c);

/* Tests and forgery tools only (`macx record seal --forge-manifest`): seals
 * like macx_record_seal but with the manifest the header declares left
 * unchecked against the payload, so the record lies about its fields. A
 * recipient refuses it and complains. */
int macx_record_seal_forged (macx_identity_t *self, const macx_registry_t *registry,
                             Macx__Header *header, const Macx__Payload *payload, uint8_t **out,
                             size_t *outlen, macx_error_t *err);
/* The digest a retention receipt's signature covers: BLAKE2b-512 of
 * "macx-retention-v1", the agency, the record id, the action and the time,
 * each length-prefixed (docs/protocol.md "Retention at the recipient").
 * Returns 0. Signed and checked like a delivery receipt's. */
int macx_record_retention_digest (const Macx__RetentionReceipt *receipt, uint8_t out[64]);

/* One field given by name, e.g. from `--field dob:year_only=1990-04-12`. */
typedef struct {
    const char *name;
    const char *transform;   /* NULL or "" for none; applied to value here */
    const char *value;
} macx_record_field_t;

/* Builds a payload for record_type from name=value fields: the typed body
 * for the five MAC record types (text, repeated text, integer and boolean
 * fields; a repeated field may be given several times), a generic body for
 * any other type. Applies each transform and fills *manifest (n entries) to
 * match. Free both with macx_record_build_free. */
int macx_record_build (const char *record_type, const macx_record_field_t *fields, size_t n,
                       Macx__Payload **payload, Macx__FieldEntry ***manifest, size_t *nmanifest,
                       macx_error_t *err);
void macx_record_build_free (Macx__Payload **payload, Macx__FieldEntry ***manifest,
                             size_t nmanifest);

/* A field to keep when restricting a payload, and the transform to apply
 * to it (NULL or "" for none). */
typedef struct {
    const char *name;
    const char *transform;
} macx_record_keep_t;

/* Restricts a typed payload (built with malloc'd contents, e.g. by hand or
 * by macx_record_build) to the fields in keep: every other field is cleared
 * and freed, text fields (and repeated text) kept with a transform are
 * transformed in place. Fills *manifest with the fields left present, as a
 * header needs them; free it with macx_record_build_free (NULL, manifest,
 * n). This is how a sender applies what the policy engine's prepare says. */
int macx_record_restrict (Macx__Payload *payload, const macx_record_keep_t *keep, size_t nkeep,
                          Macx__FieldEntry ***manifest, size_t *nmanifest, macx_error_t *err);

/* Parses "name[:transform]=value" into f (pointing into text, which it
 * modifies). 0 or MACX_EINVAL. */
int macx_record_field_parse (char *text, macx_record_field_t *f, macx_error_t *err);

#endif
