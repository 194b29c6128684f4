package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/cli"
)

// cmdDeactivate removes a pool license and writes the signed receipt that
// gives the server's seat back at the vendor's desk, as for any machine.
// The seats it handed out end with their leases (at most one TTL; borrowed
// ones at their borrow end).
func (a *app) cmdDeactivate(args []string) error {
	fs := a.newFlags("deactivate")
	product := fs.String("product", "", "")
	out := fs.StringP("output", "o", "-", "")
	var q cli.QRFlags
	q.Register(fs)
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if fs.NArg() != 0 || *product == "" {
		return cli.Usagef("deactivate takes --product and no arguments")
	}
	if err := q.Check(); err != nil {
		return err
	}
	s, _, err := a.open(false)
	if err != nil {
		return err
	}
	keys, err := s.needVendorKeys()
	if err != nil {
		return err
	}
	v := &client.Verifier{Product: *product, VendorKeys: keys, Dir: s.dir, Source: cli.FingerprintSource(), Now: cli.NowFunc()}
	again, err := v.GiveUp(func() (*crypto.Identity, error) { return s.st.Installation(nil) },
		func(text []byte) error { return a.ui.WriteMessage(*out, &q, text) })
	if errors.Is(err, client.ErrReceiptNotWritten) {
		return cli.WithHint(err, "the pool license is still installed; run deactivate again")
	}
	if err != nil {
		return err
	}
	if again {
		a.ui.Infof("%q was already deactivated; this is its receipt again: take it to the vendor", *product)
		return nil
	}
	if ad, err := a.admin(s); err == nil {
		_ = ad.Do(context.Background(), http.MethodPost, "/reload", struct{}{}, nil)
	}
	a.ui.Infof("%q deactivated: no new seats are granted; take the receipt to the vendor (airlock-vendor receipt import) to free the server's seat", *product)
	return nil
}
