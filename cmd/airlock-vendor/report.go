package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/cli"
	"github.com/airlock-offline/airlock/ledger"
	usagereport "github.com/airlock-offline/airlock/usage"
)

// reportJSON is a stored usage report, for report import/list/show --json.
type reportJSON struct {
	Server   string              `json:"server"` // key id
	Seq      uint64              `json:"seq"`
	Hash     string              `json:"hash"`
	Prev     string              `json:"prev"`
	License  string              `json:"license_key"`
	From     time.Time           `json:"from"`
	To       time.Time           `json:"to"`
	Imported time.Time           `json:"imported"`
	Flag     string              `json:"flag,omitempty"`
	Message  string              `json:"message,omitempty"`
	Already  bool                `json:"already_imported,omitempty"`
	Refresh  string              `json:"refresh,omitempty"` // where the refreshed pool license was written
	Report   *usagereport.Report `json:"report,omitempty"`
}

func reportOf(r *ledger.UsageReport) reportJSON {
	return reportJSON{Server: crypto.KeyIDOf(r.ServerKey).String(), Seq: r.Seq, Hash: hex.EncodeToString(r.Hash), Prev: hex.EncodeToString(r.Prev),
		License: r.LicenseKey, From: r.From, To: r.To, Imported: r.Imported, Flag: r.Flag, Message: r.Message}
}

func (a *app) cmdReportImport(args []string) error {
	fs := a.newFlags("report import")
	var input cli.InputFlags
	input.Register(fs)
	refresh := fs.String("refresh", "", "")
	product := fs.String("product", "", "")
	force := fs.Bool("force", false, "")
	out := fs.StringP("output", "o", "-", "")
	var q cli.QRFlags
	q.Register(fs)
	asJSON := fs.Bool("json", false, "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	var period time.Duration
	if *refresh != "" {
		d, err := cli.ParseDuration(*refresh)
		if err != nil {
			return cli.Usagef("--refresh: %v", err)
		}
		period = d
		if err := q.Check(); err != nil {
			return err
		}
		if *asJSON && *out == "-" {
			return cli.Usagef("report import --json prints the outcome on stdout: write the refreshed license with -o FILE")
		}
	} else if fs.Changed("output") || fs.Changed("product") || *force || q.PNG != "" || q.Terminal {
		return cli.Usagef("-o, --product, --force and the QR options go with --refresh")
	}
	text, err := a.ui.Read(&input, fs.Args(), armor.UsageReport)
	if err != nil {
		return err
	}
	l, err := a.openLedger()
	if err != nil {
		return err
	}
	defer l.Close()
	d := &desk.Desk{Ledger: l, Now: cli.NowFunc()}
	// The key (asked for once, and its hardware key attached) signs the
	// refresh and the audit log's checkpoints.
	checkpoint := func() { a.checkpointLedger(l) }
	if *refresh != "" {
		if d.Key, err = a.loadKey(); err != nil {
			return err
		}
		if err := a.attachCard(d.Key); err != nil {
			return err
		}
		checkpoint = func() { a.checkpoint(d) }
	}
	ctx := context.Background()
	imp, err := d.ImportReport(ctx, text)
	checkpoint()
	if err != nil {
		return err
	}
	r := imp.Report.Report
	res := reportOf(imp.Stored)
	res.Already = imp.Already
	var flagErr error
	switch {
	case imp.Flagged():
		flagErr = fmt.Errorf("%s: %s (stored in the ledger, flagged)", imp.Stored.Flag, imp.Stored.Message)
	case !*asJSON:
		a.ui.Infof("usage report %d of server %s imported (%s to %s)", r.Seq, r.ServerID(), r.FromTime().Format(time.RFC3339), r.ToTime().Format(time.RFC3339))
	}
	// A report imported before may still be answered (RefreshPool looks
	// at the flag it was stored with).
	if *refresh != "" && (flagErr == nil || *force || imp.Already) {
		signed, err := d.RefreshPool(ctx, imp.Report, *product, period, *force)
		checkpoint()
		if err != nil {
			return err
		}
		if err := a.ui.WriteMessage(*out, &q, signed.Text()); err != nil {
			return notWritten(err)
		}
		res.Refresh = *out
		if imp.Already {
			a.ui.Infof("this report was imported before: answered with a refresh all the same")
			flagErr = nil
		}
		if !*asJSON {
			until := "no lease"
			if signed.License.LeaseUntil != 0 {
				until = "lease until " + signed.License.LeaseUntilTime().Format(time.RFC3339)
			}
			a.ui.Infof("pool refresh for %q (%s): the server installs it with `airlock-server activate`", signed.License.Product, until)
		}
	}
	if *asJSON {
		if err := a.ui.PrintJSON(res); err != nil {
			return err
		}
	}
	return flagErr
}

func (a *app) cmdReportList(args []string) error {
	fs := a.newFlags("report list")
	asJSON := fs.Bool("json", false, "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return cli.Usagef("report list takes no arguments")
	}
	l, err := a.openLedgerRead()
	if err != nil {
		return err
	}
	defer l.Close()
	reps, err := l.UsageReports(context.Background(), nil)
	if err != nil {
		return err
	}
	out := make([]reportJSON, len(reps))
	for i := range reps {
		out[i] = reportOf(&reps[i])
	}
	if *asJSON {
		return a.ui.PrintJSON(out)
	}
	w := tabwriter.NewWriter(a.ui.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SERVER\tSEQ\tFROM\tTO\tLICENSE\tHASH\tFLAG")
	for _, r := range out {
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", r.Server, r.Seq, r.From.Format(time.RFC3339), r.To.Format(time.RFC3339), r.License, r.Hash[:16], orDash(r.Flag))
	}
	return w.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) cmdReportShow(args []string) error {
	fs := a.newFlags("report show")
	asJSON := fs.Bool("json", false, "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return cli.Usagef("report show takes the report's hash (or its first 16 hex digits, as report list shows)")
	}
	want := strings.ToLower(fs.Arg(0))
	if len(want) < 16 || len(want) > 64 {
		return cli.Usagef("a report hash is 16 to 64 hex digits")
	}
	if _, err := hex.DecodeString(want[:len(want)&^1]); err != nil {
		return cli.Usagef("a report hash is hex digits")
	}
	l, err := a.openLedgerRead()
	if err != nil {
		return err
	}
	defer l.Close()
	reps, err := l.UsageReports(context.Background(), nil)
	if err != nil {
		return err
	}
	var found *ledger.UsageReport
	for i := range reps {
		if strings.HasPrefix(hex.EncodeToString(reps[i].Hash), want) {
			if found != nil {
				return cli.Usagef("%q names several reports: give more digits", want)
			}
			found = &reps[i]
		}
	}
	if found == nil {
		return errors.New("no usage report with this hash in the ledger")
	}
	s, err := usagereport.Verify(found.Report)
	if err != nil {
		return fmt.Errorf("the stored report does not verify: %w", err)
	}
	if *asJSON {
		res := reportOf(found)
		res.Report = s.Report
		return a.ui.PrintJSON(res)
	}
	if err := s.WriteText(a.ui.Stdout); err != nil {
		return err
	}
	fmt.Fprintf(a.ui.Stdout, "\nimported:      %s\n", found.Imported.Format(time.RFC3339))
	if found.Flag != "" {
		fmt.Fprintf(a.ui.Stdout, "flag:          %s: %s\n", found.Flag, found.Message)
	}
	return nil
}
