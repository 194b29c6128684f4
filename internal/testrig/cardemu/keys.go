package cardemu

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

type keyKind int

const (
	keyNone keyKind = iota
	keyEd25519
	keyP256
)

// cardKey is a private key held by an applet.
type cardKey struct {
	kind   keyKind
	signer crypto.Signer
	point  []byte // Ed25519: 32 bytes; P-256: 04 || X || Y (65 bytes)
}

// newCardKey wraps s; nil gives an empty key slot. It panics on key types
// the card does not emulate.
func newCardKey(s crypto.Signer, field string) cardKey {
	if s == nil {
		return cardKey{}
	}
	switch pub := s.Public().(type) {
	case ed25519.PublicKey:
		return cardKey{kind: keyEd25519, signer: s, point: bytes.Clone(pub)}
	case *ecdsa.PublicKey:
		if pub.Curve == elliptic.P256() {
			pt, err := pub.Bytes()
			if err == nil {
				return cardKey{kind: keyP256, signer: s, point: pt}
			}
		}
	}
	panic(fmt.Sprintf("cardemu: %s: unsupported key %T (want ed25519.PrivateKey or *ecdsa.PrivateKey on P-256)", field, s.Public()))
}

// sign signs data: Ed25519 signs it as the message, ECDSA treats it as the
// digest and returns the ASN.1 DER signature.
func (k cardKey) sign(data []byte) ([]byte, error) {
	if k.signer == nil {
		return nil, errors.New("cardemu: no key")
	}
	return k.signer.Sign(rand.Reader, data, crypto.Hash(0))
}

// ecdsaRaw converts an ASN.1 DER ECDSA signature to r || s, each size bytes.
func ecdsaRaw(der []byte, size int) ([]byte, error) {
	var sig struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &sig)
	if err != nil || len(rest) != 0 || sig.R.Sign() <= 0 || sig.S.Sign() <= 0 ||
		sig.R.BitLen() > 8*size || sig.S.BitLen() > 8*size {
		return nil, errors.New("cardemu: malformed ECDSA signature")
	}
	out := make([]byte, 2*size)
	sig.R.FillBytes(out[:size])
	sig.S.FillBytes(out[size:])
	return out, nil
}
