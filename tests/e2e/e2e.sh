#!/usr/bin/env bash
# End to end on the local target: each program is built three ways as a user
# would (plain gcc; the plugin through pkg-config with mode=off; distributed)
# and must print the same.
#
# Each program has a folder of its own (plugin output, service cache), so
# it is judged by its own services only. Distributed runs use
# TURBOLIFT_ON_FAILURE=abort and TURBOLIFT_LOG=debug, and must show that
# every tagged function was answered by a worker this very run started: the
# client logs "F: worker PID listening on ..." and the service
# "F: answered 200 in pid PID". They run under tests/support/reaper, which
# fails when any process the program started outlives it: the runtime's own
# stop at exit is what is tested, not the workers' parent-death watch
# (that one is tested on its own with SIGKILL at the end).
# usage: e2e.sh BUILD_ROOT SOURCE_ROOT
set -u
build=$1 src=$2
. "$src/tests/lib.sh" e2e
make_work
on_exit() { pkill -KILL -f -- "$work/" 2>/dev/null; }
export PKG_CONFIG_PATH=$build/meson-uninstalled
export TURBOLIFT_TARGET=local TURBOLIFT_LOG=warn
unset TURBOLIFT_MODE TURBOLIFT_ON_FAILURE XDG_CACHE_HOME TURBOLIFT_OUTDIR
reaper=$build/tests/support/reaper	# used by dist (tests/lib.sh)
workers() { pgrep -f -- "$work/.*/cache/turbolift/bin/" | wc -l; }
no_workers() { [ "$(workers)" -eq 0 ]; }

cflags=$(pkg-config --cflags --libs turbolift) || { echo "pkg-config turbolift failed"; exit 1; }
fixtures=$src/tests/e2e/fixtures

# name | sources | extra flags | arguments
programs=(
    "pricing|$src/examples/pricing.c|-fopenmp -lm|20000"
    "vectors|$src/examples/vectors.c|-lm|"
    "realworld|$fixtures/realworld.c $fixtures/other_tu.c||"
    "imaging|$fixtures/imaging.c|-lm|"
)

for entry in "${programs[@]}"; do
    IFS='|' read -r name sources extra args <<<"$entry"
    p=$work/$name
    mkdir -p "$p"
    # 1. three builds of the same source
    if ! gcc -std=gnu11 -O2 -I"$src/include" $sources $extra -o "$p/plain" 2>"$p/build.err" ||
       ! TURBOLIFT_OUTDIR=$p/out-off gcc -std=gnu11 -O2 $cflags -fplugin-arg-turbolift-mode=off $sources $extra -o "$p/off" 2>>"$p/build.err" ||
       ! TURBOLIFT_OUTDIR=$p/out gcc -std=gnu11 -O2 $cflags $sources $extra -o "$p/dist" 2>>"$p/build.err"; then
        fail "$name builds plain, mode=off and distributed"; cat "$p/build.err"; continue
    fi
    pass "$name builds plain, mode=off and distributed"

    # 2. same output everywhere
    "$p/plain" $args >"$p/plain.out" 2>"$p/plain.err"
    "$p/off" $args >"$p/off.out" 2>"$p/off.err"
    dist "$p" "$p/dist.out" "$p/dist.err" "$p/dist" $args
    dist_status=$?
    TURBOLIFT_MODE=inprocess XDG_CACHE_HOME=$p/cache "$p/dist" $args >"$p/inproc.out" 2>"$p/inproc.err"
    if [ "$dist_status" -eq 0 ] && [ -s "$p/plain.out" ] &&
       cmp -s "$p/plain.out" "$p/off.out" &&
       cmp -s "$p/plain.out" "$p/dist.out" &&
       cmp -s "$p/plain.out" "$p/inproc.out"; then
        pass "$name: plain, mode=off, distributed and inprocess print the same"
    else
        fail "$name: outputs differ (distributed exit $dist_status)"
        diff "$p/plain.out" "$p/dist.out" | head -20; grep -v '^turbolift: debug' "$p/dist.err" | head -20
    fi
    if why=$(remote_proven "$p" "$p/dist.err"); then
        pass "$name: every tagged function answered by a worker of this run (abort policy)"
    else
        fail "$name: not proven remote: $why"
    fi
    if [ "$dist_status" -ne 125 ] && no_workers; then
        pass "$name: the program stopped and reaped its workers before it exited"
    else
        fail "$name: worker(s) outlived the program (status $dist_status)"; grep '^reaper:' "$p/dist.err"
    fi
    if [ -d "$p/out-off" ] && [ -n "$(ls -A "$p/out-off")" ]; then
        fail "$name: mode=off wrote plugin output"
    fi
done

# 3. the ways people build: debug info, strict ISO C, -save-temps, LTO
r=$work/realworld
for variant in "-g -O0" "-std=c11 -O2" "-save-temps -O1" "-flto -O2"; do
    v=$work/variant-${variant//[^a-z0-9]/}
    mkdir -p "$v"
    if (cd "$v" && TURBOLIFT_OUTDIR=$v/out gcc $variant $cflags "$fixtures/realworld.c" "$fixtures/other_tu.c" -o realworld 2>build.err) &&
       dist "$v" "$v/out.txt" "$v/err" "$v/realworld" &&
       cmp -s "$v/out.txt" "$r/plain.out" &&
       grep -q 'answered by another process' "$v/err" &&
       why=$(remote_proven "$v" "$v/err"); then
        pass "realworld built with $variant: same output, every function served by its workers"
    else
        fail "realworld built with $variant ${why:-}"; cat "$v/build.err" 2>/dev/null | head -10; grep -v '^turbolift: debug' "$v/err" | head -10
    fi
    why=
done

# 4. the body's own pid: a worker ran it (and the program itself did not)
if grep -q 'answered by another process' "$r/dist.err" &&
   grep -q 'answered by this process' "$r/inproc.err" &&
   grep -q 'answered by this process' "$r/plain.err"; then
    pass "realworld: a worker answered the distributed call, the program itself the others"
else
    fail "realworld: who answered is wrong"; grep -h 'answered by' "$r"/*.err
fi

# 5. a second run reuses the built services (no relink)
before=$(stat -c %Y "$r"/cache/turbolift/bin/*/service | sort | md5sum)
dist "$r" /dev/null "$r/again.err" "$r/dist"
after=$(stat -c %Y "$r"/cache/turbolift/bin/*/service | sort | md5sum)
check "second run reuses cached service binaries" test "$before" = "$after"

# 6. workers never outlive a killed parent (the parent-death watch)
XDG_CACHE_HOME=$r/cache TURBOLIFT_ON_FAILURE=abort "$r/dist" wait >"$work/wait.out" 2>"$work/wait.err" &
parent=$!
if wait_for 30 grep -q '^ready 1' "$work/wait.out" && [ "$(workers)" -gt 0 ]; then
    pass "waiting program is served by $(workers) worker(s)"
    kill -KILL "$parent"
    wait "$parent" 2>/dev/null
    if wait_for 10 no_workers; then pass "workers exit after their parent is SIGKILLed"
    else fail "$(workers) worker(s) outlived a SIGKILLed parent"; fi
else
    fail "waiting program never became ready"; cat "$work/wait.out" "$work/wait.err"
    kill -KILL "$parent" 2>/dev/null
fi

finish
