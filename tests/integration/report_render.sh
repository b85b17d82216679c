#!/usr/bin/env bash
# report_render.sh -- report.html as a reader sees it, in a real browser
# (Debian's chromium, headless), for the baseline, late-isa (refusals) and
# abbreviated (a skipped phase) scenarios at 40 subjects:
#   - every <text> of every chart lies inside its <svg>'s box (0.5 px of
#     slack) and clear of the chart's other texts, no HTML element leaves
#     the page's column or overflows its own box, and the page does not
#     scroll sideways: a copy of the page with a script that measures it on
#     load (getBoundingClientRect) writes its findings into the DOM, which
#     `chromium --dump-dom` hands back; a screenshot of each page is left in
#     the scratch directory (RUN.png);
#   - the checker is not vacuous: copies with a chart's title moved past
#     its right edge, and with a table cell too wide for the page, are each
#     caught;
#   - what the page says: p99 drawn for every phase that has figures, a
#     skipped phase shown as skipped (not "no cases completed"), empty
#     sections one line saying "none" and no table without rows, disposals
#     in words rather than identifiers, agency figures per unit of work,
#     tooltips rounded, and one wall time: the stdout summary's is the
#     report's and stdout prints no other.
# Chromium's virtual time budget makes the load deterministic: nothing
# here depends on how fast the machine is.
# Usage: report_render.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

if ! command -v chromium > /dev/null 2>&1; then
    fail "chromium is not installed: this test renders report.html in Debian's headless chromium;" \
         "install it (apt-get install chromium; make test does it for you)"
    finish
fi

RUNS="baseline late-isa abbreviated"
for r in $RUNS; do
    run 0 $r "$MACX" pilot run "$SRC/scenarios/$r/pilot.yaml" --out $r --subjects 40 --quiet
done

# The measuring script: findings into <pre id=overflow>, after a first line
# with the counts and the page's height.
cat > check.js <<'JS'
addEventListener('load', function () {
    var bad = [], ntext = 0, nsvg = 0, slack = 0.5;
    function box (r) {
        return '[' + [r.left, r.top, r.right, r.bottom].map(function (v) { return v.toFixed(1); }).join(' ') + ']';
    }
    function name (el) {
        var s = el.closest('section');
        return (s && s.id ? '#' + s.id + ' ' : '') + (el.getAttribute('aria-label') || el.tagName);
    }
    document.querySelectorAll('svg').forEach(function (svg) {
        var b = svg.getBoundingClientRect(), seen = [];
        nsvg++;
        svg.querySelectorAll('text').forEach(function (t) {
            var r = t.getBoundingClientRect(), what = '"' + t.textContent + '"';
            ntext++;
            if (t.textContent.trim() && !(r.width > 0))
                bad.push('text not drawn: ' + name(svg) + ': ' + what);
            if (r.left < b.left - slack || r.right > b.right + slack || r.top < b.top - slack
                || r.bottom > b.bottom + slack)
                bad.push('text leaves its chart: ' + name(svg) + ': ' + what + ' ' + box(r) + ' outside ' + box(b));
            seen.forEach(function (o) {
                var w = Math.min(r.right, o.r.right) - Math.max(r.left, o.r.left);
                var h = Math.min(r.bottom, o.r.bottom) - Math.max(r.top, o.r.top);
                if (w > 1 && h > 1)
                    bad.push('texts overlap: ' + name(svg) + ': ' + what + ' ' + box(r) + ' and "'
                             + o.t.textContent + '" ' + box(o.r));
            });
            seen.push({ t: t, r: r });
        });
    });
    var body = document.body, bs = getComputedStyle(body), br = body.getBoundingClientRect();
    var left = br.left + parseFloat(bs.paddingLeft), right = br.right - parseFloat(bs.paddingRight);
    // each offender once: the outermost element, not everything inside it
    var said = [];
    body.querySelectorAll('*').forEach(function (el) {
        var tag = el.tagName.toLowerCase();
        if (tag === 'script' || (el.closest('svg') && tag !== 'svg')
            || said.some(function (o) { return o.contains(el); }))
            return;
        var r = el.getBoundingClientRect(), what = '<' + tag + '> "' + (el.textContent || '').trim().slice(0, 60) + '"';
        if (r.width > 0 && (r.left < left - slack || r.right > right + slack)) {
            bad.push('leaves the page column: ' + what + ' ' + box(r) + ', column ' + left.toFixed(1) + '..'
                     + right.toFixed(1));
            said.push(el);
        }
        else if (el.clientWidth > 0 && tag !== 'svg' && el.scrollWidth > el.clientWidth + 1) {
            bad.push('overflows its box: ' + what + ' (' + el.scrollWidth + ' px of content in '
                     + el.clientWidth + ')');
            said.push(el);
        }
    });
    if (document.documentElement.scrollWidth > innerWidth)
        bad.push('the page scrolls sideways: ' + document.documentElement.scrollWidth + ' px in ' + innerWidth);
    var pre = document.createElement('pre');
    pre.id = 'overflow';
    pre.textContent = 'checked ' + ntext + ' texts in ' + nsvg + ' charts; height '
        + Math.ceil(document.documentElement.scrollHeight) + '\n' + bad.join('\n');
    body.appendChild(pre);
});
JS

# Chromium's profile and caches stay in the scratch directory.
WIDTH=1024
# Headless chromium now and then hangs on a loaded machine (it is killed
# after 60 s): up to three tries, each one's output kept only if it ended.
chrome () {
    local try
    for try in 1 2 3; do
        if HOME=$S timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
            --no-first-run --user-data-dir="$S/chromium-profile" --hide-scrollbars "$@" \
            > chrome.out 2>> chromium.err; then
            cat chrome.out
            return 0
        fi
        echo "report_render: chromium try $try did not finish" >> chromium.err
    done
    return 1
}

# measure NAME HTML: renders a measuring copy of HTML; NAME.findings gets
# the script's findings (first line: counts and height). 1 if the page did
# not render or the script did not run.
measure () {
    local name=$1 html=$2
    python3 - "$html" check.js "$name.check.html" <<'PY' || return 1
import sys
page, js = open(sys.argv[1]).read(), open(sys.argv[2]).read()
if page.count("</body>") != 1:
    sys.exit("no single </body> in %s" % sys.argv[1])
open(sys.argv[3], "w").write(page.replace("</body>", "<script>\n%s</script>\n</body>" % js))
PY
    chrome --virtual-time-budget=5000 --window-size=$WIDTH,900 --dump-dom "file://$S/$name.check.html" \
        > "$name.dom" || return 1
    python3 - "$name.dom" > "$name.findings" <<'PY'
import html, re, sys
m = re.findall(r'<pre id="overflow">(.*?)</pre>', open(sys.argv[1]).read(), re.S)
if not m:
    sys.exit(1)
print(html.unescape(m[-1]).rstrip("\n"))
PY
}

for r in $RUNS; do
    [ -f $r/report.html ] || { fail "$r: no report.html"; continue; }
    if ! measure $r $r/report.html; then
        fail "$r: chromium did not render the page or run its measuring script (chromium.err):"
        tail -5 chromium.err | sed 's/^/  | /' >&2
        continue
    fi
    head -1 $r.findings | grep -E '^checked [1-9][0-9]+ texts in ([4-9]|1[0-9]) charts; height [0-9]+$' > /dev/null \
        || fail "$r: the measuring script saw too little: $(head -1 $r.findings)"
    if [ "$(wc -l < $r.findings)" -gt 1 ]; then
        fail "$r/report.html in chromium at $WIDTH px:"
        tail -n +2 $r.findings | head -30 | sed 's/^/  | /' >&2
    fi
    height=$(head -1 $r.findings | sed 's/.*height //')
    [ "$height" -le 20000 ] 2> /dev/null || height=20000
    chrome --window-size=$WIDTH,$height --screenshot="$S/$r.png" "file://$S/$r/report.html" > /dev/null
    [ -s $r.png ] || fail "$r: no screenshot"
done

# The checker catches a label leaving its chart and a table too wide.
if [ -f baseline/report.html ]; then
    python3 - baseline/report.html <<'PY'
import re, sys
page = open(sys.argv[1]).read()
title = re.compile(r'<text x="4" y="20" class="title">')
if not title.search(page):
    sys.exit("no chart title to move")
open("broken-label.html", "w").write(title.sub('<text x="820" y="20" class="title">', page, 1))
wide = page.replace("<td>end to end</td>", "<td>end to end " + "x" * 300 + "</td>", 1)
if wide == page:
    sys.exit("no end-to-end row to widen")
open("broken-table.html", "w").write(wide)
PY
    for b in 'label:^text leaves its chart: #latency Phase latency' \
             'table:^(leaves the page column|overflows its box): <(section|table)> "Data'; do
        name=broken-${b%%:*}
        if ! measure $name $name.html; then
            fail "$name: chromium did not render it"
        elif ! grep -Eq -- "${b#*:}" $name.findings; then
            fail "$name: the checker missed it (want '${b#*:}'): $(cat $name.findings)"
        fi
    done
fi

# What the pages say.
python3 - $RUNS <<'PY' || fail "report contents (above)"
import html, json, re, sys
bad = []
for run in sys.argv[1:]:
    page = open("%s/report.html" % run).read()
    rep = json.load(open("%s/report.json" % run))
    out = open("%s.out" % run).read()
    latency = page.split('id="latency"', 1)[1].split("</section>", 1)[0]
    funnel = page.split('id="funnel"', 1)[1].split("</section>", 1)[0]
    texts = [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", page)]
    figured = [p for p in rep["phases"] if p["days"]["n"]]
    # the legend's diamond, then one per phase with figures
    if latency.count('class="p99"') != 1 + len(figured):
        bad.append("%s: %d p99 marks, want %d" % (run, latency.count('class="p99"'), 1 + len(figured)))
    for p in rep["phases"]:
        if p["skipped"] and not re.search(r'class="label dim"[^>]*>%s<' % p["phase"], latency):
            bad.append("%s: skipped %s is not shown as skipped in the latency chart" % (run, p["phase"]))
        if p["skipped"] and "skipped" not in funnel:
            bad.append("%s: the funnel does not say %s was skipped" % (run, p["phase"]))
        if not p["skipped"] and p["entered"] and funnel.count("%s: " % p["phase"]) < 1:
            bad.append("%s: no funnel tooltips for %s" % (run, p["phase"]))
    for gone in ("no cases completed", "d per case", "no data in this run"):
        if gone in page:
            bad.append("%s: the page still says %r" % (run, gone))
    for t in texts:
        if re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", t.strip()):
            bad.append("%s: a chart label is an identifier: %r" % (run, t))
    for d in rep["disposals"]:
        if ">%s<" % d["kind"] in page:
            bad.append("%s: disposal %s printed as its identifier" % (run, d["kind"]))
    for t in re.findall(r"<title>([^<]*)</title>", page):
        if re.search(r"\d\.\d{3,}", t):
            bad.append("%s: a tooltip with unrounded figures: %r" % (run, html.unescape(t)))
    agencies = page.split('id="agencies"', 1)[1].split("</section>", 1)[0]
    if "days per unit" not in agencies or "per unit of work" not in agencies:
        bad.append("%s: the agency chart's figures are not per unit of work" % run)
    for t in re.findall(r"<table>(.*?)</table>", page, re.S):
        if t.count("<tr") < 2:
            bad.append("%s: a table with no rows: %s" % (run, t[:120]))
    # the delivery figure: per kind, its issued split as report.json has it,
    # and its waiting p50/p90 drawn or said to be none
    delivery = page.split('id="delivery"', 1)[1].split("</section>", 1)[0] if 'id="delivery"' in page else ""
    if not delivery:
        bad.append("%s: no delivery figure" % run)
    for d in rep["delivery"]["by_kind"]:
        for n, what in ((d["delivered"], "taken up and delivered"), (d["declined"], "declined or not taken up")):
            tip = ": %d of %d %s" % (n, d["issued"], what)
            if n and tip not in html.unescape(delivery):
                bad.append("%s: delivery of %s: no tooltip %r" % (run, d["kind"], tip))
        if d["waiting_p90_days"] > 0:
            want = "p50 %s, p90 %.1f days" % ("0" if d["waiting_p50_days"] == 0 else "%.1f" % d["waiting_p50_days"],
                                             d["waiting_p90_days"])
            if want not in delivery:
                bad.append("%s: waiting of %s: no %r" % (run, d["kind"], want))
    if rep["delivery"]["by_kind"] and not any(d["waiting_p90_days"] > 0 for d in rep["delivery"]["by_kind"]) \
            and "<b>Days from the plan to a place, by kind (waiting list):</b>" not in delivery:
        bad.append("%s: no kind waited, and the waiting chart does not say so in one line" % run)
    # the watch figure: its bars are report.json's, or it says there is none
    watch = page.split('id="watch"', 1)[1].split("</section>", 1)[0] if 'id="watch"' in page else ""
    w = rep["watch"]
    if not watch:
        bad.append("%s: no watch figure" % run)
    elif w["alerts"] or w["tripwires"]:
        for n, what in ((w["triaged"], "alerts the joint MI5/CTP triage decided on"),
                        (w["reopened"], "subjects MI5 reopened"),
                        (w["false_alerts"], "events whose customer's pseudonym was on the provider's "
                                            "watch-list, benign: false alerts")):
            if n and "%d %s" % (n, what) not in html.unescape(watch):
                bad.append("%s: watch: no tooltip %r" % (run, "%d %s" % (n, what)))
        l = w["latency_days"]
        def d(v):
            return "0" if v == 0 else "%.1f" % v
        if l["n"] and "p50 %s, p90 %s, p99 %s days" % (d(l["p50"]), d(l["p90"]), d(l["p99"])) not in watch:
            bad.append("%s: watch latency not drawn as report.json has it (%s)" % (run, l))
    elif "<b>From the providers' tripwires to the subjects reopened:</b> none" not in html.unescape(watch):
        bad.append("%s: no watch, and the watch chart does not say so in one line" % run)
    if rep["refusals"]["total"] == 0:
        for want in ("<b>Records the broker refused, by agreement:</b> none", "<h3>Refusals by reason: none</h3>"):
            if want not in page:
                bad.append("%s: no refusals, and the page lacks %r" % (run, want))
    if rep["stalled"]["cases"] == 0 and "<h3>Stalled subjects: none</h3>" not in page:
        bad.append("%s: no stalled subjects, and the page does not say 'Stalled subjects: none'" % run)
    # one wall time: the summary's is the report's, and stdout has no other
    m = re.search(r"performance \(wall clock\): ([0-9.]+) s", out)
    w = re.search(r"<td>wall time</td><td>([0-9.]+) s,", page)
    if not m or not w or m.group(1) != w.group(1):
        bad.append("%s: wall time on stdout %s, in the report %s" % (run, m and m.group(1), w and w.group(1)))
    if len(re.findall(r"[0-9.]+ s\b", out)) != 1:
        bad.append("%s: stdout prints %d wall times: %s" % (run, len(re.findall(r"[0-9.]+ s\b", out)),
                                                            re.findall(r".*[0-9.]+ s\b.*", out)))
    if run == "abbreviated" and not any(p["skipped"] for p in rep["phases"]):
        bad.append("abbreviated: no phase is skipped (the test wants a scenario that skips one)")
    if run == "abbreviated" and not re.search(r"^enrichment +- +skipped", out, re.M):
        bad.append("abbreviated: the stdout summary does not show enrichment as skipped")
    if run == "late-isa" and rep["refusals"]["total"] == 0:
        bad.append("late-isa: no refusals at 40 subjects (the test wants a refusals chart)")
for b in bad[:30]:
    print(b)
sys.exit(1 if bad else 0)
PY

finish
