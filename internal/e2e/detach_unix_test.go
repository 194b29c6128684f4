//go:build unix

package e2e

import (
	"os/exec"
	"syscall"
)

// detach starts cmd in a new session, without a controlling terminal, so
// that a command that would prompt on /dev/tty fails instead of waiting.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}
