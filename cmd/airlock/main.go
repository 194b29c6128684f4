// Command airlock runs on the offline machine: it makes activation
// requests, installs licenses and verifies them.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/dongle"
	"github.com/airlock-offline/airlock/fingerprint"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/cli"
	"github.com/airlock-offline/airlock/internal/inspect"
	"github.com/airlock-offline/airlock/licensekey"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

const prog = "airlock"

type app struct {
	ui             *cli.UI
	state          string
	vendorKeys     []string
	passphraseFile string
	secretFile     string
	secretErr      error
	pinFile        string
	secretFromKey  bool
	provisional    string
}

func main() {
	a := &app{ui: cli.Std(prog)}
	os.Exit(a.run(os.Args[1:]))
}

func (a *app) globalFlags(fs *pflag.FlagSet) {
	fs.StringVar(&a.state, "state", a.state, "")
	fs.StringArrayVar(&a.vendorKeys, "vendor-key", a.vendorKeys, "")
	fs.StringVar(&a.passphraseFile, "passphrase-file", a.passphraseFile, "")
	fs.StringVar(&a.secretFile, "licensee-secret-file", a.secretFile, "")
	fs.StringVar(&a.pinFile, "pin-file", a.pinFile, "")
	fs.BoolVar(&a.secretFromKey, "licensee-secret-from-key", a.secretFromKey, "")
	fs.StringVar(&a.provisional, "provisional-grace", a.provisional, "")
}

// provisionalGrace is the product's opt-in to phone codes: the longest
// provisional activation, from --provisional-grace or
// $AIRLOCK_PROVISIONAL_GRACE (where the product pins its vendor key); 0
// when it did not opt in.
func (a *app) provisionalGrace() (time.Duration, error) {
	s := a.provisional
	if s == "" {
		s = os.Getenv("AIRLOCK_PROVISIONAL_GRACE")
	}
	if s == "" {
		return 0, nil
	}
	d, err := cli.ParseDuration(s)
	if err != nil || d <= 0 || d > 30*24*time.Hour {
		return 0, cli.Usagef("--provisional-grace: want a duration from 1h to 30d, such as 72h")
	}
	return d, nil
}

// dongleOptions: the hardware key's PIN comes from --pin-file, $AIRLOCK_PIN
// or a prompt on the terminal; it is never logged.
func (a *app) dongleOptions() dongle.Options { return a.ui.DongleOptions(a.pinFile, "") }

// licenseeSecret reads the licensee secret from --licensee-secret-file or
// $AIRLOCK_LICENSEE_SECRET; nil when neither is given.
func (a *app) licenseeSecret() ([]byte, error) {
	if a.secretFile != "" {
		b, err := a.ui.ReadLimited(a.secretFile, "the licensee secret file", cli.MaxSecretFile)
		if err != nil {
			return nil, err
		}
		b = []byte(strings.TrimRight(string(b), "\r\n"))
		if len(b) == 0 {
			return nil, errors.New("the licensee secret file is empty")
		}
		return b, nil
	}
	if s := os.Getenv("AIRLOCK_LICENSEE_SECRET"); s != "" {
		return []byte(s), nil
	}
	return nil, nil
}

func (a *app) newFlags(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(prog+" "+name, pflag.ContinueOnError)
	fs.SetOutput(a.ui.Stderr)
	fs.Usage = func() {}
	a.globalFlags(fs)
	return fs
}

func (a *app) parse(fs *pflag.FlagSet, args []string) (bool, error) {
	help := fs.BoolP("help", "h", false, "")
	if err := fs.Parse(args); err != nil {
		return false, cli.Usagef("%v", err)
	}
	if *help {
		fmt.Fprint(a.ui.Stdout, usage)
		return true, nil
	}
	return false, nil
}

func (a *app) run(args []string) int {
	g := pflag.NewFlagSet(prog, pflag.ContinueOnError)
	g.SetInterspersed(false)
	g.SetOutput(a.ui.Stderr)
	g.Usage = func() {}
	a.globalFlags(g)
	help := g.BoolP("help", "h", false, "")
	if err := g.Parse(args); err != nil {
		return a.ui.Fail(cli.Usagef("%v", err))
	}
	rest := g.Args()
	if *help || (len(rest) > 0 && rest[0] == "help") {
		fmt.Fprint(a.ui.Stdout, usage)
		return 0
	}
	if len(rest) == 0 {
		fmt.Fprint(a.ui.Stderr, usage)
		return cli.ExitUsage
	}
	var err error
	switch cmd, args := rest[0], rest[1:]; cmd {
	case "fingerprint":
		err = a.cmdFingerprint(args)
	case "request":
		err = a.cmdRequest(args)
	case "activate":
		err = a.cmdActivate(args)
	case "verify":
		return a.cmdVerify(args)
	case "deactivate":
		err = a.cmdDeactivate(args)
	case "dongle":
		return a.cmdDongle(args)
	case "status":
		err = a.cmdStatus(args)
	case "inspect":
		err = a.cmdInspect(args)
	default:
		err = cli.Usagef("unknown command %q", cmd)
	}
	if err != nil {
		return a.ui.Fail(err)
	}
	return 0
}

// vendorPublics resolves --vendor-key values (or $AIRLOCK_VENDOR_KEY).
func (a *app) vendorPublics(required bool) ([]*crypto.Public, error) {
	vals := a.vendorKeys
	if len(vals) == 0 {
		if env := os.Getenv("AIRLOCK_VENDOR_KEY"); env != "" {
			vals = strings.Split(env, ",")
		}
	}
	if len(vals) == 0 {
		if required {
			return nil, cli.Usagef("the vendor's public key is needed: pass --vendor-key AV1… (or @FILE) or set AIRLOCK_VENDOR_KEY")
		}
		return nil, nil
	}
	var out []*crypto.Public
	for _, v := range vals {
		s := v
		if file, ok := strings.CutPrefix(v, "@"); ok {
			b, err := a.ui.ReadLimited(file, "the vendor key file", cli.MaxKeyFile)
			if err != nil {
				return nil, err
			}
			s = string(b)
		}
		p, err := crypto.ParsePublic(s)
		if err != nil {
			return nil, cli.Usagef("--vendor-key: %v", err)
		}
		if p.Role != crypto.RoleVendor {
			return nil, cli.Usagef("--vendor-key: this is an installation key, not a vendor key")
		}
		out = append(out, p)
	}
	return out, nil
}

func (a *app) verifier(product string, keys []*crypto.Public) *client.Verifier {
	v := &client.Verifier{Product: product, VendorKeys: keys, Dir: a.state, Source: cli.FingerprintSource(), Now: cli.NowFunc(),
		Dongle: a.dongleOptions()}
	v.Provisional, a.secretErr = a.provisionalGrace()
	if a.secretErr != nil {
		return v
	}
	v.LicenseeSecret, a.secretErr = a.licenseeSecret()
	v.SecretFromKey = a.secretFromKey
	return v
}

func (a *app) cmdFingerprint(args []string) error {
	fs := a.newFlags("fingerprint")
	product := fs.String("product", "", "")
	explain := fs.Bool("explain", false, "")
	asJSON := fs.Bool("json", false, "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	keys, err := a.vendorPublics(false)
	if err != nil {
		return err
	}
	var kid crypto.KeyID
	if len(keys) > 0 {
		kid = keys[0].ID()
	}
	rep, err := fingerprint.Collect(cli.FingerprintSource())
	if err != nil {
		return fmt.Errorf("cannot compute the fingerprint: %w", err)
	}
	fp := rep.Hash(*product, kid)
	digests := map[fingerprint.ComponentID]string{}
	for _, d := range fp.Components {
		digests[d.ID] = fmt.Sprintf("%x", d.Sum)
	}
	type comp struct {
		Name      string `json:"name"`
		Source    string `json:"source"`
		Available bool   `json:"available"`
		Reason    string `json:"reason,omitempty"`
		Digest    string `json:"digest,omitempty"`
	}
	var comps []comp
	for _, c := range rep.Components {
		comps = append(comps, comp{c.ID.String(), c.Source, c.Available, c.Reason, digests[c.ID]})
	}
	scope := "local (no product or vendor key given: the vendor sees another ID)"
	if *product != "" && len(keys) > 0 {
		scope = fmt.Sprintf("product %q, vendor key %s", *product, kid)
	}
	// While a hardware key is plugged in, it is the hardware ID (as in
	// LicenseSpring's hardware-key licenses); without it, the machine's.
	hwID := ""
	if s, err := dongle.Open(dongle.Options{Timeout: 2 * time.Second}); err == nil {
		if id, err := s.Identify(""); err == nil {
			hwID = id.Kind.String() + ":" + strings.ReplaceAll(id.SerialString(), " ", "")
		}
		s.Close()
	}
	if *asJSON {
		out := map[string]any{"fingerprint": fp.String(), "scope": scope, "environment": fp.Env.String()}
		if hwID != "" {
			out["hardware_key"] = hwID
			out["hardware_id"] = hwID
		} else {
			out["hardware_id"] = fp.String()
		}
		if *explain {
			out["components"] = comps
		}
		e := json.NewEncoder(a.ui.Stdout)
		e.SetIndent("", "  ")
		return e.Encode(out)
	}
	if hwID != "" {
		fmt.Fprintln(a.ui.Stdout, hwID)
		a.ui.Infof("(a hardware key is plugged in: it is the hardware ID; without it the machine's fingerprint %s)", fp)
	} else {
		fmt.Fprintln(a.ui.Stdout, fp.String())
	}
	if *explain {
		w := a.ui.Stdout
		fmt.Fprintf(w, "scope:       %s\n", scope)
		fmt.Fprintf(w, "environment: %s\n", fp.Env)
		for _, c := range comps {
			if c.Available {
				fmt.Fprintf(w, "  %-16s %-40s %s\n", c.Name, c.Source, c.Digest)
			} else {
				fmt.Fprintf(w, "  %-16s %-40s unavailable: %s\n", c.Name, c.Source, c.Reason)
			}
		}
		fmt.Fprintln(w, "(digests are keyed one-way hashes; no raw hardware data leaves this machine)")
	}
	return nil
}

func (a *app) cmdRequest(args []string) error {
	fs := a.newFlags("request")
	product := fs.String("product", "", "")
	key := fs.String("license-key", "", "")
	out := fs.StringP("output", "o", "-", "")
	plaintext := fs.Bool("plaintext-key", false, "")
	renew := fs.Bool("renew", false, "")
	hwReader := fs.String("hardware-key", "", "")
	attestKey := fs.Bool("attest", false, "")
	phone := fs.Bool("phone", false, "")
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
	var s *request.Signed
	if *renew {
		s, err = a.verifier(*product, keys).RenewRequest(inst)
	} else {
		v := a.verifier(*product, keys)
		if a.secretErr != nil {
			return a.secretErr
		}
		var conf *request.Confidential
		if *phone {
			if conf, err = client.PhoneSeed(); err != nil {
				return err
			}
		}
		// The hardware key first: a secret derived from a key comes from
		// the enrolled one, not from whichever card is found first.
		var hk *request.HardwareKey
		if *attestKey && *hwReader == "" {
			return cli.Usagef("--attest goes with --hardware-key")
		}
		v.AttestOpenPGP = *attestKey
		if *hwReader != "" {
			reader := *hwReader
			if reader == "auto" {
				reader = ""
			}
			var id *dongle.Identity
			var herr error
			if hk, id, herr = v.EnrolHardwareKey(reader); herr != nil {
				return cli.DongleFailure(herr)
			}
			a.ui.Infof("hardware key enrolled: %s", id)
		}
		if v.LicenseeSecret == nil && a.secretFromKey {
			if v.LicenseeSecret, err = v.DeriveSecretFrom(lk, hk); err != nil {
				return cli.DongleFailure(err)
			}
		}
		if v.LicenseeSecret != nil {
			if conf == nil {
				conf = &request.Confidential{}
			}
			conf.LicenseeSecret = string(v.LicenseeSecret)
		}
		if hk != nil {
			s, err = v.RequestWithHardwareKey(inst, lk, conf, hk)
		} else {
			s, err = v.Request(inst, lk, conf)
		}
	}
	if err != nil {
		var fe *request.FieldError
		err = fmt.Errorf("cannot make the request: %w", err)
		if errors.As(err, &fe) && fe.Field == "fingerprint" {
			return cli.WithHint(err, "run `airlock fingerprint --explain` to see which hardware components could be read")
		}
		return err
	}
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
		e := json.NewEncoder(a.ui.Stdout)
		e.SetIndent("", "  ")
		if werr := e.Encode(j); werr != nil {
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
		e := json.NewEncoder(a.ui.Stdout)
		e.SetIndent("", "  ")
		return e.Encode(s)
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

func (a *app) cmdInspect(args []string) error {
	fs := a.newFlags("inspect")
	asJSON := fs.Bool("json", false, "")
	images := fs.StringArray("qr-image", nil, "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	in := "-"
	if fs.NArg() == 1 {
		in = fs.Arg(0)
	} else if fs.NArg() > 1 {
		return cli.Usagef("inspect takes one file (or - for stdin)")
	}
	keys, err := a.vendorPublics(false)
	if err != nil {
		return err
	}
	data, err := a.ui.ReadMessage(in, *images)
	if err != nil {
		return err
	}
	rep, err := inspect.Describe(data, keys)
	if err != nil {
		return err
	}
	if *asJSON {
		return rep.JSON(a.ui.Stdout)
	}
	rep.Print(a.ui.Stdout)
	return nil
}

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
		e := json.NewEncoder(a.ui.Stdout)
		e.SetIndent("", "  ")
		if out == nil {
			out = []card{}
		}
		e.Encode(out)
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
