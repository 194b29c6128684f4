package desk_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/fingerprint"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/licensekey"
	"github.com/airlock-offline/airlock/request"
)

// The vendor's desk signs a request: it checks the request against the
// license in the ledger, records the seat durably, and only then returns
// the license. The same machine asking again gets its seat again.
func ExampleDesk_Sign() {
	dir, err := os.MkdirTemp("", "airlock-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	led, err := ledger.Open(filepath.Join(dir, "ledger.db"))
	if err != nil {
		panic(err)
	}
	defer led.Close()
	now := time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)
	vendor := testkeys.Identity(crypto.RoleVendor, "example vendor")
	key, err := licensekey.New(testkeys.Rand("example license key"))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := led.CreateLicense(ctx, &ledger.License{
		Key: key, Product: "acme-cad", Licensee: "ACME Corp", MaxMachines: 2,
		MatchPolicy: "all", Created: now.Add(-time.Hour),
	}); err != nil {
		panic(err)
	}
	d := &desk.Desk{Key: vendor, Ledger: led, Now: func() time.Time { return now }}

	// A request as the offline machine makes it (see request.New).
	rep, err := fingerprint.Collect(fingerprint.DirSource("../testdata/fingerprint/bare-metal", "linux"))
	if err != nil {
		panic(err)
	}
	fp := rep.Hash("acme-cad", vendor.ID())
	comps := map[uint8][]byte{}
	for _, c := range fp.Components {
		comps[uint8(c.ID)] = c.Sum[:]
	}
	req, err := request.New(request.Params{
		Product: "acme-cad", LicenseKey: key, Fingerprint: fp.ID[:], Components: comps,
		Vendor: vendor.Public(), Now: now.Add(-time.Minute),
	}, testkeys.Identity(crypto.RoleInstallation, "example installation"))
	if err != nil {
		panic(err)
	}

	iss, err := d.Sign(ctx, req.Bytes)
	if err != nil {
		panic(err)
	}
	again, err := d.Sign(ctx, req.Bytes)
	if err != nil {
		panic(err)
	}
	seats, err := led.SeatsUsed(ctx, key)
	if err != nil {
		panic(err)
	}
	fmt.Println("licensee:", iss.License.License.Licensee)
	fmt.Println("first: reused", iss.Reused, "; again: reused", again.Reused)
	fmt.Println("seats used:", seats)
	// Output:
	// licensee: ACME Corp
	// first: reused false ; again: reused true
	// seats used: 1
}
