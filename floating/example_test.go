package floating_test

import (
	"bytes"
	"fmt"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/licensekey"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

// A client checks a seat from the vendor key alone: the lease names the
// pool license, the pool license names the server key, the server key
// signed the lease for this installation.
func ExampleVerifyLease() {
	now := time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)
	vendor := testkeys.Identity(crypto.RoleVendor, "example vendor")
	server := testkeys.Identity(crypto.RoleInstallation, "example server")
	client := testkeys.Identity(crypto.RoleInstallation, "example client")

	// The desk signs the server's request as a pool license.
	key, _ := licensekey.New(testkeys.Rand("example key"))
	req, err := request.New(request.Params{Product: "acme-cad", LicenseKey: key, Fingerprint: bytes.Repeat([]byte{1}, request.FPSize),
		Vendor: vendor.Public(), Now: now.Add(-time.Hour), Rand: testkeys.Rand("example request")}, server)
	if err != nil {
		panic(err)
	}
	pool := &response.Pool{Seats: 25, LeaseTTL: 180, Heartbeat: 60}
	lic, err := response.New(vendor, req, response.Params{LicenseKey: key, ActivationID: make([]byte, 16), Product: "acme-cad",
		Licensee: "ACME Corp", Issued: now.Add(-time.Hour), Pool: pool})
	if err != nil {
		panic(err)
	}

	// The server grants a seat to the client.
	token, err := floating.SignLease(server, &floating.Lease{Version: 1, ID: make([]byte, 16), Product: "acme-cad",
		Client: client.Public().Sign, Issued: now.Unix(), Expires: now.Add(180 * time.Second).Unix(), License: lic.Bytes})
	if err != nil {
		panic(err)
	}

	// The client verifies it, with the pinned vendor key only.
	l, pl, err := floating.VerifyLease(token, &floating.LeaseExpect{
		VendorKeys: []*crypto.Public{vendor.Public()}, Product: "acme-cad", Installation: client.Public(), Now: now.Add(time.Minute),
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("seat of", l.Product, "for", pl.Licensee, "until", l.ExpiresTime().Format(time.RFC3339))
	fmt.Println("pool:", pl.Pool)

	// On another installation the same token is void.
	_, _, err = floating.VerifyLease(token, &floating.LeaseExpect{
		VendorKeys: []*crypto.Public{vendor.Public()}, Installation: server.Public(), Now: now.Add(time.Minute),
	})
	fmt.Println(result.CodeOf(err), err)
	// Output:
	// seat of acme-cad for ACME Corp until 2030-03-01T12:03:00Z
	// pool: 25 seats, lease 180s (heartbeat 60s)
	// INSTALLATION_MISMATCH lease was granted to another installation
}
