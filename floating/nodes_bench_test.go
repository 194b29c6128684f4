package floating_test

import (
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/response"
)

// grantLatencies takes n seats one at a time, round robin over srvs, and
// returns each grant's time, and the time of the limit op measured just
// before each (so that a noisy machine moves both alike). The clients'
// work (keys, proofs) is done before the clock runs.
func grantLatencies(t *testing.T, srvs []*floating.Server, n int, limit func() time.Duration) (grants, limits []time.Duration) {
	proofs := make([][]byte, n)
	for i := range proofs {
		srv := srvs[i%len(srvs)]
		inst, err := crypto.Generate(crypto.RoleInstallation, nil)
		if err != nil {
			t.Fatal(err)
		}
		nonce, err := srv.Nonce()
		if err != nil {
			t.Fatal(err)
		}
		kid := srv.KeyID()
		if proofs[i], err = floating.SignProof(inst, &floating.Proof{Op: floating.OpAcquire, Nonce: nonce, Server: kid[:], Product: product}); err != nil {
			t.Fatal(err)
		}
	}
	grants, limits = make([]time.Duration, n), make([]time.Duration, n)
	for i, p := range proofs {
		limits[i] = limit()
		start := time.Now()
		if _, err := srvs[i%len(srvs)].Acquire(p, floating.Credentials{}); err != nil {
			t.Fatal(err)
		}
		grants[i] = time.Since(start)
	}
	return grants, limits
}

// limitOp is the physical limit of a grant on PostgreSQL: one durable
// commit of one row, and one ed25519 signature (the lease's).
func limitOp(t *testing.T, dsn string) func() time.Duration {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS bench_limit (id BYTEA PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 400)
	i := 0
	return func() time.Duration {
		i++
		id := []byte(fmt.Sprint(time.Now().UnixNano(), i))
		start := time.Now()
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO bench_limit (id) VALUES ($1)`, id); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		ed25519.Sign(key, msg)
		return time.Since(start)
	}
}

// TestNodesGrantBench is make bench's figure for several nodes: the
// latency of one grant on PostgreSQL by one of two nodes (a transaction
// that locks a seat row) beside one single-node server (seats in memory,
// commit grouped), each against the limit measured in the same run: one
// durable one-row commit plus one ed25519 signature, measured before each
// grant. The median ratio of the rounds is reported. Set AIRLOCK_FLOATING_BENCH=1 and run under
// scripts/postgres.sh run.
func TestNodesGrantBench(t *testing.T) {
	if os.Getenv("AIRLOCK_FLOATING_BENCH") == "" {
		t.Skip("a benchmark: set AIRLOCK_FLOATING_BENCH=1 (make bench does)")
	}
	const rounds, n = 5, 300
	vendor := testkeys.Identity(crypto.RoleVendor, "vendor")
	na, nb := testkeys.Identity(crypto.RoleInstallation, "node a"), testkeys.Identity(crypto.RoleInstallation, "node b")
	single := poolLicense(t, vendor, na, &response.Pool{Seats: 100000, LeaseTTL: 600, Heartbeat: 60}, nil)
	multi := poolLicense(t, vendor, na, &response.Pool{Seats: 100000, LeaseTTL: 600, Heartbeat: 60, Nodes: [][]byte{na.Public().Sign, nb.Public().Sign}}, nil)
	open := func(id *crypto.Identity, lic []byte, db string) *floating.Server {
		srv, err := floating.New(floating.Config{Identity: id, Licenses: [][]byte{lic}, DB: db, Now: func() time.Time { return t0 }})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	var one, two, limit []time.Duration
	var r1, r2 []float64
	for range rounds {
		db := postgresDB(t)
		s := open(na, single, db)
		a, la := grantLatencies(t, []*floating.Server{s}, n, limitOp(t, db))
		s.Close()
		db2 := postgresDB(t)
		x, y := open(na, multi, db2), open(nb, multi, db2)
		b, lb := grantLatencies(t, []*floating.Server{x, y}, n, limitOp(t, db2))
		x.Close()
		y.Close()
		one, two, limit = append(one, a...), append(two, b...), append(append(limit, la...), lb...)
		r1 = append(r1, float64(pct(a, 0.5))/float64(pct(la, 0.5)))
		r2 = append(r2, float64(pct(b, 0.5))/float64(pct(lb, 0.5)))
	}
	med := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }
	fmt.Printf("floating grant on PostgreSQL (loopback), one at a time, %d grants × %d rounds:\n", n, rounds)
	fmt.Printf("  limit: one durable one-row commit + one ed25519 signature   p50 %s  p99 %s\n", ms(pct(limit, 0.5)), ms(pct(limit, 0.99)))
	fmt.Printf("  one node (seats in memory, commit grouped)                  p50 %s  p99 %s  = %.2f × the limit (median of rounds)\n", ms(pct(one, 0.5)), ms(pct(one, 0.99)), med(r1))
	fmt.Printf("  two nodes (a seat row locked in one transaction)            p50 %s  p99 %s  = %.2f × the limit (median of rounds)\n", ms(pct(two, 0.5)), ms(pct(two, 0.99)), med(r2))
}
