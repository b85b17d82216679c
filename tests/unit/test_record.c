/* test_record.c -- sealed records: round trips for every record type, every
 * single-bit flip and every truncation refused, the failure codes and their
 * messages (wrong recipient, revoked or unknown sender, forged signature,
 * limits, manifest mismatches), transforms and the payload builder; batch
 * signatures (each record of a batch on its own, its tree and paths against
 * RFC 9162 written out here, the root cache, forged paths and proofs); the
 * retention receipt's digest (what it covers, whose key verifies it). The
 * fixture is one key directory with five agencies, made once per run.
 * Envelopes the sealer would refuse to make are forged here by hand with the
 * public keys/ calls and a copy of the documented digest layouts. */
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
#include <time.h>

#include "clock.h"
#include "keys.h"
#include "record.h"
#include "test_kind.h"

#define S_NAGENCIES 5
static const char *const s_ids[S_NAGENCIES] = { "mi5", "ctp", "la-london", "ogd-dwp", "ogd-health" };

typedef struct {
    char *dir;
    macx_registry_t *reg;
    macx_identity_t *me[S_NAGENCIES];
} s_fixture_t;

static s_fixture_t *s_fx;

/* ---- helpers ------------------------------------------------------------ */

static char *
s_tmpdir (void)
{
    char tmpl[] = "/tmp/macx-test-record-XXXXXX";
    char *dir = mkdtemp (tmpl);
    assert_non_null (dir);
    return strdup (dir);
}

static void
s_rmrf (char **dir_p)
{
    DIR *d = opendir (*dir_p);
    if (d) {
        struct dirent *e;
        while ((e = readdir (d))) {
            if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
                continue;
            char path[4096];
            snprintf (path, sizeof path, "%s/%s", *dir_p, e->d_name);
            unlink (path);
        }
        closedir (d);
    }
    rmdir (*dir_p);
    free (*dir_p);
    *dir_p = NULL;
}

static macx_identity_t *
s_me (const char *id)
{
    for (int i = 0; i < S_NAGENCIES; i++)
        if (strcmp (s_ids[i], id) == 0)
            return s_fx->me[i];
    fail_msg ("no identity %s", id);
    return NULL;
}

static int
s_group_setup (void **state)
{
    (void) state;
    if (sodium_init () < 0)
        return -1;
    s_fx = calloc (1, sizeof *s_fx);
    char tmpl[] = "/tmp/macx-test-record-XXXXXX";
    if (!mkdtemp (tmpl))
        return -1;
    s_fx->dir = strdup (tmpl);
    for (int i = 0; i < S_NAGENCIES; i++)
        if (macx_keys_generate (s_fx->dir, s_ids[i], test_kind (s_ids[i]), NULL) != 0)
            return -1;
    s_fx->reg = macx_registry_load (s_fx->dir, NULL);
    if (!s_fx->reg)
        return -1;
    for (int i = 0; i < S_NAGENCIES; i++)
        if (!(s_fx->me[i] = macx_identity_load (s_fx->dir, s_ids[i], NULL)))
            return -1;
    return 0;
}

static int
s_group_teardown (void **state)
{
    (void) state;
    for (int i = 0; i < S_NAGENCIES; i++)
        macx_identity_destroy (&s_fx->me[i]);
    macx_registry_destroy (&s_fx->reg);
    s_rmrf (&s_fx->dir);
    free (s_fx);
    return 0;
}

/* A header and the storage it points into. Not movable once made. */
typedef struct {
    Macx__Header h;
    uint8_t id[MACX_RECORD_ID_BYTES];
    char rbuf[2048];
    char *recipients[64];
    char mbuf[4096];
    Macx__FieldEntry entries[80];
    Macx__FieldEntry *manifest[80];
} s_hdr_t;

/* Fills x: recipients from a comma list, manifest from "name[:transform]"
 * comma list. Sender and version are left for seal (or set by hand). */
static void
s_hdr (s_hdr_t *x, const char *type, int phase, const char *to, const char *fields)
{
    memset (x, 0, sizeof *x);
    macx__header__init (&x->h);
    macx_record_new_id (x->id);
    x->h.record_id = (ProtobufCBinaryData) { sizeof x->id, x->id };
    snprintf (x->rbuf, sizeof x->rbuf, "%s", to);
    for (char *save = NULL, *r = strtok_r (x->rbuf, ",", &save); r; r = strtok_r (NULL, ",", &save))
        x->recipients[x->h.n_recipients++] = r;
    x->h.recipients = x->recipients;
    x->h.sequence = 1;
    x->h.subject = "subj-7f3a9c";
    x->h.case_id = "case-0001";
    x->h.phase = phase;
    x->h.case_phase = phase;
    x->h.record_type = (char *) type;
    x->h.purpose = "mac_case_management";
    x->h.legal_basis = "isa-2024-01 s.3";
    snprintf (x->mbuf, sizeof x->mbuf, "%s", fields);
    size_t n = 0;
    for (char *save = NULL, *f = strtok_r (x->mbuf, ",", &save); f; f = strtok_r (NULL, ",", &save)) {
        macx__field_entry__init (&x->entries[n]);
        char *colon = strchr (f, ':');
        if (colon)
            *colon = '\0';
        x->entries[n].name = f;
        x->entries[n].transform = colon ? colon + 1 : "";
        x->manifest[n] = &x->entries[n];
        n++;
    }
    x->h.manifest = x->manifest;
    x->h.n_manifest = n;
}

/* A generic payload of one field, "text" = value, and its storage. */
typedef struct {
    Macx__Field f, *fs[1];
    Macx__Generic g;
    Macx__Payload p;
} s_text_t;

static Macx__Payload *
s_text (s_text_t *t, const char *value)
{
    macx__field__init (&t->f);
    t->f.name = "text";
    t->f.value = (char *) value;
    t->fs[0] = &t->f;
    macx__generic__init (&t->g);
    t->g.n_fields = 1;
    t->g.fields = t->fs;
    macx__payload__init (&t->p);
    t->p.body_case = MACX__PAYLOAD__BODY_GENERIC;
    t->p.generic = &t->g;
    return &t->p;
}

/* ---- payloads built by hand, one per record type ------------------------ */

static char *s_risks[] = { "travel_to_conflict_zone", "online_extremist_material" };
static char *s_police[] = { "PNC-2019-0042: public order" };
static char *s_prior[] = { "prevent_referral_2021" };
static char *s_indicators[] = { "isolation", "grievance", "online_material" };
static char *s_contributors[] = { "mi5", "ctp", "la-london" };
static char *s_members[] = { "la-london", "ctp", "ogd-health" };

typedef struct {
    const char *type;
    int phase;
    const char *manifest;
} s_kind_t;

static const s_kind_t s_kinds[] = {
    { "case_file", 1, "subject_name,dob:year_only,postcode:postcode_district,region,"
                      "closure_category,risk_indicators,kis_summary,kis_ref,closed_on" },
    { "share", 2, "subject_name:initials,dob:year_only,region:region_only,closure_category,"
                  "risk_indicators,summary,police_records,prior_interventions,request" },
    { "enrichment", 3, "subject_name,dob,holdings,interventions,notes" },
    { "profile", 4, "level,baseline_score,indicators,assessment,draft_plan,contributors" },
    { "panel_plan", 5, "chair,level,disposals,back_to_investigation,members,decided_on" },
    { "referral_note", 2, "reason,contact:redacted,due" },
};
#define S_NKINDS (sizeof s_kinds / sizeof s_kinds[0])

/* Fills p (and static storage it points to) for record type kind. */
static void
s_payload (const char *type, Macx__Payload *p)
{
    static Macx__CaseFile cf;
    static Macx__Share sh;
    static Macx__Enrichment en;
    static Macx__Holding hold[2], *holds[2];
    static Macx__Intervention iv[1], *ivs[1];
    static Macx__Profile pr;
    static Macx__PlanAction act[2], *acts[2];
    static Macx__PanelPlan pp;
    static Macx__Disposal dis[2], *diss[2];
    static Macx__Generic ge;
    static Macx__Field gf[3], *gfs[3];
    macx__payload__init (p);
    if (strcmp (type, "case_file") == 0) {
        macx__case_file__init (&cf);
        cf.subject_name = "Alex Example";
        cf.dob = "1990";
        cf.postcode = "LS11";
        cf.region = "West Yorkshire";
        cf.closure_category = "closed_no_further_action";
        cf.n_risk_indicators = 2;
        cf.risk_indicators = s_risks;
        cf.kis_summary = "synthetic summary";
        cf.kis_ref = "KIS-0001";
        cf.closed_on = "2023-11-02";
        p->body_case = MACX__PAYLOAD__BODY_CASE_FILE;
        p->case_file = &cf;
    }
    else if (strcmp (type, "share") == 0) {
        macx__share__init (&sh);
        sh.subject_name = "A.E.";
        sh.dob = "1990";
        sh.region = "West Yorkshire";
        sh.closure_category = "closed_no_further_action";
        sh.n_risk_indicators = 2;
        sh.risk_indicators = s_risks;
        sh.summary = "synthetic share";
        sh.n_police_records = 1;
        sh.police_records = s_police;
        sh.n_prior_interventions = 1;
        sh.prior_interventions = s_prior;
        sh.request = "housing and health contact in the last 12 months";
        p->body_case = MACX__PAYLOAD__BODY_SHARE;
        p->share = &sh;
    }
    else if (strcmp (type, "enrichment") == 0) {
        macx__enrichment__init (&en);
        for (int i = 0; i < 2; i++) {
            macx__holding__init (&hold[i]);
            holds[i] = &hold[i];
        }
        hold[0].source = "housing";
        hold[0].match = "exact";
        hold[0].detail = "tenancy since 2020";
        hold[1].source = "social_care";
        hold[1].match = "none";
        macx__intervention__init (&iv[0]);
        iv[0].kind = "mental_health_support";
        iv[0].provider = "ogd-health";
        iv[0].rationale = "GP referral pending";
        ivs[0] = &iv[0];
        en.subject_name = "Alex Example";
        en.dob = "1990-04-12";
        en.n_holdings = 2;
        en.holdings = holds;
        en.n_interventions = 1;
        en.interventions = ivs;
        en.notes = "synthetic";
        p->body_case = MACX__PAYLOAD__BODY_ENRICHMENT;
        p->enrichment = &en;
    }
    else if (strcmp (type, "profile") == 0) {
        macx__profile__init (&pr);
        for (int i = 0; i < 2; i++) {
            macx__plan_action__init (&act[i]);
            acts[i] = &act[i];
        }
        act[0].owner = "la-london";
        act[0].action = "assign a mentor";
        act[0].due_days = 14;
        act[1].owner = "ogd-health";
        act[1].action = "mental health assessment";
        act[1].due_days = -3;   /* negative varints encode as 10 bytes */
        pr.level = 2;
        pr.baseline_score = 37;
        pr.n_indicators = 3;
        pr.indicators = s_indicators;
        pr.assessment = "moderate";
        pr.n_draft_plan = 2;
        pr.draft_plan = acts;
        pr.n_contributors = 3;
        pr.contributors = s_contributors;
        p->body_case = MACX__PAYLOAD__BODY_PROFILE;
        p->profile = &pr;
    }
    else if (strcmp (type, "panel_plan") == 0) {
        macx__panel_plan__init (&pp);
        for (int i = 0; i < 2; i++) {
            macx__disposal__init (&dis[i]);
            diss[i] = &dis[i];
        }
        dis[0].kind = "safeguarding_referral";
        dis[0].owner = "la-london";
        dis[1].kind = "channel_support";
        dis[1].owner = "la-london";
        dis[1].note = "review in 3 months";
        pp.chair = "la-london";
        pp.level = 3;
        pp.n_disposals = 2;
        pp.disposals = diss;
        pp.back_to_investigation = 1;
        pp.n_members = 3;
        pp.members = s_members;
        pp.decided_on = "2024-05-01";
        p->body_case = MACX__PAYLOAD__BODY_PANEL_PLAN;
        p->panel_plan = &pp;
    }
    else {
        macx__generic__init (&ge);
        static const char *const kv[3][2] = {
            { "reason", "school attendance concern" }, { "contact", "[redacted]" }, { "due", "7" }
        };
        for (int i = 0; i < 3; i++) {
            macx__field__init (&gf[i]);
            gf[i].name = (char *) kv[i][0];
            gf[i].value = (char *) kv[i][1];
            gfs[i] = &gf[i];
        }
        ge.n_fields = 3;
        ge.fields = gfs;
        p->body_case = MACX__PAYLOAD__BODY_GENERIC;
        p->generic = &ge;
    }
}

static uint8_t *
s_pack_payload (const Macx__Payload *p, size_t *len)
{
    *len = macx__payload__get_packed_size (p);
    uint8_t *buf = malloc (*len ? *len : 1);
    assert_non_null (buf);
    macx__payload__pack (p, buf);
    return buf;
}

static uint8_t *
s_seal (const char *sender, s_hdr_t *x, const Macx__Payload *p, size_t *len)
{
    uint8_t *out = NULL;
    macx_error_t err = { 0 };
    int rc = macx_record_seal (s_me (sender), s_fx->reg, &x->h, p, &out, len, &err);
    if (rc)
        fail_msg ("seal failed: %d %s", rc, err.msg);
    assert_non_null (out);
    return out;
}

/* A small generic record from mi5 to `to`. */
static uint8_t *
s_small (const char *to, size_t *len)
{
    s_hdr_t *x = malloc (sizeof *x);
    s_hdr (x, "note", 2, to, "text");
    s_text_t t;
    Macx__Payload p = *s_text (&t, "hello");
    uint8_t *out = s_seal ("mi5", x, &p, len);
    free (x);
    return out;
}

static void
s_expect (int rc, const macx_error_t *err, int code, const char *substring)
{
    if (rc != code || err->code != code || !strstr (err->msg, substring))
        fail_msg ("want %s with '%s', got %s (%d) '%s'", macx_errname (code), substring,
                  macx_errname (rc), rc, err->msg);
}

/* Opens buf as `as`, expecting code and substring; the record stays NULL. */
static void
s_expect_open (const char *as, const uint8_t *buf, size_t len, int code, const char *substring)
{
    macx_record_t *rec = (macx_record_t *) 1;
    macx_error_t err = { 0 };
    int rc = macx_record_open (s_me (as), s_fx->reg, buf, len, &rec, &err);
    s_expect (rc, &err, code, substring);
    assert_null (rec);
}

static void
s_expect_verify (const macx_registry_t *reg, const uint8_t *buf, size_t len, int code,
                 const char *substring)
{
    macx_record_t *rec = (macx_record_t *) 1;
    macx_error_t err = { 0 };
    int rc = macx_record_verify (reg, buf, len, &rec, &err);
    s_expect (rc, &err, code, substring);
    assert_null (rec);
}

/* ---- forging envelopes by hand ------------------------------------------ */

/* The signed digest, as record.h documents it (a copy of record.c's layout:
 * if this drifts, test_forge_control fails first). */
static void
s_hash_u64 (crypto_generichash_state *st, uint64_t n)
{
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t) (n >> (8 * i));
    crypto_generichash_update (st, le, sizeof le);
}

static void
s_hash_len (crypto_generichash_state *st, const void *data, size_t len)
{
    s_hash_u64 (st, len);
    if (len)
        crypto_generichash_update (st, data, len);
}

static void
s_digest (const Macx__Envelope *env, uint8_t out[64])
{
    crypto_generichash_state st;
    crypto_generichash_init (&st, NULL, 0, 64);
    s_hash_len (&st, "macx-record-v1", 14);
    s_hash_u64 (&st, env->version);
    s_hash_len (&st, env->header.data, env->header.len);
    s_hash_len (&st, env->nonce.data, env->nonce.len);
    s_hash_len (&st, env->ciphertext.data, env->ciphertext.len);
    s_hash_u64 (&st, env->n_wraps);
    for (size_t i = 0; i < env->n_wraps; i++) {
        const Macx__KeyWrap *w = env->wraps[i];
        s_hash_len (&st, w->recipient, strlen (w->recipient));
        s_hash_len (&st, w->nonce.data, w->nonce.len);
        s_hash_len (&st, w->wrapped.data, w->wrapped.len);
    }
    crypto_generichash_final (&st, out, 64);
}

typedef struct {
    const Macx__Header *h;        /* complete: version and sender set */
    const uint8_t *plain;         /* payload bytes to encrypt */
    size_t plen;
    const char *wrapper;          /* identity whose pair keys wrap (the sender) */
    const char *signer;           /* identity that signs */
    uint32_t version;             /* envelope version */
    int bad_wrap_ad;              /* wrap under the wrong associated data */
    int bad_cipher_ad;            /* encrypt under the wrong associated data */
    const uint8_t *header_extra;  /* bytes appended to the packed header (signed) */
    size_t header_extra_len;
} s_forge_t;

static uint8_t *
s_forge (const s_forge_t *f, size_t *outlen)
{
    const Macx__Header *h = f->h;
    size_t hlen = macx__header__get_packed_size (h);
    uint8_t *hbytes = malloc (hlen + f->header_extra_len);
    macx__header__pack (h, hbytes);
    if (f->header_extra_len) {
        memcpy (hbytes + hlen, f->header_extra, f->header_extra_len);
        hlen += f->header_extra_len;
    }
    uint8_t key[32], nonce[24];
    crypto_aead_xchacha20poly1305_ietf_keygen (key);
    randombytes_buf (nonce, sizeof nonce);
    uint8_t *cipher = malloc (f->plen + 16);
    unsigned long long clen;
    crypto_aead_xchacha20poly1305_ietf_encrypt (cipher, &clen, f->plain, f->plen, hbytes,
                                                f->bad_cipher_ad ? hlen - 1 : hlen, NULL, nonce,
                                                key);
    size_t n = h->n_recipients;
    Macx__KeyWrap *wraps = calloc (n ? n : 1, sizeof *wraps);
    Macx__KeyWrap **ptrs = calloc (n ? n : 1, sizeof *ptrs);
    uint8_t (*wn)[MACX_WRAP_NONCE] = calloc (n ? n : 1, MACX_WRAP_NONCE);
    uint8_t (*wb)[MACX_WRAP_BYTES] = calloc (n ? n : 1, MACX_WRAP_BYTES);
    for (size_t i = 0; i < n; i++) {
        macx__key_wrap__init (&wraps[i]);
        wraps[i].recipient = h->recipients[i];
        const macx_agency_t *peer = macx_registry_find (s_fx->reg, h->recipients[i]);
        uint8_t ad[128];
        size_t sl = strlen (h->sender), rl = strlen (h->recipients[i]);
        memcpy (ad, h->record_id.data, 16);
        memcpy (ad + 16, h->sender, sl + 1);
        memcpy (ad + 16 + sl + 1, h->recipients[i], rl);
        if (peer)
            assert_int_equal (macx_identity_wrap (s_me (f->wrapper), peer, ad,
                                                  16 + sl + 1 + rl - (f->bad_wrap_ad ? 1 : 0),
                                                  key, wn[i], wb[i]), 0);
        wraps[i].nonce = (ProtobufCBinaryData) { MACX_WRAP_NONCE, wn[i] };
        wraps[i].wrapped = (ProtobufCBinaryData) { MACX_WRAP_BYTES, wb[i] };
        ptrs[i] = &wraps[i];
    }
    Macx__Envelope env = MACX__ENVELOPE__INIT;
    env.version = f->version ? f->version : 1;
    env.header = (ProtobufCBinaryData) { hlen, hbytes };
    env.nonce = (ProtobufCBinaryData) { sizeof nonce, nonce };
    env.ciphertext = (ProtobufCBinaryData) { (size_t) clen, cipher };
    env.n_wraps = n;
    env.wraps = ptrs;
    uint8_t digest[64], sig[64];
    s_digest (&env, digest);
    assert_int_equal (macx_identity_sign (s_me (f->signer), digest, sizeof digest, sig), 0);
    env.signature = (ProtobufCBinaryData) { sizeof sig, sig };
    *outlen = macx__envelope__get_packed_size (&env);
    uint8_t *out = malloc (*outlen);
    macx__envelope__pack (&env, out);
    free (wb);
    free (wn);
    free (ptrs);
    free (wraps);
    free (cipher);
    free (hbytes);
    return out;
}

/* A header from mi5 ready for forging (seal would set version/sender). */
static void
s_forge_hdr (s_hdr_t *x, const char *type, int phase, const char *to, const char *fields)
{
    s_hdr (x, type, phase, to, fields);
    x->h.version = 1;
    x->h.sender = "mi5";
    x->h.created_ms = 1700000000000;
}

/* ---- round trips -------------------------------------------------------- */

static void
s_round_trip (const s_kind_t *k, const char *to)
{
    s_hdr_t *x = malloc (sizeof *x);
    s_hdr (x, k->type, k->phase, to, k->manifest);
    x->h.sequence = 42;
    Macx__Payload p;
    s_payload (k->type, &p);
    size_t plen;
    uint8_t *want = s_pack_payload (&p, &plen);
    size_t len;
    uint8_t *sealed = s_seal ("mi5", x, &p, &len);
    assert_true (len <= MACX_RECORD_MAX);

    /* Structure only, then signature: no payload either way. */
    macx_record_t *rec = NULL;
    macx_error_t err = { 0 };
    assert_int_equal (macx_record_decode (sealed, len, &rec, &err), 0);
    assert_int_equal (macx_record_verified (rec), 0);
    assert_null (macx_record_payload (rec));
    macx_record_destroy (&rec);
    assert_null (rec);
    macx_record_destroy (&rec);   /* safe twice */
    assert_int_equal (macx_record_verify (s_fx->reg, sealed, len, &rec, &err), 0);
    assert_int_equal (macx_record_verified (rec), 1);
    assert_null (macx_record_payload (rec));
    assert_string_equal (macx_record_header (rec)->sender, "mi5");
    macx_record_destroy (&rec);

    for (size_t r = 0; r < x->h.n_recipients; r++) {
        const char *as = x->h.recipients[r];
        assert_int_equal (macx_record_open (s_me (as), s_fx->reg, sealed, len, &rec, &err), 0);
        const Macx__Header *h = macx_record_header (rec);
        assert_string_equal (h->sender, "mi5");
        assert_int_equal (h->sequence, 42);
        assert_int_equal (h->phase, k->phase);
        assert_string_equal (h->record_type, k->type);
        assert_string_equal (h->subject, "subj-7f3a9c");
        assert_memory_equal (h->record_id.data, x->id, MACX_RECORD_ID_BYTES);
        assert_int_equal (h->n_recipients, x->h.n_recipients);
        assert_int_equal (h->n_manifest, x->h.n_manifest);
        for (size_t i = 0; i < h->n_manifest; i++) {
            assert_string_equal (h->manifest[i]->name, x->h.manifest[i]->name);
            assert_string_equal (h->manifest[i]->transform, x->h.manifest[i]->transform);
        }
        assert_true (h->created_ms > 0);
        const Macx__Payload *got = macx_record_payload (rec);
        assert_non_null (got);
        const char *body = macx_record_body_type (got);
        if (strcmp (k->type, "referral_note") == 0)
            assert_null (body);
        else
            assert_string_equal (body, k->type);
        size_t glen;
        uint8_t *gbytes = s_pack_payload (got, &glen);
        assert_int_equal (glen, plen);
        assert_memory_equal (gbytes, want, plen);
        free (gbytes);
        macx_record_destroy (&rec);
    }
    /* Everyone else, the sender included, is refused by name. */
    for (int i = 0; i < S_NAGENCIES; i++) {
        int listed = 0;
        for (size_t r = 0; r < x->h.n_recipients; r++)
            listed |= strcmp (x->h.recipients[r], s_ids[i]) == 0;
        if (!listed)
            s_expect_open (s_ids[i], sealed, len, MACX_ENOTRECIPIENT, "not a recipient");
    }
    free (sealed);
    free (want);
    free (x);
}

static void
test_round_trip_each_type (void **state)
{
    (void) state;
    for (size_t i = 0; i < S_NKINDS; i++) {
        s_round_trip (&s_kinds[i], "ogd-dwp");
        s_round_trip (&s_kinds[i], "ctp,la-london,ogd-dwp,ogd-health");
    }
}

/* Payload built with macx_record_build (what the CLI does). */
static void
test_round_trip_built (void **state)
{
    (void) state;
    char f1[] = "subject_name:initials=alex example", f2[] = "dob:year_only=1990-04-12",
         f3[] = "postcode:postcode_district=LS11 5AB", f4[] = "risk_indicators=travel",
         f5[] = "risk_indicators=online", f6[] = "region:region_only=1 High St, Leeds, West Yorkshire";
    char *texts[] = { f1, f2, f3, f4, f5, f6 };
    macx_record_field_t fields[6];
    macx_error_t err = { 0 };
    for (int i = 0; i < 6; i++)
        assert_int_equal (macx_record_field_parse (texts[i], &fields[i], &err), 0);
    assert_string_equal (fields[1].name, "dob");
    assert_string_equal (fields[1].transform, "year_only");
    assert_string_equal (fields[1].value, "1990-04-12");
    assert_null (fields[3].transform);
    Macx__Payload *p = NULL;
    Macx__FieldEntry **manifest = NULL;
    size_t nm = 0;
    assert_int_equal (macx_record_build ("share", fields, 6, &p, &manifest, &nm, &err), 0);
    assert_int_equal (nm, 5);   /* risk_indicators once */
    assert_string_equal (p->share->subject_name, "A.E.");
    assert_string_equal (p->share->dob, "1990");
    assert_string_equal (p->share->postcode, "LS11");
    assert_string_equal (p->share->region, "West Yorkshire");
    assert_int_equal (p->share->n_risk_indicators, 2);
    assert_string_equal (manifest[2]->transform, "postcode_district");
    assert_string_equal (manifest[3]->name, "risk_indicators");
    assert_string_equal (manifest[3]->transform, "");

    s_hdr_t *x = malloc (sizeof *x);
    s_hdr (x, "share", 2, "ctp,ogd-dwp", "");
    x->h.manifest = manifest;
    x->h.n_manifest = nm;
    assert_int_equal (macx_record_check_manifest (&x->h, p, &err), 0);
    size_t len;
    uint8_t *sealed = s_seal ("mi5", x, p, &len);
    macx_record_t *rec = NULL;
    assert_int_equal (macx_record_open (s_me ("ctp"), s_fx->reg, sealed, len, &rec, &err), 0);
    assert_string_equal (macx_record_payload (rec)->share->dob, "1990");
    macx_record_destroy (&rec);
    free (sealed);
    free (x);
    macx_record_build_free (&p, &manifest, nm);
    assert_null (p);
    assert_null (manifest);

    /* Generic types take any name=value. */
    macx_record_field_t g[2] = { { "reason", NULL, "attendance" }, { "contact", "redacted", "x" } };
    assert_int_equal (macx_record_build ("referral_note", g, 2, &p, &manifest, &nm, &err), 0);
    assert_int_equal (p->body_case, MACX__PAYLOAD__BODY_GENERIC);
    assert_string_equal (p->generic->fields[1]->value, "[redacted]");
    assert_string_equal (manifest[1]->transform, "redacted");
    macx_record_build_free (&p, &manifest, nm);

    /* Builder errors. */
    macx_record_field_t bad[] = {
        { "colour", NULL, "blue" }, { "holdings", NULL, "x" }, { "level", NULL, "two" },
        { "back_to_investigation", NULL, "maybe" }, { "dob", "rot13", "1990" },
        { "dob", "year_only", "90" },
    };
    static const struct { const char *type; size_t i; int code; const char *msg; } cases[] = {
        { "case_file", 0, MACX_EINVAL, "record type 'case_file' has no field 'colour'" },
        { "enrichment", 1, MACX_EINVAL, "field 'holdings' is structured and cannot be set from text" },
        { "profile", 2, MACX_EINVAL, "field 'level' needs a whole number, not 'two'" },
        { "panel_plan", 3, MACX_EINVAL, "field 'back_to_investigation' needs true or false" },
        { "case_file", 4, MACX_EINVAL, "field 'dob': unknown transform 'rot13'" },
        { "case_file", 5, MACX_EINVAL, "field 'dob': cannot apply year_only to '90'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = macx_record_build (cases[i].type, &bad[cases[i].i], 1, &p, &manifest, &nm, &err);
        s_expect (rc, &err, cases[i].code, cases[i].msg);
        assert_null (p);
        assert_null (manifest);
    }
    macx_record_field_t twice[2] = { { "subject_name", NULL, "a" }, { "subject_name", NULL, "b" } };
    s_expect (macx_record_build ("case_file", twice, 2, &p, &manifest, &nm, &err), &err,
              MACX_EINVAL, "field 'subject_name' given twice");
    s_expect (macx_record_build ("note", twice, 2, &p, &manifest, &nm, &err), &err, MACX_EINVAL,
              "field 'subject_name' given twice");
    macx_record_field_t *many = calloc (MACX_PAYLOAD_REPEAT_MAX + 1, sizeof *many);
    for (int i = 0; i <= MACX_PAYLOAD_REPEAT_MAX; i++)
        many[i] = (macx_record_field_t) { "risk_indicators", NULL, "x" };
    s_expect (macx_record_build ("case_file", many, MACX_PAYLOAD_REPEAT_MAX + 1, &p, &manifest,
                                 &nm, &err), &err, MACX_ELIMIT, "too many");
    free (many);
    char nothing[] = "no-equals-sign";
    macx_record_field_t f;
    s_expect (macx_record_field_parse (nothing, &f, &err), &err, MACX_EINVAL,
              "must be name[:transform]=value");
    char empty_name[] = "=x";
    s_expect (macx_record_field_parse (empty_name, &f, &err), &err, MACX_EINVAL,
              "must be name[:transform]=value");
}

/* After the first record to a peer, wrapping derives no new pair key. */
static void
test_pair_key_cache (void **state)
{
    (void) state;
    macx_identity_t *mi5 = macx_identity_load (s_fx->dir, "mi5", NULL);
    macx_identity_t *dwp = macx_identity_load (s_fx->dir, "ogd-dwp", NULL);
    assert_non_null (mi5);
    assert_non_null (dwp);
    Macx__Payload p;
    s_payload ("referral_note", &p);
    s_hdr_t *x = malloc (sizeof *x);
    for (int i = 0; i < 20; i++) {
        s_hdr (x, "referral_note", 2, i < 10 ? "ogd-dwp" : "ctp,la-london,ogd-dwp,ogd-health",
               s_kinds[S_NKINDS - 1].manifest);
        x->h.sequence = (uint64_t) i + 1;
        uint8_t *out = NULL;
        size_t len;
        macx_error_t err = { 0 };
        assert_int_equal (macx_record_seal (mi5, s_fx->reg, &x->h, &p, &out, &len, &err), 0);
        assert_int_equal (macx_identity_pair_derivations (mi5), i < 10 ? 1 : 4);
        macx_record_t *rec = NULL;
        assert_int_equal (macx_record_open (dwp, s_fx->reg, out, len, &rec, &err), 0);
        assert_int_equal (macx_identity_pair_derivations (dwp), 1);
        macx_record_destroy (&rec);
        free (out);
    }
    free (x);
    macx_identity_destroy (&dwp);
    macx_identity_destroy (&mi5);
}

/* ---- tampering ---------------------------------------------------------- */

/* Flips every bit of sealed in turn: open (as `as`), verify, and open with
 * cache (when not NULL, holding roots already verified) refuse each. The
 * refusals are counted by code into by_code_out when not NULL. */
static void
s_every_bit_flip (const uint8_t *sealed, size_t len, const char *as, macx_root_cache_t *cache,
                  int by_code_out[-MACX_ECODE_MIN + 1])
{
    uint8_t *copy = malloc (len);
    int by_code[-MACX_ECODE_MIN + 1] = { 0 };
    for (size_t bit = 0; bit < len * 8; bit++) {
        memcpy (copy, sealed, len);
        copy[bit / 8] ^= (uint8_t) (1u << (bit % 8));
        macx_record_t *rec = NULL;
        macx_error_t err = { 0 };
        int rc = macx_record_open (s_me (as), s_fx->reg, copy, len, &rec, &err);
        if (rc == 0 || rec)
            fail_msg ("open accepted a record with bit %zu flipped", bit);
        assert_int_equal (err.code, rc);
        by_code[-rc]++;
        int vrc = macx_record_verify (s_fx->reg, copy, len, &rec, &err);
        if (vrc == 0 || rec)
            fail_msg ("verify accepted a record with bit %zu flipped", bit);
        if (cache) {
            int crc = macx_record_open_cached (s_me (as), s_fx->reg, cache, copy, len, &rec, &err);
            if (crc == 0 || rec)
                fail_msg ("open with a cache accepted a record with bit %zu flipped", bit);
            if (crc != rc)
                fail_msg ("bit %zu flipped: open says %s, open with a cache %s", bit,
                          macx_errname (rc), macx_errname (crc));
        }
    }
    /* Flips land in every layer: structure, signature and (never reached
     * past the signature) nothing else. */
    assert_true (by_code[-MACX_EBADSIG] > 0);
    assert_true (by_code[-MACX_EDECODE] + by_code[-MACX_EVERSION] + by_code[-MACX_EHEADER] > 0);
    if (by_code_out)
        memcpy (by_code_out, by_code, sizeof by_code);
    free (copy);
}

static void
test_every_bit_flip (void **state)
{
    (void) state;
    size_t len;
    uint8_t *sealed = s_small ("ogd-dwp", &len);
    assert_true (len < 512);
    macx_record_t *rec = NULL;
    assert_int_equal (macx_record_open (s_me ("ogd-dwp"), s_fx->reg, sealed, len, &rec, NULL), 0);
    macx_record_destroy (&rec);
    s_every_bit_flip (sealed, len, "ogd-dwp", NULL, NULL);
    free (sealed);
    /* Four recipients: each wrap is covered as well; open as the last. */
    sealed = s_small ("ctp,la-london,ogd-dwp,ogd-health", &len);
    s_every_bit_flip (sealed, len, "ogd-health", NULL, NULL);
    free (sealed);
}

static void
test_truncated (void **state)
{
    (void) state;
    size_t len;
    uint8_t *sealed = s_small ("ogd-dwp", &len);
    for (size_t n = 0; n < len; n++) {
        uint8_t *prefix = malloc (n ? n : 1);   /* exact size: ASan sees any overread */
        memcpy (prefix, sealed, n);
        macx_record_t *rec = NULL;
        macx_error_t err = { 0 };
        if (macx_record_open (s_me ("ogd-dwp"), s_fx->reg, prefix, n, &rec, &err) == 0 || rec)
            fail_msg ("open accepted a %zu-byte prefix of %zu", n, len);
        if (macx_record_verify (s_fx->reg, prefix, n, &rec, &err) == 0 || rec)
            fail_msg ("verify accepted a %zu-byte prefix of %zu", n, len);
        free (prefix);
    }
    free (sealed);

    /* A large record: a strided sample and the last 200 lengths. */
    s_hdr_t *x = malloc (sizeof *x);
    s_hdr (x, "note", 2, "ctp,la-london,ogd-dwp,ogd-health", "text");
    char *big = malloc (64 * 1024 + 1);
    memset (big, 'a', 64 * 1024);
    big[64 * 1024] = '\0';
    s_text_t t;
    Macx__Payload p = *s_text (&t, big);
    sealed = s_seal ("mi5", x, &p, &len);
    for (size_t n = 0; n < len; n += (n + 200 >= len ? 1 : 97)) {
        macx_record_t *rec = NULL;
        if (macx_record_open (s_me ("ogd-health"), s_fx->reg, sealed, n, &rec, NULL) == 0 || rec)
            fail_msg ("open accepted a %zu-byte prefix of %zu", n, len);
        if (macx_record_verify (s_fx->reg, sealed, n, &rec, NULL) == 0 || rec)
            fail_msg ("verify accepted a %zu-byte prefix of %zu", n, len);
    }
    free (sealed);
    free (big);
    free (x);
}

static void
test_empty_and_oversized (void **state)
{
    (void) state;
    uint8_t one = 0;
    s_expect_open ("ogd-dwp", &one, 0, MACX_ETRUNC, "record is empty");
    s_expect_verify (s_fx->reg, &one, 0, MACX_ETRUNC, "record is empty");
    macx_record_t *rec = NULL;
    macx_error_t err = { 0 };
    s_expect (macx_record_decode (&one, 0, &rec, &err), &err, MACX_ETRUNC, "record is empty");

    size_t big = MACX_RECORD_MAX + 1;
    uint8_t *buf = calloc (1, big);
    s_expect_open ("ogd-dwp", buf, big, MACX_ETOOBIG,
                   "record of 1048577 bytes is over the limit of 1048576");
    s_expect_verify (s_fx->reg, buf, big, MACX_ETOOBIG, "over the limit");
    /* A valid record padded past the bound is still too big, before any
     * parsing. */
    size_t len;
    uint8_t *sealed = s_small ("ogd-dwp", &len);
    memcpy (buf, sealed, len);
    s_expect_open ("ogd-dwp", buf, big, MACX_ETOOBIG, "over the limit");
    free (sealed);
    free (buf);

    /* Garbage that is not an envelope. */
    const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f };
    s_expect_open ("ogd-dwp", junk, sizeof junk, MACX_EDECODE, "does not decode as an envelope");

    /* The sealer refuses a payload that would not fit. */
    s_hdr_t *x = malloc (sizeof *x);
    s_hdr (x, "note", 2, "ogd-dwp", "text");
    char *huge = malloc (MACX_RECORD_MAX + 1);
    memset (huge, 'a', MACX_RECORD_MAX);
    huge[MACX_RECORD_MAX] = '\0';
    s_text_t t;
    Macx__Payload p = *s_text (&t, huge);
    uint8_t *out = (uint8_t *) 1;
    s_expect (macx_record_seal (s_me ("mi5"), s_fx->reg, &x->h, &p, &out, &len, &err), &err,
              MACX_ETOOBIG, "over the limit of 1048576");
    assert_null (out);
    free (huge);
    free (x);
}

static void
test_wrong_recipient (void **state)
{
    (void) state;
    size_t len;
    uint8_t *sealed = s_small ("ogd-dwp", &len);
    macx_record_t *rec = NULL;
    macx_error_t err = { 0 };
    int rc = macx_record_open (s_me ("ctp"), s_fx->reg, sealed, len, &rec, &err);
    s_expect (rc, &err, MACX_ENOTRECIPIENT, "not a recipient");
    assert_string_equal (err.msg, "not a recipient: ctp is not among the 1 recipients of this "
                                  "record from mi5");
    assert_null (rec);
    /* The broker's check (verify) passes: it is a good record, just not
     * ctp's. */
    assert_int_equal (macx_record_verify (s_fx->reg, sealed, len, &rec, &err), 0);
    macx_record_destroy (&rec);
    free (sealed);
}

static void
test_revoked_and_unknown_sender (void **state)
{
    (void) state;
    char *dir = s_tmpdir ();
    assert_int_equal (macx_keys_generate (dir, "mi5", test_kind ("mi5"), NULL), 0);
    assert_int_equal (macx_keys_generate (dir, "ctp", test_kind ("ctp"), NULL), 0);
    assert_int_equal (macx_keys_generate (dir, "ogd-dwp", test_kind ("ogd-dwp"), NULL), 0);
    macx_registry_t *reg = macx_registry_load (dir, NULL);
    macx_identity_t *mi5 = macx_identity_load (dir, "mi5", NULL);
    macx_identity_t *ctp = macx_identity_load (dir, "ctp", NULL);
    macx_identity_t *dwp = macx_identity_load (dir, "ogd-dwp", NULL);
    s_hdr_t *x = malloc (sizeof *x);
    Macx__Payload p;
    s_payload ("referral_note", &p);
    s_hdr (x, "referral_note", 2, "ogd-dwp", s_kinds[S_NKINDS - 1].manifest);
    uint8_t *sealed = NULL;
    size_t len;
    macx_error_t err = { 0 };
    assert_int_equal (macx_record_seal (mi5, reg, &x->h, &p, &sealed, &len, &err), 0);
    macx_record_t *rec = NULL;
    assert_int_equal (macx_record_open (dwp, reg, sealed, len, &rec, &err), 0);
    macx_record_destroy (&rec);

    /* Revoked after sealing: refused from then on, by verify and open. */
    assert_int_equal (macx_keys_revoke (dir, "mi5", "test", &err), 0);
    macx_registry_destroy (&reg);
    reg = macx_registry_load (dir, NULL);
    s_expect_verify (reg, sealed, len, MACX_EREVOKED, "sender 'mi5' is revoked");
    s_expect (macx_record_open (dwp, reg, sealed, len, &rec, &err), &err, MACX_EREVOKED,
              "sender 'mi5' is revoked");
    assert_null (rec);

    /* The sealer refuses a revoked recipient. */
    assert_int_equal (macx_keys_revoke (dir, "ogd-dwp", NULL, &err), 0);
    macx_registry_destroy (&reg);
    reg = macx_registry_load (dir, NULL);
    uint8_t *out = NULL;
    size_t olen;
    s_hdr (x, "referral_note", 2, "ogd-dwp", s_kinds[S_NKINDS - 1].manifest);
    s_expect (macx_record_seal (ctp, reg, &x->h, &p, &out, &olen, &err), &err, MACX_EREVOKED,
              "recipient 'ogd-dwp' is revoked");
    assert_null (out);
    s_hdr (x, "referral_note", 2, "ogd-nope", s_kinds[S_NKINDS - 1].manifest);
    s_expect (macx_record_seal (ctp, reg, &x->h, &p, &out, &olen, &err), &err, MACX_EUNKNOWN,
              "recipient 'ogd-nope' is not a registered agency");

    /* Unknown sender: a registry from another directory without mi5 (the
     * fixture's registry has its own mi5, with other keys). */
    char *other = s_tmpdir ();
    assert_int_equal (macx_keys_generate (other, "ogd-dwp", test_kind ("ogd-dwp"), NULL), 0);
    macx_registry_t *oreg = macx_registry_load (other, NULL);
    s_expect_verify (oreg, sealed, len, MACX_EUNKNOWN, "unknown sender 'mi5'");
    s_expect_verify (s_fx->reg, sealed, len, MACX_EBADSIG, "bad signature from mi5");
    macx_registry_destroy (&oreg);
    s_rmrf (&other);

    free (sealed);
    free (x);
    macx_identity_destroy (&dwp);
    macx_identity_destroy (&ctp);
    macx_identity_destroy (&mi5);
    macx_registry_destroy (&reg);
    s_rmrf (&dir);
}

/* The forging helper makes records open does accept: the other forgeries
 * below fail for their own reason only. */
static void
test_forge_control (void **state)
{
    (void) state;
    s_hdr_t *x = malloc (sizeof *x);
    s_forge_hdr (x, "referral_note", 2, "ctp,ogd-dwp", s_kinds[S_NKINDS - 1].manifest);
    Macx__Payload p;
    s_payload ("referral_note", &p);
    size_t plen, len;
    uint8_t *plain = s_pack_payload (&p, &plen);
    s_forge_t f = { .h = &x->h, .plain = plain, .plen = plen, .wrapper = "mi5", .signer = "mi5" };
    uint8_t *buf = s_forge (&f, &len);
    macx_record_t *rec = NULL;
    macx_error_t err = { 0 };
    int rc = macx_record_open (s_me ("ogd-dwp"), s_fx->reg, buf, len, &rec, &err);
    if (rc)
        fail_msg ("forged control record refused: %s", err.msg);
    macx_record_destroy (&rec);
    free (buf);
    free (plain);
    free (x);
}

static void
test_forged_signature (void **state)
{
    (void) state;
    s_hdr_t *x = malloc (sizeof *x);
    s_forge_hdr (x, "referral_note", 2, "ogd-dwp", s_kinds[S_NKINDS - 1].manifest);
    Macx__Payload p;
    s_payload ("referral_note", &p);
    size_t plen, len;
    uint8_t *plain = s_pack_payload (&p, &plen);
    /* ctp re-signs a record whose header still says mi5. */
    s_forge_t f = { .h = &x->h, .plain = plain, .plen = plen, .wrapper = "mi5", .signer = "ctp" };
    uint8_t *buf = s_forge (&f, &len);
    s_expect_verify (s_fx->reg, buf, len, MACX_EBADSIG, "bad signature from mi5");
    s_expect_open ("ogd-dwp", buf, len, MACX_EBADSIG, "bad signature from mi5");
    free (buf);
    /* ctp wraps and signs everything itself, claiming to be mi5. */
    f.wrapper = "ctp";
    buf = s_forge (&f, &len);
    s_expect_open ("ogd-dwp", buf, len, MACX_EBADSIG, "bad signature from mi5");
    free (buf);
    /* Signed by mi5, but the key wraps or the ciphertext were made under
     * other associated data. */
    f = (s_forge_t) { .h = &x->h, .plain = plain, .plen = plen, .wrapper = "mi5", .signer = "mi5",
                      .bad_wrap_ad = 1 };
    buf = s_forge (&f, &len);
    s_expect_open ("ogd-dwp", buf, len, MACX_EDECRYPT,
                   "the payload key wrapped for ogd-dwp by mi5 does not open");
    free (buf);
    f.bad_wrap_ad = 0;
    f.bad_cipher_ad = 1;
    buf = s_forge (&f, &len);
    s_expect_open ("ogd-dwp", buf, len, MACX_EDECRYPT, "payload from mi5 does not decrypt");
    free (buf);
    /* Wrapped by ctp's pair key although signed by mi5. */
    f.bad_cipher_ad = 0;
    f.wrapper = "ctp";
    buf = s_forge (&f, &len);
    s_expect_open ("ogd-dwp", buf, len, MACX_EDECRYPT, "does not open");
    free (buf);
    /* Envelope version 2. */
    f.wrapper = "mi5";
    f.version = 2;
    buf = s_forge (&f, &len);
    s_expect_open ("ogd-dwp", buf, len, MACX_EVERSION, "envelope version 2 is not supported");
    free (buf);
    /* Header version 2. */
    f.version = 0;
    x->h.version = 2;
    buf = s_forge (&f, &len);
    s_expect_verify (s_fx->reg, buf, len, MACX_EVERSION, "header version 2 is not supported");
    free (buf);
    x->h.version = 1;
    /* A payload that is not protobuf, properly encrypted and signed. */
    const uint8_t junk[] = { 0xff, 0xff, 0xff };
    f.plain = junk;
    f.plen = sizeof junk;
    buf = s_forge (&f, &len);
    s_expect_open ("ogd-dwp", buf, len, MACX_EDECODE, "payload from mi5 does not decode");
    free (buf);
    /* An empty payload: no body. */
    f.plain = (const uint8_t *) "";
    f.plen = 0;
    buf = s_forge (&f, &len);
    s_expect_open ("ogd-dwp", buf, len, MACX_EMANIFEST, "payload has no body");
    free (buf);
    free (plain);
    free (x);
}

/* Bytes the schema does not know, anywhere, are refused: appended to the
 * envelope (outside the signature), inside the signed header (clear text
 * that no check, audit entry or print would show), inside the encrypted
 * payload; and a header that is not canonically encoded. */
static void
test_unknown_fields (void **state)
{
    (void) state;
    s_hdr_t *x = malloc (sizeof *x);
    s_forge_hdr (x, "referral_note", 2, "ogd-dwp", s_kinds[S_NKINDS - 1].manifest);
    Macx__Payload p;
    s_payload ("referral_note", &p);
    size_t plen, len;
    uint8_t *plain = s_pack_payload (&p, &plen);
    /* field 30 (no message here has one), length-delimited: its tag is the
     * varint 0xf2 0x01, then 34 bytes of clear text */
    static const char text[] = "clear text riding along unsigned!!";
    uint8_t extra[3 + sizeof text - 1] = { 0xf2, 0x01, sizeof text - 1 };
    memcpy (extra + 3, text, sizeof text - 1);
    s_forge_t f = { .h = &x->h, .plain = plain, .plen = plen, .wrapper = "mi5", .signer = "mi5" };
    uint8_t *buf = s_forge (&f, &len);
    uint8_t *longer = malloc (len + sizeof extra);
    memcpy (longer, buf, len);
    memcpy (longer + len, extra, sizeof extra);
    macx_record_t *rec = NULL;
    macx_error_t err = { 0 };
    if (macx_record_verify (s_fx->reg, buf, len, &rec, &err))   /* the control */
        fail_msg ("the unaltered record is refused: %s", err.msg);
    macx_record_destroy (&rec);
    s_expect_verify (s_fx->reg, longer, len + sizeof extra, MACX_EDECODE,
                     "record envelope carries a field macx does not know (field 30, 35 bytes)");
    free (longer);
    free (buf);
    /* inside the signed header */
    f.header_extra = extra;
    f.header_extra_len = sizeof extra;
    buf = s_forge (&f, &len);
    s_expect_verify (s_fx->reg, buf, len, MACX_EDECODE,
                     "record header carries a field macx does not know (field 30, 35 bytes)");
    free (buf);
    /* a known field again after the rest (version = 1, field 1): it decodes
     * to the same header, but is not the canonical encoding */
    uint8_t again[] = { (1 << 3) | 0, 1 };
    f.header_extra = again;
    f.header_extra_len = sizeof again;
    buf = s_forge (&f, &len);
    s_expect_verify (s_fx->reg, buf, len, MACX_EDECODE, "record header is not canonically encoded");
    free (buf);
    /* inside the encrypted payload */
    f.header_extra_len = 0;
    uint8_t *bigger = malloc (plen + sizeof extra);
    memcpy (bigger, plain, plen);
    memcpy (bigger + plen, extra, sizeof extra);
    f.plain = bigger;
    f.plen = plen + sizeof extra;
    buf = s_forge (&f, &len);
    s_expect_open ("ogd-dwp", buf, len, MACX_EDECODE,
                   "payload carries a field macx does not know (field 30, 35 bytes)");
    free (buf);
    free (bigger);
    free (plain);
    free (x);
}

/* Properly signed records whose header is over a limit: refused at decode,
 * before any signature or key work. */
static void
test_forged_limits (void **state)
{
    (void) state;
    Macx__Payload p;
    s_payload ("referral_note", &p);
    size_t plen, len;
    uint8_t *plain = s_pack_payload (&p, &plen);
    s_hdr_t *x = malloc (sizeof *x);
    char fields[2048] = "";
    for (int i = 0; i <= MACX_MANIFEST_MAX; i++)
        snprintf (fields + strlen (fields), sizeof fields - strlen (fields), "%sf%d", i ? "," : "", i);
    s_forge_hdr (x, "referral_note", 2, "ogd-dwp", fields);
    assert_int_equal (x->h.n_manifest, 65);
    s_forge_t f = { .h = &x->h, .plain = plain, .plen = plen, .wrapper = "mi5", .signer = "mi5" };
    uint8_t *buf = s_forge (&f, &len);
    s_expect_verify (s_fx->reg, buf, len, MACX_ELIMIT, "manifest lists 65 fields, over the limit of 64");
    free (buf);

    char to[2048] = "ogd-dwp";
    for (int i = 1; i <= MACX_RECIPIENTS_MAX; i++)
        snprintf (to + strlen (to), sizeof to - strlen (to), ",la-%d", i);
    s_forge_hdr (x, "referral_note", 2, to, s_kinds[S_NKINDS - 1].manifest);
    assert_int_equal (x->h.n_recipients, 33);
    buf = s_forge (&f, &len);
    s_expect_open ("ogd-dwp", buf, len, MACX_ELIMIT, "header names 33 recipients, over the limit of 32");
    free (buf);

    /* Signed payloads over the repeated-field limit, or whose fields are not
     * the manifest's: verify (the broker) passes them, open refuses. */
    Macx__CaseFile cf = MACX__CASE_FILE__INIT;
    char **many = calloc (MACX_PAYLOAD_REPEAT_MAX + 1, sizeof *many);
    for (int i = 0; i <= MACX_PAYLOAD_REPEAT_MAX; i++)
        many[i] = "x";
    cf.n_risk_indicators = MACX_PAYLOAD_REPEAT_MAX + 1;
    cf.risk_indicators = many;
    Macx__Payload cp = MACX__PAYLOAD__INIT;
    cp.body_case = MACX__PAYLOAD__BODY_CASE_FILE;
    cp.case_file = &cf;
    size_t clen;
    uint8_t *cplain = s_pack_payload (&cp, &clen);
    s_forge_hdr (x, "case_file", 1, "ogd-dwp", "risk_indicators");
    f.plain = cplain;
    f.plen = clen;
    buf = s_forge (&f, &len);
    macx_record_t *rec = NULL;
    assert_int_equal (macx_record_verify (s_fx->reg, buf, len, &rec, NULL), 0);
    macx_record_destroy (&rec);
    s_expect_open ("ogd-dwp", buf, len, MACX_ELIMIT,
                   "payload field 'risk_indicators' repeats 1025 times, over the limit of 1024");
    free (buf);
    free (cplain);

    cf.n_risk_indicators = 0;
    cf.risk_indicators = NULL;
    cf.subject_name = "Alex Example";
    cf.address = "1 High St, Leeds";
    cplain = s_pack_payload (&cp, &clen);
    s_forge_hdr (x, "case_file", 1, "ogd-dwp", "subject_name");
    f.plain = cplain;
    f.plen = clen;
    buf = s_forge (&f, &len);
    assert_int_equal (macx_record_verify (s_fx->reg, buf, len, &rec, NULL), 0);
    macx_record_destroy (&rec);
    s_expect_open ("ogd-dwp", buf, len, MACX_EMANIFEST,
                   "payload carries field 'address' missing from manifest");
    free (buf);
    /* Declared year_only, carrying a full date. */
    cf.address = "";
    cf.dob = "1990-04-12";
    free (cplain);
    cplain = s_pack_payload (&cp, &clen);
    s_forge_hdr (x, "case_file", 1, "ogd-dwp", "subject_name,dob:year_only");
    f.plain = cplain;
    f.plen = clen;
    buf = s_forge (&f, &len);
    s_expect_open ("ogd-dwp", buf, len, MACX_EMANIFEST,
                   "field 'dob' is declared year_only but its value does not have that form");
    free (buf);
    /* A case_file body under record type 'share'. */
    s_forge_hdr (x, "share", 2, "ogd-dwp", "subject_name,dob");
    buf = s_forge (&f, &len);
    s_expect_open ("ogd-dwp", buf, len, MACX_EMANIFEST,
                   "payload is a 'case_file' but the header says record type 'share'");
    free (buf);
    free (cplain);
    free (many);
    free (plain);
    free (x);
}

/* ---- batch signatures --------------------------------------------------- */

#define S_H MACX_BATCH_HASH_BYTES

/* The tree head a batch signature covers, as batch.c lays it out (a copy:
 * if this drifts, test_batch_foreign_root's control fails first). */
static void
s_head_digest (const char *signer, uint32_t count, const uint8_t root[S_H], uint8_t out[64])
{
    crypto_generichash_state st;
    crypto_generichash_init (&st, NULL, 0, 64);
    crypto_generichash_update (&st, (const uint8_t *) "macx-batch-v1", 13);
    s_hash_len (&st, signer, strlen (signer));
    s_hash_u64 (&st, count);
    crypto_generichash_update (&st, root, S_H);
    crypto_generichash_final (&st, out, 64);
}

/* RFC 9162 2.1 written out as the RFC states it, recursively, to check
 * batch.c's level-by-level tree and its path walk against: MTH of a list
 * of leaf hashes splits at k, the largest power of two below n, and
 * PATH(m, D[n]) is the path of m in the half holding it followed by the
 * other half's MTH. */
static void
s_rfc_leaf (const uint8_t digest[64], uint8_t out[S_H])
{
    uint8_t buf[1 + 64];
    buf[0] = 0x00;
    memcpy (buf + 1, digest, 64);
    crypto_generichash (out, S_H, buf, sizeof buf, NULL, 0);
}

static void
s_rfc_node (const uint8_t left[S_H], const uint8_t right[S_H], uint8_t out[S_H])
{
    uint8_t buf[1 + 2 * S_H];
    buf[0] = 0x01;
    memcpy (buf + 1, left, S_H);
    memcpy (buf + 1 + S_H, right, S_H);
    crypto_generichash (out, S_H, buf, sizeof buf, NULL, 0);
}

static size_t
s_rfc_split (size_t n)
{
    size_t k = 1;
    while (2 * k < n)
        k *= 2;
    return k;
}

static void
s_rfc_mth (const uint8_t (*leaves)[S_H], size_t n, uint8_t out[S_H])
{
    if (n == 1) {
        memcpy (out, leaves[0], S_H);
        return;
    }
    size_t k = s_rfc_split (n);
    uint8_t left[S_H], right[S_H];
    s_rfc_mth (leaves, k, left);
    s_rfc_mth (leaves + k, n - k, right);
    s_rfc_node (left, right, out);
}

/* PATH(m, D[n]) into out, deepest hash first; returns its length. */
static size_t
s_rfc_path (const uint8_t (*leaves)[S_H], size_t n, size_t m, uint8_t (*out)[S_H])
{
    if (n == 1)
        return 0;
    size_t k = s_rfc_split (n), len;
    if (m < k) {
        len = s_rfc_path (leaves, k, m, out);
        s_rfc_mth (leaves + k, n - k, out[len]);
    }
    else {
        len = s_rfc_path (leaves + k, n - k, m - k, out);
        s_rfc_mth (leaves, k, out[len]);
    }
    return len + 1;
}

#define S_TAKEN_MAX 128

/* The records taken from one signed batch, in order. */
typedef struct {
    size_t n;
    uint8_t *buf[S_TAKEN_MAX];
    size_t len[S_TAKEN_MAX];
} s_taken_t;

/* Seals n notes from b's sender to `to` into b (reset first) and signs it:
 * record i has sequence i + 1 and text "record <i>". */
static void
s_batch_fill (macx_record_batch_t *b, const char *to, size_t n)
{
    s_hdr_t *x = malloc (sizeof *x);
    macx_error_t err = { 0 };
    macx_record_batch_reset (b);
    assert_int_equal (macx_record_batch_count (b), 0);
    for (size_t i = 0; i < n; i++) {
        char text[32];
        snprintf (text, sizeof text, "record %zu", i);
        s_text_t t;
        Macx__Payload p = *s_text (&t, text);
        s_hdr (x, "note", 2, to, "text");
        x->h.sequence = (uint64_t) i + 1;
        int rc = macx_record_batch_add (b, &x->h, &p, &err);
        if (rc)
            fail_msg ("batch add %zu failed: %d %s", i, rc, err.msg);
    }
    assert_int_equal (macx_record_batch_count (b), n);
    int rc = macx_record_batch_sign (b, &err);
    if (rc)
        fail_msg ("batch sign of %zu failed: %d %s", n, rc, err.msg);
    free (x);
}

static void
s_batch_take (macx_record_batch_t *b, s_taken_t *t)
{
    t->n = macx_record_batch_count (b);
    assert_true (t->n <= S_TAKEN_MAX);
    for (size_t i = 0; i < t->n; i++) {
        macx_error_t err = { 0 };
        int rc = macx_record_batch_take (b, i, &t->buf[i], &t->len[i], &err);
        if (rc)
            fail_msg ("batch take %zu failed: %d %s", i, rc, err.msg);
        assert_non_null (t->buf[i]);
    }
}

/* A batch of n notes sealed by `from` to `to`, taken; the batch itself is
 * gone by the time they are checked. */
static void
s_sealed_batch (const char *from, const char *to, size_t n, s_taken_t *t)
{
    macx_record_batch_t *b = macx_record_batch_new (s_me (from), s_fx->reg);
    assert_non_null (b);
    s_batch_fill (b, to, n);
    s_batch_take (b, t);
    macx_record_batch_destroy (&b);
    assert_null (b);
    macx_record_batch_destroy (&b);   /* safe twice */
}

static void
s_taken_free (s_taken_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        free (t->buf[i]);
    t->n = 0;
}

static Macx__Envelope *
s_unpack (const uint8_t *buf, size_t len)
{
    Macx__Envelope *env = macx__envelope__unpack (NULL, len, buf);
    assert_non_null (env);
    assert_non_null (env->batch);
    return env;
}

static uint8_t *
s_pack (const Macx__Envelope *env, size_t *len)
{
    *len = macx__envelope__get_packed_size (env);
    uint8_t *out = malloc (*len);
    assert_non_null (out);
    macx__envelope__pack (env, out);
    return out;
}

/* A repacked envelope is refused by decode (when code is EDECODE), verify
 * and open, with code and substring. */
static void
s_expect_env (const Macx__Envelope *env, int code, const char *substring)
{
    size_t len;
    uint8_t *buf = s_pack (env, &len);
    if (code == MACX_EDECODE) {
        macx_record_t *rec = (macx_record_t *) 1;
        macx_error_t err = { 0 };
        s_expect (macx_record_decode (buf, len, &rec, &err), &err, code, substring);
        assert_null (rec);
    }
    s_expect_verify (s_fx->reg, buf, len, code, substring);
    s_expect_open ("ogd-dwp", buf, len, code, substring);
    free (buf);
}

/* A repacked envelope is accepted by verify and open: the control that
 * makes each refusal next to it a refusal of that one change. */
static void
s_accept_env (const Macx__Envelope *env)
{
    size_t len;
    uint8_t *buf = s_pack (env, &len);
    macx_record_t *rec = NULL;
    macx_error_t err = { 0 };
    if (macx_record_verify (s_fx->reg, buf, len, &rec, &err))
        fail_msg ("verify refused the control: %s", err.msg);
    macx_record_destroy (&rec);
    if (macx_record_open (s_me ("ogd-dwp"), s_fx->reg, buf, len, &rec, &err))
        fail_msg ("open refused the control: %s", err.msg);
    macx_record_destroy (&rec);
    free (buf);
}

/* The text of a note opened from a batch. */
static const char *
s_note_text (const macx_record_t *rec)
{
    const Macx__Payload *p = macx_record_payload (rec);
    assert_non_null (p);
    assert_int_equal (p->body_case, MACX__PAYLOAD__BODY_GENERIC);
    assert_int_equal (p->generic->n_fields, 1);
    return p->generic->fields[0]->value;
}

/* Every record of t on its own: the proof's fields, the root and each path
 * against the RFC's recursive definition, and verify, check_signature
 * (with a cache of its own: one signature check for the batch, the rest
 * hits), open, and open with `across` (a cache kept over batches). */
static void
s_check_batch (const s_taken_t *t, macx_root_cache_t *across)
{
    size_t n = t->n;
    uint8_t (*digest)[64] = malloc (n * sizeof *digest);
    uint8_t (*leaf)[S_H] = malloc (n * sizeof *leaf);
    uint8_t root[S_H], sig[MACX_SIG_BYTES];
    macx_record_t *rec = NULL;
    macx_error_t err = { 0 };
    for (size_t i = 0; i < n; i++) {
        if (macx_record_decode (t->buf[i], t->len[i], &rec, &err))
            fail_msg ("record %zu of %zu does not decode: %s", i, n, err.msg);
        const Macx__Envelope *env = macx_record_envelope (rec);
        const Macx__BatchProof *p = env->batch;
        assert_non_null (p);
        assert_int_equal (env->signature.len, 0);
        assert_string_equal (p->signer, "mi5");
        assert_int_equal (p->index, i);
        assert_int_equal (p->count, n);
        assert_int_equal (p->root.len, S_H);
        assert_int_equal (p->signature.len, MACX_SIG_BYTES);
        if (i == 0) {
            memcpy (root, p->root.data, S_H);
            memcpy (sig, p->signature.data, MACX_SIG_BYTES);
        }
        assert_memory_equal (p->root.data, root, S_H);
        assert_memory_equal (p->signature.data, sig, MACX_SIG_BYTES);
        s_digest (env, digest[i]);
        s_rfc_leaf (digest[i], leaf[i]);
        macx_record_destroy (&rec);
    }
    uint8_t mth[S_H];
    s_rfc_mth ((const uint8_t (*)[S_H]) leaf, n, mth);
    if (memcmp (mth, root, S_H) != 0)
        fail_msg ("batch of %zu: the root is not RFC 9162's MTH of its leaves", n);

    macx_root_cache_t *cache = macx_root_cache_new ();
    assert_non_null (cache);
    uint64_t verified, hits, across_verified, across_hits;
    macx_root_cache_counts (across, &across_verified, &across_hits);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal (macx_record_decode (t->buf[i], t->len[i], &rec, &err), 0);
        const Macx__BatchProof *p = macx_record_envelope (rec)->batch;
        uint8_t want[MACX_BATCH_PATH_MAX + 1][S_H];
        size_t nwant = s_rfc_path ((const uint8_t (*)[S_H]) leaf, n, i, want);
        if (p->n_path != nwant)
            fail_msg ("record %zu of %zu: path of %zu hashes, RFC 9162 says %zu", i, n, p->n_path,
                      nwant);
        ProtobufCBinaryData mine[MACX_BATCH_PATH_MAX + 1];
        for (size_t k = 0; k < nwant; k++) {
            assert_int_equal (p->path[k].len, S_H);
            if (memcmp (p->path[k].data, want[k], S_H) != 0)
                fail_msg ("record %zu of %zu: path hash %zu is not RFC 9162's", i, n, k);
            mine[k] = (ProtobufCBinaryData) { S_H, want[k] };
        }
        uint8_t got[S_H];
        assert_int_equal (macx_batch_root_from_path (digest[i], (uint32_t) i, (uint32_t) n, p->path,
                                                     p->n_path, got), 0);
        assert_memory_equal (got, root, S_H);
        memset (got, 0, sizeof got);
        assert_int_equal (macx_batch_root_from_path (digest[i], (uint32_t) i, (uint32_t) n, mine,
                                                     nwant, got), 0);
        assert_memory_equal (got, root, S_H);
        assert_int_equal (macx_record_verified (rec), 0);
        if (macx_record_check_signature_cached (s_fx->reg, cache, rec, &err))
            fail_msg ("record %zu of %zu: cached check refused: %s", i, n, err.msg);
        assert_int_equal (macx_record_verified (rec), 1);
        macx_record_destroy (&rec);

        if (macx_record_verify (s_fx->reg, t->buf[i], t->len[i], &rec, &err))
            fail_msg ("record %zu of %zu: verify refused: %s", i, n, err.msg);
        assert_int_equal (macx_record_verified (rec), 1);
        assert_null (macx_record_payload (rec));
        macx_record_destroy (&rec);

        char text[32];
        snprintf (text, sizeof text, "record %zu", i);
        if (macx_record_open (s_me ("ogd-dwp"), s_fx->reg, t->buf[i], t->len[i], &rec, &err))
            fail_msg ("record %zu of %zu: open refused: %s", i, n, err.msg);
        assert_string_equal (macx_record_header (rec)->sender, "mi5");
        assert_int_equal (macx_record_header (rec)->sequence, i + 1);
        assert_string_equal (s_note_text (rec), text);
        macx_record_destroy (&rec);
        if (macx_record_open_cached (s_me ("ogd-dwp"), s_fx->reg, across, t->buf[i], t->len[i],
                                     &rec, &err))
            fail_msg ("record %zu of %zu: open with a cache refused: %s", i, n, err.msg);
        assert_int_equal (macx_record_header (rec)->sequence, i + 1);
        assert_string_equal (s_note_text (rec), text);
        macx_record_destroy (&rec);
        /* Not a recipient: still refused by name with a cache. */
        s_expect_open ("ctp", t->buf[i], t->len[i], MACX_ENOTRECIPIENT, "not a recipient");
    }
    macx_root_cache_counts (cache, &verified, &hits);
    if (verified != 1 || hits != n - 1)
        fail_msg ("batch of %zu: the cache checked %llu signatures and hit %llu times, want 1 and "
                  "%zu", n, (unsigned long long) verified, (unsigned long long) hits, n - 1);
    uint64_t v, h;
    macx_root_cache_counts (across, &v, &h);
    assert_int_equal (v, across_verified + 1);
    assert_int_equal (h, across_hits + n - 1);
    macx_root_cache_destroy (&cache);
    assert_null (cache);
    macx_root_cache_destroy (&cache);   /* safe twice */
    free (leaf);
    free (digest);
}

/* The path length RFC 9162 gives record `index` of `count`, worked out by
 * hand (not by either implementation under test). */
static const struct { uint32_t count, index; size_t len; } s_path_lens[] = {
    { 1, 0, 0 },   { 2, 0, 1 },   { 2, 1, 1 },   { 3, 0, 2 },   { 3, 2, 1 },   { 4, 3, 2 },
    { 5, 0, 3 },   { 5, 3, 3 },   { 5, 4, 1 },   { 7, 6, 2 },   { 7, 4, 3 },   { 8, 5, 3 },
    { 9, 0, 4 },   { 9, 8, 1 },   { 16, 15, 4 }, { 17, 0, 5 },  { 17, 16, 1 }, { 63, 0, 6 },
    { 63, 62, 5 }, { 64, 33, 6 }, { 65, 0, 7 },  { 65, 64, 1 }, { 100, 0, 7 }, { 100, 99, 4 },
    { 100, 96, 4 }, { 100, 70, 7 },
};

static void
test_batch_round_trip (void **state)
{
    (void) state;
    static const size_t sizes[] = { 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 63, 64, 65, 100 };
    macx_root_cache_t *across = macx_root_cache_new ();
    /* One batch, reset between sizes, as a sender keeps it. */
    macx_record_batch_t *b = macx_record_batch_new (s_me ("mi5"), s_fx->reg);
    assert_non_null (b);
    size_t checked = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        s_taken_t t;
        s_batch_fill (b, "ogd-dwp", sizes[s]);
        s_batch_take (b, &t);
        s_check_batch (&t, across);
        for (size_t k = 0; k < sizeof s_path_lens / sizeof s_path_lens[0]; k++) {
            if (s_path_lens[k].count != sizes[s])
                continue;
            macx_record_t *rec = NULL;
            size_t i = s_path_lens[k].index;
            assert_int_equal (macx_record_decode (t.buf[i], t.len[i], &rec, NULL), 0);
            size_t got = macx_record_envelope (rec)->batch->n_path;
            if (got != s_path_lens[k].len)
                fail_msg ("record %zu of %zu has a path of %zu hashes, want %zu", i, sizes[s], got,
                          s_path_lens[k].len);
            macx_record_destroy (&rec);
            checked++;
        }
        s_taken_free (&t);
    }
    assert_int_equal (checked, sizeof s_path_lens / sizeof s_path_lens[0]);
    uint64_t verified, hits;
    macx_root_cache_counts (across, &verified, &hits);
    assert_int_equal (verified, sizeof sizes / sizeof sizes[0]);
    assert_int_equal (hits, 364 - sizeof sizes / sizeof sizes[0]);
    macx_root_cache_destroy (&across);

    /* The batch's own refusals: nothing to take before signing or past the
     * end, nothing to add once signed, nothing to sign when empty. */
    macx_error_t err = { 0 };
    uint8_t *out = (uint8_t *) 1;
    size_t len = 1;
    s_expect (macx_record_batch_take (b, 100, &out, &len, &err), &err, MACX_EINVAL,
              "no record 100 in a signed batch");
    assert_null (out);
    assert_int_equal (len, 0);
    macx_record_batch_reset (b);
    s_expect (macx_record_batch_sign (b, &err), &err, MACX_EINVAL, "batch is empty");
    s_batch_fill (b, "ogd-dwp", 2);
    s_expect (macx_record_batch_take (b, 2, &out, &len, &err), &err, MACX_EINVAL,
              "no record 2 in a signed batch");
    s_hdr_t *x = malloc (sizeof *x);
    s_hdr (x, "referral_note", 2, "ogd-dwp", s_kinds[S_NKINDS - 1].manifest);
    Macx__Payload p;
    s_payload ("referral_note", &p);
    s_expect (macx_record_batch_add (b, &x->h, &p, &err), &err, MACX_EINVAL,
              "batch is signed already");
    assert_int_equal (macx_record_batch_count (b), 2);
    /* Reset, an unsigned batch has nothing to take; a refused add leaves
     * the count as it was. */
    macx_record_batch_reset (b);
    assert_int_equal (macx_record_batch_add (b, &x->h, &p, &err), 0);
    s_expect (macx_record_batch_take (b, 0, &out, &len, &err), &err, MACX_EINVAL,
              "no record 0 in a signed batch");
    s_hdr (x, "referral_note", 2, "ogd-nope", s_kinds[S_NKINDS - 1].manifest);
    s_expect (macx_record_batch_add (b, &x->h, &p, &err), &err, MACX_EUNKNOWN,
              "recipient 'ogd-nope' is not a registered agency");
    assert_int_equal (macx_record_batch_count (b), 1);
    free (x);
    macx_record_batch_destroy (&b);
}

/* The largest batch: 4096 records, paths of 12 hashes, and no 4097th. */
static void
test_batch_limits (void **state)
{
    (void) state;
    macx_record_batch_t *b = macx_record_batch_new (s_me ("mi5"), s_fx->reg);
    s_batch_fill (b, "ogd-dwp", MACX_BATCH_MAX);
    s_hdr_t *x = malloc (sizeof *x);
    s_hdr (x, "referral_note", 2, "ogd-dwp", s_kinds[S_NKINDS - 1].manifest);
    Macx__Payload p;
    s_payload ("referral_note", &p);
    macx_root_cache_t *cache = macx_root_cache_new ();
    static const size_t picks[] = { 0, 1, 2047, 2048, 4094, 4095 };
    for (size_t k = 0; k < sizeof picks / sizeof picks[0]; k++) {
        uint8_t *buf = NULL;
        size_t len;
        assert_int_equal (macx_record_batch_take (b, picks[k], &buf, &len, NULL), 0);
        macx_record_t *rec = NULL;
        macx_error_t err = { 0 };
        if (macx_record_open_cached (s_me ("ogd-dwp"), s_fx->reg, cache, buf, len, &rec, &err))
            fail_msg ("record %zu of 4096 refused: %s", picks[k], err.msg);
        assert_int_equal (macx_record_envelope (rec)->batch->n_path, MACX_BATCH_PATH_MAX);
        assert_int_equal (macx_record_envelope (rec)->batch->count, MACX_BATCH_MAX);
        macx_record_destroy (&rec);
        free (buf);
    }
    uint64_t verified, hits;
    macx_root_cache_counts (cache, &verified, &hits);
    assert_int_equal (verified, 1);
    assert_int_equal (hits, 5);
    macx_root_cache_destroy (&cache);
    macx_record_batch_reset (b);
    for (size_t i = 0; i < MACX_BATCH_MAX; i++) {
        s_hdr (x, "referral_note", 2, "ogd-dwp", s_kinds[S_NKINDS - 1].manifest);
        assert_int_equal (macx_record_batch_add (b, &x->h, &p, NULL), 0);
    }
    macx_error_t err = { 0 };
    s_expect (macx_record_batch_add (b, &x->h, &p, &err), &err, MACX_ELIMIT,
              "a batch holds at most 4096 records");
    assert_int_equal (macx_record_batch_count (b), MACX_BATCH_MAX);
    free (x);
    macx_record_batch_destroy (&b);
}

/* Paths that do not lead to the root: a hash changed or replaced, another
 * index claimed, another batch's proof pasted on, a hash too few or too
 * many. */
static void
test_batch_forged_path (void **state)
{
    (void) state;
    s_taken_t a, b;
    s_sealed_batch ("mi5", "ogd-dwp", 5, &a);
    s_sealed_batch ("mi5", "ogd-dwp", 5, &b);
    static const char path_msg[] = "its inclusion path does not lead to the root it names";
    uint8_t other[S_H];
    randombytes_buf (other, sizeof other);
    for (size_t i = 0; i < a.n; i++) {
        Macx__Envelope *env = s_unpack (a.buf[i], a.len[i]);
        Macx__BatchProof *p = env->batch;
        s_accept_env (env);
        assert_true (p->n_path >= 1);
        for (size_t k = 0; k < p->n_path; k++) {
            p->path[k].data[7] ^= 0x20;
            s_expect_env (env, MACX_EBATCHPATH, path_msg);
            p->path[k].data[7] ^= 0x20;
            uint8_t *was = p->path[k].data;
            p->path[k].data = other;
            s_expect_env (env, MACX_EBATCHPATH, path_msg);
            p->path[k].data = was;
        }
        /* Paths reordered (where there are two hashes to swap). */
        if (p->n_path >= 2) {
            ProtobufCBinaryData t0 = p->path[0];
            p->path[0] = p->path[1];
            p->path[1] = t0;
            s_expect_env (env, MACX_EBATCHPATH, path_msg);
            p->path[1] = p->path[0];
            p->path[0] = t0;
        }
        /* The root itself changed: the path leads elsewhere. */
        p->root.data[0] ^= 0x01;
        s_expect_env (env, MACX_EBATCHPATH, path_msg);
        p->root.data[0] ^= 0x01;
        /* The same record and path claiming every other index. */
        for (uint32_t j = 0; j < p->count; j++) {
            if (j == i)
                continue;
            p->index = j;
            s_expect_env (env, MACX_EBATCHPATH, path_msg);
        }
        p->index = (uint32_t) i;
        /* A hash short: the last, or the first, left off. */
        size_t n = p->n_path;
        p->n_path = n - 1;
        s_expect_env (env, MACX_EBATCHPATH, path_msg);
        p->path++;
        s_expect_env (env, MACX_EBATCHPATH, path_msg);
        p->path--;
        p->n_path = n;
        /* A hash more, after or before the others. */
        ProtobufCBinaryData longer[MACX_BATCH_PATH_MAX];
        memcpy (longer, p->path, n * sizeof *longer);
        longer[n] = (ProtobufCBinaryData) { S_H, other };
        ProtobufCBinaryData *was = p->path;
        p->path = longer;
        p->n_path = n + 1;
        s_expect_env (env, MACX_EBATCHPATH, path_msg);
        memmove (longer + 1, longer, n * sizeof *longer);
        longer[0] = (ProtobufCBinaryData) { S_H, other };
        s_expect_env (env, MACX_EBATCHPATH, path_msg);
        p->path = was;
        p->n_path = n;
        s_accept_env (env);   /* everything put back */

        /* Cut and pasted: this record's envelope, batch b's proof for the
         * same position and for every other one. */
        for (size_t j = 0; j < b.n; j++) {
            Macx__Envelope *benv = s_unpack (b.buf[j], b.len[j]);
            env->batch = benv->batch;
            s_expect_env (env, MACX_EBATCHPATH, path_msg);
            env->batch = p;
            s_accept_env (benv);
            macx__envelope__free_unpacked (benv, NULL);
        }
        /* Or the proof of another record of its own batch. */
        for (size_t j = 0; j < a.n; j++) {
            if (j == i)
                continue;
            Macx__Envelope *aenv = s_unpack (a.buf[j], a.len[j]);
            env->batch = aenv->batch;
            s_expect_env (env, MACX_EBATCHPATH, path_msg);
            env->batch = p;
            macx__envelope__free_unpacked (aenv, NULL);
        }
        macx__envelope__free_unpacked (env, NULL);
    }

    /* The path walk on its own refuses what cannot fit together. */
    uint8_t digest[64] = { 0 }, root[S_H];
    ProtobufCBinaryData path[MACX_BATCH_PATH_MAX + 1];
    for (size_t k = 0; k <= MACX_BATCH_PATH_MAX; k++)
        path[k] = (ProtobufCBinaryData) { S_H, other };
    assert_int_equal (macx_batch_root_from_path (digest, 0, 1, path, 0, root), 0);
    uint8_t leaf[S_H];
    s_rfc_leaf (digest, leaf);
    assert_memory_equal (root, leaf, S_H);   /* one record: the root is its leaf */
    assert_int_equal (macx_batch_root_from_path (digest, 0, 0, path, 0, root), MACX_EBATCHPATH);
    assert_int_equal (macx_batch_root_from_path (digest, 1, 1, path, 0, root), MACX_EBATCHPATH);
    assert_int_equal (macx_batch_root_from_path (digest, 5, 5, path, 1, root), MACX_EBATCHPATH);
    assert_int_equal (macx_batch_root_from_path (digest, 0, 1, path, 1, root), MACX_EBATCHPATH);
    assert_int_equal (macx_batch_root_from_path (digest, 0, 2, path, 0, root), MACX_EBATCHPATH);
    assert_int_equal (macx_batch_root_from_path (digest, 0, 2, path, 1, root), 0);
    assert_int_equal (macx_batch_root_from_path (digest, 0, 2, path, 2, root), MACX_EBATCHPATH);
    assert_int_equal (macx_batch_root_from_path (digest, 4, 5, path, 1, root), 0);
    assert_int_equal (macx_batch_root_from_path (digest, 4, 5, path, 3, root), MACX_EBATCHPATH);
    assert_int_equal (macx_batch_root_from_path (digest, 0, 5, path, 3, root), 0);
    assert_int_equal (macx_batch_root_from_path (digest, 0, 5, path, 2, root), MACX_EBATCHPATH);
    assert_int_equal (macx_batch_root_from_path (digest, 0, 4096, path, 12, root), 0);
    assert_int_equal (macx_batch_root_from_path (digest, 0, 4096, path, 11, root), MACX_EBATCHPATH);
    assert_int_equal (macx_batch_root_from_path (digest, 0, 4096, path, 13, root), MACX_EBATCHPATH);
    path[1].len = S_H - 1;
    assert_int_equal (macx_batch_root_from_path (digest, 0, 5, path, 3, root), MACX_EBATCHPATH);
    s_taken_free (&b);
    s_taken_free (&a);
}

/* A root signed by another agency than the record's sender, whatever that
 * agency's signature is worth. */
static void
test_batch_foreign_root (void **state)
{
    (void) state;
    s_taken_t t, c;
    s_sealed_batch ("mi5", "ogd-dwp", 3, &t);
    s_sealed_batch ("ctp", "ogd-dwp", 3, &c);
    Macx__Envelope *env = s_unpack (t.buf[1], t.len[1]);
    Macx__BatchProof *p = env->batch;
    /* The control: mi5's head signed again by mi5 (Ed25519 is deterministic)
     * gives the very signature the batch carries, so the layout copied above
     * is batch.c's. */
    uint8_t head[64], sig[MACX_SIG_BYTES];
    s_head_digest ("mi5", p->count, p->root.data, head);
    assert_int_equal (macx_identity_sign (s_me ("mi5"), head, sizeof head, sig), 0);
    assert_memory_equal (sig, p->signature.data, MACX_SIG_BYTES);
    uint8_t *was = p->signature.data;
    p->signature.data = sig;
    s_accept_env (env);

    /* ctp signs a correct tree head of mi5's records as its own. */
    s_head_digest ("ctp", p->count, p->root.data, head);
    assert_int_equal (macx_identity_sign (s_me ("ctp"), head, sizeof head, sig), 0);
    char *signer = p->signer;   /* unpack's, put back before it is freed */
    p->signer = "ctp";
    s_expect_env (env, MACX_EFOREIGNROOT,
                  "batch root is signed by 'ctp', but the record's sender is 'mi5'");
    /* Named as ctp's with mi5's own signature; named as ogd-dwp's, the
     * recipient's; named as an agency nobody registered. */
    p->signature.data = was;
    s_expect_env (env, MACX_EFOREIGNROOT, "batch root is signed by 'ctp'");
    p->signer = "ogd-dwp";
    s_expect_env (env, MACX_EFOREIGNROOT, "batch root is signed by 'ogd-dwp'");
    p->signer = "nobody";
    s_expect_env (env, MACX_EFOREIGNROOT, "batch root is signed by 'nobody'");
    /* Named as mi5's but signed by ctp: a bad signature from mi5. */
    p->signer = signer;
    s_head_digest ("mi5", p->count, p->root.data, head);
    assert_int_equal (macx_identity_sign (s_me ("ctp"), head, sizeof head, sig), 0);
    p->signature.data = sig;
    s_expect_env (env, MACX_EBADSIG, "bad batch signature from mi5");
    p->signature.data = was;

    /* A whole proof from ctp's own batch, good for ctp's records, pasted on
     * mi5's record. */
    Macx__Envelope *cenv = s_unpack (c.buf[1], c.len[1]);
    assert_string_equal (cenv->batch->signer, "ctp");
    s_accept_env (cenv);
    env->batch = cenv->batch;
    s_expect_env (env, MACX_EFOREIGNROOT,
                  "batch root is signed by 'ctp', but the record's sender is 'mi5'");
    env->batch = p;
    s_accept_env (env);
    macx__envelope__free_unpacked (cenv, NULL);
    macx__envelope__free_unpacked (env, NULL);
    s_taken_free (&c);
    s_taken_free (&t);
}

/* A root whose signature does not verify, with and without a cache that
 * holds the same root with its good signature. */
static void
test_batch_bad_signature (void **state)
{
    (void) state;
    s_taken_t t;
    s_sealed_batch ("mi5", "ogd-dwp", 4, &t);
    Macx__Envelope *env = s_unpack (t.buf[1], t.len[1]);
    env->batch->signature.data[5] ^= 0x10;
    s_expect_env (env, MACX_EBADSIG, "bad batch signature from mi5");
    size_t badlen;
    uint8_t *bad = s_pack (env, &badlen);
    env->batch->signature.data[5] ^= 0x10;
    s_accept_env (env);
    env->batch->signature.data[63] ^= 0x80;
    size_t bad2len;
    uint8_t *bad2 = s_pack (env, &bad2len);
    env->batch->signature.data[63] ^= 0x80;

    macx_root_cache_t *cache = macx_root_cache_new ();
    macx_record_t *rec = NULL;
    macx_error_t err = { 0 };
    assert_int_equal (macx_record_open_cached (s_me ("ogd-dwp"), s_fx->reg, cache, t.buf[0],
                                               t.len[0], &rec, &err), 0);
    macx_record_destroy (&rec);
    uint64_t verified, hits;
    macx_root_cache_counts (cache, &verified, &hits);
    assert_int_equal (verified, 1);
    assert_int_equal (hits, 0);
    /* Same root, same path as a good record, signature flipped: the cache
     * has the root, but keyed on its signature as well, so this is checked
     * and refused; twice, so the refusal is not remembered as a pass. */
    for (int round = 0; round < 2; round++) {
        s_expect (macx_record_open_cached (s_me ("ogd-dwp"), s_fx->reg, cache, bad, badlen, &rec,
                                           &err), &err, MACX_EBADSIG, "bad batch signature from mi5");
        assert_null (rec);
        s_expect (macx_record_open_cached (s_me ("ogd-dwp"), s_fx->reg, cache, bad2, bad2len, &rec,
                                           &err), &err, MACX_EBADSIG, "bad batch signature from mi5");
        assert_int_equal (macx_record_decode (bad, badlen, &rec, &err), 0);
        s_expect (macx_record_check_signature_cached (s_fx->reg, cache, rec, &err), &err,
                  MACX_EBADSIG, "bad batch signature from mi5");
        assert_int_equal (macx_record_verified (rec), 0);
        macx_record_destroy (&rec);
    }
    macx_root_cache_counts (cache, &verified, &hits);
    assert_int_equal (hits, 0);
    assert_int_equal (verified, 7);
    /* The good records still open, good after bad. */
    for (size_t i = 0; i < t.n; i++) {
        assert_int_equal (macx_record_open_cached (s_me ("ogd-dwp"), s_fx->reg, cache, t.buf[i],
                                                   t.len[i], &rec, &err), 0);
        macx_record_destroy (&rec);
    }
    s_expect (macx_record_open_cached (s_me ("ogd-dwp"), s_fx->reg, cache, bad, badlen, &rec,
                                       &err), &err, MACX_EBADSIG, "bad batch signature from mi5");
    macx_root_cache_destroy (&cache);
    free (bad2);
    free (bad);
    macx__envelope__free_unpacked (env, NULL);
    s_taken_free (&t);
}

/* Proofs of the wrong shape are refused at decode, before any hashing or
 * signature check. */
static void
test_batch_shape (void **state)
{
    (void) state;
    s_taken_t t;
    s_sealed_batch ("mi5", "ogd-dwp", 5, &t);
    Macx__Envelope *env = s_unpack (t.buf[0], t.len[0]);
    Macx__BatchProof *p = env->batch;
    assert_int_equal (p->n_path, 3);
    s_accept_env (env);

    p->count = 0;
    s_expect_env (env, MACX_EDECODE, "batch of 0 records: want 1 to 4096");
    p->count = MACX_BATCH_MAX + 1;
    s_expect_env (env, MACX_EDECODE, "batch of 4097 records: want 1 to 4096");
    p->count = UINT32_MAX;
    s_expect_env (env, MACX_EDECODE, "batch of 4294967295 records");
    p->count = MACX_BATCH_MAX;   /* the limit is a shape; the path is then wrong */
    s_expect_env (env, MACX_EBATCHPATH, "does not lead to the root");
    p->count = 5;
    p->index = 5;
    s_expect_env (env, MACX_EDECODE, "batch index 5 is not below its count 5");
    p->index = UINT32_MAX;
    s_expect_env (env, MACX_EDECODE, "batch index 4294967295 is not below its count 5");
    p->index = 0;

    uint8_t big[2 * MACX_SIG_BYTES] = { 0 };
    uint8_t *root = p->root.data;
    p->root.len = S_H - 1;
    s_expect_env (env, MACX_EDECODE, "batch root is 31 bytes, want 32");
    p->root.len = 0;
    s_expect_env (env, MACX_EDECODE, "batch root is 0 bytes, want 32");
    p->root = (ProtobufCBinaryData) { S_H + 1, big };
    s_expect_env (env, MACX_EDECODE, "batch root is 33 bytes, want 32");
    p->root = (ProtobufCBinaryData) { S_H, root };

    uint8_t *sig = p->signature.data;
    p->signature.len = MACX_SIG_BYTES - 1;
    s_expect_env (env, MACX_EDECODE, "batch signature is 63 bytes, want 64");
    p->signature.len = 0;
    s_expect_env (env, MACX_EDECODE, "batch signature is 0 bytes, want 64");
    p->signature = (ProtobufCBinaryData) { MACX_SIG_BYTES + 1, big };
    s_expect_env (env, MACX_EDECODE, "batch signature is 65 bytes, want 64");
    p->signature = (ProtobufCBinaryData) { MACX_SIG_BYTES, sig };

    /* Both a record signature and a batch proof; neither. */
    env->signature = (ProtobufCBinaryData) { MACX_SIG_BYTES, sig };
    s_expect_env (env, MACX_EDECODE, "envelope has both a signature and a batch proof");
    env->signature = (ProtobufCBinaryData) { 0, NULL };
    env->batch = NULL;
    s_expect_env (env, MACX_EDECODE, "envelope signature is 0 bytes, want 64");
    env->batch = p;

    /* 12 hashes is a shape decode lets through (and the path is wrong),
     * 13 is not. */
    ProtobufCBinaryData path[MACX_BATCH_PATH_MAX + 1];
    ProtobufCBinaryData *was = p->path;
    size_t nwas = p->n_path;
    for (size_t k = 0; k <= MACX_BATCH_PATH_MAX; k++)
        path[k] = (ProtobufCBinaryData) { S_H, big };
    p->path = path;
    p->n_path = MACX_BATCH_PATH_MAX;
    s_expect_env (env, MACX_EBATCHPATH, "does not lead to the root");
    p->n_path = MACX_BATCH_PATH_MAX + 1;
    s_expect_env (env, MACX_EDECODE, "batch path of 13 hashes, at most 12");
    p->n_path = 3;
    memcpy (path, was, 3 * sizeof *path);
    s_accept_env (env);
    path[1].len = S_H - 1;
    s_expect_env (env, MACX_EDECODE, "batch path hash 1 is 31 bytes, want 32");
    path[1].len = 0;
    s_expect_env (env, MACX_EDECODE, "batch path hash 1 is 0 bytes, want 32");
    path[1] = (ProtobufCBinaryData) { S_H + 1, big };
    s_expect_env (env, MACX_EDECODE, "batch path hash 1 is 33 bytes, want 32");
    p->path = was;
    p->n_path = nwas;

    char *signer = p->signer;
    p->signer = "";
    s_expect_env (env, MACX_EDECODE, "batch proof names no signer");
    p->signer = signer;
    s_accept_env (env);
    macx__envelope__free_unpacked (env, NULL);
    s_taken_free (&t);
}

static size_t
s_varint (uint64_t v, uint8_t *out)
{
    size_t n = 0;
    do {
        out[n] = (uint8_t) (v & 0x7f);
        v >>= 7;
        if (v)
            out[n] |= 0x80;
        n++;
    } while (v);
    return n;
}

/* The envelope packed without its proof, then the proof (field 7, the
 * last) packed by hand with `extra` appended inside it. */
static uint8_t *
s_pack_extra (Macx__Envelope *env, const uint8_t *extra, size_t extra_len, size_t *len)
{
    Macx__BatchProof *p = env->batch;
    size_t plen = macx__batch_proof__get_packed_size (p);
    size_t inner = plen + extra_len;
    env->batch = NULL;
    size_t elen = macx__envelope__get_packed_size (env);
    uint8_t *out = malloc (elen + 1 + 10 + inner);
    assert_non_null (out);
    macx__envelope__pack (env, out);
    env->batch = p;
    size_t at = elen;
    out[at++] = (7 << 3) | 2;
    at += s_varint (inner, out + at);
    macx__batch_proof__pack (p, out + at);
    if (extra_len)
        memcpy (out + at + plen, extra, extra_len);
    *len = at + inner;
    return out;
}

/* Bytes the schema does not know inside a proof, and a proof that is not
 * canonically encoded, are refused: the proof is outside the record's
 * signed digest, so anything else in it would ride along unchecked. */
static void
test_batch_unknown_fields (void **state)
{
    (void) state;
    s_taken_t t;
    s_sealed_batch ("mi5", "ogd-dwp", 3, &t);
    Macx__Envelope *env = s_unpack (t.buf[0], t.len[0]);
    /* The control: by hand with nothing extra is what protobuf-c packs. */
    size_t len;
    uint8_t *buf = s_pack_extra (env, NULL, 0, &len);
    assert_int_equal (len, t.len[0]);
    assert_memory_equal (buf, t.buf[0], len);
    free (buf);

    static const char text[] = "clear text riding along unsigned!!";
    uint8_t extra[3 + sizeof text - 1] = { 0xf2, 0x01, sizeof text - 1 };
    memcpy (extra + 3, text, sizeof text - 1);
    buf = s_pack_extra (env, extra, sizeof extra, &len);
    s_expect_verify (s_fx->reg, buf, len, MACX_EDECODE,
                     "record envelope carries a field macx does not know (field 30");
    s_expect_open ("ogd-dwp", buf, len, MACX_EDECODE, "carries a field macx does not know");
    macx_record_t *rec = (macx_record_t *) 1;
    macx_error_t err = { 0 };
    s_expect (macx_record_decode (buf, len, &rec, &err), &err, MACX_EDECODE,
              "carries a field macx does not know (field 30");
    assert_null (rec);
    free (buf);
    /* field 9, a varint */
    const uint8_t varint[] = { (9 << 3) | 0, 1 };
    buf = s_pack_extra (env, varint, sizeof varint, &len);
    s_expect_verify (s_fx->reg, buf, len, MACX_EDECODE,
                     "record envelope carries a field macx does not know (field 9");
    free (buf);
    /* count (field 3) again, same value: decodes to the same proof, but is
     * not the canonical encoding */
    uint8_t again[2] = { (3 << 3) | 0, (uint8_t) env->batch->count };
    buf = s_pack_extra (env, again, sizeof again, &len);
    s_expect_verify (s_fx->reg, buf, len, MACX_EDECODE, "record envelope is not canonically encoded");
    free (buf);
    /* index 0 written out although 0 is the default */
    const uint8_t zero[] = { (2 << 3) | 0, 0 };
    buf = s_pack_extra (env, zero, sizeof zero, &len);
    s_expect_verify (s_fx->reg, buf, len, MACX_EDECODE, "record envelope is not canonically encoded");
    free (buf);
    /* a path hash more, appended after the signature field: out of order */
    uint8_t hash[2 + S_H] = { (5 << 3) | 2, S_H };
    memcpy (hash + 2, env->batch->path[0].data, S_H);
    buf = s_pack_extra (env, hash, sizeof hash, &len);
    s_expect_verify (s_fx->reg, buf, len, MACX_EDECODE, "record envelope is not canonically encoded");
    free (buf);
    macx__envelope__free_unpacked (env, NULL);
    s_taken_free (&t);
}

/* A revoked sender is refused before its proof is looked at, even with its
 * root in the cache. */
static void
test_batch_revoked_sender (void **state)
{
    (void) state;
    char *dir = s_tmpdir ();
    assert_int_equal (macx_keys_generate (dir, "mi5", test_kind ("mi5"), NULL), 0);
    assert_int_equal (macx_keys_generate (dir, "ogd-dwp", test_kind ("ogd-dwp"), NULL), 0);
    macx_registry_t *reg = macx_registry_load (dir, NULL);
    macx_identity_t *mi5 = macx_identity_load (dir, "mi5", NULL);
    macx_identity_t *dwp = macx_identity_load (dir, "ogd-dwp", NULL);
    assert_non_null (reg);
    assert_non_null (mi5);
    assert_non_null (dwp);
    macx_record_batch_t *b = macx_record_batch_new (mi5, reg);
    s_batch_fill (b, "ogd-dwp", 4);
    s_taken_t t;
    s_batch_take (b, &t);
    macx_record_batch_destroy (&b);
    macx_root_cache_t *cache = macx_root_cache_new ();
    macx_record_t *rec = NULL;
    macx_error_t err = { 0 };
    assert_int_equal (macx_record_open_cached (dwp, reg, cache, t.buf[0], t.len[0], &rec, &err), 0);
    macx_record_destroy (&rec);

    /* Revoked in this very registry (what a reload that finds it revoked
     * amounts to, with the agency's entry where the cache saw it): the root
     * is in the cache, and is not consulted. */
    macx_agency_t *a = (macx_agency_t *) macx_registry_find (reg, "mi5");
    a->revoked = true;
    for (size_t i = 0; i < t.n; i++) {
        s_expect (macx_record_open_cached (dwp, reg, cache, t.buf[i], t.len[i], &rec, &err), &err,
                  MACX_EREVOKED, "sender 'mi5' is revoked");
        assert_null (rec);
        s_expect_verify (reg, t.buf[i], t.len[i], MACX_EREVOKED, "sender 'mi5' is revoked");
        assert_int_equal (macx_record_decode (t.buf[i], t.len[i], &rec, NULL), 0);
        s_expect (macx_record_check_signature_cached (reg, cache, rec, &err), &err, MACX_EREVOKED,
                  "sender 'mi5' is revoked");
        assert_int_equal (macx_record_verified (rec), 0);
        macx_record_destroy (&rec);
    }
    uint64_t verified, hits;
    macx_root_cache_counts (cache, &verified, &hits);
    assert_int_equal (verified, 1);
    assert_int_equal (hits, 0);
    /* The control: not revoked, the cache does hold the root. */
    a->revoked = false;
    assert_int_equal (macx_record_open_cached (dwp, reg, cache, t.buf[1], t.len[1], &rec, &err), 0);
    macx_record_destroy (&rec);
    macx_root_cache_counts (cache, &verified, &hits);
    assert_int_equal (verified, 1);
    assert_int_equal (hits, 1);

    /* Revoked on disk, the registry reloaded. */
    assert_int_equal (macx_keys_revoke (dir, "mi5", "test", &err), 0);
    macx_registry_t *again = macx_registry_load (dir, NULL);
    assert_non_null (again);
    for (size_t i = 0; i < t.n; i++) {
        s_expect (macx_record_open_cached (dwp, again, cache, t.buf[i], t.len[i], &rec, &err),
                  &err, MACX_EREVOKED, "sender 'mi5' is revoked");
        s_expect_verify (again, t.buf[i], t.len[i], MACX_EREVOKED, "sender 'mi5' is revoked");
    }
    macx_registry_destroy (&again);
    macx_root_cache_destroy (&cache);
    s_taken_free (&t);
    macx_identity_destroy (&dwp);
    macx_identity_destroy (&mi5);
    macx_registry_destroy (&reg);
    s_rmrf (&dir);
}

static void
test_batch_every_bit_flip (void **state)
{
    (void) state;
    s_taken_t t;
    s_sealed_batch ("mi5", "ogd-dwp", 3, &t);
    /* Record 0 has two path hashes, record 2 (the last, carried up) one.
     * The cache holds the batch's good root throughout. */
    macx_root_cache_t *cache = macx_root_cache_new ();
    for (size_t i = 0; i < t.n; i++) {
        macx_record_t *rec = NULL;
        assert_int_equal (macx_record_open_cached (s_me ("ogd-dwp"), s_fx->reg, cache, t.buf[i],
                                                   t.len[i], &rec, NULL), 0);
        macx_record_destroy (&rec);
    }
    static const size_t which[] = { 0, 2 };
    for (size_t w = 0; w < 2; w++) {
        size_t i = which[w];
        assert_true (t.len[i] < 640);
        int by_code[-MACX_ECODE_MIN + 1] = { 0 };
        s_every_bit_flip (t.buf[i], t.len[i], "ogd-dwp", cache, by_code);
        assert_true (by_code[-MACX_EBATCHPATH] > 0);     /* header, ciphertext, path, root */
        assert_true (by_code[-MACX_EFOREIGNROOT] > 0);   /* the signer's name */
    }
    macx_root_cache_destroy (&cache);
    s_taken_free (&t);
}

/* ---- header checks ------------------------------------------------------ */

static void
s_good_header (s_hdr_t *x)
{
    s_forge_hdr (x, "case_file", 1, "ctp,ogd-dwp", "subject_name,dob:year_only");
}

static void
s_header_error (s_hdr_t *x, int code, const char *msg)
{
    macx_error_t err = { 0 };
    s_expect (macx_record_check_header (&x->h, &err), &err, code, msg);
    s_good_header (x);
}

static void
test_check_header (void **state)
{
    (void) state;
    s_hdr_t *x = malloc (sizeof *x);
    s_good_header (x);
    assert_int_equal (macx_record_check_header (&x->h, NULL), 0);

    x->h.recipients[1] = "ctp";
    s_header_error (x, MACX_EHEADER, "recipient 'ctp' is listed twice");
    x->h.sequence = 0;
    s_header_error (x, MACX_EHEADER, "header sequence must start at 1");
    x->h.phase = 0;
    s_header_error (x, MACX_EHEADER, "header phase 0 is not a MAC phase");
    x->h.phase = 6;
    s_header_error (x, MACX_EHEADER, "header phase 6 is not a MAC phase");
    x->h.case_phase = 6;
    s_header_error (x, MACX_EHEADER, "header case phase 6 is not a MAC phase");
    x->h.case_phase = -1;
    s_header_error (x, MACX_EHEADER, "header case phase -1 is not a MAC phase");
    x->h.version = 0;
    s_header_error (x, MACX_EVERSION, "header version 0 is not supported (want 1)");
    x->h.record_id.len = 15;
    s_header_error (x, MACX_EHEADER, "record id is 15 bytes, want 16");
    x->h.sender = "MI5";
    s_header_error (x, MACX_EHEADER, "header sender: agency id 'MI5'");
    x->h.sender = "";
    s_header_error (x, MACX_EHEADER, "header sender");
    x->h.n_recipients = 0;
    s_header_error (x, MACX_EHEADER, "header names no recipient");
    x->h.recipients[0] = "ctp x";
    s_header_error (x, MACX_EHEADER, "header recipient: agency id 'ctp x'");
    x->h.subject = "";
    s_header_error (x, MACX_EHEADER, "header has no subject");
    x->h.case_id = "";
    s_header_error (x, MACX_EHEADER, "header has no case id");
    x->h.purpose = "";
    s_header_error (x, MACX_EHEADER, "header has no purpose");
    x->h.purpose = "say \"hi\"";
    s_header_error (x, MACX_EHEADER, "header purpose has a character not allowed (0x22)");
    x->h.subject = "line\nbreak";
    s_header_error (x, MACX_EHEADER, "header subject has a character not allowed (0x0a)");
    x->h.legal_basis = "caf\xc3\xa9";
    s_header_error (x, MACX_EHEADER, "header legal basis has a character not allowed (0xc3)");
    char longer[MACX_HEADER_STRING_MAX + 2];
    memset (longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    x->h.case_id = longer;
    s_header_error (x, MACX_ELIMIT, "header case id is 129 bytes, over the limit of 128");
    longer[MACX_HEADER_STRING_MAX] = '\0';
    x->h.case_id = longer;
    assert_int_equal (macx_record_check_header (&x->h, NULL), 0);
    s_good_header (x);
    x->h.record_type = "Case_File";
    s_header_error (x, MACX_EHEADER, "record type 'Case_File' may hold only a-z, 0-9, '_', '.'");
    x->h.record_type = "";
    s_header_error (x, MACX_EHEADER, "record type '' must be 1 to 64 characters");
    x->h.origin = "Not An Agency";
    s_header_error (x, MACX_EHEADER, "header origin");
    x->h.manifest[1]->name = "subject_name";
    s_header_error (x, MACX_EHEADER, "manifest lists field 'subject_name' twice");
    x->h.manifest[1]->transform = "rot13";
    s_header_error (x, MACX_EHEADER, "manifest field 'dob' has unknown transform 'rot13'");
    x->h.manifest[0]->name = "Subject";
    s_header_error (x, MACX_EHEADER, "manifest field 'Subject' may hold only");

    /* Limits: 32 recipients and 64 manifest entries are fine, one more is
     * ELIMIT. */
    char to[2048] = "";
    for (int i = 0; i < MACX_RECIPIENTS_MAX; i++)
        snprintf (to + strlen (to), sizeof to - strlen (to), "%sla-%d", i ? "," : "", i);
    s_forge_hdr (x, "note", 2, to, "a");
    assert_int_equal (macx_record_check_header (&x->h, NULL), 0);
    snprintf (to + strlen (to), sizeof to - strlen (to), ",la-x");
    s_forge_hdr (x, "note", 2, to, "a");
    s_header_error (x, MACX_ELIMIT, "header names 33 recipients, over the limit of 32");
    char fields[2048] = "";
    for (int i = 0; i < MACX_MANIFEST_MAX; i++)
        snprintf (fields + strlen (fields), sizeof fields - strlen (fields), "%sf%d", i ? "," : "", i);
    s_forge_hdr (x, "note", 2, "ctp", fields);
    assert_int_equal (macx_record_check_header (&x->h, NULL), 0);
    snprintf (fields + strlen (fields), sizeof fields - strlen (fields), ",g");
    s_forge_hdr (x, "note", 2, "ctp", fields);
    s_header_error (x, MACX_ELIMIT, "manifest lists 65 fields, over the limit of 64");
    free (x);
}

/* The sealer runs the same checks, and refuses without output. */
static void
test_seal_refuses (void **state)
{
    (void) state;
    s_hdr_t *x = malloc (sizeof *x);
    Macx__Payload p;
    s_payload ("referral_note", &p);
    const char *manifest = s_kinds[S_NKINDS - 1].manifest;
    static const struct { const char *to; uint64_t seq; int phase; int code; const char *msg; } cases[] = {
        { "ogd-dwp,ctp,ogd-dwp", 1, 2, MACX_EHEADER, "recipient 'ogd-dwp' is listed twice" },
        { "ogd-dwp", 0, 2, MACX_EHEADER, "header sequence must start at 1" },
        { "ogd-dwp", 1, 0, MACX_EHEADER, "header phase 0 is not a MAC phase" },
        { "ogd-dwp", 1, 6, MACX_EHEADER, "header phase 6 is not a MAC phase" },
        { "", 1, 2, MACX_EHEADER, "header names no recipient" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_hdr (x, "referral_note", cases[i].phase, cases[i].to, manifest);
        x->h.sequence = cases[i].seq;
        uint8_t *out = (uint8_t *) 1;
        size_t len = 1;
        macx_error_t err = { 0 };
        s_expect (macx_record_seal (s_me ("mi5"), s_fx->reg, &x->h, &p, &out, &len, &err), &err,
                  cases[i].code, cases[i].msg);
        assert_null (out);
        assert_int_equal (len, 0);
    }
    char to[2048] = "";
    for (int i = 0; i <= MACX_RECIPIENTS_MAX; i++)
        snprintf (to + strlen (to), sizeof to - strlen (to), "%sla-%d", i ? "," : "", i);
    s_hdr (x, "referral_note", 2, to, manifest);
    uint8_t *out = NULL;
    size_t len;
    macx_error_t err = { 0 };
    s_expect (macx_record_seal (s_me ("mi5"), s_fx->reg, &x->h, &p, &out, &len, &err), &err,
              MACX_ELIMIT, "header names 33 recipients, over the limit of 32");

    /* Manifest mismatches at seal time. */
    s_hdr (x, "referral_note", 2, "ogd-dwp", "reason,contact:redacted");
    s_expect (macx_record_seal (s_me ("mi5"), s_fx->reg, &x->h, &p, &out, &len, &err), &err,
              MACX_EMANIFEST, "payload carries field 'due' missing from manifest");
    s_hdr (x, "referral_note", 2, "ogd-dwp", "reason,contact:redacted,due,extra");
    s_expect (macx_record_seal (s_me ("mi5"), s_fx->reg, &x->h, &p, &out, &len, &err), &err,
              MACX_EMANIFEST, "manifest lists field 'extra' that the payload does not carry");
    s_hdr (x, "share", 2, "ogd-dwp", manifest);
    s_expect (macx_record_seal (s_me ("mi5"), s_fx->reg, &x->h, &p, &out, &len, &err), &err,
              MACX_EMANIFEST, "record type 'share' needs its typed payload, not a generic one");
    assert_null (out);
    free (x);
}

/* ---- manifest comparison and complaints ---------------------------------- */

/* The differences of d as "kind:name[:transform]" joined by spaces. */
static void
s_diff_str (const macx_manifest_diff_t *d, char *out, size_t size)
{
    static const char *const kinds[] = { "", "undeclared", "absent", "form", "not_text",
                                         "unknown" };
    out[0] = '\0';
    for (size_t i = 0; i < d->n; i++) {
        const macx_diff_entry_t *x = &d->entries[i];
        size_t at = strlen (out);
        snprintf (out + at, size - at, "%s%s:%s%s%s", i ? " " : "", kinds[x->kind], x->name,
                  x->transform[0] ? ":" : "", x->transform);
    }
}

static void
s_expect_diff (const char *type, const char *fields, const Macx__Payload *p, int want_n,
               const char *want_type, const char *want)
{
    s_hdr_t *x = malloc (sizeof *x);
    s_forge_hdr (x, type, 1, "ogd-dwp", fields);
    macx_manifest_diff_t d;
    macx_error_t err = { 0 };
    int n = macx_record_manifest_diff (&x->h, p, &d, &err);
    char got[2048];
    s_diff_str (&d, got, sizeof got);
    if (n != want_n || strcmp (got, want) != 0
        || (want_type ? !d.payload_type || strcmp (d.payload_type, want_type) != 0
                      : d.payload_type != NULL))
        fail_msg ("%s [%s]: want %d '%s' (payload %s), got %d '%s' (payload %s) %s", type, fields,
                  want_n, want, want_type ? want_type : "-", n, got,
                  d.payload_type ? d.payload_type : "-", err.msg);
    /* check_manifest agrees: refuses exactly when something differs */
    assert_int_equal (macx_record_check_manifest (&x->h, p, NULL) == MACX_OK, want_n == 0);
    free (x);
}

static void
test_manifest_diff (void **state)
{
    (void) state;
    Macx__CaseFile cf = MACX__CASE_FILE__INIT;
    Macx__Payload p = MACX__PAYLOAD__INIT;
    p.body_case = MACX__PAYLOAD__BODY_CASE_FILE;
    p.case_file = &cf;
    cf.subject_name = "Alex Example";
    cf.dob = "1990-04-12";
    cf.address = "1 High St, Leeds";
    cf.postcode = "LS11 5AB";
    /* Every difference, not the first: in payload field order, then what
     * is declared and absent. */
    s_expect_diff ("case_file", "subject_name,dob:year_only,postcode:postcode_district,closed_on",
                   &p, 4, NULL,
                   "form:dob:year_only undeclared:address form:postcode:postcode_district "
                   "absent:closed_on");
    s_expect_diff ("case_file", "subject_name,dob,address,postcode", &p, 0, NULL, "");
    s_expect_diff ("case_file", "", &p, 4, NULL,
                   "undeclared:subject_name undeclared:dob undeclared:address undeclared:postcode");
    /* Another body than the record type: it counts, and fields still compare. */
    s_expect_diff ("share", "subject_name,dob,address,postcode", &p, 1, "case_file", "");
    s_expect_diff ("share", "subject_name,kis_ref", &p, 5, "case_file",
                   "undeclared:dob undeclared:address undeclared:postcode absent:kis_ref");
    /* A transform on a number. */
    Macx__Profile pr = MACX__PROFILE__INIT;
    pr.level = 2;
    Macx__Payload pp = MACX__PAYLOAD__INIT;
    pp.body_case = MACX__PAYLOAD__BODY_PROFILE;
    pp.profile = &pr;
    s_expect_diff ("profile", "level:year_only", &pp, 1, NULL, "not_text:level:year_only");
    s_expect_diff ("profile", "level:rot13", &pp, 1, NULL, "unknown:level:rot13");
    /* A generic body for a typed type; no body at all. */
    s_text_t t;
    s_expect_diff ("case_file", "text", s_text (&t, "hello"), 1, "generic", "");
    s_expect_diff ("note", "text,extra", s_text (&t, "hello"), 1, NULL, "absent:extra");
    Macx__Payload none = MACX__PAYLOAD__INIT;
    s_expect_diff ("case_file", "subject_name,dob", &none, 3, "none",
                   "absent:subject_name absent:dob");

    /* The sentence for people (and the audit message): names, never values. */
    s_hdr_t *x = malloc (sizeof *x);
    s_forge_hdr (x, "share", 2, "ogd-dwp", "subject_name,dob:year_only,kis_ref");
    macx_manifest_diff_t d;
    assert_int_equal (macx_record_manifest_diff (&x->h, &p, &d, NULL), 5);
    char text[512];
    macx_record_manifest_diff_text (&x->h, &d, text, sizeof text);
    assert_string_equal (text, "the payload is a case_file body, not the header's share; "
                               "fields present but not declared: address, postcode; declared "
                               "but absent: kis_ref; transform mismatch: dob declared year_only "
                               "but its value has another form");
    assert_null (strstr (text, "1990"));
    char small[24];
    macx_record_manifest_diff_text (&x->h, &d, small, sizeof small);
    assert_string_equal (small, "the payload is a cas...");

    /* Over the limits: it cannot be compared. */
    char **many = calloc (MACX_PAYLOAD_REPEAT_MAX + 1, sizeof *many);
    for (int i = 0; i <= MACX_PAYLOAD_REPEAT_MAX; i++)
        many[i] = "x";
    cf.n_risk_indicators = MACX_PAYLOAD_REPEAT_MAX + 1;
    cf.risk_indicators = many;
    macx_error_t err = { 0 };
    s_forge_hdr (x, "case_file", 1, "ogd-dwp", "subject_name");
    s_expect (macx_record_manifest_diff (&x->h, &p, &d, &err), &err, MACX_ELIMIT,
              "repeats 1025 times");
    free (many);
    free (x);
}

/* A case_file from mi5 to ogd-dwp (and la-london) that carries an address
 * its manifest does not declare and a full date declared year_only. */
static uint8_t *
s_lying (size_t *len, bool honest)
{
    s_hdr_t *x = malloc (sizeof *x);
    s_hdr (x, "case_file", 1, "ogd-dwp,la-london",
           honest ? "subject_name,dob,address" : "subject_name,dob:year_only");
    Macx__CaseFile cf = MACX__CASE_FILE__INIT;
    cf.subject_name = "Alex Example";
    cf.dob = "1990-04-12";
    cf.address = "1 High St, Leeds";
    Macx__Payload p = MACX__PAYLOAD__INIT;
    p.body_case = MACX__PAYLOAD__BODY_CASE_FILE;
    p.case_file = &cf;
    uint8_t *out = NULL;
    macx_error_t err = { 0 };
    /* the sealer itself refuses to lie */
    if (!honest)
        s_expect (macx_record_seal (s_me ("mi5"), s_fx->reg, &x->h, &p, &out, len, &err), &err,
                  MACX_EMANIFEST, "year_only");
    int rc = macx_record_seal_forged (s_me ("mi5"), s_fx->reg, &x->h, &p, &out, len, &err);
    if (rc)
        fail_msg ("forged seal failed: %s", err.msg);
    free (x);
    return out;
}

static void
s_expect_check (const char *peer, const uint8_t *buf, size_t len, macx_complaint_verdict_t want,
                int code, const char *substring)
{
    macx_complaint_check_t c;
    macx_record_complaint_check (s_fx->reg, peer, buf, len, &c);
    if (c.verdict != want || c.why.code != code || !strstr (c.why.msg, substring))
        fail_msg ("want verdict %d (%s '%s'), got %d (%s '%s')", want, macx_errname (code),
                  substring, c.verdict, macx_errname (c.why.code), c.why.msg);
    macx_record_complaint_check_clear (&c);
}

/* A complaint as its fields, with the signature made over them by `as`. */
static uint8_t *
s_complaint (const char *as, const uint8_t *env, size_t envlen, const uint8_t *key,
             size_t *len)
{
    uint8_t *out = NULL;
    assert_int_equal (macx_record_complaint_sign (s_me (as), env, envlen, key, 1700000000000,
                                                  &out, len, NULL), 0);
    return out;
}

static void
test_complaint (void **state)
{
    (void) state;
    size_t len, hlen, clen;
    uint8_t *lie = s_lying (&len, false), *honest = s_lying (&hlen, true), *c = NULL;
    s_expect_open ("ogd-dwp", lie, len, MACX_EMANIFEST,
                   "field 'dob' is declared year_only but its value does not have that form");

    /* The recipient's complaint is upheld, naming every difference. */
    macx_error_t err = { 0 };
    assert_int_equal (macx_record_complaint_make (s_me ("ogd-dwp"), s_fx->reg, lie, len,
                                                  1700000000000, &c, &clen, &err), 0);
    macx_complaint_check_t k;
    macx_record_complaint_check (s_fx->reg, "ogd-dwp", c, clen, &k);
    assert_int_equal (k.verdict, MACX_COMPLAINT_UPHELD);
    assert_false (k.broken);
    char got[512];
    s_diff_str (&k.diff, got, sizeof got);
    assert_string_equal (got, "form:dob:year_only undeclared:address");
    assert_string_equal (macx_record_header (k.record)->sender, "mi5");
    assert_int_equal (macx_record_verified (k.record), 1);
    assert_int_equal (k.complaint->content_key.len, MACX_CONTENT_KEY_BYTES);
    macx_record_complaint_check_clear (&k);
    assert_null (k.record);
    /* Signed by the complainant over all of it: any byte changed is refused. */
    size_t refused = 0, flips = 0;
    for (size_t i = 0; i < clen; i += 7, flips++) {
        c[i] ^= 0x20;
        macx_record_complaint_check (s_fx->reg, "ogd-dwp", c, clen, &k);
        refused += k.verdict == MACX_COMPLAINT_REFUSED;
        macx_record_complaint_check_clear (&k);
        c[i] ^= 0x20;
    }
    assert_int_equal (refused, flips);
    /* Over another agency's connection. */
    s_expect_check ("la-london", c, clen, MACX_COMPLAINT_REFUSED, MACX_EPROTO,
                    "complaint names complainant 'ogd-dwp' but the connection is authenticated "
                    "as 'la-london'");
    c[clen - 1] ^= 0x01;   /* the signature is the last field */
    s_expect_check ("ogd-dwp", c, clen, MACX_COMPLAINT_REFUSED, MACX_EBADSIG,
                    "bad complaint signature from ogd-dwp");
    macx_record_complaint_free (&c, clen);
    assert_null (c);
    s_expect_check ("ogd-dwp", (const uint8_t *) "junk", 4, MACX_COMPLAINT_REFUSED, MACX_EDECODE,
                    "complaint does not decode");

    /* A wrong key, well signed: the record is genuine, the key does not open it. */
    uint8_t key[MACX_CONTENT_KEY_BYTES];
    randombytes_buf (key, sizeof key);
    c = s_complaint ("ogd-dwp", lie, len, key, &clen);
    s_expect_check ("ogd-dwp", c, clen, MACX_COMPLAINT_KEY_INVALID, MACX_EDECRYPT,
                    "the content key given does not open the payload of the record from mi5");
    macx_record_complaint_free (&c, clen);
    /* The sender's signature altered: not the sender's record. */
    uint8_t *bent = malloc (len);
    memcpy (bent, lie, len);
    bent[len - 1] ^= 0x01;
    assert_int_equal (macx_record_content_key (s_me ("ogd-dwp"), s_fx->reg, lie, len, key, NULL), 0);
    c = s_complaint ("ogd-dwp", bent, len, key, &clen);
    s_expect_check ("ogd-dwp", c, clen, MACX_COMPLAINT_REFUSED, MACX_EBADSIG,
                    "the complaint's record is not its sender's: bad signature from mi5");
    macx_record_complaint_free (&c, clen);
    free (bent);
    /* The real key of an honest record: unfounded. The recipient's own
     * code will not make such a complaint. */
    assert_int_equal (macx_record_content_key (s_me ("la-london"), s_fx->reg, honest, hlen, key,
                                               NULL), 0);
    c = s_complaint ("la-london", honest, hlen, key, &clen);
    s_expect_check ("la-london", c, clen, MACX_COMPLAINT_UNFOUNDED, 0, "");
    macx_record_complaint_free (&c, clen);
    s_expect (macx_record_complaint_make (s_me ("la-london"), s_fx->reg, honest, hlen, 1, &c,
                                          &clen, &err), &err, MACX_EINVAL,
              "nothing to complain about: the payload matches its manifest");
    assert_null (c);
    /* Nor of a record it cannot open, nor of one that is not the sender's. */
    s_expect (macx_record_complaint_make (s_me ("ctp"), s_fx->reg, lie, len, 1, &c, &clen, &err),
              &err, MACX_EINVAL, "not a recipient: ctp is not among the 2 recipients");
    s_expect (macx_record_content_key (s_me ("ctp"), s_fx->reg, lie, len, key, &err), &err,
              MACX_ENOTRECIPIENT, "not a recipient");
    lie[len - 1] ^= 0x01;
    s_expect (macx_record_complaint_make (s_me ("ogd-dwp"), s_fx->reg, lie, len, 1, &c, &clen,
                                          &err), &err, MACX_EINVAL, "bad signature from mi5");
    assert_null (c);
    lie[len - 1] ^= 0x01;

    /* Revocations, in a copy of the key directory's public files: a sender
     * revoked since still answers for what it signed; a revoked
     * complainant is refused. */
    char *dir = s_tmpdir ();
    for (int i = 0; i < S_NAGENCIES; i++) {
        char from[4096], to[4096], *text = NULL;
        size_t n;
        snprintf (from, sizeof from, "%s/%s.pub", s_fx->dir, s_ids[i]);
        snprintf (to, sizeof to, "%s/%s.pub", dir, s_ids[i]);
        FILE *in = fopen (from, "rb"), *out = fopen (to, "wb");
        assert_non_null (in);
        assert_non_null (out);
        text = malloc (1 << 16);
        n = fread (text, 1, 1 << 16, in);
        assert_int_equal (fwrite (text, 1, n, out), n);
        fclose (in);
        fclose (out);
        free (text);
    }
    assert_int_equal (macx_keys_revoke (dir, "mi5", "test", NULL), 0);
    macx_registry_t *reg = macx_registry_load (dir, &err);
    assert_non_null (reg);
    assert_int_equal (macx_record_complaint_make (s_me ("ogd-dwp"), s_fx->reg, lie, len, 1, &c,
                                                  &clen, &err), 0);
    macx_record_complaint_check (reg, "ogd-dwp", c, clen, &k);
    assert_int_equal (k.verdict, MACX_COMPLAINT_UPHELD);
    macx_record_complaint_check_clear (&k);
    assert_int_equal (macx_keys_revoke (dir, "ogd-dwp", "test", NULL), 0);
    macx_registry_destroy (&reg);
    reg = macx_registry_load (dir, &err);
    macx_record_complaint_check (reg, "ogd-dwp", c, clen, &k);
    if (k.verdict != MACX_COMPLAINT_REFUSED || k.why.code != MACX_EREVOKED
        || !strstr (k.why.msg, "complainant 'ogd-dwp' is revoked"))
        fail_msg ("revoked complainant: verdict %d '%s'", k.verdict, k.why.msg);
    macx_record_complaint_check_clear (&k);
    macx_record_complaint_free (&c, clen);
    macx_registry_destroy (&reg);
    s_rmrf (&dir);
    sodium_memzero (key, sizeof key);
    free (lie);
    free (honest);
}

/* ---- manifest checks ---------------------------------------------------- */

static void
s_manifest_error (const char *type, const char *fields, const Macx__Payload *p, int code,
                  const char *msg)
{
    s_hdr_t *x = malloc (sizeof *x);
    s_forge_hdr (x, type, 1, "ogd-dwp", fields);
    macx_error_t err = { 0 };
    s_expect (macx_record_check_manifest (&x->h, p, &err), &err, code, msg);
    free (x);
}

static void
test_check_manifest (void **state)
{
    (void) state;
    Macx__CaseFile cf = MACX__CASE_FILE__INIT;
    Macx__Payload p = MACX__PAYLOAD__INIT;
    p.body_case = MACX__PAYLOAD__BODY_CASE_FILE;
    p.case_file = &cf;
    cf.subject_name = "Alex Example";
    cf.address = "1 High St, Leeds";
    s_manifest_error ("case_file", "subject_name", &p, MACX_EMANIFEST,
                      "payload carries field 'address' missing from manifest");
    s_manifest_error ("case_file", "subject_name,address,postcode", &p, MACX_EMANIFEST,
                      "manifest lists field 'postcode' that the payload does not carry");
    s_manifest_error ("share", "subject_name,address", &p, MACX_EMANIFEST,
                      "payload is a 'case_file' but the header says record type 'share'");
    cf.address = "";
    cf.dob = "1990-04-12";
    s_manifest_error ("case_file", "subject_name,dob:year_only", &p, MACX_EMANIFEST,
                      "field 'dob' is declared year_only but its value does not have that form");
    cf.dob = "1990";
    s_hdr_t *x = malloc (sizeof *x);
    s_forge_hdr (x, "case_file", 1, "ogd-dwp", "subject_name,dob:year_only");
    assert_int_equal (macx_record_check_manifest (&x->h, &p, NULL), 0);
    free (x);

    /* Each transform's form is checked. */
    static const struct { const char *transform, *value; int ok; } forms[] = {
        { "year_only", "1990", 1 },          { "year_only", "199", 0 },
        { "year_only", "199a", 0 },          { "postcode_district", "LS11", 1 },
        { "postcode_district", "M1", 1 },    { "postcode_district", "SW1A", 1 },
        { "postcode_district", "LS11 5AB", 0 }, { "postcode_district", "ls11", 0 },
        { "postcode_district", "11LS", 0 },  { "initials", "A.E.", 1 },
        { "initials", "A.", 1 },             { "initials", "Alex", 0 },
        { "initials", "a.e.", 0 },           { "region_only", "West Yorkshire", 1 },
        { "region_only", "1 High St", 0 },   { "region_only", "Leeds, West Yorkshire", 0 },
        { "redacted", "[redacted]", 1 },     { "redacted", "Alex", 0 },
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        Macx__CaseFile c = MACX__CASE_FILE__INIT;
        c.region = (char *) forms[i].value;
        Macx__Payload q = MACX__PAYLOAD__INIT;
        q.body_case = MACX__PAYLOAD__BODY_CASE_FILE;
        q.case_file = &c;
        char fields[64];
        snprintf (fields, sizeof fields, "region:%s", forms[i].transform);
        s_hdr_t *y = malloc (sizeof *y);
        s_forge_hdr (y, "case_file", 1, "ogd-dwp", fields);
        macx_error_t err = { 0 };
        int rc = macx_record_check_manifest (&y->h, &q, &err);
        if (forms[i].ok && rc)
            fail_msg ("%s '%s' refused: %s", forms[i].transform, forms[i].value, err.msg);
        if (!forms[i].ok)
            s_expect (rc, &err, MACX_EMANIFEST, "but its value does not have that form");
        free (y);
    }

    /* A transform on a field that is not text; an unknown transform (the
     * header check would refuse it first, the manifest check too). */
    Macx__Profile pr = MACX__PROFILE__INIT;
    pr.level = 2;
    Macx__Payload pp = MACX__PAYLOAD__INIT;
    pp.body_case = MACX__PAYLOAD__BODY_PROFILE;
    pp.profile = &pr;
    s_manifest_error ("profile", "level:year_only", &pp, MACX_EMANIFEST,
                      "manifest declares year_only on field 'level', which is not a text field");
    s_manifest_error ("profile", "level:rot13", &pp, MACX_EMANIFEST,
                      "manifest field 'level' has unknown transform 'rot13'");
    s_manifest_error ("profile", "level", &pp, MACX_OK, "");

    /* Repeated values over the limit: 1024 is fine, 1025 is not. */
    char **many = calloc (MACX_PAYLOAD_REPEAT_MAX + 1, sizeof *many);
    for (int i = 0; i <= MACX_PAYLOAD_REPEAT_MAX; i++)
        many[i] = "x";
    pr.level = 0;
    pr.indicators = many;
    pr.n_indicators = MACX_PAYLOAD_REPEAT_MAX;
    s_manifest_error ("profile", "indicators", &pp, MACX_OK, "");
    pr.n_indicators = MACX_PAYLOAD_REPEAT_MAX + 1;
    s_manifest_error ("profile", "indicators", &pp, MACX_ELIMIT,
                      "payload field 'indicators' repeats 1025 times, over the limit of 1024");
    free (many);

    /* Generic bodies: field names, duplicates, count. */
    Macx__Field fa = MACX__FIELD__INIT, fb = MACX__FIELD__INIT, *fs[2] = { &fa, &fb };
    fa.name = "reason";
    fa.value = "x";
    fb.name = "reason";
    fb.value = "y";
    Macx__Generic g = MACX__GENERIC__INIT;
    g.n_fields = 2;
    g.fields = fs;
    Macx__Payload gp = MACX__PAYLOAD__INIT;
    gp.body_case = MACX__PAYLOAD__BODY_GENERIC;
    gp.generic = &g;
    s_manifest_error ("note", "reason", &gp, MACX_EMANIFEST, "payload carries field 'reason' twice");
    fb.name = "";
    s_manifest_error ("note", "reason", &gp, MACX_EMANIFEST, "generic payload field 1 has a bad name");
    s_manifest_error ("case_file", "reason", &gp, MACX_EMANIFEST,
                      "record type 'case_file' needs its typed payload, not a generic one");
    Macx__Field *lots = calloc (MACX_MANIFEST_MAX + 1, sizeof *lots);
    Macx__Field **lp = calloc (MACX_MANIFEST_MAX + 1, sizeof *lp);
    char names[MACX_MANIFEST_MAX + 1][8];
    for (int i = 0; i <= MACX_MANIFEST_MAX; i++) {
        macx__field__init (&lots[i]);
        snprintf (names[i], sizeof names[i], "f%d", i);
        lots[i].name = names[i];
        lp[i] = &lots[i];
    }
    g.fields = lp;
    g.n_fields = MACX_MANIFEST_MAX + 1;
    s_manifest_error ("note", "f0", &gp, MACX_ELIMIT, "generic payload has 65 fields, over the limit of 64");
    free (lp);
    free (lots);
    Macx__Payload none = MACX__PAYLOAD__INIT;
    s_manifest_error ("note", "", &none, MACX_EMANIFEST, "payload has no body");
}

/* ---- transforms --------------------------------------------------------- */

static void
test_transforms (void **state)
{
    (void) state;
    static const struct { const char *t, *in, *out; } ok[] = {
        { "year_only", "1990-04-12", "1990" },
        { "year_only", "1990", "1990" },
        { "postcode_district", "LS11 5AB", "LS11" },
        { "postcode_district", "SW1A1AA", "SW1A" },
        { "postcode_district", "M1 1AE", "M1" },
        { "initials", "Alex Example", "A.E." },
        { "initials", "mary-jane o'neil", "M.J.O." },
        { "region_only", "1 High St, Leeds, West Yorkshire", "West Yorkshire" },
        { "region_only", "  Tyne and Wear  ", "Tyne and Wear" },
        { "redacted", "anything at all", "[redacted]" },
        { "redacted", "", "[redacted]" },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char out[64] = "";
        int rc = macx_record_transform_apply (ok[i].t, ok[i].in, out, sizeof out);
        if (rc || strcmp (out, ok[i].out) != 0)
            fail_msg ("%s('%s') gave %d '%s', want '%s'", ok[i].t, ok[i].in, rc, out, ok[i].out);
    }
    static const struct { const char *t, *in; size_t size; } bad[] = {
        { "year_only", "199", 64 },     { "year_only", "abcd-01-01", 64 },
        { "year_only", "1990", 4 },     { "postcode_district", "1234", 64 },
        { "postcode_district", "LS", 64 }, { "postcode_district", "LS11 5AB", 4 },
        { "initials", "", 64 },         { "initials", "123 456", 64 },
        { "initials", "a b c d e f g h i", 64 },   /* more than 8 initials */
        { "region_only", "12 Road,", 64 }, { "region_only", "Leeds, LS11", 64 },
        { "redacted", "x", 10 },        { "rot13", "x", 64 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[64];
        if (macx_record_transform_apply (bad[i].t, bad[i].in, out, bad[i].size) != MACX_EINVAL)
            fail_msg ("%s('%s', %zu) did not fail", bad[i].t, bad[i].in, bad[i].size);
    }
    const char *known[] = { "year_only", "postcode_district", "initials", "region_only", "redacted" };
    for (size_t i = 0; i < 5; i++)
        assert_int_equal (macx_record_transform_known (known[i]), 1);
    assert_int_equal (macx_record_transform_known ("rot13"), 0);
    assert_int_equal (macx_record_transform_known (""), 0);
    assert_int_equal (macx_record_transform_known ("YEAR_ONLY"), 0);
}

static void
test_body_type (void **state)
{
    (void) state;
    for (size_t i = 0; i < S_NKINDS; i++) {
        Macx__Payload p;
        s_payload (s_kinds[i].type, &p);
        const char *t = macx_record_body_type (&p);
        if (i + 1 == S_NKINDS)
            assert_null (t);
        else
            assert_string_equal (t, s_kinds[i].type);
    }
}

/* Record ids start with their creation time (48-bit ms, big-endian): ids
 * made later sort after earlier ones, and the 80 bits after differ. */
static void
test_record_id_order (void **state)
{
    (void) state;
    uint8_t a[MACX_RECORD_ID_BYTES], b[MACX_RECORD_ID_BYTES], c[MACX_RECORD_ID_BYTES];
    int64_t before = macx_clock_wall_ms ();
    macx_record_new_id (a);
    macx_record_new_id (b);
    int64_t after = macx_clock_wall_ms ();
    uint64_t ms = 0;
    for (int i = 0; i < 6; i++)
        ms = ms << 8 | a[i];
    assert_true ((int64_t) ms >= before && (int64_t) ms <= after);
    assert_memory_not_equal (a + 6, b + 6, MACX_RECORD_ID_BYTES - 6);
    struct timespec pause = { 0, 3000000 };
    nanosleep (&pause, NULL);
    macx_record_new_id (c);
    assert_true (memcmp (a, c, MACX_RECORD_ID_BYTES) < 0);
    assert_true (memcmp (b, c, MACX_RECORD_ID_BYTES) < 0);
}

/* A retention receipt's digest covers its agency, record, action and time:
 * signed by la-london it verifies with la-london's key, and a change to any
 * of them (or another agency's key) does not. */
static void
test_retention_digest (void **state)
{
    (void) state;
    uint8_t id[MACX_RECORD_ID_BYTES], other[MACX_RECORD_ID_BYTES];
    memset (id, 0x11, sizeof id);
    memset (other, 0x12, sizeof other);
    Macx__RetentionReceipt r = MACX__RETENTION_RECEIPT__INIT;
    r.agency = "la-london";
    r.record_id = (ProtobufCBinaryData) { sizeof id, id };
    r.action = "deleted";
    r.at_ms = 1775389551593;
    uint8_t d[64], d2[64], sig[MACX_SIG_BYTES];
    assert_int_equal (macx_record_retention_digest (&r, d), 0);
    assert_int_equal (macx_identity_sign (s_me ("la-london"), d, sizeof d, sig), 0);
    const macx_agency_t *lon = macx_registry_find (s_fx->reg, "la-london");
    const macx_agency_t *mi5 = macx_registry_find (s_fx->reg, "mi5");
    assert_int_equal (macx_keys_verify (lon, d, sizeof d, sig), 0);
    assert_int_not_equal (macx_keys_verify (mi5, d, sizeof d, sig), 0);
    Macx__RetentionReceipt v[4] = { r, r, r, r };
    v[0].agency = "la-londo";
    v[1].record_id = (ProtobufCBinaryData) { sizeof other, other };
    v[2].action = "anonymised";
    v[3].at_ms = r.at_ms + 1;
    for (int i = 0; i < 4; i++) {
        macx_record_retention_digest (&v[i], d2);
        assert_memory_not_equal (d, d2, sizeof d);
        assert_int_not_equal (macx_keys_verify (lon, d2, sizeof d2, sig), 0);
    }
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_retention_digest),
        cmocka_unit_test (test_round_trip_each_type),
        cmocka_unit_test (test_record_id_order),
        cmocka_unit_test (test_round_trip_built),
        cmocka_unit_test (test_pair_key_cache),
        cmocka_unit_test (test_unknown_fields),
        cmocka_unit_test (test_every_bit_flip),
        cmocka_unit_test (test_truncated),
        cmocka_unit_test (test_empty_and_oversized),
        cmocka_unit_test (test_wrong_recipient),
        cmocka_unit_test (test_revoked_and_unknown_sender),
        cmocka_unit_test (test_forge_control),
        cmocka_unit_test (test_forged_signature),
        cmocka_unit_test (test_forged_limits),
        cmocka_unit_test (test_batch_round_trip),
        cmocka_unit_test (test_batch_limits),
        cmocka_unit_test (test_batch_forged_path),
        cmocka_unit_test (test_batch_foreign_root),
        cmocka_unit_test (test_batch_bad_signature),
        cmocka_unit_test (test_batch_shape),
        cmocka_unit_test (test_batch_unknown_fields),
        cmocka_unit_test (test_batch_revoked_sender),
        cmocka_unit_test (test_batch_every_bit_flip),
        cmocka_unit_test (test_check_header),
        cmocka_unit_test (test_seal_refuses),
        cmocka_unit_test (test_check_manifest),
        cmocka_unit_test (test_manifest_diff),
        cmocka_unit_test (test_complaint),
        cmocka_unit_test (test_transforms),
        cmocka_unit_test (test_body_type),
    };
    return cmocka_run_group_tests_name ("record", tests, s_group_setup, s_group_teardown);
}
