// Package usage builds, signs, parses and verifies usage reports: what a
// floating server inside an air gap tells its vendor about the use of its
// pool licenses, carried back across the gap like any airlock message.
//
// # Format
//
// A report is a COSE_Sign1 under the tag [Tag], signed by the server's
// installation key (the key its pool licenses are bound to), whose payload
// is the CBOR [Report]. Reports of one server are numbered 1, 2, 3… and
// each names the SHA-256 of the signed bytes of the one before (Prev; 32
// zero bytes for report 1), so the vendor sees a report that is missing,
// sent twice, or made by a copy of the server (two different reports with
// one number, or a report that does not follow the one before): see
// [CheckChain]. The text form is armor kind AU1 ("USAGE REPORT"). The
// specification is in docs/format.md.
//
// # Trust
//
// Verify checks the signature against the key the report names; whether
// that key is the binding of a pool license is the desk's question (the
// ledger knows the server's activations). Everything in a verified report
// is what the server says: a server whose owner controls its database can
// lie about its own use; the chain makes a server that is copied, or whose
// database is rolled back, visible.
package usage

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/wire"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/result"
)

// Tag is the domain-separation tag a report is signed under.
const Tag = "airlock/usage-report-v1"

// Version is the only format version this package reads and writes.
const Version = 1

// Limits on a report. The whole signed report is at most
// crypto.MaxMessage bytes.
const (
	MaxProducts = 32
	MaxFeatures = 32 // per product
	MaxHolders  = 64 // per product
	MaxEvents   = 32 // listed one by one; the counts cover them all
	MaxName     = 128
	MaxDetail   = 200
	MaxText     = armor.MaxText
)

// Report is the signed content of a usage report. From Verify, every field
// is what the server's key says.
type Report struct {
	Version uint   `cbor:"1,keyasint" json:"version"`
	Server  []byte `cbor:"2,keyasint" json:"server"` // Ed25519 public key of the server
	Seq     uint64 `cbor:"3,keyasint" json:"seq"`    // 1, 2, 3…
	Prev    []byte `cbor:"4,keyasint" json:"prev"`   // SHA-256 of report Seq-1's signed bytes; zeros for 1
	From    int64  `cbor:"5,keyasint" json:"from"`   // period start, Unix seconds
	To      int64  `cbor:"6,keyasint" json:"to"`     // period end (the report's making)
	// Pseudonymised is true when host names and installation ids are
	// keyed hashes (the key stays on the server).
	Pseudonymised bool         `cbor:"7,keyasint,omitempty" json:"pseudonymised,omitempty"`
	Products      []Product    `cbor:"8,keyasint" json:"products"`
	Events        []EventCount `cbor:"9,keyasint,omitempty" json:"event_counts,omitempty"` // hardware-key events and clock jumps, by kind
	Listed        []Event      `cbor:"10,keyasint,omitempty" json:"events,omitempty"`      // the first MaxEvents of them
	ClockJumps    []ClockJump  `cbor:"11,keyasint,omitempty" json:"clock_jumps,omitempty"`
	Anchor        int64        `cbor:"12,keyasint,omitempty" json:"clock_anchor,omitempty"` // the latest time the server had seen
}

// Product is one pool license's use over the period.
type Product struct {
	Product    string    `cbor:"1,keyasint" json:"product"`
	LicenseKey string    `cbor:"2,keyasint" json:"license_key"`
	Seats      uint32    `cbor:"3,keyasint" json:"seats"`
	Usage      Usage     `cbor:"4,keyasint" json:"usage"`
	Features   []Feature `cbor:"5,keyasint,omitempty" json:"features,omitempty"`
	Holders    []Holder  `cbor:"6,keyasint,omitempty" json:"holders,omitempty"`
	// Events counts the events of the period that concern this pool
	// license (the hardware-key events of the key it is bound to), by
	// kind.
	Events []EventCount `cbor:"7,keyasint,omitempty" json:"event_counts,omitempty"`
}

// Usage is what was used of a pool (or a feature's pool).
type Usage struct {
	Peak uint32 `cbor:"1,keyasint" json:"peak"` // most seats in use at once
	// AverageMilli is the time-weighted average of seats in use, in
	// thousandths of a seat.
	AverageMilli uint64 `cbor:"2,keyasint" json:"average_milli"`
	Borrowed     uint32 `cbor:"3,keyasint,omitempty" json:"borrowed,omitempty"`     // most seats borrowed at once
	Denials      uint64 `cbor:"4,keyasint,omitempty" json:"denials,omitempty"`      // grants refused: no seat free
	Consumed     uint64 `cbor:"5,keyasint,omitempty" json:"consumed,omitempty"`     // units consumed in the period
	OverageUsed  uint64 `cbor:"6,keyasint,omitempty" json:"overage_used,omitempty"` // counter beyond its allowance, at the end
}

// Average is AverageMilli in seats.
func (u Usage) Average() float64 { return float64(u.AverageMilli) / 1000 }

// Feature is a feature's use.
type Feature struct {
	Name  string `cbor:"1,keyasint" json:"name"`
	Usage Usage  `cbor:"2,keyasint" json:"usage"`
}

// Holder is a machine that held seats in the period.
type Holder struct {
	Host         string `cbor:"1,keyasint" json:"host"`
	Installation string `cbor:"2,keyasint" json:"installation"` // key id, or its pseudonym
	Grants       uint32 `cbor:"3,keyasint" json:"grants"`
}

// EventCount counts the events of one kind in the period.
type EventCount struct {
	Kind  string `cbor:"1,keyasint" json:"kind"`
	Count uint64 `cbor:"2,keyasint" json:"count"`
}

// Event is one event of the server's log.
type Event struct {
	At      int64  `cbor:"1,keyasint" json:"at"`
	Kind    string `cbor:"2,keyasint" json:"kind"`
	Product string `cbor:"3,keyasint,omitempty" json:"product,omitempty"`
	Detail  string `cbor:"4,keyasint,omitempty" json:"detail,omitempty"`
}

// ClockJump is a jump of the server's clock: Seconds < 0 back, > 0
// forward.
type ClockJump struct {
	At      int64 `cbor:"1,keyasint" json:"at"`
	Seconds int64 `cbor:"2,keyasint" json:"seconds"`
}

// Event kinds a report counts.
var Kinds = []string{"hwkey.present", "hwkey.missing", "hwkey.proof_failed", "hwkey.mismatch", "clock.back", "clock.forward"}

// Signed is a report with its signed encoding.
type Signed struct {
	Report *Report
	Bytes  []byte
	Hash   [32]byte // SHA-256 of Bytes: the next report's Prev
}

// Text returns the armored file form.
func (s *Signed) Text() []byte { return armor.Encode(armor.UsageReport, s.Bytes) }

// ServerID is the key id of the server that signed the report.
func (r *Report) ServerID() crypto.KeyID { return crypto.KeyIDOf(r.Server) }

// FromTime and ToTime are the period.
func (r *Report) FromTime() time.Time { return time.Unix(r.From, 0).UTC() }
func (r *Report) ToTime() time.Time   { return time.Unix(r.To, 0).UTC() }

// Sign signs r with the server's installation identity (r.Server and
// r.Version are set from it).
func Sign(server *crypto.Identity, r *Report) (*Signed, error) {
	if server.Role != crypto.RoleInstallation {
		return nil, errors.New("a usage report must be signed by the server's installation key")
	}
	r.Version = Version
	r.Server = server.Public().Sign
	if r.Seq == 1 && r.Prev == nil {
		r.Prev = make([]byte, sha256.Size)
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	payload, err := wire.Marshal(r)
	if err != nil {
		return nil, err
	}
	b, err := crypto.Sign(server, Tag, payload)
	if err != nil {
		return nil, err
	}
	return &Signed{Report: r, Bytes: b, Hash: sha256.Sum256(b)}, nil
}

// ParseText decodes any text presentation of a report and verifies it.
func ParseText(text []byte) (*Signed, error) {
	if len(text) > MaxText {
		return nil, result.New(result.Malformed, fmt.Sprintf("not a valid usage report: larger than %d bytes", MaxText))
	}
	b, err := armor.DecodeKind(text, armor.UsageReport)
	if err != nil {
		return nil, result.Wrap(result.Malformed, "not a valid usage report", err)
	}
	return Verify(b)
}

// Parse parses a signed report and checks that it is well formed
// (MALFORMED), without checking its signature: the fields are untrusted
// until Verify.
func Parse(data []byte) (*Signed, error) {
	s, err := crypto.ParseSigned(data)
	if err != nil {
		return nil, result.Wrap(result.Malformed, "not a valid usage report", err)
	}
	if s.Tag != Tag {
		return nil, result.New(result.Malformed, "not a usage report (signed as another message type)")
	}
	r := new(Report)
	if err := wire.Unmarshal(s.Payload, r); err != nil {
		return nil, result.Wrap(result.Malformed, "not a valid usage report", err)
	}
	if err := r.validate(); err != nil {
		return nil, result.Wrap(result.Malformed, "not a valid usage report", err)
	}
	return &Signed{Report: r, Bytes: bytes.Clone(data), Hash: sha256.Sum256(data)}, nil
}

// Verify checks that the report is signed by the server key it names
// (SIGNATURE_INVALID).
func (s *Signed) Verify() error {
	sig, err := crypto.ParseSigned(s.Bytes)
	if err == nil {
		_, err = sig.Verify(Tag, ed25519.PublicKey(s.Report.Server))
	}
	if err != nil {
		return result.Wrap(result.SignatureInvalid, "the usage report is not signed by the server key it names", err)
	}
	return nil
}

// Verify parses a signed report and checks that it is well formed and
// signed by the server key it names (MALFORMED, SIGNATURE_INVALID).
func Verify(data []byte) (*Signed, error) {
	s, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if err := s.Verify(); err != nil {
		return nil, err
	}
	return s, nil
}

func bad(field, reason string) error { return &request.FieldError{Field: field, Reason: reason} }

func (r *Report) validate() error {
	switch {
	case r.Version != Version:
		return bad("version", fmt.Sprintf("unsupported version %d", r.Version))
	case len(r.Server) != ed25519.PublicKeySize:
		return bad("server", "wrong size")
	case r.Seq == 0:
		return bad("seq", "missing")
	case len(r.Prev) != sha256.Size:
		return bad("prev", "wrong size")
	case r.Seq == 1 && !bytes.Equal(r.Prev, make([]byte, sha256.Size)):
		return bad("prev", "report 1 follows no report")
	case r.From <= 0 || r.To < r.From:
		return bad("period", "missing or ends before it starts")
	case len(r.Products) > MaxProducts:
		return bad("products", "too many")
	case len(r.Listed) > MaxEvents || len(r.ClockJumps) > MaxEvents:
		return bad("events", "too many")
	case r.Anchor < 0:
		return bad("clock anchor", "negative")
	}
	seen := map[string]bool{}
	for _, p := range r.Products {
		if e := request.ValidText(p.Product, request.MaxProduct); e != "" {
			return bad("product", e)
		}
		if seen[p.Product] {
			return bad("product", "listed twice")
		}
		seen[p.Product] = true
		if e := request.ValidText(p.LicenseKey, MaxName); e != "" {
			return bad("license key", e)
		}
		if len(p.Features) > MaxFeatures || len(p.Holders) > MaxHolders {
			return bad("product "+p.Product, "too many features or holders")
		}
		if !validCounts(p.Events) {
			return bad("product "+p.Product, "event counts: unknown, repeated or empty kind")
		}
		names := map[string]bool{}
		for _, f := range p.Features {
			if e := request.ValidText(f.Name, MaxName); e != "" {
				return bad("feature", e)
			}
			if names[f.Name] {
				return bad("feature", "listed twice")
			}
			names[f.Name] = true
		}
		for _, h := range p.Holders {
			if len(h.Host) > MaxName || request.ValidText(h.Installation, MaxName) != "" {
				return bad("holder", "invalid host or installation")
			}
			if h.Host != "" && request.ValidText(h.Host, MaxName) != "" {
				return bad("holder", request.ValidText(h.Host, MaxName))
			}
		}
	}
	if !validCounts(r.Events) {
		return bad("event counts", "unknown, repeated or empty kind")
	}
	for _, e := range r.Listed {
		if !knownKind(e.Kind) || e.At <= 0 || len(e.Detail) > MaxDetail || (e.Detail != "" && request.ValidText(e.Detail, MaxDetail) != "") ||
			(e.Product != "" && request.ValidText(e.Product, request.MaxProduct) != "") {
			return bad("event", "invalid")
		}
	}
	for _, j := range r.ClockJumps {
		if j.At <= 0 || j.Seconds == 0 {
			return bad("clock jump", "invalid")
		}
	}
	return nil
}

// validCounts: each kind known, once, with a count.
func validCounts(counts []EventCount) bool {
	if len(counts) > len(Kinds) {
		return false
	}
	kinds := map[string]bool{}
	for _, e := range counts {
		if !knownKind(e.Kind) || kinds[e.Kind] || e.Count == 0 {
			return false
		}
		kinds[e.Kind] = true
	}
	return true
}

func knownKind(k string) bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}
