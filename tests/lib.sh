# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# tests/lib.sh - the one shell library of the script suites (plugin, e2e,
# cluster, k8s): ok/FAIL bookkeeping that ends in "SUITE: N passed, N
# failed", the skip rule, a scratch folder, and the one bounded wait.
#
# usage (sourced, after `set -u` or `set -uo pipefail`):
#   . "$src/tests/lib.sh" SUITE
#
#   pass WHAT / fail WHAT        count and print "ok   WHAT" / "FAIL WHAT"
#   check WHAT COMMAND...        pass or fail on COMMAND's status
#   log TEXT                     "[SUITE] TEXT"
#   finish                       print the closing line and exit: 0 when
#                                nothing failed and something passed
#   skip_or_fail REASON          exit 77 (meson: skipped), or fail in CI
#                                (CI=true): a machine that cannot run a
#                                suite is an error there
#   make_work                    $work := a new scratch folder, removed at
#                                exit after the optional on_exit function ran
#   wait_for SECONDS COMMAND...  run COMMAND every 0.1 s until it succeeds;
#                                1 when it still fails after about SECONDS
#                                (a bound for a failure, never a timing check)
#   dist, remote_proven          a distributed run, and its proof (below)
export LC_ALL=C      # GCC quotes with ' and tools sort bytes in the C locale
tl_suite=${1:-test}
passed=0 failed=0

log() { printf '[%s] %s\n' "$tl_suite" "$*"; }
pass() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
check() {
    local what=$1; shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
finish() {
    echo "$tl_suite: $passed passed, $failed failed"
    [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ] && exit 0
    exit 1
}
skip_or_fail() {
    if [ "${CI:-}" = true ]; then
        log "cannot run in CI: $1"
        fail "preconditions"
        finish
    fi
    log "SKIP: $1"
    exit 77
}
tl_lib_cleanup() {
    if declare -F on_exit >/dev/null; then on_exit; fi
    [ -n "${work:-}" ] && rm -rf "$work"
}
make_work() {
    work=$(mktemp -d)
    trap tl_lib_cleanup EXIT
}
wait_for() {
    # A deadline, not a count of tries: one try of a kubectl command can
    # itself take a second on a loaded machine.
    local deadline=$((SECONDS + $1)); shift
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

# Distributed runs (tests/e2e): a program's folder DIR holds its plugin
# output (DIR/out) and its service cache (DIR/cache).
# dist DIR OUT ERR PROGRAM ARGS...: run PROGRAM distributed, under
# $reaper (tests/support/reaper: status 125 when a process it started
# outlived it), with the abort policy and the debug log; PROGRAM's status.
dist() {
    local dir=$1 out=$2 err=$3; shift 3
    XDG_CACHE_HOME=$dir/cache TURBOLIFT_OUTDIR=$dir/out TURBOLIFT_ON_FAILURE=abort \
        TURBOLIFT_LOG=debug "$reaper" "$@" >"$out" 2>"$err"
}

# without_write_warnings < ERR: ERR without the warning a service's link
# gives for the writes of other files' code ("F: the service writes
# variables of other files", then its indented lines; docs/remote.md,
# "Globals the function writes"): a diagnostic like a compiler's, not a failed call. Tests that
# expect it check its text themselves.
without_write_warnings() {
    awk '/^turbolift: warning: [A-Za-z_0-9]+: the service writes variables of other files/ { skip = 1; next }
         skip && /^  / { next }
         { skip = 0; print }'
}

# remote_proven DIR ERR: every tagged function with a manifest in DIR/out
# was answered (200) by a worker that this run started, whose service was
# linked into DIR/cache; no call failed (a write warning of the link,
# without_write_warnings, is not a failure). Prints what is wrong.
remote_proven() {
    local dir=$1 err=$2 fn pid pids answered fns
    pids=$(sed -n 's/^turbolift: debug: [A-Za-z_0-9]*: worker \([0-9]*\) listening on .*/\1/p' "$err" | sort -u)
    [ -n "$pids" ] || { echo "no worker started"; return 1; }
    fns=$(sed -n 's/^function: *"\{0,1\}\([A-Za-z_0-9]*\)"\{0,1\} *$/\1/p' "$dir"/out/*/service.yaml | sort -u)
    [ -n "$fns" ] || { echo "no manifest in $dir/out"; return 1; }
    for fn in $fns; do
        answered=$(sed -n "s/^turbolift: debug: $fn: answered 200 in pid \([0-9]*\)\$/\1/p" "$err" | sort -u)
        [ -n "$answered" ] || { echo "$fn: no call answered by a worker"; return 1; }
        for pid in $answered; do
            grep -qx "$pid" <<<"$pids" || { echo "$fn: answered by pid $pid, not a worker of this run"; return 1; }
        done
        ls "$dir"/cache/turbolift/bin/"$fn"-*/service >/dev/null 2>&1 ||
            { echo "$fn: no service binary in $dir/cache"; return 1; }
    done
    if without_write_warnings <"$err" | grep -E '^turbolift: (error|warning): |answered [45][0-9][0-9]: '; then
        echo "a call failed or was refused"; return 1
    fi
}

# The k8s suite's scripts (tests/k8s): the cluster and a namespace per run.
# cluster_up CLUSTER_DIR LOG [VAR=VALUE...]: deploy/cluster/up (started or
# reused) with the given environment, timed, as a check; the script ends
# (finish) when it fails, since nothing after it can run. Then the
# cluster's environment (KUBECONFIG, PATH, TURBOLIFT_REGISTRY...) is ours.
cluster_up() {
    local dir=$1 upl=$2 t0=$SECONDS what="deploy/cluster/up"; shift 2
    [ $# -gt 0 ] && what="$* deploy/cluster/up"
    if env "$@" "$dir/up" >"$upl" 2>&1; then
        pass "$what ($((SECONDS - t0)) s)"
    else
        tail -30 "$upl"; fail "$what"; finish
    fi
    . "$STATE_DIR/cluster.env"
}

# forget_namespace TURBOLIFT NS: what a test deployed in NS is deleted
# (`turbolift down`, then the namespace, not waited for); quiet, for EXIT traps.
forget_namespace() {
    command -v kubectl >/dev/null 2>&1 && [ -n "${KUBECONFIG:-}" ] || return 0
    "$1" down -n "$2" >/dev/null 2>&1
    kubectl --request-timeout=30s delete namespace "$2" --ignore-not-found --wait=false >/dev/null 2>&1
}

# k8s_program_env WORK BUILD NS: a test program's environment for the k8s
# target: its own cache and outdir in WORK, the uninstalled pkg-config, the
# test's namespace, the abort policy (a fallback must never pass) and
# WORK/turbolift.yaml as its configuration, which the caller writes.
k8s_program_env() {
    export XDG_CACHE_HOME=$1/cache TURBOLIFT_OUTDIR=$1/out
    export PKG_CONFIG_PATH=$2/meson-uninstalled
    export TURBOLIFT_NAMESPACE=$3 TURBOLIFT_ON_FAILURE=abort TURBOLIFT_LOG=info
    export TURBOLIFT_CONFIG=$1/turbolift.yaml
    unset TURBOLIFT_MODE TURBOLIFT_TARGET TURBOLIFT_KEEP TURBOLIFT_ENDPOINT TURBOLIFT_TOKEN
}

# start_load SOURCE_ROOT WORK THREADS: build tests/k8s/fixtures/hpa_load.c
# with the plugin and start THREADS threads of calls in the background
# (load_pid; stopped by touching WORK/ctl/stop), once its first call is
# answered. Ends the script (finish) when either fails.
start_load() {
    local cflags
    cflags=$(pkg-config --cflags --libs turbolift) || { fail "pkg-config turbolift"; finish; }
    if gcc -std=gnu11 -O2 $cflags -pthread "$1/tests/k8s/fixtures/hpa_load.c" \
            -o "$2/load" 2>"$2/build.err"; then
        pass "fixture builds with the plugin"
    else
        cat "$2/build.err"; fail "fixture build"; finish
    fi
    mkdir -p "$2/ctl"
    "$2/load" load "$2/ctl" "$3" >"$2/load.out" 2>"$2/load.err" &
    load_pid=$!
    if ! wait_for 200 grep -q running "$2/load.out"; then
        tail -20 "$2/load.err"; fail "the load did not start (first call)"; finish
    fi
}
