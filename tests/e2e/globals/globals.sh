#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Captured globals (docs/remote.md): programs whose tagged functions read
# globals that main (or another file) sets must print, distributed, what the
# plain build prints, with every call answered by a worker of this run
# (TURBOLIFT_ON_FAILURE=abort):
#   issue.c         issue 9's program: a static double and a public int flag
#   table.c         a 32 KiB table filled by main, a seed, a short[3] changed
#                   between calls, a thread-local set by four threads
#   config.c        a config struct with a char array and a string field,
#                   filled from argv, and a const char * global
#   shared.c + shared_main.c
#                   a global of the tagged file written by the other file,
#                   and one the other file defines
# The manifest lists what is captured.
# usage: globals.sh BUILD_ROOT SOURCE_ROOT
set -u
build=$1 src=$2
. "$src/tests/lib.sh" e2e-globals
make_work
on_exit() { pkill -KILL -f -- "$work/" 2>/dev/null; }
export PKG_CONFIG_PATH=$build/meson-uninstalled
export TURBOLIFT_TARGET=local TURBOLIFT_LOG=warn
unset TURBOLIFT_MODE TURBOLIFT_ON_FAILURE XDG_CACHE_HOME TURBOLIFT_OUTDIR
reaper=$build/tests/support/reaper	# used by dist (tests/lib.sh)
here=$src/tests/e2e/globals
cflags=$(pkg-config --cflags turbolift) && libs=$(pkg-config --libs turbolift) ||
	{ echo "pkg-config turbolift failed"; exit 1; }

# program NAME "SOURCES" ARGS...: build NAME plain and distributed, run both,
# compare, prove the distributed run remote
program() {
	local name=$1 sources=$2 p=$work/$1 why s srcs=()
	shift 2
	for s in $sources; do srcs+=("$here/$s"); done
	mkdir -p "$p"
	if ! gcc -std=gnu11 -O2 -pthread -I"$src/include" "${srcs[@]}" -o "$p/plain" 2>"$p/build" ||
	   ! TURBOLIFT_OUTDIR=$p/out gcc -std=gnu11 -O2 -pthread $cflags "${srcs[@]}" $libs \
		-o "$p/dist" 2>>"$p/build"; then
		fail "$name builds plain and distributed"; cat "$p/build"; return
	fi
	pass "$name builds plain and distributed"
	"$p/plain" "$@" >"$p/plain.out" 2>"$p/plain.err"
	dist "$p" "$p/dist.out" "$p/dist.err" "$p/dist" "$@"
	check "$name: distributed run exits 0 (abort policy)" test $? -eq 0
	if [ -s "$p/plain.out" ] && cmp -s "$p/plain.out" "$p/dist.out"; then
		pass "$name: prints what the plain build prints"
	else
		fail "$name: prints something else distributed"
		diff "$p/plain.out" "$p/dist.out" | head -20
	fi
	if why=$(remote_proven "$p" "$p/dist.err"); then
		pass "$name: every call answered by a worker of this run"
	else
		fail "$name: not proven remote: $why"; grep -v '^turbolift: debug' "$p/dist.err" | head -20
	fi
	TURBOLIFT_MODE=inprocess XDG_CACHE_HOME=$p/cache "$p/dist" "$@" >"$p/inproc.out" 2>/dev/null
	check "$name: TURBOLIFT_MODE=inprocess prints the same" cmp -s "$p/plain.out" "$p/inproc.out"
}

# captured NAME FUNCTION VARIABLE TYPE: the manifest lists the capture
captured() {
	check "$1: the manifest of $2 lists $3 ($4) as captured" \
		grep -qF -- "- {name: \"$3\", type: \"$4\", source: " "$work/$1"/out/"$2"-*/service.yaml
}

program issue "issue.c"
check "issue: prints 6" grep -qx 6 "$work/issue/dist.out"
check "issue: the worker logged the call (verbose was installed)" grep -qx 'scaled(2)' "$work/issue/dist.err"
check "issue: signature carries the captures" \
	grep -q '^signature: "f8(f8;f8,i4)"$' "$work"/issue/out/scaled-*/service.yaml
captured issue scaled scale f8
captured issue scaled verbose i4

program table "table.c"
check "table: a worker answered" grep -qx 'answered by another process' "$work/table/dist.err"
captured table table_sum table '[4096]f8'
captured table table_sum seed u8
captured table table_sum small '[3]i2'
captured table lane_value lane i4
check "table: answering_pid captures nothing" \
	grep -q '^captured: \[\]$' "$work"/table/out/answering_pid-*/service.yaml

program config "config.c" alice 3
check "config: a worker answered" grep -qx 'answered by another process' "$work/config/dist.err"
captured config describe cfg '{40:8:0=[16]i1,16=s,24=i4,32=f8}'
captured config describe suffix s

program shared "shared.c shared_main.c"
check "shared: a worker answered" grep -qx 'answered by another process' "$work/shared/dist.err"
captured shared weigh threshold i4
captured shared weigh weight f8

# A variable of another file that main changes cannot travel (the plugin
# sees one file at a time): the first call names it, never silently.
p=$work/other_file
mkdir -p "$p"
if TURBOLIFT_OUTDIR=$p/out gcc -std=gnu11 -O2 $cflags "$here/other_file_main.c" \
	"$here/other_file.c" $libs -o "$p/dist" 2>"$p/build"; then
	XDG_CACHE_HOME=$p/cache TURBOLIFT_OUTDIR=$p/out TURBOLIFT_ON_FAILURE=abort \
		"$reaper" "$p/dist" >"$p/dist.out" 2>"$p/dist.err"
	check "other_file: the run exits 0" test $? -eq 0
	check "other_file: the first call warns that the service uses 'mode' of other_file.c" \
		grep -q "scaled_by_mode: its service uses 1 variable of other files" "$p/dist.err"
	check "other_file: ... naming it and its file" \
		grep -q "^  mode (.*tests/e2e/globals/other_file.c)$" "$p/dist.err"
	check "other_file: ... and not a variable the service does not keep" \
		sh -c "! grep -q '^  untouched ' '$p/dist.err'"
else
	fail "other_file builds distributed"; cat "$p/build"
fi

finish
