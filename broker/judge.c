/* judge.c -- the broker's decision on one record (see judge.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "judge.h"
#include "names.h"

#define S_DAY_MS ((int64_t) 86400000)

int
macx_judge_phase_needed (int phase)
{
    /* The MAC's order (DOMAIN.md): a case opens with identification;
     * sharing follows it; partners answer (enrichment) what was shared;
     * the profile integrates what was shared and answered, and an
     * abbreviated workflow folds the answers into sharing, so profiling
     * needs sharing, not enrichment; the panel plans on a profile. */
    switch (phase) {
    case MACX__PHASE__SHARING:    return MACX__PHASE__IDENTIFICATION;
    case MACX__PHASE__ENRICHMENT: return MACX__PHASE__SHARING;
    case MACX__PHASE__PROFILING:  return MACX__PHASE__SHARING;
    case MACX__PHASE__PANEL:      return MACX__PHASE__PROFILING;
    default:                      return 0;
    }
}

bool
macx_judge_case_reached (const Macx__CaseState *state, int phase)
{
    return state && phase > 0 && phase < 32 && (state->phases >> phase & 1u);
}

bool
macx_judge_case_holds (const Macx__CaseState *state, const char *holder, const char *origin,
                       const char *record_type)
{
    for (size_t i = 0; state && i < state->n_holdings; i++) {
        const Macx__CaseHolding *g = state->holdings[i];
        if (strcmp (g->holder, holder) == 0 && strcmp (g->origin, origin) == 0
            && (!record_type || !*record_type || strcmp (g->record_type, record_type) == 0))
            return true;
    }
    return false;
}

static int
s_refuse (macx_verdict_t *v, int reason, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_refuse (macx_verdict_t *v, int reason, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (v->message, sizeof v->message, fmt, ap);
    va_end (ap);
    v->reason = reason;
    return 0;
}

int
macx_judge_case (const char *case_id, int phase, const char *sender, const char *origin,
                 const char *origin_type, const Macx__CaseState *state, char *msg, size_t size)
{
    int needed = macx_judge_phase_needed (phase);
    const char *ot = origin_type ? origin_type : "";
    if (needed && !macx_judge_case_reached (state, needed)) {
        const char *a = macx_phase_article (phase), *name = macx_phase_name (phase);
        if (!state)
            snprintf (msg, size, "%s %s record for case '%s', which has no accepted record: a "
                      "case opens with identification", a, name, case_id);
        else
            snprintf (msg, size, "%s %s record for case '%s', which has not reached %s", a, name,
                      case_id, macx_phase_name (needed));
        return MACX__REASON__CASE_PHASE_NOT_REACHED;
    }
    if (origin && *origin && strcmp (origin, sender) != 0
        && !macx_judge_case_holds (state, sender, origin, ot)) {
        snprintf (msg, size, "the record names origin %s%s%s, but no %s of %s's in case '%s' was "
                  "delivered to %s", origin, *ot ? " " : "", ot, *ot ? ot : "record", origin,
                  case_id, sender);
        return MACX__REASON__ORIGIN_NOT_DELIVERED;
    }
    return 0;
}

/* The case context: the phase the record needs its case to have reached,
 * and the origin it names having been delivered to its sender. */
static int
s_case (const Macx__Header *h, const macx_judge_context_t *ctx, macx_verdict_t *v)
{
    const macx_judge_store_t *st = &ctx->store;
    v->case_needed = macx_judge_phase_needed (h->phase);
    bool onward = h->origin && *h->origin && strcmp (h->origin, h->sender) != 0;
    if (!v->case_needed && !onward)
        return 0;
    Macx__CaseState *state = NULL;
    if (st->case_get (st->arg, h->case_id, &state))
        return -1;
    v->case_known = state != NULL;
    v->case_reached = state ? state->phases : 0;
    v->reason = macx_judge_case (h->case_id, h->phase, h->sender, h->origin, h->origin_record_type,
                                 state, v->message, sizeof v->message);
    if (state && st->case_free)
        st->case_free (st->arg, state);
    return 0;
}

/* The agreements, recipient by recipient; all must permit. A flow with a
 * daily cap is evaluated again with what the store counted on it today. */
static int
s_agreements (const Macx__Header *h, const macx_judge_context_t *ctx, macx_verdict_t *v)
{
    const macx_judge_store_t *st = &ctx->store;
    macx_policy_field_t fields[MACX_MANIFEST_MAX];
    for (size_t i = 0; i < h->n_manifest && i < MACX_MANIFEST_MAX; i++)
        fields[i] = (macx_policy_field_t) { h->manifest[i]->name, h->manifest[i]->transform };
    int32_t day = (int32_t) (v->stamp / S_DAY_MS);
    /* The case's phase is the broker's: the record's own, once its case has
     * reached what that phase needs (s_case); the header's claim is not
     * used. */
    macx_policy_request_t req = {
        .sender = h->sender, .record_type = h->record_type, .purpose = h->purpose,
        .phase = h->phase, .case_phase = h->phase,
        .fields = fields, .nfields = h->n_manifest < MACX_MANIFEST_MAX ? h->n_manifest
                                                                       : MACX_MANIFEST_MAX,
        .date = day,
        .origin = h->origin && *h->origin ? h->origin : NULL,
        .origin_record_type = h->origin_record_type, .origin_consent = h->origin_consent,
    };
    v->nrecipients = h->n_recipients;
    for (size_t i = 0; i < h->n_recipients; i++) {
        macx_policy_result_t *r = &v->results[i];
        req.recipient = h->recipients[i];
        req.sent_today = 0;
        macx_policy_evaluate (ctx->policy, &req, r);
        v->cap_key[i][0] = '\0';
        v->cap_count[i] = 0;
        if (r->decision == MACX_DECISION_PERMIT && r->max_per_day > 0) {
            /* per flow (by its names, not its place: a reloaded policy may
             * order its flows differently), sender and day */
            snprintf (v->cap_key[i], sizeof v->cap_key[i], "f/%s/%s/%s/%d",
                      r->agreement ? r->agreement : "", r->flow ? r->flow : "", h->sender, day);
            if (st->count (st->arg, v->cap_key[i], &v->cap_count[i]))
                return -1;
            req.sent_today = (uint32_t) v->cap_count[i];
            macx_policy_evaluate (ctx->policy, &req, r);
        }
        if (r->decision != MACX_DECISION_PERMIT) {
            v->agreement = r->agreement;
            v->flow = r->flow;
            return s_refuse (v, r->reason ? r->reason : MACX__REASON__INTERNAL_ERROR, "to %s: %s",
                             h->recipients[i], r->message);
        }
        size_t al = strlen (v->agreements), fl = strlen (v->flows);
        snprintf (v->agreements + al, sizeof v->agreements - al, "%s%s", i ? "," : "",
                  r->agreement ? r->agreement : "");
        snprintf (v->flows + fl, sizeof v->flows - fl, "%s%s", i ? "," : "", r->flow ? r->flow : "");
    }
    return 0;
}

int
macx_judge (const Macx__Header *h, const macx_judge_context_t *ctx, macx_verdict_t *v)
{
    const macx_judge_store_t *st = &ctx->store;
    v->reason = 0;
    v->message[0] = '\0';
    v->agreement = v->flow = NULL;
    v->stamp = 0;
    v->last = 0;
    v->gap = false;
    v->first_audit = 0;
    v->case_reached = 0;
    v->case_needed = 0;
    v->case_known = false;
    v->nrecipients = 0;
    v->agreements[0] = v->flows[0] = '\0';
    /* Identity first: the authenticated agency is the only sender it may be. */
    if (h && strcmp (h->sender, ctx->peer) != 0)
        return s_refuse (v, MACX__REASON__SENDER_MISMATCH, "header names sender '%s' but the "
                         "connection is authenticated as '%s'", h->sender, ctx->peer);
    if (ctx->refused || !h)
        return s_refuse (v, ctx->refused ? ctx->refused : MACX__REASON__MALFORMED, "%s",
                         ctx->refused_message && *ctx->refused_message ? ctx->refused_message
                                                                       : "not a record");
    /* Verified under the registry of its time; judged under today's: a
     * sender revoked (or rekeyed) since is refused. */
    const macx_agency_t *sa = macx_registry_find (ctx->registry, h->sender);
    if (!sa || sa->revoked || !macx_record_signed_by (ctx->record, sa))
        return s_refuse (v, MACX__REASON__SENDER_REVOKED, "sender '%s' %s since the record was "
                         "verified", h->sender, !sa ? "left the key registry"
                                                    : sa->revoked ? "was revoked" : "has new keys");
    /* Replay: a record id already accepted (in this batch too: the store
     * sees the transaction's writes), or a sequence that does not move on. */
    bool seen = false;
    if (st->seen (st->arg, &h->record_id, &seen, &v->first_audit))
        return -1;
    if (seen)
        return s_refuse (v, MACX__REASON__REPLAY, "record already received (audit entry %" PRIu64
                         ")", v->first_audit);
    if (st->last_sequence (st->arg, h->sender, &v->last))
        return -1;
    /* Below the high-water mark only into a gap this record left when it
     * was refused transiently. */
    if (h->sequence <= v->last && st->gap (st->arg, h, &v->gap))
        return -1;
    /* A batch's records come in the order it was signed, and a batch once
     * left is not returned to (a record resent into a gap is exempt). */
    if (!v->gap && st->batch_order) {
        int reason = 0;
        char msg[MACX_JUDGE_MSG_MAX] = "";
        if (st->batch_order (st->arg, h, macx_record_envelope (ctx->record)->batch, &reason, msg,
                             sizeof msg))
            return -1;
        if (reason)
            return s_refuse (v, reason, "%s", msg);
    }
    if (h->sequence <= v->last && !v->gap)
        return s_refuse (v, MACX__REASON__SEQUENCE_REGRESSION, "sequence %" PRIu64 " does not "
                         "follow %" PRIu64 " already accepted from %s", h->sequence, v->last,
                         h->sender);
    /* The broker's clock judges, never the sender's: the time the header
     * claims must agree with it, and the record is stamped with it. */
    bool ok = false;
    int64_t stamp = 0;
    char msg[MACX_JUDGE_MSG_MAX] = "";
    if (st->stamp (st->arg, h, &ok, &stamp, msg, sizeof msg))
        return -1;
    if (!ok)
        return s_refuse (v, MACX__REASON__CLOCK_SKEW, "%s", msg);
    v->stamp = stamp;
    /* Recipients must be registered agencies, not revoked. */
    for (size_t i = 0; i < h->n_recipients; i++) {
        const macx_agency_t *ra = macx_registry_find (ctx->registry, h->recipients[i]);
        if (!ra || ra->revoked)
            return s_refuse (v, ra ? MACX__REASON__RECIPIENT_REVOKED
                                   : MACX__REASON__UNKNOWN_RECIPIENT,
                             "recipient '%s' is %s", h->recipients[i],
                             ra ? "revoked" : "not a registered agency");
    }
    if (s_case (h, ctx, v))
        return -1;
    if (v->reason)
        return 0;
    return s_agreements (h, ctx, v);
}
