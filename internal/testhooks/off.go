//go:build !airlocktest

// Package testhooks lets the end-to-end tests simulate another clock or
// another machine. The hooks exist only in binaries built with the
// "airlocktest" build tag; in release builds every hook reports "not set",
// whatever the environment says.
package testhooks

import (
	"time"

	"github.com/airlock-offline/airlock/fingerprint"
)

// Enabled reports whether this binary was built with test hooks.
const Enabled = false

// Now returns the simulated time, if any.
func Now() (time.Time, bool) { return time.Time{}, false }

// Source returns the simulated machine, if any.
func Source() fingerprint.Source { return nil }
