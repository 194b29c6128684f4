package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/dongle"
	"github.com/airlock-offline/airlock/internal/cli"
	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/licensekey"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/result"
)

type licenseJSON struct {
	Key         string            `json:"license_key"`
	Product     string            `json:"product"`
	Licensee    string            `json:"licensee"`
	MaxMachines int               `json:"max_machines"`
	SeatsUsed   *int              `json:"seats_used,omitempty"`
	Expires     string            `json:"expires,omitempty"`
	Lease       string            `json:"lease,omitempty"`
	Features    map[string]uint64 `json:"features,omitempty"`
	Match       string            `json:"match_policy"`
	SecretMode  string            `json:"licensee_secret,omitempty"`
	RefuseEnv   string            `json:"refuse_env,omitempty"`
	HardwareEnv string            `json:"hardware_key_env,omitempty"`
	Created     string            `json:"created"`
	Suspended   bool              `json:"suspended"`
	Sealed      []string          `json:"confidential_fields,omitempty"`
}

func toJSON(l *ledger.License) licenseJSON {
	j := licenseJSON{Key: l.Key, Product: l.Product, Licensee: l.Licensee, MaxMachines: l.MaxMachines,
		Features: l.Features, Match: l.MatchPolicy, SecretMode: l.SecretMode, RefuseEnv: l.RefuseEnv, HardwareEnv: l.HardwareEnv, Created: l.Created.UTC().Format(time.RFC3339), Suspended: l.Suspended}
	if !l.Expires.IsZero() {
		j.Expires = l.Expires.UTC().Format(time.RFC3339)
	}
	if l.LeasePeriod > 0 {
		j.Lease = l.LeasePeriod.String()
	}
	for k := range l.Confidential {
		j.Sealed = append(j.Sealed, k)
	}
	sort.Strings(j.Sealed)
	return j
}

// activationJSON is one activation in license show --json and ledger
// export.
type activationJSON struct {
	ID           string `json:"activation_id"`
	Installation string `json:"installation_key_id"`
	Fingerprint  string `json:"fingerprint"`
	Issued       string `json:"issued"`
	LeaseUntil   string `json:"lease_until,omitempty"`
	Released     bool   `json:"released"`
	Pool         string `json:"pool,omitempty"` // a floating server: one machine, N seats
}

// activationsJSON describes acts, never nil, and counts the seats they hold.
func activationsJSON(acts []ledger.Activation) (list []activationJSON, used int) {
	list = []activationJSON{}
	for _, x := range acts {
		aj := activationJSON{ID: x.ID, Installation: crypto.KeyIDOf(x.InstallKey).String(), Fingerprint: fmt.Sprintf("%x", x.Fingerprint),
			Issued: x.Issued.UTC().Format(time.RFC3339), Released: x.Released, Pool: poolOf(x.License)}
		if !x.LeaseUntil.IsZero() {
			aj.LeaseUntil = x.LeaseUntil.UTC().Format(time.RFC3339)
		}
		if !x.Released {
			used++
		}
		list = append(list, aj)
	}
	return list, used
}

func (a *app) cmdLicenseCreate(args []string) error {
	fs := a.newFlags("license create")
	product := fs.String("product", "", "")
	licensee := fs.String("licensee", "", "")
	policy := policyFlagSet(fs)
	expires := fs.String("expires", "", "")
	secretFile := fs.String("secret-file", "", "")
	secretFromKey := fs.Bool("secret-from-key", false, "")
	asJSON := fs.Bool("json", false, "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return cli.Usagef("license create takes no arguments")
	}
	if e := request.ValidText(*product, request.MaxProduct); e != "" {
		return cli.Usagef("--product %s", e)
	}
	if e := request.ValidText(*licensee, 128); e != "" {
		return cli.Usagef("--licensee %s", e)
	}
	now := cli.Now()
	lic := &ledger.License{Product: *product, Licensee: *licensee, Created: now.UTC()}
	if err := policy.apply(lic); err != nil {
		return err
	}
	if *expires != "" {
		t, err := cli.ParseWhen(*expires, now)
		if err != nil {
			return cli.Usagef("--expires: %v", err)
		}
		if !t.After(now) {
			return cli.Usagef("--expires is in the past")
		}
		lic.Expires = t
	}
	var err error
	if lic.Key, err = licensekey.New(nil); err != nil {
		return err
	}
	if lic.SecretMode != "predefined" && (*secretFile != "" || *secretFromKey) {
		return cli.Usagef("--secret-file and --secret-from-key go with --secret-mode predefined")
	}
	if lic.SecretMode == "predefined" {
		if (*secretFile == "") == !*secretFromKey {
			return cli.Usagef("--secret-mode predefined needs --secret-file or --secret-from-key")
		}
		var secret []byte
		if *secretFromKey {
			// The customer's hardware key is plugged in at the desk.
			v := &client.Verifier{Dongle: dongle.Options{PIN: func(reader string, kind dongle.Kind, tries int) ([]byte, error) {
				if p := os.Getenv("AIRLOCK_PIN"); p != "" {
					return []byte(p), nil
				}
				return a.ui.Secret(fmt.Sprintf("PIN of the customer's %s key (%d tries left): ", kind, tries))
			}}}
			if secret, err = v.DeriveSecret(lic.Key); err != nil {
				return fmt.Errorf("cannot derive the licensee secret from the hardware key: %w", err)
			}
		} else if secret, err = a.ui.ReadLimited(*secretFile, "the licensee secret file", cli.MaxSecretFile); err != nil {
			return err
		}
		secret = []byte(strings.TrimRight(string(secret), "\r\n"))
		if len(secret) < 8 {
			return cli.Usagef("the licensee secret must be at least 8 bytes (a random token of 16 or more is better)")
		}
		key, err := a.loadKey()
		if err != nil {
			return err
		}
		lic.SecretHash = desk.SecretHash(key, lic.Key, secret)
	}
	l, err := a.openLedger()
	if err != nil {
		return err
	}
	defer l.Close()
	if err := l.CreateLicense(context.Background(), lic); err != nil {
		return fmt.Errorf("cannot create the license: %w", err)
	}
	a.checkpointLedger(l)
	if *asJSON {
		return a.ui.PrintJSON(toJSON(lic))
	}
	a.ui.Infof("license created for %q, product %q, %d machine(s)", lic.Licensee, lic.Product, lic.MaxMachines)
	fmt.Fprintln(a.ui.Stdout, lic.Key)
	return nil
}

func (a *app) cmdLicenseList(args []string) error {
	fs := a.newFlags("license list")
	asJSON := fs.Bool("json", false, "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	l, err := a.openLedgerRead()
	if err != nil {
		return err
	}
	defer l.Close()
	ctx := context.Background()
	lics, err := l.ListLicenses(ctx)
	if err != nil {
		return err
	}
	out := make([]licenseJSON, 0, len(lics))
	for i := range lics {
		j := toJSON(&lics[i])
		n, err := l.SeatsUsed(ctx, lics[i].Key)
		if err != nil {
			return err
		}
		j.SeatsUsed = &n
		out = append(out, j)
	}
	if *asJSON {
		return a.ui.PrintJSON(out)
	}
	if len(out) == 0 {
		a.ui.Infof("no licenses yet: create one with `airlock-vendor license create`")
		return nil
	}
	fmt.Fprintf(a.ui.Stdout, "%-29s  %-20s  %-7s  %-20s  %s\n", "LICENSE KEY", "PRODUCT", "SEATS", "EXPIRES", "LICENSEE")
	for _, j := range out {
		exp := j.Expires
		if exp == "" {
			exp = "never"
		}
		fmt.Fprintf(a.ui.Stdout, "%-29s  %-20q  %3d/%-3d  %-20s  %q\n", j.Key, j.Product, *j.SeatsUsed, j.MaxMachines, exp, j.Licensee)
	}
	return nil
}

func (a *app) cmdLicenseShow(args []string) error {
	fs := a.newFlags("license show")
	asJSON := fs.Bool("json", false, "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return cli.Usagef("license show needs one license key")
	}
	key, err := licensekey.Parse(fs.Arg(0))
	if err != nil {
		return cli.Usagef("%v", err)
	}
	l, err := a.openLedgerRead()
	if err != nil {
		return err
	}
	defer l.Close()
	ctx := context.Background()
	lic, err := l.GetLicense(ctx, key)
	if errors.Is(err, ledger.ErrNotFound) {
		return result.New(result.LicenseUnknown, "no such license key in the ledger")
	}
	if err != nil {
		return err
	}
	acts, err := l.Activations(ctx, key)
	if err != nil {
		return err
	}
	j := toJSON(lic)
	list, used := activationsJSON(acts)
	j.SeatsUsed = &used
	if *asJSON {
		return a.ui.PrintJSON(struct {
			licenseJSON
			Activations []activationJSON `json:"activations"`
		}{j, list})
	}
	w := a.ui.Stdout
	fmt.Fprintf(w, "license key:  %s\nproduct:      %q\nlicensee:     %q\nseats:        %d of %d used\n", j.Key, j.Product, j.Licensee, used, j.MaxMachines)
	exp := j.Expires
	if exp == "" {
		exp = "never"
	}
	fmt.Fprintf(w, "expires:      %s\n", exp)
	if j.Lease != "" {
		fmt.Fprintf(w, "lease:        %s\n", j.Lease)
	}
	fmt.Fprintf(w, "match policy: %s\n", j.Match)
	if j.SecretMode != "" {
		fmt.Fprintf(w, "secret:       %s (only a keyed hash is stored)\n", j.SecretMode)
	}
	if j.RefuseEnv != "" {
		fmt.Fprintf(w, "refuses:      %s\n", j.RefuseEnv)
	}
	if j.HardwareEnv != "" {
		fmt.Fprintf(w, "hardware key: required on %s\n", j.HardwareEnv)
	}
	fmt.Fprintf(w, "created:      %s\nsuspended:    %v\n", j.Created, j.Suspended)
	names := make([]string, 0, len(j.Features))
	for n := range j.Features {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "feature:      %q = %d\n", n, j.Features[n])
	}
	for _, k := range j.Sealed {
		fmt.Fprintf(w, "confidential: %q (value not shown)\n", k)
	}
	for _, x := range list {
		state := "active"
		if x.Released {
			state = "released"
		}
		fmt.Fprintf(w, "activation:   %s  installation %s  issued %s  %s\n", x.ID, x.Installation, x.Issued, state)
		if x.Pool != "" {
			fmt.Fprintf(w, "              floating server: %s\n", x.Pool)
		}
	}
	return nil
}
