#!/usr/bin/env bash
# broker_case_context.sh -- broker-held case context (docs/policy.md "Case
# context") against a real broker and the baseline policy. The broker keeps
# each case's phases reached and who holds whose record from what it
# accepted, and judges by that, never by the header:
#   - a profile for a case with no accepted record is refused
#     CASE_PHASE_NOT_REACHED with a sentence saying why, audited with what
#     it needed (case_needed) and what the case had reached (case_reached);
#   - a share before the case is opened is refused, and the same share
#     accepted once MI5's case file opened it; a panel plan for a case that
#     reached sharing only is refused (a panel needs a profile); a header's
#     claim of the case's phase (--case-phase) is not used;
#   - CTP passing on MI5's case file (`macx send --origin mi5 --origin-type
#     case_file`) before the broker accepted one for CTP in that case is
#     refused ORIGIN_NOT_DELIVERED; once it has, the same onward share is
#     judged by the onward list of F1 (isa-mi5-ctp.yaml): accepted to
#     la-london under ISA-NMAC-LA-LONDON, which the list names, refused
#     ONWARD_SHARING_PROHIBITED back to mi5 under ISA-MI5-CTP, which it does
#     not;
#   - la-london's answer passed on by CTP needs la-london's consent (E1,
#     originator_consent): refused without --origin-consent, accepted with.
# And `macx send`'s origin options go together or are refused as usage.
# Usage: broker_case_context.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

keys_init keys broker mi5 ctp la-london
start_broker broker.log data || finish broker.log

# send NAME WANT AS TO TYPE PHASE CASE [ARGS...]: one record through the broker.
send () {
    local name=$1 want=$2 as=$3 to=$4 type=$5 phase=$6 c=$7
    shift 7
    run "$want" "$name" "$MACX" send $(client) --as "$as" --to "$to" --type "$type" \
        --phase "$phase" --purpose mac_case_management --case "$c" --subject S-1 "$@"
}
# audit NAME CASE: the case's accept and refuse entries, JSON lines.
audit () {
    "$MACX" audit show data --case "$2" --json > "$1.all" || fail "$1: audit show --case $2"
    grep -E '"event":"(accept|refuse)"' "$1.all" > "$1.json" || true
}
ctx='[(l["event"], l["record_type"], l["reason"], l["case_reached"], l["case_needed"]) for l in lines]'
share=(--field subject_name="A.Q." --field region=London --field request="contact in the last year")

# ---- a record for a phase its case has not reached --------------------------
send profile 1 ctp mi5 profile profiling C-P --field level=2 --field assessment=synthetic
has profile err "CASE_PHASE_NOT_REACHED: a profiling record for case 'C-P', which has no accepted record: a case opens with identification"
[ ! -s profile.out ] || fail "a refused send printed on stdout"
audit audit-p C-P
expect audit-p audit-p.json "$ctx" "[('refuse', 'profile', 'CASE_PHASE_NOT_REACHED', [], 'sharing')]"
expect audit-p audit-p.json 'lines[0]["decision"]' deny

send share-early 1 mi5 la-london share sharing C-S "${share[@]}"
has share-early err "CASE_PHASE_NOT_REACHED: a sharing record for case 'C-S', which has no accepted record"
open_case C-S
send share 0 mi5 la-london share sharing C-S "${share[@]}"
has share out "accepted record"
# the case's phase is the broker's: a header claiming the case is in panel
# changes nothing (judged by it, the policy would refuse CASE_PHASE_MISMATCH)
send share-claim 0 mi5 la-london share sharing C-S "${share[@]}" --case-phase panel
send panel 1 ctp la-london panel_plan panel C-S --field chair=ctp --field level=2
has panel err "CASE_PHASE_NOT_REACHED: a panel record for case 'C-S', which has not reached profiling"
audit audit-s C-S
expect audit-s audit-s.json "$ctx" "[('refuse', 'share', 'CASE_PHASE_NOT_REACHED', [], 'identification'), ('accept', 'case_file', '', [], ''), ('accept', 'share', '', ['identification'], 'identification'), ('accept', 'share', '', ['identification', 'sharing'], 'identification'), ('refuse', 'panel_plan', 'CASE_PHASE_NOT_REACHED', ['identification', 'sharing'], 'profiling')]"
# the share was judged by the policy once the case allowed it
expect audit-s audit-s.json '(lines[2]["agreement"], lines[2]["flow"])' "('ISA-NMAC-LA-LONDON', 'S1')"
expect audit-s audit-s.json '[l["case_phase"] for l in lines]' "['sharing', 'identification', 'sharing', 'sharing', 'panel']"

# ---- an origin never delivered to its sender, then delivered ------------------
# CTP's triage decision opens C-O in identification: the case has reached
# it, but holds nothing of MI5's for CTP.
run 0 triage "$MACX" send $(client) --as ctp --to mi5 --type triage_decision --phase identification \
    --purpose closed_subject_watch --case C-O --subject S-2 --field decision=close
onward=(--origin mi5 --origin-type case_file "${share[@]}")
send onward-early 1 ctp la-london share sharing C-O "${onward[@]}"
has onward-early err "ORIGIN_NOT_DELIVERED: the record names origin mi5 case_file, but no case_file of mi5's in case 'C-O' was delivered to ctp"
open_case C-O S-2
send onward 0 ctp la-london share sharing C-O "${onward[@]}"
send onward-back 1 ctp mi5 share sharing C-O "${onward[@]}"
has onward-back err "ONWARD_SHARING_PROHIBITED: to mi5: ISA-MI5-CTP/F1 allows onward sharing only under named agreements, not ISA-MI5-CTP (agreement ISA-MI5-CTP, flow F2)"
audit audit-o C-O
expect audit-o audit-o.json "$ctx" "[('accept', 'triage_decision', '', [], ''), ('refuse', 'share', 'ORIGIN_NOT_DELIVERED', ['identification'], 'identification'), ('accept', 'case_file', '', [], ''), ('accept', 'share', '', ['identification'], 'identification'), ('refuse', 'share', 'ONWARD_SHARING_PROHIBITED', ['identification', 'sharing'], 'identification')]"
expect audit-o audit-o.json '[l["origin"] for l in lines]' "['', 'mi5', '', 'mi5', 'mi5']"
expect audit-o audit-o.json '(lines[3]["agreement"], lines[3]["flow"])' "('ISA-NMAC-LA-LONDON', 'S1')"
expect audit-o audit-o.json '(lines[4]["agreement"], lines[4]["flow"])' "('ISA-MI5-CTP', 'F2')"

# ---- onward with the originator's consent --------------------------------------
# la-london answers CTP in C-S (which reached sharing); CTP passes the
# answer on to MI5: E1 allows it only with la-london's consent.
send answer 0 la-london ctp enrichment enrichment C-S --field subject_name="A.Q." --field notes=none
fwd=(--origin la-london --origin-type enrichment --field subject_name="A.Q." --field notes=none)
# mi5 holds nothing of la-london's yet: it cannot pass the answer on
send fwd-mi5 1 mi5 ctp enrichment enrichment C-S "${fwd[@]}" --origin-consent
has fwd-mi5 err "ORIGIN_NOT_DELIVERED: the record names origin la-london enrichment, but no enrichment of la-london's in case 'C-S' was delivered to mi5"
send fwd-no-consent 1 ctp mi5 enrichment enrichment C-S "${fwd[@]}"
has fwd-no-consent err "ONWARD_SHARING_PROHIBITED: to mi5: ISA-NMAC-LA-LONDON/E1 allows onward sharing only with the consent of la-london, and the record does not carry it"
send fwd-consent 0 ctp mi5 enrichment enrichment C-S "${fwd[@]}" --origin-consent

# ---- the options go together ------------------------------------------------------
base=(send --keys keys --as ctp --broker "$EP" --to mi5 --type share --phase sharing
      --purpose mac_case_management --case C-S --subject S-1 --field subject_name=A)
run 64 no-type "$MACX" "${base[@]}" --origin mi5
has no-type err "macx send: --origin needs --origin-type (the record type mi5 sent); see 'macx send --help'"
run 64 no-origin "$MACX" "${base[@]}" --origin-type case_file
has no-origin err "macx send: --origin-type needs --origin AGENCY"
run 64 consent-alone "$MACX" "${base[@]}" --origin-consent
has consent-alone err "macx send: --origin-consent needs --origin AGENCY"
run 64 raw-origin "$MACX" send --keys keys --as ctp --broker "$EP" --raw none.bin --origin mi5
has raw-origin err "--raw sends a sealed record as it is: it takes no record options"

stop_broker
run 0 verify "$MACX" audit verify data --keys keys
finish broker.log
