package main

import (
	"context"

	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/cli"
)

func (a *app) cmdReceiptImport(args []string) error {
	fs := a.newFlags("receipt import")
	var input cli.InputFlags
	input.Register(fs)
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	text, err := a.ui.Read(&input, fs.Args(), armor.Receipt)
	if err != nil {
		return err
	}
	l, err := a.openLedger()
	if err != nil {
		return err
	}
	defer l.Close()
	d := &desk.Desk{Ledger: l, Now: cli.NowFunc()}
	r, already, err := d.ImportReceipt(context.Background(), text)
	a.checkpointLedger(l) // a refused receipt is in the audit log too
	if err != nil {
		return err
	}
	if already {
		a.ui.Infof("this receipt was imported before; the seat of license %s is free", r.Receipt.LicenseKey)
		return nil
	}
	a.ui.Infof("seat freed: license %s, activation %x", r.Receipt.LicenseKey, r.Receipt.ActivationID)
	return nil
}
