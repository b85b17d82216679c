#!/usr/bin/env bash
# broker_clock.sh -- the broker owns the clock: agreements are judged by the
# broker's time, never by the time a sender claims. With the baseline's
# London agreement made to expire on 2026-04-15, a broker whose clock reads
# 2026-05-01 (--clock-start):
#   - refuses a share that claims 2026-04-10 (backdated before the expiry)
#     CLOCK_SKEW, naming both times, with the default 5-minute skew;
#   - with a skew wide enough to let the claim through (--max-skew 30d),
#     judges the same share at its own time: AGREEMENT_EXPIRED, and its
#     audit entry carries the broker's time, not the claim;
# while a broker whose clock reads 2026-04-10 accepts it (control), and a
# record that claims only its creation time is judged on the wall clock
# (expired: refused). Every refusal is audited.
# Usage: broker_clock.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

keys_init keys broker mi5 ctp la-london
cp -r "$POLICY" expiring
sed -i -e 's/^expires: .*/expires: 2026-04-15/' -e 's/^review_by: .*/review_by: 2026-04-15/' \
    -e 's/^review_grace_days: .*/review_grace_days: 60/' expiring/agreements/isa-nmac-la-london.yaml
POLICY=$PWD/expiring
run 0 check "$MACX" policy check expiring
SHARE=(--as mi5 --to la-london --type share --phase sharing --purpose mac_case_management
       --subject S-1 --field subject_name="Ada Quill" --timeout 20 --json)

# The broker's clock after the agreement expired; the share claims before.
start_broker broker.log data --clock-start 2026-05-01 || finish broker.log
run 1 backdated "$MACX" send $(client) "${SHARE[@]}" --case C-BACK --sim-day 2026-04-10
has backdated err "CLOCK_SKEW"
has backdated err "the date 2026-04-10"
has backdated err "2026-05-01T"
has backdated err "at most 5.0 min allowed"
stop_broker

start_broker broker2.log data --clock-start 2026-05-01 --max-skew 30d || finish broker2.log
open_case C-JUDGED S-1 --sim-day 2026-04-10
run 1 judged "$MACX" send $(client) "${SHARE[@]}" --case C-JUDGED --sim-day 2026-04-10
has judged err "AGREEMENT_EXPIRED"
stop_broker

# Control: on a clock that reads 2026-04-10 the same share is in force.
start_broker broker3.log data --clock-start 2026-04-10 || finish broker3.log
open_case C-OK S-1 --sim-day 2026-04-10
run 0 in-force "$MACX" send $(client) "${SHARE[@]}" --case C-OK --sim-day 2026-04-10
stop_broker
# A record that claims nothing but its creation time, on the wall clock
# (after 2026-04-15): expired.
start_broker broker4.log data || finish broker4.log
open_case C-LIVE
run 1 live "$MACX" send $(client) "${SHARE[@]}" --case C-LIVE
has live err "AGREEMENT_EXPIRED"
run 0 status "$MACX" status $(client) --as mi5 --json
expect status status.out 'lines[0]["clock"]["mode"]' wall
expect status status.out 'lines[0]["clock"]["max_skew_ms"]' 300000
stop_broker

# The audit: the refusals carry the broker's time by which they were judged.
run 0 refused "$MACX" audit show data --event refuse --json
expect refused refused.out '[l["case_id"] for l in lines]' "['C-BACK', 'C-JUDGED', 'C-LIVE']"
expect refused refused.out '[l["reason"] for l in lines]' "['CLOCK_SKEW', 'AGREEMENT_EXPIRED', 'AGREEMENT_EXPIRED']"
expect refused refused.out 'lines[1]["clock_ms"] // 86400000' 20574   # the broker's 2026-05-01
expect refused refused.out 'lines[1]["sim_day"]' 20553                # the claim: 2026-04-10
run 0 accepted "$MACX" audit show data --event accept --json
# (each case opened by MI5's case file: docs/policy.md "Case context")
expect accepted accepted.out '[l["case_id"] for l in lines if l["record_type"] == "share"]' "['C-OK']"
expect accepted accepted.out '[l["clock_ms"] // 86400000 for l in lines if l["record_type"] == "share"]' "[20553]"
run 0 verify "$MACX" audit verify data --keys keys

# Bad clock options are usage errors that say what is wrong.
run 64 bad-start "$MACX" broker --keys keys --policy "$POLICY" --data d2 --clock-start 2029-02-30
has bad-start err "macx broker: --clock-start must be a date YYYY-MM-DD, not '2029-02-30'"
run 64 bad-skew "$MACX" broker --keys keys --policy "$POLICY" --data d2 --max-skew soon
has bad-skew err "macx broker: --max-skew must be a duration such as 300000, 500ms, 90s, 5m, 2h or 30d, not 'soon'"
run 64 bad-pace "$MACX" broker --keys keys --policy "$POLICY" --data d2 --pace 20
has bad-pace err "--pace needs a simulated clock"
finish broker.log broker2.log broker3.log broker4.log
