package desk_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/internal/attest"
	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/result"
)

// issue makes a certificate for pub signed by parent (self-signed when
// parent is nil). bc: basicConstraints CA true (else none at all, as on
// some YubiKey 4 device certificates).
func issue(t *testing.T, name string, pub any, parent *x509.Certificate, parentKey any, bc bool, exts ...pkix.Extension) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: t0.Add(-365 * day), NotAfter: t0.Add(3650 * day), IsCA: bc, BasicConstraintsValid: bc,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtraExtensions: exts}
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

// serialExt is a YubiKey attestation's serial extension: PIV (arc 3) or
// OpenPGP (arc 5).
func serialExt(arc int, serial int64) pkix.Extension {
	v, _ := asn1.Marshal(serial)
	return pkix.Extension{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, arc, 7}, Value: v}
}

var pgpGenerated = pkix.Extension{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 5, 2}, Value: []byte{1}}
var pgpImported = pkix.Extension{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 5, 2}, Value: []byte{0}}

// With attestation roots, every key must bring an attestation that chains
// to them, certifies the enrolled key and names the claimed serial,
// whatever type it claims to be.
func TestAttestation(t *testing.T) {
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	root := issue(t, "Yubico PIV Root CA (test)", &rootKey.PublicKey, nil, rootKey, true)
	f9Key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f9 := issue(t, "Yubico PIV Attestation (test)", &f9Key.PublicKey, root, rootKey, false) // no basicConstraints (YubiKey 4)
	cardKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := issue(t, "YubiKey PIV Attestation 9a", &cardKey.PublicKey, f9, f9Key, false, serialExt(3, 0x00010203))
	pgpLeaf := issue(t, "YubiKey OPGP Attestation AUT", &cardKey.PublicKey, f9, f9Key, false, serialExt(5, 0x00010203), pgpGenerated)
	pgpImportedLeaf := issue(t, "YubiKey OPGP Attestation AUT", &cardKey.PublicKey, f9, f9Key, false, serialExt(5, 0x00010203), pgpImported)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	strangerRoot, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	stranger := issue(t, "not Yubico", &strangerRoot.PublicKey, nil, strangerRoot, true)
	strangerLeaf := issue(t, "forged", &cardKey.PublicKey, stranger, strangerRoot, false, serialExt(3, 0x00010203))

	wire := func(k *ecdsa.PublicKey) []byte {
		e, _ := k.ECDH()
		return append([]byte{2}, e.Bytes()...)
	}
	pool := attest.NewPool([]*x509.Certificate{root}, nil)
	chain := func(l *x509.Certificate) []byte { return append(append([]byte(nil), l.Raw...), f9.Raw...) }
	piv, pgp, generic := request.HWPIV, request.HWOpenPGP, request.HWGeneric
	serial := []byte{0, 1, 2, 3}
	pgpSerial := []byte{0, 6, 0, 1, 2, 3}
	for _, tc := range []struct {
		name   string
		typ    uint8
		serial []byte
		key    []byte
		attest []byte
		want   result.Code
	}{
		{"genuine piv", piv, serial, wire(&cardKey.PublicKey), chain(leaf), result.Valid},
		{"genuine openpgp", pgp, pgpSerial, wire(&cardKey.PublicKey), chain(pgpLeaf), result.Valid},
		{"no attestation", piv, serial, wire(&cardKey.PublicKey), nil, result.HardwareKeyProofFailed},
		{"openpgp without attestation", pgp, pgpSerial, wire(&cardKey.PublicKey), nil, result.HardwareKeyProofFailed},
		{"openpgp key imported", pgp, pgpSerial, wire(&cardKey.PublicKey), chain(pgpImportedLeaf), result.HardwareKeyProofFailed},
		{"piv attestation for an openpgp claim", pgp, pgpSerial, wire(&cardKey.PublicKey), chain(leaf), result.HardwareKeyProofFailed},
		{"generic card", generic, serial, nil, nil, result.HardwareKeyProofFailed},
		{"another serial claimed", piv, []byte{0, 1, 2, 4}, wire(&cardKey.PublicKey), chain(leaf), result.HardwareKeyProofFailed},
		{"another key enrolled", piv, serial, wire(&otherKey.PublicKey), chain(leaf), result.HardwareKeyProofFailed},
		{"another manufacturer", piv, serial, wire(&cardKey.PublicKey), strangerLeaf.Raw, result.HardwareKeyProofFailed},
		{"garbage", piv, serial, wire(&cardKey.PublicKey), []byte("not a certificate"), result.HardwareKeyProofFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.desk.AttestationRoots = pool
			key := e.addLicense(func(l *ledger.License) { l.MaxMachines = 3 })
			p := e.params(machine(t, nil), key)
			p.HardwareKey = &request.HardwareKey{Type: tc.typ, Serial: tc.serial, PublicKey: tc.key, Attestation: tc.attest}
			_, err := e.sign(e.makeRequest(p, e.inst))
			if got := result.CodeOf(err); got != tc.want {
				t.Fatalf("got %s (%v), want %s", got, err, tc.want)
			}
		})
	}
}
