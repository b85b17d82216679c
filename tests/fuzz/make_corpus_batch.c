/* make_corpus_batch.c -- writes the batch-signed seeds of fuzz_record_open:
 * three records of a 5-record batch (paths of 3, 3 and 1 hashes) and the
 * record of a 1-record batch (no path), sealed by mi5, mostly to ogd-dwp
 * (the fuzzer's identity), with the TEST-ONLY keys of tests/data/fuzz-keys.
 * No command seals a batch on its own, hence this program;
 * make_corpus_record_open.sh runs it with a copy of the keys whose secret
 * files are 0600.
 *
 *   make_corpus_batch KEYDIR OUTDIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file.h"
#include "keys.h"
#include "record.h"

#define S_FIELDS_MAX 8

/* One record of a seed batch: its type, phase, recipients and fields. */
typedef struct {
    const char *type;
    int phase;
    const char *to[4];                          /* NULL-terminated */
    macx_record_field_t fields[S_FIELDS_MAX];   /* up to the first with no name */
} s_seed_t;

static const s_seed_t s_five[] = {
    { "case_file", MACX__PHASE__IDENTIFICATION, { "ogd-dwp" },
      { { "subject_name", NULL, "Alex Example" }, { "dob", "year_only", "1990-04-12" },
        { "postcode", "postcode_district", "LS11 5AB" }, { "risk_indicators", NULL, "travel" },
        { "kis_ref", NULL, "KIS-1" } } },
    { "note", MACX__PHASE__SHARING, { "ogd-dwp" }, { { "text", NULL, "hello" } } },
    { "referral_note", MACX__PHASE__SHARING, { "ctp", "la-london", "ogd-dwp" },
      { { "reason", NULL, "attendance" }, { "contact", "redacted", "x" } } },
    { "enrichment", MACX__PHASE__ENRICHMENT, { "ogd-dwp" },
      { { "subject_name", NULL, "Alex Example" }, { "notes", NULL, "none held" } } },
    { "note", MACX__PHASE__SHARING, { "ogd-dwp" }, { { "text", NULL, "the last, carried up" } } },
};
static const size_t s_five_kept[] = { 0, 3, 4 };

static const s_seed_t s_one[] = {
    { "share", MACX__PHASE__SHARING, { "ogd-dwp" },
      { { "subject_name", "initials", "Alex Example" },
        { "region", "region_only", "1 High St, Leeds, West Yorkshire" },
        { "summary", NULL, "synthetic" }, { "request", NULL, "housing" } } },
};
static const size_t s_one_kept[] = { 0 };

static int
s_add (macx_record_batch_t *b, const s_seed_t *seed, uint64_t sequence, macx_error_t *err)
{
    size_t nfields = 0;
    while (nfields < S_FIELDS_MAX && seed->fields[nfields].name)
        nfields++;
    Macx__Payload *payload = NULL;
    Macx__FieldEntry **manifest = NULL;
    size_t nmanifest = 0;
    int rc = macx_record_build (seed->type, seed->fields, nfields, &payload, &manifest,
                                &nmanifest, err);
    if (rc)
        return rc;
    uint8_t id[MACX_RECORD_ID_BYTES];
    macx_record_new_id (id);
    char *to[4];
    size_t nto = 0;
    while (nto < 4 && seed->to[nto]) {
        to[nto] = (char *) seed->to[nto];
        nto++;
    }
    Macx__Header h = MACX__HEADER__INIT;
    h.record_id = (ProtobufCBinaryData) { sizeof id, id };
    h.n_recipients = nto;
    h.recipients = to;
    h.sequence = sequence;
    h.subject = "subj-7f3a";
    h.case_id = "case-0001";
    h.phase = seed->phase;
    h.case_phase = seed->phase;
    h.record_type = (char *) seed->type;
    h.purpose = "mac_case_management";
    h.legal_basis = "isa-2024 s.3";
    h.n_manifest = nmanifest;
    h.manifest = manifest;
    rc = macx_record_batch_add (b, &h, payload, err);
    macx_record_build_free (&payload, &manifest, nmanifest);
    return rc;
}

/* Seals seeds as one batch and writes the records at `kept` to
 * OUTDIR/seed-<name>_<index>. */
static int
s_batch (macx_identity_t *me, const macx_registry_t *reg, const char *out, const char *name,
         const s_seed_t *seeds, size_t n, const size_t *kept, size_t nkept, macx_error_t *err)
{
    macx_record_batch_t *b = macx_record_batch_new (me, reg);
    if (!b)
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    int rc = MACX_OK;
    for (size_t i = 0; i < n && rc == MACX_OK; i++)
        rc = s_add (b, &seeds[i], i + 1, err);
    if (rc == MACX_OK)
        rc = macx_record_batch_sign (b, err);
    for (size_t k = 0; k < nkept && rc == MACX_OK; k++) {
        uint8_t *buf = NULL;
        size_t len = 0;
        rc = macx_record_batch_take (b, kept[k], &buf, &len, err);
        if (rc == MACX_OK) {
            char path[4096];
            snprintf (path, sizeof path, "%s/seed-%s_%zu", out, name, kept[k]);
            rc = macx_file_write (path, buf, len, 0644, 0, err);
        }
        free (buf);
    }
    macx_record_batch_destroy (&b);
    return rc;
}

int
main (int argc, char **argv)
{
    if (argc != 3) {
        fprintf (stderr, "usage: %s KEYDIR OUTDIR\n", argv[0]);
        return 64;
    }
    macx_error_t err = { 0 };
    macx_registry_t *reg = macx_registry_load (argv[1], &err);
    macx_identity_t *mi5 = reg ? macx_identity_load (argv[1], "mi5", &err) : NULL;
    int rc = mi5 ? MACX_OK : err.code;
    if (rc == MACX_OK)
        rc = s_batch (mi5, reg, argv[2], "batch5", s_five, sizeof s_five / sizeof s_five[0],
                      s_five_kept, sizeof s_five_kept / sizeof s_five_kept[0], &err);
    if (rc == MACX_OK)
        rc = s_batch (mi5, reg, argv[2], "batch1", s_one, sizeof s_one / sizeof s_one[0],
                      s_one_kept, sizeof s_one_kept / sizeof s_one_kept[0], &err);
    if (rc)
        fprintf (stderr, "make_corpus_batch: %s\n", macx_error_text (&err));
    macx_identity_destroy (&mi5);
    macx_registry_destroy (&reg);
    return rc ? 70 : 0;
}
