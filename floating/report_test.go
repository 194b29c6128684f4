package floating_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/usage"
)

// Reports are numbered and chained, cover the time since the last one,
// carry what the history holds, and pseudonymise hosts stably.
func TestReportChain(t *testing.T) { onBackends(t, reportChain) }

func reportChain(t *testing.T, db string) {
	f := newFixtureOn(t, defaultPool(), db)
	ctx := context.Background()
	a := f.client("alice-laptop")
	if _, err := a.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Consume(ctx, "", 3); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(10 * time.Minute)
	r1, err := f.srv.MakeReport(floating.ReportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := usage.Verify(r1.Bytes); err != nil {
		t.Fatal(err)
	}
	rep := r1.Report
	if rep.Seq != 1 || !bytes.Equal(rep.Prev, make([]byte, 32)) || rep.From != t0.Unix() || rep.To != f.clock.Now().Unix() {
		t.Fatalf("report 1: seq %d prev %x period %d-%d", rep.Seq, rep.Prev, rep.From, rep.To)
	}
	p := rep.Products[0]
	want := f.srv.Usage(product, "", t0, f.clock.Now())
	if p.Product != product || p.Seats != 2 || p.Usage.Peak != 1 || p.Usage.Consumed != 3 || p.Usage.AverageMilli != uint64(want.Average*1000+0.5) {
		t.Fatalf("report 1 usage: %+v (history says %+v)", p, want)
	}
	if len(p.Holders) != 1 || p.Holders[0].Host != "alice-laptop" || p.Holders[0].Grants != 1 {
		t.Fatalf("holders: %+v", p.Holders)
	}

	f.clock.Add(time.Hour)
	r2, err := f.srv.MakeReport(floating.ReportOptions{Pseudonymise: true})
	if err != nil {
		t.Fatal(err)
	}
	if r2.Report.Seq != 2 || !bytes.Equal(r2.Report.Prev, r1.Hash[:]) || r2.Report.From != rep.To {
		t.Fatalf("report 2 does not follow report 1: %+v", r2.Report)
	}
	if flag, msg := usage.CheckChain([]usage.Link{usage.LinkOf(r1)}, usage.LinkOf(r2)); flag != "" {
		t.Fatalf("chain: %s %s", flag, msg)
	}
	f.clock.Add(time.Minute)
	if _, err := f.client("alice-laptop").Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	r3, err := f.srv.MakeReport(floating.ReportOptions{Pseudonymise: true})
	if err != nil {
		t.Fatal(err)
	}
	h2, h3 := r2.Report.Products[0].Holders, r3.Report.Products[0].Holders
	if len(h2) != 1 || len(h3) != 1 || h2[0].Host != h3[0].Host || h2[0].Installation != h3[0].Installation ||
		strings.Contains(h2[0].Host, "alice") || !strings.HasPrefix(h2[0].Host, "h-") || !strings.HasPrefix(h2[0].Installation, "i-") {
		t.Fatalf("pseudonyms: %+v then %+v", h2, h3)
	}
	if !r2.Report.Pseudonymised || r1.Report.Pseudonymised {
		t.Error("the pseudonymised flag is wrong")
	}
	// The chain survives a restart.
	f.stop()
	f.start(t)
	r4, err := f.srv.MakeReport(floating.ReportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r4.Report.Seq != 4 || !bytes.Equal(r4.Report.Prev, r3.Hash[:]) {
		t.Fatalf("after a restart: seq %d prev %x", r4.Report.Seq, r4.Report.Prev)
	}
}

// A pool license that asks for a report every 30 days (5 days' grace)
// stops new grants after 35 days, and a refreshed license lifts that.
func TestReportOverdue(t *testing.T) {
	pool := defaultPool()
	pool.ReportEvery, pool.ReportGrace = 30, 5
	f := newFixture(t, pool)
	ctx := context.Background()
	issued := t0.Add(-time.Hour) // as poolLicense signs it
	f.clock.Add(35*24*time.Hour - 2*time.Hour)
	if _, err := f.client("a").Acquire(ctx); err != nil {
		t.Fatalf("within the grace: %v", err)
	}
	f.clock.Add(2 * time.Hour)
	_, err := f.client("b").Acquire(ctx)
	if code(err) != floating.CodeReportOverdue || !strings.Contains(err.Error(), "usage report every 30 days") {
		t.Fatalf("past the grace: %v", err)
	}
	lic, _, err := response.ParseUnverified(f.lic)
	if err != nil {
		t.Fatal(err)
	}
	if due, stop := floating.ReportDue(lic); !due.Equal(issued.Add(30*24*time.Hour)) || !stop.Equal(issued.Add(35*24*time.Hour)) {
		t.Fatalf("due %v, stop %v", due, stop)
	}
	refreshed, err := response.Refresh(f.vendor, lic, bytes.Repeat([]byte{2}, 16), f.clock.Now(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	f.stop()
	f.lic = refreshed.Bytes
	f.start(t)
	if _, err := f.client("b").Acquire(ctx); err != nil {
		t.Fatalf("after the refresh: %v", err)
	}
}
