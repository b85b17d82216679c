#!/usr/bin/env bash
# pilot_agent_killed.sh -- killing an agent mid-run makes `macx pilot run`
# fail: once the run has started (MI5 has closed a subject), kill -9 the
# la-london agent of this run (paced at 100 ms per simulated day, so that it
# is still running) (a child of our `pilot run`); the run exits
# 70 ("a process died", as `pilot run --help` documents) within seconds, its
# stderr names the agent, its pid and the signal ("agent la-london (pid N)
# was killed by signal 9"), run.json records the failure, and no other
# process of the run (broker, other agents) is left behind.
# Usage: pilot_agent_killed.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

SCN=$SRC/scenarios/baseline/pilot.yaml
RUN=$S/run
"$MACX" pilot run "$SCN" --out "$RUN" --subjects 40 --pace 100 --quiet > pilot.out 2> pilot.err &
PILOT=$!
PIDS+=("$PILOT")

# this run's agents are the children of our pilot process
agent_pid () { pgrep -P "$PILOT" -f -- "agent --agency $1 " | head -1; }
started () { [ -s "$RUN/agents/mi5/outcomes.jsonl" ] && [ -n "$(agent_pid la-london)" ]; }
if wait_until 30 started; then
    VICTIM=$(agent_pid la-london)
    CHILDREN=$(pgrep -P "$PILOT" | tr '\n' ' ')
    PIDS+=($CHILDREN)
    note "killing la-london (pid $VICTIM) of pilot $PILOT"
    kill -9 "$VICTIM"
    wait_exit "$PILOT" 40
    if [ "$WAIT_RC" = 124 ]; then
        fail "pilot run did not exit within 40 s of the agent's death"
    elif [ "$WAIT_RC" != 70 ]; then
        fail "pilot run exited $WAIT_RC after its la-london agent was killed, want 70 (a process died)"
    fi
    has pilot err "agent la-london (pid $VICTIM) was killed by signal 9"
    if [ -f "$RUN/run.json" ]; then
        expect run.json "$RUN/run.json" 'lines[0]["exit"].startswith("failed: ") and "la-london" in lines[0]["exit"]' yes
    else
        fail "no run.json after the failed run"
    fi
    for p in $CHILDREN; do
        [ "$p" = "$VICTIM" ] && continue
        if kill -0 "$p" 2> /dev/null && grep -qa "$RUN" "/proc/$p/cmdline" 2> /dev/null; then
            fail "process $p of the run ($(tr '\0' ' ' < /proc/$p/cmdline | head -c 200)) still alive"
        fi
    done
else
    fail "the run did not start within 30 s"
    sed 's/^/  | /' pilot.err >&2
fi

finish pilot.err
