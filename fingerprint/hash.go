package fingerprint

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"slices"
	"strings"
)

// keyTag separates fingerprint keys from every other use of SHA-256 in
// airlock. The "v1" changes only with a new digest scheme, which would make
// every issued license unmatchable.
const keyTag = "airlock fingerprint v1"

// Domain bytes that start each HMAC input, so that a component digest can
// never equal a combined ID.
const (
	domainComponent = 0x01
	domainCombined  = 0x02
)

// MaxComponents bounds the components in a Fingerprint's encoding.
const MaxComponents = 64

// Digest is one component's keyed digest: the first 8 bytes of
// HMAC-SHA-256. It identifies the component's value for one product of one
// vendor and tells nothing else.
type Digest struct {
	ID  ComponentID
	Sum [8]byte
}

// String returns "name:hex", such as "machine-id:3f9a0c1d2e4b5a69".
func (d Digest) String() string { return d.ID.String() + ":" + hex.EncodeToString(d.Sum[:]) }

// MarshalText encodes the digest as String does.
func (d Digest) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText decodes what MarshalText encodes.
func (d *Digest) UnmarshalText(b []byte) error {
	name, sum, ok := strings.Cut(string(b), ":")
	if !ok || len(sum) != 16 || strings.ToLower(sum) != sum {
		return fmt.Errorf("%w: digest %q", ErrMalformed, clip(string(b)))
	}
	id, err := ParseComponentID(name)
	if err != nil {
		return err
	}
	var out Digest
	if _, err := hex.Decode(out.Sum[:], []byte(sum)); err != nil {
		return fmt.Errorf("%w: digest %q", ErrMalformed, clip(string(b)))
	}
	out.ID = id
	*d = out
	return nil
}

// Fingerprint is what leaves the machine: keyed digests, never raw values.
// Every field is untrusted until the request that carries it is verified.
type Fingerprint struct {
	// ID is the combined keyed digest over all available components. It
	// changes when any component changes; use Policy.Match on Components
	// for tolerant matching.
	ID [16]byte
	// Components holds the available components' digests, sorted by ID.
	Components []Digest
	// Env is the environment the fingerprint was taken in. It is not part
	// of ID.
	Env Env
}

// key derives the HMAC key for a product of a vendor:
//
//	SHA-256("airlock fingerprint v1" || 0x00 || vendorKeyID || uint32be(len(product)) || product)
func key(product string, vendorKeyID [8]byte) []byte {
	h := sha256.New()
	h.Write([]byte(keyTag))
	h.Write([]byte{0})
	h.Write(vendorKeyID[:])
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(product)))
	h.Write(n[:])
	h.Write([]byte(product))
	return h.Sum(nil)
}

// Hash derives the keyed digests of the available components for one product
// of one vendor (identified by its signing key's 8-byte key ID). Two products,
// or two vendors, get unrelated digests for the same machine.
//
// Each component's digest is HMAC-SHA-256(K, 0x01 || id || value), cut to 8
// bytes; the ID is HMAC-SHA-256(K, 0x02 || n || id1 || sum1 || ... ), cut to 16
// bytes, over the n digests in ID order. K is described in
// docs/fingerprint.md. With no available component, ID is all zeros and
// matches nothing.
func (r *Report) Hash(product string, vendorKeyID [8]byte) Fingerprint {
	if r == nil {
		return Fingerprint{}
	}
	fp := Fingerprint{Env: r.Env}
	mac := hmac.New(sha256.New, key(product, vendorKeyID))
	var sum [sha256.Size]byte
	for _, c := range r.Components {
		if !c.Available || len(c.value) == 0 {
			continue // only the collectors make available components
		}
		mac.Reset()
		mac.Write([]byte{domainComponent, byte(c.ID)})
		mac.Write(c.value)
		d := Digest{ID: c.ID}
		copy(d.Sum[:], mac.Sum(sum[:0]))
		fp.Components = append(fp.Components, d)
	}
	slices.SortStableFunc(fp.Components, func(a, b Digest) int { return int(a.ID) - int(b.ID) })
	fp.Components = slices.CompactFunc(fp.Components, func(a, b Digest) bool { return a.ID == b.ID })
	fp.ID = combine(mac, fp.Components)
	return fp
}

// combine computes the ID over sorted digests with a keyed mac.
func combine(mac hash.Hash, ds []Digest) (id [16]byte) {
	if len(ds) == 0 {
		return id
	}
	mac.Reset()
	mac.Write([]byte{domainCombined, byte(len(ds))})
	for _, d := range ds {
		mac.Write([]byte{byte(d.ID)})
		mac.Write(d.Sum[:])
	}
	var sum [sha256.Size]byte
	copy(id[:], mac.Sum(sum[:0]))
	return id
}

// CheckID reports whether f.ID is the combined digest of f.Components for the
// product and vendor key ID, as Hash makes it. A desk that decodes a
// fingerprint from a request can use it to reject one whose parts disagree.
func (f Fingerprint) CheckID(product string, vendorKeyID [8]byte) bool {
	if !sortedUnique(f.Components) {
		return false
	}
	want := combine(hmac.New(sha256.New, key(product, vendorKeyID)), f.Components)
	return hmac.Equal(want[:], f.ID[:])
}

// IsZero reports whether f has no components.
func (f Fingerprint) IsZero() bool { return len(f.Components) == 0 && f.ID == [16]byte{} }

// Equal reports whether two fingerprints are identical.
func (f Fingerprint) Equal(g Fingerprint) bool {
	return f.ID == g.ID && f.Env == g.Env && slices.Equal(f.Components, g.Components)
}

// String returns the ID as four groups of eight lower-case hex digits, such
// as "1f0c2a9e-77d4b3c8-0e5a6f12-9b8c7d6e". It shows no component and no raw
// value.
func (f Fingerprint) String() string { return formatID(f.ID) }

func formatID(id [16]byte) string {
	h := hex.EncodeToString(id[:])
	return h[0:8] + "-" + h[8:16] + "-" + h[16:24] + "-" + h[24:32]
}

// ParseID is the inverse of Fingerprint.String.
func ParseID(s string) ([16]byte, error) {
	var id [16]byte
	if len(s) != 35 || s[8] != '-' || s[17] != '-' || s[26] != '-' || strings.ToLower(s) != s {
		return id, fmt.Errorf("%w: fingerprint ID %q", ErrMalformed, clip(s))
	}
	h := s[0:8] + s[9:17] + s[18:26] + s[27:35]
	if _, err := hex.Decode(id[:], []byte(h)); err != nil {
		return [16]byte{}, fmt.Errorf("%w: fingerprint ID %q", ErrMalformed, clip(s))
	}
	return id, nil
}

// encodingVersion is the first byte of Fingerprint's binary encoding.
const encodingVersion = 1

// MarshalBinary encodes the fingerprint canonically:
//
//	version (1 byte, 1) || env (2 bytes, big-endian) || ID (16 bytes) ||
//	n (1 byte) || n × (component ID (1 byte) || digest (8 bytes))
//
// with components in strictly increasing ID order. Six components take 74
// bytes.
func (f Fingerprint) MarshalBinary() ([]byte, error) {
	if len(f.Components) > MaxComponents {
		return nil, fmt.Errorf("%w: %d components, at most %d", ErrMalformed, len(f.Components), MaxComponents)
	}
	if !sortedUnique(f.Components) {
		return nil, fmt.Errorf("%w: components not sorted by ID or repeated", ErrMalformed)
	}
	b := make([]byte, 0, 20+9*len(f.Components))
	b = append(b, encodingVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(f.Env))
	b = append(b, f.ID[:]...)
	b = append(b, byte(len(f.Components)))
	for _, d := range f.Components {
		b = append(b, byte(d.ID))
		b = append(b, d.Sum[:]...)
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary encodes, and nothing else: an
// unknown version, a wrong length, unsorted or repeated components, or a
// nonzero ID without components are errors wrapping ErrMalformed.
func (f *Fingerprint) UnmarshalBinary(b []byte) error {
	if len(b) < 20 {
		return fmt.Errorf("%w: fingerprint too short (%d bytes)", ErrMalformed, len(b))
	}
	if b[0] != encodingVersion {
		return fmt.Errorf("%w: unknown fingerprint encoding version %d", ErrMalformed, b[0])
	}
	var out Fingerprint
	out.Env = Env(binary.BigEndian.Uint16(b[1:3]))
	copy(out.ID[:], b[3:19])
	n := int(b[19])
	if n > MaxComponents {
		return fmt.Errorf("%w: %d components, at most %d", ErrMalformed, n, MaxComponents)
	}
	if len(b) != 20+9*n {
		return fmt.Errorf("%w: fingerprint of %d components must be %d bytes, not %d", ErrMalformed, n, 20+9*n, len(b))
	}
	if n > 0 {
		out.Components = make([]Digest, n)
	}
	for i := range n {
		e := b[20+9*i:]
		out.Components[i].ID = ComponentID(e[0])
		copy(out.Components[i].Sum[:], e[1:9])
		if out.Components[i].ID == 0 {
			return fmt.Errorf("%w: component ID 0", ErrMalformed)
		}
	}
	if !sortedUnique(out.Components) {
		return fmt.Errorf("%w: components not sorted by ID or repeated", ErrMalformed)
	}
	if n == 0 && out.ID != [16]byte{} {
		return fmt.Errorf("%w: ID without components", ErrMalformed)
	}
	*f = out
	return nil
}

type fingerprintJSON struct {
	ID         string   `json:"id"`
	Components []Digest `json:"components"`
	Env        Env      `json:"env"`
}

// MarshalJSON encodes the fingerprint as
// {"id":"1f0c2a9e-...","components":["machine-id:3f9a...",...],"env":"vm"}.
func (f Fingerprint) MarshalJSON() ([]byte, error) {
	cs := f.Components
	if cs == nil {
		cs = []Digest{}
	}
	return json.Marshal(fingerprintJSON{ID: formatID(f.ID), Components: cs, Env: f.Env})
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (f *Fingerprint) UnmarshalJSON(b []byte) error {
	var j fingerprintJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	id, err := ParseID(j.ID)
	if err != nil {
		return err
	}
	if len(j.Components) > MaxComponents || !sortedUnique(j.Components) {
		return fmt.Errorf("%w: components not sorted by ID, repeated, or too many", ErrMalformed)
	}
	out := Fingerprint{ID: id, Env: j.Env}
	if len(j.Components) > 0 {
		out.Components = j.Components
	}
	*f = out
	return nil
}

func sortedUnique(ds []Digest) bool {
	for i := 1; i < len(ds); i++ {
		if ds[i-1].ID >= ds[i].ID {
			return false
		}
	}
	return true
}
