/* loader.c -- reads a policy directory (YAML via libfyaml), validates it
 * strictly and compiles it into the lookup tables of policy_int.h. Every
 * error names file:line:column and says what is wrong in one sentence. */
#include <dirent.h>

#include "file.h"
#include "names.h"
#include "yaml.h"

#define S_FILE_MAX (1u << 20)       /* one policy file, bytes */
#define S_MAX_AGREEMENTS 256
#define S_MAX_FLOWS 4096
#define S_MAX_FORBIDS 256
#define S_MAX_ONWARD 32

/* ---- arena ---------------------------------------------------------------- */

static void *
s_own (macx_policy_t *p, void *ptr)
{
    if (!ptr)
        return NULL;
    if (p->nallocs == p->allocs_cap) {
        size_t cap = p->allocs_cap ? p->allocs_cap * 2 : 64;
        void **n = realloc (p->allocs, cap * sizeof *n);
        if (!n) {
            free (ptr);
            return NULL;
        }
        p->allocs = n;
        p->allocs_cap = cap;
    }
    p->allocs[p->nallocs++] = ptr;
    return ptr;
}

static char *
s_dup (macx_policy_t *p, const char *s, size_t len)
{
    char *d = malloc (len + 1);
    if (!d)
        return NULL;
    memcpy (d, s, len);
    d[len] = 0;
    return s_own (p, d);
}

static void *
s_calloc (macx_policy_t *p, size_t n, size_t size)
{
    return s_own (p, calloc (n ? n : 1, size));
}

static int
s_oom (s_ctx_t *c)
{
    return macx_error_set (c->err, MACX_ENOMEM, "%s: out of memory", c->file ? c->file : "policy");
}

static int
s_string (s_ctx_t *c, struct fy_node *n, const char *what, char **out)
{
    char buf[1024];
    int rc = s_scalar (c, n, what, buf, sizeof buf);
    if (rc)
        return rc;
    *out = s_dup (c->p, buf, strlen (buf));
    return *out ? 0 : s_oom (c);
}

/* ---- documents ----------------------------------------------------------------- */

static struct fy_document *
s_parse (s_ctx_t *c, const char *rel, const char *text, size_t len)
{
    crypto_generichash_update (&c->hash, (const unsigned char *) rel, strlen (rel) + 1);
    uint8_t lenb[8];
    for (int i = 0; i < 8; i++)
        lenb[i] = (uint8_t) ((uint64_t) len >> (8 * i));
    crypto_generichash_update (&c->hash, lenb, sizeof lenb);
    crypto_generichash_update (&c->hash, (const unsigned char *) text, len);

    return s_parse_doc (c, text, len);
}

/* ---- schema.yaml ----------------------------------------------------------------- */

static int
s_transform_item (s_ctx_t *c, struct fy_node *item, const char *text, void *arg)
{
    int x = macx_policy_transform_parse (text);
    if (x <= 0)
        return s_fail (c, item,
                       "unknown transform '%s' (expected year_only, postcode_district, initials, "
                       "region_only or redacted)", text);
    *(uint32_t *) arg |= 1u << x;
    return 0;
}

static int
s_load_schema (s_ctx_t *c, struct fy_node *root)
{
    static const char *const top[] = { "version", "agencies", "purposes", "record_types", NULL };
    static const char *const top_req[] = { "agencies", "purposes", "record_types", NULL };
    static const char *const agency_keys[] = { "id", "kind", "region", NULL };
    static const char *const agency_req[] = { "id", "kind", NULL };
    static const char *const purpose_keys[] = { "id", "description", NULL };
    static const char *const type_keys[] = { "id", "description", "fields", NULL };
    static const char *const type_req[] = { "id", "fields", NULL };
    static const char *const field_keys[] = { "name", "class", "transforms", NULL };
    static const char *const field_req[] = { "name", "class", NULL };
    macx_policy_t *p = c->p;
    int rc = s_keys (c, root, "the schema", top, top_req);
    if (rc)
        return rc;
    long version = 1;
    if (s_get (root, "version") && (rc = s_int (c, s_get (root, "version"), "version", 1, 1, &version)))
        return rc;

    struct fy_node *list = s_get (root, "agencies"), *item;
    if ((rc = s_seq (c, list, "agencies")))
        return rc;
    void *it = NULL;
    while ((item = fy_node_sequence_iterate (list, &it))) {
        if ((rc = s_keys (c, item, "an agency", agency_keys, agency_req)))
            return rc;
        if (p->nagencies >= MACX_POLICY_MAX_AGENCIES)
            return s_fail (c, item, "more than %d agencies", MACX_POLICY_MAX_AGENCIES);
        macx_agency_t *a = &p->agencies[p->nagencies];
        if ((rc = s_string (c, s_get (item, "id"), "agency id", &a->id))
            || (rc = s_string (c, s_get (item, "kind"), "agency kind", &a->kind)))
            return rc;
        if (s_get (item, "region")
            && (rc = s_string (c, s_get (item, "region"), "agency region", &a->region)))
            return rc;
        if (strchr (a->id, '*'))
            return s_fail (c, s_get (item, "id"), "agency id '%s' may not contain '*'", a->id);
        if (macx_policy_names_add (&p->agency_names, a->id, p->nagencies) != 0)
            return s_fail (c, s_get (item, "id"), "agency '%s' is declared twice", a->id);
        p->nagencies++;
    }
    if (p->nagencies == 0)
        return s_fail (c, list, "the schema declares no agencies");

    list = s_get (root, "purposes");
    if ((rc = s_seq (c, list, "purposes")))
        return rc;
    it = NULL;
    while ((item = fy_node_sequence_iterate (list, &it))) {
        if ((rc = s_keys (c, item, "a purpose", purpose_keys, (const char *const[]) { "id", NULL })))
            return rc;
        if (p->npurposes >= MACX_POLICY_MAX_PURPOSES)
            return s_fail (c, item, "more than %d purposes", MACX_POLICY_MAX_PURPOSES);
        if ((rc = s_string (c, s_get (item, "id"), "purpose id", &p->purposes[p->npurposes])))
            return rc;
        if (macx_policy_names_add (&p->purpose_names, p->purposes[p->npurposes], p->npurposes))
            return s_fail (c, s_get (item, "id"), "purpose '%s' is declared twice",
                           p->purposes[p->npurposes]);
        p->npurposes++;
    }

    list = s_get (root, "record_types");
    if ((rc = s_seq (c, list, "record_types")))
        return rc;
    it = NULL;
    while ((item = fy_node_sequence_iterate (list, &it))) {
        if ((rc = s_keys (c, item, "a record type", type_keys, type_req)))
            return rc;
        if (p->ntypes >= MACX_POLICY_MAX_TYPES)
            return s_fail (c, item, "more than %d record types", MACX_POLICY_MAX_TYPES);
        macx_rtype_t *t = &p->types[p->ntypes];
        macx_policy_names_init (&t->names);
        if ((rc = s_string (c, s_get (item, "id"), "record type id", &t->id)))
            return rc;
        if (macx_policy_names_add (&p->type_names, t->id, p->ntypes))
            return s_fail (c, s_get (item, "id"), "record type '%s' is declared twice", t->id);
        struct fy_node *fields = s_get (item, "fields"), *f;
        if ((rc = s_seq (c, fields, "fields")))
            return rc;
        void *fit = NULL;
        while ((f = fy_node_sequence_iterate (fields, &fit))) {
            if ((rc = s_keys (c, f, "a field", field_keys, field_req)))
                return rc;
            if (t->nfields >= MACX_POLICY_MAX_FIELDS)
                return s_fail (c, f, "record type '%s' has more than %d fields", t->id,
                               MACX_POLICY_MAX_FIELDS);
            macx_field_def_t *fd = &t->fields[t->nfields];
            char cls[64];
            if ((rc = s_string (c, s_get (f, "name"), "field name", &fd->name))
                || (rc = s_scalar (c, s_get (f, "class"), "field class", cls, sizeof cls)))
                return rc;
            fd->cls = macx_policy_class_parse (cls);
            if (fd->cls < 0)
                return s_fail (c, s_get (f, "class"),
                               "unknown field class '%s' (expected identifier, personal, "
                               "special_category, operational or intelligence)", cls);
            if (s_get (f, "transforms")
                && (rc = s_list (c, s_get (f, "transforms"), "transforms", s_transform_item,
                                 &fd->transforms)))
                return rc;
            if (macx_policy_names_add (&t->names, fd->name, t->nfields))
                return s_fail (c, s_get (f, "name"), "field '%s' is declared twice in '%s'",
                               fd->name, t->id);
            t->class_mask[fd->cls] |= 1ull << t->nfields;
            t->nfields++;
        }
        p->ntypes++;
    }
    return 0;
}

/* ---- forbid.yaml ----------------------------------------------------------------- */

typedef struct {
    uint64_t mask;
} s_agencies_arg_t;

static int
s_pattern_item (s_ctx_t *c, struct fy_node *item, const char *text, void *arg)
{
    uint64_t m = macx_policy_match_agencies (c->p, text);
    if (!m) {
        if (strchr (text, '*'))
            return s_fail (c, item, "pattern '%s' matches no agency", text);
        return s_fail (c, item, "unknown agency '%s'", text);
    }
    ((s_agencies_arg_t *) arg)->mask |= m;
    return 0;
}

typedef struct {
    uint32_t types;
} s_types_arg_t;

static int
s_type_item (s_ctx_t *c, struct fy_node *item, const char *text, void *arg)
{
    if (strcmp (text, "*") == 0) {
        ((s_types_arg_t *) arg)->types |= (uint32_t) ((1ull << c->p->ntypes) - 1);
        return 0;
    }
    int t = macx_policy_find_type (c->p, text);
    if (t < 0)
        return s_fail (c, item, "unknown record type '%s'", text);
    ((s_types_arg_t *) arg)->types |= 1u << t;
    return 0;
}

typedef struct {
    macx_forbid_t *f;
} s_forbid_arg_t;

static int
s_forbid_field_item (s_ctx_t *c, struct fy_node *item, const char *text, void *arg)
{
    macx_forbid_t *f = ((s_forbid_arg_t *) arg)->f;
    int found = 0;
    for (int t = 0; t < c->p->ntypes; t++) {
        int i = macx_policy_names_find (&c->p->types[t].names, text);
        if (i >= 0) {
            f->mask[t] |= 1ull << i;
            found = 1;
        }
    }
    return found ? 0 : s_fail (c, item, "unknown field '%s' (no record type has it)", text);
}

static int
s_forbid_class_item (s_ctx_t *c, struct fy_node *item, const char *text, void *arg)
{
    macx_forbid_t *f = ((s_forbid_arg_t *) arg)->f;
    int cls = macx_policy_class_parse (text);
    if (cls < 0)
        return s_fail (c, item, "unknown field class '%s'", text);
    for (int t = 0; t < c->p->ntypes; t++)
        f->mask[t] |= c->p->types[t].class_mask[cls];
    return 0;
}

static int
s_load_forbid (s_ctx_t *c, struct fy_node *root)
{
    static const char *const top[] = { "forbid", NULL };
    static const char *const keys[] = { "id", "reason", "from", "to", "record_types", "fields",
                                        "field_classes", NULL };
    static const char *const req[] = { "id", "reason", "from", "to", NULL };
    macx_policy_t *p = c->p;
    int rc = s_keys (c, root, "the forbid file", top, top);
    if (rc)
        return rc;
    struct fy_node *list = s_get (root, "forbid"), *item;
    if ((rc = s_seq (c, list, "forbid")))
        return rc;
    void *it = NULL;
    while ((item = fy_node_sequence_iterate (list, &it))) {
        if ((rc = s_keys (c, item, "a forbid rule", keys, req)))
            return rc;
        if (p->nforbids >= S_MAX_FORBIDS)
            return s_fail (c, item, "more than %d forbid rules", S_MAX_FORBIDS);
        macx_forbid_t *f = &p->forbids[p->nforbids];
        if ((rc = s_string (c, s_get (item, "id"), "forbid id", &f->id))
            || (rc = s_string (c, s_get (item, "reason"), "forbid reason", &f->reason)))
            return rc;
        for (int i = 0; i < p->nforbids; i++)
            if (strcmp (p->forbids[i].id, f->id) == 0)
                return s_fail (c, s_get (item, "id"), "forbid rule '%s' is declared twice", f->id);
        s_agencies_arg_t from = { 0 }, to = { 0 };
        s_types_arg_t types = { 0 };
        if ((rc = s_list (c, s_get (item, "from"), "from", s_pattern_item, &from))
            || (rc = s_list (c, s_get (item, "to"), "to", s_pattern_item, &to)))
            return rc;
        if (s_get (item, "record_types")) {
            if ((rc = s_list (c, s_get (item, "record_types"), "record_types", s_type_item, &types)))
                return rc;
        }
        else
            types.types = (uint32_t) ((1ull << p->ntypes) - 1);
        f->from = from.mask;
        f->to = to.mask;
        f->types = types.types;
        s_forbid_arg_t fa = { f };
        if (!s_get (item, "fields") && !s_get (item, "field_classes"))
            return s_fail (c, item, "forbid rule '%s' names no fields and no field_classes", f->id);
        if (s_get (item, "fields")
            && (rc = s_list (c, s_get (item, "fields"), "fields", s_forbid_field_item, &fa)))
            return rc;
        if (s_get (item, "field_classes")
            && (rc = s_list (c, s_get (item, "field_classes"), "field_classes",
                             s_forbid_class_item, &fa)))
            return rc;
        for (int t = 0; t < p->ntypes; t++)
            if (!(f->types & (1u << t)))
                f->mask[t] = 0;
        p->nforbids++;
    }
    return 0;
}

/* ---- agreements -------------------------------------------------------------------- */

static const char *const s_regimes[] = { "uk_gdpr", "dpa2018_part3", "dpa2018_part4", NULL };

typedef struct {
    macx_agreement_t *a;
    uint8_t phases;
    uint32_t purposes;
    uint64_t agencies;
} s_agr_arg_t;

static int
s_phase_item (s_ctx_t *c, struct fy_node *item, const char *text, void *arg)
{
    int ph = macx_phase_parse (text);
    if (ph <= 0)
        return s_fail (c, item,
                       "unknown phase '%s' (expected identification, sharing, enrichment, "
                       "profiling or panel)", text);
    ((s_agr_arg_t *) arg)->phases |= (uint8_t) (1u << ph);
    return 0;
}

static int
s_flow_purpose_item (s_ctx_t *c, struct fy_node *item, const char *text, void *arg)
{
    s_agr_arg_t *aa = arg;
    int pu = macx_policy_find_purpose (c->p, text);
    if (pu < 0)
        return s_fail (c, item, "unknown purpose '%s'", text);
    if (!(aa->a->purposes & (1u << pu)))
        return s_fail (c, item, "purpose '%s' is not a purpose of agreement %s", text, aa->a->id);
    aa->purposes |= 1u << pu;
    return 0;
}

static int
s_party_pattern_item (s_ctx_t *c, struct fy_node *item, const char *text, void *arg)
{
    s_agr_arg_t *aa = arg;
    uint64_t m = macx_policy_match_agencies (c->p, text);
    if (!m)
        return s_fail (c, item, strchr (text, '*') ? "pattern '%s' matches no agency"
                                                    : "unknown agency '%s'", text);
    if (!strchr (text, '*') && !(m & aa->a->parties))
        return s_fail (c, item, "agency '%s' is not a party to agreement %s", text, aa->a->id);
    m &= aa->a->parties;
    if (!m)
        return s_fail (c, item, "pattern '%s' matches no party to agreement %s", text, aa->a->id);
    aa->agencies |= m;
    return 0;
}

typedef struct {
    s_ctx_t *c;
    macx_flow_t *f;
    const macx_rtype_t *t;
    uint64_t mask;
} s_fields_arg_t;

static int
s_field_item (s_ctx_t *c, struct fy_node *item, const char *text, void *arg)
{
    s_fields_arg_t *fa = arg;
    int i = macx_policy_names_find (&fa->t->names, text);
    if (i < 0)
        return s_fail (c, item, "unknown field '%s' for record type %s", text, fa->t->id);
    if (fa->mask & (1ull << i))
        return s_fail (c, item, "field '%s' is listed twice", text);
    fa->mask |= 1ull << i;
    return 0;
}

static int
s_onward_item (s_ctx_t *c, struct fy_node *item, const char *text, void *arg)
{
    macx_flow_t *f = arg;
    if (f->nonward >= S_MAX_ONWARD)
        return s_fail (c, item, "more than %d onward agreements", S_MAX_ONWARD);
    f->onward_agreements[f->nonward] = s_dup (c->p, text, strlen (text));
    if (!f->onward_agreements[f->nonward])
        return s_oom (c);
    f->nonward++;
    return 0;
}

static int
s_load_flow (s_ctx_t *c, int ai, struct fy_node *item)
{
    static const char *const keys[] = { "id", "from", "to", "record_type", "purposes", "phases",
                                        "allow", "transform", "require", "retention", "onward",
                                        "max_per_day", "description", NULL };
    static const char *const req[] = { "id", "from", "to", "record_type", "purposes", "phases",
                                       "retention", "onward", NULL };
    static const char *const ret_keys[] = { "days", "from", "on_expiry", NULL };
    static const char *const retention_from[] = { "receipt", "creation", NULL };
    static const char *const on_expiry[] = { "delete", "review", "anonymise", NULL };
    macx_policy_t *p = c->p;
    macx_agreement_t *a = &p->agreements[ai];
    int rc = s_keys (c, item, "a flow", keys, req);
    if (rc)
        return rc;
    if (p->nflows >= S_MAX_FLOWS)
        return s_fail (c, item, "more than %d flows", S_MAX_FLOWS);
    macx_flow_t *f = &p->flows[p->nflows];
    f->agreement = ai;
    f->file = (char *) c->file;
    s_mark (c, item, &f->line, &f->col);
    if ((rc = s_string (c, s_get (item, "id"), "flow id", &f->id)))
        return rc;
    for (int i = 0; i < p->nflows; i++)
        if (p->flows[i].agreement == ai && strcmp (p->flows[i].id, f->id) == 0)
            return s_fail (c, s_get (item, "id"), "flow '%s' is declared twice in agreement %s",
                           f->id, a->id);
    s_agr_arg_t from = { .a = a }, to = { .a = a }, ph = { .a = a }, pu = { .a = a };
    if ((rc = s_list (c, s_get (item, "from"), "from", s_party_pattern_item, &from))
        || (rc = s_list (c, s_get (item, "to"), "to", s_party_pattern_item, &to))
        || (rc = s_list (c, s_get (item, "purposes"), "purposes", s_flow_purpose_item, &pu))
        || (rc = s_list (c, s_get (item, "phases"), "phases", s_phase_item, &ph)))
        return rc;
    f->from = from.agencies;
    f->to = to.agencies;
    f->purposes = pu.purposes;
    f->phases = ph.phases;
    for (int u = 0; u < p->npurposes; u++)
        if (f->purposes & (1u << u)) {
            uint8_t outside = (uint8_t) (f->phases & ~a->purpose_phases[u]);
            for (int k = 1; k <= MACX_PHASE_COUNT; k++)
                if (outside & (1u << k))
                    return s_fail (c, s_get (item, "phases"),
                                   "flow %s allows phase %s, which purpose %s of agreement %s "
                                   "does not cover", f->id, macx_phase_name (k), p->purposes[u],
                                   a->id);
        }
    char tname[128];
    if ((rc = s_scalar (c, s_get (item, "record_type"), "record_type", tname, sizeof tname)))
        return rc;
    f->type = macx_policy_find_type (p, tname);
    if (f->type < 0)
        return s_fail (c, s_get (item, "record_type"), "unknown record type '%s'", tname);
    const macx_rtype_t *t = &p->types[f->type];

    s_fields_arg_t fa = { c, f, t, 0 };
    if (s_get (item, "allow")
        && (rc = s_list (c, s_get (item, "allow"), "allow", s_field_item, &fa)))
        return rc;
    f->allow = fa.mask;
    struct fy_node *xf = s_get (item, "transform");
    if (xf) {
        if (fy_node_is_alias (xf) || fy_node_get_type (xf) != FYNT_MAPPING)
            return s_fail (c, xf, "transform must map field names to transforms");
        void *it = NULL;
        struct fy_node_pair *pr;
        while ((pr = fy_node_mapping_iterate (xf, &it))) {
            char fname[128], xname[64];
            if ((rc = s_scalar (c, fy_node_pair_key (pr), "field", fname, sizeof fname))
                || (rc = s_scalar (c, fy_node_pair_value (pr), "transform", xname, sizeof xname)))
                return rc;
            int i = macx_policy_names_find (&t->names, fname);
            if (i < 0)
                return s_fail (c, fy_node_pair_key (pr), "unknown field '%s' for record type %s",
                               fname, t->id);
            if (f->xform & (1ull << i))
                return s_fail (c, fy_node_pair_key (pr), "duplicate key '%s' in transform", fname);
            if (f->allow & (1ull << i))
                return s_fail (c, fy_node_pair_key (pr),
                               "field '%s' is both allowed as held and transformed; list it once",
                               fname);
            int x = macx_policy_transform_parse (xname);
            if (x <= 0)
                return s_fail (c, fy_node_pair_value (pr), "unknown transform '%s'", xname);
            if (!(t->fields[i].transforms & (1u << x)))
                return s_fail (c, fy_node_pair_value (pr),
                               "the schema does not allow transform %s on field %s.%s", xname,
                               t->id, fname);
            f->xform |= 1ull << i;
            f->xform_of[i] = (uint8_t) x;
        }
    }
    fa.mask = 0;
    if (s_get (item, "require")
        && (rc = s_list (c, s_get (item, "require"), "require", s_field_item, &fa)))
        return rc;
    f->require = fa.mask;
    uint64_t stray = f->require & ~(f->allow | f->xform);
    if (stray) {
        int i = __builtin_ctzll (stray);
        return s_fail (c, s_get (item, "require"),
                       "flow %s requires field %s but neither allows nor transforms it", f->id,
                       t->fields[i].name);
    }

    struct fy_node *ret = s_get (item, "retention");
    if ((rc = s_keys (c, ret, "retention", ret_keys, (const char *const[]) { "days", NULL })))
        return rc;
    long days = 0;
    if ((rc = s_int (c, s_get (ret, "days"), "retention days", 1, 36500, &days)))
        return rc;
    f->retention_days = (int) days;
    char word[64];
    if (s_get (ret, "from")) {
        if ((rc = s_scalar (c, s_get (ret, "from"), "retention from", word, sizeof word)))
            return rc;
        f->retention_from = -1;
        for (int i = 0; retention_from[i]; i++)
            if (strcmp (word, retention_from[i]) == 0)
                f->retention_from = i;
        if (f->retention_from < 0)
            return s_fail (c, s_get (ret, "from"),
                           "retention from must be receipt or creation, not '%s'", word);
    }
    if (s_get (ret, "on_expiry")) {
        if ((rc = s_scalar (c, s_get (ret, "on_expiry"), "on_expiry", word, sizeof word)))
            return rc;
        f->on_expiry = -1;
        for (int i = 0; on_expiry[i]; i++)
            if (strcmp (word, on_expiry[i]) == 0)
                f->on_expiry = i;
        if (f->on_expiry < 0)
            return s_fail (c, s_get (ret, "on_expiry"),
                           "on_expiry must be delete, review or anonymise, not '%s'", word);
    }

    struct fy_node *on = s_get (item, "onward");
    f->onward_agreements = s_calloc (p, S_MAX_ONWARD, sizeof (char *));
    if (!f->onward_agreements)
        return s_oom (c);
    if (!fy_node_is_alias (on) && fy_node_get_type (on) == FYNT_MAPPING) {
        static const char *const on_keys[] = { "agreements", NULL };
        if ((rc = s_keys (c, on, "onward", on_keys, on_keys))
            || (rc = s_list (c, s_get (on, "agreements"), "onward agreements", s_onward_item, f)))
            return rc;
        if (f->nonward == 0)
            return s_fail (c, on, "onward agreements list is empty");
        f->onward = MACX_ONWARD_AGREEMENTS;
    }
    else {
        if ((rc = s_scalar (c, on, "onward", word, sizeof word)))
            return rc;
        if (strcmp (word, "prohibited") == 0)
            f->onward = MACX_ONWARD_PROHIBITED;
        else if (strcmp (word, "originator_consent") == 0)
            f->onward = MACX_ONWARD_ORIGINATOR_CONSENT;
        else
            return s_fail (c, on,
                           "onward must be prohibited, originator_consent or "
                           "{agreements: [...]}, not '%s'", word);
    }
    if (s_get (item, "max_per_day")) {
        long cap = 0;
        if ((rc = s_int (c, s_get (item, "max_per_day"), "max_per_day", 1, 100000000, &cap)))
            return rc;
        f->max_per_day = (uint32_t) cap;
    }
    p->nflows++;
    return 0;
}

static int
s_load_agreement (s_ctx_t *c, struct fy_node *root)
{
    static const char *const keys[] = { "id", "version", "title", "status", "effective_from",
                                        "expires", "review_by", "review_grace_days", "parties",
                                        "purposes", "legal_bases", "flows", "notes", NULL };
    static const char *const req[] = { "id", "version", "title", "status", "effective_from",
                                       "expires", "review_by", "parties", "purposes", "flows",
                                       NULL };
    static const char *const party_keys[] = { "id", "regime", NULL };
    static const char *const purpose_keys[] = { "id", "phases", NULL };
    static const char *const basis_keys[] = { "party", "disclose", "receive", NULL };
    macx_policy_t *p = c->p;
    int rc = s_keys (c, root, "an agreement", keys, req);
    if (rc)
        return rc;
    if (p->nagreements >= S_MAX_AGREEMENTS)
        return s_fail (c, root, "more than %d agreements", S_MAX_AGREEMENTS);
    int ai = p->nagreements;
    macx_agreement_t *a = &p->agreements[ai];
    a->file = (char *) c->file;
    if ((rc = s_string (c, s_get (root, "id"), "agreement id", &a->id)))
        return rc;
    s_mark (c, s_get (root, "id"), &a->line, &(int) { 0 });
    if (macx_policy_find_agreement (p, a->id) >= 0)
        return s_fail (c, s_get (root, "id"), "agreement '%s' is declared twice", a->id);
    long v = 0;
    if ((rc = s_int (c, s_get (root, "version"), "version", 1, 1000000, &v)))
        return rc;
    a->version = (int) v;
    if ((rc = s_string (c, s_get (root, "title"), "title", &a->title)))
        return rc;
    char word[64];
    if ((rc = s_scalar (c, s_get (root, "status"), "status", word, sizeof word)))
        return rc;
    a->status = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp (word, macx_policy_status_names[i]) == 0)
            a->status = i;
    if (a->status < 0)
        return s_fail (c, s_get (root, "status"),
                       "status must be draft, active, suspended or terminated, not '%s'", word);
    if ((rc = s_date (c, s_get (root, "effective_from"), "effective_from", &a->effective))
        || (rc = s_date (c, s_get (root, "expires"), "expires", &a->expires))
        || (rc = s_date (c, s_get (root, "review_by"), "review_by", &a->review_by)))
        return rc;
    if (a->expires < a->effective)
        return s_fail (c, s_get (root, "expires"), "agreement %s expires before it takes effect",
                       a->id);
    if (a->review_by < a->effective)
        return s_fail (c, s_get (root, "review_by"),
                       "agreement %s is due for review before it takes effect", a->id);
    if (s_get (root, "review_grace_days")) {
        if ((rc = s_int (c, s_get (root, "review_grace_days"), "review_grace_days", 0, 3650, &v)))
            return rc;
        a->grace = (int) v;
    }

    struct fy_node *list = s_get (root, "parties"), *item;
    if ((rc = s_seq (c, list, "parties")))
        return rc;
    void *it = NULL;
    while ((item = fy_node_sequence_iterate (list, &it))) {
        char id[128];
        if ((rc = s_keys (c, item, "a party", party_keys, party_keys))
            || (rc = s_scalar (c, s_get (item, "id"), "party id", id, sizeof id))
            || (rc = s_scalar (c, s_get (item, "regime"), "regime", word, sizeof word)))
            return rc;
        int ag = macx_policy_find_agency (p, id);
        if (ag < 0)
            return s_fail (c, s_get (item, "id"), "unknown agency '%s'", id);
        if (a->parties & (1ull << ag))
            return s_fail (c, s_get (item, "id"), "agency '%s' is listed twice as a party", id);
        int regime = -1;
        for (int i = 0; s_regimes[i]; i++)
            if (strcmp (word, s_regimes[i]) == 0)
                regime = i;
        if (regime < 0)
            return s_fail (c, s_get (item, "regime"),
                           "regime must be uk_gdpr, dpa2018_part3 or dpa2018_part4, not '%s'", word);
        a->parties |= 1ull << ag;
        a->regime[ag] = (char *) s_regimes[regime];
    }
    if (__builtin_popcountll (a->parties) < 2)
        return s_fail (c, list, "agreement %s needs at least two parties", a->id);

    list = s_get (root, "purposes");
    if ((rc = s_seq (c, list, "purposes")))
        return rc;
    it = NULL;
    while ((item = fy_node_sequence_iterate (list, &it))) {
        char id[128];
        if ((rc = s_keys (c, item, "a purpose", purpose_keys, purpose_keys))
            || (rc = s_scalar (c, s_get (item, "id"), "purpose id", id, sizeof id)))
            return rc;
        int pu = macx_policy_find_purpose (p, id);
        if (pu < 0)
            return s_fail (c, s_get (item, "id"), "unknown purpose '%s'", id);
        if (a->purposes & (1u << pu))
            return s_fail (c, s_get (item, "id"), "purpose '%s' is listed twice", id);
        s_agr_arg_t ph = { .a = a };
        if ((rc = s_list (c, s_get (item, "phases"), "phases", s_phase_item, &ph)))
            return rc;
        a->purposes |= 1u << pu;
        a->purpose_phases[pu] = ph.phases;
    }

    if ((list = s_get (root, "legal_bases"))) {
        if ((rc = s_seq (c, list, "legal_bases")))
            return rc;
        it = NULL;
        while ((item = fy_node_sequence_iterate (list, &it))) {
            char id[128];
            if ((rc = s_keys (c, item, "a legal basis", basis_keys,
                              (const char *const[]) { "party", NULL }))
                || (rc = s_scalar (c, s_get (item, "party"), "party", id, sizeof id)))
                return rc;
            int ag = macx_policy_find_agency (p, id);
            if (ag < 0)
                return s_fail (c, s_get (item, "party"), "unknown agency '%s'", id);
            if (!(a->parties & (1ull << ag)))
                return s_fail (c, s_get (item, "party"), "agency '%s' is not a party to agreement %s",
                               id, a->id);
            if ((a->disclose | a->receive) & (1ull << ag))
                return s_fail (c, s_get (item, "party"), "party '%s' has two legal_bases entries", id);
            if (!s_get (item, "disclose") && !s_get (item, "receive"))
                return s_fail (c, item, "legal basis of '%s' names neither disclose nor receive", id);
            if (s_get (item, "disclose")) {
                if ((rc = s_string (c, s_get (item, "disclose"), "disclose", &a->disclose_text[ag])))
                    return rc;
                a->disclose |= 1ull << ag;
            }
            if (s_get (item, "receive")) {
                if ((rc = s_string (c, s_get (item, "receive"), "receive", &a->receive_text[ag])))
                    return rc;
                a->receive |= 1ull << ag;
            }
        }
    }
    p->nagreements++;   /* flows refer to it by index */

    list = s_get (root, "flows");
    if ((rc = s_seq (c, list, "flows")))
        return rc;
    it = NULL;
    while ((item = fy_node_sequence_iterate (list, &it)))
        if ((rc = s_load_flow (c, ai, item)))
            return rc;
    return 0;
}

/* ---- compile ------------------------------------------------------------------------ */

static int
s_flow_fail (macx_policy_t *p, const macx_flow_t *f, macx_error_t *err, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static int
s_flow_fail (macx_policy_t *p, const macx_flow_t *f, macx_error_t *err, const char *fmt, ...)
{
    char msg[MACX_ERROR_MSG_MAX];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    (void) p;
    return macx_error_set (err, MACX_EPOLICY, "%s:%d:%d: %s", f->file, f->line, f->col, msg);
}

static int
s_compile (macx_policy_t *p, macx_error_t *err)
{
    /* onward agreements must exist */
    for (int i = 0; i < p->nflows; i++) {
        macx_flow_t *f = &p->flows[i];
        for (size_t k = 0; k < f->nonward; k++)
            if (macx_policy_find_agreement (p, f->onward_agreements[k]) < 0)
                return s_flow_fail (p, f, err, "flow %s allows onward sharing under unknown "
                                    "agreement '%s'", f->id, f->onward_agreements[k]);
    }
    size_t ncells = (size_t) p->nagencies * (size_t) p->nagencies * (size_t) p->ntypes;
    p->cell_start = s_calloc (p, ncells + 1, sizeof (int));
    p->cell_forbid = s_calloc (p, ncells, sizeof (uint64_t));
    if (!p->cell_start || !p->cell_forbid)
        return macx_error_set (err, MACX_ENOMEM, "out of memory compiling the policy");
    /* count, then fill: a flow sits in every (from, to) cell it expands to */
    size_t total = 0;
    for (int i = 0; i < p->nflows; i++) {
        macx_flow_t *f = &p->flows[i];
        for (int a = 0; a < p->nagencies; a++)
            for (int b = 0; b < p->nagencies; b++)
                if (a != b && (f->from >> a & 1) && (f->to >> b & 1)) {
                    p->cell_start[macx_policy_cell (p, a, b, f->type) + 1]++;
                    total++;
                }
    }
    for (size_t k = 0; k < ncells; k++)
        p->cell_start[k + 1] += p->cell_start[k];
    p->cell_flows = s_calloc (p, total, sizeof (int));
    int *fill = calloc (ncells ? ncells : 1, sizeof (int));
    if (!p->cell_flows || !fill) {
        free (fill);
        return macx_error_set (err, MACX_ENOMEM, "out of memory compiling the policy");
    }
    int rc = 0;
    for (int i = 0; i < p->nflows && !rc; i++) {
        macx_flow_t *f = &p->flows[i];
        for (int a = 0; a < p->nagencies && !rc; a++)
            for (int b = 0; b < p->nagencies && !rc; b++) {
                if (a == b || !(f->from >> a & 1) || !(f->to >> b & 1))
                    continue;
                size_t cell = macx_policy_cell (p, a, b, f->type);
                int *slot = p->cell_flows + p->cell_start[cell];
                /* two flows matching the same request make the policy ambiguous */
                for (int k = 0; k < fill[cell] && !rc; k++) {
                    macx_flow_t *g = &p->flows[slot[k]];
                    uint32_t pu = f->purposes & g->purposes;
                    uint8_t ph = f->phases & g->phases;
                    if (pu && ph) {
                        int u = __builtin_ctz (pu), h = __builtin_ctz (ph);
                        rc = s_flow_fail (p, f, err,
                                          "flow %s/%s and flow %s/%s (%s:%d) both match %s -> %s "
                                          "%s for purpose %s in phase %s",
                                          p->agreements[f->agreement].id, f->id,
                                          p->agreements[g->agreement].id, g->id, g->file, g->line,
                                          p->agencies[a].id, p->agencies[b].id,
                                          p->types[f->type].id, p->purposes[u],
                                          macx_phase_name (h));
                    }
                }
                slot[fill[cell]++] = i;
            }
    }
    free (fill);
    if (rc)
        return rc;
    /* forbid masks per cell; a required field that a forbid removes can never pass */
    for (int r = 0; r < p->nforbids; r++) {
        macx_forbid_t *x = &p->forbids[r];
        for (int a = 0; a < p->nagencies; a++)
            for (int b = 0; b < p->nagencies; b++)
                if ((x->from >> a & 1) && (x->to >> b & 1))
                    for (int t = 0; t < p->ntypes; t++)
                        p->cell_forbid[macx_policy_cell (p, a, b, t)] |= x->mask[t];
    }
    for (int i = 0; i < p->nflows; i++) {
        macx_flow_t *f = &p->flows[i];
        for (int a = 0; a < p->nagencies; a++)
            for (int b = 0; b < p->nagencies; b++) {
                if (a == b || !(f->from >> a & 1) || !(f->to >> b & 1))
                    continue;
                uint64_t bad = f->require & p->cell_forbid[macx_policy_cell (p, a, b, f->type)];
                if (bad)
                    return s_flow_fail (p, f, err,
                                        "flow %s requires field %s, which a forbid rule removes "
                                        "from %s -> %s", f->id,
                                        p->types[f->type].fields[__builtin_ctzll (bad)].name,
                                        p->agencies[a].id, p->agencies[b].id);
            }
    }
    return 0;
}

/* ---- entry points ------------------------------------------------------------------- */

static macx_policy_t *
s_new (void)
{
    macx_policy_t *p = calloc (1, sizeof *p);
    if (!p)
        return NULL;
    macx_policy_names_init (&p->agency_names);
    macx_policy_names_init (&p->type_names);
    macx_policy_names_init (&p->purpose_names);
    p->types = s_calloc (p, MACX_POLICY_MAX_TYPES, sizeof (macx_rtype_t));
    p->agreements = s_calloc (p, S_MAX_AGREEMENTS, sizeof (macx_agreement_t));
    p->flows = s_calloc (p, S_MAX_FLOWS, sizeof (macx_flow_t));
    p->forbids = s_calloc (p, S_MAX_FORBIDS, sizeof (macx_forbid_t));
    if (!p->types || !p->agreements || !p->flows || !p->forbids) {
        macx_policy_destroy (&p);
        return NULL;
    }
    return p;
}

typedef int (*s_doc_fn) (s_ctx_t *c, struct fy_node *root);

static int
s_load_text (s_ctx_t *c, const char *name, const char *rel, const char *text, size_t len,
             s_doc_fn fn)
{
    c->file = s_dup (c->p, name, strlen (name));
    if (!c->file)
        return s_oom (c);
    c->line = c->col = 1;
    struct fy_document *doc = s_parse (c, rel, text, len);
    if (!doc)
        return MACX_EPOLICY;
    int rc = fn (c, fy_document_root (doc));
    fy_document_destroy (doc);
    return rc;
}

static macx_policy_t *
s_finish (s_ctx_t *c, int rc)
{
    uint8_t h[32];
    if (!rc) {
        crypto_generichash_final (&c->hash, h, sizeof h);
        memcpy (c->p->hash, "blake2b:", 8);
        macx_hex_encode (h, sizeof h, c->p->hash + 8);
        rc = s_compile (c->p, c->err);
    }
    if (rc) {
        macx_policy_destroy (&c->p);
        return NULL;
    }
    return c->p;
}

macx_policy_t *
macx_policy_load_texts (const char *schema, const char *forbid, const char *const *agreements,
                        size_t n, macx_error_t *err)
{
    if (!schema || (n && !agreements)) {
        macx_error_set (err, MACX_EINVAL, "no schema text");
        return NULL;
    }
    if (sodium_init () < 0) {
        macx_error_set (err, MACX_ECRYPTO, "libsodium does not initialise");
        return NULL;
    }
    s_ctx_t c = { .p = s_new (), .err = err };
    if (!c.p) {
        macx_error_set (err, MACX_ENOMEM, "out of memory");
        return NULL;
    }
    crypto_generichash_init (&c.hash, NULL, 0, 32);
    int rc = s_load_text (&c, "schema.yaml", "schema.yaml", schema, strlen (schema), s_load_schema);
    if (!rc && forbid)
        rc = s_load_text (&c, "forbid.yaml", "forbid.yaml", forbid, strlen (forbid), s_load_forbid);
    for (size_t i = 0; i < n && !rc; i++) {
        char name[64];
        snprintf (name, sizeof name, "agreements/%zu.yaml", i);
        rc = s_load_text (&c, name, name, agreements[i], strlen (agreements[i]), s_load_agreement);
    }
    return s_finish (&c, rc);
}

static int
s_cmp_str (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

static int
s_load_file (s_ctx_t *c, const char *dir, const char *rel, s_doc_fn fn, int optional)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/%s", dir, rel);
    char *text = NULL;
    size_t len = 0;
    macx_error_t ferr = { 0 };
    int rc = macx_file_read (path, S_FILE_MAX, &text, &len, &ferr);
    if (rc == MACX_ENOTFOUND && optional)
        return 0;
    if (rc)
        return macx_error_set (c->err, rc, "%s", macx_error_text (&ferr));
    rc = s_load_text (c, path, rel, text, len, fn);
    free (text);
    return rc;
}

macx_policy_t *
macx_policy_load (const char *dir, macx_error_t *err)
{
    if (!dir) {
        macx_error_set (err, MACX_EINVAL, "no policy directory");
        return NULL;
    }
    if (sodium_init () < 0) {
        macx_error_set (err, MACX_ECRYPTO, "libsodium does not initialise");
        return NULL;
    }
    s_ctx_t c = { .p = s_new (), .err = err };
    if (!c.p) {
        macx_error_set (err, MACX_ENOMEM, "out of memory");
        return NULL;
    }
    crypto_generichash_init (&c.hash, NULL, 0, 32);
    int rc = s_load_file (&c, dir, "schema.yaml", s_load_schema, 0);
    if (!rc)
        rc = s_load_file (&c, dir, "forbid.yaml", s_load_forbid, 1);
    if (!rc) {
        char path[4096];
        snprintf (path, sizeof path, "%s/agreements", dir);
        DIR *d = opendir (path);
        if (!d)
            rc = macx_error_set (err, MACX_ENOTFOUND, "%s: no agreements directory", path);
        char *names[S_MAX_AGREEMENTS];
        size_t n = 0;
        struct dirent *e;
        while (d && (e = readdir (d))) {
            size_t len = strlen (e->d_name);
            if (e->d_name[0] == '.' || len < 6 || strcmp (e->d_name + len - 5, ".yaml") != 0)
                continue;
            if (n == S_MAX_AGREEMENTS) {
                rc = macx_error_set (err, MACX_EPOLICY, "%s: more than %d agreement files", path,
                                     S_MAX_AGREEMENTS);
                break;
            }
            names[n] = s_dup (c.p, e->d_name, len);
            if (!names[n]) {
                rc = s_oom (&c);
                break;
            }
            n++;
        }
        if (d)
            closedir (d);
        qsort (names, n, sizeof names[0], s_cmp_str);
        for (size_t i = 0; i < n && !rc; i++) {
            char rel[512];
            snprintf (rel, sizeof rel, "agreements/%s", names[i]);
            rc = s_load_file (&c, dir, rel, s_load_agreement, 0);
        }
    }
    return s_finish (&c, rc);
}

void
macx_policy_destroy (macx_policy_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    macx_policy_t *p = *self_p;
    for (size_t i = 0; i < p->nallocs; i++)
        free (p->allocs[i]);
    free (p->allocs);
    free (p);
    *self_p = NULL;
}
