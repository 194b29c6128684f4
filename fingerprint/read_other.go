//go:build !linux

package fingerprint

import (
	"io"
	"os"
	"path/filepath"
	"slices"
)

// readOSFile reads at most limit bytes of a file, until EOF, starting with a
// buffer of hint bytes.
func readOSFile(name string, limit, hint int) ([]byte, error) {
	f, err := os.Open(filepath.FromSlash(name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 0, max(1, min(limit, hint)))
	for len(buf) < limit {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(limit, 2*cap(buf))-len(buf))
		}
		n, err := f.Read(buf[len(buf):min(cap(buf), limit)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}
