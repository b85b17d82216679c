/* config.c -- the broker's YAML configuration file (libfyaml), strict:
 * unknown keys and bad values are errors naming file:line:column. */
#include <errno.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

#include "broker.h"

#include <errno.h>
#include "clock.h"
#include "file.h"
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
    /* strtoull would take "-4G" (negated) and 99999999999999999999 (clamped) */
    if (!(*text >= '0' && *text <= '9'))
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull (text, &end, 10);
    if (errno == ERANGE)
        return -1;
    int shift = 0;
    switch (*end) {
    case 'K': case 'k': shift = 10; end++; break;
    case 'M': case 'm': shift = 20; end++; break;
    case 'G': case 'g': shift = 30; end++; break;
    case 'T': case 't': shift = 40; end++; break;
    default: break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || v > (MACX_BROKER_MAP_MAX >> shift))
        return -1;
    v <<= shift;
    if (v < MACX_BROKER_MAP_MIN)
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

/* ---- the clock section ------------------------------------------------------ */

#define s_at macx_yaml_fail

static const char *
s_scalar (struct fy_node *n)
{
    return n && fy_node_is_scalar (n) ? fy_node_get_scalar0 (n) : NULL;
}

static int
s_transit (const char *path, struct fy_node *n, const char *what, macx_dist_t *d, macx_error_t *err)
{
    struct fy_node *at = NULL;
    char why[200];
    if (macx_dist_read (n, what, "hours", 24 * 365, false, d, &at, why, sizeof why))
        return s_at (err, path, at ? at : n, "%s", why);
    return 0;
}

static int
s_clock (const char *path, struct fy_node *n, macx_broker_clock_t *c, macx_error_t *err)
{
    if (!n || !fy_node_is_mapping (n))
        return s_at (err, path, n, "'clock' must be a mapping (mode, start, end, max_skew_ms, "
                     "pace_ms, seed, verdict_hours, federates, transit)");
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate (n, &it))) {
        struct fy_node *kn = fy_node_pair_key (p), *vn = fy_node_pair_value (p);
        const char *key = s_scalar (kn), *val = s_scalar (vn);
        char *end = NULL;
        if (!key)
            return s_at (err, path, kn, "keys must be plain words");
        if (strcmp (key, "mode") == 0) {
            if (val && strcmp (val, "wall") == 0)
                c->simulated = false;
            else if (val && strcmp (val, "simulated") == 0)
                c->simulated = true;
            else
                return s_at (err, path, vn, "clock 'mode' must be wall or simulated");
        }
        else if (strcmp (key, "start") == 0 || strcmp (key, "end") == 0) {
            int32_t day;
            if (!val || macx_date_parse (val, &day))
                return s_at (err, path, vn, "clock '%s' must be a date YYYY-MM-DD", key);
            *(key[0] == 's' ? &c->start_ms : &c->end_ms) = (int64_t) day * 86400000;
        }
        else if (strcmp (key, "max_skew_ms") == 0) {
            long long v = val ? strtoll (val, &end, 10) : -1;
            if (!val || *end || end == val || v < 0)
                return s_at (err, path, vn, "'max_skew_ms' must be a whole number of ms, 0 or more");
            c->max_skew_ms = v;
        }
        else if (strcmp (key, "pace_ms") == 0 || strcmp (key, "verdict_hours") == 0) {
            double v = val ? strtod (val, &end) : -1;
            if (!val || *end || end == val || !(v >= 0) || v > 1e9)
                return s_at (err, path, vn, "'%s' must be a number, 0 or more", key);
            *(key[0] == 'p' ? &c->pace_ms : &c->verdict_hours) = v;
        }
        else if (strcmp (key, "seed") == 0) {
            unsigned long long v = val ? strtoull (val, &end, 10) : 0;
            if (!val || *end || end == val || val[0] == '-')
                return s_at (err, path, vn, "'seed' must be a whole number");
            c->seed = v;
        }
        else if (strcmp (key, "federates") == 0) {
            if (!vn || !fy_node_is_sequence (vn))
                return s_at (err, path, vn, "'federates' must be a list of agency ids");
            void *i2 = NULL;
            struct fy_node *e;
            c->nfederates = 0;
            while ((e = fy_node_sequence_iterate (vn, &i2))) {
                const char *id = s_scalar (e);
                if (!id || macx_keys_check_id (id, NULL))
                    return s_at (err, path, e, "'%s' is not an agency id", id ? id : "?");
                if (c->nfederates == MACX_BROKER_MAX_FEDERATES)
                    return s_at (err, path, e, "more than %d federates", MACX_BROKER_MAX_FEDERATES);
                for (int k = 0; k < c->nfederates; k++)
                    if (strcmp (c->federates[k], id) == 0)
                        return s_at (err, path, e, "federate '%s' is listed twice", id);
                snprintf (c->federates[c->nfederates++], sizeof c->federates[0], "%s", id);
            }
        }
        else if (strcmp (key, "transit") == 0) {
            if (!vn || !fy_node_is_mapping (vn))
                return s_at (err, path, vn, "'transit' must be a mapping (default, routes)");
            void *i2 = NULL;
            struct fy_node_pair *p2;
            while ((p2 = fy_node_mapping_iterate (vn, &i2))) {
                const char *k2 = s_scalar (fy_node_pair_key (p2));
                struct fy_node *v2 = fy_node_pair_value (p2);
                if (k2 && strcmp (k2, "default") == 0) {
                    if (s_transit (path, v2, "transit 'default'", &c->transit, err))
                        return MACX_EFORMAT;
                }
                else if (k2 && strcmp (k2, "routes") == 0) {
                    if (!v2 || !fy_node_is_sequence (v2))
                        return s_at (err, path, v2, "transit 'routes' must be a list of "
                                     "{from, to, transit}");
                    void *i3 = NULL;
                    struct fy_node *e;
                    c->nroutes = 0;
                    while ((e = fy_node_sequence_iterate (v2, &i3))) {
                        if (c->nroutes == MACX_BROKER_MAX_ROUTES)
                            return s_at (err, path, e, "more than %d routes", MACX_BROKER_MAX_ROUTES);
                        macx_broker_route_t *r = &c->routes[c->nroutes++];
                        const char *from = fy_node_is_mapping (e)
                                               ? s_scalar (fy_node_mapping_lookup_by_string (e, "from", FY_NT))
                                               : NULL;
                        const char *to = fy_node_is_mapping (e)
                                             ? s_scalar (fy_node_mapping_lookup_by_string (e, "to", FY_NT))
                                             : NULL;
                        if (!from || !to || strlen (from) >= sizeof r->from || strlen (to) >= sizeof r->to
                            || fy_node_mapping_item_count (e) != 3)
                            return s_at (err, path, e, "a route is {from: ID, to: ID, transit: {...}} "
                                         "('*' for any)");
                        snprintf (r->from, sizeof r->from, "%s", from);
                        snprintf (r->to, sizeof r->to, "%s", to);
                        if (s_transit (path, fy_node_mapping_lookup_by_string (e, "transit", FY_NT),
                                       "a route's 'transit'", &r->hours, err))
                            return MACX_EFORMAT;
                    }
                }
                else
                    return s_at (err, path, fy_node_pair_key (p2), "unknown key '%s' in transit "
                                 "(default, routes)", k2 ? k2 : "?");
            }
        }
        else
            return s_at (err, path, kn, "unknown key '%s' in clock (mode, start, end, max_skew_ms, "
                         "pace_ms, seed, verdict_hours, federates, transit)", key);
    }
    macx_error_t e2 = { 0 };
    if (macx_broker_config_check_clock (c, &e2))
        return s_at (err, path, n, "%s", macx_error_text (&e2));
    return MACX_OK;
}

int
macx_broker_config_check_clock (const macx_broker_clock_t *c, macx_error_t *err)
{
    if (!c->simulated)
        return MACX_OK;
    if (!c->start_ms)
        return macx_error_set (err, MACX_EINVAL, "a simulated clock needs a 'start' date");
    if (c->nfederates == 0)
        return macx_error_set (err, MACX_EINVAL, "a simulated clock needs its 'federates' (the "
                               "agencies whose time it coordinates)");
    if (c->end_ms && c->end_ms <= c->start_ms)
        return macx_error_set (err, MACX_EINVAL, "the clock's 'end' is not after its 'start'");
    if (!(c->verdict_hours * 3600000.0 >= 1))
        return macx_error_set (err, MACX_EINVAL, "'verdict_hours' must be above 0 (a sender "
                               "cannot learn the broker's verdict in no time)");
    if (!(macx_dist_min (&c->transit) * 3600000.0 >= 1))
        return macx_error_set (err, MACX_EINVAL, "the default transit must take some time: its "
                               "minimum is the simulated clock's lookahead");
    for (int i = 0; i < c->nroutes; i++) {
        const macx_broker_route_t *r = &c->routes[i];
        if (!(macx_dist_min (&r->hours) * 3600000.0 >= 1))
            return macx_error_set (err, MACX_EINVAL, "the transit of route %s -> %s must take some "
                                   "time: its minimum is the simulated clock's lookahead", r->from,
                                   r->to);
        const char *ends[2] = { r->from, r->to };
        for (int k = 0; k < 2; k++) {
            bool known = strcmp (ends[k], "*") == 0;
            for (int f = 0; f < c->nfederates && !known; f++)
                known = strcmp (c->federates[f], ends[k]) == 0;
            if (!known)
                return macx_error_set (err, MACX_EINVAL, "route %s -> %s: '%s' is not a federate",
                                       r->from, r->to, ends[k]);
        }
    }
    return MACX_OK;
}

const macx_dist_t *
macx_broker_clock_transit (const macx_broker_clock_t *c, const char *from, const char *to)
{
    const macx_dist_t *best = &c->transit;
    int score = -1;
    for (int i = 0; i < c->nroutes; i++) {
        const macx_broker_route_t *r = &c->routes[i];
        bool f = strcmp (r->from, from) == 0, t = strcmp (r->to, to) == 0;
        if ((!f && strcmp (r->from, "*") != 0) || (!t && strcmp (r->to, "*") != 0))
            continue;
        if (2 * f + t > score) {
            score = 2 * f + t;
            best = &r->hours;
        }
    }
    return best;
}

int
macx_broker_config_load (const char *path, macx_broker_config_t *cfg, macx_error_t *err)
{
    char *source = NULL;
    size_t len;
    int rc = macx_file_read (path, 4u << 20, &source, &len, err);
    if (rc == MACX_OK)
        rc = macx_broker_config_parse (path, source, len, cfg, err);
    free (source);
    return rc;
}

int
macx_broker_config_parse (const char *path, const char *source, size_t len,
                          macx_broker_config_t *cfg, macx_error_t *err)
{
    struct fy_document *doc = macx_yaml_parse (path, source, len, false, MACX_EFORMAT, err);
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
        if (strcmp (key, "clock") == 0) {
            if ((rc = s_clock (path, vn, &cfg->clock, err)))
                goto done;
            continue;
        }
        const char *val = s_scalar (vn);
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
        if (!known && strcmp (key, "sync") == 0) {
            known = true;
            if (strcmp (val, "true") && strcmp (val, "false")) {
                rc = macx_error_set (err, MACX_EFORMAT, "%s:%d:%d: 'sync' must be true or false",
                                     path, line, col);
                goto done;
            }
            cfg->sync = strcmp (val, "true") == 0;
        }
        if (!known && strcmp (key, "map_size") == 0) {
            known = true;
            if (s_size (val, &cfg->map_size)) {
                rc = macx_error_set (err, MACX_EFORMAT, "%s:%d:%d: 'map_size' '%s' must be bytes, or "
                                     "a number with K, M, G or T, from 64K to 16T", path, line,
                                     col, val);
                goto done;
            }
        }
        if (!known) {
            s_mark (kn, &line, &col);   /* the key is at fault, not its value */
            rc = macx_error_set (err, MACX_EFORMAT, "%s:%d:%d: unknown key '%s' (bind, keys, "
                                 "policy, data, identity, map_size, workers, batch_max, "
                                 "checkpoint_every, heartbeat_ms, purge_interval_ms, log_level, "
                                 "sync, effective, clock)", path, line, col, key);
            goto done;
        }
    }
done:
    fy_document_destroy (doc);
    return rc;
}

int
macx_broker_config_duration (const char *text, int64_t *out)
{
    char *end;
    double v = strtod (text, &end);
    if (end == text || !(v >= 0))
        return -1;
    static const struct { const char *unit; double ms; } units[] = {
        { "", 1 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp (end, units[i].unit) == 0 && v * units[i].ms < 9e15) {
            *out = (int64_t) (v * units[i].ms + 0.5);
            return 0;
        }
    return -1;
}

int
macx_broker_config_map_size (const char *text, size_t *out)
{
    return s_size (text, out);
}
