#!/usr/bin/env bash
# broker_forgery.sh -- records sealed offline (`macx record seal`) and put on
# the wire as they are (`macx send --raw`): a flipped signature byte and an
# altered header are refused BAD_SIGNATURE, a record sealed by ogd-dwp sent
# over mi5's connection SENDER_MISMATCH, the same record sent twice REPLAY,
# an older sequence SEQUENCE_REGRESSION; each refusal is audited (peer = the
# authenticated agency), only the genuine record is accepted and delivered,
# once.
# Usage: broker_forgery.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

keys_init keys broker mi5 ctp ogd-dwp
start_broker broker.log data || finish broker.log
REC=(--to ctp --type case_file --phase identification --purpose mac_case_management
     --subject S-1 --field subject_name="Ada Quill" --field closure_category=closed)

seal () {   # seal NAME AGENCY SEQUENCE CASE
    "$MACX" record seal --keys keys --as "$2" --sequence "$3" --case "$4" "${REC[@]}" \
        --out "$1.rec" > "$1.seal" || fail "seal $1"
    sed -n 's/^sealed record \([0-9a-f]*\) .*/\1/p' "$1.seal"
}
# flip FILE OFFSET: xor one byte (negative offsets count from the end).
flip () {
    python3 -c 'import sys
p, i = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, "rb").read()); b[i] ^= 0x01; open(p, "wb").write(bytes(b))' "$1" "$2"
}

GOOD=$(seal good mi5 1000 C-GOOD)
FORGED=$(seal forged mi5 1001 C-FORGED)
flip forged.rec -1            # the signature is the last field serialised
TAMPER=$(seal tamper mi5 1002 C-TAMPER)
python3 -c 'import sys
p = sys.argv[1]; b = open(p, "rb").read()
assert b.count(b"C-TAMPER") == 1
open(p, "wb").write(b.replace(b"C-TAMPER", b"C-TAMPEX"))' tamper.rec
SPOOF=$(seal spoof ogd-dwp 1003 C-SPOOF)
OLD=$(seal old mi5 999 C-OLD)
AS_MI5=(--keys keys --broker "$EP" --as mi5 --timeout 20 --json)

# The forgeries still decode (so the broker's answer is about the signature).
run 0 inspect-forged "$MACX" record inspect forged.rec --json

run 1 raw-forged "$MACX" send "${AS_MI5[@]}" --raw forged.rec
has raw-forged err "BAD_SIGNATURE"
has raw-forged err "$FORGED"
run 1 raw-tamper "$MACX" send "${AS_MI5[@]}" --raw tamper.rec
has raw-tamper err "BAD_SIGNATURE"
run 1 raw-spoof "$MACX" send "${AS_MI5[@]}" --raw spoof.rec
has raw-spoof err "SENDER_MISMATCH"
has raw-spoof err "ogd-dwp"
run 0 raw-good "$MACX" send "${AS_MI5[@]}" --raw good.rec
has raw-good out "\"record_id\":\"$GOOD\""
run 1 raw-replay "$MACX" send "${AS_MI5[@]}" --raw good.rec
has raw-replay err "REPLAY"
has raw-replay err "$GOOD"
run 1 raw-old "$MACX" send "${AS_MI5[@]}" --raw old.rec
has raw-old err "SEQUENCE_REGRESSION"
# A file that is not a sealed record is refused before anything is sent.
printf 'not a record' > junk.rec
run 65 raw-junk "$MACX" send "${AS_MI5[@]}" --raw junk.rec
run 66 raw-missing "$MACX" send "${AS_MI5[@]}" --raw nowhere.rec
run 64 raw-usage "$MACX" send "${AS_MI5[@]}" --raw good.rec --to ctp

# Only the genuine record reaches ctp, once.
run 1 recv "$MACX" recv --keys keys --broker "$EP" --as ctp --count 2 --timeout 3 --json
expect recv recv.out '[l["header"]["record_id"] for l in lines]' "['$GOOD']"

run 0 audit "$MACX" audit show data --json
row="(e['event'], e['decision'], e['reason'], e['peer'], e['sender'])"
expect audit audit.out "[$row for e in lines if e['record_id'] == '$FORGED']" \
    "[('refuse', 'deny', 'BAD_SIGNATURE', 'mi5', 'mi5')]"
expect audit audit.out "[$row for e in lines if e['record_id'] == '$TAMPER']" \
    "[('refuse', 'deny', 'BAD_SIGNATURE', 'mi5', 'mi5')]"
expect audit audit.out "[$row for e in lines if e['record_id'] == '$SPOOF']" \
    "[('refuse', 'deny', 'SENDER_MISMATCH', 'mi5', 'ogd-dwp')]"
expect audit audit.out "[$row for e in lines if e['record_id'] == '$OLD']" \
    "[('refuse', 'deny', 'SEQUENCE_REGRESSION', 'mi5', 'mi5')]"
expect audit audit.out "[$row for e in lines if e['record_id'] == '$GOOD' and e['event'] != 'deliver']" \
    "[('accept', 'permit', '', 'mi5', 'mi5'), ('refuse', 'deny', 'REPLAY', 'mi5', 'mi5')]"

# The agent's own records still go (its sequences are above 1000).
run 0 send-after "$MACX" send "${AS_MI5[@]}" "${REC[@]}" --case C-AFTER
stop_broker
run 0 verify "$MACX" audit verify data --keys keys
finish broker.log
