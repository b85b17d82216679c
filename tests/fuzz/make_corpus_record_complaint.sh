#!/usr/bin/env bash
# make_corpus_record_complaint.sh -- regenerates the seed corpus of
# fuzz_record_complaint: records sealed by mi5 to ogd-dwp (the fuzzer's
# identity) with the fixed TEST-ONLY keys in tests/data/fuzz-keys, most with
# a manifest that lies (`macx record seal --forge-manifest`), so that the
# target makes complaints of them, and one honest. Seeds are random each run
# (record ids, nonces, keys), so only rerun this when the wire format changes.
# Usage: tests/fuzz/make_corpus_record_complaint.sh MACX_BINARY
set -euo pipefail
MACX=$1
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$SRC/tests/fuzz/corpus/fuzz_record_complaint
KEYS=$(mktemp -d)
trap 'rm -rf "$KEYS"' EXIT
cp "$SRC"/tests/data/fuzz-keys/*.pub "$SRC"/tests/data/fuzz-keys/*.secret "$KEYS"/
chmod 0600 "$KEYS"/*.secret
mkdir -p "$OUT"
rm -f "$OUT"/seed-*

seal () {   # seal NAME TYPE PHASE MANIFEST|- FIELD...
    local name=$1 type=$2 phase=$3 manifest=$4 forge=()
    shift 4
    local fields=()
    for f in "$@"; do fields+=(--field "$f"); done
    [ "$manifest" = - ] || forge=(--forge-manifest "$manifest")
    "$MACX" record seal --keys "$KEYS" --as mi5 --to ogd-dwp,ctp --type "$type" --phase "$phase" \
        --purpose mac_case_management --case case-0001 --subject subj-7f3a \
        "${fields[@]}" "${forge[@]}" --out "$OUT/seed-$name" > /dev/null 2>&1
}
seal lie-fields case_file identification subject_name,dob:year_only,kis_ref \
    "subject_name=Alex Example" "dob=1990-04-12" "address=1 High St, Leeds"
seal lie-empty share sharing "" "subject_name=Alex Example" "summary=synthetic"
seal lie-not-text profile profiling level:year_only,assessment "level=2" "assessment=synthetic"
seal lie-generic referral_note sharing reason,contact:redacted,due \
    "reason=synthetic" "contact=A. Person" "extra=x"
seal honest case_file identification - "subject_name=Alex Example" "dob:year_only=1990-04-12"
echo "seeds in $OUT:"
ls "$OUT"
