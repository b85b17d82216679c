#!/usr/bin/env bash
# broker_crash.sh -- `kill -9` of the broker in the middle of a stream of
# 10,000 records (mi5 -> ctp, `macx send --repeat`), restart on the same data
# directory and port: the sender's agent reconnects and re-sends what was not
# ACKed, the receiver (`macx recv --state`) gets redeliveries and drops
# duplicates. Then every ACKed record id reaches the application exactly once,
# every accepted record is accepted once, and after a clean SIGTERM of the
# restarted broker `macx audit verify` passes with no unsigned tail.
# SEND_EXTRA adds options to the sender (broker_crash_batch.sh: batch
# signatures, where the broker must then show roots verified and reused).
# Usage: broker_crash.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

N=10000
RATE=2500          # records/s: the stream lasts about 4 s, the kill comes near 1 s
KILL_AT=2000       # accepted records in the audit before the kill

keys_init keys broker mi5 ctp
start_broker broker1.log data || finish broker1.log

"$MACX" recv $(client) --as ctp --state recv-state --count "$N" --timeout 60 --json \
    > recv.out 2> recv.err &
RECV=$!
PIDS+=("$RECV")
"$MACX" send $(client) --as mi5 --to ctp --type case_file --phase identification \
    --purpose mac_case_management --case C-STREAM --subject S-1 \
    --field subject_name="Ada Quill" --field closure_category=closed \
    --repeat "$N" --rate "$RATE" --acked acked.txt --timeout 60 --json ${SEND_EXTRA:-} \
    > send.out 2> send.err &
SEND=$!
PIDS+=("$SEND")

accepted () { "$MACX" audit show data --event accept 2> /dev/null | wc -l; }
enough () { [ "$(accepted)" -ge "$KILL_AT" ]; }
wait_until 60 enough || fail "fewer than $KILL_AT records accepted within 60 s"
kill -9 "$BROKER"
wait_exit "$BROKER" 10
[ "$WAIT_RC" = 137 ] || fail "broker exit $WAIT_RC after kill -9, want 137"
AT_KILL=$(accepted)
ENTRIES=$("$MACX" audit show data | wc -l)
note "killed the broker with $AT_KILL of $N records accepted"
[ "$AT_KILL" -lt "$N" ] || fail "the stream ended before the kill ($AT_KILL accepted)"

start_broker broker2.log data || finish broker1.log broker2.log
# The restarted broker chains on from the last entry committed before the kill.
grep -q "msg=\"store open\" .* audit_seq=$((ENTRIES + 1)) " broker2.log \
    || fail "restarted broker does not resume after entry $ENTRIES: $(head -1 broker2.log)"

wait_exit "$SEND" 120
[ "$WAIT_RC" = 0 ] || fail "sender exit $WAIT_RC, want 0: $(cat send.out send.err | head -20)"
wait_exit "$RECV" 120
[ "$WAIT_RC" = 0 ] || fail "receiver exit $WAIT_RC, want 0: $(head -5 recv.err)"

python3 - "$N" > check.out 2>&1 <<'PY' || fail "delivery check: $(cat check.out)"
import json, sys
n = int(sys.argv[1])
acked = [l.strip() for l in open('acked.txt') if l.strip()]
got = [json.loads(l)['header']['record_id'] for l in open('recv.out') if l.strip()]
problems = []
if len(set(acked)) != len(acked):
    problems.append('%d ids ACKed twice' % (len(acked) - len(set(acked))))
if len(acked) != n:
    problems.append('%d of %d records ACKed' % (len(acked), n))
if len(got) != len(set(got)):
    problems.append('%d duplicates reached the application' % (len(got) - len(set(got))))
lost = set(acked) - set(got)
if lost:
    problems.append('%d ACKed records never delivered, e.g. %s' % (len(lost), sorted(lost)[:3]))
extra = set(got) - set(acked)
if extra:
    problems.append('%d records delivered that were never ACKed' % len(extra))
print('acked %d, delivered %d (%d unique)' % (len(acked), len(got), len(set(got))))
if problems:
    print('; '.join(problems))
    sys.exit(1)
PY
note "$(head -1 check.out)"

run 0 send-summary cat send.out
expect send-summary send.out '(lines[0]["acked"], lines[0]["refused"], lines[0]["unanswered"])' \
    "($N, 0, 0)"
# Every record accepted once in the audit, and delivered (receipted) once.
drained () {
    "$MACX" audit show data --json --event deliver > deliver.out 2> /dev/null
    [ "$(wc -l < deliver.out)" -ge "$N" ]
}
wait_until 30 drained || fail "fewer than $N deliver entries 30 s after the receiver finished"
run 0 accept "$MACX" audit show data --json --event accept
expect accept accept.out 'len(lines) == len(set(e["record_id"] for e in lines))' yes
expect accept accept.out 'len(lines)' "$N"
expect deliver deliver.out 'len(set(e["record_id"] for e in lines))' "$N"
run 0 status "$MACX" status $(client) --as mi5 --timeout 20 --json
expect status status.out 'lines[0]["mailboxes"]["ctp"]["depth"]' 0
if [ -n "${SEND_EXTRA:-}" ]; then
    # batch-signed: after the restart each root was checked once, then reused
    expect status status.out 'lines[0]["batch_roots"]["verified"] > 0 and lines[0]["batch_roots"]["cached"] > lines[0]["batch_roots"]["verified"]' yes
fi

stop_broker
run 0 verify "$MACX" audit verify data --keys keys --json
expect verify verify.out '(lines[0]["intact"], lines[0]["unsigned_tail"])' "(True, 0)"
finish broker1.log broker2.log send.err recv.err
