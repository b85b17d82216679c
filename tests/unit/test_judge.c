/* test_judge.c -- broker/judge.c, the broker's decision on one record as a
 * function of what it is given: one test per reason code it can return, the
 * order of its checks, the case context (phases reached, origins held), the
 * verdict it fills for an acceptance (agreements and flows per recipient,
 * daily-cap keys), and that it writes nothing and fails when its store does.
 * The store is a fake held in tables here; the policy (the baseline), the
 * key registry and the sealed records are real. */
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
#include <sys/stat.h>
#include <unistd.h>

#include "judge.h"
#include "keys.h"
#include "names.h"
#include "policy.h"
#include "record.h"
#include "test_kind.h"

#define S_DAY   20605                                  /* 2026-06-01: every baseline agreement in force */
#define S_STAMP ((int64_t) S_DAY * 86400000 + 12 * 3600000)
#define S_BIT(p) (1u << (p))
#define S_IDENT MACX__PHASE__IDENTIFICATION
#define S_SHARE MACX__PHASE__SHARING
#define S_ENRICH MACX__PHASE__ENRICHMENT
#define S_PROFILE MACX__PHASE__PROFILING
#define S_PANEL MACX__PHASE__PANEL

/* ---- the fixture: keys and registries, the baseline policy -------------- */

#define S_NAGENCIES 4
static const char *const s_ids[S_NAGENCIES] = { "mi5", "ctp", "la-london", "ogd-dwp" };

typedef struct {
    char dir[64], dir_removed[80], dir_rekeyed[80];
    macx_registry_t *reg;           /* every agency, as the records were signed */
    macx_registry_t *reg_revoked;   /* ctp revoked since */
    macx_registry_t *reg_removed;   /* ctp gone from the registry */
    macx_registry_t *reg_rekeyed;   /* ctp with new keys */
    macx_identity_t *me[S_NAGENCIES];
    macx_policy_t *policy;
} s_fixture_t;

static s_fixture_t *s_fx;

static void
s_rmrf (const char *dir)
{
    DIR *d = opendir (dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir (d))) {
            if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
                continue;
            char path[4096];
            snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
            unlink (path);
        }
        closedir (d);
    }
    rmdir (dir);
}

/* Copies dir's public files, but not skip's, into a new directory to. */
static int
s_copy_pubs (const char *dir, const char *to, const char *skip)
{
    if (mkdir (to, 0700))
        return -1;
    for (int i = 0; i < S_NAGENCIES; i++) {
        if (strcmp (s_ids[i], skip) == 0)
            continue;
        char from[256], dest[256], buf[4096];
        snprintf (from, sizeof from, "%s/%s.pub", dir, s_ids[i]);
        snprintf (dest, sizeof dest, "%s/%s.pub", to, s_ids[i]);
        FILE *in = fopen (from, "rb"), *out = fopen (dest, "wb");
        size_t n = in ? fread (buf, 1, sizeof buf, in) : 0;
        int bad = !in || !out || n == 0 || fwrite (buf, 1, n, out) != n;
        if (in)
            fclose (in);
        if (out && fclose (out))
            bad = 1;
        if (bad)
            return -1;
    }
    return 0;
}

static int
s_group_setup (void **state)
{
    (void) state;
    if (sodium_init () < 0)
        return -1;
    s_fx = calloc (1, sizeof *s_fx);
    snprintf (s_fx->dir, sizeof s_fx->dir, "/tmp/macx-test-judge-XXXXXX");
    if (!s_fx || !mkdtemp (s_fx->dir))
        return -1;
    for (int i = 0; i < S_NAGENCIES; i++)
        if (macx_keys_generate (s_fx->dir, s_ids[i], test_kind (s_ids[i]), NULL))
            return -1;
    if (!(s_fx->reg = macx_registry_load (s_fx->dir, NULL)))
        return -1;
    for (int i = 0; i < S_NAGENCIES; i++)
        if (!(s_fx->me[i] = macx_identity_load (s_fx->dir, s_ids[i], NULL)))
            return -1;
    /* today's registries, each changed for ctp since the records were
     * verified */
    snprintf (s_fx->dir_removed, sizeof s_fx->dir_removed, "%s-removed", s_fx->dir);
    snprintf (s_fx->dir_rekeyed, sizeof s_fx->dir_rekeyed, "%s-rekeyed", s_fx->dir);
    if (s_copy_pubs (s_fx->dir, s_fx->dir_removed, "ctp")
        || !(s_fx->reg_removed = macx_registry_load (s_fx->dir_removed, NULL))
        || s_copy_pubs (s_fx->dir, s_fx->dir_rekeyed, "ctp")
        || macx_keys_generate (s_fx->dir_rekeyed, "ctp", "ctp", NULL)
        || !(s_fx->reg_rekeyed = macx_registry_load (s_fx->dir_rekeyed, NULL))
        || macx_keys_revoke (s_fx->dir, "ctp", "test", NULL)
        || !(s_fx->reg_revoked = macx_registry_load (s_fx->dir, NULL)))
        return -1;
    macx_error_t err = { 0 };
    s_fx->policy = macx_policy_load (MACX_SOURCE_DIR "/scenarios/baseline/policy", &err);
    if (!s_fx->policy) {
        fprintf (stderr, "baseline policy: %s\n", macx_error_text (&err));
        return -1;
    }
    return 0;
}

static int
s_group_teardown (void **state)
{
    (void) state;
    for (int i = 0; i < S_NAGENCIES; i++)
        macx_identity_destroy (&s_fx->me[i]);
    macx_registry_destroy (&s_fx->reg);
    macx_registry_destroy (&s_fx->reg_revoked);
    macx_registry_destroy (&s_fx->reg_removed);
    macx_registry_destroy (&s_fx->reg_rekeyed);
    macx_policy_destroy (&s_fx->policy);
    s_rmrf (s_fx->dir_removed);
    s_rmrf (s_fx->dir_rekeyed);
    s_rmrf (s_fx->dir);
    free (s_fx);
    return 0;
}

/* ---- the fake store ------------------------------------------------------ */

enum { S_SEEN, S_LAST, S_GAP, S_BATCH, S_STAMP_CB, S_COUNT, S_CASE, S_NCALLBACKS };
static const char *const s_callback_names[S_NCALLBACKS] = {
    "seen", "last_sequence", "gap", "batch_order", "stamp", "count", "case_get"
};

typedef struct {
    char holder[40], origin[40], type[64];
} s_holding_t;

typedef struct {
    char id[64];
    uint32_t phases;
    s_holding_t holdings[8];
    size_t nholdings;
} s_case_t;

/* What the broker's LMDB tables would hold: all the judge may read. */
typedef struct {
    struct { uint8_t id[MACX_RECORD_ID_BYTES]; uint64_t audit; } seen[8];
    size_t nseen;
    struct { char sender[40]; uint64_t last; } last[8];
    size_t nlast;
    struct { char sender[40]; uint64_t sequence; } gaps[8];
    size_t ngaps;
    struct { char key[MACX_JUDGE_KEY_MAX]; uint64_t count; } counters[8];
    size_t ncounters;
    s_case_t cases[8];
    size_t ncases;
} s_tables_t;

typedef struct {
    s_tables_t t;
    /* the clock's answer */
    bool stamp_ok;
    int64_t stamp;
    char stamp_msg[200];
    /* the batch order's answer */
    int batch_reason;
    char batch_msg[200];
    int fail;                       /* the callback that fails (returns -1), or -1 */
    int calls[S_NCALLBACKS];
    int cases_out;                  /* case states given and not freed yet */
    char counted[8][MACX_JUDGE_KEY_MAX];   /* the cap keys count was asked for */
    size_t ncounted;
} s_store_t;

static s_store_t s_st;

static int
s_seen (void *arg, const ProtobufCBinaryData *id, bool *seen, uint64_t *first)
{
    s_store_t *st = arg;
    st->calls[S_SEEN]++;
    if (st->fail == S_SEEN)
        return -1;
    *seen = false;
    *first = 0;
    for (size_t i = 0; i < st->t.nseen; i++)
        if (id->len == MACX_RECORD_ID_BYTES && memcmp (st->t.seen[i].id, id->data, id->len) == 0) {
            *seen = true;
            *first = st->t.seen[i].audit;
        }
    return 0;
}

static int
s_last (void *arg, const char *sender, uint64_t *last)
{
    s_store_t *st = arg;
    st->calls[S_LAST]++;
    if (st->fail == S_LAST)
        return -1;
    *last = 0;
    for (size_t i = 0; i < st->t.nlast; i++)
        if (strcmp (st->t.last[i].sender, sender) == 0)
            *last = st->t.last[i].last;
    return 0;
}

static int
s_gap (void *arg, const Macx__Header *h, bool *gap)
{
    s_store_t *st = arg;
    st->calls[S_GAP]++;
    if (st->fail == S_GAP)
        return -1;
    *gap = false;
    for (size_t i = 0; i < st->t.ngaps; i++)
        if (strcmp (st->t.gaps[i].sender, h->sender) == 0 && st->t.gaps[i].sequence == h->sequence)
            *gap = true;
    return 0;
}

static int
s_batch_order (void *arg, const Macx__Header *h, const Macx__BatchProof *p, int *reason,
               char *msg, size_t size)
{
    (void) h;
    (void) p;
    s_store_t *st = arg;
    st->calls[S_BATCH]++;
    if (st->fail == S_BATCH)
        return -1;
    *reason = st->batch_reason;
    snprintf (msg, size, "%s", st->batch_msg);
    return 0;
}

static int
s_stamp (void *arg, const Macx__Header *h, bool *ok, int64_t *stamp, char *msg, size_t size)
{
    (void) h;
    s_store_t *st = arg;
    st->calls[S_STAMP_CB]++;
    if (st->fail == S_STAMP_CB)
        return -1;
    *ok = st->stamp_ok;
    *stamp = st->stamp_ok ? st->stamp : 0;
    snprintf (msg, size, "%s", st->stamp_ok ? "" : st->stamp_msg);
    return 0;
}

static int
s_count (void *arg, const char *key, uint64_t *count)
{
    s_store_t *st = arg;
    st->calls[S_COUNT]++;
    if (st->fail == S_COUNT)
        return -1;
    if (st->ncounted < 8)
        snprintf (st->counted[st->ncounted++], sizeof st->counted[0], "%s", key);
    *count = 0;
    for (size_t i = 0; i < st->t.ncounters; i++)
        if (strcmp (st->t.counters[i].key, key) == 0)
            *count = st->t.counters[i].count;
    return 0;
}

/* A case state as the broker's store gives it: new, for case_free. */
static int
s_case_get (void *arg, const char *case_id, Macx__CaseState **state)
{
    s_store_t *st = arg;
    st->calls[S_CASE]++;
    *state = NULL;
    if (st->fail == S_CASE)
        return -1;
    for (size_t i = 0; i < st->t.ncases; i++) {
        const s_case_t *c = &st->t.cases[i];
        if (strcmp (c->id, case_id) != 0)
            continue;
        Macx__CaseState *s = malloc (sizeof *s);
        assert_non_null (s);
        macx__case_state__init (s);
        s->phases = c->phases;
        s->n_holdings = c->nholdings;
        s->holdings = calloc (c->nholdings ? c->nholdings : 1, sizeof *s->holdings);
        assert_non_null (s->holdings);
        for (size_t k = 0; k < c->nholdings; k++) {
            Macx__CaseHolding *g = malloc (sizeof *g);
            assert_non_null (g);
            macx__case_holding__init (g);
            g->holder = (char *) c->holdings[k].holder;
            g->origin = (char *) c->holdings[k].origin;
            g->record_type = (char *) c->holdings[k].type;
            s->holdings[k] = g;
        }
        *state = s;
        st->cases_out++;
        return 0;
    }
    return 0;
}

static void
s_case_free (void *arg, Macx__CaseState *state)
{
    s_store_t *st = arg;
    for (size_t k = 0; k < state->n_holdings; k++)
        free (state->holdings[k]);
    free (state->holdings);
    free (state);
    st->cases_out--;
}

static s_case_t *
s_case_add (const char *id, uint32_t phases)
{
    assert_true (s_st.t.ncases < 8);
    s_case_t *c = &s_st.t.cases[s_st.t.ncases++];
    snprintf (c->id, sizeof c->id, "%s", id);
    c->phases = phases;
    return c;
}

static void
s_holding_add (s_case_t *c, const char *holder, const char *origin, const char *type)
{
    assert_true (c->nholdings < 8);
    s_holding_t *g = &c->holdings[c->nholdings++];
    snprintf (g->holder, sizeof g->holder, "%s", holder);
    snprintf (g->origin, sizeof g->origin, "%s", origin);
    snprintf (g->type, sizeof g->type, "%s", type);
}

static void
s_last_set (const char *sender, uint64_t last)
{
    assert_true (s_st.t.nlast < 8);
    snprintf (s_st.t.last[s_st.t.nlast].sender, sizeof s_st.t.last[0].sender, "%s", sender);
    s_st.t.last[s_st.t.nlast++].last = last;
}

static void
s_counter_set (const char *key, uint64_t count)
{
    assert_true (s_st.t.ncounters < 8);
    snprintf (s_st.t.counters[s_st.t.ncounters].key, sizeof s_st.t.counters[0].key, "%s", key);
    s_st.t.counters[s_st.t.ncounters++].count = count;
}

/* Every test starts from one store: nothing seen, no sequence, the clock
 * agreeing at S_STAMP, and case C-1 opened by MI5's case file to CTP (it
 * reached identification; ctp holds mi5's case_file). */
static int
s_setup (void **state)
{
    (void) state;
    memset (&s_st, 0, sizeof s_st);
    s_st.stamp_ok = true;
    s_st.stamp = S_STAMP;
    s_st.fail = -1;
    s_holding_add (s_case_add ("C-1", S_BIT (S_IDENT)), "ctp", "mi5", "case_file");
    return 0;
}

/* ---- records --------------------------------------------------------------- */

static macx_identity_t *
s_me (const char *id)
{
    for (int i = 0; i < S_NAGENCIES; i++)
        if (strcmp (s_ids[i], id) == 0)
            return s_fx->me[i];
    fail_msg ("no identity %s", id);
    return NULL;
}

typedef struct {
    const char *from, *to, *type;
    int phase;
    uint64_t sequence;
    const char *case_id;
    const char *fields;             /* "name[:transform]=value;..." */
    const char *origin, *origin_type;
    int case_phase;                 /* the header's claim; 0: the phase */
} s_spec_t;

/* Seals a record as spec->from (to a comma list of recipients) and verifies
 * it under the registry it was signed under, as the broker's verifier does
 * before the judge sees it. The caller destroys it. */
static macx_record_t *
s_record (const s_spec_t *spec)
{
    char fbuf[1024], tbuf[256];
    snprintf (fbuf, sizeof fbuf, "%s", spec->fields);
    snprintf (tbuf, sizeof tbuf, "%s", spec->to);
    macx_record_field_t fields[32];
    size_t nfields = 0;
    macx_error_t err = { 0 };
    for (char *save = NULL, *f = strtok_r (fbuf, ";", &save); f; f = strtok_r (NULL, ";", &save))
        assert_int_equal (macx_record_field_parse (f, &fields[nfields++], &err), 0);
    char *recipients[MACX_RECIPIENTS_MAX];
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r (tbuf, ",", &save); t; t = strtok_r (NULL, ",", &save))
        recipients[n++] = t;
    Macx__Payload *payload = NULL;
    Macx__FieldEntry **manifest = NULL;
    size_t nmanifest = 0;
    assert_int_equal (macx_record_build (spec->type, fields, nfields, &payload, &manifest,
                                         &nmanifest, &err), 0);
    uint8_t id[MACX_RECORD_ID_BYTES];
    macx_record_new_id (id);
    Macx__Header h = MACX__HEADER__INIT;
    h.record_id = (ProtobufCBinaryData) { sizeof id, id };
    h.recipients = recipients;
    h.n_recipients = n;
    h.sequence = spec->sequence ? spec->sequence : 1;
    h.subject = "S-7f3a";
    h.case_id = (char *) (spec->case_id ? spec->case_id : "C-1");
    h.phase = spec->phase;
    h.case_phase = spec->case_phase ? spec->case_phase : spec->phase;
    h.record_type = (char *) spec->type;
    h.purpose = "mac_case_management";
    h.legal_basis = "";
    h.manifest = manifest;
    h.n_manifest = nmanifest;
    h.origin = (char *) (spec->origin ? spec->origin : "");
    h.origin_record_type = (char *) (spec->origin_type ? spec->origin_type : "");
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = macx_record_seal (s_me (spec->from), s_fx->reg, &h, payload, &buf, &len, &err);
    if (rc)
        fail_msg ("seal: %s", macx_error_text (&err));
    macx_record_build_free (&payload, &manifest, nmanifest);
    macx_record_t *rec = NULL;
    rc = macx_record_verify (s_fx->reg, buf, len, &rec, &err);
    free (buf);
    if (rc)
        fail_msg ("verify: %s", macx_error_text (&err));
    return rec;
}

/* The usual records of the baseline's flows. */
#define S_CASE_FILE   "subject_name=Ada Quill;closure_category=closed"
#define S_SHARE_F     "subject_name=A.Q.;region=London;request=contact in the last year"
#define S_PROFILE_F   "level=2;assessment=synthetic"
#define S_PANEL_F     "chair=ctp;level=2;decided_on=2026-06-01"

/* The context the broker would pass: peer authenticated as the sender, the
 * record verified, today's registry as it was signed under. */
static macx_judge_context_t
s_ctx (const macx_record_t *rec)
{
    const Macx__Header *h = rec ? macx_record_header (rec) : NULL;
    return (macx_judge_context_t) {
        .peer = h ? h->sender : "mi5",
        .record = rec,
        .registry = s_fx->reg,
        .policy = s_fx->policy,
        .store = { .arg = &s_st, .seen = s_seen, .last_sequence = s_last, .gap = s_gap,
                   .batch_order = s_batch_order, .stamp = s_stamp, .count = s_count,
                   .case_get = s_case_get, .case_free = s_case_free },
    };
}

static macx_verdict_t s_v;   /* large */

/* Judges h under ctx and checks what must hold of every judgement: the
 * store's tables are as they were (the judge writes nothing) and every case
 * state it was given it gave back. Returns macx_judge's result. */
static int
s_judge_ctx (const Macx__Header *h, const macx_judge_context_t *ctx)
{
    static s_tables_t before;
    memcpy (&before, &s_st.t, sizeof before);
    memset (&s_v, 0xa5, sizeof s_v);   /* what the judge does not fill shows */
    int rc = macx_judge (h, ctx, &s_v);
    assert_memory_equal (&before, &s_st.t, sizeof before);
    assert_int_equal (s_st.cases_out, 0);
    return rc;
}

/* Judges rec as the broker would; returns the reason (0: accepted). */
static int
s_judge (const macx_record_t *rec)
{
    macx_judge_context_t ctx = s_ctx (rec);
    assert_int_equal (s_judge_ctx (macx_record_header (rec), &ctx), 0);
    return s_v.reason;
}

/* Asserts the verdict refused with reason and a message containing text. */
#define s_assert_refused(rec, reason, text)                                                  \
    do {                                                                                      \
        int got_ = s_judge (rec);                                                             \
        if (got_ != (reason))                                                                 \
            fail_msg ("reason %s, want %s: %s", macx_reason_name (got_),                      \
                      macx_reason_name (reason), s_v.message);                                \
        if (!strstr (s_v.message, (text)))                                                    \
            fail_msg ("message '%s' lacks '%s'", s_v.message, (text));                        \
    } while (0)

#define s_assert_accepted(rec)                                                               \
    do {                                                                                      \
        int got_ = s_judge (rec);                                                             \
        if (got_ != 0)                                                                        \
            fail_msg ("refused %s: %s", macx_reason_name (got_), s_v.message);                \
    } while (0)

/* ---- acceptance ------------------------------------------------------------ */

static void
test_accept_fills_the_verdict (void **state)
{
    (void) state;
    s_last_set ("mi5", 4);
    macx_record_t *rec = s_record (&(s_spec_t) { .from = "mi5", .to = "la-london", .type = "share",
                                                 .phase = S_SHARE, .sequence = 5,
                                                 .fields = S_SHARE_F });
    s_assert_accepted (rec);
    assert_string_equal (s_v.message, "");
    assert_null (s_v.agreement);
    assert_null (s_v.flow);
    assert_int_equal (s_v.stamp, S_STAMP);
    assert_int_equal (s_v.last, 4);
    assert_false (s_v.gap);
    assert_int_equal (s_v.first_audit, 0);
    assert_int_equal (s_v.nrecipients, 1);
    assert_int_equal (s_v.results[0].decision, MACX_DECISION_PERMIT);
    assert_int_equal (s_v.results[0].retention_days, 365);
    assert_string_equal (s_v.results[0].policy_hash, macx_policy_hash (s_fx->policy));
    assert_string_equal (s_v.agreements, "ISA-NMAC-LA-LONDON");
    assert_string_equal (s_v.flows, "S1");
    /* the case context used: C-1 had reached identification, which a share
     * needs */
    assert_true (s_v.case_known);
    assert_int_equal (s_v.case_reached, S_BIT (S_IDENT));
    assert_int_equal (s_v.case_needed, S_IDENT);
    /* S1 is capped (200 a day): its counter, by names, sender and the
     * broker's day */
    assert_string_equal (s_v.cap_key[0], "f/ISA-NMAC-LA-LONDON/S1/mi5/20605");
    assert_int_equal (s_v.cap_count[0], 0);
    assert_int_equal (s_st.calls[S_SEEN], 1);
    assert_int_equal (s_st.calls[S_STAMP_CB], 1);
    assert_int_equal (s_st.calls[S_BATCH], 1);
    macx_record_destroy (&rec);
}

static void
test_identification_needs_no_case (void **state)
{
    (void) state;
    /* MI5's case file opens a case the broker has never seen; the case is
     * not even asked for */
    macx_record_t *rec = s_record (&(s_spec_t) { .from = "mi5", .to = "ctp", .type = "case_file",
                                                 .phase = S_IDENT, .case_id = "C-new",
                                                 .fields = S_CASE_FILE });
    s_assert_accepted (rec);
    assert_int_equal (s_v.case_needed, 0);
    assert_false (s_v.case_known);
    assert_int_equal (s_v.case_reached, 0);
    assert_int_equal (s_st.calls[S_CASE], 0);
    assert_string_equal (s_v.agreements, "ISA-MI5-CTP");
    assert_string_equal (s_v.flows, "F1");
    assert_string_equal (s_v.cap_key[0], "");
    macx_record_destroy (&rec);
}

/* ---- identity and verification --------------------------------------------- */

static void
test_sender_mismatch (void **state)
{
    (void) state;
    macx_record_t *rec = s_record (&(s_spec_t) { .from = "mi5", .to = "la-london", .type = "share",
                                                 .phase = S_SHARE, .fields = S_SHARE_F });
    macx_judge_context_t ctx = s_ctx (rec);
    ctx.peer = "ctp";
    assert_int_equal (s_judge_ctx (macx_record_header (rec), &ctx), 0);
    assert_int_equal (s_v.reason, MACX__REASON__SENDER_MISMATCH);
    assert_string_equal (s_v.message, "header names sender 'mi5' but the connection is "
                                      "authenticated as 'ctp'");
    /* identity is checked before the verifier's refusal */
    ctx.refused = MACX__REASON__BAD_SIGNATURE;
    ctx.refused_message = "the signature does not verify";
    assert_int_equal (s_judge_ctx (macx_record_header (rec), &ctx), 0);
    assert_int_equal (s_v.reason, MACX__REASON__SENDER_MISMATCH);
    assert_int_equal (s_st.calls[S_SEEN], 0);
    macx_record_destroy (&rec);
}

static void
test_verifier_refusal_passed_through (void **state)
{
    (void) state;
    macx_record_t *rec = s_record (&(s_spec_t) { .from = "mi5", .to = "la-london", .type = "share",
                                                 .phase = S_SHARE, .fields = S_SHARE_F });
    macx_judge_context_t ctx = s_ctx (rec);
    ctx.refused = MACX__REASON__BAD_SIGNATURE;
    ctx.refused_message = "record signature does not verify for sender 'mi5'";
    assert_int_equal (s_judge_ctx (macx_record_header (rec), &ctx), 0);
    assert_int_equal (s_v.reason, MACX__REASON__BAD_SIGNATURE);
    assert_string_equal (s_v.message, "record signature does not verify for sender 'mi5'");
    /* nothing after it is asked */
    for (int k = 0; k < S_NCALLBACKS; k++)
        assert_int_equal (s_st.calls[k], 0);
    /* no header at all: the verifier's reason, else MALFORMED */
    ctx.refused = MACX__REASON__TOO_LARGE;
    ctx.refused_message = "record of 2000000 bytes is over the limit";
    assert_int_equal (s_judge_ctx (NULL, &ctx), 0);
    assert_int_equal (s_v.reason, MACX__REASON__TOO_LARGE);
    assert_string_equal (s_v.message, "record of 2000000 bytes is over the limit");
    ctx.refused = 0;
    ctx.refused_message = NULL;
    ctx.record = NULL;
    assert_int_equal (s_judge_ctx (NULL, &ctx), 0);
    assert_int_equal (s_v.reason, MACX__REASON__MALFORMED);
    assert_string_equal (s_v.message, "not a record");
    macx_record_destroy (&rec);
}

static void
test_sender_revoked (void **state)
{
    (void) state;
    /* ctp's record, verified under the registry it was signed under, then
     * judged under one where ctp was revoked, removed, or given new keys */
    macx_record_t *rec = s_record (&(s_spec_t) { .from = "ctp", .to = "la-london", .type = "share",
                                                 .phase = S_SHARE, .fields = S_SHARE_F });
    macx_judge_context_t ctx = s_ctx (rec);
    assert_int_equal (s_judge_ctx (macx_record_header (rec), &ctx), 0);
    assert_int_equal (s_v.reason, 0);   /* under its own registry */
    static const struct {
        int which;
        const char *message;
    } cases[] = {
        { 0, "sender 'ctp' was revoked since the record was verified" },
        { 1, "sender 'ctp' left the key registry since the record was verified" },
        { 2, "sender 'ctp' has new keys since the record was verified" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ctx.registry = cases[i].which == 0 ? s_fx->reg_revoked
                       : cases[i].which == 1 ? s_fx->reg_removed : s_fx->reg_rekeyed;
        memset (s_st.calls, 0, sizeof s_st.calls);
        assert_int_equal (s_judge_ctx (macx_record_header (rec), &ctx), 0);
        assert_int_equal (s_v.reason, MACX__REASON__SENDER_REVOKED);
        assert_string_equal (s_v.message, cases[i].message);
        assert_int_equal (s_st.calls[S_SEEN], 0);   /* before replay */
    }
    macx_record_destroy (&rec);
}

/* ---- replay, batch order, sequence ------------------------------------------ */

static void
test_replay (void **state)
{
    (void) state;
    macx_record_t *rec = s_record (&(s_spec_t) { .from = "mi5", .to = "la-london", .type = "share",
                                                 .phase = S_SHARE, .fields = S_SHARE_F });
    const Macx__Header *h = macx_record_header (rec);
    memcpy (s_st.t.seen[0].id, h->record_id.data, MACX_RECORD_ID_BYTES);
    s_st.t.seen[0].audit = 42;
    s_st.t.nseen = 1;
    s_assert_refused (rec, MACX__REASON__REPLAY, "record already received (audit entry 42)");
    assert_int_equal (s_v.first_audit, 42);
    assert_int_equal (s_st.calls[S_LAST], 0);
    macx_record_destroy (&rec);
}

static void
test_batch_order (void **state)
{
    (void) state;
    macx_record_t *rec = s_record (&(s_spec_t) { .from = "mi5", .to = "la-london", .type = "share",
                                                 .phase = S_SHARE, .fields = S_SHARE_F });
    s_st.batch_reason = MACX__REASON__BATCH_REORDERED;
    snprintf (s_st.batch_msg, sizeof s_st.batch_msg, "record 3 of batch 9f2c came after record 5");
    s_assert_refused (rec, MACX__REASON__BATCH_REORDERED, "record 3 of batch 9f2c came after record 5");
    assert_string_equal (s_v.message, "record 3 of batch 9f2c came after record 5");
    assert_int_equal (s_st.calls[S_STAMP_CB], 0);
    s_st.batch_reason = MACX__REASON__BATCH_MISMATCH;
    snprintf (s_st.batch_msg, sizeof s_st.batch_msg, "a record of batch 77aa inside batch 9f2c");
    s_assert_refused (rec, MACX__REASON__BATCH_MISMATCH, "a record of batch 77aa inside batch 9f2c");
    /* a store without batch order (NULL) is not asked */
    macx_judge_context_t ctx = s_ctx (rec);
    ctx.store.batch_order = NULL;
    memset (s_st.calls, 0, sizeof s_st.calls);
    assert_int_equal (s_judge_ctx (macx_record_header (rec), &ctx), 0);
    assert_int_equal (s_v.reason, 0);
    assert_int_equal (s_st.calls[S_BATCH], 0);
    macx_record_destroy (&rec);
}

static void
test_sequence_regression (void **state)
{
    (void) state;
    s_last_set ("mi5", 5);
    s_last_set ("ctp", 100);   /* another sender's mark does not count */
    for (uint64_t seq = 3; seq <= 5; seq += 2) {
        macx_record_t *rec = s_record (&(s_spec_t) { .from = "mi5", .to = "la-london",
                                                     .type = "share", .phase = S_SHARE,
                                                     .sequence = seq, .fields = S_SHARE_F });
        char want[128];
        snprintf (want, sizeof want, "sequence %d does not follow 5 already accepted from mi5",
                  (int) seq);
        s_assert_refused (rec, MACX__REASON__SEQUENCE_REGRESSION, want);
        assert_int_equal (s_v.last, 5);
        macx_record_destroy (&rec);
    }
    macx_record_t *rec = s_record (&(s_spec_t) { .from = "mi5", .to = "la-london", .type = "share",
                                                 .phase = S_SHARE, .sequence = 6,
                                                 .fields = S_SHARE_F });
    s_assert_accepted (rec);
    macx_record_destroy (&rec);
}

static void
test_gap_accepted_below_the_mark (void **state)
{
    (void) state;
    s_last_set ("mi5", 5);
    snprintf (s_st.t.gaps[0].sender, sizeof s_st.t.gaps[0].sender, "mi5");
    s_st.t.gaps[0].sequence = 3;
    s_st.t.ngaps = 1;
    /* batch_order would refuse whatever it is asked about: a record resent
     * into its gap is exempt, so it must not be asked */
    s_st.batch_reason = MACX__REASON__BATCH_REORDERED;
    snprintf (s_st.batch_msg, sizeof s_st.batch_msg, "batch order refuses what it is asked");
    macx_record_t *rec = s_record (&(s_spec_t) { .from = "mi5", .to = "la-london", .type = "share",
                                                 .phase = S_SHARE, .sequence = 3,
                                                 .fields = S_SHARE_F });
    s_assert_accepted (rec);
    assert_true (s_v.gap);
    assert_int_equal (s_v.last, 5);
    assert_int_equal (s_st.calls[S_GAP], 1);
    assert_int_equal (s_st.calls[S_BATCH], 0);
    macx_record_destroy (&rec);
    /* the gap is the sender's own: the same sequence from another is not */
    s_last_set ("ctp", 5);
    rec = s_record (&(s_spec_t) { .from = "ctp", .to = "la-london", .type = "share",
                                  .phase = S_SHARE, .sequence = 3, .fields = S_SHARE_F });
    s_assert_refused (rec, MACX__REASON__BATCH_REORDERED, "batch order refuses what it is asked");
    s_st.batch_reason = 0;
    s_assert_refused (rec, MACX__REASON__SEQUENCE_REGRESSION, "sequence 3 does not follow 5");
    assert_false (s_v.gap);
    macx_record_destroy (&rec);
    /* above the mark the gap table is not consulted */
    memset (s_st.calls, 0, sizeof s_st.calls);
    rec = s_record (&(s_spec_t) { .from = "mi5", .to = "la-london", .type = "share",
                                  .phase = S_SHARE, .sequence = 6, .fields = S_SHARE_F });
    s_assert_accepted (rec);
    assert_false (s_v.gap);
    assert_int_equal (s_st.calls[S_GAP], 0);
    assert_int_equal (s_st.calls[S_BATCH], 1);
    macx_record_destroy (&rec);
}

/* ---- the clock ----------------------------------------------------------------- */

static void
test_clock_skew (void **state)
{
    (void) state;
    macx_record_t *rec = s_record (&(s_spec_t) { .from = "mi5", .to = "la-london", .type = "share",
                                                 .phase = S_SHARE, .fields = S_SHARE_F });
    s_st.stamp_ok = false;
    snprintf (s_st.stamp_msg, sizeof s_st.stamp_msg,
              "the header's time 2026-06-01T15:00:00Z is 3 h from the broker's 2026-06-01T12:00:00Z"
              " (allowed 5 min)");
    assert_int_equal (s_judge (rec), MACX__REASON__CLOCK_SKEW);
    /* the clock's sentence, whole */
    assert_string_equal (s_v.message, s_st.stamp_msg);
    assert_int_equal (s_v.stamp, 0);
    assert_int_equal (s_st.calls[S_CASE], 0);
    macx_record_destroy (&rec);
}

static void
test_agreements_judged_by_the_brokers_clock (void **state)
{
    (void) state;
    /* every baseline agreement takes effect on 2026-01-01: a stamp in 2025
     * is before it, whatever the header claims */
    macx_record_t *rec = s_record (&(s_spec_t) { .from = "mi5", .to = "la-london", .type = "share",
                                                 .phase = S_SHARE, .fields = S_SHARE_F });
    s_st.stamp = (int64_t) 20240 * 86400000;   /* 2025-06-01 */
    s_assert_refused (rec, MACX__REASON__AGREEMENT_NOT_IN_FORCE,
                      "to la-london: agreement ISA-NMAC-LA-LONDON does not take effect");
    assert_string_equal (s_v.agreement, "ISA-NMAC-LA-LONDON");
    assert_string_equal (s_v.flow, "S1");
    assert_int_equal (s_v.stamp, (int64_t) 20240 * 86400000);
    macx_record_destroy (&rec);
}

/* ---- recipients ------------------------------------------------------------------ */

static void
test_unknown_and_revoked_recipient (void **state)
{
    (void) state;
    macx_record_t *rec = s_record (&(s_spec_t) { .from = "mi5", .to = "la-london,ctp",
                                                 .type = "share", .phase = S_SHARE,
                                                 .fields = S_SHARE_F });
    macx_judge_context_t ctx = s_ctx (rec);
    ctx.registry = s_fx->reg_removed;
    assert_int_equal (s_judge_ctx (macx_record_header (rec), &ctx), 0);
    assert_int_equal (s_v.reason, MACX__REASON__UNKNOWN_RECIPIENT);
    assert_string_equal (s_v.message, "recipient 'ctp' is not a registered agency");
    assert_int_equal (s_st.calls[S_CASE], 0);   /* before the case context */
    ctx.registry = s_fx->reg_revoked;
    assert_int_equal (s_judge_ctx (macx_record_header (rec), &ctx), 0);
    assert_int_equal (s_v.reason, MACX__REASON__RECIPIENT_REVOKED);
    assert_string_equal (s_v.message, "recipient 'ctp' is revoked");
    macx_record_destroy (&rec);
}

/* ---- the case context -------------------------------------------------------------- */

static void
test_phase_needed_table (void **state)
{
    (void) state;
    assert_int_equal (macx_judge_phase_needed (S_IDENT), 0);
    assert_int_equal (macx_judge_phase_needed (S_SHARE), S_IDENT);
    assert_int_equal (macx_judge_phase_needed (S_ENRICH), S_SHARE);
    assert_int_equal (macx_judge_phase_needed (S_PROFILE), S_SHARE);
    assert_int_equal (macx_judge_phase_needed (S_PANEL), S_PROFILE);
    assert_int_equal (macx_judge_phase_needed (0), 0);
    assert_int_equal (macx_judge_phase_needed (99), 0);
    Macx__CaseState st = MACX__CASE_STATE__INIT;
    st.phases = S_BIT (S_IDENT) | S_BIT (S_PROFILE);
    assert_true (macx_judge_case_reached (&st, S_IDENT));
    assert_false (macx_judge_case_reached (&st, S_SHARE));
    assert_true (macx_judge_case_reached (&st, S_PROFILE));
    assert_false (macx_judge_case_reached (NULL, S_IDENT));
    assert_false (macx_judge_case_reached (&st, 0));
    assert_false (macx_judge_case_reached (&st, 40));
}

static void
test_case_holds (void **state)
{
    (void) state;
    Macx__CaseHolding g = MACX__CASE_HOLDING__INIT, *gs[1] = { &g };
    g.holder = "ctp";
    g.origin = "mi5";
    g.record_type = "case_file";
    Macx__CaseState st = MACX__CASE_STATE__INIT;
    st.holdings = gs;
    st.n_holdings = 1;
    assert_true (macx_judge_case_holds (&st, "ctp", "mi5", "case_file"));
    assert_true (macx_judge_case_holds (&st, "ctp", "mi5", ""));     /* any type */
    assert_true (macx_judge_case_holds (&st, "ctp", "mi5", NULL));
    assert_false (macx_judge_case_holds (&st, "ctp", "mi5", "share"));
    assert_false (macx_judge_case_holds (&st, "la-london", "mi5", "case_file"));
    assert_false (macx_judge_case_holds (&st, "ctp", "ogd-dwp", "case_file"));
    assert_false (macx_judge_case_holds (NULL, "ctp", "mi5", "case_file"));
}

/* The case verdict on its own, as the broker and `policy explain` ask it. */
static void
test_judge_case (void **state)
{
    (void) state;
    char msg[MACX_JUDGE_MSG_MAX];
    Macx__CaseHolding g = MACX__CASE_HOLDING__INIT, *gs[1] = { &g };
    g.holder = "ctp";
    g.origin = "mi5";
    g.record_type = "case_file";
    Macx__CaseState st = MACX__CASE_STATE__INIT;
    st.phases = S_BIT (S_IDENT);
    st.holdings = gs;
    st.n_holdings = 1;
    assert_int_equal (macx_judge_case ("C-1", S_IDENT, "mi5", "", "", NULL, msg, sizeof msg), 0);
    assert_int_equal (macx_judge_case ("C-1", S_SHARE, "mi5", "", "", NULL, msg, sizeof msg),
                      MACX__REASON__CASE_PHASE_NOT_REACHED);
    assert_string_equal (msg, "a sharing record for case 'C-1', which has no accepted record: a "
                              "case opens with identification");
    assert_int_equal (macx_judge_case ("C-1", S_SHARE, "mi5", "", "", &st, msg, sizeof msg), 0);
    assert_int_equal (macx_judge_case ("C-1", S_ENRICH, "ctp", "", "", &st, msg, sizeof msg),
                      MACX__REASON__CASE_PHASE_NOT_REACHED);
    assert_string_equal (msg, "an enrichment record for case 'C-1', which has not reached sharing");
    assert_int_equal (macx_judge_case ("C-1", S_SHARE, "ctp", "mi5", "case_file", &st, msg,
                                       sizeof msg), 0);
    assert_int_equal (macx_judge_case ("C-1", S_SHARE, "ctp", "ctp", "share", &st, msg,
                                       sizeof msg), 0);
    assert_int_equal (macx_judge_case ("C-1", S_SHARE, "la-london", "mi5", "case_file", &st, msg,
                                       sizeof msg), MACX__REASON__ORIGIN_NOT_DELIVERED);
    assert_string_equal (msg, "the record names origin mi5 case_file, but no case_file of mi5's in "
                              "case 'C-1' was delivered to la-london");
    /* an origin without a type: any record of the origin's will do */
    assert_int_equal (macx_judge_case ("C-1", S_SHARE, "ctp", "mi5", NULL, &st, msg, sizeof msg), 0);
    assert_int_equal (macx_judge_case ("C-1", S_SHARE, "la-london", "mi5", "", &st, msg,
                                       sizeof msg), MACX__REASON__ORIGIN_NOT_DELIVERED);
    assert_string_equal (msg, "the record names origin mi5, but no record of mi5's in case 'C-1' "
                              "was delivered to la-london");
}

static void
test_case_phase_not_reached (void **state)
{
    (void) state;
    /* no case: a profile (or a share) for a case with no accepted record */
    macx_record_t *rec = s_record (&(s_spec_t) { .from = "ctp", .to = "mi5", .type = "profile",
                                                 .phase = S_PROFILE, .case_id = "C-none",
                                                 .fields = S_PROFILE_F });
    s_assert_refused (rec, MACX__REASON__CASE_PHASE_NOT_REACHED,
                      "a profiling record for case 'C-none', which has no accepted record: a case "
                      "opens with identification");
    assert_false (s_v.case_known);
    assert_int_equal (s_v.case_reached, 0);
    assert_int_equal (s_v.case_needed, S_SHARE);
    assert_null (s_v.agreement);
    assert_int_equal (s_v.nrecipients, 0);   /* the policy was not asked */
    macx_record_destroy (&rec);
    rec = s_record (&(s_spec_t) { .from = "mi5", .to = "la-london", .type = "share",
                                  .phase = S_SHARE, .case_id = "C-none", .fields = S_SHARE_F });
    s_assert_refused (rec, MACX__REASON__CASE_PHASE_NOT_REACHED, "a sharing record for case 'C-none'");
    assert_int_equal (s_v.case_needed, S_IDENT);
    macx_record_destroy (&rec);
    rec = s_record (&(s_spec_t) { .from = "la-london", .to = "ctp", .type = "enrichment",
                                  .phase = S_ENRICH, .case_id = "C-none",
                                  .fields = "subject_name=A.Q.;notes=none" });
    s_assert_refused (rec, MACX__REASON__CASE_PHASE_NOT_REACHED,
                      "an enrichment record for case 'C-none', which has no accepted record");
    macx_record_destroy (&rec);
    /* C-1 reached identification only: a profile needs sharing */
    rec = s_record (&(s_spec_t) { .from = "ctp", .to = "mi5", .type = "profile",
                                  .phase = S_PROFILE, .fields = S_PROFILE_F });
    s_assert_refused (rec, MACX__REASON__CASE_PHASE_NOT_REACHED,
                      "a profiling record for case 'C-1', which has not reached sharing");
    assert_true (s_v.case_known);
    assert_int_equal (s_v.case_reached, S_BIT (S_IDENT));
    assert_int_equal (s_v.case_needed, S_SHARE);
    /* once it reached sharing the profile is judged by the policy, without
     * enrichment (an abbreviated workflow folds the answers into sharing) */
    s_st.t.cases[0].phases |= S_BIT (S_SHARE);
    s_assert_accepted (rec);
    assert_int_equal (s_v.case_reached, S_BIT (S_IDENT) | S_BIT (S_SHARE));
    assert_string_equal (s_v.flows, "F4");
    macx_record_destroy (&rec);
}

static void
test_panel_needs_profiling (void **state)
{
    (void) state;
    s_st.t.cases[0].phases = S_BIT (S_IDENT) | S_BIT (S_SHARE) | S_BIT (S_ENRICH);
    macx_record_t *rec = s_record (&(s_spec_t) { .from = "ctp", .to = "la-london",
                                                 .type = "panel_plan", .phase = S_PANEL,
                                                 .fields = S_PANEL_F });
    s_assert_refused (rec, MACX__REASON__CASE_PHASE_NOT_REACHED,
                      "a panel record for case 'C-1', which has not reached profiling");
    assert_int_equal (s_v.case_needed, S_PROFILE);
    assert_int_equal (s_v.case_reached, S_BIT (S_IDENT) | S_BIT (S_SHARE) | S_BIT (S_ENRICH));
    s_st.t.cases[0].phases |= S_BIT (S_PROFILE);
    s_assert_accepted (rec);
    assert_string_equal (s_v.agreements, "ISA-NMAC-LA-LONDON");
    assert_string_equal (s_v.flows, "N1");
    macx_record_destroy (&rec);
}

static void
test_case_phase_is_the_brokers (void **state)
{
    (void) state;
    /* the header claims the case is in panel: the policy would refuse a
     * share with CASE_PHASE_MISMATCH if the claim were used */
    macx_record_t *rec = s_record (&(s_spec_t) { .from = "mi5", .to = "la-london", .type = "share",
                                                 .phase = S_SHARE, .case_phase = S_PANEL,
                                                 .fields = S_SHARE_F });
    s_assert_accepted (rec);
    macx_record_destroy (&rec);
}

static void
test_origin_not_delivered (void **state)
{
    (void) state;
    s_case_t *c2 = s_case_add ("C-2", S_BIT (S_IDENT));   /* reached, nothing of mi5's held */
    s_holding_add (c2, "mi5", "ctp", "triage_decision");
    macx_record_t *rec = s_record (&(s_spec_t) { .from = "ctp", .to = "la-london", .type = "share",
                                                 .phase = S_SHARE, .case_id = "C-2",
                                                 .fields = S_SHARE_F, .origin = "mi5",
                                                 .origin_type = "case_file" });
    s_assert_refused (rec, MACX__REASON__ORIGIN_NOT_DELIVERED,
                      "the record names origin mi5 case_file, but no case_file of mi5's in case "
                      "'C-2' was delivered to ctp");
    assert_true (s_v.case_known);
    assert_int_equal (s_v.nrecipients, 0);
    /* held by another, or another type of mi5's: still not delivered to ctp */
    s_holding_add (c2, "la-london", "mi5", "case_file");
    s_holding_add (c2, "ctp", "mi5", "share");
    s_assert_refused (rec, MACX__REASON__ORIGIN_NOT_DELIVERED, "was delivered to ctp");
    /* once ctp holds mi5's case file, the policy's onward rules judge: F1
     * names ISA-NMAC-LA-LONDON */
    s_holding_add (c2, "ctp", "mi5", "case_file");
    s_assert_accepted (rec);
    assert_string_equal (s_v.agreements, "ISA-NMAC-LA-LONDON");
    macx_record_destroy (&rec);
    /* a case that has not reached what the phase needs is refused for that
     * first, origin held or not */
    rec = s_record (&(s_spec_t) { .from = "ctp", .to = "la-london", .type = "share",
                                  .phase = S_SHARE, .case_id = "C-none", .fields = S_SHARE_F,
                                  .origin = "mi5", .origin_type = "case_file" });
    s_assert_refused (rec, MACX__REASON__CASE_PHASE_NOT_REACHED, "which has no accepted record");
    macx_record_destroy (&rec);
}

static void
test_onward_judged_by_policy (void **state)
{
    (void) state;
    /* C-1: ctp holds mi5's case file. Passing it on to mi5 under
     * ISA-MI5-CTP, which F1's onward list does not name, is the policy's
     * refusal */
    s_st.t.cases[0].phases |= S_BIT (S_SHARE);
    macx_record_t *rec = s_record (&(s_spec_t) { .from = "ctp", .to = "mi5", .type = "share",
                                                 .phase = S_SHARE, .fields = S_SHARE_F,
                                                 .origin = "mi5", .origin_type = "case_file" });
    s_assert_refused (rec, MACX__REASON__ONWARD_SHARING_PROHIBITED,
                      "to mi5: ISA-MI5-CTP/F1 allows onward sharing only under named agreements, "
                      "not ISA-MI5-CTP");
    assert_string_equal (s_v.agreement, "ISA-MI5-CTP");
    assert_string_equal (s_v.flow, "F2");
    macx_record_destroy (&rec);
}

static void
test_origin_sender_is_not_onward (void **state)
{
    (void) state;
    /* a record naming its own sender as origin passes on nothing: no
     * holding is needed (ctp holds nothing of its own in C-1) */
    macx_record_t *rec = s_record (&(s_spec_t) { .from = "ctp", .to = "la-london", .type = "share",
                                                 .phase = S_SHARE, .fields = S_SHARE_F,
                                                 .origin = "ctp", .origin_type = "case_file" });
    s_assert_accepted (rec);
    macx_record_destroy (&rec);
    /* and an identification record naming itself is not even asked about */
    memset (s_st.calls, 0, sizeof s_st.calls);
    rec = s_record (&(s_spec_t) { .from = "mi5", .to = "ctp", .type = "case_file",
                                  .phase = S_IDENT, .case_id = "C-new", .fields = S_CASE_FILE,
                                  .origin = "mi5", .origin_type = "case_file" });
    s_assert_accepted (rec);
    assert_int_equal (s_st.calls[S_CASE], 0);
    macx_record_destroy (&rec);
}

/* ---- the agreements ------------------------------------------------------------------ */

static void
test_policy_reasons (void **state)
{
    (void) state;
    static const struct {
        const char *from, *to, *fields;
        int reason;
        const char *agreement, *flow, *message;
    } cases[] = {
        { "la-london", "ogd-dwp", S_SHARE_F, MACX__REASON__NO_AGREEMENT, NULL, NULL,
          "to ogd-dwp: no agreement has both la-london and ogd-dwp as parties" },
        { "mi5", "la-london", S_SHARE_F ";police_records=PNC-0042", MACX__REASON__FIELD_FORBIDDEN,
          "ISA-NMAC-LA-LONDON", "S1", "once field police_records is dropped (forbidden)" },
        { "mi5", "la-london", S_SHARE_F ";kis_ref=KIS-1", MACX__REASON__FIELD_FORBIDDEN,
          "ISA-NMAC-LA-LONDON", "S1", "once field kis_ref is dropped (forbidden)" },
        { "mi5", "ogd-dwp", S_SHARE_F ";risk_indicators=isolation", MACX__REASON__FIELD_NOT_ALLOWED,
          "ISA-OGD-DWP", "S1", "once field risk_indicators is dropped (not allowed)" },
        { "mi5", "ogd-dwp", S_SHARE_F ";dob=1990-04-12", MACX__REASON__TRANSFORM_REQUIRED,
          "ISA-OGD-DWP", "S1", "once field dob is transformed" },
        { "mi5", "la-london", "region=London", MACX__REASON__REQUIRED_FIELD_MISSING,
          "ISA-NMAC-LA-LONDON", "S1", "flow ISA-NMAC-LA-LONDON/S1 requires field subject_name" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        macx_record_t *rec = s_record (&(s_spec_t) { .from = cases[i].from, .to = cases[i].to,
                                                     .type = "share", .phase = S_SHARE,
                                                     .fields = cases[i].fields });
        s_assert_refused (rec, cases[i].reason, cases[i].message);
        if (cases[i].agreement) {
            assert_non_null (s_v.agreement);
            assert_string_equal (s_v.agreement, cases[i].agreement);
            assert_string_equal (s_v.flow, cases[i].flow);
        }
        else {
            assert_null (s_v.agreement);
            assert_null (s_v.flow);
        }
        macx_record_destroy (&rec);
    }
}

static void
test_rate_limited (void **state)
{
    (void) state;
    macx_record_t *rec = s_record (&(s_spec_t) { .from = "mi5", .to = "la-london", .type = "share",
                                                 .phase = S_SHARE, .fields = S_SHARE_F });
    /* another sender's, another day's and another flow's counters at the cap
     * do not count */
    s_counter_set ("f/ISA-NMAC-LA-LONDON/S1/ctp/20605", 200);
    s_counter_set ("f/ISA-NMAC-LA-LONDON/S1/mi5/20604", 200);
    s_counter_set ("f/ISA-OGD-DWP/S1/mi5/20605", 200);
    s_counter_set ("f/ISA-NMAC-LA-LONDON/S1/mi5/20605", 199);
    s_assert_accepted (rec);
    assert_string_equal (s_v.cap_key[0], "f/ISA-NMAC-LA-LONDON/S1/mi5/20605");
    assert_int_equal (s_v.cap_count[0], 199);
    assert_int_equal (s_st.ncounted, 1);
    assert_string_equal (s_st.counted[0], "f/ISA-NMAC-LA-LONDON/S1/mi5/20605");
    s_st.t.counters[3].count = 200;   /* S1 allows 200 a day */
    s_assert_refused (rec, MACX__REASON__RATE_LIMITED,
                      "to la-london: flow ISA-NMAC-LA-LONDON/S1 allows at most 200 records a day");
    assert_string_equal (s_v.agreement, "ISA-NMAC-LA-LONDON");
    assert_string_equal (s_v.flow, "S1");
    macx_record_destroy (&rec);
}

static void
test_multi_recipient (void **state)
{
    (void) state;
    macx_record_t *rec = s_record (&(s_spec_t) { .from = "mi5", .to = "la-london,ctp,ogd-dwp",
                                                 .type = "share", .phase = S_SHARE,
                                                 .fields = S_SHARE_F });
    s_assert_accepted (rec);
    assert_int_equal (s_v.nrecipients, 3);
    assert_string_equal (s_v.agreements, "ISA-NMAC-LA-LONDON,ISA-MI5-CTP,ISA-OGD-DWP");
    assert_string_equal (s_v.flows, "S1,F2,S1");
    assert_string_equal (s_v.cap_key[0], "f/ISA-NMAC-LA-LONDON/S1/mi5/20605");
    assert_string_equal (s_v.cap_key[1], "");
    assert_string_equal (s_v.cap_key[2], "f/ISA-OGD-DWP/S1/mi5/20605");
    assert_int_equal (s_v.results[1].retention_days, 2190);
    macx_record_destroy (&rec);
    /* one recipient refusing refuses the record: police records may go to
     * CTP, never to a local authority */
    rec = s_record (&(s_spec_t) { .from = "mi5", .to = "ctp,la-london", .type = "share",
                                  .phase = S_SHARE, .fields = S_SHARE_F ";police_records=PNC-0042" });
    s_assert_refused (rec, MACX__REASON__FIELD_FORBIDDEN, "to la-london: ");
    assert_string_equal (s_v.agreement, "ISA-NMAC-LA-LONDON");
    assert_string_equal (s_v.flow, "S1");
    assert_int_equal (s_v.results[0].decision, MACX_DECISION_PERMIT);
    macx_record_destroy (&rec);
}

/* ---- the store failing, the order of the checks, nothing written ------------------ */

static void
test_store_failure (void **state)
{
    (void) state;
    /* a record that asks every callback but batch order (it fills a gap,
     * below the mark), and one that asks every callback but gap */
    macx_record_t *gap = s_record (&(s_spec_t) { .from = "mi5", .to = "la-london", .type = "share",
                                                 .phase = S_SHARE, .sequence = 3,
                                                 .fields = S_SHARE_F });
    macx_record_t *next = s_record (&(s_spec_t) { .from = "mi5", .to = "la-london",
                                                  .type = "share", .phase = S_SHARE,
                                                  .sequence = 9, .fields = S_SHARE_F });
    s_last_set ("mi5", 5);
    snprintf (s_st.t.gaps[0].sender, sizeof s_st.t.gaps[0].sender, "mi5");
    s_st.t.gaps[0].sequence = 3;
    s_st.t.ngaps = 1;
    assert_int_equal (s_judge (gap), 0);
    assert_int_equal (s_judge (next), 0);
    for (int k = 0; k < S_NCALLBACKS; k++) {
        macx_record_t *rec = k == S_GAP ? gap : next;
        s_st.fail = k;
        memset (s_st.calls, 0, sizeof s_st.calls);
        macx_judge_context_t ctx = s_ctx (rec);
        int rc = s_judge_ctx (macx_record_header (rec), &ctx);
        if (rc != -1)
            fail_msg ("%s failing: macx_judge returned %d (reason %s), want -1",
                      s_callback_names[k], rc, macx_reason_name (s_v.reason));
        assert_int_equal (s_st.calls[k], 1);
    }
    macx_record_destroy (&gap);
    macx_record_destroy (&next);
}

static void
test_check_order (void **state)
{
    (void) state;
    /* replayed, with a recipient no longer registered, from a sender whose
     * sequence went back, for a case never opened: REPLAY */
    macx_record_t *rec = s_record (&(s_spec_t) { .from = "mi5", .to = "ctp", .type = "share",
                                                 .phase = S_SHARE, .case_id = "C-none",
                                                 .sequence = 2, .fields = S_SHARE_F });
    const Macx__Header *h = macx_record_header (rec);
    memcpy (s_st.t.seen[0].id, h->record_id.data, MACX_RECORD_ID_BYTES);
    s_st.t.seen[0].audit = 7;
    s_st.t.nseen = 1;
    s_last_set ("mi5", 10);
    macx_judge_context_t ctx = s_ctx (rec);
    ctx.registry = s_fx->reg_removed;
    assert_int_equal (s_judge_ctx (h, &ctx), 0);
    assert_int_equal (s_v.reason, MACX__REASON__REPLAY);
    /* not replayed: the sequence */
    s_st.t.nseen = 0;
    assert_int_equal (s_judge_ctx (h, &ctx), 0);
    assert_int_equal (s_v.reason, MACX__REASON__SEQUENCE_REGRESSION);
    /* in order: the clock before the recipients */
    s_st.t.last[0].last = 1;
    s_st.stamp_ok = false;
    snprintf (s_st.stamp_msg, sizeof s_st.stamp_msg, "skewed");
    assert_int_equal (s_judge_ctx (h, &ctx), 0);
    assert_int_equal (s_v.reason, MACX__REASON__CLOCK_SKEW);
    /* the clock agreeing: the recipients before the case */
    s_st.stamp_ok = true;
    assert_int_equal (s_judge_ctx (h, &ctx), 0);
    assert_int_equal (s_v.reason, MACX__REASON__UNKNOWN_RECIPIENT);
    /* every recipient registered: the case before the policy */
    ctx.registry = s_fx->reg;
    assert_int_equal (s_judge_ctx (h, &ctx), 0);
    assert_int_equal (s_v.reason, MACX__REASON__CASE_PHASE_NOT_REACHED);
    macx_record_destroy (&rec);
    /* a case never opened, to an agency no agreement covers: the case */
    rec = s_record (&(s_spec_t) { .from = "la-london", .to = "ogd-dwp", .type = "share",
                                  .phase = S_SHARE, .case_id = "C-none", .fields = S_SHARE_F });
    s_assert_refused (rec, MACX__REASON__CASE_PHASE_NOT_REACHED, "C-none");
    macx_record_destroy (&rec);
}

static void
test_judge_writes_nothing (void **state)
{
    (void) state;
    /* a full store, judged for an acceptance, a refusal at each stage and
     * an onward share: every judgement leaves the tables byte for byte as
     * they were (s_judge_ctx checks) and gives back every case state */
    s_last_set ("mi5", 2);
    s_counter_set ("f/ISA-NMAC-LA-LONDON/S1/mi5/20605", 10);
    s_case_t *c = s_case_add ("C-2", S_BIT (S_IDENT) | S_BIT (S_SHARE));
    s_holding_add (c, "ctp", "mi5", "case_file");
    static s_tables_t before;
    memcpy (&before, &s_st.t, sizeof before);
    macx_record_t *rec = s_record (&(s_spec_t) { .from = "mi5", .to = "la-london,ctp",
                                                 .type = "share", .phase = S_SHARE,
                                                 .sequence = 3, .fields = S_SHARE_F });
    for (int i = 0; i < 3; i++) {   /* the same answer each time: nothing moved */
        s_assert_accepted (rec);
        assert_int_equal (s_v.cap_count[0], 10);
        assert_int_equal (s_v.last, 2);
    }
    macx_record_destroy (&rec);
    rec = s_record (&(s_spec_t) { .from = "ctp", .to = "la-london", .type = "share",
                                  .phase = S_SHARE, .case_id = "C-2", .fields = S_SHARE_F,
                                  .origin = "mi5", .origin_type = "case_file" });
    s_assert_accepted (rec);
    s_assert_accepted (rec);
    macx_record_destroy (&rec);
    rec = s_record (&(s_spec_t) { .from = "ctp", .to = "mi5", .type = "panel_plan",
                                  .phase = S_PANEL, .case_id = "C-2", .fields = S_PANEL_F });
    s_assert_refused (rec, MACX__REASON__CASE_PHASE_NOT_REACHED, "has not reached profiling");
    s_assert_refused (rec, MACX__REASON__CASE_PHASE_NOT_REACHED, "has not reached profiling");
    macx_record_destroy (&rec);
    assert_memory_equal (&before, &s_st.t, sizeof before);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup (test_accept_fills_the_verdict, s_setup),
        cmocka_unit_test_setup (test_identification_needs_no_case, s_setup),
        cmocka_unit_test_setup (test_sender_mismatch, s_setup),
        cmocka_unit_test_setup (test_verifier_refusal_passed_through, s_setup),
        cmocka_unit_test_setup (test_sender_revoked, s_setup),
        cmocka_unit_test_setup (test_replay, s_setup),
        cmocka_unit_test_setup (test_batch_order, s_setup),
        cmocka_unit_test_setup (test_sequence_regression, s_setup),
        cmocka_unit_test_setup (test_gap_accepted_below_the_mark, s_setup),
        cmocka_unit_test_setup (test_clock_skew, s_setup),
        cmocka_unit_test_setup (test_agreements_judged_by_the_brokers_clock, s_setup),
        cmocka_unit_test_setup (test_unknown_and_revoked_recipient, s_setup),
        cmocka_unit_test_setup (test_phase_needed_table, s_setup),
        cmocka_unit_test_setup (test_case_holds, s_setup),
        cmocka_unit_test_setup (test_judge_case, s_setup),
        cmocka_unit_test_setup (test_case_phase_not_reached, s_setup),
        cmocka_unit_test_setup (test_panel_needs_profiling, s_setup),
        cmocka_unit_test_setup (test_case_phase_is_the_brokers, s_setup),
        cmocka_unit_test_setup (test_origin_not_delivered, s_setup),
        cmocka_unit_test_setup (test_onward_judged_by_policy, s_setup),
        cmocka_unit_test_setup (test_origin_sender_is_not_onward, s_setup),
        cmocka_unit_test_setup (test_policy_reasons, s_setup),
        cmocka_unit_test_setup (test_rate_limited, s_setup),
        cmocka_unit_test_setup (test_multi_recipient, s_setup),
        cmocka_unit_test_setup (test_store_failure, s_setup),
        cmocka_unit_test_setup (test_check_order, s_setup),
        cmocka_unit_test_setup (test_judge_writes_nothing, s_setup),
    };
    return cmocka_run_group_tests_name ("judge", tests, s_group_setup, s_group_teardown);
}
