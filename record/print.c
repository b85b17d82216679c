/* print.c -- a record's header (and payload, once opened) as text or JSON,
 * by protobuf-c reflection for the payload. Writes to a caller's stream. */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "file.h"
#include "json.h"
#include "names.h"
#include "record.h"

static void
s_time (int64_t ms, char *buf, size_t size)
{
    time_t s = (time_t) (ms / 1000);
    struct tm tm;
    gmtime_r (&s, &tm);
    size_t n = strftime (buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (buf + n, size - n, ".%03dZ", (int) (ms % 1000));
}

static void s_json_message (FILE *out, const ProtobufCMessage *m);

static void
s_json_value (FILE *out, const ProtobufCFieldDescriptor *f, const void *at)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:  macx_json_str (out, *(char *const *) at); break;
    case PROTOBUF_C_TYPE_BOOL:    fputs (*(const protobuf_c_boolean *) at ? "true" : "false", out); break;
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        fprintf (out, "%" PRId32, *(const int32_t *) at);
        break;
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
        fprintf (out, "%" PRIu32, *(const uint32_t *) at);
        break;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        fprintf (out, "%" PRId64, *(const int64_t *) at);
        break;
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        fprintf (out, "%" PRIu64, *(const uint64_t *) at);
        break;
    case PROTOBUF_C_TYPE_FLOAT:   fprintf (out, "%g", (double) *(const float *) at); break;
    case PROTOBUF_C_TYPE_DOUBLE:  fprintf (out, "%g", *(const double *) at); break;
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = at;
        fputc ('"', out);
        for (size_t i = 0; i < b->len; i++)
            fprintf (out, "%02x", b->data[i]);
        fputc ('"', out);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(const ProtobufCMessage *const *) at;
        if (m)
            s_json_message (out, m);
        else
            fputs ("null", out);
        break;
    }
    }
}

static size_t
s_type_size (const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE: return sizeof (void *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof (ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL: return sizeof (protobuf_c_boolean);
    default: return 4;
    }
}

/* Writes every field, including empty ones, so the shape is stable. */
static void
s_json_message (FILE *out, const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *) m;
    fputc ('{', out);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF
            && *(const uint32_t *) (base + f->quantifier_offset) != f->id)
            continue;
        fprintf (out, "%s\"%s\":", i ? "," : "", f->name);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t q = *(const size_t *) (base + f->quantifier_offset);
            const char *arr = *(const char *const *) (base + f->offset);
            fputc ('[', out);
            for (size_t k = 0; k < q; k++) {
                if (k)
                    fputc (',', out);
                s_json_value (out, f, arr + k * s_type_size (f));
            }
            fputc (']', out);
        }
        else
            s_json_value (out, f, base + f->offset);
    }
    fputc ('}', out);
}

static void
s_print_payload (FILE *out, const Macx__Payload *p, int json)
{
    if (p->body_case == MACX__PAYLOAD__BODY__NOT_SET)
        return;
    const ProtobufCMessage *body =
        p->body_case == MACX__PAYLOAD__BODY_GENERIC ? NULL : macx_record_body (p);
    if (!body) {   /* generic: an object of its name = value pairs */
        fputc ('{', out);
        for (size_t i = 0; i < p->generic->n_fields; i++) {
            fputs (i ? "," : "", out);
            if (!json)
                fputs (i ? "\n  " : "\n  ", out);
            macx_json_str (out, p->generic->fields[i]->name);
            fputc (':', out);
            macx_json_str (out, p->generic->fields[i]->value);
        }
        fputs (json ? "}" : "\n}", out);
        return;
    }
    s_json_message (out, body);
}

void
macx_record_print_header (FILE *out, const Macx__Header *h, int json)
{
    char id[2 * MACX_RECORD_ID_BYTES + 1] = "", when[40];
    if (h->record_id.len == MACX_RECORD_ID_BYTES)
        macx_hex_encode (h->record_id.data, MACX_RECORD_ID_BYTES, id);
    s_time (h->created_ms, when, sizeof when);
    if (json) {
        fprintf (out, "{\"record_id\":\"%s\",\"version\":%u,\"sender\":", id, h->version);
        macx_json_str (out, h->sender);
        fputs (",\"recipients\":[", out);
        for (size_t i = 0; i < h->n_recipients; i++) {
            fputs (i ? "," : "", out);
            macx_json_str (out, h->recipients[i]);
        }
        fprintf (out, "],\"sequence\":%" PRIu64 ",\"created\":\"%s\",\"subject\":", h->sequence, when);
        macx_json_str (out, h->subject);
        fputs (",\"case_id\":", out);
        macx_json_str (out, h->case_id);
        fprintf (out, ",\"phase\":\"%s\",\"case_phase\":\"%s\",\"sim_day\":%d,\"record_type\":",
                 macx_phase_name (h->phase), macx_phase_name (h->case_phase), h->sim_day);
        macx_json_str (out, h->record_type);
        fputs (",\"purpose\":", out);
        macx_json_str (out, h->purpose);
        fputs (",\"legal_basis\":", out);
        macx_json_str (out, h->legal_basis);
        fputs (",\"manifest\":[", out);
        for (size_t i = 0; i < h->n_manifest; i++) {
            fputs (i ? "," : "", out);
            fputs ("{\"name\":", out);
            macx_json_str (out, h->manifest[i]->name);
            fputs (",\"transform\":", out);
            macx_json_str (out, h->manifest[i]->transform);
            fputc ('}', out);
        }
        fputs ("],\"origin\":", out);
        macx_json_str (out, h->origin);
        fputs (",\"origin_record_type\":", out);
        macx_json_str (out, h->origin_record_type);
        fprintf (out, ",\"origin_consent\":%s}", h->origin_consent ? "true" : "false");
        return;
    }
    fprintf (out, "record      %s\nsender      %s\nrecipients  ", id, h->sender);
    for (size_t i = 0; i < h->n_recipients; i++)
        fprintf (out, "%s%s", i ? ", " : "", h->recipients[i]);
    fprintf (out, "\nsequence    %" PRIu64 "\ncreated     %s\nsubject     %s\ncase        %s\n",
             h->sequence, when, h->subject, h->case_id);
    fprintf (out, "phase       %s (case in %s)\ntype        %s\npurpose     %s\nlegal basis %s\n",
             macx_phase_name (h->phase),
             macx_phase_name (h->case_phase ? h->case_phase : h->phase), h->record_type,
             h->purpose, h->legal_basis && *h->legal_basis ? h->legal_basis : "-");
    fputs ("manifest    ", out);
    for (size_t i = 0; i < h->n_manifest; i++) {
        fprintf (out, "%s%s", i ? ", " : "", h->manifest[i]->name);
        if (h->manifest[i]->transform && *h->manifest[i]->transform)
            fprintf (out, ":%s", h->manifest[i]->transform);
    }
    if (h->n_manifest == 0)
        fputs ("(no fields)", out);
    fputc ('\n', out);
    if (h->origin && *h->origin)
        fprintf (out, "origin      %s (%s)%s\n", h->origin, h->origin_record_type,
                 h->origin_consent ? ", with the originator's consent" : "");
}

void
macx_record_print (FILE *out, const macx_record_t *self, int json)
{
    const Macx__Header *h = macx_record_header (self);
    const Macx__Envelope *env = macx_record_envelope (self);
    const Macx__Payload *p = macx_record_payload (self);
    if (json) {
        fputs ("{\"header\":", out);
        macx_record_print_header (out, h, 1);
        fprintf (out, ",\"sealed_bytes\":%zu,\"signature\":\"%s\",", env->ciphertext.len,
                 macx_record_verified (self) ? "ok" : "unchecked");
        if (env->batch) {
            char root[2 * MACX_BATCH_HASH_BYTES + 1] = "";
            for (size_t i = 0; i < env->batch->root.len && i < MACX_BATCH_HASH_BYTES; i++)
                snprintf (root + 2 * i, 3, "%02x", env->batch->root.data[i]);
            fprintf (out, "\"batch\":{\"index\":%u,\"count\":%u,\"root\":\"%s\",\"path\":%zu},",
                     env->batch->index, env->batch->count, root, env->batch->n_path);
        }
        fputs ("\"payload\":", out);
        if (p)
            s_print_payload (out, p, 1);
        else
            fputs ("null", out);
        fputs ("}\n", out);
        return;
    }
    macx_record_print_header (out, h, 0);
    fprintf (out, "sealed      %zu bytes for %zu recipient%s; signature %s\n", env->ciphertext.len,
             h->n_recipients, h->n_recipients == 1 ? "" : "s",
             macx_record_verified (self) ? "ok" : "NOT checked (give --keys)");
    if (env->batch) {
        fprintf (out, "batch       record %u of %u, root ", env->batch->index + 1, env->batch->count);
        for (size_t i = 0; i < env->batch->root.len && i < 8; i++)
            fprintf (out, "%02x", env->batch->root.data[i]);
        fprintf (out, "..., inclusion path of %zu hash%s (one signature for the batch)\n",
                 env->batch->n_path, env->batch->n_path == 1 ? "" : "es");
    }
    if (p) {
        fputs ("payload     ", out);
        s_print_payload (out, p, 0);
        fputc ('\n', out);
    }
}
