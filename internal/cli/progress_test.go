package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// The bar shows each phase with its rate and time left, and its time
// taken at the end; it draws nothing where stderr is not a terminal.
func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &Progress{w: &buf, tty: true, now: func() time.Time { return now }}
	p.Phase("checking and signing")
	now = now.Add(time.Second)
	p.Update(2500, 10000)
	now = now.Add(time.Second)
	p.Update(10000, 10000)
	p.Phase("recording in the ledger")
	p.Update(0, 1)
	now = now.Add(700 * time.Millisecond)
	p.Update(1, 1)
	p.Done()
	out := buf.String()
	for _, want := range []string{
		"checking and signing     [#######                       ] 2500/10000  2500/s  3.0 s left",
		"checking and signing     [##############################] 10000/10000  2.0 s  5000/s\x1b[K\n",
		"recording in the ledger  [                              ] 0/1  0.0 s",
		"recording in the ledger  [##############################] 1/1  0.7 s\x1b[K\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("progress output lacks %q:\n%q", want, out)
		}
	}

	buf.Reset()
	q := NewProgress(&buf, "x")
	q.Update(1, 2)
	q.Update(2, 2)
	q.Done()
	if buf.Len() != 0 {
		t.Errorf("progress drawn on a non-terminal: %q", buf.String())
	}
}
