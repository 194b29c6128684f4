package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/cli"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

type verifyJSON struct {
	Result   string            `json:"result"`
	ExitCode int               `json:"exit_code"`
	Message  string            `json:"message,omitempty"`
	Details  []string          `json:"details,omitempty"`
	Product  string            `json:"product"`
	Licensee string            `json:"licensee,omitempty"`
	Expires  string            `json:"expires,omitempty"`
	Lease    string            `json:"lease_until,omitempty"`
	Features map[string]uint64 `json:"features,omitempty"`
	// Provisional is true while a phone code stands in for the license.
	Provisional bool `json:"provisional,omitempty"`
}

// describe is the outcome of verifying product's license. PROVISIONAL has
// an exit code of its own, so that a script testing for 0 is not fooled;
// a product that opted in to phone codes (optedIn) runs on it: 0.
func describe(product string, lic *response.License, err error, optedIn bool) verifyJSON {
	code := result.CodeOf(err)
	j := verifyJSON{Result: string(code), ExitCode: code.ExitCode(), Product: product}
	if code == result.Provisional {
		j.Provisional = true
		if optedIn {
			j.ExitCode = 0
		}
	}
	var re *result.Error
	if errors.As(err, &re) {
		j.Message = re.Error()
		j.Details = re.Details
	} else if err != nil {
		j.Message = err.Error()
	}
	if lic != nil {
		j.Licensee = lic.Licensee
		if lic.Expires != 0 {
			j.Expires = lic.ExpiresTime().Format(time.RFC3339)
		}
		if lic.LeaseUntil != 0 {
			j.Lease = lic.LeaseUntilTime().Format(time.RFC3339)
		}
		j.Features = lic.Features
	}
	return j
}

func (a *app) cmdVerify(args []string) int {
	fs := a.newFlags("verify")
	product := fs.String("product", "", "")
	asJSON := fs.Bool("json", false, "")
	done, err := a.parse(fs, args)
	if done {
		return 0
	}
	if err == nil && *product == "" {
		err = cli.Usagef("verify needs --product")
	}
	var keys []*crypto.Public
	if err == nil {
		keys, err = a.vendorPublics(true)
	}
	if err != nil {
		return a.ui.Fail(err)
	}
	v := a.verifier(*product, keys)
	if a.secretErr != nil {
		return a.ui.Fail(a.secretErr)
	}
	lic, err := v.Verify()
	j := describe(*product, lic, err, v.Provisional > 0)
	if *asJSON {
		if werr := a.ui.PrintJSON(j); werr != nil {
			return cli.ExitError
		}
		return j.ExitCode
	}
	fmt.Fprintln(a.ui.Stdout, j.Result)
	if j.Provisional {
		a.ui.Warnf("%v", err)
		return j.ExitCode
	}
	if err != nil {
		return a.ui.Fail(err)
	}
	return 0
}

func (a *app) cmdStatus(args []string) error {
	fs := a.newFlags("status")
	product := fs.String("product", "", "")
	asJSON := fs.Bool("json", false, "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	keys, err := a.vendorPublics(false)
	if err != nil {
		return err
	}
	st, err := client.OpenExisting(a.state)
	if err != nil {
		return err
	}
	type status struct {
		State        string       `json:"state_dir"`
		Installation string       `json:"installation_key_id,omitempty"`
		Licenses     []verifyJSON `json:"licenses"`
	}
	s := status{State: cli.Abs(st.Dir), Licenses: []verifyJSON{}}
	if pub, err := st.InstallationPublic(); err == nil {
		s.Installation = pub.ID().String()
	}
	products := []string{*product}
	if *product == "" {
		if products, err = st.Products(); err != nil {
			return err
		}
	}
	for _, p := range products {
		if len(keys) == 0 {
			s.Licenses = append(s.Licenses, verifyJSON{Product: p, Result: "UNCHECKED", Message: "no --vendor-key given"})
			continue
		}
		v := a.verifier(p, keys)
		v.ReadOnly = true
		lic, err := v.Verify()
		s.Licenses = append(s.Licenses, describe(p, lic, err, v.Provisional > 0))
	}
	if *asJSON {
		return a.ui.PrintJSON(s)
	}
	w := a.ui.Stdout
	fmt.Fprintf(w, "state:        %s\n", s.State)
	if s.Installation == "" {
		fmt.Fprintf(w, "installation: none yet (made by the first `airlock request`)\n")
	} else {
		fmt.Fprintf(w, "installation: key %s\n", s.Installation)
	}
	if len(s.Licenses) == 0 {
		fmt.Fprintf(w, "licenses:     none\n")
	}
	for _, l := range s.Licenses {
		line := fmt.Sprintf("license:      %q %s", l.Product, l.Result)
		if l.Licensee != "" {
			line += fmt.Sprintf(", licensee %q", l.Licensee)
		}
		if l.Expires != "" {
			line += ", expires " + l.Expires
		}
		if l.Result != string(result.Valid) && l.Message != "" {
			line += ": " + l.Message
		}
		fmt.Fprintln(w, line)
	}
	return nil
}
