#!/usr/bin/env bash
# pilot_overrides.sh -- `macx pilot run --set PATH=VALUE` and `--policy DIR`
# change one field of the scenario (or its policy) without copying the file,
# for every process of the run, validated as the file is:
#   - --set seed=7 gives the same phases.csv as --seed 7 (the agencies read
#     the overridden scenario, not the file);
#   - health's sharing capacity cut to 1 (an id picks a list's item) slows
#     enrichment; the run directory's scenario.yaml holds the value and
#     run.json lists the override;
#   - common random numbers: the same subject sees the same draws in every
#     variant, so with only health's capacity or agreement changed, every
#     subject's identification and profiling take exactly as long as in the
#     base run (they involve only MI5 and CTP);
#   - the health agreement missing (a key added on the way) stops health's
#     records; a policy directory where it comes into force only next year
#     (--policy) refuses them;
#   - each bad --set gives exit 65 and one line naming the option, a
#     malformed one 64, a missing --policy 66; nothing is started.
# Usage: pilot_overrides.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

BASE=$SRC/scenarios/baseline
pilot () {   # pilot NAME ARGS...: a 40-subject baseline run into NAME
    local name=$1
    shift
    run 0 "$name" "$MACX" pilot run "$BASE" --subjects 40 --out "$name" --quiet "$@"
}
# report RUN EXPR: a python expression over RUN's report.json (r) holds.
report () {
    python3 -c 'import json, sys
r = json.load(open(sys.argv[1] + "/report.json"))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2" || fail "$1: not $2"
}

pilot base
pilot seed7 --seed 7
pilot set-seed7 --set seed=7
cmp -s seed7/phases.csv set-seed7/phases.csv || fail "--set seed=7 differs from --seed 7"
cmp -s base/phases.csv seed7/phases.csv && fail "seed 7 gives the base run's phases.csv"

pilot slow --set agencies.ogd-health.capacity.sharing=1
grep -q 'capacity:' slow/scenario.yaml || fail "slow/scenario.yaml has no capacity"
python3 - slow/scenario.yaml <<'PY' || fail "slow/scenario.yaml does not hold health's sharing capacity 1"
import sys, re
t = open(sys.argv[1]).read()
i = t.index("id: ogd-health")
assert re.search(r"sharing: 1\b", t[i:i + 600]), t[i:i + 600]
PY
grep -qF '"overrides":["--set agencies.ogd-health.capacity.sharing=1"]' slow/run.json \
    || fail "slow/run.json does not list the override: $(head -c 400 slow/run.json)"
grep -qF '"scenario":"'"$BASE"'/pilot.yaml"' slow/run.json || fail "run.json names another scenario"
enrich () { python3 -c 'import json, sys
r = json.load(open(sys.argv[1] + "/report.json"))
print([p for p in r["phases"] if p["phase"] == "enrichment"][0]["days"]["p90"])' "$1"; }
python3 -c "import sys; sys.exit(0 if $(enrich slow) > $(enrich base) + 1 else 1)" \
    || fail "health at capacity 1: enrichment p90 $(enrich slow), base $(enrich base)"

pilot nohealth --set agreements.ISA-OGD-HEALTH.missing=true
cp -r "$BASE/policy" policy-nohealth   # health's agreement comes into force only in 2027
sed -i 's/^effective_from: 2026-01-01/effective_from: 2027-01-01/' \
    policy-nohealth/agreements/isa-ogd-health.yaml
grep -q '^effective_from: 2027-01-01' policy-nohealth/agreements/isa-ogd-health.yaml \
    || fail "could not edit the copied policy"
pilot policy --policy policy-nohealth
report base 'r["refusals"]["total"] == 0'
report policy 'r["refusals"]["total"] > 0'
grep -q "policy-nohealth" policy/scenario.yaml || fail "policy/scenario.yaml does not name the policy"
sent () { python3 -c 'import json, sys
r = json.load(open(sys.argv[1] + "/report.json"))
print([a for a in r["agencies"] if a["id"] == "ogd-health"][0]["sent"])' "$1"; }
[ "$(sent base)" -gt 0 ] || fail "health sent nothing in the base run"
[ "$(sent nohealth)" = 0 ] || fail "health sent $(sent nohealth) records without its agreement"

# Common random numbers: what only MI5 and CTP do is the same per subject.
for v in slow nohealth; do
    python3 - base/phases.csv "$v/phases.csv" <<'PY' || fail "$v: identification or profiling differs from base"
import csv, sys
def load(p):
    return {(r["subject"], r["phase"]): r["days"] for r in csv.DictReader(open(p))}
a, b = load(sys.argv[1]), load(sys.argv[2])
for ph in ("identification", "profiling"):
    ks = [k for k in a if k[1] == ph]
    assert len(ks) == 40, (ph, len(ks))
    diff = [k for k in ks if a[k] != b.get(k)]
    assert not diff, (ph, diff[:3])
PY
done

# bad NAME RC TEXT ARGS...: refused with RC, TEXT on stderr, no run directory.
bad () {
    local name=$1 rc=$2 text=$3
    shift 3
    run "$rc" "$name" "$MACX" pilot run "$BASE" --out "$name" --quiet "$@"
    has "$name" err "$text"
    [ "$(wc -l < "$name.err")" = 1 ] || fail "$name: more than one line on stderr"
    [ -e "$name" ] && fail "$name: a run directory was made"
    return 0
}
bad range 65 "--set agencies.ogd-health.capacity.sharing=-3: a capacity must be a number from 0 to 100000" \
    --set agencies.ogd-health.capacity.sharing=-3
bad noitem 65 "--set agencies.nope.capacity.sharing=1: 'agencies' has no item 'nope'" \
    --set agencies.nope.capacity.sharing=1
bad scalar 65 "--set seed.x=1: 'seed' is a value" --set seed.x=1
bad typo 65 "with --set agencies.ogd-health.capacty.sharing=1: unknown key 'capacty' in an agency" \
    --set agencies.ogd-health.capacty.sharing=1
bad notnum 65 "--set subjects=abc: 'subjects' must be a number" --set subjects=abc
bad agreement 65 "agreement 'NO-SUCH' is not in the policy" --set agreements.NO-SUCH.missing=true
bad form 64 "--set 'noeq' must be PATH=VALUE" --set noeq
bad nopolicy 66 "--policy $S/nowhere: not a directory" --policy "$S/nowhere"

finish base/broker/broker.log
