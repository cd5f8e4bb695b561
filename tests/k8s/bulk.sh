#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Big payloads everywhere (issue 10.3): a 64 MiB read_only and a 64 MiB
# read_write argument work with the default limits and come back identical,
# bit for bit, to the in-process call; a 1 GiB argument is refused with 413
# and its message, the failure policy says so (abort: the message and
# SIGABRT; fallback: one warning, the call runs in-process), and the
# service lives on (the next call is answered; on Kubernetes the pod is the
# same one, not restarted, not OOMKilled).
#
#   bulk.sh BUILD_ROOT SOURCE_ROOT local   local workers (no cluster)
#   bulk.sh BUILD_ROOT SOURCE_ROOT k8s     the local cluster (deploy/cluster/up),
#                                          through NodePort, then port-forward
#
# The fixture is tests/k8s/fixtures/k8s_bulk.c. Pods keep their default
# resources (request 64Mi, limit 256Mi: the service budgets 3/4 of it,
# 192 MiB; a call of a P-byte read_only or read_write array holds about
# P, used where it lies in the body, a write_only one 2 x P: so 100 MiB
# read_only and read_write run in the pod, 100 MiB write_only is a 413).
# Memory on this side: about 300 MiB for the 100 MiB runs, some 60 MiB for
# the 1 GiB ones (the array is never written, and is sent from where it
# lies). Prints
# "figure:" lines (each 64 MiB call's time; the pod's peak memory as its
# cgroup counted it). Every wait is bounded.
# k8s: exit 77 (skipped) outside CI when this machine cannot run the cluster.
set -uo pipefail

build=${1:?usage: bulk.sh BUILD_ROOT SOURCE_ROOT local|k8s}
src=${2:?usage: bulk.sh BUILD_ROOT SOURCE_ROOT local|k8s}
mode=${3:?usage: bulk.sh BUILD_ROOT SOURCE_ROOT local|k8s}
CLUSTER=$src/deploy/cluster
. "$CLUSTER/lib.sh"
export LC_ALL=C

. "$src/tests/lib.sh" "bulk-$mode"   # pass, fail, check, log, finish, dist, remote_proven ...

ulimit -c 0             # the abort cases must not leave a 1 GiB core file
reaper=$build/tests/support/reaper   # used by dist (tests/lib.sh)
CLI=$build/runtime/turbolift
NS=turbolift-bulk-test-$$

case $mode in
local) ;;
k8s)
    reason=$(cluster_unavailable_reason)
    [ -z "$reason" ] || skip_or_fail "$reason" ;;
*) echo "usage: bulk.sh BUILD_ROOT SOURCE_ROOT local|k8s"; exit 2 ;;
esac

on_exit() {
    [ "$mode" = k8s ] && forget_namespace "$CLI" "$NS"
}
make_work

# The exact answer to the 1 GiB call: its body is the array header (1
# byte), a bin 32 header (5), 2^30 bytes and the count 2^27 as a uint 32
# (5); the default TURBOLIFT_MAX_REQUEST is 128 MiB.
msg413='answered HTTP 413: request body of 1073741835 bytes is larger than the limit of 134217728 bytes (TURBOLIFT_MAX_REQUEST)'

if [ "$mode" = k8s ]; then
    cluster_up "$CLUSTER" "$work/up.log"    # KUBECONFIG, PATH, TURBOLIFT_REGISTRY(_PULL)
    command -v kubectl >/dev/null || { fail "kubectl on PATH"; finish; }
    k8s_program_env "$work" "$build" "$NS"
    # Default resources and limits on purpose: only the timing is widened
    # (a port-forward moves 64 MiB more slowly than a NodePort).
    cat >"$TURBOLIFT_CONFIG" <<'EOF'
defaults:
  min_replicas: 1
  max_replicas: 1
  timeout_ms: 120000
  start_timeout_ms: 180000
EOF
else
    export PKG_CONFIG_PATH=$build/meson-uninstalled
    unset TURBOLIFT_MODE TURBOLIFT_TARGET TURBOLIFT_ON_FAILURE TURBOLIFT_CONFIG \
          TURBOLIFT_MAX_REQUEST TURBOLIFT_MAX_ALLOC TURBOLIFT_MAX_MEMORY
    export TURBOLIFT_CONFIG=    # defaults only, whatever the machine has
fi

# ---- the fixture, and what it gives in-process ----
p=$work/p
mkdir -p "$p" "$work/ref"
cflags=$(pkg-config --cflags --libs turbolift) || { fail "pkg-config turbolift"; finish; }
if TURBOLIFT_OUTDIR=$p/out gcc -std=gnu11 -O2 $cflags "$src/tests/k8s/fixtures/k8s_bulk.c" \
        -o "$p/bulk" 2>"$p/build.err"; then
    pass "fixture builds with the plugin"
else
    cat "$p/build.err"; fail "fixture build"; finish
fi
mkdir -p "$work/ref100"
if TURBOLIFT_MODE=inprocess "$p/bulk" run 64 "$work/ref" >"$work/ref.out" 2>&1 &&
   [ "$(stat -c %s "$work/ref/rw")" = 67108864 ] &&
   TURBOLIFT_MODE=inprocess "$p/bulk" run 100 "$work/ref100" >/dev/null 2>&1; then
    pass "in-process reference: $(grep '^total' "$work/ref.out")"
else
    cat "$work/ref.out"; fail "in-process reference"; finish
fi

# aborted STATUS ERR LEFT: a run that called abort(): status 134 through
# the reaper, or 125 when what outlived it (named by the reaper, then
# killed) is exactly LEFT. An aborting program runs no atexit handler: its
# local workers outlive it until their parent-death watch fires a moment
# later, and on Kubernetes its kubectl port-forward outlives it (as after
# a SIGKILL, docs/k8s.md "Limits"), or a kubectl of its hold's renewal
# thread (seen once through a NodePort) when one was running.
aborted() {
    local left
    left=$(sed -n 's/^reaper: pid [0-9]* (\([^)]*\)) outlived.*/\1/p' "$2" | sort -u | tr '\n' ' ')
    [ "$1" = 134 ] && [ -z "$left" ] && return 0
    [ "$1" = 125 ] && [ -n "$3" ] && [ "$left" = "$3 " ]
}

# same_as_inprocess DIR: the files of a distributed run match, byte for byte
same_as_inprocess() { cmp "$work/ref/ro" "$1/ro" && cmp "$work/ref/rw" "$1/rw"; }
figures() { sed -n 's/^figure: /figure: '"$1"': /p' "$2" | while read -r l; do log "$l"; done; }

# ======================= local workers =======================
if [ "$mode" = local ]; then
    export TURBOLIFT_TARGET=local
    mkdir -p "$work/loc"
    if dist "$p" "$p/run.out" "$p/run.err" "$p/bulk" run 64 "$work/loc"; then
        pass "64 MiB read_only and read_write, and two 32 MiB read_only in one call, on local workers answered (abort policy)"
    else
        tail -20 "$p/run.err"; fail "64 MiB calls on local workers"
    fi
    check "64 MiB results identical to the in-process call, bit for bit" same_as_inprocess "$work/loc"
    figures local "$p/run.out"
    # write_only 100 MiB: 200 MiB in the worker, within its default 256
    if dist "$p" "$p/fill.out" "$p/fill.err" "$p/bulk" fill 100 && grep -qx 'fill: 0 wrong' "$p/fill.out"; then
        pass "100 MiB write_only on local workers (256 MiB per call by default)"
    else
        tail -5 "$p/fill.err"; fail "100 MiB write_only on local workers"
    fi
    # every function of the fixture but the 1 GiB case's, in the two runs
    cat "$p/run.err" "$p/fill.err" >"$p/proof.err"
    if why=$(remote_proven "$p" "$p/proof.err"); then
        pass "every call of the two runs answered 200 by a worker of its run"
    else
        echo "$why"; fail "remote proof"
    fi

    # 1 GiB, abort: SIGABRT (134 through the reaper) with the 413's message
    dist "$p" "$p/big.out" "$p/big.err" "$p/bulk" big 1024; rc=$?
    if aborted "$rc" "$p/big.err" service && grep -qF "failed: http://127.0.0.1:" "$p/big.err" &&
       grep -qF "$msg413; aborting (on_failure: abort)" "$p/big.err" &&
       ! grep -q '^big total' "$p/big.out"; then
        pass "1 GiB argument, on_failure abort: 413 with its message, then abort (status $rc)"
    else
        grep -E 'turbolift: (error|warning)|reaper' "$p/big.err"; fail "1 GiB with abort (status $rc)"
    fi
    # 1 GiB, fallback: one warning with the message, the call runs here,
    # and the worker that refused it answers the next call
    XDG_CACHE_HOME=$p/cache TURBOLIFT_OUTDIR=$p/out TURBOLIFT_ON_FAILURE=fallback \
        TURBOLIFT_LOG=debug "$reaper" "$p/bulk" big 1024 >"$p/fb.out" 2>"$p/fb.err"; rc=$?
    refused=$(sed -n 's/^turbolift: debug: answered 413: .* in pid \([0-9]*\)$/\1/p' "$p/fb.err")
    if [ "$rc" = 0 ] && grep -qx 'big total = 0x0p+0' "$p/fb.out" && grep -qx 'after: mix ok' "$p/fb.out" &&
       [ "$(grep -c '^turbolift: warning: ' "$p/fb.err")" = 1 ] &&
       grep -qF "$msg413; running it in-process instead (on_failure: fallback" "$p/fb.err" &&
       grep -q '^turbolift: debug: mix: answered 200 in pid ' "$p/fb.err"; then
        pass "1 GiB argument, on_failure fallback: one warning with the 413, run in-process; the next call answered by a worker"
    else
        cat "$p/fb.out"; grep -E 'turbolift: (error|warning)|answered|reaper' "$p/fb.err"
        fail "1 GiB with fallback (status $rc)"
    fi
    finish
fi

# ======================= Kubernetes =======================
k() { kubectl --request-timeout=30s -n "$NS" "$@"; }
SEL=app.kubernetes.io/managed-by=turbolift
none_left() { [ "$(k get deployments,services,secrets,pods -l "$SEL" -o name 2>/dev/null | wc -l)" -eq 0 ]; }
# one line per pod: name, restarts, last termination reason-status, ready
pods() {
    k get pods -l "$SEL" -o jsonpath='{range .items[*]}{.metadata.name} {.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].lastState.terminated.reason}-{.status.containerStatuses[0].lastState.terminated.exitCode} {.status.containerStatuses[0].ready}{"\n"}{end}' |
        sort
}
# The pods' peak memory as their cgroups counted it (cgroup v1 or v2, the
# node is this machine); a figure, best effort.
pod_peaks() {
    local name uid f
    k get pods -l "$SEL" -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.uid}{"\n"}{end}' |
    while read -r name uid; do
        printf '%s: ' "$name"
        # v1's memory controller, or v2; a second node of the local
        # cluster has its kubepods one level down
        for f in /sys/fs/cgroup/memory/kubepods/pod"$uid" /sys/fs/cgroup/memory/kubepods/*/pod"$uid" \
                 /sys/fs/cgroup/memory/*/kubepods/*/pod"$uid" \
                 /sys/fs/cgroup/kubepods/pod"$uid" /sys/fs/cgroup/kubepods/*/pod"$uid" \
                 /sys/fs/cgroup/*/kubepods/*/pod"$uid" ""; do
            [ -r "$f/memory.max_usage_in_bytes" ] || [ -r "$f/memory.peak" ] && break
        done
        if [ -n "$f" ] && [ -r "$f/memory.max_usage_in_bytes" ]; then
            echo "$(( $(cat "$f/memory.max_usage_in_bytes") >> 20 )) MiB peak (limit $(( $(cat "$f/memory.limit_in_bytes") >> 20 )) MiB, hit $(cat "$f/memory.failcnt") times)"
        elif [ -n "$f" ] && [ -r "$f/memory.peak" ]; then
            echo "$(( $(cat "$f/memory.peak") >> 20 )) MiB peak (limit $(cat "$f/memory.max"))"
        else
            echo "no cgroup found for pod uid $uid"
        fi
    done
}

for ep in nodeport port-forward; do
    d=$work/$ep
    mkdir -p "$d"
    export TURBOLIFT_ENDPOINT=$ep
    # kept: the later runs of this endpoint use the same pod, whose
    # restarts and terminations are then compared
    if TURBOLIFT_KEEP=1 "$reaper" "$p/bulk" run 64 "$d" >"$d/run.out" 2>"$d/run.err" &&
       grep -q "ready at http[^ ]* ($ep, " "$d/run.err"; then
        pass "$ep: 64 MiB read_only and read_write, and two 32 MiB read_only in one call, answered on the cluster (abort policy)"
    else
        tail -20 "$d/run.err"; fail "$ep: 64 MiB calls"
    fi
    check "$ep: 64 MiB results identical to the in-process call, bit for bit" same_as_inprocess "$d"
    figures "$ep" "$d/run.out"
    before=$(pods)
    # the pods counted the calls (read through their /metrics)
    "$CLI" status -n "$NS" >"$d/status" 2>&1
    if [ "$(awk '$1 == "total" || $1 == "mix" {print $1, $5, $6}' "$d/status" | sort | tr '\n' ' ')" = "mix 2 0 total 2 0 " ]; then
        pass "$ep: the pods answered two calls of each function, no error (turbolift status)"
    else
        cat "$d/status"; fail "$ep: calls counted by the pods"
    fi

    # 1 GiB, abort: the 413's message, SIGABRT
    "$reaper" "$p/bulk" big 1024 >"$d/big.out" 2>"$d/big.err"; rc=$?
    left=kubectl
    if aborted "$rc" "$d/big.err" "$left" && grep -qF "$msg413; aborting (on_failure: abort)" "$d/big.err" &&
       ! grep -q '^big total' "$d/big.out"; then
        pass "$ep: 1 GiB argument, on_failure abort: 413 with its message, then abort (status $rc)"
    else
        grep -E 'turbolift: (error|warning)|reaper' "$d/big.err"; fail "$ep: 1 GiB with abort (status $rc)"
    fi
    # 1 GiB, fallback: one warning, run in-process; mix still answered
    TURBOLIFT_ON_FAILURE=fallback TURBOLIFT_KEEP=1 "$reaper" "$p/bulk" big 1024 \
        >"$d/fb.out" 2>"$d/fb.err"; rc=$?
    if [ "$rc" = 0 ] && grep -qx 'big total = 0x0p+0' "$d/fb.out" && grep -qx 'after: mix ok' "$d/fb.out" &&
       [ "$(grep -c '^turbolift: warning: ' "$d/fb.err")" = 1 ] &&
       grep -qF "$msg413; running it in-process instead (on_failure: fallback" "$d/fb.err"; then
        pass "$ep: 1 GiB argument, on_failure fallback: one warning with the 413, run in-process; mix() answered after it"
    else
        cat "$d/fb.out"; grep -E 'turbolift: (error|warning)|reaper' "$d/fb.err"; fail "$ep: 1 GiB with fallback (status $rc)"
    fi
    "$CLI" status -n "$NS" >"$d/status2" 2>&1
    if [ "$(awk '$1 == "mix" {print $5, $6}' "$d/status2")" = "3 0" ]; then
        pass "$ep: mix() answered by the pods after the 1 GiB refusals (2 calls in all, no error)"
    else
        cat "$d/status2"; fail "$ep: calls after the refusals"
    fi
    # 100 MiB read_only and read_write arrays are used where they lie in
    # the body (the read_write reply is written around its array), so a
    # call holds about the array once and both run in the pod.
    mkdir -p "$d/100"
    if "$reaper" "$p/bulk" run 100 "$d/100" >"$d/100.out" 2>"$d/100.err" &&
       cmp "$work/ref100/ro" "$d/100/ro" && cmp "$work/ref100/rw" "$d/100/rw"; then
        pass "$ep: 100 MiB read_only and read_write run in the pod, bit for bit"
    else
        grep -E 'turbolift: (error|warning)|reaper' "$d/100.err"; fail "$ep: 100 MiB in the pod"
    fi
    figures "$ep" "$d/100.out"
    # The pod's budget comes from its cgroup (256Mi: 192 MiB per call and
    # in all): a 100 MiB write_only buffer is the service's to allocate,
    # and its reply is as big: 200 MiB, refused unrun with 413 (on local
    # workers, 256 MiB per call by default, the same call runs).
    "$reaper" "$p/bulk" fill 100 >"$d/fill.out" 2>"$d/fill.err"; rc=$?
    if aborted "$rc" "$d/fill.err" "$left" &&
       grep -q "answered HTTP 413: fill: the call holds [0-9]* bytes and its reply would take up to [0-9]* more, over the limit of 201326592 bytes per call (TURBOLIFT_MAX_ALLOC); aborting" "$d/fill.err"; then
        pass "$ep: a 100 MiB write_only call is refused with 413 by the pod's 192 MiB budget"
    else
        cat "$d/fill.out"; grep -E 'turbolift: (error|warning)|reaper' "$d/fill.err"; fail "$ep: 100 MiB write_only in the pod (status $rc)"
    fi
    after=$(pods)
    kept=1
    while read -r l; do grep -qxF "$l" <<<"$after" || kept=0; done <<<"$before"
    if [ -n "$before" ] && [ "$kept" = 1 ] && ! grep -q OOMKilled <<<"$after" &&
       [ -z "$(awk '$2 != 0 || $4 != "true"' <<<"$after")" ]; then
        pass "$ep: the pods of before are there after, and every pod is ready, never restarted or OOMKilled: $(tr '\n' ';' <<<"$after")"
    else
        printf 'before:\n%s\nafter:\n%s\n' "$before" "$after"
        # what a restarted pod said before it ended
        awk '$2 != 0 {print $1}' <<<"$after" | while read -r pod; do
            echo "--- $pod, previous container:"; k logs "$pod" --previous --tail 20 2>&1
        done
        fail "$ep: pods across the 1 GiB and 100 MiB calls"
    fi
    pod_peaks | while read -r l; do log "figure: $ep: pod memory: $l"; done

    # the next endpoint makes its own Service (ClusterIP for port-forward)
    "$CLI" down -n "$NS" >"$d/down" 2>&1
    wait_for 180 none_left || { cat "$d/down"; k get all; fail "$ep: objects left after turbolift down"; }
done
unset TURBOLIFT_ENDPOINT
finish
