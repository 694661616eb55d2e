//go:build tools

// Package tools pins the KWOK command that plays the kubelet in the local environment.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
