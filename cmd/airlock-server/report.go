package main

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/cli"
	usagereport "github.com/airlock-offline/airlock/usage"
)

// cmdReport makes the next usage report ("report"), or shows one
// ("report show").
func (a *app) cmdReport(args []string) error {
	if len(args) > 0 && args[0] == "show" {
		return a.cmdReportShow(args[1:])
	}
	fs := a.newFlags("report")
	out := fs.StringP("output", "o", "-", "")
	pseudo := fs.Bool("pseudonymise", false, "")
	var q cli.QRFlags
	q.Register(fs)
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return cli.Usagef("report takes no arguments (report show FILE shows one)")
	}
	if err := q.Check(); err != nil {
		return err
	}
	s, _, err := a.open(false)
	if err != nil {
		return err
	}
	text, seq, err := a.makeReport(s, floating.ReportOptions{Pseudonymise: *pseudo})
	if err != nil {
		return err
	}
	if err := a.ui.WriteMessage(*out, &q, text); err != nil {
		return cli.WithHint(err, "the report is made and the next one follows it: keep this one's text, or the vendor will see its number missing")
	}
	if *out != "-" {
		a.ui.Infof("usage report %d written to %s: read it with `airlock-server report show %s`, then take it to the vendor", seq, *out, *out)
	}
	return nil
}

// makeReport asks the running server for the report, or makes it from
// the database when the server is not running.
func (a *app) makeReport(s *server, opt floating.ReportOptions) ([]byte, uint64, error) {
	if ad, err := a.admin(s); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var resp floating.ReportResponse
		err := ad.Do(ctx, http.MethodPost, "/report", floating.ReportRequest(opt), &resp)
		var fe *floating.Error
		if err == nil {
			return []byte(resp.Report), resp.Seq, nil
		} else if errors.As(err, &fe) {
			return nil, 0, err
		}
		// Not running after all (a stale serve.json): make it here.
	}
	id, err := s.st.Installation(nil)
	if err != nil {
		return nil, 0, err
	}
	lics, err := a.poolLicenses(s)
	if err != nil {
		return nil, 0, err
	}
	floor, _ := s.st.LastSeen()
	srv, err := floating.New(floating.Config{Identity: id, Licenses: lics, DB: s.dbTarget(), Now: cli.NowFunc(), ClockFloor: floor})
	if err != nil {
		return nil, 0, err
	}
	defer srv.Close()
	signed, err := srv.MakeReport(opt)
	if err != nil {
		return nil, 0, err
	}
	return signed.Text(), signed.Report.Seq, nil
}

func (a *app) cmdReportShow(args []string) error {
	fs := a.newFlags("report show")
	asJSON := fs.Bool("json", false, "")
	var input cli.InputFlags
	input.Register(fs)
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	text, err := a.ui.Read(&input, fs.Args(), armor.UsageReport)
	if err != nil {
		return err
	}
	rep, err := usagereport.ParseText(text)
	if err != nil {
		return err
	}
	if *asJSON {
		return a.ui.PrintJSON(struct {
			Hash   string              `json:"hash"`
			Report *usagereport.Report `json:"report"`
		}{hex.EncodeToString(rep.Hash[:]), rep.Report})
	}
	return rep.WriteText(a.ui.Stdout)
}
