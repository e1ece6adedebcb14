//go:build tools

// Package tools pins the OpenBao main package (github.com/openbao/openbao,
// the v2.4.0 release commit) built by test/env/build.sh as `bao`.
package tools

import _ "github.com/openbao/openbao"
