/* build.c -- payloads from name=value fields, by protobuf-c reflection:
 * what `macx record seal` and `macx send` use to build a record by hand.
 * Everything is malloc'd so protobuf-c's free_unpacked releases it. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

static const struct {
    const char *type;
    const ProtobufCMessageDescriptor *desc;
    size_t payload_offset;
    Macx__Payload__BodyCase body;
} s_typed[] = {
    { "case_file",  &macx__case_file__descriptor,  offsetof (Macx__Payload, case_file),  MACX__PAYLOAD__BODY_CASE_FILE },
    { "share",      &macx__share__descriptor,      offsetof (Macx__Payload, share),      MACX__PAYLOAD__BODY_SHARE },
    { "enrichment", &macx__enrichment__descriptor, offsetof (Macx__Payload, enrichment), MACX__PAYLOAD__BODY_ENRICHMENT },
    { "profile",    &macx__profile__descriptor,    offsetof (Macx__Payload, profile),    MACX__PAYLOAD__BODY_PROFILE },
    { "panel_plan", &macx__panel_plan__descriptor, offsetof (Macx__Payload, panel_plan), MACX__PAYLOAD__BODY_PANEL_PLAN },
};

int
macx_record_field_parse (char *text, macx_record_field_t *f, macx_error_t *err)
{
    char *eq = strchr (text, '=');
    if (!eq || eq == text)
        return macx_error_set (err, MACX_EINVAL, "field '%.64s' must be name[:transform]=value", text);
    *eq = '\0';
    f->value = eq + 1;
    f->name = text;
    char *colon = strchr (text, ':');
    f->transform = NULL;
    if (colon) {
        *colon = '\0';
        f->transform = colon + 1;
    }
    return MACX_OK;
}

/* Sets one field of a typed body from text. */
static int
s_set (ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const char *value,
       macx_error_t *err)
{
    char *base = (char *) m;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        if (f->type != PROTOBUF_C_TYPE_STRING)
            return macx_error_set (err, MACX_EINVAL, "field '%s' is structured and cannot be set "
                                   "from text", f->name);
        size_t *q = (size_t *) (base + f->quantifier_offset);
        char ***arr = (char ***) (base + f->offset);
        if (*q >= MACX_PAYLOAD_REPEAT_MAX)
            return macx_error_set (err, MACX_ELIMIT, "field '%s' given too many times", f->name);
        char **grown = realloc (*arr, (*q + 1) * sizeof *grown);
        if (!grown)
            return macx_error_set (err, MACX_ENOMEM, "out of memory");
        *arr = grown;
        if (!(grown[*q] = strdup (value)))
            return macx_error_set (err, MACX_ENOMEM, "out of memory");
        (*q)++;
        return MACX_OK;
    }
    void *at = base + f->offset;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        char **s = at;
        if (*s && *s != (char *) f->default_value)
            return macx_error_set (err, MACX_EINVAL, "field '%s' given twice", f->name);
        if (!(*s = strdup (value)))
            return macx_error_set (err, MACX_ENOMEM, "out of memory");
        return MACX_OK;
    }
    case PROTOBUF_C_TYPE_INT32: {
        char *end;
        errno = 0;
        long v = strtol (value, &end, 10);
        if (errno || *end || end == value || v < INT32_MIN || v > INT32_MAX)
            return macx_error_set (err, MACX_EINVAL, "field '%s' needs a whole number, not '%.40s'",
                                   f->name, value);
        *(int32_t *) at = (int32_t) v;
        return MACX_OK;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (strcmp (value, "true") == 0)
            *(protobuf_c_boolean *) at = 1;
        else if (strcmp (value, "false") == 0)
            *(protobuf_c_boolean *) at = 0;
        else
            return macx_error_set (err, MACX_EINVAL, "field '%s' needs true or false", f->name);
        return MACX_OK;
    default:
        return macx_error_set (err, MACX_EINVAL, "field '%s' cannot be set from text", f->name);
    }
}

int
macx_record_build (const char *record_type, const macx_record_field_t *fields, size_t n,
                   Macx__Payload **payload_p, Macx__FieldEntry ***manifest_p, size_t *nmanifest,
                   macx_error_t *err)
{
    *payload_p = NULL;
    *manifest_p = NULL;
    *nmanifest = 0;
    if (n > MACX_PAYLOAD_REPEAT_MAX)
        return macx_error_set (err, MACX_ELIMIT, "too many fields");
    Macx__Payload *p = malloc (sizeof *p);
    Macx__FieldEntry **manifest = calloc (n ? n : 1, sizeof *manifest);
    size_t nm = 0;
    int rc = MACX_OK;
    if (!p || !manifest) {
        free (p);
        free (manifest);
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    }
    macx__payload__init (p);
    ProtobufCMessage *body = NULL;
    for (size_t i = 0; i < sizeof s_typed / sizeof s_typed[0]; i++)
        if (strcmp (record_type, s_typed[i].type) == 0) {
            body = malloc (s_typed[i].desc->sizeof_message);
            if (!body) {
                rc = macx_error_set (err, MACX_ENOMEM, "out of memory");
                goto done;
            }
            s_typed[i].desc->message_init (body);
            *(ProtobufCMessage **) ((char *) p + s_typed[i].payload_offset) = body;
            p->body_case = s_typed[i].body;
        }
    if (!body) {
        p->generic = malloc (sizeof *p->generic);
        if (!p->generic) {
            rc = macx_error_set (err, MACX_ENOMEM, "out of memory");
            goto done;
        }
        macx__generic__init (p->generic);
        p->body_case = MACX__PAYLOAD__BODY_GENERIC;
        p->generic->fields = calloc (n ? n : 1, sizeof *p->generic->fields);
        if (!p->generic->fields) {
            rc = macx_error_set (err, MACX_ENOMEM, "out of memory");
            goto done;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const macx_record_field_t *in = &fields[i];
        char transformed[256];
        const char *value = in->value;
        const char *transform = in->transform && *in->transform ? in->transform : NULL;
        if (transform) {
            if (!macx_record_transform_known (transform)) {
                rc = macx_error_set (err, MACX_EINVAL, "field '%s': unknown transform '%.40s' "
                                     "(year_only, postcode_district, initials, region_only, "
                                     "redacted)", in->name, transform);
                goto done;
            }
            if (macx_record_transform_apply (transform, value, transformed, sizeof transformed)) {
                rc = macx_error_set (err, MACX_EINVAL, "field '%s': cannot apply %s to '%.60s'",
                                     in->name, transform, value);
                goto done;
            }
            value = transformed;
        }
        if (body) {
            const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field_by_name (body->descriptor, in->name);
            if (!f) {
                rc = macx_error_set (err, MACX_EINVAL, "record type '%s' has no field '%.64s'",
                                     record_type, in->name);
                goto done;
            }
            if ((rc = s_set (body, f, value, err)))
                goto done;
        }
        else {
            for (size_t j = 0; j < p->generic->n_fields; j++)
                if (strcmp (p->generic->fields[j]->name, in->name) == 0) {
                    rc = macx_error_set (err, MACX_EINVAL, "field '%.64s' given twice", in->name);
                    goto done;
                }
            Macx__Field *g = malloc (sizeof *g);
            if (!g) {
                rc = macx_error_set (err, MACX_ENOMEM, "out of memory");
                goto done;
            }
            macx__field__init (g);
            p->generic->fields[p->generic->n_fields++] = g;
            g->name = strdup (in->name);
            g->value = strdup (value);
            if (!g->name || !g->value) {
                rc = macx_error_set (err, MACX_ENOMEM, "out of memory");
                goto done;
            }
        }
        /* One manifest entry per field name (repeated fields appear once). */
        bool seen = false;
        for (size_t j = 0; j < nm && !seen; j++)
            seen = strcmp (manifest[j]->name, in->name) == 0;
        if (!seen) {
            Macx__FieldEntry *e = malloc (sizeof *e);
            if (!e) {
                rc = macx_error_set (err, MACX_ENOMEM, "out of memory");
                goto done;
            }
            macx__field_entry__init (e);
            manifest[nm++] = e;
            e->name = strdup (in->name);
            e->transform = strdup (transform ? transform : "");
            if (!e->name || !e->transform) {
                rc = macx_error_set (err, MACX_ENOMEM, "out of memory");
                goto done;
            }
        }
    }
done:
    *payload_p = p;
    *manifest_p = manifest;
    *nmanifest = nm;
    if (rc)
        macx_record_build_free (payload_p, manifest_p, nm);
    return rc;
}

void
macx_record_build_free (Macx__Payload **payload, Macx__FieldEntry ***manifest, size_t nmanifest)
{
    if (payload && *payload) {
        macx__payload__free_unpacked (*payload, NULL);
        *payload = NULL;
    }
    if (manifest && *manifest) {
        for (size_t i = 0; i < nmanifest; i++)
            macx__field_entry__free_unpacked ((*manifest)[i], NULL);
        free (*manifest);
        *manifest = NULL;
    }
}

/* ---- restricting a payload to what an agreement allows ------------------------ */

static const macx_record_keep_t *
s_keep_find (const macx_record_keep_t *keep, size_t nkeep, const char *name)
{
    for (size_t i = 0; i < nkeep; i++)
        if (strcmp (keep[i].name, name) == 0)
            return &keep[i];
    return NULL;
}

static int
s_transform_in_place (char **s, const char *transform)
{
    if (!*s || !**s)
        return MACX_OK;
    char out[256];
    if (macx_record_transform_apply (transform, *s, out, sizeof out))
        return MACX_EINVAL;
    char *copy = strdup (out);
    if (!copy)
        return MACX_ENOMEM;
    free (*s);
    *s = copy;
    return MACX_OK;
}

int
macx_record_restrict (Macx__Payload *p, const macx_record_keep_t *keep, size_t nkeep,
                      Macx__FieldEntry ***manifest_p, size_t *nmanifest, macx_error_t *err)
{
    *manifest_p = NULL;
    *nmanifest = 0;
    ProtobufCMessage *m = (ProtobufCMessage *) macx_record_body (p);
    if (!m || p->body_case == MACX__PAYLOAD__BODY_GENERIC)
        return macx_error_set (err, MACX_EINVAL, "restrict needs a typed payload");
    const ProtobufCMessageDescriptor *d = m->descriptor;
    char *base = (char *) m;
    Macx__FieldEntry **manifest = calloc (d->n_fields ? d->n_fields : 1, sizeof *manifest);
    if (!manifest)
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    size_t nm = 0;
    int rc = MACX_OK;
    for (unsigned i = 0; i < d->n_fields && rc == MACX_OK; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const macx_record_keep_t *k = s_keep_find (keep, nkeep, f->name);
        const char *transform = k && k->transform && *k->transform ? k->transform : NULL;
        bool present;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t *q = (size_t *) (base + f->quantifier_offset);
            if (!k && *q) {
                /* drop: free the elements, then the array */
                void **arr = *(void ***) (base + f->offset);
                for (size_t j = 0; j < *q; j++) {
                    if (f->type == PROTOBUF_C_TYPE_STRING)
                        free (arr[j]);
                    else if (f->type == PROTOBUF_C_TYPE_MESSAGE)
                        protobuf_c_message_free_unpacked (arr[j], NULL);
                }
                free (arr);
                *(void ***) (base + f->offset) = NULL;
                *q = 0;
            }
            else if (transform && f->type == PROTOBUF_C_TYPE_STRING) {
                char **arr = *(char ***) (base + f->offset);
                for (size_t j = 0; j < *q && rc == MACX_OK; j++)
                    rc = s_transform_in_place (&arr[j], transform);
            }
            else if (transform)
                rc = macx_error_set (err, MACX_EINVAL, "cannot apply %s to structured field '%s'",
                                     transform, f->name);
            present = *q > 0;
        }
        else if (f->type == PROTOBUF_C_TYPE_STRING) {
            char **s = (char **) (base + f->offset);
            if (!k && *s && *s != (char *) f->default_value) {
                free (*s);
                *s = (char *) f->default_value;
            }
            else if (transform && *s != (char *) f->default_value)
                rc = s_transform_in_place (s, transform);
            present = *s && **s;
        }
        else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            ProtobufCMessage **sub = (ProtobufCMessage **) (base + f->offset);
            if (!k && *sub) {
                protobuf_c_message_free_unpacked (*sub, NULL);
                *sub = NULL;
            }
            present = *sub != NULL;
        }
        else {
            size_t size = f->type == PROTOBUF_C_TYPE_INT64 || f->type == PROTOBUF_C_TYPE_UINT64
                                  || f->type == PROTOBUF_C_TYPE_DOUBLE ? 8 : 4;
            if (!k)
                memset (base + f->offset, 0, size);
            present = false;
            for (size_t b = 0; b < size; b++)
                present |= ((uint8_t *) (base + f->offset))[b] != 0;
        }
        if (rc)
            rc = err && err->code ? rc : macx_error_set (err, rc, "cannot apply %s to field '%s'",
                                                         transform ? transform : "?", f->name);
        if (rc == MACX_OK && present) {
            Macx__FieldEntry *e = malloc (sizeof *e);
            if (!e) {
                rc = macx_error_set (err, MACX_ENOMEM, "out of memory");
                break;
            }
            macx__field_entry__init (e);
            manifest[nm++] = e;
            e->name = strdup (f->name);
            e->transform = strdup (transform && f->type == PROTOBUF_C_TYPE_STRING ? transform : "");
            if (!e->name || !e->transform)
                rc = macx_error_set (err, MACX_ENOMEM, "out of memory");
        }
    }
    if (rc) {
        for (size_t i = 0; i < nm; i++)
            macx__field_entry__free_unpacked (manifest[i], NULL);
        free (manifest);
        return rc;
    }
    *manifest_p = manifest;
    *nmanifest = nm;
    return MACX_OK;
}
