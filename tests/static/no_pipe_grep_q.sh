#!/usr/bin/env bash
# no_pipe_grep_q.sh -- no test script pipes into `grep -q`. The scripts run
# under `set -o pipefail`; grep -q exits at its first match, and when the
# writer still has lines to write it dies of SIGPIPE (141), so the pipeline
# fails although the line was there. Whether it does depends on scheduling:
# a test that passed here failed CI this way (pilot_sweep, "no change naming
# Birmingham"). Use `| grep PATTERN > /dev/null`, which reads to the end,
# or grep a file or a variable. Lines of the form `... | grep -q` in a
# comment are not counted.
# Usage: no_pipe_grep_q.sh SOURCE_DIR
set -u
src=${1:?usage: no_pipe_grep_q.sh SOURCE_DIR}
hits=$(grep -nE '\|[[:space:]]*grep[[:space:]]+(-[[:alpha:]]*q|--quiet|--silent)' \
           "$src"/tests/integration/*.sh "$src"/tests/integration/*.bash "$src"/.ci/run 2> /dev/null \
       | grep -vE '^[^:]+:[0-9]+:[[:space:]]*#' || true)
if [ -n "$hits" ]; then
    echo "FAIL: a pipe into grep -q under pipefail fails when the writer is cut off (SIGPIPE):" >&2
    echo "$hits" >&2
    exit 1
fi
echo "no_pipe_grep_q: ok (no test pipes into grep -q)"
