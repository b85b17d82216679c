/* file.h -- bounded whole-file reads, crash-safe writes (temp + fsync +
 * rename + directory fsync), hex codecs, and process hardening. */
#ifndef MACX_FILE_H
#define MACX_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* Reads at most max bytes of path into a new NUL-terminated buffer; the
 * caller frees *data. Fails with ETOOBIG past max, ENOTFOUND if missing. */
int macx_file_read (const char *path, size_t max, char **data, size_t *len, macx_error_t *err);

/* Writes data to path atomically with the given mode (e.g. 0600), creating
 * it with that mode from the start so a secret is never briefly readable.
 * Fails with EDUP if exclusive and path exists. */
int macx_file_write (const char *path, const void *data, size_t len, mode_t mode,
                     int exclusive, macx_error_t *err);

/* Lowercase hex. out must hold 2*len+1 bytes. */
/* Creates path and every missing directory above it, each mode 0700 (the
 * directories macx makes hold keys, stores and runs). Returns 0, or
 * MACX_EIO naming the directory that could not be made. */
int macx_file_mkdirs (const char *path, macx_error_t *err);

void macx_hex_encode (const uint8_t *in, size_t len, char *out);
/* Decodes exactly outlen bytes from hex text of length 2*outlen; 0 or -1. */
int macx_hex_decode (const char *hex, uint8_t *out, size_t outlen);

/* Disables core dumps and ptrace attach for a process holding secrets. */
void macx_harden_process (void);

#endif
