/* error.h -- the one error space of macx: negative MACX_E* codes, a detail
 * buffer that names the file, line, field or peer at fault, and the mapping
 * to sysexits(3) exit codes used by every command. */
#ifndef MACX_ERROR_H
#define MACX_ERROR_H

#include <stddef.h>

#define MACX_OK               0
#define MACX_EINVAL         (-1)   /* bad argument from the caller or user */
#define MACX_ENOMEM         (-2)
#define MACX_EIO            (-3)   /* read, write, fsync, rename failed */
#define MACX_EFORMAT        (-4)   /* a file does not parse */
#define MACX_EPERM          (-5)   /* a secret file is readable by others */
#define MACX_ENOTFOUND      (-6)
#define MACX_EDUP           (-7)   /* duplicate id or key */
#define MACX_ETOOBIG        (-8)   /* input over its bound */
#define MACX_ETRUNC         (-9)   /* input shorter than its structure */
#define MACX_EDECODE       (-10)   /* protobuf does not decode */
#define MACX_EVERSION      (-11)   /* unsupported wire version */
#define MACX_EUNKNOWN      (-12)   /* unknown agency */
#define MACX_EREVOKED      (-13)   /* agency or key revoked */
#define MACX_EBADSIG       (-14)   /* signature does not verify */
#define MACX_ENOTRECIPIENT (-15)   /* we are not among the recipients */
#define MACX_EDECRYPT      (-16)   /* AEAD authentication failed */
#define MACX_EMANIFEST     (-17)   /* payload fields differ from the manifest */
#define MACX_ELIMIT        (-18)   /* too many repeated elements */
#define MACX_ECRYPTO       (-19)   /* libsodium refused an operation */
#define MACX_EPOLICY       (-20)   /* policy invalid */
#define MACX_ESTORE        (-21)   /* LMDB store unavailable (map full, disk) */
#define MACX_ETIMEOUT      (-22)
#define MACX_EPROTO        (-23)   /* peer broke the protocol */
#define MACX_EINTERNAL     (-24)
#define MACX_EDENIED       (-25)   /* refused by policy or broker */
#define MACX_EHEADER       (-26)   /* header is well-formed protobuf but invalid */
#define MACX_EDONE         (-27)   /* the simulation has ended (not a failure) */
#define MACX_EBATCHPATH    (-28)   /* a batch inclusion path does not lead to its root */
#define MACX_EFOREIGNROOT  (-29)   /* a batch root signed by another agency than the sender */
#define MACX_ECODE_MIN     (-29)

#define MACX_ERROR_MSG_MAX 512

/* Detail of a failure. Zero-initialise; functions that fail fill it. */
typedef struct {
    int  code;                     /* MACX_E*, 0 when no error */
    char msg[MACX_ERROR_MSG_MAX];  /* one sentence, no trailing newline */
} macx_error_t;

/* Returns a static, human-readable name for code ("bad signature", ...). */
const char *macx_strerror (int code);

/* Returns a static symbolic name for code ("EBADSIG"), for --json output. */
const char *macx_errname (int code);

/* Sets err (if not NULL) to code with a printf-style message; returns code,
 * so callers can write `return macx_error_set (err, MACX_EIO, "...")`. */
int macx_error_set (macx_error_t *err, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* Prefixes the existing message with "prefix: " (e.g. a path). */
void macx_error_prefix (macx_error_t *err, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* Returns err->msg if set, else macx_strerror(err->code). */
const char *macx_error_text (const macx_error_t *err);

/* sysexits(3) codes used by every macx command. */
enum {
    MACX_EX_OK = 0, MACX_EX_FAIL = 1, MACX_EX_USAGE = 64, MACX_EX_DATAERR = 65,
    MACX_EX_NOINPUT = 66, MACX_EX_UNAVAILABLE = 69, MACX_EX_SOFTWARE = 70,
    MACX_EX_IOERR = 74, MACX_EX_CONFIG = 78
};

/* Maps a MACX_E* code to the exit code a command should return. */
int macx_exit_code (int code);

#endif
