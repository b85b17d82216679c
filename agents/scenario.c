/* scenario.c -- the pilot scenario loader (libfyaml, strict: unknown keys,
 * bad values and missing sections are errors naming file:line:column), the
 * service-time distributions (common/dist.h) and the transit model. */
#include "scenario.h"

#include <errno.h>
#include <libfyaml.h>
#include <libgen.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "names.h"
#include "policy.h"
#include "synth.h"
#include "yamldoc.h"

/* ---- strict YAML walking ----------------------------------------------------- */

typedef struct {
    const char *file;
    macx_error_t *err;
} s_ctx_t;

#define s_fail(c, n, ...) macx_yaml_fail ((c)->err, (c)->file, (n), __VA_ARGS__)

static const char *
s_str (struct fy_node *n)
{
    return n && fy_node_get_type (n) == FYNT_SCALAR ? fy_node_get_scalar0 (n) : NULL;
}

static int
s_copy (s_ctx_t *c, struct fy_node *n, const char *what, char *buf, size_t size)
{
    const char *v = s_str (n);
    if (!v || !*v)
        return s_fail (c, n, "%s must be a text value", what);
    if (strlen (v) >= size)
        return s_fail (c, n, "%s is longer than %zu characters", what, size - 1);
    snprintf (buf, size, "%s", v);
    return 0;
}

static int
s_number (s_ctx_t *c, struct fy_node *n, const char *what, double min, double max, double *out)
{
    const char *v = s_str (n);
    char *end;
    double d = v ? strtod (v, &end) : 0;
    if (!v || end == v || *end || d < min || d > max)
        return s_fail (c, n, "%s must be a number from %g to %g", what, min, max);
    *out = d;
    return 0;
}

static int
s_int (s_ctx_t *c, struct fy_node *n, const char *what, int min, int max, int *out)
{
    double d;
    if (s_number (c, n, what, min, max, &d))
        return -1;
    if (d != (int) d)
        return s_fail (c, n, "%s must be a whole number", what);
    *out = (int) d;
    return 0;
}

static int
s_bool (s_ctx_t *c, struct fy_node *n, const char *what, bool *out)
{
    const char *v = s_str (n);
    if (v && strcmp (v, "true") == 0)
        *out = true;
    else if (v && strcmp (v, "false") == 0)
        *out = false;
    else
        return s_fail (c, n, "%s must be true or false", what);
    return 0;
}

/* Checks that n is a mapping whose every key is in allowed (NULL-terminated),
 * none twice: the shared strict reader's check and words. */
static int
s_keys (s_ctx_t *c, struct fy_node *n, const char *what, const char *const *allowed)
{
    macx_yaml_reader_t r = { .file = c->file, .err = c->err, .code = MACX_EFORMAT };
    return macx_yaml_keys (&r, n, what, allowed, NULL);
}

static struct fy_node *
s_get (struct fy_node *map, const char *key)
{
    return fy_node_mapping_lookup_by_string (map, key, FY_NT);
}

static int
s_string_list (s_ctx_t *c, struct fy_node *n, const char *what, char (*out)[MACX_SCN_NAME],
               int max, int *count)
{
    if (!n || fy_node_get_type (n) != FYNT_SEQUENCE)
        return s_fail (c, n, "%s must be a list", what);
    *count = 0;
    void *it = NULL;
    struct fy_node *e;
    while ((e = fy_node_sequence_iterate (n, &it))) {
        if (*count == max)
            return s_fail (c, e, "%s has more than %d entries", what, max);
        if (s_copy (c, e, what, out[*count], MACX_SCN_NAME))
            return -1;
        (*count)++;
    }
    return 0;
}

/* ---- sections ------------------------------------------------------------------ */

static int
s_dist (s_ctx_t *c, struct fy_node *n, macx_dist_t *d)
{
    struct fy_node *at = NULL;
    char why[200];
    if (macx_dist_read (n, "a service time", "days", 3650, true, d, &at, why, sizeof why))
        return s_fail (c, at ? at : n, "%s", why);
    return 0;
}

/* A transit time, in hours: never zero (its minimum is the lookahead of the
 * simulated clock), and not a lognormal (which has no minimum). */
static int
s_transit_dist (s_ctx_t *c, struct fy_node *n, const char *what, macx_dist_t *d)
{
    struct fy_node *at = NULL;
    char why[200];
    if (macx_dist_read (n, what, "hours", 24 * 365, false, d, &at, why, sizeof why))
        return s_fail (c, at ? at : n, "%s", why);
    if (!(macx_dist_min (d) * 3600000.0 >= 1))
        return s_fail (c, n, "%s must take some time: its minimum is the lookahead of the "
                       "simulated clock (at least 1 ms, e.g. {dist: uniform, min: 1, max: 6})", what);
    return 0;
}

static int
s_transit (s_ctx_t *c, struct fy_node *n, macx_scenario_t *s)
{
    static const char *const keys[] = { "default", "verdict_hours", "routes", NULL };
    if (s_keys (c, n, "'transit'", keys))
        return -1;
    if (s_get (n, "default")
        && s_transit_dist (c, s_get (n, "default"), "transit 'default'", &s->transit.fallback))
        return -1;
    if (s_get (n, "verdict_hours")) {
        if (s_number (c, s_get (n, "verdict_hours"), "'verdict_hours'", 0, 24 * 365,
                      &s->transit.verdict_hours))
            return -1;
        if (!(s->transit.verdict_hours * 3600000.0 >= 1))
            return s_fail (c, s_get (n, "verdict_hours"), "'verdict_hours' must be above 0: a "
                           "sender cannot learn the broker's verdict in no time");
    }
    struct fy_node *routes = s_get (n, "routes");
    if (!routes)
        return 0;
    if (fy_node_get_type (routes) != FYNT_SEQUENCE)
        return s_fail (c, routes, "transit 'routes' must be a list of {from, to, transit}");
    void *it = NULL;
    struct fy_node *e;
    static const char *const rkeys[] = { "from", "to", "transit", NULL };
    while ((e = fy_node_sequence_iterate (routes, &it))) {
        if (s->transit.nroutes == MACX_SCN_MAX_ROUTES)
            return s_fail (c, e, "more than %d transit routes", MACX_SCN_MAX_ROUTES);
        macx_scn_route_t *r = &s->transit.routes[s->transit.nroutes++];
        if (s_keys (c, e, "a transit route", rkeys)
            || s_copy (c, s_get (e, "from"), "route 'from'", r->from, sizeof r->from)
            || s_copy (c, s_get (e, "to"), "route 'to'", r->to, sizeof r->to)
            || s_transit_dist (c, s_get (e, "transit"), "a route's 'transit'", &r->hours))
            return -1;
        r->line = 0;
        macx_yaml_mark (e, &r->line, &(int) { 0 });
    }
    return 0;
}

static const char *const s_phase_keys[] = { "identification", "sharing", "enrichment",
                                            "profiling", "panel", NULL };

static int
s_agency (s_ctx_t *c, struct fy_node *n, macx_scn_agency_t *a)
{
    static const char *const keys[] = { "id", "kind", "sector", "region", "service", "capacity",
                                        "coverage", "near_match", "resolve", "feed", "rate", "customers",
                                        NULL };
    if (s_keys (c, n, "an agency", keys) || s_copy (c, s_get (n, "id"), "agency 'id'", a->id, sizeof a->id)
        || s_copy (c, s_get (n, "kind"), "agency 'kind'", a->kind, sizeof a->kind))
        return -1;
    if (macx_keys_check_id (a->id, NULL))
        return s_fail (c, s_get (n, "id"), "'%s' is not an agency id (a-z, 0-9, '-')", a->id);
    static const char *const kinds[] = { "mi5", "ctp", "local_authority", "ogd", "provider", NULL };
    bool ok = false;
    for (int i = 0; kinds[i]; i++)
        ok |= strcmp (a->kind, kinds[i]) == 0;
    if (!ok)
        return s_fail (c, s_get (n, "kind"), "unknown kind '%s' (mi5, ctp, local_authority, ogd, provider)",
                       a->kind);
    bool provider = strcmp (a->kind, "provider") == 0;
    static const char *const feeds[] = { "vehicle_hire", "flight_booking", "precursor_purchase", NULL };
    if (provider) {
        if (!s_get (n, "feed"))
            return s_fail (c, n, "agency '%s' of kind provider needs a 'feed' (vehicle_hire, flight_booking, "
                           "precursor_purchase): the events its tripwire sees", a->id);
        if (s_copy (c, s_get (n, "feed"), "a provider's 'feed'", a->feed, sizeof a->feed))
            return -1;
        ok = false;
        for (int i = 0; feeds[i]; i++)
            ok |= strcmp (a->feed, feeds[i]) == 0;
        if (!ok)
            return s_fail (c, s_get (n, "feed"), "unknown feed '%s' (vehicle_hire, flight_booking, "
                           "precursor_purchase)", a->feed);
        a->rate = 1;
        a->customers = 0.3;
        if ((s_get (n, "rate") && s_number (c, s_get (n, "rate"), "'rate'", 0, 365, &a->rate))
            || (s_get (n, "customers")
                && s_number (c, s_get (n, "customers"), "'customers'", 0, 1, &a->customers)))
            return -1;
    }
    else if (s_get (n, "feed") || s_get (n, "rate") || s_get (n, "customers"))
        return s_fail (c, s_get (n, "feed") ? s_get (n, "feed") : s_get (n, "rate") ? s_get (n, "rate")
                                                                                : s_get (n, "customers"),
                       "agency '%s' of kind %s has a provider's 'feed', 'rate' or 'customers': only "
                       "an agency of kind provider runs a tripwire feed", a->id, a->kind);
    if (s_get (n, "sector") && s_copy (c, s_get (n, "sector"), "'sector'", a->sector, sizeof a->sector))
        return -1;
    if (strcmp (a->kind, "ogd") == 0 && !a->sector[0])
        return s_fail (c, n, "agency '%s' of kind ogd needs a 'sector' (%s): what it holds and "
                       "can offer follows from it, never from its id", a->id, macx_synth_sectors ());
    if (a->sector[0] && !macx_synth_sector_known (a->kind, a->sector))
        return s_fail (c, s_get (n, "sector"), "unknown sector '%s' for kind %s (%s)", a->sector,
                       a->kind, strcmp (a->kind, "ogd") == 0 ? macx_synth_sectors ()
                                                              : "only an ogd has a sector");
    snprintf (a->region, sizeof a->region, "national");
    if (s_get (n, "region") && s_copy (c, s_get (n, "region"), "'region'", a->region, sizeof a->region))
        return -1;
    a->coverage = 0.5;
    a->near_match = 0.1;
    if ((s_get (n, "coverage") && s_number (c, s_get (n, "coverage"), "'coverage'", 0, 1, &a->coverage))
        || (s_get (n, "near_match")
            && s_number (c, s_get (n, "near_match"), "'near_match'", 0, 1, &a->near_match)))
        return -1;
    struct fy_node *rs = s_get (n, "resolve");
    if (rs) {
        static const char *const rkeys[] = { "probability", "error", NULL };
        if (s_keys (c, rs, "an agency's 'resolve'", rkeys)
            || (s_get (rs, "probability")
                && s_number (c, s_get (rs, "probability"), "resolve 'probability'", 0, 1,
                             &a->resolve.probability))
            || (s_get (rs, "error")
                && s_number (c, s_get (rs, "error"), "resolve 'error'", 0, 1, &a->resolve.error)))
            return -1;
        if (strcmp (a->kind, "local_authority") != 0 && strcmp (a->kind, "ogd") != 0)
            return s_fail (c, rs, "agency '%s' of kind %s has 'resolve': only a partner (local_authority, "
                           "ogd) resolves the near matches of its lookups", a->id, a->kind);
    }
    struct fy_node *svc = s_get (n, "service"), *cap = s_get (n, "capacity");
    if (svc) {
        if (s_keys (c, svc, "'service'", s_phase_keys))
            return -1;
        for (int p = 1; p <= MACX_PHASE_COUNT; p++) {
            struct fy_node *d = s_get (svc, macx_phase_name (p));
            if (d && s_dist (c, d, &a->service[p]))
                return -1;
        }
    }
    if (cap) {
        if (s_keys (c, cap, "'capacity'", s_phase_keys))
            return -1;
        for (int p = 1; p <= MACX_PHASE_COUNT; p++) {
            struct fy_node *v = s_get (cap, macx_phase_name (p));
            if (v && s_int (c, v, "a capacity", 0, 100000, &a->capacity[p]))
                return -1;
        }
    }
    return 0;
}

static int
s_mac (s_ctx_t *c, struct fy_node *n, macx_scn_mac_t *m)
{
    static const char *const keys[] = { "id", "name", "national", "regions", "members", "chair",
                                        "overflow_load", NULL };
    if (s_keys (c, n, "a MAC", keys) || s_copy (c, s_get (n, "id"), "MAC 'id'", m->id, sizeof m->id))
        return -1;
    memcpy (m->name, m->id, strlen (m->id) + 1);   /* id is shorter than name */
    if (s_get (n, "name") && s_copy (c, s_get (n, "name"), "MAC 'name'", m->name, sizeof m->name))
        return -1;
    if (s_get (n, "national") && s_bool (c, s_get (n, "national"), "'national'", &m->national))
        return -1;
    if (s_string_list (c, s_get (n, "regions"), "MAC 'regions'", m->regions, MACX_SCN_MAX_REGIONS,
                       &m->nregions))
        return -1;
    char members[MACX_SCN_MAX_MEMBERS][MACX_SCN_NAME];
    if (s_string_list (c, s_get (n, "members"), "MAC 'members'", members, MACX_SCN_MAX_MEMBERS,
                       &m->nmembers))
        return -1;
    for (int i = 0; i < m->nmembers; i++)
        snprintf (m->members[i], sizeof m->members[i], "%s", members[i]);
    if (s_get (n, "chair") && s_copy (c, s_get (n, "chair"), "MAC 'chair'", m->chair, sizeof m->chair))
        return -1;
    if (s_get (n, "overflow_load")
        && s_int (c, s_get (n, "overflow_load"), "'overflow_load'", 0, 1000000, &m->overflow_load))
        return -1;
    return 0;
}

static int
s_disposal (s_ctx_t *c, struct fy_node *n, macx_scn_disposal_t *d)
{
    static const char *const keys[] = { "kind", "owner", "needs", "decline", "delivery", NULL };
    if (s_keys (c, n, "a disposal", keys)
        || s_copy (c, s_get (n, "kind"), "disposal 'kind'", d->kind, sizeof d->kind)
        || s_copy (c, s_get (n, "owner"), "disposal 'owner'", d->owner_kind, sizeof d->owner_kind))
        return -1;
    static const char *const owners[] = { "ctp", "local_authority", "ogd", NULL };
    bool ok = false;
    for (int i = 0; owners[i]; i++)
        ok |= strcmp (d->owner_kind, owners[i]) == 0;
    if (!ok)
        return s_fail (c, s_get (n, "owner"), "disposal owner '%s' is not a kind that sits on a "
                       "panel (ctp, local_authority, ogd)", d->owner_kind);
    if (s_get (n, "needs") && s_copy (c, s_get (n, "needs"), "disposal 'needs'", d->needs, sizeof d->needs))
        return -1;
    if (s_get (n, "decline") && s_number (c, s_get (n, "decline"), "'decline'", 0, 1, &d->decline))
        return -1;
    struct fy_node *dl = s_get (n, "delivery");
    if (dl) {
        static const char *const dkeys[] = { "places", "days", NULL };
        if (s_keys (c, dl, "a disposal's 'delivery'", dkeys)
            || s_int (c, s_get (dl, "places"), "delivery 'places'", 1, 100000, &d->places)
            || s_dist (c, s_get (dl, "days"), &d->days))
            return -1;
    }
    return 0;
}

static int
s_panel (s_ctx_t *c, struct fy_node *n, macx_scenario_t *s)
{
    static const char *const keys[] = { "every_days", "agenda_limit", "notice_days",
                                        "level1_intervention", "max_disposals", NULL };
    if (s_keys (c, n, "'panel'", keys))
        return -1;
    if ((s_get (n, "every_days")
         && s_int (c, s_get (n, "every_days"), "'every_days'", 0, 365, &s->panel.every_days))
        || (s_get (n, "agenda_limit")
            && s_int (c, s_get (n, "agenda_limit"), "'agenda_limit'", 0, 100000, &s->panel.agenda_limit))
        || (s_get (n, "notice_days")
            && s_int (c, s_get (n, "notice_days"), "'notice_days'", 0, 365, &s->panel.notice_days))
        || (s_get (n, "level1_intervention")
            && s_number (c, s_get (n, "level1_intervention"), "'level1_intervention'", 0, 1,
                         &s->panel.level1_intervention))
        || (s_get (n, "max_disposals")
            && s_int (c, s_get (n, "max_disposals"), "'max_disposals'", 1, 8, &s->panel.max_disposals)))
        return -1;
    return 0;
}

static int
s_watch (s_ctx_t *c, struct fy_node *n, macx_scenario_t *s)
{
    static const char *const keys[] = { "categories", "window_days", "reengage", "unsolicited", "triage",
                                        "detect", "false_reopen", "purpose", NULL };
    if (s_keys (c, n, "'watch'", keys))
        return -1;
    s->watch.on = true;
    if (s_get (n, "categories")) {
        char cats[4][MACX_SCN_NAME];
        if (s_string_list (c, s_get (n, "categories"), "watch 'categories'", cats, 4, &s->watch.ncategories))
            return -1;
        for (int i = 0; i < s->watch.ncategories; i++) {
            if (strcmp (cats[i], "CAT-A") && strcmp (cats[i], "CAT-B") && strcmp (cats[i], "CAT-C"))
                return s_fail (c, s_get (n, "categories"), "unknown closure category '%s' (CAT-A, CAT-B, CAT-C)",
                               cats[i]);
            snprintf (s->watch.categories[i], sizeof s->watch.categories[i], "%s", cats[i]);
        }
    }
    if ((s_get (n, "window_days")
         && s_int (c, s_get (n, "window_days"), "'window_days'", 1, 3650, &s->watch.window_days))
        || (s_get (n, "reengage") && s_number (c, s_get (n, "reengage"), "'reengage'", 0, 1, &s->watch.reengage))
        || (s_get (n, "unsolicited")
            && s_number (c, s_get (n, "unsolicited"), "'unsolicited'", 0, 1, &s->watch.unsolicited))
        || (s_get (n, "triage") && s_dist (c, s_get (n, "triage"), &s->watch.triage))
        || (s_get (n, "detect") && s_number (c, s_get (n, "detect"), "'detect'", 0, 1, &s->watch.detect))
        || (s_get (n, "false_reopen")
            && s_number (c, s_get (n, "false_reopen"), "'false_reopen'", 0, 1, &s->watch.false_reopen))
        || (s_get (n, "purpose")
            && s_copy (c, s_get (n, "purpose"), "watch 'purpose'", s->watch.purpose, sizeof s->watch.purpose)))
        return -1;
    return 0;
}

/* Everything that can only be checked once the whole file is read. */
static int
s_validate (s_ctx_t *c, struct fy_node *root, macx_scenario_t *s)
{
    struct fy_node *ag = s_get (root, "agencies"), *mc = s_get (root, "macs");
    int nmi5 = 0, nctp = 0;
    const char *ctp = NULL;
    for (int i = 0; i < s->nagencies; i++) {
        nmi5 += strcmp (s->agencies[i].kind, "mi5") == 0;
        if (strcmp (s->agencies[i].kind, "ctp") == 0) {
            nctp++;
            ctp = s->agencies[i].id;
        }
        for (int j = 0; j < i; j++)
            if (strcmp (s->agencies[i].id, s->agencies[j].id) == 0)
                return s_fail (c, ag, "agency '%s' is listed twice", s->agencies[i].id);
    }
    if (nmi5 != 1 || nctp == 0)
        return s_fail (c, ag, "a pilot needs exactly one agency of kind mi5 (it has %d) and at "
                       "least one of kind ctp (it has %d)", nmi5, nctp);
    int national = 0;
    for (int i = 0; i < s->nmacs; i++) {
        macx_scn_mac_t *m = &s->macs[i];
        national += m->national;
        for (int k = 0; k < i; k++)
            if (strcmp (s->macs[k].id, m->id) == 0)
                return s_fail (c, mc, "MAC '%s' is listed twice", m->id);
        if (!m->chair[0]) {
            if (nctp > 1)
                return s_fail (c, mc, "MAC '%s' needs a 'chair': the scenario has %d CTP units, "
                               "so which one owns its cases must be said", m->id, nctp);
            snprintf (m->chair, sizeof m->chair, "%s", ctp);
        }
        const macx_scn_agency_t *ch = macx_scenario_agency (s, m->chair);
        if (!ch || strcmp (ch->kind, "ctp") != 0)
            return s_fail (c, mc, "MAC '%s': chair '%s' is not an agency of kind ctp", m->id,
                           m->chair);
        for (int j = 0; j < m->nmembers; j++) {
            const macx_scn_agency_t *a = macx_scenario_agency (s, m->members[j]);
            if (!a)
                return s_fail (c, mc, "MAC '%s' lists member '%s', which is not among the agencies",
                               m->id, m->members[j]);
            if (strcmp (a->kind, "mi5") == 0 || strcmp (a->kind, "ctp") == 0)
                return s_fail (c, mc, "MAC '%s': MI5 and the chair are in every MAC; list only "
                               "partners (not '%s')", m->id, a->id);
            if (strcmp (a->kind, "provider") == 0)
                return s_fail (c, mc, "MAC '%s': '%s' is a provider: it runs tripwires for the watch "
                               "and sits on no panel", m->id, a->id);
        }
        for (int r = 0; r < s->macs[i].nregions; r++)
            for (int k = 0; k < i; k++)
                for (int q = 0; q < s->macs[k].nregions; q++)
                    if (strcmp (s->macs[i].regions[r], s->macs[k].regions[q]) == 0)
                        return s_fail (c, mc, "region '%s' belongs to two MACs (%s, %s)",
                                       s->macs[i].regions[r], s->macs[k].id, s->macs[i].id);
    }
    if (national > 1)
        return s_fail (c, mc, "at most one MAC may be national");
    const macx_scn_mac_t *nat = macx_scenario_national (s);
    for (int i = 0; i < s->nmacs; i++) {
        const macx_scn_mac_t *m = &s->macs[i];
        if (m->overflow_load == 0)
            continue;
        if (!nat || nat == m)
            return s_fail (c, mc, "MAC '%s' has an 'overflow_load' but %s", m->id,
                           nat ? "is itself the national MAC" : "no MAC is national to take it");
        if (strcmp (nat->chair, m->chair) == 0)
            return s_fail (c, mc, "MAC '%s' overflows to the national MAC '%s', which has the same "
                           "chair '%s': give the national MAC its own CTP unit", m->id, nat->id,
                           m->chair);
    }
    double sum = 0;
    for (int i = 0; i < s->nregions; i++) {
        sum += s->region_share[i];
        if (!macx_scenario_mac_for (s, s->regions[i]))
            return s_fail (c, s_get (root, "regions"), "no MAC takes cases from region '%s' (add it "
                           "to a MAC or make one MAC national)", s->regions[i]);
    }
    if (s->nregions == 0 || fabs (sum - 1.0) > 1e-6)
        return s_fail (c, s_get (root, "regions"), "region shares must add up to 1 (they add up "
                       "to %g)", sum);
    for (int i = 0; i < s->ndisposals; i++)
        for (int j = 0; j < i; j++)
            if (strcmp (s->disposals[i].kind, s->disposals[j].kind) == 0)
                return s_fail (c, s_get (root, "disposals"), "disposal '%s' is listed twice",
                               s->disposals[i].kind);
    for (int i = 0; i < s->transit.nroutes; i++) {
        const macx_scn_route_t *r = &s->transit.routes[i];
        const char *ends[2] = { r->from, r->to };
        for (int k = 0; k < 2; k++)
            if (strcmp (ends[k], "*") != 0 && !macx_scenario_agency (s, ends[k]))
                return macx_error_set (c->err, MACX_EFORMAT, "%s:%d:1: transit route %s '%s' is "
                                       "not among the agencies (an id, or '*' for any)", c->file,
                                       r->line, k ? "to" : "from", ends[k]);
    }
    return 0;
}

/* The scenario against its policy, loaded as the broker and every agency
 * will load it: the directory exists, the policy loads (its own errors name
 * its file, line and column), every agreement the scenario overrides is in
 * it, and it declares every agency (else all their records are refused). */
static int
s_check_policy (s_ctx_t *c, struct fy_node *root, const macx_scenario_t *s)
{
    struct fy_node *where = s_get (root, "policy");
    struct stat st;
    bool exists = stat (s->policy_dir, &st) == 0;
    if (!exists || !S_ISDIR (st.st_mode)) {
        int line = 0, col = 0;
        macx_yaml_mark (where, &line, &col);
        return macx_error_set (c->err, MACX_ENOTFOUND, "%s:%d:%d: the policy directory %s %s",
                               c->file, line, col, s->policy_dir,
                               exists ? "is not a directory"
                               : errno == ENOENT ? "does not exist" : strerror (errno));
    }
    macx_policy_t *pol = macx_policy_load (s->policy_dir, c->err);
    if (!pol)
        return c->err && c->err->code ? c->err->code : MACX_EPOLICY;
    int rc = 0;
    struct fy_node *agr = s_get (root, "agreements");
    void *it = NULL;
    struct fy_node_pair *p;
    for (int i = 0; agr && !rc && (p = fy_node_mapping_iterate (agr, &it)); i++)
        if (macx_policy_set_effective (pol, s->overrides[i].agreement, s->start_day) != MACX_OK)
            rc = s_fail (c, fy_node_pair_key (p), "agreement '%s' is not in the policy %s",
                         s->overrides[i].agreement, s->policy_dir);
    struct fy_node *ag = s_get (root, "agencies"), *e;
    it = NULL;
    for (int i = 0; !rc && (e = fy_node_sequence_iterate (ag, &it)); i++) {
        bool known = false;
        for (size_t k = 0; k < macx_policy_agency_count (pol) && !known; k++)
            known = strcmp (macx_policy_agency_id (pol, k), s->agencies[i].id) == 0;
        if (!known)
            rc = s_fail (c, s_get (e, "id"), "agency '%s' is not among the policy's agencies "
                         "(%s/schema.yaml); the broker would refuse every record to or from it",
                         s->agencies[i].id, s->policy_dir);
    }
    macx_policy_destroy (&pol);
    return rc;
}

int
macx_scenario_load (const char *arg, macx_scenario_t *s, macx_error_t *err)
{
    memset (s, 0, sizeof *s);
    /* A scenario directory stands for its pilot.yaml. */
    char path[sizeof s->path];
    struct stat st;
    if (snprintf (path, sizeof path, "%s", arg) >= (int) sizeof path)
        return macx_error_set (err, MACX_EINVAL, "%.80s...: the scenario's path is too long", arg);
    if (stat (arg, &st) == 0 && S_ISDIR (st.st_mode)) {
        size_t n = strlen (arg);
        while (n > 1 && arg[n - 1] == '/')
            n--;
        if (snprintf (path, sizeof path, "%.*s/" MACX_SCENARIO_FILE, (int) n, arg)
            >= (int) sizeof path)
            return macx_error_set (err, MACX_EINVAL, "%.80s...: the scenario's path is too long",
                                   arg);
        if (stat (path, &st) != 0)
            return macx_error_set (err, MACX_ENOTFOUND, "%.*s is a directory without a "
                                   MACX_SCENARIO_FILE " (give a scenario file, or a scenario "
                                   "directory holding its " MACX_SCENARIO_FILE ")", (int) n, arg);
    }
    s_ctx_t c = { path, err };
    char *text = NULL;
    struct fy_document *doc = macx_yaml_load (path, &text, MACX_EFORMAT, err);
    if (!doc)
        return err && err->code ? err->code : MACX_EFORMAT;
    struct fy_node *root = fy_document_root (doc);
    int rc = -1;
    static const char *const keys[] = {
        "name", "description", "seed", "subjects", "start_date", "closure_window_days",
        "deadline_days", "enrichment_wait_days", "policy", "transit", "regions", "macs",
        "agencies", "agreements", "behaviour", "evidence", "watch", "panel", "disposals", "workflow", NULL
    };
    if (root && fy_node_get_type (root) == FYNT_MAPPING && s_get (root, "clock_scale_ms")) {
        s_fail (&c, fy_node_pair_key (fy_node_mapping_lookup_pair_by_string (root, "clock_scale_ms",
                                                                              FY_NT)),
                "'clock_scale_ms' is retired: a pilot runs in simulated time, as fast as the "
                "broker allows, with the same figures at any speed; delete the line (for a paced "
                "demonstration use 'macx pilot run --pace MS')");
        goto done;
    }
    if (s_keys (&c, root, "the scenario", keys))
        goto done;
    snprintf (s->path, sizeof s->path, "%s", path);
    if (s_copy (&c, s_get (root, "name"), "'name'", s->name, sizeof s->name))
        goto done;
    if (s_get (root, "description")
        && s_copy (&c, s_get (root, "description"), "'description'", s->description,
                   sizeof s->description))
        goto done;
    double seed;
    char date[16], policy[512];
    if (s_number (&c, s_get (root, "seed"), "'seed'", 0, 9007199254740991.0, &seed)
        || s_int (&c, s_get (root, "subjects"), "'subjects'", 1, 1000000, &s->subjects)
        || s_copy (&c, s_get (root, "start_date"), "'start_date'", date, sizeof date)
        || s_int (&c, s_get (root, "closure_window_days"), "'closure_window_days'", 1, 3650,
                  &s->closure_window_days)
        || s_int (&c, s_get (root, "deadline_days"), "'deadline_days'", 1, 3650, &s->deadline_days)
        || s_copy (&c, s_get (root, "policy"), "'policy'", policy, sizeof policy))
        goto done;
    s->seed = (uint64_t) seed;
    if (macx_date_parse (date, &s->start_day)) {
        s_fail (&c, s_get (root, "start_date"), "'start_date' must be a date YYYY-MM-DD");
        goto done;
    }
    s->enrichment_wait_days = 30;
    if (s_get (root, "enrichment_wait_days")
        && s_int (&c, s_get (root, "enrichment_wait_days"), "'enrichment_wait_days'", 0, 3650,
                  &s->enrichment_wait_days))
        goto done;
    {
        char copy[1024];
        snprintf (copy, sizeof copy, "%s", path);
        if (policy[0] == '/')
            snprintf (s->policy_dir, sizeof s->policy_dir, "%s", policy);
        else
            snprintf (s->policy_dir, sizeof s->policy_dir, "%s/%s", dirname (copy), policy);
    }
    /* transit: how long records take, by route */
    s->transit.fallback = MACX_TRANSIT_DEFAULT;
    s->transit.verdict_hours = MACX_VERDICT_DEFAULT_HOURS;
    if (s_get (root, "transit") && s_transit (&c, s_get (root, "transit"), s))
        goto done;
    /* regions: mapping region -> share */
    struct fy_node *regions = s_get (root, "regions");
    if (!regions || fy_node_get_type (regions) != FYNT_MAPPING) {
        s_fail (&c, regions ? regions : root, "'regions' must map each region to its share of subjects");
        goto done;
    }
    {
        void *it = NULL;
        struct fy_node_pair *p;
        while ((p = fy_node_mapping_iterate (regions, &it))) {
            if (s->nregions == MACX_SCN_MAX_REGIONS) {
                s_fail (&c, regions, "more than %d regions", MACX_SCN_MAX_REGIONS);
                goto done;
            }
            if (s_copy (&c, fy_node_pair_key (p), "a region", s->regions[s->nregions], MACX_SCN_NAME)
                || s_number (&c, fy_node_pair_value (p), "a region's share", 0, 1,
                             &s->region_share[s->nregions]))
                goto done;
            s->nregions++;
        }
    }
    struct fy_node *macs = s_get (root, "macs"), *agencies = s_get (root, "agencies");
    if (!macs || fy_node_get_type (macs) != FYNT_SEQUENCE || !agencies
        || fy_node_get_type (agencies) != FYNT_SEQUENCE) {
        s_fail (&c, root, "'macs' and 'agencies' must be lists");
        goto done;
    }
    {
        void *it = NULL;
        struct fy_node *e;
        while ((e = fy_node_sequence_iterate (macs, &it))) {
            if (s->nmacs == MACX_SCN_MAX_MACS) {
                s_fail (&c, e, "more than %d MACs", MACX_SCN_MAX_MACS);
                goto done;
            }
            if (s_mac (&c, e, &s->macs[s->nmacs++]))
                goto done;
        }
        it = NULL;
        while ((e = fy_node_sequence_iterate (agencies, &it))) {
            if (s->nagencies == MACX_SCN_MAX_AGENCIES) {
                s_fail (&c, e, "more than %d agencies", MACX_SCN_MAX_AGENCIES);
                goto done;
            }
            if (s_agency (&c, e, &s->agencies[s->nagencies++]))
                goto done;
        }
    }
    struct fy_node *agr = s_get (root, "agreements");
    if (agr) {
        if (fy_node_get_type (agr) != FYNT_MAPPING) {
            s_fail (&c, agr, "'agreements' must map agreement ids to {effective_day: N} or {missing: true}");
            goto done;
        }
        void *it = NULL;
        struct fy_node_pair *p;
        while ((p = fy_node_mapping_iterate (agr, &it))) {
            if (s->noverrides == MACX_SCN_MAX_OVERRIDES) {
                s_fail (&c, agr, "more than %d agreement overrides", MACX_SCN_MAX_OVERRIDES);
                goto done;
            }
            macx_scn_override_t *o = &s->overrides[s->noverrides++];
            static const char *const okeys[] = { "effective_day", "missing", NULL };
            struct fy_node *v = fy_node_pair_value (p);
            if (s_copy (&c, fy_node_pair_key (p), "an agreement id", o->agreement, sizeof o->agreement)
                || s_keys (&c, v, "an agreement override", okeys))
                goto done;
            if (s_get (v, "effective_day")
                && s_int (&c, s_get (v, "effective_day"), "'effective_day'", 0, 3650, &o->effective_day))
                goto done;
            if (s_get (v, "missing") && s_bool (&c, s_get (v, "missing"), "'missing'", &o->missing))
                goto done;
        }
    }
    s->evidence.level2_strands = 2;
    s->evidence.level3_strands = 3;
    s->evidence.indicators_strand = 0;
    s->evidence.ncategory_strand = 0;
    if (s_get (root, "behaviour")) {
        s_fail (&c, s_get (root, "behaviour"), "'behaviour' (a score with noise and thresholds) is gone: the "
                "Level follows from the evidence; write 'evidence' (level2_strands, level3_strands, "
                "indicators_strand, category_strand; docs/pilot.md)");
        goto done;
    }
    struct fy_node *ev = s_get (root, "evidence");
    if (ev) {
        static const char *const ekeys[] = { "level2_strands", "level3_strands", "indicators_strand",
                                             "category_strand", NULL };
        if (s_keys (&c, ev, "'evidence'", ekeys)
            || (s_get (ev, "level2_strands")
                && s_int (&c, s_get (ev, "level2_strands"), "'level2_strands'", 1, 12, &s->evidence.level2_strands))
            || (s_get (ev, "level3_strands")
                && s_int (&c, s_get (ev, "level3_strands"), "'level3_strands'", 1, 12, &s->evidence.level3_strands))
            || (s_get (ev, "indicators_strand")
                && s_int (&c, s_get (ev, "indicators_strand"), "'indicators_strand'", 0, 8,
                          &s->evidence.indicators_strand)))
            goto done;
        if (s_get (ev, "category_strand")) {
            char cats[4][MACX_SCN_NAME];
            if (s_string_list (&c, s_get (ev, "category_strand"), "'category_strand'", cats, 4,
                               &s->evidence.ncategory_strand))
                goto done;
            for (int i = 0; i < s->evidence.ncategory_strand; i++) {
                if (strcmp (cats[i], "CAT-A") && strcmp (cats[i], "CAT-B") && strcmp (cats[i], "CAT-C")) {
                    s_fail (&c, s_get (ev, "category_strand"), "unknown closure category '%s' (CAT-A, CAT-B, "
                            "CAT-C)", cats[i]);
                    goto done;
                }
                snprintf (s->evidence.category_strand[i], sizeof s->evidence.category_strand[i], "%s", cats[i]);
            }
        }
        if (s->evidence.level3_strands < s->evidence.level2_strands) {
            s_fail (&c, ev, "level3_strands (%d) is below level2_strands (%d)", s->evidence.level3_strands,
                    s->evidence.level2_strands);
            goto done;
        }
    }
    s->watch.window_days = 240;
    s->watch.reengage = 0.1;
    s->watch.unsolicited = 0.1;
    s->watch.triage = (macx_dist_t) { MACX_DIST_TRIANGULAR, 1, 3, 10, true };
    s->watch.detect = 0.85;
    s->watch.false_reopen = 0.03;
    snprintf (s->watch.purpose, sizeof s->watch.purpose, "closed_subject_watch");
    if (s_get (root, "watch") && s_watch (&c, s_get (root, "watch"), s))
        goto done;
    s->panel.level1_intervention = 0.1;
    s->panel.max_disposals = 2;
    if (s_get (root, "panel") && s_panel (&c, s_get (root, "panel"), s))
        goto done;
    struct fy_node *ds = s_get (root, "disposals");
    if (ds) {
        if (fy_node_get_type (ds) != FYNT_SEQUENCE) {
            s_fail (&c, ds, "'disposals' must be a list");
            goto done;
        }
        void *it = NULL;
        struct fy_node *e;
        while ((e = fy_node_sequence_iterate (ds, &it))) {
            if (s->ndisposals == MACX_SCN_MAX_DISPOSALS) {
                s_fail (&c, e, "more than %d disposals", MACX_SCN_MAX_DISPOSALS);
                goto done;
            }
            if (s_disposal (&c, e, &s->disposals[s->ndisposals++]))
                goto done;
        }
    }
    s->workflow.profile_review = true;
    snprintf (s->workflow.purpose, sizeof s->workflow.purpose, "mac_case_management");
    snprintf (s->workflow.live_purpose, sizeof s->workflow.live_purpose, "live_subject_safeguarding");
    struct fy_node *wf = s_get (root, "workflow");
    if (wf) {
        static const char *const wkeys[] = { "share_during_identification", "enrichment_in_sharing",
                                             "profile_review", "purpose", "live_purpose", NULL };
        if (s_keys (&c, wf, "'workflow'", wkeys))
            goto done;
        if ((s_get (wf, "share_during_identification")
             && s_bool (&c, s_get (wf, "share_during_identification"), "share_during_identification",
                        &s->workflow.share_during_identification))
            || (s_get (wf, "enrichment_in_sharing")
                && s_bool (&c, s_get (wf, "enrichment_in_sharing"), "enrichment_in_sharing",
                           &s->workflow.enrichment_in_sharing))
            || (s_get (wf, "profile_review")
                && s_bool (&c, s_get (wf, "profile_review"), "profile_review",
                           &s->workflow.profile_review))
            || (s_get (wf, "purpose")
                && s_copy (&c, s_get (wf, "purpose"), "'purpose'", s->workflow.purpose,
                           sizeof s->workflow.purpose))
            || (s_get (wf, "live_purpose")
                && s_copy (&c, s_get (wf, "live_purpose"), "'live_purpose'", s->workflow.live_purpose,
                           sizeof s->workflow.live_purpose)))
            goto done;
    }
    if ((rc = s_validate (&c, root, s)) == 0)
        rc = s_check_policy (&c, root, s);
done:
    fy_document_destroy (doc);
    free (text);
    return rc ? (err && err->code ? err->code : MACX_EFORMAT) : MACX_OK;
}

void
macx_scenario_override (macx_scenario_t *s, int64_t seed, int subjects)
{
    if (seed >= 0)
        s->seed = (uint64_t) seed;
    if (subjects > 0)
        s->subjects = subjects;
}

const macx_scn_agency_t *
macx_scenario_agency (const macx_scenario_t *s, const char *id)
{
    for (int i = 0; i < s->nagencies; i++)
        if (strcmp (s->agencies[i].id, id) == 0)
            return &s->agencies[i];
    return NULL;
}

const macx_scn_agency_t *
macx_scenario_of_kind (const macx_scenario_t *s, const char *kind)
{
    for (int i = 0; i < s->nagencies; i++)
        if (strcmp (s->agencies[i].kind, kind) == 0)
            return &s->agencies[i];
    return NULL;
}

const macx_scn_mac_t *
macx_scenario_mac (const macx_scenario_t *s, const char *id)
{
    for (int i = 0; i < s->nmacs; i++)
        if (strcmp (s->macs[i].id, id) == 0)
            return &s->macs[i];
    return NULL;
}

const macx_scn_mac_t *
macx_scenario_national (const macx_scenario_t *s)
{
    for (int i = 0; i < s->nmacs; i++)
        if (s->macs[i].national)
            return &s->macs[i];
    return NULL;
}

const macx_scn_mac_t *
macx_scenario_mac_for (const macx_scenario_t *s, const char *region)
{
    const macx_scn_mac_t *national = NULL;
    for (int i = 0; i < s->nmacs; i++) {
        for (int r = 0; r < s->macs[i].nregions; r++)
            if (strcmp (s->macs[i].regions[r], region) == 0)
                return &s->macs[i];
        if (s->macs[i].national)
            national = &s->macs[i];
    }
    return national;
}
