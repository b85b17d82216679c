#!/usr/bin/env bash
# pilot_sweep.sh -- `macx pilot sweep` and `pilot compare` of sweeps, small
# (30 subjects, 3 seeds):
#   - a sweep of the baseline and two variants writes sweep.json (schema,
#     every variant's runs, t intervals), sweep.csv (one row per run and
#     phase) and sweep.html; progress on stderr;
#   - --jobs 1 and --gather give the same sweep.json (the executor does not
#     change the figures); a second run keeps the finished runs, and a
#     variant edited since is run again;
#   - health's searches cut to one at a time, 10 days each, slow enrichment: its paired effect is a
#     change, and the unchanged phases (identification, profiling) have an
#     effect of exactly zero (common random numbers);
#   - two sweeps of identical inputs compare as "no change" everywhere;
#     baseline against late-isa reports a change naming Birmingham's
#     agreement; the health agreement removed is said to stop health's
#     records, between two sweeps and between two variants of one
#     (--variants); different cohorts and seeds are warned about;
#   - two runs compare with the same figures, a skipped phase as skipped,
#     and no verdict (no interval can be given);
#   - a bad sweep file (65, file:line), a bad override in a variant (65,
#     naming the variant), a missing --out (64).
# Usage: pilot_sweep.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

sweep_file () {   # sweep_file FILE NAME SCENARIO SEEDS SUBJECTS [VARIANTS...]: writes a sweep
    local f=$1 name=$2 scn=$3 seeds=$4 n=$5
    shift 5
    { echo "name: $name"; echo "scenario: $SRC/scenarios/$scn"; echo "subjects: $n"
      echo "seeds: $seeds"; echo "variants:"; echo "  - name: base"
      local v; for v in "$@"; do echo "  - $v"; done; } > "$f"
}
sweep_file three.yaml three baseline "[1, 2, 3]" 30 \
    "{name: no-health-isa, set: {agreements.ISA-OGD-HEALTH.missing: true}}" \
    "{name: health-1, set: {agencies.ogd-health.capacity.sharing: 1, agencies.ogd-health.service.sharing: {dist: fixed, days: 10}}}"

run 0 three "$MACX" pilot sweep three.yaml --out sw --jobs 2
has three err "sweep: 9/9 runs done, 0 running, 0 failed"
has three out "sw/sweep.html"
for f in sweep.json sweep.csv sweep.html; do [ -s "sw/$f" ] || fail "no sw/$f"; done
[ "$(wc -l < sw/sweep.csv)" = $((1 + 9 * 6)) ] || fail "sweep.csv has $(wc -l < sw/sweep.csv) lines, want 55"
python3 - sw/sweep.json <<'PY' || fail "sweep.json is not what it should be"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["schema"] == "macx-sweep-v1" and s["seeds"] == [1, 2, 3] and s["base"] == "base", s["seeds"]
assert [v["name"] for v in s["variants"]] == ["base", "no-health-isa", "health-1"]
assert s["interval"]["method"] == "student-t" and s["interval"]["level"] == 0.95
m = {x["key"]: x for x in s["metrics"]}
for k in ("phase.enrichment.p99", "end_to_end.max", "share.level23", "mac.rmac-wm.end_to_end.p90",
          "region.london.panel.p50", "agency.ogd-health.sent", "ended_by.ogd-dwp.sharing.share",
          "ended_by.ctp.enrichment.p99"):
    assert k in m, k
e = {x["variant"]: x for x in m["phase.enrichment.p50"]["effects"]}
assert e["health-1"]["change"] and e["health-1"]["lo"] > 0, e["health-1"]
for k in ("phase.identification.p90", "phase.profiling.p99"):
    for x in m[k]["effects"]:
        assert x["mean"] == 0 and x["lo"] == 0 and x["hi"] == 0 and not x["change"], (k, x)
b = m["end_to_end.p50"]["by_variant"][0]
assert b["n"] == 3 and b["lo"] < b["mean"] < b["hi"], b
# attribution: who ended sharing, in % of the subjects, adds up to 100 per run
for s_ in range(3):
    tot = sum(x["by_variant"][0]["values"][s_] for k, x in m.items()
              if k.startswith("ended_by.") and k.endswith(".sharing.share"))
    assert abs(tot - 100) < 1e-6, tot
sent = {x["variant"]: x["mean"] for x in m["agency.ogd-health.sent"]["by_variant"]}
assert sent["base"] > 0 and sent["no-health-isa"] == 0, sent
PY
# sweep.json against docs/sweep.schema.json, with pilot_report.sh's checker
# (its JSON Schema subset, and members the schema does not name)
python3 - "$SRC/tests/integration/pilot_report.sh" > schema_lib.py <<'PY'
import sys
t = open(sys.argv[1]).read()
a = t.index("cat > schema.py <<'PY'\n") + len("cat > schema.py <<'PY'\n")
print(t[a:t.index('if __name__ == "__main__":', a)])
PY
python3 - "$SRC/docs/sweep.schema.json" sw/sweep.json <<'PY' || fail "sweep.json does not match docs/sweep.schema.json"
import json, sys
sys.path.insert(0, ".")
import schema_lib as sl
schema, doc = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
errors = sl.validate(schema, doc) + ["%s: not in the schema" % p for p in sl.undocumented(schema, schema, doc, "$", [])]
broken = dict(doc); broken["schema"] = "v0"
assert sl.validate(schema, broken), "the checker accepts a wrong schema const"
for e in errors[:20]:
    print(e, file=sys.stderr)
sys.exit(1 if errors else 0)
PY
grep -q "<svg" sw/sweep.html || fail "sweep.html has no chart"
grep -q "Student" sw/sweep.html || fail "sweep.html does not say how its intervals are made"

cp sw/sweep.json first.json
run 0 again "$MACX" pilot sweep three.yaml --out sw
has again err "sweep: 9/9 runs done"
cmp -s first.json sw/sweep.json || fail "a second sweep into the same directory changed sweep.json"
run 0 gather "$MACX" pilot sweep three.yaml --out sw --gather --quiet
cmp -s first.json sw/sweep.json || fail "--gather changed sweep.json"
run 0 serial "$MACX" pilot sweep three.yaml --out sw1 --jobs 1 --quiet
cmp -s first.json sw1/sweep.json || { fail "--jobs 1 gives another sweep.json"; diff first.json sw1/sweep.json | head >&2; }

# a variant edited since: its runs are made again, the others kept
sed 's/capacity.sharing: 1,/capacity.sharing: 3,/' three.yaml > three-edited.yaml
grep -q "capacity.sharing: 3," three-edited.yaml || fail "could not edit three.yaml"
cp -r sw sw-edited
run 0 edited "$MACX" pilot sweep three-edited.yaml --out sw-edited --quiet
python3 - first.json sw-edited/sweep.json <<'PY' || fail "an edited variant's runs were reused, or others not kept"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
ma = {m["key"]: m for m in a["metrics"]}
mb = {m["key"]: m for m in b["metrics"]}
k = "phase.enrichment.p50"
assert ma[k]["by_variant"][0]["values"] == mb[k]["by_variant"][0]["values"]
assert ma[k]["by_variant"][2]["values"] != mb[k]["by_variant"][2]["values"], "health-1 was not re-run"
assert "--set agencies.ogd-health.capacity.sharing=3" in b["variants"][2]["overrides"]
PY
grep -qx "agencies.ogd-health.capacity.sharing=3" sw-edited/runs/health-1/seed-1.args \
    || fail "seed-1.args does not hold the edited override"

# compare: identical inputs, a known effect, information lost
run 0 same "$MACX" pilot compare sw sw1
has same out "no change: every one of"
grep -q "CHANGE" same.out && fail "identical sweeps compare with a change: $(grep CHANGE same.out | head -3)"
sweep_file base.yaml base baseline "[1, 2, 3, 4]" 60
sweep_file late.yaml late late-isa "[1, 2, 3, 4]" 60
sweep_file nohealth.yaml nohealth baseline "[1, 2, 3, 4]" 60 \
    "{name: nohealth, set: {agreements.ISA-OGD-HEALTH.missing: true}}"
sed -i 's/^  - name: base$//' nohealth.yaml   # its only variant: the agreement removed
run 0 base "$MACX" pilot sweep base.yaml --out swb --quiet
run 0 late "$MACX" pilot sweep late.yaml --out swl --quiet
run 0 nohealth "$MACX" pilot sweep nohealth.yaml --out swn --quiet
run 0 cmp-late "$MACX" pilot compare swb swl
grep "CHANGE" cmp-late.out | grep "BIRMINGHAM" > /dev/null || fail "late-isa: no change naming Birmingham: $(cat cmp-late.out | head -30)"
grep -E "waits for answers timed out on la-birmingham .* CHANGE" cmp-late.out > /dev/null \
    || fail "late-isa: the waits that timed out on la-birmingham are not a change: $(grep 'timed out' cmp-late.out)"
run 0 cmp-nohealth "$MACX" pilot compare swb swn
has cmp-nohealth out "ogd-health sent 0.0 records per run in B"
has cmp-nohealth out "stopped reaching the MACs"
# one sweep's variants against each other
run 0 cmp-variants "$MACX" pilot compare sw sw --variants base,no-health-isa
has cmp-variants out "base (A) vs no-health-isa (B), paired over 3 seed(s)"
has cmp-variants out "ogd-health sent 0.0 records per run in B"
grep -q "partners answering per subject .* CHANGE" cmp-variants.out \
    || fail "no-health: fewer partners answering per subject is not a change"
grep -q "ISA-OGD-HEALTH: records answered .* CHANGE" cmp-variants.out \
    || fail "no-health: health's answers under its agreement are not a change"
python3 -c 'import json, sys
a = json.load(open(sys.argv[1]))
assert a["schema"] == "macx-attribution-v1"
assert a["answers_per_subject"]["subjects"] == 30 and sum(a["answers_per_subject"]["by_partners"]) == 30
g = {x["agreement"]: x for x in a["agreements"]}
assert g["ISA-OGD-HEALTH"]["answers"] == 0 and g["ISA-OGD-HEALTH"]["refused"] > 0, g' \
    sw/runs/no-health-isa/seed-1/attribution.json || fail "attribution.json of no-health-isa is wrong"
run 65 cmp-novariant "$MACX" pilot compare sw sw --variants base,nope
has cmp-novariant err "--variants: sw has no variant 'nope'"
run 64 cmp-badvariants "$MACX" pilot compare sw sw --variants base
run 0 cmp-json "$MACX" pilot compare swb swl --json
python3 -c 'import json, sys
c = json.load(open(sys.argv[1]))
assert c["paired_seeds"] == 4 and c["warnings"] == []
assert any(f["verdict"] == "change" and "BIRMINGHAM" in f["key"] for f in c["figures"])' cmp-json.out \
    || fail "compare --json: no change naming Birmingham"
sweep_file other.yaml other baseline "[3, 4, 5]" 20
run 0 other "$MACX" pilot sweep other.yaml --out swo --quiet
run 0 cmp-other "$MACX" pilot compare swb swo
has cmp-other out "warning: the cohorts differ: A has 60 subjects, B 20"
has cmp-other out "warning: the seeds differ: A ran 4, B 3; only the 2 both ran are paired"
# two runs: the same figures, no interval, a skipped phase shown as skipped
run 0 abbr "$MACX" pilot run "$SRC/scenarios/abbreviated" --subjects 30 --seed 1 --out abbr --quiet
run 0 cmp-runs "$MACX" pilot compare swb/runs/base/seed-1 abbr
has cmp-runs out "single runs: no interval can be given"
has cmp-runs out "warning: the cohorts differ: A has 60 subjects, B 30"
grep -q "enrichment p99 (days) *skipped in B" cmp-runs.out || fail "two runs: enrichment not shown as skipped"
grep -q "fell by 100" cmp-runs.out && fail "two runs: a skipped phase 'fell by 100 %'"
grep -q "CHANGE" cmp-runs.out && fail "two runs: a change called without an interval"
run 64 mixed "$MACX" pilot compare swb swb/runs/base/seed-1
has mixed err "compare two sweeps or two runs"

# refusals
printf 'name: bad\nscenario: %s\nseeds: [1, 1]\nvariants: [{name: base}]\n' "$SRC/scenarios/baseline" > dup.yaml
run 65 dup "$MACX" pilot sweep dup.yaml --out swd
has dup err "dup.yaml:3:"
has dup err "seed 1 is listed twice"
sweep_file badset.yaml badset baseline "[1]" 10 "{name: broken, set: {agencies.ogd-health.capacity.sharing: -1}}"
run 65 badset "$MACX" pilot sweep badset.yaml --out swx
has badset err "variant 'broken'"
has badset err "--set agencies.ogd-health.capacity.sharing=-1: a capacity must be"
[ -e swx/runs ] && fail "a bad variant still started runs"
run 64 noout "$MACX" pilot sweep three.yaml
has noout err "--out DIR is required"

finish
