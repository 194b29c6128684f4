package client_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/fingerprint"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/licensekey"
	"github.com/airlock-offline/airlock/result"
)

// An ISV's product verifies its license at every start: a few lines with
// the vendor key pinned in the product. Here the whole round trip runs in
// one process (request, the desk, activate), on a fixture machine and a
// fixed clock; in real life the request and the license cross the air gap
// as files or QR codes, and Source and Now are left nil.
func ExampleVerifier_Verify() {
	root, err := os.MkdirTemp("", "airlock-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(root)
	now := time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)
	vendor := testkeys.Identity(crypto.RoleVendor, "example vendor")

	v := &client.Verifier{
		Product:    "acme-cad",
		VendorKeys: []*crypto.Public{vendor.Public()}, // pinned in the product
		Dir:        filepath.Join(root, "state"),
		Source:     fingerprint.DirSource("../testdata/fingerprint/bare-metal", "linux"),
		Now:        func() time.Time { return now },
	}
	_, err = v.Verify()
	fmt.Println("before activation:", result.CodeOf(err))

	// `airlock request`: the installation key and a signed request.
	st, err := client.Open(v.Dir)
	if err != nil {
		panic(err)
	}
	inst, err := st.CreateInstallation(testkeys.Rand("example installation"), nil, 0)
	if err != nil {
		panic(err)
	}
	key, err := licensekey.New(testkeys.Rand("example license key"))
	if err != nil {
		panic(err)
	}
	req, err := v.Request(inst, key, nil)
	if err != nil {
		panic(err)
	}

	// At the vendor's desk.
	led, err := ledger.Open(filepath.Join(root, "ledger.db"))
	if err != nil {
		panic(err)
	}
	defer led.Close()
	if err := led.CreateLicense(context.Background(), &ledger.License{Key: key, Product: "acme-cad",
		Licensee: "ACME Corp", MaxMachines: 1, MatchPolicy: "all", Created: now.Add(-time.Hour)}); err != nil {
		panic(err)
	}
	iss, err := (&desk.Desk{Key: vendor, Ledger: led, Now: func() time.Time { return now }}).Sign(context.Background(), req.Bytes)
	if err != nil {
		panic(err)
	}

	// `airlock activate`, then every start.
	if _, err := v.Activate(iss.Text()); err != nil {
		panic(err)
	}
	lic, err := v.Verify()
	fmt.Println("after activation:", result.CodeOf(err), "for", lic.Licensee)

	// The clock turned back by a day.
	now = now.Add(-24 * time.Hour)
	_, err = v.Verify()
	fmt.Println("clock turned back:", result.CodeOf(err))
	// Output:
	// before activation: NOT_ACTIVATED
	// after activation: VALID for ACME Corp
	// clock turned back: CLOCK_TAMPERED
}
