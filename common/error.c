/* error.c -- error names, messages and exit codes (table-driven). */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    int code;
    const char *name;
    const char *text;
    int exit_code;
} s_error_entry_t;

static const s_error_entry_t s_errors[] = {
    { MACX_OK,            "OK",           "success",                          MACX_EX_OK },
    { MACX_EINVAL,        "EINVAL",       "invalid argument",                 MACX_EX_USAGE },
    { MACX_ENOMEM,        "ENOMEM",       "out of memory",                    MACX_EX_SOFTWARE },
    { MACX_EIO,           "EIO",          "input/output error",               MACX_EX_IOERR },
    { MACX_EFORMAT,       "EFORMAT",      "malformed file",                   MACX_EX_DATAERR },
    { MACX_EPERM,         "EPERM",        "secret file permissions too open", MACX_EX_CONFIG },
    { MACX_ENOTFOUND,     "ENOTFOUND",    "not found",                        MACX_EX_NOINPUT },
    { MACX_EDUP,          "EDUP",         "duplicate",                        MACX_EX_DATAERR },
    { MACX_ETOOBIG,       "ETOOBIG",      "input too large",                  MACX_EX_DATAERR },
    { MACX_ETRUNC,        "ETRUNC",       "input truncated",                  MACX_EX_DATAERR },
    { MACX_EDECODE,       "EDECODE",      "malformed message",                MACX_EX_DATAERR },
    { MACX_EVERSION,      "EVERSION",     "unsupported version",              MACX_EX_DATAERR },
    { MACX_EUNKNOWN,      "EUNKNOWN",     "unknown agency",                   MACX_EX_DATAERR },
    { MACX_EREVOKED,      "EREVOKED",     "agency revoked",                   MACX_EX_DATAERR },
    { MACX_EBADSIG,       "EBADSIG",      "bad signature",                    MACX_EX_DATAERR },
    { MACX_ENOTRECIPIENT, "ENOTRECIPIENT","not a recipient",                  MACX_EX_DATAERR },
    { MACX_EDECRYPT,      "EDECRYPT",     "decryption failed",                MACX_EX_DATAERR },
    { MACX_EMANIFEST,     "EMANIFEST",    "payload does not match manifest",  MACX_EX_DATAERR },
    { MACX_ELIMIT,        "ELIMIT",       "too many elements",                MACX_EX_DATAERR },
    { MACX_ECRYPTO,       "ECRYPTO",      "cryptographic operation failed",   MACX_EX_SOFTWARE },
    { MACX_EPOLICY,       "EPOLICY",      "invalid policy",                   MACX_EX_DATAERR },
    { MACX_ESTORE,        "ESTORE",       "store unavailable",                MACX_EX_IOERR },
    { MACX_ETIMEOUT,      "ETIMEOUT",     "timed out",                        MACX_EX_UNAVAILABLE },
    { MACX_EPROTO,        "EPROTO",       "protocol error",                   MACX_EX_DATAERR },
    { MACX_EINTERNAL,     "EINTERNAL",    "internal error",                   MACX_EX_SOFTWARE },
    { MACX_EDENIED,       "EDENIED",      "refused",                          MACX_EX_FAIL },
    { MACX_EHEADER,       "EHEADER",      "invalid record header",            MACX_EX_DATAERR },
    { MACX_EDONE,         "EDONE",        "the simulation has ended",         MACX_EX_OK },
    { MACX_EBATCHPATH,    "EBATCHPATH",   "batch inclusion path does not lead to its root", MACX_EX_DATAERR },
    { MACX_EFOREIGNROOT,  "EFOREIGNROOT", "batch root signed by another agency", MACX_EX_DATAERR },
};

static const s_error_entry_t *
s_lookup (int code)
{
    for (size_t i = 0; i < sizeof s_errors / sizeof s_errors[0]; i++)
        if (s_errors[i].code == code)
            return &s_errors[i];
    return NULL;
}

const char *
macx_strerror (int code)
{
    const s_error_entry_t *e = s_lookup (code);
    return e ? e->text : "unknown error";
}

const char *
macx_errname (int code)
{
    const s_error_entry_t *e = s_lookup (code);
    return e ? e->name : "EUNKNOWNCODE";
}

int
macx_exit_code (int code)
{
    const s_error_entry_t *e = s_lookup (code);
    return e ? e->exit_code : MACX_EX_SOFTWARE;
}

int
macx_error_set (macx_error_t *err, int code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (err->msg, sizeof err->msg, fmt, ap);
        va_end (ap);
    }
    return code;
}

void
macx_error_prefix (macx_error_t *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[256];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (prefix, sizeof prefix, fmt, ap);
    va_end (ap);
    char old[MACX_ERROR_MSG_MAX];
    memcpy (old, err->msg, sizeof old);
    snprintf (err->msg, sizeof err->msg, "%s: %s", prefix,
              old[0] ? old : macx_strerror (err->code));
}

const char *
macx_error_text (const macx_error_t *err)
{
    if (!err)
        return "unknown error";
    return err->msg[0] ? err->msg : macx_strerror (err->code);
}
