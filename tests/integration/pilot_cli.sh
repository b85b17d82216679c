#!/usr/bin/env bash
# pilot_cli.sh -- the pilot's command line:
#   - `macx pilot --help`, `pilot run --help`, `pilot report --help`,
#     `pilot compare --help` and `agent --help` exit 0 with their usage;
#     no command, an unknown command or option, missing arguments exit 64;
#   - `pilot run` on a broken scenario exits non-zero (65) naming
#     file:line:column of the fault (an unknown key at top level and in a
#     service time, a bad date, an unknown distribution, a YAML syntax error,
#     a duplicate key, region shares not adding up, an unknown MAC member)
#     and creates no run directory; a missing scenario names the file;
#   - an agreement the policy does not have is refused (65, naming it at
#     file:line:column) before anything starts, and the next run in the
#     same directory works (tests/integration/pilot_validate.sh has the
#     exact messages of the checks made before a run starts);
#   - `pilot report`/`pilot compare` of a directory that is not a run, and
#     `agent` with an agency not in the scenario, fail naming it;
#   - a broker port another process took first: the broker is started
#     again on another port, and the run completes.
# Usage: pilot_cli.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

GOOD=$SRC/tests/data/pilot/fixed.yaml

for c in "pilot" "pilot run" "pilot report" "pilot compare" "agent"; do
    n=help_${c// /_}
    run 0 "$n" "$MACX" $c --help
    has "$n" out "usage: macx $c"
done
run 64 noargs "$MACX" pilot
has noargs err "usage: macx pilot"
run 64 unknown_cmd "$MACX" pilot frobnicate
has unknown_cmd err "frobnicate"
run 64 run_noargs "$MACX" pilot run
run 64 run_badopt "$MACX" pilot run "$GOOD" --bogus
run 64 report_noargs "$MACX" pilot report
run 64 compare_onearg "$MACX" pilot compare a
run 64 agent_noargs "$MACX" agent

# broken SPEC: a copy of the good scenario (policy made absolute), changed by
# the python snippet SPEC (over `s`, the text), which also sets `want`: the
# substring of the changed text whose line:column the error must name, or
# None when only some file:line:column is required.
broken () {
    local name=$1 spec=$2 rc=0 want
    want=$(python3 - "$GOOD" "$name.yaml" "$SRC/scenarios/baseline/policy" "$spec" <<'PY'
import sys
good, out, policy, spec = sys.argv[1:5]
s = open(good).read()
s = "\n".join("policy: " + policy if l.startswith("policy:") else l for l in s.split("\n"))
want = None
exec(spec)
open(out, "w").write(s)
if want is not None:
    i = s.index(want)
    line = s.count("\n", 0, i) + 1
    col = i - (s.rfind("\n", 0, i) + 1) + 1
    print("%d:%d" % (line, col))
PY
    ) || { fail "$name: cannot make the scenario"; return; }
    timeout 30 "$MACX" pilot run "$name.yaml" --out "run_$name" --quiet > "$name.out" 2> "$name.err" || rc=$?
    if [ "$rc" = 0 ]; then fail "$name: pilot run exited 0 on a broken scenario"; fi
    if [ -n "$want" ]; then
        has "$name" err "$name.yaml:$want"
    elif ! grep -qE "$name\.yaml:[0-9]+:[0-9]+" "$name.err"; then
        fail "$name: no $name.yaml:LINE:COLUMN in: $(head -c 600 "$name.err")"
    fi
    [ ! -e "run_$name" ] || fail "$name: a run directory was created for a broken scenario"
}
broken unknown_key 's = s.replace("\nseed:", "\nbogus_key: 3\nseed:"); want = "bogus_key"'
broken bad_date 's = s.replace("start_date: 2026-03-02", "start_date: 2026-13-45"); want = "2026-13-45"'
broken bad_date_text 's = s.replace("start_date: 2026-03-02", "start_date: next tuesday"); want = "next tuesday"'
broken service_key 's = s.replace("profiling: {dist: fixed, days: 2}", "profiling: {dist: fixed, dayz: 2}"); want = "dayz"'
broken bad_dist 's = s.replace("enrichment: {dist: fixed, days: 3}", "enrichment: {dist: gaussian, days: 3}"); want = "gaussian"'
broken syntax 's = s.replace("profiling: {dist: fixed, days: 2}", "profiling: {dist: fixed, days: 2")'
broken duplicate 's = s.replace("\nseed:", "\nsubjects: 3\nseed:")'
broken shares 's = s.replace("west-midlands: 1.0", "west-midlands: 0.7")'
broken member 's = s.replace("members: [la-birmingham, ogd-dwp]", "members: [la-birmingham, ogd-nobody]")'

run 66 missing "$MACX" pilot run "$S/nope.yaml" --out run_missing
has missing err "nope.yaml"

# An agreement the policy lacks, refused before anything starts; then a good run in the same directory.
python3 - "$GOOD" noisa.yaml "$SRC/scenarios/baseline/policy" <<'PY'
import sys
s = open(sys.argv[1]).read()
s = "\n".join("policy: " + sys.argv[3] if l.startswith("policy:") else l for l in s.split("\n"))
open(sys.argv[2], "w").write(s.replace("agreements: {}", "agreements: {ISA-NOPE: {effective_day: 3}}"))
PY
rc=0
timeout 60 "$MACX" pilot run noisa.yaml --out again --quiet > noisa.out 2> noisa.err || rc=$?
[ "$rc" = 65 ] || fail "noisa: an unknown agreement gave exit $rc, want 65"
# The scenario names the agreement where it stands, before anything starts.
grep -Eq "noisa.yaml:[0-9]+:[0-9]+: agreement 'ISA-NOPE' is not in the policy" noisa.err \
    || fail "noisa: the error does not name ISA-NOPE with file:line:column: $(cat noisa.err)"
run 0 again "$MACX" pilot run "$GOOD" --out again --quiet
# The pilot's broker has its own key directory: no agency's secret in it.
ls again/broker/keys/*.secret | grep -vx 'again/broker/keys/broker.secret' > /dev/null \
    && fail "an agency secret in the pilot's broker key directory: $(ls again/broker/keys)"
grep -q "secret keys in the broker's key directory" again/broker/broker.log \
    && fail "the pilot's broker warned about agency secrets"
[ -f again/keys/broker.pub ] && [ ! -e again/keys/broker.secret ] \
    || fail "RUN/keys should hold the broker's public key and not its secret"
has again out "report: "

# The wall-clock pilot is retired, with a message that says what to do.
run 64 clock_scale "$MACX" pilot run "$GOOD" --out retired --clock-scale 30
has clock_scale err "--clock-scale is retired"
has clock_scale err "--pace 30"
broken retired_key 's = s.replace("\nseed:", "\nclock_scale_ms: 200\nseed:"); want = "clock_scale_ms"'
has retired_key err "'clock_scale_ms' is retired"
run 64 bad_pace "$MACX" pilot run "$GOOD" --out badpace --pace fast
has bad_pace err "macx pilot run: --pace must be milliseconds from 0 to 86400000, not 'fast'; see 'macx pilot run --help'"
# A paced run gives the figures of the run as fast as possible.
run 0 paced "$MACX" pilot run "$GOOD" --out paced --pace 20 --quiet
for f in phases.csv; do
    cmp -s again/$f paced/$f || fail "a run paced at 20 ms per day differs in $f"
done
# A transit without a minimum (no lookahead) is refused where it stands.
broken transit_zero 's = s.replace("default: {dist: fixed, hours: 6}", "default: {dist: fixed, hours: 0}"); want = "dist: fixed, hours: 0}"'
has transit_zero err "its minimum is the lookahead"
broken transit_route 's = s.replace("  verdict_hours: 1", "  verdict_hours: 1\n  routes:\n    - {from: mi5, to: ogd-nobody, transit: {dist: fixed, hours: 1}}")'
has transit_route err "transit route to 'ogd-nobody' is not among the agencies"

run 66 report_missing "$MACX" pilot report "$S/not-a-run"
has report_missing err "not-a-run"
if [ -f again/run.json ]; then
    run 66 compare_missing "$MACX" pilot compare again "$S/not-a-run"
    has compare_missing err "not-a-run"
fi
rc=0
timeout 20 "$MACX" agent --agency nobody --scenario "$GOOD" --run "$S/again" --broker tcp://127.0.0.1:1 \
    > agent_nobody.out 2> agent_nobody.err || rc=$?
[ "$rc" != 0 ] || fail "agent --agency nobody exited 0"
has agent_nobody err "no agency 'nobody'"

# The broker's port taken between its choice and the broker's bind (a
# sweep starts pilots in parallel): another process listening there is not
# taken for our broker, which is started again on another port.
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True); sys.stdout.close(); time.sleep(120)' > taken.port &
TAKER=$!
PIDS+=("$TAKER")
for _ in $(seq 100); do [ -s taken.port ] && break; sleep 0.05; done
TAKEN=$(cat taken.port)
run 0 port_taken env MACX_TEST_FIRST_PORT="$TAKEN" "$MACX" pilot run "$GOOD" --out porttaken --subjects 10
has port_taken err "the broker's port was taken before it could bind it"
has port_taken err "endpoint=tcp://127.0.0.1:$TAKEN attempt=1"
[ -s porttaken/report.json ] || fail "port_taken: no report"
kill "$TAKER" 2> /dev/null || true

finish
