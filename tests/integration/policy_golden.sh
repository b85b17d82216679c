#!/usr/bin/env bash
# policy_golden.sh -- `macx policy` end to end: the shipped policies pass
# their tests, explain/diff/check/can output matches golden files, errors
# name file:line:column, and exit codes follow sysexits.
# Usage: policy_golden.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
# MACX_UPDATE_GOLDEN=1 rewrites the golden files instead of comparing.
set -u
MACX=$1 SRC=$2 SCRATCH=$3
mkdir -p "$SCRATCH"
cd "$SRC" || exit 1
GOLD=tests/data/policy/golden
fails=0

fail () { echo "FAIL: $*"; fails=$((fails + 1)); }

# golden NAME EXPECTED_RC -- CMD...: runs CMD, masks policy hashes, compares.
golden () {
    local name=$1 want=$2; shift 3
    local out="$SCRATCH/$name.out"
    "$@" > "$out.raw" 2>&1
    local rc=$?
    sed -E 's/blake2b:[0-9a-f]{64}/blake2b:HASH/g' "$out.raw" > "$out"
    [ "$rc" = "$want" ] || fail "$name: exit $rc, expected $want"
    if [ "${MACX_UPDATE_GOLDEN:-0}" = 1 ]; then
        cp "$out" "$GOLD/$name.txt"
    elif ! diff -u "$GOLD/$name.txt" "$out"; then
        fail "$name: output differs from $GOLD/$name.txt"
    fi
}

B=scenarios/baseline/policy
golden explain-permit-changes 1 -- "$MACX" policy explain $B --from mi5 --to la-london \
    --type share --phase sharing --date 2027-07-15 \
    --fields subject_name,dob,kis_ref,police_records,summary:redacted,request
golden explain-permit 0 -- "$MACX" policy explain $B --from ctp --to ogd-dwp --type share \
    --phase sharing --date 2026-06-01 --fields subject_name,dob:year_only,postcode:postcode_district
golden explain-case-phase 1 -- "$MACX" policy explain $B --from mi5 --to la-birmingham \
    --type share --phase sharing --case-phase identification --date 2026-06-01 --fields subject_name
golden explain-no-flow 1 -- "$MACX" policy explain $B --from mi5 --to la-london --type case_file \
    --phase identification --date 2026-06-01
golden explain-not-in-force 1 -- "$MACX" policy explain $B --from ctp --to ogd-health \
    --type profile --phase profiling --date 2025-11-01 --fields level
golden explain-json 1 -- "$MACX" policy explain $B --from mi5 --to ogd-dwp --type share \
    --phase sharing --date 2027-04-10 --fields subject_name,dob,kis_ref --json
golden diff-live-sharing 1 -- "$MACX" policy diff $B scenarios/live-sharing/policy
golden diff-abbreviated-allowed 0 -- "$MACX" policy diff $B scenarios/abbreviated/policy --allow-widening
golden diff-narrowing 0 -- "$MACX" policy diff scenarios/live-sharing/policy $B
golden diff-planted 1 -- "$MACX" policy diff $B tests/data/policy/planted-violation
golden check-baseline 0 -- "$MACX" policy check $B
golden can-la-birmingham 0 -- "$MACX" policy can $B --to la-birmingham --date 2026-06-01
golden error-duplicate-key 65 -- "$MACX" policy check tests/data/policy/bad-duplicate-key
golden help-policy 0 -- "$MACX" policy --help
golden help-explain 0 -- "$MACX" policy explain --help

# shipped policies pass their own tests; the last line is the summary
for s in baseline live-sharing abbreviated; do
    out="$SCRATCH/test-$s.out"
    "$MACX" policy test scenarios/$s/policy scenarios/$s/tests > "$out" 2>&1
    rc=$?
    [ $rc = 0 ] || { cat "$out"; fail "policy test $s: exit $rc"; }
    tail -1 "$out" | grep -E '^[0-9]+ passed, 0 failed$' > /dev/null || fail "policy test $s: bad last line"
    grep -q '^coverage$' "$out" || fail "policy test $s: no coverage report"
done

# the never checker finds the planted violation and the test run fails with 1
"$MACX" policy test tests/data/policy/planted-violation scenarios/baseline/tests \
    > "$SCRATCH/planted.out" 2>&1
rc=$?
[ $rc = 1 ] || fail "planted violation: exit $rc, expected 1"
grep -q 'FAIL  never: no intelligence-class field ever reaches a local authority or an OGD' \
    "$SCRATCH/planted.out" || fail "planted violation not reported"
grep -q 'ogd-dwp share.kis_ref released by ISA-OGD-DWP/S1' "$SCRATCH/planted.out" \
    || fail "planted violation cell not named"

# usage and missing input
"$MACX" policy explain $B --from mi5 > /dev/null 2>&1
[ $? = 64 ] || fail "explain without required options should exit 64"
"$MACX" policy check "$SCRATCH/no-such-policy" > /dev/null 2>&1
[ $? = 66 ] || fail "check of a missing directory should exit 66"
"$MACX" policy check $B --bogus > /dev/null 2>&1
[ $? = 64 ] || fail "unknown option should exit 64"
"$MACX" policy check $B --json | grep '"ok":true' > /dev/null || fail "check --json"

if [ $fails -ne 0 ]; then
    echo "policy_golden: $fails failure(s)"
    exit 1
fi
echo "policy_golden: ok"
