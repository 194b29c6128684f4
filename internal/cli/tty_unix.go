//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package cli

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// charMode switches the terminal f to reading character by character
// (canonical line editing off; echo, Ctrl-C and CR-to-LF kept), so that a
// scanner that ends its codes with Tab, or with nothing, is read as it
// types, not when a line is full. It returns a function that restores the
// terminal, also run on Ctrl-C or SIGTERM; ok is false if f is not a
// terminal or its mode cannot be changed.
func charMode(f *os.File) (restore func(), ok bool) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return nil, false
	}
	t := *old
	t.Lflag &^= unix.ICANON
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, &t); err != nil {
		return nil, false
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	put := func() { unix.IoctlSetTermios(fd, ioctlSetTermios, old) }
	go func() {
		select {
		case s := <-sig:
			put()
			signal.Stop(sig)
			// Die of the signal, as without this handler.
			if p, err := os.FindProcess(os.Getpid()); err == nil {
				p.Signal(s)
			}
		case <-done:
		}
	}()
	return func() {
		signal.Stop(sig)
		close(done)
		put()
	}, true
}
