//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package cardemu

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockSlot takes an exclusive advisory lock (flock) for the vpcd slot at
// addr, waiting up to wait while another card (in this process or another)
// holds it. The returned func releases it.
func lockSlot(addr string, wait time.Duration) (func(), error) {
	path := slotLockPath(addr)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("cardemu: slot lock: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("cardemu: slot lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("cardemu: vpcd slot %s still busy after %v: another card holds the lock %s", addr, wait, path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
