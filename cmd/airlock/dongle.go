package main

import (
	"fmt"

	"github.com/airlock-offline/airlock/dongle"
	"github.com/airlock-offline/airlock/internal/cli"
)

func (a *app) cmdDongle(args []string) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "probe") {
		return a.ui.Fail(cli.Usagef("dongle needs a subcommand: list or probe"))
	}
	fs := a.newFlags("dongle " + args[0])
	asJSON := fs.Bool("json", false, "")
	if done, err := a.parse(fs, args[1:]); done || err != nil {
		if err != nil {
			return a.ui.Fail(err)
		}
		return 0
	}
	s, err := dongle.Open(a.dongleOptions())
	if err != nil {
		return a.ui.Fail(cli.DongleFailure(err))
	}
	defer s.Close()
	type card struct {
		Reader      string `json:"reader"`
		CardPresent bool   `json:"card_present"`
		Type        string `json:"type,omitempty"`
		Serial      string `json:"serial,omitempty"`
		Algorithm   string `json:"algorithm,omitempty"`
		Proof       string `json:"proof,omitempty"`
		Attestation bool   `json:"attestation,omitempty"`
		// DeskSigning (probe only): whether the card can hold a vendor
		// desk's signing key (airlock-vendor init --hardware-key).
		DeskSigning string `json:"desk_signing_key,omitempty"`
		Error       string `json:"error,omitempty"`
	}
	describe := func(reader string, present bool) card {
		c := card{Reader: reader, CardPresent: present}
		if !present {
			return c
		}
		id, err := s.Identify(reader)
		if err != nil {
			c.Error = err.Error()
			return c
		}
		c.Type, c.Serial, c.Attestation = id.Kind.String(), id.SerialString(), len(id.Attestation) > 0
		c.Proof = "none (identity only: a license can bind it, nothing proves it)"
		if id.CanProve {
			c.Algorithm = id.Algorithm.String()
			c.Proof = "challenge-response with a key that never leaves the card (PIN needed)"
		}
		return c
	}
	var out []card
	if args[0] == "probe" {
		reader := ""
		if fs.NArg() == 1 {
			reader = fs.Arg(0)
		} else if fs.NArg() > 1 {
			return a.ui.Fail(cli.Usagef("dongle probe takes at most one reader name"))
		}
		id, err := s.Identify(reader)
		if err != nil {
			return a.ui.Fail(cli.DongleFailure(err))
		}
		c := describe(id.Reader, true)
		if sk, err := s.SigningKey(id.Reader, 0); err == nil {
			c.DeskSigning = fmt.Sprintf("%s %s signing key (airlock-vendor init --hardware-key can use it)", sk.Kind, sk.Algorithm)
		} else {
			c.DeskSigning = "none usable: " + err.Error()
		}
		out = append(out, c)
	} else {
		readers, err := s.Readers()
		if err != nil {
			return a.ui.Fail(cli.DongleFailure(err))
		}
		for _, r := range readers {
			out = append(out, describe(r.Name, r.CardPresent))
		}
	}
	if *asJSON {
		if out == nil {
			out = []card{}
		}
		a.ui.PrintJSON(out)
		return 0
	}
	for _, c := range out {
		switch {
		case !c.CardPresent:
			fmt.Fprintf(a.ui.Stdout, "%s: no card\n", c.Reader)
		case c.Error != "":
			fmt.Fprintf(a.ui.Stdout, "%s: card present, cannot be read: %s\n", c.Reader, c.Error)
		default:
			fmt.Fprintf(a.ui.Stdout, "%s: %s, serial %s", c.Reader, c.Type, c.Serial)
			if c.Algorithm != "" {
				fmt.Fprintf(a.ui.Stdout, ", %s key", c.Algorithm)
			}
			fmt.Fprintf(a.ui.Stdout, "\n  proof: %s\n", c.Proof)
			if c.Attestation {
				fmt.Fprintf(a.ui.Stdout, "  attestation: present (checked by the desk against the manufacturer's root)\n")
			}
			if c.DeskSigning != "" {
				fmt.Fprintf(a.ui.Stdout, "  desk signing key: %s\n", c.DeskSigning)
			}
		}
	}
	return 0
}
