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
// types, not when a line is full. It returns a function that drops what
// is still typed and restores the terminal (on Ctrl-C or SIGTERM it is
// restored too); ok is false if f is not a terminal or its mode cannot be
// changed.
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
		// Drop what the scanner typed after the message was whole (its
		// line end), so that it does not answer the next prompt: read
		// until nothing comes for 0.2 s.
		t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 0, 2
		if unix.IoctlSetTermios(fd, ioctlSetTermios, &t) == nil {
			var b [256]byte
			for n := 0; n < 64; n++ {
				if k, err := unix.Read(fd, b[:]); k <= 0 || err != nil {
					break
				}
			}
		}
		put()
	}, true
}
