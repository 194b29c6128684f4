// Package request builds, signs, encodes, parses and verifies airlock
// activation requests.
//
// A request is made on the offline machine by its installation identity and
// carried to the vendor's desk as a file, text or QR code. It says which
// product and license key it is for, which machine it comes from (the keyed
// fingerprint digests, never raw hardware data), optionally which hardware key
// is plugged in, and which installation keys the license must be bound and
// sealed to. Confidential fields (licensee secret, short-code seed) are sealed
// to the vendor's X25519 key with age. The whole is a COSE_Sign1 signed by the
// installation's Ed25519 key under the tag [crypto.TagRequest].
//
// The wire format is specified in docs/format.md.
package request

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/wire"
	"github.com/airlock-offline/airlock/licensekey"
	"github.com/airlock-offline/airlock/result"
)

// Version is the only format version this package reads and writes.
const Version = 1

// Limits on request fields.
const (
	MaxProduct    = 64
	MaxLicenseKey = 64
	MaxComponents = 32
	MaxSerial     = 64
	MaxHWPublic   = 512
	MaxAttest     = 2048
	NonceSize     = 16
	DigestSize    = 8  // one fingerprint component digest
	FPSize        = 16 // the combined fingerprint id
)

// Hardware-key types.
const (
	HWOpenPGP uint8 = 1
	HWPIV     uint8 = 2
	HWGeneric uint8 = 3
)

// HardwareKey identifies a hardware key (smart card, USB token). All of it
// is public. PublicKey is the card's key that answers challenges (empty for
// a generic card, which can prove nothing).
type HardwareKey struct {
	Type        uint8  `cbor:"1,keyasint"`
	Serial      []byte `cbor:"2,keyasint"`
	PublicKey   []byte `cbor:"3,keyasint,omitempty"`
	Attestation []byte `cbor:"4,keyasint,omitempty"`
}

// Kinds of request.
const (
	KindActivate uint8 = 0
	KindRenew    uint8 = 1
)

// Request is the signed content of an activation request. When it comes
// from Parse, every field is only what the requester claims until Verify
// has succeeded, and even then only "what the installation key says".
type Request struct {
	Version     uint             `cbor:"1,keyasint"`
	Product     string           `cbor:"2,keyasint"`
	LicenseKey  string           `cbor:"3,keyasint"`
	Fingerprint []byte           `cbor:"4,keyasint"`           // FPSize bytes
	Components  map[uint8][]byte `cbor:"5,keyasint,omitempty"` // component id -> DigestSize bytes
	Env         uint16           `cbor:"6,keyasint,omitempty"` // fingerprint.Env flags (VM, container…)
	HardwareKey *HardwareKey     `cbor:"7,keyasint,omitempty"`
	InstallSign []byte           `cbor:"8,keyasint"`  // Ed25519 public key
	InstallBox  []byte           `cbor:"9,keyasint"`  // X25519 public key
	VendorKeyID []byte           `cbor:"10,keyasint"` // the vendor key this request is made for
	Nonce       []byte           `cbor:"11,keyasint"`
	Created     int64            `cbor:"12,keyasint"` // Unix seconds
	Kind        uint8            `cbor:"13,keyasint,omitempty"`
	Renews      []byte           `cbor:"14,keyasint,omitempty"` // activation id of the license being renewed
	Sealed      []byte           `cbor:"15,keyasint,omitempty"` // age ciphertext of Confidential, to the vendor
	// Provisional is when this installation's one provisional period
	// (phone code) for the product began, Unix seconds, if it had one:
	// the desk records it, so the vendor learns of every provisional
	// activation once a signed license is issued, self-issued codes
	// included.
	Provisional int64 `cbor:"16,keyasint,omitempty"`
}

// Confidential holds the fields sealed to the vendor.
type Confidential struct {
	LicenseeSecret string `cbor:"1,keyasint,omitempty"`
	CodeSeed       []byte `cbor:"2,keyasint,omitempty"`
	// Binding ties the sealed fields to the one request they travel in:
	// SHA-256 of a domain tag and the request's encoding without its sealed
	// field (see sealBinding). New sets it; Open refuses a mismatch, so a
	// sealed blob copied out of someone else's request (a QR photo, a USB
	// stick) into a request of one's own is worthless.
	Binding []byte `cbor:"3,keyasint,omitempty"`
}

// ErrSealedMismatch means a request's sealed fields were made for another
// request: copied, not created, by whoever signed this one.
var ErrSealedMismatch = errors.New("the sealed fields belong to another request")

// sealBinding is the hash that ties sealed fields to r: SHA-256 of
// "airlock sealed binding v1", a zero byte, and r's deterministic encoding
// with Sealed left out. It covers every unsealed field, the installation
// key and the nonce among them.
func sealBinding(r *Request) ([]byte, error) {
	c := *r
	c.Sealed = nil
	b, err := wire.Marshal(&c)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write([]byte("airlock sealed binding v1\x00"))
	h.Write(b)
	return h.Sum(nil), nil
}

// Installation returns the installation's public keys as claimed.
func (r *Request) Installation() (*crypto.Public, error) {
	return crypto.NewPublic(crypto.RoleInstallation, r.InstallSign, r.InstallBox)
}

// CreatedTime returns Created as a time.
func (r *Request) CreatedTime() time.Time { return time.Unix(r.Created, 0).UTC() }

// Params are the inputs to New.
type Params struct {
	Product     string
	LicenseKey  string
	Fingerprint []byte
	Components  map[uint8][]byte
	Env         uint16
	HardwareKey *HardwareKey
	Vendor      *crypto.Public // whom the request is for
	Kind        uint8
	Renews      []byte
	// Provisional is when the installation's provisional period for the
	// product began (zero: it never had one).
	Provisional time.Time
	// Confidential is sealed to Vendor; nil seals nothing.
	Confidential *Confidential
	Now          time.Time // zero means time.Now
	Rand         io.Reader // nil means crypto/rand
}

// Signed is a request together with its signed encoding.
type Signed struct {
	Request *Request
	Bytes   []byte   // the COSE_Sign1
	Hash    [32]byte // SHA-256 of Bytes: what a license names
}

// Text returns the armored file form.
func (s *Signed) Text() []byte { return armor.Encode(armor.Request, s.Bytes) }

// New builds and signs a request with the installation identity.
func New(p Params, inst *crypto.Identity) (*Signed, error) {
	if inst.Role != crypto.RoleInstallation {
		return nil, errors.New("request must be signed by an installation key")
	}
	if p.Vendor == nil {
		return nil, errors.New("vendor public key is required")
	}
	random := p.Rand
	if random == nil {
		random = rand.Reader
	}
	now := p.Now
	if now.IsZero() {
		now = time.Now()
	}
	pub := inst.Public()
	vid := p.Vendor.ID()
	r := &Request{
		Version:     Version,
		Product:     p.Product,
		LicenseKey:  p.LicenseKey,
		Fingerprint: p.Fingerprint,
		Components:  p.Components,
		Env:         p.Env,
		HardwareKey: p.HardwareKey,
		InstallSign: pub.Sign,
		InstallBox:  pub.Box[:],
		VendorKeyID: vid[:],
		Nonce:       make([]byte, NonceSize),
		Created:     now.Unix(),
		Kind:        p.Kind,
		Renews:      p.Renews,
	}
	if !p.Provisional.IsZero() {
		r.Provisional = p.Provisional.Unix()
	}
	if _, err := io.ReadFull(random, r.Nonce); err != nil {
		return nil, fmt.Errorf("failed to read randomness: %w", err)
	}
	if c := p.Confidential; c != nil && (c.LicenseeSecret != "" || len(c.CodeSeed) > 0) {
		bound := *c
		var err error
		if bound.Binding, err = sealBinding(r); err != nil {
			return nil, err
		}
		plain, err := wire.Marshal(&bound)
		if err != nil {
			return nil, err
		}
		if r.Sealed, err = crypto.Seal(p.Vendor, plain); err != nil {
			return nil, fmt.Errorf("failed to seal confidential fields: %w", err)
		}
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	payload, err := wire.Marshal(r)
	if err != nil {
		return nil, err
	}
	b, err := crypto.Sign(inst, crypto.TagRequest, payload)
	if err != nil {
		return nil, err
	}
	return &Signed{Request: r, Bytes: b, Hash: sha256.Sum256(b)}, nil
}

// ParseText decodes any text presentation of a request (armored file, bare
// text, scanner-typed) and verifies it; see Verify.
func ParseText(text []byte) (*Signed, error) {
	b, err := armor.DecodeKind(text, armor.Request)
	if err != nil {
		return nil, result.Wrap(result.Malformed, "not a valid request", err)
	}
	return Verify(b)
}

// Verify parses a signed request and checks that it is well formed and
// signed by the installation key it carries. Errors carry the codes
// MALFORMED or SIGNATURE_INVALID. Verify does not judge freshness, the
// license or the policy: that is the desk's job.
func Verify(data []byte) (*Signed, error) {
	s, err := crypto.ParseSigned(data)
	if err != nil {
		return nil, result.Wrap(result.Malformed, "not a valid request", err)
	}
	if s.Tag != crypto.TagRequest {
		return nil, result.New(result.Malformed, "not a request (signed as another message type)")
	}
	r := new(Request)
	if err := wire.Unmarshal(s.Payload, r); err != nil {
		return nil, result.Wrap(result.Malformed, "not a valid request", err)
	}
	if err := r.validate(); err != nil {
		return nil, result.Wrap(result.Malformed, "not a valid request", err)
	}
	if _, err := s.Verify(crypto.TagRequest, ed25519.PublicKey(r.InstallSign)); err != nil {
		if errors.Is(err, crypto.ErrUnknownKey) {
			return nil, result.New(result.SignatureInvalid, "request is not signed by the installation key it carries")
		}
		return nil, result.Wrap(result.SignatureInvalid, "request signature does not verify", err)
	}
	return &Signed{Request: r, Bytes: bytes.Clone(data), Hash: sha256.Sum256(data)}, nil
}

// Open returns the confidential fields, opened with the vendor identity.
// A request without sealed fields returns an empty Confidential.
func (r *Request) Open(vendor *crypto.Identity) (*Confidential, error) {
	c := new(Confidential)
	if len(r.Sealed) == 0 {
		return c, nil
	}
	plain, err := crypto.Open(vendor, r.Sealed)
	if err != nil {
		return nil, result.Wrap(result.Malformed, "sealed fields cannot be opened with this vendor key", err)
	}
	if err := wire.Unmarshal(plain, c); err != nil {
		return nil, result.Wrap(result.Malformed, "sealed fields are not valid", err)
	}
	want, err := sealBinding(r)
	if err != nil {
		return nil, result.Wrap(result.Malformed, "not a valid request", err)
	}
	if subtle.ConstantTimeCompare(c.Binding, want) != 1 {
		return nil, result.Wrap(result.Malformed, "the sealed fields were not made for this request (copied from another one?)", ErrSealedMismatch)
	}
	return c, nil
}

// FieldError names a request field that is out of bounds.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %s: %s", e.Field, e.Reason) }

// ValidText checks a public text field: non-empty, valid UTF-8, no control
// characters, at most max bytes.
func ValidText(s string, max int) string {
	switch {
	case s == "":
		return "is empty"
	case len(s) > max:
		return fmt.Sprintf("is longer than %d bytes", max)
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return "contains a control character"
		}
	}
	return ""
}

func (r *Request) validate() error {
	if r.Version != Version {
		return &FieldError{"version", fmt.Sprintf("unsupported version %d", r.Version)}
	}
	if e := ValidText(r.Product, MaxProduct); e != "" {
		return &FieldError{"product", e}
	}
	if err := ValidLicenseKey(r.LicenseKey); err != nil {
		return err
	}
	if err := ValidFingerprint(r.Fingerprint); err != nil {
		return err
	}
	if err := ValidComponents(r.Components); err != nil {
		return err
	}
	if err := r.HardwareKey.Validate(); err != nil {
		return err
	}
	if _, err := r.Installation(); err != nil {
		return &FieldError{"installation key", "invalid"}
	}
	if len(r.VendorKeyID) != len(crypto.KeyID{}) {
		return &FieldError{"vendor key id", "wrong size"}
	}
	if len(r.Nonce) != NonceSize {
		return &FieldError{"nonce", "wrong size"}
	}
	if r.Created <= 0 {
		return &FieldError{"created", "missing"}
	}
	switch r.Kind {
	case KindActivate:
		if r.Renews != nil {
			return &FieldError{"renews", "set on an activation"}
		}
	case KindRenew:
		if len(r.Renews) != 16 {
			return &FieldError{"renews", "wrong size"}
		}
	default:
		return &FieldError{"kind", "unknown"}
	}
	if r.Provisional < 0 || (r.Provisional > 0 && r.Provisional > r.Created+86400) {
		return &FieldError{"provisional", "out of range"}
	}
	if len(r.Sealed) > crypto.MaxSealed+512 {
		return &FieldError{"sealed", "too large"}
	}
	return nil
}

// ValidComponents checks a component digest map.
func ValidComponents(c map[uint8][]byte) error {
	if len(c) > MaxComponents {
		return &FieldError{"components", "too many"}
	}
	for id, d := range c {
		if id == 0 {
			return &FieldError{"components", "component id 0 is not assigned"}
		}
		if len(d) != DigestSize {
			return &FieldError{"components", "digest of wrong size"}
		}
	}
	return nil
}

// ValidFingerprint checks a combined fingerprint id: FPSize bytes, not all
// zero (the id of a machine with no readable component, which must match
// nothing).
func ValidFingerprint(fp []byte) error {
	if len(fp) != FPSize {
		return &FieldError{"fingerprint", "wrong size"}
	}
	if bytes.Equal(fp, make([]byte, FPSize)) {
		return &FieldError{"fingerprint", "no hardware component was readable"}
	}
	return nil
}

// ValidLicenseKey checks that a license key is in its canonical form.
func ValidLicenseKey(k string) error {
	if c, err := licensekey.Parse(k); err != nil || c != k {
		return &FieldError{"license key", "not a canonical license key"}
	}
	return nil
}

// Validate checks the sizes and consistency of a hardware-key identity; a
// nil one is valid (no hardware key).
func (h *HardwareKey) Validate() error {
	if h == nil {
		return nil
	}
	if h.Type < HWOpenPGP || h.Type > HWGeneric {
		return &FieldError{"hardware key", "unknown type"}
	}
	if len(h.Serial) == 0 || len(h.Serial) > MaxSerial {
		return &FieldError{"hardware key", "serial missing or too long"}
	}
	if len(h.PublicKey) > MaxHWPublic || len(h.Attestation) > MaxAttest {
		return &FieldError{"hardware key", "public key or attestation too long"}
	}
	if h.Type == HWGeneric && len(h.PublicKey) > 0 {
		return &FieldError{"hardware key", "a generic card has no public key"}
	}
	// A card that can prove itself carries its key as algorithm || key:
	// 1 = Ed25519 (32 bytes), 2 = P-256 (65-byte uncompressed point).
	if h.Type != HWGeneric {
		switch {
		case len(h.PublicKey) == 0:
			return &FieldError{"hardware key", "an OpenPGP or PIV key needs its public key"}
		case h.PublicKey[0] == 1 && len(h.PublicKey) == 33:
		case h.PublicKey[0] == 2 && len(h.PublicKey) == 66 && h.PublicKey[1] == 4 && onP256(h.PublicKey[1:]):
		default:
			return &FieldError{"hardware key", "public key of unknown algorithm or size"}
		}
	}
	return nil
}

// onP256 reports whether an uncompressed point is on the P-256 curve.
func onP256(point []byte) bool {
	_, err := ecdh.P256().NewPublicKey(point)
	return err == nil
}
