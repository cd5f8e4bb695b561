#!/usr/bin/env bash
# End to end on the local target: each program is built three ways as a user
# would (plain gcc; the plugin through pkg-config with mode=off; distributed)
# and must print the same. Distributed runs must really be answered by
# worker processes, and no worker may outlive its program, even when the
# program is killed with SIGKILL.
# usage: e2e.sh BUILD_ROOT SOURCE_ROOT
set -u
build=$1 src=$2
export LC_ALL=C
work=$(mktemp -d)
trap 'pkill -KILL -f -- "$work/" 2>/dev/null; rm -rf "$work"' EXIT
export XDG_CACHE_HOME=$work/cache TURBOLIFT_OUTDIR=$work/out
export PKG_CONFIG_PATH=$build/meson-uninstalled
export TURBOLIFT_TARGET=local TURBOLIFT_LOG=warn
unset TURBOLIFT_MODE
passed=0 failed=0
pass() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
workers() { pgrep -f -- "$work/cache/turbolift/bin/" | wc -l; }
# wait (bounded) until the command succeeds
wait_for() { local tries=$1; shift; while ! "$@"; do tries=$((tries - 1)); [ "$tries" -gt 0 ] || return 1; sleep 0.1; done; }
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
	# 1. three builds of the same source
	if ! gcc -std=gnu11 -O2 -I"$src/include" $sources $extra -o "$work/$name-plain" 2>"$work/$name.build" ||
	   ! gcc -std=gnu11 -O2 $cflags -fplugin-arg-turbolift-mode=off $sources $extra -o "$work/$name-off" 2>>"$work/$name.build" ||
	   ! gcc -std=gnu11 -O2 $cflags $sources $extra -o "$work/$name-dist" 2>>"$work/$name.build"; then
		fail "$name builds plain, mode=off and distributed"; cat "$work/$name.build"; continue
	fi
	pass "$name builds plain, mode=off and distributed"

	# 2. same output everywhere
	"$work/$name-plain" $args >"$work/$name.plain" 2>"$work/$name.plain.err"
	"$work/$name-off" $args >"$work/$name.off" 2>"$work/$name.off.err"
	"$work/$name-dist" $args >"$work/$name.dist" 2>"$work/$name.dist.err"
	dist_status=$?
	TURBOLIFT_MODE=inprocess "$work/$name-dist" $args >"$work/$name.inproc" 2>"$work/$name.inproc.err"
	if [ "$dist_status" -eq 0 ] && [ -s "$work/$name.plain" ] &&
	   cmp -s "$work/$name.plain" "$work/$name.off" &&
	   cmp -s "$work/$name.plain" "$work/$name.dist" &&
	   cmp -s "$work/$name.plain" "$work/$name.inproc"; then
		pass "$name: plain, mode=off, distributed and inprocess print the same"
	else
		fail "$name: outputs differ (distributed exit $dist_status)"
		diff "$work/$name.plain" "$work/$name.dist" | head -20; cat "$work/$name.dist.err"
	fi
	if grep -q 'failed' "$work/$name.dist.err"; then
		fail "$name: a remote call failed"; cat "$work/$name.dist.err"
	else
		pass "$name: every remote call answered"
	fi
	if ls "$work"/cache/turbolift/bin/*/service >/dev/null 2>&1; then
		pass "$name: service binaries built in the cache"
	else
		fail "$name: no service binary in $work/cache/turbolift/bin"
	fi
	if wait_for 50 no_workers; then pass "$name: no worker left after exit"
	else fail "$name: $(workers) worker(s) left after exit"; fi
done

# 3. the ways people build: debug info, strict ISO C, -save-temps, LTO
for variant in "-g -O0" "-std=c11 -O2" "-save-temps -O1" "-flto -O2"; do
	rm -rf "$work/variant" && mkdir "$work/variant"
	if (cd "$work/variant" && gcc $variant $cflags "$fixtures/realworld.c" "$fixtures/other_tu.c" -o realworld 2>build.err) &&
	   "$work/variant/realworld" >"$work/variant/out" 2>"$work/variant/err" &&
	   cmp -s "$work/variant/out" "$work/realworld.plain" &&
	   grep -q 'answered by another process' "$work/variant/err"; then
		pass "realworld built with $variant: same output, served by workers"
	else
		fail "realworld built with $variant"; cat "$work/variant/build.err" "$work/variant/err" 2>/dev/null | head -20
	fi
done

# 4. calls really leave the process (and do not when run in-process)
if grep -q 'answered by another process' "$work/realworld.dist.err" &&
   grep -q 'answered by this process' "$work/realworld.inproc.err" &&
   grep -q 'answered by this process' "$work/realworld.plain.err"; then
	pass "realworld: a worker answered the distributed call, the program itself the others"
else
	fail "realworld: who answered is wrong"; cat "$work"/realworld.*.err
fi

# 5. a second run reuses the built services (no relink)
before=$(stat -c %Y "$work"/cache/turbolift/bin/*/service | sort | md5sum)
"$work/realworld-dist" >/dev/null 2>&1
after=$(stat -c %Y "$work"/cache/turbolift/bin/*/service | sort | md5sum)
if [ "$before" = "$after" ]; then pass "second run reuses cached service binaries"
else fail "second run rebuilt service binaries"; fi

# 6. workers never outlive a killed parent
"$work/realworld-dist" wait >"$work/wait.out" 2>"$work/wait.err" &
parent=$!
if wait_for 300 grep -q '^ready 1' "$work/wait.out" && [ "$(workers)" -gt 0 ]; then
	pass "waiting program is served by $(workers) worker(s)"
	kill -KILL "$parent"
	wait "$parent" 2>/dev/null
	if wait_for 100 no_workers; then pass "workers exit after their parent is SIGKILLed"
	else fail "$(workers) worker(s) outlived a SIGKILLed parent"; fi
else
	fail "waiting program never became ready"; cat "$work/wait.out" "$work/wait.err"
	kill -KILL "$parent" 2>/dev/null
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
