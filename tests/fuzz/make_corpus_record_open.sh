#!/usr/bin/env bash
# make_corpus_record_open.sh -- regenerates the seed corpus of fuzz_record_open:
# records sealed by mi5 with the fixed TEST-ONLY keys in tests/data/fuzz-keys,
# most of them to ogd-dwp (the fuzzer's identity), and records of two
# batches (batch signatures) written by make_corpus_batch, a test program of
# the same build. Seeds are random each run (record ids, nonces), so only
# rerun this when the wire format changes.
# Usage: tests/fuzz/make_corpus_record_open.sh MACX_BINARY [MAKE_CORPUS_BATCH]
#   (MAKE_CORPUS_BATCH defaults to tests/make_corpus_batch of MACX_BINARY's build)
set -euo pipefail
MACX=$1
BATCH=${2:-$(dirname "$MACX")/../tests/make_corpus_batch}
if [ ! -x "$BATCH" ]; then
    echo "make_corpus_record_open.sh: no $BATCH: build the make_corpus_batch target" >&2
    exit 66
fi
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$SRC/tests/fuzz/corpus/fuzz_record_open
KEYS=$(mktemp -d)
trap 'rm -rf "$KEYS"' EXIT
cp "$SRC"/tests/data/fuzz-keys/*.pub "$SRC"/tests/data/fuzz-keys/*.secret "$KEYS"/
chmod 0600 "$KEYS"/*.secret
mkdir -p "$OUT"
rm -f "$OUT"/seed-*

seal () {   # seal NAME TO TYPE PHASE FIELD...
    local name=$1 to=$2 type=$3 phase=$4
    shift 4
    local fields=()
    for f in "$@"; do fields+=(--field "$f"); done
    "$MACX" record seal --keys "$KEYS" --as mi5 --to "$to" --type "$type" --phase "$phase" \
        --purpose mac_case_management --case case-0001 --subject subj-7f3a \
        --legal-basis "isa-2024 s.3" "${fields[@]}" --out "$OUT/seed-$name" > /dev/null
}
seal case_file ogd-dwp case_file identification "subject_name=Alex Example" \
    "dob:year_only=1990-04-12" "postcode:postcode_district=LS11 5AB" \
    "risk_indicators=travel" "risk_indicators=online" "kis_ref=KIS-1"
seal share ctp,la-london,ogd-dwp share sharing "subject_name:initials=Alex Example" \
    "region:region_only=1 High St, Leeds, West Yorkshire" "summary=synthetic" \
    "police_records=PNC-1" "request=housing"
seal enrichment ogd-dwp enrichment enrichment "subject_name=Alex Example" "notes=none held"
seal profile ogd-dwp,ctp profile profiling "level=2" "baseline_score=37" \
    "indicators=isolation" "assessment=moderate" "contributors=mi5"
seal panel_plan ogd-dwp panel_plan panel "chair=la-london" "level=3" \
    "back_to_investigation=true" "members=ctp" "decided_on=2024-05-01"
seal generic ogd-dwp referral_note sharing "reason=attendance" "contact:redacted=x"
seal not_for_us ctp,la-london note sharing "text=hello"
seal empty_payload ogd-dwp note sharing
"$BATCH" "$KEYS" "$OUT"
ls -l "$OUT"
