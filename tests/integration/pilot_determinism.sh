#!/usr/bin/env bash
# pilot_determinism.sh -- a pilot is a pure function of (scenario, policy,
# seed). The default pilot (baseline, 500 subjects) and late-isa (refusals
# and retries), each run:
#   - idle;
#   - with every core kept busy by other processes, and random sleeps of up
#     to 300 us injected before every event an agency handles
#     (MACX_TEST_JITTER_US, a test-only knob of the agent runtime);
#   - pinned to one core (taskset -c 0);
# give byte-identical phases.csv and agencies' outcomes, and report.json
# identical once every key naming the wall clock ("wall" in its name) is set
# aside; no agency ever received a record in its past (each says late=0,
# and the run would fail otherwise). Another seed gives different figures.
# Usage: pilot_determinism.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

cat > strip.py <<'PY'
import json, sys
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if "wall" not in k}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
r = json.load(open(sys.argv[1]))
# the run directory's name is where it ran, not what it found
r["run"].pop("out", None)
json.dump(strip(r), open(sys.argv[2], "w"), indent=1, sort_keys=True)
PY

busy () {
    local i
    for ((i = 0; i < $(nproc); i++)); do
        (while :; do :; done) &
        PIDS+=("$!")
        BUSY+=("$!")
    done
}
unbusy () {
    local p
    for p in "${BUSY[@]}"; do kill "$p" 2> /dev/null || true; done
    BUSY=()
}

# pilot NAME SCENARIO SEED [how]: one run into NAME, then its comparable
# report (NAME.json).
pilot () {
    local name=$1 scn=$2 seed=$3 how=${4:-idle}
    local cmd=("$MACX" pilot run "$SRC/scenarios/$scn/pilot.yaml" --out "$name" --seed "$seed" --quiet)
    case $how in
        busy) busy; MACX_TEST_JITTER_US=300 run 0 "$name" "${cmd[@]}"; unbusy ;;
        onecore) run 0 "$name" taskset -c 0 "${cmd[@]}" ;;
        *) run 0 "$name" "${cmd[@]}" ;;
    esac
    if [ -f "$name/report.json" ]; then
        python3 strip.py "$name/report.json" "$name.json"
    else
        fail "$name: no report.json"
        : > "$name.json"
    fi
    local a
    for a in "$name"/agents/*/agent.log; do
        grep -q 'msg="time" .* late=0 ' "$a" || fail "$name: $a does not say late=0"
    done
}

# same A B: A and B agree on everything the simulation decides.
same () {
    cmp -s "$1/phases.csv" "$2/phases.csv" \
        || { fail "$1 vs $2: phases.csv differs"; diff "$1/phases.csv" "$2/phases.csv" | head -8 >&2; }
    cmp -s "$1.json" "$2.json" \
        || { fail "$1 vs $2: report.json differs (wall-clock fields aside)"; diff "$1.json" "$2.json" | head -20 >&2; }
    local f
    for f in "$1"/agents/*/outcomes.jsonl; do
        cmp -s "$f" "$2/${f#$1/}" || fail "$1 vs $2: ${f#$1/} differs"
    done
}

BUSY=()
for scn in baseline late-isa; do
    pilot "$scn-idle" "$scn" 2019
    pilot "$scn-busy" "$scn" 2019 busy
    pilot "$scn-onecore" "$scn" 2019 onecore
    same "$scn-idle" "$scn-busy"
    same "$scn-idle" "$scn-onecore"
done

# The runs had something to agree on: all phases, levels, disposals, and
# in late-isa refusals and retries.
report () {   # report FILE EXPR: a python expression over report.json (r) must hold
    python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2" || fail "$1: not $2"
}
report baseline-idle/report.json 'all(p["done"] > 0 for p in r["phases"])'
report baseline-idle/report.json 'r["levels"]["assessed"] > 400'
report late-isa-idle/report.json 'r["refusals"]["total"] > 50'
report late-isa-idle/report.json 'len(r["disposals"]) > 3' 

# Another seed: other figures.
pilot baseline-seed2 baseline 2
cmp -s baseline-idle/phases.csv baseline-seed2/phases.csv && fail "seed 2 gives the same phases.csv as seed 2019"
cmp -s baseline-idle.json baseline-seed2.json && fail "seed 2 gives the same report.json as seed 2019"

finish baseline-idle/broker/broker.log late-isa-idle/broker/broker.log
