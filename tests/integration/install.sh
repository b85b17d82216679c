#!/usr/bin/env bash
# install.sh -- `cmake --install` (what `make install` runs) puts macx in
# PREFIX/bin and its man pages, written from the commands' own --help, in
# PREFIX/share/man/man1: the installed binary runs, every command has a page,
# a page holds its verbs' help, and man renders it.
# Usage: install.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

BUILD=$(cd "$(dirname "$MACX")/.." && pwd)
run 0 install cmake --install "$BUILD" --prefix "$S/prefix"
run 0 version "$S/prefix/bin/macx" --version
for c in $("$MACX" --help | sed -n '/^commands:/,/^$/p' | sed -n 's/^  \([a-z]*\)  .*$/\1/p'); do
    [ -s "$S/prefix/share/man/man1/macx-$c.1" ] || fail "no man page for macx $c"
done
[ -s "$S/prefix/share/man/man1/macx.1" ] || fail "no macx(1)"
grep -q '^.SH MACX PILOT RUN' "$S/prefix/share/man/man1/macx-pilot.1" || fail "macx-pilot(1) lacks its verbs"
grep -q -- '--pace MS' "$S/prefix/share/man/man1/macx-pilot.1" || fail "macx-pilot(1) is not the help text"
if command -v man > /dev/null; then
    run 0 man env MANWIDTH=80 man -l "$S/prefix/share/man/man1/macx-pilot.1"
    has man out "macx-pilot - run a MAC pilot simulation"
fi
finish
