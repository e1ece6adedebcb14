//go:build tools

// Package tools pins the Kubernetes main packages built by test/env/build.sh.
// Nothing here is compiled into a program of ours.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
