//go:build !unix

package e2e

import "os/exec"

func detach(cmd *exec.Cmd) {}
