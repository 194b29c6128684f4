package floating_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/internal/wire"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

// Lease vectors live in testdata/vectors/lease: headers (expect, kind:
// lease, description, now, product, vendor-key, installation), a blank
// line, then the lease token in base64, as a client stores it.
const leaseVectorDir = "../testdata/vectors/lease"

type leaseVector struct {
	name    string
	headers map[string]string
	token   []byte
}

func loadLeaseVectors(t testing.TB) []leaseVector {
	files, err := filepath.Glob(filepath.Join(leaseVectorDir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	var out []leaseVector
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		head, body, ok := bytes.Cut(b, []byte("\n\n"))
		if !ok {
			t.Fatalf("%s: no blank line after the headers", f)
		}
		v := leaseVector{name: strings.TrimSuffix(filepath.Base(f), ".txt"), headers: map[string]string{}}
		sc := bufio.NewScanner(bytes.NewReader(head))
		for sc.Scan() {
			k, val, ok := strings.Cut(sc.Text(), ": ")
			if !ok {
				t.Fatalf("%s: header line %q", f, sc.Text())
			}
			v.headers[k] = val
		}
		if v.token, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(body))); err != nil {
			t.Fatalf("%s: body is not base64: %v", f, err)
		}
		out = append(out, v)
	}
	return out
}

func TestLeaseVectors(t *testing.T) {
	vs := loadLeaseVectors(t)
	if len(vs) < 8 {
		t.Fatalf("only %d lease vectors", len(vs))
	}
	for _, v := range vs {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			h := v.headers
			if h["kind"] != "lease" {
				t.Fatalf("kind %q", h["kind"])
			}
			now, err := time.Parse(time.RFC3339, h["now"])
			if err != nil {
				t.Fatal(err)
			}
			vk, err := crypto.ParsePublic(h["vendor-key"])
			if err != nil {
				t.Fatal(err)
			}
			inst, err := crypto.ParsePublic(h["installation"])
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = floating.VerifyLease(v.token, &floating.LeaseExpect{VendorKeys: []*crypto.Public{vk}, Product: h["product"], Installation: inst, Now: now})
			if got := result.CodeOf(err); string(got) != h["expect"] {
				t.Errorf("got %s (%v), want %s", got, err, h["expect"])
			}
		})
	}
}

// TestGenerateLeaseVectors rewrites the lease vectors when
// AIRLOCK_UPDATE_VECTORS=1; otherwise it checks that regenerating them
// gives the same files (the generator is deterministic).
func TestGenerateLeaseVectors(t *testing.T) {
	vendor := testkeys.Identity(crypto.RoleVendor, "lease vectors vendor")
	other := testkeys.Identity(crypto.RoleVendor, "lease vectors other vendor")
	server := testkeys.Identity(crypto.RoleInstallation, "lease vectors server")
	impostor := testkeys.Identity(crypto.RoleInstallation, "lease vectors impostor")
	inst := testkeys.Identity(crypto.RoleInstallation, "lease vectors client")
	thief := testkeys.Identity(crypto.RoleInstallation, "lease vectors other client")
	pool := &response.Pool{Seats: 25, LeaseTTL: 180, Heartbeat: 60, BorrowDays: 7, BorrowMax: 5, FeatureSeats: map[string]uint32{"render": 5},
		Consumption: &response.Allowance{Max: 1000, Overage: 100}}
	lic := poolLicense(t, vendor, server, pool, map[string]uint64{"base": 0, "render": 0})
	otherLic := poolLicense(t, other, server, pool, nil)
	plainLic := poolLicense(t, vendor, server, nil, nil)
	issued := t0.Add(10 * time.Minute)
	base := func() *floating.Lease {
		return &floating.Lease{Version: 1, ID: bytes.Repeat([]byte{0xa5}, 16), Product: product, Features: []string{"render"},
			Client: inst.Public().Sign, Issued: issued.Unix(), Expires: issued.Add(180 * time.Second).Unix(), License: lic}
	}
	sign := func(id *crypto.Identity, l *floating.Lease) []byte {
		b, err := floating.SignLease(id, l)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// signRaw signs a payload that SignLease would refuse.
	signRaw := func(id *crypto.Identity, l *floating.Lease) []byte {
		p, err := wire.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		b, err := crypto.Sign(id, floating.TagLease, p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	now := issued.Add(time.Minute)
	type gen struct {
		name, expect, desc string
		token              []byte
		now                time.Time
		inst               *crypto.Identity
		product            string
	}
	borrowed := base()
	borrowed.Borrowed, borrowed.Expires = true, issued.Add(72*time.Hour).Unix()
	notPool := base()
	notPool.License, notPool.Features = plainLic, nil
	unlicensed := base()
	unlicensed.Features = []string{"render", "simulate"}
	fromOther := base()
	fromOther.License, fromOther.Features = otherLic, nil
	tampered := sign(server, base())
	tampered[len(tampered)-1] ^= 0x01
	wrongTag, err := crypto.Sign(server, crypto.TagLicense, must(wire.Marshal(base())))
	if err != nil {
		t.Fatal(err)
	}
	gens := []gen{
		{"valid", "VALID", "a current lease for this installation, render feature seat", sign(server, base()), now, inst, product},
		{"valid-any-product", "VALID", "the verifier does not name a product", sign(server, base()), now, inst, ""},
		{"borrowed-offline", "VALID", "a seat borrowed for 3 days, checked 2 days later with no server", sign(server, borrowed), issued.Add(48 * time.Hour), inst, product},
		{"expired", "LEASE_EXPIRED", "checked at the lease's expiry", sign(server, base()), issued.Add(180 * time.Second), inst, product},
		{"borrow-ended", "LEASE_EXPIRED", "a borrowed seat after its borrow end", sign(server, borrowed), issued.Add(73 * time.Hour), inst, product},
		{"other-installation", "INSTALLATION_MISMATCH", "a lease copied to another installation", sign(server, base()), now, thief, product},
		{"other-server", "SIGNATURE_INVALID", "signed by a server key the pool license does not name", sign(impostor, base()), now, inst, product},
		{"tampered", "SIGNATURE_INVALID", "last signature byte flipped", tampered, now, inst, product},
		{"unknown-vendor", "UNKNOWN_VENDOR_KEY", "the attached pool license is signed by another vendor", sign(server, fromOther), now, inst, product},
		{"not-a-pool", "MALFORMED", "the attached license is node-locked, not a pool license", sign(server, notPool), now, inst, product},
		{"feature-not-granted", "MALFORMED", "the lease names a feature the pool license does not grant", sign(server, unlicensed), now, inst, product},
		{"wrong-product", "PRODUCT_MISMATCH", "the verifier expects another product", sign(server, base()), now, inst, "acme-cam"},
		{"future", "NOT_YET_VALID", "issued an hour after this machine's clock", sign(server, base()), issued.Add(-time.Hour), inst, product},
		{"license-tag", "MALFORMED", "a lease payload signed as a license", wrongTag, now, inst, product},
		{"unsorted-features", "MALFORMED", "features not in sorted order", signRaw(server, func() *floating.Lease { l := base(); l.Features = []string{"render", "base"}; return l }()), now, inst, product},
	}
	update := os.Getenv("AIRLOCK_UPDATE_VECTORS") != ""
	if update {
		if err := os.MkdirAll(leaseVectorDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range gens {
		content := fmt.Sprintf("expect: %s\nkind: lease\ndescription: %s\nnow: %s\nproduct: %s\nvendor-key: %s\ninstallation: %s\n\n%s\n",
			g.expect, g.desc, g.now.UTC().Format(time.RFC3339), g.product, vendor.Public(), g.inst.Public(), wrap(base64.StdEncoding.EncodeToString(g.token)))
		path := filepath.Join(leaseVectorDir, g.name+".txt")
		if update {
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) || !bytes.Equal(got, []byte(content)) {
			t.Errorf("%s is missing or stale: run AIRLOCK_UPDATE_VECTORS=1 go test -run TestGenerateLeaseVectors ./floating", path)
		}
	}
}

func wrap(s string) string {
	var b strings.Builder
	for len(s) > 64 {
		b.WriteString(s[:64] + "\n")
		s = s[64:]
	}
	b.WriteString(s)
	return b.String()
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
