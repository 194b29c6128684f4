package floating_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/dongle"
	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/testrig/cardemu"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
)

// BenchmarkHardwareKeyGrant is the grant of a seat from a pool bound to a
// hardware key, through pcscd and a virtual card, with the server alone
// (no TLS, no client): "cached" while the key's proof holds, beside a
// grant from a pool bound to no key (its limit); "due" when the key must
// prove itself first, beside one raw challenge-response through pcscd plus
// one grant from a pool bound to no key (its limit). Run under
// scripts/pcsc-stack.sh; skipped without it.
func BenchmarkHardwareKeyGrant(b *testing.B) {
	cardemu.SkipUnlessStack(b)
	slot := cardemu.Slots()[0]
	const serial = 0x0B0E0B0E
	card := cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: serial, AuthKey: edKey("bench key")}})
	if err := card.Insert(slot.Addr); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(card.Remove)
	if err := card.WaitReady(15 * time.Second); err != nil {
		b.Fatal(err)
	}
	pin := func(string, dongle.Kind, int) ([]byte, error) { return []byte("123456"), nil }
	vendor, server := testkeys.Identity(crypto.RoleVendor, "vendor"), testkeys.Identity(crypto.RoleInstallation, "server")
	pool := defaultPool()
	pool.Seats = 1 << 20
	fc := newCard(serial, "bench key")
	srv, err := floating.New(floating.Config{Identity: server, DB: filepath.Join(b.TempDir(), "bench.db"), Now: func() time.Time { return t0 },
		Licenses:    [][]byte{hwPoolLicense(b, product, vendor, server, fc, pool), hwPoolLicense(b, "plain-cad", vendor, server, nil, pool)},
		HardwareKey: floating.HardwareKeyConfig{Source: floating.DongleKeys(dongle.Options{PIN: pin}), ProofInterval: time.Hour}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	for deadline := time.Now().Add(15 * time.Second); !srv.HardwareKey().Present; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("the key never proved itself: %+v", srv.HardwareKey())
		}
	}
	kid := srv.KeyID()
	// grant times one grant of a seat of prod to a new client (the proof
	// is the client's work: made before the clock runs).
	grant := func(b *testing.B, prod string) time.Duration {
		inst, _ := crypto.Generate(crypto.RoleInstallation, nil)
		n, _ := srv.Nonce()
		p, _ := floating.SignProof(inst, &floating.Proof{Op: floating.OpAcquire, Nonce: n, Server: kid[:], Product: prod})
		start := time.Now()
		if _, err := srv.Acquire(p, floating.Credentials{}); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	report := func(b *testing.B, got, limit time.Duration, name string) {
		n := float64(b.N)
		b.ReportMetric(float64(got.Microseconds())/n, "µs/grant")
		b.ReportMetric(float64(limit.Microseconds())/n, "µs/"+name)
		b.ReportMetric(float64(got)/float64(limit), "x-"+name)
	}
	b.Run("cached", func(b *testing.B) {
		var hw, plain time.Duration
		for range b.N {
			hw += grant(b, product)
			plain += grant(b, "plain-cad")
		}
		report(b, hw, plain, "plain-grant")
	})
	b.Run("due", func(b *testing.B) {
		s, err := dongle.Open(dongle.Options{PIN: pin})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		ch, _ := dongle.Challenge(nil, nil)
		var due, limit time.Duration
		for range b.N {
			floating.ExpireHardwareKeyProofs(srv)
			due += grant(b, product)
			start := time.Now()
			if _, _, _, err := s.ProveWith(slot.Reader, dongle.KindOpenPGP, ch); err != nil {
				b.Fatal(err)
			}
			limit += time.Since(start) + grant(b, "plain-cad")
		}
		report(b, due, limit, "prove+plain-grant")
	})
}
