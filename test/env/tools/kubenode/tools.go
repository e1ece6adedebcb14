//go:build tools

// Package tools pins the Kubernetes node and control-plane main packages that
// test/cluster/build-node.sh builds for the cluster test (docs/cluster-testing.md):
// the same k8s.io/kubernetes version as test/env/tools/kube. Nothing here is
// compiled into a program of ours.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
