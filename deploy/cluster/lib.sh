# shellcheck shell=bash disable=SC2034
# Shared settings and helpers for deploy/cluster/{build,up,down,install-deps}.
# Sourced, not executed.  MIT License, Turbolift for C authors.

# Pinned versions.  Changing K8S_VERSION changes the cache key, so a new
# version is built once and cached beside the old one.
K8S_VERSION=${K8S_VERSION:-v1.30.14}
ETCD_VERSION=${ETCD_VERSION:-v3.5.24}
METRICS_SERVER_VERSION=${METRICS_SERVER_VERSION:-v0.8.0}

CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE_ROOT=${TURBOLIFT_CLUSTER_CACHE:-/var/cache/turbolift-cluster}
CACHE_DIR=$CACHE_ROOT/$K8S_VERSION
BIN_DIR=$CACHE_DIR/bin
MS_DIR=$CACHE_ROOT/metrics-server-$METRICS_SERVER_VERSION
MS_BIN=$MS_DIR/metrics-server
# Runtime state of the one local cluster (certificates, configs, logs, data).
STATE_DIR=${TURBOLIFT_CLUSTER_STATE:-/var/lib/turbolift-cluster}
KUBECONFIG_PATH=$STATE_DIR/kubeconfig
LOG_DIR=$STATE_DIR/logs
RUN_DIR=$STATE_DIR/run
CONTAINERD_SOCK=$RUN_DIR/containerd/containerd.sock
REGISTRY_ADDR=127.0.0.1:5000
K3D_CLUSTER=turbolift

K8S_BINARIES="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl"

say()  { printf '[cluster] %s\n' "$*" >&2; }
die()  { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }

# TURBOLIFT_CLUSTER_GO=/path/to/go picks a Go toolchain (a path that does
# not exist means "no Go", which the test suite uses to check its skip path).
find_go() {
    if [ -n "${TURBOLIFT_CLUSTER_GO:-}" ]; then
        [ -x "$TURBOLIFT_CLUSTER_GO" ] && echo "$TURBOLIFT_CLUSTER_GO"
    elif command -v go >/dev/null 2>&1; then command -v go
    elif [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go
    else return 1; fi
}

# The newest `go` line of the modules built (deploy/cluster/*/go.mod).
GO_MIN=1.24.4
go_new_enough() {
    local v
    v=$("$(find_go)" env GOVERSION 2>/dev/null) || return 1
    v=${v#go}
    [ "$(printf '%s\n%s\n' "$GO_MIN" "$v" | sort -V | head -1)" = "$GO_MIN" ]
}

# k3d is used only when it is installed and can actually create a cluster
# (that needs images from the internet).  TURBOLIFT_CLUSTER_MODE=k3d|native
# forces one way.
k3d_usable() {
    command -v k3d >/dev/null 2>&1 || return 1
    command -v docker >/dev/null 2>&1 || return 1
    docker info >/dev/null 2>&1 || return 1
    return 0
}

# wait_for DESCRIPTION SECONDS COMMAND...: poll COMMAND until it succeeds,
# at most SECONDS seconds (polled every 0.5 s).
wait_for() {
    local what=$1 secs=$2; shift 2
    local deadline=$(( $(date +%s) + secs ))
    while :; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            return 1
        fi
        sleep 0.5
    done
}

# Native cluster layout.  The node sits on a bridge of its own; its address
# is the node IP, the API server's advertise address and the pods' gateway.
NODE_NAME=turbolift-node
BRIDGE=tlbr0
POD_CIDR=10.244.0.0/24
NODE_IP=10.244.0.1
SERVICE_CIDR=10.96.0.0/24
APISERVER_PORT=6443
ETCD_CLIENT=127.0.0.1:12379
ETCD_PEER=127.0.0.1:12380
PAUSE_IMAGE=$REGISTRY_ADDR/turbolift/pause:1
METRICS_SERVER_PORT=4443
# Order matters: started left to right, stopped right to left.
COMPONENTS="registry etcd containerd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy metrics-server"

# A node that stops renewing its lease is NotReady after NODE_GRACE s
# (upstream: 40 s), and its pods are evicted EVICT_AFTER s later (upstream:
# 300 s), so the node-loss test ends in bounded time. Kubelets renew their
# lease every NODE_LEASE/4 s and post status every NODE_STATUS_EVERY s.
NODE_GRACE=16
NODE_LEASE=12
NODE_STATUS_EVERY=4
EVICT_AFTER=5

# The optional second node (TURBOLIFT_CLUSTER_NODES=2 deploy/cluster/up, see
# node2.sh): its own network namespace joined to the host by a veth pair,
# its own containerd, kubelet and kube-proxy in it, its own bridge and pod
# range, its pods' cgroups under a cgroup root of its own.
NODE2_NAME=turbolift-node2
NODE2_NETNS=tl-node2
NODE2_VETH=tlnode2          # host end; the node's end is "$NODE2_VETH-in"
NODE2_HOST_IP=10.245.0.1    # host end of the veth
NODE2_IP=10.245.0.2         # the node's address
NODE2_BRIDGE=tlbr1
NODE2_POD_CIDR=10.244.1.0/24
NODE2_GW=10.244.1.1
NODE2_DIR=$STATE_DIR/node2
NODE2_SOCK=$RUN_DIR/containerd-2/containerd.sock
NODE2_CGROUP=turbolift-node2
NODE2_COMPONENTS="containerd-2 kubelet-2 kube-proxy-2"
# Run a command in node 2's network namespace (only that one: the mount
# namespace stays the host's, so kubelet and containerd see one file system).
n2() { nsenter --net="/run/netns/$NODE2_NETNS" -- "$@"; }

# replace_if_changed NEW FILE: move NEW over FILE unless FILE has the same
# content already (then NEW is removed and FILE untouched).
replace_if_changed() {
    if cmp -s "$1" "$2"; then rm -f "$1"; else mv "$1" "$2"; fi
}

pid_of() { # NAME -> prints pid if the recorded process is alive
    local f=$RUN_DIR/$1.pid p
    [ -r "$f" ] || return 1
    p=$(cat "$f")
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null || return 1
    # Guard against a recycled pid: every daemon we start names a path in
    # the state directory on its command line.
    tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qF "$STATE_DIR/" || return 1
    echo "$p"
}

# Why this machine cannot run the local cluster, on stdout; nothing when it
# can. The test suites that need a cluster skip (or, in CI, fail) with it.
cluster_unavailable_reason() {
    local have_bins=1 b cmd
    if [ "$(id -u)" != 0 ]; then
        echo "the local cluster needs root (kubelet, containerd, iptables)"
        return
    fi
    for b in $K8S_BINARIES etcd; do [ -x "$BIN_DIR/$b" ] || have_bins=0; done
    [ -x "$MS_BIN" ] || have_bins=0
    if [ "${TURBOLIFT_CLUSTER_MODE:-auto}" != native ] && k3d_usable; then
        return
    fi
    if [ $have_bins = 0 ] && ! find_go >/dev/null; then
        echo "neither Go (to build Kubernetes $K8S_VERSION) nor a working k3d is available, and $CACHE_ROOT has no cached build"
        return
    fi
    if [ $have_bins = 0 ] && ! go_new_enough; then
        echo "Go $("$(find_go)" env GOVERSION 2>/dev/null) is older than go$GO_MIN, which the cluster's components need (metrics-server $METRICS_SERVER_VERSION), and $CACHE_ROOT has no cached build"
        return
    fi
    for cmd in containerd runc docker-registry iptables conntrack; do
        if ! command -v "$cmd" >/dev/null 2>&1; then
            echo "'$cmd' is missing: run deploy/cluster/install-deps"
            return 0
        fi
    done
    return 0
}

# cri_serving SOCKET LOGNAME: the containerd on SOCKET answers CRI calls.
# Its CRI plugin reports "ok" and the socket answers before the plugin has
# recovered its state (the more containers it has known, the longer); a
# kubelet that connects meanwhile exits with "server is not initialized
# yet". The plugin logs "Start streaming server" once it is done: look for
# it after the last start ("=== DATE COMMAND", written by start_daemon)
# in $LOG_DIR/LOGNAME.log.
cri_serving() {
    ctr --address "$1" version >/dev/null 2>&1 || return 1
    # awk reads all its input: under pipefail a grep -q that stops reading
    # early would fail the check with its writer's SIGPIPE
    ctr --address "$1" plugins ls 2>/dev/null |
        awk '$1 == "io.containerd.grpc.v1" && $2 == "cri" && $NF == "ok" {ok = 1} END {exit !ok}' ||
        return 1
    awk '/^=== / {started = 0} /msg="Start streaming server"/ {started = 1}
         END {exit !started}' "$LOG_DIR/$2.log" 2>/dev/null
}
