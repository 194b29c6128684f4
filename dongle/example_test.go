package dongle_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/airlock-offline/airlock/dongle"
)

// A proof checked without any card: the verifier keeps the challenge and
// the enrolled public key; the card's answer is the signature.
func ExampleVerifyProof() {
	// Enrolment recorded the card's public key in its wire form.
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	cardKey := ed25519.NewKeyFromSeed(seed) // stands in for the card
	wire := append([]byte{byte(dongle.AlgEd25519)}, cardKey.Public().(ed25519.PublicKey)...)

	alg, pub, err := dongle.ParseWirePublicKey(wire)
	if err != nil {
		panic(err)
	}
	challenge, err := dongle.Challenge(nil, []byte("activation 0001"))
	if err != nil {
		panic(err)
	}
	sig := ed25519.Sign(cardKey, challenge) // what Session.Prove returns

	fmt.Println(alg, dongle.VerifyProof(alg, pub, challenge, sig))
	err = dongle.VerifyProof(alg, pub, []byte("another challenge"), sig)
	fmt.Println(errors.Is(err, dongle.ErrProof))
	// Output:
	// ed25519 <nil>
	// true
}

// What a command prints for a failure: the message and the hint.
func ExampleError() {
	err := error(&dongle.Error{Op: "identify", Reader: "Yubico YubiKey OTP+FIDO+CCID 00 00",
		Err: dongle.ErrSharingViolation, Hint: dongle.ErrSharingViolation.Hint})
	var e *dongle.Error
	if errors.As(err, &e) {
		fmt.Println("airlock: error:", e)
		fmt.Println("airlock: hint:", e.Hint)
	}
	fmt.Println(errors.Is(err, dongle.ErrSharingViolation))
	// Output:
	// airlock: error: dongle: identify (reader "Yubico YubiKey OTP+FIDO+CCID 00 00"): another program is using the smart card reader (sharing violation)
	// airlock: hint: close the program that holds the card; gpg's scdaemon often does: gpg-connect-agent "SCD KILLSCD" /bye; to find others look for a running scdaemon or another pcscd client: fuser -v /dev/bus/usb/*/* or lsof | grep pcscd
	// true
}
