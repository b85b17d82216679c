#!/usr/bin/env bash
# pilot_daily_cap.sh -- an agreement's daily cap in a pilot: the agencies know
# their agreements, so a record the cap would refuse today is held until the
# first day with room instead of being sent to be refused. With the
# baseline's caps cut to 3 records a day per flow and 40 subjects closing in
# 5 days (about 8 a day to every government department):
#   - the broker refuses nothing (no RATE_LIMITED);
#   - records were held (report.json "held", by agreement) and every
#     subject still reaches a plan;
#   - in the broker's audit no sender ever has more than 3 accepted records
#     on one flow on one day (by the broker's stamps): the agencies' count
#     agrees with the broker's;
#   - the summary says how many were held.
# Usage: pilot_daily_cap.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

cp -r "$SRC/scenarios/baseline/policy" capped
sed -i 's/max_per_day: [0-9]*/max_per_day: 3/' capped/agreements/*.yaml
grep -q 'max_per_day: 3' capped/agreements/isa-ogd-dwp.yaml || fail "no cap to cut in the baseline policy"
python3 - "$SRC/scenarios/baseline/pilot.yaml" capped.yaml "$PWD/capped" <<'PY'
import sys
s = open(sys.argv[1]).read().split("\n")
out = []
for l in s:
    if l.startswith("policy:"):
        l = "policy: " + sys.argv[3]
    elif l.startswith("closure_window_days:"):
        l = "closure_window_days: 5"
    out.append(l)
open(sys.argv[2], "w").write("\n".join(out))
PY
run 0 pilot "$MACX" pilot run capped.yaml --out run --subjects 40
has pilot out "held back for daily caps: "

if [ -f run/report.json ]; then
    python3 - run/report.json > report.check 2>&1 <<'PY' || { fail "report:"; sed 's/^/  | /' report.check >&2; }
import json, sys
r = json.load(open(sys.argv[1]))
bad = []
if r["refusals"]["total"] != 0:
    bad.append("refusals %s" % r["refusals"])
if r["held"]["total"] == 0 or not any(a["agreement"] == "ISA-OGD-DWP" for a in r["held"]["by_agreement"]):
    bad.append("held %s" % r["held"])
if r["outcomes"] != {"disposed": 40, "stalled": 0, "open": 0}:
    bad.append("outcomes %s" % r["outcomes"])
print("\n".join(bad) or "held %d records" % r["held"]["total"])
sys.exit(1 if bad else 0)
PY
    "$MACX" audit show run/broker/data --event accept --json > accepts.json
    python3 - accepts.json capped/agreements/*.yaml > caps.check 2>&1 <<'PY' || { fail "a daily cap was exceeded:"; sed 's/^/  | /' caps.check >&2; }
import collections, json, re, sys
# the capped flows: (agreement, flow) of every flow block with a max_per_day
capped = set()
for path in sys.argv[2:]:
    agreement = flow = None
    for line in open(path):
        m = re.match(r"^id: (\S+)", line) or None
        if m:
            agreement = m.group(1)
        m = re.match(r"^  - id: (\S+)", line)
        if m:
            flow = m.group(1)
        if re.match(r"^    max_per_day: ", line):
            capped.add((agreement, flow))
assert capped, "no capped flows found"
n = collections.Counter()
for e in map(json.loads, open(sys.argv[1])):
    if (e["agreement"], e["flow"]) in capped:
        n[(e["sender"], e["agreement"], e["flow"], e["clock_ms"] // 86400000)] += 1
over = {k: v for k, v in n.items() if v > 3}
print("%d capped flows; busiest (sender, agreement, flow, day): %s" % (len(capped), n.most_common(1)))
for k, v in sorted(over.items())[:5]:
    print("%s: %d accepted" % (k, v))
sys.exit(1 if over else 0)
PY
else
    fail "no run/report.json"
fi
finish run/broker/broker.log
