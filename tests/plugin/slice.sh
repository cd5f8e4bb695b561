#!/usr/bin/env bash
# The service for fixtures/reach.c holds exactly the functions and globals
# compute() reaches: service.c is the whole file but main (docs/multifile.md),
# and the service link's --gc-sections from the dispatcher keeps the rest;
# checked with nm on service.c compiled as the runtime does at the first call
# and linked that way (at -O0, so nothing is folded away).
# usage: slice.sh PLUGIN INCLUDE_DIR FIXTURE_DIR
. "$(dirname "$0")/lib.sh" "$@"

gcc -std=gnu11 -O0 -c -fplugin="$plugin" -I"$include" "$fixtures/reach.c" -o "$work/reach.o" 2>"$work/err"
check "fixture compiles with the plugin" test $? -eq 0 -a ! -s "$work/err"
dir=$(echo "$work"/out/compute-*)
check "one service folder compute-<hash>" test -f "$dir/service.c" -a -f "$dir/service.yaml"
check "service.o waits for the first call (the build only checks service.c)" test ! -e "$dir/service.o"
check "nothing left of the check" bash -c "! ls '$dir' | grep -q 'checking\|tmp'"
gcc -std=gnu11 -O0 -c -w -ffunction-sections -fdata-sections "$dir/service.c" -o "$work/service.o"
check "service.c compiles as the runtime compiles it" test $? -eq 0

# the runtime's link, with a main that only names the dispatcher's table
echo 'extern const char tl_service_entries[]; int main(void) { return tl_service_entries[0]; }' \
	>"$work/root.c"
gcc -O0 "$work/root.c" "$work/service.o" -Wl,--gc-sections -Wl,--unresolved-symbols=ignore-all \
	-o "$work/linked"
nm --defined-only "$work/linked" | awk '{print $3}' | sed 's/\.[0-9]*$//' | sort -u >"$work/defined"
for sym in add compute counter depth fib mul ops pick table table_sum tl_dispatch_compute tripled; do
	check "linked service defines $sym" grep -qx "$sym" "$work/defined"
done
for absent in sub_unreached unreached_counter exported_unreached unreached_pair unreached_init; do
	check "linked service holds no $absent" bash -c "! grep -qx '$absent' '$work/defined'"
done
check "service text has no main" bash -c "! grep -Eq '^int main' '$dir/service.c'"
check "the struct of a dropped global stays" grep -q 'struct pair { int a, b; }' "$dir/service.c"
check "service compiles without the user's include path" \
	gcc -std=gnu11 -O0 -c -w "$dir/service.c" -o "$work/again.o"
check "manifest has the signature" grep -q 'signature: "i4({8:4:0=i4,4=i4},i4)"' "$dir/service.yaml"
check "manifest names the source line" grep -q 'line: 33' "$dir/service.yaml"

gcc -std=gnu11 -O2 -c -fplugin="$plugin" -I"$include" "$fixtures/external.c" -o "$work/external.o" 2>"$work/external.err"
check "symbols another file defines are no warning: the service links the program's units" \
	test ! -s "$work/external.err"
check "the manifest lists the external symbols" \
	grep -q 'external_symbols: \[.*"defined_elsewhere"' "$work"/out/uses_other-*/service.yaml

finish
