/* role_partner.c -- the role of a MAC partner, kinds local_authority and
 * ogd alike: what they do is the same (search their own systems for the
 * shared subject, answer MI5 and the case's CTP unit with what they found
 * and the interventions they would propose, and offer the panel what they
 * can deliver); what they hold differs by kind and sector (synth.c). Owns
 * the holdings found per subject. */
#include <string.h>

#include "agency_int.h"
#include "json.h"

static bool
s_member_of (const macx_scn_mac_t *m, const char *id)
{
    for (int i = 0; m && i < m->nmembers; i++)
        if (strcmp (m->members[i], id) == 0)
            return true;
    return false;
}

/* The CTP unit that owns a case from region, as far as the scenario tells
 * us: the chair of the region's MAC or of the national MAC, whichever we
 * sit on. NULL when we cannot tell (we sit on both and the regional MAC
 * may overflow to the national one): then only the unit's own share says,
 * and nothing goes to a unit that may not have the case. */
static const char *
s_owner_for (const macx_agency_proc_t *self, const char *region)
{
    const macx_scn_mac_t *m = macx_scenario_mac_for (&self->scn, region);
    const macx_scn_mac_t *nat = macx_scenario_national (&self->scn);
    bool in_m = s_member_of (m, self->me->id), in_nat = nat != m && s_member_of (nat, self->me->id);
    if (in_m && in_nat && m->overflow_load > 0)
        return NULL;
    return in_m ? m->chair : in_nat ? nat->chair : NULL;
}

/* Answers MI5 and the case's CTP unit, each once: the unit is known from
 * its share, which may come after MI5's (then it is answered on arrival). */
static void
s_answer (macx_agency_proc_t *self, int subject, int64_t sim)
{
    macx_agency_subject_t *s = &self->subjects[subject];
    int ph = self->scn.workflow.enrichment_in_sharing ? MACX__PHASE__SHARING : MACX__PHASE__ENRICHMENT;
    if (!s->answered_sent)
        macx_agency_send (self, subject, self->mi5->id, "enrichment", ph, self->scn.workflow.purpose, sim);
    s->answered_sent = true;
    if (s->chair[0] && !s->answered_chair) {
        macx_agency_send (self, subject, s->chair, "enrichment", ph, self->scn.workflow.purpose, sim);
        s->answered_chair = true;
    }
}

static void
s_work_done (macx_agency_proc_t *self, int subject, int phase, int64_t sim)
{
    macx_agency_subject_t *s = &self->subjects[subject];
    if (phase == MACX__PHASE__SHARING) {
        size_t n = 0;
        macx_synth_lookup (self->db, s->name, s->dob, s->region, s->holdings, 16, &n);
        s->nheld = (int) n;
        s->answer_ready = true;
        if (s->formal_share || !self->scn.workflow.share_during_identification)
            s_answer (self, subject, sim);
    }
    else if (phase == MACX__PHASE__PANEL && s->chair[0]) {
        macx_agency_outcome_begin (self, s, "offer", sim);
        fprintf (self->outcomes, ",\"to\":");
        macx_json_str (self->outcomes, s->chair);
        fprintf (self->outcomes, ",\"kinds\":[");
        for (int i = 0; i < s->nproposals; i++) {
            fputs (i ? "," : "", self->outcomes);
            macx_json_str (self->outcomes, s->proposals[i]);
        }
        fputc (']', self->outcomes);
        macx_agency_outcome_end (self);
        macx_agency_send (self, subject, s->chair, "panel_plan", MACX__PHASE__PANEL,
                          self->scn.workflow.purpose, sim);
    }
}

static void
s_record (macx_agency_proc_t *self, const Macx__Header *h, const Macx__Payload *p, int subject, int64_t sim)
{
    macx_agency_subject_t *s = &self->subjects[subject];
    const char *type = h->record_type;
    /* the case's CTP unit is whichever shared it with us */
    if (strcmp (macx_agency_kind_of (self, h->sender), "ctp") == 0)
        macx_agency_copy (s->chair, sizeof s->chair, h->sender);
    if (strcmp (type, "share") == 0 && p->share) {
        const Macx__Share *c = p->share;
        if (!s->name[0]) {
            macx_agency_copy (s->name, sizeof s->name, c->subject_name);
            macx_agency_copy (s->dob, sizeof s->dob, c->dob);
            macx_agency_copy (s->region, sizeof s->region, c->region);
        }
        const char *owner = s_owner_for (self, s->region);
        if (!s->chair[0] && owner)
            macx_agency_copy (s->chair, sizeof s->chair, owner);
        if (h->phase != MACX__PHASE__IDENTIFICATION)
            s->formal_share = true;
        if (s->answer_ready && s->formal_share && (!s->answered_sent || !s->answered_chair))
            s_answer (self, subject, sim);
        macx_agency_work (self, subject, MACX__PHASE__SHARING, sim);
    }
    else if (strcmp (type, "panel_plan") == 0 && p->panel_plan && p->panel_plan->decided_on
             && *p->panel_plan->decided_on)
        macx_agency_deliver (self, subject, p->panel_plan, sim);   /* the plan: our part of it */
    else if (strcmp (type, "panel_plan") == 0 && p->panel_plan) {
        /* the agenda: offer what we can deliver */
        s->nproposals = 0;
        Macx__Intervention iv[8];
        char storage[8][3][200];
        size_t ni = macx_synth_interventions (self->me, s->holdings, (size_t) s->nheld, iv, storage, 8);
        for (size_t i = 0; i < ni && s->nproposals < MACX_AGENCY_MAX_PROPOSALS; i++)
            macx_agency_copy (s->proposals[s->nproposals++], sizeof s->proposals[0], iv[i].kind);
        macx_agency_work (self, subject, MACX__PHASE__PANEL, sim);
    }
}

const macx_agency_role_t macx_role_partner = {
    .name = "partner",
    .work_done = s_work_done,
    .record = s_record,
};
