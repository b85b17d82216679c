/* manifest.c -- the field manifest: which payload fields are present (by
 * protobuf-c reflection, so new payload fields need no code here), the
 * closed set of transforms, and the check that a payload matches its
 * header. */
#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

#include "record.h"

/* ---- transforms -------------------------------------------------------- */

typedef struct {
    const char *name;
    bool (*valid) (const char *value);       /* the form a transformed value has */
    int (*apply) (const char *in, char *out, size_t size);
} s_transform_t;

static bool
s_valid_year (const char *v)
{
    return strlen (v) == 4 && isdigit ((unsigned char) v[0]) && isdigit ((unsigned char) v[1])
           && isdigit ((unsigned char) v[2]) && isdigit ((unsigned char) v[3]);
}

static int
s_apply_year (const char *in, char *out, size_t size)
{
    if (strlen (in) < 4 || size < 5)
        return MACX_EINVAL;
    memcpy (out, in, 4);
    out[4] = '\0';
    return s_valid_year (out) ? MACX_OK : MACX_EINVAL;
}

/* A UK-style outward code: A9, A99, AA9, AA99, A9A, AA9A. */
static bool
s_valid_district (const char *v)
{
    size_t n = strlen (v), i = 0;
    if (n < 2 || n > 4)
        return false;
    while (i < n && i < 2 && isupper ((unsigned char) v[i]))
        i++;
    if (i == 0 || i == n || !isdigit ((unsigned char) v[i]))
        return false;
    for (i++; i < n; i++)
        if (!isdigit ((unsigned char) v[i]) && !isupper ((unsigned char) v[i]))
            return false;
    return true;
}

static int
s_apply_district (const char *in, char *out, size_t size)
{
    const char *space = strchr (in, ' ');
    size_t n = space ? (size_t) (space - in) : (strlen (in) > 3 ? strlen (in) - 3 : 0);
    if (n == 0 || n >= size)
        return MACX_EINVAL;
    memcpy (out, in, n);
    out[n] = '\0';
    return s_valid_district (out) ? MACX_OK : MACX_EINVAL;
}

static bool
s_valid_initials (const char *v)
{
    size_t n = strlen (v);
    if (n < 2 || n > 16 || n % 2)
        return false;
    for (size_t i = 0; i < n; i += 2)
        if (!isupper ((unsigned char) v[i]) || v[i + 1] != '.')
            return false;
    return true;
}

static int
s_apply_initials (const char *in, char *out, size_t size)
{
    size_t o = 0;
    bool start = true;
    for (const char *p = in; *p; p++) {
        if (isalpha ((unsigned char) *p) && start) {
            if (o + 3 > size || o >= 16)
                return MACX_EINVAL;
            out[o++] = (char) toupper ((unsigned char) *p);
            out[o++] = '.';
        }
        start = *p == ' ' || *p == '-';
    }
    if (o == 0)
        return MACX_EINVAL;
    out[o] = '\0';
    return MACX_OK;
}

static bool
s_valid_region (const char *v)
{
    if (!*v)
        return false;
    for (; *v; v++)
        if (isdigit ((unsigned char) *v) || *v == ',')
            return false;
    return true;
}

/* The last comma-separated part of an address, trimmed. */
static int
s_apply_region (const char *in, char *out, size_t size)
{
    const char *comma = strrchr (in, ',');
    const char *p = comma ? comma + 1 : in;
    while (*p == ' ')
        p++;
    size_t n = strlen (p);
    while (n && p[n - 1] == ' ')
        n--;
    if (n == 0 || n >= size)
        return MACX_EINVAL;
    memcpy (out, p, n);
    out[n] = '\0';
    return s_valid_region (out) ? MACX_OK : MACX_EINVAL;
}

static bool
s_valid_redacted (const char *v)
{
    return strcmp (v, "[redacted]") == 0;
}

static int
s_apply_redacted (const char *in, char *out, size_t size)
{
    if (size < 11)
        return MACX_EINVAL;
    memcpy (out, "[redacted]", 11);
    return MACX_OK;
}

static const s_transform_t s_transforms[] = {
    { "year_only",         s_valid_year,     s_apply_year },
    { "postcode_district", s_valid_district, s_apply_district },
    { "initials",          s_valid_initials, s_apply_initials },
    { "region_only",       s_valid_region,   s_apply_region },
    { "redacted",          s_valid_redacted, s_apply_redacted },
};

static const s_transform_t *
s_transform (const char *name)
{
    for (size_t i = 0; i < sizeof s_transforms / sizeof s_transforms[0]; i++)
        if (strcmp (name, s_transforms[i].name) == 0)
            return &s_transforms[i];
    return NULL;
}

int
macx_record_transform_known (const char *name)
{
    return s_transform (name) != NULL;
}

int
macx_record_transform_apply (const char *transform, const char *value, char *out, size_t size)
{
    const s_transform_t *t = s_transform (transform);
    return t ? t->apply (value, out, size) : MACX_EINVAL;
}

/* ---- fields present ---------------------------------------------------- */

typedef struct {
    const char *name;
    const char *string;    /* value if a singular string field, else NULL */
} s_present_t;

static const struct {
    Macx__Payload__BodyCase body;
    const char *type;
} s_bodies[] = {
    { MACX__PAYLOAD__BODY_CASE_FILE,  "case_file" },
    { MACX__PAYLOAD__BODY_SHARE,      "share" },
    { MACX__PAYLOAD__BODY_ENRICHMENT, "enrichment" },
    { MACX__PAYLOAD__BODY_PROFILE,    "profile" },
    { MACX__PAYLOAD__BODY_PANEL_PLAN, "panel_plan" },
};

const char *
macx_record_body_type (const Macx__Payload *p)
{
    for (size_t i = 0; i < sizeof s_bodies / sizeof s_bodies[0]; i++)
        if (p->body_case == s_bodies[i].body)
            return s_bodies[i].type;
    return NULL;
}

const ProtobufCMessage *
macx_record_body (const Macx__Payload *p)
{
    switch (p->body_case) {
    case MACX__PAYLOAD__BODY_CASE_FILE:  return &p->case_file->base;
    case MACX__PAYLOAD__BODY_SHARE:      return &p->share->base;
    case MACX__PAYLOAD__BODY_ENRICHMENT: return &p->enrichment->base;
    case MACX__PAYLOAD__BODY_PROFILE:    return &p->profile->base;
    case MACX__PAYLOAD__BODY_PANEL_PLAN: return &p->panel_plan->base;
    case MACX__PAYLOAD__BODY_GENERIC:    return &p->generic->base;
    default:                             return NULL;
    }
}

/* Lists the top-level fields of a typed body that hold a value (proto3:
 * non-zero scalar, non-empty string or bytes, set message, non-empty
 * repeated). Returns the count, or a negative error if a repeated field
 * is over its limit. */
static int
s_present_fields (const ProtobufCMessage *m, s_present_t *out, size_t max, macx_error_t *err)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *) m;
    size_t n = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const void *at = base + f->offset;
        bool present = false;
        const char *string = NULL;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t q = *(const size_t *) (base + f->quantifier_offset);
            if (q > MACX_PAYLOAD_REPEAT_MAX)
                return macx_error_set (err, MACX_ELIMIT, "payload field '%s' repeats %zu times, "
                                       "over the limit of %d", f->name, q, MACX_PAYLOAD_REPEAT_MAX);
            present = q > 0;
        }
        else {
            switch (f->type) {
            case PROTOBUF_C_TYPE_STRING:
                string = *(char *const *) at;
                present = string && *string;
                break;
            case PROTOBUF_C_TYPE_BYTES:
                present = ((const ProtobufCBinaryData *) at)->len > 0;
                break;
            case PROTOBUF_C_TYPE_MESSAGE:
                present = *(void *const *) at != NULL;
                break;
            case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_SINT64:
            case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_DOUBLE:
                present = *(const uint64_t *) at != 0;
                break;
            default:   /* 32-bit scalars, bool, enum, float */
                present = *(const uint32_t *) at != 0;
                break;
            }
        }
        if (present) {
            if (n == max)
                return macx_error_set (err, MACX_ELIMIT, "payload has more than %zu fields", max);
            out[n++] = (s_present_t) { f->name, string };
        }
    }
    return (int) n;
}

static int
s_present_generic (const Macx__Generic *g, s_present_t *out, size_t max, macx_error_t *err)
{
    if (g->n_fields > max)
        return macx_error_set (err, MACX_ELIMIT, "generic payload has %zu fields, over the limit of %zu",
                               g->n_fields, max);
    for (size_t i = 0; i < g->n_fields; i++) {
        const char *name = g->fields[i]->name;
        if (!name || !*name || strlen (name) > MACX_FIELD_NAME_MAX)
            return macx_error_set (err, MACX_EMANIFEST, "generic payload field %zu has a bad name", i);
        for (size_t j = 0; j < i; j++)
            if (strcmp (name, out[j].name) == 0)
                return macx_error_set (err, MACX_EMANIFEST, "payload carries field '%.64s' twice", name);
        out[i] = (s_present_t) { name, g->fields[i]->value ? g->fields[i]->value : "" };
    }
    return (int) g->n_fields;
}

/* The body's record type when it is not the one header names, else NULL:
 * a typed body of another type, a generic body for a typed record type, or
 * no body at all. */
static const char *
s_body_mismatch (const Macx__Header *h, const Macx__Payload *p)
{
    if (!macx_record_body (p))
        return "none";
    const char *type = macx_record_body_type (p);
    if (type)
        return strcmp (type, h->record_type) != 0 ? type : NULL;
    for (size_t i = 0; i < sizeof s_bodies / sizeof s_bodies[0]; i++)
        if (strcmp (h->record_type, s_bodies[i].type) == 0)
            return "generic";
    return NULL;
}

static void
s_diff_add (macx_manifest_diff_t *d, macx_diff_kind_t kind, const char *name,
            const char *transform)
{
    assert (d->n < sizeof d->entries / sizeof d->entries[0]);
    d->entries[d->n++] = (macx_diff_entry_t) { kind, name, transform ? transform : "" };
}

int
macx_record_manifest_diff (const Macx__Header *h, const Macx__Payload *p,
                           macx_manifest_diff_t *d, macx_error_t *err)
{
    d->n = 0;   /* not the whole struct: this runs on every record opened */
    d->payload_type = s_body_mismatch (h, p);
    const ProtobufCMessage *body = macx_record_body (p);
    const char *type = macx_record_body_type (p);
    s_present_t present[MACX_MANIFEST_MAX];
    int n = 0;
    if (body) {
        n = type ? s_present_fields (body, present, MACX_MANIFEST_MAX, err)
                 : s_present_generic (p->generic, present, MACX_MANIFEST_MAX, err);
        if (n < 0)
            return n;
    }
    for (int i = 0; i < n; i++) {
        const Macx__FieldEntry *entry = NULL;
        for (size_t j = 0; j < h->n_manifest && !entry; j++)
            if (strcmp (h->manifest[j]->name, present[i].name) == 0)
                entry = h->manifest[j];
        if (!entry) {
            s_diff_add (d, MACX_DIFF_UNDECLARED, present[i].name, NULL);
            continue;
        }
        if (!entry->transform || !*entry->transform)
            continue;
        const s_transform_t *t = s_transform (entry->transform);
        if (!t)
            s_diff_add (d, MACX_DIFF_TRANSFORM_UNKNOWN, entry->name, entry->transform);
        else if (!present[i].string)
            s_diff_add (d, MACX_DIFF_TRANSFORM_NOT_TEXT, entry->name, entry->transform);
        else if (!t->valid (present[i].string))
            s_diff_add (d, MACX_DIFF_TRANSFORM_FORM, entry->name, entry->transform);
    }
    for (size_t j = 0; j < h->n_manifest; j++) {
        bool found = false;
        for (int i = 0; i < n && !found; i++)
            found = strcmp (h->manifest[j]->name, present[i].name) == 0;
        if (!found)
            s_diff_add (d, MACX_DIFF_ABSENT, h->manifest[j]->name, NULL);
    }
    return (int) d->n + (d->payload_type != NULL);
}

bool
macx_diff_is_transform (macx_diff_kind_t kind)
{
    return kind == MACX_DIFF_TRANSFORM_FORM || kind == MACX_DIFF_TRANSFORM_NOT_TEXT
           || kind == MACX_DIFF_TRANSFORM_UNKNOWN;
}

/* One difference as a sentence (what check_manifest reports). */
static int
s_diff_error (const macx_diff_entry_t *x, macx_error_t *err)
{
    switch (x->kind) {
    case MACX_DIFF_UNDECLARED:
        return macx_error_set (err, MACX_EMANIFEST, "payload carries field '%.64s' missing from "
                               "manifest", x->name);
    case MACX_DIFF_ABSENT:
        return macx_error_set (err, MACX_EMANIFEST, "manifest lists field '%s' that the payload "
                               "does not carry", x->name);
    case MACX_DIFF_TRANSFORM_UNKNOWN:
        return macx_error_set (err, MACX_EMANIFEST, "manifest field '%s' has unknown transform "
                               "'%.40s'", x->name, x->transform);
    case MACX_DIFF_TRANSFORM_NOT_TEXT:
        return macx_error_set (err, MACX_EMANIFEST, "manifest declares %s on field '%s', which "
                               "is not a text field", x->transform, x->name);
    case MACX_DIFF_TRANSFORM_FORM:
        return macx_error_set (err, MACX_EMANIFEST, "field '%s' is declared %s but its value "
                               "does not have that form", x->name, x->transform);
    }
    return macx_error_set (err, MACX_EMANIFEST, "payload does not match its manifest");
}

int
macx_record_check_manifest (const Macx__Header *h, const Macx__Payload *p, macx_error_t *err)
{
    /* the body first: its fields mean nothing under another record type */
    const char *body = s_body_mismatch (h, p);
    if (body && strcmp (body, "none") == 0)
        return macx_error_set (err, MACX_EMANIFEST, "payload has no body");
    if (body && strcmp (body, "generic") == 0)
        return macx_error_set (err, MACX_EMANIFEST, "record type '%s' needs its typed payload, "
                               "not a generic one", h->record_type);
    if (body)
        return macx_error_set (err, MACX_EMANIFEST, "payload is a '%s' but the header says record "
                               "type '%s'", body, h->record_type);
    macx_manifest_diff_t d;
    int n = macx_record_manifest_diff (h, p, &d, err);
    return n <= 0 ? n : s_diff_error (&d.entries[0], err);
}

/* Appends to a bounded buffer; *at past size means it was cut. */
static void
s_put (char *out, size_t size, size_t *at, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
s_put (char *out, size_t size, size_t *at, const char *fmt, ...)
{
    if (*at >= size)
        return;
    va_list ap;
    va_start (ap, fmt);
    int w = vsnprintf (out + *at, size - *at, fmt, ap);
    va_end (ap);
    *at = w < 0 ? size : *at + (size_t) w;
}

void
macx_record_manifest_diff_text (const Macx__Header *h, const macx_manifest_diff_t *d, char *out,
                                size_t size)
{
    assert (size > 4);
    size_t at = 0;
    out[0] = '\0';
    if (d->payload_type) {
        if (strcmp (d->payload_type, "none") == 0)
            s_put (out, size, &at, "the payload has no body");
        else
            s_put (out, size, &at, "the payload is a %s body, not the header's %s",
                   d->payload_type, h->record_type);
    }
    /* the three lists, each once, in the order the audit entry has them */
    for (int list = 0; list < 3; list++) {
        bool any = false;
        for (size_t i = 0; i < d->n; i++) {
            const macx_diff_entry_t *x = &d->entries[i];
            bool transform = macx_diff_is_transform (x->kind);
            if ((list == 0 && x->kind != MACX_DIFF_UNDECLARED)
                || (list == 1 && x->kind != MACX_DIFF_ABSENT) || (list == 2 && !transform))
                continue;
            if (!any)
                s_put (out, size, &at, "%s%s: ", at ? "; " : "",
                       list == 0 ? "fields present but not declared"
                       : list == 1 ? "declared but absent" : "transform mismatch");
            else
                s_put (out, size, &at, ", ");
            if (transform)
                s_put (out, size, &at, "%s declared %s but %s", x->name, x->transform,
                       x->kind == MACX_DIFF_TRANSFORM_NOT_TEXT ? "not a text field"
                       : x->kind == MACX_DIFF_TRANSFORM_UNKNOWN ? "no such transform"
                                                                : "its value has another form");
            else
                s_put (out, size, &at, "%s", x->name);
            any = true;
        }
    }
    if (at >= size)
        memcpy (out + size - 4, "...", 4);
}
