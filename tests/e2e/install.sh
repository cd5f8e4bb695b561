#!/usr/bin/env bash
# After `meson install`, a user builds with the installed pkg-config file
# alone: the plugin, header, runtime and service library come from the
# prefix, and nothing of a build tree is needed (it is deleted first).
# Each program has its own plugin output and service cache, runs with the
# abort policy under tests/support/reaper, and must show that a worker of
# its own answered every tagged function (tests/lib.sh: dist, remote_proven).
# usage: install.sh SOURCE_ROOT REAPER
set -u
src=$1 reaper=$2
. "$src/tests/lib.sh" installed
make_work
on_exit() { pkill -KILL -f -- "$work/" 2>/dev/null; }
export TURBOLIFT_LOG=warn
unset TURBOLIFT_MODE TURBOLIFT_TARGET PKG_CONFIG_PATH TURBOLIFT_ON_FAILURE XDG_CACHE_HOME TURBOLIFT_OUTDIR

if meson setup "$work/build" "$src" --prefix="$work/prefix" >"$work/setup.log" 2>&1 &&
   meson compile -C "$work/build" >"$work/compile.log" 2>&1 &&
   meson install -C "$work/build" >"$work/install.log" 2>&1; then
    pass "meson install into a fresh prefix"
else
    fail "meson install"; tail -n 20 "$work"/*.log
    finish
fi
rm -rf "$work/build"

pcdir=$(dirname "$(find "$work/prefix" -name turbolift.pc | head -n1)")
check "turbolift.pc installed" test -f "$pcdir/turbolift.pc"
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs turbolift)
check "its flags name the installed plugin" bash -c "echo '$flags' | grep -q -- '-fplugin=$work/prefix/.*turbolift.so'"

# name | sources | extra flags (realworld tags one function "k8s": local here)
export TURBOLIFT_TARGET=local
programs=(
    "vectors|$src/examples/vectors.c|-lm"
    "realworld|$src/tests/e2e/fixtures/realworld.c $src/tests/e2e/fixtures/other_tu.c|"
)
for entry in "${programs[@]}"; do
    IFS='|' read -r name sources extra <<<"$entry"
    p=$work/$name
    mkdir -p "$p"
    gcc -O2 -I"$src/include" $sources $extra -o "$p/plain" && "$p/plain" >"$p/plain.out" 2>"$p/plain.err"
    if ! TURBOLIFT_OUTDIR=$p/out gcc -O2 $sources $flags $extra -o "$p/installed" 2>"$p/build.err"; then
        fail "$name builds with the installed flags"; cat "$p/build.err"; continue
    fi
    pass "$name builds with the installed flags"
    dist "$p" "$p/installed.out" "$p/installed.err" "$p/installed"
    status=$?
    check "$name prints what the plain build prints" cmp -s "$p/plain.out" "$p/installed.out"
    if why=$(remote_proven "$p" "$p/installed.err"); then
        pass "$name: every tagged function answered by a worker of this run, linked from the installed libturbolift-service.a"
    else
        fail "$name: not proven remote: $why"
    fi
    check "$name stopped and reaped its workers before it exited (status $status)" test "$status" -eq 0
done
check "realworld: the body ran in a worker, not in the program" \
    grep -q 'answered by another process' "$work/realworld/installed.err"

finish
