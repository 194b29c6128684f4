//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package cardemu

import "time"

// lockSlot does nothing where flock is unavailable (vpcd runs on Linux and
// macOS only).
func lockSlot(string, time.Duration) (func(), error) { return func() {}, nil }
