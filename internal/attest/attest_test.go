package attest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"strings"
	"testing"
	"time"
)

var (
	t0    = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	now   = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	later = time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
)

func key(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type ca struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// issue makes a certificate for pub named cn, issued by parent (nil:
// self-signed with k). bc: 0 no basicConstraints, 1 CA, 2 CA with pathlen 0.
func issue(t testing.TB, parent *ca, k crypto.Signer, pub crypto.PublicKey, cn string, bc int, exts []pkix.Extension, notAfter time.Time) *ca {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: t0, NotAfter: notAfter, ExtraExtensions: exts, KeyUsage: x509.KeyUsageDigitalSignature}
	switch bc {
	case 1:
		tmpl.BasicConstraintsValid, tmpl.IsCA, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
		tmpl.MaxPathLen = -1
	case 2:
		tmpl.BasicConstraintsValid, tmpl.IsCA, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
		tmpl.MaxPathLen, tmpl.MaxPathLenZero = 0, true
	}
	issuerCert, issuerKey := tmpl, k
	if parent != nil {
		issuerCert, issuerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuerCert, pub, issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &ca{c, k}
}

func pivExts(t testing.TB, serial int64) []pkix.Extension {
	s, err := asn1.Marshal(serial)
	if err != nil {
		t.Fatal(err)
	}
	return []pkix.Extension{{Id: oidPIVFirmware, Value: []byte{5, 7, 4}}, {Id: oidPIVSerial, Value: s}}
}

func concat(cs ...*ca) []byte {
	var b []byte
	for _, c := range cs {
		b = append(b, c.cert.Raw...)
	}
	return b
}

// The three quirks of genuine YubiKey chains, reproduced with generated
// certificates: crypto/x509 refuses each, Verify accepts each and reads
// the statement.
func TestYubiKeyQuirks(t *testing.T) {
	slotKey := key(t)

	// YubiKey 4 made before 2018: root with pathlen 0, device certificate
	// without basicConstraints.
	rk, dk := key(t), key(t)
	root := issue(t, nil, rk, rk.Public(), "Test U2F Root (pathlen 0)", 2, nil, later)
	device := issue(t, root, dk, dk.Public(), "Yubico PIV Attestation", 0, nil, later)
	leaf := issue(t, device, nil, slotKey.Public(), "YubiKey PIV Attestation 9a", 0, pivExts(t, 4000001), later)

	// Firmware 5.7.4+: root → intermediate → PIV issuer → device → key,
	// and the token gives only the last two.
	r1k, ik, pk, d2k := key(t), key(t), key(t), key(t)
	root1 := issue(t, nil, r1k, r1k.Public(), "Test Attestation Root 1", 1, nil, later)
	inter := issue(t, root1, ik, ik.Public(), "Test Attestation Intermediate B 1", 1, nil, later)
	pivCA := issue(t, inter, pk, pk.Public(), "Test PIV Attestation B 1", 1, nil, later)
	device2 := issue(t, pivCA, d2k, d2k.Public(), "Yubico PIV Attestation", 1, nil, later)
	leaf2 := issue(t, device2, nil, slotKey.Public(), "YubiKey PIV Attestation 9a", 0, pivExts(t, 30000002), later)

	for name, tc := range map[string]struct {
		der   []byte
		pool  *Pool
		quirk string
	}{
		"pathlen 0 root, no basicConstraints": {concat(leaf, device), NewPool([]*x509.Certificate{root.cert}, nil), ""},
		"intermediates not on the token":      {concat(leaf2, device2), NewPool([]*x509.Certificate{root1.cert}, []*x509.Certificate{inter.cert, pivCA.cert}), ""},
	} {
		t.Run(name, func(t *testing.T) {
			certs, _ := x509.ParseCertificates(tc.der)
			rp := x509.NewCertPool()
			for _, r := range tc.pool.roots {
				rp.AddCert(r)
			}
			ip := x509.NewCertPool()
			for _, c := range certs[1:] {
				ip.AddCert(c)
			}
			if _, err := certs[0].Verify(x509.VerifyOptions{Roots: rp, Intermediates: ip, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
				t.Fatal("crypto/x509 accepts this chain: the test does not reproduce the quirk")
			}
			st, err := tc.pool.Verify(tc.der, now)
			if err != nil {
				t.Fatal(err)
			}
			if st.Applet != PIV || !st.HasSerial || !st.Generated || st.Firmware != [3]byte{5, 7, 4} {
				t.Fatalf("statement %+v", st)
			}
			if !slotKey.PublicKey.Equal(st.PublicKey) {
				t.Fatal("statement names another key")
			}
		})
	}

	// What must fail.
	ok2 := key(t)
	otherRoot := issue(t, nil, ok2, ok2.Public(), "Test U2F Root (pathlen 0)", 2, nil, later) // same name, other key
	fk := key(t)
	fakeDevice := issue(t, nil, fk, fk.Public(), "Yubico PIV Attestation", 0, nil, later) // the device's name, another key
	forged := issue(t, fakeDevice, nil, slotKey.Public(), "YubiKey PIV Attestation 9a", 0, pivExts(t, 1), later)
	expired := issue(t, device, nil, slotKey.Public(), "YubiKey PIV Attestation 9a", 0, pivExts(t, 1), now.Add(-time.Hour))
	noSerial := issue(t, device, nil, slotKey.Public(), "YubiKey PIV Attestation 9a", 0, nil, later)
	self := issue(t, nil, dk, dk.Public(), "Yubico PIV Attestation", 1, nil, later)
	for name, tc := range map[string]struct {
		der  []byte
		pool *Pool
		want string
	}{
		"another root of the same name": {concat(leaf, device), NewPool([]*x509.Certificate{otherRoot.cert}, nil), "does not chain"},
		"no roots":                      {concat(leaf, device), NewPool(nil, nil), "no trusted roots"},
		"intermediates missing":         {concat(leaf2, device2), NewPool([]*x509.Certificate{root1.cert}, nil), "does not chain"},
		"forged signature":              {concat(forged, device), NewPool([]*x509.Certificate{root.cert}, nil), "does not chain"},
		"expired":                       {concat(expired, device), NewPool([]*x509.Certificate{root.cert}, nil), "is valid from"},
		"no serial":                     {concat(noSerial, device), NewPool([]*x509.Certificate{root.cert}, nil), "serial"},
		"self-signed device":            {concat(issue(t, self, nil, slotKey.Public(), "k", 0, pivExts(t, 1), later), self), NewPool([]*x509.Certificate{root.cert}, nil), "not a trusted root"},
		"garbage":                       {[]byte("not DER"), NewPool([]*x509.Certificate{root.cert}, nil), "not a certificate chain"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tc.pool.Verify(tc.der, now)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// The bundled Yubico certificates parse, and every intermediate chains to
// a bundled root.
func TestYubicoBundle(t *testing.T) {
	p := Yubico()
	if len(p.roots) != 4 || len(p.intermediates) != 5 {
		t.Fatalf("%d roots, %d intermediates", len(p.roots), len(p.intermediates))
	}
	for _, c := range p.intermediates {
		if _, err := p.path([]*x509.Certificate{c}, now); err != nil {
			t.Errorf("%s: %v", c.Subject.CommonName, err)
		}
	}
}
