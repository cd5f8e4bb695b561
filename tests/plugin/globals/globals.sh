#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Captured globals and diagnosed writes (docs/remote.md), at compile time:
# what is captured (signature, manifest, -fplugin-arg-turbolift-verbose), the
# warning at each write with its call path, the C library's hidden state,
# TURBOLIFT_STATIC, and -fplugin-arg-turbolift-werror. (Refused captures
# are refused/*.c, run by refused.sh.)
# usage: globals.sh PLUGIN INCLUDE_DIR
. "$(dirname "$0")/../lib.sh" "$1" "$2"
here=$(dirname "$0")

compile() {	# compile FIXTURE EXTRA...: stderr in $work/err, status returned
	local fixture=$1; shift
	gcc -std=gnu11 -O2 -c -fplugin="$plugin" -I"$include" "$@" "$here/$fixture" \
		-o "$work/out.o" 2>"$work/err"
}

# 1. what is captured
compile captures.c -fplugin-arg-turbolift-verbose
check "captures.c compiles" test $? -eq 0
manifest=$(echo "$work"/out/compute-*/service.yaml)
check "signature: the argument, then the captured globals in declaration order" \
	grep -qF 'signature: "f8(i4;f8,i4,[8]i1,s,{16:8:0=i4,4=i4,8=s},[4]i8)"' "$manifest"
for v in ratio level table label motto bounds; do
	check "$v is captured: a manifest line" grep -qF -- "- {name: \"$v\"," "$manifest"
	line=$(grep -n "^[a-z ]*[ *]$v\b.*[;=]" "$here/captures.c" | head -n1 | cut -d: -f1)
	check "$v is captured: a verbose note at its line $line" \
		grep -q "captures.c:$line:.*note: turbolift: 'compute' captures '$v'" "$work/err"
done
for v in pi seen only_read tuning calls stderr; do
	check "$v is not captured" bash -c "! grep -qF -- '{name: \"$v\",' '$manifest' && ! grep -q \"captures '$v'\" '$work/err'"
done
check "the service installs each captured global before the call" \
	grep -q '__builtin_memcpy((void \*)&ratio, tl_args\[1\], sizeof(ratio));' "$(dirname "$manifest")/service.c"
# the dispatcher's entry struct is runtime/wire/tl_abi.h's, spelled out
fields=$(printf '#include "tl_abi.h"\nTL_ABI_STRINGIZE(TL_ABI_SERVICE_ENTRY_FIELDS)\n' |
	cpp -P -I"$include/../runtime/wire" - | sed -n 's/^"\(.*\)"$/\1/p')
check "service.c's entry struct is tl_abi.h's ($fields)" \
	grep -qxF "struct tl_service_entry { $fields };" "$(dirname "$manifest")/service.c"
check "seen, written by the slice, is warned about" \
	grep -q "captures.c:27:.*warning: turbolift: 'seen' is written in code that runs in the service for 'compute' (compute)" "$work/err"

# 2. writes and hidden state: warnings at the write with the call path
compile writes.c
check "writes.c compiles (warnings only)" test $? -eq 0
expect() {	# expect LINE TEXT: a warning at writes.c:LINE containing TEXT
	check "writes.c:$1: $2" bash -c "grep -F 'writes.c:$1:' '$work/err' | grep -F 'warning:' | grep -qF -- \"\$0\"" "$2"
}
expect 15 "turbolift: 'hits' is written in code that runs in the service for 'work' (work -> helper -> record): each worker has its own copy"
expect 16 "'stats' is written in code that runs in the service for 'work' (work -> helper -> record)"
expect 22 "turbolift: thread-local 'depth' is written in code that runs in the service for 'work' (work -> helper)"
expect 24 "turbolift: 'rand' keeps hidden state in the C library, which in the service for 'work' (work -> helper) is each worker's own"
expect 31 "turbolift: 'strtok' keeps hidden state in the C library, which in the service for 'work' (work) is each worker's own"
check "each warning says how to silence it" \
	grep -q "mark 'hits' 'TURBOLIFT_STATIC' if that is intended" "$work/err"
check "TURBOLIFT_STATIC cache: no warning" bash -c "! grep -q \"'cache'\" '$work/err'"
check "exactly five warnings" test "$(grep -c 'warning: turbolift:' "$work/err")" -eq 5

compile writes.c -fplugin-arg-turbolift-werror
check "-fplugin-arg-turbolift-werror: the compile fails" test $? -ne 0
check "... with the same diagnostics as errors" \
	test "$(grep -c 'error: turbolift: .* \(is written in code\|keeps hidden state\)' "$work/err")" -eq 5
check "... and no internal compiler error" bash -c "! grep -q 'internal compiler error' '$work/err'"

compile writes.c -fplugin-arg-turbolift-mode=off
check "mode=off keeps the checks: the same five warnings" \
	test "$(grep -c 'warning: turbolift:' "$work/err")" -eq 5
compile ../globals/refused/pointer_global.c -fplugin-arg-turbolift-mode=off
check "mode=off keeps the checks: a global that cannot travel is an error" test $? -ne 0

compile silenced.c
check "TURBOLIFT_STATIC on a variable and on rand's declaration: silent" \
	test $? -eq 0 -a ! -s "$work/err"

# 3. no tag, no diagnostics: an untagged file that writes globals stays quiet
compile ../fixtures/untagged.c
check "untagged file: no diagnostics" test $? -eq 0 -a ! -s "$work/err"

finish
