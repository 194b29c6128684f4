//go:build airlocktest

package testhooks

import (
	"os"
	"time"

	"github.com/airlock-offline/airlock/fingerprint"
)

// Enabled reports whether this binary was built with test hooks.
const Enabled = true

// Now returns the time in AIRLOCK_TEST_NOW (RFC 3339), if set.
func Now() (time.Time, bool) {
	s := os.Getenv("AIRLOCK_TEST_NOW")
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic("AIRLOCK_TEST_NOW is not RFC 3339: " + err.Error())
	}
	return t, true
}

// Source returns a fixture machine rooted at AIRLOCK_TEST_MACHINE, if set.
func Source() fingerprint.Source {
	if d := os.Getenv("AIRLOCK_TEST_MACHINE"); d != "" {
		return fingerprint.DirSource(d, "linux")
	}
	return nil
}
