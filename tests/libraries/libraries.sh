#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The libraries suite (docs/libraries.md): issue 8's "done when" with real,
# well-known C libraries built from Debian's source packages (fetched at
# test time into a cache outside the clone, tests/libraries/sources.sh):
# GNU libmatheval (a bison/flex expression parser), cJSON, zlib and Lua 5.4
# (32 files). For each, a user's main.c of ours with one TURBOLIFT("local")
# function that does its work through the library; every library file
# compiled on its own with the plugin and put in a static archive (make
# -j2). The distributed program must print exactly what the plain build
# prints, with TURBOLIFT_ON_FAILURE=abort and every call answered by a
# worker of the run (tests/lib.sh: dist, remote_proven). Also: the service
# holds the library code the function reaches and not what it does not
# reach (nm); zlib built from source is the program's own copy in the
# service although libcurl loads the system's libz; the warning about
# variables of other files names what it counts, and no const data; Lua
# from 4 threads at once; a meson project, a CMake project and an -flto
# build; two concurrent builds and runs sharing one plugin output folder
# and one service cache; two zlib variants sharing them, each with its own
# units; an edited library file never served from its older unit;
# archives built without the plugin (named symbol by symbol, never taken
# from a loaded shared library in silence, TURBOLIFT_LINK); flags users
# add (coverage, sanitizers, -pg, -no-pie...); ccache (meson uses it).
# Prints "figure:" lines (build times plain and with the plugin, first
# distributed run).
# usage: libraries.sh BUILD_ROOT SOURCE_ROOT
set -u
build=$1 src=$2
. "$src/tests/lib.sh" libraries
here=$src/tests/libraries
. "$here/sources.sh"

missing=
for tool in apt-get dpkg-source flock make ar gcc-ar nm ldd meson ninja cmake ccache pkg-config; do
	command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
[ -z "$missing" ] || skip_or_fail "missing:$missing (docs/libraries.md)"

make_work
export PKG_CONFIG_PATH=$build/meson-uninstalled
export TURBOLIFT_TARGET=local TURBOLIFT_LOG=warn
unset TURBOLIFT_MODE TURBOLIFT_ON_FAILURE XDG_CACHE_HOME TURBOLIFT_OUTDIR TURBOLIFT_LINK TURBOLIFT_CONFIG
reaper=$build/tests/support/reaper	# used by dist (tests/lib.sh)
cflags=$(pkg-config --cflags turbolift) && libs=$(pkg-config --libs turbolift) ||
	{ fail "pkg-config turbolift"; finish; }

# ---- 1. the sources, pinned, from the cache or fetched into it ----
# library (our folder) -> Debian source package, the folder of its tree
# the Makefile's SRC is, the tagged function, and a line its output has
declare -A pkg_of=([matheval]=libmatheval [cjson]=cjson [zlib]=zlib [lua]=lua5.4)
declare -A sub_of=([matheval]=/lib [cjson]= [zlib]= [lua]=/src)
declare -A fn_of=([matheval]=evaluate [cjson]=reformat [zlib]=squeeze [lua]=run)
declare -A sane_of=([matheval]='ok 1, 2 variables' [cjson]='doc 0: ok 1, items 3'
	[zlib]='(FASTEST yes)' [lua]='== fib: status 0, 6 results')
libs_all="matheval cjson zlib lua"
declare -A libsrc
for lib in $libs_all; do
	pkg=${pkg_of[$lib]} t0=$SECONDS
	if lib_source "$pkg"; then
		pass "$pkg ${lib_versions[$pkg]}: source in $source ($((SECONDS - t0)) s)"
		libsrc[$lib]=$source${sub_of[$lib]}
	else
		log "$source_error"
		skip_or_fail "cannot fetch the source of $pkg ${lib_versions[$pkg]} (see above)"
	fi
done

# now: seconds since the epoch, to the millisecond; since T0: seconds from T0
now() { date +%s.%N | cut -c1-14; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# mk NAME LIB CFLAGS LDLIBS [MAKE ARGS...]: make LIB's program in $work/NAME
# with make -j2 (its plugin output in $work/NAME/out); secs := seconds taken
mk() {
	local name=$1 lib=$2 cf=$3 ll=$4 t0 rc; shift 4
	t0=$(now)
	rm -rf "${work:?}/$name"
	mkdir -p "$work/$name"
	TURBOLIFT_OUTDIR=$work/$name/out nice make -s -j2 -C "$work/$name" -f "$here/$lib/Makefile" \
		SRC="${libsrc[$lib]}" CFLAGS="-O2 -I$src/include $cf" LDLIBS="$ll" "$@" \
		>"$work/$name.build" 2>&1
	rc=$?
	secs=$(since "$t0")
	[ $rc -eq 0 ] || tail -20 "$work/$name.build"
	return $rc
}

# proven DIR ERR: remote_proven (tests/lib.sh) on ERR without the one
# warning that is expected here: "F: its service uses N variables of other
# files" (docs/remote.md), a documented limit, not a failed call
proven() {
	awk '/^turbolift: warning: [A-Za-z_0-9]+: its service uses [0-9]+ variables? of other files/ { skip = 1; next }
	     skip && (/^  / || /^$/) { next }
	     { skip = 0; print }' "$2" >"$2.proof"
	remote_proven "$1" "$2.proof"
}
# check_proven NAME DIR ERR: a check that proven DIR ERR holds; on failure
# the run's log (without debug lines) follows the reason
check_proven() {
	local why
	if why=$(proven "$2" "$3"); then
		pass "$1: every call answered by a worker of its run"
	else
		fail "$1: not proven remote: $why"; grep -v '^turbolift: debug' "$3" | head -20
	fi
}

# travelling ERR / pointers ERR: the program's variables of other files
# that the first call lists (docs/remote.md, "Variables of other files"):
# those whose values travel with each call, and those that hold pointers
# and must keep their values from the program's start
uses_line() { sed -n 's/.*: variables of the program that its service uses: //p' "$1" | head -1; }
names_of() { grep -oE '[A-Za-z_0-9]+ \(' | tr -d ' ('; }
travelling() { uses_line "$1" | sed -n 's/ travel with each call.*//p' | names_of; }
pointers() { uses_line "$1" | sed 's/.* travel with each call once the program changed them; //' | sed -n 's/ hold pointers.*//p' | names_of; }

# same_as_plain NAME PLAIN_OUT [LABEL]: NAME's program ($work/NAME/prog), run
# distributed, exits 0 under the abort policy, prints PLAIN_OUT, and every
# call was answered by a worker of the run; secs := the run's seconds
same_as_plain() {
	local name=${3:-$1} plain=$2 p=$work/$1 t0 rc
	t0=$(now)
	# in its folder: what the program or its workers write (gmon.out) stays there
	(cd "$p" && dist "$p" "$p/dist.out" "$p/dist.err" "$p/prog")
	rc=$? secs=$(since "$t0")
	check "$name: distributed run exits 0 (TURBOLIFT_ON_FAILURE=abort)" test $rc -eq 0
	if cmp -s "$plain" "$p/dist.out"; then
		pass "$name: prints what the plain build prints ($(wc -l <"$plain") lines)"
	else
		fail "$name: prints what the plain build prints"; diff "$plain" "$p/dist.out" | head -10
	fi
	check_proven "$name" "$p" "$p/dist.err"
}

# service_has NAME SYMBOLS... / service_lacks NAME SYMBOLS...: the linked
# service of NAME's program defines (nm: T t D d B b R r) each symbol / none
service_syms() { nm "$work/$1"/cache/turbolift/bin/*/service 2>/dev/null | awk '$2 ~ /^[TtDdBbRr]$/ {print $3}' | sort -u; }
service_has() {
	local name=$1 s; shift
	service_syms "$name" >"$work/$name.syms"
	for s in "$@"; do
		check "$name: the service defines $s (reached in the library's files)" grep -qx "$s" "$work/$name.syms"
	done
}
service_lacks() {
	local name=$1 s; shift
	for s in "$@"; do
		check "$name: the service holds no $s (linked into the program, reached by nothing)" \
			bash -c "! grep -qx '$s' '$work/$name.syms'"
	done
}
quiet_build() { ! grep -Eq 'not defined in this file|move its definition|__builtin_' "$1"; }

# ---- 2. each library: plain, then with the plugin (make -j2) ----
for lib in $libs_all; do
	if mk "$lib-plain" "$lib" "" ""; then
		pass "$lib: plain build (make -j2, library in an archive; $secs s)"
		plain_secs=$secs
	else
		fail "$lib: plain build"; continue
	fi
	"$work/$lib-plain/prog" >"$work/$lib.plain" 2>"$work/$lib-plain/plain.err"
	check "$lib: the plain program runs and does the library's work" \
		grep -qF "${sane_of[$lib]}" "$work/$lib.plain"
	if mk "$lib" "$lib" "$cflags" "$libs"; then
		pass "$lib: build with the plugin, every file on its own (make -j2; $secs s)"
		log "figure: $lib: build plain $plain_secs s, with the plugin $secs s (make -j2, 2 shared CPUs)"
	else
		fail "$lib: build with the plugin"; continue
	fi
	check "$lib: the build says nothing about builtins or other files" quiet_build "$work/$lib.build"
	same_as_plain "$lib" "$work/$lib.plain"
	log "figure: $lib: first distributed run (units compiled, service linked, workers started) $secs s"
done

# Lua from 4 threads at once (calls in flight together, spread over the workers)
"$work/lua-plain/prog" threads >"$work/lua-threads.plain" 2>/dev/null
n=$work/lua
(cd "$n" && dist "$n" "$n/threads.out" "$n/threads.err" "$n/prog" threads)
check "lua, 4 threads x 12 calls at once: exits 0 (abort policy)" test $? -eq 0
check "... prints what the plain build prints ($(wc -l <"$work/lua-threads.plain") lines)" \
	cmp -s "$work/lua-threads.plain" "$n/threads.out"
check_proven "lua threads" "$n" "$n/threads.err"

# ---- 3. what each service holds ----
service_has matheval evaluator_create evaluator_derivative_x yyparse yylex yywrap
service_lacks matheval evaluator_evaluate_x_y_z evaluator_derivative_z
service_has cjson cJSON_Parse cJSON_PrintUnformatted cJSON_Print cJSONUtils_SortObject
service_lacks cjson cJSON_Minify cJSONUtils_GeneratePatches
service_has zlib compress2 uncompress deflate inflate crc32 crc32_combine adler32 zlibVersion zlibCompileFlags
service_lacks zlib deflateParams inflateSync
service_has lua luaL_newstate luaL_openlibs luaV_execute luaY_parser luaopen_string luaopen_coroutine
service_lacks lua luaL_ref lua_setallocf

# ---- 4. zlib: the program's own copy, in the service too ----
if gcc -O2 -I"$src/include" "$here/zlib/main.c" -o "$work/zlib-system" -lz 2>"$work/zlib-system.err"; then
	"$work/zlib-system" >"$work/zlib.system"
	check "zlib: the system's libz prints other numbers than the program's copy (-DFASTEST)" \
		bash -c "! cmp -s '$work/zlib.plain' '$work/zlib.system'"
else
	cat "$work/zlib-system.err"; fail "zlib: a build against the system's libz"
fi
check "zlib: the distributed program loads the system's libz.so (through libcurl)" \
	bash -c "ldd '$work/zlib/prog' | grep -q 'libz\\.so'"
zsvc=$(echo "$work"/zlib/cache/turbolift/bin/squeeze-*/service)
check "zlib: the service takes no zlib function from a shared library" \
	bash -c "! nm -D '$zsvc' | grep -Eq ' U (compress2|uncompress|deflate|inflate|crc32|adler32|zlibVersion|zlibCompileFlags)(@|\$)'"
travelling "$work/zlib/dist.err" >"$work/zlib.travelling"
pointers "$work/zlib/dist.err" >>"$work/zlib.travelling"
check "zlib: crc32.c's tables, which the library writes at the first use, are listed (the worker's own until the program changes them)" \
	grep -qx crc_table "$work/zlib.travelling"
check "zlib: ... and no const data (configuration_table, z_errmsg, static_l_desc)" \
	bash -c "! grep -Eqx 'configuration_table|z_errmsg|static_l_desc' '$work/zlib.travelling'"
pointers "$work/cjson/dist.err" >"$work/cjson.pointers"
check "cjson: cJSON.c's global_error and global_hooks hold pointers: listed as kept unchanged" \
	bash -c "grep -qx global_error '$work/cjson.pointers' && grep -qx global_hooks '$work/cjson.pointers'"
# cJSON_Parse records where parsing failed in global_error: in a worker,
# which the program's cJSON_GetErrorPtr never sees; the link warns there
# (docs/remote.md, "Globals the function writes")
check "cjson: the link warns at cJSON.c's write of global_error, with the call path from reformat" \
	bash -c "grep -F '  ${libsrc[cjson]}/cJSON.c:' '$work/cjson/dist.err' |
		 grep -qF ': global_error, written in cJSON_ParseWithLengthOpts (reformat -> cJSON_Parse -> cJSON_ParseWithOpts -> cJSON_ParseWithLengthOpts)'"

# ---- 5. build styles: meson, CMake, -flto ----
# meson: libmatheval as a static_library, dependency('turbolift') on both
# targets. meson compiles through ccache when it is installed: here without
# (CCACHE_DISABLE), then with ccache in section 9.
# meson_build DIR: the meson project's program in DIR/b, linked as DIR/prog
meson_build() {
	TURBOLIFT_OUTDIR=$1/out nice meson setup "$1/b" "$here/meson-project" -Dlibsrc="${libsrc[matheval]}" \
		>"$1/build.log" 2>&1 && TURBOLIFT_OUTDIR=$1/out nice ninja -C "$1/b" -j2 >>"$1/build.log" 2>&1 &&
		ln -s b/prog "$1/prog"
}
m=$work/meson t0=$SECONDS
mkdir -p "$m"
if CCACHE_DISABLE=1 meson_build "$m"; then
	pass "meson: libmatheval and the program, dependency('turbolift') on every target ($((SECONDS - t0)) s)"
	same_as_plain meson "$work/matheval.plain"
else
	tail -20 "$m/build.log"; fail "meson project build"
fi
# CMake: cJSON as a static library, PkgConfig::TURBOLIFT on both targets
c=$work/cmake t0=$SECONDS
mkdir -p "$c"
if TURBOLIFT_OUTDIR=$c/out nice cmake -S "$here/cmake-project" -B "$c/b" -DLIBSRC="${libsrc[cjson]}" \
		>"$c/build.log" 2>&1 && TURBOLIFT_OUTDIR=$c/out nice cmake --build "$c/b" -j2 >>"$c/build.log" 2>&1 &&
		ln -s b/prog "$c/prog"; then
	pass "cmake: cJSON and the program, PkgConfig::TURBOLIFT on every target ($((SECONDS - t0)) s)"
	same_as_plain cmake "$work/cjson.plain"
else
	tail -20 "$c/build.log"; fail "CMake project build"
fi
# -flto: Lua, its archive made with gcc-ar (the LTO plugin's symbol table)
if mk lua-lto lua "$cflags -flto" "$libs" AR=gcc-ar; then
	pass "lua -flto: build with the plugin (make -j2, gcc-ar; $secs s)"
	same_as_plain lua-lto "$work/lua.plain"
else
	fail "lua -flto: build with the plugin"
fi

# ---- 6. two builds at once into one plugin output folder, two runs at once on one cache ----
t=$work/twin
mkdir -p "$t"
for i in 1 2; do
	(rm -rf "$t/b$i" && mkdir "$t/b$i" && TURBOLIFT_OUTDIR=$t/out nice make -s -j2 -C "$t/b$i" \
		-f "$here/cjson/Makefile" SRC="${libsrc[cjson]}" CFLAGS="-O2 $cflags" LDLIBS="$libs" \
		>"$t/build$i.log" 2>&1) &
done
wait
check "cjson twice at once (make -j2 each), one plugin output folder: both build" \
	test -x "$t/b1/prog" -a -x "$t/b2/prog"
for i in 1 2; do
	dist "$t" "$t/dist$i.out" "$t/dist$i.err" "$t/b$i/prog" &
done
wait
for i in 1 2; do
	check "cjson twin $i: prints what the plain build prints (runs at once, one service cache)" \
		cmp -s "$work/cjson.plain" "$t/dist$i.out"
	check_proven "cjson twin $i" "$t" "$t/dist$i.err"
done

check "cjson twins: one service binary for both" test "$(ls -d "$t"/cache/turbolift/bin/*/ | wc -l)" -eq 1

# ---- 6b. two programs, one plugin output folder and one service cache,
# built from two variants of zlib (with and without -DFASTEST): each
# program's service is made of its own units, never the other's ----
z=$work/zshare
mkdir -p "$z/fast" "$z/std" "$z/std-plain"
std_flags="-DDYNAMIC_CRC_TABLE -D_LARGEFILE64_SOURCE=1 -DHAVE_UNISTD_H"
if TURBOLIFT_OUTDIR=$z/out nice make -s -j2 -C "$z/fast" -f "$here/zlib/Makefile" SRC="${libsrc[zlib]}" \
		CFLAGS="-O2 $cflags" LDLIBS="$libs" >"$z/build.log" 2>&1 &&
   TURBOLIFT_OUTDIR=$z/out nice make -s -j2 -C "$z/std" -f "$here/zlib/Makefile" SRC="${libsrc[zlib]}" \
		LIB_CPPFLAGS="$std_flags" CFLAGS="-O2 $cflags" LDLIBS="$libs" >>"$z/build.log" 2>&1 &&
   nice make -s -j2 -C "$z/std-plain" -f "$here/zlib/Makefile" SRC="${libsrc[zlib]}" \
		LIB_CPPFLAGS="$std_flags" CFLAGS="-O2 -I$src/include" >>"$z/build.log" 2>&1; then
	pass "zlib with and without -DFASTEST: two programs, one plugin output folder"
	"$z/std-plain/prog" >"$z/std.plain"
	check "... the two variants print different numbers (plain builds)" bash -c "! cmp -s '$work/zlib.plain' '$z/std.plain'"
	for v in fast std; do
		(cd "$z/$v" && dist "$z" "$z/$v.out" "$z/$v.err" "$z/$v/prog")
		check "zlib $v, sharing the folder and the cache: exits 0 (abort policy)" test $? -eq 0
	done
	check "... the -DFASTEST program prints its own plain output" cmp -s "$work/zlib.plain" "$z/fast.out"
	check "... the other prints its own" cmp -s "$z/std.plain" "$z/std.out"
	for v in fast std; do
		check_proven "zlib $v" "$z" "$z/$v.err"
	done
	check "... from two service binaries" test "$(ls -d "$z"/cache/turbolift/bin/squeeze-*/ | wc -l)" -eq 2
else
	tail -n 20 "$z/build.log"; fail "zlib variants: builds"
fi

# ---- 6c. an edited library file: the rebuilt program never gets its older unit ----
e=$work/cjson-edit
mkdir -p "$e/src" "$e/plain"
cp "${libsrc[cjson]}"/cJSON.[ch] "${libsrc[cjson]}"/cJSON_Utils.[ch] "$e/src/"
# edit_run NAME: make (again) the plugin build in $e, run it distributed (one
# cache for both runs) into $e/NAME.out and .err
edit_run() {
	TURBOLIFT_OUTDIR=$e/out nice make -s -j2 -C "$e" -f "$here/cjson/Makefile" SRC="$e/src" \
		CFLAGS="-O2 $cflags" LDLIBS="$libs" >"$e/build.log" 2>&1 &&
		(cd "$e" && dist "$e" "$e/$1.out" "$e/$1.err" "$e/prog")
}
if edit_run before && cmp -s "$work/cjson.plain" "$e/before.out"; then
	pass "cjson from a copy of its source: distributed, the plain output"
	# formatted output indents with a blank instead of a tab
	sed -i "s/\\*output_pointer++ = '\\\\t';/*output_pointer++ = ' ';/" "$e/src/cJSON.c"
	touch "$e/src/cJSON.c"
	nice make -s -C "$e/plain" -f "$here/cjson/Makefile" SRC="$e/src" CFLAGS="-O2 -I$src/include" \
		>"$e/plain.log" 2>&1 && "$e/plain/prog" >"$e/edited.plain"
	check "... cJSON.c edited: the plain output changed" bash -c "! cmp -s '$work/cjson.plain' '$e/edited.plain'"
	edit_run after
	check "... rebuilt with make: distributed, exits 0 (abort policy)" test $? -eq 0
	check "... and prints the edited plain output (never the older unit)" cmp -s "$e/edited.plain" "$e/after.out"
	check_proven "cjson edited" "$e" "$e/after.err"
else
	tail -n 20 "$e/build.log" "$e/before.err" 2>/dev/null; fail "cjson from a copy of its source"
fi

# ---- 7. libraries built without the plugin (third-party archives) ----
# The plain builds' archives (no plugin) with the plugin-built main.c. What
# the program takes from such an archive is in no unit: the first call must
# fail naming every missing symbol, complete, and never take the library
# from a shared library the process happens to load (libcurl loads the
# system's libz); TURBOLIFT_LINK=<the archive> is the documented way in.
# no_plugin NAME LIB: $work/NAME/prog = LIB's main.c with the plugin + $work/LIB-plain's archive
no_plugin() {
	local name=$1 lib=$2 n=$work/$1 archive
	archive=$(echo "$work/$lib-plain"/lib*.a)
	mkdir -p "$n"
	(cd "$n" && TURBOLIFT_OUTDIR=$n/out gcc -O2 -I. -I"$work/$lib-plain" $cflags -I"${libsrc[$lib]}" \
		-c "$here/$lib/main.c" -o main.o && gcc -o prog main.o "$archive" $libs -lm) >"$n.build" 2>&1
}
# listed ERR: the lines under the first "needs N symbols" error
listed() { awk 'on && /^  / { n++; next } on { exit } /^turbolift: error: .* needs [0-9]+ symbols? / { on = 1 } END { print n + 0 }' "$1"; }
needs_count() { sed -n 's/^turbolift: error: .* needs \([0-9]*\) symbols\{0,1\} .*/\1/p' "$1" | head -1; }

if no_plugin lua-noplugin lua; then
	n=$work/lua-noplugin
	dist "$n" "$n/dist.out" "$n/dist.err" "$n/prog"
	check "lua, archive without the plugin: the first call aborts (abort policy)" test $? -ne 0
	check "... naming luaL_newstate and the file that needs it" \
		grep -q "^  luaL_newstate (needed by run in $here/lua/main.c)" "$n/dist.err"
	k=$(needs_count "$n/dist.err")
	check "... every one of the ${k:-?} symbols it counts, complete" test "${k:-0}" -gt 0 -a "$(listed "$n/dist.err")" = "${k:-0}"
	TURBOLIFT_LINK=$(echo "$work"/lua-plain/liblua.a) dist "$n" "$n/link.out" "$n/link.err" "$n/prog"
	check "lua, archive without the plugin, TURBOLIFT_LINK=liblua.a: runs (abort policy)" test $? -eq 0
	check "... and prints what the plain build prints" cmp -s "$work/lua.plain" "$n/link.out"
else
	tail -20 "$work/lua-noplugin.build"; fail "lua: main.c with the plugin and the plain liblua.a"
fi

# Lua with 4 of its 32 files built without the plugin (objects of the plain
# build) and the rest with it: hundreds of symbols missing, every one named
n=$work/lua-mixed
mkdir -p "$n"
plain4="lauxlib.o lstrlib.o ltablib.o lmathlib.o"
(cd "$work/lua" && cp main.o "$n/" && for o in *.o; do
	case " $plain4 main.o " in *" $o "*) ;; *) cp "$o" "$n/" ;; esac; done) &&
	(cd "$work/lua-plain" && cp $plain4 "$n/") &&
	(cd "$n" && ar rcs liblua.a l*.o && gcc -o prog main.o liblua.a $libs -lm) >"$n.build" 2>&1
if [ -x "$n/prog" ]; then
	dist "$n" "$n/dist.out" "$n/dist.err" "$n/prog"
	check "lua, 4 files without the plugin: the first call aborts (abort policy)" test $? -ne 0
	check "... naming luaL_openlibs's needs in linit.c" \
		grep -q "^  luaopen_string (needed by luaL_openlibs in ${libsrc[lua]}/linit.c)" "$n/dist.err"
	k=$(needs_count "$n/dist.err")
	check "... every one of the ${k:-?} symbols it counts, complete (listed: $(listed "$n/dist.err"))" \
		test "${k:-0}" -gt 0 -a "$(listed "$n/dist.err")" = "${k:-0}"
else
	cat "$n.build"; fail "lua with 4 files without the plugin: build"
fi

if no_plugin zlib-noplugin zlib; then
	n=$work/zlib-noplugin
	dist "$n" "$n/dist.out" "$n/dist.err" "$n/prog"
	if [ $? -ne 0 ]; then
		check "zlib, archive without the plugin: the first call fails: the program defines zlib itself" \
			grep -q "^turbolift: error: .* defines itself" "$n/dist.err"
		for s in crc32 deflate compress2 zlibVersion; do
			check "... naming $s" grep -Eq "^  $s( |\$)" "$n/dist.err"
		done
	elif cmp -s "$work/zlib.plain" "$n/dist.out"; then
		pass "zlib, archive without the plugin: the service used the program's own zlib"
	else
		fail "zlib, archive without the plugin: the service took the system's libz in silence (exit 0, other output)"
		diff "$work/zlib.plain" "$n/dist.out" | sed -n 2p
	fi
	# the same program stripped (no .symtab; install -s, distribution
	# packages): still never the system's zlib in silence
	cp "$n/prog" "$n/prog-stripped" && strip "$n/prog-stripped"
	rm -rf "$n/cache"
	dist "$n" "$n/strip.out" "$n/strip.err" "$n/prog-stripped"
	if [ $? -ne 0 ]; then
		check "zlib, archive without the plugin, stripped program: the first call fails naming crc32" \
			grep -Eq "^  crc32( |\$)" "$n/strip.err"
	elif cmp -s "$work/zlib.plain" "$n/strip.out"; then
		pass "zlib, archive without the plugin, stripped program: the service used the program's own zlib"
	else
		fail "zlib, archive without the plugin, stripped program: the service took the system's libz in silence (exit 0, other output)"
		diff "$work/zlib.plain" "$n/strip.out" | sed -n 2p
	fi
	TURBOLIFT_LINK=$(echo "$work"/zlib-plain/libz.a) dist "$n" "$n/link.out" "$n/link.err" "$n/prog"
	check "zlib, archive without the plugin, TURBOLIFT_LINK=libz.a: runs (abort policy)" test $? -eq 0
	check "... and prints the program's own zlib output" cmp -s "$work/zlib.plain" "$n/link.out"
	check_proven "zlib with TURBOLIFT_LINK" "$n" "$n/link.err"
else
	tail -20 "$work/zlib-noplugin.build"; fail "zlib: main.c with the plugin and the plain libz.a"
fi

# ---- 8. flags users add to every file (cJSON, make -j2) ----
# Each program distributed must print what the plain build printed.
# ASan's leak report at exit is about the whole process, not the calls.
export ASAN_OPTIONS=detect_leaks=0
i=0
for opt in "--coverage" "-save-temps" "-fsanitize=undefined" "-fstack-protector-strong -D_FORTIFY_SOURCE=2" \
		"-pg" "-fno-pie -no-pie" "-fsanitize=address"; do
	i=$((i + 1))
	if mk "cjson-flags$i" cjson "$cflags $opt" "$libs"; then
		pass "cjson $opt: build with the plugin"
		same_as_plain "cjson-flags$i" "$work/cjson.plain" "cjson $opt"
	else
		fail "cjson $opt: build with the plugin"
	fi
done

# ---- 9. ccache (meson uses it by itself when it is installed) ----
# The same project built in two folders, the second build's compiles all
# cache hits, then the first folder removed (docs/multifile.md, ccache):
# with a per-build TURBOLIFT_OUTDIR the second program names the first
# build's folders, and its first call must say so, with the remedies; with
# the documented remedy, -fplugin-arg-turbolift-outdir=DIR on the command
# line (which ccache hashes), the second program runs distributed.
export CCACHE_DIR=$work/ccache-store
mkdir -p "$work/ccache-a" "$work/ccache-b"
if meson_build "$work/ccache-a" && meson_build "$work/ccache-b"; then
	hits=$(ccache -s 2>/dev/null | sed -n 's/^ *Hits: *\([0-9]*\) .*/\1/p' | head -1)
	pass "meson with ccache and TURBOLIFT_OUTDIR: built twice, in two folders (${hits:-?} ccache hits)"
	check "meson with ccache: the builds used ccache" grep -q ccache "$work/ccache-b/b/meson-logs/meson-log.txt"
	rm -rf "$work/ccache-a"
	n=$work/ccache-b
	(cd "$n" && dist "$n" "$n/dist.out" "$n/dist.err" "$n/prog")
	check "... the first folder removed: the second program's first call aborts" test $? -ne 0
	check "... saying the folder is gone, maybe through ccache, and the remedies" \
		grep -q "does not exist: .*ccache.*-fplugin-arg-turbolift-outdir=DIR.*CCACHE_DISABLE=1" "$n/dist.err"
else
	tail -n 20 "$work/ccache-a/build.log" "$work/ccache-b/build.log"; fail "meson with ccache: builds"
fi
# meson_build_arg DIR: meson_build with the output folder on the command
# line (-Doutdir: -fplugin-arg-turbolift-outdir added to the dependency)
meson_build_arg() {
	env -u TURBOLIFT_OUTDIR nice meson setup "$1/b" "$here/meson-project" -Dlibsrc="${libsrc[matheval]}" \
		-Doutdir="$1/out" >"$1/build.log" 2>&1 &&
		env -u TURBOLIFT_OUTDIR nice ninja -C "$1/b" -j2 >>"$1/build.log" 2>&1 && ln -s b/prog "$1/prog"
}
mkdir -p "$work/ccache-c" "$work/ccache-d"
if meson_build_arg "$work/ccache-c" && meson_build_arg "$work/ccache-d"; then
	pass "meson with ccache and -fplugin-arg-turbolift-outdir: built twice, in two folders"
	rm -rf "$work/ccache-c"
	same_as_plain ccache-d "$work/matheval.plain" "meson with ccache and the outdir argument, the first build's folder removed"
else
	tail -n 20 "$work/ccache-c/build.log" "$work/ccache-d/build.log"; fail "meson with ccache and the outdir argument: builds"
fi
unset CCACHE_DIR

finish
