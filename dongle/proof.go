package dongle

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"io"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// ChallengeSize is the size of a challenge made by Challenge.
const ChallengeSize = 32

// MaxChallenge is the largest challenge Prove sends to a card.
const MaxChallenge = 128

// challengeTag separates airlock's challenges from anything else a card's
// authentication key might sign (SSH, TLS client authentication, ...).
const challengeTag = "airlock hardware key proof v1"

// Challenge returns a fresh challenge for Session.Prove: SHA-256 of the
// domain tag "airlock hardware key proof v1", a zero byte, context (for
// example the license's activation id) and 32 bytes from random (nil means
// crypto/rand). The nonce comes last and has a fixed size, so context needs
// no length prefix. Keep the challenge until the proof has been verified.
func Challenge(random io.Reader, context []byte) ([]byte, error) {
	if random == nil {
		random = rand.Reader
	}
	var nonce [32]byte
	if _, err := io.ReadFull(random, nonce[:]); err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write([]byte(challengeTag))
	h.Write([]byte{0})
	h.Write(context)
	h.Write(nonce[:])
	return h.Sum(nil), nil
}

// VerifyProof checks that sig is the hardware key's answer to challenge:
// Ed25519 over the challenge itself, or ECDSA P-256 over SHA-256(challenge)
// with the signature as r||s (32 bytes each). pub is the key's public key
// as Identity.PublicKey holds it. Any failure, including a malformed key
// or signature, is ErrProof. It does no I/O and needs no cgo.
func VerifyProof(alg Algorithm, pub, challenge, sig []byte) error {
	if err := checkPublicKey(alg, pub); err != nil {
		return cause(ErrProof, err)
	}
	switch alg {
	case AlgEd25519:
		if len(sig) != ed25519.SignatureSize || !ed25519.Verify(ed25519.PublicKey(pub), challenge, sig) {
			return ErrProof
		}
		return nil
	case AlgP256:
		key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub)
		if err != nil {
			return cause(ErrProof, err)
		}
		der, ok := rawToDER(sig)
		if !ok {
			return ErrProof
		}
		digest := sha256.Sum256(challenge)
		if !ecdsa.VerifyASN1(key, digest[:], der) {
			return ErrProof
		}
		return nil
	}
	return ErrProof
}

// rawToDER turns a 64-byte r||s P-256 signature into ASN.1 DER.
func rawToDER(sig []byte) ([]byte, bool) {
	if len(sig) != 64 {
		return nil, false
	}
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		addASN1Unsigned(b, sig[:32])
		addASN1Unsigned(b, sig[32:])
	})
	der, err := b.Bytes()
	return der, err == nil
}

// addASN1Unsigned adds a big-endian unsigned integer as a minimal ASN.1
// INTEGER.
func addASN1Unsigned(b *cryptobyte.Builder, n []byte) {
	for len(n) > 1 && n[0] == 0 {
		n = n[1:]
	}
	b.AddASN1(asn1.INTEGER, func(b *cryptobyte.Builder) {
		if len(n) > 0 && n[0]&0x80 != 0 {
			b.AddUint8(0)
		}
		b.AddBytes(n)
	})
}

// derToRaw turns an ASN.1 DER ECDSA P-256 signature (as PIV tokens return
// it) into r||s, 32 bytes each.
func derToRaw(der []byte) ([]byte, bool) {
	var r, s cryptobyte.String
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1(&r, asn1.INTEGER) || !seq.ReadASN1(&s, asn1.INTEGER) || !seq.Empty() {
		return nil, false
	}
	out := make([]byte, 64)
	if !putUnsigned(out[:32], r) || !putUnsigned(out[32:], s) {
		return nil, false
	}
	return out, true
}

// putUnsigned writes the non-negative ASN.1 INTEGER contents n right-aligned
// into dst.
func putUnsigned(dst []byte, n []byte) bool {
	if len(n) == 0 || n[0]&0x80 != 0 {
		return false // empty or negative
	}
	for len(n) > 1 && n[0] == 0 {
		n = n[1:]
	}
	if len(n) > len(dst) {
		return false
	}
	copy(dst[len(dst)-len(n):], n)
	return true
}
