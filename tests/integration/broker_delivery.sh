#!/usr/bin/env bash
# broker_delivery.sh -- a real broker on loopback with the baseline policy: an
# allowed share (mi5 -> la-london, flow S1) is delivered with its fields,
# receipted (accept and deliver audit entries, delivered >= 1, mailbox empty);
# denied shares (a forbidden field, a pair with no agreement) are NACKed with
# their reason code, never delivered, and audited as deny with that reason.
# Usage: broker_delivery.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

keys_init keys broker mi5 ctp la-london ogd-dwp
start_broker broker.log data || finish broker.log
SHARE=(--type share --phase sharing --purpose mac_case_management --subject S-1)

# ---- an allowed share -------------------------------------------------------
open_case C-OK     # MI5's case file opens each case (docs/policy.md "Case context")
open_case C-DENY
run 0 send-ok "$MACX" send $(client) --as mi5 --to la-london "${SHARE[@]}" --case C-OK \
    --field subject_name="Ada Quill" --field dob:year_only=1990-04-12 --timeout 20 --json
RID=$(json send-ok.out 'lines[0]["record_id"]' 2> /dev/null || echo none)
expect send-ok send-ok.out 'lines[0]["result"]' ack

run 0 recv-ok "$MACX" recv $(client) --as la-london --count 1 --timeout 20 --json
expect recv-ok recv-ok.out 'len(lines)' 1
expect recv-ok recv-ok.out 'lines[0]["header"]["record_id"]' "$RID"
expect recv-ok recv-ok.out 'lines[0]["header"]["sender"]' mi5
expect recv-ok recv-ok.out 'lines[0]["header"]["recipients"]' "['la-london']"
expect recv-ok recv-ok.out 'lines[0]["header"]["case_id"]' C-OK
expect recv-ok recv-ok.out 'lines[0]["header"]["subject"]' S-1
expect recv-ok recv-ok.out 'lines[0]["header"]["record_type"]' share
expect recv-ok recv-ok.out 'lines[0]["header"]["phase"]' sharing
expect recv-ok recv-ok.out '[(m["name"], m["transform"]) for m in lines[0]["header"]["manifest"]]' \
    "[('subject_name', ''), ('dob', 'year_only')]"
expect recv-ok recv-ok.out 'lines[0]["signature"]' ok
expect recv-ok recv-ok.out 'lines[0]["payload"]["subject_name"]' "Ada Quill"
expect recv-ok recv-ok.out 'lines[0]["payload"]["dob"]' 1990

# The receipt travels after recv prints: wait for the broker to audit it.
delivered () {
    "$MACX" audit show data --json --event deliver > deliver.out 2> /dev/null
    grep -q "\"record_id\":\"$RID\"" deliver.out
}
wait_until 20 delivered || fail "no deliver audit entry for $RID within 20 s"
run 0 audit-ok "$MACX" audit show data --json
expect audit-ok audit-ok.out \
    "[(e['event'], e['decision'], e['agreement'], e['flow']) for e in lines if e['record_id'] == '$RID' and e['event'] == 'accept']" \
    "[('accept', 'permit', 'ISA-NMAC-LA-LONDON', 'S1')]"
expect audit-ok audit-ok.out \
    "[(e['recipient'], e['sender']) for e in lines if e['record_id'] == '$RID' and e['event'] == 'deliver']" \
    "[('la-london', 'mi5')]"

run 0 status-ok "$MACX" status $(client) --as mi5 --timeout 20 --json
expect status-ok status-ok.out 'lines[0]["accepted"] >= 1 and lines[0]["delivered"] >= 1' yes
expect status-ok status-ok.out 'lines[0]["mailboxes"]["la-london"]["depth"]' 0
expect status-ok status-ok.out 'lines[0]["mailboxes"]["la-london"]["inflight"]' 0

# ---- denied shares ----------------------------------------------------------
# kis_ref is intelligence-class: forbidden to every la-* (rule X1).
run 1 send-forbidden "$MACX" send $(client) --as mi5 --to la-london "${SHARE[@]}" --case C-DENY \
    --field subject_name="Ada Quill" --field kis_ref=K-1 --timeout 20 --json
has send-forbidden err "FIELD_FORBIDDEN"
has send-forbidden err "kis_ref"
FID=$(json send-forbidden.out 'lines[0]["record_id"]' 2> /dev/null || echo none)
expect send-forbidden send-forbidden.out 'lines[0]["reason"]' FIELD_FORBIDDEN

# la-london and ogd-dwp share no agreement.
run 1 send-noagr "$MACX" send $(client) --as la-london --to ogd-dwp "${SHARE[@]}" --case C-DENY \
    --field subject_name="Ada Quill" --timeout 20 --json
has send-noagr err "NO_AGREEMENT"
NID=$(json send-noagr.out 'lines[0]["record_id"]' 2> /dev/null || echo none)

# Nothing waits for either recipient.
run 1 recv-none "$MACX" recv $(client) --as la-london --count 1 --timeout 2 --json
[ ! -s recv-none.out ] || fail "la-london received a denied record: $(cat recv-none.out)"
run 1 recv-none-dwp "$MACX" recv $(client) --as ogd-dwp --count 1 --timeout 2 --json
[ ! -s recv-none-dwp.out ] || fail "ogd-dwp received a denied record: $(cat recv-none-dwp.out)"

run 0 audit-deny "$MACX" audit show data --json --event refuse
expect audit-deny audit-deny.out \
    "[(e['decision'], e['reason'], e['peer'], e['recipients']) for e in lines if e['record_id'] == '$FID']" \
    "[('deny', 'FIELD_FORBIDDEN', 'mi5', ['la-london'])]"
expect audit-deny audit-deny.out \
    "[(e['decision'], e['reason'], e['peer']) for e in lines if e['record_id'] == '$NID']" \
    "[('deny', 'NO_AGREEMENT', 'la-london')]"
run 0 audit-deny-accept "$MACX" audit show data --json --event accept
expect audit-deny-accept audit-deny-accept.out \
    "len([e for e in lines if e['record_id'] in ('$FID', '$NID')])" 0

run 0 status-deny "$MACX" status $(client) --as mi5 --timeout 20 --json
expect status-deny status-deny.out 'lines[0]["refused_by"].get("FIELD_FORBIDDEN")' 1
expect status-deny status-deny.out 'lines[0]["refused_by"].get("NO_AGREEMENT")' 1
expect status-deny status-deny.out 'lines[0]["accepted"]' 3   # the share and two case files
expect status-deny status-deny.out 'lines[0]["mailboxes"].get("ogd-dwp", {}).get("depth", 0)' 0

stop_broker
run 0 verify "$MACX" audit verify data --keys keys
finish broker.log
