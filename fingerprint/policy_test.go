package fingerprint

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func fixtureDigests(t *testing.T, name string) []Digest {
	t.Helper()
	return mustCollect(t, fixture(name, "linux")).Hash("acme-cad", testVendor).Components
}

func TestPolicyMatchFixtures(t *testing.T) {
	all6 := 6
	tests := []struct {
		licensed, current string
		policy            string
		ok                bool
		matched, total    int
		changed, missing  []ComponentID
		added             []ComponentID
	}{
		// The same machine matches under every policy.
		{"bare-metal", "bare-metal", "exact", true, 6, all6, nil, nil, nil},
		{"bare-metal", "bare-metal", "all", true, 6, all6, nil, nil, nil},
		{"bare-metal", "bare-metal", "atleast:6", true, 6, all6, nil, nil, nil},

		// A replaced root disk: one of six components changed.
		{"bare-metal", "swapped-disk", "most", true, 5, all6, []ComponentID{Disk}, nil, nil},
		{"bare-metal", "swapped-disk", "atleast:5", true, 5, all6, []ComponentID{Disk}, nil, nil},
		{"bare-metal", "swapped-disk", "all", false, 5, all6, []ComponentID{Disk}, nil, nil},
		{"bare-metal", "swapped-disk", "exact", false, 5, all6, []ComponentID{Disk}, nil, nil},

		// A reinstalled OS: a new machine-id on the same hardware.
		{"bare-metal", "reinstalled-os", "most", true, 5, all6, []ComponentID{MachineID}, nil, nil},
		{"bare-metal", "reinstalled-os", "all", false, 5, all6, []ComponentID{MachineID}, nil, nil},

		// A new mainboard and a new OS install: only disk and CPU remain.
		{"bare-metal", "new-board-reinstalled-os", "most", false, 2, all6,
			[]ComponentID{MachineID, ProductUUID, BoardSerial, ProductSerial}, nil, nil},
		{"bare-metal", "new-board-reinstalled-os", "atleast:3", false, 2, all6,
			[]ComponentID{MachineID, ProductUUID, BoardSerial, ProductSerial}, nil, nil},
		{"bare-metal", "new-board-reinstalled-os", "atleast:2", true, 2, all6,
			[]ComponentID{MachineID, ProductUUID, BoardSerial, ProductSerial}, nil, nil},

		// Licensed as root, verified as a user: the root-only components
		// are missing now, and missing counts as not matching.
		{"bare-metal", "bare-metal-user", "most", false, 3, all6, nil,
			[]ComponentID{ProductUUID, BoardSerial, ProductSerial}, nil},
		{"bare-metal", "bare-metal-user", "atleast:3", true, 3, all6, nil,
			[]ComponentID{ProductUUID, BoardSerial, ProductSerial}, nil},
		// Licensed as a user, verified as root: extra components do not
		// matter except under exact.
		{"bare-metal-user", "bare-metal", "all", true, 3, 3, nil, nil,
			[]ComponentID{ProductUUID, BoardSerial, ProductSerial}},
		{"bare-metal-user", "bare-metal", "exact", false, 3, 3, nil, nil,
			[]ComponentID{ProductUUID, BoardSerial, ProductSerial}},

		// A container on the licensed host shares its hardware IDs but not
		// its machine-id or disk.
		{"bare-metal", "docker", "most", true, 4, all6, nil, []ComponentID{MachineID, Disk}, nil},
		{"bare-metal", "docker", "all", false, 4, all6, nil, []ComponentID{MachineID, Disk}, nil},

		// A different machine entirely.
		{"bare-metal", "kvm", "atleast:1", false, 0, all6,
			[]ComponentID{MachineID, ProductUUID, CPU}, []ComponentID{BoardSerial, ProductSerial, Disk}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.licensed+"/"+tc.current+"/"+tc.policy, func(t *testing.T) {
			t.Parallel()
			p, err := ParsePolicy(tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			m := p.Match(fixtureDigests(t, tc.licensed), fixtureDigests(t, tc.current))
			if m.OK != tc.ok || m.Matched != tc.matched || m.Total != tc.total ||
				!slices.Equal(m.Changed, tc.changed) || !slices.Equal(m.Missing, tc.missing) || !slices.Equal(m.Added, tc.added) {
				t.Errorf("got %+v\nwant ok=%t matched=%d total=%d changed=%v missing=%v added=%v",
					m, tc.ok, tc.matched, tc.total, tc.changed, tc.missing, tc.added)
			}
		})
	}
}

// digests builds a digest list: one digest per ID, with the given "value".
func digests(pairs ...int) []Digest {
	var ds []Digest
	for i := 0; i < len(pairs); i += 2 {
		ds = append(ds, Digest{ID: ComponentID(pairs[i]), Sum: [8]byte{byte(pairs[i+1])}})
	}
	return ds
}

func TestPolicyMatchRules(t *testing.T) {
	four := digests(1, 1, 2, 2, 5, 5, 6, 6)
	tests := []struct {
		name              string
		policy            Policy
		licensed, current []Digest
		ok                bool
	}{
		{"four: one new disk is most", MatchMost, four, digests(1, 1, 2, 2, 5, 9, 6, 6), true},
		{"four: disk unreadable now is most", MatchMost, four, digests(1, 1, 2, 2, 6, 6), true},
		{"four: two changed is not most", MatchMost, four, digests(1, 9, 2, 9, 5, 5, 6, 6), false},
		{"two: one changed is not most", MatchMost, digests(1, 1, 6, 6), digests(1, 1, 6, 9), false},
		{"one: unchanged is most", MatchMost, digests(1, 1), digests(1, 1), true},
		{"three: two of three is most", MatchMost, digests(1, 1, 5, 5, 6, 6), digests(1, 1, 5, 9, 6, 6), true},
		{"all ignores added", MatchAll, digests(1, 1), digests(1, 1, 2, 2), true},
		{"exact refuses added", MatchExact, digests(1, 1), digests(1, 1, 2, 2), false},
		{"exact refuses missing", MatchExact, digests(1, 1, 2, 2), digests(1, 1), false},
		{"atleast above total", AtLeast(5), four, four, false},
		{"atleast equal to total", AtLeast(4), four, four, true},
		{"custom component counts", MatchAll, digests(1, 1, 40, 4), digests(1, 1, 40, 4), true},
		{"custom component changed", MatchAll, digests(1, 1, 40, 4), digests(1, 1, 40, 5), false},
		{"unsorted input is fine", MatchExact, digests(6, 6, 1, 1), digests(1, 1, 6, 6), true},
		{"no licensed components", MatchAll, nil, four, false},
		{"no licensed components, exact", MatchExact, nil, nil, false},
		{"duplicate licensed ID", MatchMost, digests(1, 1, 1, 2, 6, 6), digests(1, 1, 6, 6), false},
		{"duplicate current ID", MatchAll, digests(1, 1), digests(1, 1, 1, 2), false},
		{"atleast:0 is invalid", AtLeast(0), four, four, false},
		{"unknown kind", Policy{Kind: 9}, four, four, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.policy.Match(tc.licensed, tc.current)
			if m.OK != tc.ok {
				t.Errorf("%s.Match = %+v, want OK=%t", tc.policy, m, tc.ok)
			}
			if m.Matched+len(m.Changed)+len(m.Missing) != m.Total && !strings.Contains(tc.name, "duplicate") {
				t.Errorf("counts do not add up: %+v", m)
			}
		})
	}
	m := MatchAll.Match(four, digests(1, 1, 2, 7, 6, 6, 33, 1))
	if want := "mismatch: 2 of 4 components match; changed: product-uuid; missing: disk; added: custom-33"; m.String() != want {
		t.Errorf("String = %q, want %q", m, want)
	}
}

func TestParsePolicy(t *testing.T) {
	good := map[string]Policy{
		"all":         MatchAll,
		"most":        MatchMost,
		"exact":       MatchExact,
		"atleast:1":   AtLeast(1),
		"atleast-3":   AtLeast(3),
		"atleast:255": AtLeast(255),
	}
	for s, want := range good {
		p, err := ParsePolicy(s)
		if err != nil || p != want {
			t.Errorf("ParsePolicy(%q) = %v, %v; want %v", s, p, err, want)
		}
		back, err := ParsePolicy(p.String())
		if err != nil || back != p {
			t.Errorf("round trip of %q via %q: %v, %v", s, p, back, err)
		}
		text, err := p.MarshalText()
		var fromText Policy
		if err != nil || fromText.UnmarshalText(text) != nil || fromText != p {
			t.Errorf("text round trip of %q: %q, %v", s, text, err)
		}
	}
	if AtLeast(3).String() != "atleast:3" || (Policy{}).String() != "all" {
		t.Error("String")
	}
	for _, s := range []string{
		"", "All", "MOST", " most", "most ", "any", "atleast", "atleast:", "atleast:0", "atleast:00",
		"atleast:03", "atleast:256", "atleast:-1", "atleast:+1", "atleast:1x", "atleast 2", "atleast=2",
		"atleast:9999999999999999999999", "exact:1", "all:2",
	} {
		p, err := ParsePolicy(s)
		if !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("ParsePolicy(%q) = %v, %v; want ErrInvalidPolicy", s, p, err)
		}
	}
	if _, err := AtLeast(0).MarshalText(); !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("MarshalText of atleast:0: %v", err)
	}
	if PolicyKind(7).String() != "policy(7)" {
		t.Error("unknown kind name")
	}
}

func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{"all", "most", "exact", "atleast:1", "atleast-2", "atleast:255", "atleast:256", "atleast:0", "", "atleast:01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePolicy(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !p.Valid() {
			t.Fatalf("ParsePolicy(%q) = invalid %v", s, p)
		}
		back, err := ParsePolicy(p.String())
		if err != nil || back != p {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, p, p.String(), back, err)
		}
		if back.String() != p.String() {
			t.Fatalf("String not stable: %q, %q", p, back)
		}
		// The canonical form is the input, except for the "atleast-N"
		// spelling.
		if p.String() != strings.Replace(s, "atleast-", "atleast:", 1) {
			t.Fatalf("%q is not canonical %q", s, p)
		}
	})
}
