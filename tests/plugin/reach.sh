#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The call-graph half on its own (plugin/reach.cc): with
# -fplugin-arg-turbolift-verbose the plugin says which functions and
# globals compute() in fixtures/reach.c reaches over GCC's call graph and
# references, before the service link cuts anything (slice.sh checks that
# other half, the linked service). A reach that dropped globals, calls or
# address-taken functions fails here even when the link would keep them.
# usage: reach.sh PLUGIN INCLUDE_DIR FIXTURE_DIR
. "$(dirname "$0")/lib.sh" "$@"

gcc -std=gnu11 -O0 -c -fplugin="$plugin" -fplugin-arg-turbolift-verbose -I"$include" \
    "$fixtures/reach.c" -o "$work/reach.o" 2>"$work/err"
check "fixture compiles with the plugin, verbose" test $? -eq 0

# one list per kind, as the plugin printed it (note lines, C locale quotes)
reached() { sed -n "s/.*note: turbolift: 'compute' reaches $1 '\([A-Za-z_0-9]*\)'\$/\1/p" "$work/err" | sort -u; }
reached function >"$work/functions"
reached global >"$work/globals"

printf '%s\n' add compute fib mul pick table_sum tripled >"$work/want-functions"
printf '%s\n' counter depth ops >"$work/want-globals"	# scale, a const int, is folded away
check "the call graph reaches exactly: $(echo $(cat "$work/want-functions"))" \
    diff -u "$work/want-functions" "$work/functions"
check "and the globals: $(echo $(cat "$work/want-globals")) (static locals stay with their function)" \
    diff -u "$work/want-globals" "$work/globals"

# without verbose the plugin says nothing of it
gcc -std=gnu11 -O0 -c -fplugin="$plugin" -I"$include" "$fixtures/reach.c" -o "$work/quiet.o" 2>"$work/quiet.err"
check "quiet without -fplugin-arg-turbolift-verbose" bash -c "! grep -q 'reaches' '$work/quiet.err'"

finish
