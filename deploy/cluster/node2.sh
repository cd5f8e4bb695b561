# shellcheck shell=bash
# The second node of the native cluster: up_node2 (sourced by up, uses its
# helpers) and down_node2 (sourced by down). Sourced, not executed.
#
# Node 2 is a machine of its own as far as the network goes: a network
# namespace ($NODE2_NETNS) with one veth to the host ($NODE2_HOST_IP <->
# $NODE2_IP), its own bridge and pod range ($NODE2_POD_CIDR), its own
# containerd (root, state, socket, CNI config), kubelet and kube-proxy, all
# three started in that namespace; its iptables are the namespace's own.
# The host routes the pod range to the node's address, so NodePorts on the
# host, the API server and metrics-server reach its pods and kubelet. Pods
# pull "127.0.0.1:5000/..." like on node 1: the node's containerd maps that
# registry to the host end of the veth, where one DNAT rule hands it to the
# registry on the host's loopback. Its pods' cgroups live under
# /$NODE2_CGROUP, so "kill the node" is "kill its kubelet, containerd, shims
# and every process under that cgroup" (tests/k8s/node-loss.sh).
# MIT License, Turbolift for C authors.

NODE2_CD=$NODE2_DIR/containerd
NODE2_IN=$NODE2_VETH-in

node2_cgroups() { # every v1 hierarchy (and the unified one) holding our root
    local d
    for d in /sys/fs/cgroup/*/; do
        [ -L "${d%/}" ] && continue
        echo "${d}$NODE2_CGROUP"
    done
}

# The host's part: a chain of our own in filter (forwarding to and from the
# node) and nat (registry pulls); `down` removes both.
node2_host_rules() {
    iptables -w -N TL-NODE2 2>/dev/null || iptables -w -F TL-NODE2
    iptables -w -A TL-NODE2 -i "$NODE2_VETH" -j ACCEPT
    iptables -w -A TL-NODE2 -o "$NODE2_VETH" -j ACCEPT
    iptables -w -C FORWARD -j TL-NODE2 2>/dev/null || iptables -w -I FORWARD -j TL-NODE2
    iptables -w -t nat -N TL-NODE2 2>/dev/null || iptables -w -t nat -F TL-NODE2
    iptables -w -t nat -A TL-NODE2 -i "$NODE2_VETH" -d "$NODE2_HOST_IP" -p tcp --dport "${REGISTRY_ADDR##*:}" \
        -j DNAT --to-destination "$REGISTRY_ADDR"
    iptables -w -t nat -C PREROUTING -j TL-NODE2 2>/dev/null || iptables -w -t nat -I PREROUTING -j TL-NODE2
    # DNAT to 127.0.0.1 from another interface needs route_localnet there.
    echo 1 > "/proc/sys/net/ipv4/conf/$NODE2_VETH/route_localnet"
}

node2_network() {
    # While node 2 is down (killed, or being restarted) its addresses must
    # not fall through to the default route and leave the machine: the
    # host keeps "unreachable" routes for them below the real ones until
    # `down` (node2_forget_routes).
    ip route replace unreachable "${NODE2_HOST_IP%.*}.0/24" metric 4000
    ip route replace unreachable "$NODE2_POD_CIDR" metric 4000
    [ -e "/run/netns/$NODE2_NETNS" ] || ip netns add "$NODE2_NETNS"
    if ! ip link show "$NODE2_VETH" >/dev/null 2>&1; then
        ip link add "$NODE2_VETH" type veth peer name "$NODE2_IN"
        ip link set "$NODE2_IN" netns "$NODE2_NETNS"
    fi
    ip addr replace "$NODE2_HOST_IP/24" dev "$NODE2_VETH"
    ip link set "$NODE2_VETH" up
    n2 ip link set lo up
    n2 ip addr replace "$NODE2_IP/24" dev "$NODE2_IN"
    n2 ip link set "$NODE2_IN" up
    n2 ip route replace default via "$NODE2_HOST_IP"
    ip route replace "$NODE2_POD_CIDR" via "$NODE2_IP"
    n2 ip link show "$NODE2_BRIDGE" >/dev/null 2>&1 || n2 ip link add "$NODE2_BRIDGE" type bridge
    n2 ip addr replace "$NODE2_GW/${NODE2_POD_CIDR#*/}" dev "$NODE2_BRIDGE"
    n2 ip link set "$NODE2_BRIDGE" up
    n2 sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
    n2 sh -c '[ ! -w /proc/sys/net/bridge/bridge-nf-call-iptables ] || echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables'
    node2_host_rules
}

node2_cgroup_root() {
    local c parent
    for c in $(node2_cgroups); do
        [ -d "$c" ] || mkdir "$c" || die "cannot create cgroup $c for node 2"
        # A new cpuset cgroup starts with no CPUs and no memory nodes.
        if [ -e "$c/cpuset.cpus" ] && [ -z "$(cat "$c/cpuset.cpus")" ]; then
            parent=$(dirname "$c")
            cat "$parent/cpuset.cpus" > "$c/cpuset.cpus"
            cat "$parent/cpuset.mems" > "$c/cpuset.mems"
        fi
    done
}

node2_configs() {
    mkdir -p "$NODE2_CD/certs.d/$REGISTRY_ADDR" "$NODE2_DIR/cni/net.d" "$RUN_DIR/containerd-2" "$NODE2_DIR/kubelet"
    cat > "$NODE2_CD/certs.d/$REGISTRY_ADDR/hosts.toml" <<EOF
server = "http://$REGISTRY_ADDR"

[host."http://$NODE2_HOST_IP:${REGISTRY_ADDR##*:}"]
  capabilities = ["pull", "resolve"]
EOF
    # Node 1's containerd config with node 2's places (one source of truth).
    sed -e "s#$CD/#$NODE2_CD/#g" -e "s#$RUN_DIR/containerd/#$RUN_DIR/containerd-2/#g" \
        -e "s#$STATE_DIR/cni/net.d#$NODE2_DIR/cni/net.d#" \
        "$CD/config.toml" > "$NODE2_CD/config.toml.tmp"
    mv "$NODE2_CD/config.toml.tmp" "$NODE2_CD/config.toml"
    grep -q "$NODE2_SOCK" "$NODE2_CD/config.toml" || die "node 2's containerd config does not name its socket"
    sed -e "s#\"$BRIDGE\"#\"$NODE2_BRIDGE\"#" -e "s#$POD_CIDR#$NODE2_POD_CIDR#" \
        -e "s#\"gateway\": \"$NODE_IP\"#\"gateway\": \"$NODE2_GW\"#" \
        -e "s#$STATE_DIR/cni/ipam#$NODE2_DIR/cni/ipam#" \
        "$STATE_DIR/cni/net.d/10-turbolift.conflist" > "$NODE2_DIR/cni/net.d/.10-turbolift.conflist.tmp"
    mv "$NODE2_DIR/cni/net.d/.10-turbolift.conflist.tmp" "$NODE2_DIR/cni/net.d/10-turbolift.conflist"
    sed -e "s#^address: .*#address: $NODE2_IP#" \
        -e "s#$P/kubelet\\.#$P/kubelet-2.#g" \
        -e "s#unix://$CONTAINERD_SOCK#unix://$NODE2_SOCK#" \
        "$STATE_DIR/kubelet.yaml" > "$NODE2_DIR/kubelet.yaml.tmp"
    echo "cgroupRoot: /$NODE2_CGROUP" >> "$NODE2_DIR/kubelet.yaml.tmp"
    mv "$NODE2_DIR/kubelet.yaml.tmp" "$NODE2_DIR/kubelet.yaml"
    sed -e "s#$STATE_DIR/kube-proxy.kubeconfig#$STATE_DIR/kube-proxy-2.kubeconfig#" \
        -e "s#^hostnameOverride: .*#hostnameOverride: $NODE2_NAME#" \
        -e "s#^clusterCIDR: .*#clusterCIDR: $NODE2_POD_CIDR#" \
        "$STATE_DIR/kube-proxy.yaml" > "$NODE2_DIR/kube-proxy.yaml.tmp"
    replace_if_changed "$NODE2_DIR/kube-proxy.yaml.tmp" "$NODE2_DIR/kube-proxy.yaml"
    kubeconfig "$STATE_DIR/kubelet-2-client.kubeconfig" kubelet-2-client "https://$NODE_IP:$APISERVER_PORT"
    kubeconfig "$STATE_DIR/kube-proxy-2.kubeconfig" kube-proxy "https://$NODE_IP:$APISERVER_PORT"
}

node2_ready() {
    [ "$(kc get node "$NODE2_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

node2_running() {
    local c
    for c in $NODE2_COMPONENTS; do pid_of "$c" >/dev/null || return 1; done
    node2_ready
}

up_node2() {
    local c stale=""
    for c in $NODE2_COMPONENTS; do
        [ -e "$RUN_DIR/$c.pid" ] && ! pid_of "$c" >/dev/null && stale="$stale $c"
    done
    if [ -n "$stale" ]; then
        say "node 2 was killed (not running:$stale): cleaning it up first"
        down_node2
        mkdir -p "$RUN_DIR"
    fi
    say "node 2: $NODE2_NAME at $NODE2_IP (network namespace $NODE2_NETNS), pods $NODE2_POD_CIDR"
    node2_network
    node2_cgroup_root
    node2_configs
    start_daemon containerd-2 nsenter --net="/run/netns/$NODE2_NETNS" -- \
        containerd --config "$NODE2_CD/config.toml"
    wait_up containerd-2 60 cri_serving "$NODE2_SOCK" containerd-2
    start_daemon kubelet-2 nsenter --net="/run/netns/$NODE2_NETNS" -- "$BIN_DIR/kubelet" \
        --config="$NODE2_DIR/kubelet.yaml" --kubeconfig="$STATE_DIR/kubelet-2-client.kubeconfig" \
        --root-dir="$NODE2_DIR/kubelet" --cert-dir="$NODE2_DIR/kubelet/pki" \
        --hostname-override="$NODE2_NAME" --node-ip="$NODE2_IP" \
        --pod-infra-container-image="$PAUSE_IMAGE" --v=1
    wait_up kubelet-2 90 n2 curl -fsS -m 2 http://127.0.0.1:10248/healthz
    start_daemon kube-proxy-2 nsenter --net="/run/netns/$NODE2_NETNS" -- "$BIN_DIR/kube-proxy" \
        --config="$NODE2_DIR/kube-proxy.yaml" --v=1
    wait_up kube-proxy-2 60 n2 curl -fsS -m 2 http://127.0.0.1:10256/healthz
    wait_for "node 2 Ready" 120 node2_ready ||
        fail_component kubelet-2 "node $NODE2_NAME is not Ready within 120 s: $(kc get node "$NODE2_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].message}' 2>&1)"
    say "node $NODE2_NAME is Ready"
}

node2_forget_routes() {
    ip route del unreachable "${NODE2_HOST_IP%.*}.0/24" metric 4000 2>/dev/null
    ip route del unreachable "$NODE2_POD_CIDR" metric 4000 2>/dev/null
    true
}

# "The node dies": SIGKILL to its kubelet, containerd, their shims and every
# process of its pods; its network stays (a dead machine's cable is still
# plugged in), so connections to its pods are refused, not routed elsewhere.
# (Subshell bodies with set +e: also called from up, which runs set -e, and
# what they kill or remove may be gone already.)
kill_node2() (
    set +e
    local c pid i pids
    for c in kubelet-2 containerd-2 kube-proxy-2; do
        pid=$(pid_of "$c") && kill -KILL "$pid" 2>/dev/null
    done
    for pid in $(pgrep -f -- "containerd-shim-runc-v2 .*-address $NODE2_SOCK( |\$)" 2>/dev/null); do
        kill -KILL "$pid" 2>/dev/null
    done
    for i in 1 2 3 4 5 6 7 8 9 10; do
        pids=$(cat $(find /sys/fs/cgroup/*/"$NODE2_CGROUP" -name cgroup.procs 2>/dev/null) /dev/null 2>/dev/null | sort -u)
        [ -z "$pids" ] && return 0
        kill -KILL $pids 2>/dev/null
        sleep 0.2
    done
    return 1
)

# Stop node 2 and remove everything of it from the host. Pods are not
# deleted through the API here (down does that for all nodes first; after a
# node loss its pods are already gone from the API or are the API's to
# finish): its containers are killed through its cgroup root.
down_node2() (
    set +e
    local c ns pid i t m
    for c in kube-proxy-2 kubelet-2; do
        if pid=$(pid_of "$c"); then say "stopping $c (pid $pid)"; kill -KILL "$pid" 2>/dev/null; fi
        rm -f "$RUN_DIR/$c.pid" "$RUN_DIR/$c.args"
    done
    if pid_of containerd-2 >/dev/null; then
        for t in $(ctr --address "$NODE2_SOCK" --namespace k8s.io tasks ls -q 2>/dev/null); do
            ctr --address "$NODE2_SOCK" --namespace k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1
        done
    fi
    if pid=$(pid_of containerd-2); then say "stopping containerd-2 (pid $pid)"; kill -KILL "$pid" 2>/dev/null; fi
    rm -f "$RUN_DIR/containerd-2.pid" "$RUN_DIR/containerd-2.args"
    for pid in $(pgrep -f -- "containerd-shim-runc-v2 .*-address $NODE2_SOCK( |\$)" 2>/dev/null); do
        kill -KILL "$pid" 2>/dev/null
    done
    # Every process left under the node's cgroup root (its pods).
    kill_node2 || say "processes left under cgroup /$NODE2_CGROUP"
    # Pod network namespaces of node 2 (addresses in its pod range).
    for ns in /run/netns/cni-*; do
        [ -e "$ns" ] || continue
        if nsenter --net="$ns" ip -4 -o addr show 2>/dev/null | grep -q " inet ${NODE2_POD_CIDR%.*}\."; then
            umount "$ns" 2>/dev/null || umount -l "$ns" 2>/dev/null
            rm -f "$ns"
        fi
    done
    # Mounts under node 2's directories (container rootfs, volumes).
    for i in 1 2 3; do
        m=$(findmnt -rn -o TARGET | grep -E "^($NODE2_DIR|$RUN_DIR/containerd-2)(/|$)" | sort -r)
        [ -z "$m" ] && break
        while IFS= read -r t; do
            umount "$t" 2>/dev/null || { [ $i = 3 ] && umount -l "$t" 2>/dev/null; }
        done <<< "$m"
    done
    # The namespace takes its bridge, veth end and iptables with it.
    if [ -e "/run/netns/$NODE2_NETNS" ]; then
        say "deleting network namespace $NODE2_NETNS"
        ip netns delete "$NODE2_NETNS" 2>/dev/null
    fi
    ip link del "$NODE2_VETH" 2>/dev/null
    ip route del "$NODE2_POD_CIDR" via "$NODE2_IP" 2>/dev/null
    iptables -w -D FORWARD -j TL-NODE2 2>/dev/null
    iptables -w -F TL-NODE2 2>/dev/null; iptables -w -X TL-NODE2 2>/dev/null
    iptables -w -t nat -D PREROUTING -j TL-NODE2 2>/dev/null
    iptables -w -t nat -F TL-NODE2 2>/dev/null; iptables -w -t nat -X TL-NODE2 2>/dev/null
    for c in $(node2_cgroups); do
        [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
    rm -rf "$RUN_DIR/containerd-2" "$NODE2_DIR/cni/ipam"
    true
)
