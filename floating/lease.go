// Package floating is airlock's floating license server: a service inside
// the customer's isolated network that holds pool licenses (activated
// offline through the vendor's desk like any machine) and hands their seats
// to the machines around it as signed leases.
//
// # Leases
//
// A seat is a [Lease]: a COSE_Sign1 signed by the server's installation key
// under the tag [TagLease], naming the product, the features, the client's
// installation key, the lease id, its expiry and its borrow end, with the
// pool license attached. A client verifies a lease with [VerifyLease] from
// the pinned vendor key alone: vendor key → pool license (which names the
// server key) → lease → this installation → now. No secret is shared
// between server and clients, and a lease copied to another machine does
// not verify there.
//
// # Proofs
//
// Every call that changes a seat is a [Proof]: the client signs, with its
// installation key under [TagProof], the operation, its arguments and a
// single-use nonce the server handed out. The server keeps nonces in
// memory only; a restart forgets them, so a proof can never be replayed.
//
// # Durability
//
// The server keeps its seats in memory and in its database; a grant,
// renewal, release, borrow or consumption is committed (one transaction,
// several operations grouped per commit) before its answer leaves the
// server. A restart reloads every lease and counter.
package floating

import (
	"bytes"
	"crypto/ed25519"
	"crypto/subtle"
	"fmt"
	"slices"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/wire"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

// Domain-separation tags of the floating server's messages (see
// crypto.TagLicense for the others).
const (
	TagLease = "airlock/lease-v1"
	TagProof = "airlock/lease-proof-v1"
)

// LeaseVersion is the only lease format version.
const LeaseVersion = 1

// LeaseIDLen is the size of a lease id.
const LeaseIDLen = 16

// Lease is the signed content of a lease token. Fields returned by
// VerifyLease with a nil error are vouched for by the server key that the
// vendor's pool license names.
type Lease struct {
	Version  uint     `cbor:"1,keyasint"`
	ID       []byte   `cbor:"2,keyasint"` // LeaseIDLen random bytes; stays the same across renewals
	Product  string   `cbor:"3,keyasint"`
	Features []string `cbor:"4,keyasint,omitempty"` // sorted, no duplicates
	Client   []byte   `cbor:"5,keyasint"`           // Ed25519 public key of the client installation
	Issued   int64    `cbor:"6,keyasint"`           // Unix seconds, server clock
	Expires  int64    `cbor:"7,keyasint"`           // Unix seconds: the lease is void from then on
	// Borrowed is set on a borrowed lease: the seat is away until Expires,
	// and the lease needs no heartbeat.
	Borrowed bool `cbor:"8,keyasint,omitempty"`
	// License is the pool license's signed bytes (crypto.TagLicense).
	License []byte `cbor:"9,keyasint"`
}

// IssuedTime and ExpiresTime return the lease's times.
func (l *Lease) IssuedTime() time.Time  { return time.Unix(l.Issued, 0).UTC() }
func (l *Lease) ExpiresTime() time.Time { return time.Unix(l.Expires, 0).UTC() }

// IDString is the lease id in hex.
func (l *Lease) IDString() string { return fmt.Sprintf("%x", l.ID) }

func (l *Lease) validate() error {
	bad := func(field, reason string) error { return &request.FieldError{Field: "lease " + field, Reason: reason} }
	if l.Version != LeaseVersion {
		return bad("version", fmt.Sprintf("unsupported version %d", l.Version))
	}
	if len(l.ID) != LeaseIDLen {
		return bad("id", "wrong size")
	}
	if e := request.ValidText(l.Product, request.MaxProduct); e != "" {
		return bad("product", e)
	}
	if len(l.Features) > response.MaxFeatures {
		return bad("features", "too many")
	}
	for i, f := range l.Features {
		if e := request.ValidText(f, response.MaxFeatureName); e != "" {
			return bad("feature", e)
		}
		if i > 0 && l.Features[i-1] >= f {
			return bad("features", "not sorted or repeated")
		}
	}
	if len(l.Client) != ed25519.PublicKeySize {
		return bad("client key", "wrong size")
	}
	if l.Issued <= 0 || l.Expires <= l.Issued {
		return bad("times", "missing, or expiry not after issue")
	}
	if len(l.License) == 0 || len(l.License) > crypto.MaxMessage/2 {
		return bad("license", "missing or too large")
	}
	return nil
}

// SignLease signs l with the server identity. l.License must be the
// server's pool license, bound to server.
func SignLease(server *crypto.Identity, l *Lease) ([]byte, error) {
	if err := l.validate(); err != nil {
		return nil, err
	}
	payload, err := wire.Marshal(l)
	if err != nil {
		return nil, err
	}
	return crypto.Sign(server, TagLease, payload)
}

// ParseLease decodes a lease token without verifying anything: for
// display. Use VerifyLease to decide whether a lease is valid here.
func ParseLease(token []byte) (*Lease, error) {
	s, err := crypto.ParseSigned(token)
	if err != nil {
		return nil, result.Wrap(result.Malformed, "not a valid lease", err)
	}
	if s.Tag != TagLease {
		return nil, result.New(result.Malformed, "not a lease (signed as another message type)")
	}
	l := new(Lease)
	if err := wire.Unmarshal(s.Payload, l); err != nil {
		return nil, result.Wrap(result.Malformed, "not a valid lease", err)
	}
	if err := l.validate(); err != nil {
		return nil, result.Wrap(result.Malformed, "not a valid lease", err)
	}
	return l, nil
}

// LeaseExpect is what a client knows when it verifies a lease.
type LeaseExpect struct {
	VendorKeys   []*crypto.Public // pinned in the product
	Product      string           // "" does not check
	Installation *crypto.Public   // this installation; nil does not check
	Now          time.Time        // zero means time.Now
	// Skew is the clock difference tolerated between the server and this
	// machine on the lease's issue time (never on its expiry).
	Skew time.Duration
	// Known, when set, is a pool license the caller verified under
	// VendorKeys before: a lease attaching exactly these bytes skips the
	// vendor signature check (a heartbeat then costs one verification, not
	// two). Its time window is checked as always.
	Known *response.Signed
}

// VerifyLease verifies a lease token from the vendor keys alone and returns
// the lease and its pool license. The checks, in order: the token is a
// well-formed lease (MALFORMED); the attached pool license verifies under
// a pinned vendor key (UNKNOWN_VENDOR_KEY, SIGNATURE_INVALID) and is a
// pool license for the lease's product (MALFORMED, PRODUCT_MISMATCH); the
// lease is signed by the server key that license names (SIGNATURE_INVALID);
// the features are licensed (MALFORMED); the lease names this installation
// (INSTALLATION_MISMATCH); the license's window holds (NOT_YET_VALID,
// EXPIRED, LEASE_EXPIRED) and the lease is not over (LEASE_EXPIRED).
func VerifyLease(token []byte, e *LeaseExpect) (*Lease, *response.License, error) {
	s, err := crypto.ParseSigned(token)
	if err != nil {
		return nil, nil, result.Wrap(result.Malformed, "not a valid lease", err)
	}
	if s.Tag != TagLease {
		return nil, nil, result.New(result.Malformed, "not a lease (signed as another message type)")
	}
	l := new(Lease)
	if err := wire.Unmarshal(s.Payload, l); err != nil {
		return nil, nil, result.Wrap(result.Malformed, "not a valid lease", err)
	}
	if err := l.validate(); err != nil {
		return nil, nil, result.Wrap(result.Malformed, "not a valid lease", err)
	}
	var lic *response.License
	if e.Known != nil && bytes.Equal(e.Known.Bytes, l.License) {
		lic = e.Known.License
	} else if lic, _, err = response.Parse(l.License, e.VendorKeys...); err != nil {
		return nil, nil, err
	}
	if lic.Pool == nil {
		return nil, nil, result.New(result.Malformed, "the lease's license is not a pool license")
	}
	if lic.Product != l.Product {
		return nil, nil, result.New(result.ProductMismatch, fmt.Sprintf("the lease is for product %q, its pool license for %q", l.Product, lic.Product))
	}
	if e.Product != "" && l.Product != e.Product {
		return nil, nil, result.New(result.ProductMismatch, fmt.Sprintf("lease is for product %q, not %q", l.Product, e.Product))
	}
	if err := verifyByServer(s, lic); err != nil {
		return nil, nil, result.Wrap(result.SignatureInvalid, "lease is not signed by a server its pool license names", err)
	}
	for _, f := range l.Features {
		if _, ok := lic.Features[f]; ok {
			continue
		}
		if _, ok := lic.Pool.FeatureSeats[f]; ok {
			continue
		}
		return nil, nil, result.New(result.Malformed, fmt.Sprintf("the lease names feature %q, which its pool license does not grant", f))
	}
	if e.Installation != nil && subtle.ConstantTimeCompare(l.Client, e.Installation.Sign) != 1 {
		return nil, nil, result.New(result.InstallationMismatch, "lease was granted to another installation")
	}
	now := e.Now
	if now.IsZero() {
		now = time.Now()
	}
	t := now.Unix()
	skew := int64(e.Skew / time.Second)
	if t+skew < lic.NotBefore {
		return nil, nil, result.New(result.NotYetValid, "the pool license is not valid yet (valid from "+lic.NotBeforeTime().Format(time.RFC3339)+")")
	}
	if lic.Expires != 0 && t >= lic.Expires {
		return nil, nil, result.New(result.Expired, "the pool license expired on "+lic.ExpiresTime().Format(time.RFC3339))
	}
	if lic.LeaseUntil != 0 && t >= lic.LeaseUntil {
		return nil, nil, result.New(result.LeaseExpired, "the floating server's own license lease ended on "+lic.LeaseUntilTime().Format(time.RFC3339)+"; the server must renew it")
	}
	if t+skew < l.Issued {
		return nil, nil, result.New(result.NotYetValid, "lease is issued in the future: this machine's clock is behind the server's")
	}
	if t >= l.Expires {
		return nil, nil, result.New(result.LeaseExpired, "lease ended on "+l.ExpiresTime().Format(time.RFC3339)+"; acquire a seat again")
	}
	return l, lic, nil
}

// verifyByServer checks that s is signed by one of the keys the pool
// license names: its one server's, or any of its nodes'.
func verifyByServer(s *crypto.Signed, lic *response.License) error {
	keys := lic.ServerKeys()
	pubs := make([]ed25519.PublicKey, len(keys))
	for i, k := range keys {
		pubs[i] = k
	}
	_, err := s.Verify(TagLease, pubs...)
	return err
}

// Proof is what a client signs to act on a seat: the operation and its
// arguments, bound to a nonce from the server and to the server's key id.
type Proof struct {
	Version  uint     `cbor:"1,keyasint"`
	Op       string   `cbor:"2,keyasint"` // one of the Op* constants
	Nonce    []byte   `cbor:"3,keyasint"` // NonceLen bytes from the server
	Server   []byte   `cbor:"4,keyasint"` // the server's key id
	Client   []byte   `cbor:"5,keyasint"` // the client's Ed25519 public key
	Product  string   `cbor:"6,keyasint"`
	Features []string `cbor:"7,keyasint,omitempty"`
	Lease    []byte   `cbor:"8,keyasint,omitempty"`  // the lease acted on (renew, release, return)
	Borrow   int64    `cbor:"9,keyasint,omitempty"`  // borrow until, Unix seconds
	Feature  string   `cbor:"10,keyasint,omitempty"` // consume: the feature counter, "" for the license's
	Amount   uint64   `cbor:"11,keyasint,omitempty"` // consume: units
	Hostname string   `cbor:"12,keyasint,omitempty"` // informative, for the admin's list
}

// Operations a proof may carry.
const (
	OpAcquire = "acquire"
	OpRenew   = "renew"
	OpRelease = "release"
	OpBorrow  = "borrow"
	OpConsume = "consume"
)

// NonceLen is the size of a server nonce.
const NonceLen = 16

// MaxHostname bounds Proof.Hostname.
const MaxHostname = 128

func (p *Proof) validate() error {
	bad := func(field, reason string) error { return &request.FieldError{Field: "proof " + field, Reason: reason} }
	if p.Version != LeaseVersion {
		return bad("version", fmt.Sprintf("unsupported version %d", p.Version))
	}
	switch p.Op {
	case OpAcquire, OpRenew, OpRelease, OpBorrow, OpConsume:
	default:
		return bad("operation", "unknown")
	}
	if len(p.Nonce) != NonceLen || len(p.Server) != len(crypto.KeyID{}) || len(p.Client) != ed25519.PublicKeySize {
		return bad("nonce or keys", "wrong size")
	}
	if e := request.ValidText(p.Product, request.MaxProduct); e != "" {
		return bad("product", e)
	}
	if len(p.Features) > response.MaxFeatures {
		return bad("features", "too many")
	}
	for i, f := range p.Features {
		if e := request.ValidText(f, response.MaxFeatureName); e != "" {
			return bad("feature", e)
		}
		if i > 0 && p.Features[i-1] >= f {
			return bad("features", "not sorted or repeated")
		}
	}
	if len(p.Lease) != 0 && len(p.Lease) != LeaseIDLen {
		return bad("lease", "wrong size")
	}
	if p.Feature != "" {
		if e := request.ValidText(p.Feature, response.MaxFeatureName); e != "" {
			return bad("feature", e)
		}
	}
	if p.Borrow < 0 {
		return bad("borrow", "negative")
	}
	if len(p.Hostname) > MaxHostname || (p.Hostname != "" && request.ValidText(p.Hostname, MaxHostname) != "") {
		return bad("hostname", "invalid")
	}
	return nil
}

// SignProof signs p with the client installation identity; it sets
// p.Version and p.Client.
func SignProof(inst *crypto.Identity, p *Proof) ([]byte, error) {
	p.Version = LeaseVersion
	p.Client = slices.Clone(inst.Public().Sign)
	if err := p.validate(); err != nil {
		return nil, err
	}
	payload, err := wire.Marshal(p)
	if err != nil {
		return nil, err
	}
	return crypto.Sign(inst, TagProof, payload)
}

// ParseProof parses a proof and verifies it under the client key it
// names. Whether the nonce is fresh and the server key id is this
// server's is the server's to check.
func ParseProof(data []byte) (*Proof, error) {
	s, err := crypto.ParseSigned(data)
	if err != nil {
		return nil, err
	}
	if s.Tag != TagProof {
		return nil, fmt.Errorf("%w: not a lease proof", crypto.ErrMalformed)
	}
	p := new(Proof)
	if err := wire.Unmarshal(s.Payload, p); err != nil {
		return nil, fmt.Errorf("%w: %v", crypto.ErrMalformed, err)
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", crypto.ErrMalformed, err)
	}
	if _, err := s.Verify(TagProof, ed25519.PublicKey(p.Client)); err != nil {
		return nil, err
	}
	return p, nil
}
