package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/internal/attest"
	"github.com/airlock-offline/airlock/internal/cli"
)

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
