/* agency.c -- an agency's part of a MAC pilot: a deterministic event
 * handler on the agent runtime's simulated clock (agent.h), which hands it
 * timers (closures, finished work, retries, waits), the broker's verdicts
 * on what it sent and the records that reach it, in simulated-time order.
 * Its only clock is macx_agent_now: nothing here reads the wall clock.
 * Work is scheduled in simulated time: a unit starts when it is ready and a
 * slot of the agency's capacity for that phase is free, and lasts a service
 * time drawn from (seed, agency, subject, phase), so timings and outcomes
 * do not depend on process scheduling. Every record is prepared with the
 * policy engine (fields dropped or transformed as the agreement says),
 * sealed, sent through the broker, and refusals are retried when the
 * agreement allows (or given up at the deadline). */
#include "agency.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agency_int.h"
#include "clock.h"   /* dates only */
#include "file.h"
#include "json.h"
#include "log.h"
#include "names.h"
#include "policy.h"
#include "scenario.h"
#include "synth.h"

static volatile sig_atomic_t s_stop;
static void s_on_signal (int sig) { (void) sig; s_stop = 1; }

/* ---- clock and timers ------------------------------------------------------------ */

int64_t
macx_agency_now (const macx_agency_proc_t *self)
{
    return macx_agent_now (self->agent);
}

/* A timer's kind, phase and subject travel in its tag. */
void
macx_agency_timer (macx_agency_proc_t *self, int64_t sim, macx_timer_kind_t kind, int subject, int phase, void *ctx)
{
    uint64_t tag = (uint64_t) kind | (uint64_t) phase << 8 | (uint64_t) subject << 16;
    if (macx_agent_timer (self->agent, sim, tag, ctx))
        macx_log (MACX_LOG_ERROR, "cannot set a timer", "at=%" PRId64 " now=%" PRId64 " kind=%d",
                  sim, macx_agency_now (self), (int) kind);
}

static macx_agency_send_t *
s_send_new (macx_agency_proc_t *self)
{
    macx_agency_send_t *c = calloc (1, sizeof *c);
    if (c) {
        c->next = self->sends;
        if (self->sends)
            self->sends->prev = c;
        self->sends = c;
    }
    return c;
}

static void
s_send_free (macx_agency_proc_t *self, macx_agency_send_t *c)
{
    if (!c)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        self->sends = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free (c);
}

/* ---- outcomes --------------------------------------------------------------------- */

void
macx_agency_outcome_begin (macx_agency_proc_t *self, const macx_agency_subject_t *s, const char *event, int64_t sim)
{
    fprintf (self->outcomes, "{\"subject\":");
    macx_json_str (self->outcomes, s->id);
    fprintf (self->outcomes, ",\"case\":");
    macx_json_str (self->outcomes, s->case_id);
    fprintf (self->outcomes, ",\"event\":\"%s\",\"agency\":\"%s\",\"sim_ms\":%" PRId64, event,
             self->me->id, sim);
}

void
macx_agency_outcome_end (macx_agency_proc_t *self)
{
    fputs ("}\n", self->outcomes);
    fflush (self->outcomes);
}

/* ---- work and capacity ----------------------------------------------------------- */

static double
s_service_days (macx_agency_proc_t *self, const macx_agency_subject_t *s, int phase)
{
    const macx_dist_t *d = &self->me->service[phase];
    if (!d->set)
        return 0;
    char stream[128];
    snprintf (stream, sizeof stream, "service/%s/%s/%d", self->me->id, s->id, phase);
    return macx_dist_sample (d, macx_rand_unit (self->scn.seed, stream, 0),
                             macx_rand_unit (self->scn.seed, stream, 1));
}

/* Schedules a unit of work: it starts when ready and a slot is free. */
void
macx_agency_work (macx_agency_proc_t *self, int subject, int phase, int64_t ready)
{
    macx_agency_subject_t *s = &self->subjects[subject];
    if (s->work_started[phase])
        return;
    s->work_started[phase] = true;
    int64_t start = ready;
    int slot = -1;
    if (self->nslots[phase] > 0) {
        slot = 0;
        for (int i = 1; i < self->nslots[phase]; i++)
            if (self->slots[phase][i] < self->slots[phase][slot])
                slot = i;
        if (self->slots[phase][slot] > start)
            start = self->slots[phase][slot];
    }
    int64_t end = start + (int64_t) (s_service_days (self, s, phase) * MACX_DAY_MS);
    if (slot >= 0)
        self->slots[phase][slot] = end;
    macx_agency_outcome_begin (self, s, "work", end);
    fprintf (self->outcomes, ",\"phase\":\"%s\",\"queued_sim_ms\":%" PRId64 ",\"start_sim_ms\":%" PRId64
             ",\"end_sim_ms\":%" PRId64, macx_phase_name (phase), ready, start, end);
    macx_agency_outcome_end (self);
    macx_agency_timer (self, end, MACX_T_WORK, subject, phase, NULL);
}

/* ---- payloads ---------------------------------------------------------------------- */

static char *
s_dup (const char *v)
{
    return strdup (v ? v : "");
}

static char **
s_dup_list (char (*items)[48], int n, size_t *out_n)
{
    char **arr = calloc (n ? (size_t) n : 1, sizeof *arr);
    for (int i = 0; arr && i < n; i++)
        arr[i] = s_dup (items[i]);
    *out_n = arr ? (size_t) n : 0;
    return arr;
}

int
macx_agency_member (const macx_agency_subject_t *s, const char *agency)
{
    for (int i = 0; s->mac && i < s->mac->nmembers; i++)
        if (strcmp (s->mac->members[i], agency) == 0)
            return i;
    return -1;
}

static int s_count (uint32_t mask) { return __builtin_popcount (mask); }

/* Builds the full payload of a record type from what we hold on s. */
static Macx__Payload *
s_payload (macx_agency_proc_t *self, macx_agency_subject_t *s, const macx_agency_send_t *snd)
{
    const char *type = snd->type;
    Macx__Payload *p = malloc (sizeof *p);
    if (!p)
        return NULL;
    macx__payload__init (p);
    char date[11];
    if (snd->nfields > 0) {   /* a watch record: its fields as given */
        Macx__Generic *g = malloc (sizeof *g);
        macx__generic__init (g);
        g->fields = calloc ((size_t) snd->nfields, sizeof *g->fields);
        for (int i = 0; i < snd->nfields; i++) {
            Macx__Field *f = malloc (sizeof *f);
            macx__field__init (f);
            f->name = s_dup (snd->fields[i][0]);
            f->value = s_dup (snd->fields[i][1]);
            g->fields[g->n_fields++] = f;
        }
        p->body_case = MACX__PAYLOAD__BODY_GENERIC;
        p->generic = g;
    }
    else if (strcmp (type, "case_file") == 0) {
        Macx__CaseFile *c = malloc (sizeof *c);
        macx__case_file__init (c);
        c->subject_name = s_dup (s->name);
        c->dob = s_dup (s->dob);
        c->address = s_dup (s->address);
        c->postcode = s_dup (s->postcode);
        c->region = s_dup (s->region);
        c->closure_category = s_dup (s->category);
        c->risk_indicators = s_dup_list (s->indicators, s->nind, &c->n_risk_indicators);
        c->kis_summary = s_dup (s->kis_summary);
        c->kis_ref = s_dup (s->kis_ref);
        c->closed_on = s_dup (macx_date_format ((int32_t) (macx_agency_now (self) / MACX_DAY_MS), date));
        p->body_case = MACX__PAYLOAD__BODY_CASE_FILE;
        p->case_file = c;
    }
    else if (strcmp (type, "share") == 0) {
        Macx__Share *c = malloc (sizeof *c);
        macx__share__init (c);
        c->subject_name = s_dup (s->name);
        c->dob = s_dup (s->dob);
        c->address = s_dup (s->address);
        c->postcode = s_dup (s->postcode);
        c->region = s_dup (s->region);
        c->closure_category = s_dup (s->category);
        c->risk_indicators = s_dup_list (s->indicators, s->nind, &c->n_risk_indicators);
        c->kis_ref = s_dup (s->kis_ref);
        char summary[256];
        snprintf (summary, sizeof summary, "Closed subject (category %s) referred to %s for "
                  "multi-agency assessment.", s->category, s->mac ? s->mac->name : "the MAC");
        c->summary = s_dup (summary);
        c->request = s_dup ("Please search your records and propose interventions.");
        if (self->role == &macx_role_ctp) {   /* police indexes from our own systems */
            macx_holding_t h[16];
            size_t n = 0;
            macx_synth_lookup (self->db, s->name, s->dob, s->region, h, 16, &n);
            c->police_records = calloc (n ? n : 1, sizeof *c->police_records);
            c->prior_interventions = calloc (n ? n : 1, sizeof *c->prior_interventions);
            for (size_t i = 0; i < n; i++) {
                char line[260];
                snprintf (line, sizeof line, "%s: %s", h[i].source, h[i].detail);
                if (strcmp (h[i].source, "prior_intervention") == 0)
                    c->prior_interventions[c->n_prior_interventions++] = s_dup (line);
                else
                    c->police_records[c->n_police_records++] = s_dup (line);
            }
        }
        p->body_case = MACX__PAYLOAD__BODY_SHARE;
        p->share = c;
    }
    else if (strcmp (type, "enrichment") == 0) {
        Macx__Enrichment *e = malloc (sizeof *e);
        macx__enrichment__init (e);
        e->subject_name = s_dup (s->name);
        e->dob = s_dup (s->dob);
        e->holdings = calloc ((size_t) s->nheld + 1, sizeof *e->holdings);
        for (int i = 0; i < s->nheld; i++) {
            Macx__Holding *h = malloc (sizeof *h);
            macx__holding__init (h);
            h->source = s_dup (s->holdings[i].source);
            h->match = s_dup (s->holdings[i].match);
            /* Holding has no flag on the wire: a finding that raises concern
             * says so in words, which is how a partner would write it. */
            char detail[260];
            snprintf (detail, sizeof detail, "%s%s", s->holdings[i].concern ? "concern: " : "",
                      s->holdings[i].detail);
            h->detail = s_dup (detail);
            e->holdings[e->n_holdings++] = h;
        }
        Macx__Intervention iv[8];
        char storage[8][3][200];
        size_t ni = macx_synth_interventions (self->me, s->holdings,
                                              (size_t) s->nheld, iv, storage, 8);
        e->interventions = calloc (ni + 1, sizeof *e->interventions);
        for (size_t i = 0; i < ni; i++) {
            Macx__Intervention *x = malloc (sizeof *x);
            macx__intervention__init (x);
            x->kind = s_dup (iv[i].kind);
            x->provider = s_dup (iv[i].provider);
            x->rationale = s_dup (iv[i].rationale);
            e->interventions[e->n_interventions++] = x;
        }
        char notes[200];
        snprintf (notes, sizeof notes, "%d record(s) found in %s systems.", s->nheld, self->me->id);
        e->notes = s_dup (notes);
        p->body_case = MACX__PAYLOAD__BODY_ENRICHMENT;
        p->enrichment = e;
    }
    else if (strcmp (type, "profile") == 0) {
        Macx__Profile *f = malloc (sizeof *f);
        macx__profile__init (f);
        f->level = s->level;
        f->baseline_score = (int32_t) lround (s->score * 100);
        f->indicators = s_dup_list (s->indicators, s->nind, &f->n_indicators);
        char text[200];
        snprintf (text, sizeof text, "Baseline assessment: level %d (score %.2f) from %d partner "
                  "answer(s) and %d concerning finding(s).", s->level, s->score,
                  s_count (s->answered), s->concerns);
        f->assessment = s_dup (text);
        f->draft_plan = calloc ((size_t) s->nproposals + 1, sizeof *f->draft_plan);
        for (int i = 0; i < s->nproposals; i++) {
            Macx__PlanAction *a = malloc (sizeof *a);
            macx__plan_action__init (a);
            a->owner = s_dup (s->proposers[i]);
            a->action = s_dup (s->proposals[i]);
            a->due_days = 28;
            f->draft_plan[f->n_draft_plan++] = a;
        }
        f->contributors = calloc ((size_t) MACX_SCN_MAX_MEMBERS + 1, sizeof *f->contributors);
        for (int i = 0; s->mac && i < s->mac->nmembers; i++)
            if (s->answered & (1u << i))
                f->contributors[f->n_contributors++] = s_dup (s->mac->members[i]);
        if (self->role == &macx_role_mi5) {   /* MI5's review keeps only its view */
            f->n_draft_plan = 0;
            f->n_contributors = 0;
        }
        p->body_case = MACX__PAYLOAD__BODY_PROFILE;
        p->profile = f;
    }
    else if (strcmp (type, "panel_plan") == 0) {
        Macx__PanelPlan *pp = malloc (sizeof *pp);
        macx__panel_plan__init (pp);
        pp->chair = s_dup (s->chair);
        pp->level = s->level;
        pp->members = calloc ((size_t) MACX_SCN_MAX_MEMBERS + 1, sizeof *pp->members);
        for (int i = 0; s->mac && i < s->mac->nmembers; i++)
            if (s->answered & (1u << i))
                pp->members[pp->n_members++] = s_dup (s->mac->members[i]);
        pp->disposals = calloc (4, sizeof *pp->disposals);
        if (self->role == &macx_role_partner) {   /* a member's answer: what it can deliver */
            for (int i = 0; i < s->nproposals && pp->n_disposals < 3; i++) {
                Macx__Disposal *d = malloc (sizeof *d);
                macx__disposal__init (d);
                d->kind = s_dup (s->proposals[i]);
                d->owner = s_dup (self->me->id);
                d->note = s_dup ("offered by the member");
                pp->disposals[pp->n_disposals++] = d;
            }
        }
        else if (s->decided) {
            /* the chair's decision (see s_decide) is in proposals[0..] */
            for (int i = 0; i < s->nproposals && pp->n_disposals < 3; i++) {
                Macx__Disposal *d = malloc (sizeof *d);
                macx__disposal__init (d);
                d->kind = s_dup (s->proposals[i]);
                d->owner = s_dup (s->proposers[i]);
                d->note = s_dup ("agreed by the panel");
                pp->disposals[pp->n_disposals++] = d;
                if (strcmp (s->proposals[i], "referral_back_to_investigation") == 0)
                    pp->back_to_investigation = 1;
            }
            pp->decided_on = s_dup (macx_date_format ((int32_t) (macx_agency_now (self) / MACX_DAY_MS), date));
        }
        p->body_case = MACX__PAYLOAD__BODY_PANEL_PLAN;
        p->panel_plan = pp;
    }
    return p;
}

/* ---- sending ----------------------------------------------------------------------- */

/* Every field of a typed body: what "held" means before the policy speaks. */
static size_t
s_all_fields (const Macx__Payload *p, macx_record_keep_t *keep, size_t max)
{
    if (p->body_case == MACX__PAYLOAD__BODY_GENERIC) {
        size_t n = 0;
        for (size_t i = 0; i < p->generic->n_fields && n < max; i++)
            keep[n++] = (macx_record_keep_t) { p->generic->fields[i]->name, NULL };
        return n;
    }
    const ProtobufCMessage *body = macx_record_body (p);
    if (!body)
        return 0;
    size_t n = 0;
    for (unsigned i = 0; i < body->descriptor->n_fields && n < max; i++)
        keep[n++] = (macx_record_keep_t) { body->descriptor->fields[i].name, NULL };
    return n;
}

/* macx_record_restrict, and the same for a Generic body (a watch record):
 * its fields not kept are dropped, a kept one transformed as asked, and
 * the manifest lists what is left. */
static int
s_restrict (Macx__Payload *p, const macx_record_keep_t *keep, size_t nkeep, Macx__FieldEntry ***manifest_p,
            size_t *nmanifest, macx_error_t *err)
{
    if (p->body_case != MACX__PAYLOAD__BODY_GENERIC)
        return macx_record_restrict (p, keep, nkeep, manifest_p, nmanifest, err);
    Macx__Generic *g = p->generic;
    *manifest_p = calloc (g->n_fields + 1, sizeof **manifest_p);
    *nmanifest = 0;
    if (!*manifest_p)
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    size_t kept = 0;
    int rc = MACX_OK;
    for (size_t i = 0; i < g->n_fields; i++) {
        Macx__Field *f = g->fields[i];
        const macx_record_keep_t *k = NULL;
        for (size_t j = 0; j < nkeep && !k; j++)
            if (strcmp (keep[j].name, f->name) == 0)
                k = &keep[j];
        if (!k) {
            macx__field__free_unpacked (f, NULL);
            continue;
        }
        char out[256];
        if (k->transform && *k->transform && rc == MACX_OK) {
            if (macx_record_transform_apply (k->transform, f->value, out, sizeof out))
                rc = macx_error_set (err, MACX_EINVAL, "field '%s': cannot apply %s", f->name, k->transform);
            else {
                free (f->value);
                f->value = s_dup (out);
            }
        }
        g->fields[kept++] = f;
        Macx__FieldEntry *e = malloc (sizeof *e);
        if (!e) {
            rc = macx_error_set (err, MACX_ENOMEM, "out of memory");
            continue;
        }
        macx__field_entry__init (e);
        e->name = s_dup (f->name);
        e->transform = s_dup (k->transform ? k->transform : "");
        (*manifest_p)[(*nmanifest)++] = e;
    }
    g->n_fields = kept;
    return rc;
}

/* A record being made: its full payload and the names of the fields we
 * hold in it, as the policy engine's request lists them. */
typedef struct {
    Macx__Payload *payload;
    Macx__FieldEntry **held;
    size_t nheld;
    macx_policy_field_t fields[64];
} s_draft_t;

static int
s_draft_new (macx_agency_proc_t *self, const macx_agency_send_t *c, s_draft_t *d)
{
    memset (d, 0, sizeof *d);
    d->payload = s_payload (self, &self->subjects[c->subject], c);
    if (!d->payload)
        return MACX_ENOMEM;
    macx_record_keep_t all[64];
    size_t nall = s_all_fields (d->payload, all, 64);
    int rc = s_restrict (d->payload, all, nall, &d->held, &d->nheld, NULL);
    for (size_t i = 0; i < d->nheld; i++)
        d->fields[i] = (macx_policy_field_t) { d->held[i]->name, "" };
    return rc;
}

static void
s_draft_free (s_draft_t *d)
{
    macx_record_build_free (&d->payload, &d->held, d->nheld);
}

/* The request the broker will judge, for the draft's fields, on day sim. */
static void
s_draft_request (macx_agency_proc_t *self, const macx_agency_send_t *c, const s_draft_t *d, int64_t sim,
                 macx_policy_request_t *req)
{
    memset (req, 0, sizeof *req);
    req->sender = self->me->id;
    req->recipient = c->to;
    req->record_type = c->type;
    req->purpose = c->purpose;
    req->phase = c->phase;
    req->case_phase = c->phase;
    req->date = (int32_t) (sim / MACX_DAY_MS);
    req->fields = d->fields;
    req->nfields = d->nheld;
    req->origin = c->origin[0] ? c->origin : NULL;
    req->origin_record_type = c->origin_type;
}

/* What we have sent on a flow on day (the counter the broker keeps for a
 * daily cap); days only move forward. NULL when out of memory. */
static uint32_t *
s_cap_count (macx_agency_proc_t *self, int flow, int32_t day)
{
    if (flow >= self->ncaps) {
        int n = flow + 16;
        void *g = realloc (self->caps, (size_t) n * sizeof *self->caps);
        if (!g)
            return NULL;
        self->caps = g;
        memset (&self->caps[self->ncaps], 0, (size_t) (n - self->ncaps) * sizeof *self->caps);
        self->ncaps = n;
    }
    if (self->caps[flow].day != day) {
        self->caps[flow].day = day;
        self->caps[flow].sent = 0;
    }
    return &self->caps[flow].sent;
}

/* The day a record held back by a flow's daily cap (max a day) goes: the
 * first day after today not yet booked full by records held before it, so
 * that a backlog drains in order, each record waiting once. The flow has a
 * counter (s_cap_count found it). */
static int32_t
s_cap_book (macx_agency_proc_t *self, int flow, int32_t today, uint32_t max)
{
    if (self->caps[flow].next_day <= today) {
        self->caps[flow].next_day = today + 1;
        self->caps[flow].booked = 0;
    }
    if (self->caps[flow].booked >= max) {
        self->caps[flow].next_day++;
        self->caps[flow].booked = 0;
    }
    self->caps[flow].booked++;
    return self->caps[flow].next_day;
}


/* What the agreement made of a prepared record's fields: of the nheld we
 * hold, prepared[0..nprep) go (some transformed), the rest are withheld;
 * added to the deciding agreement's counts (res: the evaluation of the
 * prepared manifest). A record no agreement permits is not counted. */
static void
s_fields_count (macx_agency_proc_t *self, const macx_policy_result_t *res, size_t nheld,
                const macx_policy_field_t *prepared, size_t nprep)
{
    if (res->decision == MACX_DECISION_DENY || !res->agreement)
        return;
    int i = 0;
    while (i < self->nfields && strcmp (self->fields[i].agreement, res->agreement) != 0)
        i++;
    if (i == self->nfields) {
        if (self->nfields == (int) (sizeof self->fields / sizeof self->fields[0]))
            return;
        snprintf (self->fields[self->nfields++].agreement, sizeof self->fields[0].agreement, "%s",
                  res->agreement);
    }
    struct macx_agency_fields_s *f = &self->fields[i];
    f->records++;
    f->held += nheld;
    f->withheld += nheld > nprep ? nheld - nprep : 0;
    for (size_t k = 0; k < nprep; k++) {
        bool changed = prepared[k].transform && *prepared[k].transform;
        f->transformed += changed;
        f->released += !changed;
    }
}

/* The end of the run: per agreement, what its policy made of our fields. */
static void
s_fields_outcomes (macx_agency_proc_t *self)
{
    static const macx_agency_subject_t none;
    for (int i = 0; self->outcomes && i < self->nfields; i++) {
        const struct macx_agency_fields_s *f = &self->fields[i];
        macx_agency_outcome_begin (self, &none, "fields", macx_agency_now (self));
        fputs (",\"agreement\":", self->outcomes);
        macx_json_str (self->outcomes, f->agreement);
        fprintf (self->outcomes, ",\"records\":%" PRIu64 ",\"held\":%" PRIu64 ",\"released\":%" PRIu64
                 ",\"transformed\":%" PRIu64 ",\"withheld\":%" PRIu64, f->records, f->held, f->released,
                 f->transformed, f->withheld);
        macx_agency_outcome_end (self);
    }
}

/* Prepares (policy), seals and posts one record. c is owned by the post. */
static void
s_post (macx_agency_proc_t *self, macx_agency_send_t *c)
{
    macx_agency_subject_t *s = &self->subjects[c->subject];
    macx_error_t err = { 0 };
    s_draft_t d;
    Macx__FieldEntry **manifest = NULL;
    size_t nm = 0;
    if (s_draft_new (self, c, &d)) {
        s_send_free (self, c);
        s_draft_free (&d);
        return;
    }
    /* What we hold, then what the agreement lets us send, and how. */
    macx_policy_request_t req;
    s_draft_request (self, c, &d, c->sim, &req);
    macx_policy_field_t prepared[64];
    size_t nprep = 0;
    macx_policy_result_t res;
    macx_policy_prepare (self->policy, &req, prepared, 64, &nprep, &res);
    /* A daily cap, judged as the broker will judge it (with what we sent on
     * that flow today): what it would refuse waits for tomorrow, as a sender
     * who knows its agreement would, rather than being sent to be refused. */
    uint32_t *sent_today = NULL;
    if (res.decision == MACX_DECISION_PERMIT && res.max_per_day > 0 && res.flow_index >= 0) {
        sent_today = s_cap_count (self, res.flow_index, req.date);
        if (sent_today) {
            req.sent_today = *sent_today;
            macx_policy_prepare (self->policy, &req, prepared, 64, &nprep, &res);
        }
        if (res.reason == MACX__REASON__RATE_LIMITED) {
            int64_t until = (int64_t) s_cap_book (self, res.flow_index, req.date, res.max_per_day)
                            * MACX_DAY_MS;
            if (!c->held) {   /* said once: it may wait again if the day fills */
                macx_agency_outcome_begin (self, s, "held", c->sim);
                fprintf (self->outcomes, ",\"phase\":\"%s\",\"to\":\"%s\",\"record_type\":\"%s\","
                         "\"reason\":\"RATE_LIMITED\",\"agreement\":", macx_phase_name (c->phase),
                         c->to, c->type);
                macx_json_str (self->outcomes, res.agreement ? res.agreement : "");
                fprintf (self->outcomes, ",\"until_sim_ms\":%" PRId64 ",\"why\":", until);
                macx_json_str (self->outcomes, res.message);
                macx_agency_outcome_end (self);
                c->held = true;
            }
            macx_agency_timer (self, until, MACX_T_RETRY, c->subject, c->phase, c);
            s_draft_free (&d);
            return;
        }
    }
    s_fields_count (self, &res, d.nheld, prepared, nprep);
    macx_record_keep_t keep[64];
    for (size_t i = 0; i < nprep; i++)
        keep[i] = (macx_record_keep_t) { prepared[i].name, prepared[i].transform };
    if (s_restrict (d.payload, keep, nprep, &manifest, &nm, &err)) {
        macx_log (MACX_LOG_WARN, "cannot prepare a record", "type=%s to=%s why=\"%s\"", c->type,
                  c->to, macx_error_text (&err));
        goto done;
    }
    char *to[1] = { c->to };
    Macx__Header h = MACX__HEADER__INIT;
    h.recipients = to;
    h.n_recipients = 1;
    h.subject = c->alias[0] ? c->alias : s->id;
    h.case_id = c->alias[0] ? c->alias : s->case_id;   /* a watch entry is its own case */
    h.phase = c->phase;
    h.case_phase = c->phase;
    h.record_type = c->type;
    h.purpose = c->purpose;
    h.manifest = manifest;
    h.n_manifest = nm;   /* the runtime claims the agency's clock (c->sim) */
    h.origin = c->origin;
    h.origin_record_type = c->origin_type;
    c->attempts++;
    if (macx_agent_post (self->agent, &h, d.payload, c, &err) == MACX_OK) {
        self->sent++;
        if (sent_today)
            (*sent_today)++;
        c = NULL;   /* owned by the pending post now */
    }
    else
        macx_log (MACX_LOG_WARN, "cannot send", "type=%s to=%s why=\"%s\"", c->type, c->to,
                  macx_error_text (&err));
done:
    s_send_free (self, c);
    macx_record_build_free (NULL, &manifest, nm);
    s_draft_free (&d);
}

/* A new live send about subject (NULL when out of memory). */
static macx_agency_send_t *
s_send_make (macx_agency_proc_t *self, int subject, const char *to, const char *type, int phase,
             const char *purpose, int64_t sim)
{
    macx_agency_send_t *c = s_send_new (self);
    if (!c)
        return NULL;
    c->subject = subject;
    snprintf (c->to, sizeof c->to, "%s", to);
    snprintf (c->type, sizeof c->type, "%s", type);
    c->phase = phase;
    snprintf (c->purpose, sizeof c->purpose, "%s", purpose);
    c->first_sim = c->sim = sim;
    return c;
}

void
macx_agency_send (macx_agency_proc_t *self, int subject, const char *to, const char *type, int phase,
        const char *purpose, int64_t sim)
{
    macx_agency_send_t *c = s_send_make (self, subject, to, type, phase, purpose, sim);
    if (c)
        s_post (self, c);
}

void
macx_agency_send_fields (macx_agency_proc_t *self, int subject, const char *alias, const char *to,
                         const char *type, const char *const (*fields)[2], int nfields, int64_t sim)
{
    /* phase identification: a lead, as the IHM has it (docs/pilot.md) */
    macx_agency_send_t *c = s_send_make (self, subject, to, type, MACX__PHASE__IDENTIFICATION,
                                         self->scn.watch.purpose, sim);
    if (!c)
        return;
    snprintf (c->alias, sizeof c->alias, "%s", alias ? alias : "");
    for (int i = 0; i < nfields && i < 4; i++) {
        snprintf (c->fields[i][0], sizeof c->fields[i][0], "%s", fields[i][0]);
        snprintf (c->fields[i][1], sizeof c->fields[i][1], "%s", fields[i][1]);
        c->nfields++;
    }
    s_post (self, c);
}

const char *
macx_agency_field (const Macx__Payload *p, const char *name)
{
    for (size_t i = 0; p && p->body_case == MACX__PAYLOAD__BODY_GENERIC && i < p->generic->n_fields; i++)
        if (p->generic->fields[i]->name && strcmp (p->generic->fields[i]->name, name) == 0)
            return p->generic->fields[i]->value ? p->generic->fields[i]->value : "";
    return "";
}

/* The first day from `from` on which the agreement would permit this
 * record (probing our own copy of the policy), or -1 before `until`. */
static int32_t
s_first_permit_day (macx_agency_proc_t *self, const macx_agency_send_t *c, int32_t from, int32_t until)
{
    s_draft_t d;
    int32_t found = -1;
    if (s_draft_new (self, c, &d) == MACX_OK)
        for (int32_t day = from; day <= until && found < 0; day++) {
            macx_policy_request_t req;
            s_draft_request (self, c, &d, (int64_t) day * MACX_DAY_MS, &req);
            macx_policy_field_t prepared[64];
            size_t nprep = 0;
            macx_policy_result_t res;
            if (macx_policy_prepare (self->policy, &req, prepared, 64, &nprep, &res) == 0
                && res.decision == MACX_DECISION_PERMIT)
                found = day;
        }
    s_draft_free (&d);
    return found;
}

/* ---- what the roles share -------------------------------------------------------------- */

int
macx_agency_subject_index (const macx_agency_proc_t *self, const char *id)
{
    if (strncmp (id, "S-", 2) != 0)
        return -1;
    char *end;
    long n = strtol (id + 2, &end, 10);
    return *end || n < 1 || n > self->nsubjects ? -1 : (int) n;
}

void
macx_agency_copy (char *dst, size_t size, const char *src)
{
    snprintf (dst, size, "%s", src ? src : "");
}

const char *
macx_agency_kind_of (const macx_agency_proc_t *self, const char *id)
{
    const macx_scn_agency_t *a = id ? macx_scenario_agency (&self->scn, id) : NULL;
    return a ? a->kind : "";
}

double
macx_agency_draw (const macx_agency_proc_t *self, const char *stream, uint64_t k)
{
    return macx_rand_unit (self->scn.seed, stream, k);
}

void
macx_agency_stall (macx_agency_proc_t *self, int subject, int phase, const char *reason,
                   const char *agreement, const char *why, int64_t sim)
{
    macx_agency_subject_t *s = &self->subjects[subject];
    if (s->stalled || s->decided)
        return;
    s->stalled = true;
    macx_agency_outcome_begin (self, s, "stalled", sim);
    fprintf (self->outcomes, ",\"phase\":\"%s\",\"reason\":\"%s\",\"agreement\":",
             macx_phase_name (phase), reason);
    macx_json_str (self->outcomes, agreement ? agreement : "");
    fprintf (self->outcomes, ",\"why\":");
    macx_json_str (self->outcomes, why);
    macx_agency_outcome_end (self);
}

void
macx_agency_share_with_members (macx_agency_proc_t *self, int subject, int64_t sim)
{
    macx_agency_subject_t *s = &self->subjects[subject];
    for (int i = 0; s->mac && i < s->mac->nmembers; i++) {
        macx_agency_send_t *c = s_send_make (self, subject, s->mac->members[i], "share",
                                             MACX__PHASE__SHARING, self->scn.workflow.purpose, sim);
        if (c) {
            /* a share of a case file received passes it on: the broker judges
             * it by the onward-sharing terms of the flow it came under */
            snprintf (c->origin, sizeof c->origin, "%s", s->origin);
            snprintf (c->origin_type, sizeof c->origin_type, "%s", s->origin_type);
            s_post (self, c);
        }
        s->pending |= 1u << i;
    }
    s->share_sim = sim;
}


void
macx_agency_deliver (macx_agency_proc_t *self, int subject, const Macx__PanelPlan *plan, int64_t sim)
{
    macx_agency_subject_t *s = &self->subjects[subject];
    for (size_t i = 0; plan && i < plan->n_disposals; i++) {
        const Macx__Disposal *d = plan->disposals[i];
        if (!d->owner || strcmp (d->owner, self->me->id) != 0 || !d->kind)
            continue;
        int k = 0;
        while (k < self->scn.ndisposals && strcmp (self->scn.disposals[k].kind, d->kind) != 0)
            k++;
        if (k == self->scn.ndisposals || self->scn.disposals[k].places == 0)
            continue;   /* not an intervention (no further action, back to investigation) */
        const macx_scn_disposal_t *sd = &self->scn.disposals[k];
        if (!self->places[k] && !(self->places[k] = calloc ((size_t) sd->places, sizeof (int64_t))))
            return;
        /* the waiting list: the first place to come free, in the order plans came */
        int slot = 0;
        for (int j = 1; j < sd->places; j++)
            if (self->places[k][j] < self->places[k][slot])
                slot = j;
        int64_t start = self->places[k][slot] > sim ? self->places[k][slot] : sim;
        char stream[128];
        snprintf (stream, sizeof stream, "delivery/%s/%s/%s", self->me->id, s->id, d->kind);
        bool declined = macx_agency_draw (self, stream, 0) < sd->decline;
        int64_t end = start;
        if (!declined) {   /* a declined offer frees its place at once */
            end = start + (int64_t) (macx_dist_sample (&sd->days, macx_agency_draw (self, stream, 1),
                                                       macx_agency_draw (self, stream, 2))
                                     * MACX_DAY_MS);
            self->places[k][slot] = end;
        }
        macx_agency_outcome_begin (self, s, "delivery", start);
        fprintf (self->outcomes, ",\"kind\":");
        macx_json_str (self->outcomes, d->kind);
        fprintf (self->outcomes, ",\"ready_sim_ms\":%" PRId64 ",\"start_sim_ms\":%" PRId64
                 ",\"end_sim_ms\":%" PRId64 ",\"declined\":%s", sim, start, end,
                 declined ? "true" : "false");
        macx_agency_outcome_end (self);
    }
}

/* ---- events, to the role ----------------------------------------------------------------- */

static void
s_on_record (macx_agency_proc_t *self, macx_record_t *rec)
{
    const Macx__Header *h = macx_record_header (rec);
    const Macx__Payload *p = macx_record_payload (rec);
    int subject = macx_agency_subject_index (self, h->subject);
    if (subject < 0 && self->role->alias)
        subject = self->role->alias (self, h);
    if (subject < 0)
        return;
    macx_agency_subject_t *s = &self->subjects[subject];
    self->received++;
    if (!s->known) {
        s->known = true;
        macx_agency_copy (s->id, sizeof s->id, h->subject);
        macx_agency_copy (s->case_id, sizeof s->case_id, h->case_id);
    }
    if (self->role->record)   /* it reaches us now: its stamp plus its transit */
        self->role->record (self, h, p, subject, macx_agency_now (self));
}

/* ---- retention: the copies we hold ------------------------------------------------------- */

/* Keeps what reached us under the terms the broker stated for our copy and
 * sets the timer of its expiry: an event like any other, so it keeps the
 * simulation going until it is due, within the run's limit (the broker's
 * clock.end; docs/pilot.md "Retention at the agencies"). */
static void
s_hold (macx_agency_proc_t *self, const macx_agent_event_t *ev)
{
    macx_error_t err = { 0 };
    int64_t now = macx_agency_now (self);
    macx_held_copy_t *c = macx_held_add (self->held, macx_record_header (ev->record),
                                        macx_record_payload (ev->record), &ev->terms, now, &err);
    if (!c) {
        macx_log (MACX_LOG_ERROR, "cannot keep a record received", "why=\"%s\"",
                  macx_error_text (&err));
        return;
    }
    if (c->terms.expires_ms > 0)
        macx_agency_timer (self, c->terms.expires_ms > now ? c->terms.expires_ms : now,
                           MACX_T_EXPIRY, 0, 0, c);
}

/* A copy's retention has ended: it is deleted, anonymised or put under
 * review (a review task for us) as its agreement says, the broker is told,
 * signed, and the outcome written. */
static void
s_expire (macx_agency_proc_t *self, macx_held_copy_t *c, int64_t sim)
{
    /* what the outcome names, before the copy goes */
    uint8_t id[MACX_RECORD_ID_BYTES];
    char hex[2 * MACX_RECORD_ID_BYTES + 1], subject[64], case_id[64], type[64];
    char from[MACX_AGENCY_ID_MAX + 1];
    macx_agent_terms_t terms = c->terms;
    uint64_t sequence = c->sequence;
    memcpy (id, c->record_id, sizeof id);
    macx_hex_encode (id, sizeof id, hex);
    macx_agency_copy (subject, sizeof subject, c->subject);
    macx_agency_copy (case_id, sizeof case_id, c->case_id);
    macx_agency_copy (type, sizeof type, c->record_type);
    macx_agency_copy (from, sizeof from, c->sender);
    const char *action;
    macx_error_t err = { 0 };
    if (macx_held_expire (self->held, c, &action, &err)
        || macx_agent_retention (self->agent, id, action, sim, &err)) {
        macx_log (MACX_LOG_ERROR, "retention not applied", "record=%s why=\"%s\"", hex,
                  macx_error_text (&err));
        return;
    }
    /* about a copy, not a step of its case: the record's subject and case
     * under keys of their own, so the report's case figures ignore it; the
     * record named by its sender and sequence (its id is random: the
     * outcomes are the same in every run) */
    fprintf (self->outcomes, "{\"event\":\"%s\",\"agency\":\"%s\",\"sim_ms\":%" PRId64
             ",\"sequence\":%" PRIu64 ",\"record_subject\":", strcmp (action, "review") == 0
             ? "review_task" : "retention", self->me->id, sim, sequence);
    macx_json_str (self->outcomes, subject);
    fprintf (self->outcomes, ",\"record_case\":");
    macx_json_str (self->outcomes, case_id);
    fprintf (self->outcomes, ",\"record_type\":");
    macx_json_str (self->outcomes, type);
    fprintf (self->outcomes, ",\"from\":");
    macx_json_str (self->outcomes, from);
    fprintf (self->outcomes, ",\"agreement\":");
    macx_json_str (self->outcomes, terms.agreement);
    fprintf (self->outcomes, ",\"flow\":");
    macx_json_str (self->outcomes, terms.flow);
    fprintf (self->outcomes, ",\"on_expiry\":\"%s\",\"action\":\"%s\",\"expires_sim_ms\":%" PRId64,
             terms.on_expiry, action, terms.expires_ms);
    macx_agency_outcome_end (self);
}

/* An answer to something we sent. */
static void
s_on_answer (macx_agency_proc_t *self, const macx_agent_event_t *ev)
{
    macx_agency_send_t *c = ev->user;
    if (!c)
        return;
    macx_agency_subject_t *s = &self->subjects[c->subject];
    if (ev->kind == MACX_AGENT_ACK) {
        if (self->role->accepted)
            self->role->accepted (self, c);
        s_send_free (self, c);
        return;
    }
    /* Refused: when would the agreement let it through? */
    self->refused++;
    int32_t today = (int32_t) (c->sim / MACX_DAY_MS);
    int32_t until = (int32_t) (c->first_sim / MACX_DAY_MS) + self->scn.deadline_days;
    int32_t retry = s_first_permit_day (self, c, today + 1, until);
    macx_agency_outcome_begin (self, s, "refused", c->sim);
    fprintf (self->outcomes, ",\"phase\":\"%s\",\"to\":\"%s\",\"record_type\":\"%s\",\"reason\":\"%s\","
             "\"agreement\":", macx_phase_name (c->phase), c->to, c->type, macx_reason_name (ev->reason));
    macx_json_str (self->outcomes, ev->agreement);
    fprintf (self->outcomes, ",\"retry_sim_ms\":%" PRId64 ",\"why\":",
             retry >= 0 ? (int64_t) retry * MACX_DAY_MS : 0);
    macx_json_str (self->outcomes, ev->message);
    macx_agency_outcome_end (self);
    /* We learn the verdict now; what follows from it happens now too. */
    int64_t now = macx_agency_now (self);
    if (retry >= 0) {
        int64_t at = (int64_t) retry * MACX_DAY_MS;
        macx_agency_timer (self, at > now ? at : now, MACX_T_RETRY, c->subject, c->phase, c);
        return;
    }
    if (self->role->given_up)   /* given up for this recipient */
        self->role->given_up (self, c, ev, now);
    s_send_free (self, c);
}

static void
s_on_timer (macx_agency_proc_t *self, macx_agency_timer_t *t)
{
    if (t->kind == MACX_T_WORK) {
        if (!self->subjects[t->subject].stalled && self->role->work_done)
            self->role->work_done (self, t->subject, t->phase, t->sim);
    }
    else if (t->kind == MACX_T_RETRY) {
        macx_agency_send_t *c = t->ctx;
        c->sim = t->sim;
        s_post (self, c);
    }
    else if (t->kind == MACX_T_EXPIRY)
        s_expire (self, t->ctx, t->sim);
    else if (self->role->timer)
        self->role->timer (self, t);
}

/* The role of each agency kind the scenario may declare. */
static const struct {
    const char *kind;
    const macx_agency_role_t *role;
} s_roles[] = {
    { "mi5", &macx_role_mi5 },
    { "ctp", &macx_role_ctp },
    { "local_authority", &macx_role_partner },
    { "ogd", &macx_role_partner },
    { "provider", &macx_role_provider },
};


/* ---- set-up and the loop ------------------------------------------------------------------ */

static int
s_setup (macx_agency_proc_t *self, macx_error_t *err)
{
    int rc = macx_scenario_load (self->o.scenario, &self->scn, err);
    if (rc)
        return rc;
    macx_scenario_override (&self->scn, self->o.seed, self->o.subjects);
    self->me = macx_scenario_agency (&self->scn, self->o.agency);
    if (!self->me)
        return macx_error_set (err, MACX_ENOTFOUND, "%s: no agency '%s' in the scenario",
                               self->o.scenario, self->o.agency);
    for (size_t i = 0; i < sizeof s_roles / sizeof s_roles[0] && !self->role; i++)
        if (strcmp (s_roles[i].kind, self->me->kind) == 0)
            self->role = s_roles[i].role;
    if (!self->role)
        return macx_error_set (err, MACX_EINVAL, "%s: agency '%s' has kind '%s', which has no role",
                               self->o.scenario, self->me->id, self->me->kind);
    self->mi5 = macx_scenario_of_kind (&self->scn, "mi5");
    self->start_ms = (int64_t) self->scn.start_day * MACX_DAY_MS;
    if (!(self->policy = macx_policy_load (self->scn.policy_dir, err)))
        return err->code;
    if (!(self->held = macx_held_new (self->policy)))
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    for (int i = 0; i < self->scn.noverrides; i++) {
        const macx_scn_override_t *o = &self->scn.overrides[i];
        int32_t day = self->scn.start_day + (o->missing ? 36500 : o->effective_day);
        if (macx_policy_set_effective (self->policy, o->agreement, day))
            return macx_error_set (err, MACX_ENOTFOUND, "%s: agreement '%s' is not in the policy",
                                   self->o.scenario, o->agreement);
    }
    self->nsubjects = self->scn.subjects;
    self->subjects = calloc ((size_t) self->nsubjects + 1, sizeof *self->subjects);
    if (!self->subjects)
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    for (int p = 1; p <= MACX_PHASE_COUNT; p++) {
        self->nslots[p] = self->me->capacity[p];
        if (self->nslots[p] > 0) {
            self->slots[p] = calloc ((size_t) self->nslots[p], sizeof (int64_t));
            if (!self->slots[p])
                return macx_error_set (err, MACX_ENOMEM, "out of memory");
        }
    }
    char path[2048];
    snprintf (path, sizeof path, "%s/agents", self->o.run_dir);
    if (!(self->db = macx_synth_open (path, self->me->id, err)))
        return err->code;
    snprintf (path, sizeof path, "%s/agents/%s/outcomes.jsonl", self->o.run_dir, self->me->id);
    if (!(self->outcomes = fopen (path, "a")))
        return macx_error_set (err, MACX_EIO, "%s: %s", path, strerror (errno));
    macx_agent_config_t cfg;
    macx_agent_config_defaults (&cfg);
    snprintf (cfg.keys_dir, sizeof cfg.keys_dir, "%s/keys", self->o.run_dir);
    snprintf (cfg.agency, sizeof cfg.agency, "%s", self->me->id);
    snprintf (cfg.broker, sizeof cfg.broker, "%s", self->o.broker);
    /* No state directory: a pilot's agency does not outlive its run (a
     * crash fails the run), so its de-duplication set lives in memory. */
    cfg.credit = 4096;
    cfg.sim = true;
    if (!(self->agent = macx_agent_new (&cfg, err)))
        return err->code;
    if (self->role->start && (rc = self->role->start (self, err)))
        return rc;
    return MACX_OK;
}

int
macx_agency_run (const macx_agency_opts_t *opts, macx_error_t *err)
{
    macx_agency_proc_t *self = calloc (1, sizeof *self);
    if (!self)
        return macx_error_set (err, MACX_ENOMEM, "out of memory");
    self->o = *opts;
    char comp[64];
    snprintf (comp, sizeof comp, "agent/%s", opts->agency);
    macx_log_set_component (comp);
    struct sigaction sa = { 0 };
    sa.sa_handler = s_on_signal;
    sigaction (SIGTERM, &sa, NULL);
    sigaction (SIGINT, &sa, NULL);
    int rc = s_setup (self, err);
    /* Events in simulated-time order, as long as the broker grants time. */
    while (rc == MACX_OK && !s_stop) {
        macx_agent_event_t ev;
        macx_error_t e2 = { 0 };
        int r = macx_agent_next (self->agent, 200, &ev, &e2);
        if (r == MACX_EDONE) {
            macx_log (MACX_LOG_INFO, "simulation ended", "why=\"%s\"", macx_error_text (&e2));
            break;
        }
        if (r == MACX_EDENIED) {
            rc = macx_error_set (err, MACX_EDENIED, "%s", macx_error_text (&e2));
            break;
        }
        if (r != MACX_OK)
            continue;
        if (ev.kind == MACX_AGENT_TIMER) {
            macx_agency_timer_t t = { ev.time_ms, (macx_timer_kind_t) (ev.tag & 0xff), (int) (ev.tag >> 16),
                            (int) (ev.tag >> 8 & 0xff), ev.user };
            s_on_timer (self, &t);
        }
        else if (ev.kind == MACX_AGENT_RECORD) {
            s_hold (self, &ev);
            s_on_record (self, ev.record);
        }
        else if (ev.kind == MACX_AGENT_ACK || ev.kind == MACX_AGENT_NACK)
            s_on_answer (self, &ev);
        else if (ev.kind == MACX_AGENT_ERROR)
            macx_log (MACX_LOG_WARN, "agent error", "why=\"%s\"", ev.message);
        macx_agent_done (self->agent, &ev);
    }
    if (self->agent) {
        macx_agent_flush (self->agent);
        uint64_t late = macx_agent_late (self->agent);
        if (late && rc == MACX_OK)
            rc = macx_error_set (err, MACX_EPROTO, "%" PRIu64 " record(s) reached %s stamped "
                                 "before the time it had finished (the simulated clock's protocol "
                                 "was broken; see the log)", late, self->me->id);
        macx_log (MACX_LOG_INFO, "time", "requests=%" PRIu64 " late=%" PRIu64 " clock=%" PRId64,
                  macx_agent_requests (self->agent), late, macx_agency_now (self));
    }
    s_fields_outcomes (self);
    macx_log (MACX_LOG_INFO, "stopped", "sent=%" PRIu64 " refused=%" PRIu64 " received=%" PRIu64,
              self->sent, self->refused, self->received);
    if (self->held) {
        macx_held_counts_t hc;
        macx_held_counts (self->held, &hc);
        macx_log (MACX_LOG_INFO, "copies at the end", "held=%zu anonymised=%zu review=%zu "
                  "deleted=%zu", hc.held, hc.anonymised, hc.review, hc.deleted);
    }
    macx_agent_destroy (&self->agent);
    macx_synth_close (&self->db);
    if (self->outcomes)
        fclose (self->outcomes);
    macx_held_destroy (&self->held);
    macx_policy_destroy (&self->policy);
    for (int p = 0; p < 6; p++)
        free (self->slots[p]);
    while (self->sends)   /* retries never due, answers never come: the run ended */
        s_send_free (self, self->sends);
    free (self->caps);
    free (self->mac_open);
    free (self->watch);
    free (self->booked);
    for (int k = 0; k < MACX_SCN_MAX_DISPOSALS; k++)
        free (self->places[k]);
    free (self->subjects);
    free (self);
    return rc;
}
