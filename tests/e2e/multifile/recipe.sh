#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Units made at the first call (docs/multifile.md, "Build time"): a file
# without a tagged function is not preprocessed again at the build; its unit
# folder holds a recipe (unit.txt) and the first call that needs the unit
# makes unit.i from it. Checked here, every distributed run with
# TURBOLIFT_ON_FAILURE=abort:
#   - the untagged objects are a plain build's, byte for byte, but for the
#     section naming their unit; their folders have a recipe and no text;
#   - the run prints what the plain build prints, every call answered by a
#     worker, and the text made at the first call is the text the build
#     would have made (-save-temps still makes it at the build);
#   - an untagged file's header edited after the build: the first call
#     fails, naming the header and saying to rebuild; after the rebuild the
#     run is right again. Touched files with the same content are fine;
#   - a source compiled from a temporary folder that is gone: said so;
#   - a tag spelled by a project's macro in a header, in a file that never
#     says "turbolift": still a service;
#   - a file compiled from stdin (gcc -x c -): its unit is made at the build;
#   - two runs making the same units at once; ccache's objects from another
#     folder (the recipe's files have other mtimes, then are gone).
# usage: recipe.sh BUILD_ROOT SOURCE_ROOT
set -u
build=$1 src=$2
. "$src/tests/lib.sh" e2e-recipe
make_work
export PKG_CONFIG_PATH=$build/meson-uninstalled
export TURBOLIFT_TARGET=local TURBOLIFT_LOG=warn
unset TURBOLIFT_MODE TURBOLIFT_ON_FAILURE XDG_CACHE_HOME TURBOLIFT_OUTDIR TURBOLIFT_LINK \
	SOURCE_DATE_EPOCH CPATH C_INCLUDE_PATH CCACHE_DIR CCACHE_DISABLE CCACHE_RECACHE
reaper=$build/tests/support/reaper	# used by dist (tests/lib.sh)
here=$src/tests/e2e/multifile
cflags=$(pkg-config --cflags turbolift) && libs=$(pkg-config --libs turbolift) ||
	{ echo "pkg-config turbolift failed"; exit 1; }
untagged="a b c ar1 ar2"

# build NAME CFLAGS LDLIBS [MAKEFLAGS...]: make the program in $work/NAME
build() {
	local name=$1 cf=$2 ll=$3; shift 3
	rm -rf "${work:?}/$name"
	cp -r "$here/prog" "$work/$name"
	TURBOLIFT_OUTDIR=$work/$name/out make -s -C "$work/$name" "$@" \
		CFLAGS="-std=gnu11 -O2 -I$src/include $cf" LDLIBS="$ll" >"$work/$name.build" 2>&1
}

# same_as_plain NAME PLAIN_OUT: NAME's distributed run prints PLAIN_OUT,
# every call answered by a worker of this run
same_as_plain() {
	local name=$1 plain=$2 p=$work/$1 why
	dist "$p" "$p/dist.out" "$p/dist.err" "$p/prog"
	check "$name: distributed run exits 0 (abort policy)" test $? -eq 0
	check "$name: prints what the plain build prints" cmp -s "$plain" "$p/dist.out"
	if why=$(remote_proven "$p" "$p/dist.err"); then
		pass "$name: every call answered by a worker of this run"
	else
		fail "$name: not proven remote: $why"; grep -v '^turbolift: debug' "$p/dist.err" | head -20
	fi
}

# unit_dir NAME FILE: FILE's unit folder in $work/NAME/out
unit_dir() { echo "$work/$1"/out/units/"$2"-*; }

# 1. the build: recipes, and objects that are a plain build's
check "plain build with make" build plain "" ""
"$work/plain/prog" >"$work/plain.out" 2>/dev/null
check "make -j2 with the plugin" build dist "$cflags" "$libs" -j2
check "the build says nothing" test ! -s "$work/dist.build"
for f in $untagged; do
	d=$(unit_dir dist "$f")
	check "$f.c (untagged): its folder holds a recipe naming $f.c and parts.h, vars.txt, no text" \
		bash -c "grep -q '^cc1=/' '$d/unit.txt' && grep -q '^arg=$f.c\$' '$d/unit.txt' &&
			grep -q '^input=.* $work/dist/$f.c\$' '$d/unit.txt' &&
			grep -q '^input=.* $work/dist/parts.h\$' '$d/unit.txt' &&
			test -s '$d/vars.txt' -a ! -e '$d/unit.i'"
	# objcopy rewrites both the same way: what is left must be equal
	objcopy -R turbolift_units "$work/dist/$f.o" "$work/$f.dist.o" &&
		objcopy "$work/plain/$f.o" "$work/$f.plain.o"
	check "$f.o is a plain build's object, byte for byte, but for the section turbolift_units" \
		cmp -s "$work/$f.dist.o" "$work/$f.plain.o"
	check "... whose one entry is its folder" \
		test "$(readelf -p turbolift_units "$work/dist/$f.o" | sed -n 's/^ *\[ *0\] *//p')" = "$d"
done
check "main.c (tagged): its unit text is made at the build" bash -c "test -s $(unit_dir dist main)/unit.i"

# 2. the first call makes the text, and it is the build's
same_as_plain dist "$work/plain.out"
for f in $untagged; do
	check "$f.c: the first call made unit.i and unit.o" \
		test -s "$(unit_dir dist "$f")/unit.i" -a -s "$(unit_dir dist "$f")/unit.o"
done
check "... and wrote nothing beside the sources (no assembly file)" \
	bash -c "! ls '$work/dist'/*.s 2>/dev/null"
mkdir -p "$work/eager"
(cd "$work/dist" && TURBOLIFT_OUTDIR=$work/eager/out gcc -std=gnu11 -O2 -I"$src/include" $cflags \
	-save-temps=obj -c c.c -o "$work/eager/c.o") >"$work/eager.build" 2>&1
check "-save-temps: the build makes the unit text at once" test -s "$(unit_dir eager c)/unit.i"
check "... and it is the text the first call made from the recipe" \
	cmp -s "$(unit_dir eager c)/unit.i" "$(unit_dir dist c)/unit.i"

# 3. an untagged file's header edited after the build
check "build for the edit" build edited "$cflags" "$libs" -j2
echo '/* edited after the build */' >>"$work/edited/parts.h"
dist "$work/edited" "$work/edited/dist.out" "$work/edited/dist.err" "$work/edited/prog"
check "header edited after the build: the first call aborts (abort policy)" test $? -ne 0
check "... naming the header and saying to rebuild" \
	grep -q "one of them, $work/edited/parts.h, has changed: .*rebuild the program" \
	"$work/edited/dist.err"
check "... and no unit text was made" bash -c "! ls $work/edited/out/units/*/unit.o 2>/dev/null"
TURBOLIFT_OUTDIR=$work/edited/out make -s -C "$work/edited" \
	CFLAGS="-std=gnu11 -O2 -I$src/include $cflags" LDLIBS="$libs" >/dev/null 2>&1
same_as_plain edited "$work/plain.out"

# touched, same content (a fresh checkout): the content decides
check "build for the touch" build touched "$cflags" "$libs" -j2
sleep 0.05
touch "$work/touched"/*.c "$work/touched/parts.h"
same_as_plain touched "$work/plain.out"

# 4. a source compiled from a temporary folder that is gone
check "build for the temporary source" build tmpsrc "$cflags" "$libs"
mkdir "$work/tmpsrc/gen" && cp "$here/prog/c.c" "$here/prog/parts.h" "$work/tmpsrc/gen/" &&
	(cd "$work/tmpsrc" && TURBOLIFT_OUTDIR=$work/tmpsrc/out gcc -std=gnu11 -O2 -I"$src/include" \
		$cflags -c gen/c.c -o c.o && rm -f prog && make -s CFLAGS="-std=gnu11 -O2" LDLIBS="$libs") \
	>"$work/tmpsrc.build2" 2>&1 && rm -rf "$work/tmpsrc/gen"
dist "$work/tmpsrc" "$work/tmpsrc/dist.out" "$work/tmpsrc/dist.err" "$work/tmpsrc/prog"
check "a source whose folder is gone: the first call aborts" test $? -ne 0
check "... naming the file that is gone" \
	grep -q "one of them, $work/tmpsrc/gen/c.c, is gone" "$work/tmpsrc/dist.err"

# 4b. an untagged file never preprocesses twice at the build, also when its
# comments, strings and includes name the plugin (strace sees the child)
if command -v strace >/dev/null; then
	mkdir -p "$work/fork"
	cat >"$work/fork/mentions.c" <<-'EOF'
	/* not a service: turbolift links this file into other files' services */
	#include <stdio.h>
	#include <turbolift.h>
	void say(void) { puts("TURBOLIFT_LOG=debug shows turbolift's decisions"); turbolift_shutdown(); }
	EOF
	cp "$here/prog/main.c" "$here/prog/parts.h" "$work/fork/"
	forks() { # FILE: how many "cc1 -E" children compiling FILE started
		(cd "$work/fork" && TURBOLIFT_OUTDIR=$work/fork/out strace -f -s 4096 -e trace=execve \
			-o "$work/fork/trace" gcc -std=gnu11 -O2 -I"$src/include" $cflags -c "$1" -o "$work/fork/x.o") &&
			grep -c 'execve("[^"]*/cc1", \["[^"]*", "-E", "-D__TURBOLIFT__=1"' "$work/fork/trace"
	}
	check "an untagged file that names turbolift in comments, strings and includes: no second preprocessing" \
		test "$(forks mentions.c)" = 0
	check "a tagged file: the second preprocessing, started when the unit starts" \
		test "$(forks main.c)" = 1
else
	log "strace is not installed: the fork checks are skipped"
fi

# 5. a tag from a project's macro in a header
m=$work/macro
cp -r "$here/macro" "$m"
check "the macro fixture's main.c never says turbolift" bash -c "! grep -qi turbolift '$m/main.c'"
gcc -std=gnu11 -O2 "$m/main.c" "$m/helper.c" -o "$m/plain" && "$m/plain" >"$m/plain.out"
(cd "$m" && export TURBOLIFT_OUTDIR=$m/out &&
	gcc -std=gnu11 -O2 $cflags -c main.c && gcc -std=gnu11 -O2 $cflags -c helper.c &&
	gcc main.o helper.o $libs -o prog) >"$m/build.log" 2>&1
check "a tag spelled by a header's macro makes a service" bash -c "test -s $m/out/measure-*/service.yaml"
check "... and helper.c leaves a recipe" bash -c "grep -q '^cc1=' $m/out/units/helper-*/unit.txt"
same_as_plain macro "$m/plain.out"

# 6. a file compiled from stdin
s=$work/stdin
cp -r "$here/prog" "$s"
(cd "$s" && export TURBOLIFT_OUTDIR=$s/out &&
	for f in main a c ar1 ar2; do gcc -std=gnu11 -O2 -I"$src/include" $cflags -c $f.c -o $f.o || exit 1; done &&
	gcc -std=gnu11 -O2 -I"$src/include" $cflags -x c -c - -o b.o <b.c &&
	ar rcs libparts.a ar1.o ar2.o && gcc -o prog main.o a.o b.o c.o libparts.a $libs) >"$s.build" 2>&1
check "a file from stdin (gcc -x c -) builds, silently" test -x "$s/prog" -a ! -s "$s.build"
check "... its unit text made at the build, naming <stdin>" \
	bash -c "grep -q '^# [0-9]* \"<stdin>\"' $s/out/units/_stdin_-*/unit.i"
same_as_plain stdin "$work/plain.out"

# 7. two runs making the same units at once
check "build for two runs" build twice "$cflags" "$libs" -j2
p=$work/twice
dist "$p" "$p/one.out" "$p/one.err" "$p/prog" &
one=$!
dist "$p" "$p/two.out" "$p/two.err" "$p/prog"
two=$?
wait "$one"
check "two first calls at once: both exit 0" test $? -eq 0 -a "$two" -eq 0
check "... both print what the plain build prints" \
	bash -c "cmp -s '$work/plain.out' '$p/one.out' && cmp -s '$work/plain.out' '$p/two.out'"

# 8. ccache: objects of a build in another folder name that build's recipe
if command -v ccache >/dev/null; then
	export CCACHE_DIR=$work/ccache CCACHE_NOHASHDIR=1
	ccbuild() { # NAME: make with ccache into $work/NAME, the units in $work/ccout
		rm -rf "${work:?}/$1" && cp -r "$here/prog" "$work/$1" &&
			TURBOLIFT_OUTDIR=$work/ccout make -s -C "$work/$1" CC="ccache gcc" \
				CFLAGS="-std=gnu11 -O2 -I$src/include $cflags" LDLIBS="$libs" >"$work/$1.build" 2>&1
	}
	check "ccache: a first build" ccbuild cc1
	check "ccache: the same sources in another folder" ccbuild cc2
	check "... are cache hits (the objects name cc1's unit folders)" \
		test "$(readelf -p turbolift_units "$work/cc1/c.o")" = "$(readelf -p turbolift_units "$work/cc2/c.o")"
	ln -s ../ccout "$work/cc2/out"
	same_as_plain cc2 "$work/plain.out"
	for f in $untagged; do rm -f "$work/ccout/units/$f"-*/unit.[io]; done
	rm -rf "$work/cc1"
	check "ccache: a third folder, the first one removed" ccbuild cc3
	ln -s ../ccout "$work/cc3/out"
	dist "$work/cc3" "$work/cc3.gone.out" "$work/cc3.gone.err" "$work/cc3/prog"
	check "... the first call aborts: the recipe's files are gone" test $? -ne 0
	check "... saying so, with what to do about the compiler cache" \
		grep -q "one of them, $work/cc1/.*, is gone (.*CCACHE_RECACHE=1" \
		"$work/cc3.gone.err"
	CCACHE_RECACHE=1 ccbuild cc3 && ln -s ../ccout "$work/cc3/out"
	same_as_plain cc3 "$work/plain.out"
	unset CCACHE_DIR CCACHE_NOHASHDIR
else
	log "ccache is not installed: its part is skipped"
fi

finish
