package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/cli"
	"github.com/airlock-offline/airlock/result"
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
	if _, err := s.st.License(*product); result.CodeOf(err) == result.NotActivated {
		kept, rerr := s.st.Receipt(*product)
		if rerr != nil {
			return err
		}
		if err := write(kept); err != nil {
			return err
		}
		a.ui.Infof("%q was already deactivated; this is its receipt again: take it to the vendor", *product)
		return nil
	}
	inst, err := s.st.Installation(nil)
	if err != nil {
		return err
	}
	v := &client.Verifier{Product: *product, VendorKeys: keys, Dir: s.dir, Source: cli.FingerprintSource(), Now: cli.NowFunc()}
	r, err := v.Deactivate(inst)
	if err != nil {
		return err
	}
	if err := write(r.Text()); err != nil {
		return cli.WithHint(err, "the pool license is still installed; run deactivate again")
	}
	if err := s.st.RemoveLicense(*product); err != nil {
		return fmt.Errorf("the receipt is written but the pool license could not be removed: %w", err)
	}
	if ad, err := a.admin(s); err == nil {
		_ = ad.Do(context.Background(), http.MethodPost, "/reload", struct{}{}, nil)
	}
	a.ui.Infof("%q deactivated: no new seats are granted; take the receipt to the vendor (airlock-vendor receipt import) to free the server's seat", *product)
	return nil
}
