package desk_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/fingerprint"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/licensekey"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

// t0 is the desk's clock in every test.
var t0 = time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	day     = 24 * time.Hour
	product = "acme-cad"
	// bareMetal is the fixture machine every test starts from. It has six
	// readable components.
	bareMetal = "../testdata/fingerprint/bare-metal"
)

// env is one vendor desk with its own ledger file.
type env struct {
	t      *testing.T
	vendor *crypto.Identity
	inst   *crypto.Identity
	led    *ledger.Ledger
	desk   *desk.Desk
	n      int // requests and keys made, for distinct deterministic randomness
}

func newEnv(t *testing.T) *env {
	t.Helper()
	led, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close() })
	e := &env{
		t:      t,
		vendor: testkeys.Identity(crypto.RoleVendor, "desk-test vendor"),
		inst:   testkeys.Identity(crypto.RoleInstallation, "desk-test installation"),
		led:    led,
	}
	e.desk = &desk.Desk{
		Key:    e.vendor,
		Ledger: led,
		Now:    func() time.Time { return t0 },
		Rand:   testkeys.Rand("desk-test activation ids"),
	}
	return e
}

// newKey returns a canonical license key that is not in the ledger.
func (e *env) newKey() string {
	e.t.Helper()
	e.n++
	k, err := licensekey.New(testkeys.Rand(fmt.Sprintf("desk-test license key %d", e.n)))
	if err != nil {
		e.t.Fatal(err)
	}
	return k
}

// addLicense puts a license for product, one machine, policy "all" in the
// ledger, changed by mod, and returns its key.
func (e *env) addLicense(mod func(*ledger.License)) string {
	e.t.Helper()
	lic := &ledger.License{
		Key:         e.newKey(),
		Product:     product,
		Licensee:    "Example GmbH",
		MaxMachines: 1,
		Features:    map[string]uint64{"export-step": 0, "seats": 5},
		MatchPolicy: "all",
		Created:     t0.Add(-30 * day),
	}
	if mod != nil {
		mod(lic)
	}
	if err := e.led.CreateLicense(context.Background(), lic); err != nil {
		e.t.Fatal(err)
	}
	return lic.Key
}

// machine copies the bare-metal fixture tree and applies changes: path
// (slash-separated, relative to the tree) to new content, "" to delete.
func machine(t *testing.T, changes map[string]string) fingerprint.Source {
	t.Helper()
	return machineFrom(t, bareMetal, changes)
}

// machineFrom is machine for another fixture tree.
func machineFrom(t *testing.T, fixture string, changes map[string]string) fingerprint.Source {
	t.Helper()
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(fixture)); err != nil {
		t.Fatal(err)
	}
	for p, content := range changes {
		f := filepath.Join(root, filepath.FromSlash(p))
		var err error
		if content == "" {
			err = os.Remove(f)
		} else {
			err = os.WriteFile(f, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return fingerprint.DirSource(root, "linux")
}

// otherMachine is bare-metal after an OS reinstall: another machine-id.
func otherMachine(t *testing.T) fingerprint.Source {
	return machine(t, map[string]string{
		"etc/machine-id":          "0123456789abcdef0123456789abcdef\n",
		"var/lib/dbus/machine-id": "0123456789abcdef0123456789abcdef\n",
	})
}

func fingerprintOf(t *testing.T, src fingerprint.Source, product string, kid crypto.KeyID) fingerprint.Fingerprint {
	t.Helper()
	rep, err := fingerprint.Collect(src)
	if err != nil {
		t.Fatal(err)
	}
	return rep.Hash(product, kid)
}

func components(fp fingerprint.Fingerprint) map[uint8][]byte {
	m := make(map[uint8][]byte, len(fp.Components))
	for _, d := range fp.Components {
		m[uint8(d.ID)] = bytes.Clone(d.Sum[:])
	}
	return m
}

// params are the request parameters the client would use for the license
// key on the machine src; tests change them before calling makeRequest.
func (e *env) params(src fingerprint.Source, key string) request.Params {
	e.t.Helper()
	fp := fingerprintOf(e.t, src, product, e.vendor.ID())
	e.n++
	return request.Params{
		Product:     product,
		LicenseKey:  key,
		Fingerprint: bytes.Clone(fp.ID[:]),
		Components:  components(fp),
		Env:         uint16(fp.Env),
		Vendor:      e.vendor.Public(),
		Now:         t0.Add(-time.Hour),
		Rand:        testkeys.Rand(fmt.Sprintf("desk-test nonce %d", e.n)),
	}
}

func (e *env) makeRequest(p request.Params, inst *crypto.Identity) *request.Signed {
	e.t.Helper()
	s, err := request.New(p, inst)
	if err != nil {
		e.t.Fatalf("request.New: %v", err)
	}
	return s
}

// request makes a request of e.inst on src for key.
func (e *env) request(src fingerprint.Source, key string) *request.Signed {
	e.t.Helper()
	return e.makeRequest(e.params(src, key), e.inst)
}

func (e *env) sign(req *request.Signed) (*desk.Issued, error) {
	return e.desk.Sign(context.Background(), req.Bytes)
}

func (e *env) mustSign(req *request.Signed) *desk.Issued {
	e.t.Helper()
	iss, err := e.sign(req)
	if err != nil {
		e.t.Fatalf("Sign: %v (%s)", err, result.CodeOf(err))
	}
	return iss
}

func (e *env) activations(key string) []ledger.Activation {
	e.t.Helper()
	as, err := e.led.Activations(context.Background(), key)
	if err != nil {
		e.t.Fatal(err)
	}
	return as
}

func (e *env) seats(key string) int {
	e.t.Helper()
	n, err := e.led.SeatsUsed(context.Background(), key)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// wantCode fails unless err carries exactly code, through both CodeOf and
// errors.Is with the sentinel.
func wantCode(t *testing.T, err error, code result.Code, sentinel error) {
	t.Helper()
	if got := result.CodeOf(err); got != code {
		t.Fatalf("result %s (%v), want %s", got, err, code)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("errors.Is(%v, %v) = false", err, sentinel)
	}
}

// wantNoActivation fails if the ledger holds any activation of key.
func (e *env) wantNoActivation(key string) {
	e.t.Helper()
	if as := e.activations(key); len(as) != 0 {
		e.t.Fatalf("ledger has %d activation(s) of the license, want none", len(as))
	}
	if n := e.seats(key); n != 0 {
		e.t.Fatalf("SeatsUsed = %d, want 0", n)
	}
}

// TestSignExpiresWithinTheSecond: a license that expires after the desk's
// clock but within the same second cannot be signed, because a license's
// times are whole seconds and its expiry must be after its issue time. The
// desk must say EXPIRED, not fail with an internal error.
func TestSignExpiresWithinTheSecond(t *testing.T) {
	e := newEnv(t)
	e.desk.Now = func() time.Time { return t0.Add(200 * time.Millisecond) }
	key := e.addLicense(func(l *ledger.License) { l.Expires = t0.Add(700 * time.Millisecond) })
	_, err := e.sign(e.request(machine(t, nil), key))
	wantCode(t, err, result.Expired, result.ErrExpired)
	e.wantNoActivation(key)
}

func TestSignValid(t *testing.T) {
	e := newEnv(t)
	key := e.addLicense(func(l *ledger.License) { l.Expires = t0.Add(365 * day) })
	src := machine(t, nil)
	req := e.request(src, key)
	iss := e.mustSign(req)
	if iss.Reused {
		t.Error("Reused = true for a first activation")
	}
	if iss.Request.Hash != req.Hash {
		t.Error("Issued.Request is not the request that was signed")
	}
	if iss.License.KeyID != e.vendor.ID() {
		t.Errorf("license key id %s, want %s", iss.License.KeyID, e.vendor.ID())
	}

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
	if lic.LicenseKey != key || lic.Product != product || lic.Licensee != "Example GmbH" {
		t.Errorf("license names key %q product %q licensee %q", lic.LicenseKey, lic.Product, lic.Licensee)
	}
	if want := map[string]uint64{"export-step": 0, "seats": 5}; !maps.Equal(lic.Features, want) {
		t.Errorf("features %v, want %v", lic.Features, want)
	}
	if lic.Issued != t0.Unix() || lic.NotBefore != t0.Unix() || lic.Expires != t0.Add(365*day).Unix() || lic.LeaseUntil != 0 {
		t.Errorf("times issued %d, not before %d, expires %d, lease %d", lic.Issued, lic.NotBefore, lic.Expires, lic.LeaseUntil)
	}
	if lic.Policy() != fingerprint.MatchAll {
		t.Errorf("policy %s, want all", lic.Policy())
	}
	if !bytes.Equal(lic.Binding.InstallKey, e.inst.Public().Sign) || !bytes.Equal(lic.Binding.Fingerprint, fp.ID[:]) {
		t.Error("license is not bound to the requesting installation and machine")
	}
	if len(lic.Binding.Components) != 6 {
		t.Errorf("license binds %d components, want the 6 of the fixture", len(lic.Binding.Components))
	}
	// The armored form is what the desk hands out; it must carry the same
	// bytes.
	if b, err := armor.DecodeKind(iss.Text(), armor.License); err != nil || !bytes.Equal(b, iss.License.Bytes) {
		t.Errorf("armored license does not decode to the signed bytes (%v)", err)
	}
	if e.seats(key) != 1 {
		t.Errorf("SeatsUsed = %d, want 1", e.seats(key))
	}
}

func TestSignText(t *testing.T) {
	e := newEnv(t)
	key := e.addLicense(nil)
	req := e.request(machine(t, nil), key)
	iss, err := e.desk.SignText(context.Background(), req.Text())
	if err != nil {
		t.Fatalf("SignText: %v", err)
	}
	if iss.Request.Hash != req.Hash {
		t.Error("SignText signed another request")
	}
	_, err = e.desk.SignText(context.Background(), []byte("not a request"))
	wantCode(t, err, result.Malformed, result.ErrMalformed)
}

func TestSignSameMachineReusesSeat(t *testing.T) {
	e := newEnv(t)
	key := e.addLicense(nil)
	src := machine(t, nil)
	first := e.mustSign(e.request(src, key))

	// The same installation on the same machine asks again (a new request,
	// later): it keeps its seat.
	e.desk.Now = func() time.Time { return t0.Add(2 * day) }
	p := e.params(src, key)
	p.Now = t0.Add(2*day - time.Minute)
	req2 := e.makeRequest(p, e.inst)
	if req2.Hash == first.Request.Hash {
		t.Fatal("test bug: the second request is the first one")
	}
	second := e.mustSign(req2)
	if !second.Reused {
		t.Error("Reused = false for the same installation and machine")
	}
	if !bytes.Equal(second.License.License.ActivationID, first.License.License.ActivationID) {
		t.Errorf("activation id %x, want the first one %x", second.License.License.ActivationID, first.License.License.ActivationID)
	}
	if !bytes.Equal(second.License.License.RequestHash, req2.Hash[:]) {
		t.Error("second license does not answer the second request")
	}
	if n := e.seats(key); n != 1 {
		t.Errorf("SeatsUsed = %d, want 1", n)
	}
	as := e.activations(key)
	if len(as) != 1 {
		t.Fatalf("%d activations, want 1", len(as))
	}
	if as[0].ID != hex.EncodeToString(first.License.License.ActivationID) || !bytes.Equal(as[0].License, second.License.Bytes) {
		t.Error("the ledger's seat does not hold the newest license under the first id")
	}
}

func TestSignTooManyMachines(t *testing.T) {
	other := testkeys.Identity(crypto.RoleInstallation, "desk-test other installation")
	for _, tc := range []struct {
		name    string
		machine func(*testing.T) fingerprint.Source
		inst    *crypto.Identity
	}{
		{"other machine", otherMachine, nil},
		{"other installation", func(t *testing.T) fingerprint.Source { return machine(t, nil) }, other},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			key := e.addLicense(nil) // one machine
			first := e.mustSign(e.request(machine(t, nil), key))
			before := e.activations(key)

			inst := e.inst
			if tc.inst != nil {
				inst = tc.inst
			}
			_, err := e.sign(e.makeRequest(e.params(tc.machine(t), key), inst))
			wantCode(t, err, result.TooManyMachines, result.ErrTooManyMachines)

			after := e.activations(key)
			if len(after) != 1 || after[0].ID != before[0].ID || !bytes.Equal(after[0].License, first.License.Bytes) {
				t.Errorf("ledger changed: %d activations", len(after))
			}
			if n := e.seats(key); n != 1 {
				t.Errorf("SeatsUsed = %d, want 1", n)
			}
		})
	}

	t.Run("second seat free", func(t *testing.T) {
		e := newEnv(t)
		key := e.addLicense(func(l *ledger.License) { l.MaxMachines = 2 })
		a := e.mustSign(e.request(machine(t, nil), key))
		b := e.mustSign(e.request(otherMachine(t), key))
		if b.Reused || bytes.Equal(a.License.License.ActivationID, b.License.License.ActivationID) {
			t.Error("second machine reused the first machine's seat")
		}
		if n := e.seats(key); n != 2 {
			t.Errorf("SeatsUsed = %d, want 2", n)
		}
		_, err := e.sign(e.makeRequest(e.params(machine(t, map[string]string{
			"etc/machine-id": "fedcba9876543210fedcba9876543210\n",
		}), key), e.inst))
		wantCode(t, err, result.TooManyMachines, result.ErrTooManyMachines)
	})
}

func TestSignRequestStale(t *testing.T) {
	for _, tc := range []struct {
		name          string
		maxAge, maxFw time.Duration // desk settings; 0 is the default
		created       time.Time
		want          result.Code
	}{
		{"default age exceeded", 0, 0, t0.Add(-desk.DefaultMaxRequestAge - time.Second), result.RequestStale},
		{"default age reached", 0, 0, t0.Add(-desk.DefaultMaxRequestAge), result.Valid},
		{"default future exceeded", 0, 0, t0.Add(desk.DefaultMaxFuture + time.Second), result.RequestStale},
		{"default future reached", 0, 0, t0.Add(desk.DefaultMaxFuture), result.Valid},
		{"set age exceeded", 2 * time.Hour, 0, t0.Add(-2*time.Hour - time.Second), result.RequestStale},
		{"set age within", 2 * time.Hour, 0, t0.Add(-time.Hour), result.Valid},
		{"set future exceeded", 0, time.Minute, t0.Add(61 * time.Second), result.RequestStale},
		{"set future within", 0, time.Minute, t0.Add(59 * time.Second), result.Valid},
		{"a year old", 0, 0, t0.Add(-365 * day), result.RequestStale},
		{"next week", 0, 0, t0.Add(7 * day), result.RequestStale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.desk.MaxRequestAge, e.desk.MaxFuture = tc.maxAge, tc.maxFw
			key := e.addLicense(nil)
			p := e.params(machine(t, nil), key)
			p.Now = tc.created
			_, err := e.sign(e.makeRequest(p, e.inst))
			if got := result.CodeOf(err); got != tc.want {
				t.Fatalf("result %s (%v), want %s", got, err, tc.want)
			}
			if tc.want == result.RequestStale {
				wantCode(t, err, result.RequestStale, result.ErrRequestStale)
				e.wantNoActivation(key)
			}
		})
	}
}

// TestSignRefused covers every refusal that must leave the ledger alone.
func TestSignRefused(t *testing.T) {
	otherVendor := testkeys.Identity(crypto.RoleVendor, "desk-test other vendor")
	for _, tc := range []struct {
		name     string
		license  func(*ledger.License)
		suspend  bool
		params   func(e *env, p *request.Params)
		want     result.Code
		sentinel error
	}{
		{
			name: "license key not in the ledger",
			params: func(e *env, p *request.Params) {
				p.LicenseKey = e.newKey()
			},
			want: result.LicenseUnknown, sentinel: result.ErrLicenseUnknown,
		},
		{
			name:    "suspended",
			suspend: true,
			want:    result.LicenseSuspended, sentinel: result.ErrLicenseSuspended,
		},
		{
			name: "another product",
			params: func(e *env, p *request.Params) {
				p.Product = "acme-cam"
				fp := fingerprintOf(e.t, machine(e.t, nil), "acme-cam", e.vendor.ID())
				p.Fingerprint, p.Components = fp.ID[:], components(fp)
			},
			want: result.ProductMismatch, sentinel: result.ErrProductMismatch,
		},
		{
			name:    "expired an hour ago",
			license: func(l *ledger.License) { l.Expires = t0.Add(-time.Hour) },
			want:    result.Expired, sentinel: result.ErrExpired,
		},
		{
			name:    "expires now",
			license: func(l *ledger.License) { l.Expires = t0 },
			want:    result.Expired, sentinel: result.ErrExpired,
		},
		{
			name: "request for another vendor key",
			params: func(e *env, p *request.Params) {
				p.Vendor = otherVendor.Public()
				fp := fingerprintOf(e.t, machine(e.t, nil), product, otherVendor.ID())
				p.Fingerprint, p.Components = fp.ID[:], components(fp)
			},
			want: result.UnknownVendorKey, sentinel: result.ErrUnknownVendorKey,
		},
		{
			// One component digest changed, the combined id kept: a
			// request that would bind two machines under one id.
			name: "fingerprint id does not match its components",
			params: func(e *env, p *request.Params) {
				d := bytes.Clone(p.Components[uint8(fingerprint.Disk)])
				d[0] ^= 0x01
				p.Components[uint8(fingerprint.Disk)] = d
			},
			want: result.Malformed, sentinel: result.ErrMalformed,
		},
		{
			name: "fingerprint id of another product",
			params: func(e *env, p *request.Params) {
				fp := fingerprintOf(e.t, machine(e.t, nil), "acme-cam", e.vendor.ID())
				p.Fingerprint, p.Components = fp.ID[:], components(fp)
			},
			want: result.Malformed, sentinel: result.ErrMalformed,
		},
		{
			name: "fingerprint with a component dropped",
			params: func(e *env, p *request.Params) {
				delete(p.Components, uint8(fingerprint.CPU))
			},
			want: result.Malformed, sentinel: result.ErrMalformed,
		},
		{
			// The key id is this desk's, but the fields are sealed to
			// another X25519 key: the desk cannot open them.
			name: "sealed fields the desk cannot open",
			params: func(e *env, p *request.Params) {
				mixed, err := crypto.NewPublic(crypto.RoleVendor, e.vendor.Public().Sign, otherVendor.Public().Box[:])
				if err != nil {
					e.t.Fatal(err)
				}
				p.Vendor = mixed
				p.Confidential = &request.Confidential{LicenseeSecret: "correct horse"}
			},
			want: result.Malformed, sentinel: result.ErrMalformed,
		},
		{
			name: "renewal of a lease that does not exist",
			params: func(e *env, p *request.Params) {
				p.Kind, p.Renews = request.KindRenew, bytes.Repeat([]byte{1}, 16)
			},
			want: result.LicenseUnknown, sentinel: result.ErrLicenseUnknown,
		},
		{
			name:    "policy needs more components than the machine has",
			license: func(l *ledger.License) { l.MatchPolicy = "atleast:7" },
			want:    result.FingerprintMismatch, sentinel: result.ErrFingerprintMismatch,
		},
		{
			// bare-metal-user: the DMI serials are root only, three
			// components remain.
			name:    "policy needs more components than a user can read",
			license: func(l *ledger.License) { l.MatchPolicy = "atleast:4" },
			params: func(e *env, p *request.Params) {
				fp := fingerprintOf(e.t, fingerprint.DirSource("../testdata/fingerprint/bare-metal-user", "linux"), product, e.vendor.ID())
				if len(fp.Components) != 3 {
					e.t.Fatalf("test bug: bare-metal-user has %d components", len(fp.Components))
				}
				p.Fingerprint, p.Components = fp.ID[:], components(fp)
			},
			want: result.FingerprintMismatch, sentinel: result.ErrFingerprintMismatch,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			key := e.addLicense(tc.license)
			if tc.suspend {
				if err := e.led.SetSuspended(context.Background(), key, true); err != nil {
					t.Fatal(err)
				}
			}
			p := e.params(machine(t, nil), key)
			if tc.params != nil {
				tc.params(e, &p)
			}
			_, err := e.sign(e.makeRequest(p, e.inst))
			wantCode(t, err, tc.want, tc.sentinel)
			e.wantNoActivation(key)
		})
	}
}

// TestSignReinstated: a suspended license takes activations again once it
// is reinstated.
func TestSignReinstated(t *testing.T) {
	e := newEnv(t)
	key := e.addLicense(nil)
	if err := e.led.SetSuspended(context.Background(), key, true); err != nil {
		t.Fatal(err)
	}
	src := machine(t, nil)
	_, err := e.sign(e.request(src, key))
	wantCode(t, err, result.LicenseSuspended, result.ErrLicenseSuspended)
	e.wantNoActivation(key)
	if err := e.led.SetSuspended(context.Background(), key, false); err != nil {
		t.Fatal(err)
	}
	e.mustSign(e.request(src, key))
}

// TestSignAtLeastPolicy: a policy that needs exactly the components the
// machine has is signed, and the license carries it.
func TestSignAtLeastPolicy(t *testing.T) {
	e := newEnv(t)
	key := e.addLicense(func(l *ledger.License) { l.MatchPolicy = "atleast:6" })
	iss := e.mustSign(e.request(machine(t, nil), key))
	if got := iss.License.License.Policy(); got != fingerprint.AtLeast(6) {
		t.Errorf("policy %s, want atleast:6", got)
	}
}

func TestSignBadSignature(t *testing.T) {
	e := newEnv(t)
	key := e.addLicense(nil)
	req := e.request(machine(t, nil), key)
	b := bytes.Clone(req.Bytes)
	b[len(b)-1] ^= 0x80 // the last byte is in the signature
	_, err := e.desk.Sign(context.Background(), b)
	wantCode(t, err, result.SignatureInvalid, result.ErrSignatureInvalid)
	e.wantNoActivation(key)
}

func TestSignLease(t *testing.T) {
	for _, tc := range []struct {
		name    string
		period  time.Duration
		expires time.Time
		want    time.Time // LeaseUntil; zero for none
	}{
		{"no lease", 0, time.Time{}, time.Time{}},
		{"no lease, expiring", 0, t0.Add(90 * day), time.Time{}},
		{"lease, never expires", 30 * day, time.Time{}, t0.Add(30 * day)},
		{"lease before expiry", 30 * day, t0.Add(90 * day), t0.Add(30 * day)},
		{"lease capped at expiry", 30 * day, t0.Add(10 * day), t0.Add(10 * day)},
		{"lease ends at expiry", 30 * day, t0.Add(30 * day), t0.Add(30 * day)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			// A clock between seconds: the license's times are whole
			// seconds from the truncated issue time.
			e.desk.Now = func() time.Time { return t0.Add(700 * time.Millisecond) }
			key := e.addLicense(func(l *ledger.License) {
				l.LeasePeriod = tc.period
				l.Expires = tc.expires
			})
			iss := e.mustSign(e.request(machine(t, nil), key))
			lic := iss.License.License
			if lic.Issued != t0.Unix() {
				t.Errorf("issued %s, want %s", lic.IssuedTime(), t0)
			}
			if !lic.LeaseUntilTime().Equal(tc.want) {
				t.Errorf("lease until %s, want %s", lic.LeaseUntilTime(), tc.want)
			}
			if !tc.expires.IsZero() && !lic.LeaseUntilTime().IsZero() && lic.LeaseUntil > lic.Expires {
				t.Errorf("lease until %s is after expiry %s", lic.LeaseUntilTime(), lic.ExpiresTime())
			}
			as := e.activations(key)
			if len(as) != 1 {
				t.Fatalf("%d activations, want 1", len(as))
			}
			if !as[0].LeaseUntil.Equal(tc.want) {
				t.Errorf("ledger lease until %s, want %s", as[0].LeaseUntil, tc.want)
			}
		})
	}
}

func TestSignRecordsActivation(t *testing.T) {
	e := newEnv(t)
	key := e.addLicense(nil)
	src := machine(t, nil)
	req := e.request(src, key)
	iss := e.mustSign(req)

	as := e.activations(key)
	if len(as) != 1 {
		t.Fatalf("%d activations, want 1", len(as))
	}
	a := as[0]
	fp := fingerprintOf(t, src, product, e.vendor.ID())
	switch {
	case !bytes.Equal(a.License, iss.License.Bytes):
		t.Error("the ledger holds other license bytes than Sign returned")
	case a.ID != hex.EncodeToString(iss.License.License.ActivationID):
		t.Errorf("ledger activation id %s, license %x", a.ID, iss.License.License.ActivationID)
	case a.LicenseKey != key:
		t.Errorf("ledger license key %q, want %q", a.LicenseKey, key)
	case !bytes.Equal(a.InstallKey, e.inst.Public().Sign):
		t.Error("ledger install key is not the installation's")
	case !bytes.Equal(a.Fingerprint, fp.ID[:]):
		t.Error("ledger fingerprint is not the machine's")
	case !bytes.Equal(a.RequestHash, req.Hash[:]):
		t.Error("ledger request hash is not the request's")
	case !a.Issued.Equal(t0):
		t.Errorf("ledger issued %s, want %s", a.Issued, t0)
	case a.Released:
		t.Error("new activation is released")
	}
	id, found, err := e.led.ActiveSeat(context.Background(), key, e.inst.Public().Sign, fp.ID[:])
	if err != nil || !found || id != a.ID {
		t.Errorf("ActiveSeat = %q, %t, %v; want %q", id, found, err, a.ID)
	}
}

// TestSignActivationIDs checks that activation ids come from Desk.Rand.
func TestSignActivationIDs(t *testing.T) {
	var ids [][]byte
	for range 2 {
		e := newEnv(t)
		key := e.addLicense(nil)
		ids = append(ids, e.mustSign(e.request(machine(t, nil), key)).License.License.ActivationID)
	}
	if !bytes.Equal(ids[0], ids[1]) {
		t.Errorf("activation ids %x and %x from the same Rand differ", ids[0], ids[1])
	}
	want := make([]byte, response.ActivationIDLen)
	if _, err := testkeys.Rand("desk-test activation ids").Read(want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ids[0], want) {
		t.Errorf("activation id %x, want the first %d bytes of Rand %x", ids[0], response.ActivationIDLen, want)
	}
}

func TestSignConfidential(t *testing.T) {
	secrets := map[string]string{"db-password": "hunter2-Zx81", "note": "line one\nline two"}
	e := newEnv(t)
	key := e.addLicense(func(l *ledger.License) { l.Confidential = secrets })
	iss := e.mustSign(e.request(machine(t, nil), key))
	lic := iss.License.License
	if len(lic.Sealed) == 0 {
		t.Fatal("license has no sealed fields")
	}
	for _, v := range secrets {
		if bytes.Contains(iss.License.Bytes, []byte(v)) || bytes.Contains(iss.Text(), []byte(v)) {
			t.Fatalf("confidential value %q is in the license in clear", v)
		}
	}
	got, err := lic.Open(e.inst)
	if err != nil {
		t.Fatalf("Open with the installation identity: %v", err)
	}
	if !maps.Equal(got, secrets) {
		t.Errorf("opened %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(secrets)))
	}
	other := testkeys.Identity(crypto.RoleInstallation, "desk-test other installation")
	_, err = lic.Open(other)
	wantCode(t, err, result.InstallationMismatch, result.ErrInstallationMismatch)

	// A license without confidential fields seals nothing.
	e2 := newEnv(t)
	key2 := e2.addLicense(nil)
	if l := e2.mustSign(e2.request(machine(t, nil), key2)).License.License; len(l.Sealed) != 0 {
		t.Error("license without confidential fields has sealed data")
	}
}

// TestSignEnvironment: the license's environment policy judges the
// environment the request reports.
func TestSignEnvironment(t *testing.T) {
	kvm := func(t *testing.T) fingerprint.Source { return machineFrom(t, "../testdata/fingerprint/kvm", nil) }
	bare := func(t *testing.T) fingerprint.Source { return machine(t, nil) }
	for _, tc := range []struct {
		name          string
		refuse, hwEnv string
		machine       func(*testing.T) fingerprint.Source
		want          result.Code
		sentinel      error
	}{
		{"vm refused, kvm guest", "vm", "", kvm, result.EnvironmentRefused, result.ErrEnvironmentRefused},
		{"vm and container refused, kvm guest", "vm,container", "", kvm, result.EnvironmentRefused, result.ErrEnvironmentRefused},
		{"container refused, kvm guest", "container", "", kvm, result.Valid, nil},
		{"vm refused, bare metal", "vm", "", bare, result.Valid, nil},
		{"vm needs a hardware key, kvm guest", "", "vm", kvm, result.HardwareKeyNotAccessible, result.ErrHardwareKeyNotAccessible},
		{"vm needs a hardware key, bare metal", "", "vm", bare, result.Valid, nil},
		{"no policy, kvm guest", "", "", kvm, result.Valid, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			key := e.addLicense(func(l *ledger.License) { l.RefuseEnv, l.HardwareEnv = tc.refuse, tc.hwEnv })
			p := e.params(tc.machine(t), key)
			_, err := e.sign(e.makeRequest(p, e.inst))
			if got := result.CodeOf(err); got != tc.want {
				t.Fatalf("result %s (%v), want %s", got, err, tc.want)
			}
			if tc.want == result.Valid {
				if n := e.seats(key); n != 1 {
					t.Errorf("SeatsUsed = %d, want 1", n)
				}
				return
			}
			wantCode(t, err, tc.want, tc.sentinel)
			e.wantNoActivation(key)
		})
	}
}
