# Shared by the plugin suite's scripts: arguments, a scratch folder, and the
# ok/FAIL bookkeeping that ends in the "N passed, N failed" line.
# usage (sourced): . lib.sh PLUGIN INCLUDE_DIR [FIXTURE_DIR]
set -u
plugin=$1 include=$2 fixtures=${3:-}
export LC_ALL=C		# GCC quotes with ' in the C locale
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TURBOLIFT_OUTDIR=$work/out
passed=0 failed=0

pass() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
check() { # description, command...
	local what=$1; shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
}
