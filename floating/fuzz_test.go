package floating_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/internal/wire"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

// FuzzParseLease: no panic, a typed error, and a lease that parses
// re-encodes to the very payload it came from.
func FuzzParseLease(f *testing.F) {
	vs := loadLeaseVectors(f)
	if len(vs) == 0 {
		f.Fatal("no seeds: the lease vectors are missing")
	}
	for _, v := range vs {
		f.Add(v.token)
	}
	vendor := testkeys.Identity(crypto.RoleVendor, "lease vectors vendor")
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := floating.ParseLease(data)
		if err != nil {
			var re *result.Error
			if !errors.As(err, &re) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		s, err := crypto.ParseSigned(data)
		if err != nil {
			t.Fatal(err)
		}
		again, err := wire.Marshal(l)
		if err != nil || !bytes.Equal(again, s.Payload) {
			t.Fatalf("lease does not re-encode to its payload")
		}
		_, _, err = floating.VerifyLease(data, &floating.LeaseExpect{VendorKeys: []*crypto.Public{vendor.Public()}})
		var re *result.Error
		if err != nil && !errors.As(err, &re) {
			t.Fatalf("untyped error %T: %v", err, err)
		}
	})
}

// FuzzParseProof: no panic; a proof that parses re-encodes to its payload.
func FuzzParseProof(f *testing.F) {
	inst := testkeys.Identity(crypto.RoleInstallation, "fuzz client")
	kid := crypto.KeyIDOf(inst.Public().Sign)
	for _, p := range []*floating.Proof{
		{Op: floating.OpAcquire, Nonce: make([]byte, 16), Server: kid[:], Product: "acme-cad", Features: []string{"a", "b"}, Hostname: "ws-1"},
		{Op: floating.OpRenew, Nonce: make([]byte, 16), Server: kid[:], Product: "acme-cad", Lease: make([]byte, 16)},
		{Op: floating.OpConsume, Nonce: make([]byte, 16), Server: kid[:], Product: "acme-cad", Feature: "export", Amount: 5},
		{Op: floating.OpBorrow, Nonce: make([]byte, 16), Server: kid[:], Product: "acme-cad", Borrow: 1900000000},
	} {
		b, err := floating.SignProof(inst, p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := floating.ParseProof(data)
		if err != nil {
			if !errors.Is(err, crypto.ErrMalformed) && !errors.Is(err, crypto.ErrBadSignature) && !errors.Is(err, crypto.ErrUnknownKey) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		s, _ := crypto.ParseSigned(data)
		again, err := wire.Marshal(p)
		if err != nil || !bytes.Equal(again, s.Payload) {
			t.Fatal("proof does not re-encode to its payload")
		}
	})
}

// FuzzDecodeJSON: the API's body decoder never panics and answers a coded
// error.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"proof":"AAAA"}`, `{"username":"a","password":"b"}`, `{"proof":`, `{} {}`, `[]`, `{"proof":"!!"}`, `{"x":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p floating.ProofRequest
		if err := floating.DecodeJSON(data, &p); err != nil && !floating.IsCode(err, floating.CodeMalformed) && !floating.IsCode(err, floating.CodeTooLarge) {
			t.Fatalf("uncoded error %v", err)
		}
		var l floating.LoginRequest
		if err := floating.DecodeJSON(data, &l); err != nil && !floating.IsCode(err, floating.CodeMalformed) && !floating.IsCode(err, floating.CodeTooLarge) {
			t.Fatalf("uncoded error %v", err)
		}
	})
}

// FuzzParsePool: the desk's pool description parser never panics, and
// what it accepts is a valid pool.
func FuzzParsePool(f *testing.F) {
	for _, s := range []string{"seats=25", "seats=2,ttl=180,heartbeat=60,borrow-days=7,borrow-max=1,feature-seats=render:1,consumption=1000+100,feature-consumption=export:5+1", "seats=0", "ttl=5", "x=y", "seats=1,seats=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := response.ParsePool(s)
		if err != nil {
			return
		}
		if p.Seats == 0 || p.Heartbeat >= p.LeaseTTL {
			t.Fatalf("accepted an invalid pool %+v", p)
		}
	})
}
