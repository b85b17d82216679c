#!/usr/bin/env bash
# cli_conventions.sh -- the one convention every command follows, checked on
# every command and verb the command table lists (found from the help pages
# themselves, so a new command is checked without editing this test):
#   - `--help` prints, on stdout only, a page with a usage line, a
#     description, an Examples section whose every example runs a macx command
#     that exists, and an Exit status section listing 0 and 64;
#   - an unknown option, long or short, and an option missing its value, get
#     exactly one line on stderr naming it and pointing at the help page, exit
#     64, and nothing on stdout;
#   - a broker that cannot be reached: one sentence naming the endpoint, exit
#     69, within the documented default timeout (status 5 s, send/recv 10 s)
#     or --timeout; a host that does not resolve is named at once.
# Usage: cli_conventions.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

# exact NAME out|err TEXT: the whole stream is TEXT.
exact () {
    [ "$(cat "$1.$2")" = "$3" ] || fail "$1.$2 is '$(cat "$1.$2")', want '$3'"
}

# The table, from the pages: commands, and each command's verbs.
"$MACX" --help > top.out
sed -n '/^Commands:/,/^$/p' top.out | sed -n 's/^  \([a-z]*\)  .*$/\1/p' > commands
[ "$(wc -l < commands)" -ge 10 ] || fail "macx --help lists $(wc -l < commands) commands"
pages=()
while read -r cmd; do
    pages+=("$cmd")
    "$MACX" "$cmd" --help | sed -n '/^Commands:/,/^$/p' | sed -n 's/^  \([a-z]*\)  .*$/\1/p' \
        > "verbs-$cmd"
    while read -r verb; do pages+=("$cmd $verb"); done < "verbs-$cmd"
done < commands
[ "${#pages[@]}" -ge 24 ] || fail "only ${#pages[@]} help pages found"

for page in "${pages[@]}"; do
    n=${page// /_}
    # shellcheck disable=SC2086  # the page's words are separate arguments
    run 0 "help-$n" "$MACX" $page --help
    [ ! -s "help-$n.err" ] || fail "$page --help wrote to stderr"
    head -1 "help-$n.out" | grep "^usage: macx $page\( \|$\)" > /dev/null \
        || fail "$page --help: first line is not 'usage: macx $page ...'"
    # a description: a paragraph after the usage block
    awk 'NR > 1 && /^$/ { blank = 1; next } blank && /^[A-Za-z`]/ { ok = 1; exit }
         END { exit !ok }' "help-$n.out" || fail "$page --help has no description"
    grep -q '^Examples:$' "help-$n.out" || fail "$page --help has no Examples section"
    grep -q '^Exit status:$' "help-$n.out" || fail "$page --help has no Exit status section"
    sed -n '/^Exit status:$/,/^$/p' "help-$n.out" | grep '^  0   ' > /dev/null \
        || fail "$page --help: Exit status lacks 0"
    sed -n '/^Exit status:$/,/^$/p' "help-$n.out" | grep '^  64  ' > /dev/null \
        || fail "$page --help: Exit status lacks 64"
    # every example is a macx command that exists
    sed -n '/^Examples:$/,/^$/p' "help-$n.out" | sed -n 's/^  macx \([a-z]*\)\( \([a-z]*\)\)\{0,1\}.*$/\1 \3/p' \
        > "examples-$n"
    [ -s "examples-$n" ] || fail "$page --help: no example starts with 'macx '"
    while read -r ecmd everb; do
        grep -qx "$ecmd" commands || { fail "$page --help: example runs unknown 'macx $ecmd'"; continue; }
        # a command with verbs that also runs itself (`macx broker [OPTION...]`,
        # `macx broker reload`) may be run with no verb
        if [ -s "verbs-$ecmd" ] && ! { [ -z "$everb" ] \
                && grep "^usage: macx $ecmd [[-]" "help-$ecmd.out" > /dev/null; }; then
            grep -qx "$everb" "verbs-$ecmd" || fail "$page --help: example runs unknown 'macx $ecmd $everb'"
        fi
    done < "examples-$n"
    # options the command does not know, and a known one without its value
    for bad in --no-such-option -Z --no-such=3; do
        shown=${bad%%=*}
        # shellcheck disable=SC2086
        run 64 "bad-$n$shown" "$MACX" $page "$bad"
        exact "bad-$n$shown" err "macx $page: unknown option '$shown'; see 'macx $page --help'"
        [ ! -s "bad-$n$shown.out" ] || fail "$page $bad wrote to stdout"
    done
done
run 64 top-bad "$MACX" --no-such-option
exact top-bad err "macx: unknown option '--no-such-option'; see 'macx --help'"
run 64 top-unknown "$MACX" frobnicate
exact top-unknown err "macx: 'frobnicate' is not a macx command; see 'macx --help'"
run 64 missing-value "$MACX" pilot run scenario.yaml --out
exact missing-value err "macx pilot run: option '--out' needs a value; see 'macx pilot run --help'"
run 64 missing-value-eq "$MACX" audit show data --limit
exact missing-value-eq err "macx audit show: option '--limit' needs a value; see 'macx audit show --help'"
run 64 bad-number "$MACX" audit show data --limit ten
exact bad-number err "macx audit show: --limit must be a whole number of at least 0, not 'ten'; see 'macx audit show --help'"
run 64 missing-arg "$MACX" policy diff only-one
exact missing-arg err "macx policy diff: missing NEW; see 'macx policy diff --help'"
run 64 missing-args "$MACX" pilot compare
exact missing-args err "macx pilot compare: missing RUN_A and RUN_B; see 'macx pilot compare --help'"

# ---- a broker that cannot be reached ------------------------------------------
keys_init keys broker mi5 ctp
EP=tcp://127.0.0.1:$(free_port)   # nothing listens there
share=(--to ctp --type note --phase sharing --purpose p --case C-1 --subject S-1 --field a=b)

t0=$SECONDS
run 69 status-none "$MACX" status --keys keys --as mi5 --broker "$EP"
exact status-none err "macx status: cannot reach the broker at $EP: no answer within 5 s (is it running? --broker names another)"
[ ! -s status-none.out ] || fail "status with no broker wrote to stdout"
[ $((SECONDS - t0)) -le 9 ] || fail "status with no broker took $((SECONDS - t0)) s (default timeout 5 s)"

run 69 send-none "$MACX" send --keys keys --as mi5 --broker "$EP" "${share[@]}" --timeout 2
exact send-none err "macx send: cannot reach the broker at $EP: no answer within 2 s (is it running? --broker names another)"
run 69 send-repeat-none "$MACX" send --keys keys --as mi5 --broker "$EP" "${share[@]}" --timeout 2 \
    --repeat 5
exact send-repeat-none err "macx send: cannot reach the broker at $EP: no answer within 2 s (is it running? --broker names another)"
run 69 recv-none "$MACX" recv --keys keys --as ctp --broker "$EP" --timeout 2
exact recv-none err "macx recv: cannot reach the broker at $EP: no answer within 2 s (is it running? --broker names another)"

t0=$SECONDS
run 69 send-nohost "$MACX" send --keys keys --as mi5 --broker tcp://no-such-host.invalid:7750 "${share[@]}"
has send-nohost err "macx send: cannot reach the broker at tcp://no-such-host.invalid:7750: host 'no-such-host.invalid' does not resolve"
[ "$(wc -l < send-nohost.err)" = 1 ] || fail "send-nohost: more than one line on stderr"
[ $((SECONDS - t0)) -le 3 ] || fail "an unresolvable host took $((SECONDS - t0)) s to name"
run 64 send-noport "$MACX" status --keys keys --as mi5 --broker tcp://127.0.0.1
exact send-noport err "macx status: broker endpoint 'tcp://127.0.0.1' has no port (tcp://HOST:PORT)"

# A broker that is there: reachable, so recv times out quietly (exit 0).
start_broker broker.log data
run 0 recv-quiet "$MACX" recv --keys keys --as ctp --broker "$EP" --timeout 1
[ ! -s recv-quiet.err ] || fail "recv from a quiet broker complained: $(cat recv-quiet.err)"
run 0 status-ok "$MACX" status --keys keys --as mi5 --broker "$EP" --json
has status-ok out '"accepted"'
stop_broker

finish broker.log
