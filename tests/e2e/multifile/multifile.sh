#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Multi-file programs (docs/multifile.md): a tagged function whose work is
# done in the program's other files and in a static archive, built with make
# (separate compilation, -j4, and -flto), must print what the plain build
# prints with every call answered by a worker (TURBOLIFT_ON_FAILURE=abort);
# the linked service must hold what the function reaches and nothing else
# (nm); a function the program defines itself under a system library's name
# (zlib's crc32 and zlibVersion, while libcurl loads the system's libz into
# the process) must be the program's own in the service; an edited file must
# never be served from its older unit; a file compiled without the plugin is
# reported by symbol and file, and TURBOLIFT_LINK adds it; so is a file
# compiled without the plugin whose names a loaded library also defines.
# usage: multifile.sh BUILD_ROOT SOURCE_ROOT
set -u
build=$1 src=$2
. "$src/tests/lib.sh" e2e-multifile
make_work
on_exit() { pkill -KILL -f -- "$work/" 2>/dev/null; }
export PKG_CONFIG_PATH=$build/meson-uninstalled
export TURBOLIFT_TARGET=local TURBOLIFT_LOG=warn
unset TURBOLIFT_MODE TURBOLIFT_ON_FAILURE XDG_CACHE_HOME TURBOLIFT_OUTDIR TURBOLIFT_LINK
reaper=$build/tests/support/reaper	# used by dist (tests/lib.sh)
here=$src/tests/e2e/multifile
cflags=$(pkg-config --cflags turbolift) && libs=$(pkg-config --libs turbolift) ||
	{ echo "pkg-config turbolift failed"; exit 1; }

# build NAME CFLAGS LDLIBS [MAKEFLAGS...]: make the program in $work/NAME
build() {
	local name=$1 cf=$2 ll=$3; shift 3
	rm -rf "${work:?}/$name"
	cp -r "$here/prog" "$work/$name"
	TURBOLIFT_OUTDIR=$work/$name/out make -s -C "$work/$name" "$@" \
		CFLAGS="-std=gnu11 -O2 -I$src/include $cf" LDLIBS="$ll" >"$work/$name.build" 2>&1
}

# same_as_plain NAME PLAIN: NAME's distributed run prints what PLAIN's
# plain run printed, and every call was answered by a worker of this run
same_as_plain() {
	local name=$1 plain=$2 p=$work/$1 why
	dist "$p" "$p/dist.out" "$p/dist.err" "$p/prog"
	check "$name: distributed run exits 0 (abort policy)" test $? -eq 0
	check "$name: prints what the plain build prints" cmp -s "$work/$plain/plain.out" "$p/dist.out"
	check "$name: answered in another process" grep -qx 'answered elsewhere: yes' "$p/dist.err"
	if why=$(remote_proven "$p" "$p/dist.err"); then
		pass "$name: every call answered by a worker of this run"
	else
		fail "$name: not proven remote: $why"; grep -v '^turbolift: debug' "$p/dist.err" | head -20
	fi
}

# 1. plain, then the plugin with make -j4, then -flto
check "plain build with make" build plain "" ""
"$work/plain/prog" >"$work/plain/plain.out" 2>"$work/plain/plain.err"
check "plain build answers in-process" grep -qx 'answered elsewhere: no' "$work/plain/plain.err"
check "make -j4 with the plugin" build dist "$cflags" "$libs" -j4
check "the build says nothing (no warning about other files or builtins)" \
	test ! -s "$work/dist.build"
same_as_plain dist plain
check "make -j4 -flto with the plugin" build lto "$cflags -flto" "$libs" -j4
same_as_plain lto plain
# options whose link must follow the compile: -fno-pie code cannot go into
# the default PIE service; a sanitizer's library must come first
check "make -j4 -fno-pie -no-pie with the plugin" build nopie "$cflags -fno-pie" "-no-pie $libs" -j4
same_as_plain nopie plain
# (ASan's table of instrumented globals names every global, so the linker
# keeps them all: the service warns about c.c's unused_global, which a
# plain service drops; the run itself must still be right and remote)
ASAN_OPTIONS=detect_leaks=0 check "make -j4 -fsanitize=address with the plugin" \
	build asan "$cflags -fsanitize=address" "-fsanitize=address $libs" -j4
ASAN_OPTIONS=detect_leaks=0 dist "$work/asan" "$work/asan/dist.out" "$work/asan/dist.err" "$work/asan/prog"
check "asan: distributed run exits 0 (abort policy)" test $? -eq 0
check "asan: prints what the plain build prints" cmp -s "$work/plain/plain.out" "$work/asan/dist.out"
check "asan: answered in another process" grep -qx 'answered elsewhere: yes' "$work/asan/dist.err"
check "asan: answered by a worker of this run" \
	bash -c "grep -q '^turbolift: debug: work: answered 200 in pid' '$work/asan/dist.err'"

# 2. the service holds what work() reaches in every file, and nothing else
service=$(echo "$work"/dist/cache/turbolift/bin/work-*/service)
nm "$service" | awk '$2 ~ /^[TtDdRrBb]$/ {print $3}' | sort -u >"$work/service.syms"
for sym in sum_squares is_even is_odd scaled factor offsets ar_twice ar_helper; do
	check "service defines $sym (reached in another file or the archive)" \
		grep -qx "$sym" "$work/service.syms"
done
for sym in never_called unused_global ar_unused c_constructor report_only_main_uses main_file_unreached; do
	check "service holds no $sym (reached by nothing)" bash -c "! grep -qx '$sym' '$work/service.syms'"
done
check "... though the units it was linked from define them (--gc-sections removed them)" \
	bash -c "nm '$work'/dist/out/units/c-*/unit.o '$work'/dist/out/units/ar2-*/unit.o | grep -qw never_called"
check "... and the service's own object, compiled at the first call, defines main_file_unreached" \
	bash -c "nm '$work'/dist/out/work-*/service.o | grep -qw main_file_unreached"
check "an unreached constructor does not run in the service" \
	test "$(grep -c 'c.c constructor ran' "$work/dist/dist.err")" -eq 1

# 2b. the output folder removed after the build (or never written: a compiler
# cache's hit): said so, with what to do
mv "$work/dist/out" "$work/dist/out.away"
dist "$work/dist" "$work/dist/gone.out" "$work/dist/gone.err" "$work/dist/prog"
check "output folder removed: the first call aborts (abort policy)" test $? -ne 0
check "... saying the folder does not exist, why, and what to do with ccache" \
	bash -c "grep -q 'does not exist: it was removed after the program was built, or a compiler cache (ccache)' '$work/dist/gone.err' &&
		grep -q 'CCACHE_DISABLE=1' '$work/dist/gone.err'"
mv "$work/dist/out.away" "$work/dist/out"

# 2c. only the units that define what the tagged function reaches are
# compiled and linked (their vars.txt: def=, ref=): a file that only main
# uses is never compiled for the service, so its source, gone after the
# build, cannot fail the first call (docs/multifile.md)
r=$work/reach
mkdir -p "$r/src"
cat >"$r/src/main.c" <<'EOF'
#include <stdio.h>
#include <turbolift.h>
int used_twice(int x);
int banner_width(void);
TURBOLIFT("local") int twice(int x) { return used_twice(x); }
int main(void) { printf("%d %d\n", twice(21), banner_width()); return 0; }
EOF
printf 'int used_twice(int x) { return 2 * x; }\n' >"$r/src/used.c"
printf 'int banner_width(void) { return 80; }\n' >"$r/src/banner.c"
if (cd "$r/src" && for f in main used banner; do
	TURBOLIFT_OUTDIR=$r/out gcc -std=gnu11 -O2 $cflags -c $f.c -o ../$f.o || exit 1; done) &&
   gcc "$r"/main.o "$r"/used.o "$r"/banner.o $libs -o "$r/prog"; then
	rm "$r/src/banner.c"
	dist "$r" "$r/dist.out" "$r/dist.err" "$r/prog"
	check "reach: the run exits 0 with banner.c gone (abort policy)" test $? -eq 0
	check "reach: prints what the program computes (42 80)" grep -qx '42 80' "$r/dist.out"
	check "reach: answered by a worker of this run" \
		bash -c "grep -q '^turbolift: debug: twice: answered 200 in pid' '$r/dist.err'"
	check "reach: used.c's unit compiled, banner.c's not" \
		bash -c "ls '$r'/out/units/used-*/unit.o >/dev/null 2>&1 && ! ls '$r'/out/units/banner-*/unit.o >/dev/null 2>&1"
	check "reach: the log says banner.c is not reached" \
		grep -q "twice: its service does not reach [^ ]*banner.c: not compiled, not linked" "$r/dist.err"
else
	fail "reach: the program builds"
fi

# 2d. a name the records cannot show (in an asm statement) in a unit left
# out: the link of the reached units fails, and all of them are linked
if [ "$(uname -m)" = x86_64 ]; then
	mkdir -p "$r/asm"
	cat >"$r/asm/main.c" <<'EOF'
#include <stdio.h>
#include <turbolift.h>
TURBOLIFT("local") int via_asm(int x)
{
	int (*fn)(int);

	__asm__("lea asm_only(%%rip), %0" : "=r"(fn));
	return fn(x);
}
int main(void) { printf("%d\n", via_asm(20)); return 0; }
EOF
	printf 'int asm_only(int x) { return x + 22; }\n' >"$r/asm/hidden.c"
	if (cd "$r/asm" && for f in main hidden; do
		TURBOLIFT_OUTDIR=$r/asm/out gcc -std=gnu11 -O2 $cflags -c $f.c -o $f.o || exit 1; done) &&
	   gcc "$r"/asm/main.o "$r"/asm/hidden.o $libs -o "$r/asm/prog"; then
		TURBOLIFT_LOG=debug dist "$r/asm" "$r/asm/dist.out" "$r/asm/dist.err" "$r/asm/prog"
		check "reach, asm: the run exits 0 (abort policy) and prints 42" \
			bash -c "test $? -eq 0 && grep -qx 42 '$r/asm/dist.out'"
		check "reach, asm: the reached units' link failed, then all were linked" \
			grep -q "linking the service of via_asm from the 1 units it reaches failed; linking all 2" "$r/asm/dist.err"
		check "reach, asm: answered by a worker of this run" \
			bash -c "grep -q '^turbolift: debug: via_asm: answered 200 in pid' '$r/asm/dist.err'"
	else
		fail "reach, asm: the program builds"
	fi
fi

# 3. an edited file: the rebuilt program never gets the older unit
cp "$work/plain/plain.out" "$work/plain17.out"
sed -i 's/int factor = 17;/int factor = 19;/' "$work/plain/c.c" "$work/dist/c.c"
make -s -C "$work/plain" CFLAGS="-std=gnu11 -O2 -I$src/include" >/dev/null 2>&1
"$work/plain/prog" >"$work/plain/plain.out" 2>/dev/null
TURBOLIFT_OUTDIR=$work/dist/out make -s -C "$work/dist" \
	CFLAGS="-std=gnu11 -O2 -I$src/include $cflags" LDLIBS="$libs" >/dev/null 2>&1
check "after editing c.c the plain output changed" bash -c "grep -qx 'work(1) = 2050' '$work/plain/plain.out'"
same_as_plain dist plain

# 4. one file built without the plugin: named at the first call, symbol by
# symbol with the file that needs it; TURBOLIFT_LINK adds its object
cp -r "$here/prog" "$work/partial"
(cd "$work/partial" &&
	export TURBOLIFT_OUTDIR=$work/partial/out &&
	for f in main a c ar1 ar2; do gcc -std=gnu11 -O2 -I"$src/include" $cflags -c $f.c -o $f.o || exit 1; done &&
	gcc -std=gnu11 -O2 -c b.c -o b.o && ar rcs libparts.a ar1.o ar2.o &&
	gcc -o prog main.o a.o b.o c.o libparts.a $libs) >"$work/partial.build" 2>&1
check "a program with b.c built without the plugin builds" test -x "$work/partial/prog"
dist "$work/partial" "$work/partial/dist.out" "$work/partial/dist.err" "$work/partial/prog"
check "its first call aborts (abort policy)" test $? -ne 0
check "the error names is_odd and the file that needs it" \
	grep -q "is_odd (needed by is_even in $work/partial/a.c)" "$work/partial/dist.err"
check "... and scaled, needed by the tagged function's own file" \
	grep -q "scaled (needed by .* in $work/partial/main.c)" "$work/partial/dist.err"
check "... and says how to add link inputs" grep -q 'TURBOLIFT_LINK' "$work/partial/dist.err"
TURBOLIFT_LINK=$work/partial/b.o dist "$work/partial" "$work/partial/dist.out" \
	"$work/partial/dist.err" "$work/partial/prog"
check "with TURBOLIFT_LINK=b.o it runs distributed" test $? -eq 0
check "... and prints what the plain build printed" cmp -s "$work/plain17.out" "$work/partial/dist.out"

# 5. the program's own crc32/zlibVersion, with the system's libz loaded
o=$work/ownlib
mkdir -p "$o"
gcc -std=gnu11 -O2 -I"$here/ownlib" "$here/ownlib/main.c" "$here/ownlib/ownz.c" \
	-I"$src/include" -o "$o/plain" && "$o/plain" >"$o/plain.out"
TURBOLIFT_OUTDIR=$o/out gcc -std=gnu11 -O2 $cflags "$here/ownlib/main.c" "$here/ownlib/ownz.c" \
	$libs -o "$o/prog" 2>"$o/build.err"
check "own-zlib program builds with the plugin, silently" test -x "$o/prog" -a ! -s "$o/build.err"
check "the process loads the system's libz (through libcurl)" bash -c "ldd '$o/prog' | grep -q 'libz\\.so'"
dist "$o" "$o/dist.out" "$o/dist.err" "$o/prog"
check "own-zlib: distributed run exits 0 (abort policy)" test $? -eq 0
check "own-zlib: prints what the plain build prints (the program's own crc32)" \
	cmp -s "$o/plain.out" "$o/dist.out"
check "own-zlib: the plain output is not zlib's (version 'own-0.1')" \
	grep -q 'version length 7 starting with o' "$o/plain.out"
if why=$(remote_proven "$o" "$o/dist.err"); then
	pass "own-zlib: every call answered by a worker of this run"
else
	fail "own-zlib: not proven remote: $why"
fi
zsvc=$(echo "$o"/cache/turbolift/bin/checksum-*/service)
check "own-zlib: the service defines crc32 and zlibVersion itself" \
	bash -c "nm '$zsvc' | grep -q ' T crc32\$' && nm '$zsvc' | grep -q ' T zlibVersion\$'"
check "own-zlib: ... and does not take them from a shared library" \
	bash -c "! nm -D '$zsvc' | grep -Eq ' U (crc32|zlibVersion)\$'"

# 6. the same own zlib compiled WITHOUT the plugin: its names would come from
# the system's libz in the service; never silently (tl_own_symbols.c)
n=$work/ownlib-plain
mkdir -p "$n"
gcc -std=gnu11 -O2 -I"$here/ownlib" -c "$here/ownlib/ownz.c" -o "$n/ownz.o" &&
	TURBOLIFT_OUTDIR=$n/out gcc -std=gnu11 -O2 $cflags -I"$here/ownlib" "$here/ownlib/main.c" \
		"$n/ownz.o" $libs -o "$n/prog" 2>"$n/build.err"
check "own zlib without the plugin: the program builds" test -x "$n/prog"
dist "$n" "$n/dist.out" "$n/dist.err" "$n/prog"
check "own zlib without the plugin: the first call aborts (abort policy)" test $? -ne 0
check "... naming crc32 and zlibVersion, which the program defines itself" \
	bash -c "grep -qx '  crc32' '$n/dist.err' && grep -qx '  zlibVersion' '$n/dist.err' &&
		grep -q 'would take 2 symbols from a shared library that this program ($n/prog) defines itself' '$n/dist.err'"
# stripped (no .symtab): what the program does not import is its own
cp "$n/prog" "$n/stripped" && strip "$n/stripped"
dist "$n" "$n/dist.out" "$n/dist.err" "$n/stripped"
check "own zlib without the plugin, stripped: the first call aborts too" test $? -ne 0
check "... naming crc32 and zlibVersion, which the stripped program does not import" \
	bash -c "grep -qx '  crc32' '$n/dist.err' && grep -q 'that this program ($n/stripped) does not import' '$n/dist.err'"
cp "$o/prog" "$o/stripped" && strip "$o/stripped"
dist "$o" "$o/dist.out" "$o/dist.err" "$o/stripped"
check "own zlib WITH the plugin, stripped: runs distributed (no false alarm)" test $? -eq 0
check "... printing what the plain build prints" cmp -s "$o/plain.out" "$o/dist.out"
TURBOLIFT_LINK=$n/ownz.o dist "$n" "$n/dist.out" "$n/dist.err" "$n/prog"
check "... and with TURBOLIFT_LINK=ownz.o it runs distributed" test $? -eq 0
check "... printing what the plain build prints" cmp -s "$o/plain.out" "$n/dist.out"

finish
