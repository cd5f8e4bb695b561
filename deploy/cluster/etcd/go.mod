// A small module of ours that builds etcd's server at the version pinned in
// ../lib.sh (Debian's etcd-server 3.4 is older than Kubernetes 1.31 expects).
module turbolift.example/cluster/etcd

go 1.24

require go.etcd.io/etcd/server/v3 v3.5.24
