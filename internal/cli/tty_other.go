//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package cli

import "os"

// charMode is not available here: a terminal delivers scanned text line by
// line.
func charMode(*os.File) (func(), bool) { return nil, false }
