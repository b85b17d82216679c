/* report_html.c -- report.html: one self-contained page (inline CSS and
 * SVG, no scripts, nothing fetched) with five charts and the data tables,
 * all from simulated time, and a small wall-clock performance section kept
 * apart at the end. Every string from the run is escaped on its way out. */
#include "report.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "names.h"

#define S_W      760                     /* chart width, px */
#define S_LABEL  210                     /* room for row labels on the left */
#define S_RIGHT  110                     /* room for value labels on the right */
#define S_ROW    26                      /* bar row height */
#define S_TOP    34
#define S_BOTTOM 46

static const char *const s_colors[] = { "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                                        "#edc948", "#b07aa1" };

static void
s_esc (FILE *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':  fputs ("&amp;", out); break;
        case '<':  fputs ("&lt;", out); break;
        case '>':  fputs ("&gt;", out); break;
        case '"':  fputs ("&quot;", out); break;
        case '\'': fputs ("&#39;", out); break;
        default:   fputc (*s, out);
        }
    }
}

/* Escapes s cut to at most max bytes (on a UTF-8 boundary, with an ellipsis). */
static void
s_esc_cut (FILE *out, const char *s, size_t max)
{
    size_t n = strlen (s);
    if (n <= max) {
        s_esc (out, s);
        return;
    }
    char buf[256];
    if (max >= sizeof buf)
        max = sizeof buf - 1;
    while (max > 0 && ((unsigned char) s[max] & 0xc0) == 0x80)
        max--;
    memcpy (buf, s, max);
    buf[max] = 0;
    s_esc (out, buf);
    fputs ("&#8230;", out);
}

/* A step of 1, 2 or 5 times a power of ten giving about five ticks to max. */
static double
s_step (double max)
{
    if (!(max > 0))
        return 1;
    double raw = max / 5, mag = pow (10, floor (log10 (raw))), f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/* The x axis of a chart: ticks, grid lines and a label; whole: counts, so
 * no fractional ticks. Returns the axis max. */
static double
s_axis (FILE *out, double max, bool whole, int x0, int width, int y0, int y1, const char *label)
{
    double step = s_step (max);
    if (whole && step < 1)
        step = 1;
    double top = step * ceil ((max > 0 ? max : 1) / step);
    for (double t = 0; t <= top + step / 2; t += step) {
        double x = x0 + t / top * width;
        fprintf (out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"grid\"/>", x, y0, x, y1);
        fprintf (out, "<text x=\"%.1f\" y=\"%d\" class=\"tick\" text-anchor=\"middle\">%g</text>\n", x,
                 y1 + 14, t);
    }
    fprintf (out, "<text x=\"%d\" y=\"%d\" class=\"axis\" text-anchor=\"middle\">", x0 + width / 2, y1 + 34);
    s_esc (out, label);
    fputs ("</text>\n", out);
    return top;
}

static void
s_svg_open (FILE *out, int height, const char *title)
{
    fprintf (out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
             "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", S_W, height, S_W, height);
    s_esc (out, title);
    fprintf (out, "\">\n<text x=\"%d\" y=\"20\" class=\"title\">", 4);
    s_esc (out, title);
    fputs ("</text>\n", out);
}

static void
s_nodata (FILE *out, const char *title)
{
    s_svg_open (out, 70, title);
    fprintf (out, "<text x=\"%d\" y=\"50\" class=\"tick\">no data in this run</text>\n</svg>\n", S_LABEL);
}

typedef struct {
    char label[96];
    double v[2];                         /* segments (stacked) */
    char text[64];                       /* value label at the bar's end */
} s_bar_t;

/* Horizontal bars, one row per item, optionally two stacked segments
 * (nseg 2, named in segs) and optionally centred (a funnel). */
static void
s_hbars (FILE *out, const char *title, const char *xlabel, const s_bar_t *rows, size_t n, int nseg,
         const char *const *segs, bool centred, int color0)
{
    double max = 0;
    for (size_t i = 0; i < n; i++)
        if (rows[i].v[0] + (nseg > 1 ? rows[i].v[1] : 0) > max)
            max = rows[i].v[0] + (nseg > 1 ? rows[i].v[1] : 0);
    if (n == 0 || !(max > 0)) {
        s_nodata (out, title);
        return;
    }
    int legend = nseg > 1 ? 22 : 0;
    int plot = S_W - S_LABEL - S_RIGHT;
    int y0 = S_TOP + legend, height = y0 + (int) n * S_ROW + S_BOTTOM;
    s_svg_open (out, height, title);
    for (int s = 0; s < nseg && nseg > 1; s++) {
        fprintf (out, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                 "<text x=\"%d\" y=\"%d\" class=\"tick\">", S_LABEL + s * 140, S_TOP - 2,
                 s_colors[(color0 + s) % 7], S_LABEL + s * 140 + 16, S_TOP + 8);
        s_esc (out, segs[s]);
        fputs ("</text>\n", out);
    }
    double top = centred ? max : 0;
    if (!centred)
        top = s_axis (out, max, nseg == 1, S_LABEL, plot, y0 - 4, y0 + (int) n * S_ROW, xlabel);
    else {
        fprintf (out, "<text x=\"%d\" y=\"%d\" class=\"axis\" text-anchor=\"middle\">", S_LABEL + plot / 2,
                 y0 + (int) n * S_ROW + 34);
        s_esc (out, xlabel);
        fputs ("</text>\n", out);
    }
    for (size_t i = 0; i < n; i++) {
        int y = y0 + (int) i * S_ROW;
        fprintf (out, "<text x=\"%d\" y=\"%d\" class=\"label\" text-anchor=\"end\">", S_LABEL - 8, y + 17);
        s_esc_cut (out, rows[i].label, 30);
        fputs ("</text>", out);
        double total = rows[i].v[0] + (nseg > 1 ? rows[i].v[1] : 0);
        double x = centred ? S_LABEL + (plot - total / top * plot) / 2 : S_LABEL;
        for (int s = 0; s < nseg; s++) {
            double w = rows[i].v[s] / top * plot;
            if (w > 0)
                fprintf (out, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>",
                         x, y + 4, w, S_ROW - 8, s_colors[(color0 + s) % 7]);
            if (w > 0) {
                s_esc (out, rows[i].label);
                if (nseg > 1) {
                    fputs (": ", out);
                    s_esc (out, segs[s]);
                }
                fprintf (out, " %g</title></rect>", rows[i].v[s]);
            }
            x += w;
        }
        fprintf (out, "<text x=\"%.1f\" y=\"%d\" class=\"value\">", x + 6, y + 17);
        s_esc (out, rows[i].text);
        fputs ("</text>\n", out);
    }
    fputs ("</svg>\n", out);
}

/* Chart 1: a box plot per phase on one days axis. */
static void
s_boxes (FILE *out, const macx_report_t *r)
{
    const char *title = "Phase latency (simulated days)";
    double max = 0;
    for (int p = 1; p <= MACX_REPORT_PHASES; p++)
        if (r->phases[p].days.n && r->phases[p].days.max > max)
            max = r->phases[p].days.max;
    if (!(max > 0)) {
        s_nodata (out, title);
        return;
    }
    /* "p50 25.8, p90 30.6" needs more room on the right than a bar's value */
    int right = S_RIGHT + 40, plot = S_W - S_LABEL - right, row = 40, y0 = S_TOP + 6;
    int height = y0 + MACX_REPORT_PHASES * row + S_BOTTOM;
    s_svg_open (out, height, title);
    double top = s_axis (out, max, false, S_LABEL, plot, y0 - 4, y0 + MACX_REPORT_PHASES * row,
                         "days from the phase's first record to the next phase's first record");
    for (int p = 1; p <= MACX_REPORT_PHASES; p++) {
        const macx_report_phase_t *ph = &r->phases[p];
        int y = y0 + (p - 1) * row, mid = y + row / 2;
        fprintf (out, "<text x=\"%d\" y=\"%d\" class=\"label\" text-anchor=\"end\">%s</text>", S_LABEL - 8,
                 mid + 4, macx_phase_name (p));
        if (!ph->days.n) {
            fprintf (out, "<text x=\"%d\" y=\"%d\" class=\"tick\">no cases completed this phase</text>\n",
                     S_LABEL + 6, mid + 4);
            continue;
        }
#define X(v) (S_LABEL + (v) / top * plot)
        fprintf (out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"whisker\"/>",
                 X (ph->days.min), mid, X (ph->days.max), mid);
        fprintf (out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"whisker\"/>",
                 X (ph->days.min), mid - 7, X (ph->days.min), mid + 7);
        fprintf (out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"whisker\"/>",
                 X (ph->days.max), mid - 7, X (ph->days.max), mid + 7);
        double bw = X (ph->p75) - X (ph->p25);
        fprintf (out, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" class=\"box\" fill=\"%s\">"
                 "<title>%s: p25 %.2f, median %.2f, p75 %.2f, p90 %.2f, max %.2f days (n %" PRIu64
                 ")</title></rect>", X (ph->p25), mid - 11, bw < 1 ? 1 : bw, 22, s_colors[(p - 1) % 7],
                 macx_phase_name (p), ph->p25, ph->days.p50, ph->p75, ph->days.p90, ph->days.max, ph->days.n);
        fprintf (out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"median\"/>",
                 X (ph->days.p50), mid - 11, X (ph->days.p50), mid + 11);
        fprintf (out, "<circle cx=\"%.1f\" cy=\"%d\" r=\"3.5\" class=\"p90\"/>", X (ph->days.p90), mid);
#undef X
        fprintf (out, "<text x=\"%d\" y=\"%d\" class=\"value\">p50 %.1f, p90 %.1f</text>\n",
                 S_W - right + 12, mid + 4, ph->days.p50, ph->days.p90);
    }
    fputs ("</svg>\n", out);
}

static double
s_pct (uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double) part / (double) whole : 0;
}

static void
s_figure_open (FILE *out, const char *id, const char *heading)
{
    fprintf (out, "<section class=\"chart\" id=\"%s\">\n<h2>", id);
    s_esc (out, heading);
    fputs ("</h2>\n", out);
}

static void
s_figure_close (FILE *out, const char *caption)
{
    fputs ("<p class=\"caption\">", out);
    s_esc (out, caption);
    fputs ("</p>\n</section>\n", out);
}

static void
s_td (FILE *out, const char *s)
{
    fputs ("<td>", out);
    s_esc (out, s);
    fputs ("</td>", out);
}

static void
s_tdn (FILE *out, double v, int decimals)
{
    fprintf (out, "<td class=\"n\">%.*f</td>", decimals, v);
}

static const char s_css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#222;"
    "max-width:980px;margin:24px auto;padding:0 16px;background:#fff}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px}"
    "table{border-collapse:collapse;margin:8px 0 16px}td,th{border-bottom:1px solid #ddd;"
    "padding:3px 10px;text-align:left}th{background:#f4f4f4}td.n{text-align:right;"
    "font-variant-numeric:tabular-nums}.meta td:first-child{color:#555}"
    ".caption{color:#444;max-width:760px;margin:4px 0 0}"
    "svg{display:block;margin-top:4px}svg text{font-family:inherit}"
    ".title{font-size:14px;font-weight:600;fill:#222}.label{font-size:12px;fill:#222}"
    ".tick{font-size:11px;fill:#555}.axis{font-size:12px;fill:#333}.value{font-size:11px;fill:#333}"
    ".grid{stroke:#e6e6e6}.whisker{stroke:#555;stroke-width:1.2}.box{stroke:#333;fill-opacity:.75}"
    ".median{stroke:#111;stroke-width:2.5}.p90{fill:#fff;stroke:#111;stroke-width:1.5}"
    ".bad{color:#b00}";

static void
s_meta_row (FILE *out, const char *k, const char *v)
{
    fputs ("<tr>", out);
    s_td (out, k);
    s_td (out, v);
    fputs ("</tr>\n", out);
}

/* How fast this machine ran the pilot: its own section, labelled as the
 * wall clock, so that nobody reads it as a phase figure. */
static void
s_performance (FILE *out, const macx_report_t *r)
{
    char buf[256];
    fputs ("<section id=\"performance\">\n<h2>Performance (wall clock)</h2>\n<table class=\"meta\">\n", out);
    if (r->wall_pace_ms > 0)
        snprintf (buf, sizeof buf, "%.1f s, paced at %g ms per simulated day at most", r->wall_seconds,
                  r->wall_pace_ms);
    else
        snprintf (buf, sizeof buf, "%.1f s, as fast as the machine allowed", r->wall_seconds);
    s_meta_row (out, "wall time", buf);
    snprintf (buf, sizeof buf, "%" PRIu64, r->accepted);
    s_meta_row (out, "records accepted", buf);
    if (isfinite (r->wall_records_per_second))
        snprintf (buf, sizeof buf, "%.0f records per second", r->wall_records_per_second);
    else
        snprintf (buf, sizeof buf, "not measured");
    s_meta_row (out, "throughput", buf);
    if (isfinite (r->wall_ms_per_subject))
        snprintf (buf, sizeof buf, "%.1f ms", r->wall_ms_per_subject);
    else
        snprintf (buf, sizeof buf, "no subjects");
    s_meta_row (out, "wall time per subject", buf);
    const macx_report_stats_t *o = &r->broker_wall_ms;
    snprintf (buf, sizeof buf, "p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms over %" PRIu64 " records",
              o->p50, o->p90, o->p99, o->max, o->n);
    s_meta_row (out, "broker time per record", buf);
    fputs ("</table>\n<p class=\"caption\">How fast this machine ran the pilot, on the wall clock. These "
           "figures change from run to run with the machine and its load; none of them enters a phase "
           "figure above, which are in simulated days from the broker's stamps only. Broker time per "
           "record runs from the sender's header creation to the broker's acceptance, so it includes the "
           "sender's queue and the network.</p>\n</section>\n", out);
}

void
macx_report_html (const macx_report_t *r, FILE *out)
{
    char buf[256];
    fputs ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>macx pilot report: ", out);
    s_esc (out, r->name);
    fprintf (out, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>MAC pilot report: ", s_css);
    s_esc (out, r->name);
    fputs ("</h1>\n<table class=\"meta\">\n", out);
    s_meta_row (out, "scenario", r->scenario);
    snprintf (buf, sizeof buf, "%" PRIu64, r->seed);
    s_meta_row (out, "seed", buf);
    snprintf (buf, sizeof buf, "%d configured, %zu cases seen", r->subjects, r->ncases);
    s_meta_row (out, "subjects", buf);
    s_meta_row (out, "start date", r->start_date);
    snprintf (buf, sizeof buf, "%.1f days, from the start date to the last record's arrival",
              r->simulated_days);
    s_meta_row (out, "simulated time", buf);
    snprintf (buf, sizeof buf, "%s (the latest the simulated clock could reach)", r->end_date);
    s_meta_row (out, "end date", buf);
    s_meta_row (out, "policy hash", r->policy_hash);
    s_meta_row (out, "run exit", r->exit);
    fputs ("</table>\n", out);
    if (r->skipped_lines) {
        fprintf (out, "<p class=\"bad\">%d outcome lines did not parse and were skipped.</p>\n",
                 r->skipped_lines);
    }

    /* 1 */
    s_figure_open (out, "latency", "1. How long each phase took");
    s_boxes (out, r);
    s_figure_close (out, "One row per phase. The box spans the middle half of the subjects (25th to 75th "
                    "percentile), the dark line inside it is the median, the open circle the 90th percentile "
                    "and the whiskers run from the fastest to the slowest subject. A phase runs from the "
                    "earliest-stamped accepted record of that phase to the earliest-stamped accepted record "
                    "of the next phase; the panel runs until CTP's last panel record (the plan) reaches its "
                    "last recipient. All times are the broker's simulated stamps. Subjects still in a "
                    "phase (open) are not in its box: see the funnel.");

    /* 2 */
    s_figure_open (out, "funnel", "2. Subjects through the phases");
    s_bar_t rows[16];
    size_t n = 0;
    uint64_t base = r->ncases;
    for (int p = 1; p <= MACX_REPORT_PHASES; p++) {
        s_bar_t *b = &rows[n++];
        memset (b, 0, sizeof *b);
        snprintf (b->label, sizeof b->label, "%s", macx_phase_name (p));
        b->v[0] = (double) r->phases[p].entered;
        snprintf (b->text, sizeof b->text, "%" PRIu64 " (%.0f%%)", r->phases[p].entered,
                  s_pct (r->phases[p].entered, base));
    }
    s_bar_t *b = &rows[n++];
    memset (b, 0, sizeof *b);
    snprintf (b->label, sizeof b->label, "plan issued");
    b->v[0] = (double) r->outcomes[MACX_OUTCOME_DISPOSED];
    snprintf (b->text, sizeof b->text, "%" PRIu64 " (%.0f%%)", r->outcomes[MACX_OUTCOME_DISPOSED],
              s_pct (r->outcomes[MACX_OUTCOME_DISPOSED], base));
    s_hbars (out, "Subjects entering each phase", "subjects (bar width; percent of all cases)", rows, n, 1,
             NULL, true, 0);
    snprintf (buf, sizeof buf, "%" PRIu64 " stalled, %" PRIu64 " still open", r->outcomes[MACX_OUTCOME_STALLED],
              r->outcomes[MACX_OUTCOME_OPEN]);
    s_figure_close (out, "Each bar is the number of subjects that reached the phase (had at least one record "
                    "of it accepted by the broker), as a share of all cases in the run; the last bar is the "
                    "subjects whose panel issued a plan. A bar narrower than the one above it is subjects "
                    "who stalled or are still waiting; a phase the scenario skips has no bar.");
    fputs ("<p class=\"caption\">", out);
    s_esc (out, buf);
    fputs (".</p>\n", out);

    /* 3 */
    s_figure_open (out, "levels", "3. Levels and disposals");
    uint64_t assessed = r->levels[1] + r->levels[2] + r->levels[3];
    n = 0;
    for (int l = 1; l <= 3; l++) {
        b = &rows[n++];
        memset (b, 0, sizeof *b);
        snprintf (b->label, sizeof b->label, "Level %d", l);
        b->v[0] = (double) r->levels[l];
        snprintf (b->text, sizeof b->text, "%" PRIu64 " (%.1f%%)", r->levels[l], s_pct (r->levels[l], assessed));
    }
    s_hbars (out, "Subjects by level", "subjects", rows, n, 1, NULL, false, 0);
    n = 0;
    for (size_t i = 0; i < r->ndisposals && n < 16; i++) {
        b = &rows[n++];
        memset (b, 0, sizeof *b);
        snprintf (b->label, sizeof b->label, "%s", r->disposals[i].key);
        b->v[0] = (double) r->disposals[i].count;
        snprintf (b->text, sizeof b->text, "%" PRIu64, r->disposals[i].count);
    }
    s_hbars (out, "Disposals in the panels' plans", "times chosen", rows, n, 1, NULL, false, 2);
    snprintf (buf, sizeof buf, "Level 2 or 3: %.1f%% of %" PRIu64 " assessed subjects; %" PRIu64
              " referred back to investigation.", s_pct (r->levels[2] + r->levels[3], assessed), assessed,
              r->back_to_investigation);
    s_figure_close (out, "The top chart counts subjects by the level their behavioural baseline assessment "
                    "gave (percentages of those assessed). The pilots found only 10-20% at Level 2 or 3. "
                    "The bottom chart counts each disposal in the final panel plans; one plan can hold "
                    "several disposals, so the bars can add up to more than the subjects.");
    fputs ("<p class=\"caption\">", out);
    s_esc (out, buf);
    fputs ("</p>\n", out);

    /* 4 */
    s_figure_open (out, "refusals", "4. Refusals by agreement");
    n = 0;
    for (size_t i = 0; i < r->nrefusal_agreements && n < 16; i++) {
        b = &rows[n++];
        memset (b, 0, sizeof *b);
        snprintf (b->label, sizeof b->label, "%s", r->refusal_agreements[i].key);
        b->v[0] = (double) r->refusal_agreements[i].count;
        snprintf (b->text, sizeof b->text, "%" PRIu64 " (%" PRIu64 " cases)", r->refusal_agreements[i].count,
                  r->refusal_agreements[i].cases);
    }
    s_hbars (out, "Records the broker refused, by agreement", "refused records", rows, n, 1, NULL, false, 3);
    if (r->held) {
        /* not refusals: their senders knew the cap and waited for a day with room */
        fprintf (out, "<p class=\"caption\">Held back for a daily cap (not refused, so not in the "
                 "chart): %" PRIu64 " record(s) an agreement's daily cap would have refused that day "
                 "waited for the first day with room:", r->held);
        for (size_t i = 0; i < r->nheld_agreements && i < 8; i++) {
            fputs (i ? ", " : " ", out);
            s_esc (out, r->held_agreements[i].key);
            fprintf (out, " %" PRIu64 " (%" PRIu64 " cases)", r->held_agreements[i].count,
                     r->held_agreements[i].cases);
        }
        fputs (".</p>\n", out);
    }
    s_figure_close (out, "Each bar counts the records the broker refused under one information-sharing "
                    "agreement (\"(none)\": no agreement applied, e.g. no flow allowed the share), with the "
                    "number of distinct subjects affected. A refused share is retried when its agreement "
                    "comes into force, so one subject can be refused several times; the table below breaks "
                    "refusals down by reason.");

    /* 5 */
    s_figure_open (out, "agencies", "5. Where the time went, per agency");
    n = 0;
    for (size_t i = 0; i < r->nagencies && n < 16; i++) {
        const macx_report_agency_t *a = &r->agencies[i];
        if (!a->units)
            continue;
        b = &rows[n++];
        memset (b, 0, sizeof *b);
        snprintf (b->label, sizeof b->label, "%s", a->id);
        b->v[0] = a->queue_days / (double) a->units;
        b->v[1] = a->work_days / (double) a->units;
        snprintf (b->text, sizeof b->text, "%.1f d per case", b->v[0] + b->v[1]);
    }
    const char *segs[] = { "waiting in the queue", "being worked on" };
    s_hbars (out, "Mean simulated days per unit of work", "simulated days per unit of work (mean)", rows, n, 2,
             segs, false, 0);
    s_figure_close (out, "One bar per agency: the mean time a unit of its work (one case in one phase) spent "
                    "waiting for a free worker (first segment) and being worked on (second segment). A long "
                    "first segment means the agency's capacity is the bottleneck; a long second one means "
                    "its service time is.");

    /* data tables */
    fputs ("<section id=\"data\">\n<h2>Data</h2>\n<table>\n<tr><th>phase</th><th>entered</th><th>done</th>"
           "<th>open</th><th>p50</th><th>p90</th><th>p99</th><th>max</th><th>mean</th></tr>\n", out);
    for (int p = 1; p <= MACX_REPORT_PHASES; p++) {
        const macx_report_phase_t *ph = &r->phases[p];
        fputs ("<tr>", out);
        s_td (out, macx_phase_name (p));
        s_tdn (out, (double) ph->entered, 0);
        s_tdn (out, (double) ph->done, 0);
        s_tdn (out, (double) ph->open, 0);
        s_tdn (out, ph->days.p50, 2);
        s_tdn (out, ph->days.p90, 2);
        s_tdn (out, ph->days.p99, 2);
        s_tdn (out, ph->days.max, 2);
        s_tdn (out, ph->days.mean, 2);
        fputs ("</tr>\n", out);
    }
    fputs ("<tr>", out);
    s_td (out, "end to end");
    s_tdn (out, (double) r->end_to_end.n, 0);
    s_tdn (out, (double) r->end_to_end.n, 0);
    fputs ("<td></td>", out);
    s_tdn (out, r->end_to_end.p50, 2);
    s_tdn (out, r->end_to_end.p90, 2);
    s_tdn (out, r->end_to_end.p99, 2);
    s_tdn (out, r->end_to_end.max, 2);
    s_tdn (out, r->end_to_end.mean, 2);
    fputs ("</tr>\n</table>\n<p class=\"caption\">Latencies in simulated days.</p>\n", out);

    fputs ("<table>\n<tr><th>outcome</th><th>subjects</th><th>%</th></tr>\n", out);
    static const char *const onames[] = { "plan issued (disposed)", "stalled", "open" };
    for (int o = 0; o < 3; o++) {
        fputs ("<tr>", out);
        s_td (out, onames[o]);
        s_tdn (out, (double) r->outcomes[o], 0);
        s_tdn (out, s_pct (r->outcomes[o], r->ncases), 1);
        fputs ("</tr>\n", out);
    }
    fputs ("</table>\n<table>\n<tr><th>refusal reason</th><th>records</th><th>subjects</th></tr>\n", out);
    for (size_t i = 0; i < r->nrefusal_reasons; i++) {
        fputs ("<tr>", out);
        s_td (out, r->refusal_reasons[i].key);
        s_tdn (out, (double) r->refusal_reasons[i].count, 0);
        s_tdn (out, (double) r->refusal_reasons[i].cases, 0);
        fputs ("</tr>\n", out);
    }
    fputs ("</table>\n<table>\n<tr><th>agency</th><th>kind</th><th>region</th><th>sent</th><th>refused</th>"
           "<th>received</th><th>work units</th><th>queue days</th><th>work days</th></tr>\n", out);
    for (size_t i = 0; i < r->nagencies; i++) {
        const macx_report_agency_t *a = &r->agencies[i];
        fputs ("<tr>", out);
        s_td (out, a->id);
        s_td (out, a->kind);
        s_td (out, a->region);
        s_tdn (out, (double) a->sent, 0);
        s_tdn (out, (double) a->refused, 0);
        s_tdn (out, (double) a->received, 0);
        s_tdn (out, (double) a->units, 0);
        s_tdn (out, a->queue_days, 1);
        s_tdn (out, a->work_days, 1);
        fputs ("</tr>\n", out);
    }
    fputs ("</table>\n", out);

    fprintf (out, "<h2>Stalled subjects (%" PRIu64 ")</h2>\n", r->outcomes[MACX_OUTCOME_STALLED]);
    if (r->outcomes[MACX_OUTCOME_STALLED]) {
        fputs ("<table>\n<tr><th>subject</th><th>case</th><th>region</th><th>waiting in</th><th>given up by</th>"
               "<th>reason</th><th>agreement</th><th>why</th></tr>\n", out);
        size_t shown = 0;
        for (size_t i = 0; i < r->ncases && shown < 500; i++) {
            const macx_report_case_t *c = &r->cases[i];
            if (c->outcome != MACX_OUTCOME_STALLED)
                continue;
            shown++;
            fputs ("<tr>", out);
            s_td (out, c->subject);
            s_td (out, c->case_id);
            s_td (out, c->region);
            s_td (out, c->open_phase ? macx_phase_name (c->open_phase) : c->stalled_phase);
            s_td (out, c->stalled_agency);
            s_td (out, c->stalled_reason);
            s_td (out, c->stalled_agreement);
            s_td (out, c->stalled_why);
            fputs ("</tr>\n", out);
        }
        fputs ("</table>\n", out);
        if (shown < r->outcomes[MACX_OUTCOME_STALLED])
            fputs ("<p class=\"caption\">The first 500 are shown; report.json lists them all.</p>\n", out);
    }
    fputs ("</section>\n", out);
    s_performance (out, r);
    fputs ("<p class=\"caption\">Generated by macx from the run's audit log and the agencies' "
           "outcome files. report.json holds the same figures (schema: docs/report.schema.json); "
           "phases.csv has one row per subject per phase.</p>\n</body>\n</html>\n", out);
}
