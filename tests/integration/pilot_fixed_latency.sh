#!/usr/bin/env bash
# pilot_fixed_latency.sh -- a one-subject pilot with fixed service times and
# no queues (tests/data/pilot/fixed.yaml, a West Midlands subject, regional
# MAC): each phase latency in report.json (and phases.csv) equals the one the
# workflow gives from the configured service times, within 5%:
#   identification = mi5 identification (4; ctp's own is longer, 5)
#   sharing        = the partners' sharing (6, both partners)
#   enrichment     = ctp enrichment (3)
#   profiling      = mi5 profiling + ctp profiling (2 + 1.5)
#   panel          = partners' panel + ctp panel (3 + 6), plus the plan's
#                    delivery receipt (wall time, a small fraction of a day)
# Also: the run exits 0, the one subject is disposed, every phase is done.
# Usage: pilot_fixed_latency.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

SCN=$SRC/tests/data/pilot/fixed.yaml
run 0 fixed "$MACX" pilot run "$SCN" --out run --quiet
has fixed out "report: "

if [ -f run/report.json ]; then
    python3 - run/report.json run/phases.csv <<'PY' || fail "phase latencies differ from the configured ones"
import csv, json, sys
want = {"identification": 4.0, "sharing": 6.0, "enrichment": 3.0, "profiling": 3.5, "panel": 9.0}
r = json.load(open(sys.argv[1]))
bad = 0
def check(what, got, w, phase):
    global bad
    # the panel ends at a delivery receipt (wall clock): it may only be late
    ok = abs(got - w) <= 0.05 * w and (phase != "panel" or got >= w - 1e-6)
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
else
    fail "no run/report.json"
fi

finish run/broker/broker.log run/agents/ctp/agent.log
