package request_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/internal/testrig/vectors"
	"github.com/airlock-offline/airlock/internal/wire"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/result"
)

var (
	vendor = testkeys.Identity(crypto.RoleVendor, "vendor")
	inst   = testkeys.Identity(crypto.RoleInstallation, "inst")
	t0     = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
)

func params() request.Params {
	return request.Params{
		Product: "acme-cad", LicenseKey: "51NKE-B51YC-93SW3-MNXGX-C", Fingerprint: bytes.Repeat([]byte{7}, 16),
		Components: map[uint8][]byte{1: bytes.Repeat([]byte{1}, 8), 5: bytes.Repeat([]byte{5}, 8)},
		Vendor:     vendor.Public(), Now: t0, Rand: testkeys.Rand("nonce"),
	}
}

func TestRoundTrip(t *testing.T) {
	p := params()
	p.Confidential = &request.Confidential{LicenseeSecret: "s3cret", CodeSeed: []byte{1, 2, 3}}
	s, err := request.New(p, inst)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(s.Bytes, []byte("s3cret")) {
		t.Fatal("confidential field in the clear")
	}
	got, err := request.ParseText(s.Text())
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash != s.Hash || !bytes.Equal(got.Bytes, s.Bytes) {
		t.Fatal("hash or bytes differ")
	}
	r := got.Request
	if r.Product != "acme-cad" || r.CreatedTime() != t0 || len(r.Nonce) != request.NonceSize || !bytes.Equal(r.InstallSign, inst.Public().Sign) {
		t.Fatalf("fields: %+v", r)
	}
	c, err := r.Open(vendor)
	if err != nil || c.LicenseeSecret != "s3cret" || !bytes.Equal(c.CodeSeed, []byte{1, 2, 3}) {
		t.Fatalf("open: %v", err)
	}
	if _, err := r.Open(testkeys.Identity(crypto.RoleVendor, "other")); result.CodeOf(err) != result.Malformed {
		t.Fatalf("opened by another vendor: %v", err)
	}
	// Canonical: re-encoding the parsed payload gives the signed bytes.
	payload, _ := wire.Marshal(r)
	sig, _ := crypto.ParseSigned(s.Bytes)
	if !bytes.Equal(payload, sig.Payload) {
		t.Fatal("payload does not re-encode to the same bytes")
	}
}

func TestNoncesDiffer(t *testing.T) {
	p := params()
	p.Rand = nil
	a, _ := request.New(p, inst)
	b, _ := request.New(p, inst)
	if bytes.Equal(a.Request.Nonce, b.Request.Nonce) || a.Hash == b.Hash {
		t.Fatal("two requests share a nonce")
	}
}

func TestNewRejects(t *testing.T) {
	cases := map[string]func(*request.Params){
		"empty product":     func(p *request.Params) { p.Product = "" },
		"long product":      func(p *request.Params) { p.Product = strings.Repeat("x", 65) },
		"control character": func(p *request.Params) { p.Product = "acme\ncad" },
		"invalid UTF-8":     func(p *request.Params) { p.Product = "acme\xff" },
		"short fingerprint": func(p *request.Params) { p.Fingerprint = []byte{1} },
		"bad component":     func(p *request.Params) { p.Components = map[uint8][]byte{1: {1}} },
		"renew without id":  func(p *request.Params) { p.Kind = request.KindRenew },
		"unknown kind":      func(p *request.Params) { p.Kind = 9 },
		"generic with key": func(p *request.Params) {
			p.HardwareKey = &request.HardwareKey{Type: request.HWGeneric, Serial: []byte{1}, PublicKey: []byte{2}}
		},
		"hardware no serial": func(p *request.Params) { p.HardwareKey = &request.HardwareKey{Type: request.HWPIV} },
		"openpgp no key": func(p *request.Params) {
			p.HardwareKey = &request.HardwareKey{Type: request.HWOpenPGP, Serial: []byte{1}}
		},
		"unknown key alg": func(p *request.Params) {
			p.HardwareKey = &request.HardwareKey{Type: request.HWOpenPGP, Serial: []byte{1}, PublicKey: bytes.Repeat([]byte{7}, 33)}
		},
		"p256 compressed": func(p *request.Params) {
			p.HardwareKey = &request.HardwareKey{Type: request.HWPIV, Serial: []byte{1}, PublicKey: append([]byte{2, 3}, make([]byte, 64)...)}
		},
	}
	for name, mod := range cases {
		p := params()
		mod(&p)
		var fe *request.FieldError
		if _, err := request.New(p, inst); !errors.As(err, &fe) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	if _, err := request.New(params(), vendor); err == nil {
		t.Error("a vendor key signed a request")
	}
}

func TestVerifyCodes(t *testing.T) {
	s, _ := request.New(params(), inst)
	bad := bytes.Clone(s.Bytes)
	bad[len(bad)-1] ^= 1
	if _, err := request.Verify(bad); !errors.Is(err, result.ErrSignatureInvalid) {
		t.Fatalf("flipped signature: %v", err)
	}
	if _, err := request.Verify(s.Bytes[:len(s.Bytes)-1]); !errors.Is(err, result.ErrMalformed) {
		t.Fatalf("truncated: %v", err)
	}
	if _, err := request.ParseText([]byte("hello")); !errors.Is(err, result.ErrMalformed) {
		t.Fatalf("garbage text: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	_, payloads := vectors.Seeds(f)
	for _, p := range payloads {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := request.Verify(data)
		if err != nil {
			var re *result.Error
			if !errors.As(err, &re) || (re.Code != result.Malformed && re.Code != result.SignatureInvalid) {
				t.Fatalf("untyped or unexpected error: %v", err)
			}
			return
		}
		if !bytes.Equal(s.Bytes, data) {
			t.Fatal("bytes changed")
		}
		payload, err := wire.Marshal(s.Request)
		if err != nil {
			t.Fatal(err)
		}
		sig, _ := crypto.ParseSigned(data)
		if !bytes.Equal(payload, sig.Payload) {
			t.Fatal("parse -> encode did not give the same bytes")
		}
	})
}

func FuzzParseText(f *testing.F) {
	texts, _ := vectors.Seeds(f)
	for _, s := range texts {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		if _, err := request.ParseText(text); err != nil {
			var re *result.Error
			if !errors.As(err, &re) {
				t.Fatalf("untyped error: %v", err)
			}
		}
	})
}
