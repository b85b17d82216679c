#!/usr/bin/env bash
# broker_oversize.sh -- frames too big for a record leave a trace, naming the
# agency: one of 2 MiB (read: the broker reads frames up to 4 MiB) is refused
# TOO_LARGE with an audit entry and a log line; one of 100 MiB (libzmq closes
# the connection before reading it) is audited as a `disconnect`,
# CONNECTION_LOST, with a log line, because the connection ended without the
# goodbye every well-behaved client sends. A client that says goodbye
# (`macx status`) leaves no such entry. The broker goes on serving.
# Usage: broker_oversize.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

PEER=${MACX_PEER:-$(dirname "$MACX")/../tests/macx_peer}
[ -x "$PEER" ] || { fail "no macx_peer at '$PEER' (set MACX_PEER)"; finish; }
keys_init keys broker mi5 ctp la-london
start_broker broker.log data || finish broker.log

run 0 big2 "$PEER" big --keys keys --broker "$EP" --as la-london --bytes $((2 << 20)) --seconds 2
run 0 big100 "$PEER" big --keys keys --broker "$EP" --as ctp --bytes $((100 << 20)) --seconds 3
run 0 status "$MACX" status --keys keys --as mi5 --broker "$EP" --json
lost () { grep -q 'msg="connection lost" agency=ctp' broker.log; }
wait_until 10 lost || fail "no log line for ctp's lost connection"
has broker log 'msg="refused" peer=la-london reason=TOO_LARGE'
stop_broker

run 0 audit "$MACX" audit show data --json
expect big2-audit audit.out '[(e["peer"], e["reason"]) for e in lines if e["event"] == "refuse"]' \
    "[('la-london', 'TOO_LARGE')]"
expect big2-why audit.out '[e["message"] for e in lines if e["event"] == "refuse"][0]' \
    "frame of 2097152 bytes is over the broker's limit of 1052672 bytes"
# both vanished without a goodbye (the tool never says one); mi5's status
# client said it, so mi5 has none
expect big100-audit audit.out 'sorted((e["peer"], e["reason"]) for e in lines if e["event"] == "disconnect")' \
    "[('ctp', 'CONNECTION_LOST'), ('la-london', 'CONNECTION_LOST')]"
run 0 verify "$MACX" audit verify data --keys keys
finish broker.log
