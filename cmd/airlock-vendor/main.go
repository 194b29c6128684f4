// Command airlock-vendor is the vendor's desk: it holds the signing key and
// the ledger, and turns activation requests into signed licenses.
package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/dongle"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/atomicfile"
	"github.com/airlock-offline/airlock/internal/attest"
	"github.com/airlock-offline/airlock/internal/cli"
	"github.com/airlock-offline/airlock/internal/inspect"
	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/licensekey"
	"github.com/airlock-offline/airlock/phonecode"
	"github.com/airlock-offline/airlock/qr"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/result"
)

const prog = "airlock-vendor"

type app struct {
	ui             *cli.UI
	dir            string
	db             string
	passphraseFile string
	pinFile        string
	// crashIfNoHardwareKey: refuse to run any command unless the desk's
	// signing key is on a plugged-in hardware key (LicenseSpring's
	// crashIfNoHardwareKey).
	crashIfNoHardwareKey bool
	// cleanup runs when the command ends: it releases a hardware key and
	// forgets its PIN.
	cleanup []func()
	// pool is sign --pool: sign a floating server's request as a pool
	// license (pool.go).
	pool string
}

func main() {
	a := &app{ui: cli.Std(prog)}
	os.Exit(a.run(os.Args[1:]))
}

func (a *app) globalFlags(fs *pflag.FlagSet) {
	fs.StringVar(&a.dir, "dir", a.dir, "the desk's directory")
	fs.StringVar(&a.db, "db", a.db, "the ledger file")
	fs.StringVar(&a.passphraseFile, "passphrase-file", a.passphraseFile, "read the key passphrase from this file")
	fs.StringVar(&a.pinFile, "pin-file", a.pinFile, "read the hardware key's PIN from this file")
	fs.BoolVar(&a.crashIfNoHardwareKey, "crash-if-no-hardware-key", a.crashIfNoHardwareKey, "refuse to start unless the signing key's hardware key is plugged in")
}

func (a *app) newFlags(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(prog+" "+name, pflag.ContinueOnError)
	fs.SetOutput(a.ui.Stderr)
	fs.Usage = func() {}
	a.globalFlags(fs)
	return fs
}

func (a *app) run(args []string) int {
	g := pflag.NewFlagSet(prog, pflag.ContinueOnError)
	g.SetInterspersed(false)
	g.SetOutput(a.ui.Stderr)
	g.Usage = func() {}
	a.globalFlags(g)
	help := g.BoolP("help", "h", false, "")
	version := g.Bool("version", false, "")
	if err := g.Parse(args); err != nil {
		return a.ui.Fail(cli.Usagef("%v", err))
	}
	rest := g.Args()
	if *version {
		fmt.Fprintln(a.ui.Stdout, cli.VersionLine(prog))
		return 0
	}
	if *help || (len(rest) > 0 && rest[0] == "help") {
		fmt.Fprint(a.ui.Stdout, usage)
		return 0
	}
	if len(rest) == 0 {
		fmt.Fprint(a.ui.Stderr, usage)
		return cli.ExitUsage
	}
	defer func() {
		for i := len(a.cleanup) - 1; i >= 0; i-- {
			a.cleanup[i]()
		}
	}()
	var err error
	switch cmd, args := rest[0], rest[1:]; cmd {
	case "init":
		err = a.cmdInit(args)
	case "pubkey":
		err = a.cmdPubkey(args)
	case "license":
		if len(args) == 0 {
			err = cli.Usagef("license needs a subcommand: create, list or show")
			break
		}
		switch args[0] {
		case "create":
			err = a.cmdLicenseCreate(args[1:])
		case "list":
			err = a.cmdLicenseList(args[1:])
		case "show":
			err = a.cmdLicenseShow(args[1:])
		default:
			err = cli.Usagef("unknown license subcommand %q", args[0])
		}
	case "product":
		if len(args) == 0 {
			err = cli.Usagef("product needs a subcommand: set, list or show")
			break
		}
		switch args[0] {
		case "set":
			err = a.cmdProductSet(args[1:])
		case "list":
			err = a.cmdProductList(args[1:])
		case "show":
			err = a.cmdProductShow(args[1:])
		default:
			err = cli.Usagef("unknown product subcommand %q", args[0])
		}
	case "sign":
		err = a.cmdSign(args)
	case "audit":
		err = a.cmdAudit(args)
	case "ledger":
		err = a.cmdLedger(args)
	case "receipt":
		if len(args) == 0 || args[0] != "import" {
			err = cli.Usagef("receipt needs a subcommand: import")
			break
		}
		err = a.cmdReceiptImport(args[1:])
	case "inspect":
		err = a.cmdInspect(args)
	default:
		err = cli.Usagef("unknown command %q", cmd)
	}
	if err != nil {
		return a.ui.Fail(explainLedgerError(err))
	}
	return 0
}

// parse parses a subcommand's flags; --help prints the usage.
func (a *app) parse(fs *pflag.FlagSet, args []string) (bool, error) {
	help := fs.BoolP("help", "h", false, "")
	if err := fs.Parse(args); err != nil {
		return false, cli.Usagef("%v", err)
	}
	if *help {
		fmt.Fprint(a.ui.Stdout, usage)
		return true, nil
	}
	// Every command but init passes here once its flags (which include the
	// global ones) are parsed.
	if a.crashIfNoHardwareKey && fs.Name() != prog+" init" {
		if err := a.requireHardwareKey(); err != nil {
			return false, err
		}
	}
	return false, nil
}

func (a *app) home() (string, error) {
	if a.dir != "" {
		return a.dir, nil
	}
	if d := os.Getenv("AIRLOCK_VENDOR_HOME"); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("cannot find a directory for the desk: %w; pass --dir", err)
	}
	return filepath.Join(d, "airlock-vendor"), nil
}

func (a *app) path(name string) (string, error) {
	h, err := a.home()
	if err != nil {
		return "", err
	}
	return filepath.Join(h, name), nil
}

// ledgerURLFile names the file in the desk's directory where init --db
// records a ledger other than DIR/ledger.db (a PostgreSQL URL without its
// password, or a file path).
const ledgerURLFile = "ledger.url"

// ledgerTarget says where the ledger is: --db, else $AIRLOCK_VENDOR_DB, else
// what init --db recorded in DIR/ledger.url, else DIR/ledger.db (which must
// exist: init creates it). from says which of these named it, for
// messages.
func (a *app) ledgerTarget() (target, from string, err error) {
	if a.db != "" {
		return a.db, "--db", nil
	}
	if v := os.Getenv("AIRLOCK_VENDOR_DB"); v != "" {
		return v, "$AIRLOCK_VENDOR_DB", nil
	}
	p, err := a.path(ledgerURLFile)
	if err != nil {
		return "", "", err
	}
	if b, err := cli.ReadFileLimited(p, "the ledger location file", cli.MaxURLFile); err == nil {
		t := strings.TrimSpace(string(b))
		if t == "" || !validLedgerTarget(t) {
			// Never printed: the file may hold anything.
			return "", "", fmt.Errorf("%s does not name a ledger (it should hold a postgres:// URL or an absolute file path; its content is not shown): pass --db, or write the ledger's URL or path in it", p)
		}
		return t, p, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", "", err
	}
	if p, err = a.path("ledger.db"); err != nil {
		return "", "", err
	}
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return "", "", &cli.ExitErr{Code: exitNoLedger, Err: fmt.Errorf("no ledger at %s: run `airlock-vendor init` first", p)}
	}
	return p, "", nil
}

// openLedger opens the ledger for a command that writes to it.
func (a *app) openLedger() (*ledger.Ledger, error) {
	return a.openLedgerWith(ledger.Options{})
}

// withoutPassword returns a PostgreSQL URL without its password, and
// whether it had one; anything else unchanged.
func withoutPassword(target string) (string, bool) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.User == nil {
		return target, false
	}
	if _, has := u.User.Password(); !has {
		return target, false
	}
	u.User = url.User(u.User.Username())
	return u.String(), true
}

func (a *app) loadKey() (*crypto.Identity, error) {
	p, err := a.path("vendor.key")
	if err != nil {
		return nil, err
	}
	data, err := cli.ReadFileLimited(p, "the vendor key", cli.MaxKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no vendor key at %s: run `airlock-vendor init` first", p)
	}
	if err != nil {
		return nil, err
	}
	id, err := crypto.ParseKeyFile(data, crypto.RoleVendor, a.ui.Passphrase(a.passphraseFile, false))
	if err != nil {
		return nil, fmt.Errorf("cannot load the vendor key: %w", err)
	}
	return id, nil
}

func (a *app) loadPublic() (*crypto.Public, error) {
	p, err := a.path("vendor.pub")
	if err != nil {
		return nil, err
	}
	data, err := cli.ReadFileLimited(p, "the vendor public key", cli.MaxKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no vendor public key at %s: run `airlock-vendor init` first", p)
	}
	if err != nil {
		return nil, err
	}
	pub, err := crypto.ParsePublic(string(data))
	if err != nil || pub.Role != crypto.RoleVendor {
		return nil, errors.New("the vendor public key file is damaged")
	}
	return pub, nil
}

func (a *app) cmdInit(args []string) error {
	fs := a.newFlags("init")
	plaintext := fs.Bool("plaintext", false, "")
	workFactor := cli.WorkFactorFlag(fs)
	hwReader := fs.String("hardware-key", "", "")
	fs.Lookup("hardware-key").NoOptDefVal = "auto"
	applet := fs.String("hardware-key-applet", "", "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return cli.Usagef("init takes no arguments")
	}
	kinds, err := parseApplet(*applet)
	if err != nil {
		return err
	}
	if *applet != "" && *hwReader == "" {
		return cli.Usagef("--hardware-key-applet goes with --hardware-key")
	}
	home, err := a.home()
	if err != nil {
		return err
	}
	if tightened, err := atomicfile.MkdirPrivate(home); err != nil {
		return fmt.Errorf("cannot create a private directory for the desk: %w", err)
	} else if tightened {
		a.ui.Warnf("%s was accessible to other users: it is now private (mode 0700)", home)
	}
	keyPath := filepath.Join(home, "vendor.key")
	if _, err := os.Lstat(keyPath); err == nil {
		return fmt.Errorf("a vendor key already exists at %s; refusing to replace it", keyPath)
	}
	// The ledger first: a server that cannot be reached, or a wrong
	// password, must not leave a key behind that blocks the next init.
	target := a.db
	if target == "" {
		target = filepath.Join(home, "ledger.db")
	}
	l, err := openLedgerAt(target, "", "create", ledger.Options{Create: true})
	if err != nil {
		return err
	}
	backend := l.Backend()
	l.Close()
	var id *crypto.Identity
	if *hwReader != "" {
		s, err := a.openDongle()
		if err != nil {
			return err
		}
		card, err := a.cardSigningKey(s, *hwReader, kinds)
		if err != nil {
			return err
		}
		ref := crypto.HardwareKeyRef{Kind: uint8(card.Kind), Serial: card.Serial}
		if id, err = crypto.NewHardwareIdentity(crypto.RoleVendor, card.PublicKey, ref, nil); err != nil {
			return err
		}
		a.ui.Infof("the signing key stays on the %s; the key file keeps the sealing key", card)
	} else if id, err = crypto.Generate(crypto.RoleVendor, nil); err != nil {
		return err
	}
	var data []byte
	if *plaintext {
		if _, onCard := id.HardwareKey(); onCard {
			a.ui.Warnf("the sealing key is stored UNENCRYPTED at %s: anyone who can read that file can open the secrets customers seal to you", keyPath)
		} else {
			a.ui.Warnf("the private key is stored UNENCRYPTED at %s: anyone who can read that file can sign licenses", keyPath)
		}
		data = id.MarshalPlaintext()
	} else {
		pass, err := a.ui.Passphrase(a.passphraseFile, true)()
		if err != nil {
			return err
		}
		cli.WarnWeakPassphrase(a.ui, pass)
		if data, err = id.MarshalEncrypted(pass, *workFactor); err != nil {
			return err
		}
	}
	if err := atomicfile.CreateExclusive(keyPath, data); err != nil {
		return fmt.Errorf("cannot write the vendor key: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(home, "vendor.pub"), []byte(id.Public().String()+"\n"), 0o644); err != nil {
		return fmt.Errorf("cannot write the vendor public key: %w", err)
	}
	if a.db != "" {
		// Later commands find the ledger without --db. A password is
		// never written to disk by airlock.
		rec, hadPassword := withoutPassword(a.db)
		if backend == "sqlite" {
			if rec, err = filepath.Abs(a.db); err != nil {
				return err
			}
		}
		if err := atomicfile.Write(filepath.Join(home, ledgerURLFile), []byte(rec+"\n"), 0o600); err != nil {
			return fmt.Errorf("cannot record where the ledger is: %w", err)
		}
		if hadPassword {
			a.ui.Warnf("the ledger's password is not recorded: give it to later commands with PGPASSWORD or ~/.pgpass")
		}
		a.ui.Infof("ledger: %s (%s)", ledger.RedactDSN(rec), backend)
	}
	a.ui.Infof("vendor key %s created in %s", id.ID(), home)
	a.ui.Infof("pin this public key in your product:")
	fmt.Fprintln(a.ui.Stdout, id.Public().String())
	return nil
}

func (a *app) cmdPubkey(args []string) error {
	fs := a.newFlags("pubkey")
	asJSON := fs.Bool("json", false, "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	pub, err := a.loadPublic()
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(a.ui, map[string]string{"public_key": pub.String(), "key_id": pub.ID().String()})
	}
	fmt.Fprintln(a.ui.Stdout, pub.String())
	return nil
}

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

func writeJSON(ui *cli.UI, v any) error {
	e := json.NewEncoder(ui.Stdout)
	e.SetIndent("", "  ")
	return e.Encode(v)
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
		return writeJSON(a.ui, toJSON(lic))
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
		return writeJSON(a.ui, out)
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
	type actJSON struct {
		ID           string `json:"activation_id"`
		Installation string `json:"installation_key_id"`
		Fingerprint  string `json:"fingerprint"`
		Issued       string `json:"issued"`
		LeaseUntil   string `json:"lease_until,omitempty"`
		Released     bool   `json:"released"`
		Pool         string `json:"pool,omitempty"` // a floating server: one machine, N seats
	}
	j := toJSON(lic)
	used := 0
	var list []actJSON
	for _, x := range acts {
		aj := actJSON{ID: x.ID, Installation: crypto.KeyIDOf(x.InstallKey).String(), Fingerprint: fmt.Sprintf("%x", x.Fingerprint),
			Issued: x.Issued.UTC().Format(time.RFC3339), Released: x.Released, Pool: poolOf(x.License)}
		if !x.LeaseUntil.IsZero() {
			aj.LeaseUntil = x.LeaseUntil.UTC().Format(time.RFC3339)
		}
		if !x.Released {
			used++
		}
		list = append(list, aj)
	}
	j.SeatsUsed = &used
	if *asJSON {
		return writeJSON(a.ui, struct {
			licenseJSON
			Activations []actJSON `json:"activations"`
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
	data, err := a.ui.ReadMessage(in, *images)
	if err != nil {
		return err
	}
	var trusted []*crypto.Public
	if pub, err := a.loadPublic(); err == nil {
		trusted = append(trusted, pub)
	}
	rep, err := inspect.Describe(data, trusted)
	if err != nil {
		return err
	}
	if *asJSON {
		return rep.JSON(a.ui.Stdout)
	}
	rep.Print(a.ui.Stdout)
	return nil
}

func (a *app) cmdReceiptImport(args []string) error {
	fs := a.newFlags("receipt import")
	var input cli.InputFlags
	input.Register(fs)
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	text, err := a.ui.Read(&input, fs.Args(), armor.Receipt)
	if err != nil {
		return err
	}
	l, err := a.openLedger()
	if err != nil {
		return err
	}
	defer l.Close()
	d := &desk.Desk{Ledger: l, Now: cli.NowFunc()}
	r, already, err := d.ImportReceipt(context.Background(), text)
	a.checkpointLedger(l) // a refused receipt is in the audit log too
	if err != nil {
		return err
	}
	if already {
		a.ui.Infof("this receipt was imported before; the seat of license %s is free", r.Receipt.LicenseKey)
		return nil
	}
	a.ui.Infof("seat freed: license %s, activation %x", r.Receipt.LicenseKey, r.Receipt.ActivationID)
	return nil
}

func (a *app) cmdAudit(args []string) error {
	if len(args) > 0 && args[0] == "checkpoint" {
		return a.cmdAuditCheckpoint(args[1:])
	}
	if len(args) == 0 || (args[0] != "verify" && args[0] != "list") {
		return cli.Usagef("audit needs a subcommand: verify, list or checkpoint")
	}
	fs := a.newFlags("audit " + args[0])
	head := fs.String("head", "", "")
	asJSON := fs.Bool("json", false, "")
	checkpoint := fs.String("checkpoint", "", "")
	if done, err := a.parse(fs, args[1:]); done || err != nil {
		return err
	}
	if *checkpoint != "" && (args[0] != "verify" || *head != "") {
		return cli.Usagef("--checkpoint goes with audit verify, without --head")
	}
	l, err := a.openLedgerRead()
	if err != nil {
		return err
	}
	defer l.Close()
	ctx := context.Background()
	if args[0] == "list" {
		entries, err := l.AuditLog(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			type entry struct {
				Seq        int64  `json:"seq"`
				At         string `json:"at"`
				Action     string `json:"action"`
				LicenseKey string `json:"license_key,omitempty"`
				Detail     string `json:"detail,omitempty"`
				Hash       string `json:"hash"`
			}
			out := []entry{}
			for _, e := range entries {
				out = append(out, entry{e.Seq, e.At.Format(time.RFC3339Nano), e.Action, e.LicenseKey, e.Detail, fmt.Sprintf("%x", e.Hash)})
			}
			return writeJSON(a.ui, out)
		}
		for _, e := range entries {
			fmt.Fprintf(a.ui.Stdout, "%6d  %s  %-20s %-29s %s\n", e.Seq, e.At.Format(time.RFC3339), e.Action, e.LicenseKey, e.Detail)
		}
		return nil
	}
	if *checkpoint != "" {
		return a.verifyCheckpoint(ctx, l, *checkpoint)
	}
	seq, hash, err := l.VerifyAudit(ctx, *head)
	if err != nil {
		return err
	}
	if seq == 0 {
		a.ui.Infof("the audit log is empty")
		return nil
	}
	if err := a.checkStoredCheckpoints(ctx, l); err != nil {
		return err
	}
	a.ui.Infof("audit log intact: %d entries; keep this head elsewhere and pass it as --head to detect removed entries later:", seq)
	fmt.Fprintf(a.ui.Stdout, "%d:%x\n", seq, hash)
	return nil
}

func (a *app) cmdLedgerExport(args []string) error {
	fs := a.newFlags("ledger export")
	asJSON := fs.Bool("json", false, "")
	asCSV := fs.Bool("csv", false, "")
	out := fs.StringP("output", "o", "-", "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if *asJSON == *asCSV {
		return cli.Usagef("ledger export needs exactly one of --json or --csv")
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
	type row struct {
		licenseJSON
		Activations []activationExport `json:"activations"`
	}
	var rows []row
	for i := range lics {
		acts, err := l.Activations(ctx, lics[i].Key)
		if err != nil {
			return err
		}
		r := row{licenseJSON: toJSON(&lics[i]), Activations: []activationExport{}}
		for _, x := range acts {
			r.Activations = append(r.Activations, exportActivation(x))
		}
		n := 0
		for _, x := range acts {
			if !x.Released {
				n++
			}
		}
		r.SeatsUsed = &n
		rows = append(rows, r)
	}
	var buf bytes.Buffer
	if *asJSON {
		e := json.NewEncoder(&buf)
		e.SetIndent("", "  ")
		if rows == nil {
			rows = []row{}
		}
		if err := e.Encode(rows); err != nil {
			return err
		}
	} else {
		w := csv.NewWriter(&buf)
		w.Write([]string{"license_key", "product", "licensee", "max_machines", "expires", "activation_id", "installation_key_id", "fingerprint", "issued", "lease_until", "released"})
		for _, r := range rows {
			if len(r.Activations) == 0 {
				w.Write([]string{r.Key, r.Product, r.Licensee, fmt.Sprint(r.MaxMachines), r.Expires, "", "", "", "", "", ""})
			}
			for _, x := range r.Activations {
				w.Write([]string{r.Key, r.Product, r.Licensee, fmt.Sprint(r.MaxMachines), r.Expires, x.ID, x.Installation, x.Fingerprint, x.Issued, x.LeaseUntil, fmt.Sprint(x.Released)})
			}
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return err
		}
	}
	return a.ui.WriteOutput(*out, buf.Bytes())
}

type activationExport struct {
	ID           string `json:"activation_id"`
	Installation string `json:"installation_key_id"`
	Fingerprint  string `json:"fingerprint"`
	Issued       string `json:"issued"`
	LeaseUntil   string `json:"lease_until,omitempty"`
	Released     bool   `json:"released"`
}

func exportActivation(x ledger.Activation) activationExport {
	e := activationExport{ID: x.ID, Installation: crypto.KeyIDOf(x.InstallKey).String(), Fingerprint: fmt.Sprintf("%x", x.Fingerprint),
		Issued: x.Issued.UTC().Format(time.RFC3339), Released: x.Released}
	if !x.LeaseUntil.IsZero() {
		e.LeaseUntil = x.LeaseUntil.UTC().Format(time.RFC3339)
	}
	return e
}

// loadRoots reads the token makers' attestation roots: "" means none
// (attestations are carried, not checked); "yubico" Yubico's published
// roots and intermediates, shipped with airlock (internal/attest); else a
// PEM file, whose self-signed certificates are roots and whose others are
// intermediates (Yubico's published intermediates are added to those).
func (a *app) loadRoots(path string) (*attest.Pool, error) {
	switch path {
	case "":
		return nil, nil
	case "yubico":
		return attest.Yubico(), nil
	}
	b, err := a.ui.ReadInput(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the attestation roots: %w", err)
	}
	certs, err := attest.ParsePEM(b)
	if err != nil {
		return nil, cli.Usagef("--attestation-roots: no PEM certificate in %q", path)
	}
	pool := attest.NewPool(nil, nil)
	for _, c := range certs {
		if bytes.Equal(c.RawIssuer, c.RawSubject) {
			pool.AddRoots(c)
		} else {
			pool.AddIntermediates(c)
		}
	}
	if len(pool.Roots()) == 0 {
		return nil, cli.Usagef("--attestation-roots: no self-signed (root) certificate in %q", path)
	}
	pool.AddIntermediates(attest.YubicoIntermediates()...)
	return pool, nil
}

func parseMaxAge(s string) (time.Duration, error) {
	age, err := cli.ParseDuration(s)
	if err != nil || age <= 0 {
		return 0, cli.Usagef("--max-request-age must be a positive duration such as 7d")
	}
	return age, nil
}

// openDesk loads the signing key and opens the ledger for signing; the
// caller closes d.Ledger.
func (a *app) openDesk(maxAge time.Duration, roots string) (*desk.Desk, error) {
	pool, err := a.loadRoots(roots)
	if err != nil {
		return nil, err
	}
	key, err := a.loadKey()
	if err != nil {
		return nil, err
	}
	if err := a.attachCard(key); err != nil {
		return nil, err
	}
	l, err := a.openLedger()
	if err != nil {
		return nil, err
	}
	return &desk.Desk{Key: key, Ledger: l, Now: cli.NowFunc(), MaxRequestAge: maxAge, AttestationRoots: pool}, nil
}
