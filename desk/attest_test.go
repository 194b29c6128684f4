package desk_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/result"
)

// issue makes a certificate for pub signed by parent (self-signed when
// parent is nil).
func issue(t *testing.T, name string, pub any, parent *x509.Certificate, parentKey any, ca bool) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: t0.Add(-365 * day), NotAfter: t0.Add(3650 * day), IsCA: ca, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestAttestation(t *testing.T) {
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	root := issue(t, "Yubico PIV Root CA (test)", &rootKey.PublicKey, nil, rootKey, true)
	f9Key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f9 := issue(t, "Yubico PIV Attestation (test)", &f9Key.PublicKey, root, rootKey, true)
	cardKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := issue(t, "YubiKey PIV Attestation 9a", &cardKey.PublicKey, f9, f9Key, false)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	strangerRoot, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	stranger := issue(t, "not Yubico", &strangerRoot.PublicKey, nil, strangerRoot, true)
	strangerLeaf := issue(t, "forged", &cardKey.PublicKey, stranger, strangerRoot, false)

	wire := func(k *ecdsa.PublicKey) []byte {
		e, _ := k.ECDH()
		return append([]byte{2}, e.Bytes()...)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	chain := append(append([]byte(nil), leaf.Raw...), f9.Raw...)
	for _, tc := range []struct {
		name   string
		key    []byte
		attest []byte
		beside []byte // Desk.Attestation: travelled as its own file
		want   result.Code
	}{
		{"genuine", wire(&cardKey.PublicKey), chain, nil, result.Valid},
		{"genuine, as its own file", wire(&cardKey.PublicKey), nil, chain, result.Valid},
		{"own file for another key", wire(&otherKey.PublicKey), nil, chain, result.HardwareKeyProofFailed},
		{"no attestation", wire(&cardKey.PublicKey), nil, nil, result.HardwareKeyProofFailed},
		{"another key enrolled", wire(&otherKey.PublicKey), chain, nil, result.HardwareKeyProofFailed},
		{"another manufacturer", wire(&cardKey.PublicKey), strangerLeaf.Raw, nil, result.HardwareKeyProofFailed},
		{"garbage", wire(&cardKey.PublicKey), []byte("not a certificate"), nil, result.HardwareKeyProofFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.desk.AttestationRoots = pool
			e.desk.Attestation = tc.beside
			key := e.addLicense(func(l *ledger.License) { l.MaxMachines = 3 })
			p := e.params(machine(t, nil), key)
			p.HardwareKey = &request.HardwareKey{Type: request.HWPIV, Serial: []byte{0, 1, 2, 3}, PublicKey: tc.key, Attestation: tc.attest}
			_, err := e.sign(e.makeRequest(p, e.inst))
			if got := result.CodeOf(err); got != tc.want {
				t.Fatalf("got %s (%v), want %s", got, err, tc.want)
			}
		})
	}
}
