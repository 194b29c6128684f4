package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/cli"
	"github.com/airlock-offline/airlock/licensekey"
	"github.com/airlock-offline/airlock/request"
)

func (a *app) cmdRequest(args []string) error {
	fs := a.newFlags("request")
	product := fs.String("product", "", "")
	key := fs.String("license-key", "", "")
	out := fs.StringP("output", "o", "-", "")
	plaintext := fs.Bool("plaintext-key", false, "")
	renew := fs.Bool("renew", false, "")
	hwReader := fs.String("hardware-key", "", "")
	phone := fs.Bool("phone", false, "")
	attFile := fs.String("attestation-file", "", "")
	attestKey := fs.Bool("attest", false, "")
	fs.Lookup("hardware-key").NoOptDefVal = "auto"
	workFactor := cli.WorkFactorFlag(fs)
	var q cli.QRFlags
	q.Register(fs)
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return cli.Usagef("request takes no arguments")
	}
	if *attFile != "" && *hwReader == "" {
		return cli.Usagef("--attestation-file goes with --hardware-key")
	}
	if *attestKey && *hwReader == "" {
		return cli.Usagef("--attest goes with --hardware-key")
	}
	if err := q.Check(); err != nil {
		return err
	}
	if e := request.ValidText(*product, request.MaxProduct); e != "" {
		return cli.Usagef("--product %s", e)
	}
	var lk string
	var err error
	madeKey := false
	switch {
	case *renew:
		if *key != "" {
			return cli.Usagef("--renew takes the license key from the installed license; drop --license-key")
		}
	case strings.EqualFold(*key, "new"):
		// For a product whose desk auto-creates licenses: a fresh key,
		// public, which the license will carry.
		if lk, err = licensekey.New(nil); err != nil {
			return fmt.Errorf("cannot make a license key: %w", err)
		}
		madeKey = true
	default:
		if lk, err = licensekey.Parse(*key); err != nil {
			return cli.Usagef("--license-key: %v", err)
		}
	}
	keys, err := a.vendorPublics(true)
	if err != nil {
		return err
	}
	st, err := client.Open(a.state)
	if err != nil {
		return err
	}
	var inst *crypto.Identity
	if st.HasInstallation() {
		if inst, err = st.Installation(a.ui.Passphrase(a.passphraseFile, false)); err != nil {
			return err
		}
	} else {
		var pass []byte
		if *plaintext {
			a.ui.Warnf("the installation key is stored UNENCRYPTED in %s", cli.Abs(st.Dir))
		} else if pass, err = a.ui.Passphrase(a.passphraseFile, true)(); err != nil {
			return cli.WithHint(err, "or pass --plaintext-key for software that runs unattended")
		}
		if inst, err = st.CreateInstallation(nil, pass, *workFactor); err != nil {
			return err
		}
		a.ui.Infof("new installation key %s in %s", inst.ID(), cli.Abs(st.Dir))
	}
	v := a.verifier(*product, keys)
	if a.secretErr != nil {
		return a.secretErr
	}
	v.AttestOpenPGP = *attestKey
	reader := *hwReader
	if reader == "auto" {
		reader = ""
	}
	opts := client.RequestOptions{LicenseKey: lk, Renew: *renew, Phone: *phone,
		HardwareKey: *hwReader != "", HardwareKeyReader: reader}
	if *attFile != "" {
		opts.DetachAttestation = func(hk *request.HardwareKey) error { return a.ui.WriteAttestation(*attFile, hk) }
	}
	made, err := v.MakeRequest(inst, opts)
	if err != nil && cli.DongleExit(err) != cli.ExitError {
		return cli.DongleFailure(err)
	}
	if made != nil && made.Enrolled != nil {
		a.ui.Infof("hardware key enrolled: %s", made.Enrolled)
	}
	if err != nil {
		var fe *request.FieldError
		err = fmt.Errorf("cannot make the request: %w", err)
		if errors.As(err, &fe) && fe.Field == "fingerprint" {
			return cli.WithHint(err, "run `airlock fingerprint --explain` to see which hardware components could be read")
		}
		return err
	}
	s := made.Request
	if err := a.ui.WriteOutput(*out, s.Text()); err != nil {
		return err
	}
	if err := a.ui.WriteQR(&q, armor.Request, s.Bytes, *out != "-"); err != nil {
		return err
	}
	if madeKey {
		a.ui.Infof("new license key %s: the request asks the vendor's desk to create its license (the license will carry the key)", lk)
	}
	if *out != "-" {
		a.ui.Infof("request for %q written to %s (%d bytes signed): take it to the vendor", *product, *out, len(s.Bytes))
	}
	return nil
}
