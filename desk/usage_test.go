package desk_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
	"github.com/airlock-offline/airlock/usage"
)

// The desk takes a floating server's reports: the key must hold the pool
// license, the chain is checked and flagged reports are kept, and a pool
// refresh re-signs the server's license with a new issue time.
func TestImportReportAndRefresh(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	key := e.addLicense(func(l *ledger.License) { l.LeasePeriod = 30 * day })
	pool := &response.Pool{Seats: 5, LeaseTTL: 180, Heartbeat: 60, ReportEvery: 30, ReportGrace: 5}
	iss, err := e.desk.SignPool(ctx, e.request(machine(t, nil), key).Bytes, pool)
	if err != nil {
		t.Fatal(err)
	}
	report := func(inst *crypto.Identity, seq uint64, prev []byte, peak uint32) *usage.Signed {
		r := &usage.Report{Seq: seq, Prev: prev, From: t0.Unix(), To: t0.Add(time.Duration(seq) * day).Unix(),
			Products: []usage.Product{{Product: product, LicenseKey: key, Seats: 5, Usage: usage.Usage{Peak: peak}}}}
		s, err := usage.Sign(inst, r)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	r1 := report(e.inst, 1, nil, 3)
	imp, err := e.desk.ImportReport(ctx, r1.Text())
	if err != nil || imp.Flagged() || imp.Already || !bytes.Equal(imp.Stored.Hash, r1.Hash[:]) || imp.Stored.LicenseKey != key {
		t.Fatalf("import 1: %+v %v", imp, err)
	}
	// Another key's report: not a server of this ledger.
	_, err = e.desk.ImportReport(ctx, report(testkeys.Identity(crypto.RoleInstallation, "stranger"), 1, nil, 1).Text())
	if result.CodeOf(err) != result.LicenseUnknown || !errors.Is(err, desk.ErrUnknownServer) {
		t.Fatalf("a stranger's report: %v", err)
	}
	// Again: flagged, not stored twice. A clone's report 2 and the real
	// one: the second is flagged. A gap: flagged, stored.
	if imp, err := e.desk.ImportReport(ctx, r1.Text()); err != nil || imp.Stored.Flag != usage.FlagRepeated || !imp.Already {
		t.Fatalf("report 1 again: %+v %v", imp, err)
	}
	r2 := report(e.inst, 2, r1.Hash[:], 4)
	if imp, err := e.desk.ImportReport(ctx, r2.Text()); err != nil || imp.Flagged() {
		t.Fatalf("report 2: %+v %v", imp, err)
	}
	if imp, err := e.desk.ImportReport(ctx, report(e.inst, 2, r1.Hash[:], 1).Text()); err != nil || imp.Stored.Flag != usage.FlagCloned {
		t.Fatalf("a clone's report 2: %+v %v", imp, err)
	}
	r5 := report(e.inst, 5, bytes.Repeat([]byte{9}, 32), 1)
	if imp, err := e.desk.ImportReport(ctx, r5.Text()); err != nil || imp.Stored.Flag != usage.FlagGap {
		t.Fatalf("report 5: %+v %v", imp, err)
	}
	all, err := e.led.UsageReports(ctx, e.inst.Public().Sign)
	if err != nil || len(all) != 4 {
		t.Fatalf("stored: %d, %v; want 4", len(all), err)
	}

	// The refresh: refused for a flagged report unless forced, else the
	// server's license with a new issue time and lease, in the ledger.
	if _, err := e.desk.RefreshPool(ctx, r5, "", 0, false); err == nil {
		t.Fatal("refreshed on a flagged report")
	}
	e.desk.Now = func() time.Time { return t0.Add(40 * day) }
	ref, err := e.desk.RefreshPool(ctx, r2, "", 90*day, false)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := response.Parse(ref.Bytes, e.vendor.Public())
	if err != nil {
		t.Fatal(err)
	}
	old := iss.License.License
	if got.IssuedTime() != t0.Add(40*day) || got.LeaseUntilTime() != t0.Add(130*day) || !bytes.Equal(got.RequestHash, old.RequestHash) ||
		!bytes.Equal(got.Binding.InstallKey, old.Binding.InstallKey) || !bytes.Equal(got.PrevLease, old.ActivationID) || got.Pool.ReportEvery != 30 {
		t.Fatalf("refreshed license: %+v", got)
	}
	acts := e.activations(key)
	if len(acts) != 1 || !bytes.Equal(acts[0].License, ref.Bytes) {
		t.Fatalf("the ledger does not hold the refresh: %+v", acts)
	}
	// The same report again, a period later: it answered its refresh
	// already, so it is refused unless forced.
	e.desk.Now = func() time.Time { return t0.Add(70 * day) }
	if _, err := e.desk.RefreshPool(ctx, r2, "", 90*day, false); result.CodeOf(err) != result.LicenseSuspended || !errors.Is(err, desk.ErrReportAnswered) {
		t.Fatalf("report 2 answered twice: %v", err)
	}
	if _, err := e.desk.RefreshPool(ctx, r2, "", 90*day, true); err != nil {
		t.Fatalf("forced: %v", err)
	}
}

// A pool license that asks for usage reports is not renewed (the renewal
// would restart its count) until a report from its server is imported.
func TestRenewPoolNeedsReport(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	key := e.addLicense(func(l *ledger.License) { l.LeasePeriod = 60 * day })
	src := machine(t, nil)
	pool := &response.Pool{Seats: 5, LeaseTTL: 180, Heartbeat: 60, ReportEvery: 30}
	first, err := e.desk.SignPool(ctx, e.request(src, key).Bytes, pool)
	if err != nil {
		t.Fatal(err)
	}
	e.desk.Now = func() time.Time { return t0.Add(20 * day) }
	renew := func(prev []byte) (*desk.Issued, error) {
		p := e.params(src, key)
		p.Kind, p.Renews, p.Now = request.KindRenew, prev, e.desk.Now().Add(-time.Hour)
		return e.sign(e.makeRequest(p, e.inst))
	}
	_, err = renew(first.License.License.ActivationID)
	if result.CodeOf(err) != result.LicenseSuspended || !errors.Is(err, desk.ErrReportMissing) {
		t.Fatalf("renewal with no report: %v", err)
	}
	r, err := usage.Sign(e.inst, &usage.Report{Seq: 1, From: t0.Unix(), To: t0.Add(19 * day).Unix(),
		Products: []usage.Product{{Product: product, LicenseKey: key, Seats: 5}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.desk.ImportReport(ctx, r.Text()); err != nil {
		t.Fatal(err)
	}
	second, err := renew(first.License.License.ActivationID)
	if err != nil || second.License.License.Pool.ReportEvery != 30 {
		t.Fatalf("renewal after a report: %v", err)
	}
}
