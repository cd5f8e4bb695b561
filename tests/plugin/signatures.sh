#!/usr/bin/env bash
# Every supported type compiles, and each tagged function's manifest carries
# the signature written beside it in fixtures/types.c.
# usage: signatures.sh PLUGIN INCLUDE_DIR FIXTURE_DIR
set -u
plugin=$1 include=$2 fixtures=$3
export LC_ALL=C
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TURBOLIFT_OUTDIR=$work/out
passed=0 failed=0

if ! gcc -std=gnu11 -O2 -c -fplugin="$plugin" -I"$include" "$fixtures/types.c" -o "$work/types.o" 2>"$work/err" || [ -s "$work/err" ]; then
	echo "FAIL types.c does not compile cleanly with the plugin:"; cat "$work/err"
	echo "0 passed, 1 failed"; exit 1
fi
while IFS= read -r line; do
	fn=$(echo "$line" | sed -E 's/^TURBOLIFT\("[a-z0-9]+"\) [^(]*[ *]([a-z_0-9]+)\(.*/\1/')
	want=$(echo "$line" | sed -E 's/.*signature: (.*) \*\/$/\1/')
	manifest=$(echo "$work"/out/"$fn"-*/turbolift.yaml)
	got=$(sed -n 's/^signature: "\(.*\)"$/\1/p' "$manifest" 2>/dev/null)
	if [ "$got" = "$want" ]; then echo "ok   $fn $got"; passed=$((passed + 1))
	else echo "FAIL $fn: want $want, got ${got:-no manifest}"; failed=$((failed + 1)); fi
done < <(grep '^TURBOLIFT(.*signature:' "$fixtures/types.c")
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
