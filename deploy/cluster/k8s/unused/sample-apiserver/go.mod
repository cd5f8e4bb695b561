// Empty stand-in: k8s.io/kubernetes requires this module only for its own
// integration tests, which we do not build.
module k8s.io/sample-apiserver

go 1.22
