#!/usr/bin/env bash
# keys_record_cli.sh -- drives the real `macx keys` and `macx record` commands:
# key files and modes, list/show/revoke (text and --json, never a secret),
# seal then inspect (header only, signature, payload as a recipient, refusal
# of non-recipients and tampered files), --help everywhere, usage errors.
# Usage: keys_record_cli.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
set -euo pipefail

MACX=$1
case $MACX in */*) MACX=$(cd "$(dirname "$MACX")" && pwd)/$(basename "$MACX") ;; esac
S=$3
rm -rf "$S"
mkdir -p "$S"
cd "$S"
ALL=$S/all-output.log   # every byte any command printed, for the secret check
: > "$ALL"
failures=0

fail () {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# run WANT_EXIT NAME CMD...: runs CMD with stdout in NAME.out and stderr in
# NAME.err, and checks its exit code.
run () {
    local want=$1 name=$2 rc=0
    shift 2
    "$@" > "$S/$name.out" 2> "$S/$name.err" || rc=$?
    cat "$S/$name.out" "$S/$name.err" >> "$ALL"
    if [ "$rc" != "$want" ]; then
        fail "$name: exit $rc, want $want: $*"
        sed 's/^/  stdout| /' "$S/$name.out" >&2
        sed 's/^/  stderr| /' "$S/$name.err" >&2
    fi
}

# has NAME out|err TEXT: the stream holds TEXT (fixed string).
has () {
    if ! grep -qF -- "$3" "$S/$1.$2"; then
        fail "$1: std$2 lacks '$3'"
        sed "s/^/  std$2| /" "$S/$1.$2" >&2
    fi
}

lacks () {
    if grep -qF -- "$3" "$S/$1.$2"; then
        fail "$1: std$2 holds '$3'"
    fi
}

empty () {
    if [ -s "$S/$1.$2" ]; then
        fail "$1: std$2 should be empty"
        sed "s/^/  std$2| /" "$S/$1.$2" >&2
    fi
}

mode_of () { stat -c %a "$1"; }

json_ok () {   # the output parses as JSON, when python3 is there to say so
    if command -v python3 > /dev/null && ! python3 -m json.tool "$S/$1.out" > /dev/null 2>&1; then
        fail "$1: stdout is not valid JSON"
        sed 's/^/  stdout| /' "$S/$1.out" >&2
    fi
}

# ---- keys init ---------------------------------------------------------------

K=$S/keys
run 0 init "$MACX" keys init "$K" --agency mi5:mi5 --agency ctp:ctp --agency la-london:local_authority \
    --agency ogd-dwp:ogd --agency ogd-health:ogd --agency acme:ogd
for id in mi5 ctp la-london ogd-dwp ogd-health acme; do
    has init out "created $K/$id.pub and $K/$id.secret (0600)"
    [ -f "$K/$id.pub" ] || fail "init: $K/$id.pub missing"
    [ -f "$K/$id.secret" ] || fail "init: $K/$id.secret missing"
    [ "$(mode_of "$K/$id.secret")" = 600 ] || fail "init: $id.secret mode $(mode_of "$K/$id.secret"), want 600"
    [ "$(mode_of "$K/$id.pub")" = 644 ] || fail "init: $id.pub mode $(mode_of "$K/$id.pub"), want 644"
done
[ "$(mode_of "$K")" = 700 ] || fail "init: key dir mode $(mode_of "$K"), want 700"
grep -q '^kind: ogd$' "$K/acme.pub" || fail "init: acme:ogd did not give kind ogd"
grep -q '^kind: local_authority$' "$K/la-london.pub" || fail "init: la-london:local_authority did not give its kind"
run 65 init-again "$MACX" keys init "$K" --agency mi5:mi5
has init-again err "agency 'mi5' already has keys"
# a kind is declared, never read from the id: not even for ids that look like one
for id in acme2 mi5-other ogd-x; do
    run 64 init-nokind-$id "$MACX" keys init "$K" --agency $id
    has init-nokind-$id err "--agency $id has no kind: write $id:KIND (mi5, ctp, local_authority, ogd, provider, broker)"
    [ ! -e "$K/$id.pub" ] || fail "init-nokind: $id.pub was created"
done
run 64 init-badkind "$MACX" keys init "$K" --agency acme3:police
has init-badkind err "unknown kind 'police'"
run 64 init-noargs "$MACX" keys init "$K"
has init-noargs err "macx keys init: name at least one --agency ID:KIND; see 'macx keys init --help'"

# ---- keys list / show --------------------------------------------------------

run 0 list "$MACX" keys list "$K"
has list out "AGENCY"
for id in mi5 ctp la-london ogd-dwp ogd-health acme; do has list out "$id"; done
grep -q '^la-london  *local_authority  *active ' "$S/list.out" || fail "list: la-london row wrong"
run 0 list-json "$MACX" keys list "$K" --json
json_ok list-json
has list-json out '"agency":"mi5","kind":"mi5"'
has list-json out '"revoked":false'

run 0 show "$MACX" keys show "$K" mi5
has show out "agency       mi5"
has show out "secret file  present, mode 0600"
grep -q "sign public  $(sed -n 's/^sign_public: //p' "$K/mi5.pub") (Ed25519)" "$S/show.out" \
    || fail "show: sign public key differs from mi5.pub"
run 0 show-json "$MACX" keys show "$K" ogd-dwp --json
json_ok show-json
has show-json out '"agency":"ogd-dwp","kind":"ogd"'
run 66 show-missing "$MACX" keys show "$K" ogd-nope
has show-missing err "no agency 'ogd-nope'"
chmod 0640 "$K/acme.secret"
run 0 show-loose "$MACX" keys show "$K" acme
has show-loose out "mode 0640 (TOO OPEN: chmod 600)"

# ---- record seal / inspect ---------------------------------------------------

seal () {   # seal NAME TO FIELDS...
    local name=$1 to=$2
    shift 2
    local fields=()
    for f in "$@"; do fields+=(--field "$f"); done
    run 0 "$name" "$MACX" record seal --keys "$K" --as mi5 --to "$to" --type case_file \
        --phase identification --purpose mac_case_management --case case-0001 \
        --subject subj-7f3a --legal-basis "isa-2024 s.3" --sequence 7 "${fields[@]}" \
        --out "$S/$name.rec"
    has "$name" out "sealed record "
}
seal seal1 ogd-dwp "subject_name=Alex Example" "dob:year_only=1990-04-12" \
    "postcode:postcode_district=LS11 5AB" "risk_indicators=travel" "risk_indicators=online"
seal seal4 ctp,la-london,ogd-dwp,ogd-health "subject_name:initials=Alex Example" "region=Leeds"

run 0 inspect "$MACX" record inspect "$S/seal1.rec"
has inspect out "sender      mi5"
has inspect out "recipients  ogd-dwp"
has inspect out "sequence    7"
has inspect out "manifest    subject_name, dob:year_only, postcode:postcode_district, risk_indicators"
has inspect out "signature NOT checked"
lacks inspect out "payload"
lacks inspect out "Alex"
lacks inspect out "LS11"
run 0 inspect-json "$MACX" record inspect "$S/seal1.rec" --json
json_ok inspect-json
has inspect-json out '"signature":"unchecked","payload":null'

run 0 inspect-keys "$MACX" record inspect "$S/seal1.rec" --keys "$K"
has inspect-keys out "signature ok"
lacks inspect-keys out "payload"
lacks inspect-keys out "Alex"

run 0 inspect-as "$MACX" record inspect "$S/seal1.rec" --keys "$K" --as ogd-dwp
has inspect-as out "signature ok"
has inspect-as out '"subject_name":"Alex Example"'
has inspect-as out '"dob":"1990"'
has inspect-as out '"postcode":"LS11"'
has inspect-as out '"risk_indicators":["travel","online"]'
lacks inspect-as out "1990-04-12"
run 0 inspect-as-json "$MACX" record inspect "$S/seal1.rec" --keys "$K" --as ogd-dwp --json
json_ok inspect-as-json
has inspect-as-json out '"signature":"ok","payload":{"subject_name":"Alex Example"'

for id in ctp la-london ogd-dwp ogd-health; do
    run 0 "inspect4-$id" "$MACX" record inspect "$S/seal4.rec" --keys "$K" --as "$id"
    has "inspect4-$id" out '"subject_name":"A.E."'
done
for id in ctp mi5; do
    run 65 "inspect-not-$id" "$MACX" record inspect "$S/seal1.rec" --keys "$K" --as "$id"
    has "inspect-not-$id" err "not a recipient"
    lacks "inspect-not-$id" out "Alex"
done
run 64 inspect-as-nokeys "$MACX" record inspect "$S/seal1.rec" --as ogd-dwp
run 66 inspect-missing "$MACX" record inspect "$S/nope.rec"
: > "$S/empty.rec"
run 65 inspect-empty "$MACX" record inspect "$S/empty.rec"
has inspect-empty err "record is empty"

# A one-byte flip anywhere: with --keys (and with --as) always exit 65.
size=$(stat -c %s "$S/seal1.rec")
for off in 0 1 2 5 9 17 33 64 100 $((size / 2)) $((size - 70)) $((size - 40)) $((size - 1)); do
    cp "$S/seal1.rec" "$S/tampered.rec"
    b=$(od -An -tu1 -j "$off" -N1 "$S/seal1.rec" | tr -d ' ')
    # shellcheck disable=SC2059
    printf "$(printf '\\%03o' $((b ^ 0x01)))" \
        | dd of="$S/tampered.rec" bs=1 seek="$off" conv=notrunc status=none
    cmp -s "$S/seal1.rec" "$S/tampered.rec" && fail "tamper: byte $off not changed"
    run 65 "tampered-$off" "$MACX" record inspect "$S/tampered.rec" --keys "$K"
    lacks "tampered-$off" out "signature ok"
    run 65 "tampered-as-$off" "$MACX" record inspect "$S/tampered.rec" --keys "$K" --as ogd-dwp
    lacks "tampered-as-$off" out "Alex"
done
head -c $((size - 1)) "$S/seal1.rec" > "$S/short.rec"
run 65 inspect-short "$MACX" record inspect "$S/short.rec" --keys "$K"

# Secret files too open are refused when a secret is needed (exit 78).
run 78 inspect-loose "$MACX" record inspect "$S/seal1.rec" --keys "$K" --as acme
has inspect-loose err "acme.secret: secret key file is accessible to group or others (mode 0640)"
chmod 0600 "$K/acme.secret"

# Seal refusals: unknown recipient, bad field, missing option.
run 65 seal-unknown "$MACX" record seal --keys "$K" --as mi5 --to ogd-nope --type note \
    --phase sharing --purpose p --case c --subject s --field a=b --out "$S/x.rec"
has seal-unknown err "recipient 'ogd-nope' is not a registered agency"
run 64 seal-missing "$MACX" record seal --keys "$K" --as mi5 --to ctp --type note
has seal-missing err "macx record seal: --phase is required; see 'macx record seal --help'"
run 64 seal-phase "$MACX" record seal --keys "$K" --as mi5 --to ctp --type note \
    --phase lunch --purpose p --case c --subject s --field a=b --out "$S/x.rec"
has seal-phase err "unknown phase 'lunch'"
[ -e "$S/x.rec" ] && fail "seal: refused seals left $S/x.rec behind"

# ---- revocation --------------------------------------------------------------

run 0 revoke "$MACX" keys revoke "$K" ogd-health --reason "left the pilot"
has revoke out "revoked ogd-health"
run 0 list-revoked "$MACX" keys list "$K"
grep -q '^ogd-health  *ogd  *revoked ' "$S/list-revoked.out" || fail "list: ogd-health not revoked"
run 0 list-revoked-json "$MACX" keys list "$K" --json
json_ok list-revoked-json
has list-revoked-json out '"revoked":true,"revoked_reason":"left the pilot"'
run 0 show-revoked "$MACX" keys show "$K" ogd-health
has show-revoked out "status       revoked: left the pilot"
run 65 revoke-again "$MACX" keys revoke "$K" ogd-health
has revoke-again err "already revoked"
run 66 revoke-unknown "$MACX" keys revoke "$K" ogd-nope
has revoke-unknown err "no agency 'ogd-nope'"
# Revoking the sender: its records are refused from then on.
run 0 revoke-mi5 "$MACX" keys revoke "$K" mi5
run 65 inspect-revoked "$MACX" record inspect "$S/seal1.rec" --keys "$K"
has inspect-revoked err "sender 'mi5' is revoked"
run 0 inspect-revoked-header "$MACX" record inspect "$S/seal1.rec"

# ---- --help everywhere, usage errors -----------------------------------------

help_ok () {   # NAME ARGS...: exit 0, usage on stdout, nothing on stderr
    local name=$1
    shift
    run 0 "$name" "$MACX" "$@"
    grep -q '^usage: macx' "$S/$name.out" || fail "$name: stdout does not start with usage"
    empty "$name" err
}
help_ok help-top --help
help_ok help-top-h -h
help_ok help-version version --help
help_ok help-keys keys --help
help_ok help-record record --help
for verb in init list show revoke; do
    help_ok "help-keys-$verb" keys "$verb" --help
    has "help-keys-$verb" out "usage: macx keys $verb"
done
for verb in inspect seal; do
    help_ok "help-record-$verb" record "$verb" --help
    has "help-record-$verb" out "usage: macx record $verb"
done

usage_err () {   # NAME MESSAGE ARGS...: exit 64, exactly MESSAGE on stderr, nothing on stdout
    local name=$1 msg=$2
    shift 2
    run 64 "$name" "$MACX" "$@"
    [ "$(cat "$S/$name.err")" = "$msg" ] || fail "$name: stderr is '$(cat "$S/$name.err")', want '$msg'"
    empty "$name" out
}
run 64 usage-none "$MACX"
has usage-none err "usage: macx"
run 64 usage-top "$MACX" --bogus
has usage-top err "macx --help"
usage_err usage-keys "macx keys: unknown option '--bogus'; see 'macx keys --help'" keys --bogus
usage_err usage-keys-verb "macx keys: unknown command 'frobnicate'; see 'macx keys --help'" \
    keys frobnicate
usage_err usage-record "macx record: unknown option '--bogus'; see 'macx record --help'" \
    record --bogus
for verb in init list show revoke; do
    usage_err "usage-keys-$verb" "macx keys $verb: unknown option '--bogus'; see 'macx keys $verb --help'" \
        keys "$verb" --bogus "$K"
done
for verb in inspect seal; do
    usage_err "usage-record-$verb" \
        "macx record $verb: unknown option '--bogus'; see 'macx record $verb --help'" \
        record "$verb" --bogus
done
usage_err usage-list-extra "macx keys list: unexpected argument 'extra'; see 'macx keys list --help'" \
    keys list "$K" extra
usage_err usage-show-missing "macx keys show: missing ID; see 'macx keys show --help'" \
    keys show "$K"
usage_err usage-init-value "macx keys init: option '--agency' needs a value; see 'macx keys init --help'" \
    keys init "$K" --agency
usage_err usage-init-short "macx keys init: unknown option '-z'; see 'macx keys init --help'" \
    keys init "$K" -z

# ---- no secret was ever printed ----------------------------------------------

sed -n 's/^[a-z_]*_secret: //p' "$K"/*.secret > "$S/secret-values"
[ "$(wc -l < "$S/secret-values")" -eq 18 ] || fail "secret check: expected 18 secret values"
if grep -qF -f "$S/secret-values" "$ALL"; then
    fail "a secret key value appears in command output"
fi
# Half a secret is a leak as well (e.g. the seed half of an Ed25519 key).
cut -c1-32 "$S/secret-values" > "$S/secret-prefixes"
if grep -qF -f "$S/secret-prefixes" "$ALL"; then
    fail "part of a secret key value appears in command output"
fi

if [ "$failures" -ne 0 ]; then
    echo "keys_record_cli: $failures check(s) failed" >&2
    exit 1
fi
echo "keys_record_cli: all checks passed"
