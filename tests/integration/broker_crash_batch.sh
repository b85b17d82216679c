#!/usr/bin/env bash
# broker_crash_batch.sh -- broker_crash.sh with the sender signing batches of
# up to 64 records (or what it sent within 5 ms): kill -9 of the broker
# mid-stream, restart; every ACKed record delivered exactly once, the audit
# verifies.
# Usage: broker_crash_batch.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
SEND_EXTRA="--batch 64 --batch-ms 5" exec bash "$(dirname "$0")/broker_crash.sh" "$@"
