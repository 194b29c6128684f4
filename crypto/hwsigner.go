package crypto

import (
	"crypto"
	"crypto/ed25519"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
)

// A signing key on a hardware key.
//
// A vendor identity may keep its Ed25519 signing key on a smart card or USB
// token instead of in the key file. Its key file then holds the card's
// public key and where to find it (HardwareKeyRef), beside the X25519 key
// for sealed fields, which stays in the file (encrypted at rest like any
// key file). Such an identity signs only once a Signer for the card is
// attached (AttachSigner); package crypto never talks to the card itself.

// Signer is an Ed25519 key held outside the process: Sign returns the
// 64-byte pure-EdDSA signature of message, or an error. The hardware-key
// package provides one for cards.
type Signer interface {
	Public() ed25519.PublicKey
	Sign(message []byte) ([]byte, error)
}

// HardwareKeyRef says where an identity's signing key lives: the card's
// type (dongle.Kind's value) and serial, both public and both untrusted
// until the card signs under the recorded public key.
type HardwareKeyRef struct {
	Kind   uint8
	Serial []byte
}

// maxHardwareSerial bounds the serial recorded in a key file.
const maxHardwareSerial = 64

// ErrNoSigner: the identity's signing key is on a hardware key and no
// Signer for it is attached.
var ErrNoSigner = errors.New("the signing key is on a hardware key that is not attached")

// NewHardwareIdentity makes an identity whose signing key is pub, held on
// the hardware key ref, with a fresh X25519 key from random (nil means
// crypto/rand).
func NewHardwareIdentity(role Role, pub ed25519.PublicKey, ref HardwareKeyRef, random io.Reader) (*Identity, error) {
	tmp, err := Generate(role, random) // for a fresh X25519 scalar
	if err != nil {
		return nil, err
	}
	return newHardwareIdentity(role, pub, ref, tmp.scalar)
}

func newHardwareIdentity(role Role, pub ed25519.PublicKey, ref HardwareKeyRef, scalar []byte) (*Identity, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, errors.New("wrong public key size")
	}
	if ref.Kind == 0 || len(ref.Serial) == 0 || len(ref.Serial) > maxHardwareSerial {
		return nil, errors.New("invalid hardware key reference")
	}
	id, err := newBoxIdentity(role, scalar)
	if err != nil {
		return nil, err
	}
	id.pub, err = NewPublic(role, pub, id.pub.Box[:])
	if err != nil {
		return nil, err
	}
	id.hw = &HardwareKeyRef{Kind: ref.Kind, Serial: append([]byte(nil), ref.Serial...)}
	return id, nil
}

// HardwareKey reports where the identity's signing key lives, if it is on
// a hardware key.
func (id *Identity) HardwareKey() (HardwareKeyRef, bool) {
	if id.hw == nil {
		return HardwareKeyRef{}, false
	}
	return HardwareKeyRef{Kind: id.hw.Kind, Serial: append([]byte(nil), id.hw.Serial...)}, true
}

// AttachSigner attaches the hardware key that holds the identity's signing
// key. It fails if the identity keeps its key in the file, or if s holds
// another key.
func (id *Identity) AttachSigner(s Signer) error {
	if id.hw == nil {
		return errors.New("the signing key is in the key file, not on a hardware key")
	}
	if s == nil {
		return errors.New("no signer")
	}
	if subtle.ConstantTimeCompare(s.Public(), id.pub.Sign) != 1 {
		return fmt.Errorf("the hardware key holds another signing key than vendor key %s", id.ID())
	}
	id.ext = s
	return nil
}

// signer returns the crypto.Signer go-cose signs with.
func (id *Identity) signer() (crypto.Signer, error) {
	switch {
	case id.sign != nil:
		return id.sign, nil
	case id.ext != nil:
		return extSigner{id.ext}, nil
	}
	return nil, ErrNoSigner
}

// extSigner adapts a Signer to crypto.Signer for pure Ed25519.
type extSigner struct{ s Signer }

func (e extSigner) Public() crypto.PublicKey { return e.s.Public() }

func (e extSigner) Sign(_ io.Reader, message []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts != nil && opts.HashFunc() != 0 {
		return nil, errors.New("a hardware signing key signs pure Ed25519 only")
	}
	sig, err := e.s.Sign(message)
	if err != nil {
		return nil, err
	}
	// Never release a signature the public key does not verify: a card
	// that signs wrongly must not produce licenses nobody can verify.
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(e.s.Public(), message, sig) {
		return nil, errors.New("the hardware key returned a signature that does not verify")
	}
	return sig, nil
}
