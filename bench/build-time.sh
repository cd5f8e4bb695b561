#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What the plugin adds to a build (issue 8 item 7, issue 9 item 4): wall time
# of the same compiles, same flags, plain and with the plugin
# (pkg-config --cflags turbolift), alternated ROUNDS times; the best time of
# each compile is kept, because the machine is shared.
#
#   untagged  every .c of runtime/ compiled with -O2 -c, one after another:
#             a multi-file build whose files carry no tag (each leaves its
#             unit's recipe; docs/multifile.md, "Build time")
#   tagged    tests/e2e/fixtures/imaging.c (stb_image, ~14k preprocessed
#             lines) with -O2: a large tagged file, whose service text is
#             made and checked at the build
#   program   tests/e2e/multifile/prog with make -j2 (separate compilation,
#             an archive, the link)
#   lua       with LUA_SRC=DIR (lua-5.4.x/src, or Debian's lua5.4 source
#             tree's src/ that tests/libraries caches): Lua's 32 files,
#             make-style, one compile at a time
#
# usage: bench/build-time.sh BUILD_ROOT [ROUNDS]
# Prints "NAME plain S plugin S ratio R off R   cpu: plugin R off R" lines:
# off is the plugin with -fplugin-arg-turbolift-mode=off, its load into cc1
# alone; cpu: the same ratios of CPU time (user + system, children
# included), which a busy machine disturbs less than wall time. BASE_ROOT=DIR
# adds "base R": the plugin of another build tree (the plugin before a
# change) in the same rounds. CASES="untagged lua" runs only those cases.
# Nothing is asserted.
set -u
build=$1 rounds=${2:-3}
src=$(cd "$(dirname "$0")/.." && pwd)
export PKG_CONFIG_PATH=$build/meson-uninstalled
cflags=$(pkg-config --cflags turbolift) || { echo "pkg-config turbolift failed"; exit 1; }
base_cflags=
if [ -n "${BASE_ROOT:-}" ]; then
	base_cflags=$(PKG_CONFIG_PATH=$BASE_ROOT/meson-uninstalled pkg-config --cflags turbolift) ||
		{ echo "pkg-config turbolift of $BASE_ROOT failed"; exit 1; }
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TURBOLIFT_OUTDIR=$work/out

# time_of CMD...: "WALL CPU", the seconds CMD took and the CPU seconds it and
# its children used (its output discarded; a failure ends the bench)
time_of() {
	local TIMEFORMAT='%R %U %S' t
	t=$( { time "$@" >/dev/null 2>"$work/err"; } 2>&1 ) || { echo "failed: $*"; cat "$work/err"; exit 1; }
	set -- $t
	echo "$1 $(echo "$2 + $3" | bc -l)"
}
min() { printf '%s\n' "$@" | sort -g | head -1; }

runtime_files=$(cd "$src" && ls runtime/*/*.c)
# each folder with the include directories runtime/meson.build gives it
# (a service source that sees client headers refuses to compile)
incs() {
	local i="-I$src/runtime/common -I$src/runtime/wire -I$build/runtime -I$src/include"
	case $1 in
	runtime/service/*|runtime/common/*|runtime/wire/*) echo "$i -I$src/runtime/service" ;;
	*) echo "$i -I$src/runtime/service -I$src/runtime/client -I$src/runtime/k8s -I/usr/include/p11-kit-1" ;;
	esac
}
# Each case is a list of items (NAME_items) and one compile of an item with
# extra flags (NAME_one ITEM FLAGS).
untagged_items() { echo "$runtime_files"; }
untagged_one() {
	gcc -std=c11 -O2 $(incs "$1") $2 -c "$src/$1" -o "$work/u.o"
}
tagged_items() { echo imaging.c; }
tagged_one() {
	gcc -std=gnu11 -O2 -I"$src/include" $2 -c "$src/tests/e2e/fixtures/$1" -o "$work/t.o"
}
program_items() { echo prog; }
program_one() {
	local libs=""
	[ -n "$2" ] && libs=$(pkg-config --libs turbolift)
	rm -rf "$work/prog" && cp -r "$src/tests/e2e/multifile/prog" "$work/prog" &&
		make -s -j2 -C "$work/prog" CFLAGS="-std=gnu11 -O2 -I$src/include $2" LDLIBS="$libs"
}
lua_items() {
	local f
	for f in "$LUA_SRC"/*.c; do
		case $(basename "$f") in lua.c|luac.c) ;; *) echo "$f" ;; esac
	done
}
lua_one() {
	gcc -std=gnu99 -O2 -DLUA_COMPAT_5_3 -DLUA_USE_LINUX -I"$work" $2 -c "$1" -o "$work/l.o"
}
# Debian's source tree (tests/libraries fetches it) has luaconf.h include a
# header its packaging writes: the same one line here
printf '#define DEB_HOST_MULTIARCH "%s"\n' "$(gcc -print-multiarch)" >"$work/lua5.4-deb-multiarch.h"

cases=${CASES:-untagged tagged program}
[ -n "${LUA_SRC:-}" ] && [ -z "${CASES:-}" ] && cases="$cases lua"
configs="plain plugin off"
[ -n "$base_cflags" ] && configs="$configs base"
flags_of() {
	case $1 in
	plain) echo "" ;;
	plugin) echo "$cflags" ;;
	off) echo "$cflags -fplugin-arg-turbolift-mode=off" ;;
	base) echo "$base_cflags" ;;
	esac
}
# Every item is compiled ROUNDS times in each configuration, interleaved;
# a case's time is the sum over its items of each item's best: a shared
# machine's bursts then spoil single compiles, not the comparison.
for c in $cases; do
	declare -A wall=() cpu=()
	for k in $configs; do wall[$k]=0 cpu[$k]=0; done
	for item in $(${c}_items); do
		declare -A bw=() bc=()
		for ((i = 0; i < rounds; i++)); do
			for k in $configs; do
				rm -rf "$work/out"	# nothing cached: every compile does all the work
				set -- $(time_of ${c}_one "$item" "$(flags_of $k)")
				bw[$k]=$(min ${bw[$k]:-} $1) bc[$k]=$(min ${bc[$k]:-} $2)
			done
		done
		for k in $configs; do
			wall[$k]=$(echo "${wall[$k]} + ${bw[$k]}" | bc -l)
			cpu[$k]=$(echo "${cpu[$k]} + ${bc[$k]}" | bc -l)
		done
		unset bw bc
	done
	p=${wall[plain]} q=${wall[plugin]}
	printf '%-9s plain %6.2f s  plugin %6.2f s  ratio %.3f' "$c" "$p" "$q" "$(echo "$q / $p" | bc -l)"
	for k in $configs; do
		case $k in plain|plugin) continue ;; esac
		printf '  %s %.3f' "$k" "$(echo "${wall[$k]} / $p" | bc -l)"
	done
	printf '   cpu:'
	for k in $configs; do
		[ "$k" = plain ] && continue
		printf ' %s %.3f' "$k" "$(echo "${cpu[$k]} / ${cpu[plain]}" | bc -l)"
	done
	echo
	unset wall cpu
done
