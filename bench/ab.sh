#!/bin/bash
# ab.sh -- two builds of macx side by side on this machine, in one session:
# the same workload (bench/peers/peer_bench --system macx: 1 KiB records, one
# sender, one receiver, durable and acknowledged) through each build's broker
# and client, in rounds that interleave the builds (the order alternating
# round by round, so a machine slowing down or speeding up weighs on both),
# each run on a fresh broker and store. Prints each run, then per mode the
# medians and the per-round ratios B/A of records/s, the broker's CPU per
# record (user + system, from /proc), the client's, the ACK and commit
# latencies. On a shared machine the CPU per record is the steadier figure.
#
#   bench/ab.sh A_BUILD B_BUILD         (build directories, or any directories
#                                        holding cli/macx and bench/peer_bench)
#   ROUNDS=8 RECORDS=30000 MODES="per-record batch" BATCH=256 bench/ab.sh build-old build
#
# Needs peer_bench in both (`make bench-peers` installs its libraries, or
# build with them present). Stops the brokers it started, by PID, on any exit.
set -eu

[ $# = 2 ] || { echo "usage: bench/ab.sh A_BUILD B_BUILD" >&2; exit 64; }
ROUNDS=${ROUNDS:-8}
RECORDS=${RECORDS:-30000}
MODES=${MODES:-per-record batch}
BATCH=${BATCH:-256}
SRC=$(cd "$(dirname "$0")/.." && pwd)
bin () {   # BUILD NAME: the binary, from a build directory or a flat one
    if [ -x "$1/cli/$2" ]; then echo "$1/cli/$2"; elif [ -x "$1/bench/$2" ]; then echo "$1/bench/$2"
    elif [ -x "$1/$2" ]; then echo "$1/$2"; else echo "ab: no $2 in $1" >&2; exit 69; fi
}
A_MACX=$(bin "$1" macx) A_BENCH=$(bin "$1" peer_bench)
B_MACX=$(bin "$2" macx) B_BENCH=$(bin "$2" peer_bench)

S=$(mktemp -d /tmp/macx-ab-XXXXXX)
BPID=""
cleanup () {
    if [ -n "$BPID" ]; then
        kill -TERM "$BPID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$BPID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$BPID" 2>/dev/null || true
    fi
    rm -rf "$S"
}
trap cleanup EXIT
trap 'echo "ab: interrupted" >&2; exit 130' INT TERM

# A port nobody listens on.
PORT=$((31000 + $$ % 20000))
while ss -Hltn "sport = :$PORT" | grep . > /dev/null; do PORT=$((PORT + 1)); done

"$A_MACX" keys init "$S/agents" --agency broker:broker --agency ogd-send1:ogd \
    --agency ogd-recv1:ogd > /dev/null
mkdir -m 700 "$S/keys"
mv "$S/agents/broker.secret" "$S/keys/"
cp "$S/agents/"*.pub "$S/keys/"
TICK=$(getconf CLK_TCK)

RUN=0
one () {   # LABEL MACX BENCH FLAGS...: one run, one line
    local label=$1 macx=$2 bench=$3 out cpu
    shift 3
    RUN=$((RUN + 1))
    "$macx" broker --bind "tcp://127.0.0.1:$PORT" --keys "$S/keys" --policy "$SRC/bench/policy" \
        --data "$S/data.$RUN" --map-size 4G --checkpoint-every 10000 --log-level warn \
        2> "$S/log.$RUN" &
    BPID=$!
    for _ in $(seq 100); do
        ss -Hltn "sport = :$PORT" | grep . > /dev/null && break
        sleep 0.1
    done
    out=$(/usr/bin/time -f "client_cpu_s=%U+%S" -o "$S/time.$RUN" "$bench" --system macx \
          --port "$PORT" --keys "$S/agents" --window 1000 --records "$RECORDS" "$@" < /dev/null)
    cpu=$(awk '{ print $14 + $15 }' "/proc/$BPID/stat")   # the broker's, the whole run
    kill -TERM "$BPID"
    wait "$BPID" || true
    BPID=""
    rm -rf "$S/data.$RUN"
    echo "$label $out broker_cpu_s=$(awk -v t="$cpu" -v k="$TICK" 'BEGIN { print t / k }') $(cat "$S/time.$RUN")"
}

echo "ab: A=$1 B=$2, $ROUNDS rounds of $RECORDS records, modes: $MODES" >&2
for r in $(seq "$ROUNDS"); do
    for mode in $MODES; do
        flags=""
        [ "$mode" = batch ] && flags="--batch $BATCH"
        if [ $((r % 2)) = 1 ]; then order="A B"; else order="B A"; fi
        for side in $order; do
            if [ "$side" = A ]; then m=$A_MACX b=$A_BENCH; else m=$B_MACX b=$B_BENCH; fi
            # shellcheck disable=SC2086
            one "round=$r mode=$mode build=$side" "$m" "$b" $flags | tee -a "$S/results"
        done
    done
done

python3 - "$S/results" "$RECORDS" <<'PY'
import statistics, sys
records = int(sys.argv[2])
runs = {}
for line in open(sys.argv[1]):
    d = dict(f.split("=", 1) for f in line.split() if "=" in f)
    client = sum(float(x) for x in d["client_cpu_s"].split("+"))
    runs.setdefault(d["mode"], {}).setdefault(d["build"], {})[int(d["round"])] = {
        "records/s": float(d["rate"]),
        "broker us/record": float(d["broker_cpu_s"]) * 1e6 / records,
        "client us/record": client * 1e6 / records,
        "ack p50 ms": int(d["ack_p50_us"]) / 1000,
        "commit p50 ms": int(d["commit_p50_us"]) / 1000,
    }
print()
for mode, by in runs.items():
    rounds = sorted(set(by["A"]) & set(by["B"]))
    print(f"{mode} ({len(rounds)} rounds): median A, median B, B/A median [min-max] of the rounds")
    for k in by["A"][rounds[0]]:
        a = [by["A"][r][k] for r in rounds]
        b = [by["B"][r][k] for r in rounds]
        q = [y / x for x, y in zip(a, b) if x]
        print(f"  {k:17s} {statistics.median(a):10.1f} {statistics.median(b):10.1f}   "
              f"{statistics.median(q):.3f} [{min(q):.3f}-{max(q):.3f}]")
PY
