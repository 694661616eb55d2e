//go:build tools

// Package tools pins the Helm command that lints and renders the chart in tests.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
