package main

import (
	"errors"
	"time"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/cli"
	"github.com/airlock-offline/airlock/response"
)

func (a *app) cmdActivate(args []string) error {
	fs := a.newFlags("activate")
	product := fs.String("product", "", "")
	var input cli.InputFlags
	input.Register(fs)
	code := fs.String("code", "", "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if *code != "" {
		if fs.NArg() > 0 || len(input.Images) > 0 || input.Interactive || *product == "" {
			return cli.Usagef("--code takes --product and nothing else")
		}
		keys, err := a.vendorPublics(true)
		if err != nil {
			return err
		}
		v := a.verifier(*product, keys)
		if a.secretErr != nil {
			return a.secretErr
		}
		until, err := v.ActivateCode(*code, 0)
		if errors.Is(err, client.ErrProvisionalOff) {
			return cli.WithHint(err, "phone codes are an honour system, so each product opts in: pass --provisional-grace 72h (or set AIRLOCK_PROVISIONAL_GRACE) only if the product allows provisional activation")
		}
		if err != nil {
			return err
		}
		a.ui.Infof("%q provisionally activated by phone code until %s: install the signed license before then", *product, until.Format(time.RFC3339))
		return nil
	}
	keys, err := a.vendorPublics(true)
	if err != nil {
		return err
	}
	input.Check = func(_ armor.Kind, p []byte) error { _, _, err := response.Parse(p, keys...); return err }
	text, err := a.ui.Read(&input, fs.Args(), armor.License)
	if err != nil {
		return err
	}
	v := a.verifier(*product, keys)
	if a.secretErr != nil {
		return a.secretErr
	}
	lic, err := v.Activate(text)
	if err != nil {
		return err
	}
	exp := "never"
	if lic.Expires != 0 {
		exp = lic.ExpiresTime().Format(time.RFC3339)
	}
	a.ui.Infof("activated %q for %q (expires %s)", lic.Product, lic.Licensee, exp)
	return nil
}
