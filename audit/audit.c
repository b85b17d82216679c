/* audit.c -- the hash-chained audit log: appending entries and signed
 * checkpoints inside the broker's LMDB write transaction, and reading,
 * verifying and querying it from a read-only environment. Owns no policy:
 * it records what the broker tells it. */
#include "audit.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "file.h"
#include "json.h"
#include "names.h"

#define S_ENTRY_DOMAIN      "macx-audit-v1"
#define S_ENTRY_DOMAIN_LEN  13
#define S_CP_DOMAIN         "macx-checkpoint-v1"
#define S_CP_DOMAIN_LEN     18
#define S_CP_MSG_LEN        (S_CP_DOMAIN_LEN + 8 + MACX_AUDIT_HASH_BYTES + 8)
#define S_ENTRY_MAX         (1u << 20)   /* a serialised entry is far smaller */
#define S_CHECKPOINT_MAX    4096

static const uint8_t s_zero_hash[MACX_AUDIT_HASH_BYTES];

/* ---- shared helpers ------------------------------------------------------ */

static void
s_be64_put (uint64_t v, uint8_t out[8])
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t) v;
        v >>= 8;
    }
}

static uint64_t
s_be64_get (const uint8_t in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | in[i];
    return v;
}

static void
s_le64_put (uint64_t v, uint8_t *out)
{
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t) v;
        v >>= 8;
    }
}

/* Returns the key as a seq, or 0 when it is not 8 bytes. */
static uint64_t
s_key_seq (const MDB_val *key)
{
    return key->mv_size == 8 ? s_be64_get (key->mv_data) : 0;
}

/* hash = BLAKE2b-256(domain || prev_hash || entry bytes). */
static void
s_entry_hash (const uint8_t prev[MACX_AUDIT_HASH_BYTES], const uint8_t *bytes, size_t len,
              uint8_t out[MACX_AUDIT_HASH_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init (&st, NULL, 0, MACX_AUDIT_HASH_BYTES);
    crypto_generichash_update (&st, (const uint8_t *) S_ENTRY_DOMAIN, S_ENTRY_DOMAIN_LEN);
    crypto_generichash_update (&st, prev, MACX_AUDIT_HASH_BYTES);
    crypto_generichash_update (&st, bytes, len);
    crypto_generichash_final (&st, out, MACX_AUDIT_HASH_BYTES);
}

/* The bytes a checkpoint signature covers. */
static void
s_checkpoint_msg (uint64_t seq, const uint8_t head[MACX_AUDIT_HASH_BYTES], int64_t time_ms,
                  uint8_t out[S_CP_MSG_LEN])
{
    memcpy (out, S_CP_DOMAIN, S_CP_DOMAIN_LEN);
    s_le64_put (seq, out + S_CP_DOMAIN_LEN);
    memcpy (out + S_CP_DOMAIN_LEN + 8, head, MACX_AUDIT_HASH_BYTES);
    s_le64_put ((uint64_t) time_ms, out + S_CP_DOMAIN_LEN + 8 + MACX_AUDIT_HASH_BYTES);
}

static int
s_store_error (macx_error_t *err, const char *what, int rc)
{
    if (rc == MDB_MAP_FULL)
        return macx_error_set (err, MACX_ESTORE,
                               "audit %s: the LMDB map is full (%s); raise the map size",
                               what, mdb_strerror (rc));
    return macx_error_set (err, MACX_ESTORE, "audit %s: %s", what, mdb_strerror (rc));
}

/* ---- writer ------------------------------------------------------------ */

struct macx_audit_t {
    MDB_dbi audit;
    MDB_dbi checkpoints;
    uint64_t head_seq;                             /* committed */
    uint8_t head_hash[MACX_AUDIT_HASH_BYTES];
    uint64_t cp_seq;                               /* last committed checkpoint */
    uint64_t pending_seq;                          /* within the open txn */
    uint8_t pending_hash[MACX_AUDIT_HASH_BYTES];
    uint64_t pending_cp_seq;
    uint8_t prev_out[MACX_AUDIT_HASH_BYTES];       /* entry->prev_hash points here */
    uint8_t *buf;
    size_t bufsize;
};

macx_audit_t *
macx_audit_attach (MDB_env *env, MDB_txn *txn, macx_error_t *err)
{
    (void) env;
    if (sodium_init () < 0) {
        macx_error_set (err, MACX_ECRYPTO, "libsodium did not initialise");
        return NULL;
    }
    macx_audit_t *self = calloc (1, sizeof *self);
    if (!self) {
        macx_error_set (err, MACX_ENOMEM, "out of memory");
        return NULL;
    }
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    int rc = mdb_dbi_open (txn, "audit", MDB_CREATE, &self->audit);
    if (rc == 0)
        rc = mdb_dbi_open (txn, "checkpoints", MDB_CREATE, &self->checkpoints);
    if (rc) {
        s_store_error (err, "open", rc);
        goto fail;
    }
    if ((rc = mdb_cursor_open (txn, self->audit, &cur))) {
        s_store_error (err, "open", rc);
        goto fail;
    }
    rc = mdb_cursor_get (cur, &key, &val, MDB_LAST);
    if (rc == 0) {
        self->head_seq = s_key_seq (&key);
        if (self->head_seq == 0 || val.mv_size < MACX_AUDIT_HASH_BYTES) {
            macx_error_set (err, MACX_EFORMAT,
                            "audit: the last entry is malformed; run `macx audit verify`");
            goto fail;
        }
        memcpy (self->head_hash, val.mv_data, MACX_AUDIT_HASH_BYTES);
    }
    else if (rc != MDB_NOTFOUND) {
        s_store_error (err, "open", rc);
        goto fail;
    }
    mdb_cursor_close (cur);
    cur = NULL;
    if ((rc = mdb_cursor_open (txn, self->checkpoints, &cur))) {
        s_store_error (err, "open", rc);
        goto fail;
    }
    rc = mdb_cursor_get (cur, &key, &val, MDB_LAST);
    if (rc == 0)
        self->cp_seq = s_key_seq (&key);
    else if (rc != MDB_NOTFOUND) {
        s_store_error (err, "open", rc);
        goto fail;
    }
    mdb_cursor_close (cur);
    if (self->cp_seq > self->head_seq)
        self->cp_seq = self->head_seq;   /* verify reports it; do not underflow */
    macx_audit_aborted (self);           /* pending := committed */
    return self;
fail:
    if (cur)
        mdb_cursor_close (cur);
    free (self);
    return NULL;
}

void
macx_audit_destroy (macx_audit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->buf);
    free (*self_p);
    *self_p = NULL;
}

int
macx_audit_append (macx_audit_t *self, MDB_txn *txn, Macx__AuditEntry *entry, uint64_t *seq,
                   macx_error_t *err)
{
    assert (self && txn && entry);
    memcpy (self->prev_out, self->pending_hash, MACX_AUDIT_HASH_BYTES);
    entry->seq = self->pending_seq + 1;
    entry->prev_hash.data = self->prev_out;
    entry->prev_hash.len = MACX_AUDIT_HASH_BYTES;
    if (entry->time_ms == 0)
        entry->time_ms = macx_clock_wall_ms ();
    size_t len = macx__audit_entry__get_packed_size (entry);
    if (len > S_ENTRY_MAX)
        return macx_error_set (err, MACX_ETOOBIG, "audit entry of %zu bytes is over the %u-byte bound",
                               len, S_ENTRY_MAX);
    size_t need = MACX_AUDIT_HASH_BYTES + len;
    if (need > self->bufsize) {
        uint8_t *buf = realloc (self->buf, need * 2);
        if (!buf)
            return macx_error_set (err, MACX_ENOMEM, "out of memory");
        self->buf = buf;
        self->bufsize = need * 2;
    }
    macx__audit_entry__pack (entry, self->buf + MACX_AUDIT_HASH_BYTES);
    uint8_t hash[MACX_AUDIT_HASH_BYTES];
    s_entry_hash (self->prev_out, self->buf + MACX_AUDIT_HASH_BYTES, len, hash);
    memcpy (self->buf, hash, MACX_AUDIT_HASH_BYTES);
    uint8_t k[8];
    s_be64_put (entry->seq, k);
    MDB_val key = { 8, k }, val = { need, self->buf };
    int rc = mdb_put (txn, self->audit, &key, &val, MDB_APPEND);
    if (rc)
        return s_store_error (err, "append", rc);
    self->pending_seq = entry->seq;
    memcpy (self->pending_hash, hash, MACX_AUDIT_HASH_BYTES);
    if (seq)
        *seq = entry->seq;
    return 0;
}

int
macx_audit_checkpoint (macx_audit_t *self, MDB_txn *txn, const macx_identity_t *broker,
                       macx_error_t *err)
{
    assert (self && txn && broker);
    if (self->pending_seq == self->pending_cp_seq)
        return 0;
    Macx__Checkpoint cp = MACX__CHECKPOINT__INIT;
    uint8_t sig[MACX_SIG_BYTES], msg[S_CP_MSG_LEN], head[MACX_AUDIT_HASH_BYTES];
    memcpy (head, self->pending_hash, sizeof head);
    cp.seq = self->pending_seq;
    cp.head.data = head;
    cp.head.len = sizeof head;
    cp.time_ms = macx_clock_wall_ms ();
    cp.broker = (char *) macx_identity_agency (broker)->id;
    s_checkpoint_msg (cp.seq, head, cp.time_ms, msg);
    int rc = macx_identity_sign (broker, msg, sizeof msg, sig);
    if (rc)
        return macx_error_set (err, rc, "audit checkpoint: signing failed");
    cp.signature.data = sig;
    cp.signature.len = sizeof sig;
    uint8_t buf[S_CHECKPOINT_MAX], k[8];
    size_t len = macx__checkpoint__get_packed_size (&cp);
    assert (len <= sizeof buf);
    macx__checkpoint__pack (&cp, buf);
    s_be64_put (cp.seq, k);
    MDB_val key = { 8, k }, val = { len, buf };
    if ((rc = mdb_put (txn, self->checkpoints, &key, &val, MDB_APPEND)))
        return s_store_error (err, "checkpoint", rc);
    self->pending_cp_seq = cp.seq;
    return 0;
}

uint64_t
macx_audit_since_checkpoint (const macx_audit_t *self)
{
    return self->pending_seq - self->pending_cp_seq;
}

void
macx_audit_committed (macx_audit_t *self)
{
    self->head_seq = self->pending_seq;
    memcpy (self->head_hash, self->pending_hash, MACX_AUDIT_HASH_BYTES);
    self->cp_seq = self->pending_cp_seq;
}

void
macx_audit_aborted (macx_audit_t *self)
{
    self->pending_seq = self->head_seq;
    memcpy (self->pending_hash, self->head_hash, MACX_AUDIT_HASH_BYTES);
    self->pending_cp_seq = self->cp_seq;
}

static Macx__AuditEntry *s_entry_unpack (const MDB_val *val);

int
macx_audit_get (macx_audit_t *self, MDB_txn *txn, uint64_t seq, Macx__AuditEntry **entry,
                macx_error_t *err)
{
    assert (self && txn && entry);
    *entry = NULL;
    uint8_t k[8];
    s_be64_put (seq, k);
    MDB_val key = { 8, k }, val;
    int rc = mdb_get (txn, self->audit, &key, &val);
    if (rc == MDB_NOTFOUND)
        return macx_error_set (err, MACX_ENOTFOUND, "no audit entry %" PRIu64, seq);
    if (rc)
        return s_store_error (err, "read", rc);
    if (!(*entry = s_entry_unpack (&val)))
        return macx_error_set (err, MACX_EFORMAT, "audit entry %" PRIu64 " does not decode; run "
                               "`macx audit verify`", seq);
    return MACX_OK;
}

uint64_t
macx_audit_head_seq (const macx_audit_t *self)
{
    return self->head_seq;
}

/* ---- readers ----------------------------------------------------------- */

struct macx_audit_reader_t {
    MDB_env *env;
};

macx_audit_reader_t *
macx_audit_reader_open (const char *data_dir, macx_error_t *err)
{
    if (sodium_init () < 0) {
        macx_error_set (err, MACX_ECRYPTO, "libsodium did not initialise");
        return NULL;
    }
    char path[4096];
    struct stat st;
    snprintf (path, sizeof path, "%s/data.mdb", data_dir);
    if (stat (path, &st) != 0) {
        macx_error_set (err, MACX_ENOTFOUND, "%s: no broker store here (no data.mdb)", data_dir);
        return NULL;
    }
    macx_audit_reader_t *self = calloc (1, sizeof *self);
    if (!self) {
        macx_error_set (err, MACX_ENOMEM, "out of memory");
        return NULL;
    }
    int rc = mdb_env_create (&self->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs (self->env, MACX_AUDIT_MAXDBS);
    /* No map size: a read-only env takes the one recorded in the file. */
    if (rc == 0)
        rc = mdb_env_open (self->env, data_dir, MDB_RDONLY | MDB_NOTLS, 0600);
    if (rc) {
        macx_error_set (err, rc == EACCES ? MACX_EIO : MACX_ESTORE, "%s: cannot open the store: %s",
                        data_dir, mdb_strerror (rc));
        macx_audit_reader_destroy (&self);
        return NULL;
    }
    return self;
}

MDB_env *
macx_audit_reader_env (macx_audit_reader_t *self)
{
    return self->env;
}

void
macx_audit_reader_destroy (macx_audit_reader_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    if ((*self_p)->env)
        mdb_env_close ((*self_p)->env);
    free (*self_p);
    *self_p = NULL;
}

/* A read transaction over the audit databases. Missing databases (a store
 * the broker has not yet written an entry to) read as empty. */
typedef struct {
    MDB_txn *txn;
    MDB_cursor *entries;      /* NULL when there is no "audit" database */
    MDB_cursor *checkpoints;  /* NULL when there is no "checkpoints" database */
} s_view_t;

static void
s_view_close (s_view_t *v)
{
    if (v->entries)
        mdb_cursor_close (v->entries);
    if (v->checkpoints)
        mdb_cursor_close (v->checkpoints);
    if (v->txn)
        mdb_txn_abort (v->txn);
    memset (v, 0, sizeof *v);
}

static int
s_view_open (macx_audit_reader_t *self, s_view_t *v, macx_error_t *err)
{
    memset (v, 0, sizeof *v);
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &v->txn);
    if (rc == MDB_MAP_RESIZED) {
        /* The broker grew the map since we opened: adopt its size. */
        mdb_env_set_mapsize (self->env, 0);
        rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &v->txn);
    }
    if (rc) {
        v->txn = NULL;
        return s_store_error (err, "read", rc);
    }
    static const char *const names[2] = { "audit", "checkpoints" };
    MDB_cursor **curs[2] = { &v->entries, &v->checkpoints };
    for (int i = 0; i < 2; i++) {
        MDB_dbi dbi;
        rc = mdb_dbi_open (v->txn, names[i], 0, &dbi);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc == 0)
            rc = mdb_cursor_open (v->txn, dbi, curs[i]);
        if (rc) {
            s_view_close (v);
            return s_store_error (err, "read", rc);
        }
    }
    return 0;
}

/* Positions c (may be NULL) with op; MDB_NOTFOUND when nothing is there. */
static int
s_get (MDB_cursor *c, MDB_val *key, MDB_val *val, MDB_cursor_op op)
{
    return c ? mdb_cursor_get (c, key, val, op) : MDB_NOTFOUND;
}

static Macx__AuditEntry *
s_entry_unpack (const MDB_val *val)
{
    if (val->mv_size < MACX_AUDIT_HASH_BYTES
        || val->mv_size - MACX_AUDIT_HASH_BYTES > S_ENTRY_MAX)
        return NULL;
    return macx__audit_entry__unpack (NULL, val->mv_size - MACX_AUDIT_HASH_BYTES,
                                      (const uint8_t *) val->mv_data + MACX_AUDIT_HASH_BYTES);
}

/* ---- verify ------------------------------------------------------------ */

/* Records the first problem at seq; returns code. */
static int
s_bad (macx_audit_report_t *r, macx_error_t *err, int code, uint64_t seq, const char *fmt, ...)
    __attribute__ ((format (printf, 5, 6)));

static int
s_bad (macx_audit_report_t *r, macx_error_t *err, int code, uint64_t seq, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (r->problem, sizeof r->problem, fmt, ap);
    va_end (ap);
    r->first_bad = seq;
    return macx_error_set (err, code, "audit log broken at entry %" PRIu64 ": %s", seq, r->problem);
}

/* Checks the checkpoint under cursor position (key, val) against the stored
 * hash of entry seq. */
static int
s_check_checkpoint (const MDB_val *key, const MDB_val *val, uint64_t seq,
                    const uint8_t hash[MACX_AUDIT_HASH_BYTES], const macx_agency_t *broker,
                    macx_audit_report_t *r, macx_error_t *err)
{
    Macx__Checkpoint *cp = NULL;
    int rc = 0;
    if (val->mv_size <= S_CHECKPOINT_MAX)
        cp = macx__checkpoint__unpack (NULL, val->mv_size, val->mv_data);
    if (!cp)
        return s_bad (r, err, MACX_EFORMAT, seq, "checkpoint at %" PRIu64 " does not decode", seq);
    uint8_t msg[S_CP_MSG_LEN];
    if (cp->seq != s_key_seq (key))
        rc = s_bad (r, err, MACX_EFORMAT, seq,
                    "checkpoint at %" PRIu64 " claims seq %" PRIu64 " (checkpoint moved)", seq,
                    cp->seq);
    else if (cp->head.len != MACX_AUDIT_HASH_BYTES || cp->signature.len != MACX_SIG_BYTES)
        rc = s_bad (r, err, MACX_EFORMAT, seq,
                    "checkpoint at %" PRIu64 " has a head or signature of the wrong size", seq);
    else if (strcmp (cp->broker, broker->id) != 0)
        rc = s_bad (r, err, MACX_EBADSIG, seq,
                    "checkpoint at %" PRIu64 " is signed by '%s', not by '%s'", seq, cp->broker,
                    broker->id);
    else {
        s_checkpoint_msg (cp->seq, cp->head.data, cp->time_ms, msg);
        if (macx_keys_verify (broker, msg, sizeof msg, cp->signature.data) != 0)
            rc = s_bad (r, err, MACX_EBADSIG, seq,
                        "checkpoint at %" PRIu64 ": signature does not verify (checkpoint forged "
                        "or altered)", seq);
        else if (sodium_memcmp (cp->head.data, hash, MACX_AUDIT_HASH_BYTES) != 0)
            rc = s_bad (r, err, MACX_EBADSIG, seq,
                        "checkpoint at %" PRIu64 ": signed head does not match the stored hash of "
                        "entry %" PRIu64 " (entries up to it were rewritten)", seq, seq);
    }
    macx__checkpoint__free_unpacked (cp, NULL);
    return rc;
}

int
macx_audit_verify (macx_audit_reader_t *self, const macx_agency_t *broker,
                   macx_audit_report_t *report, macx_error_t *err)
{
    assert (self && broker && report);
    memset (report, 0, sizeof *report);
    s_view_t v;
    int rc = s_view_open (self, &v, err);
    if (rc)
        return rc;
    uint8_t prev[MACX_AUDIT_HASH_BYTES], hash[MACX_AUDIT_HASH_BYTES];
    memcpy (prev, s_zero_hash, sizeof prev);
    MDB_val key, val, ckey, cval;
    int have_cp = s_get (v.checkpoints, &ckey, &cval, MDB_FIRST) == 0;
    uint64_t expect = 1;
    int mrc = s_get (v.entries, &key, &val, MDB_FIRST);
    for (; mrc == 0; mrc = s_get (v.entries, &key, &val, MDB_NEXT), expect++) {
        uint64_t seq = s_key_seq (&key);
        if (seq != expect) {
            if (seq > expect)
                rc = s_bad (report, err, MACX_EFORMAT, expect,
                            "missing (the next stored entry is %" PRIu64 "; entries removed)", seq);
            else
                rc = s_bad (report, err, MACX_EFORMAT, expect,
                            "stored under a malformed key");
            goto done;
        }
        if (val.mv_size < MACX_AUDIT_HASH_BYTES) {
            rc = s_bad (report, err, MACX_EFORMAT, seq, "value shorter than its hash (truncated)");
            goto done;
        }
        const uint8_t *stored = val.mv_data;
        Macx__AuditEntry *e = s_entry_unpack (&val);
        if (!e) {
            rc = s_bad (report, err, MACX_EFORMAT, seq, "does not decode (entry modified)");
            goto done;
        }
        const char *problem = NULL;
        if (e->seq != seq)
            problem = "carries a different sequence number (entry moved)";
        else if (e->prev_hash.len != MACX_AUDIT_HASH_BYTES
                 || sodium_memcmp (e->prev_hash.data, prev, MACX_AUDIT_HASH_BYTES) != 0)
            problem = "previous-hash link broken (an entry before it was changed or removed)";
        macx__audit_entry__free_unpacked (e, NULL);
        if (problem) {
            rc = s_bad (report, err, MACX_EFORMAT, seq, "%s", problem);
            goto done;
        }
        s_entry_hash (prev, stored + MACX_AUDIT_HASH_BYTES, val.mv_size - MACX_AUDIT_HASH_BYTES,
                      hash);
        if (sodium_memcmp (hash, stored, MACX_AUDIT_HASH_BYTES) != 0) {
            rc = s_bad (report, err, MACX_EFORMAT, seq,
                        "stored hash does not match its contents (entry modified)");
            goto done;
        }
        memcpy (prev, stored, sizeof prev);
        report->entries = seq;
        while (have_cp && s_key_seq (&ckey) <= seq) {
            if (s_key_seq (&ckey) < seq) {
                rc = s_bad (report, err, MACX_EFORMAT, seq,
                            "a checkpoint is stored under a malformed key");
                goto done;
            }
            if ((rc = s_check_checkpoint (&ckey, &cval, seq, prev, broker, report, err)))
                goto done;
            report->checkpoints++;
            report->last_checkpoint = seq;
            have_cp = s_get (v.checkpoints, &ckey, &cval, MDB_NEXT) == 0;
        }
    }
    if (mrc != MDB_NOTFOUND) {
        rc = s_store_error (err, "read", mrc);
        goto done;
    }
    if (have_cp) {
        uint64_t cseq = s_key_seq (&ckey);
        rc = s_bad (report, err, MACX_EBADSIG, expect,
                    "checkpoint at %" PRIu64 " is beyond the last entry %" PRIu64
                    " (entries removed)", cseq, expect - 1);
        goto done;
    }
done:
    report->unsigned_tail = report->entries - report->last_checkpoint;
    s_view_close (&v);
    return rc;
}

/* ---- scan -------------------------------------------------------------- */

static int
s_matches (const Macx__AuditEntry *e, const macx_audit_filter_t *f)
{
    if (!f)
        return 1;
    if (f->case_id && strcmp (e->case_id, f->case_id) != 0)
        return 0;
    if (f->event && strcmp (e->event, f->event) != 0)
        return 0;
    if (f->since_ms && e->time_ms < f->since_ms)
        return 0;
    if (f->agency) {
        int hit = strcmp (e->peer, f->agency) == 0 || strcmp (e->sender, f->agency) == 0
                  || strcmp (e->recipient, f->agency) == 0;
        for (size_t i = 0; !hit && i < e->n_recipients; i++)
            hit = strcmp (e->recipients[i], f->agency) == 0;
        if (!hit)
            return 0;
    }
    return 1;
}

int
macx_audit_scan (macx_audit_reader_t *self, const macx_audit_filter_t *filter, macx_audit_fn fn,
                 void *arg, macx_error_t *err)
{
    assert (self && fn);
    s_view_t v;
    int rc = s_view_open (self, &v, err);
    if (rc)
        return rc;
    uint8_t k[8];
    s_be64_put (filter && filter->from_seq ? filter->from_seq : 1, k);
    MDB_val key = { 8, k }, val;
    uint64_t matched = 0;
    int mrc = s_get (v.entries, &key, &val, MDB_SET_RANGE);
    for (; mrc == 0; mrc = s_get (v.entries, &key, &val, MDB_NEXT)) {
        Macx__AuditEntry *e = s_entry_unpack (&val);
        if (!e) {
            rc = macx_error_set (err, MACX_EFORMAT,
                                 "audit entry %" PRIu64 " does not decode; run `macx audit verify`",
                                 s_key_seq (&key));
            break;
        }
        if (s_matches (e, filter)) {
            rc = fn (e, arg);
            matched++;
        }
        macx__audit_entry__free_unpacked (e, NULL);
        if (rc || (filter && filter->limit && matched >= filter->limit))
            break;
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND)
        rc = s_store_error (err, "read", mrc);
    s_view_close (&v);
    return rc;
}

/* ---- export ------------------------------------------------------------ */

static void
s_hex_json (FILE *out, const uint8_t *data, size_t len)
{
    fputc ('"', out);
    char h[3];
    for (size_t i = 0; i < len; i++) {
        macx_hex_encode (data + i, 1, h);
        fputs (h, out);
    }
    fputc ('"', out);
}

static void s_entry_json (FILE *out, const Macx__AuditEntry *e, const uint8_t *hash,
                          const uint8_t *raw, size_t rawlen);

static void
s_checkpoint_json (FILE *out, const MDB_val *key, const MDB_val *val)
{
    Macx__Checkpoint *cp = NULL;
    if (val->mv_size <= S_CHECKPOINT_MAX)
        cp = macx__checkpoint__unpack (NULL, val->mv_size, val->mv_data);
    fprintf (out, "{\"type\":\"checkpoint\",\"seq\":%" PRIu64, s_key_seq (key));
    if (cp) {
        char t[40];
        macx_audit_format_time (cp->time_ms, t);
        fprintf (out, ",\"head\":");
        s_hex_json (out, cp->head.data, cp->head.len);
        fprintf (out, ",\"time_ms\":%" PRId64 ",\"time\":\"%s\",\"broker\":", cp->time_ms, t);
        macx_json_str (out, cp->broker);
        fprintf (out, ",\"signature\":");
        s_hex_json (out, cp->signature.data, cp->signature.len);
        macx__checkpoint__free_unpacked (cp, NULL);
    }
    else {
        fprintf (out, ",\"decode_error\":true,\"raw\":");
        s_hex_json (out, val->mv_data, val->mv_size);
    }
    fprintf (out, "}\n");
}

int
macx_audit_export (macx_audit_reader_t *self, FILE *out, macx_error_t *err)
{
    assert (self && out);
    s_view_t v;
    int rc = s_view_open (self, &v, err);
    if (rc)
        return rc;
    MDB_val key, val, ckey, cval;
    int have_cp = s_get (v.checkpoints, &ckey, &cval, MDB_FIRST) == 0;
    int mrc = s_get (v.entries, &key, &val, MDB_FIRST);
    for (; mrc == 0; mrc = s_get (v.entries, &key, &val, MDB_NEXT)) {
        uint64_t seq = s_key_seq (&key);
        while (have_cp && s_key_seq (&ckey) < seq) {
            s_checkpoint_json (out, &ckey, &cval);
            have_cp = s_get (v.checkpoints, &ckey, &cval, MDB_NEXT) == 0;
        }
        Macx__AuditEntry *e = s_entry_unpack (&val);
        const uint8_t *p = val.mv_data;
        if (e) {
            s_entry_json (out, e, p, p + MACX_AUDIT_HASH_BYTES, val.mv_size - MACX_AUDIT_HASH_BYTES);
            macx__audit_entry__free_unpacked (e, NULL);
        }
        else {
            fprintf (out, "{\"type\":\"entry\",\"seq\":%" PRIu64 ",\"decode_error\":true,\"raw\":",
                     seq);
            s_hex_json (out, p, val.mv_size);
            fputc ('}', out);
        }
        fputc ('\n', out);
    }
    for (; have_cp; have_cp = s_get (v.checkpoints, &ckey, &cval, MDB_NEXT) == 0)
        s_checkpoint_json (out, &ckey, &cval);
    if (mrc != MDB_NOTFOUND)
        rc = s_store_error (err, "read", mrc);
    else if (fflush (out) != 0 || ferror (out))
        rc = macx_error_set (err, MACX_EIO, "audit export: write failed: %s", strerror (errno));
    s_view_close (&v);
    return rc;
}

/* ---- time and printing ------------------------------------------------- */

char *
macx_audit_format_time (int64_t ms, char *buf)
{
    return macx_time_format_ms (ms, buf);
}

/* Reads exactly n digits at *p into v. */
static int
s_digits (const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        *v = *v * 10 + (**p - '0');
    }
    return 0;
}

int
macx_audit_parse_time (const char *text, int64_t *ms)
{
    char date[11];
    int32_t days;
    if (!text || strlen (text) < 10)
        return -1;
    memcpy (date, text, 10);
    date[10] = '\0';
    if (macx_date_parse (date, &days))
        return -1;
    int64_t t = (int64_t) days * 86400000;
    const char *p = text + 10;
    if (*p == 'T' || *p == ' ') {
        int h, mi, s = 0, frac = 0;
        p++;
        if (s_digits (&p, 2, &h) || *p++ != ':' || s_digits (&p, 2, &mi))
            return -1;
        if (*p == ':') {
            p++;
            if (s_digits (&p, 2, &s))
                return -1;
            if (*p == '.') {
                p++;
                int scale = 100, n = 0;
                while (*p >= '0' && *p <= '9') {
                    if (n++ < 3) {
                        frac += (*p - '0') * scale;
                        scale /= 10;
                    }
                    p++;
                }
                if (n == 0)
                    return -1;
            }
        }
        if (h > 23 || mi > 59 || s > 60)
            return -1;
        if (*p == 'Z')
            p++;
        t += (int64_t) h * 3600000 + mi * 60000 + s * 1000 + frac;
    }
    if (*p != '\0')
        return -1;
    *ms = t;
    return 0;
}

static void
s_field (FILE *out, const char *name, const char *value)
{
    fprintf (out, ",\"%s\":", name);
    macx_json_str (out, value);
}

/* A complaint's fields (docs/audit.md "Complaints"): what differs between
 * the payload and its header, and the record's accept entry. */
/* ,"key":[{"name":..,"transform":..},...]: a manifest, or a list of fields
 * with their transforms. */
static void
s_fields_json (FILE *out, const char *key, Macx__FieldEntry *const *v, size_t n)
{
    fprintf (out, ",\"%s\":[", key);
    for (size_t i = 0; i < n; i++) {
        fprintf (out, "%s{\"name\":", i ? "," : "");
        macx_json_str (out, v[i]->name);
        fprintf (out, ",\"transform\":");
        macx_json_str (out, v[i]->transform);
        fputc ('}', out);
    }
    fputc (']', out);
}

static void
s_complaint_json (FILE *out, const Macx__AuditEntry *e)
{
    static const char *const lists[] = { "undeclared_fields", "absent_fields" };
    for (int l = 0; l < 2; l++) {
        size_t n = l ? e->n_absent_fields : e->n_undeclared_fields;
        char **v = l ? e->absent_fields : e->undeclared_fields;
        fprintf (out, ",\"%s\":[", lists[l]);
        for (size_t i = 0; i < n; i++) {
            if (i)
                fputc (',', out);
            macx_json_str (out, v[i]);
        }
        fputc (']', out);
    }
    s_fields_json (out, "transform_mismatches", e->transform_mismatches, e->n_transform_mismatches);
    s_field (out, "payload_type", e->payload_type);
    fprintf (out, ",\"accept_seq\":%" PRIu64, e->accept_seq);
}

/* The same, in a text line: only what is there. */
static void
s_complaint_text (FILE *out, const Macx__AuditEntry *e)
{
    if (e->payload_type[0])
        fprintf (out, " payload_type=%s", e->payload_type);
    if (e->n_undeclared_fields) {
        fprintf (out, " undeclared=");
        for (size_t i = 0; i < e->n_undeclared_fields; i++)
            fprintf (out, "%s%s", i ? "," : "", e->undeclared_fields[i]);
    }
    if (e->n_absent_fields) {
        fprintf (out, " absent=");
        for (size_t i = 0; i < e->n_absent_fields; i++)
            fprintf (out, "%s%s", i ? "," : "", e->absent_fields[i]);
    }
    if (e->n_transform_mismatches) {
        fprintf (out, " transform_mismatch=");
        for (size_t i = 0; i < e->n_transform_mismatches; i++)
            fprintf (out, "%s%s:%s", i ? "," : "", e->transform_mismatches[i]->name,
                     e->transform_mismatches[i]->transform);
    }
    if (e->accept_seq)
        fprintf (out, " accept_seq=%" PRIu64, e->accept_seq);
}

/* The case context an accept or refuse entry was judged by (docs/policy.md
 * "Case context"): the phases its case had reached, by name in MAC order,
 * and the phase it needed ("" for none). */
static void
s_case_json (FILE *out, const Macx__AuditEntry *e)
{
    fprintf (out, ",\"case_reached\":[");
    int n = 0;
    for (int p = MACX__PHASE__IDENTIFICATION; p <= MACX__PHASE__PANEL; p++)
        if (e->case_reached >> p & 1u) {
            fprintf (out, "%s", n++ ? "," : "");
            macx_json_str (out, macx_phase_name (p));
        }
    fputc (']', out);
    s_field (out, "case_needed", e->case_needed ? macx_phase_name (e->case_needed) : "");
}

/* Retention at the recipient: the terms of its copy (deliver, purge,
 * retention_*), and what it said it did with it, signed (retention_*). */
static void
s_retention_json (FILE *out, const Macx__AuditEntry *e)
{
    const Macx__Terms *t = e->terms;
    char when[40];
    fprintf (out, ",\"terms\":");
    if (t) {
        fprintf (out, "{\"agreement\":");
        macx_json_str (out, t->agreement);
        s_field (out, "flow", t->flow);
        fprintf (out, ",\"retention_days\":%" PRIu32, t->retention_days);
        s_field (out, "retention_from", t->retention_from);
        fprintf (out, ",\"expires_ms\":%" PRId64, t->expires_ms);
        s_field (out, "expires", t->expires_ms ? macx_audit_format_time (t->expires_ms, when) : "");
        s_field (out, "on_expiry", t->on_expiry);
        s_field (out, "disclose_basis", t->disclose_basis);
        s_field (out, "receive_basis", t->receive_basis);
        fputc ('}', out);
    }
    else
        fputs ("null", out);
    fprintf (out, ",\"acted_ms\":%" PRId64 ",\"agency_signature\":", e->acted_ms);
    s_hex_json (out, e->agency_signature.data, e->agency_signature.len);
}

/* ... and in a text line: the agreement (deliveries name none of their
 * own) and when the copy expires. */
static void
s_retention_text (FILE *out, const Macx__AuditEntry *e)
{
    const Macx__Terms *t = e->terms;
    if (!t)
        return;
    if (!e->agreement[0] && t->agreement[0])
        fprintf (out, " %s%s%s", t->agreement, t->flow[0] ? "/" : "", t->flow);
    if (t->expires_ms) {
        char when[40];
        fprintf (out, " expires=%s %s", macx_audit_format_time (t->expires_ms, when), t->on_expiry);
    }
}

static void
s_entry_json (FILE *out, const Macx__AuditEntry *e, const uint8_t *hash, const uint8_t *raw,
              size_t rawlen)
{
    char t[40];
    fprintf (out, "{");
    if (hash)
        fprintf (out, "\"type\":\"entry\",");
    fprintf (out, "\"seq\":%" PRIu64 ",\"time\":\"%s\",\"time_ms\":%" PRId64, e->seq,
             macx_audit_format_time (e->time_ms, t), e->time_ms);
    s_field (out, "event", e->event);
    s_field (out, "peer", e->peer);
    fprintf (out, ",\"record_id\":");
    s_hex_json (out, e->record_id.data, e->record_id.len);
    fprintf (out, ",\"record_digest\":");   /* what a signed answer names */
    s_hex_json (out, e->record_digest.data, e->record_digest.len);
    s_field (out, "sender", e->sender);
    fprintf (out, ",\"recipients\":[");
    for (size_t i = 0; i < e->n_recipients; i++) {
        if (i)
            fputc (',', out);
        macx_json_str (out, e->recipients[i]);
    }
    fprintf (out, "],\"sequence\":%" PRIu64, e->sequence);
    s_field (out, "record_type", e->record_type);
    s_field (out, "phase", e->phase ? macx_phase_name (e->phase) : "");
    s_field (out, "case_phase", e->case_phase ? macx_phase_name (e->case_phase) : "");
    s_case_json (out, e);
    s_field (out, "purpose", e->purpose);
    s_field (out, "legal_basis", e->legal_basis);
    s_field (out, "case_id", e->case_id);
    s_field (out, "subject", e->subject);
    s_fields_json (out, "manifest", e->manifest, e->n_manifest);
    s_field (out, "decision", e->decision);
    s_field (out, "reason", e->reason ? macx_reason_name (e->reason) : "");
    s_field (out, "message", e->message);
    s_field (out, "agreement", e->agreement);
    s_field (out, "flow", e->flow);
    s_field (out, "policy_hash", e->policy_hash);
    s_field (out, "previous_policy_hash", e->previous_policy_hash);
    fprintf (out, ",\"created_ms\":%" PRId64 ",\"sim_day\":%" PRId32 ",\"sim_ms\":%" PRId64
             ",\"clock_ms\":%" PRId64 ",\"arrive_ms\":%" PRId64, e->created_ms, e->sim_day, e->sim_ms,
             e->clock_ms, e->arrive_ms);
    s_field (out, "recipient", e->recipient);
    fprintf (out, ",\"retention_days\":%" PRIu32 ",\"mailbox_seq\":%" PRIu64, e->retention_days,
             e->mailbox_seq);
    s_field (out, "origin", e->origin);
    s_retention_json (out, e);
    fprintf (out, ",\"redeliveries\":%" PRIu32, e->redeliveries);
    s_complaint_json (out, e);
    fprintf (out, ",\"prev_hash\":");
    s_hex_json (out, e->prev_hash.data, e->prev_hash.len);
    if (hash) {
        fprintf (out, ",\"hash\":");
        s_hex_json (out, hash, MACX_AUDIT_HASH_BYTES);
        fprintf (out, ",\"raw\":");
        s_hex_json (out, raw, rawlen);
    }
    fputc ('}', out);
}

void
macx_audit_print_entry (FILE *out, const Macx__AuditEntry *e, int json)
{
    if (json) {
        s_entry_json (out, e, NULL, NULL, 0);
        return;
    }
    char t[40];
    fprintf (out, "#%" PRIu64 " %s %s", e->seq, macx_audit_format_time (e->time_ms, t),
             e->event[0] ? e->event : "?");
    const char *who = e->sender[0] ? e->sender : e->peer;
    if (who[0])
        fprintf (out, " %s", who);
    /* The authenticated peer, when it is neither the sender nor the
     * recipient of a delivery: a refused spoof, for instance. */
    if (e->peer[0] && e->sender[0] && strcmp (e->peer, e->sender) != 0
        && strcmp (e->peer, e->recipient) != 0)
        fprintf (out, " (peer %s)", e->peer);
    if (e->recipient[0])
        fprintf (out, " -> %s", e->recipient);
    else if (e->n_recipients) {
        fprintf (out, " -> ");
        for (size_t i = 0; i < e->n_recipients; i++)
            fprintf (out, "%s%s", i ? "," : "", e->recipients[i]);
    }
    if (e->record_type[0])
        fprintf (out, " %s", e->record_type);
    if (e->phase)
        fprintf (out, " %s", macx_phase_name (e->phase));
    if (e->case_id[0])
        fprintf (out, " case=%s", e->case_id);
    if (e->clock_ms) {   /* the broker's clock: simulated in pilots */
        char c[40];
        fprintf (out, " clock=%s", macx_audit_format_time (e->clock_ms, c));
    }
    if (e->arrive_ms && e->arrive_ms != e->clock_ms) {
        char a[40];
        fprintf (out, " arrive=%s", macx_audit_format_time (e->arrive_ms, a));
    }
    if (e->decision[0])
        fprintf (out, " %s", e->decision);
    if (e->reason)
        fprintf (out, " %s", macx_reason_name (e->reason));
    if (e->agreement[0])
        fprintf (out, " %s%s%s", e->agreement, e->flow[0] ? "/" : "", e->flow);
    s_retention_text (out, e);
    if (e->redeliveries)
        fprintf (out, " redeliveries=%" PRIu32, e->redeliveries);
    s_complaint_text (out, e);
    if (e->record_id.len) {
        fprintf (out, " id=");
        char h[3];
        for (size_t i = 0; i < e->record_id.len; i++) {
            macx_hex_encode (e->record_id.data + i, 1, h);
            fputs (h, out);
        }
    }
    if (e->message[0]) {
        fputc (' ', out);
        macx_json_str (out, e->message);
    }
}
