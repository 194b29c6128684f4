//go:build unix

package atomicfile

import (
	"errors"
	"syscall"
)

// processRuns reports whether the process pid exists (as far as this
// process can tell: one of another user counts as running).
func processRuns(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || !errors.Is(err, syscall.ESRCH)
}
