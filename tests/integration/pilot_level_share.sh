#!/usr/bin/env bash
# pilot_level_share.sh -- the Level follows from the evidence, and the 10-20 %
# at Level 2/3 is an outcome (the 20-seed check is tests/tools/level_share.sh,
# `make level-share`; this is its fast part): the baseline at 300 subjects,
# seeds 1-3, and the baseline with the OGDs' near matches never resolved:
#   - every Level is the scenario's rule over the evidence its line names
#     (the baseline's strands: distinct sources of counted concern; Level 3
#     only with CTP's own police concern among them), so nothing else sets it;
#   - the mean Level 2/3 share of the three seeds is inside 10-20 %;
#   - OGDs receive the year of birth only: all their lookups are year-only,
#     none matches exactly, and report.json counts matches lost to
#     minimisation (> 0); local authorities get the full date;
#   - OGD information counts: with their near matches left unresolved
#     (resolve probability 0) the Level 2/3 share is lower at every seed.
# Usage: pilot_level_share.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

cp -r "$SRC/scenarios/baseline" unresolved
python3 - unresolved/pilot.yaml <<'PY' || fail "could not write the unresolved scenario"
import re, sys
p = sys.argv[1]
s = open(p).read()
# every ogd's resolve probability to 0: its blocks are "kind: ogd" ... "resolve:"
out, kind = [], None
for line in s.split("\n"):
    m = re.match(r"    kind: (\S+)", line)
    if m:
        kind = m.group(1)
    if kind == "ogd" and line.startswith("    resolve:"):
        line = "    resolve: {probability: 0, error: 0}"
    out.append(line)
t = "\n".join(out)
if t.count("probability: 0,") != 3:
    sys.exit("want three OGDs set unresolved, got %d" % t.count("probability: 0,"))
open(p, "w").write(t)
PY
for seed in 1 2 3; do
    run 0 base$seed "$MACX" pilot run "$SRC/scenarios/baseline" --seed $seed --subjects 300 --out base$seed --quiet
    run 0 unres$seed "$MACX" pilot run unresolved --seed $seed --subjects 300 --out unres$seed --quiet
done

python3 - <<'PY' > check.out 2>&1 || { fail "levels from evidence:"; sed 's/^/  | /' check.out >&2; }
import glob, json, statistics, sys
bad = []
def levels(run):
    out = []
    for f in glob.glob(run + "/agents/*/outcomes.jsonl"):
        out += [o for o in map(json.loads, open(f)) if o["event"] == "level"]
    return out
def share(run):
    r = json.load(open(run + "/report.json"))
    lv = {l["level"]: l["count"] for l in r["levels"]["by_level"]}
    return 100.0 * (lv.get(2, 0) + lv.get(3, 0)) / r["levels"]["assessed"], r
shares = []
for seed in (1, 2, 3):
    base, r = share("base%d" % seed)
    unres, _ = share("unres%d" % seed)
    shares.append(base)
    for o in levels("base%d" % seed):
        strands = len(o["concern_sources"])   # the baseline: findings only
        want = 3 if strands >= 3 and o["police_concerns"] > 0 else 2 if strands >= 2 else 1
        if o["level"] != want or o["score"] != strands:
            bad.append("seed %d %s: level %d score %s, the evidence gives %d (%d strands)"
                       % (seed, o["subject"], o["level"], o["score"], want, strands))
    if not unres < base:
        bad.append("seed %d: Level 2/3 %.1f %% with OGD near matches unresolved, %.1f %% resolved: "
                   "OGD information does not count" % (seed, unres, base))
    kinds = {a["id"]: a["kind"] for a in json.load(open("base%d/run.json" % seed))["agencies"]}
    for a in r["matching"]["by_agency"]:
        f, k = a["figures"], kinds.get(a["agency"])
        if k == "ogd" and (f["year_of_birth_only"] != f["lookups"] or f["exact"] or not f["minimised"]):
            bad.append("seed %d: %s (ogd) %s: want year-only lookups, no exact match, matches lost to "
                       "minimisation" % (seed, a["agency"], f))
        if k == "local_authority" and (f["year_of_birth_only"] or not f["exact"]):
            bad.append("seed %d: %s (local authority) %s: want full-date lookups with exact matches"
                       % (seed, a["agency"], f))
    t = r["matching"]["total"]
    if not t["confirmed"] or t["confirmed"] + t["rejected"] + t["unresolved"] != t["near"]:
        bad.append("seed %d: matching total %s: near matches must be confirmed, rejected or unresolved" % (seed, t))
mean = statistics.mean(shares)
print("Level 2/3 by seed: %s; mean %.1f %%" % (", ".join("%.1f" % s for s in shares), mean))
if not 10.0 <= mean <= 20.0:
    bad.append("mean Level 2/3 share %.1f %% is outside 10-20 %%" % mean)
for b in bad[:30]:
    print(b)
sys.exit(1 if bad else 0)
PY
cat check.out >&2
finish
