#!/usr/bin/env bash
# pilot_nmac_overflow.sh -- regional ownership and national overflow, on
# tests/data/pilot/overflow.yaml (three CTP units: ctp-london chairs the
# national MAC, ctp-wm and ctp-nw their regional MACs; rmac-wm has
# overflow_load 4, rmac-nw none; 60 subjects, most in the West Midlands):
#   - MI5's "closed" outcome sends a west-midlands case to the national MAC
#     (overflow: true, owner ctp-london) only when rmac-wm has 4 or more
#     cases open, as counted from the outcomes themselves (closed at MI5,
#     not yet returned with a decided plan); below that it stays regional;
#     some do overflow, and no north-west case ever does;
#   - each case's case file goes to its owner only, its panel plan is
#     decided and sent by that owner (the regional unit chairs its own
#     panel), and no CTP unit sends a record about a case it does not own;
#   - its partners are those of the MAC that took it;
#   - report.json's per-MAC figures agree.
# Usage: pilot_nmac_overflow.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

SCN=$SRC/tests/data/pilot/overflow.yaml
run 0 pilot "$MACX" pilot run "$SCN" --out run --quiet
run 0 audit "$MACX" audit show run/broker/data --json

python3 - audit.out run <<'PY' > check.out 2>&1 || { fail "overflow:"; sed 's/^/  | /' check.out >&2; }
import collections, json, os, sys
rd = sys.argv[2]
run = json.load(open(os.path.join(rd, "run.json")))
macs = {m["id"]: m for m in run["macs"]}
kind = {a["id"]: a["kind"] for a in run["agencies"]}
bad = []
if sorted(a for a, k in kind.items() if k == "ctp") != ["ctp-london", "ctp-nw", "ctp-wm"]:
    bad.append("CTP units %s" % sorted(a for a, k in kind.items() if k == "ctp"))
if (macs["rmac-wm"]["chair"], macs["rmac-nw"]["chair"], macs["nmac"]["chair"]) != ("ctp-wm", "ctp-nw", "ctp-london"):
    bad.append("chairs %s" % {m: macs[m]["chair"] for m in macs})
# MI5's view of each MAC's load, event by event in simulated-time order
events = []
for line in open(os.path.join(rd, "agents", "mi5", "outcomes.jsonl")):
    o = json.loads(line)
    if o["event"] == "closed":
        events.append((o["sim_ms"], 1, o))
owner = {}
for e in sorted(events, key=lambda x: (x[0], x[2]["case"])):
    owner[e[2]["case"]] = e[2]
# a case stops weighing on its MAC when its decided plan reached MI5
decided = {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "deliver" and e["record_type"] == "panel_plan" and e["recipient"] == "mi5":
        decided.setdefault(e["case_id"], e["arrive_ms"])
load = int(macs["rmac-wm"]["overflow_load"])
over = collections.Counter()
for ms, _, o in sorted(events, key=lambda x: (x[0], x[2]["case"])):
    if o["region"] != "west-midlands":
        if o["overflow"]:
            bad.append("%s from %s overflowed" % (o["case"], o["region"]))
        continue
    open_wm = sum(1 for c, p in owner.items() if p["mac"] == "rmac-wm" and p["sim_ms"] < ms
                  and decided.get(c, 1 << 62) > ms)
    want = "nmac" if open_wm >= load else "rmac-wm"
    if o["mac"] != want or o["overflow"] != (want == "nmac"):
        bad.append("%s closed with %d open at rmac-wm went to %s (overflow %s), want %s"
                   % (o["case"], open_wm, o["mac"], o["overflow"], want))
    over[o["mac"]] += 1
    if o["owner"] != macs[o["mac"]]["chair"]:
        bad.append("%s owner %s, not the chair of %s" % (o["case"], o["owner"], o["mac"]))
if over["nmac"] == 0 or over["rmac-wm"] < load:
    bad.append("west-midlands cases by MAC %s: want some in each" % dict(over))
# records: case files to the owner, plans from the owner, partners of the MAC
plans = collections.defaultdict(set)
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] != "accept" or e["case_id"] not in owner:
        continue
    o = owner[e["case_id"]]
    chair, members = o["owner"], set(macs[o["mac"]]["members"])
    if kind.get(e["sender"]) == "ctp" and e["sender"] != chair:
        bad.append("%s sent %s about %s, owned by %s" % (e["sender"], e["record_type"], e["case_id"], chair))
    if e["record_type"] == "case_file" and e["recipients"] != [chair]:
        bad.append("case file of %s to %s, owner %s" % (e["case_id"], e["recipients"], chair))
    if e["record_type"] == "panel_plan" and kind.get(e["sender"]) == "ctp":
        plans[e["case_id"]].add(e["sender"])
    for to in e["recipients"]:
        if kind.get(to) in ("local_authority", "ogd") and to not in members:
            bad.append("%s about %s reached %s, not of %s" % (e["record_type"], e["case_id"], to, o["mac"]))
for c, o in owner.items():
    if plans[c] != {o["owner"]}:
        bad.append("%s panel chaired by %s, owner %s" % (c, sorted(plans[c]), o["owner"]))
rep = json.load(open(os.path.join(rd, "report.json")))
got = {m["id"]: (m["cases"], m["overflow_in"]) for m in rep["macs"]}
want = collections.Counter(o["mac"] for o in owner.values())
wover = collections.Counter(o["mac"] for o in owner.values() if o["overflow"])
for m in macs:
    if got.get(m) != (want[m], wover[m]):
        bad.append("report.json macs[%s] = %s, want (%d, %d)" % (m, got.get(m), want[m], wover[m]))
print("west-midlands by MAC %s; overflow load %d; report %s" % (dict(over), load, got))
for b in bad[:40]:
    print(b)
sys.exit(1 if bad else 0)
PY

finish run/broker/broker.log
