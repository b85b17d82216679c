/* watch.c -- keyed pseudonyms and the synthetic world of the closed-subject
 * watch (watch.h). Owns nothing: every function is pure. */
#include "watch.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "dist.h"

#define S_DAY_MS ((int64_t) 86400000)

void
macx_watch_alias (uint64_t seed, const char *provider, const char *name, const char *dob,
                  char out[MACX_WATCH_ALIAS])
{
    unsigned char key[crypto_generichash_KEYBYTES], h[10];
    char material[128], who[160];
    snprintf (material, sizeof material, "macx-watch-v1|%" PRIu64 "|%s", seed, provider);
    crypto_generichash (key, sizeof key, (const unsigned char *) material, strlen (material), NULL, 0);
    size_t n = 0;
    for (const char *p = name; *p && n + 1 < sizeof who; p++)
        who[n++] = (char) tolower ((unsigned char) *p);
    n += (size_t) snprintf (who + n, sizeof who - n, "|%s", dob);
    crypto_generichash (h, sizeof h, (const unsigned char *) who, n < sizeof who ? n : sizeof who - 1, key,
                        sizeof key);
    sodium_memzero (key, sizeof key);
    memcpy (out, "W-", 2);
    sodium_bin2hex (out + 2, MACX_WATCH_ALIAS - 2, h, sizeof h);
}

bool
macx_watch_watched (const macx_scenario_t *scn, const char *category)
{
    for (int i = 0; i < scn->watch.ncategories; i++)
        if (strcmp (scn->watch.categories[i], category) == 0)
            return true;
    return false;
}

bool
macx_watch_reengages (const macx_scenario_t *scn, const macx_subject_t *s, int64_t *at)
{
    char stream[64];
    snprintf (stream, sizeof stream, "watch/reengage/%s", s->id);
    if (macx_rand_unit (scn->seed, stream, 0) >= scn->watch.reengage * (0.5 + s->latent_risk))
        return false;
    /* a fortnight after closure at the earliest, within the window */
    double first = s->closure_day + 14.0, last = scn->watch.window_days;
    if (last <= first)
        return false;
    double day = first + macx_rand_unit (scn->seed, stream, 1) * (last - first);
    *at = (int64_t) scn->start_day * S_DAY_MS + (int64_t) (day * (double) S_DAY_MS);
    return true;
}

size_t
macx_watch_events (const macx_scenario_t *scn, const macx_scn_agency_t *provider,
                   const macx_subject_t *s, macx_watch_event_t *out, size_t max)
{
    char stream[96];
    snprintf (stream, sizeof stream, "watch/feed/%s/%s", provider->id, s->id);
    int64_t start = (int64_t) scn->start_day * S_DAY_MS;
    double window = scn->watch.window_days, per_day = provider->rate / 365.0;
    size_t n = 0;
    if (macx_rand_unit (scn->seed, stream, 0) < provider->customers && per_day > 0) {
        /* ordinary events: a Poisson process over the window */
        double t = 0;
        for (uint64_t k = 1; n < max; k++) {
            double u = macx_rand_unit (scn->seed, stream, k);
            t += -log (u > 0 ? u : 1e-12) / per_day;
            if (t >= window)
                break;
            out[n++] = (macx_watch_event_t) { start + (int64_t) (t * (double) S_DAY_MS), false };
        }
    }
    int64_t at;
    if (n < max && macx_watch_reengages (scn, s, &at)
        && macx_rand_unit (scn->seed, stream, 100000) < 0.7) {   /* this feed is part of it */
        int64_t when = at + (int64_t) (macx_rand_unit (scn->seed, stream, 100001) * 10.0 * (double) S_DAY_MS);
        size_t i = n++;
        while (i > 0 && out[i - 1].sim > when) {   /* keep time order */
            out[i] = out[i - 1];
            i--;
        }
        out[i] = (macx_watch_event_t) { when, true };
    }
    return n;
}

uint64_t
macx_watch_other_events (const macx_scenario_t *scn, const macx_scn_agency_t *provider)
{
    double mean = scn->subjects * provider->customers * provider->rate * scn->watch.window_days / 365.0;
    return (uint64_t) llround (mean);
}
