#!/usr/bin/env bash
# Each fixture in refused/ holds one construct the plugin must refuse. The
# line carrying "expect-error: TEXT" is where GCC must report an error that
# contains TEXT; the compile must fail, and never with an internal error.
# usage: refused.sh PLUGIN INCLUDE_DIR FIXTURE...
. "$(dirname "$0")/lib.sh" "$1" "$2"
shift 2

for fixture in "$@"; do
    name=$(basename "$fixture")
    line=$(grep -n 'expect-error:' "$fixture" | head -n1 | cut -d: -f1)
    want=$(grep -o 'expect-error: .*\*/' "$fixture" | head -n1 | sed 's/^expect-error: //; s/ *\*\/$//')
    if gcc -std=gnu11 -c -fplugin="$plugin" -I"$include" "$fixture" -o "$work/out.o" 2>"$work/err"; then
        fail "$name: compiled, but the plugin should refuse it"
        continue
    fi
    if grep -q 'internal compiler error' "$work/err"; then
        fail "$name: internal compiler error"; cat "$work/err"
        continue
    fi
    if grep -F "$name:$line:" "$work/err" | grep -F 'error:' | grep -qF -- "$want"; then
        pass "$name:$line: $want"
    else
        fail "$name: expected an error at line $line containing: $want"
        sed 's/^/     | /' "$work/err"
    fi
done
finish
