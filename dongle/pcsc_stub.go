//go:build !cgo && !windows

package dongle

// builtIn: this build has no PC/SC support (no cgo for libpcsclite); every
// Session call fails with ErrNotBuiltIn.
const builtIn = false

func establishPCSC() (pcscContext, error) { return nil, ErrNotBuiltIn }
