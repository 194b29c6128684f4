package phonecode

import (
	"bytes"
	"testing"
	"time"
)

func TestCode(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, SeedSize)
	h1, h2 := [32]byte{1}, [32]byte{2}
	t0 := time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)
	c, err := Code(seed, h1, t0)
	if err != nil || len(c) != Digits {
		t.Fatalf("%q %v", c, err)
	}
	if !Valid(Format(c), seed, h1, t0.Add(4*time.Minute)) {
		t.Fatal("code not valid within its step")
	}
	if !Valid(c, seed, h1, t0.Add(Period+time.Minute)) {
		t.Fatal("code not valid one step later (skew)")
	}
	if Valid(c, seed, h1, t0.Add(3*Period)) {
		t.Fatal("code valid three steps later")
	}
	if Valid(c, seed, h2, t0) {
		t.Fatal("a code answers another request")
	}
	if Valid(c, bytes.Repeat([]byte{8}, SeedSize), h1, t0) {
		t.Fatal("a code is valid under another seed")
	}
	if _, err := Code(seed[:5], h1, t0); err == nil {
		t.Fatal("short seed accepted")
	}
	for _, bad := range []string{"", "123", "abcdefgh", "123456789"} {
		if Valid(bad, seed, h1, t0) {
			t.Fatalf("%q valid", bad)
		}
	}
}
