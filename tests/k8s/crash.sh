#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The `k8s` suite: a function whose pod crashes on one call (a NULL read:
# SIGSEGV) on the local cluster. The calls before it are answered; the
# crash is reported as the pod's end ("killed by signal 11 (Segmentation
# fault)", with where its output is), not only as a broken connection; the
# abort policy ends the program; and the pod answers again afterwards.
#
#   crash.sh BUILD_ROOT SOURCE_ROOT
#
# Exit 77 (skipped) outside CI when this machine cannot run the cluster.
set -uo pipefail

build=${1:?usage: crash.sh BUILD_ROOT SOURCE_ROOT}
src=${2:?usage: crash.sh BUILD_ROOT SOURCE_ROOT}
CLUSTER=$src/deploy/cluster
. "$CLUSTER/lib.sh"
export LC_ALL=C

. "$src/tests/lib.sh" k8s-crash

reason=$(cluster_unavailable_reason)
[ -z "$reason" ] || skip_or_fail "$reason"

work=$(mktemp -d)
NS=turbolift-crash-test-$$
cleanup() {
    forget_namespace "$build/runtime/turbolift" "$NS"
    rm -rf "$work"
}
trap cleanup EXIT

cluster_up "$CLUSTER" "$work/up.log"
k8s_program_env "$work" "$build" "$NS"
cat >"$TURBOLIFT_CONFIG" <<'YAML'
defaults:
  retries: 3
  backoff_ms: 1500
  timeout_ms: 60000
  start_timeout_ms: 180000
YAML
if gcc -std=gnu11 -O1 $(pkg-config --cflags --libs turbolift) "$src/tests/k8s/fixtures/k8s_crash.c" \
        -o "$work/crash" 2>"$work/build.err"; then
    pass "fixture builds with the plugin"
else
    cat "$work/build.err"; fail "fixture build"; finish
fi

"$work/crash" >"$work/run.out" 2>"$work/run.err"
status=$?
check "the program aborts at the crashing call (abort policy)" test "$status" -eq 134
check "the calls before it were answered on the cluster" \
    bash -c "grep -qx 'risky(2) = 4' '$work/run.out' && ! grep -q 'risky(3)' '$work/run.out'"
if grep -Eq "risky: pod [a-z0-9-]+ ended while calls were under way: killed by signal 11 \(Segmentation fault\)" "$work/run.err"; then
    pass "the pod's end is reported with its signal"
else
    fail "the pod's end is not reported with its signal"; grep turbolift "$work/run.err" | tail -8
fi
check "... and where to read what it printed (kubectl logs --previous)" \
    grep -q -- "kubectl logs -n $NS .* --previous" "$work/run.err"
check "the final error names the function and the abort" \
    grep -q "error: call of risky (.*k8s_crash.c:8) failed: .*aborting (on_failure: abort)" "$work/run.err"

# Kubernetes starts the crashed pod again
restarts() {
    kubectl -n "$NS" get pods -o jsonpath='{range .items[*]}{.status.containerStatuses[0].restartCount}{"\n"}{end}' \
        2>/dev/null | awk '$1 >= 1 {found=1} END {exit !found}'
}
check "Kubernetes restarted the crashed pod" wait_for 60 restarts
finish
