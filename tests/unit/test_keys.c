/* test_keys.c -- agency identities: generation, key files and their errors,
 * the registry, revocation, pair-key wrapping and its cache. Every test
 * works in its own mkdtemp directory under /tmp. */
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
#include <zmq.h>

#include "file.h"
#include "keys.h"
#include "test_kind.h"

/* ---- helpers ------------------------------------------------------------ */

static char *
s_tmpdir (void)
{
    char tmpl[] = "/tmp/macx-test-keys-XXXXXX";
    char *dir = mkdtemp (tmpl);
    assert_non_null (dir);
    return strdup (dir);
}

static void
s_rmrf (char **dir_p)
{
    char *dir = *dir_p;
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
    free (dir);
    *dir_p = NULL;
}

static char *
s_read (const char *dir, const char *name)
{
    char path[4096], *data = NULL;
    size_t len;
    snprintf (path, sizeof path, "%s/%s", dir, name);
    assert_int_equal (macx_file_read (path, 1 << 16, &data, &len, NULL), 0);
    return data;
}

static void
s_write (const char *dir, const char *name, const char *text, mode_t mode)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    unlink (path);
    assert_int_equal (macx_file_write (path, text, strlen (text), mode, 0, NULL), 0);
    assert_int_equal (chmod (path, mode), 0);
}

/* Returns a copy of text with the line starting with `prefix` replaced by
 * `with` (which may be "" to drop the line, or hold several lines). */
static char *
s_edit (const char *text, const char *prefix, const char *with)
{
    size_t plen = strlen (prefix);
    const char *at = text;
    while (at && strncmp (at, prefix, plen) != 0) {
        at = strchr (at, '\n');
        if (at)
            at++;
    }
    assert_non_null (at);
    const char *end = strchr (at, '\n');
    end = end ? end + 1 : at + strlen (at);
    char *out = malloc (strlen (text) + strlen (with) + 2);
    assert_non_null (out);
    size_t head = (size_t) (at - text);
    memcpy (out, text, head);
    strcpy (out + head, with);
    if (*with && with[strlen (with) - 1] != '\n')
        strcat (out, "\n");
    strcat (out, end);
    return out;
}

/* Returns pattern with each "%s" replaced by dir (the golden messages name
 * the test's own directory). */
static char *
s_subst (const char *pattern, const char *dir)
{
    char *out = malloc (strlen (pattern) + 4 * strlen (dir) + 1);
    assert_non_null (out);
    char *o = out;
    for (const char *p = pattern; *p;) {
        if (p[0] == '%' && p[1] == 's') {
            o = stpcpy (o, dir);
            p += 2;
        }
        else
            *o++ = *p++;
    }
    *o = '\0';
    return out;
}

/* Loads the registry of dir, expecting failure with code and exactly the
 * message pattern (each %s standing for dir). */
static void
s_expect_registry_error (const char *dir, int code, const char *pattern)
{
    char *want = s_subst (pattern, dir);
    macx_error_t err = { 0 };
    macx_registry_t *reg = macx_registry_load (dir, &err);
    assert_null (reg);
    assert_int_equal (err.code, code);
    assert_string_equal (err.msg, want);
    free (want);
}

static void
s_expect_identity_error (const char *dir, const char *id, int code, const char *want)
{
    macx_error_t err = { 0 };
    macx_identity_t *me = macx_identity_load (dir, id, &err);
    assert_null (me);
    assert_int_equal (err.code, code);
    assert_string_equal (err.msg, want);
}

/* ---- ids and kinds ------------------------------------------------------ */

static void
test_check_id (void **state)
{
    (void) state;
    const char *good[] = { "a", "mi5", "la-london", "0day", "ogd-dwp-2",
                           "abcdefghijklmnopqrstuvwxyz012345" /* 32 */ };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal (macx_keys_check_id (good[i], NULL), 0);
    const char *bad[] = { "", "-abc", "MI5", "la london", "la_london", "ogd/dwp", "mi5.",
                          "abcdefghijklmnopqrstuvwxyz0123456" /* 33 */ };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        macx_error_t err = { 0 };
        assert_int_equal (macx_keys_check_id (bad[i], &err), MACX_EINVAL);
        assert_int_equal (err.code, MACX_EINVAL);
        assert_non_null (strstr (err.msg, "agency id"));
    }
    macx_error_t err = { 0 };
    assert_int_equal (macx_keys_check_id (NULL, &err), MACX_EINVAL);
    assert_int_equal (macx_keys_check_id ("la_london", &err), MACX_EINVAL);
    assert_string_equal (err.msg, "agency id 'la_london' may hold only a-z, 0-9 and '-' (not first)");
    assert_int_equal (macx_keys_check_id ("", &err), MACX_EINVAL);
    assert_string_equal (err.msg, "agency id '' must be 1 to 32 characters");
}

/* A kind is declared, never read from the id: none given is refused, even
 * for an id that looks like a kind's. */
static void
test_kind_declared (void **state)
{
    (void) state;
    char *dir = s_tmpdir ();
    static const char *const ids[] = { "mi5", "ctp-north-west", "la-london", "ogd-dwp", "broker", "acme" };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        macx_error_t err = { 0 };
        assert_int_equal (macx_keys_generate (dir, ids[i], NULL, &err), MACX_EINVAL);
        assert_non_null (strstr (macx_error_text (&err), "has no kind"));
        assert_int_equal (macx_keys_generate (dir, ids[i], "", &err), MACX_EINVAL);
    }
    /* an id of one kind's look is another kind when declared so */
    macx_error_t err = { 0 };
    assert_int_equal (macx_keys_generate (dir, "ogd-x", "local_authority", &err), 0);
    macx_registry_t *reg = macx_registry_load (dir, &err);
    assert_non_null (reg);
    assert_string_equal (macx_registry_find (reg, "ogd-x")->kind, "local_authority");
    macx_registry_destroy (&reg);
    s_rmrf (&dir);
}

/* ---- generation --------------------------------------------------------- */

static void
test_generate (void **state)
{
    (void) state;
    char *dir = s_tmpdir ();
    macx_error_t err = { 0 };
    assert_int_equal (macx_keys_generate (dir, "mi5", test_kind ("mi5"), &err), 0);
    assert_int_equal (macx_keys_generate (dir, "acme", "ogd", &err), 0);

    char path[4096];
    struct stat st;
    snprintf (path, sizeof path, "%s/mi5.secret", dir);
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0600);
    snprintf (path, sizeof path, "%s/mi5.pub", dir);
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_mode & 0022, 0);   /* public: nobody else may write it */

    char *pub = s_read (dir, "mi5.pub");
    assert_non_null (strstr (pub, "\nagency: mi5\nkind: mi5\nsign_public: "));
    free (pub);
    pub = s_read (dir, "acme.pub");
    assert_non_null (strstr (pub, "\nkind: ogd\n"));
    free (pub);

    /* Twice is a duplicate, and the files are left alone. */
    assert_int_equal (macx_keys_generate (dir, "mi5", test_kind ("mi5"), &err), MACX_EDUP);
    char want[4200];
    snprintf (want, sizeof want, "agency 'mi5' already has keys in %s", dir);
    assert_string_equal (err.msg, want);

    assert_int_equal (macx_keys_generate (dir, "acme2", NULL, &err), MACX_EINVAL);
    assert_string_equal (err.msg, "agency 'acme2' has no kind: give it as acme2:KIND (mi5, ctp, "
                         "local_authority, ogd, provider, broker); a kind is declared, never read from the id");
    assert_int_equal (macx_keys_generate (dir, "acme3", "police", &err), MACX_EINVAL);
    assert_string_equal (err.msg, "unknown kind 'police' (mi5, ctp, local_authority, ogd, provider, broker)");
    assert_int_equal (macx_keys_generate (dir, "Bad Id", NULL, &err), MACX_EINVAL);

    /* A new directory is created 0700. */
    char sub[4200];
    snprintf (sub, sizeof sub, "%s/sub", dir);
    assert_int_equal (macx_keys_generate (sub, "ctp", test_kind ("ctp"), &err), 0);
    assert_int_equal (stat (sub, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0700);
    char *subdir = strdup (sub);
    s_rmrf (&subdir);
    s_rmrf (&dir);
}

/* ---- registry ----------------------------------------------------------- */

static void
test_registry_lookups (void **state)
{
    (void) state;
    char *dir = s_tmpdir ();
    const char *ids[] = { "ogd-dwp", "mi5", "la-london", "ctp" };
    for (size_t i = 0; i < 4; i++)
        assert_int_equal (macx_keys_generate (dir, ids[i], test_kind (ids[i]), NULL), 0);
    macx_error_t err = { 0 };
    macx_registry_t *reg = macx_registry_load (dir, &err);
    assert_non_null (reg);
    assert_int_equal (macx_registry_size (reg), 4);
    /* Sorted by id. */
    assert_string_equal (macx_registry_at (reg, 0)->id, "ctp");
    assert_string_equal (macx_registry_at (reg, 1)->id, "la-london");
    assert_string_equal (macx_registry_at (reg, 2)->id, "mi5");
    assert_string_equal (macx_registry_at (reg, 3)->id, "ogd-dwp");
    assert_null (macx_registry_at (reg, 4));

    const macx_agency_t *la = macx_registry_find (reg, "la-london");
    assert_non_null (la);
    assert_string_equal (la->kind, "local_authority");
    assert_false (la->revoked);
    assert_int_equal (strlen (la->curve_z85), 40);
    assert_string_equal (macx_registry_find (reg, "ogd-dwp")->kind, "ogd");
    assert_null (macx_registry_find (reg, "ogd-nope"));
    assert_null (macx_registry_find (reg, ""));
    assert_null (macx_registry_find (reg, NULL));
    assert_null (macx_registry_find (reg, "mi5-but-a-very-long-id-over-32-characters"));

    /* By CURVE key: each agency's own, and nothing for an unknown key or
     * for the agency's other public keys. */
    for (size_t i = 0; i < 4; i++) {
        const macx_agency_t *a = macx_registry_at (reg, i);
        assert_ptr_equal (macx_registry_find_curve (reg, a->curve_pk), a);
        assert_null (macx_registry_find_curve (reg, a->box_pk));
        assert_null (macx_registry_find_curve (reg, a->sign_pk));
        uint8_t decoded[32];
        assert_non_null (zmq_z85_decode (decoded, a->curve_z85));
        assert_memory_equal (decoded, a->curve_pk, 32);
    }
    uint8_t other[32];
    randombytes_buf (other, sizeof other);
    assert_null (macx_registry_find_curve (reg, other));

    /* The public file is what the registry holds. */
    char *pub = s_read (dir, "mi5.pub");
    char hex[65];
    macx_hex_encode (macx_registry_find (reg, "mi5")->sign_pk, 32, hex);
    assert_non_null (strstr (pub, hex));
    free (pub);

    macx_registry_destroy (&reg);
    assert_null (reg);
    macx_registry_destroy (&reg);   /* safe twice */

    /* An empty directory is an empty registry; a missing one is ENOTFOUND. */
    char *empty = s_tmpdir ();
    reg = macx_registry_load (empty, &err);
    assert_non_null (reg);
    assert_int_equal (macx_registry_size (reg), 0);
    assert_null (macx_registry_find (reg, "mi5"));
    macx_registry_destroy (&reg);
    /* ...also with a revocation list naming agencies it no longer holds. */
    s_write (empty, "revoked", "mi5 2024-01-01T00:00:00Z gone\n", 0644);
    reg = macx_registry_load (empty, &err);
    assert_non_null (reg);
    assert_int_equal (macx_registry_size (reg), 0);
    macx_registry_destroy (&reg);
    char missing[4200];
    snprintf (missing, sizeof missing, "%s/nope", empty);
    assert_null (macx_registry_load (missing, &err));
    assert_int_equal (err.code, MACX_ENOTFOUND);
    assert_non_null (strstr (err.msg, missing));
    s_rmrf (&empty);
    s_rmrf (&dir);
}

/* ---- key file formats --------------------------------------------------- */

/* A directory holding one generated agency mi5, and its public text. */
typedef struct {
    char *dir;
    char *pub;
    char *secret;
} s_fix_t;

static int
s_fix_setup (void **state)
{
    s_fix_t *f = calloc (1, sizeof *f);
    f->dir = s_tmpdir ();
    if (macx_keys_generate (f->dir, "mi5", test_kind ("mi5"), NULL) != 0)
        return -1;
    f->pub = s_read (f->dir, "mi5.pub");
    f->secret = s_read (f->dir, "mi5.secret");
    *state = f;
    return 0;
}

static int
s_fix_teardown (void **state)
{
    s_fix_t *f = *state;
    sodium_memzero (f->secret, strlen (f->secret));
    free (f->secret);
    free (f->pub);
    s_rmrf (&f->dir);
    free (f);
    return 0;
}

/* Writes mi5.pub as pub with one line edited, and checks the error. */
static void
s_bad_pub (s_fix_t *f, const char *prefix, const char *with, int code, const char *pattern)
{
    char *text = s_edit (f->pub, prefix, with);
    s_write (f->dir, "mi5.pub", text, 0644);
    free (text);
    s_expect_registry_error (f->dir, code, pattern);
    /* The identity loader reads the same public file. */
    macx_error_t err = { 0 };
    macx_identity_t *me = macx_identity_load (f->dir, "mi5", &err);
    assert_null (me);
    assert_int_equal (err.code, code);
    s_write (f->dir, "mi5.pub", f->pub, 0644);
}

static void
test_public_file_errors (void **state)
{
    s_fix_t *f = *state;
    /* Lines: 1 comment, 2 agency, 3 kind, 4 sign_public, 5 box_public,
     * 6 curve_public, 7 created. */
    s_bad_pub (f, "kind:", "kind: mi5\ncolour: blue", MACX_EFORMAT,
               "%s/mi5.pub:4: unknown key 'colour'");
    s_bad_pub (f, "created:", "created: now\nkind: ctp", MACX_EFORMAT,
               "%s/mi5.pub:8: duplicate key 'kind' (first on line 3)");
    s_bad_pub (f, "sign_public:", "sign_public: 00zz", MACX_EFORMAT,
               "%s/mi5.pub:4: 'sign_public' must be 64 hex digits");
    s_bad_pub (f, "box_public:",
               "box_public: 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fff",
               MACX_EFORMAT, "%s/mi5.pub:5: 'box_public' must be 64 hex digits");
    s_bad_pub (f, "sign_public:",
               "sign_public: 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g",
               MACX_EFORMAT, "%s/mi5.pub:4: 'sign_public' must be 64 hex digits");
    s_bad_pub (f, "curve_public:", "curve_public: short", MACX_EFORMAT,
               "%s/mi5.pub:6: 'curve_public' must be a 40-character Z85 key");
    s_bad_pub (f, "curve_public:", "curve_public: ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~",
               MACX_EFORMAT, "%s/mi5.pub:6: 'curve_public' must be a 40-character Z85 key");
    s_bad_pub (f, "box_public:", "", MACX_EFORMAT, "%s/mi5.pub: missing 'box_public'");
    s_bad_pub (f, "kind:", "kind:   ", MACX_EFORMAT, "%s/mi5.pub:3: empty value for 'kind'");
    s_bad_pub (f, "agency:", "agency: ctp", MACX_EFORMAT,
               "%s/mi5.pub:2: agency 'ctp' does not match the file name");
    s_bad_pub (f, "agency:", "agency: Not_An_Id", MACX_EFORMAT,
               "%s/mi5.pub:2: agency id 'Not_An_Id' may hold only a-z, 0-9 and '-' (not first)");
    s_bad_pub (f, "kind:", "kind: police", MACX_EFORMAT, "%s/mi5.pub:3: unknown kind 'police'");
    s_bad_pub (f, "kind:", "kind mi5", MACX_EFORMAT, "%s/mi5.pub:3: expected 'key: value'");
    /* Comments, blank lines, CRLF and surrounding blanks are fine. */
    char *crlf = malloc (2 * strlen (f->pub) + 32);
    char *o = crlf;
    o += sprintf (o, "\n# leading comment\n\n");
    for (const char *p = f->pub; *p; p++) {
        if (*p == '\n')
            *o++ = '\r';
        *o++ = *p;
    }
    *o = '\0';
    char *spaced = s_edit (crlf, "kind:", "   kind:\t mi5  \t\r");
    s_write (f->dir, "mi5.pub", spaced, 0644);
    macx_registry_t *reg = macx_registry_load (f->dir, NULL);
    assert_non_null (reg);
    assert_string_equal (macx_registry_find (reg, "mi5")->kind, "mi5");
    macx_registry_destroy (&reg);
    free (spaced);
    free (crlf);
    s_write (f->dir, "mi5.pub", f->pub, 0644);
}

/* Writes mi5.secret as secret with one line edited, and checks the error. */
static void
s_bad_secret (s_fix_t *f, const char *prefix, const char *with, int code, const char *pattern)
{
    char *text = s_edit (f->secret, prefix, with);
    s_write (f->dir, "mi5.secret", text, 0600);
    sodium_memzero (text, strlen (text));
    free (text);
    char *want = s_subst (pattern, f->dir);
    s_expect_identity_error (f->dir, "mi5", code, want);
    free (want);
    s_write (f->dir, "mi5.secret", f->secret, 0600);
}

static void
test_secret_file_errors (void **state)
{
    s_fix_t *f = *state;
    /* Lines: 1 comment, 2 agency, 3 sign_secret, 4 box_secret, 5 curve_secret. */
    s_bad_secret (f, "agency:", "agency: ctp", MACX_EFORMAT,
                  "%s/mi5.secret:2: agency 'ctp' does not match 'mi5'");
    s_bad_secret (f, "sign_secret:", "sign_secret: abcd", MACX_EFORMAT,
                  "%s/mi5.secret:3: 'sign_secret' must be 128 hex digits");
    s_bad_secret (f, "curve_secret:", "curve_secret: 0123", MACX_EFORMAT,
                  "%s/mi5.secret:5: 'curve_secret' must be a 40-character Z85 key");
    s_bad_secret (f, "box_secret:", "", MACX_EFORMAT, "%s/mi5.secret: missing 'box_secret'");
    s_bad_secret (f, "box_secret:", "box_secret:", MACX_EFORMAT,
                  "%s/mi5.secret:4: empty value for 'box_secret'");
    s_bad_secret (f, "agency:", "agency: mi5\nsign_public: 00", MACX_EFORMAT,
                  "%s/mi5.secret:3: unknown key 'sign_public'");
    s_bad_secret (f, "curve_secret:", "curve_secret: x\nbox_secret: y", MACX_EFORMAT,
                  "%s/mi5.secret:6: duplicate key 'box_secret' (first on line 4)");
    /* A well-formed secret that belongs to another agency's public file. */
    assert_int_equal (macx_keys_generate (f->dir, "ctp", test_kind ("ctp"), NULL), 0);
    char *other = s_read (f->dir, "ctp.secret");
    char *as_mi5 = s_edit (other, "agency:", "agency: mi5");
    s_write (f->dir, "mi5.secret", as_mi5, 0600);
    char want[1024];
    snprintf (want, sizeof want, "%s/mi5.secret: secret keys do not match %s/mi5.pub", f->dir,
              f->dir);
    s_expect_identity_error (f->dir, "mi5", MACX_EFORMAT, want);
    /* Only one of three keys swapped is caught too. */
    char *mixed = s_edit (f->secret, "box_secret:", strstr (other, "box_secret:"));
    /* s_edit keeps everything after box_secret's line from `other`: cut it
     * back to the one line. */
    char *nl = strstr (mixed, "box_secret:");
    nl = strchr (nl, '\n');
    *++nl = '\0';
    strcat (mixed, strstr (f->secret, "curve_secret:"));
    s_write (f->dir, "mi5.secret", mixed, 0600);
    s_expect_identity_error (f->dir, "mi5", MACX_EFORMAT, want);
    sodium_memzero (other, strlen (other));
    sodium_memzero (as_mi5, strlen (as_mi5));
    sodium_memzero (mixed, strlen (mixed));
    free (mixed);
    free (as_mi5);
    free (other);
    s_write (f->dir, "mi5.secret", f->secret, 0600);
    char path[4096];
    snprintf (path, sizeof path, "%s/ctp.pub", f->dir);
    unlink (path);
    snprintf (path, sizeof path, "%s/ctp.secret", f->dir);
    unlink (path);

    /* Missing secret file; then loading works again once restored. */
    snprintf (path, sizeof path, "%s/mi5.secret", f->dir);
    assert_int_equal (unlink (path), 0);
    macx_error_t err = { 0 };
    assert_null (macx_identity_load (f->dir, "mi5", &err));
    assert_int_equal (err.code, MACX_ENOTFOUND);
    assert_non_null (strstr (err.msg, path));
    s_write (f->dir, "mi5.secret", f->secret, 0600);
    macx_identity_t *me = macx_identity_load (f->dir, "mi5", &err);
    assert_non_null (me);
    assert_string_equal (macx_identity_agency (me)->id, "mi5");
    macx_identity_destroy (&me);
    assert_null (me);
    macx_identity_destroy (&me);   /* safe twice */
    assert_null (macx_identity_load (f->dir, "Bad", &err));
    assert_int_equal (err.code, MACX_EINVAL);
}

static void
test_secret_permissions (void **state)
{
    s_fix_t *f = *state;
    char path[4096];
    snprintf (path, sizeof path, "%s/mi5.secret", f->dir);
    static const mode_t modes[] = { 0640, 0604, 0644, 0660, 0601, 0610 };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        assert_int_equal (chmod (path, modes[i]), 0);
        macx_error_t err = { 0 };
        macx_identity_t *me = macx_identity_load (f->dir, "mi5", &err);
        assert_null (me);
        assert_int_equal (err.code, MACX_EPERM);
        char want[4300];
        snprintf (want, sizeof want,
                  "%s: secret key file is accessible to group or others (mode %04o); "
                  "run 'chmod 600 %s'", path, (unsigned) modes[i], path);
        assert_string_equal (err.msg, want);
    }
    /* 0400 is stricter than needed and fine. */
    assert_int_equal (chmod (path, 0400), 0);
    macx_identity_t *me = macx_identity_load (f->dir, "mi5", NULL);
    assert_non_null (me);
    macx_identity_destroy (&me);
    assert_int_equal (chmod (path, 0600), 0);
    /* A symlink to the secret is refused (O_NOFOLLOW), not followed. */
    char link[4200];
    snprintf (link, sizeof link, "%s/ln.secret", f->dir);
    assert_int_equal (symlink (path, link), 0);
    char *pub = s_edit (f->pub, "agency:", "agency: ln");
    s_write (f->dir, "ln.pub", pub, 0644);
    free (pub);
    macx_error_t err = { 0 };
    assert_null (macx_identity_load (f->dir, "ln", &err));
    assert_int_equal (err.code, MACX_EIO);
    unlink (link);
    snprintf (link, sizeof link, "%s/ln.pub", f->dir);
    unlink (link);
}

static void
test_duplicate_keys (void **state)
{
    s_fix_t *f = *state;
    /* ctp.pub is mi5.pub with the agency and kind edited: same keys. */
    char *a = s_edit (f->pub, "agency:", "agency: ctp");
    char *b = s_edit (a, "kind:", "kind: ctp");
    s_write (f->dir, "ctp.pub", b, 0644);
    s_expect_registry_error (f->dir, MACX_EDUP, "%s: agencies 'ctp' and 'mi5' share a public key");
    /* Sharing only one key across roles (one agency's box key used as
     * another's CURVE key) is a duplicate too. */
    assert_int_equal (macx_keys_generate (f->dir, "ogd-dwp", test_kind ("ogd-dwp"), NULL), 0);
    char path[4096];
    snprintf (path, sizeof path, "%s/ctp.pub", f->dir);
    unlink (path);
    macx_registry_t *reg = macx_registry_load (f->dir, NULL);
    assert_non_null (reg);
    char z85[41];
    zmq_z85_encode (z85, macx_registry_find (reg, "mi5")->box_pk, 32);
    macx_registry_destroy (&reg);
    char *dwp = s_read (f->dir, "ogd-dwp.pub");
    char line[64];
    snprintf (line, sizeof line, "curve_public: %s", z85);
    char *dup = s_edit (dwp, "curve_public:", line);
    s_write (f->dir, "ogd-dwp.pub", dup, 0644);
    s_expect_registry_error (f->dir, MACX_EDUP,
                             "%s: agencies 'mi5' and 'ogd-dwp' share a public key");
    free (dup);
    free (dwp);
    free (b);
    free (a);
    snprintf (path, sizeof path, "%s/ogd-dwp.pub", f->dir);
    unlink (path);
    snprintf (path, sizeof path, "%s/ogd-dwp.secret", f->dir);
    unlink (path);
}

/* ---- revocation --------------------------------------------------------- */

static void
test_revocation (void **state)
{
    (void) state;
    char *dir = s_tmpdir ();
    assert_int_equal (macx_keys_generate (dir, "mi5", test_kind ("mi5"), NULL), 0);
    assert_int_equal (macx_keys_generate (dir, "ogd-dwp", test_kind ("ogd-dwp"), NULL), 0);
    macx_error_t err = { 0 };
    assert_int_equal (macx_keys_revoke (dir, "ogd-dwp", "key compromised", &err), 0);
    macx_registry_t *reg = macx_registry_load (dir, &err);
    assert_non_null (reg);
    const macx_agency_t *a = macx_registry_find (reg, "ogd-dwp");
    assert_non_null (a);
    assert_true (a->revoked);
    assert_string_equal (a->revoked_reason, "key compromised");
    assert_ptr_equal (macx_registry_find_curve (reg, a->curve_pk), a);   /* found, marked */
    assert_false (macx_registry_find (reg, "mi5")->revoked);
    macx_registry_destroy (&reg);

    assert_int_equal (macx_keys_revoke (dir, "ogd-dwp", "again", &err), MACX_EDUP);
    assert_string_equal (err.msg, "agency 'ogd-dwp' is already revoked");
    assert_int_equal (macx_keys_revoke (dir, "ogd-nope", NULL, &err), MACX_ENOTFOUND);
    char want[4200];
    snprintf (want, sizeof want, "no agency 'ogd-nope' in %s", dir);
    assert_string_equal (err.msg, want);
    assert_int_equal (macx_keys_revoke (dir, "mi5", "two\nlines", &err), MACX_EINVAL);
    assert_string_equal (err.msg, "a revocation reason must be one line");

    /* Default reason; the list keeps both entries. */
    assert_int_equal (macx_keys_revoke (dir, "mi5", NULL, &err), 0);
    reg = macx_registry_load (dir, &err);
    assert_non_null (reg);
    assert_true (macx_registry_find (reg, "mi5")->revoked);
    assert_string_equal (macx_registry_find (reg, "mi5")->revoked_reason, "revoked");
    assert_true (macx_registry_find (reg, "ogd-dwp")->revoked);
    macx_registry_destroy (&reg);
    char *list = s_read (dir, "revoked");
    assert_non_null (strstr (list, "\nogd-dwp "));
    assert_non_null (strstr (list, " key compromised\nmi5 "));
    free (list);

    /* A revocation for an agency whose keys are gone is harmless; a bad
     * line is a format error naming path:line. */
    s_write (dir, "revoked", "# list\nla-gone 2024-01-01T00:00:00Z left\nmi5\n", 0644);
    s_expect_registry_error (dir, MACX_EFORMAT, "%s/revoked:3: expected 'AGENCY TIME REASON'");
    s_write (dir, "revoked", "la-gone 2024-01-01T00:00:00Z left\nBAD! 2024 x\n", 0644);
    s_expect_registry_error (dir, MACX_EFORMAT, "%s/revoked:2: expected 'AGENCY TIME REASON'");
    s_write (dir, "revoked", "la-gone 2024-01-01T00:00:00Z left\n", 0644);
    reg = macx_registry_load (dir, &err);
    assert_non_null (reg);
    assert_false (macx_registry_find (reg, "mi5")->revoked);
    macx_registry_destroy (&reg);
    s_rmrf (&dir);
}

/* ---- signing, wrapping and the pair-key cache --------------------------- */

static void
test_sign_verify (void **state)
{
    (void) state;
    char *dir = s_tmpdir ();
    assert_int_equal (macx_keys_generate (dir, "mi5", test_kind ("mi5"), NULL), 0);
    assert_int_equal (macx_keys_generate (dir, "ctp", test_kind ("ctp"), NULL), 0);
    macx_registry_t *reg = macx_registry_load (dir, NULL);
    macx_identity_t *mi5 = macx_identity_load (dir, "mi5", NULL);
    assert_non_null (reg);
    assert_non_null (mi5);
    assert_memory_equal (macx_identity_agency (mi5)->sign_pk,
                         macx_registry_find (reg, "mi5")->sign_pk, 32);
    const uint8_t msg[] = "a record digest";
    uint8_t sig[MACX_SIG_BYTES];
    assert_int_equal (macx_identity_sign (mi5, msg, sizeof msg, sig), 0);
    assert_int_equal (macx_keys_verify (macx_registry_find (reg, "mi5"), msg, sizeof msg, sig), 0);
    assert_int_equal (macx_keys_verify (macx_registry_find (reg, "ctp"), msg, sizeof msg, sig),
                      MACX_EBADSIG);
    assert_int_equal (macx_keys_verify (macx_registry_find (reg, "mi5"), msg, sizeof msg - 1, sig),
                      MACX_EBADSIG);
    sig[10] ^= 1;
    assert_int_equal (macx_keys_verify (macx_registry_find (reg, "mi5"), msg, sizeof msg, sig),
                      MACX_EBADSIG);
    macx_identity_destroy (&mi5);
    macx_registry_destroy (&reg);
    s_rmrf (&dir);
}

static void
test_wrap_unwrap_cache (void **state)
{
    (void) state;
    char *dir = s_tmpdir ();
    const char *ids[] = { "mi5", "ogd-dwp", "ctp" };
    for (size_t i = 0; i < 3; i++)
        assert_int_equal (macx_keys_generate (dir, ids[i], test_kind (ids[i]), NULL), 0);
    macx_registry_t *reg = macx_registry_load (dir, NULL);
    macx_identity_t *mi5 = macx_identity_load (dir, "mi5", NULL);
    macx_identity_t *dwp = macx_identity_load (dir, "ogd-dwp", NULL);
    macx_identity_t *ctp = macx_identity_load (dir, "ctp", NULL);
    assert_non_null (reg);
    assert_non_null (mi5);
    assert_non_null (dwp);
    assert_non_null (ctp);
    const macx_agency_t *a_mi5 = macx_registry_find (reg, "mi5");
    const macx_agency_t *a_dwp = macx_registry_find (reg, "ogd-dwp");
    const macx_agency_t *a_ctp = macx_registry_find (reg, "ctp");
    assert_int_equal (macx_identity_pair_derivations (mi5), 0);

    const uint8_t ad[] = "record-id|mi5|ogd-dwp";
    uint8_t key[32], got[32], nonce[MACX_WRAP_NONCE], wrapped[MACX_WRAP_BYTES];
    randombytes_buf (key, sizeof key);
    assert_int_equal (macx_identity_wrap (mi5, a_dwp, ad, sizeof ad, key, nonce, wrapped), 0);
    assert_int_equal (macx_identity_pair_derivations (mi5), 1);
    assert_int_equal (macx_identity_unwrap (dwp, a_mi5, ad, sizeof ad, nonce, wrapped, got), 0);
    assert_memory_equal (got, key, 32);
    assert_int_equal (macx_identity_pair_derivations (dwp), 1);

    /* Later wraps to the same peer, and unwraps from it, derive nothing new;
     * every wrap has a fresh nonce. */
    uint8_t prev_nonce[MACX_WRAP_NONCE];
    for (int i = 0; i < 50; i++) {
        memcpy (prev_nonce, nonce, sizeof nonce);
        randombytes_buf (key, sizeof key);
        assert_int_equal (macx_identity_wrap (mi5, a_dwp, ad, sizeof ad, key, nonce, wrapped), 0);
        assert_memory_not_equal (nonce, prev_nonce, sizeof nonce);
        assert_int_equal (macx_identity_unwrap (dwp, a_mi5, ad, sizeof ad, nonce, wrapped, got), 0);
        assert_memory_equal (got, key, 32);
    }
    assert_int_equal (macx_identity_pair_derivations (mi5), 1);
    assert_int_equal (macx_identity_pair_derivations (dwp), 1);

    /* Wrong associated data, a flipped byte, or the wrong reader: refused. */
    uint8_t other_ad[] = "record-id|mi5|ogd-dwq";
    assert_int_equal (macx_identity_unwrap (dwp, a_mi5, other_ad, sizeof other_ad, nonce, wrapped,
                                            got), MACX_EDECRYPT);
    wrapped[5] ^= 0x20;
    assert_int_equal (macx_identity_unwrap (dwp, a_mi5, ad, sizeof ad, nonce, wrapped, got),
                      MACX_EDECRYPT);
    wrapped[5] ^= 0x20;
    nonce[0] ^= 1;
    assert_int_equal (macx_identity_unwrap (dwp, a_mi5, ad, sizeof ad, nonce, wrapped, got),
                      MACX_EDECRYPT);
    nonce[0] ^= 1;
    assert_int_equal (macx_identity_unwrap (ctp, a_mi5, ad, sizeof ad, nonce, wrapped, got),
                      MACX_EDECRYPT);
    /* dwp thinking ctp wrapped it: the pair key is different. */
    assert_int_equal (macx_identity_unwrap (dwp, a_ctp, ad, sizeof ad, nonce, wrapped, got),
                      MACX_EDECRYPT);
    assert_int_equal (macx_identity_unwrap (dwp, a_mi5, ad, sizeof ad, nonce, wrapped, got), 0);

    /* A second peer costs exactly one more derivation. */
    assert_int_equal (macx_identity_wrap (mi5, a_ctp, ad, sizeof ad, key, nonce, wrapped), 0);
    assert_int_equal (macx_identity_wrap (mi5, a_ctp, ad, sizeof ad, key, nonce, wrapped), 0);
    assert_int_equal (macx_identity_pair_derivations (mi5), 2);
    assert_int_equal (macx_identity_unwrap (ctp, a_mi5, ad, sizeof ad, nonce, wrapped, got), 0);
    assert_memory_equal (got, key, 32);

    /* A peer whose box key changed (re-keyed under the same id) is not
     * served the stale cached key. */
    macx_agency_t rekeyed = *a_ctp;
    uint8_t sk[32];
    crypto_box_keypair (rekeyed.box_pk, sk);
    assert_int_equal (macx_identity_wrap (mi5, &rekeyed, ad, sizeof ad, key, nonce, wrapped), 0);
    assert_int_equal (macx_identity_pair_derivations (mi5), 3);
    assert_int_equal (macx_identity_unwrap (ctp, a_mi5, ad, sizeof ad, nonce, wrapped, got),
                      MACX_EDECRYPT);

    /* A low-order peer key is refused, not used. */
    macx_agency_t weak = *a_ctp;
    memset (weak.box_pk, 0, 32);
    snprintf (weak.id, sizeof weak.id, "weak");
    assert_int_equal (macx_identity_wrap (mi5, &weak, ad, sizeof ad, key, nonce, wrapped),
                      MACX_ECRYPTO);
    assert_int_equal (macx_identity_pair_derivations (mi5), 3);
    assert_int_equal (macx_identity_wrap (mi5, a_dwp, ad, sizeof ad, key, nonce, wrapped), 0);
    assert_int_equal (macx_identity_pair_derivations (mi5), 3);

    macx_identity_destroy (&ctp);
    macx_identity_destroy (&dwp);
    macx_identity_destroy (&mi5);
    macx_registry_destroy (&reg);
    s_rmrf (&dir);
}

/* More peers than the cache holds still wrap correctly (by eviction). */
static void
test_pair_cache_eviction (void **state)
{
    (void) state;
    char *dir = s_tmpdir ();
    assert_int_equal (macx_keys_generate (dir, "mi5", test_kind ("mi5"), NULL), 0);
    assert_int_equal (macx_keys_generate (dir, "ogd-dwp", test_kind ("ogd-dwp"), NULL), 0);
    macx_registry_t *reg = macx_registry_load (dir, NULL);
    macx_identity_t *mi5 = macx_identity_load (dir, "mi5", NULL);
    macx_identity_t *dwp = macx_identity_load (dir, "ogd-dwp", NULL);
    const macx_agency_t *a_mi5 = macx_registry_find (reg, "mi5");
    macx_agency_t fake = *macx_registry_find (reg, "ogd-dwp");
    uint8_t key[32] = { 1 }, got[32], nonce[MACX_WRAP_NONCE], wrapped[MACX_WRAP_BYTES], sk[32];
    for (int i = 0; i < 300; i++) {
        snprintf (fake.id, sizeof fake.id, "peer-%d", i);
        crypto_box_keypair (fake.box_pk, sk);
        assert_int_equal (macx_identity_wrap (mi5, &fake, NULL, 0, key, nonce, wrapped), 0);
    }
    assert_int_equal (macx_identity_pair_derivations (mi5), 300);
    const macx_agency_t *a_dwp = macx_registry_find (reg, "ogd-dwp");
    assert_int_equal (macx_identity_wrap (mi5, a_dwp, NULL, 0, key, nonce, wrapped), 0);
    assert_int_equal (macx_identity_unwrap (dwp, a_mi5, NULL, 0, nonce, wrapped, got), 0);
    assert_memory_equal (got, key, 32);
    macx_identity_destroy (&dwp);
    macx_identity_destroy (&mi5);
    macx_registry_destroy (&reg);
    s_rmrf (&dir);
}

static void
test_curve_apply (void **state)
{
    (void) state;
    if (!zmq_has ("curve"))
        skip ();
    char *dir = s_tmpdir ();
    assert_int_equal (macx_keys_generate (dir, "broker", test_kind ("broker"), NULL), 0);
    assert_int_equal (macx_keys_generate (dir, "mi5", test_kind ("mi5"), NULL), 0);
    macx_identity_t *broker = macx_identity_load (dir, "broker", NULL);
    macx_identity_t *mi5 = macx_identity_load (dir, "mi5", NULL);
    void *ctx = zmq_ctx_new ();
    void *server = zmq_socket (ctx, ZMQ_ROUTER);
    void *client = zmq_socket (ctx, ZMQ_DEALER);
    assert_int_equal (macx_identity_curve_apply (broker, server, true, NULL), 0);
    assert_int_equal (macx_identity_curve_apply (mi5, client, false, NULL), MACX_EINVAL);
    assert_int_equal (macx_identity_curve_apply (mi5, client, false,
                                                 macx_identity_agency (broker)->curve_pk), 0);
    uint8_t pk[32];
    size_t len = sizeof pk;
    assert_int_equal (zmq_getsockopt (client, ZMQ_CURVE_PUBLICKEY, pk, &len), 0);
    assert_memory_equal (pk, macx_identity_agency (mi5)->curve_pk, 32);
    zmq_close (client);
    zmq_close (server);
    zmq_ctx_term (ctx);
    macx_identity_destroy (&mi5);
    macx_identity_destroy (&broker);
    s_rmrf (&dir);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_check_id),
        cmocka_unit_test (test_kind_declared),
        cmocka_unit_test (test_generate),
        cmocka_unit_test (test_registry_lookups),
        cmocka_unit_test_setup_teardown (test_public_file_errors, s_fix_setup, s_fix_teardown),
        cmocka_unit_test_setup_teardown (test_secret_file_errors, s_fix_setup, s_fix_teardown),
        cmocka_unit_test_setup_teardown (test_secret_permissions, s_fix_setup, s_fix_teardown),
        cmocka_unit_test_setup_teardown (test_duplicate_keys, s_fix_setup, s_fix_teardown),
        cmocka_unit_test (test_revocation),
        cmocka_unit_test (test_sign_verify),
        cmocka_unit_test (test_wrap_unwrap_cache),
        cmocka_unit_test (test_pair_cache_eviction),
        cmocka_unit_test (test_curve_apply),
    };
    if (sodium_init () < 0)
        return 1;
    return cmocka_run_group_tests_name ("keys", tests, NULL, NULL);
}
