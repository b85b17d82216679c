/* override.c -- a scenario with fields replaced by YAML path (`pilot run
 * --set`, `--policy`, and every variant of a sweep): the document is
 * edited with libfyaml, emitted to one file, and loaded by the scenario's
 * own strict reader, so an override is validated exactly as the file is. */
#include "override.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "file.h"
#include "json.h"
#include "yamldoc.h"

#define S_MAX_DEPTH 8

int
macx_override_check (const char *set, macx_error_t *err)
{
    const char *eq = strchr (set, '=');
    if (!eq || eq == set)
        return macx_error_set (err, MACX_EINVAL, "--set '%s' must be PATH=VALUE, e.g. "
                               "agencies.ogd-health.capacity.enrichment=20", set);
    int depth = 1;
    for (const char *p = set; p < eq; p++) {
        if (*p == '.' && (p == set || p[1] == '.' || p + 1 == eq))
            return macx_error_set (err, MACX_EINVAL, "--set '%s': the path has an empty part",
                                   set);
        if (*p == '.')
            depth++;
        else if (!isalnum ((unsigned char) *p) && *p != '-' && *p != '_')
            return macx_error_set (err, MACX_EINVAL, "--set '%s': a path is keys, ids or indexes "
                                   "(a-z, 0-9, '-', '_') joined by '.'", set);
    }
    if (depth > S_MAX_DEPTH)
        return macx_error_set (err, MACX_EINVAL, "--set '%s': the path has more than %d parts",
                               set, S_MAX_DEPTH);
    return MACX_OK;
}

/* The item of sequence seq named part: by its id, else its kind, else a
 * 0-based index. NULL if none. */
static struct fy_node *
s_item (struct fy_node *seq, const char *part)
{
    static const char *const names[] = { "id", "kind" };
    for (size_t k = 0; k < 2; k++) {
        void *it = NULL;
        struct fy_node *e;
        while ((e = fy_node_sequence_iterate (seq, &it))) {
            struct fy_node *v = fy_node_get_type (e) == FYNT_MAPPING
                                ? fy_node_mapping_lookup_by_string (e, names[k], FY_NT) : NULL;
            const char *s = v && fy_node_get_type (v) == FYNT_SCALAR ? fy_node_get_scalar0 (v) : NULL;
            if (s && strcmp (s, part) == 0)
                return e;
        }
    }
    char *end;
    long i = strtol (part, &end, 10);
    if (*end || end == part || i < 0 || i >= fy_node_sequence_item_count (seq))
        return NULL;
    return fy_node_sequence_get_by_index (seq, (int) i);
}

/* Walks path (PATH of a PATH=VALUE) from root. With value (YAML text), sets
 * the last part to it, adding missing mappings; without, only finds it.
 * Returns the node at path, or NULL with err naming the option. */
static struct fy_node *
s_walk (struct fy_document *doc, const char *set, const char *value, macx_error_t *err)
{
    char path[512];
    const char *eq = strchr (set, '=');
    snprintf (path, sizeof path, "%.*s", (int) (eq - set), set);
    struct fy_node *n = fy_document_root (doc);
    char sofar[512] = "";
    char *save = NULL;
    for (char *part = strtok_r (path, ".", &save); part; part = strtok_r (NULL, ".", &save)) {
        bool last = save == NULL || *save == '\0';
        int type = n ? (int) fy_node_get_type (n) : -1;
        if (type == FYNT_SEQUENCE) {
            struct fy_node *e = s_item (n, part);
            if (!e) {
                macx_error_set (err, MACX_EFORMAT, "--set %s: '%s' has no item '%s' (an id, a "
                                "kind, or an index from 0 to %d)", set, sofar[0] ? sofar : "the scenario",
                                part, fy_node_sequence_item_count (n) - 1);
                return NULL;
            }
            if (last && value) {
                struct fy_node *v = fy_node_build_from_string (doc, value, FY_NT);
                if (!v || fy_node_sequence_insert_after (n, e, v)
                    || !fy_node_sequence_remove (n, e)) {
                    macx_error_set (err, MACX_EFORMAT, "--set %s: the value is not YAML", set);
                    return NULL;
                }
                fy_node_free (e);
                return v;
            }
            n = e;
        } else if (type == FYNT_MAPPING) {
            struct fy_node_pair *p = fy_node_mapping_lookup_pair_by_string (n, part, FY_NT);
            if (last && value) {
                struct fy_node *v = fy_node_build_from_string (doc, value, FY_NT);
                if (!v) {
                    macx_error_set (err, MACX_EFORMAT, "--set %s: the value is not YAML", set);
                    return NULL;
                }
                if (p) {
                    if (fy_node_pair_set_value (p, v) == 0)
                        return v;
                } else if (fy_node_mapping_append (n, fy_node_create_scalar_copy (doc, part, FY_NT),
                                                   v) == 0)
                    return v;
                macx_error_set (err, MACX_ENOMEM, "--set %s: cannot edit the document", set);
                return NULL;
            }
            if (!p && value) {   /* a missing mapping on the way, e.g. agreements.X.missing */
                struct fy_node *m = fy_node_create_mapping (doc);
                if (!m || fy_node_mapping_append (n, fy_node_create_scalar_copy (doc, part, FY_NT), m)) {
                    macx_error_set (err, MACX_ENOMEM, "--set %s: cannot edit the document", set);
                    return NULL;
                }
                n = m;
            } else if (!p) {
                macx_error_set (err, MACX_EFORMAT, "--set %s: no '%s'", set, part);
                return NULL;
            } else
                n = fy_node_pair_value (p);
        } else {
            macx_error_set (err, MACX_EFORMAT, "--set %s: '%s' is a value, not a section with "
                            "'%s' in it", set, sofar[0] ? sofar : "the scenario", part);
            return NULL;
        }
        size_t len = strlen (sofar);
        snprintf (sofar + len, sizeof sofar - len, "%s%s", len ? "." : "", part);
    }
    return n;
}

void
macx_override_json (const macx_override_t *ov, FILE *f)
{
    fputc ('[', f);
    bool first = true;
    if (ov->policy) {
        char buf[1100];
        snprintf (buf, sizeof buf, "--policy %s", ov->policy);
        macx_json_str (f, buf);
        first = false;
    }
    for (int i = 0; i < ov->nsets; i++) {
        char buf[1100];
        snprintf (buf, sizeof buf, "--set %s", ov->sets[i]);
        if (!first)
            fputc (',', f);
        macx_json_str (f, buf);
        first = false;
    }
    fputc (']', f);
}

/* Names the options in force, for an error that is not at a value one set. */
static void
s_options (const macx_override_t *ov, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    if (ov->policy)
        len += (size_t) snprintf (buf, size, "--policy %s", ov->policy);
    for (int i = 0; i < ov->nsets && len < size; i++)
        len += (size_t) snprintf (buf + len, size - len, "%s--set %s", len ? ", " : "", ov->sets[i]);
}

/* After a failed load of out: the error at a line an option's value sits
 * on names that option; any other names every option in force. */
static void
s_blame (const macx_override_t *ov, const char *out, const char *text, macx_error_t *err)
{
    char prefix[1100];
    int plen = snprintf (prefix, sizeof prefix, "%s:", out);
    char what[1024];
    s_options (ov, what, sizeof what);
    if (strncmp (err->msg, prefix, (size_t) plen) != 0) {
        macx_error_prefix (err, "with %s", what);
        return;
    }
    int line = atoi (err->msg + plen);
    const char *rest = strchr (err->msg + plen, ' ');
    struct fy_document *doc = macx_yaml_parse (out, text, strlen (text), false, MACX_EFORMAT, NULL);
    for (int i = 0; doc && i < ov->nsets; i++) {
        struct fy_node *n = s_walk (doc, ov->sets[i], NULL, NULL);
        int l = 0, c = 0;
        if (n)
            macx_yaml_mark (n, &l, &c);
        if (n && l == line && rest) {
            char msg[MACX_ERROR_MSG_MAX];
            snprintf (msg, sizeof msg, "--set %s: %s", ov->sets[i], rest + 1);
            snprintf (err->msg, sizeof err->msg, "%s", msg);
            fy_document_destroy (doc);
            return;
        }
    }
    if (doc)
        fy_document_destroy (doc);
    /* out is a scratch file: its lines mean nothing to the reader */
    if (rest) {
        char msg[MACX_ERROR_MSG_MAX];
        snprintf (msg, sizeof msg, "%s", rest + 1);
        snprintf (err->msg, sizeof err->msg, "%s", msg);
    }
    macx_error_prefix (err, "with %s", what);
}

int
macx_override_write (const char *path, const macx_override_t *ov, const char *out,
                     macx_scenario_t *scn, char *source, macx_error_t *err)
{
    /* The file as it is first: its own errors name its own lines. */
    int rc = macx_scenario_load (path, scn, err);
    if (rc)
        return rc;
    char file[sizeof scn->path], policy[PATH_MAX], *text = NULL, *emitted = NULL;
    snprintf (file, sizeof file, "%s", scn->path);
    snprintf (source, sizeof scn->path, "%s", scn->path);
    if (ov->policy) {
        struct stat st;
        if (stat (ov->policy, &st) != 0 || !S_ISDIR (st.st_mode))
            return macx_error_set (err, MACX_ENOTFOUND, "--policy %s: not a directory", ov->policy);
    }
    if (!realpath (ov->policy ? ov->policy : scn->policy_dir, policy))
        return macx_error_set (err, MACX_ENOTFOUND, "%s: cannot resolve the policy directory",
                               ov->policy ? ov->policy : scn->policy_dir);
    struct fy_document *doc = macx_yaml_load (file, &text, MACX_EFORMAT, err);
    if (!doc)
        return err && err->code ? err->code : MACX_EFORMAT;
    rc = MACX_OK;
    for (int i = 0; i < ov->nsets && rc == MACX_OK; i++) {
        const char *eq = strchr (ov->sets[i], '=');
        if ((rc = macx_override_check (ov->sets[i], err)))
            rc = MACX_EFORMAT, err->code = rc;
        else if (!eq[1])
            rc = macx_error_set (err, MACX_EFORMAT, "--set %s: no value after '='", ov->sets[i]);
        else if (!s_walk (doc, ov->sets[i], eq + 1, err))
            rc = err && err->code ? err->code : MACX_EFORMAT;
    }
    if (rc == MACX_OK) {
        struct fy_node *root = fy_document_root (doc);
        struct fy_node_pair *p = fy_node_mapping_lookup_pair_by_string (root, "policy", FY_NT);
        struct fy_node *v = fy_node_create_scalar_copy (doc, policy, FY_NT);
        if (!p || !v || fy_node_pair_set_value (p, v))
            rc = macx_error_set (err, MACX_EFORMAT, "%s: no 'policy' to point at %s", file, policy);
    }
    if (rc == MACX_OK && !(emitted = fy_emit_document_to_string (doc, FYECF_MODE_BLOCK | FYECF_WIDTH_INF)))
        rc = macx_error_set (err, MACX_ENOMEM, "cannot write the scenario with its overrides");
    fy_document_destroy (doc);
    free (text);
    if (rc == MACX_OK)
        rc = macx_file_write (out, emitted, strlen (emitted), 0644, 0, err);
    if (rc == MACX_OK && (rc = macx_scenario_load (out, scn, err)))
        s_blame (ov, out, emitted, err);
    free (emitted);
    return rc;
}
