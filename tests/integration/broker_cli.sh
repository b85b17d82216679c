#!/usr/bin/env bash
# broker_cli.sh -- `macx broker/send/recv/status` as commands: --help exits 0,
# bad options 64, a broken YAML config 78 naming file:line:column, a missing
# policy or key directory a clear message, a second broker on the same data
# directory refused, an unreachable broker 69; a broker run from a config
# file; SIGTERM drains (in the middle of a stream too) and writes a final
# checkpoint: `macx audit verify` reports no unsigned tail and the last entry
# is "stop".
# Usage: broker_cli.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

keys_init keys broker mi5 ctp la-london

# ---- help and usage ---------------------------------------------------------
for cmd in broker send recv status; do
    run 0 "help-$cmd" "$MACX" "$cmd" --help
    has "help-$cmd" out "usage: macx $cmd"
    [ ! -s "help-$cmd.err" ] || fail "$cmd --help wrote to stderr"
    run 64 "bogus-$cmd" "$MACX" "$cmd" --bogus
    has "bogus-$cmd" err "macx $cmd: unknown option '--bogus'; see 'macx $cmd --help'"
done
# The broker's page, its Options section generated from the option table,
# against its golden file (MACX_UPDATE_GOLDEN=1 rewrites it).
if [ "${MACX_UPDATE_GOLDEN:-}" = 1 ]; then
    cp help-broker.out "$SRC/tests/data/broker/help.txt"
fi
diff -u "$SRC/tests/data/broker/help.txt" help-broker.out > help-broker.diff \
    || fail "macx broker --help differs from tests/data/broker/help.txt: $(head -20 help-broker.diff)"
run 64 send-missing "$MACX" send --keys keys --as mi5 --to ctp --type share
run 64 send-repeat "$MACX" send --keys keys --as mi5 --to ctp --type share --repeat 0
run 64 send-acked "$MACX" send --keys keys --as mi5 --to ctp --type share --phase sharing \
    --purpose p --case C --subject S --acked out.txt
run 64 send-phase "$MACX" send --keys keys --as mi5 --to ctp --type share --phase lunch \
    --purpose p --case C --subject S
run 64 send-noas "$MACX" send --keys keys --to ctp --type share --phase sharing --purpose p \
    --case C --subject S
run 64 recv-count "$MACX" recv --keys keys --as ctp --count -1
run 64 recv-extra "$MACX" recv --keys keys --as ctp extra
run 64 status-extra "$MACX" status --keys keys --as ctp extra

# ---- configuration errors ---------------------------------------------------
printf 'bind: "tcp://127.0.0.1:1"\nkeys: [keys\n' > syntax.yaml
run 78 config-syntax "$MACX" broker --config syntax.yaml
grep -Eq 'syntax\.yaml:[0-9]+:[0-9]+' config-syntax.err \
    || fail "config-syntax: no file:line:column in: $(cat config-syntax.err)"
printf 'keys: keys\nbogus: 3\n' > unknown.yaml
run 78 config-unknown "$MACX" broker --config unknown.yaml
has config-unknown err "unknown.yaml:2:1: unknown key 'bogus' in the configuration (expected one of: bind, keys, policy, data, identity, map_size, workers, batch_max, checkpoint_every, heartbeat_ms, purge_interval_ms, log_level, sync, effective, clock, limits)"
printf 'keys: keys\nworkers: lots\n' > value.yaml
run 78 config-value "$MACX" broker --config value.yaml
has config-value err "value.yaml:2:10: 'workers' must be a whole number from 0 to 16, not 'lots'"
run 78 config-missing "$MACX" broker --config nowhere.yaml
has config-missing err "nowhere.yaml"
run 66 no-policy "$MACX" broker --keys keys --policy "$S/no-such-policy" --data data-x \
    --bind tcp://127.0.0.1:1
has no-policy err "$S/no-such-policy"
run 66 no-keys "$MACX" broker --keys no-such-keys --policy "$POLICY" --data data-x \
    --bind tcp://127.0.0.1:1
has no-keys err "no-such-keys"
run 64 no-data "$MACX" broker --keys keys --policy "$POLICY"
# Every size and count is range-checked at start (64 on the command line, 78
# in the config file), with one wording for both: a huge or negative map is
# not taken, to fail later with "Cannot allocate memory".
SIZES="bytes, or a number with K, M, G or T"
for size in -4G 99999999999999999999 17T 1K; do
    run 64 "map-$size" "$MACX" broker --keys keys --policy "$POLICY" --data data-y --map-size "$size"
    has "map-$size" err "macx broker: --map-size must be $SIZES, from 64K to 16T, not '$size'; see 'macx broker --help'"
done
printf 'keys: keys\npolicy: %s\ndata: data-y\nmap_size: -4G\n' "$POLICY" > neg.yaml
run 78 map-config "$MACX" broker --config neg.yaml
has map-config err "macx broker: neg.yaml:4:11: 'map_size' must be $SIZES, from 64K to 16T, not '-4G'"
# A log level the broker does not know: 78 from the file, 64 on the command line.
printf 'keys: keys\npolicy: %s\ndata: data-y\nlog_level: loud\n' "$POLICY" > loud.yaml
run 78 level-config "$MACX" broker --config loud.yaml
has level-config err "macx broker: loud.yaml: 'log_level' must be debug, info, warn or error, not 'loud'"
run 64 level-cli "$MACX" broker --keys keys --policy "$POLICY" --data data-y --log-level loud
has level-cli err "macx broker: --log-level must be debug, info, warn or error, not 'loud'"
run 64 workers-big "$MACX" broker --keys keys --policy "$POLICY" --data data-y --workers 99
has workers-big err "macx broker: --workers must be a whole number from 0 to 16, not '99'"
printf 'keys: keys\npolicy: %s\ndata: data-y\nworkers: 99\n' "$POLICY" > workers.yaml
run 78 workers-config "$MACX" broker --config workers.yaml
has workers-config err "macx broker: workers.yaml:4:10: 'workers' must be a whole number from 0 to 16, not '99'"
# FLAG|VALUE|what it must be
while IFS='|' read -r flag value want; do
    run 64 "cli$flag" "$MACX" broker --keys keys --policy "$POLICY" --data data-y "$flag" "$value"
    has "cli$flag" err "macx broker: $flag must be $want, not '$value'; see 'macx broker --help'"
done <<'CASES'
--batch-max|0|a whole number from 1 to 65536
--checkpoint-every|-1|a whole number from 1 to 100000000
--heartbeat-ms|99|a whole number from 100 to 600000
--purge-interval-ms|1e3|a whole number from 10 to 86400000
--pace|-1|a number from 0 to 1000000000
CASES
# The limits: --limit NAME=VALUE (repeatable), limits: {NAME: VALUE} in the
# file. LIMIT|VALUE|what it must be
while IFS='|' read -r limit value want; do
    run 64 "limit-$limit" "$MACX" broker --keys keys --policy "$POLICY" --data data-y \
        --limit max_peers=8 --limit "$limit=$value"
    has "limit-$limit" err "macx broker: --limit $limit must be $want, not '$value'; see 'macx broker --help'"
    printf 'keys: keys\npolicy: %s\ndata: data-y\nlimits: {%s: "%s"}\n' "$POLICY" "$limit" \
        "$value" > "limit-$limit.yaml"
    run 78 "limit-$limit-config" "$MACX" broker --config "limit-$limit.yaml"
    has "limit-$limit-config" err "macx broker: limit-$limit.yaml:4:$((13 + ${#limit})): '$limit' must be $want, not '$value'"
done <<CASES
max_peers|0|a whole number from 1 to 65536
max_credit|1048577|a whole number from 1 to 1048576
max_inflight_bytes|2G|$SIZES, from 64K to 1G
peer_queue_frames|-5|a whole number from 1 to 65536
peer_queue_bytes|63K|$SIZES, from 64K to 1G
peer_out_frames|15|a whole number from 16 to 1048576
verify_inflight|65537|a whole number from 0 to 65536
CASES
LIMITS="max_peers, max_credit, max_inflight_bytes, peer_queue_frames, peer_queue_bytes, peer_out_frames, verify_inflight"
run 64 limit-unknown "$MACX" broker --keys keys --policy "$POLICY" --data data-y --limit max_credt=5
has limit-unknown err "macx broker: --limit: unknown limit 'max_credt' (expected one of: $LIMITS); see 'macx broker --help'"
run 64 limit-form "$MACX" broker --keys keys --policy "$POLICY" --data data-y --limit max_credit
has limit-form err "macx broker: --limit 'max_credit' must be NAME=VALUE (NAME one of: $LIMITS)"
printf 'keys: keys\nlimits:\n  max_credit: 64\n  max_credt: 5\n' > limit-key.yaml
run 78 limit-key "$MACX" broker --config limit-key.yaml
has limit-key err "macx broker: limit-key.yaml:4:3: unknown key 'max_credt' in limits (expected one of: $LIMITS)"
printf 'keys: keys\nlimits:\n  max_credit: 64\n  max_credit: 5\n' > limit-dup.yaml
run 78 limit-dup "$MACX" broker --config limit-dup.yaml
has limit-dup err "macx broker: limit-dup.yaml:4:3: YAML does not parse: duplicate key"
printf 'keys: keys\nlimits: 5\n' > limit-scalar.yaml
run 78 limit-scalar "$MACX" broker --config limit-scalar.yaml
has limit-scalar err "macx broker: limit-scalar.yaml:2:9: limits must be a mapping of keys to values"
[ ! -e data-y ] || fail "a refused start created its data directory"
# Other agencies' secrets in the broker's key directory: refused when group or
# others can read them, named in a warning otherwise.
cp -r keys keys-loose
chmod 644 keys-loose/mi5.secret
run 78 loose-secret "$MACX" broker --keys keys-loose --policy "$POLICY" --data data-y
has loose-secret err "macx broker: keys-loose holds other agencies' secret keys that group or others can read: mi5.secret (0644); the broker needs only their public keys (ID.pub)"
[ ! -e data-y ] || fail "a broker refused for loose secrets created its data directory"

# ---- a broker from a config file; nothing listens: 69 -------------------------
EP=tcp://127.0.0.1:$(free_port)
run 69 unreachable "$MACX" send $(client) --as mi5 --to ctp --type share --phase sharing \
    --purpose mac_case_management --case C-1 --subject S-1 --field subject_name=A --timeout 2
has unreachable err "macx send: cannot reach the broker at $EP: no answer within 2 s"
cat > broker.yaml <<EOF
# the test's broker
bind: "$EP"
keys: keys
policy: "$POLICY"
data: data
checkpoint_every: 100
log_level: info
limits: {max_credit: 512, peer_queue_bytes: 8M}
EOF
"$MACX" broker --config broker.yaml 2> broker.log &
BROKER=$!
PIDS+=("$BROKER")
wait_until 20 grep -q 'msg="listening"' broker.log || { fail "broker from config"; finish broker.log; }
has broker log "bind=$EP"
has broker log "msg=\"other agencies' secret keys in the broker's key directory\" dir=keys secrets=\""
has broker log "mi5.secret (0600)"

# A second broker on the same data directory is refused and changes nothing.
run 74 second "$MACX" broker --keys keys --policy "$POLICY" --data data --bind tcp://127.0.0.1:1
has second err "another broker is using this data directory"

SHARE=(--to la-london --type share --phase sharing --purpose mac_case_management --subject S-1
       --field subject_name="Ada Quill")
open_case C-1
run 0 send-1 "$MACX" send $(client) --as mi5 "${SHARE[@]}" --case C-1 --timeout 20
run 1 send-2 "$MACX" send $(client) --as mi5 "${SHARE[@]}" --case C-1 --field kis_ref=K --timeout 20

# ---- SIGTERM: drain and a final checkpoint ----------------------------------
# One record left undelivered in the mailbox; it must survive the stop.
stop_broker
has broker log 'msg="stopped"'
run 0 verify-1 "$MACX" audit verify data --keys keys --json
expect verify-1 verify-1.out '(lines[0]["intact"], lines[0]["unsigned_tail"])' "(True, 0)"
expect verify-1 verify-1.out 'lines[0]["last_checkpoint"] == lines[0]["entries"]' yes
run 0 show-1 "$MACX" audit show data --json
expect show-1 show-1.out '[e["event"] for e in lines]' "['start', 'accept', 'accept', 'refuse', 'stop']"

# In the middle of a stream: the broker stops within the bound, the log ends
# with "stop" and is signed to the end; after a restart the sender's agent
# re-sends what was not answered and every record is accepted exactly once.
start_broker broker2.log data || finish broker.log broker2.log
N=3000
# mi5 -> la-london is capped at 200 a day by its agreement: the stream goes
# to ctp (no cap).
STREAM=(--to ctp --type case_file --phase identification --purpose mac_case_management
        --subject S-1 --field subject_name="Ada Quill" --field closure_category=closed)
"$MACX" send $(client) --as mi5 "${STREAM[@]}" --case C-STREAM --repeat "$N" --rate 1500 \
    --acked acked.txt --timeout 60 --json > stream.out 2> stream.err &
SEND=$!
PIDS+=("$SEND")
some () { [ "$("$MACX" audit show data --event accept --case C-STREAM | wc -l)" -ge 300 ]; }
wait_until 60 some || fail "the stream did not start"
stop_broker
IN=$("$MACX" audit show data --event accept --case C-STREAM | wc -l)
note "SIGTERM with $IN of $N stream records accepted"
[ "$IN" -lt "$N" ] || fail "the stream ended before SIGTERM"
run 0 verify-2 "$MACX" audit verify data --keys keys --json
expect verify-2 verify-2.out '(lines[0]["intact"], lines[0]["unsigned_tail"])' "(True, 0)"
run 0 show-2 "$MACX" audit show data --json --from 5
expect show-2 show-2.out 'lines[-1]["event"]' stop
has broker2 log 'msg="stopped"'

start_broker broker3.log data || finish broker2.log broker3.log
wait_exit "$SEND" 90
[ "$WAIT_RC" = 0 ] || fail "stream sender exit $WAIT_RC: $(cat stream.out stream.err | head)"
run 0 accepts "$MACX" audit show data --json --event accept --case C-STREAM
expect accepts accepts.out '(len(lines), len(set(e["record_id"] for e in lines)))' "($N, $N)"
python3 -c 'import json, sys
acked = set(l.strip() for l in open("acked.txt") if l.strip())
accepted = set(json.loads(l)["record_id"] for l in open("accepts.out"))
sys.exit(0 if acked == accepted and len(acked) == int(sys.argv[1]) else 1)' "$N" \
    || fail "ACKed ids differ from accepted ids"
# The record left in the mailbox before the first stop is still there.
run 0 recv "$MACX" recv $(client) --as la-london --count 1 --timeout 20 --json
expect recv recv.out 'lines[0]["header"]["case_id"]' C-1
stop_broker
run 0 verify-3 "$MACX" audit verify data --keys keys --json
expect verify-3 verify-3.out '(lines[0]["intact"], lines[0]["unsigned_tail"])' "(True, 0)"
finish broker.log broker2.log broker3.log stream.err
