/* file.c -- bounded reads, atomic writes, hex, process hardening. */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

int
macx_file_read (const char *path, size_t max, char **data, size_t *len, macx_error_t *err)
{
    *data = NULL;
    *len = 0;
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return macx_error_set (err, errno == ENOENT ? MACX_ENOTFOUND : MACX_EIO,
                               "%s: %s", path, strerror (errno));
    struct stat st;
    if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
        close (fd);
        return macx_error_set (err, MACX_EIO, "%s: not a regular file", path);
    }
    if ((size_t) st.st_size > max) {
        close (fd);
        return macx_error_set (err, MACX_ETOOBIG, "%s: %lld bytes, more than the limit of %zu",
                               path, (long long) st.st_size, max);
    }
    char *buf = malloc ((size_t) st.st_size + 1);
    if (!buf) {
        close (fd);
        return macx_error_set (err, MACX_ENOMEM, "%s: out of memory", path);
    }
    size_t got = 0;
    while (got < (size_t) st.st_size) {
        ssize_t n = read (fd, buf + got, (size_t) st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;
            free (buf);
            close (fd);
            return macx_error_set (err, MACX_EIO, "%s: read failed: %s", path,
                                   n == 0 ? "file shrank" : strerror (e));
        }
        got += (size_t) n;
    }
    close (fd);
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return MACX_OK;
}

static int
s_fsync_dir (const char *path)
{
    char copy[4096];
    snprintf (copy, sizeof copy, "%s", path);
    int fd = open (dirname (copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    close (fd);
    return rc;
}

int
macx_file_write (const char *path, const void *data, size_t len, mode_t mode, int exclusive,
                 macx_error_t *err)
{
    if (exclusive && access (path, F_OK) == 0)
        return macx_error_set (err, MACX_EDUP, "%s: already exists", path);
    char tmp[4096];
    if ((size_t) snprintf (tmp, sizeof tmp, "%s.tmp.%ld", path, (long) getpid ()) >= sizeof tmp)
        return macx_error_set (err, MACX_EINVAL, "%s: path too long", path);
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return macx_error_set (err, MACX_EIO, "%s: %s", tmp, strerror (errno));
    if (fchmod (fd, mode) != 0)
        goto fail;
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write (fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        p += n;
        left -= (size_t) n;
    }
    if (fsync (fd) != 0)
        goto fail;
    close (fd);
    fd = -1;
    if (rename (tmp, path) != 0)
        goto fail;
    s_fsync_dir (path);
    return MACX_OK;
fail:;
    int e = errno;
    if (fd >= 0)
        close (fd);
    unlink (tmp);
    return macx_error_set (err, MACX_EIO, "%s: write failed: %s", path, strerror (e));
}

void
macx_hex_encode (const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static int
s_nibble (char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int
macx_hex_decode (const char *hex, uint8_t *out, size_t outlen)
{
    if (strlen (hex) != 2 * outlen)
        return -1;
    for (size_t i = 0; i < outlen; i++) {
        int hi = s_nibble (hex[2 * i]), lo = s_nibble (hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t) (hi << 4 | lo);
    }
    return 0;
}

void
macx_harden_process (void)
{
    struct rlimit rl = { 0, 0 };
    setrlimit (RLIMIT_CORE, &rl);
    prctl (PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int
macx_file_mkdirs (const char *path, macx_error_t *err)
{
    char tmp[4096];
    if (strlen (path) >= sizeof tmp)
        return macx_error_set (err, MACX_EINVAL, "path too long: %.80s...", path);
    snprintf (tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir (tmp, 0700) != 0 && errno != EEXIST)
                return macx_error_set (err, MACX_EIO, "%s: %s", tmp, strerror (errno));
            *p = '/';
        }
    if (mkdir (tmp, 0700) != 0 && errno != EEXIST)
        return macx_error_set (err, MACX_EIO, "%s: %s", tmp, strerror (errno));
    return MACX_OK;
}
