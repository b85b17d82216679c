#!/usr/bin/env bash
# pilot_rmac_routing.sh -- RMAC routing, on the baseline scenario (regions
# london, west-midlands, north-west with regional MACs for the last two,
# and east-anglia, south-west without one) with 40 subjects:
#   - mi5's "closed" outcome routes each case to the MAC run.json says takes
#     its region (west-midlands -> rmac-wm, north-west -> rmac-nw, london and
#     regions without a MAC -> the national nmac);
#   - joining the broker's accept and deliver entries with those cases: no
#     record about a case ever reaches a partner outside its MAC (an RMAC's
#     local authority only ever receives its own region's cases; la-london,
#     in the NMAC, takes london and the regions without a MAC), and every
#     member of the MAC is sent the case;
#   - `macx audit verify` passes on the run's broker data.
# Usage: pilot_rmac_routing.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

SCN=$SRC/scenarios/baseline/pilot.yaml
run 0 pilot "$MACX" pilot run "$SCN" --out run --seed 5 --subjects 40 --quiet
run 0 verify "$MACX" audit verify run/broker/data --keys run/keys
has verify out "audit log intact"
run 0 audit "$MACX" audit show run/broker/data --json

python3 - audit.out run <<'PY' > check.out 2>&1 || { fail "routing:"; sed 's/^/  | /' check.out >&2; }
import collections, glob, json, os, sys
run = json.load(open(os.path.join(sys.argv[2], "run.json")))
macs = {m["id"]: m for m in run["macs"]}
kind = {a["id"]: a["kind"] for a in run["agencies"]}
bad = []
def mac_for(region):
    for m in run["macs"]:
        if region in m["regions"]:
            return m["id"]
    return next((m["id"] for m in run["macs"] if m["national"]), None)
want = {"london": "nmac", "west-midlands": "rmac-wm", "north-west": "rmac-nw",
        "east-anglia": "nmac", "south-west": "nmac"}
case = {}
for line in open(os.path.join(sys.argv[2], "agents", "mi5", "outcomes.jsonl")):
    o = json.loads(line)
    if o["event"] == "closed":
        case[o["case"]] = (o["region"], o["mac"])
        if o["mac"] != mac_for(o["region"]) or o["mac"] != want.get(o["region"]):
            bad.append("%s in %s went to %s" % (o["case"], o["region"], o["mac"]))
regions = collections.Counter(r for r, m in case.values())
if len(case) != 40 or set(regions) != set(want):
    bad.append("closed cases by region: %s (want 40 over %s)" % (dict(regions), sorted(want)))

received = collections.defaultdict(set)      # agency -> regions of cases it got
shared = collections.defaultdict(set)        # case -> partners sent a share
n = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] not in ("accept", "deliver") or not e["case_id"]:
        continue
    if e["record_type"] in ("watch_list", "tripwire", "alert", "triage_decision"):
        continue   # the closed-subject watch: no MAC's routing (pilot_watch.sh)
    n += 1
    if e["case_id"] not in case:
        bad.append("record about unknown case %s" % e["case_id"]); continue
    region, mac = case[e["case_id"]]
    tos = e["recipients"] if e["event"] == "accept" else [e["recipient"]]
    for to in tos:
        if to in ("mi5", "ctp"):
            continue
        received[to].add(region)
        if to not in macs[mac]["members"]:
            bad.append("%s %s about %s (%s, %s) reached %s, not a member of %s"
                       % (e["event"], e["record_type"], e["case_id"], region, mac, to, mac))
        if e["event"] == "accept" and e["record_type"] == "share":
            shared[e["case_id"]].add(to)
for c, (region, mac) in sorted(case.items()):
    if shared[c] != set(macs[mac]["members"]):
        bad.append("%s (%s): shared with %s, want %s" % (c, mac, sorted(shared[c]), macs[mac]["members"]))
# the local authorities, explicitly
la = {"la-birmingham": {"west-midlands"}, "la-manchester": {"north-west"},
      "la-london": {"london", "east-anglia", "south-west"}}
for a, regs in la.items():
    if received[a] != regs:
        bad.append("%s received cases from %s, want exactly %s" % (a, sorted(received[a]), sorted(regs)))
print("%d records over %d cases; regions %s; partners' regions %s"
      % (n, len(case), dict(regions), {k: sorted(v) for k, v in received.items()}))
for b in bad[:40]:
    print(b)
sys.exit(1 if bad else 0)
PY

finish run/broker/broker.log
