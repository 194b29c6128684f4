package desk

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
	"github.com/airlock-offline/airlock/usage"
)

// ReportImport is the outcome of importing a usage report.
type ReportImport struct {
	Report *usage.Signed
	// Stored is the report as the ledger keeps it, with the flag the chain
	// check gave it ("" when it follows the report before).
	Stored *ledger.UsageReport
	// Already is true when this very report was in the ledger before
	// (flag usage.FlagRepeated): it was not stored twice.
	Already bool
}

// Flagged reports whether the report is out of its server's chain.
func (r *ReportImport) Flagged() bool { return r.Stored.Flag != "" }

// ErrUnknownServer means a usage report's key is the binding of no active
// pool license in the ledger.
var ErrUnknownServer = errors.New("the server that signed this usage report holds no pool license in this ledger")

// ImportReport verifies a usage report (any text form) and stores it in
// the ledger: its signature must verify with the server key it names, and
// that key must hold the pool license of a product the report covers
// (LICENSE_UNKNOWN otherwise). Its place in the chain of that server's
// reports is checked (usage.CheckChain); a report that skips a number,
// repeats one, or shows a cloned server is stored all the same, flagged.
func (d *Desk) ImportReport(ctx context.Context, text []byte) (*ReportImport, error) {
	s, err := usage.ParseText(text)
	if err != nil {
		return nil, err
	}
	r := s.Report
	var licenseKey string
	var chain []byte
	for _, p := range r.Products {
		if act, err := d.poolActivation(ctx, p.LicenseKey, p.Product, r.Server); err == nil {
			licenseKey, chain = p.LicenseKey, act.InstallKey
			break
		} else if !errors.Is(err, ErrUnknownServer) {
			return nil, err
		}
	}
	if licenseKey == "" {
		return nil, result.Wrap(result.LicenseUnknown, fmt.Sprintf("usage report of server %s", r.ServerID()), ErrUnknownServer)
	}
	rec := &ledger.UsageReport{
		Hash: s.Hash[:], ServerKey: chain, Seq: r.Seq, Prev: r.Prev, LicenseKey: licenseKey,
		From: r.FromTime(), To: r.ToTime(), Imported: d.now().UTC(), Report: s.Bytes,
	}
	stored, err := d.Ledger.RecordUsageReport(ctx, rec, func(prior []ledger.UsageReport) (string, string) {
		links := make([]usage.Link, len(prior))
		for i, p := range prior {
			links[i] = usage.Link{Seq: p.Seq, Hash: [32]byte(p.Hash), Prev: [32]byte(p.Prev)}
		}
		return usage.CheckChain(links, usage.LinkOf(s))
	})
	if err != nil {
		return nil, result.Wrap(result.Internal, "cannot store the usage report in the ledger", err)
	}
	return &ReportImport{Report: s, Stored: rec, Already: !stored}, nil
}

// poolActivation returns the active activation of the pool license
// licenseKey (for product) held by the server key: the key the license is
// bound to or, for a pool served by several nodes, any node's key. The
// activation's installation key (the requesting node's) names the chain
// of the pool's reports: the nodes keep one chain in their shared
// database, whichever node signs a report.
func (d *Desk) poolActivation(ctx context.Context, licenseKey, product string, server []byte) (*ledger.Activation, error) {
	lic, err := d.Ledger.GetLicense(ctx, licenseKey)
	if errors.Is(err, ledger.ErrNotFound) {
		return nil, ErrUnknownServer
	}
	if err != nil {
		return nil, result.Wrap(result.Internal, "cannot read the ledger", err)
	}
	if lic.Product != product {
		return nil, ErrUnknownServer
	}
	acts, err := d.Ledger.Activations(ctx, licenseKey)
	if err != nil {
		return nil, result.Wrap(result.Internal, "cannot read the ledger", err)
	}
	for i := range acts {
		a := &acts[i]
		if a.Released {
			continue
		}
		l, _, err := response.ParseUnverified(a.License)
		if err == nil && l.Pool != nil && (bytes.Equal(a.InstallKey, server) || l.IsServerKey(server)) {
			return a, nil
		}
	}
	return nil, ErrUnknownServer
}

// RefreshPool answers a server's usage report with a new pool license for
// product: the license the server holds, signed again now, with its lease
// (if the license has one) running period from now (0: the license's own
// lease period), never past the license's expiry. Its issue time restarts
// the days before the next report is due. The server installs it with
// `activate` like any license. The report must be in the ledger, and not
// flagged unless force is set.
func (d *Desk) RefreshPool(ctx context.Context, rep *usage.Signed, product string, period time.Duration, force bool) (*response.Signed, error) {
	stored, err := d.Ledger.GetUsageReport(ctx, rep.Hash[:])
	if errors.Is(err, ledger.ErrNotFound) {
		return nil, result.New(result.LicenseUnknown, "this usage report is not in the ledger: import it first")
	}
	if err != nil {
		return nil, result.Wrap(result.Internal, "cannot read the ledger", err)
	}
	if stored.Flag != "" && !force {
		return nil, result.New(result.LicenseSuspended, fmt.Sprintf("the usage report is flagged %s: %s; look into it before refreshing (or force it)", stored.Flag, stored.Message))
	}
	var prod *usage.Product
	for i := range rep.Report.Products {
		if p := &rep.Report.Products[i]; product == "" || p.Product == product {
			if prod != nil {
				return nil, result.New(result.ProductMismatch, "the report covers several products: name the one to refresh")
			}
			prod = p
		}
	}
	if prod == nil {
		return nil, result.New(result.ProductMismatch, fmt.Sprintf("the report does not cover product %q", product))
	}
	act, err := d.poolActivation(ctx, prod.LicenseKey, prod.Product, rep.Report.Server)
	if errors.Is(err, ErrUnknownServer) {
		return nil, result.Wrap(result.LicenseUnknown, "the server's pool license is not active in the ledger", err)
	}
	if err != nil {
		return nil, err // the ledger could not be read: INTERNAL
	}
	prev, _, err := response.ParseUnverified(act.License)
	if err != nil {
		return nil, result.Wrap(result.Internal, "the ledger holds an invalid license", err)
	}
	// A report answers one refresh: the same old report, shown again each
	// period, must not keep a pool running without new reports. Answered
	// means a refresh or renewal (a license with a previous lease) issued
	// since the import, compared in seconds, a license's grain. A refresh
	// that failed (nothing issued since) can be asked again.
	if !force && prev.PrevLease != nil && act.Issued.Unix() >= stored.Imported.Unix() {
		return nil, result.Wrap(result.LicenseSuspended, fmt.Sprintf("usage report %d was answered by the pool license issued %s", rep.Report.Seq, act.Issued.UTC().Format(time.RFC3339)), ErrReportAnswered)
	}
	lic, err := d.Ledger.GetLicense(ctx, prod.LicenseKey)
	if err != nil {
		return nil, result.Wrap(result.Internal, "cannot read the ledger", err)
	}
	if lic.Suspended {
		return nil, result.New(result.LicenseSuspended, "license is suspended")
	}
	now := d.now().UTC().Truncate(time.Second)
	if !lic.Expires.IsZero() && !lic.Expires.After(now) {
		return nil, result.New(result.Expired, "license expired on "+lic.Expires.UTC().Format(time.RFC3339))
	}
	if period == 0 {
		period = lic.LeasePeriod
	}
	var until time.Time
	// A license without a lease stays without one: the refresh then only
	// restarts the days before the next report is due.
	if prev.LeaseUntil != 0 || lic.LeasePeriod > 0 {
		if period <= 0 {
			return nil, result.New(result.Malformed, "the pool license has a lease: give the refresh a period")
		}
		until = now.Add(period).Truncate(time.Second)
		if !lic.Expires.IsZero() && until.After(lic.Expires) {
			until = lic.Expires
		}
	}
	id := make([]byte, response.ActivationIDLen)
	if err := d.readRand(id); err != nil {
		return nil, result.Wrap(result.Internal, "cannot read randomness", err)
	}
	signed, err := response.Refresh(d.Key, prev, id, now, until)
	if err != nil {
		return nil, result.Wrap(result.Internal, "cannot sign the refreshed license", err)
	}
	err = d.Ledger.Renew(ctx, act.ID, &ledger.Activation{
		ID: hex.EncodeToString(id), LicenseKey: prod.LicenseKey, InstallKey: act.InstallKey, Fingerprint: act.Fingerprint,
		RequestHash: act.RequestHash, Issued: now, LeaseUntil: until, License: signed.Bytes,
	})
	if err != nil {
		return nil, result.Wrap(result.Internal, "cannot record the refresh in the ledger", err)
	}
	_ = d.Ledger.Audit(ctx, "pool.refreshed", prod.LicenseKey, fmt.Sprintf("floating server %x answered usage report %d with activation %x", rep.Report.Server[:8], rep.Report.Seq, id))
	return signed, nil
}

// ErrReportAnswered means a refresh was asked for a usage report that a
// pool license issued since its import already answered: a new refresh
// needs a newer report (or force).
var ErrReportAnswered = errors.New("a new refresh needs a newer report from the server (or force it)")

// ErrReportMissing means a renewal of a pool license that asks for usage
// reports came with no report imported from the server since the license
// it renews was issued: the renewal would restart the days before a
// report is due without one.
var ErrReportMissing = errors.New("the pool license asks for usage reports, and none has been imported from this server since the license it renews was issued: import the server's usage report and answer it with a pool refresh")

// checkReports refuses the renewal of a pool license that asks for usage
// reports while no report has been imported since it was issued
// (LICENSE_SUSPENDED, ErrReportMissing).
func (d *Desk) checkReports(ctx context.Context, j *job) error {
	if j.prevLease == nil || j.p.Pool == nil || j.p.Pool.ReportEvery == 0 {
		return nil
	}
	old, err := d.Ledger.GetActivation(ctx, j.key, hex.EncodeToString(j.prevLease))
	if err != nil {
		return nil // the renewal itself says what is wrong with the lease
	}
	prev, _, err := response.ParseUnverified(old.License)
	if err != nil || prev.Pool == nil || prev.Pool.ReportEvery == 0 {
		return nil
	}
	reps, err := d.Ledger.UsageReports(ctx, j.req.InstallSign)
	if err != nil {
		return result.Wrap(result.Internal, "cannot read the ledger", err)
	}
	for _, r := range reps {
		if !r.Imported.Before(prev.IssuedTime()) {
			return nil
		}
	}
	return result.Wrap(result.LicenseSuspended, "renewal refused", ErrReportMissing)
}
