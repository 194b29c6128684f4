// Package response builds, signs, encodes, parses and verifies airlock
// licenses: the vendor's answer to an activation request.
//
// A license is a COSE_Sign1 signed by the vendor's Ed25519 key under the tag
// [crypto.TagLicense]. It names the request it answers (SHA-256 of the
// request's signed bytes), the product, licensee, features and time window,
// and the binding: the installation key, the machine's fingerprint digests
// with the match policy, and optionally a hardware key. Fields meant only for
// the client are sealed to the installation's X25519 key with age.
//
// [Verify] checks all of this against what the verifier knows (pinned vendor
// keys, this installation, this machine now) and returns a [result.Error]
// with a stable code for every way a license can fail.
package response

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/fingerprint"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/wire"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/result"
)

// Version is the only format version this package reads and writes.
const Version = 1

// Limits.
const (
	MaxLicensee     = 128
	MaxFeatures     = 32
	MaxFeatureName  = 64
	ActivationIDLen = 16
)

// Binding ties a license to one installation on one machine.
type Binding struct {
	InstallKey  []byte               `cbor:"1,keyasint"` // Ed25519 public key of the installation
	Fingerprint []byte               `cbor:"2,keyasint"` // combined fingerprint id (request.FPSize)
	Components  map[uint8][]byte     `cbor:"3,keyasint,omitempty"`
	Policy      uint8                `cbor:"4,keyasint,omitempty"` // fingerprint.PolicyKind
	PolicyN     uint8                `cbor:"5,keyasint,omitempty"`
	HardwareKey *request.HardwareKey `cbor:"6,keyasint,omitempty"`
	SecretHash  []byte               `cbor:"7,keyasint,omitempty"` // licensee-secret binding (keyed hash)
	RefuseEnv   uint16               `cbor:"8,keyasint,omitempty"` // fingerprint.Env flags on which the license is not valid
	// KeyOnly binds the license to HardwareKey alone (a portable
	// hardware-key license): Check skips the installation, request and
	// fingerprint checks, because the card's signature of a fresh
	// challenge stands in for them, and the license is valid on any
	// machine while the key proves itself. Only with a HardwareKey that
	// can prove (one with a PublicKey).
	KeyOnly bool `cbor:"9,keyasint,omitempty"`
}

// License is the signed content of a license. When it comes from Verify
// with a nil error, every field is vouched for by the vendor key.
type License struct {
	Version      uint              `cbor:"1,keyasint"`
	LicenseKey   string            `cbor:"2,keyasint"`
	ActivationID []byte            `cbor:"3,keyasint"` // this seat or lease; renewals name the one before
	Product      string            `cbor:"4,keyasint"`
	Licensee     string            `cbor:"5,keyasint"`
	Features     map[string]uint64 `cbor:"6,keyasint,omitempty"`
	Issued       int64             `cbor:"7,keyasint"`           // Unix seconds
	NotBefore    int64             `cbor:"8,keyasint"`           // Unix seconds
	Expires      int64             `cbor:"9,keyasint,omitempty"` // Unix seconds; 0 = never
	LeaseUntil   int64             `cbor:"10,keyasint,omitempty"`
	Binding      Binding           `cbor:"11,keyasint"`
	RequestHash  []byte            `cbor:"12,keyasint"` // SHA-256 of the request's signed bytes
	VendorKeyID  []byte            `cbor:"13,keyasint"`
	Sealed       []byte            `cbor:"14,keyasint,omitempty"` // age ciphertext to the installation
	PrevLease    []byte            `cbor:"15,keyasint,omitempty"` // activation id this one renews
	Pool         *Pool             `cbor:"16,keyasint,omitempty"` // set on a pool license (floating server)
}

// Policy returns the fingerprint match policy.
func (l *License) Policy() fingerprint.Policy {
	return fingerprint.Policy{Kind: fingerprint.PolicyKind(l.Binding.Policy), N: l.Binding.PolicyN}
}

func unix(t int64) time.Time {
	if t == 0 {
		return time.Time{}
	}
	return time.Unix(t, 0).UTC()
}

// IssuedTime, NotBeforeTime, ExpiresTime and LeaseUntilTime return the
// times; zero means "not set".
func (l *License) IssuedTime() time.Time     { return unix(l.Issued) }
func (l *License) NotBeforeTime() time.Time  { return unix(l.NotBefore) }
func (l *License) ExpiresTime() time.Time    { return unix(l.Expires) }
func (l *License) LeaseUntilTime() time.Time { return unix(l.LeaseUntil) }

// Params are the inputs to New beyond the request it answers.
type Params struct {
	LicenseKey   string
	ActivationID []byte
	Product      string
	Licensee     string
	Features     map[string]uint64
	Issued       time.Time
	NotBefore    time.Time // zero means Issued
	Expires      time.Time // zero means never
	LeaseUntil   time.Time // zero means no lease
	Policy       fingerprint.Policy
	SecretHash   []byte
	RefuseEnv    fingerprint.Env
	PrevLease    []byte
	Pool         *Pool // a pool license for a floating server; nil for a node-locked one
	KeyOnly      bool  // bind the license to the request's hardware key alone
	// Confidential fields, sealed to the installation; nil seals nothing.
	Confidential map[string]string
}

// Signed is a license together with its signed encoding.
type Signed struct {
	License *License
	Bytes   []byte
	KeyID   crypto.KeyID
}

// Text returns the armored file form.
func (s *Signed) Text() []byte { return armor.Encode(armor.License, s.Bytes) }

// New builds a license answering req and signs it with the vendor identity.
func New(vendor *crypto.Identity, req *request.Signed, p Params) (*Signed, error) {
	if vendor.Role != crypto.RoleVendor {
		return nil, errors.New("license must be signed by a vendor key")
	}
	r := req.Request
	kid := vendor.ID()
	nbf := p.NotBefore
	if nbf.IsZero() {
		nbf = p.Issued
	}
	l := &License{
		Version:      Version,
		LicenseKey:   p.LicenseKey,
		ActivationID: p.ActivationID,
		Product:      p.Product,
		Licensee:     p.Licensee,
		Features:     p.Features,
		Issued:       p.Issued.Unix(),
		NotBefore:    nbf.Unix(),
		Binding: Binding{
			InstallKey:  r.InstallSign,
			Fingerprint: r.Fingerprint,
			Components:  r.Components,
			Policy:      uint8(p.Policy.Kind),
			PolicyN:     p.Policy.N,
			HardwareKey: r.HardwareKey,
			SecretHash:  p.SecretHash,
			RefuseEnv:   uint16(p.RefuseEnv),
			KeyOnly:     p.KeyOnly,
		},
		RequestHash: req.Hash[:],
		VendorKeyID: kid[:],
		PrevLease:   p.PrevLease,
		Pool:        p.Pool,
	}
	if len(l.Features) == 0 {
		l.Features = nil
	}
	if !p.Expires.IsZero() {
		l.Expires = p.Expires.Unix()
	}
	if !p.LeaseUntil.IsZero() {
		l.LeaseUntil = p.LeaseUntil.Unix()
	}
	if len(p.Confidential) > 0 {
		inst, err := r.Installation()
		if err != nil {
			return nil, err
		}
		plain, err := wire.Marshal(p.Confidential)
		if err != nil {
			return nil, err
		}
		if l.Sealed, err = crypto.Seal(inst, plain); err != nil {
			return nil, fmt.Errorf("failed to seal confidential fields: %w", err)
		}
	}
	if err := l.validate(); err != nil {
		return nil, err
	}
	payload, err := wire.Marshal(l)
	if err != nil {
		return nil, err
	}
	b, err := crypto.Sign(vendor, crypto.TagLicense, payload)
	if err != nil {
		return nil, err
	}
	return &Signed{License: l, Bytes: b, KeyID: kid}, nil
}

// Open returns the confidential fields sealed to the installation.
func (l *License) Open(inst *crypto.Identity) (map[string]string, error) {
	if len(l.Sealed) == 0 {
		return map[string]string{}, nil
	}
	plain, err := crypto.Open(inst, l.Sealed)
	if err != nil {
		return nil, result.Wrap(result.InstallationMismatch, "sealed license fields cannot be opened with this installation key", err)
	}
	var m map[string]string
	if err := wire.Unmarshal(plain, &m); err != nil {
		return nil, result.Wrap(result.Malformed, "sealed license fields are not valid", err)
	}
	return m, nil
}

// Expect is what the verifier knows. VendorKeys are the pinned vendor
// public keys (several during a key rotation). Fields left zero are not
// checked, except Now, which means time.Now.
type Expect struct {
	VendorKeys   []*crypto.Public
	Product      string
	Installation *crypto.Public
	// Fingerprint is this machine's fingerprint now, hashed for this
	// product and the license's vendor key.
	Fingerprint *fingerprint.Fingerprint
	// Unreadable lists the components that exist on this machine but that
	// this process may not read (fingerprint.Report.Unreadable): a license
	// requested as root is then matched, as a user, on the components a
	// user can read. Not applied under the exact policy.
	Unreadable []fingerprint.ComponentID
	// RequestHashes, when set (at activation), lists the requests this
	// installation is waiting on; the license must answer one of them.
	RequestHashes [][32]byte
	Now           time.Time
	// Skew is the clock difference tolerated against the license's
	// not-before time.
	Skew time.Duration
	// HardwareKey proves that the hardware key a license is bound to is
	// present. Nil means no hardware key can be checked here, and a license
	// bound to one fails with HARDWARE_KEY_NOT_ACCESSIBLE.
	HardwareKey func(*request.HardwareKey) error
	// LicenseeSecret checks a license's licensee-secret binding (a keyed
	// hash). Nil means no secret is available here, and a license bound to
	// one fails with LICENSEE_SECRET_MISMATCH.
	LicenseeSecret func(secretHash []byte) error
}

// Parse decodes and checks the signature only, for inspection: it answers
// "what is this and who signed it". Use Verify to decide whether a license
// is valid here.
func Parse(data []byte, keys ...*crypto.Public) (*License, crypto.KeyID, error) {
	s, err := crypto.ParseSigned(data)
	if err != nil {
		return nil, crypto.KeyID{}, result.Wrap(result.Malformed, "not a valid license", err)
	}
	if s.Tag != crypto.TagLicense {
		return nil, s.KeyID, result.New(result.Malformed, "not a license (signed as another message type)")
	}
	pubs := make([]ed25519.PublicKey, 0, len(keys))
	for _, k := range keys {
		if k.Role == crypto.RoleVendor {
			pubs = append(pubs, k.Sign)
		}
	}
	if _, err := s.Verify(crypto.TagLicense, pubs...); err != nil {
		var uk *crypto.UnknownKeyError
		if errors.As(err, &uk) {
			return nil, s.KeyID, result.Wrap(result.UnknownVendorKey, "license is signed by a vendor key this product does not trust", err)
		}
		return nil, s.KeyID, result.Wrap(result.SignatureInvalid, "license signature does not verify", err)
	}
	l := new(License)
	if err := wire.Unmarshal(s.Payload, l); err != nil {
		return nil, s.KeyID, result.Wrap(result.Malformed, "not a valid license", err)
	}
	if err := l.validate(); err != nil {
		return nil, s.KeyID, result.Wrap(result.Malformed, "not a valid license", err)
	}
	if !bytes.Equal(l.VendorKeyID, s.KeyID[:]) {
		return nil, s.KeyID, result.New(result.Malformed, "license names another vendor key than the one that signed it")
	}
	return l, s.KeyID, nil
}

// ParseUnverified decodes the license payload without checking the
// signature. Only for `inspect`, which then says it is unverified.
func ParseUnverified(data []byte) (*License, crypto.KeyID, error) {
	s, err := crypto.ParseSigned(data)
	if err != nil {
		return nil, crypto.KeyID{}, result.Wrap(result.Malformed, "not a valid license", err)
	}
	if s.Tag != crypto.TagLicense {
		return nil, s.KeyID, result.New(result.Malformed, "not a license (signed as another message type)")
	}
	l := new(License)
	if err := wire.Unmarshal(s.Payload, l); err != nil {
		return nil, s.KeyID, result.Wrap(result.Malformed, "not a valid license", err)
	}
	if err := l.validate(); err != nil {
		return nil, s.KeyID, result.Wrap(result.Malformed, "not a valid license", err)
	}
	return l, s.KeyID, nil
}

// Verify checks a license against e and returns it when it is valid here.
// The checks run in this order, and the first failure is returned:
// MALFORMED (the COSE structure), UNKNOWN_VENDOR_KEY, SIGNATURE_INVALID,
// MALFORMED (the signed payload), PRODUCT_MISMATCH, INSTALLATION_MISMATCH,
// REQUEST_MISMATCH, FINGERPRINT_MISMATCH, HARDWARE_KEY_*,
// LICENSEE_SECRET_MISMATCH, NOT_YET_VALID, EXPIRED, LEASE_EXPIRED.
func Verify(data []byte, e *Expect) (*License, error) {
	l, _, err := Parse(data, e.VendorKeys...)
	if err != nil {
		return nil, err
	}
	return l, l.Check(e)
}

// Check applies the bindings and time window of e to a license whose
// signature has been verified. A license bound to its hardware key alone
// (Binding.KeyOnly) skips the installation, request and fingerprint
// checks, and only those: its hardware-key check, which cannot be
// skipped, has the card sign a fresh challenge instead.
func (l *License) Check(e *Expect) error {
	if e.Product != "" && l.Product != e.Product {
		return result.New(result.ProductMismatch, fmt.Sprintf("license is for product %q, not %q", l.Product, e.Product))
	}
	keyOnly := l.KeyOnly()
	if !keyOnly && e.Installation != nil && subtle.ConstantTimeCompare(l.Binding.InstallKey, e.Installation.Sign) != 1 {
		return result.New(result.InstallationMismatch, "license was issued to another installation")
	}
	if !keyOnly && len(e.RequestHashes) > 0 {
		ok := 0
		for _, h := range e.RequestHashes {
			ok |= subtle.ConstantTimeCompare(h[:], l.RequestHash)
		}
		if ok != 1 {
			return result.New(result.RequestMismatch, "license does not answer a request made by this installation")
		}
	}
	if e.Fingerprint != nil {
		if !keyOnly {
			if err := l.checkFingerprint(e.Fingerprint, e.Unreadable); err != nil {
				return err
			}
		}
		// The desk refused these environments at activation; the license
		// says so too, so a request that hid its environment gains nothing.
		if hit := e.Fingerprint.Env & fingerprint.Env(l.Binding.RefuseEnv); hit != 0 {
			return result.New(result.EnvironmentRefused, fmt.Sprintf("license is not valid on this kind of machine (%s)", hit))
		}
	}
	// Bindings this verifier cannot check fail closed.
	if hk := l.Binding.HardwareKey; hk != nil {
		if e.HardwareKey == nil {
			return result.New(result.HardwareKeyNotAccessible, "license requires a hardware key and none can be checked here")
		}
		if err := e.HardwareKey(hk); err != nil {
			return err
		}
	}
	if len(l.Binding.SecretHash) > 0 {
		if e.LicenseeSecret == nil {
			return result.New(result.LicenseeSecretMismatch, "license requires a licensee secret and none was given")
		}
		if err := e.LicenseeSecret(l.Binding.SecretHash); err != nil {
			return err
		}
	}
	now := e.Now
	if now.IsZero() {
		now = time.Now()
	}
	t := now.Unix()
	if t+int64(e.Skew/time.Second) < l.NotBefore {
		return result.New(result.NotYetValid, "license is not valid yet (valid from "+l.NotBeforeTime().Format(time.RFC3339)+")")
	}
	if l.Expires != 0 && t >= l.Expires {
		return result.New(result.Expired, "license expired on "+l.ExpiresTime().Format(time.RFC3339))
	}
	if l.LeaseUntil != 0 && t >= l.LeaseUntil {
		return result.New(result.LeaseExpired, "license lease ended on "+l.LeaseUntilTime().Format(time.RFC3339)+"; renew it")
	}
	return nil
}

// KeyOnly reports whether the license is bound to its hardware key alone
// (portable: valid on any machine while that key proves itself).
func (l *License) KeyOnly() bool {
	hk := l.Binding.HardwareKey
	return l.Binding.KeyOnly && hk != nil && len(hk.PublicKey) > 0
}

func (l *License) checkFingerprint(fp *fingerprint.Fingerprint, unreadable []fingerprint.ComponentID) error {
	// The combined id covers every component: equal ids satisfy every
	// policy, and this is the common case, so it goes first.
	if subtle.ConstantTimeCompare(l.Binding.Fingerprint, fp.ID[:]) == 1 {
		return nil
	}
	if len(l.Binding.Components) == 0 {
		return result.New(result.FingerprintMismatch, "license was issued for another machine")
	}
	pol := l.Policy()
	licensed := toDigests(l.Binding.Components)
	var skipped []string
	if pol.Kind != fingerprint.PolicyExact && len(unreadable) > 0 {
		licensed = slices.DeleteFunc(licensed, func(d fingerprint.Digest) bool {
			if slices.Contains(unreadable, d.ID) {
				skipped = append(skipped, "unreadable here: "+d.ID.String())
				return true
			}
			return false
		})
	}
	m := pol.Match(licensed, fp.Components)
	if m.OK {
		return nil
	}
	var details []string
	for _, id := range m.Changed {
		details = append(details, "changed: "+id.String())
	}
	for _, id := range m.Missing {
		details = append(details, "missing: "+id.String())
	}
	e := result.New(result.FingerprintMismatch, fmt.Sprintf("this machine does not match the license (%d of %d components match, policy %s)", m.Matched, m.Total, pol))
	e.Details = append(details, skipped...)
	return e
}

func toDigests(m map[uint8][]byte) []fingerprint.Digest {
	out := make([]fingerprint.Digest, 0, len(m))
	for id, sum := range m {
		d := fingerprint.Digest{ID: fingerprint.ComponentID(id)}
		copy(d.Sum[:], sum)
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Hash returns the SHA-256 of a license's signed bytes.
func Hash(data []byte) [32]byte { return sha256.Sum256(data) }

func (l *License) validate() error {
	if l.Version != Version {
		return &request.FieldError{Field: "version", Reason: fmt.Sprintf("unsupported version %d", l.Version)}
	}
	if err := request.ValidLicenseKey(l.LicenseKey); err != nil {
		return err
	}
	if len(l.ActivationID) != ActivationIDLen {
		return &request.FieldError{Field: "activation id", Reason: "wrong size"}
	}
	if e := request.ValidText(l.Product, request.MaxProduct); e != "" {
		return &request.FieldError{Field: "product", Reason: e}
	}
	if e := request.ValidText(l.Licensee, MaxLicensee); e != "" {
		return &request.FieldError{Field: "licensee", Reason: e}
	}
	if len(l.Features) > MaxFeatures {
		return &request.FieldError{Field: "features", Reason: "too many"}
	}
	for name := range l.Features {
		if e := request.ValidText(name, MaxFeatureName); e != "" {
			return &request.FieldError{Field: "feature name", Reason: e}
		}
	}
	if l.Issued <= 0 || l.NotBefore <= 0 || l.Expires < 0 || l.LeaseUntil < 0 {
		return &request.FieldError{Field: "times", Reason: "missing or negative"}
	}
	if l.Expires != 0 && l.Expires <= l.NotBefore {
		return &request.FieldError{Field: "expires", Reason: "not after not-before"}
	}
	if l.LeaseUntil != 0 && l.LeaseUntil <= l.NotBefore {
		return &request.FieldError{Field: "lease until", Reason: "not after not-before"}
	}
	b := l.Binding
	if len(b.InstallKey) != ed25519.PublicKeySize {
		return &request.FieldError{Field: "binding installation key", Reason: "wrong size"}
	}
	if err := request.ValidFingerprint(b.Fingerprint); err != nil {
		return err
	}
	if err := request.ValidComponents(b.Components); err != nil {
		return err
	}
	switch fingerprint.PolicyKind(b.Policy) {
	case fingerprint.PolicyAll, fingerprint.PolicyMost, fingerprint.PolicyExact:
		if b.PolicyN != 0 {
			return &request.FieldError{Field: "binding policy", Reason: "count set on a policy without one"}
		}
	case fingerprint.PolicyAtLeast:
		if b.PolicyN == 0 || int(b.PolicyN) > len(b.Components) {
			return &request.FieldError{Field: "binding policy", Reason: "count is 0 or more than the components bound"}
		}
	default:
		return &request.FieldError{Field: "binding policy", Reason: "unknown"}
	}
	if err := b.HardwareKey.Validate(); err != nil {
		return err
	}
	if b.KeyOnly && (b.HardwareKey == nil || len(b.HardwareKey.PublicKey) == 0) {
		return &request.FieldError{Field: "binding key only", Reason: "set without a hardware key that can prove itself"}
	}
	if len(b.SecretHash) != 0 && len(b.SecretHash) != 32 {
		return &request.FieldError{Field: "binding secret", Reason: "wrong size"}
	}
	if len(l.RequestHash) != sha256.Size {
		return &request.FieldError{Field: "request hash", Reason: "wrong size"}
	}
	if len(l.VendorKeyID) != len(crypto.KeyID{}) {
		return &request.FieldError{Field: "vendor key id", Reason: "wrong size"}
	}
	if len(l.PrevLease) != 0 && len(l.PrevLease) != ActivationIDLen {
		return &request.FieldError{Field: "previous lease", Reason: "wrong size"}
	}
	if len(l.Sealed) > crypto.MaxSealed+512 {
		return &request.FieldError{Field: "sealed", Reason: "too large"}
	}
	if l.Pool != nil {
		return l.Pool.validate()
	}
	return nil
}
