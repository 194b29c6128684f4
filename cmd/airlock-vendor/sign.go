package main

import (
	"errors"
	"path/filepath"

	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/atomicfile"
	"github.com/airlock-offline/airlock/internal/cli"
	"github.com/airlock-offline/airlock/phonecode"
	"github.com/airlock-offline/airlock/qr"
)

func (a *app) cmdSign(args []string) error {
	fs := a.newFlags("sign")
	out := fs.StringP("output", "o", "-", "")
	maxAge := fs.String("max-request-age", "7d", "")
	var input cli.InputFlags
	input.Register(fs)
	batch := fs.String("batch", "", "")
	attRoots := fs.String("attestation-roots", "", "")
	attFile := fs.String("attestation", "", "")
	pool := fs.String("pool", "", "")
	var q cli.QRFlags
	q.Register(fs)
	asJSON := fs.Bool("json", false, "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if *batch != "" && *attFile != "" {
		return cli.Usagef("--attestation goes with one request, not --batch")
	}
	a.pool = *pool
	if *batch != "" {
		if fs.NArg() > 0 || len(input.Images) > 0 || input.Interactive || fs.Changed("output") || q.PNG != "" || q.Terminal {
			return cli.Usagef("--batch takes a folder and nothing else: licenses are written beside the requests")
		}
		return a.signBatch(*batch, *maxAge, *attRoots, *asJSON)
	}
	if err := q.Check(); err != nil {
		return err
	}
	if *asJSON && *out == "-" {
		return cli.Usagef("sign --json prints the outcome on stdout: write the license with -o FILE")
	}
	if *asJSON {
		// The outcome, whatever it is, as JSON on stdout too.
		return a.signOneJSON(*out, fs.Args(), func() (*desk.Issued, error) {
			return a.signOne(&input, fs.Args(), *out, *maxAge, *attRoots, *attFile, &q)
		})
	}
	_, err := a.signOne(&input, fs.Args(), *out, *maxAge, *attRoots, *attFile, &q)
	return err
}

// signOne signs one request and writes its license to out. A license that
// could not be written after its seat was recorded is an *notWrittenError
// (exit 3), and the issued license comes back with it.
func (a *app) signOne(input *cli.InputFlags, args []string, out, maxAge, attRoots, attFile string, q *cli.QRFlags) (*desk.Issued, error) {
	if out != "-" {
		// A killed run's temporary files for this output.
		dir, base := filepath.Split(out)
		if dir == "" {
			dir = "."
		}
		atomicfile.RemoveStale(dir, func(name string) bool { return name == base })
	}
	age, err := parseMaxAge(maxAge)
	if err != nil {
		return nil, err
	}
	text, err := a.ui.Read(input, args, armor.Request)
	if err != nil {
		return nil, err
	}
	d, err := a.openDesk(age, attRoots)
	if err != nil {
		return nil, err
	}
	defer d.Ledger.Close()
	if attFile != "" {
		if d.Attestation, err = a.ui.ReadAttestation(attFile); err != nil {
			return nil, err
		}
	}
	iss, err := signText(d, text, a.pool)
	a.checkpoint(d) // a refusal is in the audit log too
	if err != nil {
		return nil, err
	}
	if err := a.ui.WriteOutput(out, iss.Text()); err != nil {
		// The activation is recorded; the license can be signed again
		// for the same request without taking another seat.
		return iss, notWritten(err)
	}
	if err := a.ui.WriteQR(q, armor.License, iss.License.Bytes, out != "-"); err != nil {
		if se := (*qr.SizeError)(nil); errors.As(err, &se) {
			return iss, err // running it again would not help: its hint says what does
		}
		return iss, notWritten(err)
	}
	lic := iss.License.License
	seat := "new seat"
	if iss.Reused {
		seat = "same machine, seat reused"
	}
	dest := out
	if dest == "-" {
		dest = "stdout"
	}
	a.ui.Infof("signed license for %q, product %q (%s), written to %s", lic.Licensee, lic.Product, seat, dest)
	if iss.PhoneCode != "" {
		a.ui.Infof("phone code: %s (read it out now: it is accepted for 5 to 10 minutes)", phonecode.Format(iss.PhoneCode))
	}
	return iss, nil
}
