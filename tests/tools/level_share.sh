#!/usr/bin/env bash
# level_share.sh -- the Level 2/3 share as an outcome: runs SCENARIO (the
# baseline by default) at seeds 1..SEEDS, two at a time, and prints per seed
# and then as a mean with its standard deviation, min and max: the share of
# assessed subjects at Level 2 or 3 (the 2019 pilots: 10-20 %), at Level 3,
# the share of cases with any intervention, and what matching cost (near
# matches, confirmed, and the subject's own records lost, of them to
# minimisation). Exits 1 when the mean Level 2/3 share is outside 10-20 %.
# Takes about SEEDS x 4 s / 2 at 500 subjects: not in CI (make level-share;
# tests/integration/pilot_level_share.sh checks a few seeds).
# Usage: level_share.sh MACX [SCENARIO] [SEEDS] [OUT_DIR]
set -u
MACX=${1:?usage: level_share.sh MACX [SCENARIO] [SEEDS] [OUT_DIR]}
SCN=${2:-scenarios/baseline}
SEEDS=${3:-20}
OUT=${4:-out/level-share}
mkdir -p "$OUT"
pids=()
for seed in $(seq 1 "$SEEDS"); do
    "$MACX" pilot run "$SCN" --seed "$seed" --out "$OUT/seed-$seed" --quiet > "$OUT/seed-$seed.out" 2>&1 &
    pids+=($!)
    if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}" || { echo "level_share: seed run failed: see $OUT" >&2; exit 70; }; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p" || { echo "level_share: a seed run failed: see $OUT" >&2; exit 70; }; done
python3 - "$OUT" "$SEEDS" <<'PY'
import json, statistics, sys
out, n = sys.argv[1], int(sys.argv[2])
rows = []
for seed in range(1, n + 1):
    r = json.load(open("%s/seed-%d/report.json" % (out, seed)))
    lv = {l["level"]: l["count"] for l in r["levels"]["by_level"]}
    assessed = r["levels"]["assessed"]
    m = r["matching"]["total"]
    rows.append((seed, 100.0 * (lv.get(2, 0) + lv.get(3, 0)) / assessed, 100.0 * lv.get(3, 0) / assessed,
                 r["interventions"]["percent"], m["near"], m["confirmed"], m["own_lost"], m["minimised"]))
print("seed  level2/3 %  level3 %  intervention %  near  confirmed  own lost  to minimisation")
for s in rows:
    print("%4d  %10.1f  %8.1f  %14.1f  %4d  %9d  %8d  %15d" % s)
def line(name, i):
    v = [r[i] for r in rows]
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    print("%-16s mean %5.1f %%  sd %4.1f  min %5.1f  max %5.1f" % (name, statistics.mean(v), sd, min(v), max(v)))
    return statistics.mean(v)
print("over %d seeds:" % n)
mean = line("level 2/3", 1)
line("level 3", 2)
line("intervention", 3)
ok = 10.0 <= mean <= 20.0
print("mean level 2/3 share %.1f %% is %s the pilots' 10-20 %%" % (mean, "inside" if ok else "OUTSIDE"))
sys.exit(0 if ok else 1)
PY
