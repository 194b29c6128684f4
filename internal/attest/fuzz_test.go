package attest

import (
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"testing"
)

// FuzzVerify: attestation bytes come from requests, untrusted. Verify
// never panics, fails only with *Error, and a success ends at a root of
// the pool. Seeds: a genuine-shaped chain (the YubiKey 4 quirks), the
// bundled Yubico certificates, and their concatenation.
func FuzzVerify(f *testing.F) {
	rk, dk := ed25519.NewKeyFromSeed(make([]byte, 32)), ed25519.NewKeyFromSeed(append(make([]byte, 31), 1))
	sk := ed25519.NewKeyFromSeed(append(make([]byte, 31), 2))
	root := issue(f, nil, rk, rk.Public(), "Fuzz Root (pathlen 0)", 2, nil, later)
	device := issue(f, root, dk, dk.Public(), "Yubico PIV Attestation", 0, nil, later)
	leaf := issue(f, device, nil, sk.Public(), "YubiKey PIV Attestation 9a", 0, pivExts(f, 12345678), later)
	seeds := [][]byte{concat(leaf, device), leaf.cert.Raw}
	y := Yubico()
	for _, c := range append(y.roots, y.intermediates...) {
		seeds = append(seeds, c.Raw, append(append([]byte(nil), leaf.cert.Raw...), c.Raw...))
	}
	if len(seeds) == 0 {
		f.Fatal("no seeds")
	}
	for _, s := range seeds {
		f.Add(s)
	}
	pool := NewPool(append([]*x509.Certificate{root.cert}, y.roots...), y.intermediates)
	f.Fuzz(func(t *testing.T, der []byte) {
		st, err := pool.Verify(der, now)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		last := st.Chain[len(st.Chain)-1]
		for _, r := range pool.roots {
			if r.Equal(last) {
				return
			}
		}
		t.Fatal("a verified chain that does not end at a root")
	})
}
