package receipt_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/fingerprint"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/internal/testrig/vectors"
	"github.com/airlock-offline/airlock/internal/wire"
	"github.com/airlock-offline/airlock/receipt"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

var t0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func license(t *testing.T, inst *crypto.Identity) *response.Signed {
	t.Helper()
	vendor := testkeys.Identity(crypto.RoleVendor, "v")
	req, err := request.New(request.Params{Product: "acme-cad", LicenseKey: "51NKE-B51YC-93SW3-MNXGX-C",
		Fingerprint: bytes.Repeat([]byte{1}, 16), Vendor: vendor.Public(), Now: t0, Rand: testkeys.Rand("n")}, inst)
	if err != nil {
		t.Fatal(err)
	}
	lic, err := response.New(vendor, req, response.Params{LicenseKey: "51NKE-B51YC-93SW3-MNXGX-C", ActivationID: bytes.Repeat([]byte{7}, 16),
		Product: "acme-cad", Licensee: "ACME", Issued: t0, Policy: fingerprint.MatchAll})
	if err != nil {
		t.Fatal(err)
	}
	return lic
}

func TestRoundTrip(t *testing.T) {
	inst := testkeys.Identity(crypto.RoleInstallation, "i")
	lic := license(t, inst)
	r, err := receipt.New(inst, lic.License, lic.Bytes, t0, testkeys.Rand("r"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := receipt.ParseText(r.Text())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Receipt.ActivationID, lic.License.ActivationID) || got.Hash != r.Hash {
		t.Fatal("fields differ")
	}
	// Another installation cannot give up this license.
	other := testkeys.Identity(crypto.RoleInstallation, "other")
	if _, err := receipt.New(other, lic.License, lic.Bytes, t0, nil); !errors.Is(err, result.ErrInstallationMismatch) {
		t.Fatalf("got %v", err)
	}
	// Domain separation: a receipt is not a request.
	if _, err := request.Verify(r.Bytes); err == nil {
		t.Fatal("a receipt verified as a request")
	}
	bad := bytes.Clone(r.Bytes)
	bad[len(bad)-1] ^= 1
	if _, err := receipt.Verify(bad); !errors.Is(err, result.ErrSignatureInvalid) {
		t.Fatalf("tampered: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	_, payloads := vectors.Seeds(f)
	for _, p := range payloads {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := receipt.Verify(data)
		if err != nil {
			var re *result.Error
			if !errors.As(err, &re) || (re.Code != result.Malformed && re.Code != result.SignatureInvalid) {
				t.Fatalf("untyped or unexpected error: %v", err)
			}
			return
		}
		payload, _ := wire.Marshal(s.Receipt)
		sig, _ := crypto.ParseSigned(data)
		if !bytes.Equal(payload, sig.Payload) {
			t.Fatal("parse -> encode did not give the same bytes")
		}
	})
}
