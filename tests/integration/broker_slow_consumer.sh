#!/usr/bin/env bash
# broker_slow_consumer.sh -- a peer that asks and never reads its answers is
# a slow consumer: once the frames queued to it pass limits.peer_out_frames
# (64 here; the kernel's socket buffers fill first), the broker tells it
# SLOW_CONSUMER, disconnects it and audits it, and serves everyone else as
# before (a sender's 200 records all accepted, a receiver gets them all).
# peer_out_frames must be above max_credit, or a recipient taking its full
# credit would look slow: the broker refuses such a configuration.
# Usage: broker_slow_consumer.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

PEER=${MACX_PEER:-$(dirname "$MACX")/../tests/macx_peer}
[ -x "$PEER" ] || { fail "no macx_peer at '$PEER' (set MACX_PEER)"; finish; }
keys_init keys broker mi5 ctp la-london

run 78 bad-limits "$MACX" broker --keys keys --policy "$POLICY" --data data \
    --limit peer_out_frames=64
has bad-limits err "macx broker: limits: peer_out_frames (64) must be above max_credit (1024): a recipient taking its whole credit would be taken for a slow consumer"

start_broker broker.log data --no-sync --limit peer_out_frames=64 --limit max_credit=32 \
    || finish broker.log
run 0 ask "$PEER" askstats --keys keys --broker "$EP" --as la-london --seconds 8
cut () { grep -q 'msg="peer disconnected" agency=la-london reason=SLOW_CONSUMER' broker.log; }
wait_until 20 cut || fail "la-london, which never reads, was not disconnected as a slow consumer"
N=200
run 0 send "$MACX" send $(client) --as mi5 --to ctp --type case_file --phase identification \
    --purpose mac_case_management --case C-SLOW --subject S-1 --field subject_name="Ada Quill" \
    --field closure_category=closed --repeat "$N" --timeout 30
has send out "$N records: $N accepted, 0 refused, 0 unanswered"
run 0 recv "$MACX" recv $(client) --as ctp --count "$N" --timeout 20
[ "$(grep -c '^record ' recv.out)" = "$N" ] || fail "recv got $(grep -c '^record ' recv.out) of $N records"
stop_broker
run 0 audit "$MACX" audit show data --event disconnect --json
expect audited audit.out '[(e["peer"], e["reason"]) for e in lines][:1]' "[('la-london', 'SLOW_CONSUMER')]"
finish broker.log
