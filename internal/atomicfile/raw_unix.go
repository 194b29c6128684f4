//go:build unix

package atomicfile

import (
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// writeTemp creates the temporary file path with data, not synced (unless
// this platform syncs file by file). Raw system calls: os.OpenFile's
// poller registration and os.Rename's Lstat cost more than the write, ten
// thousand times in a batch.
func writeTemp(path string, data []byte, perm fs.FileMode) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	for b := data; len(b) > 0; {
		n, err := unix.Write(fd, b)
		if err != nil {
			unix.Close(fd)
			return &os.PathError{Op: "write", Path: path, Err: err}
		}
		b = b[n:]
	}
	if !syncfsAvailable {
		if err := unix.Fsync(fd); err != nil {
			unix.Close(fd)
			return &os.PathError{Op: "sync", Path: path, Err: err}
		}
	}
	if err := unix.Close(fd); err != nil {
		return &os.PathError{Op: "close", Path: path, Err: err}
	}
	return nil
}

// rename renames from over to (a file: renaming over a folder fails).
func rename(from, to string) error {
	if err := unix.Rename(from, to); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}
