package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/crypto"
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
	// Shared: a node joining running nodes may make its token beside them
	// (a single-node server running on the database still refuses it).
	srv, err := floating.New(floating.Config{Identity: id, DB: s.dbTarget(), SharedLock: true, Now: cli.NowFunc()})
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
	hwReader := fs.String("hardware-key", "", "")
	fs.Lookup("hardware-key").NoOptDefVal = "auto"
	nodes := fs.StringSlice("nodes", nil, "")
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
	} else if *hwReader != "" {
		return cli.Usagef("--renew keeps the installed license's hardware key; drop --hardware-key")
	}
	var others [][]byte
	if len(*nodes) > 0 {
		if *renew {
			return cli.Usagef("--renew keeps the nodes of the pool license it renews; drop --nodes")
		}
		if others, err = a.parseNodeKeys(*nodes); err != nil {
			return err
		}
	}
	s, _, err := a.open(true)
	if err != nil {
		return err
	}
	if err := s.ensureAdmin(a); err != nil {
		return err
	}
	made, err := s.request(*product, lk, *renew, *hwReader)
	if err != nil {
		return err
	}
	if made.Enrolled != nil {
		a.ui.Infof("hardware key enrolled: %s; the pool license will be bound to it alone (its serial becomes the server's hardware ID)", made.Enrolled)
	}
	req := made.Request
	text, data := req.Text(), req.Bytes
	if others != nil {
		if text, err = s.nodeRequest(req, others); err != nil {
			return err
		}
		if data, err = armor.DecodeKind(text, armor.Request); err != nil {
			return err
		}
	}
	if err := a.ui.WriteOutput(*out, text); err != nil {
		return err
	}
	if err := a.ui.WriteQR(&q, armor.Request, data, *out != "-"); err != nil {
		return err
	}
	if others != nil {
		a.ui.Infof("request for a pool license of %q served by %d nodes written to %s: next, `airlock-server cosign FILE` on each other node, then take it to the vendor", *product, len(others)+1, *out)
	} else if *out != "-" {
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

// request makes an activation request for a pool license; hwReader, when
// not "", enrols the hardware key in that reader ("auto": the one plugged
// in) and binds the license to it.
func (s *server) request(product, licenseKey string, renew bool, hwReader string) (*client.Made, error) {
	keys, err := s.needVendorKeys()
	if err != nil {
		return nil, err
	}
	inst, err := s.st.Installation(nil)
	if err != nil {
		return nil, err
	}
	v := s.verifier(product, keys)
	reader := hwReader
	if reader == "auto" {
		reader = ""
	}
	made, err := v.MakeRequest(inst, client.RequestOptions{LicenseKey: licenseKey, Renew: renew, HardwareKey: hwReader != "", HardwareKeyReader: reader})
	if err != nil && cli.DongleExit(err) != cli.ExitError {
		return nil, cli.DongleFailure(err)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot make the request: %w", err)
	}
	return made, nil
}

// verifier checks the server's own pool license of product.
func (s *server) verifier(product string, keys []*crypto.Public) *client.Verifier {
	return &client.Verifier{Product: product, VendorKeys: keys, Dir: s.dir, Source: cli.FingerprintSource(), Now: cli.NowFunc(), Dongle: s.dongle}
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
	if pub, err := s.st.InstallationPublic(); err == nil && lic.Pool.MultiNode() && !bytes.Equal(lic.Binding.InstallKey, pub.Sign) {
		// One of the nodes, not the one that made the request.
		return lic, s.installNode(lic, text)
	}
	if _, err := s.verifier(lic.Product, keys).Activate(text); err != nil {
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
	return x.request(product, licenseKey, renew, "")
}

// RequestHardwareKey makes the admin API's request bound to the hardware
// key plugged in (hardware_key, the seed's isHWKeyReq).
func (x *activator) RequestHardwareKey(product, licenseKey string) ([]byte, error) {
	return x.request(product, licenseKey, false, "auto")
}

func (x *activator) request(product, licenseKey string, renew bool, hwReader string) ([]byte, error) {
	if !renew {
		lk, err := licensekey.Parse(licenseKey)
		if err != nil {
			return nil, err
		}
		licenseKey = lk
	}
	made, err := x.s.request(product, licenseKey, renew, hwReader)
	if err != nil {
		return nil, err
	}
	return made.Request.Text(), nil
}

func (x *activator) Install(text []byte) (string, error) {
	lic, err := x.s.install(text)
	if err != nil {
		return "", err
	}
	return lic.Product, nil
}

func (x *activator) Licenses() ([][]byte, error) { return x.a.poolLicenses(x.s) }
