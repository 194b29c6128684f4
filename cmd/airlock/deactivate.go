package main

import (
	"errors"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/cli"
)

func (a *app) cmdDeactivate(args []string) error {
	fs := a.newFlags("deactivate")
	product := fs.String("product", "", "")
	out := fs.StringP("output", "o", "-", "")
	var q cli.QRFlags
	q.Register(fs)
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return cli.Usagef("deactivate takes no arguments")
	}
	if *product == "" {
		return cli.Usagef("deactivate needs --product")
	}
	if err := q.Check(); err != nil {
		return err
	}
	keys, err := a.vendorPublics(true)
	if err != nil {
		return err
	}
	v := a.verifier(*product, keys)
	again, err := v.GiveUp(func() (*crypto.Identity, error) {
		st, err := client.OpenExisting(a.state)
		if err != nil {
			return nil, err
		}
		return st.Installation(a.ui.Passphrase(a.passphraseFile, false))
	}, func(text []byte) error { return a.ui.WriteMessage(*out, &q, text) })
	if errors.Is(err, client.ErrReceiptNotWritten) {
		return cli.WithHint(err, "run deactivate again: it writes the same receipt")
	}
	if err != nil {
		return err
	}
	if again {
		a.ui.Infof("%q was already deactivated; this is its receipt again: take it to the vendor to free the seat", *product)
		return nil
	}
	a.ui.Infof("%q deactivated: take the receipt to the vendor (airlock-vendor receipt import) to free the seat", *product)
	return nil
}
