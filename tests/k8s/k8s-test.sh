#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The `k8s` suite: tagged functions run on the real local Kubernetes cluster
# (deploy/cluster/up) through the k8s target, with no change to the caller.
#
#   k8s-test.sh BUILD_ROOT SOURCE_ROOT
#
# Checks: the examples print on Kubernetes what they print natively; the
# labelled objects exist during a run and are gone after; a second run
# reuses image and deployment; deleting a pod mid-run loses no call; a
# request without the token gets 401 and the service keeps serving;
# `turbolift status|down|gc`. Prints "figure:" lines (image size, time to
# first answer cold and cached, calls/s). Every wait is bounded.
# Exit 77 (skipped) outside CI when this machine cannot run the cluster.
set -uo pipefail

build=${1:?usage: k8s-test.sh BUILD_ROOT SOURCE_ROOT}
src=${2:?usage: k8s-test.sh BUILD_ROOT SOURCE_ROOT}
CLUSTER=$src/deploy/cluster
. "$CLUSTER/lib.sh"
export LC_ALL=C

. "$src/tests/lib.sh" k8s	# pass, fail, log, finish, skip_or_fail, wait_for

# ---- can this machine run the cluster at all? ----
reason=$(cluster_unavailable_reason)
[ -z "$reason" ] || skip_or_fail "$reason"
command -v docker >/dev/null 2>&1 || command -v podman >/dev/null 2>&1 ||
    command -v buildah >/dev/null 2>&1 || skip_or_fail "no container tool (docker, podman or buildah)"
command -v curl >/dev/null 2>&1 || skip_or_fail "curl is missing"

work=$(mktemp -d)
NS=turbolift-k8s-test-$$
bg_pids=()
cleanup() {
    touch "$work/stop" "$work/go" 2>/dev/null
    for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    if command -v kubectl >/dev/null 2>&1 && [ -n "${KUBECONFIG:-}" ]; then
        "$build/runtime/turbolift" down -n "$NS" >/dev/null 2>&1
        kubectl --request-timeout=30s delete namespace "$NS" --ignore-not-found --wait=false >/dev/null 2>&1
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# ---- 1. cluster up (or reused) ----
t0=$(date +%s)
if "$CLUSTER/up" >"$work/up.log" 2>&1; then
    pass "deploy/cluster/up ($(( $(date +%s) - t0 )) s)"
else
    tail -30 "$work/up.log"; fail "deploy/cluster/up"; finish
fi
set -a
. "$STATE_DIR/cluster.env"     # KUBECONFIG, PATH, TURBOLIFT_REGISTRY(_PULL)
set +a
command -v kubectl >/dev/null || { fail "kubectl on PATH"; finish; }
k() { kubectl --request-timeout=30s -n "$NS" "$@"; }

export XDG_CACHE_HOME=$work/cache TURBOLIFT_OUTDIR=$work/out
export PKG_CONFIG_PATH=$build/meson-uninstalled
export TURBOLIFT_NAMESPACE=$NS TURBOLIFT_ON_FAILURE=abort TURBOLIFT_LOG=info
export TURBOLIFT_CONFIG=$work/turbolift.yaml
unset TURBOLIFT_MODE TURBOLIFT_TARGET TURBOLIFT_KEEP TURBOLIFT_ENDPOINT TURBOLIFT_TOKEN
cat >"$TURBOLIFT_CONFIG" <<'EOF'
defaults:
  min_replicas: 2
  max_replicas: 3
  retries: 8
  backoff_ms: 100
  start_timeout_ms: 180000
  resources: { cpu: 50m, memory: 32Mi }
EOF
CLI=$build/runtime/turbolift
SEL="app.kubernetes.io/managed-by=turbolift,turbolift.dev/function=kwork"

objects() { k get deployments,services,secrets,horizontalpodautoscalers,pods -l "$1" -o name 2>/dev/null | wc -l; }
none_left() { [ "$(objects "$SEL")" -eq 0 ]; }
secs() { sed -n 's/.*first answer after \([0-9.]*\) s.*/\1/p' "$1"; }

# ---- 2. builds: native and with the plugin ----
cflags=$(pkg-config --cflags --libs turbolift) || { fail "pkg-config turbolift"; finish; }
fixture=$src/tests/k8s/fixtures/k8s_work.c
if gcc -std=gnu11 -O2 -I"$src/include" -fopenmp "$src/examples/pricing.c" -lm -o "$work/pricing-plain" &&
   gcc -std=gnu11 -O2 $cflags -fopenmp "$src/examples/pricing.c" -lm -o "$work/pricing" &&
   gcc -std=gnu11 -O2 -I"$src/include" "$src/examples/vectors.c" -lm -o "$work/vectors-plain" &&
   gcc -std=gnu11 -O2 $cflags "$src/examples/vectors.c" -lm -o "$work/vectors" &&
   gcc -std=gnu11 -O2 $cflags -DTL_SALT=$$$(date +%s) -pthread "$fixture" -o "$work/kwork" 2>"$work/build.err"; then
    pass "examples and fixture build natively and with the plugin"
else
    cat "$work/build.err"; fail "builds"; finish
fi

# ---- 3. the fixture, cold: its image is new (salted), so built and pushed ----
if TURBOLIFT_KEEP=1 "$work/kwork" first >"$work/cold.out" 2>"$work/cold.err" &&
   grep -q 'kwork(3) = ' "$work/cold.out"; then
    pass "first run (cold) answered on the cluster"
else
    cat "$work/cold.err"; fail "first run (cold)"
fi
grep -q 'pushed' "$work/cold.err" && grep -q 'rollout 2/2 ready' "$work/cold.err" &&
    pass "progress: image pushed, rollout n/m ready" || { cat "$work/cold.err"; fail "progress messages"; }
image=$(sed -n 's/.*image \([^ ]*\) pushed.*/\1/p' "$work/cold.err" | head -1)
log "figure: cold start to first answer: $(secs "$work/cold.err") s"
if [ -n "$image" ]; then
    size=$(docker image inspect --format '{{.Size}}' "$TURBOLIFT_REGISTRY/${image#*/}" 2>/dev/null)
    [ -n "$size" ] && log "figure: image $image: $size bytes ($(awk "BEGIN{printf \"%.1f\", $size/1e6}") MB uncompressed)"
fi
uid1=$(k get deployments -l "$SEL" -o jsonpath='{.items[0].metadata.uid} {.items[0].metadata.generation} {.items[0].metadata.creationTimestamp}')

# ---- 4. second run: same image, same deployment, nothing re-applied ----
if TURBOLIFT_KEEP=1 "$work/kwork" first >"$work/warm.out" 2>"$work/warm.err" &&
   cmp -s "$work/cold.out" "$work/warm.out"; then
    pass "second run answers the same"
else
    cat "$work/warm.err"; fail "second run"
fi
uid2=$(k get deployments -l "$SEL" -o jsonpath='{.items[0].metadata.uid} {.items[0].metadata.generation} {.items[0].metadata.creationTimestamp}')
if grep -q 'in the registry already' "$work/warm.err" && grep -q 'reusing deployment' "$work/warm.err" &&
   ! grep -q 'applying' "$work/warm.err" && [ -n "$uid1" ] && [ "$uid1" = "$uid2" ]; then
    pass "second run reused the image and the deployment (uid and generation unchanged: $uid2)"
else
    cat "$work/warm.err"; fail "reuse (before: '$uid1', after: '$uid2')"
fi
log "figure: running deployment reused, start to first answer: $(secs "$work/warm.err") s"

# ---- 5. turbolift status, logs, down ----
if "$CLI" status -n "$NS" >"$work/status" 2>&1 && grep -q '^kwork .* 2/2 .*http://127.0.0.1:' "$work/status"; then
    pass "turbolift status lists kwork with 2/2 ready and its endpoint"
else
    cat "$work/status"; fail "turbolift status"
fi
if "$CLI" logs kwork -n "$NS" >"$work/logs" 2>&1; then
    pass "turbolift logs kwork"
else
    cat "$work/logs"; fail "turbolift logs"
fi
if "$CLI" down -n "$NS" >"$work/down" 2>&1 && wait_for 120 none_left; then
    pass "turbolift down deleted every labelled object"
else
    cat "$work/down"; k get all -l "$SEL"; fail "turbolift down"
fi

# ---- 6. cached image, no deployment; cleanup at exit ----
if "$work/kwork" first >"$work/cached.out" 2>"$work/cached.err" &&
   cmp -s "$work/cold.out" "$work/cached.out" && grep -q 'applying' "$work/cached.err"; then
    pass "image cached, deployment new: answered"
else
    cat "$work/cached.err"; fail "cached-image run"
fi
log "figure: image cached, new deployment, start to first answer: $(secs "$work/cached.err") s"
if wait_for 120 none_left; then pass "objects gone after exit (no keep)"
else k get all -l "$SEL"; fail "objects left after exit"; fi

# ---- 7. during a run: labelled objects exist; no token -> 401, still serving ----
rm -f "$work/go"
"$work/kwork" wait "$work/go" >"$work/wait.out" 2>"$work/wait.err" &
wpid=$!; bg_pids+=("$wpid")
has_waiting() { grep -q waiting "$work/wait.out"; }
if wait_for 200 has_waiting; then
    kinds=$(k get deployments,services,secrets,horizontalpodautoscalers -l "$SEL" -o name | cut -d/ -f1 | sort | tr '\n' ' ')
    case $kinds in
    *deployment*horizontalpodautoscaler*secret*service*) pass "during the run: $kinds" ;;
    *) fail "labelled objects during the run: '$kinds'" ;;
    esac
    port=$(k get services -l "$SEL" -o jsonpath='{.items[0].spec.ports[0].nodePort}')
    printf '\x92\x01\x64' >"$work/body"       # msgpack [1, 100]
    # The pods speak HTTPS only (issue 12: TLS on by default on k8s); -k:
    # this checks the token, the runtime's client checks the pinned key.
    post() { curl -s -k -o "$work/resp" -w '%{http_code}' -X POST -H 'Content-Type: application/msgpack' \
                 --data-binary @"$work/body" "$@" "https://127.0.0.1:$port/v1/call/kwork"; }
    c1=$(post); c2=$(post -H 'Authorization: Bearer wrong')
    r=$(curl -s -k -o /dev/null -w '%{http_code}' "https://127.0.0.1:$port/readyz")
    plain=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")
    if [ "$c1" = 401 ] && [ "$c2" = 401 ] && [ "$r" = 200 ] && [ "$plain" = 000 ]; then
        pass "no token and a wrong token get 401; /readyz still 200; plain HTTP gets no answer"
    else
        fail "token check: no token $c1, wrong token $c2, readyz $r, plain http $plain"
    fi
    touch "$work/go"
    wait "$wpid"; rc=$?
    if [ $rc = 0 ] && grep -q 'kwork(2) = ' "$work/wait.out"; then
        pass "the program's next call after the 401s is answered"
    else
        cat "$work/wait.err"; fail "call after the 401s (exit $rc)"
    fi
else
    cat "$work/wait.err"; fail "program did not reach its waiting point"
    touch "$work/go"; wait "$wpid"
fi
if wait_for 120 none_left; then pass "objects gone after the run"
else k get all -l "$SEL"; fail "objects left after the run"; fi

# ---- 8. a pod deleted mid-run: no call lost ----
rm -f "$work/stop"
"$work/kwork" loop "$work/stop" >"$work/loop.out" 2>"$work/loop.err" &
lpid=$!; bg_pids+=("$lpid")
has_running() { grep -q running "$work/loop.out"; }
if wait_for 200 has_running; then
    victim=$(k get pods -l "$SEL" -o jsonpath='{.items[0].metadata.name}')
    k delete pod "$victim" --wait=false >/dev/null
    replaced() { [ "$(k get pods -l "$SEL" --field-selector=status.phase=Running -o name | grep -vc "$victim")" -ge 2 ] &&
                 [ "$(k get deployments -l "$SEL" -o jsonpath='{.items[0].status.readyReplicas}')" = 2 ]; }
    wait_for 120 replaced || log "the deleted pod was not replaced in 120 s"
fi
touch "$work/stop"
wait "$lpid"; rc=$?
if [ $rc = 0 ] && grep -q 'wrong 0' "$work/loop.out" && ! grep -q 'failed' "$work/loop.err"; then
    pass "pod $victim deleted mid-run: $(cat "$work/loop.out" | tail -1), none failed"
else
    cat "$work/loop.out" "$work/loop.err" | tail -20; fail "calls across a pod deletion (exit $rc)"
fi
wait_for 120 none_left || fail "objects left after the loop"

# ---- 9. the examples on Kubernetes print what they print natively ----
"$work/pricing-plain" 20000 >"$work/pricing.plain"
"$work/vectors-plain" >"$work/vectors.plain"
for ex in pricing vectors; do
    args=; [ $ex = pricing ] && args=20000
    if TURBOLIFT_TARGET=k8s "$work/$ex" $args >"$work/$ex.k8s" 2>"$work/$ex.err" &&
       cmp -s "$work/$ex.plain" "$work/$ex.k8s" && grep -q 'ready at http' "$work/$ex.err"; then
        pass "$ex on Kubernetes prints the same as native"
    else
        diff "$work/$ex.plain" "$work/$ex.k8s" | head; tail -20 "$work/$ex.err"; fail "$ex on Kubernetes"
    fi
done

# ---- 10. fan-out: calls/s on the cluster ----
if TURBOLIFT_LOG=warn "$work/kwork" bench 4000 8 >"$work/bench.out" 2>"$work/bench.err"; then
    pass "fan-out: $(cat "$work/bench.out")"
    log "figure: $(cat "$work/bench.out")"
else
    cat "$work/bench.err"; fail "fan-out bench"
fi
wait_for 120 none_left || fail "objects left after the bench"

# ---- 11. gc: the fixture's image is in use by nothing now ----
tag=${image##*:}
if [ -n "$image" ] && "$CLI" gc --function kwork >"$work/gc" 2>&1 && grep -q "$tag" "$work/gc" &&
   [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        "http://$TURBOLIFT_REGISTRY/v2/turbolift/kwork/manifests/$tag")" = 404 ]; then
    pass "turbolift gc deleted the unused image $tag"
else
    cat "$work/gc"; fail "turbolift gc"
fi
finish
