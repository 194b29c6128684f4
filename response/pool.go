package response

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/wire"
	"github.com/airlock-offline/airlock/request"
)

// Pool makes a license a pool license: the license of a floating server
// (airlock-server), which hands its seats to the machines around it as
// signed leases. The license's binding names the server's installation key,
// which signs those leases; a client that trusts the vendor key trusts the
// server key through this license, and nothing else.
//
// Every field is signed by the vendor.
type Pool struct {
	// Seats is how many leases may be held at once, borrowed ones included.
	Seats uint32 `cbor:"1,keyasint"`
	// LeaseTTL is the life of a lease in seconds: a client that stops
	// renewing loses its seat at most this long after its last renewal.
	LeaseTTL uint32 `cbor:"2,keyasint"`
	// Heartbeat is how often, in seconds, clients renew (less than LeaseTTL).
	Heartbeat uint32 `cbor:"3,keyasint"`
	// BorrowDays is the longest a seat may be borrowed, in days; 0 forbids
	// borrowing.
	BorrowDays uint32 `cbor:"4,keyasint,omitempty"`
	// BorrowMax is how many seats may be borrowed at once; 0 means as many
	// as there are seats (when BorrowDays allows borrowing at all).
	BorrowMax uint32 `cbor:"5,keyasint,omitempty"`
	// FeatureSeats are the features' own seat pools: a lease that names a
	// feature takes one of its seats as well as a seat of the pool.
	FeatureSeats map[string]uint32 `cbor:"6,keyasint,omitempty"`
	// Consumption caps the license's consumption counter; nil means the
	// license has no counter.
	Consumption *Allowance `cbor:"7,keyasint,omitempty"`
	// FeatureConsumption caps each feature's consumption counter.
	FeatureConsumption map[string]Allowance `cbor:"8,keyasint,omitempty"`
	// Nodes, on a pool served by several airlock-server nodes sharing one
	// database, are every node's installation key (Ed25519 public keys),
	// as the nodes' one co-signed request named them: any of them may
	// sign leases. Empty for a pool served by its one server (the
	// binding's key). See nodes.go.
	Nodes [][]byte `cbor:"9,keyasint,omitempty"`
	// ReportEvery, when not 0, is how often in days the server must send
	// the vendor a usage report and install the pool license the vendor
	// returns: ReportEvery+ReportGrace days after this license was
	// issued, the server grants no new seats (report_overdue).
	ReportEvery uint32 `cbor:"10,keyasint,omitempty"`
	// ReportGrace is the days of grace after ReportEvery.
	ReportGrace uint32 `cbor:"11,keyasint,omitempty"`
}

// Allowance caps a consumption counter: Max units, plus Overage units
// beyond it that are granted and reported as overage.
type Allowance struct {
	Max     uint64 `cbor:"1,keyasint"`
	Overage uint64 `cbor:"2,keyasint,omitempty"`
}

// Cap is the most a counter under a may reach.
func (a Allowance) Cap() uint64 {
	if a.Max+a.Overage < a.Max {
		return ^uint64(0)
	}
	return a.Max + a.Overage
}

// Limits on pool licenses.
const (
	MaxPoolSeats = 1 << 20
	MinLeaseTTL  = 10            // seconds
	MaxLeaseTTL  = 7 * 24 * 3600 // seconds
	MaxBorrow    = 366           // days
	MaxReport    = 3660          // days, for ReportEvery and ReportGrace
)

// Default pool timings, used by the desk when the vendor names none.
const (
	DefaultLeaseTTL  = 180 // seconds
	DefaultHeartbeat = 60  // seconds
)

func (p *Pool) validate() error {
	bad := func(field, reason string) error {
		return &request.FieldError{Field: "pool " + field, Reason: reason}
	}
	if p.Seats == 0 || p.Seats > MaxPoolSeats {
		return bad("seats", fmt.Sprintf("must be 1 to %d", MaxPoolSeats))
	}
	if p.LeaseTTL < MinLeaseTTL || p.LeaseTTL > MaxLeaseTTL {
		return bad("lease ttl", fmt.Sprintf("must be %d to %d seconds", MinLeaseTTL, MaxLeaseTTL))
	}
	if p.Heartbeat == 0 || p.Heartbeat >= p.LeaseTTL {
		return bad("heartbeat", "must be at least 1 second and less than the lease ttl")
	}
	if p.BorrowDays > MaxBorrow {
		return bad("borrow days", fmt.Sprintf("more than %d", MaxBorrow))
	}
	if p.BorrowMax > p.Seats || (p.BorrowMax != 0 && p.BorrowDays == 0) {
		return bad("borrow max", "more than the seats, or set without borrow days")
	}
	if len(p.FeatureSeats) > MaxFeatures || len(p.FeatureConsumption) > MaxFeatures {
		return bad("features", "too many")
	}
	for name, n := range p.FeatureSeats {
		if e := request.ValidText(name, MaxFeatureName); e != "" {
			return bad("feature name", e)
		}
		if n == 0 || n > p.Seats {
			return bad("feature seats", "0 or more than the pool's seats")
		}
	}
	for name, a := range p.FeatureConsumption {
		if e := request.ValidText(name, MaxFeatureName); e != "" {
			return bad("feature name", e)
		}
		if a.Max == 0 {
			return bad("feature consumption", "zero allowance")
		}
	}
	if p.Consumption != nil && p.Consumption.Max == 0 {
		return bad("consumption", "zero allowance")
	}
	if p.ReportEvery > MaxReport || p.ReportGrace > MaxReport || (p.ReportGrace != 0 && p.ReportEvery == 0) {
		return bad("report", fmt.Sprintf("every and grace must be up to %d days, grace only with every", MaxReport))
	}
	return p.validateNodes()
}

// String describes the pool on one line, for `license show` and status
// displays: "25 seats, lease 180s (heartbeat 60s), borrow up to 7 days
// (5 at once), feature cad: 5 seats, consumption 1000 (+100 overage)".
func (p *Pool) String() string {
	parts := []string{fmt.Sprintf("%d seats, lease %ds (heartbeat %ds)", p.Seats, p.LeaseTTL, p.Heartbeat)}
	if p.BorrowDays > 0 {
		at := "any number"
		if p.BorrowMax > 0 {
			at = fmt.Sprint(p.BorrowMax)
		}
		parts = append(parts, fmt.Sprintf("borrow up to %d days (%s at once)", p.BorrowDays, at))
	}
	for _, name := range sortedKeys(p.FeatureSeats) {
		parts = append(parts, fmt.Sprintf("feature %s: %d seats", name, p.FeatureSeats[name]))
	}
	if p.Consumption != nil {
		parts = append(parts, "consumption "+p.Consumption.String())
	}
	for _, name := range sortedKeys(p.FeatureConsumption) {
		parts = append(parts, fmt.Sprintf("feature %s consumption %s", name, p.FeatureConsumption[name]))
	}
	if len(p.Nodes) > 0 {
		parts = append(parts, fmt.Sprintf("served by %d nodes", len(p.Nodes)))
	}
	if p.ReportEvery > 0 {
		parts = append(parts, fmt.Sprintf("usage report every %d days (%d days' grace)", p.ReportEvery, p.ReportGrace))
	}
	return strings.Join(parts, ", ")
}

func (a Allowance) String() string {
	if a.Overage == 0 {
		return fmt.Sprint(a.Max)
	}
	return fmt.Sprintf("%d (+%d overage)", a.Max, a.Overage)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ParsePool parses the desk's pool description: comma-separated
// key=value pairs, for example
//
//	seats=25,ttl=180,heartbeat=60,borrow-days=7,borrow-max=5,
//	feature-seats=render:5,consumption=1000+100,feature-consumption=export:500+50
//
// ttl and heartbeat are seconds (defaults DefaultLeaseTTL and
// DefaultHeartbeat); feature-seats and feature-consumption may repeat.
func ParsePool(s string) (*Pool, error) {
	p := &Pool{LeaseTTL: DefaultLeaseTTL, Heartbeat: DefaultHeartbeat}
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("pool: %q is not key=value", item)
		}
		if seen[k] && k != "feature-seats" && k != "feature-consumption" {
			return nil, fmt.Errorf("pool: %s given twice", k)
		}
		seen[k] = true
		var err error
		switch k {
		case "seats":
			p.Seats, err = parseU32(v)
		case "ttl":
			p.LeaseTTL, err = parseU32(v)
		case "heartbeat":
			p.Heartbeat, err = parseU32(v)
		case "borrow-days":
			p.BorrowDays, err = parseU32(v)
		case "borrow-max":
			p.BorrowMax, err = parseU32(v)
		case "report-every":
			p.ReportEvery, err = parseU32(strings.TrimSuffix(v, "d"))
		case "report-grace":
			p.ReportGrace, err = parseU32(strings.TrimSuffix(v, "d"))
		case "feature-seats":
			name, n, ok := strings.Cut(v, ":")
			if !ok {
				return nil, fmt.Errorf("pool: feature-seats wants name:count, not %q", v)
			}
			if p.FeatureSeats == nil {
				p.FeatureSeats = map[string]uint32{}
			}
			if _, dup := p.FeatureSeats[name]; dup {
				return nil, fmt.Errorf("pool: feature %q has two seat pools", name)
			}
			p.FeatureSeats[name], err = parseU32(n)
		case "consumption":
			var a Allowance
			a, err = parseAllowance(v)
			p.Consumption = &a
		case "feature-consumption":
			name, av, ok := strings.Cut(v, ":")
			if !ok {
				return nil, fmt.Errorf("pool: feature-consumption wants name:max[+overage], not %q", v)
			}
			if p.FeatureConsumption == nil {
				p.FeatureConsumption = map[string]Allowance{}
			}
			if _, dup := p.FeatureConsumption[name]; dup {
				return nil, fmt.Errorf("pool: feature %q has two consumption allowances", name)
			}
			p.FeatureConsumption[name], err = parseAllowance(av)
		default:
			return nil, fmt.Errorf("pool: unknown key %q (want seats, ttl, heartbeat, borrow-days, borrow-max, feature-seats, consumption, feature-consumption, report-every, report-grace)", k)
		}
		if err != nil {
			return nil, fmt.Errorf("pool: %s: %w", k, err)
		}
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return p, nil
}

func parseU32(s string) (uint32, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	return uint32(n), nil
}

func parseAllowance(s string) (Allowance, error) {
	m, o, _ := strings.Cut(s, "+")
	var a Allowance
	var err error
	if a.Max, err = strconv.ParseUint(strings.TrimSpace(m), 10, 64); err != nil {
		return a, fmt.Errorf("%q is not max[+overage]", s)
	}
	if o != "" {
		if a.Overage, err = strconv.ParseUint(strings.TrimSpace(o), 10, 64); err != nil {
			return a, fmt.Errorf("%q is not max[+overage]", s)
		}
	}
	return a, nil
}

// Refresh signs a copy of the pool license prev (already verified, and
// still the one the ledger holds for its server) with new times and a new
// activation id that names prev's as the one it renews: the desk's answer
// to a usage report, which needs no new request because nothing about the
// binding changes. The server installs it like any license; its issue
// time restarts the count of days before the next report is due.
func Refresh(vendor *crypto.Identity, prev *License, activationID []byte, issued, leaseUntil time.Time) (*Signed, error) {
	if vendor.Role != crypto.RoleVendor {
		return nil, errors.New("license must be signed by a vendor key")
	}
	if prev.Pool == nil {
		return nil, errors.New("only a pool license is refreshed")
	}
	l := *prev
	kid := vendor.ID()
	l.ActivationID = activationID
	l.PrevLease = prev.ActivationID
	l.Issued, l.NotBefore = issued.Unix(), issued.Unix()
	l.LeaseUntil = 0
	if !leaseUntil.IsZero() {
		l.LeaseUntil = leaseUntil.Unix()
	}
	l.VendorKeyID = kid[:]
	if err := l.validate(); err != nil {
		return nil, err
	}
	payload, err := wire.Marshal(&l)
	if err != nil {
		return nil, err
	}
	b, err := crypto.Sign(vendor, crypto.TagLicense, payload)
	if err != nil {
		return nil, err
	}
	return &Signed{License: &l, Bytes: b, KeyID: kid}, nil
}
