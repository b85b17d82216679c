#!/usr/bin/env bash
# broker_retention_receipt.sh -- a recipient's copy and its retention
# receipts, on a live broker (the baseline policy; ISA-NMAC-LA-LONDON/S1
# keeps shares 365 days from receipt, then delete):
#   - `macx recv --json` prints the terms of its copy with the record, and
#     the delivery's audit entry carries them: the agreement and flow, its
#     legal bases, 365 days from the arrival, delete;
#   - retention receipts that fail are refused and audited
#     (retention_refused) with their reason, and change nothing: a flipped
#     signature byte, no signature, bytes that do not decode, another
#     agency's connection naming la-london (RETENTION_UNVERIFIED); ogd-dwp's
#     own receipt for a copy it was never given (RETENTION_NOT_HELD); review
#     or anonymise where the agreement says delete
#     (RETENTION_ACTION_MISMATCH); a time after the broker's clock
#     (CLOCK_SKEW);
#   - la-london's genuine receipt is audited as retention_deleted with its
#     signature; the copy is no longer held, so the same receipt again is
#     RETENTION_NOT_HELD;
#   - `macx audit subject` shows the copy deleted (and MI5's case file to
#     ctp, which is not connected, queued), `macx status` counts the
#     receipts, and the chain verifies.
# Usage: broker_retention_receipt.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

PEER=${MACX_PEER:-$(dirname "$MACX")/../tests/macx_peer}
[ -x "$PEER" ] || { fail "no macx_peer at '$PEER' (set MACX_PEER)"; finish; }

keys_init keys broker mi5 ctp la-london ogd-dwp
start_broker broker.log data || finish broker.log

open_case C-RET-1 S-RET-1   # MI5's case file to ctp (docs/policy.md "Case context")
run 0 send "$MACX" send $(client) --as mi5 --to la-london --type share --phase sharing \
    --purpose mac_case_management --subject S-RET-1 --case C-RET-1 \
    --field subject_name="Ada Quill" --field region=london --json
ID=$(json send.out 'lines[0]["record_id"]' 2> /dev/null || echo none)
run 0 recv "$MACX" recv $(client) --as la-london --count 1 --json
expect recv recv.out '(lines[0]["header"]["record_id"], lines[0]["terms"]["agreement"], lines[0]["terms"]["on_expiry"], lines[0]["terms"]["retention_days"])' \
    "('$ID', 'ISA-NMAC-LA-LONDON', 'delete', 365)"
delivered () { "$MACX" audit show data --event deliver --json | grep "$ID" > /dev/null; }
wait_until 20 delivered || fail "no deliver entry for $ID"

run 0 deliver "$MACX" audit show data --event deliver --json
expect terms deliver.out 'lines[0]["terms"]["agreement"] + "/" + lines[0]["terms"]["flow"]' \
    ISA-NMAC-LA-LONDON/S1
expect terms deliver.out 'lines[0]["terms"]["on_expiry"]' delete
expect terms deliver.out 'lines[0]["terms"]["expires_ms"] - lines[0]["arrive_ms"]' $((365 * 86400000))
expect terms deliver.out 'lines[0]["terms"]["receive_basis"]' \
    "UK GDPR 6(1)(e), 9(2)(g); DPA 2018 Sch 1 para 6"
expect terms deliver.out 'lines[0]["terms"]["disclose_basis"].startswith("Counter-Terrorism Act 2008")' yes

# receipt NAME AGENCY [macx_peer options...]: one retention receipt about $ID
receipt () {
    local name=$1 as=$2
    shift 2
    run 0 "$name" "$PEER" retention --keys keys --broker "$EP" --as "$as" --record "$ID" \
        --seconds 20 "$@"
}
receipt flip la-london --forge flip
receipt unsigned la-london --forge unsigned
receipt junk la-london --forge junk
receipt spoof ogd-dwp --forge agency=la-london
receipt stranger ogd-dwp
receipt review la-london --action review
receipt weaker la-london --action anonymised
receipt future la-london --at-ms $(( $(date +%s) * 1000 + 86400000 ))

run 0 refused "$MACX" audit show data --event retention_refused --json
expect refused refused.out '[(l["peer"], l["reason"]) for l in lines]' \
    "[('la-london', 'RETENTION_UNVERIFIED'), ('la-london', 'RETENTION_UNVERIFIED'), ('la-london', 'RETENTION_UNVERIFIED'), ('ogd-dwp', 'RETENTION_UNVERIFIED'), ('ogd-dwp', 'RETENTION_NOT_HELD'), ('la-london', 'RETENTION_ACTION_MISMATCH'), ('la-london', 'RETENTION_ACTION_MISMATCH'), ('la-london', 'CLOCK_SKEW')]"
expect refused refused.out '"signature does not verify" in lines[0]["message"]' yes
expect refused refused.out '"is not signed" in lines[1]["message"]' yes
expect refused refused.out '"does not decode" in lines[2]["message"]' yes
expect refused refused.out '"names agency '"'la-london'"' but the connection is '"'ogd-dwp'"'" in lines[3]["message"]' yes
expect refused refused.out '"asks '"'delete'"'" in lines[5]["message"]' yes
run 0 none-yet "$MACX" audit show data --event retention_deleted --json
[ ! -s none-yet.out ] || fail "a refused receipt deleted the copy: $(cat none-yet.out)"

receipt genuine la-london
run 0 deleted "$MACX" audit show data --event retention_deleted --json
expect deleted deleted.out '[(l["peer"], l["record_id"], l["subject"], l["agreement"]) for l in lines]' \
    "[('la-london', '$ID', 'S-RET-1', 'ISA-NMAC-LA-LONDON')]"
expect deleted deleted.out 'len(lines[0]["agency_signature"])' 128
expect deleted deleted.out 'lines[0]["terms"]["on_expiry"]' delete
receipt again la-london
run 0 refused2 "$MACX" audit show data --event retention_refused --json
expect again refused2.out '[l["reason"] for l in lines][-1]' RETENTION_NOT_HELD

run 0 subject "$MACX" audit subject data S-RET-1
has subject out "2 disclosures of 2 records: 1 deleted, 0 anonymised, 0 under review, 0 held (0 past expiry), 1 queued"
has subject out "ISA-NMAC-LA-LONDON/S1"
has subject out "retention receipts about these copies were refused"
run 0 subject-json "$MACX" audit subject data S-RET-1 --json
expect subject subject-json.out '[(d["recipient"], d["status"], d["refused_retention_receipts"]) for d in lines[0]["disclosures"]]' \
    "[('ctp', 'queued', 0), ('la-london', 'deleted', 3)]"
run 0 status "$MACX" status $(client) --as mi5 --json
expect status status.out 'lines[0]["retention"]' "{'receipts': 1, 'refused': 9}"

stop_broker
run 0 verify "$MACX" audit verify data --keys keys
finish broker.log
