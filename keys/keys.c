/* keys.c -- key files, the public registry, revocation and the secret
 * identity. Owns every secret key in the process (sodium_malloc memory). */
#include "keys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "file.h"

#define S_FILE_MAX   4096       /* key files are small; refuse anything larger */
#define S_PAIR_MAX   256        /* cached pair keys per identity */
#define S_KV_MAX     8

/* ---- key: value files -------------------------------------------------- */

typedef struct {
    const char *key;
    char *value;       /* points into the file buffer */
    int line;
} s_kv_t;

typedef struct {
    s_kv_t kv[S_KV_MAX];
    int n;
} s_kvfile_t;

/* Parses `key: value` lines in place. allowed lists the keys the file may
 * hold; each must appear exactly once. */
static int
s_kv_parse (const char *path, char *text, const char *const *allowed, s_kvfile_t *out,
            macx_error_t *err)
{
    memset (out, 0, sizeof *out);
    int line = 0;
    char *save = NULL;
    for (char *p = text; p; p = save) {
        line++;
        save = strchr (p, '\n');
        if (save)
            *save++ = '\0';
        size_t len = strlen (p);
        if (len && p[len - 1] == '\r')
            p[--len] = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#')
            continue;
        char *colon = strchr (p, ':');
        if (!colon)
            return macx_error_set (err, MACX_EFORMAT, "%s:%d: expected 'key: value'", path, line);
        *colon = '\0';
        char *value = colon + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        char *end = value + strlen (value);
        while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        const char *known = NULL;
        for (int i = 0; allowed[i]; i++)
            if (strcmp (p, allowed[i]) == 0)
                known = allowed[i];
        if (!known)
            return macx_error_set (err, MACX_EFORMAT, "%s:%d: unknown key '%.40s'", path, line, p);
        for (int i = 0; i < out->n; i++)
            if (out->kv[i].key == known)
                return macx_error_set (err, MACX_EFORMAT, "%s:%d: duplicate key '%s' (first on line %d)",
                                       path, line, known, out->kv[i].line);
        if (*value == '\0')
            return macx_error_set (err, MACX_EFORMAT, "%s:%d: empty value for '%s'", path, line, known);
        out->kv[out->n++] = (s_kv_t) { known, value, line };
    }
    for (int i = 0; allowed[i]; i++) {
        bool found = false;
        for (int j = 0; j < out->n; j++)
            found |= out->kv[j].key == allowed[i];
        if (!found)
            return macx_error_set (err, MACX_EFORMAT, "%s: missing '%s'", path, allowed[i]);
    }
    return MACX_OK;
}

static s_kv_t *
s_kv_get (s_kvfile_t *f, const char *key)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp (f->kv[i].key, key) == 0)
            return &f->kv[i];
    return NULL;   /* unreachable after s_kv_parse: every key is required */
}

static int
s_kv_hex (const char *path, s_kv_t *kv, uint8_t *out, size_t len, macx_error_t *err)
{
    if (macx_hex_decode (kv->value, out, len) != 0)
        return macx_error_set (err, MACX_EFORMAT, "%s:%d: '%s' must be %zu hex digits",
                               path, kv->line, kv->key, 2 * len);
    return MACX_OK;
}

static int
s_kv_z85 (const char *path, s_kv_t *kv, uint8_t out[32], macx_error_t *err)
{
    if (strlen (kv->value) != 40 || !zmq_z85_decode (out, kv->value))
        return macx_error_set (err, MACX_EFORMAT, "%s:%d: '%s' must be a 40-character Z85 key",
                               path, kv->line, kv->key);
    return MACX_OK;
}

/* ---- ids and kinds ----------------------------------------------------- */

int
macx_keys_check_id (const char *id, macx_error_t *err)
{
    size_t len = id ? strlen (id) : 0;
    if (len == 0 || len > MACX_AGENCY_ID_MAX)
        return macx_error_set (err, MACX_EINVAL, "agency id '%.40s' must be 1 to %d characters",
                               id ? id : "", MACX_AGENCY_ID_MAX);
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0);
        if (!ok)
            return macx_error_set (err, MACX_EINVAL,
                                   "agency id '%.40s' may hold only a-z, 0-9 and '-' (not first)", id);
    }
    return MACX_OK;
}

static const char *const s_kind_names[] = { "mi5", "ctp", "local_authority", "ogd", "provider", "broker", NULL };

static bool
s_kind_valid (const char *kind)
{
    for (int i = 0; s_kind_names[i]; i++)
        if (strcmp (kind, s_kind_names[i]) == 0)
            return true;
    return false;
}

/* ---- generation and revocation ----------------------------------------- */

static int
s_path (char *buf, size_t size, const char *dir, const char *id, const char *suffix,
        macx_error_t *err)
{
    if ((size_t) snprintf (buf, size, "%s/%s%s", dir, id, suffix) >= size)
        return macx_error_set (err, MACX_EINVAL, "%s: path too long", dir);
    return MACX_OK;
}

int
macx_keys_generate (const char *dir, const char *id, const char *kind, macx_error_t *err)
{
    int rc = macx_keys_check_id (id, err);
    if (rc)
        return rc;
    if (!kind || !*kind)
        return macx_error_set (err, MACX_EINVAL, "agency '%s' has no kind: give it as %s:KIND (mi5, ctp, "
                               "local_authority, ogd, provider, broker); a kind is declared, never read from the id",
                               id, id);
    if (!s_kind_valid (kind))
        return macx_error_set (err, MACX_EINVAL,
                               "unknown kind '%.40s' (mi5, ctp, local_authority, ogd, provider, broker)", kind);
    if (sodium_init () < 0)
        return macx_error_set (err, MACX_ECRYPTO, "libsodium failed to initialise");
    if ((rc = macx_file_mkdirs (dir, err)))
        return rc;

    char pub_path[4096], sec_path[4096];
    if ((rc = s_path (pub_path, sizeof pub_path, dir, id, ".pub", err))
        || (rc = s_path (sec_path, sizeof sec_path, dir, id, ".secret", err)))
        return rc;
    if (access (pub_path, F_OK) == 0 || access (sec_path, F_OK) == 0)
        return macx_error_set (err, MACX_EDUP, "agency '%s' already has keys in %s", id, dir);

    /* Secrets are generated and formatted in guarded memory. */
    typedef struct {
        uint8_t sign_pk[32], sign_sk[64], box_pk[32], box_sk[32], curve_pk[32], curve_sk[32];
        char text[1024];
        char hex[129];
        char z85[41];
    } secrets_t;
    secrets_t *s = sodium_malloc (sizeof *s);
    if (!s)
        return macx_error_set (err, MACX_ENOMEM, "sodium_malloc failed");
    crypto_sign_keypair (s->sign_pk, s->sign_sk);
    crypto_box_keypair (s->box_pk, s->box_sk);
    crypto_box_keypair (s->curve_pk, s->curve_sk);   /* CURVE keys are X25519 keys */

    char pub_text[1024], h1[65], h2[65], z[41], when[32];
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    macx_hex_encode (s->sign_pk, 32, h1);
    macx_hex_encode (s->box_pk, 32, h2);
    zmq_z85_encode (z, s->curve_pk, 32);
    snprintf (pub_text, sizeof pub_text,
              "# macx agency identity (public): safe to share with the broker and peers\n"
              "agency: %s\nkind: %s\nsign_public: %s\nbox_public: %s\ncurve_public: %s\n"
              "created: %s\n", id, kind, h1, h2, z, when);

    int n = snprintf (s->text, sizeof s->text,
                      "# macx agency identity (SECRET): never share; must stay mode 0600\n"
                      "agency: %s\n", id);
    macx_hex_encode (s->sign_sk, 64, s->hex);
    n += snprintf (s->text + n, sizeof s->text - (size_t) n, "sign_secret: %s\n", s->hex);
    macx_hex_encode (s->box_sk, 32, s->hex);
    n += snprintf (s->text + n, sizeof s->text - (size_t) n, "box_secret: %s\n", s->hex);
    zmq_z85_encode (s->z85, s->curve_sk, 32);
    n += snprintf (s->text + n, sizeof s->text - (size_t) n, "curve_secret: %s\n", s->z85);

    rc = macx_file_write (sec_path, s->text, (size_t) n, 0600, 1, err);
    if (rc == MACX_OK) {
        rc = macx_file_write (pub_path, pub_text, strlen (pub_text), 0644, 1, err);
        if (rc != MACX_OK)
            unlink (sec_path);
    }
    sodium_free (s);   /* zeroes before freeing */
    return rc;
}

int
macx_keys_revoke (const char *dir, const char *id, const char *reason, macx_error_t *err)
{
    macx_registry_t *reg = macx_registry_load (dir, err);
    if (!reg)
        return err ? err->code : MACX_EIO;
    const macx_agency_t *a = macx_registry_find (reg, id);
    int rc = MACX_OK;
    if (!a)
        rc = macx_error_set (err, MACX_ENOTFOUND, "no agency '%s' in %s", id, dir);
    else if (a->revoked)
        rc = macx_error_set (err, MACX_EDUP, "agency '%s' is already revoked", id);
    macx_registry_destroy (&reg);
    if (rc)
        return rc;
    if (!reason || !*reason)
        reason = "revoked";
    if (strpbrk (reason, "\n\r"))
        return macx_error_set (err, MACX_EINVAL, "a revocation reason must be one line");

    char path[4096], *old = NULL;
    size_t oldlen = 0;
    snprintf (path, sizeof path, "%s/revoked", dir);
    rc = macx_file_read (path, 1 << 20, &old, &oldlen, err);
    if (rc == MACX_ENOTFOUND) {
        rc = MACX_OK;
        old = strdup ("# macx revocation list: ID TIME REASON\n");
        oldlen = old ? strlen (old) : 0;
    }
    if (rc || !old) {
        free (old);
        return rc ? rc : macx_error_set (err, MACX_ENOMEM, "out of memory");
    }
    char when[32], line[300];
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int n = snprintf (line, sizeof line, "%s %s %.200s\n", id, when, reason);
    char *all = malloc (oldlen + (size_t) n + 2);
    if (!all) {
        free (old);
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    }
    memcpy (all, old, oldlen);
    size_t len = oldlen;
    if (len && all[len - 1] != '\n')
        all[len++] = '\n';
    memcpy (all + len, line, (size_t) n);
    len += (size_t) n;
    rc = macx_file_write (path, all, len, 0644, 0, err);
    free (all);
    free (old);
    return rc;
}

/* ---- registry ---------------------------------------------------------- */

struct macx_registry_t {
    macx_agency_t *agencies;
    size_t n;
};

static const char *const s_pub_keys[] = {
    "agency", "kind", "sign_public", "box_public", "curve_public", "created", NULL
};

static int
s_load_public (const char *path, const char *expect_id, macx_agency_t *a, macx_error_t *err)
{
    char *text = NULL;
    size_t len;
    int rc = macx_file_read (path, S_FILE_MAX, &text, &len, err);
    if (rc)
        return rc;
    s_kvfile_t f;
    if ((rc = s_kv_parse (path, text, s_pub_keys, &f, err)))
        goto done;
    memset (a, 0, sizeof *a);
    s_kv_t *kv = s_kv_get (&f, "agency");
    if (macx_keys_check_id (kv->value, err)) {
        macx_error_prefix (err, "%s:%d", path, kv->line);
        rc = MACX_EFORMAT;
        if (err)
            err->code = rc;
        goto done;
    }
    if (strcmp (kv->value, expect_id) != 0) {
        rc = macx_error_set (err, MACX_EFORMAT, "%s:%d: agency '%s' does not match the file name",
                             path, kv->line, kv->value);
        goto done;
    }
    snprintf (a->id, sizeof a->id, "%s", kv->value);
    kv = s_kv_get (&f, "kind");
    if (!s_kind_valid (kv->value)) {
        rc = macx_error_set (err, MACX_EFORMAT, "%s:%d: unknown kind '%.40s'", path, kv->line, kv->value);
        goto done;
    }
    snprintf (a->kind, sizeof a->kind, "%s", kv->value);
    if ((rc = s_kv_hex (path, s_kv_get (&f, "sign_public"), a->sign_pk, 32, err))
        || (rc = s_kv_hex (path, s_kv_get (&f, "box_public"), a->box_pk, 32, err))
        || (rc = s_kv_z85 (path, s_kv_get (&f, "curve_public"), a->curve_pk, err)))
        goto done;
    zmq_z85_encode (a->curve_z85, a->curve_pk, 32);
done:
    free (text);
    return rc;
}

static int
s_cmp_agency (const void *x, const void *y)
{
    return strcmp (((const macx_agency_t *) x)->id, ((const macx_agency_t *) y)->id);
}

static int
s_load_revoked (const char *dir, macx_registry_t *self, macx_error_t *err)
{
    char path[4096], *text = NULL;
    size_t len;
    snprintf (path, sizeof path, "%s/revoked", dir);
    int rc = macx_file_read (path, 1 << 20, &text, &len, err);
    if (rc == MACX_ENOTFOUND)
        return MACX_OK;
    if (rc)
        return rc;
    int line = 0;
    char *save = NULL;
    for (char *p = text; p; p = save) {
        line++;
        save = strchr (p, '\n');
        if (save)
            *save++ = '\0';
        if (*p == '\0' || *p == '#')
            continue;
        char id[MACX_AGENCY_ID_MAX + 2] = "", when[40] = "";
        int used = 0;
        if (sscanf (p, "%33s %39s %n", id, when, &used) < 2 || macx_keys_check_id (id, NULL)) {
            rc = macx_error_set (err, MACX_EFORMAT, "%s:%d: expected 'AGENCY TIME REASON'", path, line);
            break;
        }
        macx_agency_t key;
        snprintf (key.id, sizeof key.id, "%s", id);
        macx_agency_t *a = self->n ? bsearch (&key, self->agencies, self->n, sizeof *a, s_cmp_agency)
                                   : NULL;
        if (a) {   /* revoking an agency whose keys were removed is harmless */
            a->revoked = true;
            snprintf (a->revoked_reason, sizeof a->revoked_reason, "%s", p + used);
        }
    }
    free (text);
    return rc;
}

macx_registry_t *
macx_registry_load (const char *dir, macx_error_t *err)
{
    macx_registry_t *self = calloc (1, sizeof *self);
    DIR *d = opendir (dir);
    if (!self || !d) {
        macx_error_set (err, d ? MACX_ENOMEM : (errno == ENOENT ? MACX_ENOTFOUND : MACX_EIO),
                        "%s: %s", dir, d ? "out of memory" : strerror (errno));
        goto fail;
    }
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir (d))) {
        size_t len = strlen (e->d_name);
        if (len < 5 || strcmp (e->d_name + len - 4, ".pub") != 0)
            continue;
        if (self->n == cap) {
            cap = cap ? cap * 2 : 16;
            macx_agency_t *grown = realloc (self->agencies, cap * sizeof *grown);
            if (!grown) {
                macx_error_set (err, MACX_ENOMEM, "out of memory");
                goto fail;
            }
            self->agencies = grown;
        }
        char path[4096], id[64];
        snprintf (id, sizeof id, "%.*s", (int) (len - 4), e->d_name);
        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        if (s_load_public (path, id, &self->agencies[self->n], err))
            goto fail;
        self->n++;
    }
    closedir (d);
    d = NULL;
    if (self->n)
        qsort (self->agencies, self->n, sizeof *self->agencies, s_cmp_agency);
    /* File names make ids unique; keys must be unique too, across kinds. */
    for (size_t i = 0; i < self->n; i++)
        for (size_t j = i + 1; j < self->n; j++) {
            const macx_agency_t *a = &self->agencies[i], *b = &self->agencies[j];
            const uint8_t *ka[3] = { a->sign_pk, a->box_pk, a->curve_pk };
            const uint8_t *kb[3] = { b->sign_pk, b->box_pk, b->curve_pk };
            for (int x = 0; x < 3; x++)
                for (int y = 0; y < 3; y++)
                    if (memcmp (ka[x], kb[y], 32) == 0) {
                        macx_error_set (err, MACX_EDUP, "%s: agencies '%s' and '%s' share a public key",
                                        dir, a->id, b->id);
                        goto fail;
                    }
        }
    if (s_load_revoked (dir, self, err))
        goto fail;
    return self;
fail:
    if (d)
        closedir (d);
    macx_registry_destroy (&self);
    return NULL;
}

void
macx_registry_destroy (macx_registry_t **self_p)
{
    if (self_p && *self_p) {
        free ((*self_p)->agencies);
        free (*self_p);
        *self_p = NULL;
    }
}

size_t macx_registry_size (const macx_registry_t *self) { return self->n; }

const macx_agency_t *
macx_registry_at (const macx_registry_t *self, size_t index)
{
    return index < self->n ? &self->agencies[index] : NULL;
}

const macx_agency_t *
macx_registry_find (const macx_registry_t *self, const char *id)
{
    if (!id || strlen (id) > MACX_AGENCY_ID_MAX || self->n == 0)
        return NULL;   /* bsearch must not see the NULL array of an empty registry */
    macx_agency_t key;
    snprintf (key.id, sizeof key.id, "%s", id);
    return bsearch (&key, self->agencies, self->n, sizeof key, s_cmp_agency);
}

const macx_agency_t *
macx_registry_find_curve (const macx_registry_t *self, const uint8_t curve_pk[MACX_KEY_BYTES])
{
    for (size_t i = 0; i < self->n; i++)
        if (sodium_memcmp (self->agencies[i].curve_pk, curve_pk, 32) == 0)
            return &self->agencies[i];
    return NULL;
}

int
macx_keys_verify (const macx_agency_t *a, const uint8_t *msg, size_t len,
                  const uint8_t sig[MACX_SIG_BYTES])
{
    return crypto_sign_verify_detached (sig, msg, len, a->sign_pk) == 0 ? MACX_OK : MACX_EBADSIG;
}

/* ---- identity ---------------------------------------------------------- */

typedef struct {
    uint8_t sign_sk[64];
    uint8_t box_sk[32];
    uint8_t curve_sk[32];
    struct {
        char peer[MACX_AGENCY_ID_MAX + 1];
        uint8_t peer_box_pk[32];
        uint8_t key[32];
    } pairs[S_PAIR_MAX];
    size_t npairs;
} s_secrets_t;

struct macx_identity_t {
    macx_agency_t agency;
    s_secrets_t *secrets;      /* sodium_malloc */
    size_t derivations;
    size_t next_evict;
};

static const char *const s_sec_keys[] = {
    "agency", "sign_secret", "box_secret", "curve_secret", NULL
};

/* Reads a secret file into sodium_malloc memory after checking its mode. */
static char *
s_read_secret (const char *path, macx_error_t *err)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        macx_error_set (err, errno == ENOENT ? MACX_ENOTFOUND : MACX_EIO, "%s: %s", path,
                        strerror (errno));
        return NULL;
    }
    struct stat st;
    char *buf = NULL;
    if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
        macx_error_set (err, MACX_EIO, "%s: not a regular file", path);
        goto done;
    }
    if (st.st_mode & 077) {
        macx_error_set (err, MACX_EPERM,
                        "%s: secret key file is accessible to group or others (mode %04o); "
                        "run 'chmod 600 %s'", path, (unsigned) (st.st_mode & 07777), path);
        goto done;
    }
    if (st.st_size > S_FILE_MAX) {
        macx_error_set (err, MACX_ETOOBIG, "%s: %lld bytes, too large for a key file", path,
                        (long long) st.st_size);
        goto done;
    }
    buf = sodium_malloc ((size_t) st.st_size + 1);
    if (!buf) {
        macx_error_set (err, MACX_ENOMEM, "sodium_malloc failed");
        goto done;
    }
    ssize_t n = read (fd, buf, (size_t) st.st_size);
    if (n != st.st_size) {
        macx_error_set (err, MACX_EIO, "%s: short read", path);
        sodium_free (buf);
        buf = NULL;
        goto done;
    }
    buf[n] = '\0';
done:
    close (fd);
    return buf;
}

macx_identity_t *
macx_identity_load (const char *dir, const char *id, macx_error_t *err)
{
    if (sodium_init () < 0) {
        macx_error_set (err, MACX_ECRYPTO, "libsodium failed to initialise");
        return NULL;
    }
    if (macx_keys_check_id (id, err))
        return NULL;
    char pub_path[4096], sec_path[4096];
    if (s_path (pub_path, sizeof pub_path, dir, id, ".pub", err)
        || s_path (sec_path, sizeof sec_path, dir, id, ".secret", err))
        return NULL;
    macx_identity_t *self = calloc (1, sizeof *self);
    char *text = NULL;
    if (!self) {
        macx_error_set (err, MACX_ENOMEM, "out of memory");
        return NULL;
    }
    if (s_load_public (pub_path, id, &self->agency, err))
        goto fail;
    self->secrets = sodium_malloc (sizeof *self->secrets);
    if (!self->secrets) {
        macx_error_set (err, MACX_ENOMEM, "sodium_malloc failed");
        goto fail;
    }
    sodium_memzero (self->secrets, sizeof *self->secrets);
    if (!(text = s_read_secret (sec_path, err)))
        goto fail;
    s_kvfile_t f;
    if (s_kv_parse (sec_path, text, s_sec_keys, &f, err))
        goto fail;
    s_kv_t *kv = s_kv_get (&f, "agency");
    if (strcmp (kv->value, id) != 0) {
        macx_error_set (err, MACX_EFORMAT, "%s:%d: agency '%.40s' does not match '%s'", sec_path,
                        kv->line, kv->value, id);
        goto fail;
    }
    s_secrets_t *s = self->secrets;
    if (s_kv_hex (sec_path, s_kv_get (&f, "sign_secret"), s->sign_sk, 64, err)
        || s_kv_hex (sec_path, s_kv_get (&f, "box_secret"), s->box_sk, 32, err)
        || s_kv_z85 (sec_path, s_kv_get (&f, "curve_secret"), s->curve_sk, err))
        goto fail;
    /* The secret must belong to the public identity beside it. */
    uint8_t pk[32];
    crypto_sign_ed25519_sk_to_pk (pk, s->sign_sk);
    bool match = sodium_memcmp (pk, self->agency.sign_pk, 32) == 0;
    crypto_scalarmult_base (pk, s->box_sk);
    match = match && sodium_memcmp (pk, self->agency.box_pk, 32) == 0;
    crypto_scalarmult_base (pk, s->curve_sk);
    match = match && sodium_memcmp (pk, self->agency.curve_pk, 32) == 0;
    if (!match) {
        macx_error_set (err, MACX_EFORMAT, "%s: secret keys do not match %s", sec_path, pub_path);
        goto fail;
    }
    sodium_free (text);
    return self;
fail:
    if (text)
        sodium_free (text);
    macx_identity_destroy (&self);
    return NULL;
}

void
macx_identity_destroy (macx_identity_t **self_p)
{
    if (self_p && *self_p) {
        if ((*self_p)->secrets)
            sodium_free ((*self_p)->secrets);
        free (*self_p);
        *self_p = NULL;
    }
}

const macx_agency_t *
macx_identity_agency (const macx_identity_t *self)
{
    return &self->agency;
}

int
macx_identity_sign (const macx_identity_t *self, const uint8_t *msg, size_t len,
                    uint8_t sig[MACX_SIG_BYTES])
{
    return crypto_sign_detached (sig, NULL, msg, len, self->secrets->sign_sk) == 0
               ? MACX_OK : MACX_ECRYPTO;
}

/* Returns the cached pair key with peer, deriving it on first use. The key
 * is BLAKE2b(X25519 shared secret, context, both ids in order), the same from
 * either side. */
static const uint8_t *
s_pair_key (macx_identity_t *self, const macx_agency_t *peer)
{
    s_secrets_t *s = self->secrets;
    for (size_t i = 0; i < s->npairs; i++)
        if (strcmp (s->pairs[i].peer, peer->id) == 0
            && sodium_memcmp (s->pairs[i].peer_box_pk, peer->box_pk, 32) == 0)
            return s->pairs[i].key;
    size_t slot = s->npairs < S_PAIR_MAX ? s->npairs++ : self->next_evict++ % S_PAIR_MAX;
    uint8_t shared[crypto_scalarmult_BYTES];
    if (crypto_scalarmult (shared, s->box_sk, peer->box_pk) != 0) {
        if (slot == s->npairs - 1)
            s->npairs--;
        return NULL;
    }
    const char *lo = strcmp (self->agency.id, peer->id) < 0 ? self->agency.id : peer->id;
    const char *hi = lo == self->agency.id ? peer->id : self->agency.id;
    crypto_generichash_state st;
    crypto_generichash_init (&st, shared, sizeof shared, 32);
    crypto_generichash_update (&st, (const uint8_t *) "macx-pair-v1", 13);
    crypto_generichash_update (&st, (const uint8_t *) lo, strlen (lo) + 1);
    crypto_generichash_update (&st, (const uint8_t *) hi, strlen (hi) + 1);
    crypto_generichash_final (&st, s->pairs[slot].key, 32);
    sodium_memzero (shared, sizeof shared);
    sodium_memzero (&st, sizeof st);
    snprintf (s->pairs[slot].peer, sizeof s->pairs[slot].peer, "%s", peer->id);
    memcpy (s->pairs[slot].peer_box_pk, peer->box_pk, 32);
    self->derivations++;
    return s->pairs[slot].key;
}

int
macx_identity_wrap (macx_identity_t *self, const macx_agency_t *peer, const uint8_t *ad,
                    size_t adlen, const uint8_t key[MACX_KEY_BYTES],
                    uint8_t nonce[MACX_WRAP_NONCE], uint8_t out[MACX_WRAP_BYTES])
{
    const uint8_t *pk = s_pair_key (self, peer);
    if (!pk)
        return MACX_ECRYPTO;
    randombytes_buf (nonce, MACX_WRAP_NONCE);
    unsigned long long outlen;
    return crypto_aead_xchacha20poly1305_ietf_encrypt (out, &outlen, key, MACX_KEY_BYTES, ad, adlen,
                                                       NULL, nonce, pk) == 0
               ? MACX_OK : MACX_ECRYPTO;
}

int
macx_identity_unwrap (macx_identity_t *self, const macx_agency_t *peer, const uint8_t *ad,
                      size_t adlen, const uint8_t nonce[MACX_WRAP_NONCE],
                      const uint8_t in[MACX_WRAP_BYTES], uint8_t key[MACX_KEY_BYTES])
{
    const uint8_t *pk = s_pair_key (self, peer);
    if (!pk)
        return MACX_ECRYPTO;
    unsigned long long outlen;
    return crypto_aead_xchacha20poly1305_ietf_decrypt (key, &outlen, NULL, in, MACX_WRAP_BYTES, ad,
                                                       adlen, nonce, pk) == 0
               ? MACX_OK : MACX_EDECRYPT;
}

int
macx_identity_curve_apply (const macx_identity_t *self, void *sock, bool as_server,
                           const uint8_t *server_pk)
{
    int on = 1;
    if (as_server) {
        if (zmq_setsockopt (sock, ZMQ_CURVE_SERVER, &on, sizeof on) != 0)
            return MACX_EINVAL;
    }
    else if (!server_pk || zmq_setsockopt (sock, ZMQ_CURVE_SERVERKEY, server_pk, 32) != 0)
        return MACX_EINVAL;
    if (zmq_setsockopt (sock, ZMQ_CURVE_PUBLICKEY, self->agency.curve_pk, 32) != 0
        || zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, self->secrets->curve_sk, 32) != 0)
        return MACX_EINVAL;
    return MACX_OK;
}

size_t
macx_identity_pair_derivations (const macx_identity_t *self)
{
    return self->derivations;
}

int
macx_keys_foreign_secrets (const char *dir, const char *self_id, bool only_loose, char *list,
                           size_t size)
{
    if (size)
        list[0] = '\0';
    DIR *d = opendir (dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir (d))) {
        size_t len = strlen (e->d_name);
        if (len <= 7 || strcmp (e->d_name + len - 7, ".secret") != 0
            || (strlen (self_id) == len - 7 && strncmp (e->d_name, self_id, len - 7) == 0))
            continue;
        char path[4096];
        struct stat st;
        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat (path, &st) != 0 || !S_ISREG (st.st_mode) || (only_loose && !(st.st_mode & 077)))
            continue;
        size_t used = strlen (list);
        if (used + 1 < size)
            snprintf (list + used, size - used, "%s%s (%04o)", n ? ", " : "", e->d_name,
                      (unsigned) (st.st_mode & 07777));
        n++;
    }
    closedir (d);
    return n;
}
