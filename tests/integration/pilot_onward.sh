#!/usr/bin/env bash
# pilot_onward.sh -- pilots exercise onward sharing: CTP's shares pass on
# MI5's case file, so they name MI5 as their origin (origin_record_type
# case_file) and the broker judges them by F1's onward-sharing terms
# (scenarios/baseline/policy/agreements/isa-mi5-ctp.yaml), with the case
# context it holds (docs/policy.md "Case context").
#   - the baseline policy: every CTP share names origin mi5 and is accepted,
#     nothing is refused;
#   - the same pilot with ISA-OGD-DWP taken out of F1's onward list: every
#     CTP share to ogd-dwp is refused ONWARD_SHARING_PROHIBITED (and only
#     those), naming ISA-MI5-CTP/F1; the shares to the local authorities
#     still go through;
#   - `macx policy explain --data --case` shows the case context the pilot's
#     broker holds (reached phases, the origin delivered), and refuses a
#     case it never saw (CASE_PHASE_NOT_REACHED).
# The scenario is tests/data/pilot/late.yaml with every agreement in force.
# Usage: pilot_onward.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

# The scenario, its policy relative to a copy of it here.
mkdir -p scn
sed -e '/^agreements:/,$d' -e "s#^policy: .*#policy: $S/policy#" \
    "$SRC/tests/data/pilot/late.yaml" > scn/onward.yaml
cp -r "$POLICY" policy
run 0 base "$MACX" pilot run scn/onward.yaml --out base --quiet
run 0 base-audit "$MACX" audit show base/broker/data --json

sed -i 's/ISA-OGD-DWP, ISA-OGD-PROBATION/ISA-OGD-PROBATION/' policy/agreements/isa-mi5-ctp.yaml
grep -q "ISA-OGD-DWP" policy/agreements/isa-mi5-ctp.yaml && fail "the onward list still names ISA-OGD-DWP"
run 0 check "$MACX" policy check policy
run 0 narrow "$MACX" pilot run scn/onward.yaml --out narrow --quiet
run 0 narrow-audit "$MACX" audit show narrow/broker/data --json
run 0 verify "$MACX" audit verify narrow/broker/data --keys narrow/keys

python3 - base-audit.out narrow-audit.out <<'PY' > check.out 2>&1 || { fail "onward sharing:"; sed 's/^/  | /' check.out >&2; }
import json, sys
load = lambda p: [json.loads(l) for l in open(p) if l.strip()]
base, narrow = load(sys.argv[1]), load(sys.argv[2])
bad = []
ctp_shares = lambda es, ev: [e for e in es if e["event"] == ev and e["sender"] == "ctp"
                              and e["record_type"] == "share"]
got = ctp_shares(base, "accept")
if not got:
    bad.append("baseline: no CTP share accepted")
for e in got:
    if e.get("origin") != "mi5":
        bad.append("baseline: CTP share for %s names origin %r, want mi5" % (e["case_id"], e.get("origin")))
refused = [e for e in base if e["event"] == "refuse"]
if refused:
    bad.append("baseline: %d refusals, first %s" % (len(refused), refused[0]["reason"]))

to_dwp = lambda e: e["recipients"] == ["ogd-dwp"]
refused = [e for e in narrow if e["event"] == "refuse"]
if not refused:
    bad.append("narrowed onward list: nothing refused")
for e in refused:
    if not (e["sender"] == "ctp" and e["record_type"] == "share" and to_dwp(e)
            and e["reason"] == "ONWARD_SHARING_PROHIBITED"):
        bad.append("narrowed: unexpected refusal %s -> %s %s %s" % (e["sender"], e["recipients"],
                                                                    e["record_type"], e["reason"]))
    elif "ISA-MI5-CTP/F1" not in e["message"]:
        bad.append("narrowed: the refusal does not name ISA-MI5-CTP/F1: %s" % e["message"])
acc = ctp_shares(narrow, "accept")
if any(to_dwp(e) for e in acc):
    bad.append("narrowed: a CTP share to ogd-dwp was accepted")
if not any(r.startswith("la-") for e in acc for r in e["recipients"]):
    bad.append("narrowed: no CTP share to a local authority went through")
print("base: %d CTP shares accepted; narrowed: %d refused ONWARD_SHARING_PROHIBITED, %d accepted"
      % (len(got), len(refused), len(acc)))
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
PY
note "$(head -1 check.out)"

# policy explain reads the case context from the pilot's broker store: a
# case that had MI5's case file, and one the broker never saw.
CASE=$(json base-audit.out '[e["case_id"] for e in lines if e["event"] == "accept" and e["sender"] == "ctp" and e["record_type"] == "share"][0]')
EX=(policy explain policy --from ctp --to la-london --type share --phase sharing --origin mi5
    --origin-type case_file --fields subject_name --date 2026-06-01 --data base/broker/data)
run 0 explain-held "$MACX" "${EX[@]}" --case "$CASE"
has explain-held out "case context case $CASE in base/broker/data: reached identification, sharing"
has explain-held out "mi5's case_file delivered to ctp: yes"
run 1 explain-none "$MACX" "${EX[@]}" --case C-NEVER --json
expect explain-none explain-none.out '(lines[0]["decision"], lines[0]["reason"], lines[0]["policy_decision"])' \
    "('deny', 'CASE_PHASE_NOT_REACHED', 'permit')"
expect explain-none explain-none.out 'lines[0]["case_context"]["known"]' no
run 64 explain-half "$MACX" "${EX[@]}"
has explain-half err "--data DIR and --case C go together"
finish base/broker/broker.log narrow/broker/broker.log
