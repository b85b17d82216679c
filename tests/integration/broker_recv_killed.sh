#!/usr/bin/env bash
# broker_recv_killed.sh -- a receiver killed with SIGKILL in the middle of a
# stream sees at most one receipt window (64 records) again when it comes
# back with the same --state directory, and nothing is lost: 3000 records
# wait in its mailbox; `macx recv --state` prints each one (flushed before
# it is marked seen and receipted); it is killed at three points; the
# records printed by more than one run are the application's duplicates.
# Before the fix the runtime handed out a whole credit's worth (256) of
# queued records before it receipted any.
# Usage: broker_recv_killed.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

keys_init keys broker mi5 ctp
start_broker broker.log data || finish broker.log
N=3000
WINDOW=64   # the agent runtime's receipt_batch
run 0 fill "$MACX" send $(client) --as mi5 --to ctp --type case_file --phase identification \
    --purpose mac_case_management --case C-KILL --subject S-1 --field subject_name="Ada Quill" \
    --field closure_category=closed --repeat "$N" --timeout 60
has fill out "$N records: $N accepted, 0 refused, 0 unanswered"

# recv_until NAME LINES: a receiver, killed with SIGKILL once NAME.out has
# at least LINES lines (or it ends by itself). Its output goes through a
# slow reader (a line a millisecond), so the kill lands in the middle of
# the stream, with records printed and not yet receipted.
cat > slow.py <<'PY'
import sys, time
out = open(sys.argv[1], "w")
for line in sys.stdin:
    out.write(line)
    out.flush()
    time.sleep(0.001)
PY
recv_until () {
    local name=$1 lines=$2 pid
    "$MACX" recv $(client) --as ctp --state state --json --timeout 3 2> "$name.err" \
        | python3 slow.py "$name.out" &
    local reader=$!
    PIDS+=("$reader")
    sleep 0.2
    pid=$(pgrep -n -f -- "--state state --json --timeout 3") || true
    [ -n "$pid" ] || { fail "$name: no receiver"; return; }
    PIDS+=("$pid")
    have () { [ "$(wc -l < "$name.out")" -ge "$lines" ] || ! kill -0 "$pid" 2> /dev/null; }
    wait_until 60 have || fail "$name: fewer than $lines records within 60 s"
    kill -9 "$pid" 2> /dev/null || true
    wait "$reader" 2> /dev/null || true   # it drains what the receiver printed
    note "$name: killed after $(wc -l < "$name.out") records"
}
recv_until r1 700
recv_until r2 1500
recv_until r3 2300
run 0 r4 "$MACX" recv $(client) --as ctp --state state --json --timeout 3

cat r1.out r2.out r3.out r4.out > all.out
python3 - "$N" "$WINDOW" r1.out r2.out r3.out r4.out > counts <<'PY' || fail "duplicates or losses: $(cat counts)"
import json, sys
n, window = int(sys.argv[1]), int(sys.argv[2])
runs = [[json.loads(l)["header"]["record_id"] for l in open(f) if l.strip()] for f in sys.argv[3:]]
seen, worst, ok = set(), 0, True
for i, ids in enumerate(runs):
    again = sum(1 for r in ids if r in seen)
    print("run %d: %d records, %d seen before" % (i + 1, len(ids), again))
    worst = max(worst, again)
    seen.update(ids)
print("unique %d of %d; the most seen again after one kill: %d (window %d)" % (len(seen), n, worst, window))
sys.exit(0 if len(seen) == n and worst <= window else 1)
PY
note "$(tail -1 counts)"
stop_broker
finish broker.log
