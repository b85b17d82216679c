#!/usr/bin/env bash
# audit_cli.sh -- `macx audit` against a log written by a real broker: start
# it, send records (refused or not, each is audited), read the log while the
# broker runs, stop it (final checkpoint), verify, show with filters, export,
# then flip one byte of a stored entry in data.mdb and check that verify
# fails and names it. Skips (exit 0) when this build has no `macx broker`.
# Usage: audit_cli.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
set -euo pipefail

MACX=$1
case $MACX in */*) MACX=$(cd "$(dirname "$MACX")" && pwd)/$(basename "$MACX") ;; esac
SRC=$2
S=$3
rm -rf "$S"
mkdir -p "$S"
cd "$S"
failures=0
fail () { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

if ! "$MACX" broker --help > /dev/null 2>&1 || ! "$MACX" send --help > /dev/null 2>&1; then
    echo "audit_cli: skipped (no macx broker/send in this build)"
    exit 0
fi

# run WANT_EXIT NAME CMD...: stdout in NAME.out, stderr in NAME.err.
run () {
    local want=$1 name=$2 rc=0
    shift 2
    "$@" > "$name.out" 2> "$name.err" || rc=$?
    if [ "$rc" != "$want" ]; then
        fail "$name: exit $rc, want $want: $*"
        sed 's/^/  stdout| /' "$name.out" >&2
        sed 's/^/  stderr| /' "$name.err" >&2
    fi
}
has () { grep -qF -- "$3" "$1.$2" || fail "$1.$2 lacks '$3'"; }

"$MACX" keys init keys --agency broker:broker --agency mi5:mi5 --agency la-london:local_authority > /dev/null
PORT=$((20000 + $$ % 20000))
EP=tcp://127.0.0.1:$PORT
"$MACX" broker --keys keys --policy "$SRC/scenarios/baseline/policy" --data data --bind "$EP" \
    --checkpoint-every 3 2> broker.log &
BROKER=$!
trap 'kill $BROKER 2> /dev/null || true' EXIT
for _ in $(seq 50); do [ -f data/data.mdb ] && break; sleep 0.1; done
sleep 0.5

for c in C-0001 C-0002 C-FLIPME C-0004 C-0005; do
    "$MACX" send --keys keys --as mi5 --broker "$EP" --to la-london --type note --phase sharing \
        --purpose prevent --case "$c" --subject S-1 --field x=1 --timeout 5 > /dev/null 2>&1 || true
done

# While the broker runs: read-only readers see the committed log.
run 0 live-verify "$MACX" audit verify data --keys keys
has live-verify out "audit log intact: 6 entries"
run 0 live-show "$MACX" audit show data --case C-FLIPME
[ "$(wc -l < live-show.out)" = 1 ] || fail "live show --case: $(cat live-show.out)"

kill -TERM $BROKER
wait $BROKER || fail "broker did not stop cleanly"
trap - EXIT

run 0 verify "$MACX" audit verify data --keys keys --json
has verify out '{"intact":true,"entries":7,'
has verify out '"unsigned_tail":0,'
run 0 show "$MACX" audit show data
[ "$(wc -l < show.out)" = 7 ] || fail "show: want 7 lines"
head -1 show.out | grep '^#1 .* start ' > /dev/null || fail "show: first entry is not start"
tail -1 show.out | grep '^#7 .* stop ' > /dev/null || fail "show: last entry is not stop"
run 0 show-agency "$MACX" audit show data --agency la-london --json --limit 2
[ "$(wc -l < show-agency.out)" = 2 ] || fail "show --agency --limit 2"
has show-agency out '"recipients":["la-london"]'
run 0 show-since "$MACX" audit show data --since 2999-01-01
[ ! -s show-since.out ] || fail "show --since in the future printed entries"
run 64 show-bad "$MACX" audit show data --since tomorrow
# Filters whose values name nothing are refused, not answered with silence.
exact () { [ "$(cat "$1.$2")" = "$3" ] || fail "$1.$2 is '$(cat "$1.$2")', want '$3'"; }
run 64 show-event "$MACX" audit show data --event refused
exact show-event err "macx audit show: unknown event 'refused' (did you mean 'refuse'? events are accept, refuse, deliver, purge, receipt_refused, disconnect, complaint, complaint_refused, retention_deleted, retention_anonymised, retention_review, retention_refused, start and stop); see 'macx audit show --help'"
run 64 show-agency-typo "$MACX" audit show data --agency la-londno
exact show-agency-typo err "macx audit show: no entry in data names agency 'la-londno'; its agencies are mi5, la-london; see 'macx audit show --help'"
run 64 show-case-typo "$MACX" audit show data --case C-9999
exact show-case-typo err "macx audit show: no entry in data names case 'C-9999'; its cases include C-0001, C-0002, C-FLIPME, C-0004, C-0005; see 'macx audit show --help'"
run 0 show-none "$MACX" audit show data --event purge
[ ! -s show-none.out ] || fail "show --event purge printed entries"
run 0 export "$MACX" audit export data --json
[ "$(grep -c '"type":"entry"' export.out)" = 7 ] || fail "export: want 7 entries"
tail -1 export.out | grep '^{"type":"checkpoint","seq":7,' > /dev/null || fail "export: final checkpoint"
run 66 nostore "$MACX" audit verify nowhere --keys keys
run 64 usage "$MACX" audit verify data

# Flip one byte of every copy of "C-FLIPME" in the file (freed pages may hold
# stale copies; the live one is in entry 4).
python3 - data/data.mdb <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
i = b.find(b'C-FLIPME')
assert i >= 0
while i >= 0:
    b[i + 2] ^= 0x01
    i = b.find(b'C-FLIPME', i + 1)
open(p, 'r+b').write(bytes(b))
PY
run 65 broken "$MACX" audit verify data --keys keys
has broken err "audit log broken at entry 4: "

if [ "$failures" != 0 ]; then
    echo "audit_cli: $failures failure(s); broker log:" >&2
    sed 's/^/  | /' broker.log >&2
    exit 1
fi
echo "audit_cli: ok"
