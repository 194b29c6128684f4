package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/atomicfile"
	"github.com/airlock-offline/airlock/internal/cli"
	"github.com/airlock-offline/airlock/licensekey"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

func (a *app) cmdInit(args []string) error {
	fs := a.newFlags("init")
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return cli.Usagef("init takes no arguments")
	}
	s, made, err := a.open(true)
	if err != nil {
		return err
	}
	if err := s.ensureAdmin(a); err != nil {
		return err
	}
	if !made {
		a.ui.Infof("the floating server in %s exists already: nothing changed", cli.Abs(s.dir))
	}
	if keys, _ := s.vendorKeys(); len(keys) == 0 {
		a.ui.Infof("next: airlock-server request --vendor-key AV1… --product P --license-key K -o server-request.txt")
	} else {
		a.ui.Infof("next: airlock-server request --product P --license-key K -o server-request.txt")
	}
	return nil
}

// ensureAdmin makes the database and the admin token (admin.token, 0600,
// read by the admin commands) if they do not exist.
func (s *server) ensureAdmin(a *app) error {
	if _, err := os.Stat(s.path("admin.token")); err == nil {
		return nil
	}
	id, err := s.st.Installation(nil)
	if err != nil {
		return err
	}
	srv, err := floating.New(floating.Config{Identity: id, DB: s.dbTarget(), Now: cli.NowFunc()})
	if err != nil {
		return err
	}
	defer srv.Close()
	tok, _, err := srv.CreateToken("local admin", floating.RoleAdmin, 0)
	if err != nil {
		return err
	}
	if err := atomicfile.CreateExclusive(s.path("admin.token"), []byte(tok+"\n")); err != nil {
		return fmt.Errorf("cannot write the admin token: %w", err)
	}
	return nil
}

func (a *app) cmdRequest(args []string) error {
	fs := a.newFlags("request")
	product := fs.String("product", "", "")
	key := fs.String("license-key", "", "")
	renew := fs.Bool("renew", false, "")
	out := fs.StringP("output", "o", "-", "")
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
	if !*renew {
		if lk, err = licensekey.Parse(*key); err != nil {
			return cli.Usagef("--license-key: %v", err)
		}
	} else if *key != "" {
		return cli.Usagef("--renew takes the license key from the installed pool license; drop --license-key")
	}
	s, _, err := a.open(true)
	if err != nil {
		return err
	}
	if err := s.ensureAdmin(a); err != nil {
		return err
	}
	req, err := s.request(*product, lk, *renew)
	if err != nil {
		return err
	}
	if err := a.ui.WriteOutput(*out, req.Text()); err != nil {
		return err
	}
	if err := a.ui.WriteQR(&q, armor.Request, req.Bytes, *out != "-"); err != nil {
		return err
	}
	if *out != "-" {
		a.ui.Infof("request for a pool license of %q written to %s: take it to the vendor, then run `airlock-server activate LICENSE`", *product, *out)
	}
	return nil
}

func (a *app) cmdActivate(args []string) error {
	fs := a.newFlags("activate")
	var input cli.InputFlags
	input.Register(fs)
	if done, err := a.parse(fs, args); done || err != nil {
		return err
	}
	s, _, err := a.open(false)
	if err != nil {
		return err
	}
	text, err := a.ui.Read(&input, fs.Args(), armor.License)
	if err != nil {
		return err
	}
	lic, err := s.install(text)
	if err != nil {
		return err
	}
	exp := "never"
	if lic.Expires != 0 {
		exp = lic.ExpiresTime().Format(time.RFC3339)
	}
	a.ui.Infof("pool license for %q installed: %s (expires %s)", lic.Product, lic.Pool, exp)
	if ad, err := a.admin(s); err == nil {
		if err := ad.Do(context.Background(), http.MethodPost, "/reload", struct{}{}, nil); err == nil {
			a.ui.Infof("the running server serves it now")
			return nil
		}
	}
	a.ui.Infof("next: airlock-server serve")
	return nil
}

// request makes an activation request for a pool license.
func (s *server) request(product, licenseKey string, renew bool) (*request.Signed, error) {
	keys, err := s.needVendorKeys()
	if err != nil {
		return nil, err
	}
	inst, err := s.st.Installation(nil)
	if err != nil {
		return nil, err
	}
	v := &client.Verifier{Product: product, VendorKeys: keys, Dir: s.dir, Source: cli.FingerprintSource(), Now: cli.NowFunc()}
	var req *request.Signed
	if renew {
		req, err = v.RenewRequest(inst)
	} else {
		req, err = v.Request(inst, licenseKey, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot make the request: %w", err)
	}
	return req, nil
}

// install verifies a pool license (armored text) for this server and
// installs it.
func (s *server) install(text []byte) (*response.License, error) {
	keys, err := s.needVendorKeys()
	if err != nil {
		return nil, err
	}
	data, err := armor.DecodeKind(text, armor.License)
	if err != nil {
		return nil, result.Wrap(result.Malformed, "not a valid license", err)
	}
	lic, _, err := response.Parse(data, keys...)
	if err != nil {
		return nil, err
	}
	if lic.Pool == nil {
		return nil, cli.WithHint(errors.New("this license is not a pool license: a floating server needs one"), "the vendor signs the server's request with `airlock-vendor sign --pool seats=N …`")
	}
	v := &client.Verifier{Product: lic.Product, VendorKeys: keys, Dir: s.dir, Source: cli.FingerprintSource(), Now: cli.NowFunc()}
	if _, err := v.Activate(text); err != nil {
		return nil, err
	}
	return lic, nil
}

// activator is the server's floating.Activator: its own activation,
// through its state folder.
type activator struct {
	a *app
	s *server
}

func (x *activator) Request(product, licenseKey string, renew bool) ([]byte, error) {
	if !renew {
		lk, err := licensekey.Parse(licenseKey)
		if err != nil {
			return nil, err
		}
		licenseKey = lk
	}
	req, err := x.s.request(product, licenseKey, renew)
	if err != nil {
		return nil, err
	}
	return req.Text(), nil
}

func (x *activator) Install(text []byte) (string, error) {
	lic, err := x.s.install(text)
	if err != nil {
		return "", err
	}
	return lic.Product, nil
}

func (x *activator) Licenses() ([][]byte, error) { return x.a.poolLicenses(x.s) }
