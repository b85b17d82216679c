/* watch.h -- the closed-subject watch (review section 6): the keyed
 * pseudonyms a watch-list and its tripwires carry, and the synthetic world
 * behind them: which closed subjects re-engage and when, and the events a
 * data provider sees on its customers. Pure functions of the scenario and
 * its seed; no I/O. The model is in docs/pilot.md, the feeds in
 * docs/synthetic-data.md. */
#ifndef MACX_WATCH_H
#define MACX_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scenario.h"
#include "synth.h"

#define MACX_WATCH_ALIAS 24          /* "W-" and 20 hex digits, NUL-terminated */
#define MACX_WATCH_MAX_EVENTS 64     /* events on one customer in a feed, at most */

/* One event a provider sees on a customer. */
typedef struct {
    int64_t sim;                     /* when, simulated ms */
    bool signal;                     /* part of the customer's re-engagement (synthetic truth) */
} macx_watch_event_t;

/* The keyed pseudonym of a person (name, full date of birth) under the
 * watch agreement with provider: BLAKE2b keyed with the agreement's key.
 * Whoever holds the key can test a person it knows, and nobody else can
 * tell who an alias is; the pilot derives the key from the seed and the
 * provider's id so that runs are reproducible (in service MI5 would make it
 * and hand it to the provider under the agreement). Fills out. */
void macx_watch_alias (uint64_t seed, const char *provider, const char *name, const char *dob,
                       char out[MACX_WATCH_ALIAS]);

/* Whether the closure gateway puts a subject of this closure category on
 * the watch. */
bool macx_watch_watched (const macx_scenario_t *scn, const char *category);

/* Whether subject s re-engages (more often the higher its latent risk),
 * and if so when (*at, simulated ms; inside the watch window, after its
 * closure). */
bool macx_watch_reengages (const macx_scenario_t *scn, const macx_subject_t *s, int64_t *at);

/* The events provider sees on person s of the cohort, in time order: its
 * ordinary ones if s is a customer (rate a year over the window) and, if s
 * re-engages and this feed is part of it, one signal event within ten days
 * of the re-engagement. Fills out[0..k) (k returned, at most max). */
size_t macx_watch_events (const macx_scenario_t *scn, const macx_scn_agency_t *provider,
                          const macx_subject_t *s, macx_watch_event_t *out, size_t max);

/* How many events provider sees on its customers who are not subjects
 * (as many such customers as subjects times its customer share; none of
 * them can match the watch-list, so only their expected number is counted). */
uint64_t macx_watch_other_events (const macx_scenario_t *scn, const macx_scn_agency_t *provider);

#endif
