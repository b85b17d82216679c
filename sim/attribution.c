/* attribution.c -- RUN/attribution.json: the records each agreement carried
 * and how many partners answered for each subject, from the broker's audit
 * log, read-only. */
#include "attribution.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "file.h"
#include "json.h"
#include "jsonl.h"

#define S_MAX_AGREEMENTS 64
#define S_MAX_PARTNERS   32

typedef struct {
    char id[64];
    uint64_t shared, answers, other, refused;
} s_agreement_t;

typedef struct {
    s_agreement_t agr[S_MAX_AGREEMENTS];
    int nagr;
    char partners[S_MAX_PARTNERS][64];   /* senders of enrichment answers, by bit */
    int npartners;
    uint32_t *answered;                  /* per subject index: a bit per partner */
    int subjects;
} s_attr_t;

static s_agreement_t *
s_agr (s_attr_t *a, const char *id)
{
    for (int i = 0; i < a->nagr; i++)
        if (strcmp (a->agr[i].id, id) == 0)
            return &a->agr[i];
    if (a->nagr == S_MAX_AGREEMENTS)
        return NULL;
    s_agreement_t *g = &a->agr[a->nagr++];
    snprintf (g->id, sizeof g->id, "%s", id);
    return g;
}

static int
s_partner (s_attr_t *a, const char *id)
{
    for (int i = 0; i < a->npartners; i++)
        if (strcmp (a->partners[i], id) == 0)
            return i;
    if (a->npartners == S_MAX_PARTNERS)
        return -1;
    snprintf (a->partners[a->npartners], sizeof a->partners[0], "%s", id);
    return a->npartners++;
}

static int
s_on_entry (const Macx__AuditEntry *e, void *arg)
{
    s_attr_t *a = arg;
    bool accept = strcmp (e->event, "accept") == 0, refuse = strcmp (e->event, "refuse") == 0;
    if (!accept && !refuse)
        return 0;
    s_agreement_t *g = s_agr (a, e->agreement && *e->agreement ? e->agreement : "(none)");
    if (!g)
        return 0;
    const char *type = e->record_type ? e->record_type : "";
    if (refuse) {
        g->refused++;
        return 0;
    }
    if (strcmp (type, "share") == 0)
        g->shared++;
    else if (strcmp (type, "enrichment") == 0) {
        g->answers++;
        /* subjects are S-NNNNNN, 1-based (agents/synth.c) */
        int ix = e->subject && strncmp (e->subject, "S-", 2) == 0 ? atoi (e->subject + 2) : 0;
        int bit = e->sender ? s_partner (a, e->sender) : -1;
        if (ix >= 1 && ix <= a->subjects && bit >= 0)
            a->answered[ix] |= 1u << bit;
    } else
        g->other++;
    return 0;
}

int
macx_attribution_write (const char *run, macx_error_t *err)
{
    char path[4096], *data = NULL;
    size_t len;
    snprintf (path, sizeof path, "%s/run.json", run);
    int rc = macx_file_read (path, 1u << 20, &data, &len, err);
    if (rc)
        return rc;
    macx_jv_t rj;
    rc = macx_jv_parse (data, len, &rj, err);
    free (data);
    if (rc) {
        macx_error_prefix (err, "%s", path);
        return rc;
    }
    s_attr_t *a = calloc (1, sizeof *a);
    int subjects = (int) macx_jv_num (&rj, "subjects", 0);
    macx_jv_free (&rj);
    if (!a || subjects < 0 || subjects > 1000000
        || !(a->answered = calloc ((size_t) subjects + 1, sizeof *a->answered))) {
        free (a);
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    }
    a->subjects = subjects;
    snprintf (path, sizeof path, "%s/broker/data", run);
    macx_audit_reader_t *reader = macx_audit_reader_open (path, err);
    if (!reader)
        rc = err && err->code ? err->code : MACX_ESTORE;
    if (rc == 0) {
        macx_audit_filter_t filter = { 0 };
        rc = macx_audit_scan (reader, &filter, s_on_entry, a, err);
    }
    macx_audit_reader_destroy (&reader);
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = rc == 0 ? open_memstream (&buf, &blen) : NULL;
    if (rc == 0 && !f)
        rc = macx_error_set (err, MACX_ENOMEM, "out of memory");
    if (rc == 0) {
        fputs ("{\n  \"schema\": \"macx-attribution-v1\",\n  \"agreements\": [", f);
        for (int i = 0; i < a->nagr; i++) {
            fputs (i ? ",\n    {\"agreement\": " : "\n    {\"agreement\": ", f);
            macx_json_str (f, a->agr[i].id);
            fprintf (f, ", \"shared\": %llu, \"answers\": %llu, \"other\": %llu, \"refused\": %llu}",
                     (unsigned long long) a->agr[i].shared, (unsigned long long) a->agr[i].answers,
                     (unsigned long long) a->agr[i].other, (unsigned long long) a->agr[i].refused);
        }
        uint64_t by[S_MAX_PARTNERS + 1] = { 0 }, sum = 0;
        for (int s = 1; s <= subjects; s++) {
            int k = __builtin_popcount (a->answered[s]);
            by[k]++;
            sum += (uint64_t) k;
        }
        int top = 0;
        for (int k = 0; k <= S_MAX_PARTNERS; k++)
            if (by[k])
                top = k;
        fprintf (f, "\n  ],\n  \"answers_per_subject\": {\"subjects\": %d, \"mean\": %.10g, "
                 "\"by_partners\": [", subjects, subjects ? (double) sum / subjects : 0.0);
        for (int k = 0; k <= top; k++)
            fprintf (f, "%s%llu", k ? ", " : "", (unsigned long long) by[k]);
        fputs ("]}\n}\n", f);
        fclose (f);
        snprintf (path, sizeof path, "%s/attribution.json", run);
        rc = macx_file_write (path, buf, blen, 0644, 0, err);
    }
    free (buf);
    free (a->answered);
    free (a);
    return rc;
}
