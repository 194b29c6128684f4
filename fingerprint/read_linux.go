//go:build linux

package fingerprint

import (
	"io/fs"
	"slices"
	"syscall"
)

// readOSFile reads at most limit bytes of a file, starting with a buffer of
// hint bytes. Files in /proc and /sys report a size of 0 or 4096 whatever
// their content, so it reads until EOF or the limit rather than trusting
// Stat.
//
// On Linux it uses plain open/read/close: os.Open also registers every file
// with the runtime's poller (four more system calls), which would double the
// cost of collection, a few dozen tiny reads.
func readOSFile(name string, limit, hint int) ([]byte, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer syscall.Close(fd)
	buf := make([]byte, 0, max(1, min(limit, hint)))
	for len(buf) < limit {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(limit, 2*cap(buf))-len(buf))
		}
		n, err := syscall.Read(fd, buf[len(buf):min(cap(buf), limit)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		if n == 0 {
			break
		}
		buf = buf[:len(buf)+n]
	}
	return buf, nil
}
