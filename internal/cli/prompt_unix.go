//go:build !windows

package cli

import "os"

// openTerminal opens the controlling terminal for a prompt: where to write
// the prompt and where to read the answer (the same file here).
func openTerminal() (in, out *os.File, err error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, nil, err
	}
	return tty, tty, nil
}
