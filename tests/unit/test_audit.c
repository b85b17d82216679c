/* test_audit.c -- the audit log: appends across committed and aborted
 * transactions, checkpoints, reattaching, verification and each kind of
 * tampering it must catch (and the one it cannot), a full map, queries,
 * printing and export. Every test works in its own mkdtemp directory: a
 * data directory (the LMDB env) and a key directory with a broker identity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "keys.h"
#include "test_kind.h"

/* ---- fixture ------------------------------------------------------------ */

typedef struct {
    char root[64];
    char data[96];
    char keys[96];
    macx_identity_t *broker;
    MDB_env *env;
    macx_audit_t *audit;
} s_fix_t;

static void
s_rmrf (const char *dir)
{
    DIR *d = opendir (dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir (d))) {
        if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
            continue;
        char path[512];
        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat (path, &st) == 0 && S_ISDIR (st.st_mode))
            s_rmrf (path);
        else
            unlink (path);
    }
    closedir (d);
    rmdir (dir);
}

/* Opens the writer env (and attaches the audit log in a committed txn). */
static void
s_open (s_fix_t *f, size_t mapsize)
{
    assert_int_equal (mdb_env_create (&f->env), 0);
    assert_int_equal (mdb_env_set_maxdbs (f->env, MACX_AUDIT_MAXDBS), 0);
    assert_int_equal (mdb_env_set_mapsize (f->env, mapsize), 0);
    assert_int_equal (mdb_env_open (f->env, f->data, MDB_NOSYNC, 0600), 0);
    MDB_txn *txn;
    macx_error_t err = { 0 };
    assert_int_equal (mdb_txn_begin (f->env, NULL, 0, &txn), 0);
    f->audit = macx_audit_attach (f->env, txn, &err);
    assert_non_null (f->audit);
    assert_int_equal (mdb_txn_commit (txn), 0);
}

static void
s_close (s_fix_t *f)
{
    macx_audit_destroy (&f->audit);
    macx_audit_destroy (&f->audit);   /* safe twice */
    if (f->env)
        mdb_env_close (f->env);
    f->env = NULL;
}

static int
s_setup (void **state)
{
    s_fix_t *f = calloc (1, sizeof *f);
    snprintf (f->root, sizeof f->root, "/tmp/macx-test-audit-XXXXXX");
    assert_non_null (mkdtemp (f->root));
    snprintf (f->data, sizeof f->data, "%s/data", f->root);
    snprintf (f->keys, sizeof f->keys, "%s/keys", f->root);
    assert_int_equal (mkdir (f->data, 0700), 0);
    macx_error_t err = { 0 };
    assert_int_equal (macx_keys_generate (f->keys, "broker", test_kind ("broker"), &err), 0);
    f->broker = macx_identity_load (f->keys, "broker", &err);
    assert_non_null (f->broker);
    *state = f;
    return 0;
}

static int
s_teardown (void **state)
{
    s_fix_t *f = *state;
    s_close (f);
    macx_identity_destroy (&f->broker);
    s_rmrf (f->root);
    free (f);
    return 0;
}

static const macx_agency_t *
s_agency (s_fix_t *f)
{
    return macx_identity_agency (f->broker);
}

/* ---- entries ------------------------------------------------------------ */

static const char *const s_agencies[] = { "mi5", "ctp", "la-london", "ogd-dwp" };

/* Appends entry number i (1-based, across the test) with fields derived
 * from i: every 4th a refusal, every 3rd a delivery, cases C-0..C-4. */
static uint64_t
s_append (s_fix_t *f, MDB_txn *txn, int i)
{
    char case_id[16], msg[64];
    uint8_t rid[16];
    memset (rid, i & 0xff, sizeof rid);
    snprintf (case_id, sizeof case_id, "C-%04d", i % 5);
    snprintf (msg, sizeof msg, "entry number %d", i);
    char *recips[2] = { (char *) s_agencies[(i + 1) % 4], (char *) s_agencies[(i + 2) % 4] };
    Macx__FieldEntry fe = MACX__FIELD_ENTRY__INIT, *manifest[1] = { &fe };
    fe.name = "dob";
    fe.transform = "year_only";
    Macx__AuditEntry e = MACX__AUDIT_ENTRY__INIT;
    e.time_ms = 1795766400000 + (int64_t) i * 1000;   /* 2026-11-27T08:00:00Z + i s */
    e.event = i % 4 == 0 ? "refuse" : i % 3 == 0 ? "deliver" : "accept";
    e.peer = (char *) s_agencies[i % 4];
    e.sender = (char *) s_agencies[i % 4];
    e.recipients = recips;
    e.n_recipients = 2;
    e.record_id.data = rid;
    e.record_id.len = sizeof rid;
    e.sequence = (uint64_t) i;
    e.record_type = "share";
    e.phase = MACX__PHASE__SHARING;
    e.case_id = case_id;
    e.manifest = manifest;
    e.n_manifest = 1;
    e.decision = i % 4 == 0 ? "deny" : "permit";
    e.reason = i % 4 == 0 ? MACX__REASON__NO_FLOW : 0;
    e.message = msg;
    e.agreement = "ISA-1";
    e.flow = "F1";
    if (i % 3 == 0 && i % 4 != 0)
        e.recipient = recips[0];
    uint64_t seq = 0;
    macx_error_t err = { 0 };
    assert_int_equal (macx_audit_append (f->audit, txn, &e, &seq, &err), 0);
    assert_int_equal (e.seq, seq);
    assert_int_equal (e.prev_hash.len, MACX_AUDIT_HASH_BYTES);
    return seq;
}

/* Appends entries from..to in one txn; checkpoints when asked; commits. */
static void
s_batch (s_fix_t *f, int from, int to, int checkpoint)
{
    MDB_txn *txn;
    macx_error_t err = { 0 };
    assert_int_equal (mdb_txn_begin (f->env, NULL, 0, &txn), 0);
    for (int i = from; i <= to; i++)
        assert_int_equal (s_append (f, txn, i), (uint64_t) i);
    if (checkpoint)
        assert_int_equal (macx_audit_checkpoint (f->audit, txn, f->broker, &err), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    macx_audit_committed (f->audit);
    assert_int_equal (macx_audit_head_seq (f->audit), (uint64_t) to);
}

/* Verifies the store in f->data (writer env must be closed: one env per
 * process). Returns the verify result. */
static int
s_verify (s_fix_t *f, const macx_agency_t *broker, macx_audit_report_t *r)
{
    macx_error_t err = { 0 };
    macx_audit_reader_t *reader = macx_audit_reader_open (f->data, &err);
    assert_non_null (reader);
    int rc = macx_audit_verify (reader, broker, r, &err);
    if (rc)
        assert_non_null (strstr (err.msg, "audit log broken at entry"));
    macx_audit_reader_destroy (&reader);
    macx_audit_reader_destroy (&reader);
    return rc;
}

/* Runs edit on the stored value under seq in database db (writer closed). */
typedef void (*s_edit_fn) (uint8_t *value, size_t len, void *arg);

static void
s_tamper (s_fix_t *f, const char *db, uint64_t seq, s_edit_fn edit, void *arg)
{
    s_open (f, 1 << 24);
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal (mdb_txn_begin (f->env, NULL, 0, &txn), 0);
    assert_int_equal (mdb_dbi_open (txn, db, 0, &dbi), 0);
    uint8_t k[8];
    for (int i = 0; i < 8; i++)
        k[i] = (uint8_t) (seq >> (56 - 8 * i));
    MDB_val key = { 8, k }, val;
    assert_int_equal (mdb_get (txn, dbi, &key, &val), 0);
    uint8_t *copy = malloc (val.mv_size);
    memcpy (copy, val.mv_data, val.mv_size);
    edit (copy, val.mv_size, arg);
    val.mv_data = copy;
    assert_int_equal (mdb_put (txn, dbi, &key, &val, 0), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    free (copy);
    s_close (f);
}

static void
s_flip (uint8_t *value, size_t len, void *arg)
{
    size_t at = *(size_t *) arg;
    assert_true (at < len);
    value[at] ^= 0x01;
}

static void
s_delete (s_fix_t *f, const char *db, uint64_t from, uint64_t to)
{
    s_open (f, 1 << 24);
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal (mdb_txn_begin (f->env, NULL, 0, &txn), 0);
    assert_int_equal (mdb_dbi_open (txn, db, 0, &dbi), 0);
    for (uint64_t seq = from; seq <= to; seq++) {
        uint8_t k[8];
        for (int i = 0; i < 8; i++)
            k[i] = (uint8_t) (seq >> (56 - 8 * i));
        MDB_val key = { 8, k };
        assert_int_equal (mdb_del (txn, dbi, &key, NULL), 0);
    }
    assert_int_equal (mdb_txn_commit (txn), 0);
    s_close (f);
}

/* 100 entries in 10 txns, a checkpoint after every second txn: last
 * checkpoint at 100. */
static void
s_build (s_fix_t *f, int n, int per, int cp_every)
{
    s_open (f, 1 << 24);
    for (int t = 0, i = 1; i <= n; t++, i += per)
        s_batch (f, i, i + per - 1 <= n ? i + per - 1 : n, (t + 1) % cp_every == 0);
    s_close (f);
}

/* ---- tests: writing ----------------------------------------------------- */

static void
test_append_verify (void **state)
{
    s_fix_t *f = *state;
    s_open (f, 1 << 24);
    assert_int_equal (macx_audit_head_seq (f->audit), 0);
    s_batch (f, 1, 10, 0);
    assert_int_equal (macx_audit_since_checkpoint (f->audit), 10);
    s_batch (f, 11, 20, 1);
    assert_int_equal (macx_audit_since_checkpoint (f->audit), 0);
    /* nothing new: no second checkpoint at 20 */
    MDB_txn *txn;
    macx_error_t err = { 0 };
    assert_int_equal (mdb_txn_begin (f->env, NULL, 0, &txn), 0);
    assert_int_equal (macx_audit_checkpoint (f->audit, txn, f->broker, &err), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    macx_audit_committed (f->audit);
    s_batch (f, 21, 25, 0);
    s_close (f);

    macx_audit_report_t r;
    assert_int_equal (s_verify (f, s_agency (f), &r), 0);
    assert_int_equal (r.entries, 25);
    assert_int_equal (r.checkpoints, 1);
    assert_int_equal (r.last_checkpoint, 20);
    assert_int_equal (r.unsigned_tail, 5);
    assert_int_equal (r.first_bad, 0);

    /* The same through the registry, as `macx audit verify` does. */
    macx_registry_t *reg = macx_registry_load (f->keys, &err);
    assert_non_null (reg);
    assert_int_equal (s_verify (f, macx_registry_find (reg, "broker"), &r), 0);
    macx_registry_destroy (&reg);
}

static void
test_abort_rolls_back (void **state)
{
    s_fix_t *f = *state;
    s_open (f, 1 << 24);
    s_batch (f, 1, 10, 1);
    /* A batch that aborts after appending and checkpointing. */
    MDB_txn *txn;
    macx_error_t err = { 0 };
    assert_int_equal (mdb_txn_begin (f->env, NULL, 0, &txn), 0);
    for (int i = 11; i <= 15; i++)
        assert_int_equal (s_append (f, txn, 1000 + i), (uint64_t) i);
    assert_int_equal (macx_audit_since_checkpoint (f->audit), 5);
    assert_int_equal (macx_audit_checkpoint (f->audit, txn, f->broker, &err), 0);
    assert_int_equal (macx_audit_since_checkpoint (f->audit), 0);
    assert_int_equal (macx_audit_head_seq (f->audit), 10);   /* not yet committed */
    mdb_txn_abort (txn);
    macx_audit_aborted (f->audit);
    assert_int_equal (macx_audit_head_seq (f->audit), 10);
    assert_int_equal (macx_audit_since_checkpoint (f->audit), 0);
    /* The chain continues from 10, not from the aborted 15. */
    s_batch (f, 11, 14, 0);
    assert_int_equal (macx_audit_since_checkpoint (f->audit), 4);
    s_batch (f, 15, 16, 1);
    s_close (f);

    macx_audit_report_t r;
    assert_int_equal (s_verify (f, s_agency (f), &r), 0);
    assert_int_equal (r.entries, 16);
    assert_int_equal (r.checkpoints, 2);
    assert_int_equal (r.last_checkpoint, 16);
    assert_int_equal (r.unsigned_tail, 0);
}

static void
test_reattach_loads_head (void **state)
{
    s_fix_t *f = *state;
    s_open (f, 1 << 24);
    s_batch (f, 1, 30, 1);
    s_batch (f, 31, 37, 0);
    s_close (f);

    s_open (f, 1 << 24);
    assert_int_equal (macx_audit_head_seq (f->audit), 37);
    assert_int_equal (macx_audit_since_checkpoint (f->audit), 7);
    s_batch (f, 38, 50, 1);
    assert_int_equal (macx_audit_since_checkpoint (f->audit), 0);
    s_close (f);

    macx_audit_report_t r;
    assert_int_equal (s_verify (f, s_agency (f), &r), 0);
    assert_int_equal (r.entries, 50);
    assert_int_equal (r.checkpoints, 2);
    assert_int_equal (r.unsigned_tail, 0);
}

static void
test_empty_and_missing (void **state)
{
    s_fix_t *f = *state;
    macx_error_t err = { 0 };
    /* no store at all */
    assert_null (macx_audit_reader_open (f->data, &err));
    assert_int_equal (err.code, MACX_ENOTFOUND);
    /* an env without the audit databases reads as an empty, intact log */
    MDB_env *env;
    assert_int_equal (mdb_env_create (&env), 0);
    assert_int_equal (mdb_env_set_maxdbs (env, MACX_AUDIT_MAXDBS), 0);
    assert_int_equal (mdb_env_open (env, f->data, 0, 0600), 0);
    mdb_env_close (env);
    macx_audit_report_t r;
    assert_int_equal (s_verify (f, s_agency (f), &r), 0);
    assert_int_equal (r.entries, 0);
    /* attached but empty */
    s_open (f, 1 << 24);
    s_close (f);
    assert_int_equal (s_verify (f, s_agency (f), &r), 0);
    assert_int_equal (r.entries, 0);
    assert_int_equal (r.checkpoints, 0);
}

/* ---- tests: tampering --------------------------------------------------- */

static void
test_flip_entry_byte (void **state)
{
    s_fix_t *f = *state;
    s_build (f, 100, 10, 2);
    macx_audit_report_t r;
    assert_int_equal (s_verify (f, s_agency (f), &r), 0);
    assert_int_equal (r.last_checkpoint, 100);
    /* Each position in the serialised part of entry 37, flipped and put back. */
    size_t positions[] = { 32, 33, 40, 60, 80, 100 };
    for (size_t p = 0; p < sizeof positions / sizeof positions[0]; p++) {
        s_tamper (f, "audit", 37, s_flip, &positions[p]);
        int rc = s_verify (f, s_agency (f), &r);
        assert_true (rc == MACX_EFORMAT);
        assert_int_equal (r.first_bad, 37);
        assert_int_equal (r.entries, 36);
        assert_true (strlen (r.problem) > 0);
        s_tamper (f, "audit", 37, s_flip, &positions[p]);   /* flip back */
        assert_int_equal (s_verify (f, s_agency (f), &r), 0);
    }
    /* A flip that leaves the protobuf decodable (inside the message text)
     * must be caught by the hash, and say so. */
    s_open (f, 1 << 24);
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal (mdb_txn_begin (f->env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal (mdb_dbi_open (txn, "audit", 0, &dbi), 0);
    uint8_t k[8] = { 0, 0, 0, 0, 0, 0, 0, 37 };
    MDB_val key = { 8, k }, val;
    assert_int_equal (mdb_get (txn, dbi, &key, &val), 0);
    const char *needle = "entry number 37";
    size_t at = 0;
    for (size_t i = 32; i + strlen (needle) <= val.mv_size; i++)
        if (memcmp ((uint8_t *) val.mv_data + i, needle, strlen (needle)) == 0)
            at = i + 6;   /* 'n' of "number" */
    mdb_txn_abort (txn);
    s_close (f);
    assert_true (at > 0);
    s_tamper (f, "audit", 37, s_flip, &at);
    assert_int_equal (s_verify (f, s_agency (f), &r), MACX_EFORMAT);
    assert_int_equal (r.first_bad, 37);
    assert_non_null (strstr (r.problem, "stored hash does not match its contents"));
}

static void
test_flip_stored_hash (void **state)
{
    s_fix_t *f = *state;
    s_build (f, 100, 10, 2);
    size_t at = 5;
    s_tamper (f, "audit", 50, s_flip, &at);
    macx_audit_report_t r;
    assert_int_equal (s_verify (f, s_agency (f), &r), MACX_EFORMAT);
    assert_int_equal (r.first_bad, 50);
    assert_non_null (strstr (r.problem, "stored hash"));
    /* the first entry too (its link is to the zero hash) */
    s_tamper (f, "audit", 50, s_flip, &at);
    s_tamper (f, "audit", 1, s_flip, &at);
    assert_int_equal (s_verify (f, s_agency (f), &r), MACX_EFORMAT);
    assert_int_equal (r.first_bad, 1);
}

static void
test_removed_entries (void **state)
{
    s_fix_t *f = *state;
    s_build (f, 100, 10, 2);   /* checkpoints at 20, 40, ..., 100 */
    macx_audit_report_t r;
    /* the tail after the checkpoint at 80 is cut: the checkpoint at 100 says so */
    s_delete (f, "audit", 91, 100);
    assert_int_equal (s_verify (f, s_agency (f), &r), MACX_EBADSIG);
    assert_int_equal (r.first_bad, 91);
    assert_int_equal (r.entries, 90);
    assert_int_equal (r.last_checkpoint, 80);
    assert_non_null (strstr (r.problem, "checkpoint at 100 is beyond the last entry 90"));
    /* an entry removed from the middle */
    s_delete (f, "audit", 45, 45);
    assert_int_equal (s_verify (f, s_agency (f), &r), MACX_EFORMAT);
    assert_int_equal (r.first_bad, 45);
    assert_non_null (strstr (r.problem, "missing"));
}

/* Rewrites entry `seq` (changes its case id) and recomputes the chain after
 * it, as an attacker with write access but without the broker's key would. */
static void
s_rewrite_chain (s_fix_t *f, uint64_t target)
{
    s_open (f, 1 << 24);
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *cur;
    assert_int_equal (mdb_txn_begin (f->env, NULL, 0, &txn), 0);
    assert_int_equal (mdb_dbi_open (txn, "audit", 0, &dbi), 0);
    assert_int_equal (mdb_cursor_open (txn, dbi, &cur), 0);
    MDB_val key, val;
    uint8_t prev[32] = { 0 };
    for (int rc = mdb_cursor_get (cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get (cur, &key, &val, MDB_NEXT)) {
        uint64_t seq = ((uint8_t *) key.mv_data)[7] | (uint64_t) ((uint8_t *) key.mv_data)[6] << 8;
        if (seq < target) {
            memcpy (prev, val.mv_data, 32);
            continue;
        }
        Macx__AuditEntry *e = macx__audit_entry__unpack (NULL, val.mv_size - 32,
                                                          (uint8_t *) val.mv_data + 32);
        assert_non_null (e);
        uint8_t *old_prev = e->prev_hash.data;
        char *old_case = e->case_id;
        e->prev_hash.data = prev;
        if (seq == target)
            e->case_id = "C-FORGED";
        size_t len = macx__audit_entry__get_packed_size (e);
        uint8_t *buf = malloc (32 + len);
        macx__audit_entry__pack (e, buf + 32);
        crypto_generichash_state st;
        crypto_generichash_init (&st, NULL, 0, 32);
        crypto_generichash_update (&st, (const uint8_t *) "macx-audit-v1", 13);
        crypto_generichash_update (&st, prev, 32);
        crypto_generichash_update (&st, buf + 32, len);
        crypto_generichash_final (&st, buf, 32);
        memcpy (prev, buf, 32);
        MDB_val nval = { 32 + len, buf };
        assert_int_equal (mdb_cursor_put (cur, &key, &nval, MDB_CURRENT), 0);
        free (buf);
        e->prev_hash.data = old_prev;
        e->case_id = old_case;
        macx__audit_entry__free_unpacked (e, NULL);
    }
    mdb_cursor_close (cur);
    assert_int_equal (mdb_txn_commit (txn), 0);
    s_close (f);
}

static void
test_rewritten_chain (void **state)
{
    s_fix_t *f = *state;
    s_build (f, 100, 10, 2);   /* checkpoints at 20, 40, 60, 80, 100 */
    s_rewrite_chain (f, 25);
    macx_audit_report_t r;
    assert_int_equal (s_verify (f, s_agency (f), &r), MACX_EBADSIG);
    assert_int_equal (r.first_bad, 40);   /* the first checkpoint covering entry 25 */
    assert_int_equal (r.checkpoints, 1);
    assert_non_null (strstr (r.problem, "checkpoint at 40"));
    assert_non_null (strstr (r.problem, "head"));
}

static void
test_unsigned_tail_limit (void **state)
{
    /* What verify cannot promise: entries after the last checkpoint can be
     * rewritten consistently by someone with write access. */
    s_fix_t *f = *state;
    s_build (f, 30, 10, 2);   /* checkpoint at 20 only */
    s_rewrite_chain (f, 25);
    macx_audit_report_t r;
    assert_int_equal (s_verify (f, s_agency (f), &r), 0);
    assert_int_equal (r.last_checkpoint, 20);
    assert_int_equal (r.unsigned_tail, 10);
}

static void
test_forged_checkpoint (void **state)
{
    s_fix_t *f = *state;
    s_build (f, 60, 10, 2);   /* checkpoints at 20, 40, 60 */
    macx_audit_report_t r;
    /* flip one byte near the end: inside the signature */
    s_open (f, 1 << 24);
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal (mdb_txn_begin (f->env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal (mdb_dbi_open (txn, "checkpoints", 0, &dbi), 0);
    uint8_t k[8] = { 0, 0, 0, 0, 0, 0, 0, 40 };
    MDB_val key = { 8, k }, val;
    assert_int_equal (mdb_get (txn, dbi, &key, &val), 0);
    size_t at = val.mv_size - 3;
    mdb_txn_abort (txn);
    s_close (f);
    s_tamper (f, "checkpoints", 40, s_flip, &at);
    assert_int_equal (s_verify (f, s_agency (f), &r), MACX_EBADSIG);
    assert_int_equal (r.first_bad, 40);
    assert_int_equal (r.checkpoints, 1);
    assert_non_null (strstr (r.problem, "signature does not verify"));
    s_tamper (f, "checkpoints", 40, s_flip, &at);
    assert_int_equal (s_verify (f, s_agency (f), &r), 0);

    /* Checked against another agency's key, every checkpoint fails. */
    macx_error_t err = { 0 };
    assert_int_equal (macx_keys_generate (f->keys, "mi5", test_kind ("mi5"), &err), 0);
    macx_identity_t *mi5 = macx_identity_load (f->keys, "mi5", &err);
    assert_non_null (mi5);
    macx_agency_t as_broker = *macx_identity_agency (mi5);
    snprintf (as_broker.id, sizeof as_broker.id, "broker");
    assert_int_equal (s_verify (f, &as_broker, &r), MACX_EBADSIG);
    assert_int_equal (r.first_bad, 20);

    /* A checkpoint written by a forger's key under the broker's name. */
    s_open (f, 1 << 24);
    s_batch (f, 61, 70, 0);
    assert_int_equal (mdb_txn_begin (f->env, NULL, 0, &txn), 0);
    assert_int_equal (macx_audit_checkpoint (f->audit, txn, mi5, &err), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    macx_audit_committed (f->audit);
    s_close (f);
    assert_int_equal (s_verify (f, s_agency (f), &r), MACX_EBADSIG);
    assert_int_equal (r.first_bad, 70);
    assert_non_null (strstr (r.problem, "signed by 'mi5'"));
    macx_identity_destroy (&mi5);
}

/* ---- tests: a full map -------------------------------------------------- */

static void
test_map_full (void **state)
{
    s_fix_t *f = *state;
    s_open (f, 64 * 1024);
    s_batch (f, 1, 5, 1);
    MDB_txn *txn;
    macx_error_t err = { 0 };
    char big[2000];
    memset (big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    int rc = 0, n = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        assert_int_equal (mdb_txn_begin (f->env, NULL, 0, &txn), 0);
        for (n = 0; n < 10000; n++) {
            Macx__AuditEntry e = MACX__AUDIT_ENTRY__INIT;
            e.event = "accept";
            e.message = big;
            uint64_t seq;
            if ((rc = macx_audit_append (f->audit, txn, &e, &seq, &err)))
                break;
        }
        assert_int_equal (rc, MACX_ESTORE);
        assert_non_null (strstr (err.msg, "map is full"));
        assert_true (n > 0 || attempt > 0);
        mdb_txn_abort (txn);
        macx_audit_aborted (f->audit);
        assert_int_equal (macx_audit_head_seq (f->audit), 5);
        assert_int_equal (macx_audit_since_checkpoint (f->audit), 0);
    }
    /* a small batch still fits and continues the chain */
    s_batch (f, 6, 7, 0);
    s_close (f);
    macx_audit_report_t r;
    assert_int_equal (s_verify (f, s_agency (f), &r), 0);
    assert_int_equal (r.entries, 7);
    assert_int_equal (r.unsigned_tail, 2);
}

/* ---- tests: readers ----------------------------------------------------- */

typedef struct {
    uint64_t seqs[256];
    size_t n;
    int stop_after;
} s_collect_t;

static int
s_collect (const Macx__AuditEntry *e, void *arg)
{
    s_collect_t *c = arg;
    if (c->n < 256)
        c->seqs[c->n++] = e->seq;
    return c->stop_after && (int) c->n >= c->stop_after ? 7 : 0;
}

static size_t
s_scan (s_fix_t *f, const macx_audit_filter_t *filter, s_collect_t *c)
{
    macx_error_t err = { 0 };
    macx_audit_reader_t *reader = macx_audit_reader_open (f->data, &err);
    assert_non_null (reader);
    memset (c->seqs, 0, sizeof c->seqs);
    c->n = 0;
    int rc = macx_audit_scan (reader, filter, s_collect, c, &err);
    assert_int_equal (rc, c->stop_after && (int) c->n >= c->stop_after ? 7 : 0);
    macx_audit_reader_destroy (&reader);
    return c->n;
}

static void
test_scan_filters (void **state)
{
    s_fix_t *f = *state;
    s_build (f, 40, 10, 2);
    s_collect_t c = { .stop_after = 0 };
    assert_int_equal (s_scan (f, NULL, &c), 40);
    assert_int_equal (c.seqs[0], 1);
    assert_int_equal (c.seqs[39], 40);

    macx_audit_filter_t flt = { .case_id = "C-0003" };   /* i % 5 == 3 */
    assert_int_equal (s_scan (f, &flt, &c), 8);
    for (size_t i = 0; i < c.n; i++)
        assert_int_equal (c.seqs[i] % 5, 3);

    flt = (macx_audit_filter_t) { .event = "refuse" };   /* i % 4 == 0 */
    assert_int_equal (s_scan (f, &flt, &c), 10);
    flt = (macx_audit_filter_t) { .event = "deliver" };  /* i % 3 == 0, i % 4 != 0 */
    assert_int_equal (s_scan (f, &flt, &c), 10);

    /* la-london (index 2) is sender when i%4==2, a recipient when
     * (i+1)%4==2 or (i+2)%4==2: 3 of every 4 entries */
    flt = (macx_audit_filter_t) { .agency = "la-london" };
    assert_int_equal (s_scan (f, &flt, &c), 30);
    flt = (macx_audit_filter_t) { .agency = "nobody" };
    assert_int_equal (s_scan (f, &flt, &c), 0);

    /* since: entry i is at base + i s */
    int64_t since;
    assert_int_equal (macx_audit_parse_time ("2026-11-27T08:00:31Z", &since), 0);
    flt = (macx_audit_filter_t) { .since_ms = since };
    assert_int_equal (s_scan (f, &flt, &c), 10);
    assert_int_equal (c.seqs[0], 31);

    flt = (macx_audit_filter_t) { .event = "accept", .limit = 3 };
    assert_int_equal (s_scan (f, &flt, &c), 3);
    assert_int_equal (c.seqs[0], 1);
    assert_int_equal (c.seqs[2], 5);

    flt = (macx_audit_filter_t) { .from_seq = 38 };
    assert_int_equal (s_scan (f, &flt, &c), 3);
    assert_int_equal (c.seqs[0], 38);
    flt = (macx_audit_filter_t) { .from_seq = 41 };
    assert_int_equal (s_scan (f, &flt, &c), 0);

    flt = (macx_audit_filter_t) { .case_id = "C-0001", .agency = "ctp", .event = "accept" };
    assert_int_equal (s_scan (f, &flt, &c), 3);   /* 1, 11, 31 (21 is a delivery) */

    /* the callback stops the scan with its own value */
    c.stop_after = 4;
    assert_int_equal (s_scan (f, NULL, &c), 4);
}

static void
test_read_while_writing (void **state)
{
    /* Another process verifies while this one holds the env open with a
     * write transaction in progress: it sees the committed entries only. */
    s_fix_t *f = *state;
    s_open (f, 1 << 24);
    s_batch (f, 1, 20, 1);
    MDB_txn *txn;
    assert_int_equal (mdb_txn_begin (f->env, NULL, 0, &txn), 0);
    for (int i = 21; i <= 25; i++)
        s_append (f, txn, i);
    macx_agency_t broker = *s_agency (f);
    fflush (NULL);
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        macx_error_t err = { 0 };
        macx_audit_reader_t *reader = macx_audit_reader_open (f->data, &err);
        macx_audit_report_t r;
        int code = !reader ? 10
                   : macx_audit_verify (reader, &broker, &r, &err) ? 11
                   : r.entries != 20 ? 12 : r.last_checkpoint != 20 ? 13 : 0;
        macx_audit_reader_destroy (&reader);
        _exit (code);
    }
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    macx_audit_committed (f->audit);
    s_close (f);
}

static char *
s_print (const Macx__AuditEntry *e, int json)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream (&text, &len);
    macx_audit_print_entry (out, e, json);
    fclose (out);
    return text;
}

static void
test_print_entry (void **state)
{
    (void) state;
    uint8_t rid[4] = { 0xde, 0xad, 0xbe, 0xef };
    char *recips[2] = { "la-london", "ogd-dwp" };
    Macx__AuditEntry e = MACX__AUDIT_ENTRY__INIT;
    e.seq = 12;
    assert_int_equal (macx_audit_parse_time ("2026-11-27T10:00:00.123Z", &e.time_ms), 0);
    e.event = "accept";
    e.peer = "mi5";
    e.sender = "mi5";
    e.recipients = recips;
    e.n_recipients = 2;
    e.record_type = "share";
    e.phase = MACX__PHASE__SHARING;
    e.case_id = "C-0001";
    e.decision = "permit";
    e.agreement = "ISA-NMAC-LA-LONDON";
    e.flow = "F3";
    e.record_id.data = rid;
    e.record_id.len = sizeof rid;
    char *text = s_print (&e, 0);
    assert_string_equal (text, "#12 2026-11-27T10:00:00.123Z accept mi5 -> la-london,ogd-dwp "
                               "share sharing case=C-0001 permit ISA-NMAC-LA-LONDON/F3 "
                               "id=deadbeef");
    free (text);

    e.event = "refuse";
    e.decision = "deny";
    e.reason = MACX__REASON__NO_FLOW;
    e.message = "no flow \"x\"";
    e.peer = "ctp";
    text = s_print (&e, 0);
    assert_non_null (strstr (text, " refuse mi5 (peer ctp) -> "));
    assert_non_null (strstr (text, " deny NO_FLOW "));
    assert_non_null (strstr (text, "\"no flow \\\"x\\\"\""));
    free (text);

    text = s_print (&e, 1);
    assert_true (text[0] == '{' && text[strlen (text) - 1] == '}');
    assert_null (strchr (text, '\n'));
    assert_non_null (strstr (text, "\"seq\":12,"));
    assert_non_null (strstr (text, "\"time\":\"2026-11-27T10:00:00.123Z\""));
    assert_non_null (strstr (text, "\"record_id\":\"deadbeef\""));
    assert_non_null (strstr (text, "\"recipients\":[\"la-london\",\"ogd-dwp\"]"));
    assert_non_null (strstr (text, "\"phase\":\"sharing\""));
    assert_non_null (strstr (text, "\"reason\":\"NO_FLOW\""));
    assert_non_null (strstr (text, "\"message\":\"no flow \\\"x\\\"\""));
    assert_non_null (strstr (text, "\"manifest\":[]"));
    free (text);
}

/* The case context an entry was judged by: the phases reached by name, in
 * MAC order (bits outside the five ignored), and the phase needed. */
static void
test_print_case_context (void **state)
{
    (void) state;
    Macx__AuditEntry e = MACX__AUDIT_ENTRY__INIT;
    e.event = "refuse";
    e.reason = MACX__REASON__CASE_PHASE_NOT_REACHED;
    char *text = s_print (&e, 1);
    assert_non_null (strstr (text, ",\"case_reached\":[],\"case_needed\":\"\","));
    free (text);
    e.case_reached = (1u << MACX__PHASE__SHARING) | (1u << MACX__PHASE__IDENTIFICATION) | 1u
                     | (1u << 9);
    e.case_needed = MACX__PHASE__PROFILING;
    text = s_print (&e, 1);
    assert_non_null (strstr (text, ",\"case_reached\":[\"identification\",\"sharing\"],"
                                   "\"case_needed\":\"profiling\","));
    free (text);
}

static void
test_time (void **state)
{
    (void) state;
    int64_t ms;
    char buf[32];
    assert_int_equal (macx_audit_parse_time ("2026-11-27", &ms), 0);
    assert_string_equal (macx_audit_format_time (ms, buf), "2026-11-27T00:00:00.000Z");
    assert_int_equal (macx_audit_parse_time ("2026-11-27T10:00:00Z", &ms), 0);
    assert_string_equal (macx_audit_format_time (ms, buf), "2026-11-27T10:00:00.000Z");
    assert_int_equal (macx_audit_parse_time ("2026-11-27T10:05", &ms), 0);
    assert_string_equal (macx_audit_format_time (ms, buf), "2026-11-27T10:05:00.000Z");
    assert_int_equal (macx_audit_parse_time ("1970-01-01T00:00:01.5Z", &ms), 0);
    assert_int_equal (ms, 1500);
    assert_string_equal (macx_audit_format_time (-1, buf), "1969-12-31T23:59:59.999Z");
    const char *bad[] = { "", "2026-11", "2026-02-30", "2026-11-27T25:00Z", "2026-11-27T10",
                          "2026-11-27T10:00:00.Z", "2026-11-27Tx", "2026-11-27T10:00:00Zjunk" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal (macx_audit_parse_time (bad[i], &ms), -1);
}

static void
test_export (void **state)
{
    s_fix_t *f = *state;
    s_build (f, 25, 5, 2);   /* checkpoints at 10 and 20 */
    macx_error_t err = { 0 };
    macx_audit_reader_t *reader = macx_audit_reader_open (f->data, &err);
    assert_non_null (reader);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream (&text, &len);
    assert_int_equal (macx_audit_export (reader, out, &err), 0);
    fclose (out);
    macx_audit_reader_destroy (&reader);
    int lines = 0, entries = 0, cps = 0;
    for (char *line = text, *nl; (nl = strchr (line, '\n')); line = nl + 1) {
        *nl = '\0';
        lines++;
        if (strncmp (line, "{\"type\":\"entry\",\"seq\":", 22) == 0) {
            entries++;
            assert_non_null (strstr (line, "\"hash\":\""));
            assert_non_null (strstr (line, "\"raw\":\""));
        }
        else if (strncmp (line, "{\"type\":\"checkpoint\",\"seq\":", 27) == 0) {
            cps++;
            /* right after the entry it covers */
            assert_int_equal (atoi (line + 27), entries);
            assert_non_null (strstr (line, "\"broker\":\"broker\""));
        }
        else
            fail_msg ("unexpected export line: %s", line);
    }
    assert_int_equal (entries, 25);
    assert_int_equal (cps, 2);
    assert_int_equal (lines, 27);
    free (text);
}

/* ---- tests: the command ------------------------------------------------- */

/* Runs `macx audit ARGS` (stdout and stderr together) and returns its exit
 * code; *out receives the output (caller frees). */
static int s_macx (char **out, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static int
s_macx (char **out, const char *fmt, ...)
{
    char args[1024], cmd[2048];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (args, sizeof args, fmt, ap);
    va_end (ap);
    const char *bin = getenv ("MACX_BINARY") ? getenv ("MACX_BINARY") : MACX_BINARY;
    snprintf (cmd, sizeof cmd, "'%s' audit %s 2>&1", bin, args);
    FILE *p = popen (cmd, "r");
    assert_non_null (p);
    size_t len = 0, cap = 1 << 16;
    char *text = malloc (cap);
    size_t n;
    while ((n = fread (text + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 4096)
            text = realloc (text, cap *= 2);
    }
    text[len] = '\0';
    int status = pclose (p);
    *out = text;
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static int
s_lines (const char *text)
{
    int n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

static void
test_cli (void **state)
{
    s_fix_t *f = *state;
    const char *bin = getenv ("MACX_BINARY") ? getenv ("MACX_BINARY") : MACX_BINARY;
    if (access (bin, X_OK) != 0)
        skip ();
    s_build (f, 40, 10, 3);   /* checkpoints at 30 */
    char *out;
    assert_int_equal (s_macx (&out, "--help"), 0);
    assert_non_null (strstr (out, "verify"));
    free (out);
    assert_int_equal (s_macx (&out, "verify --help"), 0);
    free (out);
    assert_int_equal (s_macx (&out, "verify %s", f->data), 64);
    free (out);
    assert_int_equal (s_macx (&out, "bogus"), 64);
    free (out);
    assert_int_equal (s_macx (&out, "verify %s/nothing --keys %s", f->root, f->keys), 66);
    free (out);
    assert_int_equal (s_macx (&out, "verify %s --keys %s --broker-id nobody", f->data, f->keys), 66);
    free (out);

    assert_int_equal (s_macx (&out, "verify %s --keys %s", f->data, f->keys), 0);
    assert_non_null (strstr (out, "audit log intact: 40 entries, 1 signed checkpoints"));
    assert_non_null (strstr (out, "last checkpoint at entry 30"));
    assert_non_null (strstr (out, "unsigned tail: 10 entries"));
    free (out);
    assert_int_equal (s_macx (&out, "verify %s --keys %s --json", f->data, f->keys), 0);
    assert_string_equal (out, "{\"intact\":true,\"entries\":40,\"checkpoints\":1,"
                              "\"last_checkpoint\":30,\"unsigned_tail\":10,\"first_bad\":0,"
                              "\"problem\":null}\n");
    free (out);

    assert_int_equal (s_macx (&out, "show %s", f->data), 0);
    assert_int_equal (s_lines (out), 40);
    const char *first = "#1 2026-11-27T08:00:01.000Z accept ctp -> la-london,ogd-dwp share "
                        "sharing case=C-0001 permit ISA-1/F1 id=01010101010101010101010101010101 "
                        "\"entry number 1\"\n";
    assert_true (strncmp (out, first, strlen (first)) == 0);
    free (out);
    assert_int_equal (s_macx (&out, "show %s --case C-0003 --json", f->data), 0);
    assert_int_equal (s_lines (out), 8);
    assert_true (strncmp (out, "{\"seq\":3,", 9) == 0);
    free (out);
    assert_int_equal (s_macx (&out, "show %s --agency la-london --event refuse --since "
                                    "2026-11-27T08:00:20Z --limit 2", f->data), 0);
    assert_int_equal (s_lines (out), 2);
    assert_true (strncmp (out, "#20 ", 4) == 0);
    assert_non_null (strstr (out, "deny NO_FLOW"));
    free (out);
    assert_int_equal (s_macx (&out, "show %s --since yesterday", f->data), 64);
    free (out);
    assert_int_equal (s_macx (&out, "show %s --limit x", f->data), 64);
    free (out);
    assert_int_equal (s_macx (&out, "export %s --json", f->data), 0);
    assert_int_equal (s_lines (out), 41);
    assert_non_null (strstr (out, "{\"type\":\"checkpoint\",\"seq\":30,"));
    free (out);

    size_t at = 60;
    s_tamper (f, "audit", 37, s_flip, &at);
    assert_int_equal (s_macx (&out, "verify %s --keys %s", f->data, f->keys), 65);
    assert_non_null (strstr (out, "audit log broken at entry 37: "));
    free (out);
    assert_int_equal (s_macx (&out, "verify %s --keys %s --json", f->data, f->keys), 65);
    assert_non_null (strstr (out, "\"intact\":false"));
    assert_non_null (strstr (out, "\"first_bad\":37"));
    free (out);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_append_verify, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_abort_rolls_back, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_reattach_loads_head, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_empty_and_missing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_flip_entry_byte, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_flip_stored_hash, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_removed_entries, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_rewritten_chain, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_unsigned_tail_limit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_forged_checkpoint, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_map_full, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_scan_filters, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_read_while_writing, s_setup, s_teardown),
        cmocka_unit_test (test_print_entry),
        cmocka_unit_test (test_print_case_context),
        cmocka_unit_test (test_time),
        cmocka_unit_test_setup_teardown (test_export, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_cli, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
