package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/pflag"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/testhooks"
)

// Limits on the small files a command reads. Every read is bounded: a
// passphrase file that is really /dev/zero must fail at once, not grow the
// process until it is killed.
const (
	MaxSecretFile = 4 << 10  // passphrases, PINs, licensee secrets
	MaxKeyFile    = 16 << 10 // vendor.key, vendor.pub, installation keys, pinned keys
	MaxURLFile    = 4 << 10  // ledger.url
)

// TooLargeError says that a file (or standard input) is over its limit.
type TooLargeError struct {
	What  string // "the passphrase file"
	Path  string // as given; "-" for standard input
	Limit int
}

func (e *TooLargeError) Error() string {
	if e.Path == "-" {
		return fmt.Sprintf("%s (standard input) is larger than %d bytes", e.What, e.Limit)
	}
	return fmt.Sprintf("%s %q is larger than %d bytes", e.What, e.Path, e.Limit)
}

// ReadLimited reads at most limit bytes of path ("-" is stdin); what names
// the file in errors ("the passphrase file"). A missing file wraps
// fs.ErrNotExist.
func (u *UI) ReadLimited(path, what string, limit int) ([]byte, error) {
	var r io.Reader
	if path == "-" {
		if u.Stdin == nil {
			return nil, fmt.Errorf("cannot read %s from standard input", what)
		}
		if err := u.ClaimStdin(what); err != nil {
			return nil, err
		}
		r = u.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%s %q does not exist: %w", what, path, fs.ErrNotExist)
			}
			return nil, fmt.Errorf("cannot open %s %q: %w", what, path, errors.Unwrap(err))
		}
		defer f.Close()
		r = f
	}
	return readLimited(r, path, what, limit)
}

func readLimited(r io.Reader, path, what string, limit int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", what, err)
	}
	if len(b) > limit {
		clear(b)
		return nil, &TooLargeError{What: what, Path: path, Limit: limit}
	}
	return b, nil
}

// ReadFileLimited is ReadLimited for a named file (never stdin).
func ReadFileLimited(path, what string, limit int) ([]byte, error) {
	return (&UI{}).ReadLimited(path, what, limit)
}

// WorkFactorFlag adds the hidden --scrypt-work-factor flag to test builds
// only (it makes key files fast to open in tests, and weak): release
// builds always use crypto.DefaultWorkFactor.
func WorkFactorFlag(fs *pflag.FlagSet) *int {
	wf := crypto.DefaultWorkFactor
	if testhooks.Enabled {
		fs.IntVar(&wf, "scrypt-work-factor", wf, "")
		_ = fs.MarkHidden("scrypt-work-factor")
	}
	return &wf
}

// MinPassphrase is the passphrase length below which a new key file gets
// a warning: scrypt slows each guess, it cannot save a short passphrase.
const MinPassphrase = 12

// WarnWeakPassphrase warns when a new key's passphrase is very short.
func WarnWeakPassphrase(u *UI, pass []byte) {
	if n := len([]rune(string(pass))); n < MinPassphrase {
		u.Warnf("the passphrase has only %d characters: a key file protected by it can be cracked by whoever copies it; use %d or more (a few random words)", n, MinPassphrase)
	}
}
