//go:build !cgo && !windows

package dongle

import (
	"errors"
	"strings"
	"testing"
)

// Without cgo the package builds, and every call says why it cannot work.
func TestNotBuiltIn(t *testing.T) {
	if Supported() {
		t.Fatal("Supported in a build without cgo")
	}
	s, err := Open(Options{})
	var e *Error
	if s != nil || !errors.Is(err, ErrNotBuiltIn) || !errors.As(err, &e) || !strings.Contains(e.Hint, "CGO_ENABLED=1") {
		t.Fatalf("Open: %v, %v", s, err)
	}
	if !strings.Contains(err.Error(), "PC/SC support not built in") {
		t.Fatalf("message %q", err)
	}
	if _, err := s.Readers(); !errors.Is(err, ErrNotBuiltIn) {
		t.Fatalf("Readers: %v", err)
	}
	if _, err := s.Identify(""); !errors.Is(err, ErrNotBuiltIn) {
		t.Fatalf("Identify: %v", err)
	}
	if _, _, _, err := s.Prove("", []byte{1}); !errors.Is(err, ErrNotBuiltIn) {
		t.Fatalf("Prove: %v", err)
	}
	if _, err := s.Find(KindOpenPGP, []byte{1}); !errors.Is(err, ErrNotBuiltIn) {
		t.Fatalf("Find: %v", err)
	}
	if _, err := s.SigningKey("", 0); !errors.Is(err, ErrNotBuiltIn) {
		t.Fatalf("SigningKey: %v", err)
	}
	if cs, err := s.Signer("", 0, make([]byte, 32)); cs != nil || !errors.Is(err, ErrNotBuiltIn) {
		t.Fatalf("Signer: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
