package client

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// On the real clock, the newest modification time among the state files
// counts as a time seen: rewriting both records with an old value does not
// hide a time the files' own dates remember.
func TestLastSeenCountsFileTimes(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := st.markSeen(t1); err != nil {
		t.Fatal(err)
	}
	lic := st.LicensePath("acme-cad")
	if err := os.WriteFile(lic, []byte("license"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Every file dated no later than t1, except the license, dated t2.
	for _, p := range st.seenPaths() {
		if err := os.Chtimes(p, t1, t1); err != nil {
			t.Fatal(err)
		}
	}
	t2 := t1.Add(48 * time.Hour)
	if err := os.Chtimes(lic, t2, t2); err != nil {
		t.Fatal(err)
	}
	if got, err := st.lastSeen(false); err != nil || !got.Equal(t1) {
		t.Fatalf("records only: %s, %v; want %s", got, err, t1)
	}
	if got, err := st.lastSeen(true); err != nil || !got.Equal(t2) {
		t.Fatalf("with file times: %s, %v; want %s", got, err, t2)
	}
	at := t1.Add(time.Hour)
	real := &Verifier{Product: "acme-cad", Dir: st.Dir}
	if err := real.checkClock(st, at); err == nil {
		t.Fatal("a verifier on the real clock ignored the license file's date")
	}
	injected := &Verifier{Product: "acme-cad", Dir: st.Dir, Now: func() time.Time { return at }}
	if err := injected.checkClock(st, at); err != nil {
		t.Fatalf("a verifier on an injected clock trusts the records only: %v", err)
	}
}
