#!/usr/bin/env bash
# broker_soak.sh -- issue 9's soak: one well-behaved agency (mi5, records at
# a fixed rate) against, all at once, a peer that floods valid records and
# never reads (la-london), one that sends bad signatures and reads the
# refusals, at 3000/s, under its queue's limit so that every one costs a
# verify for the whole run (ogd-dwp), one that floods them as fast as it can
# and never reads (ogd-probation, cut at once), one
# that claims a huge credit and repeats huge grants while records pile up
# for it (ctp) and one that never reads its deliveries (la-manchester).
# Checks: mi5 keeps at least half its idle rate, every record answered (its
# p99 is printed, and checked under 50 ms only with SOAK_P99_MS=50: make soak); the
# broker's RssAnon stays under the bound its limits give (below) and comes
# back down after; `macx status` answers within 1 s during the attack, with
# the credit capped; the flooders are disconnected with their reasons and
# audited; SIGTERM during the attack ends the broker within 1 s, exit 0;
# `macx audit verify` passes. Loopback only, about a minute.
#
# The broker runs with --no-sync unless SOAK_SYNC=1: what this measures is
# how the broker shares itself between peers; with an fsync per commit the
# p99 is the disk's (on a shared CI disk under load, fsync alone takes
# 0.1-1 s at p99, with or without the attack).
# Usage: broker_soak.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
# (MACX_PEER: tests/tools/macx_peer; SOAK_RATE: mi5's rate, default 400/s;
# SOAK_P99_MS: fail when mi5's p99 under attack is not below it)
source "$(dirname "$0")/broker_lib.bash" "$@"

PEER=${MACX_PEER:-$(dirname "$MACX")/../tests/macx_peer}
[ -x "$PEER" ] || { fail "no macx_peer at '$PEER' (set MACX_PEER)"; finish; }
RATE=${SOAK_RATE:-400}
# Under ASan and UBSan (CI runs every integration test so) the broker is
# several times slower and the sanitizer keeps freed memory in quarantine:
# the rate, p99 and memory figures mean nothing there, and are measured in
# the plain build. Everything else (limits, disconnects, audit, status and
# SIGTERM within a second) is checked in both.
SANITIZED=0
SYMS=$( (nm -D "$MACX"; nm "$MACX") 2> /dev/null || true)
case $SYMS in
*" __asan_init"* | *" __ubsan_handle"*)
    SANITIZED=1
    note "a sanitizer build: rate, p99 and RssAnon are reported, not checked" ;;
esac
IDLE_S=5
ATTACK_S=15

keys_init keys broker mi5 ctp la-london la-manchester ogd-dwp ogd-probation ogd-health
# The baseline policy without its daily caps (200 a day to la-manchester).
mkdir policy
cp -r "$POLICY"/. policy/
sed -i '/max_per_day/d' policy/agreements/*.yaml
POLICY=$S/policy

# Tighter limits than the defaults, so that the bound means something.
PQ_FRAMES=1024 PQ_BYTES=$((1 << 20)) OUT_FRAMES=1024 INFLIGHT=$((1 << 20)) MAX_CREDIT=512
LIMITS=(--limit peer_queue_frames=$PQ_FRAMES --limit peer_queue_bytes=1M
        --limit peer_out_frames=$OUT_FRAMES --limit max_inflight_bytes=1M
        --limit max_credit=$MAX_CREDIT --workers 2)
# (A broker from before the limits existed has no --limit: its defaults,
# so that this test can show what it measured there.)
# (the help is read whole first: `| grep -q` under pipefail fails when grep
# stops reading early)
HELP=$("$MACX" broker --help)
case $HELP in
*"--limit NAME"*) ;;
*) note "this broker has no --limit: its own defaults"; LIMITS=(--workers 2) ;;
esac
SYNC=(--no-sync)
[ "${SOAK_SYNC:-0}" = 1 ] && SYNC=()
start_broker broker.log data "${LIMITS[@]}" "${SYNC[@]}" || finish broker.log

rss_kb () { awk '/^RssAnon:/ { print $2 }' "/proc/$BROKER/status" 2> /dev/null || echo 0; }
ms_now () { echo $(( $(date +%s%N) / 1000000 )); }
AS=(--keys keys --broker "$EP")
# One case for every peer's records, opened by MI5's case file and shared
# with la-london, so that the broker's case context (docs/policy.md "Case
# context") accepts mi5's shares and la-london's enrichments.
open_case C-SOAK
run 0 share-soak "$MACX" send $(client) --as mi5 --to la-london --type share --phase sharing \
    --purpose mac_case_management --case C-SOAK --subject S-1 --field subject_name="Ada Quill"
AS+=(--case C-SOAK)
GOOD=(good "${AS[@]}" --as mi5 --to ctp,la-manchester --type share --rate "$RATE")

# ---- idle: mi5 alone ---------------------------------------------------------
"$PEER" "${GOOD[@]}" --seconds 2 > warm.json 2> warm.err   # first sessions, pair keys
"$PEER" "${GOOD[@]}" --seconds "$IDLE_S" > idle.json 2> idle.err
BASE_KB=$(rss_kb)
IDLE_RATE=$(json idle.json 'lines[0]["ack_rate"]')
IDLE_P99=$(json idle.json 'lines[0]["p99_ms"]')
note "idle: ${IDLE_RATE}/s, p99 ${IDLE_P99} ms, RssAnon ${BASE_KB} kB"

# The memory bound, from the limits (docs/operations.md, "Limits"), over the
# RssAnon after the idle phase:
#   P x (peer_queue_bytes + peer_queue_frames x J)      frames read, waiting
# + P x peer_out_frames x F                             frames to send, waiting
# + P x 1000 x F                                        libzmq's inbound pipe (RCVHWM)
# + R x max_inflight_bytes                              deliveries outstanding
# + 2 x verify_inflight chains of up to 64 records x (J + F)   at the verifiers
# + (core's 2 x batch_max + 128) x (J + F)             in core
# + 8 MiB                                               allocator and libzmq slack
# P = 7 connections, R = 2 recipients with credit, J = 1 KiB (a job), F = 1 KiB
# (the largest frame these peers send or are sent, bar one Acks per batch).
P=7 R=2 J=1024 F=1024 VERIFY=$((2 * 8 * 64)) CORE=$((2 * 512 + 128))
BOUND_KB=$(( BASE_KB + ( P * (PQ_BYTES + PQ_FRAMES * J) + P * OUT_FRAMES * F + P * 1000 * F
             + R * INFLIGHT + (VERIFY + CORE) * (J + F) + (8 << 20) ) / 1024 ))

# hostile NAME SECONDS: the four hostile peers, in the background.
hostile () {
    local tag=$1 secs=$2
    "$PEER" flood "${AS[@]}" --as la-london --to ctp --type enrichment --seconds "$secs" \
        > "flood$tag.json" 2> "flood$tag.err" &
    PIDS+=($!)
    "$PEER" badsig "${AS[@]}" --as ogd-dwp --to ctp --type enrichment --read --rate 3000 --seconds "$secs" \
        > "badsig$tag.json" 2> "badsig$tag.err" &
    PIDS+=($!)
    "$PEER" badsig "${AS[@]}" --as ogd-probation --to ctp --type enrichment --seconds "$secs" \
        > "badflood$tag.json" 2> "badflood$tag.err" &
    PIDS+=($!)
    "$PEER" credit "${AS[@]}" --as ctp --rate 1000 --seconds "$secs" > "credit$tag.json" 2>&1 &
    PIDS+=($!)
    "$PEER" noread "${AS[@]}" --as la-manchester --seconds "$secs" > "noread$tag.json" 2>&1 &
    PIDS+=($!)
    wait_until 20 grep -q sending "flood$tag.err" || fail "flood$tag did not start"
    wait_until 20 grep -q sending "badsig$tag.err" || fail "badsig$tag did not start"
    wait_until 20 grep -q sending "badflood$tag.err" || fail "badflood$tag did not start"
}

# ---- attack: mi5 at the same rate, the four at once ---------------------------
( while kill -0 "$BROKER" 2> /dev/null; do
      echo "$(ms_now) $(awk '/^RssAnon:/ { print $2 }' "/proc/$BROKER/status" 2> /dev/null)"
      sleep 0.2
  done ) > rss.log &
SAMPLER=$!
PIDS+=("$SAMPLER")
T_ATTACK=$(ms_now)
hostile "" $((ATTACK_S + 4))
sleep 1
"$PEER" "${GOOD[@]}" --seconds "$ATTACK_S" > attack.json 2> attack.err &
GOOD_PID=$!
PIDS+=("$GOOD_PID")
STATUS_MAX=0
for i in 1 2 3; do
    sleep 3
    t=$(ms_now)
    run 0 "status$i" timeout 5 "$MACX" status --keys keys --as ogd-health --broker "$EP" \
        --timeout 2 --json
    ms=$(( $(ms_now) - t ))
    (( ms > STATUS_MAX )) && STATUS_MAX=$ms
done
wait "$GOOD_PID" || fail "mi5 exited $?"
T_END=$(ms_now)
note "attack: $(cat attack.json)"
ATTACK_RATE=$(json attack.json 'lines[0]["ack_rate"]')
ATTACK_P99=$(json attack.json 'lines[0]["p99_ms"]')
if [ "$SANITIZED" = 0 ]; then
    expect attack-rate attack.json "lines[0]['ack_rate'] >= 0.5 * $IDLE_RATE" yes
fi
# The p99 is a performance target, and a test that measures the machine's
# load flakes (on CI's two shared cores the attack's p99 has ranged from 19
# to 155 ms with the code unchanged): it is printed here and checked by
# `make soak` (SOAK_P99_MS=50), run on a machine whose load you know.
if [ -n "${SOAK_P99_MS:-}" ] && [ "$SANITIZED" = 0 ]; then
    expect attack-p99 attack.json "lines[0]['p99_ms'] < $SOAK_P99_MS" yes
else
    note "attack p99 ${ATTACK_P99} ms (reported; SOAK_P99_MS=50 checks it: make soak)"
fi
expect attack-lost attack.json "(lines[0]['unanswered'], lines[0]['nacked'], lines[0]['errors'])" \
    "(0, 0, 0)"
(( STATUS_MAX < 1000 )) || fail "macx status took $STATUS_MAX ms during the attack (want < 1000)"
# The credit is capped (never stacked) and what is in flight stays in bounds.
mbox='lines[0]["mailboxes"]'
expect credit-cap status3.out "$mbox['ctp']['credit'] <= $MAX_CREDIT and $mbox['ctp']['inflight'] <= $MAX_CREDIT" yes
expect credit-bytes status3.out "$mbox['ctp']['inflight_bytes'] <= $INFLIGHT + 65536" yes
expect noread-bytes status3.out "$mbox['la-manchester']['inflight_bytes'] <= $INFLIGHT + 65536" yes
for p in flood badsig badflood credit noread; do wait_until 15 test -s "$p.json" || fail "$p did not end"; done

# RssAnon: its peak during the attack, then back down once the peers are gone.
PEAK_KB=$(awk -v t0="$T_ATTACK" '$1 >= t0 && $2 > m { m = $2 } END { print m + 0 }' rss.log)
[ "$SANITIZED" = 1 ] || (( PEAK_KB < BOUND_KB )) \
    || fail "RssAnon peaked at $PEAK_KB kB, over the bound of $BOUND_KB kB"
# Back down: what the allocator keeps of freed memory (8 MiB at most), not
# what the peers' traffic held.
BACK_KB=$(( BASE_KB + 8192 ))
kill -0 "$BROKER" 2> /dev/null || fail "the broker died during the attack"
[ "$SANITIZED" = 1 ] \
    || wait_until 10 bash -c "(( \$(awk '/^RssAnon:/ { print \$2 }' /proc/$BROKER/status) <= $BACK_KB ))" \
    || fail "RssAnon did not come back down: $(rss_kb) kB, want <= $BACK_KB kB (idle $BASE_KB)"
AFTER_KB=$(rss_kb)
note "RssAnon: idle $BASE_KB kB, attack peak $PEAK_KB kB (bound $BOUND_KB kB), after $AFTER_KB kB"

# The flooders were told, disconnected and audited, each with its reason.
run 0 audit "$MACX" audit show data --json
cut='sorted(set((e["peer"], e["reason"]) for e in lines if e["event"] == "disconnect"))'
note "disconnects: $(json audit.out "$cut")"
expect cut-flood audit.out "('la-london', 'PEER_OVERLOADED') in $cut or ('la-london', 'SLOW_CONSUMER') in $cut" yes
expect cut-badflood audit.out "('ogd-probation', 'PEER_OVERLOADED') in $cut or ('ogd-probation', 'SLOW_CONSUMER') in $cut" yes
# The paced one is refused, each refusal audited. On a machine loaded enough
# that the verifiers fall behind its 3000/s it goes over its queue and is
# cut too: how many it got refused first depends on the machine, not on the
# broker, so the audit is checked against its own count.
NACKED=$(json badsig.json 'lines[0]["nacked"]')
expect badsig-nacked badsig.json "lines[0]['nacked'] >= 1 and lines[0]['first_nack'] == 'BAD_SIGNATURE'" yes
expect badsig-refused audit.out "sum(1 for e in lines if e['peer'] == 'ogd-dwp' and e['reason'] == 'BAD_SIGNATURE') >= $NACKED" yes
expect cut-good audit.out "[e for e in lines if e['event'] == 'disconnect' and e['peer'] == 'mi5']" "[]"

# ---- SIGTERM in the middle of an attack -----------------------------------------
hostile -term 20
"$PEER" "${GOOD[@]}" --seconds 20 > term-good.json 2> term-good.err &
PIDS+=($!)
sleep 3
t=$(ms_now)
kill -TERM "$BROKER"
wait_exit "$BROKER" 10
TERM_MS=$(( $(ms_now) - t ))
[ "$WAIT_RC" = 0 ] || fail "broker exit $WAIT_RC after SIGTERM during the attack, want 0"
(( TERM_MS < 1000 )) || fail "broker took $TERM_MS ms to exit after SIGTERM (want < 1000)"
note "status answered in at most $STATUS_MAX ms; SIGTERM to exit $TERM_MS ms"
run 0 verify "$MACX" audit verify data --keys keys

note "SOAK idle_rate=$IDLE_RATE idle_p99_ms=$IDLE_P99 attack_rate=$ATTACK_RATE attack_p99_ms=$ATTACK_P99 rss_base_kb=$BASE_KB rss_peak_kb=$PEAK_KB rss_bound_kb=$BOUND_KB rss_after_kb=$AFTER_KB status_ms=$STATUS_MAX sigterm_ms=$TERM_MS"
finish broker.log
