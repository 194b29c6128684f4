//go:build !unix

package ledger

import "os"

// diskFull: not known on this platform.
func diskFull(dir string) bool { return false }

// writable reports whether path can be written, as far as its mode says.
func writable(path string) bool {
	fi, err := os.Stat(path)
	return err != nil || fi.Mode().Perm()&0o200 != 0
}
