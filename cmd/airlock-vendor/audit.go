package main

import (
	"context"
	"fmt"
	"time"

	"github.com/airlock-offline/airlock/internal/cli"
)

func (a *app) cmdAudit(args []string) error {
	if len(args) > 0 && args[0] == "checkpoint" {
		return a.cmdAuditCheckpoint(args[1:])
	}
	if len(args) == 0 || (args[0] != "verify" && args[0] != "list") {
		return cli.Usagef("audit needs a subcommand: verify, list or checkpoint")
	}
	fs := a.newFlags("audit " + args[0])
	head := fs.String("head", "", "")
	asJSON := fs.Bool("json", false, "")
	checkpoint := fs.String("checkpoint", "", "")
	if done, err := a.parse(fs, args[1:]); done || err != nil {
		return err
	}
	if *checkpoint != "" && (args[0] != "verify" || *head != "") {
		return cli.Usagef("--checkpoint goes with audit verify, without --head")
	}
	l, err := a.openLedgerRead()
	if err != nil {
		return err
	}
	defer l.Close()
	ctx := context.Background()
	if args[0] == "list" {
		entries, err := l.AuditLog(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			type entry struct {
				Seq        int64  `json:"seq"`
				At         string `json:"at"`
				Action     string `json:"action"`
				LicenseKey string `json:"license_key,omitempty"`
				Detail     string `json:"detail,omitempty"`
				Hash       string `json:"hash"`
			}
			out := []entry{}
			for _, e := range entries {
				out = append(out, entry{e.Seq, e.At.Format(time.RFC3339Nano), e.Action, e.LicenseKey, e.Detail, fmt.Sprintf("%x", e.Hash)})
			}
			return a.ui.PrintJSON(out)
		}
		for _, e := range entries {
			fmt.Fprintf(a.ui.Stdout, "%6d  %s  %-20s %-29s %s\n", e.Seq, e.At.Format(time.RFC3339), e.Action, e.LicenseKey, e.Detail)
		}
		return nil
	}
	if *checkpoint != "" {
		return a.verifyCheckpoint(ctx, l, *checkpoint)
	}
	seq, hash, err := l.VerifyAudit(ctx, *head)
	if err != nil {
		return err
	}
	if seq == 0 {
		a.ui.Infof("the audit log is empty")
		return nil
	}
	if err := a.checkStoredCheckpoints(ctx, l); err != nil {
		return err
	}
	a.ui.Infof("audit log intact: %d entries; keep this head elsewhere and pass it as --head to detect removed entries later:", seq)
	fmt.Fprintf(a.ui.Stdout, "%d:%x\n", seq, hash)
	return nil
}
