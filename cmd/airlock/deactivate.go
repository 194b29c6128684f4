package main

import (
	"fmt"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/cli"
	"github.com/airlock-offline/airlock/result"
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
	st, err := client.OpenExisting(a.state)
	if err != nil {
		return err
	}
	write := func(text []byte) error {
		if err := a.ui.WriteOutput(*out, text); err != nil {
			return err
		}
		k, p, err := armor.Decode(text)
		if err != nil {
			return err
		}
		return a.ui.WriteQR(&q, k, p, *out != "-")
	}
	if _, err := st.License(*product); result.CodeOf(err) == result.NotActivated {
		// Already deactivated: emit the kept receipt again, if there is one.
		kept, rerr := st.Receipt(*product)
		if rerr != nil {
			return err
		}
		if err := write(kept); err != nil {
			return err
		}
		a.ui.Infof("%q was already deactivated; this is its receipt again: take it to the vendor to free the seat", *product)
		return nil
	}
	inst, err := st.Installation(a.ui.Passphrase(a.passphraseFile, false))
	if err != nil {
		return err
	}
	r, err := a.verifier(*product, keys).Deactivate(inst)
	if err != nil {
		return err
	}
	// The receipt is out (and kept) before the license goes.
	if err := write(r.Text()); err != nil {
		return cli.WithHint(err, "the license is still installed; run deactivate again")
	}
	if err := st.RemoveLicense(*product); err != nil {
		return fmt.Errorf("the receipt is written but the license could not be removed: %w", err)
	}
	a.ui.Infof("%q deactivated: take the receipt to the vendor (airlock-vendor receipt import) to free the seat", *product)
	return nil
}
