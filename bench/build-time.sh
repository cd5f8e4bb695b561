#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What the plugin adds to a build (issue 8 item 7, issue 9 item 4): wall time
# of the same compiles, same flags, plain and with the plugin
# (pkg-config --cflags turbolift), alternated ROUNDS times; the best round of
# each is compared, because the machine is shared.
#
#   untagged  every .c of runtime/ compiled with -O2 -c, one after another:
#             a multi-file build whose files carry no tag (each still stores
#             its unit; docs/multifile.md)
#   tagged    tests/e2e/fixtures/imaging.c (stb_image, ~14k preprocessed
#             lines) with -O2: a large tagged file, whose service.o is
#             compiled at the build
#   program   tests/e2e/multifile/prog with make -j2 (separate compilation,
#             an archive, the link)
#   lua       with LUA_SRC=DIR (lua-5.4.x/src, or Debian's lua5.4 source
#             tree's src/ that tests/libraries caches): Lua's 32 files,
#             make-style, one compile at a time
#
# usage: bench/build-time.sh BUILD_ROOT [ROUNDS]
# Prints "NAME plain S plugin S ratio R" lines. Nothing is asserted.
set -u
build=$1 rounds=${2:-3}
src=$(cd "$(dirname "$0")/.." && pwd)
export PKG_CONFIG_PATH=$build/meson-uninstalled
cflags=$(pkg-config --cflags turbolift) || { echo "pkg-config turbolift failed"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TURBOLIFT_OUTDIR=$work/out

now() { date +%s.%N; }
# time_of CMD...: seconds CMD took (its output discarded; a failure ends the bench)
time_of() {
	local t0 t1
	t0=$(now)
	"$@" >/dev/null 2>"$work/err" || { echo "failed: $*"; cat "$work/err"; exit 1; }
	t1=$(now)
	echo "$t1 - $t0" | bc -l
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
untagged() { # EXTRA_FLAGS
	for f in $runtime_files; do
		gcc -std=c11 -O2 $(incs "$f") $1 -c "$src/$f" -o "$work/u.o" || return 1
	done
}
tagged() {
	gcc -std=gnu11 -O2 -I"$src/include" $1 -c "$src/tests/e2e/fixtures/imaging.c" -o "$work/t.o"
}
program() {
	local libs=""
	[ -n "$1" ] && libs=$(pkg-config --libs turbolift)
	rm -rf "$work/prog" && cp -r "$src/tests/e2e/multifile/prog" "$work/prog" &&
		make -s -j2 -C "$work/prog" CFLAGS="-std=gnu11 -O2 -I$src/include $1" LDLIBS="$libs"
}
lua() {
	# Debian's source tree (tests/libraries fetches it) has luaconf.h
	# include a header its packaging writes: the same one line here
	printf '#define DEB_HOST_MULTIARCH "%s"\n' "$(gcc -print-multiarch)" >"$work/lua5.4-deb-multiarch.h"
	for f in "$LUA_SRC"/*.c; do
		case $(basename "$f") in lua.c|luac.c) continue ;; esac
		gcc -std=gnu99 -O2 -DLUA_COMPAT_5_3 -DLUA_USE_LINUX -I"$work" $1 -c "$f" -o "$work/l.o" || return 1
	done
}

cases="untagged tagged program"
[ -n "${LUA_SRC:-}" ] && cases="$cases lua"
for c in $cases; do
	plain=() plugin=()
	for ((i = 0; i < rounds; i++)); do
		plain+=("$(time_of $c "")")
		rm -rf "$work/out"	# nothing cached: every round does all the work
		plugin+=("$(time_of $c "$cflags")")
	done
	p=$(min "${plain[@]}") q=$(min "${plugin[@]}")
	printf '%-9s plain %6.2f s  plugin %6.2f s  ratio %.3f\n' "$c" "$p" "$q" "$(echo "$q / $p" | bc -l)"
done
