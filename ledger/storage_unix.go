//go:build unix

package ledger

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// diskFull reports whether the file system of dir has no space left for
// an unprivileged writer.
func diskFull(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	return st.Bavail == 0
}

// writable reports whether path can be written: false on a read-only
// mount (for root too) or without write permission.
func writable(path string) bool {
	err := unix.Access(path, unix.W_OK)
	return err == nil || !(errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM))
}
