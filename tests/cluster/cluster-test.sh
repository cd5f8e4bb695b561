#!/usr/bin/env bash
# The `cluster` suite: a real Kubernetes cluster runs a FROM-scratch image of
# a tiny C HTTP server, and the host calls it through a Service.
#
#   cluster-test.sh HELLO_SERVER_SOURCE_OR_BINARY [SOURCE_ROOT]
#
# Brings the local cluster up (or reuses it) with deploy/cluster/up and leaves
# it running (CI calls deploy/cluster/down at the end).  Exit 77 (skipped)
# outside CI when this machine cannot run the cluster; in CI (CI=true) those
# cases are failures.  MIT License, Turbolift for C authors.
set -uo pipefail

HELLO=${1:?usage: cluster-test.sh HELLO_SERVER_SOURCE_OR_BINARY [SOURCE_ROOT]}
ROOT=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
CLUSTER=$ROOT/deploy/cluster
. "$CLUSTER/lib.sh"

# Unique per run: two test runs on one machine share the cluster.
NS=turbolift-cluster-test-$$
. "$ROOT/tests/lib.sh" cluster	# pass, fail, log, finish, skip_or_fail, wait_for

# ---- can this machine run the cluster at all? ----
reason=$(cluster_unavailable_reason)
[ -z "$reason" ] || skip_or_fail "$reason"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ $HELLO == *.c ]]; then
    # Static: the FROM-scratch image holds this one file.
    if ${CC:-cc} -std=c11 -Wall -Wextra -Werror -O2 -static -o "$work/hello-server" "$HELLO" 2> "$work/cc.log"; then
        HELLO=$work/hello-server
    else
        cat "$work/cc.log"; fail "compile $1 (static)"; finish
    fi
fi
[ -x "$HELLO" ] || { log "no test server binary at $HELLO"; fail "build hello-server"; finish; }

# ---- 1. cluster up (or reused) ----
t0=$(date +%s)
if "$CLUSTER/up"; then
    pass "deploy/cluster/up ($(( $(date +%s) - t0 )) s)"
else
    fail "deploy/cluster/up"
    finish
fi
. "$STATE_DIR/cluster.env"
command -v kubectl >/dev/null || { fail "kubectl on PATH"; finish; }
# A plain `.` of cluster.env, in an empty environment, reaches child
# programs (no `set -a` needed).
child_env=$(env -i PATH=/usr/bin:/bin bash -c ". '$STATE_DIR/cluster.env' && env")
if grep -q "^TURBOLIFT_REGISTRY=$TURBOLIFT_REGISTRY\$" <<< "$child_env" &&
   grep -q '^TURBOLIFT_REGISTRY_PULL=.' <<< "$child_env" &&
   grep -q '^TURBOLIFT_CLUSTER_MODE=.' <<< "$child_env" &&
   grep -q "^KUBECONFIG=$KUBECONFIG_PATH\$" <<< "$child_env"; then
    pass "cluster.env exports KUBECONFIG and the TURBOLIFT_* settings to child programs"
else
    fail "cluster.env: not exported to a child: $(grep -E '^(KUBECONFIG|TURBOLIFT_)' <<< "$child_env" | tr '\n' ' ')"
fi
k() { kubectl --request-timeout=30s "$@"; }

diagnose() {
    log "---- diagnostics ----"
    k get nodes -o wide 2>&1 | sed 's/^/    /'
    k -n "$NS" get all,endpoints -o wide 2>&1 | sed 's/^/    /'
    k -n "$NS" describe pods 2>&1 | tail -40 | sed 's/^/    /'
    k -n "$NS" get events --sort-by=.lastTimestamp 2>&1 | tail -20 | sed 's/^/    /'
    for c in kubelet containerd kube-proxy; do
        [ -r "$LOG_DIR/$c.log" ] && { log "tail of $c.log"; tail -15 "$LOG_DIR/$c.log" | sed 's/^/    /'; }
    done
}

if [ "$(k get nodes --no-headers 2>/dev/null | awk '$2 == "Ready"' | wc -l)" -ge 1 ]; then
    pass "a Ready node"
else
    fail "a Ready node"; diagnose; finish
fi

# ---- 2. image FROM scratch, pushed to the registry ----
rootfs=$work/rootfs
mkdir -p "$rootfs"
cp "$HELLO" "$rootfs/hello-server"
tag=$(sha256sum "$HELLO" | cut -c1-12)
if out=$("$CLUSTER/mkimage" -r "$TURBOLIFT_REGISTRY" -p 8080 "turbolift-test/hello:$tag" "$rootfs" /hello-server 8080); then
    pass "image pushed: $out"
else
    fail "image build/push to $TURBOLIFT_REGISTRY"; finish
fi
IMAGE=$TURBOLIFT_REGISTRY_PULL/turbolift-test/hello:$tag

# ---- 3. Deployment (2 replicas, readiness probe) and Service ----
k delete namespace "$NS" --ignore-not-found --wait=true --timeout=60s >/dev/null 2>&1
k create namespace "$NS" >/dev/null || { fail "create namespace"; finish; }
manifest=$(cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
  namespace: $NS
  labels: {app: hello}
spec:
  replicas: 2
  selector:
    matchLabels: {app: hello}
  template:
    metadata:
      labels: {app: hello}
    spec:
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 5
      containers:
      - name: hello
        image: $IMAGE
        args: ["8080"]
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
          periodSeconds: 1
          failureThreshold: 3
        resources:
          requests: {cpu: 10m, memory: 8Mi}
          limits: {memory: 32Mi}
---
apiVersion: v1
kind: Service
metadata:
  name: hello
  namespace: $NS
  labels: {app: hello}
spec:
  type: NodePort
  selector: {app: hello}
  ports:
  - port: 80
    targetPort: 8080
EOF
)
if echo "$manifest" | k apply -f - ; then pass "Deployment and Service applied"; else fail "kubectl apply"; finish; fi

t0=$(date +%s)
if k -n "$NS" rollout status deployment/hello --timeout=180s; then
    pass "rollout of 2 ready replicas ($(( $(date +%s) - t0 )) s)"
else
    fail "rollout"; diagnose; finish
fi

# Container logs through the API server and kubelet.
if k -n "$NS" logs deployment/hello 2>&1 | grep -q 'listening on :8080'; then
    pass "kubectl logs shows the server's start line"
else
    fail "kubectl logs: $(k -n "$NS" logs deployment/hello 2>&1 | tail -2)"
fi

# ---- 4. call the Service from the host ----
cluster_ip=$(k -n "$NS" get svc hello -o 'jsonpath={.spec.clusterIP}')
node_port=$(k -n "$NS" get svc hello -o 'jsonpath={.spec.ports[0].nodePort}')
log "Service hello: ClusterIP $cluster_ip:80, NodePort $node_port"

# call_until NAME URL: bounded retries (kube-proxy syncs rules asynchronously);
# then rounds of 20 calls that must all answer, until a round is answered by
# both replicas (kube-proxy may add the second replica's endpoint a moment
# after the first: a round that reaches one pod only is tried again, within
# the same 30 s).
call_until() {
    local name=$1 url=$2 deadline body i hosts n=0 rounds=0
    deadline=$(( $(date +%s) + 30 ))
    until body=$(curl -fsS -m 3 "$url" 2>/dev/null) && [[ $body == "hello from hello-"* ]]; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            fail "$name: $url did not answer within 30 s"; return 1
        fi
        sleep 0.5
    done
    while :; do
        hosts=""
        rounds=$((rounds + 1))
        for ((i = 0; i < 20; i++)); do
            body=$(curl -fsS -m 3 "$url" 2>/dev/null) || { fail "$name: call $i of 20 to $url failed"; return 1; }
            hosts="$hosts ${body#hello from }"
        done
        n=$(echo $hosts | tr ' ' '\n' | sort -u | wc -l)
        [ "$n" = 2 ] && break
        if [ "$(date +%s)" -ge "$deadline" ]; then
            fail "$name: $url answered from $n distinct pods (want 2) in $rounds rounds of 20 within 30 s"
            return 1
        fi
        sleep 0.5
    done
    pass "$name: $url answered 20/20, from both replicas (round $rounds)"
}
if [ "$TURBOLIFT_CLUSTER_MODE" = native ]; then
    # The host is the node: kube-proxy's iptables rules serve both.
    call_until "NodePort on 127.0.0.1" "http://127.0.0.1:$node_port/"
    call_until "NodePort on the node IP" "http://$TURBOLIFT_NODE_IP:$node_port/"
    call_until "ClusterIP from the host" "http://$cluster_ip:80/"
fi

# kubectl port-forward to the Service (through the API server, kubelet and
# containerd's port forwarding in the pod's network namespace).
pf_port=$(( 20000 + RANDOM % 10000 ))
pf_log=$(mktemp)
# kubectl itself, not the k function: $! must be kubectl's pid, or the kill
# below stops only a subshell and leaves the port-forward running.
kubectl --request-timeout=30s -n "$NS" port-forward svc/hello "$pf_port:80" --address 127.0.0.1 > "$pf_log" 2>&1 &
pf_pid=$!
deadline=$(( $(date +%s) + 30 ))
pf_ok=0
while [ "$(date +%s)" -lt "$deadline" ] && kill -0 "$pf_pid" 2>/dev/null; do
    if body=$(curl -fsS -m 3 "http://127.0.0.1:$pf_port/" 2>/dev/null) && [[ $body == "hello from hello-"* ]]; then
        pf_ok=1; break
    fi
    sleep 0.5
done
kill "$pf_pid" 2>/dev/null; wait "$pf_pid" 2>/dev/null
if [ $pf_ok = 1 ]; then pass "kubectl port-forward svc/hello: ${body%$'\n'}"; else fail "kubectl port-forward: $(tail -3 "$pf_log")"; fi
rm -f "$pf_log"

# ---- 5. delete the objects and check they are gone ----
k -n "$NS" delete deployment/hello service/hello --wait=true --timeout=60s >/dev/null
if k -n "$NS" wait --for=delete pod -l app=hello --timeout=90s >/dev/null 2>&1 \
   && [ -z "$(k -n "$NS" get deployment,replicaset,pod,service,endpoints -l app=hello --no-headers --ignore-not-found 2>&1)" ]; then
    pass "Deployment, ReplicaSet, pods, Service and Endpoints gone"
else
    fail "objects left: $(k -n "$NS" get all -l app=hello --no-headers 2>&1 | tr '\n' ';')"
fi
if k delete namespace "$NS" --wait=true --timeout=90s >/dev/null \
   && ! k get namespace "$NS" >/dev/null 2>&1; then
    pass "namespace $NS deleted"
else
    fail "namespace $NS still present"
fi
# The node's iptables no longer mention the Service.
if [ "$TURBOLIFT_CLUSTER_MODE" = native ]; then
    deadline=$(( $(date +%s) + 30 ))
    while iptables-save -t nat 2>/dev/null | grep -q "$NS/hello" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.5; done
    if iptables-save -t nat 2>/dev/null | grep -q "$NS/hello"; then
        fail "kube-proxy rules for $NS/hello still present"
    else
        pass "kube-proxy removed the Service's rules"
    fi
fi

log "cluster left running for later suites; stop it with deploy/cluster/down"
finish
