# shellcheck shell=bash disable=SC2034
# Shared settings and helpers for deploy/cluster/{build,up,down,install-deps}.
# Sourced, not executed.  MIT License, Turbolift for C authors.

# Pinned versions.  Changing K8S_VERSION changes the cache key, so a new
# version is built once and cached beside the old one.
K8S_VERSION=${K8S_VERSION:-v1.30.14}
ETCD_VERSION=${ETCD_VERSION:-v3.5.24}

CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE_ROOT=${TURBOLIFT_CLUSTER_CACHE:-/var/cache/turbolift-cluster}
CACHE_DIR=$CACHE_ROOT/$K8S_VERSION
BIN_DIR=$CACHE_DIR/bin
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
# Order matters: started left to right, stopped right to left.
COMPONENTS="registry etcd containerd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy"

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
    if [ "${TURBOLIFT_CLUSTER_MODE:-auto}" != native ] && k3d_usable; then
        return
    fi
    if [ $have_bins = 0 ] && ! find_go >/dev/null; then
        echo "neither Go (to build Kubernetes $K8S_VERSION) nor a working k3d is available, and $BIN_DIR has no cached build"
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
