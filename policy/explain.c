/* explain.c -- one decision in plain words: the agreements considered, the
 * deciding flow, field by field what happens and why, the obligations, and
 * for a denial the nearest miss. Writes only to the caller's stream. */
#include <string.h>

#include "clock.h"
#include "names.h"
#include "policy_int.h"

char *
macx_policy_disposition (const macx_policy_field_result_t *r, char *buf, size_t size)
{
    switch (r->disposition) {
    case MACX_FIELD_RELEASED:
        snprintf (buf, size, "released");
        break;
    case MACX_FIELD_TRANSFORM:
        snprintf (buf, size, "transform:%s", r->transform);
        break;
    case MACX_FIELD_DROP_FORBIDDEN:
        snprintf (buf, size, "forbidden:%s", r->rule ? r->rule : "?");
        break;
    default:
        snprintf (buf, size, "not_allowed");
        break;
    }
    return buf;
}

static const char *
s_upper (const char *s, char *buf, size_t size)
{
    size_t i = 0;
    for (; s[i] && i + 1 < size; i++)
        buf[i] = (char) (s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
    buf[i] = 0;
    return buf;
}

/* How an agreement stands at day, in words. */
static void
s_state_words (const macx_agreement_t *a, int32_t day, char *buf, size_t size)
{
    char d1[16], d2[16];
    unsigned warn = 0;
    int st = macx_policy_agreement_state (a, day, &warn);
    if (a->status != MACX_AGREEMENT_ACTIVE)
        snprintf (buf, size, "not in force: status is %s", macx_policy_status_names[a->status]);
    else if (st == MACX__REASON__AGREEMENT_NOT_IN_FORCE)
        snprintf (buf, size, "not in force until %s (in %d days)",
                  macx_date_format (a->effective, d1), a->effective - day);
    else if (st == MACX__REASON__AGREEMENT_EXPIRED)
        snprintf (buf, size, "expired after %s", macx_date_format (a->expires, d1));
    else if (st == MACX__REASON__REVIEW_LAPSED)
        snprintf (buf, size, "review lapsed: due %s, grace ended %s",
                  macx_date_format (a->review_by, d1),
                  macx_date_format (a->review_by + a->grace, d2));
    else if (warn)
        snprintf (buf, size, "in force, review overdue (grace until %s)",
                  macx_date_format (a->review_by + a->grace, d1));
    else
        snprintf (buf, size, "in force");
}

/* The nearest miss of a denial, by relaxing one part of the request. */
static void
s_nearest (const macx_policy_t *p, const macx_policy_request_t *req,
           const macx_policy_result_t *res, char *buf, size_t size)
{
    char d1[16], list[512], phases[128];
    buf[0] = 0;
    int from = macx_policy_find_agency (p, req->sender);
    int to = macx_policy_find_agency (p, req->recipient);
    int type = macx_policy_find_type (p, req->record_type);
    const macx_flow_t *f = res->flow_index >= 0 ? &p->flows[res->flow_index] : NULL;
    const macx_agreement_t *a = f ? &p->agreements[f->agreement] : NULL;
    switch (res->reason) {
    case MACX__REASON__NO_AGREEMENT: {
        if (from < 0 || to < 0)
            break;
        uint64_t with = 0;
        for (int i = 0; i < p->nagreements; i++)
            if (p->agreements[i].parties >> from & 1)
                with |= p->agreements[i].parties;
        with &= ~(1ull << from);
        snprintf (buf, size, "%s has agreements with %s; none with %s", req->sender,
                  with ? macx_policy_agency_list (p, with, list, sizeof list) : "nobody",
                  req->recipient);
        break;
    }
    case MACX__REASON__NO_FLOW: {
        if (from < 0 || to < 0 || type < 0)
            break;
        size_t used = 0;
        for (int t = 0; t < p->ntypes && used < size; t++) {
            size_t c = macx_policy_cell (p, from, to, t);
            for (int k = p->cell_start[c]; k < p->cell_start[c + 1] && used < size; k++) {
                const macx_flow_t *g = &p->flows[p->cell_flows[k]];
                used += (size_t) snprintf (buf + used, size - used, "%s%s/%s carries %s in %s",
                                           used ? "; " : "", p->agreements[g->agreement].id,
                                           g->id, p->types[g->type].id,
                                           macx_policy_phase_list (g->phases, phases,
                                                                   sizeof phases));
            }
        }
        if (!used) {
            uint64_t others = 0;
            for (int b = 0; b < p->nagencies; b++) {
                size_t c = macx_policy_cell (p, from, b, type);
                if (p->cell_start[c] < p->cell_start[c + 1])
                    others |= 1ull << b;
            }
            snprintf (buf, size, "%s sends %s to %s only", req->sender, req->record_type,
                      others ? macx_policy_agency_list (p, others, list, sizeof list) : "nobody");
        }
        break;
    }
    case MACX__REASON__PURPOSE_NOT_ALLOWED:
    case MACX__REASON__PHASE_NOT_ALLOWED: {
        if (from < 0 || to < 0 || type < 0)
            break;
        size_t c = macx_policy_cell (p, from, to, type), used = 0;
        for (int k = p->cell_start[c]; k < p->cell_start[c + 1] && used < size; k++) {
            const macx_flow_t *g = &p->flows[p->cell_flows[k]];
            int u = __builtin_ctz (g->purposes);
            used += (size_t) snprintf (buf + used, size - used,
                                       "%sflow %s/%s would match for purpose %s in phase %s",
                                       used ? "; " : "", p->agreements[g->agreement].id, g->id,
                                       p->purposes[u],
                                       macx_policy_phase_list (g->phases, phases, sizeof phases));
        }
        if (res->reason == MACX__REASON__PHASE_NOT_ALLOWED && used < size)
            snprintf (buf + used, size - used, "; the record is declared in %s",
                      macx_phase_name (req->phase));
        break;
    }
    case MACX__REASON__CASE_PHASE_MISMATCH:
        snprintf (buf, size, "flow %s/%s would match in phase %s; the case is in %s", a->id,
                  f->id, macx_phase_name (req->phase), macx_phase_name (req->case_phase));
        break;
    case MACX__REASON__AGREEMENT_NOT_IN_FORCE:
    case MACX__REASON__AGREEMENT_EXPIRED:
    case MACX__REASON__REVIEW_LAPSED: {
        char words[160];
        s_state_words (a, req->date, words, sizeof words);
        snprintf (buf, size, "flow %s/%s would match; agreement %s is %s on %s", a->id, f->id,
                  a->id, words, macx_date_format (req->date, d1));
        break;
    }
    case MACX__REASON__MISSING_LEGAL_BASIS:
        snprintf (buf, size, "flow %s/%s would match once agreement %s records a legal basis "
                  "for %s to disclose and %s to receive", a->id, f->id, a->id, req->sender,
                  req->recipient);
        break;
    case MACX__REASON__RATE_LIMITED:
        snprintf (buf, size, "flow %s/%s would match tomorrow: %u of %u already sent today",
                  a->id, f->id, req->sent_today, f->max_per_day);
        break;
    case MACX__REASON__REQUIRED_FIELD_MISSING: {
        const macx_rtype_t *t = &p->types[f->type];
        char req_list[256] = "";
        for (int i = 0, n = 0; i < t->nfields; i++)
            if (f->require >> i & 1) {
                strncat (req_list, n++ ? ", " : "", sizeof req_list - strlen (req_list) - 1);
                strncat (req_list, t->fields[i].name, sizeof req_list - strlen (req_list) - 1);
            }
        snprintf (buf, size, "flow %s/%s would match with the required fields: %s", a->id,
                  f->id, req_list);
        break;
    }
    default:
        break;
    }
}

/* The phases bit set in reached, as "identification, sharing" (or "none"). */
static const char *
s_reached_list (uint32_t reached, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int ph = MACX__PHASE__IDENTIFICATION; ph <= MACX__PHASE__PANEL && used < size; ph++)
        if (reached >> ph & 1u)
            used += (size_t) snprintf (buf + used, size - used, "%s%s", used ? ", " : "",
                                       macx_phase_name (ph));
    if (!used)
        snprintf (buf, size, "none");
    return buf;
}

static void
s_case_text (const macx_policy_request_t *req, const macx_policy_case_context_t *cx, FILE *out)
{
    char list[128];
    const char *a = macx_phase_article (req->phase), *phase = macx_phase_name (req->phase);
    const char *ot = req->origin_record_type && *req->origin_record_type ? req->origin_record_type
                                                                         : "record";
    if (!cx->case_id) {
        if (cx->needed)
            fprintf (out, "case context %s %s record needs its case to have reached %s; the broker "
                     "checks it from what it accepted (--data DIR --case C reads it)\n", a, phase,
                     macx_phase_name (cx->needed));
        else
            fprintf (out, "case context %s %s record may open a case: the broker asks no phase "
                     "before it\n", a, phase);
        if (cx->origin_held >= 0 || (req->origin && *req->origin))
            fprintf (out, "             and that %s was delivered %s's %s in the case\n",
                     req->sender, req->origin, ot);
        return;
    }
    fprintf (out, "case context case %s in %s: %s", cx->case_id, cx->source ? cx->source : "?",
             cx->known ? "reached " : "no record accepted");
    if (cx->known)
        fprintf (out, "%s", s_reached_list (cx->reached, list, sizeof list));
    fputc ('\n', out);
    if (cx->needed)
        fprintf (out, "             %s %s record needs %s: %s\n", a, phase,
                 macx_phase_name (cx->needed), cx->reached >> cx->needed & 1u ? "reached" : "NOT reached");
    if (cx->origin_held >= 0)
        fprintf (out, "             %s's %s delivered to %s: %s\n", req->origin, ot, req->sender,
                 cx->origin_held ? "yes" : "NO");
}

static void
s_text (const macx_policy_t *p, const macx_policy_request_t *req,
        const macx_policy_result_t *res, const macx_policy_case_context_t *cx, FILE *out)
{
    char up[64], d1[16], d2[16], d3[16], list[512], phases[128], words[160], disp[96];
    if (cx && cx->reason)
        fprintf (out, "decision     DENY (%s)", macx_reason_name (cx->reason));
    else {
        fprintf (out, "decision     %s", s_upper (macx_decision_name (res->decision), up, sizeof up));
        if (res->reason)
            fprintf (out, " (%s)", macx_reason_name (res->reason));
    }
    fprintf (out, "\npolicy       %s\n", p->hash);
    fprintf (out, "request      %s -> %s  %s  purpose=%s  phase=%s  case=%s  date=%s\n",
             req->sender, req->recipient, req->record_type, req->purpose,
             macx_phase_name (req->phase), macx_phase_name (req->case_phase),
             macx_date_format (req->date, d1));
    if (req->origin && *req->origin)
        fprintf (out, "onward       passes on %s %s from %s%s\n",
                 req->origin_record_type ? req->origin_record_type : "?", "received",
                 req->origin, req->origin_consent ? " (originator consented)" : "");
    if (cx)
        s_case_text (req, cx, out);
    if (cx && cx->reason) {
        fprintf (out, "why          %s\n", cx->message);
        fprintf (out, "policy alone %s", s_upper (macx_decision_name (res->decision), up, sizeof up));
        if (res->reason)
            fprintf (out, " (%s)", macx_reason_name (res->reason));
        fprintf (out, ": %s\n", res->message);
    }
    else
        fprintf (out, "why          %s\n", res->message);

    int from = macx_policy_find_agency (p, req->sender);
    int to = macx_policy_find_agency (p, req->recipient);
    int type = macx_policy_find_type (p, req->record_type);
    if (from >= 0 && to >= 0) {
        fprintf (out, "agreements considered\n");
        for (int i = 0; i < p->nagreements; i++) {
            const macx_agreement_t *a = &p->agreements[i];
            bool fs = a->parties >> from & 1, ts = a->parties >> to & 1;
            if (!fs || !ts) {
                fprintf (out, "  %-28s skipped: %s %s a party\n", a->id,
                         !fs && !ts ? "neither is" : !fs ? req->sender : req->recipient,
                         !fs && !ts ? "" : "is not");
                continue;
            }
            s_state_words (a, req->date, words, sizeof words);
            fprintf (out, "  %-28s v%d %s..%s, review by %s (+%d days): %s\n", a->id, a->version,
                     macx_date_format (a->effective, d1), macx_date_format (a->expires, d2),
                     macx_date_format (a->review_by, d3), a->grace, words);
            int n = 0;
            for (int k = 0; k < p->nflows; k++) {
                const macx_flow_t *g = &p->flows[k];
                if (g->agreement != i || !(g->from >> from & 1) || !(g->to >> to & 1))
                    continue;
                bool decides = res->flow_index == k;
                int u = macx_policy_find_purpose (p, req->purpose);
                const char *why = g->type != type ? "other record type"
                                  : (u < 0 || !(g->purposes >> u & 1)) ? "other purpose"
                                  : (req->phase < 1 || req->phase > MACX_PHASE_COUNT
                                     || !(g->phases >> req->phase & 1)) ? "other phase"
                                  : "matches";
                fprintf (out, "    flow %-6s %-10s in %-24s %s\n", g->id, p->types[g->type].id,
                         macx_policy_phase_list (g->phases, phases, sizeof phases),
                         decides ? "<- decides" : why);
                n++;
            }
            if (!n)
                fprintf (out, "    no flow from %s to %s\n", req->sender, req->recipient);
        }
    }
    if (res->flow_index >= 0) {
        const macx_flow_t *f = &p->flows[res->flow_index];
        const macx_agreement_t *a = &p->agreements[f->agreement];
        fprintf (out, "flow         %s/%s: %s -> ", a->id, f->id,
                 macx_policy_agency_list (p, f->from, list, sizeof list));
        fprintf (out, "%s  %s  phases %s\n", macx_policy_agency_list (p, f->to, list, sizeof list),
                 p->types[f->type].id, macx_policy_phase_list (f->phases, phases, sizeof phases));
        fprintf (out, "legal basis  disclose %s: %s\n", req->sender,
                 from >= 0 && a->disclose_text[from] ? a->disclose_text[from] : "(none recorded)");
        fprintf (out, "             receive  %s: %s\n", req->recipient,
                 to >= 0 && a->receive_text[to] ? a->receive_text[to] : "(none recorded)");
    }
    if (res->nfields) {
        fprintf (out, "fields\n");
        for (size_t i = 0; i < res->nfields; i++) {
            const macx_policy_field_result_t *r = &res->fields[i];
            switch (r->disposition) {
            case MACX_FIELD_RELEASED:
                fprintf (out, "  %-22s released%s%s\n", r->name, *r->transform ? " as " : "",
                         r->transform);
                break;
            case MACX_FIELD_TRANSFORM:
                fprintf (out, "  %-22s TRANSFORM  must be sent %s\n", r->name, r->transform);
                break;
            case MACX_FIELD_DROP_FORBIDDEN: {
                const char *why = "";
                for (int k = 0; k < p->nforbids; k++)
                    if (r->rule && strcmp (p->forbids[k].id, r->rule) == 0)
                        why = p->forbids[k].reason;
                fprintf (out, "  %-22s DROP       forbidden by %s: %s\n", r->name, r->rule, why);
                break;
            }
            default:
                fprintf (out, "  %-22s DROP       not allowed by the flow\n", r->name);
                break;
            }
            (void) disp;
        }
    }
    else if (req->nfields && res->flow_index < 0)
        fprintf (out, "fields       not judged: the request is denied before fields count\n");
    if (res->flow_index >= 0) {
        fprintf (out, "obligations  retain %d days from %s, then %s; onward sharing %s",
                 res->retention_days, res->retention_from, res->on_expiry,
                 macx_policy_onward_names[res->onward]);
        for (size_t i = 0; i < res->nonward_agreements; i++)
            fprintf (out, "%s%s", i ? ", " : " (", res->onward_agreements[i]);
        if (res->nonward_agreements)
            fputc (')', out);
        if (res->max_per_day)
            fprintf (out, "; at most %u a day", res->max_per_day);
        fputc ('\n', out);
    }
    if (res->warnings & MACX_POLICY_WARN_REVIEW_DUE)
        fprintf (out, "warning      REVIEW_DUE: agreement %s is past its review date\n",
                 res->agreement);
    if (res->decision == MACX_DECISION_DENY) {
        char miss[1024];
        s_nearest (p, req, res, miss, sizeof miss);
        if (miss[0])
            fprintf (out, "nearest miss %s\n", miss);
    }
}

static void
s_json (const macx_policy_t *p, const macx_policy_request_t *req,
        const macx_policy_result_t *res, const macx_policy_case_context_t *cx, FILE *out)
{
    char d1[16], disp[96], miss[1024];
    bool cut = cx && cx->reason;   /* the case context refuses before the policy */
    fprintf (out, "{\"decision\":\"%s\",\"reason\":\"%s\",\"policy\":\"%s\",\"agreement\":",
             cut ? "deny" : macx_decision_name (res->decision),
             cut ? macx_reason_name (cx->reason) : res->reason ? macx_reason_name (res->reason) : "",
             p->hash);
    macx_policy_json_str (out, res->agreement ? res->agreement : "");
    fprintf (out, ",\"flow\":");
    macx_policy_json_str (out, res->flow ? res->flow : "");
    fprintf (out, ",\"date\":\"%s\",\"message\":", macx_date_format (req->date, d1));
    macx_policy_json_str (out, cut ? cx->message : res->message);
    if (cx) {
        fprintf (out, ",\"case_context\":{\"case\":");
        if (cx->case_id)
            macx_policy_json_str (out, cx->case_id);
        else
            fprintf (out, "null");
        fprintf (out, ",\"source\":");
        macx_policy_json_str (out, cx->source ? cx->source : "");
        fprintf (out, ",\"known\":%s,\"reached\":[", cx->known ? "true" : "false");
        for (int ph = MACX__PHASE__IDENTIFICATION, n = 0; ph <= MACX__PHASE__PANEL; ph++)
            if (cx->reached >> ph & 1u)
                fprintf (out, "%s\"%s\"", n++ ? "," : "", macx_phase_name (ph));
        fprintf (out, "],\"needed\":\"%s\",\"origin_delivered\":%s,\"reason\":\"%s\"}",
                 cx->needed ? macx_phase_name (cx->needed) : "",
                 cx->origin_held < 0 || !cx->case_id ? "null" : cx->origin_held ? "true" : "false",
                 cx->reason ? macx_reason_name (cx->reason) : "");
        fprintf (out, ",\"policy_decision\":\"%s\",\"policy_reason\":\"%s\"",
                 macx_decision_name (res->decision),
                 res->reason ? macx_reason_name (res->reason) : "");
    }
    fprintf (out, ",\"fields\":[");
    for (size_t i = 0; i < res->nfields; i++) {
        fprintf (out, "%s{\"name\":", i ? "," : "");
        macx_policy_json_str (out, res->fields[i].name);
        fprintf (out, ",\"disposition\":");
        macx_policy_json_str (out, macx_policy_disposition (&res->fields[i], disp, sizeof disp));
        fputc ('}', out);
    }
    fprintf (out, "]");
    if (res->flow_index >= 0) {
        fprintf (out, ",\"obligations\":{\"retention_days\":%d,\"retention_from\":\"%s\","
                      "\"on_expiry\":\"%s\",\"onward\":\"%s\",\"onward_agreements\":[",
                 res->retention_days, res->retention_from, res->on_expiry,
                 macx_policy_onward_names[res->onward]);
        for (size_t i = 0; i < res->nonward_agreements; i++) {
            fprintf (out, "%s", i ? "," : "");
            macx_policy_json_str (out, res->onward_agreements[i]);
        }
        fprintf (out, "],\"max_per_day\":%u}", res->max_per_day);
    }
    fprintf (out, ",\"warnings\":[%s]",
             res->warnings & MACX_POLICY_WARN_REVIEW_DUE ? "\"REVIEW_DUE\"" : "");
    s_nearest (p, req, res, miss, sizeof miss);
    fprintf (out, ",\"nearest_miss\":");
    macx_policy_json_str (out, res->decision == MACX_DECISION_DENY ? miss : "");
    fprintf (out, "}\n");
}

int
macx_policy_explain (const macx_policy_t *p, const macx_policy_request_t *req, FILE *out,
                     bool json)
{
    return macx_policy_explain_case (p, req, NULL, out, json);
}

int
macx_policy_explain_case (const macx_policy_t *p, const macx_policy_request_t *req,
                          const macx_policy_case_context_t *cx, FILE *out, bool json)
{
    macx_policy_result_t res;
    int rc = macx_policy_evaluate (p, req, &res);
    if (rc) {
        if (json)
            fprintf (out, "{\"decision\":\"deny\",\"reason\":\"INTERNAL_ERROR\"}\n");
        else
            fprintf (out, "decision     DENY (INTERNAL_ERROR)\nwhy          %s\n", res.message);
        return rc;
    }
    if (json)
        s_json (p, req, &res, cx, out);
    else
        s_text (p, req, &res, cx, out);
    return 0;
}
