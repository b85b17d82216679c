/* subject.c -- a subject's disclosure history, read from the audit log: one
 * row per (record, recipient) of every record about the subject the broker
 * accepted, with the agreement and legal bases it went under, the fields
 * disclosed, when the recipient's copy expires and what became of it
 * (queued, purged undelivered, held, under review, anonymised, deleted).
 * Read-only; decides nothing: it puts together what the broker recorded
 * (accept, deliver, purge, retention_* entries). */
#include "audit.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "file.h"
#include "json.h"
#include "names.h"

#define S_SUBJECTS_SEEN 12   /* subjects named when the one asked for is not in the log */
#define S_ID 16              /* record id bytes (MACX_RECORD_ID_BYTES; audit does not link record) */

struct macx_audit_history_t {
    char subject[128];
    macx_audit_disclosure_t *rows;
    size_t n, cap;
    uint64_t refused;            /* records about the subject the broker refused */
    uint64_t receipts_refused;   /* retention receipts about its copies refused */
    uint64_t entries;            /* entries that name it */
    int64_t as_of_ms;            /* the broker's latest time in the log */
    char cases[256];             /* its cases, comma-separated */
    char seen[512];              /* when it is not in the log: subjects that are */
    int nseen;
};

static char *
s_dup (const char *s)
{
    return strdup (s ? s : "");
}

static void
s_cpy (char *dst, size_t size, const char *src)
{
    snprintf (dst, size, "%s", src ? src : "");
}

/* Adds v to a comma-separated list of distinct values, while it fits. */
static bool
s_list_add (char *list, size_t size, const char *v, int *n, int max)
{
    if (!v || !*v)
        return false;
    size_t vl = strlen (v);
    for (const char *p = list; *p;) {
        size_t l = strcspn (p, ",");
        if (l == vl && strncmp (p, v, vl) == 0)
            return false;
        p += l + (p[l] == ',');
    }
    size_t len = strlen (list);
    if ((n && *n >= max) || len + vl + 2 > size)
        return false;
    snprintf (list + len, size - len, "%s%s", len ? "," : "", v);
    if (n)
        (*n)++;
    return true;
}

static macx_audit_disclosure_t *
s_row_find (macx_audit_history_t *h, const ProtobufCBinaryData *id, const char *recipient)
{
    if (id->len != S_ID || !recipient)
        return NULL;
    for (size_t i = h->n; i-- > 0;)
        if (memcmp (h->rows[i].record_id, id->data, S_ID) == 0
            && strcmp (h->rows[i].recipient, recipient) == 0)
            return &h->rows[i];
    return NULL;
}

/* The i-th of a comma-separated list ("" past its end). */
static void
s_nth (const char *list, size_t i, char *out, size_t size)
{
    const char *p = list ? list : "";
    for (; i > 0 && *p; i--) {
        p = strchr (p, ',');
        p = p ? p + 1 : "";
    }
    size_t l = strcspn (p, ",");
    snprintf (out, size, "%.*s", (int) (l < size ? l : size - 1), p);
}

static int
s_accept (macx_audit_history_t *h, const Macx__AuditEntry *e)
{
    if (e->record_id.len != S_ID)
        return 0;
    char fields[4096] = "";
    for (size_t i = 0; i < e->n_manifest; i++) {
        size_t len = strlen (fields);
        snprintf (fields + len, sizeof fields - len, "%s%s%s%s", i ? "," : "",
                  e->manifest[i]->name, e->manifest[i]->transform[0] ? ":" : "",
                  e->manifest[i]->transform);
    }
    for (size_t r = 0; r < e->n_recipients; r++) {
        if (h->n == h->cap) {
            size_t cap = h->cap ? h->cap * 2 : 64;
            macx_audit_disclosure_t *g = realloc (h->rows, cap * sizeof *g);
            if (!g)
                return MACX_ENOMEM;
            h->rows = g;
            h->cap = cap;
        }
        macx_audit_disclosure_t *d = &h->rows[h->n];
        memset (d, 0, sizeof *d);
        memcpy (d->record_id, e->record_id.data, S_ID);
        s_cpy (d->sender, sizeof d->sender, e->sender);
        s_cpy (d->recipient, sizeof d->recipient, e->recipients[r]);
        s_cpy (d->record_type, sizeof d->record_type, e->record_type);
        s_cpy (d->case_id, sizeof d->case_id, e->case_id);
        s_cpy (d->purpose, sizeof d->purpose, e->purpose);
        d->phase = (int) e->phase;
        /* the accept entry names each recipient's agreement and flow in turn */
        s_nth (e->agreement, r, d->agreement, sizeof d->agreement);
        s_nth (e->flow, r, d->flow, sizeof d->flow);
        d->shared_ms = e->clock_ms;
        d->accept_seq = e->seq;
        d->status = MACX_DISCLOSURE_QUEUED;
        if (!(d->fields = s_dup (fields)) || !(d->claimed_basis = s_dup (e->legal_basis))
            || !(d->disclose_basis = s_dup ("")) || !(d->receive_basis = s_dup (""))) {
            free (d->fields);
            free (d->claimed_basis);
            free (d->disclose_basis);
            return MACX_ENOMEM;
        }
        h->n++;
    }
    return 0;
}

/* The terms the broker stated for the copy (deliver, purge, retention_*). */
static int
s_terms (macx_audit_disclosure_t *d, const Macx__Terms *t)
{
    if (!t)
        return 0;
    if (t->agreement[0]) {
        s_cpy (d->agreement, sizeof d->agreement, t->agreement);
        s_cpy (d->flow, sizeof d->flow, t->flow);
    }
    d->retention_days = t->retention_days;
    s_cpy (d->retention_from, sizeof d->retention_from, t->retention_from);
    d->expires_ms = t->expires_ms;
    s_cpy (d->on_expiry, sizeof d->on_expiry, t->on_expiry);
    char *a = s_dup (t->disclose_basis), *b = s_dup (t->receive_basis);
    if (!a || !b) {
        free (a);
        free (b);
        return MACX_ENOMEM;
    }
    free (d->disclose_basis);
    free (d->receive_basis);
    d->disclose_basis = a;
    d->receive_basis = b;
    return 0;
}

static const struct {
    const char *event;
    macx_audit_disclosure_status_t status;
} s_events[] = {
    { "deliver", MACX_DISCLOSURE_HELD },
    { "purge", MACX_DISCLOSURE_PURGED },
    { "retention_review", MACX_DISCLOSURE_REVIEW },
    { "retention_anonymised", MACX_DISCLOSURE_ANONYMISED },
    { "retention_deleted", MACX_DISCLOSURE_DELETED },
};

static int
s_on_entry (const Macx__AuditEntry *e, void *arg)
{
    macx_audit_history_t *h = arg;
    if (e->clock_ms > h->as_of_ms)
        h->as_of_ms = e->clock_ms;
    if (strcmp (e->subject, h->subject) != 0) {
        if (!h->entries)
            s_list_add (h->seen, sizeof h->seen, e->subject, &h->nseen, S_SUBJECTS_SEEN);
        return 0;
    }
    h->entries++;
    s_list_add (h->cases, sizeof h->cases, e->case_id, NULL, 0);
    if (strcmp (e->event, "accept") == 0)
        return s_accept (h, e);
    if (strcmp (e->event, "refuse") == 0) {
        h->refused++;
        return 0;
    }
    const char *who = e->recipient[0] ? e->recipient : e->peer;
    macx_audit_disclosure_t *d = s_row_find (h, &e->record_id, who);
    if (!d)
        return 0;   /* a copy whose acceptance is not in this log */
    if (strcmp (e->event, "retention_refused") == 0) {
        d->receipts_refused++;
        h->receipts_refused++;
        return 0;
    }
    for (size_t i = 0; i < sizeof s_events / sizeof s_events[0]; i++)
        if (strcmp (e->event, s_events[i].event) == 0) {
            int rc = s_terms (d, e->terms);
            if (rc)
                return rc;
            d->status = s_events[i].status;
            d->status_seq = e->seq;
            if (d->status == MACX_DISCLOSURE_HELD) {
                d->delivered_ms = e->arrive_ms ? e->arrive_ms : e->clock_ms;
                d->deliver_seq = e->seq;
                d->status_ms = d->delivered_ms;
            }
            else if (d->status == MACX_DISCLOSURE_PURGED)
                d->status_ms = e->time_ms;   /* the purge runs on the wall clock */
            else {
                d->status_ms = e->acted_ms;
                d->acted_late_ms = d->expires_ms && e->acted_ms > d->expires_ms
                                       ? e->acted_ms - d->expires_ms : 0;
            }
            break;
        }
    return 0;
}

void
macx_audit_history_destroy (macx_audit_history_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    macx_audit_history_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++) {
        free (self->rows[i].fields);
        free (self->rows[i].claimed_basis);
        free (self->rows[i].disclose_basis);
        free (self->rows[i].receive_basis);
    }
    free (self->rows);
    free (self);
    *self_p = NULL;
}

macx_audit_history_t *
macx_audit_history (macx_audit_reader_t *reader, const char *subject, macx_error_t *err)
{
    macx_audit_history_t *h = calloc (1, sizeof *h);
    if (!h) {
        macx_error_set (err, MACX_ENOMEM, "out of memory");
        return NULL;
    }
    s_cpy (h->subject, sizeof h->subject, subject);
    int rc = macx_audit_scan (reader, NULL, s_on_entry, h, err);
    if (rc) {
        if (rc == MACX_ENOMEM)
            macx_error_set (err, MACX_ENOMEM, "out of memory");
        macx_audit_history_destroy (&h);
        return NULL;
    }
    for (size_t i = 0; i < h->n; i++) {
        macx_audit_disclosure_t *d = &h->rows[i];
        /* held as delivered when its retention had ended (a review is an action) */
        d->overdue = d->status == MACX_DISCLOSURE_HELD && d->expires_ms
                     && d->expires_ms < h->as_of_ms;
    }
    return h;
}

uint64_t
macx_audit_history_entries (const macx_audit_history_t *self)
{
    return self->entries;
}

const char *
macx_audit_history_others (const macx_audit_history_t *self, bool *more)
{
    *more = self->nseen >= S_SUBJECTS_SEEN;
    return self->seen;
}

size_t
macx_audit_history_count (const macx_audit_history_t *self)
{
    return self->n;
}

const macx_audit_disclosure_t *
macx_audit_history_row (const macx_audit_history_t *self, size_t i)
{
    return i < self->n ? &self->rows[i] : NULL;
}

const char *
macx_audit_disclosure_status_name (macx_audit_disclosure_status_t s)
{
    static const char *const names[] = { "queued", "purged", "held", "review", "anonymised",
                                         "deleted" };
    return (unsigned) s < sizeof names / sizeof names[0] ? names[s] : "?";
}

/* ---- printing ------------------------------------------------------------ */

/* "2026-04-05 11:45" (UTC), or "-" for 0. */
static const char *
s_when (int64_t ms, char *buf)
{
    if (!ms)
        return strcpy (buf, "-");
    char t[40];
    macx_audit_format_time (ms, t);
    snprintf (buf, 20, "%.10s %.5s", t, t + 11);
    return buf;
}

/* One row's status, as a person reads it. */
static void
s_status_text (const macx_audit_disclosure_t *d, char *out, size_t size)
{
    char w[24], late[64] = "";
    if (d->acted_late_ms > 0) {
        char dur[32];
        macx_duration_format (d->acted_late_ms, dur, sizeof dur);
        snprintf (late, sizeof late, " (%s late)", dur);
    }
    switch (d->status) {
    case MACX_DISCLOSURE_QUEUED:
        snprintf (out, size, "queued at the broker");
        break;
    case MACX_DISCLOSURE_PURGED:
        snprintf (out, size, "purged undelivered %s", s_when (d->status_ms, w));
        break;
    case MACX_DISCLOSURE_HELD:
        snprintf (out, size, "%s", d->overdue ? "held, past expiry" : "held");
        break;
    case MACX_DISCLOSURE_REVIEW:
        snprintf (out, size, "under review %s%s", s_when (d->status_ms, w), late);
        break;
    case MACX_DISCLOSURE_ANONYMISED:
        snprintf (out, size, "anonymised %s%s", s_when (d->status_ms, w), late);
        break;
    case MACX_DISCLOSURE_DELETED:
        snprintf (out, size, "deleted %s%s", s_when (d->status_ms, w), late);
        break;
    }
}

/* The legend of legal bases: one key per distinct (agreement, sender,
 * recipient, claim), in order of first use. */
typedef struct {
    const macx_audit_disclosure_t **first;
    size_t n;
} s_legend_t;

static bool
s_same_basis (const macx_audit_disclosure_t *a, const macx_audit_disclosure_t *b)
{
    return strcmp (a->agreement, b->agreement) == 0 && strcmp (a->sender, b->sender) == 0
           && strcmp (a->recipient, b->recipient) == 0
           && strcmp (a->disclose_basis, b->disclose_basis) == 0
           && strcmp (a->receive_basis, b->receive_basis) == 0
           && strcmp (a->claimed_basis, b->claimed_basis) == 0;
}

/* The legend key of d ("L1"...), or "-" when nothing is known of its basis. */
static void
s_basis_key (s_legend_t *l, const macx_audit_disclosure_t *d, char *out, size_t size)
{
    if (!d->disclose_basis[0] && !d->receive_basis[0] && !d->claimed_basis[0]) {
        snprintf (out, size, "-");
        return;
    }
    size_t i = 0;
    while (i < l->n && !s_same_basis (l->first[i], d))
        i++;
    if (i == l->n)
        l->first[l->n++] = d;
    snprintf (out, size, "L%zu", i + 1);
}

static void
s_print_text (FILE *out, const macx_audit_history_t *h)
{
    size_t counts[6] = { 0 }, overdue = 0;
    size_t nrecords = 0;
    for (size_t i = 0; i < h->n; i++) {
        counts[h->rows[i].status]++;
        overdue += h->rows[i].overdue;
        nrecords += i == 0 || memcmp (h->rows[i].record_id, h->rows[i - 1].record_id,
                                      S_ID) != 0;
    }
    char asof[24];
    fprintf (out, "Disclosures about subject %s (case %s), as the broker's audit log records "
             "them up to %s UTC\n", h->subject, h->cases[0] ? h->cases : "none",
             s_when (h->as_of_ms, asof));
    fprintf (out, "%zu disclosure%s of %zu record%s: %zu deleted, %zu anonymised, %zu under "
             "review, %zu held (%zu past expiry), %zu queued, %zu purged undelivered\n\n", h->n,
             h->n == 1 ? "" : "s", nrecords, nrecords == 1 ? "" : "s",
             counts[MACX_DISCLOSURE_DELETED], counts[MACX_DISCLOSURE_ANONYMISED],
             counts[MACX_DISCLOSURE_REVIEW], counts[MACX_DISCLOSURE_HELD], overdue,
             counts[MACX_DISCLOSURE_QUEUED], counts[MACX_DISCLOSURE_PURGED]);
    s_legend_t legend = { calloc (h->n ? h->n : 1, sizeof *legend.first), 0 };
    if (!legend.first)
        return;
    /* column widths from the data */
    int wf = 4, wt = 2, wy = 4, wa = 14, wb = 5, ws = 6;
    char (*key)[16] = calloc (h->n ? h->n : 1, sizeof *key);
    char (*status)[96] = calloc (h->n ? h->n : 1, sizeof *status);
    if (!key || !status) {
        free (key);
        free (status);
        free (legend.first);
        return;
    }
    for (size_t i = 0; i < h->n; i++) {
        const macx_audit_disclosure_t *d = &h->rows[i];
        char af[200];
        snprintf (af, sizeof af, "%s%s%s", d->agreement, d->flow[0] ? "/" : "", d->flow);
        s_basis_key (&legend, d, key[i], sizeof key[i]);
        s_status_text (d, status[i], sizeof status[i]);
        int l;
        if ((l = (int) strlen (d->sender)) > wf) wf = l;
        if ((l = (int) strlen (d->recipient)) > wt) wt = l;
        if ((l = (int) strlen (d->record_type)) > wy) wy = l;
        if ((l = (int) strlen (af)) > wa) wa = l;
        if ((l = (int) strlen (key[i])) > wb) wb = l;
        if ((l = (int) strlen (status[i])) > ws) ws = l;
    }
    fprintf (out, "%-16s  %-*s  %-*s  %-*s  %-*s  %-*s  %-16s  %-*s  %-32s  %s\n", "SHARED (UTC)",
             wf, "FROM", wt, "TO", wy, "TYPE", wa, "AGREEMENT/FLOW", wb, "BASIS", "EXPIRES (UTC)",
             ws, "STATUS", "RECORD", "FIELDS DISCLOSED");
    for (size_t i = 0; i < h->n; i++) {
        const macx_audit_disclosure_t *d = &h->rows[i];
        char shared[24], expires[24], af[200], id[2 * S_ID + 1];
        snprintf (af, sizeof af, "%s%s%s", d->agreement, d->flow[0] ? "/" : "", d->flow);
        macx_hex_encode (d->record_id, S_ID, id);
        const char *exp = d->expires_ms ? s_when (d->expires_ms, expires)
                        : d->status == MACX_DISCLOSURE_QUEUED ? "-" : "no limit";
        fprintf (out, "%-16s  %-*s  %-*s  %-*s  %-*s  %-*s  %-16s  %-*s  %-32s  ", s_when (d->shared_ms, shared),
                 wf, d->sender, wt, d->recipient, wy, d->record_type, wa, af, wb, key[i], exp,
                 ws, status[i], id);
        for (const char *p = d->fields; *p; p++) {   /* "a, b:year_only, c" */
            fputc (*p, out);
            if (*p == ',')
                fputc (' ', out);
        }
        fputs (*d->fields ? "\n" : "(none)\n", out);
    }
    if (legend.n) {
        fprintf (out, "\nLegal bases (as the agreements state them; the broker recorded them "
                 "with each delivery):\n");
        for (size_t i = 0; i < legend.n; i++) {
            const macx_audit_disclosure_t *d = legend.first[i];
            char k[16];
            snprintf (k, sizeof k, "L%zu", i + 1);
            fprintf (out, "  %-4s %s: %s discloses under \"%s\"; %s receives under \"%s\"", k,
                     d->agreement, d->sender, d->disclose_basis[0] ? d->disclose_basis : "(none stated)",
                     d->recipient, d->receive_basis[0] ? d->receive_basis : "(none stated)");
            if (d->claimed_basis[0])
                fprintf (out, "; the sender claimed \"%s\"", d->claimed_basis);
            fputc ('\n', out);
        }
    }
    if (counts[MACX_DISCLOSURE_QUEUED])
        fprintf (out, "\nA queued record has not reached its recipient yet: its basis and expiry "
                 "are recorded when it is delivered.\n");
    if (h->refused)
        fprintf (out, "\n%" PRIu64 " record%s about %s %s refused by the broker and disclosed "
                 "nothing (macx audit show DATA_DIR --event refuse --case C).\n", h->refused,
                 h->refused == 1 ? "" : "s", h->subject, h->refused == 1 ? "was" : "were");
    if (h->receipts_refused)
        fprintf (out, "\n%" PRIu64 " retention receipt%s about these copies %s refused "
                 "(macx audit show DATA_DIR --event retention_refused).\n", h->receipts_refused,
                 h->receipts_refused == 1 ? "" : "s", h->receipts_refused == 1 ? "was" : "were");
    free (key);
    free (status);
    free (legend.first);
}

static void
s_field (FILE *out, const char *name, const char *value)
{
    fprintf (out, ",\"%s\":", name);
    macx_json_str (out, value);
}

static void
s_time_field (FILE *out, const char *name, int64_t ms)
{
    char t[40];
    fprintf (out, ",\"%s_ms\":%" PRId64 ",\"%s\":", name, ms, name);
    macx_json_str (out, ms ? macx_audit_format_time (ms, t) : "");
}

static void
s_print_json (FILE *out, const macx_audit_history_t *h)
{
    fprintf (out, "{\"subject\":");
    macx_json_str (out, h->subject);
    fprintf (out, ",\"cases\":[");
    for (const char *p = h->cases; *p;) {
        size_t l = strcspn (p, ",");
        fputs (p == h->cases ? "" : ",", out);
        macx_json_strn (out, p, l);
        p += l + (p[l] == ',');
    }
    fputc (']', out);
    s_time_field (out, "as_of", h->as_of_ms);
    size_t counts[6] = { 0 };
    for (size_t i = 0; i < h->n; i++)
        counts[h->rows[i].status]++;
    fprintf (out, ",\"counts\":{\"disclosures\":%zu", h->n);
    for (int s = 0; s < 6; s++)
        fprintf (out, ",\"%s\":%zu", macx_audit_disclosure_status_name (s), counts[s]);
    fprintf (out, "},\"refused_records\":%" PRIu64 ",\"refused_retention_receipts\":%" PRIu64
             ",\"disclosures\":[", h->refused, h->receipts_refused);
    for (size_t i = 0; i < h->n; i++) {
        const macx_audit_disclosure_t *d = &h->rows[i];
        char id[2 * S_ID + 1];
        macx_hex_encode (d->record_id, S_ID, id);
        fprintf (out, "%s{\"record_id\":\"%s\"", i ? "," : "", id);
        s_field (out, "sender", d->sender);
        s_field (out, "recipient", d->recipient);
        s_field (out, "record_type", d->record_type);
        s_field (out, "phase", d->phase ? macx_phase_name (d->phase) : "");
        s_field (out, "purpose", d->purpose);
        s_field (out, "case_id", d->case_id);
        s_field (out, "agreement", d->agreement);
        s_field (out, "flow", d->flow);
        fprintf (out, ",\"legal_basis\":{\"disclose\":");
        macx_json_str (out, d->disclose_basis);
        s_field (out, "receive", d->receive_basis);
        s_field (out, "claimed", d->claimed_basis);
        fprintf (out, "},\"manifest\":[");
        for (const char *p = d->fields; *p;) {
            size_t l = strcspn (p, ","), c = strcspn (p, ":,");
            fprintf (out, "%s{\"name\":", p == d->fields ? "" : ",");
            macx_json_strn (out, p, c);
            fprintf (out, ",\"transform\":");
            macx_json_strn (out, c < l ? p + c + 1 : "", c < l ? l - c - 1 : 0);
            fputc ('}', out);
            p += l + (p[l] == ',');
        }
        fputc (']', out);
        s_time_field (out, "shared", d->shared_ms);
        s_time_field (out, "delivered", d->delivered_ms);
        fprintf (out, ",\"retention_days\":%" PRIu32, d->retention_days);
        s_field (out, "retention_from", d->retention_from);
        s_time_field (out, "expires", d->expires_ms);
        s_field (out, "on_expiry", d->on_expiry);
        s_field (out, "status", macx_audit_disclosure_status_name (d->status));
        s_time_field (out, "status_at", d->status_ms);
        fprintf (out, ",\"late_ms\":%" PRId64 ",\"overdue\":%s,\"refused_retention_receipts\":%"
                 PRIu64 ",\"accept_seq\":%" PRIu64 ",\"deliver_seq\":%" PRIu64
                 ",\"status_seq\":%" PRIu64 "}", d->acted_late_ms, d->overdue ? "true" : "false",
                 d->receipts_refused, d->accept_seq, d->deliver_seq, d->status_seq);
    }
    fputs ("]}\n", out);
}

void
macx_audit_history_print (FILE *out, const macx_audit_history_t *self, bool json)
{
    if (json)
        s_print_json (out, self);
    else
        s_print_text (out, self);
}
