#!/usr/bin/env bash
# pilot_determinism.sh -- the same seed twice gives the same per-subject
# outcomes; a different seed gives different ones. Three runs of the
# late-isa scenario (Birmingham's agreement from day 40, so there are
# refusals and retries) with 30 subjects on a fast clock:
#   - seed 11 twice: per subject, the multiset of its decisions from every
#     agency's outcomes (closed, level with score, disposal, refused,
#     stalled: agency, level, disposals, reason, agreement, recipient, record
#     type; timestamps and free text ignored) is identical, and report.json's
#     outcomes, level, disposal, refusal and stall tallies are identical;
#   - the same for every outcome, "work" units included (which agency
#     worked which phase of which case): a KNOWN BUG when it differs (see
#     below), reported but not failed;
#   - seed 12: some subject's outcomes differ (sanity: the seed matters).
# Usage: pilot_determinism.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

SCN=$SRC/scenarios/late-isa/pilot.yaml
# A slow enough clock that a busy machine (CI runs tests two at a time)
# keeps the agencies near their simulated time: lag turns into the race
# described below.
ARGS=(--subjects 30 --clock-scale 120 --quiet)
run 0 a "$MACX" pilot run "$SCN" --out a --seed 11 "${ARGS[@]}"
run 0 b "$MACX" pilot run "$SCN" --out b --seed 11 "${ARGS[@]}"
run 0 c "$MACX" pilot run "$SCN" --out c --seed 12 "${ARGS[@]}"

cat > compare.py <<'PY'
import collections, glob, json, os, sys

def outcomes(run, work):
    """subject -> sorted list of its outcome tuples, from every agency
    (with or without the "work" units)."""
    per = collections.defaultdict(list)
    for path in sorted(glob.glob(os.path.join(run, "agents", "*", "outcomes.jsonl"))):
        for line in open(path):
            if not line.strip():
                continue
            o = json.loads(line)
            if o["event"] == "work" and not work:
                continue
            key = tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in o.items()
                               if not k.endswith("sim_ms") and k not in ("why",)))
            per[o["subject"]].append(key)
    return {s: sorted(v) for s, v in per.items()}

def tallies(run):
    r = json.load(open(os.path.join(run, "report.json")))
    ref = r["refusals"]
    return {
        "cases": r["cases"],
        "outcomes": r["outcomes"],
        "levels": r["levels"],
        "back_to_investigation": r["back_to_investigation"],
        "disposals": sorted((d["kind"], d["count"], d["cases"]) for d in r["disposals"]),
        "refusals.total": ref["total"],
        "refusals.by_reason": sorted((x["reason"], x["count"], x["cases"]) for x in ref["by_reason"]),
        "refusals.by_agreement": sorted((x["agreement"], x["count"], x["cases"]) for x in ref["by_agreement"]),
        "stalled": (r["stalled"]["cases"], r["stalled"]["events"],
                    sorted((x["case"], x["agency"], x["phase"], x["reason"], x["agreement"]) for x in r["stalled"]["list"])),
        "entered": [(p["phase"], p["entered"], p["done"], p["open"]) for p in r["phases"]],
    }

mode, x, y = sys.argv[1:4]
ox, oy = outcomes(x, mode != "same"), outcomes(y, mode != "same")
diff = sorted(s for s in set(ox) | set(oy) if ox.get(s) != oy.get(s))
if mode == "same":
    bad = 0
    if len(ox) != 30:
        print("%s: outcomes for %d subjects, want 30" % (x, len(ox))); bad += 1
    for s in diff[:5]:
        a, b = collections.Counter(ox.get(s, [])), collections.Counter(oy.get(s, []))
        print("subject %s differs:\n  only in %s: %s\n  only in %s: %s" % (s, x, list((a - b).elements()), y, list((b - a).elements())))
    bad += len(diff)
    tx, ty = tallies(x), tallies(y)
    for k in tx:
        if tx[k] != ty[k]:
            print("report.json %s differs:\n  %s: %s\n  %s: %s" % (k, x, tx[k], y, ty[k])); bad += 1
    # the run must have something to compare: levels, disposals, refusals
    if tx["refusals.total"] == 0 or not tx["disposals"] or tx["levels"]["assessed"] == 0:
        print("nothing to compare: %s" % tx); bad += 1
    sys.exit(1 if bad else 0)
elif mode == "work":
    for s in diff[:5]:
        a, b = collections.Counter(ox.get(s, [])), collections.Counter(oy.get(s, []))
        print("subject %s differs:\n  only in %s: %s\n  only in %s: %s" % (s, x, list((a - b).elements()), y, list((b - a).elements())))
    sys.exit(1 if diff else 0)
else:
    if not diff:
        print("seeds give identical outcomes for every subject")
        sys.exit(1)
    print("%d of %d subjects differ between the seeds" % (len(diff), len(ox)))
PY

if [ -f a/report.json ] && [ -f b/report.json ] && [ -f c/report.json ]; then
    python3 compare.py same a b > same.out 2>&1 || { fail "same seed, different outcomes:"; sed 's/^/  | /' same.out >&2; }
    # KNOWN BUG (not failed): the agencies act on timers at their simulated
    # time on the wall clock and on records when they arrive, so a record
    # whose simulated time is within the broker's delivery lag (~10-25 ms of
    # wall time, 0.25-0.6 day at 40 ms/day) of a timer at the recipient can
    # be taken before or after it: e.g. with seed 11, ogd-health's answer on
    # S-000023 (day 57.20) and CTP's end of profiling (day 57.24) decide
    # whether ogd-health is on the panel agenda, and so whether it works a
    # panel unit. Levels, disposals and refusals stay the same (checked
    # above); which work units exist and their timings may not.
    if ! python3 compare.py work a b > work.out 2>&1; then
        echo "KNOWN BUG: same seed, different work units (timer/record race within the delivery lag):"
        sed 's/^/  | /' work.out
    fi
    python3 compare.py different a c > different.out 2>&1 || { fail "different seeds:"; sed 's/^/  | /' different.out >&2; }
else
    fail "a run left no report.json"
fi

finish a/broker/broker.log b/broker/broker.log
