#!/usr/bin/env bash
# Each fixture in refused/ holds one construct the plugin must refuse. The
# line carrying "expect-error: TEXT" is where GCC must report an error that
# contains TEXT; the compile must fail, and never with an internal error.
# usage: refused.sh PLUGIN INCLUDE_DIR FIXTURE...
set -u
plugin=$1 include=$2
shift 2
export LC_ALL=C
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TURBOLIFT_OUTDIR=$work/out
passed=0 failed=0

for fixture in "$@"; do
	name=$(basename "$fixture")
	line=$(grep -n 'expect-error:' "$fixture" | head -n1 | cut -d: -f1)
	want=$(grep -o 'expect-error: .*\*/' "$fixture" | head -n1 | sed 's/^expect-error: //; s/ *\*\/$//')
	if gcc -std=gnu11 -c -fplugin="$plugin" -I"$include" "$fixture" -o "$work/out.o" 2>"$work/err"; then
		echo "FAIL $name: compiled, but the plugin should refuse it"
		failed=$((failed + 1))
		continue
	fi
	if grep -q 'internal compiler error' "$work/err"; then
		echo "FAIL $name: internal compiler error"; cat "$work/err"
		failed=$((failed + 1))
		continue
	fi
	if grep -F "$name:$line:" "$work/err" | grep -F 'error:' | grep -qF -- "$want"; then
		echo "ok   $name:$line: $want"
		passed=$((passed + 1))
	else
		echo "FAIL $name: expected an error at line $line containing: $want"
		sed 's/^/     | /' "$work/err"
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
