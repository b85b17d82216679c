/* report_html.c -- report.html: one self-contained page (inline CSS and
 * SVG, no scripts, nothing fetched) with six figures and the data tables,
 * all from simulated time, and a small wall-clock performance section kept
 * apart at the end. Every string from the run is escaped on its way out. */
#include "report.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

#define S_W       880                    /* chart width, px (scaled down on a narrow page) */
#define S_ROW     26                     /* bar row height */
#define S_TOP     34                     /* below the title */
#define S_BOTTOM  46                     /* room for the ticks and the axis label */
#define S_LABEL_PX 12                    /* font sizes, as in s_css */
#define S_SMALL_PX 11
#define S_CUT     40                     /* row labels are cut to this many bytes */
#define S_LABEL_MAX 300                  /* ... and this many px */
#define S_NSEG    5

/* The categorical palette (the funnel has its own, in s_funnel). */
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

/* s cut to at most max bytes (on a UTF-8 boundary, with an ellipsis), in
 * buf; returns buf. */
static const char *
s_cut (char *buf, size_t size, const char *s, size_t max)
{
    assert (size > 4);
    size_t n = strlen (s);
    if (max >= size - 4)
        max = size - 4;
    if (n <= max) {
        snprintf (buf, size, "%s", s);
        return buf;
    }
    while (max > 0 && ((unsigned char) s[max] & 0xc0) == 0x80)
        max--;
    memcpy (buf, s, max);
    memcpy (buf + max, "\xe2\x80\xa6", 4);   /* U+2026 and the terminator */
    return buf;
}

/* How wide s is drawn at px, in px, slightly over for the usual sans-serif
 * faces (DejaVu Sans, the widest common fallback, included): the charts size
 * their margins by it so that no label leaves its chart, whatever it says.
 * tests/integration/report_render.sh measures the result in a browser. */
static double
s_text_w (const char *s, double px)
{
    double em = 0;
    for (; s && *s; s++) {
        unsigned char c = (unsigned char) *s;
        if ((c & 0xc0) == 0x80)
            continue;                    /* a UTF-8 continuation byte */
        em += c >= 0x80 ? 1.0
            : strchr ("MW%@", c) ? 1.0
            : strchr ("mw", c) ? 0.98
            : c >= 'A' && c <= 'Z' ? 0.78
            : c >= '0' && c <= '9' ? 0.66
            : strchr ("ijl|.,:;'!", c) ? 0.34
            : strchr ("ftr ()[]-/", c) ? 0.45
            : 0.64;
    }
    return em * px;
}

/* A row label cut (with an ellipsis) to S_CUT bytes and to S_LABEL_MAX px,
 * in buf. */
static const char *
s_fit (char *buf, size_t size, const char *label)
{
    size_t max = S_CUT;
    s_cut (buf, size, label, max);
    while (max > 1 && s_text_w (buf, S_LABEL_PX) > S_LABEL_MAX)
        s_cut (buf, size, label, --max);
    return buf;
}

/* A duration in simulated days as a reader wants it: one decimal, and
 * "under 0.1" rather than a string of zeros; in buf. */
static const char *
s_days (char *buf, size_t size, double days)
{
    if (days == 0)
        snprintf (buf, size, "0");
    else if (days > 0 && days < 0.05)
        snprintf (buf, size, "under 0.1");
    else
        snprintf (buf, size, "%.1f", days);
    return buf;
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

/* An empty chart is one line: its title and "none", and why. */
static void
s_none (FILE *out, const char *title, const char *why)
{
    fputs ("<p class=\"none\"><b>", out);
    s_esc (out, title);
    fputs (":</b> none", out);
    if (why) {
        fputs (" (", out);
        s_esc (out, why);
        fputc (')', out);
    }
    fputs (".</p>\n", out);
}

/* A legend from y down: a swatch and a name per item, wrapped to the
 * chart's width. Returns the height it takes; with out NULL, only that. */
static int
s_legend (FILE *out, int y, const char *const *names, const char *const *colors, int n)
{
    int x = 4, rows = 1;
    for (int i = 0; i < n; i++) {
        int w = 16 + (int) ceil (s_text_w (names[i], S_SMALL_PX)) + 18;
        if (x > 4 && x + w > S_W - 4) {
            x = 4;
            y += 18;
            rows++;
        }
        if (out) {
            fprintf (out, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                     "<text x=\"%d\" y=\"%d\" class=\"tick\">", x, y, colors[i], x + 16, y + 10);
            s_esc (out, names[i]);
            fputs ("</text>\n", out);
        }
        x += w;
    }
    return rows * 18 + 4;
}

typedef struct {
    char label[96];
    bool dim;                            /* label drawn as not applying (a skipped phase) */
    char note[160];                      /* drawn in place of the bar when set */
    double v[S_NSEG];                    /* segments (stacked) */
    char tip[S_NSEG][192];               /* each segment's tooltip */
    const char *solid;                   /* one segment in this colour, when set */
    char text[96];                       /* value label at the bar's end */
} s_bar_t;

typedef struct {
    const char *title;
    const char *xlabel;
    int nseg;
    const char *const *segs;             /* the segments' names, for the legend (nseg > 1) */
    const char *const *colors;           /* the segments' colours */
    bool whole;                          /* counts: whole-number ticks */
    bool inside;                         /* counts printed inside the segments wide enough */
    const char *none;                    /* why the chart can be empty, for its "none" line */
} s_chart_t;

/* Horizontal bars, one row per item, with up to S_NSEG stacked segments.
 * The margins are sized by the longest label on the left and the longest
 * value on the right, so that everything is drawn inside the chart. */
static void
s_hbars (FILE *out, const s_chart_t *ch, const s_bar_t *rows, size_t n)
{
    double max = 0, lw = 0, rw = 0;
    char cut[S_CUT + 4];
    for (size_t i = 0; i < n; i++) {
        double total = 0;
        for (int s = 0; s < ch->nseg; s++)
            total += rows[i].v[s];
        if (total > max)
            max = total;
        double w = s_text_w (s_fit (cut, sizeof cut, rows[i].label), S_LABEL_PX);
        if (w > lw)
            lw = w;
        if ((w = s_text_w (rows[i].text, S_SMALL_PX)) > rw)
            rw = w;
    }
    if (n == 0 || !(max > 0)) {
        s_none (out, ch->title, ch->none);
        return;
    }
    int left = 14 + (int) ceil (lw), right = 16 + (int) ceil (rw);
    if (left < 90)
        left = 90;
    int plot = S_W - left - right;
    /* labels are fitted to S_LABEL_MAX and values are this file's own short
     * formats, so there is always room for the bars */
    assert (plot >= 200);
    int y0 = S_TOP + (ch->nseg > 1 ? s_legend (NULL, S_TOP - 6, ch->segs, ch->colors, ch->nseg) : 0);
    s_svg_open (out, y0 + (int) n * S_ROW + S_BOTTOM, ch->title);
    if (ch->nseg > 1)
        s_legend (out, S_TOP - 6, ch->segs, ch->colors, ch->nseg);
    double top = s_axis (out, max, ch->whole, left, plot, y0 - 4, y0 + (int) n * S_ROW, ch->xlabel);
    for (size_t i = 0; i < n; i++) {
        const s_bar_t *b = &rows[i];
        int y = y0 + (int) i * S_ROW;
        fprintf (out, "<text x=\"%d\" y=\"%d\" class=\"%s\" text-anchor=\"end\">", left - 8, y + 17,
                 b->dim ? "label dim" : "label");
        s_esc (out, s_fit (cut, sizeof cut, b->label));
        fputs ("</text>", out);
        if (b->note[0]) {
            fprintf (out, "<text x=\"%d\" y=\"%d\" class=\"note\">", left + 6, y + 17);
            s_esc (out, b->note);
            fputs ("</text>\n", out);
            continue;
        }
        double x = left;
        for (int s = 0; s < (b->solid ? 1 : ch->nseg); s++) {
            double w = b->v[s] / top * plot;
            if (!(w > 0))
                continue;
            fprintf (out, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>", x,
                     y + 4, w, S_ROW - 8, b->solid ? b->solid : ch->colors[s]);
            s_esc (out, b->tip[s]);
            fputs ("</title></rect>", out);
            char num[32];
            snprintf (num, sizeof num, "%.0f", b->v[s]);
            if (ch->inside && !b->solid && s_text_w (num, 10) + 6 <= w)
                fprintf (out, "<text x=\"%.1f\" y=\"%d\" class=\"in\" text-anchor=\"middle\">%s</text>",
                         x + w / 2, y + 16, num);
            x += w;
        }
        fprintf (out, "<text x=\"%.1f\" y=\"%d\" class=\"value\">", x + 6, y + 17);
        s_esc (out, b->text);
        fputs ("</text>\n", out);
    }
    fputs ("</svg>\n", out);
}

/* Chart 1: a box plot per phase on one days axis, with a legend of its
 * marks and the median, p90 and p99 in columns on the right. */
static void
s_boxes (FILE *out, const macx_report_t *r)
{
    const char *title = "Phase latency (simulated days)";
    double max = 0;
    for (int p = 1; p <= MACX_REPORT_PHASES; p++)
        if (r->phases[p].days.n && r->phases[p].days.max > max)
            max = r->phases[p].days.max;
    if (!(max > 0)) {
        s_none (out, title, "no subject finished a phase");
        return;
    }
    static const char *const heads[] = { "p50 days", "p90 days", "p99 days" };
    char num[64];
    snprintf (num, sizeof num, "%.1f", max);
    double cw = s_text_w (heads[2], S_SMALL_PX);
    if (s_text_w (num, S_SMALL_PX) > cw)
        cw = s_text_w (num, S_SMALL_PX);
    int col = 12 + (int) ceil (cw), right = 3 * col + 16;
    double lw = 0;
    for (int p = 1; p <= MACX_REPORT_PHASES; p++)
        if (s_text_w (macx_phase_name (p), S_LABEL_PX) > lw)
            lw = s_text_w (macx_phase_name (p), S_LABEL_PX);
    int left = 14 + (int) ceil (lw), plot = S_W - left - right, row = 40;
    /* the legend: each mark as drawn, and what it stands for, wrapped */
    static const char *const marks[] = { "middle half (25th to 75th percentile)", "median (p50)",
                                          "90th percentile", "99th percentile",
                                          "fastest to slowest" };
    int mw[5], lrows = 1;
    for (int i = 0, x = 4; i < 5; i++) {
        mw[i] = 24 + (int) ceil (s_text_w (marks[i], S_SMALL_PX)) + 16;
        if (x > 4 && x + mw[i] > S_W - 4) {
            x = 4;
            lrows++;
        }
        x += mw[i];
    }
    int y0 = S_TOP + 18 * lrows + 18, height = y0 + MACX_REPORT_PHASES * row + S_BOTTOM;
    s_svg_open (out, height, title);
    int x = 4, ly = S_TOP + 2;
    for (int i = 0; i < 5; i++) {
        int w = mw[i];
        if (x > 4 && x + w > S_W - 4) {
            x = 4;
            ly += 18;
        }
        int cx = x + 9, cy = ly - 4;
        switch (i) {
        case 0: fprintf (out, "<rect x=\"%d\" y=\"%d\" width=\"18\" height=\"10\" class=\"box\" fill=\"#bbb\"/>",
                         x, cy - 5); break;
        case 1: fprintf (out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"median\"/>", cx, cy - 6,
                         cx, cy + 6); break;
        case 2: fprintf (out, "<circle cx=\"%d\" cy=\"%d\" r=\"3.5\" class=\"p90\"/>", cx, cy); break;
        case 3: fprintf (out, "<path d=\"M%d %dl4.5 4.5l-4.5 4.5l-4.5-4.5z\" class=\"p99\"/>", cx, cy - 5); break;
        default: fprintf (out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"whisker\"/>", x, cy,
                          x + 18, cy);
        }
        fprintf (out, "<text x=\"%d\" y=\"%d\" class=\"tick\">", x + 24, ly);
        s_esc (out, marks[i]);
        fputs ("</text>\n", out);
        x += w;
    }
    for (int k = 0; k < 3; k++)
        fprintf (out, "<text x=\"%d\" y=\"%d\" class=\"head\" text-anchor=\"end\">%s</text>",
                 S_W - 8 - (2 - k) * col, y0 - 6, heads[k]);
    fputc ('\n', out);
    double top = s_axis (out, max, false, left, plot, y0 - 4, y0 + MACX_REPORT_PHASES * row,
                         "simulated days from the phase's first record to the next phase's first record");
    for (int p = 1; p <= MACX_REPORT_PHASES; p++) {
        const macx_report_phase_t *ph = &r->phases[p];
        int y = y0 + (p - 1) * row, mid = y + row / 2;
        fprintf (out, "<text x=\"%d\" y=\"%d\" class=\"%s\" text-anchor=\"end\">%s</text>", left - 8, mid + 4,
                 ph->skipped ? "label dim" : "label", macx_phase_name (p));
        if (!ph->days.n) {
            char note[160];
            if (ph->skipped)
                snprintf (note, sizeof note, "skipped: this scenario's workflow leaves the phase out");
            else if (ph->entered)
                snprintf (note, sizeof note, "none finished: %" PRIu64 " subject(s) still in this phase "
                          "when the run ended", ph->open);
            else
                snprintf (note, sizeof note, "not reached: no subject got this far");
            fprintf (out, "<text x=\"%d\" y=\"%d\" class=\"note\">", left + 6, mid + 4);
            s_esc (out, note);
            fputs ("</text>\n", out);
            continue;
        }
#define X(v) (left + (v) / top * plot)
        fprintf (out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"whisker\"/>",
                 X (ph->days.min), mid, X (ph->days.max), mid);
        fprintf (out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"whisker\"/>",
                 X (ph->days.min), mid - 7, X (ph->days.min), mid + 7);
        fprintf (out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"whisker\"/>",
                 X (ph->days.max), mid - 7, X (ph->days.max), mid + 7);
        double bw = X (ph->p75) - X (ph->p25);
        fprintf (out, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" class=\"box\" fill=\"%s\">"
                 "<title>%s, %" PRIu64 " subjects finished: p25 %.1f, median %.1f, p75 %.1f, p90 %.1f, "
                 "p99 %.1f days; fastest %.1f, slowest %.1f days", X (ph->p25), mid - 11, bw < 1 ? 1 : bw, 22,
                 s_colors[(p - 1) % 7], macx_phase_name (p), ph->days.n, ph->p25, ph->days.p50, ph->p75,
                 ph->days.p90, ph->days.p99, ph->days.min, ph->days.max);
        if (ph->open)
            fprintf (out, "; %" PRIu64 " still in it", ph->open);
        fputs ("</title></rect>", out);
        fprintf (out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"median\"/>",
                 X (ph->days.p50), mid - 11, X (ph->days.p50), mid + 11);
        fprintf (out, "<circle cx=\"%.1f\" cy=\"%d\" r=\"3.5\" class=\"p90\"/>", X (ph->days.p90), mid);
        fprintf (out, "<path d=\"M%.1f %dl4.5 4.5l-4.5 4.5l-4.5-4.5z\" class=\"p99\"/>", X (ph->days.p99),
                 mid - 5);
#undef X
        const double q[3] = { ph->days.p50, ph->days.p90, ph->days.p99 };
        for (int k = 0; k < 3; k++)
            fprintf (out, "<text x=\"%d\" y=\"%d\" class=\"value\" text-anchor=\"end\">%.1f</text>",
                     S_W - 8 - (2 - k) * col, mid + 4, q[k]);
        fputc ('\n', out);
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
s_caption (FILE *out, const char *caption)
{
    fputs ("<p class=\"caption\">", out);
    s_esc (out, caption);
    fputs ("</p>\n", out);
}

static void
s_figure_close (FILE *out, const char *caption)
{
    s_caption (out, caption);
    fputs ("</section>\n", out);
}

static void
s_td (FILE *out, const char *s)
{
    fputs ("<td>", out);
    s_esc (out, s);
    fputs ("</td>", out);
}

/* An identifier's cell: kept on one line ("C-2026-000002", not "C-" and
 * "2026-000002"). */
static void
s_tdid (FILE *out, const char *s)
{
    fputs ("<td class=\"id\">", out);
    s_esc (out, s);
    fputs ("</td>", out);
}

static void
s_tdn (FILE *out, double v, int decimals)
{
    fprintf (out, "<td class=\"n\">%.*f</td>", decimals, v);
}

static void
s_tdd (FILE *out, double days)
{
    char buf[32];
    fputs ("<td class=\"n\">", out);
    s_esc (out, s_days (buf, sizeof buf, days));
    fputs ("</td>", out);
}

/* A data table's heading, or, when it has no rows, the heading and "none"
 * on one line. Returns whether the table follows. */
static bool
s_table_head (FILE *out, const char *heading, bool empty, const char *const *cols, size_t ncols)
{
    fputs ("<h3>", out);
    s_esc (out, heading);
    if (empty) {
        fputs (": none</h3>\n", out);
        return false;
    }
    fputs ("</h3>\n<table>\n<tr>", out);
    for (size_t i = 0; i < ncols; i++) {
        fputs ("<th>", out);
        s_esc (out, cols[i]);
        fputs ("</th>", out);
    }
    fputs ("</tr>\n", out);
    return true;
}

static const char s_css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#222;"
    "max-width:920px;margin:24px auto;padding:0 16px;background:#fff}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px}"
    "h3{font-size:14px;margin:18px 0 2px}"
    "table{border-collapse:collapse;margin:4px 0 12px}td,th{border-bottom:1px solid #ddd;"
    "padding:3px 10px;text-align:left}th{background:#f4f4f4}td.n{text-align:right;"
    "font-variant-numeric:tabular-nums}.meta td:first-child{color:#555}.meta td{overflow-wrap:anywhere}"
    ".caption{color:#444;max-width:760px;margin:4px 0 0}p.none{margin:6px 0}"
    "td.skip{color:#777;font-style:italic}td.id{white-space:nowrap}"
    "svg{display:block;margin-top:4px;max-width:100%;height:auto}svg text{font-family:inherit}"
    ".title{font-size:14px;font-weight:600;fill:#222}.label{font-size:12px;fill:#222}"
    ".dim{fill:#888;font-style:italic}.note{font-size:11px;fill:#666;font-style:italic}"
    ".tick{font-size:11px;fill:#555}.axis{font-size:12px;fill:#333}.value{font-size:11px;fill:#333}"
    ".head{font-size:11px;font-weight:600;fill:#333}.in{font-size:10px;fill:#111}"
    ".grid{stroke:#e6e6e6}.whisker{stroke:#555;stroke-width:1.2}.box{stroke:#333;fill-opacity:.75}"
    ".median{stroke:#111;stroke-width:2.5}.p90{fill:#fff;stroke:#111;stroke-width:1.5}.p99{fill:#111}"
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
 * wall clock, so that nobody reads it as a phase figure. Its wall time is
 * the one the stdout summary prints. */
static void
s_performance (FILE *out, const macx_report_t *r)
{
    char buf[256];
    fputs ("<section id=\"performance\">\n<h2>Performance (wall clock)</h2>\n<table class=\"meta\">\n", out);
    if (r->wall_pace_ms > 0)
        snprintf (buf, sizeof buf, "%.1f s, paced at %g ms per simulated day at most (from every agency's "
                  "start to the simulation's end)", r->wall_seconds, r->wall_pace_ms);
    else
        snprintf (buf, sizeof buf, "%.1f s, as fast as the machine allowed (from every agency's start to the "
                  "simulation's end)", r->wall_seconds);
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

/* Chart 2: per phase, where the subjects that entered it went. */
static void
s_funnel (FILE *out, const macx_report_t *r, s_bar_t *rows)
{
    static const char *const segs[] = { "went straight through", "waited for a free worker",
                                        "waited on an agreement (refused or held)", "stalled (given up)",
                                        "still waiting when the run ended" };
    /* green through, amber and orange a wait, red stalled, grey not over yet */
    static const char *const colors[] = { "#59a14f", "#edc948", "#f28e2b", "#e15759", "#bab0ac" };
    static const char *const tips[] = { "finished it without waiting", "waited for a free worker, then "
                                        "finished it", "had a record refused or held back under an agreement, "
                                        "then finished it", "stalled in it: an agency gave up",
                                        "were still in it when the run ended" };
    size_t n = 0;
    uint64_t base = r->ncases;
    for (int p = 1; p <= MACX_REPORT_PHASES; p++) {
        const macx_report_phase_t *ph = &r->phases[p];
        s_bar_t *b = &rows[n++];
        memset (b, 0, sizeof *b);
        snprintf (b->label, sizeof b->label, "%s", macx_phase_name (p));
        if (ph->skipped) {
            b->dim = true;
            snprintf (b->note, sizeof b->note, "skipped: this scenario's workflow leaves the phase out");
            continue;
        }
        const macx_report_funnel_t *f = &ph->funnel;
        const uint64_t v[S_NSEG] = { f->through, f->worker, f->agreement, f->stalled, f->waiting };
        for (int s = 0; s < S_NSEG; s++) {
            b->v[s] = (double) v[s];
            snprintf (b->tip[s], sizeof b->tip[s], "%s: %" PRIu64 " subject(s) %s", macx_phase_name (p), v[s],
                      tips[s]);
        }
        if (!ph->entered)
            snprintf (b->note, sizeof b->note, "not reached: no subject got this far");
        snprintf (b->text, sizeof b->text, "%" PRIu64 " (%.0f%%)", ph->entered, s_pct (ph->entered, base));
    }
    s_bar_t *b = &rows[n++];
    memset (b, 0, sizeof *b);
    snprintf (b->label, sizeof b->label, "plan issued");
    b->solid = s_colors[0];
    b->v[0] = (double) r->outcomes[MACX_OUTCOME_DISPOSED];
    snprintf (b->tip[0], sizeof b->tip[0], "%" PRIu64 " subject(s) whose panel issued a plan",
              r->outcomes[MACX_OUTCOME_DISPOSED]);
    snprintf (b->text, sizeof b->text, "%" PRIu64 " (%.0f%%)", r->outcomes[MACX_OUTCOME_DISPOSED],
              s_pct (r->outcomes[MACX_OUTCOME_DISPOSED], base));
    const s_chart_t ch = { "Subjects entering each phase, and how each phase went for them",
                           "subjects (the figure at the end: entered, and the percent of all cases)",
                           S_NSEG, segs, colors, true, true, "no subject entered a phase" };
    s_hbars (out, &ch, rows, n);
}

/* Chart 5: per agency and phase, the mean days a unit of work waited for a
 * free worker and was worked on. */
static void
s_agencies (FILE *out, const macx_report_t *r, s_bar_t *rows, size_t max)
{
    static const char *const segs[] = { "waiting for a free worker", "being worked on" };
    static const char *const colors[] = { "#4e79a7", "#f28e2b" };
    size_t n = 0;
    for (size_t i = 0; i < r->nagencies; i++) {
        const macx_report_agency_t *a = &r->agencies[i];
        for (int p = 1; p <= MACX_REPORT_PHASES && n < max; p++) {
            const macx_report_work_t *w = &a->phases[p];
            if (!w->units)
                continue;
            s_bar_t *b = &rows[n++];
            memset (b, 0, sizeof *b);
            double queue = w->queue_days / (double) w->units, work = w->work_days / (double) w->units;
            char q[32], k[32], t[32], m[32];
            snprintf (b->label, sizeof b->label, "%s, %s", a->id, macx_phase_name (p));
            b->v[0] = queue;
            b->v[1] = work;
            snprintf (b->tip[0], sizeof b->tip[0], "%s, %s: %s days waiting for a free worker per unit of work "
                      "(mean of %" PRIu64 " units; %" PRIu64 " waited at all, the longest %s days)", a->id,
                      macx_phase_name (p), s_days (q, sizeof q, queue), w->units, w->queued,
                      s_days (m, sizeof m, w->max_queue_days));
            snprintf (b->tip[1], sizeof b->tip[1], "%s, %s: %s days being worked on per unit of work (mean of %"
                      PRIu64 " units)", a->id, macx_phase_name (p), s_days (k, sizeof k, work), w->units);
            if (queue >= 0.05)
                snprintf (b->text, sizeof b->text, "%s days per unit (%s waiting)",
                          s_days (t, sizeof t, queue + work), s_days (q, sizeof q, queue));
            else
                snprintf (b->text, sizeof b->text, "%s days per unit", s_days (t, sizeof t, queue + work));
        }
    }
    const s_chart_t ch = { "Mean simulated days per unit of work (one case in one phase), by agency and phase",
                           "simulated days per unit of work (mean)", 2, segs, colors, false, false,
                           "no agency reported work" };
    s_hbars (out, &ch, rows, n);
}

/* A cleared row labelled with a disposal kind in words (also into word). */
static s_bar_t *
s_kind_row (s_bar_t *b, const char *kind, char *word, size_t size)
{
    memset (b, 0, sizeof *b);
    macx_report_words (word, size, kind, true);
    snprintf (b->label, sizeof b->label, "%s", word);
    return b;
}

/* Chart 6: per disposal kind, what became of the interventions issued, and
 * how long they waited for a place. */
static void
s_delivery (FILE *out, const macx_report_t *r, s_bar_t *rows, size_t max)
{
    static const char *const segs[] = { "delivered (taken up)", "declined or not taken up",
                                        "not over when the run ended" };
    static const char *const colors[] = { "#59a14f", "#e15759", "#bab0ac" };
    static const char *const wsegs[] = { "median (p50)", "to the 90th percentile (p90)" };
    static const char *const wcolors[] = { "#4e79a7", "#a0cbe8" };
    char word[128], a[32], b2[32];
    size_t n = 0;
    for (size_t i = 0; i < r->ndelivery && n < max; i++) {
        const macx_report_delivery_t *d = &r->delivery[i];
        s_bar_t *b = s_kind_row (&rows[n++], d->kind, word, sizeof word);
        uint64_t over = d->delivered + d->declined, left = d->issued > over ? d->issued - over : 0;
        const uint64_t v[3] = { d->delivered, d->declined, left };
        static const char *const what[] = { "taken up and delivered", "declined or not taken up",
                                            "still waiting or in delivery when the run ended" };
        for (int s = 0; s < 3; s++) {
            b->v[s] = (double) v[s];
            snprintf (b->tip[s], sizeof b->tip[s], "%s: %" PRIu64 " of %" PRIu64 " %s", word, v[s], d->issued,
                      what[s]);
        }
        snprintf (b->text, sizeof b->text, "%" PRIu64 " issued (%.0f%% delivered)", d->issued,
                  s_pct (d->delivered, d->issued));
    }
    const s_chart_t ch = { "Interventions issued, by kind: delivered, declined, not over", "interventions", 3,
                           segs, colors, true, true, "no panel issued an intervention with a delivery stage" };
    s_hbars (out, &ch, rows, n);
    n = 0;
    for (size_t i = 0; i < r->ndelivery && n < max; i++) {
        const macx_report_delivery_t *d = &r->delivery[i];
        s_bar_t *b = s_kind_row (&rows[n++], d->kind, word, sizeof word);
        b->v[0] = d->waiting_days.p50;
        b->v[1] = d->waiting_days.p90 > d->waiting_days.p50 ? d->waiting_days.p90 - d->waiting_days.p50 : 0;
        snprintf (b->tip[0], sizeof b->tip[0], "%s: half of %" PRIu64 " waited at most %s days for a place", word,
                  d->waiting_days.n, s_days (a, sizeof a, d->waiting_days.p50));
        snprintf (b->tip[1], sizeof b->tip[1], "%s: 90%% of %" PRIu64 " waited at most %s days for a place", word,
                  d->waiting_days.n, s_days (a, sizeof a, d->waiting_days.p90));
        snprintf (b->text, sizeof b->text, "p50 %s, p90 %s days", s_days (a, sizeof a, d->waiting_days.p50),
                  s_days (b2, sizeof b2, d->waiting_days.p90));
        if (!(d->waiting_days.p90 > 0) && d->waiting_days.max > 0)
            snprintf (b->note, sizeof b->note, "no wait for at least 90%% (the longest: %s days)",
                      s_days (a, sizeof a, d->waiting_days.max));
        else if (!(d->waiting_days.p90 > 0))
            snprintf (b->note, sizeof b->note, "no wait: a place was always free");
    }
    /* nothing to draw when at least 90% of every kind found a place free:
     * then say how long the longest wait was, and for what */
    char none[192];
    const macx_report_delivery_t *longest = NULL;
    for (size_t i = 0; i < r->ndelivery; i++)
        if (!longest || r->delivery[i].waiting_days.max > longest->waiting_days.max)
            longest = &r->delivery[i];
    if (longest && longest->waiting_days.max > 0)
        snprintf (none, sizeof none, "at least 90%% of every kind found a place free (the longest wait: %s days, "
                  "%s)", s_days (a, sizeof a, longest->waiting_days.max),
                  macx_report_words (word, sizeof word, longest->kind, false));
    else
        snprintf (none, sizeof none, "no intervention waited for a place: its owner always had one free");
    const s_chart_t wch = { "Days from the plan to a place, by kind (waiting list)", "simulated days waiting",
                            2, wsegs, wcolors, false, false, none };
    s_hbars (out, &wch, rows, n);
}

/* Chart 7: the closed-subject watch, from the providers' events to the
 * subjects reopened, and the days from re-engagement to a decision. */
static void
s_watch (FILE *out, const macx_report_t *r, s_bar_t *rows)
{
    static const char *const segs[] = { "part of a re-engagement", "benign (a false alert)" };
    static const char *const colors[] = { "#e15759", "#bab0ac" };
    const uint64_t tw = r->watch.tripwires, ua = r->watch.alerts_unsolicited;
    const struct {
        const char *label;
        double v[2];
        const char *tip;
    } t[] = {
        { "tripwires matched", { (double) (tw - r->watch.false_alerts), (double) r->watch.false_alerts },
          "events whose customer's pseudonym was on the provider's watch-list" },
        { "unsolicited intelligence", { (double) ua, 0 }, "items of unsolicited intelligence on closed subjects" },
        { "alerts triaged", { (double) r->watch.triaged, 0 }, "alerts the joint MI5/CTP triage decided on" },
        { "decisions to reopen", { (double) r->watch.reopen_decisions, 0 }, "triage decisions to reopen" },
        { "subjects reopened", { (double) r->watch.reopened, 0 }, "subjects MI5 reopened" },
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        s_bar_t *b = &rows[n++];
        memset (b, 0, sizeof *b);
        snprintf (b->label, sizeof b->label, "%s", t[i].label);
        b->v[0] = t[i].v[0];
        b->v[1] = t[i].v[1];
        if (i > 0)
            b->solid = s_colors[0];
        snprintf (b->tip[0], sizeof b->tip[0], "%.0f %s%s", t[i].v[0], t[i].tip,
                  i == 0 ? ", part of a re-engagement" : "");
        snprintf (b->tip[1], sizeof b->tip[1], "%.0f %s, benign: false alerts", t[i].v[1], t[i].tip);
        snprintf (b->text, sizeof b->text, "%.0f", t[i].v[0] + t[i].v[1]);
    }
    const s_chart_t ch = { "From the providers' tripwires to the subjects reopened", "items", 2, segs, colors,
                           true, true, "the scenario has no watch, or nothing reached it" };
    if (r->watch.alerts || tw)
        s_hbars (out, &ch, rows, n);
    else
        s_none (out, ch.title, ch.none);
    static const char *const lsegs[] = { "p50", "to p90", "to p99" };
    static const char *const lcolors[] = { "#4e79a7", "#a0cbe8", "#d4e4f2" };
    const macx_report_stats_t *l = &r->watch.latency_days;
    s_bar_t *b = &rows[0];
    memset (b, 0, sizeof *b);
    snprintf (b->label, sizeof b->label, "re-engagement to decision");
    b->v[0] = l->p50;
    b->v[1] = l->p90 - l->p50;
    b->v[2] = l->p99 - l->p90;
    char a[32], c[32], d[32];
    snprintf (b->tip[0], sizeof b->tip[0], "half of %" PRIu64 " re-engaged subjects had a triage decision within "
              "%s days", l->n, s_days (a, sizeof a, l->p50));
    snprintf (b->tip[1], sizeof b->tip[1], "90%% within %s days", s_days (a, sizeof a, l->p90));
    snprintf (b->tip[2], sizeof b->tip[2], "99%% within %s days", s_days (a, sizeof a, l->p99));
    snprintf (b->text, sizeof b->text, "p50 %s, p90 %s, p99 %s days", s_days (a, sizeof a, l->p50),
              s_days (c, sizeof c, l->p90), s_days (d, sizeof d, l->p99));
    const s_chart_t lch = { "Days from a subject's re-engagement to the first triage decision", "simulated days",
                            3, lsegs, lcolors, false, false, "no re-engaged subject had a triage decision" };
    s_hbars (out, &lch, rows, l->n ? 1 : 0);
}

/* Rows n.. of chart 8's first part: a bar per tally (a partner), of its
 * cases, labelled prefix + partner; returns the new row count. */
static size_t
s_wait_bars (s_bar_t *rows, size_t n, size_t max, const macx_report_tally_t *t, size_t nt, uint64_t closed,
             const char *prefix, const char *color, const char *what)
{
    for (size_t i = 0; i < nt && n < max; i++) {
        s_bar_t *b = &rows[n++];
        memset (b, 0, sizeof *b);
        snprintf (b->label, sizeof b->label, "%s%s", prefix, t[i].key);
        b->v[0] = (double) t[i].cases;
        b->solid = color;
        snprintf (b->tip[0], sizeof b->tip[0], "%s: %" PRIu64 " case(s) %s", t[i].key, t[i].cases, what);
        snprintf (b->text, sizeof b->text, "%" PRIu64 " (%.0f%%)", t[i].cases, s_pct (t[i].cases, closed));
    }
    return n;
}

/* Chart 8: how each case's wait for its partners' answers ended, by the
 * partner that answered last or the partners it stopped waiting for; what
 * each agreement carried, and what its policy withheld; how many partners'
 * answers reached each profile. */
static void
s_attribution (FILE *out, const macx_report_t *r, s_bar_t *rows, size_t max)
{
    const char *const blue[] = { s_colors[0] }, *const orange[] = { s_colors[1] };
    size_t n = s_wait_bars (rows, 0, max, r->attribution.last_by, r->attribution.nlast_by, r->attribution.closed,
                     "last answer: ", s_colors[0], "went on to enrichment when this partner's answer, the "
                     "last awaited, came");
    n = s_wait_bars (rows, n, max, r->attribution.waited_for, r->attribution.nwaited_for, r->attribution.closed,
                     "timed out on: ", s_colors[3], "went on without this partner's answer: the wait timed out");
    const s_chart_t ended = { "How the wait for partners' answers ended (cases)", "cases", 1, NULL, blue, true,
                              false, "no case waited for partners' answers" };
    s_hbars (out, &ended, rows, n);
    char buf[400];
    snprintf (buf, sizeof buf, "Of %" PRIu64 " cases whose wait for answers ended, %" PRIu64 " went on when the "
              "last awaited partner answered (blue, by that partner) and %" PRIu64 " when the wait timed out "
              "(red, by each partner not heard from; a case can count under several).",
              r->attribution.closed, r->attribution.last_answer, r->attribution.timed_out);
    s_caption (out, buf);

    static const char *const segs[] = { "fields sent as held", "sent transformed", "withheld by the policy" };
    static const char *const colors[] = { "#59a14f", "#edc948", "#e15759" };
    n = 0;
    for (size_t i = 0; i < r->nagreements && n < max; i++) {
        const macx_report_agreement_t *g = &r->agreements[i];
        if (!g->fields_known)
            continue;
        s_bar_t *b = &rows[n++];
        memset (b, 0, sizeof *b);
        snprintf (b->label, sizeof b->label, "%s", g->id);
        uint64_t plain = g->fields_sent > g->fields_transformed ? g->fields_sent - g->fields_transformed : 0;
        b->v[0] = (double) plain;
        b->v[1] = (double) g->fields_transformed;
        b->v[2] = (double) g->fields_withheld;
        snprintf (b->tip[0], sizeof b->tip[0], "%s: %" PRIu64 " field(s) sent as their senders held them", g->id, plain);
        snprintf (b->tip[1], sizeof b->tip[1], "%s: %" PRIu64 " field(s) sent transformed (e.g. a date of birth "
                  "cut to its year)", g->id, g->fields_transformed);
        snprintf (b->tip[2], sizeof b->tip[2], "%s: %" PRIu64 " field(s) the agreement did not let through", g->id,
                  g->fields_withheld);
        snprintf (b->text, sizeof b->text, "%" PRIu64 " records, %.0f%% withheld", g->prepared,
                  s_pct (g->fields_withheld, g->fields_held));
    }
    const s_chart_t fields = { "Fields of the records prepared under each agreement", "fields", 3, segs, colors,
                               true, false, "no sender reported its fields" };
    s_hbars (out, &fields, rows, n);
    s_caption (out, "Each bar is the fields the senders held in the records they prepared under one agreement: "
               "sent as held, sent transformed as the agreement requires, or withheld (forbidden, or not "
               "listed by the flow). The table below adds what each agreement carried and the matches its "
               "answering partners found.");
    static const char *const cols[] = { "agreement", "shares", "answers", "other", "refused", "exact matches",
                                        "near matches", "fields withheld" };
    if (s_table_head (out, "What each agreement carried", r->nagreements == 0, cols, 8)) {
        for (size_t i = 0; i < r->nagreements; i++) {
            const macx_report_agreement_t *g = &r->agreements[i];
            fputs ("<tr>", out);
            s_tdid (out, g->id);
            s_tdn (out, (double) g->shared, 0);
            s_tdn (out, (double) g->answers, 0);
            s_tdn (out, (double) g->other, 0);
            s_tdn (out, (double) g->refused, 0);
            s_tdn (out, (double) g->exact, 0);
            s_tdn (out, (double) g->near, 0);
            if (g->fields_known)
                s_tdn (out, (double) g->fields_withheld, 0);
            else
                s_td (out, "-");
            fputs ("</tr>\n", out);
        }
        fputs ("</table>\n", out);
    }

    n = 0;
    int top = 32;
    while (top > 0 && !r->attribution.by_partners[top])
        top--;
    for (int k = 0; k <= top && r->attribution.profiled && n < max; k++) {
        s_bar_t *b = &rows[n++];
        memset (b, 0, sizeof *b);
        snprintf (b->label, sizeof b->label, "%d partner%s", k, k == 1 ? "" : "s");
        b->v[0] = (double) r->attribution.by_partners[k];
        snprintf (b->tip[0], sizeof b->tip[0], "%" PRIu64 " profile(s) integrated the answers of %d partner(s)",
                  r->attribution.by_partners[k], k);
        snprintf (b->text, sizeof b->text, "%" PRIu64 " (%.0f%%)", r->attribution.by_partners[k],
                  s_pct (r->attribution.by_partners[k], r->attribution.profiled));
    }
    const s_chart_t prof = { "Partners whose answers reached each profile", "profiles", 1, NULL, orange, true,
                             false, "no case was profiled" };
    s_hbars (out, &prof, rows, n);
    snprintf (buf, sizeof buf, "Mean partners per profile: %.2f, over %" PRIu64 " profiles. A variant that "
              "is faster because fewer partners answer shows here first.",
              r->attribution.profiled ? r->attribution.mean_partners : 0.0, r->attribution.profiled);
    s_caption (out, buf);
}

void
macx_report_html (const macx_report_t *r, FILE *out)
{
    char buf[512], word[128], d50[32], d90[32];
    /* a row per agency and phase at most, and a few more */
    size_t maxrows = r->nagencies * MACX_REPORT_PHASES + r->ndisposals + r->nrefusal_agreements
                     + r->ndelivery + r->nagreements + r->attribution.nlast_by
                     + r->attribution.nwaited_for + 16 + 33;
    s_bar_t *rows = calloc (maxrows, sizeof *rows);
    if (!rows) {
        fputs ("<!DOCTYPE html>\n<p>macx: out of memory writing the report</p>\n", out);
        return;
    }
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
    buf[0] = 0;
    for (int p = 1; p <= MACX_REPORT_PHASES; p++)
        if (r->phases[p].skipped)
            snprintf (buf + strlen (buf), sizeof buf - strlen (buf), "%s%s", buf[0] ? ", " : "",
                      macx_phase_name (p));
    if (buf[0])
        s_meta_row (out, "skipped phases", buf);
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
    s_figure_close (out, "One row per phase, on one axis of simulated days. The box spans the middle half of "
                    "the subjects (25th to 75th percentile), the dark line inside it is the median, the open "
                    "circle the 90th percentile, the black diamond the 99th and the whiskers run from the "
                    "fastest to the slowest subject; the median, p90 and p99 are printed on the right. A "
                    "phase runs from the earliest-stamped accepted record of that phase to the "
                    "earliest-stamped accepted record of the next phase; the panel runs until CTP's last "
                    "panel record (the plan) reaches its last recipient. Sharing ends with the first "
                    "partner's answer, so waiting for the slower partners shows in enrichment. All times are "
                    "the broker's simulated stamps. Subjects still in a phase are not in its box: see the "
                    "funnel.");

    /* 2 */
    s_figure_open (out, "funnel", "2. Subjects through the phases");
    s_funnel (out, r, rows);
    s_caption (out, "Each bar is the subjects that entered the phase (had at least one record of it accepted by "
               "the broker), split by how the phase went for them: straight through, after waiting for a "
               "free worker at an agency (its work in this phase queued because every worker was busy: see "
               "chart 5), after waiting on an agreement (a record of this phase refused by the broker, or "
               "held back by its sender for a daily cap, and sent again later: see chart 4), stalled there "
               "(an agency gave up), or still there when the run ended. A subject counts once, in the first "
               "of these from the right. The last bar is the subjects whose panel issued a plan.");
    if (r->outcomes[MACX_OUTCOME_STALLED] || r->outcomes[MACX_OUTCOME_OPEN])
        snprintf (buf, sizeof buf, "Stalled: %" PRIu64 " subject(s); still open when the run ended: %" PRIu64
                  ".", r->outcomes[MACX_OUTCOME_STALLED], r->outcomes[MACX_OUTCOME_OPEN]);
    else
        snprintf (buf, sizeof buf, "Stalled or still open when the run ended: none.");
    s_figure_close (out, buf);

    /* 3 */
    s_figure_open (out, "levels", "3. Levels and disposals");
    uint64_t assessed = r->levels[1] + r->levels[2] + r->levels[3];
    size_t n = 0;
    for (int l = 1; l <= 3 && assessed; l++) {
        s_bar_t *b = &rows[n++];
        memset (b, 0, sizeof *b);
        snprintf (b->label, sizeof b->label, "Level %d", l);
        b->v[0] = (double) r->levels[l];
        snprintf (b->tip[0], sizeof b->tip[0], "Level %d: %" PRIu64 " subject(s), %.1f%% of those assessed", l,
                  r->levels[l], s_pct (r->levels[l], assessed));
        snprintf (b->text, sizeof b->text, "%" PRIu64 " subjects (%.1f%%)", r->levels[l],
                  s_pct (r->levels[l], assessed));
    }
    const char *const blue[] = { s_colors[0] }, *const green[] = { s_colors[2] }, *const red[] = { s_colors[3] };
    const s_chart_t levels = { "Subjects by level", "subjects", 1, NULL, blue, true, false,
                               "no subject was assessed" };
    s_hbars (out, &levels, rows, n);
    n = 0;
    for (size_t i = 0; i < r->ndisposals && n < maxrows; i++) {
        s_bar_t *b = &rows[n++];
        memset (b, 0, sizeof *b);
        macx_report_words (b->label, sizeof b->label, r->disposals[i].key, true);
        b->v[0] = (double) r->disposals[i].count;
        snprintf (b->tip[0], sizeof b->tip[0], "%s: chosen %" PRIu64 " time(s), in %" PRIu64 " plan(s)",
                  b->label, r->disposals[i].count, r->disposals[i].cases);
        snprintf (b->text, sizeof b->text, "%" PRIu64, r->disposals[i].count);
    }
    const s_chart_t disposals = { "Disposals in the panels' plans", "times chosen", 1, NULL, green, true, false,
                                  "no panel issued a plan" };
    s_hbars (out, &disposals, rows, n);
    snprintf (buf, sizeof buf, "Level 2 or 3: %.1f%% of %" PRIu64 " assessed subjects; %" PRIu64
              " referred back to investigation.", s_pct (r->levels[2] + r->levels[3], assessed), assessed,
              r->back_to_investigation);
    s_caption (out, "The top chart counts subjects by the level their behavioural baseline assessment gave "
               "(percentages of those assessed). The pilots found only 10-20% at Level 2 or 3. The bottom "
               "chart counts each disposal in the final panel plans; one plan can hold several disposals, so "
               "the bars can add up to more than the subjects.");
    s_figure_close (out, buf);

    /* 4 */
    s_figure_open (out, "refusals", "4. Refusals by agreement");
    n = 0;
    for (size_t i = 0; i < r->nrefusal_agreements && n < maxrows; i++) {
        s_bar_t *b = &rows[n++];
        const macx_report_tally_t *t = &r->refusal_agreements[i];
        memset (b, 0, sizeof *b);
        snprintf (b->label, sizeof b->label, "%s", t->key);
        b->v[0] = (double) t->count;
        snprintf (b->tip[0], sizeof b->tip[0], "%s: %" PRIu64 " record(s) refused, %" PRIu64 " subject(s)",
                  t->key, t->count, t->cases);
        snprintf (b->text, sizeof b->text, "%" PRIu64 " records (%" PRIu64 " subjects)", t->count, t->cases);
    }
    const s_chart_t refusals = { "Records the broker refused, by agreement", "refused records", 1, NULL, red,
                                 true, false, "the broker refused no record" };
    s_hbars (out, &refusals, rows, n);
    if (r->held) {
        /* not refusals: their senders knew the cap and waited for a day with room */
        fprintf (out, "<p class=\"caption\">Held back for a daily cap (not refused, so not in the "
                 "chart): %" PRIu64 " record(s) an agreement's daily cap would have refused that day "
                 "waited for the first day with room:", r->held);
        for (size_t i = 0; i < r->nheld_agreements && i < 8; i++) {
            fputs (i ? ", " : " ", out);
            s_esc (out, r->held_agreements[i].key);
            fprintf (out, " %" PRIu64 " (%" PRIu64 " subjects)", r->held_agreements[i].count,
                     r->held_agreements[i].cases);
        }
        fputs (".</p>\n", out);
    }
    if (r->nrefusal_agreements)
        s_caption (out, "Each bar counts the records the broker refused under one information-sharing "
                   "agreement (\"(none)\": no agreement applied, e.g. no flow allowed the share), with the "
                   "number of distinct subjects affected. A refused share is retried when its agreement "
                   "comes into force, so one subject can be refused several times; the table below breaks "
                   "refusals down by reason.");
    fputs ("</section>\n", out);

    /* 5 */
    s_figure_open (out, "agencies", "5. Where the time went, per agency and phase");
    s_agencies (out, r, rows, maxrows);
    s_figure_close (out, "One bar per agency and phase it worked in: the mean simulated days a unit of its work "
                    "(one case in one phase) spent waiting for a free worker (first segment) and being worked "
                    "on (second segment). A long first segment means the agency's capacity in that phase is "
                    "the bottleneck; a long second one means its service time is. The table below gives how "
                    "many units waited at all and the longest wait.");

    /* 6 */
    s_figure_open (out, "delivery", "6. Delivery of the plans");
    s_delivery (out, r, rows, maxrows);
    if (r->first_intervention_days.n)
        snprintf (buf, sizeof buf, "Time to first intervention (from the case's first record to the start of "
                  "the first one taken up): p50 %s, p90 %s simulated days, %" PRIu64 " subjects.",
                  s_days (d50, sizeof d50, r->first_intervention_days.p50),
                  s_days (d90, sizeof d90, r->first_intervention_days.p90),
                  r->first_intervention_days.n);
    else
        snprintf (buf, sizeof buf, "No subject started an intervention.");
    s_caption (out, "Each issued intervention is delivered by the agency that offered it, with a number of "
               "places at once (the review's 7.10: the capacity of local services to deliver); a plan's "
               "intervention waits for a free place, and the subject may then decline it or not take it up. "
               "The top chart splits the interventions of each kind by what became of them; the bottom one "
               "gives how long they waited for a place (median, and 90th percentile as the lighter "
               "extension). Referrals back to investigation and no further action have no delivery stage.");
    s_figure_close (out, buf);

    /* 7 */
    s_figure_open (out, "watch", "7. The closed-subject watch");
    s_watch (out, r, rows);
    snprintf (buf, sizeof buf, "Watched: %" PRIu64 " subjects. Providers' events: %" PRIu64 ", of which %" PRIu64
              " matched the watch-list; %" PRIu64 " re-engagement events matched no entry. Alerts: %" PRIu64
              ", triaged: %" PRIu64 ", unread: %" PRIu64 ".", r->watch.watched, r->watch.events, r->watch.tripwires,
              r->watch.missed, r->watch.alerts, r->watch.triaged,
              r->watch.alerts > r->watch.triaged ? r->watch.alerts - r->watch.triaged : 0);
    s_caption (out, "The closure gateway puts the watched categories of closed subjects on each data provider's "
               "watch-list, as keyed pseudonyms of that provider's agreement; a provider sends MI5 an event only "
               "when its customer's pseudonym is on the list (a tripwire). Each tripwire, and each item of "
               "unsolicited intelligence on a closed subject, is an alert to the triage point (the joint MI5/CTP "
               "assessment), which may reopen the subject. The first bar splits the tripwires into those that were "
               "part of a re-engagement and false alerts; the bottom chart gives the days from a subject's "
               "re-engagement to the first triage decision on it.");
    s_figure_close (out, buf);

    /* 8 */
    s_figure_open (out, "attribution", "8. Attribution: what ended the waits, what each agreement carried");
    s_attribution (out, r, rows, maxrows);
    fputs ("</section>\n", out);

    /* data tables */
    fputs ("<section id=\"data\">\n<h2>Data</h2>\n", out);
    static const char *const pcols[] = { "phase", "entered", "done", "open", "of them stalled", "p50 days",
                                         "p90 days", "p99 days", "max days", "mean days" };
    s_table_head (out, "Phases (latencies in simulated days)", false, pcols, 10);
    for (int p = 1; p <= MACX_REPORT_PHASES; p++) {
        const macx_report_phase_t *ph = &r->phases[p];
        fputs ("<tr>", out);
        s_td (out, macx_phase_name (p));
        if (ph->skipped) {
            fputs ("<td colspan=\"9\" class=\"skip\">skipped: this scenario's workflow leaves the phase "
                   "out</td></tr>\n", out);
            continue;
        }
        s_tdn (out, (double) ph->entered, 0);
        s_tdn (out, (double) ph->done, 0);
        s_tdn (out, (double) ph->open, 0);
        s_tdn (out, (double) ph->funnel.stalled, 0);
        if (!ph->done) {
            fputs ("<td colspan=\"5\" class=\"skip\">none finished</td></tr>\n", out);
            continue;
        }
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
    fputs ("<td></td><td></td>", out);
    s_tdn (out, r->end_to_end.p50, 2);
    s_tdn (out, r->end_to_end.p90, 2);
    s_tdn (out, r->end_to_end.p99, 2);
    s_tdn (out, r->end_to_end.max, 2);
    s_tdn (out, r->end_to_end.mean, 2);
    fputs ("</tr>\n</table>\n", out);

    static const char *const ocols[] = { "outcome", "subjects", "% of cases" };
    s_table_head (out, "Outcomes", false, ocols, 3);
    static const char *const onames[] = { "plan issued (disposed)", "stalled", "open" };
    for (int o = 0; o < 3; o++) {
        fputs ("<tr>", out);
        s_td (out, onames[o]);
        s_tdn (out, (double) r->outcomes[o], 0);
        s_tdn (out, s_pct (r->outcomes[o], r->ncases), 1);
        fputs ("</tr>\n", out);
    }
    fputs ("</table>\n", out);

    static const char *const rcols[] = { "reason", "refused records", "subjects" };
    if (s_table_head (out, "Refusals by reason", r->nrefusal_reasons == 0, rcols, 3)) {
        for (size_t i = 0; i < r->nrefusal_reasons; i++) {
            fputs ("<tr>", out);
            s_td (out, r->refusal_reasons[i].key);
            s_tdn (out, (double) r->refusal_reasons[i].count, 0);
            s_tdn (out, (double) r->refusal_reasons[i].cases, 0);
            fputs ("</tr>\n", out);
        }
        fputs ("</table>\n", out);
    }

    static const char *const acols[] = { "agency", "kind", "region", "records sent", "refused", "received" };
    s_table_head (out, "Records by agency", r->nagencies == 0, acols, 6);
    for (size_t i = 0; i < r->nagencies; i++) {
        const macx_report_agency_t *a = &r->agencies[i];
        fputs ("<tr>", out);
        s_tdid (out, a->id);
        s_td (out, macx_report_words (word, sizeof word, a->kind, false));
        s_td (out, a->region);
        s_tdn (out, (double) a->sent, 0);
        s_tdn (out, (double) a->refused, 0);
        s_tdn (out, (double) a->received, 0);
        fputs ("</tr>\n", out);
    }
    if (r->nagencies)
        fputs ("</table>\n", out);

    bool work = false;
    for (size_t i = 0; i < r->nagencies; i++)
        work = work || r->agencies[i].units;
    static const char *const wcols[] = { "agency", "phase", "units of work", "of them waited",
                                         "days waiting per unit (mean)", "longest wait, days",
                                         "days worked per unit (mean)" };
    if (s_table_head (out, "Work by agency and phase (simulated days)", !work, wcols, 7)) {
        for (size_t i = 0; i < r->nagencies; i++) {
            const macx_report_agency_t *a = &r->agencies[i];
            for (int p = 1; p <= MACX_REPORT_PHASES; p++) {
                const macx_report_work_t *w = &a->phases[p];
                if (!w->units)
                    continue;
                fputs ("<tr>", out);
                s_tdid (out, a->id);
                s_td (out, macx_phase_name (p));
                s_tdn (out, (double) w->units, 0);
                s_tdn (out, (double) w->queued, 0);
                s_tdd (out, w->queue_days / (double) w->units);
                s_tdd (out, w->max_queue_days);
                s_tdd (out, w->work_days / (double) w->units);
                fputs ("</tr>\n", out);
            }
        }
        fputs ("</table>\n", out);
    }

    static const char *const scols[] = { "subject", "case", "region", "waiting in", "given up by", "reason",
                                         "agreement", "why" };
    snprintf (buf, sizeof buf, "Stalled subjects (%" PRIu64 ")", r->outcomes[MACX_OUTCOME_STALLED]);
    if (s_table_head (out, r->outcomes[MACX_OUTCOME_STALLED] ? buf : "Stalled subjects",
                      r->outcomes[MACX_OUTCOME_STALLED] == 0, scols, 8)) {
        size_t shown = 0;
        for (size_t i = 0; i < r->ncases && shown < 500; i++) {
            const macx_report_case_t *c = &r->cases[i];
            if (c->outcome != MACX_OUTCOME_STALLED)
                continue;
            shown++;
            fputs ("<tr>", out);
            s_tdid (out, c->subject);
            s_tdid (out, c->case_id);
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
    free (rows);
}
