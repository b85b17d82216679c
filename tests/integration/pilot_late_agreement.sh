#!/usr/bin/env bash
# pilot_late_agreement.sh -- an agreement that comes into force on day 40
# delays sharing with the affected partner accordingly
# (tests/data/pilot/late.yaml: ISA-WM-RMAC-LA-BIRMINGHAM effective on day
# 40, West Midlands and London subjects all closing in days 0-10). From the
# broker's audit log (`macx audit show --json`):
#   - records to la-birmingham before day 40 are refused with
#     AGREEMENT_NOT_IN_FORCE under ISA-WM-RMAC-LA-BIRMINGHAM, and only those
#     (no refusal on or after day 40, none for any other recipient);
#   - no record to la-birmingham is accepted before day 40, and the first
#     accepted share to it is on day 40 (+-1);
#   - every refused case gets its share through, and la-birmingham's
#     enrichment for it is accepted after day 40;
#   - London cases are not delayed (la-london's shares go through at once);
#   - the refusing agency logs the refusal with its retry on day 40, and
#     report.json counts the refusals under the agreement; nothing stalls.
# Usage: pilot_late_agreement.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

SCN=$SRC/tests/data/pilot/late.yaml
run 0 late "$MACX" pilot run "$SCN" --out run --quiet
run 0 audit "$MACX" audit show run/broker/data --json
run 0 verify "$MACX" audit verify run/broker/data --keys run/keys

python3 - audit.out run <<'PY' > check.out 2>&1 || { fail "late agreement:"; sed 's/^/  | /' check.out >&2; }
import collections, datetime, glob, json, os, sys
DAY = 86400000
AGR = "ISA-WM-RMAC-LA-BIRMINGHAM"
run = json.load(open(os.path.join(sys.argv[2], "run.json")))
start = (datetime.date.fromisoformat(run["start_date"]) - datetime.date(1970, 1, 1)).days * DAY
day = lambda e: (e["sim_ms"] - start) / DAY
entries = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
bad = []
refuse = [e for e in entries if e["event"] == "refuse"]
accept = [e for e in entries if e["event"] == "accept"]
to_bham = lambda e: "la-birmingham" in e["recipients"]

if not refuse:
    bad.append("no refusal at all")
for e in refuse:
    if not to_bham(e) or e["reason"] != "AGREEMENT_NOT_IN_FORCE" or e["agreement"] != AGR:
        bad.append("unexpected refusal: %s -> %s %s %s %s" % (e["sender"], e["recipients"], e["record_type"], e["reason"], e["agreement"]))
    if day(e) >= 40:
        bad.append("refusal on day %.2f (>= 40): %s %s" % (day(e), e["case_id"], e["record_type"]))
early = [e for e in accept if to_bham(e) and day(e) < 40]
for e in early:
    bad.append("accepted to la-birmingham on day %.2f: %s %s from %s" % (day(e), e["case_id"], e["record_type"], e["sender"]))
shares = sorted(day(e) for e in accept if to_bham(e) and e["record_type"] == "share")
if not shares:
    bad.append("no share to la-birmingham was ever accepted")
elif not 39 <= shares[0] <= 41:
    bad.append("first accepted share to la-birmingham on day %.2f, want 40 +- 1" % shares[0])

refused_cases = {e["case_id"] for e in refuse}
for case in sorted(refused_cases):
    got = [day(e) for e in accept if e["case_id"] == case and to_bham(e) and e["record_type"] == "share"]
    if not got:
        bad.append("%s: refused share never went through" % case)
    enr = [day(e) for e in accept if e["case_id"] == case and e["sender"] == "la-birmingham" and e["record_type"] == "enrichment"]
    if not enr:
        bad.append("%s: no enrichment from la-birmingham" % case)
    elif min(enr) < 40:
        bad.append("%s: la-birmingham's enrichment on day %.2f, before day 40" % (case, min(enr)))

# London cases: la-london's first share in the first days, never refused
ldn = [day(e) for e in accept if "la-london" in e["recipients"] and e["record_type"] == "share"]
if not ldn:
    bad.append("no share to la-london")
elif max(ldn) >= 25:
    bad.append("a share to la-london only on day %.2f" % max(ldn))

# the agencies' side: each refusal logged with its retry on day 40
logged = []
for path in glob.glob(os.path.join(sys.argv[2], "agents", "*", "outcomes.jsonl")):
    for line in open(path):
        o = json.loads(line)
        if o["event"] == "refused":
            logged.append(o)
        if o["event"] == "stalled":
            bad.append("stalled: %s" % o)
if len(logged) != len(refuse):
    bad.append("%d refusals logged by agencies, %d in the audit" % (len(logged), len(refuse)))
for o in logged:
    if o["to"] != "la-birmingham" or o["agreement"] != AGR or (o["retry_sim_ms"] - start) / DAY != 40:
        bad.append("refusal outcome: %s" % o)

rep = json.load(open(os.path.join(sys.argv[2], "report.json")))
byagr = {x["agreement"]: (x["count"], x["cases"]) for x in rep["refusals"]["by_agreement"]}
if rep["refusals"]["total"] != len(refuse) or byagr.get(AGR) != (len(refuse), len(refused_cases)):
    bad.append("report.json refusals %s; audit: %d refusals, %d cases" % (rep["refusals"], len(refuse), len(refused_cases)))
if rep["outcomes"]["stalled"] or rep["outcomes"]["open"]:
    bad.append("report.json outcomes %s" % rep["outcomes"])

print("%d refusals over %d cases, first share to la-birmingham on day %s"
      % (len(refuse), len(refused_cases), "%.2f" % shares[0] if shares else "-"))
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
PY

finish run/broker/broker.log run/agents/mi5/agent.log run/agents/ctp/agent.log
