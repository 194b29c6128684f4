package cli

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-offline/airlock/dongle"
)

func TestReadLimited(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	if err := os.WriteFile(small, []byte("1234\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u := &UI{Stdin: bytes.NewReader(bytes.Repeat([]byte{'x'}, MaxSecretFile+1))}
	if b, err := u.ReadLimited(small, "the PIN file", MaxSecretFile); err != nil || string(b) != "1234\n" {
		t.Fatalf("small file: %q, %v", b, err)
	}
	var tl *TooLargeError
	if _, err := u.ReadLimited("-", "the PIN file", MaxSecretFile); !errors.As(err, &tl) || !strings.Contains(err.Error(), "(standard input) is larger than 4096 bytes") {
		t.Fatalf("stdin over the limit: %v", err)
	}
	if _, err := u.ReadLimited(filepath.Join(dir, "missing"), "the PIN file", MaxSecretFile); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		if _, err := ReadFileLimited("/dev/zero", "the PIN file", MaxSecretFile); !errors.As(err, &tl) {
			t.Fatalf("/dev/zero: %v", err)
		}
	}
}

// The PIN file is read through the same bound: /dev/zero is refused, not
// read until memory runs out.
func TestPINFileBounded(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	o := (&UI{Prog: "airlock"}).DongleOptions("/dev/zero", "")
	_, err := o.PIN("reader", dongle.KindOpenPGP, 3)
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Limit != MaxSecretFile {
		t.Fatalf("PIN from /dev/zero: %v", err)
	}
	pin := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pin, []byte("123456\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := (&UI{}).DongleOptions(pin, "").PIN("reader", dongle.KindOpenPGP, 3)
	if err != nil || string(got) != "123456" {
		t.Fatalf("PIN = %q, %v", got, err)
	}
}
