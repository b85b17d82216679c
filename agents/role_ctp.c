/* role_ctp.c -- the role of an agency of kind ctp: a CTP unit that owns the
 * cases of the MACs it chairs (the region's unit for a regional MAC, the
 * national unit for the NMAC and the cases it takes in overflow). It runs
 * the police checks and shares with the MAC's partners, integrates their
 * answers into the profile and its Level, and chairs the panel. Owns the
 * per-case state of its MACs' cases. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agency_int.h"
#include <inttypes.h>

#include "json.h"
#include "names.h"
#include "watch.h"

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

/* Adds source to a list of distinct sources (at most 12; NULL or "" not). */
static void
s_add_source (char list[12][32], int *n, const char *src)
{
    if (!src || !*src)
        return;
    for (int k = 0; k < *n; k++)
        if (strcmp (list[k], src) == 0)
            return;
    if (*n < 12)
        macx_agency_copy (list[(*n)++], sizeof list[0], src);
}

/* The Level from the evidence the profile integrated (docs/pilot.md, "Levels
 * from evidence"): each independent strand of concern counts once: a
 * source with a concerning finding on the subject's own record (partners'
 * answers, exact or confirmed, and CTP's own police holdings), a closure
 * category the scenario lists, and a case with many risk indicators.
 * Level 3 needs police intelligence among its strands: it goes back to
 * investigation. No noise and no score tuned per run: the share at each
 * Level is what the evidence gives. s->score holds the strands. */
static void
s_assess (macx_agency_proc_t *self, macx_agency_subject_t *s)
{
    macx_holding_t h[16];
    size_t nh = 0;
    macx_synth_lookup (self->db, s->name, s->dob, s->region, h, 16, &nh);
    s->police_concerns = 0;
    for (size_t i = 0; i < nh; i++)
        if (h[i].concern && strcmp (h[i].match, "exact") == 0) {
            s->police_concerns++;
            s_add_source (s->concern_sources, &s->nconcern_sources, h[i].source);
        }
    const macx_scn_evidence_t *ev = &self->scn.evidence;
    int strands = s->nconcern_sources;
    for (int i = 0; i < ev->ncategory_strand; i++)
        strands += strcmp (s->category, ev->category_strand[i]) == 0;
    strands += ev->indicators_strand > 0 && s->nind >= ev->indicators_strand;
    s->score = strands;
    s->level = strands >= ev->level3_strands && s->police_concerns > 0 ? 3
               : strands >= ev->level2_strands                        ? 2
                                                                      : 1;
}

static bool
s_has_source (const macx_agency_subject_t *s, const char *source)
{
    for (int i = 0; i < s->nsources; i++)
        if (strcmp (s->sources[i], source) == 0)
            return true;
    return false;
}

static void
s_offer (macx_agency_subject_t *s, const char *kind, const char *owner)
{
    for (int i = 0; i < s->noffers; i++)
        if (strcmp (s->offers[i], kind) == 0 && strcmp (s->offerers[i], owner) == 0)
            return;
    if (s->noffers < MACX_AGENCY_MAX_PROPOSALS) {
        macx_agency_copy (s->offers[s->noffers], sizeof s->offers[0], kind);
        macx_agency_copy (s->offerers[s->noffers++], sizeof s->offerers[0], owner);
    }
}

/* Who offered the scenario's disposal d, as an owner of the right kind;
 * NULL if nobody did. */
static const char *
s_offered_by (const macx_agency_proc_t *self, const macx_agency_subject_t *s,
              const macx_scn_disposal_t *d)
{
    for (int i = 0; i < s->noffers; i++)
        if (strcmp (s->offers[i], d->kind) == 0
            && strcmp (macx_agency_kind_of (self, s->offerers[i]), d->owner_kind) == 0)
            return s->offerers[i];
    return NULL;
}

static void
s_issue (macx_agency_subject_t *s, const char *kind, const char *owner)
{
    macx_agency_copy (s->proposals[s->nproposals], sizeof s->proposals[0], kind);
    macx_agency_copy (s->proposers[s->nproposals++], sizeof s->proposers[0], owner);
}

/* The panel's decision, from what its members offered and the profile:
 * Level 3 goes back to investigation; a Level 1 case takes an offered
 * intervention only by the scenario's chance, else no further action; a
 * Level 2 case takes the offered interventions in the scenario's order of
 * preference, up to max_disposals. A disposal is issued only to an agency
 * that offered it and is of its owner kind, and one that needs a holding
 * source (health's information for mental-health support) only when the
 * profile holds it. The chair offers what CTP itself can do: no further
 * action, the referral back to investigation, and Prevent when its own
 * police holdings raise concern. The plan goes in proposals/proposers. */
static void
s_decide (macx_agency_proc_t *self, macx_agency_subject_t *s)
{
    s_offer (s, "no_further_action", self->me->id);
    s_offer (s, "referral_back_to_investigation", self->me->id);
    macx_holding_t h[16];
    size_t nh = 0;
    macx_synth_lookup (self->db, s->name, s->dob, s->region, h, 16, &nh);
    Macx__Intervention iv[8];
    char storage[8][3][200];
    size_t ni = macx_synth_interventions (self->me, h, nh, iv, storage, 8);
    for (size_t i = 0; i < ni; i++)
        s_offer (s, iv[i].kind, self->me->id);
    char stream[64];
    snprintf (stream, sizeof stream, "panel/%s", s->id);
    bool intervene = s->level == 2
                     || (s->level == 1 && macx_agency_draw (self, stream, 0) < self->scn.panel.level1_intervention);
    int max = s->level == 1 ? 1 : self->scn.panel.max_disposals;
    s->nproposals = 0;
    for (int i = 0; i < self->scn.ndisposals; i++) {
        const macx_scn_disposal_t *d = &self->scn.disposals[i];
        const char *by = s_offered_by (self, s, d);
        bool back = strcmp (d->kind, "referral_back_to_investigation") == 0;
        bool nfa = strcmp (d->kind, "no_further_action") == 0;
        if (!by || (d->needs[0] && !s_has_source (s, d->needs)))
            continue;
        if (s->level == 3 ? back : !back && !nfa && intervene && s->nproposals < max)
            s_issue (s, d->kind, by);
    }
    if (s->nproposals == 0) {   /* nothing (else) to do */
        for (int i = 0; i < self->scn.ndisposals; i++)
            if (strcmp (self->scn.disposals[i].kind, "no_further_action") == 0)
                s_issue (s, "no_further_action", self->me->id);
    }
    s->decided = true;
}

/* The disposal outcome: the plan, who owns each part, what was offered,
 * and why what was not issued could not be (a member not reached under an
 * agreement, with what it could have offered; a need not met). */
static void
s_disposal_outcome (macx_agency_proc_t *self, macx_agency_subject_t *s, int64_t sim)
{
    FILE *o = self->outcomes;
    macx_agency_outcome_begin (self, s, "disposal", sim);
    fprintf (o, ",\"level\":%d,\"mac\":", s->level);
    macx_json_str (o, s->mac ? s->mac->id : "");
    fprintf (o, ",\"disposals\":[");
    bool back = false;
    for (int i = 0; i < s->nproposals; i++) {
        fprintf (o, "%s", i ? "," : "");
        macx_json_str (o, s->proposals[i]);
        back |= strcmp (s->proposals[i], "referral_back_to_investigation") == 0;
    }
    fprintf (o, "],\"owners\":[");
    for (int i = 0; i < s->nproposals; i++) {
        fprintf (o, "%s", i ? "," : "");
        macx_json_str (o, s->proposers[i]);
    }
    fprintf (o, "],\"offers\":[");
    for (int i = 0; i < s->noffers; i++) {
        fprintf (o, "%s{\"kind\":", i ? "," : "");
        macx_json_str (o, s->offers[i]);
        fprintf (o, ",\"by\":");
        macx_json_str (o, s->offerers[i]);
        fputc ('}', o);
    }
    fprintf (o, "],\"unavailable\":[");
    int n = 0;
    for (int i = 0; s->mac && i < s->mac->nmembers; i++) {
        if (s->answered & (1u << i))
            continue;
        const macx_scn_agency_t *a = macx_scenario_agency (&self->scn, s->mac->members[i]);
        const char *kinds[8];
        size_t nk = a ? macx_synth_offers (a, kinds, 8) : 0;
        fprintf (o, "%s{\"agency\":", n++ ? "," : "");
        macx_json_str (o, s->mac->members[i]);
        fprintf (o, ",\"why\":\"%s\",\"agreement\":", s->unreached_why[i][0] ? "NOT_REACHED" : "NO_ANSWER");
        macx_json_str (o, s->unreached_why[i]);
        fprintf (o, ",\"could_offer\":[");
        for (size_t k = 0; k < nk; k++) {
            fprintf (o, "%s", k ? "," : "");
            macx_json_str (o, kinds[k]);
        }
        fprintf (o, "]}");
    }
    for (int i = 0; i < self->scn.ndisposals; i++) {
        const macx_scn_disposal_t *d = &self->scn.disposals[i];
        if (d->needs[0] && s_offered_by (self, s, d) && !s_has_source (s, d->needs)) {
            fprintf (o, "%s{\"kind\":", n++ ? "," : "");
            macx_json_str (o, d->kind);
            fprintf (o, ",\"why\":\"NEEDS\",\"needs\":");
            macx_json_str (o, d->needs);
            fputc ('}', o);
        }
    }
    fprintf (o, "],\"back_to_investigation\":%s", back ? "true" : "false");
    macx_agency_outcome_end (self);
}

/* Books the case on the first sitting of its MAC at least notice_days
 * from sim with room on its agenda; sittings are every_days apart from
 * the start, each MAC a day later than the one before it. */
static int64_t
s_book (macx_agency_proc_t *self, const macx_agency_subject_t *s, int64_t sim)
{
    const int per_mac = 512;
    if (!self->booked) {
        self->nsittings = per_mac;
        self->booked = calloc ((size_t) self->scn.nmacs * (size_t) per_mac, sizeof *self->booked);
        if (!self->booked)
            return sim;
    }
    int m = (int) (s->mac - self->scn.macs);
    int64_t every = (int64_t) self->scn.panel.every_days * MACX_DAY_MS;
    int64_t first = self->start_ms + (int64_t) (m % self->scn.panel.every_days) * MACX_DAY_MS;
    int64_t earliest = sim + (int64_t) self->scn.panel.notice_days * MACX_DAY_MS;
    int k = earliest <= first ? 0 : (int) ((earliest - first + every - 1) / every);
    while (k < per_mac - 1 && self->scn.panel.agenda_limit > 0
           && self->booked[m * per_mac + k] >= self->scn.panel.agenda_limit)
        k++;
    self->booked[m * per_mac + k]++;
    return first + (int64_t) k * every;
}

/* The list of the subject's MAC members in mask, as a JSON array. */
static void
s_members_json (macx_agency_proc_t *self, const macx_agency_subject_t *s, uint32_t mask)
{
    fputc ('[', self->outcomes);
    int n = 0;
    for (int i = 0; s->mac && i < s->mac->nmembers; i++)
        if (mask & (1u << i)) {
            fputs (n++ ? "," : "", self->outcomes);
            macx_json_str (self->outcomes, s->mac->members[i]);
        }
    fputc (']', self->outcomes);
}

/* The wait for partners' answers is over, and enrichment's work begins:
 * what ended it, the last partner's answer (and whose) or the wait that
 * timed out (and for whom) (docs/pilot.md, "Attribution"). Said once per
 * subject: called only before enrichment's work is scheduled, which
 * happens once (macx_agency_work sets work_started). */
static void
s_answers_closed (macx_agency_proc_t *self, const macx_agency_subject_t *s, uint32_t waiting, int64_t sim)
{
    if (s->work_started[MACX__PHASE__ENRICHMENT])
        return;
    macx_agency_outcome_begin (self, s, "answers_closed", sim);
    fprintf (self->outcomes, ",\"how\":\"%s\",\"last\":", waiting ? "wait_timed_out" : "last_answer");
    macx_json_str (self->outcomes, s->last_answerer > 0 && s->mac && s->last_answerer <= s->mac->nmembers
                                       ? s->mac->members[s->last_answerer - 1] : "");
    fputs (",\"answered\":", self->outcomes);
    s_members_json (self, s, s->answered);
    fputs (",\"waited_for\":", self->outcomes);
    s_members_json (self, s, waiting);
    fputs (",\"unreachable\":", self->outcomes);
    s_members_json (self, s, s->unreachable & ~s->answered);
    macx_agency_outcome_end (self);
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
    if (waiting == 0 && s_count (s->answered) > 0) {
        s_answers_closed (self, s, 0, sim);
        macx_agency_work (self, subject, MACX__PHASE__ENRICHMENT, sim);
    }
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
        fprintf (self->outcomes, ",\"level\":%d,\"score\":%.4f,\"answers\":%d,\"concerns\":%d,"
                 "\"police_concerns\":%d,\"indicators\":%d,\"category\":\"%s\",\"concern_sources\":[",
                 s->level, s->score, s_count (s->answered), s->concerns, s->police_concerns, s->nind,
                 s->category);
        for (int i = 0; i < s->nconcern_sources; i++) {
            fputs (i ? "," : "", self->outcomes);
            macx_json_str (self->outcomes, s->concern_sources[i]);
        }
        fputc (']', self->outcomes);
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
        if (self->scn.panel.every_days > 0 && s->mac) {
            s->sitting = s_book (self, s, sim);
            macx_agency_outcome_begin (self, s, "booked", sim);
            fprintf (self->outcomes, ",\"mac\":");
            macx_json_str (self->outcomes, s->mac->id);
            fprintf (self->outcomes, ",\"sitting_sim_ms\":%" PRId64, s->sitting);
            macx_agency_outcome_end (self);
            macx_agency_timer (self, s->sitting, MACX_T_SIT, subject, MACX__PHASE__PANEL, NULL);
            return;
        }
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
        s_disposal_outcome (self, s, sim);
        Macx__PanelPlan plan = MACX__PANEL_PLAN__INIT;   /* what we own of it, we deliver */
        Macx__Disposal ds[MACX_AGENCY_MAX_PROPOSALS], *dp[MACX_AGENCY_MAX_PROPOSALS];
        for (int i = 0; i < s->nproposals; i++) {
            macx__disposal__init (&ds[i]);
            ds[i].kind = s->proposals[i];
            ds[i].owner = s->proposers[i];
            dp[i] = &ds[i];
        }
        plan.disposals = dp;
        plan.n_disposals = (size_t) s->nproposals;
        macx_agency_deliver (self, subject, &plan, sim);
    }
}

static void
s_record (macx_agency_proc_t *self, const Macx__Header *h, const Macx__Payload *p, int subject, int64_t sim)
{
    macx_agency_subject_t *s = &self->subjects[subject];
    const char *type = h->record_type;
    int mi = macx_agency_member (s, h->sender);
    if (strcmp (type, "alert") == 0) {   /* to the triage point: never left unread */
        char stream[64];
        snprintf (stream, sizeof stream, "watch/assess/%s", s->id);
        uint64_t k = 2 * (uint64_t) s->triaged;
        double days = macx_dist_sample (&self->scn.watch.triage, macx_agency_draw (self, stream, k),
                                        macx_agency_draw (self, stream, k + 1));
        macx_agency_timer (self, sim + (int64_t) (days * MACX_DAY_MS), MACX_T_TRIAGE, subject,
                           strcmp (macx_agency_field (p, "source"), "tripwire") == 0 ? 1 : 2, NULL);
        return;
    }
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
        /* what it shares on is MI5's case file: its shares name the origin */
        macx_agency_copy (s->origin, sizeof s->origin, h->sender);
        macx_agency_copy (s->origin_type, sizeof s->origin_type, type);
        macx_agency_work (self, subject, MACX__PHASE__IDENTIFICATION, sim);
    }
    else if (strcmp (type, "enrichment") == 0 && p->enrichment && mi >= 0) {
        if (s->answered & (1u << mi))
            return;
        s->answered |= 1u << mi;
        s->last_answerer = mi + 1;
        const Macx__Enrichment *e = p->enrichment;
        for (size_t i = 0; i < e->n_holdings; i++) {
            s->nholdings++;
            const char *src = e->holdings[i]->source;
            s_add_source (s->sources, &s->nsources, src);
            /* a concern is anything but a plain administrative record, and
             * counts when the record is the subject's: an exact match, or a
             * near match its holder resolved and confirmed */
            const char *match = e->holdings[i]->match ? e->holdings[i]->match : "";
            if ((strcmp (match, "exact") == 0 || strcmp (match, "confirmed") == 0) && e->holdings[i]->detail
                && strncmp (e->holdings[i]->detail, "concern:", 8) == 0) {
                s->concerns++;
                s_add_source (s->concern_sources, &s->nconcern_sources, src);
            }
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
        /* a member offers only what it can deliver itself */
        for (size_t i = 0; p->panel_plan && i < p->panel_plan->n_disposals && !s->decided; i++)
            if (p->panel_plan->disposals[i]->kind && p->panel_plan->disposals[i]->owner
                && strcmp (p->panel_plan->disposals[i]->owner, h->sender) == 0)
                s_offer (s, p->panel_plan->disposals[i]->kind, h->sender);
        if (self->scn.panel.every_days > 0)
            return;   /* the panel sits when its timetable says */
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
    macx_agency_subject_t *s = &self->subjects[c->subject];
    int mi = macx_agency_member (s, c->to);
    if (strcmp (c->type, "share") == 0 && mi >= 0) {
        s->pending &= ~(1u << mi);
        s->unreachable |= 1u << mi;
        macx_agency_copy (s->unreached_why[mi], sizeof s->unreached_why[0],
                          ev->agreement[0] ? ev->agreement : macx_reason_name (ev->reason));
        s_maybe_integrate (self, c->subject, now);
    }
}

/* The triage point's decision on one watch item (source 1: a tripwire, 2:
 * unsolicited intelligence), the joint MI5/CTP assessment under the IHM:
 * it recognises a real re-engagement with the scenario's chance `detect`
 * and reopens, and reopens on a benign item with `false_reopen`. Whether
 * the subject has re-engaged by now is the synthetic world's truth: it
 * only draws the decision, and the report's latency runs from it. */
static void
s_triage (macx_agency_proc_t *self, int subject, int source, int64_t sim)
{
    macx_agency_subject_t *s = &self->subjects[subject];
    macx_subject_t truth;
    macx_synth_subject (&self->scn, subject, &truth);
    int64_t at = 0;
    bool reengaged = macx_watch_reengages (&self->scn, &truth, &at) && at <= sim;
    char stream[64];
    snprintf (stream, sizeof stream, "watch/triage/%s", s->id);
    double u = macx_agency_draw (self, stream, (uint64_t) s->triaged++);
    bool reopen = u < (reengaged ? self->scn.watch.detect : self->scn.watch.false_reopen);
    const char *decision = reopen ? "reopen" : "no_further_action";
    macx_agency_outcome_begin (self, s, "triage", sim);
    fprintf (self->outcomes, ",\"source\":\"%s\",\"decision\":\"%s\",\"reengaged\":%s,"
             "\"reengage_sim_ms\":%" PRId64, source == 1 ? "tripwire" : "unsolicited", decision,
             reengaged ? "true" : "false", reengaged ? at : 0);
    macx_agency_outcome_end (self);
    const char *const fields[][2] = { { "decision", decision } };
    macx_agency_send_fields (self, subject, NULL, self->mi5->id, "triage_decision", fields, 1, sim);
}

static void
s_timer (macx_agency_proc_t *self, const macx_agency_timer_t *t)
{
    macx_agency_subject_t *s = &self->subjects[t->subject];
    if (t->kind == MACX_T_TRIAGE) {   /* every item is triaged, whatever became of the case */
        s_triage (self, t->subject, t->phase, t->sim);
        return;
    }
    if (s->stalled)
        return;
    if (t->kind == MACX_T_SIT) {   /* the sitting: decide with what was offered by now */
        macx_agency_work (self, t->subject, MACX__PHASE__PANEL, t->sim);
        return;
    }
    if (t->kind != MACX_T_WAIT)
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
        if (s_count (s->answered) > 0 && !(unreached && in_time)) {
            s_answers_closed (self, s, (s->reached | s->pending) & ~s->answered & ~s->unreachable, t->sim);
            macx_agency_work (self, t->subject, MACX__PHASE__ENRICHMENT, t->sim);
        }
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
