/* role_mi5.c -- the role of the agency of kind mi5: the closure gateway
 * (a subject closes with the category its case file records), the routing
 * of each closed case to a MAC (the region's own, or the national MAC when
 * the regional one is over its configured load: "MAC in a box"), the case
 * file to that MAC's chair, MI5's share with the MAC's partners, and its
 * review of the integrated profile. Owns its cohort's timers and the count
 * of open cases per MAC. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "agency_int.h"
#include "json.h"
#include "names.h"

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
}

static void
s_timer (macx_agency_proc_t *self, const macx_agency_timer_t *t)
{
    if (t->kind == MACX_T_CLOSE)
        s_close (self, t->subject, t->sim);
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
    if (!self->mac_open)
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
    }
    free (cohort);
    return MACX_OK;
}

const macx_agency_role_t macx_role_mi5 = {
    .name = "mi5",
    .start = s_start,
    .timer = s_timer,
    .work_done = s_work_done,
    .record = s_record,
    .given_up = s_given_up,
};
