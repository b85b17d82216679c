/* fuzz_record_complaint.c -- libFuzzer target for manifest complaints:
 * arbitrary bytes checked as a complaint from ogd-dwp (what the broker's
 * verify threads do), and made into one as if delivered to ogd-dwp (what
 * the agent runtime does), with the fixed TEST-ONLY keys of
 * tests/data/fuzz-keys. Must never crash or leak; a complaint the runtime
 * makes must be upheld by the broker's check (it complains of nothing
 * else), and the same complaint with any one byte changed must be refused
 * (its signature covers all of it). Seeds: tests/fuzz/corpus/
 * fuzz_record_complaint/, records from mi5 whose manifests lie (`macx
 * record seal --forge-manifest`) and honest ones.
 *
 *   cmake -S . -B build-fuzz -DMACX_FUZZ=ON -DMACX_SANITIZE=ON -DCMAKE_C_COMPILER=clang
 *   cmake --build build-fuzz --target fuzz_record_complaint
 *   build-fuzz/tests/fuzz_record_complaint -max_total_time=20 tests/fuzz/corpus/fuzz_record_complaint
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
        fprintf (stderr, "fuzz_record_complaint: cannot use key directory %s\n", from);
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
        fprintf (stderr, "fuzz_record_complaint: %s\n", macx_error_text (&err));
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
}

/* Checks c and returns its verdict; aborts when what it holds does not
 * fit the verdict. */
static macx_complaint_verdict_t
s_check (const uint8_t *data, size_t size)
{
    macx_complaint_check_t c;
    macx_record_complaint_check (s_registry, "ogd-dwp", data, size, &c);
    macx_complaint_verdict_t v = c.verdict;
    if (v == MACX_COMPLAINT_REFUSED && c.why.code >= 0)
        abort ();
    if (v != MACX_COMPLAINT_REFUSED && (!c.record || !macx_record_verified (c.record)))
        abort ();
    if (v == MACX_COMPLAINT_UNFOUNDED
        && macx_record_check_manifest (macx_record_header (c.record), macx_record_payload (c.record),
                                       NULL))
        abort ();
    if (v == MACX_COMPLAINT_UPHELD && !c.broken && c.diff.n == 0 && !c.diff.payload_type)
        abort ();
    if (v == MACX_COMPLAINT_UPHELD && !c.broken) {
        char text[1024];
        macx_record_manifest_diff_text (macx_record_header (c.record), &c.diff, text, sizeof text);
        if (!text[0])
            abort ();
    }
    macx_record_complaint_check_clear (&c);
    return v;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_registry)
        s_load_keys ();
    /* The bytes as a complaint. */
    s_check (data, size);
    /* The bytes as a record delivered to us: a complaint only of a genuine
     * record that does not match, and then one the broker upholds. */
    uint8_t *c = NULL;
    size_t clen = 0;
    macx_error_t err = { 0 };
    int made = macx_record_complaint_make (s_me, s_registry, data, size, 1700000000000, &c, &clen,
                                           &err);
    if (made != MACX_OK) {
        if (c || err.code != made)
            abort ();
        return 0;
    }
    macx_record_t *rec = NULL;
    if (macx_record_open (s_me, s_registry, data, size, &rec, NULL) == MACX_OK)
        abort ();   /* it opened: nothing to complain about */
    if (s_check (c, clen) != MACX_COMPLAINT_UPHELD)
        abort ();
    /* One byte changed, wherever it falls: refused. */
    size_t at = size ? data[size / 2] * 7919u % clen : 0;
    c[at] ^= 0x5a;
    if (s_check (c, clen) != MACX_COMPLAINT_REFUSED)
        abort ();
    macx_record_complaint_free (&c, clen);
    return 0;
}
