#!/usr/bin/env bash
# pilot_fixed_latency.sh -- a one-subject pilot with fixed service times, a
# fixed 6-hour transit T on every route and no queues
# (tests/data/pilot/fixed.yaml, a West Midlands subject, regional MAC): each
# phase latency in report.json (and phases.csv) equals, exactly (to 1 ms),
# the one the workflow gives from the configured times (the scenario file
# derives them):
#   identification = mi5 identification (4; ctp's own is longer, 5)
#   sharing        = T + the partners' sharing (6)
#   enrichment     = T + ctp enrichment (3)
#   profiling      = T + mi5 profiling (2) + T + ctp profiling (1.5)
#   panel          = T + partners' panel (3) + T + ctp panel (6) + T
# Also: the run exits 0, the one subject is disposed, every phase is done.
# Then tests/data/pilot/fixed_early.yaml: the partners answer MI5's share
# before CTP's own checks are done (MI5 1 day, CTP 8, Birmingham 2, DWP 4):
# CTP integrates only once it has shared, with both answers, so enrichment
# takes 8 days, and CTP's profile comes after CTP's shares.
# Usage: pilot_fixed_latency.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

cat > check.py <<'PY'
import csv, json, sys
want = dict(zip(["identification", "sharing", "enrichment", "profiling", "panel"],
                map(float, sys.argv[3].split(","))))
r = json.load(open(sys.argv[1]))
bad = 0
def check(what, got, w, phase):
    global bad
    ok = abs(got - w) <= 1.0 / 86400000   # simulated time: exact to the millisecond
    print("%-14s %-8s got %.4f want %.4f %s" % (phase, what, got, w, "ok" if ok else "FAIL"), file=sys.stderr)
    bad += not ok
for p in r["phases"]:
    ph = p["phase"]
    if p["entered"] != 1 or p["done"] != 1 or p["open"] != 0:
        print("phase %s: entered %d done %d open %d, want 1 1 0" % (ph, p["entered"], p["done"], p["open"]), file=sys.stderr)
        bad += 1
        continue
    for q in ("p50", "max", "min", "mean"):
        check("json." + q, p["days"][q], want[ph], ph)
rows = list(csv.DictReader(open(sys.argv[2])))
if [x["phase"] for x in rows] != list(want):
    print("phases.csv phases: %s" % [x["phase"] for x in rows], file=sys.stderr)
    bad += 1
for x in rows:
    if x["phase"] in want:
        check("csv", float(x["days"]), want[x["phase"]], x["phase"])
        if x["region"] != "west-midlands" or x["mac"] != "rmac-wm" or x["status"] != "done":
            print("phases.csv row %s" % x, file=sys.stderr)
            bad += 1
e2e = r["end_to_end_days"]
check("e2e", e2e["p50"], sum(want.values()), "end to end")
if r["outcomes"] != {"disposed": 1, "stalled": 0, "open": 0}:
    print("outcomes %s" % r["outcomes"], file=sys.stderr)
    bad += 1
if r["refusals"]["total"] != 0:
    print("refusals %s" % r["refusals"], file=sys.stderr)
    bad += 1
# no queues: every unit of work started when it was ready
for a in r["agencies"]:
    if a["queue_days"] != 0:
        print("agency %s queued %.3f days" % (a["id"], a["queue_days"]), file=sys.stderr)
        bad += 1
sys.exit(1 if bad else 0)
PY

# scenario run-dir expected-days (identification,sharing,enrichment,profiling,panel)
latencies () {
    run 0 "$2" "$MACX" pilot run "$SRC/tests/data/pilot/$1" --out "$2" --quiet
    has "$2" out "report: "
    if [ -f "$2/report.json" ]; then
        python3 check.py "$2/report.json" "$2/phases.csv" "$3" > "$2.check" 2>&1 \
            || { fail "$1: phase latencies differ from the configured ones:"; sed 's/^/  | /' "$2.check" >&2; }
    else
        fail "no $2/report.json"
    fi
}
latencies fixed.yaml run 4,6.25,3.25,4,9.75
latencies fixed_early.yaml early 1,2.25,8,4,9.75

# early: CTP's profile only after CTP has shared, built on both answers
if [ -d early/broker/data ]; then
    "$MACX" audit show early/broker/data --json > early.audit
    python3 - early.audit early/agents/ctp/outcomes.jsonl > early.order 2>&1 <<'PY' \
        || { fail "early: CTP integrated before sharing:"; sed 's/^/  | /' early.order >&2; }
import json, sys
acc = [e for e in map(json.loads, open(sys.argv[1])) if e["event"] == "accept" and e["sender"] == "ctp"]
share = min(e["sim_ms"] for e in acc if e["record_type"] == "share")
profile = min(e["sim_ms"] for e in acc if e["record_type"] == "profile")
level = [o for o in map(json.loads, open(sys.argv[2])) if o["event"] == "level"]
ok = profile > share and len(level) == 1 and level[0]["answers"] == 2
print("ctp share %d, profile %d, level %s" % (share, profile, level))
sys.exit(0 if ok else 1)
PY
fi

finish run/broker/broker.log run/agents/ctp/agent.log early/agents/ctp/agent.log
