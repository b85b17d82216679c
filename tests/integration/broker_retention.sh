#!/usr/bin/env bash
# broker_retention.sh -- retention obligations: a record still undelivered
# when its agreement's retention period ends is erased from the broker's
# store and the erasure audited (purge); a record within its retention is
# still delivered. The baseline's flow S1 (mi5 -> la-london shares) keeps
# records 365 days. Time passes on the broker's own clock, never on what
# senders claim: the broker runs as of 2026-02-01 (--clock-start), then is
# restarted as of 2027-03-08, 400 days later.
# Usage: broker_retention.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

keys_init keys broker mi5 ctp la-london
start_broker broker.log data --clock-start 2026-02-01 || finish broker.log
SHARE=(--type share --phase sharing --purpose mac_case_management --subject S-1
       --field subject_name="Ada Quill")

# An old share, left undelivered (la-london is not connected).
open_case C-OLD S-1 --sim-day 2026-02-01   # (docs/policy.md "Case context")
run 0 send-old "$MACX" send $(client) --as mi5 --to la-london "${SHARE[@]}" --case C-OLD \
    --sim-day 2026-02-01 --timeout 20 --json
OLD=$(json send-old.out 'lines[0]["record_id"]' 2> /dev/null || echo none)
# 400 days later on the broker's clock: past the old one's retention.
stop_broker
start_broker broker2.log data --clock-start 2027-03-08 || finish broker.log broker2.log
open_case C-NEW S-1 --sim-day 2027-03-08
run 0 send-new "$MACX" send $(client) --as mi5 --to la-london "${SHARE[@]}" --case C-NEW \
    --sim-day 2027-03-08 --timeout 20 --json
NEW=$(json send-new.out 'lines[0]["record_id"]' 2> /dev/null || echo none)

purged () { "$MACX" audit show data --event purge --json | grep "$OLD" > /dev/null; }
wait_until 20 purged || fail "no purge entry for the expired record $OLD"
run 0 show-purge "$MACX" audit show data --event purge --json
expect purge show-purge.out '[l["record_id"] for l in lines]' "['$OLD']"
expect purge show-purge.out 'lines[0]["recipient"]' la-london
expect purge show-purge.out 'lines[0]["case_id"]' C-OLD

# Only the record within its retention is delivered.
run 0 recv "$MACX" recv $(client) --as la-london --timeout 3 --json
expect recv recv.out '[l["header"]["record_id"] for l in lines]' "['$NEW']"
run 0 status "$MACX" status $(client) --as mi5 --json
expect status status.out 'lines[0]["purged"]' 1

stop_broker
run 0 verify "$MACX" audit verify data --keys keys
finish broker.log broker2.log
