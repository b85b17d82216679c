/* role_provider.c -- the role of an agency of kind provider: a data
 * provider (vehicle hire, airline, chemicals supplier) that runs tripwires
 * for the closed-subject watch under its own agreement with MI5. It holds
 * the watch-list as MI5 sends it, keyed pseudonyms only, never a name;
 * for each event on one of its customers it computes the customer's
 * pseudonym under the agreement's key and sends MI5 a tripwire only when
 * that pseudonym is on the list: MI5 learns nothing of anyone not watched,
 * and the provider learns only that a customer of its is watched when that
 * customer's event matches. Owns the list. */
#include <stdlib.h>
#include <string.h>

#include "clock.h"

#include "agency_int.h"
#include "json.h"
#include "names.h"
#include "watch.h"

/* The watch-list: which of our subject slots hold a pseudonym on it. */
typedef struct {
    int nslots;                 /* slots used, 1..nslots */
    bool listed[];              /* by slot */
} s_list_t;

static int
s_start (macx_agency_proc_t *self, macx_error_t *err)
{
    s_list_t *l = calloc (1, sizeof *l + ((size_t) self->nsubjects + 1) * sizeof (bool));
    if (!l)
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    self->watch = l;
    if (!self->scn.watch.on)
        return MACX_OK;
    /* our customers' events: the subjects among them (we do not know they
     * are), one timer per event, and how many the others make */
    for (int i = 1; i <= self->nsubjects; i++) {
        macx_subject_t sub;
        macx_synth_subject (&self->scn, i, &sub);
        macx_watch_event_t ev[MACX_WATCH_MAX_EVENTS];
        size_t n = macx_watch_events (&self->scn, self->me, &sub, ev, MACX_WATCH_MAX_EVENTS);
        for (size_t k = 0; k < n; k++)
            macx_agency_timer (self, ev[k].sim, MACX_T_EVENT, i, (int) k, NULL);
    }
    static const macx_agency_subject_t none;
    macx_agency_outcome_begin (self, &none, "feed", self->start_ms);
    fprintf (self->outcomes, ",\"feed\":\"%s\",\"other_events\":%llu", self->me->feed,
             (unsigned long long) macx_watch_other_events (&self->scn, self->me));
    macx_agency_outcome_end (self);
    return MACX_OK;
}

/* The slot of a pseudonym on the list, or -1. */
static int
s_find (const macx_agency_proc_t *self, const char *alias)
{
    const s_list_t *l = self->watch;
    for (int k = 1; k <= l->nslots; k++)
        if (strcmp (self->subjects[k].id, alias) == 0)
            return k;
    return -1;
}

/* A watch-list entry from MI5: its pseudonym gets a slot of ours. */
static int
s_alias (macx_agency_proc_t *self, const Macx__Header *h)
{
    s_list_t *l = self->watch;
    if (strcmp (h->record_type, "watch_list") != 0 || strncmp (h->subject, "W-", 2) != 0)
        return -1;
    int k = s_find (self, h->subject);
    if (k < 0 && l->nslots < self->nsubjects)
        k = ++l->nslots;   /* the runtime files the pseudonym in it */
    return k;
}

static void
s_record (macx_agency_proc_t *self, const Macx__Header *h, const Macx__Payload *p, int subject, int64_t sim)
{
    (void) sim;
    s_list_t *l = self->watch;
    if (strcmp (h->record_type, "watch_list") == 0)
        l->listed[subject] = strcmp (macx_agency_field (p, "entry"), "remove") != 0;
}

static void
s_timer (macx_agency_proc_t *self, const macx_agency_timer_t *t)
{
    if (t->kind != MACX_T_EVENT)
        return;
    macx_subject_t sub;
    macx_synth_subject (&self->scn, t->subject, &sub);
    macx_watch_event_t ev[MACX_WATCH_MAX_EVENTS];
    size_t n = macx_watch_events (&self->scn, self->me, &sub, ev, MACX_WATCH_MAX_EVENTS);
    if (t->phase < 0 || (size_t) t->phase >= n)
        return;
    char alias[MACX_WATCH_ALIAS], date[11];
    macx_watch_alias (self->scn.seed, self->me->id, sub.name, sub.dob, alias);
    int k = s_find (self, alias);
    bool matched = k > 0 && ((s_list_t *) self->watch)->listed[k];
    /* the simulator's count of what the feed saw: whether it matched, and
     * (synthetic truth, never sent) whether it was part of a re-engagement */
    static const macx_agency_subject_t none;
    macx_agency_outcome_begin (self, &none, "watch_event", t->sim);
    fprintf (self->outcomes, ",\"feed\":\"%s\",\"matched\":%s,\"signal\":%s", self->me->feed,
             matched ? "true" : "false", ev[t->phase].signal ? "true" : "false");
    macx_agency_outcome_end (self);
    if (!matched)
        return;
    const char *const fields[][2] = {
        { "event", self->me->feed },
        { "occurred_on", macx_date_format ((int32_t) (t->sim / MACX_DAY_MS), date) },
    };
    macx_agency_send_fields (self, k, alias, self->mi5->id, "tripwire", fields, 2, t->sim);
}

const macx_agency_role_t macx_role_provider = {
    .name = "provider",
    .start = s_start,
    .alias = s_alias,
    .timer = s_timer,
    .record = s_record,
};
