#!/usr/bin/env bash
# broker_reload.sh -- the registry and the policy are live (issue 14, item 1):
# `macx keys revoke` takes effect in a running broker within a second (new
# connections refused, the open one closed, records to it refused), as do a
# new agency, new keys and a restored one, all audited; `macx broker reload` (SIGHUP) swaps in a changed policy, which
# judges the next record, with both hashes in the audit; a policy that does
# not check is refused (exit 65) and the one in force stays.
# Usage: broker_reload.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

keys_init keys broker mi5 ctp la-london ogd-dwp
cp -a keys keys-client          # the clients' copy: the broker's is what refuses
cp -a "$SRC/scenarios/baseline/policy" policy
POLICY=$S/policy
CASE=(--type case_file --phase identification --purpose mac_case_management --case C-1
      --subject S-1 --field subject_name="Ada Quill" --field closure_category=closed)
start_broker broker.log data || finish broker.log
run 0 send-before "$MACX" send --keys keys-client --broker "$EP" --as mi5 --to ctp "${CASE[@]}" \
    --timeout 20

# ---- revocation, live ----------------------------------------------------------
# ctp is connected (receiving) when it is revoked.
"$MACX" recv --keys keys-client --broker "$EP" --as ctp --count 1000 --timeout 60 \
    > recv-open.out 2> recv-open.err &
RECV=$!
PIDS+=("$RECV")
wait_until 20 grep -q . recv-open.out || fail "ctp's session did not take its delivery"
run 0 revoke "$MACX" keys revoke keys ctp --reason "reload test"
sleep 1
# One second on, without a restart: ctp cannot connect, nor send.
run 69 send-revoked "$MACX" send --keys keys-client --broker "$EP" --as ctp --to mi5 \
    --type share --phase sharing --purpose mac_case_management --case C-1 --subject S-1 \
    --field subject_name="Ada Quill" --timeout 10
has send-revoked err "refused"
# Its open session was closed by the broker.
wait_exit "$RECV" 20
[ "$WAIT_RC" != 0 ] && [ "$WAIT_RC" != 124 ] \
    || fail "ctp's open recv was not closed by the revocation (exit $WAIT_RC)"
has recv-open err "revoked"
# A record to it is refused.
run 1 send-to-revoked "$MACX" send --keys keys-client --broker "$EP" --as mi5 --to ctp \
    "${CASE[@]}" --timeout 20
has send-to-revoked err "RECIPIENT_REVOKED"
run 0 audit1 "$MACX" audit show data --json
expect audit1 audit1.out \
    "sorted((e['event'], e['reason']) for e in lines if e.get('peer') == 'ctp' and e['event'] in ('key_revoked', 'disconnect'))" \
    "[('disconnect', 'SENDER_REVOKED'), ('key_revoked', 'SENDER_REVOKED')]"
expect audit1 audit1.out \
    "[e['message'] for e in lines if e['event'] == 'key_revoked'][0].startswith('revoked (reload test)')" yes

# ---- policy reload -------------------------------------------------------------------
# (case C-1, which MI5's case file above opened: docs/policy.md "Case context")
SHARE=(--type share --phase sharing --purpose mac_case_management --case C-1 --subject S-1
       --field subject_name="Bo Rand")
run 0 share-old "$MACX" send --keys keys-client --broker "$EP" --as mi5 --to la-london \
    "${SHARE[@]}" --timeout 20
OLD=$(json audit1.out "[e['policy_hash'] for e in lines if e['event'] == 'accept'][0]")
# The flow behind mi5 -> la-london shares no longer in the sharing phase.
sed -i '0,/    phases: \[sharing\]/s//    phases: [enrichment]/' policy/agreements/isa-nmac-la-london.yaml
run 0 reload "$MACX" broker reload --data data
has reload out "policy reloaded: $OLD -> "
NEW=$(sed -n 's/.* -> \([^ ]*\).*/\1/p' reload.out)
[ -n "$NEW" ] && [ "$NEW" != "$OLD" ] || fail "reload names no new hash: $(cat reload.out)"
run 1 share-new "$MACX" send --keys keys-client --broker "$EP" --as mi5 --to la-london \
    "${SHARE[@]}" --timeout 20 --json
has share-new err "refused"
run 0 audit2 "$MACX" audit show data --json
expect audit2 audit2.out \
    "[(e['previous_policy_hash'], e['policy_hash']) for e in lines if e['event'] == 'policy_reload']" \
    "[('$OLD', '$NEW')]"
expect audit2 audit2.out "[e['policy_hash'] for e in lines if e['event'] == 'refuse'][-1]" "$NEW"

# A policy that does not check is refused; the one in force stays.
printf 'agreement: [unclosed\n' > policy/agreements/broken.yaml
run 65 reload-broken "$MACX" broker reload --data data
has reload-broken err "broken.yaml"
has reload-broken err "stays"
rm policy/agreements/broken.yaml
run 1 share-after "$MACX" send --keys keys-client --broker "$EP" --as mi5 --to la-london \
    "${SHARE[@]}" --timeout 20
has share-after err "refused"
run 0 audit3 "$MACX" audit show data --json
expect audit3 audit3.out \
    "[(e['event'], e['policy_hash']) for e in lines if e['event'].startswith('policy_reload')][-1]" \
    "('policy_reload_refused', '$NEW')"

# SIGHUP is the same reload; a restored key works again, live.
sed -i '/^ctp /d' keys/revoked
kill -HUP "$BROKER"
wait_until 10 grep -q '"request":3' data/reload.json || fail "SIGHUP gave no answer: $(cat data/reload.json)"
run 0 send-restored "$MACX" send --keys keys-client --broker "$EP" --as mi5 --to ctp "${CASE[@]}" \
    --case C-3 --timeout 20
run 0 recv-restored "$MACX" recv --keys keys-client --broker "$EP" --as ctp --count 1 --timeout 20
# --json: the broker's answer, one JSON object
run 0 reload-json "$MACX" broker reload --data data --json
expect reload-json reload-json.out "(lines[0]['result']['ok'], lines[0]['result']['keys']['ok'], lines[0]['request'])" "(True, True, 4)"
# A new agency may connect at once; an agency given new keys cannot connect
# with the old ones.
keys_init new la-leeds ogd-dwp
cp new/la-leeds.pub keys/
cp new/la-leeds.pub new/la-leeds.secret keys-client/
cp new/ogd-dwp.pub keys/ogd-dwp.pub.tmp
mv keys/ogd-dwp.pub.tmp keys/ogd-dwp.pub
sleep 1
run 0 status-added "$MACX" status --keys keys-client --broker "$EP" --as la-leeds --timeout 10
run 69 status-rekeyed "$MACX" status --keys keys-client --broker "$EP" --as ogd-dwp --timeout 10
has status-rekeyed err "transport key"
run 0 audit4 "$MACX" audit show data --json
expect audit4 audit4.out \
    "sorted((e['event'], e['peer']) for e in lines if e['event'] in ('key_added', 'key_changed'))" \
    "[('key_added', 'la-leeds'), ('key_changed', 'ogd-dwp')]"
# A key directory that does not load leaves the registry as it was.
printf 'not a key file\n' > keys/broken.pub
sleep 1
run 0 status-kept "$MACX" status --keys keys-client --broker "$EP" --as la-leeds --timeout 10
rm keys/broken.pub
run 0 audit5 "$MACX" audit show data --json
expect audit5 audit5.out "any('broken.pub' in e['message'] for e in lines if e['event'] == 'keys_reload_refused')" yes

run 64 reload-usage "$MACX" broker reload
run 69 reload-none "$MACX" broker reload --data nowhere
stop_broker
run 69 reload-stopped "$MACX" broker reload --data data
has reload-stopped err "no broker is running"
run 0 verify "$MACX" audit verify data --keys keys
finish broker.log
