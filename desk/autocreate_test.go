package desk_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

// setProduct makes the ledger auto-create licenses of name: one machine,
// policy "all", a "trial" feature, valid 30 days; mod changes that.
func (e *env) setProduct(name string, mod func(*ledger.Product)) {
	e.t.Helper()
	p := &ledger.Product{
		Name:       name,
		AutoCreate: true,
		Template:   ledger.License{MaxMachines: 1, MatchPolicy: "all", Features: map[string]uint64{"trial": 0}},
		Validity:   30 * day,
		Created:    t0.Add(-day),
	}
	if mod != nil {
		mod(p)
	}
	if err := e.led.SetProduct(context.Background(), p); err != nil {
		e.t.Fatal(err)
	}
}

// wantNoLicense fails if the ledger holds a license with key.
func (e *env) wantNoLicense(key string) {
	e.t.Helper()
	if _, err := e.led.GetLicense(context.Background(), key); !errors.Is(err, ledger.ErrNotFound) {
		e.t.Fatalf("GetLicense = %v, want ErrNotFound: a refused request created the license", err)
	}
}

// An activation request with a key the ledger does not know, for a
// product that auto-creates licenses, gets a license made from the
// product's template; from then on it is an ordinary license.
func TestAutoCreateSign(t *testing.T) {
	e := newEnv(t)
	e.setProduct(product, nil)
	key := e.newKey()
	e.wantNoLicense(key)

	src := machine(t, nil)
	req := e.request(src, key)
	iss := e.mustSign(req)
	fp := fingerprintOf(t, src, product, e.vendor.ID())
	lic, err := response.Verify(iss.License.Bytes, &response.Expect{
		VendorKeys:    []*crypto.Public{e.vendor.Public()},
		Product:       product,
		Installation:  e.inst.Public(),
		Fingerprint:   &fp,
		RequestHashes: [][32]byte{req.Hash},
		Now:           t0.Add(time.Minute),
	})
	if err != nil {
		t.Fatalf("response.Verify: %v (%s)", err, result.CodeOf(err))
	}
	// The ledger has no licensee; the license names the key's holder by
	// the key.
	if lic.LicenseKey != key || lic.Product != product || lic.Licensee != key {
		t.Errorf("license names key %q product %q licensee %q", lic.LicenseKey, lic.Product, lic.Licensee)
	}
	if want := map[string]uint64{"trial": 0}; !maps.Equal(lic.Features, want) {
		t.Errorf("features %v, want %v", lic.Features, want)
	}
	if lic.Issued != t0.Unix() || lic.Expires != t0.Add(30*day).Unix() {
		t.Errorf("issued %d, expires %d; want %d and %d", lic.Issued, lic.Expires, t0.Unix(), t0.Add(30*day).Unix())
	}
	stored, err := e.led.GetLicense(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Product != product || stored.Licensee != "" || !stored.Created.Equal(t0) || !stored.Expires.Equal(t0.Add(30*day)) || stored.MaxMachines != 1 {
		t.Errorf("ledger holds %v", stored)
	}

	// The same installation again: the same seat, the same license row.
	if iss := e.mustSign(e.request(src, key)); !iss.Reused {
		t.Error("the same machine took a second seat")
	}
	// Another installation: the template's one seat is taken.
	other := testkeys.Identity(crypto.RoleInstallation, "auto-create other installation")
	_, err = e.sign(e.makeRequest(e.params(otherMachine(t), key), other))
	wantCode(t, err, result.TooManyMachines, result.ErrTooManyMachines)
	if n := e.seats(key); n != 1 {
		t.Errorf("SeatsUsed = %d, want 1", n)
	}
	list, err := e.led.ListLicenses(context.Background())
	if err != nil || len(list) != 1 {
		t.Fatalf("ListLicenses = %d licenses, %v; want 1", len(list), err)
	}

	log, err := e.led.AuditLog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	created := 0
	for _, a := range log {
		if a.Action == "license.auto-created" && a.LicenseKey == key {
			created++
		}
	}
	if created != 1 {
		t.Errorf("%d license.auto-created entries for the key, want 1", created)
	}
}

// Requests that must not create a license: LICENSE_UNKNOWN as before, or
// the existing license's own refusal.
func TestAutoCreateRefused(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setup    func(e *env, key string)
		params   func(p *request.Params)
		want     result.Code
		sentinel error
	}{
		{
			name:  "no product settings",
			setup: func(e *env, key string) {},
			want:  result.LicenseUnknown, sentinel: result.ErrLicenseUnknown,
		},
		{
			name: "product does not auto-create",
			setup: func(e *env, key string) {
				e.setProduct(product, func(p *ledger.Product) { p.AutoCreate = false })
			},
			want: result.LicenseUnknown, sentinel: result.ErrLicenseUnknown,
		},
		{
			name:  "another product auto-creates",
			setup: func(e *env, key string) { e.setProduct("other-app", nil) },
			want:  result.LicenseUnknown, sentinel: result.ErrLicenseUnknown,
		},
		{
			name:  "renewal of an unknown key",
			setup: func(e *env, key string) { e.setProduct(product, nil) },
			params: func(p *request.Params) {
				p.Kind, p.Renews = request.KindRenew, make([]byte, 16)
			},
			want: result.LicenseUnknown, sentinel: result.ErrLicenseUnknown,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			key := e.newKey()
			tc.setup(e, key)
			p := e.params(machine(t, nil), key)
			if tc.params != nil {
				tc.params(&p)
			}
			_, err := e.sign(e.makeRequest(p, e.inst))
			wantCode(t, err, tc.want, tc.sentinel)
			e.wantNoLicense(key)
		})
	}

	// A key the desk created for another product stays that product's.
	t.Run("key of another product's license", func(t *testing.T) {
		e := newEnv(t)
		e.setProduct(product, nil)
		key := e.addLicense(func(l *ledger.License) { l.Product = "other-app" })
		_, err := e.sign(e.request(machine(t, nil), key))
		wantCode(t, err, result.ProductMismatch, result.ErrProductMismatch)
		lic, err := e.led.GetLicense(context.Background(), key)
		if err != nil || lic.Product != "other-app" || lic.Licensee != "Example GmbH" {
			t.Errorf("the license changed: %v, %v", lic, err)
		}
		e.wantNoActivation(key)
	})
}

// The checks of an ordinary license apply to an auto-created one: its
// template's policy, its expiry.
func TestAutoCreatePolicyApplies(t *testing.T) {
	t.Run("environment", func(t *testing.T) {
		e := newEnv(t)
		e.setProduct(product, func(p *ledger.Product) { p.Template.RefuseEnv = "vm" })
		key := e.newKey()
		kvm := machineFrom(t, "../testdata/fingerprint/kvm", nil)
		_, err := e.sign(e.request(kvm, key))
		wantCode(t, err, result.EnvironmentRefused, result.ErrEnvironmentRefused)
		// Created, as NetLicensing creates the licensee on validation,
		// but no seat taken.
		e.wantNoActivation(key)
		e.mustSign(e.request(machine(t, nil), key))
	})
	t.Run("expiry", func(t *testing.T) {
		e := newEnv(t)
		e.setProduct(product, func(p *ledger.Product) { p.Validity = time.Hour; p.Template.MaxMachines = 2 })
		key := e.newKey()
		e.mustSign(e.request(machine(t, nil), key))
		e.desk.Now = func() time.Time { return t0.Add(2 * time.Hour) }
		other := testkeys.Identity(crypto.RoleInstallation, "auto-create expiry other")
		p := e.params(otherMachine(t), key)
		p.Now = t0.Add(time.Hour)
		_, err := e.sign(e.makeRequest(p, other))
		wantCode(t, err, result.Expired, result.ErrExpired)
	})
	t.Run("client secret", func(t *testing.T) {
		e := newEnv(t)
		e.setProduct(product, func(p *ledger.Product) { p.Template.SecretMode = "client"; p.Template.MaxMachines = 2 })
		key := e.newKey()
		p := e.params(machine(t, nil), key)
		_, err := e.sign(e.makeRequest(p, e.inst))
		wantCode(t, err, result.LicenseeSecretMismatch, result.ErrLicenseeSecretMismatch)
		p = e.params(machine(t, nil), key)
		p.Confidential = &request.Confidential{LicenseeSecret: "first activation binds this"}
		e.mustSign(e.makeRequest(p, e.inst))
		other := testkeys.Identity(crypto.RoleInstallation, "auto-create secret other")
		p = e.params(otherMachine(t), key)
		p.Confidential = &request.Confidential{LicenseeSecret: "another secret"}
		_, err = e.sign(e.makeRequest(p, other))
		wantCode(t, err, result.LicenseeSecretMismatch, result.ErrLicenseeSecretMismatch)
	})
}

// sharedTargets are where the desks of a test can share a ledger: a SQLite
// file, and a PostgreSQL schema when AIRLOCK_TEST_POSTGRES names a server
// (scripts/postgres.sh run sets it).
func sharedTargets(t *testing.T) map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"sqlite": func(t *testing.T) string { return filepath.Join(t.TempDir(), "ledger.db") },
		"postgres": func(t *testing.T) string {
			dsn := os.Getenv("AIRLOCK_TEST_POSTGRES")
			if dsn == "" {
				t.Skip("AIRLOCK_TEST_POSTGRES not set: no PostgreSQL server (scripts/postgres.sh run starts one)")
			}
			u, err := url.Parse(dsn)
			if err != nil {
				t.Fatal("AIRLOCK_TEST_POSTGRES is not a URL")
			}
			db, err := sql.Open("pgx", dsn) // registered by the ledger package
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			b := make([]byte, 6)
			rand.Read(b)
			schema := "desk_test_" + hex.EncodeToString(b)
			if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
				t.Fatalf("create schema: %v", err)
			}
			t.Cleanup(func() {
				if _, err := db.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
					t.Errorf("drop schema %s: %v", schema, err)
				}
			})
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		},
	}
}

// Two desks sharing a ledger sign requests from two installations with
// the same new key at the same moment: one license is created, and its
// one seat goes to exactly one of them.
func TestAutoCreateTwoDesks(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			target := sharedTargets(t)[backend](t)
			e := newEnv(t)
			desks := make([]*desk.Desk, 2)
			for i := range desks {
				led, err := ledger.Open(target)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { led.Close() })
				desks[i] = &desk.Desk{Key: e.vendor, Ledger: led, Now: func() time.Time { return t0 },
					Rand: testkeys.Rand(fmt.Sprint("auto-create desk ", i))}
			}
			e.led, e.desk = desks[0].Ledger, desks[0]
			e.setProduct(product, nil)
			src := machine(t, nil)
			const rounds = 4
			for r := range rounds {
				key := e.newKey()
				reqs := make([]*request.Signed, 2)
				for i := range reqs {
					inst := testkeys.Identity(crypto.RoleInstallation, fmt.Sprintf("auto-create round %d installation %d", r, i))
					reqs[i] = e.makeRequest(e.params(src, key), inst)
				}
				var wg sync.WaitGroup
				start := make(chan struct{})
				errs := make([]error, 2)
				for i := range desks {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						_, errs[i] = desks[i].Sign(context.Background(), reqs[i].Bytes)
					}()
				}
				close(start)
				wg.Wait()
				won := 0
				for i, err := range errs {
					switch code := result.CodeOf(err); code {
					case result.Valid:
						won++
					case result.TooManyMachines:
					default:
						t.Errorf("round %d, desk %d: %s (%v)", r, i, code, err)
					}
				}
				if won != 1 {
					t.Errorf("round %d: %d desks signed, want exactly 1", r, won)
				}
				if n := e.seats(key); n != 1 {
					t.Errorf("round %d: SeatsUsed = %d, want 1", r, n)
				}
			}
			list, err := desks[1].Ledger.ListLicenses(context.Background())
			if err != nil || len(list) != rounds {
				t.Fatalf("ListLicenses = %d licenses, %v; want %d", len(list), err, rounds)
			}
			if _, _, err := desks[1].Ledger.VerifyAudit(context.Background(), ""); err != nil {
				t.Error(err)
			}
		})
	}
}

// A batch with several requests for the same new key creates its license
// once.
func TestAutoCreateBatch(t *testing.T) {
	e := newEnv(t)
	// SignBatch reads Rand from many goroutines; the test's deterministic
	// one is not safe for that.
	e.desk.Rand = nil
	e.setProduct(product, func(p *ledger.Product) { p.Template.MaxMachines = 2 })
	key := e.newKey()
	var texts [][]byte
	for i := range 3 {
		inst := testkeys.Identity(crypto.RoleInstallation, fmt.Sprint("auto-create batch ", i))
		texts = append(texts, e.makeRequest(e.params(machine(t, nil), key), inst).Text())
	}
	res := e.desk.SignBatch(context.Background(), texts, nil)
	won := 0
	for i, r := range res {
		switch code := result.CodeOf(r.Err); code {
		case result.Valid:
			won++
		case result.TooManyMachines:
		default:
			t.Errorf("request %d: %s (%v)", i, code, r.Err)
		}
	}
	if won != 2 || e.seats(key) != 2 {
		t.Errorf("%d signed, %d seats; want 2 and 2", won, e.seats(key))
	}
	if list, err := e.led.ListLicenses(context.Background()); err != nil || len(list) != 1 {
		t.Errorf("ListLicenses = %d licenses, %v; want 1", len(list), err)
	}
}
