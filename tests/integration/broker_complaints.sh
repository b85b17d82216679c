#!/usr/bin/env bash
# broker_complaints.sh -- manifest complaints (docs/audit.md "Complaints").
# A record whose manifest lies (`macx record seal --forge-manifest`: it
# declares fields its payload does not match) is accepted by the broker,
# which judges the header only; the recipient's own runtime (`macx recv`)
# refuses it and sends a signed complaint on its own, and the broker opens
# that one payload with the key the complaint discloses and audits an upheld
# `complaint` against the sender, naming what differs (names and transforms,
# never a value). Forged complaints -- a flipped signature, a wrong key, an
# honest record, a complainant that is not a recipient, a record the broker
# never accepted -- are audited `complaint_refused` with their reason and
# count against nobody: the sender's standing is unaffected. A complaint
# made twice is audited once. `macx audit show --event complaint` lists
# them, text and --json.
# Usage: broker_complaints.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

[ -x "${MACX_PEER:-}" ] || { echo "MACX_PEER is not set to the macx_peer tool" >&2; exit 1; }

keys_init keys broker mi5 ctp ogd-dwp
start_broker broker.log data || finish broker.log
REC=(--to ctp --type case_file --phase identification --purpose mac_case_management
     --subject S-1 --field subject_name="Ada Quill" --field closure_category=closed)
AS_MI5=(--keys keys --broker "$EP" --as mi5 --timeout 20 --json)

seal () {   # seal NAME SEQUENCE CASE [ARGS...]: a record from mi5 to ctp; prints its id
    local name=$1 seq=$2 case=$3
    shift 3
    "$MACX" record seal --keys keys --as mi5 --sequence "$seq" --case "$case" "${REC[@]}" "$@" \
        --out "$name.rec" > "$name.seal" 2> "$name.seal.err" || fail "seal $name"
    sed -n 's/^sealed record \([0-9a-f]*\) .*/\1/p' "$name.seal"
}

# The lie: a full date of birth declared year_only, an address not declared
# at all, a KIS reference declared and absent. Every field the header
# declares is one the agreement allows, so the broker accepts it.
LIE_FIELDS=(--field dob=1990-04-12 --field address="1 Test Row, Leeds")
HONEST=$(seal honest 1000 C-HONEST)
LIE=$(seal lie 1001 C-LIE "${LIE_FIELDS[@]}" \
      --forge-manifest subject_name,closure_category,dob:year_only,kis_ref)
UNSENT=$(seal unsent 1002 C-UNSENT "${LIE_FIELDS[@]}" --forge-manifest subject_name,closure_category)
has lie.seal err "warning: a forgery (--forge-manifest, for tests)"
# The forgery is what the header says: inspect shows the lying manifest,
# and the recipient's own check refuses it.
run 0 inspect-lie "$MACX" record inspect lie.rec --keys keys --json
expect inspect-lie inspect-lie.out "[(f['name'], f['transform']) for f in lines[0]['header']['manifest']]" \
    "[('subject_name', ''), ('closure_category', ''), ('dob', 'year_only'), ('kis_ref', '')]"
run 65 open-lie "$MACX" record inspect lie.rec --keys keys --as ctp
has open-lie err "field 'dob' is declared year_only but its value does not have that form"

run 0 send-honest "$MACX" send "${AS_MI5[@]}" --raw honest.rec
run 0 send-lie "$MACX" send "${AS_MI5[@]}" --raw lie.rec
ACCEPT_SEQ=$(json send-lie.out 'lines[0]["audit_seq"]')

# The recipient's runtime: the honest record is printed, the lying one
# refused, and a complaint goes to the broker by itself.
run 0 recv "$MACX" recv --keys keys --broker "$EP" --as ctp --timeout 3 --json
expect recv recv.out '[l["header"]["record_id"] for l in lines]' "['$HONEST']"
has recv err "delivery refused: field 'dob' is declared year_only but its value does not have that form (complaint sent to the broker)"

complaints () { "$MACX" audit show data --event "$1" --json > "$1.now" && [ "$(wc -l < "$1.now")" -ge "$2" ]; }
wait_until 20 complaints complaint 1 || fail "no complaint audited within 20 s"
run 0 show "$MACX" audit show data --event complaint --json
row="(e['event'], e['peer'], e['sender'], e['recipient'], e['record_id'], e['undeclared_fields'], e['absent_fields'], [(t['name'], t['transform']) for t in e['transform_mismatches']], e['payload_type'], e['accept_seq'], e['case_id'])"
expect show show.out "[$row for e in lines]" \
    "[('complaint', 'ctp', 'mi5', 'ctp', '$LIE', ['address'], ['kis_ref'], [('dob', 'year_only')], '', $ACCEPT_SEQ, 'C-LIE')]"
expect show show.out 'lines[0]["message"]' \
    "fields present but not declared: address; declared but absent: kis_ref; transform mismatch: dob declared year_only but its value has another form"
# The declared manifest stays on the entry, as the sender signed it.
expect show show.out "[f['name'] for f in lines[0]['manifest']]" \
    "['subject_name', 'closure_category', 'dob', 'kis_ref']"
run 0 show-text "$MACX" audit show data --event complaint
has show-text out "complaint mi5 -> ctp case_file identification case=C-LIE"
has show-text out "undeclared=address absent=kis_ref transform_mismatch=dob:year_only accept_seq=$ACCEPT_SEQ"
run 0 show-mi5 "$MACX" audit show data --event complaint --agency mi5 --json
expect show-mi5 show-mi5.out 'len(lines)' 1

# Forged complaints, each refused with its reason.
peer () {   # peer NAME AGENCY RECORD KEY [ARGS...]
    local name=$1 as=$2 rec=$3 key=$4
    shift 4
    run 0 "$name" "$MACX_PEER" complain --keys keys --broker "$EP" --as "$as" --record "$rec" \
        --key "$key" --drain 20 "$@"
}
peer forged-sig ctp lie.rec real --flip-signature
peer forged-key ctp lie.rec random
peer forged-honest ctp honest.rec real
peer forged-outsider ogd-dwp lie.rec random
peer forged-unsent ctp unsent.rec real
wait_until 20 complaints complaint_refused 5 || fail "5 refused complaints not audited within 20 s"
run 0 refused "$MACX" audit show data --event complaint_refused --json
rrow="(e['peer'], e['record_id'], e['reason'], e['sender'], e['accept_seq'] > 0)"
expect refused refused.out "[$rrow for e in lines]" \
    "[('ctp', '$LIE', 'BAD_SIGNATURE', '', False), ('ctp', '$LIE', 'COMPLAINT_KEY_INVALID', '', True), ('ctp', '$HONEST', 'COMPLAINT_UNFOUNDED', '', True), ('ogd-dwp', '$LIE', 'COMPLAINT_NOT_RECIPIENT', '', True), ('ctp', '$UNSENT', 'COMPLAINT_NOT_RECIPIENT', '', False)]"
expect refused refused.out '[e["message"] for e in lines][0]' "bad complaint signature from ctp"
expect refused refused.out '"the content key given does not open the payload" in lines[1]["message"]' yes
expect refused refused.out '"the payload matches its header" in lines[2]["message"]' yes
expect refused refused.out '"ogd-dwp is not a recipient of record '"$LIE"'" in lines[3]["message"]' yes
expect refused refused.out '"the broker accepted no record '"$UNSENT"'" in lines[4]["message"]' yes

# The sender's standing: no complaint but the genuine one names it, and
# its records are accepted as before.
run 0 standing "$MACX" audit show data --agency mi5 --json
expect standing standing.out "[e['event'] for e in lines if e['event'].startswith('complaint')]" \
    "['complaint']"
run 0 send-after "$MACX" send "${AS_MI5[@]}" "${REC[@]}" --case C-AFTER
expect send-after send-after.out 'lines[0]["result"]' ack

# The genuine complaint made again is not audited again.
peer again ctp lie.rec real
wait_until 20 grep -q 'complaint already upheld' broker.log || fail "the repeated complaint was not noticed"
run 0 show-again "$MACX" audit show data --event complaint --json
expect show-again show-again.out 'len(lines)' 1

# Only what differs reaches the audit log and the logs: never a payload
# value (the date, the address) nor the key.
run 0 export "$MACX" audit export data
for v in "1990-04-12" "Test Row" "Ada Quill"; do
    lacks export out "$v"
    if grep -qF -- "$v" broker.log; then fail "broker.log holds the payload value '$v'"; fi
done

run 64 show-typo "$MACX" audit show data --event complaints
has show-typo err "did you mean 'complaint'?"
stop_broker
run 0 verify "$MACX" audit verify data --keys keys
finish broker.log
