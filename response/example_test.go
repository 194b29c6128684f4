package response_test

import (
	"fmt"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/fingerprint"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/licensekey"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

// A license is verified with the vendor keys the product pins (Parse),
// then checked against this installation, this machine and this clock
// (Check). A nil error is VALID; anything else carries a result code.
func ExampleLicense_Check() {
	vendor := testkeys.Identity(crypto.RoleVendor, "example vendor")
	inst := testkeys.Identity(crypto.RoleInstallation, "example installation")
	issued := time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)
	rep, err := fingerprint.Collect(fingerprint.DirSource("../testdata/fingerprint/bare-metal", "linux"))
	if err != nil {
		panic(err)
	}
	fp := rep.Hash("acme-cad", vendor.ID())
	comps := map[uint8][]byte{}
	for _, c := range fp.Components {
		comps[uint8(c.ID)] = c.Sum[:]
	}
	key, err := licensekey.New(testkeys.Rand("example license key"))
	if err != nil {
		panic(err)
	}
	req, err := request.New(request.Params{Product: "acme-cad", LicenseKey: key, Fingerprint: fp.ID[:],
		Components: comps, Vendor: vendor.Public(), Now: issued, Rand: testkeys.Rand("example nonce")}, inst)
	if err != nil {
		panic(err)
	}
	// What the desk does (see desk.Desk.Sign, which also records the seat).
	signed, err := response.New(vendor, req, response.Params{
		LicenseKey: key, ActivationID: make([]byte, response.ActivationIDLen), Product: "acme-cad",
		Licensee: "ACME Corp", Issued: issued, Expires: issued.AddDate(1, 0, 0),
	})
	if err != nil {
		panic(err)
	}

	// What the offline machine does, at every start.
	lic, _, err := response.Parse(signed.Bytes, vendor.Public())
	if err != nil {
		panic(err)
	}
	check := func(now time.Time) result.Code {
		return result.CodeOf(lic.Check(&response.Expect{
			Product: "acme-cad", Installation: inst.Public(), Fingerprint: &fp, Now: now,
		}))
	}
	fmt.Println(lic.Licensee, "/", lic.Product)
	fmt.Println("a month later:", check(issued.AddDate(0, 1, 0)))
	fmt.Println("two years later:", check(issued.AddDate(2, 0, 0)))
	// Output:
	// ACME Corp / acme-cad
	// a month later: VALID
	// two years later: EXPIRED
}
