package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/cli"
	"github.com/airlock-offline/airlock/result"
)

const floatingUsage = `Usage:
    airlock floating acquire --server HOST:PORT --product P [--feature F] [--hold] [--json]
    airlock floating renew   --server HOST:PORT --product P [--json]
    airlock floating release --server HOST:PORT --product P [--json]
    airlock floating borrow  --server HOST:PORT --product P --until 3d [--json]
    airlock floating return  --server HOST:PORT --product P [--json]
    airlock floating consume --server HOST:PORT --product P [--feature F] --amount N [--json]
    airlock floating status  --product P [--json]
    airlock floating login   --server HOST:PORT --product P --user NAME [--password-file F]

Seats from a floating license server (airlock-server). A seat is a lease
signed by the server's key, which the vendor's pool license certifies: it
is checked here from the pinned vendor key alone, and kept in the state
folder, where airlock verify accepts it as the product's license until it
ends. --server may repeat or list several (--server a:8443,b:8443: the
nodes of one pool, tried in order, the next one when a node is down) or
come from $AIRLOCK_SERVERS; the list is kept in the state, so renew,
release, return and consume for the product need none.

    acquire   take a seat (and one of each --feature's seats); --hold keeps
              it, renewing every heartbeat, until interrupted, then releases
    renew     renew the stored seat (the heartbeat)
    release   give the seat back now
    borrow    take a seat away until --until (a duration or a date): it
              verifies with no server until then
    return    give a borrowed seat back early
    consume   add --amount to the license's consumption counter, or to
              --feature's; over the cap nothing is counted
    status    check the stored seat here, with no server
    login     log in to a server in users mode; prints a bearer token for
              --token or $AIRLOCK_SERVER_TOKEN

Options: --license-key K (servers in license-key mode), --token T (servers
in users mode; or $AIRLOCK_SERVER_TOKEN), --hostname NAME (shown to the
server's admin), --vendor-key, --state, --passphrase-file as elsewhere.

Refusals carry the server's code, e.g. no_seat_available (exit 1).
`

type floatingOut struct {
	Result   string    `json:"result"` // "ok" or a code
	Message  string    `json:"message,omitempty"`
	Product  string    `json:"product"`
	LeaseID  string    `json:"lease_id,omitempty"`
	Server   string    `json:"server,omitempty"`
	Expires  time.Time `json:"expires,omitzero"`
	Borrowed bool      `json:"borrowed,omitempty"`
	Features []string  `json:"features,omitempty"`
	Used     *uint64   `json:"used,omitempty"`
	Max      *uint64   `json:"max,omitempty"`
	Overage  *uint64   `json:"overage_used,omitempty"`
}

func (a *app) cmdFloating(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) == 0 {
			fmt.Fprint(a.ui.Stderr, floatingUsage)
			return cli.ExitUsage
		}
		fmt.Fprint(a.ui.Stdout, floatingUsage)
		return 0
	}
	sub := args[0]
	fs := a.newFlags("floating " + sub)
	servers := fs.StringSlice("server", nil, "")
	product := fs.String("product", "", "")
	features := fs.StringArray("feature", nil, "")
	asJSON := fs.Bool("json", false, "")
	hold := fs.Bool("hold", false, "")
	until := fs.String("until", "", "")
	amount := fs.Uint64("amount", 0, "")
	licenseKey := fs.String("license-key", "", "")
	token := fs.String("token", "", "")
	hostname := fs.String("hostname", "", "")
	plaintext := fs.Bool("plaintext-key", false, "")
	user := fs.String("user", "", "")
	passFile := fs.String("password-file", "", "")
	fs.Usage = func() {}
	help := fs.BoolP("help", "h", false, "")
	if err := fs.Parse(args[1:]); err != nil {
		return a.ui.Fail(cli.Usagef("%v", err))
	}
	if *help {
		fmt.Fprint(a.ui.Stdout, floatingUsage)
		return 0
	}
	out := &floatingOut{Product: *product}
	if sub == "login" {
		return a.floatingLogin(*servers, *product, *user, *passFile, *asJSON)
	}
	err := a.floating(sub, fs.NArg(), &floatingArgs{servers: *servers, product: *product, features: *features, hold: *hold, until: *until,
		amount: *amount, licenseKey: *licenseKey, token: *token, hostname: *hostname, plaintext: *plaintext}, out)
	if *asJSON {
		if err != nil {
			out.Result, out.Message = errorCode(err), err.Error()
			var fe *floating.Error
			if errors.As(err, &fe) {
				out.Message = fe.Message
			}
		} else {
			out.Result = "ok"
		}
		_ = a.ui.PrintJSON(out)
		if err != nil {
			return exitOf(err)
		}
		return 0
	}
	if err != nil {
		var fe *floating.Error
		if errors.As(err, &fe) {
			a.ui.Errorf("%s: %s", fe.Code, fe.Message)
			return cli.ExitError
		}
		return a.ui.Fail(withHint(err))
	}
	return 0
}

func errorCode(err error) string {
	var fe *floating.Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	var ee *cli.ExitErr
	if errors.As(err, &ee) && ee.Code == cli.ExitUsage {
		return "usage"
	}
	return string(result.CodeOf(err))
}

func exitOf(err error) int {
	var ee *cli.ExitErr
	if errors.As(err, &ee) {
		return ee.Code
	}
	var re *result.Error
	if errors.As(err, &re) {
		return re.Code.ExitCode()
	}
	return cli.ExitError
}

type floatingArgs struct {
	servers, features          []string
	product, until, licenseKey string
	token, hostname            string
	hold, plaintext            bool
	amount                     uint64
}

func (a *app) floating(sub string, nargs int, fa *floatingArgs, out *floatingOut) error {
	if nargs != 0 {
		return cli.Usagef("floating %s takes no arguments", sub)
	}
	switch sub {
	case "acquire", "renew", "release", "borrow", "return", "consume", "status":
	default:
		return cli.Usagef("unknown floating command %q (acquire, renew, release, borrow, return, consume, status)", sub)
	}
	if fa.product == "" {
		return cli.Usagef("--product is needed")
	}
	keys, err := a.vendorPublics(true)
	if err != nil {
		return err
	}
	st, err := client.Open(a.state)
	if err != nil {
		return err
	}
	if sub == "status" {
		v := a.verifier(fa.product, keys)
		v.ReadOnly = true
		tok, err := st.Lease(fa.product)
		if err != nil {
			return err
		}
		l, _ := floating.ParseLease(tok)
		if l != nil {
			out.LeaseID, out.Expires, out.Borrowed, out.Features = l.IDString(), l.ExpiresTime(), l.Borrowed, l.Features
		}
		if _, err := v.Verify(); err != nil {
			return err
		}
		if fa.hold || fa.until != "" {
			return cli.Usagef("status takes --product only")
		}
		a.ui.Infof("seat %s for %q valid until %s%s", out.LeaseID, fa.product, out.Expires.Format(time.RFC3339), borrowedNote(out.Borrowed))
		return nil
	}
	given := len(fa.servers) > 0
	if !given {
		if env := os.Getenv("AIRLOCK_SERVERS"); env != "" {
			fa.servers, given = strings.Split(env, ","), true
		}
	}
	if !given && sub != "acquire" && sub != "borrow" {
		// The nodes the seat came from, kept in the state.
		if fa.servers, err = st.Servers(fa.product); err != nil {
			return err
		}
	}
	if len(fa.servers) == 0 {
		return cli.Usagef("--server HOST:PORT is needed (or set AIRLOCK_SERVERS)")
	}
	if given {
		if err := st.StoreServers(fa.product, fa.servers); err != nil {
			return fmt.Errorf("cannot store the server list: %w", err)
		}
	}
	if fa.token == "" {
		fa.token = os.Getenv("AIRLOCK_SERVER_TOKEN")
	}
	inst, err := a.floatingInstallation(st, fa.plaintext)
	if err != nil {
		return err
	}
	f := &client.Floating{Servers: fa.servers, Product: fa.product, VendorKeys: keys, Installation: inst, Features: fa.features,
		LicenseKey: fa.licenseKey, Bearer: fa.token, Hostname: fa.hostname, Now: cli.NowFunc()}
	if f.Hostname == "" {
		f.Hostname, _ = os.Hostname()
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	stored := func() (*client.Seat, error) {
		tok, err := st.Lease(fa.product)
		if err != nil {
			return nil, err
		}
		l, err := floating.ParseLease(tok)
		if err != nil {
			return nil, err
		}
		return &client.Seat{Token: tok, Lease: l}, nil
	}
	keep := func(s *client.Seat) error {
		out.LeaseID, out.Server, out.Expires, out.Borrowed, out.Features = s.Lease.IDString(), s.Server, s.Expires(), s.Lease.Borrowed, s.Lease.Features
		if err := st.StoreLease(fa.product, s.Token); err != nil {
			return fmt.Errorf("cannot store the lease: %w", err)
		}
		return nil
	}
	switch sub {
	case "acquire":
		s, err := f.Acquire(ctx)
		if err != nil {
			return err
		}
		if err := keep(s); err != nil {
			return err
		}
		a.ui.Infof("seat %s for %q from %s until %s%s", out.LeaseID, fa.product, s.Server, out.Expires.Format(time.RFC3339), borrowedNote(out.Borrowed))
		if fa.hold {
			return a.holdSeat(ctx, f, st, s, keep)
		}
	case "renew":
		old, err := stored()
		if err != nil {
			return err
		}
		s, err := f.Renew(ctx, old)
		if err != nil {
			return err
		}
		if err := keep(s); err != nil {
			return err
		}
		a.ui.Infof("seat %s for %q renewed until %s", out.LeaseID, fa.product, out.Expires.Format(time.RFC3339))
	case "release", "return":
		old, err := stored()
		if err != nil {
			return err
		}
		out.LeaseID = old.Lease.IDString()
		if err := f.Release(ctx, old); err != nil {
			return err
		}
		if err := st.RemoveLease(fa.product); err != nil {
			return err
		}
		a.ui.Infof("seat %s for %q given back", out.LeaseID, fa.product)
	case "borrow":
		if fa.until == "" {
			return cli.Usagef("borrow needs --until (a duration such as 3d, or a date)")
		}
		when, err := cli.ParseWhen(fa.until, cli.Now())
		if err != nil {
			return cli.Usagef("--until: %v", err)
		}
		s, err := f.Borrow(ctx, when)
		if err != nil {
			return err
		}
		if err := keep(s); err != nil {
			return err
		}
		a.ui.Infof("seat %s for %q borrowed until %s: it needs no server until then (airlock floating return gives it back early)", out.LeaseID, fa.product, out.Expires.Format(time.RFC3339))
	case "consume":
		if fa.amount == 0 {
			return cli.Usagef("consume needs --amount N (N ≥ 1)")
		}
		feature := ""
		if len(fa.features) > 1 {
			return cli.Usagef("consume takes one --feature at most")
		} else if len(fa.features) == 1 {
			feature = fa.features[0]
		}
		c, err := f.Consume(ctx, feature, fa.amount)
		if err != nil {
			return err
		}
		out.Used, out.Max, out.Overage = &c.Used, &c.Max, &c.OverageUsed
		name := "license"
		if feature != "" {
			name = "feature " + feature
		}
		a.ui.Infof("%s consumption of %q now %d of %d (+%d overage allowed, %d used)", name, fa.product, c.Used, c.Max, c.Overage, c.OverageUsed)
	}
	return nil
}

func borrowedNote(b bool) string {
	if b {
		return " (borrowed)"
	}
	return ""
}

// holdSeat renews s every heartbeat until ctx ends, then releases it.
func (a *app) holdSeat(ctx context.Context, f *client.Floating, st *client.State, s *client.Seat, keep func(*client.Seat) error) error {
	a.ui.Infof("holding the seat (renewing every %s); interrupt to release it", s.Heartbeat)
	for {
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := f.Release(rctx, s)
			_ = st.RemoveLease(f.Product)
			if err != nil {
				return fmt.Errorf("cannot release the seat (it returns by itself within one lease TTL): %w", err)
			}
			a.ui.Infof("seat %s released", s.Lease.IDString())
			return nil
		case <-time.After(s.Heartbeat):
		}
		ns, err := f.Renew(ctx, s)
		if floating.IsCode(err, floating.CodeLeaseUnknown) || floating.IsCode(err, floating.CodeLeaseExpired) {
			ns, err = f.Acquire(ctx)
		}
		if err != nil {
			if ctx.Err() == nil {
				a.ui.Warnf("cannot renew the seat: %v", err)
			}
			continue
		}
		s = ns
		if err := keep(s); err != nil {
			a.ui.Warnf("%v", err)
		}
	}
}

// floatingInstallation loads this installation's key, making it on first
// use (encrypted unless --plaintext-key).
func (a *app) floatingInstallation(st *client.State, plaintext bool) (*crypto.Identity, error) {
	if st.HasInstallation() {
		return st.Installation(a.ui.Passphrase(a.passphraseFile, false))
	}
	var pass []byte
	var err error
	if plaintext {
		a.ui.Warnf("the installation key is stored UNENCRYPTED in %s", cli.Abs(st.Dir))
	} else if pass, err = a.ui.Passphrase(a.passphraseFile, true)(); err != nil {
		return nil, cli.WithHint(err, "or pass --plaintext-key for software that runs unattended")
	}
	inst, err := st.CreateInstallation(nil, pass, 0)
	if err != nil {
		return nil, err
	}
	a.ui.Infof("new installation key %s in %s", inst.ID(), cli.Abs(st.Dir))
	return inst, nil
}

// floatingLogin logs a user in and prints the bearer token on stdout.
func (a *app) floatingLogin(servers []string, product, user, passFile string, asJSON bool) int {
	fail := func(err error) int {
		var fe *floating.Error
		if errors.As(err, &fe) {
			a.ui.Errorf("%s: %s", fe.Code, fe.Message)
			return cli.ExitError
		}
		return a.ui.Fail(err)
	}
	if len(servers) == 0 {
		if env := os.Getenv("AIRLOCK_SERVERS"); env != "" {
			servers = strings.Split(env, ",")
		}
	}
	if len(servers) == 0 || product == "" || user == "" {
		return a.ui.Fail(cli.Usagef("login needs --server, --product (whose pool license certifies the server) and --user"))
	}
	keys, err := a.vendorPublics(true)
	if err != nil {
		return a.ui.Fail(err)
	}
	var pass []byte
	if passFile != "" {
		pass, err = a.ui.ReadLimited(passFile, "the password file", 1024)
	} else {
		pass, err = a.ui.Secret("password for " + user + ": ")
	}
	if err != nil {
		return a.ui.Fail(err)
	}
	f := &client.Floating{Servers: servers, Product: product, VendorKeys: keys, Now: cli.NowFunc()}
	lr, err := f.Login(context.Background(), user, strings.TrimRight(string(pass), "\r\n"))
	clear(pass)
	if err != nil {
		return fail(err)
	}
	if asJSON {
		_ = a.ui.PrintJSON(lr)
		return 0
	}
	fmt.Fprintln(a.ui.Stdout, lr.Token)
	a.ui.Infof("logged in as %q (%s) until %s: pass the token with --token or $AIRLOCK_SERVER_TOKEN", user, lr.Role, lr.Expires.Format(time.RFC3339))
	return 0
}
