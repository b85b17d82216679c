#!/usr/bin/env bash
# pilot_report.sh -- what a real pilot run leaves behind, on the baseline
# scenario (30 subjects) and the late-isa one (30 subjects, refusals):
#   - report.json validates against docs/report.schema.json (a small
#     recursive checker below: type, required, properties, items, $ref/$defs,
#     enum, const, minimum, maximum, minItems, maxItems; an unknown keyword in
#     the schema fails the test so the checker cannot silently skip it), the
#     checker rejects broken copies of it (so it is not vacuous), and every
#     member of report.json is one the schema documents;
#   - phases.csv has the documented header and one row per subject per phase
#     reached (the phases with an accepted record stamped on the simulated
#     clock in the audit log), its counts agree with report.json, done rows
#     have days = end - start, each phase starts at the least stamp
#     (clock_ms) of its accepted records and each done panel ends at the
#     latest arrival (arrive_ms) of CTP's panel records, as `macx audit show
#     --json` shows them; report.json's record counts match the audit log;
#   - report.html is self-contained and has an <svg> (or a line saying
#     "none") in each of its five numbered chart sections (two in "Levels
#     and disposals");
#   - each phase's funnel (through, worker, agreement, stalled, waiting)
#     and "skipped", and each agency's work by phase, agree with the run's
#     files: phases.csv, the audit's refusals, the agencies' work and held
#     outcomes;
#   - `macx pilot report RUN` rebuilds the same report.json (less its
#     "wall" members) and prints the wall clock on its own labelled line;
#   - `macx pilot compare A B` prints every phase with its deltas, and
#     `--json` is valid JSON.
# Usage: pilot_report.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

SCHEMA=$SRC/docs/report.schema.json
run 0 a "$MACX" pilot run "$SRC/scenarios/baseline/pilot.yaml" --out a --subjects 30 --quiet
run 0 b "$MACX" pilot run "$SRC/scenarios/late-isa/pilot.yaml" --out b --subjects 30 --quiet

cat > schema.py <<'PY'
"""validate JSON against the subset of JSON Schema docs/report.schema.json uses"""
import json, sys

KNOWN = {"$schema", "$id", "$defs", "$ref", "title", "description", "type", "required",
         "properties", "items", "enum", "const", "minimum", "maximum", "minItems", "maxItems"}

def is_type(v, t):
    return {"object": lambda: isinstance(v, dict),
            "array": lambda: isinstance(v, list),
            "string": lambda: isinstance(v, str),
            "integer": lambda: isinstance(v, int) and not isinstance(v, bool),
            "number": lambda: isinstance(v, (int, float)) and not isinstance(v, bool),
            "boolean": lambda: isinstance(v, bool),
            "null": lambda: v is None}[t]()

def resolve(root, ref):
    if not ref.startswith("#/"):
        raise SystemExit("unsupported $ref %s" % ref)
    node = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node

def check(root, schema, v, path, errors):
    unknown = set(schema) - KNOWN
    if unknown:
        raise SystemExit("schema keyword(s) %s at %s: teach the checker" % (sorted(unknown), path))
    if "$ref" in schema:
        check(root, resolve(root, schema["$ref"]), v, path, errors)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(is_type(v, t) for t in types):
            errors.append("%s: %r is not of type %s" % (path, v, types))
            return
    if "enum" in schema and v not in schema["enum"]:
        errors.append("%s: %r not in %s" % (path, v, schema["enum"]))
    if "const" in schema and v != schema["const"]:
        errors.append("%s: %r is not %r" % (path, v, schema["const"]))
    if is_type(v, "number"):
        if "minimum" in schema and v < schema["minimum"]:
            errors.append("%s: %r < minimum %r" % (path, v, schema["minimum"]))
        if "maximum" in schema and v > schema["maximum"]:
            errors.append("%s: %r > maximum %r" % (path, v, schema["maximum"]))
    if isinstance(v, dict):
        for k in schema.get("required", []):
            if k not in v:
                errors.append("%s: missing required %r" % (path, k))
        for k, sub in schema.get("properties", {}).items():
            if k in v:
                check(root, sub, v[k], "%s.%s" % (path, k), errors)
    if isinstance(v, list):
        if "minItems" in schema and len(v) < schema["minItems"]:
            errors.append("%s: %d items < minItems %d" % (path, len(v), schema["minItems"]))
        if "maxItems" in schema and len(v) > schema["maxItems"]:
            errors.append("%s: %d items > maxItems %d" % (path, len(v), schema["maxItems"]))
        if "items" in schema:
            for i, x in enumerate(v):
                check(root, schema["items"], x, "%s[%d]" % (path, i), errors)

def validate(schema, doc):
    errors = []
    check(schema, schema, doc, "$", errors)
    return errors

def undocumented(root, schema, v, path, out):
    """members of v the schema does not name, where it names its properties"""
    while "$ref" in schema:
        schema = resolve(root, schema["$ref"])
    if isinstance(v, dict) and "properties" in schema:
        for k, x in v.items():
            if k not in schema["properties"]:
                out.append("%s.%s" % (path, k))
            else:
                undocumented(root, schema["properties"][k], x, "%s.%s" % (path, k), out)
    if isinstance(v, list) and "items" in schema:
        for i, x in enumerate(v):
            undocumented(root, schema["items"], x, "%s[%d]" % (path, i), out)
    return out

if __name__ == "__main__":
    schema = json.load(open(sys.argv[1]))
    doc = json.load(open(sys.argv[2]))
    errors = validate(schema, doc)
    errors += ["%s: not in the schema" % p for p in undocumented(schema, schema, doc, "$", [])]
    for e in errors[:30]:
        print(e)
    if errors:
        sys.exit(1)
    # the checker must reject broken copies
    import copy
    broken = []
    d = copy.deepcopy(doc); del d["phases"]; broken.append(("no phases", d))
    d = copy.deepcopy(doc); d["cases"] = "30"; broken.append(("cases a string", d))
    d = copy.deepcopy(doc); d["phases"][0]["phase"] = "lunch"; broken.append(("phase not in enum", d))
    d = copy.deepcopy(doc); d["phases"].pop(); broken.append(("4 phases", d))
    d = copy.deepcopy(doc); d["phases"][1]["days"]["n"] = -1; broken.append(("negative n (via $ref)", d))
    d = copy.deepcopy(doc); del d["end_to_end_days"]["p90"]; broken.append(("stats without p90 ($ref)", d))
    d = copy.deepcopy(doc); d["schema"] = "v0"; broken.append(("wrong schema const", d))
    d = copy.deepcopy(doc); d["agencies"][0]["sent"] = 1.5; broken.append(("sent not an integer", d))
    d = copy.deepcopy(doc); d["outcomes"]["open"] = True; broken.append(("a boolean for an integer", d))
    d = copy.deepcopy(doc); del d["wall_performance"]; broken.append(("no wall_performance", d))
    d = copy.deepcopy(doc); d["run"]["end_date"] = 20260704; broken.append(("end_date a number", d))
    d = copy.deepcopy(doc); del d["records"]["delivered"]; broken.append(("records without delivered", d))
    for what, d in broken:
        if not validate(schema, d):
            print("checker accepted a broken report: %s" % what)
            sys.exit(1)
PY

cat > artifacts.py <<'PY'
import collections, csv, json, os, re, subprocess, sys
macx, run = sys.argv[1], sys.argv[2]
bad = []
rep = json.load(open(os.path.join(run, "report.json")))
PHASES = ["identification", "sharing", "enrichment", "profiling", "panel"]

# phases.csv
HEADER = "subject,case,region,mac,phase,start_day,end_day,days,held_by,status,ended_how,partners"
lines = open(os.path.join(run, "phases.csv")).read().splitlines()
if not lines or lines[0] != HEADER:
    bad.append("phases.csv header %r, want %r" % (lines[:1], HEADER))
rows = list(csv.DictReader(lines))
got = collections.Counter((r["subject"], r["phase"]) for r in rows)
dups = [k for k, n in got.items() if n > 1]
if dups:
    bad.append("phases.csv repeats %s" % dups[:5])
out = subprocess.run([macx, "audit", "show", os.path.join(run, "broker", "data"), "--json"],
                     capture_output=True, text=True, check=True).stdout
runj = json.load(open(os.path.join(run, "run.json")))
ctp = {a["id"] for a in runj["agencies"] if a["kind"] == "ctp"}
y, m, d = map(int, rep["run"]["start_date"].split("-"))
import datetime
start_ms = (datetime.date(y, m, d) - datetime.date(1970, 1, 1)).days * 86400000
DAY = 86400000.0
# the rules of docs/pilot.md "How time is measured", from the audit log alone:
# a phase starts at the least stamp of its accepted records, the panel ends
# at the latest arrival of CTP's panel records; a stamp of 0 gives no time
start, panel_end, events, last = {}, {}, collections.Counter(), None
waited = collections.Counter()           # (case, phase) -> 1 a worker wait | 2 an agreement's
WATCH = {"watch_list", "tripwire", "alert", "triage_decision"}   # the watch's: no MAC case's
for l in out.splitlines():
    e = json.loads(l)
    events[e["event"]] += 1
    watch = e.get("record_type") in WATCH
    if e["event"] == "refuse" and e["case_id"] and e["phase"] in PHASES and not watch:
        waited[(e["case_id"], e["phase"])] |= 2
    if e["event"] == "accept" and e["clock_ms"] > 0:
        last = max(last or 0, e["clock_ms"])
        if e["subject"] and e["phase"] in PHASES and not watch:
            k = (e["subject"], e["phase"])
            start[k] = min(start.get(k, e["clock_ms"]), e["clock_ms"])
    if e["event"] == "deliver" and e["arrive_ms"] > 0:
        last = max(last or 0, e["arrive_ms"])
        if e["phase"] == "panel" and e["sender"] in ctp and e["subject"]:
            panel_end[e["subject"]] = max(panel_end.get(e["subject"], 0), e["arrive_ms"])
reached = set(start)
if set(got) != reached:
    bad.append("phases.csv rows vs phases reached in the audit: extra %s, missing %s"
               % (sorted(set(got) - reached)[:5], sorted(reached - set(got))[:5]))
for r in rows:
    k = (r["subject"], r["phase"])
    if k in start and abs(float(r["start_day"]) - (start[k] - start_ms) / DAY) > 1e-5:
        bad.append("row %s: start_day, the audit's least stamp is day %.5f" % (r, (start[k] - start_ms) / DAY))
    if r["phase"] == "panel" and r["status"] == "done":
        want = panel_end.get(r["subject"])
        if want is None or abs(float(r["end_day"]) - (want - start_ms) / DAY) > 1e-5:
            bad.append("row %s: panel end_day, CTP's last panel arrival is %s" % (r, want))
    if r["phase"] == "panel" and r["status"] == "open" and r["subject"] in panel_end:
        bad.append("row %s: open, but CTP's panel records arrived" % r)
want = {"accepted": events["accept"], "refused": events["refuse"], "delivered": events["deliver"]}
if rep["records"] != want:
    bad.append("report.json records %s, the audit log has %s" % (rep["records"], want))
if rep["audit_entries"] != sum(events.values()):
    bad.append("report.json audit_entries %d, the audit log has %d" % (rep["audit_entries"], sum(events.values())))
if last is not None and abs(rep["run"]["simulated_days"] - (last - start_ms) / DAY) > 1e-6:
    bad.append("run.simulated_days %r, the audit's last stamp or arrival is day %r"
               % (rep["run"]["simulated_days"], (last - start_ms) / DAY))
for p in rep["phases"]:
    ph = [r for r in rows if r["phase"] == p["phase"]]
    done = sum(r["status"] == "done" for r in ph)
    opn = sum(r["status"] == "open" for r in ph)
    if (len(ph), done, opn) != (p["entered"], p["done"], p["open"]):
        bad.append("%s: csv %d rows (%d done, %d open), report.json %s" % (p["phase"], len(ph), done, opn, p))
for r in rows:
    if r["status"] == "done":
        if abs(float(r["end_day"]) - float(r["start_day"]) - float(r["days"])) > 1e-4 or float(r["days"]) < 0:
            bad.append("row %s: days != end - start" % r)
    elif r["status"] != "open" or r["end_day"] or r["days"]:
        bad.append("row %s" % r)
    if r["phase"] not in PHASES or not r["held_by"] or not r["mac"] or not r["region"]:
        bad.append("row %s" % r)
    # attribution: a done enrichment row says how the wait for answers
    # ended, every other done row that a record ended it
    how = r["ended_how"]
    if r["status"] != "done":
        ok = how == ""
    elif r["phase"] == "enrichment":
        ok = re.fullmatch(r"last_answer:[a-z0-9-]+|wait_timed_out:[a-z0-9-]+(;[a-z0-9-]+)*", how) is not None
    else:
        ok = how == "record"
    if not ok:
        bad.append("row %s: ended_how %r" % (r, how))
# attribution in report.json, against phases.csv and the agencies' outcomes
att = rep["attribution"]
aw = att["answers_wait"]
ens = [r for r in rows if r["phase"] == "enrichment" and r["status"] == "done"]
if aw["last_answer"] + aw["timed_out"] != aw["closed"] or aw["closed"] < len(ens):
    bad.append("answers_wait %s, %d enrichment rows done" % (aw, len(ens)))
if sum(x["cases"] for x in aw["last_answer_by"]) != aw["last_answer"]:
    bad.append("last_answer_by does not add up to last_answer: %s" % aw)
tw = collections.Counter(n for r in ens if r["ended_how"].startswith("wait_timed_out:")
                         for n in r["ended_how"].split(":", 1)[1].split(";"))
if {x["agency"]: x["cases"] for x in aw["timed_out_waiting_for"]} != dict(tw):
    bad.append("timed_out_waiting_for %s, phases.csv %s" % (aw["timed_out_waiting_for"], dict(tw)))
pp = att["partners_in_profile"]
if sum(pp["by_partners"]) != pp["profiled"] or pp["profiled"] == 0:
    bad.append("partners_in_profile %s" % pp)
fields = collections.defaultdict(lambda: collections.Counter())
for a in sorted(os.listdir(os.path.join(run, "agents"))):
    for l in open(os.path.join(run, "agents", a, "outcomes.jsonl")):
        o = json.loads(l)
        if o["event"] == "fields":
            fields[o["agreement"]].update({k: o[k] for k in ("records", "held", "withheld")})
agr = {g["agreement"]: g for g in att["agreements"]}
for g in att["agreements"]:
    f = g["fields"]
    if f is not None and (f["held"] != f["sent"] + f["withheld"] or f["transformed"] > f["sent"]
                          or (f["records"], f["held"], f["withheld"]) != tuple(fields[g["agreement"]][k] for k in ("records", "held", "withheld"))):
        bad.append("agreement %s fields %s, outcomes %s" % (g["agreement"], f, dict(fields[g["agreement"]])))
if sum(g["exact"] for g in att["agreements"]) > rep["matching"]["total"]["exact"] or not any(g["answers"] for g in att["agreements"]):
    bad.append("agreements' exact matches %s beyond matching's %s" % ([g["exact"] for g in att["agreements"]], rep["matching"]["total"]))
if not any(g["fields"] and g["fields"]["withheld"] > 0 for g in att["agreements"]):
    bad.append("no agreement withheld a field: %s" % att["agreements"])
# the funnel, from phases.csv, the audit's refusals and the agencies' own
# work and held outcomes: each entered case once, agreement before worker
work = collections.defaultdict(lambda: [0, 0, 0.0, 0.0])   # (agency, phase) -> units, queued, queue, work
for a in sorted(os.listdir(os.path.join(run, "agents"))):
    for l in open(os.path.join(run, "agents", a, "outcomes.jsonl")):
        o = json.loads(l)
        if o["event"] == "work":
            k = (o["agency"], o["phase"])
            work[k][0] += 1
            work[k][1] += o["start_sim_ms"] > o["queued_sim_ms"]
            work[k][2] += (o["start_sim_ms"] - o["queued_sim_ms"]) / DAY
            work[k][3] += (o["end_sim_ms"] - o["start_sim_ms"]) / DAY
            if o["start_sim_ms"] > o["queued_sim_ms"]:
                waited[(o["case"], o["phase"])] |= 1
        elif o["event"] == "held":
            waited[(o["case"], o["phase"])] |= 2
stalled = {s["case"] for s in rep["stalled"]["list"]}
for p in rep["phases"]:
    want = dict.fromkeys(["through", "worker", "agreement", "stalled", "waiting"], 0)
    for r in rows:
        if r["phase"] != p["phase"]:
            continue
        w = waited[(r["case"], r["phase"])]
        want["stalled" if r["status"] == "open" and r["case"] in stalled else "waiting" if r["status"] == "open"
             else "agreement" if w & 2 else "worker" if w & 1 else "through"] += 1
    if p["funnel"] != want:
        bad.append("%s: funnel %s, the run's files give %s" % (p["phase"], p["funnel"], want))
    later = any(q["entered"] for q in rep["phases"][PHASES.index(p["phase"]) + 1:])
    if p["skipped"] != (p["entered"] == 0 and later):
        bad.append("%s: skipped %s with %d entered" % (p["phase"], p["skipped"], p["entered"]))
for a in rep["agencies"]:
    got = {(a["id"], w["phase"]): w for w in a["phases"]}
    for (ag, ph), (n, queued, q, wk) in work.items():
        if ag != a["id"]:
            continue
        w = got.pop((ag, ph), None)
        if (not w or w["work_units"] != n or w["queued_units"] != queued
                or abs(w["mean_queue_days"] - q / n) > 1e-6 or abs(w["mean_work_days"] - wk / n) > 1e-6):
            bad.append("agency %s %s: %s, its outcomes give %d units, %d queued, means %.6f %.6f"
                       % (ag, ph, w, n, queued, q / n, wk / n))
    if got:
        bad.append("agency %s: phases with no work in its outcomes: %s" % (a["id"], sorted(got)))
    if sum(w["work_units"] for w in a["phases"]) != a["work_units"]:
        bad.append("agency %s: its phases' units do not add up to work_units" % a["id"])
if len({r["subject"] for r in rows}) != rep["run"]["subjects"]:
    bad.append("phases.csv has %d subjects, run had %d" % (len({r["subject"] for r in rows}), rep["run"]["subjects"]))

# report.html
html = open(os.path.join(run, "report.html")).read()
if html.count("<svg") != html.count("</svg>"):
    bad.append("report.html: %d <svg> but %d </svg>" % (html.count("<svg"), html.count("</svg>")))
sections = re.split(r"<h2[^>]*>", html)[1:]
charts = {}
for s in sections:
    m = re.match(r"\s*(\d)\.\s*([^<]*)", s)
    if m:
        # a chart, or its one line saying it has nothing to show
        body = s.split("</h2>", 1)[1]
        charts[int(m.group(1))] = (m.group(2).strip(), body.count("<svg") + body.count('<p class="none">'))
want = {1: 1, 2: 1, 3: 2, 4: 1, 5: 1}
for n, k in want.items():
    if n not in charts or charts[n][1] < k:
        bad.append("report.html chart %d %s: want %d <svg> or 'none' lines" % (n, charts.get(n), k))
for pat in ("<script", "<link", "src=\"http", "src='http", "@import"):
    if pat in html:
        bad.append("report.html is not self-contained: %s" % pat)
print("%d csv rows; charts %s" % (len(rows), charts))
for b in bad[:30]:
    print(b)
sys.exit(1 if bad else 0)
PY

for r in a b; do
    if [ ! -f $r/report.json ]; then fail "$r: no report.json"; continue; fi
    python3 schema.py "$SCHEMA" $r/report.json > $r.schema.out 2>&1 || { fail "$r/report.json vs the schema:"; sed 's/^/  | /' $r.schema.out >&2; }
    python3 artifacts.py "$MACX" $r > $r.artifacts.out 2>&1 || { fail "$r artifacts:"; sed 's/^/  | /' $r.artifacts.out >&2; }
done

# the report rebuilt from the run directory alone is the same
if [ -f a/report.json ]; then
    cp a/report.json a.report.json
    run 0 rebuild "$MACX" pilot report a
    has rebuild out "identification"
    has rebuild out "performance (wall clock): "
    python3 -c 'import json, sys
def nowall(v):
    if isinstance(v, dict):
        return {k: nowall(x) for k, x in v.items() if "wall" not in k}
    return [nowall(x) for x in v] if isinstance(v, list) else v
a, b = (nowall(json.load(open(p))) for p in sys.argv[1:3])
sys.exit(a != b)' a.report.json a/report.json || fail "pilot report rebuilt a different report.json"
fi

# compare: every phase with both runs' figures and the change
run 0 compare "$MACX" pilot compare a b
for p in identification sharing enrichment profiling panel; do has compare out "$p"; done
python3 - compare.out <<'PY' || fail "pilot compare prints no delta per phase: $(head -c 1500 compare.out)"
import re, sys
text = open(sys.argv[1]).read()
n = 0
for p in ["identification", "sharing", "enrichment", "profiling", "panel"]:
    line = next((l for l in text.splitlines() if l.lstrip().startswith(p)), "")
    # the phase's row shows a signed change (e.g. +1.20 or -0.50) or a % change
    n += bool(re.search(r"[+-]\d|\d%|%", line))
sys.exit(0 if n == 5 else 1)
PY
run 0 compare_json "$MACX" pilot compare a b --json
python3 -c 'import json, sys
c = json.load(open(sys.argv[1]))
ph = c["phases"]
assert [p["phase"] for p in ph] == ["identification", "sharing", "enrichment", "profiling", "panel"], ph
for p in ph:
    for q in ("p50", "p90"):
        assert abs(p[q]["b"] - p[q]["a"] - p[q]["delta"]) < 1e-6, p' compare_json.out \
    || fail "pilot compare --json: not JSON, or no phase deltas"


finish a/broker/broker.log b/broker/broker.log
