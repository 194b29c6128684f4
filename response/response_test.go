package response_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/fingerprint"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/internal/testrig/vectors"
	"github.com/airlock-offline/airlock/internal/wire"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

var (
	vendor  = testkeys.Identity(crypto.RoleVendor, "vendor")
	vendor2 = testkeys.Identity(crypto.RoleVendor, "vendor2")
	inst    = testkeys.Identity(crypto.RoleInstallation, "inst")
	t0      = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	testKey = "51NKE-B51YC-93SW3-MNXGX-C"
)

func machine() fingerprint.Fingerprint {
	fp := fingerprint.Fingerprint{ID: [16]byte{9, 9, 9}}
	for _, id := range []fingerprint.ComponentID{1, 2, 5, 6} {
		fp.Components = append(fp.Components, fingerprint.Digest{ID: id, Sum: [8]byte{byte(id), 1, 2, 3}})
	}
	return fp
}

func fixture(t testing.TB, mod func(*response.Params)) (*request.Signed, *response.Signed) {
	t.Helper()
	fp := machine()
	comps := map[uint8][]byte{}
	for _, d := range fp.Components {
		comps[uint8(d.ID)] = append([]byte(nil), d.Sum[:]...)
	}
	req, err := request.New(request.Params{Product: "acme-cad", LicenseKey: testKey, Fingerprint: fp.ID[:], Components: comps,
		Vendor: vendor.Public(), Now: t0, Rand: testkeys.Rand("n")}, inst)
	if err != nil {
		t.Fatal(err)
	}
	p := response.Params{LicenseKey: testKey, ActivationID: make([]byte, 16), Product: "acme-cad", Licensee: "ACME",
		Features: map[string]uint64{"export": 1}, Issued: t0, Expires: t0.AddDate(1, 0, 0), Policy: fingerprint.MatchMost,
		Confidential: map[string]string{"db-password": "hunter2"}}
	if mod != nil {
		mod(&p)
	}
	lic, err := response.New(vendor, req, p)
	if err != nil {
		t.Fatal(err)
	}
	return req, lic
}

func expect(req *request.Signed) *response.Expect {
	fp := machine()
	return &response.Expect{VendorKeys: []*crypto.Public{vendor2.Public(), vendor.Public()}, Product: "acme-cad",
		Installation: inst.Public(), Fingerprint: &fp, RequestHashes: [][32]byte{req.Hash}, Now: t0.Add(24 * time.Hour)}
}

func TestVerifyValid(t *testing.T) {
	req, lic := fixture(t, nil)
	l, err := response.Verify(lic.Bytes, expect(req))
	if err != nil {
		t.Fatal(err)
	}
	if l.Licensee != "ACME" || l.Features["export"] != 1 || l.Policy() != fingerprint.MatchMost {
		t.Fatalf("fields: %+v", l)
	}
	if bytes.Contains(lic.Bytes, []byte("hunter2")) {
		t.Fatal("confidential field in the clear")
	}
	m, err := l.Open(inst)
	if err != nil || m["db-password"] != "hunter2" {
		t.Fatalf("open: %v", err)
	}
	if _, err := l.Open(testkeys.Identity(crypto.RoleInstallation, "other")); err == nil {
		t.Fatal("another installation opened the sealed fields")
	}
}

func TestVerifyCodes(t *testing.T) {
	req, lic := fixture(t, nil)
	flipped := bytes.Clone(lic.Bytes)
	flipped[len(flipped)-3] ^= 1
	cases := []struct {
		name string
		data []byte
		mod  func(*response.Expect)
		want result.Code
	}{
		{"bad signature", flipped, nil, result.SignatureInvalid},
		{"unknown vendor", lic.Bytes, func(e *response.Expect) { e.VendorKeys = e.VendorKeys[:1] }, result.UnknownVendorKey},
		{"product", lic.Bytes, func(e *response.Expect) { e.Product = "other" }, result.ProductMismatch},
		{"installation", lic.Bytes, func(e *response.Expect) { e.Installation = vendor2.Public() }, result.InstallationMismatch},
		{"request", lic.Bytes, func(e *response.Expect) { e.RequestHashes = [][32]byte{{1}} }, result.RequestMismatch},
		{"not yet valid", lic.Bytes, func(e *response.Expect) { e.Now = t0.Add(-2 * time.Hour) }, result.NotYetValid},
		{"skew tolerated", lic.Bytes, func(e *response.Expect) { e.Now = t0.Add(-30 * time.Minute); e.Skew = time.Hour }, result.Valid},
		{"expired", lic.Bytes, func(e *response.Expect) { e.Now = t0.AddDate(1, 0, 0) }, result.Expired},
		{"truncated", lic.Bytes[:40], nil, result.Malformed},
	}
	for _, c := range cases {
		e := expect(req)
		if c.mod != nil {
			c.mod(e)
		}
		_, err := response.Verify(c.data, e)
		if got := result.CodeOf(err); got != c.want {
			t.Errorf("%s: got %s (%v), want %s", c.name, got, err, c.want)
		}
	}
}

func TestFingerprintPolicies(t *testing.T) {
	one := func(fp *fingerprint.Fingerprint) { fp.Components[2].Sum[0] ^= 0xff; fp.ID[0] ^= 1 }
	three := func(fp *fingerprint.Fingerprint) {
		for i := 0; i < 3; i++ {
			fp.Components[i].Sum[0] ^= 0xff
		}
		fp.ID[0] ^= 1
	}
	cases := []struct {
		policy fingerprint.Policy
		change func(*fingerprint.Fingerprint)
		want   result.Code
	}{
		{fingerprint.MatchMost, one, result.Valid},
		{fingerprint.MatchMost, three, result.FingerprintMismatch},
		{fingerprint.MatchAll, one, result.FingerprintMismatch},
		{fingerprint.MatchExact, one, result.FingerprintMismatch},
		{fingerprint.MatchExact, func(*fingerprint.Fingerprint) {}, result.Valid},
		{fingerprint.AtLeast(3), one, result.Valid},
		{fingerprint.AtLeast(4), one, result.FingerprintMismatch},
	}
	for _, c := range cases {
		req, lic := fixture(t, func(p *response.Params) { p.Policy = c.policy })
		e := expect(req)
		c.change(e.Fingerprint)
		_, err := response.Verify(lic.Bytes, e)
		if got := result.CodeOf(err); got != c.want {
			t.Errorf("%s: got %s (%v), want %s", c.policy, got, err, c.want)
		}
		if c.want == result.FingerprintMismatch {
			var re *result.Error
			errors.As(err, &re)
			if len(re.Details) == 0 || !strings.Contains(strings.Join(re.Details, " "), "changed: ") {
				t.Errorf("%s: mismatch does not name the changed components: %v", c.policy, re.Details)
			}
		}
	}
}

func TestLease(t *testing.T) {
	req, lic := fixture(t, func(p *response.Params) { p.LeaseUntil = t0.AddDate(0, 0, 30) })
	e := expect(req)
	e.Now = t0.AddDate(0, 0, 31)
	if _, err := response.Verify(lic.Bytes, e); !errors.Is(err, result.ErrLeaseExpired) {
		t.Fatalf("got %v", err)
	}
}

func TestNewRejects(t *testing.T) {
	req, _ := fixture(t, nil)
	cases := map[string]func(*response.Params){
		"no licensee":       func(p *response.Params) { p.Licensee = "" },
		"bad activation id": func(p *response.Params) { p.ActivationID = []byte{1} },
		"expires first":     func(p *response.Params) { p.Expires = t0.Add(-time.Hour) },
		"feature name":      func(p *response.Params) { p.Features = map[string]uint64{"": 1} },
	}
	for name, mod := range cases {
		p := response.Params{LicenseKey: testKey, ActivationID: make([]byte, 16), Product: "acme-cad", Licensee: "ACME", Issued: t0}
		mod(&p)
		if _, err := response.New(vendor, req, p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := response.New(inst, req, response.Params{}); err == nil {
		t.Error("an installation key signed a license")
	}
}

func FuzzParse(f *testing.F) {
	_, payloads := vectors.Seeds(f)
	for _, p := range payloads {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, _, err := response.ParseUnverified(data)
		if err != nil {
			var re *result.Error
			if !errors.As(err, &re) || re.Code != result.Malformed {
				t.Fatalf("untyped or unexpected error: %v", err)
			}
			return
		}
		payload, err := wire.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		sig, _ := crypto.ParseSigned(data)
		if !bytes.Equal(payload, sig.Payload) {
			t.Fatal("parse -> encode did not give the same bytes")
		}
		fp := machine()
		_, err = response.Verify(data, &response.Expect{VendorKeys: []*crypto.Public{vendor.Public()}, Fingerprint: &fp, Now: t0})
		if err != nil && !result.CodeOf(err).Known() {
			t.Fatalf("untyped error: %v", err)
		}
	})
}

// BenchmarkVerify is the brief's figure: verify a stored license (parse,
// signature, bindings) against one raw ed25519.Verify of the same bytes.
func BenchmarkVerify(b *testing.B) {
	req, lic := fixture(b, nil)
	e := expect(req)
	e.RequestHashes = nil
	b.ReportAllocs()
	for b.Loop() {
		if _, err := response.Verify(lic.Bytes, e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawEd25519Verify is the physical limit: one ed25519.Verify of
// a message as long as the license.
func BenchmarkRawEd25519Verify(b *testing.B) {
	_, lic := fixture(b, nil)
	pub, priv, _ := ed25519.GenerateKey(testkeys.Rand("raw"))
	sig := ed25519.Sign(priv, lic.Bytes)
	for b.Loop() {
		if !ed25519.Verify(pub, lic.Bytes, sig) {
			b.Fatal("raw verify failed")
		}
	}
}

// A license requested as root binds components a user cannot read; as a
// user the same machine matches on what it can read, except under exact.
func TestUnreadableComponents(t *testing.T) {
	asUser := func(fp *fingerprint.Fingerprint) {
		fp.Components = fp.Components[2:] // 1 and 2 need root
		fp.ID[0] ^= 1
	}
	cases := []struct {
		policy     fingerprint.Policy
		unreadable []fingerprint.ComponentID
		want       result.Code
	}{
		{fingerprint.MatchMost, []fingerprint.ComponentID{1, 2}, result.Valid},
		{fingerprint.MatchAll, []fingerprint.ComponentID{1, 2}, result.Valid},
		{fingerprint.MatchMost, nil, result.FingerprintMismatch},
		{fingerprint.MatchAll, nil, result.FingerprintMismatch},
		{fingerprint.MatchExact, []fingerprint.ComponentID{1, 2}, result.FingerprintMismatch},
		{fingerprint.AtLeast(3), []fingerprint.ComponentID{1, 2}, result.FingerprintMismatch},
	}
	for _, c := range cases {
		req, lic := fixture(t, func(p *response.Params) { p.Policy = c.policy })
		e := expect(req)
		asUser(e.Fingerprint)
		e.Unreadable = c.unreadable
		_, err := response.Verify(lic.Bytes, e)
		if got := result.CodeOf(err); got != c.want {
			t.Errorf("%s, unreadable %v: got %s (%v), want %s", c.policy, c.unreadable, got, err, c.want)
		}
	}
	// A component that changed is still caught when others are unreadable.
	req, lic := fixture(t, nil)
	e := expect(req)
	asUser(e.Fingerprint)
	e.Fingerprint.Components[0].Sum[0] ^= 0xff
	e.Fingerprint.Components[1].Sum[0] ^= 0xff
	e.Unreadable = []fingerprint.ComponentID{1, 2}
	if _, err := response.Verify(lic.Bytes, e); result.CodeOf(err) != result.FingerprintMismatch {
		t.Fatalf("two of the two readable components changed: %v", err)
	}
}
