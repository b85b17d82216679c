/* config.c -- the broker's option table (each option declared once, for
 * the command line, the YAML config file and --help) and the config file's
 * reader: strict (common/yamldoc.h), unknown keys and bad values are errors
 * naming file:line:column. */
#include <assert.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

#include "clock.h"
#include "file.h"
#include "yamldoc.h"

/* ---- readers of the values that are not one scalar ----------------------------- */

static const char *
s_scalar (struct fy_node *n)
{
    return n && fy_node_is_scalar (n) ? fy_node_get_scalar0 (n) : NULL;
}

static int
s_read_effective (macx_yaml_reader_t *r, struct fy_node *n, void *dst)
{
    macx_broker_config_t *cfg = dst;
    if (!n || !fy_node_is_mapping (n))
        return macx_yaml_error (r, n, "'effective' must map agreement ids to dates");
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate (n, &it))) {
        const char *a = s_scalar (fy_node_pair_key (p)), *d = s_scalar (fy_node_pair_value (p));
        char text[160];
        macx_error_t e = { 0 };
        snprintf (text, sizeof text, "%s=%s", a ? a : "", d ? d : "");
        if (macx_broker_config_effective (cfg, text, &e))
            return macx_yaml_error (r, fy_node_pair_value (p), "%s", macx_error_text (&e));
    }
    return MACX_OK;
}

static int
s_read_mode (macx_yaml_reader_t *r, struct fy_node *n, void *dst)
{
    macx_broker_config_t *cfg = dst;
    const char *val = s_scalar (n);
    if (val && strcmp (val, "wall") == 0)
        cfg->clock.simulated = false;
    else if (val && strcmp (val, "simulated") == 0)
        cfg->clock.simulated = true;
    else
        return macx_yaml_error (r, n, "clock 'mode' must be wall or simulated");
    return MACX_OK;
}

static int
s_read_seed (macx_yaml_reader_t *r, struct fy_node *n, void *dst)
{
    macx_broker_config_t *cfg = dst;
    const char *val = s_scalar (n);
    char *end = NULL;
    unsigned long long v = val ? strtoull (val, &end, 10) : 0;
    if (!val || *end || end == val || !(val[0] >= '0' && val[0] <= '9'))
        return macx_yaml_error (r, n, "'seed' must be a whole number");
    cfg->clock.seed = v;
    return MACX_OK;
}

static int
s_read_federates (macx_yaml_reader_t *r, struct fy_node *n, void *dst)
{
    macx_broker_clock_t *c = &((macx_broker_config_t *) dst)->clock;
    if (!n || !fy_node_is_sequence (n))
        return macx_yaml_error (r, n, "'federates' must be a list of agency ids");
    void *it = NULL;
    struct fy_node *e;
    c->nfederates = 0;
    while ((e = fy_node_sequence_iterate (n, &it))) {
        const char *id = s_scalar (e);
        if (!id || macx_keys_check_id (id, NULL))
            return macx_yaml_error (r, e, "'%s' is not an agency id", id ? id : "?");
        if (c->nfederates == MACX_BROKER_MAX_FEDERATES)
            return macx_yaml_error (r, e, "more than %d federates", MACX_BROKER_MAX_FEDERATES);
        for (int k = 0; k < c->nfederates; k++)
            if (strcmp (c->federates[k], id) == 0)
                return macx_yaml_error (r, e, "federate '%s' is listed twice", id);
        snprintf (c->federates[c->nfederates++], sizeof c->federates[0], "%s", id);
    }
    return MACX_OK;
}

static int
s_dist (macx_yaml_reader_t *r, struct fy_node *n, const char *what, macx_dist_t *d)
{
    struct fy_node *at = NULL;
    char why[200];
    if (macx_dist_read (n, what, "hours", 24 * 365, false, d, &at, why, sizeof why))
        return macx_yaml_error (r, at ? at : n, "%s", why);
    return MACX_OK;
}

static int
s_read_transit (macx_yaml_reader_t *r, struct fy_node *n, void *dst)
{
    macx_broker_clock_t *c = &((macx_broker_config_t *) dst)->clock;
    static const char *const keys[] = { "default", "routes", NULL };
    int rc = macx_yaml_keys (r, n, "transit", keys, NULL);
    if (rc)
        return rc;
    struct fy_node *def = fy_node_mapping_lookup_by_string (n, "default", FY_NT);
    struct fy_node *routes = fy_node_mapping_lookup_by_string (n, "routes", FY_NT);
    if (def && (rc = s_dist (r, def, "transit 'default'", &c->transit)))
        return rc;
    if (!routes)
        return MACX_OK;
    if (!fy_node_is_sequence (routes))
        return macx_yaml_error (r, routes, "transit 'routes' must be a list of {from, to, transit}");
    void *it = NULL;
    struct fy_node *e;
    c->nroutes = 0;
    while ((e = fy_node_sequence_iterate (routes, &it))) {
        if (c->nroutes == MACX_BROKER_MAX_ROUTES)
            return macx_yaml_error (r, e, "more than %d routes", MACX_BROKER_MAX_ROUTES);
        macx_broker_route_t *rt = &c->routes[c->nroutes++];
        bool map = fy_node_is_mapping (e);
        const char *from = map ? s_scalar (fy_node_mapping_lookup_by_string (e, "from", FY_NT)) : NULL;
        const char *to = map ? s_scalar (fy_node_mapping_lookup_by_string (e, "to", FY_NT)) : NULL;
        if (!from || !to || strlen (from) >= sizeof rt->from || strlen (to) >= sizeof rt->to
            || fy_node_mapping_item_count (e) != 3)
            return macx_yaml_error (r, e, "a route is {from: ID, to: ID, transit: {...}} ('*' for any)");
        snprintf (rt->from, sizeof rt->from, "%s", from);
        snprintf (rt->to, sizeof rt->to, "%s", to);
        if ((rc = s_dist (r, fy_node_mapping_lookup_by_string (e, "transit", FY_NT),
                          "a route's 'transit'", &rt->hours)))
            return rc;
    }
    return MACX_OK;
}

static int s_read_section (macx_yaml_reader_t *r, struct fy_node *n, const char *section,
                           void *dst);

static int
s_read_clock (macx_yaml_reader_t *r, struct fy_node *n, void *dst)
{
    macx_broker_config_t *cfg = dst;
    int rc = s_read_section (r, n, "clock", cfg);
    if (rc)
        return rc;
    macx_error_t e = { 0 };
    if (macx_broker_config_check_clock (&cfg->clock, &e))
        return macx_yaml_error (r, n, "%s", macx_error_text (&e));
    return MACX_OK;
}

static int
s_read_limits (macx_yaml_reader_t *r, struct fy_node *n, void *dst)
{
    return s_read_section (r, n, "limits", dst);
}

static int
s_set_effective (macx_broker_config_t *cfg, const char *text, macx_error_t *err)
{
    return macx_broker_config_effective (cfg, text, err);
}

/* ---- the table ----------------------------------------------------------------- */

#define S_AT(m) offsetof (macx_broker_config_t, m), sizeof ((macx_broker_config_t *) 0)->m
#define S_STR(key, flag, arg, m, help) \
    { key, NULL, flag, arg, MACX_YAML_STRING, S_AT (m), 0, 0, NULL, NULL, help, NULL }
#define S_NUM(sec, key, flag, arg, type, m, min, max, help, shown) \
    { key, sec, flag, arg, type, S_AT (m), min, max, NULL, NULL, help, shown }
#define S_NODE(sec, key, flag, arg, read, set, help) \
    { key, sec, flag, arg, MACX_YAML_NODE, 0, 0, 0, 0, read, set, help, NULL }
#define S_LIMIT(key, type, min, max, help) \
    S_NUM ("limits", #key, NULL, "N", type, limits.key, min, max, help, NULL)

const macx_broker_option_t macx_broker_options[] = {
    S_STR ("bind", "bind", "ENDPOINT", bind, "where the CURVE ROUTER socket listens"),
    S_STR ("keys", "keys", "DIR", keys_dir, "the key registry: agencies' public keys, the broker's own (required)"),
    S_STR ("policy", "policy", "DIR", policy_dir, "the agreements (required)"),
    S_STR ("data", "data", "DIR", data_dir, "the LMDB store: mailboxes and the audit log (required)"),
    S_STR ("identity", "identity", "ID", identity, "the broker's own agency id in --keys"),
    S_NUM (NULL, "map_size", "map-size", "SIZE", MACX_YAML_SIZE, map_size, MACX_BROKER_MAP_MIN,
           MACX_BROKER_MAP_MAX, "the LMDB map, a sparse file: the most the store may hold", NULL),
    S_NUM (NULL, "workers", "workers", "N", MACX_YAML_INT, workers, 0, 16,
           "signature-check threads; 0: one per core", NULL),
    S_NUM (NULL, "batch_max", "batch-max", "N", MACX_YAML_INT, batch_max, 1, 65536,
           "frames per LMDB transaction: the group commit", NULL),
    S_NUM (NULL, "checkpoint_every", "checkpoint-every", "N", MACX_YAML_INT, checkpoint_every, 1,
           100000000, "audit entries between signed checkpoints", NULL),
    S_NUM (NULL, "heartbeat_ms", "heartbeat-ms", "MS", MACX_YAML_INT, heartbeat_ms, 100, 600000,
           "ZMTP heartbeat interval in ms; a peer silent 3 times as long is dropped", NULL),
    S_NUM (NULL, "purge_interval_ms", "purge-interval-ms", "MS", MACX_YAML_INT, purge_interval_ms,
           10, 86400000, "retention sweep period in ms", NULL),
    S_STR ("log_level", "log-level", "LEVEL", log_level, "debug, info, warn or error"),
    S_NUM (NULL, "sync", "no-sync", NULL, MACX_YAML_BOOL, sync, 0, 0,
           "no fsync per commit (sync: false): a crash of the machine may lose the last commits", NULL),
    S_NODE (NULL, "effective", "effective", "AGREEMENT=YYYY-MM-DD", s_read_effective, s_set_effective,
            "an agreement's effective-from date, overridden (repeatable; in the config a mapping)"),
    S_NODE (NULL, "clock", NULL, NULL, s_read_clock, NULL, "the broker's clock (the keys below)"),
    S_NODE (NULL, "limits", NULL, NULL, s_read_limits, NULL, "per-peer and total limits (--limit)"),
    S_NODE ("clock", "mode", NULL, NULL, s_read_mode, NULL, "wall or simulated"),
    S_NUM ("clock", "start", "clock-start", "YYYY-MM-DD", MACX_YAML_DATE, clock.start_ms, 0, 0,
           "run as of a date: the clock reads it (UTC midnight) at start; simulated: time 0", NULL),
    S_NUM ("clock", "end", NULL, NULL, MACX_YAML_DATE, clock.end_ms, 0, 0,
           "simulated: time stops there", NULL),
    S_NUM ("clock", "max_skew_ms", "max-skew", "DURATION", MACX_YAML_DURATION, clock.max_skew_ms, 0,
           LLONG_MAX, "a record claiming a time further from the clock is refused CLOCK_SKEW",
           "5m, 0 simulated"),
    S_NUM ("clock", "pace_ms", "pace", "MS", MACX_YAML_NUMBER, clock.pace_ms, 0, 1000000000,
           "simulated: at most one simulated day per MS ms of wall time; 0: no pacing", NULL),
    S_NODE ("clock", "seed", NULL, NULL, s_read_seed, NULL, "simulated: the transit draws' seed"),
    S_NUM ("clock", "verdict_hours", NULL, NULL, MACX_YAML_NUMBER, clock.verdict_hours, 0, 8760,
           "simulated: from a record's stamp to its sender learning the verdict (above 0)", NULL),
    S_NODE ("clock", "federates", NULL, NULL, s_read_federates, NULL,
            "simulated: the agencies whose time it coordinates"),
    S_NODE ("clock", "transit", NULL, NULL, s_read_transit, NULL,
            "simulated: hours from acceptance to the recipient (default, routes)"),
    S_LIMIT (max_peers, MACX_YAML_INT, 1, 65536, "sessions at once, all agencies"),
    S_LIMIT (max_credit, MACX_YAML_UINT32, 1, 1048576,
             "deliveries outstanding to one recipient: a grant is capped there"),
    S_LIMIT (max_inflight_bytes, MACX_YAML_SIZE, 64LL << 10, 1LL << 30,
             "bytes of deliveries outstanding to one recipient"),
    S_LIMIT (peer_queue_frames, MACX_YAML_INT, 1, 65536, "frames read from one peer, not yet verified"),
    S_LIMIT (peer_queue_bytes, MACX_YAML_SIZE, 64LL << 10, 1LL << 30, "their bytes"),
    S_LIMIT (peer_out_frames, MACX_YAML_INT, 16, 1048576,
             "frames waiting to be sent to one peer: past it, it is not reading"),
    S_LIMIT (verify_inflight, MACX_YAML_INT, 0, 65536,
             "frames at the verifiers at once, all peers; 0: 4 per verify thread"),
};
const size_t macx_broker_noptions = sizeof macx_broker_options / sizeof macx_broker_options[0];

static bool
s_same (const char *a, const char *b)
{
    return a == b || (a && b && strcmp (a, b) == 0);
}

const macx_broker_option_t *
macx_broker_option_find (const char *section, const char *key)
{
    for (size_t i = 0; i < macx_broker_noptions; i++)
        if (s_same (macx_broker_options[i].section, section)
            && strcmp (macx_broker_options[i].key, key) == 0)
            return &macx_broker_options[i];
    return NULL;
}

int
macx_broker_option_set (macx_broker_config_t *cfg, const macx_broker_option_t *o,
                        const char *name, const char *text, macx_error_t *err)
{
    if (o->type == MACX_YAML_NODE) {
        if (!o->set)
            return macx_error_set (err, MACX_EINVAL, "%s is set in the config file only", name);
        return o->set (cfg, text, err);
    }
    char why[200];
    if (macx_yaml_value (o->type, o->min, o->max, o->size, text, (char *) cfg + o->offset, why,
                         sizeof why))
        return macx_error_set (err, MACX_EINVAL, "%s must be %s, not '%.80s'", name, why, text);
    return MACX_OK;
}

void
macx_broker_option_format (const macx_broker_config_t *cfg, const macx_broker_option_t *o,
                           char *buf, size_t size)
{
    const char *at = (const char *) cfg + o->offset;
    char date[16];
    int64_t ms;
    if (o->shown) {
        snprintf (buf, size, "%s", o->shown);
        return;
    }
    switch (o->type) {
    case MACX_YAML_STRING: snprintf (buf, size, "%s", *at ? at : "-"); break;
    case MACX_YAML_INT: snprintf (buf, size, "%d", *(const int *) at); break;
    case MACX_YAML_UINT32: snprintf (buf, size, "%u", (unsigned) *(const uint32_t *) at); break;
    case MACX_YAML_SIZE: macx_yaml_size_text (*(const size_t *) at, buf, size); break;
    case MACX_YAML_NUMBER: snprintf (buf, size, "%g", *(const double *) at); break;
    case MACX_YAML_BOOL: snprintf (buf, size, "%s", *(const bool *) at ? "true" : "false"); break;
    case MACX_YAML_DURATION:
        ms = *(const int64_t *) at;
        if (ms > 0 && ms % 86400000 == 0) snprintf (buf, size, "%" PRId64 "d", ms / 86400000);
        else if (ms > 0 && ms % 3600000 == 0) snprintf (buf, size, "%" PRId64 "h", ms / 3600000);
        else if (ms > 0 && ms % 60000 == 0) snprintf (buf, size, "%" PRId64 "m", ms / 60000);
        else if (ms > 0 && ms % 1000 == 0) snprintf (buf, size, "%" PRId64 "s", ms / 1000);
        else snprintf (buf, size, "%" PRId64 "ms", ms);
        break;
    case MACX_YAML_DATE:
        ms = *(const int64_t *) at;
        snprintf (buf, size, "%s", ms ? macx_date_format ((int32_t) (ms / 86400000), date) : "-");
        break;
    case MACX_YAML_NODE: snprintf (buf, size, "-"); break;
    }
}

void
macx_broker_option_bounds (const macx_broker_option_t *o, char *buf, size_t size)
{
    char lo[24], hi[24];
    *buf = 0;
    switch (o->type) {
    case MACX_YAML_INT: case MACX_YAML_UINT32: case MACX_YAML_NUMBER:
        snprintf (buf, size, "%lld to %lld", o->min, o->max);
        break;
    case MACX_YAML_SIZE:
        macx_yaml_size_text ((unsigned long long) o->min, lo, sizeof lo);
        macx_yaml_size_text ((unsigned long long) o->max, hi, sizeof hi);
        snprintf (buf, size, "%s to %s", lo, hi);
        break;
    default: break;
    }
}

/* ---- the config file ------------------------------------------------------------- */

/* Reads mapping n by the table's keys of section (NULL: the top level). */
static int
s_read_section (macx_yaml_reader_t *r, struct fy_node *n, const char *section, void *dst)
{
    macx_yaml_key_t keys[64];
    size_t nkeys = 0;
    for (size_t i = 0; i < macx_broker_noptions; i++) {
        const macx_broker_option_t *o = &macx_broker_options[i];
        if (!s_same (o->section, section))
            continue;
        assert (nkeys < sizeof keys / sizeof keys[0]);
        keys[nkeys++] = (macx_yaml_key_t) { .name = o->key, .type = o->type, .offset = o->offset,
                                            .size = o->size, .min = o->min, .max = o->max,
                                            .read = o->read };
    }
    return macx_yaml_read (r, n, section ? section : "the configuration", keys, nkeys, dst);
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
    macx_yaml_reader_t r = { .file = path, .err = err, .code = MACX_EFORMAT, .line = 1, .col = 1 };
    int rc = s_read_section (&r, fy_document_root (doc), NULL, cfg);
    fy_document_destroy (doc);
    return rc;
}

int
macx_broker_config_duration (const char *text, int64_t *out)
{
    char why[120];
    return macx_yaml_value (MACX_YAML_DURATION, 0, LLONG_MAX, 0, text, out, why, sizeof why);
}
