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

#include "agent.h"
#include "clock.h"   /* dates only */
#include "json.h"
#include "log.h"
#include "names.h"
#include "policy.h"
#include "scenario.h"
#include "synth.h"

#define S_DAY_MS     ((int64_t) 86400000)
#define S_MAX_MEMBERS MACX_SCN_MAX_MEMBERS

typedef enum { ROLE_MI5, ROLE_CTP, ROLE_PARTNER } s_role_t;
typedef enum { T_CLOSE = 1, T_WORK, T_RETRY, T_WAIT } s_timer_kind_t;

typedef struct {
    int64_t sim;
    s_timer_kind_t kind;
    int subject;
    int phase;
    void *ctx;
} s_timer_t;

/* What a send is about, kept until its ACK/NACK (and for retries); every
 * live one is on the agency's list, so none is lost at the end. */
typedef struct s_send_s {
    struct s_send_s *prev, *next;
    int subject;
    char to[MACX_AGENCY_ID_MAX + 1];
    char type[24];
    int phase;
    char purpose[64];
    int64_t first_sim;          /* first attempt */
    int64_t sim;                /* this attempt */
    int attempts;
    bool held;                  /* held back by a daily cap at least once */
} s_send_t;

typedef struct {
    bool known;
    char id[16];
    char case_id[24];
    char name[64], dob[16], address[128], postcode[12], region[64], category[8];
    char indicators[8][48];
    int nind;
    char kis_ref[24], kis_summary[200];
    const macx_scn_mac_t *mac;
    bool work_started[6];
    bool closed;
    /* ctp */
    uint32_t reached, pending, answered, unreachable, responded;
    uint32_t agenda;            /* members sent the panel agenda */
    int concerns, nholdings;
    char proposals[16][48];
    char proposers[16][MACX_AGENCY_ID_MAX + 1];
    int nproposals;
    int level;
    double score;
    bool reviewed, profiled, decided, stalled, agenda_sent;
    int64_t share_sim;
    /* partner */
    bool formal_share, answer_ready, answered_sent;
    macx_holding_t holdings[16];
    int nheld;
} s_subject_t;

typedef struct {
    macx_agency_opts_t o;
    macx_scenario_t scn;
    const macx_scn_agency_t *me;
    s_role_t role;
    macx_policy_t *policy;
    macx_agent_t *agent;
    macx_synth_db_t *db;
    FILE *outcomes;
    int64_t start_ms;
    s_subject_t *subjects;        /* 1..n */
    int nsubjects;
    s_send_t *sends;              /* live sends (list) */
    struct {
        int32_t day;              /* sent on this day, so far */
        uint32_t sent;
        int32_t next_day;         /* the first later day with room for what is held */
        uint32_t booked;          /* held records booked on it */
    } *caps;                      /* by flow index: the agreements' daily caps */
    int ncaps;
    int64_t *slots[6];            /* per phase: when each slot is free */
    int nslots[6];
    uint64_t sent, refused, received;
} s_agency_t;

static volatile sig_atomic_t s_stop;
static void s_on_signal (int sig) { (void) sig; s_stop = 1; }

/* ---- clock and timers ------------------------------------------------------------ */

static int64_t
s_now (const s_agency_t *self)
{
    return macx_agent_now (self->agent);
}

/* A timer's kind, phase and subject travel in its tag. */
static void
s_timer_add (s_agency_t *self, int64_t sim, s_timer_kind_t kind, int subject, int phase, void *ctx)
{
    uint64_t tag = (uint64_t) kind | (uint64_t) phase << 8 | (uint64_t) subject << 16;
    if (macx_agent_timer (self->agent, sim, tag, ctx))
        macx_log (MACX_LOG_ERROR, "cannot set a timer", "at=%" PRId64 " now=%" PRId64 " kind=%d",
                  sim, s_now (self), (int) kind);
}

static s_send_t *
s_send_new (s_agency_t *self)
{
    s_send_t *c = calloc (1, sizeof *c);
    if (c) {
        c->next = self->sends;
        if (self->sends)
            self->sends->prev = c;
        self->sends = c;
    }
    return c;
}

static void
s_send_free (s_agency_t *self, s_send_t *c)
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

static void
s_outcome_begin (s_agency_t *self, const s_subject_t *s, const char *event, int64_t sim)
{
    fprintf (self->outcomes, "{\"subject\":");
    macx_json_str (self->outcomes, s->id);
    fprintf (self->outcomes, ",\"case\":");
    macx_json_str (self->outcomes, s->case_id);
    fprintf (self->outcomes, ",\"event\":\"%s\",\"agency\":\"%s\",\"sim_ms\":%" PRId64, event,
             self->me->id, sim);
}

static void
s_outcome_end (s_agency_t *self)
{
    fputs ("}\n", self->outcomes);
    fflush (self->outcomes);
}

/* ---- work and capacity ----------------------------------------------------------- */

static double
s_service_days (s_agency_t *self, const s_subject_t *s, int phase)
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
static void
s_work (s_agency_t *self, int subject, int phase, int64_t ready)
{
    s_subject_t *s = &self->subjects[subject];
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
    int64_t end = start + (int64_t) (s_service_days (self, s, phase) * S_DAY_MS);
    if (slot >= 0)
        self->slots[phase][slot] = end;
    s_outcome_begin (self, s, "work", end);
    fprintf (self->outcomes, ",\"phase\":\"%s\",\"queued_sim_ms\":%" PRId64 ",\"start_sim_ms\":%" PRId64
             ",\"end_sim_ms\":%" PRId64, macx_phase_name (phase), ready, start, end);
    s_outcome_end (self);
    s_timer_add (self, end, T_WORK, subject, phase, NULL);
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

static int
s_index_of_member (const s_subject_t *s, const char *agency)
{
    for (int i = 0; s->mac && i < s->mac->nmembers; i++)
        if (strcmp (s->mac->members[i], agency) == 0)
            return i;
    return -1;
}

static int s_count (uint32_t mask) { return __builtin_popcount (mask); }

/* Builds the full payload of a record type from what we hold on s. */
static Macx__Payload *
s_payload (s_agency_t *self, s_subject_t *s, const char *type)
{
    Macx__Payload *p = malloc (sizeof *p);
    if (!p)
        return NULL;
    macx__payload__init (p);
    char date[11];
    if (strcmp (type, "case_file") == 0) {
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
        c->closed_on = s_dup (macx_date_format ((int32_t) (s_now (self) / S_DAY_MS), date));
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
        if (self->role == ROLE_CTP) {   /* police indexes from our own systems */
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
        size_t ni = macx_synth_interventions (self->me->id, self->me->kind, s->holdings,
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
        f->contributors = calloc ((size_t) S_MAX_MEMBERS + 1, sizeof *f->contributors);
        for (int i = 0; s->mac && i < s->mac->nmembers; i++)
            if (s->answered & (1u << i))
                f->contributors[f->n_contributors++] = s_dup (s->mac->members[i]);
        if (self->role == ROLE_MI5) {   /* MI5's review keeps only its view */
            f->n_draft_plan = 0;
            f->n_contributors = 0;
        }
        p->body_case = MACX__PAYLOAD__BODY_PROFILE;
        p->profile = f;
    }
    else if (strcmp (type, "panel_plan") == 0) {
        Macx__PanelPlan *pp = malloc (sizeof *pp);
        macx__panel_plan__init (pp);
        pp->chair = s_dup ("ctp");
        pp->level = s->level;
        pp->members = calloc ((size_t) S_MAX_MEMBERS + 1, sizeof *pp->members);
        for (int i = 0; s->mac && i < s->mac->nmembers; i++)
            if (s->answered & (1u << i))
                pp->members[pp->n_members++] = s_dup (s->mac->members[i]);
        pp->disposals = calloc (4, sizeof *pp->disposals);
        if (self->role == ROLE_PARTNER) {   /* a member's answer: what it can deliver */
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
            pp->decided_on = s_dup (macx_date_format ((int32_t) (s_now (self) / S_DAY_MS), date));
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
    const ProtobufCMessage *body = macx_record_body (p);
    if (!body)
        return 0;
    size_t n = 0;
    for (unsigned i = 0; i < body->descriptor->n_fields && n < max; i++)
        keep[n++] = (macx_record_keep_t) { body->descriptor->fields[i].name, NULL };
    return n;
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
s_draft_new (s_agency_t *self, const s_send_t *c, s_draft_t *d)
{
    memset (d, 0, sizeof *d);
    d->payload = s_payload (self, &self->subjects[c->subject], c->type);
    if (!d->payload)
        return MACX_ENOMEM;
    macx_record_keep_t all[64];
    size_t nall = s_all_fields (d->payload, all, 64);
    int rc = macx_record_restrict (d->payload, all, nall, &d->held, &d->nheld, NULL);
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
s_draft_request (s_agency_t *self, const s_send_t *c, const s_draft_t *d, int64_t sim,
                 macx_policy_request_t *req)
{
    memset (req, 0, sizeof *req);
    req->sender = self->me->id;
    req->recipient = c->to;
    req->record_type = c->type;
    req->purpose = c->purpose;
    req->phase = c->phase;
    req->case_phase = c->phase;
    req->date = (int32_t) (sim / S_DAY_MS);
    req->fields = d->fields;
    req->nfields = d->nheld;
}

/* What we have sent on a flow on day (the counter the broker keeps for a
 * daily cap); days only move forward. NULL when out of memory. */
static uint32_t *
s_cap_count (s_agency_t *self, int flow, int32_t day)
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
s_cap_book (s_agency_t *self, int flow, int32_t today, uint32_t max)
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


/* Prepares (policy), seals and posts one record. c is owned by the post. */
static void
s_post (s_agency_t *self, s_send_t *c)
{
    s_subject_t *s = &self->subjects[c->subject];
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
                            * S_DAY_MS;
            if (!c->held) {   /* said once: it may wait again if the day fills */
                s_outcome_begin (self, s, "held", c->sim);
                fprintf (self->outcomes, ",\"phase\":\"%s\",\"to\":\"%s\",\"record_type\":\"%s\","
                         "\"reason\":\"RATE_LIMITED\",\"agreement\":", macx_phase_name (c->phase),
                         c->to, c->type);
                macx_json_str (self->outcomes, res.agreement ? res.agreement : "");
                fprintf (self->outcomes, ",\"until_sim_ms\":%" PRId64 ",\"why\":", until);
                macx_json_str (self->outcomes, res.message);
                s_outcome_end (self);
                c->held = true;
            }
            s_timer_add (self, until, T_RETRY, c->subject, c->phase, c);
            s_draft_free (&d);
            return;
        }
    }
    macx_record_keep_t keep[64];
    for (size_t i = 0; i < nprep; i++)
        keep[i] = (macx_record_keep_t) { prepared[i].name, prepared[i].transform };
    if (macx_record_restrict (d.payload, keep, nprep, &manifest, &nm, &err)) {
        macx_log (MACX_LOG_WARN, "cannot prepare a record", "type=%s to=%s why=\"%s\"", c->type,
                  c->to, macx_error_text (&err));
        goto done;
    }
    char *to[1] = { c->to };
    Macx__Header h = MACX__HEADER__INIT;
    h.recipients = to;
    h.n_recipients = 1;
    h.subject = s->id;
    h.case_id = s->case_id;
    h.phase = c->phase;
    h.case_phase = c->phase;
    h.record_type = c->type;
    h.purpose = c->purpose;
    h.manifest = manifest;
    h.n_manifest = nm;   /* the runtime claims the agency's clock (c->sim) */
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

static void
s_send (s_agency_t *self, int subject, const char *to, const char *type, int phase,
        const char *purpose, int64_t sim)
{
    s_send_t *c = s_send_new (self);
    if (!c)
        return;
    c->subject = subject;
    snprintf (c->to, sizeof c->to, "%s", to);
    snprintf (c->type, sizeof c->type, "%s", type);
    c->phase = phase;
    snprintf (c->purpose, sizeof c->purpose, "%s", purpose);
    c->first_sim = c->sim = sim;
    s_post (self, c);
}

/* The first day from `from` on which the agreement would permit this
 * record (probing our own copy of the policy), or -1 before `until`. */
static int32_t
s_first_permit_day (s_agency_t *self, const s_send_t *c, int32_t from, int32_t until)
{
    s_draft_t d;
    int32_t found = -1;
    if (s_draft_new (self, c, &d) == MACX_OK)
        for (int32_t day = from; day <= until && found < 0; day++) {
            macx_policy_request_t req;
            s_draft_request (self, c, &d, (int64_t) day * S_DAY_MS, &req);
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

/* ---- the workflow ------------------------------------------------------------------- */

static int
s_subject_index (const s_agency_t *self, const char *id)
{
    if (strncmp (id, "S-", 2) != 0)
        return -1;
    char *end;
    long n = strtol (id + 2, &end, 10);
    return *end || n < 1 || n > self->nsubjects ? -1 : (int) n;
}

static void s_ctp_maybe_integrate (s_agency_t *self, int subject, int64_t sim);

/* A subject-level stall: the case cannot go on. */
static void
s_stall (s_agency_t *self, int subject, int phase, const char *reason, const char *agreement,
         const char *why, int64_t sim)
{
    s_subject_t *s = &self->subjects[subject];
    if (s->stalled || s->decided)
        return;
    s->stalled = true;
    s_outcome_begin (self, s, "stalled", sim);
    fprintf (self->outcomes, ",\"phase\":\"%s\",\"reason\":\"%s\",\"agreement\":",
             macx_phase_name (phase), reason);
    macx_json_str (self->outcomes, agreement ? agreement : "");
    fprintf (self->outcomes, ",\"why\":");
    macx_json_str (self->outcomes, why);
    s_outcome_end (self);
}

/* MI5: a subject closes: refer the case to CTP, prepare it. */
static void
s_mi5_close (s_agency_t *self, int subject, int64_t sim)
{
    s_subject_t *s = &self->subjects[subject];
    s->closed = true;
    s_outcome_begin (self, s, "closed", sim);
    fprintf (self->outcomes, ",\"region\":");
    macx_json_str (self->outcomes, s->region);
    fprintf (self->outcomes, ",\"mac\":");
    macx_json_str (self->outcomes, s->mac ? s->mac->id : "");
    s_outcome_end (self);
    s_send (self, subject, "ctp", "case_file", MACX__PHASE__IDENTIFICATION, self->scn.workflow.purpose,
            sim);
    /* Live-subject sharing goes to the local authorities only: they are
     * the partners the live-sharing agreements name. */
    if (self->scn.workflow.share_during_identification && s->mac)
        for (int i = 0; i < s->mac->nmembers; i++) {
            const macx_scn_agency_t *a = macx_scenario_agency (&self->scn, s->mac->members[i]);
            if (a && strcmp (a->kind, "local_authority") == 0)
                s_send (self, subject, a->id, "share", MACX__PHASE__IDENTIFICATION,
                        self->scn.workflow.live_purpose, sim);
        }
    s_work (self, subject, MACX__PHASE__IDENTIFICATION, sim);
}

static void
s_share_with_members (s_agency_t *self, int subject, int64_t sim)
{
    s_subject_t *s = &self->subjects[subject];
    for (int i = 0; s->mac && i < s->mac->nmembers; i++) {
        s_send (self, subject, s->mac->members[i], "share", MACX__PHASE__SHARING,
                self->scn.workflow.purpose, sim);
        s->pending |= 1u << i;
    }
    s->share_sim = sim;
}

/* Level from the behavioural baseline: risk at closure, indicators,
 * concerning findings, and noise, all deterministic per subject. */
static void
s_assess (s_agency_t *self, s_subject_t *s)
{
    double base = strcmp (s->category, "CAT-A") == 0 ? 0.42 : strcmp (s->category, "CAT-B") == 0 ? 0.32 : 0.22;
    char stream[64];
    snprintf (stream, sizeof stream, "behaviour/%s", s->id);
    double u1 = macx_rand_unit (self->scn.seed, stream, 0), u2 = macx_rand_unit (self->scn.seed, stream, 1);
    double noise = self->scn.behaviour.noise_sigma * sqrt (-2.0 * log (u1)) * cos (2.0 * M_PI * u2);
    s->score = base + self->scn.behaviour.indicator_weight * s->nind
               + self->scn.behaviour.holding_weight * s->concerns + noise;
    s->level = s->score >= self->scn.behaviour.level3_threshold ? 3
               : s->score >= self->scn.behaviour.level2_threshold ? 2 : 1;
}

/* The panel's decision: disposals drawn by level, each with an owner. */
static void
s_decide (s_agency_t *self, s_subject_t *s)
{
    char stream[64];
    snprintf (stream, sizeof stream, "disposal/%s", s->id);
    s->nproposals = 0;
    for (int pick = 0; pick < 2; pick++) {
        if (pick == 1 && macx_rand_unit (self->scn.seed, stream, 100) > 0.35)
            break;
        double u = macx_rand_unit (self->scn.seed, stream, (uint64_t) pick), acc = 0;
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
        const char *owner = "ctp";
        if (strcmp (chosen->owner_kind, "mi5") == 0)
            owner = "mi5";
        else if (s->mac)
            for (int i = 0; i < s->mac->nmembers; i++) {
                const macx_scn_agency_t *a = macx_scenario_agency (&self->scn, s->mac->members[i]);
                if (a && strcmp (a->kind, chosen->owner_kind) == 0) {
                    owner = a->id;
                    break;
                }
            }
        snprintf (s->proposals[s->nproposals], sizeof s->proposals[0], "%s", chosen->kind);
        snprintf (s->proposers[s->nproposals], sizeof s->proposers[0], "%s", owner);
        s->nproposals++;
    }
    s->decided = true;
}

static void
s_ctp_maybe_integrate (s_agency_t *self, int subject, int64_t sim)
{
    s_subject_t *s = &self->subjects[subject];
    /* Not before our own checks are done and we have shared: answers that
     * come earlier (MI5 shared first) wait for that. */
    if (s->work_started[MACX__PHASE__ENRICHMENT] || s->stalled || !s->share_sim)
        return;
    uint32_t waiting = (s->reached | s->pending) & ~s->answered & ~s->unreachable;
    if (waiting == 0 && s_count (s->answered) > 0)
        s_work (self, subject, MACX__PHASE__ENRICHMENT, sim);
    else if (s->pending == 0 && s->reached == 0 && s->unreachable
             && s_count (s->unreachable) == (s->mac ? s->mac->nmembers : 0))
        s_stall (self, subject, MACX__PHASE__SHARING, "NO_PARTNER_REACHABLE", NULL,
                 "no partner of the subject's MAC could be reached under the agreements in force",
                 sim);
}

/* A unit of work finished at sim: act on it. */
static void
s_work_done (s_agency_t *self, int subject, int phase, int64_t sim)
{
    s_subject_t *s = &self->subjects[subject];
    if (s->stalled)
        return;
    const char *purpose = self->scn.workflow.purpose;
    switch (self->role) {
    case ROLE_MI5:
        if (phase == MACX__PHASE__IDENTIFICATION)
            s_share_with_members (self, subject, sim);
        else if (phase == MACX__PHASE__PROFILING)
            s_send (self, subject, "ctp", "profile", MACX__PHASE__PROFILING, purpose, sim);
        break;
    case ROLE_CTP:
        if (phase == MACX__PHASE__IDENTIFICATION) {
            s_share_with_members (self, subject, sim);
            s_timer_add (self, sim + (int64_t) self->scn.enrichment_wait_days * S_DAY_MS, T_WAIT,
                         subject, MACX__PHASE__ENRICHMENT, NULL);
            s_ctp_maybe_integrate (self, subject, sim);   /* answers may be in already */
        }
        else if (phase == MACX__PHASE__ENRICHMENT) {
            s_assess (self, s);
            s_outcome_begin (self, s, "level", sim);
            fprintf (self->outcomes, ",\"level\":%d,\"score\":%.4f,\"answers\":%d,\"concerns\":%d",
                     s->level, s->score, s_count (s->answered), s->concerns);
            s_outcome_end (self);
            s->profiled = true;
            s_send (self, subject, "mi5", "profile", MACX__PHASE__PROFILING, purpose, sim);
            for (int i = 0; s->mac && i < s->mac->nmembers; i++)
                if (s->answered & (1u << i))
                    s_send (self, subject, s->mac->members[i], "profile", MACX__PHASE__PROFILING,
                            purpose, sim);
            if (self->scn.workflow.profile_review)
                s_timer_add (self, sim + (int64_t) self->scn.enrichment_wait_days * S_DAY_MS, T_WAIT,
                             subject, MACX__PHASE__PROFILING, NULL);
            else
                s_work (self, subject, MACX__PHASE__PROFILING, sim);
        }
        else if (phase == MACX__PHASE__PROFILING) {
            /* the panel: the agenda to the members who took part */
            s->agenda_sent = true;
            s->agenda = s->answered;   /* a later answer does not join this panel */
            for (int i = 0; s->mac && i < s->mac->nmembers; i++)
                if (s->agenda & (1u << i))
                    s_send (self, subject, s->mac->members[i], "panel_plan", MACX__PHASE__PANEL,
                            purpose, sim);
            s_timer_add (self, sim + (int64_t) self->scn.enrichment_wait_days * S_DAY_MS, T_WAIT,
                         subject, MACX__PHASE__PANEL, NULL);
            if (s_count (s->agenda) == 0)
                s_work (self, subject, MACX__PHASE__PANEL, sim);
        }
        else if (phase == MACX__PHASE__PANEL) {
            s_decide (self, s);
            for (int i = 0; s->mac && i < s->mac->nmembers; i++)
                if (s->answered & (1u << i))
                    s_send (self, subject, s->mac->members[i], "panel_plan", MACX__PHASE__PANEL,
                            purpose, sim);
            s_send (self, subject, "mi5", "panel_plan", MACX__PHASE__PANEL, purpose, sim);
            s_outcome_begin (self, s, "disposal", sim);
            fprintf (self->outcomes, ",\"level\":%d,\"disposals\":[", s->level);
            bool back = false;
            for (int i = 0; i < s->nproposals; i++) {
                fprintf (self->outcomes, "%s", i ? "," : "");
                macx_json_str (self->outcomes, s->proposals[i]);
                back |= strcmp (s->proposals[i], "referral_back_to_investigation") == 0;
            }
            fprintf (self->outcomes, "],\"back_to_investigation\":%s", back ? "true" : "false");
            s_outcome_end (self);
        }
        break;
    case ROLE_PARTNER:
        if (phase == MACX__PHASE__SHARING) {
            size_t n = 0;
            macx_synth_lookup (self->db, s->name, s->dob, s->region, s->holdings, 16, &n);
            s->nheld = (int) n;
            s->answer_ready = true;
            if (s->formal_share || !self->scn.workflow.share_during_identification) {
                int ph = self->scn.workflow.enrichment_in_sharing ? MACX__PHASE__SHARING
                                                                   : MACX__PHASE__ENRICHMENT;
                s_send (self, subject, "mi5", "enrichment", ph, purpose, sim);
                s_send (self, subject, "ctp", "enrichment", ph, purpose, sim);
                s->answered_sent = true;
            }
        }
        else if (phase == MACX__PHASE__PANEL)
            s_send (self, subject, "ctp", "panel_plan", MACX__PHASE__PANEL, purpose, sim);
        break;
    }
}

/* ---- receiving ------------------------------------------------------------------------- */

static void
s_copy_str (char *dst, size_t size, const char *src)
{
    snprintf (dst, size, "%s", src ? src : "");
}

static void
s_on_record (s_agency_t *self, macx_record_t *rec)
{
    const Macx__Header *h = macx_record_header (rec);
    const Macx__Payload *p = macx_record_payload (rec);
    int subject = s_subject_index (self, h->subject);
    if (subject < 0)
        return;
    s_subject_t *s = &self->subjects[subject];
    int64_t sim = s_now (self);   /* it reaches us now: its stamp plus its transit */
    self->received++;
    if (!s->known) {
        s->known = true;
        s_copy_str (s->id, sizeof s->id, h->subject);
        s_copy_str (s->case_id, sizeof s->case_id, h->case_id);
    }
    const char *type = h->record_type;
    int mi = s_index_of_member (s, h->sender);
    switch (self->role) {
    case ROLE_CTP:
        if (strcmp (type, "case_file") == 0 && p->case_file) {
            const Macx__CaseFile *c = p->case_file;
            s_copy_str (s->name, sizeof s->name, c->subject_name);
            s_copy_str (s->dob, sizeof s->dob, c->dob);
            s_copy_str (s->address, sizeof s->address, c->address);
            s_copy_str (s->postcode, sizeof s->postcode, c->postcode);
            s_copy_str (s->region, sizeof s->region, c->region);
            s_copy_str (s->category, sizeof s->category, c->closure_category);
            s->nind = 0;
            for (size_t i = 0; i < c->n_risk_indicators && i < 8; i++)
                s_copy_str (s->indicators[s->nind++], sizeof s->indicators[0], c->risk_indicators[i]);
            s->mac = macx_scenario_mac_for (&self->scn, s->region);
            s_work (self, subject, MACX__PHASE__IDENTIFICATION, sim);
        }
        else if (strcmp (type, "enrichment") == 0 && p->enrichment && mi >= 0) {
            if (s->answered & (1u << mi))
                break;
            s->answered |= 1u << mi;
            const Macx__Enrichment *e = p->enrichment;
            for (size_t i = 0; i < e->n_holdings; i++) {
                s->nholdings++;
                /* a concern is anything but a plain administrative record */
                if (e->holdings[i]->match && strcmp (e->holdings[i]->match, "exact") == 0
                    && e->holdings[i]->detail && strncmp (e->holdings[i]->detail, "concern:", 8) == 0)
                    s->concerns++;
            }
            for (size_t i = 0; i < e->n_interventions && s->nproposals < 16; i++) {
                s_copy_str (s->proposals[s->nproposals], sizeof s->proposals[0], e->interventions[i]->kind);
                s_copy_str (s->proposers[s->nproposals], sizeof s->proposers[0], h->sender);
                s->nproposals++;
            }
            s_ctp_maybe_integrate (self, subject, sim);
        }
        else if (strcmp (type, "profile") == 0 && strcmp (h->sender, "mi5") == 0) {
            s->reviewed = true;
            if (s->profiled)
                s_work (self, subject, MACX__PHASE__PROFILING, sim);
        }
        else if (strcmp (type, "panel_plan") == 0 && mi >= 0) {
            s->responded |= 1u << mi;
            if ((s->responded & s->agenda) == s->agenda && s->agenda_sent)
                s_work (self, subject, MACX__PHASE__PANEL, sim);
        }
        break;
    case ROLE_MI5:
        if (strcmp (type, "profile") == 0 && p->profile) {
            /* MI5's review answers with the level it was given */
            s->level = p->profile->level;
            s->score = p->profile->baseline_score / 100.0;
            if (self->scn.workflow.profile_review)
                s_work (self, subject, MACX__PHASE__PROFILING, sim);
        }
        break;
    case ROLE_PARTNER:
        if (strcmp (type, "share") == 0 && p->share) {
            const Macx__Share *c = p->share;
            if (!s->name[0]) {
                s_copy_str (s->name, sizeof s->name, c->subject_name);
                s_copy_str (s->dob, sizeof s->dob, c->dob);
                s_copy_str (s->region, sizeof s->region, c->region);
            }
            if (h->phase != MACX__PHASE__IDENTIFICATION)
                s->formal_share = true;
            if (s->answer_ready && !s->answered_sent && s->formal_share) {
                int ph = self->scn.workflow.enrichment_in_sharing ? MACX__PHASE__SHARING
                                                                   : MACX__PHASE__ENRICHMENT;
                s_send (self, subject, "mi5", "enrichment", ph, self->scn.workflow.purpose, sim);
                s_send (self, subject, "ctp", "enrichment", ph, self->scn.workflow.purpose, sim);
                s->answered_sent = true;
            }
            s_work (self, subject, MACX__PHASE__SHARING, sim);
        }
        else if (strcmp (type, "panel_plan") == 0 && p->panel_plan
                 && (!p->panel_plan->decided_on || !*p->panel_plan->decided_on)) {
            /* the agenda: offer what we can deliver */
            s->nproposals = 0;
            Macx__Intervention iv[8];
            char storage[8][3][200];
            size_t ni = macx_synth_interventions (self->me->id, self->me->kind, s->holdings,
                                                  (size_t) s->nheld, iv, storage, 8);
            for (size_t i = 0; i < ni && s->nproposals < 16; i++)
                s_copy_str (s->proposals[s->nproposals++], sizeof s->proposals[0], iv[i].kind);
            s_work (self, subject, MACX__PHASE__PANEL, sim);
        }
        break;
    }
}

/* An answer to something we sent. */
static void
s_on_answer (s_agency_t *self, const macx_agent_event_t *ev)
{
    s_send_t *c = ev->user;
    if (!c)
        return;
    s_subject_t *s = &self->subjects[c->subject];
    int mi = s_index_of_member (s, c->to);
    if (ev->kind == MACX_AGENT_ACK) {
        if (self->role == ROLE_CTP && strcmp (c->type, "share") == 0 && mi >= 0) {
            s->reached |= 1u << mi;
            s->pending &= ~(1u << mi);
        }
        s_send_free (self, c);
        return;
    }
    /* Refused: when would the agreement let it through? */
    self->refused++;
    int32_t today = (int32_t) (c->sim / S_DAY_MS);
    int32_t until = (int32_t) (c->first_sim / S_DAY_MS) + self->scn.deadline_days;
    int32_t retry = s_first_permit_day (self, c, today + 1, until);
    s_outcome_begin (self, s, "refused", c->sim);
    fprintf (self->outcomes, ",\"phase\":\"%s\",\"to\":\"%s\",\"record_type\":\"%s\",\"reason\":\"%s\","
             "\"agreement\":", macx_phase_name (c->phase), c->to, c->type, macx_reason_name (ev->reason));
    macx_json_str (self->outcomes, ev->agreement);
    fprintf (self->outcomes, ",\"retry_sim_ms\":%" PRId64 ",\"why\":",
             retry >= 0 ? (int64_t) retry * S_DAY_MS : 0);
    macx_json_str (self->outcomes, ev->message);
    s_outcome_end (self);
    /* We learn the verdict now; what follows from it happens now too. */
    int64_t now = s_now (self);
    if (retry >= 0) {
        int64_t at = (int64_t) retry * S_DAY_MS;
        s_timer_add (self, at > now ? at : now, T_RETRY, c->subject, c->phase, c);
        return;
    }
    /* Given up for this recipient. */
    if (self->role == ROLE_CTP && strcmp (c->type, "share") == 0 && mi >= 0) {
        s->pending &= ~(1u << mi);
        s->unreachable |= 1u << mi;
        s_ctp_maybe_integrate (self, c->subject, now);
    }
    else if (self->role == ROLE_MI5 && strcmp (c->type, "case_file") == 0)
        s_stall (self, c->subject, MACX__PHASE__IDENTIFICATION, macx_reason_name (ev->reason),
                 ev->agreement, "MI5 could not refer the case to CTP", now);
    s_send_free (self, c);
}

static void
s_on_timer (s_agency_t *self, s_timer_t *t)
{
    switch (t->kind) {
    case T_CLOSE:
        s_mi5_close (self, t->subject, t->sim);
        break;
    case T_WORK:
        s_work_done (self, t->subject, t->phase, t->sim);
        break;
    case T_RETRY: {
        s_send_t *c = t->ctx;
        c->sim = t->sim;
        s_post (self, c);
        break;
    }
    case T_WAIT: {
        s_subject_t *s = &self->subjects[t->subject];
        if (s->stalled)
            break;
        if (t->phase == MACX__PHASE__ENRICHMENT && !s->work_started[MACX__PHASE__ENRICHMENT]) {
            /* Go on with what has come, unless a partner has not even been
             * reached yet (its share waits for an agreement): a late
             * agreement delays the case rather than leaving that partner
             * out. With nothing yet, wait on while a partner was reached (or
             * may still be) and the deadline allows. */
            bool waiting = ((s->reached | s->pending) & ~s->unreachable) != 0;
            bool unreached = (s->pending & ~s->reached & ~s->answered & ~s->unreachable) != 0;
            int64_t waited = t->sim - s->share_sim;
            bool in_time = waited < (int64_t) self->scn.deadline_days * S_DAY_MS;
            if (s_count (s->answered) > 0 && !(unreached && in_time))
                s_work (self, t->subject, MACX__PHASE__ENRICHMENT, t->sim);
            else if (waiting && in_time)
                s_timer_add (self, t->sim + (int64_t) self->scn.enrichment_wait_days * S_DAY_MS,
                             T_WAIT, t->subject, t->phase, NULL);
            else
                s_stall (self, t->subject, MACX__PHASE__SHARING, "NO_ANSWER", NULL,
                         "no partner answered before the deadline", t->sim);
        }
        else if (t->phase == MACX__PHASE__PROFILING && !s->work_started[MACX__PHASE__PROFILING])
            s_work (self, t->subject, MACX__PHASE__PROFILING, t->sim);
        else if (t->phase == MACX__PHASE__PANEL && !s->work_started[MACX__PHASE__PANEL])
            s_work (self, t->subject, MACX__PHASE__PANEL, t->sim);
        break;
    }
    }
}

/* ---- set-up and the loop ------------------------------------------------------------------ */

static int
s_setup (s_agency_t *self, macx_error_t *err)
{
    int rc = macx_scenario_load (self->o.scenario, &self->scn, err);
    if (rc)
        return rc;
    macx_scenario_override (&self->scn, self->o.seed, self->o.subjects);
    self->me = macx_scenario_agency (&self->scn, self->o.agency);
    if (!self->me)
        return macx_error_set (err, MACX_ENOTFOUND, "%s: no agency '%s' in the scenario",
                               self->o.scenario, self->o.agency);
    self->role = strcmp (self->me->kind, "mi5") == 0   ? ROLE_MI5
                 : strcmp (self->me->kind, "ctp") == 0 ? ROLE_CTP : ROLE_PARTNER;
    self->start_ms = (int64_t) self->scn.start_day * S_DAY_MS;
    if (!(self->policy = macx_policy_load (self->scn.policy_dir, err)))
        return err->code;
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
    if (self->role == ROLE_MI5) {
        macx_subject_t *cohort = NULL;
        size_t n = 0;
        if ((rc = macx_synth_subjects (self->db, &cohort, &n, err)))
            return rc;
        for (size_t i = 0; i < n; i++) {
            int idx = s_subject_index (self, cohort[i].id);
            if (idx < 0)
                continue;
            s_subject_t *s = &self->subjects[idx];
            s->known = true;
            s_copy_str (s->id, sizeof s->id, cohort[i].id);
            s_copy_str (s->case_id, sizeof s->case_id, cohort[i].case_id);
            s_copy_str (s->name, sizeof s->name, cohort[i].name);
            s_copy_str (s->dob, sizeof s->dob, cohort[i].dob);
            s_copy_str (s->address, sizeof s->address, cohort[i].address);
            s_copy_str (s->postcode, sizeof s->postcode, cohort[i].postcode);
            s_copy_str (s->region, sizeof s->region, cohort[i].region);
            s_copy_str (s->category, sizeof s->category, cohort[i].closure_category);
            s_copy_str (s->kis_ref, sizeof s->kis_ref, cohort[i].kis_ref);
            s_copy_str (s->kis_summary, sizeof s->kis_summary, cohort[i].kis_summary);
            s->nind = cohort[i].nindicators < 8 ? cohort[i].nindicators : 8;
            for (int k = 0; k < s->nind; k++)
                s_copy_str (s->indicators[k], sizeof s->indicators[0], cohort[i].indicators[k]);
            s->mac = macx_scenario_mac_for (&self->scn, s->region);
            char stream[64];
            snprintf (stream, sizeof stream, "closure/%s", s->id);
            double frac = macx_rand_unit (self->scn.seed, stream, 0);
            s_timer_add (self, self->start_ms
                                   + (int64_t) (((double) cohort[i].closure_day + frac) * S_DAY_MS),
                         T_CLOSE, idx, 0, NULL);
        }
        free (cohort);
    }
    return MACX_OK;
}

int
macx_agency_run (const macx_agency_opts_t *opts, macx_error_t *err)
{
    s_agency_t *self = calloc (1, sizeof *self);
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
            s_timer_t t = { ev.time_ms, (s_timer_kind_t) (ev.tag & 0xff), (int) (ev.tag >> 16),
                            (int) (ev.tag >> 8 & 0xff), ev.user };
            s_on_timer (self, &t);
        }
        else if (ev.kind == MACX_AGENT_RECORD)
            s_on_record (self, ev.record);
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
                  macx_agent_requests (self->agent), late, s_now (self));
    }
    macx_log (MACX_LOG_INFO, "stopped", "sent=%" PRIu64 " refused=%" PRIu64 " received=%" PRIu64,
              self->sent, self->refused, self->received);
    macx_agent_destroy (&self->agent);
    macx_synth_close (&self->db);
    if (self->outcomes)
        fclose (self->outcomes);
    macx_policy_destroy (&self->policy);
    for (int p = 0; p < 6; p++)
        free (self->slots[p]);
    while (self->sends)   /* retries never due, answers never come: the run ended */
        s_send_free (self, self->sends);
    free (self->caps);
    free (self->subjects);
    free (self);
    return rc;
}
