package ledger

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// Usage reports are stored with the flag the check gives, once per hash,
// listed by server and sequence number, on both backends.
func TestUsageReports(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b testBackend) {
		ctx := context.Background()
		l, _ := b.open(t)
		server := bytes.Repeat([]byte{7}, 32)
		rep := func(seq uint64, h byte) *UsageReport {
			return &UsageReport{Hash: bytes.Repeat([]byte{h}, 32), ServerKey: server, Seq: seq, Prev: make([]byte, 32), LicenseKey: "K-1",
				From: t0, To: t0.Add(time.Hour), Imported: t0.Add(2 * time.Hour), Report: []byte{0xd2, h}}
		}
		var seen [][]UsageReport
		check := func(flag string) func([]UsageReport) (string, string) {
			return func(prior []UsageReport) (string, string) {
				seen = append(seen, prior)
				return flag, "because"
			}
		}
		if stored, err := l.RecordUsageReport(ctx, rep(1, 1), check("")); err != nil || !stored {
			t.Fatalf("first: %v %v", stored, err)
		}
		if stored, err := l.RecordUsageReport(ctx, rep(3, 3), check("report_sequence_gap")); err != nil || !stored {
			t.Fatalf("gap: %v %v", stored, err)
		}
		again := rep(1, 1)
		if stored, err := l.RecordUsageReport(ctx, again, check("report_repeated")); err != nil || stored || again.Flag != "report_repeated" {
			t.Fatalf("again: %v %v %+v", stored, err, again)
		}
		if len(seen) != 3 || len(seen[0]) != 0 || len(seen[2]) != 2 || seen[2][1].Seq != 3 || seen[2][1].Report != nil {
			t.Fatalf("the check saw %+v", seen)
		}
		all, err := l.UsageReports(ctx, nil)
		if err != nil || len(all) != 2 || all[1].Flag != "report_sequence_gap" || all[1].Message != "because" || !bytes.Equal(all[1].Report, []byte{0xd2, 3}) ||
			!all[0].From.Equal(t0) || !all[0].Imported.Equal(t0.Add(2*time.Hour)) {
			t.Fatalf("list: %+v %v", all, err)
		}
		got, err := l.GetUsageReport(ctx, bytes.Repeat([]byte{3}, 32))
		if err != nil || got.Seq != 3 {
			t.Fatalf("get: %+v %v", got, err)
		}
		if _, err := l.GetUsageReport(ctx, bytes.Repeat([]byte{9}, 32)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get a missing one: %v", err)
		}
		bad := rep(0, 4)
		if _, err := l.RecordUsageReport(ctx, bad, check("")); !errors.Is(err, ErrInvalid) {
			t.Fatalf("seq 0: %v", err)
		}
		if _, _, err := l.VerifyAudit(ctx, ""); err != nil {
			t.Error(err)
		}
	})
}
