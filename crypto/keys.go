// Package crypto holds airlock's keys and the three operations built on them:
// signing messages (COSE_Sign1 with EdDSA over Ed25519, with a
// domain-separation tag per message type), sealing confidential fields to a
// public key (age, X25519), and key files encrypted at rest (age, scrypt).
//
// # Identities
//
// An [Identity] is an Ed25519 signing key plus an X25519 key for sealed
// fields. The vendor has one (made by `airlock-vendor init`), and every
// client installation has one (made on first use). The matching [Public]
// carries both public keys; its [KeyID] is 8 bytes derived from the Ed25519
// key, and [Public.String] is the short printable string an ISV pins in code.
package crypto

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"filippo.io/edwards25519"
)

// Role says whose key a key is. It is part of the printable public key
// string and of the key file, so a vendor key cannot be mistaken for an
// installation key.
type Role uint8

// Roles.
const (
	RoleVendor       Role = 1
	RoleInstallation Role = 2
)

func (r Role) String() string {
	switch r {
	case RoleVendor:
		return "vendor"
	case RoleInstallation:
		return "installation"
	}
	return "unknown"
}

func (r Role) tag() string {
	switch r {
	case RoleVendor:
		return "AV1"
	case RoleInstallation:
		return "AI1"
	}
	return ""
}

// KeyID identifies a public key: the first 8 bytes of
// SHA-256("airlock key id v1" || 0x00 || ed25519 public key).
type KeyID [8]byte

// String returns the key id as 16 lower-case hex digits.
func (k KeyID) String() string { return hex.EncodeToString(k[:]) }

// MarshalText implements encoding.TextMarshaler.
func (k KeyID) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// ParseKeyID parses 16 hex digits.
func ParseKeyID(s string) (KeyID, error) {
	var k KeyID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(k) {
		return k, errors.New("key id must be 16 hex digits")
	}
	copy(k[:], b)
	return k, nil
}

const keyIDDomain = "airlock key id v1\x00"

// KeyIDOf returns the key id of an Ed25519 public key.
func KeyIDOf(pub ed25519.PublicKey) KeyID {
	h := sha256.New()
	h.Write([]byte(keyIDDomain))
	h.Write(pub)
	var k KeyID
	copy(k[:], h.Sum(nil))
	return k
}

// Public is the public half of an identity. Its fields are trusted only as
// far as the place it came from: a pinned string is trusted, a key read
// from a request is only the key that request claims.
type Public struct {
	Role Role
	Sign ed25519.PublicKey // 32 bytes
	Box  [32]byte          // X25519 public key, for sealing to this party
}

// ID returns the key id.
func (p *Public) ID() KeyID { return KeyIDOf(p.Sign) }

// Equal reports whether p and q are the same keys, in constant time.
func (p *Public) Equal(q *Public) bool {
	if p == nil || q == nil {
		return p == q
	}
	return p.Role == q.Role &&
		subtle.ConstantTimeCompare(p.Sign, q.Sign)&subtle.ConstantTimeCompare(p.Box[:], q.Box[:]) == 1
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// String returns the printable public key: "AV1" (vendor) or "AI1"
// (installation) followed by the base32 of the Ed25519 and X25519 public
// keys. This is the string an ISV pins in its product.
func (p *Public) String() string {
	raw := make([]byte, 0, 64)
	raw = append(raw, p.Sign...)
	raw = append(raw, p.Box[:]...)
	return p.Role.tag() + b32.EncodeToString(raw)
}

// MarshalText implements encoding.TextMarshaler.
func (p *Public) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Public) UnmarshalText(b []byte) error {
	q, err := ParsePublic(string(b))
	if err != nil {
		return err
	}
	*p = *q
	return nil
}

// ErrPublicKey is returned for a string that is not a printable public key.
var ErrPublicKey = errors.New("not an airlock public key")

// ParsePublic parses the string made by Public.String. Surrounding white
// space and lower case are accepted.
func ParsePublic(s string) (*Public, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if len(s) != 3+103 {
		return nil, fmt.Errorf("%w: wrong length", ErrPublicKey)
	}
	var role Role
	switch s[:3] {
	case RoleVendor.tag():
		role = RoleVendor
	case RoleInstallation.tag():
		role = RoleInstallation
	default:
		return nil, fmt.Errorf("%w: unknown prefix", ErrPublicKey)
	}
	raw, err := b32.DecodeString(s[3:])
	if err != nil || len(raw) != 64 || b32.EncodeToString(raw) != s[3:] {
		return nil, fmt.Errorf("%w: invalid base32", ErrPublicKey)
	}
	return NewPublic(role, raw[:32], raw[32:])
}

// NewPublic builds a Public from raw keys, checking their sizes. (Every
// 32-byte string is an X25519 public key; age refuses low-order points when
// it seals to one.)
func NewPublic(role Role, sign, box []byte) (*Public, error) {
	if len(sign) != ed25519.PublicKeySize || len(box) != 32 {
		return nil, fmt.Errorf("%w: wrong key size", ErrPublicKey)
	}
	if err := checkEd25519Public(sign); err != nil {
		return nil, err
	}
	if _, err := ecdh.X25519().NewPublicKey(box); err != nil {
		return nil, fmt.Errorf("%w: invalid X25519 key", ErrPublicKey)
	}
	p := &Public{Role: role, Sign: bytes.Clone(sign)}
	copy(p.Box[:], box)
	return p, nil
}

// checkEd25519Public refuses an Ed25519 public key that is not a point on
// the curve, is not canonically encoded, or has small order (one of the
// eight points of the torsion subgroup, such as the identity). A key of
// small order has no secret behind it: signatures under it can be made by
// anyone for many messages, so it can never identify an installation.
func checkEd25519Public(sign []byte) error {
	p, err := new(edwards25519.Point).SetBytes(sign)
	if err != nil {
		return fmt.Errorf("%w: invalid Ed25519 key", ErrPublicKey)
	}
	if !bytes.Equal(p.Bytes(), sign) {
		return fmt.Errorf("%w: Ed25519 key not canonically encoded", ErrPublicKey)
	}
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return fmt.Errorf("%w: Ed25519 key of small order", ErrPublicKey)
	}
	return nil
}

// Recipient returns the age recipient for sealing to p.
func (p *Public) Recipient() (*age.X25519Recipient, error) {
	return age.ParseX25519Recipient(bech32Encode("age", p.Box[:]))
}

// Identity is a private identity: never printed, never logged.
type Identity struct {
	Role   Role
	sign   ed25519.PrivateKey
	scalar []byte
	box    *age.X25519Identity
	pub    *Public
	// hw is set when the signing key lives on a hardware key (sign is then
	// nil); ext is that key once attached.
	hw  *HardwareKeyRef
	ext Signer
}

// Generate makes a new identity from rand (nil means crypto/rand).
func Generate(role Role, random io.Reader) (*Identity, error) {
	if random == nil {
		random = rand.Reader
	}
	if role != RoleVendor && role != RoleInstallation {
		return nil, errors.New("unknown key role")
	}
	var seed, scalar [32]byte
	if _, err := io.ReadFull(random, seed[:]); err != nil {
		return nil, fmt.Errorf("failed to read randomness: %w", err)
	}
	if _, err := io.ReadFull(random, scalar[:]); err != nil {
		return nil, fmt.Errorf("failed to read randomness: %w", err)
	}
	return newIdentity(role, seed[:], scalar[:])
}

func newIdentity(role Role, seed, scalar []byte) (*Identity, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, errors.New("wrong private key size")
	}
	id, err := newBoxIdentity(role, scalar)
	if err != nil {
		return nil, err
	}
	id.sign = ed25519.NewKeyFromSeed(seed)
	id.pub, err = NewPublic(role, id.sign.Public().(ed25519.PublicKey), id.pub.Box[:])
	if err != nil {
		return nil, err
	}
	return id, nil
}

// newBoxIdentity makes an identity with the X25519 key scalar and no
// signing key yet; its pub carries the box key and a placeholder signing
// key, which the caller replaces.
func newBoxIdentity(role Role, scalar []byte) (*Identity, error) {
	if len(scalar) != 32 {
		return nil, errors.New("wrong private key size")
	}
	sk, err := ecdh.X25519().NewPrivateKey(scalar)
	if err != nil {
		return nil, errors.New("invalid X25519 private key")
	}
	box, err := age.ParseX25519Identity(strings.ToUpper(bech32Encode("age-secret-key-", scalar)))
	if err != nil {
		return nil, errors.New("invalid X25519 private key")
	}
	id := &Identity{Role: role, scalar: bytes.Clone(scalar), box: box}
	// The signing half is filled in by the caller (newIdentity, or a
	// hardware key's public key).
	id.pub = &Public{Role: role}
	copy(id.pub.Box[:], sk.PublicKey().Bytes())
	return id, nil
}

// Public returns the public half.
func (id *Identity) Public() *Public { return id.pub }

// ID returns the key id of the public half.
func (id *Identity) ID() KeyID { return id.pub.ID() }

// AgeIdentity returns the age identity that opens fields sealed to id.
func (id *Identity) AgeIdentity() age.Identity { return id.box }

// String never reveals key material.
func (id *Identity) String() string {
	return fmt.Sprintf("airlock %s identity %s", id.Role, id.ID())
}

// GoString never reveals key material either (%#v).
func (id *Identity) GoString() string { return id.String() }

// DeriveKey returns a 32-byte key for one purpose, derived from the
// identity's private signing seed: HMAC-SHA-256(seed, "airlock derive v1" ||
// 0x00 || label). An identity whose signing key is on a hardware key has
// no seed in the process; it derives from its X25519 scalar instead, under
// "airlock derive v1 box". Different labels give unrelated keys; the
// private key never leaves the identity.
func (id *Identity) DeriveKey(label string) []byte {
	if id.sign == nil {
		m := hmac.New(sha256.New, id.scalar)
		m.Write([]byte("airlock derive v1 box\x00"))
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	m := hmac.New(sha256.New, id.sign.Seed())
	m.Write([]byte("airlock derive v1\x00"))
	m.Write([]byte(label))
	return m.Sum(nil)
}
