#!/usr/bin/env bash
# pilot_panel_offers.sh -- panels decide from what their members offered:
# the baseline and tests/data/pilot/no-health.yaml (the baseline without
# ISA-OGD-HEALTH), 150 subjects each:
#   - every issued disposal names an owner that offered it for that case:
#     a partner's own "offer" outcome, or the chair's own offer; and the
#     owner is of the kind the scenario's disposals table names;
#   - a mental-health disposal is issued only to the OGD of sector health,
#     and only on a case whose profile holds health's information (health
#     answered it); the baseline issues some (so this test can fail);
#   - without the health agreement none is issued to health, and the report
#     says why: report.json panel_unavailable names ogd-health, NOT_REACHED,
#     ISA-OGD-HEALTH, mental_health_support, for every case, and so does
#     the printed summary;
#   - Level 3 cases go back to investigation; the share of cases with an
#     intervention is well below the 44 % of the model before (review 7.12).
# Usage: pilot_panel_offers.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

run 0 base "$MACX" pilot run "$SRC/scenarios/baseline" --out base --subjects 150 --quiet
run 0 nohealth "$MACX" pilot run "$SRC/tests/data/pilot/no-health.yaml" --out nohealth --subjects 150
"$MACX" audit show base/broker/data --json > base/audit.json || fail "audit show base"
"$MACX" audit show nohealth/broker/data --json > nohealth/audit.json || fail "audit show nohealth"
has nohealth out "not on the panel: ogd-health, for 150 cases: its share was refused under ISA-OGD-HEALTH; what it would offer (mental_health_support)"

python3 - base nohealth <<'PY' > check.out 2>&1 || { fail "panel offers:"; sed 's/^/  | /' check.out >&2; }
import collections, glob, json, os, sys
bad = []
def check(rd, health_in):
    run = json.load(open(os.path.join(rd, "run.json")))
    ag = {a["id"]: a for a in run["agencies"]}
    owner_kind = {"no_further_action": "ctp", "referral_back_to_investigation": "ctp",
                  "prevent_channel_referral": "ctp", "safeguarding_referral": "local_authority",
                  "housing_support": "local_authority", "education_support": "local_authority",
                  "mental_health_support": "ogd", "employment_support": "ogd", "probation_supervision": "ogd"}
    offered = collections.defaultdict(set)   # case -> (kind, agency) from partners' own outcomes
    answered = collections.defaultdict(set)  # case -> partners whose enrichment was accepted
    disposals = []
    for f in sorted(glob.glob(os.path.join(rd, "agents", "*", "outcomes.jsonl"))):
        for line in open(f):
            o = json.loads(line)
            if o["event"] == "offer":
                for k in o["kinds"]:
                    offered[o["case"]].add((k, o["agency"]))
            elif o["event"] == "disposal":
                disposals.append(o)
                for x in o["offers"]:
                    if ag[x["by"]]["kind"] == "ctp":
                        if x["by"] != o["agency"]:
                            bad.append("%s: %s offered for %s, not the chair" % (rd, x["by"], o["case"]))
                        offered[o["case"]].add((x["kind"], x["by"]))
    audit = os.path.join(rd, "audit.json")
    for line in open(audit):
        e = json.loads(line)
        if e["event"] == "accept" and e["record_type"] == "enrichment":
            answered[e["case_id"]].add(e["sender"])
    mh = 0
    for o in disposals:
        c = o["case"]
        if len(o["disposals"]) != len(o["owners"]):
            bad.append("%s %s: disposals and owners differ in length" % (rd, c))
        for k, w in zip(o["disposals"], o["owners"]):
            if (k, w) not in offered[c]:
                bad.append("%s %s: %s issued to %s, which did not offer it" % (rd, c, k, w))
            if ag[w]["kind"] != owner_kind.get(k):
                bad.append("%s %s: %s owned by %s (%s)" % (rd, c, k, w, ag[w]["kind"]))
            if k == "mental_health_support":
                mh += 1
                if ag[w]["sector"] != "health" or w not in answered[c]:
                    bad.append("%s %s: mental health to %s (sector %s, answered %s)"
                               % (rd, c, w, ag[w]["sector"], w in answered[c]))
        if o["level"] == 3 and o["disposals"] != ["referral_back_to_investigation"]:
            bad.append("%s %s: level 3 disposed %s" % (rd, c, o["disposals"]))
    rep = json.load(open(os.path.join(rd, "report.json")))
    share = rep["interventions"]["percent"]
    if not 0 < share < 30:
        bad.append("%s: %.1f %% of cases with an intervention" % (rd, share))
    un = [u for u in rep["panel_unavailable"] if u["agency"] == "ogd-health" and u["why"] == "NOT_REACHED"]
    if health_in:
        if mh == 0:
            bad.append("%s: no mental-health disposal at all (the test could not fail)" % rd)
        if un:
            bad.append("%s: health reported unreachable %s" % (rd, un))
    else:
        if mh:
            bad.append("%s: %d mental-health disposals without the health agreement" % (rd, mh))
        if len(un) != 1 or un[0]["agreement"] != "ISA-OGD-HEALTH" or un[0]["cases"] != len(disposals) \
                or "mental_health_support" not in un[0]["could_offer"]:
            bad.append("%s: panel_unavailable %s" % (rd, rep["panel_unavailable"]))
    print("%s: %d disposals, %d mental health, %.1f %% with an intervention" % (rd, len(disposals), mh, share))
for rd, h in ((sys.argv[1], True), (sys.argv[2], False)):
    check(rd, h)
for b in bad[:40]:
    print(b)
sys.exit(1 if bad else 0)
PY
finish base/broker/broker.log
