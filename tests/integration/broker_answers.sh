#!/usr/bin/env bash
# broker_answers.sh -- the broker's signed answers, end to end: `macx send
# --json` prints the signed ACK or NACK (its record digest is BLAKE2b-256 of
# the record's bytes, the same the audit entry names), and `macx audit prove`
# accepts a genuine ACK, a genuine NACK and an answer from a tree of many; it
# refuses, each for its reason, an answer with its verdict flipped, its audit
# entry or reason changed, its signature or path altered, or no proof; a
# genuine answer against another broker's log (no such entry, or an entry of
# another record) and against a log tampered with after the fact (the chain
# is broken); and input that is not an answer, with the exit codes of its page.
# Usage: broker_answers.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

keys_init keys broker mi5 ctp la-london ogd-dwp
start_broker broker.log data || finish broker.log
# Each case opens with MI5's case file (docs/policy.md "Case context").
for c in C-RAW C-ACK C-TAMPER C-NACK C-MANY; do open_case "$c"; done
SHARE=(--type share --phase sharing --purpose mac_case_management --subject S-1)
OK=(--to la-london "${SHARE[@]}" --field subject_name="Ada Quill")

# alter IN OUT STATEMENT: OUT is the answer in IN with STATEMENT applied to
# it (a dict `a`), one JSON line.
alter () {
    python3 -c 'import json, sys
a = json.loads(open(sys.argv[1]).readline())
exec(sys.argv[3])
open(sys.argv[2], "w").write(json.dumps(a) + "\n")' "$1" "$2" "$3"
}
# prove WANT NAME DATA ANSWER: `macx audit prove` as text and as --json
# (NAME.out and NAME-json.out).
prove () {
    run "$1" "$2" "$MACX" audit prove "$3" "$4" --keys keys
    run "$1" "$2-json" "$MACX" audit prove "$3" "$4" --keys keys --json
}

# ---- a record sealed offline: the digest is of its bytes as sent ---------------
# (its sequence above those the case files took: the agent's are wall-clock
# microseconds)
"$MACX" record seal --keys keys --as mi5 --sequence "$(date +%s%6N)" --case C-RAW "${OK[@]}" \
    --out raw.rec > raw.seal || fail "record seal"
run 0 send-raw "$MACX" send $(client) --as mi5 --raw raw.rec --json --timeout 20
expect raw-digest send-raw.out \
    'lines[0]["record_digest"] == __import__("hashlib").blake2b(open("raw.rec", "rb").read(), digest_size=32).hexdigest()' yes
[ ! -s send-raw.err ] || fail "send --raw --json warned: $(cat send-raw.err)"

# ---- a genuine ACK and a genuine NACK --------------------------------------------
run 0 send-ack "$MACX" send $(client) --as mi5 --case C-ACK "${OK[@]}" --json --timeout 20
# (a subject of its own: its entry is the only one that names it)
run 0 send-tamper "$MACX" send $(client) --as mi5 --case C-TAMPER "${OK[@]}" --subject S-TAMPER \
    --json --timeout 20
run 1 send-nack "$MACX" send $(client) --as mi5 --to ogd-dwp "${SHARE[@]}" --case C-NACK \
    --field kis_ref=K-1 --json --timeout 20
for a in send-ack send-tamper send-nack; do
    if grep -q 'warning' "$a.err"; then fail "$a warned: $(cat "$a.err")"; fi
done
expect ack-json send-ack.out '(lines[0]["result"], lines[0]["agency"], lines[0]["proof"]["signer"])' \
    "('ack', 'mi5', 'broker')"
expect nack-json send-nack.out '(lines[0]["result"], lines[0]["reason"], lines[0]["agreement"])' \
    "('nack', 'REQUIRED_FIELD_MISSING', 'ISA-OGD-DWP')"
RID=$(json send-ack.out 'lines[0]["record_id"]')
NRID=$(json send-nack.out 'lines[0]["record_id"]')

# The audit entry names the same record digest.
run 0 show-ack "$MACX" audit show data --case C-ACK --event accept --json
[ "$(json show-ack.out "[l['record_digest'] for l in lines if l['record_id'] == '$RID']")" \
    = "['$(json send-ack.out 'lines[0]["record_digest"]')']" ] \
    || fail "the accept entry's record_digest is not the ACK's"

prove 0 prove-ack data send-ack.out
has prove-ack out "proven: the broker accepted record $RID from mi5 (audit entry"
has prove-ack out "fields     ok      entry"
expect prove-ack prove-ack-json.out '(lines[0]["proven"], [c["ok"] for c in lines[0]["checks"]])' \
    "(True, [True, True, True, True, True])"
prove 0 prove-nack data send-nack.out
has prove-nack out "proven: the broker refused record $NRID from mi5: REQUIRED_FIELD_MISSING"
expect prove-nack prove-nack-json.out 'lines[0]["proven"]' yes
run 0 prove-stdin bash -c '"$0" audit prove data - --keys keys < send-ack.out' "$MACX"
has prove-stdin out "proven: the broker accepted record $RID"

# ---- an answer from a tree of many: one signature, a path each -------------------
run 0 send-many "$MACX" send $(client) --as mi5 --case C-MANY "${OK[@]}" --repeat 20 --batch 20 \
    --answers many.jsonl --timeout 20
expect many many.jsonl '(len(lines), len(set(l["proof"]["signature"] for l in lines)))' "(20, 1)"
python3 -c 'import json, sys
for l in open("many.jsonl"):
    a = json.loads(l)
    if len(a["proof"]["path"]) >= 3:
        open("many-one.json", "w").write(l)
        break' || fail "no answer of the batch has a path of 3 hashes"
prove 0 prove-many data many-one.json
has prove-many out "answers is signed by broker"
has prove-many out "path hashes, to the signed root"

# ---- altered answers: each refused, and why -------------------------------------
# refused NAME CHECK FIELDS: the first failed check of NAME is CHECK; its fields
# check failed naming FIELDS on stderr ("": the fields check passed).
refused () {
    local name=$1 why=$2 fields=$3
    expect "$name" "$name-json.out" '(lines[0]["proven"], lines[0]["failed"])' "(False, '$why')"
    has "$name" err "macx audit prove: not proven ($why): "
    if [ -n "$fields" ]; then
        expect "$name" "$name-json.out" 'lines[0]["checks"][3]["ok"]' no
        has "$name" err "$fields"
    else
        expect "$name" "$name-json.out" 'lines[0]["checks"][3]["ok"]' yes
    fi
}
alter send-ack.out flip-ack.json 'a["result"] = "nack"; a["reason"] = "NO_FLOW"'
prove 1 prove-flip-ack data flip-ack.json
refused prove-flip-ack path "differs from the answer in verdict: the log says accept (permit), the answer refuse"
has prove-flip-ack out "path       FAILED  answer 1 of 1: its fields and inclusion path do not lead to the signed root"
alter send-nack.out flip-nack.json 'a["result"] = "ack"; [a.pop(k) for k in ("reason", "message", "agreement", "flow")]'
prove 1 prove-flip-nack data flip-nack.json
refused prove-flip-nack path "differs from the answer in verdict: the log says refuse (deny), the answer accept"
alter send-nack.out reason-nack.json 'a["reason"] = "NO_FLOW"'
prove 1 prove-reason data reason-nack.json
refused prove-reason path "differs from the answer in reason: the log says REQUIRED_FIELD_MISSING, the answer NO_FLOW"
alter send-ack.out seq-ack.json 'a["audit_seq"] = a["audit_seq"] + 1'
prove 1 prove-seq data seq-ack.json
refused prove-seq path "differs from the answer in"
alter send-ack.out sig-ack.json 'a["proof"]["signature"] = ("0" if a["proof"]["signature"][0] != "0" else "1") + a["proof"]["signature"][1:]'
prove 1 prove-sig data sig-ack.json
refused prove-sig signature ""
has prove-sig err "does not verify with broker's key"
alter many-one.json path-many.json 'p = a["proof"]["path"]; p[1] = ("0" if p[1][0] != "0" else "1") + p[1][1:]'
prove 1 prove-path data path-many.json
refused prove-path path ""
alter send-ack.out unsigned-ack.json 'a.pop("proof")'
prove 1 prove-unsigned data unsigned-ack.json
refused prove-unsigned signature ""
has prove-unsigned err "the answer carries no proof: it is not signed"

# ---- not an answer, and usage ---------------------------------------------------
printf '{"result":"ack"' > torn.json
run 65 prove-torn "$MACX" audit prove data torn.json --keys keys
has prove-torn err "macx audit prove: torn.json: not an answer: "
alter send-ack.out nodigest.json 'a.pop("record_digest")'
run 65 prove-nodigest "$MACX" audit prove data nodigest.json --keys keys
has prove-nodigest err "field 'record_digest' must be 64 hex digits"
alter send-ack.out badtime.json 'a["time"] = "2001-01-01T00:00:00.000Z"'
run 65 prove-badtime "$MACX" audit prove data badtime.json --keys keys
has prove-badtime err "field 'time' says 2001-01-01T00:00:00.000Z but clock_ms"
run 66 prove-nofile "$MACX" audit prove data no-such.json --keys keys
run 66 prove-nostore "$MACX" audit prove nowhere send-ack.out --keys keys
run 66 prove-nobroker "$MACX" audit prove data send-ack.out --keys keys --broker-id nobody
run 64 prove-noanswer "$MACX" audit prove data --keys keys
has prove-noanswer err "missing ANSWER"
run 64 prove-nokeys "$MACX" audit prove data send-ack.out
for f in prove-torn prove-nodigest prove-nofile prove-noanswer; do
    [ ! -s $f.out ] || fail "$f wrote to stdout"
done
stop_broker

# ---- a genuine answer against another broker's log ------------------------------
start_broker broker2.log data2 || finish broker.log broker2.log
open_case C-OTHER
run 0 send-other "$MACX" send $(client) --as mi5 --case C-OTHER "${OK[@]}" --repeat 8 --timeout 20
stop_broker
prove 1 prove-other data2 send-ack.out
refused prove-other fields "differs from the answer in record_id"
tail -1 many.jsonl > many-last.json
prove 1 prove-beyond data2 many-last.json
expect prove-beyond prove-beyond-json.out '(lines[0]["failed"], lines[0]["checks"][0]["ok"])' \
    "('entry', True)"
has prove-beyond err "no audit entry"

# ---- a log changed after the fact: the chain is broken ---------------------------
run 0 verify-before "$MACX" audit verify data --keys keys
prove 0 prove-tamper-before data send-tamper.out
python3 - data/data.mdb <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
i = b.find(b'S-TAMPER')
assert i >= 0
while i >= 0:
    b[i + 2] ^= 0x01
    i = b.find(b'S-TAMPER', i + 1)
open(p, 'r+b').write(bytes(b))
PY
prove 1 prove-tamper data send-tamper.out
refused prove-tamper chain ""
has prove-tamper err "the audit chain is broken at entry $(json send-tamper.out 'lines[0]["audit_seq"]'), at or before the answer's"
# an answer before the change still proves, and says the log is broken later
prove 0 prove-ack-after data send-ack.out
has prove-ack-after out "the log is broken later, at entry"

finish broker.log broker2.log
