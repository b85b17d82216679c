#!/usr/bin/env bash
# pilot_retention.sh -- the retention lifecycle in a pilot: the baseline
# scenario (12 subjects) under a copy of its policy whose retention is short
# (rewritten below, by record type: share, profile and watch_list 15 days
# from creation, then delete; enrichment and tripwire 20 days from receipt,
# then anonymise; panel_plan 25 days, then review), except ISA-MI5-CTP,
# which keeps its 2190 days: past the run's limit (run.json end_date).
# From the broker's audit log and `macx audit subject`:
#   - every delivery names the terms of its copy; the expiry is the
#     agreement's days from the broker's stamp (creation) or the arrival
#     (receipt);
#   - every copy that expires before the run's end is deleted, anonymised or
#     put under review by its recipient, as its agreement says, exactly at
#     its expiry (the agency's simulated clock), once, with the agency's
#     signature; no retention receipt is refused;
#   - the copies that expire after the end are still held, and did not keep
#     the pilot alive: nothing happens at or after the end, and the run ends
#     (exit 0) with every subject disposed;
#   - `macx audit subject` shows, for every subject, a deletion at the
#     agencies for every expired share (and the other actions), and the
#     agencies' own outcomes and counts of copies agree.
# Usage: pilot_retention.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

mkdir scn
cp "$SRC/scenarios/baseline/pilot.yaml" scn/pilot.yaml
cp -r "$SRC/scenarios/baseline/policy" scn/policy
python3 - scn/policy/agreements <<'PY'
import os, re, sys
rule = {"share": "{days: 15, from: creation, on_expiry: delete}",
        "profile": "{days: 15, from: creation, on_expiry: delete}",
        "watch_list": "{days: 15, from: creation, on_expiry: delete}",
        "enrichment": "{days: 20, from: receipt, on_expiry: anonymise}",
        "tripwire": "{days: 20, from: receipt, on_expiry: anonymise}",
        "panel_plan": "{days: 25, from: receipt, on_expiry: review}"}
for name in os.listdir(sys.argv[1]):
    if name == "isa-mi5-ctp.yaml":
        continue
    path = os.path.join(sys.argv[1], name)
    out, rtype = [], None
    for line in open(path):
        m = re.match(r"\s*record_type:\s*(\S+)", line)
        if m:
            rtype = m.group(1)
        m = re.match(r"(\s*retention:\s*)\{.*\}", line)
        if m and rtype in rule:
            line = m.group(1) + rule[rtype] + "\n"
        out.append(line)
    open(path, "w").write("".join(out))
PY
run 0 pilot "$MACX" pilot run scn/pilot.yaml --subjects 12 --out run --quiet
run 0 audit "$MACX" audit show run/broker/data --json
run 0 verify "$MACX" audit verify run/broker/data --keys run/keys

python3 - audit.out run > check.out 2>&1 <<'PY' || { fail "retention in the audit log:"; sed 's/^/  | /' check.out >&2; }
import collections, datetime, json, os, sys
DAY = 86400000
run = json.load(open(os.path.join(sys.argv[2], "run.json")))
end = (datetime.date.fromisoformat(run["end_date"]) - datetime.date(1970, 1, 1)).days * DAY
entries = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
bad = []
accepted = {e["record_id"]: e for e in entries if e["event"] == "accept"}
delivers = [e for e in entries if e["event"] == "deliver"]
acts = collections.defaultdict(list)
for e in entries:
    if e["event"].startswith("retention_"):
        acts[(e["record_id"], e["peer"])].append(e)
want = {"delete": "retention_deleted", "anonymise": "retention_anonymised", "review": "retention_review"}
counts = collections.Counter()
for d in delivers:
    t, key = d["terms"], (d["record_id"], d["recipient"])
    what = "%s %s -> %s" % (d["record_type"], d["sender"], d["recipient"])
    if not t or not t["agreement"] or not t["expires_ms"]:
        bad.append("%s: delivery without terms: %s" % (what, t))
        continue
    base = accepted[d["record_id"]]["clock_ms"] if t["retention_from"] == "creation" else d["arrive_ms"]
    if t["expires_ms"] != base + t["retention_days"] * DAY:
        bad.append("%s: expires %d, want %s + %d days" % (what, t["expires_ms"], t["retention_from"], t["retention_days"]))
    got = acts.get(key, [])
    if t["expires_ms"] >= end:
        counts["after the end"] += 1
        if got:
            bad.append("%s expires after the end but was %s" % (what, got[0]["event"]))
        continue
    counts[t["on_expiry"]] += 1
    if [g["event"] for g in got] != [want[t["on_expiry"]]]:
        bad.append("%s (%s): %s, want one %s" % (what, t["on_expiry"], [g["event"] for g in got], want[t["on_expiry"]]))
        continue
    g = got[0]
    if not (g["acted_ms"] == g["clock_ms"] == t["expires_ms"]):
        bad.append("%s: acted %d, clock %d, expires %d" % (what, g["acted_ms"], g["clock_ms"], t["expires_ms"]))
    if len(g["agency_signature"]) != 128 or g["subject"] != d["subject"]:
        bad.append("%s: signature %r subject %r" % (what, g["agency_signature"], g["subject"]))
for e in entries:
    if e["event"] == "retention_refused":
        bad.append("refused: %s %s" % (e["reason"], e["message"]))
    if e["clock_ms"] >= end:
        bad.append("entry %d (%s) at or after the end" % (e["seq"], e["event"]))
for k in ("delete", "anonymise", "review", "after the end"):
    if counts[k] == 0:
        bad.append("no copy that %s" % k)
print(dict(counts))
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY

# every subject's history: a deletion for every expired share, and the rest
"$MACX" audit show run/broker/data --json --event accept \
    | python3 -c 'import json, sys
print("\n".join(sorted({json.loads(l)["subject"] for l in sys.stdin if json.loads(l)["subject"].startswith("S-")})))' \
    > subjects
[ "$(wc -l < subjects)" = 12 ] || fail "$(wc -l < subjects) subjects in the log, want 12"
while read -r s; do
    run 0 "subject-$s" "$MACX" audit subject run/broker/data "$s" --json
    python3 - "subject-$s.out" "$s" >> subjects.check 2>&1 <<'PY' || fail "audit subject $s: $(tail -1 subjects.check)"
import json, sys
h = json.loads(open(sys.argv[1]).read())
bad = []
want = {"delete": "deleted", "anonymise": "anonymised", "review": "review"}
shares = [d for d in h["disclosures"] if d["record_type"] == "share"]
if not shares:
    bad.append("no share")
for d in h["disclosures"]:
    late = d["agreement"] == "ISA-MI5-CTP"
    w = "held" if late else want[d["on_expiry"]]
    if d["status"] != w or d["overdue"] or not d["legal_basis"]["receive"] or not d["manifest"]:
        bad.append("%s %s -> %s: %s (want %s), overdue %s" % (d["record_type"], d["sender"], d["recipient"], d["status"], w, d["overdue"]))
    if d["record_type"] == "share" and not late and d["status_at_ms"] != d["expires_ms"]:
        bad.append("share to %s deleted at %s, expiry %s" % (d["recipient"], d["status_at"], d["expires"]))
c = h["counts"]
if c["deleted"] < len([d for d in shares if d["agreement"] != "ISA-MI5-CTP"]) or c["queued"] or c["purged"]:
    bad.append("counts %s" % c)
print(sys.argv[2], c, "; ".join(bad))
sys.exit(1 if bad else 0)
PY
done < subjects
s1=$(head -1 subjects)
run 0 subject-text "$MACX" audit subject run/broker/data "$s1"
has subject-text out "Disclosures about subject $s1"
has subject-text out "SHARED (UTC)"
has subject-text out " deleted "
has subject-text out "anonymised"
has subject-text out "under review"
has subject-text out "discloses under"

# the agencies' side: one outcome line per action, and their counts of copies
python3 - audit.out run > agencies.check 2>&1 <<'PY' || { fail "agencies' outcomes:"; sed 's/^/  | /' agencies.check >&2; }
import collections, glob, json, os, re, sys
entries = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = collections.Counter((e["peer"], e["event"]) for e in entries if e["event"].startswith("retention_"))
held = collections.Counter(e["recipient"] for e in entries if e["event"] == "deliver")
bad = []
name = {"deleted": "retention_deleted", "anonymised": "retention_anonymised", "review": "retention_review"}
for d in sorted(glob.glob(os.path.join(sys.argv[2], "agents", "*"))):
    a = os.path.basename(d)
    got = collections.Counter()
    for l in open(os.path.join(d, "outcomes.jsonl")):
        o = json.loads(l)
        if o["event"] in ("retention", "review_task"):
            got[(a, name[o["action"]])] += 1
            if (o["event"] == "review_task") != (o["action"] == "review") or "subject" in o:
                bad.append("%s: outcome %s" % (a, o))
    mine = {k: v for k, v in by.items() if k[0] == a}
    if dict(got) != mine:
        bad.append("%s: outcomes %s, audit %s" % (a, dict(got), mine))
    log = open(os.path.join(d, "agent.log")).read()
    m = re.search(r'msg="copies at the end" held=(\d+) anonymised=(\d+) review=(\d+) deleted=(\d+)', log)
    if not m:
        bad.append("%s: no count of copies in its log" % a)
        continue
    h, an, rv, dl = map(int, m.groups())
    if dl != mine.get((a, "retention_deleted"), 0) or h + dl != held[a] \
            or an != mine.get((a, "retention_anonymised"), 0) or rv != mine.get((a, "retention_review"), 0):
        bad.append("%s: held %d anonymised %d review %d deleted %d; delivered %d, audit %s" % (a, h, an, rv, dl, held[a], mine))
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
outcomes=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["outcomes"])' run/report.json 2>&1) || true
[ "$outcomes" = "{'disposed': 12, 'stalled': 0, 'open': 0}" ] || fail "report.json outcomes: $outcomes"

finish run/broker/broker.log run/agents/mi5/agent.log
