/* test_answer.c -- the broker's signed answers (record/answer.c): the
 * signed bytes against a copy of the layout docs/protocol.md gives, trees
 * of every size up to past a power of two (every answer of each verifies,
 * through the same checks `macx audit prove` runs), every signed field
 * altered, the signature, root, count, index and path altered, a foreign
 * signer, answers without a proof, and the comparison with an audit entry
 * field by field. Keys: a broker and an agency, made once per run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keys.h"
#include "record.h"

typedef struct {
    char dir[64];
    macx_registry_t *reg;
    macx_identity_t *broker, *mi5;
} s_fixture_t;

static s_fixture_t s_fx;

static int
s_setup (void **state)
{
    (void) state;
    if (sodium_init () < 0)
        return -1;
    snprintf (s_fx.dir, sizeof s_fx.dir, "/tmp/macx-test-answer-XXXXXX");
    if (!mkdtemp (s_fx.dir)
        || macx_keys_generate (s_fx.dir, "broker", "broker", NULL)
        || macx_keys_generate (s_fx.dir, "mi5", "mi5", NULL)
        || !(s_fx.reg = macx_registry_load (s_fx.dir, NULL))
        || !(s_fx.broker = macx_identity_load (s_fx.dir, "broker", NULL))
        || !(s_fx.mi5 = macx_identity_load (s_fx.dir, "mi5", NULL)))
        return -1;
    return 0;
}

static int
s_teardown (void **state)
{
    (void) state;
    macx_identity_destroy (&s_fx.broker);
    macx_identity_destroy (&s_fx.mi5);
    macx_registry_destroy (&s_fx.reg);
    DIR *d = opendir (s_fx.dir);
    struct dirent *e;
    while (d && (e = readdir (d))) {
        char path[512];
        snprintf (path, sizeof path, "%s/%s", s_fx.dir, e->d_name);
        if (e->d_name[0] != '.')
            unlink (path);
    }
    if (d)
        closedir (d);
    rmdir (s_fx.dir);
    return 0;
}

static const macx_agency_t *
s_agency (const char *id)
{
    const macx_agency_t *a = macx_registry_find (s_fx.reg, id);
    assert_non_null (a);
    return a;
}

/* ---- answers made as the broker makes them -------------------------------- */

/* Answer i of a flush: ACKs and NACKs alternating, each field its own. */
typedef struct {
    uint8_t id[MACX_RECORD_ID_BYTES];
    uint8_t digest[MACX_ANSWER_DIGEST_BYTES];
    Macx__Ack ack;
    Macx__Nack nack;
    bool is_ack;
    uint8_t leaf[64];
} s_ans_t;

static void
s_ans_make (s_ans_t *x, size_t i)
{
    memset (x, 0, sizeof *x);
    for (size_t k = 0; k < sizeof x->id; k++)
        x->id[k] = (uint8_t) (i * 7 + k);
    macx_answer_record_digest (x->id, sizeof x->id, x->digest);
    x->is_ack = i % 2 == 0;
    if (x->is_ack) {
        macx__ack__init (&x->ack);
        x->ack.record_id = (ProtobufCBinaryData) { sizeof x->id, x->id };
        x->ack.sequence = 1000 + i;
        x->ack.audit_seq = 10 + i;
        x->ack.clock_ms = 1796000000000 + (int64_t) i;
        x->ack.record_digest = (ProtobufCBinaryData) { sizeof x->digest, x->digest };
        macx_answer_digest_ack ("mi5", &x->ack, x->leaf);
    }
    else {
        macx__nack__init (&x->nack);
        x->nack.record_id = (ProtobufCBinaryData) { sizeof x->id, x->id };
        x->nack.sequence = 1000 + i;
        x->nack.reason = MACX__REASON__NO_FLOW;
        x->nack.message = "to ogd-dwp: no flow";
        x->nack.agreement = "ISA-OGD-DWP";
        x->nack.flow = "S1";
        x->nack.audit_seq = 10 + i;
        x->nack.clock_ms = 1796000000000 + (int64_t) i;
        x->nack.at_ms = 5;
        x->nack.record_digest = (ProtobufCBinaryData) { sizeof x->digest, x->digest };
        macx_answer_digest_nack ("mi5", &x->nack, x->leaf);
    }
}

/* A flush of n answers signed by the broker; answer `want` kept in *out as
 * the agent keeps it. */
static void
s_flush (size_t n, size_t want, macx_answer_t *out)
{
    s_ans_t *xs = calloc (n, sizeof *xs);
    uint8_t (*leaves)[64] = calloc (n, 64);
    assert_non_null (xs);
    assert_non_null (leaves);
    for (size_t i = 0; i < n; i++) {
        s_ans_make (&xs[i], i);
        memcpy (leaves[i], xs[i].leaf, 64);
    }
    macx_answer_signer_t *s = macx_answer_signer_new (s_fx.broker);
    assert_non_null (s);
    macx_error_t err = { 0 };
    assert_int_equal (macx_answer_signer_sign (s, (const uint8_t (*)[64]) leaves, n, &err), 0);
    Macx__BatchProof proof;
    ProtobufCBinaryData path[MACX_BATCH_PATH_MAX];
    macx_answer_signer_proof (s, want, &proof, path);
    int rc;
    if (xs[want].is_ack) {
        xs[want].ack.proof = &proof;
        rc = macx_answer_from_ack (out, "mi5", &xs[want].ack, &err);
    }
    else {
        xs[want].nack.proof = &proof;
        rc = macx_answer_from_nack (out, "mi5", &xs[want].nack, &err);
    }
    if (rc)
        fail_msg ("answer %zu of %zu: %s", want, n, err.msg);
    macx_answer_signer_destroy (&s);
    macx_answer_signer_destroy (&s);   /* safe twice */
    free (xs);
    free (leaves);
}

/* ---- the signed bytes, as docs/protocol.md lays them out ---------------- */

static void
s_u64 (crypto_generichash_state *st, uint64_t v)
{
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t) (v >> (8 * i));
    crypto_generichash_update (st, le, 8);
}

static void
s_len (crypto_generichash_state *st, const void *p, size_t n)
{
    s_u64 (st, n);
    crypto_generichash_update (st, p, n);
}

static void
test_layout (void **state)
{
    (void) state;
    s_ans_t x;
    s_ans_make (&x, 1);   /* a NACK: every field set */
    uint8_t want[64];
    crypto_generichash_state st;
    crypto_generichash_init (&st, NULL, 0, 64);
    s_len (&st, "macx-answer-v1", 14);
    s_len (&st, "mi5", 3);
    s_len (&st, x.id, sizeof x.id);
    s_len (&st, x.digest, sizeof x.digest);
    s_u64 (&st, 1001);
    s_u64 (&st, 2);   /* refuse */
    s_u64 (&st, MACX__REASON__NO_FLOW);
    s_u64 (&st, 11);
    s_u64 (&st, 1796000000001);
    s_u64 (&st, 5);
    s_len (&st, "ISA-OGD-DWP", 11);
    s_len (&st, "S1", 2);
    s_len (&st, "to ogd-dwp: no flow", 19);
    crypto_generichash_final (&st, want, 64);
    assert_memory_equal (x.leaf, want, 64);
    /* the kept form digests the same */
    macx_answer_t a;
    s_flush (2, 1, &a);
    uint8_t kept[64];
    macx_answer_digest (&a, kept);
    assert_memory_equal (kept, want, 64);
    /* the head */
    uint8_t root[32] = { 9 }, head[64];
    crypto_generichash_init (&st, NULL, 0, 64);
    s_len (&st, "macx-answers-v1", 15);
    s_len (&st, "broker", 6);
    s_u64 (&st, 3);
    crypto_generichash_update (&st, root, 32);
    crypto_generichash_final (&st, want, 64);
    macx_answer_head_digest ("broker", 3, root, head);
    assert_memory_equal (head, want, 64);
    /* the record digest: BLAKE2b-256 of the bytes */
    uint8_t d[32], e[32];
    macx_answer_record_digest ((const uint8_t *) "abc", 3, d);
    crypto_generichash (e, 32, (const uint8_t *) "abc", 3, NULL, 0);
    assert_memory_equal (d, e, 32);
}

/* Every answer of trees of 1..70 answers, and of 255..257, 4096, proves. */
static void
test_every_size (void **state)
{
    (void) state;
    const macx_agency_t *broker = s_agency ("broker");
    size_t sizes[80], ns = 0;
    for (size_t n = 1; n <= 70; n++)
        sizes[ns++] = n;
    sizes[ns++] = 255;
    sizes[ns++] = 256;
    sizes[ns++] = 257;
    sizes[ns++] = MACX_BATCH_MAX;
    for (size_t k = 0; k < ns; k++) {
        size_t n = sizes[k];
        size_t picks[] = { 0, n / 2, n - 1 };
        for (size_t p = 0; p < (n > 70 ? 3 : n); p++) {
            size_t i = n > 70 ? picks[p] : p;
            macx_answer_t a;
            s_flush (n, i, &a);
            macx_error_t err = { 0 };
            if (macx_answer_verify (&a, broker, &err))
                fail_msg ("answer %zu of %zu: %s", i, n, err.msg);
            assert_int_equal (a.count, n);
            assert_int_equal (a.index, i);
            assert_true (a.npath <= MACX_BATCH_PATH_MAX);
        }
    }
    macx_answer_signer_t *s = macx_answer_signer_new (s_fx.broker);
    uint8_t leaves[1][64] = { { 0 } };
    macx_error_t err = { 0 };
    assert_int_equal (macx_answer_signer_sign (s, (const uint8_t (*)[64]) leaves, 0, &err),
                      MACX_ELIMIT);
    assert_int_equal (macx_answer_signer_sign (s, (const uint8_t (*)[64]) leaves,
                                               MACX_BATCH_MAX + 1, &err), MACX_ELIMIT);
    macx_answer_signer_destroy (&s);
}

/* Each field the answer states, altered: the path no longer leads to the
 * signed root, while the head's signature still verifies. */
static void
test_altered_fields (void **state)
{
    (void) state;
    const macx_agency_t *broker = s_agency ("broker");
    for (size_t which = 0; which < 2; which++) {   /* an ACK, then a NACK */
        macx_answer_t good;
        s_flush (5, which, &good);
        for (int f = 0; f < 12; f++) {
            macx_answer_t a = good;
            switch (f) {
            case 0: a.accepted = !a.accepted; break;
            case 1: a.agency[0] = 'x'; break;
            case 2: a.record_id[3] ^= 1; break;
            case 3: a.record_digest[31] ^= 0x80; break;
            case 4: a.sequence++; break;
            case 5: a.reason = a.reason ? 0 : MACX__REASON__REPLAY; break;
            case 6: a.audit_seq++; break;
            case 7: a.clock_ms--; break;
            case 8: a.at_ms++; break;
            case 9: snprintf (a.agreement, sizeof a.agreement, "ISA-OTHER"); break;
            case 10: snprintf (a.flow, sizeof a.flow, "S9"); break;
            case 11: snprintf (a.message, sizeof a.message, "permitted after all"); break;
            }
            macx_error_t err = { 0 };
            assert_int_equal (macx_answer_check_head (&a, broker, &err), 0);
            if (macx_answer_check_path (&a, &err) != MACX_EBATCHPATH)
                fail_msg ("field %d of answer %zu altered and the path still leads to the root",
                          f, which);
            assert_non_null (strstr (err.msg, "do not lead to the signed root"));
            assert_int_equal (macx_answer_verify (&a, broker, &err), MACX_EBATCHPATH);
        }
        macx_error_t err = { 0 };
        assert_int_equal (macx_answer_verify (&good, broker, &err), 0);
    }
}

/* The proof altered: signature, root, count (the head), index and path
 * (the path), a foreign signer, another key, no proof. */
static void
test_altered_proof (void **state)
{
    (void) state;
    const macx_agency_t *broker = s_agency ("broker"), *mi5 = s_agency ("mi5");
    macx_answer_t good, a;
    s_flush (9, 4, &good);
    macx_error_t err = { 0 };
    assert_true (good.npath >= 3);

    a = good;
    a.signature[10] ^= 1;
    assert_int_equal (macx_answer_check_head (&a, broker, &err), MACX_EBADSIG);
    assert_non_null (strstr (err.msg, "does not verify"));
    assert_int_equal (macx_answer_check_path (&a, &err), 0);   /* the path is intact */

    a = good;
    a.root[0] ^= 1;
    assert_int_equal (macx_answer_check_head (&a, broker, &err), MACX_EBADSIG);
    assert_int_equal (macx_answer_check_path (&a, &err), MACX_EBATCHPATH);

    a = good;
    a.count = 10;
    assert_int_equal (macx_answer_check_head (&a, broker, &err), MACX_EBADSIG);

    a = good;
    a.index = 5;
    assert_int_equal (macx_answer_check_head (&a, broker, &err), 0);
    assert_int_equal (macx_answer_check_path (&a, &err), MACX_EBATCHPATH);

    for (size_t i = 0; i < good.npath; i++) {
        a = good;
        a.path[i][7] ^= 4;
        assert_int_equal (macx_answer_check_path (&a, &err), MACX_EBATCHPATH);
    }
    a = good;
    a.npath--;   /* a hash left out */
    assert_int_equal (macx_answer_check_path (&a, &err), MACX_EBATCHPATH);
    a = good;
    memcpy (a.path[a.npath], a.path[0], 32);
    a.npath++;   /* one too many */
    assert_int_equal (macx_answer_check_path (&a, &err), MACX_EBATCHPATH);

    a = good;
    snprintf (a.signer, sizeof a.signer, "mi5");
    assert_int_equal (macx_answer_check_head (&a, broker, &err), MACX_EFOREIGNROOT);
    assert_non_null (strstr (err.msg, "signed by 'mi5'"));
    /* the broker's signature checked with another agency's key */
    assert_int_equal (macx_answer_check_head (&good, mi5, &err), MACX_EFOREIGNROOT);
    a = good;
    snprintf (a.signer, sizeof a.signer, "mi5");
    assert_int_equal (macx_answer_check_head (&a, mi5, &err), MACX_EBADSIG);

    a = good;
    a.proved = false;
    assert_int_equal (macx_answer_check_head (&a, broker, &err), MACX_EDECODE);
    assert_int_equal (macx_answer_check_path (&a, &err), MACX_EDECODE);
}

/* What the agent refuses to keep: no proof, a digest of the wrong size, a
 * malformed proof, strings too long for the kept form. */
static void
test_from_wire (void **state)
{
    (void) state;
    s_ans_t x;
    s_ans_make (&x, 0);
    macx_answer_t a;
    macx_error_t err = { 0 };
    assert_int_equal (macx_answer_from_ack (&a, "mi5", &x.ack, &err), MACX_EDECODE);
    assert_non_null (strstr (err.msg, "no proof"));
    Macx__BatchProof p = MACX__BATCH_PROOF__INIT;
    uint8_t root[32] = { 0 }, sig[64] = { 0 };
    p.signer = "broker";
    p.count = 1;
    p.root = (ProtobufCBinaryData) { 32, root };
    p.signature = (ProtobufCBinaryData) { 64, sig };
    x.ack.proof = &p;
    assert_int_equal (macx_answer_from_ack (&a, "mi5", &x.ack, &err), 0);
    assert_true (a.proved && a.accepted);
    p.index = 1;   /* not below its count */
    assert_int_equal (macx_answer_from_ack (&a, "mi5", &x.ack, &err), MACX_EDECODE);
    p.index = 0;
    x.ack.record_digest.len = 31;
    assert_int_equal (macx_answer_from_ack (&a, "mi5", &x.ack, &err), MACX_EDECODE);
    assert_non_null (strstr (err.msg, "record digest"));
    char agency[64];
    memset (agency, 'a', sizeof agency - 1);
    agency[sizeof agency - 1] = '\0';
    x.ack.record_digest.len = 32;
    assert_int_equal (macx_answer_from_ack (&a, agency, &x.ack, &err), MACX_ETOOBIG);
    s_ans_t y;
    s_ans_make (&y, 1);
    y.nack.proof = &p;
    char flow[300];
    memset (flow, 'f', sizeof flow - 1);
    flow[sizeof flow - 1] = '\0';
    y.nack.flow = flow;
    assert_int_equal (macx_answer_from_nack (&a, "mi5", &y.nack, &err), MACX_ETOOBIG);
    assert_non_null (strstr (err.msg, "flow"));
}

/* An answer against the audit entry it names: agreeing, then each field
 * the comparison looks at, different. */
static void
test_match_entry (void **state)
{
    (void) state;
    macx_answer_t a;
    s_flush (3, 1, &a);   /* a NACK */
    Macx__AuditEntry e = MACX__AUDIT_ENTRY__INIT;
    e.seq = a.audit_seq;
    e.event = "refuse";
    e.decision = "deny";
    e.peer = "mi5";
    e.record_id = (ProtobufCBinaryData) { a.record_id_len, a.record_id };
    e.record_digest = (ProtobufCBinaryData) { 32, a.record_digest };
    e.reason = a.reason;
    e.sequence = a.sequence;
    e.clock_ms = a.clock_ms;
    e.agreement = a.agreement;
    e.flow = a.flow;
    e.message = a.message;
    char why[400];
    assert_null (macx_answer_match_entry (&a, &e, why, sizeof why));
    assert_non_null (strstr (why, "refuse entry"));
    uint8_t other[32] = { 1 };
#define S_DIFFERS(stmt, name)                                                     \
    do {                                                                          \
        Macx__AuditEntry d = e;                                                   \
        stmt;                                                                     \
        const char *f = macx_answer_match_entry (&a, &d, why, sizeof why);        \
        if (!f || strcmp (f, name) != 0)                                          \
            fail_msg ("%s: got %s (%s)", name, f ? f : "a match", why);           \
    } while (0)
    S_DIFFERS (d.seq++, "audit_seq");
    S_DIFFERS (d.event = "deliver", "event");
    S_DIFFERS ((d.event = "accept", d.decision = "permit"), "verdict");
    S_DIFFERS (d.decision = "permit", "verdict");
    S_DIFFERS (d.record_id.len = 15, "record_id");
    S_DIFFERS (d.record_digest = ((ProtobufCBinaryData) { 32, other }), "record_digest");
    S_DIFFERS (d.record_digest.len = 0, "record_digest");
    S_DIFFERS (d.reason = MACX__REASON__REPLAY, "reason");
    S_DIFFERS (d.peer = "ctp", "agency");
    S_DIFFERS (d.sequence++, "sequence");
    S_DIFFERS (d.clock_ms++, "time");
    S_DIFFERS (d.agreement = "ISA-X", "agreement");
    S_DIFFERS (d.flow = "S2", "flow");
    S_DIFFERS (d.message = "something else", "message");
    assert_non_null (strstr (why, "something else"));
    /* an ACK: agreement, flow and message are the accept entry's own */
    macx_answer_t k;
    s_flush (3, 2, &k);
    e.seq = k.audit_seq;
    e.event = "accept";
    e.decision = "permit";
    e.record_id = (ProtobufCBinaryData) { k.record_id_len, k.record_id };
    e.record_digest = (ProtobufCBinaryData) { 32, k.record_digest };
    e.reason = 0;
    e.sequence = k.sequence;
    e.clock_ms = k.clock_ms;
    e.agreement = "ISA-NMAC-LA-LONDON";
    e.flow = "S1";
    e.message = "";
    assert_null (macx_answer_match_entry (&k, &e, why, sizeof why));
    e.event = "refuse";
    e.decision = "deny";
    const char *f = macx_answer_match_entry (&k, &e, why, sizeof why);
    assert_non_null (f);
    assert_string_equal (f, "verdict");
    assert_non_null (strstr (why, "the log says refuse (deny), the answer accept"));
#undef S_DIFFERS
}

/* The JSON an answer is kept in names every field the signature covers. */
static void
test_print (void **state)
{
    (void) state;
    macx_answer_t a;
    s_flush (4, 3, &a);   /* a NACK with a path of 2 */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&text, &len);
    macx_answer_print_json (f, &a);
    fclose (f);
    const char *keys[] = { "\"result\":\"nack\"", "\"agency\":\"mi5\"", "\"record_id\":\"",
                           "\"audit_seq\":13", "\"sequence\":1003", "\"record_digest\":\"",
                           "\"clock_ms\":1796000000003", "\"time\":\"2026-", "\"at_ms\":5",
                           "\"reason\":\"NO_FLOW\"", "\"message\":\"to ogd-dwp: no flow\"",
                           "\"agreement\":\"ISA-OGD-DWP\"", "\"flow\":\"S1\"",
                           "\"proof\":{\"signer\":\"broker\",\"index\":3,\"count\":4,\"root\":\"",
                           "\"path\":[\"", "\"signature\":\"" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!strstr (text, keys[i]))
            fail_msg ("printed answer lacks %s: %s", keys[i], text);
    assert_int_equal (text[len - 1], '}');
    free (text);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_layout),
        cmocka_unit_test (test_every_size),
        cmocka_unit_test (test_altered_fields),
        cmocka_unit_test (test_altered_proof),
        cmocka_unit_test (test_from_wire),
        cmocka_unit_test (test_match_entry),
        cmocka_unit_test (test_print),
    };
    return cmocka_run_group_tests_name ("answer", tests, s_setup, s_teardown);
}
