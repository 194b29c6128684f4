package fingerprint

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// PolicyKind says how many of a license's components must still match the
// machine. The numbers are on the wire: never renumber them.
type PolicyKind uint8

const (
	// PolicyAll, the zero value: every licensed component must be present
	// now with the same value. Components that appeared since (say, the
	// product now runs as root and reads the DMI serials) do not matter.
	PolicyAll PolicyKind = 0
	// PolicyMost: strictly more than half of the licensed components must
	// be present and equal. With four components, one may change (a
	// replaced disk); with six, two may.
	PolicyMost PolicyKind = 1
	// PolicyAtLeast: at least Policy.N licensed components must be present
	// and equal.
	PolicyAtLeast PolicyKind = 2
	// PolicyExact: the machine's components now are exactly the licensed
	// ones, with the same values: none changed, missing or added.
	PolicyExact PolicyKind = 3
)

// String returns the kind's name: "all", "most", "atleast" or "exact".
func (k PolicyKind) String() string {
	switch k {
	case PolicyAll:
		return "all"
	case PolicyMost:
		return "most"
	case PolicyAtLeast:
		return "atleast"
	case PolicyExact:
		return "exact"
	}
	return "policy(" + strconv.Itoa(int(k)) + ")"
}

// Policy is a match policy: how tolerant verification is of hardware
// changes. The vendor sets it in the signed license. The zero Policy is
// PolicyAll.
type Policy struct {
	Kind PolicyKind
	// N is the number of components PolicyAtLeast needs, from 1 to 255.
	// Other kinds ignore it.
	N uint8
}

// Common policies.
var (
	MatchAll   = Policy{Kind: PolicyAll}
	MatchMost  = Policy{Kind: PolicyMost}
	MatchExact = Policy{Kind: PolicyExact}
)

// AtLeast returns the policy "atleast:n".
func AtLeast(n uint8) Policy { return Policy{Kind: PolicyAtLeast, N: n} }

// ParsePolicy parses "all", "most", "exact" or "atleast:N" (also written
// "atleast-N"), where N is a decimal number from 1 to 255 without sign or
// leading zeros. Anything else is an error wrapping ErrInvalidPolicy.
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "all":
		return MatchAll, nil
	case "most":
		return MatchMost, nil
	case "exact":
		return MatchExact, nil
	}
	rest, ok := strings.CutPrefix(s, "atleast:")
	if !ok {
		rest, ok = strings.CutPrefix(s, "atleast-")
	}
	if ok {
		n, err := parseSmallUint(rest)
		if err == nil && n >= 1 && n <= 255 {
			return AtLeast(uint8(n)), nil
		}
		return Policy{}, fmt.Errorf("%w: %q: N must be a number from 1 to 255", ErrInvalidPolicy, clip(s))
	}
	return Policy{}, fmt.Errorf("%w: %q: want all, most, exact or atleast:N", ErrInvalidPolicy, clip(s))
}

// String returns the policy in the form ParsePolicy reads: "all", "most",
// "exact" or "atleast:N".
func (p Policy) String() string {
	if p.Kind == PolicyAtLeast {
		return "atleast:" + strconv.Itoa(int(p.N))
	}
	return p.Kind.String()
}

// Valid reports whether p is a policy ParsePolicy could return. Match
// refuses every machine under an invalid policy.
func (p Policy) Valid() bool {
	switch p.Kind {
	case PolicyAll, PolicyMost, PolicyExact:
		return true
	case PolicyAtLeast:
		return p.N >= 1
	}
	return false
}

// MarshalText encodes the policy as String does.
func (p Policy) MarshalText() ([]byte, error) {
	if !p.Valid() {
		return nil, fmt.Errorf("%w: %s", ErrInvalidPolicy, p)
	}
	return []byte(p.String()), nil
}

// UnmarshalText decodes what MarshalText encodes.
func (p *Policy) UnmarshalText(b []byte) error {
	q, err := ParsePolicy(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// MatchResult says how a machine's components compare with a license's. It
// names components, never values.
type MatchResult struct {
	// OK reports whether the policy is met.
	OK bool
	// Matched counts the licensed components present now with the same
	// digest.
	Matched int
	// Total counts the licensed components.
	Total int
	// Changed lists licensed components present now with another digest.
	Changed []ComponentID
	// Missing lists licensed components unavailable now. They count as not
	// matching.
	Missing []ComponentID
	// Added lists components available now that the license does not have.
	Added []ComponentID
}

// String summarises the result, such as
// "mismatch: 3 of 4 components match under all (changed: disk)".
func (m MatchResult) String() string {
	var b strings.Builder
	if m.OK {
		b.WriteString("match: ")
	} else {
		b.WriteString("mismatch: ")
	}
	fmt.Fprintf(&b, "%d of %d components match", m.Matched, m.Total)
	for _, l := range []struct {
		name string
		ids  []ComponentID
	}{{"changed", m.Changed}, {"missing", m.Missing}, {"added", m.Added}} {
		if len(l.ids) == 0 {
			continue
		}
		names := make([]string, len(l.ids))
		for i, id := range l.ids {
			names[i] = id.String()
		}
		fmt.Fprintf(&b, "; %s: %s", l.name, strings.Join(names, ", "))
	}
	return b.String()
}

// Match compares the digests a license was issued for with the machine's
// digests now (Fingerprint.Components of both), under the policy.
//
// A license without components matches nothing, and neither does an invalid
// policy. Digests are compared per component ID; a list that repeats an ID
// is malformed (Hash never makes one) and matches nothing.
func (p Policy) Match(licensed, current []Digest) MatchResult {
	lic, okL := index(licensed)
	cur, okC := index(current)
	var m MatchResult
	m.Total = len(lic)
	for _, id := range sortedIDs(lic) {
		sum, present := cur[id]
		switch {
		case !present:
			m.Missing = append(m.Missing, id)
		case sum != lic[id]:
			m.Changed = append(m.Changed, id)
		default:
			m.Matched++
		}
	}
	for _, id := range sortedIDs(cur) {
		if _, licensedToo := lic[id]; !licensedToo {
			m.Added = append(m.Added, id)
		}
	}
	if !okL || !okC || m.Total == 0 || !p.Valid() {
		return m
	}
	switch p.Kind {
	case PolicyAll:
		m.OK = m.Matched == m.Total
	case PolicyMost:
		m.OK = 2*m.Matched > m.Total
	case PolicyAtLeast:
		m.OK = m.Matched >= int(p.N)
	case PolicyExact:
		m.OK = m.Matched == m.Total && len(m.Added) == 0
	}
	return m
}

// index maps digests by ID and reports whether no ID repeats.
func index(ds []Digest) (map[ComponentID][8]byte, bool) {
	m := make(map[ComponentID][8]byte, len(ds))
	ok := true
	for _, d := range ds {
		if _, dup := m[d.ID]; dup {
			ok = false
			continue
		}
		m[d.ID] = d.Sum
	}
	return m, ok
}

func sortedIDs(m map[ComponentID][8]byte) []ComponentID {
	ids := make([]ComponentID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
