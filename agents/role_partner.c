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

/* What matching gave and cost on one lookup, in records (not holdings). */
typedef struct {
    int exact, near, confirmed, rejected, unresolved;
    int false_confirmed;      /* another person's record confirmed as the subject's */
    int own_lost;             /* the subject's own record rejected or left unresolved */
    int minimised;            /* ... of those, one a full date of birth would have matched exactly */
} s_match_t;

/* Resolves the near matches of a lookup as the partner's caseworker would
 * (other details on file, a call to the service): each near-matching record
 * is worked to a verdict with the scenario's probability, and that verdict
 * is wrong with its error rate. A record confirmed as the subject's is sent
 * as "confirmed" and counts as evidence; one rejected is not sent; one left
 * unresolved is sent as "near", which the profile does not count. Whose
 * record it really is comes from the synthetic data and only draws the
 * verdict. Compacts s->holdings and fills *m. */
static void
s_resolve (macx_agency_proc_t *self, int subject, macx_agency_subject_t *s, s_match_t *m)
{
    macx_subject_t truth;
    macx_synth_subject (&self->scn, subject, &truth);
    bool minimised = strlen (s->dob) < 10;   /* year of birth only, by the agreement */
    char stream[64];
    snprintf (stream, sizeof stream, "resolve/%s/%s", self->me->id, s->id);
    memset (m, 0, sizeof *m);
    enum { EXACT, UNRESOLVED, CONFIRMED, REJECTED } state = EXACT;
    int kept = 0, last = -1;
    for (int i = 0; i < s->nheld; i++) {
        macx_holding_t *h = &s->holdings[i];
        if (h->record != last) {   /* a record's first holding: its verdict */
            last = h->record;
            bool own = h->subject == subject;
            uint64_t k = 2 * (uint64_t) h->record;
            if (strcmp (h->match, "exact") == 0)
                state = EXACT;
            else if (macx_agency_draw (self, stream, k) >= self->me->resolve.probability)
                state = UNRESOLVED;
            else
                state = own != (macx_agency_draw (self, stream, k + 1) < self->me->resolve.error)
                            ? CONFIRMED : REJECTED;
            m->exact += state == EXACT;
            m->near += state != EXACT;
            m->unresolved += state == UNRESOLVED;
            m->confirmed += state == CONFIRMED;
            m->rejected += state == REJECTED;
            m->false_confirmed += state == CONFIRMED && !own;
            if (own && (state == UNRESOLVED || state == REJECTED)) {
                m->own_lost++;
                m->minimised += minimised && h->same_name && strcmp (h->dob, truth.dob) == 0;
            }
        }
        if (state == REJECTED)
            continue;
        if (state == CONFIRMED)
            snprintf (h->match, sizeof h->match, "confirmed");
        s->holdings[kept++] = *h;
    }
    s->nheld = kept;
}

static void
s_work_done (macx_agency_proc_t *self, int subject, int phase, int64_t sim)
{
    macx_agency_subject_t *s = &self->subjects[subject];
    if (phase == MACX__PHASE__SHARING) {
        size_t n = 0;
        macx_synth_lookup (self->db, s->name, s->dob, s->region, s->holdings, 16, &n);
        s->nheld = (int) n;
        s_match_t m;
        s_resolve (self, subject, s, &m);
        macx_agency_outcome_begin (self, s, "matching", sim);
        fprintf (self->outcomes, ",\"dob\":\"%s\",\"exact\":%d,\"near\":%d,\"confirmed\":%d,\"rejected\":%d,"
                 "\"unresolved\":%d,\"false_confirmed\":%d,\"own_lost\":%d,\"minimised\":%d",
                 strlen (s->dob) < 10 ? "year" : "full", m.exact, m.near, m.confirmed, m.rejected,
                 m.unresolved, m.false_confirmed, m.own_lost, m.minimised);
        macx_agency_outcome_end (self);
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
