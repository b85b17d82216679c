/* policy.h -- sharing agreements: load a policy directory (YAML), compile it
 * to lookup tables, and evaluate record headers against it. Pure: no I/O
 * beyond reading the policy's own files; no sockets, no LMDB.
 *
 * A policy is a directory holding
 *   schema.yaml        agencies, record types, their fields, classes, transforms
 *   forbid.yaml        forbid rules that override every flow (optional)
 *   agreements/NAME.yaml  one information-sharing agreement per file
 * The language is described in docs/policy.md.
 *
 * Semantics: deny by default; forbid beats permit; fail closed (any internal
 * error is a DENY with INTERNAL_ERROR). A compiled policy is immutable after
 * load except through macx_policy_set_effective / macx_policy_set_status,
 * which must be called before the policy is shared between threads; after
 * that it may be evaluated from any number of threads without locking. */
#ifndef MACX_POLICY_H
#define MACX_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

/* Closed limits of the language: bounded tables, bitsets of fields. */
#define MACX_POLICY_MAX_AGENCIES 64
#define MACX_POLICY_MAX_TYPES    32
#define MACX_POLICY_MAX_FIELDS   64   /* per record type */
#define MACX_POLICY_MAX_PURPOSES 32
#define MACX_POLICY_MSG_MAX      256

typedef struct macx_policy_t macx_policy_t;

/* ---- loading -------------------------------------------------------------- */

/* Loads and compiles the policy directory dir. Returns a new policy (caller
 * owns it, macx_policy_destroy) or NULL with err set to EPOLICY (and a
 * message "file:line:column: sentence") or ENOTFOUND/EIO for missing files. */
macx_policy_t *macx_policy_load (const char *dir, macx_error_t *err);

/* Loads a policy from in-memory documents (for the fuzzer and tests): the
 * schema text, the forbid text (may be NULL) and n agreement texts. names
 * are the file names used in messages. */
macx_policy_t *macx_policy_load_texts (const char *schema, const char *forbid,
                                       const char *const *agreements, size_t n,
                                       macx_error_t *err);

/* Destroys the policy and sets *self_p to NULL; safe on NULL. */
void macx_policy_destroy (macx_policy_t **self_p);

/* Content hash: "blake2b:" + 64 hex chars of BLAKE2b-256 over the policy's
 * files in canonical order. Owned by the policy. */
const char *macx_policy_hash (const macx_policy_t *self);

/* Overrides an agreement's effective-from day (days since epoch) after load,
 * e.g. for a pilot where an agreement comes into force on a given day.
 * Returns 0 or ENOTFOUND. Not thread-safe: call before sharing the policy. */
int macx_policy_set_effective (macx_policy_t *self, const char *agreement_id, int32_t day);

/* Agreement statuses (the closed set of the language). */
typedef enum {
    MACX_AGREEMENT_DRAFT, MACX_AGREEMENT_ACTIVE, MACX_AGREEMENT_SUSPENDED,
    MACX_AGREEMENT_TERMINATED
} macx_agreement_status_t;

/* Overrides an agreement's status after load. Returns 0 or ENOTFOUND. */
int macx_policy_set_status (macx_policy_t *self, const char *agreement_id,
                            macx_agreement_status_t status);

/* ---- evaluation ----------------------------------------------------------- */

/* One entry of a field manifest: the field name and its transform ("" or
 * NULL when sent as held). */
typedef struct {
    const char *name;
    const char *transform;
} macx_policy_field_t;

/* What the broker sees in a record header (one recipient at a time). */
typedef struct {
    const char *sender;
    const char *recipient;
    const char *record_type;
    const char *purpose;
    int phase;                           /* Macx__Phase the record belongs to */
    int case_phase;                      /* Macx__Phase the case is in */
    const macx_policy_field_t *fields;   /* the manifest */
    size_t nfields;
    int32_t date;                        /* days since 1970-01-01 */
    const char *origin;                  /* onward sharing: originating agency, or NULL */
    const char *origin_record_type;      /* the type it was received as */
    bool origin_consent;                 /* the originator consented */
    uint32_t sent_today;                 /* records already accepted today on this
                                            flow and sender (the caller counts) */
} macx_policy_request_t;

typedef enum {
    MACX_DECISION_DENY = 0,
    MACX_DECISION_PERMIT,
    MACX_DECISION_PERMIT_WITH_CHANGES   /* the sender must drop or transform fields */
} macx_decision_t;

/* What happens to one manifest field. */
typedef enum {
    MACX_FIELD_RELEASED = 0,     /* may be sent as it is in the manifest */
    MACX_FIELD_TRANSFORM,        /* must be sent transformed with `transform` */
    MACX_FIELD_DROP_FORBIDDEN,   /* must be dropped: forbid rule `rule` */
    MACX_FIELD_DROP_NOT_ALLOWED  /* must be dropped: the flow does not list it */
} macx_field_disposition_t;

typedef struct {
    const char *name;            /* schema spelling; owned by the policy */
    macx_field_disposition_t disposition;
    const char *transform;       /* required (TRANSFORM) or applied (RELEASED), or "" */
    const char *rule;            /* forbid rule id for DROP_FORBIDDEN, else NULL */
} macx_policy_field_result_t;

typedef enum { MACX_ONWARD_PROHIBITED = 0, MACX_ONWARD_ORIGINATOR_CONSENT,
               MACX_ONWARD_AGREEMENTS } macx_onward_t;

#define MACX_POLICY_WARN_REVIEW_DUE 0x1u   /* past review-by, within grace */

/* The outcome of one evaluation. Strings point into the policy and live as
 * long as it does. */
typedef struct {
    macx_decision_t decision;
    int reason;                  /* Macx__Reason: 0 for a clean PERMIT; the denial
                                    reason; or the first change needed
                                    (FIELD_FORBIDDEN, FIELD_NOT_ALLOWED,
                                    TRANSFORM_REQUIRED) for PERMIT_WITH_CHANGES */
    const char *agreement;       /* deciding agreement id, or NULL */
    int agreement_version;
    const char *flow;            /* deciding flow id, or NULL */
    int flow_index;              /* index into the compiled flows, or -1 */
    const char *policy_hash;
    /* per manifest field, in manifest order */
    macx_policy_field_result_t fields[MACX_POLICY_MAX_FIELDS];
    size_t nfields;
    /* obligations (valid when a flow decided) */
    int retention_days;          /* 0 = no limit stated */
    const char *retention_from;  /* "receipt" or "creation" */
    const char *on_expiry;       /* "delete", "review" or "anonymise" */
    macx_onward_t onward;
    const char *const *onward_agreements;
    size_t nonward_agreements;
    uint32_t max_per_day;        /* 0 = no cap */
    unsigned warnings;           /* MACX_POLICY_WARN_* */
    char message[MACX_POLICY_MSG_MAX];   /* one sentence saying why */
} macx_policy_result_t;

/* Evaluates req against the policy into *out. Returns 0 when a decision was
 * made (read out->decision; the broker must refuse anything but PERMIT) or
 * a negative MACX_E* on misuse, in which case out is a DENY with
 * INTERNAL_ERROR (fail closed). Never allocates; thread-safe on a shared
 * policy. */
int macx_policy_evaluate (const macx_policy_t *self, const macx_policy_request_t *req,
                          macx_policy_result_t *out);

/* For the sending agent: given the fields it holds (req->fields, transforms
 * ignored), fills fields_out (capacity max) with the manifest that the
 * broker will PERMIT: forbidden and unlisted fields dropped, transforms set.
 * Returns 0 and *nout with *out the evaluation of the prepared manifest
 * (PERMIT, or the DENY that no field change can cure), or a negative code. */
int macx_policy_prepare (const macx_policy_t *self, const macx_policy_request_t *req,
                         macx_policy_field_t *fields_out, size_t max, size_t *nout,
                         macx_policy_result_t *out);

/* Returns "deny", "permit" or "permit_with_changes". */
const char *macx_decision_name (macx_decision_t d);
/* Parses those names; returns 0 or -1. */
int macx_decision_parse (const char *name, macx_decision_t *d);

/* ---- tools: check, test, explain, diff, can --------------------------------
 * These write human text (or JSON with json=true) to the caller's stream. */

/* Prints the summary of `macx policy check`. */
void macx_policy_summary (const macx_policy_t *self, FILE *out, bool json);

/* Prints the decision for req in plain words: agreements considered, field
 * by field, and the nearest miss of a denial. Returns the evaluation rc. */
int macx_policy_explain (const macx_policy_t *self, const macx_policy_request_t *req,
                         FILE *out, bool json);

/* The case context a broker holds for a request (docs/policy.md "Case
 * context"), computed by the caller (the broker's rules are broker/judge.h)
 * and shown by macx_policy_explain_case beside the policy's decision. */
typedef struct {
    const char *case_id;         /* NULL: no case read, the rule only */
    const char *source;          /* where it was read (the broker's data directory) */
    bool known;                  /* the broker accepted a record of the case */
    uint32_t reached;            /* phases reached, bit 1 << phase */
    int needed;                  /* the phase the record needs reached, 0 none */
    int origin_held;             /* onward: 1 the origin's record was delivered to the
                                    sender, 0 not, -1 not an onward share */
    int reason;                  /* the context's refusal (a Reason), or 0 */
    char message[MACX_POLICY_MSG_MAX];   /* its sentence */
} macx_policy_case_context_t;

/* macx_policy_explain with the case context cx (NULL: none): a refusal by
 * the context is the decision shown, with what the policy alone decides. */
int macx_policy_explain_case (const macx_policy_t *self, const macx_policy_request_t *req,
                              const macx_policy_case_context_t *cx, FILE *out, bool json);

/* Prints what `to` may receive, from whom, in which phases, at date (or
 * whatever the date when date is INT32_MIN). Returns 0 or ENOTFOUND. */
int macx_policy_can (const macx_policy_t *self, const char *to, int32_t date, FILE *out,
                     bool json);

/* Exact diff of two policies over the finite decision space. Prints every
 * cell whose decision, field disposition or obligations change, and changed
 * agreement dates, classed as widening or narrowing. Returns the number of
 * widenings (>= 0). */
int macx_policy_diff (const macx_policy_t *old_p, const macx_policy_t *new_p, FILE *out,
                      bool json);

/* Test files: counts after running. field_pairs is the number of (flow,
 * field) pairs field coverage counts (-1 when it could not be computed),
 * field_pairs_exercised those the cases pin down (docs/policy.md). */
typedef struct {
    int passed, failed;
    int field_pairs, field_pairs_exercised;
} macx_policy_test_stats_t;

/* A test run over one policy: accumulate several files, then report. */
typedef struct macx_policy_suite_t macx_policy_suite_t;

/* Creates a suite over policy (borrowed; must outlive the suite). */
macx_policy_suite_t *macx_policy_suite_new (const macx_policy_t *policy, bool json, FILE *out);
void macx_policy_suite_destroy (macx_policy_suite_t **self_p);
/* Runs the test file at path (cases, matrices, never properties). Returns 0,
 * or EPOLICY/ENOTFOUND with err ("file:line:column: ...") when the test
 * file itself is invalid. Failures are counted, not returned. */
int macx_policy_suite_run_file (macx_policy_suite_t *self, const char *path, macx_error_t *err);
/* Runs test text (for unit tests); name is used in messages. */
int macx_policy_suite_run_text (macx_policy_suite_t *self, const char *name, const char *text,
                                macx_error_t *err);
/* Prints coverage (flows, (flow, field) pairs, reason codes, date
 * boundaries) and the final line "N passed, N failed"; returns stats. */
macx_policy_test_stats_t macx_policy_suite_finish (macx_policy_suite_t *self);

/* A `never` property checked over the whole finite space: no field of class
 * field_class (or named field, when field_class is NULL) is ever released
 * or released transformed from an agency matching from_pattern (NULL = any)
 * to one matching to_pattern, at any boundary date. Returns the number of
 * violating cells; calls cb (may be NULL) for each. */
typedef void (*macx_policy_never_cb) (void *arg, const char *from, const char *to,
                                      const char *type, const char *purpose, int phase,
                                      int32_t date, const char *field, const char *flow);
int macx_policy_never (const macx_policy_t *self, const char *from_pattern,
                       const char *to_pattern, const char *field_class, const char *field,
                       macx_policy_never_cb cb, void *arg);

/* Agency and record-type introspection (for tests, explain and the pilot). */
size_t macx_policy_agency_count (const macx_policy_t *self);
const char *macx_policy_agency_id (const macx_policy_t *self, size_t i);
size_t macx_policy_flow_count (const macx_policy_t *self);
size_t macx_policy_agreement_count (const macx_policy_t *self);

/* The legal bases agreement states for sender to disclose and for
 * recipient to receive (borrowed from the policy; "" where it states none).
 * Returns 0, or MACX_ENOTFOUND when the agreement or an agency is not in
 * the policy (what was found is still set). */
int macx_policy_legal_bases (const macx_policy_t *self, const char *agreement, const char *sender,
                             const char *recipient, const char **disclose, const char **receive);

/* The schema's class of field in record_type ("identifier", "personal",
 * "special_category", "operational" or "intelligence"; borrowed), or NULL
 * when the schema has no such record type or field. */
const char *macx_policy_field_class (const macx_policy_t *self, const char *record_type,
                                     const char *field);

#endif
