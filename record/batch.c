/* batch.c -- batch signatures: a Merkle tree (RFC 9162 2.1, BLAKE2b-256,
 * 0x00 leaf and 0x01 node prefixes) over the digests of records sealed
 * together, one Ed25519 signature over its head, an inclusion path per
 * record; and the check of such a proof, with a cache of verified roots.
 * The tree is also the broker's, over its answers (answer.c). */
#include <assert.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "record_int.h"

#define S_HASH MACX_BATCH_HASH_BYTES

/* ---- the tree ------------------------------------------------------------ */

static void
s_leaf (const uint8_t digest[64], uint8_t out[S_HASH])
{
    crypto_generichash_state st;
    uint8_t tag = 0x00;
    crypto_generichash_init (&st, NULL, 0, S_HASH);
    crypto_generichash_update (&st, &tag, 1);
    crypto_generichash_update (&st, digest, 64);
    crypto_generichash_final (&st, out, S_HASH);
}

static void
s_node (const uint8_t left[S_HASH], const uint8_t right[S_HASH], uint8_t out[S_HASH])
{
    uint8_t buf[1 + 2 * S_HASH];
    buf[0] = 0x01;
    memcpy (buf + 1, left, S_HASH);
    memcpy (buf + 1 + S_HASH, right, S_HASH);
    crypto_generichash (out, S_HASH, buf, sizeof buf, NULL, 0);
}

/* A tree over n leaves, level by level (level 0 = the leaves); an odd
 * last node is carried up as it is, which builds RFC 9162's tree. */
struct macx_merkle_t {
    uint8_t (*nodes)[S_HASH];
    size_t cap;                    /* nodes allocated: kept from one tree to the next */
    size_t n;
    size_t level_at[MACX_BATCH_PATH_MAX + 2], level_n[MACX_BATCH_PATH_MAX + 2];
    int levels;
};

macx_merkle_t *
macx_merkle_new (void)
{
    return calloc (1, sizeof (macx_merkle_t));
}

void
macx_merkle_destroy (macx_merkle_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->nodes);
    free (*self_p);
    *self_p = NULL;
}

int
macx_merkle_begin (macx_merkle_t *t, size_t n)
{
    if (n == 0 || n > MACX_BATCH_MAX)
        return MACX_ELIMIT;
    /* n + ceil(n/2) + ceil(n/4) ... < 2n + one per level */
    size_t need = 2 * n + MACX_BATCH_PATH_MAX + 2;
    if (need > t->cap) {
        void *g = realloc (t->nodes, need * sizeof *t->nodes);
        if (!g)
            return MACX_ENOMEM;
        t->nodes = g;
        t->cap = need;
    }
    t->n = n;
    t->levels = 0;
    return MACX_OK;
}

void
macx_merkle_leaf (macx_merkle_t *t, size_t i, const uint8_t digest[64])
{
    assert (i < t->n);
    s_leaf (digest, t->nodes[i]);
}

void
macx_merkle_end (macx_merkle_t *t)
{
    size_t at = 0, n = t->n, next = t->n;
    int l = 0;
    t->level_at[0] = 0;
    t->level_n[0] = n;
    while (n > 1) {
        size_t up = (n + 1) / 2;
        for (size_t i = 0; i < n / 2; i++)
            s_node (t->nodes[at + 2 * i], t->nodes[at + 2 * i + 1], t->nodes[next + i]);
        if (n & 1)
            memcpy (t->nodes[next + up - 1], t->nodes[at + n - 1], S_HASH);
        at = next;
        next += up;
        n = up;
        l++;
        t->level_at[l] = at;
        t->level_n[l] = n;
    }
    t->levels = l;
}

const uint8_t *
macx_merkle_root (const macx_merkle_t *t)
{
    return t->nodes[t->level_at[t->levels]];
}

size_t
macx_merkle_path (const macx_merkle_t *t, size_t i, ProtobufCBinaryData path[MACX_BATCH_PATH_MAX])
{
    assert (i < t->n);
    size_t npath = 0, m = i;
    for (int l = 0; l < t->levels; l++) {
        size_t sib = m ^ 1;
        if (sib < t->level_n[l])   /* a node carried up has no sibling at this level */
            path[npath++] = (ProtobufCBinaryData) { S_HASH, t->nodes[t->level_at[l] + sib] };
        m >>= 1;
    }
    return npath;
}

/* What the signature covers: BLAKE2b-512 of a domain tag, the signer, the
 * leaf count and the root, each length-prefixed or fixed-width. */
static void
s_head_digest (const char *signer, uint32_t count, const uint8_t root[S_HASH], uint8_t out[64])
{
    crypto_generichash_state st;
    crypto_generichash_init (&st, NULL, 0, 64);
    crypto_generichash_update (&st, (const uint8_t *) "macx-batch-v1", 13);
    macx_record_hash_len (&st, signer, strlen (signer));
    macx_record_hash_u64 (&st, count);
    crypto_generichash_update (&st, root, S_HASH);
    crypto_generichash_final (&st, out, 64);
}

int
macx_batch_root_from_path (const uint8_t digest[64], uint32_t index, uint32_t count,
                           const ProtobufCBinaryData *path, size_t npath, uint8_t root[S_HASH])
{
    /* RFC 9162 2.1.3.2, verifying an inclusion proof */
    if (count == 0 || index >= count)
        return MACX_EBATCHPATH;
    uint64_t fn = index, sn = (uint64_t) count - 1;
    uint8_t r[S_HASH];
    s_leaf (digest, r);
    for (size_t i = 0; i < npath; i++) {
        if (path[i].len != S_HASH || sn == 0)
            return MACX_EBATCHPATH;
        if ((fn & 1) || fn == sn) {
            s_node (path[i].data, r, r);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        }
        else
            s_node (r, path[i].data, r);
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0)
        return MACX_EBATCHPATH;
    memcpy (root, r, S_HASH);
    return MACX_OK;
}

/* ---- sealing a batch --------------------------------------------------------- */

struct macx_record_batch_t {
    macx_identity_t *self;
    const macx_registry_t *registry;
    macx_sealed_t *recs;
    size_t n, cap;
    macx_merkle_t tree;            /* after sign */
    uint8_t root[S_HASH];
    uint8_t sig[MACX_SIG_BYTES];
    bool signed_;
};

macx_record_batch_t *
macx_record_batch_new (macx_identity_t *self, const macx_registry_t *registry)
{
    macx_record_batch_t *b = calloc (1, sizeof *b);
    if (b) {
        b->self = self;
        b->registry = registry;
    }
    return b;
}

void
macx_record_batch_reset (macx_record_batch_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        macx_sealed_clear (&b->recs[i]);
    b->n = 0;
    b->signed_ = false;
}

void
macx_record_batch_destroy (macx_record_batch_t **self_p)
{
    macx_record_batch_t *b = *self_p;
    if (!b)
        return;
    macx_record_batch_reset (b);
    free (b->recs);
    free (b->tree.nodes);
    free (b);
    *self_p = NULL;
}

size_t
macx_record_batch_count (const macx_record_batch_t *b)
{
    return b->n;
}

int
macx_record_batch_add (macx_record_batch_t *b, Macx__Header *header, const Macx__Payload *payload,
                       macx_error_t *err)
{
    if (b->signed_)
        return macx_error_set (err, MACX_EINVAL, "batch is signed already: reset it first");
    if (b->n == MACX_BATCH_MAX)
        return macx_error_set (err, MACX_ELIMIT, "a batch holds at most %d records",
                               MACX_BATCH_MAX);
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        macx_sealed_t *r = realloc (b->recs, cap * sizeof *r);
        if (!r)
            return macx_error_set (err, MACX_ENOMEM, "out of memory");
        b->recs = r;
        b->cap = cap;
    }
    int rc = macx_record_seal_unsigned (b->self, b->registry, header, payload, &b->recs[b->n], err);
    if (rc == MACX_OK)
        b->n++;
    return rc;
}

int
macx_record_batch_sign (macx_record_batch_t *b, macx_error_t *err)
{
    if (b->n == 0)
        return macx_error_set (err, MACX_EINVAL, "batch is empty");
    if (macx_merkle_begin (&b->tree, b->n))
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    for (size_t i = 0; i < b->n; i++)
        macx_merkle_leaf (&b->tree, i, b->recs[i].digest);
    macx_merkle_end (&b->tree);
    memcpy (b->root, macx_merkle_root (&b->tree), S_HASH);
    uint8_t head[64];
    s_head_digest (macx_identity_agency (b->self)->id, (uint32_t) b->n, b->root, head);
    if (macx_identity_sign (b->self, head, sizeof head, b->sig))
        return macx_error_set (err, MACX_ECRYPTO, "signing the batch failed");
    b->signed_ = true;
    return MACX_OK;
}

int
macx_record_batch_take (macx_record_batch_t *b, size_t i, uint8_t **out, size_t *outlen,
                        macx_error_t *err)
{
    *out = NULL;
    *outlen = 0;
    if (!b->signed_ || i >= b->n)
        return macx_error_set (err, MACX_EINVAL, "no record %zu in a signed batch", i);
    ProtobufCBinaryData path[MACX_BATCH_PATH_MAX];
    size_t npath = macx_merkle_path (&b->tree, i, path);
    Macx__BatchProof proof = MACX__BATCH_PROOF__INIT;
    proof.signer = (char *) macx_identity_agency (b->self)->id;
    proof.index = (uint32_t) i;
    proof.count = (uint32_t) b->n;
    proof.root = (ProtobufCBinaryData) { S_HASH, b->root };
    proof.n_path = npath;
    proof.path = path;
    proof.signature = (ProtobufCBinaryData) { MACX_SIG_BYTES, b->sig };
    Macx__KeyWrap wraps[MACX_RECIPIENTS_MAX], *wrap_ptrs[MACX_RECIPIENTS_MAX];
    Macx__Envelope env;
    macx_sealed_envelope (&b->recs[i], &env, wraps, wrap_ptrs);
    env.batch = &proof;
    return macx_envelope_pack (&env, out, outlen, err);
}

/* ---- checking a proof --------------------------------------------------------- */

#define S_CACHE_SLOTS 256

typedef struct {
    const macx_agency_t *signer;   /* NULL: empty */
    uint8_t root[S_HASH];
    uint8_t sig[MACX_SIG_BYTES];
    uint32_t count;
    bool verifying;                /* shared: another thread is checking it now */
} s_slot_t;

struct macx_root_cache_t {
    s_slot_t slot[S_CACHE_SLOTS];
    uint64_t verified, hits;
    bool shared;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

macx_root_cache_t *
macx_root_cache_new (void)
{
    return calloc (1, sizeof (macx_root_cache_t));
}

macx_root_cache_t *
macx_root_cache_new_shared (void)
{
    macx_root_cache_t *c = calloc (1, sizeof *c);
    if (c) {
        c->shared = true;
        pthread_mutex_init (&c->mu, NULL);
        pthread_cond_init (&c->cv, NULL);
    }
    return c;
}

void
macx_root_cache_destroy (macx_root_cache_t **self_p)
{
    macx_root_cache_t *c = *self_p;
    if (c && c->shared) {
        pthread_mutex_destroy (&c->mu);
        pthread_cond_destroy (&c->cv);
    }
    free (c);
    *self_p = NULL;
}

void
macx_root_cache_counts (const macx_root_cache_t *c, uint64_t *verified, uint64_t *hits)
{
    if (c && c->shared)
        pthread_mutex_lock ((pthread_mutex_t *) &c->mu);
    *verified = c ? c->verified : 0;
    *hits = c ? c->hits : 0;
    if (c && c->shared)
        pthread_mutex_unlock ((pthread_mutex_t *) &c->mu);
}

static bool
s_slot_is (const s_slot_t *sl, const macx_agency_t *signer, const Macx__BatchProof *p)
{
    return sl->signer == signer && sl->count == p->count
           && memcmp (sl->root, p->root.data, S_HASH) == 0
           && memcmp (sl->sig, p->signature.data, MACX_SIG_BYTES) == 0;
}

/* The root's signature, checked once per cache: a hit costs a comparison.
 * In a shared cache a second thread asking for a root being checked waits
 * for that check rather than repeating it. */
static int
s_root_verified (macx_root_cache_t *c, const macx_agency_t *sender, const Macx__BatchProof *p)
{
    uint8_t head[64];
    if (!c) {
        s_head_digest (sender->id, p->count, p->root.data, head);
        return macx_keys_verify (sender, head, sizeof head, p->signature.data);
    }
    s_slot_t *sl = &c->slot[(p->root.data[0] | (unsigned) p->root.data[1] << 8) % S_CACHE_SLOTS];
    if (c->shared)
        pthread_mutex_lock (&c->mu);
    while (c->shared && sl->verifying && s_slot_is (sl, sender, p))
        pthread_cond_wait (&c->cv, &c->mu);
    if (!sl->verifying && s_slot_is (sl, sender, p)) {
        c->hits++;
        if (c->shared)
            pthread_mutex_unlock (&c->mu);
        return MACX_OK;
    }
    bool mine = !sl->verifying;   /* a slot another root is being checked in is left to it */
    if (mine) {
        sl->signer = sender;
        sl->count = p->count;
        memcpy (sl->root, p->root.data, S_HASH);
        memcpy (sl->sig, p->signature.data, MACX_SIG_BYTES);
        sl->verifying = c->shared;
    }
    c->verified++;
    if (c->shared)
        pthread_mutex_unlock (&c->mu);
    s_head_digest (sender->id, p->count, p->root.data, head);
    int rc = macx_keys_verify (sender, head, sizeof head, p->signature.data);
    if (c->shared)
        pthread_mutex_lock (&c->mu);
    if (mine) {
        sl->verifying = false;
        if (rc != MACX_OK)
            sl->signer = NULL;
    }
    if (c->shared) {
        pthread_cond_broadcast (&c->cv);
        pthread_mutex_unlock (&c->mu);
    }
    return rc;
}

int
macx_batch_check_shape (const Macx__BatchProof *p, macx_error_t *err)
{
    if (p->count == 0 || p->count > MACX_BATCH_MAX)
        return macx_error_set (err, MACX_EDECODE, "batch of %u records: want 1 to %d", p->count,
                               MACX_BATCH_MAX);
    if (p->index >= p->count)
        return macx_error_set (err, MACX_EDECODE, "batch index %u is not below its count %u",
                               p->index, p->count);
    if (p->root.len != S_HASH)
        return macx_error_set (err, MACX_EDECODE, "batch root is %zu bytes, want %d", p->root.len,
                               S_HASH);
    if (p->signature.len != MACX_SIG_BYTES)
        return macx_error_set (err, MACX_EDECODE, "batch signature is %zu bytes, want %d",
                               p->signature.len, MACX_SIG_BYTES);
    if (p->n_path > MACX_BATCH_PATH_MAX)
        return macx_error_set (err, MACX_EDECODE, "batch path of %zu hashes, at most %d",
                               p->n_path, MACX_BATCH_PATH_MAX);
    for (size_t i = 0; i < p->n_path; i++)
        if (p->path[i].len != S_HASH)
            return macx_error_set (err, MACX_EDECODE, "batch path hash %zu is %zu bytes, want %d",
                                   i, p->path[i].len, S_HASH);
    if (!p->signer[0])
        return macx_error_set (err, MACX_EDECODE, "batch proof names no signer");
    return MACX_OK;
}

int
macx_batch_check (macx_root_cache_t *cache, const Macx__Envelope *env,
                  const macx_agency_t *sender, const uint8_t digest[64], macx_error_t *err)
{
    const Macx__BatchProof *p = env->batch;
    int rc = macx_batch_check_shape (p, err);
    if (rc)
        return rc;
    if (strcmp (p->signer, sender->id) != 0)
        return macx_error_set (err, MACX_EFOREIGNROOT, "batch root is signed by '%.40s', but the "
                               "record's sender is '%s': a sender signs only its own records",
                               p->signer, sender->id);
    uint8_t root[S_HASH];
    if (macx_batch_root_from_path (digest, p->index, p->count, p->path, p->n_path, root)
        || sodium_memcmp (root, p->root.data, S_HASH) != 0)
        return macx_error_set (err, MACX_EBATCHPATH, "record %u of %u in a batch from %s: its "
                               "inclusion path does not lead to the root it names (forged, or "
                               "a record or position changed)", p->index, p->count, sender->id);
    if (s_root_verified (cache, sender, p) != MACX_OK)
        return macx_error_set (err, MACX_EBADSIG, "bad batch signature from %s", sender->id);
    return MACX_OK;
}
