package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
)

// ErrDirNotPrivate means a directory meant for keys is open to other users
// and could not be made private.
var ErrDirNotPrivate = errors.New("directory is accessible to other users")

// MkdirPrivate creates dir (and its parents) with mode 0700, or makes an
// existing one private: a folder that holds private keys must not be
// listable or readable by other users, even if someone created it 0755
// beforehand. It reports whether it had to tighten the mode. A directory
// that is not ours, or that cannot be changed, is refused with
// ErrDirNotPrivate. (On Windows, modes do not apply: access lists do.)
func MkdirPrivate(dir string) (tightened bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	if runtime.GOOS == "windows" {
		return false, nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return false, err
	}
	if !fi.IsDir() {
		return false, &fs.PathError{Op: "mkdir", Path: dir, Err: fs.ErrExist}
	}
	if fi.Mode().Perm()&0o077 == 0 {
		return false, nil
	}
	if err := os.Chmod(dir, fi.Mode().Perm()&0o700); err != nil {
		return false, fmt.Errorf("%s (mode %04o): %w", dir, fi.Mode().Perm(), ErrDirNotPrivate)
	}
	return true, nil
}
