#!/bin/bash
# run.sh -- `make bench-peers`: macx beside NATS JetStream, Mosquitto and
# RabbitMQ in one run on this machine. Starts each server on loopback-only
# ports with its data in a scratch directory, runs the same workload through
# each (bench/peers/peer_bench: 1 KiB, one publisher, one consumer, durable
# and acknowledged), in rounds that interleave the systems, measures whether
# each server fsyncs before it acknowledges (strace on the server), prints
# one table, and stops everything it started, by recorded PID, on any exit.
#
#   BUILD=build ROUNDS=5 RECORDS=20000 WINDOW=1000 bench/peers/run.sh
#
# Needs the Debian packages `make bench-peers` installs, and a build of
# peer_bench and macx in $BUILD. See docs/operations.md, "Comparing with NATS,
# RabbitMQ and Mosquitto", for how to read the table.
set -eu

BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-5}
RECORDS=${RECORDS:-20000}
WINDOW=${WINDOW:-1000}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=$BUILD/bench/peer_bench
MACX=$BUILD/cli/macx
for f in "$BENCH" "$MACX"; do
    [ -x "$f" ] || { echo "bench-peers: $f not built (make bench-peers builds it)" >&2; exit 69; }
done
for p in nats-server mosquitto strace /usr/lib/rabbitmq/bin/rabbitmq-server; do
    command -v "$p" >/dev/null || { echo "bench-peers: $p missing (make bench-peers installs it)" >&2; exit 69; }
done

SCRATCH=$(mktemp -d /tmp/macx-bench-peers-XXXXXX)
PIDS=""          # process groups we started (setsid), stopped on exit
SINGLE=""        # single processes we started or found by our own port (epmd, strace)

say () { if [ -t 2 ]; then printf '%s\n' "$*" >&2; fi; }

# Stops what we started: each process group by its recorded leader, TERM and
# then KILL after 10 s; never anything found by name.
cleanup () {
    trap - EXIT INT TERM
    for pid in $SINGLE; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in $PIDS; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    for pid in $PIDS; do
        for _ in $(seq 1 100); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$pid" 2>/dev/null || true
    done
    for pid in $SINGLE; do kill -KILL "$pid" 2>/dev/null || true; done
    rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'echo "bench-peers: interrupted" >&2; exit 130' INT TERM

# A free loopback port base: six in a row nobody listens on.
port_free () { ! ss -Hltn "sport = :$1" | grep -q .; }
BASE=$((30000 + $$ % 20000))
while ! { port_free $BASE && port_free $((BASE+1)) && port_free $((BASE+2)) \
          && port_free $((BASE+3)) && port_free $((BASE+4)) && port_free $((BASE+5)); }; do
    BASE=$((BASE + 7))
done
P_NATS=$BASE P_MQTT=$((BASE+1)) P_AMQP=$((BASE+2)) P_DIST=$((BASE+3)) P_EPMD=$((BASE+4)) P_MACX=$((BASE+5))

# The PID listening on our port (the process that does the server's I/O).
pid_on_port () { ss -Hltnp "sport = :$1" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1; }

wait_port () {   # PORT SECONDS NAME
    for _ in $(seq 1 $(($2 * 10))); do
        [ -n "$(pid_on_port "$1")" ] && return 0
        sleep 0.1
    done
    echo "bench-peers: $3 did not listen on 127.0.0.1:$1 in $2 s (log in $SCRATCH)" >&2
    exit 69
}

start () {   # LOG CMD...: in its own session, so its group is ours to stop
    local log=$1; shift
    setsid "$@" >"$log" 2>&1 </dev/null &
    PIDS="$PIDS $!"
}

say "bench-peers: starting servers on 127.0.0.1:$BASE-$((BASE+5)), data in $SCRATCH"
mkdir -p "$SCRATCH/nats" "$SCRATCH/mqtt/data" "$SCRATCH/rmq/home" "$SCRATCH/macx"
start "$SCRATCH/nats/log" nats-server -a 127.0.0.1 -p "$P_NATS" -js -sd "$SCRATCH/nats/js"

cat >"$SCRATCH/mqtt/mosquitto.conf" <<EOF
listener $P_MQTT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $SCRATCH/mqtt/data/
max_queued_messages 1000000
max_inflight_messages $WINDOW
EOF
start "$SCRATCH/mqtt/log" mosquitto -c "$SCRATCH/mqtt/mosquitto.conf"

: >"$SCRATCH/rmq/enabled_plugins"
(
    export HOME="$SCRATCH/rmq/home" RABBITMQ_MNESIA_BASE="$SCRATCH/rmq/mnesia"
    export RABBITMQ_LOG_BASE="$SCRATCH/rmq/log" RABBITMQ_NODENAME="macxbench$$@localhost"
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$P_AMQP"
    export RABBITMQ_DIST_PORT="$P_DIST" ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT="$P_EPMD"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$SCRATCH/rmq/enabled_plugins"
    export RABBITMQ_CONFIG_FILE="$SCRATCH/rmq/rabbitmq" RABBITMQ_PID_FILE="$SCRATCH/rmq/pid"
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    setsid /usr/lib/rabbitmq/bin/rabbitmq-server >"$SCRATCH/rmq/out" 2>&1 </dev/null &
    echo $! >"$SCRATCH/rmq/leader"
)
PIDS="$PIDS $(cat "$SCRATCH/rmq/leader")"

# macx: the agents' keys in one directory, the broker's (its own secret and
# everyone's public keys) in another, as an operator would have them.
"$MACX" keys init "$SCRATCH/macx/agents" --agency broker:broker --agency ogd-send1:ogd --agency ogd-recv1:ogd >/dev/null
mkdir -m 700 "$SCRATCH/macx/keys"
mv "$SCRATCH/macx/agents/broker.secret" "$SCRATCH/macx/keys/"
cp "$SCRATCH/macx/agents/"*.pub "$SCRATCH/macx/keys/"
# Each macx run gets a broker of its own, on a fresh store, so that the
# counters its latency breakdown reads (commit_us, sync_us) are that run's.
MACX_PID=""
MACX_RUNS=0
start_macx () {
    if [ -n "$MACX_PID" ]; then
        kill -TERM -- "-$MACX_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 -- "-$MACX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$MACX_PID" 2>/dev/null || true
        rm -rf "$SCRATCH/macx/data.$MACX_RUNS"
    fi
    MACX_RUNS=$((MACX_RUNS + 1))
    start "$SCRATCH/macx/log.$MACX_RUNS" "$MACX" broker --bind "tcp://127.0.0.1:$P_MACX" \
        --keys "$SCRATCH/macx/keys" --policy "$SRC/bench/policy" \
        --data "$SCRATCH/macx/data.$MACX_RUNS" --map-size 4G --checkpoint-every 10000 \
        --log-level warn
    MACX_PID=${PIDS##* }
}
start_macx

wait_port "$P_NATS" 10 nats-server
wait_port "$P_MQTT" 10 mosquitto
wait_port "$P_MACX" 10 "macx broker"
wait_port "$P_AMQP" 60 rabbitmq-server
EPMD=$(pid_on_port "$P_EPMD")   # RabbitMQ started it, detached: stop it too
[ -n "$EPMD" ] && SINGLE="$SINGLE $EPMD"

# ---- the rows -------------------------------------------------------------------
# row id, system, peer_bench flags, label. The macx batch row appears by
# itself once peer_bench has --batch (issue 10, item 1).
ROWS="macx:macx::macx-per-record
jetstream:nats::jetstream
mosquitto:mosquitto::mosquitto
rabbitmq:rabbitmq::rabbitmq
jetstream-env:nats:--envelope:jetstream+envelope
mosquitto-env:mosquitto:--envelope:mosquitto+envelope
rabbitmq-env:rabbitmq:--envelope:rabbitmq+envelope"
BATCH=${BATCH:-256}
ROWS="macx-batch:macx:--batch $BATCH:macx-batch
$ROWS"

port_of () {
    case $1 in nats) echo "$P_NATS" ;; mosquitto) echo "$P_MQTT" ;;
               rabbitmq) echo "$P_AMQP" ;; macx) echo "$P_MACX" ;; esac
}

bench () {   # SYSTEM FLAGS ARGS...: one peer_bench line, or exit
    local sys=$1 flags=$2; shift 2
    local out try
    # A run that fails is run once more (said on stderr): libnats has been
    # seen to abort ("double free or corruption") in one run of many.
    for try in 1 2; do
        # shellcheck disable=SC2086
        if out=$(timeout --foreground 300 "$BENCH" --system "$sys" --port "$(port_of "$sys")" \
                 --keys "$SCRATCH/macx/agents" --window "$WINDOW" $flags "$@" </dev/null); then
            printf '%s\n' "$out"
            return 0
        fi
        echo "bench-peers: peer_bench --system $sys $flags $* failed (try $try of 2): $out" >&2
    done
    exit 70
}

field () { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

RESULTS=$SCRATCH/results   # round row rate p50_us p99_us
: >"$RESULTS"
CEILINGS=$SCRATCH/ceilings # round ceiling
: >"$CEILINGS"
BREAKDOWN=$SCRATCH/breakdown # round row ack50 ack99 commit50 commit99 sync50 sync99 per_commit e2e50 e2e99
: >"$BREAKDOWN"
PACED=$((RECORDS / 2))
for round in $(seq 1 "$ROUNDS"); do
    probe_line=$("$BENCH" --probe)
    probe=$(field "$probe_line" verify_per_s)
    ceiling=$(field "$probe_line" ceiling_per_record)
    echo "$round $ceiling" >>"$CEILINGS"
    echo "round $round/$ROUNDS: CPU probe $probe Ed25519 verifies/s, $(field "$probe_line" sign_per_s) signs/s on $(nproc) cores: crypto ceiling $ceiling records/s (1 sign + 2 verifies each)"
    while IFS=: read -r id sys flags label; do
        say "  $label: $RECORDS records saturated, then $PACED paced at half that rate"
        [ "$sys" = macx ] && { start_macx; wait_port "$P_MACX" 10 "macx broker"; }
        sat=$(bench "$sys" "$flags" --records "$RECORDS")
        rate=$(field "$sat" rate)
        half=$(awk -v r="$rate" 'BEGIN { printf "%.0f", r / 2 }')
        [ "$sys" = macx ] && { start_macx; wait_port "$P_MACX" 10 "macx broker"; }
        paced=$(bench "$sys" "$flags" --records "$PACED" --rate "$half")
        echo "$round $id $rate $(field "$paced" p50_us) $(field "$paced" p99_us)" >>"$RESULTS"
        if [ "$sys" = macx ]; then
            echo "$round $id $(field "$paced" ack_p50_us) $(field "$paced" ack_p99_us)" \
                 "$(field "$paced" commit_p50_us) $(field "$paced" commit_p99_us)" \
                 "$(field "$paced" sync_p50_us) $(field "$paced" sync_p99_us)" \
                 "$(field "$paced" records_per_commit) $(field "$paced" p50_us)" \
                 "$(field "$paced" p99_us)" >>"$BREAKDOWN"
        fi
    done <<<"$ROWS"
done

# ---- fsync before the ack: strace on each server --------------------------------
# Two measurements per server, each with strace attached to the process that
# listens on its port (all its threads): syncs during a saturated run of
# RECORDS (reported per 10k records), and during 100 records paced at 50/s,
# one at a time. A server that syncs before it acknowledges must sync about
# once per record there (nothing to group them with); one that syncs on an
# interval or at shutdown does not (0). "yes" = at least one sync per four
# records: margin for a loaded machine, where even one at a time may group.
FSYNC=$SCRATCH/fsync   # system syncs_saturated syncs_paced
: >"$FSYNC"
syncs () {   # SYSTEM ARGS...: sets SYNCS to the sync calls the server made during one run
    local sys=$1; shift
    local pid log=$SCRATCH/strace.$sys spid
    pid=$(pid_on_port "$(port_of "$sys")")
    strace -f -c -e trace=fsync,fdatasync,msync,sync_file_range -o "$log" -p "$pid" 2>/dev/null &
    spid=$!
    SINGLE="$SINGLE $spid"
    sleep 1   # attached to every thread
    bench "$sys" "" "$@" >/dev/null
    kill -INT "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    SYNCS=$(awk '$NF ~ /^(fsync|fdatasync|msync|sync_file_range)$/ { n += $4 } END { print n + 0 }' "$log")
}
for sys in macx nats mosquitto rabbitmq; do
    say "  fsync: strace on the $sys server"
    syncs "$sys" --records "$RECORDS"
    sat=$SYNCS
    syncs "$sys" --records 100 --rate 50
    echo "$sys $sat $SYNCS" >>"$FSYNC"
done

# ---- the table ------------------------------------------------------------------
median_min_max () {   # ROW COLUMN: "median min max" over the rounds
    awk -v id="$1" -v c="$2" '$2 == id { print $c }' "$RESULTS" | sort -n \
        | awk '{ v[NR] = $1 } END { if (NR == 0) { print "0 0 0"; exit }
                 m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                 printf "%.0f %.0f %.0f\n", m, v[1], v[NR] }'
}
macx_id=macx-batch
read -r MACX_RATE _ _ <<<"$(median_min_max "$macx_id" 3)"
read -r JS_RATE _ _ <<<"$(median_min_max jetstream 3)"

echo
echo "bench-peers: 1 KiB records, one publisher and one consumer, $RECORDS records per run"
echo "(latency: $PACED records paced at half the row's own saturated rate), window $WINDOW,"
echo "median of $ROUNDS rounds [min-max]; fsync<ack measured by strace on the server."
echo
printf '%-22s %24s %10s %10s %22s %8s\n' system "records/s [min-max]" "p50 ms" "p99 ms" \
    "fsync<ack (per 10k)" "/$macx_id"
while IFS=: read -r id sys flags label; do
    read -r rate lo hi <<<"$(median_min_max "$id" 3)"
    read -r p50 _ _ <<<"$(median_min_max "$id" 4)"
    read -r p99 _ _ <<<"$(median_min_max "$id" 5)"
    read -r _ sat slow <<<"$(grep "^$sys " "$FSYNC")"
    fs=$(awk -v s="$sat" -v w="$slow" -v n="$RECORDS" \
         'BEGIN { printf "%s (%.0f)", (w >= 25 ? "yes" : "no"), s * 10000 / n }')
    printf '%-22s %24s %10.2f %10.2f %22s %8.2f\n' "$label" "$rate [$lo-$hi]" \
        "$(awk -v v="$p50" 'BEGIN { print v / 1000 }')" "$(awk -v v="$p99" 'BEGIN { print v / 1000 }')" \
        "$fs" "$(awk -v a="$rate" -v b="$MACX_RATE" 'BEGIN { print (b > 0 ? a / b : 0) }')"
done <<<"$ROWS"
echo
printf 'sync calls during 100 records paced at 50/s (one at a time):'
while read -r sys sat slow; do printf ' %s %s' "$sys" "$slow"; done <"$FSYNC"
echo
read -r PR_RATE _ _ <<<"$(median_min_max macx 3)"
CEILING=$(awk '{ print $2 }' "$CEILINGS" | sort -n | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print 0; exit }
    printf "%.0f\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
awk -v a="$PR_RATE" -v c="$CEILING" 'BEGIN { printf "crypto ceiling %s records/s (both cores, 1 sign + 2 verifies a record): macx-per-record at %.0f%% of it\n", c, (c > 0 ? 100 * a / c : 0) }'

# Where macx's latency goes at half load (median over the rounds): post ->
# recipient (the table's p50/p99), post -> ACK at the sender (batching,
# transport, verify, queueing, the commit and its sync), the broker's
# transactions, and their disk part (LMDB's page writes and fdatasync).
echo
echo "macx latency at half load, ms (median of $ROUNDS rounds):"
printf '%-18s %15s %15s %15s %15s %10s\n' row "post->recipient" "post->ack" "commit" \
    "of it disk" "recs/commit"
for id in macx-batch macx; do
    med () { awk -v id="$id" -v c="$1" '$2 == id { print $c }' "$BREAKDOWN" | sort -n \
             | awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit }
                    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m }'; }
    ms () { awk -v a="$(med "$1")" -v b="$(med "$2")" \
            'BEGIN { if (a == "-") print "-"; else printf "%.2f / %.2f\n", a / 1000, b / 1000 }'; }
    printf '%-18s %15s %15s %15s %15s %10s\n' "$id" "$(ms 10 11)" "$(ms 3 4)" "$(ms 5 6)" \
        "$(ms 7 8)" "$(med 9)"
done
echo "(each cell p50 / p99)"
echo
awk -v a="$PR_RATE" -v b="$JS_RATE" 'BEGIN { printf "macx/jetstream %.2f\n", (b > 0 ? a / b : 0) }'
awk -v a="$MACX_RATE" -v b="$JS_RATE" 'BEGIN { printf "macx-batch/jetstream %.2f\n", (b > 0 ? a / b : 0) }'
