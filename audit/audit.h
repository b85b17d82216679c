/* audit.h -- the hash-chained, checkpointed audit log in LMDB, its verifier
 * and its queries. Decides nothing: the broker tells it what happened.
 *
 * Writers borrow the broker's environment and write transaction, so an
 * audit entry commits (or not) together with the mailbox entries it
 * describes. Readers open the data directory read-only and may run while
 * the broker writes (LMDB MVCC).
 *
 * Storage (named databases in the broker's env):
 *   "audit"        key: seq as 8 bytes big-endian
 *                  value: 32-byte entry hash || serialised Macx__AuditEntry
 *   "checkpoints"  key: seq (8 bytes BE), value: serialised Macx__Checkpoint
 * hash(n) = BLAKE2b-256("macx-audit-v1" || prev_hash || entry bytes), the
 * entry carrying prev_hash = hash(n-1) (32 zero bytes before the first). */
#ifndef MACX_AUDIT_H
#define MACX_AUDIT_H

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "keys.h"
#include "macx.pb-c.h"

#define MACX_AUDIT_HASH_BYTES 32
#define MACX_AUDIT_MAXDBS     16   /* open the env with at least this many */

typedef struct macx_audit_t macx_audit_t;

/* Opens (creating if needed) the audit databases inside env within the write
 * transaction txn, and loads the chain head. The caller commits txn. Returns
 * a new writer or NULL with err set. One writer per env; not thread-safe. */
macx_audit_t *macx_audit_attach (MDB_env *env, MDB_txn *txn, macx_error_t *err);
void macx_audit_destroy (macx_audit_t **self_p);

/* Appends entry within txn: sets entry->seq, entry->prev_hash (pointing into
 * self; valid until the next append) and entry->time_ms when zero. *seq
 * receives the entry's sequence number. MACX_ESTORE (with the LMDB error in
 * err) if the write fails, e.g. MDB_MAP_FULL; the caller then aborts txn
 * and calls macx_audit_aborted. */
int macx_audit_append (macx_audit_t *self, MDB_txn *txn, Macx__AuditEntry *entry,
                       uint64_t *seq, macx_error_t *err);

/* Writes a checkpoint of the current (pending) head within txn, signed by
 * the broker identity. No-op returning 0 when nothing was appended since
 * the last checkpoint. */
int macx_audit_checkpoint (macx_audit_t *self, MDB_txn *txn, const macx_identity_t *broker,
                           macx_error_t *err);

/* Entries appended since the last checkpoint (pending included). */
uint64_t macx_audit_since_checkpoint (const macx_audit_t *self);

/* Call after txn commits (pending head becomes the head) or aborts (the
 * pending head is dropped; the next append continues from the last commit). */
void macx_audit_committed (macx_audit_t *self);
void macx_audit_aborted (macx_audit_t *self);

/* Reads entry seq as the write transaction txn sees it (entries appended
 * in it included) into *entry, a new message the caller frees with
 * macx__audit_entry__free_unpacked. MACX_ENOTFOUND when there is none,
 * MACX_EFORMAT when it does not decode, MACX_ESTORE. */
int macx_audit_get (macx_audit_t *self, MDB_txn *txn, uint64_t seq, Macx__AuditEntry **entry,
                    macx_error_t *err);

/* Sequence number of the last committed entry (0 when empty). */
uint64_t macx_audit_head_seq (const macx_audit_t *self);

/* ---- readers ------------------------------------------------------------ */

typedef struct macx_audit_reader_t macx_audit_reader_t;

/* Opens data_dir (the broker's --data directory) read-only. ENOTFOUND if
 * there is no store there. */
macx_audit_reader_t *macx_audit_reader_open (const char *data_dir, macx_error_t *err);
void macx_audit_reader_destroy (macx_audit_reader_t **self_p);
/* The read-only LMDB env of the store it opened (owned by the reader), for
 * tools that read the broker's other tables (broker/cases.c). */
MDB_env *macx_audit_reader_env (macx_audit_reader_t *self);

typedef struct {
    uint64_t entries;            /* entries checked */
    uint64_t checkpoints;        /* checkpoint signatures checked */
    uint64_t last_checkpoint;    /* seq of the last checkpoint (0: none) */
    uint64_t unsigned_tail;      /* entries after the last checkpoint */
    uint64_t first_bad;          /* seq of the first bad entry, 0 if intact */
    char problem[256];           /* what is wrong with it, one sentence */
} macx_audit_report_t;

/* Checks every entry's hash and link and every checkpoint's signature
 * (against broker's sign_pk) and head. Returns 0 when intact, MACX_EBADSIG
 * or MACX_EFORMAT when not (report->first_bad and ->problem name the first
 * bad entry or checkpoint), or another error if the store cannot be read. */
int macx_audit_verify (macx_audit_reader_t *self, const macx_agency_t *broker,
                       macx_audit_report_t *report, macx_error_t *err);

typedef struct {
    const char *case_id;         /* NULL: any */
    const char *agency;          /* peer, sender, a recipient, or recipient */
    const char *event;           /* accept, refuse, deliver, purge, ... */
    int64_t since_ms;            /* entries at or after this wall time */
    uint64_t from_seq;           /* start at this seq (0: first) */
    uint64_t limit;              /* 0: no limit */
} macx_audit_filter_t;

/* Calls fn for each entry matching filter, in sequence order, within one
 * read transaction. fn returns 0 to go on, non-zero to stop (that value is
 * returned). The entry is valid only during the call. */
typedef int (*macx_audit_fn) (const Macx__AuditEntry *entry, void *arg);
int macx_audit_scan (macx_audit_reader_t *self, const macx_audit_filter_t *filter,
                     macx_audit_fn fn, void *arg, macx_error_t *err);

/* Prints one entry: a one-line text summary, or one JSON object (no
 * trailing newline) with every field, record ids in hex, phases and reasons
 * by name. */
void macx_audit_print_entry (FILE *out, const Macx__AuditEntry *entry, int json);

/* Writes the whole log as JSON lines, in sequence order, each checkpoint
 * right after the entry it covers: entries as macx_audit_print_entry's
 * object plus "type":"entry", the stored "hash" and the serialised bytes
 * ("raw", hex) so it can be re-verified elsewhere; checkpoints as
 * {"type":"checkpoint","seq","head","time_ms","time","broker","signature"}.
 * Does not verify; an entry that does not decode is written as
 * {"type":"entry","seq":N,"decode_error":true,"raw":...}. */
int macx_audit_export (macx_audit_reader_t *self, FILE *out, macx_error_t *err);

/* ---- a subject's disclosure history ------------------------------------- */

/* What became of one recipient's copy of a record. */
typedef enum {
    MACX_DISCLOSURE_QUEUED = 0,  /* accepted, not yet delivered */
    MACX_DISCLOSURE_PURGED,      /* its retention ended before delivery: erased at the broker */
    MACX_DISCLOSURE_HELD,        /* delivered, held by the recipient */
    MACX_DISCLOSURE_REVIEW,      /* held, under review (the agreement's on_expiry) */
    MACX_DISCLOSURE_ANONYMISED,  /* the recipient anonymised its copy */
    MACX_DISCLOSURE_DELETED      /* the recipient deleted its copy */
} macx_audit_disclosure_status_t;

/* One disclosure: a record about the subject, as one recipient got it.
 * Times are the broker's clock (simulated in pilots), ms since the epoch;
 * 0 = not (yet) known. */
typedef struct {
    uint8_t record_id[16];
    char sender[64], recipient[64], record_type[64], case_id[128], purpose[128];
    int phase;
    char agreement[128], flow[64];
    char *claimed_basis;         /* the header's legal basis ("" for none) */
    char *disclose_basis;        /* the agreement's, for the sender; known once delivered */
    char *receive_basis;         /* ... for the recipient */
    char *fields;                /* the manifest: "name[:transform],..." */
    int64_t shared_ms;           /* the broker's stamp (accept) */
    int64_t delivered_ms;        /* when it reached the recipient */
    uint32_t retention_days;
    char retention_from[16];
    int64_t expires_ms;          /* 0: no retention stated, or not yet delivered */
    char on_expiry[16];
    macx_audit_disclosure_status_t status;
    int64_t status_ms;           /* purged (wall), or when the recipient says it acted */
    int64_t acted_late_ms;       /* how long after expiry it acted (0: on time) */
    bool overdue;                /* held as delivered after its expiry (by the log's time) */
    uint64_t receipts_refused;   /* retention receipts about this copy the broker refused */
    uint64_t accept_seq, deliver_seq, status_seq;   /* the audit entries behind it */
} macx_audit_disclosure_t;

typedef struct macx_audit_history_t macx_audit_history_t;

/* Reads the whole log for subject (a pseudonym, e.g. "S-000042"): one row
 * per (record, recipient) of every record about it the broker accepted, in
 * acceptance order, with what became of each copy. Returns a new history
 * (caller destroys it) or NULL with err. A subject no entry names gives an
 * empty history (see entries, others). */
macx_audit_history_t *macx_audit_history (macx_audit_reader_t *reader, const char *subject,
                                          macx_error_t *err);
void macx_audit_history_destroy (macx_audit_history_t **self_p);
/* Entries that name the subject (0: the log does not know it). */
uint64_t macx_audit_history_entries (const macx_audit_history_t *self);
/* When it names none: the first subjects the log does name, comma-separated
 * (*more when there are others). Borrowed. */
const char *macx_audit_history_others (const macx_audit_history_t *self, bool *more);
size_t macx_audit_history_count (const macx_audit_history_t *self);
const macx_audit_disclosure_t *macx_audit_history_row (const macx_audit_history_t *self, size_t i);
/* "queued", "purged", "held", "review", "anonymised" or "deleted". */
const char *macx_audit_disclosure_status_name (macx_audit_disclosure_status_t s);
/* For people: a header, one line per disclosure, the legend of legal bases;
 * or one JSON object (json) on one line. docs/audit.md, `macx audit subject`. */
void macx_audit_history_print (FILE *out, const macx_audit_history_t *self, bool json);

/* Formats ms since the epoch as "2026-11-27T10:00:00.123Z" into buf (at
 * least 32 bytes); returns buf. */
char *macx_audit_format_time (int64_t ms, char *buf);

/* Parses "YYYY-MM-DD" (midnight UTC) or "YYYY-MM-DDTHH:MM[:SS[.fff]][Z]"
 * (always UTC) into ms since the epoch; 0, or -1 if it does not parse. */
int macx_audit_parse_time (const char *text, int64_t *ms);

#endif
