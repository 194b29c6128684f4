package desk

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"fmt"

	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/result"
)

// checkAttestation verifies a PIV token's attestation when the vendor gave
// the manufacturer's roots (Desk.AttestationRoots): the attestation
// certificate (leaf, then the slot F9 intermediate) must chain to a root
// and certify the very public key the request enrols. Without roots there
// is nothing to check against, and the attestation is only carried along.
func (d *Desk) checkAttestation(hk *request.HardwareKey) error {
	if d.AttestationRoots == nil || hk == nil || hk.Type != request.HWPIV {
		return nil
	}
	fail := func(why string) error {
		return result.New(result.HardwareKeyProofFailed, "the hardware key's attestation does not hold: "+why)
	}
	att := hk.Attestation
	if len(att) == 0 {
		att = d.Attestation // it travelled as its own file
	}
	if len(att) == 0 {
		return fail("the request carries none, and this desk requires one (give it with --attestation FILE if it travelled as its own file)")
	}
	certs, err := x509.ParseCertificates(att)
	if err != nil || len(certs) == 0 {
		return fail("not a certificate chain")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: d.AttestationRoots, Intermediates: inter, CurrentTime: d.now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fail("it does not chain to the manufacturer's root")
	}
	want := hk.PublicKey[1:]
	var got []byte
	switch k := certs[0].PublicKey.(type) {
	case ed25519.PublicKey:
		got = k
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return fail("unsupported curve")
		}
		e, err := k.ECDH()
		if err != nil {
			return fail("invalid key")
		}
		got = e.Bytes()
	default:
		return fail(fmt.Sprintf("unsupported key type %T", k))
	}
	if !bytes.Equal(got, want) {
		return fail("it certifies another key than the one enrolled")
	}
	return nil
}
