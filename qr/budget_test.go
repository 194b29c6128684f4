package qr

import (
	"crypto/ecdh"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/fingerprint"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
)

// typical builds a request and its license as airlock makes them for a
// real Linux machine read as root (6 fingerprint components), a licensee
// "ACME Corporation", 3 features, an expiry and a lease. sealed adds the
// confidential fields both messages may carry.
func typical(t testing.TB, sealed bool) (req *request.Signed, lic *response.Signed) {
	t.Helper()
	vendor := testkeys.Identity(crypto.RoleVendor, "qr-vendor")
	inst := testkeys.Identity(crypto.RoleInstallation, "qr-inst")
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	rnd := testkeys.Rand("qr-budget")

	var fp fingerprint.Fingerprint
	rnd.Read(fp.ID[:])
	for _, id := range []fingerprint.ComponentID{fingerprint.MachineID, fingerprint.ProductUUID,
		fingerprint.BoardSerial, fingerprint.ProductSerial, fingerprint.Disk, fingerprint.CPU} {
		d := fingerprint.Digest{ID: id}
		rnd.Read(d.Sum[:])
		fp.Components = append(fp.Components, d)
	}
	comps := map[uint8][]byte{}
	for _, d := range fp.Components {
		comps[uint8(d.ID)] = append([]byte(nil), d.Sum[:]...)
	}
	const key = "51NKE-B51YC-93SW3-MNXGX-C"
	rp := request.Params{Product: "acme-cad", LicenseKey: key, Fingerprint: fp.ID[:], Components: comps,
		Env: uint16(fp.Env), Vendor: vendor.Public(), Now: t0, Rand: testkeys.Rand("qr-nonce")}
	if sealed {
		rp.Confidential = &request.Confidential{LicenseeSecret: "correct horse battery staple"}
	}
	req, err := request.New(rp, inst)
	if err != nil {
		t.Fatal(err)
	}
	actID := make([]byte, response.ActivationIDLen)
	rnd.Read(actID)
	lp := response.Params{LicenseKey: key, ActivationID: actID, Product: "acme-cad", Licensee: "ACME Corporation",
		Features: map[string]uint64{"export": 1, "seats": 25, "cloud-sync": 1},
		Issued:   t0, Expires: t0.AddDate(1, 0, 0), LeaseUntil: t0.AddDate(0, 0, 30), Policy: fingerprint.MatchMost}
	if sealed {
		lp.Confidential = map[string]string{"db-password": "hunter2"}
	}
	lic, err = response.New(vendor, req, lp)
	if err != nil {
		t.Fatal(err)
	}
	return req, lic
}

// TestSizeBudget checks the design's size budget with messages made by the
// real library: a typical request fits one code of version 15 or less at
// level M, a typical license one of version 20 or less.
func TestSizeBudget(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		req, lic := typical(t, sealed)
		reqText, licText := armor.Text(armor.Request, req.Bytes), armor.Text(armor.License, lic.Bytes)
		rv, lv := Budget(string(req.Text()), string(lic.Text())) // armored file form
		if brv, blv := Budget(reqText, licText); brv != rv || blv != lv {
			t.Errorf("Budget differs between text and file forms: %d %d vs %d %d", brv, blv, rv, lv)
		}
		label := "typical"
		if sealed {
			label = "with sealed fields"
		}
		for _, m := range []struct {
			name    string
			kind    armor.Kind
			payload []byte
			text    string
			version int
			budget  int
		}{
			{"request", armor.Request, req.Bytes, reqText, rv, DefaultMaxVersionRequest},
			{"license", armor.License, lic.Bytes, licText, lv, DefaultMaxVersionLicense},
		} {
			q, _ := Version(m.text, LevelQ)
			t.Logf("%s %s: %d bytes, %d characters: version %d at M, %d at Q (budget %d at M)",
				label, m.name, len(m.payload), len(m.text), m.version, q, m.budget)
			codes, err := Plan(m.kind, m.payload, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !sealed && (len(codes) != 1 || m.version > m.budget || codes[0].Version != m.version) {
				t.Errorf("typical %s: %d code(s) of version %d, want one of version ≤ %d", m.name, len(codes), codes[0].Version, m.budget)
			}
			if sealed {
				t.Logf("  planned as %d code(s) of version %d", len(codes), codes[0].Version)
			}
		}
	}
}

// TestSizeBudgetAttestation: a request from a PIV token carries the token's
// attestation (the slot's certificate and the F9 intermediate). A YubiKey's
// pair is about 1.5 KB: the request (about 1.9 KB) then fits 6 codes of
// version 15 or less at M, the README's promise; the largest attestation
// allowed (2 KB) needs version 17, which the README says. Without it (it
// travels as its own file) the request is about 400 bytes.
func TestSizeBudgetAttestation(t *testing.T) {
	inst := testkeys.Identity(crypto.RoleInstallation, "qr-inst")
	vendor := testkeys.Identity(crypto.RoleVendor, "qr-vendor")
	pub := make([]byte, 66)
	pub[0] = 2
	k, _ := ecdh.P256().GenerateKey(testkeys.Rand("qr-piv"))
	copy(pub[1:], k.PublicKey().Bytes())
	comps := map[uint8][]byte{}
	for i := range 6 {
		comps[uint8(i+1)] = make([]byte, request.DigestSize)
	}
	fp := make([]byte, request.FPSize)
	fp[0] = 1
	for _, c := range []struct {
		att     int
		version int // the largest version the request may need
	}{{0, 15}, {1500, 15}, {request.MaxAttest, 17}} {
		att := make([]byte, c.att)
		testkeys.Rand("att").Read(att)
		req, err := request.New(request.Params{Product: "acme-cad", LicenseKey: "51NKE-B51YC-93SW3-MNXGX-C",
			Fingerprint: fp, Components: comps, Vendor: vendor.Public(), Now: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC),
			HardwareKey: &request.HardwareKey{Type: request.HWPIV, Serial: []byte("12345678"), PublicKey: pub, Attestation: att}}, inst)
		if err != nil {
			t.Fatal(err)
		}
		codes, err := Plan(armor.Request, req.Bytes, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("request with a %d-byte attestation: %d bytes, %d codes of version %d", c.att, len(req.Bytes), len(codes), codes[0].Version)
		if codes[0].Version > c.version {
			t.Errorf("request with a %d-byte attestation needs version %d, want at most %d", c.att, codes[0].Version, c.version)
		}
	}
}
