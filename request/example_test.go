package request_test

import (
	"fmt"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/fingerprint"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/licensekey"
	"github.com/airlock-offline/airlock/request"
)

// An offline machine builds and signs an activation request for the
// vendor; the desk (or anyone) checks it with ParseText. The keys, the
// randomness and the clock are fixed here so that the output is too.
func ExampleNew() {
	vendor := testkeys.Identity(crypto.RoleVendor, "example vendor")
	inst := testkeys.Identity(crypto.RoleInstallation, "example installation")
	rep, err := fingerprint.Collect(fingerprint.DirSource("../testdata/fingerprint/bare-metal", "linux"))
	if err != nil {
		panic(err)
	}
	fp := rep.Hash("acme-cad", vendor.ID())
	comps := map[uint8][]byte{}
	for _, d := range fp.Components {
		comps[uint8(d.ID)] = d.Sum[:]
	}
	key, err := licensekey.New(testkeys.Rand("example license key"))
	if err != nil {
		panic(err)
	}
	s, err := request.New(request.Params{
		Product:     "acme-cad",
		LicenseKey:  key,
		Fingerprint: fp.ID[:],
		Components:  comps,
		Vendor:      vendor.Public(),
		Now:         time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC),
		Rand:        testkeys.Rand("example nonce"),
	}, inst)
	if err != nil {
		panic(err)
	}

	got, err := request.ParseText(s.Text())
	if err != nil {
		panic(err)
	}
	fmt.Println("product:", got.Request.Product)
	fmt.Println("signed by this installation:", string(got.Request.InstallSign) == string(inst.Public().Sign))
	fmt.Println("components:", len(got.Request.Components))
	fmt.Println("same request:", got.Hash == s.Hash)
	// Output:
	// product: acme-cad
	// signed by this installation: true
	// components: 6
	// same request: true
}
