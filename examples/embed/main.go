// Command embed shows how a product verifies its airlock license at start-up:
// pin the vendor's public key, ask the client library, act on the result.
//
// Build it with the vendor's key pinned:
//
//	go build -ldflags "-X main.vendorKey=$(airlock-vendor pubkey)" ./examples/embed
package main

import (
	"fmt"
	"os"

	"github.com/airlock-offline/airlock/client"
	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/result"
)

// vendorKey is the vendor's public key (AV1…), pinned at build time.
var vendorKey = ""

func main() {
	pub, err := crypto.ParsePublic(vendorKey)
	if err != nil {
		fmt.Fprintln(os.Stderr, "embed: this build has no valid vendor key pinned")
		os.Exit(2)
	}

	v := &client.Verifier{Product: "acme-cad", VendorKeys: []*crypto.Public{pub}}
	lic, err := v.Verify()
	if err != nil {
		fmt.Fprintf(os.Stderr, "embed: not licensed: %v [%s]\n", err, result.CodeOf(err))
		os.Exit(result.CodeOf(err).ExitCode())
	}

	fmt.Printf("acme-cad is licensed to %s", lic.Licensee)
	if n, ok := lic.Features["export"]; ok {
		fmt.Printf(" (export: %d)", n)
	}
	fmt.Println()
}
