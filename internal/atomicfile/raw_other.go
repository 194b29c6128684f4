//go:build !unix

package atomicfile

import (
	"io/fs"
	"os"
)

// writeTemp creates the temporary file path with data, synced.
func writeTemp(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func rename(from, to string) error { return os.Rename(from, to) }
