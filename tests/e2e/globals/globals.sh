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
#   other_file*.c, units_*.c
#                   variables of files without a tag that the service links
#                   (a static set through a setter, a flag, a config struct
#                   with a char array, a table filled through a third file,
#                   a global of the tagged file only they read): they travel
#                   too; one that holds a pointer and changed fails the call,
#                   and so does a stripped program that needs them
#   memo_*.c, writes_*.c, tls_*.c
#                   state only the service writes stays each worker's own,
#                   and its link warns at each write of other files' code
#                   (an error under -fplugin-arg-turbolift-werror)
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

# Variables of other files (docs/remote.md, "Variables of other files"):
# the service links units_lib.c and units_table.c, whose variables main sets
# directly, through a setter and through another file; and units_main.c's
# own shared_mode, read only by units_lib.c. Each travels with each call.
program other_file "other_file_main.c other_file.c"
check "other_file: prints 6 (mode, static in other_file.c, set through a setter)" \
	grep -qx 6 "$work/other_file/dist.out"
program units "units_main.c units_lib.c units_table.c"
check "units: the worker logged the calls (verbose, settings.name installed)" \
	grep -qx 'weigh(3) for configured' "$work/units/dist.err"
bin=$(ls "$work"/units/cache/turbolift/bin/total-*/service 2>/dev/null | head -1)
if [ -n "$bin" ] && readelf -p turbolift_globals "$bin" >"$work/units/list" 2>&1; then
	for v in "b .* l scale units_lib.c" "b .* g verbose units_lib.c" \
		"b .* g settings units_lib.c" "b .* g lut units_table.c" \
		"b .* g shared_mode units_main.c" "s .* 8 0 g label units_lib.c" \
		"p .* g tag units_lib.c" "b .* 32 [0-9]* g series units_lib.c"; do
		check "units: the service's list has '$v'" grep -q "$v" "$work/units/list"
	done
	check "units: ... and not calls_here (TURBOLIFT_STATIC)" \
		sh -c "! grep -q calls_here '$work/units/list'"
else
	fail "units: the service binary has its list of variables"
fi
# a variable that holds a pointer, changed by main: the call must fail
p=$work/units
XDG_CACHE_HOME=$p/cache TURBOLIFT_ON_FAILURE=abort "$reaper" "$p/dist" relabel \
	>"$p/relabel.out" 2>"$p/relabel.err"
check "units relabel: the run aborts (abort policy)" test $? -ne 0
check "units relabel: the error names label, its file and why" \
	grep -q "failed: tag (units_lib.c) holds pointers and the program changed it" "$p/relabel.err"

# State only the service writes (a table built at first use, a count) stays
# the worker's own: nothing the program did not change travels.
TURBOLIFT_REPLICAS=1 program memo "memo_main.c memo_lib.c"
check "memo: the worker's count goes on (1, 3, 7 after the table's 0, 1, 4)" \
	test "$(tr '\n' ' ' <"$work/memo/dist.out")" = "1 3 7 "

# ... and the service's link warns at each of those writes, which the
# plugin could not see while it compiled memo_main.c (docs/remote.md,
# "Globals the function writes"): place (GCC's column), variable, function and call path.
written() { # NAME LINE...: NAME's run warned with exactly these lines
	local name=$1 err=$work/$1/dist.err; shift
	grep -q "^turbolift: warning: [a-z_]*: the service writes variables of other files: each worker has its own copy" "$err" &&
	[ "$(grep -c '^  /' "$err")" = $# ] &&
	for l in "$@"; do grep -qxF "  $l" "$err" || return 1; done
}
check "memo: the link warns at memo_lib.c's three writes, with the call path" written memo \
	"$here/memo_lib.c:15:33: memo, written in memo_lookup (memo_at -> memo_lookup)" \
	"$here/memo_lib.c:16:28: memo_ready, written in memo_lookup (memo_at -> memo_lookup)" \
	"$here/memo_lib.c:18:29: served, written in memo_lookup (memo_at -> memo_lookup)"
TURBOLIFT_REPLICAS=1 dist "$work/memo" "$work/memo/again.out" "$work/memo/again.err" "$work/memo/dist"
check "memo: a second run (its service linked already) does not warn again" \
	sh -c "test -s '$work/memo/again.out' && ! grep -q 'writes variables of other files' '$work/memo/again.err'"
# -fplugin-arg-turbolift-werror: the same writes are an error; the service
# is not used, and the abort policy aborts with the list.
w=$work/memo-werror
mkdir -p "$w"
if TURBOLIFT_OUTDIR=$w/out gcc -std=gnu11 -O2 $cflags -fplugin-arg-turbolift-werror \
	"$here/memo_main.c" "$here/memo_lib.c" $libs -o "$w/dist" 2>"$w/build"; then
	dist "$w" "$w/dist.out" "$w/dist.err" "$w/dist"
	check "memo -fplugin-arg-turbolift-werror: the run aborts" test $? -ne 0
	check "memo -fplugin-arg-turbolift-werror: the error lists the writes" sh -c "
		grep -q 'memo_at: the service writes variables of other files, or keeps hidden C library state, an error under -fplugin-arg-turbolift-werror' '$w/dist.err' &&
		grep -qxF '  $here/memo_lib.c:16:28: memo_ready, written in memo_lookup (memo_at -> memo_lookup)' '$w/dist.err' &&
		! test -s '$w/dist.out'"
else
	fail "memo builds with -fplugin-arg-turbolift-werror"; cat "$w/build"
fi

# Writes three calls down, through a callback into the tagged file, a public
# variable, rand()'s hidden state: each listed once, with its path; not
# quiet (TURBOLIFT_STATIC), not never (code the service does not run), not
# tagged_own (the tagged function's own: the compile warned at it).
TURBOLIFT_REPLICAS=1 program writes "writes_main.c writes_lib.c"
check "writes: the link warns at four places, each with its call path" written writes \
	"$here/writes_main.c:20:26: seen_by_callback, written in on_value (step -> work -> on_value)" \
	"$here/writes_lib.c:30:13: hits, written in work (step -> work)" \
	"$here/writes_lib.c:33:20: rand() keeps hidden state in the C library, called in work (step -> work): pass the state explicitly (rand_r, strtok_r) or declare rand TURBOLIFT_STATIC" \
	"$here/writes_lib.c:19:20: depth_seen, written in record (step -> work -> deeper -> record)"
check "writes: the compile warned at tagged_own, the tagged function's own write" \
	grep -q "writes_main.c:25:19: warning: turbolift: .tagged_own. is written in code that runs in the service for .step. (step)" "$work/writes/build"
check "units: no write warning (calls_here, which weigh writes, is TURBOLIFT_STATIC)" \
	sh -c "! grep -q 'writes variables of other files' '$work/units/dist.err'"

# One worker, four calls at once that bring the value it holds: side by side.
TURBOLIFT_REPLICAS=1 program conc "conc_main.c conc_lib.c"
check "conc: the four concurrent calls overlapped on the one worker (31)" \
	test "$(grep -cx 31 "$work/conc/dist.out")" -eq 4

# -fplugin-arg-turbolift-verbose on a file without a tag: a note per variable.
TURBOLIFT_OUTDIR=$work/verbose gcc -std=gnu11 -O2 $cflags -fplugin-arg-turbolift-verbose \
	-c "$here/units_lib.c" -o "$work/verbose.o" 2>"$work/verbose.err"
check "verbose: a note for scale, verbose, settings (values), label (text), tag (pointer)" \
	sh -c "grep -q \"keeps .scale. gets its value with each call\" '$work/verbose.err' &&
	       grep -q \"keeps .verbose. gets its value\" '$work/verbose.err' &&
	       grep -q \"keeps .settings. gets its value\" '$work/verbose.err' &&
	       grep -q \"keeps .label. gets its text\" '$work/verbose.err' &&
	       grep -q \"keeps .tag. cannot get its value (it holds a pointer)\" '$work/verbose.err'"
check "verbose: ... and none for calls_here (TURBOLIFT_STATIC)" \
	sh -c "! grep -q calls_here '$work/verbose.err'"

# A thread-local of another file cannot travel: the first call warns.
t=$work/tls
mkdir -p "$t"
if TURBOLIFT_OUTDIR=$t/out gcc -std=gnu11 -O2 $cflags "$here/tls_main.c" "$here/tls_other.c" $libs \
	-o "$t/dist" 2>"$t/build"; then
	dist "$t" "$t/dist.out" "$t/dist.err" "$t/dist"
	check "tls: the run exits 0" test $? -eq 0
	check "tls: the worker's own value is read (1, not main's 5)" grep -qx 1 "$t/dist.out"
	check "tls: the first call warns, naming depth and its file" \
		sh -c "grep -q 'keeps thread-local variables of this program' '$t/dist.err' &&
		       grep -q '^  depth (tls_other.c)' '$t/dist.err'"
	check "tls: the link warns at the write of the thread-local" grep -qxF \
		"  $here/tls_other.c:9:21: thread-local depth, written in current_depth (seen_depth -> current_depth)" \
		"$t/dist.err"
else
	fail "tls builds distributed"; cat "$t/build"
fi

# A unit folder an older plugin made has no vars.txt: the next build adds it.
rm -f "$work"/units/out/units/units_main-*/vars.txt
TURBOLIFT_OUTDIR=$work/units/out gcc -std=gnu11 -O2 $cflags -c "$here/units_main.c" \
	-o "$work/units/again.o" 2>/dev/null
check "units: a rebuild writes the vars.txt a unit folder lacks" \
	sh -c "ls '$work'/units/out/units/units_main-*/vars.txt >/dev/null 2>&1"

# A stripped program: the variables cannot be found, and the first call says so.
strip -o "$p/stripped" "$p/dist"
XDG_CACHE_HOME=$p/cache TURBOLIFT_ON_FAILURE=abort "$reaper" "$p/stripped" \
	>"$p/stripped.out" 2>"$p/stripped.err"
check "units stripped: the run aborts" test $? -ne 0
check "units stripped: the error says the program is stripped and names scale" \
	sh -c "grep -q 'it is stripped' '$p/stripped.err' && grep -q '^  scale (static in units_lib.c)' '$p/stripped.err'"

finish
