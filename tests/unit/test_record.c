/* test_record.c -- sealed records: round trips for every record type, every
 * single-bit flip and every truncation refused, the failure codes and their
 * messages (wrong recipient, revoked or unknown sender, forged signature,
 * limits, manifest mismatches), transforms and the payload builder. The
 * fixture is one key directory with five agencies, made once per run.
 * Envelopes the sealer would refuse to make are forged here by hand with the
 * public keys/ calls and a copy of the documented digest layout. */
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
        if (macx_keys_generate (s_fx->dir, s_ids[i], NULL, NULL) != 0)
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
    Macx__Field f = MACX__FIELD__INIT, *fs[1] = { &f };
    f.name = "text";
    f.value = "hello";
    Macx__Generic g = MACX__GENERIC__INIT;
    g.n_fields = 1;
    g.fields = fs;
    Macx__Payload p = MACX__PAYLOAD__INIT;
    p.body_case = MACX__PAYLOAD__BODY_GENERIC;
    p.generic = &g;
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

static void
s_every_bit_flip (const uint8_t *sealed, size_t len, const char *as)
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
        rc = macx_record_verify (s_fx->reg, copy, len, &rec, &err);
        if (rc == 0 || rec)
            fail_msg ("verify accepted a record with bit %zu flipped", bit);
    }
    /* Flips land in every layer: structure, signature and (never reached
     * past the signature) nothing else. */
    assert_true (by_code[-MACX_EBADSIG] > 0);
    assert_true (by_code[-MACX_EDECODE] + by_code[-MACX_EVERSION] + by_code[-MACX_EHEADER] > 0);
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
    s_every_bit_flip (sealed, len, "ogd-dwp");
    free (sealed);
    /* Four recipients: each wrap is covered as well; open as the last. */
    sealed = s_small ("ctp,la-london,ogd-dwp,ogd-health", &len);
    s_every_bit_flip (sealed, len, "ogd-health");
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
    Macx__Field f = MACX__FIELD__INIT, *fs[1] = { &f };
    f.name = "text";
    f.value = big;
    Macx__Generic g = MACX__GENERIC__INIT;
    g.n_fields = 1;
    g.fields = fs;
    Macx__Payload p = MACX__PAYLOAD__INIT;
    p.body_case = MACX__PAYLOAD__BODY_GENERIC;
    p.generic = &g;
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
    Macx__Field f = MACX__FIELD__INIT, *fs[1] = { &f };
    f.name = "text";
    f.value = huge;
    Macx__Generic g = MACX__GENERIC__INIT;
    g.n_fields = 1;
    g.fields = fs;
    Macx__Payload p = MACX__PAYLOAD__INIT;
    p.body_case = MACX__PAYLOAD__BODY_GENERIC;
    p.generic = &g;
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
    assert_int_equal (macx_keys_generate (dir, "mi5", NULL, NULL), 0);
    assert_int_equal (macx_keys_generate (dir, "ctp", NULL, NULL), 0);
    assert_int_equal (macx_keys_generate (dir, "ogd-dwp", NULL, NULL), 0);
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
    assert_int_equal (macx_keys_generate (other, "ogd-dwp", NULL, NULL), 0);
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

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_round_trip_each_type),
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
        cmocka_unit_test (test_check_header),
        cmocka_unit_test (test_seal_refuses),
        cmocka_unit_test (test_check_manifest),
        cmocka_unit_test (test_transforms),
        cmocka_unit_test (test_body_type),
    };
    return cmocka_run_group_tests_name ("record", tests, s_group_setup, s_group_teardown);
}
