//go:build windows

package cli

import "os"

// openTerminal opens the console for a prompt, as age does on Windows:
// CONIN$ to read the answer (term.ReadPassword turns echo off on it) and
// CONOUT$ to write the prompt, whatever stdin and stdout are redirected to.
func openTerminal() (in, out *os.File, err error) {
	in, err = os.OpenFile("CONIN$", os.O_RDWR, 0)
	if err != nil {
		return nil, nil, err
	}
	out, err = os.OpenFile("CONOUT$", os.O_WRONLY, 0)
	if err != nil {
		in.Close()
		return nil, nil, err
	}
	return in, out, nil
}
