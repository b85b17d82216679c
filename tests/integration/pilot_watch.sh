#!/usr/bin/env bash
# pilot_watch.sh -- the closed-subject watch (review section 6) in the
# baseline at 200 subjects, from report.json, the agencies' outcomes and the
# broker's audit log:
#   - the closure gateway watches exactly the closed subjects of the watched
#     categories (CAT-A, CAT-B), each on every provider's list;
#   - who learns what: every watch-list record goes MI5 -> a provider and
#     names a keyed pseudonym ("W-..."), never MI5's subject pseudonym or a
#     case, and carries the field "entry" only; every tripwire goes from a
#     provider to MI5 only, about a pseudonym MI5 listed with that provider
#     before; providers saw far more events than they sent;
#   - every alert (tripwire or unsolicited intelligence) reaches the triage
#     point and is decided (none unread), some reopen a subject, some
#     tripwires are false alerts, and the latency from re-engagement to a
#     triage decision is reported (p50 <= p90 <= p99);
#   - the report's figures are the outcomes' and the audit's counts.
# Usage: pilot_watch.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

run 0 base "$MACX" pilot run "$SRC/scenarios/baseline" --out base --subjects 200 --quiet
"$MACX" audit show base/broker/data --json > base/audit.json || fail "audit show"

python3 - base <<'PY' > check.out 2>&1 || { fail "the watch:"; sed 's/^/  | /' check.out >&2; }
import collections, glob, json, os, sys
run = sys.argv[1]
bad = []
rep = json.load(open(os.path.join(run, "report.json")))
w = rep["watch"]
runj = json.load(open(os.path.join(run, "run.json")))
providers = {a["id"] for a in runj["agencies"] if a["kind"] == "provider"}
kind = {a["id"]: a["kind"] for a in runj["agencies"]}
outs = collections.defaultdict(list)
for f in glob.glob(os.path.join(run, "agents", "*", "outcomes.jsonl")):
    for o in map(json.loads, open(f)):
        outs[o["event"]].append(o)
closed = {o["subject"]: o["category"] for o in outs["closed"]}
want = {s for s, c in closed.items() if c in ("CAT-A", "CAT-B")}
got = {o["subject"] for o in outs["watched"]}
if not providers:
    bad.append("the baseline has no provider")
if got != want or not got:
    bad.append("watched %d subjects, want the %d closed CAT-A/CAT-B ones" % (len(got), len(want)))
listed = collections.defaultdict(set)   # provider -> pseudonyms MI5 listed
tripwires = 0
for e in map(json.loads, open(os.path.join(run, "audit.json"))):
    if e["event"] != "accept":
        continue
    t = e.get("record_type")
    fields = sorted(m["name"] for m in e.get("manifest", []))
    if t == "watch_list":
        to = e["recipients"]
        if e["sender"] != "mi5" or len(to) != 1 or to[0] not in providers:
            bad.append("watch_list from %s to %s" % (e["sender"], to))
        if not e["subject"].startswith("W-") or e["case_id"] != e["subject"]:
            bad.append("watch_list names subject %r case %r, want a keyed pseudonym" % (e["subject"], e["case_id"]))
        if fields != ["entry"]:
            bad.append("watch_list carries %s, want only entry" % fields)
        listed[to[0]].add(e["subject"])
    elif t == "tripwire":
        tripwires += 1
        if e["sender"] not in providers or e["recipients"] != ["mi5"]:
            bad.append("tripwire from %s to %s" % (e["sender"], e["recipients"]))
        if e["subject"] not in listed[e["sender"]]:
            bad.append("tripwire from %s on %s, which MI5 had not listed with it" % (e["sender"], e["subject"]))
        if any(f in ("subject_name", "dob") for f in fields):
            bad.append("tripwire carries %s" % fields)
    elif t in ("alert", "triage_decision"):
        # MI5 and the owning CTP unit only: the triage point
        a, b = (e["sender"], e["recipients"][0]) if t == "alert" else (e["recipients"][0], e["sender"])
        if a != "mi5" or kind.get(b) != "ctp" or len(e["recipients"]) != 1 or not e["subject"].startswith("S-"):
            bad.append("%s from %s to %s about %s" % (t, e["sender"], e["recipients"], e["subject"]))
for p in providers:
    if len(listed[p]) != len(want):
        bad.append("%s got %d watch-list entries, want %d" % (p, len(listed[p]), len(want)))
if tripwires != w["tripwires"] or not tripwires:
    bad.append("report tripwires %d, the audit accepted %d" % (w["tripwires"], tripwires))
if not w["events"] > 2 * w["tripwires"]:
    bad.append("providers saw %d events and sent %d: they must send only what matched" % (w["events"], w["tripwires"]))
alerts = outs["alert"]
if w["alerts"] != len(alerts) or w["alerts"] != w["tripwires"] + w["alerts_unsolicited"]:
    bad.append("alerts %d (outcomes %d) != tripwires %d + unsolicited %d"
               % (w["alerts"], len(alerts), w["tripwires"], w["alerts_unsolicited"]))
if not w["alerts_unsolicited"]:
    bad.append("no unsolicited intelligence at 200 subjects")
if w["triaged"] != w["alerts"] or w["unread"] != 0 or len(outs["triage"]) != w["triaged"]:
    bad.append("triaged %d of %d alerts (unread %d): every item must be read" % (w["triaged"], w["alerts"], w["unread"]))
per = collections.Counter(o["subject"] for o in alerts) - collections.Counter(o["subject"] for o in outs["triage"])
if per:
    bad.append("alerts without a triage decision: %s" % dict(list(per.items())[:5]))
if not w["false_alerts"] or not w["reopened"] or w["reopened"] > w["reopen_decisions"]:
    bad.append("false alerts %d, reopened %d of %d decisions to reopen"
               % (w["false_alerts"], w["reopened"], w["reopen_decisions"]))
if len({o["subject"] for o in outs["reopened"]}) != w["reopened"]:
    bad.append("reopened counts a subject twice")
l = w["latency_days"]
if not l["n"] or not (0 < l["p50"] <= l["p90"] <= l["p99"]):
    bad.append("latency re-engagement -> triage decision: %s" % l)
print("watch: %s" % {k: v for k, v in w.items() if k != "latency_days"})
print("latency days: p50 %.1f p90 %.1f p99 %.1f (n %d)" % (l["p50"], l["p90"], l["p99"], l["n"]))
for b in bad[:30]:
    print(b)
sys.exit(1 if bad else 0)
PY
cat check.out >&2
finish
