package response

import (
	"fmt"
	"sort"
	"strings"

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
	return nil
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
