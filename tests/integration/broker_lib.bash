# broker_lib.bash -- sourced by tests/integration/broker_*.sh (not a test
# itself): arguments, scratch directory, failure bookkeeping, a free loopback
# port, starting and stopping real brokers, bounded polling, and a trap that
# kills every process a test started.
# Usage (from a test): source "$(dirname "$0")/broker_lib.bash" "$@"

set -euo pipefail

MACX=$1
case $MACX in */*) MACX=$(cd "$(dirname "$MACX")" && pwd)/$(basename "$MACX") ;; esac
SRC=$(cd "$2" && pwd)
S=$3
POLICY=$SRC/scenarios/baseline/policy
TEST=$(basename "$0" .sh)
rm -rf "$S"
mkdir -p "$S"
cd "$S"
T0=$SECONDS
failures=0

fail () { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
note () { echo "$TEST: $*" >&2; }

# Every background process a test starts goes in PIDS; the trap kills what is
# still alive, by pid, when the script exits for any reason.
PIDS=()
s_cleanup () {
    local p
    for p in "${PIDS[@]}"; do kill -9 "$p" 2> /dev/null || true; done
}
trap s_cleanup EXIT

# run WANT NAME CMD...: runs CMD (bounded to 90 s) with stdout in NAME.out and
# stderr in NAME.err; a failure if its exit code is not WANT.
run () {
    local want=$1 name=$2 rc=0
    shift 2
    timeout 90 "$@" > "$name.out" 2> "$name.err" || rc=$?
    if [ "$rc" != "$want" ]; then
        fail "$name: exit $rc, want $want: $*"
        sed 's/^/  stdout| /' "$name.out" | head -20 >&2
        sed 's/^/  stderr| /' "$name.err" | head -20 >&2
    fi
    return 0
}
# has NAME out|err TEXT: NAME.out or NAME.err contains TEXT.
has () { grep -qF -- "$3" "$1.$2" || fail "$1.$2 lacks '$3': $(head -c 600 "$1.$2")"; }
lacks () { ! grep -qF -- "$3" "$1.$2" || fail "$1.$2 has '$3'"; }

# json FILE EXPR: evaluates a python expression over the JSON lines of FILE
# (bound to `lines`, a list of dicts); prints the value; fails if it raises.
json () {
    python3 -c 'import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
v = eval(sys.argv[2])
print(v if not isinstance(v, bool) else ("yes" if v else "no"))' "$1" "$2"
}
# expect NAME FILE EXPR WANT
expect () {
    local got
    got=$(json "$2" "$3" 2>&1) || true
    [ "$got" = "$4" ] || fail "$1: $3 is '$got', want '$4'"
}

# wait_until SECONDS CMD...: polls CMD every 0.1 s until it succeeds; 1 on
# timeout.
wait_until () {
    local limit=$(( $1 * 10 )) i
    shift
    for ((i = 0; i < limit; i++)); do
        if "$@" > /dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    return 1
}

# wait_exit PID SECONDS: waits for a child to exit; sets WAIT_RC to its exit
# status, or 124 (after killing it) if it did not exit in time.
wait_exit () {
    local pid=$1 limit=$(( $2 * 10 )) i
    for ((i = 0; i < limit; i++)); do
        kill -0 "$pid" 2> /dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2> /dev/null; then
        kill -9 "$pid" 2> /dev/null || true
        wait "$pid" 2> /dev/null || true
        WAIT_RC=124
        return 0
    fi
    WAIT_RC=0
    wait "$pid" 2> /dev/null || WAIT_RC=$?
}

# A port nobody listens on, from a range derived from our pid so that tests
# running at the same time start apart.
free_port () {
    local base=$(( 20000 + ($$ * 37 + RANDOM) % 30000 )) p
    for ((p = base; p < base + 200; p++)); do
        if python3 -c 'import socket,sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$p" 2> /dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# start_broker LOG DATA [ARGS...]: starts `macx broker` on $EP (chosen on the
# first call, kept for restarts) with keys in ./keys and the baseline policy,
# stderr in LOG, and waits until it listens. Sets BROKER. Returns 1 (log
# shown) if it exits or does not listen within 20 s.
EP=
BROKER=
start_broker () {
    local log=$1 data=$2 attempt
    shift 2
    for attempt in 1 2 3; do
        if [ -z "$EP" ]; then EP=tcp://127.0.0.1:$(free_port); fi
        "$MACX" broker --keys keys --policy "$POLICY" --data "$data" --bind "$EP" "$@" \
            2> "$log" &
        BROKER=$!
        PIDS+=("$BROKER")
        if wait_until 20 grep -q 'msg="listening"' "$log"; then return 0; fi
        wait_exit "$BROKER" 5
        # Someone took the port between our check and the bind: another port.
        if grep -q 'Address already in use' "$log"; then EP=; continue; fi
        break
    done
    fail "broker did not start ($log):"
    sed 's/^/  | /' "$log" >&2
    return 1
}

# stop_broker [RC]: SIGTERM, then wait up to 30 s; a failure unless it exits
# with RC (default 0).
stop_broker () {
    local want=${1:-0}
    kill -TERM "$BROKER" 2> /dev/null || true
    wait_exit "$BROKER" 30
    [ "$WAIT_RC" = "$want" ] || fail "broker exit $WAIT_RC after SIGTERM, want $want"
}

# keys_init DIR AGENCY...: a key directory. An AGENCY is ID:KIND, or one of
# the tests' usual ids, whose kind this table gives (macx never reads a kind
# from an id: the tests declare it).
keys_init () {
    local dir=$1 a args=()
    shift
    for a in "$@"; do
        case $a in
            *:*) ;;
            broker) a=$a:broker ;;
            mi5) a=$a:mi5 ;;
            ctp | ctp-*) a=$a:ctp ;;
            la-*) a=$a:local_authority ;;
            ogd-*) a=$a:ogd ;;
            *) echo "keys_init: give $a as ID:KIND" >&2; return 1 ;;
        esac
        args+=(--agency "$a")
    done
    "$MACX" keys init "$dir" "${args[@]}" > /dev/null
}

# Options shared by every client: keys, broker, bounded waits.
client () { echo --keys keys --broker "$EP"; }

# open_case CASE [SUBJECT [SEND-ARGS...]]: MI5's case file to CTP in phase
# identification, the record that opens CASE at the broker: it refuses a
# record of a later phase for a case that has not reached the phase before
# (CASE_PHASE_NOT_REACHED, docs/policy.md "Case context"). The keys must
# hold mi5 and ctp. SEND-ARGS go to `macx send` (e.g. --state DIR).
open_case () {
    local c=$1 s=${2:-S-1}
    shift
    [ $# -gt 0 ] && shift
    "$MACX" send $(client) --as mi5 --to ctp --type case_file --phase identification \
        --purpose mac_case_management --case "$c" --subject "$s" \
        --field subject_name="Ada Quill" --field closure_category=closed "$@" > /dev/null \
        || fail "open_case $c: MI5's case file was not accepted"
}

# finish [LOG...]: the verdict; on failure shows the given logs.
finish () {
    local log
    if [ "$failures" != 0 ]; then
        echo "$TEST: $failures failure(s) after $((SECONDS - T0)) s" >&2
        for log in "$@"; do
            [ -f "$log" ] || continue
            echo "--- $log (last 40 lines)" >&2
            tail -40 "$log" | sed 's/^/  | /' >&2
        done
        exit 1
    fi
    echo "$TEST: ok ($((SECONDS - T0)) s)"
}
