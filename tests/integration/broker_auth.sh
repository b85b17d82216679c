#!/usr/bin/env bash
# broker_auth.sh -- who may connect: a transport key not in the broker's key
# directory is refused by ZAP (exit 69, "refused ... transport key"), so is an
# agency revoked in it (after `macx keys revoke` and a broker restart), and a
# record to a revoked recipient is refused RECIPIENT_REVOKED and audited.
# Usage: broker_auth.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

keys_init keys broker mi5 ctp la-london ogd-dwp
CASE=(--type case_file --phase identification --purpose mac_case_management --case C-1
      --subject S-1 --field subject_name="Ada Quill" --field closure_category=closed)
start_broker broker.log data || finish broker.log

# The registered key works (so a refusal below is about the key).
run 0 send-registered "$MACX" send $(client) --as mi5 --to ctp "${CASE[@]}" --timeout 20

# ---- an unregistered key ----------------------------------------------------
# Same agency names, same broker public key, but mi5's own keys are new.
keys_init other mi5
mkdir keys-rogue
cp keys/*.pub keys-rogue/
cp other/mi5.pub other/mi5.secret keys-rogue/
run 69 send-rogue "$MACX" send --keys keys-rogue --broker "$EP" --as mi5 --to ctp "${CASE[@]}" \
    --timeout 20
has send-rogue err "refused"
has send-rogue err "transport key"
run 69 recv-rogue "$MACX" recv --keys keys-rogue --broker "$EP" --as mi5 --count 1 --timeout 20
has recv-rogue err "transport key"
run 69 status-rogue "$MACX" status --keys keys-rogue --broker "$EP" --as mi5 --timeout 20
run 0 status "$MACX" status $(client) --as mi5 --timeout 20 --json
expect status status.out 'lines[0]["connections_refused"] >= 3' yes
expect status status.out 'lines[0]["accepted"]' 1

# ---- a revoked agency -------------------------------------------------------
# The clients keep a copy made before the revocation, so that the broker, not
# the client's own key directory, is what refuses.
cp -a keys keys-client
run 0 revoke "$MACX" keys revoke keys ctp --reason "integration test"
stop_broker
start_broker broker2.log data || finish broker.log broker2.log

run 69 recv-revoked "$MACX" recv --keys keys-client --broker "$EP" --as ctp --count 1 --timeout 20
has recv-revoked err "refused"
has recv-revoked err "transport key"
run 69 send-revoked "$MACX" send --keys keys-client --broker "$EP" --as ctp --to mi5 \
    --type share --phase sharing --purpose mac_case_management --case C-1 --subject S-1 \
    --field subject_name="Ada Quill" --timeout 20
has send-revoked err "transport key"
# With the broker's own key directory the client refuses itself.
run 65 recv-revoked-local "$MACX" recv $(client) --as ctp --count 1 --timeout 5
has recv-revoked-local err "revoked"

# ---- a revoked recipient ----------------------------------------------------
run 1 send-to-revoked "$MACX" send --keys keys-client --broker "$EP" --as mi5 --to ctp \
    "${CASE[@]}" --timeout 20 --json
has send-to-revoked err "RECIPIENT_REVOKED"
has send-to-revoked err "ctp"
RID=$(json send-to-revoked.out 'lines[0]["record_id"]' 2> /dev/null || echo none)
run 0 audit "$MACX" audit show data --json
expect audit audit.out \
    "[(e['event'], e['decision'], e['reason'], e['peer']) for e in lines if e['record_id'] == '$RID']" \
    "[('refuse', 'deny', 'RECIPIENT_REVOKED', 'mi5')]"

# Others still get through (case C-1, which the case file above opened).
run 0 send-after "$MACX" send $(client) --as mi5 --to la-london --type share --phase sharing \
    --purpose mac_case_management --case C-1 --subject S-1 --field subject_name="Bo Rand" \
    --timeout 20
stop_broker
run 0 verify "$MACX" audit verify data --keys keys
finish broker.log broker2.log
