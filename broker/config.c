/* config.c -- the broker's YAML configuration file (libfyaml), strict:
 * unknown keys and bad values are errors naming file:line:column. */
#include <libfyaml.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

#include "broker.h"
#include "clock.h"
#include "yamldoc.h"

static void
s_mark (struct fy_node *n, int *line, int *col)
{
    *line = *col = 0;
    macx_yaml_mark (n, line, col);
}

static int
s_size (const char *text, size_t *out)
{
    char *end;
    unsigned long long v = strtoull (text, &end, 10);
    if (end == text)
        return -1;
    switch (*end) {
    case 'K': case 'k': v <<= 10; end++; break;
    case 'M': case 'm': v <<= 20; end++; break;
    case 'G': case 'g': v <<= 30; end++; break;
    default: break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || v < (1u << 16))
        return -1;
    *out = (size_t) v;
    return 0;
}

static int
s_int (const char *text, int min, int max, int *out)
{
    char *end;
    long v = strtol (text, &end, 10);
    if (end == text || *end || v < min || v > max)
        return -1;
    *out = (int) v;
    return 0;
}

int
macx_broker_config_load (const char *path, macx_broker_config_t *cfg, macx_error_t *err)
{
    char *source = NULL;
    struct fy_document *doc = macx_yaml_load (path, &source, MACX_EFORMAT, err);
    if (!doc)
        return err && err->code ? err->code : MACX_EFORMAT;
    struct fy_node *root = fy_document_root (doc);
    int rc = MACX_OK;
    if (!root || !fy_node_is_mapping (root)) {
        rc = macx_error_set (err, MACX_EFORMAT, "%s: the configuration must be a mapping", path);
        goto done;
    }
    void *iter = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate (root, &iter))) {
        struct fy_node *kn = fy_node_pair_key (pair), *vn = fy_node_pair_value (pair);
        const char *key = fy_node_get_scalar0 (kn);
        int line, col;
        s_mark (kn, &line, &col);
        if (!key) {
            rc = macx_error_set (err, MACX_EFORMAT, "%s:%d:%d: keys must be plain words", path,
                                 line, col);
            goto done;
        }
        if (strcmp (key, "effective") == 0) {
            if (!vn || !fy_node_is_mapping (vn)) {
                rc = macx_error_set (err, MACX_EFORMAT, "%s:%d:%d: 'effective' must map agreement "
                                     "ids to dates", path, line, col);
                goto done;
            }
            void *it2 = NULL;
            struct fy_node_pair *p2;
            while ((p2 = fy_node_mapping_iterate (vn, &it2))) {
                const char *a = fy_node_get_scalar0 (fy_node_pair_key (p2));
                const char *d = fy_node_get_scalar0 (fy_node_pair_value (p2));
                char text[160];
                s_mark (fy_node_pair_value (p2), &line, &col);
                snprintf (text, sizeof text, "%s=%s", a ? a : "", d ? d : "");
                if (macx_broker_config_effective (cfg, text, err)) {
                    macx_error_prefix (err, "%s:%d:%d", path, line, col);
                    rc = MACX_EFORMAT;
                    if (err)
                        err->code = rc;
                    goto done;
                }
            }
            continue;
        }
        const char *val = vn && fy_node_is_scalar (vn) ? fy_node_get_scalar0 (vn) : NULL;
        s_mark (vn, &line, &col);
        if (!val) {
            rc = macx_error_set (err, MACX_EFORMAT, "%s:%d:%d: '%s' needs a plain value", path,
                                 line, col, key);
            goto done;
        }
        struct { const char *name; char *buf; size_t size; } strs[] = {
            { "bind", cfg->bind, sizeof cfg->bind },
            { "keys", cfg->keys_dir, sizeof cfg->keys_dir },
            { "policy", cfg->policy_dir, sizeof cfg->policy_dir },
            { "data", cfg->data_dir, sizeof cfg->data_dir },
            { "identity", cfg->identity, sizeof cfg->identity },
            { "log_level", cfg->log_level, sizeof cfg->log_level },
        };
        struct { const char *name; int *out; int min, max; } ints[] = {
            { "workers", &cfg->workers, 0, 16 },
            { "batch_max", &cfg->batch_max, 1, 65536 },
            { "checkpoint_every", &cfg->checkpoint_every, 1, 100000000 },
            { "heartbeat_ms", &cfg->heartbeat_ms, 100, 600000 },
            { "purge_interval_ms", &cfg->purge_interval_ms, 10, 86400000 },
        };
        bool known = false;
        for (size_t i = 0; i < sizeof strs / sizeof strs[0] && !known; i++)
            if (strcmp (key, strs[i].name) == 0) {
                known = true;
                if (strlen (val) >= strs[i].size) {
                    rc = macx_error_set (err, MACX_EFORMAT, "%s:%d:%d: '%s' is too long", path,
                                         line, col, key);
                    goto done;
                }
                snprintf (strs[i].buf, strs[i].size, "%s", val);
            }
        for (size_t i = 0; i < sizeof ints / sizeof ints[0] && !known; i++)
            if (strcmp (key, ints[i].name) == 0) {
                known = true;
                if (s_int (val, ints[i].min, ints[i].max, ints[i].out)) {
                    rc = macx_error_set (err, MACX_EFORMAT, "%s:%d:%d: '%s' must be a whole number "
                                         "from %d to %d", path, line, col, key, ints[i].min,
                                         ints[i].max);
                    goto done;
                }
            }
        if (!known && strcmp (key, "map_size") == 0) {
            known = true;
            if (s_size (val, &cfg->map_size)) {
                rc = macx_error_set (err, MACX_EFORMAT, "%s:%d:%d: 'map_size' must be bytes, or a "
                                     "number with K, M or G, at least 64K", path, line, col);
                goto done;
            }
        }
        if (!known) {
            s_mark (kn, &line, &col);   /* the key is at fault, not its value */
            rc = macx_error_set (err, MACX_EFORMAT, "%s:%d:%d: unknown key '%s' (bind, keys, "
                                 "policy, data, identity, map_size, workers, batch_max, "
                                 "checkpoint_every, heartbeat_ms, purge_interval_ms, log_level, "
                                 "effective)", path, line, col, key);
            goto done;
        }
    }
done:
    fy_document_destroy (doc);
    free (source);
    return rc;
}

int
macx_broker_config_map_size (const char *text, size_t *out)
{
    return s_size (text, out);
}
