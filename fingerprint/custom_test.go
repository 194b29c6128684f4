package fingerprint

import (
	"errors"
	"strings"
	"testing"
)

func TestCustomComponent(t *testing.T) {
	// An ISV reads its device's serial through the Source, so that the
	// fixture trees cover it too.
	scope := CustomComponent{ID: 40, Name: "scope-serial", Read: func(src Source) ([]byte, error) {
		b, err := src.ReadFile("/etc/machine-id") // stands in for the ISV's file
		if err != nil {
			return nil, Unavailable("scope not connected")
		}
		return append([]byte("SCOPE-"), b[:8]...), nil
	}}
	failing := CustomComponent{ID: 41, Name: "license-dongle", Read: func(Source) ([]byte, error) {
		return nil, Unavailable("dongle not plugged in")
	}}
	empty := CustomComponent{ID: 42, Name: "empty", Read: func(Source) ([]byte, error) { return []byte("  \n"), nil }}
	panicky := CustomComponent{ID: 255, Name: "panicky", Read: func(Source) ([]byte, error) { panic("boom") }}

	src := fixture("bare-metal", "linux")
	r, err := CollectWith(src, panicky, failing, scope, empty)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Components) != 10 {
		t.Fatalf("%d components:\n%s", len(r.Components), r)
	}
	want := []struct {
		id        ComponentID
		available bool
		reason    string
	}{{40, true, ""}, {41, false, "dongle not plugged in"}, {42, false, "empty"}, {255, false, "custom component panicked"}}
	for i, w := range want {
		c := r.Components[6+i]
		if c.ID != w.id || c.Available != w.available || c.Reason != w.reason || !strings.HasPrefix(c.Source, "custom:") {
			t.Errorf("component %d = %v, want %+v", 6+i, c, w)
		}
	}
	fp := r.Hash("acme-cad", testVendor)
	if len(fp.Components) != 7 || fp.Components[6].ID != 40 {
		t.Fatalf("custom digest missing: %v", fp.Components)
	}
	// Deterministic, and part of the combined ID.
	r2, _ := CollectWith(src, scope)
	if fp2 := r2.Hash("acme-cad", testVendor); !fp2.Equal(fp) {
		t.Errorf("custom component not deterministic: %v, %v", fp, fp2)
	}
	plain := mustCollect(t, src).Hash("acme-cad", testVendor)
	if plain.ID == fp.ID {
		t.Error("the custom component does not change the ID")
	}
	if m := MatchAll.Match(fp.Components, plain.Components); m.OK || len(m.Missing) != 1 || m.Missing[0] != 40 {
		t.Errorf("license with a custom component, machine without: %v", m)
	}
	// The same value under another custom ID has another digest.
	other := scope
	other.ID = 50
	r3, _ := CollectWith(src, other)
	if d := r3.Hash("acme-cad", testVendor).Components[6]; d.Sum == fp.Components[6].Sum {
		t.Error("custom ID not part of the digest")
	}

	// A custom component alone is enough to fingerprint.
	r4, err := CollectWith(DirSource(t.TempDir(), "linux"), CustomComponent{ID: 32, Name: "x", Read: func(Source) ([]byte, error) { return []byte("v"), nil }})
	if err != nil || len(r4.Available()) != 1 {
		t.Errorf("custom only: %v, %v", r4, err)
	}

	read := func(Source) ([]byte, error) { return []byte("v"), nil }
	var tooMany []CustomComponent
	for i := range 33 {
		tooMany = append(tooMany, CustomComponent{ID: CustomMin + ComponentID(i), Name: "x", Read: read})
	}
	for name, bad := range map[string][]CustomComponent{
		"id below 32": {{ID: 31, Name: "x", Read: read}},
		"no name":     {{ID: 32, Read: read}},
		"bad name":    {{ID: 32, Name: "Has Space", Read: read}},
		"long name":   {{ID: 32, Name: strings.Repeat("a", 33), Read: read}},
		"no Read":     {{ID: 32, Name: "x"}},
		"repeated":    {{ID: 32, Name: "x", Read: read}, {ID: 32, Name: "y", Read: read}},
		"too many":    tooMany,
	} {
		if _, err := CollectWith(src, bad...); !errors.Is(err, ErrInvalidCustom) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
