package desk

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/binary"
	"fmt"

	"github.com/airlock-offline/airlock/internal/attest"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/result"
)

// checkAttestation enforces what a hardware key proves when the vendor
// gave the token makers' roots (Desk.AttestationRoots): whatever type the
// key claims, the request must carry an attestation that chains to one of
// the roots (with the quirks of genuine YubiKey chains, see
// internal/attest), certifies the very public key the request enrols,
// says the key was generated on the token, and names the serial the
// request claims. A key that cannot be attested is refused: a generic
// card (identity only), an OpenPGP card without attestation (anything but
// a YubiKey 5.2+), a software card that merely calls itself "OpenPGP" or
// "PIV". Without roots there is nothing to check against, and an
// attestation is only carried along.
func (d *Desk) checkAttestation(hk *request.HardwareKey) error {
	if d.AttestationRoots == nil || hk == nil {
		return nil
	}
	fail := func(why string) error {
		return result.New(result.HardwareKeyProofFailed, "the hardware key's attestation does not hold: "+why)
	}
	var want attest.Applet
	switch hk.Type {
	case request.HWPIV:
		want = attest.PIV
	case request.HWOpenPGP:
		want = attest.OpenPGP
	default:
		return fail("a card known only by its UID cannot be attested, and this desk requires an attested key")
	}
	if len(hk.Attestation) == 0 {
		return fail("the request carries none, and this desk requires one (a key generated on a genuine token: a YubiKey's PIV applet, or its OpenPGP applet from firmware 5.2)")
	}
	st, err := d.AttestationRoots.Verify(hk.Attestation, d.now())
	if err != nil {
		return fail(err.Error())
	}
	if st.Applet != want {
		return fail("it attests another applet than the one enrolled")
	}
	if !st.Generated {
		return fail("the key was imported into the token, not generated on it")
	}
	// The serial the token's maker signed must be the one the request
	// claims: PIV, the 4-byte serial; OpenPGP, the serial after the
	// manufacturer id.
	serial := hk.Serial
	if want == attest.OpenPGP && len(serial) == 6 {
		serial = serial[2:]
	}
	if !st.HasSerial || len(serial) != 4 || binary.BigEndian.Uint32(serial) != st.Serial {
		return fail(fmt.Sprintf("it names token serial %d, not the serial the request claims", st.Serial))
	}
	if len(hk.PublicKey) < 2 {
		return fail("the request enrols no public key")
	}
	want2 := hk.PublicKey[1:]
	var got []byte
	switch k := st.PublicKey.(type) {
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
	if !bytes.Equal(got, want2) {
		return fail("it certifies another key than the one enrolled")
	}
	return nil
}
