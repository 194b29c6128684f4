package floating_test

import (
	"sync"
	"testing"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
)

// BenchmarkServerRenew is the server's own cost of a heartbeat, with no
// network or TLS: verify the client's proof, update the lease, commit
// durably (grouped with the other goroutines' writes), sign the new lease.
// Run with -cpu to see the group commit at work.
func BenchmarkServerRenew(b *testing.B) {
	f := newBenchServer(b)
	const clients = 64
	type cl struct {
		inst  *crypto.Identity
		lease []byte
		nonce []byte
	}
	cs := make([]*cl, clients)
	kid := f.srv.KeyID()
	for i := range cs {
		inst, _ := crypto.Generate(crypto.RoleInstallation, nil)
		n, _ := f.srv.Nonce()
		p, _ := floating.SignProof(inst, &floating.Proof{Op: floating.OpAcquire, Nonce: n, Server: kid[:], Product: product})
		g, err := f.srv.Acquire(p, floating.Credentials{})
		if err != nil {
			b.Fatal(err)
		}
		cs[i] = &cl{inst: inst, lease: g.Lease.ID, nonce: g.NextNonce}
	}
	// Proofs are the client's work: sign them before the clock runs.
	proofs := make([][][]byte, clients)
	per := b.N/clients + 1
	for i, c := range cs {
		for range per {
			n, _ := f.srv.Nonce()
			p, _ := floating.SignProof(c.inst, &floating.Proof{Op: floating.OpRenew, Nonce: n, Server: kid[:], Product: product, Lease: c.lease})
			proofs[i] = append(proofs[i], p)
		}
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	for i := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, p := range proofs[i] {
				if _, err := f.srv.Renew(p, floating.Credentials{}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(clients*per)/b.Elapsed().Seconds(), "renewals/s")
}

func newBenchServer(b *testing.B) *fixture {
	pool := defaultPool()
	pool.Seats = 1000
	f := &fixture{
		vendor: testkeys.Identity(crypto.RoleVendor, "vendor"), server: testkeys.Identity(crypto.RoleInstallation, "server"),
		clock: newClock(t0), db: b.TempDir() + "/bench.db",
	}
	f.lic = poolLicense(b, f.vendor, f.server, pool, nil)
	srv, err := floating.New(floating.Config{Identity: f.server, Licenses: [][]byte{f.lic}, DB: f.db, Now: f.clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	f.srv = srv
	return f
}
