package ledger_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/airlock-offline/airlock/ledger"
)

func Example() {
	dir, err := os.MkdirTemp("", "ledger-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	l, err := ledger.Open(filepath.Join(dir, "ledger.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	err = l.CreateLicense(ctx, &ledger.License{
		Key:         "7QK4-M2XD-9TPA",
		Product:     "acme-cad",
		Licensee:    "Example GmbH",
		MaxMachines: 1,
		MatchPolicy: "most",
	})
	if err != nil {
		log.Fatal(err)
	}

	// The desk has checked a request from an installation; it records the
	// activation before it releases the signed license.
	request := []byte("the request file")
	hash := sha256.Sum256(request)
	a := &ledger.Activation{
		ID:          "5f0c2a9e4b7d1e38",
		LicenseKey:  "7QK4-M2XD-9TPA",
		InstallKey:  bytes.Repeat([]byte{1}, 32),
		Fingerprint: bytes.Repeat([]byte{2}, 16),
		RequestHash: hash[:],
		Issued:      time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		License:     []byte("signed license"),
	}
	reused, err := l.Record(ctx, a)
	fmt.Println("first machine:", reused, err)

	// Another machine finds no free seat.
	b := *a
	b.ID = "9d3e77a01c5b2f64"
	b.Fingerprint = bytes.Repeat([]byte{3}, 16)
	_, err = l.Record(ctx, &b)
	fmt.Println("second machine refused:", errors.Is(err, ledger.ErrTooManyMachines))

	n, err := l.SeatsUsed(ctx, "7QK4-M2XD-9TPA")
	fmt.Println("seats used:", n, err)
	// Output:
	// first machine: false <nil>
	// second machine refused: true
	// seats used: 1 <nil>
}

func ExampleRedactDSN() {
	fmt.Println(ledger.RedactDSN("postgres://desk:s3cret@db.example/airlock?sslmode=verify-full&search_path=ledger"))
	// Output:
	// postgres://desk:xxxxx@db.example/airlock?sslmode=verify-full&search_path=ledger
}
