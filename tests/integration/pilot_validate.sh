#!/usr/bin/env bash
# pilot_validate.sh -- `macx pilot run` checks the whole scenario (its policy
# loaded as the broker loads it, every file and agency it names) before it
# creates or starts anything. On a copy of the baseline broken one way at a
# time, each case gives its exact one-line message on stderr and its exit
# code, and leaves no run directory (nothing was started, a previous run in
# the same directory is untouched):
#   - a typo in an agreement (`alow:`): 65 at the policy file's line:column;
#   - an unclosed '[' in an agreement, an unclosed '{' in the scenario: 65 at
#     the bracket, not where libfyaml noticed; the broker's config file the
#     same way (its own exit 78);
#   - an agency the policy does not declare: 65 at its id;
#   - a policy directory that does not exist: 66 at the scenario's `policy:`;
#   - a missing scenario file: 66 naming it;
#   - a scenario directory runs its pilot.yaml; one without: 66.
# Usage: pilot_validate.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

# pos FILE TEXT: line:column (1-based) of the first TEXT in FILE.
pos () {
    python3 - "$1" "$2" <<'PY'
import sys
s = open(sys.argv[1]).read()
i = s.index(sys.argv[2])
print("%d:%d" % (s.count("\n", 0, i) + 1, i - (s.rfind("\n", 0, i) + 1) + 1))
PY
}
# edit FILE FROM TO: replaces the first FROM in FILE by TO (FROM must be there).
edit () {
    python3 - "$@" <<'PY'
import sys
path, old, new = sys.argv[1:4]
s = open(path).read()
assert old in s, "%s: no %r" % (path, old)
open(path, "w").write(s.replace(old, new, 1))
PY
}
# fresh DIR: a copy of the baseline scenario and its policy in DIR.
fresh () { rm -rf "$1"; cp -r "$SRC/scenarios/baseline" "$1"; }
# refused NAME RC LINE ARGS...: `pilot run ARGS --out run_NAME` exits RC with
# exactly LINE on stderr (nothing else: not even the run's first line) and
# creates no run directory.
refused () {
    local name=$1 rc=$2 line=$3
    shift 3
    run "$rc" "$name" "$MACX" pilot run "$@" --out "run_$name"
    [ "$(cat "$name.err")" = "$line" ] \
        || fail "$name: stderr is not exactly '$line': $(head -c 600 "$name.err")"
    [ ! -e "run_$name" ] || fail "$name: a run directory was created"
}

AGR=policy/agreements/isa-ogd-dwp.yaml

# A typo in a policy the scenario uses: the policy's own file, line, column.
fresh typo
edit typo/$AGR "    allow:" "    alow:"
at=$(pos typo/$AGR "alow:")
refused typo 65 "macx pilot run: typo/$AGR:$at: unknown key 'alow' in a flow (expected one of: id, from, to, record_type, purposes, phases, allow, transform, require, retention, onward, max_per_day, description)" typo/pilot.yaml
# The same through a scenario with agreement overrides (late-isa), which
# reads the baseline's policy: the policy's message as it is.
mkdir -p late
cp "$SRC/scenarios/late-isa/pilot.yaml" late/pilot.yaml
edit late/pilot.yaml "policy: ../baseline/policy" "policy: ../typo/policy"
refused late_typo 65 "macx pilot run: late/../typo/$AGR:$at: unknown key 'alow' in a flow (expected one of: id, from, to, record_type, purposes, phases, allow, transform, require, retention, onward, max_per_day, description)" late/pilot.yaml

# A previous run in the same directory is untouched by a refused one.
fresh good
run 0 good "$MACX" pilot run good/pilot.yaml --subjects 5 --out run_prev --quiet
run 65 over_prev "$MACX" pilot run typo/pilot.yaml --subjects 5 --out run_prev --quiet
[ -f run_prev/run.json ] && [ -f run_prev/report.json ] \
    || fail "over_prev: a refused run touched the previous run in its directory"

# An unclosed '[' in an agreement: at the bracket (libfyaml notices three
# lines further down).
fresh bracket
edit bracket/$AGR "phases: [sharing]" "phases: [sharing"
at=$(pos bracket/$AGR "[sharing
")
refused bracket 65 "macx pilot run: bracket/$AGR:$at: YAML does not parse: '[' is never closed" bracket/pilot.yaml
# An unclosed '{' in the scenario itself.
fresh brace
edit brace/pilot.yaml "max: 15}" "max: 15"
at=$(pos brace/pilot.yaml "{dist: triangular, min: 3, mode: 7, max: 15")
refused brace 65 "macx pilot run: brace/pilot.yaml:$at: YAML does not parse: '{' is never closed" brace/pilot.yaml
# A syntax error that is not a bracket keeps libfyaml's position.
fresh nested
edit nested/pilot.yaml "seed: 2019" "seed: 2019: 77"
at=$(pos nested/pilot.yaml ": 77")
refused nested 65 "macx pilot run: nested/pilot.yaml:$at: YAML does not parse: invalid nested block mapping on the same line" nested/pilot.yaml
# The broker's configuration goes through the same parser.
printf 'sync: false\nclock:\n  mode: simulated\n  federates: [mi5, ctp\n  start: 2026-01-05\n' > broker.yaml
run 78 broker_bracket "$MACX" broker --config broker.yaml --keys k --policy "$POLICY" --data d
[ "$(cat broker_bracket.err)" = "macx broker: broker.yaml:4:14: YAML does not parse: '[' is never closed" ] \
    || fail "broker_bracket: $(cat broker_bracket.err)"

# An agency the policy does not declare (a typo in its id, everywhere).
fresh agency
python3 - agency/pilot.yaml <<'PY'
import sys
s = open(sys.argv[1]).read()
open(sys.argv[1], "w").write(s.replace("la-london", "la-londn"))
PY
at=$(pos agency/pilot.yaml "la-londn
    kind")
refused agency 65 "macx pilot run: agency/pilot.yaml:$at: agency 'la-londn' is not among the policy's agencies (agency/policy/schema.yaml); the broker would refuse every record to or from it" agency/pilot.yaml

# An agreement override the policy does not have.
fresh override
edit override/pilot.yaml "agreements: {}" "agreements: {isa-nope: {effective_day: 3}}"
at=$(pos override/pilot.yaml "isa-nope")
refused override 65 "macx pilot run: override/pilot.yaml:$at: agreement 'isa-nope' is not in the policy override/policy" override/pilot.yaml

# A policy directory that is not there; a policy without its agreements.
fresh nopolicy
edit nopolicy/pilot.yaml "policy: policy" "policy: polcy"
at=$(pos nopolicy/pilot.yaml "polcy")
refused nopolicy 66 "macx pilot run: nopolicy/pilot.yaml:$at: the policy directory nopolicy/polcy does not exist" nopolicy/pilot.yaml
fresh noagreements
rm -r noagreements/policy/agreements
refused noagreements 66 "macx pilot run: noagreements/policy/agreements: no agreements directory" noagreements/pilot.yaml

# A missing scenario file.
refused missing 66 "macx pilot run: nope.yaml: No such file or directory" nope.yaml

# A scenario directory stands for its pilot.yaml (with or without a '/');
# a directory without one is refused.
run 0 dir "$MACX" pilot run good --subjects 5 --out run_dir --quiet
has dir out "report: run_dir/report.html"
expect dir run_dir/run.json 'lines[0]["scenario"]' "good/pilot.yaml"
run 0 dir_slash "$MACX" pilot run good/ --subjects 5 --out run_dir_slash --quiet
mkdir -p empty
refused empty_dir 66 "macx pilot run: empty is a directory without a pilot.yaml (give a scenario file, or a scenario directory holding its pilot.yaml)" empty/

# The watch's providers and the evidence model: each mistake named where it is.
fresh feed
edit feed/pilot.yaml "feed: flight_booking     # a flight booked (5.7)" "feed: train_ticket"
refused feed_unknown 65 "macx pilot run: feed/pilot.yaml:$(pos feed/pilot.yaml train_ticket): unknown feed 'train_ticket' (vehicle_hire, flight_booking, precursor_purchase)" feed/pilot.yaml
fresh nofeed
edit nofeed/pilot.yaml "    feed: flight_booking     # a flight booked (5.7)
" ""
at=$(pos nofeed/pilot.yaml "id: tw-airline")
refused feed_missing 65 "macx pilot run: nofeed/pilot.yaml:${at%:*}:5: agency 'tw-airline' of kind provider needs a 'feed' (vehicle_hire, flight_booking, precursor_purchase): the events its tripwire sees" nofeed/pilot.yaml
fresh member
edit member/pilot.yaml "members: [la-london, ogd-dwp, ogd-probation, ogd-health]" "members: [la-london, tw-airline]"
refused provider_member 65 "macx pilot run: member/pilot.yaml:$(pos member/pilot.yaml "id: nmac"): MAC 'nmac': 'tw-airline' is a provider: it runs tripwires for the watch and sits on no panel" member/pilot.yaml
fresh old
printf 'behaviour:\n  noise_sigma: 0.1\n' >> old/pilot.yaml
refused behaviour_gone 65 "macx pilot run: old/pilot.yaml:$(pos old/pilot.yaml "noise_sigma" | sed 's/:.*//'):3: 'behaviour' (a score with noise and thresholds) is gone: the Level follows from the evidence; write 'evidence' (level2_strands, level3_strands, indicators_strand, category_strand; docs/pilot.md)" old/pilot.yaml

finish
