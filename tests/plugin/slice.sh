#!/usr/bin/env bash
# The service translation unit for fixtures/reach.c holds exactly the
# functions and globals compute() reaches: checked on the compiled service
# object (nm, at -O0 so nothing is folded away) and on the text.
# usage: slice.sh PLUGIN INCLUDE_DIR FIXTURE_DIR
. "$(dirname "$0")/lib.sh" "$@"

gcc -std=gnu11 -O0 -c -fplugin="$plugin" -I"$include" "$fixtures/reach.c" -o "$work/reach.o" 2>"$work/err"
check "fixture compiles with the plugin" test $? -eq 0 -a ! -s "$work/err"
dir=$(echo "$work"/out/compute-*)
check "one service folder compute-<hash>" test -f "$dir/service.c" -a -f "$dir/service.o" -a -f "$dir/turbolift.yaml"

nm --defined-only "$dir/service.o" | awk '{print $3}' | sed 's/\.[0-9]*$//' | sort -u >"$work/defined"
expected="add compute counter depth fib mul ops pick scale table table_sum tl_dispatch_compute tl_service_entries tl_service_entry_count tripled"
printf '%s\n' $expected | sort -u >"$work/expected"
check "service defines exactly: $expected" diff -u "$work/expected" "$work/defined"

for absent in sub_unreached unreached_counter exported_unreached unreached_pair unreached_init main; do
	check "service text never names $absent" bash -c "! grep -Ev '^(#line|/\*)' '$dir/service.c' | grep -qw '$absent'"
done
check "the struct of a dropped global stays" grep -q 'struct pair { int a, b; }' "$dir/service.c"
check "service compiles without the user's include path" \
	gcc -std=gnu11 -O0 -c -w "$dir/service.c" -o "$work/again.o"
check "manifest has the signature" grep -q 'signature: "i4({8:4:0=i4,4=i4},i4)"' "$dir/turbolift.yaml"
check "manifest names the source line" grep -q 'line: 33' "$dir/turbolift.yaml"

gcc -std=gnu11 -O2 -c -fplugin="$plugin" -I"$include" "$fixtures/external.c" -o "$work/external.o" 2>"$work/external.err"
check "symbols from another file are warned about at build time" \
	grep -q "external.c:11:.*warning: turbolift: the service for 'uses_other' uses 'defined_elsewhere', which is not defined in this file" "$work/external.err"
check "... variables too" grep -q "uses 'counter_elsewhere', which is not defined" "$work/external.err"
check "... but not libc or libm" bash -c "! grep -Eq \"uses '(sqrt|printf)'\" '$work/external.err'"
check "the manifest lists the external symbols" \
	grep -q 'external_symbols: \[.*"defined_elsewhere"' "$work"/out/uses_other-*/turbolift.yaml

finish
