/* summary.c -- what a policy says, for people: the summary printed by
 * `macx policy check` and the reverse query of `macx policy can`. Writes
 * only to the caller's stream. */
#include <string.h>

#include "clock.h"
#include "names.h"
#include "policy_int.h"

void
macx_policy_json_str (FILE *out, const char *s)
{
    fputc ('"', out);
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char) *s;
        if (ch == '"' || ch == '\\')
            fprintf (out, "\\%c", ch);
        else if (ch == '\n')
            fputs ("\\n", out);
        else if (ch < 0x20)
            fprintf (out, "\\u%04x", ch);
        else
            fputc (ch, out);
    }
    fputc ('"', out);
}

/* Prints "field, field~year_only" for the flow's released fields to `to`
 * from `from`, after forbid rules. */
static void
s_fields (const macx_policy_t *p, const macx_flow_t *f, int from, int to, FILE *out, bool json)
{
    const macx_rtype_t *t = &p->types[f->type];
    uint64_t forbid = p->cell_forbid[macx_policy_cell (p, from, to, f->type)];
    int n = 0;
    for (int i = 0; i < t->nfields; i++) {
        uint64_t bit = 1ull << i;
        if (!((f->allow | f->xform) & bit) || (forbid & bit))
            continue;
        const char *x = (f->xform & bit) ? macx_policy_transform_names[f->xform_of[i]] : "";
        if (json) {
            fprintf (out, "%s{\"name\":", n ? "," : "");
            macx_policy_json_str (out, t->fields[i].name);
            fprintf (out, ",\"transform\":");
            macx_policy_json_str (out, x);
            fputc ('}', out);
        }
        else
            fprintf (out, "%s%s%s%s", n ? ", " : "", t->fields[i].name, *x ? "~" : "", x);
        n++;
    }
}

void
macx_policy_summary (const macx_policy_t *p, FILE *out, bool json)
{
    char b1[16], b2[16], b3[16], list[1024], phases[128];
    if (json) {
        fprintf (out, "{\"ok\":true,\"hash\":\"%s\",\"agencies\":%d,\"record_types\":%d,"
                      "\"agreements\":[", p->hash, p->nagencies, p->ntypes);
        for (int i = 0; i < p->nagreements; i++) {
            const macx_agreement_t *a = &p->agreements[i];
            fprintf (out, "%s{\"id\":", i ? "," : "");
            macx_policy_json_str (out, a->id);
            fprintf (out, ",\"version\":%d,\"status\":\"%s\",\"effective_from\":\"%s\","
                          "\"expires\":\"%s\",\"review_by\":\"%s\",\"review_grace_days\":%d,"
                          "\"parties\":[",
                     a->version, macx_policy_status_names[a->status],
                     macx_date_format (a->effective, b1), macx_date_format (a->expires, b2),
                     macx_date_format (a->review_by, b3), a->grace);
            int n = 0;
            for (int g = 0; g < p->nagencies; g++)
                if (a->parties >> g & 1) {
                    fprintf (out, "%s", n++ ? "," : "");
                    macx_policy_json_str (out, p->agencies[g].id);
                }
            fprintf (out, "],\"flows\":[");
            n = 0;
            for (int k = 0; k < p->nflows; k++)
                if (p->flows[k].agreement == i) {
                    fprintf (out, "%s", n++ ? "," : "");
                    macx_policy_json_str (out, p->flows[k].id);
                }
            fprintf (out, "]}");
        }
        fprintf (out, "],\"flows\":%d,\"forbid_rules\":%d,\"receive\":{", p->nflows, p->nforbids);
        for (int to = 0; to < p->nagencies; to++) {
            fprintf (out, "%s", to ? "," : "");
            macx_policy_json_str (out, p->agencies[to].id);
            fprintf (out, ":[");
            int n = 0;
            for (int k = 0; k < p->nflows; k++) {
                const macx_flow_t *f = &p->flows[k];
                if (!(f->to >> to & 1))
                    continue;
                fprintf (out, "%s{\"agreement\":", n++ ? "," : "");
                macx_policy_json_str (out, p->agreements[f->agreement].id);
                fprintf (out, ",\"flow\":");
                macx_policy_json_str (out, f->id);
                fprintf (out, ",\"from\":\"%s\",\"record_type\":\"%s\",\"phases\":\"%s\"}",
                         macx_policy_agency_list (p, f->from & ~(1ull << to), list, sizeof list),
                         p->types[f->type].id, macx_policy_phase_list (f->phases, phases,
                                                                        sizeof phases));
            }
            fprintf (out, "]");
        }
        fprintf (out, "}}\n");
        return;
    }
    fprintf (out, "policy ok  %s\n", p->hash);
    fprintf (out, "%d agencies, %d record types, %d agreements, %d flows, %d forbid rules\n\n",
             p->nagencies, p->ntypes, p->nagreements, p->nflows, p->nforbids);
    fprintf (out, "agreements\n");
    for (int i = 0; i < p->nagreements; i++) {
        const macx_agreement_t *a = &p->agreements[i];
        int nf = 0;
        for (int k = 0; k < p->nflows; k++)
            nf += p->flows[k].agreement == i;
        fprintf (out, "  %-28s v%-3d %-10s %s..%s review by %s (+%d days)  %d flows\n", a->id,
                 a->version, macx_policy_status_names[a->status],
                 macx_date_format (a->effective, b1), macx_date_format (a->expires, b2),
                 macx_date_format (a->review_by, b3), a->grace, nf);
        fprintf (out, "  %-28s parties: %s\n", "",
                 macx_policy_agency_list (p, a->parties, list, sizeof list));
    }
    fprintf (out, "\nforbid rules\n");
    for (int r = 0; r < p->nforbids; r++)
        fprintf (out, "  %-6s %s\n", p->forbids[r].id, p->forbids[r].reason);
    fprintf (out, "\nwhat each party may receive\n");
    for (int to = 0; to < p->nagencies; to++) {
        fprintf (out, "  %s\n", p->agencies[to].id);
        int n = 0;
        for (int k = 0; k < p->nflows; k++) {
            const macx_flow_t *f = &p->flows[k];
            if (!(f->to >> to & 1) || !(f->from & ~(1ull << to)))
                continue;
            fprintf (out, "    %-10s from %-14s in %-12s (%s/%s)\n", p->types[f->type].id,
                     macx_policy_agency_list (p, f->from & ~(1ull << to), list, sizeof list),
                     macx_policy_phase_list (f->phases, phases, sizeof phases),
                     p->agreements[f->agreement].id, f->id);
            n++;
        }
        if (!n)
            fprintf (out, "    nothing\n");
    }
}

int
macx_policy_can (const macx_policy_t *p, const char *to_id, int32_t date, FILE *out, bool json)
{
    int to = macx_policy_find_agency (p, to_id);
    if (to < 0)
        return MACX_ENOTFOUND;
    char b1[16], phases[128];
    int n = 0;
    if (json) {
        fprintf (out, "{\"to\":");
        macx_policy_json_str (out, to_id);
        if (date != INT32_MIN)
            fprintf (out, ",\"date\":\"%s\"", macx_date_format (date, b1));
        fprintf (out, ",\"receive\":[");
    }
    else if (date != INT32_MIN)
        fprintf (out, "%s may receive, on %s:\n", to_id, macx_date_format (date, b1));
    else
        fprintf (out, "%s may receive (at any date the agreement is in force):\n", to_id);
    for (int from = 0; from < p->nagencies; from++)
        for (int k = 0; k < p->nflows; k++) {
            const macx_flow_t *f = &p->flows[k];
            if (from == to || !(f->from >> from & 1) || !(f->to >> to & 1))
                continue;
            const macx_agreement_t *a = &p->agreements[f->agreement];
            int state = macx_policy_agreement_state (a, date == INT32_MIN ? a->effective : date,
                                                     NULL);
            if (state || !(a->disclose >> from & 1) || !(a->receive >> to & 1))
                continue;
            if (json) {
                fprintf (out, "%s{\"from\":", n ? "," : "");
                macx_policy_json_str (out, p->agencies[from].id);
                fprintf (out, ",\"record_type\":\"%s\",\"phases\":\"%s\",\"agreement\":",
                         p->types[f->type].id,
                         macx_policy_phase_list (f->phases, phases, sizeof phases));
                macx_policy_json_str (out, a->id);
                fprintf (out, ",\"flow\":");
                macx_policy_json_str (out, f->id);
                fprintf (out, ",\"fields\":[");
                s_fields (p, f, from, to, out, true);
                fprintf (out, "]}");
            }
            else {
                fprintf (out, "  from %-14s %-10s in %-24s %s/%s\n    fields: ",
                         p->agencies[from].id, p->types[f->type].id,
                         macx_policy_phase_list (f->phases, phases, sizeof phases), a->id, f->id);
                s_fields (p, f, from, to, out, false);
                fputc ('\n', out);
            }
            n++;
        }
    if (json)
        fprintf (out, "]}\n");
    else if (!n)
        fprintf (out, "  nothing\n");
    return 0;
}
