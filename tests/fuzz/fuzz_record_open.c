/* fuzz_record_open.c -- libFuzzer target for the record decoder: decode,
 * verify and open arbitrary bytes as ogd-dwp, with the fixed TEST-ONLY keys
 * of tests/data/fuzz-keys, and print whatever decodes (what `macx record
 * inspect` does); then check and open it again with a root cache kept
 * across inputs, as the broker and an agency keep one. Must never crash,
 * leak, or accept a record that verify refuses, and a cache (a root seen
 * before) must never change a verdict. Seeds: tests/fuzz/corpus/
 * fuzz_record_open/ (made by make_corpus_record_open.sh), batch-signed
 * records among them.
 *
 *   cmake -S . -B build-fuzz -DMACX_FUZZ=ON -DMACX_SANITIZE=ON -DCMAKE_C_COMPILER=clang
 *   cmake --build build-fuzz --target fuzz_record_open
 *   build-fuzz/tests/fuzz_record_open -max_total_time=20 tests/fuzz/corpus/fuzz_record_open
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "keys.h"
#include "record.h"

#ifndef MACX_SOURCE_DIR
#define MACX_SOURCE_DIR "."
#endif

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static macx_registry_t *s_registry;
static macx_identity_t *s_me;
static macx_root_cache_t *s_roots;   /* across inputs: hits on seeds' roots */
static FILE *s_null;

/* Copies the key directory into a private temp dir (git does not keep the
 * secret files' 0600 mode), loads it, and removes the copy. */
static void
s_load_keys (void)
{
    const char *src = getenv ("MACX_FUZZ_KEYS");
    char from[4096];
    snprintf (from, sizeof from, "%s", src ? src : MACX_SOURCE_DIR "/tests/data/fuzz-keys");
    char tmpl[] = "/tmp/macx-fuzz-keys-XXXXXX";
    char *dir = mkdtemp (tmpl);
    DIR *d = opendir (from);
    if (!dir || !d) {
        fprintf (stderr, "fuzz_record_open: cannot use key directory %s\n", from);
        abort ();
    }
    struct dirent *e;
    while ((e = readdir (d))) {
        size_t n = strlen (e->d_name);
        int secret = n > 7 && strcmp (e->d_name + n - 7, ".secret") == 0;
        if (!secret && !(n > 4 && strcmp (e->d_name + n - 4, ".pub") == 0))
            continue;
        char in[4096], out[4096], *text = NULL;
        size_t len;
        snprintf (in, sizeof in, "%s/%s", from, e->d_name);
        snprintf (out, sizeof out, "%s/%s", dir, e->d_name);
        if (macx_file_read (in, 1 << 16, &text, &len, NULL) != 0
            || macx_file_write (out, text, len, secret ? 0600 : 0644, 1, NULL) != 0)
            abort ();
        free (text);
    }
    closedir (d);
    macx_error_t err = { 0 };
    s_registry = macx_registry_load (dir, &err);
    if (s_registry)
        s_me = macx_identity_load (dir, "ogd-dwp", &err);
    if (!s_registry || !s_me) {
        fprintf (stderr, "fuzz_record_open: %s\n", macx_error_text (&err));
        abort ();
    }
    d = opendir (dir);
    while (d && (e = readdir (d))) {
        char path[4096];
        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.')
            unlink (path);
    }
    if (d)
        closedir (d);
    rmdir (dir);
    s_null = fopen ("/dev/null", "w");
    s_roots = macx_root_cache_new ();
    if (!s_null || !s_roots)
        abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_registry)
        s_load_keys ();
    macx_record_t *rec = NULL;
    macx_error_t err = { 0 };

    int decoded = macx_record_decode (data, size, &rec, &err);
    if (decoded == MACX_OK) {
        /* inspect without keys prints unverified headers. */
        macx_record_print (s_null, rec, 0);
        macx_record_print (s_null, rec, 1);
        macx_record_destroy (&rec);
    }
    else if (rec || err.code != decoded || decoded >= 0 || decoded < MACX_ECODE_MIN)
        abort ();

    int verified = macx_record_verify (s_registry, data, size, &rec, &err);
    if (verified == MACX_OK) {
        if (decoded != MACX_OK || !macx_record_verified (rec) || macx_record_payload (rec))
            abort ();
        macx_record_destroy (&rec);
    }
    else if (rec || err.code != verified)
        abort ();

    int opened = macx_record_open (s_me, s_registry, data, size, &rec, &err);
    if (opened == MACX_OK) {
        /* Nothing opens that verify refused, and an opened record has a
         * payload that matches its manifest. */
        if (verified != MACX_OK || !macx_record_payload (rec))
            abort ();
        if (macx_record_check_manifest (macx_record_header (rec), macx_record_payload (rec), NULL))
            abort ();
        macx_record_print (s_null, rec, 1);
        macx_record_destroy (&rec);
    }
    else if (rec || err.code != opened)
        abort ();

    /* The same checks with the cache: a root verified for an earlier input
     * saves its signature check, and nothing else. The verdict, and the
     * reason for a refusal, are the ones given without it. */
    if (decoded == MACX_OK) {
        if (macx_record_decode (data, size, &rec, &err) != MACX_OK)
            abort ();
        int checked = macx_record_check_signature_cached (s_registry, s_roots, rec, &err);
        if (checked != verified || macx_record_verified (rec) != (checked == MACX_OK)
            || (checked != MACX_OK && err.code != checked))
            abort ();
        macx_record_destroy (&rec);
    }
    int cached = macx_record_open_cached (s_me, s_registry, s_roots, data, size, &rec, &err);
    if (cached != opened)
        abort ();
    if (cached == MACX_OK) {
        if (!macx_record_payload (rec) || !macx_record_verified (rec))
            abort ();
        macx_record_destroy (&rec);
    }
    else if (rec || err.code != cached)
        abort ();
    return 0;
}
