package main

import (
	"context"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/airlock-offline/airlock/deskconsole"
	"github.com/airlock-offline/airlock/internal/cli"
)

// cmdServe runs the desk console: the signing key is opened here, as for
// sign, and held until the console stops.
func (a *app) cmdServe(args []string) error {
	fs := a.newFlags("serve")
	listen := fs.String("listen", deskconsole.DefaultListen, "")
	allowRemote := fs.Bool("allow-remote", false, "")
	maxAge := fs.String("max-request-age", "7d", "")
	attRoots := fs.String("attestation-roots", "", "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return cli.Usagef("serve takes no arguments")
	}
	remote, err := deskconsole.CheckListen(*listen, *allowRemote)
	if err != nil {
		return cli.WithHint(cli.Usagef("--listen %s: %v", *listen, err), "another machine should not reach the signing key; if it must, pass --allow-remote too")
	}
	if remote {
		a.ui.Warnf("listening on %s: other machines can reach the signing key, and the console has no TLS", *listen)
	}
	age, err := parseMaxAge(*maxAge)
	if err != nil {
		return err
	}
	d, err := a.openDesk(age, *attRoots)
	if err != nil {
		return err
	}
	defer d.Ledger.Close()
	con, err := deskconsole.New(deskconsole.Config{Desk: d, Warn: a.ui.Warnf, Remote: remote})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	a.ui.Infof("desk console on http://%s/ (Ctrl-C stops it)", ln.Addr())
	a.ui.Infof("sign in with this link; it works once: %s", con.SignInURL(ln.Addr().String()))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return deskconsole.Serve(ctx, ln, con)
}
