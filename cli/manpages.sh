#!/usr/bin/env bash
# manpages.sh -- writes the man pages from the commands' own --help, so the
# two cannot drift apart: macx(1) from `macx --help`, and macx-CMD(1) for
# each command from `macx CMD --help` plus, for a command with verbs, each
# `macx CMD VERB --help` as a section of its own (as git's pages do).
# Usage: manpages.sh MACX_BINARY OUTDIR VERSION
set -euo pipefail
macx=$1
out=$2
version=$3
mkdir -p "$out"

# Escapes help text for roff: backslashes, and lines starting with . or '.
roff () { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }

# page NAME SUMMARY: the header of a page; the body comes on stdin.
page () {
    local name=$1 summary=$2
    printf '.TH %s 1 "" "macx %s" "macx manual"\n' "$(echo "$name" | tr a-z A-Z)" "$version"
    printf '.SH NAME\n%s \\- %s\n' "$name" "$summary"
    cat
    printf '.SH SEE ALSO\n'
    if [ "$name" = macx ]; then
        printf 'The macx-COMMAND(1) pages; docs/ in the source tree.\n'
    else
        printf '.BR macx (1)\n'
    fi
}

# help ARGS...: a command's help as a verbatim section.
help () {
    printf '.nf\n'
    "$macx" "$@" --help | roff
    printf '.fi\n'
}

# The commands, from the top-level help's "commands:" list.
commands=$("$macx" --help | sed -n '/^Commands:/,/^$/p' | sed -n 's/^  \([a-z]*\)  *\(.*\)$/\1\t\2/p')
{ printf '.SH SYNOPSIS\n'; help; } | page macx "signed, end-to-end encrypted records between agencies, a broker that enforces sharing agreements, and MAC pilot simulations" > "$out/macx.1"
while IFS=$'\t' read -r cmd summary; do
    [ -n "$cmd" ] || continue
    {
        printf '.SH SYNOPSIS\n'
        help "$cmd"
        # verbs, when the command lists them
        verbs=$("$macx" "$cmd" --help | sed -n '/^Commands:/,/^$/p' | sed -n 's/^  \([a-z]*\)  .*$/\1/p')
        for v in $verbs; do
            printf '.SH %s\n' "$(echo "macx $cmd $v" | tr a-z A-Z)"
            help "$cmd" "$v"
        done
    } | page "macx-$cmd" "$summary" > "$out/macx-$cmd.1"
done <<< "$commands"
