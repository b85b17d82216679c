/* bench_record.c -- seal, verify and open rates for 1 KiB payloads with 1
 * and 4 recipients, beside libsodium's raw Ed25519 sign/verify measured in
 * the same run, so the figures say what sealing costs over one signature.
 * Keys are generated into a temp directory and removed at exit.
 *
 *   bench_record            ~2.5 s per figure
 *   bench_record --smoke    200 iterations per figure (what ctest runs) */
#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "keys.h"
#include "record.h"

#define S_PAYLOAD_BYTES 1024

static const char *const s_ids[] = { "mi5", "ctp", "la-london", "ogd-dwp", "ogd-health" };
static const char *const s_kinds[] = { "mi5", "ctp", "local_authority", "ogd", "ogd" };
#define S_NIDS (sizeof s_ids / sizeof s_ids[0])

typedef struct {
    macx_registry_t *reg;
    macx_identity_t *sender;        /* mi5 */
    macx_identity_t *reader;        /* ogd-dwp, a recipient of every record */
    Macx__Payload payload;
    Macx__Generic generic;
    Macx__Field field, *fields[1];
    Macx__FieldEntry entry, *manifest[1];
    Macx__Header header;
    uint8_t record_id[MACX_RECORD_ID_BYTES];
    char *recipients[4];
    uint64_t sequence;
    uint8_t *sealed;                /* one record for open/verify to reuse */
    size_t sealed_len;
    uint8_t msg[64], sig[64];       /* raw sign/verify: a 64-byte digest, as seal signs */
    uint8_t pk[32], sk[64];
} s_bench_t;

static void
s_die (const char *what, const macx_error_t *err)
{
    fprintf (stderr, "bench_record: %s: %s\n", what, err ? macx_error_text (err) : "failed");
    exit (70);
}

static void
s_header (s_bench_t *b, size_t nrecipients)
{
    macx__header__init (&b->header);
    macx_record_new_id (b->record_id);
    b->header.record_id = (ProtobufCBinaryData) { sizeof b->record_id, b->record_id };
    b->header.recipients = b->recipients;
    b->header.n_recipients = nrecipients;
    b->header.sequence = ++b->sequence;
    b->header.subject = "subj-7f3a9c";
    b->header.case_id = "case-0001";
    b->header.phase = MACX__PHASE__SHARING;
    b->header.case_phase = MACX__PHASE__SHARING;
    b->header.record_type = "note";
    b->header.purpose = "mac_case_management";
    b->header.legal_basis = "isa-2024-01 s.3";
    b->header.n_manifest = 1;
    b->header.manifest = b->manifest;
}

/* ---- the operations measured ------------------------------------------- */

static size_t s_nrecipients;

static void
s_op_seal (s_bench_t *b)
{
    s_header (b, s_nrecipients);
    uint8_t *out = NULL;
    size_t len;
    macx_error_t err = { 0 };
    if (macx_record_seal (b->sender, b->reg, &b->header, &b->payload, &out, &len, &err))
        s_die ("seal", &err);
    free (out);
}

static void
s_op_verify (s_bench_t *b)
{
    macx_record_t *rec = NULL;
    macx_error_t err = { 0 };
    if (macx_record_verify (b->reg, b->sealed, b->sealed_len, &rec, &err))
        s_die ("verify", &err);
    macx_record_destroy (&rec);
}

static void
s_op_open (s_bench_t *b)
{
    macx_record_t *rec = NULL;
    macx_error_t err = { 0 };
    if (macx_record_open (b->reader, b->reg, b->sealed, b->sealed_len, &rec, &err))
        s_die ("open", &err);
    macx_record_destroy (&rec);
}

static void
s_op_sign (s_bench_t *b)
{
    b->msg[0]++;
    crypto_sign_detached (b->sig, NULL, b->msg, sizeof b->msg, b->sk);
}

static void
s_op_sign_verify (s_bench_t *b)
{
    if (crypto_sign_verify_detached (b->sig, b->msg, sizeof b->msg, b->pk) != 0)
        s_die ("crypto_sign_verify_detached", NULL);
}

/* Runs op for `iterations`, or (iterations == 0) for about `seconds`;
 * returns operations per second. */
static double
s_rate (s_bench_t *b, void (*op) (s_bench_t *), size_t iterations, double seconds)
{
    for (int i = 0; i < 20; i++)   /* warm caches and the pair-key cache */
        op (b);
    uint64_t start = macx_clock_mono_ns (), now = start;
    size_t done = 0, batch = iterations ? iterations : 64;
    for (;;) {
        for (size_t i = 0; i < batch; i++)
            op (b);
        done += batch;
        now = macx_clock_mono_ns ();
        if (iterations || (double) (now - start) >= seconds * 1e9)
            break;
    }
    double elapsed = (double) (now - start) / 1e9;
    return elapsed > 0 ? (double) done / elapsed : 0;
}

static void
s_rmrf (const char *dir)
{
    DIR *d = opendir (dir);
    struct dirent *e;
    while (d && (e = readdir (d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        unlink (path);
    }
    if (d)
        closedir (d);
    rmdir (dir);
}

int
main (int argc, char **argv)
{
    int smoke = argc > 1 && strcmp (argv[1], "--smoke") == 0;
    if (argc > 1 && !smoke) {
        fprintf (argc > 1 && strcmp (argv[1], "--help") == 0 ? stdout : stderr,
                 "usage: bench_record [--smoke]\n\n"
                 "Prints seal, verify and open rates for 1 KiB payloads (1 and 4\n"
                 "recipients) beside raw Ed25519 sign/verify rates from the same run.\n");
        return strcmp (argv[1], "--help") == 0 ? 0 : 64;
    }
    size_t iterations = smoke ? 200 : 0;
    double seconds = 2.5;
    if (sodium_init () < 0)
        s_die ("sodium_init", NULL);

    char tmpl[] = "/tmp/macx-bench-record-XXXXXX";
    char *dir = mkdtemp (tmpl);
    if (!dir)
        s_die ("mkdtemp", NULL);
    static s_bench_t bench;
    s_bench_t *b = &bench;
    macx_error_t err = { 0 };
    for (size_t i = 0; i < S_NIDS; i++)
        if (macx_keys_generate (dir, s_ids[i], s_kinds[i], &err))
            s_die ("keys", &err);
    if (!(b->reg = macx_registry_load (dir, &err))
        || !(b->sender = macx_identity_load (dir, "mi5", &err))
        || !(b->reader = macx_identity_load (dir, "ogd-dwp", &err)))
        s_die ("load keys", &err);
    s_rmrf (dir);

    /* A generic payload whose serialised form is exactly 1 KiB. */
    static char value[S_PAYLOAD_BYTES + 1];
    macx__field__init (&b->field);
    b->field.name = "text";
    b->field.value = value;
    b->fields[0] = &b->field;
    macx__generic__init (&b->generic);
    b->generic.n_fields = 1;
    b->generic.fields = b->fields;
    macx__payload__init (&b->payload);
    b->payload.body_case = MACX__PAYLOAD__BODY_GENERIC;
    b->payload.generic = &b->generic;
    size_t vlen = S_PAYLOAD_BYTES;
    for (int pass = 0; pass < 4; pass++) {
        memset (value, 'x', vlen);
        value[vlen] = '\0';
        size_t got = macx__payload__get_packed_size (&b->payload);
        if (got == S_PAYLOAD_BYTES)
            break;
        vlen = vlen + S_PAYLOAD_BYTES - got;
    }
    size_t payload_bytes = macx__payload__get_packed_size (&b->payload);
    macx__field_entry__init (&b->entry);
    b->entry.name = "text";
    b->entry.transform = "";
    b->manifest[0] = &b->entry;
    b->recipients[0] = "ogd-dwp";
    b->recipients[1] = "ctp";
    b->recipients[2] = "la-london";
    b->recipients[3] = "ogd-health";
    crypto_sign_keypair (b->pk, b->sk);
    randombytes_buf (b->msg, sizeof b->msg);
    crypto_sign_detached (b->sig, NULL, b->msg, sizeof b->msg, b->sk);

    double sign = s_rate (b, s_op_sign, iterations, seconds);
    crypto_sign_detached (b->sig, NULL, b->msg, sizeof b->msg, b->sk);
    double sverify = s_rate (b, s_op_sign_verify, iterations, seconds);

    printf ("macx record benchmark: %zu-byte payload, %s\n", payload_bytes,
            smoke ? "smoke run (200 iterations per figure)" : "about 2.5 s per figure");
    printf ("libsodium %s, Ed25519 over a 64-byte digest (what seal signs)\n\n",
            sodium_version_string ());
    printf ("%-12s %10s %10s %10s %10s %10s %12s %12s\n", "recipients", "bytes", "seal/s",
            "verify/s", "open/s", "sign/s", "seal/sign", "open/verify");
    size_t counts[] = { 1, 4 };
    for (size_t c = 0; c < 2; c++) {
        s_nrecipients = counts[c];
        s_header (b, s_nrecipients);
        free (b->sealed);
        b->sealed = NULL;
        if (macx_record_seal (b->sender, b->reg, &b->header, &b->payload, &b->sealed,
                              &b->sealed_len, &err))
            s_die ("seal", &err);
        double seal = s_rate (b, s_op_seal, iterations, seconds);
        double verify = s_rate (b, s_op_verify, iterations, seconds);
        double open = s_rate (b, s_op_open, iterations, seconds);
        printf ("%-12zu %10zu %10.0f %10.0f %10.0f %10.0f %12.2f %12.2f\n", counts[c],
                b->sealed_len, seal, verify, open, sign, seal / sign, open / sverify);
    }
    printf ("\nraw libsodium: crypto_sign_detached %.0f/s, crypto_sign_verify_detached %.0f/s\n",
            sign, sverify);
    printf ("seal/sign and open/verify are rate ratios (1.00 = as fast as one raw Ed25519\n"
            "operation). Pair-key derivations by the sender over the whole run: %zu\n"
            "(one per peer: after the first record, wrapping is symmetric only).\n",
            macx_identity_pair_derivations (b->sender));
    free (b->sealed);
    macx_identity_destroy (&b->reader);
    macx_identity_destroy (&b->sender);
    macx_registry_destroy (&b->reg);
    return 0;
}
