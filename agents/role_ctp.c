/* role_ctp.c -- the role of an agency of kind ctp: a CTP unit that owns the
 * cases of the MACs it chairs (the region's unit for a regional MAC, the
 * national unit for the NMAC and the cases it takes in overflow). It runs
 * the police checks and shares with the MAC's partners, integrates their
 * answers into the profile and its Level, and chairs the panel. Owns the
 * per-case state of its MACs' cases. */
#include <math.h>
#include <string.h>

#include "agency_int.h"
#include "json.h"

static int s_count (uint32_t mask) { return __builtin_popcount (mask); }

/* The MAC of ours that takes a case from region: the region's own if we
 * chair it, else the national MAC if we chair that (a case MI5 routed to it
 * in overflow, or from a region without a MAC of its own). */
static const macx_scn_mac_t *
s_our_mac (const macx_agency_proc_t *self, const char *region)
{
    const macx_scn_mac_t *m = macx_scenario_mac_for (&self->scn, region);
    if (m && strcmp (m->chair, self->me->id) == 0)
        return m;
    const macx_scn_mac_t *nat = macx_scenario_national (&self->scn);
    return nat && strcmp (nat->chair, self->me->id) == 0 ? nat : NULL;
}

/* Level from the behavioural baseline: risk at closure, indicators,
 * concerning findings, and noise, all deterministic per subject. */
static void
s_assess (macx_agency_proc_t *self, macx_agency_subject_t *s)
{
    double base = strcmp (s->category, "CAT-A") == 0 ? 0.42 : strcmp (s->category, "CAT-B") == 0 ? 0.32 : 0.22;
    char stream[64];
    snprintf (stream, sizeof stream, "behaviour/%s", s->id);
    double u1 = macx_agency_draw (self, stream, 0), u2 = macx_agency_draw (self, stream, 1);
    double noise = self->scn.behaviour.noise_sigma * sqrt (-2.0 * log (u1)) * cos (2.0 * M_PI * u2);
    s->score = base + self->scn.behaviour.indicator_weight * s->nind
               + self->scn.behaviour.holding_weight * s->concerns + noise;
    s->level = s->score >= self->scn.behaviour.level3_threshold ? 3
               : s->score >= self->scn.behaviour.level2_threshold ? 2 : 1;
}

/* The panel's decision: disposals drawn by level, each with an owner. */
static void
s_decide (macx_agency_proc_t *self, macx_agency_subject_t *s)
{
    char stream[64];
    snprintf (stream, sizeof stream, "disposal/%s", s->id);
    s->nproposals = 0;
    for (int pick = 0; pick < 2; pick++) {
        if (pick == 1 && macx_agency_draw (self, stream, 100) > 0.35)
            break;
        double u = macx_agency_draw (self, stream, (uint64_t) pick), acc = 0;
        const macx_scn_disposal_t *chosen = NULL;
        for (int i = 0; i < self->scn.ndisposals; i++) {
            acc += self->scn.disposals[i].p[s->level];
            if (u <= acc) {
                chosen = &self->scn.disposals[i];
                break;
            }
        }
        if (!chosen)
            continue;
        bool dup = false;
        for (int i = 0; i < s->nproposals; i++)
            dup |= strcmp (s->proposals[i], chosen->kind) == 0;
        if (dup)
            continue;
        const char *owner = self->me->id;
        if (strcmp (chosen->owner_kind, "mi5") == 0)
            owner = self->mi5->id;
        else if (s->mac)
            for (int i = 0; i < s->mac->nmembers; i++)
                if (strcmp (macx_agency_kind_of (self, s->mac->members[i]), chosen->owner_kind) == 0) {
                    owner = s->mac->members[i];
                    break;
                }
        snprintf (s->proposals[s->nproposals], sizeof s->proposals[0], "%s", chosen->kind);
        snprintf (s->proposers[s->nproposals], sizeof s->proposers[0], "%s", owner);
        s->nproposals++;
    }
    s->decided = true;
}

static void
s_maybe_integrate (macx_agency_proc_t *self, int subject, int64_t sim)
{
    macx_agency_subject_t *s = &self->subjects[subject];
    /* Not before our own checks are done and we have shared: answers that
     * come earlier (MI5 shared first) wait for that. */
    if (s->work_started[MACX__PHASE__ENRICHMENT] || s->stalled || !s->share_sim)
        return;
    uint32_t waiting = (s->reached | s->pending) & ~s->answered & ~s->unreachable;
    if (waiting == 0 && s_count (s->answered) > 0)
        macx_agency_work (self, subject, MACX__PHASE__ENRICHMENT, sim);
    else if (s->pending == 0 && s->reached == 0 && s->unreachable
             && s_count (s->unreachable) == (s->mac ? s->mac->nmembers : 0))
        macx_agency_stall (self, subject, MACX__PHASE__SHARING, "NO_PARTNER_REACHABLE", NULL,
                           "no partner of the subject's MAC could be reached under the agreements "
                           "in force", sim);
}

static void
s_work_done (macx_agency_proc_t *self, int subject, int phase, int64_t sim)
{
    macx_agency_subject_t *s = &self->subjects[subject];
    const char *purpose = self->scn.workflow.purpose;
    if (phase == MACX__PHASE__IDENTIFICATION) {
        macx_agency_share_with_members (self, subject, sim);
        macx_agency_timer (self, sim + (int64_t) self->scn.enrichment_wait_days * MACX_DAY_MS,
                           MACX_T_WAIT, subject, MACX__PHASE__ENRICHMENT, NULL);
        s_maybe_integrate (self, subject, sim);   /* answers may be in already */
    }
    else if (phase == MACX__PHASE__ENRICHMENT) {
        s_assess (self, s);
        macx_agency_outcome_begin (self, s, "level", sim);
        fprintf (self->outcomes, ",\"level\":%d,\"score\":%.4f,\"answers\":%d,\"concerns\":%d",
                 s->level, s->score, s_count (s->answered), s->concerns);
        macx_agency_outcome_end (self);
        s->profiled = true;
        macx_agency_send (self, subject, self->mi5->id, "profile", MACX__PHASE__PROFILING, purpose, sim);
        for (int i = 0; s->mac && i < s->mac->nmembers; i++)
            if (s->answered & (1u << i))
                macx_agency_send (self, subject, s->mac->members[i], "profile", MACX__PHASE__PROFILING,
                                  purpose, sim);
        if (self->scn.workflow.profile_review)
            macx_agency_timer (self, sim + (int64_t) self->scn.enrichment_wait_days * MACX_DAY_MS,
                               MACX_T_WAIT, subject, MACX__PHASE__PROFILING, NULL);
        else
            macx_agency_work (self, subject, MACX__PHASE__PROFILING, sim);
    }
    else if (phase == MACX__PHASE__PROFILING) {
        /* the panel: the agenda to the members who took part */
        s->agenda_sent = true;
        s->agenda = s->answered;   /* a later answer does not join this panel */
        for (int i = 0; s->mac && i < s->mac->nmembers; i++)
            if (s->agenda & (1u << i))
                macx_agency_send (self, subject, s->mac->members[i], "panel_plan", MACX__PHASE__PANEL,
                                  purpose, sim);
        macx_agency_timer (self, sim + (int64_t) self->scn.enrichment_wait_days * MACX_DAY_MS,
                           MACX_T_WAIT, subject, MACX__PHASE__PANEL, NULL);
        if (s_count (s->agenda) == 0)
            macx_agency_work (self, subject, MACX__PHASE__PANEL, sim);
    }
    else if (phase == MACX__PHASE__PANEL) {
        s_decide (self, s);
        for (int i = 0; s->mac && i < s->mac->nmembers; i++)
            if (s->answered & (1u << i))
                macx_agency_send (self, subject, s->mac->members[i], "panel_plan", MACX__PHASE__PANEL,
                                  purpose, sim);
        macx_agency_send (self, subject, self->mi5->id, "panel_plan", MACX__PHASE__PANEL, purpose, sim);
        macx_agency_outcome_begin (self, s, "disposal", sim);
        fprintf (self->outcomes, ",\"level\":%d,\"disposals\":[", s->level);
        bool back = false;
        for (int i = 0; i < s->nproposals; i++) {
            fprintf (self->outcomes, "%s", i ? "," : "");
            macx_json_str (self->outcomes, s->proposals[i]);
            back |= strcmp (s->proposals[i], "referral_back_to_investigation") == 0;
        }
        fprintf (self->outcomes, "],\"back_to_investigation\":%s", back ? "true" : "false");
        macx_agency_outcome_end (self);
    }
}

static void
s_record (macx_agency_proc_t *self, const Macx__Header *h, const Macx__Payload *p, int subject, int64_t sim)
{
    macx_agency_subject_t *s = &self->subjects[subject];
    const char *type = h->record_type;
    int mi = macx_agency_member (s, h->sender);
    if (strcmp (type, "case_file") == 0 && p->case_file) {
        const Macx__CaseFile *c = p->case_file;
        macx_agency_copy (s->name, sizeof s->name, c->subject_name);
        macx_agency_copy (s->dob, sizeof s->dob, c->dob);
        macx_agency_copy (s->address, sizeof s->address, c->address);
        macx_agency_copy (s->postcode, sizeof s->postcode, c->postcode);
        macx_agency_copy (s->region, sizeof s->region, c->region);
        macx_agency_copy (s->category, sizeof s->category, c->closure_category);
        s->nind = 0;
        for (size_t i = 0; i < c->n_risk_indicators && i < 8; i++)
            macx_agency_copy (s->indicators[s->nind++], sizeof s->indicators[0], c->risk_indicators[i]);
        s->mac = s_our_mac (self, s->region);
        if (!s->mac) {
            macx_agency_stall (self, subject, MACX__PHASE__IDENTIFICATION, "NOT_OUR_MAC", NULL,
                               "the case file reached a CTP unit that chairs no MAC taking its "
                               "region", sim);
            return;
        }
        macx_agency_copy (s->chair, sizeof s->chair, self->me->id);
        macx_agency_work (self, subject, MACX__PHASE__IDENTIFICATION, sim);
    }
    else if (strcmp (type, "enrichment") == 0 && p->enrichment && mi >= 0) {
        if (s->answered & (1u << mi))
            return;
        s->answered |= 1u << mi;
        const Macx__Enrichment *e = p->enrichment;
        for (size_t i = 0; i < e->n_holdings; i++) {
            s->nholdings++;
            /* a concern is anything but a plain administrative record */
            if (e->holdings[i]->match && strcmp (e->holdings[i]->match, "exact") == 0
                && e->holdings[i]->detail && strncmp (e->holdings[i]->detail, "concern:", 8) == 0)
                s->concerns++;
        }
        for (size_t i = 0; i < e->n_interventions && s->nproposals < MACX_AGENCY_MAX_PROPOSALS; i++) {
            macx_agency_copy (s->proposals[s->nproposals], sizeof s->proposals[0], e->interventions[i]->kind);
            macx_agency_copy (s->proposers[s->nproposals], sizeof s->proposers[0], h->sender);
            s->nproposals++;
        }
        s_maybe_integrate (self, subject, sim);
    }
    else if (strcmp (type, "profile") == 0 && strcmp (macx_agency_kind_of (self, h->sender), "mi5") == 0) {
        s->reviewed = true;
        if (s->profiled)
            macx_agency_work (self, subject, MACX__PHASE__PROFILING, sim);
    }
    else if (strcmp (type, "panel_plan") == 0 && mi >= 0) {
        s->responded |= 1u << mi;
        if ((s->responded & s->agenda) == s->agenda && s->agenda_sent)
            macx_agency_work (self, subject, MACX__PHASE__PANEL, sim);
    }
}

static void
s_accepted (macx_agency_proc_t *self, const macx_agency_send_t *c)
{
    macx_agency_subject_t *s = &self->subjects[c->subject];
    int mi = macx_agency_member (s, c->to);
    if (strcmp (c->type, "share") == 0 && mi >= 0) {
        s->reached |= 1u << mi;
        s->pending &= ~(1u << mi);
    }
}

static void
s_given_up (macx_agency_proc_t *self, const macx_agency_send_t *c, const macx_agent_event_t *ev, int64_t now)
{
    (void) ev;
    macx_agency_subject_t *s = &self->subjects[c->subject];
    int mi = macx_agency_member (s, c->to);
    if (strcmp (c->type, "share") == 0 && mi >= 0) {
        s->pending &= ~(1u << mi);
        s->unreachable |= 1u << mi;
        s_maybe_integrate (self, c->subject, now);
    }
}

static void
s_timer (macx_agency_proc_t *self, const macx_agency_timer_t *t)
{
    if (t->kind != MACX_T_WAIT)
        return;
    macx_agency_subject_t *s = &self->subjects[t->subject];
    if (s->stalled)
        return;
    if (t->phase == MACX__PHASE__ENRICHMENT && !s->work_started[MACX__PHASE__ENRICHMENT]) {
        /* Go on with what has come, unless a partner has not even been
         * reached yet (its share waits for an agreement): a late
         * agreement delays the case rather than leaving that partner
         * out. With nothing yet, wait on while a partner was reached (or
         * may still be) and the deadline allows. */
        bool waiting = ((s->reached | s->pending) & ~s->unreachable) != 0;
        bool unreached = (s->pending & ~s->reached & ~s->answered & ~s->unreachable) != 0;
        int64_t waited = t->sim - s->share_sim;
        bool in_time = waited < (int64_t) self->scn.deadline_days * MACX_DAY_MS;
        if (s_count (s->answered) > 0 && !(unreached && in_time))
            macx_agency_work (self, t->subject, MACX__PHASE__ENRICHMENT, t->sim);
        else if (waiting && in_time)
            macx_agency_timer (self, t->sim + (int64_t) self->scn.enrichment_wait_days * MACX_DAY_MS,
                               MACX_T_WAIT, t->subject, t->phase, NULL);
        else
            macx_agency_stall (self, t->subject, MACX__PHASE__SHARING, "NO_ANSWER", NULL,
                               "no partner answered before the deadline", t->sim);
    }
    else if (t->phase == MACX__PHASE__PROFILING && !s->work_started[MACX__PHASE__PROFILING])
        macx_agency_work (self, t->subject, MACX__PHASE__PROFILING, t->sim);
    else if (t->phase == MACX__PHASE__PANEL && !s->work_started[MACX__PHASE__PANEL])
        macx_agency_work (self, t->subject, MACX__PHASE__PANEL, t->sim);
}

const macx_agency_role_t macx_role_ctp = {
    .name = "ctp",
    .timer = s_timer,
    .work_done = s_work_done,
    .record = s_record,
    .accepted = s_accepted,
    .given_up = s_given_up,
};
