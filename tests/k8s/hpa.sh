#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The `k8s` suite, autoscaling: sustained load at a function with
# min_replicas: 1, max_replicas: 4 on the local cluster (deploy/cluster/up,
# which runs metrics-server). Checks that the HPA gets CPU metrics and adds
# replicas, that the new replicas answer calls (per-pod counts from each
# pod's /metrics), that the HPA scales back down when the load drops, and
# that no call failed or was wrong throughout (TURBOLIFT_ON_FAILURE=abort).
# Prints "figure:" lines (time from load to the HPA's decision and to the
# new replicas being ready; scale-down time). Every wait is bounded.
#
#   hpa.sh BUILD_ROOT SOURCE_ROOT
#
# Exit 77 (skipped) outside CI when this machine cannot run the cluster.
set -uo pipefail

build=${1:?usage: hpa.sh BUILD_ROOT SOURCE_ROOT}
src=${2:?usage: hpa.sh BUILD_ROOT SOURCE_ROOT}
CLUSTER=$src/deploy/cluster
. "$CLUSTER/lib.sh"
export LC_ALL=C

. "$src/tests/lib.sh" hpa	# pass, fail, log, finish, skip_or_fail, wait_for

reason=$(cluster_unavailable_reason)
[ -z "$reason" ] || skip_or_fail "$reason"

work=$(mktemp -d)
NS=turbolift-hpa-test-$$
load_pid=
cleanup() {
    touch "$work/stop" 2>/dev/null
    if [ -n "$load_pid" ]; then kill "$load_pid" 2>/dev/null; wait "$load_pid" 2>/dev/null; fi
    forget_namespace "$build/runtime/turbolift" "$NS"
    rm -rf "$work"
}
trap cleanup EXIT

# ---- cluster up (or reused), metrics API answering ----
cluster_up "$CLUSTER" "$work/up.log"
k() { kubectl --request-timeout=30s -n "$NS" "$@"; }
node_metrics() { kubectl get --raw /apis/metrics.k8s.io/v1beta1/nodes 2>/dev/null | grep -q '"usage"'; }
if wait_for 60 node_metrics; then
    pass "metrics API answers (kubectl top nodes: $(kubectl top nodes --no-headers 2>/dev/null | awk '{printf "%s %s %s; ", $1, $2, $4}'))"
else
    kubectl get apiservice v1beta1.metrics.k8s.io -o wide 2>&1 | tail -2
    tail -15 "$LOG_DIR/metrics-server.log"
    fail "metrics API (metrics-server) did not answer in 60 s"; finish
fi

# ---- the fixture, with the plugin ----
k8s_program_env "$work" "$build" "$NS"
# cpu 100m: the HPA aims at 70 % of it per pod, so the heavy load asks for
# all four replicas and the light one (a call every 0.5 s) for one.
cat >"$TURBOLIFT_CONFIG" <<'EOF'
defaults:
  retries: 8
  backoff_ms: 100
  timeout_ms: 60000
  start_timeout_ms: 180000
functions:
  smallest_factor:
    min_replicas: 1
    max_replicas: 4
    resources: { cpu: 100m, memory: 32Mi, cpu_limit: 500m }
EOF
SEL="app.kubernetes.io/managed-by=turbolift,turbolift.dev/function=smallest_factor"

# ---- sustained load: 4 threads ----
start_load "$src" "$work" 4
t_load=$(date +%s)
pass "load running on 1 replica"

hpa_desired() { k get hpa -l "$SEL" -o jsonpath='{.items[0].status.desiredReplicas}' 2>/dev/null; }
ready() { k get deployments -l "$SEL" -o jsonpath='{.items[0].status.readyReplicas}' 2>/dev/null; }
spec_replicas() { k get deployments -l "$SEL" -o jsonpath='{.items[0].spec.replicas}' 2>/dev/null; }
hpa_line() {
    k get hpa -l "$SEL" -o jsonpath='{"cpu "}{.items[0].status.currentMetrics[0].resource.current.averageUtilization}{"% of the request (target 70%), replicas "}{.items[0].status.currentReplicas}{" -> "}{.items[0].status.desiredReplicas}' 2>/dev/null
}

# Poll once a second, at most 240 s: the HPA's first decision above 1, then
# every replica it asked for ready.
t_decide= t_ready= max_ready=0 deadline=$(( t_load + 240 ))
while [ "$(date +%s)" -lt "$deadline" ]; do
    d=$(hpa_desired); r=$(ready)
    [ -n "$d" ] && [ "$d" -gt 1 ] && [ -z "$t_decide" ] && { t_decide=$(date +%s); log "HPA asks for $d replicas ($(hpa_line))"; }
    [ -n "$r" ] && [ "$r" -gt "$max_ready" ] && max_ready=$r
    if [ -n "$t_decide" ] && [ -n "$r" ] && [ "$r" -ge "$(spec_replicas)" ] && [ "$r" -gt 1 ]; then
        t_ready=$(date +%s); break
    fi
    kill -0 "$load_pid" 2>/dev/null || break
    sleep 1
done
if [ -n "$t_ready" ]; then
    pass "HPA scaled up 1 -> $max_ready ready replicas ($(hpa_line))"
    log "figure: scale-up: HPA decided $(( t_decide - t_load )) s after the load started, $max_ready replicas ready after $(( t_ready - t_load )) s"
else
    k get hpa,deployments,pods -o wide; k describe hpa | tail -15
    fail "no scale-up within 240 s (HPA desired '${d:-}', ready '${r:-}')"
fi

# ---- the new replicas answer calls: per-pod counts from /metrics ----
token=$(k get secrets -l "$SEL" -o jsonpath='{.items[0].data.token}' | base64 -d)
pod_calls() { # POD_IP -> calls answered 200 by smallest_factor
    curl -s -k -m 5 -H "Authorization: Bearer $token" "https://$1:8080/metrics" |
        sed -n 's/^turbolift_calls_total{function="smallest_factor",code="200"} \([0-9]*\)$/\1/p'
}
counts() {
    local name ip n out="" all=1
    while read -r name ip; do
        [ -n "$ip" ] || continue
        n=$(pod_calls "$ip"); out="$out $name=${n:-?}"
        [ -n "$n" ] && [ "$n" -gt 0 ] || all=0
    done < <(k get pods -l "$SEL" --field-selector=status.phase=Running \
               -o jsonpath='{range .items[*]}{.metadata.name} {.status.podIP}{"\n"}{end}')
    echo "$out"
    [ $all = 1 ]
}
if [ -n "$t_ready" ]; then
    n=0
    until c=$(counts); do
        n=$((n + 1)); [ $n -lt 60 ] || break
        sleep 1
    done
    pods=$(echo "$c" | wc -w)
    if [ $n -lt 60 ] && [ "$pods" -gt 1 ]; then
        pass "every one of the $pods replicas answered calls (per pod:$c)"
    else
        fail "some replicas answered no call within 60 s (per pod:$c)"
    fi
fi

# ---- the load drops: the HPA scales back to 1, calls go on ----
touch "$work/ctl/light"
t_light=$(date +%s)
t_down= deadline=$(( t_light + 240 ))
while [ "$(date +%s)" -lt "$deadline" ]; do
    if [ "$(spec_replicas)" = 1 ] && [ "$(ready)" = 1 ] &&
       [ "$(k get pods -l "$SEL" --no-headers 2>/dev/null | wc -l)" = 1 ]; then
        t_down=$(date +%s); break
    fi
    kill -0 "$load_pid" 2>/dev/null || break
    sleep 1
done
if [ -n "$t_down" ]; then
    pass "HPA scaled down to 1 replica under light load"
    log "figure: scale-down to 1 replica $(( t_down - t_light )) s after the load dropped"
else
    k get hpa,deployments,pods -o wide
    fail "no scale-down to 1 within 240 s ($(hpa_line))"
fi

# ---- every call answered, right ----
touch "$work/ctl/stop"
wait "$load_pid"; rc=$?; load_pid=
if [ $rc = 0 ] && grep -q 'wrong 0' "$work/load.out" && ! grep -q 'failed' "$work/load.err"; then
    pass "no call failed or was wrong during scale-up and scale-down: $(tail -1 "$work/load.out")"
else
    tail -20 "$work/load.err"; cat "$work/load.out"; fail "calls during scaling (exit $rc)"
fi
finish
