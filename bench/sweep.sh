#!/usr/bin/env bash
# sweep.sh -- `make bench-sweep`: the wall time of a 20-seed x 3-variant x
# 500-subject sweep (scenarios/sweeps/health.yaml) with the local executor,
# JOBS runs at a time, and the runs per minute it makes. Prints; asserts
# nothing about speed. OUT (default out/bench-sweep) is replaced.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=${OUT:-out/bench-sweep}
JOBS=${JOBS:-$(nproc)}
SWEEP=${SWEEP:-scenarios/sweeps/health.yaml}
rm -rf "$OUT"
t0=$(date +%s.%N)
"$BUILD/cli/macx" pilot sweep "$SWEEP" --out "$OUT" --jobs "$JOBS"
t1=$(date +%s.%N)
python3 - "$OUT/sweep.json" "$t0" "$t1" "$JOBS" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
runs = len(s["variants"]) * len(s["seeds"])
print("bench-sweep: %s: %d variants x %d seeds x %d subjects = %d runs, %s at a time"
      % (s["name"], len(s["variants"]), len(s["seeds"]), s["subjects"], runs, sys.argv[4]))
print("bench-sweep: wall %.1f s, %.1f runs per minute, %.2f s per run"
      % (wall, runs * 60.0 / wall, wall / runs))
m = {x["key"]: x for x in s["metrics"]}
for k in ("end_to_end.p50", "end_to_end.p90", "phase.enrichment.p90", "share.level23", "agency.ogd-health.sent"):
    for e in m[k]["effects"]:
        print("  %-24s %-14s %+8.2f [%+.2f, %+.2f] %s" % (k, e["variant"], e["mean"], e["lo"], e["hi"],
                                                        "change" if e["change"] else "no change"))
PY
