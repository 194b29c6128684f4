package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/fingerprint"
	"github.com/airlock-offline/airlock/internal/cli"
	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/request"
)

// policyFlags are the license policy options that license create and
// product set share: one definition and one parser for both.
type policyFlags struct {
	maxMachines, maxReact  *int
	refuseGeneric          *bool
	lease, match           *string
	features, confidential *[]string
	secretMode             *string
	refuseEnv, hwEnv       *string
}

// policyFlagSet defines the policy options on fs.
func policyFlagSet(fs *pflag.FlagSet) *policyFlags {
	return &policyFlags{
		maxMachines:   fs.Int("max-machines", 1, ""),
		maxReact:      fs.Int("max-reactivations", -1, ""),
		refuseGeneric: fs.Bool("refuse-generic-keys", false, ""),
		lease:         fs.String("lease", "", ""),
		features:      fs.StringArray("feature", nil, ""),
		confidential:  fs.StringArray("confidential", nil, ""),
		match:         fs.String("match", "most", ""),
		secretMode:    fs.String("secret-mode", "disabled", ""),
		refuseEnv:     fs.String("refuse-env", "", ""),
		hwEnv:         fs.String("hardware-key-env", "", ""),
	}
}

// apply checks the policy options and sets the policy part of lic from
// them: every field but the key, product, licensee, expiry, creation time
// and secret hash. A predefined secret mode sets SecretMode only; its
// secret is the caller's business.
func (f *policyFlags) apply(lic *ledger.License) error {
	if *f.maxMachines < 1 || *f.maxMachines > 1_000_000 {
		return cli.Usagef("--max-machines must be between 1 and 1000000")
	}
	lic.MaxMachines = *f.maxMachines
	lic.RefuseGenericKeys = *f.refuseGeneric
	if *f.maxReact >= 0 {
		n := *f.maxReact
		lic.MaxReactivations = &n
	} else if *f.maxReact != -1 {
		return cli.Usagef("--max-reactivations must be 0 or more")
	}
	if *f.lease != "" {
		d, err := cli.ParseDuration(*f.lease)
		if err != nil || d < time.Hour {
			return cli.Usagef("--lease must be a duration of at least 1h, such as 30d")
		}
		lic.LeasePeriod = d
	}
	if *f.match == desk.MatchHardwareKey {
		lic.MatchPolicy = desk.MatchHardwareKey
	} else {
		pol, err := fingerprint.ParsePolicy(*f.match)
		if err != nil {
			return cli.Usagef("--match: %v (or %s: the license goes with the hardware key)", err, desk.MatchHardwareKey)
		}
		lic.MatchPolicy = pol.String()
	}
	var err error
	if lic.RefuseEnv, err = desk.ParseEnvList(*f.refuseEnv); err != nil {
		return cli.Usagef("--refuse-env: %v", err)
	}
	if lic.HardwareEnv, err = desk.ParseEnvList(*f.hwEnv); err != nil {
		return cli.Usagef("--hardware-key-env: %v", err)
	}
	if len(*f.features) > 32 {
		return cli.Usagef("at most 32 features")
	}
	for _, feat := range *f.features {
		name, count, hasCount := strings.Cut(feat, "=")
		if e := request.ValidText(name, 64); e != "" {
			return cli.Usagef("--feature name %s", e)
		}
		var n uint64
		if hasCount {
			if n, err = strconv.ParseUint(count, 10, 64); err != nil {
				return cli.Usagef("--feature %q: count must be a whole number", name)
			}
		}
		if lic.Features == nil {
			lic.Features = map[string]uint64{}
		}
		if _, dup := lic.Features[name]; dup {
			return cli.Usagef("--feature %q given twice", name)
		}
		lic.Features[name] = n
	}
	for _, c := range *f.confidential {
		k, v, ok := strings.Cut(c, "=")
		if !ok || request.ValidText(k, 64) != "" || len(v) > 1024 {
			return cli.Usagef("--confidential must be KEY=VALUE (key up to 64 bytes, value up to 1024)")
		}
		if lic.Confidential == nil {
			lic.Confidential = map[string]string{}
		}
		lic.Confidential[k] = v
	}
	switch *f.secretMode {
	case "disabled":
		lic.SecretMode = ""
	case "client", "predefined":
		lic.SecretMode = *f.secretMode
	default:
		return cli.Usagef("--secret-mode must be disabled, predefined or client")
	}
	return nil
}

// productJSON is a product's settings as product set, list and show print
// them: the template's policy, without confidential values.
type productJSON struct {
	Name             string            `json:"product"`
	AutoCreate       bool              `json:"auto_create_licenses"`
	Validity         string            `json:"validity,omitempty"`
	MaxMachines      int               `json:"max_machines"`
	MaxReactivations *int              `json:"max_reactivations,omitempty"`
	Lease            string            `json:"lease,omitempty"`
	Features         map[string]uint64 `json:"features,omitempty"`
	Match            string            `json:"match_policy"`
	SecretMode       string            `json:"licensee_secret,omitempty"`
	RefuseEnv        string            `json:"refuse_env,omitempty"`
	HardwareEnv      string            `json:"hardware_key_env,omitempty"`
	RefuseGeneric    bool              `json:"refuse_generic_keys,omitempty"`
	Created          string            `json:"created"`
	Sealed           []string          `json:"confidential_fields,omitempty"`
}

func productToJSON(p *ledger.Product) productJSON {
	t := toJSON(&p.Template)
	j := productJSON{Name: p.Name, AutoCreate: p.AutoCreate, MaxMachines: t.MaxMachines,
		MaxReactivations: p.Template.MaxReactivations, Lease: t.Lease, Features: t.Features, Match: t.Match,
		SecretMode: t.SecretMode, RefuseEnv: t.RefuseEnv, HardwareEnv: t.HardwareEnv,
		RefuseGeneric: p.Template.RefuseGenericKeys, Created: p.Created.UTC().Format(time.RFC3339), Sealed: t.Sealed}
	if p.Validity > 0 {
		j.Validity = p.Validity.String()
	}
	return j
}

// errPredefinedAutoCreate is NetLicensing's rule, which the ledger
// enforces too.
var errPredefinedAutoCreate = cli.Usagef("--secret-mode predefined cannot be combined with auto-created licenses: " +
	"a predefined licensee secret must be set at the desk before the license's first activation; " +
	"use --secret-mode client (the first activation's secret binds the license), or license create")

func (a *app) cmdProductSet(args []string) error {
	fs := a.newFlags("product set")
	product := fs.String("product", "", "")
	autoCreate := fs.Bool("auto-create-licenses", false, "")
	validity := fs.String("validity", "", "")
	policy := policyFlagSet(fs)
	asJSON := fs.Bool("json", false, "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return cli.Usagef("product set takes no arguments")
	}
	if e := request.ValidText(*product, request.MaxProduct); e != "" {
		return cli.Usagef("--product %s", e)
	}
	p := &ledger.Product{Name: *product, AutoCreate: *autoCreate, Created: cli.Now().UTC()}
	if err := policy.apply(&p.Template); err != nil {
		return err
	}
	if p.Template.SecretMode == "predefined" {
		// A product's template is only ever used for auto-created
		// licenses, with or without --auto-create-licenses now.
		return errPredefinedAutoCreate
	}
	if *validity != "" {
		d, err := cli.ParseDuration(*validity)
		if err != nil || d < time.Hour {
			return cli.Usagef("--validity must be a duration of at least 1h, such as 30d")
		}
		p.Validity = d
	}
	l, err := a.openLedger()
	if err != nil {
		return err
	}
	defer l.Close()
	if err := l.SetProduct(context.Background(), p); err != nil {
		return fmt.Errorf("cannot set the product: %w", err)
	}
	a.checkpointLedger(l)
	if *asJSON {
		return a.ui.PrintJSON(productToJSON(p))
	}
	if !p.AutoCreate {
		a.ui.Infof("product %q set: licenses are created at the desk only (license create)", p.Name)
		return nil
	}
	valid := "that never expire"
	if p.Validity > 0 {
		valid = "valid " + p.Validity.String()
	}
	a.ui.Infof("product %q set: a request with a license key the ledger does not know creates its license (%d machine(s), %s)",
		p.Name, p.Template.MaxMachines, valid)
	return nil
}

func (a *app) cmdProductList(args []string) error {
	fs := a.newFlags("product list")
	asJSON := fs.Bool("json", false, "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return cli.Usagef("product list takes no arguments")
	}
	l, err := a.openLedgerRead()
	if err != nil {
		return err
	}
	defer l.Close()
	products, err := l.ListProducts(context.Background())
	if err != nil {
		return err
	}
	out := make([]productJSON, 0, len(products))
	for i := range products {
		out = append(out, productToJSON(&products[i]))
	}
	if *asJSON {
		return a.ui.PrintJSON(out)
	}
	if len(out) == 0 {
		a.ui.Infof("no product settings yet: licenses are created at the desk only; see `airlock-vendor product set`")
		return nil
	}
	fmt.Fprintf(a.ui.Stdout, "%-20s  %-11s  %-8s  %-12s  %s\n", "PRODUCT", "AUTO-CREATE", "MACHINES", "VALIDITY", "CREATED")
	for _, j := range out {
		auto, valid := "no", j.Validity
		if j.AutoCreate {
			auto = "yes"
		}
		if valid == "" {
			valid = "never"
		}
		fmt.Fprintf(a.ui.Stdout, "%-20q  %-11s  %8d  %-12s  %s\n", j.Name, auto, j.MaxMachines, valid, j.Created)
	}
	return nil
}

func (a *app) cmdProductShow(args []string) error {
	fs := a.newFlags("product show")
	asJSON := fs.Bool("json", false, "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return cli.Usagef("product show needs one product name")
	}
	name := fs.Arg(0)
	if e := request.ValidText(name, request.MaxProduct); e != "" {
		return cli.Usagef("the product name %s", e)
	}
	l, err := a.openLedgerRead()
	if err != nil {
		return err
	}
	defer l.Close()
	p, err := l.GetProduct(context.Background(), name)
	if errors.Is(err, ledger.ErrNotFound) {
		return fmt.Errorf("no settings for product %q in the ledger: see `airlock-vendor product set`", name)
	}
	if err != nil {
		return err
	}
	j := productToJSON(p)
	if *asJSON {
		return a.ui.PrintJSON(j)
	}
	w := a.ui.Stdout
	fmt.Fprintf(w, "product:        %q\n", j.Name)
	if j.AutoCreate {
		fmt.Fprintf(w, "auto-create:    yes (a request with a license key the ledger does not know creates its license)\n")
	} else {
		fmt.Fprintf(w, "auto-create:    no (licenses are created at the desk only)\n")
	}
	valid := j.Validity
	if valid == "" {
		valid = "never expire"
	}
	fmt.Fprintf(w, "validity:       %s\nmax machines:   %d\n", valid, j.MaxMachines)
	if j.MaxReactivations != nil {
		fmt.Fprintf(w, "re-activations: %d\n", *j.MaxReactivations)
	}
	if j.Lease != "" {
		fmt.Fprintf(w, "lease:          %s\n", j.Lease)
	}
	fmt.Fprintf(w, "match policy:   %s\n", j.Match)
	if j.SecretMode != "" {
		fmt.Fprintf(w, "secret:         %s\n", j.SecretMode)
	}
	if j.RefuseEnv != "" {
		fmt.Fprintf(w, "refuses:        %s\n", j.RefuseEnv)
	}
	if j.HardwareEnv != "" {
		fmt.Fprintf(w, "hardware key:   required on %s\n", j.HardwareEnv)
	}
	if j.RefuseGeneric {
		fmt.Fprintf(w, "generic keys:   refused\n")
	}
	fmt.Fprintf(w, "created:        %s\n", j.Created)
	for _, n := range slices.Sorted(maps.Keys(j.Features)) {
		fmt.Fprintf(w, "feature:        %q = %d\n", n, j.Features[n])
	}
	for _, k := range j.Sealed {
		fmt.Fprintf(w, "confidential:   %q (value not shown)\n", k)
	}
	return nil
}
