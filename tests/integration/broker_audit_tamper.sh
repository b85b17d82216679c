#!/usr/bin/env bash
# broker_audit_tamper.sh -- the audit log a real broker wrote (accepts,
# refusals, deliveries, checkpoints), stopped, then copied through
# mdb_dump/mdb_load with one change each: one byte of an entry's contents,
# one byte of its stored hash, the entry removed, one byte of a checkpoint's
# signature. The untouched copy verifies; every altered one makes
# `macx audit verify` exit 65 and name the entry (or checkpoint) at fault.
# Usage: broker_audit_tamper.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

if ! command -v mdb_dump > /dev/null || ! command -v mdb_load > /dev/null; then
    echo "$TEST: skipped (no mdb_dump/mdb_load: install lmdb-utils)"
    exit 0
fi

keys_init keys broker mi5 ctp la-london
start_broker broker.log data --checkpoint-every 4 || finish broker.log
for c in C-0001 C-0002 C-TARGET C-0004 C-0005 C-0006; do open_case "$c"; done
for c in C-0001 C-0002 C-TARGET C-0004 C-0005; do
    run 0 "send-$c" "$MACX" send $(client) --as mi5 --to la-london --type share --phase sharing \
        --purpose mac_case_management --case "$c" --subject S-1 --field subject_name="Ada Quill" \
        --timeout 20
done
run 1 send-refused "$MACX" send $(client) --as mi5 --to la-london --type share --phase sharing \
    --purpose mac_case_management --case C-0006 --subject S-1 --field kis_ref=K-1 --timeout 20
run 0 recv "$MACX" recv $(client) --as la-london --count 5 --timeout 20
delivered () { [ "$("$MACX" audit show data --event deliver | wc -l)" -ge 5 ]; }
wait_until 20 delivered || fail "fewer than 5 deliveries audited"
stop_broker

run 0 verify "$MACX" audit verify data --keys keys --json
expect verify verify.out '(lines[0]["intact"], lines[0]["checkpoints"] >= 3)' "(True, True)"
run 0 show "$MACX" audit show data --json --event accept --case C-TARGET
SEQ=$(json show.out 'lines[0]["seq"]' 2> /dev/null || echo 0)
[ "$SEQ" -gt 1 ] || fail "no accept entry for C-TARGET"
run 0 dump mdb_dump -a data
mv dump.out dump.txt

# variant NAME PYTHON: copy of the dump changed by PYTHON (which edits
# `value`, the hex of the target entry's stored value, or sets it to None to
# drop the entry), loaded into directory NAME.
variant () {
    local name=$1 code=$2
    python3 - dump.txt "$name.txt" "$SEQ" "$code" <<'PY' || fail "$name: cannot make the variant"
import sys
src, dst, seq, code = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
out, db, lines, i, done = [], None, open(src).read().split('\n'), 0, False
while i < len(lines):
    l = lines[i]
    if l.startswith('database='):
        db = l[len('database='):]
    if db == 'audit' and l == ' %016x' % seq:
        value = lines[i + 1][1:]
        exec(code)
        if value is not None:
            out += [l, ' ' + value]
        i += 2
        done = True
        continue
    out.append(l)
    i += 1
assert done, 'entry %d not in the dump' % seq
open(dst, 'w').write('\n'.join(out))
PY
    mkdir "$name"
    mdb_load -f "$name.txt" "$name" 2> "$name.load" || fail "$name: mdb_load: $(cat "$name.load")"
}

# The round trip alone changes nothing.
variant same 'pass'
run 0 verify-same "$MACX" audit verify same --keys keys

# One byte of the entry's contents: "C-TARGET" becomes "C-TARGEU".
variant body 'assert value.count("432d544152474554") == 1; value = value.replace("432d544152474554", "432d544152474555")'
run 65 verify-body "$MACX" audit verify body --keys keys
has verify-body err "audit log broken at entry $SEQ: "
run 65 verify-body-json "$MACX" audit verify body --keys keys --json
expect verify-body-json verify-body-json.out '(lines[0]["intact"], lines[0]["first_bad"])' \
    "(False, $SEQ)"
run 0 show-body "$MACX" audit show body --case C-TARGEU
[ "$(wc -l < show-body.out)" = 1 ] || fail "the altered entry is not where expected"

# One byte of the stored hash (the value's first 32 bytes).
variant hash 'value = value[:10] + ("0" if value[10] != "0" else "1") + value[11:]'
run 65 verify-hash "$MACX" audit verify hash --keys keys
has verify-hash err "audit log broken at entry $SEQ: "

# The entry removed: a gap in the sequence.
variant gone 'value = None'
run 65 verify-gone "$MACX" audit verify gone --keys keys
has verify-gone err "audit log broken at entry $SEQ: "

# A checkpoint's signature: its last byte (the signature is the last field).
python3 - dump.txt sig.txt <<'PY' || fail "sig: cannot make the variant"
import sys
lines, db, keys = open(sys.argv[1]).read().split('\n'), None, 0
for i, l in enumerate(lines):
    if l.startswith('database='):
        db = l[len('database='):]
    elif db == 'checkpoints' and l.startswith(' ') and keys == 0:
        keys = 1                           # the first checkpoint's key
    elif db == 'checkpoints' and l.startswith(' ') and keys == 1:
        lines[i] = l[:-1] + ('0' if l[-1] != '0' else '1')
        break
else:
    sys.exit('no checkpoint in the dump')
open(sys.argv[2], 'w').write('\n'.join(lines))
PY
mkdir sig
mdb_load -f sig.txt sig 2> sig.load || fail "sig: mdb_load: $(cat sig.load)"
run 65 verify-sig "$MACX" audit verify sig --keys keys
has verify-sig err "checkpoint"

# The original is untouched.
run 0 verify-after "$MACX" audit verify data --keys keys
finish broker.log
