/* role_mi5.c -- the role of the agency of kind mi5: the closure gateway
 * (a subject closes with the category its case file records), the routing
 * of each closed case to a MAC (the region's own, or the national MAC when
 * the regional one is over its configured load: "MAC in a box"), the case
 * file to that MAC's chair, MI5's share with the MAC's partners, and its
 * review of the integrated profile; and MI5's side of the closed-subject
 * watch: the gateway puts the watched categories on each provider's
 * watch-list (keyed pseudonyms only), a tripwire or an item of unsolicited
 * intelligence on a closed subject becomes an alert to the triage point
 * (the subject's owning CTP unit, with MI5), and a triage decision may
 * reopen the subject. Owns its cohort's timers, the count of open cases per
 * MAC, and who is watched and reopened. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "agency_int.h"
#include "clock.h"
#include "json.h"
#include "names.h"
#include "watch.h"

/* Per subject (one allocation, self->watch): on the watch, and reopened. */
typedef struct {
    bool watched, reopened;
} s_watch_t;

/* An alert to the triage point: the subject's owning CTP unit. */
static void
s_alert (macx_agency_proc_t *self, int subject, const char *source, const char *event, const char *on,
         int64_t sim)
{
    macx_agency_subject_t *s = &self->subjects[subject];
    macx_agency_outcome_begin (self, s, "alert", sim);
    fprintf (self->outcomes, ",\"source\":\"%s\",\"what\":", source);
    macx_json_str (self->outcomes, event);
    fprintf (self->outcomes, ",\"to\":");
    macx_json_str (self->outcomes, s->chair);
    macx_agency_outcome_end (self);
    const char *const fields[][2] = { { "source", source }, { "event", event }, { "occurred_on", on } };
    macx_agency_send_fields (self, subject, NULL, s->chair, "alert", fields, 3, sim);
}

/* The closure gateway's watch: a watched category goes on every provider's
 * list, each under the pseudonym of that provider's agreement. */
static void
s_watch (macx_agency_proc_t *self, int subject, int64_t sim)
{
    macx_agency_subject_t *s = &self->subjects[subject];
    if (!self->scn.watch.on || !macx_watch_watched (&self->scn, s->category) || !s->chair[0])
        return;
    ((s_watch_t *) self->watch)[subject].watched = true;
    macx_agency_outcome_begin (self, s, "watched", sim);
    fprintf (self->outcomes, ",\"category\":");
    macx_json_str (self->outcomes, s->category);
    macx_agency_outcome_end (self);
    const char *const fields[][2] = { { "entry", "add" } };
    for (int i = 0; i < self->scn.nagencies; i++) {
        const macx_scn_agency_t *a = &self->scn.agencies[i];
        if (strcmp (a->kind, "provider") != 0)
            continue;
        char alias[MACX_WATCH_ALIAS];
        macx_watch_alias (self->scn.seed, a->id, s->name, s->dob, alias);
        macx_agency_send_fields (self, subject, alias, a->id, "watch_list", fields, 1, sim);
    }
}

/* A tripwire names a pseudonym under its sender's agreement: the watched
 * subject it is, or -1 (then it is not ours to read). */
static int
s_alias (macx_agency_proc_t *self, const Macx__Header *h)
{
    if (strcmp (h->record_type, "tripwire") != 0 || strcmp (macx_agency_kind_of (self, h->sender), "provider"))
        return -1;
    const s_watch_t *w = self->watch;
    for (int i = 1; i <= self->nsubjects; i++) {
        if (!w[i].watched)
            continue;
        char alias[MACX_WATCH_ALIAS];
        macx_watch_alias (self->scn.seed, h->sender, self->subjects[i].name, self->subjects[i].dob, alias);
        if (strcmp (alias, h->subject) == 0)
            return i;
    }
    return -1;
}

/* The MAC that takes a newly closed case from region: the region's own
 * unless that one is at its overflow load, when the national MAC does. */
static const macx_scn_mac_t *
s_route (macx_agency_proc_t *self, const char *region, bool *overflow)
{
    const macx_scn_mac_t *m = macx_scenario_mac_for (&self->scn, region);
    *overflow = false;
    if (m && m->overflow_load > 0 && self->mac_open[m - self->scn.macs] >= m->overflow_load) {
        const macx_scn_mac_t *nat = macx_scenario_national (&self->scn);
        if (nat) {
            *overflow = true;
            m = nat;
        }
    }
    return m;
}

/* A subject closes: route the case, refer it to the MAC's chair, prepare it. */
static void
s_close (macx_agency_proc_t *self, int subject, int64_t sim)
{
    macx_agency_subject_t *s = &self->subjects[subject];
    bool overflow = false;
    s->mac = s_route (self, s->region, &overflow);
    s->closed = true;
    if (s->mac) {
        self->mac_open[s->mac - self->scn.macs]++;
        macx_agency_copy (s->chair, sizeof s->chair, s->mac->chair);
    }
    macx_agency_outcome_begin (self, s, "closed", sim);
    fprintf (self->outcomes, ",\"region\":");
    macx_json_str (self->outcomes, s->region);
    fprintf (self->outcomes, ",\"mac\":");
    macx_json_str (self->outcomes, s->mac ? s->mac->id : "");
    fprintf (self->outcomes, ",\"owner\":");
    macx_json_str (self->outcomes, s->chair);
    fprintf (self->outcomes, ",\"category\":");
    macx_json_str (self->outcomes, s->category);
    fprintf (self->outcomes, ",\"overflow\":%s", overflow ? "true" : "false");
    if (overflow)
        fprintf (self->outcomes, ",\"open_at_regional_mac\":%d",
                 self->mac_open[macx_scenario_mac_for (&self->scn, s->region) - self->scn.macs]);
    macx_agency_outcome_end (self);
    if (s->chair[0])
        macx_agency_send (self, subject, s->chair, "case_file", MACX__PHASE__IDENTIFICATION,
                          self->scn.workflow.purpose, sim);
    /* Live-subject sharing goes to the local authorities only: they are
     * the partners the live-sharing agreements name. */
    if (self->scn.workflow.share_during_identification && s->mac)
        for (int i = 0; i < s->mac->nmembers; i++)
            if (strcmp (macx_agency_kind_of (self, s->mac->members[i]), "local_authority") == 0)
                macx_agency_send (self, subject, s->mac->members[i], "share",
                                  MACX__PHASE__IDENTIFICATION, self->scn.workflow.live_purpose, sim);
    macx_agency_work (self, subject, MACX__PHASE__IDENTIFICATION, sim);
    s_watch (self, subject, sim);
}

static void
s_timer (macx_agency_proc_t *self, const macx_agency_timer_t *t)
{
    if (t->kind == MACX_T_CLOSE)
        s_close (self, t->subject, t->sim);
    else if (t->kind == MACX_T_INTEL && self->subjects[t->subject].closed
             && self->subjects[t->subject].chair[0]) {
        char date[11];
        s_alert (self, t->subject, "unsolicited", "intelligence report",
                 macx_date_format ((int32_t) (t->sim / MACX_DAY_MS), date), t->sim);
    }
}

static void
s_work_done (macx_agency_proc_t *self, int subject, int phase, int64_t sim)
{
    macx_agency_subject_t *s = &self->subjects[subject];
    if (phase == MACX__PHASE__IDENTIFICATION)
        macx_agency_share_with_members (self, subject, sim);
    else if (phase == MACX__PHASE__PROFILING && s->chair[0])
        macx_agency_send (self, subject, s->chair, "profile", MACX__PHASE__PROFILING,
                          self->scn.workflow.purpose, sim);
}

static void
s_record (macx_agency_proc_t *self, const Macx__Header *h, const Macx__Payload *p, int subject, int64_t sim)
{
    macx_agency_subject_t *s = &self->subjects[subject];
    if (strcmp (h->record_type, "profile") == 0 && p->profile) {
        /* MI5's review answers with the level it was given */
        s->level = p->profile->level;
        s->score = p->profile->baseline_score / 100.0;
        if (self->scn.workflow.profile_review)
            macx_agency_work (self, subject, MACX__PHASE__PROFILING, sim);
    }
    else if (strcmp (h->record_type, "tripwire") == 0)
        s_alert (self, subject, "tripwire", macx_agency_field (p, "event"),
                 macx_agency_field (p, "occurred_on"), sim);
    else if (strcmp (h->record_type, "triage_decision") == 0) {
        s_watch_t *w = &((s_watch_t *) self->watch)[subject];
        if (strcmp (macx_agency_field (p, "decision"), "reopen") == 0 && !w->reopened) {
            w->reopened = true;
            macx_agency_outcome_begin (self, s, "reopened", sim);
            fprintf (self->outcomes, ",\"by\":");
            macx_json_str (self->outcomes, h->sender);
            macx_agency_outcome_end (self);
        }
    }
    else if (strcmp (h->record_type, "panel_plan") == 0 && p->panel_plan && !s->decided
             && p->panel_plan->decided_on && *p->panel_plan->decided_on) {
        /* the plan is issued: the case no longer weighs on its MAC's load */
        s->decided = true;
        if (s->mac && self->mac_open[s->mac - self->scn.macs] > 0)
            self->mac_open[s->mac - self->scn.macs]--;
    }
}

static void
s_given_up (macx_agency_proc_t *self, const macx_agency_send_t *c, const macx_agent_event_t *ev, int64_t now)
{
    if (strcmp (c->type, "case_file") == 0)
        macx_agency_stall (self, c->subject, MACX__PHASE__IDENTIFICATION, macx_reason_name (ev->reason),
                           ev->agreement, "MI5 could not refer the case to the MAC's CTP unit", now);
}

/* The cohort from our database, each subject's closure a timer. */
static int
s_start (macx_agency_proc_t *self, macx_error_t *err)
{
    self->mac_open = calloc ((size_t) self->scn.nmacs + 1, sizeof *self->mac_open);
    self->watch = calloc ((size_t) self->nsubjects + 1, sizeof (s_watch_t));
    if (!self->mac_open || !self->watch)
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    macx_subject_t *cohort = NULL;
    size_t n = 0;
    int rc = macx_synth_subjects (self->db, &cohort, &n, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        int idx = macx_agency_subject_index (self, cohort[i].id);
        if (idx < 0)
            continue;
        macx_agency_subject_t *s = &self->subjects[idx];
        s->known = true;
        macx_agency_copy (s->id, sizeof s->id, cohort[i].id);
        macx_agency_copy (s->case_id, sizeof s->case_id, cohort[i].case_id);
        macx_agency_copy (s->name, sizeof s->name, cohort[i].name);
        macx_agency_copy (s->dob, sizeof s->dob, cohort[i].dob);
        macx_agency_copy (s->address, sizeof s->address, cohort[i].address);
        macx_agency_copy (s->postcode, sizeof s->postcode, cohort[i].postcode);
        macx_agency_copy (s->region, sizeof s->region, cohort[i].region);
        macx_agency_copy (s->category, sizeof s->category, cohort[i].closure_category);
        macx_agency_copy (s->kis_ref, sizeof s->kis_ref, cohort[i].kis_ref);
        macx_agency_copy (s->kis_summary, sizeof s->kis_summary, cohort[i].kis_summary);
        s->nind = cohort[i].nindicators < 8 ? cohort[i].nindicators : 8;
        for (int k = 0; k < s->nind; k++)
            macx_agency_copy (s->indicators[k], sizeof s->indicators[0], cohort[i].indicators[k]);
        char stream[64];
        snprintf (stream, sizeof stream, "closure/%s", s->id);
        double frac = macx_agency_draw (self, stream, 0);
        macx_agency_timer (self, self->start_ms + (int64_t) (((double) cohort[i].closure_day + frac)
                                                             * MACX_DAY_MS),
                           MACX_T_CLOSE, idx, 0, NULL);
        /* unsolicited intelligence on a closed subject, some time after closure */
        double first = cohort[i].closure_day + 1.0, last = self->scn.watch.window_days;
        snprintf (stream, sizeof stream, "watch/unsolicited/%s", s->id);
        if (self->scn.watch.on && last > first
            && macx_agency_draw (self, stream, 0) < self->scn.watch.unsolicited)
            macx_agency_timer (self, self->start_ms + (int64_t) ((first + macx_agency_draw (self, stream, 1)
                                                                          * (last - first)) * MACX_DAY_MS),
                               MACX_T_INTEL, idx, 0, NULL);
    }
    free (cohort);
    return MACX_OK;
}

const macx_agency_role_t macx_role_mi5 = {
    .name = "mi5",
    .start = s_start,
    .alias = s_alias,
    .timer = s_timer,
    .work_done = s_work_done,
    .record = s_record,
    .given_up = s_given_up,
};
