#!/usr/bin/env bash
# broker_retry.sh -- "send it again later" holds: a broker whose store is full
# (--map-size 128K) refuses two large records STORE_UNAVAILABLE while small
# ones sent after them are accepted and move mi5's sequence on; `macx send`
# retries each with backoff and gives up (exit 1, "gave up after 7
# attempts"). Restarted with room (--map-size 8M, the same store), the two
# resent byte for byte are accepted, not SEQUENCE_REGRESSION; a different
# record at one of their sequences and one below them are still
# SEQUENCE_REGRESSION, and replays of accepted records REPLAY. A record the
# runtime seals is retried across a broker restart that frees space and is
# accepted (exit 0), once. `macx audit verify` passes on both stores.
# Usage: broker_retry.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

keys_init keys broker mi5 ctp
REC=(--to ctp --type case_file --phase identification --purpose mac_case_management
     --subject S-1 --field closure_category=closed)
BIG=$(head -c 100000 /dev/zero | tr '\0' a)   # ~100 KB: more than a 128K map has left

seal () {   # seal NAME SEQUENCE CASE NAME_VALUE
    "$MACX" record seal --keys keys --as mi5 --sequence "$2" --case "$3" "${REC[@]}" \
        --field subject_name="$4" --out "$1.rec" > "$1.seal" || fail "seal $1"
    sed -n 's/^sealed record \([0-9a-f]*\) .*/\1/p' "$1.seal"
}
BIG1=$(seal big1 1001 C-BIG1 "$BIG")
SMALL1=$(seal small1 1002 C-SMALL1 "Ada Quill")
BIG2=$(seal big2 1003 C-BIG2 "$BIG")
SMALL2=$(seal small2 1004 C-SMALL2 "Ada Quill")
OTHER2=$(seal other2 1003 C-OTHER2 "Ada Quill")   # big2's sequence, another record
OLD=$(seal old 1000 C-OLD "Ada Quill")           # below both, never refused

# refusals N: the broker has refused at least N batches for want of space.
refusals () { [ "$(grep -c 'store unavailable.*records=[1-9]' broker.log)" -ge "$1" ]; }
# gave_up N: `macx send --raw bigN.rec` (pid PN) retried and gave up.
gave_up () {
    local pid=P$1
    wait_exit "${!pid}" 40
    [ "$WAIT_RC" = 1 ] || fail "send big$1: exit $WAIT_RC, want 1: $(cat send-big$1.err)"
    has send-big$1 err "STORE_UNAVAILABLE"
    has send-big$1 err "gave up after 7 attempts"
    expect send-big$1 send-big$1.out 'lines[0]["reason"]' STORE_UNAVAILABLE
}

# ---- the store is full: large records refused, small ones after them not ----
start_broker broker.log data --map-size 128K || finish broker.log
AS_MI5=(--keys keys --broker "$EP" --as mi5 --timeout 30 --json)
"$MACX" send "${AS_MI5[@]}" --raw big1.rec > send-big1.out 2> send-big1.err &
P1=$!
PIDS+=("$P1")
wait_until 20 refusals 1 || fail "big1 was not refused STORE_UNAVAILABLE"
run 0 send-small1 "$MACX" send "${AS_MI5[@]}" --raw small1.rec
# The runtime retries big1 and gives up: exit 1 with the reason and the count.
gave_up 1
N=$(grep -c 'store unavailable.*records=[1-9]' broker.log)
"$MACX" send "${AS_MI5[@]}" --raw big2.rec > send-big2.out 2> send-big2.err &
P2=$!
PIDS+=("$P2")
wait_until 20 refusals $((N + 1)) || fail "big2 was not refused STORE_UNAVAILABLE"
run 0 send-small2 "$MACX" send "${AS_MI5[@]}" --raw small2.rec
gave_up 2
stop_broker

# ---- room again: the refused records are accepted as they are ---------------
start_broker broker2.log data --map-size 8M || finish broker.log broker2.log
# A gap admits only the record that left it; below it nothing new.
run 1 send-other2 "$MACX" send "${AS_MI5[@]}" --raw other2.rec
expect send-other2 send-other2.out 'lines[0]["reason"]' SEQUENCE_REGRESSION
run 1 send-old "$MACX" send "${AS_MI5[@]}" --raw old.rec
expect send-old send-old.out 'lines[0]["reason"]' SEQUENCE_REGRESSION
for n in 1 2; do
    run 0 resend-big$n "$MACX" send "${AS_MI5[@]}" --raw big$n.rec
    expect resend-big$n resend-big$n.out 'lines[0]["result"]' ack
    lacks resend-big$n err SEQUENCE_REGRESSION
done
# Replays of what was accepted, before and after the restart, are still replays.
for name in big1 small1 big2 small2; do
    run 1 replay-$name "$MACX" send "${AS_MI5[@]}" --raw $name.rec
    expect replay-$name replay-$name.out 'lines[0]["reason"]' REPLAY
done
run 0 status "$MACX" status "${AS_MI5[@]}"
expect status status.out 'lines[0]["gaps_filled"]' 2
run 0 audit "$MACX" audit show data --json --event accept
expect audit audit.out "sorted(e['record_id'] for e in lines)" \
    "$(python3 -c 'import sys; print(sorted(sys.argv[1:]))' "$BIG1" "$SMALL1" "$BIG2" "$SMALL2")"
lacks audit out "$OTHER2"
lacks audit out "$OLD"
stop_broker
run 0 verify "$MACX" audit verify data --keys keys

# ---- the runtime retries across a restart that frees space -------------------
rm -f broker.log
start_broker broker.log data-b --map-size 128K || finish broker.log
"$MACX" send --keys keys --broker "$EP" --as mi5 "${REC[@]}" --case C-RETRY \
    --field subject_name="$BIG" --timeout 30 --json > send-retry.out 2> send-retry.err &
P3=$!
PIDS+=("$P3")
wait_until 20 refusals 1 || fail "the runtime's record was not refused STORE_UNAVAILABLE"
stop_broker
start_broker broker3.log data-b --map-size 8M || finish broker.log broker3.log
wait_exit "$P3" 40
[ "$WAIT_RC" = 0 ] || fail "send with retries: exit $WAIT_RC, want 0: $(cat send-retry.err)"
expect send-retry send-retry.out 'lines[0]["result"]' ack
RID=$(json send-retry.out 'lines[0]["record_id"]' 2> /dev/null || echo none)
stop_broker
run 0 audit-b "$MACX" audit show data-b --json --event accept
expect audit-b audit-b.out "[e['record_id'] for e in lines]" "['$RID']"
run 0 verify-b "$MACX" audit verify data-b --keys keys
finish broker.log broker2.log broker3.log
