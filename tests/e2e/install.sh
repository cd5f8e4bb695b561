#!/usr/bin/env bash
# After `meson install`, a user builds with the installed pkg-config file
# alone: the plugin, header, runtime and service library come from the
# prefix, and nothing of a build tree is needed (it is deleted first).
# usage: install.sh SOURCE_ROOT
set -u
src=$1
export LC_ALL=C
work=$(mktemp -d)
trap 'pkill -KILL -f -- "$work/" 2>/dev/null; rm -rf "$work"' EXIT
export XDG_CACHE_HOME=$work/cache TURBOLIFT_OUTDIR=$work/out TURBOLIFT_LOG=warn
unset TURBOLIFT_MODE TURBOLIFT_TARGET PKG_CONFIG_PATH
passed=0 failed=0
check() { local what=$1; shift; if "$@"; then echo "ok   $what"; passed=$((passed + 1)); else echo "FAIL $what"; failed=$((failed + 1)); fi; }

if meson setup "$work/build" "$src" --prefix="$work/prefix" >"$work/setup.log" 2>&1 &&
   meson compile -C "$work/build" >"$work/compile.log" 2>&1 &&
   meson install -C "$work/build" >"$work/install.log" 2>&1; then
	echo "ok   meson install into a fresh prefix"; passed=$((passed + 1))
else
	echo "FAIL meson install"; tail -20 "$work"/*.log
	echo "$passed passed, 1 failed"; exit 1
fi
rm -rf "$work/build"

pcdir=$(dirname "$(find "$work/prefix" -name turbolift.pc | head -n1)")
check "turbolift.pc installed" test -f "$pcdir/turbolift.pc"
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs turbolift)
check "its flags name the installed plugin" bash -c "echo '$flags' | grep -q -- '-fplugin=$work/prefix/.*turbolift.so'"
gcc -O2 -I"$src/include" "$src/examples/vectors.c" -lm -o "$work/plain" && "$work/plain" >"$work/plain.out"
check "an example builds with the installed flags" \
	gcc -O2 "$src/examples/vectors.c" $flags -lm -o "$work/installed"
"$work/installed" >"$work/installed.out" 2>"$work/installed.err"
check "and prints what the plain build prints" cmp -s "$work/plain.out" "$work/installed.out"
check "with every call answered" bash -c "! grep -q failed '$work/installed.err'"
check "by services linked from the installed libturbolift-service.a" \
	bash -c "ls '$work'/cache/turbolift/bin/*/service >/dev/null"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
