/* held.c -- an agency's copies of the records it received, and what their
 * retention does to them (see held.h). Owns the copies, a doubly linked list
 * of separate allocations so a pointer to one (a timer's) stays valid until
 * that copy is deleted. */
#include "held.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct macx_held_t {
    const macx_policy_t *policy;
    macx_held_copy_t *head;
    size_t deleted;
};

macx_held_t *
macx_held_new (const macx_policy_t *policy)
{
    macx_held_t *self = calloc (1, sizeof *self);
    if (self)
        self->policy = policy;
    return self;
}

/* Erases a copy's bytes and frees it (unlinked by the caller). */
static void
s_copy_free (macx_held_copy_t *c)
{
    if (c->payload) {
        sodium_memzero (c->payload, c->len);
        free (c->payload);
    }
    sodium_memzero (c, sizeof *c);
    free (c);
}

void
macx_held_destroy (macx_held_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    macx_held_t *self = *self_p;
    while (self->head) {
        macx_held_copy_t *next = self->head->next;
        s_copy_free (self->head);
        self->head = next;
    }
    free (self);
    *self_p = NULL;
}

macx_held_copy_t *
macx_held_add (macx_held_t *self, const Macx__Header *h, const Macx__Payload *p,
               const macx_agent_terms_t *terms, int64_t received_ms, macx_error_t *err)
{
    if (!h || !p) {
        macx_error_set (err, MACX_EINVAL, "only an opened record can be held");
        return NULL;
    }
    macx_held_copy_t *c = calloc (1, sizeof *c);
    size_t len = macx__payload__get_packed_size (p);
    if (c)
        c->payload = malloc (len ? len : 1);
    if (!c || !c->payload) {
        free (c);
        macx_error_set (err, MACX_ENOMEM, "out of memory");
        return NULL;
    }
    c->len = macx__payload__pack (p, c->payload);
    if (h->record_id.len == MACX_RECORD_ID_BYTES)
        memcpy (c->record_id, h->record_id.data, MACX_RECORD_ID_BYTES);
    snprintf (c->sender, sizeof c->sender, "%s", h->sender);
    c->sequence = h->sequence;
    snprintf (c->subject, sizeof c->subject, "%s", h->subject);
    snprintf (c->case_id, sizeof c->case_id, "%s", h->case_id);
    snprintf (c->record_type, sizeof c->record_type, "%s", h->record_type);
    if (terms)
        c->terms = *terms;
    c->received_ms = received_ms;
    c->next = self->head;
    if (self->head)
        self->head->prev = c;
    self->head = c;
    return c;
}

static void
s_unlink (macx_held_t *self, macx_held_copy_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        self->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

static bool
s_operational (const macx_held_t *self, const char *record_type, const char *field)
{
    const char *cls = macx_policy_field_class (self->policy, record_type, field);
    return cls && strcmp (cls, "operational") == 0;
}

/* A generic body keeps the fields whose class is operational. */
static void
s_keep_generic (const macx_held_t *self, const char *record_type, Macx__Generic *g)
{
    size_t kept = 0;
    for (size_t i = 0; i < g->n_fields; i++) {
        if (g->fields[i] && s_operational (self, record_type, g->fields[i]->name))
            g->fields[kept++] = g->fields[i];
        else if (g->fields[i])
            macx__field__free_unpacked (g->fields[i], NULL);
    }
    g->n_fields = kept;
}

/* Keeps only the copy's operational fields, forgets its subject and case. */
static int
s_anonymise (macx_held_t *self, macx_held_copy_t *c, macx_error_t *err)
{
    Macx__Payload *p = macx__payload__unpack (NULL, c->len, c->payload);
    if (!p)
        return macx_error_set (err, MACX_EFORMAT, "the copy held of a %s record does not decode",
                               c->record_type);
    int rc = MACX_OK;
    const ProtobufCMessage *body = macx_record_body (p);
    if (p->body_case == MACX__PAYLOAD__BODY_GENERIC)
        s_keep_generic (self, c->record_type, p->generic);
    else if (body) {
        macx_record_keep_t keep[MACX_POLICY_MAX_FIELDS];
        size_t n = 0;
        const ProtobufCMessageDescriptor *d = body->descriptor;
        for (unsigned i = 0; i < d->n_fields && n < MACX_POLICY_MAX_FIELDS; i++)
            if (s_operational (self, c->record_type, d->fields[i].name))
                keep[n++] = (macx_record_keep_t) { d->fields[i].name, NULL };
        Macx__FieldEntry **manifest = NULL;
        size_t nmanifest = 0;
        rc = macx_record_restrict (p, keep, n, &manifest, &nmanifest, err);
        macx_record_build_free (NULL, &manifest, nmanifest);
    }
    size_t len = rc ? 0 : macx__payload__get_packed_size (p);
    uint8_t *bytes = rc ? NULL : malloc (len ? len : 1);
    if (!rc && !bytes)
        rc = macx_error_set (err, MACX_ENOMEM, "out of memory");
    if (!rc) {
        len = macx__payload__pack (p, bytes);
        sodium_memzero (c->payload, c->len);
        free (c->payload);
        c->payload = bytes;
        c->len = len;
        c->subject[0] = c->case_id[0] = '\0';
        c->state = MACX_HELD_ANONYMISED;
    }
    macx__payload__free_unpacked (p, NULL);
    return rc;
}

int
macx_held_expire (macx_held_t *self, macx_held_copy_t *c, const char **action, macx_error_t *err)
{
    const char *what = c->terms.on_expiry;
    if (!c->terms.expires_ms || !*what)
        return macx_error_set (err, MACX_EINVAL, "the %s record from %s states no retention",
                               c->record_type, c->sender);
    if (strcmp (what, "delete") == 0) {
        s_unlink (self, c);
        s_copy_free (c);
        self->deleted++;
        *action = "deleted";
        return MACX_OK;
    }
    if (strcmp (what, "anonymise") == 0) {
        int rc = c->state == MACX_HELD_ANONYMISED ? MACX_OK : s_anonymise (self, c, err);
        if (rc)
            return rc;
        *action = "anonymised";
        return MACX_OK;
    }
    if (strcmp (what, "review") == 0) {
        if (c->state == MACX_HELD_KEPT)   /* an anonymised copy stays anonymised */
            c->state = MACX_HELD_REVIEW;
        *action = "review";
        return MACX_OK;
    }
    return macx_error_set (err, MACX_EINVAL, "on_expiry '%s' of the %s record from %s is not "
                           "delete, anonymise or review", what, c->record_type, c->sender);
}

Macx__Payload *
macx_held_payload (const macx_held_copy_t *c)
{
    return macx__payload__unpack (NULL, c->len, c->payload);
}

void
macx_held_counts (const macx_held_t *self, macx_held_counts_t *out)
{
    memset (out, 0, sizeof *out);
    for (const macx_held_copy_t *c = self->head; c; c = c->next) {
        out->held++;
        out->anonymised += c->state == MACX_HELD_ANONYMISED;
        out->review += c->state == MACX_HELD_REVIEW;
    }
    out->deleted = self->deleted;
}
