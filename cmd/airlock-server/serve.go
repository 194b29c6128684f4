package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/atomicfile"
	"github.com/airlock-offline/airlock/internal/cli"
	"github.com/airlock-offline/airlock/result"
	"github.com/airlock-offline/airlock/serverconsole"
)

// DefaultListen is where serve listens with no --listen: loopback only,
// until the admin chooses the network.
const DefaultListen = "127.0.0.1:8743"

// serveInfo is serve.json: where the running server listens, for the
// admin commands.
type serveInfo struct {
	Address string `json:"address"`
	PID     int    `json:"pid"`
}

func (a *app) cmdServe(args []string) error {
	fs := a.newFlags("serve")
	listen := fs.String("listen", DefaultListen, "")
	auth := fs.String("auth", "", "")
	certFile := fs.String("tls-cert", "", "")
	keyFile := fs.String("tls-key", "", "")
	names := fs.StringArray("name", nil, "")
	allowFile := fs.String("allow-clients", "", "")
	proofEvery := fs.Duration("hardware-key-proof-interval", floating.DefaultProofInterval, "")
	crash := fs.Bool("crash-if-no-hardware-key", false, "")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return cli.Usagef("serve takes no arguments")
	}
	if (*certFile == "") != (*keyFile == "") {
		return cli.Usagef("--tls-cert and --tls-key go together")
	}
	if *proofEvery < time.Second || *proofEvery > time.Hour {
		return cli.Usagef("--hardware-key-proof-interval is 1s to 1h")
	}
	s, _, err := a.open(true)
	if err != nil {
		return err
	}
	s.dongle = a.unattendedDongle() // no one is there to type a PIN
	if err := s.ensureAdmin(a); err != nil {
		return err
	}
	id, err := s.st.Installation(nil)
	if err != nil {
		return err
	}
	lics, err := a.poolLicenses(s)
	if err != nil {
		return err
	}
	var allowed [][]byte
	if *allowFile != "" {
		if allowed, err = a.readAllowed(*allowFile); err != nil {
			return err
		}
	}
	floor, _ := s.st.LastSeen()
	act := &activator{a: a, s: s}
	srv, err := floating.New(floating.Config{Identity: id, Licenses: lics, DB: s.dbTarget(), Auth: *auth, Now: cli.NowFunc(), ClockFloor: floor,
		Activator: act, AllowedClients: allowed, HardwareKey: a.hardwareKeyConfig(s, *proofEvery, *crash)})
	if err != nil {
		return cli.Usagef("%v", err)
	}
	defer srv.Close()
	con, err := serverconsole.New(serverconsole.Config{Server: srv, Activator: act, Now: cli.NowFunc(), Logf: a.ui.Warnf})
	if err != nil {
		return err
	}
	var cert, browserCert tls.Certificate
	var consoleFP string
	if *certFile != "" {
		if cert, err = tls.LoadX509KeyPair(*certFile, *keyFile); err != nil {
			return fmt.Errorf("cannot load the TLS certificate: %w", err)
		}
	} else {
		host, _, _ := net.SplitHostPort(*listen)
		hn, _ := os.Hostname()
		all := append([]string{host, hn, "localhost", "127.0.0.1", "::1"}, *names...)
		if cert, err = srv.Certificate(all); err != nil {
			return fmt.Errorf("cannot make the TLS certificate: %w", err)
		}
		// The browser checks this one against its own clock.
		if browserCert, consoleFP, err = floating.BrowserCertificate(all, time.Now()); err != nil {
			return fmt.Errorf("cannot make the console's TLS certificate: %w", err)
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", *listen, err)
	}
	addr := ln.Addr().String()
	info, _ := json.Marshal(serveInfo{Address: addr, PID: os.Getpid()})
	s.exiting.Lock()
	err = atomicfile.Write(s.path("serve.json"), info, 0o644)
	s.exiting.Unlock()
	if err != nil {
		ln.Close()
		return err
	}
	certs := []tls.Certificate{cert}
	if consoleFP != "" {
		certs = append(certs, browserCert) // for browsers, which take no Ed25519 certificate
	}
	hs := &http.Server{
		Handler:           serverconsole.Mount(srv.Handler(), con),
		TLSConfig:         &tls.Config{Certificates: certs, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          nil,
	}
	a.ui.Infof("airlock-server listening on https://%s (server key %s, auth %s, state %s)", addr, id.ID(), srv.AuthMode(), cli.Abs(s.dir))
	a.ui.Infof("console: https://%s/ (sign in with a user, or the token in %s)", addr, cli.Abs(s.path("admin.token")))
	if consoleFP != "" {
		a.ui.Infof("  its certificate is made at every start: SHA-256 %s", consoleFP)
	}
	if len(lics) == 0 {
		a.ui.Infof("no pool license yet: clients will be refused until one is installed. Next:")
		a.ui.Infof("  airlock-server request --vendor-key AV1… --product P --license-key K -o server-request.txt")
		a.ui.Infof("  (the vendor signs it with airlock-vendor sign --pool seats=N …)")
		a.ui.Infof("  airlock-server activate license.txt, then restart serve")
	} else {
		for _, st := range srv.Status() {
			a.ui.Infof("  %s: %s; %d held", st.Product, st.Pool, st.Held)
			if st.HardwareKey != "" {
				a.ui.Infof("    bound to hardware key %s: proved every %v and after every reader event", st.HardwareKey, *proofEvery)
			}
			if st.GrantsStop != nil && !cli.Now().Before(*st.ReportDue) {
				a.ui.Warnf("%s: a usage report is due since %s; no new seats from %s: run `airlock-server report`, take it to the vendor, and activate the refresh they return",
					st.Product, st.ReportDue.UTC().Format(time.RFC3339), st.GrantsStop.UTC().Format(time.RFC3339))
			}
		}
		a.ui.Infof("clients: airlock floating acquire --server %s --product P", addr)
	}
	if strings.HasPrefix(addr, "127.") || strings.HasPrefix(addr, "[::1]") {
		a.ui.Infof("(loopback only: pass --listen 0.0.0.0:8743 to serve the network)")
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	notifyReload(hup)
	errc := make(chan error, 1)
	go func() { errc <- hs.ServeTLS(ln, "", "") }()
wait:
	for {
		select {
		case err := <-errc:
			return err
		case <-hup:
			if err := srv.Reload(); err != nil {
				a.ui.Warnf("cannot reload the pool licenses: %v", err)
			} else {
				a.ui.Infof("pool licenses reloaded: %d served", len(srv.Status()))
			}
		case <-sig:
			break wait
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(ctx)
	os.Remove(s.path("serve.json"))
	a.ui.Infof("airlock-server stopped")
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// poolLicenses returns the installed pool licenses that verify on this
// machine now (vendor key, installation, fingerprint, time); the others
// are named in a warning and left out.
func (a *app) poolLicenses(s *server) ([][]byte, error) {
	products, err := s.st.Products()
	if err != nil {
		return nil, err
	}
	keys, err := s.vendorKeys()
	if err != nil || len(keys) == 0 {
		if len(products) == 0 {
			return nil, nil
		}
		if _, err := s.needVendorKeys(); err != nil {
			return nil, err
		}
	}
	out, err := a.nodeLicenses(s, keys)
	if err != nil {
		return nil, err
	}
	for _, p := range products {
		v := s.verifier(p, keys)
		v.DeferHardwareKey = true // the server watches its hardware key itself (floating/hwkey.go)
		lic, err := v.Verify()
		if result.CodeOf(err) == result.ClockTampered {
			// The clock is set back: the license is served all the same
			// if it is valid otherwise, and the server refuses grants with
			// clock_tampered (its anchor starts at the state's last time
			// seen, Config.ClockFloor) until the clock is right.
			v.ClockTolerance = 100 * 365 * 24 * time.Hour
			if lic, err = v.Verify(); err == nil {
				a.ui.Warnf("the clock is behind the last time this server saw: no new seats are granted until it is set right")
			}
		}
		if err != nil {
			a.ui.Warnf("the license for %q is not valid here and is not served: %v", p, err)
			continue
		}
		if lic.Pool == nil {
			a.ui.Warnf("the license for %q is not a pool license and is not served", p)
			continue
		}
		text, err := s.st.License(p)
		if err != nil {
			return nil, err
		}
		b, err := armor.DecodeKind(text, armor.License)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// readAllowed reads --allow-clients: one installation public key (AI1…)
// per line; blank lines and lines starting with # are skipped.
func (a *app) readAllowed(file string) ([][]byte, error) {
	b, err := a.ui.ReadLimited(file, "the allowed clients file", cli.MaxInput)
	if err != nil {
		return nil, err
	}
	out := [][]byte{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p, err := crypto.ParsePublic(line)
		if err != nil || p.Role != crypto.RoleInstallation {
			return nil, cli.Usagef("--allow-clients: line %d is not an installation public key (AI1…)", i+1)
		}
		out = append(out, p.Sign)
	}
	return out, nil
}
