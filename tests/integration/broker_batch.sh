#!/usr/bin/env bash
# broker_batch.sh -- batch-signed records at the broker (docs/protocol.md,
# "Batch signatures"): macx_peer batchorder sends two batches of mi5 -> ctp
# records and one signed on its own, one at a time: a record after a later
# one of its batch is refused BATCH_REORDERED, a forged inclusion path
# BATCH_PATH_INVALID, a root claimed for another agency BATCH_FOREIGN_ROOT, a
# record of an ended batch inside another BATCH_MISMATCH; the rest are
# accepted. Each refusal is audited with its reason; ctp receives exactly the
# accepted ones, each verifiable on its own (`macx recv` opens them); the
# broker checked each root's signature once. Then `macx send --batch` for a
# stream, and the audit verifies.
# Usage: broker_batch.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"
PEER=${MACX_PEER:-$(dirname "$MACX")/../tests/macx_peer}
[ -x "$PEER" ] || { fail "no macx_peer at '$PEER' (set MACX_PEER)"; finish; }

keys_init keys broker mi5 ctp
start_broker broker.log data || finish broker.log

run 0 order "$PEER" batchorder --keys keys --broker "$EP" --as mi5 --to ctp --type case_file
expect order order.out '[(l["step"], l["answer"]) for l in lines if "step" in l]' \
    "[('A0', 'ACK'), ('A1', 'ACK'), ('A3', 'ACK'), ('A2-after-A3', 'BATCH_REORDERED'), ('A4-forged-path', 'BATCH_PATH_INVALID'), ('A4-foreign-root', 'BATCH_FOREIGN_ROOT'), ('B0', 'ACK'), ('A4-inside-B', 'BATCH_MISMATCH'), ('B1', 'ACK'), ('single', 'ACK'), ('B2-after-single', 'BATCH_MISMATCH')]"

run 0 audit "$MACX" audit show data --json --event refuse
expect audit audit.out '[l["reason"] for l in lines]' \
    "['BATCH_REORDERED', 'BATCH_PATH_INVALID', 'BATCH_FOREIGN_ROOT', 'BATCH_MISMATCH', 'BATCH_MISMATCH']"
has audit out "came after record 3 of the same batch"
has audit out "cut from one batch and pasted into another"

# ctp gets the six accepted, each opened and verified on its own.
run 0 recv "$MACX" recv --keys keys --broker "$EP" --as ctp --count 6 --timeout 20 --json
expect recv recv.out 'len(lines)' 6
run 0 status "$MACX" status --keys keys --broker "$EP" --as mi5 --timeout 20 --json
# roots: A, B (each once; the forged and foreign copies were refused before
# their signature was looked at)
expect status status.out 'lines[0]["batch_roots"]["verified"]' 2

# A stream batch-signed by the agent runtime.
run 0 stream "$MACX" send --keys keys --broker "$EP" --as mi5 --to ctp --type case_file \
    --phase identification --purpose mac_case_management --case C-STREAM --subject S-1 \
    --field subject_name="Ada Quill" --field closure_category=closed \
    --repeat 2000 --batch 128 --timeout 30 --json
expect stream stream.out '(lines[0]["acked"], lines[0]["refused"])' "(2000, 0)"
run 0 status2 "$MACX" status --keys keys --broker "$EP" --as mi5 --timeout 20 --json
expect status2 status2.out 'lines[0]["batch_roots"]["verified"] < 2 + 2000 / 16' yes
run 0 recv2 "$MACX" recv --keys keys --broker "$EP" --as ctp --count 2000 --timeout 30 --json
expect recv2 recv2.out 'len(lines)' 2000

run 64 usage "$MACX" send --keys keys --broker "$EP" --as mi5 --to ctp --type case_file \
    --phase identification --purpose mac_case_management --case C-1 --subject S-1 --batch 8
has usage err "--batch needs --repeat"
run 64 usage2 "$MACX" send --keys keys --broker "$EP" --as mi5 --to ctp --type case_file \
    --phase identification --purpose mac_case_management --case C-1 --subject S-1 \
    --repeat 2 --batch 5000
has usage2 err "--batch"
stop_broker
run 0 verify "$MACX" audit verify data --keys keys
finish broker.log
