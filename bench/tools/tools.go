//go:build tools

// Package tools pins External Secrets Operator (the controller binary, its
// root main package) for benchmarks; built by `test/env/build.sh --eso`.
package tools

import _ "github.com/external-secrets/external-secrets"
