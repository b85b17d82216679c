#!/usr/bin/env bash
# broker_records.sh -- several records in one frame (docs/protocol.md,
# "Records and Delivers frames"): macx_peer records sends a batch of six
# mi5 -> ctp records in Records frames. Each record in a frame is judged as
# if it had come alone: four good ones are accepted; in the next frame a
# good one is accepted, a replay refused REPLAY and a forged path
# BATCH_PATH_INVALID; the forged one's genuine copy alone in a frame is
# accepted. Records frames that are empty, truncated, carry another field or
# more than 1024 envelopes are refused whole, MALFORMED or TOO_LARGE, with
# what is wrong, and nothing of them is stored. ctp receives exactly the six
# (a backlog, which the broker sends in Delivers frames), and the audit
# verifies.
# Usage: broker_records.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"
PEER=${MACX_PEER:-$(dirname "$MACX")/../tests/macx_peer}
[ -x "$PEER" ] || { fail "no macx_peer at '$PEER' (set MACX_PEER)"; finish; }

keys_init keys broker mi5 ctp
start_broker broker.log data || finish broker.log

run 0 frames "$PEER" records --keys keys --broker "$EP" --as mi5 --to ctp --type case_file
expect frames frames.out '[(l["step"], l["answers"]) for l in lines if "step" in l]' \
    "[('C0-C3', ['0:ACK', '1:ACK', '2:ACK', '3:ACK']), ('C4,C1-again,C5-forged-path', ['4:ACK', '1:REPLAY', '5:BATCH_PATH_INVALID']), ('C5-alone', ['5:ACK']), ('empty', ['MALFORMED']), ('truncated', ['MALFORMED']), ('other-field', ['MALFORMED']), ('too-many', ['TOO_LARGE'])]"

run 0 audit "$MACX" audit show data --json --event refuse
expect audit audit.out '[l["reason"] for l in lines]' \
    "['REPLAY', 'BATCH_PATH_INVALID', 'MALFORMED', 'MALFORMED', 'MALFORMED', 'TOO_LARGE']"
has audit out "records frame carries no envelope"
has audit out "records frame is truncated or malformed after 0 envelopes"
has audit out "records frame has field 2"
has audit out "records frame carries over 1024 envelopes"

# The six accepted reach ctp, each opened and verified on its own; they were
# waiting together, so they came in Delivers frames.
run 0 recv "$MACX" recv --keys keys --broker "$EP" --as ctp --count 6 --timeout 20 --json
expect recv recv.out 'len(lines)' 6
expect recv recv.out 'len(set(l["header"]["record_id"] for l in lines))' 6
run 0 status "$MACX" status --keys keys --broker "$EP" --as mi5 --timeout 20 --json
expect status status.out '(lines[0]["accepted"], lines[0]["delivered"])' "(6, 6)"
expect status status.out 'lines[0]["batch_roots"]["verified"]' 1
# six deliveries, fewer frames: ctp connected to a backlog of six
expect status status.out '1 <= lines[0]["delivery_frames"] < 6' yes
expect status status.out 'lines[0]["sync_us"]["max"] > 0' yes
stop_broker
run 0 verify "$MACX" audit verify data --keys keys
finish broker.log
