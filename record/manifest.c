/* manifest.c -- the field manifest: which payload fields are present (by
 * protobuf-c reflection, so new payload fields need no code here), the
 * closed set of transforms, and the check that a payload matches its
 * header. */
#include <ctype.h>
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

int
macx_record_check_manifest (const Macx__Header *h, const Macx__Payload *p, macx_error_t *err)
{
    const ProtobufCMessage *body = macx_record_body (p);
    if (!body)
        return macx_error_set (err, MACX_EMANIFEST, "payload has no body");
    const char *type = macx_record_body_type (p);
    if (type && strcmp (type, h->record_type) != 0)
        return macx_error_set (err, MACX_EMANIFEST, "payload is a '%s' but the header says record "
                               "type '%s'", type, h->record_type);
    if (!type) {
        for (size_t i = 0; i < sizeof s_bodies / sizeof s_bodies[0]; i++)
            if (strcmp (h->record_type, s_bodies[i].type) == 0)
                return macx_error_set (err, MACX_EMANIFEST, "record type '%s' needs its typed "
                                       "payload, not a generic one", h->record_type);
    }
    s_present_t present[MACX_MANIFEST_MAX];
    int n = type ? s_present_fields (body, present, MACX_MANIFEST_MAX, err)
                 : s_present_generic (p->generic, present, MACX_MANIFEST_MAX, err);
    if (n < 0)
        return n;
    for (int i = 0; i < n; i++) {
        const Macx__FieldEntry *entry = NULL;
        for (size_t j = 0; j < h->n_manifest && !entry; j++)
            if (strcmp (h->manifest[j]->name, present[i].name) == 0)
                entry = h->manifest[j];
        if (!entry)
            return macx_error_set (err, MACX_EMANIFEST, "payload carries field '%.64s' missing from "
                                   "manifest", present[i].name);
        if (entry->transform && *entry->transform) {
            const s_transform_t *t = s_transform (entry->transform);
            if (!t)
                return macx_error_set (err, MACX_EMANIFEST, "manifest field '%s' has unknown "
                                       "transform '%.40s'", entry->name, entry->transform);
            if (!present[i].string)
                return macx_error_set (err, MACX_EMANIFEST, "manifest declares %s on field '%s', "
                                       "which is not a text field", t->name, entry->name);
            if (!t->valid (present[i].string))
                return macx_error_set (err, MACX_EMANIFEST, "field '%s' is declared %s but its value "
                                       "does not have that form", entry->name, t->name);
        }
    }
    for (size_t j = 0; j < h->n_manifest; j++) {
        bool found = false;
        for (int i = 0; i < n && !found; i++)
            found = strcmp (h->manifest[j]->name, present[i].name) == 0;
        if (!found)
            return macx_error_set (err, MACX_EMANIFEST, "manifest lists field '%s' that the payload "
                                   "does not carry", h->manifest[j]->name);
    }
    return MACX_OK;
}
