#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The `k8s` suite, node loss: a function with 2 replicas on a two-node
# local cluster (TURBOLIFT_CLUSTER_NODES=2 deploy/cluster/up), one replica
# on each node, under a steady run of calls. Node 2 dies in the middle
# (SIGKILL to its kubelet, containerd, shims and every process of its
# pods). Checks: no call is lost or wrong (TURBOLIFT_ON_FAILURE=abort; the
# client's retries carry the calls that hit the dead pod), the node turns
# NotReady, the Deployment is whole again on node 1; then node 2 is brought
# back (deploy/cluster/up) and is Ready. Prints "figure:" lines: how long
# the slowest call took, when the node was marked NotReady, when the
# Deployment had all replicas ready again. Every wait is bounded.
#
#   node-loss.sh BUILD_ROOT SOURCE_ROOT
#
# Exit 77 (skipped) outside CI when this machine cannot run the cluster.
set -uo pipefail

build=${1:?usage: node-loss.sh BUILD_ROOT SOURCE_ROOT}
src=${2:?usage: node-loss.sh BUILD_ROOT SOURCE_ROOT}
CLUSTER=$src/deploy/cluster
. "$CLUSTER/lib.sh"
. "$CLUSTER/node2.sh"
export LC_ALL=C

. "$src/tests/lib.sh" node-loss	# pass, fail, log, finish, skip_or_fail, wait_for

reason=$(cluster_unavailable_reason)
[ -z "$reason" ] || skip_or_fail "$reason"
[ "$(cat "$STATE_DIR/mode" 2>/dev/null)" != k3d ] ||
    skip_or_fail "the second node is a native-cluster feature (this cluster runs on k3d)"

work=$(mktemp -d)
NS=turbolift-node-loss-test-$$
load_pid=
killed=0
restore_node2() {
    TURBOLIFT_CLUSTER_NODES=2 TURBOLIFT_CLUSTER_MODE=native "$CLUSTER/up" >"$work/up2.log" 2>&1
}
cleanup() {
    touch "$work/ctl/stop" 2>/dev/null
    if [ -n "$load_pid" ]; then kill "$load_pid" 2>/dev/null; wait "$load_pid" 2>/dev/null; fi
    [ $killed = 1 ] && restore_node2
    forget_namespace "$build/runtime/turbolift" "$NS"
    rm -rf "$work"
}
trap cleanup EXIT

# ---- a cluster with two Ready nodes ----
cluster_up "$CLUSTER" "$work/up.log" TURBOLIFT_CLUSTER_NODES=2 TURBOLIFT_CLUSTER_MODE=native
k() { kubectl --request-timeout=30s -n "$NS" "$@"; }
kc() { kubectl --request-timeout=30s "$@"; }
ready_nodes=$(kc get nodes --no-headers 2>/dev/null | awk '$2 == "Ready"' | wc -l)
if [ "$ready_nodes" -ge 2 ]; then pass "$ready_nodes Ready nodes"; else kc get nodes; fail "two Ready nodes"; finish; fi

# ---- the function: 2 replicas, generous retries ----
# retries/backoff: a call that reaches the dead pod is refused and retried
# on another connection, which kube-proxy sends to either pod until the
# dead one leaves the Service (node NotReady -> its pods not ready): 20
# attempts over up to ~20 s with backoff_ms 10 (doubling) ride that out.
k8s_program_env "$work" "$build" "$NS"
cat >"$TURBOLIFT_CONFIG" <<'EOF'
defaults:
  retries: 20
  backoff_ms: 10
  timeout_ms: 120000
  start_timeout_ms: 180000
functions:
  smallest_factor:
    min_replicas: 2
    max_replicas: 2
    resources: { cpu: 50m, memory: 32Mi, cpu_limit: 500m }
EOF
SEL="app.kubernetes.io/managed-by=turbolift,turbolift.dev/function=smallest_factor"
start_load "$src" "$work" 2

placement() { # "node1count node2count" of running, ready pods
    k get pods -l "$SEL" --field-selector=status.phase=Running \
        -o jsonpath='{range .items[*]}{.spec.nodeName} {.metadata.deletionTimestamp}{"\n"}{end}' 2>/dev/null |
        awk -v n1="$NODE_NAME" -v n2="$NODE2_NAME" '$2 == "" && $1 == n1 {a++} $2 == "" && $1 == n2 {b++} END {print a+0, b+0}'
}
both_ready() { [ "$(k get deployments -l "$SEL" -o jsonpath='{.items[0].status.readyReplicas}' 2>/dev/null)" = 2 ]; }
# The scheduler spreads replicas over nodes by default, but only as one
# score among others: if both landed on one node, move one (a graceful pod
# deletion, which loses no call: the k8s test checks that) at most 3 times.
spread=0
for try in 1 2 3 4; do
    wait_for 120 both_ready || break
    if [ "$(placement)" = "1 1" ]; then spread=1; break; fi
    [ $try = 4 ] && break
    crowded=$( [ "$(placement | cut -d' ' -f1)" = 2 ] && echo "$NODE_NAME" || echo "$NODE2_NAME")
    victim=$(k get pods -l "$SEL" --field-selector="spec.nodeName=$crowded" -o jsonpath='{.items[0].metadata.name}')
    log "both replicas on $crowded: deleting $victim so that it is placed again"
    k delete pod "$victim" --wait=true --timeout=60s >/dev/null
done
if [ $spread = 1 ]; then
    pass "one replica on each node: $(k get pods -l "$SEL" -o jsonpath='{range .items[*]}{.metadata.name}@{.spec.nodeName} {end}')"
else
    k get pods -o wide; fail "replicas not spread over the two nodes"; finish
fi
sleep 3    # calls reach both replicas before the node dies

# ---- node 2 dies ----
victim=$(k get pods -l "$SEL" --field-selector="spec.nodeName=$NODE2_NAME" -o jsonpath='{.items[0].metadata.name}')
t_kill=$(date +%s)
killed=1
if kill_node2; then
    pass "node 2 killed: kubelet, containerd, shims and the processes of its pods (pod $victim)"
else
    fail "processes left in node 2's cgroup after SIGKILL"
fi
node2_status() { kc get node "$NODE2_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null; }
not_ready() { [ "$(node2_status)" != True ]; }
recovered() {
    both_ready && [ "$(placement)" = "2 0" ]
}
t_notready= t_recovered= deadline=$(( t_kill + 180 ))
while [ "$(date +%s)" -lt "$deadline" ]; do
    if [ -z "$t_notready" ] && not_ready; then
        t_notready=$(date +%s); log "node 2 is $(node2_status) after $(( t_notready - t_kill )) s"
    fi
    if [ -n "$t_notready" ] && recovered; then t_recovered=$(date +%s); break; fi
    kill -0 "$load_pid" 2>/dev/null || break
    sleep 1
done
if [ -n "$t_recovered" ]; then
    pass "the Deployment recovered on node 1: 2/2 ready there $(( t_recovered - t_kill )) s after the kill"
else
    kc get nodes; k get pods -o wide; fail "no recovery on node 1 within 180 s"
fi
sleep 3    # calls on the recovered Deployment

# ---- every call answered, right ----
touch "$work/ctl/stop"
wait "$load_pid"; rc=$?; load_pid=
if [ $rc = 0 ] && grep -q 'wrong 0' "$work/load.out" && ! grep -q 'failed' "$work/load.err"; then
    pass "no call lost or wrong across the node loss: $(tail -1 "$work/load.out")"
else
    tail -20 "$work/load.err"; cat "$work/load.out"; fail "calls across the node loss (exit $rc)"
fi
slowest=$(sed -n 's/.* slowest \([0-9]*\)$/\1/p' "$work/load.out")
log "figure: node loss: slowest call ${slowest:-?} ms; node NotReady after $(( ${t_notready:-t_kill} - t_kill )) s; 2/2 ready on node 1 after $(( ${t_recovered:-t_kill} - t_kill )) s"

# ---- node 2 comes back ----
t0=$(date +%s)
if restore_node2 && [ "$(node2_status)" = True ]; then
    killed=0
    pass "node 2 back and Ready ($(( $(date +%s) - t0 )) s)"
else
    tail -20 "$work/up2.log"; fail "node 2 did not come back"
fi
finish
